/**
 * `@hvkit/mmu` micro-benchmarks for `pnpm bench`: the cost of a TLB hit in the tagged `Tlb`,
 * and of a full two-dimensional walk (4-level guest paging over 4-level EPT and over NPT: 24
 * memory references, each checked), in host nanoseconds. They run in the bench's own process,
 * after a warm-up, over a flat host memory.
 */
import {
  NestedPageWalker,
  NestedStatus,
  PageAccess,
  PagingMode,
  SecondLevelWalker,
  Tlb,
  TlbPerm,
  WalkControl,
  type PageTableMemory,
} from '@hvkit/mmu';

/** Host memory: one typed array, read and written by dword. */
class FlatMemory implements PageTableMemory {
  readonly words: Uint32Array;
  constructor(bytes: number) {
    this.words = new Uint32Array(bytes / 4);
  }
  read32(a: number): number {
    return this.words[a >>> 2]!;
  }
  write32(a: number, v: number): void {
    this.words[a >>> 2] = v >>> 0;
  }
}

const GUEST_ROOT = 0x10_0000;
const SL_ROOT = 0x40_0000;
/** Host address = guest-physical address + this. */
const HOST_OFFSET = 0x80_0000;
const PAGES = 64;

export interface MmuBench {
  /** Nanoseconds per TLB lookup that hits. */
  readonly tlbHitNs: number;
  /** Nanoseconds per two-dimensional walk, and its memory references. */
  readonly walks: readonly { readonly format: 'EPT' | 'NPT'; readonly ns: number; readonly references: number }[];
}

function time(iterations: number, body: (i: number) => void): number {
  for (let i = 0; i < Math.min(iterations, 200_000); i++) body(i); // warm-up: let V8 optimise
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) body(i);
  return Number(process.hrtime.bigint() - t0) / iterations;
}

/** 8-byte entries from `root` for `addr`, tables allocated from `next()`; returns the leaf entry address. */
function mapChain(mem: FlatMemory, root: number, addr: number, leaf: number, next: () => number, nonLeaf: number, place: (a: number) => number): void {
  let table = root;
  for (let level = 4; level > 1; level--) {
    const ea = place(table + (Math.floor(addr / 2 ** (12 + 9 * (level - 1))) % 512) * 8);
    let lo = mem.read32(ea);
    if (lo === 0) {
      lo = (next() | nonLeaf) >>> 0;
      mem.write32(ea, lo);
    }
    table = lo & ~0xfff;
  }
  mem.write32(place(table + (Math.floor(addr / 4096) % 512) * 8), leaf >>> 0);
}

function twoDimensionalWalk(format: 'EPT' | 'NPT'): { ns: number; references: number } {
  const mem = new FlatMemory(16 << 20);
  let slNext = SL_ROOT + 0x1000;
  const slPage = () => (slNext += 0x1000) - 0x1000;
  const slw = new SecondLevelWalker(mem);
  // EPT: R/W/X, write-back, 4-level walk; NPT: P, R/W, U/S, A, D (every guest access is a user access).
  const slLeaf = format === 'EPT' ? 7 | (6 << 3) : 0x67;
  const slNonLeaf = format === 'EPT' ? 7 : 0x27;
  if (format === 'EPT') slw.setEpt(SL_ROOT | 6 | (3 << 3), 0);
  else slw.setNpt(SL_ROOT, 0, true);
  const mapSl = (gpa: number) => mapChain(mem, SL_ROOT, gpa, (gpa + HOST_OFFSET) | slLeaf, slPage, slNonLeaf, (a) => a);
  // The guest's tables live at guest-physical GUEST_ROOT.., mapped 1:1 + HOST_OFFSET.
  let gNext = GUEST_ROOT + 0x1000;
  const gPage = () => (gNext += 0x1000) - 0x1000;
  for (let p = 0; p < PAGES; p++) mapChain(mem, GUEST_ROOT, 0x4000_0000 + p * 0x1000, (0x20_0000 + p * 0x1000) | 0x67, gPage, 0x27, (a) => a + HOST_OFFSET);
  for (let a = GUEST_ROOT; a < gNext; a += 0x1000) mapSl(a);
  for (let p = 0; p < PAGES; p++) mapSl(0x20_0000 + p * 0x1000);
  const walker = new NestedPageWalker(mem, slw);
  const ctl = WalkControl.Wp | WalkControl.Nxe;
  let references = 0;
  const ns = time(500_000, (i) => {
    const status = walker.walk(PagingMode.Level4, GUEST_ROOT, 0, 0x4000_0000 + (i % PAGES) * 0x1000, 0, PageAccess.Read, ctl);
    if (status !== NestedStatus.Ok) throw new Error(`the ${format} benchmark walk failed (status ${status})`);
    references = walker.references;
  });
  return { ns, references };
}

function tlbHit(): number {
  const tlb = new Tlb({ entries: 1024, ways: 4 });
  const ctx = tlb.context(1, 0, 0x100_0000);
  for (let p = 0; p < 256; p++) tlb.insert(ctx, 0x4000_0000 + p * 0x1000, 0, 0x80_0000 + p * 0x1000, 0x1000, TlbPerm.User | TlbPerm.Writable | TlbPerm.Dirty);
  let sum = 0;
  const ns = time(5_000_000, (i) => {
    const e = tlb.lookup(ctx, 0x4000_0000 + (i & 255) * 0x1000, 0);
    if (e < 0) throw new Error('the TLB benchmark missed');
    sum += tlb.hostPage[e]!;
  });
  if (sum === 0) throw new Error('unreachable');
  return ns;
}

export function benchMmu(): MmuBench {
  return { tlbHitNs: tlbHit(), walks: [{ format: 'EPT', ...twoDimensionalWalk('EPT') }, { format: 'NPT', ...twoDimensionalWalk('NPT') }] };
}
