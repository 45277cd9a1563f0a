/** The `hvkit-system-x86_64` command: a QEMU-style front end to the hvkit PC. */
import { cpuHelp } from './cpu-model.js';
import { collectPackages } from './info.js';
import { runMachine } from './machine-run.js';
import { OptionError } from './option-values.js';
import { parseSystemArgs, systemUsage, type SystemOptions } from './qemu-args.js';
import { type Streams } from './streams.js';

const PROGRAM = 'hvkit-system-x86_64';

/**
 * Runs `hvkit-system-x86_64 ARGS`; returns the exit status, as QEMU's: 1 for an option, file or
 * kernel it cannot use (one line on stderr), `(value << 1) | 1` when the guest writes
 * isa-debug-exit, 0 when it powers off (or triple-faults with -no-reboot).
 */
export async function systemMain(argv: readonly string[], io: Streams, options: { signals?: boolean } = {}): Promise<number> {
  let parsed: SystemOptions;
  try {
    parsed = parseSystemArgs(argv);
  } catch (error) {
    if (error instanceof OptionError) {
      io.err.write(`${PROGRAM}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (parsed.help) {
    io.out.write(systemUsage());
    return 0;
  }
  if (parsed.version) {
    io.out.write(`${PROGRAM} version ${collectPackages()[0]!.version}\n`);
    return 0;
  }
  if (parsed.cpuHelp) {
    io.out.write(cpuHelp());
    return 0;
  }
  return runMachine(parsed.machine, {
    program: PROGRAM,
    io,
    labels: { kernel: '-kernel', initrd: '-initrd', bios: '-bios' },
    ...(options.signals !== undefined ? { signals: options.signals } : {}),
  });
}
