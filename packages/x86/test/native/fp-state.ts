/**
 * Conversion between an FXSAVE64 image (the harness's FP-state record, SDM Vol. 1 Table 10-2
 * "Format of an FXSAVE Area for 64-bit mode"; Vol. 2 "FXSAVE") and the x87/SSE state of an
 * emulated `Cpu` (src/cpu.ts, "x87 / MMX / SSE state"), plus readable formatting of images.
 *
 * Image fields used: FCW (bytes 0-1), FSW with TOP in bits 13:11 (2-3), the abridged tag (4:
 * bit i = 1 when physical register Ri is not empty), MXCSR (24-27), ST0-ST7 in stack order
 * (32 + 16 i: 64-bit significand then sign/exponent, 10 bytes; ST(i) is physical
 * R((TOP + i) mod 8)), XMM0-XMM15 (160 + 16 n). FOP, FIP, FDP are not transferred: AMD stores
 * them only while an x87 exception is pending, and the addresses differ between the two sides.
 */
import type * as x86 from '../../src/index.js';
import { FX_FCW, FX_FSW, FX_FTW, FX_MXCSR, FX_MXCSR_MASK, FX_SIZE, FX_ST, FX_XMM } from './layout.js';

type Cpu = x86.Cpu;

/** MXCSR_MASK reported in images the emulator side writes (the bits the emulator supports). */
export const EMULATOR_MXCSR_MASK = 0xffff;

function rd32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) | 0;
}

function rd16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

/** Loads an image into the CPU as FXRSTOR64 would (without its checks; FOP/FIP/FDP cleared). */
export function loadFxImage(cpu: Cpu, fx: Uint8Array): void {
  cpu.fcw = rd16(fx, FX_FCW);
  const fsw = rd16(fx, FX_FSW);
  const top = (fsw >> 11) & 7;
  cpu.fpTop = top;
  cpu.fsw = fsw & ~0x3800;
  cpu.fpEmpty = ~fx[FX_FTW]! & 0xff;
  for (let i = 0; i < 8; i++) {
    const r = (top + i) & 7;
    const o = FX_ST + 16 * i;
    cpu.fpLo[r] = rd32(fx, o);
    cpu.fpHi[r] = rd32(fx, o + 4);
    cpu.fpSe[r] = rd16(fx, o + 8);
  }
  cpu.fop = 0;
  cpu.fipLo = 0;
  cpu.fipHi = 0;
  cpu.fcs = 0;
  cpu.fdpLo = 0;
  cpu.fdpHi = 0;
  cpu.fds = 0;
  cpu.mxcsr = rd32(fx, FX_MXCSR);
  const xmm = cpu.xmm;
  for (let k = 0; k < 64; k++) xmm[k] = rd32(fx, FX_XMM + 4 * k);
}

/** Stores the CPU's state as an FXSAVE64 image into `fx` (FOP/FIP/FDP and reserved bytes zero). */
export function storeFxImage(cpu: Cpu, fx: Uint8Array): void {
  fx.fill(0, 0, FX_SIZE);
  const top = cpu.fpTop & 7;
  wr16(fx, FX_FCW, cpu.fcw);
  wr16(fx, FX_FSW, (cpu.fsw & ~0x3800) | (top << 11));
  fx[FX_FTW] = ~cpu.fpEmpty & 0xff;
  wr32(fx, FX_MXCSR, cpu.mxcsr);
  wr32(fx, FX_MXCSR_MASK, EMULATOR_MXCSR_MASK);
  for (let i = 0; i < 8; i++) {
    const r = (top + i) & 7;
    const o = FX_ST + 16 * i;
    wr32(fx, o, cpu.fpLo[r]!);
    wr32(fx, o + 4, cpu.fpHi[r]!);
    wr16(fx, o + 8, cpu.fpSe[r]!);
  }
  const xmm = cpu.xmm;
  for (let k = 0; k < 64; k++) wr32(fx, FX_XMM + 4 * k, xmm[k]!);
}

// ---------------------------------------------------------------------------------------------
// Reading images (comparison and reports).

export function fxFcw(fx: Uint8Array): number {
  return rd16(fx, FX_FCW);
}

export function fxFsw(fx: Uint8Array): number {
  return rd16(fx, FX_FSW);
}

export function fxFtw(fx: Uint8Array): number {
  return fx[FX_FTW]!;
}

export function fxMxcsr(fx: Uint8Array): number {
  return rd32(fx, FX_MXCSR) >>> 0;
}

function h(v: number, digits: number): string {
  return (v >>> 0).toString(16).padStart(digits, '0');
}

/** ST(i) as `0xSEEE_HHHHHHHH_LLLLLLLL` (sign/exponent, significand high, low). */
export function fxStText(fx: Uint8Array, i: number): string {
  const o = FX_ST + 16 * i;
  return `0x${h(rd16(fx, o + 8), 4)}_${h(rd32(fx, o + 4), 8)}_${h(rd32(fx, o), 8)}`;
}

/** XMMn as four 32-bit lanes, highest first: `0x33333333_22222222_11111111_00000000`. */
export function fxXmmText(fx: Uint8Array, n: number): string {
  const o = FX_XMM + 16 * n;
  return `0x${h(rd32(fx, o + 12), 8)}_${h(rd32(fx, o + 8), 8)}_${h(rd32(fx, o + 4), 8)}_${h(rd32(fx, o), 8)}`;
}

const FSW_BITS: readonly [number, string][] = [
  [0, 'IE'],
  [1, 'DE'],
  [2, 'ZE'],
  [3, 'OE'],
  [4, 'UE'],
  [5, 'PE'],
  [6, 'SF'],
  [7, 'ES'],
  [8, 'C0'],
  [9, 'C1'],
  [10, 'C2'],
  [14, 'C3'],
  [15, 'B'],
];

/** FSW bits by name, e.g. `C1 PE TOP=7`. */
export function fswText(fsw: number): string {
  const names = FSW_BITS.filter(([b]) => (fsw >> b) & 1).map(([, n]) => n);
  names.push(`TOP=${(fsw >> 11) & 7}`);
  return names.join(' ');
}

function fswDiffText(x: number): string {
  const names = FSW_BITS.filter(([b]) => (x >> b) & 1).map(([, n]) => n);
  if (x & 0x3800) names.push('TOP');
  return names.join(' ');
}

const RC = ['nearest', 'down', 'up', 'zero'];
const PC = ['24', 'reserved', '53', '64'];

/** FCW decoded: masks, PC, RC. */
export function fcwText(fcw: number): string {
  const masks = ['IM', 'DM', 'ZM', 'OM', 'UM', 'PM'].filter((_, b) => (fcw >> b) & 1);
  return `${masks.join(' ')}${masks.length > 0 ? ' ' : ''}PC=${PC[(fcw >> 8) & 3]} RC=${RC[(fcw >> 10) & 3]}${fcw & 0xf0c0 ? ` other:0x${(fcw & 0xf0c0).toString(16)}` : ''}`;
}

/** MXCSR decoded: flags, DAZ, masks, RC, FTZ. */
export function mxcsrText(m: number): string {
  const flags = ['IE', 'DE', 'ZE', 'OE', 'UE', 'PE'].filter((_, b) => (m >> b) & 1);
  const masks = ['IM', 'DM', 'ZM', 'OM', 'UM', 'PM'].filter((_, b) => (m >> (b + 7)) & 1);
  const parts = [...flags];
  if (m & 0x40) parts.push('DAZ');
  parts.push(...masks, `RC=${RC[(m >> 13) & 3]}`);
  if (m & 0x8000) parts.push('FTZ');
  if (m & ~0xffff) parts.push(`other:0x${(m & ~0xffff).toString(16)}`);
  return parts.join(' ');
}

/**
 * Differences between two images in the compared fields (FCW, FSW incl. TOP, abridged tag,
 * MXCSR, the eight 80-bit register images in stack order, XMM0-15), one readable line each.
 */
export function compareFx(native: Uint8Array, emu: Uint8Array, out: string[]): void {
  const nc = fxFcw(native);
  const ec = fxFcw(emu);
  if (nc !== ec) out.push(`fcw: native 0x${h(nc, 4)} (${fcwText(nc)}) emulator 0x${h(ec, 4)} (${fcwText(ec)})`);
  const ns = fxFsw(native);
  const es = fxFsw(emu);
  if (ns !== es) out.push(`fsw: native 0x${h(ns, 4)} (${fswText(ns)}) emulator 0x${h(es, 4)} (${fswText(es)}) (differ: ${fswDiffText(ns ^ es)})`);
  const nt = fxFtw(native);
  const et = fxFtw(emu);
  if (nt !== et) out.push(`ftw (abridged, bit i: Ri not empty): native 0x${h(nt, 2)} emulator 0x${h(et, 2)}`);
  const nm = fxMxcsr(native);
  const em = fxMxcsr(emu);
  if (nm !== em) out.push(`mxcsr: native 0x${h(nm, 4)} (${mxcsrText(nm)}) emulator 0x${h(em, 4)} (${mxcsrText(em)})`);
  for (let i = 0; i < 8; i++) {
    const o = FX_ST + 16 * i;
    let same = true;
    for (let k = 0; k < 10; k++) if (native[o + k] !== emu[o + k]) same = false;
    if (!same) out.push(`st${i}: native ${fxStText(native, i)} emulator ${fxStText(emu, i)}`);
  }
  for (let n = 0; n < 16; n++) {
    const o = FX_XMM + 16 * n;
    let same = true;
    for (let k = 0; k < 16; k++) if (native[o + k] !== emu[o + k]) same = false;
    if (!same) out.push(`xmm${n}: native ${fxXmmText(native, n)} emulator ${fxXmmText(emu, n)}`);
  }
}

/** A multi-line readable dump of an image (reports). */
export function formatFx(fx: Uint8Array, indent = '    '): string {
  const fcw = fxFcw(fx);
  const fsw = fxFsw(fx);
  const top = (fsw >> 11) & 7;
  const ftw = fxFtw(fx);
  const m = fxMxcsr(fx);
  const lines = [
    `fcw 0x${h(fcw, 4)} (${fcwText(fcw)})  fsw 0x${h(fsw, 4)} (${fswText(fsw)})  ftw 0x${h(ftw, 2)}  mxcsr 0x${h(m, 4)} (${mxcsrText(m)})`,
  ];
  for (let i = 0; i < 8; i += 2) {
    const cell = (k: number): string => `st${k}${(ftw >> ((top + k) & 7)) & 1 ? ' ' : '-'}${fxStText(fx, k)}`;
    lines.push(`${cell(i)}  ${cell(i + 1)}`);
  }
  for (let n = 0; n < 16; n += 2) lines.push(`xmm${n.toString().padEnd(2)} ${fxXmmText(fx, n)}  xmm${(n + 1).toString().padEnd(2)} ${fxXmmText(fx, n + 1)}`);
  return lines.map((l) => indent + l).join('\n');
}
