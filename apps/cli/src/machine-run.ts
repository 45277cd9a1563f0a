/**
 * Running a PC from the command line: what `hvkit-system-x86_64` and `hvkit run` share.
 *
 * {@link runMachine} reads the kernel (and initrd, modules, BIOS), works out what kind of
 * kernel it is, builds the PC with `createPc`, boots it and runs it in slices until the guest
 * ends the run, writing guest output as it comes. The exit status follows QEMU:
 *
 * | how the run ends | status |
 * | --- | --- |
 * | the guest writes `value` to isa-debug-exit | `(value << 1) | 1` (its low 8 bits, as a process status) |
 * | ACPI S5 or the Bochs/QEMU shutdown port (power-off) | 0 |
 * | triple fault or reset request (0xCF9, 8042 command 0xFE, port 0x92) | 0 with `noReboot`; else the PC powers on again and boots the kernel again |
 * | every vCPU halted with nothing armed to wake it | 0, with a note (QEMU would wait forever) |
 * | SIGINT / SIGTERM | 130 / 143 |
 * | `maxInstructions` reached | 1, with a note |
 * | a file, kernel image or machine option that cannot be used | 1, with one line on stderr |
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import {
  createPc,
  KernelImageError,
  MULTIBOOT_HEADER_MAGIC,
  MULTIBOOT_SEARCH,
  PcConfigurationError,
  type MultibootModule,
  type Pc,
  type PcDeviceSpec,
  type PcStats,
  type PcStop,
} from '@hvkit/machine';
import { type CpuModel } from '@hvkit/x86';
import { type CharBackend } from './option-values.js';
import { ESCAPE_HELP, SerialInput } from './serial-input.js';
import { type Output, type Streams } from './streams.js';

/** Everything a run needs, resolved from either front end's options. */
export interface MachineConfig {
  memoryMiB: number;
  cpus: number;
  cpuModel: CpuModel;
  /** Intel VT-x (`-cpu max,+vmx`) or AMD SVM (`-cpu max,+svm`) for every vCPU. */
  virtualization?: 'vmx' | 'svm';
  /** The kernel file: Multiboot 1, Linux bzImage or ELF (detected from its contents). */
  kernel?: string;
  /**
   * Linux: the initrd file. Multiboot: QEMU's module list, `file[ args],file[ args]...` (a
   * literal comma is written `,,`); each module's command line is its whole entry.
   */
  initrd?: string;
  /** The kernel command line (`-append`). */
  append: string;
  /** COM1's backend, or `null` for no COM1. */
  serial: CharBackend | null;
  /** A debug console (isa-debugcon) and its backend. */
  debugcon?: { readonly iobase: number; readonly backend: CharBackend };
  /** isa-debug-exit and pc-testdev. */
  devices: Exclude<PcDeviceSpec, { type: 'debugcon' }>[];
  /** A BIOS image file. */
  bios?: string;
  noReboot: boolean;
  /** Stop (status 1) when this many instructions have run, over all vCPUs and reboots. */
  maxInstructions?: number;
  /** Print `pc.stats()` on stderr at the end. */
  stats?: boolean;
  /** Progress line on stderr: always, never, or `'auto'` (stderr is a terminal and the run lasts over 2 s). */
  progress?: boolean | 'auto';
  /** Say on stderr when the guest reboots. */
  rebootNotes?: boolean;
}

/** How the front end names things in its messages. */
export interface RunEnvironment {
  /** Message prefix: `hvkit-system-x86_64` or `hvkit run`. */
  program: string;
  io: Streams;
  /** How files are named in messages: `-kernel` (QEMU) or `''` (a positional argument). */
  labels: { kernel: string; initrd: string; bios: string };
  /** Handle SIGINT/SIGTERM while running (true by default). */
  signals?: boolean;
  /** Largest slice of instructions between two returns to the event loop (20M by default). */
  maxSlice?: number;
}

/** What {@link detectKernelFormat} finds. */
export type KernelFormat = 'multiboot' | 'linux' | 'elf' | 'unknown';

/**
 * The kind of kernel `image` is, in QEMU's order of preference:
 *
 * - `multiboot`: a Multiboot 1 header, 32-bit aligned within the first 8192 bytes, whose magic
 *   0x1BADB002, flags and checksum sum to zero (Multiboot 0.6.96 §3.1.1, §3.1.2);
 * - `linux`: the "HdrS" signature at offset 0x202 (Linux boot protocol, "The real-mode kernel
 *   header", field `header`);
 * - `elf`: the ELF magic 0x7F 'E' 'L' 'F' (System V ABI, "ELF Identification"). QEMU boots an
 *   ELF only with a PVH note; hvkit starts any ELF executable at its entry point.
 */
export function detectKernelFormat(image: Uint8Array): KernelFormat {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const limit = Math.min(image.length, MULTIBOOT_SEARCH) - 12;
  for (let off = 0; off <= limit; off += 4) {
    if (view.getUint32(off, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    const sum = (MULTIBOOT_HEADER_MAGIC + view.getUint32(off + 4, true) + view.getUint32(off + 8, true)) % 0x1_0000_0000;
    if (sum === 0) return 'multiboot';
  }
  if (image.length >= 0x206 && view.getUint32(0x202, true) === 0x53726448) return 'linux';
  if (image.length >= 4 && view.getUint32(0, false) === 0x7f454c46) return 'elf';
  return 'unknown';
}

/**
 * Splits QEMU's Multiboot module list: entries separated by `,` (`,,` is a literal comma), each
 * a file name optionally followed by a space and arguments.
 */
export function splitModuleList(list: string): { file: string; cmdline: string }[] {
  const entries: string[] = [];
  let current = '';
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    if (c === ',' && list[i + 1] === ',') {
      current += ',';
      i++;
    } else if (c === ',') {
      entries.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  entries.push(current);
  return entries.map((entry) => {
    const space = entry.indexOf(' ');
    return { file: space < 0 ? entry : entry.slice(0, space), cmdline: entry };
  });
}

/** A file that cannot be read, or an input that cannot be used: one line for stderr. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** `error` (from `node:fs`) in a few words. */
function describeFsError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'is a directory, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'no such file (a component of the path is not a directory)';
    case 'ERR_FS_FILE_TOO_LARGE':
      return 'the file is too large';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

function named(label: string, path: string): string {
  return label ? `${label} ${path}` : path;
}

/** Reads a whole input file; throws {@link InputError} saying why it cannot. */
export function readInputFile(label: string, path: string): Uint8Array {
  if (path === '') throw new InputError(`${label || 'file'}: empty file name`);
  try {
    return new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new InputError(`${named(label, path)}: ${describeFsError(error)}`);
  }
}

/** Collects guest bytes and writes them a line (or 4 KiB) at a time, and at every slice end. */
class ByteSink {
  private readonly buffer = new Uint8Array(4096);
  private length = 0;

  constructor(private readonly sink: (bytes: Uint8Array) => void) {}

  push(byte: number): void {
    this.buffer[this.length++] = byte;
    if (byte === 0x0a || this.length === this.buffer.length) this.flush();
  }

  flush(): void {
    if (this.length === 0) return;
    const chunk = this.buffer.slice(0, this.length);
    this.length = 0;
    this.sink(chunk);
  }
}

/** The progress line on stderr. */
class Progress {
  private visible = false;
  private lastDraw = 0;
  private readonly started = performance.now();
  private readonly enabled: boolean;
  private readonly tty: boolean;

  constructor(
    private readonly err: Output,
    private readonly mode: boolean | 'auto',
  ) {
    this.tty = err.isTTY === true;
    this.enabled = mode === true || (mode === 'auto' && this.tty);
  }

  tick(stats: PcStats, force = false): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (this.mode === 'auto' && now - this.started < 2000) return;
    if (!force && now - this.lastDraw < (this.tty ? 200 : 1000)) return;
    this.lastDraw = now;
    const line = formatProgress(stats);
    if (this.tty) {
      this.err.write(`\r${line}\x1b[K`);
      this.visible = true;
    } else {
      this.err.write(`${line}\n`);
    }
  }

  /** Takes the line off the terminal before other output goes there. */
  clear(): void {
    if (!this.visible) return;
    this.err.write('\r\x1b[K');
    this.visible = false;
  }
}

/** `[hvkit] 1234M instr  45.2 MIPS  guest 1.23 s` */
export function formatProgress(stats: PcStats): string {
  return `[hvkit] ${Math.floor(stats.instructions / 1e6)}M instr  ${stats.mips.toFixed(1)} MIPS  guest ${(stats.guestNs / 1e9).toFixed(2)} s`;
}

/** The `--stats` report, one `[hvkit] name value` line each. */
export function formatStats(stats: PcStats, memoryMiB: number): string {
  const rows: [string, string][] = [
    ['instructions', String(stats.instructions)],
    ['idle', `${stats.idle} of them skipped while every core was halted`],
    ['guest time', `${(stats.guestNs / 1e9).toFixed(6)} s`],
    ['host time', `${(stats.hostMs / 1000).toFixed(3)} s`],
    ['speed', `${stats.mips.toFixed(2)} MIPS (executed instructions per host second)`],
    ['exits', `${stats.exits} (port I/O and MMIO)`],
    ['TLB fills', String(stats.tlbFills)],
    ['guest RAM', `${(stats.ramAllocated / (1024 * 1024)).toFixed(1)} MiB allocated of ${memoryMiB} MiB`],
  ];
  return rows.map(([k, v]) => `[hvkit] ${k.padEnd(13)} ${v}\n`).join('');
}

/** The kernel and what goes with it, read and checked, ready to boot (again, after a reset). */
interface Boot {
  readonly start: (pc: Pc) => void;
}

function prepareBoot(config: MachineConfig, env: RunEnvironment, bios: boolean): Boot {
  const { labels } = env;
  if (config.kernel === undefined) {
    if (!bios) {
      throw new InputError(
        `no kernel given: hvkit boots a Multiboot, Linux bzImage or ELF kernel directly (${labels.kernel ? `${labels.kernel} FILE` : 'KERNEL'}), or firmware with ${labels.bios} FILE`,
      );
    }
    if (config.initrd !== undefined) throw new InputError(`${labels.initrd} needs a kernel`);
    if (config.append !== '') throw new InputError('a kernel command line needs a kernel');
    return { start: () => {} }; // the vCPUs start at the reset vector, in the BIOS
  }
  const kernelPath = config.kernel;
  const image = readInputFile(labels.kernel, kernelPath);
  const format = detectKernelFormat(image);
  switch (format) {
    case 'multiboot': {
      const modules: MultibootModule[] =
        config.initrd === undefined ? [] : splitModuleList(config.initrd).map((m) => ({ data: readInputFile(labels.initrd, m.file), cmdline: m.cmdline }));
      // QEMU hands a Multiboot kernel "FILE ARGS" as its command line (hw/i386/multiboot.c).
      const cmdline = `${kernelPath} ${config.append}`;
      return { start: (pc) => void pc.bootMultiboot(image, { cmdline, modules }) };
    }
    case 'linux': {
      const initrd = config.initrd === undefined ? undefined : readInputFile(labels.initrd, config.initrd);
      return { start: (pc) => void pc.bootLinux(image, { cmdline: config.append, ...(initrd ? { initrd } : {}) }) };
    }
    case 'elf':
      if (config.initrd !== undefined) throw new InputError(`${named(labels.kernel, kernelPath)}: an ELF kernel without a Multiboot header takes no initrd or modules`);
      if (config.append !== '') throw new InputError(`${named(labels.kernel, kernelPath)}: an ELF kernel without a Multiboot header gets no command line`);
      return { start: (pc) => void pc.bootElf(image) };
    default:
      throw new InputError(
        `${named(labels.kernel, kernelPath)}: not a kernel hvkit can boot: no Multiboot header in the first 8 KiB, no Linux "HdrS" signature at offset 0x202, no ELF header`,
      );
  }
}

/** Opens a backend: a function taking byte chunks, and a close. */
function openBackend(backend: CharBackend, io: Streams, progress: Progress, what: string): { write: (bytes: Uint8Array) => void; close: () => void } {
  switch (backend.kind) {
    case 'stdio':
      return {
        write: (bytes) => {
          progress.clear();
          io.out.write(bytes);
        },
        close: () => {},
      };
    case 'null':
      return { write: () => {}, close: () => {} };
    case 'file': {
      let fd: number;
      try {
        fd = openSync(backend.path, 'w');
      } catch (error) {
        throw new InputError(`${what} file:${backend.path}: ${describeFsError(error)}`);
      }
      return {
        write: (bytes) => {
          writeSync(fd, bytes);
        },
        close: () => closeSync(fd),
      };
    }
  }
}

const SIGNAL_STATUS = { SIGINT: 130, SIGTERM: 143 } as const;
const SIGNAL_NUMBER = { SIGINT: 2, SIGTERM: 15 } as const;

/**
 * Builds the PC from `config`, boots it and runs it to the end; returns the exit status. Every
 * problem with the inputs is one line on stderr and status 1, never an exception.
 */
export async function runMachine(config: MachineConfig, env: RunEnvironment): Promise<number> {
  const { io, program } = env;
  const fail = (message: string): number => {
    io.err.write(`${program}: ${message}\n`);
    return 1;
  };
  const progress = new Progress(io.err, config.progress ?? false);
  const closers: (() => void)[] = [];
  try {
    let pc: Pc;
    let boot: Boot;
    let input: SerialInput | null = null;
    const sinks: ByteSink[] = [];
    try {
      const bios = config.bios === undefined ? undefined : readInputFile(env.labels.bios, config.bios);
      boot = prepareBoot(config, env, bios !== undefined);
      const serial = config.serial === null ? null : openBackend(config.serial, io, progress, 'serial');
      if (serial) closers.push(serial.close);
      const debugcon = config.debugcon === undefined ? null : openBackend(config.debugcon.backend, io, progress, 'debugcon');
      if (debugcon) closers.push(debugcon.close);
      const serialSink = serial ? new ByteSink(serial.write) : null;
      const debugSink = debugcon ? new ByteSink(debugcon.write) : null;
      if (serialSink) sinks.push(serialSink);
      if (debugSink) sinks.push(debugSink);
      const devices: PcDeviceSpec[] = [...config.devices];
      if (config.debugcon) devices.push({ type: 'debugcon', iobase: config.debugcon.iobase });
      pc = createPc({
        memoryMiB: config.memoryMiB,
        cpus: config.cpus,
        cpuModel: config.cpuModel,
        ...(config.virtualization !== undefined ? { virtualization: config.virtualization } : {}),
        devices,
        noSerial: config.serial === null,
        ...(serialSink ? { onSerial: (b: number) => serialSink.push(b) } : {}),
        ...(debugSink ? { onDebugCon: (b: number) => debugSink.push(b) } : {}),
        ...(bios ? { bios } : {}),
      });
      boot.start(pc);
      if (config.serial?.kind === 'stdio' && io.in !== undefined && pc.uart !== null) {
        const uart = pc.uart;
        const say = (text: string) => {
          for (const s of sinks) s.flush();
          progress.clear();
          io.err.write(text);
        };
        input = new SerialInput(io.in, (bytes) => uart.enqueueInput(bytes), {
          help: () => say(ESCAPE_HELP),
          monitor: () => say(`\r\n${program}: there is no monitor\r\n`),
          break: () => say(`\r\n${program}: a serial break is not available\r\n`),
        });
        const open = input;
        closers.push(() => open.close());
        // A person at a terminal: idle guest time passes at the host's pace.
        pc.stopWhenIdle = input.interactive;
      }
    } catch (error) {
      if (error instanceof InputError || error instanceof PcConfigurationError || error instanceof RangeError) return fail(error.message);
      if (error instanceof KernelImageError) return fail(`${named(env.labels.kernel, config.kernel ?? '')}: ${error.message}`);
      throw error;
    }
    const status = await runLoop(pc, boot, sinks, config, env, progress, input);
    for (const s of sinks) s.flush();
    progress.clear();
    if (config.stats) io.err.write(formatStats(pc.stats(), config.memoryMiB));
    return status;
  } finally {
    progress.clear();
    for (const close of closers) close();
  }
}

async function runLoop(
  pc: Pc,
  boot: Boot,
  sinks: readonly ByteSink[],
  config: MachineConfig,
  env: RunEnvironment,
  progress: Progress,
  input: SerialInput | null,
): Promise<number> {
  const { io, program } = env;
  const note = (message: string): void => {
    for (const s of sinks) s.flush();
    progress.clear();
    io.err.write(`${program}: ${message}\n`);
  };
  let signal: keyof typeof SIGNAL_STATUS | null = null;
  // The guest runs synchronously in slices; a signal is seen between two of them.
  const onSignal = (name: keyof typeof SIGNAL_STATUS) => () => {
    signal ??= name;
  };
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  const signals = env.signals ?? true;
  if (signals) for (const [name, handler] of Object.entries(handlers)) process.on(name, handler);
  const maxSlice = env.maxSlice ?? 20_000_000;
  const limit = config.maxInstructions;
  let total = 0;
  // Slices aim at ~100 ms of host time, so output, progress and signals are never far behind.
  let slice = Math.min(1_000_000, maxSlice);
  try {
    for (;;) {
      if (signal !== null) {
        note(`terminating on signal ${SIGNAL_NUMBER[signal]}`);
        return SIGNAL_STATUS[signal];
      }
      if (input?.quit) {
        // QEMU's Ctrl-A x: "QEMU: Terminated", status 0.
        note('terminated (Ctrl-A x)');
        return 0;
      }
      const budget = limit === undefined ? slice : Math.min(slice, limit - total);
      if (budget <= 0) {
        note(`stopped after ${total} instructions (the limit is ${limit})`);
        return 1;
      }
      const t0 = performance.now();
      const stop: PcStop = pc.run(budget);
      const ms = performance.now() - t0;
      total += stop.instructions;
      if (stop.instructions > 0) slice = Math.max(10_000, Math.min(maxSlice, Math.round((stop.instructions / Math.max(ms, 1)) * 100)));
      for (const s of sinks) s.flush();
      switch (stop.reason) {
        case 'exit':
          // A process status is 8 bits: QEMU's exit((value << 1) | 1) keeps the low byte.
          return stop.status % 256;
        case 'poweroff':
          return 0;
        case 'shutdown':
        case 'reset':
          if (config.noReboot) return 0;
          if (config.rebootNotes) note(`the guest ${stop.reason === 'shutdown' ? 'triple-faulted' : 'asked for a reset'}: rebooting`);
          // QEMU's reset: every device and vCPU back to power-on state, then the kernel again.
          pc.powerOn();
          boot.start(pc);
          break;
        case 'halt':
          note('every vCPU is halted with no interrupt or timer to wake it; stopping');
          return 0;
        case 'idle': {
          // Every core waits for a timer: sleep until it is due in host time (at most 50 ms at
          // a time) or a key arrives, and let that much guest time pass.
          const ms = Math.max(1, Math.min(50, stop.untilNs / 1e6));
          const t = performance.now();
          if (input) await input.wait(ms);
          else await new Promise((resolve) => setTimeout(resolve, ms));
          pc.idle((performance.now() - t) * 1e6);
          break;
        }
        case 'budget':
        case 'paused':
          break;
      }
      progress.tick(pc.stats());
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    if (signals) for (const [name, handler] of Object.entries(handlers)) process.off(name, handler);
  }
}
