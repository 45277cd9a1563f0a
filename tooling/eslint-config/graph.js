// @ts-check
/**
 * The hvkit package graph: which workspace package may import which.
 *
 * This is the single statement of the layering rules in the design card. `@hvkit/platform`
 * holds the contracts and depends on nothing; every other package may use it. The CPU
 * (`x86`) never sees a device, devices never see the CPU, and the vendor frontends reach the
 * core only through `x86` and `mmu`. The lint rule `hvkit/package-boundaries` and the
 * repository checks both read this table, so the graph cannot drift between them.
 */

/** @type {Readonly<Record<string, readonly string[]>>} */
export const allowedDependencies = Object.freeze({
  '@hvkit/platform': [],
  '@hvkit/mmu': ['@hvkit/platform'],
  '@hvkit/irqchip': ['@hvkit/platform'],
  '@hvkit/devices': ['@hvkit/platform'],
  '@hvkit/iommu': ['@hvkit/platform', '@hvkit/mmu'],
  '@hvkit/x86': ['@hvkit/platform', '@hvkit/mmu'],
  '@hvkit/vmx': ['@hvkit/platform', '@hvkit/x86', '@hvkit/mmu'],
  '@hvkit/svm': ['@hvkit/platform', '@hvkit/x86', '@hvkit/mmu'],
  '@hvkit/machine': [
    '@hvkit/platform',
    '@hvkit/mmu',
    '@hvkit/irqchip',
    '@hvkit/devices',
    '@hvkit/iommu',
    '@hvkit/x86',
    '@hvkit/vmx',
    '@hvkit/svm',
  ],
  '@hvkit/hypervisor': ['@hvkit/platform', '@hvkit/machine'],
});

/**
 * Packages whose `src` is on the emulator's hot path. BigInt is banned there except in files
 * named `*.edge.ts` (debugger, snapshot and test-assertion edges) and in tests.
 */
export const hotPathPackages = Object.freeze([
  '@hvkit/x86',
  '@hvkit/mmu',
  '@hvkit/vmx',
  '@hvkit/svm',
  '@hvkit/iommu',
  '@hvkit/irqchip',
]);

/**
 * Development tooling (lint, test and TypeScript presets). Any package's config files may use
 * these; they are not part of the runtime graph.
 */
export const toolingPackages = Object.freeze(['@hvkit/eslint-config', '@hvkit/vitest-config', '@hvkit/tsconfig', '@hvkit/guests']);

/**
 * Which `@hvkit/*` packages `name` may import, or `undefined` when the graph does not constrain
 * it (apps and tooling).
 * @param {string} name
 * @returns {readonly string[] | undefined}
 */
export function allowedImportsOf(name) {
  return Object.prototype.hasOwnProperty.call(allowedDependencies, name) ? allowedDependencies[name] : undefined;
}
