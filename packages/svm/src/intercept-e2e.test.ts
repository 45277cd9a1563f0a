/**
 * The intercepts end to end (AMD APM Vol. 2 §15.7-§15.14): a host in 64-bit mode runs VMRUN, the
 * guest runs the instruction, the #VMEXIT writes EXITCODE/EXITINFO1/EXITINFO2/nRIP into the VMCB
 * and the host continues after its VMRUN. Expected values from the APM.
 */
import { Cr0 } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { InterceptMisc1, SvmExitCode, VIntr } from './constants.js';
import { GUEST_CODE, IOPM_AT, MSRPM_AT, R, SvmMachine, VMCB_AT, X } from './test-harness.js';
import { VmcbOffset } from './vmcb.js';

/** A 64-bit host with a VMCB whose guest (64-bit, same paging) runs `guest` at GUEST_CODE. */
function machine(guest: readonly number[]): SvmMachine {
  const m = new SvmMachine().long64().enableSvm().setupVmcb({ guestRip: GUEST_CODE });
  m.bytes(GUEST_CODE, [...guest, 0xf4]);
  return m;
}

function vmrun(m: SvmMachine): void {
  m.run([...X.movImm64(R.RAX, VMCB_AT), ...X.vmrun, ...X.hlt]);
}

describe('intercepts through VMRUN and #VMEXIT', () => {
  it('CPUID (72h): RIP = the CPUID, nRIP after it; the host resumes after VMRUN', () => {
    const m = machine([0x90, ...X.cpuid]);
    m.vmcbSet(VmcbOffset.InterceptMisc1, InterceptMisc1.Cpuid);
    vmrun(m);
    expect(m.exitCode()).toBe(SvmExitCode.Cpuid);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(GUEST_CODE + 1));
    expect(m.vmcbRead(VmcbOffset.NRip)).toBe(BigInt(GUEST_CODE + 3));
    expect(m.cpu.guestMode).toBe(false);
  });

  it('OUT 80h, AL with IOIO_PROT: EXITINFO1 per §15.10.2, EXITINFO2 = next RIP', () => {
    const m = machine([0xe6, 0x80]);
    m.vmcbSet(VmcbOffset.InterceptMisc1, InterceptMisc1.IoioProt);
    m.w8(IOPM_AT + 0x10, 1);
    vmrun(m);
    expect(m.exitCode()).toBe(SvmExitCode.Ioio);
    expect(m.exitInfo1()).toBe(BigInt((1 << 4) | (1 << 9) | (0x80 << 16)));
    expect(m.exitInfo2()).toBe(BigInt(GUEST_CODE + 2));
  });

  it('WRMSR with MSR_PROT: EXITINFO1 = 1', () => {
    const m = machine([...X.movImm32(R.RCX, 0xc0000080), ...X.wrmsr]);
    m.vmcbSet(VmcbOffset.InterceptMisc1, InterceptMisc1.MsrProt);
    m.w8(MSRPM_AT + 0x800 + 0x20, 2);
    vmrun(m);
    expect(m.exitCode()).toBe(SvmExitCode.Msr);
    expect(m.exitInfo1()).toBe(1n);
  });

  it('MOV CR0 selective write (65h) with decode assists', () => {
    const m = machine([0x48, 0x0f, 0x20, 0xc1, 0x48, 0x81, 0xf1, 0x00, 0x00, 0x01, 0x00, 0x0f, 0x22, 0xc1]); // mov rcx,cr0; xor rcx,WP; mov cr0,rcx
    m.vmcbSet(VmcbOffset.InterceptMisc1, InterceptMisc1.Cr0SelWrite);
    vmrun(m);
    expect(Cr0.WP).toBe(0x10000);
    expect(m.exitCode()).toBe(SvmExitCode.Cr0SelWrite);
    expect(m.exitInfo1()).toBe((1n << 63n) | 1n);
  });

  it('#PF intercept: EXITINFO1 error code, EXITINFO2 address, VMCB CR2 unchanged, instruction bytes', () => {
    const m = machine([...X.movImm64(R.RBX, 0x80000000), 0x89, 0x03]);
    m.vmcbSet(VmcbOffset.InterceptExceptions, 1 << 14);
    m.vmcb64(VmcbOffset.Cr2, 0x4444);
    m.cpu.onEvent = null; // the harness would catch the #PF before the intercept
    vmrun(m);
    expect(m.exitCode()).toBe(SvmExitCode.Excp + 14);
    expect(m.exitInfo1()).toBe(2n);
    expect(m.exitInfo2()).toBe(0x80000000n);
    expect(m.vmcbRead(VmcbOffset.Cr2)).toBe(0x4444n);
    expect(m.r8(VMCB_AT + VmcbOffset.GuestInsnBytes)).toBe(0x89);
  });

  it('INT 21h with the INTn intercept: 75h, EXITINFO1 = 21h, RIP = the INT', () => {
    const m = machine([0xcd, 0x21]);
    m.vmcbSet(VmcbOffset.InterceptMisc1, InterceptMisc1.Intn);
    vmrun(m);
    expect(m.exitCode()).toBe(SvmExitCode.Swint);
    expect(m.exitInfo1()).toBe(0x21n);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(GUEST_CODE));
    expect(m.vmcbRead(VmcbOffset.NRip)).toBe(BigInt(GUEST_CODE + 2));
  });

  it('MOV CR8 with V_INTR_MASKING writes V_TPR (the VMCB gets it at #VMEXIT), not the APIC TPR', () => {
    const m = machine([...X.movImm32(R.RAX, 7), 0x44, 0x0f, 0x22, 0xc0, ...X.cpuid]);
    m.vmcbSet(VmcbOffset.InterceptMisc1, InterceptMisc1.Cpuid);
    m.vmcb32(VmcbOffset.VIntr, VIntr.Masking | 2);
    m.cpu.cr8 = 1;
    vmrun(m);
    expect(m.exitCode()).toBe(SvmExitCode.Cpuid);
    expect(m.r32(VMCB_AT + VmcbOffset.VIntr) & 0xff).toBe(7);
    expect(m.cpu.cr8).toBe(1);
  });
});
