/**
 * `cpu.pdpteFromWalk`: legacy PAE paging of an AMD SVM guest with nested paging (AMD APM Vol. 2
 * §15.25.10 "Legacy PAE Mode"): "the guest's four PDPEs are not loaded into the processor when
 * CR3 is written. Instead, the PDPEs are accessed on demand as part of a table walk", so "illegal
 * bit combinations in the PDPEs are signaled not when CR3 is written, but when the faulting PDPE
 * is accessed as part of a table walk". Each PDPE read is a guest paging-structure access
 * (`translateGpa` access 4). Without the hook (VMX, the host) MOV to CR3 loads the PDPTE
 * registers and raises #GP(0) for an illegal one (SDM Vol. 3 §4.4.1). #PF error-code bits from
 * the APM Vol. 2 §8.4.2: P 1, R/W 2, RSVD 8.
 */
import { describe, expect, it } from 'vitest';
import { Cr0, Cr4, Vector } from '../src/index.js';
import { fakeExt, Sys } from './sys-harness.js';

const HLT = 0xf4;
const PDPT_A = 0x300020; // 32-byte aligned, not page aligned
const PDPT_B = 0x300040;
const PD = 0x301000;
const PD2 = 0x302000;
const BAD_PDPTE = PD | 1 | 2; // bit 1 is MBZ in a PAE PDPTE

interface Access {
  gpa: number;
  access: number;
}

/**
 * Flat 32-bit CPL 0 with PAE paging: PDPT_A and PDPT_B map 0-4 MiB (PDPTE 0) through PD
 * (identity 2 MiB pages); PDPT_B's PDPTE 1 (linear 1-2 GiB) sets a reserved bit, PDPTE 2 is not
 * present. PD2 maps 0-2 MiB identity and 2-4 MiB to 4-6 MiB. CR3 = PDPT_A, the PDPTE registers
 * are left zero (only the walk can find PD).
 */
function paeGuest(hook: boolean, guestMode = true): { s: Sys; accesses: Access[] } {
  const s = new Sys();
  s.flat32(0);
  s.w32(PD, 0x83);
  s.w32(PD + 8, 0x200000 | 0x83);
  s.w32(PD2, 0x83);
  s.w32(PD2 + 8, 0x400000 | 0x83);
  s.w32(PDPT_A, PD | 1);
  s.w32(PDPT_B, PD | 1);
  s.w32(PDPT_B + 8, BAD_PDPTE);
  s.w32(0x200010, 0x1111);
  s.w32(0x400010, 0x2222);
  const c = s.cpu;
  const accesses: Access[] = [];
  c.ext = fakeExt('svm', {
    translateGpa: (_c, gpa, access) => {
      accesses.push({ gpa, access });
      return gpa;
    },
  });
  c.guestMode = guestMode;
  c.pdpteFromWalk = hook;
  c.cr4 |= Cr4.PAE;
  c.cr3Lo = PDPT_A;
  c.cr0 |= Cr0.PG;
  c.updateMode();
  c.flushTlb(true);
  if (!hook || !guestMode) expect(c.walker.loadPdptes(PDPT_A)).toBe(true);
  return { s, accesses };
}

const MOV_CR3_B = [0xb8, ...le32(PDPT_B), 0x0f, 0x22, 0xd8]; // mov eax, PDPT_B ; mov cr3, eax

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

describe('legacy PAE paging with pdpteFromWalk (AMD APM §15.25.10)', () => {
  it('MOV to CR3 loads no PDPTEs and raises no #GP for an illegal one; walks read the PDPTE as a paging-structure access', () => {
    const { s, accesses } = paeGuest(true);
    // mov eax, PDPT_B ; mov cr3, eax ; mov ebx, [0x200010] ; hlt
    s.code([...MOV_CR3_B, 0x8b, 0x1d, ...le32(0x200010), HLT]);
    s.run();
    expect(s.events).toEqual([]);
    expect(s.cpu.cr3Lo).toBe(PDPT_B);
    expect(s.cpu.gpr[3]).toBe(0x1111);
    // The illegal PDPTE 1 of PDPT_B was never loaded into the PDPTE registers.
    expect(s.cpu.walker.pdptes[2]).toBe(0);
    // After the CR3 write, PDPTE 0 of the new PDPT is read through the second level as a guest
    // paging-structure read.
    expect(accesses).toContainEqual({ gpa: PDPT_B, access: 4 });
    expect(accesses.some((a) => a.gpa === PDPT_B + 8)).toBe(false);
  });

  it('the illegal PDPTE faults when a walk reaches it: #PF with P | RSVD (| R/W for a write), CR2 = the address', () => {
    for (const [insn, err] of [
      [[0x8b, 0x1d], 1 | 8], // mov ebx, [0x40000010]
      [[0x89, 0x1d], 1 | 2 | 8], // mov [0x40000010], ebx
    ] as const) {
      const { s } = paeGuest(true);
      s.code([...MOV_CR3_B, ...insn, ...le32(0x40000010), HLT]);
      s.run();
      expect(s.events).toEqual([{ vector: Vector.PF, error: err }]);
      expect(s.cpu.cr2Lo).toBe(0x40000010);
    }
  });

  it('a not-present PDPTE: #PF with P = 0', () => {
    const { s } = paeGuest(true);
    s.code([...MOV_CR3_B, 0x8b, 0x1d, ...le32(0x80000010), HLT]);
    s.run();
    expect(s.events).toEqual([{ vector: Vector.PF, error: 0 }]);
  });

  it('a PDPTE changed in memory is used by the next walk, without a CR3 write', () => {
    const { s } = paeGuest(true);
    // mov ebx, [0x200010] ; mov dword [PDPT_A], PD2 | 1 ; invlpg [0x200010] ; mov ecx, [0x200010] ; hlt
    s.code([0x8b, 0x1d, ...le32(0x200010), 0xc7, 0x05, ...le32(PDPT_A), ...le32(PD2 | 1), 0x0f, 0x01, 0x3d, ...le32(0x200010), 0x8b, 0x0d, ...le32(0x200010), HLT]);
    s.run();
    expect(s.events).toEqual([]);
    expect(s.cpu.gpr[3]).toBe(0x1111);
    expect(s.cpu.gpr[1]).toBe(0x2222);
  });

  it('without the hook (VMX) or outside guest mode: the PDPTE registers, #GP(0) for an illegal PDPTE at MOV to CR3 (SDM §4.4.1)', () => {
    for (const [hook, guestMode] of [
      [false, true],
      [true, false],
    ] as const) {
      const { s } = paeGuest(hook, guestMode);
      s.code([...MOV_CR3_B, HLT]);
      s.run();
      expect(s.events).toEqual([{ vector: Vector.GP, error: 0 }]);
      expect(s.cpu.cr3Lo).toBe(PDPT_A);
    }
    // With the registers, a PDPTE changed in memory is not seen until CR3 is written again.
    const { s } = paeGuest(false);
    s.code([0x8b, 0x1d, ...le32(0x200010), 0xc7, 0x05, ...le32(PDPT_A), ...le32(PD2 | 1), 0x0f, 0x01, 0x3d, ...le32(0x200010), 0x8b, 0x0d, ...le32(0x200010), HLT]);
    s.run();
    expect(s.cpu.gpr[1]).toBe(0x1111);
  });
});
