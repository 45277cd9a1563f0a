/**
 * Debug exceptions and repeated string instructions (SDM Vol. 3 §17.3.1.2), and instruction
 * breakpoints in the MOV SS / POP SS shadow (§6.8.3).
 */
import { describe, expect, it } from 'vitest';
import { Cr4, Flag, StopReason, Vector } from '../src/index.js';
import { gate, K_CODE, KC, KSTACK, le32, type Machine, kernel32 } from './pm-harness.js';

const HLT = 0xf4;
const DB_H = 0x16000;
const COUNT = 0x8000;
const SAVED_ECX = 0x8004;

/** DRn = `addr` with the given R/W and LEN fields, globally enabled. */
function bp(m: Machine, n: number, addr: number, rw: number, len: number): void {
  m.cpu.drLo[n] = addr;
  m.cpu.drLo[7] = 0x400 | (2 << (2 * n)) | (((len << 2) | rw) << (16 + 4 * n));
  m.cpu.updateDebug();
}

/** #DB handler: inc dword [COUNT]; mov [SAVED_ECX], ecx; iret. */
function countingHandler(m: Machine): void {
  m.idt(Vector.DB, gate(0xe, K_CODE, DB_H, 0));
  m.bytes(DB_H, [0xff, 0x05, ...le32(COUNT), 0x89, 0x0d, ...le32(SAVED_ECX), 0xcf]);
}

describe('data breakpoints on REP string instructions', () => {
  it('REP STOSB: the trap follows the iteration that wrote the byte; RIP stays at the instruction', () => {
    const m = kernel32();
    bp(m, 0, 0x9003, 1, 0); // write, 1 byte
    m.cpu.gpr[0] = 0xab;
    m.cpu.gpr[1] = 8;
    m.cpu.gpr[7] = 0x9000;
    m.bytes(KC, [0xf3, 0xaa, HLT]);
    m.catchEvents();
    m.cpu.run(10);
    expect(m.events).toEqual([[0, Vector.DB, -1]]);
    expect(m.cpu.gpr[1]).toBe(4);
    expect(m.cpu.gpr[7]).toBe(0x9004);
    expect(m.cpu.ripLo).toBe(KC);
    expect(m.r8(0x9003)).toBe(0xab);
    expect(m.r8(0x9004)).toBe(0);
    expect(m.cpu.drLo[6]! & 0xf).toBe(1);
  });

  it('REP STOSB: the handler returns into the REP, which finishes the remaining iterations', () => {
    const m = kernel32();
    countingHandler(m);
    bp(m, 1, 0x9003, 1, 0);
    m.cpu.gpr[0] = 0xab;
    m.cpu.gpr[1] = 8;
    m.cpu.gpr[7] = 0x9000;
    m.bytes(KC, [0xf3, 0xaa, HLT]);
    expect(m.cpu.run(20)).toBe(StopReason.Halt);
    expect(m.r32(COUNT)).toBe(1);
    expect(m.r32(SAVED_ECX)).toBe(4);
    expect(m.r32(KSTACK - 12)).toBe(KC); // the trap's return EIP: the REP STOSB
    expect(m.cpu.gpr[1]).toBe(0);
    expect(m.cpu.gpr[7]).toBe(0x9008);
    expect(m.r32(0x9004)).toBe(0xabababab);
    expect(m.cpu.ripLo).toBe(KC + 3);
    expect(m.cpu.drLo[6]! & 0xf).toBe(2);
  });

  it('REP MOVSD with a read/write breakpoint on the source: trap after the iteration that read it', () => {
    const m = kernel32();
    bp(m, 2, 0x9008, 3, 3); // read/write, 4 bytes
    m.cpu.gpr[1] = 5;
    m.cpu.gpr[6] = 0x9000;
    m.cpu.gpr[7] = 0xa000;
    m.bytes(KC, [0xf3, 0xa5, HLT]);
    m.catchEvents();
    m.cpu.run(10);
    expect(m.events).toEqual([[0, Vector.DB, -1]]);
    expect([m.cpu.gpr[1], m.cpu.gpr[6], m.cpu.gpr[7]]).toEqual([2, 0x900c, 0xa00c]);
    expect(m.cpu.ripLo).toBe(KC);
    expect(m.cpu.drLo[6]! & 0xf).toBe(4);
  });

  it('a hit in the last iteration traps after the instruction (RIP = next)', () => {
    const m = kernel32();
    bp(m, 0, 0x9003, 1, 0);
    m.cpu.gpr[1] = 4;
    m.cpu.gpr[7] = 0x9000;
    m.bytes(KC, [0xf3, 0xaa, HLT]);
    m.catchEvents();
    m.cpu.run(10);
    expect(m.events).toEqual([[0, Vector.DB, -1]]);
    expect(m.cpu.gpr[1]).toBe(0);
    expect(m.cpu.ripLo).toBe(KC + 2);
  });

  it('REP INSB: the trap follows the iteration that wrote the breakpoint byte', () => {
    const m = kernel32();
    bp(m, 0, 0x9002, 1, 0);
    m.cpu.gpr[1] = 6;
    m.cpu.gpr[2] = 0x80;
    m.cpu.gpr[7] = 0x9000;
    m.bytes(KC, [0xf3, 0x6c, HLT]);
    m.catchEvents();
    m.cpu.run(10);
    expect(m.events).toEqual([[0, Vector.DB, -1]]);
    expect(m.cpu.gpr[1]).toBe(3);
    expect(m.cpu.gpr[7]).toBe(0x9003);
    expect(m.cpu.ripLo).toBe(KC);
    expect(m.cpu.drLo[6]! & 0xf).toBe(1);
  });

  it('REP OUTSB: the trap follows the iteration that read the breakpoint byte', () => {
    const m = kernel32();
    bp(m, 3, 0x9001, 3, 0);
    m.cpu.gpr[1] = 6;
    m.cpu.gpr[2] = 0x80;
    m.cpu.gpr[6] = 0x9000;
    m.bytes(KC, [0xf3, 0x6e, HLT]);
    m.catchEvents();
    m.cpu.run(10);
    expect(m.events).toEqual([[0, Vector.DB, -1]]);
    expect(m.cpu.gpr[1]).toBe(4);
    expect(m.cpu.gpr[6]).toBe(0x9002);
    expect(m.cpu.ripLo).toBe(KC);
    expect(m.cpu.drLo[6]! & 0xf).toBe(8);
  });

  it('REP OUTSB with an I/O breakpoint on the port: the trap follows the first iteration', () => {
    const m = kernel32();
    m.cpu.cr4 |= Cr4.DE;
    bp(m, 0, 0x80, 2, 0);
    m.cpu.gpr[1] = 6;
    m.cpu.gpr[2] = 0x80;
    m.cpu.gpr[6] = 0x9000;
    m.bytes(KC, [0xf3, 0x6e, HLT]);
    m.catchEvents();
    m.cpu.run(10);
    expect(m.events).toEqual([[0, Vector.DB, -1]]);
    expect(m.cpu.gpr[1]).toBe(5);
    expect(m.cpu.ripLo).toBe(KC);
  });
});

describe('instruction breakpoints in the MOV SS / POP SS shadow', () => {
  // mov ax, 0x10; mov ss, ax; nop (KC + 6); nop (KC + 7); hlt
  const movSs = [0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd0, 0x90, 0x90, HLT];

  it('a breakpoint on the instruction after MOV SS is not reported', () => {
    const m = kernel32();
    bp(m, 0, KC + 6, 0, 0);
    m.bytes(KC, movSs);
    m.catchEvents();
    expect(m.cpu.run(10)).toBe(StopReason.Halt);
    expect(m.events).toEqual([]);
    expect(m.cpu.ripLo).toBe(KC + 9);
  });

  it('a breakpoint one instruction later faults as usual', () => {
    const m = kernel32();
    bp(m, 0, KC + 7, 0, 0);
    m.bytes(KC, movSs);
    m.catchEvents();
    m.cpu.run(10);
    expect(m.events).toEqual([[0, Vector.DB, -1]]);
    expect(m.cpu.ripLo).toBe(KC + 7);
  });

  it('POP SS blocks it too', () => {
    const m = kernel32();
    m.push32(0x10);
    // pop ss; nop (KC + 1); hlt
    bp(m, 1, KC + 1, 0, 0);
    m.bytes(KC, [0x17, 0x90, HLT]);
    m.catchEvents();
    expect(m.cpu.run(10)).toBe(StopReason.Halt);
    expect(m.events).toEqual([]);
  });

  it('STI does not block it', () => {
    const m = kernel32();
    bp(m, 0, KC + 1, 0, 0);
    m.bytes(KC, [0xfb, 0x90, HLT]);
    m.catchEvents();
    m.cpu.run(10);
    expect(m.events).toEqual([[0, Vector.DB, -1]]);
    expect(m.cpu.ripLo).toBe(KC + 1);
    expect(m.flags() & Flag.IF).toBe(Flag.IF);
  });
});
