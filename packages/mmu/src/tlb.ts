/**
 * A software TLB for combined translations (linear page -> host-physical page), tagged by
 * address space, PCID and second-level root, with paging-structure caches and every
 * invalidation rule of the manuals:
 *
 * - Intel SDM Vol. 3 §4.10 "Caching Translation Information" (TLBs §4.10.2, global pages
 *   §4.10.2.4, paging-structure caches §4.10.3, §4.10.4.1 "Operations that Invalidate TLBs and
 *   Paging-Structure Caches": INVLPG, INVPCID, MOV to CR0/CR3/CR4);
 * - Intel SDM Vol. 3 §29.4 "Caching Translation Information" (§28.3 in older numberings:
 *   linear, guest-physical and combined mappings tagged by VPID, PCID and EP4TA; §29.4.3
 *   "Invalidating Cached Information", INVEPT and INVVPID);
 * - AMD APM Vol. 2 §15.16 "TLB Control" (ASIDs, ASID 0 for the host), §15.16.1 TLB_CONTROL,
 *   and INVLPGA.
 *
 * The TLB belongs to one logical processor. It keeps no knowledge of VMX or SVM: both use the
 * same tags (a VPID or an ASID, 0 meaning the host), and each instruction or VMCB rule is one
 * method here.
 *
 * ## Layout
 *
 * A (VPID/ASID, PCID, root) triple is mapped by {@link Tlb.context} to a small *context index*
 * (a slot of the context table), which the CPU keeps while the triple is current. Each slot
 * also owns a *global pseudo-context* shared by every PCID of the same (tag, root): global
 * translations are inserted there, since a global TLB entry may be used whatever the current
 * PCID (SDM §4.10.2.4) but stays associated with its VPID and EP4TA (SDM §29.4.1).
 *
 * Entries live in parallel typed arrays of a set-associative structure indexed by the 4 KiB
 * linear page number. A larger page is cached as the 4 KiB fragments that were used (SDM
 * §4.10.2.3 lets a TLB cache a smaller page than the paging structures map); the fragment
 * remembers the page size so that invalidating any address of the page removes every fragment.
 *
 * SVM tags TLB entries by ASID only and leaves it to the hypervisor to flush when it changes
 * nCR3 (APM Vol. 2 §15.16, §15.25); tagging by nCR3 as well only drops entries such a flush
 * would drop anyway. 32-bit paging's 4 MiB-granular PDE cache is not modelled (its walks read
 * two entries); the paging-structure caches serve PAE, 4-level and 5-level paging.
 *
 * Each entry carries the *generation id* of its context, not the context itself: flushing a
 * whole context gives it a new id (O(1) per context), and entries with an old id are dead. A
 * lookup compares the page number and one small integer (two, counting the global context).
 */

/** Permission and state bits of a TLB entry ({@link Tlb.perms}) and of a paging-structure-cache entry. */
export const TlbPerm = {
  /** U/S = 1 at every level: a user-mode page. */
  User: 1 << 0,
  /** R/W = 1 at every level (and the second level permits writes). */
  Writable: 1 << 1,
  /** No XD at any level (and the second level permits the fetch). */
  Executable: 1 << 2,
  /** The dirty flag of the entry mapping the page was set: a write may hit without a walk. */
  Dirty: 1 << 3,
  /** A global translation (G = 1 with CR4.PGE = 1, SDM §4.10.2.4). */
  Global: 1 << 4,
} as const;

/**
 * The causes of invalidations counted in {@link TlbStats.flushes} (one count per operation
 * that invalidated something, by the rule applied).
 */
export const FlushCause = {
  /** INVLPG (SDM §4.10.4.1). */
  Invlpg: 0,
  /** INVPCID type 0, individual-address. */
  InvpcidAddress: 1,
  /** INVPCID type 1, single-context. */
  InvpcidSingle: 2,
  /** INVPCID type 2, all contexts including globals. */
  InvpcidAllGlobal: 3,
  /** INVPCID type 3, all contexts except globals. */
  InvpcidAll: 4,
  /** MOV to CR3 without the no-flush bit (or a task switch loading CR3). */
  MovCr3: 5,
  /** MOV to CR0 clearing CR0.PG. */
  MovCr0: 6,
  /** MOV to CR4 changing PGE, or clearing PCIDE. */
  MovCr4All: 7,
  /** MOV to CR4 changing PAE, or setting SMEP. */
  MovCr4Pcid: 8,
  /** INVEPT type 1, single-context. */
  InveptSingle: 9,
  /** INVEPT type 2, global. */
  InveptGlobal: 10,
  /** INVVPID type 0, individual-address. */
  InvvpidAddress: 11,
  /** INVVPID type 1, single-context. */
  InvvpidSingle: 12,
  /** INVVPID type 2, all contexts. */
  InvvpidAll: 13,
  /** INVVPID type 3, single-context retaining globals. */
  InvvpidSingleRetainingGlobals: 14,
  /** INVLPGA (AMD APM Vol. 2 §15.16). */
  Invlpga: 15,
  /** VMRUN with TLB_CONTROL = 1: flush the entire TLB. */
  TlbControlAll: 16,
  /** VMRUN with TLB_CONTROL = 3: flush this guest's ASID. */
  TlbControlAsid: 17,
  /** VMRUN with TLB_CONTROL = 7: flush this guest's non-global entries. */
  TlbControlAsidNonGlobal: 18,
  /** VM entry or VM exit with VPIDs disabled (VPID 0 flushed, SDM §29.4.3.3). */
  VmxTransition: 19,
  /** A context-table slot was recycled for another triple. */
  ContextRecycled: 20,
  /** Untagged mode: the current context changed. */
  UntaggedSwitch: 21,
  /** {@link Tlb.flushAll}. */
  All: 22,
} as const;
export type FlushCause = (typeof FlushCause)[keyof typeof FlushCause];
const FLUSH_CAUSES = 23;

/** The `root` of a context without a second level (EPT and nested paging off). */
export const NO_ROOT = -1;

/** Statistics of a {@link Tlb}; plain counters, reset by {@link Tlb.resetStats}. */
export interface TlbStats {
  hits: number;
  misses: number;
  insertions: number;
  /** Insertions that replaced a live entry. */
  evictions: number;
  /** Paging-structure-cache probes that found an entry, and those that found none. */
  pscHits: number;
  pscMisses: number;
  /** Memory references the paging-structure caches spared walks ({@link Tlb.pscLookup}). */
  walkReferencesSaved: number;
  /** Operations that invalidated, by {@link FlushCause}. */
  readonly flushes: Float64Array;
}

/** Options of {@link Tlb}. */
export interface TlbOptions {
  /** Number of TLB entries, a power of two (default 1024). */
  entries?: number;
  /** Associativity, a power of two dividing `entries` (default 4; 1 is direct-mapped). */
  ways?: number;
  /** Entries per paging-structure cache (one cache per level), a power of two (default 64). */
  pscEntries?: number;
  /** Context-table slots, 2 to 256 (default 64); each triple in use needs one, plus one per (tag, root). */
  contexts?: number;
  /**
   * Tagged (default) or untagged: an untagged TLB flushes everything whenever the current
   * context changes, as a processor without VPIDs, ASIDs or PCIDs must.
   */
  tagged?: boolean;
  /** Whether the paging-structure caches are in use (default true); see {@link Tlb.pscEnabled}. */
  pagingStructureCaches?: boolean;
}

const CTX_BITS = 8;
const CTX_MASK = (1 << CTX_BITS) - 1;
/** Generations wrap below 2^23 so that ids stay positive signed 32-bit values. */
const GEN_LIMIT = 1 << (31 - CTX_BITS);
/** The PCID of a global pseudo-context. */
const GLOBAL_PCID = -1;
/** Page-size codes in {@link Tlb.sizeShift}: log2(size / 4 KiB). */
const SHIFT_2M = 9;
const SHIFT_4M = 10;
const SHIFT_1G = 18;

/** Context selectors of the invalidation scans. */
const Sel = {
  All: 0,
  /** tag = t (every PCID, globals, every root). */
  Tag: 1,
  /** tag = t, not global. */
  TagNonGlobal: 2,
  /** tag = t, PCID = p, not global (every root). */
  TagPcid: 3,
  /** tag = t and (PCID = p or global) (every root). */
  TagPcidOrGlobal: 4,
  /** root = r (every tag). */
  Root: 5,
  /** root is not {@link NO_ROOT}. */
  AnyRoot: 6,
  /** tag != 0. */
  NonHostTag: 7,
} as const;
type Sel = (typeof Sel)[keyof typeof Sel];

function checkPow2(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max || (value & (value - 1)) !== 0) {
    throw new RangeError(`Tlb: ${name} must be a power of two from ${min} to ${max}, got ${value}`);
  }
}

/**
 * One paging-structure cache (SDM Vol. 3 §4.10.3.1): entries for one level (PDE, PDPTE, PML4E
 * or PML5E), each mapping the linear-address bits that index the levels above and including it
 * to the physical address of the next paging structure, with the rights accumulated so far.
 */
class PagingStructureCache {
  readonly id: Int32Array;
  readonly keyLo: Int32Array;
  readonly keyHi: Int32Array;
  readonly table: Float64Array;
  readonly rights: Uint8Array;
  private readonly next: Uint8Array;
  readonly setMask: number;
  readonly waysShift: number;

  constructor(entries: number, ways: number) {
    this.id = new Int32Array(entries).fill(-1);
    this.keyLo = new Int32Array(entries);
    this.keyHi = new Int32Array(entries);
    this.table = new Float64Array(entries);
    this.rights = new Uint8Array(entries);
    const w = Math.min(ways, entries);
    this.next = new Uint8Array(entries / w);
    this.setMask = entries / w - 1;
    this.waysShift = Math.log2(w);
  }

  clear(): void {
    this.id.fill(-1);
  }

  /** A way of the set of `keyLo` to fill: a matching, dead or round-robin way. */
  victim(keyLo: number, keyHi: number, id: number, live: Int32Array): number {
    const set = keyLo & this.setMask;
    const base = set << this.waysShift;
    const end = base + (1 << this.waysShift);
    for (let i = base; i < end; i++) {
      const e = this.id[i];
      if (e === id && this.keyLo[i] === keyLo && this.keyHi[i] === keyHi) return i;
    }
    for (let i = base; i < end; i++) {
      const e = this.id[i];
      if (e < 0 || live[e & CTX_MASK] !== e) return i;
    }
    const way = this.next[set];
    this.next[set] = (way + 1) & ((1 << this.waysShift) - 1);
    return base + way;
  }
}

/**
 * The TLB and paging-structure caches of one logical processor. See the module comment for
 * the layout; every invalidation method cites its rule.
 *
 * Hot path: {@link context} when the tags change, {@link lookup} per translation, {@link insert}
 * after a walk; none allocates. 64-bit linear addresses are (lo, hi) signed or unsigned 32-bit
 * halves (bits 11:0 ignored); physical addresses are plain numbers.
 */
export class Tlb {
  /** Whether the TLB is tagged (see {@link TlbOptions.tagged}). */
  readonly tagged: boolean;
  /**
   * Whether the paging-structure caches are used: when false, {@link pscLookup} finds nothing
   * and {@link pscInsert} caches nothing, so walks start from the top (for comparisons).
   */
  pscEnabled: boolean;
  readonly stats: TlbStats = {
    hits: 0,
    misses: 0,
    insertions: 0,
    evictions: 0,
    pscHits: 0,
    pscMisses: 0,
    walkReferencesSaved: 0,
    flushes: new Float64Array(FLUSH_CAUSES),
  };

  // Entries (parallel arrays, one element per way).
  /** Generation id of the entry's context, or -1 for an empty way. */
  private readonly entryId: Int32Array;
  /** Linear page number (linear address >> 12), low 32 bits and the bits above. */
  private readonly vpnLo: Int32Array;
  private readonly vpnHi: Int32Array;
  /** The host-physical address of the entry's 4 KiB page (after the lookup: `hostPage[i]`). */
  readonly hostPage: Float64Array;
  /** {@link TlbPerm} bits of the entry. */
  readonly perms: Uint8Array;
  /** log2 of the size of the page the entry is a fragment of, in 4 KiB units (0, 9, 10 or 18). */
  readonly sizeShift: Uint8Array;
  private readonly nextWay: Uint8Array;
  private readonly setMask: number;
  private readonly waysShift: number;
  /** Whether a fragment of a large page may be cached (per-address flushes then scan it all). */
  private largePages = false;

  // Context table.
  private readonly ctxCount: number;
  private readonly ctxValid: Uint8Array;
  private readonly ctxTag: Float64Array;
  private readonly ctxPcid: Int32Array;
  private readonly ctxRoot: Float64Array;
  /** The global pseudo-context of a slot (itself for a global pseudo-context). */
  private readonly ctxGlobal: Int32Array;
  /** Current generation ids, for TLB entries and for paging-structure-cache entries. */
  private readonly ctxTlbId: Int32Array;
  private readonly ctxPscId: Int32Array;
  private readonly ctxLastUse: Float64Array;
  private useClock = 0;
  private generation = 0;
  private lastContext = -1;

  /** Paging-structure caches for levels 2 (PDE) to 5 (PML5E); index = level - 2. */
  private readonly psc: PagingStructureCache[];
  /** After a {@link pscLookup} hit: the physical address of the next paging structure. */
  pscTable = 0;
  /** After a {@link pscLookup} hit: the accumulated {@link TlbPerm} rights (User, Writable, Executable). */
  pscRights = 0;

  constructor(options: TlbOptions = {}) {
    const entries = options.entries ?? 1024;
    const ways = options.ways ?? 4;
    const pscEntries = options.pscEntries ?? 64;
    const contexts = options.contexts ?? 64;
    checkPow2('entries', entries, 1, 1 << 24);
    checkPow2('ways', ways, 1, Math.min(entries, 128));
    checkPow2('pscEntries', pscEntries, 1, 1 << 16);
    if (!Number.isInteger(contexts) || contexts < 2 || contexts > 1 << CTX_BITS) {
      throw new RangeError(`Tlb: contexts must be an integer from 2 to ${1 << CTX_BITS}, got ${contexts}`);
    }
    this.tagged = options.tagged ?? true;
    this.pscEnabled = options.pagingStructureCaches ?? true;
    this.entryId = new Int32Array(entries).fill(-1);
    this.vpnLo = new Int32Array(entries);
    this.vpnHi = new Int32Array(entries);
    this.hostPage = new Float64Array(entries);
    this.perms = new Uint8Array(entries);
    this.sizeShift = new Uint8Array(entries);
    this.nextWay = new Uint8Array(entries / ways);
    this.setMask = entries / ways - 1;
    this.waysShift = Math.log2(ways);
    this.ctxCount = contexts;
    this.ctxValid = new Uint8Array(contexts);
    this.ctxTag = new Float64Array(contexts);
    this.ctxPcid = new Int32Array(contexts);
    this.ctxRoot = new Float64Array(contexts);
    this.ctxGlobal = new Int32Array(contexts);
    this.ctxTlbId = new Int32Array(contexts);
    this.ctxPscId = new Int32Array(contexts);
    this.ctxLastUse = new Float64Array(contexts);
    for (let i = 0; i < contexts; i++) {
      this.ctxTlbId[i] = this.newId(i);
      this.ctxPscId[i] = this.newId(i);
    }
    this.psc = [];
    for (let level = 2; level <= 5; level++) this.psc.push(new PagingStructureCache(pscEntries, 4));
  }

  // -------------------------------------------------------------------------------------------
  // Contexts

  /**
   * The context index of (`tag`, `pcid`, `root`), creating it if needed (recycling the least
   * recently used slot when the table is full, which drops that context's entries).
   *
   * - `tag`: the VPID (VT-x) or ASID (SVM) of the translations; 0 is the host (VMX root
   *   operation or a guest run without VPIDs; SVM host, ASID 0).
   * - `pcid`: CR3 bits 11:0 when CR4.PCIDE = 1, else 0 (SDM §4.10.1).
   * - `root`: the EP4TA (EPTP bits 51:12, {@link ep4ta}) with EPT, the nCR3 table address with
   *   nested paging, {@link NO_ROOT} otherwise.
   *
   * In untagged mode, a context different from the previous call's flushes the whole TLB.
   */
  context(tag: number, pcid: number, root: number): number {
    const last = this.lastContext;
    let ctx =
      last >= 0 && this.ctxTag[last] === tag && this.ctxPcid[last] === pcid && this.ctxRoot[last] === root && this.ctxValid[last] !== 0
        ? last
        : this.findContext(tag, pcid, root);
    if (ctx < 0) {
      const g = this.findContext(tag, GLOBAL_PCID, root);
      const global = g >= 0 ? g : this.allocContext(tag, GLOBAL_PCID, root, -1);
      this.touch(global);
      ctx = this.allocContext(tag, pcid, root, global);
      this.ctxGlobal[ctx] = global;
    }
    this.touch(ctx);
    this.touch(this.ctxGlobal[ctx]);
    if (!this.tagged && ctx !== this.lastContext) {
      if (this.lastContext >= 0) this.flushEverything(FlushCause.UntaggedSwitch);
    }
    this.lastContext = ctx;
    return ctx;
  }

  private findContext(tag: number, pcid: number, root: number): number {
    const n = this.ctxCount;
    for (let i = 0; i < n; i++) {
      if (this.ctxValid[i] !== 0 && this.ctxPcid[i] === pcid && this.ctxTag[i] === tag && this.ctxRoot[i] === root) return i;
    }
    return -1;
  }

  private touch(ctx: number): void {
    this.ctxLastUse[ctx] = ++this.useClock;
  }

  private allocContext(tag: number, pcid: number, root: number, keep: number): number {
    let slot = -1;
    for (let i = 0; i < this.ctxCount; i++) {
      if (this.ctxValid[i] === 0) {
        slot = i;
        break;
      }
    }
    if (slot < 0) {
      let oldest = Infinity;
      for (let i = 0; i < this.ctxCount; i++) {
        if (i !== keep && this.ctxLastUse[i] < oldest) {
          oldest = this.ctxLastUse[i];
          slot = i;
        }
      }
      this.stats.flushes[FlushCause.ContextRecycled]++;
      this.retire(slot);
      if (this.ctxPcid[slot] === GLOBAL_PCID) {
        // Contexts sharing a recycled global pseudo-context go with it.
        for (let i = 0; i < this.ctxCount; i++) {
          if (this.ctxValid[i] !== 0 && this.ctxGlobal[i] === slot) this.retire(i);
        }
      }
      if (this.lastContext === slot) this.lastContext = -1;
    }
    this.ctxValid[slot] = 1;
    this.ctxTag[slot] = tag;
    this.ctxPcid[slot] = pcid;
    this.ctxRoot[slot] = root;
    this.ctxGlobal[slot] = slot;
    return slot;
  }

  private retire(slot: number): void {
    this.ctxValid[slot] = 0;
    this.ctxTlbId[slot] = this.newId(slot);
    this.ctxPscId[slot] = this.newId(slot);
  }

  /**
   * A fresh generation id for `slot`. When the generations run out, every entry is emptied
   * and every slot renumbered from generation 1, so that no old id can come back to life.
   */
  private newId(slot: number): number {
    if (++this.generation >= GEN_LIMIT) {
      this.generation = 0;
      this.clearArrays();
      for (let i = 0; i < this.ctxCount; i++) {
        this.ctxTlbId[i] = (++this.generation << CTX_BITS) | i;
        this.ctxPscId[i] = (++this.generation << CTX_BITS) | i;
      }
      ++this.generation;
    }
    return (this.generation << CTX_BITS) | slot;
  }

  private clearArrays(): void {
    this.entryId.fill(-1);
    for (const c of this.psc) c.clear();
    this.largePages = false;
  }

  // -------------------------------------------------------------------------------------------
  // Lookup and insertion

  /**
   * Looks up the 4 KiB linear page of `linHi:linLo` in context `ctx`: the context's own entries
   * and the global translations of its (tag, root). Returns the entry index (read
   * {@link hostPage}, {@link perms}) or -1.
   */
  lookup(ctx: number, linLo: number, linHi: number): number {
    const vpnLo = (linLo >>> 12) | (linHi << 20);
    const vpnHi = linHi >> 12;
    const id = this.ctxTlbId[ctx];
    const gid = this.ctxTlbId[this.ctxGlobal[ctx]];
    const base = (vpnLo & this.setMask) << this.waysShift;
    const end = base + (1 << this.waysShift);
    for (let i = base; i < end; i++) {
      if (this.vpnLo[i] === vpnLo && this.vpnHi[i] === vpnHi) {
        const e = this.entryId[i];
        if (e === id || e === gid) {
          this.stats.hits++;
          return i;
        }
      }
    }
    this.stats.misses++;
    return -1;
  }

  /**
   * Caches the translation of the 4 KiB linear page of `linHi:linLo` in context `ctx`, from a
   * walk result: `hostAddr` the host-physical address `linHi:linLo` translates to (bits 11:0
   * ignored: the guest walker's `physAddr`, or a two-dimensional walk's `hostAddr`),
   * `pageSize` the size of the page (of the combined mapping: the smaller of the guest and
   * second-level pages; 4 KiB, 2 MiB, 4 MiB or 1 GiB), `perms` the {@link TlbPerm} bits of the
   * combined rights (guest rights ANDed with the second level's). `TlbPerm.Global` must already
   * account for CR4.PGE; a global translation is shared by every PCID of the context's (tag,
   * root). Returns the entry index.
   */
  insert(ctx: number, linLo: number, linHi: number, hostAddr: number, pageSize: number, perms: number): number {
    const vpnLo = (linLo >>> 12) | (linHi << 20);
    const vpnHi = linHi >> 12;
    const owner = (perms & TlbPerm.Global) !== 0 ? this.ctxGlobal[ctx] : ctx;
    const id = this.ctxTlbId[owner];
    const base = (vpnLo & this.setMask) << this.waysShift;
    const ways = 1 << this.waysShift;
    const end = base + ways;
    const live = this.ctxTlbId;
    const gid = this.ctxTlbId[this.ctxGlobal[ctx]];
    const cid = this.ctxTlbId[ctx];
    let way = -1;
    // The same page visible from this context (own or global) is replaced.
    for (let i = base; i < end; i++) {
      const e = this.entryId[i];
      if ((e === cid || e === gid) && this.vpnLo[i] === vpnLo && this.vpnHi[i] === vpnHi) {
        way = i;
        break;
      }
    }
    if (way < 0) {
      for (let i = base; i < end; i++) {
        const e = this.entryId[i];
        if (e < 0 || live[e & CTX_MASK] !== e) {
          way = i;
          break;
        }
      }
    }
    if (way < 0) {
      const set = vpnLo & this.setMask;
      const next = this.nextWay[set];
      this.nextWay[set] = (next + 1) & (ways - 1);
      way = base + next;
      this.stats.evictions++;
    }
    let shift = 0;
    if (pageSize !== 0x1000) {
      shift = pageSize === 0x20_0000 ? SHIFT_2M : pageSize === 0x40_0000 ? SHIFT_4M : SHIFT_1G;
      this.largePages = true;
    }
    this.entryId[way] = id;
    this.vpnLo[way] = vpnLo;
    this.vpnHi[way] = vpnHi;
    this.hostPage[way] = hostAddr - (hostAddr % 4096);
    this.perms[way] = perms;
    this.sizeShift[way] = shift;
    this.stats.insertions++;
    return way;
  }

  /**
   * {@link insert} from the guest walker's result fields (`PageWalker` has them) for the
   * address it walked. `pgeEnabled` is CR4.PGE. A two-dimensional walk inserts with
   * {@link insert}, combining the guest rights with the second level's.
   */
  insertWalk(ctx: number, linLo: number, linHi: number, walk: TranslationResult, pgeEnabled: boolean): number {
    const perms =
      (walk.user ? TlbPerm.User : 0) |
      (walk.writable ? TlbPerm.Writable : 0) |
      (walk.executable ? TlbPerm.Executable : 0) |
      (walk.dirty ? TlbPerm.Dirty : 0) |
      (walk.global && pgeEnabled ? TlbPerm.Global : 0);
    return this.insert(ctx, linLo, linHi, walk.physAddr, walk.pageSize, perms);
  }

  /** The number of live TLB entries (a scan; for tests and statistics, not the hot path). */
  liveEntries(): number {
    let n = 0;
    for (let i = 0; i < this.entryId.length; i++) if (this.isLive(i)) n++;
    return n;
  }

  private isLive(i: number): boolean {
    const e = this.entryId[i];
    return e >= 0 && this.ctxTlbId[e & CTX_MASK] === e;
  }

  // -------------------------------------------------------------------------------------------
  // Paging-structure caches (SDM Vol. 3 §4.10.3)

  /**
   * Caches a paging-structure entry of `level` (2 = PDE, 3 = PDPTE, 4 = PML4E, 5 = PML5E,
   * with 8-byte entries: PAE, 4-level and 5-level paging) used to translate `linHi:linLo` in
   * context `ctx`: `table` the physical address of the structure it references, `rights` the
   * {@link TlbPerm} User/Writable/Executable bits accumulated from the top level through this
   * one (SDM §4.10.3.1). Entries that map pages are never cached here. Paging-structure-cache
   * entries are never global (§4.10.3.1: each is associated with a PCID).
   */
  pscInsert(ctx: number, level: number, linLo: number, linHi: number, table: number, rights: number): void {
    if (!this.pscEnabled) return;
    const shift = 9 * (level - 1);
    const keyLo = pscKeyLo(linLo, linHi, shift);
    const keyHi = pscKeyHi(linHi, shift);
    const cache = this.psc[level - 2];
    const id = this.ctxPscId[ctx];
    const way = cache.victim(keyLo, keyHi, id, this.ctxPscId);
    cache.id[way] = id;
    cache.keyLo[way] = keyLo;
    cache.keyHi[way] = keyHi;
    cache.table[way] = table;
    cache.rights[way] = rights;
  }

  /**
   * Finds the deepest cached paging-structure entry for `linHi:linLo` in context `ctx`, probing
   * the PDE cache first, then the PDPTE, PML4E and PML5E caches up to `topLevel`, the level of
   * the first entry a walk reads: 5 for 5-level paging, 4 for 4-level, 2 for PAE paging (its
   * PDPTEs are registers, SDM §4.4.1, so only the PDE cache applies). Returns the
   * level L of the entry found ({@link pscTable} and {@link pscRights} set; the walk resumes
   * at level L - 1), or 0. A hit at level L spares the walk the reads of levels `topLevel`..L;
   * each is counted as `refsPerEntry` references in {@link TlbStats.walkReferencesSaved} (1
   * for a native walk, 1 + the second-level references for a guest walk under EPT/NPT).
   */
  pscLookup(ctx: number, linLo: number, linHi: number, topLevel: number, refsPerEntry: number): number {
    if (!this.pscEnabled) return 0;
    const id = this.ctxPscId[ctx];
    for (let level = 2; level <= topLevel; level++) {
      const shift = 9 * (level - 1);
      const keyLo = pscKeyLo(linLo, linHi, shift);
      const keyHi = pscKeyHi(linHi, shift);
      const cache = this.psc[level - 2];
      const base = (keyLo & cache.setMask) << cache.waysShift;
      const end = base + (1 << cache.waysShift);
      for (let i = base; i < end; i++) {
        if (cache.id[i] === id && cache.keyLo[i] === keyLo && cache.keyHi[i] === keyHi) {
          this.pscTable = cache.table[i];
          this.pscRights = cache.rights[i];
          this.stats.pscHits++;
          this.stats.walkReferencesSaved += (topLevel - level + 1) * refsPerEntry;
          return level;
        }
      }
    }
    this.stats.pscMisses++;
    return 0;
  }

  /** The number of live paging-structure-cache entries of `level` (for tests). */
  pscLiveEntries(level: number): number {
    const cache = this.psc[level - 2];
    let n = 0;
    for (let i = 0; i < cache.id.length; i++) {
      const e = cache.id[i];
      if (e >= 0 && this.ctxPscId[e & CTX_MASK] === e) n++;
    }
    return n;
  }

  // -------------------------------------------------------------------------------------------
  // Invalidation machinery

  private matches(slot: number, sel: Sel, tag: number, pcid: number, root: number): boolean {
    if (this.ctxValid[slot] === 0) return false;
    switch (sel) {
      case Sel.All:
        return true;
      case Sel.Tag:
        return this.ctxTag[slot] === tag;
      case Sel.TagNonGlobal:
        return this.ctxTag[slot] === tag && this.ctxPcid[slot] !== GLOBAL_PCID;
      case Sel.TagPcid:
        return this.ctxTag[slot] === tag && this.ctxPcid[slot] === pcid;
      case Sel.TagPcidOrGlobal:
        return this.ctxTag[slot] === tag && (this.ctxPcid[slot] === pcid || this.ctxPcid[slot] === GLOBAL_PCID);
      case Sel.Root:
        return this.ctxRoot[slot] === root;
      case Sel.AnyRoot:
        return this.ctxRoot[slot] !== NO_ROOT;
      default:
        return this.ctxTag[slot] !== 0;
    }
  }

  /** Invalidates every TLB entry (`tlb`) and/or paging-structure-cache entry (`psc`) of the selected contexts. */
  private flushContexts(sel: Sel, tag: number, pcid: number, root: number, tlb: boolean, psc: boolean): void {
    for (let i = 0; i < this.ctxCount; i++) {
      if (!this.matches(i, sel, tag, pcid, root)) continue;
      if (tlb) this.ctxTlbId[i] = this.newId(i);
      if (psc) this.ctxPscId[i] = this.newId(i);
    }
  }

  /**
   * Invalidates the TLB entries of the selected contexts for the page containing `linHi:linLo`
   * (every fragment of a large page containing it).
   */
  private flushAddress(sel: Sel, tag: number, pcid: number, linLo: number, linHi: number): void {
    const vpnLo = (linLo >>> 12) | (linHi << 20);
    const vpnHi = linHi >> 12;
    let start: number;
    let end: number;
    if (this.largePages) {
      start = 0;
      end = this.entryId.length;
    } else {
      start = (vpnLo & this.setMask) << this.waysShift;
      end = start + (1 << this.waysShift);
    }
    for (let i = start; i < end; i++) {
      if (this.vpnHi[i] !== vpnHi || !this.isLive(i)) continue;
      const s = this.sizeShift[i];
      if (s === 0 ? this.vpnLo[i] !== vpnLo : this.vpnLo[i] >>> s !== vpnLo >>> s) continue;
      if (this.matches(this.entryId[i] & CTX_MASK, sel, tag, pcid, 0)) this.entryId[i] = -1;
    }
  }

  /**
   * Invalidates the paging-structure-cache entries of the selected contexts that would be used
   * to translate `linHi:linLo` (at every level).
   */
  private flushPscAddress(sel: Sel, tag: number, linLo: number, linHi: number): void {
    for (let level = 2; level <= 5; level++) {
      const shift = 9 * (level - 1);
      const keyLo = pscKeyLo(linLo, linHi, shift);
      const keyHi = pscKeyHi(linHi, shift);
      const cache = this.psc[level - 2];
      const base = (keyLo & cache.setMask) << cache.waysShift;
      const end = base + (1 << cache.waysShift);
      for (let i = base; i < end; i++) {
        const e = cache.id[i];
        if (e < 0 || cache.keyLo[i] !== keyLo || cache.keyHi[i] !== keyHi) continue;
        const slot = e & CTX_MASK;
        if (this.ctxPscId[slot] === e && this.matches(slot, sel, tag, 0, 0)) cache.id[i] = -1;
      }
    }
  }

  private flushEverything(cause: FlushCause): void {
    this.stats.flushes[cause]++;
    this.flushContexts(Sel.All, 0, 0, 0, true, true);
    this.clearArrays();
  }

  /** Invalidates everything (every tag, PCID and root, global or not). */
  flushAll(): void {
    this.flushEverything(FlushCause.All);
  }

  // -------------------------------------------------------------------------------------------
  // Instructions and events (the caller has done the instruction's own checks: CPL, #UD, #GP)

  /**
   * INVLPG in context `ctx` (SDM Vol. 3 §4.10.4.1): invalidates the TLB entries for the page
   * containing the address that are associated with the current PCID, and the global entries
   * for it whatever their PCID; and every paging-structure-cache entry associated with the
   * current PCID, whatever linear address it is for. Only the current VPID/ASID is affected,
   * for every EP4TA (SDM §29.4.3.1: instructions that invalidate independently of VMX operation
   * do so for the current VPID, and for combined mappings all EP4TAs).
   */
  invlpg(ctx: number, linLo: number, linHi: number): void {
    const tag = this.ctxTag[ctx];
    const pcid = this.ctxPcid[ctx];
    this.stats.flushes[FlushCause.Invlpg]++;
    this.flushAddress(Sel.TagPcidOrGlobal, tag, pcid, linLo, linHi);
    this.flushContexts(Sel.TagPcid, tag, pcid, 0, false, true);
  }

  /**
   * INVPCID of `type` 0-3 executed with VPID/ASID `tag` (SDM Vol. 3 §4.10.4.1; INVPCID):
   * - 0, individual-address: the TLB entries for `pcid` and the page of `linHi:linLo`, not
   *   global ones; every paging-structure-cache entry of `pcid`;
   * - 1, single-context: every entry of `pcid` except global translations;
   * - 2, all contexts including globals: everything of every PCID;
   * - 3, all contexts: everything except global translations.
   * Every EP4TA of the tag is affected (SDM §29.4.3.1). With CR4.PCIDE = 0 only PCID 0 exists,
   * so types 2 and 3 reach only it (the #GP for types 0-1 with a non-zero PCID is the
   * caller's). Returns false for an invalid type (the caller raises #GP(0)) without effect.
   */
  invpcid(tag: number, type: number, pcid: number, linLo: number, linHi: number): boolean {
    switch (type) {
      case 0:
        this.stats.flushes[FlushCause.InvpcidAddress]++;
        this.flushAddress(Sel.TagPcid, tag, pcid, linLo, linHi);
        this.flushContexts(Sel.TagPcid, tag, pcid, 0, false, true);
        return true;
      case 1:
        this.stats.flushes[FlushCause.InvpcidSingle]++;
        this.flushContexts(Sel.TagPcid, tag, pcid, 0, true, true);
        return true;
      case 2:
        this.stats.flushes[FlushCause.InvpcidAllGlobal]++;
        this.flushContexts(Sel.Tag, tag, 0, 0, true, true);
        return true;
      case 3:
        this.stats.flushes[FlushCause.InvpcidAll]++;
        this.flushContexts(Sel.TagNonGlobal, tag, 0, 0, true, true);
        return true;
      default:
        return false;
    }
  }

  /**
   * MOV to CR3 with VPID/ASID `tag` (SDM Vol. 3 §4.10.4.1), `cr3Hi:cr3Lo` the source operand:
   * - CR4.PCIDE = 0: invalidates the TLB entries of PCID 000H except global ones, and every
   *   paging-structure-cache entry of PCID 000H;
   * - CR4.PCIDE = 1, bit 63 clear: the same for the PCID in bits 11:0 of the operand;
   * - CR4.PCIDE = 1, bit 63 set: nothing is invalidated.
   * A task switch that changes CR3 follows the first rule. Every EP4TA of the tag is affected
   * (SDM §29.4.3.1).
   */
  movToCr3(tag: number, cr3Lo: number, cr3Hi: number, pcide: boolean): void {
    if (pcide && (cr3Hi & (1 << 31)) !== 0) return;
    const pcid = pcide ? cr3Lo & 0xfff : 0;
    this.stats.flushes[FlushCause.MovCr3]++;
    this.flushContexts(Sel.TagPcid, tag, pcid, 0, true, true);
  }

  /**
   * MOV to CR4 in context `ctx` (SDM Vol. 3 §4.10.4.1), from `oldCr4` to `newCr4` (low halves):
   * - a change of CR4.PGE (bit 7), or CR4.PCIDE (bit 17) going from 1 to 0: every TLB entry,
   *   global ones included, and every paging-structure-cache entry, for all PCIDs;
   * - otherwise a change of CR4.PAE (bit 5), or CR4.SMEP (bit 20) going from 0 to 1: every TLB
   *   and paging-structure-cache entry of the current PCID (global entries, which this TLB
   *   does not keep per PCID, are included: an allowed over-invalidation).
   * Limited to the current VPID/ASID, every EP4TA (SDM §29.4.3.1).
   */
  movToCr4(ctx: number, oldCr4: number, newCr4: number): void {
    const changed = oldCr4 ^ newCr4;
    const tag = this.ctxTag[ctx];
    if ((changed & (1 << 7)) !== 0 || (changed & oldCr4 & (1 << 17)) !== 0) {
      this.stats.flushes[FlushCause.MovCr4All]++;
      this.flushContexts(Sel.Tag, tag, 0, 0, true, true);
    } else if ((changed & (1 << 5)) !== 0 || (changed & newCr4 & (1 << 20)) !== 0) {
      this.stats.flushes[FlushCause.MovCr4Pcid]++;
      this.flushContexts(Sel.TagPcidOrGlobal, tag, this.ctxPcid[ctx], 0, true, true);
    }
  }

  /**
   * MOV to CR0 with VPID/ASID `tag` (SDM Vol. 3 §4.10.4.1): clearing CR0.PG (bit 31)
   * invalidates every TLB entry, global ones included, and every paging-structure-cache entry,
   * for all PCIDs (of the current VPID, every EP4TA).
   */
  movToCr0(tag: number, oldCr0: number, newCr0: number): void {
    if ((oldCr0 & ~newCr0 & (1 << 31)) === 0) return;
    this.stats.flushes[FlushCause.MovCr0]++;
    this.flushContexts(Sel.Tag, tag, 0, 0, true, true);
  }

  /**
   * INVEPT (SDM Vol. 3 §29.4.3.1 and the INVEPT instruction): `type` 1, single-context,
   * invalidates every guest-physical and combined mapping derived from the EP4TA `root`, for
   * every VPID and PCID; `type` 2, global, every guest-physical and combined mapping (every
   * EP4TA). Linear mappings (contexts without a root) are untouched. Returns false for another
   * type (VMfail; nothing is invalidated).
   */
  invept(type: number, root: number): boolean {
    if (type === 1) {
      this.stats.flushes[FlushCause.InveptSingle]++;
      this.flushContexts(Sel.Root, 0, 0, root, true, true);
      return true;
    }
    if (type === 2) {
      this.stats.flushes[FlushCause.InveptGlobal]++;
      this.flushContexts(Sel.AnyRoot, 0, 0, 0, true, true);
      return true;
    }
    return false;
  }

  /**
   * INVVPID (SDM Vol. 3 §29.4.3.3 and the INVVPID instruction), for every PCID and EP4TA:
   * - 0, individual-address: the linear and combined mappings of `vpid` for `linHi:linLo`,
   *   global ones included, and the paging-structure-cache entries of `vpid` that would
   *   translate it;
   * - 1, single-context: every mapping of `vpid`;
   * - 2, all-context: every mapping of every VPID but 0000H (the host);
   * - 3, single-context retaining globals: every mapping of `vpid` except global translations.
   * Returns false (VMfail, nothing invalidated) for another type or for VPID 0 with types 0, 1
   * and 3. The canonical check of type 0's address is the caller's.
   */
  invvpid(type: number, vpid: number, linLo: number, linHi: number): boolean {
    if (type !== 2 && vpid === 0) return false;
    switch (type) {
      case 0:
        this.stats.flushes[FlushCause.InvvpidAddress]++;
        this.flushAddress(Sel.Tag, vpid, 0, linLo, linHi);
        this.flushPscAddress(Sel.Tag, vpid, linLo, linHi);
        return true;
      case 1:
        this.stats.flushes[FlushCause.InvvpidSingle]++;
        this.flushContexts(Sel.Tag, vpid, 0, 0, true, true);
        return true;
      case 2:
        this.stats.flushes[FlushCause.InvvpidAll]++;
        this.flushContexts(Sel.NonHostTag, 0, 0, 0, true, true);
        return true;
      case 3:
        this.stats.flushes[FlushCause.InvvpidSingleRetainingGlobals]++;
        this.flushContexts(Sel.TagNonGlobal, vpid, 0, 0, true, true);
        return true;
      default:
        return false;
    }
  }

  /**
   * VM entry or VM exit (SDM Vol. 3 §29.4.3.3): with the "enable VPID" control 0, both
   * invalidate the linear and combined mappings of VPID 0000H (all PCIDs, all EP4TAs, global
   * ones included); with VPIDs enabled, nothing.
   */
  vmxTransition(vpidEnabled: boolean): void {
    if (vpidEnabled) return;
    this.stats.flushes[FlushCause.VmxTransition]++;
    this.flushContexts(Sel.Tag, 0, 0, 0, true, true);
  }

  /**
   * INVLPGA (AMD APM Vol. 2 §15.16, INVLPGA): invalidates the TLB mapping of the page
   * containing `linHi:linLo` in ASID `asid`, global or not, of every PCID and nCR3, and the
   * paging-structure-cache entries of that ASID that would translate it.
   */
  invlpga(asid: number, linLo: number, linHi: number): void {
    this.stats.flushes[FlushCause.Invlpga]++;
    this.flushAddress(Sel.Tag, asid, 0, linLo, linHi);
    this.flushPscAddress(Sel.Tag, asid, linLo, linHi);
  }

  /**
   * The VMCB TLB_CONTROL field at VMRUN (AMD APM Vol. 2 §15.16.1), for the guest's `asid`:
   * 0 does nothing; 1 flushes the entire TLB (every ASID, the host's included); 3 flushes this
   * guest's entries (its ASID); 7 flushes this guest's non-global entries. Paging-structure
   * caches of the flushed ASIDs go too. Returns false for a reserved encoding, doing nothing.
   */
  tlbControl(asid: number, value: number): boolean {
    switch (value) {
      case 0:
        return true;
      case 1:
        this.flushEverything(FlushCause.TlbControlAll);
        return true;
      case 3:
        this.stats.flushes[FlushCause.TlbControlAsid]++;
        this.flushContexts(Sel.Tag, asid, 0, 0, true, true);
        return true;
      case 7:
        this.stats.flushes[FlushCause.TlbControlAsidNonGlobal]++;
        this.flushContexts(Sel.TagNonGlobal, asid, 0, 0, true, true);
        return true;
      default:
        return false;
    }
  }

  /** Zeroes the statistics. */
  resetStats(): void {
    const s = this.stats;
    s.hits = 0;
    s.misses = 0;
    s.insertions = 0;
    s.evictions = 0;
    s.pscHits = 0;
    s.pscMisses = 0;
    s.walkReferencesSaved = 0;
    s.flushes.fill(0);
  }
}

/** The fields of a walk result {@link Tlb.insertWalk} reads (the guest walker has them). */
export interface TranslationResult {
  /** The physical address the linear address translates to. */
  readonly physAddr: number;
  readonly pageSize: number;
  readonly user: boolean;
  readonly writable: boolean;
  readonly executable: boolean;
  readonly global: boolean;
  readonly dirty: boolean;
}

/**
 * The EP4TA of an EPTP (`hi:lo`): bits 51:12, the address of the EPT PML4 (or PML5) table
 * that tags combined and guest-physical mappings (SDM Vol. 3 §29.4.1).
 */
export function ep4ta(eptpLo: number, eptpHi: number): number {
  return (eptpHi & 0xfffff) * 4294967296 + ((eptpLo & ~0xfff) >>> 0);
}

/** Low 32 bits of the key of a level's paging-structure-cache entry: the page number >> `shift`. */
function pscKeyLo(linLo: number, linHi: number, shift: number): number {
  // The page number is linHi:linLo >> 12; the key is it >> shift (shift < 45).
  const total = 12 + shift;
  return total < 32 ? (linLo >>> total) | (linHi << (32 - total)) : linHi >> (total - 32);
}

/** High bits of the key. */
function pscKeyHi(linHi: number, shift: number): number {
  const total = 12 + shift;
  return total < 32 ? linHi >> total : linHi >> 31;
}
