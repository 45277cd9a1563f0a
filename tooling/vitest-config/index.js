// @ts-check
/**
 * Vitest preset for hvkit workspace packages.
 *
 * Tests import sibling packages by their public names (`@hvkit/platform`). Each package's
 * `exports` map lists the custom condition `@hvkit/source` first, pointing at `src/index.ts`;
 * this preset adds that condition to Vite's resolver for client and server (SSR) code, so tests
 * run against the TypeScript sources with no build step.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineProject } from 'vitest/config';

/** The custom `exports` condition that points at a package's TypeScript sources. */
export const SOURCE_CONDITION = '@hvkit/source';

/** Resolver settings that prefer TypeScript sources of workspace packages. */
export const sourceResolve = {
  resolve: { conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions], externalConditions: [SOURCE_CONDITION] } },
};

/**
 * The Vitest project of the package in `packageDir`, named after the package.
 * @param {string} packageDir
 * @param {{ testTimeout?: number }} [options]
 */
export function hvkitProject(packageDir, options = {}) {
  const { name } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
  return defineProject({
    ...sourceResolve,
    test: {
      name,
      root: packageDir,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      environment: 'node',
      testTimeout: options.testTimeout ?? 20_000,
    },
  });
}
