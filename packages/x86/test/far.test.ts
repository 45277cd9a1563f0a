import { describe, expect, it } from 'vitest';
import { CodeMode, Seg, StopReason, Vector } from '../src/index.js';
import {
  A,
  CONF,
  dpl,
  gate,
  K_CODE,
  K_DATA,
  K1_CODE,
  KC,
  KSTACK,
  L_CODE,
  L_UCODE,
  le16,
  le32,
  Machine,
  kernel32,
  notPresent,
  seg,
  standard,
  U_CODE,
  U_DATA,
  UC,
  USTACK,
  user32,
  TSS_BASE,
} from './pm-harness.js';

const HLT = 0xf4;
const jmpFar = (off: number, sel: number): number[] => [0xea, ...le32(off), ...le16(sel)];
const callFar = (off: number, sel: number): number[] => [0x9a, ...le32(off), ...le16(sel)];

/** Runs and expects one swallowed exception: returns [vector, error code]. */
function fault(m: Machine, budget = 20): [number, number] {
  m.catchEvents();
  m.cpu.run(budget);
  expect(m.events.length).toBe(1);
  const e = m.events[0]!;
  return [e[1], e[2]];
}

describe('far JMP in protected mode', () => {
  it('jumps to a non-conforming code segment at the same CPL', () => {
    const m = kernel32();
    m.bytes(KC, jmpFar(0x12345, K_CODE));
    m.w8(0x12345, HLT);
    expect(m.cpu.run(10)).toBe(StopReason.Halt);
    expect(m.cpu.ripLo).toBe(0x12346);
    expect(m.sel(Seg.CS)).toBe(K_CODE);
  });

  it('sets the accessed bit of the target descriptor', () => {
    const m = kernel32();
    m.gdt(13, seg(0, 0xfffff, A.code & ~1));
    expect(m.r32(0x1000 + 13 * 8 + 4) & 0x100).toBe(0);
    m.bytes(KC, jmpFar(0x12345, 13 * 8));
    m.w8(0x12345, HLT);
    m.cpu.run(10);
    expect(m.r32(0x1000 + 13 * 8 + 4) & 0x100).toBe(0x100);
  });

  it('null selector: #GP(0)', () => {
    const m = kernel32();
    m.bytes(KC, jmpFar(0x1000, 0));
    expect(fault(m)).toEqual([Vector.GP, 0]);
    expect(m.cpu.ripLo).toBe(KC);
  });

  it('selector beyond the GDT limit: #GP(selector)', () => {
    const m = kernel32();
    m.bytes(KC, jmpFar(0x1000, 0x408));
    expect(fault(m)).toEqual([Vector.GP, 0x408]);
  });

  it('data segment: #GP(selector)', () => {
    const m = kernel32();
    m.bytes(KC, jmpFar(0x1000, K_DATA));
    expect(fault(m)).toEqual([Vector.GP, K_DATA]);
  });

  it('not-present code segment: #NP(selector)', () => {
    const m = kernel32();
    m.gdt(13, seg(0, 0xfffff, notPresent(A.code)));
    m.bytes(KC, jmpFar(0x1000, 13 * 8 + 0));
    expect(fault(m)).toEqual([Vector.NP, 13 * 8]);
  });

  it('non-conforming DPL 0 from CPL 3: #GP(selector)', () => {
    const m = user32();
    m.bytes(UC, jmpFar(0x1000, K_CODE));
    expect(fault(m)).toEqual([Vector.GP, K_CODE]);
  });

  it('RPL > CPL to a non-conforming segment: #GP(selector)', () => {
    const m = kernel32();
    m.bytes(KC, jmpFar(0x1000, K_CODE | 3));
    expect(fault(m)).toEqual([Vector.GP, K_CODE]);
  });

  it('conforming DPL 0 from CPL 3 keeps CPL 3 (CS.RPL = 3)', () => {
    const m = user32();
    m.bytes(UC, jmpFar(0x21000, CONF));
    m.bytes(0x21000, [0x90, 0x90]);
    m.cpu.run(2);
    expect(m.cpu.ripLo).toBe(0x21001);
    expect(m.sel(Seg.CS)).toBe(CONF | 3);
    expect(m.cpu.cpl).toBe(3);
  });

  it('offset beyond the target limit: #GP(0)', () => {
    const m = kernel32();
    m.gdt(13, seg(0, 0xfff, A.code, 4));
    m.bytes(KC, jmpFar(0x1000, 13 * 8));
    expect(fault(m)).toEqual([Vector.GP, 0]);
  });

  it('to a 16-bit code segment switches the code mode', () => {
    const m = kernel32();
    m.bytes(KC, jmpFar(0x8000, 0x28));
    m.bytes(0x8000, [HLT]);
    m.cpu.run(5);
    expect(m.cpu.mode).toBe(CodeMode.Bits16);
    expect(m.cpu.ripLo).toBe(0x8001);
  });

  it('FF /5 m16:32 reads the far pointer from memory', () => {
    const m = kernel32();
    m.w32(0x9000, 0x12340);
    m.w16(0x9004, K_CODE);
    m.bytes(KC, [0xff, 0x2d, ...le32(0x9000)]);
    m.w8(0x12340, HLT);
    m.cpu.run(5);
    expect(m.cpu.ripLo).toBe(0x12341);
  });

  it('FF /3 and FF /5 with a register operand are #UD', () => {
    const m = kernel32();
    m.bytes(KC, [0xff, 0xd8]);
    expect(fault(m)).toEqual([Vector.UD, -1]);
    const m2 = kernel32();
    m2.bytes(KC, [0xff, 0xe8]);
    expect(fault(m2)).toEqual([Vector.UD, -1]);
  });
});

describe('far CALL and RET in protected mode', () => {
  it('same privilege: pushes CS and EIP (32-bit), RETF returns', () => {
    const m = kernel32();
    m.bytes(KC, [...callFar(0x12000, K_CODE), HLT]);
    m.bytes(0x12000, [0xcb]);
    m.cpu.step();
    expect(m.esp()).toBe(KSTACK - 8);
    expect(m.r32(KSTACK - 4)).toBe(K_CODE);
    expect(m.r32(KSTACK - 8)).toBe(KC + 7);
    expect(m.cpu.ripLo).toBe(0x12000);
    expect(m.cpu.run(10)).toBe(StopReason.Halt);
    expect(m.cpu.ripLo).toBe(KC + 8);
    expect(m.esp()).toBe(KSTACK);
  });

  it('16-bit operand size pushes 16-bit CS:IP', () => {
    const m = kernel32();
    m.bytes(KC, [0x66, 0x9a, ...le16(0x2000), ...le16(K_CODE)]);
    m.cpu.step();
    expect(m.esp()).toBe(KSTACK - 4);
    expect(m.r16(KSTACK - 2)).toBe(K_CODE);
    expect(m.r16(KSTACK - 4)).toBe((KC + 6) & 0xffff);
    expect(m.cpu.ripLo).toBe(0x2000);
  });

  it('a stack fault leaves ESP unchanged', () => {
    const m = kernel32();
    m.gdt(13, seg(0x40000, 0xfff, A.data, 4));
    m.load(Seg.SS, 13 * 8);
    m.cpu.gpr[4] = 6;
    m.bytes(KC, callFar(0x12000, K_CODE));
    expect(fault(m)).toEqual([Vector.SS, 0]);
    expect(m.esp()).toBe(6);
  });

  it('call gate to an inner level: stack switch from the TSS, parameters copied', () => {
    const m = user32();
    m.gdt(8, gate(0xc, K_CODE, 0x13000, 3, 2));
    m.cpu.gpr[4] = USTACK - 8;
    m.w32(USTACK - 8, 0x1111);
    m.w32(USTACK - 4, 0x2222);
    m.bytes(UC, [...callFar(0, 8 * 8 + 3), HLT]);
    m.bytes(0x13000, [HLT]);
    expect(m.cpu.run(10)).toBe(StopReason.Halt);
    expect(m.cpu.cpl).toBe(0);
    expect(m.sel(Seg.CS)).toBe(K_CODE);
    expect(m.sel(Seg.SS)).toBe(K_DATA);
    expect(m.esp()).toBe(KSTACK - 24);
    // SS, ESP, param 1, param 0, CS, EIP (highest address first).
    expect([m.r32(KSTACK - 4), m.r32(KSTACK - 8), m.r32(KSTACK - 12), m.r32(KSTACK - 16), m.r32(KSTACK - 20), m.r32(KSTACK - 24)]).toEqual([
      U_DATA,
      USTACK - 8,
      0x2222,
      0x1111,
      U_CODE,
      UC + 7,
    ]);
  });

  it('16-bit call gate pushes words and copies word parameters', () => {
    const m = user32();
    m.gdt(8, gate(0x4, K_CODE, 0x3000, 3, 1));
    m.cpu.gpr[4] = USTACK - 2;
    m.w16(USTACK - 2, 0xbeef);
    m.bytes(UC, callFar(0, 8 * 8 + 3));
    m.bytes(0x3000, [HLT]);
    m.cpu.run(10);
    expect(m.esp()).toBe(KSTACK - 10);
    expect([m.r16(KSTACK - 2), m.r16(KSTACK - 4), m.r16(KSTACK - 6), m.r16(KSTACK - 8), m.r16(KSTACK - 10)]).toEqual([
      U_DATA,
      (USTACK - 2) & 0xffff,
      0xbeef,
      U_CODE,
      (UC + 7) & 0xffff,
    ]);
  });

  it('call gate to the same level: no stack switch', () => {
    const m = kernel32();
    m.gdt(8, gate(0xc, K_CODE, 0x13000, 0));
    m.bytes(KC, callFar(0xdead, 8 * 8));
    m.cpu.step();
    expect(m.cpu.ripLo).toBe(0x13000);
    expect(m.esp()).toBe(KSTACK - 8);
    expect(m.r32(KSTACK - 4)).toBe(K_CODE);
  });

  it('JMP through a call gate never changes CPL: non-conforming DPL 0 from CPL 3 is #GP(code selector)', () => {
    const m = user32();
    m.gdt(8, gate(0xc, K_CODE, 0x13000, 3));
    m.bytes(UC, jmpFar(0, 8 * 8 + 3));
    expect(fault(m)).toEqual([Vector.GP, K_CODE]);
  });

  it('gate DPL < CPL: #GP(gate selector)', () => {
    const m = user32();
    m.gdt(8, gate(0xc, K_CODE, 0x13000, 0));
    m.bytes(UC, callFar(0, 8 * 8 + 3));
    expect(fault(m)).toEqual([Vector.GP, 0x40]);
  });

  it('gate RPL > gate DPL: #GP(gate selector)', () => {
    const m = kernel32();
    m.gdt(8, gate(0xc, K_CODE, 0x13000, 2));
    m.bytes(KC, callFar(0, 8 * 8 + 3));
    expect(fault(m)).toEqual([Vector.GP, 0x40]);
  });

  it('gate not present: #NP(gate selector)', () => {
    const m = user32();
    m.gdt(8, gate(0xc, K_CODE, 0x13000, 3, 0, false));
    m.bytes(UC, callFar(0, 8 * 8 + 3));
    expect(fault(m)).toEqual([Vector.NP, 0x40]);
  });

  it('gate code selector null: #GP(0); a data segment: #GP(selector)', () => {
    const m = user32();
    m.gdt(8, gate(0xc, 0, 0x13000, 3));
    m.bytes(UC, callFar(0, 8 * 8 + 3));
    expect(fault(m)).toEqual([Vector.GP, 0]);
    const m2 = user32();
    m2.gdt(8, gate(0xc, K_DATA, 0x13000, 3));
    m2.bytes(UC, callFar(0, 8 * 8 + 3));
    expect(fault(m2)).toEqual([Vector.GP, K_DATA]);
  });

  it('bad SS in the TSS: #TS(SS selector); null SS: #TS(0); absent SS: #SS(SS selector)', () => {
    const m = user32();
    m.gdt(8, gate(0xc, K_CODE, 0x13000, 3));
    m.w32(TSS_BASE + 8, 0x23); // SS0 = user data (RPL 3 != 0)
    m.bytes(UC, callFar(0, 8 * 8 + 3));
    expect(fault(m)).toEqual([Vector.TS, 0x20]);

    const m2 = user32();
    m2.gdt(8, gate(0xc, K_CODE, 0x13000, 3));
    m2.w32(TSS_BASE + 8, 0);
    m2.bytes(UC, callFar(0, 8 * 8 + 3));
    expect(fault(m2)).toEqual([Vector.TS, 0]);

    const m3 = user32();
    m3.gdt(8, gate(0xc, K_CODE, 0x13000, 3));
    m3.gdt(13, seg(0, 0xfffff, notPresent(A.data)));
    m3.w32(TSS_BASE + 8, 13 * 8);
    m3.bytes(UC, callFar(0, 8 * 8 + 3));
    expect(fault(m3)).toEqual([Vector.SS, 13 * 8]);
  });

  it('no room on the new stack: #SS(new SS selector), nothing changes', () => {
    const m = user32();
    m.gdt(8, gate(0xc, K_CODE, 0x13000, 3));
    m.gdt(13, seg(0, 0xfff, A.data, 4));
    m.w32(TSS_BASE + 8, 13 * 8);
    m.w32(TSS_BASE + 4, 12); // 12 bytes: not enough for 16
    m.bytes(UC, callFar(0, 8 * 8 + 3));
    expect(fault(m)).toEqual([Vector.SS, 13 * 8]);
    expect(m.cpu.cpl).toBe(3);
    expect(m.esp()).toBe(USTACK);
  });

  it('TSS too short for the stack pointer: #TS(TSS selector)', () => {
    const m = user32();
    m.gdt(8, gate(0xc, K1_CODE & ~3, 0x13000, 3));
    m.gdt(6, seg(TSS_BASE, 0x0b, A.tss32Busy, 0));
    m.load(Seg.TR, 0x30);
    m.bytes(UC, callFar(0, 8 * 8 + 3));
    expect(fault(m)).toEqual([Vector.TS, 0x30]);
  });

  it('RETF imm to an outer level pops SS:ESP, adds imm twice and nulls DPL 0 data segments', () => {
    const m = kernel32();
    // Frame: EIP, CS, (2 params), ESP, SS
    m.cpu.gpr[4] = KSTACK - 24;
    m.w32(KSTACK - 24, UC + 0x40);
    m.w32(KSTACK - 20, U_CODE);
    m.w32(KSTACK - 8, USTACK - 0x20);
    m.w32(KSTACK - 4, U_DATA);
    m.load(Seg.ES, U_DATA);
    m.load(Seg.DS, K_DATA);
    m.load(Seg.FS, CONF); // conforming code: kept
    m.bytes(KC, [0xca, ...le16(8)]);
    m.bytes(UC + 0x40, [0x90]);
    m.cpu.step();
    expect(m.cpu.cpl).toBe(3);
    expect(m.cpu.ripLo).toBe(UC + 0x40);
    expect(m.sel(Seg.SS)).toBe(U_DATA);
    expect(m.esp()).toBe(USTACK - 0x20 + 8);
    expect(m.sel(Seg.ES)).toBe(U_DATA);
    expect(m.sel(Seg.DS)).toBe(0);
    expect(m.sel(Seg.FS)).toBe(CONF);
  });

  it('RETF to a more privileged level: #GP(selector)', () => {
    const m = user32();
    m.push32(K_CODE);
    m.push32(0x1000);
    m.bytes(UC, [0xcb]);
    expect(fault(m)).toEqual([Vector.GP, K_CODE]);
  });

  it('RETF outer: SS RPL != CS RPL is #GP(SS selector); null SS is #GP(0)', () => {
    const m = kernel32();
    m.push32(K_DATA);
    m.push32(USTACK);
    m.push32(U_CODE);
    m.push32(UC);
    m.bytes(KC, [0xcb]);
    expect(fault(m)).toEqual([Vector.GP, K_DATA]);
    const m2 = kernel32();
    m2.push32(0);
    m2.push32(USTACK);
    m2.push32(U_CODE);
    m2.push32(UC);
    m2.bytes(KC, [0xcb]);
    expect(fault(m2)).toEqual([Vector.GP, 0]);
  });

  it('RETF: non-present return segment is #NP(selector); conforming DPL > RPL is #GP', () => {
    const m = kernel32();
    m.gdt(13, seg(0, 0xfffff, notPresent(A.code)));
    m.push32(13 * 8);
    m.push32(0x1000);
    m.bytes(KC, [0xcb]);
    expect(fault(m)).toEqual([Vector.NP, 13 * 8]);
    const m2 = kernel32();
    m2.gdt(13, seg(0, 0xfffff, dpl(A.codeConf, 2)));
    m2.push32(13 * 8 + 1);
    m2.push32(0x1000);
    m2.bytes(KC, [0xcb]);
    expect(fault(m2)).toEqual([Vector.GP, 13 * 8]);
  });

  it('far JMP to a busy TSS: #GP(selector)', () => {
    const m = kernel32();
    m.bytes(KC, jmpFar(0, 0x30));
    expect(fault(m)).toEqual([Vector.GP, 0x30]);
  });

  it('far JMP to an LDT descriptor: #GP(selector)', () => {
    const m = kernel32();
    m.gdt(13, seg(0x9000, 0xff, A.ldt, 0));
    m.bytes(KC, jmpFar(0, 13 * 8));
    expect(fault(m)).toEqual([Vector.GP, 13 * 8]);
  });
});

describe('far transfers in real and virtual-8086 mode', () => {
  it('real mode: CALL far / RETF', () => {
    const m = new Machine();
    const c = m.cpu;
    c.setSegmentRaw(Seg.CS, 0, 0, 0xffff, c.segAttr[Seg.CS]!);
    c.updateMode();
    c.gpr[4] = 0x7000;
    m.bytes(0x7c00, [0x9a, ...le16(0x0010), ...le16(0x1234), HLT]);
    m.bytes(0x12350, [0xcb]);
    m.at(0x7c00);
    c.step();
    expect(m.sel(Seg.CS)).toBe(0x1234);
    expect(c.segBase[Seg.CS]).toBe(0x12340);
    expect(c.ripLo).toBe(0x10);
    expect(m.r16(0x6ffe)).toBe(0);
    expect(m.r16(0x6ffc)).toBe(0x7c05);
    expect(c.run(5)).toBe(StopReason.Halt);
    expect(m.sel(Seg.CS)).toBe(0);
    expect(c.ripLo).toBe(0x7c06);
    expect(c.gpr[4]! & 0xffff).toBe(0x7000);
  });

  it('real mode: JMP far beyond the CS limit is #GP(0)', () => {
    const m = new Machine();
    const c = m.cpu;
    c.setSegmentRaw(Seg.CS, 0, 0, 0xffff, c.segAttr[Seg.CS]!);
    c.updateMode();
    m.bytes(0x7c00, [0x66, 0xea, ...le32(0x10000), ...le16(0)]);
    m.at(0x7c00);
    expect(fault(m)).toEqual([Vector.GP, 0]);
  });
});

describe('far transfers in IA-32e mode', () => {
  function long64(cpl: 0 | 3): Machine {
    const m = new Machine();
    standard(m);
    m.gdt(6, seg(TSS_BASE, 0x67, A.tss32, 0)); // 64-bit TSS (type 9 = available 64-bit TSS in IA-32e)
    m.gdt16(6, seg(TSS_BASE, 0x67, A.tss32, 0), 0);
    m.w32(TSS_BASE + 4, KSTACK);
    m.w32(TSS_BASE + 8, 0);
    m.loadTr(6);
    if (cpl === 0) {
      m.longMode(L_CODE, K_DATA, K_DATA);
      m.cpu.gpr[4] = KSTACK;
      m.at(KC);
    } else {
      m.longMode(L_UCODE, U_DATA, U_DATA);
      m.cpu.gpr[4] = USTACK;
      m.at(UC);
    }
    return m;
  }

  it('EA (JMP ptr16:32) is #UD in 64-bit mode', () => {
    const m = long64(0);
    m.bytes(KC, jmpFar(0x1000, K_CODE));
    expect(fault(m)).toEqual([Vector.UD, -1]);
  });

  it('REX.W FF /5 (m16:64) jumps to a 64-bit target; FF /5 (m16:32) to compatibility mode', () => {
    const m = long64(0);
    m.w32(0x9000, 0x1234);
    m.w32(0x9004, 0);
    m.w16(0x9008, L_CODE);
    m.bytes(KC, [0x48, 0xff, 0x2c, 0x25, ...le32(0x9000)]);
    m.cpu.step();
    expect(m.cpu.mode).toBe(CodeMode.Bits64);
    expect(m.cpu.ripLo).toBe(0x1234);

    const m2 = long64(0);
    m2.w32(0x9000, 0x4321);
    m2.w16(0x9004, K_CODE);
    m2.bytes(KC, [0xff, 0x2c, 0x25, ...le32(0x9000)]);
    m2.cpu.step();
    expect(m2.cpu.mode).toBe(CodeMode.Bits32);
    expect(m2.cpu.ripLo).toBe(0x4321);
  });

  it('non-canonical 64-bit far target: #GP(0)', () => {
    const m = long64(0);
    m.w32(0x9000, 0);
    m.w32(0x9004, 0x00800000);
    m.w16(0x9008, L_CODE);
    m.bytes(KC, [0x48, 0xff, 0x2c, 0x25, ...le32(0x9000)]);
    expect(fault(m)).toEqual([Vector.GP, 0]);
  });

  it('a code segment with L = 1 and D = 1: #GP(selector)', () => {
    const m = long64(0);
    m.gdt(13, seg(0, 0xfffff, A.code, 0xe));
    m.w32(0x9000, 0x1000);
    m.w16(0x9004, 13 * 8);
    m.bytes(KC, [0xff, 0x2c, 0x25, ...le32(0x9000)]);
    expect(fault(m)).toEqual([Vector.GP, 13 * 8]);
  });

  it('a legacy 32-bit call gate type is #GP(selector) in IA-32e mode', () => {
    const m = long64(0);
    m.gdt16(8, gate(0x4, L_CODE, 0x1000, 0), 0);
    m.w32(0x9000, 0);
    m.w16(0x9004, 0x40);
    m.bytes(KC, [0xff, 0x1c, 0x25, ...le32(0x9000)]);
    expect(fault(m)).toEqual([Vector.GP, 0x40]);
  });

  it('64-bit call gate from CPL 3: RSP0 from the TSS, 8-byte SS:RSP:CS:RIP, null SS; RETFQ returns', () => {
    const m = long64(3);
    m.gdt16(8, gate(0xc, L_CODE, 0x13000, 3), 0);
    m.w32(0x29000, 0);
    m.w16(0x29004, 0x43);
    m.bytes(UC, [0xff, 0x1c, 0x25, ...le32(0x29000), HLT]);
    m.bytes(0x13000, [0x48, 0xcb]);
    m.cpu.step();
    expect(m.cpu.cpl).toBe(0);
    expect(m.sel(Seg.SS)).toBe(0);
    expect(m.cpu.ripLo).toBe(0x13000);
    expect(m.esp()).toBe(KSTACK - 32);
    expect([m.r32(KSTACK - 8), m.r32(KSTACK - 16), m.r32(KSTACK - 24), m.r32(KSTACK - 32)]).toEqual([U_DATA, USTACK, L_UCODE, UC + 7]);
    expect(m.r32(KSTACK - 28)).toBe(0);
    m.cpu.step();
    expect(m.cpu.cpl).toBe(3);
    expect(m.sel(Seg.CS)).toBe(L_UCODE);
    expect(m.sel(Seg.SS)).toBe(U_DATA);
    expect(m.cpu.ripLo).toBe(UC + 7);
    expect(m.esp()).toBe(USTACK);
  });

  it('64-bit call gate whose upper type field is not 0: #GP(gate selector)', () => {
    const m = long64(0);
    m.gdt16(8, gate(0xc, L_CODE, 0x13000, 0), 0);
    m.w32(0x1000 + 8 * 8 + 12, 0x0c00);
    m.w32(0x9000, 0);
    m.w16(0x9004, 0x40);
    m.bytes(KC, [0xff, 0x1c, 0x25, ...le32(0x9000)]);
    expect(fault(m)).toEqual([Vector.GP, 0x40]);
  });

  it('RETF from 64-bit mode to compatibility mode at an outer level', () => {
    const m = long64(0);
    m.push32(0);
    m.cpu.gpr[4] = KSTACK - 16;
    m.w32(KSTACK - 16, UC + 3);
    m.w32(KSTACK - 12, U_CODE);
    m.w32(KSTACK - 8, USTACK - 4);
    m.w32(KSTACK - 4, U_DATA);
    m.bytes(KC, [0xcb]);
    m.cpu.step();
    expect(m.cpu.mode).toBe(CodeMode.Bits32);
    expect(m.cpu.cpl).toBe(3);
    expect(m.cpu.ripLo).toBe(UC + 3);
    expect(m.esp()).toBe(USTACK - 4);
  });

  it('RETFQ to CPL 3 with a null SS: #GP(0)', () => {
    const m = long64(0);
    m.cpu.gpr[4] = KSTACK - 32;
    m.w32(KSTACK - 32, UC);
    m.w32(KSTACK - 24, L_UCODE);
    m.w32(KSTACK - 16, USTACK);
    m.w32(KSTACK - 8, 3);
    m.bytes(KC, [0x48, 0xcb]);
    expect(fault(m)).toEqual([Vector.GP, 0]);
  });
});

void K_DATA;
