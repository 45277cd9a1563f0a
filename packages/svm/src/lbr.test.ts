/**
 * LBR virtualization (APM Vol. 2 §15.23): with LBR_VIRTUALIZATION_ENABLE, VMRUN loads the guest's
 * DebugCtl and last-branch MSRs from the VMCB (DBGCTL, BR_FROM, BR_TO, LASTEXCPFROM, LASTEXCPTO)
 * and #VMEXIT stores them back; the host keeps its own values.
 */
import { describe, expect, it } from 'vitest';
import { InterceptMisc1, LbrVirt, SvmExitCode } from './constants.js';
import { LbrMsr, lbrWriteMsr } from './lbr.js';
import { GUEST_CODE, R, SvmMachine, VMCB_AT, X } from './test-harness.js';
import { VmcbOffset } from './vmcb.js';

function machine(guest: readonly number[], lbr: boolean): SvmMachine {
  const m = new SvmMachine().long64().enableSvm().setupVmcb({ guestRip: GUEST_CODE });
  m.bytes(GUEST_CODE, [...guest, ...X.cpuid]);
  m.vmcbSet(VmcbOffset.InterceptMisc1, InterceptMisc1.Cpuid);
  if (lbr) m.vmcb32(VmcbOffset.LbrVirtualizationEnable, LbrVirt.Enable);
  m.vmcb64(VmcbOffset.DbgCtl, 0x1);
  m.vmcb64(VmcbOffset.BrFrom, 0xffff_8000_1234_5678n);
  m.vmcb64(VmcbOffset.BrTo, 0x4000);
  return m;
}

function vmrun(m: SvmMachine): void {
  m.run([...X.movImm64(R.RAX, VMCB_AT), ...X.vmrun, ...X.hlt]);
}

describe('LBR virtualization', () => {
  it('the guest reads its DebugCtl and BR_FROM from the VMCB, and its DebugCtl write is stored back at #VMEXIT', () => {
    // rdmsr 1DBh -> rdx:rax = BR_FROM, kept in r8; rdmsr 1D9h -> DBGCTL in rbx; wrmsr 1D9h = 3.
    const guest = [
      ...X.movImm32(R.RCX, LbrMsr.LastBranchFromIp), ...X.rdmsr, 0x49, 0x89, 0xc0, 0x49, 0x89, 0xd1, // mov r8, rax; mov r9, rdx
      ...X.movImm32(R.RCX, LbrMsr.DebugCtl), ...X.rdmsr, 0x48, 0x89, 0xc3, // mov rbx, rax
      ...X.movImm32(R.RAX, 3), ...X.movImm32(R.RDX, 0), ...X.wrmsr,
    ];
    const m = machine(guest, true);
    vmrun(m);
    expect(m.exitCode()).toBe(SvmExitCode.Cpuid);
    expect(m.reg(8)).toBe(0x1234_5678n);
    expect(m.reg(9)).toBe(0xffff_8000n);
    expect(m.reg(R.RBX)).toBe(1n);
    expect(m.vmcbRead(VmcbOffset.DbgCtl)).toBe(3n);
    expect(m.vmcbRead(VmcbOffset.BrFrom)).toBe(0xffff_8000_1234_5678n);
    // The host's DebugCtl is its own again (0).
    expect(m.svm.lbr.active).toBe(false);
    m.run([...X.movImm32(R.RCX, LbrMsr.DebugCtl), ...X.rdmsr, ...X.hlt]);
    expect(m.reg(R.RAX)).toBe(0n);
  });

  it('without LBR_VIRTUALIZATION_ENABLE the VMCB fields are neither loaded nor written', () => {
    const m = machine([...X.movImm32(R.RCX, LbrMsr.DebugCtl), ...X.rdmsr, 0x48, 0x89, 0xc3], false);
    vmrun(m);
    expect(m.exitCode()).toBe(SvmExitCode.Cpuid);
    expect(m.reg(R.RBX)).toBe(0n);
    expect(m.vmcbRead(VmcbOffset.DbgCtl)).toBe(1n);
  });

  it('in the guest the last-branch MSRs are read-only and DebugCtl bits above 5 are reserved (#GP)', () => {
    const m = machine([], true);
    vmrun(m);
    // Back in the host: the state is inactive, nothing is claimed.
    expect(lbrWriteMsr(m.svm, m.cpu, LbrMsr.DebugCtl, 0x40, 0)).toBe(0);
    m.svm.lbr.active = true;
    m.cpu.guestMode = true;
    expect(lbrWriteMsr(m.svm, m.cpu, LbrMsr.LastBranchToIp, 0, 0)).toBe(-1);
    expect(lbrWriteMsr(m.svm, m.cpu, LbrMsr.DebugCtl, 0x40, 0)).toBe(-1);
    expect(lbrWriteMsr(m.svm, m.cpu, LbrMsr.DebugCtl, 0x3f, 0)).toBe(1);
    m.cpu.guestMode = false;
  });
});
