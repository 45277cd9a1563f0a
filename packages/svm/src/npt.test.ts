/**
 * Nested paging and ASIDs (npt.ts). The world switch is reduced to what npt.ts sees (the guest
 * context is the host's own long-mode context; `enter` does what VMRUN does for npt.ts: the host
 * save area holds the host's EFER/CR4, the cached controls are set, guest mode on, nptActivate);
 * #VMEXIT(NPF) is observed at `recordPendingExit` (mocked: it records its arguments and stops the
 * CPU), so these tests need nothing of vmrun.ts/vmexit.ts. Expected values from the APM Vol. 2:
 * §15.25.5 (nested walk: user accesses, guest page-table accesses are user writes), §15.25.6
 * (#NPF EXITINFO1/EXITINFO2), §15.16 (ASIDs, TLB_CONTROL, FlushByAsid), Vol. 3 INVLPGA; the
 * #PF error-code bits from Vol. 2 §8.4.2 (P 1, R/W 2, U/S 4, RSVD 8, I/D 16).
 */
import { Cr0, Cr4, Efer } from '@hvkit/x86';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AsidContexts, invalidateAsidPage, nptActivate, nptTranslate } from './npt.js';
import type { SvmCpu } from './svm.js';
import type * as VmexitModule from './vmexit.js';
import { GUEST_CODE, HSAVE_AT, PT_ROOT, SvmMachine, VMCB_AT } from './test-harness.js';
import { VmcbOffset } from './vmcb.js';

const exits = vi.hoisted(() => ({ calls: [] as number[][] }));
vi.mock('./vmexit.js', async (importOriginal) => {
  const orig = await importOriginal<typeof VmexitModule>();
  return {
    ...orig,
    recordPendingExit: (svm: SvmCpu, cpu: { stop(): void }, code: number, i1lo: number, i1hi: number, i2lo: number, i2hi: number): void => {
      void svm;
      exits.calls.push([code, i1lo, i1hi, i2lo, i2hi]);
      cpu.stop();
    },
  };
});

const NPF = 0x400;
/** #PF error-code bits (APM Vol. 2 §8.4.2). */
const P = 1;
const W = 2;
const U = 4;
const RSVD = 8;
const ID = 16;
/** EXITINFO1 bit 32 (final guest-physical translation) and bit 33 (guest page-table access), as high-half bits. */
const FINAL = 1;
const TABLE = 2;

const DATA = 0x30_0000;
const NPT_A = 0x40_0000;
const NPT_B = 0x48_0000;
const HPA_A = 0x50_0000;
const HPA_B = 0x60_0000;

/** Nested page tables (host long-mode format) at `root`: 2 MiB identity pages for 0-16 MiB, split into 4 KiB pages on demand. */
class Npt {
  private next: number;
  constructor(
    readonly m: SvmMachine,
    readonly root: number,
  ) {
    m.fill(root, 0x3000);
    this.next = root + 0x3000;
    m.w64(root, BigInt(root + 0x1000) | 7n);
    m.w64(root + 0x1000, BigInt(root + 0x2000) | 7n);
    for (let i = 0; i < 8; i++) m.w64(root + 0x2000 + i * 8, BigInt(i * 0x20_0000) | 0x87n);
  }
  /** The PTE address for `gpa` (splitting its 2 MiB page into identity 4 KiB pages first). */
  pte(gpa: number): number {
    const pde = this.root + 0x2000 + Math.floor(gpa / 0x20_0000) * 8;
    const e = this.m.r64(pde);
    if ((e & 0x80n) !== 0n) {
      const pt = this.next;
      this.next += 0x1000;
      const base = Math.floor(gpa / 0x20_0000) * 0x20_0000;
      for (let i = 0; i < 512; i++) this.m.w64(pt + i * 8, BigInt(base + i * 0x1000) | 7n);
      this.m.w64(pde, BigInt(pt) | 7n);
    }
    const pt = Number(this.m.r64(pde) & 0xf_ffff_ffff_f000n);
    return pt + ((gpa >>> 12) & 511) * 8;
  }
  map(gpa: number, hpa: number, flags: bigint = 7n): this {
    this.m.w64(this.pte(gpa), BigInt(hpa) | flags);
    return this;
  }
  /** Sets raw bits in the PTE of `gpa`. */
  set(gpa: number, bits: bigint): this {
    const a = this.pte(gpa);
    this.m.w64(a, this.m.r64(a) | bits);
    return this;
  }
}

interface Entry {
  /** The host's CR4 and EFER as VMRUN saved them (default: the core's, i.e. a long-mode host). */
  hostCr4?: number;
  hostEfer?: number;
  asid?: number;
  ncr3?: number;
  np?: boolean;
  tlbControl?: number;
}

/** What VMRUN does for npt.ts: host EFER/CR4 in the host save area, controls cached, guest mode, nptActivate. */
function enter(m: SvmMachine, e: Entry): void {
  const { cpu, svm } = m;
  m.w32(HSAVE_AT + VmcbOffset.Efer, e.hostEfer ?? cpu.efer);
  m.w32(HSAVE_AT + VmcbOffset.Cr4, e.hostCr4 ?? cpu.cr4);
  svm.asid = e.asid ?? 1;
  svm.npEnable = e.np === false ? 0 : 1;
  svm.nCr3Lo = e.ncr3 ?? NPT_A;
  svm.nCr3Hi = 0;
  svm.tlbControl = e.tlbControl ?? 0;
  cpu.guestMode = true;
  nptActivate(svm, cpu);
  cpu.contextChanged();
}

/** What #VMEXIT does for npt.ts: the host's TLB bank. */
function leave(m: SvmMachine): void {
  m.cpu.guestMode = false;
  m.cpu.selectTlbBank(0);
  m.cpu.contextChanged();
}

/** Runs guest `code` at GUEST_CODE with RBX = `rbx` until HLT (or an #NPF stops it). */
function runGuest(m: SvmMachine, e: Entry, code: readonly number[], rbx = DATA): void {
  enter(m, e);
  m.setReg(3, rbx);
  m.code(code, GUEST_CODE);
  m.cpu.run(1000);
}

const LOAD = [0x48, 0x8b, 0x03, 0xf4]; // mov rax, [rbx]; hlt
const STORE = [0x48, 0x89, 0x03, 0xf4]; // mov [rbx], rax; hlt
const JMP_RBX = [0xff, 0xe3]; // jmp rbx

function machine(): SvmMachine {
  const m = new SvmMachine({ ram: 16 << 20 }).long64().enableSvm();
  m.cpu.efer |= Efer.NXE;
  m.cpu.updateMode();
  exits.calls.length = 0;
  return m;
}

describe('nested translation (APM §15.25.5)', () => {
  let m: SvmMachine;
  beforeEach(() => {
    m = machine();
  });

  it('without NP_ENABLE a guest-physical address is the system-physical address', () => {
    enter(m, { np: false });
    m.cpu.slRights = 7;
    expect(nptTranslate(m.svm, m.cpu, 0x12_3456, 1)).toBe(0x12_3456);
    expect(m.cpu.slRights).toBe(7);
    m.w32(DATA, 0xabcd);
    runGuest(m, { np: false }, LOAD);
    expect(m.reg(0)).toBe(0xabcdn);
  });

  it('identity nested tables: the guest reads what is at the same system-physical address', () => {
    new Npt(m, NPT_A);
    m.w32(DATA, 0x1234_5678);
    runGuest(m, {}, LOAD);
    expect(exits.calls).toEqual([]);
    expect(m.cpu.halted).toBe(true);
    expect(m.reg(0)).toBe(0x1234_5678n);
  });

  it('remapped page: reads and writes go to the nested translation; nested A and D are set', () => {
    const npt = new Npt(m, NPT_A).map(DATA, HPA_A);
    m.w32(DATA, 1);
    m.w32(HPA_A, 2);
    runGuest(m, {}, LOAD);
    expect(m.reg(0)).toBe(2n);
    const pte = npt.pte(DATA);
    expect(m.r64(pte) & 0x60n).toBe(0x20n); // accessed, not dirty
    m.setReg(0, 0x55);
    runGuest(m, {}, STORE);
    expect(m.r32(HPA_A)).toBe(0x55);
    expect(m.r32(DATA)).toBe(1);
    expect(m.r64(pte) & 0x60n).toBe(0x60n);
  });

  it('nptTranslate lowers slRights to the nested rights (no write before D, no execute with NX)', () => {
    new Npt(m, NPT_A).map(DATA, HPA_A, 7n | (1n << 63n));
    enter(m, {});
    m.cpu.slRights = 7;
    expect(nptTranslate(m.svm, m.cpu, DATA + 8, 0)).toBe(HPA_A + 8);
    expect(m.cpu.slRights).toBe(1);
    m.cpu.slRights = 7;
    expect(nptTranslate(m.svm, m.cpu, DATA + 8, 1)).toBe(HPA_A + 8);
    expect(m.cpu.slRights).toBe(3);
    // Cached now: a read hit reports the same rights.
    m.cpu.slRights = 7;
    expect(nptTranslate(m.svm, m.cpu, DATA + 16, 0)).toBe(HPA_A + 16);
    expect(m.cpu.slRights).toBe(3);
  });
});

describe('nested table format = the host\'s paging mode at VMRUN (APM §15.25.3)', () => {
  it('legacy PAE host (CR4.PAE = 1, EFER.LMA = 0): a 4-entry PDPT at nCR3 bits 31:5, 2 MiB pages', () => {
    const m = machine();
    const pdpt = NPT_A + 0x20;
    m.fill(NPT_A, 0x2000);
    m.w64(pdpt, BigInt(NPT_A + 0x1000) | 1n);
    for (let i = 0; i < 8; i++) m.w64(NPT_A + 0x1000 + i * 8, BigInt(i * 0x20_0000) | 0x87n);
    m.w64(NPT_A + 0x1000 + 3 * 8, 0xa0_0000n | 0x87n); // guest-physical 6-8 MiB -> 10-12 MiB
    m.w32(0x60_0000, 1);
    m.w32(0xa0_0000, 2);
    runGuest(m, { ncr3: pdpt, hostCr4: Cr4.PAE, hostEfer: Efer.SVME | Efer.NXE }, LOAD, 0x60_0000);
    expect(exits.calls).toEqual([]);
    expect(m.reg(0)).toBe(2n);
    // The same tables walked in the long-mode format would fault (nCR3 is no PML4 there).
    leave(m);
    runGuest(m, { asid: 2, ncr3: pdpt }, LOAD, 0x60_0000);
    expect(exits.calls.length).toBe(1);
  });

  it('legacy 32-bit host (CR4.PAE = 0): 4-byte entries, 4 MiB pages with the host CR4.PSE', () => {
    const m = machine();
    m.fill(NPT_B, 0x1000);
    m.w32(NPT_B, 0x87); // 0-4 MiB identity
    m.w32(NPT_B + 4, 0xc0_0087); // guest-physical 4-8 MiB -> 12-16 MiB
    m.w32(0x60_0000, 1);
    m.w32(0xe0_0000, 3);
    runGuest(m, { ncr3: NPT_B, hostCr4: Cr4.PSE, hostEfer: Efer.SVME }, LOAD, 0x60_0000);
    expect(exits.calls).toEqual([]);
    expect(m.reg(0)).toBe(3n);
  });
});

describe('#VMEXIT(NPF) EXITINFO (APM §15.25.6)', () => {
  let m: SvmMachine;
  beforeEach(() => {
    m = machine();
  });

  it('not present, final translation: EXITINFO1 = U/S | bit 32, EXITINFO2 = the GPA; RIP stays at the instruction', () => {
    new Npt(m, NPT_A).map(DATA, 0, 0n);
    runGuest(m, {}, LOAD, DATA + 0x18);
    expect(exits.calls).toEqual([[NPF, U, FINAL, DATA + 0x18, 0]]);
    expect(m.cpu.ripLo).toBe(GUEST_CODE);
  });

  it('write to a read-only nested page: P | R/W | U/S, bit 32 (after a read of the same page succeeded)', () => {
    new Npt(m, NPT_A).map(DATA, HPA_A, 5n);
    m.w32(HPA_A, 9);
    runGuest(m, {}, [0x48, 0x8b, 0x0b, 0x48, 0x89, 0x03, 0xf4], DATA); // mov rcx, [rbx]; mov [rbx], rax
    expect(m.reg(1)).toBe(9n);
    expect(exits.calls).toEqual([[NPF, P | W | U, FINAL, DATA, 0]]);
    expect(m.cpu.ripLo).toBe(GUEST_CODE + 3);
  });

  it('a supervisor-only nested page faults every access (nested accesses are user accesses): P | U/S', () => {
    new Npt(m, NPT_A).map(DATA, HPA_A, 3n);
    runGuest(m, {}, LOAD);
    expect(exits.calls).toEqual([[NPF, P | U, FINAL, DATA, 0]]);
  });

  it('fetch from an NX nested page with the host EFER.NXE = 1: P | U/S | I/D, bit 32', () => {
    new Npt(m, NPT_A).map(DATA, DATA, 7n | (1n << 63n));
    runGuest(m, {}, JMP_RBX, DATA + 0x40);
    expect(exits.calls).toEqual([[NPF, P | U | ID, FINAL, DATA + 0x40, 0]]);
  });

  it('fetch from a not-present nested page: U/S | ID even with the host EFER.NXE = 0 (ID marks every code read)', () => {
    m.cpu.efer &= ~Efer.NXE;
    m.cpu.updateMode();
    new Npt(m, NPT_A).map(DATA, 0, 0n);
    runGuest(m, {}, JMP_RBX, DATA + 0x40);
    expect(exits.calls).toEqual([[NPF, U | ID, FINAL, DATA + 0x40, 0]]);
  });

  it('reserved bit in a nested entry: P | U/S | RSVD (bit 63 too when the host EFER.NXE = 0)', () => {
    const npt = new Npt(m, NPT_A);
    npt.set(DATA, 1n << 51n);
    runGuest(m, {}, LOAD);
    expect(exits.calls).toEqual([[NPF, P | U | RSVD, FINAL, DATA, 0]]);

    exits.calls.length = 0;
    const m2 = machine();
    m2.cpu.efer &= ~Efer.NXE;
    m2.cpu.updateMode();
    new Npt(m2, NPT_A).set(DATA, 1n << 63n);
    runGuest(m2, {}, LOAD);
    expect(exits.calls).toEqual([[NPF, P | U | RSVD, FINAL, DATA, 0]]);
  });

  it('guest page-table access not mapped: bit 33, a user write (U/S | R/W), EXITINFO2 = the guest entry address', () => {
    // The guest's PD (guest-physical PT_ROOT + 0x2000) is not mapped in the nested tables.
    new Npt(m, NPT_A).map(PT_ROOT + 0x2000, 0, 0n);
    runGuest(m, {}, LOAD);
    // Linear 0x300000: PD index 1 -> the PDE at PD + 8.
    expect(exits.calls).toEqual([[NPF, U | W, TABLE, PT_ROOT + 0x2000 + 8, 0]]);
  });

  it('guest page table on a read-only nested page: P | R/W | U/S, bit 33 (walks are writes at the nested level)', () => {
    new Npt(m, NPT_A).map(PT_ROOT + 0x1000, PT_ROOT + 0x1000, 5n);
    runGuest(m, {}, LOAD);
    expect(exits.calls).toEqual([[NPF, P | W | U, TABLE, PT_ROOT + 0x1000, 0]]);
  });
});

describe('ASIDs and TLB control (APM §15.16)', () => {
  let m: SvmMachine;
  beforeEach(() => {
    m = machine();
    new Npt(m, NPT_A).map(DATA, HPA_A);
    new Npt(m, NPT_B).map(DATA, HPA_B);
    m.w32(HPA_A, 0xa);
    m.w32(HPA_B, 0xb);
  });

  /** Runs LOAD in the guest and returns RAX. */
  function load(e: Entry): bigint {
    runGuest(m, e, LOAD);
    leave(m);
    expect(exits.calls).toEqual([]);
    return m.reg(0);
  }

  it('two guests with different ASIDs and nCR3 keep separate translations', () => {
    expect(load({ asid: 1, ncr3: NPT_A })).toBe(0xan);
    expect(load({ asid: 2, ncr3: NPT_B })).toBe(0xbn);
    expect(load({ asid: 1, ncr3: NPT_A })).toBe(0xan);
    expect(load({ asid: 2, ncr3: NPT_B })).toBe(0xbn);
  });

  it('TLB_CONTROL 0 keeps the ASID\'s translations across VMRUNs; 3 flushes them', () => {
    expect(load({ asid: 1 })).toBe(0xan);
    // The hypervisor remaps the page without a flush: the cached translation is still used.
    new Npt(m, NPT_A).map(DATA, HPA_B);
    expect(load({ asid: 1, tlbControl: 0 })).toBe(0xan);
    expect(load({ asid: 1, tlbControl: 3 })).toBe(0xbn);
  });

  it('a new nCR3 for the same ASID never uses the old tables\' translations', () => {
    expect(load({ asid: 1, ncr3: NPT_A })).toBe(0xan);
    expect(load({ asid: 1, ncr3: NPT_B })).toBe(0xbn);
    expect(load({ asid: 1, ncr3: NPT_A })).toBe(0xan);
  });

  it('TLB_CONTROL 3 flushes only this ASID; 1 flushes every ASID and the host', () => {
    expect(load({ asid: 1 })).toBe(0xan);
    expect(load({ asid: 2 })).toBe(0xan);
    new Npt(m, NPT_A).map(DATA, HPA_B);
    expect(load({ asid: 1, tlbControl: 3 })).toBe(0xbn);
    expect(load({ asid: 2 })).toBe(0xan); // ASID 2 not flushed
    // The host's own TLB (ASID 0): cache linear DATA, then remap it in the host page tables.
    m.w32(DATA, 0x40);
    m.w32(HPA_B + 0x10_0000, 0x41);
    m.setReg(3, DATA);
    m.run(LOAD);
    expect(m.reg(0)).toBe(0x40n);
    m.w64(PT_ROOT + 0x2000 + 8, BigInt(HPA_B) | 0x87n); // linear 2-4 MiB -> 6-8 MiB
    enter(m, { asid: 2, tlbControl: 3 });
    leave(m);
    m.run(LOAD);
    expect(m.reg(0)).toBe(0x40n); // the host's entry survived
    enter(m, { asid: 3, tlbControl: 1 });
    leave(m);
    m.run(LOAD);
    expect(m.reg(0)).toBe(0x41n);
    m.w64(PT_ROOT + 0x2000 + 8, 0x20_0087n);
    expect(load({ asid: 2 })).toBe(0xbn); // ASID 2 flushed too
  });

  it('TLB_CONTROL 7 flushes this ASID\'s non-global entries and keeps its global ones', () => {
    m.cpu.cr4 |= Cr4.PGE;
    m.cpu.updateMode();
    // Guest linear 0x800000 (global) and 0xA00000 (not global) -> guest-physical 0x800000 / 0xA00000
    // (pages chosen so that no two accesses share a core TLB slot).
    const G = 0x80_5000;
    const N = 0xa0_7000;
    m.w64(PT_ROOT + 0x2000 + 4 * 8, 0x80_0000n | 0x187n);
    m.w64(PT_ROOT + 0x2000 + 5 * 8, 0xa0_0000n | 0x87n);
    m.w32(G, 1);
    m.w32(N, 2);
    const run = (tlbControl: number): [bigint, bigint] => {
      runGuest(m, { asid: 1, tlbControl }, LOAD, G);
      const a = m.reg(0);
      leave(m);
      runGuest(m, { asid: 1 }, LOAD, N);
      leave(m);
      return [a, m.reg(0)];
    };
    expect(run(0)).toEqual([1n, 2n]);
    // Remap both in the nested tables (so the guest's own tables are untouched).
    new Npt(m, NPT_A).map(G, G + 0x10_0000).map(N, N + 0x10_0000);
    m.w32(G + 0x10_0000, 3);
    m.w32(N + 0x10_0000, 4);
    expect(run(0)).toEqual([1n, 2n]);
    expect(run(7)).toEqual([1n, 4n]);
    expect(run(3)).toEqual([3n, 4n]);
  });

  it('guest MOV CR3 flushes only the current ASID\'s entries (FlushByAsid)', () => {
    expect(load({ asid: 1 })).toBe(0xan);
    expect(load({ asid: 2 })).toBe(0xan);
    new Npt(m, NPT_A).map(DATA, HPA_B);
    // ASID 1: mov rax, cr3; mov cr3, rax; mov rax, [rbx]; hlt.
    runGuest(m, { asid: 1 }, [0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8, ...LOAD]);
    leave(m);
    expect(m.reg(0)).toBe(0xbn);
    expect(load({ asid: 2 })).toBe(0xan);
  });

  it('INVLPGA invalidates the page for the ASID in ECX only (and ASID 0 is the host)', () => {
    expect(load({ asid: 1 })).toBe(0xan);
    expect(load({ asid: 2 })).toBe(0xan);
    new Npt(m, NPT_A).map(DATA, HPA_B);
    invalidateAsidPage(m.svm, m.cpu, 2, DATA, 0);
    expect(load({ asid: 1 })).toBe(0xan);
    expect(load({ asid: 2 })).toBe(0xbn);
    // ASID 0: the host's mapping of the page.
    m.w32(DATA, 0x40);
    m.w32(HPA_B + 0x10_0000, 0x41);
    m.setReg(3, DATA);
    m.run(LOAD);
    m.w64(PT_ROOT + 0x2000 + 8, BigInt(HPA_B) | 0x87n);
    m.run(LOAD);
    expect(m.reg(0)).toBe(0x40n);
    invalidateAsidPage(m.svm, m.cpu, 1, DATA, 0);
    m.run(LOAD);
    expect(m.reg(0)).toBe(0x40n);
    invalidateAsidPage(m.svm, m.cpu, 0, DATA, 0);
    m.run(LOAD);
    expect(m.reg(0)).toBe(0x41n);
  });

  it('ASIDs share 7 TLB banks, least recently used first; a reassigned bank starts empty', () => {
    const a = new AsidContexts();
    for (let asid = 1; asid <= 7; asid++) {
      expect(a.tagFor(asid)).toBe(asid);
      expect(a.fresh).toBe(true);
    }
    expect(a.tagFor(1)).toBe(1);
    expect(a.fresh).toBe(false);
    expect(a.tagFor(8)).toBe(2); // ASID 2 is the least recently used
    expect(a.fresh).toBe(true);
    expect(a.tagOf(2)).toBe(-1);
    // Through VMRUN: with 8 ASIDs in turn, each re-run finds a fresh (flushed) bank.
    for (let asid = 1; asid <= 8; asid++) expect(load({ asid })).toBe(0xan);
    new Npt(m, NPT_A).map(DATA, HPA_B);
    expect(load({ asid: 1 })).toBe(0xbn);
  });
});

describe('decode assists on #NPF: the instruction bytes (APM §15.35, VMCB 0D0h/0D1h)', () => {
  let m: SvmMachine;
  beforeEach(() => {
    m = machine();
    m.svm.vmcbPa = VMCB_AT;
    m.fill(VMCB_AT + VmcbOffset.GuestInsnBytesCount, 16, 0xff);
  });
  const count = (): number => m.r8(VMCB_AT + VmcbOffset.GuestInsnBytesCount);
  const bytes = (n: number): number[] => Array.from({ length: n }, (_, i) => m.r8(VMCB_AT + VmcbOffset.GuestInsnBytes + i));

  it('a data access faults: up to 15 bytes of the instruction at RIP (the MOV and what follows it)', () => {
    new Npt(m, NPT_A).map(DATA, 0, 0n);
    m.fill(GUEST_CODE, 0x20, 0x90);
    runGuest(m, {}, LOAD, DATA);
    expect(exits.calls).toEqual([[NPF, U, FINAL, DATA, 0]]);
    expect(count()).toBe(15);
    expect(bytes(15)).toEqual([0x48, 0x8b, 0x03, 0xf4, ...new Array<number>(11).fill(0x90)]);
  });

  it('the instruction fetch itself faults: no bytes were fetched (count 0)', () => {
    new Npt(m, NPT_A).map(DATA, 0, 0n);
    runGuest(m, {}, JMP_RBX, DATA + 0x40);
    expect(exits.calls).toEqual([[NPF, U | ID, FINAL, DATA + 0x40, 0]]);
    expect(count()).toBe(0);
  });

  it('a fault during event delivery (the IDT read of an INT3) belongs to no instruction\'s access: count 0', () => {
    const idt = 0x38_0000;
    new Npt(m, NPT_A).map(idt, 0, 0n);
    m.cpu.onEvent = null;
    m.cpu.idtrBaseLo = idt;
    m.cpu.idtrBaseHi = 0;
    m.cpu.idtrLimit = 0xfff;
    runGuest(m, {}, [0xcc, 0xf4]);
    expect(exits.calls).toEqual([[NPF, U, FINAL, idt + 3 * 16, 0]]);
    expect(count()).toBe(0);
  });
});

describe('legacy PAE guest under nested paging (APM §15.25.10)', () => {
  const PDPT = 0x31_0020; // guest-physical, 32-byte aligned
  const PD = 0x31_1000;
  const LONG_HOST = { hostCr4: Cr4.PAE, hostEfer: Efer.SVME | Efer.LME | Efer.LMA | Efer.NXE };

  /** The guest: flat 32-bit, PAE paging with CR3 = PDPT: PDPTE 0 -> PD (2 MiB identity pages), PDPTE 3 illegal (bit 1 is MBZ). */
  function paeGuest(m: SvmMachine): void {
    m.flat32();
    for (let i = 0; i < 8; i++) m.w64(PD + i * 8, BigInt(i * 0x20_0000) | 0x83n);
    m.fill(PDPT, 32);
    m.w64(PDPT, BigInt(PD) | 1n);
    m.w64(PDPT + 24, BigInt(PD) | 3n);
    const c = m.cpu;
    c.cr4 |= Cr4.PAE;
    c.cr3Lo = PDPT;
    c.cr0 |= Cr0.PG;
    c.walker.pdptes.fill(0);
    c.updateMode();
  }

  it('no PDPTE registers: walks read the PDPTE through the nested tables; MOV CR3 raises no #GP for an illegal PDPTE', () => {
    const m = machine();
    new Npt(m, NPT_A);
    paeGuest(m);
    m.w32(DATA, 0x4321);
    // mov eax, PDPT ; mov cr3, eax ; mov eax, [ebx] ; hlt
    runGuest(m, LONG_HOST, [0xb8, 0x20, 0x00, 0x31, 0x00, 0x0f, 0x22, 0xd8, 0x8b, 0x03, 0xf4]);
    expect(m.events).toEqual([]);
    expect(exits.calls).toEqual([]);
    expect(m.cpu.halted).toBe(true);
    expect(m.cpu.gpr[0]).toBe(0x4321);
  });

  it('the illegal PDPTE faults in the guest when a walk reaches it: #PF with P | RSVD', () => {
    const m = machine();
    new Npt(m, NPT_A);
    paeGuest(m);
    runGuest(m, LONG_HOST, [0x8b, 0x03, 0xf4], 0xc000_0010); // mov eax, [ebx]
    expect(m.events).toEqual([{ kind: 0, vector: 14, error: P | RSVD }]);
    expect(m.cpu.cr2Lo >>> 0).toBe(0xc000_0010);
  });

  it('the PDPTE read is a guest page-table access: #NPF with bit 33 (a user write), EXITINFO2 = the PDPTE address', () => {
    const m = machine();
    new Npt(m, NPT_A).map(PDPT & ~0xfff, 0, 0n);
    paeGuest(m);
    runGuest(m, LONG_HOST, [0x8b, 0x03, 0xf4]);
    // The first fetch (GUEST_CODE, PDPTE 0) walks the PDPT.
    expect(exits.calls).toEqual([[NPF, U | W, TABLE, PDPT, 0]]);
  });
});
