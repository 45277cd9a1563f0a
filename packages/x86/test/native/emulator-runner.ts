/**
 * The emulator side of the differential campaign: runs one snippet on `@hvkit/x86` with the same
 * user-mode machine the native oracle presents (see layout.ts) and reports the outcome in the
 * oracle's terms: 64-bit mode, CPL 3, 4-level paging with exactly the code page (RWX) and the
 * data page (RW, NX) present plus a supervisor-only GDT page in the kernel half, flat CS = 0x33 /
 * SS = 0x2B, null DS/ES/FS/GS with zero bases, CR0.AM = 1, EFER.NXE = 1.
 *
 * One Cpu and one PhysicalMemory are built once per runner; each case resets only what a snippet
 * can change: the registers, RFLAGS, RIP, the segment registers (when a snippet changed them),
 * the data page and the first 64 bytes of the code page (snippet + INT3 fill; rewritten only
 * when the bytes differ from the previous case, which drops the decoded blocks of that page).
 *
 * How a case ends (the Cpu's `onEvent` hook sees every event before it is delivered):
 * - the INT3 right after the snippet (at CODE_BASE + code.length) is the normal end;
 * - any other exception ends the case with that vector and error code, RIP at the faulting
 *   instruction and RF set in the reported RFLAGS image (faults), or RIP after the instruction
 *   and RF clear (traps: INT3, INTO); INT1 (F1) reports RIP at the instruction, as Linux does;
 * - INT n for other vectors ends as the #GP(n * 8 + 2) that Linux's DPL-0 gates give user code,
 *   INT 0x80 as VECTOR_SYSCALL;
 * - a snippet still running after `budget` dispatches ends as VECTOR_TIMEOUT.
 *
 * FP cases (`c.fx`, an FXSAVE64 image) load the x87/SSE state into the Cpu before the snippet
 * and return the state at the end or at the fault as an image (fp-state.ts). The control
 * registers are Linux's: CR0 PE MP ET NE WP AM PG (EM = TS = 0), CR4.OSFXSR | OSXMMEXCPT |
 * OSXSAVE, XCR0 = 3 (x87 | SSE); the model advertises FPU MMX FXSR SSE..SSE4.2 POPCNT XSAVE.
 */
import { PhysicalMemory, PioBus } from '@hvkit/platform';
import * as x86 from '../../src/index.js';
import type { CpuModel } from '../../src/index.js';
import type { EmulatorRunner as RunnerFn } from './differential.js';
import * as fpState from './fp-state.js';
import * as layout from './layout.js';
import type { SnippetCase, SnippetResult } from './native-oracle.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { AMD_ZEN, Cpu, Cr0, Cr4, Efer, SegAttr } = x86;
const { CODE_BASE, DATA_BASE, DATA_SIZE, FX_SIZE, RFLAGS_FORCED, RFLAGS_IN_MASK, VECTOR_NONE, VECTOR_SYSCALL, VECTOR_TIMEOUT } = layout;
const { loadFxImage, storeFxImage } = fpState;

/**
 * CPUID bits of the oracle host's x87/SSE features (SDM Vol. 2 CPUID, Table 3-10/3-11), ORed into
 * the model in case it does not advertise them yet: leaf 1 EDX FPU MMX FXSR SSE SSE2, leaf 1 ECX
 * SSE3 SSSE3 SSE4.1 SSE4.2 POPCNT XSAVE.
 */
const HOST_EDX = (1 << 0) | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26);
const HOST_ECX = (1 << 0) | (1 << 9) | (1 << 19) | (1 << 20) | (1 << 23) | (1 << 26);
type Cpu = x86.Cpu;
const ES = 0;
const CS = 1;
const SS = 2;
const DS = 3;
const FS = 4;
const GS = 5;

/** Physical layout of the runner's machine. */
const PML4 = 0x1000;
const PDPT_LOW = 0x2000;
const PD_LOW = 0x3000;
const PT_DATA = 0x4000;
const PT_CODE = 0x5000;
const PDPT_HIGH = 0x6000;
const PD_HIGH = 0x7000;
const PT_HIGH = 0x8000;
const GDT_PHYS = 0x9000;
const DATA_PHYS = 0x10000;
const CODE_PHYS = 0x11000;
const RAM_SIZE = 0x20000;
const RAM_CHUNK = 0x20000;
/** Linear address of the GDT: in the kernel half, like Linux's (a snippet touching it faults as natively). */
const GDT_LIN_LO = 0xff00_0000 | 0;
const GDT_LIN_HI = -1;

/** Bytes of the code page rewritten per case (as the oracle does). */
const CODE_FILL = 64;

/** Page-table entry bits. */
const P = 1;
const RW = 2;
const US = 4;
const NX_HI = 1 << 31;

const USER_CS = 0x33;
const USER_DS = 0x2b;
const CS_ATTR = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | (3 << SegAttr.DplShift) | SegAttr.L | SegAttr.G;
const SS_ATTR = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | (3 << SegAttr.DplShift) | SegAttr.DB | SegAttr.G;
const NULL_ATTR = SegAttr.Unusable;

/** EventKind values (interrupts.ts). */
const KIND_EXCEPTION = 0;
const KIND_SOFTWARE = 3;
const KIND_PRIV_SOFTWARE = 4;
const RF = 1 << 16;

export interface EmulatorRunnerOptions {
  /** CPU model (undefined-flag behaviour follows its vendor). Default AMD_ZEN (the oracle host). */
  model?: CpuModel;
  /** Maximum dispatches per case before reporting VECTOR_TIMEOUT. Default 200,000. */
  budget?: number;
}

/** A reusable result record (its arrays are overwritten by the next `run`). */
export class RunnerResult implements SnippetResult {
  vector = VECTOR_NONE;
  errorCode = 0;
  readonly gpr = new Int32Array(32);
  rflags = 0;
  readonly mem = new Uint8Array(DATA_SIZE);
  ripOffset = 0;
  /** FP cases: the FXSAVE64 image at the end or at the fault (undefined for integer cases). */
  fx: Uint8Array | undefined = undefined;
  /** Backing store of `fx`. */
  readonly fxBuf = new Uint8Array(FX_SIZE);
  /** CR2 for a #PF as unsigned halves, else 0. */
  faultLo = 0;
  faultHi = 0;
}

export class SnippetRunner {
  readonly cpu: Cpu;
  readonly memory: PhysicalMemory;
  private readonly budget: number;
  private readonly ram: Uint8Array;
  private readonly view: DataView;
  private readonly result = new RunnerResult();
  private endLo = 0;
  private done = false;
  private lastCodeLen = -1;
  private readonly lastCode = new Uint8Array(CODE_FILL);

  constructor(options: EmulatorRunnerOptions = {}) {
    this.budget = options.budget ?? 200_000;
    // One chunk holds the whole RAM, so the rig can fill it directly.
    const memory = new PhysicalMemory({ ramSize: RAM_SIZE, chunkSize: RAM_CHUNK });
    memory.mapRam(0, RAM_SIZE);
    this.memory = memory;
    this.ram = memory.ramChunk(0);
    this.view = new DataView(this.ram.buffer, this.ram.byteOffset, this.ram.byteLength);
    // The oracle host has x87, MMX, SSE..SSE4.2 (and SSE4.2's integer CRC32); ORed in for models
    // that do not advertise them yet.
    const cpu = new Cpu({ memory, io: new PioBus(), model: options.model ?? { ...AMD_ZEN, leaf1Ecx: AMD_ZEN.leaf1Ecx | HOST_ECX, leaf1Edx: AMD_ZEN.leaf1Edx | HOST_EDX } });
    this.cpu = cpu;
    this.buildTables();
    cpu.cr3Lo = PML4;
    cpu.cr3Hi = 0;
    cpu.cr4 = Cr4.PAE | Cr4.PGE | Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.FSGSBASE | Cr4.OSXSAVE;
    cpu.efer = Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE;
    cpu.cr0 = Cr0.PE | Cr0.MP | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.AM | Cr0.PG;
    cpu.xcr0 = 3; // x87 | SSE: the state the harness transfers (AVX is not emulated)
    cpu.gdtrBaseLo = GDT_LIN_LO;
    cpu.gdtrBaseHi = GDT_LIN_HI;
    cpu.gdtrLimit = 16 * 8 - 1;
    cpu.idtrBaseLo = GDT_LIN_LO;
    cpu.idtrBaseHi = GDT_LIN_HI;
    cpu.idtrLimit = 0;
    this.loadSegments();
    cpu.updateMode();
    cpu.flushTlb(true);
    cpu.onEvent = (kind, vector, errorCode) => this.onEvent(kind, vector, errorCode);
    this.ram.fill(0xcc, CODE_PHYS, CODE_PHYS + 4096);
  }

  private pte(at: number, index: number, phys: number, flags: number, hiFlags = 0): void {
    this.view.setUint32(at + index * 8, (phys | flags) >>> 0, true);
    this.view.setUint32(at + index * 8 + 4, hiFlags >>> 0, true);
  }

  private buildTables(): void {
    const all = P | RW | US;
    if (Math.floor(CODE_BASE / 2 ** 30) !== Math.floor(DATA_BASE / 2 ** 30)) throw new Error('runner layout: code and data in different 1 GiB regions');
    this.pte(PML4, 0, PDPT_LOW, all);
    this.pte(PDPT_LOW, Math.floor(DATA_BASE / 2 ** 30), PD_LOW, all);
    this.pte(PD_LOW, (DATA_BASE >>> 21) & 511, PT_DATA, all);
    this.pte(PD_LOW, (CODE_BASE >>> 21) & 511, PT_CODE, all);
    this.pte(PT_DATA, (DATA_BASE >>> 12) & 511, DATA_PHYS, all, NX_HI);
    this.pte(PT_CODE, (CODE_BASE >>> 12) & 511, CODE_PHYS, all);
    // GDT page in the kernel half: supervisor-only.
    this.pte(PML4, 511, PDPT_HIGH, P | RW);
    this.pte(PDPT_HIGH, 511, PD_HIGH, P | RW);
    this.pte(PD_HIGH, (GDT_LIN_LO >>> 21) & 511, PT_HIGH, P | RW);
    this.pte(PT_HIGH, (GDT_LIN_LO >>> 12) & 511, GDT_PHYS, P | RW, NX_HI);
    // Linux's GDT layout: 0x08 kernel CS32, 0x10 kernel CS, 0x18 kernel DS, 0x23 user CS32, 0x2B user DS, 0x33 user CS.
    const desc = [0, 0, 0x0000ffff, 0x00cf9b00, 0x0000ffff, 0x00af9b00, 0x0000ffff, 0x00cf9300, 0x0000ffff, 0x00cffb00, 0x0000ffff, 0x00cff300, 0x0000ffff, 0x00affb00];
    for (let i = 0; i < desc.length; i++) this.view.setUint32(GDT_PHYS + i * 4, desc[i]! >>> 0, true);
  }

  private loadSegments(): void {
    const cpu = this.cpu;
    cpu.setSegmentRaw(CS, USER_CS, 0, 0xffff_ffff, CS_ATTR);
    cpu.setSegmentRaw(SS, USER_DS, 0, 0xffff_ffff, SS_ATTR);
    cpu.setSegmentRaw(DS, 0, 0, 0, NULL_ATTR);
    cpu.setSegmentRaw(ES, 0, 0, 0, NULL_ATTR);
    cpu.setSegmentRaw(FS, 0, 0, 0, NULL_ATTR);
    cpu.setSegmentRaw(GS, 0, 0, 0, NULL_ATTR);
    // A 64-bit TSS without an I/O permission bitmap (limit below 67H), so user-mode port I/O is
    // #GP(0) as under Linux, whose bitmap offset points past the TSS limit (SDM Vol. 1 §19.5.2).
    cpu.setSegmentRaw(7, 0x40, 0, 0x40, 0x8b);
  }

  private onEvent(kind: number, vector: number, errorCode: number): boolean {
    const cpu = this.cpu;
    const r = this.result;
    this.done = true;
    cpu.stop();
    if (kind === KIND_SOFTWARE && vector === 3 && cpu.ripHi === 0 && ((cpu.ripLo - 1) | 0) === this.endLo) {
      // The INT3 after the snippet: a normal end (RIP at the snippet's end).
      r.vector = VECTOR_NONE;
      r.errorCode = 0;
      r.ripOffset = (cpu.ripLo - 1 - CODE_BASE) | 0;
      r.rflags = cpu.getEflags();
      return true;
    }
    let rf = RF;
    if (kind === KIND_SOFTWARE) {
      if (vector === 0x80) {
        vector = VECTOR_SYSCALL;
        rf = 0;
      } else if (vector !== 3 && vector !== 4) {
        // DPL-0 gate: #GP(IDT), reported at the INT instruction (CD ib).
        errorCode = vector * 8 + 2;
        vector = 13;
        cpu.ripLo = (cpu.ripLo - 2) | 0;
      } else {
        rf = 0;
      }
    } else if (kind === KIND_PRIV_SOFTWARE) {
      // INT1 (F1): Linux reports the #DB at the INT1 instruction itself.
      cpu.ripLo = (cpu.ripLo - 1) | 0;
      rf = 0;
    } else if (kind === KIND_EXCEPTION && (vector === 1 || vector === 3 || vector === 4)) {
      rf = 0;
    }
    r.vector = vector;
    r.errorCode = errorCode < 0 ? 0 : errorCode;
    r.ripOffset = cpu.ripHi === 0 ? (cpu.ripLo - CODE_BASE) | 0 : cpu.ripHi * 0x1_0000_0000 + (cpu.ripLo >>> 0) - CODE_BASE;
    r.rflags = (cpu.getEflags() | rf) >>> 0;
    if (vector === 14) {
      r.faultLo = cpu.cr2Lo >>> 0;
      r.faultHi = cpu.cr2Hi >>> 0;
    }
    return true;
  }

  /** Runs one case (without modifying it). The returned record is reused by the next call. */
  run(c: SnippetCase): RunnerResult {
    const cpu = this.cpu;
    const ram = this.ram;
    const r = this.result;
    // Code: the snippet then the INT3 fill, rewritten only when it changed.
    const len = c.code.length;
    if (len >= CODE_FILL) throw new RangeError(`snippet of ${len} bytes: at most ${CODE_FILL - 1}`);
    let same = len === this.lastCodeLen;
    if (same) {
      for (let i = 0; i < len; i++) {
        if (c.code[i] !== this.lastCode[i]) {
          same = false;
          break;
        }
      }
    }
    if (!same || !this.codeTailIntact(len)) {
      ram.set(c.code, CODE_PHYS);
      ram.fill(0xcc, CODE_PHYS + len, CODE_PHYS + CODE_FILL);
      this.lastCode.set(c.code);
      this.lastCodeLen = len;
      cpu.invalidateCodeRange(CODE_PHYS, 4096);
    }
    // Data page: the window, then zeros.
    ram.set(c.mem.subarray(0, DATA_SIZE), DATA_PHYS);
    ram.fill(0, DATA_PHYS + DATA_SIZE, DATA_PHYS + 4096);
    // Registers, flags, segments, RIP.
    const g = c.gpr;
    for (let i = 0; i < 16; i++) {
      cpu.gpr[i] = g[2 * i]!;
      cpu.gprHi[i] = g[2 * i + 1]!;
    }
    cpu.setEflags((c.rflags & RFLAGS_IN_MASK) | RFLAGS_FORCED);
    const fx = c.fx;
    if (fx !== undefined) loadFxImage(cpu, fx);
    if (!this.segmentsIntact()) {
      this.loadSegments();
      cpu.updateMode();
    }
    cpu.ripLo = CODE_BASE;
    cpu.ripHi = 0;
    cpu.halted = false;
    cpu.shutdown = false;
    cpu.interruptShadow = false;
    cpu.excVector = -1;
    cpu.deliveringVector = -1;
    this.endLo = (CODE_BASE + len) | 0;
    this.done = false;
    r.faultLo = 0;
    r.faultHi = 0;
    cpu.run(this.budget);
    if (!this.done) {
      r.vector = cpu.shutdown ? 8 : VECTOR_TIMEOUT;
      r.errorCode = 0;
      r.ripOffset = (cpu.ripLo - CODE_BASE) | 0;
      r.rflags = cpu.getEflags();
    }
    for (let i = 0; i < 16; i++) {
      r.gpr[2 * i] = cpu.gpr[i]!;
      r.gpr[2 * i + 1] = cpu.gprHi[i]!;
    }
    r.mem.set(ram.subarray(DATA_PHYS, DATA_PHYS + DATA_SIZE));
    if (fx !== undefined) {
      storeFxImage(cpu, r.fxBuf);
      r.fx = r.fxBuf;
    } else {
      r.fx = undefined;
    }
    return r;
  }

  /** Whether the code page still holds the INT3 fill after the last snippet (a snippet may write its own page). */
  private codeTailIntact(len: number): boolean {
    const ram = this.ram;
    for (let i = CODE_PHYS + len; i < CODE_PHYS + CODE_FILL; i++) if (ram[i] !== 0xcc) return false;
    for (let i = 0; i < len; i++) if (ram[CODE_PHYS + i] !== this.lastCode[i]) return false;
    return true;
  }

  private segmentsIntact(): boolean {
    const cpu = this.cpu;
    return (
      cpu.segSel[CS] === USER_CS &&
      cpu.segSel[SS] === USER_DS &&
      cpu.segAttr[CS] === CS_ATTR &&
      cpu.segAttr[SS] === SS_ATTR &&
      cpu.segSel[DS] === 0 &&
      cpu.segSel[ES] === 0 &&
      cpu.segSel[FS] === 0 &&
      cpu.segSel[GS] === 0 &&
      (cpu.segBase[FS]! | cpu.segBaseHi[FS]! | cpu.segBase[GS]! | cpu.segBaseHi[GS]!) === 0
    );
  }
}

/** A runner function over its own CPU (the campaign's `EmulatorRunner`). */
export function createEmulatorRunner(options: EmulatorRunnerOptions = {}): RunnerFn {
  const runner = new SnippetRunner(options);
  return (c) => runner.run(c);
}

let shared: SnippetRunner | undefined;

/** The default runner: AMD_ZEN, matching the oracle host. */
export const runEmulator: RunnerFn = (c) => {
  shared ??= new SnippetRunner();
  return shared.run(c);
};
