#!/usr/bin/env node
// @ts-check
/**
 * Runs the VT-x programs (`cpu=max,+vmx`) on Bochs, whose VMX emulation is the other
 * implementation to compare with where the SDM is ambiguous (QEMU's TCG has no VMX).
 *
 *     node scripts/bochs-conformance.mjs [--cpu MODEL] [--out DIR] [--hvkit] [--timeout S] [NAME...]
 *
 * Needs Debian's `bochs` (built with `--enable-vmx=2`) with `bochsbios` and `vgabios`, and,
 * because Bochs has no Multiboot loader, GRUB to boot the images: `grub-mkrescue` (packages
 * `grub-pc-bin`, `grub-common`, `xorriso`, `mtools`) makes a CD image whose grub.cfg loads the
 * program with `multiboot`. Missing tools are reported and the script exits 0: there is
 * nothing to compare with.
 *
 * Bochs has no isa-debug-exit device, so a program ends with a triple fault (report.c), which
 * `reset_on_triple_fault=0` turns into a Bochs panic that stops it; the verdict comes from the
 * serial log (`DIR/<name>.bochs.log`). With `--hvkit` each program also runs on hvkit
 * (`MinimalBoard` or `createPc` with `virtualization: 'vmx'`) and the logs are compared with
 * compareSerial (Bochs as the reference).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuest, defaultCacheDir, guestInfo, guestNames } from '../build.mjs';
import { compareSerial, parseSerial } from './qemu-conformance.mjs';

/** The Bochs binary: `$HVKIT_BOCHS` or `bochs` on the PATH. */
export const BOCHS = process.env['HVKIT_BOCHS'] || 'bochs';
/** A CPU model of Bochs 2.7 with VMX, EPT, VPID and unrestricted guests. */
export const DEFAULT_BOCHS_CPU = 'corei7_haswell_4770';

/** @param {string} cmd */
function onPath(cmd) {
  if (cmd.includes('/')) return fs.existsSync(cmd);
  return (process.env['PATH'] ?? '').split(path.delimiter).some((dir) => dir && fs.existsSync(path.join(dir, cmd)));
}

/** @param {string[]} candidates */
function firstFile(candidates) {
  return candidates.find((f) => fs.existsSync(f));
}

/** What is missing to run the programs on Bochs (empty when everything is there). */
export function bochsMissing() {
  /** @type {string[]} */
  const missing = [];
  if (!onPath(BOCHS)) missing.push(`${BOCHS} (Debian: apt-get install bochs bochsbios vgabios)`);
  if (!onPath('grub-mkrescue') || !onPath('xorriso')) missing.push('grub-mkrescue and xorriso, to boot Multiboot images (Debian: apt-get install grub-pc-bin grub-common xorriso mtools)');
  if (!firstFile(['/usr/share/bochs/BIOS-bochs-latest'])) missing.push('the Bochs BIOS /usr/share/bochs/BIOS-bochs-latest (bochsbios)');
  return missing;
}

/**
 * Boots one program on Bochs and returns its serial output.
 * @param {string} name
 * @param {{ cpu?: string, outDir: string, timeoutMs?: number }} options
 */
export async function runGuestOnBochs(name, options) {
  const guest = await buildGuest(name);
  const work = path.join(options.outDir, name);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(path.join(work, 'iso', 'boot', 'grub'), { recursive: true });
  fs.copyFileSync(guest.path, path.join(work, 'iso', 'boot', `${name}.elf`));
  fs.writeFileSync(
    path.join(work, 'iso', 'boot', 'grub', 'grub.cfg'),
    `set timeout=0\nset default=0\nmenuentry "${name}" {\n  multiboot /boot/${name}.elf ${name}\n  boot\n}\n`,
  );
  const iso = path.join(work, `${name}.iso`);
  const mk = spawnSync('grub-mkrescue', ['-o', iso, path.join(work, 'iso')], { encoding: 'utf8' });
  if (mk.status !== 0) throw new Error(`grub-mkrescue failed: ${mk.stderr}`);
  const serialPath = path.join(options.outDir, `${name}.bochs.log`);
  fs.rmSync(serialPath, { force: true });
  const vga = firstFile(['/usr/share/vgabios/vgabios.bin', '/usr/share/bochs/VGABIOS-lgpl-latest']);
  const rc = [
    'megs: 64',
    `cpu: model=${options.cpu ?? DEFAULT_BOCHS_CPU}, count=1, ips=100000000, reset_on_triple_fault=0`,
    'romimage: file=/usr/share/bochs/BIOS-bochs-latest',
    ...(vga ? [`vgaromimage: file=${vga}`] : []),
    `ata0-master: type=cdrom, path=${iso}, status=inserted`,
    'boot: cdrom',
    `com1: enabled=1, mode=file, dev=${serialPath}`,
    'display_library: nogui',
    `log: ${path.join(work, 'bochs.out')}`,
    'panic: action=fatal',
    'error: action=report',
    'clock: sync=none, time0=local',
  ].join('\n');
  const rcPath = path.join(work, 'bochsrc');
  fs.writeFileSync(rcPath, `${rc}\n`);
  const timeoutMs = options.timeoutMs ?? Math.max(guest.timeoutMs * 4, 120_000);
  const timedOut = await new Promise((resolve) => {
    const child = spawn(BOCHS, ['-q', '-f', rcPath], { stdio: 'ignore' });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(true);
    }, timeoutMs);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  const serial = fs.existsSync(serialPath) ? fs.readFileSync(serialPath, 'latin1').replace(/\r\n/g, '\n') : '';
  return { name, serial, timedOut, log: parseSerial(serial), serialPath };
}

/** @param {string} name */
async function runOnHvkit(name) {
  const { MinimalBoard, createPc } = await import('@hvkit/machine');
  const guest = await buildGuest(name);
  const image = new Uint8Array(fs.readFileSync(guest.path));
  if (guest.pc) {
    const pc = createPc({ memoryMiB: 64, cpus: guest.smp, devices: [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }], virtualization: 'vmx' });
    pc.bootMultiboot(image, { cmdline: name });
    pc.run(500_000_000);
    return pc.serialOutput;
  }
  const board = new MinimalBoard({ memoryMiB: 64, virtualization: 'vmx' });
  board.bootMultiboot(image, { cmdline: name });
  board.run(500_000_000);
  return board.serialOutput;
}

/** @param {string[]} argv */
async function main(argv) {
  let cpu = DEFAULT_BOCHS_CPU;
  let outDir = path.join(defaultCacheDir(), 'bochs-logs');
  let withHvkit = false;
  /** @type {number | undefined} */
  let timeoutMs;
  const names = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--cpu') cpu = argv[++i] ?? cpu;
    else if (a === '--out') outDir = argv[++i] ?? outDir;
    else if (a === '--hvkit') withHvkit = true;
    else if (a === '--timeout') timeoutMs = Number(argv[++i]) * 1000;
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node scripts/bochs-conformance.mjs [--cpu MODEL] [--out DIR] [--hvkit] [--timeout S] [NAME...]\n');
      return 0;
    } else names.push(a);
  }
  const missing = bochsMissing();
  if (missing.length) {
    process.stdout.write(`bochs-conformance: nothing to run, missing:\n${missing.map((m) => `  - ${m}\n`).join('')}`);
    return 0;
  }
  fs.mkdirSync(outDir, { recursive: true });
  let failures = 0;
  for (const name of names.length ? names : guestNames().filter((n) => guestInfo(n).vmx)) {
    const r = await runGuestOnBochs(name, { cpu, outDir, timeoutMs });
    const counts = { ok: 0, FAIL: 0, SKIP: 0 };
    for (const c of r.log.checks) counts[c.kind]++;
    const passed = r.log.final?.passed === true && r.log.final.name === name;
    process.stdout.write(`${passed ? 'PASS' : 'FAIL'} ${name} on Bochs (${cpu}): ${counts.ok} ok, ${counts.FAIL} failed, ${counts.SKIP} skipped${r.timedOut ? ' (timed out)' : ''} -> ${r.serialPath}\n`);
    for (const c of r.log.checks) if (c.kind !== 'ok') process.stdout.write(`    ${c.line}\n`);
    if (withHvkit) {
      const diffs = compareSerial(r.serial, await runOnHvkit(name));
      process.stdout.write(`    hvkit: ${diffs.length ? `${diffs.length} differences from Bochs` : 'same check lines as Bochs'}\n`);
      for (const d of diffs) process.stdout.write(`    differs: ${d.replace(/\n/g, '\n             ')}\n`);
      if (diffs.length) failures++;
    }
  }
  return failures ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
