/**
 * The CPU in guest mode with second-level translation: one extension hook (`translateGpa`)
 * backed by `@hvkit/mmu`'s `SecondLevelWalker`, in the EPT format (as VT-x will use it) and in
 * the NPT format (as SVM will), with the same code. Every guest paging-structure read and the
 * final access go through it; a second-level fault stops the instruction before it changes
 * anything, with the exit information the manuals define.
 */
import { NestedAccess, NestedStatus, NpfInfoHi, SecondLevelWalker, type PageTableMemory } from '@hvkit/mmu';
import { describe, expect, it } from 'vitest';
import { CPU_VMEXIT, StopReason, type Cpu } from '../src/index.js';
import { CODE, fakeExt, Sys } from './sys-harness.js';

/** Host address = guest-physical address + OFFSET for the guest's first 4 MiB. */
const OFFSET = 0x40_0000;
const SL_ROOT = 0x90_0000;
const GUEST_PT = 0x7_0000;

interface Exit {
  status: NestedStatus;
  gpa: number;
  infoLo: number;
  infoHi: number;
}

/**
 * A guest in 64-bit mode whose 4-level page tables (2 MiB pages identity-mapping 1 GiB) live at
 * guest-physical GUEST_PT, under second-level tables (4 KiB pages) mapping guest-physical
 * 0-4 MiB to host OFFSET + gpa, except `unmapped`.
 */
function guest(format: 'ept' | 'npt', unmapped: number[] = []) {
  const s = new Sys({ ram: 16 << 20 });
  s.long64();
  // long64() built the guest tables at host GUEST_PT with guest-physical pointers that equal
  // the host addresses; copy them to where the guest's memory really is (OFFSET above).
  for (let a = GUEST_PT; a < GUEST_PT + 0x3000; a += 4) s.w32(a + OFFSET, s.r32(a));
  const host: PageTableMemory = { read32: (a) => s.r32(a), write32: (a, v) => s.w32(a, v) };
  const slw = new SecondLevelWalker(host);
  // EPT leaf: R/W/X, write-back; NPT leaf: P, R/W, U/S (every guest access is a user access).
  const [leaf, table] = format === 'ept' ? [7 | (6 << 3), 7] : [7, 7];
  let next = SL_ROOT + 0x1000;
  const entry = (tableAddr: number, index: number): number => {
    const ea = tableAddr + index * 8;
    if (s.r32(ea) === 0) {
      s.w32(ea, next | table);
      next += 0x1000;
    }
    return s.r32(ea) & ~0xfff;
  };
  for (let gpa = 0; gpa < 0x40_0000; gpa += 0x1000) {
    if (unmapped.includes(gpa)) continue;
    const pt = entry(entry(entry(SL_ROOT, 0), 0), Math.floor(gpa / 0x20_0000));
    s.w32(pt + ((gpa >>> 12) & 511) * 8, (gpa + OFFSET) | leaf);
  }
  if (format === 'ept') expect(slw.setEpt(SL_ROOT | 6 | (3 << 3), 0)).toBe(true);
  else slw.setNpt(SL_ROOT, 0, true);
  const exits: Exit[] = [];
  let walkReads = 0;
  s.cpu.ext = fakeExt(format === 'ept' ? 'vmx' : 'svm', {
    // The one hook both vendors implement: kind 0 read, 1 write, 2 fetch, +4 for page walks.
    translateGpa: (cpu: Cpu, gpa: number, kind: number) => {
      const walk = (kind & 4) !== 0;
      if (walk) walkReads++;
      const access =
        ((kind & 3) === 1 ? NestedAccess.Write : (kind & 3) === 2 ? NestedAccess.Fetch : NestedAccess.Read) | (walk ? NestedAccess.PagingStructure : 0);
      const status = slw.translate(gpa, access);
      if (status === NestedStatus.Ok) return slw.hostAddr;
      exits.push({ status, gpa: slw.faultGpa, infoLo: slw.infoLo, infoHi: slw.infoHi });
      cpu.stop();
      throw CPU_VMEXIT;
    },
  });
  s.cpu.guestMode = true;
  s.cpu.flushTlb(true);
  return { s, exits, walkReads: () => walkReads };
}

// mov dword [0x200010], 0x1234abcd ; hlt
const STORE = [0xc7, 0x04, 0x25, 0x10, 0x00, 0x20, 0x00, 0xcd, 0xab, 0x34, 0x12, 0xf4];

describe('guest mode over a second-level walker (one hook for VT-x and SVM)', () => {
  for (const format of ['ept', 'npt'] as const) {
    it(`${format.toUpperCase()}: code, page walks and data all reach host memory through the second level`, () => {
      const { s, exits, walkReads } = guest(format);
      s.code(STORE, CODE + OFFSET);
      s.cpu.ripLo = CODE;
      expect(s.run()).toBe(StopReason.Halt);
      expect(exits).toEqual([]);
      expect(s.r32(0x20_0010 + OFFSET)).toBe(0x1234abcd); // where guest-physical 0x200010 lives
      expect(s.r32(0x20_0010)).toBe(0); // not at the same host address
      expect(walkReads()).toBeGreaterThan(0); // the guest's table reads went through the hook
    });

    it(`${format.toUpperCase()}: an unmapped data page stops the store with the manuals' exit information`, () => {
      const { s, exits } = guest(format, [0x20_0000]);
      s.code(STORE, CODE + OFFSET);
      s.cpu.ripLo = CODE;
      s.run();
      expect(exits).toHaveLength(1);
      const e = exits[0]!;
      expect(e.status).toBe(NestedStatus.Violation);
      expect(e.gpa).toBe(0x20_0010);
      expect(s.r32(0x20_0010 + OFFSET)).toBe(0);
      expect(s.cpu.ripLo).toBe(CODE); // the store did not retire
      if (format === 'ept') {
        // Exit qualification (SDM Vol. 3 Table 28-7): bit 1 write; bits 3-5 clear (not present).
        expect(e.infoLo & 0x3f).toBe(0x02);
      } else {
        // EXITINFO1 (APM Vol. 2 §15.25.6): #PF code P = 0, W = 1, U = 1; bit 32 final translation.
        expect(e.infoLo & 0x7).toBe(0x6);
        expect(e.infoHi & (NpfInfoHi.FinalTranslation | NpfInfoHi.PageTableWalk)).toBe(NpfInfoHi.FinalTranslation);
      }
    });

    it(`${format.toUpperCase()}: an unmapped guest page-table page stops the walk, reported as a page-walk access`, () => {
      const { s, exits } = guest(format, [GUEST_PT + 0x1000]); // the guest's PDPT
      s.code(STORE, CODE + OFFSET);
      s.cpu.ripLo = CODE;
      s.run();
      expect(exits).toHaveLength(1);
      const e = exits[0]!;
      expect(e.status).toBe(NestedStatus.Violation);
      expect(e.gpa - (e.gpa % 0x1000)).toBe(GUEST_PT + 0x1000);
      if (format === 'ept') {
        expect(e.infoLo & 0x3f).toBe(0x01); // a read (of the guest's entry), nothing permitted
      } else {
        expect(e.infoHi & (NpfInfoHi.FinalTranslation | NpfInfoHi.PageTableWalk)).toBe(NpfInfoHi.PageTableWalk);
      }
    });
  }
});
