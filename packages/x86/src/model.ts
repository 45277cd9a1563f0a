/**
 * CPU models: what CPUID reports (SDM Vol. 2 "CPUID"; AMD APM Vol. 3 Appendix E) and the
 * vendor-specific behaviours the core follows (undefined flags, decoding quirks).
 *
 * A model advertises exactly what the core implements. The `vmx` and `svm` bits are never in
 * a model: a plugged-in virtualization extension adds them (see `VirtualizationExtension.cpuid`).
 */

export type Vendor = 'intel' | 'amd';

/** CPUID.01H:ECX bits. */
export const Cpuid1Ecx = {
  SSE3: 1 << 0,
  PCLMULQDQ: 1 << 1,
  MONITOR: 1 << 3,
  VMX: 1 << 5,
  SSSE3: 1 << 9,
  CX16: 1 << 13,
  PCID: 1 << 17,
  SSE41: 1 << 19,
  SSE42: 1 << 20,
  X2APIC: 1 << 21,
  MOVBE: 1 << 22,
  POPCNT: 1 << 23,
  TSC_DEADLINE: 1 << 24,
  XSAVE: 1 << 26,
  OSXSAVE: 1 << 27,
  AVX: 1 << 28,
  RDRAND: 1 << 30,
  HYPERVISOR: 1 << 31,
} as const;

/** CPUID.01H:EDX bits. */
export const Cpuid1Edx = {
  FPU: 1 << 0,
  VME: 1 << 1,
  DE: 1 << 2,
  PSE: 1 << 3,
  TSC: 1 << 4,
  MSR: 1 << 5,
  PAE: 1 << 6,
  MCE: 1 << 7,
  CX8: 1 << 8,
  APIC: 1 << 9,
  SEP: 1 << 11,
  MTRR: 1 << 12,
  PGE: 1 << 13,
  MCA: 1 << 14,
  CMOV: 1 << 15,
  PAT: 1 << 16,
  PSE36: 1 << 17,
  CLFSH: 1 << 19,
  MMX: 1 << 23,
  FXSR: 1 << 24,
  SSE: 1 << 25,
  SSE2: 1 << 26,
  HTT: 1 << 28,
} as const;

/** CPUID.(EAX=07H,ECX=0):EBX bits. */
export const Cpuid7Ebx = {
  FSGSBASE: 1 << 0,
  BMI1: 1 << 3,
  BMI2: 1 << 8,
  SMEP: 1 << 7,
  ERMS: 1 << 9,
  INVPCID: 1 << 10,
  RDSEED: 1 << 18,
  ADX: 1 << 19,
  SMAP: 1 << 20,
  CLFLUSHOPT: 1 << 23,
} as const;

/** CPUID.(EAX=07H,ECX=0):ECX bits. */
/** CPUID.(EAX=07H,ECX=0):EDX bits (SDM Vol. 2 Table 3-8). */
export const Cpuid7Edx = {
  /** IA32_SPEC_CTRL.IBRS and IA32_PRED_CMD.IBPB. */
  SPEC_CTRL: 1 << 26,
  /** IA32_SPEC_CTRL.STIBP. */
  STIBP: 1 << 27,
  /** IA32_ARCH_CAPABILITIES. */
  ARCH_CAPABILITIES: 1 << 29,
  /** IA32_SPEC_CTRL.SSBD. */
  SSBD: 1 << 31,
} as const;

export const Cpuid7Ecx = {
  UMIP: 1 << 2,
  LA57: 1 << 16,
  RDPID: 1 << 22,
} as const;

/** CPUID.80000001H:ECX bits. */
export const CpuidExt1Ecx = {
  LAHF_LM: 1 << 0,
  SVM: 1 << 2,
  /** LOCK MOV CR0 means MOV CR8 (AMD APM Vol. 3 "MOV CRn"). */
  AltMovCr8: 1 << 4,
  ABM: 1 << 5, // LZCNT
  PREFETCHW: 1 << 8,
} as const;

/** CPUID.80000001H:EDX bits. */
export const CpuidExt1Edx = {
  SYSCALL: 1 << 11,
  /** AMD: the MMX extensions (SSE's MMX-register integer instructions, PREFETCHNTA.., SFENCE, MOVNTQ; APM Vol. 3 Appendix E.4.2). */
  MMXEXT: 1 << 22,
  NX: 1 << 20,
  PAGE1GB: 1 << 26,
  RDTSCP: 1 << 27,
  LM: 1 << 29,
} as const;

/**
 * CPUID.80000008H:EBX bits that say the processor is not subject to a speculative-execution
 * attack (AMD APM Vol. 3 Appendix E.4.7; AMD's "Technical Guidance for Mitigating Branch Type
 * Confusion"). The core executes one instruction at a time with no branch predictor and no
 * speculative loads, so both are true of it.
 */
export const CpuidExt8Ebx = {
  /** Bit 26: not affected by speculative store bypass (SSB_NO). */
  SSB_NO: 1 << 26,
  /** Bit 29: not affected by branch type confusion (BTC_NO; Linux then reports RETBleed "Not affected"). */
  BTC_NO: 1 << 29,
} as const;

/**
 * CPUID.80000021H:EAX, AMD's extended feature identification 2 (AMD APM Vol. 3 Appendix E; AMD
 * "Technical Guidance for Mitigating Effects of Speculative Return Stack Overflow").
 */
export const CpuidExt21Eax = {
  /** Bit 29: not affected by speculative return stack overflow (SRSO_NO): the core has no return address predictor. */
  SRSO_NO: 1 << 29,
} as const;

export interface CpuModel {
  readonly name: string;
  readonly vendor: Vendor;
  /** 12-character vendor string. */
  readonly vendorString: string;
  readonly brand: string;
  readonly family: number;
  readonly model: number;
  readonly stepping: number;
  readonly leaf1Ecx: number;
  readonly leaf1Edx: number;
  readonly leaf7Ebx: number;
  readonly leaf7Ecx: number;
  /** CPUID.(EAX=07H,ECX=0):EDX (the speculation controls); 0 when absent. */
  readonly leaf7Edx?: number;
  readonly ext1Ecx: number;
  readonly ext1Edx: number;
  /** AMD: CPUID.80000008H:EBX ({@link CpuidExt8Ebx}); 0 when absent. */
  readonly ext8Ebx?: number;
  /**
   * AMD: CPUID.80000021H:EAX ({@link CpuidExt21Eax}). When present the highest extended leaf is
   * 80000021H, else 8000000AH.
   */
  readonly ext21Eax?: number;
  /** Physical and linear address widths (CPUID.80000008H:EAX). */
  readonly physAddrBits: number;
  readonly linearAddrBits: 48 | 57;
  /** Logical processors per package (for topology leaves). */
  readonly threadsPerPackage: number;
  /**
   * The microcode revision the core reports: IA32_BIOS_SIGN_ID[63:32] on Intel (SDM Vol. 3
   * §10.11.7.1), PATCH_LEVEL (MSR 8B) on AMD. Operating systems compare it against errata lists
   * (Linux turns off the TSC-deadline timer of Skylake-SP stepping 4 below 0x2000014), so a
   * model reports a revision at or past those. 1 when absent.
   */
  readonly microcodeRevision?: number;
}

/**
 * Features the core implements (test/cpuid.test.ts decodes a probe instruction for every
 * advertised bit, so a bit for something unimplemented fails the tests): x87 (FPU), MMX, FXSR,
 * SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 and XSAVE with XCR0 = x87 | SSE (CPUID leaf 0DH; no
 * AVX state). AMD also reports MMXEXT (80000001H:EDX[22]: the MMX-register forms SSE adds, which
 * the core has) and mirrors MMX/FXSR there. Not advertised: AVX and later, SSE4A, MisAlignSse,
 * FXSR_OPT (AMD's fast FXSAVE, EFER.FFXSR), 3DNow!, MCE/MCA, APIC and x2APIC (the interrupt
 * controller adds them), SMX, PKU, TSC deadline.
 */
const COMMON_EDX =
  Cpuid1Edx.FPU |
  Cpuid1Edx.MMX |
  Cpuid1Edx.FXSR |
  Cpuid1Edx.SSE |
  Cpuid1Edx.SSE2 |
  Cpuid1Edx.VME |
  Cpuid1Edx.DE |
  Cpuid1Edx.PSE |
  Cpuid1Edx.TSC |
  Cpuid1Edx.MSR |
  Cpuid1Edx.PAE |
  Cpuid1Edx.CX8 |
  Cpuid1Edx.SEP |
  Cpuid1Edx.MTRR |
  Cpuid1Edx.PGE |
  Cpuid1Edx.CMOV |
  Cpuid1Edx.PAT |
  Cpuid1Edx.PSE36 |
  Cpuid1Edx.CLFSH;
const COMMON_ECX =
  Cpuid1Ecx.SSE3 |
  Cpuid1Ecx.SSSE3 |
  Cpuid1Ecx.SSE41 |
  Cpuid1Ecx.SSE42 |
  Cpuid1Ecx.XSAVE |
  Cpuid1Ecx.CX16 | Cpuid1Ecx.PCID | Cpuid1Ecx.MOVBE | Cpuid1Ecx.POPCNT | Cpuid1Ecx.RDRAND | Cpuid1Ecx.MONITOR;
const COMMON_7EBX =
  Cpuid7Ebx.CLFLUSHOPT |
  Cpuid7Ebx.FSGSBASE | Cpuid7Ebx.BMI1 | Cpuid7Ebx.BMI2 | Cpuid7Ebx.SMEP | Cpuid7Ebx.SMAP | Cpuid7Ebx.INVPCID | Cpuid7Ebx.ADX | Cpuid7Ebx.RDSEED | Cpuid7Ebx.ERMS;

/** An Intel Core-class model (family 6). */
export const INTEL_CORE: CpuModel = Object.freeze({
  name: 'hvkit-intel',
  vendor: 'intel',
  vendorString: 'GenuineIntel',
  brand: 'hvkit virtual Intel-compatible CPU',
  family: 6,
  model: 0x55,
  stepping: 4,
  leaf1Ecx: COMMON_ECX,
  leaf1Edx: COMMON_EDX,
  leaf7Ebx: COMMON_7EBX,
  leaf7Ecx: Cpuid7Ecx.UMIP | Cpuid7Ecx.LA57 | Cpuid7Ecx.RDPID,
  // The speculation controls exist (as no-ops: the core does not speculate), and
  // IA32_ARCH_CAPABILITIES says which speculative attacks it is not subject to.
  leaf7Edx: Cpuid7Edx.SPEC_CTRL | Cpuid7Edx.STIBP | Cpuid7Edx.ARCH_CAPABILITIES | Cpuid7Edx.SSBD,
  ext1Ecx: CpuidExt1Ecx.LAHF_LM | CpuidExt1Ecx.ABM,
  ext1Edx: CpuidExt1Edx.SYSCALL | CpuidExt1Edx.NX | CpuidExt1Edx.PAGE1GB | CpuidExt1Edx.RDTSCP | CpuidExt1Edx.LM,
  physAddrBits: 46,
  linearAddrBits: 57,
  threadsPerPackage: 1,
  // The last public Skylake-SP stepping-4 revision; past every errata check Linux makes for 06_55H.
  microcodeRevision: 0x2007006,
});

/** An AMD Zen-class model (family 17h). */
export const AMD_ZEN: CpuModel = Object.freeze({
  name: 'hvkit-amd',
  vendor: 'amd',
  vendorString: 'AuthenticAMD',
  brand: 'hvkit virtual AMD-compatible CPU',
  family: 0x17,
  model: 0x31,
  stepping: 0,
  leaf1Ecx: COMMON_ECX,
  leaf1Edx: COMMON_EDX,
  leaf7Ebx: COMMON_7EBX,
  leaf7Ecx: Cpuid7Ecx.UMIP | Cpuid7Ecx.RDPID,
  ext1Ecx: CpuidExt1Ecx.LAHF_LM | CpuidExt1Ecx.ABM | CpuidExt1Ecx.AltMovCr8,
  ext1Edx: CpuidExt1Edx.SYSCALL | CpuidExt1Edx.MMXEXT | CpuidExt1Edx.NX | CpuidExt1Edx.PAGE1GB | CpuidExt1Edx.RDTSCP | CpuidExt1Edx.LM,
  // Not subject to the speculative attacks a family 17h part has (the core does not speculate):
  // operating systems skip the mitigations and do not warn (Linux: SSB, RETBleed, SRSO).
  ext8Ebx: CpuidExt8Ebx.SSB_NO | CpuidExt8Ebx.BTC_NO,
  ext21Eax: CpuidExt21Eax.SRSO_NO,
  physAddrBits: 48,
  linearAddrBits: 48,
  threadsPerPackage: 1,
  // A Zen 2 (17h model 31h) patch level past the Zenbleed fix Linux checks for (0x0830107A).
  microcodeRevision: 0x0830107c,
});

/** The display family/model encoding of CPUID.01H:EAX (SDM Vol. 2 Figure 3-6). */
export function signature(m: CpuModel): number {
  const fam = m.family > 0xf ? 0xf : m.family;
  const extFam = m.family > 0xf ? m.family - 0xf : 0;
  return (m.stepping & 0xf) | ((m.model & 0xf) << 4) | (fam << 8) | (((m.model >> 4) & 0xf) << 16) | (extFam << 20);
}
