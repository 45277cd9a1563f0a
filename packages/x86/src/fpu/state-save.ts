/**
 * x87/SSE state management: FXSAVE, FXRSTOR (0F AE /0 /1), LDMXCSR, STMXCSR (/2 /3), XSAVE,
 * XRSTOR, XSAVEOPT (/4 /5 /6), all memory-only with no mandatory prefix; REX.W selects the
 * 64-bit layouts (FXSAVE64 ... XSAVEOPT64).
 *
 * Layout (SDM Vol. 1 §10.5.1 and Vol. 2 "FXSAVE", Tables 3-43, 3-46, 3-47; Vol. 1 §13.4): bytes
 * 0-1 FCW, 2-3 FSW (with TOP), 4 the abridged tag byte (bit i = 1: R(i) valid), 5 reserved, 6-7
 * FOP (11 bits), 8-15 FIP[31:0] and FCS (or FIP[63:0] with REX.W), 16-23 FDP[31:0] and FDS (or
 * FDP[63:0]), 24-27 MXCSR, 28-31 MXCSR_MASK, 32-159 ST0..ST7 in stack order (80 bits, then six
 * bytes written as zero; the tag byte is by physical register), 160-415 XMM0-XMM15 (XMM0-XMM7 outside 64-bit mode). Bytes past the last XMM
 * register are not written (464-511 are the software area). The XSAVE header follows at 512:
 * XSTATE_BV (8 bytes), XCOMP_BV (8 bytes), reserved.
 *
 * Behaviour measured on the reference host (AMD Zen 4, see test/fpu-state.test.ts) where the
 * specs leave a choice:
 * - Loading FSW (FXRSTOR/XRSTOR) recomputes ES and B: both are set exactly when an exception
 *   flag is set whose mask bit in the loaded FCW is clear (SDM Vol. 1 §8.1.3.1). FCW keeps bits
 *   12:8 and 5:0, bit 6 reads as 1 (the host's FLDCW/FXRSTOR behaviour).
 * - AMD: FXRSTOR/XRSTOR load FOP, FIP, FDP (and FCS/FDS) only when the loaded FSW has ES = 1,
 *   and zero them otherwise (APM Vol. 5 "FXRSTOR"); the 64-bit forms keep FIP/FDP bits 56:0 and
 *   copy bit 56 into 63:57; the 64-bit restore clears FCS/FDS. Intel loads them all.
 * - CR4.OSFXSR = 0: FXSAVE/FXRSTOR skip the XMM registers but still store/load MXCSR (Intel's
 *   behaviour, which the SDM calls implementation dependent; SDM Vol. 2 "FXSAVE").
 * - MXCSR_MASK is 0000FFFFH (DAZ supported; the host reports 0002FFFFH because it implements
 *   AMD's misaligned-SSE mode, which no hvkit model advertises).
 * - XINUSE (SDM Vol. 1 §13.6) is derived by comparison: x87 state is in use unless it is in its
 *   initial configuration (FCW 037FH, FSW 0, all tags empty, zero pointers and registers); SSE
 *   state unless XMM0-XMM15 (XMM0-XMM7 outside 64-bit mode) are all zero. MXCSR is not part of
 *   the test (as on the host). XSAVE stores XSTATE_BV[i] = XINUSE[i] for requested components;
 *   XSAVEOPT writes only components in use (it does not implement the "modified" optimization:
 *   it never needs to, SDM Vol. 1 §13.9), plus MXCSR whenever SSE state is requested.
 * - XRSTOR (standard form) raises #GP(0) when XCOMP_BV or header bytes 23:16 are not zero, when
 *   XSTATE_BV sets a bit outside XCR0, or when MXCSR (loaded whenever SSE state is requested,
 *   even with XSTATE_BV[1] = 0 — as the host does) sets a reserved bit. Header bytes 63:24 are
 *   not checked (neither does the host).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as modelNs from '../model.js';
import * as operandsNs from '../ops/operands.js';
import * as optableNs from '../optable.js';
import * as stateNs from '../state.js';
import * as commonNs from './common.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { R_INFO } = decodedNs;
const { defineHandler, OpMap, setOp } = optableNs;
const { memAddr } = operandsNs;
const { Cpuid1Ecx, Cpuid1Edx } = modelNs;
const { CodeMode, Cr0, Cr4, Vector } = stateNs;
const { highAfter, MXCSR_MASK, setFerr, sseAvailable } = commonNs;

/** Scratch image of the legacy region and header: dword k = bytes 4k..4k+3 (576 bytes). */
const img = new Int32Array(144);

/** Size of the XSAVE area for XCR0 = 1 or 3: legacy region plus header (SDM Vol. 1 §13.4). */
export const XSAVE_AREA_SIZE = 576;

/** Whether the instruction has REX.W (64-bit operand size: the FXSAVE64-style layouts). */
function rexW(cpu: Cpu, d: number): boolean {
  return ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 3;
}

/** XMM registers the state instructions cover: 16 in 64-bit mode, 8 elsewhere. */
function xmmCount(cpu: Cpu): number {
  return cpu.mode === CodeMode.Bits64 ? 16 : 8;
}

/**
 * The linear address of a `size`-byte state area, with the #GP(0) for misalignment (`align`
 * bytes; SDM Vol. 2 "FXSAVE", "XSAVE"). `write` establishes write access to both ends first, so
 * a fault leaves memory unchanged (areas are at most 576 bytes and aligned: two pages at most).
 */
function areaAddress(cpu: Cpu, d: number, size: number, align: number, write: boolean): number {
  const lo = memAddr(cpu, d, size, write);
  if ((lo & (align - 1)) !== 0) cpu.raise(Vector.GP, 0);
  const hi = cpu.hi;
  if (write) {
    cpu.rdw8(lo, hi);
    cpu.rdw8((lo + size - 1) | 0, highAfter(cpu, lo, hi, size - 1));
  } else {
    cpu.rd8(lo, hi);
    cpu.rd8((lo + size - 1) | 0, highAfter(cpu, lo, hi, size - 1));
  }
  cpu.hi = hi;
  return lo;
}

/** Reads dwords [from, to) of the area at (lo, hi) into `img`. */
function readDwords(cpu: Cpu, lo: number, hi: number, from: number, to: number): void {
  for (let k = from; k < to; k++) img[k] = cpu.rd32((lo + 4 * k) | 0, highAfter(cpu, lo, hi, 4 * k));
}

/** Writes dwords [from, to) of `img` to the area at (lo, hi). */
function writeDwords(cpu: Cpu, lo: number, hi: number, from: number, to: number): void {
  for (let k = from; k < to; k++) cpu.wr32((lo + 4 * k) | 0, highAfter(cpu, lo, hi, 4 * k), img[k]!);
}

// ---- building and loading the legacy region -------------------------------------------------

/** The full status word: FSW with TOP in bits 13:11. */
function fullFsw(cpu: Cpu): number {
  return (cpu.fsw & ~0x3800) | ((cpu.fpTop & 7) << 11);
}

/** Fills img dwords 0-5 and 8-39 (the x87 part of the legacy region). */
function buildX87(cpu: Cpu, wide: boolean): void {
  img[0] = (cpu.fcw & 0xffff) | (fullFsw(cpu) << 16);
  img[1] = (~cpu.fpEmpty & 0xff) | ((cpu.fop & 0x7ff) << 16);
  img[2] = cpu.fipLo;
  img[4] = cpu.fdpLo;
  if (wide) {
    img[3] = cpu.fipHi;
    img[5] = cpu.fdpHi;
  } else {
    img[3] = cpu.fcs & 0xffff;
    img[5] = cpu.fds & 0xffff;
  }
  // The register slots are in stack order, ST0 first; the tag byte is by physical register.
  const top = cpu.fpTop;
  for (let i = 0; i < 8; i++) {
    const k = 8 + 4 * i;
    const r = (top + i) & 7;
    img[k] = cpu.fpLo[r]!;
    img[k + 1] = cpu.fpHi[r]!;
    img[k + 2] = cpu.fpSe[r]! & 0xffff;
    img[k + 3] = 0;
  }
}

/** Fills img dwords 6-7 (MXCSR, MXCSR_MASK). */
function buildMxcsr(cpu: Cpu): void {
  img[6] = cpu.mxcsr;
  img[7] = MXCSR_MASK;
}

/** Fills img dwords 40.. with XMM0..XMM(n-1). */
function buildXmm(cpu: Cpu, n: number): void {
  const x = cpu.xmm;
  for (let k = 0; k < 4 * n; k++) img[40 + k] = x[k]!;
}

/** Copies bits 56:0 of a 64-bit pointer's high half and repeats bit 56 in 63:57 (the AMD host). */
function pointerHigh(cpu: Cpu, hi: number): number {
  return cpu.isAmd ? (hi << 7) >> 7 : hi;
}

/** Loads the x87 state from img dwords 0-5 and 8-39. */
function loadX87(cpu: Cpu, wide: boolean): void {
  const fcw = (img[0]! & 0x1f3f) | 0x40;
  const fsw = (img[0]! >>> 16) & 0x7f7f;
  const es = (fsw & ~fcw & 0x3f) !== 0;
  cpu.fcw = fcw;
  cpu.fpTop = (fsw >>> 11) & 7;
  cpu.fsw = (fsw & ~0x3800) | (es ? 0x8080 : 0);
  cpu.fpEmpty = ~img[1]! & 0xff;
  if (cpu.isAmd && !es) {
    cpu.fop = cpu.fipLo = cpu.fipHi = cpu.fcs = cpu.fdpLo = cpu.fdpHi = cpu.fds = 0;
  } else {
    cpu.fop = (img[1]! >>> 16) & 0x7ff;
    cpu.fipLo = img[2]!;
    cpu.fdpLo = img[4]!;
    if (wide) {
      cpu.fipHi = pointerHigh(cpu, img[3]!);
      cpu.fdpHi = pointerHigh(cpu, img[5]!);
      cpu.fcs = cpu.fds = 0;
    } else {
      cpu.fipHi = cpu.fdpHi = 0;
      cpu.fcs = img[3]! & 0xffff;
      cpu.fds = img[5]! & 0xffff;
    }
  }
  const top = cpu.fpTop;
  for (let i = 0; i < 8; i++) {
    const k = 8 + 4 * i;
    const r = (top + i) & 7;
    cpu.fpLo[r] = img[k]!;
    cpu.fpHi[r] = img[k + 1]!;
    cpu.fpSe[r] = img[k + 2]! & 0xffff;
  }
  if (!es) setFerr(cpu, false);
}

/** Loads XMM0..XMM(n-1) from img dwords 40... */
function loadXmm(cpu: Cpu, n: number): void {
  const x = cpu.xmm;
  for (let k = 0; k < 4 * n; k++) x[k] = img[40 + k]!;
}

/** x87 initial configuration (SDM Vol. 1 §13.6, as FNINIT plus zero registers and pointers). */
function initX87(cpu: Cpu): void {
  cpu.fcw = 0x37f;
  cpu.fsw = 0;
  cpu.fpTop = 0;
  cpu.fpEmpty = 0xff;
  cpu.fop = cpu.fipLo = cpu.fipHi = cpu.fcs = cpu.fdpLo = cpu.fdpHi = cpu.fds = 0;
  cpu.fpLo.fill(0);
  cpu.fpHi.fill(0);
  cpu.fpSe.fill(0);
  setFerr(cpu, false);
}

/** XINUSE[0]: the x87 state differs from its initial configuration. */
export function x87InUse(cpu: Cpu): boolean {
  if (cpu.fcw !== 0x37f || cpu.fsw !== 0 || cpu.fpTop !== 0 || cpu.fpEmpty !== 0xff) return true;
  if ((cpu.fop | cpu.fipLo | cpu.fipHi | cpu.fcs | cpu.fdpLo | cpu.fdpHi | cpu.fds) !== 0) return true;
  for (let i = 0; i < 8; i++) if ((cpu.fpLo[i]! | cpu.fpHi[i]! | cpu.fpSe[i]!) !== 0) return true;
  return false;
}

/** XINUSE[1]: some XMM register the mode can reach is not zero. */
export function sseInUse(cpu: Cpu): boolean {
  const x = cpu.xmm;
  const n = 4 * xmmCount(cpu);
  for (let k = 0; k < n; k++) if (x[k] !== 0) return true;
  return false;
}

// ---- FXSAVE / FXRSTOR -----------------------------------------------------------------------

/** #UD without FXSR in the model; #NM with CR0.EM or CR0.TS (SDM Vol. 2 "FXSAVE", "FXRSTOR"). */
function fxsrAvailable(cpu: Cpu): void {
  if ((cpu.model.leaf1Edx & Cpuid1Edx.FXSR) === 0) cpu.ud();
  if ((cpu.cr0 & (Cr0.EM | Cr0.TS)) !== 0) cpu.raise(Vector.NM);
}

/** FXSAVE / FXSAVE64 m512byte (SDM Vol. 2 "FXSAVE"). */
function fxsave(cpu: Cpu, d: number): void {
  fxsrAvailable(cpu);
  const wide = rexW(cpu, d);
  const lo = areaAddress(cpu, d, 512, 16, true);
  const hi = cpu.hi;
  buildX87(cpu, wide);
  buildMxcsr(cpu);
  const nx = (cpu.cr4 & Cr4.OSFXSR) !== 0 ? xmmCount(cpu) : 0;
  buildXmm(cpu, nx);
  writeDwords(cpu, lo, hi, 0, 40 + 4 * nx);
}

/** FXRSTOR / FXRSTOR64 m512byte (SDM Vol. 2 "FXRSTOR"): #GP(0) for reserved MXCSR bits. */
function fxrstor(cpu: Cpu, d: number): void {
  fxsrAvailable(cpu);
  const wide = rexW(cpu, d);
  const lo = areaAddress(cpu, d, 512, 16, false);
  const hi = cpu.hi;
  const nx = (cpu.cr4 & Cr4.OSFXSR) !== 0 ? xmmCount(cpu) : 0;
  readDwords(cpu, lo, hi, 0, 40 + 4 * nx);
  if ((img[6]! & ~MXCSR_MASK) !== 0) cpu.raise(Vector.GP, 0);
  loadX87(cpu, wide);
  cpu.mxcsr = img[6]!;
  loadXmm(cpu, nx);
}

// ---- LDMXCSR / STMXCSR ----------------------------------------------------------------------

/** #UD without SSE in the model (SDM Vol. 2 "LDMXCSR": CPUID.01H:EDX.SSE = 0), then the SSE checks. */
function mxcsrAvailable(cpu: Cpu): void {
  if ((cpu.model.leaf1Edx & Cpuid1Edx.SSE) === 0) cpu.ud();
  sseAvailable(cpu);
}

/** LDMXCSR m32 (SDM Vol. 2 "LDMXCSR"): #GP(0) when a reserved bit is set. */
function ldmxcsr(cpu: Cpu, d: number): void {
  mxcsrAvailable(cpu);
  const lo = memAddr(cpu, d, 4, false);
  const v = cpu.rd32(lo, cpu.hi);
  if ((v & ~MXCSR_MASK) !== 0) cpu.raise(Vector.GP, 0);
  cpu.mxcsr = v;
}

/** STMXCSR m32 (SDM Vol. 2 "STMXCSR"). */
function stmxcsr(cpu: Cpu, d: number): void {
  mxcsrAvailable(cpu);
  const lo = memAddr(cpu, d, 4, true);
  cpu.wr32(lo, cpu.hi, cpu.mxcsr);
}

// ---- XSAVE / XRSTOR / XSAVEOPT ----------------------------------------------------------------

/** #UD with CR4.OSXSAVE = 0 (or no XSAVE in the model); #NM with CR0.TS = 1 (SDM Vol. 2 "XSAVE"). */
function xsaveAvailable(cpu: Cpu): void {
  if ((cpu.model.leaf1Ecx & Cpuid1Ecx.XSAVE) === 0 || (cpu.cr4 & Cr4.OSXSAVE) === 0) cpu.ud();
  if ((cpu.cr0 & Cr0.TS) !== 0) cpu.raise(Vector.NM);
}

/**
 * XSAVE / XSAVEOPT (and the 64-bit forms) mem (SDM Vol. 2 "XSAVE", "XSAVEOPT"; Vol. 1 §13.7,
 * §13.9): RFBM = XCR0 AND EDX:EAX. Requested components are stored (XSAVEOPT: only those in
 * use), MXCSR/MXCSR_MASK when SSE state is requested, and XSTATE_BV[i] = XINUSE[i] for each
 * requested i; nothing else of the header is written.
 */
function xsave(cpu: Cpu, d: number, opt: boolean): void {
  xsaveAvailable(cpu);
  const rfbm = cpu.xcr0 & cpu.gpr[0]! & 3;
  const wide = rexW(cpu, d);
  const lo = areaAddress(cpu, d, XSAVE_AREA_SIZE, 64, true);
  const hi = cpu.hi;
  const x87 = x87InUse(cpu);
  const sse = sseInUse(cpu);
  const bvLo = cpu.rd32((lo + 512) | 0, highAfter(cpu, lo, hi, 512));
  if ((rfbm & 1) !== 0 && (x87 || !opt)) {
    buildX87(cpu, wide);
    writeDwords(cpu, lo, hi, 0, 6);
    writeDwords(cpu, lo, hi, 8, 40);
  }
  if ((rfbm & 2) !== 0) {
    buildMxcsr(cpu);
    writeDwords(cpu, lo, hi, 6, 8);
    if (sse || !opt) {
      const n = xmmCount(cpu);
      buildXmm(cpu, n);
      writeDwords(cpu, lo, hi, 40, 40 + 4 * n);
    }
  }
  const inUse = (x87 ? 1 : 0) | (sse ? 2 : 0);
  cpu.wr32((lo + 512) | 0, highAfter(cpu, lo, hi, 512), (bvLo & ~rfbm) | (inUse & rfbm));
}

/**
 * XRSTOR / XRSTOR64 mem, standard form (SDM Vol. 2 "XRSTOR"; Vol. 1 §13.8): checks the header,
 * then for each requested component loads it (XSTATE_BV[i] = 1) or puts it in its initial
 * configuration (XSTATE_BV[i] = 0). MXCSR is loaded whenever SSE state is requested.
 */
function xrstor(cpu: Cpu, d: number): void {
  xsaveAvailable(cpu);
  const rfbm = cpu.xcr0 & cpu.gpr[0]! & 3;
  const wide = rexW(cpu, d);
  const lo = areaAddress(cpu, d, XSAVE_AREA_SIZE, 64, false);
  const hi = cpu.hi;
  const n = xmmCount(cpu);
  readDwords(cpu, lo, hi, 128, 134);
  readDwords(cpu, lo, hi, 0, 40 + 4 * n);
  const bv = img[128]!;
  // XSTATE_BV may set only XCR0 bits; XCOMP_BV (bit 63: compacted form, not supported) and
  // header bytes 23:16 must be zero.
  if ((bv & ~cpu.xcr0) !== 0 || img[129] !== 0 || (img[130]! | img[131]! | img[132]! | img[133]!) !== 0) cpu.raise(Vector.GP, 0);
  if ((rfbm & 2) !== 0 && (img[6]! & ~MXCSR_MASK) !== 0) cpu.raise(Vector.GP, 0);
  if ((rfbm & 1) !== 0) {
    if ((bv & 1) !== 0) loadX87(cpu, wide);
    else initX87(cpu);
  }
  if ((rfbm & 2) !== 0) {
    cpu.mxcsr = img[6]!;
    if ((bv & 2) !== 0) loadXmm(cpu, n);
    else cpu.xmm.fill(0, 0, 4 * n);
  }
}

export function installFpuState(): void {
  const mem = (reg: number, name: string, fn: (cpu: Cpu, d: number) => void): void => {
    setOp(OpMap.Two, 0xae, defineHandler(name, fn), { reg, mod3: false });
  };
  mem(0, 'fxsave', fxsave);
  mem(1, 'fxrstor', fxrstor);
  mem(2, 'ldmxcsr', ldmxcsr);
  mem(3, 'stmxcsr', stmxcsr);
  mem(4, 'xsave', (cpu, d) => xsave(cpu, d, false));
  mem(5, 'xrstor', xrstor);
  mem(6, 'xsaveopt', (cpu, d) => xsave(cpu, d, true));
}
