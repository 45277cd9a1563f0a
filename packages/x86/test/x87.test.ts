/**
 * x87 behaviour the native comparison (x87-native.test.ts, 64-bit user mode) cannot reach:
 * #NM and WAIT (CR0.EM/MP/TS), #MF at the next waiting instruction and the FERR# output with
 * CR0.NE = 0, the real-mode and virtual-8086 environment layouts (SDM Vol. 1 Figures 8-9..8-12),
 * FISTTP's CPUID gating; plus architectural values (constants under every rounding mode, square
 * root, integer and BCD conversion).
 */
import type { Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { AMD_ZEN, Cr0 } from '../src/index.js';
import { Legacy } from './user-harness.js';

const NM = 7;
const MF = 16;
const UD = 6;

const FNINIT = [0xdb, 0xe3];
const FLD1 = [0xd9, 0xe8];
const FLDZ = [0xd9, 0xee];
const FWAIT = [0x9b];

/** ModRM + disp32 for [disp] in 32-bit code with ModRM.reg = r. */
const m32 = (r: number, disp: number): number[] => [0x05 | (r << 3), disp & 0xff, (disp >>> 8) & 0xff, (disp >>> 16) & 0xff, disp >>> 24];
/** ModRM + disp16 for [disp] in 16-bit code. */
const m16 = (r: number, disp: number): number[] => [0x06 | (r << 3), disp & 0xff, disp >>> 8];

function st0(l: Legacy): [number, number, number] {
  const c = l.cpu;
  const p = c.fpTop & 7;
  return [c.fpSe[p]!, c.fpHi[p]! >>> 0, c.fpLo[p]! >>> 0];
}

describe('x87 availability and pending exceptions', () => {
  it('CR0.TS or CR0.EM: #NM for x87 instructions; WAIT only with MP and TS', () => {
    const l = new Legacy('pm32');
    l.cpu.cr0 |= Cr0.TS;
    expect(l.run(FLD1).vector).toBe(NM);
    expect(l.run(FWAIT).vector).toBe(-1); // MP = 0: WAIT ignores TS
    l.cpu.cr0 |= Cr0.MP;
    expect(l.run(FWAIT).vector).toBe(NM);
    l.cpu.cr0 &= ~(Cr0.TS | Cr0.MP);
    l.cpu.cr0 |= Cr0.EM;
    expect(l.run(FLD1).vector).toBe(NM);
    expect(l.run(FWAIT).vector).toBe(-1); // WAIT does not check EM (SDM Vol. 3 Table 2-2)
  });

  it('an unmasked exception sets ES and B and raises #MF at the next waiting instruction', () => {
    const l = new Legacy('pm32');
    l.cpu.cr0 |= Cr0.NE;
    l.memory.write16(0x1000 as Hpa, 0x037b); // ZE unmasked
    // FNINIT; FLDCW [1000]; FLD1; FLDZ; FDIVP ST(1), ST(0) (1 / 0); FNSTSW AX; FWAIT
    const code = [...FNINIT, 0xd9, ...m32(5, 0x1000), ...FLD1, ...FLDZ, 0xde, 0xf9, 0xdf, 0xe0, ...FWAIT];
    l.run(code);
    expect(l.vector).toBe(MF);
    expect(l.cpu.ripLo).toBe(Legacy.CODE + code.length - 1); // at the FWAIT
    const ax = l.cpu.gpr[0]! & 0xffff;
    expect(ax & 0x80ff).toBe(0x8084); // B, ES, ZE; the divide did not happen, nothing popped
    expect((ax >>> 11) & 7).toBe(6);
    expect(st0(l)).toEqual([0, 0, 0]); // ST(0) still +0
  });

  it('with CR0.NE = 0 a pending exception drives FERR# instead, and FNCLEX releases it', () => {
    const l = new Legacy('pm32');
    const levels: boolean[] = [];
    l.cpu.onFerr = (a) => levels.push(a);
    l.memory.write16(0x1000 as Hpa, 0x037e); // IE unmasked
    // FNINIT; FLDCW [1000]; FADD ST(0), ST(0) on an empty stack (underflow); FWAIT; FNCLEX
    l.run([...FNINIT, 0xd9, ...m32(5, 0x1000), 0xd8, 0xc0, ...FWAIT, 0xdb, 0xe2]);
    expect(l.vector).toBe(-1);
    expect(levels).toEqual([true, false]);
    expect(l.cpu.fsw & 0xffff).toBe(0);
  });

  it('FISTTP is #UD on a model without SSE3', () => {
    const l = new Legacy('pm32', { model: { ...AMD_ZEN, leaf1Ecx: AMD_ZEN.leaf1Ecx & ~1 } });
    expect(l.run([...FNINIT, ...FLD1, 0xdf, ...m32(1, 0x1000)]).vector).toBe(UD);
    const k = new Legacy('pm32');
    expect(k.run([...FNINIT, ...FLD1, 0xdf, ...m32(1, 0x1000)]).vector).toBe(-1);
    expect(k.memory.read16(0x1000 as Hpa)).toBe(1);
  });
});

describe('environment images (SDM Vol. 1 Figures 8-9..8-12)', () => {
  it('real mode, 16-bit: linear FIP/FDP split into 16 + 4 bits, FOP', () => {
    const l = new Legacy('real');
    l.memory.write32(0x1010 as Hpa, 0x3f800000);
    // FNINIT; FLD dword [1010] (at CODE + 2); FNSTENV [1000]
    l.run([...FNINIT, 0xd9, ...m16(0, 0x1010), 0xd9, ...m16(6, 0x1000)]);
    expect(l.vector).toBe(-1);
    const w = (o: number): number => l.memory.read16((0x1000 + o) as Hpa);
    expect([w(0), w(2), w(4)]).toEqual([0x037f, 0x3800, 0x3fff]);
    expect(w(6)).toBe((Legacy.CODE + 2) & 0xffff);
    expect(w(8)).toBe((((Legacy.CODE + 2) >>> 16) << 12) | 0x106); // FIP 19:16, FOP = D9 06 -> 1 06
    expect([w(10), w(12)]).toEqual([0x1010, 0]);
  });

  it('protected mode, 32-bit: offsets and selectors, FOP above FCS; FSTENV masks all exceptions', () => {
    const l = new Legacy('pm32');
    l.memory.write16(0x1010 as Hpa, 0x0360); // all unmasked
    l.run([...FNINIT, 0xd9, ...m32(5, 0x1010), 0xdd, ...m32(0, 0x1020), 0xd9, ...m32(6, 0x1000)]);
    expect(l.vector).toBe(-1);
    const d = (o: number): number => l.memory.read32((0x1000 + o) as Hpa) >>> 0;
    expect(d(0) & 0xffff).toBe(0x0360);
    expect(d(12)).toBe(Legacy.CODE + 2 + 6); // FLD qword [1020]
    expect(d(16)).toBe((0x08 | ((0x500 | 0x05) << 16)) >>> 0); // FCS = 08, FOP = DD 05 -> 5 05
    expect(d(20)).toBe(0x1020);
    expect(d(24) & 0xffff).toBe(0x10);
    expect(l.cpu.fcw).toBe(0x037f);
  });

  it('virtual-8086 mode FNSAVE (16-bit real format, 94 bytes) reinitializes; FRSTOR restores', () => {
    const l = new Legacy('v86');
    l.run([...FNINIT, ...FLD1, ...FLDZ, 0xdd, ...m16(6, 0x1000)]);
    expect(l.vector).toBe(-1);
    expect(l.cpu.fcw).toBe(0x037f);
    expect(l.cpu.fpEmpty).toBe(0xff);
    const w = (o: number): number => l.memory.read16((0x1000 + o) as Hpa);
    expect(w(2)).toBe(0x3000); // TOP = 6
    expect(w(4)).toBe(0x1fff); // R7 valid (00), R6 zero (01), the rest empty (11)
    expect([w(14 + 8), w(14 + 6)]).toEqual([0, 0]); // ST(0) = +0
    expect([w(24 + 8), w(24 + 6)]).toEqual([0x3fff, 0x8000]); // ST(1) = 1.0
    l.run([0xdd, ...m16(4, 0x1000)]);
    expect(l.cpu.fpTop).toBe(6);
    expect(st0(l)).toEqual([0, 0, 0]);
  });
});

describe('architectural values', () => {
  const run = (code: number[], fcw = 0x037f): Legacy => {
    const l = new Legacy('pm32');
    l.memory.write16(0x1000 as Hpa, fcw);
    l.run([...FNINIT, 0xd9, ...m32(5, 0x1000), ...code]);
    expect(l.vector).toBe(-1);
    return l;
  };

  it('FLDPI follows the rounding control in its last bit (SDM Vol. 1 §8.3.8)', () => {
    // pi = C90FDAA2 2168C234 C4C6...: nearest and up round up, down and zero truncate.
    const want = [0x2168c235, 0x2168c234, 0x2168c235, 0x2168c234];
    for (let rc = 0; rc < 4; rc++) expect(st0(run([0xd9, 0xeb], 0x037f | (rc << 10)))).toEqual([0x4000, 0xc90fdaa2, want[rc]]);
  });

  it('FSQRT(2) = B504F333 F9DE6484 (exact 0.5979... below the last bit): +1 when rounding up; C1 = round up', () => {
    const two = [...FLD1, 0xd8, 0xc0]; // 1 + 1
    const l = run([...two, 0xd9, 0xfa]);
    expect(st0(l)).toEqual([0x3fff, 0xb504f333, 0xf9de6484]);
    expect(l.cpu.fsw & 0x220).toBe(0x20); // PE, C1 = 0
    const u = run([...two, 0xd9, 0xfa], 0x0b7f);
    expect(st0(u)).toEqual([0x3fff, 0xb504f333, 0xf9de6485]);
    expect(u.cpu.fsw & 0x220).toBe(0x220); // PE, C1 = 1
  });

  it('FISTP rounds to nearest even; FBSTP/FBLD convert packed BCD', () => {
    const l = new Legacy('pm32');
    l.memory.write32(0x1000 as Hpa, 0x40200000); // 2.5f
    l.memory.write32(0x1004 as Hpa, 0xc0600000); // -3.5f
    l.run([...FNINIT, 0xd9, ...m32(0, 0x1000), 0xdf, ...m32(3, 0x1010), 0xd9, ...m32(0, 0x1004), 0xdf, ...m32(3, 0x1012)]);
    expect(l.memory.read16(0x1010 as Hpa)).toBe(2);
    expect(l.memory.read16(0x1012 as Hpa)).toBe(0xfffc);
    // 1234 as an integer -> FBSTP -> 34 12 00 .. 00; FBLD of -987654321 -> FISTP m32.
    l.memory.write16(0x1020 as Hpa, 1234);
    const bcd = [0x21, 0x43, 0x65, 0x87, 0x09, 0, 0, 0, 0, 0x80];
    for (let i = 0; i < 10; i++) l.memory.write8((0x1040 + i) as Hpa, bcd[i]!);
    l.run([0xdf, ...m32(0, 0x1020), 0xdf, ...m32(6, 0x1030), 0xdf, ...m32(4, 0x1040), 0xdb, ...m32(3, 0x1050)]);
    expect(l.vector).toBe(-1);
    expect([0, 1, 2, 9].map((i) => l.memory.read8((0x1030 + i) as Hpa))).toEqual([0x34, 0x12, 0, 0]);
    expect(l.memory.read32(0x1050 as Hpa) | 0).toBe(-987654321);
  });

  it('FXAM classes: empty, zero, +inf (constant), denormal', () => {
    const l = new Legacy('pm32');
    const cc = (): number => l.cpu.fsw & 0x4700;
    l.run([...FNINIT, 0xd9, 0xe5]);
    expect(cc()).toBe(0x4100); // empty: C3 C0
    l.run([...FLDZ, 0xd9, 0xe0, 0xd9, 0xe5]);
    expect(cc()).toBe(0x4200); // -0: C3, C1 = sign
    l.memory.write32(0x1000 as Hpa, 0x7f800000);
    l.memory.write32(0x1004 as Hpa, 1);
    l.run([0xd9, ...m32(0, 0x1000), 0xd9, 0xe5]);
    expect(cc()).toBe(0x0500); // infinity: C2 C0
    l.memory.write16(0x1010 as Hpa, 0);
    l.memory.write32(0x1008 as Hpa, 1);
    l.memory.write32(0x100c as Hpa, 0);
    l.run([0xdb, ...m32(5, 0x1008), 0xd9, 0xe5]);
    expect(cc()).toBe(0x4400); // denormal: C3 C2
  });
});
