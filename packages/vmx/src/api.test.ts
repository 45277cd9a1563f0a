/**
 * The typed TypeScript API (api.ts): a hypervisor written in TypeScript runs a tiny 64-bit
 * guest (CPUID, port I/O, HLT) through VMLAUNCH/VMRESUME and checks the exit records, and the
 * instruction outcomes come back typed. Expected values are the SDM's (Vol. 3C): exit reasons
 * from Appendix C, I/O exit qualifications from §27.2.1 Table 27-5, VM-instruction errors from
 * §30.4 Table 30-1, the #UD/#GP conditions from §30.3.
 */
import { Cr0, Cr4, Efer, Seg } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { assertSucceeded, HostArea, VmxHost, VmxInstructionFailure, type VmxExit, type VmxRunResult } from './api.edge.js';
import { ProcCtl, VmxExitReason } from './constants.js';
import { VmcsField } from './fields.js';

const VMXON = 0x10_0000;
const VMCS = 0x10_1000;
const GUEST_CODE = 0x20_0000;
const GUEST_STACK = 0x30_0000;
const SUCCEED = { kind: 'succeed' };

/** A host in VMX root operation with a current, clear VMCS. */
function rootHost(): VmxHost {
  const h = VmxHost.create({ memoryMiB: 16 }).prepareRoot();
  h.writeRevision(VMXON);
  expect(h.vmxon(VMXON)).toEqual(SUCCEED);
  h.writeRevision(VMCS);
  expect(h.vmclear(VMCS)).toEqual(SUCCEED);
  expect(h.vmptrld(VMCS)).toEqual(SUCCEED);
  return h;
}

/** A host whose current VMCS runs `code` at GUEST_CODE as a flat 64-bit guest, with `proc` controls. */
function guestHost(code: readonly number[], proc = ProcCtl.HltExiting | ProcCtl.UnconditionalIoExiting): VmxHost {
  const h = rootHost();
  assertSucceeded(h.setControls({ proc }), 'setControls');
  assertSucceeded(h.writeHostState(), 'writeHostState');
  assertSucceeded(h.writeGuestState64({ rip: GUEST_CODE, rsp: GUEST_STACK }), 'writeGuestState64');
  h.write(GUEST_CODE, code);
  return h;
}

function expectExit(r: VmxRunResult): VmxExit {
  if (r.kind !== 'exit') throw new Error(`expected a VM exit, got ${JSON.stringify(r)}`);
  return r;
}

/** The host's next step after a fault-like instruction exit: RIP += instruction length (SDM §27.2.5). */
function skip(h: VmxHost, e: VmxExit): void {
  assertSucceeded(h.vmwrite(VmcsField.GuestRip, e.guestRip + BigInt(e.instructionLength)));
}

describe('VmxHost.prepareRoot', () => {
  it('puts the core in a 64-bit context VMXON accepts, parked in a HLT loop', () => {
    const h = VmxHost.create({ memoryMiB: 16 }).prepareRoot();
    const cpu = h.cpu;
    expect(h.hostArea).toBe((16 << 20) - HostArea.Size);
    expect(cpu.cr0 & (Cr0.PE | Cr0.NE | Cr0.PG)).toBe((Cr0.PE | Cr0.NE | Cr0.PG) | 0);
    expect(cpu.cr4 & (Cr4.VMXE | Cr4.PAE)).toBe(Cr4.VMXE | Cr4.PAE);
    expect(cpu.efer & (Efer.LME | Efer.LMA)).toBe(Efer.LME | Efer.LMA);
    expect(cpu.cpl).toBe(0);
    expect(cpu.featureControlLo).toBe(5);
    cpu.run(10);
    expect(cpu.halted).toBe(true);
    expect(cpu.ripLo - h.hostArea).toBe(HostArea.HltLoop + 1);
  });
});

describe('VMX instruction outcomes through the API (SDM Vol. 3C §30.2, §30.3, §30.4)', () => {
  it('VMXON: #UD with CR4.VMXE = 0; VMfailInvalid for a wrong revision; VMfail(15) in VMX root operation', () => {
    const h = VmxHost.create().prepareRoot();
    h.cpu.cr4 &= ~Cr4.VMXE;
    expect(h.vmxon(VMXON)).toEqual({ kind: 'fault', vector: 6, errorCode: null });
    h.cpu.cr4 |= Cr4.VMXE;
    h.write32(VMXON, h.revisionId ^ 1);
    expect(h.vmxon(VMXON)).toEqual({ kind: 'vmfail-invalid' });
    h.writeRevision(VMXON);
    expect(h.vmxon(VMXON)).toEqual(SUCCEED);
    // VMfail(n) is VMfailInvalid without a current VMCS, VMfailValid(n) with one (§30.2).
    expect(h.vmxon(VMXON)).toEqual({ kind: 'vmfail-invalid' });
    h.writeRevision(VMCS);
    assertSucceeded(h.vmptrld(VMCS));
    expect(h.vmxon(VMXON)).toEqual({ kind: 'vmfail-valid', error: 15 });
    expect(h.vmread(VmcsField.VmInstructionError)).toBe(15);
  });

  it('VMXON: #GP(0) while IA32_FEATURE_CONTROL is unlocked (§23.7)', () => {
    const h = VmxHost.create().prepareRoot();
    h.cpu.featureControlLo = 0;
    h.writeRevision(VMXON);
    expect(h.vmxon(VMXON)).toEqual({ kind: 'fault', vector: 13, errorCode: 0 });
  });

  it('the other instructions #UD outside VMX operation', () => {
    const h = VmxHost.create().prepareRoot();
    expect(h.vmptrld(VMCS)).toEqual({ kind: 'fault', vector: 6, errorCode: null });
    expect(h.vmxoff()).toEqual({ kind: 'fault', vector: 6, errorCode: null });
    expect(() => h.vmread(VmcsField.GuestRip)).toThrow(VmxInstructionFailure);
  });

  it('VMPTRST, VMLAUNCH and VMREAD without a current VMCS; VMPTRLD with a wrong revision (error 11)', () => {
    const h = VmxHost.create().prepareRoot();
    h.writeRevision(VMXON);
    assertSucceeded(h.vmxon(VMXON));
    expect(h.vmptrst()).toBeNull();
    expect(h.vmlaunch()).toEqual({ kind: 'vmfail-invalid' });
    expect(() => h.vmread(VmcsField.GuestRip)).toThrow('VMREAD 0x681e: VMfailInvalid');
    h.write32(VMCS, h.revisionId + 1);
    expect(h.vmptrld(VMCS)).toEqual({ kind: 'vmfail-invalid' }); // no current VMCS: VMfailInvalid carries no number
    h.writeRevision(VMCS);
    assertSucceeded(h.vmptrld(VMCS));
    expect(h.vmptrst()).toBe(VMCS);
    h.write32(VMCS + 0x1000, h.revisionId + 1);
    expect(h.vmptrld(VMCS + 0x1000)).toEqual({ kind: 'vmfail-valid', error: 11 });
    expect(h.vmptrld(VMXON)).toEqual({ kind: 'vmfail-valid', error: 10 });
  });

  it('VMWRITE/VMREAD round-trip 64-bit values; read-only fields (13) and unsupported ones (12) fail', () => {
    const h = rootHost();
    expect(h.vmwrite(VmcsField.GuestRip, 0xffff_8000_1234_5678n)).toEqual(SUCCEED);
    expect(h.vmread64(VmcsField.GuestRip)).toBe(0xffff_8000_1234_5678n);
    expect(() => h.vmread(VmcsField.GuestRip)).toThrow(RangeError);
    expect(h.vmwrite(VmcsField.GuestRsp, 0x1234_5678_9abc)).toEqual(SUCCEED);
    expect(h.vmread(VmcsField.GuestRsp)).toBe(0x1234_5678_9abc);
    // The high access (bit 0 = 1) of a 64-bit field reads bits 63:32 (Appendix B).
    assertSucceeded(h.vmwrite(VmcsField.TscOffset, 0x1111_2222_3333_4444n));
    expect(h.vmread(VmcsField.TscOffset | 1)).toBe(0x1111_2222);
    expect(h.vmread(VmcsField.GuestCsSelector)).toBe(0);
    expect(h.vmwrite(VmcsField.VmExitReason, 1)).toEqual({ kind: 'vmfail-valid', error: 13 });
    expect(h.vmread(VmcsField.VmInstructionError)).toBe(13);
    // Posted-interrupt notification vector (0002H): posted interrupts are not advertised.
    expect(h.vmwrite(0x0002, 1)).toEqual({ kind: 'vmfail-valid', error: 12 });
    let failure: unknown;
    try {
      h.vmread(0x0002);
    } catch (e) {
      failure = e;
    }
    expect(failure).toBeInstanceOf(VmxInstructionFailure);
    expect((failure as VmxInstructionFailure).failure).toEqual({ kind: 'vmfail-valid', error: 12 });
  });

  it('VMRESUME of a clear VMCS fails with error 5, VMLAUNCH of a launched one with 4', () => {
    const h = guestHost([0xf4]);
    expect(h.vmresume()).toEqual({ kind: 'vmfail-valid', error: 5 });
    expectExit(h.vmlaunch());
    expect(h.vmlaunch()).toEqual({ kind: 'vmfail-valid', error: 4 });
  });

  it('VMLAUNCH with a control that must be 1 left 0 fails with VMfailValid(7), with a bad host CR0 with 8 (§26.2)', () => {
    const h = guestHost([0xf4]);
    const pin = h.vmread(VmcsField.PinBasedVmExecControl);
    assertSucceeded(h.vmwrite(VmcsField.PinBasedVmExecControl, 0));
    expect(h.vmlaunch()).toEqual({ kind: 'vmfail-valid', error: 7 });
    assertSucceeded(h.vmwrite(VmcsField.PinBasedVmExecControl, pin));
    assertSucceeded(h.vmwrite(VmcsField.HostCr0, h.cpu.cr0 & ~Cr0.PG));
    expect(h.vmlaunch()).toEqual({ kind: 'vmfail-valid', error: 8 });
  });
});

describe('a TypeScript hypervisor runs a tiny guest', () => {
  it('exits through CPUID, OUT, IN and HLT with the SDM exit records, resuming after each', () => {
    // prettier-ignore
    const code = [
      0x31, 0xc0,                   // +0  xor eax, eax
      0x0f, 0xa2,                   // +2  cpuid              -> exit 10
      0xba, 0x80, 0x00, 0x00, 0x00, // +4  mov edx, 0x80
      0xb0, 0x42,                   // +9  mov al, 0x42
      0xee,                         // +11 out dx, al         -> exit 30
      0xe4, 0x71,                   // +12 in al, 0x71        -> exit 30
      0xf4,                         // +14 hlt                -> exit 12
    ];
    const h = guestHost(code);
    const cpu = h.cpu;

    const cpuid = expectExit(h.vmlaunch());
    expect(cpuid).toMatchObject({ reason: VmxExitReason.Cpuid, basicReason: 10, entryFailure: false, qualification: 0n, instructionLength: 2, guestRip: BigInt(GUEST_CODE + 2) });
    expect(cpuid.idtVectoringInfo & 0x8000_0000).toBe(0);
    // Back in the host context of the host-state area: the HLT loop, the host stack, root operation.
    expect(cpu.guestMode).toBe(false);
    expect(cpu.ripLo).toBe(h.hostArea + HostArea.HltLoop);
    expect(cpu.gpr[4]).toBe(h.hostArea + HostArea.StackTop);
    expect(cpu.segSel[Seg.CS]).toBe(0x08);
    // The hypervisor emulates CPUID: general registers are not switched by VMX (§27.1), it sets them.
    cpu.gpr[3] = 0x1234; // EBX
    skip(h, cpuid);

    const out = expectExit(h.vmresume());
    // OUT DX, AL: size 1 (bits 2:0 = 0), OUT (bit 3 = 0), DX operand (bit 6 = 0), port 80H in 31:16.
    expect(out).toMatchObject({ basicReason: VmxExitReason.IoInstruction, qualification: 0x80n << 16n, instructionLength: 1, guestRip: BigInt(GUEST_CODE + 11) });
    expect(cpu.gpr[0]! & 0xff).toBe(0x42);
    expect(cpu.gpr[3]).toBe(0x1234);
    skip(h, out);

    const inp = expectExit(h.vmresume());
    // IN AL, 71H: size 1, IN (bit 3), immediate operand (bit 6), port 71H.
    expect(inp).toMatchObject({ basicReason: VmxExitReason.IoInstruction, qualification: (0x71n << 16n) | (1n << 6n) | (1n << 3n), instructionLength: 2, guestRip: BigInt(GUEST_CODE + 12) });
    skip(h, inp);

    const hlt = expectExit(h.vmresume());
    expect(hlt).toMatchObject({ basicReason: VmxExitReason.Hlt, qualification: 0n, instructionLength: 1, guestRip: BigInt(GUEST_CODE + 14) });
    expect(h.vmread(VmcsField.GuestActivityState)).toBe(0);
  });

  it('runs a CPUID loop through 100 VM-exit round trips (exit, advance RIP, re-enter)', () => {
    const h = guestHost([0xff, 0xc6, 0x0f, 0xa2, 0xeb, 0xfa]); // 1: inc esi; cpuid; jmp 1b
    h.cpu.gpr[6] = 0;
    let r = h.vmlaunch();
    for (let i = 1; i <= 100; i++) {
      const e = expectExit(r);
      expect(e.basicReason).toBe(VmxExitReason.Cpuid);
      expect(e.guestRip).toBe(BigInt(GUEST_CODE + 2));
      expect(h.cpu.gpr[6]).toBe(i);
      skip(h, e);
      r = h.vmresume();
    }
    expect(expectExit(r).basicReason).toBe(VmxExitReason.Cpuid);
  });

  it('reports an invalid guest state as a VM-entry failure: exit reason 33 with bit 31 set, host state loaded (§26.8)', () => {
    const h = guestHost([0xf4]);
    assertSucceeded(h.vmwrite(VmcsField.GuestRflags, 0)); // RFLAGS bit 1 must be 1 (§26.3.1.4)
    const e = expectExit(h.vmlaunch());
    expect(e).toMatchObject({ reason: (0x8000_0000 | 33) >>> 0, basicReason: 33, entryFailure: true, qualification: 0n });
    expect(h.cpu.guestMode).toBe(false);
    expect(h.cpu.ripLo).toBe(h.hostArea + HostArea.HltLoop);
  });

  it('returns no-exit when the budget runs out, and continue() runs the guest on to its exit', () => {
    // mov ecx, 1000; 1: dec ecx; jnz 1b; cpuid
    const h = guestHost([0xb9, 0xe8, 0x03, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xfc, 0x0f, 0xa2]);
    const r = h.vmlaunch(100);
    expect(r).toMatchObject({ kind: 'no-exit', stop: 'budget' });
    expect(h.cpu.guestMode).toBe(true);
    expect(() => h.vmread(VmcsField.GuestRip)).toThrow(/a guest is running/);
    const e = expectExit(h.continue(1_000_000));
    expect(e).toMatchObject({ basicReason: VmxExitReason.Cpuid, guestRip: BigInt(GUEST_CODE + 9) });
  });
});
