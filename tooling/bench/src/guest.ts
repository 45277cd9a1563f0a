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

export async function benchGuest(explicit?: string): Promise<BenchGuest> {
  if (explicit) return { path: path.resolve(explicit), origin: explicit };
  try {
    const built = await buildGuest('bench');
    return { path: built.path, origin: `@hvkit/guests "bench"${built.cached ? ' (cached build)' : ''}` };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot build the benchmark guest (it needs gcc and binutils with 32-bit support):\n${why}`, { cause: error });
  }
}
