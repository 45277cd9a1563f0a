/**
 * Task switches under PAE paging: the PDPTEs are reloaded from the new CR3 (SDM Vol. 3
 * §4.4.1), and a present PDPTE with a reserved bit makes the switch fault with #GP(0) after the
 * commit point, leaving the PDPTE registers as they were.
 */
import { describe, expect, it } from 'vitest';
import { Cr0, Cr4, Seg, StopReason, Vector } from '../src/index.js';
import { A, K_CODE, K_DATA, KC, le16, le32, type Machine, kernel32, seg } from './pm-harness.js';

const HLT = 0xf4;
const NEW = 0x6000;
const NEW_SEL = 0x70; // GDT 14
const NEW_EIP = 0x15000;
const OLD_PDPT = 0x300000;
const NEW_PDPT = 0x301020; // 32-byte aligned, not page aligned
const PD = 0x302000;
const PD2 = 0x303000;

/** PAE paging: both PDPTs map 0-4 MiB through PD (2 MiB pages); the new one also has PDPTE 1. */
function paeTask(newPdpte1Lo: number): Machine {
  const m = kernel32();
  m.w32(PD, 0x83);
  m.w32(PD + 8, 0x200000 | 0x83);
  m.w32(OLD_PDPT, PD | 1);
  m.w32(NEW_PDPT, PD | 1);
  m.w32(NEW_PDPT + 8, newPdpte1Lo);
  const c = m.cpu;
  c.cr4 |= Cr4.PAE;
  c.cr3Lo = OLD_PDPT;
  c.cr0 |= Cr0.PG;
  expect(c.walker.loadPdptes(OLD_PDPT)).toBe(true);
  c.updateMode();
  c.flushTlb(true);
  m.gdt(14, seg(NEW, 0x67, A.tss32, 0));
  m.tss32(NEW, { cr3: NEW_PDPT, eip: NEW_EIP, eflags: 2, esp: 0x7000, cs: K_CODE, ss: K_DATA, ds: K_DATA, es: K_DATA });
  m.w8(NEW_EIP, HLT);
  m.bytes(KC, [0xea, ...le32(0), ...le16(NEW_SEL)]);
  return m;
}

describe('task switch with PAE paging', () => {
  it('reloads the four PDPTE registers from the new CR3', () => {
    const m = paeTask(PD2 | 1);
    expect(m.cpu.walker.pdptes[2]).toBe(0);
    expect(m.cpu.run(5)).toBe(StopReason.Halt);
    expect(m.cpu.cr3Lo).toBe(NEW_PDPT);
    expect(m.cpu.ripLo).toBe(NEW_EIP + 1);
    expect(Array.from(m.cpu.walker.pdptes.subarray(0, 4))).toEqual([PD | 1, 0, PD2 | 1, 0]);
  });

  it('a present PDPTE with a reserved bit (bit 1): #GP(0) in the new task, PDPTEs not loaded', () => {
    const m = paeTask(PD2 | 1 | 2);
    const before = Array.from(m.cpu.walker.pdptes);
    m.catchEvents();
    m.cpu.run(5);
    expect(m.events).toEqual([[0, Vector.GP, 0]]);
    // The fault comes after the commit point: TR, CR3, EIP and ESP belong to the new task.
    expect(m.sel(Seg.TR)).toBe(NEW_SEL);
    expect(m.cpu.cr3Lo).toBe(NEW_PDPT);
    expect(m.cpu.ripLo).toBe(NEW_EIP);
    expect(m.esp()).toBe(0x7000);
    expect(Array.from(m.cpu.walker.pdptes)).toEqual(before);
  });

  it('a reserved bit in a not-present PDPTE does not fault', () => {
    const m = paeTask(0x1e6);
    expect(m.cpu.run(5)).toBe(StopReason.Halt);
    expect(m.cpu.ripLo).toBe(NEW_EIP + 1);
  });
});
