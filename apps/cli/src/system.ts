/** The `hvkit-system-x86_64` command: a QEMU-style front end to an hvkit machine. */
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { MinimalBoard, MultibootError } from '@hvkit/machine';
import { AMD_ZEN, INTEL_CORE, type CpuModel } from '@hvkit/x86';
import { collectPackages } from './info.js';
import { OptionError, parseSystemArgs, systemUsage, type SystemOptions } from './qemu-args.js';
import { type Streams } from './streams.js';

/** Checks what the options point at on disk; returns an error message or undefined. */
export function checkFiles(o: SystemOptions): string | undefined {
  for (const [flag, file] of [
    ['-kernel', o.kernel],
    ['-initrd', o.initrd],
  ] as const) {
    if (file === undefined) continue;
    if (!existsSync(file)) return `${flag} ${file}: no such file`;
    if (!statSync(file).isFile()) return `${flag} ${file}: not a regular file`;
  }
  return undefined;
}

export async function systemMain(argv: readonly string[], io: Streams): Promise<number> {
  let options: SystemOptions;
  try {
    options = parseSystemArgs(argv);
  } catch (error) {
    if (error instanceof OptionError) {
      io.err.write(`hvkit-system-x86_64: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    io.out.write(systemUsage());
    return 0;
  }
  if (options.version) {
    io.out.write(`hvkit-system-x86_64 version ${collectPackages()[0]!.version}\n`);
    return 0;
  }
  const fileError = checkFiles(options);
  if (fileError) {
    io.err.write(`hvkit-system-x86_64: ${fileError}\n`);
    return 1;
  }
  return runMachine(options, io);
}

/** CPU models by `-cpu` name. */
const CPU_MODELS: Record<string, CpuModel> = { max: INTEL_CORE, host: INTEL_CORE, intel: INTEL_CORE, amd: AMD_ZEN };

/**
 * Boots the kernel on the minimal board (RAM, CPU, COM1, isa-debug-exit, port 0x92) and runs
 * it. The exit status follows QEMU: `(value << 1) | 1` when the guest writes isa-debug-exit, 0
 * when it shuts down with -no-reboot or halts for good, 1 for a machine that cannot start.
 */
async function runMachine(options: SystemOptions, io: Streams): Promise<number> {
  const fail = (message: string): number => {
    io.err.write(`hvkit-system-x86_64: ${message}\n`);
    return 1;
  };
  if (options.kernel === undefined) return fail('no -kernel given: hvkit has no firmware yet, so it boots Multiboot kernels with -kernel FILE');
  if (options.cpus !== 1) return fail(`-smp ${options.cpus}: this build runs one vCPU (SMP comes with the PC platform)`);
  if (options.initrd !== undefined) return fail('-initrd: Multiboot modules and Linux initrds come with the Linux boot support');
  const model = CPU_MODELS[options.cpuModel];
  if (model === undefined) return fail(`-cpu ${options.cpuModel}: unknown model (hvkit has: ${Object.keys(CPU_MODELS).join(', ')})`);
  const mib = Math.floor(options.memoryBytes / (1024 * 1024));
  if (mib > 3072) return fail(`-m ${mib}M: the minimal board takes at most 3072 MiB`);
  const exit = options.devices.find((d) => d.driver === 'isa-debug-exit');
  let serialOut: ((b: number) => void) | undefined;
  if (options.serial === 'stdio') serialOut = (b) => io.out.write(String.fromCharCode(b));
  else if (options.serial.startsWith('file:')) {
    const file = options.serial.slice(5);
    writeFileSync(file, '');
    serialOut = (b) => appendFileSync(file, Uint8Array.of(b));
  }
  const board = new MinimalBoard({
    memoryMiB: mib,
    model,
    ...(serialOut ? { onSerial: serialOut } : {}),
    debugExit: exit !== undefined,
    debugExitBase: exit ? Number(exit.props['iobase'] ?? 0x501) : 0x501,
    debugExitSize: exit ? Number(exit.props['iosize'] ?? 2) : 2,
  });
  try {
    board.bootMultiboot(new Uint8Array(readFileSync(options.kernel)), { cmdline: options.append });
  } catch (error) {
    if (error instanceof MultibootError) return fail(`-kernel ${options.kernel}: ${error.message}`);
    throw error;
  }
  for (;;) {
    const stop = board.run(50_000_000);
    if (stop.reason === 'exit') return stop.status & 0xff;
    if (stop.reason === 'shutdown') {
      if (options.noReboot) return 0;
      io.err.write('hvkit-system-x86_64: the guest triple-faulted; rebooting the CPU is not supported yet, so stopping\n');
      return 0;
    }
    if (stop.reason === 'halt') {
      io.err.write('hvkit-system-x86_64: the CPU halted with interrupts disabled; nothing can wake it, so stopping\n');
      return 0;
    }
    // Let the event loop breathe between slices (signals, stream flushing).
    await new Promise((r) => setImmediate(r));
  }
}
