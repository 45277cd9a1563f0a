/**
 * Specialized handlers for the hottest instruction forms.
 *
 * The generic handlers switch on operand size and operand kind for every execution. After a
 * block is decoded, {@link specialize} swaps a record's handler for one written for its exact
 * form (32- or 64-bit, register or memory operand) when there is one. Each specialized handler
 * has the generic one's semantics exactly; the differential tests run through them because
 * they run real decoded code.
 */
import type { Cpu } from '../cpu.js';
import { BYTE_HIGH, I_MEM, I_OSZ_SHIFT, I_REX, NO_REG, R_DISP, R_IMM, R_INFO, R_REG, R_RM, R_SIB } from '../decoded.js';
import { AUX_AF, AUX_CF, AUX_PO } from '../flags.js';
import { defineHandler, HANDLER_NAMES, type Handler } from '../optable.js';
import { CodeMode, Seg, SegAttr, Vector } from '../state.js';
import { ea, memAddr, segLinear } from './operands.js';

/**
 * Per generic handler id: specialized ids indexed by osz | (mem ? 4 : 0) | shape << 3, -1 for
 * none. `shape` describes the memory operand: 0 any, {@link SHAPE_B32} or {@link SHAPE_B64}.
 */
const FAST: (Int32Array | null)[] = [];

/** [base + disp] with 32-bit addressing outside 64-bit mode. */
const SHAPE_B32 = 1;
/** [base + disp] with 64-bit addressing in 64-bit mode. */
const SHAPE_B64 = 2;
/** [base + index * scale + disp] with 32-bit addressing outside 64-bit mode. */
const SHAPE_BIS32 = 3;
/** [index * scale + disp] (no base: jump tables, static arrays) with 32-bit addressing outside 64-bit mode. */
const SHAPE_IS32 = 4;

function add(genericName: string, osz: number, mem: boolean, name: string, fn: Handler, shape = 0): void {
  const generic = HANDLER_NAMES.indexOf(genericName);
  if (generic < 0) throw new Error(`no handler named ${genericName}`);
  const id = defineHandler(name, fn);
  while (FAST.length <= generic) FAST.push(null);
  let t = FAST[generic];
  if (t === null || t === undefined) {
    t = new Int32Array(40).fill(-1);
    FAST[generic] = t;
  }
  t[osz | (mem ? 4 : 0) | (shape << 3)] = id;
}

/**
 * Returns the specialized handler for a decoded record (its handler `op`, packed `info`,
 * ModRM base `rm` and SIB word `sib`, decoded in `mode`), or `op` itself.
 */
export function specialize(op: number, info: number, rm: number, sib: number, mode: number): number {
  const t = op < FAST.length ? FAST[op] : null;
  if (t === null || t === undefined) return op;
  const k = ((info >>> I_OSZ_SHIFT) & 3) | ((info & I_MEM) !== 0 ? 4 : 0);
  if ((info & I_MEM) !== 0 && rm === NO_REG && sib !== NO_REG && mode !== CodeMode.Bits64 && ((info >>> 6) & 3) === 2) {
    const id = t[k | (SHAPE_IS32 << 3)]!;
    if (id >= 0) return id;
  }
  if ((info & I_MEM) !== 0 && rm < 16) {
    const asz = (info >>> 6) & 3;
    const shape =
      sib !== NO_REG
        ? mode !== CodeMode.Bits64 && asz === 2
          ? SHAPE_BIS32
          : 0
        : mode === CodeMode.Bits64
          ? asz === 3
            ? SHAPE_B64
            : 0
          : asz === 2
            ? SHAPE_B32
            : 0;
    if (shape !== 0) {
      const id = t[k | (shape << 3)]!;
      if (id >= 0) return id;
    }
  }
  const id = t[k]!;
  return id < 0 ? op : id;
}

/** Linear address of a [base + disp] operand, 32-bit addressing outside 64-bit mode (high half 0). */
function addrB32(cpu: Cpu, d: number, size: number, write: boolean): number {
  const rec = cpu.rec;
  const off = (cpu.gpr[rec[d + R_RM]!]! + rec[d + R_DISP]!) | 0;
  const seg = (rec[d + R_INFO]! >>> 8) & 7;
  const max = write ? cpu.segWMax[seg]! : cpu.segRMax[seg]!;
  if ((off >>> 0) + size - 1 > max) return segLinear(cpu, seg, off, 0, size, write);
  return (cpu.segBase[seg]! + off) | 0;
}

/** Linear address of a [base + index * scale + disp] operand, 32-bit addressing outside 64-bit mode. */
function addrBis32(cpu: Cpu, d: number, size: number, write: boolean): number {
  const rec = cpu.rec;
  const sib = rec[d + R_SIB]!;
  const off = (cpu.gpr[rec[d + R_RM]!]! + (cpu.gpr[sib & 0xff]! << (sib >> 8)) + rec[d + R_DISP]!) | 0;
  const seg = (rec[d + R_INFO]! >>> 8) & 7;
  const max = write ? cpu.segWMax[seg]! : cpu.segRMax[seg]!;
  if ((off >>> 0) + size - 1 > max) return segLinear(cpu, seg, off, 0, size, write);
  return (cpu.segBase[seg]! + off) | 0;
}

/** Linear address of an [index * scale + disp] operand, 32-bit addressing outside 64-bit mode. */
function addrIs32(cpu: Cpu, d: number, size: number, write: boolean): number {
  const rec = cpu.rec;
  const sib = rec[d + R_SIB]!;
  const off = ((cpu.gpr[sib & 0xff]! << (sib >> 8)) + rec[d + R_DISP]!) | 0;
  const seg = (rec[d + R_INFO]! >>> 8) & 7;
  const max = write ? cpu.segWMax[seg]! : cpu.segRMax[seg]!;
  if ((off >>> 0) + size - 1 > max) return segLinear(cpu, seg, off, 0, size, write);
  return (cpu.segBase[seg]! + off) | 0;
}

/** Linear address of a [base + disp] operand in 64-bit mode; the high half goes to cpu.hi. */
function addrB64(cpu: Cpu, d: number, size: number, write: boolean): number {
  const rec = cpu.rec;
  const base = rec[d + R_RM]!;
  const sum = (cpu.gpr[base]! >>> 0) + rec[d + R_DISP]!;
  const lo = sum | 0;
  const hi = (cpu.gprHi[base]! + Math.floor(sum / 4294967296)) | 0;
  const seg = (rec[d + R_INFO]! >>> 8) & 7;
  if (seg >= Seg.FS) return segLinear(cpu, seg, lo, hi, size, write);
  const sign = hi >> (cpu.linearBits - 33);
  if (sign !== 0 && sign !== -1) cpu.raise(seg === Seg.SS ? Vector.SS : Vector.GP, 0);
  cpu.hi = hi;
  return lo;
}

// ---- 32-bit ALU, register forms -----------------------------------------------------------

function add32(cpu: Cpu, a: number, b: number): number {
  const r = (a + b) | 0;
  const c = (a & b) | ((a | b) & ~r);
  cpu.fRes = r;
  cpu.fResHi = r >> 31;
  cpu.fAux = (c & AUX_AF) | (c & (AUX_CF | AUX_PO));
  return r;
}
function sub32(cpu: Cpu, a: number, b: number): number {
  const r = (a - b) | 0;
  const c = (~a & b) | (~(a ^ b) & r);
  cpu.fRes = r;
  cpu.fResHi = r >> 31;
  cpu.fAux = (c & AUX_AF) | (c & (AUX_CF | AUX_PO));
  return r;
}
function logic32(cpu: Cpu, r: number): number {
  cpu.fRes = r;
  cpu.fResHi = r >> 31;
  cpu.fAux = 0;
  return r;
}

/** 32-bit ALU operation `op` on a and b; sets flags; returns the result. */
function alu32(cpu: Cpu, op: number, a: number, b: number): number {
  switch (op) {
    case 0:
      return add32(cpu, a, b);
    case 1:
      return logic32(cpu, a | b);
    case 2: {
      const r = (a + b + (cpu.fAux >>> 31)) | 0;
      const c = (a & b) | ((a | b) & ~r);
      cpu.fRes = r;
      cpu.fResHi = r >> 31;
      cpu.fAux = (c & AUX_AF) | (c & (AUX_CF | AUX_PO));
      return r;
    }
    case 3: {
      const r = (a - b - (cpu.fAux >>> 31)) | 0;
      const c = (~a & b) | (~(a ^ b) & r);
      cpu.fRes = r;
      cpu.fResHi = r >> 31;
      cpu.fAux = (c & AUX_AF) | (c & (AUX_CF | AUX_PO));
      return r;
    }
    case 4:
      return logic32(cpu, a & b);
    case 6:
      return logic32(cpu, a ^ b);
    default:
      return sub32(cpu, a, b);
  }
}

/** Writes a 32-bit result to a register: zero-extends in every mode. */
function set32(cpu: Cpu, r: number, v: number): void {
  cpu.gpr[r] = v;
  cpu.gprHi[r] = 0;
}

function installAlu32(): void {
  for (let op = 0; op < 8; op++) {
    const cmp = op === 7;
    add(`alu${op} rm,reg`, 2, false, `alu${op} r32,r32`, (cpu, d) => {
      const rec = cpu.rec;
      const rm = rec[d + R_RM]!;
      const r = alu32(cpu, op, cpu.gpr[rm]!, cpu.gpr[rec[d + R_REG]!]!);
      if (!cmp) set32(cpu, rm, r);
    });
    add(`alu${op} reg,rm`, 2, false, `alu${op} r32,r32'`, (cpu, d) => {
      const rec = cpu.rec;
      const reg = rec[d + R_REG]!;
      const r = alu32(cpu, op, cpu.gpr[reg]!, cpu.gpr[rec[d + R_RM]!]!);
      if (!cmp) set32(cpu, reg, r);
    });
    add(`alu${op} reg,rm`, 2, true, `alu${op} r32,m32`, (cpu, d) => {
      const rec = cpu.rec;
      const reg = rec[d + R_REG]!;
      const lo = memAddr(cpu, d, 4, false);
      const b = cpu.rd32(lo, cpu.hi);
      const r = alu32(cpu, op, cpu.gpr[reg]!, b);
      if (!cmp) set32(cpu, reg, r);
    });
    add(`alu${op} rm,imm8`, 2, false, `alu${op} r32,imm8`, (cpu, d) => {
      const rec = cpu.rec;
      const rm = rec[d + R_RM]!;
      const r = alu32(cpu, op, cpu.gpr[rm]!, (rec[d + R_IMM]! << 24) >> 24);
      if (!cmp) set32(cpu, rm, r);
    });
    add(`alu${op} rm,imm`, 2, false, `alu${op} r32,imm32`, (cpu, d) => {
      const rec = cpu.rec;
      const rm = rec[d + R_RM]!;
      const r = alu32(cpu, op, cpu.gpr[rm]!, rec[d + R_IMM]!);
      if (!cmp) set32(cpu, rm, r);
    });
    if (cmp) {
      add(`alu${op} rm,reg`, 2, true, `cmp m32,r32`, (cpu, d) => {
        const lo = memAddr(cpu, d, 4, false);
        const a = cpu.rd32(lo, cpu.hi);
        sub32(cpu, a, cpu.gpr[cpu.rec[d + R_REG]!]!);
      });
      add(`alu${op} rm,imm8`, 2, true, `cmp m32,imm8`, (cpu, d) => {
        const lo = memAddr(cpu, d, 4, false);
        const a = cpu.rd32(lo, cpu.hi);
        sub32(cpu, a, (cpu.rec[d + R_IMM]! << 24) >> 24);
      });
    }
  }
  add('test rm,reg', 2, false, 'test r32,r32', (cpu, d) => {
    const rec = cpu.rec;
    logic32(cpu, cpu.gpr[rec[d + R_RM]!]! & cpu.gpr[rec[d + R_REG]!]!);
  });
}

// ---- moves --------------------------------------------------------------------------------

function installMov32(): void {
  add('mov rm,reg', 2, false, 'mov r32,r32', (cpu, d) => {
    const rec = cpu.rec;
    set32(cpu, rec[d + R_RM]!, cpu.gpr[rec[d + R_REG]!]!);
  });
  add('mov reg,rm', 2, false, "mov r32,r32'", (cpu, d) => {
    const rec = cpu.rec;
    set32(cpu, rec[d + R_REG]!, cpu.gpr[rec[d + R_RM]!]!);
  });
  add('mov rm,reg', 2, true, 'mov m32,r32', (cpu, d) => {
    const lo = memAddr(cpu, d, 4, true);
    cpu.wr32(lo, cpu.hi, cpu.gpr[cpu.rec[d + R_REG]!]!);
  });
  add('mov reg,rm', 2, true, 'mov r32,m32', (cpu, d) => {
    const lo = memAddr(cpu, d, 4, false);
    set32(cpu, cpu.rec[d + R_REG]!, cpu.rd32(lo, cpu.hi));
  });
  add('mov rm,reg', 3, false, 'mov r64,r64', (cpu, d) => {
    const rec = cpu.rec;
    const s = rec[d + R_REG]!;
    const t = rec[d + R_RM]!;
    cpu.gpr[t] = cpu.gpr[s]!;
    cpu.gprHi[t] = cpu.gprHi[s]!;
  });
  add('mov reg,rm', 3, false, "mov r64,r64'", (cpu, d) => {
    const rec = cpu.rec;
    const s = rec[d + R_RM]!;
    const t = rec[d + R_REG]!;
    cpu.gpr[t] = cpu.gpr[s]!;
    cpu.gprHi[t] = cpu.gprHi[s]!;
  });
  add('mov rm,reg', 3, true, 'mov m64,r64', (cpu, d) => {
    const lo = memAddr(cpu, d, 8, true);
    const r = cpu.rec[d + R_REG]!;
    cpu.wr64(lo, cpu.hi, cpu.gpr[r]!, cpu.gprHi[r]!);
  });
  add('mov reg,rm', 3, true, 'mov r64,m64', (cpu, d) => {
    const lo = memAddr(cpu, d, 8, false);
    const v = cpu.rd64(lo, cpu.hi);
    const r = cpu.rec[d + R_REG]!;
    cpu.gpr[r] = v;
    cpu.gprHi[r] = cpu.hi;
  });
  add('mov reg,imm', 2, false, 'mov r32,imm32', (cpu, d) => {
    const rec = cpu.rec;
    set32(cpu, rec[d + R_REG]!, rec[d + R_IMM]!);
  });
  add('lea', 2, true, 'lea r32', (cpu, d) => {
    ea(cpu, d);
    set32(cpu, cpu.rec[d + R_REG]!, cpu.eaLo);
  });
}

// ---- INC/DEC r32 (40-4F) ---------------------------------------------------------------------

function incDec32(cpu: Cpu, d: number, delta: number): void {
  const reg = cpu.rec[d + R_REG]!;
  const a = cpu.gpr[reg]!;
  const r = (a + delta) | 0;
  const c = delta > 0 ? (a & 1) | ((a | 1) & ~r) : (~a & 1) | (~(a ^ 1) & r);
  const cf = cpu.fAux & AUX_CF;
  const of = (c ^ (c << 1)) >>> 31;
  cpu.fRes = r;
  cpu.fResHi = r >> 31;
  cpu.fAux = (c & AUX_AF) | cf | (((cf >>> 31) ^ of) << 30);
  set32(cpu, reg, r);
}

// ---- PUSH/POP r32 with a flat 32-bit stack ---------------------------------------------------

function push32(cpu: Cpu, v: number): void {
  const g = cpu.gpr;
  const sp = (g[4]! - 4) | 0;
  const lo = segLinear(cpu, Seg.SS, sp, 0, 4, true);
  cpu.wr32(lo, 0, v);
  g[4] = sp;
}

function installStack32(): void {
  // Only for code running with a 32-bit stack (SS.B = 1); the generic handler covers the rest.
  add('push reg', 2, false, 'push r32', (cpu, d) => {
    if ((cpu.segAttr[Seg.SS]! & SegAttr.DB) === 0) {
      genericPushReg(cpu, d);
      return;
    }
    push32(cpu, cpu.gpr[cpu.rec[d + R_REG]!]!);
  });
  add('pop reg', 2, false, 'pop r32', (cpu, d) => {
    const g = cpu.gpr;
    if ((cpu.segAttr[Seg.SS]! & SegAttr.DB) === 0) {
      genericPopReg(cpu, d);
      return;
    }
    const sp = g[4]!;
    const lo = segLinear(cpu, Seg.SS, sp, 0, 4, false);
    const v = cpu.rd32(lo, 0);
    g[4] = (sp + 4) | 0;
    set32(cpu, cpu.rec[d + R_REG]!, v);
  });
  add('push reg', 3, false, 'push r64', (cpu, d) => {
    const g = cpu.gpr;
    const r = cpu.rec[d + R_REG]!;
    const spLo = g[4]!;
    let spHi = cpu.gprHi[4]!;
    const nLo = (spLo - 8) | 0;
    if ((nLo >>> 0) > (spLo >>> 0)) spHi = (spHi - 1) | 0;
    const lo = segLinear(cpu, Seg.SS, nLo, spHi, 8, true);
    cpu.wr64(lo, cpu.hi, g[r]!, cpu.gprHi[r]!);
    g[4] = nLo;
    cpu.gprHi[4] = spHi;
  });
  add('pop reg', 3, false, 'pop r64', (cpu, d) => {
    const g = cpu.gpr;
    const r = cpu.rec[d + R_REG]!;
    const spLo = g[4]!;
    const spHi = cpu.gprHi[4]!;
    const lo = segLinear(cpu, Seg.SS, spLo, spHi, 8, false);
    const v = cpu.rd64(lo, cpu.hi);
    const vHi = cpu.hi;
    const n = (spLo >>> 0) + 8;
    g[4] = n | 0;
    cpu.gprHi[4] = n > 0xffff_ffff ? (spHi + 1) | 0 : spHi;
    g[r] = v;
    cpu.gprHi[r] = vHi;
  });
}

let genericPushReg: Handler;
let genericPopReg: Handler;

/** [base + disp] forms of the hottest memory instructions. */
function installShaped(): void {
  add('mov reg,rm', 2, true, 'mov r32,[b32+d]', (cpu, d) => {
    const lo = addrB32(cpu, d, 4, false);
    set32(cpu, cpu.rec[d + R_REG]!, cpu.rd32(lo, 0));
  }, SHAPE_B32);
  add('mov rm,reg', 2, true, 'mov [b32+d],r32', (cpu, d) => {
    const lo = addrB32(cpu, d, 4, true);
    cpu.wr32(lo, 0, cpu.gpr[cpu.rec[d + R_REG]!]!);
  }, SHAPE_B32);
  add('mov reg,rm', 3, true, 'mov r64,[b64+d]', (cpu, d) => {
    const lo = addrB64(cpu, d, 8, false);
    const v = cpu.rd64(lo, cpu.hi);
    const r = cpu.rec[d + R_REG]!;
    cpu.gpr[r] = v;
    cpu.gprHi[r] = cpu.hi;
  }, SHAPE_B64);
  add('mov rm,reg', 3, true, 'mov [b64+d],r64', (cpu, d) => {
    const lo = addrB64(cpu, d, 8, true);
    const r = cpu.rec[d + R_REG]!;
    cpu.wr64(lo, cpu.hi, cpu.gpr[r]!, cpu.gprHi[r]!);
  }, SHAPE_B64);
  add('mov reg,rm', 2, true, 'mov r32,[b64+d]', (cpu, d) => {
    const lo = addrB64(cpu, d, 4, false);
    set32(cpu, cpu.rec[d + R_REG]!, cpu.rd32(lo, cpu.hi));
  }, SHAPE_B64);
  add('mov rm,reg', 2, true, 'mov [b64+d],r32', (cpu, d) => {
    const lo = addrB64(cpu, d, 4, true);
    cpu.wr32(lo, cpu.hi, cpu.gpr[cpu.rec[d + R_REG]!]!);
  }, SHAPE_B64);
  for (let op = 0; op < 8; op++) {
    const cmp = op === 7;
    add(`alu${op} reg,rm`, 2, true, `alu${op} r32,[b32+d]`, (cpu, d) => {
      const reg = cpu.rec[d + R_REG]!;
      const lo = addrB32(cpu, d, 4, false);
      const r = alu32(cpu, op, cpu.gpr[reg]!, cpu.rd32(lo, 0));
      if (!cmp) set32(cpu, reg, r);
    }, SHAPE_B32);
  }
  add('alu7 rm,imm8', 2, true, 'cmp [b32+d],imm8', (cpu, d) => {
    const lo = addrB32(cpu, d, 4, false);
    sub32(cpu, cpu.rd32(lo, 0), (cpu.rec[d + R_IMM]! << 24) >> 24);
  }, SHAPE_B32);
  add('alu7 rm,reg', 2, true, 'cmp [b32+d],r32', (cpu, d) => {
    const lo = addrB32(cpu, d, 4, false);
    sub32(cpu, cpu.rd32(lo, 0), cpu.gpr[cpu.rec[d + R_REG]!]!);
  }, SHAPE_B32);
}

/** MOVZX r32, r/m8; CMP/ALU eAX, imm32; 8-bit ALU register forms; 32-bit shifts by an immediate. */
function installMore(): void {
  add('movzx rm8', 2, false, 'movzx r32,r8', (cpu, d) => {
    const rec = cpu.rec;
    let r = rec[d + R_RM]!;
    if ((rec[d + R_INFO]! & I_REX) === 0 && r >= 4 && r < 8) r = BYTE_HIGH + r - 4;
    set32(cpu, rec[d + R_REG]!, cpu.getReg8(r));
  });
  add('movzx rm8', 2, true, 'movzx r32,[b32+d]', (cpu, d) => {
    const lo = addrB32(cpu, d, 1, false);
    set32(cpu, cpu.rec[d + R_REG]!, cpu.rd8(lo, 0));
  }, SHAPE_B32);
  add('movzx rm8', 2, true, 'movzx r32,[b32+i*s+d]', (cpu, d) => {
    const lo = addrBis32(cpu, d, 1, false);
    set32(cpu, cpu.rec[d + R_REG]!, cpu.rd8(lo, 0));
  }, SHAPE_BIS32);
  add('mov reg,rm', 2, true, 'mov r32,[b32+i*s+d]', (cpu, d) => {
    const lo = addrBis32(cpu, d, 4, false);
    set32(cpu, cpu.rec[d + R_REG]!, cpu.rd32(lo, 0));
  }, SHAPE_BIS32);
  add('mov rm,reg', 2, true, 'mov [b32+i*s+d],r32', (cpu, d) => {
    const lo = addrBis32(cpu, d, 4, true);
    cpu.wr32(lo, 0, cpu.gpr[cpu.rec[d + R_REG]!]!);
  }, SHAPE_BIS32);
  add('mov reg,rm', 2, true, 'mov r32,[i*s+d]', (cpu, d) => {
    const lo = addrIs32(cpu, d, 4, false);
    set32(cpu, cpu.rec[d + R_REG]!, cpu.rd32(lo, 0));
  }, SHAPE_IS32);
  add('alu7 rm,imm8', 2, true, 'cmp [i*s+d],imm8', (cpu, d) => {
    const lo = addrIs32(cpu, d, 4, false);
    sub32(cpu, cpu.rd32(lo, 0), (cpu.rec[d + R_IMM]! << 24) >> 24);
  }, SHAPE_IS32);
  add('alu7 rm,imm8', 2, true, 'cmp [b32+i*s+d],imm8', (cpu, d) => {
    const lo = addrBis32(cpu, d, 4, false);
    sub32(cpu, cpu.rd32(lo, 0), (cpu.rec[d + R_IMM]! << 24) >> 24);
  }, SHAPE_BIS32);
  add('jmp rm', 2, true, 'jmp [i*s+d]', (cpu, d) => {
    // Near indirect JMP through a 32-bit table entry (SDM Vol. 2 "JMP"): the target must be
    // within the CS limit.
    const lo = addrIs32(cpu, d, 4, false);
    const t = cpu.rd32(lo, 0);
    if ((t >>> 0) > cpu.segLimit[Seg.CS]!) cpu.gp(0);
    cpu.nipLo = t;
    cpu.nipHi = 0;
  }, SHAPE_IS32);
  for (let op = 0; op < 8; op++) {
    const cmp = op === 7;
    add(`alu${op} acc,imm`, 2, false, `alu${op} eax,imm32`, (cpu, d) => {
      const r = alu32(cpu, op, cpu.gpr[0]!, cpu.rec[d + R_IMM]!);
      if (!cmp) set32(cpu, 0, r);
    });
    // 8-bit register forms (the generic handler resolves AH..BH the same way).
    add(`alu${op} rm,reg`, 0, false, `alu${op} r8,r8`, (cpu, d) => {
      const rec = cpu.rec;
      const rm = rec[d + R_RM]!;
      const a = cpu.getReg8(rm);
      const b = cpu.getReg8(rec[d + R_REG]!);
      const r = alu8(cpu, op, a, b);
      if (!cmp) cpu.setReg8(rm, r);
    });
  }
  for (const op of [0, 1, 4, 5, 7]) {
    add(`shift${op} rm,imm8`, 2, false, `shift${op} r32,imm8`, (cpu, d) => {
      const rec = cpu.rec;
      const rm = rec[d + R_RM]!;
      const count = rec[d + R_IMM]! & 31;
      const v = cpu.gpr[rm]!;
      if (count === 0) {
        cpu.gprHi[rm] = 0; // a 32-bit destination is still written (zero-extended)
        return;
      }
      shift32(cpu, op, rm, v, count);
    });
  }
}

/** 8-bit ALU operation with the flags of an 8-bit result. */
function alu8(cpu: Cpu, op: number, a: number, b: number): number {
  let r: number;
  let c: number;
  switch (op) {
    case 0:
      r = (a + b) | 0;
      c = (a & b) | ((a | b) & ~r);
      break;
    case 2:
      r = (a + b + (cpu.fAux >>> 31)) | 0;
      c = (a & b) | ((a | b) & ~r);
      break;
    case 3:
      r = (a - b - (cpu.fAux >>> 31)) | 0;
      c = (~a & b) | (~(a ^ b) & r);
      break;
    case 5:
    case 7:
      r = (a - b) | 0;
      c = (~a & b) | (~(a ^ b) & r);
      break;
    default: {
      r = op === 1 ? a | b : op === 4 ? a & b : a ^ b;
      const s8 = (r << 24) >> 24;
      cpu.fRes = s8;
      cpu.fResHi = s8 >> 31;
      cpu.fAux = 0;
      return r;
    }
  }
  const s8 = (r << 24) >> 24;
  cpu.fRes = s8;
  cpu.fResHi = s8 >> 31;
  cpu.fAux = (c & AUX_AF) | ((c << 24) & (AUX_CF | AUX_PO));
  return r;
}

/**
 * ROL, ROR, SHL, SHR, SAR of a 32-bit register by 1-31 (SDM Vol. 2 "SAL/SAR/SHL/SHR",
 * "RCL/RCR/ROL/ROR"); OF follows the count-1 formula on the result for every count, and AF is
 * 1 on AMD and 0 on Intel, as the generic handler in shift.ts (checked against the host CPU).
 */
function shift32(cpu: Cpu, op: number, rm: number, v: number, count: number): void {
  let r: number;
  let cf: number;
  let of: number;
  switch (op) {
    case 0: // ROL
      r = (v << count) | (v >>> (32 - count));
      cf = r & 1;
      set32(cpu, rm, r);
      setCfOf32(cpu, cf, ((r >>> 31) & 1) ^ cf);
      return;
    case 1: // ROR
      r = (v >>> count) | (v << (32 - count));
      cf = (r >>> 31) & 1;
      set32(cpu, rm, r);
      setCfOf32(cpu, cf, cf ^ ((r >>> 30) & 1));
      return;
    case 4: // SHL
      r = v << count;
      cf = (v >>> (32 - count)) & 1;
      of = ((r >>> 31) & 1) ^ cf;
      break;
    case 5: // SHR
      r = v >>> count;
      cf = (v >>> (count - 1)) & 1;
      of = ((r >>> 31) ^ (r >>> 30)) & 1;
      break;
    default: // SAR
      r = v >> count;
      cf = (v >> (count - 1)) & 1;
      of = 0;
      break;
  }
  r |= 0;
  set32(cpu, rm, r);
  cpu.fRes = r;
  cpu.fResHi = r >> 31;
  cpu.fAux = (cf << 31) | ((cf ^ of) << 30) | ((cpu.isAmd ? 1 : 0) << 3);
}

/** Replaces CF and OF, keeping the other flags (rotates). */
function setCfOf32(cpu: Cpu, cf: number, of: number): void {
  cpu.fAux = (cpu.fAux & ~(AUX_CF | AUX_PO)) | (cf << 31) | ((cf ^ of) << 30);
}

export function installFast(handlers: readonly Handler[]): void {
  genericPushReg = handlers[HANDLER_NAMES.indexOf('push reg')]!;
  genericPopReg = handlers[HANDLER_NAMES.indexOf('pop reg')]!;
  installAlu32();
  installMov32();
  add('inc reg', 2, false, 'inc r32', (cpu, d) => incDec32(cpu, d, 1));
  add('dec reg', 2, false, 'dec r32', (cpu, d) => incDec32(cpu, d, -1));
  installStack32();
  installShaped();
  installMore();
}

export { R_INFO };
