/**
 * Paging through the CPU (the walker itself is tested in @hvkit/mmu): #PF error codes and CR2,
 * A/D updates, and the TLB rules of MOV CR3, CR4.PGE, INVLPG and PCIDs (SDM Vol. 3 §4.7, §4.8,
 * §4.10.4).
 */
import { describe, expect, it } from 'vitest';
import { Cr0, Cr4, Efer, Flag, Seg, SegAttr, Vector } from '../src/index.js';
import { ATTR, PageTables, Sys, type PagingKind } from './sys-harness.js';

const PF = Vector.PF;
const READ = [0x8b, 0x03]; // mov eax, [rbx]
const WRITE = [0x89, 0x03]; // mov [rbx], eax
const FETCH = [0xff, 0xe3]; // jmp rbx
const UD2 = [0x0f, 0x0b];
const DATA = 0x200000;

/** Legacy or PAE paging in flat 32-bit mode: the first 4 MiB identity-mapped with 4 KiB pages. */
function legacy(kind: 'legacy' | 'pae', cpl: number, flags = cpl === 3 ? 7 : 3, cr4 = 0): { s: Sys; pt: PageTables } {
  const s = new Sys().flat32(cpl);
  const pt = new PageTables(s, kind, 0x400000);
  for (let i = 0; i < 1024; i++) pt.map(BigInt(i) << 12n, i << 12, flags);
  s.cpu.cr3Lo = 0x400000;
  s.cpu.cr4 = cr4 | (kind === 'pae' ? Cr4.PAE : 0);
  if (kind === 'pae') expect(s.cpu.walker.loadPdptes(0x400000)).toBe(true);
  s.cpu.cr0 |= Cr0.PG;
  s.cpu.updateMode();
  s.cpu.flushTlb(true);
  return { s, pt };
}

/** IA-32e paging (4- or 5-level) in 64-bit mode: the first 16 MiB identity-mapped with 2 MiB pages. */
function long(kind: 'l4' | 'l5', cpl = 0, cr4 = 0): { s: Sys; pt: PageTables } {
  const s = new Sys({ ram: 32 << 20 });
  const pt = new PageTables(s, kind, 0x1000000);
  for (let i = 0; i < 8; i++) pt.map(BigInt(i) * 0x200000n, i * 0x200000, cpl === 3 ? 7 : 3, '2m');
  const c = s.cpu;
  c.cr3Lo = 0x1000000;
  c.cr4 = Cr4.PAE | cr4 | (kind === 'l5' ? Cr4.LA57 : 0);
  c.efer = Efer.LME | Efer.LMA | Efer.NXE;
  c.cr0 |= Cr0.PE | Cr0.PG;
  const dpl = cpl << SegAttr.DplShift;
  c.setSegmentRaw(Seg.CS, cpl === 0 ? 8 : 0x33, 0, 0xffffffff, ATTR.code64 | dpl);
  c.setSegmentRaw(Seg.SS, cpl === 0 ? 0x10 : 0x2b, 0, 0xffffffff, ATTR.data | dpl);
  c.gpr[4] = 0x8000;
  c.updateMode();
  c.flushTlb(true);
  return { s, pt };
}

function access(s: Sys, code: number[], addrLo: number, addrHi = 0): void {
  s.cpu.gpr[3] = addrLo;
  s.cpu.gprHi[3] = addrHi;
  s.events.length = 0;
  s.code([...code, ...UD2]);
  s.run(20);
}

describe('#PF error codes and CR2', () => {
  it('32-bit paging: not present, write to read-only, user access to a supervisor page', () => {
    const { s, pt } = legacy('legacy', 3);
    pt.map(BigInt(DATA), DATA, 0); // not present
    access(s, READ, DATA + 0x10);
    expect(s.fault).toEqual({ vector: PF, error: 4 });
    expect(s.cpu.cr2Lo).toBe(DATA + 0x10);
    access(s, WRITE, DATA + 0x20);
    expect(s.fault).toEqual({ vector: PF, error: 6 });
    pt.map(BigInt(DATA + 0x1000), DATA + 0x1000, 5); // user, read-only
    access(s, WRITE, DATA + 0x1004);
    expect(s.fault).toEqual({ vector: PF, error: 7 });
    expect(s.cpu.cr2Lo).toBe(DATA + 0x1004);
    pt.map(BigInt(DATA + 0x2000), DATA + 0x2000, 3); // supervisor
    access(s, READ, DATA + 0x2000);
    expect(s.fault).toEqual({ vector: PF, error: 5 });
    access(s, READ, DATA + 0x1000);
    expect(s.fault?.vector).toBe(Vector.UD); // readable: reached the UD2
  });

  it('CR0.WP decides whether supervisor writes honour R/W', () => {
    const { s, pt } = legacy('legacy', 0);
    pt.map(BigInt(DATA), DATA, 1);
    access(s, WRITE, DATA);
    expect(s.fault?.vector).toBe(Vector.UD);
    s.cpu.gpr[0] = (s.cpu.cr0 | Cr0.WP) | 0;
    s.code([0x0f, 0x22, 0xc0, 0xf4]); // mov cr0, eax (flushes: WP changed)
    s.run(5);
    access(s, WRITE, DATA + 8);
    expect(s.fault).toEqual({ vector: PF, error: 3 });
  });

  it('PSE: 4 MiB pages translate with CR4.PSE', () => {
    const { s, pt } = legacy('legacy', 0, 3, Cr4.PSE);
    pt.map(0x800000n, 0x400000, 3, '4m');
    s.w32(0x400123, 0xcafe);
    access(s, READ, 0x800123);
    expect(s.cpu.gpr[0]).toBe(0xcafe);
  });

  it('PAE: execute-disable pages (NXE) fault fetches with I/D; reserved bits set RSVD', () => {
    const { s, pt } = legacy('pae', 0);
    s.cpu.efer = Efer.NXE;
    s.cpu.updateMode();
    pt.map(BigInt(DATA), DATA, 0x8000000000000003n);
    access(s, FETCH, DATA);
    expect(s.fault).toEqual({ vector: PF, error: 0x11 });
    expect(s.cpu.cr2Lo).toBe(DATA);
    pt.map(BigInt(DATA + 0x1000), DATA + 0x1000, 0x0008000000000003n); // bit 51 >= MAXPHYADDR
    access(s, READ, DATA + 0x1000);
    expect(s.fault).toEqual({ vector: PF, error: 0x9 });
    s.cpu.efer = 0; // without NXE, bit 63 is reserved too
    s.cpu.updateMode();
    access(s, READ, DATA);
    expect(s.fault).toEqual({ vector: PF, error: 0x9 });
  });

  it('SMEP faults supervisor fetches from user pages; SMAP faults supervisor reads unless EFLAGS.AC', () => {
    const { s, pt } = legacy('legacy', 0, 3, Cr4.SMEP | Cr4.SMAP);
    pt.map(BigInt(DATA), DATA, 7);
    access(s, FETCH, DATA);
    expect(s.fault).toEqual({ vector: PF, error: 0x11 });
    access(s, READ, DATA);
    expect(s.fault).toEqual({ vector: PF, error: 0x1 });
    access(s, [0x0f, 0x01, 0xcb, ...READ], DATA); // stac; read
    expect(s.fault?.vector).toBe(Vector.UD);
    expect(s.cpu.getEflags() & Flag.AC).toBe(Flag.AC);
  });

  it('sets the accessed flag on reads and the dirty flag on writes', () => {
    const { s, pt } = legacy('legacy', 0);
    const e = pt.map(BigInt(DATA), DATA, 3);
    access(s, READ, DATA);
    expect(Number(pt.entry(e)) & 0x60).toBe(0x20);
    access(s, WRITE, DATA);
    expect(Number(pt.entry(e)) & 0x60).toBe(0x60);
  });
});

describe('TLB maintenance', () => {
  it('MOV CR3 drops non-global translations but keeps global ones; INVLPG drops a global one', () => {
    const { s, pt } = legacy('legacy', 0, 3, Cr4.PGE);
    const g = pt.map(BigInt(DATA), 0x300000, 0x103); // global
    const n = pt.map(BigInt(DATA + 0x1000), 0x301000, 0x3);
    s.w32(0x300000, 0xaaaa);
    s.w32(0x301000, 0xbbbb);
    s.w32(0x302000, 0xcccc);
    access(s, READ, DATA);
    access(s, READ, DATA + 0x1000);
    pt.setEntry(g, 0x302103n);
    pt.setEntry(n, 0x302003n);
    s.cpu.gpr[0] = s.cpu.cr3Lo;
    access(s, [0x0f, 0x22, 0xd8, ...READ], DATA); // mov cr3, eax; read the global page
    expect(s.cpu.gpr[0]).toBe(0xaaaa); // stale: the global entry survived
    access(s, READ, DATA + 0x1000);
    expect(s.cpu.gpr[0]).toBe(0xcccc); // re-walked
    s.cpu.gpr[0] = DATA;
    access(s, [0x0f, 0x01, 0x38, ...READ], DATA); // invlpg [eax]; read
    expect(s.cpu.gpr[0]).toBe(0xcccc);
  });

  it('toggling CR4.PGE flushes global translations too', () => {
    const { s, pt } = legacy('legacy', 0, 3, Cr4.PGE);
    const g = pt.map(BigInt(DATA), 0x300000, 0x103);
    s.w32(0x300000, 1);
    s.w32(0x302000, 2);
    access(s, READ, DATA);
    pt.setEntry(g, 0x302103n);
    s.cpu.gpr[0] = 0;
    access(s, [0x0f, 0x22, 0xe0, ...READ], DATA); // mov cr4, eax (PGE off)
    expect(s.cpu.gpr[0]).toBe(2);
  });

  it('PCIDs: MOV CR3 with bit 63 and the same PCID keeps translations; without it they are flushed', () => {
    const { s, pt } = long('l4', 0, Cr4.PCIDE);
    const va = 0x40000000;
    const e = pt.map(BigInt(va), 0x300000, 3);
    s.w32(0x300000, 0x1111);
    s.w32(0x301000, 0x2222);
    s.cpu.cr3Lo = 0x1000000 | 1;
    s.cpu.flushTlb(true);
    access(s, READ, va);
    expect(s.cpu.gpr[0]).toBe(0x1111);
    pt.setEntry(e, 0x301003n);
    s.cpu.gpr[0] = 0x1000000 | 1;
    s.cpu.gprHi[0] = 0x8000_0000 | 0;
    access(s, [0x0f, 0x22, 0xd8, ...READ], va);
    expect(s.cpu.gpr[0]).toBe(0x1111);
    expect(s.cpu.cr3Hi).toBe(0);
    s.cpu.gpr[0] = 0x1000000 | 1;
    s.cpu.gprHi[0] = 0;
    access(s, [0x0f, 0x22, 0xd8, ...READ], va);
    expect(s.cpu.gpr[0]).toBe(0x2222);
  });

  it('INVPCID type 0 drops one address; type 2 drops global translations', () => {
    const { s, pt } = long('l4', 0, Cr4.PCIDE | Cr4.PGE);
    const va = 0x40000000;
    const e = pt.map(BigInt(va), 0x300000, 0x103);
    s.w32(0x300000, 0x1111);
    s.w32(0x301000, 0x2222);
    access(s, READ, va);
    pt.setEntry(e, 0x301103n);
    s.w64(0x500, 0n);
    s.w64(0x508, BigInt(va));
    s.cpu.gpr[0] = 2;
    s.cpu.gpr[1] = 0x500;
    access(s, [0x66, 0x0f, 0x38, 0x82, 0x01, ...READ], va); // invpcid rax, [rcx]
    expect(s.cpu.gpr[0]).toBe(0x2222);
  });
});

describe('IA-32e paging', () => {
  for (const kind of ['l4', 'l5'] as PagingKind[]) {
    it(`${kind}: translates a 4 KiB page and reports not-present faults with CR2 (64 bits)`, () => {
      const { s, pt } = long(kind as 'l4' | 'l5');
      // Bit 48 set: canonical only with 5-level paging (bits 63:57 then follow bit 56 = 0).
      const hi = kind === 'l5' ? 0x10000 : 0x7f;
      pt.map((BigInt(hi) << 32n) | 0x1000n, 0x300000, 3);
      s.w32(0x300010, 0x5a5a);
      access(s, READ, 0x1010, hi);
      expect(s.fault?.vector).toBe(Vector.UD);
      expect(s.cpu.gpr[0]).toBe(0x5a5a);
      access(s, WRITE, 0x2010, hi);
      expect(s.fault).toEqual({ vector: PF, error: 2 });
      expect([s.cpu.cr2Lo, s.cpu.cr2Hi]).toEqual([0x2010, hi]);
    });
  }

  it('4-level paging: an address with bit 48 set is non-canonical (#GP)', () => {
    const { s } = long('l4');
    access(s, READ, 0x1010, 0x10000);
    expect(s.fault).toEqual({ vector: Vector.GP, error: 0 });
  });

  it('1 GiB pages map through a PDPTE', () => {
    const { s, pt } = long('l4');
    pt.map(0x80000000n, 0x0, 3, '1g');
    s.w32(0x123450, 0x77);
    access(s, READ, (0x80000000 + 0x123450) | 0);
    expect(s.cpu.gpr[0]).toBe(0x77);
  });
});
