/**
 * The benchmark guest: the `bench` program of `@hvkit/guests` (tooling/guests/programs/bench.c),
 * built from source on this machine with the system gcc and ld, and cached.
 */
import path from 'node:path';
import { buildGuest } from '@hvkit/guests';

export interface BenchGuest {
  /** Where the ELF32 Multiboot image is. */
  readonly path: string;
  /** Where it came from, for the report. */
  readonly origin: string;
}

/**
 * The guest to run: `explicit` (a Multiboot ELF32 file) or the program `name` of
 * `@hvkit/guests`: `bench` (the integer workload), `benchfp` (the floating-point workload:
 * SSE2 doubles, SSE singles and x87 extended precision) or `vmxbench` (the VM-exit round trip, a
 * 64-bit VT-x host; `svmbench`, its SVM counterpart: see vmexit.ts).
 */
export async function benchGuest(explicit?: string, name: 'bench' | 'benchfp' | 'vmxbench' | 'svmbench' = 'bench'): Promise<BenchGuest> {
  if (explicit) return { path: path.resolve(explicit), origin: explicit };
  try {
    const built = await buildGuest(name);
    return { path: built.path, origin: `@hvkit/guests "${name}"${built.cached ? ' (cached build)' : ''}` };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot build the benchmark guest (it needs gcc and binutils with 32-bit support):\n${why}`, { cause: error });
  }
}
