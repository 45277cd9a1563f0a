/**
 * Drives the Linux guest of `pnpm guests:linux` through `hvkit-system-x86_64` in this process,
 * as a person at the console would: it waits for text on COM1, then types the next line.
 */
import { LINUX_MARKER, LINUX_PROMPT, prepareLinux, SAMPLE_PATH, sampleMd5, type PreparedLinux } from '@hvkit/guests';
import { expect } from 'vitest';
import { systemMain } from '../src/index.js';
import { Keys } from './helpers.js';

/** The guest, or why it cannot be prepared here (the tests then skip, saying so). */
export function linuxGuest(): { guest: PreparedLinux; why: null } | { guest: null; why: string } {
  try {
    return { guest: prepareLinux(), why: null };
  } catch (error) {
    return { guest: null, why: (error as Error).message };
  }
}

/** One step: wait until `waitFor` appears on the console (after the previous step's match), then type `send`. */
export interface Step {
  readonly waitFor: string;
  readonly send: string;
}

export interface Session {
  /** Everything COM1 printed (the kernel log and the shell). */
  readonly console: string;
  /** What the command wrote on stderr. */
  readonly stderr: string;
  readonly status: number;
  /** Steps whose text never appeared. */
  readonly pending: number;
  /** Host seconds from the start to the marker line. */
  readonly markerSeconds: number | null;
  /** The deadline passed and the session was ended with Ctrl-A x. */
  readonly timedOut: boolean;
}

/**
 * Boots `guest` with `-smp cpus -append append` (and `-cpu cpu`, and `initrd` instead of the
 * guest's plain initramfs, when given), runs `steps`, and returns when the command ends
 * (power-off, Ctrl-A x in a step, or Ctrl-A x at the deadline).
 */
export async function runLinux(
  guest: PreparedLinux,
  options: { cpus: number; append: string; steps: readonly Step[]; deadlineSeconds: number; marker?: string; cpu?: string; initrd?: string },
): Promise<Session> {
  let text = '';
  let stderr = '';
  let cursor = 0;
  let next = 0;
  let markerSeconds: number | null = null;
  const t0 = performance.now();
  const input = new Keys();
  const decoder = new TextDecoder();
  const advance = (): void => {
    while (next < options.steps.length) {
      const step = options.steps[next]!;
      const at = text.indexOf(step.waitFor, cursor);
      if (at < 0) return;
      cursor = at + step.waitFor.length;
      next++;
      setImmediate(() => input.type(step.send));
    }
  };
  const out = {
    write(chunk: string | Uint8Array) {
      text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      if (markerSeconds === null && options.marker !== undefined && text.includes(options.marker)) markerSeconds = (performance.now() - t0) / 1000;
      advance();
      return true;
    },
  };
  const err = {
    write(chunk: string | Uint8Array) {
      stderr += typeof chunk === 'string' ? chunk : decoder.decode(chunk);
      return true;
    },
  };
  const argv = [
    '-nographic',
    '-no-reboot',
    '-m',
    '256',
    '-smp',
    String(options.cpus),
    '-kernel',
    guest.kernel,
    '-initrd',
    options.initrd ?? guest.initrd,
    '-append',
    options.append,
    '-accel',
    'tcg',
    ...(options.cpu === undefined ? [] : ['-cpu', options.cpu]),
  ];
  // A guest that hangs is stopped the way a person would: Ctrl-A x.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    input.type('\x01x');
  }, options.deadlineSeconds * 1000);
  const status = await systemMain(argv, { out, err, in: input }, { signals: false });
  clearTimeout(timer);
  return { console: text, stderr, status, pending: options.steps.length - next, markerSeconds, timedOut };
}

/** The shell session every boot test runs: uname, /proc/cpuinfo, md5sum, then power off. */
export function shellSteps(marker: string, sample: string, end: readonly Step[]): Step[] {
  return [
    { waitFor: marker, send: '' },
    { waitFor: LINUX_PROMPT, send: 'uname -srm\n' },
    { waitFor: LINUX_PROMPT, send: 'cat /proc/cpuinfo\n' },
    { waitFor: LINUX_PROMPT, send: `md5sum ${sample}\n` },
    { waitFor: LINUX_PROMPT, send: 'echo cpus-online=$(cat /sys/devices/system/cpu/online)\n' },
    { waitFor: LINUX_PROMPT, send: 'poweroff -f\n' },
    ...end,
  ];
}

/** Kernel log lines that mean something went wrong, whatever the hardware. */
export const BAD_LOG = [/Oops/, /Kernel panic/, /unchecked MSR/, /cut here/, /Call Trace/, /BUG:/, /segfault/, /general protection/, /Firmware Bug/];

/**
 * Boots the guest on `cpus` vCPUs with `append`, runs the shell session and checks all of it:
 * the marker, uname, /proc/cpuinfo (one entry per online CPU), md5sum of the sample file
 * against Node's MD5, the online CPU list, the power-off, and a kernel log with none of
 * {@link BAD_LOG}. With ACPI, `poweroff -f` powers the machine off (S5, status 0); without, the
 * kernel halts every CPU and hvkit stops, saying so.
 */
export async function bootAndCheck(guest: PreparedLinux, cpus: number, online: number, append: string): Promise<Session> {
  const acpi = !/\bacpi=off\b/.test(append);
  const s = await runLinux(guest, { cpus, append, steps: shellSteps(LINUX_MARKER, SAMPLE_PATH, []), deadlineSeconds: 600, marker: LINUX_MARKER });
  process.stderr.write(`[linux -smp ${cpus} ${append}] marker after ${s.markerSeconds?.toFixed(1)} s host time\n`);
  const tail = s.console.slice(-4000);
  expect(s.timedOut, tail).toBe(false);
  expect(s.pending, tail).toBe(0);
  expect(s.console).toContain(`${LINUX_MARKER} release=${guest.release} cpus=${online}`);
  expect(s.console).toContain(`Linux ${guest.release} x86_64`);
  const processors = s.console.match(/^processor\s*: \d+/gm);
  expect(processors).toEqual(Array.from({ length: online }, (_, i) => `processor\t: ${i}`));
  expect(s.console).toMatch(/model name\s*: hvkit virtual Intel-compatible CPU/);
  expect(s.console).toMatch(/flags\s*:.* sse4_2 .*xsave/);
  expect(s.console).toContain(`${sampleMd5()}  ${SAMPLE_PATH}`);
  expect(s.console).toContain(`cpus-online=${online === 1 ? '0' : `0-${online - 1}`}\r`);
  if (acpi) {
    expect(s.console).toContain('ACPI: PM: Preparing to enter system sleep state S5');
    expect(s.console).toContain('reboot: Power down');
    expect(s.stderr).toBe('');
  } else {
    expect(s.console).toContain('reboot: System halted');
    expect(s.stderr).toContain('every vCPU is halted with no interrupt or timer to wake it');
  }
  expect(s.status).toBe(0);
  for (const bad of BAD_LOG) expect(s.console, `the kernel log matches ${bad}`).not.toMatch(bad);
  return s;
}
