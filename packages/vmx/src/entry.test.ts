/**
 * VM entry (SDM Vol. 3C ch. 26): every check with a passing and a failing VMCS, guest-state
 * loading, MSR loading, event injection and activity states. Expected values come from the SDM:
 * VMfailValid 7 (§26.2.1 controls) / 8 (§26.2.2-26.2.4 host state) with RFLAGS.ZF = 1 and the
 * VM-instruction error field; VM-entry failure exits 33 (guest state, §26.3.1; qualification 0,
 * 2 PDPTEs, 3 NMI under STI blocking, 4 VMCS link pointer) and 34 (MSR loading, §26.4:
 * qualification = the failing entry's 1-based index).
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { Cr0, Cr4, Efer, Flag, Seg, SegAttr } from '@hvkit/x86';
import { EntryCtl, ExitCtl, Interruptibility, PinCtl, Proc2Ctl, ProcCtl, VmFuncCtl } from './constants.js';
import { vmEntry } from './entry.js';
import { entryFailureExit } from './exit.js';
import type * as ExitModule from './exit.js';
import { Vmcs, VmcsField as F } from './fields.js';
import { CODE, VmxMachine, X } from './test-harness.js';
import {
  AR,
  eptp,
  GUEST_GDT,
  GUEST_HANDLERS,
  GUEST_IDT,
  GUEST_REAL_CS,
  GUEST_RIP,
  GUEST_RSP,
  GUEST_TSS,
  HOST,
  HOST_RIP,
  setGuestSegment,
  validControls,
  validGuest32,
  validGuest64,
  validGuestReal,
  validHost64,
  withEpt,
  withSecondary,
  writeGuestTables,
} from './vmcs-fixture.js';

vi.mock('./exit.js', async (importOriginal) => {
  const mod = await importOriginal<typeof ExitModule>();
  return { ...mod, entryFailureExit: vi.fn(mod.entryFailureExit) };
});

const failureExit = vi.mocked(entryFailureExit);

const VMCS_AT = 0x101000;
const EPT_ROOT = 0x300000;
const SCRATCH = 0x310000;
/** A high half that is not canonical for 48- or 57-bit linear addresses (bit 56 set, 63:57 clear). */
const NONCANON = 0x01000000;

type Outcome = { fail: number } | { exit: number; qual: number } | 'entered';

let m: VmxMachine;
let vmcs: Vmcs;

function setup(): void {
  m = new VmxMachine().long64().enableVmx();
  m.cpu.onEvent = null;
  vmcs = new Vmcs();
  vmcs.address = VMCS_AT;
  m.vmx.inVmx = true;
  m.vmx.current = vmcs;
  m.cpu.initBlocked = true;
  validControls(vmcs, m.vmx.caps);
  validHost64(vmcs);
  validGuest64(vmcs);
  writeGuestTables(m);
  // EPT tables (for tests that enable EPT): an empty PML4 is enough for VM entry.
  m.fill(EPT_ROOT, 0x1000);
}

/** Writes a field (and bumps the generation, as VMWRITE does). */
function set(field: number, lo: number, hi = 0): void {
  vmcs.set(field, lo, hi);
  vmcs.generation++;
}
function or(field: number, bits: number): void {
  set(field, vmcs.get(field) | bits, vmcs.getHi(field));
}
function andNot(field: number, bits: number): void {
  set(field, vmcs.get(field) & ~bits, vmcs.getHi(field));
}

/** Runs VM entry and classifies the outcome. */
function enter(launch = true): Outcome {
  failureExit.mockClear();
  m.setArith(0);
  vmcs.set(F.VmInstructionError, 0);
  vmEntry(m.vmx, m.cpu, launch);
  if (failureExit.mock.calls.length > 0) {
    const c = failureExit.mock.calls[0]!;
    // §26.8: exit reason with bit 31 set, the qualification, host state loaded (RIP = host RIP).
    expect(vmcs.get(F.VmExitReason) >>> 0).toBe((c[2] | 0x8000_0000) >>> 0);
    expect(vmcs.get(F.ExitQualification)).toBe(c[3]);
    expect(m.cpu.guestMode).toBe(false);
    expect(m.cpu.ripLo).toBe(vmcs.get(F.HostRip));
    return { exit: c[2], qual: c[3] };
  }
  if (!m.cpu.guestMode && (m.rflags & Flag.ZF) !== 0) {
    expect(m.outcome()).toBe('failValid');
    return { fail: vmcs.get(F.VmInstructionError) };
  }
  expect(m.cpu.guestMode).toBe(true);
  return 'entered';
}

const FAIL_CTL = { fail: 7 };
const FAIL_HOST = { fail: 8 };
const guestFail = (qual = 0): Outcome => ({ exit: 33, qual });

beforeEach(setup);

interface Case {
  name: string;
  mutate: () => void;
  expected: Outcome;
}

function cases(list: Case[]): void {
  for (const c of list) {
    it(c.name, () => {
      c.mutate();
      expect(enter()).toEqual(c.expected);
    });
  }
}

describe('baseline', () => {
  it('the fixture VMCS enters, and VMLAUNCH marks it launched', () => {
    expect(enter(true)).toBe('entered');
    expect(vmcs.launched).toBe(true);
    expect(vmcs.checkedGeneration).toBe(vmcs.generation);
    expect(failureExit).not.toHaveBeenCalled();
  });

  it('VMRESUME leaves the launch state as it is', () => {
    expect(enter(false)).toBe('entered');
    expect(vmcs.launched).toBe(false);
  });

  it('skips the control/host checks for an unchanged VMCS and re-runs them after a VMWRITE', () => {
    expect(enter()).toBe('entered');
    setup();
    expect(enter()).toBe('entered');
    // Break the host state behind VMWRITE's back: the cached verdict stands...
    m.cpu.guestMode = false;
    vmcs.set(F.HostCsSelector, 0);
    expect(enter()).toBe('entered');
    // ...until the generation moves (any VMWRITE).
    m.cpu.guestMode = false;
    vmcs.generation++;
    expect(enter()).toEqual(FAIL_HOST);
  });
});

describe('§26.2.1.1 VM-execution control fields (VMfailValid 7)', () => {
  cases([
    { name: 'pin-based default1 bit 1 clear', mutate: () => andNot(F.PinBasedVmExecControl, 2), expected: FAIL_CTL },
    { name: 'pin-based unsupported "process posted interrupts"', mutate: () => or(F.PinBasedVmExecControl, PinCtl.ProcessPostedInterrupts), expected: FAIL_CTL },
    { name: 'pin-based external-interrupt exiting (allowed)', mutate: () => or(F.PinBasedVmExecControl, PinCtl.ExternalInterruptExiting), expected: 'entered' },
    { name: 'primary default1 bit 1 clear', mutate: () => andNot(F.CpuBasedVmExecControl, 2), expected: FAIL_CTL },
    { name: 'primary CR3-load/store exiting clear (TRUE MSR allows)', mutate: () => andNot(F.CpuBasedVmExecControl, ProcCtl.Cr3LoadExiting | ProcCtl.Cr3StoreExiting), expected: 'entered' },
    { name: 'primary unsupported "activate tertiary controls"', mutate: () => or(F.CpuBasedVmExecControl, ProcCtl.ActivateTertiaryControls), expected: FAIL_CTL },
    { name: 'secondary unsupported "VMCS shadowing"', mutate: () => withSecondary(vmcs, Proc2Ctl.VmcsShadowing), expected: FAIL_CTL },
    { name: 'secondary field ignored without "activate secondary controls"', mutate: () => set(F.SecondaryVmExecControl, Proc2Ctl.VmcsShadowing), expected: 'entered' },
    { name: 'CR3-target count 5', mutate: () => set(F.Cr3TargetCount, 5), expected: FAIL_CTL },
    { name: 'CR3-target count 4', mutate: () => set(F.Cr3TargetCount, 4), expected: 'entered' },
    {
      name: 'I/O bitmap A not 4-KiB aligned',
      mutate: () => {
        or(F.CpuBasedVmExecControl, ProcCtl.UseIoBitmaps);
        set(F.IoBitmapA, 0x1001);
        set(F.IoBitmapB, 0x2000);
      },
      expected: FAIL_CTL,
    },
    {
      name: 'I/O bitmap B beyond the physical-address width',
      mutate: () => {
        or(F.CpuBasedVmExecControl, ProcCtl.UseIoBitmaps);
        set(F.IoBitmapA, 0x1000);
        set(F.IoBitmapB, 0x2000, 1 << (m.cpu.model.physAddrBits - 32));
      },
      expected: FAIL_CTL,
    },
    {
      name: 'I/O bitmaps aligned',
      mutate: () => {
        or(F.CpuBasedVmExecControl, ProcCtl.UseIoBitmaps);
        set(F.IoBitmapA, 0x1000);
        set(F.IoBitmapB, 0x2000);
      },
      expected: 'entered',
    },
    {
      name: 'MSR bitmap not aligned',
      mutate: () => {
        or(F.CpuBasedVmExecControl, ProcCtl.UseMsrBitmaps);
        set(F.MsrBitmap, 0x3800);
      },
      expected: FAIL_CTL,
    },
    {
      name: 'MSR bitmap aligned',
      mutate: () => {
        or(F.CpuBasedVmExecControl, ProcCtl.UseMsrBitmaps);
        set(F.MsrBitmap, 0x3000);
      },
      expected: 'entered',
    },
    {
      name: 'virtual-APIC address not aligned',
      mutate: () => {
        or(F.CpuBasedVmExecControl, ProcCtl.UseTprShadow);
        set(F.VirtualApicAddress, SCRATCH + 8);
      },
      expected: FAIL_CTL,
    },
    {
      name: 'TPR threshold bits 31:4 not 0',
      mutate: () => {
        or(F.CpuBasedVmExecControl, ProcCtl.UseTprShadow);
        set(F.VirtualApicAddress, SCRATCH);
        m.w8(SCRATCH + 0x80, 0xf0);
        set(F.TprThreshold, 0x10);
      },
      expected: FAIL_CTL,
    },
    {
      name: 'TPR threshold 3 above VTPR[7:4] = 2',
      mutate: () => {
        or(F.CpuBasedVmExecControl, ProcCtl.UseTprShadow);
        set(F.VirtualApicAddress, SCRATCH);
        m.w8(SCRATCH + 0x80, 0x20);
        set(F.TprThreshold, 3);
      },
      expected: FAIL_CTL,
    },
    {
      name: 'TPR threshold 2 = VTPR[7:4]',
      mutate: () => {
        or(F.CpuBasedVmExecControl, ProcCtl.UseTprShadow);
        set(F.VirtualApicAddress, SCRATCH);
        m.w8(SCRATCH + 0x80, 0x2f);
        set(F.TprThreshold, 2);
      },
      expected: 'entered',
    },
    { name: 'virtual NMIs without NMI exiting', mutate: () => or(F.PinBasedVmExecControl, PinCtl.VirtualNmis), expected: FAIL_CTL },
    { name: 'virtual NMIs with NMI exiting', mutate: () => or(F.PinBasedVmExecControl, PinCtl.VirtualNmis | PinCtl.NmiExiting), expected: 'entered' },
    { name: 'NMI-window exiting without virtual NMIs', mutate: () => or(F.CpuBasedVmExecControl, ProcCtl.NmiWindowExiting), expected: FAIL_CTL },
    {
      name: 'NMI-window exiting with virtual NMIs',
      mutate: () => {
        or(F.PinBasedVmExecControl, PinCtl.VirtualNmis | PinCtl.NmiExiting);
        or(F.CpuBasedVmExecControl, ProcCtl.NmiWindowExiting);
      },
      expected: 'entered',
    },
    {
      name: 'APIC-access address not aligned',
      mutate: () => {
        withSecondary(vmcs, Proc2Ctl.VirtualizeApicAccesses);
        set(F.ApicAccessAddress, 0xfee00010);
      },
      expected: FAIL_CTL,
    },
    {
      name: 'APIC-access address aligned',
      mutate: () => {
        withSecondary(vmcs, Proc2Ctl.VirtualizeApicAccesses);
        set(F.ApicAccessAddress, 0xfee00000);
      },
      expected: 'entered',
    },
    { name: 'enable VPID with VPID 0', mutate: () => withSecondary(vmcs, Proc2Ctl.EnableVpid), expected: FAIL_CTL },
    {
      name: 'enable VPID with VPID 1',
      mutate: () => {
        withSecondary(vmcs, Proc2Ctl.EnableVpid);
        set(F.VirtualProcessorId, 1);
      },
      expected: 'entered',
    },
    { name: 'EPT with a valid EPTP', mutate: () => withEpt(vmcs, EPT_ROOT), expected: 'entered' },
    {
      name: 'EPTP memory type 1 (WC)',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT);
        set(F.EptPointer, EPT_ROOT | 1 | (3 << 3));
      },
      expected: FAIL_CTL,
    },
    {
      name: 'EPTP page-walk length 3',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT);
        set(F.EptPointer, EPT_ROOT | 6 | (2 << 3));
      },
      expected: FAIL_CTL,
    },
    {
      name: 'EPTP reserved bit 7',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT);
        set(F.EptPointer, eptp(EPT_ROOT) | 0x80);
      },
      expected: FAIL_CTL,
    },
    {
      name: 'EPTP beyond the physical-address width',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT);
        set(F.EptPointer, eptp(EPT_ROOT), 1 << (m.cpu.model.physAddrBits - 32));
      },
      expected: FAIL_CTL,
    },
    { name: 'unrestricted guest without EPT', mutate: () => withSecondary(vmcs, Proc2Ctl.UnrestrictedGuest), expected: FAIL_CTL },
    { name: 'unrestricted guest with EPT', mutate: () => withEpt(vmcs, EPT_ROOT, true), expected: 'entered' },
    {
      name: 'VM-function control bit 1 (unsupported)',
      mutate: () => {
        withSecondary(vmcs, Proc2Ctl.EnableVmFunctions);
        set(F.VmFunctionControls, 2);
      },
      expected: FAIL_CTL,
    },
    {
      name: 'EPTP switching without EPT',
      mutate: () => {
        withSecondary(vmcs, Proc2Ctl.EnableVmFunctions);
        set(F.VmFunctionControls, VmFuncCtl.EptpSwitching);
        set(F.EptpListAddress, SCRATCH);
      },
      expected: FAIL_CTL,
    },
    {
      name: 'EPTP switching with an unaligned EPTP list',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT);
        withSecondary(vmcs, vmcs.get(F.SecondaryVmExecControl) | Proc2Ctl.EnableVmFunctions);
        set(F.VmFunctionControls, VmFuncCtl.EptpSwitching);
        set(F.EptpListAddress, SCRATCH + 0x100);
      },
      expected: FAIL_CTL,
    },
    {
      name: 'EPTP switching with EPT and an aligned EPTP list',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT);
        withSecondary(vmcs, vmcs.get(F.SecondaryVmExecControl) | Proc2Ctl.EnableVmFunctions);
        set(F.VmFunctionControls, VmFuncCtl.EptpSwitching);
        set(F.EptpListAddress, SCRATCH);
      },
      expected: 'entered',
    },
  ]);
});

describe('§26.2.1.2 VM-exit control fields (VMfailValid 7)', () => {
  cases([
    { name: 'default1 bit 0 clear', mutate: () => andNot(F.VmExitControls, 1), expected: FAIL_CTL },
    { name: 'save debug controls clear (TRUE MSR allows)', mutate: () => andNot(F.VmExitControls, ExitCtl.SaveDebugControls), expected: 'entered' },
    { name: 'unsupported "load IA32_PERF_GLOBAL_CTRL"', mutate: () => or(F.VmExitControls, ExitCtl.LoadIa32PerfGlobalCtrl), expected: FAIL_CTL },
    { name: 'save preemption timer without activating it', mutate: () => or(F.VmExitControls, ExitCtl.SaveVmxPreemptionTimerValue), expected: FAIL_CTL },
    {
      name: 'save preemption timer with the timer active',
      mutate: () => {
        or(F.VmExitControls, ExitCtl.SaveVmxPreemptionTimerValue);
        or(F.PinBasedVmExecControl, PinCtl.ActivateVmxPreemptionTimer);
        set(F.VmxPreemptionTimerValue, 1000);
      },
      expected: 'entered',
    },
    {
      name: 'MSR-store area not 16-byte aligned',
      mutate: () => {
        set(F.VmExitMsrStoreCount, 1);
        set(F.VmExitMsrStoreAddress, SCRATCH + 8);
      },
      expected: FAIL_CTL,
    },
    {
      name: 'MSR-store area aligned',
      mutate: () => {
        set(F.VmExitMsrStoreCount, 1);
        set(F.VmExitMsrStoreAddress, SCRATCH + 16);
      },
      expected: 'entered',
    },
    {
      name: 'MSR-load area whose last byte is beyond the width',
      mutate: () => {
        const top = 2 ** m.cpu.model.physAddrBits;
        set(F.VmExitMsrLoadCount, 2);
        vmcs.set64(F.VmExitMsrLoadAddress, top - 16);
        vmcs.generation++;
      },
      expected: FAIL_CTL,
    },
    {
      name: 'MSR-load area unaligned but count 0 (not checked)',
      mutate: () => set(F.VmExitMsrLoadAddress, SCRATCH + 4),
      expected: 'entered',
    },
  ]);
});

describe('§26.2.1.3 VM-entry control fields (VMfailValid 7)', () => {
  cases([
    { name: 'default1 bit 0 clear', mutate: () => andNot(F.VmEntryControls, 1), expected: FAIL_CTL },
    { name: 'entry to SMM', mutate: () => or(F.VmEntryControls, EntryCtl.EntryToSmm), expected: FAIL_CTL },
    { name: 'deactivate dual-monitor treatment', mutate: () => or(F.VmEntryControls, EntryCtl.DeactivateDualMonitorTreatment), expected: FAIL_CTL },
    {
      name: 'MSR-load area unaligned',
      mutate: () => {
        set(F.VmEntryMsrLoadCount, 1);
        set(F.VmEntryMsrLoadAddress, SCRATCH + 1);
      },
      expected: FAIL_CTL,
    },
  ]);
});

describe('§26.2.1.3 event-injection fields (VMfailValid 7)', () => {
  const inject = (info: number, error = 0, len = 0): (() => void) => () => {
    set(F.VmEntryInterruptionInfo, info);
    set(F.VmEntryExceptionErrorCode, error);
    set(F.VmEntryInstructionLength, len);
  };
  const V = 1 << 31;
  cases([
    { name: 'interruption type 1 (reserved)', mutate: inject(V | (1 << 8) | 0x20), expected: FAIL_CTL },
    { name: 'NMI with vector 3', mutate: inject(V | (2 << 8) | 3), expected: FAIL_CTL },
    { name: 'hardware exception vector 32', mutate: inject(V | (3 << 8) | 32), expected: FAIL_CTL },
    { name: 'other event with vector 1', mutate: inject(V | (7 << 8) | 1), expected: FAIL_CTL },
    { name: '#GP without deliver-error-code', mutate: inject(V | (3 << 8) | 13), expected: FAIL_CTL },
    { name: '#UD with deliver-error-code', mutate: inject(V | (3 << 8) | (1 << 11) | 6), expected: FAIL_CTL },
    { name: 'software interrupt with deliver-error-code', mutate: inject(V | (4 << 8) | (1 << 11) | 0x80, 0, 2), expected: FAIL_CTL },
    { name: 'reserved bit 12', mutate: inject(V | (1 << 12) | (3 << 8) | 6), expected: FAIL_CTL },
    { name: 'error code bits 31:16 not 0', mutate: inject(V | (3 << 8) | (1 << 11) | 13, 0x10000), expected: FAIL_CTL },
    { name: 'software interrupt with instruction length 0', mutate: inject(V | (4 << 8) | 0x80, 0, 0), expected: FAIL_CTL },
    { name: 'software exception with instruction length 16', mutate: inject(V | (6 << 8) | 3, 0, 16), expected: FAIL_CTL },
    { name: 'privileged software exception with instruction length 0', mutate: inject(V | (5 << 8) | 1, 0, 0), expected: FAIL_CTL },
    { name: 'the fields are ignored without the valid bit', mutate: inject((1 << 8) | 0x20), expected: 'entered' },
    {
      name: 'unrestricted real-mode guest: #GP must not deliver an error code',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT, true);
        validGuestReal(vmcs);
        inject(V | (3 << 8) | (1 << 11) | 13)();
      },
      expected: FAIL_CTL,
    },
  ]);
});

describe('§26.2.2-26.2.4 host state (VMfailValid 8)', () => {
  cases([
    { name: 'CR0.PE clear (FIXED0)', mutate: () => andNot(F.HostCr0, Cr0.PE), expected: FAIL_HOST },
    { name: 'CR0 bit 32 set (FIXED1)', mutate: () => set(F.HostCr0, HOST.cr0, 1), expected: FAIL_HOST },
    { name: 'CR4.VMXE clear (FIXED0)', mutate: () => andNot(F.HostCr4, Cr4.VMXE), expected: FAIL_HOST },
    { name: 'CR4 bit 31 (not in FIXED1)', mutate: () => or(F.HostCr4, 1 << 31), expected: FAIL_HOST },
    { name: 'CR3 beyond the physical-address width', mutate: () => set(F.HostCr3, 0x70000, 1 << (m.cpu.model.physAddrBits - 32)), expected: FAIL_HOST },
    { name: 'IA32_SYSENTER_ESP not canonical', mutate: () => set(F.HostIa32SysenterEsp, 0, NONCANON), expected: FAIL_HOST },
    { name: 'IA32_SYSENTER_EIP canonical high half', mutate: () => set(F.HostIa32SysenterEip, 0, -0x8000), expected: 'entered' },
    {
      name: 'load IA32_PAT with memory type 2',
      mutate: () => {
        or(F.VmExitControls, ExitCtl.LoadIa32Pat);
        set(F.HostIa32Pat, 0x00070402, 0x00070406);
      },
      expected: FAIL_HOST,
    },
    { name: 'load IA32_PAT with a valid PAT', mutate: () => or(F.VmExitControls, ExitCtl.LoadIa32Pat), expected: 'entered' },
    {
      name: 'load IA32_EFER with LMA clear in a 64-bit host',
      mutate: () => {
        or(F.VmExitControls, ExitCtl.LoadIa32Efer);
        set(F.HostIa32Efer, Efer.LME | Efer.SCE);
      },
      expected: FAIL_HOST,
    },
    {
      name: 'load IA32_EFER with a reserved bit',
      mutate: () => {
        or(F.VmExitControls, ExitCtl.LoadIa32Efer);
        set(F.HostIa32Efer, HOST.efer | 2);
      },
      expected: FAIL_HOST,
    },
    { name: 'load IA32_EFER valid', mutate: () => or(F.VmExitControls, ExitCtl.LoadIa32Efer), expected: 'entered' },
    { name: 'ES selector RPL 3', mutate: () => set(F.HostEsSelector, 0x13), expected: FAIL_HOST },
    { name: 'DS selector TI = 1', mutate: () => set(F.HostDsSelector, 0x14), expected: FAIL_HOST },
    { name: 'CS selector 0', mutate: () => set(F.HostCsSelector, 0), expected: FAIL_HOST },
    { name: 'TR selector 0', mutate: () => set(F.HostTrSelector, 0), expected: FAIL_HOST },
    { name: 'SS selector 0 in a 64-bit host (allowed)', mutate: () => set(F.HostSsSelector, 0), expected: 'entered' },
    { name: 'FS base not canonical', mutate: () => set(F.HostFsBase, 0, NONCANON), expected: FAIL_HOST },
    { name: 'GS base not canonical', mutate: () => set(F.HostGsBase, 0, NONCANON), expected: FAIL_HOST },
    { name: 'GDTR base not canonical', mutate: () => set(F.HostGdtrBase, 0, NONCANON), expected: FAIL_HOST },
    { name: 'IDTR base not canonical', mutate: () => set(F.HostIdtrBase, 0, NONCANON), expected: FAIL_HOST },
    { name: 'TR base not canonical', mutate: () => set(F.HostTrBase, 0, NONCANON), expected: FAIL_HOST },
    { name: '64-bit host with CR4.PAE clear', mutate: () => andNot(F.HostCr4, Cr4.PAE), expected: FAIL_HOST },
    { name: '64-bit host RIP not canonical (48-bit: host CR4.LA57 = 0)', mutate: () => set(F.HostRip, 0, 0x8000), expected: FAIL_HOST },
    { name: 'host address-space size 0 while the processor is in IA-32e mode', mutate: () => andNot(F.VmExitControls, ExitCtl.HostAddressSpaceSize), expected: FAIL_HOST },
  ]);

  it('outside IA-32e mode: "IA-32e mode guest" = 1 fails, a 32-bit host and guest enter', () => {
    m = new VmxMachine().flat32().enableVmx();
    m.cpu.cr0 |= Cr0.PG;
    m.fill(SCRATCH, 0x1000);
    m.cpu.cr3Lo = SCRATCH;
    m.cpu.updateMode();
    vmcs = new Vmcs();
    m.vmx.inVmx = true;
    m.vmx.current = vmcs;
    validControls(vmcs, m.vmx.caps);
    validHost64(vmcs);
    validGuest64(vmcs);
    andNot(F.VmExitControls, ExitCtl.HostAddressSpaceSize);
    set(F.HostCr4, Cr4.VMXE);
    set(F.HostCr3, SCRATCH);
    expect(enter()).toEqual(FAIL_HOST);
    // A 32-bit guest with paging (no PAE).
    validGuest32(vmcs);
    set(F.GuestCr0, vmcs.get(F.GuestCr0) | Cr0.PG);
    set(F.GuestCr3, SCRATCH);
    setGuestSegment(vmcs, Seg.TR, 0x40, GUEST_TSS, 0x67, AR.tssBusy);
    expect(enter()).toBe('entered');
    // 32-bit host: SS selector 0 is not allowed, and RIP bits 63:32 must be 0.
    m.cpu.guestMode = false;
    set(F.HostSsSelector, 0);
    expect(enter()).toEqual(FAIL_HOST);
    set(F.HostSsSelector, 0x10);
    set(F.HostRip, 0x1000, 1);
    expect(enter()).toEqual(FAIL_HOST);
    set(F.HostRip, 0x1000, 0);
    or(F.HostCr4, Cr4.PCIDE);
    expect(enter()).toEqual(FAIL_HOST);
  });

  it('control failures take precedence over host-state failures', () => {
    andNot(F.PinBasedVmExecControl, 2);
    set(F.HostCsSelector, 0);
    expect(enter()).toEqual(FAIL_CTL);
  });
});

describe('§26.3.1.1 guest control registers, debug registers and MSRs (exit 33)', () => {
  cases([
    { name: 'CR0.NE clear', mutate: () => andNot(F.GuestCr0, Cr0.NE), expected: guestFail() },
    { name: 'CR0.PG clear without unrestricted guest', mutate: () => andNot(F.GuestCr0, Cr0.PG), expected: guestFail() },
    {
      name: 'CR0.PE = PG = 0 with unrestricted guest (real mode)',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT, true);
        validGuestReal(vmcs);
      },
      expected: 'entered',
    },
    {
      name: 'CR0.PG = 1 with PE = 0 (unrestricted guest)',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT, true);
        validGuestReal(vmcs);
        or(F.GuestCr0, Cr0.PG);
      },
      expected: guestFail(),
    },
    { name: 'CR0 bit 32', mutate: () => set(F.GuestCr0, HOST.cr0, 1), expected: guestFail() },
    { name: 'CR4.VMXE clear', mutate: () => andNot(F.GuestCr4, Cr4.VMXE), expected: guestFail() },
    {
      name: 'load debug controls: IA32_DEBUGCTL reserved bit 2',
      mutate: () => {
        or(F.VmEntryControls, EntryCtl.LoadDebugControls);
        set(F.GuestIa32Debugctl, 4);
      },
      expected: guestFail(),
    },
    {
      name: 'load debug controls: DR7 bits 63:32',
      mutate: () => {
        or(F.VmEntryControls, EntryCtl.LoadDebugControls);
        set(F.GuestDr7, 0x400, 1);
      },
      expected: guestFail(),
    },
    {
      name: 'DR7 bits 63:32 without load debug controls (not checked)',
      mutate: () => set(F.GuestDr7, 0x400, 1),
      expected: 'entered',
    },
    { name: 'IA-32e mode guest with CR4.PAE clear', mutate: () => andNot(F.GuestCr4, Cr4.PAE), expected: guestFail() },
    { name: 'CR3 beyond the width', mutate: () => set(F.GuestCr3, 0x70000, 1 << (m.cpu.model.physAddrBits - 32)), expected: guestFail() },
    { name: 'IA32_SYSENTER_EIP not canonical', mutate: () => set(F.GuestSysenterEip, 0, NONCANON), expected: guestFail() },
    {
      name: 'load IA32_PAT with memory type 3',
      mutate: () => {
        or(F.VmEntryControls, EntryCtl.LoadIa32Pat);
        set(F.GuestIa32Pat, 0x00070406, 0x03070406);
      },
      expected: guestFail(),
    },
    {
      name: 'load IA32_EFER with LMA clear in an IA-32e guest',
      mutate: () => {
        or(F.VmEntryControls, EntryCtl.LoadIa32Efer);
        set(F.GuestIa32Efer, Efer.LME);
      },
      expected: guestFail(),
    },
    {
      name: 'load IA32_EFER with LME clear while CR0.PG = 1',
      mutate: () => {
        or(F.VmEntryControls, EntryCtl.LoadIa32Efer);
        set(F.GuestIa32Efer, Efer.LMA);
      },
      expected: guestFail(),
    },
    {
      name: 'load IA32_EFER with a reserved bit',
      mutate: () => {
        or(F.VmEntryControls, EntryCtl.LoadIa32Efer);
        set(F.GuestIa32Efer, Efer.LMA | Efer.LME | (1 << 5));
      },
      expected: guestFail(),
    },
    { name: 'load IA32_EFER valid', mutate: () => or(F.VmEntryControls, EntryCtl.LoadIa32Efer), expected: 'entered' },
  ]);
});

describe('§26.3.1.2 guest segment registers (exit 33)', () => {
  const seg = (s: number, sel: number, base: number, limit: number, ar: number, baseHi = 0) => () => setGuestSegment(vmcs, s, sel, base, limit, ar, baseHi);
  cases([
    { name: 'TR.TI = 1', mutate: seg(Seg.TR, 0x44, GUEST_TSS, 0x67, AR.tssBusy), expected: guestFail() },
    { name: 'usable LDTR with TI = 1', mutate: seg(Seg.LDTR, 0x4c, 0, 0xffff, SegAttr.P | 2), expected: guestFail() },
    { name: 'usable LDTR with TI = 0', mutate: seg(Seg.LDTR, 0x48, 0, 0xffff, SegAttr.P | 2), expected: 'entered' },
    { name: 'unusable LDTR with TI = 1 (not checked)', mutate: seg(Seg.LDTR, 0x4c, 0, 0, AR.unusable), expected: 'entered' },
    { name: 'SS.RPL differs from CS.RPL', mutate: seg(Seg.SS, 0x13, 0, 0xffffffff, AR.data), expected: guestFail() },
    { name: 'TR base not canonical', mutate: seg(Seg.TR, 0x40, 0, 0x67, AR.tssBusy, NONCANON), expected: guestFail() },
    { name: 'FS base canonical high', mutate: seg(Seg.FS, 0x10, 0, 0xffffffff, AR.data, -1), expected: 'entered' },
    { name: 'GS base not canonical', mutate: seg(Seg.GS, 0x10, 0, 0xffffffff, AR.data, NONCANON), expected: guestFail() },
    { name: 'usable LDTR base not canonical', mutate: seg(Seg.LDTR, 0x48, 0, 0xffff, SegAttr.P | 2, NONCANON), expected: guestFail() },
    { name: 'CS base bits 63:32', mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, AR.code64, 1), expected: guestFail() },
    { name: 'usable DS base bits 63:32', mutate: seg(Seg.DS, 0x10, 0, 0xffffffff, AR.data, 1), expected: guestFail() },
    { name: 'unusable DS base bits 63:32 (not checked)', mutate: seg(Seg.DS, 0, 0, 0, AR.unusable, 1), expected: 'entered' },
    { name: 'CS type 3 without unrestricted guest', mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, (AR.code64 & ~0xf) | 3), expected: guestFail() },
    { name: 'CS type 10 (code, not accessed)', mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, (AR.code64 & ~0xf) | 10), expected: guestFail() },
    { name: 'CS S = 0', mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, AR.code64 & ~SegAttr.S), expected: guestFail() },
    { name: 'CS P = 0', mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, AR.code64 & ~SegAttr.P), expected: guestFail() },
    { name: 'CS reserved bit 8', mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, AR.code64 | 0x100), expected: guestFail() },
    { name: 'CS reserved bit 17', mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, AR.code64 | 0x20000), expected: guestFail() },
    { name: 'CS L = 1 and D/B = 1 in IA-32e mode', mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, AR.code64 | SegAttr.DB), expected: guestFail() },
    { name: 'CS limit FFFFFFFFH with G = 0', mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, AR.code64 & ~SegAttr.G), expected: guestFail() },
    { name: 'CS limit 1000H with G = 1', mutate: seg(Seg.CS, 0x08, 0, 0x1000, AR.code64), expected: guestFail() },
    { name: 'CS limit FFFFFH with G = 1', mutate: seg(Seg.CS, 0x08, 0, 0xfffff, AR.code64), expected: 'entered' },
    { name: 'non-conforming CS.DPL differs from SS.DPL', mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, AR.code64 | (1 << 5)), expected: guestFail() },
    { name: 'conforming CS.DPL 0 below SS.DPL 0 (allowed)', mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, AR.code64 | SegAttr.DC), expected: 'entered' },
    {
      name: 'conforming CS.DPL above SS.DPL',
      mutate: seg(Seg.CS, 0x08, 0, 0xffffffff, AR.code64 | SegAttr.DC | (3 << 5)),
      expected: guestFail(),
    },
    { name: 'SS.DPL differs from SS.RPL', mutate: seg(Seg.SS, 0x10, 0, 0xffffffff, AR.data | (3 << 5)), expected: guestFail() },
    { name: 'SS type 5 (read-only expand-down)', mutate: seg(Seg.SS, 0x10, 0, 0xffffffff, (AR.data & ~0xf) | 5), expected: guestFail() },
    { name: 'SS type 7 (read/write expand-down)', mutate: seg(Seg.SS, 0x10, 0, 0xffffffff, (AR.data & ~0xf) | 7), expected: 'entered' },
    { name: 'SS unusable in a 64-bit guest', mutate: seg(Seg.SS, 0, 0, 0, AR.unusable), expected: 'entered' },
    { name: 'DS not accessed', mutate: seg(Seg.DS, 0x10, 0, 0xffffffff, AR.data & ~SegAttr.Accessed), expected: guestFail() },
    { name: 'ES execute-only code', mutate: seg(Seg.ES, 0x08, 0, 0xffffffff, (AR.code64 & ~0xf) | 9), expected: guestFail() },
    { name: 'ES readable code', mutate: seg(Seg.ES, 0x08, 0, 0xffffffff, AR.code32), expected: 'entered' },
    { name: 'FS.DPL below its RPL', mutate: seg(Seg.FS, 0x13, 0, 0xffffffff, AR.data), expected: guestFail() },
    { name: 'GS S = 0', mutate: seg(Seg.GS, 0x10, 0, 0xffffffff, AR.data & ~SegAttr.S), expected: guestFail() },
    { name: 'GS P = 0', mutate: seg(Seg.GS, 0x10, 0, 0xffffffff, AR.data & ~SegAttr.P), expected: guestFail() },
    { name: 'DS limit/granularity mismatch', mutate: seg(Seg.DS, 0x10, 0, 0xfffff000, AR.data), expected: guestFail() },
    { name: 'TR type 3 in an IA-32e guest', mutate: seg(Seg.TR, 0x40, GUEST_TSS, 0x67, SegAttr.P | 3), expected: guestFail() },
    { name: 'TR type 9 (available TSS)', mutate: seg(Seg.TR, 0x40, GUEST_TSS, 0x67, SegAttr.P | 9), expected: guestFail() },
    { name: 'TR S = 1', mutate: seg(Seg.TR, 0x40, GUEST_TSS, 0x67, AR.tssBusy | SegAttr.S), expected: guestFail() },
    { name: 'TR P = 0', mutate: seg(Seg.TR, 0x40, GUEST_TSS, 0x67, 11), expected: guestFail() },
    { name: 'TR unusable', mutate: seg(Seg.TR, 0x40, GUEST_TSS, 0x67, AR.tssBusy | SegAttr.Unusable), expected: guestFail() },
    { name: 'TR limit/granularity mismatch', mutate: seg(Seg.TR, 0x40, GUEST_TSS, 0x67, AR.tssBusy | SegAttr.G), expected: guestFail() },
    { name: 'usable LDTR type 3', mutate: seg(Seg.LDTR, 0x48, 0, 0xffff, SegAttr.P | 3), expected: guestFail() },
    { name: 'usable LDTR P = 0', mutate: seg(Seg.LDTR, 0x48, 0, 0xffff, 2), expected: guestFail() },
    {
      name: '32-bit guest: TR type 3 (16-bit busy TSS) is allowed outside IA-32e mode',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT, true);
        validGuest32(vmcs);
        setGuestSegment(vmcs, Seg.TR, 0x40, GUEST_TSS, 0x67, SegAttr.P | 3);
      },
      expected: 'entered',
    },
    {
      name: 'unrestricted guest: CS type 3 with DPL 0 (real mode)',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT, true);
        validGuestReal(vmcs);
        setGuestSegment(vmcs, Seg.CS, GUEST_REAL_CS, GUEST_REAL_CS << 4, 0xffff, AR.data16);
      },
      expected: 'entered',
    },
    {
      name: 'unrestricted real-mode guest with SS.DPL 3',
      mutate: () => {
        withEpt(vmcs, EPT_ROOT, true);
        validGuestReal(vmcs);
        setGuestSegment(vmcs, Seg.SS, 0, 0, 0xffff, AR.data16 | (3 << 5));
      },
      expected: guestFail(),
    },
  ]);

  describe('virtual-8086 guest', () => {
    const v86 = (): void => {
      withEpt(vmcs, EPT_ROOT, true);
      validGuest32(vmcs);
      set(F.GuestRflags, 2 | Flag.VM);
      for (const s of [0, 1, 2, 3, 4, 5]) setGuestSegment(vmcs, s, 0x1000 + s, (0x1000 + s) << 4, 0xffff, 0xf3);
    };
    cases([
      { name: 'base = selector << 4, limit FFFFH, access rights F3H', mutate: v86, expected: 'entered' },
      {
        name: 'base not selector << 4',
        mutate: () => {
          v86();
          setGuestSegment(vmcs, Seg.DS, 0x1003, 0x10040, 0xffff, 0xf3);
        },
        expected: guestFail(),
      },
      {
        name: 'limit not FFFFH',
        mutate: () => {
          v86();
          setGuestSegment(vmcs, Seg.ES, 0x1000, 0x10000, 0xfffe, 0xf3);
        },
        expected: guestFail(),
      },
      {
        name: 'access rights not F3H',
        mutate: () => {
          v86();
          setGuestSegment(vmcs, Seg.CS, 0x1001, 0x10010, 0xffff, 0xfb);
        },
        expected: guestFail(),
      },
      {
        name: 'RFLAGS.VM in an IA-32e guest',
        mutate: () => set(F.GuestRflags, 2 | Flag.VM),
        expected: guestFail(),
      },
    ]);
  });
});

describe('§26.3.1.3-26.3.1.4 descriptor tables, RIP and RFLAGS (exit 33)', () => {
  cases([
    { name: 'GDTR base not canonical', mutate: () => set(F.GuestGdtrBase, 0, NONCANON), expected: guestFail() },
    { name: 'IDTR base not canonical', mutate: () => set(F.GuestIdtrBase, 0, NONCANON), expected: guestFail() },
    { name: 'GDTR limit bits 31:16', mutate: () => set(F.GuestGdtrLimit, 0x10000), expected: guestFail() },
    { name: 'IDTR limit FFFFH', mutate: () => set(F.GuestIdtrLimit, 0xffff), expected: 'entered' },
    { name: '64-bit RIP not canonical (48-bit: CR4.LA57 = 0)', mutate: () => set(F.GuestRip, 0, 0x8000), expected: guestFail() },
    { name: '64-bit RIP canonical high', mutate: () => set(F.GuestRip, 0, -1), expected: 'entered' },
    {
      name: 'RIP bits 63:32 with CS.L = 0',
      mutate: () => {
        setGuestSegment(vmcs, Seg.CS, 0x18, 0, 0xffffffff, AR.code32);
        set(F.GuestRip, 0x1000, 1);
      },
      expected: guestFail(),
    },
    { name: 'RFLAGS bit 1 clear', mutate: () => set(F.GuestRflags, 0), expected: guestFail() },
    { name: 'RFLAGS bit 3', mutate: () => set(F.GuestRflags, 2 | 8), expected: guestFail() },
    { name: 'RFLAGS bit 5', mutate: () => set(F.GuestRflags, 2 | 0x20), expected: guestFail() },
    { name: 'RFLAGS bit 15', mutate: () => set(F.GuestRflags, 2 | 0x8000), expected: guestFail() },
    { name: 'RFLAGS bit 22', mutate: () => set(F.GuestRflags, 2 | (1 << 22)), expected: guestFail() },
    { name: 'RFLAGS bit 32', mutate: () => set(F.GuestRflags, 2, 1), expected: guestFail() },
    { name: 'RFLAGS ID, AC, IF, TF, DF', mutate: () => set(F.GuestRflags, 2 | Flag.ID | Flag.AC | Flag.IF | Flag.TF | Flag.DF), expected: 'entered' },
    {
      name: 'external-interrupt injection with RFLAGS.IF = 0',
      mutate: () => set(F.VmEntryInterruptionInfo, (1 << 31) | 0x20),
      expected: guestFail(),
    },
  ]);
});

describe('§26.3.1.5 non-register state (exit 33)', () => {
  const V = 1 << 31;
  cases([
    { name: 'activity state 4', mutate: () => set(F.GuestActivityState, 4), expected: guestFail() },
    {
      name: 'HLT with SS.DPL 3',
      mutate: () => {
        set(F.GuestActivityState, 1);
        setGuestSegment(vmcs, Seg.CS, 0x0b, 0, 0xffffffff, AR.code64 | (3 << 5));
        setGuestSegment(vmcs, Seg.SS, 0x13, 0, 0xffffffff, AR.data | (3 << 5));
      },
      expected: guestFail(),
    },
    {
      name: 'HLT with blocking by STI',
      mutate: () => {
        set(F.GuestActivityState, 1);
        set(F.GuestRflags, 2 | Flag.IF);
        set(F.GuestInterruptibilityInfo, Interruptibility.BlockingBySti);
      },
      expected: guestFail(),
    },
    {
      name: 'HLT injecting #GP',
      mutate: () => {
        set(F.GuestActivityState, 1);
        set(F.VmEntryInterruptionInfo, V | (1 << 11) | (3 << 8) | 13);
      },
      expected: guestFail(),
    },
    {
      name: 'shutdown injecting an external interrupt',
      mutate: () => {
        set(F.GuestActivityState, 2);
        set(F.GuestRflags, 2 | Flag.IF);
        set(F.VmEntryInterruptionInfo, V | 0x20);
      },
      expected: guestFail(),
    },
    {
      name: 'wait-for-SIPI injecting an NMI',
      mutate: () => {
        set(F.GuestActivityState, 3);
        set(F.VmEntryInterruptionInfo, V | (2 << 8) | 2);
      },
      expected: guestFail(),
    },
    { name: 'interruptibility bit 4 (enclave interruption, no SGX)', mutate: () => set(F.GuestInterruptibilityInfo, 0x10), expected: guestFail() },
    { name: 'interruptibility bit 5', mutate: () => set(F.GuestInterruptibilityInfo, 0x20), expected: guestFail() },
    {
      name: 'blocking by STI and by MOV SS',
      mutate: () => {
        set(F.GuestRflags, 2 | Flag.IF);
        set(F.GuestInterruptibilityInfo, 3);
      },
      expected: guestFail(),
    },
    { name: 'blocking by STI with RFLAGS.IF = 0', mutate: () => set(F.GuestInterruptibilityInfo, 1), expected: guestFail() },
    { name: 'blocking by MOV SS with RFLAGS.IF = 0', mutate: () => set(F.GuestInterruptibilityInfo, 2), expected: 'entered' },
    {
      name: 'external-interrupt injection with blocking by MOV SS',
      mutate: () => {
        set(F.GuestRflags, 2 | Flag.IF);
        set(F.GuestInterruptibilityInfo, 2);
        set(F.VmEntryInterruptionInfo, V | 0x20);
      },
      expected: guestFail(),
    },
    {
      name: 'NMI injection with blocking by MOV SS',
      mutate: () => {
        set(F.GuestInterruptibilityInfo, 2);
        set(F.VmEntryInterruptionInfo, V | (2 << 8) | 2);
      },
      expected: guestFail(),
    },
    {
      name: 'NMI injection with blocking by STI (qualification 3)',
      mutate: () => {
        set(F.GuestRflags, 2 | Flag.IF);
        set(F.GuestInterruptibilityInfo, 1);
        set(F.VmEntryInterruptionInfo, V | (2 << 8) | 2);
      },
      expected: guestFail(3),
    },
    { name: 'blocking by SMI outside SMM', mutate: () => set(F.GuestInterruptibilityInfo, 4), expected: guestFail() },
    { name: 'blocking by NMI', mutate: () => set(F.GuestInterruptibilityInfo, 8), expected: 'entered' },
    {
      name: 'virtual NMIs: NMI injection with virtual-NMI blocking',
      mutate: () => {
        or(F.PinBasedVmExecControl, PinCtl.NmiExiting | PinCtl.VirtualNmis);
        set(F.GuestInterruptibilityInfo, 8);
        set(F.VmEntryInterruptionInfo, V | (2 << 8) | 2);
      },
      expected: guestFail(),
    },
    { name: 'pending debug exceptions bit 4', mutate: () => set(F.GuestPendingDbgExceptions, 0x10), expected: guestFail() },
    { name: 'pending debug exceptions bit 16 (RTM)', mutate: () => set(F.GuestPendingDbgExceptions, 0x10000), expected: guestFail() },
    { name: 'pending debug exceptions B0 and enabled breakpoint', mutate: () => set(F.GuestPendingDbgExceptions, 0x1001), expected: 'entered' },
    {
      name: 'MOV-SS blocking, TF = 1, BS = 0',
      mutate: () => {
        set(F.GuestRflags, 2 | Flag.TF);
        set(F.GuestInterruptibilityInfo, 2);
      },
      expected: guestFail(),
    },
    {
      name: 'MOV-SS blocking, TF = 1, BS = 1',
      mutate: () => {
        set(F.GuestRflags, 2 | Flag.TF);
        set(F.GuestInterruptibilityInfo, 2);
        set(F.GuestPendingDbgExceptions, 0x4000);
      },
      expected: 'entered',
    },
    {
      name: 'HLT, TF = 0, BS = 1',
      mutate: () => {
        set(F.GuestActivityState, 1);
        set(F.GuestPendingDbgExceptions, 0x4000);
      },
      expected: guestFail(),
    },
    {
      name: 'MOV-SS blocking, TF = 1 with IA32_DEBUGCTL.BTF = 1, BS = 0',
      mutate: () => {
        or(F.VmEntryControls, EntryCtl.LoadDebugControls);
        set(F.GuestIa32Debugctl, 2);
        set(F.GuestRflags, 2 | Flag.TF);
        set(F.GuestInterruptibilityInfo, 2);
      },
      expected: 'entered',
    },
    { name: 'VMCS link pointer not 4-KiB aligned (qualification 4)', mutate: () => set(F.VmcsLinkPointer, SCRATCH + 8), expected: guestFail(4) },
    {
      name: 'VMCS link pointer to a region with another revision (qualification 4)',
      mutate: () => {
        m.region(SCRATCH, 0x1234);
        set(F.VmcsLinkPointer, SCRATCH);
      },
      expected: guestFail(4),
    },
    {
      name: 'VMCS link pointer to a shadow VMCS without VMCS shadowing (qualification 4)',
      mutate: () => {
        m.region(SCRATCH, m.vmx.features.revisionId, true);
        set(F.VmcsLinkPointer, SCRATCH);
      },
      expected: guestFail(4),
    },
    {
      name: 'VMCS link pointer to a region with this revision',
      mutate: () => {
        m.region(SCRATCH);
        set(F.VmcsLinkPointer, SCRATCH);
      },
      expected: 'entered',
    },
  ]);
});

describe('§26.3.1.6 PDPTEs (exit 33, qualification 2)', () => {
  const PDPT = SCRATCH + 0x20;
  const paeGuest = (): void => {
    validGuest32(vmcs);
    set(F.GuestCr0, vmcs.get(F.GuestCr0) | Cr0.PG);
    set(F.GuestCr4, Cr4.VMXE | Cr4.PAE);
    set(F.GuestCr3, PDPT);
    m.fill(SCRATCH, 0x1000);
    m.w64(PDPT, 0x400001n);
    m.w64(PDPT + 8, 0x401001n);
  };
  it('without EPT: valid PDPTEs from memory are loaded', () => {
    paeGuest();
    expect(enter()).toBe('entered');
    expect(Array.from(m.cpu.walker.pdptes)).toEqual([0x400001, 0, 0x401001, 0, 0, 0, 0, 0]);
  });
  it('without EPT: a present PDPTE with reserved bit 1 fails', () => {
    paeGuest();
    m.w64(PDPT + 16, 0x402003n);
    expect(enter()).toEqual(guestFail(2));
  });
  it('without EPT: a not-present PDPTE with reserved bits passes', () => {
    paeGuest();
    m.w64(PDPT + 24, 0xfff6n);
    expect(enter()).toBe('entered');
  });
  it('with EPT: the PDPTE fields are checked and loaded, memory is not read', () => {
    withEpt(vmcs, EPT_ROOT);
    paeGuest();
    m.w64(PDPT + 16, 0x402003n); // ignored with EPT
    set(F.GuestPdpte0, 0x500001);
    set(F.GuestPdpte3, 0x503001, 0);
    expect(enter()).toBe('entered');
    expect(Array.from(m.cpu.walker.pdptes)).toEqual([0x500001, 0, 0, 0, 0, 0, 0x503001, 0]);
  });
  it('with EPT: a PDPTE field with a reserved bit fails', () => {
    withEpt(vmcs, EPT_ROOT);
    paeGuest();
    set(F.GuestPdpte2, 0x500001 | (1 << 5));
    expect(enter()).toEqual(guestFail(2));
  });
});

describe('§26.4 MSR loading (exit 34)', () => {
  const AREA = SCRATCH + 0x100;
  const entries = (list: [number, number, number, number?][]): void => {
    list.forEach(([index, lo, hi, reserved], i) => {
      m.w32(AREA + 16 * i, index);
      m.w32(AREA + 16 * i + 4, reserved ?? 0);
      m.w32(AREA + 16 * i + 8, lo);
      m.w32(AREA + 16 * i + 12, hi);
    });
    set(F.VmEntryMsrLoadCount, list.length);
    set(F.VmEntryMsrLoadAddress, AREA);
  };
  it('loads every entry in order', () => {
    entries([
      [0x174, 0x33, 0],
      [0xc0000102, 0x1234, 0xffff8000],
      [0x174, 0x43, 0],
    ]);
    expect(enter()).toBe('entered');
    expect(m.cpu.sysenterCs).toBe(0x43);
    expect(m.cpu.kernelGsBaseLo).toBe(0x1234);
    expect(m.cpu.kernelGsBaseHi >>> 0).toBe(0xffff8000);
  });
  it('IA32_FS_BASE in the list fails with qualification 1', () => {
    entries([[0xc0000100, 0, 0]]);
    expect(enter()).toEqual({ exit: 34, qual: 1 });
  });
  it('IA32_GS_BASE second: qualification 2', () => {
    entries([
      [0x174, 0x33, 0],
      [0xc0000101, 0, 0],
    ]);
    expect(enter()).toEqual({ exit: 34, qual: 2 });
  });
  it('an x2APIC MSR fails', () => {
    entries([[0x808, 0, 0]]);
    expect(enter()).toEqual({ exit: 34, qual: 1 });
  });
  it('IA32_SMBASE fails', () => {
    entries([[0x9e, 0, 0]]);
    expect(enter()).toEqual({ exit: 34, qual: 1 });
  });
  it('reserved bits 63:32 of an entry fail', () => {
    entries([[0x174, 0x33, 0, 1]]);
    expect(enter()).toEqual({ exit: 34, qual: 1 });
  });
  it('a value WRMSR would refuse (#GP) fails: non-canonical IA32_KERNEL_GS_BASE', () => {
    entries([
      [0x174, 0x33, 0],
      [0xc0000102, 0, NONCANON],
    ]);
    expect(enter()).toEqual({ exit: 34, qual: 2 });
  });
  it('a read-only VMX capability MSR fails', () => {
    entries([[0x480, 0, 0]]);
    expect(enter()).toEqual({ exit: 34, qual: 1 });
  });
  it('guest state is loaded before the MSRs (the failure comes after it)', () => {
    entries([[0xc0000100, 0, 0]]);
    expect(enter()).toEqual({ exit: 34, qual: 1 });
    expect(vmcs.launched).toBe(false);
  });
});

describe('§26.3.2 loading guest state', () => {
  it('loads control registers, segments, descriptor tables, RIP, RSP, RFLAGS and MSRs', () => {
    or(F.VmEntryControls, EntryCtl.LoadIa32Pat | EntryCtl.LoadIa32Efer | EntryCtl.LoadDebugControls);
    set(F.GuestIa32Pat, 0x01040506, 0x00070407);
    set(F.GuestIa32Efer, Efer.LMA | Efer.LME | Efer.NXE);
    set(F.GuestDr7, 0x403);
    set(F.GuestCr3, 0x71000);
    set(F.GuestCr4, HOST.cr4 | Cr4.OSFXSR);
    set(F.GuestRip, 0x123456);
    set(F.GuestRsp, 0x9abc, 0xffff8000);
    set(F.GuestRflags, 2 | Flag.IF | Flag.CF | Flag.ZF);
    set(F.GuestSysenterCs, 0x10);
    set(F.GuestSysenterEsp, 0x1111, 0xffff8000);
    set(F.GuestSysenterEip, 0x2222);
    setGuestSegment(vmcs, Seg.FS, 0x10, 0x5000, 0xffffffff, AR.data, 0x12);
    setGuestSegment(vmcs, Seg.DS, 0, 0, 0, AR.unusable | 0xf00);
    setGuestSegment(vmcs, Seg.LDTR, 0x48, 0x6000, 0x1ff, SegAttr.P | 2);
    set(F.GuestGdtrBase, GUEST_GDT);
    set(F.GuestGdtrLimit, 0x47);
    set(F.GuestIdtrBase, GUEST_IDT, -1);
    set(F.GuestIdtrLimit, 0x7ff);
    expect(enter()).toBe('entered');
    const c = m.cpu;
    expect(c.cr0 >>> 0).toBe(HOST.cr0 >>> 0);
    expect(c.cr3Lo).toBe(0x71000);
    expect(c.cr4).toBe(HOST.cr4 | Cr4.OSFXSR);
    expect(c.efer).toBe(Efer.LMA | Efer.LME | Efer.NXE);
    expect(c.patLo).toBe(0x01040506);
    expect(c.patHi).toBe(0x00070407);
    expect(c.drLo[7]).toBe(0x403);
    expect(c.ripLo).toBe(0x123456);
    expect(c.nipLo).toBe(0x123456);
    expect(c.gpr[4]).toBe(0x9abc);
    expect(c.gprHi[4]! >>> 0).toBe(0xffff8000);
    expect(c.getEflags()).toBe(2 | Flag.IF | Flag.CF | Flag.ZF);
    expect(c.sysenterCs).toBe(0x10);
    expect(c.sysenterEspHi >>> 0).toBe(0xffff8000);
    expect(c.sysenterEipLo).toBe(0x2222);
    expect([c.segSel[Seg.CS], c.segBase[Seg.CS], c.segLimit[Seg.CS], c.segAttr[Seg.CS]]).toEqual([0x08, 0, 0xffffffff, AR.code64]);
    expect([c.segSel[Seg.FS], c.segBase[Seg.FS], c.segBaseHi[Seg.FS], c.segAttr[Seg.FS]]).toEqual([0x10, 0x5000, 0x12, AR.data]);
    expect(c.segAttr[Seg.DS]! & SegAttr.Unusable).not.toBe(0);
    expect(c.segAttr[Seg.DS]! & 0xf00).toBe(0);
    expect([c.segSel[Seg.LDTR], c.segBase[Seg.LDTR], c.segLimit[Seg.LDTR], c.segAttr[Seg.LDTR]]).toEqual([0x48, 0x6000, 0x1ff, SegAttr.P | 2]);
    expect([c.segSel[Seg.TR], c.segBase[Seg.TR], c.segLimit[Seg.TR], c.segAttr[Seg.TR]]).toEqual([0x40, GUEST_TSS, 0x67, AR.tssBusy]);
    expect([c.gdtrBaseLo, c.gdtrLimit, c.idtrBaseLo, c.idtrBaseHi, c.idtrLimit]).toEqual([GUEST_GDT, 0x47, GUEST_IDT, -1, 0x7ff]);
    expect(c.cpl).toBe(0);
    expect(c.guestMode).toBe(true);
  });

  it('without "load IA32_EFER": LMA and LME follow "IA-32e mode guest"; PAT and DR7 stay', () => {
    m.cpu.efer = Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE;
    const pat = [m.cpu.patLo, m.cpu.patHi];
    m.cpu.drLo[7] = 0x455;
    set(F.GuestDr7, 0x403);
    expect(enter()).toBe('entered');
    expect(m.cpu.efer).toBe(Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE);
    expect([m.cpu.patLo, m.cpu.patHi]).toEqual(pat);
    expect(m.cpu.drLo[7]).toBe(0x455);
  });

  it('a 32-bit guest clears LMA and LME (CR0.PG = 1)', () => {
    validGuest32(vmcs);
    set(F.GuestCr0, vmcs.get(F.GuestCr0) | Cr0.PG);
    set(F.GuestCr3, SCRATCH);
    expect(enter()).toBe('entered');
    expect(m.cpu.efer & (Efer.LMA | Efer.LME)).toBe(0);
  });

  it('interruptibility: blocking by STI and by NMI, pending debug exceptions', () => {
    set(F.GuestRflags, 2 | Flag.IF);
    set(F.GuestInterruptibilityInfo, Interruptibility.BlockingBySti | Interruptibility.BlockingByNmi);
    set(F.GuestPendingDbgExceptions, 0x1001);
    expect(enter()).toBe('entered');
    expect(m.cpu.interruptShadow).toBe(true);
    expect(m.cpu.stiShadow).toBe(true);
    expect(m.cpu.nmiBlocked).toBe(true);
    expect(m.cpu.pendingDb).toBe(1);
  });

  it('interruptibility: blocking by MOV SS', () => {
    set(F.GuestInterruptibilityInfo, Interruptibility.BlockingByMovSs);
    expect(enter()).toBe('entered');
    expect(m.cpu.interruptShadow).toBe(true);
    expect(m.cpu.stiShadow).toBe(false);
    expect(m.cpu.nmiBlocked).toBe(false);
  });

  it('virtual NMIs: blocking by NMI is virtual-NMI blocking', () => {
    or(F.PinBasedVmExecControl, PinCtl.NmiExiting | PinCtl.VirtualNmis);
    set(F.GuestInterruptibilityInfo, Interruptibility.BlockingByNmi);
    expect(enter()).toBe('entered');
    expect(m.vmx.virtualNmiBlocked).toBe(true);
  });
});

describe('§26.7 activity states', () => {
  it('HLT', () => {
    set(F.GuestActivityState, 1);
    expect(enter()).toBe('entered');
    expect(m.cpu.halted).toBe(true);
  });
  it('wait-for-SIPI', () => {
    set(F.GuestActivityState, 3);
    set(F.GuestPendingDbgExceptions, 1);
    expect(enter()).toBe('entered');
    expect(m.cpu.waitForSipi).toBe(true);
    expect(m.cpu.halted).toBe(false);
    // §26.7.3: no pending debug exceptions after a non-vectoring entry to wait-for-SIPI.
    expect(m.cpu.pendingDb).toBe(0);
  });
  it('shutdown', () => {
    set(F.GuestActivityState, 2);
    expect(enter()).toBe('entered');
    expect(m.vmx.guestShutdown).toBe(true);
  });
  it('active: pending debug exceptions stay pending (§26.7.3)', () => {
    set(F.GuestPendingDbgExceptions, 0x4000);
    set(F.GuestRflags, 2 | Flag.TF);
    expect(enter()).toBe('entered');
    expect(m.cpu.pendingDb).toBe(0x4000);
  });
});

describe('§26.6 event injection', () => {
  const V = 1 << 31;
  const q = (a: number): number => Number(m.r64(a));
  const handler = (v: number): number => GUEST_HANDLERS + 16 * v;
  const inject = (info: number, error = 0, len = 0): void => {
    set(F.VmEntryInterruptionInfo, info);
    set(F.VmEntryExceptionErrorCode, error);
    set(F.VmEntryInstructionLength, len);
  };

  it('external interrupt: handler, no error code, return RIP = guest RIP', () => {
    set(F.GuestRflags, 2 | Flag.IF);
    inject(V | 0x20);
    expect(enter()).toBe('entered');
    expect(m.cpu.ripLo).toBe(handler(0x20));
    expect(m.cpu.gpr[4]).toBe(GUEST_RSP - 40);
    expect(q(GUEST_RSP - 40)).toBe(GUEST_RIP);
    expect(q(GUEST_RSP - 32)).toBe(0x08);
    expect(q(GUEST_RSP - 24)).toBe(2 | Flag.IF);
    expect(q(GUEST_RSP - 16)).toBe(GUEST_RSP);
    expect(q(GUEST_RSP - 8)).toBe(0x10);
    expect(m.cpu.getEflags() & Flag.IF).toBe(0);
  });

  it('hardware exception with error code (#GP)', () => {
    inject(V | (1 << 11) | (3 << 8) | 13, 0x1234);
    expect(enter()).toBe('entered');
    expect(m.cpu.ripLo).toBe(handler(13));
    expect(m.cpu.gpr[4]).toBe(GUEST_RSP - 48);
    expect(q(GUEST_RSP - 48)).toBe(0x1234);
    expect(q(GUEST_RSP - 40)).toBe(GUEST_RIP);
  });

  it('hardware exception without error code (#UD)', () => {
    inject(V | (3 << 8) | 6);
    expect(enter()).toBe('entered');
    expect(m.cpu.ripLo).toBe(handler(6));
    expect(m.cpu.gpr[4]).toBe(GUEST_RSP - 40);
    expect(q(GUEST_RSP - 40)).toBe(GUEST_RIP);
  });

  it('#PF injection does not write CR2', () => {
    m.cpu.cr2Lo = 0x777;
    inject(V | (1 << 11) | (3 << 8) | 14, 2);
    expect(enter()).toBe('entered');
    expect(m.cpu.ripLo).toBe(handler(14));
    expect(q(GUEST_RSP - 48)).toBe(2);
    expect(m.cpu.cr2Lo).toBe(0x777);
  });

  it('software interrupt (INT n): return RIP = guest RIP + instruction length', () => {
    inject(V | (4 << 8) | 0x80, 0, 2);
    expect(enter()).toBe('entered');
    expect(m.cpu.ripLo).toBe(handler(0x80));
    expect(q(GUEST_RSP - 40)).toBe(GUEST_RIP + 2);
  });

  it('software exception (INT3): return RIP = guest RIP + 1', () => {
    inject(V | (6 << 8) | 3, 0, 1);
    expect(enter()).toBe('entered');
    expect(m.cpu.ripLo).toBe(handler(3));
    expect(q(GUEST_RSP - 40)).toBe(GUEST_RIP + 1);
  });

  it('privileged software exception (INT1): return RIP = guest RIP + length', () => {
    inject(V | (5 << 8) | 1, 0, 1);
    expect(enter()).toBe('entered');
    expect(m.cpu.ripLo).toBe(handler(1));
    expect(q(GUEST_RSP - 40)).toBe(GUEST_RIP + 1);
  });

  it('NMI: delivered through vector 2, NMIs blocked afterwards', () => {
    inject(V | (2 << 8) | 2);
    expect(enter()).toBe('entered');
    expect(m.cpu.ripLo).toBe(handler(2));
    expect(m.cpu.nmiBlocked).toBe(true);
  });

  it('NMI with virtual NMIs sets virtual-NMI blocking', () => {
    or(F.PinBasedVmExecControl, PinCtl.NmiExiting | PinCtl.VirtualNmis);
    inject(V | (2 << 8) | 2);
    expect(enter()).toBe('entered');
    expect(m.cpu.ripLo).toBe(handler(2));
    expect(m.vmx.virtualNmiBlocked).toBe(true);
  });

  it('other event (pending MTF VM exit): nothing delivered, an MTF exit pending', () => {
    inject(V | (7 << 8));
    expect(enter()).toBe('entered');
    expect(m.cpu.ripLo).toBe(GUEST_RIP);
    expect(m.cpu.gpr[4]).toBe(GUEST_RSP);
    expect(m.vmx.mtfPending).toBe(true);
    expect(m.cpu.extBoundary).toBe(true);
  });

  it('monitor trap flag with a vectored injection: an MTF exit pending after delivery', () => {
    or(F.CpuBasedVmExecControl, ProcCtl.MonitorTrapFlag);
    inject(V | (3 << 8) | 6);
    expect(enter()).toBe('entered');
    expect(m.cpu.ripLo).toBe(handler(6));
    expect(m.vmx.mtfPending).toBe(true);
  });

  it('HLT activity with an injected external interrupt: delivered, the guest is active', () => {
    set(F.GuestActivityState, 1);
    set(F.GuestRflags, 2 | Flag.IF);
    inject(V | 0x21);
    expect(enter()).toBe('entered');
    expect(m.cpu.halted).toBe(false);
    expect(m.cpu.ripLo).toBe(handler(0x21));
  });

  it('shutdown activity with an injected NMI: delivered, the guest is active', () => {
    set(F.GuestActivityState, 2);
    inject(V | (2 << 8) | 2);
    expect(enter()).toBe('entered');
    expect(m.vmx.guestShutdown).toBe(false);
    expect(m.cpu.halted).toBe(false);
    expect(m.cpu.ripLo).toBe(handler(2));
  });

  it('a vectored injection discards pending debug exceptions (§26.7.3)', () => {
    set(F.GuestPendingDbgExceptions, 1);
    inject(V | (3 << 8) | 6);
    expect(enter()).toBe('entered');
    expect(m.cpu.pendingDb).toBe(0);
  });

  it('a software interrupt under MOV-SS blocking keeps pending debug exceptions (§26.7.3)', () => {
    set(F.GuestInterruptibilityInfo, 2);
    set(F.GuestPendingDbgExceptions, 1);
    inject(V | (4 << 8) | 0x80, 0, 2);
    expect(enter()).toBe('entered');
    expect(m.cpu.pendingDb).toBe(1);
  });

  it('real-mode guest (unrestricted guest): delivered through the IVT', () => {
    withEpt(vmcs, EPT_ROOT, true);
    validGuestReal(vmcs);
    set(F.GuestRflags, 2 | Flag.IF);
    m.w16(0x20 * 4, 0x1234);
    m.w16(0x20 * 4 + 2, 0x2000);
    inject(V | 0x20);
    // Identity EPT for the first 2 MiB (2-MiB page, RWX, WB).
    m.fill(EPT_ROOT, 0x3000);
    m.w64(EPT_ROOT, BigInt(EPT_ROOT + 0x1000) | 7n);
    m.w64(EPT_ROOT + 0x1000, BigInt(EPT_ROOT + 0x2000) | 7n);
    m.w64(EPT_ROOT + 0x2000, 0x87n | (6n << 3n));
    expect(enter()).toBe('entered');
    expect(m.cpu.segSel[Seg.CS]).toBe(0x2000);
    expect(m.cpu.ripLo).toBe(0x1234);
    expect(m.cpu.gpr[4] & 0xffff).toBe(0xf000 - 6);
    expect(m.r16(0xf000 - 6)).toBe(0); // IP
    expect(m.r16(0xf000 - 4)).toBe(GUEST_REAL_CS); // CS
    expect(m.r16(0xf000 - 2)).toBe(2 | Flag.IF); // FLAGS
  });
});

describe('through the VMLAUNCH/VMRESUME instructions', () => {
  it('VMLAUNCH enters and the guest runs at guest RIP', () => {
    // Guest: mov eax, 5; hlt (HLT exiting is off: the guest halts in non-root operation).
    m.bytes(GUEST_RIP, [0xb8, 0x05, 0x00, 0x00, 0x00, 0xf4]);
    m.setReg(0, 0);
    m.run([...X.vmlaunch, ...X.hlt]);
    expect(m.cpu.guestMode).toBe(true);
    expect(vmcs.launched).toBe(true);
    expect(m.cpu.gpr[0]).toBe(5);
    expect(m.cpu.ripLo).toBe(GUEST_RIP + 6);
    expect(m.cpu.halted).toBe(true);
  });

  it('VMLAUNCH with a bad host state: VMfailValid(8), the host continues after the instruction', () => {
    set(F.HostTrSelector, 0);
    m.run([...X.vmlaunch, ...X.hlt]);
    expect(m.cpu.guestMode).toBe(false);
    expect(m.outcome()).toBe('failValid');
    expect(m.instructionError()).toBe(8);
    expect(m.cpu.ripLo).toBe(CODE + X.vmlaunch.length + 1);
  });

  it('VMRESUME with bad controls: VMfailValid(7)', () => {
    vmcs.launched = true;
    andNot(F.VmEntryControls, 1);
    m.run([...X.vmresume, ...X.hlt]);
    expect(m.outcome()).toBe('failValid');
    expect(m.instructionError()).toBe(7);
  });
});

describe('§26.6.1.2 VM exits during event injection', () => {
  // Needs nonroot.ts's nonRootEnter (it activates EPT through eptActivate).
  it('an EPT violation on the guest stack reports the injected event as IDT-vectoring information', () => {
    // EPT identity map of the first GiB with 2-MiB pages, except 400000H-5FFFFFH (not present).
    m.fill(EPT_ROOT, 0x3000);
    m.w64(EPT_ROOT, BigInt(EPT_ROOT + 0x1000) | 7n);
    m.w64(EPT_ROOT + 0x1000, BigInt(EPT_ROOT + 0x2000) | 7n);
    for (let i = 0; i < 512; i++) if (i !== 2) m.w64(EPT_ROOT + 0x2000 + 8 * i, (BigInt(i) << 21n) | 0x87n | (6n << 3n));
    withEpt(vmcs, EPT_ROOT);
    set(F.GuestRsp, 0x410000);
    set(F.VmEntryInterruptionInfo, (1 << 31) | (1 << 11) | (3 << 8) | 13);
    set(F.VmEntryExceptionErrorCode, 0x18);
    m.w8(HOST_RIP, 0xf4);
    vmEntry(m.vmx, m.cpu, true);
    // The EPT violation is found inside the delivery; the exit completes at the next boundary.
    m.cpu.run(1);
    expect(m.cpu.guestMode).toBe(false);
    expect(vmcs.get(F.VmExitReason)).toBe(48);
    expect(vmcs.get(F.IdtVectoringInfo) >>> 0).toBe(((1 << 31) | (1 << 11) | (3 << 8) | 13) >>> 0);
    expect(vmcs.get(F.IdtVectoringErrorCode)).toBe(0x18);
    const gpa = vmcs.get64(F.GuestPhysicalAddress);
    expect(gpa).toBeGreaterThanOrEqual(0x40f000);
    expect(gpa).toBeLessThan(0x410000);
    // The guest state saved is the state before the delivery: RIP and RSP as VM entry loaded them.
    expect(vmcs.get(F.GuestRip)).toBe(GUEST_RIP);
    expect(vmcs.get(F.GuestRsp)).toBe(0x410000);
    expect(m.cpu.ripLo - HOST_RIP).toBeLessThanOrEqual(1);
    expect(vmcs.launched).toBe(true);
  });
});

describe('after VM entry: pending events at the first boundary', () => {
  it('an injected pending MTF VM exit happens before the first guest instruction (§26.6.2)', () => {
    m.bytes(GUEST_RIP, [0x90, 0xf4]);
    set(F.VmEntryInterruptionInfo, (1 << 31) | (7 << 8));
    expect(enter()).toBe('entered');
    m.w8(HOST_RIP, 0xf4);
    m.cpu.run(10);
    expect(m.cpu.guestMode).toBe(false);
    expect(vmcs.get(F.VmExitReason)).toBe(37);
    expect(vmcs.get(F.GuestRip)).toBe(GUEST_RIP);
  });

  it('pending debug exceptions are delivered as a #DB before the first guest instruction (§26.7.3)', () => {
    m.bytes(GUEST_RIP, [0x90, 0xf4]);
    set(F.GuestPendingDbgExceptions, 0x4000);
    set(F.GuestRflags, 2 | Flag.TF);
    expect(enter()).toBe('entered');
    m.cpu.run(10);
    expect(m.cpu.guestMode).toBe(true);
    expect(m.cpu.drLo[6]! & 0x4000).toBe(0x4000);
    // The #DB handler (a HLT) ran with the frame's RIP = guest RIP: nothing of the guest ran.
    expect(Number(m.r64(GUEST_RSP - 40))).toBe(GUEST_RIP);
    expect(m.cpu.ripLo).toBe(GUEST_HANDLERS + 16 + 1);
  });

  it('HLT activity: the guest stays halted', () => {
    m.bytes(GUEST_RIP, [0xb8, 0x05, 0x00, 0x00, 0x00, 0xf4]);
    set(F.GuestActivityState, 1);
    expect(enter()).toBe('entered');
    m.cpu.run(100);
    expect(m.cpu.guestMode).toBe(true);
    expect(m.cpu.halted).toBe(true);
    expect(m.cpu.ripLo).toBe(GUEST_RIP);
    expect(m.cpu.gpr[0]).not.toBe(5);
  });
});

describe('§26.6.1.2 an exception during injected-event delivery', () => {
  it('#GP from an IDT limit, intercepted by the exception bitmap: exit 0 with the injected event as IDT-vectoring information', () => {
    set(F.GuestIdtrLimit, 16 * 6 - 1); // vector 6's gate lies beyond the limit
    set(F.ExceptionBitmap, 1 << 13);
    set(F.VmEntryInterruptionInfo, (1 << 31) | (3 << 8) | 6);
    m.w8(HOST_RIP, 0xf4);
    vmEntry(m.vmx, m.cpu, true);
    m.cpu.run(1);
    expect(m.cpu.guestMode).toBe(false);
    expect(vmcs.get(F.VmExitReason)).toBe(0);
    // #GP(selector index 6, IDT bit) as the VM-exit interruption information and error code.
    expect(vmcs.get(F.VmExitInterruptionInfo) >>> 0).toBe(((1 << 31) | (1 << 11) | (3 << 8) | 13) >>> 0);
    expect(vmcs.get(F.VmExitInterruptionErrorCode)).toBe((6 << 3) | 2 | 1);
    expect(vmcs.get(F.IdtVectoringInfo) >>> 0).toBe(((1 << 31) | (3 << 8) | 6) >>> 0);
    expect(vmcs.get(F.GuestRip)).toBe(GUEST_RIP);
  });
});
