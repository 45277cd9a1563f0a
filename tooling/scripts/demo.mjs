#!/usr/bin/env node
/**
 * The main demo (`pnpm run demo`): boots the bundled demo guest, `tooling/guests/prebuilt/demo.elf`
 * (built from `tooling/guests/programs/demo.c`, committed so no compiler is needed), on hvkit's
 * PC through the QEMU-style command line, with COM1 on stdout:
 *
 *     hvkit-system-x86_64 -nographic -no-reboot -m 128 -smp 4 \
 *       -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel tooling/guests/prebuilt/demo.elf
 *
 * The guest tours the machine (CPUID, the memory map, ACPI tables, timer interrupts, bringing up
 * the other three CPUs) and reports success by writing 0 to the isa-debug-exit port, which (as
 * on QEMU) makes the command exit with status 1; this script turns that into 0.
 *
 * `--all` also builds two more guests with the system gcc (one that switches real -> protected
 * -> long mode and back, and a 64-bit smoke test) and boots each the same way; without gcc
 * that part is skipped with a note.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuest, toolchainAvailable } from '../guests/index.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'apps/cli/bin/hvkit-system-x86_64.js');
const DEMO = 'tooling/guests/prebuilt/demo.elf';
const EXIT_DEVICE = ['-device', 'isa-debug-exit,iobase=0xf4,iosize=4'];

// `pnpm run demo -- --all` passes the `--` through.
const argv = process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--'));
if (argv.includes('-h') || argv.includes('--help')) {
  process.stdout.write('usage: node tooling/scripts/demo.mjs [--all]\n  --all  also build and boot the modes and smoke64 guests (needs gcc)\n');
  process.exit(0);
}
const unknown = argv.filter((a) => a !== '--all');
if (unknown.length) {
  process.stderr.write(`demo: unknown option ${unknown[0]} (usage: node tooling/scripts/demo.mjs [--all])\n`);
  process.exit(2);
}
if (!existsSync(path.join(root, 'apps/cli/dist/index.js'))) {
  process.stderr.write('demo: the CLI is not built (apps/cli/dist is missing); run `pnpm build` first\n');
  process.exit(1);
}

/**
 * Runs the CLI with `args` from the repository root, echoing the command and streaming the
 * guest's serial output. A guest passed when the command exits with status 1 (it wrote 0 to
 * isa-debug-exit) and its last verdict line is `PASS <name>`.
 * @param {string} name
 * @param {string[]} args
 * @returns {Promise<boolean>}
 */
function boot(name, args) {
  process.stdout.write(`\n$ hvkit-system-x86_64 ${args.join(' ')}\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString('latin1')).slice(-4096);
    });
    child.on('error', (error) => {
      process.stderr.write(`demo: cannot start ${cli}: ${error.message}\n`);
      resolve(false);
    });
    child.on('close', (status, signal) => {
      const verdict = tail.split(/\r?\n/).filter((l) => /^(PASS|FAIL) /.test(l)).pop();
      const passed = status === 1 && verdict === `PASS ${name}`;
      const how = signal ? `killed by ${signal}` : `exit status ${status}`;
      process.stdout.write(`-> ${how}: ${passed ? 'the guest passed (it wrote 0 to isa-debug-exit)' : 'the guest did not pass'}\n`);
      resolve(passed);
    });
  });
}

let failed = 0;
if (!(await boot('demo', ['-nographic', '-no-reboot', '-m', '128', '-smp', '4', ...EXIT_DEVICE, '-kernel', DEMO]))) failed++;

if (argv.includes('--all')) {
  if (!toolchainAvailable()) {
    process.stdout.write('\ndemo --all: gcc, ld and objcopy are needed to build the other guests (Debian: apt-get install gcc binutils); skipped\n');
  } else {
    for (const name of ['modes', 'smoke64']) {
      const guest = await buildGuest(name);
      const args = ['-nographic', '-no-reboot', '-m', '64', ...EXIT_DEVICE, '-kernel', guest.path];
      if (!(await boot(name, args))) failed++;
    }
  }
}
process.exit(failed ? 1 : 0);
