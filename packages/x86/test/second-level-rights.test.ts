/**
 * Second-level rights in the TLB (guest mode): the extension's `translateGpa` reports in
 * `cpu.slRights` which kinds of access (bit 0 read, 1 write, 2 execute) its second-level mapping
 * grants for the page, and the core installs no TLB right beyond them, so a translation filled
 * by one kind of access never lets another kind bypass the second level (EPT: SDM Vol. 3C
 * §28.3.3.2 "EPT Violations", §28.4.1 "Information That May Be Cached": combined mappings carry
 * the EPT rights). Checked with paging off (unrestricted guest), 4 KiB-style fills under 2 MiB
 * guest pages, and an extension that never lowers the rights (all of them stay).
 */
import { describe, expect, it } from 'vitest';
import { CPU_VMEXIT, Vector, type Cpu } from '../src/index.js';
import { CODE, fakeExt, Sys } from './sys-harness.js';

interface Call {
  gpa: number;
  kind: number;
}

/**
 * A guest-mode CPU whose extension grants `rights[page]` (default 7) for guest-physical 4 KiB
 * pages and "exits" (records the call, throws CPU_VMEXIT) on an access its rights refuse.
 * `report` false: the extension never writes slRights (an extension without the notion).
 */
function guest(mode: 'flat32' | 'long64', rights: Record<number, number>, report = true) {
  const s = new Sys();
  if (mode === 'flat32') s.flat32();
  else s.long64();
  const calls: Call[] = [];
  const exits: Call[] = [];
  s.cpu.ext = fakeExt('vmx', {
    translateGpa: (cpu: Cpu, gpa: number, kind: number) => {
      if ((kind & 4) !== 0) return gpa; // guest paging-structure accesses: all allowed
      calls.push({ gpa, kind });
      const r = rights[Math.floor(gpa / 4096)] ?? 7;
      const need = kind === 1 ? 2 : kind === 2 ? 4 : 1;
      if ((r & need) === 0) {
        exits.push({ gpa, kind });
        cpu.stop();
        throw CPU_VMEXIT;
      }
      if (report) cpu.slRights = r;
      return gpa;
    },
  });
  s.cpu.guestMode = true;
  s.cpu.flushTlb(true);
  return { s, calls, exits };
}

/** mov eax, [a] / mov [a], eax: 32-bit absolute (ModRM 05) or 64-bit absolute (SIB 25) forms. */
const load32 = (a: number): number[] => [0x8b, 0x05, ...le32(a)];
const store32 = (a: number): number[] => [0x89, 0x05, ...le32(a)];
const load64 = (a: number): number[] => [0x8b, 0x04, 0x25, ...le32(a)];
const store64 = (a: number): number[] => [0x89, 0x04, 0x25, ...le32(a)];
const le32 = (a: number): number[] => [a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24];
/** mov eax, a; jmp eax (jmp rax in 64-bit mode). */
const jmpTo = (a: number): number[] => [0xb8, ...le32(a), 0xff, 0xe0];
const HLT = 0xf4;

describe('second-level rights AND the TLB rights (cpu.slRights)', () => {
  it('paging off: a write after a read of a read-only page asks the extension again, which refuses it', () => {
    const { s, exits } = guest('flat32', { 0x50: 1 });
    s.code([...load32(0x50010), ...store32(0x50010), HLT]);
    s.run();
    expect(exits).toEqual([{ gpa: 0x50010, kind: 1 }]);
    // The store did not happen; RIP is at the store (fault-like).
    expect(s.cpu.ripLo).toBe(CODE + 6);
  });

  it('paging off: a fetch after a read of a not-executable page asks the extension again', () => {
    const { s, exits } = guest('flat32', { 0x52: 3 });
    s.bytes(0x52000, [HLT]);
    s.code([...load32(0x52000), ...jmpTo(0x52000)]);
    s.run();
    expect(exits).toEqual([{ gpa: 0x52000, kind: 2 }]);
  });

  it('paging off: a read after a fetch from an execute-only page asks the extension again', () => {
    const { s, exits } = guest('flat32', { 0x52: 4 });
    s.bytes(0x52000, [...load32(0x52010), HLT]);
    s.code(jmpTo(0x52000));
    s.run();
    expect(exits).toEqual([{ gpa: 0x52010, kind: 0 }]);
  });

  it('2 MiB guest pages (already dirty): a write after a read of a read-only page asks again', () => {
    const { s, exits } = guest('long64', { 0x51: 1 });
    // Make the guest's 2 MiB mapping dirty first through another of its 4 KiB pages.
    s.code([...store64(0x56000), ...load64(0x51008), ...store64(0x51008), HLT]);
    s.run();
    expect(exits).toEqual([{ gpa: 0x51008, kind: 1 }]);
  });

  it('rights granted stay cached: a write after a read of a read/write page does not ask again', () => {
    const { s, calls, exits } = guest('flat32', { 0x50: 3 });
    s.code([...load32(0x50010), ...store32(0x50010), ...load32(0x50020), HLT]);
    s.run();
    expect(exits).toEqual([]);
    expect(s.r32(0x50010)).toBe(s.cpu.gpr[0]! >>> 0);
    expect(calls.filter((c) => c.gpa >= 0x50000 && c.gpa < 0x51000)).toEqual([{ gpa: 0x50010, kind: 0 }]);
  });

  it('an extension that never lowers slRights keeps every right (the default 7)', () => {
    const { s, calls } = guest('flat32', {}, false);
    s.code([...load32(0x50010), ...store32(0x50010), HLT]);
    s.run();
    expect(calls.filter((c) => c.gpa >= 0x50000 && c.gpa < 0x51000)).toEqual([{ gpa: 0x50010, kind: 0 }]);
  });
});

describe('gvaValid', () => {
  it('is false after a guest #PF, so a later physical access (a PDPTE load) reports no linear address', () => {
    const { s } = guest('long64', {});
    // 40000000H is beyond the 1 GiB the guest's tables map: #PF.
    s.code([...load64(0x4000_0000), HLT]);
    s.run();
    expect(s.fault?.vector).toBe(Vector.PF);
    expect(s.cpu.gvaValid).toBe(false);
  });
});

/**
 * A VM exit on the write of a descriptor's accessed flag (a GDT the second level maps read-only,
 * as a hypervisor logging dirty pages does) must find the state of before the instruction or
 * event: nothing committed yet (SDM Vol. 3C §27.3.3; the same holds for a #PF on that write).
 * Flat 32-bit protected mode at CPL 0, GDT at 30000H (read-only at the second level): 08H the
 * current code segment, 10H data, 18H a code segment whose accessed flag is clear, 20H a 32-bit
 * call gate to 18H:10100H; IDT at 31000H with vector 40H an interrupt gate to 18H:10100H.
 */
describe('accessed-flag writes that exit leave the state of before the instruction', () => {
  const GDT = 0x30000;
  const IDT = 0x31000;
  const TARGET = 0x10100;
  function setup() {
    const g = guest('flat32', { 0x30: 5 });
    const { s } = g;
    s.desc(GDT, 1, 0, 0xfffff, 0x9b);
    s.desc(GDT, 2, 0, 0xfffff, 0x93);
    s.desc(GDT, 3, 0, 0xfffff, 0x9a); // accessed flag (bit 8 of the access byte's type) clear
    s.w32(GDT + 0x20, (0x18 << 16) | (TARGET & 0xffff));
    s.w32(GDT + 0x24, (TARGET & 0xffff0000) | 0x8c00);
    s.w32(IDT + 0x40 * 8, (0x18 << 16) | (TARGET & 0xffff));
    s.w32(IDT + 0x40 * 8 + 4, (TARGET & 0xffff0000) | 0x8e00);
    const c = s.cpu;
    c.gdtrBaseLo = GDT;
    c.gdtrLimit = 0xff;
    c.idtrBaseLo = IDT;
    c.idtrLimit = 0x7ff;
    c.gpr[4] = 0x8000;
    s.bytes(TARGET, [HLT]);
    return g;
  }
  function expectUnchanged(g: ReturnType<typeof setup>, esp = 0x8000): void {
    const c = g.s.cpu;
    expect(g.exits).toEqual([{ gpa: GDT + 0x1c, kind: 1 }]);
    expect(g.s.events).toEqual([]);
    expect(c.gpr[4]).toBe(esp);
    expect(c.segSel[1]).toBe(0x08);
    expect(c.ripLo).toBe(CODE);
    expect(g.s.r32(GDT + 0x1c) & 0x100).toBe(0);
  }

  it('INT n through an interrupt gate (same privilege)', () => {
    const g = setup();
    g.s.cpu.onEvent = null;
    g.s.code([0xcd, 0x40]);
    g.s.run();
    expectUnchanged(g);
    expect(g.s.cpu.vectoringInfo).toBe(0);
  });

  it('CALL far to a code segment', () => {
    const g = setup();
    g.s.code([0x9a, ...le32(TARGET), 0x18, 0x00]);
    g.s.run();
    expectUnchanged(g);
  });

  it('CALL far through a call gate (same privilege)', () => {
    const g = setup();
    g.s.code([0x9a, 0, 0, 0, 0, 0x20, 0x00]);
    g.s.run();
    expectUnchanged(g);
  });

  it('RET far', () => {
    const g = setup();
    g.s.w32(0x7ff8, TARGET);
    g.s.w32(0x7ffc, 0x18);
    g.s.cpu.gpr[4] = 0x7ff8;
    g.s.code([0xcb]);
    g.s.run();
    expectUnchanged(g, 0x7ff8);
  });

  it('IRET (same privilege)', () => {
    const g = setup();
    g.s.w32(0x7ff4, TARGET);
    g.s.w32(0x7ff8, 0x18);
    g.s.w32(0x7ffc, 0x2);
    g.s.cpu.gpr[4] = 0x7ff4;
    g.s.code([0xcf]);
    g.s.run();
    expectUnchanged(g, 0x7ff4);
  });

  it('INT n from CPL 3 through an interrupt gate to CPL 0 (stack switch): SS:ESP and CS stay', () => {
    const g = guest('flat32', { 0x30: 5 });
    const { s } = g;
    const c = s.cpu;
    s.flat32(3);
    s.desc(GDT, 2, 0, 0xfffff, 0x93); // SS0 = 10H
    s.desc(GDT, 6, 0, 0xfffff, 0x9a); // 30H: the handler's code segment, accessed flag clear
    s.w32(IDT + 0x40 * 8, (0x30 << 16) | (TARGET & 0xffff));
    s.w32(IDT + 0x40 * 8 + 4, (TARGET & 0xffff0000) | 0xee00); // DPL 3 interrupt gate
    s.w32(0x9004, 0x7000); // TSS ESP0
    s.w32(0x9008, 0x10); // TSS SS0
    c.gdtrBaseLo = GDT;
    c.gdtrLimit = 0xff;
    c.idtrBaseLo = IDT;
    c.idtrLimit = 0x7ff;
    c.onEvent = null;
    s.code([0xcd, 0x40]);
    s.run();
    expect(g.exits).toEqual([{ gpa: GDT + 0x34, kind: 1 }]);
    expect(c.gpr[4]).toBe(0x8000);
    expect(c.segSel[2]).toBe(0x23);
    expect(c.segSel[1]).toBe(0x1b);
    expect(c.ripLo).toBe(CODE);
  });

  it('with the GDT writable the same CALL far completes and sets the accessed flag', () => {
    const g = setup();
    g.s.code([0x9a, ...le32(TARGET), 0x18, 0x00]);
    // Make the GDT page writable again at the second level for this run.
    const ext = g.s.cpu.ext!;
    const inner = ext.translateGpa.bind(ext);
    ext.translateGpa = (cpu, gpa, kind) => (Math.floor(gpa / 4096) === 0x30 ? gpa : inner(cpu, gpa, kind));
    g.s.run();
    expect(g.exits).toEqual([]);
    expect(g.s.cpu.segSel[1]).toBe(0x18);
    expect(g.s.cpu.gpr[4]).toBe(0x8000 - 8);
    expect(g.s.r32(GDT + 0x1c) & 0x100).toBe(0x100);
  });
});
