#!/usr/bin/env node
/**
 * The main demo: builds two bare-metal guests with the system gcc (one that switches real ->
 * protected -> long mode and back, one 64-bit smoke test) and boots each on hvkit through the
 * QEMU-style command line, `hvkit-system-x86_64 -kernel ...`, with COM1 on stdout. A guest
 * reports success by writing 0 to the isa-debug-exit port, which (as on QEMU) makes the
 * command exit with status 1; this script turns that into 0.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuest, toolchainAvailable } from '../guests/index.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'apps/cli/bin/hvkit-system-x86_64.js');

if (!toolchainAvailable()) {
  process.stderr.write('demo: gcc, ld and objcopy are needed to build the guests (Debian: apt-get install gcc binutils)\n');
  process.exit(1);
}
let failed = 0;
for (const name of ['modes', 'smoke64']) {
  const guest = await buildGuest(name);
  const args = ['-nographic', '-no-reboot', '-m', '64', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4', '-kernel', guest.path];
  process.stdout.write(`\n$ hvkit-system-x86_64 ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
  const passed = r.status === 1;
  process.stdout.write(`-> exit status ${r.status} (${passed ? 'the guest passed' : 'the guest failed'})\n`);
  if (!passed) failed++;
}
process.exit(failed ? 1 : 0);
