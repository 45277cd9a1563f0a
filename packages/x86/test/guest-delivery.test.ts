/**
 * Guest-mode event delivery rules the core applies for a virtualization extension:
 * - an exception raised while delivering another is offered to `ext.intercept` as raised
 *   (with the first event as IDT-vectoring information) BEFORE the double-fault rules merge it
 *   into a #DF or a triple fault (SDM Vol. 3C §25.2 "Other Causes of VM Exits"; §27.2.4
 *   "Information for VM Exits During Event Delivery"; Appendix C, exit reason 2: a triple fault
 *   only when the exception during #DF delivery "did not itself cause a VM exit due to the
 *   exception bitmap");
 * - a #DF the merge produces, and a triple fault, are offered with no IDT-vectoring
 *   information (§27.2.4: neither is a VM exit "during event delivery");
 * - the local APIC is reset only when the core performs an INIT (SDM Vol. 3 §11.4.7.3), not
 *   for an INIT that is blocked (VMX root operation, Vol. 3C §24.8) or that the extension turns
 *   into a VM exit (§25.2: "none of the operations normally associated with INIT").
 * Expected values come from the SDM (Table 6-5 classes, §6.13 error codes: IDT bit 1, EXT bit 0).
 */
import { PhysicalMemory, PioBus, type CpuLocalApic, type Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { Cpu, Cr0, Intercept, Seg, StopReason } from '../src/index.js';
import { CODE, fakeExt, Sys } from './sys-harness.js';

const HLT = 0xf4;
/** xor ecx, ecx ; div ecx: #DE (contributory, no error code) at CODE + 2. */
const DIV0 = [0x31, 0xc9, 0xf7, 0xf1];
/** ud2: #UD (benign). */
const UD2 = [0x0f, 0x0b];
const IDT = 0x2000;
const HANDLER = 0x3000;

interface Call {
  what: number;
  info: number;
  info2: number;
  /** cpu.vectoringInfo when the intercept was asked (unsigned). */
  vi: number;
}

/** A flat 32-bit guest whose IDT gates (32-bit interrupt gates to a HLT) are present except `absent`. */
function guest(absent: number[], exitsOn: (what: number, info: number) => boolean): { s: Sys; calls: Call[] } {
  const s = new Sys();
  s.flat32(0);
  s.cpu.onEvent = null;
  s.desc(0x1000, 1, 0, 0xfffff, 0x9a);
  s.cpu.gdtrBaseLo = 0x1000;
  s.cpu.gdtrLimit = 0xff;
  s.cpu.idtrBaseLo = IDT;
  s.cpu.idtrLimit = 0x7ff;
  for (let v = 0; v < 0x40; v++) {
    s.w32(IDT + v * 8, (8 << 16) | HANDLER);
    s.w32(IDT + v * 8 + 4, absent.includes(v) ? 0x0e00 : 0x8e00);
  }
  s.w8(HANDLER, HLT);
  const calls: Call[] = [];
  s.cpu.ext = fakeExt('vmx', {
    intercept: (cpu, what, info, info2) => {
      if (what === Intercept.Exception || what === Intercept.Shutdown) calls.push({ what, info, info2, vi: cpu.vectoringInfo >>> 0 });
      if (!exitsOn(what, info)) return false;
      cpu.stop();
      return true;
    },
  });
  s.cpu.guestMode = true;
  return { s, calls };
}

const exc = (vector: number, error: number, vi: number): Call => ({ what: Intercept.Exception, info: vector, info2: error, vi: vi >>> 0 });
/** VMX interruption-information format of a hardware exception (type 3), with or without an error code. */
const hw = (vector: number, hasError: boolean): number => (0x8000_0000 | (hasError ? 1 << 11 : 0) | (3 << 8) | vector) >>> 0;
/** #NP error code for IDT gate `vector` raised during the delivery of a hardware event (IDT = 1, EXT = 1). */
const npIdt = (vector: number): number => vector * 8 + 2 + 1;

describe('a fault during exception delivery meets the intercepts before the double-fault rules (SDM §25.2, §27.2.4)', () => {
  it('#DE, then #NP during its delivery: the #NP is offered as raised (IDT-vectoring = #DE) and its exit stops everything', () => {
    const { s, calls } = guest([0], (what, info) => what === Intercept.Exception && info === 11);
    s.code(DIV0);
    s.run();
    expect(calls).toEqual([exc(0, -1, 0), exc(11, npIdt(0), hw(0, false))]);
    expect(s.cpu.shutdown).toBe(false);
    expect(s.cpu.vectoringInfo).toBe(0);
    expect(s.cpu.ripLo).toBe(CODE + 2);
  });

  it('an #NP that does not exit becomes #DF (Table 6-5), offered with no IDT-vectoring information and error code 0', () => {
    const { s, calls } = guest([0], (what, info) => what === Intercept.Exception && info === 8);
    s.code(DIV0);
    s.run();
    expect(calls).toEqual([exc(0, -1, 0), exc(11, npIdt(0), hw(0, false)), exc(8, 0, 0)]);
    expect(s.cpu.shutdown).toBe(false);
  });

  it('a fault during #DF delivery is offered as raised (IDT-vectoring = #DF); only if it does not exit is there a triple fault, offered with no IDT-vectoring information', () => {
    const chain = [exc(0, -1, 0), exc(11, npIdt(0), hw(0, false)), exc(8, 0, 0), exc(11, npIdt(8), hw(8, true))];
    // Nothing exits: triple fault (offered as Shutdown), then shutdown.
    let g = guest([0, 8], () => false);
    g.s.code(DIV0);
    expect(g.s.run()).toBe(StopReason.Shutdown);
    expect(g.calls).toEqual([...chain, { what: Intercept.Shutdown, info: 0, info2: 0, vi: 0 }]);
    expect(g.s.cpu.shutdown).toBe(true);
    // The #NP during #DF delivery exits: no triple fault.
    let n = 0;
    g = guest([0, 8], (what, info) => what === Intercept.Exception && info === 11 && ++n === 2);
    g.s.code(DIV0);
    g.s.run();
    expect(g.calls).toEqual(chain);
    expect(g.s.cpu.shutdown).toBe(false);
  });

  it('a benign fault during delivery (#NP while delivering #UD) is offered once and delivered', () => {
    const { s, calls } = guest([6], () => false);
    s.code(UD2);
    expect(s.run()).toBe(StopReason.Halt);
    expect(calls).toEqual([exc(6, -1, 0), exc(11, npIdt(6), hw(6, false))]);
    expect(s.cpu.ripLo).toBe(HANDLER + 1);
    expect(s.r32(0x8000 - 16)).toBe(npIdt(6)); // the #NP frame's error code (below EFLAGS, CS, EIP)
  });

  it('an injected #GP whose delivery raises #NP: the #NP is offered with the #GP and its error code as IDT-vectoring information', () => {
    const { s, calls } = guest([13], (what, info) => what === Intercept.Exception && info === 11);
    s.code([HLT]);
    let viErr = -1;
    s.cpu.ext!.intercept = (cpu, what, info, info2) => {
      calls.push({ what, info, info2, vi: cpu.vectoringInfo >>> 0 });
      viErr = cpu.vectoringError;
      return what === Intercept.Exception && info === 11;
    };
    s.cpu.injectEvent(0, 13, 0x1234);
    // The injected event itself is not offered (SDM §26.6); the #NP is, before any #DF.
    expect(calls).toEqual([exc(11, npIdt(13), hw(13, true))]);
    expect(viErr).toBe(0x1234);
  });

  it('outside guest mode the extension is not asked and the double-fault rules apply as usual', () => {
    const { s, calls } = guest([0], () => true);
    s.cpu.guestMode = false;
    s.code(DIV0);
    expect(s.run()).toBe(StopReason.Halt);
    expect(calls).toEqual([]);
    expect(s.cpu.ripLo).toBe(HANDLER + 1);
    expect(s.r32(0x8000 - 16)).toBe(0); // #DF error code 0
    expect(s.r32(0x8000 - 12)).toBe(CODE + 2); // return address: the DIV
  });
});

/** A local APIC stand-in that counts INIT resets (the CpuLocalApic contract, nothing else). */
class CountingApic implements CpuLocalApic {
  initResets = 0;
  baseLo = 0xfee0_0000; // an application processor (BSP bit 8 clear): INIT leads to wait-for-SIPI
  baseHi = 0;
  mmioPage = -1;
  msrLo = 0;
  msrHi = 0;
  hasInterrupt(): boolean {
    return false;
  }
  acknowledge(): number {
    return 0;
  }
  writeBase(): boolean {
    return true;
  }
  mmioRead(): number {
    return 0;
  }
  mmioWrite(): void {}
  readMsr(): boolean {
    return false;
  }
  writeMsr(): boolean {
    return false;
  }
  readCr8(): number {
    return 0;
  }
  writeCr8(): void {}
  readTscDeadline(): number {
    return 0;
  }
  writeTscDeadline(): void {}
  initReset(): void {
    this.initResets++;
  }
}

function apicCpu(): { cpu: Cpu; apic: CountingApic } {
  const memory = new PhysicalMemory({ ramSize: 1 << 20 });
  memory.mapRam(0, 1 << 20);
  const apic = new CountingApic();
  const cpu = new Cpu({ memory, io: new PioBus(), apic });
  // Real mode at 1000H: nop ; nop ; hlt
  memory.write(0x1000 as Hpa, Uint8Array.from([0x90, 0x90, HLT]));
  cpu.setSegmentRaw(Seg.CS, 0, 0, 0xffff, cpu.segAttr[Seg.CS]!);
  cpu.ripLo = 0x1000;
  cpu.updateMode();
  return { cpu, apic };
}

describe('INIT resets the local APIC only when the core performs it (SDM §11.4.7.3; Vol. 3C §24.8, §25.2)', () => {
  it('an INIT performed at once resets the APIC', () => {
    const { cpu, apic } = apicCpu();
    cpu.init();
    expect(apic.initResets).toBe(1);
    expect(cpu.waitForSipi).toBe(true);
  });

  it('a blocked INIT (VMX root operation) leaves the APIC alone until it is taken', () => {
    const { cpu, apic } = apicCpu();
    cpu.initBlocked = true;
    cpu.init();
    expect(cpu.run(100)).toBe(StopReason.Halt);
    expect(apic.initResets).toBe(0);
    expect(cpu.waitForSipi).toBe(false);
    cpu.initBlocked = false;
    cpu.run(100);
    expect(apic.initResets).toBe(1);
    expect(cpu.waitForSipi).toBe(true);
  });

  it('an INIT the extension turns into a VM exit does not reset the APIC; one it declines does', () => {
    const { cpu, apic } = apicCpu();
    let exits = true;
    cpu.ext = fakeExt('vmx', { intercept: (_c, what) => what === Intercept.Init && exits });
    cpu.guestMode = true;
    cpu.init();
    cpu.run(100);
    expect(apic.initResets).toBe(0);
    expect(cpu.waitForSipi).toBe(false);
    exits = false;
    cpu.ripLo = 0x1000;
    cpu.halted = false;
    cpu.init();
    cpu.run(100);
    expect(apic.initResets).toBe(1);
    expect(cpu.cr0 & Cr0.PE).toBe(0);
    expect(cpu.waitForSipi).toBe(true);
  });
});
