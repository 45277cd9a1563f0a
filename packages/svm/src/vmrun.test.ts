/**
 * VMRUN (AMD64 APM Vol. 2 §15.5, §15.5.1 consistency checks, §15.15.3 clean bits, §15.20 event
 * injection, §15.19 paged real mode). opVmrun is called directly (the instruction's own #UD/#GP
 * checks and intercept are instructions.ts's); `cpu.nipLo/Hi` is set as the instruction would
 * (the address after VMRUN). #VMEXIT is vmexit.ts's: where a test needs a second VMRUN it only
 * leaves guest mode (`leave`), the guest state standing in for the host's.
 */
import { Cr0, Cr4, Efer, EventKind, Flag, Seg, SegAttr, AMD_ZEN, CodeMode, StopReason } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SVM_FEATURES } from './caps.js';
import { EventInj, EventType, InterceptMisc1, InterceptMisc2, NpEnable, VIntr, VmcbClean } from './constants.js';
import { ATTR, CODE, GUEST_CODE, GUEST_STACK, HSAVE_AT, PT_ROOT, STACK_TOP, SvmMachine, VMCB_AT } from './test-harness.js';
import { attribFromCore, VmcbOffset as O, VmcbSeg } from './vmcb.js';
import { opVmrun } from './vmrun.js';

const MAXPHY = 2 ** 48; // AMD_ZEN's MAXPHYADDR
const VMCB2 = 0x103000;
const IDT = 0x300000;
const HANDLER = GUEST_CODE + 0x100;

/** VMRUN at CODE with rAX = the VMCB (what executeSvm hands to opVmrun). */
function vmrun(m: SvmMachine, pa = VMCB_AT): boolean {
  const c = m.cpu;
  c.ripLo = CODE;
  c.ripHi = 0;
  c.nipLo = CODE + 3;
  c.nipHi = 0;
  c.gpr[0] = pa;
  c.gprHi[0] = 0;
  return opVmrun(m.svm, c, pa);
}

/** Leaves guest mode without a #VMEXIT (vmexit.ts's): enough for a second VMRUN from the same state. */
function leave(m: SvmMachine): void {
  m.cpu.guestMode = false;
}

/** A 64-bit long-mode host whose VMCB (at VMCB_AT) holds the same state as the guest's. */
function long64(): SvmMachine {
  return new SvmMachine().long64().enableSvm().setupVmcb({ guestRip: GUEST_CODE });
}

function cs(m: SvmMachine, attr: number): void {
  m.w16(VMCB_AT + O.Cs + VmcbSeg.Attrib, attribFromCore(attr));
}

/** Expects VMRUN to have failed with #VMEXIT(VMEXIT_INVALID) and the host to be as before. */
function expectInvalid(m: SvmMachine, ok: boolean, cr0: number, efer: number): void {
  expect(ok).toBe(false);
  expect(m.exitCode()).toBe(-1);
  expect(m.vmcbRead(O.ExitCode)).toBe(0xffff_ffff_ffff_ffffn);
  expect(m.exitInfo1()).toBe(0n);
  expect(m.exitInfo2()).toBe(0n);
  expect(m.cpu.guestMode).toBe(false);
  // #VMEXIT clears GIF (§15.17); the host state is what the host save area would restore.
  expect(m.cpu.gif).toBe(false);
  expect([m.cpu.drLo[7], m.cpu.drHi[7]]).toEqual([0x400, 0]);
  expect(m.cpu.ripLo).toBe(CODE);
  expect(m.cpu.cr0).toBe(cr0);
  expect(m.cpu.efer).toBe(efer);
  expect(m.svm.cleanVmcbPa).toBe(-1);
}

interface CheckCase {
  name: string;
  /** Modes: 'long' (default, 64-bit host and guest), 'nolm' (a CPU without long mode, flat32), 'flat' (flat32 host and guest: CR0.PG = 0). */
  mode?: 'long' | 'nolm' | 'flat';
  pass: ((m: SvmMachine) => void)[];
  fail: ((m: SvmMachine) => void)[];
}

const PAT_DEFAULT = 0x0007040600070406n;

function legacy32(m: SvmMachine, cr0: number): void {
  m.vmcb32(O.Efer, Efer.SVME);
  m.vmcb32(O.Cr0, cr0);
  m.vmcb32(O.Cr4, 0);
  cs(m, ATTR.code32);
}

const eventInj = (type: number, vector: number, ev = false): ((m: SvmMachine) => void) => {
  return (m) => {
    m.vmcb32(O.EventInj, (EventInj.Valid | (type << EventInj.TypeShift) | vector | (ev ? EventInj.ErrorValid : 0)) >>> 0);
    m.vmcb32(O.EventInj + 4, 0);
  };
};

/** §15.5.1 "Canonicalization and Consistency Checks": each illegal combination, and a legal neighbour. */
const CASES: CheckCase[] = [
  {
    name: 'EFER.SVME is zero',
    pass: [() => {}],
    fail: [(m) => m.vmcb32(O.Efer, m.cpu.efer & ~Efer.SVME)],
  },
  {
    name: 'CR0.CD is zero and CR0.NW is set',
    pass: [(m) => m.vmcb32(O.Cr0, (m.cpu.cr0 | Cr0.CD | Cr0.NW) >>> 0), (m) => m.vmcb32(O.Cr0, (m.cpu.cr0 & ~Cr0.NW & ~Cr0.CD) >>> 0)],
    fail: [(m) => m.vmcb32(O.Cr0, ((m.cpu.cr0 & ~Cr0.CD) | Cr0.NW) >>> 0)],
  },
  {
    name: 'CR0[63:32] are not zero',
    pass: [(m) => m.vmcb32(O.Cr0, (m.cpu.cr0 | Cr0.AM | Cr0.WP) >>> 0)],
    fail: [(m) => m.vmcb32(O.Cr0 + 4, 1), (m) => m.vmcb32(O.Cr0 + 4, 0x8000_0000)],
  },
  {
    name: 'any MBZ bit of CR3 is set (long mode: bits 63:MAXPHYADDR)',
    pass: [(m) => m.vmcb64(O.Cr3, BigInt(MAXPHY - 0x1000) | BigInt(PT_ROOT))],
    fail: [(m) => m.vmcb64(O.Cr3, BigInt(MAXPHY) | BigInt(PT_ROOT)), (m) => m.vmcb32(O.Cr3 + 4, 0x0010_0000)],
  },
  {
    name: 'any MBZ bit of CR4 is set (bits of features the processor lacks included)',
    pass: [(m) => m.vmcb32(O.Cr4, m.cpu.cr4 | Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.PGE)],
    // VMXE (an SVM processor has no VMX), LA57 (AMD_ZEN has no 5-level paging), bit 63.
    fail: [(m) => m.vmcb32(O.Cr4, m.cpu.cr4 | Cr4.VMXE), (m) => m.vmcb32(O.Cr4, m.cpu.cr4 | Cr4.LA57), (m) => m.vmcb32(O.Cr4 + 4, 0x8000_0000)],
  },
  {
    name: 'DR6[63:32] are not zero',
    pass: [(m) => m.vmcb32(O.Dr6, 0xffff_ffff)],
    fail: [(m) => m.vmcb32(O.Dr6 + 4, 1)],
  },
  {
    name: 'DR7[63:32] are not zero',
    pass: [(m) => m.vmcb32(O.Dr7, 0xffff_07ff)],
    fail: [(m) => m.vmcb32(O.Dr7 + 4, 0x100)],
  },
  {
    name: 'any MBZ bit of EFER is set',
    pass: [(m) => m.vmcb32(O.Efer, m.cpu.efer | Efer.NXE | Efer.SCE)],
    // Bit 2 (reserved), FFXSR and LMSLE (not implemented by this processor), bit 32.
    fail: [(m) => m.vmcb32(O.Efer, m.cpu.efer | 4), (m) => m.vmcb32(O.Efer, m.cpu.efer | Efer.FFXSR), (m) => m.vmcb32(O.Efer, m.cpu.efer | Efer.LMSLE), (m) => m.vmcb32(O.Efer + 4, 1)],
  },
  {
    name: 'EFER.LMA or EFER.LME is non-zero and the processor does not support long mode',
    mode: 'nolm',
    pass: [() => {}],
    fail: [(m) => m.vmcb32(O.Efer, m.cpu.efer | Efer.LME), (m) => m.vmcb32(O.Efer, m.cpu.efer | Efer.LMA)],
  },
  {
    name: 'EFER.LME and CR0.PG are both set and CR4.PAE is zero',
    // Legacy 32-bit paging (LME clear), and long mode enabled with paging off.
    pass: [(m) => legacy32(m, (Cr0.PE | Cr0.PG | Cr0.ET) >>> 0), (m) => { m.vmcb32(O.Cr0, Cr0.PE | Cr0.ET); m.vmcb32(O.Cr4, 0); m.vmcb32(O.Efer, Efer.SVME | Efer.LME); cs(m, ATTR.code32); }],
    fail: [(m) => m.vmcb32(O.Cr4, m.cpu.cr4 & ~Cr4.PAE)],
  },
  {
    name: 'EFER.LME and CR0.PG are both non-zero and CR0.PE is zero',
    // Paged real mode (§15.19): PG with PE clear is legal without LME.
    pass: [(m) => { legacy32(m, (Cr0.PG | Cr0.ET) >>> 0); cs(m, ATTR.code16); }],
    fail: [(m) => m.vmcb32(O.Cr0, (m.cpu.cr0 & ~Cr0.PE) >>> 0)],
  },
  {
    name: 'EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D are all non-zero',
    // Compatibility mode (L = 0, D = 1), and L with D in a legacy guest (LME clear).
    pass: [(m) => cs(m, ATTR.code32), (m) => { legacy32(m, (Cr0.PE | Cr0.ET) >>> 0); cs(m, ATTR.code64 | SegAttr.DB); }],
    fail: [(m) => cs(m, ATTR.code64 | SegAttr.DB)],
  },
  {
    name: 'the VMRUN intercept bit is clear',
    pass: [(m) => m.vmcb32(O.InterceptMisc2, InterceptMisc2.Vmrun | InterceptMisc2.Vmmcall)],
    fail: [(m) => m.vmcb32(O.InterceptMisc2, InterceptMisc2.Vmmcall)],
  },
  {
    name: 'the IOIO intercept table (12 KiB) extends to MAXPHYADDR or beyond',
    // Bits 11:0 of IOPM_BASE_PA are ignored.
    pass: [(m) => m.vmcb64(O.IopmBasePa, MAXPHY - 0x3000), (m) => m.vmcb64(O.IopmBasePa, MAXPHY - 0x3000 + 0xfff)],
    fail: [(m) => m.vmcb64(O.IopmBasePa, MAXPHY - 0x2000), (m) => m.vmcb64(O.IopmBasePa, MAXPHY)],
  },
  {
    name: 'the MSR intercept table (8 KiB) extends to MAXPHYADDR or beyond',
    pass: [(m) => m.vmcb64(O.MsrpmBasePa, MAXPHY - 0x2000)],
    fail: [(m) => m.vmcb64(O.MsrpmBasePa, MAXPHY - 0x1000), (m) => m.vmcb64(O.MsrpmBasePa, 2n ** 63n)],
  },
  {
    name: 'illegal event injection (§15.20)',
    pass: [
      eventInj(EventType.Intr, 0xff),
      eventInj(EventType.Nmi, 2),
      eventInj(EventType.Nmi, 0x55),
      eventInj(EventType.Exception, 31),
      eventInj(EventType.Exception, 13, true),
      eventInj(EventType.Soft, 0xff),
      // V clear: TYPE is not looked at.
      (m) => m.vmcb32(O.EventInj, 7 << EventInj.TypeShift),
    ],
    fail: [
      eventInj(1, 0x20),
      eventInj(5, 0x20),
      eventInj(6, 3),
      eventInj(7, 0),
      eventInj(EventType.Exception, 2),
      eventInj(EventType.Exception, 32),
      eventInj(EventType.Exception, 0xff),
    ],
  },
  {
    name: 'ASID is zero',
    pass: [(m) => m.vmcb32(O.GuestAsid, 63)],
    fail: [(m) => m.vmcb32(O.GuestAsid, 0)],
  },
  {
    name: 'G_PAT holds an illegal memory type with nested paging enabled (§15.25.8)',
    pass: [
      (m) => m.vmcb32(O.NpEnable, NpEnable.Np).vmcb64(O.GPat, PAT_DEFAULT),
      // Without NP_ENABLE G_PAT is not used, so not checked.
      (m) => m.vmcb64(O.GPat, 0x0202020202020202n),
    ],
    fail: [
      (m) => m.vmcb32(O.NpEnable, NpEnable.Np).vmcb64(O.GPat, PAT_DEFAULT | 0x0200_0000_0000_0000n),
      (m) => m.vmcb32(O.NpEnable, NpEnable.Np).vmcb64(O.GPat, 0x0000000000000003n),
      (m) => m.vmcb32(O.NpEnable, NpEnable.Np).vmcb64(O.GPat, 0x0000000000000008n),
    ],
  },
  {
    name: 'nested paging with the host CR0.PG = 0 (§15.25.3 "hCR0.PG cleared to zero and NP_ENABLE set to 1")',
    mode: 'flat',
    // Without NP_ENABLE a host without paging may run a guest.
    pass: [() => {}],
    fail: [(m) => m.vmcb32(O.NpEnable, NpEnable.Np).vmcb64(O.GPat, PAT_DEFAULT).vmcb64(O.NCr3, 0x40_0000)],
  },
  {
    name: 'any MBZ bit of nCR3 is set with nested paging enabled (§15.25.4: bits 63:MAXPHYADDR)',
    pass: [
      (m) => m.vmcb32(O.NpEnable, NpEnable.Np).vmcb64(O.GPat, PAT_DEFAULT).vmcb64(O.NCr3, MAXPHY - 0x1000),
      // Without NP_ENABLE nCR3 is not used, so not checked.
      (m) => m.vmcb64(O.NCr3, 2n ** 63n),
    ],
    fail: [
      (m) => m.vmcb32(O.NpEnable, NpEnable.Np).vmcb64(O.GPat, PAT_DEFAULT).vmcb64(O.NCr3, MAXPHY),
      (m) => m.vmcb32(O.NpEnable, NpEnable.Np).vmcb64(O.GPat, PAT_DEFAULT).vmcb64(O.NCr3, 2n ** 63n | 0x40_0000n),
    ],
  },
];

function machineFor(c: CheckCase): SvmMachine {
  if (c.mode === 'flat') return new SvmMachine().flat32().enableSvm().setupVmcb({ guestRip: GUEST_CODE });
  if (c.mode === 'nolm') {
    const model = { ...AMD_ZEN, ext1Edx: AMD_ZEN.ext1Edx & ~(1 << 29) };
    return new SvmMachine({ model }).flat32().enableSvm().setupVmcb({ guestRip: GUEST_CODE });
  }
  return long64();
}

describe('VMRUN consistency checks (APM §15.5.1) -> #VMEXIT(VMEXIT_INVALID)', () => {
  for (const c of CASES) {
    it(`${c.name}: legal neighbours enter the guest`, () => {
      for (const pass of c.pass) {
        const m = machineFor(c);
        m.vmcb64(O.ExitCode, 0x1234);
        pass(m);
        expect(vmrun(m)).toBe(true);
        expect(m.cpu.guestMode).toBe(true);
        expect(m.cpu.gif).toBe(true);
        expect(m.exitCode()).toBe(0x1234);
      }
    });
    it(`${c.name}: EXITCODE -1, host state kept, GIF = 0`, () => {
      for (const fail of c.fail) {
        const m = machineFor(c);
        const cr0 = m.cpu.cr0;
        const efer = m.cpu.efer;
        m.cpu.drLo[7] = 0x4ff;
        let exits = 0;
        m.svm.onExit = () => exits++;
        fail(m);
        expectInvalid(m, vmrun(m), cr0, efer);
        expect(exits).toBe(1);
        // Nothing was saved into the host save area.
        expect(m.r64(HSAVE_AT + O.Rip)).toBe(0n);
      }
    });
  }
});

describe('VMRUN guest state load (APM §15.5, Table B-2)', () => {
  it('the CPU holds exactly the VMCB guest state afterwards', () => {
    const m = long64();
    const host = m.cpu;
    const fsSel = host.segSel[Seg.FS]!;
    const trSel = host.segSel[Seg.TR]!;
    const seg = (off: number, sel: number, attr: number, limit: number, base: bigint): void => {
      m.w16(VMCB_AT + off + VmcbSeg.Selector, sel);
      m.w16(VMCB_AT + off + VmcbSeg.Attrib, attribFromCore(attr));
      m.w32(VMCB_AT + off + VmcbSeg.Limit, limit);
      m.w64(VMCB_AT + off + VmcbSeg.Base, base);
    };
    seg(O.Es, 0x1234, ATTR.data16, 0xabcde, 0x1234_5000n);
    seg(O.Cs, 0x08, ATTR.code64, 0xffff_ffff, 0n);
    seg(O.Ss, 0x10, ATTR.data, 0xffff_ffff, 0n);
    seg(O.Ds, 0x18, ATTR.data, 0xfff, 0x1_0000_1000n);
    // FS, GS, TR, LDTR belong to VMLOAD: VMRUN leaves them alone.
    seg(O.Fs, 0x77, ATTR.data, 0, 0n);
    seg(O.Tr, 0x7f, ATTR.tss, 0, 0n);
    m.w32(VMCB_AT + O.Gdtr + VmcbSeg.Limit, 0x3f);
    m.w64(VMCB_AT + O.Gdtr + VmcbSeg.Base, 0x1_2345_6000n);
    m.w32(VMCB_AT + O.Idtr + VmcbSeg.Limit, 0xfff);
    m.w64(VMCB_AT + O.Idtr + VmcbSeg.Base, 0x30_0000n);
    m.vmcb32(O.Efer, Efer.SVME | Efer.LME | Efer.LMA | Efer.NXE);
    m.vmcb32(O.Cr0, (Cr0.PE | Cr0.PG | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.AM | Cr0.MP) >>> 0);
    m.vmcb64(O.Cr2, 0xdead_0000_beef_f000n);
    m.vmcb64(O.Cr3, PT_ROOT | 0x18);
    m.vmcb32(O.Cr4, Cr4.PAE | Cr4.PGE | Cr4.OSFXSR);
    m.vmcb64(O.Dr6, 0xffff_4ff1n);
    m.vmcb64(O.Dr7, 0x0000_0403n);
    m.vmcb64(O.Rflags, 0x2 | Flag.CF | Flag.ZF | Flag.IF);
    m.vmcb64(O.Rip, 0x0000_7fff_0020_0010n);
    m.vmcb64(O.Rsp, 0xffff_8000_0028_0000n);
    m.vmcb64(O.Rax, 0x1111_2222_3333_4444n);
    m.vmcb32(O.InterruptShadow, 1);
    expect(vmrun(m)).toBe(true);
    const c = m.cpu;
    expect([c.segSel[Seg.ES], c.segAttr[Seg.ES], c.segLimit[Seg.ES], c.segBase[Seg.ES], c.segBaseHi[Seg.ES]]).toEqual([0x1234, ATTR.data16, 0xabcde, 0x1234_5000, 0]);
    expect([c.segSel[Seg.CS], c.segAttr[Seg.CS], c.segLimit[Seg.CS], c.segBase[Seg.CS]]).toEqual([0x08, ATTR.code64, 0xffff_ffff, 0]);
    expect([c.segSel[Seg.SS], c.segAttr[Seg.SS], c.segLimit[Seg.SS]]).toEqual([0x10, ATTR.data, 0xffff_ffff]);
    expect([c.segSel[Seg.DS], c.segAttr[Seg.DS], c.segLimit[Seg.DS], c.segBase[Seg.DS], c.segBaseHi[Seg.DS]]).toEqual([0x18, ATTR.data, 0xfff, 0x1000, 1]);
    expect(c.segSel[Seg.FS]).toBe(fsSel);
    expect(c.segSel[Seg.TR]).toBe(trSel);
    expect([c.gdtrLimit, c.gdtrBaseLo, c.gdtrBaseHi]).toEqual([0x3f, 0x2345_6000, 1]);
    expect([c.idtrLimit, c.idtrBaseLo, c.idtrBaseHi]).toEqual([0xfff, 0x30_0000, 0]);
    expect(c.cpl).toBe(0);
    expect(c.efer).toBe(Efer.SVME | Efer.LME | Efer.LMA | Efer.NXE);
    expect(c.cr0 >>> 0).toBe((Cr0.PE | Cr0.PG | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.AM | Cr0.MP) >>> 0);
    expect([c.cr2Lo >>> 0, c.cr2Hi >>> 0]).toEqual([0xbeef_f000, 0xdead_0000]);
    expect([c.cr3Lo, c.cr3Hi]).toEqual([PT_ROOT | 0x18, 0]);
    expect(c.cr4).toBe(Cr4.PAE | Cr4.PGE | Cr4.OSFXSR);
    expect([c.drLo[6]! >>> 0, c.drHi[6], c.drLo[7], c.drHi[7]]).toEqual([0xffff_4ff1, 0, 0x403, 0]);
    expect(m.rflags).toBe(0x2 | Flag.CF | Flag.ZF | Flag.IF);
    expect(m.rip).toBe(0x0000_7fff_0020_0010n);
    expect(m.reg(4)).toBe(0xffff_8000_0028_0000n);
    expect(m.reg(0)).toBe(0x1111_2222_3333_4444n);
    expect(c.mode).toBe(CodeMode.Bits64);
    expect(c.interruptShadow).toBe(true);
    expect(c.guestMode).toBe(true);
    expect(c.gif).toBe(true);
    expect(m.svm.vmcbPa).toBe(VMCB_AT);
  });

  it('saves the host state into the host save area (RIP = after VMRUN, RSP, RAX, CRs, EFER, segments, RFLAGS)', () => {
    const m = long64();
    const c = m.cpu;
    c.setEflags(0x2 | Flag.IF | Flag.CF);
    const cr0 = c.cr0;
    const cr4 = c.cr4;
    const efer = c.efer;
    expect(vmrun(m)).toBe(true);
    const h = (off: number): bigint => m.r64(HSAVE_AT + off);
    expect(h(O.Rip)).toBe(BigInt(CODE + 3));
    expect(h(O.Rsp)).toBe(BigInt(STACK_TOP));
    expect(h(O.Rax)).toBe(BigInt(VMCB_AT));
    expect(h(O.Cr0)).toBe(BigInt(cr0 >>> 0));
    expect(h(O.Cr3)).toBe(BigInt(PT_ROOT));
    expect(h(O.Cr4)).toBe(BigInt(cr4));
    expect(h(O.Efer)).toBe(BigInt(efer));
    expect(h(O.Rflags)).toBe(BigInt(0x2 | Flag.IF | Flag.CF));
    expect(m.r16(HSAVE_AT + O.Cs + VmcbSeg.Selector)).toBe(0x08);
    expect(m.r16(HSAVE_AT + O.Cs + VmcbSeg.Attrib)).toBe(attribFromCore(ATTR.code64));
    expect(m.r16(HSAVE_AT + O.Ss + VmcbSeg.Selector)).toBe(0x10);
    expect(m.r32(HSAVE_AT + O.Gdtr + VmcbSeg.Limit)).toBe(0x7f);
    expect(m.svm.hostIf).toBe(true);
  });

  it('CPL comes from the VMCB CPL byte; SS.DPL follows it', () => {
    const m = long64();
    cs(m, ATTR.code64 | (3 << SegAttr.DplShift));
    m.w16(VMCB_AT + O.Ss + VmcbSeg.Attrib, attribFromCore(ATTR.data));
    m.w8(VMCB_AT + O.Cpl, 3);
    expect(vmrun(m)).toBe(true);
    expect(m.cpu.cpl).toBe(3);
    expect((m.cpu.segAttr[Seg.SS]! & SegAttr.DplMask) >> SegAttr.DplShift).toBe(3);
  });

  it('virtual-8086 mode (RFLAGS.VM) forces CPL 3', () => {
    const m = new SvmMachine().flat32().enableSvm().setupVmcb({ guestRip: 0 });
    m.vmcb64(O.Rflags, 0x2 | Flag.VM);
    m.w16(VMCB_AT + O.Cs + VmcbSeg.Selector, 0x2000);
    m.vmcb64(O.Cs + VmcbSeg.Base, 0x20000);
    m.w8(VMCB_AT + O.Cpl, 0);
    expect(vmrun(m)).toBe(true);
    expect(m.cpu.cpl).toBe(3);
  });

  it('loads TSC_OFFSET into the core, TLB_CONTROL and the interrupt shadow (clear)', () => {
    const m = long64();
    m.vmcb64(O.TscOffset, -5n);
    m.vmcb32(O.TlbControl, 1);
    expect(vmrun(m)).toBe(true);
    expect([m.cpu.tscOffsetLo, m.cpu.tscOffsetHi]).toEqual([-5, -1]);
    expect(m.svm.tlbControl).toBe(1);
    expect(m.cpu.interruptShadow).toBe(false);
  });

  it('legacy PAE guest: PDPTEs loaded from the guest CR3 without NP; with NP none are loaded (§15.25.10: walks read them)', () => {
    const PDPT = 0x31_0020;
    const pae = (m: SvmMachine): void => {
      legacy32(m, (Cr0.PE | Cr0.PG | Cr0.ET) >>> 0);
      m.vmcb32(O.Cr4, Cr4.PAE);
      m.vmcb64(O.Cr3, PDPT);
      m.w64(PDPT, 0x31_1001n);
      m.w64(PDPT + 8, 0x31_2001n);
    };
    const m = long64();
    pae(m);
    expect(vmrun(m)).toBe(true);
    expect(Array.from(m.cpu.walker.pdptes.subarray(0, 4))).toEqual([0x31_1001, 0, 0x31_2001, 0]);
    // NP_ENABLE with empty nested tables (nCR3 -> a zeroed PML4): the PDPT is not even mapped,
    // yet VMRUN enters the guest; the nested fault is the guest's first walk's.
    const n = long64();
    pae(n);
    n.fill(0x40_0000, 0x1000);
    n.vmcb32(O.NpEnable, NpEnable.Np).vmcb64(O.GPat, PAT_DEFAULT).vmcb64(O.NCr3, 0x40_0000);
    n.cpu.walker.pdptes.fill(0);
    expect(vmrun(n)).toBe(true);
    expect(n.cpu.guestMode).toBe(true);
    expect(n.cpu.pdpteFromWalk).toBe(true);
    expect(Array.from(n.cpu.walker.pdptes)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('with NP_ENABLE the guest PAT is G_PAT', () => {
    const m = long64();
    m.vmcb32(O.NpEnable, NpEnable.Np).vmcb64(O.GPat, 0x0606060606060606n);
    expect(vmrun(m)).toBe(true);
    expect([m.cpu.patLo, m.cpu.patHi]).toEqual([0x06060606, 0x06060606]);
    expect(m.svm.npEnable).toBe(1);
  });
});

describe('VMCB clean bits (APM §15.15.3)', () => {
  function twice(setup: (m: SvmMachine) => void, change: (m: SvmMachine) => void, clean: number): SvmMachine {
    const m = long64();
    setup(m);
    expect(vmrun(m)).toBe(true);
    leave(m);
    change(m);
    m.vmcb32(O.VmcbClean, clean);
    return m;
  }

  it('I: a changed intercept vector with its bit set is not re-read; with it clear it is', () => {
    const set = (m: SvmMachine): void => void m.vmcbSet(O.InterceptMisc1, InterceptMisc1.Cpuid);
    const chg = (m: SvmMachine): void => void m.vmcb32(O.InterceptMisc1, InterceptMisc1.Hlt);
    let m = twice(set, chg, VmcbClean.I);
    expect(vmrun(m)).toBe(true);
    expect(m.svm.interceptMisc1).toBe(InterceptMisc1.Cpuid);
    m = twice(set, chg, 0x7ff & ~VmcbClean.I);
    expect(vmrun(m)).toBe(true);
    expect(m.svm.interceptMisc1).toBe(InterceptMisc1.Hlt);
  });

  it('I: with its bit set the VMRUN-intercept check is not re-run (cached vector used)', () => {
    const m = twice(() => {}, (mm) => void mm.vmcb32(O.InterceptMisc2, 0), VmcbClean.I);
    expect(vmrun(m)).toBe(true);
    expect(m.svm.interceptMisc2 & InterceptMisc2.Vmrun).toBe(InterceptMisc2.Vmrun);
  });

  it('ASID: an ASID of 0 written behind a set bit is not seen; with the bit clear it fails VMRUN', () => {
    let m = twice(() => {}, (mm) => void mm.vmcb32(O.GuestAsid, 0), VmcbClean.Asid);
    expect(vmrun(m)).toBe(true);
    expect(m.svm.asid).toBe(1);
    m = twice(() => {}, (mm) => void mm.vmcb32(O.GuestAsid, 0), 0);
    const cr0 = m.cpu.cr0;
    expectInvalid(m, vmrun(m), cr0, m.cpu.efer);
  });

  it('IOPM, TPR, NP: cached with the bit set, re-read with it clear', () => {
    const chg = (mm: SvmMachine): void => {
      mm.vmcb64(O.IopmBasePa, 0x400000).vmcb64(O.MsrpmBasePa, 0x408000);
      mm.vmcb32(O.VIntr, VIntr.Irq | 5).vmcb32(O.VIntrVector, 0x41);
      mm.vmcb64(O.NCr3, 0x500000);
    };
    let m = twice(() => {}, chg, VmcbClean.Iopm | VmcbClean.Tpr | VmcbClean.Np);
    const iopm = m.svm.iopmBase;
    expect(vmrun(m)).toBe(true);
    expect([m.svm.iopmBase, m.svm.msrpmBase, m.svm.vIntr, m.svm.vIntrVector, m.svm.nCr3Lo]).toEqual([iopm, 0x108000, 0, 0, 0]);
    m = twice(() => {}, chg, VmcbClean.I | VmcbClean.Asid);
    expect(vmrun(m)).toBe(true);
    expect([m.svm.iopmBase, m.svm.msrpmBase, m.svm.vIntr, m.svm.vIntrVector, m.svm.nCr3Lo]).toEqual([0x400000, 0x408000, VIntr.Irq | 5, 0x41, 0x500000]);
  });

  it('a different VMCB address ignores the clean bits', () => {
    const m = long64();
    m.vmcbSet(O.InterceptMisc1, InterceptMisc1.Cpuid);
    expect(vmrun(m)).toBe(true);
    leave(m);
    for (let i = 0; i < 0x1000; i += 4) m.w32(VMCB2 + i, m.r32(VMCB_AT + i));
    m.vmcb32(O.InterceptMisc1, InterceptMisc1.Hlt, VMCB2);
    m.vmcb32(O.GuestAsid, 2, VMCB2);
    m.vmcb32(O.VmcbClean, 0xfff, VMCB2);
    expect(vmrun(m, VMCB2)).toBe(true);
    expect(m.svm.interceptMisc1).toBe(InterceptMisc1.Hlt);
    expect(m.svm.asid).toBe(2);
    expect(m.svm.cleanVmcbPa).toBe(VMCB2);
  });

  it('without VmcbClean advertised every group is re-read', () => {
    const m = new SvmMachine({ features: { ...DEFAULT_SVM_FEATURES, vmcbClean: false } }).long64().enableSvm().setupVmcb({ guestRip: GUEST_CODE });
    expect(vmrun(m)).toBe(true);
    leave(m);
    m.vmcb32(O.InterceptMisc1, InterceptMisc1.Hlt).vmcb32(O.VmcbClean, 0xfff);
    expect(vmrun(m)).toBe(true);
    expect(m.svm.interceptMisc1).toBe(InterceptMisc1.Hlt);
  });

  it('after a failed VMRUN the clean bits are ignored', () => {
    const m = long64();
    m.vmcb32(O.GuestAsid, 0);
    expect(vmrun(m)).toBe(false);
    m.vmcb32(O.VmcbClean, 0xfff);
    expect(vmrun(m)).toBe(false);
  });

  it('guest state (CRx) is re-read and re-checked when it changed, even with the CRx/SEG bits set', () => {
    const m = long64();
    expect(vmrun(m)).toBe(true);
    leave(m);
    const cr0 = m.cpu.cr0;
    m.vmcb32(O.Cr0, (cr0 | Cr0.AM) >>> 0).vmcb32(O.VmcbClean, 0xfff);
    expect(vmrun(m)).toBe(true);
    expect(m.cpu.cr0 & Cr0.AM).toBe(Cr0.AM);
    leave(m);
    m.vmcb32(O.Cr0, ((cr0 & ~Cr0.CD) | Cr0.NW) >>> 0);
    expect(vmrun(m)).toBe(false);
    expect(m.exitCode()).toBe(-1);
  });
});

describe('EVENTINJ delivery (APM §15.20)', () => {
  /** Flat 32-bit guest with an IDT whose vectors 0-255 lead to HANDLER (32-bit interrupt gates, DPL 0, or 3 for 0x80). */
  function guest32(features = DEFAULT_SVM_FEATURES): SvmMachine {
    const m = new SvmMachine({ features }).flat32().enableSvm().setupVmcb({ guestRip: GUEST_CODE });
    m.cpu.onEvent = null;
    for (let v = 0; v < 256; v++) {
      m.w32(IDT + v * 8, (0x08 << 16) | (HANDLER & 0xffff));
      m.w32(IDT + v * 8 + 4, ((HANDLER & 0xffff0000) | 0x8e00 | (v === 0x80 ? 0x6000 : 0)) >>> 0);
    }
    m.w32(VMCB_AT + O.Idtr + VmcbSeg.Limit, 0x7ff);
    m.vmcb64(O.Idtr + VmcbSeg.Base, IDT);
    m.vmcb64(O.Rflags, 0x2 | Flag.IF);
    return m;
  }
  const inj = (m: SvmMachine, type: number, vector: number, err?: number): void => {
    m.vmcb32(O.EventInj, (EventInj.Valid | (type << EventInj.TypeShift) | vector | (err !== undefined ? EventInj.ErrorValid : 0)) >>> 0);
    m.vmcb32(O.EventInj + 4, err ?? 0);
  };
  const stack = (m: SvmMachine, i: number): number => m.r32(m.cpu.gpr[4]! + 4 * i);

  it('TYPE 0 (INTR): the vector through the guest IDT, return address RIP, no error code', () => {
    const m = guest32();
    inj(m, EventType.Intr, 0x40);
    expect(vmrun(m)).toBe(true);
    expect(m.cpu.ripLo).toBe(HANDLER);
    expect(m.cpu.gpr[4]).toBe(GUEST_STACK - 12);
    expect([stack(m, 0), stack(m, 1)]).toEqual([GUEST_CODE, 0x08]);
    expect(stack(m, 2) & Flag.IF).toBe(Flag.IF);
    expect(m.cpu.getEflags() & Flag.IF).toBe(0);
  });

  it('TYPE 2 (NMI): vector 2 whatever the vector field, NMIs blocked afterwards', () => {
    const m = guest32();
    const gate2 = IDT + 2 * 8;
    m.w32(gate2, (0x08 << 16) | ((HANDLER + 0x10) & 0xffff));
    inj(m, EventType.Nmi, 0x55);
    expect(vmrun(m)).toBe(true);
    expect(m.cpu.ripLo).toBe(HANDLER + 0x10);
    expect(m.cpu.gpr[4]).toBe(GUEST_STACK - 12);
    expect(stack(m, 0)).toBe(GUEST_CODE);
    expect(m.cpu.nmiBlocked).toBe(true);
  });

  it('TYPE 3 (exception) with EV pushes EVENTINJ[63:32] as the error code', () => {
    const m = guest32();
    inj(m, EventType.Exception, 13, 0x1234);
    expect(vmrun(m)).toBe(true);
    expect(m.cpu.ripLo).toBe(HANDLER);
    expect(m.cpu.gpr[4]).toBe(GUEST_STACK - 16);
    expect([stack(m, 0), stack(m, 1), stack(m, 2)]).toEqual([0x1234, GUEST_CODE, 0x08]);
  });

  it('TYPE 3 with EV and ERRORCODE = FFFF_FFFFh pushes FFFF_FFFFh (a 32-bit error code, not "none")', () => {
    const m = guest32();
    inj(m, EventType.Exception, 14, 0xffff_ffff);
    expect(vmrun(m)).toBe(true);
    expect(m.cpu.ripLo).toBe(HANDLER);
    expect(m.cpu.gpr[4]).toBe(GUEST_STACK - 16);
    expect([stack(m, 0), stack(m, 1), stack(m, 2)]).toEqual([0xffff_ffff, GUEST_CODE, 0x08]);
  });

  it('TYPE 3 without EV (#BP): no error code, return address RIP (not RIP + 1)', () => {
    const m = guest32();
    inj(m, EventType.Exception, 3);
    expect(vmrun(m)).toBe(true);
    expect(m.cpu.gpr[4]).toBe(GUEST_STACK - 12);
    expect(stack(m, 0)).toBe(GUEST_CODE);
  });

  it('TYPE 4 (software interrupt) with NRIPS pushes nRIP', () => {
    const m = guest32();
    inj(m, EventType.Soft, 0x80);
    m.vmcb64(O.NRip, GUEST_CODE + 2);
    expect(vmrun(m)).toBe(true);
    expect(m.cpu.ripLo).toBe(HANDLER);
    expect(m.cpu.gpr[4]).toBe(GUEST_STACK - 12);
    expect(stack(m, 0)).toBe(GUEST_CODE + 2);
  });

  it('TYPE 4 without NRIPS pushes RIP (the hypervisor advanced it)', () => {
    const m = guest32({ ...DEFAULT_SVM_FEATURES, nrips: false });
    inj(m, EventType.Soft, 0x80);
    m.vmcb64(O.NRip, GUEST_CODE + 2);
    expect(vmrun(m)).toBe(true);
    expect(stack(m, 0)).toBe(GUEST_CODE);
  });

  it('is offered to no intercept and reported through the core as the right kind', () => {
    const m = guest32();
    const seen: [number, number, number][] = [];
    m.cpu.onEvent = (kind, vector, error) => {
      seen.push([kind, vector, error]);
      return true;
    };
    inj(m, EventType.Exception, 14, 2);
    expect(vmrun(m)).toBe(true);
    expect(seen).toEqual([[EventKind.Exception, 14, 2]]);
  });

  it('injection ignores the INTERRUPT_SHADOW (taken at once) and leaves EVENTINJ in the VMCB', () => {
    const m = guest32();
    inj(m, EventType.Intr, 0x41);
    m.vmcb32(O.InterruptShadow, 1);
    expect(vmrun(m)).toBe(true);
    expect(m.cpu.ripLo).toBe(HANDLER);
    expect(m.cpu.interruptShadow).toBe(false);
    expect(m.r32(VMCB_AT + O.EventInj) & EventInj.Valid).not.toBe(0);
  });
});

describe('paged real mode guest (APM §15.19)', () => {
  it('VMRUN enters CR0.PG = 1, CR0.PE = 0; the guest runs real-mode code through its page tables at CPL 0', () => {
    const m = new SvmMachine().flat32().enableSvm().setupVmcb({ guestRip: 0 });
    const PD = 0x300000;
    const PTAB = 0x301000;
    const DATA = 0x240000;
    m.fill(PD, 0x2000);
    m.w32(PD, PTAB | 7);
    m.w32(PTAB + 0x20 * 4, GUEST_CODE | 7); // linear 0x20000 (CS 2000h) -> GUEST_CODE
    m.w32(PTAB + 0x30 * 4, DATA | 7); // linear 0x30000 (DS 3000h) -> DATA
    m.w32(PTAB + 0x08 * 4, 0x8000 | 7); // the stack page
    // mov ax, [0x0010] ; hlt
    m.bytes(GUEST_CODE, [0xa1, 0x10, 0x00, 0xf4]);
    m.w16(DATA + 0x10, 0xbeef);
    m.w16(0x30010, 0x1111);
    const seg = (off: number, sel: number, attr: number): void => {
      m.w16(VMCB_AT + off + VmcbSeg.Selector, sel);
      m.w16(VMCB_AT + off + VmcbSeg.Attrib, attribFromCore(attr));
      m.w32(VMCB_AT + off + VmcbSeg.Limit, 0xffff);
      m.w64(VMCB_AT + off + VmcbSeg.Base, sel << 4);
    };
    seg(O.Cs, 0x2000, ATTR.code16);
    seg(O.Ds, 0x3000, ATTR.data16);
    seg(O.Ss, 0, ATTR.data16);
    seg(O.Es, 0, ATTR.data16);
    m.vmcb32(O.Cr0, (Cr0.PG | Cr0.ET) >>> 0).vmcb32(O.Cr4, 0).vmcb64(O.Cr3, PD).vmcb32(O.Efer, Efer.SVME);
    m.vmcb64(O.Rsp, 0x8ff0);
    m.w8(VMCB_AT + O.Cpl, 3);
    expect(vmrun(m)).toBe(true);
    expect(m.cpu.cpl).toBe(0);
    expect(m.cpu.mode).toBe(CodeMode.Bits16);
    expect(m.cpu.run(10)).toBe(StopReason.Halt);
    expect(m.cpu.gpr[0]! & 0xffff).toBe(0xbeef);
    expect(m.cpu.ripLo).toBe(4);
    expect(m.fault).toBe(null);
  });
});
