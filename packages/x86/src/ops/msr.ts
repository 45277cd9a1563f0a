/**
 * Model-specific registers and the time-stamp counter: RDMSR, WRMSR (SDM Vol. 2 "RDMSR",
 * "WRMSR"; Vol. 4 for the MSR layouts; AMD APM Vol. 2 Appendix A), RDTSC, RDTSCP, RDPMC and
 * RDPID.
 *
 * {@link readMsr} and {@link writeMsr} are the whole MSR file; they are exported so VM entry
 * and exit MSR-load lists and firmware loaders use the same checks as WRMSR. A plugged-in
 * virtualization extension sees every access first (`ext.readMsr` / `ext.writeMsr`).
 *
 * The TSC is a function of the instructions retired: TSC = retired + `cpu.tscOffset` (the
 * handlers count the instructions of the running block too, `cpu.retired(d)`), and a WRMSR to
 * IA32_TSC sets the offset (SDM Vol. 3 §18.17). It is exact below 2^53. On a machine with
 * several cores no read returns less than the latest read on any core (`cpu.tscShared`).
 */
import { isCanonical } from '@hvkit/mmu';
import type { Cpu } from '../cpu.js';
import { I_MEM, I_REP, R_INFO, R_RM } from '../decoded.js';
import { Intercept } from '../extension.js';
import { Cpuid7Ecx, Cpuid7Edx, CpuidExt1Edx } from '../model.js';
import { defineHandler, OpMap, Pfx, setOp } from '../optable.js';
import { CodeMode, Cr0, Cr4, Efer, Seg } from '../state.js';

/** MSR numbers (SDM Vol. 4 Table 2-2; AMD APM Vol. 2 Appendix A). */
export const Msr = {
  TSC: 0x10,
  SPEC_CTRL: 0x48,
  PRED_CMD: 0x49,
  ARCH_CAPABILITIES: 0x10a,
  PLATFORM_ID: 0x17,
  APIC_BASE: 0x1b,
  FEATURE_CONTROL: 0x3a,
  BIOS_SIGN_ID: 0x8b,
  PMC0: 0xc1,
  MTRRCAP: 0xfe,
  SYSENTER_CS: 0x174,
  SYSENTER_ESP: 0x175,
  SYSENTER_EIP: 0x176,
  MCG_CAP: 0x179,
  MCG_STATUS: 0x17a,
  PERFEVTSEL0: 0x186,
  MISC_ENABLE: 0x1a0,
  DEBUGCTL: 0x1d9,
  MTRR_PHYSBASE0: 0x200,
  MTRR_FIX64K_00000: 0x250,
  MTRR_FIX16K_80000: 0x258,
  MTRR_FIX16K_A0000: 0x259,
  MTRR_FIX4K_C0000: 0x268,
  MTRR_FIX4K_F8000: 0x26f,
  PAT: 0x277,
  TSC_DEADLINE: 0x6e0,
  MTRR_DEF_TYPE: 0x2ff,
  EFER: 0xc0000080,
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SFMASK: 0xc0000084,
  FS_BASE: 0xc0000100,
  GS_BASE: 0xc0000101,
  KERNEL_GS_BASE: 0xc0000102,
  TSC_AUX: 0xc0000103,
  AMD_PERF_CTL0: 0xc0010000,
  AMD_PERF_CTR0: 0xc0010004,
  /** AMD SYSCFG, the system configuration register (APM Vol. 2 §7.9, Figure 7-14 "SYSCFG Register"). */
  AMD_SYSCFG: 0xc0010010,
  /** AMD NB_CFG, the northbridge configuration register (BKDG for families 10h-16h, PPR for family 17h: "NB_CFG1"). */
  AMD_NB_CFG: 0xc001001f,
} as const;

/**
 * SYSCFG bits (AMD APM Vol. 2 §7.9.1-§7.9.3; family 17h PPR, MSRC001_0010): the MTRR extensions.
 * hvkit's AMD models have these five, all read/write, 0 at RESET (firmware sets them on hardware;
 * the board does not, so MtrrFixDramModEn reads 0 as operating systems expect to find it: Linux
 * warns "SYSCFG[MtrrFixDramModEn] not cleared by BIOS" otherwise). MemEncryptionModEn (bit 23,
 * SME) and the SEV-SNP bits above it are reserved (#GP) since SME is not advertised, as are bits
 * 17:0 (reserved on family 17h). The emulator has no memory types, so the bits change nothing but
 * the RdMem/WrMem fields of the fixed-range MTRRs ({@link fixedMtrrDramMask}).
 */
export const Syscfg = {
  /** Bit 18: the fixed-range MTRRs' RdMem/WrMem bits are in effect. */
  MtrrFixDramEn: 1 << 18,
  /** Bit 19: software may read and write the RdMem/WrMem bits (else they read 0, writes to them are ignored). */
  MtrrFixDramModEn: 1 << 19,
  /** Bit 20: TOP_MEM and the IORRs define DRAM below 4 GiB. */
  MtrrVarDramEn: 1 << 20,
  /** Bit 21: TOP_MEM2 defines DRAM above 4 GiB. */
  MtrrTom2En: 1 << 21,
  /** Bit 22: memory between 4 GiB and TOP_MEM2 is write-back. */
  Tom2ForceMemTypeWB: 1 << 22,
} as const;

const SYSCFG_WRITABLE = Syscfg.MtrrFixDramEn | Syscfg.MtrrFixDramModEn | Syscfg.MtrrVarDramEn | Syscfg.MtrrTom2En | Syscfg.Tom2ForceMemTypeWB;

/**
 * NB_CFG high-half bits (family 10h-16h BKDG and family 17h PPR, MSRC001_001F "NB_CFG1"): both
 * read/write, 0 at RESET; the other bits are reserved (#GP). EnableCf8ExtCfg (bit 46) lets
 * configuration mechanism 1 reach extended registers through CONFIG_ADDRESS[27:24]; hvkit's
 * host bridge is an i440FX with 256-byte configuration spaces, so the bit is kept and has no
 * effect (software that probes finds offset 100h aliasing offset 0, i.e. no extended space).
 * InitApicIdCpuIdLo (bit 54) picks the layout in which the core number is the low part of the
 * initial APIC ID, the layout hvkit's APIC IDs already have.
 */
export const NbCfgHi = {
  /** Bit 46 (high half bit 14). */
  EnableCf8ExtCfg: 1 << 14,
  /** Bit 54 (high half bit 22). */
  InitApicIdCpuIdLo: 1 << 22,
} as const;

const NB_CFG_HI_WRITABLE = NbCfgHi.EnableCf8ExtCfg | NbCfgHi.InitApicIdCpuIdLo;

/**
 * The RdMem/WrMem bits of every type field of a fixed-range MTRR (bits 4:3 of each byte; APM Vol.
 * 2 §7.9.1 "Extended Fixed-Range MTRR Type-Field Encodings"), on AMD models.
 */
const FIXED_MTRR_DRAM_BITS = 0x1818_1818;

/** The fixed-range MTRR bits software can see and set now: RdMem/WrMem only on AMD with SYSCFG.MtrrFixDramModEn = 1. */
function fixedMtrrDramMask(cpu: Cpu): number {
  return cpu.isAmd && (msrValueLo(cpu, Msr.AMD_SYSCFG) & Syscfg.MtrrFixDramModEn) !== 0 ? FIXED_MTRR_DRAM_BITS : 0;
}

/** IA32_MISC_ENABLE bits (SDM Vol. 4 Table 2-2). */
export const MiscEnable = {
  FastStrings: 1 << 0,
  /** Performance monitoring available (read-only). */
  PerfMon: 1 << 7,
  /** Branch trace storage unavailable (read-only). */
  BtsUnavailable: 1 << 11,
  /** PEBS unavailable (read-only). */
  PebsUnavailable: 1 << 12,
  /** MONITOR/MWAIT enabled: when clear, MONITOR/MWAIT are #UD and CPUID.01H:ECX.MONITOR reads 0. */
  Monitor: 1 << 18,
  /** Limit CPUID maxval: CPUID.00H:EAX reads 2. */
  LimitCpuid: 1 << 22,
  /** XD bit disable (bit 34, so bit 2 of the high half): hides NX and makes EFER.NXE reserved. */
  XdDisableHi: 1 << 2,
} as const;

/**
 * IA32_ARCH_CAPABILITIES (SDM Vol. 4 Table 2-2; Intel's "Affected Processors" guidance): the
 * core executes one instruction at a time and never speculates, so it is subject to none of the
 * speculative-execution attacks the bits enumerate: RDCL_NO (0), IBRS_ALL (1),
 * SKIP_L1DFL_VMENTRY (3), SSB_NO (4), MDS_NO (5), IF_PSCHANGE_MC_NO (6), TAA_NO (8),
 * SBDR_SSDP_NO (13), FBSDP_NO (14), PSDP_NO (15), BHI_NO (20), PBRSB_NO (24), GDS_NO (26),
 * RFDS_NO (27). Operating systems then skip the mitigations (Linux: no page-table isolation, no
 * retpolines, no buffer clearing) and do not warn about them.
 */
export const ARCH_CAPABILITIES_LO =
  (1 << 0) | (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 13) | (1 << 14) | (1 << 15) | (1 << 20) | (1 << 24) | (1 << 26) | (1 << 27);

/** The IA32_SPEC_CTRL bits this model has (SDM Vol. 4 Table 2-2): IBRS, STIBP, SSBD as enumerated. */
function specCtrlMask(cpu: Cpu): number {
  const edx = cpu.model.leaf7Edx ?? 0;
  return ((edx & Cpuid7Edx.SPEC_CTRL) !== 0 ? 1 : 0) | ((edx & Cpuid7Edx.STIBP) !== 0 ? 2 : 0) | ((edx & Cpuid7Edx.SSBD) !== 0 ? 4 : 0);
}

/** Microcode revision reported in IA32_BIOS_SIGN_ID[63:32] (Intel) / PATCH_LEVEL (AMD) by a model that names none. */
export const MICROCODE_REVISION = 1;

const MISC_RO = MiscEnable.PerfMon | MiscEnable.BtsUnavailable | MiscEnable.PebsUnavailable;
const MISC_RW_LO = MiscEnable.FastStrings | (1 << 3) | (1 << 16) | MiscEnable.Monitor | MiscEnable.LimitCpuid | (1 << 23);

/** Number of general-purpose performance counters (Intel: IA32_PMC0-1, AMD: PERF_CTR0-3). */
export function perfCounterCount(cpu: Cpu): number {
  return cpu.model.vendor === 'intel' ? 2 : 4;
}

/** The EFER bits WRMSR may set on this CPU now (SDM Vol. 3 §2.2.1; AMD APM Vol. 2 §3.1.7). */
export function eferWritableMask(cpu: Cpu): number {
  const m = cpu.model;
  let mask = Efer.LMA; // accepted and ignored: LMA is kept by the processor
  if ((m.ext1Edx & CpuidExt1Edx.SYSCALL) !== 0) mask |= Efer.SCE;
  if ((m.ext1Edx & CpuidExt1Edx.LM) !== 0) mask |= Efer.LME;
  if ((m.ext1Edx & CpuidExt1Edx.NX) !== 0 && !(m.vendor === 'intel' && (cpu.miscEnableHi & MiscEnable.XdDisableHi) !== 0)) mask |= Efer.NXE;
  if (cpu.ext !== null && cpu.ext.kind === 'svm') mask |= Efer.SVME;
  return mask;
}

/** Whether `t` is a valid memory type for an MTRR (UC, WC, WT, WP, WB), or with `pat` also UC- (SDM Vol. 3 §12.11, §12.12). */
function isMemType(t: number, pat: boolean): boolean {
  return t === 0 || t === 1 || t === 4 || t === 5 || t === 6 || (pat && t === 7);
}

function allBytesMemTypes(lo: number, hi: number, pat: boolean): boolean {
  for (let k = 0; k < 4; k++) {
    if (!isMemType((lo >>> (8 * k)) & 0xff, pat) || !isMemType((hi >>> (8 * k)) & 0xff, pat)) return false;
  }
  return true;
}

/** High-half mask of the physical-address bits below MAXPHYADDR. */
function physHiMask(cpu: Cpu): number {
  const bits = cpu.model.physAddrBits;
  return bits >= 52 ? 0xfffff : (1 << (bits - 32)) - 1;
}

/**
 * Reads the TSC as of `retired` instructions (the handler's `cpu.retired(d)`; `cpu.icount`
 * between instructions): returns the low half, the high half in `cpu.hi`.
 */
export function readTsc(cpu: Cpu, retired: number = cpu.icount): number {
  const shared = cpu.tscShared;
  if (shared !== null) {
    if (retired < shared[0]!) retired = shared[0]!;
    else shared[0] = retired;
  }
  const t = retired + cpu.tscOffset;
  const hi = Math.floor(t / 4294967296);
  cpu.hi = hi | 0;
  return (t - hi * 4294967296) | 0;
}

/**
 * In guest mode, adds the TSC offset (cpu.tscOffsetLo/Hi, 64-bit with carry) to a TSC value
 * (lo, high half in cpu.hi) for RDTSC, RDTSCP and RDMSR IA32_TSC (SDM §25.3); returns the low
 * half, the high half in cpu.hi.
 */
function guestTsc(cpu: Cpu, lo: number): number {
  const sum = (lo >>> 0) + (cpu.tscOffsetLo >>> 0);
  cpu.hi = (cpu.hi + cpu.tscOffsetHi + (sum > 0xffff_ffff ? 1 : 0)) | 0;
  return sum | 0;
}

function isMtrr(msr: number): boolean {
  return (
    (msr >= Msr.MTRR_PHYSBASE0 && msr < Msr.MTRR_PHYSBASE0 + 16) ||
    msr === Msr.MTRR_FIX64K_00000 ||
    msr === Msr.MTRR_FIX16K_80000 ||
    msr === Msr.MTRR_FIX16K_A0000 ||
    (msr >= Msr.MTRR_FIX4K_C0000 && msr <= Msr.MTRR_FIX4K_F8000) ||
    msr === Msr.MTRR_DEF_TYPE
  );
}

function setResult(cpu: Cpu, lo: number, hi: number): true {
  cpu.msrLo = lo | 0;
  cpu.msrHi = hi | 0;
  return true;
}

/**
 * Reads MSR `msr` into `cpu.msrLo` / `cpu.msrHi`. Returns false for an MSR this CPU does not
 * have (RDMSR then raises #GP(0)). `retired` dates a TSC read (see {@link readTsc}).
 */
export function readMsr(cpu: Cpu, msr: number, retired: number = cpu.icount): boolean {
  msr >>>= 0;
  if (cpu.ext !== null && cpu.ext.readMsr(cpu, msr)) return true;
  const intel = cpu.model.vendor === 'intel';
  switch (msr) {
    case Msr.TSC: {
      const lo = readTsc(cpu, retired);
      return setResult(cpu, lo, cpu.hi);
    }
    case Msr.PLATFORM_ID:
      return intel && setResult(cpu, 0, 0);
    case Msr.APIC_BASE:
      if (cpu.apic !== null) return setResult(cpu, cpu.apic.baseLo, cpu.apic.baseHi);
      return setResult(cpu, cpu.apicBaseLo, cpu.apicBaseHi);
    case Msr.TSC_DEADLINE: {
      if (!hasTscDeadline(cpu)) return false;
      const t = cpu.apic!.readTscDeadline();
      const hi = Math.floor(t / 4294967296);
      return setResult(cpu, t - hi * 4294967296, hi);
    }
    case Msr.FEATURE_CONTROL:
      return intel && setResult(cpu, cpu.featureControlLo, 0);
    case Msr.BIOS_SIGN_ID:
      return intel ? setResult(cpu, 0, cpu.model.microcodeRevision ?? MICROCODE_REVISION) : setResult(cpu, cpu.model.microcodeRevision ?? MICROCODE_REVISION, 0);
    case Msr.MTRRCAP:
      // VCNT = 8, FIX = 1, WC = 1 (SDM Vol. 3 §12.11.1).
      return setResult(cpu, 8 | (1 << 8) | (1 << 10), 0);
    case Msr.SYSENTER_CS:
      return setResult(cpu, cpu.sysenterCs, 0);
    case Msr.SYSENTER_ESP:
      return setResult(cpu, cpu.sysenterEspLo, cpu.sysenterEspHi);
    case Msr.SYSENTER_EIP:
      return setResult(cpu, cpu.sysenterEipLo, cpu.sysenterEipHi);
    case Msr.MCG_CAP:
    case Msr.MCG_STATUS:
      return setResult(cpu, 0, 0);
    case Msr.MISC_ENABLE:
      return intel && setResult(cpu, cpu.miscEnableLo | MISC_RO, cpu.miscEnableHi);
    case Msr.DEBUGCTL:
      return setResult(cpu, 0, 0);
    case Msr.PAT:
      return setResult(cpu, cpu.patLo, cpu.patHi);
    case Msr.EFER:
      return setResult(cpu, cpu.efer, 0);
    case Msr.STAR:
      return setResult(cpu, cpu.starLo, cpu.starHi);
    case Msr.LSTAR:
      return setResult(cpu, cpu.lstarLo, cpu.lstarHi);
    case Msr.CSTAR:
      return setResult(cpu, cpu.cstarLo, cpu.cstarHi);
    case Msr.SFMASK:
      return setResult(cpu, cpu.sfmask, 0);
    case Msr.FS_BASE:
      return setResult(cpu, cpu.segBase[Seg.FS]!, cpu.segBaseHi[Seg.FS]!);
    case Msr.GS_BASE:
      return setResult(cpu, cpu.segBase[Seg.GS]!, cpu.segBaseHi[Seg.GS]!);
    case Msr.KERNEL_GS_BASE:
      return setResult(cpu, cpu.kernelGsBaseLo, cpu.kernelGsBaseHi);
    case Msr.TSC_AUX:
      return hasTscAux(cpu) && setResult(cpu, cpu.tscAux, 0);
    case Msr.SPEC_CTRL:
      return specCtrlMask(cpu) !== 0 && setResult(cpu, cpu.specCtrl, 0);
    case Msr.ARCH_CAPABILITIES:
      return ((cpu.model.leaf7Edx ?? 0) & Cpuid7Edx.ARCH_CAPABILITIES) !== 0 && setResult(cpu, ARCH_CAPABILITIES_LO, 0);
    case Msr.AMD_SYSCFG:
    case Msr.AMD_NB_CFG:
      return !intel && setResult(cpu, msrValueLo(cpu, msr), msrValueHi(cpu, msr));
    default:
      break;
  }
  if (msr >= X2APIC_FIRST && msr <= X2APIC_LAST) {
    // x2APIC registers (SDM Vol. 3 §11.12.1): the APIC raises #GP unless it is in x2APIC mode.
    const apic = cpu.apic;
    return apic !== null && apic.readMsr(msr) && setResult(cpu, apic.msrLo, apic.msrHi);
  }
  if (isMtrr(msr)) {
    const v = cpu.mtrrs.get(msr);
    if (v === undefined) return setResult(cpu, 0, 0);
    if (!isFixedMtrr(msr)) return setResult(cpu, v[0], v[1]);
    // AMD: RdMem/WrMem read 0 unless SYSCFG.MtrrFixDramModEn = 1 (APM Vol. 2 §7.9.1).
    const keep = ~FIXED_MTRR_DRAM_BITS | fixedMtrrDramMask(cpu);
    return setResult(cpu, v[0] & keep, v[1] & keep);
  }
  const slot = perfSlot(cpu, msr);
  if (slot >= 0) return setResult(cpu, cpu.perfMsrs[slot]!, cpu.perfMsrs[slot + 1]!);
  return false;
}

/**
 * The low half of an MSR kept in `cpu.mtrrs` (the MTRRs and AMD's SYSCFG and NB_CFG: MSRs that
 * INIT leaves alone, RESET clears to 0 and snapshots keep), 0 when never written.
 */
function msrValueLo(cpu: Cpu, msr: number): number {
  const v = cpu.mtrrs.get(msr);
  return v === undefined ? 0 : v[0];
}

function msrValueHi(cpu: Cpu, msr: number): number {
  const v = cpu.mtrrs.get(msr);
  return v === undefined ? 0 : v[1];
}

function isFixedMtrr(msr: number): boolean {
  return msr === Msr.MTRR_FIX64K_00000 || msr === Msr.MTRR_FIX16K_80000 || msr === Msr.MTRR_FIX16K_A0000 || (msr >= Msr.MTRR_FIX4K_C0000 && msr <= Msr.MTRR_FIX4K_F8000);
}

/** Index in `cpu.perfMsrs` of a performance-monitoring MSR, or -1. */
function perfSlot(cpu: Cpu, msr: number): number {
  const n = perfCounterCount(cpu);
  if (cpu.model.vendor === 'intel') {
    if (msr >= Msr.PERFEVTSEL0 && msr < Msr.PERFEVTSEL0 + n) return 2 * (msr - Msr.PERFEVTSEL0);
    if (msr >= Msr.PMC0 && msr < Msr.PMC0 + n) return 8 + 2 * (msr - Msr.PMC0);
  } else {
    if (msr >= Msr.AMD_PERF_CTL0 && msr < Msr.AMD_PERF_CTL0 + n) return 2 * (msr - Msr.AMD_PERF_CTL0);
    if (msr >= Msr.AMD_PERF_CTR0 && msr < Msr.AMD_PERF_CTR0 + n) return 8 + 2 * (msr - Msr.AMD_PERF_CTR0);
  }
  return -1;
}

/** The x2APIC MSR range (SDM Vol. 3 §11.12.1.2, Table 11-6). */
const X2APIC_FIRST = 0x800;
const X2APIC_LAST = 0x8ff;

/**
 * IA32_TSC_DEADLINE exists when CPUID.01H:ECX.TSC_Deadline[24] is reported (SDM Vol. 3
 * §11.5.4.1): on Intel models with a local APIC (see `ops/cpuid.ts`).
 */
export function hasTscDeadline(cpu: Cpu): boolean {
  return cpu.apic !== null && !cpu.isAmd;
}

function hasTscAux(cpu: Cpu): boolean {
  return (cpu.model.ext1Edx & CpuidExt1Edx.RDTSCP) !== 0 || (cpu.model.leaf7Ecx & Cpuid7Ecx.RDPID) !== 0;
}

/** Canonical with respect to the processor's widest linear address (MSR base registers, SDM Vol. 2 "WRMSR"). */
function msrCanonical(cpu: Cpu, hi: number): boolean {
  return isCanonical(hi, cpu.model.linearAddrBits);
}

function storeMtrr(cpu: Cpu, msr: number, lo: number, hi: number): void {
  const v = cpu.mtrrs.get(msr);
  if (v === undefined) cpu.mtrrs.set(msr, [lo | 0, hi | 0]);
  else {
    v[0] = lo | 0;
    v[1] = hi | 0;
  }
}

/**
 * Writes `hi:lo` to MSR `msr`. Returns false when the MSR does not exist, is read-only, or the
 * value sets a reserved bit or breaks a rule (WRMSR then raises #GP(0) and nothing changes).
 */
export function writeMsr(cpu: Cpu, msr: number, lo: number, hi: number, retired: number = cpu.icount): boolean {
  msr >>>= 0;
  lo |= 0;
  hi |= 0;
  if (cpu.ext !== null && cpu.ext.writeMsr(cpu, msr, lo, hi)) return true;
  const intel = cpu.model.vendor === 'intel';
  switch (msr) {
    case Msr.TSC:
      cpu.tscOffset = (hi >>> 0) * 4294967296 + (lo >>> 0) - retired;
      return true;
    case Msr.APIC_BASE: {
      const apic = cpu.apic;
      if (apic !== null) {
        // The APIC checks reserved bits and mode transitions (SDM Vol. 3 §11.4.4, §11.12.5).
        if (!apic.writeBase(lo, hi)) return false;
        cpu.apicBaseLo = apic.baseLo;
        cpu.apicBaseHi = apic.baseHi;
        cpu.flushAllTlbBanks(); // the xAPIC page moved, appeared or went away
        if (cpu.onApicBaseWrite !== null) cpu.onApicBaseWrite(cpu.apicBaseLo, cpu.apicBaseHi);
        return true;
      }
      // Bits 7:0, 9 and 10 (x2APIC, not advertised) and the address bits above MAXPHYADDR are
      // reserved; BSP (bit 8) is read-only (SDM Vol. 3 §11.4.4, Figure 11-5).
      if ((lo & 0x6ff) !== 0 || (hi & ~physHiMask(cpu)) !== 0) return false;
      cpu.apicBaseLo = (lo & ~0x100) | (cpu.apicBaseLo & 0x100);
      cpu.apicBaseHi = hi;
      if (cpu.onApicBaseWrite !== null) cpu.onApicBaseWrite(cpu.apicBaseLo, cpu.apicBaseHi);
      return true;
    }
    case Msr.TSC_DEADLINE:
      // SDM Vol. 3 §11.5.4.1: writes arm (non-zero) or disarm (zero) the timer in TSC-deadline mode.
      if (!hasTscDeadline(cpu)) return false;
      cpu.apic!.writeTscDeadline((hi >>> 0) * 4294967296 + (lo >>> 0));
      return true;
    case Msr.FEATURE_CONTROL: {
      // Lock (bit 0) makes the MSR read-only until reset; bit 2 enables VMXON outside SMX and
      // exists only with VMX (SDM Vol. 3 §24.7).
      if (!intel || (cpu.featureControlLo & 1) !== 0 || hi !== 0) return false;
      const allowed = 1 | (cpu.ext !== null && cpu.ext.kind === 'vmx' ? 4 : 0);
      if ((lo & ~allowed) !== 0) return false;
      cpu.featureControlLo = lo;
      return true;
    }
    case Msr.BIOS_SIGN_ID:
      // Intel: software writes 0 before CPUID to read the revision; the value is not kept.
      return intel;
    case Msr.SYSENTER_CS:
      cpu.sysenterCs = lo;
      return true;
    case Msr.SYSENTER_ESP:
    case Msr.SYSENTER_EIP: {
      // Intel 64: canonical check; AMD keeps only the low 32 bits (APM Vol. 2 §6.1.1).
      if (intel && !msrCanonical(cpu, hi)) return false;
      const h = intel ? hi : 0;
      if (msr === Msr.SYSENTER_ESP) {
        cpu.sysenterEspLo = lo;
        cpu.sysenterEspHi = h;
      } else {
        cpu.sysenterEipLo = lo;
        cpu.sysenterEipHi = h;
      }
      return true;
    }
    case Msr.MCG_STATUS:
      return lo === 0 && hi === 0;
    case Msr.MISC_ENABLE: {
      if (!intel) return false;
      const ro = MISC_RO;
      if ((lo & ~(MISC_RW_LO | ro)) !== 0 || (hi & ~MiscEnable.XdDisableHi) !== 0) return false;
      cpu.miscEnableLo = lo & MISC_RW_LO;
      cpu.miscEnableHi = hi;
      if ((hi & MiscEnable.XdDisableHi) !== 0 && (cpu.efer & Efer.NXE) !== 0) {
        cpu.efer &= ~Efer.NXE;
        cpu.updateMode();
      }
      return true;
    }
    case Msr.DEBUGCTL:
      // LBR, BTF and the rest are not implemented: only 0 is accepted.
      return lo === 0 && hi === 0;
    case Msr.PAT:
      if (!allBytesMemTypes(lo, hi, true)) return false;
      cpu.patLo = lo;
      cpu.patHi = hi;
      return true;
    case Msr.EFER:
      return writeEfer(cpu, lo, hi);
    case Msr.STAR:
      cpu.starLo = lo;
      cpu.starHi = hi;
      return true;
    case Msr.LSTAR:
    case Msr.CSTAR:
      if (!msrCanonical(cpu, hi)) return false;
      if (msr === Msr.LSTAR) {
        cpu.lstarLo = lo;
        cpu.lstarHi = hi;
      } else {
        cpu.cstarLo = lo;
        cpu.cstarHi = hi;
      }
      return true;
    case Msr.SFMASK:
      // Bits 63:32 are reserved and ignored (as Bochs and hardware do).
      cpu.sfmask = lo;
      return true;
    case Msr.FS_BASE:
    case Msr.GS_BASE:
      if (!msrCanonical(cpu, hi)) return false;
      cpu.segBase[msr === Msr.FS_BASE ? Seg.FS : Seg.GS] = lo;
      cpu.segBaseHi[msr === Msr.FS_BASE ? Seg.FS : Seg.GS] = hi;
      return true;
    case Msr.KERNEL_GS_BASE:
      if (!msrCanonical(cpu, hi)) return false;
      cpu.kernelGsBaseLo = lo;
      cpu.kernelGsBaseHi = hi;
      return true;
    case Msr.TSC_AUX:
      // Intel: bits 63:32 reserved (#GP); AMD drops them.
      if (!hasTscAux(cpu) || (intel && hi !== 0)) return false;
      cpu.tscAux = lo;
      return true;
    case Msr.SPEC_CTRL: {
      // Only the enumerated controls; the rest is reserved (#GP).
      const mask = specCtrlMask(cpu);
      if (mask === 0 || (lo & ~mask) !== 0 || hi !== 0) return false;
      cpu.specCtrl = lo;
      return true;
    }
    case Msr.PRED_CMD:
      // Write-only: bit 0 (IBPB) is a barrier, a no-op on a core with no branch predictor state.
      return (specCtrlMask(cpu) & 1) !== 0 && (lo & ~1) === 0 && hi === 0;
    case Msr.AMD_SYSCFG:
      // AMD only; reserved bits #GP (see Syscfg).
      if (intel || (lo & ~SYSCFG_WRITABLE) !== 0 || hi !== 0) return false;
      storeMtrr(cpu, msr, lo, 0);
      return true;
    case Msr.AMD_NB_CFG:
      // AMD only; reserved bits #GP (see NbCfgHi).
      if (intel || lo !== 0 || (hi & ~NB_CFG_HI_WRITABLE) !== 0) return false;
      storeMtrr(cpu, msr, 0, hi);
      return true;
    default:
      break;
  }
  if (msr >= X2APIC_FIRST && msr <= X2APIC_LAST) return cpu.apic !== null && cpu.apic.writeMsr(msr, lo, hi);
  if (isMtrr(msr)) return writeMtrr(cpu, msr, lo, hi);
  const slot = perfSlot(cpu, msr);
  if (slot >= 0) {
    if (slot < 8) {
      // Event selects: Intel bits 63:32 reserved.
      if (intel && hi !== 0) return false;
      cpu.perfMsrs[slot] = lo;
      cpu.perfMsrs[slot + 1] = hi;
    } else {
      // Counters are 48 bits wide; Intel's legacy IA32_PMCx write sign-extends bit 31.
      cpu.perfMsrs[slot] = lo;
      cpu.perfMsrs[slot + 1] = (intel ? lo >> 31 : hi) & 0xffff;
    }
    return true;
  }
  return false;
}

/** MTRR writes with the reserved-bit and memory-type checks of SDM Vol. 3 §12.11.2-12.11.3. */
function writeMtrr(cpu: Cpu, msr: number, lo: number, hi: number): boolean {
  const hiRsvd = ~physHiMask(cpu);
  if (msr === Msr.MTRR_DEF_TYPE) {
    if ((lo & ~0xcff) !== 0 || hi !== 0 || !isMemType(lo & 0xff, false)) return false;
  } else if (msr >= Msr.MTRR_PHYSBASE0 && msr < Msr.MTRR_PHYSBASE0 + 16) {
    if ((msr & 1) === 0) {
      // PHYSBASEn: type in 7:0, 11:8 reserved.
      if ((lo & 0xf00) !== 0 || (hi & hiRsvd) !== 0 || !isMemType(lo & 0xff, false)) return false;
    } else if ((lo & 0x7ff) !== 0 || (hi & hiRsvd) !== 0) {
      // PHYSMASKn: valid in bit 11, 10:0 reserved.
      return false;
    }
  } else {
    // Fixed ranges. AMD: the RdMem/WrMem bits (4:3 of each type field) are written only with
    // SYSCFG.MtrrFixDramModEn = 1; otherwise writes to them are ignored (APM Vol. 2 §7.9.1).
    if (cpu.isAmd) {
      const mod = fixedMtrrDramMask(cpu);
      const old = cpu.mtrrs.get(msr);
      const oldLo = old === undefined ? 0 : old[0];
      const oldHi = old === undefined ? 0 : old[1];
      const typesLo = lo & ~FIXED_MTRR_DRAM_BITS;
      const typesHi = hi & ~FIXED_MTRR_DRAM_BITS;
      if (!allBytesMemTypes(typesLo, typesHi, false)) return false;
      const dram = mod !== 0 ? FIXED_MTRR_DRAM_BITS : 0;
      storeMtrr(cpu, msr, typesLo | (lo & dram) | (oldLo & FIXED_MTRR_DRAM_BITS & ~dram), typesHi | (hi & dram) | (oldHi & FIXED_MTRR_DRAM_BITS & ~dram));
      return true;
    }
    if (!allBytesMemTypes(lo, hi, false)) return false;
  }
  storeMtrr(cpu, msr, lo, hi);
  return true;
}

/**
 * IA32_EFER (SDM Vol. 3 §2.2.1, §9.8.5): reserved bits #GP; LME cannot change while CR0.PG = 1;
 * LMA is the processor's and ignores the written value; SVME only when an SVM extension allows it.
 */
export function writeEfer(cpu: Cpu, lo: number, hi: number): boolean {
  if (hi !== 0 || (lo & ~eferWritableMask(cpu)) !== 0) return false;
  const old = cpu.efer;
  if (((lo ^ old) & Efer.LME) !== 0 && (cpu.cr0 & Cr0.PG) !== 0) return false;
  if ((lo & Efer.SVME) !== 0 && (old & Efer.SVME) === 0 && (cpu.ext === null || !cpu.ext.allowsEnable(cpu))) return false;
  cpu.efer = (lo & ~Efer.LMA) | (old & Efer.LMA);
  if (cpu.efer !== old) cpu.updateMode();
  return true;
}

// ---- instructions ---------------------------------------------------------------------------

/** RDMSR (0F 32): CPL 0 (#GP(0) otherwise, including virtual-8086 mode); unknown MSR #GP(0). */
function rdmsr(cpu: Cpu, d: number): void {
  if (cpu.cpl !== 0) cpu.gp(0);
  const msr = cpu.gpr[1]!;
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Rdmsr, msr, 0)) return;
  if (!readMsr(cpu, msr, cpu.retired(d))) cpu.gp(0);
  if (cpu.guestMode && msr === Msr.TSC) {
    cpu.hi = cpu.msrHi;
    cpu.msrLo = guestTsc(cpu, cpu.msrLo);
    cpu.msrHi = cpu.hi;
  }
  cpu.setReg32(0, cpu.msrLo);
  cpu.setReg32(2, cpu.msrHi);
}

/** WRMSR (0F 30): EDX:EAX to the MSR in ECX; CPL 0; #GP(0) for unknown MSRs or invalid values. */
function wrmsr(cpu: Cpu, d: number): void {
  if (cpu.cpl !== 0) cpu.gp(0);
  const msr = cpu.gpr[1]!;
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Wrmsr, msr, 0)) return;
  if (!writeMsr(cpu, msr, cpu.gpr[0]!, cpu.gpr[2]!, cpu.retired(d))) cpu.gp(0);
  cpu.exitBlock = true;
}

/** RDTSC (0F 31): #GP(0) when CR4.TSD = 1 and CPL > 0 (SDM Vol. 2 "RDTSC"). */
function rdtsc(cpu: Cpu, d: number): void {
  if ((cpu.cr4 & Cr4.TSD) !== 0 && cpu.cpl !== 0) cpu.gp(0);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Rdtsc, 0, 0)) return;
  let lo = readTsc(cpu, cpu.retired(d));
  if (cpu.guestMode) lo = guestTsc(cpu, lo);
  cpu.setReg32(2, cpu.hi);
  cpu.setReg32(0, lo);
}

/** RDTSCP (0F 01 F9): RDTSC plus ECX = IA32_TSC_AUX[31:0]. */
function rdtscp(cpu: Cpu, d: number): void {
  if ((cpu.model.ext1Edx & CpuidExt1Edx.RDTSCP) === 0) cpu.ud();
  if ((cpu.cr4 & Cr4.TSD) !== 0 && cpu.cpl !== 0) cpu.gp(0);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Rdtscp, 0, 0)) return;
  let lo = readTsc(cpu, cpu.retired(d));
  if (cpu.guestMode) lo = guestTsc(cpu, lo);
  cpu.setReg32(2, cpu.hi);
  cpu.setReg32(0, lo);
  cpu.setReg32(1, cpu.tscAux);
}

/**
 * RDPMC (0F 33): allowed at CPL 0 or when CR4.PCE = 1; ECX selects a general-purpose counter
 * (Intel: 0-1, AMD: 0-3; no fixed-function counters, so ECX[30] = 1 is invalid): #GP(0)
 * otherwise. The counters count nothing (no events are modelled) but keep what WRMSR wrote.
 */
function rdpmc(cpu: Cpu, d: number): void {
  if ((cpu.cr4 & Cr4.PCE) === 0 && cpu.cpl !== 0) cpu.gp(0);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Rdpmc, cpu.gpr[1]!, 0)) return;
  const index = cpu.gpr[1]! >>> 0;
  if (index >= perfCounterCount(cpu)) cpu.gp(0);
  cpu.setReg32(0, cpu.perfMsrs[8 + 2 * index]!);
  cpu.setReg32(2, cpu.perfMsrs[9 + 2 * index]!);
}

/** RDPID (F3 0F C7 /7, register form): IA32_TSC_AUX into r32, or r64 (zero-extended) in 64-bit mode. */
function rdpid(cpu: Cpu, d: number): void {
  const info = cpu.rec[d + R_INFO]!;
  if ((info & I_MEM) !== 0 || (info & I_REP) === 0 || (cpu.model.leaf7Ecx & Cpuid7Ecx.RDPID) === 0) cpu.ud();
  const r = cpu.rec[d + R_RM]!;
  if (cpu.mode === CodeMode.Bits64) cpu.setReg64(r, cpu.tscAux, 0);
  else cpu.setReg32(r, cpu.tscAux);
}

export function installMsr(): void {
  setOp(OpMap.Two, 0x32, defineHandler('rdmsr', rdmsr));
  setOp(OpMap.Two, 0x30, defineHandler('wrmsr', wrmsr));
  setOp(OpMap.Two, 0x31, defineHandler('rdtsc', rdtsc));
  setOp(OpMap.Two, 0x33, defineHandler('rdpmc', rdpmc));
  setOp(OpMap.Two, 0x01, defineHandler('rdtscp', rdtscp), { reg: 7, mod3: true, rm: 1 });
  // F3 0F C7 /7: RDPID (register form). The no-prefix /7 register form (RDSEED) and the memory
  // forms (VMPTRST) stay with their owners.
  setOp(OpMap.Two, 0xc7, defineHandler('rdpid', rdpid), { prefix: Pfx.F3, reg: 7 });
}
