import { describe, expect, it } from 'vitest';
import { ep4ta, FlushCause, NO_ROOT, PageWalker, PagingMode, type PageTableMemory, Tlb, TlbPerm } from './index.js';

// ---------------------------------------------------------------------------------------------
// Helpers: 64-bit linear addresses as BigInt in the tests, split into (lo, hi) halves.

function halves(addr: bigint): [number, number] {
  const u = BigInt.asUintN(64, addr);
  return [Number(u & 0xffff_ffffn) | 0, Number(u >> 32n) | 0];
}

const RWX = TlbPerm.User | TlbPerm.Writable | TlbPerm.Executable | TlbPerm.Dirty;
const G = TlbPerm.Global;

/** Inserts a 4 KiB translation of `addr` to `hpa` in `ctx`. */
function put(tlb: Tlb, ctx: number, addr: bigint, hpa = 0x10_0000, perms = RWX, size = 0x1000): number {
  const [lo, hi] = halves(addr);
  return tlb.insert(ctx, lo, hi, hpa, size, perms);
}

function has(tlb: Tlb, ctx: number, addr: bigint): boolean {
  const [lo, hi] = halves(addr);
  return tlb.lookup(ctx, lo, hi) >= 0;
}

const A = 0x40_1000n;
const B = 0x7fff_1234_5000n;
const ROOT1 = 0x1234_5000;
const ROOT2 = 0x2_0000_0000;

describe('Tlb lookup and insert', () => {
  it('returns the host-physical page and permissions of a hit, -1 on a miss, and counts them', () => {
    const tlb = new Tlb({ entries: 64, ways: 4 });
    const ctx = tlb.context(0, 0, NO_ROOT);
    expect(has(tlb, ctx, A)).toBe(false);
    put(tlb, ctx, A, 0x9_8765_4000, TlbPerm.User | TlbPerm.Executable);
    const [lo, hi] = halves(A + 0xabcn);
    const i = tlb.lookup(ctx, lo, hi);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(tlb.hostPage[i]).toBe(0x9_8765_4000);
    expect(tlb.perms[i]).toBe(TlbPerm.User | TlbPerm.Executable);
    expect(tlb.stats).toMatchObject({ hits: 1, misses: 1, insertions: 1, evictions: 0 });
  });

  it('caches the 4 KiB fragment of a large page that was used', () => {
    const tlb = new Tlb({ entries: 64 });
    const ctx = tlb.context(0, 0, NO_ROOT);
    // A 2 MiB page at host-physical 0x4000_0000 mapping linear 0x20_0000: linear 0x23_5678 is
    // host-physical 0x4003_5678, so its 4 KiB page is at host-physical 0x4003_5000.
    tlb.insert(ctx, 0x23_5678, 0, 0x4003_5678, 0x20_0000, RWX);
    const i = tlb.lookup(ctx, 0x23_5000, 0);
    expect(tlb.hostPage[i]).toBe(0x4003_5000);
    // Another 4 KiB page of the same large page is not cached until walked.
    expect(tlb.lookup(ctx, 0x24_0000, 0)).toBe(-1);
  });

  it('keeps linear pages apart by all of bits 63:12 (5-level addresses)', () => {
    const tlb = new Tlb({ entries: 64 });
    const ctx = tlb.context(0, 0, NO_ROOT);
    const high = 0xff12_3456_7800_0000n; // canonical with 57-bit linear addresses
    put(tlb, ctx, high, 0x5000);
    expect(has(tlb, ctx, high)).toBe(true);
    expect(has(tlb, ctx, high & 0xffff_ffffn)).toBe(false);
    expect(has(tlb, ctx, high ^ (1n << 48n))).toBe(false);
  });

  it('evicts round-robin within a set once every way is live', () => {
    const tlb = new Tlb({ entries: 8, ways: 2 }); // 4 sets: pages 0, 4, 8 share set 0
    const ctx = tlb.context(0, 0, NO_ROOT);
    put(tlb, ctx, 0x0000n);
    put(tlb, ctx, 0x4000n);
    put(tlb, ctx, 0x8000n);
    expect(tlb.stats.evictions).toBe(1);
    expect(has(tlb, ctx, 0x0000n)).toBe(false);
    expect(has(tlb, ctx, 0x4000n)).toBe(true);
    expect(has(tlb, ctx, 0x8000n)).toBe(true);
    // Reinserting a cached page replaces it in place.
    put(tlb, ctx, 0x8000n, 0x7000);
    expect(tlb.stats.evictions).toBe(1);
  });

  it('inserts a walker result directly, with G only under CR4.PGE', () => {
    const tlb = new Tlb({ entries: 64 });
    const c0 = tlb.context(0, 0, NO_ROOT);
    const c1 = tlb.context(0, 1, NO_ROOT);
    const result = { physAddr: 0x34_5678, pageSize: 0x20_0000, user: true, writable: false, executable: true, global: true, dirty: false };
    let i = tlb.insertWalk(c0, 0x1234_5000, 0, result, false);
    expect(tlb.perms[i]).toBe(TlbPerm.User | TlbPerm.Executable);
    expect(tlb.hostPage[i]).toBe(0x34_5000);
    expect(tlb.lookup(c1, 0x1234_5000, 0)).toBe(-1); // not global without PGE
    i = tlb.insertWalk(c0, 0x1234_5000, 0, result, true);
    expect(tlb.perms[i]).toBe(TlbPerm.User | TlbPerm.Executable | TlbPerm.Global);
    expect(tlb.lookup(c1, 0x1234_5000, 0)).toBe(i);
  });
});

describe('Tlb tags', () => {
  it('separates VPIDs/ASIDs, PCIDs and second-level roots', () => {
    const tlb = new Tlb({ entries: 64 });
    const ctxs = [
      tlb.context(0, 0, NO_ROOT),
      tlb.context(1, 0, NO_ROOT),
      tlb.context(1, 5, NO_ROOT),
      tlb.context(1, 5, ROOT1),
      tlb.context(1, 5, ROOT2),
    ];
    expect(new Set(ctxs).size).toBe(5);
    expect(tlb.context(1, 5, ROOT1)).toBe(ctxs[3]);
    put(tlb, ctxs[3], A);
    for (const c of ctxs) expect(has(tlb, c, A)).toBe(c === ctxs[3]);
  });

  it('shares a global translation across the PCIDs of one VPID and root, not across VPIDs or roots (SDM §4.10.2.4, §29.4.1)', () => {
    const tlb = new Tlb({ entries: 64 });
    const p1 = tlb.context(3, 1, ROOT1);
    put(tlb, p1, A, 0x10_0000, RWX | G);
    expect(has(tlb, tlb.context(3, 2, ROOT1), A)).toBe(true);
    expect(has(tlb, tlb.context(4, 1, ROOT1), A)).toBe(false);
    expect(has(tlb, tlb.context(3, 1, ROOT2), A)).toBe(false);
    expect(has(tlb, tlb.context(0, 1, ROOT1), A)).toBe(false);
  });

  it('computes the EP4TA from EPTP bits 51:12', () => {
    // EPTP = 0x000f_1234_5678_901e: memory type 6, walk length 3 (bits 5:3 = 011b), A/D (bit 6) clear.
    expect(ep4ta(0x5678_901e | 0, 0x000f_1234)).toBe(0xf_1234_5678_9000);
    expect(ep4ta(0x0000_005e, 0xfff0_0000 | 0)).toBe(0);
  });

  it('recycles the least recently used context when the table is full, dropping its entries', () => {
    const tlb = new Tlb({ entries: 64, contexts: 4 });
    // Each (tag, root) needs a global slot: two triples fill four slots.
    const a = tlb.context(1, 0, NO_ROOT);
    put(tlb, a, A);
    const b = tlb.context(2, 0, NO_ROOT);
    put(tlb, b, A);
    tlb.context(1, 0, NO_ROOT); // a is now more recent than b
    const c = tlb.context(3, 0, NO_ROOT);
    expect(tlb.stats.flushes[FlushCause.ContextRecycled]).toBe(2);
    expect(has(tlb, tlb.context(1, 0, NO_ROOT), A)).toBe(true);
    expect(has(tlb, c, A)).toBe(false);
    // VPID 2's context was recycled: a new context for it starts empty.
    expect(has(tlb, tlb.context(2, 0, NO_ROOT), A)).toBe(false);
  });
});

/**
 * A populated TLB for the invalidation tests: VPID/ASID `tag` 0 (host) and 1, 2 (guests);
 * PCIDs 1 and 2; roots none, ROOT1, ROOT2; pages A (non-global and global variants) and B.
 */
function populated() {
  // 32 ways: the 18 entries for page A (3 tags x 3 roots x 2 PCIDs) share one set.
  const tlb = new Tlb({ entries: 256, ways: 32 });
  const ctx = (tag: number, pcid: number, root: number) => tlb.context(tag, pcid, root);
  for (const tag of [0, 1, 2]) {
    for (const root of [NO_ROOT, ROOT1, ROOT2]) {
      for (const pcid of [1, 2]) {
        const c = ctx(tag, pcid, root);
        put(tlb, c, A);
        put(tlb, c, B);
      }
      // A global page, inserted from PCID 1.
      put(tlb, ctx(tag, 1, root), 0x8000_0000n, 0x20_0000, RWX | G);
    }
  }
  return { tlb, ctx, at: (tag: number, pcid: number, root: number, addr: bigint) => has(tlb, ctx(tag, pcid, root), addr) };
}
const GA = 0x8000_0000n;

describe('INVLPG (SDM §4.10.4.1, §29.4.3.1)', () => {
  it('drops the page for the current PCID and its global entry, for every root of the current VPID only', () => {
    const { tlb, ctx, at } = populated();
    const [lo, hi] = halves(A + 0x123n);
    tlb.invlpg(ctx(1, 1, ROOT1), lo, hi);
    for (const root of [NO_ROOT, ROOT1, ROOT2]) {
      expect(at(1, 1, root, A)).toBe(false);
      expect(at(1, 2, root, A)).toBe(true); // another PCID
      expect(at(1, 1, root, B)).toBe(true); // another page
    }
    expect(at(2, 1, ROOT1, A)).toBe(true); // another VPID
    expect(at(0, 1, NO_ROOT, A)).toBe(true); // the host
    const [glo, ghi] = halves(GA);
    tlb.invlpg(ctx(1, 2, ROOT1), glo, ghi);
    expect(at(1, 1, ROOT1, GA)).toBe(false); // global, inserted from PCID 1, dropped from PCID 2
    expect(at(1, 1, ROOT2, GA)).toBe(false);
    expect(at(2, 1, ROOT1, GA)).toBe(true);
    expect(tlb.stats.flushes[FlushCause.Invlpg]).toBe(2);
  });

  it('drops every fragment of a large page containing the address', () => {
    const tlb = new Tlb({ entries: 64 });
    const c = tlb.context(0, 0, NO_ROOT);
    tlb.insert(c, 0x20_0000, 0, 0x4000_0000, 0x20_0000, RWX);
    tlb.insert(c, 0x3f_f000, 0, 0x4000_0000, 0x20_0000, RWX);
    tlb.insert(c, 0x40_0000, 0, 0x4000_0000, 0x1000, RWX); // the next 2 MiB region
    tlb.invlpg(c, 0x31_0000, 0);
    expect(tlb.lookup(c, 0x20_0000, 0)).toBe(-1);
    expect(tlb.lookup(c, 0x3f_f000, 0)).toBe(-1);
    expect(tlb.lookup(c, 0x40_0000, 0)).toBeGreaterThanOrEqual(0);
  });

  it('drops every paging-structure-cache entry of the current PCID, whatever the address', () => {
    const tlb = new Tlb({ entries: 64 });
    const c1 = tlb.context(1, 1, NO_ROOT);
    const c2 = tlb.context(1, 2, NO_ROOT);
    tlb.pscInsert(c1, 2, 0x4000_0000, 0, 0x5000, RWX);
    tlb.pscInsert(c1, 4, 0x4000_0000, 0, 0x6000, RWX);
    tlb.pscInsert(c2, 2, 0x4000_0000, 0, 0x7000, RWX);
    tlb.invlpg(c1, 0x1000, 0); // an unrelated address
    expect(tlb.pscLookup(c1, 0x4000_0000, 0, 4, 1)).toBe(0);
    expect(tlb.pscLookup(c2, 0x4000_0000, 0, 4, 1)).toBe(2);
    expect(tlb.pscTable).toBe(0x7000);
  });
});

describe('INVPCID (SDM §4.10.4.1)', () => {
  it('type 0: the page for one PCID, not global entries; the PCID loses its paging-structure-cache entries', () => {
    const { tlb, ctx, at } = populated();
    tlb.pscInsert(ctx(1, 2, NO_ROOT), 2, 0x4000_0000, 0, 0x5000, RWX);
    tlb.pscInsert(ctx(1, 1, NO_ROOT), 2, 0x4000_0000, 0, 0x6000, RWX);
    const [lo, hi] = halves(A);
    expect(tlb.invpcid(1, 0, 2, lo, hi)).toBe(true);
    expect(at(1, 2, NO_ROOT, A)).toBe(false);
    expect(at(1, 2, ROOT1, A)).toBe(false);
    expect(at(1, 1, NO_ROOT, A)).toBe(true);
    expect(at(1, 2, NO_ROOT, B)).toBe(true);
    expect(at(2, 2, NO_ROOT, A)).toBe(true);
    const [glo, ghi] = halves(GA);
    tlb.invpcid(1, 0, 1, glo, ghi);
    expect(at(1, 1, NO_ROOT, GA)).toBe(true); // global translations stay
    expect(tlb.pscLookup(ctx(1, 2, NO_ROOT), 0x4000_0000, 0, 4, 1)).toBe(0);
    expect(tlb.pscLookup(ctx(1, 1, NO_ROOT), 0x4000_0000, 0, 4, 1)).toBe(0); // PCID 1 was named by the second INVPCID
  });

  it('type 1: every non-global entry of one PCID', () => {
    const { tlb, at } = populated();
    tlb.invpcid(1, 1, 1, 0, 0);
    expect(at(1, 1, ROOT2, A)).toBe(false);
    expect(at(1, 1, NO_ROOT, B)).toBe(false);
    expect(at(1, 1, NO_ROOT, GA)).toBe(true);
    expect(at(1, 2, NO_ROOT, A)).toBe(true);
    expect(at(0, 1, NO_ROOT, A)).toBe(true);
  });

  it('type 2: everything of every PCID, globals included', () => {
    const { tlb, at } = populated();
    tlb.invpcid(1, 2, 0, 0, 0);
    for (const pcid of [1, 2]) {
      expect(at(1, pcid, ROOT1, A)).toBe(false);
      expect(at(1, pcid, ROOT1, GA)).toBe(false);
    }
    expect(at(2, 1, ROOT1, A)).toBe(true);
    expect(at(0, 1, NO_ROOT, GA)).toBe(true);
  });

  it('type 3: everything of every PCID except globals; other types are invalid', () => {
    const { tlb, at } = populated();
    tlb.invpcid(1, 3, 0, 0, 0);
    expect(at(1, 1, ROOT1, A)).toBe(false);
    expect(at(1, 2, NO_ROOT, B)).toBe(false);
    expect(at(1, 2, ROOT1, GA)).toBe(true);
    expect(at(2, 2, ROOT1, B)).toBe(true);
    expect(tlb.invpcid(1, 4, 0, 0, 0)).toBe(false);
    expect(tlb.stats.flushes[FlushCause.InvpcidAll]).toBe(1);
  });
});

describe('MOV to CR3 (SDM §4.10.4.1)', () => {
  it('without PCIDE: non-global entries and paging-structure caches of PCID 000H, whatever CR3 bits 11:0 hold', () => {
    const tlb = new Tlb({ entries: 64 });
    const c = tlb.context(0, 0, NO_ROOT);
    put(tlb, c, A);
    put(tlb, c, GA, 0x1000, RWX | G);
    tlb.pscInsert(c, 2, 0, 0, 0x5000, RWX);
    tlb.movToCr3(0, 0x0010_0018, 0, false); // PWT and PCD set
    expect(has(tlb, c, A)).toBe(false);
    expect(has(tlb, c, GA)).toBe(true);
    expect(tlb.pscLookup(c, 0, 0, 4, 1)).toBe(0);
  });

  it('with PCIDE: the new PCID only; with bit 63 set, nothing', () => {
    const { tlb, at } = populated();
    tlb.movToCr3(1, 0x0010_0000 | 2, 0, true);
    expect(at(1, 2, ROOT1, A)).toBe(false);
    expect(at(1, 1, ROOT1, A)).toBe(true);
    expect(at(1, 1, ROOT1, GA)).toBe(true);
    expect(at(2, 2, ROOT1, A)).toBe(true);
    tlb.movToCr3(1, 0x0010_0000 | 1, 1 << 31, true);
    expect(at(1, 1, ROOT1, A)).toBe(true);
    expect(tlb.stats.flushes[FlushCause.MovCr3]).toBe(1);
  });
});

describe('MOV to CR4 and CR0 (SDM §4.10.4.1)', () => {
  const PAE = 1 << 5;
  const PGE = 1 << 7;
  const PCIDE = 1 << 17;
  const SMEP = 1 << 20;

  it('a PGE change or PCIDE 1 -> 0 flushes everything of the VPID, globals included', () => {
    for (const [from, to] of [
      [PAE, PAE | PGE],
      [PAE | PGE, PAE],
      [PAE | PCIDE, PAE],
    ]) {
      const { tlb, ctx, at } = populated();
      tlb.movToCr4(ctx(1, 1, ROOT1), from, to);
      expect(at(1, 2, ROOT2, A)).toBe(false);
      expect(at(1, 1, NO_ROOT, GA)).toBe(false);
      expect(at(2, 1, ROOT1, A)).toBe(true);
    }
  });

  it('PCIDE 0 -> 1 and SMEP 1 -> 0 flush nothing; PAE changes and SMEP 0 -> 1 flush the current PCID', () => {
    const { tlb, ctx, at } = populated();
    tlb.movToCr4(ctx(1, 1, ROOT1), PAE, PAE | PCIDE);
    tlb.movToCr4(ctx(1, 1, ROOT1), PAE | SMEP, PAE);
    expect(at(1, 1, ROOT1, A)).toBe(true);
    tlb.movToCr4(ctx(1, 1, ROOT1), PAE, PAE | SMEP);
    expect(at(1, 1, ROOT1, A)).toBe(false);
    expect(at(1, 1, NO_ROOT, B)).toBe(false);
    expect(at(1, 2, ROOT1, A)).toBe(true);
    tlb.movToCr4(ctx(1, 2, ROOT1), PAE, 0);
    expect(at(1, 2, ROOT1, A)).toBe(false);
    expect(tlb.stats.flushes[FlushCause.MovCr4Pcid]).toBe(2);
    expect(tlb.stats.flushes[FlushCause.MovCr4All]).toBe(0);
  });

  it('MOV to CR0 flushes everything of the VPID only when it clears PG', () => {
    const { tlb, at } = populated();
    const PG = 1 << 31;
    tlb.movToCr0(1, PG | 1, PG | 1 | (1 << 16)); // WP set: no flush
    tlb.movToCr0(1, 1, PG | 1); // PG set: no flush
    expect(at(1, 1, ROOT1, A)).toBe(true);
    tlb.movToCr0(1, PG | 1, 1);
    expect(at(1, 1, ROOT1, A)).toBe(false);
    expect(at(1, 2, NO_ROOT, GA)).toBe(false);
    expect(at(0, 1, NO_ROOT, A)).toBe(true);
  });
});

describe('INVEPT (SDM §29.4.3.1)', () => {
  it('single-context: every mapping derived from the EP4TA, for every VPID and PCID, globals included', () => {
    const { tlb, at } = populated();
    expect(tlb.invept(1, ROOT1)).toBe(true);
    for (const tag of [0, 1, 2]) {
      expect(at(tag, 2, ROOT1, A)).toBe(false);
      expect(at(tag, 1, ROOT1, GA)).toBe(false);
      expect(at(tag, 1, ROOT2, A)).toBe(true);
      expect(at(tag, 1, NO_ROOT, A)).toBe(true);
    }
  });

  it('global: every combined mapping, no linear mapping; other types fail', () => {
    const { tlb, at } = populated();
    expect(tlb.invept(2, 0)).toBe(true);
    expect(at(1, 1, ROOT1, A)).toBe(false);
    expect(at(2, 1, ROOT2, GA)).toBe(false);
    expect(at(1, 1, NO_ROOT, A)).toBe(true);
    expect(at(1, 1, NO_ROOT, GA)).toBe(true);
    expect(tlb.invept(3, 0)).toBe(false);
    expect(tlb.invept(0, ROOT2)).toBe(false);
    expect(at(0, 1, NO_ROOT, A)).toBe(true);
  });
});

describe('INVVPID (SDM §29.4.3.3)', () => {
  it('type 0: one address of one VPID, globals included, every PCID and root, and its paging-structure-cache entries', () => {
    const { tlb, ctx, at } = populated();
    const c = ctx(1, 1, ROOT1);
    tlb.pscInsert(c, 2, 0x8000_0000, 0, 0x5000, RWX); // covers GA
    tlb.pscInsert(c, 2, 0x4000_0000, 0, 0x6000, RWX); // does not
    const [lo, hi] = halves(A);
    expect(tlb.invvpid(0, 1, lo, hi)).toBe(true);
    for (const pcid of [1, 2]) {
      for (const root of [NO_ROOT, ROOT1, ROOT2]) {
        expect(at(1, pcid, root, A)).toBe(false);
        expect(at(1, pcid, root, B)).toBe(true);
      }
    }
    expect(at(2, 1, ROOT1, A)).toBe(true);
    const [glo, ghi] = halves(GA);
    tlb.invvpid(0, 1, glo, ghi);
    expect(at(1, 2, ROOT1, GA)).toBe(false);
    expect(at(1, 2, ROOT2, GA)).toBe(false);
    expect(at(2, 2, ROOT1, GA)).toBe(true);
    expect(tlb.pscLookup(c, 0x8000_0000, 0, 4, 1)).toBe(0);
    expect(tlb.pscLookup(c, 0x4000_0000, 0, 4, 1)).toBe(2);
  });

  it('type 1: every mapping of one VPID', () => {
    const { tlb, at } = populated();
    tlb.invvpid(1, 2, 0, 0);
    expect(at(2, 1, ROOT1, GA)).toBe(false);
    expect(at(2, 2, NO_ROOT, B)).toBe(false);
    expect(at(1, 2, NO_ROOT, B)).toBe(true);
    expect(at(0, 2, NO_ROOT, B)).toBe(true);
  });

  it('type 2: every VPID except 0000H', () => {
    const { tlb, at } = populated();
    expect(tlb.invvpid(2, 0, 0, 0)).toBe(true);
    for (const tag of [1, 2]) {
      expect(at(tag, 1, ROOT1, A)).toBe(false);
      expect(at(tag, 1, NO_ROOT, GA)).toBe(false);
    }
    expect(at(0, 1, ROOT1, A)).toBe(true);
    expect(at(0, 1, NO_ROOT, GA)).toBe(true);
  });

  it('type 3: every mapping of one VPID except globals', () => {
    const { tlb, at } = populated();
    tlb.invvpid(3, 1, 0, 0);
    expect(at(1, 1, ROOT1, A)).toBe(false);
    expect(at(1, 2, ROOT2, B)).toBe(false);
    expect(at(1, 2, ROOT1, GA)).toBe(true);
    expect(at(2, 1, ROOT1, A)).toBe(true);
  });

  it('fails for VPID 0 with types 0, 1 and 3, and for other types, invalidating nothing', () => {
    const { tlb, at } = populated();
    const [lo, hi] = halves(A);
    expect(tlb.invvpid(0, 0, lo, hi)).toBe(false);
    expect(tlb.invvpid(1, 0, 0, 0)).toBe(false);
    expect(tlb.invvpid(3, 0, 0, 0)).toBe(false);
    expect(tlb.invvpid(4, 1, 0, 0)).toBe(false);
    expect(at(0, 1, NO_ROOT, A)).toBe(true);
    expect(at(1, 1, NO_ROOT, A)).toBe(true);
    expect(tlb.stats.flushes.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('VMX transitions flush VPID 0000H only when VPIDs are disabled', () => {
    const { tlb, at } = populated();
    tlb.vmxTransition(true);
    expect(at(0, 1, NO_ROOT, A)).toBe(true);
    tlb.vmxTransition(false);
    expect(at(0, 1, NO_ROOT, A)).toBe(false);
    expect(at(0, 2, ROOT1, GA)).toBe(false);
    expect(at(1, 1, NO_ROOT, A)).toBe(true);
  });
});

describe('SVM: INVLPGA and TLB_CONTROL (APM Vol. 2 §15.16)', () => {
  it('INVLPGA drops one page of one ASID, global or not, for every PCID and nCR3', () => {
    const { tlb, ctx, at } = populated();
    const c = ctx(2, 1, ROOT1);
    tlb.pscInsert(c, 3, 0, 0, 0x5000, RWX); // covers A (bits 47:30 are 0)
    tlb.pscInsert(ctx(1, 1, ROOT1), 3, 0, 0, 0x6000, RWX);
    const [lo, hi] = halves(A);
    tlb.invlpga(2, lo, hi);
    for (const pcid of [1, 2]) {
      expect(at(2, pcid, ROOT1, A)).toBe(false);
      expect(at(2, pcid, ROOT2, A)).toBe(false);
      expect(at(2, pcid, ROOT1, B)).toBe(true);
      expect(at(1, pcid, ROOT1, A)).toBe(true);
      expect(at(0, pcid, NO_ROOT, A)).toBe(true);
    }
    const [glo, ghi] = halves(GA);
    tlb.invlpga(2, glo, ghi);
    expect(at(2, 2, ROOT2, GA)).toBe(false);
    expect(at(0, 2, ROOT2, GA)).toBe(true);
    expect(tlb.pscLookup(c, lo, hi, 4, 1)).toBe(0);
    expect(tlb.pscLookup(ctx(1, 1, ROOT1), lo, hi, 4, 1)).toBe(3);
  });

  it('TLB_CONTROL 0 does nothing', () => {
    const { tlb, at } = populated();
    expect(tlb.tlbControl(1, 0)).toBe(true);
    expect(at(1, 1, ROOT1, A)).toBe(true);
    expect(tlb.liveEntries()).toBe(3 * 3 * 5);
  });

  it('TLB_CONTROL 1 flushes every ASID, the host included', () => {
    const { tlb, at } = populated();
    tlb.tlbControl(1, 1);
    expect(tlb.liveEntries()).toBe(0);
    expect(at(0, 1, NO_ROOT, GA)).toBe(false);
    expect(tlb.stats.flushes[FlushCause.TlbControlAll]).toBe(1);
  });

  it("TLB_CONTROL 3 flushes this guest's ASID", () => {
    const { tlb, at } = populated();
    tlb.tlbControl(2, 3);
    expect(at(2, 1, ROOT1, A)).toBe(false);
    expect(at(2, 1, ROOT1, GA)).toBe(false);
    expect(at(1, 1, ROOT1, A)).toBe(true);
    expect(at(0, 1, NO_ROOT, A)).toBe(true);
  });

  it("TLB_CONTROL 7 flushes this guest's non-global entries; reserved values do nothing", () => {
    const { tlb, at } = populated();
    tlb.tlbControl(2, 7);
    expect(at(2, 1, ROOT1, A)).toBe(false);
    expect(at(2, 2, ROOT1, GA)).toBe(true);
    expect(at(1, 1, ROOT1, A)).toBe(true);
    for (const reserved of [2, 4, 5, 6, 8]) expect(tlb.tlbControl(1, reserved)).toBe(false);
    expect(at(1, 1, ROOT1, A)).toBe(true);
  });

  it('ASID 0 / VPID 0 is the host: guest-scoped operations leave its entries', () => {
    const { tlb, ctx, at } = populated();
    const [lo, hi] = halves(A);
    tlb.invlpg(ctx(1, 1, NO_ROOT), lo, hi);
    tlb.movToCr3(2, 1, 0, true);
    tlb.invpcid(1, 2, 0, 0, 0);
    tlb.tlbControl(2, 3);
    tlb.invvpid(2, 0, 0, 0);
    expect(at(0, 1, NO_ROOT, A)).toBe(true);
    expect(at(0, 2, NO_ROOT, B)).toBe(true);
    expect(at(0, 1, NO_ROOT, GA)).toBe(true);
    expect(tlb.liveEntries()).toBe(3 * 5);
  });
});

// ---------------------------------------------------------------------------------------------
// Paging-structure caches with a 4-level walk that uses them (the walker is test-side: the
// guest walker in paging.ts always starts from CR3).

class CountingMemory implements PageTableMemory {
  readonly view = new DataView(new ArrayBuffer(0x10_0000));
  reads = 0;
  read32(gpa: number): number {
    this.reads++;
    return this.view.getUint32(gpa, true);
  }
  write32(gpa: number, value: number): void {
    this.view.setUint32(gpa, value >>> 0, true);
  }
}

/**
 * Walks 4-level paging for `lin` (below 2^32) starting at the deepest cached paging-structure
 * entry, caching the PML4E, PDPTE and PDE it reads (SDM §4.10.3.1). Returns the physical page.
 */
function walkWithPsc(tlb: Tlb, ctx: number, mem: CountingMemory, cr3: number, lin: number): number {
  let level = 4;
  let table = cr3;
  const hit = tlb.pscLookup(ctx, lin, 0, 4, 1);
  if (hit !== 0) {
    level = hit - 1;
    table = tlb.pscTable;
  }
  for (;;) {
    const index = level === 4 ? 0 : level === 3 ? lin >>> 30 : level === 2 ? (lin >>> 21) & 0x1ff : (lin >>> 12) & 0x1ff;
    const lo = mem.read32(table + index * 8);
    mem.read32(table + index * 8 + 4);
    const next = (lo & ~0xfff) >>> 0;
    if (level === 1) return next;
    tlb.pscInsert(ctx, level, lin, 0, next, RWX);
    table = next;
    level--;
  }
}

describe('paging-structure caches (SDM §4.10.3)', () => {
  /** PML4 at 0x1000, PDPT at 0x2000, PDs at 0x3000 (1 GiB 0) and 0x4000 (1 GiB 1), PTs at 0x5000, 0x6000. */
  function tables(): CountingMemory {
    const mem = new CountingMemory();
    const e = (at: number, to: number) => mem.write32(at, to | 0x27);
    e(0x1000, 0x2000);
    e(0x2000, 0x3000);
    e(0x2008, 0x4000);
    e(0x3000, 0x5000);
    e(0x4000, 0x6000);
    for (let i = 0; i < 512; i++) {
      e(0x5000 + i * 8, 0x10_0000 + i * 0x1000);
      e(0x6000 + i * 8, 0x80_0000 + i * 0x1000);
    }
    return mem;
  }

  it('spare walk references: 4 per walk without them, 1 after a PDE-cache hit, 2 after a PDPTE-cache hit', () => {
    for (const enabled of [false, true]) {
      const mem = tables();
      const tlb = new Tlb({ pagingStructureCaches: enabled });
      const ctx = tlb.context(0, 0, NO_ROOT);
      // 16 pages of the first 2 MiB, then one page in the second GiB.
      for (let i = 0; i < 16; i++) expect(walkWithPsc(tlb, ctx, mem, 0x1000, i * 0x1000)).toBe(0x10_0000 + i * 0x1000);
      expect(walkWithPsc(tlb, ctx, mem, 0x1000, 0x4000_3000)).toBe(0x80_3000);
      // Each entry read is two dword reads; a full walk reads 4 entries.
      const entries = mem.reads / 2;
      if (enabled) {
        // 4 + 15 * 1 (PDE cache) + 3 (PML4E cache: PDPTE, PDE, PTE).
        expect(entries).toBe(4 + 15 + 3);
        expect(tlb.stats.walkReferencesSaved).toBe(15 * 3 + 1);
        expect(tlb.stats.pscHits).toBe(16);
        expect(tlb.stats.pscMisses).toBe(1);
      } else {
        expect(entries).toBe(17 * 4);
        expect(tlb.stats.walkReferencesSaved).toBe(0);
        expect(tlb.pscLiveEntries(2)).toBe(0);
      }
    }
  });

  it('count refsPerEntry references per skipped entry (a guest walk under a second level)', () => {
    const tlb = new Tlb();
    const ctx = tlb.context(1, 0, ROOT1);
    tlb.pscInsert(ctx, 3, 0x4000_0000, 0, 0x9000, TlbPerm.User);
    // A PDPTE-cache hit spares the PML4E and PDPTE reads, each 1 + 4 EPT references.
    expect(tlb.pscLookup(ctx, 0x4012_3000, 0, 4, 5)).toBe(3);
    expect(tlb.pscTable).toBe(0x9000);
    expect(tlb.pscRights).toBe(TlbPerm.User);
    expect(tlb.stats.walkReferencesSaved).toBe(10);
  });

  it('are keyed by context like the TLB', () => {
    const tlb = new Tlb();
    tlb.pscInsert(tlb.context(1, 0, ROOT1), 2, 0, 0, 0x9000, RWX);
    expect(tlb.pscLookup(tlb.context(1, 0, ROOT1), 0x1000, 0, 4, 1)).toBe(2);
    expect(tlb.pscLookup(tlb.context(1, 1, ROOT1), 0x1000, 0, 4, 1)).toBe(0);
    expect(tlb.pscLookup(tlb.context(2, 0, ROOT1), 0x1000, 0, 4, 1)).toBe(0);
    expect(tlb.pscLookup(tlb.context(1, 0, ROOT2), 0x1000, 0, 4, 1)).toBe(0);
    // The key is linear bits 47:21 for the PDE cache: another 2 MiB region misses.
    expect(tlb.pscLookup(tlb.context(1, 0, ROOT1), 0x20_0000, 0, 4, 1)).toBe(0);
  });
});

describe('tagged versus untagged', () => {
  it('a switch between two tagged contexts keeps both contexts’ entries; an untagged TLB flushes them', () => {
    const PAGES = 8;
    const ROUNDS = 10;
    const hits: number[] = [];
    for (const tagged of [true, false]) {
      const tlb = new Tlb({ tagged });
      let h = 0;
      for (let round = 0; round < ROUNDS; round++) {
        for (const vpid of [1, 2]) {
          const ctx = tlb.context(vpid, 0, ROOT1);
          for (let p = 0; p < PAGES; p++) {
            const lin = 0x40_0000 + p * 0x1000;
            if (tlb.lookup(ctx, lin, 0) >= 0) h++;
            else tlb.insert(ctx, lin, 0, 0x100_0000 * vpid + p * 0x1000, 0x1000, RWX);
          }
        }
      }
      expect(tlb.stats.hits).toBe(h);
      if (!tagged) expect(tlb.stats.flushes[FlushCause.UntaggedSwitch]).toBe(2 * ROUNDS - 1);
      hits.push(h);
    }
    // Tagged: only the first visit of each context misses. Untagged: every visit misses.
    expect(hits).toEqual([2 * ROUNDS * PAGES - 2 * PAGES, 0]);
  });
});

describe('the guest walker feeds the TLB', () => {
  it('inserts a PageWalker result', () => {
    const mem = new CountingMemory();
    const e = (at: number, to: number) => mem.write32(at, to | 0x27);
    e(0x1000, 0x2000);
    e(0x2000, 0x3000);
    mem.write32(0x3008, 0x60_0000 | 0xa7 | 0x100 | 0x40); // 2 MiB page, G, D, user, writable
    const walker = new PageWalker(mem);
    expect(walker.walk(PagingMode.Level4, 0x1000, 0, 0x23_4567, 0, 0, 0)).toBe(true);
    const tlb = new Tlb();
    const i = tlb.insertWalk(tlb.context(0, 0, NO_ROOT), 0x23_4567, 0, walker, true);
    expect(tlb.hostPage[i]).toBe(0x63_4000);
    expect(tlb.perms[i]).toBe(RWX | G);
  });
});
