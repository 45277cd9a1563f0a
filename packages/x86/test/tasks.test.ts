import { describe, expect, it } from 'vitest';
import { Cr0, Flag, Seg, StopReason, Vector } from '../src/index.js';
import { A, dpl, GDT, gate, K_CODE, K_DATA, KC, KSTACK, le16, le32, Machine, kernel32, notPresent, seg, TSS_BASE, U_DATA, UC, user32 } from './pm-harness.js';

const HLT = 0xf4;
const NEW = 0x6000;
const NEW_SEL = 0x70; // GDT 14
const GATE_SEL = 0x78; // GDT 15
const NEW_EIP = 0x15000;
const jmpFar = (sel: number): number[] => [0xea, ...le32(0), ...le16(sel)];
const callFar = (sel: number): number[] => [0x9a, ...le32(0), ...le16(sel)];

function withTask(m: Machine, extra: Parameters<Machine['tss32']>[1] = {}): void {
  m.gdt(14, seg(NEW, 0x67, A.tss32, 0));
  m.gdt(15, gate(5, NEW_SEL, 0, 0));
  m.tss32(NEW, {
    eip: NEW_EIP,
    eflags: 0x2 | Flag.CF,
    eax: 0x11,
    ecx: 0x22,
    ebx: 0x44,
    esp: 0x7000,
    esi: 0x66,
    cs: K_CODE,
    ss: K_DATA,
    ds: K_DATA,
    es: U_DATA,
    fs: 0,
    gs: K_DATA,
    ...extra,
  });
  m.w8(NEW_EIP, HLT);
}

const descType = (m: Machine, index: number): number => (m.r32(GDT + index * 8 + 4) >>> 8) & 0xf;

function fault(m: Machine, budget = 10): [number, number] {
  m.catchEvents();
  m.cpu.run(budget);
  expect(m.events.length).toBe(1);
  return [m.events[0]![1], m.events[0]![2]];
}

describe('hardware task switch', () => {
  it('JMP to a TSS: saves the old task, loads the new one, busy bits, CR0.TS, no NT or link', () => {
    const m = kernel32();
    withTask(m);
    m.cpu.gpr[0] = 0xaaaa;
    m.cpu.gpr[7] = 0x7777;
    m.bytes(KC, jmpFar(NEW_SEL));
    m.cpu.step();
    const c = m.cpu;
    expect(m.sel(Seg.TR)).toBe(NEW_SEL);
    expect(c.ripLo).toBe(NEW_EIP);
    expect([c.gpr[0], c.gpr[1], c.gpr[3], c.gpr[6]]).toEqual([0x11, 0x22, 0x44, 0x66]);
    expect(m.esp()).toBe(0x7000);
    expect(m.sel(Seg.ES)).toBe(U_DATA);
    expect(m.sel(Seg.FS)).toBe(0);
    expect(m.flags() & (Flag.CF | Flag.NT)).toBe(Flag.CF);
    expect(c.cr0 & Cr0.TS).toBe(Cr0.TS);
    // Old task state.
    expect(m.r32(TSS_BASE + 0x20)).toBe(KC + 7);
    expect(m.r32(TSS_BASE + 0x28)).toBe(0xaaaa);
    expect(m.r32(TSS_BASE + 0x44)).toBe(0x7777);
    expect(m.r32(TSS_BASE + 0x38)).toBe(KSTACK);
    expect(m.r16(TSS_BASE + 0x4c)).toBe(K_CODE);
    // Busy bits and link.
    expect(descType(m, 6)).toBe(9);
    expect(descType(m, 14)).toBe(0xb);
    expect(m.r16(NEW)).toBe(0);
    expect(c.run(3)).toBe(StopReason.Halt);
  });

  it('CALL through a task gate nests (NT, link, old busy kept); IRET returns and frees the inner task', () => {
    const m = kernel32();
    withTask(m);
    m.bytes(KC, [...callFar(GATE_SEL), HLT]);
    m.w8(NEW_EIP, 0xcf); // IRET
    m.cpu.step();
    expect(m.sel(Seg.TR)).toBe(NEW_SEL);
    expect(m.flags() & Flag.NT).toBe(Flag.NT);
    expect(m.r16(NEW)).toBe(0x30);
    expect(descType(m, 6)).toBe(0xb);
    expect(descType(m, 14)).toBe(0xb);
    m.cpu.step();
    expect(m.sel(Seg.TR)).toBe(0x30);
    expect(m.cpu.ripLo).toBe(KC + 7);
    expect(descType(m, 6)).toBe(0xb);
    expect(descType(m, 14)).toBe(9);
    // The inner task was saved with NT cleared and EIP after its IRET.
    expect(m.r32(NEW + 0x24) & Flag.NT).toBe(0);
    expect(m.r32(NEW + 0x20)).toBe(NEW_EIP + 1);
    expect(m.flags() & Flag.NT).toBe(0);
  });

  it('CALL to a TSS with DPL < CPL: #GP(TSS selector)', () => {
    const m = user32();
    withTask(m);
    m.bytes(UC, callFar(NEW_SEL | 3));
    expect(fault(m)).toEqual([Vector.GP, NEW_SEL]);
  });

  it('task gate DPL < CPL: #GP(gate selector); task gate to a busy TSS: #GP(TSS selector)', () => {
    const m = user32();
    withTask(m);
    m.bytes(UC, jmpFar(GATE_SEL | 3));
    expect(fault(m)).toEqual([Vector.GP, GATE_SEL]);
    const m2 = kernel32();
    withTask(m2);
    m2.gdt(15, gate(5, 0x30, 0, 0));
    m2.bytes(KC, jmpFar(GATE_SEL));
    expect(fault(m2)).toEqual([Vector.GP, 0x30]);
  });

  it('TSS limit below 67H: #TS(TSS selector); not present: #NP(TSS selector)', () => {
    const m = kernel32();
    withTask(m);
    m.gdt(14, seg(NEW, 0x60, A.tss32, 0));
    m.bytes(KC, jmpFar(NEW_SEL));
    expect(fault(m)).toEqual([Vector.TS, NEW_SEL]);
    const m2 = kernel32();
    withTask(m2);
    m2.gdt(14, seg(NEW, 0x67, notPresent(A.tss32), 0));
    m2.bytes(KC, jmpFar(NEW_SEL));
    expect(fault(m2)).toEqual([Vector.NP, NEW_SEL]);
  });

  it('an exception through an IDT task gate pushes its error code on the new stack', () => {
    const m = kernel32();
    withTask(m);
    m.idt(Vector.GP, gate(5, NEW_SEL, 0, 0));
    m.bytes(KC, jmpFar(0)); // #GP(0)
    expect(m.cpu.run(5)).toBe(StopReason.Halt);
    expect(m.sel(Seg.TR)).toBe(NEW_SEL);
    expect(m.esp()).toBe(0x7000 - 4);
    expect(m.r32(0x7000 - 4)).toBe(0);
    expect(m.r32(TSS_BASE + 0x20)).toBe(KC); // faulting EIP saved
    expect(m.r32(TSS_BASE + 0x24) & Flag.RF).toBe(Flag.RF);
    expect(m.r16(NEW)).toBe(0x30);
    expect(m.flags() & Flag.NT).toBe(Flag.NT);
  });

  it('a bad CS in the new TSS faults in the new task: #TS(CS selector) with the new EIP', () => {
    const m = kernel32();
    withTask(m, { cs: K_DATA });
    m.bytes(KC, jmpFar(NEW_SEL));
    expect(fault(m)).toEqual([Vector.TS, K_DATA]);
    expect(m.sel(Seg.TR)).toBe(NEW_SEL);
    expect(m.cpu.ripLo).toBe(NEW_EIP);
    expect(m.cpu.gpr[0]).toBe(0x11);
  });

  it('SS with DPL != CPL: #TS(SS); not-present data segment: #NP(selector)', () => {
    const m = kernel32();
    withTask(m, { ss: U_DATA });
    m.bytes(KC, jmpFar(NEW_SEL));
    expect(fault(m)).toEqual([Vector.TS, U_DATA & 0xfffc]);
    const m2 = kernel32();
    withTask(m2);
    m2.gdt(13, seg(0, 0xfffff, notPresent(A.data)));
    m2.w32(NEW + 0x54, 13 * 8);
    m2.bytes(KC, jmpFar(NEW_SEL));
    expect(fault(m2)).toEqual([Vector.NP, 13 * 8]);
  });

  it('loads the LDT; an LDT selector naming a non-LDT descriptor is #TS(LDT selector)', () => {
    const m = kernel32();
    m.gdt(13, seg(0x9000, 0xff, A.ldt, 0));
    withTask(m, { ldt: 13 * 8 });
    m.bytes(KC, jmpFar(NEW_SEL));
    m.cpu.step();
    expect(m.sel(Seg.LDTR)).toBe(13 * 8);
    expect(m.cpu.segBase[Seg.LDTR]).toBe(0x9000);
    const m2 = kernel32();
    withTask(m2, { ldt: K_DATA });
    m2.bytes(KC, jmpFar(NEW_SEL));
    expect(fault(m2)).toEqual([Vector.TS, K_DATA]);
  });

  it('the T bit of the new TSS raises a #DB trap with DR6.BT before its first instruction', () => {
    const m = kernel32();
    withTask(m, { trap: 1 });
    m.idt(Vector.DB, gate(0xe, K_CODE, 0x16000, 0));
    m.w8(0x16000, HLT);
    m.bytes(KC, jmpFar(NEW_SEL));
    expect(m.cpu.run(5)).toBe(StopReason.Halt);
    expect(m.cpu.ripLo).toBe(0x16001);
    expect(m.cpu.drLo[6]! & 0x8000).toBe(0x8000);
    expect(m.r32(0x7000 - 12)).toBe(NEW_EIP);
  });

  it('a task switch clears the local breakpoint enables of DR7', () => {
    const m = kernel32();
    withTask(m);
    m.cpu.drLo[7] = 0x400 | 0x1ff;
    m.bytes(KC, jmpFar(NEW_SEL));
    m.cpu.step();
    expect(m.cpu.drLo[7]! & 0x3ff).toBe(0x400 & 0x3ff | 0xaa);
  });

  it('IRET with NT = 1 to a task that is not busy: #TS(link selector)', () => {
    const m = kernel32();
    withTask(m);
    m.w16(TSS_BASE, NEW_SEL);
    m.cpu.flags |= Flag.NT;
    m.bytes(KC, [0xcf]);
    expect(fault(m)).toEqual([Vector.TS, NEW_SEL]);
  });

  it('a 16-bit TSS: word registers, IP, FLAGS, four segment registers', () => {
    const m = kernel32();
    m.gdt(14, seg(NEW, 0x2b, A.tss16, 0));
    for (let i = 0; i < 0x2c; i += 2) m.w16(NEW + i, 0);
    m.w16(NEW + 0x0e, 0x100); // IP
    m.w16(NEW + 0x10, 0x2 | Flag.ZF);
    m.w16(NEW + 0x12, 0x1234); // AX
    m.w16(NEW + 0x1a, 0x8000); // SP
    m.w16(NEW + 0x22, K_DATA); // ES
    m.w16(NEW + 0x24, 0x28); // CS: 16-bit code
    m.w16(NEW + 0x26, K_DATA);
    m.w16(NEW + 0x28, K_DATA);
    m.w8(0x100, HLT);
    m.cpu.gpr[0] = 0xabcd0000 | 0;
    m.bytes(KC, jmpFar(NEW_SEL));
    expect(m.cpu.run(5)).toBe(StopReason.Halt);
    expect(m.cpu.ripLo).toBe(0x101);
    expect(m.cpu.gpr[0]! >>> 0).toBe(0xabcd1234);
    expect(m.flags() & Flag.ZF).toBe(Flag.ZF);
    expect(m.sel(Seg.FS)).toBe(0);
    expect(descType(m, 14)).toBe(3);
  });

  it('task switches do not exist in IA-32e mode: a TSS selector is #GP(selector)', () => {
    const m = new Machine();
    m.gdt(1, seg(0, 0xfffff, A.code, 0xa));
    m.gdt(2, seg(0, 0xfffff, A.data));
    m.gdt(14, seg(NEW, 0x67, A.tss32, 0));
    m.longMode(0x08, 0x10, 0x10);
    m.w32(0x9000, 0);
    m.w16(0x9004, NEW_SEL);
    m.bytes(KC, [0xff, 0x2c, 0x25, ...le32(0x9000)]);
    m.at(KC);
    expect(fault(m)).toEqual([Vector.GP, NEW_SEL]);
  });
});

void dpl;
