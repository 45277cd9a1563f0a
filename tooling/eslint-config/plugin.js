// @ts-check
/**
 * hvkit's own ESLint rules.
 *
 * - `no-bigint`: the hot-path rule of the design card. BigInt values cost an allocation per
 *   operation in V8, so emulator state lives in 32-bit halves; BigInt is for the edges only.
 * - `package-boundaries`: the package graph. A package imports another only through its public
 *   `index.ts` (no deep `@hvkit/x/src/...` paths, no relative paths that leave the package), and
 *   only the packages the graph allows it.
 */
import path from 'node:path';
import { toolingPackages } from './graph.js';

/** Global names whose every use makes or holds a BigInt. */
const BIGINT_GLOBALS = new Set(['BigInt', 'BigInt64Array', 'BigUint64Array']);
/** DataView methods that read or write BigInt values. */
const BIGINT_METHODS = new Set(['getBigInt64', 'getBigUint64', 'setBigInt64', 'setBigUint64']);

/** @type {import('eslint').Rule.RuleModule} */
const noBigint = {
  meta: {
    type: 'problem',
    docs: {
      description:
        'Ban BigInt on the emulator hot path (calls, literals, typed arrays, the bigint type); use 32-bit halves, or move the code to a *.edge.ts file',
    },
    schema: [],
    messages: {
      global: "'{{name}}' is banned on the hot path: keep 64-bit values as 32-bit halves (BigInt belongs in *.edge.ts files).",
      literal: 'BigInt literal {{raw}} is banned on the hot path: keep 64-bit values as 32-bit halves (BigInt belongs in *.edge.ts files).',
      method: "'{{name}}' produces or consumes a BigInt and is banned on the hot path (BigInt belongs in *.edge.ts files).",
      type: "The 'bigint' type is banned on the hot path (BigInt belongs in *.edge.ts files).",
    },
  },
  create(context) {
    return {
      Identifier(node) {
        if (BIGINT_GLOBALS.has(node.name)) context.report({ node, messageId: 'global', data: { name: node.name } });
        else if (BIGINT_METHODS.has(node.name)) context.report({ node, messageId: 'method', data: { name: node.name } });
      },
      Literal(node) {
        if ('bigint' in node && node.bigint !== undefined) context.report({ node, messageId: 'literal', data: { raw: String(node.raw) } });
      },
      /** @param {import('estree').Node} node */
      TSBigIntKeyword(node) {
        context.report({ node, messageId: 'type' });
      },
    };
  },
};

/**
 * Options: `{ packageName, packageRoot, allowed }`; `allowed` is the list of `@hvkit/*`
 * packages this one may import, or `null` where the graph does not constrain it (apps).
 * @type {import('eslint').Rule.RuleModule}
 */
const packageBoundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'Enforce the hvkit package graph and public-index-only imports' },
    schema: [
      {
        type: 'object',
        properties: {
          packageName: { type: 'string' },
          packageRoot: { type: 'string' },
          allowed: { anyOf: [{ type: 'null' }, { type: 'array', items: { type: 'string' } }] },
        },
        required: ['packageName', 'packageRoot', 'allowed'],
        additionalProperties: false,
      },
    ],
    messages: {
      deep: "Import '{{pkg}}' only through its public index, not '{{source}}'.",
      forbidden: "'{{self}}' may not import '{{pkg}}': the package graph allows {{allowed}}.",
      escape: "Relative import '{{source}}' leaves package '{{self}}'; import the other package by name.",
    },
  },
  create(context) {
    const { packageName, packageRoot, allowed } = /** @type {{packageName: string, packageRoot: string, allowed: string[] | null}} */ (
      context.options[0]
    );
    const root = path.resolve(packageRoot);
    const filename = context.filename;

    /** @param {import('estree').Node} node @param {unknown} value */
    function check(node, value) {
      if (typeof value !== 'string') return;
      if (value.startsWith('@hvkit/')) {
        const [scope, name, ...rest] = value.split('/');
        const pkg = `${scope}/${name}`;
        if (rest.length > 0 && !(rest.length === 1 && rest[0] === 'package.json')) {
          context.report({ node, messageId: 'deep', data: { pkg, source: value } });
        }
        if (allowed !== null && pkg !== packageName && !allowed.includes(pkg) && !toolingPackages.includes(pkg)) {
          context.report({
            node,
            messageId: 'forbidden',
            data: { self: packageName, pkg, allowed: allowed.length ? allowed.join(', ') : 'no other package' },
          });
        }
      } else if (value.startsWith('.')) {
        const target = path.resolve(path.dirname(filename), value);
        if (target !== root && !target.startsWith(root + path.sep)) {
          context.report({ node, messageId: 'escape', data: { source: value, self: packageName } });
        }
      }
    }

    return {
      ImportDeclaration(node) {
        check(node.source, node.source.value);
      },
      ExportNamedDeclaration(node) {
        if (node.source) check(node.source, node.source.value);
      },
      ExportAllDeclaration(node) {
        check(node.source, node.source.value);
      },
      ImportExpression(node) {
        if (node.source.type === 'Literal') check(node.source, node.source.value);
      },
      CallExpression(node) {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require' && node.arguments[0]?.type === 'Literal') {
          check(node.arguments[0], node.arguments[0].value);
        }
      },
    };
  },
};

/** @type {import('eslint').ESLint.Plugin} */
const plugin = {
  meta: { name: '@hvkit/eslint-plugin' },
  rules: { 'no-bigint': noBigint, 'package-boundaries': packageBoundaries },
};

export default plugin;
