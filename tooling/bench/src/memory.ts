/**
 * Memory figures of this process: `process.memoryUsage()` after a full collection (the child
 * processes run with `--expose-gc`), and how much of the guest RAM buffer is resident.
 */

export interface MemSample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  /** Memory outside the V8 heap: ArrayBuffers (guest RAM included), wasm memories, native state. */
  readonly external: number;
  readonly arrayBuffers: number;
}

export function memSample(): MemSample {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** Host bytes the guest's RAM costs. */
export interface Resident {
  readonly bytes: number;
  /** `chunks`: hvkit's RAM chunks allocated on first touch (`PhysicalMemory.allocatedRamBytes`). */
  readonly method: 'chunks';
}
