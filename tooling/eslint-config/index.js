// @ts-check
/**
 * The flat ESLint config every hvkit workspace package uses:
 *
 * ```js
 * // packages/x86/eslint.config.js
 * import { hvkitConfig } from '@hvkit/eslint-config';
 * export default hvkitConfig(import.meta.dirname);
 * ```
 *
 * It reads the package's name from its `package.json` and applies the package graph
 * (`graph.js`) and, for hot-path packages, the BigInt ban to `src/` (except `*.edge.ts` and
 * tests).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { allowedImportsOf, hotPathPackages } from './graph.js';
import plugin from './plugin.js';

export { allowedDependencies, allowedImportsOf, hotPathPackages, toolingPackages } from './graph.js';
export { default as plugin } from './plugin.js';

/**
 * @param {string} packageDir absolute path of the package (use `import.meta.dirname`)
 * @returns {import('eslint').Linter.Config[]}
 */
export function hvkitConfig(packageDir) {
  const manifest = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
  /** @type {string} */
  const packageName = manifest.name;
  const allowed = allowedImportsOf(packageName);
  const hot = hotPathPackages.includes(packageName);

  /** @type {import('eslint').Linter.Config[]} */
  const configs = [
    { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.turbo/**'] },
    js.configs.recommended,
    ...tseslint.configs.recommended.map((c) => ({ ...c, files: ['**/*.ts', '**/*.tsx', '**/*.mts'] })),
    {
      languageOptions: {
        ecmaVersion: 2023,
        sourceType: 'module',
        globals: { ...globals.es2021 },
        parserOptions: { tsconfigRootDir: packageDir },
      },
      plugins: { hvkit: plugin },
      rules: {
        'hvkit/package-boundaries': ['error', { packageName, packageRoot: packageDir, allowed: allowed ? [...allowed] : null }],
        eqeqeq: ['error', 'always', { null: 'ignore' }],
        'no-var': 'error',
        'prefer-const': 'error',
      },
    },
    {
      files: ['**/*.ts', '**/*.tsx', '**/*.mts'],
      rules: {
        '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
        '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      },
    },
    {
      // Tests, tools, binaries and config files run on Node.
      files: ['**/*.test.ts', 'test/**', 'bin/**', 'scripts/**', '*.config.*', '*.js', '*.mjs'],
      languageOptions: { globals: { ...globals.node } },
    },
  ];
  if (hot) {
    configs.push({
      files: ['src/**/*.ts', 'src/**/*.js'],
      ignores: ['src/**/*.edge.ts', 'src/**/*.test.ts'],
      rules: { 'hvkit/no-bigint': 'error' },
    });
  }
  return configs;
}

export default hvkitConfig;
