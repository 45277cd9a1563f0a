/**
 * One timed run of the benchmark guest on one emulator. hvkit and v86 run in a child process
 * of their own (see bench.ts), so each starts cold and its memory figures are its own; QEMU is
 * a child process anyway.
 *
 * Every run is timed from the guest's first instruction to its write to the isa-debug-exit
 * port, in wall time and in CPU time of the emulating process (less disturbed by other load).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Session } from 'node:inspector';
import { createRequire, findSourceMap } from 'node:module';
import path from 'node:path';
import { memSample, type MemSample, type Resident } from './memory.js';

export type EngineName = 'hvkit' | 'v86' | 'v86-jit' | 'qemu';

export interface EngineMemory {
  /** After a full GC: before the emulator's code was imported, after, after the machine was created (and the image loaded), after the run. */
  readonly start: MemSample;
  readonly loaded: MemSample;
  readonly machine: MemSample;
  readonly end: MemSample;
  /** Peak RSS of the process. */
  readonly maxRss: number;
  /** Guest RAM pages resident at the end (touched by the loader or the guest), and how they were counted. */
  readonly guestResident: number | null;
  readonly guestResidentMethod: string | null;
  readonly ramSize: number;
}

export interface EngineResult {
  readonly engine: EngineName;
  /** Set when the run did not complete; the other fields are then best effort. */
  readonly error?: string;
  /** Guest instructions from the entry point to the exit write; null when the engine cannot count. */
  readonly instructions: number | null;
  readonly wallSeconds: number;
  /** CPU time (user + system) of the emulating process over the same interval; null when not measured. */
  readonly cpuSeconds: number | null;
  readonly serial: string;
  /** How the run ended, for example "isa-debug-exit 0x0". */
  readonly exit: string;
  readonly memory?: EngineMemory;
}

/** Enough for any benchmark guest; the parent's timeout ends a runaway first. */
const INSTRUCTION_BUDGET = 1e12;

const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

function memory(start: MemSample, loaded: MemSample, machine: MemSample, end: MemSample, ramSize: number, resident: Resident | null): EngineMemory {
  return {
    start,
    loaded,
    machine,
    end,
    maxRss: process.resourceUsage().maxRSS * 1024,
    guestResident: resident?.bytes ?? null,
    guestResidentMethod: resident?.method ?? null,
    ramSize,
  };
}

/** The same child process without an emulator: what Node, the loader and this script take by themselves. */
export function baselineMemory(): MemSample {
  return memSample();
}

/** hvkit's MinimalBoard: `bootMultiboot`, then `run` until the guest writes the exit port. With `profileFile`, the run (only) is profiled. */
export async function runHvkit(elfPath: string, memoryMiB: number, profileFile?: string): Promise<EngineResult> {
  const image = new Uint8Array(fs.readFileSync(elfPath));
  const m0 = memSample();
  const { MinimalBoard } = await import('@hvkit/machine');
  const m1 = memSample();
  const board = new MinimalBoard({ memoryMiB });
  board.bootMultiboot(image);
  const m2 = memSample();
  const profiler = profileFile ? await startProfiler() : null;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const stop = board.run(INSTRUCTION_BUDGET);
  const t1 = performance.now();
  const c1 = process.cpuUsage(c0);
  if (profiler && profileFile) fs.writeFileSync(profileFile, JSON.stringify(await profiler()));
  const m3 = memSample();
  const exit = stop.reason === 'exit' ? `isa-debug-exit status ${stop.status}` : stop.reason;
  return {
    engine: 'hvkit',
    ...(stop.reason === 'exit' ? {} : { error: `the guest did not exit through isa-debug-exit: ${stop.reason} after ${stop.instructions} instructions` }),
    instructions: stop.instructions,
    wallSeconds: (t1 - t0) / 1000,
    cpuSeconds: cpuSeconds(c1),
    serial: board.serialOutput,
    exit,
    // hvkit allocates guest RAM by chunk on first touch: what it allocated is what the guest costs.
    memory: memory(m0, m1, m2, m3, memoryMiB << 20, { bytes: board.memory.allocatedRamBytes, method: 'chunks' }),
  };
}

/**
 * Starts V8's sampling profiler in this process; the returned function stops it and returns
 * the profile with every call frame mapped through the source maps of the loaded modules
 * (tsx writes its output on one line; `--enable-source-maps` keeps the maps), so locations
 * are TypeScript file:line, 0-based as in any `.cpuprofile`.
 */
async function startProfiler(): Promise<() => Promise<unknown>> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) => session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  return async () => {
    const { profile } = await post<{ profile: { nodes: { callFrame: { url: string; lineNumber: number; columnNumber: number; functionName: string } }[] } }>('Profiler.stop');
    session.disconnect();
    for (const node of profile.nodes) {
      const f = node.callFrame;
      if (!f.url.startsWith('file:')) continue;
      const entry = findSourceMap(f.url)?.findEntry(f.lineNumber, f.columnNumber);
      if (entry && 'originalSource' in entry) {
        f.url = entry.originalSource;
        f.lineNumber = entry.originalLine;
        f.columnNumber = entry.originalColumn;
      }
    }
    return profile;
  };
}

/** The parts of v86's internals the benchmark touches (v86 0.5.x; not in its type declarations). */
interface V86Port {
  device: unknown;
  read32: (this: unknown) => number;
  write8: (this: unknown, v: number) => void;
  write16: (this: unknown, v: number) => void;
  write32: (this: unknown, v: number) => void;
}
interface V86Internals {
  v86?: { cpu?: { io?: { ports?: V86Port[] } } };
}

/** Thrown from the exit-port handler to leave v86's main loop (an Error, so the event loop reports it to the handler). */
const V86_EXIT = new Error('hvkit bench: the guest wrote the isa-debug-exit port');

/** Where Debian's `seabios` package installs its images. */
export const SEABIOS_DIR = '/usr/share/seabios';

const arrayBufferOf = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/**
 * v86 from npm in this process. SeaBIOS runs first and calls v86's Multiboot option ROM, whose
 * `in eax, 0xF4` makes v86 load the kernel and jump to it: that port read is the start of the
 * guest. v86's own handler for writes to 0xF4-0xF7 ("Test exited", then `throw "HALT"`) is
 * replaced by one that ends the measurement. Its instruction counter is 32 bits wide, so it is
 * sampled every 100 ms to count wrap-arounds.
 */
export async function runV86(elfPath: string, memoryMiB: number, jit: boolean, seabiosDir: string): Promise<EngineResult> {
  const image = fs.readFileSync(elfPath);
  const bios = fs.readFileSync(path.join(seabiosDir, 'bios.bin'));
  const vgaPath = path.join(seabiosDir, 'vgabios-stdvga.bin');
  const vgaBios = fs.existsSync(vgaPath) ? fs.readFileSync(vgaPath) : null;
  const m0 = memSample();
  const { V86 } = await import('v86');
  const require = createRequire(import.meta.url);
  const wasmPath = path.join(path.dirname(require.resolve('v86/package.json')), 'build', 'v86.wasm');
  const m1 = memSample();
  const emulator = new V86({
    wasm_path: wasmPath,
    memory_size: memoryMiB << 20,
    bios: { buffer: arrayBufferOf(bios) },
    ...(vgaBios ? { vga_bios: { buffer: arrayBufferOf(vgaBios) } } : {}),
    multiboot: { buffer: arrayBufferOf(image) },
    autostart: false,
    disable_jit: !jit,
  });
  let serial = '';
  emulator.add_listener('serial0-output-byte', (byte: number) => {
    serial += String.fromCharCode(byte);
  });
  await new Promise<void>((resolve) => emulator.add_listener('emulator-ready', () => resolve()));
  const m2 = memSample();
  const ports = (emulator as unknown as V86Internals).v86?.cpu?.io?.ports;
  const entry = ports?.[0xf4];
  if (!ports || !entry) throw new Error('v86 internals changed: cpu.io.ports[0xF4] (its Multiboot hook) not found');

  let last = 0;
  let total = 0;
  const count = () => {
    const now = emulator.get_instruction_counter();
    total += (now - last) >>> 0;
    last = now;
    return total;
  };
  let start: { t: number; c: NodeJS.CpuUsage; n: number } | null = null;
  const done = new Promise<{ t: number; c: NodeJS.CpuUsage; n: number; code: number }>((resolve) => {
    const originalRead32 = entry.read32;
    entry.read32 = function (this: unknown) {
      const result = originalRead32.call(this);
      // The handler has put the CPU at the kernel's entry point: the guest starts now.
      last = emulator.get_instruction_counter();
      total = 0;
      start = { t: performance.now(), c: process.cpuUsage(), n: 0 };
      return result;
    };
    const onExit = (code: number) => {
      const end = { t: performance.now(), c: process.cpuUsage(), n: count(), code };
      resolve(end);
      // Stop at once, as v86's own handler does: the guest's next instructions (a triple
      // fault, in the guest library) would make v86 panic. The exception unwinds through
      // v86's main loop to the event loop, where the handler below swallows it.
      throw V86_EXIT;
    };
    for (let p = 0xf4; p <= 0xf7; p++) {
      const port = ports[p];
      if (!port) continue;
      port.write8 = port.write16 = port.write32 = onExit;
    }
  });
  process.on('uncaughtException', (error) => {
    if (error === V86_EXIT) return;
    console.error(error);
    process.exit(1);
  });
  const sampler = setInterval(() => {
    if (start) count();
  }, 100);
  await emulator.run();
  const end = await done;
  clearInterval(sampler);
  const m3 = memSample();
  // No destroy(): v86 was left mid-instruction; the child process ends after reporting.
  if (!start) throw new Error('v86 wrote the exit port before starting the guest');
  const s = start as { t: number; c: NodeJS.CpuUsage; n: number };
  return {
    engine: jit ? 'v86-jit' : 'v86',
    instructions: end.n,
    wallSeconds: (end.t - s.t) / 1000,
    cpuSeconds: cpuSeconds(end.c) - cpuSeconds(s.c),
    serial,
    exit: `isa-debug-exit value 0x${end.code.toString(16)}`,
    memory: memory(m0, m1, m2, m3, memoryMiB << 20, null),
  };
}

/** Whether `qemu-system-x86_64` runs here. */
export async function qemuVersion(): Promise<string | null> {
  return new Promise((resolve) => {
    const p = spawn('qemu-system-x86_64', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', () => resolve(null));
    p.on('close', (code) => resolve(code === 0 ? (out.split('\n')[0] ?? '').trim() : null));
  });
}

/**
 * QEMU TCG (`-kernel` boots Multiboot 1 ELF32). It counts no instructions, so the run is timed
 * from the guest's first byte on COM1 (SeaBIOS and the loader are done by then) to the
 * process's exit; CPU time is not measured.
 */
export async function runQemu(elfPath: string, memoryMiB: number, timeoutMs: number): Promise<EngineResult> {
  const args = ['-display', 'none', '-nodefaults', '-no-reboot', '-serial', 'stdio', '-accel', 'tcg'];
  args.push('-device', 'isa-debug-exit,iobase=0xf4,iosize=4', '-m', String(memoryMiB), '-kernel', elfPath);
  return new Promise((resolve) => {
    const t0 = performance.now();
    let first: number | null = null;
    let serial = '';
    const p = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (d: Buffer) => {
      first ??= performance.now();
      serial += d.toString('latin1');
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const t1 = performance.now();
      const exit = signal ? `killed by ${signal}` : `exit status ${code} (isa-debug-exit value ${code === null ? '?' : `0x${(code >> 1).toString(16)}`})`;
      resolve({
        engine: 'qemu',
        ...(code !== null && (code & 1) === 1 ? {} : { error: `QEMU did not end through isa-debug-exit: ${exit} ${stderr.trim()}` }),
        instructions: null,
        wallSeconds: (t1 - (first ?? t0)) / 1000,
        cpuSeconds: null,
        serial,
        exit,
      });
    });
  });
}
