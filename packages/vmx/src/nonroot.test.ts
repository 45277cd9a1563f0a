/**
 * VMX non-root operation (nonroot.ts): real guest instructions run in VMX non-root operation
 * (the VMCS set up directly, `nonRootEnter`, `cpu.guestMode = true`), each VM exit checked for
 * its exit reason, qualification and exit-information fields against the SDM (Vol. 3C ch. 25,
 * §27.2), and each non-exiting case for its normal (or shadowed) result.
 *
 * `vmExit` (exit.ts) is replaced by a recorder so these tests see exactly what nonroot.ts
 * hands it: the reason, the qualification and the guest RIP at the exit.
 */
import { Cr0, Cr4, Flag, Intercept, Reg, type Cpu } from '@hvkit/x86';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExitCtl, Interruptibility, PinCtl, Proc2Ctl, ProcCtl } from './constants.js';
import { vmEntry } from './entry.js';
import { Vmcs, VmcsField } from './fields.js';
import { intercept, nonRootEnter } from './nonroot.js';
import type * as ExitModule from './exit.js';
import { CODE, PT_ROOT, VmxMachine, X } from './test-harness.js';
import { GUEST_HANDLERS, GUEST_RIP, HOST_RIP, validControls, validGuest64, validHost64, withSecondary, writeGuestTables } from './vmcs-fixture.js';
import type { VmxCpu } from './vmx.js';

interface ExitRecord {
  reason: number;
  qual: bigint;
  rip: number;
  icount: number;
}

const exits = vi.hoisted(() => [] as ExitRecord[]);
/** When set, the recorder also performs the real VM exit (the end-to-end tests). */
const mode = vi.hoisted(() => ({ real: false }));

vi.mock('./exit.js', async (importOriginal) => {
  const orig = await importOriginal<typeof ExitModule>();
  return {
    ...orig,
    vmExit: (_vmx: VmxCpu, cpu: Cpu, reason: number, qualLo: number, qualHi: number): void => {
      exits.push({
        reason,
        qual: (BigInt(qualHi >>> 0) << 32n) | BigInt(qualLo >>> 0),
        rip: cpu.ripLo >>> 0,
        icount: cpu.icount,
      });
      if (mode.real) {
        orig.vmExit(_vmx, cpu, reason, qualLo, qualHi);
        cpu.stop();
        return;
      }
      cpu.guestMode = false;
      cpu.extBoundary = false;
      cpu.extDeadline = Infinity;
      cpu.stop();
    },
  };
});

const F = VmcsField;
const BITMAPS = 0x300000;
const MSR_BITMAP = BITMAPS;
const IO_A = BITMAPS + 0x1000;
const IO_B = BITMAPS + 0x2000;
const DATA = BITMAPS + 0x3000;
const VAPIC = BITMAPS + 0x4000;
const GDT = 0x200000;
const IDT = 0x201000;
const HANDLERS = 0x202000;

interface Setup {
  pin?: number;
  proc?: number;
  /** Secondary controls (sets "activate secondary controls"). */
  proc2?: number;
  exceptionBitmap?: number;
  exitCtl?: number;
  /** Other VMCS fields: [encoding, low, high]. */
  fields?: readonly (readonly [number, number, number?])[];
  /** Runs before nonRootEnter (guest registers, memory). */
  before?: (m: VmxMachine) => void;
}

/** A 64-bit guest at CPL 0 with `code` + HLT at CODE, in VMX non-root operation under `s`. */
function guest(code: readonly number[], s: Setup = {}): VmxMachine {
  exits.length = 0;
  const m = new VmxMachine().long64().enableVmx();
  const v = new Vmcs();
  m.vmx.inVmx = true;
  m.vmx.current = v;
  let proc = s.proc ?? 0;
  if (s.proc2 !== undefined) proc |= ProcCtl.ActivateSecondaryControls;
  v.set(F.PinBasedVmExecControl, s.pin ?? 0);
  v.set(F.CpuBasedVmExecControl, proc);
  v.set(F.SecondaryVmExecControl, s.proc2 ?? 0);
  v.set(F.ExceptionBitmap, s.exceptionBitmap ?? 0);
  v.set(F.VmExitControls, s.exitCtl ?? 0);
  v.set64(F.MsrBitmap, MSR_BITMAP);
  v.set64(F.IoBitmapA, IO_A);
  v.set64(F.IoBitmapB, IO_B);
  v.set64(F.VirtualApicAddress, VAPIC);
  for (const [f, lo, hi] of s.fields ?? []) v.set(f, lo, hi ?? 0);
  m.code([...code, ...X.hlt]);
  s.before?.(m);
  m.cpu.guestMode = true;
  nonRootEnter(m.vmx, m.cpu);
  return m;
}

/** Runs the guest; returns the one VM exit (or null when it halted / stopped without one). */
function run(m: VmxMachine, budget = 10_000): ExitRecord | null {
  m.cpu.run(budget);
  return exits.length === 0 ? null : exits[0]!;
}

function field(m: VmxMachine, f: number): number {
  return m.vmx.current!.get(f) >>> 0;
}

/** A GDT (64-bit code 08H, data 10H) and an IDT whose vector v handler is HLT at HANDLERS + 16 v. */
function withIdt(m: VmxMachine): void {
  m.w64(GDT + 8, 0x00209a0000000000n);
  m.w64(GDT + 16, 0x0000920000000000n);
  m.cpu.gdtrBaseLo = GDT;
  m.cpu.gdtrLimit = 23;
  for (let v = 0; v < 32; v++) {
    const h = HANDLERS + 16 * v;
    m.w64(IDT + 16 * v, BigInt(h & 0xffff) | (0x08n << 16n) | (0x8en << 40n) | (BigInt(h >>> 16) << 48n));
    m.w64(IDT + 16 * v + 8, 0n);
    m.w8(h, 0xf4);
  }
  m.cpu.idtrBaseLo = IDT;
  m.cpu.idtrLimit = 32 * 16 - 1;
}

function setIf(m: VmxMachine): void {
  m.cpu.setEflags(m.cpu.getEflags() | Flag.IF);
}

describe('unconditional and simple conditional instruction exits (SDM §25.1.2, §25.1.3)', () => {
  it('CPUID exits with reason 10 and its instruction length, RIP at the instruction', () => {
    const m = guest([0x0f, 0xa2]);
    expect(run(m)).toMatchObject({ reason: 10, qual: 0n, rip: CODE });
    expect(field(m, F.VmExitInstructionLength)).toBe(2);
    expect(field(m, F.VmExitInterruptionInfo)).toBe(0);
  });

  it('INVD (13) and XSETBV (55) exit unconditionally', () => {
    expect(run(guest([0x0f, 0x08]))).toMatchObject({ reason: 13, rip: CODE });
    const m = guest([0x0f, 0x01, 0xd1], {
      before: (g) => {
        g.cpu.cr4 |= Cr4.OSXSAVE;
        g.setReg(Reg.RAX, 3);
      },
    });
    expect(run(m)).toMatchObject({ reason: 55, rip: CODE });
    expect(field(m, F.VmExitInstructionLength)).toBe(3);
  });

  it('HLT exits (12) only with HLT exiting; otherwise the guest halts', () => {
    expect(run(guest([], { proc: ProcCtl.HltExiting }))).toMatchObject({ reason: 12, rip: CODE });
    const m = guest([]);
    expect(run(m)).toBeNull();
    expect(m.cpu.halted).toBe(true);
  });

  it('INVLPG exits (14) with the linear address as qualification', () => {
    const m = guest([0x0f, 0x01, 0x38], { proc: ProcCtl.InvlpgExiting, before: (g) => g.setReg(Reg.RAX, 0x1234_5678) });
    expect(run(m)).toMatchObject({ reason: 14, qual: 0x1234_5678n, rip: CODE });
    expect(field(m, F.VmExitInstructionLength)).toBe(3);
    expect(run(guest([0x0f, 0x01, 0x38], { before: (g) => g.setReg(Reg.RAX, 0x1000) }))).toBeNull();
  });

  it('RDPMC (15), RDTSC (16), MONITOR (39), WBINVD (54) exit under their controls', () => {
    expect(run(guest([0x0f, 0x33], { proc: ProcCtl.RdpmcExiting }))?.reason).toBe(15);
    expect(run(guest([0x0f, 0x31], { proc: ProcCtl.RdtscExiting }))?.reason).toBe(16);
    expect(run(guest([0x0f, 0x01, 0xc8], { proc: ProcCtl.MonitorExiting, before: (g) => g.setReg(Reg.RAX, DATA) }))?.reason).toBe(39);
    expect(run(guest([0x0f, 0x09], { proc2: Proc2Ctl.WbinvdExiting }))?.reason).toBe(54);
    expect(run(guest([0x0f, 0x09]))).toBeNull();
  });

  it('MWAIT exits (36) with qualification bit 0 = monitoring hardware armed', () => {
    expect(run(guest([0x0f, 0x01, 0xc9], { proc: ProcCtl.MwaitExiting }))).toMatchObject({ reason: 36, qual: 0n });
    const armed = guest([0x0f, 0x01, 0xc8, 0x0f, 0x01, 0xc9], { proc: ProcCtl.MwaitExiting, before: (g) => g.setReg(Reg.RAX, DATA) });
    expect(run(armed)).toMatchObject({ reason: 36, qual: 1n, rip: CODE + 3 });
  });

  it('RDTSC without exiting returns TSC + TSC offset (use TSC offsetting)', () => {
    const m = guest([0x0f, 0x31], { proc: ProcCtl.UseTscOffsetting, fields: [[F.TscOffset, 0x10_0000, 0x2]] });
    expect(run(m)).toBeNull();
    expect(m.reg(Reg.RDX)).toBe(2n);
    const eax = Number(m.reg(Reg.RAX));
    expect(eax).toBeGreaterThanOrEqual(0x10_0000);
    expect(eax).toBeLessThan(0x10_0000 + 16);
  });

  it('RDTSCP is #UD without "enable RDTSCP", exits (51) with it and RDTSC exiting', () => {
    const ud = guest([0x0f, 0x01, 0xf9], { proc: ProcCtl.RdtscExiting });
    expect(run(ud)).toBeNull();
    expect(ud.fault?.vector).toBe(6);
    const m = guest([0x0f, 0x01, 0xf9], { proc: ProcCtl.RdtscExiting, proc2: Proc2Ctl.EnableRdtscp });
    expect(run(m)).toMatchObject({ reason: 51, rip: CODE });
    expect(field(m, F.VmExitInstructionLength)).toBe(3);
  });

  it('RDRAND (57) / RDSEED (61) exit with instruction information (Table 27-13)', () => {
    const m = guest([0x0f, 0xc7, 0xf3], { proc2: Proc2Ctl.RdrandExiting });
    expect(run(m)).toMatchObject({ reason: 57, rip: CODE });
    // Destination register (6:3) = RBX, operand size (12:11) = 1 (32-bit).
    expect(field(m, F.VmExitInstructionInfo) & 0x1878).toBe((3 << 3) | (1 << 11));
    const s = guest([0x48, 0x0f, 0xc7, 0xf9], { proc2: Proc2Ctl.RdseedExiting });
    expect(run(s)).toMatchObject({ reason: 61 });
    expect(field(s, F.VmExitInstructionInfo) & 0x1878).toBe((1 << 3) | (2 << 11));
    expect(run(guest([0x0f, 0xc7, 0xf3]))).toBeNull();
  });

  it('INVPCID is #UD without "enable INVPCID"; exits (58) with INVLPG exiting, Table 27-10 information', () => {
    const code = [0x66, 0x0f, 0x38, 0x82, 0x43, 0x20]; // INVPCID rax, [rbx + 20H]
    const ud = guest(code, { proc: ProcCtl.InvlpgExiting, proc2: 0, before: (g) => g.setReg(Reg.RBX, DATA) });
    expect(run(ud)).toBeNull();
    expect(ud.fault?.vector).toBe(6);
    const m = guest(code, { proc: ProcCtl.InvlpgExiting, proc2: Proc2Ctl.EnableInvpcid, before: (g) => g.setReg(Reg.RBX, DATA) });
    expect(run(m)).toMatchObject({ reason: 58, qual: 0x20n, rip: CODE });
    // Scaling 0, address size 2 (64-bit), segment DS, index invalid, base RBX, reg2 RAX.
    expect(field(m, F.VmExitInstructionInfo)).toBe((2 << 7) | (3 << 15) | (1 << 22) | (3 << 23) | (0 << 28));
    expect(field(m, F.VmExitInstructionLength)).toBe(6);
  });
});

describe('PAUSE (SDM §25.1.3)', () => {
  it('PAUSE exiting: reason 40', () => {
    expect(run(guest([0xf3, 0x90], { proc: ProcCtl.PauseExiting }))).toMatchObject({ reason: 40, rip: CODE });
  });

  it('PAUSE-loop exiting: exits at the first PAUSE more than PLE_Window TSC ticks after the loop began', () => {
    // pause; jmp back: one PAUSE every 2 ticks, within PLE_Gap = 100; PLE_Window = 50: the loop
    // starts at TSC 0, the PAUSE at TSC 52 is the first with TSC - first > 50.
    const m = guest([0xf3, 0x90, 0xeb, 0xfc], {
      proc2: Proc2Ctl.PauseLoopExiting,
      fields: [
        [F.PleGap, 100],
        [F.PleWindow, 50],
      ],
    });
    expect(run(m, 1000)).toMatchObject({ reason: 40, rip: CODE });
    expect(m.vmx.pleFirst).toBe(0);
    expect(m.vmx.pleLast).toBe(52);
  });

  it('PAUSE-loop exiting: PAUSEs further apart than PLE_Gap each start a new loop (no exit)', () => {
    // pause; 3 NOPs; loop: 5 ticks between PAUSEs > PLE_Gap 4.
    const m = guest([0xf3, 0x90, 0x90, 0x90, 0x90, 0xeb, 0xf9], {
      proc2: Proc2Ctl.PauseLoopExiting,
      fields: [
        [F.PleGap, 4],
        [F.PleWindow, 10],
      ],
    });
    expect(run(m, 500)).toBeNull();
    expect(m.cpu.icount).toBeGreaterThanOrEqual(500);
  });
});

describe('control-register accesses (SDM §25.1.3, Table 27-3)', () => {
  it('MOV to CR0 exits when a host-owned bit differs from the read shadow; MOV from CR0 reads the shadow', () => {
    const setup = (value: number): Setup => ({
      fields: [
        [F.Cr0GuestHostMask, Cr0.TS | Cr0.NE],
        [F.Cr0ReadShadow, Cr0.NE],
      ],
      before: (g) => {
        g.cpu.cr0 |= Cr0.TS;
        g.setReg(Reg.RBX, value >>> 0);
      },
    });
    const base = Cr0.PE | Cr0.PG | Cr0.NE | Cr0.ET;
    // mov rax, cr0; mov cr0, rbx
    const code = [0x0f, 0x20, 0xc0, 0x0f, 0x22, 0xc3];
    const m = guest(code, setup(base | Cr0.TS | Cr0.MP));
    expect(run(m)).toMatchObject({ reason: 28, qual: 0x300n, rip: CODE + 3 });
    expect(Number(m.reg(Reg.RAX)) & (Cr0.TS | Cr0.NE)).toBe(Cr0.NE);
    // Matching the shadow in the owned bits: no exit, the guest-owned MP changes, TS stays.
    const ok = guest(code, setup(base | Cr0.MP));
    expect(run(ok)).toBeNull();
    expect(ok.cpu.cr0 & (Cr0.MP | Cr0.TS)).toBe(Cr0.MP | Cr0.TS);
  });

  it('MOV to CR0/CR4 that does not exit: a guest-owned fixed bit cannot be cleared (#GP(0)); a host-owned one keeps its value (SDM §23.8, §25.3)', () => {
    // mov cr0, rbx: the guest owns NE (mask 0), so clearing it is #GP(0), CR0 unchanged.
    const owned = guest([0x0f, 0x22, 0xc3], { before: (g) => g.setReg(Reg.RBX, (g.cpu.cr0 & ~Cr0.NE) >>> 0) });
    const cr0 = owned.cpu.cr0;
    expect(run(owned)).toBeNull();
    expect(owned.fault).toMatchObject({ vector: 13, error: 0 });
    expect(owned.cpu.cr0).toBe(cr0);
    // NE host-owned with a read shadow of 0: the same value matches the shadow, does not exit,
    // and the merged value keeps NE = 1, so no fault.
    const hostNe = guest([0x0f, 0x22, 0xc3], {
      fields: [
        [F.Cr0GuestHostMask, Cr0.NE],
        [F.Cr0ReadShadow, 0],
      ],
      before: (g) => g.setReg(Reg.RBX, ((g.cpu.cr0 & ~Cr0.NE) | Cr0.MP) >>> 0),
    });
    expect(run(hostNe)).toBeNull();
    expect(hostNe.fault).toBeNull();
    expect(hostNe.cpu.cr0 & (Cr0.NE | Cr0.MP)).toBe(Cr0.NE | Cr0.MP);
    // mov cr4, rcx: a guest-owned VMXE cannot be cleared.
    const vmxe = guest([0x0f, 0x22, 0xe1], { before: (g) => g.setReg(Reg.RCX, g.cpu.cr4 & ~Cr4.VMXE) });
    expect(run(vmxe)).toBeNull();
    expect(vmxe.fault).toMatchObject({ vector: 13, error: 0 });
    expect(vmxe.cpu.cr4 & Cr4.VMXE).toBe(Cr4.VMXE);
  });

  it('MOV to CR4 setting a host-owned bit against the shadow exits (register in 11:8)', () => {
    const m = guest([0x0f, 0x22, 0xe1], {
      fields: [
        [F.Cr4GuestHostMask, Cr4.VMXE],
        [F.Cr4ReadShadow, 0],
      ],
      before: (g) => g.setReg(Reg.RCX, g.cpu.cr4 | Cr4.VMXE),
    });
    expect(run(m)).toMatchObject({ reason: 28, qual: 0x104n });
  });

  it('CR3-load exiting: no exit for a CR3-target value, exit otherwise; count 0 always exits', () => {
    const targets: Setup['fields'] = [
      [F.Cr3TargetCount, 2],
      [F.Cr3TargetValue0, 0x5000],
      [F.Cr3TargetValue1, PT_ROOT],
    ];
    const hit = guest([0x0f, 0x22, 0xda], { proc: ProcCtl.Cr3LoadExiting, fields: targets, before: (g) => g.setReg(Reg.RDX, PT_ROOT) });
    expect(run(hit)).toBeNull();
    const miss = guest([0x0f, 0x22, 0xda], { proc: ProcCtl.Cr3LoadExiting, fields: targets, before: (g) => g.setReg(Reg.RDX, 0x7000) });
    expect(run(miss)).toMatchObject({ reason: 28, qual: 0x203n, rip: CODE });
    // A target value beyond the count does not count.
    const beyond = guest([0x0f, 0x22, 0xda], {
      proc: ProcCtl.Cr3LoadExiting,
      fields: [
        [F.Cr3TargetCount, 1],
        [F.Cr3TargetValue1, PT_ROOT],
      ],
      before: (g) => g.setReg(Reg.RDX, PT_ROOT),
    });
    expect(run(beyond)?.reason).toBe(28);
  });

  it('CR3-store exiting: MOV from CR3 exits with access type 1', () => {
    expect(run(guest([0x0f, 0x20, 0xde], { proc: ProcCtl.Cr3StoreExiting }))).toMatchObject({ reason: 28, qual: 0x613n });
    const m = guest([0x0f, 0x20, 0xde]);
    expect(run(m)).toBeNull();
    expect(m.reg(Reg.RSI)).toBe(BigInt(PT_ROOT));
  });

  it('CR8-load and CR8-store exiting', () => {
    expect(run(guest([0x44, 0x0f, 0x22, 0xc0], { proc: ProcCtl.Cr8LoadExiting }))).toMatchObject({ reason: 28, qual: 0x8n });
    expect(run(guest([0x44, 0x0f, 0x20, 0xc3], { proc: ProcCtl.Cr8StoreExiting }))).toMatchObject({ reason: 28, qual: 0x318n });
  });

  it('use TPR shadow: MOV from CR8 reads VTPR[7:4], MOV to CR8 writes VTPR (SDM §29.3)', () => {
    // mov rbx, cr8; mov cr8, rax
    const m = guest([0x44, 0x0f, 0x20, 0xc3, 0x44, 0x0f, 0x22, 0xc0], {
      proc: ProcCtl.UseTprShadow,
      fields: [[F.TprThreshold, 2]],
      before: (g) => {
        g.w32(VAPIC + 0x80, 0x5a);
        g.setReg(Reg.RAX, 3);
      },
    });
    expect(run(m)).toBeNull();
    expect(m.reg(Reg.RBX)).toBe(5n);
    expect(m.r32(VAPIC + 0x80)).toBe(0x30);
  });

  it('use TPR shadow: MOV to CR8 below the TPR threshold causes a trap-like exit 43', () => {
    const m = guest([0x44, 0x0f, 0x22, 0xc0, 0x90], {
      proc: ProcCtl.UseTprShadow,
      fields: [[F.TprThreshold, 4]],
      before: (g) => g.setReg(Reg.RAX, 3),
    });
    expect(run(m)).toMatchObject({ reason: 43, qual: 0n, rip: CODE + 4 });
    expect(m.r32(VAPIC + 0x80)).toBe(0x30);
  });

  it('TPR threshold above VTPR at VM entry (virtualize APIC accesses): exit 43 before the first instruction', () => {
    const m = guest([0x90], {
      proc: ProcCtl.UseTprShadow,
      proc2: Proc2Ctl.VirtualizeApicAccesses,
      fields: [[F.TprThreshold, 6]],
      before: (g) => g.w32(VAPIC + 0x80, 0x50),
    });
    expect(run(m)).toMatchObject({ reason: 43, rip: CODE, icount: 0 });
  });

  it('CLTS exits when TS is host-owned and the shadow has TS = 1; otherwise a host-owned TS is kept', () => {
    const m = guest([0x0f, 0x06], {
      fields: [
        [F.Cr0GuestHostMask, Cr0.TS],
        [F.Cr0ReadShadow, Cr0.TS],
      ],
    });
    expect(run(m)).toMatchObject({ reason: 28, qual: 0x20n });
    const keep = guest([0x0f, 0x06], { fields: [[F.Cr0GuestHostMask, Cr0.TS]], before: (g) => (g.cpu.cr0 |= Cr0.TS) });
    expect(run(keep)).toBeNull();
    expect(keep.cpu.cr0 & Cr0.TS).toBe(Cr0.TS);
  });

  it('LMSW: exits for PE set in the mask and source but clear in the shadow; source data in 31:16', () => {
    const m = guest([0x0f, 0x01, 0xf0], { fields: [[F.Cr0GuestHostMask, Cr0.PE]], before: (g) => g.setReg(Reg.RAX, 0x0001) });
    expect(run(m)).toMatchObject({ reason: 28, qual: 0x10030n });
  });

  it('LMSW with a memory operand: operand type bit 6 and the guest-linear address', () => {
    const m = guest([0x0f, 0x01, 0x33], {
      fields: [[F.Cr0GuestHostMask, Cr0.TS]],
      before: (g) => {
        g.w16(DATA, 0x000f);
        g.setReg(Reg.RBX, DATA);
      },
    });
    expect(run(m)).toMatchObject({ reason: 28, qual: 0xf0070n });
    expect(field(m, F.GuestLinearAddress)).toBe(DATA);
  });

  it('LMSW matching the shadow in the owned bits does not exit and changes the guest-owned ones', () => {
    const m = guest([0x0f, 0x01, 0xf0], {
      fields: [
        [F.Cr0GuestHostMask, Cr0.TS],
        [F.Cr0ReadShadow, 0],
      ],
      before: (g) => g.setReg(Reg.RAX, Cr0.PE | Cr0.MP),
    });
    expect(run(m)).toBeNull();
    expect(m.cpu.cr0 & (Cr0.MP | Cr0.TS)).toBe(Cr0.MP);
  });
});

describe('MOV DR, I/O, MSRs (SDM §25.1.3)', () => {
  it('MOV-DR exiting: DR number, direction, register (Table 27-4)', () => {
    expect(run(guest([0x0f, 0x23, 0xf8], { proc: ProcCtl.MovDrExiting }))).toMatchObject({ reason: 29, qual: 7n });
    expect(run(guest([0x0f, 0x21, 0xf3], { proc: ProcCtl.MovDrExiting }))).toMatchObject({ reason: 29, qual: 0x316n });
    expect(run(guest([0x0f, 0x21, 0xf3]))).toBeNull();
  });

  it('unconditional I/O exiting: OUT imm8 (operand encoding 1)', () => {
    const m = guest([0xe6, 0x80], { proc: ProcCtl.UnconditionalIoExiting });
    expect(run(m)).toMatchObject({ reason: 30, qual: 0x0080_0040n, rip: CODE });
    expect(field(m, F.VmExitInstructionLength)).toBe(2);
  });

  it('I/O bitmaps override unconditional I/O exiting: a clear bit does not exit', () => {
    expect(run(guest([0xe4, 0x61], { proc: ProcCtl.UseIoBitmaps | ProcCtl.UnconditionalIoExiting }))).toBeNull();
  });

  it('I/O bitmap A: IN AL, 60H exits (size 1, IN, immediate)', () => {
    const m = guest([0xe4, 0x60], { proc: ProcCtl.UseIoBitmaps, before: (g) => g.w8(IO_A + (0x60 >> 3), 1 << (0x60 & 7)) });
    expect(run(m)).toMatchObject({ reason: 30, qual: 0x0060_0048n });
  });

  it('a 2-byte OUT at 7FFFH exits on the bit of port 8000H in bitmap B (DX encoding)', () => {
    const m = guest([0x66, 0xef], { proc: ProcCtl.UseIoBitmaps, before: (g) => (g.w8(IO_B, 1), g.setReg(Reg.RDX, 0x7fff)) });
    expect(run(m)).toMatchObject({ reason: 30, qual: 0x7fff_0001n });
  });

  it('a 4-byte IN at FFFEH wraps the port space and exits with clear bitmaps', () => {
    const m = guest([0xed], { proc: ProcCtl.UseIoBitmaps, before: (g) => g.setReg(Reg.RDX, 0xfffe) });
    expect(run(m)).toMatchObject({ reason: 30, qual: 0xfffe_000bn });
  });

  it('REP OUTSB: string and REP bits, guest-linear address and instruction information (Table 27-9)', () => {
    const m = guest([0xf3, 0x6e], {
      proc: ProcCtl.UnconditionalIoExiting,
      before: (g) => {
        g.setReg(Reg.RSI, DATA + 0x10);
        g.setReg(Reg.RDX, 0x3f8);
        g.setReg(Reg.RCX, 4);
      },
    });
    expect(run(m)).toMatchObject({ reason: 30, qual: 0x03f8_0030n, rip: CODE });
    expect(field(m, F.GuestLinearAddress)).toBe(DATA + 0x10);
    // Address size 2 (64-bit) in 9:7, segment DS (3) in 17:15.
    expect(field(m, F.VmExitInstructionInfo) & ((7 << 7) | (7 << 15))).toBe((2 << 7) | (3 << 15));
  });

  it('RDMSR/WRMSR exit without MSR bitmaps', () => {
    expect(run(guest([0x0f, 0x32], { before: (g) => g.setReg(Reg.RCX, 0x10) }))).toMatchObject({ reason: 31, rip: CODE });
  });

  it('MSR bitmaps: read-low bit set exits, clear does not; write-high at offset 3072; others always exit', () => {
    const rd = guest([0x0f, 0x32], { proc: ProcCtl.UseMsrBitmaps, before: (g) => (g.setReg(Reg.RCX, 0x174), g.w8(MSR_BITMAP + (0x174 >> 3), 1 << 4)) });
    expect(run(rd)?.reason).toBe(31);
    expect(run(guest([0x0f, 0x32], { proc: ProcCtl.UseMsrBitmaps, before: (g) => g.setReg(Reg.RCX, 0x174) }))).toBeNull();
    // The read-low bit does not make WRMSR exit.
    const wrLow = guest([0x0f, 0x30], {
      proc: ProcCtl.UseMsrBitmaps,
      before: (g) => (g.setReg(Reg.RCX, 0x174), g.setReg(Reg.RAX, 0x10), g.w8(MSR_BITMAP + (0x174 >> 3), 1 << 4)),
    });
    expect(run(wrLow)).toBeNull();
    const wrHigh = guest([0x0f, 0x30], {
      proc: ProcCtl.UseMsrBitmaps,
      before: (g) => (g.setReg(Reg.RCX, 0xc000_0081), g.w8(MSR_BITMAP + 3072 + (0x81 >> 3), 1 << 1)),
    });
    expect(run(wrHigh)?.reason).toBe(32);
    expect(run(guest([0x0f, 0x32], { proc: ProcCtl.UseMsrBitmaps, before: (g) => g.setReg(Reg.RCX, 0x4000_0000) }))?.reason).toBe(31);
  });
});

describe('descriptor-table exiting (Tables 27-11, 27-12)', () => {
  it('SGDT [rbx + 10H]: reason 46, identity 0, memory operand fields, displacement as qualification', () => {
    const m = guest([0x0f, 0x01, 0x43, 0x10], { proc2: Proc2Ctl.DescriptorTableExiting, before: (g) => g.setReg(Reg.RBX, DATA) });
    expect(run(m)).toMatchObject({ reason: 46, qual: 0x10n, rip: CODE });
    // Bit 11 (operand size) is undefined in 64-bit mode.
    expect(field(m, F.VmExitInstructionInfo) & ~(1 << 11)).toBe((2 << 7) | (3 << 15) | (1 << 22) | (3 << 23) | (0 << 28));
  });

  it('LIDT with a negative displacement: identity 3, qualification sign-extended', () => {
    const m = guest([0x0f, 0x01, 0x5b, 0xf0], { proc2: Proc2Ctl.DescriptorTableExiting, before: (g) => g.setReg(Reg.RBX, DATA + 0x100) });
    expect(run(m)).toMatchObject({ reason: 46, qual: 0xffff_ffff_ffff_fff0n });
    expect(field(m, F.VmExitInstructionInfo) >>> 28).toBe(3);
  });

  it('LLDT ax: reason 47, identity 2, register operand', () => {
    const m = guest([0x0f, 0x00, 0xd0], { proc2: Proc2Ctl.DescriptorTableExiting });
    expect(run(m)).toMatchObject({ reason: 47, qual: 0n });
    expect(field(m, F.VmExitInstructionInfo) & (0x78 | 0x400 | 0x3000_0000)).toBe((1 << 10) | (2 << 28));
  });

  it('without the control, SGDT stores normally', () => {
    expect(run(guest([0x0f, 0x01, 0x43, 0x10], { before: (g) => g.setReg(Reg.RBX, DATA) }))).toBeNull();
  });
});

describe('VMX instructions in non-root operation (exitForInstruction, Tables 27-13, 27-14)', () => {
  it('VMPTRLD [rax + 8]: reason 21, displacement, memory operand information', () => {
    const m = guest([0x0f, 0xc7, 0x70, 0x08], { before: (g) => g.setReg(Reg.RAX, DATA) });
    expect(run(m)).toMatchObject({ reason: 21, qual: 8n, rip: CODE });
    expect(field(m, F.VmExitInstructionLength)).toBe(4);
    expect(field(m, F.VmExitInstructionInfo) & 0x0fff_ff83).toBe((2 << 7) | (3 << 15) | (1 << 22) | (0 << 23));
  });

  it('VMPTRLD [rip + 100H]: the qualification is the displacement plus the next RIP', () => {
    const m = guest([0x0f, 0xc7, 0x35, 0x00, 0x01, 0x00, 0x00]);
    expect(run(m)).toMatchObject({ reason: 21, qual: BigInt(CODE + 7 + 0x100) });
    expect((field(m, F.VmExitInstructionInfo) >>> 27) & 1).toBe(1);
  });

  it('VMREAD rbx, rcx (register form): reg1, mem/reg = 1, reg2', () => {
    const m = guest([0x0f, 0x78, 0xcb]);
    expect(run(m)).toMatchObject({ reason: 23, qual: 0n });
    expect(field(m, F.VmExitInstructionInfo) & (0x78 | 0x400 | 0xf000_0000)).toBe(((3 << 3) | (1 << 10) | (1 << 28)) >>> 0);
  });
});

describe('exceptions, NMIs, external interrupts (SDM §25.2, §27.2.2)', () => {
  it('UD2 with #UD in the exception bitmap: reason 0, hardware exception, RIP at UD2', () => {
    const m = guest([0x0f, 0x0b], { exceptionBitmap: 1 << 6 });
    m.cpu.onEvent = null;
    expect(run(m)).toMatchObject({ reason: 0, rip: CODE });
    expect(field(m, F.VmExitInterruptionInfo)).toBe(0x8000_0306);
  });

  it('#GP with an error code: bit 11 and the VM-exit interruption error code', () => {
    // mov cr4, rax with reserved bit 31 set: #GP(0).
    const m = guest([0x0f, 0x22, 0xe0], { exceptionBitmap: 1 << 13, before: (g) => g.setReg(Reg.RAX, (g.cpu.cr4 | 0x8000_0000) >>> 0) });
    m.cpu.onEvent = null;
    expect(run(m)).toMatchObject({ reason: 0, rip: CODE });
    expect(field(m, F.VmExitInterruptionInfo)).toBe(0x8000_0b0d);
    expect(field(m, F.VmExitInterruptionErrorCode)).toBe(0);
  });

  it('#PF: error-code mask/match selects the exit; the qualification is the address and CR2 is not written', () => {
    const code = [0x8b, 0x00]; // mov eax, [rax]
    const at = (g: VmxMachine): void => {
      g.setReg(Reg.RAX, 0x8000_0000);
      g.cpu.cr2Lo = 0x1234;
    };
    // Bit 14 = 1 and (PFEC & mask) == match: exit.
    const m = guest(code, { exceptionBitmap: 1 << 14, before: at });
    m.cpu.onEvent = null;
    expect(run(m)).toMatchObject({ reason: 0, qual: 0x8000_0000n, rip: CODE });
    expect(field(m, F.VmExitInterruptionInfo)).toBe(0x8000_0b0e);
    expect(field(m, F.VmExitInterruptionErrorCode)).toBe(0);
    expect(m.cpu.cr2Lo).toBe(0x1234);
    // Bit 14 = 0 and no match (mask P, match P, error code 0): exit too.
    const n = guest(code, {
      fields: [
        [F.PageFaultErrorCodeMask, 1],
        [F.PageFaultErrorCodeMatch, 1],
      ],
      before: at,
    });
    n.cpu.onEvent = null;
    expect(run(n)?.reason).toBe(0);
    // Bit 14 = 1 and no match: delivered through the guest's IDT, CR2 written.
    const d = guest(code, {
      exceptionBitmap: 1 << 14,
      fields: [
        [F.PageFaultErrorCodeMask, 1],
        [F.PageFaultErrorCodeMatch, 1],
      ],
      before: (g) => (at(g), withIdt(g)),
    });
    d.cpu.onEvent = null;
    expect(run(d)).toBeNull();
    expect(d.cpu.cr2Lo >>> 0).toBe(0x8000_0000);
    expect(d.cpu.ripLo >>> 0).toBe(HANDLERS + 16 * 14 + 1);
  });

  it('INT3 with #BP in the bitmap: software exception (6), instruction length, RIP at INT3; INT 3 (CD 03) does not exit', () => {
    const m = guest([0x90, 0xcc], { exceptionBitmap: 1 << 3 });
    m.cpu.onEvent = null;
    expect(run(m)).toMatchObject({ reason: 0, rip: CODE + 1 });
    expect(field(m, F.VmExitInterruptionInfo)).toBe(0x8000_0603);
    expect(field(m, F.VmExitInstructionLength)).toBe(1);
    const n = guest([0xcd, 0x03], { exceptionBitmap: 1 << 3, before: withIdt });
    n.cpu.onEvent = null;
    expect(run(n)).toBeNull();
    expect(n.cpu.ripLo >>> 0).toBe(HANDLERS + 16 * 3 + 1);
  });

  it('INT1 with #DB in the bitmap: privileged software exception (5)', () => {
    const m = guest([0xf1], { exceptionBitmap: 1 << 1 });
    m.cpu.onEvent = null;
    expect(run(m)).toMatchObject({ reason: 0, rip: CODE });
    expect(field(m, F.VmExitInterruptionInfo)).toBe(0x8000_0501);
    expect(field(m, F.VmExitInstructionLength)).toBe(1);
  });

  it('a single-step #DB exit: qualification BS, RIP after the instruction, DR6 not written', () => {
    const m = guest([0x90, 0x90], { exceptionBitmap: 1 << 1, before: (g) => g.cpu.setEflags(g.cpu.getEflags() | Flag.TF) });
    m.cpu.onEvent = null;
    const dr6 = m.cpu.drLo[6];
    expect(run(m)).toMatchObject({ reason: 0, qual: 0x4000n, rip: CODE + 1 });
    expect(field(m, F.VmExitInterruptionInfo)).toBe(0x8000_0301);
    expect(m.cpu.drLo[6]).toBe(dr6);
  });

  it('NMI exiting: exit 0 with interruption type 2, vector 2', () => {
    const m = guest([0x90], { pin: PinCtl.NmiExiting });
    m.cpu.onEvent = null;
    m.cpu.nmiPending = true;
    expect(run(m)).toMatchObject({ reason: 0, rip: CODE });
    expect(field(m, F.VmExitInterruptionInfo)).toBe(0x8000_0202);
    expect(m.cpu.nmiBlocked).toBe(true);
  });

  it('external-interrupt exiting: with "acknowledge interrupt on exit" the vector is in the interruption information', () => {
    let pending = true;
    const ctl = { hasInterrupt: () => pending, acknowledge: () => ((pending = false), 0x31) };
    const m = guest([0x90], { pin: PinCtl.ExternalInterruptExiting, exitCtl: ExitCtl.AcknowledgeInterruptOnExit, before: setIf });
    m.cpu.interrupts = ctl;
    expect(run(m)).toMatchObject({ reason: 1, qual: 0n, rip: CODE });
    expect(field(m, F.VmExitInterruptionInfo)).toBe(0x8000_0031);
    expect(pending).toBe(false);
    pending = true;
    const n = guest([0x90], { pin: PinCtl.ExternalInterruptExiting, before: setIf });
    n.cpu.interrupts = ctl;
    expect(run(n)?.reason).toBe(1);
    expect(field(n, F.VmExitInterruptionInfo)).toBe(0);
    expect(pending).toBe(true);
  });
});

describe('NMI blocking and IRET (SDM §25.3)', () => {
  /** IRETQ to CODE + 2 (a CPUID) with a frame at 7000H. */
  function iretGuest(s: Setup): VmxMachine {
    return guest([0x48, 0xcf, 0x0f, 0xa2], {
      ...s,
      before: (g) => {
        withIdt(g);
        const sp = 0x7000;
        g.w64(sp, CODE + 2);
        g.w64(sp + 8, 0x08);
        g.w64(sp + 16, 2);
        g.w64(sp + 24, 0x8000);
        g.w64(sp + 32, 0x10);
        g.setReg(Reg.RSP, sp);
        s.before?.(g);
      },
    });
  }

  it('virtual NMIs: IRET removes virtual-NMI blocking; the real blocking is back at the exit', () => {
    const m = iretGuest({ pin: PinCtl.NmiExiting | PinCtl.VirtualNmis, before: (g) => (g.vmx.virtualNmiBlocked = true) });
    expect(m.cpu.nmiBlocked).toBe(true);
    expect(run(m)).toMatchObject({ reason: 10, rip: CODE + 2 });
    expect(m.vmx.virtualNmiBlocked).toBe(false);
    expect(m.cpu.nmiBlocked).toBe(false);
  });

  it('NMI exiting without virtual NMIs: IRET leaves NMI blocking in place', () => {
    const m = iretGuest({ pin: PinCtl.NmiExiting, before: (g) => (g.cpu.nmiBlocked = true) });
    expect(run(m)).toMatchObject({ reason: 10, rip: CODE + 2 });
    expect(m.cpu.nmiBlocked).toBe(true);
  });

  it('without NMI exiting IRET unblocks NMIs', () => {
    const m = iretGuest({ before: (g) => (g.cpu.nmiBlocked = true) });
    expect(run(m)?.reason).toBe(10);
    expect(m.cpu.nmiBlocked).toBe(false);
  });

  it('a fault of an IRET that removed virtual-NMI blocking sets bit 12 (NMI unblocking due to IRET)', () => {
    const m = iretGuest({
      pin: PinCtl.NmiExiting | PinCtl.VirtualNmis,
      exceptionBitmap: 1 << 13,
      before: (g) => {
        g.vmx.virtualNmiBlocked = true;
        g.w64(0x7008, 0x18); // CS 18H: beyond the GDT limit, #GP(18H)
      },
    });
    m.cpu.onEvent = null;
    expect(run(m)).toMatchObject({ reason: 0, rip: CODE });
    expect(field(m, F.VmExitInterruptionInfo)).toBe(0x8000_1b0d);
    expect(field(m, F.VmExitInterruptionErrorCode)).toBe(0x18);
  });
});

describe('boundary exits (SDM §25.2, §25.5, §26.7)', () => {
  it('interrupt-window exiting: exit 7 before the first instruction when RFLAGS.IF = 1', () => {
    expect(run(guest([0x90], { proc: ProcCtl.InterruptWindowExiting, before: setIf }))).toMatchObject({ reason: 7, rip: CODE, icount: 0 });
  });

  it('interrupt-window exiting waits for STI blocking to end', () => {
    // sti; nop; nop: the window opens after the NOP that follows STI.
    expect(run(guest([0xfb, 0x90, 0x90], { proc: ProcCtl.InterruptWindowExiting }))).toMatchObject({ reason: 7, rip: CODE + 2 });
  });

  it('NMI-window exiting: exit 8 without NMI blocking, none while NMIs are blocked', () => {
    expect(run(guest([0x90], { proc: ProcCtl.NmiWindowExiting }))).toMatchObject({ reason: 8, rip: CODE });
    expect(run(guest([0x90], { proc: ProcCtl.NmiWindowExiting, before: (g) => (g.cpu.nmiBlocked = true) }))).toBeNull();
  });

  it('NMI-window exiting with virtual NMIs follows virtual-NMI blocking', () => {
    const pin = PinCtl.NmiExiting | PinCtl.VirtualNmis;
    expect(run(guest([0x90], { pin, proc: ProcCtl.NmiWindowExiting, before: (g) => (g.vmx.virtualNmiBlocked = true) }))).toBeNull();
    expect(run(guest([0x90], { pin, proc: ProcCtl.NmiWindowExiting }))?.reason).toBe(8);
  });

  it('NMI-window exits take priority over interrupt-window exits', () => {
    expect(run(guest([0x90], { proc: ProcCtl.NmiWindowExiting | ProcCtl.InterruptWindowExiting, before: setIf }))?.reason).toBe(8);
  });

  it('monitor trap flag: exit 37 after one instruction, RIP = the next one', () => {
    expect(run(guest([0x90, 0x90], { proc: ProcCtl.MonitorTrapFlag }))).toMatchObject({ reason: 37, rip: CODE + 1, icount: 1 });
  });

  it('monitor trap flag: an MTF exit after HLT, from the HLT state', () => {
    const m = guest([], { proc: ProcCtl.MonitorTrapFlag });
    expect(run(m)).toMatchObject({ reason: 37, rip: CODE + 1 });
    expect(m.cpu.halted).toBe(true);
  });

  it('MTF: no exit while the guest stays in the HLT activity state; the timer counts meanwhile', () => {
    const m = guest([0x90], { pin: PinCtl.ActivateVmxPreemptionTimer, proc: ProcCtl.MonitorTrapFlag, fields: [[F.VmxPreemptionTimerValue, 2]] });
    m.cpu.halted = true;
    m.cpu.skipIdle = true;
    expect(run(m)).toMatchObject({ reason: 52, rip: CODE, icount: 64 });
  });

  it('an interrupt-window exit leaves the HLT activity state', () => {
    const m = guest([0x90], { proc: ProcCtl.InterruptWindowExiting, before: setIf });
    m.cpu.halted = true;
    expect(run(m)).toMatchObject({ reason: 7, rip: CODE });
  });

  it('a pending MTF VM exit (VM entry) exits before the first instruction', () => {
    const m = guest([0x90]);
    m.vmx.mtfPending = true;
    m.cpu.extBoundary = true;
    expect(run(m)).toMatchObject({ reason: 37, rip: CODE, icount: 0 });
  });

  it('VMX-preemption timer: value 0 exits before the first instruction', () => {
    const m = guest([0x90], { pin: PinCtl.ActivateVmxPreemptionTimer, fields: [[F.VmxPreemptionTimerValue, 0]] });
    expect(run(m)).toMatchObject({ reason: 52, rip: CODE, icount: 0 });
  });

  it('VMX-preemption timer: counts down once per 32 TSC ticks (bit 5 of the TSC)', () => {
    // jmp $ forever; timer 3 from TSC 40: decrements at 64, 96, 128.
    const m = guest([0xeb, 0xfe], {
      pin: PinCtl.ActivateVmxPreemptionTimer,
      fields: [[F.VmxPreemptionTimerValue, 3]],
      before: (g) => (g.cpu.icount = 40),
    });
    expect(run(m)).toMatchObject({ reason: 52, rip: CODE, icount: 128 });
  });

  it('VMX-preemption timer counts while halted', () => {
    const m = guest([], { pin: PinCtl.ActivateVmxPreemptionTimer, fields: [[F.VmxPreemptionTimerValue, 2]] });
    m.cpu.skipIdle = true;
    expect(run(m)).toMatchObject({ reason: 52, rip: CODE + 1, icount: 64 });
    expect(m.cpu.halted).toBe(true);
  });

  it('MTF takes priority over the preemption timer; a pending debug trap goes before the timer', () => {
    const both = guest([0x90], { pin: PinCtl.ActivateVmxPreemptionTimer, proc: ProcCtl.MonitorTrapFlag, fields: [[F.VmxPreemptionTimerValue, 0]] });
    both.vmx.mtfPending = true;
    expect(run(both)?.reason).toBe(37);
    const m = guest([0x90], { pin: PinCtl.ActivateVmxPreemptionTimer, exceptionBitmap: 1 << 1, fields: [[F.VmxPreemptionTimerValue, 0]] });
    m.cpu.pendingDb = 0x4000;
    m.cpu.onEvent = null;
    expect(run(m)).toMatchObject({ reason: 0, qual: 0x4000n });
  });

  it('external-interrupt exiting: an interrupt exits with RFLAGS.IF = 0 (Table 24-5), through the core (intrIgnoresIf)', () => {
    let pending = true;
    const ctl = { hasInterrupt: () => pending, acknowledge: () => ((pending = false), 0x20) };
    const m = guest([0x90, 0x90], { pin: PinCtl.ExternalInterruptExiting });
    expect(m.cpu.flags & Flag.IF).toBe(0);
    expect(m.cpu.intrIgnoresIf).toBe(true);
    m.cpu.interrupts = ctl;
    expect(run(m)).toMatchObject({ reason: 1, rip: CODE, icount: 0 });
    // Without external-interrupt exiting, IF = 0 keeps the interrupt pending and the guest runs.
    const n = guest([0x90, 0x90]);
    expect(n.cpu.intrIgnoresIf).toBe(false);
    n.cpu.interrupts = ctl;
    expect(run(n)).toBeNull();
    expect(n.cpu.halted).toBe(true);
    expect(pending).toBe(true);
  });

  it('external-interrupt exiting with IF = 0: blocking by MOV SS / STI still holds the interrupt back one instruction', () => {
    for (const sti of [false, true]) {
      const m = guest([0x90, 0x90], { pin: PinCtl.ExternalInterruptExiting });
      m.cpu.interrupts = { hasInterrupt: () => true, acknowledge: () => 0x20 };
      m.cpu.interruptShadow = true;
      m.cpu.stiShadow = sti;
      expect(run(m)).toMatchObject({ reason: 1, rip: CODE + 1, icount: 1 });
    }
  });

  it('external-interrupt exiting with IF = 0 wakes a halted guest: the exit comes from HLT', () => {
    let pending = false;
    const m = guest([], { pin: PinCtl.ExternalInterruptExiting });
    m.cpu.interrupts = { hasInterrupt: () => pending || (pending = m.cpu.halted), acknowledge: () => 0x20 };
    expect(run(m)).toMatchObject({ reason: 1, rip: CODE + 1 });
    expect(m.cpu.halted).toBe(true);
  });
});

describe('INIT, SIPI, task switch, triple fault (SDM §25.2)', () => {
  it('INIT exits with reason 3', () => {
    const m = guest([0x90, 0x90]);
    m.cpu.init();
    expect(run(m)).toMatchObject({ reason: 3, rip: CODE });
  });

  it('SIPI in wait-for-SIPI exits with reason 4 and the vector as qualification', () => {
    const m = guest([]);
    m.cpu.waitForSipi = true;
    m.cpu.startup(0x9a);
    expect(exits[0]).toMatchObject({ reason: 4, qual: 0x9an });
    expect(m.cpu.waitForSipi).toBe(true);
  });

  it('task switch: qualification = selector | source << 30 (JMP 2)', () => {
    const m = guest([0x90]);
    expect(intercept(m.vmx, m.cpu, Intercept.TaskSwitch, 0x28, 2)).toBe(true);
    expect(exits[0]).toMatchObject({ reason: 9, qual: 0x8000_0028n });
  });

  it('triple fault exits with reason 2', () => {
    const m = guest([0x90]);
    expect(intercept(m.vmx, m.cpu, Intercept.Shutdown, 0, 0)).toBe(true);
    expect(exits[0]).toMatchObject({ reason: 2, qual: 0n });
  });
});

describe('end to end: VMLAUNCH-style entry (entry.ts) and the real VM exit (exit.ts)', () => {
  beforeEach(() => {
    mode.real = true;
  });
  afterEach(() => {
    mode.real = false;
  });

  /** Enters a 64-bit guest running `code` + HLT at GUEST_RIP under the fixture's VMCS adjusted by `adjust`, and runs it. */
  function launch(code: readonly number[], adjust: (v: Vmcs, m: VmxMachine) => void): VmxMachine {
    exits.length = 0;
    const m = new VmxMachine().long64().enableVmx();
    m.cpu.onEvent = null;
    const v = new Vmcs();
    v.address = 0x101000;
    m.vmx.inVmx = true;
    m.vmx.current = v;
    m.cpu.initBlocked = true;
    validControls(v, m.vmx.caps);
    validHost64(v);
    validGuest64(v);
    writeGuestTables(m);
    m.bytes(GUEST_RIP, [...code, 0xf4]);
    adjust(v, m);
    v.generation++;
    vmEntry(m.vmx, m.cpu, true);
    expect(m.cpu.guestMode).toBe(true);
    m.cpu.run(10_000);
    expect(m.cpu.guestMode).toBe(false);
    expect(m.cpu.ripLo).toBe(HOST_RIP);
    return m;
  }
  const or = (v: Vmcs, f: number, bits: number): void => v.set(f, v.get(f) | bits);

  it('CPUID: exit reason 10, guest RIP at the instruction, instruction length 2', () => {
    const m = launch([0x90, 0x0f, 0xa2], () => undefined);
    expect(field(m, F.VmExitReason)).toBe(10);
    expect(field(m, F.GuestRip)).toBe(GUEST_RIP + 1);
    expect(field(m, F.VmExitInstructionLength)).toBe(2);
  });

  it('MOV to CR8 below the TPR threshold: exit 43 with the guest RIP after the instruction', () => {
    const m = launch([0xb8, 0x02, 0x00, 0x00, 0x00, 0x44, 0x0f, 0x22, 0xc0], (v, g) => {
      or(v, F.CpuBasedVmExecControl, ProcCtl.UseTprShadow);
      v.set64(F.VirtualApicAddress, 0x320000);
      v.set(F.TprThreshold, 3);
      g.w32(0x320000 + 0x80, 0x40);
    });
    expect(field(m, F.VmExitReason)).toBe(43);
    expect(field(m, F.GuestRip)).toBe(GUEST_RIP + 9);
    expect(m.r32(0x320000 + 0x80)).toBe(0x20);
  });

  it('an injected virtual NMI blocks NMI-window exits until the handler\'s IRET', () => {
    const m = launch([0x90], (v, g) => {
      or(v, F.PinBasedVmExecControl, PinCtl.NmiExiting | PinCtl.VirtualNmis);
      or(v, F.CpuBasedVmExecControl, ProcCtl.NmiWindowExiting);
      v.set(F.VmEntryInterruptionInfo, 0x8000_0202);
      g.bytes(GUEST_HANDLERS + 16 * 2, [0x48, 0xcf]); // IRETQ
    });
    expect(field(m, F.VmExitReason)).toBe(8);
    expect(field(m, F.GuestRip)).toBe(GUEST_RIP);
    expect(field(m, F.GuestInterruptibilityInfo) & Interruptibility.BlockingByNmi).toBe(0);
    expect(exits).toHaveLength(1);
  });

  it('MTF with an injected exception: the MTF exit comes at the handler, before its first instruction', () => {
    const m = launch([0x90], (v) => {
      or(v, F.CpuBasedVmExecControl, ProcCtl.MonitorTrapFlag);
      v.set(F.VmEntryInterruptionInfo, 0x8000_0306);
    });
    expect(field(m, F.VmExitReason)).toBe(37);
    expect(field(m, F.GuestRip)).toBe(GUEST_HANDLERS + 16 * 6);
  });

  it('VMX-preemption timer: exit 52 after value x 32 TSC ticks, saved value 0; another exit saves what is left', () => {
    const m = launch([0xeb, 0xfe], (v) => {
      or(v, F.PinBasedVmExecControl, PinCtl.ActivateVmxPreemptionTimer);
      or(v, F.VmExitControls, ExitCtl.SaveVmxPreemptionTimerValue);
      v.set(F.VmxPreemptionTimerValue, 2);
    });
    expect(field(m, F.VmExitReason)).toBe(52);
    expect(m.cpu.icount).toBe(64);
    expect(field(m, F.VmxPreemptionTimerValue)).toBe(0);
    const h = launch([], (v) => {
      or(v, F.PinBasedVmExecControl, PinCtl.ActivateVmxPreemptionTimer);
      or(v, F.CpuBasedVmExecControl, ProcCtl.HltExiting);
      or(v, F.VmExitControls, ExitCtl.SaveVmxPreemptionTimerValue);
      v.set(F.VmxPreemptionTimerValue, 100);
    });
    expect(field(h, F.VmExitReason)).toBe(12);
    expect(field(h, F.VmxPreemptionTimerValue)).toBe(100);
  });

  /**
   * Like {@link launch}, but VM entry is the VMLAUNCH instruction at CODE (so the instruction
   * retires after non-root operation began, as on the machine); VMRESUME again with `resume`.
   */
  function launchInsn(code: readonly number[], adjust: (v: Vmcs, m: VmxMachine) => void): VmxMachine {
    exits.length = 0;
    const m = new VmxMachine().long64().enableVmx();
    m.cpu.onEvent = null;
    const v = new Vmcs();
    v.address = 0x101000;
    m.vmx.inVmx = true;
    m.vmx.current = v;
    m.cpu.initBlocked = true;
    validControls(v, m.vmx.caps);
    validHost64(v);
    validGuest64(v);
    writeGuestTables(m);
    m.bytes(GUEST_RIP, [...code, 0xf4]);
    adjust(v, m);
    v.generation++;
    m.code([...X.vmlaunch, 0xf4]);
    m.cpu.run(10_000);
    expect(exits).toHaveLength(1);
    expect(m.cpu.guestMode).toBe(false);
    return m;
  }
  function resume(m: VmxMachine): void {
    exits.length = 0;
    m.code([...X.vmresume, 0xf4]);
    m.cpu.run(10_000);
    expect(exits).toHaveLength(1);
  }

  it('MTF through VMLAUNCH/VMRESUME: each exit follows one guest instruction (trap-like, RIP = the next one)', () => {
    const m = launchInsn([0x90, 0x90, 0x90], (v) => or(v, F.CpuBasedVmExecControl, ProcCtl.MonitorTrapFlag));
    expect(field(m, F.VmExitReason)).toBe(37);
    expect(field(m, F.GuestRip)).toBe(GUEST_RIP + 1);
    resume(m);
    expect(field(m, F.VmExitReason)).toBe(37);
    expect(field(m, F.GuestRip)).toBe(GUEST_RIP + 2);
  });

  it('sti; cpuid: the CPUID exit saves blocking by STI (the instruction ran in its shadow, §27.3.4); a later exit does not', () => {
    const m = launchInsn([0xfb, 0x0f, 0xa2, 0x90, 0x0f, 0xa2], () => undefined);
    expect(field(m, F.VmExitReason)).toBe(10);
    expect(field(m, F.GuestRip)).toBe(GUEST_RIP + 1);
    expect(field(m, F.GuestInterruptibilityInfo)).toBe(Interruptibility.BlockingBySti);
    // The host skips the CPUID and clears the blocking, as a VMM does.
    m.vmx.current!.set(F.GuestRip, GUEST_RIP + 3);
    m.vmx.current!.set(F.GuestInterruptibilityInfo, 0);
    resume(m);
    expect(field(m, F.VmExitReason)).toBe(10);
    expect(field(m, F.GuestRip)).toBe(GUEST_RIP + 4);
    expect(field(m, F.GuestInterruptibilityInfo)).toBe(0);
  });

  it('an NMI that exits while the guest is in HLT saves activity state HLT (§27.1, §27.3.4)', () => {
    const m = launch([], (v, g) => {
      or(v, F.PinBasedVmExecControl, PinCtl.NmiExiting);
      v.set(F.GuestActivityState, 1);
      g.cpu.nmiPending = true;
    });
    expect(field(m, F.VmExitReason)).toBe(0);
    expect(field(m, F.VmExitInterruptionInfo)).toBe(0x8000_0202);
    expect(field(m, F.GuestActivityState)).toBe(1);
    expect(m.cpu.halted).toBe(false);
  });

  it('external-interrupt exiting with IF = 0 from HLT: exit 1, activity state HLT, RIP after the HLT', () => {
    const m = launch([], (v, g) => {
      or(v, F.PinBasedVmExecControl, PinCtl.ExternalInterruptExiting);
      g.cpu.interrupts = { hasInterrupt: () => g.cpu.halted, acknowledge: () => 0x20 };
    });
    expect(field(m, F.VmExitReason)).toBe(1);
    expect(field(m, F.GuestActivityState)).toBe(1);
    expect(field(m, F.GuestRip)).toBe(GUEST_RIP + 1);
    expect(m.cpu.intrIgnoresIf).toBe(false);
  });

  it('descriptor-table exiting through the real exit: reason 46 and the instruction information', () => {
    const m = launch([0x0f, 0x01, 0x43, 0x10], (v, g) => {
      withSecondary(v, Proc2Ctl.DescriptorTableExiting);
      g.setReg(Reg.RBX, 0x340000);
    });
    expect(field(m, F.VmExitReason)).toBe(46);
    expect(field(m, F.ExitQualification)).toBe(0x10);
  });
});
