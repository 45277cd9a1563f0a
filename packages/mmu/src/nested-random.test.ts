/**
 * Randomized check of the two-dimensional walk: random guest and second-level tables in a
 * sparse, lazily generated memory; every translation, fault, reference count and
 * accessed/dirty write is compared with the slow reference of nested-reference.edge.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  NestedPageWalker,
  NestedStatus,
  PageAccess,
  type PageTableMemory,
  PagingMode,
  SecondLevelWalker,
  WalkControl,
} from './index.js';
import {
  type RefConfig,
  type RefGuestMode,
  type RefKind,
  type RefMemory,
  refLoadPdptes,
  refTranslate,
} from './nested-reference.edge.js';

const TWO_32 = 2 ** 32;

function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A small seeded generator for the case parameters. */
class Rng {
  constructor(private state: number) {}
  next(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    return mix(this.state);
  }
  below(n: number): number {
    return this.next() % n;
  }
  chance(p: number): boolean {
    return this.next() / TWO_32 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }
}

/** Page frames (address / 4096) that entries point to: low ones, and some above 4 GiB. */
const FRAMES = [
  0x10, 0x11, 0x12, 0x13, 0x14, 0x20, 0x21, 0x22, 0x200, 0x201, 0x3ff, 0x7ff00, 0xfffff, 0x100010, 0x100011, 0x1fffff0,
  0x8000000, 0x7_0000_0000,
];
const LOW_FRAMES = FRAMES.slice(0, 12);

/**
 * Memory whose every 8-byte slot holds a deterministic pseudo-random entry (a function of the
 * seed and the address, so the order of reads does not matter), overridden by writes.
 */
class LazyMemory implements PageTableMemory, RefMemory {
  readonly written = new Map<number, number>();
  /** How often an entry gets a fault-prone feature (not present, reserved bits, odd permissions). */
  constructor(
    readonly seed: number,
    readonly noise: number,
  ) {}

  private r(slotLo: number, slotHi: number, k: number): number {
    return mix(mix(mix(this.seed ^ Math.imul(k + 1, 0x9e3779b9)) ^ slotLo) ^ slotHi);
  }
  private u(slotLo: number, slotHi: number, k: number): number {
    return this.r(slotLo, slotHi, k) / TWO_32;
  }

  /** The generated (lo, hi) entry of the slot holding `addr`. */
  private generate(addr: number): [number, number] {
    const slot = Math.floor(addr / 8);
    const sl = slot >>> 0;
    const sh = Math.floor(slot / TWO_32);
    const noise = this.noise;
    if (this.u(sl, sh, 0) < noise) return [0, 0];
    let lo = this.u(sl, sh, 1) < 1 - noise * 2 ? 7 : this.r(sl, sh, 2) & 7;
    if (this.u(sl, sh, 3) < noise) lo |= (this.r(sl, sh, 4) & 7) << 3;
    if (this.u(sl, sh, 5) < noise) lo |= 1 << 6;
    if (this.u(sl, sh, 6) < noise * 3) lo |= 1 << 8;
    if (this.u(sl, sh, 7) < noise * 3) lo |= 1 << 9;
    if (this.u(sl, sh, 8) < 0.8) lo |= 1 << 10;
    if (this.u(sl, sh, 9) < 0.2) lo |= 1 << 11;
    let frame = FRAMES[this.r(sl, sh, 10) % FRAMES.length];
    if (this.u(sl, sh, 11) < 0.1) {
      lo |= 1 << 7;
      frame -= frame % 0x40000; // 1 GiB aligned, fine for 2 MiB too
    }
    lo = (lo | ((frame % 0x100000) << 12)) >>> 0;
    let hi = Math.floor(frame / 0x100000);
    if (this.u(sl, sh, 12) < noise) lo = (lo | (1 << (12 + (this.r(sl, sh, 13) % 18)))) >>> 0;
    if (this.u(sl, sh, 14) < noise) hi |= 1 << this.r(sl, sh, 15) % 20;
    if (this.u(sl, sh, 16) < 0.1) hi |= 1 << 31;
    if (this.u(sl, sh, 17) < 0.08) hi |= (this.r(sl, sh, 18) & 0x7ff) << 20;
    return [lo >>> 0, hi >>> 0];
  }

  read32(addr: number): number {
    const w = this.written.get(addr);
    if (w !== undefined) return w;
    const [lo, hi] = this.generate(addr);
    return addr % 8 === 0 ? lo : hi;
  }
  write32(addr: number, value: number): void {
    this.written.set(addr, value >>> 0);
  }
  clone(): LazyMemory {
    const m = new LazyMemory(this.seed, this.noise);
    for (const [k, v] of this.written) m.written.set(k, v);
    return m;
  }
}

const MODES: [RefGuestMode, PagingMode][] = [
  ['none', PagingMode.None],
  ['legacy32', PagingMode.Legacy32],
  ['pae', PagingMode.Pae],
  ['level4', PagingMode.Level4],
  ['level5', PagingMode.Level5],
];

const KIND: Record<number, RefKind> = {
  [NestedStatus.Ok]: 'ok',
  [NestedStatus.Violation]: 'violation',
  [NestedStatus.Misconfig]: 'misconfig',
  [NestedStatus.PageFault]: 'pagefault',
  [NestedStatus.InvalidPdpte]: 'invalidPdpte',
};

function sortedWrites(m: LazyMemory): [number, number][] {
  return [...m.written.entries()].sort((a, b) => a[0] - b[0]);
}

function runCase(seed: number, counts: Map<string, number>): void {
  const rng = new Rng(seed);
  const mem = new LazyMemory(seed, rng.pick([0.005, 0.02, 0.05, 0.15]));
  const format = rng.chance(0.5) ? 'ept' : 'npt';
  const maxPhyAddr = rng.pick([36, 39, 46, 48, 52]);
  const [refMode, mode] = rng.pick(MODES);
  const frame = (): number => rng.pick(LOW_FRAMES) * 4096;
  const cfg: RefConfig = {
    format,
    maxPhyAddr,
    executeOnly: rng.chance(0.7),
    slGbPages: rng.chance(0.7),
    root: 0n,
    eptLevels: rng.chance(0.7) ? 4 : 5,
    eptAd: rng.chance(0.5),
    mbec: rng.chance(0.4),
    hostNxe: rng.chance(0.7),
    hostLa57: rng.chance(0.3),
    guest: {
      mode: refMode,
      cr3: 0n,
      pse: rng.chance(0.7),
      nxe: rng.chance(0.7),
      wp: rng.chance(0.7),
      smep: rng.chance(0.3),
      smap: rng.chance(0.3),
      ac: rng.chance(0.3),
      cpl3: rng.chance(0.4),
      gbPages: rng.chance(0.7),
      amd: format === 'npt',
      pdptes: [],
    },
  };
  const root = frame();
  cfg.root = BigInt(root);
  const cr3Lo = mode === PagingMode.Pae ? frame() + rng.below(128) * 32 : frame();
  cfg.guest.cr3 = BigInt(cr3Lo);

  const second = new SecondLevelWalker(mem, { maxPhyAddr, executeOnly: cfg.executeOnly, gbPages: cfg.slGbPages });
  if (format === 'ept') {
    const eptpLo = root | (rng.chance(0.8) ? 6 : 0) | ((cfg.eptLevels - 1) << 3) | (cfg.eptAd ? 1 << 6 : 0);
    expect(second.setEpt(eptpLo, 0, cfg.mbec)).toBe(true);
  } else {
    second.setNpt(root, 0, cfg.hostNxe, cfg.hostLa57);
  }
  const walker = new NestedPageWalker(mem, second, { maxPhyAddr, gbPages: cfg.guest.gbPages, amd: cfg.guest.amd });
  const refMem = mem.clone();
  const g = cfg.guest;
  const ctl =
    (g.pse ? WalkControl.Pse : 0) |
    (g.nxe ? WalkControl.Nxe : 0) |
    (g.wp ? WalkControl.Wp : 0) |
    (g.smep ? WalkControl.Smep : 0) |
    (g.smap ? WalkControl.Smap : 0) |
    (g.ac ? WalkControl.Ac : 0) |
    (g.cpl3 ? WalkControl.Cpl3 : 0);

  const check = (status: NestedStatus, ref: ReturnType<typeof refTranslate>, what: string): void => {
    const ctx = `seed ${seed} ${format} ${refMode} ${what}`;
    expect(KIND[status], ctx).toBe(ref.kind);
    expect(walker.references, ctx).toBe(ref.refs);
    if (status === NestedStatus.Ok && what !== 'pdpte') {
      expect(walker.hostAddr, ctx).toBe(Number(ref.hostAddr));
      expect(walker.guestPhysAddr, ctx).toBe(Number(ref.guestPhys));
      expect(walker.pageSize, ctx).toBe(Number(ref.pageSize));
      const w = walker;
      expect([w.user, w.writable, w.readable, w.executable, w.global, w.dirty], ctx).toEqual([
        ref.user,
        ref.writable,
        ref.readable,
        ref.executable,
        ref.global,
        ref.dirty,
      ]);
    } else if (status === NestedStatus.PageFault) {
      expect(walker.guest.errorCode, ctx).toBe(ref.errorCode);
    } else if (status === NestedStatus.Violation || status === NestedStatus.Misconfig) {
      expect(second.faultGpa, ctx).toBe(Number(ref.faultGpa));
      expect(second.infoLo >>> 0, ctx).toBe(Number(ref.info & 0xffff_ffffn));
      expect(second.infoHi >>> 0, ctx).toBe(Number(ref.info >> 32n));
    }
    expect(sortedWrites(mem), ctx).toEqual(sortedWrites(refMem));
    counts.set(`${format}:${ref.kind}`, (counts.get(`${format}:${ref.kind}`) ?? 0) + 1);
  };

  if (mode === PagingMode.Pae) {
    const status = walker.loadPdptes(cr3Lo);
    const ref = refLoadPdptes(refMem, cfg);
    check(status, ref.result, 'pdpte');
    if (status !== NestedStatus.Ok) return;
    for (let i = 0; i < 4; i++) {
      const v = ref.pdptes[i];
      expect(walker.guest.pdptes[2 * i] >>> 0).toBe(Number(v & 0xffff_ffffn));
      expect(walker.guest.pdptes[2 * i + 1] >>> 0).toBe(Number(v >> 32n));
    }
    g.pdptes = ref.pdptes;
  }
  // Several accesses per table set, so that earlier A/D writes feed later walks.
  for (let n = 0; n < 4; n++) {
    const linLo = rng.next() | 0;
    const linHi = mode >= PagingMode.Level4 ? rng.next() & 0x01ff_ffff : 0;
    const kind = rng.below(3);
    const write = kind === 1;
    const fetch = kind === 2;
    const user = rng.chance(0.2);
    const implicit = !fetch && rng.chance(0.1);
    const access =
      (write ? PageAccess.Write : 0) | (fetch ? PageAccess.Fetch : 0) | (user ? PageAccess.User : 0) | (implicit ? PageAccess.Implicit : 0);
    const lin = (BigInt(linHi >>> 0) << 32n) | BigInt(linLo >>> 0);
    const status = walker.walk(mode, cr3Lo, 0, linLo, linHi, access, ctl);
    const ref = refTranslate(refMem, cfg, lin, { write, fetch, user, implicit });
    check(status, ref, `access ${n} lin ${lin.toString(16)} acc ${access}`);
  }
}

describe('two-dimensional walk against the reference', () => {
  it('agrees on thousands of random guest and second-level tables', () => {
    const counts = new Map<string, number>();
    for (let seed = 1; seed <= 5000; seed++) runCase(seed, counts);
    // Every outcome occurs often enough for the comparison to mean something.
    for (const format of ['ept', 'npt']) {
      expect(counts.get(`${format}:ok`) ?? 0, format).toBeGreaterThan(300);
      expect(counts.get(`${format}:violation`) ?? 0, format).toBeGreaterThan(300);
      expect(counts.get(`${format}:pagefault`) ?? 0, format).toBeGreaterThan(300);
    }
    expect(counts.get('ept:misconfig') ?? 0).toBeGreaterThan(300);
    expect(counts.get('ept:invalidPdpte') ?? 0).toBeGreaterThan(20);
    expect(counts.get('npt:invalidPdpte') ?? 0).toBeGreaterThan(20);
  });
});
