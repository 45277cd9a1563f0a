/**
 * End to end, "a real hypervisor runs on it" (issue 9): Debian's cloud kernel boots through
 * `hvkit-system-x86_64 -cpu max,+svm -m 256 -smp 1 -kernel vmlinuz -initrd initrd-kvm.gz`
 * (`+svm` on `max` picks hvkit's AMD model), its `/init` sees `svm` in /proc/cpuinfo and loads
 * the kernel package's own `kvm.ko` and `kvm-amd.ko` (with their dependencies), and
 * `/bin/kvmtest` (tooling/guests/kvmtest/kvmtest.c) drives `/dev/kvm`: it runs nested guests in
 * real mode and 64-bit mode that exit through port I/O, HLT, CPUID and MMIO, on two vCPUs and
 * two VMs. `tooling/guests/scripts/kvm-on-qemu.mjs` runs the same initramfs on QEMU's TCG SVM,
 * where every check passes.
 *
 * kvm-amd must also have taken the hardware paths: nested paging is enabled (its `npt` module
 * parameter reads Y, which kvm-amd sets only when CPUID 8000_000Ah:EDX.NP is reported), so the
 * nested guests, real mode included, run on hvkit's nested page walk (APM Vol. 2 §15.25) with
 * ASID-tagged TLBs. `nrips` (next-RIP saving, §15.7.1) reads 1 likewise.
 * Skipped, saying why, where the guest cannot be prepared (no apt-get, no network, no gcc).
 */
import { KVM_MARKER, KVMTEST_CHECKS, LINUX_MARKER, LINUX_PROMPT } from '@hvkit/guests';
import { describe, expect, it } from 'vitest';
import { BAD_LOG, linuxGuest, runLinux, type Step } from './linux-guest.js';

const prepared = linuxGuest();
const why = prepared.why ?? (prepared.guest?.initrdKvm ? null : `no KVM initramfs: ${prepared.guest?.kvmWhy}`);

/** At the prompt: print kvm-amd's parameters, run kvmtest, print its exit status, power off. */
const KVM_STEPS: readonly Step[] = [
  { waitFor: LINUX_MARKER, send: '' },
  {
    waitFor: LINUX_PROMPT,
    send: 'for p in npt nrips; do echo "kvm-param $p=$(cat /sys/module/kvm_amd/parameters/$p)"; done; kvmtest; echo kvmtest-""status=$?\n',
  },
  { waitFor: 'kvmtest-status=', send: '' },
  { waitFor: LINUX_PROMPT, send: 'poweroff -f\n' },
];

describe.skipIf(why !== null)(`Linux with KVM on hvkit's SVM${why ? ` (skipped: ${why})` : ''}`, () => {
  it(
    "-cpu max,+svm: kvm-amd loads with nested paging, and kvmtest's nested guests exit through I/O, HLT, CPUID and MMIO",
    { timeout: 540_000 },
    async () => {
      const guest = prepared.guest!;
      const s = await runLinux(guest, { cpus: 1, append: 'console=ttyS0', cpu: 'max,+svm', initrd: guest.initrdKvm!, steps: KVM_STEPS, deadlineSeconds: 480, marker: LINUX_MARKER });
      process.stderr.write(`[linux -cpu max,+svm with KVM] marker after ${s.markerSeconds?.toFixed(1)} s host time\n`);
      const tail = s.console.slice(-6000);
      expect(s.stderr, tail).toBe('');
      expect(s.timedOut, tail).toBe(false);
      expect(s.pending, tail).toBe(0);
      expect(s.console).toContain('hvkit virtual AMD-compatible CPU');
      expect(s.console).toContain('hvkit-linux: kvm-modules vendor=amd');
      expect(s.console, tail).toContain(`${KVM_MARKER}loaded\r`);
      expect(s.console).toContain(`${LINUX_MARKER} release=${guest.release} cpus=1`);
      expect(s.console).toMatch(/kvmtest: # guest CPUID\.0: max leaf 0x[0-9a-f]+ vendor "AuthenticAMD" \(this CPU: "AuthenticAMD"\)/);
      // kvm-amd's bool parameters read Y/N, its int parameters (nrips) a number.
      expect(s.console, tail).toContain('kvm-param npt=Y\r');
      expect(s.console, tail).toContain('kvm-param nrips=1\r');
      for (const check of KVMTEST_CHECKS) expect(s.console, tail).toContain(`kvmtest: ok ${check}\r`);
      expect(s.console, tail).not.toContain('kvmtest: FAIL');
      expect(s.console).toContain('kvmtest: PASS\r');
      expect(s.console).toContain('kvmtest-status=0');
      expect(s.console).toContain('reboot: Power down');
      expect(s.status).toBe(0);
      for (const bad of [...BAD_LOG, /WARNING/]) expect(s.console, `the kernel log matches ${bad}`).not.toMatch(bad);
    },
  );
});
