/**
 * Shifts and rotates (group 2, SHLD/SHRD). Expected flag values for the undefined cases are
 * the ones this project's AMD host produces (recorded with the native oracle).
 */
import { describe, expect, it } from 'vitest';
import { AF, ARITH, CF, INTEL_CORE, memOperand, OF, PF, SF, user64, ZF } from './user-harness.js';

/** Group 2 with CL count on a register: op = ModRM.reg, rm = register number (0-7). */
const grp2cl = (prefix: number[], op: number, rm = 0, byte = false): number[] => [...prefix, byte ? 0xd2 : 0xd3, 0xc0 | (op << 3) | rm];
const ROL = 0;
const ROR = 1;
const RCL = 2;
const RCR = 3;
const SHL = 4;
const SHR = 5;
const SAL6 = 6;
const SAR = 7;

function run8(op: number, al: number, count: number, flags = 0) {
  const r = user64(grp2cl([], op, 0, true), { regs: { rax: al, rcx: count }, flags });
  return { al: Number(r.reg('rax') & 0xffn), f: r.rflags & ARITH, r };
}

describe('group 2, 8-bit', () => {
  it('SHL: CF is the last bit out, OF = MSB(result) ^ CF for every count, AF = 1 (AMD)', () => {
    expect(run8(SHL, 0x5a, 3)).toMatchObject({ al: 0xd0, f: SF | AF | OF });
    expect(run8(SHL, 0x5a, 4)).toMatchObject({ al: 0xa0, f: CF | SF | AF | PF });
    expect(run8(SHL, 0xc3, 7)).toMatchObject({ al: 0x80, f: CF | SF | AF });
    expect(run8(SHL, 0x81, 8)).toMatchObject({ al: 0x00, f: CF | ZF | PF | AF | OF });
    // Counts above the width: the result and CF are 0.
    expect(run8(SHL, 0xff, 9)).toMatchObject({ al: 0x00, f: ZF | PF | AF });
  });

  it('/6 is an alias of SHL', () => {
    const a = run8(SAL6, 0x5a, 3);
    expect({ al: a.al, f: a.f }).toEqual({ al: 0xd0, f: SF | AF | OF });
  });

  it('SHR: OF = the top two result bits XORed (the original MSB for count 1, else 0)', () => {
    expect(run8(SHR, 0x81, 1)).toMatchObject({ al: 0x40, f: CF | AF | OF });
    expect(run8(SHR, 0xc3, 2)).toMatchObject({ al: 0x30, f: CF | PF | AF });
    expect(run8(SHR, 0x81, 8)).toMatchObject({ al: 0x00, f: CF | ZF | PF | AF });
    expect(run8(SHR, 0x81, 9)).toMatchObject({ al: 0x00, f: ZF | PF | AF });
  });

  it('SAR: OF = 0, counts past the width fill with the sign', () => {
    expect(run8(SAR, 0xc3, 2)).toMatchObject({ al: 0xf0, f: CF | PF | SF | AF });
    expect(run8(SAR, 0x81, 11)).toMatchObject({ al: 0xff, f: CF | PF | SF | AF });
    expect(run8(SAR, 0x5a, 7, OF)).toMatchObject({ al: 0x00, f: CF | ZF | PF | AF });
  });

  it('a masked count of 0 changes no flag', () => {
    expect(run8(SHL, 0x5a, 32, ARITH)).toMatchObject({ al: 0x5a, f: ARITH });
    expect(run8(RCL, 0x81, 0x40, OF)).toMatchObject({ al: 0x81, f: OF });
  });

  it('rotates change only CF and OF', () => {
    expect(run8(ROL, 0x81, 1, ZF | SF | PF | AF)).toMatchObject({ al: 0x03, f: ZF | SF | PF | AF | CF | OF });
    expect(run8(ROR, 0x81, 1, 0)).toMatchObject({ al: 0xc0, f: CF });
    // ROL by 8: the value is unchanged but CF = bit 0 and OF = MSB ^ CF are recomputed.
    expect(run8(ROL, 0x80, 8, CF)).toMatchObject({ al: 0x80, f: OF });
  });

  it('RCL/RCR rotate through CF modulo 9; a count of 9 recomputes OF only', () => {
    expect(run8(RCL, 0x81, 2, CF)).toMatchObject({ al: 0x07, f: 0 });
    expect(run8(RCL, 0x81, 8, CF)).toMatchObject({ al: 0xc0, f: CF });
    expect(run8(RCL, 0x81, 9, 0)).toMatchObject({ al: 0x81, f: OF });
    expect(run8(RCL, 0x81, 9, CF)).toMatchObject({ al: 0x81, f: CF });
    expect(run8(RCR, 0x01, 1, CF)).toMatchObject({ al: 0x80, f: CF | OF });
    expect(run8(RCR, 0x5a, 3, 0)).toMatchObject({ al: 0x8b, f: OF });
  });

  it('Intel model: shifts clear AF', () => {
    const r = user64(grp2cl([], SHL, 0, true), { regs: { rax: 0x5a, rcx: 3 } }, INTEL_CORE);
    expect(r.rflags & ARITH).toBe(SF | OF);
  });
});

describe('group 2, 16/32/64-bit', () => {
  it('RCL r16 counts modulo 17', () => {
    const r = user64(grp2cl([0x66], RCL), { regs: { rax: 0x8001, rcx: 17 } });
    expect(r.reg('rax') & 0xffffn).toBe(0x8001n);
    expect(r.rflags & (CF | OF)).toBe(OF);
    const r2 = user64(grp2cl([0x66], RCL), { regs: { rax: 0x8001, rcx: 18 } });
    expect(r2.reg('rax') & 0xffffn).toBe(0x0002n);
    expect(r2.rflags & (CF | OF)).toBe(CF | OF);
  });

  it('a 32-bit register destination is zero-extended even when the count is 0; a 16-bit one is not', () => {
    const r = user64(grp2cl([], SHL), { regs: { rax: 0xdead_beef_1234_5678n, rcx: 0 }, flags: CF | ZF });
    expect(r.reg('rax')).toBe(0x1234_5678n);
    expect(r.rflags & ARITH).toBe(CF | ZF);
    const r16 = user64(grp2cl([0x66], SHL), { regs: { rax: 0xdead_beef_1234_5678n, rcx: 0 } });
    expect(r16.reg('rax')).toBe(0xdead_beef_1234_5678n);
  });

  it('a memory operand is accessed for writing even with count 0 (#PF error code W = 1)', () => {
    const r = user64([0xc1, ...memOperand(SHL, 0x1000), 0]);
    expect(r.vector).toBe(14);
    expect(r.errorCode).toBe(6);
  });

  it('64-bit shifts and rotates match a BigInt reference, counts masked to 6 bits', () => {
    let seed = 12345;
    const rnd = (): bigint => {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      const a = BigInt(seed >>> 0);
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      return (a << 32n) | BigInt(seed >>> 0);
    };
    const M = (1n << 64n) - 1n;
    for (let i = 0; i < 200; i++) {
      const v = rnd();
      const count = Number(rnd() & 0xffn);
      const c = BigInt(count & 63);
      for (const op of [ROL, ROR, SHL, SHR, SAR]) {
        const r = user64(grp2cl([0x48], op), { regs: { rax: v, rcx: count } });
        let want: bigint;
        let cf: bigint;
        if (c === 0n) {
          expect(r.reg('rax')).toBe(v);
          continue;
        }
        switch (op) {
          case ROL:
            want = ((v << c) | (v >> (64n - c))) & M;
            cf = want & 1n;
            break;
          case ROR:
            want = ((v >> c) | (v << (64n - c))) & M;
            cf = want >> 63n;
            break;
          case SHL:
            want = (v << c) & M;
            cf = (v >> (64n - c)) & 1n;
            break;
          case SHR:
            want = v >> c;
            cf = (v >> (c - 1n)) & 1n;
            break;
          default:
            want = BigInt.asUintN(64, BigInt.asIntN(64, v) >> c);
            cf = (BigInt.asUintN(64, BigInt.asIntN(64, v) >> (c - 1n))) & 1n;
        }
        expect(r.reg('rax')).toBe(want);
        expect(BigInt(r.rflags & CF)).toBe(cf);
      }
    }
  });

  it('RCL/RCR r64 rotate 65 bits through CF', () => {
    const r = user64(grp2cl([0x48], RCL), { regs: { rax: 0x8000_0000_0000_0001n, rcx: 1 }, flags: CF });
    expect(r.reg('rax')).toBe(0x3n);
    expect(r.rflags & (CF | OF)).toBe(CF | OF);
    const r2 = user64(grp2cl([0x48], RCR), { regs: { rax: 0x1n, rcx: 63 }, flags: CF });
    // 65-bit rotate right by 63 = left by 2: CF:value = 1:...01 -> value 0b110, CF = 0.
    expect(r2.reg('rax')).toBe(0x6n);
    expect(r2.rflags & CF).toBe(0);
  });
});

describe('SHLD/SHRD', () => {
  const shldCl = (p: number[]): number[] => [...p, 0x0f, 0xa5, 0xd8]; // shld eax/ax, ebx/bx, cl
  const shrdCl = (p: number[]): number[] => [...p, 0x0f, 0xad, 0xd8];

  it('32-bit: bits come in from the source; CF, OF = MSB ^ CF (SHLD), top bits XORed (SHRD)', () => {
    const r = user64(shldCl([]), { regs: { rax: 0x1234_5678, rbx: 0x9abc_def0, rcx: 4 } });
    expect(r.reg('rax')).toBe(0x2345_6789n);
    // CF = bit 28 of the destination = 1; OF = MSB(result) 0 ^ CF 1.
    expect(r.rflags & (CF | OF | AF)).toBe(CF | OF | AF);
    const s = user64(shrdCl([]), { regs: { rax: 0x1234_5678, rbx: 0x9abc_de80, rcx: 8 } });
    expect(s.reg('rax')).toBe(0x8012_3456n);
    expect(s.rflags & (CF | OF)).toBe(OF);
    const t = user64(shrdCl([]), { regs: { rax: 0x1234_5678, rbx: 0x9abc_def0, rcx: 8 } });
    expect(t.reg('rax')).toBe(0xf012_3456n);
    expect(t.rflags & (CF | OF)).toBe(0);
  });

  it('16-bit with count 16: the result is the source, OF = CF (AMD)', () => {
    const r = user64(shldCl([0x66]), { regs: { rax: 0xffff, rbx: 0xffff, rcx: 16 } });
    expect(r.reg('rax') & 0xffffn).toBe(0xffffn);
    expect(r.rflags & (CF | OF)).toBe(CF | OF);
  });

  it('16-bit counts 17-31 rotate the source through itself with CF = 0 (AMD)', () => {
    const r = user64(shldCl([0x66]), { regs: { rax: 0x8001, rbx: 0x1234, rcx: 20 } });
    expect(r.reg('rax') & 0xffffn).toBe(0x2341n);
    expect(r.rflags & (CF | OF)).toBe(0);
    const s = user64(shrdCl([0x66]), { regs: { rax: 0x8001, rbx: 0x1234, rcx: 19 } });
    expect(s.reg('rax') & 0xffffn).toBe(0x8246n);
    expect(s.rflags & (CF | OF | SF)).toBe(OF | SF);
  });

  it('64-bit SHLD with an immediate count', () => {
    const r = user64([0x48, 0x0f, 0xa4, 0xd8, 36], { regs: { rax: 0x0123_4567_89ab_cdefn, rbx: 0xfedc_ba98_7654_3210n } });
    expect(r.reg('rax')).toBe(0x9abc_deff_edcb_a987n);
    // CF = bit 64 - 36 = 28 of the destination (0x...89ab_cdef: bit 28 = 0).
    expect(r.rflags & CF).toBe(0);
  });

  it('count 0 leaves the flags alone but zero-extends a 32-bit register', () => {
    const r = user64(shldCl([]), { regs: { rax: 0xffff_0000_1111_2222n, rbx: 1, rcx: 32 }, flags: ZF | OF });
    expect(r.reg('rax')).toBe(0x1111_2222n);
    expect(r.rflags & ARITH).toBe(ZF | OF);
  });
});
