import { describe, expect, it } from 'vitest';
import { Cr4, Flag, StopReason, Vector } from '../src/index.js';
import { gate, K_CODE, KC, KSTACK, le32, type Machine, kernel32, UC, user32 } from './pm-harness.js';

const HLT = 0xf4;
const DB_H = 0x16000;
const DR6_BS = 0x4000;
const DR6_BD = 0x2000;
const DR6_BT = 0x8000;

/** Kernel code that IRETs to KC + 0x40 with TF set, then runs `code` there. */
function stepping(code: number[]): Machine {
  const m = kernel32();
  m.push32(0x2 | Flag.TF);
  m.push32(K_CODE);
  m.push32(KC + 0x40);
  m.bytes(KC, [0xcf]);
  m.bytes(KC + 0x40, code);
  return m;
}

function dbHandler(m: Machine): void {
  m.idt(Vector.DB, gate(0xe, K_CODE, DB_H, 0));
  m.w8(DB_H, HLT);
}

/** Records #DB (and every other) event, swallowing it and stopping the run. */
function catchDb(m: Machine): void {
  m.catchEvents();
}

describe('single-step (TF)', () => {
  it('traps after the first instruction once TF is set (not after the IRET that set it)', () => {
    const m = stepping([0x90, 0x90]);
    dbHandler(m);
    expect(m.cpu.run(10)).toBe(StopReason.Halt);
    expect(m.cpu.ripLo).toBe(DB_H + 1);
    expect(m.r32(KSTACK - 12)).toBe(KC + 0x41);
    expect(m.r32(KSTACK - 4) & Flag.TF).toBe(Flag.TF);
    expect(m.r32(KSTACK - 4) & Flag.RF).toBe(0);
    expect(m.flags() & Flag.TF).toBe(0);
    expect(m.cpu.drLo[6]! & (DR6_BS | 0xf)).toBe(DR6_BS);
  });

  it('INT n with TF traps into the handler: #DB returns to the first handler instruction', () => {
    const m = stepping([0xcd, 0x30]);
    dbHandler(m);
    m.idt(0x30, gate(0xe, K_CODE, 0x17000, 0));
    m.w8(0x17000, 0x90);
    expect(m.cpu.run(10)).toBe(StopReason.Halt);
    expect(m.cpu.ripLo).toBe(DB_H + 1);
    // INT frame: EIP, CS, EFLAGS (TF = 1); then the #DB frame on top: EIP = handler entry, TF = 0.
    expect(m.r32(KSTACK - 12)).toBe(KC + 0x42);
    expect(m.r32(KSTACK - 4) & Flag.TF).toBe(Flag.TF);
    expect(m.r32(KSTACK - 24)).toBe(0x17000);
    expect(m.r32(KSTACK - 16) & Flag.TF).toBe(0);
  });

  it('MOV SS holds the single-step trap back until after the next instruction', () => {
    const m = stepping([0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd0, 0x90, 0x90]);
    catchDb(m);
    m.cpu.run(10);
    expect(m.events.length).toBe(1);
    expect(m.cpu.ripLo).toBe(KC + 0x44); // after mov ax
    m.cpu.run(10);
    expect(m.events.length).toBe(2);
    expect(m.events[1]![1]).toBe(Vector.DB);
    expect(m.cpu.ripLo).toBe(KC + 0x47); // after mov ss AND the nop
  });

  it('STI does not hold back the single-step trap', () => {
    const m = stepping([0xfb, 0x90]);
    catchDb(m);
    m.cpu.run(10);
    expect(m.events.length).toBe(1);
    expect(m.cpu.ripLo).toBe(KC + 0x41);
  });
});

describe('instruction breakpoints', () => {
  it('fault before the instruction with DR6.B0; RF = 1 in the image lets it run once', () => {
    const m = kernel32();
    // handler: inc dword [0x9000]; or dword [esp+8], RF; iret
    m.idt(Vector.DB, gate(0xe, K_CODE, DB_H, 0));
    m.bytes(DB_H, [0xff, 0x05, ...le32(0x9000), 0x81, 0x4c, 0x24, 0x08, ...le32(Flag.RF), 0xcf]);
    m.cpu.drLo[0] = KC + 2;
    m.cpu.drLo[7] = 0x401;
    m.cpu.updateDebug();
    m.bytes(KC, [0x90, 0x90, 0x90, HLT]);
    expect(m.cpu.run(20)).toBe(StopReason.Halt);
    expect(m.cpu.ripLo).toBe(KC + 4);
    expect(m.r32(0x9000)).toBe(1);
    expect(m.cpu.drLo[6]! & 0xf).toBe(1);
    expect(m.flags() & Flag.RF).toBe(0);
  });

  it('the #DB fault leaves RIP at the breakpoint and does not set RF in the image', () => {
    const m = kernel32();
    dbHandler(m);
    m.cpu.drLo[3] = KC + 1;
    m.cpu.drLo[7] = 0x400 | 0x80; // G3
    m.cpu.updateDebug();
    m.bytes(KC, [0x90, 0x90]);
    m.cpu.run(10);
    expect(m.r32(KSTACK - 12)).toBe(KC + 1);
    expect(m.r32(KSTACK - 4) & Flag.RF).toBe(0);
    expect(m.cpu.drLo[6]! & 0xf).toBe(8);
  });

  it('a disabled breakpoint (L/G clear) does nothing', () => {
    const m = kernel32();
    dbHandler(m);
    m.cpu.drLo[0] = KC + 1;
    m.cpu.drLo[7] = 0x400;
    m.cpu.updateDebug();
    m.bytes(KC, [0x90, 0x90, HLT]);
    m.cpu.run(10);
    expect(m.cpu.ripLo).toBe(KC + 3);
  });
});

describe('data and I/O breakpoints', () => {
  // mov ecx, 0x9000; mov dr1, ecx; mov eax, dr7-value; mov dr7, eax
  const arm = (dr7: number): number[] => [0xb9, ...le32(0x9000), 0x0f, 0x23, 0xc9, 0xb8, ...le32(dr7), 0x0f, 0x23, 0xf8];

  it('write breakpoint (R/W = 01, 4 bytes): reads pass, a write traps after the instruction with DR6.B1', () => {
    const m = kernel32();
    const rw01len4 = 0x400 | (1 << 2) | (0b1101 << 20);
    // Touch the page first so it is in the TLB before the breakpoint is armed.
    m.bytes(KC, [
      0xa1, ...le32(0x9000), // mov eax, [0x9000]
      ...arm(rw01len4),
      0xa1, ...le32(0x9000), // read: no trap
      0xa2, ...le32(0x9010), // write elsewhere on the page: no trap
      0xa2, ...le32(0x9003), // write overlapping: trap
      0x90,
    ]);
    catchDb(m);
    m.cpu.run(20);
    expect(m.events).toEqual([[0, Vector.DB, -1]]);
    const after = KC + 5 + 16 + 5 + 5 + 5;
    expect(m.cpu.ripLo).toBe(after);
    expect(m.cpu.drLo[6]! & 0xf).toBe(2);
  });

  it('read/write breakpoint (R/W = 11) traps on a read', () => {
    const m = kernel32();
    const rw11len1 = 0x400 | (1 << 2) | (0b0011 << 20);
    m.bytes(KC, [...arm(rw11len1), 0xa1, ...le32(0x8ffe), 0x90]);
    catchDb(m);
    m.cpu.run(20);
    expect(m.events.length).toBe(1);
    expect(m.cpu.ripLo).toBe(KC + 16 + 5);
  });

  it('clearing DR7 stops the traps', () => {
    const m = kernel32();
    const rw11 = 0x400 | (1 << 2) | (0b0011 << 20);
    m.bytes(KC, [...arm(rw11), 0x31, 0xc0, 0x0f, 0x23, 0xf8, 0xa1, ...le32(0x9000), HLT]);
    catchDb(m);
    expect(m.cpu.run(20)).toBe(StopReason.Halt);
    expect(m.events.length).toBe(0);
  });

  it('I/O breakpoint (R/W = 10) needs CR4.DE', () => {
    const io = 0x400 | 1 | (0b0010 << 16);
    const prog = [0xe6, 0x80, 0x90, HLT];
    const m = kernel32();
    m.cpu.cr4 |= Cr4.DE;
    m.cpu.drLo[0] = 0x80;
    m.cpu.drLo[7] = io;
    m.cpu.updateDebug();
    m.bytes(KC, prog);
    catchDb(m);
    m.cpu.run(10);
    expect(m.events.length).toBe(1);
    expect(m.cpu.ripLo).toBe(KC + 2);
    expect(m.cpu.drLo[6]! & 0xf).toBe(1);
    const m2 = kernel32();
    m2.cpu.drLo[0] = 0x80;
    m2.cpu.drLo[7] = io;
    m2.cpu.updateDebug();
    m2.bytes(KC, prog);
    catchDb(m2);
    expect(m2.cpu.run(10)).toBe(StopReason.Halt);
    expect(m2.events.length).toBe(0);
  });
});

describe('MOV DRn', () => {
  it('general detect: MOV DR with DR7.GD = 1 is a #DB fault with DR6.BD; GD is cleared for the handler', () => {
    const m = kernel32();
    dbHandler(m);
    m.cpu.drLo[7] = 0x400 | 0x2000;
    m.bytes(KC, [0x0f, 0x21, 0xc0]);
    m.cpu.run(5);
    expect(m.cpu.ripLo).toBe(DB_H + 1);
    expect(m.r32(KSTACK - 12)).toBe(KC);
    expect(m.cpu.drLo[6]! & DR6_BD).toBe(DR6_BD);
    expect(m.cpu.drLo[7]! & 0x2000).toBe(0);
  });

  it('CPL 3: #GP(0)', () => {
    const m = user32();
    m.bytes(UC, [0x0f, 0x21, 0xc0]);
    m.catchEvents();
    m.cpu.run(3);
    expect(m.events).toEqual([[0, Vector.GP, 0]]);
  });

  it('DR4/DR5 alias DR6/DR7 without CR4.DE and are #UD with it', () => {
    const m = kernel32();
    m.bytes(KC, [0x0f, 0x21, 0xe0, 0x0f, 0x21, 0xe9]); // mov eax, dr4; mov ecx, dr5
    m.cpu.run(2);
    expect(m.cpu.gpr[0]! >>> 0).toBe(0xffff0ff0);
    expect(m.cpu.gpr[1]!).toBe(0x400);
    const m2 = kernel32();
    m2.cpu.cr4 |= Cr4.DE;
    m2.bytes(KC, [0x0f, 0x21, 0xe0]);
    m2.catchEvents();
    m2.cpu.run(2);
    expect(m2.events).toEqual([[0, Vector.UD, -1]]);
  });

  it('DR6 and DR7 keep their fixed bits', () => {
    const m = kernel32();
    m.bytes(KC, [0x31, 0xc0, 0x0f, 0x23, 0xf0, 0xb8, ...le32(0xffffdfff), 0x0f, 0x23, 0xf8, 0x0f, 0x21, 0xf1]);
    m.cpu.run(5);
    expect(m.cpu.drLo[6]! >>> 0).toBe(0xffff0ff0);
    expect(m.cpu.drLo[7]! >>> 0).toBe(0xffff07ff);
    expect(m.cpu.gpr[1]! >>> 0).toBe(0xffff0ff0);
  });
});

describe('INT1 (ICEBP)', () => {
  it('is not subject to the gate DPL check, unlike INT 1', () => {
    const m = user32();
    m.idt(Vector.DB, gate(0xe, K_CODE, DB_H, 0));
    m.w8(DB_H, HLT);
    m.bytes(UC, [0xf1]);
    m.cpu.run(3);
    expect(m.cpu.ripLo).toBe(DB_H + 1);
    expect(m.r32(KSTACK - 20)).toBe(UC + 1);
    const m2 = user32();
    m2.idt(Vector.DB, gate(0xe, K_CODE, DB_H, 0));
    m2.idt(Vector.GP, gate(0xe, K_CODE, DB_H + 0x10, 0));
    m2.w8(DB_H + 0x10, HLT);
    m2.bytes(UC, [0xcd, 0x01]);
    m2.cpu.run(3);
    expect(m2.cpu.ripLo).toBe(DB_H + 0x11);
    expect(m2.r32(KSTACK - 24)).toBe(1 * 8 + 2);
  });
});

void DR6_BT;
