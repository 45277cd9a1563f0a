/**
 * The VMX instructions driven by real instruction bytes (SDM Vol. 3C §30.3), with the expected
 * outcomes from the SDM: #UD/#GP conditions, VMsucceed/VMfailInvalid/VMfailValid with the
 * VM-instruction error numbers of Table 30-1, field-width rules of §24.11.2, the VMCS cache, and
 * the VM exits in non-root operation (exit qualification = displacement, Table 27-1).
 *
 * VM entry (entry.ts), the instruction VM exit (nonroot.ts) and EPTP switching (ept.ts) belong
 * to other modules: they are replaced by recorders here so these tests exercise this module.
 */
import { Cr0, Cr4, Flag, INTEL_CORE } from '@hvkit/x86';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_VMX_FEATURES } from './caps.js';
import { ProcCtl, Proc2Ctl } from './constants.js';
import { VMCS_DATA_OFFSET, VMCS_LAUNCH_OFFSET, VMCS_SLOT, VmcsField } from './fields.js';
import { opInvept, opInvvpid, opVmclear, opVmlaunch, opVmptrld, opVmptrst, opVmread, opVmwrite, opVmxon } from './instructions.js';
import { R, VMX_FLAGS, VmxMachine, X } from './test-harness.js';
import type * as EntryModule from './entry.js';
import type * as EptModule from './ept.js';
import type * as NonrootModule from './nonroot.js';

const mocks = vi.hoisted(() => ({
  exits: [] as { reason: number; qualLo: number; qualHi: number; curRec: number }[],
  entries: [] as boolean[],
  eptpSwitch: { result: false, calls: [] as number[] },
}));

vi.mock('./nonroot.js', async (importOriginal) => {
  const orig = await importOriginal<typeof NonrootModule>();
  return {
    ...orig,
    exitForInstruction: (_vmx: unknown, cpu: { curRec: number }, reason: number, qualLo: number, qualHi: number) => {
      mocks.exits.push({ reason, qualLo, qualHi, curRec: cpu.curRec });
    },
  };
});
vi.mock('./entry.js', async (importOriginal) => {
  const orig = await importOriginal<typeof EntryModule>();
  return { ...orig, vmEntry: (_vmx: unknown, _cpu: unknown, launch: boolean) => void mocks.entries.push(launch) };
});
vi.mock('./ept.js', async (importOriginal) => {
  const orig = await importOriginal<typeof EptModule>();
  return {
    ...orig,
    eptTranslate: (_vmx: unknown, _cpu: unknown, gpa: number) => gpa,
    eptpSwitch: (_vmx: unknown, _cpu: unknown, index: number) => {
      mocks.eptpSwitch.calls.push(index);
      return mocks.eptpSwitch.result;
    },
  };
});

const VMXON_REGION = 0x100000;
const VMCS_A = 0x101000;
const VMCS_B = 0x102000;
/** Where instructions find their m64 pointer operand (RAX points here). */
const OPND = 0x200000;
const UD = 6;
const GP = 13;

function machine(): VmxMachine {
  return new VmxMachine().long64().enableVmx();
}

/** Runs `insn; hlt` with RAX = OPND holding `ptr` (m64), all six VMX flags set first. */
function withPtr(m: VmxMachine, insn: number[], ptr: bigint | number): void {
  m.w64(OPND, ptr);
  m.setReg(R.RAX, OPND);
  m.setArith(VMX_FLAGS);
  m.run([...insn, ...X.hlt]);
}

function vmxon(m: VmxMachine): void {
  m.region(VMXON_REGION);
  withPtr(m, X.vmxon(X.MEM_RAX), VMXON_REGION);
  expect(m.fault).toBeNull();
  expect(m.outcome()).toBe('succeed');
}

function vmptrld(m: VmxMachine, at: number): void {
  withPtr(m, X.vmptrld(X.MEM_RAX), at);
  expect(m.fault).toBeNull();
  expect(m.outcome()).toBe('succeed');
}

/** VMXON, then VMCLEAR + VMPTRLD of VMCS_A. */
function ready(): VmxMachine {
  const m = machine();
  vmxon(m);
  m.region(VMCS_A);
  withPtr(m, X.vmclear(X.MEM_RAX), VMCS_A);
  vmptrld(m, VMCS_A);
  return m;
}

/** VMWRITE rax(encoding), rbx(value). */
function vmwrite(m: VmxMachine, enc: number, value: bigint | number): void {
  m.setReg(R.RAX, enc).setReg(R.RBX, value).setArith(VMX_FLAGS);
  m.run([...X.vmwrite(R.RAX, X.REG(R.RBX)), ...X.hlt]);
}

/** VMREAD rbx, rax(encoding): returns RBX (set to a marker first). */
function vmread(m: VmxMachine, enc: number | bigint): bigint {
  m.setReg(R.RAX, enc).setReg(R.RBX, 0xdeadbeefcafen).setArith(VMX_FLAGS);
  m.run([...X.vmread(X.REG(R.RBX), R.RAX), ...X.hlt]);
  return m.reg(R.RBX);
}

beforeEach(() => {
  mocks.exits.length = 0;
  mocks.entries.length = 0;
  mocks.eptpSwitch.calls.length = 0;
  mocks.eptpSwitch.result = false;
});

describe('VMXON', () => {
  it('enters VMX root operation: VMsucceed, INIT blocked, no current VMCS', () => {
    const m = machine();
    vmxon(m);
    expect(m.vmx.inVmx).toBe(true);
    expect(m.vmx.vmxonPointer).toBe(VMXON_REGION);
    expect(m.cpu.initBlocked).toBe(true);
    expect(m.vmx.current).toBeNull();
    expect(m.rip).toBe(BigInt(0x10000 + 4 + 1)); // past the HLT that follows the 4-byte VMXON
  });

  it('#UD with CR4.VMXE = 0, in real mode, in virtual-8086 mode and in compatibility mode', () => {
    const noVmxe = machine();
    noVmxe.cpu.cr4 &= ~Cr4.VMXE;
    withPtr(noVmxe, X.vmxon(X.MEM_RAX), VMXON_REGION);
    expect(noVmxe.fault?.vector).toBe(UD);

    const real = new VmxMachine().real().enableVmx();
    real.run([...X.vmxon(X.MEM_RAX), ...X.hlt]);
    expect(real.fault?.vector).toBe(UD);

    const v86 = new VmxMachine().paged32().enableVmx().v86();
    v86.run([...X.vmxon(X.MEM_RAX), ...X.hlt]);
    expect(v86.fault?.vector).toBe(UD);

    const compat = new VmxMachine().long64(0, true).enableVmx();
    withPtr(compat, X.vmxon(X.MEM_RAX), VMXON_REGION);
    expect(compat.fault?.vector).toBe(UD);
    expect(compat.vmx.inVmx).toBe(false);
  });

  it('#GP(0) at CPL 3, with CR0 or CR4 values not supported in VMX operation, and without IA32_FEATURE_CONTROL lock / VMX-outside-SMX', () => {
    const cpl3 = new VmxMachine().long64(3).enableVmx();
    withPtr(cpl3, X.vmxon(X.MEM_RAX), VMXON_REGION);
    expect(cpl3.fault).toEqual({ kind: expect.any(Number), vector: GP, error: 0 });

    const noNe = machine();
    noNe.cpu.cr0 &= ~Cr0.NE; // CR0 FIXED0 bit 5
    withPtr(noNe, X.vmxon(X.MEM_RAX), VMXON_REGION);
    expect(noNe.fault?.vector).toBe(GP);

    const unlocked = new VmxMachine().long64().enableVmx(4);
    withPtr(unlocked, X.vmxon(X.MEM_RAX), VMXON_REGION);
    expect(unlocked.fault?.vector).toBe(GP);

    const noOutsideSmx = new VmxMachine().long64().enableVmx(1);
    withPtr(noOutsideSmx, X.vmxon(X.MEM_RAX), VMXON_REGION);
    expect(noOutsideSmx.fault?.vector).toBe(GP);

    const a20m = machine();
    a20m.cpu.setA20(false);
    withPtr(a20m, X.vmxon(X.MEM_RAX), VMXON_REGION);
    expect(a20m.fault?.vector).toBe(GP);
    for (const mm of [cpl3, noNe, unlocked, noOutsideSmx, a20m]) expect(mm.vmx.inVmx).toBe(false);
  });

  it('#GP(0) for a non-canonical memory operand (the operand is read after the #GP checks)', () => {
    const m = machine();
    m.region(VMXON_REGION);
    m.setReg(R.RAX, 0x0000_8000_0000_0000n);
    m.run([...X.vmxon(X.MEM_RAX), ...X.hlt]);
    expect(m.fault).toMatchObject({ vector: GP, error: 0 });
    expect(m.vmx.inVmx).toBe(false);
  });

  it('VMfailInvalid: unaligned pointer, pointer beyond MAXPHYADDR, wrong revision, bit 31 set', () => {
    const bits = INTEL_CORE.physAddrBits;
    const cases: [string, bigint, (m: VmxMachine) => void][] = [
      ['unaligned', BigInt(VMXON_REGION + 8), (m) => m.region(VMXON_REGION)],
      ['beyond MAXPHYADDR', 1n << BigInt(bits), () => undefined],
      ['revision', BigInt(VMXON_REGION), (m) => m.region(VMXON_REGION, DEFAULT_VMX_FEATURES.revisionId + 1)],
      ['bit 31', BigInt(VMXON_REGION), (m) => m.region(VMXON_REGION, DEFAULT_VMX_FEATURES.revisionId, true)],
    ];
    for (const [name, ptr, prep] of cases) {
      const m = machine();
      prep(m);
      withPtr(m, X.vmxon(X.MEM_RAX), ptr);
      expect(m.fault, name).toBeNull();
      expect(m.outcome(), name).toBe('failInvalid');
      expect(m.vmx.inVmx, name).toBe(false);
    }
  });

  it('in VMX root operation: VMfail(15), VMfailInvalid without a current VMCS; #GP(0) at CPL 3', () => {
    const m = machine();
    vmxon(m);
    withPtr(m, X.vmxon(X.MEM_RAX), VMXON_REGION);
    expect(m.outcome()).toBe('failInvalid');

    const r = ready();
    withPtr(r, X.vmxon(X.MEM_RAX), VMXON_REGION);
    expect(r.outcome()).toBe('failValid');
    expect(r.instructionError()).toBe(15);

    r.long64(3);
    withPtr(r, X.vmxon(X.MEM_RAX), VMXON_REGION);
    expect(r.fault?.vector).toBe(GP);
  });
});

describe('VMXOFF', () => {
  it('#UD outside VMX operation; #GP(0) at CPL 3', () => {
    const m = machine();
    m.run([...X.vmxoff, ...X.hlt]);
    expect(m.fault?.vector).toBe(UD);

    const r = machine();
    vmxon(r);
    r.long64(3);
    r.run([...X.vmxoff, ...X.hlt]);
    expect(r.fault?.vector).toBe(GP);
    expect(r.vmx.inVmx).toBe(true);
  });

  it('leaves VMX operation, unblocks INIT, VMsucceed', () => {
    const m = machine();
    vmxon(m);
    m.setArith(VMX_FLAGS);
    m.run([...X.vmxoff, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(m.outcome()).toBe('succeed');
    expect(m.vmx.inVmx).toBe(false);
    expect(m.cpu.initBlocked).toBe(false);
    // VMXON works again afterwards.
    vmxon(m);
  });

  it('VMRESUME of a VMCS kept active across VMXOFF/VMXON fails with error 6', () => {
    const m = ready();
    m.vmx.current!.launched = true;
    m.run([...X.vmxoff, ...X.hlt]);
    vmxon(m);
    vmptrld(m, VMCS_A);
    m.setArith(VMX_FLAGS);
    m.run([...X.vmresume, ...X.hlt]);
    expect(m.outcome()).toBe('failValid');
    expect(m.instructionError()).toBe(6);
    expect(mocks.entries).toEqual([]);
  });
});

describe('VMCLEAR / VMPTRLD / VMPTRST', () => {
  it('#UD outside VMX operation, #GP(0) at CPL 3', () => {
    for (const insn of [X.vmclear(X.MEM_RAX), X.vmptrld(X.MEM_RAX), X.vmptrst(X.MEM_RAX)]) {
      const m = machine();
      withPtr(m, insn, VMCS_A);
      expect(m.fault?.vector).toBe(UD);
      const r = machine();
      vmxon(r);
      r.long64(3);
      withPtr(r, insn, VMCS_A);
      expect(r.fault?.vector).toBe(GP);
    }
  });

  it('VMCLEAR: invalid address VMfail(2), VMXON pointer VMfail(3)', () => {
    const m = machine();
    vmxon(m);
    withPtr(m, X.vmclear(X.MEM_RAX), VMCS_A + 0x10);
    expect(m.outcome()).toBe('failInvalid'); // no current VMCS: VMfailInvalid
    const r = ready();
    withPtr(r, X.vmclear(X.MEM_RAX), VMCS_A + 0x10);
    expect([r.outcome(), r.instructionError()]).toEqual(['failValid', 2]);
    withPtr(r, X.vmclear(X.MEM_RAX), 1n << BigInt(INTEL_CORE.physAddrBits));
    expect([r.outcome(), r.instructionError()]).toEqual(['failValid', 2]);
    withPtr(r, X.vmclear(X.MEM_RAX), VMXON_REGION);
    expect([r.outcome(), r.instructionError()]).toEqual(['failValid', 3]);
  });

  it('VMPTRLD: invalid address VMfail(9), VMXON pointer VMfail(10), revision or shadow bit VMfail(11)', () => {
    const r = ready();
    withPtr(r, X.vmptrld(X.MEM_RAX), VMCS_B + 1);
    expect([r.outcome(), r.instructionError()]).toEqual(['failValid', 9]);
    withPtr(r, X.vmptrld(X.MEM_RAX), VMXON_REGION);
    expect([r.outcome(), r.instructionError()]).toEqual(['failValid', 10]);
    r.region(VMCS_B, DEFAULT_VMX_FEATURES.revisionId ^ 1);
    withPtr(r, X.vmptrld(X.MEM_RAX), VMCS_B);
    expect([r.outcome(), r.instructionError()]).toEqual(['failValid', 11]);
    r.region(VMCS_B, DEFAULT_VMX_FEATURES.revisionId, true);
    withPtr(r, X.vmptrld(X.MEM_RAX), VMCS_B);
    expect([r.outcome(), r.instructionError()]).toEqual(['failValid', 11]);
    expect(r.vmx.current!.address).toBe(VMCS_A);
    // Without a current VMCS the same failures are VMfailInvalid.
    const m = machine();
    vmxon(m);
    withPtr(m, X.vmptrld(X.MEM_RAX), VMXON_REGION);
    expect(m.outcome()).toBe('failInvalid');
  });

  it('VMPTRST stores the current-VMCS pointer, FFFFFFFF_FFFFFFFFH when there is none', () => {
    const m = machine();
    vmxon(m);
    m.w64(OPND, 0);
    m.setReg(R.RAX, OPND).setArith(VMX_FLAGS);
    m.run([...X.vmptrst(X.MEM_RAX), ...X.hlt]);
    expect(m.outcome()).toBe('succeed');
    expect(m.r64(OPND)).toBe(0xffff_ffff_ffff_ffffn);
    expect(opVmptrst(m.vmx)).toBe(-1);

    const r = ready();
    r.setArith(VMX_FLAGS);
    r.setReg(R.RBX, OPND + 0x40);
    r.run([...X.vmptrst(X.memDisp8(R.RBX, 8)), ...X.hlt]);
    expect(r.outcome()).toBe('succeed');
    expect(r.r64(OPND + 0x48)).toBe(BigInt(VMCS_A));
  });

  it('VMPTRLD reads a region that is not active; VMCLEAR writes the cached data back and clears the launch state', () => {
    const m = machine();
    vmxon(m);
    m.region(VMCS_A);
    const ripAt = VMCS_A + VMCS_DATA_OFFSET + 8 * VMCS_SLOT[VmcsField.GuestRip]!;
    m.w64(ripAt, 0x1122_3344_5566_7788n);
    vmptrld(m, VMCS_A);
    expect(vmread(m, VmcsField.GuestRip)).toBe(0x1122_3344_5566_7788n);

    vmwrite(m, VmcsField.GuestRip, 0xabcdn);
    expect(m.outcome()).toBe('succeed');
    // Memory is not kept in step while the VMCS is active...
    expect(m.r64(ripAt)).toBe(0x1122_3344_5566_7788n);
    m.vmx.current!.launched = true;
    withPtr(m, X.vmclear(X.MEM_RAX), VMCS_A);
    expect(m.outcome()).toBe('succeed');
    // ... VMCLEAR writes it back, sets the launch state to clear and invalidates the current-VMCS pointer.
    expect(m.r64(ripAt)).toBe(0xabcdn);
    expect(m.r32(VMCS_A + VMCS_LAUNCH_OFFSET)).toBe(0);
    expect(m.vmx.current).toBeNull();
    expect(m.vmx.active.size).toBe(0);
    expect(m.r32(VMCS_A)).toBe(DEFAULT_VMX_FEATURES.revisionId);
  });

  it('VMPTRLD of an active VMCS does not reread memory; VMCLEAR of a non-current active VMCS keeps the current one', () => {
    const m = machine();
    vmxon(m);
    m.region(VMCS_A).region(VMCS_B);
    vmptrld(m, VMCS_A);
    vmwrite(m, VmcsField.GuestRsp, 0x1000);
    vmptrld(m, VMCS_B);
    const rspAt = VMCS_A + VMCS_DATA_OFFSET + 8 * VMCS_SLOT[VmcsField.GuestRsp]!;
    m.w64(rspAt, 0x2222);
    vmptrld(m, VMCS_A);
    expect(vmread(m, VmcsField.GuestRsp)).toBe(0x1000n);
    withPtr(m, X.vmclear(X.MEM_RAX), VMCS_B);
    expect(m.outcome()).toBe('succeed');
    expect(m.vmx.current!.address).toBe(VMCS_A);
    expect(m.vmx.active.size).toBe(1);
  });

  it('reuses freed Vmcs objects (no allocation per VMPTRLD/VMCLEAR cycle)', () => {
    const m = machine();
    vmxon(m);
    m.region(VMCS_A).region(VMCS_B);
    vmptrld(m, VMCS_A);
    const first = m.vmx.current;
    withPtr(m, X.vmclear(X.MEM_RAX), VMCS_A);
    vmptrld(m, VMCS_B);
    expect(m.vmx.current).toBe(first);
    expect(m.vmx.current!.address).toBe(VMCS_B);
  });

  it('the launch state is read from the region on VMPTRLD', () => {
    const m = machine();
    vmxon(m);
    m.region(VMCS_A);
    m.w32(VMCS_A + VMCS_LAUNCH_OFFSET, 1);
    vmptrld(m, VMCS_A);
    m.setArith(VMX_FLAGS);
    m.run([...X.vmlaunch, ...X.hlt]);
    expect([m.outcome(), m.instructionError()]).toEqual(['failValid', 4]);
  });
});

describe('VMREAD / VMWRITE', () => {
  it('#UD outside VMX operation; #GP(0) at CPL 3', () => {
    const m = machine();
    m.run([...X.vmread(X.REG(R.RBX), R.RAX), ...X.hlt]);
    expect(m.fault?.vector).toBe(UD);
    const r = ready();
    r.long64(3);
    r.run([...X.vmwrite(R.RAX, X.REG(R.RBX)), ...X.hlt]);
    expect(r.fault?.vector).toBe(GP);
  });

  it('VMfailInvalid without a current VMCS', () => {
    const m = machine();
    vmxon(m);
    expect(vmread(m, VmcsField.GuestRip)).toBe(0xdeadbeefcafen); // destination untouched
    expect(m.outcome()).toBe('failInvalid');
    vmwrite(m, VmcsField.GuestRip, 1);
    expect(m.outcome()).toBe('failInvalid');
  });

  it('unsupported components: VMfailValid(12), destination untouched', () => {
    const m = ready();
    const bad = [
      0x1000 | VmcsField.GuestRip, // bit 12 reserved
      0x8000 | VmcsField.GuestRip, // bits 31:15 reserved
      VmcsField.VmExitControls | 1, // high access of a 32-bit field
      VmcsField.GuestRip | 1, // high access of a natural-width field
      0x6c40, // a host-state natural-width index not in the table
      0x0002, // posted-interrupt notification vector: not advertised
    ];
    for (const enc of bad) {
      expect(vmread(m, enc), enc.toString(16)).toBe(0xdeadbeefcafen);
      expect([m.outcome(), m.instructionError()], enc.toString(16)).toEqual(['failValid', 12]);
      vmwrite(m, enc, 0);
      expect([m.outcome(), m.instructionError()], enc.toString(16)).toEqual(['failValid', 12]);
    }
    // In 64-bit mode the encoding register is 64 bits: bits 63:32 set is no field.
    expect(vmread(m, (1n << 32n) | BigInt(VmcsField.GuestRip))).toBe(0xdeadbeefcafen);
    expect(m.instructionError()).toBe(12);
  });

  it('VMWRITE to a read-only (VM-exit information) field: VMfailValid(13); VMREAD of it succeeds', () => {
    const m = ready();
    m.vmx.current!.set(VmcsField.VmExitReason, 30);
    vmwrite(m, VmcsField.VmExitReason, 5);
    expect([m.outcome(), m.instructionError()]).toEqual(['failValid', 13]);
    expect(vmread(m, VmcsField.VmExitReason)).toBe(30n);
    expect(m.outcome()).toBe('succeed');
    // The error field itself is read-only too, and reads back the last error.
    expect(vmread(m, VmcsField.VmInstructionError)).toBe(13n);
  });

  it('field widths in 64-bit mode (§24.11.2): 16-bit and 32-bit fields truncate, 64-bit full and high accesses', () => {
    const m = ready();
    vmwrite(m, VmcsField.GuestEsSelector, 0xffff_ffff_1234_5678n);
    expect(m.outcome()).toBe('succeed');
    expect(vmread(m, VmcsField.GuestEsSelector)).toBe(0x5678n);
    vmwrite(m, VmcsField.PinBasedVmExecControl, 0xffff_ffff_1234_5678n);
    expect(vmread(m, VmcsField.PinBasedVmExecControl)).toBe(0x1234_5678n);
    vmwrite(m, VmcsField.VmcsLinkPointer, 0x1122_3344_5566_7788n);
    expect(vmread(m, VmcsField.VmcsLinkPointer)).toBe(0x1122_3344_5566_7788n);
    expect(vmread(m, VmcsField.VmcsLinkPointer | 1)).toBe(0x1122_3344n);
    vmwrite(m, VmcsField.VmcsLinkPointer | 1, 0xffff_ffff_aabb_ccddn);
    expect(vmread(m, VmcsField.VmcsLinkPointer)).toBe(0xaabb_ccdd_5566_7788n);
    vmwrite(m, VmcsField.GuestRip, 0xffff_8000_0000_1234n);
    expect(vmread(m, VmcsField.GuestRip)).toBe(0xffff_8000_0000_1234n);
  });

  it('outside 64-bit mode: 32-bit operands, natural-width and 64-bit full writes clear bits 63:32', () => {
    const m = ready();
    vmwrite(m, VmcsField.VmcsLinkPointer, 0x1122_3344_5566_7788n);
    vmwrite(m, VmcsField.GuestRip, 0x1122_3344_5566_7788n);
    m.paged32();
    // VMREAD of a 64-bit field returns bits 31:0; the high access returns bits 63:32.
    m.setReg(R.RBX, 0);
    expect(vmread(m, VmcsField.VmcsLinkPointer) & 0xffff_ffffn).toBe(0x5566_7788n);
    expect(vmread(m, VmcsField.VmcsLinkPointer | 1) & 0xffff_ffffn).toBe(0x1122_3344n);
    // The encoding register is 32 bits: its bits 63:32 do not matter.
    m.setReg(R.RAX, (1n << 32n) | BigInt(VmcsField.GuestRip)).setReg(R.RBX, 0x99).setArith(VMX_FLAGS);
    m.run([...X.vmwrite(R.RAX, X.REG(R.RBX)), ...X.hlt]);
    expect(m.outcome()).toBe('succeed');
    expect(m.vmx.current!.get(VmcsField.GuestRip)).toBe(0x99);
    expect(m.vmx.current!.getHi(VmcsField.GuestRip)).toBe(0);
    vmwrite(m, VmcsField.VmcsLinkPointer, 0xffff_ffff_0000_0001n);
    expect(m.vmx.current!.get(VmcsField.VmcsLinkPointer)).toBe(1);
    expect(m.vmx.current!.getHi(VmcsField.VmcsLinkPointer)).toBe(0);
  });

  it('memory operands: VMREAD stores and VMWRITE loads 64 bits in 64-bit mode', () => {
    const m = ready();
    m.w64(OPND, 0x0102_0304_0506_0708n);
    m.setReg(R.RAX, VmcsField.GuestRsp).setReg(R.RBX, OPND).setArith(VMX_FLAGS);
    m.run([...X.vmwrite(R.RAX, X.MEM_RBX), ...X.hlt]);
    expect(m.outcome()).toBe('succeed');
    m.setReg(R.RBX, OPND).setArith(VMX_FLAGS);
    m.run([...X.vmread(X.memDisp8(R.RBX, 0x10), R.RAX), ...X.hlt]);
    expect(m.outcome()).toBe('succeed');
    expect(m.r64(OPND + 0x10)).toBe(0x0102_0304_0506_0708n);
  });

  it('VMWRITE bumps the VMCS generation for control and host-state fields only (the cached VM-entry checks, SDM §26.2)', () => {
    const m = ready();
    const g = m.vmx.current!.generation;
    vmwrite(m, VmcsField.GuestRsp, 5);
    // Guest-state fields (type 2) are checked on every VM entry (§26.3.1): no bump.
    expect(m.vmx.current!.generation).toBe(g);
    vmwrite(m, VmcsField.ExceptionBitmap, 5);
    expect(m.vmx.current!.generation).toBe(g + 1);
    vmwrite(m, VmcsField.HostRip, 5);
    expect(m.vmx.current!.generation).toBe(g + 2);
  });

  it('opVmread/opVmwrite (the typed API path) report the same outcomes', () => {
    const m = ready();
    const { vmx, cpu } = m;
    expect(opVmwrite(vmx, cpu, VmcsField.GuestCr3, 0x1000, 0x1)).toBe(0);
    expect(opVmread(vmx, cpu, VmcsField.GuestCr3)).toBe(0x1000);
    expect(vmx.readHi).toBe(1);
    expect(opVmwrite(vmx, cpu, VmcsField.IoRcx, 1, 0)).toBe(13);
    expect(opVmread(vmx, cpu, 0x7fff)).toBe(0);
    expect(vmx.outcome).toBe(12);
    expect(cpu.getEflags() & VMX_FLAGS).toBe(Flag.ZF);
  });
});

describe('VMLAUNCH / VMRESUME', () => {
  it('#UD outside VMX operation; #GP(0) at CPL 3', () => {
    const m = machine();
    m.run([...X.vmlaunch, ...X.hlt]);
    expect(m.fault?.vector).toBe(UD);
    const r = ready();
    r.long64(3);
    r.run([...X.vmresume, ...X.hlt]);
    expect(r.fault?.vector).toBe(GP);
  });

  it('VMfailInvalid without a current VMCS', () => {
    const m = machine();
    vmxon(m);
    m.setArith(VMX_FLAGS);
    m.run([...X.vmlaunch, ...X.hlt]);
    expect(m.outcome()).toBe('failInvalid');
    expect(mocks.entries).toEqual([]);
  });

  it('VMLAUNCH of a launched VMCS: error 4; VMRESUME of a clear VMCS: error 5', () => {
    const m = ready();
    m.setArith(VMX_FLAGS);
    m.run([...X.vmresume, ...X.hlt]);
    expect([m.outcome(), m.instructionError()]).toEqual(['failValid', 5]);
    m.vmx.current!.launched = true;
    m.setArith(VMX_FLAGS);
    m.run([...X.vmlaunch, ...X.hlt]);
    expect([m.outcome(), m.instructionError()]).toEqual(['failValid', 4]);
    expect(mocks.entries).toEqual([]);
  });

  it('events blocked by MOV SS: error 26 (checked before the launch state)', () => {
    const m = ready();
    m.vmx.current!.launched = true;
    // The blocking this VMLAUNCH runs under (the core's insnShadow: 2 = by MOV SS).
    m.cpu.insnShadow = 2;
    expect(opVmlaunch(m.vmx, m.cpu, true)).toBe(26);
    expect(m.instructionError()).toBe(26);
    // Blocking by STI does not stop VM entry.
    m.cpu.insnShadow = 1;
    m.vmx.current!.launched = false;
    expect(opVmlaunch(m.vmx, m.cpu, true)).toBe(0);
    expect(mocks.entries).toEqual([true]);
  });

  it('MOV SS, EAX; VMLAUNCH / VMRESUME through instruction bytes: VMfailValid(26) even with a launched VMCS', () => {
    const m = ready();
    m.vmx.current!.launched = true;
    // mov eax, ss; mov ss, eax; vmlaunch
    m.setArith(0);
    m.run([0x8c, 0xd0, 0x8e, 0xd0, ...X.vmlaunch, ...X.hlt]);
    expect([m.outcome(), m.instructionError()]).toEqual(['failValid', 26]);
    m.setArith(0);
    m.run([0x8c, 0xd0, 0x8e, 0xd0, ...X.vmresume, ...X.hlt]);
    expect([m.outcome(), m.instructionError()]).toEqual(['failValid', 26]);
    expect(mocks.entries).toEqual([]);
    // One instruction later the blocking is over: VMRESUME reaches VM entry.
    m.run([0x8c, 0xd0, 0x8e, 0xd0, ...X.nop, ...X.vmresume, ...X.hlt]);
    // STI's blocking does not stop VM entry (the flags must allow STI: IF = 0 -> 1 shadow).
    m.run([0xfa, 0xfb, ...X.vmresume, ...X.hlt]);
    expect(mocks.entries).toEqual([false, false]);
  });

  it('otherwise hands over to VM entry with the instruction kind', () => {
    const m = ready();
    m.run([...X.vmlaunch, ...X.hlt]);
    m.vmx.current!.launched = true;
    m.run([...X.vmresume, ...X.hlt]);
    expect(mocks.entries).toEqual([true, false]);
  });
});

describe('INVEPT / INVVPID', () => {
  const DESC = 0x300000;
  /** INVEPT/INVVPID rax(type), [rbx] with the descriptor (lo, hi). */
  function inv(m: VmxMachine, ept: boolean, type: bigint | number, lo: bigint | number, hi: bigint | number): void {
    m.w64(DESC, lo);
    m.w64(DESC + 8, hi);
    m.setReg(R.RAX, type).setReg(R.RBX, DESC).setArith(VMX_FLAGS);
    m.run([...(ept ? X.invept(R.RAX, X.MEM_RBX) : X.invvpid(R.RAX, X.MEM_RBX)), ...X.hlt]);
  }
  /** A valid EPTP: WB (6), page-walk length 4 (3 << 3). */
  const EPTP = 0x400000 | 6 | (3 << 3);

  it('#UD outside VMX operation or with a register operand; #GP(0) at CPL 3', () => {
    const m = machine();
    inv(m, true, 2, 0, 0);
    expect(m.fault?.vector).toBe(UD);
    const r = ready();
    r.run([0x66, 0x0f, 0x38, 0x81, 0xc3, ...X.hlt]); // invvpid rax, rbx
    expect(r.fault?.vector).toBe(UD);
    const c = ready();
    c.long64(3);
    inv(c, false, 2, 0, 0);
    expect(c.fault?.vector).toBe(GP);
  });

  it('#UD when the processor has no INVEPT', () => {
    const m = new VmxMachine({ features: { ...DEFAULT_VMX_FEATURES, inveptTypes: 0 } }).long64().enableVmx();
    vmxon(m);
    inv(m, true, 2, 0, 0);
    expect(m.fault?.vector).toBe(UD);
  });

  it('INVEPT: unsupported types and single-context with an invalid EPTP fail with error 28; valid ones flush the TLB', () => {
    const m = ready();
    const flush = vi.spyOn(m.cpu, 'flushAllTlbBanks');
    for (const t of [0, 3, 1n << 32n | 2n]) {
      inv(m, true, t, EPTP, 0);
      expect([m.outcome(), m.instructionError()], String(t)).toEqual(['failValid', 28]);
    }
    for (const bad of [0x400000 | 1 | (3 << 3), 0x400000 | 6 | (2 << 3), 0x400000 | 6 | (3 << 3) | 0x80]) {
      inv(m, true, 1, bad, 0);
      expect([m.outcome(), m.instructionError()], bad.toString(16)).toEqual(['failValid', 28]);
    }
    inv(m, true, 1, BigInt(EPTP) | (1n << BigInt(INTEL_CORE.physAddrBits)), 0);
    expect(m.instructionError()).toBe(28);
    expect(flush).not.toHaveBeenCalled();
    inv(m, true, 1, EPTP, 0);
    expect(m.outcome()).toBe('succeed');
    inv(m, true, 2, 0, 0);
    expect(m.outcome()).toBe('succeed');
    expect(flush).toHaveBeenCalledTimes(2);
    expect(opInvept(m.vmx, m.cpu, 1, EPTP | 0x40, 0)).toBe(0); // A/D flags: advertised
  });

  it('INVVPID: error 28 for unsupported types, bits 63:16 set, VPID 0 (types 0, 1, 3), non-canonical address (type 0)', () => {
    const m = ready();
    const flush = vi.spyOn(m.cpu, 'flushAllTlbBanks');
    const fails: [string, number | bigint, bigint, bigint][] = [
      ['type 4', 4, 1n, 0n],
      ['bits 63:16', 1, 0x10001n, 0n],
      ['bits 63:32', 2, 1n << 40n, 0n],
      ['vpid 0 individual', 0, 0n, 0x1000n],
      ['vpid 0 single', 1, 0n, 0n],
      ['vpid 0 retaining globals', 3, 0n, 0n],
      ['non-canonical', 0, 1n, 0x0000_8000_0000_0000n],
    ];
    for (const [name, t, lo, hi] of fails) {
      inv(m, false, t, lo, hi);
      expect([m.outcome(), m.instructionError()], name).toEqual(['failValid', 28]);
    }
    expect(flush).not.toHaveBeenCalled();
    const ok: [number, bigint, bigint][] = [
      [0, 1n, 0xffff_8000_0000_0000n],
      [1, 5n, 0x0000_8000_0000_0000n], // the address is ignored for type 1
      [2, 0n, 0n],
      [3, 7n, 0n],
    ];
    for (const [t, lo, hi] of ok) {
      inv(m, false, t, lo, hi);
      expect(m.outcome(), `type ${t}`).toBe('succeed');
    }
    expect(flush).toHaveBeenCalledTimes(4);
    expect(opInvvpid(m.vmx, m.cpu, 1, 0, 0, 0)).toBe(28);
  });
});

describe('VMCALL', () => {
  it('#UD outside VMX operation', () => {
    const m = machine();
    m.run([...X.vmcall, ...X.hlt]);
    expect(m.fault?.vector).toBe(UD);
  });

  it('in VMX root operation: VMfail(1) (VMfailInvalid without a current VMCS); #GP(0) at CPL 3', () => {
    const m = machine();
    vmxon(m);
    m.setArith(VMX_FLAGS);
    m.run([...X.vmcall, ...X.hlt]);
    expect(m.outcome()).toBe('failInvalid');
    const r = ready();
    r.setArith(VMX_FLAGS);
    r.run([...X.vmcall, ...X.hlt]);
    expect([r.outcome(), r.instructionError()]).toEqual(['failValid', 1]);
    r.long64(3);
    r.run([...X.vmcall, ...X.hlt]);
    expect(r.fault?.vector).toBe(GP);
  });
});

describe('VMX non-root operation', () => {
  /** A machine in non-root operation (guestMode) with a current VMCS, controls cached as nonRootEnter would. */
  function guest(cpl = 0): VmxMachine {
    const m = ready();
    m.long64(cpl);
    m.cpu.guestMode = true;
    return m;
  }

  it('every VMX instruction exits with its basic exit reason (SDM Appendix C), at any CPL', () => {
    const cases: [string, number[], number][] = [
      ['vmxon', X.vmxon(X.MEM_RAX), 27],
      ['vmxoff', [...X.vmxoff], 26],
      ['vmclear', X.vmclear(X.MEM_RAX), 19],
      ['vmptrld', X.vmptrld(X.MEM_RAX), 21],
      ['vmptrst', X.vmptrst(X.MEM_RAX), 22],
      ['vmread', X.vmread(X.REG(R.RBX), R.RAX), 23],
      ['vmwrite', X.vmwrite(R.RAX, X.REG(R.RBX)), 25],
      ['vmlaunch', [...X.vmlaunch], 20],
      ['vmresume', [...X.vmresume], 24],
      ['invept', X.invept(R.RAX, X.MEM_RBX), 50],
      ['invvpid', X.invvpid(R.RAX, X.MEM_RBX), 53],
      ['vmcall', [...X.vmcall], 18],
    ];
    for (const cpl of [0, 3]) {
      for (const [name, code, reason] of cases) {
        const m = guest(cpl);
        mocks.exits.length = 0;
        m.setReg(R.RAX, OPND).setReg(R.RBX, OPND);
        m.step(code);
        expect(m.fault, name).toBeNull();
        expect(mocks.exits.map((e) => e.reason), name).toEqual([reason]);
        expect(mocks.exits[0]!.qualLo, name).toBe(0);
      }
    }
    expect(mocks.entries).toEqual([]);
  });

  it('the exit qualification is the memory operand displacement, sign-extended (Table 27-1); cpu.curRec names the instruction', () => {
    const m = guest();
    m.setReg(R.RAX, OPND);
    m.step(X.vmclear(X.memDisp8(R.RAX, -16)));
    expect(mocks.exits[0]).toMatchObject({ reason: 19, qualLo: -16, qualHi: -1 });
    m.step(X.vmptrst(X.memDisp32(R.RAX, 0x12345)));
    expect(mocks.exits[1]).toMatchObject({ reason: 22, qualLo: 0x12345, qualHi: 0 });
    m.step(X.vmread(X.memDisp8(R.RAX, 0x20), R.RBX));
    expect(mocks.exits[2]).toMatchObject({ reason: 23, qualLo: 0x20, qualHi: 0 });
    expect(m.cpu.rec[mocks.exits[2]!.curRec + 5]).toBe(0x20); // R_DISP of the VMREAD's record
    // The operand is never read: nothing faults on a non-canonical address.
    m.setReg(R.RAX, 0x0000_8000_0000_0000n);
    m.step(X.vmptrld(X.MEM_RAX));
    expect(m.fault).toBeNull();
    expect(mocks.exits[3]!.reason).toBe(21);
  });

  it('the #UD checks come before the VM exit (compatibility mode, CR4.VMXE = 0 for VMXON)', () => {
    const m = guest();
    m.long64(0, true);
    m.step(X.vmclear(X.MEM_RAX));
    expect(m.fault?.vector).toBe(UD);
    const n = guest();
    n.cpu.cr4 &= ~Cr4.VMXE;
    n.step(X.vmxon(X.MEM_RAX));
    expect(n.fault?.vector).toBe(UD);
    expect(mocks.exits).toEqual([]);
  });

  it('VMFUNC: #UD in root operation and without "enable VM functions"', () => {
    const r = ready();
    r.run([...X.vmfunc, ...X.hlt]);
    expect(r.fault?.vector).toBe(UD);
    const g = guest();
    g.step([...X.vmfunc]);
    expect(g.fault?.vector).toBe(UD);
  });

  it('VMFUNC: EPTP switching through eptpSwitch when enabled; otherwise, or when it fails, VM exit 59', () => {
    const g = guest();
    g.vmx.proc = ProcCtl.ActivateSecondaryControls;
    g.vmx.proc2 = Proc2Ctl.EnableVmFunctions;
    g.vmx.current!.set(VmcsField.VmFunctionControls, 1);
    mocks.eptpSwitch.result = true;
    g.setReg(R.RAX, 0).setReg(R.RCX, 3);
    g.step([...X.vmfunc]);
    expect(mocks.eptpSwitch.calls).toEqual([3]);
    expect(mocks.exits).toEqual([]);
    expect(g.rip).toBe(BigInt(0x10000 + 3));

    mocks.eptpSwitch.result = false;
    g.step([...X.vmfunc]);
    expect(mocks.exits.map((e) => e.reason)).toEqual([59]);

    g.setReg(R.RAX, 1);
    g.step([...X.vmfunc]);
    g.setReg(R.RAX, 0);
    g.vmx.current!.set(VmcsField.VmFunctionControls, 0);
    g.step([...X.vmfunc]);
    expect(mocks.exits.map((e) => e.reason)).toEqual([59, 59, 59]);
    expect(mocks.eptpSwitch.calls).toEqual([3, 3]);
  });
});

describe('operation functions (shared with the typed API)', () => {
  it('opVmxon / opVmptrld / opVmclear take plain physical addresses and report outcomes', () => {
    const m = machine();
    const { vmx, cpu } = m;
    m.region(VMXON_REGION).region(VMCS_A);
    expect(opVmxon(vmx, cpu, VMXON_REGION + 1)).toBe(-1);
    expect(opVmxon(vmx, cpu, VMXON_REGION)).toBe(0);
    expect(opVmptrld(vmx, cpu, VMCS_A)).toBe(0);
    expect(opVmptrst(vmx)).toBe(VMCS_A);
    expect(opVmclear(vmx, cpu, VMXON_REGION)).toBe(3);
    expect(opVmclear(vmx, cpu, VMCS_A)).toBe(0);
    expect(opVmptrst(vmx)).toBe(-1);
  });
});

