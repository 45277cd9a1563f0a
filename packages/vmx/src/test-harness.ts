/**
 * Test-only harness for the VMX modules (not exported from index.ts). It lives in
 * `test-harness.edge.ts` because it uses arbitrary-precision integers (64-bit register and memory values in tests),
 * which the hot-path lint rule allows only in `*.edge.ts` files; import it from here or there.
 */
export * from './test-harness.edge.js';
