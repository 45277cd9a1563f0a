/**
 * EPT, VPID and the APIC-access page in VMX non-root operation (Intel SDM Vol. 3C ch. 28 "VMX
 * Support for Address Translation", §29.4 "Virtualizing Memory-Mapped APIC Accesses", §25.5.6
 * "VM Functions").
 *
 * - {@link eptTranslate} is the core's `translateGpa` hook: every guest-physical access in
 *   non-root operation (TLB fills and guest page-walk accesses) goes through it. With "enable
 *   EPT" it walks the EPT paging structures with `vmx.ept` (`SecondLevelWalker` of @hvkit/mmu)
 *   behind a small guest-physical translation cache; a failing walk is an EPT violation (exit
 *   48) or an EPT misconfiguration (exit 49). With "virtualize APIC accesses", an access whose
 *   (host-)physical address lies on the APIC-access page is an APIC-access VM exit (44), or, with
 *   "use TPR shadow", a virtualized access to VTPR on the virtual-APIC page (§29.4.2, §29.4.3).
 * - {@link eptActivate} (every VM entry) loads the EPTP into the walker and selects the core's
 *   TLB bank for the (VPID, EP4TA) context (§28.3.1 "Information That May Be Cached").
 * - {@link eptpSwitch} is VMFUNC leaf 0, EPTP switching (§25.5.6.3).
 * - {@link invalidateEpt} / {@link invalidateVpid} / {@link invalidateAllContexts} are the
 *   TLB side of INVEPT / INVVPID (§28.4.3 "Invalidating Cached Translation Information").
 *
 * The exits are found in the middle of an instruction (or an event delivery), so they are
 * recorded with exit.ts `recordPendingExit` and the instruction is abandoned by throwing
 * `CPU_VMEXIT`; the exit completes at the next boundary with the guest state the abandoned
 * instruction left (fault-like: RIP at the instruction).
 */
import { CPU_VMEXIT, type Cpu } from '@hvkit/x86';
import { NestedAccess, NestedStatus } from '@hvkit/mmu';
import { Proc2Ctl, ProcCtl, VmxExitReason } from './constants.js';
import { nmiUnblockingDueToIret, recordPendingExit } from './exit.js';
import { VMCS_SLOT, VmcsField } from './fields.js';
import type { VmxCpu } from './vmx.js';

const S_PROC = VMCS_SLOT[VmcsField.CpuBasedVmExecControl]!;
const S_PROC2 = VMCS_SLOT[VmcsField.SecondaryVmExecControl]!;
const S_VPID = VMCS_SLOT[VmcsField.VirtualProcessorId]!;
const S_EPTP = VMCS_SLOT[VmcsField.EptPointer]!;
const S_EPTP_LIST = VMCS_SLOT[VmcsField.EptpListAddress]!;
const S_APIC_ACCESS = VMCS_SLOT[VmcsField.ApicAccessAddress]!;
const S_VAPIC = VMCS_SLOT[VmcsField.VirtualApicAddress]!;
const S_TPR_THRESHOLD = VMCS_SLOT[VmcsField.TprThreshold]!;
const S_GPA = VMCS_SLOT[VmcsField.GuestPhysicalAddress]!;
const S_GLA = VMCS_SLOT[VmcsField.GuestLinearAddress]!;

const TWO_32 = 4294967296;
/** Guest TLB contexts kept (TLB bank tags 1..7; 0 is the host's). */
const CONTEXTS = 7;
/** Entries of the direct-mapped guest-physical translation cache. */
const CACHE_SIZE = 1024;
/** Permission bits of a cache entry: read, write (and dirty with EPT A/D), execute. */
const P_R = 1;
const P_W = 2;
const P_X = 4;
/** Exit-qualification bits 11:9 ("advanced VM-exit information for EPT violations") are not advertised. */
const ADVANCED_INFO = 0xe00;

/** APIC-access exit-qualification access types (SDM §27.2.1, Table 27-6 bits 15:12). */
export const ApicAccessType = {
  LinearRead: 0,
  LinearWrite: 1,
  LinearFetch: 2,
  /** Linear access (read or write) during event delivery. */
  LinearEventDelivery: 3,
  /** Guest-physical access during event delivery. */
  PhysicalEventDelivery: 10,
  /** Guest-physical access for an instruction fetch or during instruction execution. */
  PhysicalInstruction: 15,
} as const;

/**
 * Per-processor EPT/VPID state: the contexts (VPID, EP4TA) of the TLB banks 1-7 and a
 * direct-mapped cache of guest-physical mappings (GPA page -> HPA page with the EPT
 * permissions; SDM §28.4.1 "guest-physical mappings", which a processor may cache and use
 * until INVEPT, §28.4.3.1). The cache lives for one stay in non-root operation (from a VM entry
 * to the next VM exit), which is more conservative than the SDM requires.
 */
export class EptContexts {
  /** Whether the current VMCS enables EPT / the APIC-access page address (-1: not virtualized). */
  eptEnabled = false;
  apicAccessPage = -1;
  // ---- tpr ----
  /**
   * The virtual-APIC page while accesses to the APIC-access page may be virtualized ("virtualize
   * APIC accesses" and "use TPR shadow" both 1), else -1 (SDM §29.4.2, §29.4.3.1).
   */
  virtualApicPage = -1;
  /**
   * The size of the write to the APIC-access page virtualized in the current operation, 0 for
   * none: its APIC-write emulation (§29.4.3.2) is pending until the next boundary.
   */
  apicWriteSize = 0;
  /** The EPTP loaded into the walker (lo, hi), and whether one is. */
  loadedLo = 0;
  loadedHi = 0;
  loaded = false;
  /** EPT A/D flags enabled by the loaded EPTP (bit 6). */
  accessedDirty = false;

  /** Context of bank tag t (index t - 1): the VPID (-1 with VPIDs disabled), the EP4TA (-1: no EPT). */
  readonly ctxVpid = new Int32Array(CONTEXTS).fill(-2);
  readonly ctxEp4ta = new Float64Array(CONTEXTS).fill(-2);
  readonly ctxUse = new Float64Array(CONTEXTS);
  private clock = 0;
  /** The bank tag in use in non-root operation. */
  currentTag = 0;
  /** Set by {@link tagFor}: the context was just (re)assigned its tag (its bank holds another context's entries). */
  fresh = false;

  /** Cache: key = GPA page number, or -1. */
  readonly cacheKey = new Float64Array(CACHE_SIZE).fill(-1);
  readonly cacheHpa = new Float64Array(CACHE_SIZE);
  readonly cachePerm = new Uint8Array(CACHE_SIZE);
  /** Generation of each entry; an entry is valid while it equals {@link gen}. */
  readonly cacheGen = new Int32Array(CACHE_SIZE);
  /**
   * The cache generation: bumped on every VM entry (so INVEPT, which only VMX root operation
   * executes, never leaves a stale mapping, whoever performs it) and by every invalidation.
   */
  gen = 1;

  /** The bank tag (1..7) for a context; a new context takes the least recently used tag ({@link fresh} tells). */
  tagFor(vpid: number, ep4ta: number): number {
    let victim = 0;
    for (let i = 0; i < CONTEXTS; i++) {
      if (this.ctxVpid[i] === vpid && this.ctxEp4ta[i] === ep4ta) {
        this.ctxUse[i] = ++this.clock;
        this.fresh = false;
        return i + 1;
      }
      if (this.ctxUse[i]! < this.ctxUse[victim]!) victim = i;
    }
    this.ctxVpid[victim] = vpid;
    this.ctxEp4ta[victim] = ep4ta;
    this.ctxUse[victim] = ++this.clock;
    this.fresh = true;
    return victim + 1;
  }

  /** Drops every cached guest-physical mapping. */
  clearCache(): void {
    this.gen = (this.gen + 1) | 0;
  }
}

// ---- translation ------------------------------------------------------------------------------

/**
 * The guest-physical -> host-physical translation of one access in VMX non-root operation
 * (`access`: 0 read, 1 write, 2 fetch, +4 for guest paging-structure accesses, 5 = an
 * accessed/dirty update of a guest paging-structure entry). May perform an EPT-violation,
 * EPT-misconfiguration or APIC-access VM exit (then throws `CPU_VMEXIT`).
 *
 * On success `cpu.slRights` tells the core which kinds of access the EPT mapping of the page
 * grants without another walk (bit 0 read, 1 write, 2 execute: the R/W/X of the EPT
 * paging-structure entries used, SDM §28.3.3.2 "EPT Violations"; read clear for an
 * execute-only page, §28.3.2; write only once the EPT dirty flag is set when accessed and dirty
 * flags are enabled, §28.3.5), and the core installs no TLB right beyond them: a translation
 * cached for one kind of access never lets another kind bypass EPT (the combined mappings of
 * §28.4.1 carry the intersection of the guest's and the EPT's rights). Without "enable EPT" the
 * core's default (all rights) stays. An access to the APIC-access page exits or is virtualized
 * ({@link apicAccess}); either way that page never reaches the TLB.
 */
export function eptTranslate(vmx: VmxCpu, cpu: Cpu, gpa: number, access: number): number {
  const st = vmx.eptCtx;
  let hpa = gpa;
  if (st.eptEnabled) {
    const page = Math.floor(gpa / 4096);
    const slot = page & (CACHE_SIZE - 1);
    const need =
      access >= 4 ? ((access & 1) !== 0 || st.accessedDirty ? P_W : P_R) : access === 1 ? P_W : access === 2 ? P_X : P_R;
    if (st.cacheKey[slot] === page && st.cacheGen[slot] === st.gen && (st.cachePerm[slot]! & need) === need) {
      hpa = st.cacheHpa[slot]! + (gpa - page * 4096);
      cpu.slRights = st.cachePerm[slot]!;
    } else {
      hpa = eptWalk(vmx, cpu, st, gpa, access, page, slot);
    }
  }
  if (st.apicAccessPage >= 0 && hpa - (hpa % 4096) === st.apicAccessPage) return apicAccess(vmx, cpu, gpa, hpa, access);
  return hpa;
}

/** The EPT walk behind the cache; fills the cache or exits. */
function eptWalk(vmx: VmxCpu, cpu: Cpu, st: EptContexts, gpa: number, access: number, page: number, slot: number): number {
  const w = vmx.ept;
  let acc: number;
  if (access >= 4) acc = (access & 1) !== 0 ? NestedAccess.PagingStructure | NestedAccess.Write : NestedAccess.PagingStructure;
  else acc = access === 1 ? NestedAccess.Write : access === 2 ? NestedAccess.Fetch : NestedAccess.Read;
  // No guest-linear address goes with the access: exit qualification bits 7 and 8 clear.
  if (!cpu.gvaValid) acc |= NestedAccess.NoLinear;
  const status = w.translate(gpa, acc);
  if (status === NestedStatus.Ok) {
    // Cache the mapping with the rights that need no accessed/dirty update: a write right only
    // once the dirty flag is set with EPT A/D (§28.3.5), so the first write still walks.
    const perm = (w.readable ? P_R : 0) | (w.writable && w.dirty ? P_W : 0) | (w.executable ? P_X : 0);
    const hpaPage = w.hostAddr - (gpa - page * 4096);
    st.cacheKey[slot] = page;
    st.cacheHpa[slot] = hpaPage;
    st.cachePerm[slot] = perm;
    st.cacheGen[slot] = st.gen;
    cpu.slRights = perm;
    return w.hostAddr;
  }
  const vmcs = vmx.current!;
  const lo = vmcs.lo;
  const hi = vmcs.hi;
  // §27.2.1: the guest-physical address field (EPT violations and misconfigurations).
  lo[S_GPA] = w.faultGpaLo;
  hi[S_GPA] = w.faultGpaHi;
  if (status === NestedStatus.Misconfig) {
    // Exit qualification undefined (0 here), guest-linear address not saved.
    recordPendingExit(vmx, cpu, VmxExitReason.EptMisconfiguration, 0, 0);
  } else {
    // Table 27-7: bits 2:0 access, 6:3 permissions, 7 linear-address valid, 8 final translation
    // (the walker's), 12 NMI unblocking due to IRET.
    const q = (w.infoLo & ~ADVANCED_INFO) | nmiUnblockingDueToIret(vmx, cpu);
    if ((q & (1 << 7)) !== 0) {
      lo[S_GLA] = cpu.gvaLo;
      hi[S_GLA] = cpu.gvaHi;
    }
    recordPendingExit(vmx, cpu, VmxExitReason.EptViolation, q, 0);
  }
  throw CPU_VMEXIT;
}

/**
 * An access to the APIC-access page with "virtualize APIC accesses" (SDM §29.4): an APIC-access
 * VM exit (44) with the exit qualification of Table 27-6: bits 11:0 the offset in the page
 * (linear accesses), bits 15:12 the access type. A linear access is the translation of a linear
 * address (the final access of `translate`); guest paging-structure accesses and accesses without
 * a linear address are guest-physical accesses. During event delivery (`cpu.vectoringInfo`
 * valid) the types are 3 (linear) and 10 (guest-physical). The APIC-access address is a
 * (host-)physical address: with EPT the EPT translation is compared.
 */
function apicAccessExit(vmx: VmxCpu, cpu: Cpu, gpa: number, hpa: number, access: number): never {
  const delivering = cpu.vectoringInfo !== 0;
  let type: number;
  if (access >= 4 || !cpu.gvaValid) type = delivering ? ApicAccessType.PhysicalEventDelivery : ApicAccessType.PhysicalInstruction;
  else if (delivering) type = ApicAccessType.LinearEventDelivery;
  else type = access === 1 ? ApicAccessType.LinearWrite : access === 2 ? ApicAccessType.LinearFetch : ApicAccessType.LinearRead;
  if (type >= ApicAccessType.PhysicalEventDelivery) {
    // Guest-physical accesses report the guest-physical address (§27.2.1).
    const vmcs = vmx.current!;
    vmcs.lo[S_GPA] = gpa % TWO_32 | 0;
    vmcs.hi[S_GPA] = Math.floor(gpa / TWO_32) | 0;
  }
  recordPendingExit(vmx, cpu, VmxExitReason.ApicAccess, (hpa % 4096) | (type << 12), 0);
  throw CPU_VMEXIT;
}

/** VTPR: offset 080H of the virtual-APIC page (§29.1.1 "Virtualized APIC Registers"). */
const VTPR = 0x80;

/**
 * An access to the APIC-access page (SDM §29.4 "Virtualizing Memory-Mapped APIC Accesses"):
 * returns the host-physical address the access uses instead when it is virtualized, else performs
 * the APIC-access VM exit. hvkit advertises neither "APIC-register virtualization" nor
 * "virtual-interrupt delivery", so only offset 080H (TPR) is ever virtualized, and only:
 * - with "use TPR shadow" = 1 (§29.4.2, §29.4.3.1: with 0 every access exits);
 * - for a linear access (§29.4.6.1: a guest-physical access, such as a guest paging-structure
 *   access, always exits, "never virtualized regardless of the page offset"; §29.4.6.2: a
 *   physical access may exit, and here does);
 * - not an instruction fetch (§29.4.2);
 * - "its page offset is 080H" and at most 32 bits (§29.4.2, §29.4.3.1): `cpu.accessSize` is 1, 2
 *   or 4 (0, an access the core does not size, exits), so the access lies within bytes 080H-083H,
 *   the low 4 bytes of a naturally aligned 16-byte region;
 * - a read not part of an operation that already virtualized a write to the page, a write not
 *   part of one that virtualized a write of another size (§29.4.2, §29.4.3.1; the offset is always
 *   080H here).
 * A virtualized read returns data from the same offset of the virtual-APIC page (§29.4.2); a
 * virtualized write writes it there (§29.4.3.1) and APIC-write emulation follows the operation
 * ({@link apicWriteEmulation}, at the next boundary). The page never reaches the TLB
 * (`cpu.slRights` = 0), so every access comes back here (§29.4.5 allows no less: the rules
 * apply to every access through a 4-KByte translation, and here through any).
 */
function apicAccess(vmx: VmxCpu, cpu: Cpu, gpa: number, hpa: number, access: number): number {
  const st = vmx.eptCtx;
  const size = cpu.accessSize;
  if (
    st.virtualApicPage >= 0 &&
    access < 2 &&
    cpu.gvaValid &&
    hpa % 4096 === VTPR &&
    size !== 0 &&
    size <= 4 &&
    (st.apicWriteSize === 0 || (access === 1 && st.apicWriteSize === size))
  ) {
    cpu.slRights = 0;
    if (access === 1) {
      // (A read-modify-write's read is a write-kind access: its write follows with the same size.)
      st.apicWriteSize = size;
      cpu.extBoundary = true;
      cpu.exitBlock = true;
      // An iteration of a REP string instruction is an operation: emulation follows it (§29.4).
      cpu.endOperation = true;
    }
    return st.virtualApicPage + VTPR;
  }
  return apicAccessExit(vmx, cpu, gpa, hpa, access);
}

/**
 * APIC-write emulation (SDM §29.4.3.2), after the operation that performed a virtualized write to
 * the APIC-access page (called at the next instruction boundary; after a fault's delivery when
 * the operation faulted, "before the fault handler can execute"; never after a VM exit, which the
 * next VM entry forgets: {@link eptActivate}). For page offset 080H: bytes 3:1 of VTPR are
 * cleared, then TPR virtualization (§29.1.2): "virtual-interrupt delivery" being 0, a VM exit due
 * to TPR below threshold (trap-like, exit reason 43) if VTPR[7:4] < TPR threshold[3:0], which
 * this sets pending as `vmx.tprPending` for the boundary to perform first.
 */
export function apicWriteEmulation(vmx: VmxCpu, cpu: Cpu): void {
  const st = vmx.eptCtx;
  st.apicWriteSize = 0;
  cpu.endOperation = false;
  const a = st.virtualApicPage + VTPR;
  const vtpr = cpu.physRead32(a) & 0xff;
  cpu.physWrite32(a, vtpr);
  if ((vmx.current!.lo[S_TPR_THRESHOLD]! & 0xf) > vtpr >>> 4) vmx.tprPending = true;
}

// ---- activation --------------------------------------------------------------------------------

/**
 * On VM entry (called by nonRootEnter): caches "enable EPT" and the APIC-access page, loads the
 * EPTP into the walker (page-walk length, memory type, A/D enable from bit 6; §28.3.2), and
 * selects the core's TLB bank for the context: mappings are tagged by VPID and EP4TA (§28.4.1),
 * so a context keeps its bank across exits and entries. Without VPIDs (VPID 0000H), VM entries
 * invalidate the linear and combined mappings of VPID 0000H (§28.3.3.1): the bank is flushed on
 * every entry.
 */
export function eptActivate(vmx: VmxCpu, cpu: Cpu): void {
  const vmcs = vmx.current!;
  const lo = vmcs.lo;
  const hi = vmcs.hi;
  const st = vmx.eptCtx;
  const proc2 = (lo[S_PROC]! & ProcCtl.ActivateSecondaryControls) !== 0 ? lo[S_PROC2]! : 0;
  const ept = (proc2 & Proc2Ctl.EnableEpt) !== 0;
  st.eptEnabled = ept;
  // Guest-physical mappings are cached for one stay in non-root operation only (see EptContexts.gen).
  st.gen = (st.gen + 1) | 0;
  st.apicAccessPage =
    (proc2 & Proc2Ctl.VirtualizeApicAccesses) !== 0 ? (hi[S_APIC_ACCESS]! >>> 0) * TWO_32 + ((lo[S_APIC_ACCESS]! & ~0xfff) >>> 0) : -1;
  st.virtualApicPage =
    st.apicAccessPage >= 0 && (lo[S_PROC]! & ProcCtl.UseTprShadow) !== 0 ? (hi[S_VAPIC]! >>> 0) * TWO_32 + ((lo[S_VAPIC]! & ~0xfff) >>> 0) : -1;
  st.apicWriteSize = 0;
  cpu.endOperation = false;
  let ep4ta = -1;
  if (ept) {
    const eptLo = lo[S_EPTP]!;
    const eptHi = hi[S_EPTP]!;
    if (!st.loaded || eptLo !== st.loadedLo || eptHi !== st.loadedHi) loadEptp(vmx, eptLo, eptHi);
    ep4ta = (eptHi >>> 0) * TWO_32 + ((eptLo & ~0xfff) >>> 0);
  }
  const vpidOn = (proc2 & Proc2Ctl.EnableVpid) !== 0;
  const tag = st.tagFor(vpidOn ? lo[S_VPID]! & 0xffff : -1, ep4ta);
  st.currentTag = tag;
  // A reassigned tag holds another context's entries; without VPIDs every entry flushes. The
  // bank is flushed before it becomes current (the core's cheap whole-bank clear).
  if (st.fresh || !vpidOn) cpu.flushTlbBank(tag);
  cpu.selectTlbBank(tag);
}

/** Loads an EPTP into the walker; the guest-physical cache belongs to the previous one. */
function loadEptp(vmx: VmxCpu, eptLo: number, eptHi: number): void {
  const st = vmx.eptCtx;
  vmx.ept.setEpt(eptLo, eptHi);
  st.loaded = true;
  st.loadedLo = eptLo;
  st.loadedHi = eptHi;
  st.accessedDirty = vmx.ept.accessedDirty;
  st.clearCache();
}

/**
 * VMFUNC leaf 0, EPTP switching (SDM §25.5.6.3): entry `index` of the EPTP list (at the
 * EPTP-list address, 512 8-byte entries) becomes the EPTP if it is valid (the VM-entry checks
 * on the EPTP, §26.2.1.1: memory type UC or WB, page-walk length 4, bits 11:7 and the bits
 * beyond the physical-address width clear; bit 6 A/D). Returns false (the caller performs the
 * VMFUNC VM exit) for an index of 512 or more or an invalid entry.
 */
export function eptpSwitch(vmx: VmxCpu, cpu: Cpu, index: number): boolean {
  if (index >>> 0 >= 512) return false;
  const vmcs = vmx.current!;
  const lo = vmcs.lo;
  const hi = vmcs.hi;
  const list = (hi[S_EPTP_LIST]! >>> 0) * TWO_32 + ((lo[S_EPTP_LIST]! & ~0xfff) >>> 0);
  const a = list + (index >>> 0) * 8;
  const eLo = cpu.physRead32(a);
  const eHi = cpu.physRead32(a + 4);
  const type = eLo & 7;
  if ((type !== 0 && type !== 6) || ((eLo >>> 3) & 7) !== 3 || (eLo & 0xf80) !== 0) return false;
  const maxPhy = vmx.ept.maxPhyAddr;
  if ((eHi & ~(maxPhy >= 52 ? 0xfffff : (1 << (maxPhy - 32)) - 1)) !== 0) return false;
  lo[S_EPTP] = eLo;
  hi[S_EPTP] = eHi;
  vmcs.generation++;
  if (cpu.guestMode) eptActivate(vmx, cpu);
  return true;
}

// ---- invalidation -------------------------------------------------------------------------------

/**
 * INVEPT (SDM §28.4.3.1, §30.3 INVEPT): type 1 (single-context) invalidates the guest-physical
 * and combined mappings of the EP4TA of `eptpLo/Hi` (every VPID); type 2 (all-context) those of
 * every EP4TA. Invalidating more than required is allowed (§28.4.3.1), so the whole TLB bank of
 * each matching context is flushed.
 */
export function invalidateEpt(vmx: VmxCpu, cpu: Cpu, type: number, eptpLo: number, eptpHi: number): void {
  const st = vmx.eptCtx;
  st.clearCache();
  if (type !== 1) {
    invalidateAllContexts(vmx, cpu);
    return;
  }
  const ep4ta = (eptpHi >>> 0) * TWO_32 + ((eptpLo & ~0xfff) >>> 0);
  for (let i = 0; i < CONTEXTS; i++) if (st.ctxEp4ta[i] === ep4ta) cpu.flushTlbBank(i + 1);
}

/**
 * INVVPID (SDM §28.4.3.1, §30.3 INVVPID): types 0 (individual address), 1 (single context) and 3
 * (single context retaining globals) invalidate the linear and combined mappings of `vpid`
 * (the whole bank: more than required is allowed); type 2 (all contexts) those of every VPID but
 * 0000H.
 */
export function invalidateVpid(vmx: VmxCpu, cpu: Cpu, type: number, vpid: number): void {
  const st = vmx.eptCtx;
  for (let i = 0; i < CONTEXTS; i++) {
    const v = st.ctxVpid[i]!;
    if (type === 2 ? v > 0 : v === (vpid & 0xffff)) cpu.flushTlbBank(i + 1);
  }
}

/** Flushes every guest context's TLB bank and the guest-physical cache (VMXON/VMXOFF, all-context INVEPT). */
export function invalidateAllContexts(vmx: VmxCpu, cpu: Cpu): void {
  vmx.eptCtx.clearCache();
  for (let t = 1; t <= CONTEXTS; t++) cpu.flushTlbBank(t);
}
