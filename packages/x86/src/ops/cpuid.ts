/**
 * CPUID (0F A2; SDM Vol. 2 "CPUID", AMD APM Vol. 3 Appendix E).
 *
 * Everything comes from the CPU model (model.ts), which advertises exactly what the core
 * implements; a plugged-in virtualization extension then adjusts the result (the VMX/SVM bits,
 * leaf 8000000AH). Leaves implemented:
 *
 * - Intel: basic 00H-1FH (02H descriptors, 04H caches, 05H MONITOR, 07H.0 features, 0AH
 *   version 0 (no architectural performance monitoring), 0BH/1FH topology, 0DH only when XSAVE is
 *   advertised; the rest of the range reads 0), extended 80000000H-80000008H. A leaf above the
 *   maximum returns the data of the highest basic leaf (SDM Vol. 2 "CPUID", Table 3-8 note).
 * - AMD: basic 00H-0DH, extended 80000000H-8000000AH, or to 80000021H for a model with
 *   `ext21Eax` (80000001H mirrors the shared leaf-1 EDX bits; 80000008H:EBX and 80000021H:EAX
 *   carry the speculation "not affected" bits); unsupported leaves read 0.
 */
import type { Cpu } from '../cpu.js';
import { Intercept } from '../extension.js';
import { Cpuid1Ecx, Cpuid1Edx, CpuidExt1Edx, signature } from '../model.js';
import { defineHandler, OpMap, setOp } from '../optable.js';
import { Cr4 } from '../state.js';
import { MiscEnable } from './msr.js';

const EAX = 0;
const EBX = 1;
const ECX = 2;
const EDX = 3;

/** Intel's and AMD's highest basic and extended leaves. */
const INTEL_MAX_BASIC = 0x1f;
const AMD_MAX_BASIC = 0x0d;
const INTEL_MAX_EXT = 0x80000008;
const AMD_MAX_EXT = 0x8000000a;
/** AMD models that report CPUID.80000021H (`ext21Eax`). */
const AMD_MAX_EXT_21 = 0x80000021;

/** Leaf-1 EDX bits AMD repeats in 80000001H:EDX (APM Vol. 3 Appendix E.4.2): bits 9:0, 17:12, 24:23. */
const AMD_EXT1_MIRROR = 0x0183f3ff;

/** Cache geometry for leaf 04H: [type, level, ways, sets, shared by all threads of the package]. */
const CACHES: readonly (readonly [number, number, number, number, boolean])[] = [
  [1, 1, 8, 64, false], // L1D: 32 KiB, 8-way, 64-byte lines
  [2, 1, 8, 64, false], // L1I: 32 KiB
  [3, 2, 16, 1024, false], // L2: 1 MiB, 16-way
  [3, 3, 16, 8192, true], // L3: 8 MiB, 16-way
];

/** Packs four characters of `s` from `at` as a little-endian dword. */
function str4(s: string, at: number): number {
  let v = 0;
  for (let k = 3; k >= 0; k--) {
    const c = at + k < s.length ? s.charCodeAt(at + k) & 0xff : 0;
    v = (v << 8) | c;
  }
  return v;
}

function ceilLog2(n: number): number {
  let s = 0;
  while (1 << s < n) s++;
  return s;
}

/** The highest basic leaf in effect (Intel: 2 while IA32_MISC_ENABLE.LimitCpuid = 1). */
function maxBasic(cpu: Cpu): number {
  if (cpu.model.vendor !== 'intel') return AMD_MAX_BASIC;
  return (cpu.miscEnableLo & MiscEnable.LimitCpuid) !== 0 ? 2 : INTEL_MAX_BASIC;
}

function basicLeaf(cpu: Cpu, leaf: number, sub: number, out: Int32Array): void {
  const m = cpu.model;
  const intel = m.vendor === 'intel';
  switch (leaf) {
    case 0:
      out[EAX] = maxBasic(cpu);
      out[EBX] = str4(m.vendorString, 0);
      out[EDX] = str4(m.vendorString, 4);
      out[ECX] = str4(m.vendorString, 8);
      return;
    case 1: {
      out[EAX] = signature(m);
      const htt = (m.leaf1Edx & Cpuid1Edx.HTT) !== 0 ? (m.threadsPerPackage & 0xff) << 16 : 0;
      out[EBX] = ((cpu.apicId & 0xff) << 24) | htt | (8 << 8);
      let ecx = m.leaf1Ecx;
      if ((ecx & Cpuid1Ecx.XSAVE) !== 0 && (cpu.cr4 & Cr4.OSXSAVE) !== 0) ecx |= Cpuid1Ecx.OSXSAVE;
      if (intel && (cpu.miscEnableLo & MiscEnable.Monitor) === 0) ecx &= ~Cpuid1Ecx.MONITOR;
      let edx = m.leaf1Edx;
      // The APIC bits follow the board's local APIC, not the model: APIC while IA32_APIC_BASE.EN
      // = 1 (SDM Vol. 3 §11.4.3), x2APIC whenever there is one (§11.12.1), TSC-deadline on Intel
      // (§11.5.4.1).
      const apic = cpu.apic;
      if (apic !== null) {
        if ((apic.baseLo & 0x800) !== 0) edx |= Cpuid1Edx.APIC;
        ecx |= Cpuid1Ecx.X2APIC;
        if (intel) ecx |= Cpuid1Ecx.TSC_DEADLINE;
      }
      out[ECX] = ecx;
      out[EDX] = edx;
      return;
    }
    case 2:
      // One descriptor byte FFH: "use leaf 04H"; FEH: "use leaf 18H" for the TLBs (none reported).
      if (intel) out[EAX] = 0x00feff01;
      return;
    case 4: {
      if (!intel || sub >>> 0 >= CACHES.length) return;
      const [type, level, ways, sets, shared] = CACHES[sub]!;
      const threads = m.threadsPerPackage;
      out[EAX] = type | (level << 5) | (1 << 8) | ((shared ? threads - 1 : 0) << 14) | ((threads - 1) << 26);
      out[EBX] = ((ways - 1) << 22) | 63;
      out[ECX] = sets - 1;
      out[EDX] = 0;
      return;
    }
    case 5:
      if ((m.leaf1Ecx & Cpuid1Ecx.MONITOR) === 0) return;
      out[EAX] = 64;
      out[EBX] = 64;
      out[ECX] = 3; // enumeration of extensions; interrupts as break events (MWAIT ECX[0])
      return;
    case 7:
      if (sub !== 0) return;
      out[EBX] = m.leaf7Ebx;
      out[ECX] = m.leaf7Ecx;
      out[EDX] = m.leaf7Edx ?? 0;
      return;
    case 0x0a:
      // Architectural performance monitoring: version 0, not supported (SDM Vol. 3 §20.2). The
      // counters do not count, and a version >= 1 would make software assume the model's whole
      // PMU (Linux programs Skylake's LBR stack at 680H-69FH for model 55H). IA32_PERFEVTSELx
      // and IA32_PMCx stay as plain registers for RDPMC. QEMU's TCG CPUs report the same.
      return;
    case 0x0b:
    case 0x1f: {
      if (!intel) return;
      const threads = m.threadsPerPackage;
      out[EDX] = cpu.apicId;
      if (sub === 0) {
        out[EBX] = 1;
        out[ECX] = 1 << 8; // SMT level, one thread per core
      } else if (sub === 1) {
        out[EAX] = ceilLog2(threads);
        out[EBX] = threads;
        out[ECX] = 1 | (2 << 8); // core level
      } else {
        out[ECX] = sub & 0xff;
      }
      return;
    }
    case 0x0d:
      // XSAVE features (SDM Vol. 2 "CPUID", Table 3-8 leaf 0DH; Vol. 1 §13.2): XCR0 may hold x87
      // and SSE state (EAX = 3); both live in the legacy region, so the area is 512 + 64 bytes
      // whatever XCR0 enables (EBX) and at most (ECX). Subleaf 1: XSAVEOPT only (no XSAVEC,
      // XGETBV with ECX = 1, XSAVES). Subleaves >= 2 describe AVX and later: all zero.
      if ((m.leaf1Ecx & Cpuid1Ecx.XSAVE) === 0) return;
      if (sub === 0) {
        out[EAX] = 3;
        out[EBX] = 576;
        out[ECX] = 576;
      } else if (sub === 1) {
        out[EAX] = 1;
      }
      return;
    default:
      return;
  }
}

/** The highest extended leaf: Intel 80000008H; AMD 8000000AH, or 80000021H when the model reports that leaf. */
function maxExt(cpu: Cpu): number {
  const m = cpu.model;
  if (m.vendor === 'intel') return INTEL_MAX_EXT;
  return m.ext21Eax !== undefined ? AMD_MAX_EXT_21 : AMD_MAX_EXT;
}

function extLeaf(cpu: Cpu, leaf: number, out: Int32Array): void {
  const m = cpu.model;
  const intel = m.vendor === 'intel';
  switch (leaf) {
    case 0x80000000:
      out[EAX] = maxExt(cpu);
      if (!intel) {
        out[EBX] = str4(m.vendorString, 0);
        out[EDX] = str4(m.vendorString, 4);
        out[ECX] = str4(m.vendorString, 8);
      }
      return;
    case 0x80000001: {
      let edx = m.ext1Edx;
      if (intel && (cpu.miscEnableHi & MiscEnable.XdDisableHi) !== 0) edx &= ~CpuidExt1Edx.NX;
      if (!intel) {
        out[EAX] = signature(m);
        edx |= m.leaf1Edx & AMD_EXT1_MIRROR;
      }
      out[ECX] = m.ext1Ecx;
      out[EDX] = edx;
      return;
    }
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: {
      const base = (leaf - 0x80000002) * 16;
      out[EAX] = str4(m.brand, base);
      out[EBX] = str4(m.brand, base + 4);
      out[ECX] = str4(m.brand, base + 8);
      out[EDX] = str4(m.brand, base + 12);
      return;
    }
    case 0x80000005:
      if (intel) return;
      // AMD L1 TLBs and caches: 32 KiB, 8-way, 64-byte lines.
      out[EAX] = 0xff40ff40 | 0;
      out[EBX] = 0xff40ff40 | 0;
      out[ECX] = 0x20080140;
      out[EDX] = 0x20080140;
      return;
    case 0x80000006:
      // L2: 1 MiB, 16-way (encoding 8), 64-byte lines; AMD also the L3 (8 MiB, in 512 KiB units).
      out[ECX] = (1024 << 16) | (8 << 12) | 64;
      if (!intel) out[EDX] = (16 << 18) | (8 << 12) | 64;
      return;
    case 0x80000008:
      out[EAX] = m.physAddrBits | (m.linearAddrBits << 8);
      if (!intel) {
        out[EBX] = m.ext8Ebx ?? 0;
        out[ECX] = ((m.threadsPerPackage - 1) & 0xff) | (ceilLog2(m.threadsPerPackage) << 12);
      }
      return;
    case 0x80000021:
      // AMD extended feature identification 2 (the leaves between 8000000BH and 80000020H read 0:
      // no IBS, LWP, topology extensions, SME/SEV or QoS are reported).
      if (!intel) out[EAX] = m.ext21Eax ?? 0;
      return;
    default:
      return;
  }
}

/**
 * Computes CPUID for `leaf` / `subleaf` into `out` (EAX, EBX, ECX, EDX), including the
 * virtualization extension's adjustments. Allocates nothing.
 */
export function cpuidQuery(cpu: Cpu, leaf: number, subleaf: number, out: Int32Array): void {
  out.fill(0);
  const l = leaf >>> 0;
  const intel = cpu.model.vendor === 'intel';
  const max = maxBasic(cpu);
  if (l <= max) basicLeaf(cpu, l, subleaf, out);
  else if (l >= 0x80000000 && l <= maxExt(cpu)) extLeaf(cpu, l, out);
  else if (intel) basicLeaf(cpu, max, subleaf, out);
  if (cpu.ext !== null) cpu.ext.cpuid(leaf, subleaf, out);
}

const scratch = new Int32Array(4);

/** CPUID (0F A2): EAX = leaf, ECX = subleaf; results zero-extend into RAX, RBX, RCX, RDX. */
function cpuid(cpu: Cpu, d: number): void {
  const leaf = cpu.gpr[0]!;
  const sub = cpu.gpr[1]!;
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Cpuid, leaf, sub)) return;
  cpuidQuery(cpu, leaf, sub, scratch);
  cpu.setReg32(0, scratch[EAX]!);
  cpu.setReg32(3, scratch[EBX]!);
  cpu.setReg32(1, scratch[ECX]!);
  cpu.setReg32(2, scratch[EDX]!);
}

export function installCpuid(): void {
  setOp(OpMap.Two, 0xa2, defineHandler('cpuid', cpuid));
}
