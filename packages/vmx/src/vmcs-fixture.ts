/**
 * Test-only VMCS contents that pass every VM-entry check (SDM Vol. 3 §26.2, §26.3), for the VMX
 * tests to start from and break one rule at a time. NOT exported from index.ts.
 *
 * - {@link validControls}: the minimal legal controls (every "must be 1" bit of the TRUE
 *   capability MSRs, "activate secondary controls" off), a 64-bit host ("host address-space
 *   size") and a 64-bit guest ("IA-32e mode guest"), no MSR lists, no injection.
 * - {@link validHost64}: a 64-bit host (CR0/CR3/CR4/EFER from `HOST`, flat selectors, RIP
 *   {@link HOST_RIP}).
 * - {@link validGuest64}: a 64-bit guest at CPL 0 on the same identity page tables as the test
 *   harness's `long64()` (CR3 = PT_ROOT), flat segments, TR and GDTR/IDTR at the `GUEST_*`
 *   addresses, RIP {@link GUEST_RIP}, RSP {@link GUEST_RSP}, RFLAGS 2, active, no blocking, link
 *   pointer FFFFFFFF_FFFFFFFFH.
 * - {@link writeGuestTables}: the guest GDT (code 08H, data 10H, TSS 40H) and a 64-bit IDT whose
 *   vector n handler is at `GUEST_HANDLERS + 16 n` (each a HLT), for event-injection tests.
 * - {@link validGuest32}, {@link validGuestReal}: 32-bit protected-mode (unpaged, needs
 *   "unrestricted guest" for PG = 0) and real-mode (unrestricted guest) variants.
 */
import { Cr0, Cr4, Efer, SegAttr } from '@hvkit/x86';
import type { VmxCaps } from './caps.js';
import { EntryCtl, ExitCtl, ProcCtl, Proc2Ctl } from './constants.js';
import { VmcsField as F, type Vmcs } from './fields.js';

/** Guest memory layout (inside the harness's identity-mapped first GiB, clear of the harness's own areas). */
export const GUEST_RIP = 0x200000;
export const GUEST_RSP = 0x210000;
export const GUEST_GDT = 0x220000;
export const GUEST_IDT = 0x221000;
export const GUEST_TSS = 0x222000;
/** Vector n's handler (a HLT) is at GUEST_HANDLERS + 16 n. */
export const GUEST_HANDLERS = 0x230000;
/** Where the host resumes after a VM exit. */
export const HOST_RIP = 0x30000;
export const HOST_RSP = 0x7000;
/** The page tables the harness's long64() builds (identity map of the first GiB). */
export const FIXTURE_PT_ROOT = 0x70000;

/** Access rights (SDM §24.4.1 Table 24-2): 64-bit code, flat data, busy TSS, unusable. */
export const AR = {
  code64: SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.L | SegAttr.G,
  code32: SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G,
  code16: SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed,
  data: SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G,
  data16: SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed,
  tssBusy: SegAttr.P | 11,
  unusable: SegAttr.Unusable,
} as const;

/** Host register values the fixture writes (those of the harness's long64().enableVmx()). */
export const HOST = {
  cr0: (Cr0.PE | Cr0.MP | Cr0.ET | Cr0.NE | Cr0.PG) | 0,
  cr4: Cr4.PAE | Cr4.VMXE,
  efer: Efer.SCE | Efer.LME | Efer.LMA,
} as const;

/** The smallest legal control fields for a 64-bit host and a 64-bit guest. */
export function validControls(vmcs: Vmcs, caps: VmxCaps): void {
  vmcs.set(F.PinBasedVmExecControl, caps.pinAllowed0);
  vmcs.set(F.CpuBasedVmExecControl, caps.procAllowed0);
  vmcs.set(F.SecondaryVmExecControl, 0);
  vmcs.set(F.ExceptionBitmap, 0);
  vmcs.set(F.Cr3TargetCount, 0);
  vmcs.set(F.VmExitControls, caps.exitAllowed0 | ExitCtl.HostAddressSpaceSize);
  vmcs.set(F.VmEntryControls, caps.entryAllowed0 | EntryCtl.Ia32eModeGuest);
  vmcs.set(F.VmExitMsrStoreCount, 0);
  vmcs.set(F.VmExitMsrLoadCount, 0);
  vmcs.set(F.VmEntryMsrLoadCount, 0);
  vmcs.set(F.VmEntryInterruptionInfo, 0);
  vmcs.generation++;
}

/** Adds secondary controls (sets "activate secondary controls"). */
export function withSecondary(vmcs: Vmcs, proc2: number): void {
  vmcs.set(F.CpuBasedVmExecControl, vmcs.get(F.CpuBasedVmExecControl) | ProcCtl.ActivateSecondaryControls);
  vmcs.set(F.SecondaryVmExecControl, proc2);
  vmcs.generation++;
}

/** A legal EPTP (WB, 4-level) for the EPT PML4 table at `pml4`. */
export function eptp(pml4: number): number {
  return pml4 | 6 | (3 << 3);
}

/** Enables EPT (EPTP for `pml4`) and "unrestricted guest" when `unrestricted`. */
export function withEpt(vmcs: Vmcs, pml4: number, unrestricted = false): void {
  withSecondary(vmcs, vmcs.get(F.SecondaryVmExecControl) | Proc2Ctl.EnableEpt | (unrestricted ? Proc2Ctl.UnrestrictedGuest : 0));
  vmcs.set64(F.EptPointer, eptp(pml4));
}

/** A 64-bit host: the harness's long-mode registers, flat selectors, RIP {@link HOST_RIP}. */
export function validHost64(vmcs: Vmcs): void {
  vmcs.set(F.HostCr0, HOST.cr0);
  vmcs.set(F.HostCr3, FIXTURE_PT_ROOT);
  vmcs.set(F.HostCr4, HOST.cr4);
  vmcs.set(F.HostEsSelector, 0x10);
  vmcs.set(F.HostCsSelector, 0x08);
  vmcs.set(F.HostSsSelector, 0x10);
  vmcs.set(F.HostDsSelector, 0x10);
  vmcs.set(F.HostFsSelector, 0);
  vmcs.set(F.HostGsSelector, 0);
  vmcs.set(F.HostTrSelector, 0x40);
  vmcs.set(F.HostFsBase, 0);
  vmcs.set(F.HostGsBase, 0);
  vmcs.set(F.HostTrBase, 0x9000);
  vmcs.set(F.HostGdtrBase, 0x1000);
  vmcs.set(F.HostIdtrBase, 0x2000);
  vmcs.set(F.HostIa32SysenterCs, 0);
  vmcs.set(F.HostIa32SysenterEsp, 0);
  vmcs.set(F.HostIa32SysenterEip, 0);
  vmcs.set(F.HostIa32Pat, 0x00070406, 0x00070406);
  vmcs.set(F.HostIa32Efer, HOST.efer);
  vmcs.set(F.HostRsp, HOST_RSP);
  vmcs.set(F.HostRip, HOST_RIP);
  vmcs.generation++;
}

/** Writes one guest segment's four fields (`seg` in the core's Seg order = the VMCS order). */
export function setGuestSegment(vmcs: Vmcs, seg: number, selector: number, base: number, limit: number, ar: number, baseHi = 0): void {
  vmcs.set(F.GuestEsSelector + 2 * seg, selector);
  vmcs.set(F.GuestEsBase + 2 * seg, base, baseHi);
  vmcs.set(F.GuestEsLimit + 2 * seg, limit);
  vmcs.set(F.GuestEsArBytes + 2 * seg, ar);
  vmcs.generation++;
}

/** The non-register guest state and the fields common to every fixture guest. */
function commonGuest(vmcs: Vmcs): void {
  vmcs.set(F.GuestDr7, 0x400);
  vmcs.set(F.GuestIa32Debugctl, 0);
  vmcs.set(F.GuestIa32Pat, 0x00070406, 0x00070406);
  vmcs.set(F.GuestSysenterCs, 0);
  vmcs.set(F.GuestSysenterEsp, 0);
  vmcs.set(F.GuestSysenterEip, 0);
  vmcs.set(F.GuestRsp, GUEST_RSP);
  vmcs.set(F.GuestRip, GUEST_RIP);
  vmcs.set(F.GuestRflags, 2);
  vmcs.set(F.GuestGdtrBase, GUEST_GDT);
  vmcs.set(F.GuestGdtrLimit, 0x4f);
  vmcs.set(F.GuestIdtrBase, GUEST_IDT);
  vmcs.set(F.GuestIdtrLimit, 0xfff);
  vmcs.set(F.GuestActivityState, 0);
  vmcs.set(F.GuestInterruptibilityInfo, 0);
  vmcs.set(F.GuestPendingDbgExceptions, 0);
  vmcs.set(F.VmcsLinkPointer, -1, -1);
  setGuestSegment(vmcs, 6, 0, 0, 0, AR.unusable);
  setGuestSegment(vmcs, 7, 0x40, GUEST_TSS, 0x67, AR.tssBusy);
  vmcs.generation++;
}

/** A 64-bit guest at CPL 0 (see the module comment). */
export function validGuest64(vmcs: Vmcs): void {
  vmcs.set(F.GuestCr0, HOST.cr0);
  vmcs.set(F.GuestCr3, FIXTURE_PT_ROOT);
  vmcs.set(F.GuestCr4, HOST.cr4);
  vmcs.set(F.GuestIa32Efer, Efer.SCE | Efer.LME | Efer.LMA);
  setGuestSegment(vmcs, 1, 0x08, 0, 0xffffffff, AR.code64);
  for (const s of [0, 2, 3, 4, 5]) setGuestSegment(vmcs, s, 0x10, 0, 0xffffffff, AR.data);
  commonGuest(vmcs);
}

/**
 * A 32-bit protected-mode guest at CPL 0 without paging (CR0.PG = 0: needs "unrestricted
 * guest", so EPT: see {@link withEpt}); clears "IA-32e mode guest".
 */
export function validGuest32(vmcs: Vmcs): void {
  vmcs.set(F.GuestCr0, (Cr0.PE | Cr0.ET | Cr0.NE) | 0);
  vmcs.set(F.GuestCr3, 0);
  vmcs.set(F.GuestCr4, Cr4.VMXE);
  vmcs.set(F.GuestIa32Efer, 0);
  vmcs.set(F.VmEntryControls, vmcs.get(F.VmEntryControls) & ~EntryCtl.Ia32eModeGuest);
  setGuestSegment(vmcs, 1, 0x08, 0, 0xffffffff, AR.code32);
  for (const s of [0, 2, 3, 4, 5]) setGuestSegment(vmcs, s, 0x10, 0, 0xffffffff, AR.data);
  commonGuest(vmcs);
}

/** Real-mode guest code: CS = {@link GUEST_REAL_CS}, IP 0 (linear GUEST_REAL_CS << 4). */
export const GUEST_REAL_CS = 0x5000;

/** A real-mode guest (CR0.PE = 0: needs "unrestricted guest"): CS:IP = GUEST_REAL_CS:0, SS:SP = 0:F000H, IVT at 0. */
export function validGuestReal(vmcs: Vmcs): void {
  vmcs.set(F.GuestCr0, (Cr0.ET | Cr0.NE) | 0);
  vmcs.set(F.GuestCr3, 0);
  vmcs.set(F.GuestCr4, Cr4.VMXE);
  vmcs.set(F.GuestIa32Efer, 0);
  vmcs.set(F.VmEntryControls, vmcs.get(F.VmEntryControls) & ~EntryCtl.Ia32eModeGuest);
  setGuestSegment(vmcs, 1, GUEST_REAL_CS, GUEST_REAL_CS << 4, 0xffff, AR.code16);
  for (const s of [0, 2, 3, 4, 5]) setGuestSegment(vmcs, s, 0, 0, 0xffff, AR.data16);
  commonGuest(vmcs);
  vmcs.set(F.GuestRip, 0);
  vmcs.set(F.GuestRsp, 0xf000);
  vmcs.set(F.GuestIdtrBase, 0);
  vmcs.set(F.GuestIdtrLimit, 0x3ff);
  vmcs.generation++;
}

/** Physical memory the fixture writes guest tables into. */
export interface FixtureMemory {
  w32(a: number, v: number): void;
  w8(a: number, v: number): void;
}

/**
 * The guest's GDT (null, 08H 64-bit code, 10H data, 18H 32-bit code, 40H 64-bit TSS), a
 * 64-bit IDT of 256 interrupt gates (DPL 3, so INT n from any CPL reaches them) whose vector n
 * handler is a HLT at `GUEST_HANDLERS + 16 n`, and a TSS whose RSP0 is {@link GUEST_RSP}.
 */
export function writeGuestTables(m: FixtureMemory): void {
  const desc = (i: number, lo: number, hi: number): void => {
    m.w32(GUEST_GDT + 8 * i, lo);
    m.w32(GUEST_GDT + 8 * i + 4, hi);
  };
  desc(0, 0, 0);
  desc(1, 0x0000ffff, 0x00af9b00); // 64-bit code
  desc(2, 0x0000ffff, 0x00cf9300); // data
  desc(3, 0x0000ffff, 0x00cf9b00); // 32-bit code
  // 64-bit TSS at GUEST_TSS, limit 67H (busy: type 11).
  desc(8, ((GUEST_TSS & 0xffff) << 16) | 0x67, ((GUEST_TSS >>> 16) & 0xff) | 0x8b00 | (GUEST_TSS & 0xff000000));
  desc(9, 0, 0);
  for (let v = 0; v < 256; v++) {
    const h = GUEST_HANDLERS + 16 * v;
    m.w32(GUEST_IDT + 16 * v, (0x08 << 16) | (h & 0xffff));
    m.w32(GUEST_IDT + 16 * v + 4, (h & 0xffff0000) | 0xee00);
    m.w32(GUEST_IDT + 16 * v + 8, 0);
    m.w32(GUEST_IDT + 16 * v + 12, 0);
    m.w8(h, 0xf4);
  }
  m.w32(GUEST_TSS + 4, GUEST_RSP);
  m.w32(GUEST_TSS + 8, 0);
}
