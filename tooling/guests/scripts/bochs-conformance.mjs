#!/usr/bin/env node
// @ts-check
/**
 * Runs the VT-x programs (`cpu=max,+vmx`) on Bochs, the peer implementation of VMX to compare
 * hvkit with (QEMU's TCG has no VMX), and the SVM programs (`cpu=max,+svm`) on its `ryzen` model
 * (a second peer beside QEMU TCG), then the same programs on hvkit, and reports every check
 * whose line differs (compareSerial, Bochs as the reference). Where Bochs departs from the
 * SDM/APM, README.md lists the checks and test/bochs.test.ts expects those failures.
 *
 *     node --conditions=@hvkit/source --import ../bench/node_modules/tsx/dist/esm/index.mjs \
 *         scripts/bochs-conformance.mjs \
 *         [--cpu MODEL] [--keep DIR] [--no-hvkit] [--timeout S] [NAME...]
 *
 * (`--conditions=@hvkit/source` with tsx runs hvkit from the working tree; plain `node` uses the
 * built `dist` of @hvkit/machine.)
 *
 * Needs Debian's `bochs` (2.7, built with `--enable-vmx=2`) with `bochsbios` and `vgabios`, and,
 * because Bochs has no Multiboot loader, GRUB to boot the images: `grub-mkrescue` with the BIOS
 * platform (`grub-pc-bin`, `grub-common`) and `xorriso` (`mtools` for EFI images) make a CD
 * image whose grub.cfg loads the program with `multiboot /boot/kernel.elf <name>`. Missing tools
 * are reported and the script exits 0: there is nothing to compare with.
 *
 * The Bochs configuration: `cpu: model=corei7_skylake_x` (VMX with EPT, VPID, unrestricted
 * guest, the preemption timer, EPTP switching and EPT A/D bits) for the VT-x programs,
 * `cpu: model=ryzen` (SVM with nested paging and NRIPS) for the SVM ones, `count=<smp>`, 64 MiB, COM1 to
 * a file, the CD on ata0-slave, `clock: sync=none` (instructions, not wall time, drive the
 * clocks), the speaker and sound off, `display_library: nogui` (Debian's build has no `nogui`:
 * then `rfb` with `timeout=0`, which does not wait for a client). Debian's Bochs is built with
 * its debugger, which stops at the first instruction: a debugger script (`-rc`) says
 * `continue`. Bochs has no isa-debug-exit device, so a program ends with a triple fault
 * (report.c), which `reset_on_triple_fault=0` makes a panic and the shutdown state. Not every
 * triple fault ends the run: in an SVM guest whose shutdown intercept is set, Bochs reports the
 * panic (and its debugger stops) before it checks the intercept and exits to the host, which
 * goes on. So the debugger script says `continue` at each stop, and the script ends the run when
 * Bochs has reported a triple fault and the serial log has not grown for a while after it.
 * Other panics (what Bochs does not implement) are only reported, so the program goes on to its
 * verdict; a run that does not end in time is interrupted (SIGINT, then SIGKILL). The verdict
 * comes from the serial log.
 *
 * On hvkit each program runs on `MinimalBoard`, or on `createPc` for the PC programs (with their
 * CPUs and devices), with `virtualization: 'vmx'`, or `'svm'` on the AMD model for the SVM
 * programs (runGuestOnHvkit), as test/hvkit.test.ts does. With `--keep DIR`
 * the logs stay in DIR: `<name>.bochs.log`, `<name>.hvkit.log`, and `<name>/` with the ISO,
 * the bochsrc and Bochs' own log `bochs.out`.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuest, guestInfo, guestNames } from '../build.mjs';
import { compareSerial, parseSerial, runGuestOnHvkit } from './qemu-conformance.mjs';

/** The Bochs binary: `$HVKIT_BOCHS` or `bochs` on the PATH. */
export const BOCHS = process.env['HVKIT_BOCHS'] || 'bochs';
/**
 * A CPU model of Bochs 2.7 with VMX: Skylake-X has every VMX feature Bochs implements that the
 * suite uses (EPT with A/D bits, VPID, unrestricted guest, the preemption timer, VMFUNC EPTP
 * switching, PAUSE-loop exiting); corei7_haswell_4770 lacks some of them.
 */
export const DEFAULT_BOCHS_CPU = 'corei7_skylake_x';
/**
 * Bochs 2.7's CPU model for the SVM programs (`cpu=max,+svm`): `ryzen` has SVM (CPUID
 * 8000_000Ah EDX = 44Fh: nested paging, LBR virtualization, NRIPS, the pause filter); the other
 * models are Intel ones or AMD ones without SVM. The bench runs svmbench on it too.
 */
export const BOCHS_SVM_CPU = 'ryzen';

/**
 * The programs the script runs by default: the VT-x and SVM conformance programs, not the
 * benchmarks (vmxbench, svmbench).
 */
export function bochsProgramNames() {
  return guestNames().filter((n) => (guestInfo(n).vmx || guestInfo(n).svm) && n !== 'vmxbench' && n !== 'svmbench');
}

/**
 * The Bochs CPU model for a program: `override` (`--cpu`) if given, else `ryzen` for the SVM
 * programs and Skylake-X for the VT-x ones.
 * @param {string} name
 * @param {string} [override]
 */
export function bochsCpuFor(name, override) {
  return override ?? (guestInfo(name).svm ? BOCHS_SVM_CPU : DEFAULT_BOCHS_CPU);
}
/** How many triple faults the debugger script continues after (an SVM guest's shutdown intercept). */
const TRIPLE_FAULTS_CONTINUED = 8;
/** How long the serial log must stay unchanged after a triple fault for the run to end. */
const TRIPLE_FAULT_QUIET_MS = 1500;
/** What Bochs logs at a triple fault with `reset_on_triple_fault=0`. */
const TRIPLE_FAULT_MESSAGE = 'exception with no resolution';
/** Bochs' BIOS (package bochsbios). */
const BOCHS_BIOS = '/usr/share/bochs/BIOS-bochs-latest';
/** GRUB's BIOS platform files: without them grub-mkrescue makes an image a BIOS cannot boot. */
const GRUB_I386_PC = '/usr/lib/grub/i386-pc';

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
  else if (!fs.existsSync(BOCHS_BIOS)) missing.push(`the Bochs BIOS ${BOCHS_BIOS} (Debian: apt-get install bochsbios)`);
  if (!onPath('grub-mkrescue') || !onPath('xorriso')) missing.push('grub-mkrescue and xorriso, to boot Multiboot images (Debian: apt-get install grub-pc-bin grub-common xorriso mtools)');
  else if (!fs.existsSync(GRUB_I386_PC)) missing.push(`GRUB for BIOS (${GRUB_I386_PC}; Debian: apt-get install grub-pc-bin)`);
  return missing;
}

/**
 * @typedef {object} BochsSetup
 * @property {string} display the `display_library:` line's value
 * @property {string[]} extra further configuration lines this build understands
 * @property {boolean} debugger whether Bochs was built with its debugger (then it needs `-rc`)
 */

/** @type {BochsSetup | undefined} */
let setupCache;

/**
 * What this build of Bochs accepts, found once by starting it with a configuration whose ROM
 * image does not exist (it stops at once, after parsing the configuration).
 * @returns {BochsSetup}
 */
export function bochsSetup() {
  if (setupCache) return setupCache;
  const help = spawnSync(BOCHS, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  const debuggerBuilt = /-rc\s+filename/.test(`${help.stdout}${help.stderr}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvkit-bochs-probe-'));
  let display = 'nogui';
  let extra = ['speaker: enabled=0', 'sound: driver=dummy'];
  try {
    const rc = path.join(dir, 'dbg.rc');
    fs.writeFileSync(rc, 'quit\n');
    for (let attempt = 0; attempt < 4; attempt++) {
      const cfg = path.join(dir, 'bochsrc');
      fs.writeFileSync(cfg, [`display_library: ${display}`, ...extra, `romimage: file=${path.join(dir, 'no-such-rom')}`, 'log: -', ''].join('\n'));
      const r = spawnSync(BOCHS, ['-q', '-f', cfg, ...(debuggerBuilt ? ['-rc', rc] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
      const out = `${r.stdout}${r.stderr}`;
      if (/display library 'nogui' not available/.test(out) && display === 'nogui') display = 'rfb, options="timeout=0"';
      else if (/directive 'sound' not understood/.test(out)) extra = extra.filter((l) => !l.startsWith('sound:'));
      else if (/directive 'speaker' not understood/.test(out)) extra = extra.filter((l) => !l.startsWith('speaker:'));
      else break;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  setupCache = { display, extra, debugger: debuggerBuilt };
  return setupCache;
}

/**
 * Makes a GRUB rescue CD that boots `elf` with Multiboot: `DIR/<name>.iso`.
 * @param {string} elf
 * @param {string} dir a work directory (created)
 * @param {{ name: string, cmdline?: string }} options
 */
export function makeGrubIso(elf, dir, options) {
  const tree = path.join(dir, 'iso');
  fs.rmSync(tree, { recursive: true, force: true });
  fs.mkdirSync(path.join(tree, 'boot', 'grub'), { recursive: true });
  fs.copyFileSync(elf, path.join(tree, 'boot', 'kernel.elf'));
  fs.writeFileSync(
    path.join(tree, 'boot', 'grub', 'grub.cfg'),
    `set timeout=0\nset default=0\nmultiboot /boot/kernel.elf ${options.cmdline ?? options.name}\nboot\n`,
  );
  const iso = path.join(dir, `${options.name}.iso`);
  const mk = spawnSync('grub-mkrescue', ['-o', iso, tree], { encoding: 'utf8' });
  if (mk.status !== 0) throw new Error(`grub-mkrescue failed (status ${mk.status}): ${mk.stderr || mk.error?.message}`);
  return iso;
}

/**
 * @typedef {object} SerialMark
 * @property {number} wallMs `performance.now()` when the line was seen in the serial file
 * @property {number | null} cpuSeconds Bochs' user + system time then (/proc; null elsewhere)
 */

/**
 * @typedef {object} BochsRun
 * @property {string} serial everything the guest wrote to COM1, CR LF turned into LF
 * @property {'exit' | 'triple-fault' | 'verdict' | 'timeout'} ended how the run ended: a triple fault
 *   (the programs' last act), the verdict line not followed by one, the time limit, or Bochs exiting by itself
 * @property {boolean} timedOut
 * @property {number | null} status Bochs' exit status (it is stopped by a signal)
 * @property {string} serialPath
 * @property {string} logPath Bochs' own log
 * @property {number} wallMs from the start of Bochs to its end
 */

/** @param {number} pid the CPU seconds (user + system) of a running process, from /proc; null if unknown */
function procCpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5) (utime, stime), counted from the state (field 3) here.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/**
 * Boots a Multiboot image on Bochs from a GRUB CD and collects its serial output. `onLine` sees
 * each serial line as Bochs writes it (the serial file is polled every few milliseconds), with
 * the time it was seen and Bochs' CPU time then: the bench times phases between `# mark` lines.
 * @param {string} elf
 * @param {{ name: string, workDir: string, cpu?: string, smp?: number, megs?: number, cmdline?: string,
 *   timeoutMs: number, onLine?: (line: string, mark: SerialMark) => void }} options
 * @returns {Promise<BochsRun>}
 */
export async function runOnBochs(elf, options) {
  const setup = bochsSetup();
  fs.mkdirSync(options.workDir, { recursive: true });
  const iso = makeGrubIso(elf, options.workDir, options);
  const serialPath = path.join(options.workDir, 'serial.log');
  const logPath = path.join(options.workDir, 'bochs.out');
  fs.rmSync(serialPath, { force: true });
  const vga = firstFile(['/usr/share/vgabios/vgabios.bin', '/usr/share/bochs/VGABIOS-lgpl-latest']);
  const rc = [
    `megs: ${options.megs ?? 64}`,
    `cpu: model=${options.cpu ?? DEFAULT_BOCHS_CPU}, count=${options.smp ?? 1}, ips=100000000, reset_on_triple_fault=0`,
    `romimage: file=${BOCHS_BIOS}`,
    ...(vga ? [`vgaromimage: file=${vga}`] : []),
    `ata0-slave: type=cdrom, path=${iso}, status=inserted`,
    'boot: cdrom',
    `com1: enabled=1, mode=file, dev=${serialPath}`,
    `display_library: ${setup.display}`,
    ...setup.extra,
    'mouse: enabled=0',
    'magic_break: enabled=0',
    `log: ${logPath}`,
    // Bochs panics where it does not implement something (VMCALL in VMX root operation with a
    // clear VMCS, for one) and at a triple fault: the run goes on, and the program's verdict
    // line ends it. The CPUs' modules keep their own action unless named.
    `panic: action=report, ${Array.from({ length: options.smp ?? 1 }, (_, i) => `cpu${i}=report`).join(', ')}`,
    'error: action=report',
    'clock: sync=none, time0=local',
  ].join('\n');
  const rcPath = path.join(options.workDir, 'bochsrc');
  fs.writeFileSync(rcPath, `${rc}\n`);
  const dbgPath = path.join(options.workDir, 'debugger.rc');
  // One `continue` for the start and one for each triple fault (see above), then `quit`.
  fs.writeFileSync(dbgPath, `${'continue\n'.repeat(TRIPLE_FAULTS_CONTINUED + 1)}quit\n`);
  const t0 = performance.now();
  const child = spawn(BOCHS, ['-q', '-f', rcPath, ...(setup.debugger ? ['-rc', dbgPath] : [])], { stdio: 'ignore' });
  /** @type {(why: 'triple-fault' | 'verdict' | 'timeout') => void} */
  let stop = () => {};
  const serialFile = tailer(serialPath);
  const logFile = tailer(logPath);
  let partial = '';
  let tripleFault = false;
  let serialBytes = 0;
  let logCarry = '';
  const finalLine = new RegExp(`^(PASS ${options.name}|FAIL ${options.name}: .*)$`);
  const poll = () => {
    const text = serialFile.read();
    serialBytes += text.length;
    partial += text;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl).replace(/\r$/, '');
      partial = partial.slice(nl + 1);
      options.onLine?.(line, { wallMs: performance.now(), cpuSeconds: child.pid ? procCpuSeconds(child.pid) : null });
      // The verdict normally comes just before the triple fault that ends the run. Not always:
      // a guest that shares the host's IDT prints it when it takes an unexpected exception,
      // and its triple fault is only a VM exit. So the verdict ends the run only if no triple
      // fault does within a few seconds.
      if (finalLine.test(line)) setTimeout(() => stop('verdict'), 10_000).unref();
    }
    // The log is read in chunks: a message may straddle two reads, so the end of the previous
    // chunk is kept and only a match that ends in the new text counts.
    const logText = logCarry + logFile.read();
    const hit = logText.lastIndexOf(TRIPLE_FAULT_MESSAGE);
    const newHit = hit >= 0 && hit + TRIPLE_FAULT_MESSAGE.length > logCarry.length;
    logCarry = logText.slice(-TRIPLE_FAULT_MESSAGE.length);
    if (newHit) {
      // The CPU is in the shutdown state, unless the triple fault was an SVM guest's with the
      // shutdown intercept set (#VMEXIT 7Fh; the host goes on and prints its checks): the run
      // ends if the serial log stays as it is for a while.
      tripleFault = true;
      const seen = serialBytes;
      setTimeout(() => {
        poll();
        if (serialBytes === seen) stop('triple-fault');
      }, TRIPLE_FAULT_QUIET_MS).unref();
    }
  };
  const poller = setInterval(poll, options.onLine ? 5 : 100);
  /** @type {{ ended: 'exit' | 'triple-fault' | 'verdict' | 'timeout' }} */
  const how = { ended: 'exit' };
  const status = await new Promise((resolve) => {
    stop = (why) => {
      if (how.ended !== 'exit') return;
      how.ended = why;
      // Without the debugger Bochs quits at SIGINT; the debugger stops and reads its script,
      // which may say `continue` (the CPU idles in the shutdown state): then SIGKILL.
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), setup.debugger ? 1000 : 3000).unref();
    };
    const timer = setTimeout(() => stop('timeout'), options.timeoutMs);
    child.on('error', () => resolve(null));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  clearInterval(poller);
  const wallMs = performance.now() - t0;
  poll();
  if (partial) options.onLine?.(partial.replace(/\r$/, ''), { wallMs: performance.now(), cpuSeconds: null });
  // Bochs may hold its log back until it exits (the debugger keeps it running in the shutdown
  // state), so a triple fault can show only in the last read: a run stopped on its verdict that
  // did end in a triple fault is reported as one.
  const ended = (how.ended === 'exit' || how.ended === 'verdict') && tripleFault ? 'triple-fault' : how.ended;
  const serial = serialFile.all().replace(/\r\n/g, '\n');
  return { serial, ended, timedOut: ended === 'timeout', status, serialPath, logPath, wallMs };
}

/**
 * Reads a file that another process appends to, a chunk at a time (empty until it exists).
 * @param {string} file
 */
function tailer(file) {
  let offset = 0;
  let text = '';
  const chunk = Buffer.alloc(65536);
  return {
    read() {
      let fd;
      try {
        fd = fs.openSync(file, 'r');
      } catch {
        return '';
      }
      let fresh = '';
      try {
        let n;
        while ((n = fs.readSync(fd, chunk, 0, chunk.length, offset)) > 0) {
          offset += n;
          fresh += chunk.subarray(0, n).toString('latin1');
        }
      } finally {
        fs.closeSync(fd);
      }
      text += fresh;
      return fresh;
    },
    all() {
      this.read();
      return text;
    },
  };
}

/**
 * Builds one program and runs it on Bochs with the CPUs it asks for; writes `outDir/<name>.bochs.log`.
 * @param {string} name
 * @param {{ cpu?: string, outDir: string, timeoutMs?: number }} options
 */
export async function runGuestOnBochs(name, options) {
  const guest = await buildGuest(name);
  const run = await runOnBochs(guest.path, {
    name,
    workDir: path.join(options.outDir, name),
    cpu: bochsCpuFor(name, options.cpu),
    smp: guest.smp,
    timeoutMs: options.timeoutMs ?? Math.max(guest.timeoutMs * 4, 180_000),
  });
  const logPath = path.join(options.outDir, `${name}.bochs.log`);
  fs.writeFileSync(logPath, run.serial);
  return { name, ...run, log: parseSerial(run.serial), logPath };
}

/**
 * Runs one VT-x program on hvkit as test/hvkit.test.ts does; returns its serial output and how it stopped.
 * @param {string} name
 */
export async function runGuestOnHvkitVmx(name) {
  const { MinimalBoard, createPc } = await import('@hvkit/machine');
  const guest = await buildGuest(name);
  const image = new Uint8Array(fs.readFileSync(guest.path));
  if (guest.pc) {
    /** @type {import('@hvkit/machine').PcDeviceSpec[]} */
    const devices = [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }];
    for (const d of guest.devices) {
      if (d !== 'pc-testdev') throw new Error(`${name}: no hvkit device for -device ${d}`);
      devices.push({ type: 'pc-testdev' });
    }
    const pc = createPc({ memoryMiB: 64, cpus: guest.smp, devices, virtualization: 'vmx' });
    pc.bootMultiboot(image, { cmdline: name });
    const stop = pc.run(500_000_000);
    return { serial: pc.serialOutput, stop };
  }
  const board = new MinimalBoard({ memoryMiB: 64, virtualization: 'vmx' });
  board.bootMultiboot(image, { cmdline: name });
  const stop = board.run(500_000_000);
  return { serial: board.serialOutput, stop };
}

/**
 * @typedef {object} BochsDifference
 * @property {'differs' | 'not-on-hvkit' | 'missing' | 'extra' | 'final'} kind `differs`: both ran
 *   the check with different outcomes; `not-on-hvkit`: hvkit skipped it (a feature its capability
 *   MSRs do not report); `missing`: hvkit printed no such check (a path chosen by a capability,
 *   or hvkit stopped); `extra`: a check only hvkit ran failed; `final`: the verdict lines differ
 * @property {string} bochs Bochs' line ('' for `extra`)
 * @property {string} hvkit hvkit's line ('' for `missing`)
 */

/**
 * The checks whose lines differ between the Bochs log (the reference) and hvkit's, from
 * compareSerial, sorted into kinds.
 * @param {string} bochs
 * @param {string} hvkit
 * @returns {BochsDifference[]}
 */
export function bochsDifferences(bochs, hvkit) {
  return compareSerial(bochs, hvkit).map((d) => {
    let m;
    if ((m = /^reference: (.*)\ncandidate: (.*)$/s.exec(d))) {
      const [, b = '', h = ''] = m;
      return { kind: h.startsWith('SKIP ') ? 'not-on-hvkit' : 'differs', bochs: b, hvkit: h };
    }
    if ((m = /^missing: (.*)$/s.exec(d))) return { kind: 'missing', bochs: m[1] ?? '', hvkit: '' };
    if ((m = /^extra: (.*)$/s.exec(d))) return { kind: 'extra', bochs: '', hvkit: m[1] ?? '' };
    m = /^final: reference (.*), candidate (.*)$/s.exec(d);
    return { kind: 'final', bochs: m?.[1] ?? d, hvkit: m?.[2] ?? '' };
  });
}

/** @param {string[]} argv */
async function main(argv) {
  /** @type {string | undefined} */
  let cpu;
  /** @type {string | undefined} */
  let keep;
  let withHvkit = true;
  /** @type {number | undefined} */
  let timeoutMs;
  const names = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--cpu') cpu = argv[++i] ?? cpu;
    else if (a === '--keep' || a === '--out') keep = argv[++i];
    else if (a === '--hvkit') withHvkit = true;
    else if (a === '--no-hvkit') withHvkit = false;
    else if (a === '--timeout') timeoutMs = Number(argv[++i]) * 1000;
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node scripts/bochs-conformance.mjs [--cpu MODEL] [--keep DIR] [--no-hvkit] [--timeout S] [NAME...]\n');
      return 0;
    } else names.push(a);
  }
  const missing = bochsMissing();
  if (missing.length) {
    process.stdout.write(`bochs-conformance: SKIP, nothing to compare with; missing:\n${missing.map((m) => `  - ${m}\n`).join('')}`);
    return 0;
  }
  const outDir = keep ? path.resolve(keep) : fs.mkdtempSync(path.join(os.tmpdir(), 'hvkit-bochs-'));
  fs.mkdirSync(outDir, { recursive: true });
  const setup = bochsSetup();
  if (withHvkit) {
    let where = '@hvkit/machine';
    try {
      where = fileURLToPath(import.meta.resolve('@hvkit/machine'));
    } catch {
      // reported as the package name
    }
    process.stdout.write(`bochs-conformance: Bochs ${cpu ?? `${DEFAULT_BOCHS_CPU} (VT-x), ${BOCHS_SVM_CPU} (SVM)`} (display ${setup.display}${setup.debugger ? ', debugger: -rc continue' : ''}) against hvkit from ${where}\n`);
  }
  let failures = 0;
  try {
    for (const name of names.length ? names : bochsProgramNames()) {
      const r = await runGuestOnBochs(name, { cpu, outDir, timeoutMs });
      const counts = { ok: 0, FAIL: 0, SKIP: 0 };
      for (const c of r.log.checks) counts[c.kind]++;
      const passed = r.log.final?.passed === true && r.log.final.name === name;
      const end = r.timedOut ? ' (timed out)' : !r.log.final ? ` (${r.serial ? 'no verdict line' : 'no serial output'}, ended: ${r.ended}; see ${r.logPath})` : '';
      process.stdout.write(`${passed ? 'PASS' : 'FAIL'} ${name} on Bochs ${bochsCpuFor(name, cpu)}: ${counts.ok} ok, ${counts.FAIL} failed, ${counts.SKIP} skipped, ${(r.wallMs / 1000).toFixed(1)} s${end}\n`);
      if (!withHvkit) for (const c of r.log.checks) if (c.kind === 'FAIL') process.stdout.write(`    bochs ${c.line}\n`);
      if (r.log.final && !r.log.final.passed) process.stdout.write(`    bochs FAIL ${r.log.final.name}: ${r.log.final.reason}\n`);
      if (!withHvkit) continue;
      const hv = guestInfo(name).svm ? await runGuestOnHvkit(name) : await runGuestOnHvkitVmx(name);
      fs.writeFileSync(path.join(outDir, `${name}.hvkit.log`), hv.serial);
      const hvLog = parseSerial(hv.serial);
      const onlyHvkit = hvLog.checks.filter((c) => c.kind !== 'SKIP' && r.log.checks.find((b) => b.check === c.check)?.kind === 'SKIP').length;
      const diffs = bochsDifferences(r.serial, hv.serial);
      const real = diffs.filter((d) => d.kind !== 'not-on-hvkit');
      const notOnHvkit = diffs.filter((d) => d.kind === 'not-on-hvkit');
      process.stdout.write(
        `    hvkit (${hv.stop.reason}${hv.stop.reason === 'exit' ? ` status ${hv.stop.status}` : ''}): ${hvLog.final ? (hvLog.final.passed ? 'PASS' : 'FAIL') : 'no verdict'}; ` +
          `${real.length ? `${real.length} checks differ from Bochs` : 'no check differs from Bochs'}` +
          `${notOnHvkit.length ? `; ${notOnHvkit.length} skipped on hvkit (not exposed there)` : ''}` +
          `${onlyHvkit ? `; ${onlyHvkit} ran on hvkit only (Bochs skipped them)` : ''}\n`,
      );
      for (const d of real) {
        if (d.kind === 'differs') process.stdout.write(`    differs:\n      bochs: ${d.bochs}\n      hvkit: ${d.hvkit}\n`);
        else if (d.kind === 'missing') process.stdout.write(`    not run on hvkit:\n      bochs: ${d.bochs}\n`);
        else if (d.kind === 'extra') process.stdout.write(`    failed on hvkit only:\n      hvkit: ${d.hvkit}\n`);
        else process.stdout.write(`    verdict:\n      bochs: ${d.bochs}\n      hvkit: ${d.hvkit}\n`);
      }
      for (const d of notOnHvkit) process.stdout.write(`    skipped on hvkit: ${d.hvkit.replace(/^SKIP /, '')} (bochs: ${d.bochs.split(' -- ')[0]?.split(' ')[0]})\n`);
      if (real.length) failures++;
    }
  } finally {
    if (keep) process.stdout.write(`logs: ${outDir}/<name>.bochs.log, <name>.hvkit.log, <name>/bochs.out\n`);
    else fs.rmSync(outDir, { recursive: true, force: true });
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
