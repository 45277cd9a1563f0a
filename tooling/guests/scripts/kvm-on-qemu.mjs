#!/usr/bin/env node
// @ts-check
/**
 * Validates the KVM initramfs on QEMU: boots Debian's kernel (`pnpm guests:linux`) with
 * `initrd-kvm.gz` under `qemu-system-x86_64 -accel tcg -cpu max` (TCG emulates AMD SVM, so the
 * guest's /proc/cpuinfo shows `svm` and `/init` loads `kvm-amd`), runs `/bin/kvmtest` at the
 * shell prompt and powers off. Prints the serial log, then a summary; exits 0 when the modules
 * loaded and kvmtest printed `kvmtest: PASS`.
 *
 *     node tooling/guests/scripts/kvm-on-qemu.mjs [--qemu PATH] [--cpu MODEL] [--timeout SECONDS] [--quiet]
 *
 * This is the oracle for the hvkit end-to-end test (`apps/cli/test/linux-kvm.test.ts`), which
 * runs the same program under `hvkit-system-x86_64 -cpu max,+vmx` with `kvm-intel`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KVM_MARKER, LINUX_MARKER, LINUX_PROMPT, prepareLinux } from '../linux.mjs';
import { QEMU } from './qemu-conformance.mjs';

/**
 * Boots the KVM initramfs on QEMU, runs kvmtest and powers off.
 * @param {{ qemu?: string, cpu?: string, timeoutSeconds?: number, onOutput?: (text: string) => void }} [options]
 * @returns {Promise<{ log: string, status: number | null, timedOut: boolean, pass: boolean, kvm: string | null, moduleSeconds: number | null, markerSeconds: number | null, kvmtestSeconds: number | null, initrdBytes: number, initrdKvmBytes: number }>}
 */
export async function runKvmOnQemu(options = {}) {
  const guest = prepareLinux();
  if (!guest.initrdKvm) throw new Error(`kvm-on-qemu: no KVM initramfs: ${guest.kvmWhy}`);
  const fs = await import('node:fs');
  const args = [
    '-accel', 'tcg',
    '-cpu', options.cpu ?? 'max',
    '-m', '512',
    '-smp', '1',
    '-nographic',
    '-no-reboot',
    '-kernel', guest.kernel,
    '-initrd', guest.initrdKvm,
    '-append', 'console=ttyS0 panic=-1',
  ];
  const child = spawn(options.qemu ?? QEMU, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  const t0 = performance.now();
  /** @type {number | null} */ let markerAt = null;
  /** @type {number | null} */ let kvmtestStart = null;
  /** @type {number | null} */ let kvmtestEnd = null;
  // The console session: after the prompt, run kvmtest; after its verdict, power off.
  const steps = [
    { waitFor: LINUX_PROMPT, send: 'kvmtest; echo kvmtest-""status=$?\n' },
    { waitFor: 'kvmtest-status=', send: '' },
    { waitFor: LINUX_PROMPT, send: 'poweroff -f\n' },
  ];
  let cursor = 0;
  let next = 0;
  const onData = (/** @type {Buffer} */ chunk) => {
    const text = chunk.toString('latin1');
    log += text;
    options.onOutput?.(text);
    if (markerAt === null && log.includes(LINUX_MARKER)) markerAt = (performance.now() - t0) / 1000;
    if (markerAt === null) return;
    while (next < steps.length) {
      const at = log.indexOf(steps[next].waitFor, cursor);
      if (at < 0) break;
      cursor = at + steps[next].waitFor.length;
      if (next === 0) kvmtestStart = performance.now();
      if (next === 1) kvmtestEnd = performance.now();
      if (steps[next].send) child.stdin.write(steps[next].send);
      next++;
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, (options.timeoutSeconds ?? 600) * 1000);
  const status = await new Promise((resolve) => child.on('close', (code) => resolve(code)));
  clearTimeout(timer);
  const kvm = new RegExp(`${KVM_MARKER}(\\w+)`).exec(log)?.[1] ?? null;
  const seconds = /hvkit-linux: kvm-modules vendor=\w+ seconds=([\d.]+)/.exec(log);
  return {
    log,
    status,
    timedOut,
    pass: kvm === 'loaded' && /^kvmtest: PASS\r?$/m.test(log) && log.includes('kvmtest-status=0'),
    kvm,
    moduleSeconds: seconds ? Number(seconds[1]) : null,
    markerSeconds: markerAt,
    kvmtestSeconds: kvmtestStart !== null && kvmtestEnd !== null ? (kvmtestEnd - kvmtestStart) / 1000 : null,
    initrdBytes: fs.statSync(guest.initrd).size,
    initrdKvmBytes: fs.statSync(guest.initrdKvm).size,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  /** @type {{ qemu?: string, cpu?: string, timeoutSeconds?: number }} */
  const options = {};
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--qemu') options.qemu = argv[++i];
    else if (a === '--cpu') options.cpu = argv[++i];
    else if (a === '--timeout') options.timeoutSeconds = Number(argv[++i]);
    else if (a === '--quiet') quiet = true;
    else {
      process.stderr.write(`kvm-on-qemu: unknown option ${a}\n`);
      process.exit(2);
    }
  }
  try {
    const r = await runKvmOnQemu({ ...options, onOutput: quiet ? undefined : (t) => process.stdout.write(t) });
    if (quiet) process.stdout.write(r.log);
    const kb = (/** @type {number} */ n) => `${(n / 1024).toFixed(0)} KiB`;
    process.stdout.write(
      `\nkvm-on-qemu: kvm=${r.kvm} modules loaded in ${r.moduleSeconds ?? '?'} s (guest uptime); marker after ${r.markerSeconds?.toFixed(1) ?? '?'} s, ` +
        `kvmtest ran ${r.kvmtestSeconds?.toFixed(1) ?? '?'} s (host); initrd ${kb(r.initrdBytes)} -> initrd-kvm ${kb(r.initrdKvmBytes)}; ` +
        `QEMU status ${r.status}${r.timedOut ? ' (timed out)' : ''}: ${r.pass ? 'PASS' : 'FAIL'}\n`,
    );
    process.exit(r.pass ? 0 : 1);
  } catch (e) {
    process.stderr.write(`${/** @type {Error} */ (e).message}\n`);
    process.exit(1);
  }
}
