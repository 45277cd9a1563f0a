/**
 * The "Done when": a bare-metal 64-bit guest that uses SSE4.2 and x87 prints the same
 * results as the same code run natively here. `programs/fpmix.c` is built twice: as the guest
 * (`buildGuest('fpmix')`, run on hvkit's `MinimalBoard`) and, with `-DFPMIX_NATIVE`, as a Linux
 * program with the host gcc. Both print one `= <name> <hex>` line per result (x87 arithmetic,
 * conversions, rounding modes, transcendentals, BCD, exceptions; SSE/SSE2/SSE3 float math and
 * MXCSR flags; SSSE3, SSE4.1 and SSE4.2 integer and string instructions; MMX; FXSAVE), and every
 * line must be identical: this machine's CPU is the oracle.
 *
 * One exception, the issue's own rule for the x87 transcendentals (FSIN, FCOS, FSINCOS, FPTAN,
 * FPATAN, F2XM1, FYL2X, FYL2XP1): their results must match where they can and never be more than
 * 1 ulp of the 64-bit significand away; this CPU's own results are not always correctly rounded
 * (test/transcendental.test.ts in @hvkit/x86 measures how often they agree bit for bit). Those
 * result lines are compared within 1 ulp, the status words printed after them may differ in C1
 * (the round-up bit) only, and the test prints how many matched exactly.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MinimalBoard } from '@hvkit/machine';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGuest, GUESTS_DIR, toolchainAvailable } from '../index.mjs';

const SOURCE = path.join(GUESTS_DIR, 'programs', 'fpmix.c');
/** The guests' code-generation flags that matter here; -mgeneral-regs-only keeps C off the FPU. */
const NATIVE_FLAGS = ['-O2', '-g0', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter', '-fno-strict-aliasing', '-fno-tree-loop-distribute-patterns', '-mgeneral-regs-only', '-DFPMIX_NATIVE'];

/** Why the native side cannot run here, or '' when it can. */
function nativeUnavailable(): string {
  if (process.arch !== 'x64' || process.platform !== 'linux') return `the native oracle needs x86-64 Linux (this is ${process.platform}/${process.arch})`;
  if (!toolchainAvailable()) return 'gcc, ld or objcopy is missing (Debian: apt-get install gcc binutils)';
  let cpuinfo: string;
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return 'no /proc/cpuinfo';
  }
  for (const flag of ['sse4_2', 'ssse3', 'popcnt']) if (!new RegExp(`\\b${flag}\\b`).test(cpuinfo)) return `the host CPU has no ${flag}`;
  return '';
}
const whyNot = nativeUnavailable();
if (whyNot) console.warn(`@hvkit/guests: fpmix is not compared with native: ${whyNot}`);

/** Result lines of the transcendental instructions (80-bit values compared within 1 ulp). */
const TRANSCENDENTAL = /^= x87\.(?:sweep\.)?(?:fsin|fcos|fsincos\.(?:sin|cos)|fptan|fpatan|fyl2x|fyl2xp1|f2xm1)[.\d\w]* [0-9a-f]{4}:[0-9a-f]{16}$/;
/** Status words printed after transcendental instructions: C1 (bit 9) may differ. */
const TRANSCENDENTAL_FSW = /^= x87\.(?:fsin\.fsw|trig\.fsw|log\.fsw|sweep\.fsw)\.?\d* [0-9a-f]{4}$/;

/** Parses `se:significand` into a number line position: sign-magnitude ordering in ulps. */
function f80Ulps(line: string): bigint {
  const m = /([0-9a-f]{4}):([0-9a-f]{16})$/.exec(line)!;
  const se = BigInt(`0x${m[1]}`);
  const mag = ((se & 0x7fffn) << 64n) | BigInt(`0x${m[2]}`);
  return (se & 0x8000n) !== 0n ? -mag : mag;
}

/** Whether two result lines agree: exactly, or within the transcendental rules above. */
function agree(got: string, want: string, exact: { n: number; of: number }): boolean {
  if (TRANSCENDENTAL.test(want) && TRANSCENDENTAL.test(got) && got.split(' ')[1] === want.split(' ')[1]) {
    exact.of++;
    if (got === want) {
      exact.n++;
      return true;
    }
    const d = f80Ulps(got) - f80Ulps(want);
    return d === 1n || d === -1n;
  }
  if (got === want) return true;
  if (TRANSCENDENTAL_FSW.test(want) && TRANSCENDENTAL_FSW.test(got) && got.split(' ')[1] === want.split(' ')[1]) {
    return ((parseInt(got.split(' ')[2]!, 16) ^ parseInt(want.split(' ')[2]!, 16)) & ~0x200) === 0;
  }
  return false;
}

/** The result lines (`= ...`) of an output, without CRs. */
function results(output: string): string[] {
  return output
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.startsWith('= '));
}

describe.skipIf(whyNot !== '')('fpmix: x87 and SSE..SSE4.2 on hvkit against this CPU', () => {
  const dir = whyNot ? '' : mkdtempSync(path.join(os.tmpdir(), 'hvkit-fpmix-'));
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let nativeLines: string[] | undefined;
  /** Builds and runs the native program (once). */
  function runNative(): string[] {
    if (nativeLines) return nativeLines;
    const exe = path.join(dir, 'fpmix-native');
    execFileSync('gcc', [...NATIVE_FLAGS, SOURCE, '-o', exe], { stdio: ['ignore', 'ignore', 'pipe'] });
    const r = spawnSync(exe, [], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    nativeLines = results(r.stdout);
    return nativeLines;
  }

  it('the native build prints every result', () => {
    const native = runNative();
    expect(native[0]).toBe('= begin fpmix');
    expect(native.at(-1)).toBe('= end fpmix');
    expect(native.length).toBeGreaterThan(600);
    // Spot checks against known architectural values (not produced by hvkit).
    expect(native).toContain('= x87.fldpi.rc.0 4000:c90fdaa22168c235');
    expect(native).toContain('= x87.div1by3.rc.0 3ffd:aaaaaaaaaaaaaaab');
    expect(native).toContain('= sse.div1by3.rc.0 3fd5555555555555');
    expect(native).toContain('= sse.div1by3.rc.3 3fd5555555555555');
  });

  it('the guest on hvkit prints the same lines as the native program', async () => {
    const native = runNative();
    const guest = await buildGuest('fpmix');
    const board = new MinimalBoard({ memoryMiB: 64 });
    board.bootMultiboot(new Uint8Array(readFileSync(guest.path)), { cmdline: 'fpmix' });
    const stop = board.run(200_000_000);
    const serial = board.serialOutput;
    const got = results(serial);
    // Where the two first part, and what the guest said about it (an unexpected exception
    // prints its vector and RIP in a FAIL line).
    const diffs: string[] = [];
    const exact = { n: 0, of: 0 };
    for (let i = 0; i < Math.min(got.length, native.length); i++) {
      if (!agree(got[i]!, native[i]!, exact)) diffs.push(`line ${i}: hvkit ${got[i]} | native ${native[i]}`);
    }
    console.info(`fpmix: ${got.length} result lines; transcendental results bit-exact ${exact.n} of ${exact.of} (the rest within 1 ulp)`);
    if (got.length < native.length) diffs.push(`hvkit stopped after ${got.length} lines; missing from ${native[got.length]} on (${native.length - got.length} lines)`);
    if (got.length > native.length) diffs.push(`hvkit printed ${got.length - native.length} extra lines, from ${got[native.length]}`);
    const notes = serial
      .split('\n')
      .map((l) => l.trimEnd())
      .filter((l) => l.startsWith('FAIL') || l.startsWith('#'));
    const summary = `${diffs.length} differences in ${native.length} lines; stop ${JSON.stringify(stop)}\n${notes.join('\n')}\n${diffs.slice(0, 60).join('\n')}`;
    expect(diffs.length, summary).toBe(0);
    expect(serial).toContain('PASS fpmix');
    expect(stop).toMatchObject({ reason: 'exit', status: 1 });
  }, 180_000);
});
