/** Test-only: re-exports the harness (whose BigInt use is confined to an `.edge.ts` file). */
export * from './test-harness.edge.js';
