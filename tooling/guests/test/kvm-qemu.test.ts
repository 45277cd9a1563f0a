/**
 * The KVM initramfs (`initrd-kvm.gz` of `prepareLinux`): what it holds, and, where
 * qemu-system-x86_64 is installed, that it works on QEMU TCG with `-cpu max` (AMD SVM, so
 * `/init` loads kvm-amd) with every kvmtest check passing. This is the oracle for hvkit's own
 * end-to-end test (apps/cli/test/linux-kvm.test.ts, with kvm-intel on `-cpu max,+vmx`).
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { KVM_MARKER, KVMTEST_CHECKS, prepareLinux, qemuAvailable, type PreparedLinux } from '../index.mjs';
import { runKvmOnQemu } from '../scripts/kvm-on-qemu.mjs';

let guest: PreparedLinux | null = null;
let why = '';
try {
  guest = prepareLinux();
  if (!guest.initrdKvm) why = `no KVM initramfs: ${guest.kvmWhy}`;
} catch (error) {
  why = (error as Error).message;
}

/** The entries of a gzipped newc cpio archive (buffer-format.rst): name -> mode and data. */
function readCpio(file: string): Map<string, { mode: number; data: Buffer }> {
  const buf = gunzipSync(readFileSync(file));
  const out = new Map<string, { mode: number; data: Buffer }>();
  let at = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (;;) {
    expect(buf.toString('latin1', at, at + 6)).toBe('070701');
    const field = (i: number) => parseInt(buf.toString('latin1', at + 6 + 8 * i, at + 14 + 8 * i), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = buf.toString('latin1', at + 110, at + 110 + nameSize - 1);
    if (name === 'TRAILER!!!') return out;
    const dataAt = align(at + 110 + nameSize);
    out.set(name, { mode, data: buf.subarray(dataAt, dataAt + size) });
    at = align(dataAt + size);
  }
}

describe.skipIf(guest === null || !guest.initrdKvm)(`the KVM initramfs${why ? ` (skipped: ${why})` : ''}`, () => {
  it('holds everything the plain one does, the KVM modules uncompressed, and a static /bin/kvmtest', () => {
    const plain = readCpio(guest!.initrd);
    const kvm = readCpio(guest!.initrdKvm!);
    for (const [name, entry] of plain) {
      expect(kvm.has(name), name).toBe(true);
      if (name !== 'init') expect(kvm.get(name)!.data.equals(entry.data), name).toBe(true);
    }
    const dir = `lib/modules/${guest!.release}/kernel`;
    const modules = ['virt/lib/irqbypass.ko', 'arch/x86/kvm/kvm.ko', 'arch/x86/kvm/kvm-intel.ko', 'arch/x86/kvm/kvm-amd.ko'];
    for (const m of modules) {
      const entry = kvm.get(`${dir}/${m}`);
      expect(entry, m).toBeDefined();
      expect(entry!.data.readUInt32BE(0), m).toBe(0x7f454c46);
      expect(entry!.data[16], `${m} is ET_REL`).toBe(1);
    }
    const kvmtest = kvm.get('bin/kvmtest')!;
    expect(kvmtest.mode).toBe(0o100755);
    expect(kvmtest.data.readUInt32BE(0)).toBe(0x7f454c46);
    expect(kvmtest.data[16], 'ET_EXEC: static, not position-independent').toBe(2);
    // No PT_INTERP: it needs no dynamic loader in the initramfs.
    const phoff = Number(kvmtest.data.readBigUInt64LE(0x20));
    const phnum = kvmtest.data.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++) expect(kvmtest.data.readUInt32LE(phoff + 56 * i)).not.toBe(3);
    // /init loads the dependencies first: irqbypass, then kvm, then the vendor module.
    const init = kvm.get('init')!.data.toString();
    const p = `/${dir}/`;
    expect(init).toContain(`if grep -qw vmx /proc/cpuinfo; then set -- intel ${p}virt/lib/irqbypass.ko ${p}arch/x86/kvm/kvm.ko ${p}arch/x86/kvm/kvm-intel.ko\n`);
    expect(init).toContain(`elif grep -qw svm /proc/cpuinfo; then set -- amd ${p}virt/lib/irqbypass.ko ${p}arch/x86/kvm/kvm.ko ${p}arch/x86/kvm/kvm-amd.ko\n`);
    expect(init.indexOf(`echo "${KVM_MARKER}$kvm"`)).toBeLessThan(init.indexOf('echo "hvkit-linux: ready'));
    expect(init.replace(/# Load the kernel's own KVM modules[^]*?echo "hvkit-linux: kvm=\$kvm"\n/, '')).toBe(plain.get('init')!.data.toString());
    expect(kvm.get(`lib/modules/${guest!.release}/modules.dep`)!.data.toString()).toContain('kernel/arch/x86/kvm/kvm-intel.ko: kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko\n');
  });

  it.skipIf(!qemuAvailable())('boots on QEMU TCG -cpu max, loads kvm-amd, and every kvmtest check passes', { timeout: 300_000 }, async () => {
    const r = await runKvmOnQemu({ timeoutSeconds: 240 });
    const tail = r.log.slice(-5000);
    expect(r.timedOut, tail).toBe(false);
    expect(r.log, tail).toContain('hvkit-linux: kvm-modules vendor=amd');
    expect(r.kvm, tail).toBe('loaded');
    for (const check of KVMTEST_CHECKS) expect(r.log, tail).toContain(`kvmtest: ok ${check}\r`);
    expect(r.log, tail).not.toContain('kvmtest: FAIL');
    expect(r.log).toContain('kvmtest: PASS\r');
    expect(r.log).toContain('kvmtest-status=0');
    expect(r.pass).toBe(true);
    expect(r.status).toBe(0);
  });
});
