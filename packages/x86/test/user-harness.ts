/**
 * Harnesses for the user-mode instruction tests:
 * - {@link user64}: a snippet in 64-bit mode at CPL 3 (the differential runner's machine:
 *   code at CODE_BASE, a 128-byte data window at DATA_BASE, everything else not present);
 * - {@link Legacy}: real mode, 16/32-bit protected mode at any CPL, or virtual-8086 mode, flat
 *   segments, no paging, 1 MiB of RAM; events are caught (not delivered) and recorded.
 * Values are BigInt in the tests' API (tests may use BigInt; the core may not).
 */
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { AMD_ZEN, Cpu, Cr0, Flag, INTEL_CORE, Seg, SegAttr, type CpuModel } from '../src/index.js';
import { CODE_BASE, DATA_BASE, DATA_SIZE } from './native/layout.js';
import { SnippetRunner } from './native/emulator-runner.js';

export { CODE_BASE, DATA_BASE, DATA_SIZE };

export const REGS = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
export type RegName = (typeof REGS)[number];

/** EFLAGS bits. */
export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const DF = 0x400;
export const OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;

export interface UserInput {
  regs?: Partial<Record<RegName, bigint | number>>;
  /** Arithmetic flags and DF on entry (bit 1 and IF are forced on). */
  flags?: number;
  /** Initial data window (zero-filled to DATA_SIZE). */
  mem?: number[] | Uint8Array;
}

export interface UserOutput {
  /** -1 (ran to the end) or the exception vector. */
  vector: number;
  errorCode: number;
  /** RIP - CODE_BASE. */
  rip: number;
  /** RFLAGS (RF set for faults, as pushed). */
  rflags: number;
  reg(name: RegName): bigint;
  mem: Uint8Array;
  /** Little-endian unsigned value of `size` bytes of the window at `offset`. */
  memValue(offset: number, size: number): bigint;
  cpu: Cpu;
}

const runners = new Map<CpuModel, SnippetRunner>();

/** Runs `code` in 64-bit mode at CPL 3 on the runner's machine. */
export function user64(code: number[], input: UserInput = {}, model: CpuModel = AMD_ZEN): UserOutput {
  let runner = runners.get(model);
  if (runner === undefined) {
    runner = new SnippetRunner({ model });
    runners.set(model, runner);
  }
  const gpr = new Int32Array(32);
  gpr[8] = DATA_BASE + DATA_SIZE; // rsp: top of the window
  for (const [name, v] of Object.entries(input.regs ?? {})) {
    const i = REGS.indexOf(name as RegName);
    const b = BigInt.asUintN(64, BigInt(v));
    gpr[2 * i] = Number(b & 0xffff_ffffn) | 0;
    gpr[2 * i + 1] = Number(b >> 32n) | 0;
  }
  const mem = new Uint8Array(DATA_SIZE);
  if (input.mem !== undefined) mem.set(input.mem);
  const r = runner.run({ code: Uint8Array.from(code), gpr, rflags: input.flags ?? 0, mem });
  const outMem = r.mem.slice();
  const outGpr = r.gpr.slice();
  return {
    vector: r.vector,
    errorCode: r.errorCode,
    rip: r.ripOffset,
    rflags: r.rflags,
    reg: (name) => {
      const i = REGS.indexOf(name);
      return (BigInt(outGpr[2 * i + 1]! >>> 0) << 32n) | BigInt(outGpr[2 * i]! >>> 0);
    },
    mem: outMem,
    memValue: (offset, size) => {
      let v = 0n;
      for (let k = size - 1; k >= 0; k--) v = (v << 8n) | BigInt(outMem[offset + k]!);
      return v;
    },
    cpu: runner.cpu,
  };
}

/** Little-endian bytes of `v` (`size` bytes). */
export function le(v: bigint | number, size: number): number[] {
  let b = BigInt.asUintN(size * 8, BigInt(v));
  const out: number[] = [];
  for (let k = 0; k < size; k++) {
    out.push(Number(b & 0xffn));
    b >>= 8n;
  }
  return out;
}

/** ModRM + SIB + disp32 for `[DATA_BASE + offset]` with ModRM.reg = `reg`. */
export function memOperand(reg: number, offset = 0): number[] {
  return [0x04 | ((reg & 7) << 3), 0x25, ...le(DATA_BASE + offset, 4)];
}

export { AMD_ZEN, INTEL_CORE };

/** Legacy-mode kinds. */
export type LegacyMode = 'real' | 'pm16' | 'pm32' | 'v86';

/**
 * A CPU in real mode, 16/32-bit protected mode (flat 4 GiB segments, no paging, any CPL and
 * IOPL) or virtual-8086 mode, with 1 MiB of RAM. Code runs from {@link Legacy.CODE}; events
 * are caught and recorded instead of delivered.
 */
export class Legacy {
  static readonly CODE = 0x8000;
  readonly memory: PhysicalMemory;
  readonly cpu: Cpu;
  /** [kind, vector, errorCode] of caught events. */
  readonly events: [number, number, number][] = [];

  constructor(mode: LegacyMode, options: { cpl?: number; iopl?: number; model?: CpuModel; vme?: boolean } = {}) {
    this.memory = new PhysicalMemory({ ramSize: 1 << 20 });
    this.memory.mapRam(0, 1 << 20);
    const cpu = new Cpu({ memory: this.memory, io: new PioBus(), model: options.model ?? AMD_ZEN });
    this.cpu = cpu;
    cpu.onEvent = (kind, vector, errorCode) => {
      this.events.push([kind, vector, errorCode]);
      cpu.stop();
      return true;
    };
    const cpl = options.cpl ?? 0;
    const iopl = options.iopl ?? 0;
    if (mode === 'real') {
      cpu.setSegmentRaw(Seg.CS, 0, 0, 0xffff, cpu.segAttr[Seg.CS]!);
      for (const s of [Seg.DS, Seg.ES, Seg.SS]) cpu.setSegmentRaw(s, 0, 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed);
    } else if (mode === 'v86') {
      cpu.cr0 |= Cr0.PE;
      if (options.vme === true) cpu.cr4 |= 1;
      for (const s of [Seg.CS, Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) {
        cpu.setSegmentRaw(s, 0, 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | (3 << SegAttr.DplShift) | (s === Seg.CS ? SegAttr.Code : 0));
      }
    } else {
      cpu.cr0 |= Cr0.PE;
      const big = mode === 'pm32' ? SegAttr.DB | SegAttr.G : 0;
      const limit = mode === 'pm32' ? 0xffff_ffff : 0xffff;
      const d = cpl << SegAttr.DplShift;
      cpu.setSegmentRaw(Seg.CS, 0x08 | cpl, 0, limit, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | big | d);
      for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) {
        cpu.setSegmentRaw(s, 0x10 | cpl, 0, limit, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | big | d);
      }
    }
    cpu.setEflags(0x2 | (iopl << 12) | (mode === 'v86' ? Flag.VM : 0));
    cpu.gpr[4] = 0x7000;
    cpu.updateMode();
  }

  /** Loads `code` at CODE (followed by UD2, the end marker) and runs up to `budget` instructions. */
  run(code: number[], budget = 1000): this {
    this.memory.write(Legacy.CODE as Hpa, Uint8Array.from([...code, 0x0f, 0x0b]));
    this.cpu.flushCodeCache();
    this.cpu.ripLo = Legacy.CODE;
    this.cpu.ripHi = 0;
    this.cpu.halted = false;
    this.events.length = 0;
    this.end = Legacy.CODE + code.length;
    this.cpu.run(budget);
    return this;
  }

  private end = 0;

  /** The first caught event's vector, or -1 when the code ran to its end. */
  get vector(): number {
    if (this.events.length === 0) return -2;
    const [kind, vector] = this.events[0]!;
    if (kind === 0 && vector === 6 && this.cpu.ripLo === this.end) return -1;
    return vector;
  }

  /** The first caught event's error code. */
  get errorCode(): number {
    return this.events.length === 0 ? -1 : this.events[0]![2];
  }

  get eflags(): number {
    return this.cpu.getEflags();
  }
}
