#!/usr/bin/env node
// @ts-check
/**
 * Runs every guest program on QEMU and keeps its serial output, so that hvkit's output can be
 * compared with it line by line.
 *
 *     node scripts/qemu-conformance.mjs [--out DIR] [--compare DIR | --hvkit] [--qemu PATH] [NAME...]
 *
 * Each program boots with
 * `qemu-system-x86_64 -display none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4
 *  -kernel <elf> -m 64 -no-reboot` (plus `-cpu max` for the programs that ask for it). A
 * program passes when it ends with `PASS <name>` and QEMU exits with status 1 (the guest
 * wrote 0 to the isa-debug-exit port). The serial output goes to `DIR/<name>.qemu.log`
 * (default: `os.tmpdir()/hvkit-guests/qemu-logs`).
 *
 * Guest output is one line per check (`ok <check>`, `FAIL <check> -- <detail>`,
 * `SKIP <check> -- <why>`), `#` lines of information, and a final `PASS <name>` or
 * `FAIL <name>: <reason>`. With `--hvkit`, each program also runs on hvkit's minimal board (the
 * built `@hvkit/machine`) and the two serial outputs are compared. With `--compare DIR`, each `DIR/<name>.hvkit.log` is compared with
 * QEMU's output check by check: the same checks must pass (and the final line match); a check
 * QEMU reports as SKIP (something TCG does not emulate faithfully) is not compared, and a check
 * only hvkit ran counts only if it failed.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuest, defaultCacheDir, guestInfo, guestNames } from '../build.mjs';

/** The QEMU binary: `$HVKIT_QEMU` or `qemu-system-x86_64` on the PATH. */
export const QEMU = process.env['HVKIT_QEMU'] || 'qemu-system-x86_64';

/**
 * Whether QEMU can be started.
 * @param {string} [qemu]
 */
export function qemuAvailable(qemu = QEMU) {
  const r = spawnSync(qemu, ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * @typedef {object} QemuRun
 * @property {number | null} status QEMU's exit status (1 = the guest wrote 0 to isa-debug-exit)
 * @property {string} serial everything the guest wrote to COM1, with CR LF turned into LF
 * @property {boolean} timedOut
 * @property {string} stderr
 */

/**
 * Boots one Multiboot image on QEMU and collects its serial output.
 * @param {string} elf
 * @param {{ qemuArgs?: string[], timeoutMs?: number, qemu?: string }} [options]
 * @returns {Promise<QemuRun>}
 */
export function runOnQemu(elf, options = {}) {
  const args = [
    '-display', 'none',
    '-serial', 'stdio',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
    '-kernel', elf,
    '-m', '64',
    '-no-reboot',
    ...(options.qemuArgs ?? []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(options.qemu ?? QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    /** @type {Buffer[]} */
    const out = [];
    /** @type {Buffer[]} */
    const err = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({
        status,
        serial: Buffer.concat(out).toString('latin1').replace(/\r\n/g, '\n').replace(/\r/g, ''),
        timedOut,
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/**
 * @typedef {object} SerialLog
 * @property {{ kind: 'ok' | 'FAIL' | 'SKIP', check: string, detail: string, line: string }[]} checks
 * @property {{ passed: boolean, name: string, reason: string } | null} final the PASS/FAIL line
 * @property {string[]} lines the compared lines (checks and the final line), in order
 */

/**
 * Splits a guest's serial output into check lines and its final line.
 * @param {string} serial
 * @returns {SerialLog}
 */
export function parseSerial(serial) {
  /** @type {SerialLog} */
  const log = { checks: [], final: null, lines: [] };
  for (const raw of serial.split('\n')) {
    const line = raw.trimEnd();
    let m;
    if (line === '' || line.startsWith('#')) continue;
    if ((m = /^PASS ([\w-]+)$/.exec(line))) {
      log.final = { passed: true, name: m[1] ?? '', reason: '' };
      log.lines.push(line);
    } else if ((m = /^ok (.*)$/.exec(line))) {
      log.checks.push({ kind: 'ok', check: m[1] ?? '', detail: '', line });
      log.lines.push(line);
    } else if ((m = /^SKIP (.*?) -- (.*)$/.exec(line))) {
      log.checks.push({ kind: 'SKIP', check: m[1] ?? '', detail: m[2] ?? '', line });
    } else if ((m = /^FAIL (.*?) -- (.*)$/.exec(line))) {
      log.checks.push({ kind: 'FAIL', check: m[1] ?? '', detail: m[2] ?? '', line });
      log.lines.push(line);
    } else if ((m = /^FAIL ([\w-]+): (.*)$/.exec(line))) {
      log.final = { passed: false, name: m[1] ?? '', reason: m[2] ?? '' };
      log.lines.push(line);
    }
  }
  return log;
}

/**
 * Compares a candidate's serial output (hvkit's) with the reference (QEMU's): the list of
 * differences, empty when they agree. Checks the reference skipped are not compared; checks
 * only the candidate ran count only when they fail.
 * @param {string} reference
 * @param {string} candidate
 * @returns {string[]}
 */
export function compareSerial(reference, candidate) {
  const ref = parseSerial(reference);
  const cand = parseSerial(candidate);
  const candByCheck = new Map(cand.checks.map((c) => [c.check, c]));
  /** @type {string[]} */
  const diffs = [];
  for (const c of ref.checks) {
    if (c.kind === 'SKIP') continue;
    const other = candByCheck.get(c.check);
    if (!other) diffs.push(`missing: ${c.line}`);
    else if (other.line !== c.line) diffs.push(`reference: ${c.line}\ncandidate: ${other.line}`);
  }
  // Checks only the candidate ran (they follow one the reference skipped) count when they fail.
  const refChecks = new Set(ref.checks.map((c) => c.check));
  for (const c of cand.checks) {
    if (!refChecks.has(c.check) && c.kind === 'FAIL') diffs.push(`extra: ${c.line}`);
  }
  const f = (x = ref.final) => (x ? (x.passed ? `PASS ${x.name}` : `FAIL ${x.name}: ${x.reason}`) : '(no final line)');
  if (f(ref.final) !== f(cand.final)) diffs.push(`final: reference ${f(ref.final)}, candidate ${f(cand.final)}`);
  return diffs;
}

/**
 * @typedef {object} ConformanceResult
 * @property {string} name
 * @property {boolean} passed
 * @property {QemuRun} run
 * @property {SerialLog} log
 * @property {string} logPath
 */

/**
 * Builds and runs one program on QEMU; writes `outDir/<name>.qemu.log`.
 * @param {string} name
 * @param {{ outDir?: string, qemu?: string }} [options]
 * @returns {Promise<ConformanceResult>}
 */
export async function runGuestOnQemu(name, options = {}) {
  const guest = await buildGuest(name);
  const run = await runOnQemu(guest.path, { qemuArgs: guest.qemuArgs, timeoutMs: guest.timeoutMs, qemu: options.qemu });
  const log = parseSerial(run.serial);
  const passed = run.status === 1 && !run.timedOut && log.final !== null && log.final.passed && log.final.name === name;
  const outDir = options.outDir ?? path.join(defaultCacheDir(), 'qemu-logs');
  fs.mkdirSync(outDir, { recursive: true });
  const logPath = path.join(outDir, `${name}.qemu.log`);
  fs.writeFileSync(logPath, run.serial);
  return { name, passed, run, log, logPath };
}

/**
 * Runs a program on hvkit (`@hvkit/machine`, built `dist`) and returns its serial output and how
 * the run ended: the CPU programs on the minimal board, the `machine=pc` ones on `createPc` with
 * the CPUs and devices they ask for (as test/hvkit.test.ts does), VT-x programs with
 * `virtualization: 'vmx'`, SVM programs with `virtualization: 'svm'` on the AMD model.
 * @param {string} name
 */
export async function runGuestOnHvkit(name) {
  const { MinimalBoard, createPc } = await import('@hvkit/machine');
  const guest = await buildGuest(name);
  const amd = guest.svm ? (await import('@hvkit/x86')).AMD_ZEN : undefined;
  const virt = guest.vmx ? { virtualization: /** @type {const} */ ('vmx') } : guest.svm ? { virtualization: /** @type {const} */ ('svm') } : {};
  const image = new Uint8Array(fs.readFileSync(guest.path));
  const budget = name === 'bench' ? 3_000_000_000 : 500_000_000;
  if (guest.pc) {
    /** @type {import('@hvkit/machine').PcDeviceSpec[]} */
    const devices = [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }];
    for (const d of guest.devices) if (d === 'pc-testdev') devices.push({ type: 'pc-testdev' });
    const pc = createPc({ memoryMiB: 64, cpus: guest.smp, devices, ...virt, ...(amd ? { cpuModel: amd } : {}) });
    pc.bootMultiboot(image, { cmdline: name });
    const stop = pc.run(budget);
    return { serial: pc.serialOutput, stop };
  }
  const board = new MinimalBoard({ memoryMiB: 64, ...virt, ...(amd ? { model: amd } : {}) });
  board.bootMultiboot(image, { cmdline: name });
  const stop = board.run(budget);
  return { serial: board.serialOutput, stop };
}

/** @param {string[]} argv */
async function main(argv) {
  /** @type {string | undefined} */
  let outDir;
  /** @type {string | undefined} */
  let compareDir;
  let qemu = QEMU;
  let withHvkit = false;
  const names = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--out') outDir = argv[++i];
    else if (a === '--compare') compareDir = argv[++i];
    else if (a === '--hvkit') withHvkit = true;
    else if (a === '--qemu') qemu = argv[++i] ?? QEMU;
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node scripts/qemu-conformance.mjs [--out DIR] [--compare DIR | --hvkit] [--qemu PATH] [NAME...]\n');
      return 0;
    } else names.push(a);
  }
  if (!qemuAvailable(qemu)) {
    process.stderr.write(`${qemu} is not installed: nothing to run (Debian: apt-get install qemu-system-x86)\n`);
    return 2;
  }
  let failures = 0;
  for (const name of names.length ? names : guestNames()) {
    if (guestInfo(name).vmx) {
      // QEMU's TCG accelerator does not emulate VMX (-cpu max,+vmx needs KVM): nothing to compare with.
      process.stdout.write(`SKIP ${name}: needs VT-x (cpu=max,+vmx), which QEMU TCG does not emulate; see scripts/bochs-conformance.mjs\n`);
      continue;
    }
    const r = await runGuestOnQemu(name, { outDir, qemu });
    const counts = { ok: 0, FAIL: 0, SKIP: 0 };
    for (const c of r.log.checks) counts[c.kind]++;
    const verdict = r.passed ? 'PASS' : 'FAIL';
    const why = r.run.timedOut ? ' (timed out)' : r.passed ? '' : ` (exit status ${r.run.status})`;
    process.stdout.write(`${verdict} ${name}: ${counts.ok} ok, ${counts.FAIL} failed, ${counts.SKIP} skipped${why} -> ${r.logPath}\n`);
    for (const c of r.log.checks) if (c.kind !== 'ok') process.stdout.write(`    ${c.line}\n`);
    if (!r.passed) {
      failures++;
      if (r.log.final && !r.log.final.passed) process.stdout.write(`    ${r.log.final.name}: ${r.log.final.reason}\n`);
      if (r.run.stderr.trim()) process.stdout.write(`    qemu: ${r.run.stderr.trim()}\n`);
    }
    if (withHvkit) {
      const hv = await runGuestOnHvkit(name);
      const diffs = compareSerial(r.run.serial, hv.serial);
      process.stdout.write(`    hvkit: ${hv.stop.reason}${hv.stop.reason === 'exit' ? ` status ${hv.stop.status}` : ''}, ${hv.stop.instructions} instructions, ${diffs.length ? `${diffs.length} differences` : 'same serial output as QEMU'}\n`);
      for (const d of diffs) process.stdout.write(`    differs: ${d.replace(/\n/g, '\n             ')}\n`);
      if (diffs.length) failures++;
    }
    if (compareDir) {
      const other = path.join(compareDir, `${name}.hvkit.log`);
      if (!fs.existsSync(other)) {
        process.stdout.write(`    compare: no ${other}\n`);
        failures++;
      } else {
        const diffs = compareSerial(r.run.serial, fs.readFileSync(other, 'latin1'));
        for (const d of diffs) process.stdout.write(`    differs: ${d.replace(/\n/g, '\n             ')}\n`);
        if (diffs.length) failures++;
      }
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
