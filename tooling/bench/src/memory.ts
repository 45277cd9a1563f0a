/**
 * Memory figures of this process: `process.memoryUsage()` after a full collection (the child
 * processes run with `--expose-gc`), and how much of the guest RAM buffer is resident.
 */
import fs from 'node:fs';

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

export interface Resident {
  readonly bytes: number;
  /** `smaps`: the kernel's count for the buffer's own mapping; `nonzero`: 4 KiB pages holding a non-zero byte (a lower bound). */
  readonly method: 'smaps' | 'nonzero';
}

/**
 * How many bytes of `ram` are resident. A large zero-filled `ArrayBuffer` is a private
 * anonymous mapping of its own (calloc above the mmap threshold), so its pages are resident
 * only once touched; /proc/self/smaps gives the exact count when exactly one anonymous mapping
 * has the buffer's size (plus allocator slack). Otherwise, count pages with a non-zero byte.
 */
export function residentBytes(ram: Uint8Array): Resident {
  const kib = ram.byteLength / 1024;
  try {
    const lines = fs.readFileSync('/proc/self/smaps', 'utf8').split('\n');
    const hits: number[] = [];
    for (let i = 0; i < lines.length; i++) {
      const head = /^[0-9a-f]+-[0-9a-f]+ rw-p 00000000 00:00 0\s*$/.exec(lines[i] ?? '');
      if (!head) continue;
      const size = Number(/^Size:\s+(\d+) kB/.exec(lines[i + 1] ?? '')?.[1] ?? -1);
      if (size < kib || size > kib + 8) continue;
      for (let j = i + 1; j < Math.min(lines.length, i + 8); j++) {
        const rss = /^Rss:\s+(\d+) kB/.exec(lines[j] ?? '');
        if (rss) hits.push(Number(rss[1]) * 1024);
      }
    }
    if (hits.length === 1) return { bytes: hits[0] ?? 0, method: 'smaps' };
  } catch {
    // not Linux
  }
  const words = new Uint32Array(ram.buffer, ram.byteOffset, ram.byteLength >>> 2);
  let pages = 0;
  for (let p = 0; p < words.length; p += 1024) {
    for (let i = p; i < p + 1024; i++) {
      if (words[i] !== 0) {
        pages++;
        break;
      }
    }
  }
  return { bytes: pages * 4096, method: 'nonzero' };
}
