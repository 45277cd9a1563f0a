import { describe, expect, it } from 'vitest';
import { AMD_ZEN, Cr0, Cr4, Efer, Seg, StopReason, Vector } from '../src/index.js';
import { Msr, readMsr, writeMsr } from '../src/ops/msr.js';
import { CODE, fakeExt, Sys } from './sys-harness.js';

const GP = Vector.GP;
const RDMSR = [0x0f, 0x32];
const WRMSR = [0x0f, 0x30];
const HLT = 0xf4;

function msrInsn(s: Sys, code: number[], ecx: number, eax = 0, edx = 0): StopReason {
  s.cpu.gpr[1] = ecx;
  s.cpu.gpr[0] = eax;
  s.cpu.gpr[2] = edx;
  s.code([...code, HLT]);
  return s.run(100);
}

function rd(s: Sys, msr: number): bigint {
  expect(readMsr(s.cpu, msr)).toBe(true);
  return (BigInt(s.cpu.msrHi >>> 0) << 32n) | BigInt(s.cpu.msrLo >>> 0);
}
function wr(s: Sys, msr: number, v: bigint): boolean {
  return writeMsr(s.cpu, msr, Number(v & 0xffffffffn) | 0, Number((v >> 32n) & 0xffffffffn) | 0);
}

describe('RDMSR / WRMSR', () => {
  it('is #GP(0) at CPL 3 and for an unknown MSR; results zero-extend in 64-bit mode', () => {
    const s = new Sys().flat32(3);
    msrInsn(s, RDMSR, Msr.EFER);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    const t = new Sys().flat32();
    msrInsn(t, RDMSR, 0x12345);
    expect(t.fault).toEqual({ vector: GP, error: 0 });
    expect(t.cpu.ripLo).toBe(CODE);
    const l = new Sys().long64();
    l.cpu.gprHi[0] = -1;
    l.cpu.gprHi[2] = -1;
    l.cpu.starHi = 0x00230010;
    expect(msrInsn(l, RDMSR, Msr.STAR)).toBe(StopReason.Halt);
    expect(l.cpu.gpr[2]).toBe(0x00230010);
    expect(l.cpu.gprHi[0]).toBe(0);
    expect(l.cpu.gprHi[2]).toBe(0);
  });

  it('EFER: reserved bits, LME while paging, LMA kept, NXE, SVME only with an SVM extension', () => {
    const s = new Sys().flat32();
    msrInsn(s, WRMSR, Msr.EFER, 2);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(wr(s, Msr.EFER, BigInt(Efer.LME | Efer.NXE | Efer.SCE | Efer.LMA))).toBe(true);
    expect(s.cpu.efer).toBe(Efer.LME | Efer.NXE | Efer.SCE);
    expect(wr(s, Msr.EFER, BigInt(Efer.SVME))).toBe(false);
    expect(wr(s, Msr.EFER, 1n << 32n)).toBe(false);
    const l = new Sys().long64();
    expect(wr(l, Msr.EFER, BigInt(Efer.SCE))).toBe(false); // would clear LME with CR0.PG = 1
    expect(wr(l, Msr.EFER, BigInt(Efer.SCE | Efer.LME | Efer.NXE))).toBe(true);
    expect(l.cpu.efer).toBe(Efer.SCE | Efer.LME | Efer.NXE | Efer.LMA);
    const a = new Sys({ model: AMD_ZEN }).flat32();
    let allow = false;
    a.cpu.ext = fakeExt('svm', { allowsEnable: () => allow });
    expect(wr(a, Msr.EFER, BigInt(Efer.SVME))).toBe(false);
    allow = true;
    expect(wr(a, Msr.EFER, BigInt(Efer.SVME))).toBe(true);
  });

  it('base-address MSRs must be canonical; FS/GS_BASE write the segment bases', () => {
    const s = new Sys({ model: AMD_ZEN }).long64();
    for (const msr of [Msr.LSTAR, Msr.CSTAR, Msr.FS_BASE, Msr.GS_BASE, Msr.KERNEL_GS_BASE]) {
      expect(wr(s, msr, 0x0000800000000000n), msr.toString(16)).toBe(false);
      expect(wr(s, msr, 0xffff800000001000n)).toBe(true);
      expect(rd(s, msr)).toBe(0xffff800000001000n);
    }
    expect(s.cpu.segBaseHi[Seg.FS]).toBe(0xffff8000 | 0);
    expect(s.cpu.segBase[Seg.GS]).toBe(0x1000);
  });

  it('TSC: counts retired instructions; WRMSR sets it; RDTSC honours CR4.TSD', () => {
    const s = new Sys().flat32();
    expect(wr(s, Msr.TSC, 0x1_0000_0000n)).toBe(true);
    s.code([0x90, 0x90, 0x90, 0x0f, 0x31, HLT]);
    s.run(100);
    expect(s.cpu.gpr[2]).toBe(1);
    expect(s.cpu.gpr[0]).toBe(3);
    const u = new Sys().flat32(3);
    u.cpu.cr4 = Cr4.TSD;
    u.code([0x0f, 0x31]);
    u.run(10);
    expect(u.fault).toEqual({ vector: GP, error: 0 });
    const k = new Sys().flat32();
    k.cpu.cr4 = Cr4.TSD;
    k.code([0x0f, 0x31, HLT]);
    expect(k.run(10)).toBe(StopReason.Halt);
  });

  it('TSC_AUX feeds RDTSCP and RDPID; Intel rejects bits 63:32, AMD drops them', () => {
    const s = new Sys().long64();
    expect(wr(s, Msr.TSC_AUX, 1n << 32n)).toBe(false);
    expect(wr(s, Msr.TSC_AUX, 0x1234n)).toBe(true);
    s.cpu.gprHi[1] = 5;
    s.code([0x0f, 0x01, 0xf9, 0xf3, 0x0f, 0xc7, 0xfb, HLT]); // rdtscp; rdpid rbx
    s.run(10);
    expect(s.cpu.gpr[1]).toBe(0x1234);
    expect(s.cpu.gprHi[1]).toBe(0);
    expect(s.cpu.gpr[3]).toBe(0x1234);
    const a = new Sys({ model: AMD_ZEN }).flat32();
    expect(wr(a, Msr.TSC_AUX, 0x7_0000_0009n)).toBe(true);
    expect(rd(a, Msr.TSC_AUX)).toBe(9n);
  });

  it('PAT and MTRRs accept valid memory types only and reserved bits are #GP', () => {
    const s = new Sys().flat32();
    expect(wr(s, Msr.PAT, 0x0007040600070406n)).toBe(true);
    expect(wr(s, Msr.PAT, 0x0007040600070402n)).toBe(false); // type 2
    expect(wr(s, Msr.PAT, 0x0007040600070417n)).toBe(false); // bits 7:3 of a byte
    expect(rd(s, Msr.PAT)).toBe(0x0007040600070406n);
    expect(wr(s, Msr.MTRR_PHYSBASE0, 0x80000006n)).toBe(true);
    expect(wr(s, Msr.MTRR_PHYSBASE0, 0x80000007n)).toBe(false); // UC- is not an MTRR type
    expect(wr(s, Msr.MTRR_PHYSBASE0, 0x80000106n)).toBe(false); // bit 8
    expect(wr(s, Msr.MTRR_PHYSBASE0 + 1, 0x3fff_ffff_f800n)).toBe(true);
    expect(wr(s, Msr.MTRR_PHYSBASE0 + 1, 0x4000_0000_0800n)).toBe(false); // bit 46 >= MAXPHYADDR
    expect(wr(s, Msr.MTRR_PHYSBASE0 + 1, 0x8400n)).toBe(false); // bit 10
    expect(wr(s, Msr.MTRR_FIX64K_00000, 0x0606060606060606n)).toBe(true);
    expect(wr(s, Msr.MTRR_FIX4K_C0000, 0x0606060606060306n)).toBe(false);
    expect(wr(s, Msr.MTRR_DEF_TYPE, 0xc06n)).toBe(true);
    expect(wr(s, Msr.MTRR_DEF_TYPE, 0x1c06n)).toBe(false);
    expect(rd(s, Msr.MTRR_DEF_TYPE)).toBe(0xc06n);
    expect(rd(s, Msr.MTRR_PHYSBASE0)).toBe(0x80000006n);
    expect(rd(s, Msr.MTRRCAP)).toBe(0x508n);
    expect(wr(s, Msr.MTRRCAP, 0x508n)).toBe(false);
  });

  it('APIC_BASE: reserved bits #GP, BSP is read-only, the hook sees the new value', () => {
    const s = new Sys().flat32();
    const seen: number[] = [];
    s.cpu.onApicBaseWrite = (lo) => seen.push(lo >>> 0);
    expect(wr(s, Msr.APIC_BASE, 0xfee00000n | (1n << 11n))).toBe(true);
    expect(seen).toEqual([0xfee00900]);
    expect(wr(s, Msr.APIC_BASE, 0xfee00800n | (1n << 10n))).toBe(false);
    expect(wr(s, Msr.APIC_BASE, 0xfee00801n)).toBe(false);
    expect(wr(s, Msr.APIC_BASE, (1n << 46n) | 0xfee00800n)).toBe(false);
    expect(seen.length).toBe(1);
  });

  it('FEATURE_CONTROL: lock makes it read-only; the VMX bit needs a VMX extension; AMD has none', () => {
    const s = new Sys().flat32();
    expect(wr(s, Msr.FEATURE_CONTROL, 5n)).toBe(false);
    s.cpu.ext = fakeExt('vmx');
    expect(wr(s, Msr.FEATURE_CONTROL, 5n)).toBe(true);
    expect(wr(s, Msr.FEATURE_CONTROL, 0n)).toBe(false);
    expect(rd(s, Msr.FEATURE_CONTROL)).toBe(5n);
    const a = new Sys({ model: AMD_ZEN }).flat32();
    expect(readMsr(a.cpu, Msr.FEATURE_CONTROL)).toBe(false);
  });

  it('MISC_ENABLE: read-only bits, XD disable hides NX and clears EFER.NXE', () => {
    const s = new Sys().flat32();
    expect(rd(s, Msr.MISC_ENABLE)).toBe(BigInt(1 | (1 << 7) | (1 << 11) | (1 << 12) | (1 << 18)));
    expect(wr(s, Msr.MISC_ENABLE, 1n << 5n)).toBe(false);
    expect(wr(s, Msr.EFER, BigInt(Efer.NXE))).toBe(true);
    expect(wr(s, Msr.MISC_ENABLE, (1n << 34n) | 1n)).toBe(true);
    expect(s.cpu.efer & Efer.NXE).toBe(0);
    expect(wr(s, Msr.EFER, BigInt(Efer.NXE))).toBe(false);
    expect(readMsr(new Sys({ model: AMD_ZEN }).cpu, Msr.MISC_ENABLE)).toBe(false);
  });

  it('MCG_CAP/MCG_STATUS read 0; DEBUGCTL and MCG_STATUS take only 0; BIOS_SIGN_ID reports the microcode revision', () => {
    const s = new Sys().flat32();
    expect(rd(s, Msr.MCG_CAP)).toBe(0n);
    expect(wr(s, Msr.MCG_CAP, 0n)).toBe(false);
    expect(wr(s, Msr.MCG_STATUS, 0n)).toBe(true);
    expect(wr(s, Msr.MCG_STATUS, 1n)).toBe(false);
    expect(wr(s, Msr.DEBUGCTL, 1n)).toBe(false);
    expect(wr(s, Msr.BIOS_SIGN_ID, 0n)).toBe(true);
    // Linux turns the TSC-deadline timer of 06_55H stepping 4 off below revision 0x2000014.
    expect(rd(s, Msr.BIOS_SIGN_ID)).toBe(0x2007006n << 32n);
    expect(rd(s, Msr.PLATFORM_ID)).toBe(0n);
    expect(rd(new Sys({ model: AMD_ZEN }).flat32(), Msr.BIOS_SIGN_ID)).toBe(0x0830107cn);
    const plain = new Sys({ model: { ...AMD_ZEN, vendor: 'intel', vendorString: 'GenuineIntel', microcodeRevision: undefined } }).flat32();
    expect(rd(plain, Msr.BIOS_SIGN_ID)).toBe(1n << 32n);
  });

  it('AMD SYSCFG (C001_0010h): 0 at RESET, bits 22:18 read/write (MTRR extensions), the rest #GP; kept by INIT; no such MSR on Intel', () => {
    const a = new Sys({ model: AMD_ZEN }).flat32();
    expect(Msr.AMD_SYSCFG).toBe(0xc0010010);
    // RDMSR works (Linux reads it unchecked in its MTRR code) and MtrrFixDramModEn (bit 19) is clear.
    expect(msrInsn(a, RDMSR, 0xc0010010)).toBe(StopReason.Halt);
    expect(a.cpu.gpr[0]).toBe(0);
    expect(a.cpu.gpr[2]).toBe(0);
    // MtrrFixDramEn 18, MtrrFixDramModEn 19, MtrrVarDramEn 20, MtrrTom2En 21, Tom2ForceMemTypeWB 22.
    for (const bit of [18, 19, 20, 21, 22]) {
      expect(wr(a, Msr.AMD_SYSCFG, 1n << BigInt(bit)), `bit ${bit}`).toBe(true);
      expect(rd(a, Msr.AMD_SYSCFG)).toBe(1n << BigInt(bit));
    }
    expect(wr(a, Msr.AMD_SYSCFG, 0x7c0000n)).toBe(true);
    // Reserved: bits 17:0, MemEncryptionModEn (23: SME is not advertised), 63:24.
    for (const bit of [0, 10, 17, 23, 24, 32, 63]) expect(wr(a, Msr.AMD_SYSCFG, 1n << BigInt(bit)), `bit ${bit}`).toBe(false);
    expect(rd(a, Msr.AMD_SYSCFG)).toBe(0x7c0000n);
    msrInsn(a, WRMSR, 0xc0010010, 1 << 23);
    expect(a.fault).toEqual({ vector: GP, error: 0 });
    a.cpu.init();
    expect(rd(a, Msr.AMD_SYSCFG)).toBe(0x7c0000n);
    a.cpu.reset();
    expect(rd(a, Msr.AMD_SYSCFG)).toBe(0n);
    const i = new Sys().flat32();
    expect(readMsr(i.cpu, Msr.AMD_SYSCFG)).toBe(false);
    expect(wr(i, Msr.AMD_SYSCFG, 0n)).toBe(false);
  });

  it('AMD fixed-range MTRRs: RdMem/WrMem (bits 4:3 of each type field) are read and written only with SYSCFG.MtrrFixDramModEn = 1', () => {
    const a = new Sys({ model: AMD_ZEN }).flat32();
    const dram = 0x1e1e_1e1e_1e1e_1e1en; // WB (6) | RdMem (bit 4) | WrMem (bit 3) in every field
    // ModEn = 0: the bits are ignored on write and read as 0; the types are still checked.
    expect(wr(a, Msr.MTRR_FIX64K_00000, dram)).toBe(true);
    expect(rd(a, Msr.MTRR_FIX64K_00000)).toBe(0x0606_0606_0606_0606n);
    expect(wr(a, Msr.MTRR_FIX64K_00000, 0x1b1b_1b1b_1b1b_1b1bn)).toBe(false); // type 3 is reserved
    expect(wr(a, Msr.MTRR_FIX64K_00000, 0x2606_0606_0606_0606n)).toBe(false); // bit 5 of a field is reserved
    // ModEn = 1: they stick and read back.
    expect(wr(a, Msr.AMD_SYSCFG, BigInt(1 << 19))).toBe(true);
    expect(wr(a, Msr.MTRR_FIX4K_F8000, dram)).toBe(true);
    expect(rd(a, Msr.MTRR_FIX4K_F8000)).toBe(dram);
    // ModEn back to 0: they read 0 and a write leaves them as they were.
    expect(wr(a, Msr.AMD_SYSCFG, 0n)).toBe(true);
    expect(rd(a, Msr.MTRR_FIX4K_F8000)).toBe(0x0606_0606_0606_0606n);
    expect(wr(a, Msr.MTRR_FIX4K_F8000, 0x0505_0505_0505_0505n)).toBe(true);
    expect(wr(a, Msr.AMD_SYSCFG, BigInt(1 << 19))).toBe(true);
    expect(rd(a, Msr.MTRR_FIX4K_F8000)).toBe(0x1d1d_1d1d_1d1d_1d1dn);
    // Intel has no such bits: they are reserved there (#GP).
    expect(wr(new Sys().flat32(), Msr.MTRR_FIX64K_00000, dram)).toBe(false);
  });

  it('AMD NB_CFG (C001_001Fh): 0 at RESET, EnableCf8ExtCfg (46) and InitApicIdCpuIdLo (54) read/write, the rest #GP; no such MSR on Intel', () => {
    const a = new Sys({ model: AMD_ZEN }).flat32();
    expect(Msr.AMD_NB_CFG).toBe(0xc001001f);
    expect(rd(a, Msr.AMD_NB_CFG)).toBe(0n);
    // What Linux's amd_bus code writes: the value read | EnableCf8ExtCfg.
    expect(msrInsn(a, WRMSR, 0xc001001f, 0, 1 << 14)).toBe(StopReason.Halt);
    expect(rd(a, Msr.AMD_NB_CFG)).toBe(1n << 46n);
    expect(wr(a, Msr.AMD_NB_CFG, (1n << 46n) | (1n << 54n))).toBe(true);
    expect(rd(a, Msr.AMD_NB_CFG)).toBe((1n << 46n) | (1n << 54n));
    for (const bit of [0, 31, 45, 47, 53, 55, 63]) expect(wr(a, Msr.AMD_NB_CFG, 1n << BigInt(bit)), `bit ${bit}`).toBe(false);
    a.cpu.init();
    expect(rd(a, Msr.AMD_NB_CFG)).toBe((1n << 46n) | (1n << 54n));
    a.cpu.reset();
    expect(rd(a, Msr.AMD_NB_CFG)).toBe(0n);
    expect(readMsr(new Sys().cpu, Msr.AMD_NB_CFG)).toBe(false);
  });

  it('IA32_SPEC_CTRL takes the enumerated controls, IA32_PRED_CMD is write-only, IA32_ARCH_CAPABILITIES read-only', () => {
    const s = new Sys().flat32();
    expect(rd(s, Msr.SPEC_CTRL)).toBe(0n);
    expect(wr(s, Msr.SPEC_CTRL, 7n)).toBe(true); // IBRS | STIBP | SSBD
    expect(rd(s, Msr.SPEC_CTRL)).toBe(7n);
    expect(wr(s, Msr.SPEC_CTRL, 8n)).toBe(false); // IPRED_DIS_U: not enumerated
    expect(wr(s, Msr.SPEC_CTRL, 1n << 32n)).toBe(false);
    expect(wr(s, Msr.PRED_CMD, 1n)).toBe(true); // IBPB
    expect(wr(s, Msr.PRED_CMD, 2n)).toBe(false);
    expect(readMsr(s.cpu, Msr.PRED_CMD)).toBe(false);
    // RDCL_NO, IBRS_ALL, SKIP_L1DFL_VMENTRY, SSB_NO, MDS_NO, IF_PSCHANGE_MC_NO, TAA_NO,
    // SBDR_SSDP_NO, FBSDP_NO, PSDP_NO, BHI_NO, PBRSB_NO, GDS_NO, RFDS_NO (SDM Vol. 4 Table 2-2).
    const caps = [0, 1, 3, 4, 5, 6, 8, 13, 14, 15, 20, 24, 26, 27].reduce((a, b) => a | (1n << BigInt(b)), 0n);
    expect(rd(s, Msr.ARCH_CAPABILITIES)).toBe(caps);
    expect(wr(s, Msr.ARCH_CAPABILITIES, 0n)).toBe(false);
    s.cpu.init();
    expect(rd(s, Msr.SPEC_CTRL)).toBe(7n); // INIT keeps MSRs
    s.cpu.reset();
    expect(rd(s, Msr.SPEC_CTRL)).toBe(0n);
    const a = new Sys({ model: AMD_ZEN }).flat32();
    expect(readMsr(a.cpu, Msr.SPEC_CTRL)).toBe(false);
    expect(readMsr(a.cpu, Msr.ARCH_CAPABILITIES)).toBe(false);
    expect(writeMsr(a.cpu, Msr.PRED_CMD, 1, 0)).toBe(false);
  });

  it('RESET disables the MTRRs and restores the PAT; INIT keeps both (SDM Vol. 3 Table 10-1)', () => {
    const s = new Sys().flat32();
    expect(wr(s, Msr.MTRR_DEF_TYPE, 0xc06n)).toBe(true);
    expect(wr(s, Msr.MTRR_PHYSBASE0, 0x8000_0000n)).toBe(true);
    expect(wr(s, Msr.PAT, 0x0106n)).toBe(true);
    s.cpu.init();
    expect(rd(s, Msr.MTRR_DEF_TYPE)).toBe(0xc06n);
    expect(rd(s, Msr.MTRR_PHYSBASE0)).toBe(0x8000_0000n);
    expect(rd(s, Msr.PAT)).toBe(0x0106n);
    s.cpu.reset();
    expect(rd(s, Msr.MTRR_DEF_TYPE)).toBe(0n);
    expect(rd(s, Msr.MTRR_PHYSBASE0)).toBe(0n);
    expect(rd(s, Msr.PAT)).toBe(0x0007040600070406n);
  });

  it('cores sharing a TSC never read it below the latest read on another core', () => {
    const a = new Sys().flat32();
    const b = new Sys().flat32();
    const shared = new Float64Array(1);
    a.cpu.tscShared = shared;
    b.cpu.tscShared = shared;
    a.cpu.icount = 5000;
    b.cpu.icount = 4000; // b's turn comes after a's, with a smaller count of its own
    expect(rd(a, Msr.TSC)).toBe(5000n);
    expect(rd(b, Msr.TSC)).toBe(5000n);
    b.cpu.icount = 6000;
    expect(rd(b, Msr.TSC)).toBe(6000n);
    expect(rd(a, Msr.TSC)).toBe(6000n);
    const lone = new Sys().flat32();
    lone.cpu.icount = 10;
    expect(rd(lone, Msr.TSC)).toBe(10n);
  });

  it('SYSENTER_ESP/EIP: canonical on Intel; AMD keeps 32 bits', () => {
    const s = new Sys().flat32();
    expect(wr(s, Msr.SYSENTER_EIP, 0x0100_0000_0000_0000n)).toBe(false);
    expect(wr(s, Msr.SYSENTER_EIP, 0xff00_0000_0000_1000n)).toBe(true);
    expect(rd(s, Msr.SYSENTER_EIP)).toBe(0xff00_0000_0000_1000n);
    const a = new Sys({ model: AMD_ZEN }).flat32();
    expect(wr(a, Msr.SYSENTER_ESP, 0x1234_0000_5678n)).toBe(true);
    expect(rd(a, Msr.SYSENTER_ESP)).toBe(0x5678n);
  });

  it('an extension claims its MSRs before the core', () => {
    const s = new Sys().flat32();
    s.cpu.ext = fakeExt('vmx', {
      readMsr: (c, msr) => {
        if (msr !== 0x480) return false;
        c.msrLo = 0x11;
        c.msrHi = 0x22;
        return true;
      },
    });
    expect(msrInsn(s, RDMSR, 0x480)).toBe(StopReason.Halt);
    expect(s.cpu.gpr[0]).toBe(0x11);
    expect(s.cpu.gpr[2]).toBe(0x22);
  });

  it('WRMSR in guest mode goes to the intercept (after the CPL check)', () => {
    const s = new Sys().flat32();
    const seen: number[] = [];
    s.cpu.ext = fakeExt('vmx', { intercept: (_c, what, info) => (seen.push(what, info), true) });
    s.cpu.guestMode = true;
    s.cpu.gpr[1] = Msr.EFER;
    s.cpu.gpr[0] = 1;
    s.code([0x0f, 0x30]);
    s.cpu.step();
    expect(seen).toEqual([8, Msr.EFER | 0]);
    expect(s.cpu.efer).toBe(0);
  });
});

describe('RDPMC', () => {
  it('needs CPL 0 or CR4.PCE, checks the counter index, returns the counter', () => {
    const s = new Sys().flat32(3);
    s.cpu.gpr[1] = 0;
    s.code([0x0f, 0x33]);
    s.run(10);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    const t = new Sys().flat32(3);
    t.cpu.cr4 = Cr4.PCE;
    expect(wr(t, Msr.PMC0 + 1, 0xfffffff0n)).toBe(true);
    t.cpu.gpr[1] = 1;
    t.code([0x0f, 0x33, 0x0f, 0x0b]);
    t.run(10);
    expect(t.fault?.vector).toBe(Vector.UD); // reached the UD2
    expect(t.cpu.gpr[0]! >>> 0).toBe(0xfffffff0);
    expect(t.cpu.gpr[2]).toBe(0xffff); // sign-extended to 48 bits
    const i = new Sys().flat32();
    i.cpu.gpr[1] = 2;
    i.code([0x0f, 0x33]);
    i.run(10);
    expect(i.fault).toEqual({ vector: GP, error: 0 });
    const a = new Sys({ model: AMD_ZEN }).flat32();
    a.cpu.gpr[1] = 3;
    a.code([0x0f, 0x33, HLT]);
    expect(a.run(10)).toBe(StopReason.Halt);
    a.cpu.gpr[1] = 0x40000000;
    a.code([0x0f, 0x33]);
    a.run(10);
    expect(a.fault).toEqual({ vector: GP, error: 0 });
  });

  it('CR0.PG state does not matter for MSRs in real mode (CPL 0)', () => {
    const s = new Sys().real();
    expect(s.cpu.cr0 & Cr0.PE).toBe(0);
    s.cpu.gpr[1] = Msr.STAR;
    s.cpu.gpr[0] = 0x1234;
    s.code([0x0f, 0x30, HLT]);
    expect(s.run(10)).toBe(StopReason.Halt);
    expect(s.cpu.starLo).toBe(0x1234);
  });
});
