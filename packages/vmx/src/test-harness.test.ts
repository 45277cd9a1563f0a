/**
 * The test harness itself: `setupVmcs` must give a VMCS that passes every VM-entry check, so the
 * other modules' tests can start from it and change one field at a time. Runs the real VM entry,
 * non-root operation and VM exit: a guest CPUID exits unconditionally (SDM §25.1.2) with basic
 * exit reason 10 (Appendix C) to the host RIP.
 */
import { describe, expect, it } from 'vitest';
import { VmcsField } from './fields.js';
import { R, VMX_FLAGS, VmxMachine, X } from './test-harness.js';

describe('VmxMachine', () => {
  it('setupVmcs: VMLAUNCH enters the guest; its CPUID exits to the host (reason 10)', () => {
    const m = new VmxMachine().long64().enableVmx().vmxonAndLoad().setupVmcs({ guestRip: 0x20000, hostRip: 0x30000 });
    m.bytes(0x20000, [0x0f, 0xa2, ...X.hlt]); // guest: CPUID; HLT
    m.bytes(0x30000, [...X.hlt]); // host: HLT
    m.setReg(R.RAX, 0).setArith(VMX_FLAGS);
    m.run([...X.vmlaunch, ...X.hlt], 100);
    expect(m.events).toEqual([]);
    expect(m.cpu.guestMode).toBe(false);
    expect(m.readField(VmcsField.VmExitReason)).toBe(10n);
    expect(m.readField(VmcsField.GuestRip)).toBe(0x20000n);
    expect(m.rip).toBe(0x30001n); // past the host's HLT
    expect(m.vmx.current!.launched).toBe(true);
  });

  it('field / readField write and read whole 64-bit values', () => {
    const m = new VmxMachine().long64().enableVmx().vmxonAndLoad();
    m.field(VmcsField.GuestRip, 0xffff_8000_1234_5678n);
    expect(m.readField(VmcsField.GuestRip)).toBe(0xffff_8000_1234_5678n);
  });
});
