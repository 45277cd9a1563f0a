/**
 * Nested paging and ASIDs (AMD64 APM Vol. 2 §15.16 "TLB Control", §15.25 "Nested Paging")
 * through `@hvkit/mmu`'s {@link SecondLevelWalker} in NPT format.
 *
 * - {@link nptTranslate} is the core's `translateGpa` hook: in guest mode every guest-physical
 *   access (the final translation of a linear access, and each access of the guest's own page
 *   walk) comes here. With NP_ENABLE it walks the nested page tables from nCR3 behind a small
 *   guest-physical translation cache; a failing walk is #VMEXIT(NPF) (§15.25.6), recorded as a
 *   pending exit and completed at the next boundary (the instruction is abandoned: RIP stays at
 *   it). Without NP_ENABLE a guest-physical address is a system-physical address.
 * - {@link nptActivate} (every VMRUN, after the guest state is loaded) loads nCR3 into the
 *   walker, maps the guest's ASID to one of the core's TLB banks and performs TLB_CONTROL.
 * - {@link invalidateAsidPage} is INVLPGA's TLB side.
 *
 * The nested table format (§15.25.3: "The extra translation uses the same paging mode as the VMM
 * used when it executed the most recent VMRUN"; the host save area holds the host's CR4 and
 * EFER): with the host's EFER.LMA = 1 the long-mode format, 4-level (5-level with the host's
 * CR4.LA57); otherwise with the host's CR4.PAE = 1 the legacy PAE format (nCR3 bits 31:5 locate
 * a 4-entry PDPT, read at each walk), else the legacy 32-bit format (4 MiB pages with the host's
 * CR4.PSE). The host's EFER.NXE decides whether bit 63 is NX or reserved (PAE and long mode). A
 * legacy-format host translates guest-physical addresses below 4 GiB only (a higher one is a
 * not-present #NPF). A host with CR0.PG = 0 cannot enable nested paging (VMRUN fails with
 * VMEXIT_INVALID, §15.25.3: vmrun.ts's check). A guest in legacy PAE mode has no PDPTE registers
 * under nested paging (§15.25.10): `cpu.pdpteFromWalk` makes the core read the PDPE of each walk
 * through this translation (a guest page-table access) and never load them at MOV CR3. #NPF
 * exits carry the decode-assist instruction bytes (§15.35). G_PAT is not used for memory types (hvkit models
 * no caches); VMRUN validates it.
 */
import { CPU_VMEXIT, Cr4, Efer, type Cpu } from '@hvkit/x86';
import { NestedAccess, NestedStatus, PagingMode } from '@hvkit/mmu';
import { NpEnable, SvmExitCode, TlbControl } from './constants.js';
import { VmcbOffset } from './vmcb.js';
import { recordPendingExit } from './vmexit.js';
import { fetchGuestInsnBytes } from './intercept.js';
import type { SvmCpu } from './svm.js';

/** Guest TLB contexts kept: the core's TLB bank tags 1..7 (0 is the host's, ASID 0). */
const CONTEXTS = 7;
/** Entries of the direct-mapped guest-physical translation cache. */
const CACHE_SIZE = 1024;
/** Rights of a cache entry: read, write (only once the nested dirty flag is set), execute. */
const P_R = 1;
const P_W = 2;
const P_X = 4;

/**
 * Per-processor nested-paging state: which ASID (and which nested-paging setup) each guest TLB
 * bank (tags 1..7) holds, LRU; and a direct-mapped cache of nested translations (guest-physical
 * page -> system-physical page with the nested rights). The cache lives for one stay in guest
 * mode (VMRUN to #VMEXIT), more conservative than the APM requires (§15.16: the hypervisor
 * flushes with TLB_CONTROL after changing nested tables); it is keyed by guest-physical page only,
 * so it must never outlive one nCR3.
 */
export class AsidContexts {
  /** The bank tag in use in guest mode (0 outside). */
  currentTag = 0;
  /** Set by {@link tagFor}: the ASID was just (re)assigned its tag (the bank holds another ASID's entries). */
  fresh = false;
  /** NP_ENABLE of the current VMRUN. */
  npEnabled = false;

  /** ASID held by bank tag t (index t - 1), -1 for none. */
  readonly ctxAsid = new Int32Array(CONTEXTS).fill(-1);
  /**
   * What the bank was filled under: the nested root (nCR3 page address), -1 without nested
   * paging; and the nested walk controls (bit 0 host EFER.NXE, bit 1 CR4.LA57, bit 2 CR4.PSE,
   * bits 5:3 the nested format's paging mode). A VMRUN of the same ASID with another setup
   * flushes the bank first.
   */
  readonly ctxRoot = new Float64Array(CONTEXTS).fill(-2);
  readonly ctxWalk = new Int32Array(CONTEXTS);
  readonly ctxUse = new Float64Array(CONTEXTS);
  private clock = 0;

  /** Cache: key = guest-physical page number, or -1. */
  readonly cacheKey = new Float64Array(CACHE_SIZE).fill(-1);
  readonly cacheHpa = new Float64Array(CACHE_SIZE);
  readonly cachePerm = new Uint8Array(CACHE_SIZE);
  /** Generation of each entry; an entry is valid while it equals {@link gen}. */
  readonly cacheGen = new Int32Array(CACHE_SIZE);
  /** The cache generation: bumped on every VMRUN and every invalidation. */
  gen = 1;

  /** The bank tag (1..7) of `asid`; a new ASID takes the least recently used tag ({@link fresh} tells). */
  tagFor(asid: number): number {
    let victim = 0;
    for (let i = 0; i < CONTEXTS; i++) {
      if (this.ctxAsid[i] === asid) {
        this.ctxUse[i] = ++this.clock;
        this.fresh = false;
        return i + 1;
      }
      if (this.ctxUse[i]! < this.ctxUse[victim]!) victim = i;
    }
    this.ctxAsid[victim] = asid;
    this.ctxRoot[victim] = -2;
    this.ctxUse[victim] = ++this.clock;
    this.fresh = true;
    return victim + 1;
  }

  /** The bank tag holding `asid`, or -1. */
  tagOf(asid: number): number {
    for (let i = 0; i < CONTEXTS; i++) if (this.ctxAsid[i] === asid) return i + 1;
    return -1;
  }

  /** Drops every cached nested translation. */
  clearCache(): void {
    this.gen = (this.gen + 1) | 0;
  }
}

// ---- translation ------------------------------------------------------------------------------

/**
 * The guest-physical -> system-physical translation of one guest-mode access (`access`: 0 read,
 * 1 write, 2 fetch, +4 for the guest's page-walk accesses, 5 = an accessed/dirty update of a
 * guest paging-structure entry). Without NP_ENABLE the address is returned unchanged.
 *
 * With NP_ENABLE (APM §15.25.5 "Nested Table Walk"): every access is a user access at the nested
 * level ("A table walk for the guest page itself is always treated as a user access at the nested
 * page table level"), and the guest's page-walk accesses are user writes ("Table walks for guest
 * page tables are always treated as user writes at the nested page table level"), so a nested
 * page that maps a guest page table must be writable and gets its dirty flag set; the host's
 * CR0.WP is ignored. A fault is #VMEXIT(NPF) (§15.25.6, Appendix C code 400h): EXITINFO1 bits
 * 31:0 the #PF-style error code (P: the nested entry was present, a protection or reserved-bit
 * fault; R/W; U/S = 1; RSVD; ID for a code read), bit 32 set when the
 * fault was on the final guest-physical address, bit 33 set when it was on a guest page-table
 * access; EXITINFO2 the faulting guest-physical address. The exit is recorded pending (the
 * boundary completes it) and the instruction abandoned by throwing `CPU_VMEXIT`.
 *
 * On success `cpu.slRights` is lowered to the rights the nested mapping grants without another
 * walk (read always; write only once the nested leaf's dirty flag is set; execute unless NX), so
 * no TLB entry filled for one kind of access lets another bypass the nested tables.
 */
export function nptTranslate(svm: SvmCpu, cpu: Cpu, gpa: number, access: number): number {
  const st = svm.asids;
  if (!st.npEnabled) return gpa;
  const page = Math.floor(gpa / 4096);
  const slot = page & (CACHE_SIZE - 1);
  // Guest page-walk accesses are user writes at the nested level (§15.25.5).
  const need = access >= 4 || access === 1 ? P_W : access === 2 ? P_X : P_R;
  if (st.cacheKey[slot] === page && st.cacheGen[slot] === st.gen && (st.cachePerm[slot]! & need) === need) {
    cpu.slRights = st.cachePerm[slot]!;
    return st.cacheHpa[slot]! + (gpa - page * 4096);
  }
  return nptWalk(svm, cpu, gpa, access, page, slot);
}

/** The nested walk behind the cache: fills the cache, or performs #VMEXIT(NPF). */
function nptWalk(svm: SvmCpu, cpu: Cpu, gpa: number, access: number, page: number, slot: number): number {
  const st = svm.asids;
  const w = svm.npt;
  let acc: number;
  if (access >= 4) acc = (access & 1) !== 0 ? NestedAccess.PagingStructure | NestedAccess.Write : NestedAccess.PagingStructure;
  else acc = access === 1 ? NestedAccess.Write : access === 2 ? NestedAccess.Fetch : NestedAccess.Read;
  const status = w.translate(gpa, acc);
  if (status === NestedStatus.Ok) {
    const perm = P_R | (w.writable && w.dirty ? P_W : 0) | (w.executable ? P_X : 0);
    st.cacheKey[slot] = page;
    st.cacheHpa[slot] = w.hostAddr - (gpa - page * 4096);
    st.cachePerm[slot] = perm;
    st.cacheGen[slot] = st.gen;
    cpu.slRights = perm;
    return w.hostAddr;
  }
  // §15.25.6: EXITINFO1 = error code | bit 32 (final translation) or bit 33 (guest page table);
  // EXITINFO2 = the guest-physical address.
  npfInsnBytes(svm, cpu);
  recordPendingExit(svm, cpu, SvmExitCode.Npf, w.infoLo, w.infoHi, w.faultGpaLo, w.faultGpaHi);
  throw CPU_VMEXIT;
}

/**
 * Decode assists on #NPF (APM Vol. 2 §15.35 "Decode Assists", instruction bytes at VMCB 0D0h/0D1h;
 * §15.25.6 "The processor may provide additional instruction decode assist information"): the
 * bytes of the guest instruction at CS:RIP whose access faulted, with {@link fetchGuestInsnBytes}
 * (only bytes the core already fetched: 0 when the fault was on the instruction fetch itself, the
 * bytes up to the page end when it was on the second page of the instruction). A nested fault
 * during event delivery (an interrupt, an exception, EVENTINJ: `cpu.vectoringInfo` valid) belongs
 * to no instruction's access: 0 bytes. The count is written at every #NPF, so a stale count of an
 * earlier exit is never left behind.
 */
function npfInsnBytes(svm: SvmCpu, cpu: Cpu): void {
  if (!svm.features.decodeAssists) return;
  if (cpu.vectoringInfo >= 0) {
    fetchGuestInsnBytes(svm, cpu);
    return;
  }
  if (svm.vmcbPa < 0) return;
  svm.vmcb.select(svm.vmcbPa);
  svm.vmcb.w8(VmcbOffset.GuestInsnBytesCount, 0);
}

// ---- activation --------------------------------------------------------------------------------

/**
 * On VMRUN, after the guest state is loaded (vmrun.ts): the nested-paging setup and the guest's
 * TLB context.
 *
 * - NP_ENABLE and nCR3 (§15.25.3/§15.25.4): nCR3 is loaded into the walker in the format of the
 *   host's paging mode, from the host CR4/EFER in the host save area (the state VMRUN saved; see
 *   the module comment). The nested translation cache starts empty.
 * - ASIDs (§15.16): TLB entries are tagged with the ASID; each guest ASID keeps one of the core's
 *   TLB banks 1..7 (LRU; a reassigned bank is flushed first). Bank 0 is the host's (ASID 0). A
 *   bank whose entries were filled under another nCR3, NP_ENABLE or nested walk mode is flushed
 *   (flushing more than required is always allowed; this keeps an nCR3 change safe even without
 *   TLB_CONTROL).
 * - TLB_CONTROL (§15.16.1, VMCB 05Ch): 00h nothing; 01h flush the entire TLB (every ASID, the
 *   host's too); 03h flush this guest's entries; 07h flush this guest's non-global entries (03h
 *   and 07h with FlushByAsid, which hvkit advertises). Other values are reserved: they flush this
 *   guest's entries (a superset of anything they might mean short of 01h).
 *
 * Guest MOV CR3 and CR4.PGE changes flush only the current bank (the core's `flushTlb` acts on
 * the current bank): with FlushByAsid, TLB flush events in the guest flush only its ASID.
 */
export function nptActivate(svm: SvmCpu, cpu: Cpu): void {
  const st = svm.asids;
  st.clearCache();
  const np = (svm.npEnable & NpEnable.Np) !== 0;
  st.npEnabled = np;
  // §15.25.10: a legacy-PAE guest's PDPEs are read at each walk, through the nested tables.
  cpu.pdpteFromWalk = np;
  let root = -1;
  let walk = 0;
  if (np) {
    const hs = svm.hsave;
    hs.select(svm.hsavePa);
    const efer = hs.r32(VmcbOffset.Efer);
    const cr4 = hs.r32(VmcbOffset.Cr4);
    const nxe = (efer & Efer.NXE) !== 0;
    const la57 = (cr4 & Cr4.LA57) !== 0;
    const pse = (cr4 & Cr4.PSE) !== 0;
    const mode = (efer & Efer.LMA) !== 0 ? PagingMode.Level4 : (cr4 & Cr4.PAE) !== 0 ? PagingMode.Pae : PagingMode.Legacy32;
    svm.npt.setNpt(svm.nCr3Lo, svm.nCr3Hi, nxe, la57, mode, pse);
    root = svm.npt.root;
    walk = (nxe ? 1 : 0) | (la57 ? 2 : 0) | (pse ? 4 : 0) | (mode << 3);
  }
  const tag = st.tagFor(svm.asid);
  const i = tag - 1;
  const control = svm.tlbControl & 0xff;
  if (control === TlbControl.FlushAll) cpu.flushAllTlbBanks();
  let flushed = control === TlbControl.FlushAll;
  // 03h and the reserved encodings flush this ASID; so does a bank filled under another setup.
  const flushAsid = control !== TlbControl.DoNothing && control !== TlbControl.FlushAsidNonGlobal;
  if (!flushed && (flushAsid || st.fresh || st.ctxRoot[i] !== root || st.ctxWalk[i] !== walk)) {
    cpu.flushTlbBank(tag);
    flushed = true;
  }
  st.ctxRoot[i] = root;
  st.ctxWalk[i] = walk;
  st.currentTag = tag;
  cpu.selectTlbBank(tag);
  // Non-global entries of this ASID only: the bank is current now, so the core's flush applies.
  if (!flushed && control === TlbControl.FlushAsidNonGlobal) cpu.flushTlb(false);
}

// ---- invalidation -------------------------------------------------------------------------------

/**
 * INVLPGA's TLB side (APM Vol. 3 "INVLPGA"; Vol. 2 §15.16.3 "Invalidate Page, Alternate ASID"):
 * invalidates the TLB mapping of the virtual page at `hi:lo` (rAX) for `asid` (ECX; 0 = the
 * host). The current bank drops just that page (the core's INVLPG path, which also handles large
 * pages); another ASID's bank is flushed whole, a superset the APM allows. An ASID that holds no
 * bank has nothing cached. The nested translation cache is dropped too (conservative: INVLPGA
 * need not touch guest-physical mappings).
 */
export function invalidateAsidPage(svm: SvmCpu, cpu: Cpu, asid: number, lo: number, hi: number): void {
  const st = svm.asids;
  st.clearCache();
  const tag = asid === 0 ? 0 : st.tagOf(asid);
  if (tag < 0) return;
  if (tag === cpu.tlbBankTag) cpu.flushTlbPage(lo, hi);
  else cpu.flushTlbBank(tag);
}

/** Flushes every guest bank (not the host's) and the nested cache (EFER.SVME cleared, say). */
export function invalidateAllAsids(svm: SvmCpu, cpu: Cpu): void {
  svm.asids.clearCache();
  for (let t = 1; t <= CONTEXTS; t++) cpu.flushTlbBank(t);
}
