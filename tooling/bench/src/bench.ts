/**
 * `pnpm bench`: guest MIPS of hvkit on a CPU-bound bare-metal Multiboot guest, next to v86
 * (npm) on the same image, and QEMU TCG when it is installed; plus hvkit's memory overhead
 * beyond guest RAM; then the time to boot the Linux guest of @hvkit/guests (linux.mjs) to its marker
 * line on hvkit and QEMU TCG (linux.ts); then the VM-exit round trip of a bare-metal VT-x host
 * (vmexit.ts). See ../README.md.
 *
 * Each run of each emulator is a child process of this script (`--child ENGINE`), so every
 * run starts cold and measures only its own memory. Runs of the engines are interleaved
 * round by round, so background load spreads over all of them; the table gives the median and
 * the best run, by CPU time of the emulating process and by wall time.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareLinux, type PreparedLinux } from '@hvkit/guests';
import { baselineMemory, qemuVersion, runHvkit, runQemu, runV86, SEABIOS_DIR, type EngineName, type EngineResult } from './engines.js';
import { benchGuest } from './guest.js';
import { checkLinuxRuns, LINUX_CMDLINE, LINUX_MEMORY_MIB, markerCpus, runHvkitLinux, runQemuLinux, type LinuxEngine, type LinuxResult } from './linux.js';
import { type MemSample } from './memory.js';
import { benchMmu } from './mmu.js';
import { bochsVmexitMissing, perRoundTrip, perRoundTripVpid, qemuVmexitMissing, runBochsVmexit, runHvkitVmexit, runQemuVmexit, svmVmexitPeers, VMEXIT_GUEST, vmexitFailed, vmexitPeers, vmexitTarget, type VmexitKind, type VmexitResult } from './vmexit.js';
import { summariseProfile } from './profile.js';

const SCRIPT = fileURLToPath(import.meta.url);
/** `--seabios`, passed on to the child processes. */
let seabiosDir = SEABIOS_DIR;
const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const ENGINES: readonly EngineName[] = ['hvkit', 'v86', 'v86-jit', 'qemu'];
const LABEL: Record<EngineName, string> = { hvkit: 'hvkit', v86: 'v86 interpreter', 'v86-jit': 'v86 JIT', qemu: 'QEMU TCG' };

const USAGE = `usage: pnpm bench [options]

  --runs N           runs per emulator (default 3; 0 with --profile: profile only)
  --engines LIST     comma-separated: ${ENGINES.join(',')} (default: all available)
  --guest FILE       benchmark this Multiboot ELF32 instead of the built bench guest
  --fp-guest FILE    floating-point workload: this Multiboot ELF32 instead of the built benchfp guest
  --no-fp            skip the floating-point workload
  --memory MIB       guest RAM (default 64)
  --timeout SECONDS  per run (default 600)
  --seabios DIR      where bios.bin and vgabios-stdvga.bin are (default ${SEABIOS_DIR}, Debian's seabios)
  --profile          also profile one hvkit run (V8 sampler) and list the hottest functions
  --profile-dir DIR  where to keep the .cpuprofile (default: a new temporary directory)
  --json             print the raw results as JSON as well
  --linux-cpus LIST  Linux boot-to-marker section: vCPU counts (default 1,2)
  --linux-runs N     Linux boots per engine and vCPU count (default 1)
  --no-linux         skip the Linux section
  --no-mmu           skip the MMU micro-benchmarks (TLB hit, two-dimensional walk)
  --no-vmexit        skip the VM-exit round trips (VT-x: the vmxbench guest on createPc({ virtualization: 'vmx' });
                     SVM: svmbench on createPc({ virtualization: 'svm' }), QEMU TCG -cpu max and Bochs ryzen beside)
`;

// ---- child mode ---------------------------------------------------------------------------

async function child(engine: string, elf: string, memoryMiB: number, seabiosDir: string, profileFile?: string): Promise<void> {
  let result: EngineResult | MemSample;
  try {
    if (engine === 'baseline') result = baselineMemory();
    else if (engine === 'hvkit') result = await runHvkit(elf, memoryMiB, profileFile);
    else if (engine === 'v86' || engine === 'v86-jit') result = await runV86(elf, memoryMiB, engine === 'v86-jit', seabiosDir);
    else throw new Error(`unknown engine ${engine}`);
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    result = failed(engine as EngineName, message);
  }
  await new Promise<void>((resolve) => process.send!(result, () => resolve()));
  process.exit(0);
}

/** `--child hvkit-linux`: one Linux boot to the marker line on hvkit. */
async function childLinux(kernel: string, initrd: string, cpus: number, timeoutMs: number): Promise<void> {
  let result: LinuxResult;
  try {
    result = await runHvkitLinux(kernel, initrd, cpus, timeoutMs);
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    result = linuxFailed('hvkit', cpus, message);
  }
  await new Promise<void>((resolve) => process.send!(result, () => resolve()));
  process.exit(0);
}

/** `--child hvkit-vmexit`: one run of the vmxbench guest on hvkit with VT-x (or svmbench with SVM: `--vmexit-kind svm`). */
async function childVmexit(elf: string, timeoutMs: number, kind: VmexitKind): Promise<void> {
  let result: VmexitResult;
  try {
    result = await runHvkitVmexit(elf, timeoutMs, kind);
  } catch (error) {
    result = vmexitFailed(error instanceof Error ? (error.stack ?? error.message) : String(error));
  }
  await new Promise<void>((resolve) => process.send!(result, () => resolve()));
  process.exit(0);
}

const linuxFailed = (engine: LinuxEngine, cpus: number, error: string): LinuxResult => ({ engine, cpus, error, wallSeconds: NaN, cpuSeconds: null, instructions: null, guestSeconds: null, marker: null, tail: '' });

const failed = (engine: EngineName, error: string): EngineResult => ({ engine, error, instructions: null, wallSeconds: NaN, cpuSeconds: null, serial: '', exit: 'error' });

/** Runs this script as `--child WHAT` and returns the message it sends, or why there was none. */
function forkChild(what: string, elf: string, memoryMiB: number, timeoutMs: number, extraArgs: string[] = [], extraExecArgv: string[] = []): Promise<{ message: unknown } | { failure: string }> {
  return new Promise((resolve) => {
    const p = fork(SCRIPT, ['--child', what, '--guest', elf, '--memory', String(memoryMiB), '--seabios', seabiosDir, ...extraArgs], {
      execArgv: [...process.execArgv, '--expose-gc', ...extraExecArgv],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let message: unknown;
    let received = false;
    let output = '';
    p.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('message', (m) => {
      message = m;
      received = true;
    });
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (received) return resolve({ message });
      const how = signal ? `killed by ${signal}${signal === 'SIGKILL' ? ` (timeout after ${timeoutMs / 1000} s?)` : ''}` : `exit code ${code}`;
      resolve({ failure: `the child process ended without a result (${how})\n${output.trim().slice(-2000)}` });
    });
  });
}

async function runChild(engine: EngineName, elf: string, memoryMiB: number, timeoutMs: number, extraArgs: string[] = [], extraExecArgv: string[] = []): Promise<EngineResult> {
  const r = await forkChild(engine, elf, memoryMiB, timeoutMs, extraArgs, extraExecArgv);
  return 'message' in r ? (r.message as EngineResult) : failed(engine, `${LABEL[engine]}: ${r.failure}`);
}

// ---- statistics and the report --------------------------------------------------------------

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};
const MiB = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
const signedMiB = (b: number) => `${b > -52429 ? '+' : ''}${MiB(Math.abs(b) < 52429 ? 0 : b)}`;
const fmt = (x: number | null, digits = 1) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits));

function checksumOf(serial: string): string | null {
  const m = /checksum\W*(0x[0-9a-f]+|[0-9a-f]{8})\b/i.exec(serial);
  return m?.[1]?.toLowerCase() ?? null;
}
const passed = (serial: string) => /^PASS\b/m.test(serial);
/** One run's progress line. */
function runLine(r: EngineResult): string {
  const mips = r.instructions !== null && r.cpuSeconds ? ` ${fmt(r.instructions / r.cpuSeconds / 1e6)} MIPS (CPU time)` : '';
  return r.error ? `FAILED: ${r.error.split('\n')[0]}` : `${fmt(r.wallSeconds, 2)} s wall, ${fmt(r.cpuSeconds, 2)} s CPU${mips}`;
}

interface Summary {
  engine: EngineName;
  runs: EngineResult[];
  good: EngineResult[];
  instructions: number | null;
  estimated: boolean;
  cpu: { median: number; min: number } | null;
  wall: { median: number; min: number } | null;
}

function summarise(engine: EngineName, runs: EngineResult[], reference: number | null): Summary {
  const good = runs.filter((r) => !r.error);
  const counted = good.map((r) => r.instructions).filter((n): n is number => n !== null);
  const instructions = counted.length ? median(counted) : reference;
  const cpus = good.map((r) => r.cpuSeconds).filter((c): c is number => c !== null);
  const walls = good.map((r) => r.wallSeconds);
  return {
    engine,
    runs,
    good,
    instructions,
    estimated: counted.length === 0 && reference !== null,
    cpu: cpus.length ? { median: median(cpus), min: Math.min(...cpus) } : null,
    wall: walls.length ? { median: median(walls), min: Math.min(...walls) } : null,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r, j) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ') + (j === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : '')).join('\n');
}

/** The problems with a set of runs: failures, missing PASS or checksum, differing checksums. */
function checkRuns(results: Map<EngineName, EngineResult[]>, what: string): string[] {
  const problems: string[] = [];
  const usable = (r: EngineResult) => !r.error && checksumOf(r.serial) !== null;
  const first = (results.get('hvkit') ?? []).find(usable) ?? [...results.values()].flat().find(usable);
  const refSum = first ? checksumOf(first.serial) : null;
  for (const [engine, rs] of results) {
    for (const [i, r] of rs.entries()) {
      const run = `${LABEL[engine]} run ${i + 1}${what}`;
      if (r.error) {
        problems.push(`${run} failed: ${r.error}`);
        continue;
      }
      const sum = checksumOf(r.serial);
      if (!passed(r.serial)) problems.push(`${run}: no PASS line. Serial output:\n${r.serial.trimEnd()}`);
      if (sum === null) problems.push(`${run}: no checksum in the serial output:\n${r.serial.trimEnd()}`);
      else if (sum !== refSum) {
        problems.push(`CHECKSUM MISMATCH: ${run} printed ${sum}, ${LABEL[first!.engine]} printed ${refSum}: one emulator computes differently (an emulator bug)`);
      }
    }
  }
  return problems;
}

/** Summaries of every engine's runs; QEMU's instruction count is borrowed from the others. */
function summariseAll(engines: readonly EngineName[], results: Map<EngineName, EngineResult[]>): { summaries: Summary[]; hv: Summary } {
  const hv = summarise('hvkit', results.get('hvkit') ?? [], null);
  const counted = engines.filter((e) => e !== 'qemu').map((e) => (e === 'hvkit' ? hv : summarise(e, results.get(e)!, null)));
  const reference = counted.find((s) => s.instructions !== null)?.instructions ?? null;
  const summaries = engines.map((e) => (e === 'qemu' ? summarise(e, results.get(e)!, reference) : counted.find((s) => s.engine === e)!));
  return { summaries, hv };
}

/** The results table: MIPS, instructions, times, checksums. */
function resultTable(summaries: Summary[]): string {
  const rows = [['emulator', 'MIPS (CPU time)', 'MIPS (wall)', 'instructions', 'CPU s', 'wall s', 'checksum', 'runs ok']];
  for (const s of summaries) {
    const mips = (t: { median: number; min: number } | null) =>
      s.instructions === null || t === null ? '-' : `${s.estimated ? '~' : ''}${fmt(s.instructions / t.median / 1e6)} (best ${fmt(s.instructions / t.min / 1e6)})`;
    const sums = [...new Set(s.good.map((r) => checksumOf(r.serial) ?? '?'))].join(' / ');
    rows.push([
      LABEL[s.engine],
      mips(s.cpu),
      mips(s.wall),
      s.instructions === null ? '-' : `${s.estimated ? '~' : ''}${Math.round(s.instructions).toLocaleString('en-US')}`,
      fmt(s.cpu?.median ?? null, 2),
      fmt(s.wall?.median ?? null, 2),
      sums || '-',
      `${s.good.length}/${s.runs.length}`,
    ]);
  }
  return table(rows);
}

// ---- Linux boot to the marker line --------------------------------------------------------

/** One Linux run's progress line. */
function linuxRunLine(r: LinuxResult): string {
  if (r.error) return `FAILED: ${r.error.split('\n')[0]}`;
  const cpu = r.cpuSeconds === null ? '' : `, ${fmt(r.cpuSeconds, 1)} s CPU`;
  return `${fmt(r.wallSeconds, 2)} s wall${cpu} to "${r.marker ?? '(marker line incomplete)'}"`;
}

/**
 * Boots the Linux guest to its marker line on each engine with each vCPU count (hvkit in a
 * child process), prints the runs and the table, and returns the results and their problems.
 * Without the guest (no apt-get to fetch Debian's packages, say) it prints why and skips.
 */
async function linuxSection(engines: readonly LinuxEngine[], cpuCounts: readonly number[], runs: number, timeoutMs: number): Promise<{ results: LinuxResult[]; problems: string[] }> {
  let guest: PreparedLinux;
  try {
    guest = prepareLinux({ log: (line) => console.log(`  ${line}`) });
  } catch (error) {
    console.log(`\nLinux boot skipped: the guest cannot be prepared here: ${error instanceof Error ? error.message : String(error)}`);
    return { results: [], problems: [] };
  }
  console.log(`\nLinux boot to the marker line: kernel ${guest.release}, busybox initramfs (pnpm guests:linux), ${LINUX_MEMORY_MIB} MiB, -append ${LINUX_CMDLINE}`);
  console.log(`${runs} run(s) of ${engines.map((e) => LABEL[e]).join(', ')} with ${cpuCounts.join(', ')} vCPU(s)\n`);
  const results: LinuxResult[] = [];
  for (let round = 1; round <= runs; round++) {
    for (const cpus of cpuCounts) {
      for (const engine of engines) {
        let r: LinuxResult;
        if (engine === 'qemu') r = await runQemuLinux(guest.kernel, guest.initrd, cpus, timeoutMs);
        else {
          // The child gives up at the timeout itself (and says how far the guest got); this one is a backstop.
          const extra = ['--initrd', guest.initrd, '--cpus', String(cpus), '--timeout', String(timeoutMs / 1000)];
          const c = await forkChild('hvkit-linux', guest.kernel, LINUX_MEMORY_MIB, timeoutMs + 60_000, extra);
          r = 'message' in c ? (c.message as LinuxResult) : linuxFailed('hvkit', cpus, `hvkit: ${c.failure}`);
        }
        results.push(r);
        console.log(`  run ${round}/${runs} ${`${LABEL[engine]}, ${cpus} vCPU`.padEnd(18)} ${linuxRunLine(r)}`);
      }
    }
  }

  const rows = [['vCPUs', 'emulator', 'boot-to-marker wall s', 'CPU s', 'instructions', 'guest s', 'MIPS (CPU time)', 'marker cpus=', 'runs ok']];
  const walls = new Map<string, number>();
  for (const cpus of cpuCounts) {
    for (const engine of engines) {
      const rs = results.filter((r) => r.engine === engine && r.cpus === cpus);
      const good = rs.filter((r) => !r.error && markerCpus(r.marker) === cpus);
      const med = (f: (r: LinuxResult) => number | null) => {
        const xs = good.map(f).filter((x): x is number => x !== null);
        return xs.length ? median(xs) : null;
      };
      const wall = med((r) => r.wallSeconds);
      if (wall !== null) walls.set(`${engine}/${cpus}`, wall);
      const cpu = med((r) => r.cpuSeconds);
      const n = med((r) => r.instructions);
      const seen = [...new Set(rs.map((r) => String(markerCpus(r.marker) ?? '-')))].join(' / ');
      rows.push([
        String(cpus),
        LABEL[engine],
        fmt(wall, 2),
        fmt(cpu, 2),
        n === null ? '-' : Math.round(n).toLocaleString('en-US'),
        fmt(med((r) => r.guestSeconds), 2),
        n !== null && cpu ? fmt(n / cpu / 1e6) : '-',
        seen,
        `${good.length}/${rs.length}`,
      ]);
    }
  }
  console.log(`\n${table(rows)}`);
  if (engines.includes('hvkit')) {
    console.log('hvkit: from just before bootLinux to the marker on COM1 (median runs); instructions are those executed by all vCPUs');
    console.log('  (pc.stats().instructions less the idle ticks skipped while halted); guest s is guest time at the marker.');
  }
  if (engines.includes('qemu')) console.log("QEMU TCG: from spawning qemu-system-x86_64 to the marker on its stdout, so QEMU's start-up and SeaBIOS are included; it counts no instructions.");
  for (const cpus of cpuCounts) {
    const h = walls.get(`hvkit/${cpus}`);
    const q = walls.get(`qemu/${cpus}`);
    if (h !== undefined && q !== undefined) console.log(`hvkit / QEMU TCG boot-to-marker (${cpus} vCPU): ${fmt(h / q)}x slower (wall)`);
  }
  return { results, problems: checkLinuxRuns(results, (e) => LABEL[e]) };
}

// ---- VM-exit round trip (VT-x) --------------------------------------------------------------

/**
 * The `vmexit` workload (vmexit.ts): `runs` runs of the vmxbench guest on hvkit with VT-x, each
 * in a child process, interleaved with as many on Bochs where it is installed with GRUB (the
 * peer; its failures are printed, not counted as problems); prints the runs, the peers, the
 * ratio, the target and the result. A failure (no VMX
 * yet, a guest that does not pass) is reported as a problem; the other workloads are unaffected.
 */
async function vmexitSection(runs: number, memoryMiB: number, timeoutMs: number, kind: VmexitKind = 'vmx'): Promise<{ problems: string[]; results: VmexitResult[] }> {
  const name = VMEXIT_GUEST[kind];
  const svm = kind === 'svm';
  const hv = svm ? 'hvkit-svm' : 'hvkit';
  if (svm) console.log(`\nWorld switch (SVM): ${name}, a bare-metal host whose guest runs CPUID in a loop (#VMEXIT, RIP = nRIP, VMRUN)`);
  else console.log(`\nVM-exit round trip (VT-x): ${name}, a bare-metal host whose guest runs CPUID in a loop (exit, advance RIP, re-enter)`);
  let elf: string;
  try {
    elf = (await benchGuest(undefined, name)).path;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    console.log(`  FAILED: cannot build the ${name} guest: ${why.split('\n')[0]}`);
    return { problems: [`vmexit workload: cannot build the ${name} guest: ${why}`], results: [] };
  }
  const results: VmexitResult[] = [];
  const bochsRuns: VmexitResult[] = [];
  const qemuRuns: VmexitResult[] = [];
  const bochsMissing = bochsVmexitMissing();
  const qemuMissing = svm ? qemuVmexitMissing() : [];
  const problems: string[] = [];
  for (let round = 1; round <= runs; round++) {
    const c = await forkChild('hvkit-vmexit', elf, memoryMiB, timeoutMs + 60_000, ['--timeout', String(timeoutMs / 1000), '--vmexit-kind', kind]);
    const r = 'message' in c ? (c.message as VmexitResult) : vmexitFailed(`hvkit: ${c.failure}`);
    results.push(r);
    const p = perRoundTrip(r);
    const line = p
      ? `${fmt(p.us, 2)} µs per round trip (${fmt(r.vmexitSeconds, 2)} s wall for ${r.roundTrips!.toLocaleString('en-US')}), guest loop alone ${fmt(((r.nativeSeconds ?? NaN) / r.roundTrips!) * 1e6, 3)} µs`
      : `FAILED: ${(r.error ?? 'no timing').split('\n')[0]}`;
    console.log(`  run ${round}/${runs} ${hv.padEnd(15)} ${line}`);
    const pv = perRoundTripVpid(r);
    if (pv) console.log(`  run ${round}/${runs} ${'hvkit-vpid'.padEnd(15)} ${fmt(pv.us, 2)} µs per round trip (${fmt(r.vpidSeconds, 2)} s wall), CPU ${fmt(pv.cpuUs, 2)} µs`);
    if (r.error) problems.push(`vmexit workload, ${hv} run ${round} failed: ${r.error}${r.serial ? `\nSerial output:\n${r.serial.trimEnd()}` : ''}`);
    if (svm && !qemuMissing.length) {
      const q = await runQemuVmexit(elf, timeoutMs);
      qemuRuns.push(q);
      const qp = perRoundTrip(q);
      console.log(
        `  run ${round}/${runs} ${'QEMU TCG'.padEnd(15)} ${qp ? `${fmt(qp.us, 2)} µs per round trip (${fmt(q.vmexitSeconds, 2)} s wall for ${q.roundTrips!.toLocaleString('en-US')}), CPU ${fmt(qp.cpuUs, 2)} µs` : `FAILED: ${(q.error ?? 'no timing').split('\n')[0]}`}`,
      );
      if (q.error) console.log(`    QEMU serial output:\n${q.serial.trimEnd().replace(/^/gm, '      ')}`);
    }
    if (bochsMissing.length) continue;
    // The peer, interleaved with hvkit's runs so that background load spreads over both.
    const b = await runBochsVmexit(elf, timeoutMs, kind).catch((error: unknown) => vmexitFailed(`Bochs: ${error instanceof Error ? error.message : String(error)}`));
    bochsRuns.push(b);
    const bp = perRoundTrip(b);
    const bline = bp
      ? `${fmt(bp.us, 2)} µs per round trip (${fmt(b.vmexitSeconds, 2)} s wall for ${b.roundTrips!.toLocaleString('en-US')}), guest loop alone ${fmt(((b.nativeSeconds ?? NaN) / b.roundTrips!) * 1e6, 3)} µs`
      : `FAILED: ${(b.error ?? 'no timing').split('\n')[0]}`;
    console.log(`  run ${round}/${runs} ${'Bochs'.padEnd(15)} ${bline}`);
    const bpv = perRoundTripVpid(b);
    if (bpv) console.log(`  run ${round}/${runs} ${'Bochs-vpid'.padEnd(15)} ${fmt(bpv.us, 2)} µs per round trip (${fmt(b.vpidSeconds, 2)} s wall), CPU ${fmt(bpv.cpuUs, 2)} µs`);
    // A peer that fails is reported, not counted as a problem of hvkit's.
    if (b.error) console.log(`    Bochs serial output:\n${b.serial.trimEnd().replace(/^/gm, '      ')}`);
  }
  const good = results.map((r) => ({ r, p: perRoundTrip(r) })).filter((x) => x.p !== null);
  const sums = [...new Set(good.map((x) => x.r.checksum ?? '?'))];
  if (sums.length > 1) problems.push(`vmexit workload: the runs printed different checksums (${sums.join(', ')})`);
  // The VPID phase repeats the same round trips: its checksum must be the same.
  for (const x of good) if (x.r.vpidChecksum !== null && x.r.vpidChecksum !== x.r.checksum) problems.push(`vmexit workload: the VPID round trips printed checksum ${x.r.vpidChecksum}, the others ${x.r.checksum ?? '?'}`);
  const goodVpid = results.map((r) => ({ r, p: perRoundTripVpid(r) })).filter((x) => x.p !== null);
  const peers = svm ? svmVmexitPeers({ qemu: { missing: qemuMissing, runs: qemuRuns }, bochs: { missing: bochsMissing, runs: bochsRuns } }) : vmexitPeers({ missing: bochsMissing, runs: bochsRuns });
  const qemuGood = qemuRuns.map((r) => ({ r, p: perRoundTrip(r) })).filter((x) => x.p !== null);
  const qemuSums = [...new Set(qemuGood.map((x) => x.r.checksum ?? '?'))];
  if (qemuSums.length && sums.length && qemuSums.join() !== sums.join()) problems.push(`vmexit workload: QEMU printed checksum ${qemuSums.join(', ')}, hvkit ${sums.join(', ')}`);
  const bochsGood = bochsRuns.map((r) => ({ r, p: perRoundTrip(r) })).filter((x) => x.p !== null);
  const bochsSums = [...new Set(bochsGood.map((x) => x.r.checksum ?? '?'))];
  if (bochsSums.length && sums.length && bochsSums.join() !== sums.join()) problems.push(`vmexit workload: Bochs printed checksum ${bochsSums.join(', ')}, hvkit ${sums.join(', ')}`);
  const rows = [['emulator', 'µs / round trip (median)', 'best', 'net of guest loop', 'CPU µs', 'instructions / round trip', 'checksum', 'runs ok']];
  const med = (xs: number[]) => (xs.length ? median(xs) : null);
  const us = med(good.map((x) => x.p!.us));
  rows.push([
    hv,
    fmt(us, 2),
    good.length ? fmt(Math.min(...good.map((x) => x.p!.us)), 2) : '-',
    fmt(med(good.map((x) => x.p!.netUs).filter((v): v is number => v !== null)), 2),
    fmt(med(good.map((x) => x.p!.cpuUs).filter((v): v is number => v !== null)), 2),
    fmt(med(good.map((x) => (x.r.vmexitInstructions ?? NaN) / x.r.roundTrips!)), 1),
    sums.join(' / ') || '-',
    `${good.length}/${results.length}`,
  ]);
  if (!svm) {
    rows.push([
      'hvkit-vpid',
      fmt(med(goodVpid.map((x) => x.p!.us)), 2),
      goodVpid.length ? fmt(Math.min(...goodVpid.map((x) => x.p!.us)), 2) : '-',
      '-',
      fmt(med(goodVpid.map((x) => x.p!.cpuUs).filter((v): v is number => v !== null)), 2),
      fmt(med(goodVpid.map((x) => (x.r.vpidInstructions ?? NaN) / x.r.roundTrips!)), 1),
      [...new Set(goodVpid.map((x) => x.r.vpidChecksum ?? '?'))].join(' / ') || '-',
      `${goodVpid.length}/${results.length}`,
    ]);
  }
  for (const p of peers) {
    if (p.name === 'QEMU TCG' && p.us !== null) {
      rows.push([
        'QEMU TCG',
        fmt(med(qemuGood.map((x) => x.p!.us)), 2),
        fmt(Math.min(...qemuGood.map((x) => x.p!.us)), 2),
        fmt(med(qemuGood.map((x) => x.p!.netUs).filter((v): v is number => v !== null)), 2),
        fmt(med(qemuGood.map((x) => x.p!.cpuUs).filter((v): v is number => v !== null)), 2),
        '-',
        qemuSums.join(' / ') || '-',
        `${qemuGood.length}/${qemuRuns.length}`,
      ]);
    } else if (p.name === 'Bochs' && p.us !== null) {
      rows.push([
        'Bochs',
        fmt(med(bochsGood.map((x) => x.p!.us)), 2),
        fmt(Math.min(...bochsGood.map((x) => x.p!.us)), 2),
        fmt(med(bochsGood.map((x) => x.p!.netUs).filter((v): v is number => v !== null)), 2),
        fmt(med(bochsGood.map((x) => x.p!.cpuUs).filter((v): v is number => v !== null)), 2),
        '-',
        bochsSums.join(' / ') || '-',
        `${bochsGood.length}/${bochsRuns.length}`,
      ]);
      const bochsVpid = bochsRuns.map((r) => ({ r, p: perRoundTripVpid(r) })).filter((x) => x.p !== null);
      if (bochsVpid.length)
        rows.push([
          'Bochs-vpid',
          fmt(med(bochsVpid.map((x) => x.p!.us)), 2),
          fmt(Math.min(...bochsVpid.map((x) => x.p!.us)), 2),
          '-',
          fmt(med(bochsVpid.map((x) => x.p!.cpuUs).filter((v): v is number => v !== null)), 2),
          '-',
          [...new Set(bochsVpid.map((x) => x.r.vpidChecksum ?? '?'))].join(' / ') || '-',
          `${bochsVpid.length}/${bochsRuns.length}`,
        ]);
    } else rows.push([p.name, p.us === null ? 'not run' : fmt(p.us, 2), '-', '-', '-', '-', '-', '-']);
  }
  console.log(`\n${table(rows)}`);
  for (const p of peers) console.log(`${p.name}: ${p.note}`);
  console.log(`${hv}: wall time between the guest's "# mark vmexit-start" and "vmexit-end" lines on COM1, divided by the round trips;`);
  console.log(`  net: less the same loop body (INC, MOV, CPUID) run without ${svm ? 'SVM' : 'VMX'}; instructions are guest and host together.`);
  if (!svm) console.log('  -vpid: the same round trips with "enable VPID" (VPID 1), between "# mark vmexit-vpid-start" and "vmexit-vpid-end".');
  for (const p of peers) if (us !== null && p.us !== null) console.log(`${hv} / ${p.name}: ${fmt(us / p.us, 2)} (hvkit ${us < p.us ? `${fmt(p.us / us, 1)}x faster` : `${fmt(us / p.us, 1)}x slower`})`);
  const target = vmexitTarget(peers);
  console.log(`Target: at most ${fmt(target.us, 2)} µs per round trip (${target.why}).`);
  if (us === null) console.log(`Result: no successful ${hv} run (see the problems below).`);
  else console.log(`Result: ${hv} ${fmt(us, 2)} µs per round trip: ${us <= target.us ? 'meets the target' : `${fmt(us / target.us, 1)}x the target (misses it)`}.`);
  return { problems, results };
}

// ---- main ---------------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      runs: { type: 'string', default: '3' },
      engines: { type: 'string' },
      guest: { type: 'string' },
      'fp-guest': { type: 'string' },
      'no-fp': { type: 'boolean', default: false },
      memory: { type: 'string', default: '64' },
      timeout: { type: 'string', default: '600' },
      profile: { type: 'boolean', default: false },
      'profile-dir': { type: 'string' },
      'profile-file': { type: 'string' },
      seabios: { type: 'string', default: SEABIOS_DIR },
      json: { type: 'boolean', default: false },
      'linux-cpus': { type: 'string', default: '1,2' },
      'linux-runs': { type: 'string', default: '1' },
      'no-linux': { type: 'boolean', default: false },
      'no-mmu': { type: 'boolean', default: false },
      'no-vmexit': { type: 'boolean', default: false },
      'vmexit-kind': { type: 'string' },
      initrd: { type: 'string' },
      cpus: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
    // `pnpm run bench -- --runs 1` passes the `--` on.
    args: process.argv.slice(2).filter((a, i) => i > 0 || a !== '--'),
  });
  const memoryMiB = Number(values.memory);
  if (values.child === 'hvkit-vmexit') {
    await childVmexit(values.guest!, Number(values.timeout) * 1000, values['vmexit-kind'] === 'svm' ? 'svm' : 'vmx');
    return 0;
  }
  if (values.child === 'hvkit-linux') {
    await childLinux(values.guest!, values.initrd!, Number(values.cpus), Number(values.timeout) * 1000);
    return 0;
  }
  if (values.child) {
    await child(values.child, values.guest!, memoryMiB, values.seabios, values['profile-file']);
    return 0;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const runs = Math.max(values.profile ? 0 : 1, Number(values.runs) | 0);
  const timeoutMs = Number(values.timeout) * 1000;
  let engines = values.engines ? (values.engines.split(',').map((e) => e.trim()) as EngineName[]) : [...ENGINES];
  for (const e of engines) if (!ENGINES.includes(e)) throw new Error(`unknown engine "${e}" (have ${ENGINES.join(', ')})`);

  const notes: string[] = [];
  seabiosDir = values.seabios;
  const seabios = path.join(seabiosDir, 'bios.bin');
  if (engines.some((e) => e.startsWith('v86')) && !fs.existsSync(seabios)) {
    notes.push(`v86 skipped: it boots Multiboot kernels through SeaBIOS, and ${seabios} is missing.`);
    notes.push(`  Install Debian's seabios package to compare with v86:  sudo apt-get install seabios`);
    engines = engines.filter((e) => !e.startsWith('v86'));
  }
  let qemu: string | null = null;
  if (engines.includes('qemu')) {
    qemu = await qemuVersion();
    if (!qemu) {
      if (values.engines) notes.push('QEMU skipped: qemu-system-x86_64 not found (Debian: apt-get install qemu-system-x86).');
      engines = engines.filter((e) => e !== 'qemu');
    }
  }

  // The Linux section: hvkit and QEMU boot it; v86 does not.
  const linuxEngines = values['no-linux'] || runs === 0 ? [] : engines.filter((e): e is LinuxEngine => e === 'hvkit' || e === 'qemu');
  const linuxCpus = values['linux-cpus'].split(',').map((c) => Number(c.trim()));
  for (const c of linuxCpus) if (!Number.isInteger(c) || c < 1 || c > 32) throw new Error(`--linux-cpus: "${values['linux-cpus']}" is not a list of vCPU counts (1 to 32)`);
  const linux = linuxEngines.length ? { engines: linuxEngines, cpus: linuxCpus, runs: Math.max(1, Number(values['linux-runs']) | 0) } : null;
  if (!values['no-linux'] && runs > 0 && !linux && engines.length) notes.push('Linux boot skipped: of the engines run, only hvkit and QEMU boot the Linux guest.');

  if (notes.length) console.log(`${notes.join('\n')}\n`);
  if (engines.length === 0) return 0;
  const guest = await benchGuest(values.guest);
  const fpEngines = values['no-fp'] ? [] : engines;
  const fpGuest = fpEngines.length ? await benchGuest(values['fp-guest'], 'benchfp') : null;
  const hostCpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const where = (p: string) => (path.relative(REPO, p).startsWith('..') ? p : path.relative(REPO, p));
  console.log(`hvkit bench: guest ${guest.origin} (${where(guest.path)})`);
  if (fpGuest) console.log(`floating-point workload: ${fpGuest.origin} (${where(fpGuest.path)}) on ${fpEngines.map((e) => LABEL[e]).join(', ')}`);
  console.log(`host: ${hostCpu}, ${os.cpus().length} logical CPUs, load average ${os.loadavg()[0]?.toFixed(2)}; Node ${process.version}`);
  console.log(`${runs} run(s) of ${engines.map((e) => LABEL[e]).join(', ')}${qemu ? ` (${qemu})` : ''}; guest RAM ${memoryMiB} MiB\n`);

  const results = new Map<EngineName, EngineResult[]>(engines.map((e) => [e, []]));
  const fpResults = new Map<EngineName, EngineResult[]>(fpEngines.map((e) => [e, []]));
  const baselines: MemSample[] = [];
  for (let round = 1; round <= runs; round++) {
    if (engines.includes('hvkit')) {
      const b = await forkChild('baseline', guest.path, memoryMiB, timeoutMs);
      if ('message' in b) baselines.push(b.message as MemSample);
    }
    for (const engine of engines) {
      const r = engine === 'qemu' ? await runQemu(guest.path, memoryMiB, timeoutMs) : await runChild(engine, guest.path, memoryMiB, timeoutMs);
      results.get(engine)!.push(r);
      console.log(`  run ${round}/${runs} ${LABEL[engine].padEnd(15)} ${runLine(r)}`);
    }
    for (const engine of fpEngines) {
      const elf = fpGuest!.path;
      const r = engine === 'qemu' ? await runQemu(elf, memoryMiB, timeoutMs) : await runChild(engine, elf, memoryMiB, timeoutMs);
      fpResults.get(engine)!.push(r);
      console.log(`  run ${round}/${runs} ${`${LABEL[engine]} FP`.padEnd(15)} ${runLine(r)}`);
    }
  }

  // Correctness first: every run must print the same checksum and PASS.
  const problems: string[] = [...checkRuns(results, '')];
  problems.push(...checkRuns(fpResults, ' (floating point)'));

  const { summaries, hv } = summariseAll(engines, results);
  console.log(`\n${resultTable(summaries)}`);
  console.log('MIPS: median run (best run); CPU time is user + system time of the emulating process, less disturbed by other load than wall time.');
  if (summaries.some((s) => s.estimated)) console.log("~: QEMU counts no instructions; its MIPS use the count of the other emulators for the same guest, timed from the guest's first serial byte to its exit.");

  const ratioLines: string[] = [];
  for (const s of summaries) {
    if (s.engine === 'hvkit' || !hv.instructions || !s.instructions) continue;
    const r = (a: { median: number } | null, b: { median: number } | null) =>
      a && b ? fmt(hv.instructions! / a.median / (s.instructions! / b.median), 2) : '-';
    ratioLines.push(`  hvkit / ${LABEL[s.engine]}: ${r(hv.cpu, s.cpu)} by CPU time, ${r(hv.wall, s.wall)} by wall time`);
  }
  if (ratioLines.length) console.log(`\nSpeed ratio (median runs):\n${ratioLines.join('\n')}`);

  const v86 = summaries.find((s) => s.engine === 'v86' && s.instructions !== null);
  if (hv.instructions && v86?.instructions) {
    const d = v86.instructions - hv.instructions;
    const rel = Math.abs(d) / hv.instructions;
    console.log(`\nInstruction counts: v86 ${d === 0 ? 'agrees exactly' : `differs by ${d > 0 ? '+' : ''}${d} (${(rel * 100).toFixed(4)}%)`} from hvkit.`);
    if (rel > 0.001) problems.push(`instruction counts differ by ${(rel * 100).toFixed(3)}% between hvkit and v86: the emulators did not run the same instruction stream`);
  }

  if (fpEngines.length) {
    const fp = summariseAll(fpEngines, fpResults);
    console.log(`\nFloating-point workload (benchfp: SSE2 doubles, SSE singles, x87 extended precision):\n${resultTable(fp.summaries)}`);
    const { hv: fh } = fp;
    for (const s of fp.summaries) {
      if (s.engine === 'hvkit' || !fh.instructions || !fh.cpu || !s.instructions || !s.cpu) continue;
      console.log(`  hvkit / ${LABEL[s.engine]}: ${fmt(fh.instructions / fh.cpu.median / (s.instructions / s.cpu.median), 2)} by CPU time`);
    }
    if (fh.instructions && fh.cpu && hv.instructions && hv.cpu) {
      console.log(`  hvkit MIPS (CPU time, median): ${fmt(hv.instructions / hv.cpu.median / 1e6)} integer (bench), ${fmt(fh.instructions / fh.cpu.median / 1e6)} floating point (benchfp)`);
    }
  }

  const mems = hv.good.map((r) => r.memory).filter((m) => m !== undefined);
  if (mems.length) {
    const pick = (f: (m: (typeof mems)[number]) => number) => median(mems.map(f));
    const ram = mems[0]!.ramSize;
    const resident = pick((x) => x.guestResident ?? 0);
    // Live allocations after a full GC: the V8 heap, and off-heap memory (typed arrays) beyond the guest RAM buffer.
    const runtimeHeap = pick((x) => x.end.heapUsed - x.loaded.heapUsed);
    // Guest RAM is allocated in chunks on first touch: what the guest touched is guest RAM, not
    // overhead (subtracting the configured size would make the overhead negative).
    const runtimeOff = pick((x) => x.end.external - x.loaded.external - (x.guestResidentMethod === 'chunks' ? (x.guestResident ?? 0) : ram));
    const codeHeap = pick((x) => x.loaded.heapUsed - x.start.heapUsed);
    const codeOff = pick((x) => x.loaded.external - x.start.external);
    const overhead = runtimeHeap + runtimeOff + codeHeap + codeOff;
    console.log(`\nhvkit memory (median of ${mems.length} run(s); guest RAM ${MiB(ram)}, ${MiB(resident)} of it resident at the end, by ${mems[0]!.guestResidentMethod}):`);
    console.log(`  emulator overhead beyond guest RAM: ${MiB(overhead)} of live allocations (after a full GC)`);
    console.log(`    machine and caches: ${signedMiB(runtimeHeap)} V8 heap, ${signedMiB(runtimeOff)} off-heap beyond the allocated guest RAM (from machine creation to the end of the run)`);
    console.log(`    code and static tables: ${signedMiB(codeHeap)} V8 heap, ${signedMiB(codeOff)} off-heap (importing @hvkit/machine; tsx keeps the transpiled sources)`);
    const baselineRss = baselines.length ? MiB(median(baselines.map((b) => b.rss))) : '-';
    console.log(`  process RSS: ${MiB(pick((x) => x.end.rss))} at the end, ${MiB(pick((x) => x.maxRss))} peak (module loading); the same child process without an emulator: ${baselineRss}`);
    console.log('    (RSS cannot resolve a few MiB here: V8 returns freed heap pages to the system lazily; the live allocations above can)');
  }
  for (const s of summaries.filter((x) => x.engine.startsWith('v86'))) {
    const ms = s.good.map((r) => r.memory).filter((m) => m !== undefined);
    if (!ms.length) continue;
    console.log(`  ${LABEL[s.engine]} for comparison: process RSS ${MiB(median(ms.map((x) => x.end.rss)))} at the end (its guest RAM, SeaBIOS and VGA memory included)`);
  }

  let linuxResults: LinuxResult[] = [];
  if (linux) {
    const section = await linuxSection(linux.engines, linux.cpus, linux.runs, timeoutMs);
    linuxResults = section.results;
    problems.push(...section.problems);
  }

  let vmexitResults: VmexitResult[] = [];
  if (!values['no-vmexit'] && engines.includes('hvkit') && runs > 0) {
    const section = await vmexitSection(runs, memoryMiB, timeoutMs);
    vmexitResults = section.results;
    problems.push(...section.problems);
    const svm = await vmexitSection(runs, memoryMiB, timeoutMs, 'svm');
    vmexitResults = [...vmexitResults, ...svm.results];
    problems.push(...svm.problems);
  }

  if (!values['no-mmu'] && engines.includes('hvkit')) {
    // Second-level translation (@hvkit/mmu): what a tagged TLB hit and a full 2D walk cost.
    const m = benchMmu();
    console.log('\nMMU (@hvkit/mmu, in this process, after a warm-up):');
    console.log(`  TLB hit (tagged by VPID/ASID, PCID, EPTP/nCR3): ${fmt(m.tlbHitNs)} ns`);
    for (const w of m.walks) console.log(`  two-dimensional walk, 4-level guest paging over 4-level ${w.format}: ${fmt(w.ns)} ns, ${w.references} memory references`);
  }

  if (values.profile) {
    const dir = values['profile-dir'] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hvkit-bench-prof-'));
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `hvkit-bench-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
    console.log(`\nProfiling hvkit's run (V8 sampling profiler, every 500 us) ...`);
    const r = await runChild('hvkit', guest.path, memoryMiB, timeoutMs, ['--profile-file', file], ['--enable-source-maps']);
    if (r.error || !fs.existsSync(file)) problems.push(`profiling run failed: ${r.error ?? 'no profile written'}`);
    else {
      const p = summariseProfile(file, REPO);
      const mips = r.instructions && r.cpuSeconds ? `, ${fmt(r.instructions / r.cpuSeconds / 1e6)} MIPS under the profiler` : '';
      console.log(`${file} (open in Chrome DevTools or speedscope): ${(p.totalMs / 1000).toFixed(2)} s sampled${mips}\n`);
      const top = p.functions.slice(0, 30).map((f) => [f.name, `${f.selfPercent.toFixed(1)}%`, `${f.totalPercent.toFixed(1)}%`, f.where]);
      console.log(table([['function (self time order)', 'self', 'total', 'where'], ...top]));
    }
  }

  if (values.json) console.log(`\n${JSON.stringify({ ...Object.fromEntries(results), ...(fpEngines.length ? { fp: Object.fromEntries(fpResults) } : {}), ...(linuxResults.length ? { linux: linuxResults } : {}), ...(vmexitResults.length ? { vmexit: vmexitResults.map(({ serial: _serial, ...r }) => r) } : {}) }, null, 2)}`);
  if (notes.length) console.log(`\n${notes.join('\n')}`);
  if (problems.length) {
    console.error(`\n${'!'.repeat(78)}\n${problems.map((p) => `!! ${p}`).join('\n')}\n${'!'.repeat(78)}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
