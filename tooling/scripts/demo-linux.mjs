#!/usr/bin/env node
/**
 * `pnpm demo:linux`: an interactive shell in Debian's unmodified cloud kernel, on hvkit's PC, in
 * this terminal. It prepares the guest with `pnpm guests:linux` (apt-get download and dpkg -x;
 * cached after the first time), then runs
 *
 *     hvkit-system-x86_64 -nographic -no-reboot -m 256 -smp N \
 *       -kernel vmlinuz -initrd initrd.gz -append "console=ttyS0"
 *
 * with the terminal attached: keystrokes go to COM1, Ctrl-A x quits and Ctrl-A h lists the
 * other escapes, as in QEMU. `poweroff -f` in the guest ends the run too.
 *
 *     pnpm demo:linux [--smp N] [--append "extra kernel arguments"] [-m MiB]
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareLinux } from '../guests/linux.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'apps/cli/bin/hvkit-system-x86_64.js');
const USAGE = 'usage: pnpm demo:linux [--smp N] [-m MiB] [--append "kernel arguments"]\n';

let values;
try {
  // `pnpm demo:linux -- --smp 1` passes the `--` through.
  const args = process.argv.slice(2);
  if (args[0] === '--') args.shift();
  ({ values } = parseArgs({
    args,
    options: {
      smp: { type: 'string', default: '2' },
      memory: { type: 'string', short: 'm', default: '256' },
      append: { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (error) {
  process.stderr.write(`demo:linux: ${error.message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (!existsSync(path.join(root, 'apps/cli/dist/index.js'))) {
  process.stderr.write('demo:linux: the CLI is not built (apps/cli/dist is missing); run `pnpm build` first\n');
  process.exit(1);
}

let guest;
try {
  guest = prepareLinux({ log: (line) => process.stderr.write(`demo:linux: ${line}\n`) });
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

const append = `console=ttyS0${values.append ? ` ${values.append}` : ''}`;
process.stderr.write(
  `demo:linux: booting Debian's ${guest.release} kernel (unmodified) with a busybox initramfs on ${values.smp} vCPU(s).\n` +
    `demo:linux: the shell prompt is "hvkit# " (about a minute from now); try uname -a, cat /proc/cpuinfo, ls /sys.\n` +
    'demo:linux: Ctrl-A x quits, Ctrl-A h lists the escapes; poweroff -f powers the machine off.\n\n',
);
const child = spawn(
  process.execPath,
  [cli, '-nographic', '-no-reboot', '-m', values.memory, '-smp', values.smp, '-kernel', guest.kernel, '-initrd', guest.initrd, '-append', append],
  { stdio: 'inherit' },
);
// The child owns the terminal (raw mode, Ctrl-C goes to the guest): this process only waits.
process.on('SIGINT', () => {});
child.on('exit', (code, signal) => {
  process.exitCode = signal ? 1 : (code ?? 1);
});
