/**
 * The fast VM-exit round trip keeps the architecture (issue 8 "Speed"): VM-entry checks cached
 * per VMCS generation still catch every bad VMWRITE and every change that is not a VMWRITE
 * (SDM Vol. 3C §26.2, §26.3.1), and the TLB flushes that became proportional to what was filled
 * still invalidate what §28.3.3.1 says VM entries and VM exits invalidate without VPIDs.
 * Real instructions on a VmxMachine: the guest runs CPUID (an unconditional exit, §25.1.2).
 */
import { describe, expect, it } from 'vitest';
import { Cr0, Flag, Seg, SegAttr } from '@hvkit/x86';
import { Proc2Ctl, ProcCtl } from './constants.js';
import { checkGuestState } from './entry.js';
import { Vmcs, VmcsField as F } from './fields.js';
import { opVmwrite } from './instructions.js';
import { CODE, PT_ROOT, VmxMachine, X } from './test-harness.js';
import { validControls, validGuest32, validHost64, withEpt, writeGuestTables } from './vmcs-fixture.js';

const GUEST = 0x200000;
const HOST = 0x300000;
/** A linear 2-MiB page whose PDE the tests remap without invalidation. */
const LIN = 0x600000;
const PHYS_A = 0x600000;
const PHYS_B = 0xa00000;
const PDE = PT_ROOT + 0x2000 + (LIN >>> 21) * 8;
/** MOV r32, [disp32] in 64-bit mode (8B /r, SIB without base). */
const movFromAbs = (reg: number, a: number): number[] => [0x8b, 0x04 | (reg << 3), 0x25, a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24];
const CPUID = [0x0f, 0xa2];
const EXIT_REASON = 0x4402;

function machine(): VmxMachine {
  const m = new VmxMachine({ ram: 16 << 20 }).long64().enableVmx().vmxonAndLoad();
  m.setupVmcs({ guestRip: GUEST, hostRip: HOST });
  return m;
}

function write(m: VmxMachine, enc: number, lo: number, hi = 0): void {
  expect(opVmwrite(m.vmx, m.cpu, enc, lo, hi)).toBe(0);
}

describe('cached VM-entry checks stay complete (SDM §26.2, §26.3.1)', () => {
  // Guest: CPUID; JMP back to it. Host at HOST: HLT.
  function roundTrip(): VmxMachine {
    const m = machine();
    m.bytes(GUEST, [...CPUID, 0xeb, 0xfc]);
    m.bytes(HOST, X.hlt);
    m.run([...X.vmlaunch, ...X.hlt]);
    expect(m.cpu.guestMode).toBe(false);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    // A second round trip with only a guest-state VMWRITE in between (the benchmark's loop).
    write(m, F.GuestRip, GUEST + 2);
    m.run([...X.vmresume, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(Number(m.readField(F.GuestRip))).toBe(GUEST);
    return m;
  }

  it('a bad guest-state VMWRITE after cached entries: VM-entry failure, exit reason 33 with bit 31', () => {
    const m = roundTrip();
    // RFLAGS bit 15 is reserved (§26.3.1.4).
    write(m, F.GuestRflags, 0x8002);
    m.run([...X.vmresume, ...X.hlt]);
    expect(m.cpu.guestMode).toBe(false);
    expect(Number(m.readField(EXIT_REASON)) >>> 0).toBe((0x8000_0000 | 33) >>> 0);
  });

  it('a bad control VMWRITE after cached entries: VMfailValid(7)', () => {
    const m = roundTrip();
    // Pin-based bits 1, 2 and 4 must be 1 (Appendix A.3.1).
    write(m, F.PinBasedVmExecControl, 0);
    m.run([...X.vmresume, ...X.hlt]);
    expect(m.cpu.guestMode).toBe(false);
    expect(m.outcome()).toBe('failValid');
    expect(m.instructionError()).toBe(7);
  });

  it('a bad host-state VMWRITE after cached entries: VMfailValid(8)', () => {
    const m = roundTrip();
    // The host TR selector must not be 0000H (§26.2.3).
    write(m, F.HostTrSelector, 0);
    m.run([...X.vmresume, ...X.hlt]);
    expect(m.outcome()).toBe('failValid');
    expect(m.instructionError()).toBe(8);
  });

  it('a VTPR change in memory (no VMWRITE) still fails the TPR-threshold check: VMfailValid(7)', () => {
    const m = roundTrip();
    const vapic = 0x400000;
    write(m, F.CpuBasedVmExecControl, Number(m.readField(F.CpuBasedVmExecControl)) | ProcCtl.UseTprShadow);
    write(m, F.VirtualApicAddress, vapic);
    write(m, F.TprThreshold, 4);
    m.w8(vapic + 0x80, 0x50);
    write(m, F.GuestRip, GUEST);
    m.run([...X.vmresume, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    // §26.2.1.1: TPR threshold bits 3:0 must not exceed VTPR bits 7:4.
    m.w8(vapic + 0x80, 0x30);
    m.run([...X.vmresume, ...X.hlt]);
    expect(m.outcome()).toBe('failValid');
    expect(m.instructionError()).toBe(7);
  });
});

describe('guest segment checks cached per segment generation (SDM §26.3.1.2)', () => {
  // Guest: CPUID; JMP back to it. Host at HOST: HLT. Two round trips (the checks pass and are cached).
  function warm(): VmxMachine {
    const m = machine();
    m.bytes(GUEST, [...CPUID, 0xeb, 0xfc]);
    m.bytes(HOST, X.hlt);
    m.run([...X.vmlaunch, ...X.hlt]);
    write(m, F.GuestRip, GUEST);
    m.run([...X.vmresume, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    return m;
  }
  /** Access rights of an available (not busy) 64-bit TSS: TR must be busy (type 11) in IA-32e mode. */
  const TSS_AVAILABLE = SegAttr.P | 9;
  const FAIL_33 = (0x8000_0000 | 33) >>> 0;

  it('the round trip itself (guest segments unchanged) keeps the cached result', () => {
    const m = warm();
    const v = m.vmx.current!;
    const gen = v.segGeneration;
    m.run([...X.vmresume, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(v.segGeneration).toBe(gen);
    expect(v.segCheckedSegGen).toBe(gen);
  });

  it('a VMWRITE of a guest segment field after cached entries: VM-entry failure 33', () => {
    const m = warm();
    write(m, F.GuestTrArBytes, TSS_AVAILABLE);
    m.run([...X.vmresume, ...X.hlt]);
    expect(m.cpu.guestMode).toBe(false);
    expect(Number(m.readField(EXIT_REASON)) >>> 0).toBe(FAIL_33);
  });

  it('Vmcs.set of a guest segment field (the typed API\'s and the fixtures\' path): VM-entry failure 33', () => {
    const m = warm();
    m.vmx.current!.set(F.GuestTrArBytes, TSS_AVAILABLE);
    m.run([...X.vmresume, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON)) >>> 0).toBe(FAIL_33);
  });

  it('a segment register changed in the guest and saved by the VM exit (no VMWRITE): VM-entry failure 33', () => {
    const m = warm();
    // The guest's TR becomes an available TSS before its CPUID exits (§27.3.2 saves it as is).
    const vmx = m.vmx;
    const intercept = vmx.intercept.bind(vmx);
    vmx.intercept = (cpu, what, info, info2) => {
      if (cpu.guestMode) cpu.segAttr[Seg.TR] = TSS_AVAILABLE;
      return intercept(cpu, what, info, info2);
    };
    m.run([...X.vmresume, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(Number(m.readField(F.GuestTrArBytes)) & 0xf).toBe(9);
    vmx.intercept = intercept;
    m.run([...X.vmresume, ...X.hlt]);
    expect(m.cpu.guestMode).toBe(false);
    expect(Number(m.readField(EXIT_REASON)) >>> 0).toBe(FAIL_33);
  });

  it('RFLAGS.VM written without any segment write: the virtual-8086 segment rules apply at once', () => {
    // A 32-bit protected-mode guest (unrestricted guest, so CR0.PG = 0): RFLAGS.VM = 1 is allowed
    // by the RFLAGS rules (§26.3.1.4), but CS base 0 with selector 08H breaks base = selector << 4.
    const m = new VmxMachine().long64().enableVmx();
    const vmcs = new Vmcs();
    vmcs.address = 0x101000;
    m.vmx.inVmx = true;
    m.vmx.current = vmcs;
    validControls(vmcs, m.vmx.caps);
    validHost64(vmcs);
    withEpt(vmcs, 0x300000, true);
    validGuest32(vmcs);
    writeGuestTables(m);
    expect(checkGuestState(m.vmx, m.cpu, vmcs)).toBe(-1);
    write(m, F.GuestRflags, (Flag.VM | Flag.Fixed1) >>> 0);
    expect(checkGuestState(m.vmx, m.cpu, vmcs)).toBe(0);
    write(m, F.GuestRflags, Flag.Fixed1);
    expect(checkGuestState(m.vmx, m.cpu, vmcs)).toBe(-1);
  });
});

describe('TLB invalidation without VPIDs (SDM §28.3.3.1)', () => {
  it('VM entry invalidates the guest mappings and VM exit the host mappings of VPID 0000H', () => {
    const m = machine();
    m.w32(PHYS_A, 0x1111_1111);
    m.w32(PHYS_B, 0x2222_2222);
    // Guest: MOV ECX, [LIN]; CPUID; JMP back to the MOV. Host at HOST: MOV EBX, [LIN]; HLT.
    m.bytes(GUEST, [...movFromAbs(1, LIN), ...CPUID, 0xeb, 0xf5]);
    m.bytes(HOST, [...movFromAbs(3, LIN), ...X.hlt]);
    // The host caches LIN -> PHYS_A, then remaps LIN without INVLPG: the stale mapping is used.
    m.run([...movFromAbs(0, LIN), ...X.hlt]);
    expect(m.cpu.gpr[0]).toBe(0x1111_1111);
    m.run([...X.vmlaunch, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(m.cpu.gpr[1]).toBe(0x1111_1111);
    expect(m.cpu.gpr[3]).toBe(0x1111_1111);
    m.w64(PDE, BigInt(PHYS_B) | 0x87n);
    m.run([...movFromAbs(0, LIN), ...X.hlt]);
    expect(m.cpu.gpr[0]).toBe(0x1111_1111);
    // VM entry: the guest's cached LIN (filled in the previous stay) is gone; VM exit: the host's.
    write(m, F.GuestRip, GUEST + 9);
    m.run([...X.vmresume, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(m.cpu.gpr[1]).toBe(0x2222_2222);
    expect(m.cpu.gpr[3]).toBe(0x2222_2222);
  });
});

describe('TLB banks across world switches with VPIDs (SDM §28.3.1, §28.3.3.1)', () => {
  it('host and guest paging rights that differ (CR0.WP) do not flush either bank: no TLB fills once warm', () => {
    const m = machine();
    expect(m.cpu.cr0 & Cr0.WP).toBe(0);
    write(m, F.CpuBasedVmExecControl, Number(m.readField(F.CpuBasedVmExecControl)) | ProcCtl.ActivateSecondaryControls);
    write(m, F.SecondaryVmExecControl, Proc2Ctl.EnableVpid);
    write(m, F.VirtualProcessorId, 1);
    write(m, F.GuestCr0, (m.cpu.cr0 | Cr0.WP) >>> 0);
    // Guest: CPUID; JMP back. Host at HOST: HLT.
    m.bytes(GUEST, [...CPUID, 0xeb, 0xfc]);
    m.bytes(HOST, X.hlt);
    m.run([...X.vmlaunch, ...X.hlt]);
    const trip = (): void => {
      write(m, F.GuestRip, GUEST + 2);
      m.run([...X.vmresume, ...X.hlt]);
      expect(Number(m.readField(EXIT_REASON))).toBe(10);
    };
    trip();
    const fills = m.cpu.tlbFills;
    for (let i = 0; i < 3; i++) trip();
    expect(m.cpu.tlbFills).toBe(fills);
  });
});

describe('one EPT/VPID activation per VM entry still follows the VMCS (SDM §28.1, §28.3.1)', () => {
  it('a VMWRITE of the VPID between round trips: the guest runs without the mappings cached under the old VPID', () => {
    const m = machine();
    m.w32(PHYS_A, 0x1111_1111);
    m.w32(PHYS_B, 0x2222_2222);
    write(m, F.CpuBasedVmExecControl, Number(m.readField(F.CpuBasedVmExecControl)) | ProcCtl.ActivateSecondaryControls);
    write(m, F.SecondaryVmExecControl, Proc2Ctl.EnableVpid);
    write(m, F.VirtualProcessorId, 1);
    // Guest: MOV ECX, [LIN]; CPUID; JMP back to the MOV. Host at HOST: HLT.
    m.bytes(GUEST, [...movFromAbs(1, LIN), ...CPUID, 0xeb, 0xf5]);
    m.bytes(HOST, X.hlt);
    m.run([...X.vmlaunch, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(m.cpu.gpr[1]).toBe(0x1111_1111);
    // Remap LIN without any invalidation, then enter with VPID 2: mappings are associated with
    // the VPID they were cached under (§28.3.1), and VPID 2 has none, so the guest walks the
    // paging structures as they are now.
    m.w64(PDE, BigInt(PHYS_B) | 0x87n);
    write(m, F.VirtualProcessorId, 2);
    write(m, F.GuestRip, GUEST);
    m.run([...X.vmresume, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(m.cpu.gpr[1]).toBe(0x2222_2222);
  });

  it('turning "enable VPID" off between round trips: the next VM entry invalidates the guest mappings again (§28.3.3.1)', () => {
    const m = machine();
    m.w32(PHYS_A, 0x1111_1111);
    m.w32(PHYS_B, 0x2222_2222);
    write(m, F.CpuBasedVmExecControl, Number(m.readField(F.CpuBasedVmExecControl)) | ProcCtl.ActivateSecondaryControls);
    write(m, F.SecondaryVmExecControl, Proc2Ctl.EnableVpid);
    write(m, F.VirtualProcessorId, 1);
    m.bytes(GUEST, [...movFromAbs(1, LIN), ...CPUID, 0xeb, 0xf5]);
    m.bytes(HOST, X.hlt);
    m.run([...X.vmlaunch, ...X.hlt]);
    expect(m.cpu.gpr[1]).toBe(0x1111_1111);
    m.w64(PDE, BigInt(PHYS_B) | 0x87n);
    // A guest-state write does not bump the VMCS generation; the control write does.
    write(m, F.SecondaryVmExecControl, 0);
    write(m, F.GuestRip, GUEST);
    m.run([...X.vmresume, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(m.cpu.gpr[1]).toBe(0x2222_2222);
  });
});

describe('decoded-block lookups across world switches with VPIDs (jump cache per TLB bank)', () => {
  function vpidMachine(): VmxMachine {
    const m = machine();
    write(m, F.CpuBasedVmExecControl, Number(m.readField(F.CpuBasedVmExecControl)) | ProcCtl.ActivateSecondaryControls);
    write(m, F.SecondaryVmExecControl, Proc2Ctl.EnableVpid);
    write(m, F.VirtualProcessorId, 1);
    return m;
  }

  it('warm round trips find every block by linear RIP again: no slow lookups once warm', () => {
    // Guest: CPUID; JMP back (CPUID's exit is fault-like: the guest re-executes it at each
    // VMRESUME). Host at HOST: DEC EBP; JZ done; VMRESUME; done: HLT.
    const lookups = (trips: number): number => {
      const m = vpidMachine();
      m.bytes(GUEST, [...CPUID, 0xeb, 0xfc]);
      m.bytes(HOST, [0xff, 0xcd, 0x74, 0x03, ...X.vmresume, ...X.hlt]);
      m.setReg(5, trips);
      m.run([...X.vmlaunch, ...X.hlt]);
      expect(Number(m.readField(EXIT_REASON))).toBe(10);
      expect(m.cpu.gpr[5]).toBe(0);
      return m.cpu.blockLookups;
    };
    // The extra round trips look up no block the slow way (translation and block map).
    expect(lookups(12)).toBe(lookups(4));
  });

  it('guest code rewritten by the host between round trips: the guest runs the new code', () => {
    const m = vpidMachine();
    // Guest: MOV ESI, 1; CPUID; JMP back to the MOV. Host at HOST: HLT.
    const guest = (v: number): number[] => [0xbe, v & 0xff, 0, 0, 0, ...CPUID, 0xeb, 0xf7];
    m.bytes(GUEST, guest(1));
    m.bytes(HOST, X.hlt);
    m.run([...X.vmlaunch, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(m.cpu.gpr[6]).toBe(1);
    write(m, F.GuestRip, GUEST);
    m.run([...X.vmresume, ...X.hlt]);
    expect(m.cpu.gpr[6]).toBe(1);
    // A store to the code (cross-modifying code, SDM Vol. 3A §9.1.3): the next execution of
    // the guest's instruction at that address sees the new bytes.
    m.bytes(GUEST, guest(2));
    write(m, F.GuestRip, GUEST);
    m.run([...X.vmresume, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(m.cpu.gpr[6]).toBe(2);
  });

  it('a guest CS with another base (32-bit guest code) is not looked up by the previous stay\'s linear RIPs', () => {
    const m = vpidMachine();
    // Guest: MOV ESI, n; CPUID; JMP back to the MOV; n = 1 at GUEST, 2 at GUEST + 1000H.
    m.bytes(GUEST, [0xbe, 1, 0, 0, 0, ...CPUID, 0xeb, 0xf7]);
    m.bytes(GUEST + 0x1000, [0xbe, 2, 0, 0, 0, ...CPUID, 0xeb, 0xf7]);
    m.bytes(HOST, X.hlt);
    // The host program is written once (a code write drops every decoded block): VMLAUNCH; HLT;
    // VMRESUME (at CODE + 4); HLT.
    m.run([...X.vmlaunch, ...X.hlt, ...X.vmresume, ...X.hlt]);
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(m.cpu.gpr[6]).toBe(1);
    const resume = (): void => {
      m.cpu.ripLo = CODE + 4;
      m.cpu.ripHi = 0;
      m.cpu.nipLo = CODE + 4;
      m.cpu.nipHi = 0;
      m.cpu.halted = false;
      m.run();
    };
    write(m, F.GuestRip, GUEST);
    m.cpu.gpr[6] = 0;
    resume();
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(m.cpu.gpr[6]).toBe(1);
    // Same RIP, same VPID, but the guest's CS is now a 32-bit code segment (L = 0, D = 1: the
    // guest runs in compatibility mode) with base 1000H: the linear RIP is CS base + RIP (SDM
    // Vol. 3A §3.4.2), another instruction than in the previous stays.
    const ar = Number(m.readField(F.GuestCsArBytes));
    write(m, F.GuestCsArBytes, (ar & ~(1 << 13)) | (1 << 14));
    write(m, F.GuestCsBase, 0x1000);
    write(m, F.GuestRip, GUEST);
    m.cpu.gpr[6] = 0;
    resume();
    expect(Number(m.readField(EXIT_REASON))).toBe(10);
    expect(Number(m.readField(F.GuestCsBase))).toBe(0x1000);
    expect(m.cpu.gpr[6]).toBe(2);
  });
});
