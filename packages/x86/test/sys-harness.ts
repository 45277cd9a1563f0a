/**
 * Test harness for the system-register, MSR, CPUID, fast-call, I/O and paging tests: a CPU on
 * RAM, exceptions caught through `cpu.onEvent` (recorded, the CPU stops with RIP at the faulting
 * instruction), direct mode setup for unit tests, and a page-table builder for every paging mode.
 */
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { Cpu, Cr0, Cr4, Efer, INTEL_CORE, Seg, SegAttr, type StopReason, type CpuModel, type VirtualizationExtension } from '../src/index.js';

export const CODE = 0x10000;

/** Flat segment attributes (VMX access-rights layout). */
export const ATTR = {
  code32: SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G,
  code64: SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.L | SegAttr.G,
  data: SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G,
  tss32: SegAttr.P | 11,
} as const;

export interface Fault {
  vector: number;
  error: number;
}

export class Sys {
  readonly memory: PhysicalMemory;
  readonly io: PioBus;
  readonly cpu: Cpu;
  readonly events: Fault[] = [];

  constructor(opts: { ram?: number; model?: CpuModel } = {}) {
    const ram = opts.ram ?? 8 << 20;
    this.memory = new PhysicalMemory({ ramSize: ram });
    this.memory.mapRam(0, ram);
    this.io = new PioBus();
    this.cpu = new Cpu({ memory: this.memory, io: this.io, model: opts.model ?? INTEL_CORE });
    this.cpu.onEvent = (_kind, vector, error) => {
      this.events.push({ vector, error });
      this.cpu.stop();
      return true;
    };
  }

  w8(a: number, v: number): void {
    this.memory.write8(a as Hpa, v & 0xff);
  }
  w16(a: number, v: number): void {
    this.memory.write16(a as Hpa, v & 0xffff);
  }
  w32(a: number, v: number): void {
    this.memory.write32(a as Hpa, v >>> 0);
  }
  w64(a: number, v: bigint): void {
    this.w32(a, Number(v & 0xffffffffn));
    this.w32(a + 4, Number((v >> 32n) & 0xffffffffn));
  }
  r8(a: number): number {
    return this.memory.read8(a as Hpa);
  }
  r16(a: number): number {
    return this.memory.read16(a as Hpa);
  }
  r32(a: number): number {
    return this.memory.read32(a as Hpa) >>> 0;
  }
  r64(a: number): bigint {
    return (BigInt(this.r32(a + 4)) << 32n) | BigInt(this.r32(a));
  }
  bytes(a: number, b: readonly number[]): void {
    this.memory.write(a as Hpa, Uint8Array.from(b));
  }

  /** Puts `code` at CODE (or `at`) and points RIP at it (CS base must be 0). */
  code(code: readonly number[], at = CODE): this {
    this.bytes(at, code);
    this.cpu.ripLo = (at - this.cpu.segBase[Seg.CS]!) | 0;
    this.cpu.ripHi = 0;
    this.cpu.halted = false;
    return this;
  }

  /** Runs until HLT, a caught event, or the budget. */
  run(budget = 10_000): StopReason {
    return this.cpu.run(budget);
  }

  /** The single event caught so far (fails loudly if there is not exactly one). */
  get fault(): Fault | null {
    return this.events.length === 0 ? null : this.events[this.events.length - 1]!;
  }

  // ---- direct mode setup ---------------------------------------------------------------

  /** Real mode with CS = CODE >> 4 (IP 0 = CODE); the other segments are 0. */
  real(): this {
    this.cpu.setSegmentRaw(Seg.CS, CODE >> 4, CODE, 0xffff, this.cpu.segAttr[Seg.CS]!);
    this.cpu.updateMode();
    return this;
  }

  /** Flat 32-bit protected mode at `cpl` (no paging): CS = 0x08|cpl style selectors, a 32-bit TSS in TR. */
  flat32(cpl = 0): this {
    const c = this.cpu;
    c.cr0 |= Cr0.PE;
    const dpl = cpl << SegAttr.DplShift;
    c.setSegmentRaw(Seg.CS, cpl === 0 ? 0x08 : 0x1b, 0, 0xffffffff, ATTR.code32 | dpl);
    c.setSegmentRaw(Seg.SS, cpl === 0 ? 0x10 : 0x23, 0, 0xffffffff, ATTR.data | dpl);
    for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS]) c.setSegmentRaw(s, cpl === 0 ? 0x10 : 0x23, 0, 0xffffffff, ATTR.data | dpl);
    c.setSegmentRaw(Seg.TR, 0x28, 0x9000, 0x67, ATTR.tss32);
    c.gpr[4] = 0x8000;
    c.updateMode();
    c.flushTlb(true);
    return this;
  }

  /**
   * 64-bit mode at `cpl` with 4-level paging identity-mapping the first 1 GiB as user-writable
   * 2 MiB pages (tables at `pt`).
   */
  long64(cpl = 0, pt = 0x70000): this {
    const c = this.cpu;
    const t = new PageTables(this, 'l4', pt);
    for (let i = 0; i < 512; i++) t.map(BigInt(i) * 0x200000n, i * 0x200000, 0x87, '2m');
    c.cr3Lo = pt;
    c.cr3Hi = 0;
    c.cr4 |= Cr4.PAE;
    c.efer |= Efer.LME | Efer.LMA | Efer.SCE;
    c.cr0 |= Cr0.PE | Cr0.PG;
    const dpl = cpl << SegAttr.DplShift;
    c.setSegmentRaw(Seg.CS, cpl === 0 ? 0x08 : 0x33, 0, 0xffffffff, ATTR.code64 | dpl);
    c.setSegmentRaw(Seg.SS, cpl === 0 ? 0x10 : 0x2b, 0, 0xffffffff, ATTR.data | dpl);
    for (const s of [Seg.DS, Seg.ES]) c.setSegmentRaw(s, 0, 0, 0, SegAttr.Unusable);
    c.setSegmentRaw(Seg.TR, 0x40, 0x9000, 0x67, ATTR.tss32);
    c.gpr[4] = 0x8000;
    c.updateMode();
    c.flushTlb(true);
    return this;
  }

  /** Writes an 8-byte GDT entry at `gdt + index * 8`. */
  desc(gdt: number, index: number, base: number, limit: number, access: number, flags = 0xc): void {
    const lo = ((limit & 0xffff) | ((base & 0xffff) << 16)) >>> 0;
    const hi = (((base >>> 16) & 0xff) | (access << 8) | (limit & 0xf0000) | (flags << 20) | (base & 0xff000000)) >>> 0;
    this.w32(gdt + index * 8, lo);
    this.w32(gdt + index * 8 + 4, hi);
  }
}

export type PagingKind = 'legacy' | 'pae' | 'l4' | 'l5';

/**
 * Builds page tables in guest memory (bump-allocated from `base`). Non-leaf entries are
 * present, writable and user (7), so the leaf's flags decide the rights unless `upper` says
 * otherwise.
 */
export class PageTables {
  private next: number;

  constructor(
    private readonly sys: Sys,
    readonly kind: PagingKind,
    readonly root: number,
  ) {
    this.next = root + 0x1000;
    for (let i = 0; i < 0x1000; i += 4) sys.w32(root + i, 0);
  }

  private alloc(): number {
    const a = this.next;
    this.next += 0x1000;
    for (let i = 0; i < 0x1000; i += 4) this.sys.w32(a + i, 0);
    return a;
  }

  private get wide(): boolean {
    return this.kind !== 'legacy';
  }

  private read(addr: number): bigint {
    return this.wide ? this.sys.r64(addr) : BigInt(this.sys.r32(addr));
  }
  private write(addr: number, v: bigint): void {
    if (this.wide) this.sys.w64(addr, v);
    else this.sys.w32(addr, Number(v));
  }

  /** Index shifts from the top level down. */
  private shifts(): number[] {
    switch (this.kind) {
      case 'legacy':
        return [22, 12];
      case 'pae':
        return [30, 21, 12];
      case 'l4':
        return [39, 30, 21, 12];
      default:
        return [48, 39, 30, 21, 12];
    }
  }

  /** The address of the entry for `va` at level `depth` (0 = top), creating tables above it. */
  entryAddr(va: bigint, depth: number, upper = 7n): number {
    const shifts = this.shifts();
    let table = this.root;
    for (let lvl = 0; lvl <= depth; lvl++) {
      const bits = this.kind === 'legacy' ? 10 : 9;
      const mask = this.kind === 'pae' && lvl === 0 ? 3n : BigInt((1 << bits) - 1);
      const idx = Number((va >> BigInt(shifts[lvl]!)) & mask);
      const addr = table + idx * (this.wide ? 8 : 4);
      if (lvl === depth) return addr;
      let e = this.read(addr);
      if ((e & 1n) === 0n) {
        const t = this.alloc();
        // PAE PDPTEs have no R/W or U/S bits (SDM Vol. 3 §4.4.1).
        e = BigInt(t) | (this.kind === 'pae' && lvl === 0 ? 1n : upper);
        this.write(addr, e);
      }
      table = Number(e & 0xffffffffff000n);
    }
    throw new Error('unreachable');
  }

  /** Maps `va` to `pa` with leaf flags `flags` (include P; PS is added for large pages). */
  map(va: bigint, pa: number, flags: number | bigint, size: '4k' | '2m' | '4m' | '1g' = '4k', upper = 7n): number {
    const levels = this.shifts().length;
    const depth = size === '4k' ? levels - 1 : size === '1g' ? levels - 3 : levels - 2;
    const addr = this.entryAddr(va, depth, upper);
    const ps = size === '4k' ? 0n : 0x80n;
    this.write(addr, BigInt(pa) | BigInt(flags) | ps);
    return addr;
  }

  entry(addr: number): bigint {
    return this.read(addr);
  }
  setEntry(addr: number, v: bigint): void {
    this.write(addr, v);
  }
}

/** A virtualization extension stub whose methods can be overridden per test. */
export function fakeExt(kind: 'vmx' | 'svm', over: Partial<VirtualizationExtension> = {}): VirtualizationExtension {
  return {
    kind,
    attach: () => undefined,
    cpuid: () => undefined,
    execute: () => undefined,
    intercept: () => false,
    translateGpa: (_c, gpa) => gpa,
    readMsr: () => false,
    writeMsr: () => false,
    allowsEnable: () => true,
    allowsCrWrite: () => true,
    boundary: () => false,
    ...over,
  };
}
