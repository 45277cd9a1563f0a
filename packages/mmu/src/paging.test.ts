import { beforeEach, describe, expect, it } from 'vitest';
import {
  accessErrorCode,
  Cr3,
  cr3Address,
  cr3AddressMaskHi,
  cr3AddressMaskLo,
  cr3Pcid,
  isAccessPermitted,
  PageAccess,
  PageFaultErrorCode as PF,
  PageSize,
  type PageTableMemory,
  PageWalker,
  type PageWalkerOptions,
  PagingMode,
  pagingModeOf,
  WalkControl as C,
  walkControlOf,
} from './index.js';

// ---------------------------------------------------------------------------------------------
// Fixture: paging structures in plain byte arrays, one region at 0 and one above 4 GiB so that
// entry address bits 32 and up are exercised. Any access outside them throws.

const LOW_SIZE = 0x20_0000;
const HIGH_BASE = 0xf_0000_0000;
const HIGH_SIZE = 0x1_0000;
const TWO_32 = 2 ** 32;

class TestMemory implements PageTableMemory {
  private readonly low = new DataView(new ArrayBuffer(LOW_SIZE));
  private readonly high = new DataView(new ArrayBuffer(HIGH_SIZE));
  readonly reads: number[] = [];
  readonly writes: [number, number][] = [];
  /** Return reads as signed 32-bit values instead of unsigned ones. */
  signedReads = false;

  private at(gpa: number): [DataView, number] {
    if (gpa % 4 !== 0) throw new Error(`unaligned access at ${gpa.toString(16)}`);
    if (gpa >= 0 && gpa + 4 <= LOW_SIZE) return [this.low, gpa];
    if (gpa >= HIGH_BASE && gpa + 4 <= HIGH_BASE + HIGH_SIZE) return [this.high, gpa - HIGH_BASE];
    throw new Error(`access outside the test memory at ${gpa.toString(16)}`);
  }

  read32(gpa: number): number {
    this.reads.push(gpa);
    const [view, off] = this.at(gpa);
    return this.signedReads ? view.getInt32(off, true) : view.getUint32(off, true);
  }

  write32(gpa: number, value: number): void {
    this.writes.push([gpa, value >>> 0]);
    const [view, off] = this.at(gpa);
    view.setUint32(off, value >>> 0, true);
  }

  /** Test-side accessors, not logged. */
  set32(gpa: number, value: number): void {
    const [view, off] = this.at(gpa);
    view.setUint32(off, value >>> 0, true);
  }
  get32(gpa: number): number {
    const [view, off] = this.at(gpa);
    return view.getUint32(off, true);
  }
  set64(gpa: number, lo: number, hi: number): void {
    this.set32(gpa, lo);
    this.set32(gpa + 4, hi);
  }
  clearLog(): void {
    this.reads.length = 0;
    this.writes.length = 0;
  }
}

// Entry bits.
const P = 1;
const RW = 2;
const US = 4;
const A = 0x20;
const D = 0x40;
const PS = 0x80;
const G = 0x100;
const XD = 0x8000_0000;
const PRW_US = P | RW | US;

const lo32 = (v: bigint) => Number(BigInt.asIntN(32, v));
const hi32 = (v: bigint) => Number(BigInt.asIntN(32, v >> 32n));

/** Table addresses for the long-mode and PAE fixtures, by level. */
const T: Record<number, number> = { 5: 0x1000, 4: 0x2000, 3: 0x3000, 2: 0x4000, 1: 0x5000 };
const shiftOf: Record<number, bigint> = { 5: 48n, 4: 39n, 3: 30n, 2: 21n, 1: 12n };
const indexOf = (lin: bigint, level: number) => Number((lin >> shiftOf[level]) & 0x1ffn);

interface MapOptions {
  /** Low-half flags by level (default P|RW|US, plus PS for a large leaf). */
  flags?: Record<number, number>;
  /** Extra high-half bits by level. */
  hi?: Record<number, number>;
  /** Next-table address by level (default: T[level - 1]). */
  next?: Record<number, number>;
}

/**
 * Maps `lin` with 4- or 5-level paging from table T[top] down to `leaf` (1: 4 KiB, 2: 2 MiB,
 * 3: 1 GiB) onto physical `target`. Returns each level's entry address.
 */
function mapLong(mem: TestMemory, lin: bigint, top: number, leaf: number, target: number, o: MapOptions = {}): Record<number, number> {
  const entries: Record<number, number> = {};
  let table = T[top];
  for (let level = top; level >= leaf; level--) {
    const addr = table + indexOf(lin, level) * 8;
    entries[level] = addr;
    const dest = level === leaf ? target : (o.next?.[level] ?? T[level - 1]);
    const flags = o.flags?.[level] ?? (level === leaf && leaf > 1 ? PRW_US | PS : PRW_US);
    mem.set64(addr, (dest % TWO_32) | flags, Math.floor(dest / TWO_32) | (o.hi?.[level] ?? 0));
    table = dest;
  }
  return entries;
}

const LIN5 = 0x00ab_cdef_1234_5678n; // distinct non-zero indexes at all five levels
const LIN4 = 0xffff_9abc_def1_2345n; // canonical, distinct indexes at all four levels

function walkAt(w: PageWalker, mode: PagingMode, cr3: number, lin: bigint, access: number, ctl: number): boolean {
  return w.walk(mode, lo32(BigInt(cr3)), hi32(BigInt(cr3)), lo32(lin), hi32(lin), access, ctl);
}

// ---------------------------------------------------------------------------------------------

describe('pagingModeOf (SDM §4.1.1, Table 4-1)', () => {
  const PG = 1 << 31;
  const PAE = 1 << 5;
  const LA57 = 1 << 12;
  const LME = 1 << 8;
  const LMA = 1 << 10;
  it.each([
    [0, PAE | LA57, LME, PagingMode.None],
    [PG, 0, 0, PagingMode.Legacy32],
    [PG, LA57, LME, PagingMode.Legacy32],
    [PG, PAE, 0, PagingMode.Pae],
    [PG, PAE | LA57, 0, PagingMode.Pae],
    [PG, PAE, LME, PagingMode.Level4],
    [PG, PAE, LMA, PagingMode.Level4],
    [PG, PAE | LA57, LME | LMA, PagingMode.Level5],
  ])('cr0=%i cr4=%i efer=%i -> %i', (cr0, cr4, efer, mode) => {
    expect(pagingModeOf(cr0 | 1, cr4, efer)).toBe(mode);
  });
});

describe('walkControlOf', () => {
  it.each([
    [1 << 16, 0, 0, 0, 0, C.Wp],
    [0, 1 << 4, 0, 0, 0, C.Pse],
    [0, 1 << 5, 0, 0, 0, C.Pae],
    [0, 1 << 20, 0, 0, 0, C.Smep],
    [0, 1 << 21, 0, 0, 0, C.Smap],
    [0, 1 << 17, 0, 0, 0, C.Pcide],
    [0, 1 << 12, 0, 0, 0, C.La57],
    [0, 0, 1 << 11, 0, 0, C.Nxe],
    [0, 0, 0, 1 << 18, 0, C.Ac],
    [0, 0, 0, 0, 3, C.Cpl3],
    [0, 0, 0, 0, 2, 0],
  ])('cr0=%i cr4=%i efer=%i eflags=%i cpl=%i -> %i', (cr0, cr4, efer, eflags, cpl, bits) => {
    expect(walkControlOf(cr0 | 1, cr4, efer, eflags, cpl)).toBe(bits);
  });
  it('ignores unrelated bits', () => {
    expect(walkControlOf(~(1 << 16), ~0x32_1030, ~(1 << 11), ~(1 << 18), 0)).toBe(0);
  });
});

describe('CR3 helpers (SDM §4.3, §4.4.1, §4.5, §4.10.1)', () => {
  it('cr3Pcid is bits 11:0', () => {
    expect(cr3Pcid(0x1234_5abc)).toBe(0xabc);
    expect(cr3Pcid(0xffff_f000 | 0)).toBe(0);
  });
  it('the no-flush bit is bit 63, bit 31 of the high half', () => {
    expect(Cr3.NoFlushHi >>> 0).toBe(0x8000_0000);
    expect(hi32(1n << 63n) & Cr3.NoFlushHi).not.toBe(0);
    expect(hi32((1n << 63n) - 1n) & Cr3.NoFlushHi).toBe(0);
  });
  it('masks the low half by mode', () => {
    expect(cr3AddressMaskLo(PagingMode.None)).toBe(0);
    expect(cr3AddressMaskLo(PagingMode.Legacy32) >>> 0).toBe(0xffff_f000);
    expect(cr3AddressMaskLo(PagingMode.Pae) >>> 0).toBe(0xffff_ffe0);
    expect(cr3AddressMaskLo(PagingMode.Level4) >>> 0).toBe(0xffff_f000);
    expect(cr3AddressMaskLo(PagingMode.Level5) >>> 0).toBe(0xffff_f000);
  });
  it('masks the high half up to MAXPHYADDR with 4/5-level paging only', () => {
    expect(cr3AddressMaskHi(PagingMode.Level4, 48)).toBe(0xffff);
    expect(cr3AddressMaskHi(PagingMode.Level5, 52)).toBe(0xf_ffff);
    expect(cr3AddressMaskHi(PagingMode.Level4, 36)).toBe(0xf);
    expect(cr3AddressMaskHi(PagingMode.Pae, 52)).toBe(0);
    expect(cr3AddressMaskHi(PagingMode.Legacy32, 52)).toBe(0);
  });
  it('cr3Address drops the PCID, flag and reserved bits', () => {
    // PCID 0xabc, no-flush bit, bits 62:48 set: only 47:12 remain.
    expect(cr3Address(PagingMode.Level4, 0x1234_5abc, 0xffff_0012 | 0, 48)).toBe(0x12_1234_5000);
    expect(cr3Address(PagingMode.Level5, 0x1234_5abc, 0x0012, 40)).toBe(0x12_1234_5000);
    expect(cr3Address(PagingMode.Level4, 0x1234_5abc, 0x0312, 40)).toBe(0x12_1234_5000);
    // PAE: 32-byte aligned, 32 bits.
    expect(cr3Address(PagingMode.Pae, 0xfedc_ba78 | 0, 1, 52)).toBe(0xfedc_ba60);
    // 32-bit paging: bits 31:12.
    expect(cr3Address(PagingMode.Legacy32, 0xfedc_ba78 | 0, 1, 52)).toBe(0xfedc_b000);
    expect(cr3Address(PagingMode.None, 0xfedc_ba78 | 0, 1, 52)).toBe(0);
  });
});

describe('PageWalker construction', () => {
  it.each([31, 53, 40.5, Number.NaN])('rejects maxPhyAddr %s', (m) => {
    expect(() => new PageWalker(new TestMemory(), { maxPhyAddr: m })).toThrow(RangeError);
  });
  it('defaults to MAXPHYADDR 48, no 1 GiB pages, Intel rules', () => {
    const w = new PageWalker(new TestMemory());
    expect([w.maxPhyAddr, w.gbPages, w.amd]).toEqual([48, false, false]);
  });
});

describe('paging off (PagingMode.None)', () => {
  it('is the identity on the low 32 bits, with every right', () => {
    const mem = new TestMemory();
    const w = new PageWalker(mem);
    expect(w.walk(PagingMode.None, 0, 0, 0xdead_beef | 0, 0x1234, PageAccess.Write, C.Wp | C.Cpl3)).toBe(true);
    expect(w.physAddr).toBe(0xdead_beef);
    expect(w.pageBase).toBe(0xdead_b000);
    expect(w.pageSize).toBe(PageSize.Size4K);
    expect([w.user, w.writable, w.executable, w.dirty]).toEqual([true, true, true, true]);
    expect(mem.reads).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('4-level paging (SDM §4.5)', () => {
  let mem: TestMemory;
  let w: PageWalker;
  beforeEach(() => {
    mem = new TestMemory();
    w = new PageWalker(mem, { gbPages: true });
  });

  it('translates a 4 KiB page, using linear bits 47:12 as four indexes', () => {
    const e = mapLong(mem, LIN4, 4, 1, 0x7_6543_2000);
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, PageAccess.Read, 0)).toBe(true);
    expect(w.pageSize).toBe(PageSize.Size4K);
    expect(w.pageBase).toBe(0x7_6543_2000);
    expect(w.physAddr).toBe(0x7_6543_2345);
    // Exactly the four entries, low half first.
    expect(mem.reads.filter((a) => a % 8 === 0)).toEqual([e[4], e[3], e[2], e[1]]);
  });

  it('ignores linear bits 63:48 (the caller checks canonicality)', () => {
    mapLong(mem, LIN4, 4, 1, 0x7_6543_2000);
    const other = LIN4 & 0x0000_ffff_ffff_ffffn;
    expect(walkAt(w, PagingMode.Level4, T[4], other, PageAccess.Read, 0)).toBe(true);
    expect(w.physAddr).toBe(0x7_6543_2345);
  });

  it('takes CR3 bits 51:12 and ignores the PCID', () => {
    mapLong(mem, LIN4, 4, 1, 0x1000);
    expect(w.walk(PagingMode.Level4, T[4] | 0xabc, 0, lo32(LIN4), hi32(LIN4), 0, C.Pcide)).toBe(true);
    expect(w.physAddr).toBe(0x1345);
  });

  it('follows table pointers above 4 GiB (entry bits 51:32)', () => {
    const highPt = HIGH_BASE + 0x3000;
    const e = mapLong(mem, LIN4, 4, 2, 0, { next: { 2: highPt } });
    // Replace the leaf: PD entry points to a page table in the high region.
    mem.set64(e[2], (highPt % TWO_32) | PRW_US, highPt / TWO_32);
    const pte = highPt + indexOf(LIN4, 1) * 8;
    mem.set64(pte, 0x9000 | PRW_US, 0x1);
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, 0, 0)).toBe(true);
    expect(w.physAddr).toBe(0x1_0000_9345);
    expect(mem.get32(pte) & A).toBe(A);
  });

  it('takes the PML4 address from CR3 bits above 31 too', () => {
    const pml4 = HIGH_BASE + 0x8000;
    mem.set64(pml4 + indexOf(LIN4, 4) * 8, T[3] | PRW_US, 0);
    mapLong(mem, LIN4, 3, 1, 0x2000);
    expect(walkAt(w, PagingMode.Level4, pml4, LIN4, 0, 0)).toBe(true);
    expect(w.physAddr).toBe(0x2345);
    expect(mem.reads[0]).toBe(pml4 + indexOf(LIN4, 4) * 8);
  });

  it('translates a 2 MiB page (PS in the PDE)', () => {
    mapLong(mem, LIN4, 4, 2, 0x3_4560_0000);
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, 0, 0)).toBe(true);
    expect(w.pageSize).toBe(PageSize.Size2M);
    expect(w.pageBase).toBe(0x3_4560_0000);
    expect(w.physAddr).toBe(0x3_4560_0000 + Number(LIN4 & 0x1f_ffffn));
  });

  it('translates a 1 GiB page (PS in the PDPTE) when 1 GiB pages are supported', () => {
    mapLong(mem, LIN4, 4, 3, 0x5_4000_0000);
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, 0, 0)).toBe(true);
    expect(w.pageSize).toBe(PageSize.Size1G);
    expect(w.pageBase).toBe(0x5_4000_0000);
    expect(w.physAddr).toBe(0x5_4000_0000 + Number(LIN4 & 0x3fff_ffffn));
  });

  it('ignores the PAT bit 12 of large pages', () => {
    mapLong(mem, LIN4, 4, 3, 0x5_4000_0000, { flags: { 3: PRW_US | PS | 0x1000 } });
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, 0, 0)).toBe(true);
    expect(w.pageBase).toBe(0x5_4000_0000);
    mapLong(mem, LIN4, 4, 2, 0x3_4560_0000, { flags: { 2: PRW_US | PS | 0x1000 } });
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, 0, 0)).toBe(true);
    expect(w.pageBase).toBe(0x3_4560_0000);
  });

  it('ignores entry bits 62:52 (available / protection keys)', () => {
    mapLong(mem, LIN4, 4, 1, 0x1000, { hi: { 4: 0x7ff0_0000, 3: 0x7ff0_0000, 2: 0x7ff0_0000, 1: 0x7ff0_0000 } });
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, 0, 0)).toBe(true);
    expect(w.physAddr).toBe(0x1345);
  });

  it('reports the G flag of the leaf entry only', () => {
    mapLong(mem, LIN4, 4, 1, 0x1000, { flags: { 2: PRW_US | G } });
    walkAt(w, PagingMode.Level4, T[4], LIN4, 0, 0);
    expect(w.global).toBe(false);
    mapLong(mem, LIN4, 4, 1, 0x1000, { flags: { 1: PRW_US | G } });
    walkAt(w, PagingMode.Level4, T[4], LIN4, 0, 0);
    expect(w.global).toBe(true);
    mapLong(mem, LIN4, 4, 2, 0x20_0000, { flags: { 2: PRW_US | PS | G } });
    walkAt(w, PagingMode.Level4, T[4], LIN4, 0, 0);
    expect(w.global).toBe(true);
  });

  it('accepts signed and unsigned dwords from read32', () => {
    mapLong(mem, LIN4, 4, 1, 0xffff_f000, { hi: { 1: XD } });
    mem.signedReads = true;
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, 0, C.Nxe)).toBe(true);
    expect(w.physAddr).toBe(0xffff_f345);
    expect(w.executable).toBe(false);
  });
});

describe('5-level paging (SDM §4.5)', () => {
  it('translates through the PML5 with linear bits 56:48', () => {
    const mem = new TestMemory();
    const w = new PageWalker(mem);
    const e = mapLong(mem, LIN5, 5, 1, 0x8_8888_8000);
    expect(walkAt(w, PagingMode.Level5, T[5], LIN5, 0, C.La57)).toBe(true);
    expect(w.physAddr).toBe(0x8_8888_8678);
    expect(mem.reads.filter((a) => a % 8 === 0)).toEqual([e[5], e[4], e[3], e[2], e[1]]);
    for (const level of [5, 4, 3, 2, 1]) expect(mem.get32(e[level]) & A).toBe(A);
  });

  it('translates a 2 MiB page under 5 levels', () => {
    const mem = new TestMemory();
    const w = new PageWalker(mem);
    mapLong(mem, LIN5, 5, 2, 0x20_0000);
    expect(walkAt(w, PagingMode.Level5, T[5], LIN5, 0, 0)).toBe(true);
    expect(w.pageSize).toBe(PageSize.Size2M);
    expect(w.physAddr).toBe(0x20_0000 + Number(LIN5 & 0x1f_ffffn));
  });
});

describe('PAE paging (SDM §4.4)', () => {
  const PDPT = 0x6020; // 32-byte aligned, not page aligned
  const PD = 0x7000;
  const PT = 0x8000;
  const LIN = 0xc0a1_2345; // PDPTE 3, PDE 5, PTE 0x12
  let mem: TestMemory;
  let w: PageWalker;
  const pdpte = (i: number) => PDPT + i * 8;
  const pde = PD + 5 * 8;
  const pte = PT + 0x12 * 8;

  beforeEach(() => {
    mem = new TestMemory();
    w = new PageWalker(mem, { maxPhyAddr: 40 });
    mem.set64(pdpte(3), PD | P, 0);
    mem.set64(pde, PT | PRW_US, 0);
    mem.set64(pte, 0x4_5000 | PRW_US, 0x12);
  });

  it('loads the PDPTEs from CR3 bits 31:5 and translates a 4 KiB page', () => {
    expect(w.loadPdptes(PDPT | 0x1f)).toBe(true);
    expect(w.pdptes[6]).toBe(PD | P);
    mem.clearLog();
    expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0x7777, 0, C.Pae)).toBe(true);
    expect(w.physAddr).toBe(0x12_0004_5345);
    expect(w.pageSize).toBe(PageSize.Size4K);
    // The walk reads the PDE and the PTE only: the PDPTE comes from the register.
    expect(mem.reads).toEqual([pde, pde + 4, pte, pte + 4]);
  });

  it('follows a PDPTE to a page directory above 4 GiB', () => {
    const highPd = HIGH_BASE + 0x2000;
    mem.set64(pdpte(3), (highPd % TWO_32) | P, highPd / TWO_32);
    mem.set64(highPd + 5 * 8, 0x60_0000 | PRW_US | PS, 0);
    expect(w.loadPdptes(PDPT)).toBe(true);
    expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, 0, 0)).toBe(true);
    expect(w.pageBase).toBe(0x60_0000);
  });

  it('translates a 2 MiB page', () => {
    mem.set64(pde, 0x60_0000 | PRW_US | PS, 0x3);
    w.loadPdptes(PDPT);
    expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, 0, 0)).toBe(true);
    expect(w.pageSize).toBe(PageSize.Size2M);
    expect(w.physAddr).toBe(0x3_0060_0000 + (LIN & 0x1f_ffff));
  });

  it('walks with the cached PDPTEs, not the PDPT in memory (§4.4.1)', () => {
    w.loadPdptes(PDPT);
    mem.set64(pdpte(3), 0, 0); // the guest edits the PDPT without reloading CR3
    expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, 0, 0)).toBe(true);
    w.loadPdptes(PDPT);
    expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, 0, 0)).toBe(false);
    expect(w.errorCode).toBe(0);
  });

  it('sets no accessed flag in PDPTEs', () => {
    w.loadPdptes(PDPT);
    w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, PageAccess.Write, 0);
    expect(mem.get32(pdpte(3))).toBe(PD | P);
    expect(mem.get32(pde)).toBe(PT | PRW_US | A);
    expect(mem.get32(pte)).toBe(0x4_5000 | PRW_US | A | D);
  });

  it.each([
    ['bit 1', 1 << 1, 0],
    ['bit 2', 1 << 2, 0],
    ['bit 5', 1 << 5, 0],
    ['bit 6', 1 << 6, 0],
    ['bit 7', 1 << 7, 0],
    ['bit 8', 1 << 8, 0],
    ['bit 63 (XD is reserved in PDPTEs)', 0, XD],
    ['bit MAXPHYADDR (40)', 0, 1 << 8],
    ['bit 62', 0, 1 << 30],
  ])('loadPdptes fails on reserved %s and leaves the registers unchanged', (_name, lo, hi) => {
    expect(w.loadPdptes(PDPT)).toBe(true);
    const before = Array.from(w.pdptes);
    mem.set64(pdpte(0), 0xb000 | P, 0); // valid, and read before the bad one
    mem.set64(pdpte(1), 0x9000 | P | lo, hi);
    expect(w.loadPdptes(PDPT)).toBe(false);
    expect(Array.from(w.pdptes)).toEqual(before);
    expect(w.isPdpteValid(0x9000 | P | lo, hi)).toBe(false);
  });

  it('loadPdptes accepts PWT, PCD, ignored bits 11:9, address bits below MAXPHYADDR, and anything in a not-present PDPTE', () => {
    mem.set64(pdpte(0), 0x9000 | P | 0x18 | 0xe00, 0xff);
    mem.set64(pdpte(1), 0x1e6 | 0xfffff000, 0xffff_ffff);
    expect(w.loadPdptes(PDPT)).toBe(true);
    expect(w.pdptes[1]).toBe(0xff);
  });

  it('loadPdptes can read through another memory', () => {
    const other = new TestMemory();
    other.set64(PDPT + 8, 0xa000 | P, 0);
    expect(w.loadPdptes(PDPT, other)).toBe(true);
    expect(w.pdptes[2]).toBe(0xa000 | P);
    expect(w.pdptes[6]).toBe(0);
  });

  it('setPdpte sets a register directly (VM entry with EPT)', () => {
    w.setPdpte(3, 0x2000 | P, 0);
    mem.set64(0x2000 + 5 * 8, 0x60_0000 | PRW_US | PS, 0);
    expect(w.walk(PagingMode.Pae, 0, 0, LIN, 0, 0, 0)).toBe(true);
    expect(w.pageBase).toBe(0x60_0000);
  });

  it('reserves PDE/PTE bits 62:MAXPHYADDR, unlike 4-level paging', () => {
    w.loadPdptes(PDPT);
    mem.set64(pte, 0x4_5000 | PRW_US, 1 << 25); // bit 57
    expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, 0, 0)).toBe(false);
    expect(w.errorCode).toBe(PF.Present | PF.ReservedBit);
    mem.set64(pte, 0x4_5000 | PRW_US, 1 << 8); // bit 40 = MAXPHYADDR
    expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, 0, 0)).toBe(false);
    mem.set64(pte, 0x4_5000 | PRW_US, 1 << 7); // bit 39: an address bit
    expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, 0, 0)).toBe(true);
    expect(w.physAddr).toBe(0x80_0004_5345);
    mem.set64(pte, 0x4_5000 | PRW_US, 0);
    mem.set64(pde, PT | PRW_US, 1 << 30); // bit 62 in the PDE
    expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, 0, 0)).toBe(false);
    expect(w.errorCode).toBe(PF.Present | PF.ReservedBit);
  });

  it('reserves bits 20:13 of a 2 MiB PDE', () => {
    w.loadPdptes(PDPT);
    for (const bit of [13, 20]) {
      mem.set64(pde, 0x60_0000 | PRW_US | PS | (1 << bit), 0);
      expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, 0, 0)).toBe(false);
      expect(w.errorCode).toBe(PF.Present | PF.ReservedBit);
    }
  });

  it('honours XD with NXE and reserves it without', () => {
    w.loadPdptes(PDPT);
    mem.set64(pte, 0x4_5000 | PRW_US, XD);
    expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, PageAccess.Fetch, C.Nxe)).toBe(false);
    expect(w.errorCode).toBe(PF.Present | PF.InstructionFetch);
    expect(w.walk(PagingMode.Pae, PDPT, 0, LIN, 0, PageAccess.Read, 0)).toBe(false);
    expect(w.errorCode).toBe(PF.Present | PF.ReservedBit);
  });
});

describe('32-bit paging (SDM §4.3)', () => {
  const PD = 0x9000;
  const PT = 0xa000;
  const LIN = 0x8049_1abc; // PDE 0x201, PTE 0x91
  const pde = PD + 0x201 * 4;
  const pte = PT + 0x91 * 4;
  let mem: TestMemory;

  beforeEach(() => {
    mem = new TestMemory();
    mem.set32(pde, PT | PRW_US);
    mem.set32(pte, 0xfedc_b000 | PRW_US);
  });

  it('translates a 4 KiB page through 4-byte entries, from CR3 bits 31:12', () => {
    const w = new PageWalker(mem);
    expect(w.walk(PagingMode.Legacy32, PD | 0x18, 0x1, LIN, 0x5555, 0, 0)).toBe(true);
    expect(w.physAddr).toBe(0xfedc_babc);
    expect(w.pageSize).toBe(PageSize.Size4K);
    expect(mem.reads).toEqual([pde, pte]);
    expect(mem.get32(pde)).toBe(PT | PRW_US | A);
    expect(mem.get32(pte)).toBe((0xfedc_b000 | PRW_US | A) >>> 0);
  });

  it('maps a 4 MiB page when CR4.PSE = 1 and PS = 1', () => {
    const w = new PageWalker(mem);
    mem.set32(pde, 0xffc0_0000 | PRW_US | PS);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, PageAccess.Write, C.Pse)).toBe(true);
    expect(w.pageSize).toBe(PageSize.Size4M);
    expect(w.pageBase).toBe(0xffc0_0000);
    expect(w.physAddr).toBe(0xffc0_0000 + (LIN & 0x3f_ffff));
    expect(mem.get32(pde)).toBe((0xffc0_0000 | PRW_US | PS | A | D) >>> 0);
    expect(w.dirty).toBe(true);
  });

  it('ignores PS when CR4.PSE = 0 (the PDE points to a page table)', () => {
    const w = new PageWalker(mem);
    mem.set32(pde, PT | PRW_US | PS);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, 0, 0)).toBe(true);
    expect(w.pageSize).toBe(PageSize.Size4K);
    expect(w.physAddr).toBe(0xfedc_babc);
  });

  it('PSE-36: bits 20:13 of a 4 MiB PDE are physical bits 39:32', () => {
    const w = new PageWalker(mem, { maxPhyAddr: 52 }); // still limited to 40 bits
    mem.set32(pde, 0x0040_0000 | (0xa5 << 13) | PRW_US | PS);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, 0, C.Pse)).toBe(true);
    expect(w.pageBase).toBe(0xa5_0040_0000);
    expect(w.physAddr).toBe(0xa5_0040_0000 + (LIN & 0x3f_ffff));
  });

  it('PSE-36: bit 21 is reserved', () => {
    const w = new PageWalker(mem, { maxPhyAddr: 52 });
    mem.set32(pde, 0x0040_0000 | (1 << 21) | PRW_US | PS);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, PageAccess.Write, C.Pse)).toBe(false);
    expect(w.errorCode).toBe(PF.Present | PF.ReservedBit | PF.Write);
  });

  it.each([
    [36, 16, true],
    [36, 17, false],
    [32, 13, false],
    [40, 20, true],
  ])('PSE-36 with MAXPHYADDR %i: PDE bit %i allowed=%s', (m, bit, ok) => {
    const w = new PageWalker(mem, { maxPhyAddr: m });
    mem.set32(pde, 0x0040_0000 | (1 << bit) | PRW_US | PS);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, 0, C.Pse)).toBe(ok);
    if (!ok) expect(w.errorCode).toBe(PF.Present | PF.ReservedBit);
  });

  it('has no reserved bits in 4 KiB PDEs and PTEs, and PAT (bit 12) of a 4 MiB PDE is allowed', () => {
    const w = new PageWalker(mem, { maxPhyAddr: 32 });
    mem.set32(pte, 0xffff_ffff);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, 0, C.Pse)).toBe(true);
    mem.set32(pde, 0x0040_0000 | 0x1000 | PRW_US | PS);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, 0, C.Pse)).toBe(true);
    expect(w.pageBase).toBe(0x40_0000);
  });

  it('has no XD bit: NXE neither blocks fetches nor sets I/D', () => {
    const w = new PageWalker(mem);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, PageAccess.Fetch, C.Nxe)).toBe(true);
    expect(w.executable).toBe(true);
    mem.set32(pte, 0);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, PageAccess.Fetch, C.Nxe)).toBe(false);
    expect(w.errorCode).toBe(0);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, PageAccess.Fetch, C.Smep)).toBe(false);
    expect(w.errorCode).toBe(PF.InstructionFetch);
  });

  it('combines U/S and R/W of the PDE and PTE', () => {
    const w = new PageWalker(mem);
    mem.set32(pde, PT | P | US);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, PageAccess.Write, C.Cpl3)).toBe(false);
    expect(w.errorCode).toBe(PF.Present | PF.Write | PF.User);
    mem.set32(pde, PT | P | RW);
    expect(w.walk(PagingMode.Legacy32, PD, 0, LIN, 0, PageAccess.Read, C.Cpl3)).toBe(false);
    expect(w.errorCode).toBe(PF.Present | PF.User);
  });
});

// ---------------------------------------------------------------------------------------------

describe('not-present entries (SDM §4.7: P = 0)', () => {
  it.each([5, 4, 3, 2, 1])('5-level: level %i not present', (level) => {
    const mem = new TestMemory();
    const w = new PageWalker(mem);
    const e = mapLong(mem, LIN5, 5, 1, 0x1000);
    // Reserved bits in a not-present entry do not matter.
    mem.set64(e[level], 0xffff_fffe, 0xffff_ffff);
    expect(walkAt(w, PagingMode.Level5, T[5], LIN5, PageAccess.Write, C.Cpl3)).toBe(false);
    expect(w.errorCode).toBe(PF.Write | PF.User);
    // The walk stopped there and wrote nothing.
    expect(mem.writes).toHaveLength(0);
    expect(mem.reads.filter((a) => a % 8 === 0)).toHaveLength(6 - level);
  });

  it.each([4, 3, 2, 1])('4-level: level %i not present', (level) => {
    const mem = new TestMemory();
    const w = new PageWalker(mem);
    const e = mapLong(mem, LIN4, 4, 1, 0x1000);
    mem.set64(e[level], 0, 0);
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, PageAccess.Read, 0)).toBe(false);
    expect(w.errorCode).toBe(0);
  });

  it.each(['pdpte', 'pde', 'pte'])('PAE: %s not present', (which) => {
    const mem = new TestMemory();
    const w = new PageWalker(mem);
    mem.set64(0x6000, 0x7000 | P, 0);
    mem.set64(0x7000, 0x8000 | PRW_US, 0);
    mem.set64(0x8000, 0x9000 | PRW_US, 0);
    if (which === 'pdpte') mem.set64(0x6000, 0x7000, 0);
    if (which === 'pde') mem.set64(0x7000, 0, 0);
    if (which === 'pte') mem.set64(0x8000, 0, 0);
    expect(w.loadPdptes(0x6000)).toBe(true);
    expect(w.walk(PagingMode.Pae, 0x6000, 0, 0, 0, PageAccess.Fetch, C.Nxe | C.Cpl3)).toBe(false);
    expect(w.errorCode).toBe(PF.User | PF.InstructionFetch);
  });

  it.each(['pde', 'pte'])('32-bit: %s not present', (which) => {
    const mem = new TestMemory();
    const w = new PageWalker(mem);
    mem.set32(0x9000, which === 'pde' ? 0xa000 | RW | US : 0xa000 | PRW_US);
    mem.set32(0xa000, 0);
    expect(w.walk(PagingMode.Legacy32, 0x9000, 0, 0x123, 0, PageAccess.Write, 0)).toBe(false);
    expect(w.errorCode).toBe(PF.Write);
  });

  it('a not-present lower level wins over a U/S violation higher up', () => {
    const mem = new TestMemory();
    const w = new PageWalker(mem);
    const e = mapLong(mem, LIN4, 4, 1, 0x1000, { flags: { 4: P | RW } });
    mem.set64(e[1], 0, 0);
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, 0, C.Cpl3)).toBe(false);
    expect(w.errorCode).toBe(PF.User);
  });
});

describe('reserved bits (SDM §4.5.4, §4.7: P = 1, RSVD = 1)', () => {
  const RSVD = PF.Present | PF.ReservedBit;
  function fourLevel(options: PageWalkerOptions, leaf: number, o: MapOptions, ctl = 0, access = 0): [boolean, number, TestMemory] {
    const mem = new TestMemory();
    const w = new PageWalker(mem, options);
    mapLong(mem, LIN4, 4, leaf, leaf === 3 ? 0x4000_0000 : leaf === 2 ? 0x20_0000 : 0x1000, o);
    const ok = walkAt(w, PagingMode.Level4, T[4], LIN4, access, ctl);
    return [ok, w.errorCode, mem];
  }

  it.each([4, 3, 2, 1])('XD (bit 63) at level %i is reserved when NXE = 0, honoured when NXE = 1', (level) => {
    expect(fourLevel({}, 1, { hi: { [level]: XD } })).toEqual([false, RSVD, expect.anything()]);
    expect(fourLevel({}, 1, { hi: { [level]: XD } }, C.Nxe)[0]).toBe(true);
  });

  it.each([4, 3, 2, 1])('address bit MAXPHYADDR at level %i is reserved', (level) => {
    // MAXPHYADDR 40: bit 40 (high bit 8) reserved, bit 39 an address bit.
    expect(fourLevel({ maxPhyAddr: 40 }, 1, { hi: { [level]: 1 << 8 } })[1]).toBe(RSVD);
    expect(fourLevel({ maxPhyAddr: 40 }, 1, { hi: { [level]: 1 << 19 } })[1]).toBe(RSVD); // bit 51
    if (level === 1) expect(fourLevel({ maxPhyAddr: 40 }, 1, { hi: { 1: 1 << 7 } })[0]).toBe(true); // bit 39: an address
  });

  it('MAXPHYADDR bits are part of the page address', () => {
    const mem = new TestMemory();
    const w = new PageWalker(mem, { maxPhyAddr: 52 });
    mapLong(mem, LIN4, 4, 1, 0xf_ffff_0000_0000 + 0x1000);
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, 0, 0)).toBe(true);
    expect(w.physAddr).toBe(0xf_ffff_0000_1345);
  });

  it('PS in a PML4E is reserved', () => {
    expect(fourLevel({ gbPages: true }, 1, { flags: { 4: PRW_US | PS } })[1]).toBe(RSVD);
  });

  it('PS in a PML5E is reserved', () => {
    const mem = new TestMemory();
    const w = new PageWalker(mem, { gbPages: true });
    mapLong(mem, LIN5, 5, 1, 0x1000, { flags: { 5: PRW_US | PS } });
    expect(walkAt(w, PagingMode.Level5, T[5], LIN5, 0, 0)).toBe(false);
    expect(w.errorCode).toBe(RSVD);
  });

  it('PS in a PDPTE is reserved without 1 GiB page support', () => {
    expect(fourLevel({ gbPages: false }, 3, {})[1]).toBe(RSVD);
    expect(fourLevel({ gbPages: true }, 3, {})[0]).toBe(true);
  });

  it.each([13, 20, 29])('bit %i of a 1 GiB PDPTE is reserved', (bit) => {
    expect(fourLevel({ gbPages: true }, 3, { flags: { 3: PRW_US | PS | (1 << bit) } })[1]).toBe(RSVD);
  });

  it.each([13, 16, 20])('bit %i of a 2 MiB PDE is reserved', (bit) => {
    expect(fourLevel({}, 2, { flags: { 2: PRW_US | PS | (1 << bit) } })[1]).toBe(RSVD);
  });

  it('bits 20:12 of a non-leaf PDE are address bits, not reserved', () => {
    const mem = new TestMemory();
    const w = new PageWalker(mem);
    const e = mapLong(mem, LIN4, 4, 1, 0x1000, { next: { 2: 0x1f_f000 } });
    expect(e[1]).toBe(0x1f_f000 + indexOf(LIN4, 1) * 8);
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, 0, 0)).toBe(true);
    expect(w.physAddr).toBe(0x1345);
    expect(mem.get32(e[1]) & A).toBe(A);
  });

  it('AMD: bit 8 of non-leaf PML4Es and PDPTEs is reserved; Intel ignores it', () => {
    for (const level of [4, 3]) {
      expect(fourLevel({ amd: true }, 1, { flags: { [level]: PRW_US | G } })[1]).toBe(RSVD);
      expect(fourLevel({ amd: false }, 1, { flags: { [level]: PRW_US | G } })[0]).toBe(true);
    }
    // Not in non-leaf PDEs, nor in a 1 GiB PDPTE (where it is G).
    expect(fourLevel({ amd: true }, 1, { flags: { 2: PRW_US | G } })[0]).toBe(true);
    expect(fourLevel({ amd: true, gbPages: true }, 3, { flags: { 3: PRW_US | PS | G } })[0]).toBe(true);
  });

  it('the error code also describes the access, and RSVD wins over protection', () => {
    // A supervisor-only page with a reserved bit, written by CPL 3 with SMEP and NXE.
    expect(fourLevel({}, 2, { flags: { 2: P | PS | (1 << 14) } }, C.Cpl3 | C.Nxe, PageAccess.Write)[1]).toBe(
      RSVD | PF.Write | PF.User,
    );
    expect(fourLevel({}, 2, { flags: { 2: P | PS | (1 << 14) } }, C.Cpl3 | C.Nxe, PageAccess.Fetch)[1]).toBe(
      RSVD | PF.User | PF.InstructionFetch,
    );
  });

  it('a reserved-bit fault stops the walk and writes nothing', () => {
    const [, , mem] = fourLevel({}, 1, { hi: { 3: XD } });
    expect(mem.writes).toHaveLength(0);
    expect(mem.reads.filter((a) => a % 8 === 0)).toHaveLength(2);
  });
});

// ---------------------------------------------------------------------------------------------

describe('accessed and dirty flags (SDM §4.8)', () => {
  let mem: TestMemory;
  let w: PageWalker;
  beforeEach(() => {
    mem = new TestMemory();
    w = new PageWalker(mem, { gbPages: true });
  });

  it('a read sets A at every level, not D, and reports dirty = false', () => {
    const e = mapLong(mem, LIN4, 4, 1, 0x1000, { hi: { 1: 0x12 } });
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, PageAccess.Read, 0)).toBe(true);
    for (const level of [4, 3, 2, 1]) expect(mem.get32(e[level])).toBe((level === 1 ? 0x1000 : T[level - 1]) | PRW_US | A);
    expect(mem.get32(e[1] + 4)).toBe(0x12); // high halves untouched
    expect(mem.writes.map(([a]) => a)).toEqual([e[4], e[3], e[2], e[1]]);
    expect(w.dirty).toBe(false);
  });

  it('writes back nothing when the flags are already set', () => {
    mapLong(mem, LIN4, 4, 1, 0x1000);
    walkAt(w, PagingMode.Level4, T[4], LIN4, PageAccess.Read, 0);
    mem.clearLog();
    walkAt(w, PagingMode.Level4, T[4], LIN4, PageAccess.Read, 0);
    expect(mem.writes).toHaveLength(0);
  });

  it('a write sets D in the leaf only, with a single write when only D changes', () => {
    const e = mapLong(mem, LIN4, 4, 1, 0x1000);
    walkAt(w, PagingMode.Level4, T[4], LIN4, PageAccess.Read, 0);
    mem.clearLog();
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, PageAccess.Write, 0)).toBe(true);
    expect(mem.writes).toEqual([[e[1], 0x1000 | PRW_US | A | D]]);
    for (const level of [4, 3, 2]) expect(mem.get32(e[level]) & D).toBe(0);
    expect(w.dirty).toBe(true);
    // A later read reports the page dirty and writes nothing.
    mem.clearLog();
    walkAt(w, PagingMode.Level4, T[4], LIN4, PageAccess.Read, 0);
    expect(w.dirty).toBe(true);
    expect(mem.writes).toHaveLength(0);
  });

  it.each([
    [2, 0x20_0000],
    [3, 0x4000_0000],
  ])('a write sets D in a large-page leaf at level %i', (leaf, target) => {
    const e = mapLong(mem, LIN4, 4, leaf, target);
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, PageAccess.Write, 0)).toBe(true);
    expect(mem.get32(e[leaf])).toBe(target | PRW_US | PS | A | D);
    expect(mem.get32(e[leaf + 1]) & D).toBe(0);
  });

  it('a faulting walk sets no flag', () => {
    mapLong(mem, LIN4, 4, 1, 0x1000, { flags: { 1: P | US } });
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, PageAccess.Write, C.Cpl3)).toBe(false);
    expect(mem.writes).toHaveLength(0);
  });

  it('a supervisor write to a read-only page with WP = 0 still sets D', () => {
    const e = mapLong(mem, LIN4, 4, 1, 0x1000, { flags: { 1: P } });
    expect(walkAt(w, PagingMode.Level4, T[4], LIN4, PageAccess.Write, 0)).toBe(true);
    expect(mem.get32(e[1])).toBe(0x1000 | P | A | D);
  });
});

// ---------------------------------------------------------------------------------------------

describe('access rights (SDM §4.6)', () => {
  let mem: TestMemory;
  let w: PageWalker;
  beforeEach(() => {
    mem = new TestMemory();
    w = new PageWalker(mem);
  });
  /** Maps LIN4 with per-level flags; returns the walk result and leaves errorCode in w. */
  function run(flags: Record<number, number>, access: number, ctl: number, hi: Record<number, number> = {}): boolean {
    mem = new TestMemory();
    w = new PageWalker(mem);
    mapLong(mem, LIN4, 4, 1, 0x1000, { flags, hi });
    return walkAt(w, PagingMode.Level4, T[4], LIN4, access, ctl);
  }

  describe('U/S combined across levels', () => {
    it.each([4, 3, 2, 1])('U/S = 0 at level %i makes a supervisor-mode page', (level) => {
      expect(run({ [level]: P | RW }, PageAccess.Read, C.Cpl3)).toBe(false);
      expect(w.errorCode).toBe(PF.Present | PF.User);
      expect(run({ [level]: P | RW }, PageAccess.Read, 0)).toBe(true);
      expect(w.user).toBe(false);
    });
    it('U/S = 1 everywhere makes a user-mode page', () => {
      expect(run({}, PageAccess.Read, C.Cpl3)).toBe(true);
      expect([w.user, w.writable, w.executable]).toEqual([true, true, true]);
    });
    it('PageAccess.User alone also makes a user-mode access', () => {
      expect(run({ 1: P | RW }, PageAccess.User, 0)).toBe(false);
      expect(w.errorCode).toBe(PF.Present | PF.User);
    });
  });

  describe('R/W combined across levels, CR0.WP', () => {
    it.each([4, 3, 2, 1])('R/W = 0 at level %i makes the page read-only', (level) => {
      expect(run({ [level]: P | US }, PageAccess.Write, C.Cpl3)).toBe(false);
      expect(w.errorCode).toBe(PF.Present | PF.Write | PF.User);
      expect(run({ [level]: P | US }, PageAccess.Read, C.Cpl3)).toBe(true);
      expect(w.writable).toBe(false);
    });

    // Every combination of CPL, CR0.WP, R/W and U/S for a write.
    const rows: [boolean, boolean, boolean, boolean, boolean][] = [];
    for (const cpl3 of [false, true])
      for (const wp of [false, true])
        for (const rw of [false, true])
          for (const us of [false, true]) {
            const allowed = cpl3 ? us && rw : rw || !wp;
            rows.push([cpl3, wp, rw, us, allowed]);
          }
    it.each(rows)('write: cpl3=%s wp=%s rw=%s us=%s -> allowed=%s', (cpl3, wp, rw, us, allowed) => {
      const flags = P | (rw ? RW : 0) | (us ? US : 0);
      const ctl = (cpl3 ? C.Cpl3 : 0) | (wp ? C.Wp : 0);
      expect(run({ 1: flags }, PageAccess.Write, ctl)).toBe(allowed);
      if (!allowed) expect(w.errorCode).toBe(PF.Present | PF.Write | (cpl3 ? PF.User : 0));
    });
  });

  describe('NX (IA32_EFER.NXE)', () => {
    it.each([4, 3, 2, 1])('XD = 1 at level %i forbids fetches, with I/D in the error code', (level) => {
      expect(run({}, PageAccess.Fetch, C.Nxe, { [level]: XD })).toBe(false);
      expect(w.errorCode).toBe(PF.Present | PF.InstructionFetch);
      expect(run({}, PageAccess.Fetch, C.Nxe | C.Cpl3, { [level]: XD })).toBe(false);
      expect(w.errorCode).toBe(PF.Present | PF.User | PF.InstructionFetch);
    });
    it('XD pages are readable and writable', () => {
      expect(run({}, PageAccess.Read, C.Nxe | C.Cpl3, { 1: XD })).toBe(true);
      expect(w.executable).toBe(false);
      expect(run({}, PageAccess.Write, C.Nxe | C.Cpl3, { 1: XD })).toBe(true);
    });
    it('fetches from pages without XD are allowed with NXE', () => {
      expect(run({}, PageAccess.Fetch, C.Nxe | C.Cpl3)).toBe(true);
      expect(w.executable).toBe(true);
    });
    it('fetches ignore R/W', () => {
      expect(run({ 1: P | US }, PageAccess.Fetch, C.Cpl3 | C.Wp)).toBe(true);
      expect(run({ 1: P }, PageAccess.Fetch, C.Wp)).toBe(true);
    });
  });

  describe('I/D in the error code (§4.7)', () => {
    it.each([
      [0, 0],
      [C.Nxe, PF.InstructionFetch],
      [C.Smep, PF.InstructionFetch],
      [C.Nxe | C.Smep, PF.InstructionFetch],
    ])('a not-present fetch under ctl %i', (ctl, id) => {
      expect(run({ 1: 0 }, PageAccess.Fetch, ctl)).toBe(false);
      expect(w.errorCode).toBe(id);
    });
    it('is never set for data accesses', () => {
      expect(run({ 1: 0 }, PageAccess.Write, C.Nxe | C.Smep)).toBe(false);
      expect(w.errorCode).toBe(PF.Write);
    });
  });

  describe('SMEP (CR4.SMEP)', () => {
    it('blocks supervisor fetches from user-mode pages', () => {
      expect(run({}, PageAccess.Fetch, C.Smep)).toBe(false);
      expect(w.errorCode).toBe(PF.Present | PF.InstructionFetch);
      expect(run({}, PageAccess.Fetch, 0)).toBe(true);
    });
    it('a page is user-mode only if U/S = 1 at every level', () => {
      expect(run({ 2: P | RW }, PageAccess.Fetch, C.Smep)).toBe(true);
    });
    it('allows user fetches and supervisor data accesses', () => {
      expect(run({}, PageAccess.Fetch, C.Smep | C.Cpl3)).toBe(true);
      expect(run({}, PageAccess.Read, C.Smep)).toBe(true);
      expect(run({}, PageAccess.Write, C.Smep | C.Wp)).toBe(true);
    });
    it('does not lift NX on supervisor pages', () => {
      expect(run({ 1: P | RW }, PageAccess.Fetch, C.Smep | C.Nxe, { 1: XD })).toBe(false);
      expect(w.errorCode).toBe(PF.Present | PF.InstructionFetch);
    });
  });

  describe('SMAP (CR4.SMAP, EFLAGS.AC, implicit accesses)', () => {
    const I = PageAccess.Implicit;
    // [access, ctl, page U/S, allowed]
    const rows: [string, number, number, boolean, boolean][] = [
      ['explicit read, SMAP off', PageAccess.Read, 0, true, true],
      ['explicit read, SMAP, AC=0', PageAccess.Read, C.Smap, true, false],
      ['explicit read, SMAP, AC=1', PageAccess.Read, C.Smap | C.Ac, true, true],
      ['explicit write, SMAP, AC=0', PageAccess.Write, C.Smap, true, false],
      ['explicit write, SMAP, AC=1', PageAccess.Write, C.Smap | C.Ac, true, true],
      ['implicit read at CPL 0, SMAP, AC=1', I, C.Smap | C.Ac, true, false],
      ['implicit write at CPL 0, SMAP, AC=1', I | PageAccess.Write, C.Smap | C.Ac, true, false],
      ['implicit read at CPL 3, SMAP, AC=1', I, C.Smap | C.Ac | C.Cpl3, true, false],
      ['implicit read at CPL 3, SMAP off', I, C.Cpl3, true, true],
      ['explicit read of a supervisor page, SMAP, AC=0', PageAccess.Read, C.Smap, false, true],
      ['implicit read of a supervisor page at CPL 3, SMAP', I, C.Smap | C.Cpl3, false, true],
      ['user read at CPL 3, SMAP, AC=0', PageAccess.Read, C.Smap | C.Cpl3, true, true],
      ['supervisor fetch, SMAP, AC=0 (SMAP is for data)', PageAccess.Fetch, C.Smap, true, true],
    ];
    it.each(rows)('%s', (_name, access, ctl, userPage, allowed) => {
      expect(run({ 1: P | RW | (userPage ? US : 0) }, access, ctl)).toBe(allowed);
      if (!allowed) expect(w.errorCode).toBe(PF.Present | (access & PageAccess.Write)); // U/S = 0: supervisor access
    });

    it('SMAP and WP both apply to supervisor writes to read-only user pages', () => {
      expect(run({ 1: P | US }, PageAccess.Write, C.Smap | C.Ac | C.Wp)).toBe(false);
      expect(run({ 1: P | US }, PageAccess.Write, C.Smap | C.Ac)).toBe(true);
    });
  });

  describe('implicit supervisor accesses at CPL 3', () => {
    it('may read and write supervisor-mode pages', () => {
      expect(run({ 1: P | RW }, PageAccess.Implicit | PageAccess.Write, C.Cpl3 | C.Wp)).toBe(true);
      expect(run({ 1: P | RW }, PageAccess.Implicit | PageAccess.User, C.Cpl3)).toBe(true);
    });
    it('fault with U/S = 0, and obey CR0.WP as supervisor writes', () => {
      expect(run({ 1: P }, PageAccess.Implicit | PageAccess.Write, C.Cpl3 | C.Wp)).toBe(false);
      expect(w.errorCode).toBe(PF.Present | PF.Write);
      expect(run({ 1: P }, PageAccess.Implicit | PageAccess.Write, C.Cpl3)).toBe(true);
    });
  });
});

describe('isAccessPermitted and accessErrorCode (for TLB hits)', () => {
  it('agree with the walker', () => {
    expect(isAccessPermitted(true, false, true, PageAccess.Write, C.Cpl3)).toBe(false);
    expect(isAccessPermitted(false, true, true, PageAccess.Write, C.Wp)).toBe(true);
    expect(isAccessPermitted(true, true, true, PageAccess.Fetch, C.Smep)).toBe(false);
    expect(isAccessPermitted(true, true, true, PageAccess.Read, C.Smap | C.Ac)).toBe(true);
    expect(accessErrorCode(PagingMode.Level4, PageAccess.Fetch, C.Nxe | C.Cpl3)).toBe(PF.User | PF.InstructionFetch);
    expect(accessErrorCode(PagingMode.Legacy32, PageAccess.Fetch, C.Nxe | C.Cpl3)).toBe(PF.User);
    expect(accessErrorCode(PagingMode.Level4, PageAccess.Write | PageAccess.Implicit, C.Cpl3)).toBe(PF.Write);
  });
});
