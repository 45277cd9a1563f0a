/**
 * Capability reporting (SDM Vol. 3C Appendix A) through real RDMSR/WRMSR/CPUID instructions, with
 * the values the design's feature set implies computed by hand from the SDM bit positions, and
 * the CR0/CR4 rules of VMX operation (§23.8).
 */
import { Cr0, Cr4, INTEL_CORE, cr4ValidMask } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { controlsValid, crWriteAllowed, DEFAULT_VMX_FEATURES, VmxCaps, type VmxFeatures } from './caps.js';
import { Proc2Ctl, ProcCtl } from './constants.js';
import { R, VmxMachine, X } from './test-harness.js';

const GP = 13;

/** RDMSR `msr` through the instruction: [edx:eax] as a bigint, or null on #GP. */
function rdmsr(m: VmxMachine, msr: number): bigint | null {
  m.clearEvents();
  m.run([...X.movImm32(R.RCX, msr), 0x0f, 0x32, ...X.hlt]);
  if (m.fault !== null) {
    expect(m.fault.vector).toBe(GP);
    return null;
  }
  return ((m.reg(R.RDX) & 0xffff_ffffn) << 32n) | (m.reg(R.RAX) & 0xffff_ffffn);
}

function machine(features?: VmxFeatures, model = INTEL_CORE): VmxMachine {
  return new VmxMachine({ features, model }).long64();
}

describe('CPUID', () => {
  it('CPUID.1:ECX.VMX[bit 5] = 1', () => {
    const m = machine();
    m.run([...X.movImm32(R.RAX, 1), ...X.movImm32(R.RCX, 0), 0x0f, 0xa2, ...X.hlt]);
    expect(Number(m.reg(R.RCX)) & (1 << 5)).toBe(1 << 5);
  });
});

describe('capability MSRs (Appendix A) for DEFAULT_VMX_FEATURES', () => {
  const m = machine();
  const cases: [string, number, bigint][] = [
    // A.1: revision 0x12, size 4096 (bits 44:32), WB (6) in 53:50, bit 54 INS/OUTS info, bit 55 TRUE controls.
    ['IA32_VMX_BASIC', 0x480, (0x1000n << 32n) | (6n << 50n) | (1n << 54n) | (1n << 55n) | 0x12n],
    // A.3.1: default1 bits 1, 2, 4 must be 1; may be 1: those + 0, 3, 5, 6.
    ['IA32_VMX_PINBASED_CTLS', 0x481, (0x7fn << 32n) | 0x16n],
    // A.3.2: default1 bits 1, 4-6, 8, 13-16, 26; may be 1: bits 1-16 and 19-31 (not 0, 17, 18).
    ['IA32_VMX_PROCBASED_CTLS', 0x482, (0xfff9_fffen << 32n) | 0x0401_e172n],
    // A.4: default1 bits 0-8, 10, 11, 13, 14, 16, 17; may be 1: + 9, 15, 18-22.
    ['IA32_VMX_EXIT_CTLS', 0x483, (0x007f_efffn << 32n) | 0x0003_6dffn],
    // A.5: default1 bits 0-8, 12; may be 1: + 9, 14, 15.
    ['IA32_VMX_ENTRY_CTLS', 0x484, (0xd3ffn << 32n) | 0x11ffn],
    // A.6: rate 5, bit 5, activity states HLT/shutdown/wait-for-SIPI (8:6), 4 CR3 targets (24:16), N = 0.
    ['IA32_VMX_MISC', 0x485, 5n | (1n << 5n) | (7n << 6n) | (4n << 16n)],
    ['IA32_VMX_CR0_FIXED0', 0x486, 0x8000_0021n],
    ['IA32_VMX_CR0_FIXED1', 0x487, 0xffff_ffffn],
    ['IA32_VMX_CR4_FIXED0', 0x488, 0x2000n],
    // A.9: highest index: the VMX-preemption timer value 482EH has index 17H.
    ['IA32_VMX_VMCS_ENUM', 0x48a, 0x17n << 1n],
    // A.3.3: APIC accesses 0, EPT 1, descriptor tables 2, RDTSCP 3, VPID 5, WBINVD 6,
    // unrestricted guest 7, PLE 10, RDRAND 11, INVPCID 12, VM functions 13, RDSEED 16.
    ['IA32_VMX_PROCBASED_CTLS2', 0x48b, 0x0001_3cefn << 32n],
    // A.10: execute-only 0, walk length 4 (6), UC (8), WB (14), 2M (16), 1G (17), INVEPT (20),
    // A/D (21), single-context (25) and all-context (26) INVEPT; INVVPID (32), types 40-43.
    [
      'IA32_VMX_EPT_VPID_CAP',
      0x48c,
      (1n << 0n) | (1n << 6n) | (1n << 8n) | (1n << 14n) | (1n << 16n) | (1n << 17n) | (1n << 20n) | (1n << 21n) | (1n << 25n) | (1n << 26n) | (1n << 32n) | (0xfn << 40n),
    ],
    ['IA32_VMX_TRUE_PINBASED_CTLS', 0x48d, (0x7fn << 32n) | 0x16n],
    // The TRUE MSR lets CR3-load/store exiting (15, 16) be 0.
    ['IA32_VMX_TRUE_PROCBASED_CTLS', 0x48e, (0xfff9_fffen << 32n) | 0x0400_6172n],
    // ... and bit 2 of the exit and entry controls.
    ['IA32_VMX_TRUE_EXIT_CTLS', 0x48f, (0x007f_efffn << 32n) | 0x0003_6dfbn],
    ['IA32_VMX_TRUE_ENTRY_CTLS', 0x490, (0xd3ffn << 32n) | 0x11fbn],
    // A.11: EPTP switching.
    ['IA32_VMX_VMFUNC', 0x491, 1n],
  ];
  for (const [name, msr, want] of cases) {
    it(`${name} (${msr.toString(16)}H) = ${want.toString(16)}H`, () => {
      expect(rdmsr(m, msr)).toBe(want);
    });
  }

  it('IA32_VMX_CR4_FIXED1 = the CR4 bits the core accepts, with VMXE', () => {
    const v = rdmsr(m, 0x489)!;
    expect(v >> 32n).toBe(0n);
    expect(Number(v) | 0).toBe(cr4ValidMask(m.cpu) | Cr4.VMXE);
    expect(Number(v) & Cr4.VMXE).toBe(Cr4.VMXE);
    expect(Number(v) & (1 << 31)).toBe(0);
  });

  it('the control MSRs are consistent: allowed-0 bits are a subset of allowed-1 bits, TRUE allowed-0 a subset of the plain one', () => {
    for (const [plain, truev] of [
      [0x481, 0x48d],
      [0x482, 0x48e],
      [0x483, 0x48f],
      [0x484, 0x490],
    ] as const) {
      const p = rdmsr(m, plain)!;
      const t = rdmsr(m, truev)!;
      const p0 = p & 0xffff_ffffn;
      const t0 = t & 0xffff_ffffn;
      expect(p0 & ~(p >> 32n)).toBe(0n);
      expect(t0 & ~p0).toBe(0n);
      expect(t >> 32n).toBe(p >> 32n);
    }
  });

  it('no other MSR in 480H-491H: 489H exists, 492H does not (#GP)', () => {
    expect(rdmsr(m, 0x492)).toBeNull();
  });

  it('WRMSR to a capability MSR raises #GP(0) and changes nothing', () => {
    for (const msr of [0x480, 0x482, 0x48b, 0x491]) {
      const before = rdmsr(m, msr);
      m.clearEvents();
      m.setReg(R.RAX, 0).setReg(R.RDX, 0);
      m.run([...X.movImm32(R.RCX, msr), 0x0f, 0x30, ...X.hlt]);
      expect(m.fault).toMatchObject({ vector: GP, error: 0 });
      expect(rdmsr(m, msr)).toBe(before);
    }
  });
});

describe('VmxFeatures decide the MSRs (CPU models can differ)', () => {
  it('without secondary controls: no PROCBASED_CTLS2, EPT_VPID_CAP or VMFUNC MSR', () => {
    const m = machine({ ...DEFAULT_VMX_FEATURES, procControls: DEFAULT_VMX_FEATURES.procControls & ~ProcCtl.ActivateSecondaryControls });
    expect(rdmsr(m, 0x48b)).toBeNull();
    expect(rdmsr(m, 0x48c)).toBeNull();
    expect(rdmsr(m, 0x491)).toBeNull();
    expect(Number((rdmsr(m, 0x482)! >> 32n) & 0x8000_0000n)).toBe(0);
    expect(m.vmx.caps.proc2Allowed1).toBe(0);
  });

  it('without EPT and VPID: no EPT_VPID_CAP; without VM functions: no VMFUNC MSR', () => {
    const m = machine({ ...DEFAULT_VMX_FEATURES, proc2Controls: Proc2Ctl.UnrestrictedGuest });
    expect(rdmsr(m, 0x48c)).toBeNull();
    expect(rdmsr(m, 0x491)).toBeNull();
    expect(rdmsr(m, 0x48b)).toBe(BigInt(Proc2Ctl.UnrestrictedGuest) << 32n);
  });

  it('a CPU model without INVPCID does not offer "enable INVPCID"', () => {
    const model = { ...INTEL_CORE, leaf7Ebx: INTEL_CORE.leaf7Ebx & ~(1 << 10) };
    const m = machine(undefined, model);
    expect(Number((rdmsr(m, 0x48b)! >> 32n) & BigInt(Proc2Ctl.EnableInvpcid))).toBe(0);
    expect(Number((rdmsr(machine(), 0x48b)! >> 32n) & BigInt(Proc2Ctl.EnableInvpcid))).toBe(Proc2Ctl.EnableInvpcid);
  });

  it('revision identifier, MISC fields and the EPT options follow the configuration', () => {
    const m = machine({
      ...DEFAULT_VMX_FEATURES,
      revisionId: 0x4242,
      preemptionTimerRate: 7,
      cr3TargetCount: 1,
      msrListSizeN: 2,
      zeroLengthInjection: true,
      eptAccessedDirty: false,
      eptExecuteOnly: false,
      ept1gPages: false,
    });
    expect(rdmsr(m, 0x480)! & 0x7fff_ffffn).toBe(0x4242n);
    const misc = rdmsr(m, 0x485)!;
    expect(misc & 0x1fn).toBe(7n);
    expect((misc >> 16n) & 0x1ffn).toBe(1n);
    expect((misc >> 25n) & 7n).toBe(2n);
    expect((misc >> 30n) & 1n).toBe(1n);
    expect(m.vmx.caps.maxMsrListCount).toBe(512 * 3);
    const cap = rdmsr(m, 0x48c)!;
    expect(cap & 1n).toBe(0n);
    expect((cap >> 17n) & 1n).toBe(0n);
    expect((cap >> 21n) & 1n).toBe(0n);
    expect(m.vmx.caps.eptpValid(0x1000 | 6 | (3 << 3) | 0x40, 0)).toBe(false);
  });
});

describe('helpers', () => {
  it('controlsValid: allowed-0 bits must be 1, bits clear in allowed-1 must be 0 (SDM §26.2.1.1)', () => {
    expect(controlsValid(0x16, 0x16, 0x7f)).toBe(true);
    expect(controlsValid(0x7f, 0x16, 0x7f)).toBe(true);
    expect(controlsValid(0x12, 0x16, 0x7f)).toBe(false);
    expect(controlsValid(0x96, 0x16, 0x7f)).toBe(false);
    expect(controlsValid(0x8000_0016 | 0, 0x16, 0x7f)).toBe(false);
    expect(controlsValid(0x8000_0016 | 0, 0x16, -1)).toBe(true);
  });

  it('VmxCaps exposes the TRUE allowed settings for the entry checks', () => {
    const c = new VmxCaps(DEFAULT_VMX_FEATURES);
    expect([c.pinAllowed0, c.pinAllowed1]).toEqual([0x16, 0x7f]);
    expect([c.procAllowed0, c.procAllowed1 >>> 0]).toEqual([0x0400_6172, 0xfff9_fffe]);
    expect([c.exitAllowed0, c.exitAllowed1]).toEqual([0x36dfb, 0x7fefff]);
    expect([c.entryAllowed0, c.entryAllowed1]).toEqual([0x11fb, 0xd3ff]);
    expect([c.cr0Fixed0 >>> 0, c.cr4Fixed0]).toEqual([0x8000_0021, 0x2000]);
    expect(c.activityStateMask).toBe(0b1111);
    expect(c.cr3TargetCount).toBe(4);
  });

  it('eptpValid: memory type UC/WB, walk length 4, A/D bit only if supported, bits 11:7 and beyond MAXPHYADDR reserved', () => {
    const c = new VmxCaps(DEFAULT_VMX_FEATURES);
    const base = 0x5000 | (3 << 3);
    expect(c.eptpValid(base | 6, 0)).toBe(true);
    expect(c.eptpValid(base | 0, 0)).toBe(true);
    expect(c.eptpValid(base | 0x40 | 6, 0)).toBe(true);
    for (const t of [1, 2, 3, 4, 5, 7]) expect(c.eptpValid(base | t, 0)).toBe(false);
    expect(c.eptpValid(0x5000 | 6 | (4 << 3), 0)).toBe(false);
    expect(c.eptpValid(base | 6 | 0x100, 0)).toBe(false);
    expect(c.eptpValid(base | 6, 1 << (c.physAddrBits - 32))).toBe(false);
    expect(c.eptpValid(base | 6, (1 << (c.physAddrBits - 32)) - 1)).toBe(true);
  });
});

describe('the EPT walker follows the CPU model (SDM §28.3.3.1: EPT entry bits 51:MAXPHYADDR are reserved)', () => {
  it('MAXPHYADDR of the walker is the model\'s physical-address width, with the advertised EPT capabilities', () => {
    const m = machine();
    expect(INTEL_CORE.physAddrBits).toBe(46);
    expect(m.vmx.ept.maxPhyAddr).toBe(46);
    const narrow = machine(undefined, { ...INTEL_CORE, physAddrBits: 39 });
    expect(narrow.vmx.ept.maxPhyAddr).toBe(39);
    expect(narrow.vmx.ept.executeOnly).toBe(DEFAULT_VMX_FEATURES.eptExecuteOnly);
    expect(narrow.vmx.ept.gbPages).toBe(DEFAULT_VMX_FEATURES.ept1gPages);
  });
});

describe('CR0/CR4 in VMX operation (SDM §23.8 "Restrictions on VMX Operation")', () => {
  function root(): VmxMachine {
    const m = new VmxMachine().long64().enableVmx();
    m.region(0x100000);
    m.w64(0x200000, 0x100000);
    m.setReg(R.RAX, 0x200000);
    m.run([...X.vmxon(X.MEM_RAX), ...X.hlt]);
    expect(m.vmx.inVmx).toBe(true);
    return m;
  }

  it('outside VMX operation every value is left to the core', () => {
    const m = new VmxMachine().long64();
    expect(crWriteAllowed(m.vmx, m.cpu, 4, 0, 0)).toBe(true);
    expect(crWriteAllowed(m.vmx, m.cpu, 0, 0, 0)).toBe(true);
  });

  it('in VMX root operation the FIXED0 bits cannot be cleared: CR0.PE/NE/PG, CR4.VMXE', () => {
    const m = root();
    const cr0 = m.cpu.cr0;
    const cr4 = m.cpu.cr4;
    expect(crWriteAllowed(m.vmx, m.cpu, 0, cr0, 0)).toBe(true);
    expect(crWriteAllowed(m.vmx, m.cpu, 0, cr0 & ~Cr0.NE, 0)).toBe(false);
    expect(crWriteAllowed(m.vmx, m.cpu, 0, cr0 & ~Cr0.PG, 0)).toBe(false);
    expect(crWriteAllowed(m.vmx, m.cpu, 0, cr0 & ~Cr0.PE, 0)).toBe(false);
    expect(crWriteAllowed(m.vmx, m.cpu, 0, cr0 ^ Cr0.TS, 0)).toBe(true);
    expect(crWriteAllowed(m.vmx, m.cpu, 4, cr4, 0)).toBe(true);
    expect(crWriteAllowed(m.vmx, m.cpu, 4, cr4 & ~Cr4.VMXE, 0)).toBe(false);
    expect(crWriteAllowed(m.vmx, m.cpu, 4, cr4 | (1 << 31), 0)).toBe(false);
    expect(crWriteAllowed(m.vmx, m.cpu, 3, 0, 0)).toBe(true);
  });

  it('in non-root operation with "unrestricted guest", CR0.PE and CR0.PG are not fixed (NE still is)', () => {
    const m = root();
    m.cpu.guestMode = true;
    const cr0 = m.cpu.cr0;
    expect(crWriteAllowed(m.vmx, m.cpu, 0, cr0 & ~(Cr0.PE | Cr0.PG), 0)).toBe(false);
    m.vmx.proc = ProcCtl.ActivateSecondaryControls;
    m.vmx.proc2 = Proc2Ctl.UnrestrictedGuest;
    expect(crWriteAllowed(m.vmx, m.cpu, 0, cr0 & ~(Cr0.PE | Cr0.PG), 0)).toBe(true);
    expect(crWriteAllowed(m.vmx, m.cpu, 0, cr0 & ~Cr0.NE, 0)).toBe(false);
    m.cpu.guestMode = false;
  });

  it('the instructions consult it (VmxCpu.allowsCrWrite): MOV to CR4 clearing VMXE and MOV to CR0 clearing NE are #GP(0) in VMX root operation', () => {
    const m = root();
    const cr0 = m.cpu.cr0;
    const cr4 = m.cpu.cr4;
    // mov cr4, rax
    m.clearEvents().setReg(R.RAX, (cr4 & ~Cr4.VMXE) >>> 0);
    m.run([0x0f, 0x22, 0xe0, ...X.hlt]);
    expect(m.fault).toMatchObject({ vector: GP, error: 0 });
    expect(m.cpu.cr4).toBe(cr4);
    // mov cr0, rax
    m.clearEvents().setReg(R.RAX, (cr0 & ~Cr0.NE) >>> 0);
    m.run([0x0f, 0x22, 0xc0, ...X.hlt]);
    expect(m.fault).toMatchObject({ vector: GP, error: 0 });
    expect(m.cpu.cr0).toBe(cr0);
    // Bits that are not fixed still change: CR0.MP through MOV, CR0.TS through LMSW and CLTS.
    m.clearEvents().setReg(R.RAX, (cr0 | Cr0.MP) >>> 0);
    m.run([0x0f, 0x22, 0xc0, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(m.cpu.cr0).toBe(cr0 | Cr0.MP);
    m.setReg(R.RAX, Cr0.PE | Cr0.MP | Cr0.TS);
    m.run([0x0f, 0x01, 0xf0, ...X.hlt]);
    expect(m.cpu.cr0 & Cr0.TS).toBe(Cr0.TS);
    m.run([0x0f, 0x06, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(m.cpu.cr0 & Cr0.TS).toBe(0);
  });

  it('outside VMX operation (after VMXOFF) clearing CR4.VMXE is allowed again', () => {
    const m = root();
    m.run([...X.vmxoff, ...X.hlt]);
    expect(m.vmx.inVmx).toBe(false);
    m.clearEvents().setReg(R.RAX, (m.cpu.cr4 & ~Cr4.VMXE) >>> 0);
    m.run([0x0f, 0x22, 0xe0, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(m.cpu.cr4 & Cr4.VMXE).toBe(0);
  });
});
