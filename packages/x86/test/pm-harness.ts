/**
 * Test harness for protected-mode, IA-32e and virtual-8086 tests: builds a GDT, IDT and TSSs
 * in guest memory and loads segment registers straight from the descriptors it wrote.
 */
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { Cpu, Cr0, Efer, Flag, Seg, SegAttr } from '../src/index.js';

export const GDT = 0x1000;
export const IDT = 0x3000;
export const RAM = 4 << 20;

/** Access bytes (P, DPL, S, type). */
export const A = {
  code: 0x9a, // present, DPL 0, code, readable
  codeConf: 0x9e,
  codeXO: 0x98,
  data: 0x92, // present, DPL 0, data, writable
  dataRO: 0x90,
  dataDown: 0x96,
  tss32: 0x89,
  tss32Busy: 0x8b,
  tss16: 0x81,
  tss16Busy: 0x83,
  ldt: 0x82,
} as const;
export const dpl = (access: number, d: number): number => (access & ~0x60) | (d << 5);
export const notPresent = (access: number): number => access & ~0x80;

/** A segment descriptor: flags nibble G(8) DB(4) L(2) AVL(1). */
export function seg(base: number, limit: number, access: number, flags = 0xc): [number, number] {
  const lo = ((limit & 0xffff) | ((base & 0xffff) << 16)) >>> 0;
  const hi = (((base >>> 16) & 0xff) | (access << 8) | (limit & 0xf0000) | (flags << 20) | (base & 0xff000000)) >>> 0;
  return [lo, hi];
}

/** A legacy gate: type 4 (16-bit call), 5 (task), 6/7 (16-bit int/trap), 0xC (32-bit call), 0xE/0xF (32-bit int/trap). */
export function gate(type: number, sel: number, off: number, d = 0, extra = 0, present = true): [number, number] {
  const lo = ((off & 0xffff) | (sel << 16)) >>> 0;
  const hi = ((off & 0xffff0000) | (present ? 0x8000 : 0) | (d << 13) | (type << 8) | extra) >>> 0;
  return [lo, hi];
}

export class Machine {
  readonly memory: PhysicalMemory;
  readonly cpu: Cpu;
  /** Events seen through cpu.onEvent when `catchEvents` is on: [kind, vector, errorCode]. */
  readonly events: [number, number, number][] = [];

  constructor() {
    this.memory = new PhysicalMemory({ ramSize: RAM });
    this.memory.mapRam(0, RAM);
    this.cpu = new Cpu({ memory: this.memory, io: new PioBus() });
    this.cpu.gdtrBaseLo = GDT;
    this.cpu.gdtrLimit = 0x3ff;
    this.cpu.idtrBaseLo = IDT;
    this.cpu.idtrLimit = 0xfff;
  }

  /** Swallows events, records them and stops the CPU (the faulting state stays as it was). */
  catchEvents(): this {
    this.cpu.onEvent = (kind, vector, err) => {
      this.events.push([kind, vector, err]);
      this.cpu.stop();
      return true;
    };
    return this;
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
  r8(a: number): number {
    return this.memory.read8(a as Hpa);
  }
  r16(a: number): number {
    return this.memory.read16(a as Hpa);
  }
  r32(a: number): number {
    return this.memory.read32(a as Hpa) >>> 0;
  }
  bytes(a: number, b: number[]): void {
    this.memory.write(a as Hpa, Uint8Array.from(b));
  }

  gdt(index: number, d: [number, number], base = GDT): void {
    this.w32(base + index * 8, d[0]);
    this.w32(base + index * 8 + 4, d[1]);
  }
  /** A 16-byte system descriptor / gate (IA-32e): offset or base bits 63:32 in `hi2`. */
  gdt16(index: number, d: [number, number], hi2 = 0, base = GDT): void {
    this.gdt(index, d, base);
    this.w32(base + index * 8 + 8, hi2);
    this.w32(base + index * 8 + 12, 0);
  }
  idt(v: number, d: [number, number]): void {
    this.w32(IDT + v * 8, d[0]);
    this.w32(IDT + v * 8 + 4, d[1]);
  }
  idt64(v: number, d: [number, number], hi2 = 0): void {
    this.w32(IDT + v * 16, d[0]);
    this.w32(IDT + v * 16 + 4, d[1]);
    this.w32(IDT + v * 16 + 8, hi2);
    this.w32(IDT + v * 16 + 12, 0);
  }

  /** Loads segment register `s` from its GDT/LDT descriptor without checks (test setup). */
  load(s: number, sel: number): void {
    if ((sel & 0xfffc) === 0) {
      this.cpu.setSegmentRaw(s, sel, 0, 0, SegAttr.Unusable | ((sel & 3) << SegAttr.DplShift));
      return;
    }
    const tbl = (sel & 4) !== 0 ? this.cpu.segBase[Seg.LDTR]! : GDT;
    const a = tbl + (sel & 0xfff8);
    const lo = this.r32(a);
    const hi = this.r32(a + 4);
    const base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
    const raw = (lo & 0xffff) | (hi & 0xf0000);
    const limit = (hi & 0x800000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
    const attr = ((hi >>> 8) & 0xff) | ((hi >>> 8) & 0xf000);
    let baseHi = 0;
    if ((attr & SegAttr.S) === 0 && (this.cpu.efer & Efer.LMA) !== 0) baseHi = this.r32(a + 8);
    this.cpu.setSegmentRaw(s, sel, base | 0, limit, attr, baseHi);
  }

  /** Protected mode (no paging) with the given CS/SS/DS selectors (ES = FS = GS = DS). */
  protectedMode(cs: number, ss: number, ds: number): void {
    this.cpu.cr0 |= Cr0.PE;
    this.load(Seg.CS, cs);
    this.load(Seg.SS, ss);
    for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS]) this.load(s, ds);
    this.cpu.updateMode();
  }

  /**
   * IA-32e mode with identity paging of the first 4 MiB (2 MiB pages) at 0x200000+
   * page tables placed at `pt`.
   */
  longMode(cs: number, ss: number, ds: number, pt = 0x300000): void {
    // PML4 -> PDPT -> PD with two 2 MiB pages.
    this.w32(pt, (pt + 0x1000) | 7);
    this.w32(pt + 0x1000, (pt + 0x2000) | 7);
    this.w32(pt + 0x2000, 0x87);
    this.w32(pt + 0x2008, 0x200000 | 0x87);
    const c = this.cpu;
    c.cr3Lo = pt;
    c.cr4 |= 1 << 5;
    c.efer |= Efer.LME | Efer.LMA;
    c.cr0 |= Cr0.PE | Cr0.PG;
    this.load(Seg.CS, cs);
    this.load(Seg.SS, ss);
    for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS]) this.load(s, ds);
    c.updateMode();
    c.flushTlb(true);
  }

  /** Writes a 32-bit TSS at `base` with SS0:ESP0 etc. (other fields zero). */
  tss32(base: number, f: Partial<Record<'esp0' | 'ss0' | 'esp1' | 'ss1' | 'esp2' | 'ss2' | 'cr3' | 'eip' | 'eflags' | 'eax' | 'ecx' | 'edx' | 'ebx' | 'esp' | 'ebp' | 'esi' | 'edi' | 'es' | 'cs' | 'ss' | 'ds' | 'fs' | 'gs' | 'ldt' | 'trap' | 'iomap' | 'link', number>>): void {
    const off: Record<string, number> = {
      link: 0, esp0: 4, ss0: 8, esp1: 12, ss1: 16, esp2: 20, ss2: 24, cr3: 0x1c, eip: 0x20, eflags: 0x24,
      eax: 0x28, ecx: 0x2c, edx: 0x30, ebx: 0x34, esp: 0x38, ebp: 0x3c, esi: 0x40, edi: 0x44,
      es: 0x48, cs: 0x4c, ss: 0x50, ds: 0x54, fs: 0x58, gs: 0x5c, ldt: 0x60, trap: 0x64, iomap: 0x66,
    };
    for (let i = 0; i < 0x68; i += 4) this.w32(base + i, 0);
    for (const [k, v] of Object.entries(f)) {
      if (k === 'trap' || k === 'iomap') this.w16(base + off[k]!, v);
      else this.w32(base + off[k]!, v);
    }
  }

  /** Makes GDT entry `index` the current TSS (busy) and loads TR. */
  loadTr(index: number): void {
    const a = GDT + index * 8 + 4;
    this.w32(a, this.r32(a) | 0x200);
    this.load(Seg.TR, index * 8);
  }

  /** Pushes onto the current stack (test setup, 32-bit stack). */
  push32(v: number): void {
    const c = this.cpu;
    c.gpr[4] = (c.gpr[4]! - 4) | 0;
    this.w32(c.segBase[Seg.SS]! + (c.gpr[4]! >>> 0), v);
  }
  push16(v: number): void {
    const c = this.cpu;
    const big = (c.segAttr[Seg.SS]! & SegAttr.DB) !== 0;
    c.gpr[4] = big ? (c.gpr[4]! - 2) | 0 : (c.gpr[4]! & ~0xffff) | ((c.gpr[4]! - 2) & 0xffff);
    this.w16(c.segBase[Seg.SS]! + (big ? c.gpr[4]! >>> 0 : c.gpr[4]! & 0xffff), v);
  }

  /** Starts at CS:EIP = current CS : `eip`. */
  at(eip: number): this {
    this.cpu.ripLo = eip;
    this.cpu.ripHi = 0;
    return this;
  }

  flags(): number {
    return this.cpu.getEflags();
  }
  esp(): number {
    return this.cpu.gpr[4]! >>> 0;
  }
  sel(s: number): number {
    return this.cpu.segSel[s]!;
  }
}

export { Flag, Seg, SegAttr };

// ---- a standard GDT ----------------------------------------------------------------------
export const K_CODE = 0x08;
export const K_DATA = 0x10;
export const U_CODE = 0x1b;
export const U_DATA = 0x23;
export const CODE16 = 0x28;
export const TSS_SEL = 0x30;
export const CONF = 0x38;
export const K1_CODE = 0x49;
export const K1_DATA = 0x51;
export const L_CODE = 0x58;
export const L_UCODE = 0x63;
export const TSS_BASE = 0x5000;
/** Kernel code, user code, kernel stack top, user stack top. */
export const KC = 0x10000;
export const UC = 0x20000;
export const KSTACK = 0x80000;
export const USTACK = 0x70000;

export function standard(m: Machine): void {
  m.gdt(1, seg(0, 0xfffff, A.code));
  m.gdt(2, seg(0, 0xfffff, A.data));
  m.gdt(3, seg(0, 0xfffff, dpl(A.code, 3)));
  m.gdt(4, seg(0, 0xfffff, dpl(A.data, 3)));
  m.gdt(5, seg(0, 0xffff, A.code, 0));
  m.gdt(6, seg(TSS_BASE, 0x67, A.tss32, 0));
  m.gdt(7, seg(0, 0xfffff, A.codeConf));
  m.gdt(9, seg(0, 0xfffff, dpl(A.code, 1)));
  m.gdt(10, seg(0, 0xfffff, dpl(A.data, 1)));
  m.gdt(11, seg(0, 0xfffff, A.code, 0xa));
  m.gdt(12, seg(0, 0xfffff, dpl(A.code, 3), 0xa));
  m.tss32(TSS_BASE, { esp0: KSTACK, ss0: K_DATA, esp1: 0x60000, ss1: K1_DATA });
  m.loadTr(6);
}

/** Protected mode at CPL 0 (flat 32-bit) with the standard GDT; ESP = KSTACK, EIP = KC. */
export function kernel32(): Machine {
  const m = new Machine();
  standard(m);
  m.protectedMode(K_CODE, K_DATA, K_DATA);
  m.cpu.gpr[4] = KSTACK;
  m.at(KC);
  return m;
}

/** Protected mode at CPL 3 (flat 32-bit) with the standard GDT; ESP = USTACK, EIP = UC. */
export function user32(): Machine {
  const m = new Machine();
  standard(m);
  m.protectedMode(U_CODE, U_DATA, U_DATA);
  m.cpu.gpr[4] = USTACK;
  m.at(UC);
  return m;
}

export function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
export function le16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}
