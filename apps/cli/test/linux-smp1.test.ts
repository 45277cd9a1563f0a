/**
 * End to end: Debian's cloud kernel and a busybox initramfs (`pnpm guests:linux`) boot on one
 * vCPU through `hvkit-system-x86_64 -kernel vmlinuz -initrd initrd.gz -append console=ttyS0 -m
 * 256 -smp 1` to a shell on COM1, which runs uname, /proc/cpuinfo, md5sum and poweroff -f.
 * Skipped, saying why, where the guest cannot be prepared (no apt-get or no network).
 */
import { describe, it } from 'vitest';
import { bootAndCheck, linuxGuest } from './linux-guest.js';

const prepared = linuxGuest();

describe.skipIf(prepared.guest === null)(`Linux -smp 1 to a shell${prepared.why ? ` (skipped: ${prepared.why})` : ''}`, () => {
  it('boots to the shell, runs commands and powers off through ACPI S5', { timeout: 900_000 }, async () => {
    await bootAndCheck(prepared.guest!, 1, 1, 'console=ttyS0');
  });
});
