/**
 * VM exits (SDM Vol. 3C ch. 27) and VM-entry failure exits (§26.8), driven directly: the CPU is
 * put in non-root operation with a chosen guest state, `vmExit` is called as nonroot.ts would,
 * and every saved guest field and loaded host register is compared with the SDM's rule.
 */
import { CodeMode, Cr0, Cr4, Efer, Flag, Seg, SegAttr } from '@hvkit/x86';
import { beforeEach, describe, expect, it } from 'vitest';
import { ActivityState, EntryCtl, ExitCtl, Interruptibility, PinCtl, Proc2Ctl, ProcCtl } from './constants.js';
import { entryFailureExit, nmiUnblockingDueToIret, noteIretUnblocking, preemptionTimerValue, vmExit, VmxAbortIndicator } from './exit.js';
import { Vmcs, VmcsField as F } from './fields.js';
import { VmxMachine } from './test-harness.js';
import { HOST, HOST_RIP, HOST_RSP, validControls, validHost64 } from './vmcs-fixture.js';

const VMCS_AT = 0x100000;
const STORE_LIST = 0x101000;
const LOAD_LIST = 0x102000;

let m: VmxMachine;
let vmcs: Vmcs;
let exits: number;

/** A distinctive 64-bit guest state in the CPU, in non-root operation. */
function enterGuest(): void {
  const c = m.cpu;
  c.guestMode = true;
  c.cr0 = (Cr0.PE | Cr0.NE | Cr0.PG | Cr0.ET | Cr0.CD | Cr0.NW | Cr0.WP) | 0;
  c.cr3Lo = 0x123000;
  c.cr3Hi = 0x1;
  c.cr4 = Cr4.PAE | Cr4.VMXE | Cr4.PGE | Cr4.OSFXSR;
  c.efer = Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE;
  c.drLo[7] = 0x4ff;
  c.drHi[7] = 0;
  c.sysenterCs = 0x1234;
  c.sysenterEspLo = 0x11112222;
  c.sysenterEspHi = 0x3;
  c.sysenterEipLo = 0x33334444;
  c.sysenterEipHi = 0x5;
  c.patLo = 0x01020304;
  c.patHi = 0x05060700;
  c.setSegmentRaw(Seg.ES, 0x2b, 0x1000, 0xfffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | (3 << SegAttr.DplShift));
  c.setSegmentRaw(Seg.CS, 0x33, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.L | SegAttr.G | (3 << SegAttr.DplShift));
  c.setSegmentRaw(Seg.SS, 0x2b, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G | (3 << SegAttr.DplShift));
  c.setSegmentRaw(Seg.DS, 0, 0, 0, SegAttr.Unusable);
  c.setSegmentRaw(Seg.FS, 0, 0xabcd0000, 0, SegAttr.Unusable, 0x7fff);
  c.setSegmentRaw(Seg.GS, 0x18, 0x5000, 0xffff, SegAttr.S | SegAttr.RW); // not present: saved unusable
  c.setSegmentRaw(Seg.LDTR, 0x50, 0x6000, 0x1f, SegAttr.P | 2);
  c.setSegmentRaw(Seg.TR, 0x40, 0x7000, 0x67, SegAttr.P | 11, 0x1);
  c.gdtrBaseLo = 0x8000;
  c.gdtrBaseHi = 0x2;
  c.gdtrLimit = 0x7f;
  c.idtrBaseLo = 0x9000;
  c.idtrBaseHi = 0x3;
  c.idtrLimit = 0xfff;
  c.ripLo = 0x401000;
  c.ripHi = 0x7f;
  c.gpr[4] = 0x5550;
  c.gprHi[4] = 0x7ffe;
  c.setEflags(Flag.Fixed1 | Flag.IF | Flag.RF | Flag.CF | Flag.ZF);
  c.interruptShadow = false;
  c.stiShadow = false;
  c.nmiBlocked = false;
  c.pendingDb = 0;
  c.halted = false;
  c.cr0GuestMask = 0x20;
  c.cr0ReadShadow = 0x20;
  c.cr4GuestMask = 0x2000;
  c.cr4ReadShadow = 0;
  c.tscOffsetLo = 0x1000;
  c.tscOffsetHi = 1;
  c.extBoundary = true;
  c.extDeadline = 1e9;
  c.initBlocked = false;
  c.selectTlbBank(3);
  c.contextChanged();
}

beforeEach(() => {
  m = new VmxMachine().long64().enableVmx();
  vmcs = new Vmcs();
  vmcs.address = VMCS_AT;
  m.region(VMCS_AT);
  m.vmx.inVmx = true;
  m.vmx.current = vmcs;
  validControls(vmcs, m.vmx.caps);
  validHost64(vmcs);
  exits = 0;
  m.vmx.onExit = () => {
    exits++;
  };
  enterGuest();
});

const get = (f: number): number => vmcs.get(f) >>> 0;
const getHi = (f: number): number => vmcs.getHi(f) >>> 0;

describe('§27.2 exit information', () => {
  it('writes the exit reason and the 64-bit exit qualification', () => {
    vmExit(m.vmx, m.cpu, 10, 0x1234, 0x5678);
    expect(get(F.VmExitReason)).toBe(10);
    expect(get(F.ExitQualification)).toBe(0x1234);
    expect(getHi(F.ExitQualification)).toBe(0x5678);
    expect(exits).toBe(1);
  });

  it('clears the valid bit of the VM-entry interruption-information field', () => {
    vmcs.set(F.VmEntryInterruptionInfo, 0x80000b0e);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect(get(F.VmEntryInterruptionInfo)).toBe(0xb0e);
  });

  it('invalidates the VM-exit interruption information for exits not caused by events (§27.2.2)', () => {
    vmcs.set(F.VmExitInterruptionInfo, 0x80000b0e);
    vmExit(m.vmx, m.cpu, 12, 0, 0);
    expect(get(F.VmExitInterruptionInfo) >>> 31).toBe(0);
  });

  it('keeps the interruption information the caller wrote for exception exits', () => {
    vmcs.set(F.VmExitInterruptionInfo, 0x80000b0d);
    vmExit(m.vmx, m.cpu, 0, 0, 0);
    expect(get(F.VmExitInterruptionInfo)).toBe(0x80000b0d);
  });

  it('reports IDT-vectoring information from the event being delivered, with the instruction length of a software interrupt (§27.2.4)', () => {
    m.cpu.vectoringInfo = (1 << 31) | (4 << 8) | 0x80;
    m.cpu.vectoringError = 0;
    m.cpu.vectoringInsnLen = 2;
    vmExit(m.vmx, m.cpu, 48, 0x181, 0);
    expect(get(F.IdtVectoringInfo)).toBe(0x80000480);
    expect(get(F.VmExitInstructionLength)).toBe(2);
    expect(m.cpu.vectoringInfo).toBe(0);
  });

  it('reports a hardware exception with its error code as IDT-vectoring information', () => {
    m.cpu.vectoringInfo = (1 << 31) | (1 << 11) | (3 << 8) | 14;
    m.cpu.vectoringError = 0x6;
    vmcs.set(F.VmExitInstructionLength, 7);
    vmExit(m.vmx, m.cpu, 48, 0, 0);
    expect(get(F.IdtVectoringInfo)).toBe(0x80000b0e);
    expect(get(F.IdtVectoringErrorCode)).toBe(6);
    // Not a software event: the instruction length is not the vectoring one.
    expect(get(F.VmExitInstructionLength)).toBe(7);
  });

  it('clears the IDT-vectoring valid bit when the exit did not happen during event delivery', () => {
    vmcs.set(F.IdtVectoringInfo, 0x80000300);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect(get(F.IdtVectoringInfo)).toBe(0);
  });
});

describe('§27.3 saving guest state', () => {
  it('saves CR0/CR3/CR4 (the real values, not the read shadows) and SYSENTER MSRs (§27.3.1)', () => {
    const cr0 = m.cpu.cr0;
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect(get(F.GuestCr0)).toBe(cr0 >>> 0);
    expect(get(F.GuestCr3)).toBe(0x123000);
    expect(getHi(F.GuestCr3)).toBe(1);
    expect(get(F.GuestCr4)).toBe(Cr4.PAE | Cr4.VMXE | Cr4.PGE | Cr4.OSFXSR);
    expect(get(F.GuestSysenterCs)).toBe(0x1234);
    expect([get(F.GuestSysenterEsp), getHi(F.GuestSysenterEsp)]).toEqual([0x11112222, 3]);
    expect([get(F.GuestSysenterEip), getHi(F.GuestSysenterEip)]).toEqual([0x33334444, 5]);
  });

  it('saves DR7 and IA32_DEBUGCTL only with "save debug controls"', () => {
    vmcs.set(F.GuestDr7, 0x400);
    vmcs.set(F.VmExitControls, vmcs.get(F.VmExitControls) & ~ExitCtl.SaveDebugControls);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect(get(F.GuestDr7)).toBe(0x400);
    enterGuest();
    vmcs.set(F.VmExitControls, vmcs.get(F.VmExitControls) | ExitCtl.SaveDebugControls);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect(get(F.GuestDr7)).toBe(0x4ff);
  });

  it('saves IA32_PAT and IA32_EFER only with their save controls', () => {
    vmcs.set(F.GuestIa32Pat, 0x11, 0x22);
    vmcs.set(F.GuestIa32Efer, 0x33);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect([get(F.GuestIa32Pat), getHi(F.GuestIa32Pat)]).toEqual([0x11, 0x22]);
    expect(get(F.GuestIa32Efer)).toBe(0x33);
    enterGuest();
    vmcs.set(F.VmExitControls, vmcs.get(F.VmExitControls) | ExitCtl.SaveIa32Pat | ExitCtl.SaveIa32Efer);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect([get(F.GuestIa32Pat), getHi(F.GuestIa32Pat)]).toEqual([0x01020304, 0x05060700]);
    expect(get(F.GuestIa32Efer)).toBe(Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE);
  });

  it('stores EFER.LMA into the "IA-32e mode guest" entry control (IA32_VMX_MISC bit 5)', () => {
    vmcs.set(F.VmEntryControls, vmcs.get(F.VmEntryControls) & ~EntryCtl.Ia32eModeGuest);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect(get(F.VmEntryControls) & EntryCtl.Ia32eModeGuest).toBe(EntryCtl.Ia32eModeGuest);
    enterGuest();
    m.cpu.efer &= ~(Efer.LMA | Efer.LME);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect(get(F.VmEntryControls) & EntryCtl.Ia32eModeGuest).toBe(0);
  });

  it('saves every segment register: selector, 64-bit base, limit, access rights with the unusable bit (§27.3.2)', () => {
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect([get(F.GuestEsSelector), get(F.GuestEsBase), get(F.GuestEsLimit), get(F.GuestEsArBytes)]).toEqual([0x2b, 0x1000, 0xfffff, 0xf3]);
    expect([get(F.GuestCsSelector), get(F.GuestCsLimit), get(F.GuestCsArBytes)]).toEqual([0x33, 0xffffffff, 0xa0fb]);
    expect([get(F.GuestSsSelector), get(F.GuestSsArBytes)]).toEqual([0x2b, 0xc0f3]);
    expect(get(F.GuestDsArBytes)).toBe(0x10000);
    expect([get(F.GuestFsBase), getHi(F.GuestFsBase), get(F.GuestFsArBytes)]).toEqual([0xabcd0000, 0x7fff, 0x10000]);
    // A segment without P is saved unusable (bit 16), with its other bits.
    expect([get(F.GuestGsSelector), get(F.GuestGsBase), get(F.GuestGsLimit), get(F.GuestGsArBytes)]).toEqual([0x18, 0x5000, 0xffff, 0x10012]);
    expect([get(F.GuestLdtrSelector), get(F.GuestLdtrBase), get(F.GuestLdtrLimit), get(F.GuestLdtrArBytes)]).toEqual([0x50, 0x6000, 0x1f, 0x82]);
    expect([get(F.GuestTrSelector), get(F.GuestTrBase), getHi(F.GuestTrBase), get(F.GuestTrLimit), get(F.GuestTrArBytes)]).toEqual([0x40, 0x7000, 1, 0x67, 0x8b]);
    expect([get(F.GuestGdtrBase), getHi(F.GuestGdtrBase), get(F.GuestGdtrLimit)]).toEqual([0x8000, 2, 0x7f]);
    expect([get(F.GuestIdtrBase), getHi(F.GuestIdtrBase), get(F.GuestIdtrLimit)]).toEqual([0x9000, 3, 0xfff]);
  });

  it('saves RIP and RSP with their high halves (§27.3.3)', () => {
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect([get(F.GuestRip), getHi(F.GuestRip)]).toEqual([0x401000, 0x7f]);
    expect([get(F.GuestRsp), getHi(F.GuestRsp)]).toEqual([0x5550, 0x7ffe]);
  });

  describe('RFLAGS.RF (§27.3.3)', () => {
    const flags = Flag.Fixed1 | Flag.IF | Flag.CF | Flag.ZF;
    it('is saved as 0 for an instruction exit', () => {
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect(get(F.GuestRflags)).toBe(flags);
    });
    it('is saved as 1 for an EPT violation outside event delivery', () => {
      m.cpu.setEflags(flags);
      vmExit(m.vmx, m.cpu, 48, 0, 0);
      expect(get(F.GuestRflags)).toBe(flags | Flag.RF);
    });
    it('is the pushed image for an EPT violation while delivering INT n: the current RF', () => {
      m.cpu.setEflags(flags);
      m.cpu.vectoringInfo = (1 << 31) | (4 << 8) | 0x80;
      vmExit(m.vmx, m.cpu, 48, 0, 0);
      expect(get(F.GuestRflags)).toBe(flags);
    });
    it('is 1 for an exception exit caused by a fault (#GP), the current value for a trap (#BP)', () => {
      m.cpu.setEflags(flags);
      vmcs.set(F.VmExitInterruptionInfo, 0x80000b0d);
      vmExit(m.vmx, m.cpu, 0, 0, 0);
      expect(get(F.GuestRflags)).toBe(flags | Flag.RF);
      enterGuest();
      m.cpu.setEflags(flags);
      vmcs.set(F.VmExitInterruptionInfo, 0x80000603);
      vmExit(m.vmx, m.cpu, 0, 0, 0);
      expect(get(F.GuestRflags)).toBe(flags);
    });
    it('keeps the current RF for other exits (MTF)', () => {
      vmExit(m.vmx, m.cpu, 37, 0, 0);
      expect(get(F.GuestRflags)).toBe(flags | Flag.RF);
    });
  });

  describe('non-register state (§27.3.4)', () => {
    it('saves the activity state: active, HLT, shutdown, wait-for-SIPI', () => {
      vmExit(m.vmx, m.cpu, 1, 0, 0);
      expect(get(F.GuestActivityState)).toBe(ActivityState.Active);
      enterGuest();
      m.cpu.halted = true;
      vmExit(m.vmx, m.cpu, 1, 0, 0);
      expect(get(F.GuestActivityState)).toBe(ActivityState.Hlt);
      enterGuest();
      m.cpu.halted = true;
      m.vmx.guestShutdown = true;
      vmExit(m.vmx, m.cpu, 3, 0, 0);
      expect(get(F.GuestActivityState)).toBe(ActivityState.Shutdown);
      expect(m.vmx.guestShutdown).toBe(false);
      enterGuest();
      m.cpu.waitForSipi = true;
      vmExit(m.vmx, m.cpu, 4, 0, 0);
      expect(get(F.GuestActivityState)).toBe(ActivityState.WaitForSipi);
      expect(m.cpu.waitForSipi).toBe(false);
      expect(m.cpu.halted).toBe(false);
    });

    it('saves blocking by STI, by MOV SS and by NMI from the core', () => {
      m.cpu.interruptShadow = true;
      m.cpu.stiShadow = true;
      vmExit(m.vmx, m.cpu, 37, 0, 0);
      expect(get(F.GuestInterruptibilityInfo)).toBe(Interruptibility.BlockingBySti);
      enterGuest();
      m.cpu.interruptShadow = true;
      m.cpu.stiShadow = false;
      m.cpu.nmiBlocked = true;
      vmExit(m.vmx, m.cpu, 37, 0, 0);
      expect(get(F.GuestInterruptibilityInfo)).toBe(Interruptibility.BlockingByMovSs | Interruptibility.BlockingByNmi);
      expect(m.cpu.interruptShadow).toBe(false);
      // Other exits do not change NMI blocking (§27.5.5).
      expect(m.cpu.nmiBlocked).toBe(true);
    });

    it('a VM exit during an instruction saves the blocking that instruction ran under (the core\'s insnShadow; §27.3.4)', () => {
      // `sti; cpuid`: the CPUID exit happens with the core's shadow already consumed.
      m.cpu.interruptShadow = false;
      m.cpu.insnShadow = 1;
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect(get(F.GuestInterruptibilityInfo)).toBe(Interruptibility.BlockingBySti);
      enterGuest();
      m.cpu.insnShadow = 2;
      m.cpu.pendingDb = 0x4000;
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect(get(F.GuestInterruptibilityInfo)).toBe(Interruptibility.BlockingByMovSs);
      // Under MOV-SS blocking the pending debug exceptions are kept (§27.3.4).
      expect(get(F.GuestPendingDbgExceptions)).toBe(0x4000);
      m.cpu.insnShadow = 0;
    });

    it('saves virtual-NMI blocking with "virtual NMIs"', () => {
      vmcs.set(F.PinBasedVmExecControl, vmcs.get(F.PinBasedVmExecControl) | PinCtl.NmiExiting | PinCtl.VirtualNmis);
      m.vmx.virtualNmiBlocked = true;
      m.cpu.nmiBlocked = false;
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect(get(F.GuestInterruptibilityInfo)).toBe(Interruptibility.BlockingByNmi);
      enterGuest();
      m.vmx.virtualNmiBlocked = false;
      m.cpu.nmiBlocked = true;
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect(get(F.GuestInterruptibilityInfo)).toBe(0);
    });

    it('saves pending debug exceptions as clear for other exits (an instruction exit without MOV-SS blocking, a #DB exit)', () => {
      m.cpu.pendingDb = 0x4000 | 0x1;
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect(get(F.GuestPendingDbgExceptions)).toBe(0);
      enterGuest();
      m.cpu.pendingDb = 0x4000;
      m.cpu.interruptShadow = true;
      vmcs.set(F.VmExitInterruptionInfo, 0x80000301);
      vmExit(m.vmx, m.cpu, 0, 0, 0);
      expect(get(F.GuestPendingDbgExceptions)).toBe(0);
    });

    it('saves pending debug exceptions for INIT, TPR-below-threshold and exits under MOV-SS blocking', () => {
      for (const reason of [3, 43]) {
        enterGuest();
        m.cpu.pendingDb = 0x8;
        vmExit(m.vmx, m.cpu, reason, 0, 0);
        expect(get(F.GuestPendingDbgExceptions)).toBe(0x1008);
      }
      enterGuest();
      m.cpu.pendingDb = 0x4000;
      m.cpu.interruptShadow = true;
      m.cpu.stiShadow = false;
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect(get(F.GuestPendingDbgExceptions)).toBe(0x4000);
    });

    it('saves pending debug exceptions for an MTF exit: B0-B3 with "enabled breakpoint" (bit 12), BS; none pending after the exit', () => {
      m.cpu.pendingDb = 0x4000 | 0x2;
      vmExit(m.vmx, m.cpu, 37, 0, 0);
      expect(get(F.GuestPendingDbgExceptions)).toBe(0x5002);
      expect(m.cpu.pendingDb).toBe(0);
      enterGuest();
      m.cpu.pendingDb = 0x4000;
      vmExit(m.vmx, m.cpu, 37, 0, 0);
      expect(get(F.GuestPendingDbgExceptions)).toBe(0x4000);
    });

    it('saves the VMX-preemption timer value with "save VMX-preemption timer value" (0 for a timer exit)', () => {
      vmcs.set(F.PinBasedVmExecControl, vmcs.get(F.PinBasedVmExecControl) | PinCtl.ActivateVmxPreemptionTimer);
      vmcs.set(F.VmExitControls, vmcs.get(F.VmExitControls) | ExitCtl.SaveVmxPreemptionTimerValue);
      vmcs.set(F.VmxPreemptionTimerValue, 999);
      m.vmx.timerDeadline = m.cpu.icount + 100; // 100 TSC ticks: 4 periods of 2^5 left (rounded up)
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect(get(F.VmxPreemptionTimerValue)).toBe(4);
      enterGuest();
      m.vmx.timerDeadline = m.cpu.icount + 5;
      vmExit(m.vmx, m.cpu, 52, 0, 0);
      expect(get(F.VmxPreemptionTimerValue)).toBe(0);
    });

    it('leaves the timer value alone without the save control', () => {
      vmcs.set(F.VmxPreemptionTimerValue, 999);
      m.vmx.timerDeadline = m.cpu.icount + 100;
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect(get(F.VmxPreemptionTimerValue)).toBe(999);
    });

    it('saves the PDPTEs with EPT and PAE paging', () => {
      vmcs.set(F.CpuBasedVmExecControl, vmcs.get(F.CpuBasedVmExecControl) | ProcCtl.ActivateSecondaryControls);
      vmcs.set(F.SecondaryVmExecControl, Proc2Ctl.EnableEpt);
      m.cpu.efer &= ~(Efer.LMA | Efer.LME);
      for (let i = 0; i < 4; i++) m.cpu.walker.setPdpte(i, 0x1001 + i * 0x1000, i);
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect([get(F.GuestPdpte0), getHi(F.GuestPdpte0)]).toEqual([0x1001, 0]);
      expect([get(F.GuestPdpte3), getHi(F.GuestPdpte3)]).toEqual([0x4001, 3]);
    });

    it('does not save the PDPTEs in IA-32e mode', () => {
      vmcs.set(F.CpuBasedVmExecControl, vmcs.get(F.CpuBasedVmExecControl) | ProcCtl.ActivateSecondaryControls);
      vmcs.set(F.SecondaryVmExecControl, Proc2Ctl.EnableEpt);
      vmcs.set(F.GuestPdpte0, 0x77);
      m.cpu.walker.setPdpte(0, 0x1001, 0);
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect(get(F.GuestPdpte0)).toBe(0x77);
    });
  });
});

describe('§27.5 loading host state', () => {
  it('loads CR0 except ET/CD/NW and the reserved bits, CR3, CR4, DR7 = 400H, SYSENTER (§27.5.1)', () => {
    vmcs.set(F.HostIa32SysenterCs, 0x10);
    vmcs.set(F.HostIa32SysenterEsp, 0xaaaa0000, 0x1);
    vmcs.set(F.HostIa32SysenterEip, 0xbbbb0000, 0x2);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    const c = m.cpu;
    expect(c.cr0 >>> 0).toBe((HOST.cr0 | Cr0.CD | Cr0.NW) >>> 0);
    expect([c.cr3Lo, c.cr3Hi]).toEqual([0x70000, 0]);
    expect(c.cr4).toBe(HOST.cr4);
    expect([c.drLo[7], c.drHi[7]]).toEqual([0x400, 0]);
    expect([c.sysenterCs, c.sysenterEspLo >>> 0, c.sysenterEspHi, c.sysenterEipLo >>> 0, c.sysenterEipHi]).toEqual([0x10, 0xaaaa0000, 1, 0xbbbb0000, 2]);
  });

  it('loads IA32_PAT only with "load IA32_PAT"; sets EFER.LMA/LME from the host address-space size without "load IA32_EFER"', () => {
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect([m.cpu.patLo, m.cpu.patHi]).toEqual([0x01020304, 0x05060700]);
    expect(m.cpu.efer).toBe(Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE);
    enterGuest();
    vmcs.set(F.VmExitControls, vmcs.get(F.VmExitControls) | ExitCtl.LoadIa32Pat | ExitCtl.LoadIa32Efer);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect([m.cpu.patLo, m.cpu.patHi]).toEqual([0x00070406, 0x00070406]);
    expect(m.cpu.efer).toBe(HOST.efer);
  });

  it('loads the segment registers with the fixed host values (§27.5.2)', () => {
    vmcs.set(F.HostFsSelector, 0x10);
    vmcs.set(F.HostFsBase, 0x12345000, 0x1);
    vmcs.set(F.HostGsBase, 0x6000, 0x2);
    vmcs.set(F.HostTrBase, 0x9000, 0x3);
    vmcs.set(F.HostGdtrBase, 0x1000, 0x4);
    vmcs.set(F.HostIdtrBase, 0x2000, 0x5);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    const c = m.cpu;
    const seg = (s: number): number[] => [c.segSel[s]!, c.segBase[s]! >>> 0, c.segBaseHi[s]!, c.segLimit[s]!, c.segAttr[s]!];
    // CS: type 11, S, DPL 0, P, L = 1 (64-bit host), D = 0, G.
    expect(seg(Seg.CS)).toEqual([0x08, 0, 0, 0xffffffff, 0xa09b]);
    // SS/DS/ES: type 3, S, P, D/B, G.
    expect(seg(Seg.SS)).toEqual([0x10, 0, 0, 0xffffffff, 0xc093]);
    expect(seg(Seg.DS)).toEqual([0x10, 0, 0, 0xffffffff, 0xc093]);
    expect(seg(Seg.ES)).toEqual([0x10, 0, 0, 0xffffffff, 0xc093]);
    expect(seg(Seg.FS)).toEqual([0x10, 0x12345000, 1, 0xffffffff, 0xc093]);
    // GS selector 0: unusable, base still loaded.
    expect(c.segSel[Seg.GS]).toBe(0);
    expect(c.segAttr[Seg.GS]! & (SegAttr.Unusable | SegAttr.P)).toBe(SegAttr.Unusable);
    expect([c.segBase[Seg.GS], c.segBaseHi[Seg.GS]]).toEqual([0x6000, 2]);
    // TR: busy TSS type 11, limit 67H; LDTR unusable with selector 0.
    expect(seg(Seg.TR)).toEqual([0x40, 0x9000, 3, 0x67, 0x8b]);
    expect(c.segSel[Seg.LDTR]).toBe(0);
    expect(c.segAttr[Seg.LDTR]! & (SegAttr.Unusable | SegAttr.P)).toBe(SegAttr.Unusable);
    expect([c.gdtrBaseLo, c.gdtrBaseHi, c.gdtrLimit]).toEqual([0x1000, 4, 0xffff]);
    expect([c.idtrBaseLo, c.idtrBaseHi, c.idtrLimit]).toEqual([0x2000, 5, 0xffff]);
  });

  it('loads RIP and RSP, RFLAGS = 2 (§27.5.3), in 64-bit mode at CPL 0', () => {
    vmcs.set(F.HostRip, HOST_RIP, 0x1);
    vmcs.set(F.HostRsp, HOST_RSP, 0x2);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    const c = m.cpu;
    expect([c.ripLo, c.ripHi, c.nipLo, c.nipHi]).toEqual([HOST_RIP, 1, HOST_RIP, 1]);
    expect([c.gpr[4], c.gprHi[4]]).toEqual([HOST_RSP, 2]);
    expect(c.getEflags()).toBe(2);
    expect(c.cpl).toBe(0);
    expect(c.mode).toBe(CodeMode.Bits64);
  });

  it('leaves non-root operation: guest mode off, the core hooks neutral, INIT blocked, TLB bank 0 (§27.5.5)', () => {
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    const c = m.cpu;
    expect(c.guestMode).toBe(false);
    expect([c.cr0GuestMask, c.cr0ReadShadow, c.cr4GuestMask, c.cr4ReadShadow, c.tscOffsetLo, c.tscOffsetHi]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(c.extBoundary).toBe(false);
    expect(c.extDeadline).toBe(Infinity);
    expect(c.initBlocked).toBe(true);
    expect(c.tlbBankTag).toBe(0);
  });

  it('blocks NMIs after an exit caused by an NMI (§27.5.5)', () => {
    vmcs.set(F.VmExitInterruptionInfo, 0x80000202);
    m.cpu.nmiBlocked = false;
    vmExit(m.vmx, m.cpu, 0, 0, 0);
    expect(m.cpu.nmiBlocked).toBe(true);
  });

  it('with a 32-bit host: CS.D = 1, L = 0, EFER.LMA/LME = 0, CR4.PCIDE = 0, high halves of RIP/RSP cleared', () => {
    m.cpu.efer &= ~(Efer.LMA | Efer.LME);
    vmcs.set(F.VmExitControls, vmcs.get(F.VmExitControls) & ~ExitCtl.HostAddressSpaceSize);
    vmcs.set(F.HostCr4, Cr4.VMXE | Cr4.PCIDE);
    vmcs.set(F.HostCr0, (Cr0.PE | Cr0.NE | Cr0.ET) | 0);
    vmcs.set(F.HostRip, HOST_RIP, 0x1);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    const c = m.cpu;
    expect(c.segAttr[Seg.CS]).toBe(0xc09b);
    expect(c.efer & (Efer.LMA | Efer.LME)).toBe(0);
    expect(c.cr4).toBe(Cr4.VMXE);
    expect([c.ripLo, c.ripHi]).toEqual([HOST_RIP, 0]);
    expect(c.mode).toBe(CodeMode.Bits32);
  });
});

describe('§27.4 / §27.6 MSR lists', () => {
  function list(at: number, entries: [number, number, number][], field: number, countField: number): void {
    entries.forEach(([index, lo, hi], i) => {
      m.w32(at + 16 * i, index);
      m.w32(at + 16 * i + 4, 0);
      m.w32(at + 16 * i + 8, lo);
      m.w32(at + 16 * i + 12, hi);
    });
    vmcs.set(field, at);
    vmcs.set(countField, entries.length);
  }

  it('stores the guest MSRs before loading host state, then loads the host MSRs', () => {
    m.cpu.kernelGsBaseLo = 0x11110000;
    m.cpu.kernelGsBaseHi = 0x7;
    list(STORE_LIST, [[0x174, 0, 0], [0xc0000102, 0, 0]], F.VmExitMsrStoreAddress, F.VmExitMsrStoreCount);
    list(LOAD_LIST, [[0xc0000102, 0x22220000, 0x8], [0x174, 0x99, 0]], F.VmExitMsrLoadAddress, F.VmExitMsrLoadCount);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect([m.r32(STORE_LIST + 8), m.r32(STORE_LIST + 12)]).toEqual([0x1234, 0]);
    expect([m.r32(STORE_LIST + 24), m.r32(STORE_LIST + 28)]).toEqual([0x11110000, 7]);
    expect([m.cpu.kernelGsBaseLo, m.cpu.kernelGsBaseHi]).toEqual([0x22220000, 8]);
    // The load list comes after the host-state fields (§27.6): SYSENTER_CS from the list.
    expect(m.cpu.sysenterCs).toBe(0x99);
    expect(m.cpu.shutdown).toBe(false);
  });

  const abortCases: [string, () => void, number][] = [
    ['storing an x2APIC MSR', () => list(STORE_LIST, [[0x802, 0, 0]], F.VmExitMsrStoreAddress, F.VmExitMsrStoreCount), VmxAbortIndicator.SaveGuestMsrs],
    ['storing IA32_SMBASE', () => list(STORE_LIST, [[0x9e, 0, 0]], F.VmExitMsrStoreAddress, F.VmExitMsrStoreCount), VmxAbortIndicator.SaveGuestMsrs],
    ['storing an MSR RDMSR cannot read', () => list(STORE_LIST, [[0x12345, 0, 0]], F.VmExitMsrStoreAddress, F.VmExitMsrStoreCount), VmxAbortIndicator.SaveGuestMsrs],
    ['loading IA32_FS_BASE', () => list(LOAD_LIST, [[0xc0000100, 0, 0]], F.VmExitMsrLoadAddress, F.VmExitMsrLoadCount), VmxAbortIndicator.LoadHostMsrs],
    ['loading IA32_GS_BASE', () => list(LOAD_LIST, [[0xc0000101, 0, 0]], F.VmExitMsrLoadAddress, F.VmExitMsrLoadCount), VmxAbortIndicator.LoadHostMsrs],
    ['loading IA32_SMM_MONITOR_CTL', () => list(LOAD_LIST, [[0x9b, 0, 0]], F.VmExitMsrLoadAddress, F.VmExitMsrLoadCount), VmxAbortIndicator.LoadHostMsrs],
    ['loading a value WRMSR rejects (IA32_DEBUGCTL = 1)', () => list(LOAD_LIST, [[0x1d9, 1, 0]], F.VmExitMsrLoadAddress, F.VmExitMsrLoadCount), VmxAbortIndicator.LoadHostMsrs],
  ];
  for (const [name, setup, indicator] of abortCases) {
    it(`VMX abort ${indicator} for ${name} (§27.7): indicator at region offset 4, shutdown`, () => {
      setup();
      vmExit(m.vmx, m.cpu, 10, 0, 0);
      expect(m.r32(VMCS_AT + 4)).toBe(indicator);
      expect(m.vmx.abortIndicator).toBe(indicator);
      expect(m.cpu.shutdown).toBe(true);
      expect(m.cpu.guestMode).toBe(false);
    });
  }

  it('an entry with reserved bits 63:32 set fails', () => {
    list(STORE_LIST, [[0x174, 0, 0]], F.VmExitMsrStoreAddress, F.VmExitMsrStoreCount);
    m.w32(STORE_LIST + 4, 1);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect(m.r32(VMCS_AT + 4)).toBe(VmxAbortIndicator.SaveGuestMsrs);
  });
});

describe('§27.7 VMX aborts while loading host state', () => {
  it('aborts with indicator 6 when the guest was in IA-32e mode and the host address-space size is 0', () => {
    vmcs.set(F.VmExitControls, vmcs.get(F.VmExitControls) & ~ExitCtl.HostAddressSpaceSize);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect(m.r32(VMCS_AT + 4)).toBe(VmxAbortIndicator.LongModeToLegacyHost);
    expect(m.cpu.shutdown).toBe(true);
  });

  it('aborts with indicator 2 when a 32-bit PAE host has an invalid PDPTE', () => {
    m.cpu.efer &= ~(Efer.LMA | Efer.LME);
    vmcs.set(F.VmExitControls, vmcs.get(F.VmExitControls) & ~ExitCtl.HostAddressSpaceSize);
    vmcs.set(F.HostCr3, 0x150000);
    m.w32(0x150000, 0x1 | 0x100); // present with a reserved bit (bit 8)
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect(m.r32(VMCS_AT + 4)).toBe(VmxAbortIndicator.HostPdpte);
  });

  it('loads the host PDPTEs for a valid 32-bit PAE host', () => {
    m.cpu.efer &= ~(Efer.LMA | Efer.LME);
    vmcs.set(F.VmExitControls, vmcs.get(F.VmExitControls) & ~ExitCtl.HostAddressSpaceSize);
    vmcs.set(F.HostCr3, 0x150000);
    m.fill(0x150000, 32);
    m.w32(0x150008, 0x161001);
    vmExit(m.vmx, m.cpu, 10, 0, 0);
    expect(m.cpu.shutdown).toBe(false);
    expect(m.cpu.walker.pdptes[2]).toBe(0x161001);
  });
});

describe('§26.8 VM-entry failure exits', () => {
  it('records reason | 1 << 31 and the qualification, saves no guest state, stores no MSRs, loads host state', () => {
    vmcs.set(F.GuestRip, 0xdead);
    m.w32(STORE_LIST, 0x174);
    vmcs.set(F.VmExitMsrStoreAddress, STORE_LIST);
    vmcs.set(F.VmExitMsrStoreCount, 1);
    m.w32(STORE_LIST + 8, 0x5a5a);
    m.cpu.guestMode = false;
    entryFailureExit(m.vmx, m.cpu, 34, 3);
    expect(get(F.VmExitReason)).toBe((0x80000000 | 34) >>> 0);
    expect(get(F.ExitQualification)).toBe(3);
    expect(get(F.GuestRip)).toBe(0xdead);
    expect(m.r32(STORE_LIST + 8)).toBe(0x5a5a);
    expect([m.cpu.ripLo, m.cpu.getEflags(), m.cpu.segAttr[Seg.CS]]).toEqual([HOST_RIP, 2, 0xa09b]);
    expect(exits).toBe(1);
  });
});

describe('helpers', () => {
  it('nmiUnblockingDueToIret: bit 12 while the IRET that unblocked NMIs has not retired', () => {
    const c = m.cpu;
    noteIretUnblocking(m.vmx, c, c.blockStart, true);
    expect(nmiUnblockingDueToIret(m.vmx, c)).toBe(1 << 12);
    c.icount++;
    expect(nmiUnblockingDueToIret(m.vmx, c)).toBe(0);
    noteIretUnblocking(m.vmx, c, c.blockStart, false);
    expect(nmiUnblockingDueToIret(m.vmx, c)).toBe(0);
  });

  it('preemptionTimerValue counts periods of 2^5 TSC ticks to the timer deadline, rounded up', () => {
    const c = m.cpu;
    m.vmx.timerDeadline = c.icount + 64;
    expect(preemptionTimerValue(m.vmx, c)).toBe(2);
    m.vmx.timerDeadline = c.icount + 65;
    expect(preemptionTimerValue(m.vmx, c)).toBe(3);
    m.vmx.timerDeadline = c.icount;
    expect(preemptionTimerValue(m.vmx, c)).toBe(0);
    m.vmx.timerDeadline = Infinity;
    expect(preemptionTimerValue(m.vmx, c)).toBe(-1);
  });
});
