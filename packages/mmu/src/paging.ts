/**
 * The guest page walker: one walker for every x86 paging mode (Intel SDM Vol. 3 chapter 4,
 * AMD APM Vol. 2 chapter 5), in the spirit of KVM's `paging_tmpl.h`: one walk loop, with the
 * entry format (4- or 8-byte entries, number of levels, reserved bits) chosen by the mode.
 *
 * The walker is on the CPU's TLB-miss path, so it allocates nothing per walk and uses no
 * BigInt: 64-bit quantities (CR3, linear addresses, 8-byte entries) travel as two signed or
 * unsigned 32-bit halves (`hi`, `lo`); physical addresses (below 2^52) are plain numbers.
 * Results go into preallocated fields of the {@link PageWalker} instance.
 *
 * Paging-structure reads and the accessed/dirty write-backs go through a
 * {@link PageTableMemory} the CPU provides; with nested paging (EPT/NPT) the CPU applies its
 * guest-physical -> host-physical translation inside it, so the walker knows nothing about it.
 */
import { PageFaultErrorCode } from './linear.js';

/** Memory through which the walker reads and writes paging structures. */
export interface PageTableMemory {
  /**
   * Reads the little-endian dword at physical address `gpa` (4-byte aligned), as a signed or
   * unsigned 32-bit value. A 64-bit entry is read as two calls: the low half at `gpa`, the
   * high half at `gpa + 4`. May throw to abort the walk (e.g. on an EPT violation); the walker
   * keeps no state a throw would leave inconsistent.
   */
  read32(gpa: number): number;
  /**
   * Writes the dword `value` (a signed or unsigned 32-bit value) at `gpa`; used only to set
   * accessed and dirty flags, which live in the low half of every entry.
   */
  write32(gpa: number, value: number): void;
}

/**
 * The paging modes (Intel SDM Vol. 3 §4.1.1, Table 4-1; AMD APM Vol. 2 §5.1). Numbered so
 * that the modes with 8-byte entries (CR4.PAE = 1) compare `>= PagingMode.Pae`.
 */
export const PagingMode = {
  /** CR0.PG = 0: linear addresses are physical addresses. */
  None: 0,
  /** 32-bit paging (CR4.PAE = 0), with 4 MiB pages when CR4.PSE = 1 (SDM §4.3). */
  Legacy32: 1,
  /** PAE paging: four PDPTE registers, then two levels of 8-byte entries (SDM §4.4). */
  Pae: 2,
  /** 4-level paging (IA-32e mode, CR4.LA57 = 0), 48-bit linear addresses (SDM §4.5). */
  Level4: 3,
  /** 5-level paging (IA-32e mode, CR4.LA57 = 1), 57-bit linear addresses (SDM §4.5). */
  Level5: 4,
} as const;
export type PagingMode = (typeof PagingMode)[keyof typeof PagingMode];

const CR0_PG = 1 << 31;
const CR0_WP = 1 << 16;
const CR4_PSE = 1 << 4;
const CR4_PAE = 1 << 5;
const CR4_LA57 = 1 << 12;
const CR4_PCIDE = 1 << 17;
const CR4_SMEP = 1 << 20;
const CR4_SMAP = 1 << 21;
const EFER_LME = 1 << 8;
const EFER_LMA = 1 << 10;
const EFER_NXE = 1 << 11;
const EFLAGS_AC = 1 << 18;

/**
 * The paging mode selected by CR0.PG, CR4.PAE, IA32_EFER.LME and CR4.LA57 (Intel SDM Vol. 3
 * §4.1.1, Table 4-1). Takes the low 32 bits of each register. EFER.LMA is accepted in place of
 * LME (with CR0.PG = 1 they are equal).
 */
export function pagingModeOf(cr0: number, cr4: number, efer: number): PagingMode {
  if ((cr0 & CR0_PG) === 0) return PagingMode.None;
  if ((cr4 & CR4_PAE) === 0) return PagingMode.Legacy32;
  if ((efer & (EFER_LME | EFER_LMA)) === 0) return PagingMode.Pae;
  return (cr4 & CR4_LA57) !== 0 ? PagingMode.Level5 : PagingMode.Level4;
}

/**
 * The `access` argument of {@link PageWalker.walk}: the #PF error-code bits that describe an
 * access (Intel SDM Vol. 3 §4.7), plus {@link PageAccess.Implicit}. A data read is `Read` (0).
 * `Write` and `Fetch` are exclusive.
 */
export const PageAccess = {
  Read: 0,
  /** A data write (error-code bit W/R). */
  Write: PageFaultErrorCode.Write,
  /**
   * Optional: the access was made at CPL 3. {@link WalkControl.Cpl3} says the same; either one
   * makes a non-implicit access a user-mode access.
   */
  User: PageFaultErrorCode.User,
  /** An instruction fetch (error-code bit I/D). */
  Fetch: PageFaultErrorCode.InstructionFetch,
  /**
   * An implicit supervisor-mode access: a read or write of the GDT, LDT, IDT or TSS, made
   * with supervisor rights whatever the CPL (SDM §4.6). Reported with U/S = 0, and never
   * exempted from SMAP by EFLAGS.AC (SDM §4.6.1).
   */
  Implicit: 1 << 16,
} as const;

/**
 * The `ctl` argument of {@link PageWalker.walk}: the paging-mode modifiers of SDM Vol. 3
 * §4.1.3 and the state that decides access rights (§4.6). Build it with
 * {@link walkControlOf}. The walker reads `Wp`, `Pse`, `Smep`, `Smap`, `Nxe`, `Ac` and `Cpl3`;
 * `Pae` and `La57` are carried for the CPU's convenience and must agree with the mode (the
 * walker goes by the `mode` argument), and `Pcide` only changes how CR3 is read
 * ({@link cr3Pcid}), not the walk.
 */
export const WalkControl = {
  /** CR0.WP: supervisor writes honour R/W (SDM §4.6.1). */
  Wp: 1 << 0,
  /** CR4.PSE: 4 MiB pages with 32-bit paging (SDM §4.3). */
  Pse: 1 << 1,
  /** CR4.PAE. */
  Pae: 1 << 2,
  /** CR4.SMEP: no supervisor instruction fetches from user-mode pages (SDM §4.6.1). */
  Smep: 1 << 3,
  /** CR4.SMAP: no supervisor data accesses to user-mode pages unless EFLAGS.AC (SDM §4.6.1). */
  Smap: 1 << 4,
  /** CR4.PCIDE. */
  Pcide: 1 << 5,
  /** CR4.LA57. */
  La57: 1 << 6,
  /** IA32_EFER.NXE: the XD bit (bit 63) is honoured rather than reserved (SDM §4.1.3). */
  Nxe: 1 << 7,
  /** EFLAGS.AC: lifts SMAP for explicit supervisor data accesses (SDM §4.6.1). */
  Ac: 1 << 8,
  /** CPL is 3: explicit accesses are user-mode accesses (SDM §4.6). */
  Cpl3: 1 << 9,
} as const;

/**
 * Packs the register state the walker needs into a {@link WalkControl} bitfield: CR0.WP
 * (bit 16), CR4.PSE/PAE/LA57/PCIDE/SMEP/SMAP (bits 4, 5, 12, 17, 20, 21), IA32_EFER.NXE
 * (bit 11), EFLAGS.AC (bit 18), and whether `cpl` is 3. Registers are their low 32 bits.
 */
export function walkControlOf(cr0: number, cr4: number, efer: number, eflags: number, cpl: number): number {
  return (
    ((cr0 & CR0_WP) !== 0 ? WalkControl.Wp : 0) |
    ((cr4 & CR4_PSE) !== 0 ? WalkControl.Pse : 0) |
    ((cr4 & CR4_PAE) !== 0 ? WalkControl.Pae : 0) |
    ((cr4 & CR4_SMEP) !== 0 ? WalkControl.Smep : 0) |
    ((cr4 & CR4_SMAP) !== 0 ? WalkControl.Smap : 0) |
    ((cr4 & CR4_PCIDE) !== 0 ? WalkControl.Pcide : 0) |
    ((cr4 & CR4_LA57) !== 0 ? WalkControl.La57 : 0) |
    ((efer & EFER_NXE) !== 0 ? WalkControl.Nxe : 0) |
    ((eflags & EFLAGS_AC) !== 0 ? WalkControl.Ac : 0) |
    (cpl === 3 ? WalkControl.Cpl3 : 0)
  );
}

/** Page sizes a walk can produce, in bytes. */
export const PageSize = {
  Size4K: 0x1000,
  Size2M: 0x20_0000,
  Size4M: 0x40_0000,
  Size1G: 0x4000_0000,
} as const;
export type PageSize = (typeof PageSize)[keyof typeof PageSize];

/** CR3 bits outside the table address (Intel SDM Vol. 3 §4.5, §4.10.1). */
export const Cr3 = {
  /** Page-level write-through (CR4.PCIDE = 0). */
  Pwt: 1 << 3,
  /** Page-level cache disable (CR4.PCIDE = 0). */
  Pcd: 1 << 4,
  /** Bits 11:0 hold the PCID when CR4.PCIDE = 1. */
  PcidMask: 0xfff,
  /**
   * Bit 63 of a MOV to CR3 source operand, as a mask on the high half: with CR4.PCIDE = 1,
   * set means "do not invalidate the new PCID's TLB entries"; it is never stored in CR3
   * (SDM §4.10.4.1).
   */
  NoFlushHi: 1 << 31,
} as const;

/**
 * The PCID in CR3 bits 11:0 (SDM Vol. 3 §4.10.1). Meaningful only when CR4.PCIDE = 1: with
 * PCIDE = 0 the current PCID is 000H whatever these bits hold.
 */
export function cr3Pcid(cr3Lo: number): number {
  return cr3Lo & Cr3.PcidMask;
}

/**
 * The mask of CR3's low half that holds the top paging structure's address: bits 31:12 with
 * 32-bit, 4-level and 5-level paging (the PCID or PWT/PCD below them is not address), bits
 * 31:5 with PAE paging (a 32-byte-aligned PDPT, SDM §4.4.1), 0 with paging off. As a signed
 * 32-bit value.
 */
export function cr3AddressMaskLo(mode: PagingMode): number {
  switch (mode) {
    case PagingMode.None:
      return 0;
    case PagingMode.Pae:
      return ~0x1f;
    default:
      return ~0xfff;
  }
}

/**
 * The mask of CR3's high half that holds address bits: bits (MAXPHYADDR - 1):32 with 4-level
 * and 5-level paging (SDM §4.5), nothing otherwise (CR3 is 32 bits wide outside IA-32e mode).
 */
export function cr3AddressMaskHi(mode: PagingMode, maxPhyAddr: number): number {
  return mode >= PagingMode.Level4 ? hiAddressMask(maxPhyAddr) : 0;
}

/** The physical address of the top paging structure CR3 (`cr3Hi:cr3Lo`) points to in `mode`. */
export function cr3Address(mode: PagingMode, cr3Lo: number, cr3Hi: number, maxPhyAddr: number): number {
  return (cr3Hi & cr3AddressMaskHi(mode, maxPhyAddr)) * TWO_32 + ((cr3Lo & cr3AddressMaskLo(mode)) >>> 0);
}

/**
 * The #PF error-code bits that describe an access, without P and RSVD (Intel SDM Vol. 3
 * §4.7): W/R for writes; U/S for user-mode accesses (CPL 3 and not implicit, §4.6); I/D for
 * instruction fetches, but only when CR4.SMEP = 1 or when IA32_EFER.NXE = 1 with CR4.PAE = 1
 * (PAE, 4-level or 5-level paging). The CPU uses it for faults found on a TLB hit, adding
 * `PageFaultErrorCode.Present`.
 */
export function accessErrorCode(mode: PagingMode, access: number, ctl: number): number {
  let code = access & PageAccess.Write;
  if (isUserAccess(access, ctl)) code |= PageFaultErrorCode.User;
  if (
    (access & PageAccess.Fetch) !== 0 &&
    ((ctl & WalkControl.Smep) !== 0 || (mode >= PagingMode.Pae && (ctl & WalkControl.Nxe) !== 0))
  ) {
    code |= PageFaultErrorCode.InstructionFetch;
  }
  return code;
}

/**
 * Whether an access is a user-mode access: made at CPL 3 (`WalkControl.Cpl3` in `ctl` or
 * `PageAccess.User` in `access`) and not an implicit supervisor-mode access (Intel SDM Vol. 3
 * §4.6).
 */
function isUserAccess(access: number, ctl: number): boolean {
  return (access & PageAccess.Implicit) === 0 && ((ctl & WalkControl.Cpl3) !== 0 || (access & PageAccess.User) !== 0);
}

/**
 * Whether page-level protection lets `access` through a translation whose effective rights are
 * `user` (U/S = 1 at every level), `writable` (R/W = 1 at every level) and `executable` (no
 * XD = 1 at any level), under `ctl` (Intel SDM Vol. 3 §4.6.1; AMD APM Vol. 2 §5.6):
 *
 * - user-mode accesses need a user-mode page; writes need R/W, fetches need no XD;
 * - supervisor instruction fetches need no XD, and with CR4.SMEP = 1 a supervisor-mode page;
 * - supervisor data accesses to user-mode pages fault when CR4.SMAP = 1 and either the access
 *   is implicit or EFLAGS.AC = 0;
 * - supervisor writes need R/W only when CR0.WP = 1.
 *
 * The walker applies it to every walk; the CPU can apply it on TLB hits with cached rights.
 */
export function isAccessPermitted(user: boolean, writable: boolean, executable: boolean, access: number, ctl: number): boolean {
  if (isUserAccess(access, ctl)) {
    if (!user) return false;
    if ((access & PageAccess.Fetch) !== 0) return executable;
    if ((access & PageAccess.Write) !== 0) return writable;
    return true;
  }
  if ((access & PageAccess.Fetch) !== 0) {
    if (user && (ctl & WalkControl.Smep) !== 0) return false;
    return executable;
  }
  if (
    user &&
    (ctl & WalkControl.Smap) !== 0 &&
    ((access & PageAccess.Implicit) !== 0 || (ctl & WalkControl.Ac) === 0)
  ) {
    return false;
  }
  if ((access & PageAccess.Write) !== 0 && (ctl & WalkControl.Wp) !== 0) return writable;
  return true;
}

/** Options of {@link PageWalker}. */
export interface PageWalkerOptions {
  /**
   * MAXPHYADDR, the physical-address width (CPUID.80000008H:EAX[7:0], SDM Vol. 3 §4.1.4):
   * an integer from 32 to 52, 48 by default. Entry address bits at or above it are reserved.
   */
  maxPhyAddr?: number;
  /**
   * Whether 1 GiB pages are supported (CPUID.80000001H:EDX.Page1GB[bit 26], SDM §4.1.4);
   * false by default, and then PS = 1 in a PDPTE is a reserved bit (§4.5.4).
   */
  gbPages?: boolean;
  /**
   * AMD reserved-bit rules: bit 8 of non-leaf PML5Es, PML4Es and PDPTEs is MBZ in long mode
   * (AMD APM Vol. 2 §5.3, long-mode PML4E/PDPE formats; Intel ignores it). False by default.
   */
  amd?: boolean;
}

const TWO_32 = 4294967296;
const P = 1 << 0;
const RW = 1 << 1;
const US = 1 << 2;
const A = 1 << 5;
const D = 1 << 6;
const PS = 1 << 7;
const G = 1 << 8;
/** Bits 20:13 of a 2 MiB PDE (bit 12 is PAT). */
const RSVD_2M = 0x001f_e000;
/** Bits 29:13 of a 1 GiB PDPTE (bit 12 is PAT). */
const RSVD_1G = 0x3fff_e000;
/** Bits 8:5 and 2:1 of a PAE PDPTE (SDM §4.4.1, Table 4-8). */
const RSVD_PDPTE_LO = 0x1e6;
const XD_HI = 1 << 31;

/** The mask of an entry's high half holding physical-address bits (MAXPHYADDR - 1):32. */
function hiAddressMask(maxPhyAddr: number): number {
  return maxPhyAddr >= 52 ? 0xfffff : (1 << (maxPhyAddr - 32)) - 1;
}

/**
 * The guest page walker, one per CPU. {@link walk} translates a linear address through the
 * paging structures in a {@link PageTableMemory}; the results are left in this object's
 * fields, which are valid until the next call.
 */
export class PageWalker {
  readonly memory: PageTableMemory;
  /** MAXPHYADDR. */
  readonly maxPhyAddr: number;
  /** Whether 1 GiB pages are supported. */
  readonly gbPages: boolean;
  /** Whether AMD's extra reserved bits apply. */
  readonly amd: boolean;
  /**
   * The four PAE PDPTE registers (SDM Vol. 3 §4.4.1), as (lo, hi) pairs: PDPTE i is
   * `pdptes[2 * i]`, `pdptes[2 * i + 1]`. Loaded by {@link loadPdptes} or {@link setPdpte};
   * VMX/SVM code may read them (e.g. to save them to the VMCS).
   */
  readonly pdptes = new Int32Array(8);
  /**
   * PAE paging reads the PDPTE a walk needs from the PDPT at CR3 bits 31:5 on every walk (through
   * `memory`, as a paging-structure read) instead of using the PDPTE registers, and checks it
   * there: P = 0 is a not-present #PF, a present PDPTE with a reserved bit set a #PF with P = 1,
   * RSVD = 1 (the entry read is left in {@link pdptes}). This is legacy PAE mode in an AMD SVM
   * guest with nested paging (AMD APM Vol. 2 §15.25.10 "Legacy PAE Mode": the guest's four PDPEs
   * are not loaded when CR3 is written but accessed on demand as part of the table walk, so an
   * illegal PDPE is signalled when the walk reaches it). The CPU sets it per walk.
   */
  pdptesFromMemory = false;

  /** Success: the physical address of the accessed byte. */
  physAddr = 0;
  /** Success: the physical address of the page (`physAddr` with the page offset cleared). */
  pageBase = 0;
  /** Success: the page size in bytes (a {@link PageSize}). */
  pageSize: number = PageSize.Size4K;
  /** Success: U/S = 1 at every level (user-mode page). */
  user = false;
  /** Success: R/W = 1 at every level. */
  writable = false;
  /** Success: no level has XD = 1 (always true with 32-bit paging). */
  executable = false;
  /** Success: the G flag of the entry that maps the page (the CPU applies CR4.PGE). */
  global = false;
  /**
   * Success: the dirty flag of the entry that maps the page, after the walk (true after any
   * write). A TLB entry cached with `dirty` false must be walked again before a write.
   */
  dirty = false;
  /** Failure: the #PF error code (P, W/R, U/S, RSVD, I/D; PK is never set). */
  errorCode = 0;

  /** Bits of an entry's high half that hold address bits. */
  private readonly hiAddr: number;
  /** Reserved address bits of the high half of a 4/5-level entry: 51:MAXPHYADDR. */
  private readonly longRsvdHi: number;
  /** Reserved bits of the high half of a PAE entry: 62:MAXPHYADDR. */
  private readonly paeRsvdHi: number;
  /** Reserved bits of a 4 MiB PDE: bit 21 and the PSE-36 bits above MAXPHYADDR. */
  private readonly pse36RsvdLo: number;
  /** Reserved bits of non-leaf PML5Es/PML4Es (PS, and bit 8 on AMD). */
  private readonly topRsvdLo: number;
  /** Reserved bits of a non-leaf 4/5-level PDPTE (bit 8 on AMD). */
  private readonly pdptRsvdLo: number;
  /** The entries used by the current walk, top first: their addresses and low halves. */
  private readonly entryAddr = new Float64Array(5);
  private readonly entryLo = new Int32Array(5);
  private readonly scratch = new Int32Array(8);

  constructor(memory: PageTableMemory, options: PageWalkerOptions = {}) {
    const maxPhyAddr = options.maxPhyAddr ?? 48;
    if (!Number.isInteger(maxPhyAddr) || maxPhyAddr < 32 || maxPhyAddr > 52) {
      throw new RangeError(`PageWalker: maxPhyAddr must be an integer from 32 to 52, got ${maxPhyAddr}`);
    }
    this.memory = memory;
    this.maxPhyAddr = maxPhyAddr;
    this.gbPages = options.gbPages ?? false;
    this.amd = options.amd ?? false;
    this.hiAddr = hiAddressMask(maxPhyAddr);
    this.longRsvdHi = 0xfffff & ~this.hiAddr;
    this.paeRsvdHi = 0x7fffffff & ~this.hiAddr;
    // PSE-36 (SDM §4.3, Table 4-4): PDE bits 20:13 are physical bits 39:32; those at or
    // above MAXPHYADDR (at most 40 here) are reserved, and so is bit 21.
    const pseBits = Math.min(maxPhyAddr, 40);
    this.pse36RsvdLo = (1 << 22) - (1 << (pseBits - 19));
    const amdBit8 = this.amd ? 1 << 8 : 0;
    this.topRsvdLo = PS | amdBit8;
    this.pdptRsvdLo = amdBit8;
  }

  /**
   * Whether a PAE PDPTE (`hi:lo`) is free of reserved-bit violations: a PDPTE with P = 1 must
   * have bits 2:1, 8:5 and 63:MAXPHYADDR clear (SDM Vol. 3 §4.4.1, Table 4-8; bit 63 is
   * reserved even with IA32_EFER.NXE = 1). A not-present PDPTE is always valid.
   */
  isPdpteValid(lo: number, hi: number): boolean {
    return (lo & P) === 0 || ((lo & RSVD_PDPTE_LO) === 0 && (hi & (this.paeRsvdHi | XD_HI)) === 0);
  }

  /**
   * Loads the four PDPTE registers from the 32-byte-aligned PDPT at CR3 bits 31:5, as MOV to
   * CR0/CR3/CR4 does with PAE paging (SDM Vol. 3 §4.4.1). If any PDPTE with P = 1 sets a
   * reserved bit, nothing is loaded and the result is false: the CPU raises #GP(0) and the
   * MOV has no effect.
   */
  loadPdptes(cr3Lo: number, memory: PageTableMemory = this.memory): boolean {
    const base = (cr3Lo & ~0x1f) >>> 0;
    const scratch = this.scratch;
    for (let i = 0; i < 4; i++) {
      const lo = memory.read32(base + i * 8) | 0;
      const hi = memory.read32(base + i * 8 + 4) | 0;
      if (!this.isPdpteValid(lo, hi)) return false;
      scratch[2 * i] = lo;
      scratch[2 * i + 1] = hi;
    }
    this.pdptes.set(scratch);
    return true;
  }

  /**
   * Sets PDPTE register `index` (0-3) without checks, as VM entry with EPT or a VMX/SVM
   * state load does (the entry checks are the caller's, e.g. with {@link isPdpteValid}).
   */
  setPdpte(index: number, lo: number, hi: number): void {
    this.pdptes[2 * index] = lo;
    this.pdptes[2 * index + 1] = hi;
  }

  /**
   * Translates the linear address `linHi:linLo` for `access` (a {@link PageAccess} bitfield)
   * in paging mode `mode`, with CR3 `cr3Hi:cr3Lo` and the state `ctl` (a {@link WalkControl}
   * bitfield). The caller has already checked canonicality (with 32-bit, PAE or no paging
   * only `linLo` is used; with 4-level paging bits 63:48 are ignored).
   *
   * Returns true with `physAddr`, `pageBase`, `pageSize`, `user`, `writable`, `executable`,
   * `global` and `dirty` filled, after setting the accessed flag of every entry used and, for
   * a write, the dirty flag of the entry that maps the page (SDM Vol. 3 §4.8; AMD APM Vol. 2
   * §5.4.1). Each flag is written back (one `write32` of the entry's low half) only if it
   * was clear; a failing walk writes nothing.
   *
   * Returns false with `errorCode` set for a #PF (SDM §4.7); the faulting linear address is
   * the input (CR2). In the order the walk meets them:
   * - a not-present entry (P = 0): P = 0 in the error code (§4.3, §4.4.2, §4.5.4);
   * - a present entry with a reserved bit set: P = 1, RSVD = 1 (§4.3, §4.4.2, §4.5.4);
   * - after a complete walk, a page-level protection violation: P = 1
   *   ({@link isAccessPermitted}, §4.6).
   * W/R, U/S and I/D describe the access ({@link accessErrorCode}).
   *
   * With `mode` {@link PagingMode.None} the translation is the identity on the low 32 bits:
   * a 4 KiB page with every right, and `dirty` true.
   */
  walk(mode: PagingMode, cr3Lo: number, cr3Hi: number, linLo: number, linHi: number, access: number, ctl: number): boolean {
    if (mode === PagingMode.None) {
      this.physAddr = linLo >>> 0;
      this.pageBase = (linLo & ~0xfff) >>> 0;
      this.pageSize = PageSize.Size4K;
      this.user = true;
      this.writable = true;
      this.executable = true;
      this.global = false;
      this.dirty = true;
      return true;
    }
    const memory = this.memory;
    const entryAddr = this.entryAddr;
    const entryLo = this.entryLo;
    let depth = 0;
    /** AND of the low halves of the entries (R/W and U/S combine across levels, §4.6). */
    let andLo = -1;
    /** OR of the high halves (XD = 1 at any level forbids fetches, §4.6). */
    let orHi = 0;
    let lo: number;
    let pageBase: number;
    let pageSize: number = PageSize.Size4K;

    if (mode === PagingMode.Legacy32) {
      // 32-bit paging (SDM §4.3): a 1024-entry page directory at CR3 bits 31:12, indexed by
      // linear bits 31:22, then (unless the PDE maps a 4 MiB page) a page table indexed by
      // bits 21:12. 4-byte entries, no XD bit.
      const pdeAddr = ((cr3Lo & ~0xfff) >>> 0) + (linLo >>> 22) * 4;
      lo = memory.read32(pdeAddr) | 0;
      if ((lo & P) === 0) return this.fault(0, mode, access, ctl);
      entryAddr[0] = pdeAddr;
      entryLo[0] = lo;
      depth = 1;
      andLo = lo;
      if ((lo & PS) !== 0 && (ctl & WalkControl.Pse) !== 0) {
        // A 4 MiB page (CR4.PSE = 1, PS = 1; Table 4-4): bits 31:22 are physical bits 31:22
        // and, with PSE-36, bits 20:13 are physical bits 39:32; bit 21 and the bits above
        // MAXPHYADDR are reserved. Without CR4.PSE, PS is ignored.
        if ((lo & this.pse36RsvdLo) !== 0) return this.fault(PageFaultErrorCode.Present | PageFaultErrorCode.ReservedBit, mode, access, ctl);
        pageBase = ((lo & 0xffc0_0000) >>> 0) + ((lo >>> 13) & 0xff) * TWO_32;
        pageSize = PageSize.Size4M;
      } else {
        const pteAddr = ((lo & ~0xfff) >>> 0) + ((linLo >>> 12) & 0x3ff) * 4;
        lo = memory.read32(pteAddr) | 0;
        if ((lo & P) === 0) return this.fault(0, mode, access, ctl);
        entryAddr[1] = pteAddr;
        entryLo[1] = lo;
        depth = 2;
        andLo &= lo;
        pageBase = (lo & ~0xfff) >>> 0;
      }
    } else {
      // PAE, 4-level and 5-level paging (SDM §4.4, §4.5): 512-entry tables of 8-byte entries.
      const hiAddr = this.hiAddr;
      // Reserved high bits (§4.4.2, §4.5.4): address bits from MAXPHYADDR up (to 62 with PAE,
      // to 51 with 4/5-level paging, where 62:52 are ignored), and XD unless IA32_EFER.NXE.
      const rsvdHi =
        (mode === PagingMode.Pae ? this.paeRsvdHi : this.longRsvdHi) | ((ctl & WalkControl.Nxe) !== 0 ? 0 : XD_HI);
      let table: number;
      let level: number;
      if (mode === PagingMode.Pae) {
        // The PDPTE comes from the PDPTE registers, checked when loaded (§4.4.1), or with
        // `pdptesFromMemory` from the PDPT itself, checked here. It has no R/W, U/S, XD or
        // accessed flag.
        const i = linLo >>> 30;
        if (this.pdptesFromMemory) {
          const addr = ((cr3Lo & ~0x1f) >>> 0) + i * 8;
          const plo = memory.read32(addr) | 0;
          if ((plo & P) === 0) return this.fault(0, mode, access, ctl);
          const phi = memory.read32(addr + 4) | 0;
          if (!this.isPdpteValid(plo, phi)) return this.fault(PageFaultErrorCode.Present | PageFaultErrorCode.ReservedBit, mode, access, ctl);
          this.pdptes[2 * i] = plo;
          this.pdptes[2 * i + 1] = phi;
        }
        const pdpteLo = this.pdptes[2 * i];
        if ((pdpteLo & P) === 0) return this.fault(0, mode, access, ctl);
        table = (this.pdptes[2 * i + 1] & hiAddr) * TWO_32 + ((pdpteLo & ~0xfff) >>> 0);
        level = 2;
      } else {
        table = (cr3Hi & hiAddr) * TWO_32 + ((cr3Lo & ~0xfff) >>> 0);
        level = mode === PagingMode.Level5 ? 5 : 4;
      }
      for (;;) {
        let index: number;
        switch (level) {
          case 5:
            index = (linHi >>> 16) & 0x1ff; // linear bits 56:48
            break;
          case 4:
            index = (linHi >>> 7) & 0x1ff; // bits 47:39
            break;
          case 3:
            index = ((linHi & 0x7f) << 2) | (linLo >>> 30); // bits 38:30
            break;
          case 2:
            index = (linLo >>> 21) & 0x1ff; // bits 29:21
            break;
          default:
            index = (linLo >>> 12) & 0x1ff; // bits 20:12
        }
        const addr = table + index * 8;
        lo = memory.read32(addr) | 0;
        if ((lo & P) === 0) return this.fault(0, mode, access, ctl);
        const hi = memory.read32(addr + 4) | 0;
        // Reserved low bits by level (§4.4.2, §4.5.4): PS in PML5Es and PML4Es; in a PDPTE,
        // PS itself without 1 GiB pages, else bits 29:13 of a 1 GiB page; bits 20:13 of a
        // 2 MiB PDE; none in a PTE (bit 7 is PAT).
        let rsvdLo: number;
        switch (level) {
          case 5:
          case 4:
            rsvdLo = this.topRsvdLo;
            break;
          case 3:
            rsvdLo = (lo & PS) === 0 ? this.pdptRsvdLo : this.gbPages ? RSVD_1G : PS;
            break;
          case 2:
            rsvdLo = (lo & PS) !== 0 ? RSVD_2M : 0;
            break;
          default:
            rsvdLo = 0;
        }
        if ((lo & rsvdLo) !== 0 || (hi & rsvdHi) !== 0) {
          return this.fault(PageFaultErrorCode.Present | PageFaultErrorCode.ReservedBit, mode, access, ctl);
        }
        entryAddr[depth] = addr;
        entryLo[depth] = lo;
        depth++;
        andLo &= lo;
        orHi |= hi;
        if (level === 1) {
          pageBase = (hi & hiAddr) * TWO_32 + ((lo & ~0xfff) >>> 0);
          break;
        }
        if ((lo & PS) !== 0 && level <= 3) {
          // The reserved-bit check above admits PS = 1 only in a PDE (2 MiB) or, with
          // 1 GiB pages supported, a PDPTE.
          if (level === 2) {
            pageBase = (hi & hiAddr) * TWO_32 + ((lo & ~0x1f_ffff) >>> 0);
            pageSize = PageSize.Size2M;
          } else {
            pageBase = (hi & hiAddr) * TWO_32 + ((lo & ~0x3fff_ffff) >>> 0);
            pageSize = PageSize.Size1G;
          }
          break;
        }
        table = (hi & hiAddr) * TWO_32 + ((lo & ~0xfff) >>> 0);
        level--;
      }
    }

    const user = (andLo & US) !== 0;
    const writable = (andLo & RW) !== 0;
    const executable = orHi >= 0;
    if (!isAccessPermitted(user, writable, executable, access, ctl)) {
      return this.fault(PageFaultErrorCode.Present, mode, access, ctl);
    }

    // Accessed and dirty flags (SDM §4.8): A in every entry used, D in the one that maps the
    // page for a write; written back only when they change.
    const last = depth - 1;
    const dirtyBit = (access & PageAccess.Write) !== 0 ? D : 0;
    for (let i = 0; i < depth; i++) {
      const old = entryLo[i];
      const updated = i === last ? old | A | dirtyBit : old | A;
      if (updated !== old) memory.write32(entryAddr[i], updated);
      if (i === last) lo = updated;
    }

    this.pageSize = pageSize;
    this.pageBase = pageBase;
    this.physAddr = pageBase + (linLo & (pageSize - 1));
    this.user = user;
    this.writable = writable;
    this.executable = executable;
    this.global = (lo & G) !== 0;
    this.dirty = (lo & D) !== 0;
    return true;
  }

  /** Records a #PF: `bits` (P, RSVD) plus the bits describing the access. */
  private fault(bits: number, mode: PagingMode, access: number, ctl: number): false {
    this.errorCode = bits | accessErrorCode(mode, access, ctl);
    return false;
  }
}
