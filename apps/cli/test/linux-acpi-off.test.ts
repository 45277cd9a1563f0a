/**
 * End to end: the Linux guest without ACPI (`acpi=off nosmp`): interrupts through the 8259 PICs
 * (Linux: "APIC: Keep in PIC mode(8259)"), PCI found through configuration mechanism #1, the
 * second vCPU left waiting for its start-up IPI. `poweroff -f` can only halt without ACPI.
 */
import { describe, expect, it } from 'vitest';
import { bootAndCheck, linuxGuest } from './linux-guest.js';

const prepared = linuxGuest();

describe.skipIf(prepared.guest === null)(`Linux acpi=off nosmp to a shell${prepared.why ? ` (skipped: ${prepared.why})` : ''}`, () => {
  it('boots in PIC mode on one of two vCPUs, runs commands and halts', { timeout: 900_000 }, async () => {
    const s = await bootAndCheck(prepared.guest!, 2, 1, 'console=ttyS0 acpi=off nosmp');
    expect(s.console).toContain('APIC: Keep in PIC mode(8259)');
    expect(s.console).toContain('PCI host bridge to bus 0000:00');
  });
});
