/**
 * #VMEXIT (APM Vol. 2 §15.6, §15.7.1 nRIP, §15.7.2 EXITINTINFO, §15.20 EVENTINJ): what is written
 * to the VMCB, what host state is reloaded and how (CR0.PE, RFLAGS.VM, DR7, CPL), GIF = 0
 * afterwards, VMEXIT_INVALID, pending (mid-instruction) exits, host-state checks.
 */
import { Cr0, Cr4, Efer, Flag, Seg, SegAttr } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SVM_FEATURES } from './caps.js';
import { EventInj, InterceptMisc1, IntShadow, NpEnable, SvmExitCode, VIntr } from './constants.js';
import { ATTR, CODE, GUEST_CODE, HSAVE_AT, SvmMachine, VMCB_AT, X } from './test-harness.js';
import { VmcbOffset, VmcbSeg } from './vmcb.js';
import { recordPendingExit, svmExit } from './vmexit.js';
import { opVmrun } from './vmrun.js';

/** Where the host continues after VMRUN (the host save area's RIP): a HLT. */
const HOST_NEXT = CODE + 0x800;

/** VMRUN (vmrun.ts) of the VMCB at VMCB_AT, with the host continuing at HOST_NEXT (a HLT). */
function enter(m: SvmMachine): void {
  const { cpu, svm } = m;
  m.bytes(HOST_NEXT, X.hlt);
  cpu.ripLo = HOST_NEXT - 3;
  cpu.ripHi = 0;
  cpu.nipLo = HOST_NEXT;
  cpu.nipHi = 0;
  expect(opVmrun(svm, cpu, VMCB_AT)).toBe(true);
}

/** A long-mode host with SVM on and a VMCB whose guest starts at GUEST_CODE in the same mode. */
function machine(features = DEFAULT_SVM_FEATURES): SvmMachine {
  return new SvmMachine({ features }).long64().enableSvm().setupVmcb({ guestRip: GUEST_CODE });
}

const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

describe('#VMEXIT: exit information (§15.6, §15.7)', () => {
  it('writes EXITCODE, EXITINFO1, EXITINFO2 and nRIP (NRIPS) as given', () => {
    const m = machine();
    enter(m);
    const c = m.cpu;
    c.ripLo = GUEST_CODE + 0x10;
    c.nipLo = GUEST_CODE + 0x12;
    c.nipHi = 0;
    svmExit(m.svm, c, SvmExitCode.Cpuid, 0x11, 0x22, 0x33, 0x44);
    expect(m.exitCode()).toBe(0x72);
    expect(m.exitInfo1()).toBe(0x0000002200000011n);
    expect(m.exitInfo2()).toBe(0x0000004400000033n);
    expect(m.vmcbRead(VmcbOffset.NRip)).toBe(BigInt(GUEST_CODE + 0x12));
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(GUEST_CODE + 0x10));
  });

  it('leaves nRIP alone without NRIPS (§15.7.1: the field is NRIPS-only)', () => {
    const m = machine({ ...DEFAULT_SVM_FEATURES, nrips: false });
    m.vmcb64(VmcbOffset.NRip, 0x5a5a5a5an);
    enter(m);
    m.cpu.nipLo = GUEST_CODE + 2;
    svmExit(m.svm, m.cpu, SvmExitCode.Hlt, 0, 0, 0, 0);
    expect(m.vmcbRead(VmcbOffset.NRip)).toBe(0x5a5a5a5an);
  });

  it('EXITINTINFO describes the event whose delivery was interrupted, error code in bits 63:32 (§15.7.2)', () => {
    const m = machine();
    enter(m);
    // A #PF (vector 14, hardware exception, error code) being delivered.
    m.cpu.vectoringInfo = (1 << 31) | (1 << 11) | (3 << 8) | 14;
    m.cpu.vectoringError = 0x1234;
    svmExit(m.svm, m.cpu, SvmExitCode.Npf, 0, 0, 0, 0);
    expect(m.vmcbRead(VmcbOffset.ExitIntInfo)).toBe(0x00001234_80000b0en);
    expect(m.cpu.vectoringInfo).toBe(0);
  });

  it.each([
    // [VMX-encoded vectoring type, vector, SVM TYPE]: INTR 0, NMI 2, exception 3 (INT3/INTO/INT1 too), INTn 4.
    [0, 0x41, 0],
    [2, 2, 2],
    [3, 13, 3],
    [4, 0x80, 4],
    [5, 1, 3],
    [6, 3, 3],
  ])('EXITINTINFO TYPE of core type %i (vector %i) is %i (Table 15-1)', (type, vector, svmType) => {
    const m = machine();
    enter(m);
    m.cpu.vectoringInfo = (1 << 31) | (type << 8) | vector;
    svmExit(m.svm, m.cpu, SvmExitCode.Excp + 14, 0, 0, 0, 0);
    expect(m.vmcbRead(VmcbOffset.ExitIntInfo)).toBe(BigInt(((1 << 31) >>> 0) + (svmType << 8) + vector));
  });

  it('EXITINTINFO is 0 for an exit outside event delivery, and EVENTINJ.V is cleared', () => {
    const m = machine();
    m.vmcb64(VmcbOffset.ExitIntInfo, 0xffffffffn);
    m.vmcb64(VmcbOffset.EventInj, (EventInj.Valid | (3 << 8) | 6) >>> 0);
    enter(m);
    svmExit(m.svm, m.cpu, SvmExitCode.Hlt, 0, 0, 0, 0);
    expect(m.vmcbRead(VmcbOffset.ExitIntInfo)).toBe(0n);
    expect(m.vmcbRead(VmcbOffset.EventInj) & 0x80000000n).toBe(0n);
  });
});

describe('#VMEXIT: guest state saved (§15.6)', () => {
  it('writes back segments with attrib, GDTR/IDTR, CPL, CR0/2/3/4, EFER, RFLAGS, RIP, RSP, RAX, DR6/DR7', () => {
    const m = machine();
    enter(m);
    const c = m.cpu;
    // A 64-bit guest at CPL 3 with distinctive state.
    c.setSegmentRaw(Seg.ES, 0x2b, 0x1000, 0xabcde, ATTR.data | (3 << SegAttr.DplShift));
    c.setSegmentRaw(Seg.CS, 0x33, 0, 0xffffffff, ATTR.code64 | (3 << SegAttr.DplShift));
    c.setSegmentRaw(Seg.SS, 0x2b, 0, 0xffffffff, ATTR.data | (3 << SegAttr.DplShift));
    c.setSegmentRaw(Seg.DS, 0x2b, 0x12345000, 0xfffff, ATTR.data | (3 << SegAttr.DplShift), 0x7);
    c.gdtrBaseLo = 0x7000;
    c.gdtrBaseHi = 0xffff8000 | 0;
    c.gdtrLimit = 0x3ff;
    c.idtrBaseLo = 0x8000;
    c.idtrLimit = 0xfff;
    c.cr0 |= Cr0.TS | Cr0.MP;
    c.cr2Lo = 0xdeadb000 | 0;
    c.cr2Hi = 0x7fff;
    c.cr3Lo = 0x75000;
    c.cr4 |= Cr4.OSFXSR;
    c.drLo[6] = 0xffff4ff1 | 0;
    c.drLo[7] = 0x455;
    c.setEflags(0x2 | Flag.IF | Flag.CF | Flag.ZF);
    c.ripLo = 0x9abcdef0 | 0;
    c.ripHi = 0x1234;
    c.gpr[4] = 0x11112222;
    c.gprHi[4] = 0x3333;
    c.gpr[0] = 0x44445555;
    c.gprHi[0] = 0x6666;
    c.contextChanged();
    const efer = c.efer;
    const cr0 = c.cr0;
    const cr4 = c.cr4;
    svmExit(m.svm, c, SvmExitCode.Hlt, 0, 0, 0, 0);
    const seg = (off: number) => ({
      sel: m.r16(VMCB_AT + off + VmcbSeg.Selector),
      attrib: m.r16(VMCB_AT + off + VmcbSeg.Attrib),
      limit: m.r32(VMCB_AT + off + VmcbSeg.Limit),
      base: m.r64(VMCB_AT + off + VmcbSeg.Base),
    });
    // attrib: type/S/DPL/P in bits 7:0, AVL/L/D/G in 11:8 (Table B-2).
    expect(seg(VmcbOffset.Es)).toEqual({ sel: 0x2b, attrib: 0xcf3, limit: 0xabcde, base: 0x1000n });
    expect(seg(VmcbOffset.Cs)).toEqual({ sel: 0x33, attrib: 0xafb, limit: 0xffffffff, base: 0n });
    expect(seg(VmcbOffset.Ss)).toEqual({ sel: 0x2b, attrib: 0xcf3, limit: 0xffffffff, base: 0n });
    expect(seg(VmcbOffset.Ds)).toEqual({ sel: 0x2b, attrib: 0xcf3, limit: 0xfffff, base: 0x7_12345000n });
    expect(m.r32(VMCB_AT + VmcbOffset.Gdtr + VmcbSeg.Limit)).toBe(0x3ff);
    expect(m.r64(VMCB_AT + VmcbOffset.Gdtr + VmcbSeg.Base)).toBe(0xffff8000_00007000n);
    expect(m.r32(VMCB_AT + VmcbOffset.Idtr + VmcbSeg.Limit)).toBe(0xfff);
    expect(m.r64(VMCB_AT + VmcbOffset.Idtr + VmcbSeg.Base)).toBe(0x8000n);
    expect(m.r8(VMCB_AT + VmcbOffset.Cpl)).toBe(3);
    expect(m.vmcbRead(VmcbOffset.Efer)).toBe(BigInt(efer >>> 0));
    expect(m.vmcbRead(VmcbOffset.Cr0)).toBe(BigInt(cr0 >>> 0));
    expect(m.vmcbRead(VmcbOffset.Cr2)).toBe(0x7fff_deadb000n);
    expect(m.vmcbRead(VmcbOffset.Cr3)).toBe(0x75000n);
    expect(m.vmcbRead(VmcbOffset.Cr4)).toBe(BigInt(cr4 >>> 0));
    expect(m.vmcbRead(VmcbOffset.Dr6)).toBe(0xffff4ff1n);
    expect(m.vmcbRead(VmcbOffset.Dr7)).toBe(0x455n);
    expect(m.vmcbRead(VmcbOffset.Rflags)).toBe(BigInt(0x2 | Flag.IF | Flag.CF | Flag.ZF));
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(0x1234_9abcdef0n);
    expect(m.vmcbRead(VmcbOffset.Rsp)).toBe(0x3333_11112222n);
    expect(m.vmcbRead(VmcbOffset.Rax)).toBe(0x6666_44445555n);
  });

  it('writes V_TPR, V_IRQ and INTERRUPT_SHADOW / GUEST_INTERRUPT_MASK back (§15.6, Table B-1)', () => {
    const m = machine();
    m.vmcb32(VmcbOffset.VIntr, VIntr.Masking | VIntr.Irq | (3 << VIntr.PrioShift) | 5);
    enter(m);
    // The guest changed V_TPR (MOV CR8) and took the virtual interrupt; it sits in an STI shadow with IF = 1.
    m.svm.vIntr = (m.svm.vIntr & ~(VIntr.Irq | VIntr.TprMask)) | 9;
    m.cpu.setEflags(m.cpu.getEflags() | Flag.IF);
    m.cpu.interruptShadow = true;
    m.cpu.stiShadow = true;
    svmExit(m.svm, m.cpu, SvmExitCode.Hlt, 0, 0, 0, 0);
    const vintr = m.r32(VMCB_AT + VmcbOffset.VIntr);
    expect(vintr & 0xff).toBe(9);
    expect(vintr & VIntr.Irq).toBe(0);
    expect(vintr & VIntr.Masking).toBe(VIntr.Masking);
    expect(m.vmcbRead(VmcbOffset.InterruptShadow)).toBe(BigInt(IntShadow.Shadow | IntShadow.GuestIf));
  });

  it('saves the guest PAT to G_PAT and reloads the host PAT with nested paging (§15.25.8)', () => {
    const m = machine();
    m.vmcb32(VmcbOffset.NpEnable, NpEnable.Np);
    m.vmcb64(VmcbOffset.GPat, 0x0606060606060606n);
    m.cpu.patLo = 0x00070406;
    m.cpu.patHi = 0x00070406;
    enter(m);
    m.cpu.patLo = 0x01010101; // the guest's WRMSR PAT
    svmExit(m.svm, m.cpu, SvmExitCode.Hlt, 0, 0, 0, 0);
    expect(m.vmcbRead(VmcbOffset.GPat)).toBe(0x06060606_01010101n);
    expect(u64(m.cpu.patLo, m.cpu.patHi)).toBe(0x00070406_00070406n);
  });
});

describe('#VMEXIT: host state reloaded (§15.6)', () => {
  it('restores the host RIP (after VMRUN), RSP, RAX, segments, CRs, EFER and leaves guest mode with GIF = 0', () => {
    const m = machine();
    const c = m.cpu;
    const host = {
      cr0: c.cr0,
      cr3: c.cr3Lo,
      cr4: c.cr4,
      efer: c.efer,
      cs: [c.segSel[Seg.CS], c.segAttr[Seg.CS]],
      ss: [c.segSel[Seg.SS], c.segAttr[Seg.SS]],
      gdtr: [c.gdtrBaseLo, c.gdtrLimit],
    };
    m.setReg(4, 0x7000);
    m.setReg(0, VMCB_AT);
    enter(m);
    expect(c.guestMode).toBe(true);
    // The guest clobbers everything.
    m.setReg(4, 0x1234);
    m.setReg(0, 0x5678);
    c.cr3Lo = 0x99000;
    c.gdtrBaseLo = 0x4444;
    c.setSegmentRaw(Seg.CS, 0x99, 0, 0xffff, ATTR.code16);
    c.tscOffsetLo = 77;
    svmExit(m.svm, c, SvmExitCode.Hlt, 0, 0, 0, 0);
    expect(c.guestMode).toBe(false);
    expect(c.gif).toBe(false);
    expect(m.rip).toBe(BigInt(HOST_NEXT));
    expect(m.reg(4)).toBe(0x7000n);
    expect(m.reg(0)).toBe(BigInt(VMCB_AT));
    expect([c.cr0, c.cr3Lo, c.cr4, c.efer]).toEqual([host.cr0, host.cr3, host.cr4, host.efer]);
    expect([c.segSel[Seg.CS], c.segAttr[Seg.CS]]).toEqual(host.cs);
    expect([c.segSel[Seg.SS], c.segAttr[Seg.SS]]).toEqual(host.ss);
    expect([c.gdtrBaseLo, c.gdtrLimit]).toEqual(host.gdtr);
    expect(c.cpl).toBe(0);
    // The core's guest-mode hooks are neutral.
    expect([c.tscOffsetLo, c.tscOffsetHi, c.intrBlocked, c.intrIgnoresIf, c.extBoundary, c.extDeadline, c.initBlocked]).toEqual([0, 0, false, false, false, Infinity, false]);
    // The host runs on: the HLT at HOST_NEXT.
    c.run(10);
    expect(m.rip).toBe(BigInt(HOST_NEXT + 1));
    expect(c.halted).toBe(true);
  });

  it('forces CR0.PE = 1, RFLAGS.VM = 0, CPL 0 and DR7 = 400h (all breakpoints disabled)', () => {
    const m = new SvmMachine().flat32().enableSvm().setupVmcb({ guestRip: GUEST_CODE });
    enter(m);
    m.cpu.drLo[7] = 0x7ff;
    // A host save area with PE = 0, VM = 1 and SS.DPL = 3 (what #VMEXIT must not take as is).
    const h = HSAVE_AT;
    m.w32(h + VmcbOffset.Cr0, m.r32(h + VmcbOffset.Cr0) & ~Cr0.PE);
    m.w32(h + VmcbOffset.Rflags, 0x2 | Flag.VM | Flag.IF);
    m.w16(h + VmcbOffset.Ss + VmcbSeg.Attrib, m.r16(h + VmcbOffset.Ss + VmcbSeg.Attrib) | 0x60);
    svmExit(m.svm, m.cpu, SvmExitCode.Hlt, 0, 0, 0, 0);
    expect(m.cpu.cr0 & Cr0.PE).toBe(Cr0.PE);
    expect(m.rflags & Flag.VM).toBe(0);
    expect(m.rflags & Flag.IF).toBe(Flag.IF);
    expect(m.cpu.cpl).toBe(0);
    expect(m.cpu.drLo[7]).toBe(0x400);
  });

  it('shuts down on an illegal host state (CR0.NW without CR0.CD)', () => {
    const m = machine();
    enter(m);
    m.w32(HSAVE_AT + VmcbOffset.Cr0, (m.r32(HSAVE_AT + VmcbOffset.Cr0) | Cr0.NW) & ~Cr0.CD);
    svmExit(m.svm, m.cpu, SvmExitCode.Hlt, 0, 0, 0, 0);
    expect(m.cpu.shutdown).toBe(true);
  });

  it('shuts down on a long-mode host with paging and CR4.PAE = 0', () => {
    const m = machine();
    enter(m);
    m.w32(HSAVE_AT + VmcbOffset.Cr4, m.r32(HSAVE_AT + VmcbOffset.Cr4) & ~Cr4.PAE);
    svmExit(m.svm, m.cpu, SvmExitCode.Hlt, 0, 0, 0, 0);
    expect(m.cpu.shutdown).toBe(true);
  });

  it('GIF = 0 afterwards: an NMI and an INTR stay pending until STGI (§15.17)', () => {
    const m = machine();
    enter(m);
    svmExit(m.svm, m.cpu, SvmExitCode.Hlt, 0, 0, 0, 0);
    const c = m.cpu;
    let intr = true;
    c.interrupts = { hasInterrupt: () => intr, acknowledge: () => ((intr = false), 0x30) };
    c.setEflags(c.getEflags() | Flag.IF);
    c.nmiPending = true;
    m.code([...X.nop, ...X.nop, ...X.stgi, ...X.nop, ...X.hlt], CODE + 0x100);
    c.run(2);
    expect(m.events).toEqual([]);
    expect(c.nmiPending).toBe(true);
    c.run(10);
    // After STGI: the NMI first (the harness records and stops at each event).
    expect(m.events[0]).toEqual({ kind: 2, vector: 2, error: -1 });
    expect(m.rip).toBe(BigInt(CODE + 0x100 + 2 + X.stgi.length));
  });
});

describe('#VMEXIT: VMEXIT_INVALID and pending exits', () => {
  it('VMEXIT_INVALID: EXITCODE = -1 (64 bits), no guest state written back, the host reloaded', () => {
    const m = machine();
    enter(m);
    m.cpu.ripLo = 0x123456;
    svmExit(m.svm, m.cpu, SvmExitCode.Invalid, 0, 0, 0, 0);
    expect(m.vmcbRead(VmcbOffset.ExitCode)).toBe(0xffffffff_ffffffffn);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(GUEST_CODE));
    expect(m.rip).toBe(BigInt(HOST_NEXT));
    expect(m.cpu.guestMode).toBe(false);
    expect(m.cpu.gif).toBe(false);
  });

  it('a recorded exit completes at the next boundary with RIP at the instruction, EXITINTINFO of the delivery, the shadow it ran under', () => {
    const m = machine();
    enter(m);
    const c = m.cpu;
    c.ripLo = GUEST_CODE + 0x20;
    c.insnShadow = 1;
    c.vectoringInfo = (1 << 31) | (0 << 8) | 0x41;
    recordPendingExit(m.svm, c, SvmExitCode.Npf, 0x7, 1, 0x345000, 0);
    expect(c.extBoundary).toBe(true);
    // The core unwinds: vectoring info gone, the boundary shadow consumed.
    c.vectoringInfo = 0;
    c.insnShadow = 0;
    expect(m.svm.boundary(c)).toBe(true);
    expect(c.guestMode).toBe(false);
    expect(m.exitCode()).toBe(SvmExitCode.Npf);
    expect(m.exitInfo1()).toBe(0x1_00000007n);
    expect(m.exitInfo2()).toBe(0x345000n);
    expect(m.vmcbRead(VmcbOffset.ExitIntInfo)).toBe(0x80000041n);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(GUEST_CODE + 0x20));
    expect(m.vmcbRead(VmcbOffset.NRip)).toBe(BigInt(GUEST_CODE + 0x20));
    expect(m.vmcbRead(VmcbOffset.InterruptShadow) & 1n).toBe(1n);
    // Nothing left pending.
    expect(m.svm.pendingExitCode).toBe(-1);
  });
});

describe('#VMEXIT: end to end', () => {
  it('an intercepted HLT in the guest: EXITCODE 78h, RIP at the HLT, nRIP after it, host continues after VMRUN', () => {
    const m = machine();
    m.vmcb32(VmcbOffset.InterceptMisc1, InterceptMisc1.Hlt);
    m.bytes(GUEST_CODE, [...X.movImm64(0, 0x1122334455667788n), ...X.nop, ...X.hlt]);
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Hlt);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(GUEST_CODE + 11));
    expect(m.vmcbRead(VmcbOffset.NRip)).toBe(BigInt(GUEST_CODE + 12));
    expect(m.vmcbRead(VmcbOffset.Rax)).toBe(0x1122334455667788n);
    expect(m.cpu.guestMode).toBe(false);
    expect(m.rip).toBe(BigInt(HOST_NEXT + 1));
    expect(m.cpu.efer & Efer.LMA).toBe(Efer.LMA);
  });

  it('an intercepted #PF while delivering an injected #GP: EXITINTINFO = the #GP with its error code, EVENTINJ.V cleared', () => {
    const m = machine();
    // The guest IDT lies above the 1 GiB the guest's page tables map: reading the gate faults.
    m.vmcb64(VmcbOffset.Idtr + VmcbSeg.Base, 0x40000000);
    m.vmcb32(VmcbOffset.Idtr + VmcbSeg.Limit, 0xfff);
    m.vmcb32(VmcbOffset.InterceptExceptions, 1 << 14);
    m.vmcb64(VmcbOffset.EventInj, 0x18_00000000n | BigInt((EventInj.Valid | EventInj.ErrorValid | (3 << 8) | 13) >>> 0));
    m.bytes(GUEST_CODE, X.hlt);
    // Real delivery (the harness would catch the injected event).
    m.cpu.onEvent = null;
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Excp + 14);
    expect(m.exitInfo2()).toBe(0x40000000n + 13n * 16n);
    expect(m.vmcbRead(VmcbOffset.ExitIntInfo)).toBe(0x18_80000b0dn);
    expect(m.vmcbRead(VmcbOffset.EventInj) & 0x80000000n).toBe(0n);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(GUEST_CODE));
    expect(m.cpu.guestMode).toBe(false);
  });
});
