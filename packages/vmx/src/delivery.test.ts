/**
 * VM exits during event delivery, end to end through VM entry's event injection (SDM Vol. 3C
 * §26.6) and the core's double-fault rules (Vol. 3A §6.15, Table 6-5):
 * - an exception raised while delivering another is checked against the exception bitmap as
 *   raised, before it would become a #DF or a triple fault: exit 0 with the exception as VM-exit
 *   interruption information and the first event as IDT-vectoring information (§25.2 "Other
 *   Causes of VM Exits"; §27.2.4 "Information for VM Exits During Event Delivery"; Appendix C
 *   exit reason 2: a triple fault only when the exception during #DF delivery "did not itself
 *   cause a VM exit due to the exception bitmap");
 * - a #DF that causes a VM exit directly and a triple fault are not "during event delivery":
 *   their exits have IDT-vectoring information not valid (§27.2.4).
 * Error codes per §6.13: a not-present IDT gate gives #NP(vector * 8 + 2 + EXT), EXT = 1 for
 * hardware events.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { vmEntry } from './entry.js';
import { Vmcs, VmcsField as F } from './fields.js';
import { VmxMachine } from './test-harness.js';
import { GUEST_HANDLERS, GUEST_IDT, GUEST_RIP, HOST_RIP, validControls, validGuest64, validHost64, writeGuestTables } from './vmcs-fixture.js';

const VMCS_AT = 0x101000;
const V = 0x8000_0000;
const EC = 1 << 11;
const HW = 3 << 8;
const EXIT_EXCEPTION = 0;
const EXIT_TRIPLE_FAULT = 2;

let m: VmxMachine;
let vmcs: Vmcs;

beforeEach(() => {
  m = new VmxMachine().long64().enableVmx();
  m.cpu.onEvent = null;
  vmcs = new Vmcs();
  vmcs.address = VMCS_AT;
  m.vmx.inVmx = true;
  m.vmx.current = vmcs;
  m.cpu.initBlocked = true;
  validControls(vmcs, m.vmx.caps);
  validHost64(vmcs);
  validGuest64(vmcs);
  writeGuestTables(m);
  m.w8(HOST_RIP, 0xf4);
});

/** Makes the guest's IDT gates for `vectors` not present (P = 0). */
function absent(...vectors: number[]): void {
  for (const v of vectors) m.w32(GUEST_IDT + 16 * v + 4, ((GUEST_HANDLERS + 16 * v) & 0xffff0000) | 0x6e00);
}

/** VM entry injecting `info` (+ error code) with exception bitmap `bitmap`; runs until the VM exit. */
function injectAndExit(bitmap: number, info: number, error = 0): void {
  vmcs.set(F.ExceptionBitmap, bitmap);
  vmcs.set(F.VmEntryInterruptionInfo, info);
  vmcs.set(F.VmEntryExceptionErrorCode, error);
  vmcs.generation++;
  vmEntry(m.vmx, m.cpu, true);
  m.cpu.run(10);
  expect(m.cpu.guestMode).toBe(false);
}

const u = (x: number): number => x >>> 0;

describe('an exception during delivery meets the exception bitmap before the double-fault rules (SDM §25.2, §27.2.4)', () => {
  it('injected #GP(1234H), #NP during its delivery, bitmap bit 11: exit 0 for the #NP, IDT-vectoring = the #GP (not a #DF, not a triple fault)', () => {
    absent(13);
    injectAndExit(1 << 11, V | EC | HW | 13, 0x1234);
    expect(vmcs.get(F.VmExitReason)).toBe(EXIT_EXCEPTION);
    expect(u(vmcs.get(F.VmExitInterruptionInfo) & ~(1 << 12))).toBe(u(V | EC | HW | 11));
    expect(vmcs.get(F.VmExitInterruptionErrorCode)).toBe(13 * 8 + 2 + 1);
    expect(u(vmcs.get(F.IdtVectoringInfo))).toBe(u(V | EC | HW | 13));
    expect(vmcs.get(F.IdtVectoringErrorCode)).toBe(0x1234);
    expect(vmcs.get(F.GuestRip)).toBe(GUEST_RIP);
  });

  it('injected #DF, #NP during its delivery, bitmap bit 11: exit 0 for the #NP with IDT-vectoring = the #DF (not a triple fault)', () => {
    absent(8);
    injectAndExit(1 << 11, V | EC | HW | 8, 0);
    expect(vmcs.get(F.VmExitReason)).toBe(EXIT_EXCEPTION);
    expect(u(vmcs.get(F.VmExitInterruptionInfo) & ~(1 << 12))).toBe(u(V | EC | HW | 11));
    expect(vmcs.get(F.VmExitInterruptionErrorCode)).toBe(8 * 8 + 2 + 1);
    expect(u(vmcs.get(F.IdtVectoringInfo))).toBe(u(V | EC | HW | 8));
    expect(vmcs.get(F.IdtVectoringErrorCode)).toBe(0);
  });

  it('injected #DF, #NP during its delivery, no bitmap bits: triple fault (exit 2) with IDT-vectoring information not valid', () => {
    absent(8);
    injectAndExit(0, V | EC | HW | 8, 0);
    expect(vmcs.get(F.VmExitReason)).toBe(EXIT_TRIPLE_FAULT);
    expect(vmcs.get(F.ExitQualification)).toBe(0);
    expect(vmcs.get(F.IdtVectoringInfo)).toBe(0);
  });

  it('injected #GP, #NP not in the bitmap: the #DF it becomes exits (bit 8) directly, IDT-vectoring information not valid', () => {
    absent(13);
    injectAndExit(1 << 8, V | EC | HW | 13, 0);
    expect(vmcs.get(F.VmExitReason)).toBe(EXIT_EXCEPTION);
    expect(u(vmcs.get(F.VmExitInterruptionInfo) & ~(1 << 12))).toBe(u(V | EC | HW | 8));
    expect(vmcs.get(F.VmExitInterruptionErrorCode)).toBe(0);
    expect(vmcs.get(F.IdtVectoringInfo)).toBe(0);
  });

  it('a guest #UD with every gate not present: #UD, #NP, #NP -> #DF, #NP -> triple fault, IDT-vectoring information not valid, RIP = the UD2', () => {
    absent(...Array.from({ length: 256 }, (_, i) => i));
    m.bytes(GUEST_RIP, [0x0f, 0x0b]);
    injectAndExit(0, 0);
    expect(vmcs.get(F.VmExitReason)).toBe(EXIT_TRIPLE_FAULT);
    expect(vmcs.get(F.IdtVectoringInfo)).toBe(0);
    expect(vmcs.get(F.GuestRip)).toBe(GUEST_RIP);
  });
});
