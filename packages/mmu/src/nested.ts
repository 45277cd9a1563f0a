/**
 * Second-level address translation (Intel EPT, AMD NPT) and the two-dimensional walk.
 *
 * {@link SecondLevelWalker} translates a guest-physical address into a host-physical address
 * through tables in host memory, in either format ({@link SecondLevelFormat}); which format is
 * in force is data set by {@link SecondLevelWalker.setEpt} or {@link SecondLevelWalker.setNpt},
 * so VT-x and SVM use the same object and the same call. {@link NestedPageWalker} composes it
 * with the guest {@link PageWalker}: every guest paging-structure read and accessed/dirty write
 * goes through the second level, then the final guest-physical address is translated.
 *
 * Hot path: no BigInt, no allocation, no closures; physical addresses are plain numbers below
 * 2^52, 64-bit entries are read as two 32-bit halves; results go into preallocated fields.
 * Faults are reported by a status code ({@link NestedStatus}), never by throwing: the adapter
 * that feeds the guest walker records a second-level fault, then answers every further read with
 * 0 (a not-present entry, so the guest walker stops at once) and drops every further write (so
 * a failed accessed/dirty write-back stops the write-backs there, as the VM exit would). The
 * guest walker allows a throw instead ("May throw to abort the walk"), but a throw on every EPT
 * violation would cost a V8 exception object and a deoptimisation-prone try/catch; the status
 * path leaves the guest walker's result unused and reports the second-level fault.
 */
import { PageFaultErrorCode } from './linear.js';
import {
  accessErrorCode,
  PageAccess,
  type PageTableMemory,
  PageWalker,
  type PageWalkerOptions,
  PagingMode,
  WalkControl,
} from './paging.js';

/** The second-level table formats. */
export const SecondLevelFormat = {
  /** Intel EPT (SDM Vol. 3 §29.3 "The Extended Page Table Mechanism (EPT)"; §28.3 in older SDMs). */
  Ept: 0,
  /** AMD nested paging (APM Vol. 2 §15.25 "Nested Paging"): the host's long-mode format. */
  Npt: 1,
} as const;
export type SecondLevelFormat = (typeof SecondLevelFormat)[keyof typeof SecondLevelFormat];

/**
 * The `access` argument of {@link SecondLevelWalker.translate}. The bit positions of W, U and
 * I/D are those of the #PF error code, so that NPT reports them unchanged in EXITINFO1.
 */
export const NestedAccess = {
  /** A data read (also every guest paging-structure read). */
  Read: 0,
  /** A data write (with {@link PagingStructure}: an accessed/dirty write-back to a guest entry). */
  Write: PageFaultErrorCode.Write,
  /**
   * The guest-linear address is a user-mode address (U/S = 1 in every guest paging-structure
   * entry). Only EPT's mode-based execute control reads it; NPT treats every access as user.
   */
  User: PageFaultErrorCode.User,
  /** An instruction fetch. */
  Fetch: PageFaultErrorCode.InstructionFetch,
  /** An access to a guest paging-structure entry, made by the guest page walk. */
  PagingStructure: 1 << 8,
  /**
   * No guest-linear address goes with the access: the PDPTE loads of MOV to CR3 with PAE paging
   * (EPT exit qualification bit 7 clear, SDM Vol. 3 Table 28-7).
   */
  NoLinear: 1 << 9,
  /** Final translation: guest paging maps the linear address read/write (exit qualification bit 10). */
  LinearWritable: 1 << 10,
  /** Final translation: guest paging maps the linear address execute-disabled (bit 11). */
  LinearExecuteDisable: 1 << 11,
} as const;

/** Outcomes of a translation ({@link SecondLevelWalker.translate}, {@link NestedPageWalker.walk}). */
export const NestedStatus = {
  Ok: 0,
  /** An EPT violation (SDM Vol. 3 §29.3.3.2) or a #VMEXIT(NPF) (APM Vol. 2 §15.25.6). */
  Violation: 1,
  /** An EPT misconfiguration (SDM Vol. 3 §29.3.3.1). Never with NPT. */
  Misconfig: 2,
  /** Two-dimensional walk only: a guest #PF; the guest walker's `errorCode` holds its error code. */
  PageFault: 3,
  /** PDPTE load only: a present PDPTE sets a reserved bit (#GP(0), SDM Vol. 3 §4.4.1). */
  InvalidPdpte: 4,
} as const;
export type NestedStatus = (typeof NestedStatus)[keyof typeof NestedStatus];

/** Bits of the exit qualification for EPT violations (SDM Vol. 3 §28.3.3.2 / Table 28-7). */
export const EptViolation = {
  /** Bit 0: the access was a data read (guest paging-structure reads included). */
  Read: 1 << 0,
  /** Bit 1: the access was a data write. */
  Write: 1 << 1,
  /** Bit 2: the access was an instruction fetch. */
  Fetch: 1 << 2,
  /** Bit 3: AND of bit 0 (read) over the EPT entries used: the address was readable. */
  Readable: 1 << 3,
  /** Bit 4: AND of bit 1 (write) over the EPT entries used. */
  Writable: 1 << 4,
  /** Bit 5: AND of bit 2 (execute; supervisor-mode execute with mode-based execute control). */
  Executable: 1 << 5,
  /** Bit 6: AND of bit 10 (user-mode execute) with mode-based execute control; else 0 here. */
  UserExecutable: 1 << 6,
  /** Bit 7: the guest-linear address field is valid. */
  LinearValid: 1 << 7,
  /**
   * Bit 8 (meaningful when bit 7 is set): 1 if the access was to the translation of a linear
   * address (the final translation), 0 if it was to a guest paging-structure entry.
   */
  FinalTranslation: 1 << 8,
  /**
   * Bit 9, with advanced VM-exit information and bits 7 and 8 set: the linear address is a
   * user-mode address (always 1 with CR0.PG = 0).
   */
  UserLinear: 1 << 9,
  /** Bit 10, likewise: guest paging maps the linear address read/write (1 with CR0.PG = 0). */
  WritableLinear: 1 << 10,
  /** Bit 11, likewise: guest paging maps the linear address execute-disabled (0 with CR0.PG = 0). */
  ExecuteDisabledLinear: 1 << 11,
} as const;

/** Bits of EXITINFO1's high half for #VMEXIT(NPF) (APM Vol. 2 §15.25.6). */
export const NpfInfoHi = {
  /** EXITINFO1 bit 32: the fault happened on the final guest-physical translation. */
  FinalTranslation: 1 << 0,
  /** EXITINFO1 bit 33: the fault happened while translating a guest page-table access. */
  PageTableWalk: 1 << 1,
} as const;

/** EPTP fields (SDM Vol. 3 §25.6.11 "Extended-Page-Table Pointer (EPTP)", Table 25-9). */
export const Eptp = {
  /** Bits 2:0: the memory type of accesses to the EPT paging structures (0 UC or 6 WB). */
  MemoryTypeMask: 0x7,
  /** Bits 5:3: the page-walk length minus 1 (3: 4 levels, 4: 5 levels). */
  WalkLengthShift: 3,
  /** Bit 6: enable accessed and dirty flags for EPT (§29.3.5). */
  AccessedDirty: 1 << 6,
} as const;

/** The EPT memory types (SDM Vol. 3 §29.3.7, Table 11-2). Types 2, 3 and 7 are reserved. */
export const EptMemoryType = {
  Uncacheable: 0,
  WriteCombining: 1,
  WriteThrough: 4,
  WriteProtected: 5,
  WriteBack: 6,
} as const;

/** Options of {@link SecondLevelWalker}: the processor's capabilities. */
export interface SecondLevelWalkerOptions {
  /** MAXPHYADDR of the host, 32 to 52; 48 by default. Entry address bits at or above it are reserved. */
  maxPhyAddr?: number;
  /**
   * EPT: execute-only translations are supported (IA32_VMX_EPT_VPID_CAP bit 0). True by
   * default; when false, a present entry with bits 1:0 = 00 is a misconfiguration.
   */
  executeOnly?: boolean;
  /**
   * 1 GiB pages in the second level (EPT: IA32_VMX_EPT_VPID_CAP bit 17; NPT: host
   * CPUID.80000001H:EDX[26]). True by default; when false, bit 7 of a PDPTE is reserved.
   */
  gbPages?: boolean;
  /**
   * EPT: advanced VM-exit information for EPT violations (IA32_VMX_EPT_VPID_CAP bit 22): exit
   * qualification bits 9-11 describe the guest translation of the final access. True by
   * default; when false they are 0.
   */
  advancedExitInfo?: boolean;
}

const TWO_32 = 4294967296;
const EPT_R = 1 << 0;
const EPT_W = 1 << 1;
const EPT_X = 1 << 2;
const EPT_PS = 1 << 7;
const EPT_A = 1 << 8;
const EPT_D = 1 << 9;
const EPT_XU = 1 << 10;
const EPT_IPAT = 1 << 6;
/** Bits 7:3 of a PML5E, a PML4E or a non-leaf PDPTE/PDE (SDM Vol. 3 §29.3.2, Tables 29-1..29-5). */
const EPT_RSVD_NONLEAF = 0xf8;
/** Bits 29:12 of an EPT PDPTE that maps a 1 GiB page (Table 29-2). */
const EPT_RSVD_1G = 0x3fff_f000;
/** Bits 20:12 of an EPT PDE that maps a 2 MiB page (Table 29-4). */
const EPT_RSVD_2M = 0x001f_f000;
/** Memory types 2, 3 and 7 are reserved (§29.3.3.1): a bitmap indexed by type. */
const RESERVED_MEMORY_TYPES = (1 << 2) | (1 << 3) | (1 << 7);

/** A {@link PageTableMemory} that counts the entries read through it (8-byte ones by their low halves). */
class CountingMemory implements PageTableMemory {
  reads = 0;
  /** 8-byte entries (false for a legacy 32-bit host's 4-byte nested entries). */
  wide = true;
  constructor(readonly inner: PageTableMemory) {}
  read32(pa: number): number {
    if (!this.wide || (pa & 4) === 0) this.reads++;
    return this.inner.read32(pa);
  }
  write32(pa: number, value: number): void {
    this.inner.write32(pa, value);
  }
}

/**
 * The second-level walker: guest-physical -> host-physical translation in EPT or NPT format,
 * reading the tables from host-physical memory. One per virtual CPU; the fields are valid until
 * the next call.
 */
export class SecondLevelWalker {
  /** Host-physical memory holding the second-level tables. */
  readonly memory: PageTableMemory;
  readonly maxPhyAddr: number;
  readonly executeOnly: boolean;
  readonly gbPages: boolean;
  readonly advancedExitInfo: boolean;

  /** The format set by {@link setEpt} or {@link setNpt}. */
  format: SecondLevelFormat = SecondLevelFormat.Ept;
  /** EPT: the number of levels (4 or 5); NPT: 4 or 5 from the host's CR4.LA57. */
  levels = 4;
  /** EPT: EPTP bit 6, accessed and dirty flags enabled. NPT: always true (APM §15.25.5). */
  accessedDirty = false;
  /** EPT: the "mode-based execute control for EPT" VM-execution control. */
  mbec = false;
  /** EPT: the memory type of paging-structure accesses (EPTP bits 2:0). */
  walkMemoryType = 0;
  /** The host-physical address of the top table (EPTP bits 51:12, or nCR3). */
  root = 0;

  /** Success: the host-physical address of the accessed byte. */
  hostAddr = 0;
  /** Success: the host-physical address of the page. */
  pageBase = 0;
  /** Success: the page size in bytes (4 KiB, 2 MiB or 1 GiB). */
  pageSize = 0x1000;
  /** Success: the combined read permission (always true with NPT). */
  readable = false;
  /** Success: the combined write permission. */
  writable = false;
  /** Success: the combined (supervisor-mode, with MBEC) execute permission. */
  executable = false;
  /** Success: the combined user-mode execute permission (EPT bit 10 with MBEC; else = `executable`). */
  userExecutable = false;
  /** Success, EPT: the leaf's EPT memory type (bits 5:3). NPT: -1 (not modelled). */
  memType = 0;
  /** Success, EPT: the leaf's ignore-PAT bit (bit 6). */
  ignorePat = false;
  /** Success: the leaf's dirty flag after the access (always true without A/D flags). */
  dirty = false;
  /** The second-level entries read by the last call. */
  references = 0;

  /** Failure: the guest-physical address that failed (EXITINFO2 for NPT), and its halves. */
  faultGpa = 0;
  faultGpaLo = 0;
  faultGpaHi = 0;
  /**
   * Failure: EPT: the exit qualification ({@link EptViolation} bits; 0 for a misconfiguration,
   * whose exit qualification is undefined). NPT: EXITINFO1 bits 31:0, the #PF error code.
   */
  infoLo = 0;
  /** Failure: NPT: EXITINFO1 bits 63:32 ({@link NpfInfoHi}). EPT: 0. */
  infoHi = 0;

  private readonly hiAddr: number;
  private readonly entryAddr = new Float64Array(5);
  private readonly entryLo = new Int32Array(5);
  /** NPT: the host-format walker and the counter under it. */
  private readonly counting: CountingMemory;
  private readonly nptWalker: PageWalker;
  private nptMode: PagingMode = PagingMode.Level4;
  private nptCtl = 0;
  private nptCr3Lo = 0;
  private nptCr3Hi = 0;

  constructor(memory: PageTableMemory, options: SecondLevelWalkerOptions = {}) {
    const maxPhyAddr = options.maxPhyAddr ?? 48;
    if (!Number.isInteger(maxPhyAddr) || maxPhyAddr < 32 || maxPhyAddr > 52) {
      throw new RangeError(`SecondLevelWalker: maxPhyAddr must be an integer from 32 to 52, got ${maxPhyAddr}`);
    }
    this.memory = memory;
    this.maxPhyAddr = maxPhyAddr;
    this.executeOnly = options.executeOnly ?? true;
    this.gbPages = options.gbPages ?? true;
    this.advancedExitInfo = options.advancedExitInfo ?? true;
    this.hiAddr = maxPhyAddr >= 52 ? 0xfffff : (1 << (maxPhyAddr - 32)) - 1;
    this.counting = new CountingMemory(memory);
    this.nptWalker = new PageWalker(this.counting, { maxPhyAddr, gbPages: this.gbPages, amd: true });
  }

  /**
   * Selects EPT with the EPTP `eptpHi:eptpLo` (SDM Vol. 3 §25.6.11): memory type bits 2:0,
   * page-walk length bits 5:3 (3 for 4 levels, 4 for 5 levels), A/D enable bit 6, the PML4 or
   * PML5 table at bits (MAXPHYADDR-1):12. `mbec` is the "mode-based execute control for EPT"
   * VM-execution control. Returns false, changing nothing, if the EPTP fails the VM-entry checks
   * of SDM Vol. 3 §27.2.1.1 that concern the walk (memory type 0 or 6, walk length 3 or 4,
   * bits 11:7 and the address bits above MAXPHYADDR clear).
   */
  setEpt(eptpLo: number, eptpHi: number, mbec = false): boolean {
    const type = eptpLo & Eptp.MemoryTypeMask;
    const length = (eptpLo >>> Eptp.WalkLengthShift) & 7;
    if ((type !== 0 && type !== 6) || (length !== 3 && length !== 4)) return false;
    if ((eptpLo & 0xf80) !== 0 || (eptpHi & ~this.hiAddr) !== 0) return false;
    this.format = SecondLevelFormat.Ept;
    this.levels = length + 1;
    this.accessedDirty = (eptpLo & Eptp.AccessedDirty) !== 0;
    this.mbec = mbec;
    this.walkMemoryType = type;
    this.root = (eptpHi & this.hiAddr) * TWO_32 + ((eptpLo & ~0xfff) >>> 0);
    return true;
  }

  /**
   * Selects NPT with nCR3 `ncr3Hi:ncr3Lo` (APM Vol. 2 §15.25.3 "Enabling Nested Paging": "the
   * extra translation uses the same paging mode as the VMM used when it executed the most recent
   * VMRUN"; §15.25.5 "Nested Table Walk"). In long mode (`hostMode`
   * {@link PagingMode.Level4}, the default) the 4-level format, or 5-level with the host's
   * CR4.LA57 = `la57`; the host's EFER.NXE (`nxe`) decides whether bit 63 is NX or reserved. A
   * legacy-mode host gives {@link PagingMode.Pae} (nCR3 bits 31:5 locate the 4-entry PDPT, whose
   * entries are read at each walk, never cached in registers) or {@link PagingMode.Legacy32}
   * (4-byte entries, 4 MiB pages when the host's CR4.PSE = `pse`); those translate guest-physical
   * addresses below 4 GiB only, and a higher one faults as not present. Accessed and dirty flags
   * are always set in the nested tables.
   */
  setNpt(ncr3Lo: number, ncr3Hi: number, nxe: boolean, la57 = false, hostMode: PagingMode = PagingMode.Level4, pse = false): void {
    const legacy = hostMode === PagingMode.Legacy32 || hostMode === PagingMode.Pae;
    this.format = SecondLevelFormat.Npt;
    this.levels = legacy ? (hostMode === PagingMode.Pae ? 3 : 2) : la57 ? 5 : 4;
    this.accessedDirty = true;
    this.mbec = false;
    this.nptMode = legacy ? hostMode : la57 ? PagingMode.Level5 : PagingMode.Level4;
    this.nptCtl = (nxe && hostMode !== PagingMode.Legacy32 ? WalkControl.Nxe : 0) | (pse ? WalkControl.Pse : 0);
    this.nptCr3Lo = ncr3Lo;
    this.nptCr3Hi = legacy ? 0 : ncr3Hi;
    this.counting.wide = hostMode !== PagingMode.Legacy32;
    this.root =
      hostMode === PagingMode.Pae
        ? (ncr3Lo & ~0x1f) >>> 0
        : hostMode === PagingMode.Legacy32
          ? (ncr3Lo & ~0xfff) >>> 0
          : (ncr3Hi & this.hiAddr) * TWO_32 + ((ncr3Lo & ~0xfff) >>> 0);
  }

  /**
   * Translates the guest-physical address `gpa` (an integer below 2^52) for `access` (a
   * {@link NestedAccess} bitfield). Returns {@link NestedStatus.Ok} with the success fields
   * filled, or `Violation` / `Misconfig` with `faultGpa`, `infoLo` and `infoHi` filled.
   */
  translate(gpa: number, access: number): NestedStatus {
    return this.format === SecondLevelFormat.Ept ? this.translateEpt(gpa, access) : this.translateNpt(gpa, access);
  }

  /**
   * The EPT walk (SDM Vol. 3 §29.3.2 "EPT Translation Mechanism"): 512-entry tables of 8-byte
   * entries indexed by guest-physical bits 56:48 (5 levels), 47:39, 38:30, 29:21 and 20:12.
   * At each entry, in order:
   * - not present (bits 2:0 = 000, and bit 10 = 0 with mode-based execute control): EPT
   *   violation (§29.3.3.2);
   * - present but misconfigured (§29.3.3.1): bit 1 set with bit 0 clear; bits 1:0 = 00 without
   *   execute-only support; a reserved bit (bits 51:MAXPHYADDR; bits 7:3 of a PML5E, PML4E or a
   *   non-leaf PDPTE/PDE; bits 29:12 of a 1 GiB leaf; bits 20:12 of a 2 MiB leaf; bit 7 of a
   *   PDPTE without 1 GiB pages); memory type 2, 3 or 7 in a leaf: EPT misconfiguration.
   * After the leaf, the access must be allowed by the AND of each permission over the entries
   * used (§29.3.3.2): reads (guest paging-structure reads included) need bit 0, writes bit 1,
   * fetches bit 2, or with mode-based execute control bit 2 for supervisor-mode and bit 10 for
   * user-mode linear addresses. With EPT A/D enabled, guest paging-structure accesses count as
   * writes (§29.3.5 "Accessed and Dirty Flags for EPT"), except the loads of the PAE PDPTEs by
   * MOV to CR (`NoLinear`), which are reads and set no dirty flag.
   *
   * On success with A/D enabled, the accessed flag (bit 8) is set in every entry used and the
   * dirty flag (bit 9) in the leaf for a write or a guest paging-structure access (§29.3.5),
   * each written back only if it was clear. A failing translation writes nothing.
   *
   * With a 4-level EPTP the walk indexes guest-physical bits 47:12 only; bits 51:48 are not
   * looked at (callers keep guest-physical addresses below MAXPHYADDR).
   */
  private translateEpt(gpa: number, access: number): NestedStatus {
    const memory = this.memory;
    const hiAddr = this.hiAddr;
    const rsvdHi = 0xfffff & ~hiAddr;
    const mbec = this.mbec;
    const presentMask = mbec ? EPT_R | EPT_W | EPT_X | EPT_XU : EPT_R | EPT_W | EPT_X;
    const gpaHi = Math.floor(gpa / TWO_32);
    const gpaLo = gpa >>> 0;
    let table = this.root;
    let level = this.levels;
    let andLo = -1;
    let refs = 0;
    let lo: number;
    let pageBase: number;
    let pageSize = 0x1000;
    for (;;) {
      let index: number;
      switch (level) {
        case 5:
          index = (gpaHi >>> 16) & 0x1ff;
          break;
        case 4:
          index = (gpaHi >>> 7) & 0x1ff;
          break;
        case 3:
          index = ((gpaHi & 0x7f) << 2) | (gpaLo >>> 30);
          break;
        case 2:
          index = (gpaLo >>> 21) & 0x1ff;
          break;
        default:
          index = (gpaLo >>> 12) & 0x1ff;
      }
      const addr = table + index * 8;
      lo = memory.read32(addr) | 0;
      refs++;
      if ((lo & presentMask) === 0) {
        this.references = refs;
        return this.eptViolation(gpa, access, 0);
      }
      const hi = memory.read32(addr + 4) | 0;
      const leaf = level === 1 || ((lo & EPT_PS) !== 0 && level <= 3);
      let rsvdLo: number;
      if (level >= 4) rsvdLo = EPT_RSVD_NONLEAF;
      else if (level === 1) rsvdLo = 0;
      else if (!leaf) rsvdLo = EPT_RSVD_NONLEAF;
      else if (level === 2) rsvdLo = EPT_RSVD_2M;
      else rsvdLo = this.gbPages ? EPT_RSVD_1G : EPT_PS;
      if (
        (lo & (EPT_R | EPT_W)) === EPT_W ||
        (!this.executeOnly && (lo & (EPT_R | EPT_W)) === 0) ||
        (lo & rsvdLo) !== 0 ||
        (hi & rsvdHi) !== 0 ||
        (leaf && ((RESERVED_MEMORY_TYPES >>> ((lo >>> 3) & 7)) & 1) !== 0)
      ) {
        this.references = refs;
        return this.eptMisconfig(gpa);
      }
      this.entryAddr[refs - 1] = addr;
      this.entryLo[refs - 1] = lo;
      andLo &= lo;
      if (leaf) {
        if (level === 1) {
          pageBase = (hi & hiAddr) * TWO_32 + ((lo & ~0xfff) >>> 0);
        } else if (level === 2) {
          pageBase = (hi & hiAddr) * TWO_32 + ((lo & ~0x1f_ffff) >>> 0);
          pageSize = 0x20_0000;
        } else {
          pageBase = (hi & hiAddr) * TWO_32 + ((lo & ~0x3fff_ffff) >>> 0);
          pageSize = 0x4000_0000;
        }
        break;
      }
      table = (hi & hiAddr) * TWO_32 + ((lo & ~0xfff) >>> 0);
      level--;
    }
    this.references = refs;

    const pagingStructure = (access & NestedAccess.PagingStructure) !== 0;
    const ad = this.accessedDirty;
    // Guest paging-structure accesses count as writes with EPT A/D, except the PDPTE loads of
    // MOV to CR with PAE paging, which are reads (§29.3.5).
    const walkAsWrite = pagingStructure && ad && (access & NestedAccess.NoLinear) === 0;
    const isWrite = (access & NestedAccess.Write) !== 0 || walkAsWrite;
    const isFetch = (access & NestedAccess.Fetch) !== 0 && !pagingStructure;
    let allowed: boolean;
    if (isFetch) {
      allowed = (andLo & (mbec && (access & NestedAccess.User) !== 0 ? EPT_XU : EPT_X)) !== 0;
    } else if (isWrite) {
      allowed = (andLo & EPT_W) !== 0;
    } else {
      allowed = (andLo & EPT_R) !== 0;
    }
    if (!allowed) return this.eptViolation(gpa, access, andLo);

    if (ad) {
      const last = refs - 1;
      for (let i = 0; i < refs; i++) {
        const old = this.entryLo[i];
        const updated = i === last && isWrite ? old | EPT_A | EPT_D : old | EPT_A;
        if (updated !== old) memory.write32(this.entryAddr[i], updated);
        if (i === last) lo = updated;
      }
    }
    this.pageBase = pageBase;
    this.pageSize = pageSize;
    this.hostAddr = pageBase + (gpa % pageSize);
    this.readable = (andLo & EPT_R) !== 0;
    this.writable = (andLo & EPT_W) !== 0;
    this.executable = (andLo & EPT_X) !== 0;
    this.userExecutable = (andLo & (mbec ? EPT_XU : EPT_X)) !== 0;
    this.memType = (lo >>> 3) & 7;
    this.ignorePat = (lo & EPT_IPAT) !== 0;
    this.dirty = !ad || (lo & EPT_D) !== 0;
    return NestedStatus.Ok;
  }

  /**
   * Records an EPT violation and its exit qualification (SDM Vol. 3 §28.3.3.2 / Table 28-7):
   * bits 2:0 the access (a guest paging-structure access is a read, and also a write with EPT
   * A/D enabled unless it is a PDPTE load; an accessed/dirty write-back to a guest entry, a
   * read-modify-write, sets both bits 0 and 1); bits 6:3 the permissions ANDed over the entries used (`andLo`, 0 when an
   * entry was not present); bit 7 unless `NoLinear`; bit 8 for the final translation; with
   * advanced VM-exit information, bits 9-11 for the final translation from `User`,
   * `LinearWritable` and `LinearExecuteDisable`. Bits 12 and up (NMI unblocking, shadow
   * stacks, asynchronous accesses) are the caller's and are left 0.
   */
  private eptViolation(gpa: number, access: number, andLo: number): NestedStatus {
    const pagingStructure = (access & NestedAccess.PagingStructure) !== 0;
    let q: number;
    if (pagingStructure) {
      q = EptViolation.Read;
      if ((this.accessedDirty && (access & NestedAccess.NoLinear) === 0) || (access & NestedAccess.Write) !== 0) {
        q |= EptViolation.Write;
      }
    } else if ((access & NestedAccess.Fetch) !== 0) {
      q = EptViolation.Fetch;
    } else if ((access & NestedAccess.Write) !== 0) {
      q = EptViolation.Write;
    } else {
      q = EptViolation.Read;
    }
    q |= (andLo & (EPT_R | EPT_W | EPT_X)) << 3;
    if (this.mbec && (andLo & EPT_XU) !== 0) q |= EptViolation.UserExecutable;
    if ((access & NestedAccess.NoLinear) === 0) {
      q |= EptViolation.LinearValid;
      if (!pagingStructure) {
        q |= EptViolation.FinalTranslation;
        if (this.advancedExitInfo) {
          // LinearWritable and LinearExecuteDisable sit at the positions of bits 10 and 11.
          if ((access & NestedAccess.User) !== 0) q |= EptViolation.UserLinear;
          q |= access & (NestedAccess.LinearWritable | NestedAccess.LinearExecuteDisable);
        }
      }
    }
    this.infoLo = q;
    this.infoHi = 0;
    this.setFaultGpa(gpa);
    return NestedStatus.Violation;
  }

  /** Records an EPT misconfiguration (the exit qualification is undefined: 0 here). */
  private eptMisconfig(gpa: number): NestedStatus {
    this.infoLo = 0;
    this.infoHi = 0;
    this.setFaultGpa(gpa);
    return NestedStatus.Misconfig;
  }

  /**
   * The NPT walk (APM Vol. 2 §15.25.5 "Nested Table Walk"): the host's long-mode page tables
   * from nCR3, walked by the same {@link PageWalker} as guest tables, with every access a
   * user-mode access (§15.25.5: nested accesses are user accesses, so U/S = 1 is needed at
   * every level and R/W always applies) and the host's EFER.NXE. Guest page-table accesses are
   * treated as user writes by the nested walk (§15.25.5), so the nested leaf that maps a guest
   * page table needs R/W = 1 and gets its dirty flag set. Accessed and dirty flags in the nested
   * tables follow the legacy rules (APM §5.4.1).
   *
   * A fault is a #VMEXIT(NPF) (§15.25.6): EXITINFO1 bits 31:0 the #PF error code (P, R/W,
   * U/S = 1, RSVD, I/D), bit 32 for the final guest-physical translation, bit 33 for a guest
   * page-table access; EXITINFO2 the guest-physical address.
   */
  private translateNpt(gpa: number, access: number): NestedStatus {
    const pagingStructure = (access & NestedAccess.PagingStructure) !== 0;
    const acc =
      PageAccess.User |
      (pagingStructure || (access & NestedAccess.Write) !== 0 ? PageAccess.Write : 0) |
      (!pagingStructure && (access & NestedAccess.Fetch) !== 0 ? PageAccess.Fetch : 0);
    const counting = this.counting;
    counting.reads = 0;
    const walker = this.nptWalker;
    const mode = this.nptMode;
    if (mode === PagingMode.Legacy32 || mode === PagingMode.Pae) {
      // A legacy-mode host's nested tables translate 32-bit addresses only.
      if (gpa >= TWO_32) return this.nptLegacyFault(gpa, pagingStructure, acc, 0);
      if (mode === PagingMode.Pae) {
        // The PDPTE is read from the PDPT at nCR3 bits 31:5 at each walk; a present PDPTE with a
        // reserved bit set is a reserved-bit fault.
        const i = gpa >>> 30;
        const a = this.root + i * 8;
        const lo = counting.read32(a) | 0;
        const hi = counting.read32(a + 4) | 0;
        if (!walker.isPdpteValid(lo, hi)) {
          this.references = counting.reads;
          return this.nptLegacyFault(gpa, pagingStructure, acc, PageFaultErrorCode.Present | PageFaultErrorCode.ReservedBit);
        }
        walker.setPdpte(i, lo, hi);
      }
    }
    const ok = walker.walk(mode, this.nptCr3Lo, this.nptCr3Hi, gpa >>> 0, Math.floor(gpa / TWO_32), acc, this.nptCtl);
    this.references = counting.reads;
    if (!ok) {
      // §15.25.6: ID is set for a code read whatever the host's EFER.NXE (the #PF rule that
      // needs NXE does not apply to EXITINFO1).
      this.infoLo = walker.errorCode | ((acc & PageAccess.Fetch) !== 0 ? PageFaultErrorCode.InstructionFetch : 0);
      this.infoHi = pagingStructure ? NpfInfoHi.PageTableWalk : NpfInfoHi.FinalTranslation;
      this.setFaultGpa(gpa);
      return NestedStatus.Violation;
    }
    this.hostAddr = walker.physAddr;
    this.pageBase = walker.pageBase;
    this.pageSize = walker.pageSize;
    this.readable = true;
    this.writable = walker.writable;
    this.executable = walker.executable;
    this.userExecutable = walker.executable;
    this.memType = -1;
    this.ignorePat = false;
    this.dirty = walker.dirty;
    return NestedStatus.Ok;
  }

  /** A #VMEXIT(NPF) found before the legacy-format walk: `bits` (P, RSVD) plus the access's W, U/S and I/D. */
  private nptLegacyFault(gpa: number, pagingStructure: boolean, acc: number, bits: number): NestedStatus {
    this.infoLo = bits | accessErrorCode(this.nptMode, acc, this.nptCtl) | ((acc & PageAccess.Fetch) !== 0 ? PageFaultErrorCode.InstructionFetch : 0);
    this.infoHi = pagingStructure ? NpfInfoHi.PageTableWalk : NpfInfoHi.FinalTranslation;
    this.setFaultGpa(gpa);
    return NestedStatus.Violation;
  }

  private setFaultGpa(gpa: number): void {
    this.faultGpa = gpa;
    this.faultGpaLo = gpa >>> 0;
    this.faultGpaHi = Math.floor(gpa / TWO_32);
  }
}

/**
 * Guest-physical memory as the guest walker sees it: each read or write of a guest
 * paging-structure entry is first translated through the second level as a guest
 * paging-structure access. The second half of an 8-byte entry reuses the translation of the
 * first (one entry, one reference). After a second-level fault, reads return 0 and writes are
 * dropped until {@link reset}.
 */
export class GuestPhysicalMemory implements PageTableMemory {
  /** The second-level status of the first failure since {@link reset} (0 if none). */
  failed: NestedStatus = NestedStatus.Ok;
  /** Guest entries read since {@link reset}. */
  guestReferences = 0;
  /** Second-level entries read since {@link reset}. */
  secondReferences = 0;
  /** 8-byte guest entries (PAE, 4-level, 5-level): the high half follows the low half. */
  wide = true;
  /** Extra {@link NestedAccess} bits for the walk's accesses (`NoLinear` for PDPTE loads). */
  extra = 0;
  private lastGpa = -1;
  private lastHpa = 0;

  constructor(
    readonly host: PageTableMemory,
    readonly second: SecondLevelWalker,
  ) {}

  reset(wide: boolean, extra: number): void {
    this.failed = NestedStatus.Ok;
    this.guestReferences = 0;
    this.secondReferences = 0;
    this.wide = wide;
    this.extra = extra;
    this.lastGpa = -1;
  }

  read32(gpa: number): number {
    if (this.failed !== NestedStatus.Ok) return 0;
    if (this.wide && (gpa & 4) !== 0 && gpa - 4 === this.lastGpa) return this.host.read32(this.lastHpa + 4);
    const second = this.second;
    const status = second.translate(gpa, NestedAccess.PagingStructure | this.extra);
    this.secondReferences += second.references;
    if (status !== NestedStatus.Ok) {
      this.failed = status;
      return 0;
    }
    this.guestReferences++;
    this.lastGpa = gpa;
    this.lastHpa = second.hostAddr;
    return this.host.read32(second.hostAddr);
  }

  write32(gpa: number, value: number): void {
    if (this.failed !== NestedStatus.Ok) return;
    const second = this.second;
    const status = second.translate(gpa, NestedAccess.PagingStructure | NestedAccess.Write | this.extra);
    this.secondReferences += second.references;
    if (status !== NestedStatus.Ok) {
      this.failed = status;
      return;
    }
    this.host.write32(second.hostAddr, value);
  }
}

/**
 * The two-dimensional walk (SDM Vol. 3 §29.3.2 "Guest-Physical Address Translation" with
 * §29.3.3; APM Vol. 2 §15.25.5): the guest {@link PageWalker} over a
 * {@link GuestPhysicalMemory}, then the final guest-physical address through the second level.
 * Works for every guest paging mode: none (CR0.PG = 0, linear = guest-physical), 32-bit, PAE
 * (PDPTEs loaded through the second level by {@link loadPdptes}), 4-level and 5-level. SVM's
 * paged real mode (CR0.PG = 1 with CR0.PE = 0, APM Vol. 2 §15.19) needs nothing more: the mode
 * follows from CR0.PG, CR4.PAE and EFER alone (`pagingModeOf` in paging.ts ignores PE).
 */
export class NestedPageWalker {
  readonly second: SecondLevelWalker;
  readonly guestMemory: GuestPhysicalMemory;
  /** The guest walker; on {@link NestedStatus.PageFault} its `errorCode` is the #PF error code. */
  readonly guest: PageWalker;

  /** Success: the host-physical address of the accessed byte. */
  hostAddr = 0;
  /** Success: the same as `hostAddr`, under the name the TLB's `TranslationResult` reads. */
  physAddr = 0;
  /** Success: the guest-physical address of the accessed byte. */
  guestPhysAddr = 0;
  /** Success: the size of the combined mapping, the smaller of the guest and second-level pages. */
  pageSize = 0x1000;
  /**
   * Success: the rights of the combined mapping, for a TLB entry: `user` and `global` are the
   * guest's; `writable` needs both levels; `executable` needs the guest's and the second
   * level's (with mode-based execute control, EPT bit 10 for a user-mode page, bit 2 for a
   * supervisor-mode one); `readable` is the second level's (false for an EPT execute-only page:
   * a TLB must not let data reads hit such an entry); `dirty` needs the dirty flags of both
   * leaves (a write through an entry cached with `dirty` false must walk again).
   */
  user = false;
  writable = false;
  readable = false;
  executable = false;
  global = false;
  dirty = false;
  /** Guest paging-structure entries read by the last walk. */
  guestReferences = 0;
  /** Second-level entries read by the last walk (guest-entry and A/D translations and the final one). */
  secondReferences = 0;
  /** All entries read by the last walk: at most 24 for 4-level guest paging over 4-level EPT/NPT. */
  references = 0;

  constructor(host: PageTableMemory, second: SecondLevelWalker, guestOptions: PageWalkerOptions = {}) {
    this.second = second;
    this.guestMemory = new GuestPhysicalMemory(host, second);
    this.guest = new PageWalker(this.guestMemory, guestOptions);
  }

  /**
   * Loads the guest's PAE PDPTE registers from the PDPT at guest-physical CR3 bits 31:5, each
   * read translated through the second level without a guest-linear address (EPT exit
   * qualification bit 7 clear). Returns Ok, a second-level fault (fields of {@link second}),
   * or `InvalidPdpte` (#GP(0)); on failure the registers are unchanged.
   */
  loadPdptes(cr3Lo: number): NestedStatus {
    const gm = this.guestMemory;
    gm.reset(true, NestedAccess.NoLinear);
    const valid = this.guest.loadPdptes(cr3Lo, gm);
    this.count();
    if (gm.failed !== NestedStatus.Ok) return gm.failed;
    return valid ? NestedStatus.Ok : NestedStatus.InvalidPdpte;
  }

  /**
   * Translates the linear address `linHi:linLo` as {@link PageWalker.walk} does (same
   * arguments), then the resulting guest-physical address for the data access. Returns:
   * - `Violation` / `Misconfig` on a second-level fault during the guest walk (a guest
   *   paging-structure access) or on the final translation: see {@link second}'s fault fields;
   * - `PageFault` on a guest #PF (`guest.errorCode`);
   * - `Ok` with `hostAddr`, `guestPhysAddr`, `pageSize` and the guest walker's fields.
   * For mode-based execute control and exit-qualification bits 9-11, the final access carries
   * the guest translation's rights: a user-mode linear address when the guest page is a user
   * page, read/write, execute-disabled. With guest paging off every linear address is a
   * user-mode, read/write, executable one (SDM Vol. 3 Table 28-7, notes to bits 9-11), which is
   * what the guest walker reports for it.
   */
  walk(mode: PagingMode, cr3Lo: number, cr3Hi: number, linLo: number, linHi: number, access: number, ctl: number): NestedStatus {
    const gm = this.guestMemory;
    gm.reset(mode !== PagingMode.Legacy32, 0);
    const guest = this.guest;
    const ok = guest.walk(mode, cr3Lo, cr3Hi, linLo, linHi, access, ctl);
    if (gm.failed !== NestedStatus.Ok) {
      this.count();
      return gm.failed;
    }
    if (!ok) {
      this.count();
      return NestedStatus.PageFault;
    }
    const gpa = guest.physAddr;
    const second = this.second;
    const finalAccess =
      (access & (PageAccess.Write | PageAccess.Fetch)) |
      (guest.user ? NestedAccess.User : 0) |
      (guest.writable ? NestedAccess.LinearWritable : 0) |
      (guest.executable ? 0 : NestedAccess.LinearExecuteDisable);
    const status = second.translate(gpa, finalAccess);
    gm.secondReferences += second.references;
    this.count();
    if (status !== NestedStatus.Ok) return status;
    this.guestPhysAddr = gpa;
    this.hostAddr = second.hostAddr;
    this.physAddr = second.hostAddr;
    this.pageSize = Math.min(guest.pageSize, second.pageSize);
    this.user = guest.user;
    this.writable = guest.writable && second.writable;
    this.readable = second.readable;
    this.executable = guest.executable && (guest.user ? second.userExecutable : second.executable);
    this.global = guest.global;
    this.dirty = guest.dirty && second.dirty;
    return NestedStatus.Ok;
  }

  private count(): void {
    const gm = this.guestMemory;
    this.guestReferences = gm.guestReferences;
    this.secondReferences = gm.secondReferences;
    this.references = gm.guestReferences + gm.secondReferences;
  }
}
