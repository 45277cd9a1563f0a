/**
 * The extension hooks for access-size-dependent second-level outcomes (guest mode):
 * `cpu.accessSize` gives `translateGpa` the size of the data access being translated (0 for
 * fetches and other unsized translations), an extension may redirect the access to another
 * host-physical address with `slRights` = 0 (never cached), and `cpu.endOperation` ends a REP
 * string instruction after the current iteration (VMX use: SDM Vol. 3C §29.4.2/§29.4.3
 * "virtualizing" APIC-access-page accesses, each REP iteration an "operation", §29.4).
 */
import { describe, expect, it } from 'vitest';
import { Reg, type Cpu } from '../src/index.js';
import { CODE, fakeExt, Sys } from './sys-harness.js';

const le32 = (a: number): number[] => [a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24];
const HLT = 0xf4;
const PAGE = 0x50000;
const OTHER = 0x60000;

interface Call {
  gpa: number;
  kind: number;
  size: number;
}

/** A flat 32-bit guest whose extension records every final translation and redirects PAGE to OTHER, uncached. */
function guest(endOperation = false) {
  const s = new Sys().flat32();
  const calls: Call[] = [];
  s.cpu.ext = fakeExt('vmx', {
    translateGpa: (cpu: Cpu, gpa: number, kind: number) => {
      if ((kind & 4) !== 0) return gpa;
      calls.push({ gpa, kind, size: cpu.accessSize });
      if (gpa - (gpa % 4096) !== PAGE) return gpa;
      cpu.slRights = 0;
      if (endOperation && kind === 1) cpu.endOperation = true;
      return OTHER + (gpa % 4096);
    },
  });
  s.cpu.guestMode = true;
  s.cpu.flushTlb(true);
  return { s, calls };
}

describe('cpu.accessSize and redirected, uncached translations', () => {
  it('reports 1, 2, 4 and 8 for sized reads and writes, 0 for fetches; every access of an uncached page asks again', () => {
    const { s, calls } = guest();
    s.w32(OTHER + 0x10, 0x11223344);
    s.code([
      0x8a, 0x05, ...le32(PAGE + 0x10), // mov al, [PAGE+10h]
      0x66, 0x8b, 0x05, ...le32(PAGE + 0x10), // mov ax, [PAGE+10h]
      0x8b, 0x1d, ...le32(PAGE + 0x10), // mov ebx, [PAGE+10h]
      0x0f, 0x6f, 0x05, ...le32(PAGE + 0x10), // movq mm0, [PAGE+10h]
      0xc7, 0x05, ...le32(PAGE + 0x20), ...le32(0x55), // mov dword [PAGE+20h], 55h
      HLT,
    ]);
    s.run();
    const page = calls.filter((c) => c.gpa >= PAGE && c.gpa < PAGE + 4096);
    expect(page).toEqual([
      { gpa: PAGE + 0x10, kind: 0, size: 1 },
      { gpa: PAGE + 0x10, kind: 0, size: 2 },
      { gpa: PAGE + 0x10, kind: 0, size: 4 },
      { gpa: PAGE + 0x10, kind: 0, size: 8 },
      { gpa: PAGE + 0x20, kind: 1, size: 4 },
    ]);
    expect(calls.find((c) => c.kind === 2)?.size).toBe(0);
    expect(s.cpu.gpr[Reg.RBX]! >>> 0).toBe(0x11223344); // read from the redirected address
    expect(s.r32(OTHER + 0x20)).toBe(0x55);
    expect(s.r32(PAGE + 0x20)).toBe(0);
  });
});

describe('cpu.endOperation', () => {
  /** mov edi, PAGE; mov ecx, 3; cld; rep stosd (at CODE + 11) */
  const repStos = [0xbf, ...le32(PAGE), 0xb9, 3, 0, 0, 0, 0xfc, 0xf3, 0xab, HLT];

  it('set during an iteration, a REP string instruction stops after it (not retired, RIP at it), then resumes', () => {
    const { s } = guest(true);
    s.code(repStos);
    s.cpu.run(4); // MOV, MOV, CLD, then one dispatch of REP STOSD
    expect(s.cpu.ripLo).toBe(CODE + 11);
    expect(s.cpu.gpr[Reg.RCX]).toBe(2);
    expect(s.cpu.endOperation).toBe(false); // the REP loop consumed it
    s.run();
    expect(s.cpu.gpr[Reg.RCX]).toBe(0);
    expect(s.cpu.ripLo).toBe(CODE + 14);
  });

  it('unset, the iterations run in one dispatch', () => {
    const { s } = guest(false);
    s.code(repStos);
    s.cpu.run(4);
    expect(s.cpu.gpr[Reg.RCX]).toBe(0);
  });
});
