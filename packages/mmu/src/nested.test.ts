import { describe, expect, it } from 'vitest';
import {
  EptViolation as Q,
  NestedAccess as NA,
  NestedPageWalker,
  NestedStatus as S,
  NpfInfoHi,
  PageAccess,
  PageFaultErrorCode as PF,
  type PageTableMemory,
  PagingMode,
  pagingModeOf,
  SecondLevelFormat,
  SecondLevelWalker,
  type TranslationResult,
  WalkControl,
} from './index.js';

const TWO_32 = 2 ** 32;

/** Sparse host memory in 4 KiB pages, with a write log. */
class Mem implements PageTableMemory {
  private readonly pages = new Map<number, Uint32Array>();
  readonly writes: [number, number][] = [];
  private page(a: number): Uint32Array {
    const n = Math.floor(a / 4096);
    let p = this.pages.get(n);
    if (p === undefined) {
      p = new Uint32Array(1024);
      this.pages.set(n, p);
    }
    return p;
  }
  read32(a: number): number {
    return this.page(a)[(a % 4096) / 4];
  }
  write32(a: number, v: number): void {
    this.writes.push([a, v >>> 0]);
    this.page(a)[(a % 4096) / 4] = v >>> 0;
  }
  set64(a: number, lo: number, hi = 0): void {
    this.page(a)[(a % 4096) / 4] = lo >>> 0;
    this.page(a)[(a % 4096) / 4 + 1] = hi >>> 0;
  }
  get32(a: number): number {
    return this.page(a)[(a % 4096) / 4];
  }
}

/** Bump allocator for table pages, starting at 16 MiB (host) or as given. */
class Alloc {
  constructor(private next: number) {}
  page(): number {
    const a = this.next;
    this.next += 4096;
    return a;
  }
}

/**
 * Builds the chain of 8-byte-entry tables from `root` down to `leafLevel` for `addr`,
 * allocating tables with non-leaf entries `table | nonLeaf`, and writes `leafLo:leafHi` at the
 * leaf. Returns the leaf entry's address. `tables` maps addresses of tables as seen by the
 * walker to where they live in `mem` (identity for host tables).
 */
function map(
  mem: Mem,
  alloc: Alloc,
  root: number,
  addr: number,
  levels: number,
  leafLevel: number,
  leafLo: number,
  leafHi = 0,
  nonLeaf = 7,
  place: (a: number) => number = (a) => a,
): number {
  let table = root;
  for (let level = levels; level > leafLevel; level--) {
    const ea = table + (Math.floor(addr / 2 ** (12 + 9 * (level - 1))) % 512) * 8;
    let lo = mem.read32(place(ea));
    if (lo === 0) {
      lo = (alloc.page() | nonLeaf) >>> 0;
      mem.set64(place(ea), lo);
    }
    table = (lo & ~0xfff) >>> 0;
  }
  const ea = table + (Math.floor(addr / 2 ** (12 + 9 * (leafLevel - 1))) % 512) * 8;
  mem.set64(place(ea), leafLo, leafHi);
  return place(ea);
}

const R = 1;
const W = 2;
const X = 4;
const RWX = 7;
const WB = 6 << 3;
const PS = 1 << 7;
const EA = 1 << 8;
const ED = 1 << 9;
const XU = 1 << 10;
const EPT_ROOT = 0x100_0000;
/** EPTP: WB, 4-level walk (length - 1 = 3), root. */
const EPTP4 = EPT_ROOT | 6 | (3 << 3);
const EPTP5 = EPT_ROOT | 6 | (4 << 3);
const EPTP_AD = 1 << 6;

function ept(options: ConstructorParameters<typeof SecondLevelWalker>[1] = {}, eptpLo = EPTP4, mbec = false) {
  const mem = new Mem();
  const alloc = new Alloc(EPT_ROOT + 0x1000);
  const slw = new SecondLevelWalker(mem, options);
  expect(slw.setEpt(eptpLo, 0, mbec)).toBe(true);
  const levels = ((eptpLo >>> 3) & 7) + 1;
  const mapEpt = (gpa: number, hpa: number, bits: number, leafLevel = 1, nonLeaf = RWX): number =>
    map(mem, alloc, EPT_ROOT, gpa, levels, leafLevel, ((hpa % TWO_32) | bits) >>> 0, Math.floor(hpa / TWO_32), nonLeaf);
  return { mem, slw, mapEpt };
}

describe('EPT translation (SDM Vol. 3 §29.3.2)', () => {
  it('translates a 4 KiB page through 4 levels and reports type, ignore-PAT and rights', () => {
    const { slw, mapEpt } = ept();
    mapEpt(0x1234_5000, 0x2_0000_7000, R | W | WB | (1 << 6));
    expect(slw.format).toBe(SecondLevelFormat.Ept);
    expect(slw.translate(0x1234_5678, NA.Read)).toBe(S.Ok);
    expect(slw.hostAddr).toBe(0x2_0000_7678);
    expect(slw.pageSize).toBe(0x1000);
    expect(slw.memType).toBe(6);
    expect(slw.ignorePat).toBe(true);
    expect([slw.readable, slw.writable, slw.executable]).toEqual([true, true, false]);
    expect(slw.references).toBe(4);
  });

  it('maps 2 MiB and 1 GiB pages with bit 7', () => {
    const { slw, mapEpt } = ept();
    mapEpt(0x4000_0000, 0x8000_0000, RWX | WB | PS, 3);
    mapEpt(0x20_0000, 0x60_0000, RWX | WB | PS, 2);
    expect(slw.translate(0x4123_4567, NA.Read)).toBe(S.Ok);
    expect([slw.hostAddr, slw.pageSize, slw.references]).toEqual([0x8123_4567, 0x4000_0000, 2]);
    expect(slw.translate(0x2f_f001, NA.Write)).toBe(S.Ok);
    expect([slw.hostAddr, slw.pageSize, slw.references]).toEqual([0x6f_f001, 0x20_0000, 3]);
  });

  it('treats bit 7 of a PDPTE as reserved without 1 GiB page support', () => {
    const { slw, mapEpt } = ept({ gbPages: false });
    mapEpt(0x4000_0000, 0x8000_0000, RWX | WB | PS, 3);
    expect(slw.translate(0x4000_0000, NA.Read)).toBe(S.Misconfig);
  });

  it('walks 5 levels with a page-walk length of 4, indexing bits 56:48', () => {
    const { slw, mapEpt, mem } = ept({ maxPhyAddr: 52 }, EPTP5);
    const gpa = 0x9_8765_4321_0000; // bit 51 set: PML5 index 9 (bits 51:48)
    mapEpt(gpa, 0x5000, RWX | WB);
    expect(mem.read32(EPT_ROOT + 9 * 8)).not.toBe(0);
    expect(slw.translate(gpa + 0x10, NA.Fetch)).toBe(S.Ok);
    expect([slw.hostAddr, slw.references]).toEqual([0x5010, 5]);
    // The same address under a 4-level EPTP uses a different PML4 index and is not mapped.
    expect(slw.setEpt(EPTP4, 0)).toBe(true);
    expect(slw.translate(gpa, NA.Read)).toBe(S.Violation);
  });

  it('rejects EPTPs that fail the VM-entry checks', () => {
    const slw = new SecondLevelWalker(new Mem());
    expect(slw.setEpt(EPT_ROOT | 1 | (3 << 3), 0)).toBe(false); // memory type 1
    expect(slw.setEpt(EPT_ROOT | 6 | (2 << 3), 0)).toBe(false); // walk length 3 levels
    expect(slw.setEpt(EPT_ROOT | 6 | (3 << 3) | (1 << 7), 0)).toBe(false); // bits 11:7
    expect(slw.setEpt(EPTP4, 1 << 16)).toBe(false); // bit 48 >= MAXPHYADDR 48
  });
});

describe('EPT violations and their exit qualification (SDM §28.3.3.2 / Table 28-7)', () => {
  it('reports a read of an execute-only page with the entry rights', () => {
    const { slw, mapEpt } = ept();
    mapEpt(0x5000, 0x9000, X | WB);
    expect(slw.translate(0x5008, NA.Read)).toBe(S.Violation);
    // bit 0 read, bit 5 executable, bit 7 linear valid, bit 8 final translation.
    expect(slw.infoLo).toBe(0x1a1);
    expect(slw.faultGpa).toBe(0x5008);
    expect(slw.translate(0x5008, NA.Fetch)).toBe(S.Ok);
  });

  it('reports writes to read-only and fetches from non-executable pages', () => {
    const { slw, mapEpt } = ept();
    mapEpt(0x5000, 0x9000, R | WB);
    expect(slw.translate(0x5000, NA.Write)).toBe(S.Violation);
    expect(slw.infoLo).toBe(Q.Write | Q.Readable | Q.LinearValid | Q.FinalTranslation);
    expect(slw.translate(0x5000, NA.Fetch)).toBe(S.Violation);
    expect(slw.infoLo).toBe(Q.Fetch | Q.Readable | Q.LinearValid | Q.FinalTranslation);
  });

  it('ANDs the rights over every level', () => {
    const { slw, mapEpt } = ept();
    mapEpt(0x5000, 0x9000, RWX | WB, 1, R | X); // non-leaf entries without write
    expect(slw.translate(0x5000, NA.Write)).toBe(S.Violation);
    expect(slw.infoLo).toBe(Q.Write | Q.Readable | Q.Executable | Q.LinearValid | Q.FinalTranslation);
    expect(slw.translate(0x5000, NA.Read)).toBe(S.Ok);
    expect(slw.writable).toBe(false);
  });

  it('reports a not-present entry with no rights', () => {
    const { slw, mapEpt } = ept();
    mapEpt(0x5000, 0x9000, RWX | WB);
    expect(slw.translate(0x4000_5000, NA.Write)).toBe(S.Violation); // PDPTE 1 not present
    expect(slw.infoLo).toBe(Q.Write | Q.LinearValid | Q.FinalTranslation);
    expect(slw.references).toBe(2);
  });

  it('clears bit 8 for guest paging-structure accesses and bit 7 without a linear address', () => {
    const { slw } = ept();
    expect(slw.translate(0x7000, NA.PagingStructure)).toBe(S.Violation);
    expect(slw.infoLo).toBe(Q.Read | Q.LinearValid);
    expect(slw.translate(0x7000, NA.PagingStructure | NA.NoLinear)).toBe(S.Violation);
    expect(slw.infoLo).toBe(Q.Read);
  });

  it('gives the faulting guest-physical address above 4 GiB in halves', () => {
    const { slw } = ept();
    expect(slw.translate(0x12_3456_7890, NA.Read)).toBe(S.Violation);
    expect([slw.faultGpa, slw.faultGpaHi, slw.faultGpaLo]).toEqual([0x12_3456_7890, 0x12, 0x3456_7890]);
  });
});

describe('mode-based execute control (SDM §29.3.3.2)', () => {
  it('uses bit 2 for supervisor-mode and bit 10 for user-mode linear addresses', () => {
    const { slw, mapEpt } = ept({}, EPTP4, true);
    mapEpt(0x5000, 0x9000, R | XU | WB, 1, RWX | XU);
    expect(slw.translate(0x5000, NA.Fetch | NA.User)).toBe(S.Ok);
    expect(slw.translate(0x5000, NA.Fetch)).toBe(S.Violation);
    expect(slw.infoLo).toBe(Q.Fetch | Q.Readable | Q.UserExecutable | Q.LinearValid | Q.FinalTranslation);
    mapEpt(0x6000, 0xa000, R | X | WB, 1, RWX | XU);
    expect(slw.translate(0x6000, NA.Fetch)).toBe(S.Ok);
    expect(slw.translate(0x6000, NA.Fetch | NA.User)).toBe(S.Violation);
    // Bit 9 (advanced VM-exit information): the linear address is a user-mode one.
    expect(slw.infoLo).toBe(Q.Fetch | Q.Readable | Q.Executable | Q.LinearValid | Q.FinalTranslation | Q.UserLinear);
  });

  it('counts an entry with only bit 10 set as present', () => {
    const { slw, mapEpt } = ept({}, EPTP4, true);
    mapEpt(0x5000, 0x9000, XU | WB, 1, RWX | XU);
    expect(slw.translate(0x5000, NA.Fetch | NA.User)).toBe(S.Ok);
    // Without mode-based execute control the same entry is not present.
    expect(slw.setEpt(EPTP4, 0, false)).toBe(true);
    expect(slw.translate(0x5000, NA.Fetch | NA.User)).toBe(S.Violation);
    expect(slw.infoLo & Q.UserExecutable).toBe(0);
  });
});

describe('EPT misconfigurations (SDM §29.3.3.1)', () => {
  const cases: [string, number, number, number, number][] = [
    // name, leaf lo, leaf hi, leaf level, non-leaf lo bits
    ['write without read', W | WB, 0, 1, RWX],
    ['write and execute without read', W | X | WB, 0, 1, RWX],
    ['memory type 2 in a leaf', RWX | (2 << 3), 0, 1, RWX],
    ['memory type 3 in a leaf', RWX | (3 << 3), 0, 1, RWX],
    ['memory type 7 in a leaf', RWX | (7 << 3), 0, 1, RWX],
    ['an address bit above MAXPHYADDR', RWX | WB, 1 << 16, 1, RWX],
    ['bits 20:12 of a 2 MiB page', RWX | WB | PS | 0x1000, 0, 2, RWX],
    ['bits 29:12 of a 1 GiB page', RWX | WB | PS | 0x20_0000, 0, 3, RWX],
    ['bits 6:3 of a non-leaf entry', RWX | WB, 0, 1, RWX | (1 << 3)],
    ['bit 6 of a non-leaf entry', RWX | WB, 0, 1, RWX | (1 << 6)],
  ];
  for (const [name, lo, hi, level, nonLeaf] of cases) {
    it(`reports ${name}`, () => {
      const { slw, mapEpt, mem } = ept();
      const leaf = mapEpt(0x4000_0000, 0x8000_0000, 0, level, nonLeaf);
      mem.set64(leaf, (0x8000_0000 | lo) >>> 0, hi);
      expect(slw.translate(0x4000_0000, NA.Read)).toBe(S.Misconfig);
      expect(slw.faultGpa).toBe(0x4000_0000);
      // The same entry with a legal setting translates.
      mem.set64(leaf, 0x8000_0000 | RWX | WB | (level > 1 ? PS : 0), 0);
      if (nonLeaf === RWX) expect(slw.translate(0x4000_0000, NA.Read)).toBe(S.Ok);
    });
  }

  it.each([36, 39, 46])('with MAXPHYADDR %i: address bits 51:MAXPHYADDR of a leaf or a non-leaf entry are reserved, bit MAXPHYADDR - 1 is not', (maxPhyAddr) => {
    const { slw, mapEpt, mem } = ept({ maxPhyAddr });
    const leaf = mapEpt(0x4000_0000, 0x8000_0000, RWX | WB);
    const bit = (n: number): number => 1 << (n - 32);
    // The highest implemented address bit: a legal host-physical address.
    mem.set64(leaf, (0x8000_0000 | RWX | WB) >>> 0, bit(maxPhyAddr - 1));
    expect(slw.translate(0x4000_0000, NA.Read)).toBe(S.Ok);
    for (const n of [maxPhyAddr, 51]) {
      mem.set64(leaf, (0x8000_0000 | RWX | WB) >>> 0, bit(n));
      expect(slw.translate(0x4000_0000, NA.Read), `leaf bit ${n}`).toBe(S.Misconfig);
    }
    mem.set64(leaf, (0x8000_0000 | RWX | WB) >>> 0, 0);
    // The PML4E (non-leaf) with bit MAXPHYADDR set.
    const pml4e = mem.read32(EPT_ROOT);
    mem.set64(EPT_ROOT, pml4e, bit(maxPhyAddr));
    expect(slw.translate(0x4000_0000, NA.Read)).toBe(S.Misconfig);
    mem.set64(EPT_ROOT, pml4e, 0);
    expect(slw.translate(0x4000_0000, NA.Read)).toBe(S.Ok);
  });

  it('reports bit 7 of a PML4E and of a PML5E', () => {
    const { slw, mapEpt, mem } = ept();
    mapEpt(0x5000, 0x9000, RWX | WB);
    mem.set64(EPT_ROOT, mem.read32(EPT_ROOT) | PS);
    expect(slw.translate(0x5000, NA.Read)).toBe(S.Misconfig);
    const five = ept({}, EPTP5);
    five.mapEpt(0x5000, 0x9000, RWX | WB);
    five.mem.set64(EPT_ROOT, five.mem.read32(EPT_ROOT) | PS);
    expect(five.slw.translate(0x5000, NA.Read)).toBe(S.Misconfig);
  });

  it('allows execute-only pages only with the capability', () => {
    const yes = ept({ executeOnly: true });
    yes.mapEpt(0x5000, 0x9000, X | WB);
    expect(yes.slw.translate(0x5000, NA.Fetch)).toBe(S.Ok);
    const no = ept({ executeOnly: false });
    no.mapEpt(0x5000, 0x9000, X | WB);
    expect(no.slw.translate(0x5000, NA.Fetch)).toBe(S.Misconfig);
  });

  it('reports a not-present entry as a violation even with reserved bits set', () => {
    const { slw, mapEpt } = ept();
    mapEpt(0x5000, 0x9000, (7 << 3) | (1 << 6)); // bits 2:0 = 000
    expect(slw.translate(0x5000, NA.Read)).toBe(S.Violation);
  });
});

describe('EPT accessed and dirty flags (SDM §29.3.5)', () => {
  it('writes nothing when EPTP bit 6 is clear', () => {
    const { slw, mapEpt, mem } = ept();
    mapEpt(0x5000, 0x9000, RWX | WB);
    expect(slw.translate(0x5000, NA.Write)).toBe(S.Ok);
    expect(mem.writes).toEqual([]);
    expect(slw.accessedDirty).toBe(false);
  });

  it('sets the accessed flag at every level and the dirty flag in the leaf on writes', () => {
    const { slw, mapEpt, mem } = ept({}, EPTP4 | EPTP_AD);
    const leaf = mapEpt(0x5000, 0x9000, RWX | WB);
    expect(slw.translate(0x5000, NA.Read)).toBe(S.Ok);
    expect(mem.writes.length).toBe(4);
    expect(mem.get32(EPT_ROOT) & EA).toBe(EA);
    expect(mem.get32(leaf) & (EA | ED)).toBe(EA);
    expect(slw.dirty).toBe(false);
    mem.writes.length = 0;
    expect(slw.translate(0x5000, NA.Write)).toBe(S.Ok);
    expect(mem.writes).toEqual([[leaf, (0x9000 | RWX | WB | EA | ED) >>> 0]]);
    expect(slw.dirty).toBe(true);
  });

  it('treats guest paging-structure accesses as writes: dirty flag, and write violations', () => {
    const { slw, mapEpt, mem } = ept({}, EPTP4 | EPTP_AD);
    const leaf = mapEpt(0x5000, 0x9000, RWX | WB);
    expect(slw.translate(0x5000, NA.PagingStructure)).toBe(S.Ok);
    expect(mem.get32(leaf) & ED).toBe(ED);
    const ro = mapEpt(0x6000, 0xa000, R | X | WB);
    expect(slw.translate(0x6000, NA.PagingStructure)).toBe(S.Violation);
    // Both bit 0 and bit 1 (the access counts as a write), not the final translation.
    expect(slw.infoLo).toBe(Q.Read | Q.Write | Q.Readable | Q.Executable | Q.LinearValid);
    expect(mem.get32(ro) & EA).toBe(0); // a failing translation sets nothing
    // PDPTE loads by MOV to CR are reads: allowed, and no dirty flag.
    expect(slw.translate(0x6000, NA.PagingStructure | NA.NoLinear)).toBe(S.Ok);
    expect(mem.get32(ro) & (EA | ED)).toBe(EA);
    const rw = mapEpt(0x7000, 0xb000, RWX | WB);
    expect(slw.translate(0x7000, NA.PagingStructure | NA.NoLinear)).toBe(S.Ok);
    expect(mem.get32(rw) & (EA | ED)).toBe(EA);
    // Without A/D the same read is allowed.
    expect(slw.setEpt(EPTP4, 0)).toBe(true);
    expect(slw.translate(0x6000, NA.PagingStructure)).toBe(S.Ok);
  });
});

// ---------------------------------------------------------------------------------------------
// NPT

const P = 1;
const RW = 2;
const US = 4;
const A = 1 << 5;
const D = 1 << 6;
const NX_HI = 1 << 31;
const NCR3 = 0x200_0000;

function npt(nxe = true, la57 = false) {
  const mem = new Mem();
  const alloc = new Alloc(NCR3 + 0x1000);
  const slw = new SecondLevelWalker(mem);
  slw.setNpt(NCR3, 0, nxe, la57);
  const mapNpt = (gpa: number, hpa: number, bits: number, hi = 0, leafLevel = 1, nonLeaf = P | RW | US): number =>
    map(mem, alloc, NCR3, gpa, la57 ? 5 : 4, leafLevel, ((hpa % TWO_32) | bits) >>> 0, Math.floor(hpa / TWO_32) | hi, nonLeaf);
  return { mem, slw, mapNpt };
}

describe('NPT translation (APM Vol. 2 §15.25.5)', () => {
  it('translates through the long-mode tables from nCR3 and sets A and D', () => {
    const { slw, mapNpt, mem } = npt();
    const leaf = mapNpt(0x5000, 0x3_0000_9000, P | RW | US);
    expect(slw.format).toBe(SecondLevelFormat.Npt);
    expect(slw.translate(0x5abc, NA.Write)).toBe(S.Ok);
    expect([slw.hostAddr, slw.pageSize, slw.references]).toEqual([0x3_0000_9abc, 0x1000, 4]);
    expect(mem.get32(leaf) & (A | D)).toBe(A | D);
    expect(mem.get32(NCR3) & A).toBe(A);
  });

  it('maps 2 MiB pages and walks 5 levels with the host CR4.LA57', () => {
    const { slw, mapNpt } = npt();
    mapNpt(0x40_0000, 0x80_0000, P | RW | US | (1 << 7), 0, 2);
    expect(slw.translate(0x41_2345, NA.Read)).toBe(S.Ok);
    expect([slw.hostAddr, slw.pageSize, slw.references]).toEqual([0x81_2345, 0x20_0000, 3]);
    const five = npt(true, true);
    five.mapNpt(0x5000, 0x9000, P | RW | US);
    expect(five.slw.translate(0x5000, NA.Read)).toBe(S.Ok);
    expect(five.slw.references).toBe(5);
  });

  it('checks every access as a user access: U/S = 0 faults even for reads', () => {
    const { slw, mapNpt } = npt();
    mapNpt(0x5000, 0x9000, P | RW);
    expect(slw.translate(0x5000, NA.Read)).toBe(S.Violation);
    expect([slw.infoLo, slw.infoHi]).toEqual([PF.Present | PF.User, NpfInfoHi.FinalTranslation]);
    expect([slw.faultGpaLo, slw.faultGpaHi]).toEqual([0x5000, 0]);
  });

  it('reports writes to read-only pages and not-present entries', () => {
    const { slw, mapNpt } = npt();
    mapNpt(0x5000, 0x9000, P | US);
    expect(slw.translate(0x5000, NA.Write)).toBe(S.Violation);
    expect(slw.infoLo).toBe(PF.Present | PF.Write | PF.User);
    expect(slw.translate(0x1_0000_0000, NA.Read)).toBe(S.Violation);
    expect([slw.infoLo, slw.infoHi, slw.faultGpaHi, slw.faultGpaLo]).toEqual([PF.User, 1, 1, 0]);
  });

  it('honours NX with the host EFER.NXE, and reserves bit 63 without it', () => {
    const on = npt(true);
    on.mapNpt(0x5000, 0x9000, P | RW | US, NX_HI);
    expect(on.slw.translate(0x5000, NA.Read)).toBe(S.Ok);
    expect(on.slw.translate(0x5000, NA.Fetch)).toBe(S.Violation);
    expect(on.slw.infoLo).toBe(PF.Present | PF.User | PF.InstructionFetch);
    const off = npt(false);
    off.mapNpt(0x5000, 0x9000, P | RW | US, NX_HI);
    expect(off.slw.translate(0x5000, NA.Read)).toBe(S.Violation);
    expect(off.slw.infoLo).toBe(PF.Present | PF.User | PF.ReservedBit);
    // EXITINFO1.ID is set for a code read even with the host's EFER.NXE = 0 (§15.25.6).
    expect(off.slw.translate(0x7000, NA.Fetch)).toBe(S.Violation);
    expect(off.slw.infoLo).toBe(PF.User | PF.InstructionFetch);
  });

  it('reports reserved address bits with RSVD', () => {
    const { slw, mapNpt } = npt();
    mapNpt(0x5000, 0x9000, P | RW | US, 1 << 16); // bit 48 with MAXPHYADDR 48
    expect(slw.translate(0x5000, NA.Read)).toBe(S.Violation);
    expect(slw.infoLo).toBe(PF.Present | PF.User | PF.ReservedBit);
  });

  it('marks guest page-table accesses with EXITINFO1 bit 33 and treats them as writes', () => {
    const { slw, mapNpt, mem } = npt();
    const leaf = mapNpt(0x5000, 0x9000, P | US);
    expect(slw.translate(0x5000, NA.PagingStructure)).toBe(S.Violation);
    expect([slw.infoLo, slw.infoHi]).toEqual([PF.Present | PF.Write | PF.User, NpfInfoHi.PageTableWalk]);
    mem.set64(leaf, 0x9000 | P | RW | US);
    expect(slw.translate(0x5000, NA.PagingStructure)).toBe(S.Ok);
    expect(mem.get32(leaf) & D).toBe(D);
  });

  it('a legacy PAE host: nCR3 bits 31:5 locate the PDPT, read at each walk; 2 MiB pages; NX with NXE', () => {
    const mem = new Mem();
    const slw = new SecondLevelWalker(mem);
    const pdpt = NCR3 + 0x20; // 32-byte aligned, not page aligned
    slw.setNpt(pdpt | 0x18, 0, true, false, PagingMode.Pae);
    // PDPT[1] -> PD at NCR3 + 0x1000; PD[2] -> PT at NCR3 + 0x2000; PD[3] a 2 MiB page.
    mem.set64(pdpt + 8, NCR3 + 0x1000 + P);
    mem.set64(NCR3 + 0x1000 + 2 * 8, NCR3 + 0x2000 + (P | RW | US));
    mem.set64(NCR3 + 0x2000 + 5 * 8, 0x9000 + (P | RW | US), NX_HI);
    mem.set64(NCR3 + 0x1000 + 3 * 8, 0x80_0000 + (P | RW | US | (1 << 7)));
    const gpa = 0x4000_0000 + 2 * 0x20_0000 + 0x5123;
    expect(slw.translate(gpa, NA.Read)).toBe(S.Ok);
    expect([slw.hostAddr, slw.pageSize, slw.references]).toEqual([0x9123, 0x1000, 3]);
    expect(slw.translate(gpa, NA.Fetch)).toBe(S.Violation);
    expect(slw.infoLo).toBe(PF.Present | PF.User | PF.InstructionFetch);
    expect(slw.translate(0x4000_0000 + 3 * 0x20_0000 + 0x1234, NA.Write)).toBe(S.Ok);
    expect([slw.hostAddr, slw.pageSize]).toEqual([0x80_1234, 0x20_0000]);
    // The PDPTE is not cached: a change takes effect at the next walk.
    mem.set64(pdpt + 8, 0);
    expect(slw.translate(gpa, NA.Read)).toBe(S.Violation);
    expect([slw.infoLo, slw.infoHi]).toEqual([PF.User, NpfInfoHi.FinalTranslation]);
    // A present PDPTE with a reserved bit (bit 1) is a reserved-bit fault; a walk access is a write.
    mem.set64(pdpt + 8, NCR3 + 0x1000 + P + 2);
    expect(slw.translate(gpa, NA.PagingStructure)).toBe(S.Violation);
    expect([slw.infoLo, slw.infoHi]).toEqual([PF.Present | PF.ReservedBit | PF.Write | PF.User, NpfInfoHi.PageTableWalk]);
    // Guest-physical addresses from 4 GiB have no translation.
    expect(slw.translate(0x1_0000_0000, NA.Read)).toBe(S.Violation);
    expect([slw.infoLo, slw.faultGpaHi]).toEqual([PF.User, 1]);
  });

  it('a legacy 32-bit host: 4-byte entries, 4 MiB pages only with the host CR4.PSE', () => {
    const mem = new Mem();
    const slw = new SecondLevelWalker(mem);
    slw.setNpt(NCR3, 0, true, false, PagingMode.Legacy32, true);
    mem.write32(NCR3 + 1 * 4, NCR3 + 0x1000 + (P | RW | US));
    mem.write32(NCR3 + 0x1000 + 5 * 4, 0x9000 + (P | RW | US));
    mem.write32(NCR3 + 2 * 4, 0x80_0000 + (P | RW | US | (1 << 7)));
    expect(slw.translate(0x40_5123, NA.Write)).toBe(S.Ok);
    expect([slw.hostAddr, slw.references]).toEqual([0x9123, 2]);
    expect(mem.get32(NCR3 + 0x1000 + 5 * 4) & (A | D)).toBe(A | D);
    expect(slw.translate(0x80_1234, NA.Read)).toBe(S.Ok);
    expect([slw.hostAddr, slw.pageSize]).toEqual([0x80_1234, 0x40_0000]);
    // Without CR4.PSE the PS bit is ignored: the PDE points at a page table.
    slw.setNpt(NCR3, 0, true, false, PagingMode.Legacy32, false);
    mem.write32(0x80_0000 + 4, 0x7000 + (P | US));
    expect(slw.translate(0x80_1234, NA.Read)).toBe(S.Ok);
    expect(slw.hostAddr).toBe(0x7234);
    expect(slw.translate(0x80_1234, NA.Write)).toBe(S.Violation);
    expect(slw.infoLo).toBe(PF.Present | PF.Write | PF.User);
  });
});

// ---------------------------------------------------------------------------------------------
// The two-dimensional walk

/** Guest tables live at guest-physical 0x10_0000.., mapped 1:1 + HOST_OFF by the second level. */
const HOST_OFF = 0x4000_0000;
const G_ROOT = 0x10_0000;

function twoD(format: 'ept' | 'npt', guestLevels: 4 | 5, eptpLo = EPTP4) {
  const mem = new Mem();
  const slAlloc = new Alloc(0x100_0000 + 0x1000);
  const gAlloc = new Alloc(G_ROOT + 0x1000);
  const slw = new SecondLevelWalker(mem);
  let mapSl: (gpa: number, bits: number) => number;
  if (format === 'ept') {
    expect(slw.setEpt(eptpLo, 0)).toBe(true);
    mapSl = (gpa, bits) => map(mem, slAlloc, 0x100_0000, gpa, 4, 1, (gpa + HOST_OFF) | bits);
  } else {
    slw.setNpt(0x100_0000, 0, true);
    mapSl = (gpa, bits) => map(mem, slAlloc, 0x100_0000, gpa, 4, 1, (gpa + HOST_OFF) | bits);
  }
  const slBits = format === 'ept' ? RWX | WB : P | RW | US | A | D;
  // Second-level mappings for the guest tables (and the data page at 0x80_0000).
  const mapGuest = (lin: number, gpa: number, bits: number): number => {
    const leaf = map(mem, gAlloc, G_ROOT, lin, guestLevels, 1, gpa | bits, 0, P | RW | US | A, (a) => a + HOST_OFF);
    return leaf;
  };
  const walker = new NestedPageWalker(mem, slw);
  return { mem, slw, walker, mapSl, slBits, mapGuest };
}

describe('two-dimensional walk', () => {
  for (const format of ['ept', 'npt'] as const) {
    it(`makes 24 references for 4-level guest paging over 4-level ${format.toUpperCase()}`, () => {
      const t = twoD(format, 4);
      t.mapGuest(0x7fff_f000, 0x80_0000, P | RW | US | A | D);
      for (let p = G_ROOT; p < G_ROOT + 0x5000; p += 0x1000) t.mapSl(p, t.slBits);
      t.mapSl(0x80_0000, t.slBits);
      const ctl = WalkControl.Wp | WalkControl.Nxe;
      expect(t.walker.walk(PagingMode.Level4, G_ROOT, 0, 0x7fff_f123, 0, PageAccess.Write, ctl)).toBe(S.Ok);
      expect(t.walker.guestPhysAddr).toBe(0x80_0123);
      expect(t.walker.hostAddr).toBe(0x80_0123 + HOST_OFF);
      expect(t.walker.guestReferences).toBe(4);
      expect(t.walker.secondReferences).toBe(20);
      expect(t.walker.references).toBe(24);
    });
  }

  it('makes 4 references with guest paging off', () => {
    const t = twoD('ept', 4);
    t.mapSl(0x80_0000, t.slBits);
    expect(t.walker.walk(PagingMode.None, 0, 0, 0x80_0042, 0, PageAccess.Read, 0)).toBe(S.Ok);
    expect([t.walker.hostAddr, t.walker.references]).toEqual([0x80_0042 + HOST_OFF, 4]);
  });

  it('reports an EPT violation on a guest page-table access with bit 8 clear', () => {
    const t = twoD('ept', 4);
    t.mapGuest(0x7fff_f000, 0x80_0000, P | RW | US | A | D);
    t.mapSl(G_ROOT, t.slBits); // only the PML4 page is mapped
    t.mapSl(0x80_0000, t.slBits);
    expect(t.walker.walk(PagingMode.Level4, G_ROOT, 0, 0x7fff_f000, 0, PageAccess.Read, 0)).toBe(S.Violation);
    expect(t.slw.infoLo).toBe(Q.Read | Q.LinearValid);
    expect(t.slw.faultGpa).toBe(G_ROOT + 0x1000 + 1 * 8); // the PDPTE for bits 38:30 = 1
  });

  it('reports a violation on the final translation with bit 8 set, and NPF bit 32 vs 33', () => {
    for (const format of ['ept', 'npt'] as const) {
      const t = twoD(format, 4);
      t.mapGuest(0x7fff_f000, 0x80_0000, P | RW | US | A | D);
      for (let p = G_ROOT; p < G_ROOT + 0x5000; p += 0x1000) t.mapSl(p, t.slBits);
      expect(t.walker.walk(PagingMode.Level4, G_ROOT, 0, 0x7fff_f000, 0, PageAccess.Read, 0)).toBe(S.Violation);
      expect(t.slw.faultGpa).toBe(0x80_0000);
      // Bits 9 and 10: the guest page is a user-mode, read/write one.
      if (format === 'ept') {
        expect(t.slw.infoLo).toBe(Q.Read | Q.LinearValid | Q.FinalTranslation | Q.UserLinear | Q.WritableLinear);
      }
      else expect([t.slw.infoLo, t.slw.infoHi]).toEqual([PF.User, NpfInfoHi.FinalTranslation]);
      t.mem.set64(G_ROOT + HOST_OFF, 0); // guest PML4E gone: the guest walk now faults, not the second level
      expect(t.walker.walk(PagingMode.Level4, G_ROOT, 0, 0x7fff_f000, 0, PageAccess.Read, 0)).toBe(S.PageFault);
      expect(t.walker.guest.errorCode).toBe(0);
      expect(t.walker.references).toBe(5);
    }
    const n = twoD('npt', 4);
    n.mapGuest(0x7fff_f000, 0x80_0000, P | RW | US | A | D);
    expect(n.walker.walk(PagingMode.Level4, G_ROOT, 0, 0x7fff_f000, 0, PageAccess.Read, 0)).toBe(S.Violation);
    expect([n.slw.infoLo, n.slw.infoHi]).toEqual([PF.Write | PF.User, NpfInfoHi.PageTableWalk]);
  });

  it('sends guest accessed/dirty write-backs through the second level', () => {
    const t = twoD('ept', 4);
    const leaf = t.mapGuest(0x7fff_f000, 0x80_0000, P | RW | US); // A and D clear in the guest PTE
    for (let p = G_ROOT; p < G_ROOT + 0x5000; p += 0x1000) t.mapSl(p, t.slBits);
    t.mapSl(0x80_0000, t.slBits);
    expect(t.walker.walk(PagingMode.Level4, G_ROOT, 0, 0x7fff_f000, 0, PageAccess.Write, 0)).toBe(S.Ok);
    expect(t.mem.get32(leaf) & (A | D)).toBe(A | D); // written at the host address
    expect(t.walker.references).toBe(24 + 4); // one more second-level walk for the write-back
    // A write-protected guest page table: the write-back is an EPT violation (bits 0 and 1).
    const u = twoD('ept', 4);
    u.mapGuest(0x7fff_f000, 0x80_0000, P | RW | US);
    for (let p = G_ROOT; p < G_ROOT + 0x5000; p += 0x1000) u.mapSl(p, R | X | WB);
    u.mapSl(0x80_0000, u.slBits);
    expect(u.walker.walk(PagingMode.Level4, G_ROOT, 0, 0x7fff_f000, 0, PageAccess.Write, 0)).toBe(S.Violation);
    expect(u.slw.infoLo).toBe(Q.Read | Q.Write | Q.Readable | Q.Executable | Q.LinearValid);
  });

  it('translates 32-bit guest paging through the second level', () => {
    const t = twoD('ept', 4);
    // PDE at G_ROOT + 1 * 4 -> PT at 0x10_1000, PTE 2 -> page 0x80_0000.
    t.mem.write32(G_ROOT + HOST_OFF + 4, 0x10_1000 | P | RW | US | A);
    t.mem.write32(0x10_1000 + HOST_OFF + 8, 0x80_0000 | P | RW | US | A | D);
    t.mapSl(G_ROOT, t.slBits);
    t.mapSl(0x10_1000, t.slBits);
    t.mapSl(0x80_0000, t.slBits);
    // SVM paged real mode (CR0.PG = 1, CR0.PE = 0) selects this same 32-bit walk.
    expect(pagingModeOf(0x8000_0000, 0, 0)).toBe(PagingMode.Legacy32);
    expect(t.walker.walk(PagingMode.Legacy32, G_ROOT, 0, 0x0040_2abc, 0, PageAccess.Read, 0)).toBe(S.Ok);
    expect([t.walker.guestPhysAddr, t.walker.hostAddr, t.walker.references]).toEqual([0x80_0abc, 0x80_0abc + HOST_OFF, 2 + 12]);
  });

  it('translates each 4-byte guest entry on its own, even at the next dword', () => {
    const t = twoD('ept', 4);
    // The page directory doubles as the page table: PDE 2 (at +8) points back to it, and the
    // PTE for table index 3 sits at +12, where the high half of an 8-byte entry would be.
    t.mem.write32(G_ROOT + HOST_OFF + 8, G_ROOT | P | RW | US | A);
    t.mem.write32(G_ROOT + HOST_OFF + 12, 0x80_0000 | P | RW | US | A | D);
    t.mapSl(G_ROOT, t.slBits);
    t.mapSl(0x80_0000, t.slBits);
    expect(t.walker.walk(PagingMode.Legacy32, G_ROOT, 0, 0x0080_3000, 0, PageAccess.Read, 0)).toBe(S.Ok);
    expect([t.walker.guestPhysAddr, t.walker.guestReferences, t.walker.references]).toEqual([0x80_0000, 2, 2 + 12]);
  });

  it('loads PAE PDPTEs through the second level, without a guest-linear address', () => {
    const t = twoD('ept', 4);
    t.mem.set64(G_ROOT + HOST_OFF + 0x20 + 8, 0x10_1000 | P);
    t.mem.set64(0x10_1000 + HOST_OFF, 0x80_0000 | P | RW | (1 << 7) | A | D); // 2 MiB page
    expect(t.walker.loadPdptes(G_ROOT + 0x20)).toBe(S.Violation);
    expect(t.slw.infoLo).toBe(Q.Read); // bit 7 clear
    t.mapSl(G_ROOT, t.slBits);
    t.mapSl(0x10_1000, t.slBits);
    t.mapSl(0x80_1000, t.slBits);
    expect(t.walker.loadPdptes(G_ROOT + 0x20)).toBe(S.Ok);
    expect(t.walker.guest.pdptes[2]).toBe(0x10_1000 | P);
    expect(t.walker.walk(PagingMode.Pae, G_ROOT + 0x20, 0, 0x4000_1234, 0, PageAccess.Read, 0)).toBe(S.Ok);
    expect([t.walker.hostAddr, t.walker.pageSize]).toEqual([0x80_1234 + HOST_OFF, 0x1000]);
    t.mem.set64(G_ROOT + HOST_OFF + 0x20, 1 | (1 << 1)); // reserved bit 1 in PDPTE 0
    expect(t.walker.loadPdptes(G_ROOT + 0x20)).toBe(S.InvalidPdpte);
  });

  it('combines the rights of both levels for a TLB entry (a TranslationResult)', () => {
    const t = twoD('ept', 4);
    t.mapGuest(0x7fff_f000, 0x80_0000, P | RW | US | A); // guest: writable, user, D clear
    for (let p = G_ROOT; p < G_ROOT + 0x5000; p += 0x1000) t.mapSl(p, t.slBits);
    t.mapSl(0x80_0000, R | X | WB); // second level: read-only
    const result: TranslationResult = t.walker;
    expect(t.walker.walk(PagingMode.Level4, G_ROOT, 0, 0x7fff_f010, 0, PageAccess.Read, WalkControl.Nxe)).toBe(S.Ok);
    expect(result.physAddr).toBe(0x80_0010 + HOST_OFF);
    expect([result.user, result.writable, result.executable, result.dirty, t.walker.readable]).toEqual([true, false, true, false, true]);
    const leaf = t.mapSl(0x80_0000, X | WB); // execute-only
    expect(t.walker.walk(PagingMode.Level4, G_ROOT, 0, 0x7fff_f010, 0, PageAccess.Fetch, WalkControl.Nxe)).toBe(S.Ok);
    expect([t.walker.readable, t.walker.executable]).toEqual([false, true]);
    expect(t.mem.get32(leaf) & 7).toBe(X);
    // A write walks again and fails on the execute-only page.
    expect(t.walker.walk(PagingMode.Level4, G_ROOT, 0, 0x7fff_f010, 0, PageAccess.Write, WalkControl.Nxe)).toBe(S.Violation);
    expect(t.slw.infoLo).toBe(Q.Write | Q.Executable | Q.LinearValid | Q.FinalTranslation | Q.UserLinear | Q.WritableLinear);
  });

  it('describes the guest translation in exit-qualification bits 9-11 (advanced VM-exit information)', () => {
    const t = twoD('ept', 4);
    // A supervisor, read-only, execute-disabled guest page whose EPT page is not mapped.
    for (let p = G_ROOT; p < G_ROOT + 0x5000; p += 0x1000) t.mapSl(p, t.slBits);
    const pte = t.mapGuest(0x7fff_f000, 0x80_0000, P | A);
    t.mem.set64(pte, 0x80_0000 | P | A, NX_HI);
    expect(t.walker.walk(PagingMode.Level4, G_ROOT, 0, 0x7fff_f000, 0, PageAccess.Read, WalkControl.Nxe)).toBe(S.Violation);
    expect(t.slw.infoLo).toBe(Q.Read | Q.LinearValid | Q.FinalTranslation | Q.ExecuteDisabledLinear);
    // Guest paging off: a user-mode, read/write, executable linear address (SDM notes to bits 9-11).
    expect(t.walker.walk(PagingMode.None, 0, 0, 0x80_0000, 0, PageAccess.Write, 0)).toBe(S.Violation);
    expect(t.slw.infoLo).toBe(Q.Write | Q.LinearValid | Q.FinalTranslation | Q.UserLinear | Q.WritableLinear);
    // Without the capability the bits stay 0.
    const plain = new SecondLevelWalker(new Mem(), { advancedExitInfo: false });
    expect(plain.setEpt(EPTP4, 0)).toBe(true);
    expect(plain.translate(0x1000, NA.Read | NA.User | NA.LinearWritable | NA.LinearExecuteDisable)).toBe(S.Violation);
    expect(plain.infoLo).toBe(Q.Read | Q.LinearValid | Q.FinalTranslation);
    // Never for guest paging-structure accesses.
    expect(t.slw.translate(0x90_0000, NA.PagingStructure | NA.User | NA.LinearWritable)).toBe(S.Violation);
    expect(t.slw.infoLo).toBe(Q.Read | Q.LinearValid);
  });

  it('passes the guest U/S to mode-based execute control', () => {
    const mem = new Mem();
    const slw = new SecondLevelWalker(mem);
    expect(slw.setEpt(EPTP4, 0, true)).toBe(true);
    const slAlloc = new Alloc(0x100_0000 + 0x1000);
    const gAlloc = new Alloc(G_ROOT + 0x1000);
    map(mem, gAlloc, G_ROOT, 0x1000, 4, 1, 0x80_0000 | P | US | A, 0, P | RW | US | A, (a) => a + HOST_OFF);
    map(mem, gAlloc, G_ROOT, 0x2000, 4, 1, 0x80_0000 | P | A, 0, P | RW | US | A, (a) => a + HOST_OFF);
    for (let p = G_ROOT; p < G_ROOT + 0x5000; p += 0x1000) map(mem, slAlloc, 0x100_0000, p, 4, 1, (p + HOST_OFF) | R | W | WB, 0, RWX | XU);
    map(mem, slAlloc, 0x100_0000, 0x80_0000, 4, 1, (0x80_0000 + HOST_OFF) | R | XU | WB, 0, RWX | XU);
    const walker = new NestedPageWalker(mem, slw);
    // User page: bit 10 allows the fetch, even a supervisor one (SMEP off).
    expect(walker.walk(PagingMode.Level4, G_ROOT, 0, 0x1000, 0, PageAccess.Fetch, WalkControl.Nxe)).toBe(S.Ok);
    // Supervisor page: bit 2 is needed.
    expect(walker.walk(PagingMode.Level4, G_ROOT, 0, 0x2000, 0, PageAccess.Fetch, WalkControl.Nxe)).toBe(S.Violation);
    expect(slw.infoLo & (Q.Fetch | Q.FinalTranslation)).toBe(Q.Fetch | Q.FinalTranslation);
  });
});
