/**
 * End to end: the Linux guest on two vCPUs. The kernel finds the second CPU in the ACPI MADT,
 * starts it with INIT/SIPI/SIPI through the local APIC, and both are online in the shell.
 */
import { describe, expect, it } from 'vitest';
import { bootAndCheck, linuxGuest } from './linux-guest.js';

const prepared = linuxGuest();

describe.skipIf(prepared.guest === null)(`Linux -smp 2 to a shell${prepared.why ? ` (skipped: ${prepared.why})` : ''}`, () => {
  it('brings both CPUs online, runs commands and powers off', { timeout: 900_000 }, async () => {
    const s = await bootAndCheck(prepared.guest!, 2, 2, 'console=ttyS0');
    expect(s.console).toContain('smp: Brought up 1 node, 2 CPUs');
    // One TSC across the cores: Linux's warp check passes and keeps the TSC clocksource.
    expect(s.console).not.toMatch(/TSC warp|Marking TSC unstable/);
    expect(s.console).toContain('clocksource: Switched to clocksource tsc\r');
  });
});
