/**
 * Guest-mode interrupt state (APM Vol. 2 §15.17 GIF, §15.21.1 physical interrupt masking with
 * V_INTR_MASKING, §15.21.2-§15.21.4 virtual interrupts: V_IRQ, V_INTR_PRIO, V_TPR, V_IGN_TPR,
 * V_INTR_VECTOR, the VINTR intercept; §15.21.5 vNMI; §15.33 vGIF), through the real guest IDT.
 */
import { Flag } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SVM_FEATURES } from './caps.js';
import { InterceptMisc1, IntShadow, SvmExitCode, VIntr } from './constants.js';
import { CODE, GUEST_CODE, SvmMachine, VMCB_AT, X } from './test-harness.js';
import { VmcbOffset, VmcbSeg } from './vmcb.js';
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
  svm.hsave.select(svm.hsavePa);
  expect(opVmrun(svm, cpu, VMCB_AT)).toBe(true);
}

/** A long-mode host with SVM on and a VMCB whose guest starts at GUEST_CODE in the same mode. */
function machine(features = DEFAULT_SVM_FEATURES): SvmMachine {
  return new SvmMachine({ features }).long64().enableSvm().setupVmcb({ guestRip: GUEST_CODE });
}


/** The guest IDT (64-bit interrupt gates) and one handler per vector: a CPUID (intercepted: the marker exit). */
const IDT_AT = 0x300000;
const HANDLERS = 0x310000;
const handler = (vector: number): number => HANDLERS + vector * 16;

/**
 * A guest with an IDT whose every vector's handler is `cpuid` (CPUID intercepted), RFLAGS = `rflags`,
 * `code` at GUEST_CODE, V_INTR word `vintr` and V_INTR_VECTOR `vector`, extra InterceptMisc1 bits.
 */
function guest(opts: { code: readonly number[]; vintr: number; vector?: number; rflags?: number; misc1?: number }): SvmMachine {
  const m = machine();
  for (let v = 0; v < 256; v++) {
    const off = handler(v);
    m.w32(IDT_AT + v * 16, (0x08 << 16) | (off & 0xffff));
    m.w32(IDT_AT + v * 16 + 4, (off & 0xffff0000) | 0x8e00);
    m.w32(IDT_AT + v * 16 + 8, 0);
    m.w32(IDT_AT + v * 16 + 12, 0);
    m.bytes(off, X.cpuid);
  }
  m.vmcb32(VmcbOffset.Idtr + VmcbSeg.Limit, 0xfff);
  m.vmcb64(VmcbOffset.Idtr + VmcbSeg.Base, IDT_AT);
  m.vmcb32(VmcbOffset.Rflags, opts.rflags ?? 0x202);
  m.vmcb32(VmcbOffset.InterceptMisc1, InterceptMisc1.Cpuid | InterceptMisc1.Hlt | (opts.misc1 ?? 0));
  m.vmcb32(VmcbOffset.VIntr, opts.vintr);
  m.w8(VMCB_AT + VmcbOffset.VIntrVector, opts.vector ?? 0x55);
  m.bytes(GUEST_CODE, opts.code);
  // Real delivery through the guest IDT (the harness would otherwise catch every event).
  m.cpu.onEvent = null;
  return m;
}

/** The return RIP on top of the guest stack at the exit (an interrupt frame's first qword). */
const pushedRip = (m: SvmMachine): bigint => m.r64(Number(m.vmcbRead(VmcbOffset.Rsp)));

const vIntrWord = (m: SvmMachine): number => m.r32(VMCB_AT + VmcbOffset.VIntr);

describe('virtual interrupts (§15.21.2-§15.21.4)', () => {
  it('V_IRQ above V_TPR is delivered through the guest IDT as V_INTR_VECTOR and V_IRQ clears', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: VIntr.Masking | VIntr.Irq | (2 << VIntr.PrioShift) | 1, vector: 0x55 });
    enter(m);
    expect(m.cpu.extBoundary).toBe(true);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Cpuid);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(handler(0x55)));
    // Taken before the guest's first instruction.
    expect(pushedRip(m)).toBe(BigInt(GUEST_CODE));
    expect(vIntrWord(m) & VIntr.Irq).toBe(0);
  });

  it('V_INTR_PRIO not above V_TPR[3:0] holds it pending; V_IGN_TPR ignores V_TPR', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: VIntr.Masking | VIntr.Irq | (2 << VIntr.PrioShift) | 2 });
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Hlt);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(GUEST_CODE + 1));
    expect(vIntrWord(m) & VIntr.Irq).toBe(VIntr.Irq);

    const n = guest({ code: [...X.nop, ...X.hlt], vintr: VIntr.Masking | VIntr.Irq | VIntr.IgnTpr | (2 << VIntr.PrioShift) | 0xf });
    enter(n);
    n.cpu.run(100);
    expect(n.exitCode()).toBe(SvmExitCode.Cpuid);
    expect(n.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(handler(0x55)));
  });

  it('the guest RFLAGS.IF masks it: taken after STI and its shadow', () => {
    const m = guest({ code: [...X.sti, ...X.nop, ...X.hlt], vintr: VIntr.Masking | VIntr.Irq | VIntr.IgnTpr, rflags: 0x2 });
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Cpuid);
    // STI at +0, NOP in its shadow at +1, taken before the HLT at +2.
    expect(pushedRip(m)).toBe(BigInt(GUEST_CODE + 2));
  });

  it('wakes a guest HLT (STI; HLT with a virtual interrupt pending)', () => {
    const m = guest({ code: [...X.sti, ...X.hlt, ...X.nop], vintr: VIntr.Masking | VIntr.Irq | VIntr.IgnTpr, rflags: 0x2 });
    // HLT not intercepted here: the guest really halts.
    m.vmcb32(VmcbOffset.InterceptMisc1, InterceptMisc1.Cpuid);
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Cpuid);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(handler(0x55)));
    expect(pushedRip(m)).toBe(BigInt(GUEST_CODE + 2));
  });

  it('the VINTR intercept exits where the interrupt would be taken; V_IRQ stays set', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: VIntr.Masking | VIntr.Irq | VIntr.IgnTpr, misc1: InterceptMisc1.Vintr });
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Vintr);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(GUEST_CODE));
    expect(vIntrWord(m) & VIntr.Irq).toBe(VIntr.Irq);
  });

  it('the VINTR intercept waits for the guest IF like the interrupt itself', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: VIntr.Masking | VIntr.Irq | VIntr.IgnTpr, misc1: InterceptMisc1.Vintr, rflags: 0x2 });
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Hlt);
  });

  it('vGIF: V_GIF = 0 holds it; the guest STGI sets V_GIF and it is taken (§15.33.2)', () => {
    const m = guest({ code: [...X.nop, ...X.stgi, ...X.nop, ...X.hlt], vintr: VIntr.Masking | VIntr.Irq | VIntr.IgnTpr | VIntr.GifEnable });
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Cpuid);
    expect(pushedRip(m)).toBe(BigInt(GUEST_CODE + 1 + X.stgi.length));
    expect(vIntrWord(m) & VIntr.Gif).toBe(VIntr.Gif);
  });

  it('a physical interrupt comes before a virtual one (INTR intercept)', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: VIntr.Irq | VIntr.IgnTpr, misc1: InterceptMisc1.Intr });
    m.cpu.interrupts = { hasInterrupt: () => true, acknowledge: () => 0x30 };
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Intr);
    expect(vIntrWord(m) & VIntr.Irq).toBe(VIntr.Irq);
  });

  it('extBoundary is off when nothing is pending, and after the delivery', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: VIntr.Masking });
    enter(m);
    expect(m.cpu.extBoundary).toBe(false);
    const n = guest({ code: [...X.nop, ...X.nop, ...X.hlt], vintr: VIntr.Masking | VIntr.Irq | VIntr.IgnTpr });
    n.vmcb32(VmcbOffset.InterceptMisc1, InterceptMisc1.Hlt);
    n.bytes(handler(0x55), X.nop);
    enter(n);
    n.cpu.run(2);
    expect(n.cpu.guestMode).toBe(true);
    expect(n.svm.vIntr & VIntr.Irq).toBe(0);
    expect(n.cpu.extBoundary).toBe(false);
  });
});

describe('physical interrupt masking (§15.21.1)', () => {
  const intr = (m: SvmMachine): void => {
    m.cpu.interrupts = { hasInterrupt: () => true, acknowledge: () => 0x30 };
  };

  it('V_INTR_MASKING with host IF = 0: physical INTR is not taken in the guest, whatever the guest IF', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: VIntr.Masking, misc1: InterceptMisc1.Intr });
    intr(m);
    m.cpu.setEflags(m.cpu.getEflags() & ~Flag.IF);
    enter(m);
    expect(m.cpu.intrBlocked).toBe(true);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Hlt);
  });

  it('V_INTR_MASKING with host IF = 1: physical INTR reaches the INTR intercept with the guest IF = 0', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: VIntr.Masking, misc1: InterceptMisc1.Intr, rflags: 0x2 });
    intr(m);
    m.cpu.setEflags(m.cpu.getEflags() | Flag.IF);
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Intr);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(GUEST_CODE));
    // GUEST_INTERRUPT_MASK: the guest's IF (0).
    expect(m.vmcbRead(VmcbOffset.InterruptShadow) & BigInt(IntShadow.GuestIf)).toBe(0n);
  });

  it('without V_INTR_MASKING the guest IF masks physical INTR', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: 0, misc1: InterceptMisc1.Intr, rflags: 0x2 });
    intr(m);
    m.cpu.setEflags(m.cpu.getEflags() | Flag.IF);
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Hlt);
    const n = guest({ code: [...X.nop, ...X.hlt], vintr: 0, misc1: InterceptMisc1.Intr, rflags: 0x202 });
    intr(n);
    enter(n);
    n.cpu.run(100);
    expect(n.exitCode()).toBe(SvmExitCode.Intr);
  });
});

describe('virtual NMI (§15.21.5)', () => {
  const VNMI = VIntr.NmiEnable | VIntr.Nmi;

  it('V_NMI is delivered through the guest IDT vector 2: V_NMI clears, V_NMI_MASK sets', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: VNMI, rflags: 0x2 });
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Cpuid);
    expect(m.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(handler(2)));
    const w = vIntrWord(m);
    expect(w & VIntr.Nmi).toBe(0);
    expect(w & VIntr.NmiMask).toBe(VIntr.NmiMask);
    // The host's own NMI blocking is untouched.
    expect(m.cpu.nmiBlocked).toBe(false);
  });

  it('V_NMI_MASK holds it pending; IRET clears the mask and it is taken', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: VNMI | VIntr.NmiMask });
    enter(m);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Hlt);
    expect(vIntrWord(m) & (VIntr.Nmi | VIntr.NmiMask)).toBe(VIntr.Nmi | VIntr.NmiMask);

    const target = GUEST_CODE + 0x80;
    // mov rax, rsp; push 10h (SS); push rax; pushfq; push 08h (CS); push target; iretq
    const code = [0x48, 0x89, 0xe0, 0x6a, 0x10, 0x50, 0x9c, 0x6a, 0x08, 0x68, target & 0xff, (target >>> 8) & 0xff, (target >>> 16) & 0xff, 0, 0x48, 0xcf];
    const n = guest({ code, vintr: VNMI | VIntr.NmiMask });
    n.bytes(target, X.hlt);
    enter(n);
    n.cpu.run(100);
    expect(n.exitCode()).toBe(SvmExitCode.Cpuid);
    expect(n.vmcbRead(VmcbOffset.Rip)).toBe(BigInt(handler(2)));
    expect(pushedRip(n)).toBe(BigInt(target));
  });

  it('V_NMI is ignored without V_NMI_ENABLE', () => {
    const m = guest({ code: [...X.nop, ...X.hlt], vintr: VIntr.Nmi });
    enter(m);
    expect(m.cpu.extBoundary).toBe(false);
    m.cpu.run(100);
    expect(m.exitCode()).toBe(SvmExitCode.Hlt);
  });
});
