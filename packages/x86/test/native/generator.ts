/**
 * Seeded case generator for the native differential oracle.
 *
 * Every case is reproducible from `(seed, index)` alone: the PRNG (xoshiro128**, seeded by a
 * murmur/splitmix mix of both numbers) is reseeded per case, so a mismatch at case 1,234,567 of
 * a campaign can be regenerated without generating the ones before it.
 *
 * A case is one instruction (or a few: branch forms, loops, sequences) with random and
 * edge-case register values (0, 1, 2, -1, -2, the 8/16/32/64-bit sign boundaries 0x7f/0x80/
 * 0x7fff/0x8000/..., all-ones, alternating bit patterns, small values, fully random; often with
 * garbage above the operand size), random arithmetic flags and DF, and a data window filled
 * with random and edge-case qwords. Memory operands always land inside the data window: the
 * generator picks the target, then solves for the base/index register values.
 *
 * Addressing forms of memory operands (chosen at random for every memory operand):
 *   [base], [base+disp8], [base+disp32], [base+index*{1,2,4,8}(+disp8/32)], [index*s+disp32]
 *   (SIB, no base, with REX.B set or clear), [base] through SIB without index (RSP/R12 bases),
 *   [disp32] absolute through SIB, [rip+disp32], each with 64-bit or (0x67) 32-bit address size
 *   (32-bit: the registers carry garbage in their upper halves and the sum wraps modulo 2^32).
 *   There is no 16-bit addressing in 64-bit mode. Ignored REX bits (X without SIB, B with no
 *   base, R with /digit opcodes, W on byte ops) and ignored segment prefixes (CS/DS/ES/SS) are
 *   sprinkled in as decoder noise. LOCK is added to a quarter of lockable memory forms.
 *
 * Opcode forms covered (operand sizes 8/16/32/64 where the form has them; r/m is a register or
 * a memory operand at random unless the name says otherwise):
 *   ALU       ADD OR ADC SBB AND SUB XOR CMP: r/m,r  r,r/m  AL/AX/EAX/RAX,imm  80/81/83 /op
 *   unary     INC DEC NOT NEG (FE/FF /0 /1, F6/F7 /2 /3)
 *   TEST      84/85, A8/A9, F6/F7 /0 and the /1 alias
 *   shifts    ROL ROR RCL RCR SHL SHR SAL(/6) SAR by 1 (D0/D1), CL (D2/D3), imm8 (C0/C1);
 *             counts 0..255 with the masked ones (32, 63, 64, 255, ...); SHLD/SHRD imm8 and CL
 *   multiply  MUL IMUL (F6/F7 /4 /5), IMUL r,r/m (0F AF), IMUL r,r/m,imm (69, 6B)
 *   divide    DIV IDIV (F6/F7 /6 /7): valid quotients, #DE by zero and by overflow
 *   moves     MOV 88/89/8A/8B, B0+r, B8+r (imm16/32/64), C6/C7, A0-A3 moffs (64/32-bit),
 *             MOV r/m,Sreg (8C), MOVZX, MOVSX (0F B6/B7/BE/BF), MOVSXD (63: 16/32/64)
 *   LEA       all addressing forms, 64- and 32-bit address size, 16/32/64-bit results
 *   exchange  XCHG r/m,r; XCHG eAX,r (90+r); CMPXCHG; XADD; CMPXCHG8B; CMPXCHG16B
 *   bits      BT BTS BTR BTC (r/m,r with register and memory bit bases; r/m,imm8);
 *             BSF BSR; BSWAP (32/64, and the undefined 16-bit form); POPCNT LZCNT TZCNT
 *   condition CMOVcc and SETcc for all 16 conditions
 *   branches  Jcc rel8/rel32 forward and backward (bounded loops), JMP rel8/rel32, JMP r/m,
 *             JRCXZ/JECXZ, LOOP/LOOPE/LOOPNE forward and backward, CALL rel32/r/m, RET, RET imm16
 *             (targets are inside the snippet)
 *   flags     LAHF SAHF CLC STC CMC CLD STD PUSHF POPF (64/16)
 *   convert   CBW CWDE CDQE CWD CDQ CQO
 *   stack     PUSH/POP r (64/16, incl. RSP), PUSH imm8/imm32 (64/16), PUSH/POP r/m (64/16),
 *             PUSH/POP [rsp+disp], ENTER (levels 0..4 and deep), LEAVE (64/16)
 *   strings   MOVS CMPS STOS LODS SCAS, 8/16/32/64, with no prefix, REP/REPE (F3) and REPNE (F2),
 *             both directions, counts 0..8, 64- and 32-bit address size, ignored segment prefixes
 *   newer     MOVBE, CRC32, ADCX, ADOX, ANDN, BEXTR, BLSI, BLSMSK, BLSR, BZHI, MULX, PDEP, PEXT,
 *             RORX, SARX, SHLX, SHRX (32/64)
 *   misc      XLAT (64/32-bit address), NOP forms (90, 66 90, PAUSE, 0F 1F /r with any address,
 *             prefetch hints, PREFETCH/PREFETCHW 0F 0D, ENDBR64, LFENCE/MFENCE/SFENCE)
 *   sequences 2-4 register-only instructions in a row (flag hand-over between instructions)
 *   faults    #UD: opcodes invalid in 64-bit mode, 82 /op, UD0/UD1/UD2, LOCK on non-lockable or
 *             register destinations, LEA/MOVBE/CMPXCHG8B with register operands, C6/C7 /1-/7,
 *             MOV from Sreg 6/7, VEX.L=1, prefixes before VEX; #GP: instructions longer than
 *             15 bytes, privileged instructions at CPL 3 (HLT CLI STI IN OUT INS OUTS RDMSR
 *             WRMSR INVD WBINVD MOV CR CLTS LGDT INVLPG SWAPGS SYSRET), INT n (#GP(n*8+2));
 *             #BP (INT3, INT 3), #OF (INT 4); misaligned CMPXCHG16B; REX placed before a legacy
 *             prefix (ignored REX)
 *   vendor    66-prefixed near branches (AMD honours the operand-size override and truncates
 *             the target to 16 bits; Intel ignores it): marked `vendorSpecific`
 *
 * Not generated (and why): SYSCALL/SYSENTER/INT 0x80 (leave user mode), RDTSC/RDTSCP/RDPID/
 * RDRAND/RDSEED/RDPMC (not deterministic), CPUID/XGETBV (describe the host, not the ISA),
 * MOV Sreg,r/m / PUSH and POP FS/GS / far CALL/JMP/RET / IRET (segment loads the oracle must undo; the
 * FS base is the oracle's TLS), FS/GS segment overrides (FS base is the TLS pointer), x87/MMX/SSE/
 * AVX (not general-purpose integer), TBM (this CPU has none), UMIP-emulated SGDT/SIDT/SMSW/SLDT/
 * STR (Linux emulates them for user mode), INT1/ICEBP (F1: this KVM host reports the #DB with
 * RIP at the instruction instead of after it: most likely the hypervisor, not the ISA).
 */
import { readFileSync } from 'node:fs';
import { CODE_BASE, CODE_MAX, DATA_BASE, DATA_SIZE, RFLAGS_FORCED, RFLAGS_IN_MASK } from './layout.js';

// ---------------------------------------------------------------------------------------------
// PRNG: xoshiro128**, seeded per (seed, index) with murmur3's fmix32 and splitmix32.

const TWO32 = 0x1_0000_0000;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class Rng {
  private a = 1;
  private b = 2;
  private c = 3;
  private d = 4;

  constructor(seed = 0, stream = 0) {
    this.reseed(seed, stream);
  }

  /** Reseeds from two non-negative integers below 2^53 (a campaign seed and a case index). */
  reseed(seed: number, stream: number): void {
    let h = 0x243f6a88;
    h = fmix32(h ^ (seed >>> 0));
    h = fmix32(h ^ Math.floor(seed / TWO32));
    h = fmix32(h ^ (stream >>> 0) ^ 0x9e3779b9);
    h = fmix32(h ^ Math.floor(stream / TWO32));
    let s = h;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.a = next() | 0;
    this.b = next() | 0;
    this.c = next() | 0;
    this.d = next() | 1; // never all zero
  }

  /** Uniform unsigned 32-bit integer. */
  next(): number {
    const a = this.a;
    const b = this.b;
    let c = this.c;
    let d = this.d;
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    this.b = b ^ c;
    this.a = a ^ d;
    this.c = c ^ t;
    this.d = rotl(d, 11);
    return r;
  }

  /** Integer in [0, n), n <= 2^32. */
  below(n: number): number {
    return Math.floor((this.next() / TWO32) * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  bool(): boolean {
    return (this.next() & 1) === 1;
  }

  /** True with probability num/den. */
  chance(num: number, den: number): boolean {
    return this.below(den) < num;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// ---------------------------------------------------------------------------------------------
// Operand values.

/** Edge-case 64-bit values as (lo, hi) pairs of unsigned 32-bit halves. */
const EDGE: readonly number[] = (() => {
  const e: number[] = [];
  const add = (lo: number, hi: number): void => {
    e.push(lo >>> 0, hi >>> 0);
  };
  for (const v of [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65]) add(v, 0);
  add(-1, -1);
  add(-2, -1);
  for (const k of [8, 16, 32]) {
    const m = 2 ** (k - 1);
    for (const v of [m - 2, m - 1, m, m + 1, 2 * m - 1, 2 * m - 2]) add(v % TWO32, Math.floor(v / TWO32));
    add(k === 32 ? 0 : 2 * m, k === 32 ? 1 : 0); // 2^k
    add(-m, -1); // sign-extended minimum
  }
  add(-1, 0x7fffffff);
  add(-2, 0x7fffffff);
  add(0, 0x80000000);
  add(1, 0x80000000);
  add(0x55555555, 0x55555555);
  add(0xaaaaaaaa, 0xaaaaaaaa);
  add(0x0f0f0f0f, 0x0f0f0f0f);
  add(0xf0f0f0f0, 0xf0f0f0f0);
  add(0x00ff00ff, 0x00ff00ff);
  add(0x80000000, 0x80000000);
  add(0x00000001, 0x80000000);
  add(0x12345678, 0x9abcdef0);
  return e;
})();
const EDGE_COUNT = EDGE.length / 2;

const IMM8_EDGE = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x55, 0xaa, 0x3f, 0x40];

/** A GPR index. */
export const RAX = 0,
  RCX = 1,
  RDX = 2,
  RBX = 3,
  RSP = 4,
  RBP = 5,
  RSI = 6,
  RDI = 7;

export type Size = 8 | 16 | 32 | 64;
export const SIZES: readonly Size[] = [8, 16, 32, 64];
const WIDE: readonly Size[] = [16, 32, 64];

/** A ModRM r/m operand: a register (mod 3) or an encoded memory operand. */
export interface Rm {
  mod: number;
  rm: number;
  /** SIB byte or -1. */
  sib: number;
  disp: number;
  dispSize: number;
  /** REX.B and REX.X bits. */
  b: number;
  x: number;
  /** Address-size override (0x67). */
  addr32: boolean;
  /** RIP-relative target address, or -1. */
  ripTarget: number;
  /** Offset in the data window of the access, or -1 (register, or address not constrained). */
  off: number;
}

/** One instruction to encode. */
export interface Insn {
  /** Legacy prefixes emitted after LOCK/0x66 and before 0x67 (mandatory F2/F3/66, REP). */
  pfx?: readonly number[];
  /** Ignored segment prefix noise (CS/DS/ES/SS) emitted first; chosen by emit() when undefined. */
  seg?: number;
  lock?: boolean;
  o16?: boolean;
  w?: boolean;
  /** Force a REX prefix (byte registers SPL/BPL/SIL/DIL). */
  rex?: boolean;
  a32?: boolean;
  op: readonly number[];
  /** Register encoded in the low three bits of the last opcode byte (REX.B extends it). */
  opReg?: number;
  /** ModRM.reg (0..15); REX.R is its bit 3. */
  reg?: number;
  rm?: Rm;
  imm?: number;
  immHi?: number;
  immSize?: number;
  imm2?: number;
  imm2Size?: number;
}

/** Options for a memory operand inside the data window. */
export interface MemOpts {
  /** Lowest and highest window offset of the access's first byte. */
  lo?: number;
  hi?: number;
  align?: number;
  /** Force (true) or forbid (false) the 0x67 address-size override; random when undefined. */
  addr32?: boolean;
  noRip?: boolean;
}

/** The state of one case under construction. */
export class Gen {
  rng: Rng = new Rng();
  /** Code buffer (larger than CODE_MAX so a form can overshoot and roll back). */
  readonly code = new Uint8Array(64);
  len = 0;
  readonly gpr = new Int32Array(32);
  rflags = RFLAGS_FORCED;
  readonly mem = new Uint8Array(DATA_SIZE);
  private readonly mem32 = new Int32Array(this.mem.buffer);
  /** Registers the addressing code must not touch (bit per GPR). */
  reserved = 0;
  /** Register-only mode: r/m operands are registers (sequences and branch fillers). */
  regOnly = false;
  /** Registers a filler must not change (the main instruction's setup), while regOnly. */
  private locked = 0;
  vlo = 0;
  vhi = 0;
  private readonly ib = new Uint8Array(24);

  reset(rng: Rng): void {
    this.rng = rng;
    this.len = 0;
    this.reserved = 0;
    this.regOnly = false;
    this.locked = 0;
    const gpr = this.gpr;
    for (let r = 0; r < 16; r++) {
      this.value(SIZES[r & 3]!); // each size's edge values on four registers
      gpr[2 * r] = this.vlo | 0;
      gpr[2 * r + 1] = this.vhi | 0;
    }
    // Stack pointer inside the window, room both ways; sometimes misaligned.
    const k = rng.next();
    let sp = 16 + 8 * (k % 13);
    if ((k & 0x700000) === 0) sp += 1 + ((k >>> 8) % 7);
    this.setQ(RSP, DATA_BASE + Math.min(sp, 120));
    this.rflags = ((k >>> 12) & RFLAGS_IN_MASK) | RFLAGS_FORCED;
    // Window: random words, with edge-case qwords and small values in about half the slots.
    const m = this.mem32; // little-endian host (x86-64): word k is bytes 4k..4k+3
    const pick = rng.next();
    for (let q = 0; q < DATA_SIZE / 8; q++) {
      const sel = (pick >>> (2 * (q & 15))) & 3;
      if (sel === 0) {
        const e = rng.below(EDGE_COUNT) * 2;
        m[2 * q] = EDGE[e]!;
        m[2 * q + 1] = EDGE[e + 1]!;
      } else if (sel === 1 && q & 1) {
        m[2 * q] = rng.next() & 0xff;
        m[2 * q + 1] = 0;
      } else {
        m[2 * q] = rng.next();
        m[2 * q + 1] = rng.next();
      }
    }
  }


  // ----- registers

  /** Enters register-only mode (fillers): registers reserved so far keep their values. */
  beginFill(): void {
    this.regOnly = true;
    this.locked = this.reserved;
  }

  endFill(): void {
    this.regOnly = false;
    this.locked = 0;
  }

  private writable(r: number): boolean {
    return ((this.locked >> r) & 1) === 0;
  }

  reserve(...regs: number[]): void {
    for (const r of regs) this.reserved |= 1 << r;
  }

  setLoHi(r: number, lo: number, hi: number): void {
    if (!this.writable(r)) return;
    this.gpr[2 * r] = lo | 0;
    this.gpr[2 * r + 1] = hi | 0;
  }

  /** Sets a register to a safe integer (negative values as two's complement). */
  setQ(r: number, n: number): void {
    const hi = Math.floor(n / TWO32);
    this.setLoHi(r, n - hi * TWO32, hi);
  }

  lo(r: number): number {
    return this.gpr[2 * r]! >>> 0;
  }

  hi(r: number): number {
    return this.gpr[2 * r + 1]! >>> 0;
  }

  /** Picks a random operand value for `size` into vlo/vhi (upper garbage half the time). */
  value(size: Size): void {
    const rng = this.rng;
    const k = rng.next();
    const kind = k & 15;
    if (kind < 6) {
      const e = ((k >>> 8) % EDGE_COUNT) * 2;
      this.vlo = EDGE[e]!;
      this.vhi = EDGE[e + 1]!;
      if (size < 64 && k & 16) this.garbageAbove(size);
    } else if (kind < 8) {
      const v = ((k >>> 8) & 511) - 256;
      this.vlo = v >>> 0;
      this.vhi = v < 0 ? 0xffffffff : 0;
      if (size < 64 && k & 16) this.garbageAbove(size);
    } else {
      this.vlo = rng.next();
      this.vhi = rng.next();
    }
  }


  private garbageAbove(size: Size): void {
    const rng = this.rng;
    if (size === 32) this.vhi = rng.next();
    else {
      const mask = size === 8 ? 0xff : 0xffff;
      this.vlo = ((this.vlo & mask) | (rng.next() & ~mask)) >>> 0;
      this.vhi = rng.next();
    }
  }

  /** Replaces the bits of `mask` in the low half of register `r`. */
  setLow(r: number, mask: number, value: number): void {
    if (!this.writable(r)) return;
    this.gpr[2 * r] = (this.gpr[2 * r]! & ~mask) | (value & mask);
  }

  /** Writes the low `size` bits of an operand register, as the CPU names it (AH..BH without REX). */
  setOperand(r: number, size: Size, rexPresent: boolean, lo: number, hi: number): void {
    if (size === 8 && !rexPresent && r >= 4 && r < 8) this.setLow(r - 4, 0xff00, (lo & 0xff) << 8);
    else if (size === 64) this.setLoHi(r, lo, hi);
    else if (size === 32) this.setLow(r, -1, lo);
    else this.setLow(r, size === 8 ? 0xff : 0xffff, lo);
  }

  /** A register that is not reserved (excluding `exclude` bits); -1 when none is left. */
  freeReg(exclude = 0): number {
    const free = 0xffff & ~this.reserved & ~exclude;
    if (free === 0) return -1;
    for (;;) {
      const r = this.rng.below(16);
      if ((free >> r) & 1) return r;
    }
  }

  // ----- immediates

  imm8(): number {
    return this.rng.chance(2, 5) ? this.rng.pick(IMM8_EDGE) : this.rng.below(256);
  }

  /** An immediate of `bytes` (1, 2 or 4) as an unsigned number. */
  immOf(bytes: number): number {
    if (bytes === 1) return this.imm8();
    this.value(bytes === 2 ? 16 : 32);
    return bytes === 2 ? this.vlo & 0xffff : this.vlo;
  }

  // ----- operands

  regRm(r: number): Rm {
    return { mod: 3, rm: r & 7, sib: -1, disp: 0, dispSize: 0, b: r >> 3, x: 0, addr32: false, ripTarget: -1, off: -1 };
  }

  /** A register (always in register-only mode, else half the time) or a memory operand of `bytes`. */
  anyRm(bytes: number, opts?: MemOpts): Rm {
    if (this.regOnly || this.rng.bool()) return this.regRm(this.rng.below(16));
    return this.memRm(bytes, opts);
  }

  /** A memory operand whose `bytes`-byte access lands in the data window. */
  memRm(bytes: number, o: MemOpts = {}): Rm {
    const align = o.align ?? 1;
    const lo = o.lo ?? 0;
    const hi = o.hi ?? DATA_SIZE - bytes;
    const off = lo + this.rng.below(Math.floor((hi - lo) / align) + 1) * align;
    return this.memAt(off, o.addr32 ?? this.rng.chance(1, 6), o.noRip ?? false);
  }

  /** A memory operand addressing window offset `off`; solves for the register values. */
  memAt(off: number, a32: boolean, noRip = false): Rm {
    const rng = this.rng;
    const target = DATA_BASE + off;
    const r: Rm = { mod: 0, rm: 0, sib: -1, disp: 0, dispSize: 0, b: 0, x: 0, addr32: a32, ripTarget: -1, off };
    let mode = rng.below(10);
    if (mode === 9 && noRip) mode = 7;
    let base = -1;
    let index = -1;
    if (mode <= 6 || mode === 8) {
      base = this.freeReg();
      if (base < 0) mode = 7;
    }
    if (mode === 3 || mode === 4 || mode === 5) {
      index = this.freeReg((1 << RSP) | (base >= 0 ? 1 << base : 0));
      if (index < 0) mode = base >= 0 ? 6 : 7;
    }
    if ((mode <= 2 || mode === 8) && (base & 7) === 4) mode = 6; // RSP/R12 need a SIB
    let mod = mode === 8 ? 1 : mode <= 2 ? mode : rng.below(3);
    if (mode === 5 || mode === 7 || mode === 9) mod = 0;
    if (mod === 0 && base >= 0 && (base & 7) === 5 && mode !== 5 && mode !== 7) mod = 1; // RBP/R13
    // Displacement.
    let disp = 0;
    if (mode === 5 || mode === 7 || mode === 9 || mod === 2) {
      disp = rng.chance(1, 2) ? rng.range(-300, 300) : rng.next() | 0;
      r.dispSize = 4;
    } else if (mod === 1) {
      disp = rng.range(-128, 127);
      r.dispSize = 1;
    }
    // Index value.
    const scale = mode === 3 || mode === 4 || mode === 5 ? rng.below(4) : 0;
    let idx = 0;
    if (index >= 0) {
      if (a32) {
        idx = rng.next();
        this.setLoHi(index, idx, rng.next());
      } else {
        const k = rng.below(10);
        idx = k < 5 ? rng.range(-40, 40) : k < 8 ? rng.next() | 0 : rng.range(-(1 << 20), 1 << 20);
        if (mode === 5) idx = rng.chance(1, 2) ? rng.range(-40, 40) : rng.range(-(1 << 27), 1 << 27);
        this.setQ(index, idx);
      }
      this.reserved |= 1 << index;
    }
    const scaled = idx * (1 << scale);
    switch (mode) {
      case 5: // [index*s + disp32], no base
        disp = a32 ? toInt32(target - scaled) : target - scaled;
        r.rm = 4;
        r.sib = (scale << 6) | ((index & 7) << 3) | 5;
        r.x = index >> 3;
        r.b = rng.chance(1, 4) ? 1 : 0; // ignored with no base
        break;
      case 7: // [disp32] absolute
        disp = target;
        r.rm = 4;
        r.sib = (rng.below(4) << 6) | (4 << 3) | 5;
        r.b = rng.chance(1, 4) ? 1 : 0;
        break;
      case 9: // [rip + disp32]
        r.rm = 5;
        r.ripTarget = target;
        r.b = rng.chance(1, 4) ? 1 : 0;
        r.x = rng.chance(1, 8) ? 1 : 0;
        break;
      default: {
        const need = target - disp - scaled;
        if (a32) this.setLoHi(base, toUint32(need), rng.next());
        else this.setQ(base, need);
        this.reserved |= 1 << base;
        r.b = base >> 3;
        if (mode === 3 || mode === 4) {
          r.rm = 4;
          r.sib = (scale << 6) | ((index & 7) << 3) | (base & 7);
          r.x = index >> 3;
        } else if (mode === 6) {
          r.rm = 4;
          r.sib = (rng.below(4) << 6) | (4 << 3) | (base & 7); // index none: scale ignored
        } else {
          r.rm = base & 7;
          r.x = rng.chance(1, 10) ? 1 : 0; // ignored without SIB
        }
      }
    }
    r.mod = mod;
    r.disp = disp;
    return r;
  }

  /** A memory operand with random encoding and no constraint on its address (LEA, NOP, prefetch). */
  addrRm(): Rm {
    const rng = this.rng;
    const mod = rng.below(3);
    const rm = rng.below(8);
    const r: Rm = { mod, rm, sib: -1, disp: 0, dispSize: 0, b: rng.below(2), x: rng.below(2), addr32: rng.chance(1, 4), ripTarget: -1, off: -1 };
    if (rm === 4) r.sib = rng.below(256);
    if (mod === 1) r.dispSize = 1;
    else if (mod === 2 || (mod === 0 && (rm === 5 || (rm === 4 && (r.sib & 7) === 5)))) r.dispSize = 4;
    if (r.dispSize === 1) r.disp = rng.range(-128, 127);
    else if (r.dispSize === 4) r.disp = rng.chance(1, 2) ? rng.range(-1000, 1000) : rng.next() | 0;
    return r;
  }

  // ----- encoding

  /** Whether the encoding of `s` carries a REX prefix. */
  rexPresent(s: Insn): boolean {
    const rm = s.rm;
    return !!(s.rex || s.w || ((s.reg ?? 0) & 8) || (rm !== undefined ? rm.b | rm.x : ((s.opReg ?? 0) >> 3) & 1));
  }

  /** Encodes one instruction at the end of the snippet. */
  emit(s: Insn): void {
    const rng = this.rng;
    const buf = this.ib;
    const rm = s.rm;
    const pfx = s.pfx;
    const op = s.op;
    const opReg = s.opReg;
    const reg = s.reg ?? 0;
    const immSize = s.immSize;
    const imm2Size = s.imm2Size;
    let n = 1; // buf[0] is reserved for the optional segment-prefix noise
    if (s.lock) buf[n++] = 0xf0;
    if (s.o16) buf[n++] = 0x66;
    if (pfx !== undefined) for (let i = 0; i < pfx.length; i++) buf[n++] = pfx[i]!;
    if (s.a32 || (rm !== undefined && rm.addr32)) buf[n++] = 0x67;
    let x = rm !== undefined ? rm.x : 0;
    const b = rm !== undefined ? rm.b : ((opReg ?? 0) >> 3) & 1;
    const w = s.w ? 1 : 0;
    const r = (reg >> 3) & 1;
    const rexNeeded = s.rex || (w | r | x | b) !== 0;
    if (rexNeeded) {
      // REX.X is ignored without a SIB: flip it sometimes when a REX is there anyway.
      if (rm !== undefined && rm.sib < 0 && (rng.next() & 7) === 0) x ^= 1;
      buf[n++] = 0x40 | (w << 3) | (r << 2) | (x << 1) | b;
    }
    for (let i = 0; i < op.length; i++) buf[n++] = op[i]!;
    if (opReg !== undefined) buf[n - 1] = buf[n - 1]! | (opReg & 7);
    let dispAt = -1;
    let seg = s.seg ?? 0;
    if (rm !== undefined) {
      buf[n++] = (rm.mod << 6) | ((reg & 7) << 3) | rm.rm;
      if (rm.sib >= 0) buf[n++] = rm.sib;
      dispAt = n;
      n = putLe(buf, n, rm.dispSize, rm.disp);
      if (s.seg === undefined && rm.mod !== 3) {
        const k = rng.next();
        if (k % 25 === 0) seg = SEG_NOISE[(k >>> 8) & 3]!;
      }
    }
    if (immSize !== undefined) {
      if (immSize === 8) {
        n = putLe(buf, n, 4, s.imm ?? 0);
        n = putLe(buf, n, 4, s.immHi ?? 0);
      } else n = putLe(buf, n, immSize, s.imm ?? 0);
    }
    if (imm2Size !== undefined) n = putLe(buf, n, imm2Size, s.imm2 ?? 0);
    let start = 1;
    if (seg !== 0 && n - 1 < 15) {
      buf[0] = seg;
      start = 0;
    }
    const length = n - start;
    if (length > 15) throw new Error(`generator bug: ${length}-byte instruction`);
    if (rm !== undefined && rm.ripTarget >= 0) {
      putLe(buf, dispAt, 4, toInt32(rm.ripTarget - (CODE_BASE + this.len + length)));
    }
    const code = this.code;
    for (let i = start; i < n; i++) code[this.len++] = buf[i]!;
  }


  /** Encodes a VEX (C4) instruction: map 2 = 0F38, 3 = 0F3A; pp 0 none, 1 66, 2 F3, 3 F2. */
  emitVex(v: { map: number; pp: number; w: boolean; l?: number; vvvv: number; op: number; reg: number; rm: Rm; imm?: number; pfx?: readonly number[] }): void {
    const rm = v.rm;
    const prefix: number[] = [...(v.pfx ?? []), ...(rm.addr32 ? [0x67] : []), 0xc4];
    const r = (v.reg >> 3) & 1;
    prefix.push((((r ^ 1) << 7) | ((rm.x ^ 1) << 6) | ((rm.b ^ 1) << 5) | v.map) & 0xff);
    prefix.push(((v.w ? 0x80 : 0) | ((~v.vvvv & 15) << 3) | ((v.l ?? 0) << 2) | v.pp) & 0xff);
    this.emit({ pfx: prefix, op: [v.op], reg: v.reg & 7, rm: { ...rm, b: 0, x: 0, addr32: false }, immSize: v.imm === undefined ? undefined : 1, imm: v.imm, seg: 0 });
  }

  /** Raw bytes. */
  raw(...bytes: number[]): void {
    for (const x of bytes) this.code[this.len++] = x & 0xff;
  }

  /** Patches a little-endian field already in the code. */
  patch(at: number, size: number, value: number): void {
    putLe(this.code, at, size, value);
  }

  // ----- memory

  /** Writes the low `bytes` bytes of (lo, hi) at window offset `off`. */
  memWrite(off: number, bytes: number, lo: number, hi = 0): void {
    writeLe(this.mem, off, Math.min(bytes, 4), lo);
    if (bytes === 8) writeLe(this.mem, off + 4, 4, hi);
  }

  memReadLo(off: number, bytes: number): number {
    let v = 0;
    for (let i = Math.min(bytes, 4) - 1; i >= 0; i--) v = v * 256 + this.mem[off + i]!;
    return v;
  }

  setFlag(mask: number, on: boolean): void {
    this.rflags = on ? this.rflags | mask : this.rflags & ~mask;
  }
}

const SEG_NOISE = [0x2e, 0x3e, 0x26, 0x36];

function putLe(buf: Uint8Array, at: number, size: number, v: number): number {
  for (let i = 0; i < size; i++) {
    buf[at + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
  return at + size;
}

function writeLe(buf: Uint8Array, at: number, size: number, v: number): void {
  putLe(buf, at, size, v >>> 0);
}

function toUint32(n: number): number {
  return ((n % TWO32) + TWO32) % TWO32;
}

function toInt32(n: number): number {
  return toUint32(n) | 0;
}

// ---------------------------------------------------------------------------------------------
// Forms.

export type FaultKind = 'never' | 'may' | 'always';

export interface Form {
  /** Unique descriptive name, e.g. `add r/m32, r32`. */
  readonly name: string;
  /** Coarse group for reports (alu, shift, string, ...). */
  readonly group: string;
  /** Writes code, registers, flags and memory of one case into `g` (already reset). */
  readonly gen: (g: Gen) => void;
  /** Whether the form raises exceptions natively: never, sometimes, or on every case. */
  readonly faults: FaultKind;
  /** Register-only, single instruction, never faults: usable in sequences and branch fillers. */
  readonly composable: boolean;
  /** Behaviour differs between x86 vendors (AMD honours 66h on near branches). */
  readonly vendorSpecific: boolean;
  /** CPU feature flag (/proc/cpuinfo) the form needs, if any. */
  readonly feature?: string;
}

interface FormOpts {
  faults?: FaultKind;
  composable?: boolean;
  vendorSpecific?: boolean;
  feature?: string;
}

const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const SHIFT = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal(/6)', 'sar'];
const DF = 0x400;

const acc = (size: Size): string => ({ 8: 'al', 16: 'ax', 32: 'eax', 64: 'rax' })[size];
const immBytes = (size: Size): number => (size === 8 ? 1 : size === 16 ? 2 : 4);

/** REX forced on a quarter of byte-register forms (SPL/BPL/SIL/DIL instead of AH/CH/DH/BH). */
function rex8(g: Gen, size: Size): boolean {
  return size === 8 && g.rng.chance(1, 4);
}

/** A ModRM.reg value for a /digit opcode, with the ignored REX.R set sometimes. */
function digit(g: Gen, d: number): number {
  return d | (g.rng.chance(1, 10) ? 8 : 0);
}

function lockIf(g: Gen, rm: Rm, lockable: boolean): boolean {
  return lockable && rm.mod !== 3 && g.rng.chance(1, 4);
}

/** Shift/rotate counts: the interesting ones often, else any byte. */
function shiftCount(g: Gen, size: Size): number {
  if (g.rng.bool()) return g.rng.below(256);
  return g.rng.pick([0, 1, 2, size - 1, size, size + 1, 2 * size - 1, 2 * size, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255]) & 0xff;
}

function setCl(g: Gen, count: number): void {
  g.setLow(RCX, 0xff, count);
}

/** Builds the form list, keeping only forms whose CPU feature is in `features`. */
export function buildForms(features: ReadonlySet<string> = hostFeatures()): Form[] {
  const forms: Form[] = [];
  const add = (name: string, group: string, gen: (g: Gen) => void, o: FormOpts = {}): void => {
    if (o.feature !== undefined && !features.has(o.feature)) return;
    forms.push({
      name,
      group,
      gen,
      faults: o.faults ?? 'never',
      composable: o.composable ?? false,
      vendorSpecific: o.vendorSpecific ?? false,
      feature: o.feature,
    });
  };
  const C = { composable: true };
  const fill: Fill = (g) => {
    for (;;) {
      const f = forms[g.rng.below(forms.length)]!;
      if (f.composable) {
        f.gen(g);
        return;
      }
    }
  };

  // ----- ALU
  for (let op = 0; op < 8; op++) {
    const m = ALU[op]!;
    const lockable = op !== 7;
    for (const size of SIZES) {
      const wbit = size === 8 ? 0 : 1;
      add(`${m} r/m${size}, r${size}`, 'alu', (g) => {
        const rm = g.anyRm(size / 8);
        g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), lock: lockIf(g, rm, lockable), op: [op * 8 + wbit], reg: g.rng.below(16), rm });
      }, C);
      add(`${m} r${size}, r/m${size}`, 'alu', (g) => {
        g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), op: [op * 8 + 2 + wbit], reg: g.rng.below(16), rm: g.anyRm(size / 8) });
      }, C);
      add(`${m} ${acc(size)}, imm`, 'alu', (g) => {
        g.emit({ o16: size === 16, w: size === 64, op: [op * 8 + 4 + wbit], immSize: immBytes(size), imm: g.immOf(immBytes(size)) });
      }, C);
      add(`${m} r/m${size}, imm (${size === 8 ? '80' : '81'})`, 'alu', (g) => {
        const rm = g.anyRm(size / 8);
        g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), lock: lockIf(g, rm, lockable), op: [size === 8 ? 0x80 : 0x81], reg: digit(g, op), rm, immSize: immBytes(size), imm: g.immOf(immBytes(size)) });
      }, C);
      if (size !== 8) {
        add(`${m} r/m${size}, imm8 (83)`, 'alu', (g) => {
          const rm = g.anyRm(size / 8);
          g.emit({ o16: size === 16, w: size === 64, lock: lockIf(g, rm, lockable), op: [0x83], reg: digit(g, op), rm, immSize: 1, imm: g.imm8() });
        }, C);
      }
    }
  }

  // ----- INC DEC NOT NEG
  for (const [m, opc, d] of [['inc', 0xfe, 0], ['dec', 0xfe, 1], ['not', 0xf6, 2], ['neg', 0xf6, 3]] as const) {
    for (const size of SIZES) {
      add(`${m} r/m${size}`, 'unary', (g) => {
        const rm = g.anyRm(size / 8);
        g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), lock: lockIf(g, rm, true), op: [opc + (size === 8 ? 0 : 1)], reg: digit(g, d), rm });
      }, C);
    }
  }

  // ----- TEST
  for (const size of SIZES) {
    const wbit = size === 8 ? 0 : 1;
    add(`test r/m${size}, r${size}`, 'alu', (g) => {
      g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), op: [0x84 + wbit], reg: g.rng.below(16), rm: g.anyRm(size / 8) });
    }, C);
    add(`test ${acc(size)}, imm`, 'alu', (g) => {
      g.emit({ o16: size === 16, w: size === 64, op: [0xa8 + wbit], immSize: immBytes(size), imm: g.immOf(immBytes(size)) });
    }, C);
    for (const d of [0, 1]) {
      add(`test r/m${size}, imm (f${size === 8 ? 6 : 7} /${d})`, 'alu', (g) => {
        g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), op: [0xf6 + wbit], reg: digit(g, d), rm: g.anyRm(size / 8), immSize: immBytes(size), imm: g.immOf(immBytes(size)) });
      }, C);
    }
  }

  // ----- shifts and rotates
  for (let d = 0; d < 8; d++) {
    const m = SHIFT[d]!;
    for (const size of SIZES) {
      const wbit = size === 8 ? 0 : 1;
      add(`${m} r/m${size}, 1`, 'shift', (g) => {
        g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), op: [0xd0 + wbit], reg: digit(g, d), rm: g.anyRm(size / 8) });
      }, C);
      add(`${m} r/m${size}, cl`, 'shift', (g) => {
        g.reserve(RCX);
        setCl(g, shiftCount(g, size));
        g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), op: [0xd2 + wbit], reg: digit(g, d), rm: g.anyRm(size / 8) });
      }, C);
      add(`${m} r/m${size}, imm8`, 'shift', (g) => {
        g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), op: [0xc0 + wbit], reg: digit(g, d), rm: g.anyRm(size / 8), immSize: 1, imm: shiftCount(g, size) });
      }, C);
    }
  }
  for (const [m, base] of [['shld', 0xa4], ['shrd', 0xac]] as const) {
    for (const size of WIDE) {
      add(`${m} r/m${size}, r${size}, imm8`, 'shift', (g) => {
        g.emit({ o16: size === 16, w: size === 64, op: [0x0f, base], reg: g.rng.below(16), rm: g.anyRm(size / 8), immSize: 1, imm: shiftCount(g, size) });
      }, C);
      add(`${m} r/m${size}, r${size}, cl`, 'shift', (g) => {
        g.reserve(RCX);
        setCl(g, shiftCount(g, size));
        g.emit({ o16: size === 16, w: size === 64, op: [0x0f, base + 1], reg: g.rng.below(16), rm: g.anyRm(size / 8) });
      }, C);
    }
  }

  // ----- multiply and divide
  for (const [m, d] of [['mul', 4], ['imul', 5]] as const) {
    for (const size of SIZES) {
      add(`${m} r/m${size}`, 'muldiv', (g) => {
        g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), op: [size === 8 ? 0xf6 : 0xf7], reg: digit(g, d), rm: g.anyRm(size / 8) });
      }, C);
    }
  }
  for (const size of WIDE) {
    add(`imul r${size}, r/m${size}`, 'muldiv', (g) => {
      g.emit({ o16: size === 16, w: size === 64, op: [0x0f, 0xaf], reg: g.rng.below(16), rm: g.anyRm(size / 8) });
    }, C);
    add(`imul r${size}, r/m${size}, imm (69)`, 'muldiv', (g) => {
      const ib = immBytes(size);
      g.emit({ o16: size === 16, w: size === 64, op: [0x69], reg: g.rng.below(16), rm: g.anyRm(size / 8), immSize: ib, imm: g.immOf(ib) });
    }, C);
    add(`imul r${size}, r/m${size}, imm8 (6b)`, 'muldiv', (g) => {
      g.emit({ o16: size === 16, w: size === 64, op: [0x6b], reg: g.rng.below(16), rm: g.anyRm(size / 8), immSize: 1, imm: g.imm8() });
    }, C);
  }
  for (const [m, d, signed] of [['div', 6, false], ['idiv', 7, true]] as const) {
    for (const size of SIZES) add(`${m} r/m${size}`, 'muldiv', (g) => genDiv(g, size, d, signed), { faults: 'may' });
  }

  // ----- moves
  for (const size of SIZES) {
    const wbit = size === 8 ? 0 : 1;
    add(`mov r/m${size}, r${size}`, 'mov', (g) => {
      g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), op: [0x88 + wbit], reg: g.rng.below(16), rm: g.anyRm(size / 8) });
    }, C);
    add(`mov r${size}, r/m${size}`, 'mov', (g) => {
      g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), op: [0x8a + wbit], reg: g.rng.below(16), rm: g.anyRm(size / 8) });
    }, C);
    add(`mov r${size}, imm (${size === 8 ? 'b0' : 'b8'}+r)`, 'mov', (g) => {
      const ib = size === 64 ? 8 : immBytes(size);
      g.value(size);
      g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), op: [size === 8 ? 0xb0 : 0xb8], opReg: g.rng.below(16), immSize: ib, imm: ib === 1 ? g.imm8() : ib === 2 ? g.vlo & 0xffff : g.vlo, immHi: g.vhi });
    }, C);
    add(`mov r/m${size}, imm (${size === 8 ? 'c6' : 'c7'})`, 'mov', (g) => {
      const ib = immBytes(size);
      g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), op: [0xc6 + wbit], reg: digit(g, 0), rm: g.anyRm(size / 8), immSize: ib, imm: g.immOf(ib) });
    }, C);
    for (const store of [false, true]) {
      add(`mov ${store ? `moffs, ${acc(size)}` : `${acc(size)}, moffs`}`, 'mov', (g) => {
        const a32 = g.rng.chance(1, 3);
        const off = g.rng.range(0, DATA_SIZE - size / 8);
        g.emit({ o16: size === 16, w: size === 64, a32, op: [(store ? 0xa2 : 0xa0) + wbit], immSize: a32 ? 4 : 8, imm: DATA_BASE + off, immHi: 0 });
      });
    }
  }
  for (const size of WIDE) {
    add(`mov r/m${size}, sreg`, 'mov', (g) => {
      g.emit({ o16: size === 16, w: size === 64, op: [0x8c], reg: g.rng.below(6), rm: g.anyRm(2) });
    }, C);
    for (const [m, op] of [['movzx', 0xb6], ['movsx', 0xbe]] as const) {
      add(`${m} r${size}, r/m8`, 'mov', (g) => {
        g.emit({ o16: size === 16, w: size === 64, rex: g.rng.chance(1, 4), op: [0x0f, op], reg: g.rng.below(16), rm: g.anyRm(1) });
      }, C);
      add(`${m} r${size}, r/m16`, 'mov', (g) => {
        g.emit({ o16: size === 16, w: size === 64, op: [0x0f, op + 1], reg: g.rng.below(16), rm: g.anyRm(2) });
      }, C);
    }
    add(`movsxd r${size}, r/m${size === 16 ? 16 : 32}`, 'mov', (g) => {
      g.emit({ o16: size === 16, w: size === 64, op: [0x63], reg: g.rng.below(16), rm: g.anyRm(size === 16 ? 2 : 4) });
    }, C);
    add(`lea r${size}, m`, 'mov', (g) => {
      g.emit({ o16: size === 16, w: size === 64, op: [0x8d], reg: g.rng.below(16), rm: g.addrRm() });
    }, C);
  }

  // ----- exchange and atomics
  for (const size of SIZES) {
    const wbit = size === 8 ? 0 : 1;
    add(`xchg r/m${size}, r${size}`, 'xchg', (g) => {
      const rm = g.anyRm(size / 8);
      g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), lock: lockIf(g, rm, true), op: [0x86 + wbit], reg: g.rng.below(16), rm });
    }, C);
    add(`cmpxchg r/m${size}, r${size}`, 'xchg', (g) => {
      g.reserve(RAX);
      const rm = g.anyRm(size / 8);
      const s: Insn = { o16: size === 16, w: size === 64, rex: rex8(g, size), lock: lockIf(g, rm, true), op: [0x0f, 0xb0 + wbit], reg: g.rng.below(16), rm };
      if (g.rng.bool()) {
        // Make the destination equal to the accumulator.
        if (rm.mod === 3) g.setOperand(rm.rm | (rm.b << 3), size, g.rexPresent(s), g.lo(RAX), g.hi(RAX));
        else g.memWrite(rm.off, size / 8, g.lo(RAX), g.hi(RAX));
      }
      g.emit(s);
    }, C);
    add(`xadd r/m${size}, r${size}`, 'xchg', (g) => {
      const rm = g.anyRm(size / 8);
      g.emit({ o16: size === 16, w: size === 64, rex: rex8(g, size), lock: lockIf(g, rm, true), op: [0x0f, 0xc0 + wbit], reg: g.rng.below(16), rm });
    }, C);
  }
  for (const size of WIDE) {
    add(`xchg ${acc(size)}, r${size} (90+r)`, 'xchg', (g) => {
      g.emit({ o16: size === 16, w: size === 64, op: [0x90], opReg: g.rng.range(1, 15) });
    }, C);
  }
  for (const wide of [false, true]) {
    add(wide ? 'cmpxchg16b m128' : 'cmpxchg8b m64', 'xchg', (g) => {
      g.reserve(RAX, RCX, RDX, RBX);
      const bytes = wide ? 16 : 8;
      const rm = g.memRm(bytes, { align: wide ? 16 : 1 });
      if (g.rng.bool()) {
        if (wide) {
          g.memWrite(rm.off, 8, g.lo(RAX), g.hi(RAX));
          g.memWrite(rm.off + 8, 8, g.lo(RDX), g.hi(RDX));
        } else {
          g.memWrite(rm.off, 4, g.lo(RAX));
          g.memWrite(rm.off + 4, 4, g.lo(RDX));
        }
      }
      g.emit({ w: wide, lock: g.rng.chance(1, 4), op: [0x0f, 0xc7], reg: digit(g, 1), rm });
    });
  }

  // ----- bit operations
  for (const [m, op, d] of [['bt', 0xa3, 4], ['bts', 0xab, 5], ['btr', 0xb3, 6], ['btc', 0xbb, 7]] as const) {
    for (const size of WIDE) {
      add(`${m} r/m${size}, r${size} (register)`, 'bits', (g) => {
        g.emit({ o16: size === 16, w: size === 64, op: [0x0f, op], reg: g.rng.below(16), rm: g.regRm(g.rng.below(16)) });
      }, C);
      add(`${m} m${size}, r${size} (bit string)`, 'bits', (g) => {
        const rm = g.memRm(size / 8, { lo: 40, hi: 80 });
        const r = g.freeReg(1 << RSP);
        const bit = g.rng.range(-256, 255);
        // The bit offset is signed at the operand size; garbage above it.
        if (size === 64) g.setQ(r, bit);
        else if (size === 32) g.setLoHi(r, bit >>> 0, g.rng.next());
        else g.setLoHi(r, (g.rng.next() & ~0xffff) | (bit & 0xffff), g.rng.next());
        g.emit({ o16: size === 16, w: size === 64, lock: lockIf(g, rm, op !== 0xa3), op: [0x0f, op], reg: r, rm });
      });
      add(`${m} r/m${size}, imm8`, 'bits', (g) => {
        const rm = g.anyRm(size / 8);
        g.emit({ o16: size === 16, w: size === 64, lock: lockIf(g, rm, op !== 0xa3), op: [0x0f, 0xba], reg: digit(g, d), rm, immSize: 1, imm: g.rng.below(256) });
      }, C);
    }
  }
  for (const size of WIDE) {
    for (const [m, pfx, op, feature] of [
      ['bsf', [], 0xbc, undefined],
      ['bsr', [], 0xbd, undefined],
      ['tzcnt', [0xf3], 0xbc, 'bmi1'],
      ['lzcnt', [0xf3], 0xbd, 'abm'],
      ['popcnt', [0xf3], 0xb8, 'popcnt'],
    ] as const) {
      add(`${m} r${size}, r/m${size}`, 'bits', (g) => {
        g.emit({ o16: size === 16, w: size === 64, pfx, op: [0x0f, op], reg: g.rng.below(16), rm: g.anyRm(size / 8) });
      }, { ...C, feature });
    }
    add(`bswap r${size}${size === 16 ? ' (undefined)' : ''}`, 'bits', (g) => {
      g.emit({ o16: size === 16, w: size === 64, op: [0x0f, 0xc8], opReg: g.rng.below(16) });
    }, C);
  }

  // ----- conditional moves and sets
  for (let cc = 0; cc < 16; cc++) {
    for (const size of WIDE) {
      add(`cmov${CC[cc]} r${size}, r/m${size}`, 'cond', (g) => {
        g.emit({ o16: size === 16, w: size === 64, op: [0x0f, 0x40 + cc], reg: g.rng.below(16), rm: g.anyRm(size / 8) });
      }, C);
    }
    add(`set${CC[cc]} r/m8`, 'cond', (g) => {
      g.emit({ rex: rex8(g, 8), op: [0x0f, 0x90 + cc], reg: g.rng.chance(1, 4) ? g.rng.below(16) : 0, rm: g.anyRm(1) });
    }, C);
  }

  // ----- flags and conversions
  for (const [m, b] of [['lahf', 0x9f], ['sahf', 0x9e], ['clc', 0xf8], ['stc', 0xf9], ['cmc', 0xf5], ['cld', 0xfc], ['std', 0xfd]] as const) {
    add(m, 'flags', (g) => g.emit({ op: [b] }), C);
  }
  for (const [m, b, size] of [['cbw', 0x98, 16], ['cwde', 0x98, 32], ['cdqe', 0x98, 64], ['cwd', 0x99, 16], ['cdq', 0x99, 32], ['cqo', 0x99, 64]] as const) {
    add(m, 'convert', (g) => g.emit({ o16: size === 16, w: size === 64, op: [b] }), C);
  }

  // ----- branches
  for (let cc = 0; cc < 16; cc++) {
    add(`j${CC[cc]} rel8 (forward)`, 'branch', (g) => branchForward(g, fill, [0x70 + cc], 1));
    add(`j${CC[cc]} rel32 (forward)`, 'branch', (g) => branchForward(g, fill, [0x0f, 0x80 + cc], 4));
    add(`j${CC[cc]} rel8/rel32 (backward loop)`, 'branch', (g) => jccLoop(g, cc));
  }
  add('jmp rel8', 'branch', (g) => branchForward(g, fill, [0xeb], 1));
  add('jmp rel32', 'branch', (g) => branchForward(g, fill, [0xe9], 4));
  add('jrcxz/jecxz rel8', 'branch', (g) => {
    const a32 = g.rng.chance(1, 3);
    g.reserve(RCX);
    if (g.rng.bool()) g.setLoHi(RCX, 0, a32 ? g.rng.next() : 0);
    branchForward(g, fill, [0xe3], 1, a32);
  });
  for (const [m, b] of [['loop', 0xe2], ['loope', 0xe1], ['loopne', 0xe0]] as const) {
    add(`${m} rel8 (forward)`, 'branch', (g) => {
      const a32 = g.rng.chance(1, 3);
      g.reserve(RCX);
      g.setLoHi(RCX, g.rng.chance(1, 2) ? g.rng.below(4) : g.rng.next(), a32 ? g.rng.next() : g.rng.chance(1, 2) ? 0 : g.rng.next());
      branchForward(g, fill, [b], 1, a32);
    });
    add(`${m} rel8 (backward loop)`, 'branch', (g) => {
      const a32 = g.rng.chance(1, 3);
      g.reserve(RCX);
      g.setLoHi(RCX, g.rng.range(1, 6), a32 ? g.rng.next() : 0);
      const top = g.len;
      g.beginFill();
      for (let i = g.rng.range(1, 3); i > 0; i--) fillerNoRcx(g);
      g.endFill();
      g.emit({ a32, op: [b], immSize: 1, imm: (top - (g.len + (a32 ? 3 : 2))) & 0xff });
    });
  }
  add('jmp r/m64', 'branch', (g) => indirectBranch(g, fill, 4, false));
  add('call r/m64', 'branch', (g) => indirectBranch(g, fill, 2, true));
  add('call rel32', 'branch', (g) => {
    stackRoom(g, 8, 0);
    branchForward(g, fill, [0xe8], 4);
  });
  for (const [m, imm] of [['ret', false], ['ret imm16', true]] as const) {
    add(m, 'branch', (g) => {
      stackRoom(g, 0, 8);
      const spOff = g.lo(RSP) - DATA_BASE;
      const pfx = g.rng.chance(1, 5) ? [0xf3] : []; // "rep ret"
      g.emit({ pfx, w: g.rng.chance(1, 8), op: [imm ? 0xc2 : 0xc3], immSize: imm ? 2 : undefined, imm: imm ? g.rng.pick([0, 8, 16, 0xfff8, g.rng.below(0x10000)]) : undefined });
      const ends = fillers(g, fill, g.rng.below(3));
      g.memWrite(spOff, 8, CODE_BASE + g.rng.pick(ends), 0);
    });
  }

  // ----- stack
  for (const size of [64, 16] as const) {
    const o16 = size === 16;
    const bytes = size / 8;
    add(`push r${size}`, 'stack', (g) => {
      stackRoom(g, bytes, 0);
      g.emit({ o16, op: [0x50], opReg: g.rng.below(16) });
    });
    add(`pop r${size}`, 'stack', (g) => {
      stackRoom(g, 0, bytes);
      g.emit({ o16, op: [0x58], opReg: g.rng.below(16) });
    });
    add(`push imm8 (o${size})`, 'stack', (g) => {
      stackRoom(g, bytes, 0);
      g.emit({ o16, op: [0x6a], immSize: 1, imm: g.imm8() });
    });
    add(`push imm${o16 ? 16 : 32}`, 'stack', (g) => {
      stackRoom(g, bytes, 0);
      g.emit({ o16, op: [0x68], immSize: o16 ? 2 : 4, imm: g.immOf(o16 ? 2 : 4) });
    });
    add(`push r/m${size}`, 'stack', (g) => {
      stackRoom(g, bytes, 0);
      g.emit({ o16, op: [0xff], reg: digit(g, 6), rm: g.anyRm(bytes) });
    });
    add(`pop r/m${size}`, 'stack', (g) => {
      stackRoom(g, 0, bytes);
      g.emit({ o16, op: [0x8f], reg: digit(g, 0), rm: g.anyRm(bytes) });
    });
    add(`push/pop [rsp+disp8] (o${size})`, 'stack', (g) => {
      g.reserve(RSP);
      g.setQ(RSP, DATA_BASE + g.rng.range(48, 72));
      const disp = g.rng.range(-32, 32);
      const push = g.rng.bool();
      const rm: Rm = { mod: 1, rm: 4, sib: 0x24, disp, dispSize: 1, b: 0, x: 0, addr32: false, ripTarget: -1, off: -1 };
      g.emit({ o16, op: [push ? 0xff : 0x8f], reg: push ? 6 : 0, rm });
    });
    add(`pushf (o${size})`, 'flags', (g) => {
      stackRoom(g, bytes, 0);
      g.emit({ o16, op: [0x9c] });
    });
    add(`popf (o${size})`, 'flags', (g) => {
      stackRoom(g, 0, bytes);
      const sp = g.lo(RSP) - DATA_BASE;
      // Any value, except TF (single-step) and AC (alignment checks).
      g.memWrite(sp, bytes, g.rng.next() & ~0x40100, g.rng.next());
      g.emit({ o16, op: [0x9d] });
    });
    add(`leave (o${size})`, 'stack', (g) => {
      g.reserve(RBP);
      g.setQ(RBP, DATA_BASE + g.rng.range(0, DATA_SIZE - bytes));
      g.emit({ o16, op: [0xc9] });
    });
    for (const deep of [false, true]) {
      add(`enter (o${size}${deep ? ', deep nesting' : ''})`, 'stack', (g) => {
        g.reserve(RSP, RBP);
        const level = deep ? g.rng.range(5, 31) | (g.rng.chance(1, 4) ? 0x20 : 0) : g.rng.range(0, 4);
        const lv = level & 31;
        const pushes = (lv === 0 ? 1 : lv + 1) * bytes;
        const sp = g.rng.range(Math.min(pushes, DATA_SIZE), DATA_SIZE);
        g.setQ(RSP, DATA_BASE + sp);
        g.setQ(RBP, DATA_BASE + g.rng.range(Math.min(Math.max(0, lv - 1) * bytes, DATA_SIZE - bytes), DATA_SIZE - bytes));
        // The frame size stays inside the window: this CPU writes to the final stack top.
        const size = deep ? g.rng.below(0x10000) : g.rng.range(0, Math.max(0, sp - pushes));
        g.emit({ o16, op: [0xc8], immSize: 2, imm: size, imm2Size: 1, imm2: level });
      }, { faults: deep ? 'may' : 'never' });
    }
  }

  // ----- strings
  for (const [m, op, src, dst] of [
    ['movs', 0xa4, true, true],
    ['cmps', 0xa6, true, true],
    ['stos', 0xaa, false, true],
    ['lods', 0xac, true, false],
    ['scas', 0xae, false, true],
  ] as const) {
    for (const size of SIZES) {
      for (const rep of [0, 0xf3, 0xf2]) {
        const pname = rep === 0 ? '' : rep === 0xf3 ? (m === 'cmps' || m === 'scas' ? 'repe ' : 'rep ') : 'repne ';
        add(`${pname}${m}${'bwdq'[SIZES.indexOf(size)]}`, 'string', (g) => genString(g, op, size, rep, src, dst, m === 'cmps' || m === 'scas'));
      }
    }
  }

  // ----- newer general-purpose extensions
  for (const size of WIDE) {
    add(`movbe r${size}, m${size}`, 'ext', (g) => {
      g.emit({ o16: size === 16, w: size === 64, op: [0x0f, 0x38, 0xf0], reg: g.rng.below(16), rm: g.memRm(size / 8) });
    }, { feature: 'movbe' });
    add(`movbe m${size}, r${size}`, 'ext', (g) => {
      g.emit({ o16: size === 16, w: size === 64, op: [0x0f, 0x38, 0xf1], reg: g.rng.below(16), rm: g.memRm(size / 8) });
    }, { feature: 'movbe' });
  }
  for (const [name, w, op, o16, bytes] of [
    ['crc32 r32, r/m8', false, 0xf0, false, 1],
    ['crc32 r64, r/m8', true, 0xf0, false, 1],
    ['crc32 r32, r/m16', false, 0xf1, true, 2],
    ['crc32 r32, r/m32', false, 0xf1, false, 4],
    ['crc32 r64, r/m64', true, 0xf1, false, 8],
  ] as const) {
    add(name, 'ext', (g) => {
      g.emit({ o16, w, rex: bytes === 1 && g.rng.chance(1, 4), pfx: [0xf2], op: [0x0f, 0x38, op], reg: g.rng.below(16), rm: g.anyRm(bytes) });
    }, { ...C, feature: 'sse4_2' });
  }
  for (const size of [32, 64] as const) {
    const w = size === 64;
    for (const [m, p] of [['adcx', 0x66], ['adox', 0xf3]] as const) {
      add(`${m} r${size}, r/m${size}`, 'ext', (g) => {
        g.emit({ w, pfx: [p], op: [0x0f, 0x38, 0xf6], reg: g.rng.below(16), rm: g.anyRm(size / 8) });
      }, { ...C, feature: 'adx' });
    }
    // VEX-encoded BMI1/BMI2: [name, feature, map, pp, opcode, /digit or -1, uses vvvv, imm8]
    for (const [m, feature, map, pp, op, dg, imm] of [
      ['andn', 'bmi1', 2, 0, 0xf2, -1, false],
      ['bextr', 'bmi1', 2, 0, 0xf7, -1, false],
      ['blsr', 'bmi1', 2, 0, 0xf3, 1, false],
      ['blsmsk', 'bmi1', 2, 0, 0xf3, 2, false],
      ['blsi', 'bmi1', 2, 0, 0xf3, 3, false],
      ['bzhi', 'bmi2', 2, 0, 0xf5, -1, false],
      ['pdep', 'bmi2', 2, 3, 0xf5, -1, false],
      ['pext', 'bmi2', 2, 2, 0xf5, -1, false],
      ['mulx', 'bmi2', 2, 3, 0xf6, -1, false],
      ['sarx', 'bmi2', 2, 2, 0xf7, -1, false],
      ['shlx', 'bmi2', 2, 1, 0xf7, -1, false],
      ['shrx', 'bmi2', 2, 3, 0xf7, -1, false],
      ['rorx', 'bmi2', 3, 3, 0xf0, -1, true],
    ] as const) {
      add(`${m} r${size}, ...`, 'ext', (g) => {
        const vvvv = m === 'rorx' ? 0 : g.rng.below(16);
        const reg = dg >= 0 ? dg : g.rng.below(16);
        if (m === 'bextr' || m === 'bzhi') {
          // Control operand (vvvv): interesting start/length bytes often.
          if (g.rng.bool()) g.setLow(vvvv, 0xffff, (shiftCount(g, size) << 8) | shiftCount(g, size));
        }
        g.emitVex({ map, pp, w, vvvv, op, reg, rm: g.anyRm(size / 8), imm: imm ? shiftCount(g, size) : undefined });
      }, { ...C, feature });
    }
  }

  // ----- misc
  add('xlat', 'misc', (g) => {
    g.reserve(RAX, RBX);
    const a32 = g.rng.chance(1, 3);
    const al = g.lo(RAX) & 0xff;
    const target = DATA_BASE + g.rng.below(DATA_SIZE) - al;
    if (a32) g.setLoHi(RBX, target, g.rng.next());
    else g.setQ(RBX, target);
    g.emit({ a32, w: g.rng.chance(1, 4), op: [0xd7] });
  });
  add('nop (90, 66 90, pause)', 'nop', (g) => g.emit({ pfx: g.rng.pick([[], [0x66], [0xf3], [0x66, 0x66]]), op: [0x90] }), C);
  for (const size of WIDE) {
    add(`nop r/m${size} (0f 1f)`, 'nop', (g) => {
      g.emit({ o16: size === 16, w: size === 64, op: [0x0f, 0x1f], reg: g.rng.below(16), rm: g.rng.bool() ? g.addrRm() : g.regRm(g.rng.below(16)) });
    }, C);
  }
  add('hint nop / prefetch (0f 18 /0-3, 0f 0d /0-1, any address)', 'nop', (g) => {
    const op = g.rng.pick([0x18, 0x0d]);
    g.emit({ op: [0x0f, op], reg: g.rng.below(op === 0x18 ? 4 : 2), rm: g.addrRm() });
  });
  add('endbr64', 'nop', (g) => g.raw(0xf3, 0x0f, 0x1e, 0xfa), C);
  add('lfence/mfence/sfence', 'nop', (g) => g.raw(0x0f, 0xae, g.rng.pick([0xe8, 0xf0, 0xf8])), C);
  add('REX before a legacy prefix (REX ignored)', 'decode', (g) => {
    const op = g.rng.below(8) * 8 + 1;
    g.raw(0x40 + g.rng.below(16), g.rng.pick([0x66, 0x3e, 0x2e]), op, 0xc0 | g.rng.below(64));
  }, C);

  // ----- sequences
  for (const k of [2, 3, 4]) {
    add(`sequence of ${k} register instructions`, 'sequence', (g) => {
      fillers(g, fill, k);
    });
  }

  // ----- expected faults
  add('opcodes invalid in 64-bit mode', 'fault', (g) => {
    const op = g.rng.pick([0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x9a, 0xce, 0xd4, 0xd5, 0xd6, 0xea]);
    g.raw(op, g.rng.below(256), g.rng.below(256), g.rng.below(256), g.rng.below(256), g.rng.below(256), g.rng.below(256));
  }, { faults: 'always' });
  add('82 /op ib (invalid in 64-bit mode)', 'fault', (g) => {
    g.emit({ op: [0x82], reg: g.rng.below(8), rm: g.anyRm(1), immSize: 1, imm: g.imm8() });
  }, { faults: 'always' });
  add('ud0/ud1/ud2 and reserved 0f opcodes', 'fault', (g) => {
    const k = g.rng.below(4);
    if (k === 0) g.raw(0x0f, 0x0b);
    else if (k === 1) g.emit({ op: [0x0f, g.rng.pick([0xb9, 0xff])], reg: g.rng.below(16), rm: g.anyRm(4) });
    else g.raw(0x0f, g.rng.pick([0x04, 0x0a, 0x0c, 0x36]));
  }, { faults: 'always' });
  add('lock on a non-lockable instruction or register destination', 'fault', (g) => {
    const k = g.rng.below(5);
    if (k === 0) g.emit({ lock: true, op: [g.rng.below(8) * 8 + 1], reg: g.rng.below(16), rm: g.regRm(g.rng.below(16)) });
    else if (k === 1) g.emit({ lock: true, op: [g.rng.below(8) * 8 + 3], reg: g.rng.below(16), rm: g.anyRm(4) });
    else if (k === 2) g.emit({ lock: true, op: [0x39], reg: g.rng.below(16), rm: g.memRm(4) });
    else if (k === 3) g.emit({ lock: true, op: [0x89], reg: g.rng.below(16), rm: g.memRm(4) });
    else g.emit({ lock: true, op: [0x90] });
  }, { faults: 'always' });
  add('register operand where memory is required (lea, movbe, cmpxchg8b)', 'fault', (g) => {
    const k = g.rng.below(3);
    const rm = g.regRm(g.rng.below(16));
    if (k === 0) g.emit({ op: [0x8d], reg: g.rng.below(16), rm });
    else if (k === 1 && features.has('movbe')) g.emit({ op: [0x0f, 0x38, 0xf0 + g.rng.below(2)], reg: g.rng.below(16), rm });
    else g.emit({ op: [0x0f, 0xc7], reg: 1, rm });
  }, { faults: 'always' });
  add('c6/c7 /1-/7 and mov from sreg 6/7', 'fault', (g) => {
    if (g.rng.bool()) g.emit({ op: [0x8c], reg: g.rng.range(6, 7), rm: g.anyRm(2) });
    else {
      const wbit = g.rng.below(2);
      g.emit({ op: [0xc6 + wbit], reg: g.rng.range(1, 7), rm: g.anyRm(4), immSize: wbit ? 4 : 1, imm: g.rng.next() });
    }
  }, { faults: 'always' });
  if (features.has('bmi1')) {
    add('VEX: L=1, or a legacy/REX prefix before VEX', 'fault', (g) => {
      const k = g.rng.below(3);
      const rm = g.anyRm(4, { addr32: false }); // a 0x67 after the REX would make the REX harmless
      if (k === 0) g.emitVex({ map: 2, pp: 0, w: g.rng.bool(), l: 1, vvvv: g.rng.below(16), op: 0xf2, reg: g.rng.below(16), rm });
      else g.emitVex({ pfx: [k === 1 ? g.rng.pick([0x66, 0xf2, 0xf3, 0xf0]) : 0x40 + g.rng.below(16)], map: 2, pp: 0, w: g.rng.bool(), vvvv: g.rng.below(16), op: 0xf2, reg: g.rng.below(16), rm });
    }, { faults: 'always' });
  }
  add('instruction longer than 15 bytes (and exactly 15)', 'fault', (g) => {
    const total = g.rng.range(15, 17);
    const body = g.rng.bool() ? [0x01, 0xd8] : [0x90];
    for (let i = 0; i < total - body.length; i++) g.raw(g.rng.pick([0x66, 0x2e, 0x3e, 0x26, 0x36]));
    g.raw(...body);
  }, { faults: 'may' });
  add('privileged instruction at CPL 3', 'fault', (g) => {
    const k = g.rng.below(20);
    const seqs: number[][] = [
      [0xf4], [0xfa], [0xfb], [0xe4, g.rng.below(256)], [0xec], [0xe6, g.rng.below(256)], [0xee], [0x6c], [0x6e],
      [0x0f, 0x32], [0x0f, 0x30], [0x0f, 0x08], [0x0f, 0x09], [0x0f, 0x20, 0xc0 | g.rng.below(8)], [0x0f, 0x22, 0xc0 | g.rng.below(8)],
      [0x0f, 0x06], [0x0f, 0x07],
    ];
    if (k < seqs.length) g.raw(...seqs[k]!);
    else if (k < 19) g.emit({ op: [0x0f, 0x01], reg: g.rng.pick([2, 3, 7]), rm: g.memRm(10) }); // lgdt/lidt/invlpg
    else g.raw(0x0f, 0x01, 0xf8); // swapgs
  }, { faults: 'always' });
  add('int n / int3 / int 3 / int 4', 'fault', (g) => {
    const k = g.rng.below(4);
    if (k === 0) g.raw(0xcc);
    else if (k === 1) g.raw(0xcd, g.rng.pick([3, 4]));
    else {
      let n = g.rng.below(256);
      if (n === 0x80 || n === 3 || n === 4) n = 0x81;
      g.raw(0xcd, n);
    }
  }, { faults: 'always' });
  add('cmpxchg16b misaligned', 'fault', (g) => {
    g.reserve(RAX, RCX, RDX, RBX);
    const off = 16 * g.rng.range(0, DATA_SIZE / 16 - 2) + 8;
    g.emit({ w: true, op: [0x0f, 0xc7], reg: 1, rm: g.memAt(off, g.rng.chance(1, 6)) });
  }, { faults: 'always', feature: 'cx16' });

  // ----- vendor-specific: 66h on near branches
  add('o16 jmp/jcc/call/ret (operand-size override on near branches)', 'vendor', (g) => {
    stackRoom(g, 8, 8);
    const k = g.rng.below(4);
    if (k === 0) branchForward(g, fill, [0x66, 0xeb], 1);
    else if (k === 1) branchForward(g, fill, [0x66, 0x70 + g.rng.below(16)], 1);
    else if (k === 2) {
      g.raw(0x66, 0xe8, 0, 0);
      g.patch(g.len - 2, 2, g.rng.below(8));
    } else g.raw(0x66, 0xc3);
  }, { faults: 'may', vendorSpecific: true });

  return forms;
}

/** RSP inside the window with `below` bytes of room under it and `above` bytes over it. */
function stackRoom(g: Gen, below: number, above: number): void {
  g.reserve(RSP);
  let sp = g.rng.range(below, DATA_SIZE - above);
  if (g.rng.chance(7, 8)) sp = Math.max(below, Math.min(DATA_SIZE - above, sp & ~7));
  g.setQ(RSP, DATA_BASE + sp);
}

/** Emits one composable (register-only, non-faulting) instruction. */
type Fill = (g: Gen) => void;

/**
 * Appends up to `max` register-only instructions without passing `limit` (CODE_MAX by
 * default); returns the instruction boundaries, starting with the end before the first one.
 */
function fillers(g: Gen, fill: Fill, max: number, limit = CODE_MAX): number[] {
  const ends = [g.len];
  g.beginFill();
  for (let i = 0; i < max; i++) {
    const before = g.len;
    fill(g);
    if (g.len > limit) {
      g.len = before;
      break;
    }
    ends.push(g.len);
  }
  g.endFill();
  return ends;
}

/** A register-only instruction that never writes RCX (loop bodies). */
function fillerNoRcx(g: Gen): void {
  const rng = g.rng;
  const size = rng.pick(WIDE);
  const notRcx = (): number => {
    const r = rng.below(15);
    return r >= RCX ? r + 1 : r;
  };
  switch (rng.below(5)) {
    case 0: // ALU r/m, r with destination r/m
      g.emit({ o16: size === 16, w: size === 64, op: [rng.below(8) * 8 + 1], reg: rng.below(16), rm: g.regRm(notRcx()) });
      break;
    case 1: // ALU r, r/m with destination reg
      g.emit({ o16: size === 16, w: size === 64, op: [rng.below(8) * 8 + 3], reg: notRcx(), rm: g.regRm(rng.below(16)) });
      break;
    case 2: {
      // INC/DEC (FF /0 /1), NOT/NEG (F7 /2 /3)
      const d = rng.below(4);
      g.emit({ o16: size === 16, w: size === 64, op: [d < 2 ? 0xff : 0xf7], reg: d, rm: g.regRm(notRcx()) });
      break;
    }
    case 3: // shift by imm8
      g.emit({ o16: size === 16, w: size === 64, op: [0xc1], reg: rng.below(8), rm: g.regRm(notRcx()), immSize: 1, imm: rng.below(256) });
      break;
    default:
      g.raw(rng.pick([0xf8, 0xf9, 0xf5]));
  }
}

/**
 * `op rel` + 0-3 register-only fillers; the target is the end or a filler boundary (always
 * forward, so every path ends).
 */
function branchForward(g: Gen, fill: Fill, op: readonly number[], relSize: 1 | 4, a32 = false): void {
  g.emit({ a32, op, immSize: relSize, imm: 0 });
  const relAt = g.len - relSize;
  const from = g.len;
  const ends = fillers(g, fill, g.rng.below(4), relSize === 1 ? Math.min(CODE_MAX, from + 127) : CODE_MAX);
  const target = g.rng.chance(1, 2) ? g.len : g.rng.pick(ends);
  g.patch(relAt, relSize, target - from);
}

/** `L: fillers; dec ecx; jz END; jcc L` — bounded by ECX in 1..6 whatever the condition. */
function jccLoop(g: Gen, cc: number): void {
  g.reserve(RCX);
  g.setLoHi(RCX, g.rng.range(1, 6), g.rng.next());
  const top = g.len;
  g.beginFill();
  for (let i = g.rng.range(0, 2); i > 0; i--) fillerNoRcx(g);
  g.endFill();
  g.raw(0xff, 0xc9); // dec ecx
  const near = g.rng.chance(1, 3);
  const jccLen = near ? 6 : 2;
  g.raw(0x74, jccLen); // jz END
  const back = top - (g.len + jccLen);
  if (near) {
    g.raw(0x0f, 0x80 + cc, 0, 0, 0, 0);
    g.patch(g.len - 4, 4, back);
  } else g.raw(0x70 + cc, back & 0xff);
}

/** `jmp/call r/m64` whose target (register or memory) is the end of the snippet or a filler boundary. */
function indirectBranch(g: Gen, fill: Fill, d: number, call: boolean): void {
  if (call) stackRoom(g, 8, 0);
  const useMem = g.rng.bool();
  let r = -1;
  let rm: Rm;
  if (useMem) rm = g.memRm(8);
  else {
    r = g.freeReg(1 << RSP);
    g.reserve(r);
    rm = g.regRm(r);
  }
  g.emit({ o16: false, op: [0xff], reg: digit(g, d), rm });
  const ends = fillers(g, fill, g.rng.below(3));
  const target = CODE_BASE + g.rng.pick(ends);
  if (useMem) g.memWrite(rm.off, 8, target, 0);
  else g.setLoHi(r, target, 0);
}

function genDiv(g: Gen, size: Size, d: number, signed: boolean): void {
  const rng = g.rng;
  g.reserve(RAX, RDX);
  const rex = rex8(g, size);
  let rm: Rm;
  if (rng.bool()) {
    // Divisor register: never the dividend (AL/AH, or RAX/RDX for wider sizes).
    let r: number;
    for (;;) {
      r = rng.below(16);
      if (size === 8) {
        const phys = !rex && r >= 4 && r < 8 ? r - 4 : r;
        if (phys !== RAX) break;
      } else if (r !== RAX && r !== RDX) break;
    }
    rm = g.regRm(r);
  } else rm = g.memRm(size / 8);
  const s: Insn = { o16: size === 16, w: size === 64, rex, op: [size === 8 ? 0xf6 : 0xf7], reg: digit(g, d), rm };
  const n = BigInt(size);
  const mask = (1n << n) - 1n;
  const half = 1n << (n - 1n);
  const rand = (bits: bigint): bigint => {
    let v = 0n;
    for (let i = 0n; i < bits; i += 32n) v = (v << 32n) | BigInt(rng.next());
    return v & ((1n << bits) - 1n);
  };
  const edgeN = (): bigint => {
    const e = rng.below(EDGE_COUNT) * 2;
    return ((BigInt(EDGE[e + 1]!) << 32n) | BigInt(EDGE[e]!)) & mask;
  };
  const sx = (v: bigint): bigint => (v & half ? v - (1n << n) : v);
  // Divisor (as n-bit pattern).
  const k = rng.below(10);
  let dv = k === 0 ? 0n : k < 4 ? edgeN() : k < 6 ? BigInt(rng.range(1, 20)) : rand(n);
  if (k >= 4 && rng.chance(1, 3)) dv = (-dv) & mask;
  const dvs = signed ? sx(dv) : dv;
  // Dividend (2n-bit pattern).
  let dividend: bigint;
  const mode = rng.below(10);
  const wide = (1n << (2n * n)) - 1n;
  if (mode < 6 && dvs !== 0n) {
    if (!signed) {
      const q = rng.bool() ? edgeN() : rand(n);
      const rem = rand(n) % dv;
      dividend = q * dv + rem;
    } else {
      const q = sx(rng.bool() ? edgeN() : rand(n));
      const ad = dvs < 0n ? -dvs : dvs;
      let rem = rand(n) % ad;
      const prod = q * dvs;
      if (prod < 0n || (prod === 0n && rng.bool())) rem = -rem;
      dividend = (prod + rem) & wide;
    }
  } else if (mode < 8) {
    dividend = rand(2n * n);
  } else {
    const e = rng.below(5);
    dividend = e === 0 ? 1n << (2n * n - 1n) : e === 1 ? wide : e === 2 ? 0n : e === 3 ? ((dvs < 0n ? -dvs : dvs) << n) & wide : (((dvs < 0n ? -dvs : dvs) << n) - 1n) & wide;
  }
  const lo32 = (v: bigint): number => Number(v & 0xffffffffn);
  const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffffffffn);
  if (size === 8) g.setOperand(RAX, 16, true, lo32(dividend), 0);
  else {
    const low = dividend & mask;
    const high = dividend >> n;
    g.setOperand(RAX, size, true, lo32(low), hi32(low));
    g.setOperand(RDX, size, true, lo32(high), hi32(high));
  }
  if (rm.mod === 3) g.setOperand(rm.rm | (rm.b << 3), size, g.rexPresent(s), lo32(dv), hi32(dv));
  else g.memWrite(rm.off, size / 8, lo32(dv), hi32(dv));
  g.emit(s);
}

function genString(g: Gen, op: number, size: Size, rep: number, src: boolean, dst: boolean, compares: boolean): void {
  const rng = g.rng;
  g.reserve(RCX, RSI, RDI);
  const a32 = rng.chance(1, 4);
  const down = rng.bool();
  g.setFlag(DF, down);
  const e = size / 8;
  const count = rep !== 0 ? rng.range(0, 8) : 1;
  const span = Math.max(count, 1) * e;
  const place = (): number => {
    const lowest = rng.range(0, DATA_SIZE - span);
    return down ? lowest + span - e : lowest; // first element's offset
  };
  const setPtr = (r: number, off: number): void => {
    if (a32) g.setLoHi(r, DATA_BASE + off, rng.next());
    else g.setQ(r, DATA_BASE + off);
  };
  const sOff = place();
  const dOff = place();
  if (src) setPtr(RSI, sOff);
  if (dst) setPtr(RDI, dOff);
  if (rep !== 0) g.setLoHi(RCX, count, a32 ? rng.next() : 0);
  const step = down ? -e : e;
  if (compares && count > 0) {
    // Equal runs so REPE/REPNE stop at a chosen element: REPE runs while equal, REPNE until equal.
    const stopAt = rng.below(count + 1);
    for (let i = 0; i < count; i++) {
      const equal = rep === 0xf2 ? i === stopAt : i < stopAt;
      if (!equal) continue;
      const dAt = dOff + i * step;
      if (src) g.mem.copyWithin(dAt, sOff + i * step, sOff + i * step + e);
      else g.memWrite(dAt, e, g.lo(RAX), g.hi(RAX));
    }
  }
  const pfx = rep !== 0 ? [rep] : [];
  const seg = src && rng.chance(1, 6) ? rng.pick([0x2e, 0x3e, 0x26, 0x36]) : 0;
  g.emit({ seg, o16: size === 16, w: size === 64, pfx, a32, op: [op + (size === 8 ? 0 : 1)] });
}

// ---------------------------------------------------------------------------------------------
// Host features and the case generator.

let hostFeatureCache: Set<string> | undefined;

/** CPU feature flags of this host (/proc/cpuinfo), or an empty set elsewhere. */
export function hostFeatures(): Set<string> {
  if (hostFeatureCache === undefined) {
    let flags: string[];
    try {
      const line = readFileSync('/proc/cpuinfo', 'utf8')
        .split('\n')
        .find((l) => l.startsWith('flags'));
      flags = line?.split(':')[1]?.trim().split(/\s+/) ?? [];
    } catch {
      flags = [];
    }
    hostFeatureCache = new Set(flags);
  }
  return hostFeatureCache;
}

/** Generates reproducible cases: case `index` of campaign `seed` is always the same. */
export class CaseGenerator {
  readonly forms: readonly Form[];
  private readonly rng = new Rng();
  /** The case generated last. */
  readonly gen = new Gen();
  /** Form index of the case generated last. */
  form = 0;

  constructor(forms: readonly Form[] = buildForms()) {
    this.forms = forms;
  }

  /** Generates case `index` of campaign `seed` into `this.gen` and returns its form index. */
  generate(seed: number, index: number): number {
    const rng = this.rng;
    rng.reseed(seed, index);
    const f = rng.below(this.forms.length);
    const g = this.gen;
    g.reset(rng);
    this.forms[f]!.gen(g);
    if (g.len > CODE_MAX) throw new Error(`generator bug: form '${this.forms[f]!.name}' made ${g.len} bytes`);
    this.form = f;
    return f;
  }

  /** Generates case `index` of `seed` using form `f` (for per-form tests). */
  generateForm(seed: number, index: number, f: number): void {
    const rng = this.rng;
    rng.reseed(seed, index);
    rng.next();
    const g = this.gen;
    g.reset(rng);
    this.forms[f]!.gen(g);
    if (g.len > CODE_MAX) throw new Error(`generator bug: form '${this.forms[f]!.name}' made ${g.len} bytes`);
    this.form = f;
  }
}
