/** The `hvkit-system-x86_64` command: a QEMU-style front end to an hvkit machine. */
import { existsSync, statSync } from 'node:fs';
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
  // The command line is valid, but the x86 core and the PC board have not landed yet.
  io.err.write(
    `hvkit-system-x86_64: cannot start the machine: this build has no x86 CPU core yet ` +
      `(${options.memoryBytes / 1024 / 1024} MiB, ${options.cpus} vCPU, machine ${options.machine} requested)\n`,
  );
  return 1;
}
