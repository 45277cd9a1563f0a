/**
 * The `vmexit` workload of `pnpm bench`: the VM-exit round trip of a bare-metal VT-x host (issue
 * 8's speed figure). The host is real x86 code, `vmxbench` of @hvkit/guests
 * (tooling/guests/programs/vmxbench.c): its guest runs CPUID in a loop, every CPUID exits, and
 * the host reads the exit reason, advances the guest RIP by the VM-exit instruction length and
 * executes VMRESUME, 100 000 times. It runs on `createPc({ virtualization: 'vmx' })` in a child
 * process; the guest's `# mark` lines on COM1 are timestamped as they arrive, so the time of the
 * round trips excludes booting and set-up, and (the program runs 30 000 untimed round trips and
 * native loops first) the emulator's JIT warm-up: the figure is the steady-state round trip.
 * The same loop body without VMX (CPUID executing natively) is timed too, and subtracted for the
 * "net" figure: the world switch alone. The program then times the same round trips with "enable
 * VPID" (VPID 1, as KVM runs its guests: no TLB flush at each world switch): the `-vpid` rows.
 *
 * Peers: Bochs (built with VMX, as Debian's is) runs the same program where it is installed
 * with GRUB: Bochs has no Multiboot loader, so `runOnBochs` of @hvkit/guests boots the kernel
 * from a GRUB rescue CD (`grub-mkrescue`), on the `corei7_skylake_x` model, and the bench
 * timestamps the same `# mark` lines as Bochs writes them to its serial file (wall time, and
 * Bochs' CPU time from /proc). QEMU's TCG does not emulate VMX at all. The target is a quarter
 * of the faster peer measured; without one, a quarter of the reference figure for Bochs
 * 2.7 (6.8 us per round trip): 1.7 us.
 *
 * AMD SVM (issue 9): `svmbench` (tooling/guests/programs/svmbench.c) is the same workload for
 * SVM: the guest's CPUID is intercepted (#VMEXIT 72h), the host sets the guest RIP to nRIP and
 * executes VMRUN again, with ASID 1 and VMCB clean bits set (a real hypervisor's configuration).
 * It runs on `createPc({ virtualization: 'svm' })` (`kind = 'svm'` below); its peers are QEMU
 * TCG (`-cpu max`, which emulates SVM: the same kernel, timed between the same `# mark` lines as
 * they reach QEMU's stdout, CPU time from /proc) and Bochs 2.7 on the `ryzen` model (SVM with
 * nested paging and NRIPS).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { bochsMissing, DEFAULT_BOCHS_CPU, QEMU, qemuAvailable, runOnBochs } from '@hvkit/guests';

/** Bochs 2.7 with VMX on the reference machine: microseconds per round trip. */
export const BOCHS_REFERENCE_US = 6.8;

/** Which world switch: Intel VT-x (the vmxbench guest) or AMD SVM (svmbench). */
export type VmexitKind = 'vmx' | 'svm';
/** The guest program of each kind (tooling/guests/programs/<name>.c). */
export const VMEXIT_GUEST = Object.freeze({ vmx: 'vmxbench', svm: 'svmbench' } as const);
/**
 * Bochs 2.7's CPU model for svmbench: `ryzen` has SVM with nested paging, NRIPS and the pause
 * filter (CPUID 8000_000Ah EDX = 44Fh in Debian's build), the VMX peer's `corei7_skylake_x` none.
 */
export const BOCHS_SVM_CPU = 'ryzen';

export interface VmexitResult {
  /** Set when the run did not complete or the guest did not pass. */
  readonly error?: string;
  readonly roundTrips: number | null;
  /** Wall and CPU seconds between the marks around the round trips, and around the native loop. */
  readonly vmexitSeconds: number | null;
  readonly vmexitCpuSeconds: number | null;
  readonly nativeSeconds: number | null;
  /** Instructions retired (guest and host together) in each phase. */
  readonly vmexitInstructions: number | null;
  readonly nativeInstructions: number | null;
  readonly checksum: string | null;
  /**
   * The same round trips with "enable VPID" (VPID 1; vmxbench's `vmexit-vpid` phase, a real
   * hypervisor's configuration): wall and CPU seconds, instructions, checksum; null when the
   * phase did not run (a CPU without VPID) or did not complete.
   */
  readonly vpidSeconds: number | null;
  readonly vpidCpuSeconds: number | null;
  readonly vpidInstructions: number | null;
  readonly vpidChecksum: string | null;
  readonly serial: string;
}

interface Mark {
  readonly wall: number;
  readonly cpu: number;
  readonly icount: number;
}

/** The child's side: one run of the vmxbench (or, with `kind = 'svm'`, svmbench) guest on hvkit. */
export async function runHvkitVmexit(elfPath: string, timeoutMs: number, kind: VmexitKind = 'vmx'): Promise<VmexitResult> {
  const name = VMEXIT_GUEST[kind];
  const image = new Uint8Array(fs.readFileSync(elfPath));
  const { createPc } = await import('@hvkit/machine');
  // SVM is AMD's: the cores are AMD_ZEN (createPc's default model is Intel's).
  const cpuModel = kind === 'svm' ? (await import('@hvkit/x86')).AMD_ZEN : undefined;
  const marks = new Map<string, Mark>();
  let line = '';
  let serial = '';
  const pc = createPc({
    memoryMiB: 64,
    virtualization: kind,
    ...(cpuModel ? { cpuModel } : {}),
    devices: [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }],
    onSerial: (b) => {
      serial += String.fromCharCode(b);
      if (b !== 10) {
        line += String.fromCharCode(b);
        return;
      }
      const m = /^# mark (\S+)/.exec(line);
      if (m) {
        const u = process.cpuUsage();
        marks.set(m[1]!, { wall: performance.now(), cpu: (u.user + u.system) / 1e6, icount: pc.cpu.icount });
      }
      line = '';
    },
  });
  pc.bootMultiboot(image);
  const t0 = performance.now();
  let stop = pc.run(20_000_000);
  while (stop.reason === 'budget' && performance.now() - t0 < timeoutMs) stop = pc.run(20_000_000);
  const span = (a: string, b: string, f: (m: Mark) => number): number | null => {
    const x = marks.get(a);
    const y = marks.get(b);
    return x && y ? f(y) - f(x) : null;
  };
  const roundTrips = Number(new RegExp(`${name} round trips (\\d+)`).exec(serial)?.[1] ?? NaN);
  const checksum = new RegExp(`${name} checksum (0x[0-9a-f]+)`).exec(serial)?.[1] ?? null;
  const ext = kind === 'svm' ? 'SVM' : 'VT-x';
  let error: string | undefined;
  if (stop.reason !== 'exit') error = `the guest did not exit through isa-debug-exit: ${stop.reason} after ${stop.instructions} instructions`;
  else if (new RegExp(`^SKIP ${name}`, 'm').test(serial)) error = `the guest found no ${ext} (${/^SKIP .*$/m.exec(serial)![0].trim()}): ${kind.toUpperCase()} is not in this build of @hvkit/machine`;
  else if (!new RegExp(`^PASS ${name}`, 'm').test(serial)) error = `the guest did not pass: ${/^FAIL .*$/m.exec(serial)?.[0]?.trim() ?? 'no PASS line'}`;
  else if (!marks.has('vmexit-end')) error = 'the guest printed no "# mark vmexit-end" line';
  return {
    ...(error !== undefined ? { error } : {}),
    roundTrips: Number.isFinite(roundTrips) ? roundTrips : null,
    vmexitSeconds: span('vmexit-start', 'vmexit-end', (m) => m.wall / 1000),
    vmexitCpuSeconds: span('vmexit-start', 'vmexit-end', (m) => m.cpu),
    nativeSeconds: span('native-start', 'native-end', (m) => m.wall / 1000),
    vmexitInstructions: span('vmexit-start', 'vmexit-end', (m) => m.icount),
    nativeInstructions: span('native-start', 'native-end', (m) => m.icount),
    checksum,
    vpidSeconds: span('vmexit-vpid-start', 'vmexit-vpid-end', (m) => m.wall / 1000),
    vpidCpuSeconds: span('vmexit-vpid-start', 'vmexit-vpid-end', (m) => m.cpu),
    vpidInstructions: span('vmexit-vpid-start', 'vmexit-vpid-end', (m) => m.icount),
    vpidChecksum: new RegExp(`${name} vpid checksum (0x[0-9a-f]+)`).exec(serial)?.[1] ?? null,
    serial,
  };
}

export const vmexitFailed = (error: string): VmexitResult => ({
  error,
  roundTrips: null,
  vmexitSeconds: null,
  vmexitCpuSeconds: null,
  nativeSeconds: null,
  vmexitInstructions: null,
  nativeInstructions: null,
  checksum: null,
  vpidSeconds: null,
  vpidCpuSeconds: null,
  vpidInstructions: null,
  vpidChecksum: null,
  serial: '',
});

/** Microseconds per round trip of a run (wall), and net of the guest loop; null when it failed. */
export function perRoundTrip(r: VmexitResult): { us: number; netUs: number | null; cpuUs: number | null } | null {
  if (r.error || r.vmexitSeconds === null || !r.roundTrips) return null;
  const us = (r.vmexitSeconds / r.roundTrips) * 1e6;
  const netUs = r.nativeSeconds === null ? null : ((r.vmexitSeconds - r.nativeSeconds) / r.roundTrips) * 1e6;
  const cpuUs = r.vmexitCpuSeconds === null ? null : (r.vmexitCpuSeconds / r.roundTrips) * 1e6;
  return { us, netUs, cpuUs };
}

/** Microseconds per round trip of the VPID phase (wall, CPU); null when it failed or did not run. */
export function perRoundTripVpid(r: VmexitResult): { us: number; cpuUs: number | null } | null {
  if (r.error || r.vpidSeconds === null || !r.roundTrips) return null;
  return { us: (r.vpidSeconds / r.roundTrips) * 1e6, cpuUs: r.vpidCpuSeconds === null ? null : (r.vpidCpuSeconds / r.roundTrips) * 1e6 };
}

/** What the peers can do here. */
export interface VmexitPeer {
  readonly name: string;
  /** Microseconds per round trip, when measured. */
  readonly us: number | null;
  readonly note: string;
}

/** What is missing to run vmxbench on Bochs (Bochs, its BIOS, GRUB for BIOS, xorriso); empty when it can run. */
export function bochsVmexitMissing(): string[] {
  return bochsMissing();
}

/**
 * One run of vmxbench on Bochs (`corei7_skylake_x`, booted by GRUB from a rescue CD), timed
 * between the guest's `# mark` lines as Bochs writes them to its serial file (polled every 5 ms):
 * wall time, and Bochs' CPU time from /proc. Bochs counts no instructions for us: those stay null.
 */
export async function runBochsVmexit(elfPath: string, timeoutMs: number, kind: VmexitKind = 'vmx'): Promise<VmexitResult> {
  const name = VMEXIT_GUEST[kind];
  const cpu = kind === 'svm' ? BOCHS_SVM_CPU : DEFAULT_BOCHS_CPU;
  const marks = new Map<string, { wall: number; cpu: number | null }>();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvkit-bench-bochs-'));
  try {
    const run = await runOnBochs(elfPath, {
      name,
      cpu,
      workDir,
      timeoutMs,
      onLine: (line, mark) => {
        const m = /^# mark (\S+)/.exec(line);
        if (m) marks.set(m[1]!, { wall: mark.wallMs, cpu: mark.cpuSeconds });
      },
    });
    const serial = run.serial;
    const span = (a: string, b: string, f: (m: { wall: number; cpu: number | null }) => number | null): number | null => {
      const x = marks.get(a);
      const y = marks.get(b);
      if (!x || !y) return null;
      const fx = f(x);
      const fy = f(y);
      return fx === null || fy === null ? null : fy - fx;
    };
    const roundTrips = Number(new RegExp(`${name} round trips (\\d+)`).exec(serial)?.[1] ?? NaN);
    let error: string | undefined;
    if (run.timedOut) error = `Bochs did not finish within ${timeoutMs / 1000} s`;
    else if (new RegExp(`^SKIP ${name}`, 'm').test(serial)) error = `the guest found no ${kind === 'svm' ? 'SVM' : 'VT-x'} on Bochs ${cpu}`;
    else if (!new RegExp(`^PASS ${name}`, 'm').test(serial)) error = `the guest did not pass on Bochs: ${/^FAIL .*$/m.exec(serial)?.[0]?.trim() ?? 'no PASS line'}`;
    else if (!marks.has('vmexit-end')) error = 'the guest printed no "# mark vmexit-end" line';
    return {
      ...(error !== undefined ? { error } : {}),
      roundTrips: Number.isFinite(roundTrips) ? roundTrips : null,
      vmexitSeconds: span('vmexit-start', 'vmexit-end', (m) => m.wall / 1000),
      vmexitCpuSeconds: span('vmexit-start', 'vmexit-end', (m) => m.cpu),
      nativeSeconds: span('native-start', 'native-end', (m) => m.wall / 1000),
      vmexitInstructions: null,
      nativeInstructions: null,
      checksum: new RegExp(`${name} checksum (0x[0-9a-f]+)`).exec(serial)?.[1] ?? null,
      vpidSeconds: span('vmexit-vpid-start', 'vmexit-vpid-end', (m) => m.wall / 1000),
      vpidCpuSeconds: span('vmexit-vpid-start', 'vmexit-vpid-end', (m) => m.cpu),
      vpidInstructions: null,
      vpidChecksum: new RegExp(`${name} vpid checksum (0x[0-9a-f]+)`).exec(serial)?.[1] ?? null,
      serial,
    };
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Bochs and QEMU: Bochs' median µs per round trip from its runs (null when it was not run or no
 * run succeeded, with the reason), QEMU n/a.
 */
export function vmexitPeers(bochs: { missing: readonly string[]; runs: readonly VmexitResult[] }): VmexitPeer[] {
  let peer: VmexitPeer;
  if (bochs.missing.length) {
    peer = { name: 'Bochs', us: null, note: `not run, missing: ${bochs.missing.join('; ')}` };
  } else {
    // Bochs' CPU time (user + system, from /proc) where known: on a shared machine its wall time
    // also counts waiting for a core, which would make the target looser than it is.
    const us = bochs.runs
      .map(perRoundTrip)
      .filter((p): p is NonNullable<typeof p> => p !== null)
      .map((p) => p.cpuUs ?? p.us)
      .sort((a, b) => a - b);
    const median = us.length ? us[(us.length - 1) >> 1]! + (us.length % 2 ? 0 : (us[us.length >> 1]! - us[(us.length - 1) >> 1]!) / 2) : null;
    peer = {
      name: 'Bochs',
      us: median,
      note:
        median === null
          ? `no run succeeded (${bochs.runs.map((r) => r.error ?? 'no timing').join('; ') || 'not run'})`
          : `Bochs 2.7 ${DEFAULT_BOCHS_CPU}, vmxbench booted by GRUB from a rescue CD, timed between the same "# mark" lines as they reach its serial file; its figure (median of ${us.length}/${bochs.runs.length} runs) is Bochs' CPU time, which waiting for a core on a busy machine does not inflate`,
    };
  }
  return [peer, { name: 'QEMU TCG', us: null, note: 'n/a: TCG does not emulate VMX' }];
}

/** The target: a quarter of the faster measured peer, or of the Bochs 2.7 reference figure. */
export function vmexitTarget(peers: readonly VmexitPeer[]): { us: number; why: string } {
  const measured = peers.filter((p) => p.us !== null).sort((a, b) => a.us! - b.us!);
  if (measured.length > 0) {
    const best = measured[0]!;
    return { us: best.us! / 4, why: `a quarter of ${best.name}'s ${best.us!.toFixed(2)} µs measured here` };
  }
  return { us: BOCHS_REFERENCE_US / 4, why: `a quarter of Bochs 2.7's ${BOCHS_REFERENCE_US} µs, the issue's reference figure; no peer was measured here` };
}

// ---- SVM: QEMU TCG as a peer ------------------------------------------------------------------

/** User + system seconds of a process so far (/proc/<pid>/stat fields 14 and 15), or null. */
function procCpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** What is missing to run svmbench on QEMU (its binary); empty when it can run. */
export function qemuVmexitMissing(): string[] {
  return qemuAvailable() ? [] : [`${QEMU} (the QEMU x86-64 system emulator)`];
}

/**
 * One run of svmbench on QEMU TCG (`-cpu max`, which emulates SVM), the kernel booted by QEMU's
 * own Multiboot loader as in qemu-conformance.mjs; the `# mark` lines are timestamped as they
 * arrive on QEMU's stdout (COM1), with QEMU's CPU time from /proc.
 */
export function runQemuVmexit(elfPath: string, timeoutMs: number): Promise<VmexitResult> {
  const name = VMEXIT_GUEST.svm;
  const args = ['-display', 'none', '-serial', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4', '-kernel', elfPath, '-m', '64', '-no-reboot', '-cpu', 'max'];
  return new Promise((resolve) => {
    const marks = new Map<string, { wall: number; cpu: number | null }>();
    const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let serial = '';
    let line = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      const text = b.toString('latin1').replace(/\r/g, '');
      serial += text;
      for (const ch of text) {
        if (ch !== '\n') {
          line += ch;
          continue;
        }
        const m = /^# mark (\S+)/.exec(line);
        if (m) marks.set(m[1]!, { wall: performance.now(), cpu: child.pid ? procCpuSeconds(child.pid) : null });
        line = '';
      }
    });
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const done = (status: number | null, spawnError?: string): void => {
      clearTimeout(timer);
      const span = (a: string, b: string, f: (m: { wall: number; cpu: number | null }) => number | null): number | null => {
        const x = marks.get(a);
        const y = marks.get(b);
        if (!x || !y) return null;
        const fx = f(x);
        const fy = f(y);
        return fx === null || fy === null ? null : fy - fx;
      };
      const roundTrips = Number(new RegExp(`${name} round trips (\\d+)`).exec(serial)?.[1] ?? NaN);
      let error: string | undefined;
      if (spawnError !== undefined) error = `QEMU did not start: ${spawnError}`;
      else if (timedOut) error = `QEMU did not finish within ${timeoutMs / 1000} s`;
      else if (new RegExp(`^SKIP ${name}`, 'm').test(serial)) error = 'the guest found no SVM on QEMU -cpu max';
      else if (!new RegExp(`^PASS ${name}`, 'm').test(serial) || status !== 1) error = `the guest did not pass on QEMU (exit status ${String(status)}): ${/^FAIL .*$/m.exec(serial)?.[0]?.trim() ?? (stderr.trim() || 'no PASS line')}`;
      else if (!marks.has('vmexit-end')) error = 'the guest printed no "# mark vmexit-end" line';
      resolve({
        ...(error !== undefined ? { error } : {}),
        roundTrips: Number.isFinite(roundTrips) ? roundTrips : null,
        vmexitSeconds: span('vmexit-start', 'vmexit-end', (m) => m.wall / 1000),
        vmexitCpuSeconds: span('vmexit-start', 'vmexit-end', (m) => m.cpu),
        nativeSeconds: span('native-start', 'native-end', (m) => m.wall / 1000),
        vmexitInstructions: null,
        nativeInstructions: null,
        checksum: new RegExp(`${name} checksum (0x[0-9a-f]+)`).exec(serial)?.[1] ?? null,
        vpidSeconds: null,
        vpidCpuSeconds: null,
        vpidInstructions: null,
        vpidChecksum: null,
        serial,
      });
    };
    child.on('error', (e) => done(null, e.message));
    child.on('exit', (code) => done(code));
  });
}

/** The median of the per-round-trip figures of the runs that succeeded (CPU time where known), or null. */
function medianUs(runs: readonly VmexitResult[]): { us: number | null; ok: number } {
  const us = runs
    .map(perRoundTrip)
    .filter((p): p is NonNullable<typeof p> => p !== null)
    .map((p) => p.cpuUs ?? p.us)
    .sort((a, b) => a - b);
  if (!us.length) return { us: null, ok: 0 };
  const mid = (us.length - 1) >> 1;
  return { us: us.length % 2 ? us[mid]! : (us[mid]! + us[mid + 1]!) / 2, ok: us.length };
}

/**
 * The SVM peers: QEMU TCG (`-cpu max`) and Bochs 2.7 (`ryzen`), each the median µs per round
 * trip of its runs (CPU time: waiting for a core on a busy machine does not inflate it), or
 * null with the reason.
 */
export function svmVmexitPeers(peers: {
  qemu: { missing: readonly string[]; runs: readonly VmexitResult[] };
  bochs: { missing: readonly string[]; runs: readonly VmexitResult[] };
}): VmexitPeer[] {
  const one = (name: string, p: { missing: readonly string[]; runs: readonly VmexitResult[] }, what: string): VmexitPeer => {
    if (p.missing.length) return { name, us: null, note: `not run, missing: ${p.missing.join('; ')}` };
    const m = medianUs(p.runs);
    return {
      name,
      us: m.us,
      note:
        m.us === null
          ? `no run succeeded (${p.runs.map((r) => r.error ?? 'no timing').join('; ') || 'not run'})`
          : `${what}, timed between the same "# mark" lines; its figure (median of ${m.ok}/${p.runs.length} runs) is its CPU time`,
    };
  };
  return [
    one('QEMU TCG', peers.qemu, `QEMU TCG -cpu max (SVM emulated), svmbench booted by QEMU's Multiboot loader`),
    one('Bochs', peers.bochs, `Bochs 2.7 ${BOCHS_SVM_CPU}, svmbench booted by GRUB from a rescue CD`),
  ];
}
