/**
 * The Linux section of `pnpm bench`: Debian's cloud kernel with the busybox initramfs of
 * `@hvkit/guests` (`pnpm guests:linux`), booted to the marker line its `/init` prints before the shell
 * (`hvkit-linux: ready release=R cpus=N`), on hvkit (`createPc` + `bootLinux`, in a child
 * process of bench.ts) and on QEMU TCG (`-kernel -initrd`, through SeaBIOS).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { LINUX_MARKER } from '@hvkit/guests';

export type LinuxEngine = 'hvkit' | 'qemu';

export interface LinuxResult {
  readonly engine: LinuxEngine;
  /** vCPUs the machine was given (`-smp`). */
  readonly cpus: number;
  /** Set when the guest did not reach the marker line. */
  readonly error?: string;
  /** Host seconds to the marker: hvkit from just before `bootLinux`, QEMU from its spawn (SeaBIOS included). */
  readonly wallSeconds: number;
  /** CPU time (user + system) of the emulating process over the same interval; null for QEMU. */
  readonly cpuSeconds: number | null;
  /** Instructions executed by all cores up to the marker (`pc.stats()`: instructions less the idle ticks skipped while halted); null for QEMU. */
  readonly instructions: number | null;
  /** Guest seconds at the marker (`pc.stats().guestNs`); null for QEMU. */
  readonly guestSeconds: number | null;
  /** The marker line as printed, or null. */
  readonly marker: string | null;
  /** The end of the console output, for a failed run's report. */
  readonly tail: string;
}

/** RAM of the Linux guest, as in the boot tests (`-m 256`). */
export const LINUX_MEMORY_MIB = 256;
/** The kernel command line. */
export const LINUX_CMDLINE = 'console=ttyS0';
/** Guest instructions per `pc.run` call between two looks at the console. */
const SLICE = 3_000_000;

const MARKER_LINE = /hvkit-linux: ready release=(\S+) cpus=(\d+)/;

/** The complete marker line in `console` (up to its line end), or null. */
export function markerLine(console: string, from = 0): string | null {
  const at = console.indexOf(LINUX_MARKER, from);
  if (at < 0) return null;
  const end = console.slice(at).search(/[\r\n]/);
  return end < 0 ? null : console.slice(at, at + end);
}

/** The `cpus=N` of a marker line, or null. */
export function markerCpus(line: string | null): number | null {
  const m = line === null ? null : MARKER_LINE.exec(line);
  return m ? Number(m[2]) : null;
}

const tailOf = (text: string) => text.slice(-1500).replace(/\r/g, '');
const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

/**
 * hvkit: `createPc({ memoryMiB: 256, cpus })`, `bootLinux(kernel, { cmdline, initrd })`, then
 * `run` in slices until the marker line is on COM1. The line's newline pauses the machine from
 * the serial callback, so the figures are taken at that byte, not at the end of a slice. Runs
 * synchronously in the calling (child) process; gives up after `timeoutMs` of wall time.
 */
export async function runHvkitLinux(kernelPath: string, initrdPath: string, cpus: number, timeoutMs: number): Promise<LinuxResult> {
  const kernel = new Uint8Array(fs.readFileSync(kernelPath));
  const initrd = new Uint8Array(fs.readFileSync(initrdPath));
  const { createPc } = await import('@hvkit/machine');
  let seen: { t: number; c: NodeJS.CpuUsage; instructions: number; guestNs: number; line: string } | null = null;
  let line = '';
  let c0 = process.cpuUsage();
  const pc = createPc({
    memoryMiB: LINUX_MEMORY_MIB,
    cpus,
    onSerial: (b) => {
      if (b !== 0x0a) {
        if (line.length < 4096) line += String.fromCharCode(b);
        return;
      }
      if (seen === null && line.includes(LINUX_MARKER)) {
        const t = performance.now();
        const c = process.cpuUsage(c0);
        const s = pc.stats();
        seen = { t, c, instructions: s.instructions - s.idle, guestNs: s.guestNs, line: line.slice(line.indexOf(LINUX_MARKER)).replace(/\r$/, '') };
        pc.pause();
      }
      line = '';
    },
  });
  c0 = process.cpuUsage();
  const t0 = performance.now();
  pc.bootLinux(kernel, { cmdline: LINUX_CMDLINE, initrd });
  let error: string | undefined;
  while (seen === null) {
    const stop = pc.run(SLICE);
    if (seen !== null) break;
    if (stop.reason !== 'budget' && stop.reason !== 'paused') {
      error = `the guest stopped (${stop.reason}) before the marker line`;
      break;
    }
    if (performance.now() - t0 > timeoutMs) {
      error = `no marker line after ${(timeoutMs / 1000).toFixed(0)} s`;
      break;
    }
  }
  const at = (seen as typeof seen) ?? { t: performance.now(), c: process.cpuUsage(c0), ...pc.stats(), line: null };
  return {
    engine: 'hvkit',
    cpus,
    ...(error !== undefined ? { error } : {}),
    wallSeconds: (at.t - t0) / 1000,
    cpuSeconds: cpuSeconds(at.c),
    instructions: at.instructions,
    guestSeconds: at.guestNs / 1e9,
    marker: at.line,
    tail: tailOf(pc.serialOutput),
  };
}

/**
 * QEMU TCG: `qemu-system-x86_64 -nographic -no-reboot -m 256 -smp N -accel tcg -kernel K
 * -initrd I -append console=ttyS0`, timed from the spawn to the marker on its stdout (SeaBIOS
 * and QEMU's own start-up included), then killed.
 */
export function runQemuLinux(kernelPath: string, initrdPath: string, cpus: number, timeoutMs: number): Promise<LinuxResult> {
  const args = ['-nographic', '-no-reboot', '-m', String(LINUX_MEMORY_MIB), '-smp', String(cpus), '-accel', 'tcg'];
  args.push('-kernel', kernelPath, '-initrd', initrdPath, '-append', LINUX_CMDLINE);
  return new Promise((resolve) => {
    const t0 = performance.now();
    let out = '';
    let seen: number | null = null;
    let line: string | null = null;
    let error: string | undefined;
    const p = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      error = `no marker line after ${(timeoutMs / 1000).toFixed(0)} s`;
      p.kill('SIGKILL');
    }, timeoutMs);
    const look = () => {
      if (seen === null && out.includes(LINUX_MARKER)) seen = performance.now();
      if (seen !== null && line === null) {
        line = markerLine(out);
        if (line !== null) p.kill('SIGKILL');
      }
    };
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      look();
    });
    p.stderr.on('data', (d: Buffer) => (out += d.toString('latin1')));
    p.on('error', (e) => (error = e.message));
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (seen === null && error === undefined) error = `QEMU ended (${signal ?? `exit status ${code}`}) before the marker line`;
      resolve({
        engine: 'qemu',
        cpus,
        ...(seen === null && error !== undefined ? { error } : {}),
        wallSeconds: ((seen ?? performance.now()) - t0) / 1000,
        cpuSeconds: null,
        instructions: null,
        guestSeconds: null,
        marker: line,
        tail: tailOf(out),
      });
    });
  });
}

/** The problems with the Linux runs: no marker, or a marker whose `cpus=N` is not the machine's. */
export function checkLinuxRuns(results: readonly LinuxResult[], label: (e: LinuxEngine) => string): string[] {
  const problems: string[] = [];
  const runNumber = new Map<string, number>();
  for (const r of results) {
    const key = `${r.engine}/${r.cpus}`;
    const n = (runNumber.get(key) ?? 0) + 1;
    runNumber.set(key, n);
    const run = `Linux boot, ${label(r.engine)} with ${r.cpus} vCPU(s), run ${n}`;
    if (r.error) problems.push(`${run} failed: ${r.error}. Console (end):\n${r.tail.trimEnd()}`);
    else if (r.marker === null) problems.push(`${run}: the marker line was not completed. Console (end):\n${r.tail.trimEnd()}`);
    else if (markerCpus(r.marker) !== r.cpus) problems.push(`${run}: the guest saw the wrong number of CPUs: "${r.marker}"`);
  }
  return problems;
}
