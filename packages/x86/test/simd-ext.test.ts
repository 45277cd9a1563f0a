/**
 * SSSE3, SSE4.1 and SSE4.2 (src/fpu/simd-ext*.ts) against values worked out from the SDM's
 * operation sections (Vol. 2 instruction pages; §4.1 for PCMPxSTRx), and the exception rules:
 * #UD without the CPUID bit or with an undefined mandatory prefix, #GP(0) for a misaligned
 * 16-byte operand of the legacy-SSE forms (PCMPxSTRx excepted), #NM with CR0.TS.
 * The native comparison of every form is the FP differential campaign (test/native/gen-simd-ext.ts).
 */
import { describe, expect, it } from 'vitest';
import { AMD_ZEN, Cr0 } from '../src/index.js';
import type { CpuModel } from '../src/index.js';
import { SnippetRunner } from './native/emulator-runner.js';
import { DATA_BASE } from './native/layout.js';

const SSSE3 = 1 << 9;
const SSE41 = 1 << 19;
const SSE42 = 1 << 20;
const FULL: CpuModel = { ...AMD_ZEN, leaf1Ecx: AMD_ZEN.leaf1Ecx | SSSE3 | SSE41 | SSE42 };

const runners = new Map<CpuModel, SnippetRunner>();

interface In {
  xmm?: Record<number, bigint>;
  mm?: Record<number, bigint>;
  /** rax, rcx, rdx, rbx by number 0-3. */
  gpr?: Record<number, bigint>;
  /** RSI = DATA_BASE + rsi. */
  rsi?: number;
  mem?: number[];
  cr0Extra?: number;
}

const M64 = (1n << 64n) - 1n;

function run(code: number[], input: In = {}, model = FULL) {
  let runner = runners.get(model);
  if (runner === undefined) {
    runner = new SnippetRunner({ model });
    runners.set(model, runner);
  }
  const cpu = runner.cpu;
  cpu.xmm.fill(0);
  for (const [n, v] of Object.entries(input.xmm ?? {})) {
    for (let k = 0; k < 4; k++) cpu.xmm[Number(n) * 4 + k] = Number((v >> BigInt(32 * k)) & 0xffff_ffffn) | 0;
  }
  cpu.fpTop = 3;
  cpu.fpEmpty = 0xff;
  cpu.fsw = 0;
  cpu.fcw = 0x37f;
  for (let i = 0; i < 8; i++) {
    cpu.fpLo[i] = cpu.fpHi[i] = 0;
    cpu.fpSe[i] = 0;
  }
  for (const [n, v] of Object.entries(input.mm ?? {})) {
    cpu.fpLo[Number(n)] = Number(v & 0xffff_ffffn) | 0;
    cpu.fpHi[Number(n)] = Number(v >> 32n) | 0;
  }
  const gpr = new Int32Array(32);
  for (const [n, v] of Object.entries(input.gpr ?? {})) {
    const b = BigInt.asUintN(64, v);
    gpr[2 * Number(n)] = Number(b & 0xffff_ffffn) | 0;
    gpr[2 * Number(n) + 1] = Number(b >> 32n) | 0;
  }
  gpr[12] = DATA_BASE + (input.rsi ?? 0);
  gpr[8] = DATA_BASE + 128;
  const mem = new Uint8Array(128);
  mem.set(input.mem ?? []);
  const saved = cpu.cr0;
  cpu.cr0 |= input.cr0Extra ?? 0;
  const r = runner.run({ code: Uint8Array.from(code), gpr, rflags: 0, mem });
  cpu.cr0 = saved;
  const xmm = (n: number): bigint => {
    let v = 0n;
    for (let k = 3; k >= 0; k--) v = (v << 32n) | BigInt(cpu.xmm[n * 4 + k]! >>> 0);
    return v;
  };
  const mm = (n: number): bigint => (BigInt(cpu.fpHi[n]! >>> 0) << 32n) | BigInt(cpu.fpLo[n]! >>> 0);
  const reg = (n: number): bigint => (BigInt(r.gpr[2 * n + 1]! >>> 0) << 32n) | BigInt(r.gpr[2 * n]! >>> 0);
  return { vector: r.vector, errorCode: r.errorCode, rflags: r.rflags & 0x8d5, xmm, mm, reg, mem: r.mem.slice(), cpu };
}

/** 128-bit value from 16 bytes (byte 0 lowest). */
function bytes(b: number[]): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]! & 0xff);
  return v;
}
function words(w: number[]): bigint {
  let v = 0n;
  for (let i = w.length - 1; i >= 0; i--) v = (v << 16n) | BigInt(w[i]! & 0xffff);
  return v;
}
function str(s: string): bigint {
  return bytes([...s].map((c) => c.charCodeAt(0)));
}
const iota = Array.from({ length: 16 }, (_, i) => i);

const CF = 1;
const PF = 4;
const AF = 0x10;
const ZF = 0x40;
const SF = 0x80;
const OF = 0x800;

/** 66 0F 38 op /r with xmm registers. */
const x38 = (op: number, reg: number, rm: number): number[] => [0x66, 0x0f, 0x38, op, 0xc0 | (reg << 3) | rm];
const x3a = (op: number, reg: number, rm: number, imm: number): number[] => [0x66, 0x0f, 0x3a, op, 0xc0 | (reg << 3) | rm, imm];

describe('SSSE3', () => {
  it('PSHUFB selects destination bytes by the source index and zeroes where bit 7 is set', () => {
    const idx = iota.map((i) => 15 - i);
    idx[5] = 0x80;
    const r = run(x38(0x00, 1, 2), { xmm: { 1: bytes(iota.map((i) => 0x10 + i)), 2: bytes(idx) } });
    const want = iota.map((i) => 0x1f - i);
    want[5] = 0;
    expect(r.xmm(1)).toBe(bytes(want));
  });

  it('PHADDW / PHADDSW / PHSUBW: destination pairs low, source pairs high; saturation', () => {
    const a = words([1, 2, 3, 4, 5, 6, 7, 8]);
    const b = words([10, 20, 30, 40, 50, 60, 0x7fff, 1]);
    expect(run(x38(0x01, 1, 2), { xmm: { 1: a, 2: b } }).xmm(1)).toBe(words([3, 7, 11, 15, 30, 70, 110, 0x8000]));
    expect(run(x38(0x03, 1, 2), { xmm: { 1: a, 2: b } }).xmm(1)).toBe(words([3, 7, 11, 15, 30, 70, 110, 0x7fff]));
    expect(run(x38(0x05, 1, 2), { xmm: { 1: a, 2: b } }).xmm(1)).toBe(words([-1, -1, -1, -1, -10, -10, -10, 0x7ffe]));
  });

  it('PMADDUBSW: unsigned x signed bytes, pairs added with signed saturation', () => {
    const r = run(x38(0x04, 1, 2), { xmm: { 1: bytes([0xff, 0xff, 0xff, 0xff, 2, 3, 0, 0]), 2: bytes([0x7f, 0x7f, 0x80, 0x80, 5, 0xff, 0, 0]) } });
    // 255*127*2 = 64770 -> 7FFF; 255*-128*2 = -65280 -> 8000; 2*5 + 3*-1 = 7.
    expect(r.xmm(1)).toBe(words([0x7fff, 0x8000, 7, 0, 0, 0, 0, 0]));
  });

  it('PMULHRSW rounds the high product; PABSB/PSIGNB', () => {
    const r = run(x38(0x0b, 1, 2), { xmm: { 1: words([0x4000, 0x8000, 3, -3]), 2: words([0x4000, 0x8000, 0x4000, 0x4000]) } });
    // (0x10000000 >> 14) + 1 >> 1 = 0x2000; (0x40000000 >> 14 = 0x10000) + 1 >> 1 = 0x8000;
    // 3*0x4000 = 0xC000 >> 14 = 3, +1 >> 1 = 2; -3*0x4000 >> 14 = -3, +1 >> 1 = -1.
    expect(r.xmm(1)).toBe(words([0x2000, 0x8000, 2, -1, 0, 0, 0, 0]));
    expect(run(x38(0x1c, 1, 2), { xmm: { 2: bytes([0x80, 0xff, 0x7f, 0]) } }).xmm(1)).toBe(bytes([0x80, 1, 0x7f, 0]));
    expect(run(x38(0x08, 1, 2), { xmm: { 1: bytes([5, 5, 5, 0x80]), 2: bytes([0xff, 0, 1, 0xff]) } }).xmm(1)).toBe(bytes([0xfb, 0, 5, 0x80]));
  });

  it('PALIGNR (MM form): the destination:source pair shifted right; the x87 state switches to MMX use', () => {
    const r = run([0x0f, 0x3a, 0x0f, 0xc1, 3], { mm: { 0: 0x0706_0504_0302_0100n, 1: 0x0f0e_0d0c_0b0a_0908n } });
    expect(r.vector).toBe(-1);
    expect(r.mm(0)).toBe(0x0201_000f_0e0d_0c0bn);
    expect(r.cpu.fpTop).toBe(0);
    expect(r.cpu.fpEmpty).toBe(0);
    expect(r.cpu.fpSe[0]).toBe(0xffff);
    // A shift of 16 or more bytes leaves zero (XMM: 32).
    expect(run(x3a(0x0f, 1, 2, 32), { xmm: { 1: -1n & ((1n << 128n) - 1n), 2: 5n } }).xmm(1)).toBe(0n);
    expect(run(x3a(0x0f, 1, 2, 8), { xmm: { 1: bytes(iota.map((i) => 0x20 + i)), 2: bytes(iota) } }).xmm(1)).toBe(bytes([8, 9, 10, 11, 12, 13, 14, 15, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27]));
  });
});

describe('SSE4.1', () => {
  it('PTEST sets ZF and CF only', () => {
    const a = 0xf0n;
    expect(run(x38(0x17, 1, 2), { xmm: { 1: a, 2: 0x0fn } }).rflags).toBe(ZF);
    expect(run(x38(0x17, 1, 2), { xmm: { 1: a, 2: 0x30n } }).rflags).toBe(CF);
    expect(run(x38(0x17, 1, 2), { xmm: { 1: a, 2: 0n } }).rflags).toBe(ZF | CF);
    expect(run(x38(0x17, 1, 2), { xmm: { 1: a, 2: 0x1_0000_0000_0000_0000_0000_0000_0011n } }).rflags).toBe(0);
    expect(run(x38(0x17, 1, 2), { xmm: { 1: a, 2: 0x0fn } }).xmm(1)).toBe(a);
  });

  it('PBLENDVB / BLENDVPS / BLENDVPD take the mask from XMM0 sign bits', () => {
    const d = bytes(iota.map((i) => 0x10 + i));
    const s = bytes(iota.map((i) => 0x40 + i));
    const m = bytes(iota.map((i) => (i % 3 === 0 ? 0x80 : 0x7f)));
    expect(run(x38(0x10, 1, 2), { xmm: { 0: m, 1: d, 2: s } }).xmm(1)).toBe(bytes(iota.map((i) => (i % 3 === 0 ? 0x40 : 0x10) + i)));
    // Dword sign bits: lanes 1 and 3 (bytes 7 and 15 have bit 7 set when i % 3 === 0: 15 yes, 7 no, 3 yes -> lane 0).
    expect(run(x38(0x14, 1, 2), { xmm: { 0: m, 1: d, 2: s } }).xmm(1)).toBe(bytes(iota.map((i) => (i < 4 || i >= 12 ? 0x40 : 0x10) + i)));
    expect(run(x38(0x15, 1, 2), { xmm: { 0: m, 1: d, 2: s } }).xmm(1)).toBe(bytes(iota.map((i) => (i >= 8 ? 0x40 : 0x10) + i)));
  });

  it('PMOVSXBW / PMOVZXBD from an unaligned memory operand of exactly the bytes used', () => {
    const mem = [0, 0x80, 0x7f, 0xff, 1, 2, 3, 4, 5];
    // 66 0F 38 20 /r: pmovsxbw xmm1, [rsi]
    expect(run([0x66, 0x0f, 0x38, 0x20, 0x0e], { rsi: 1, mem }).xmm(1)).toBe(words([0xff80, 0x7f, 0xffff, 1, 2, 3, 4, 5]));
    const zx = run([0x66, 0x0f, 0x38, 0x31, 0x0e], { rsi: 1, mem });
    expect(zx.xmm(1)).toBe(0x0000_00ff_0000_007f_0000_0080n | (1n << 96n));
    // pmovsxdq from a register.
    expect(run(x38(0x25, 1, 2), { xmm: { 2: 0x0000_0001_8000_0000n } }).xmm(1)).toBe(0x0000_0000_0000_0001_ffff_ffff_8000_0000n);
  });

  it('PMULDQ, PMULLD, PCMPEQQ, PACKUSDW, PMINUD/PMAXSB', () => {
    const r = run(x38(0x28, 1, 2), { xmm: { 1: 0x0000_0000_8000_0000_0000_0000_ffff_ffffn, 2: 0x0000_0000_8000_0000_0000_0000_0000_0002n } });
    expect(r.xmm(1)).toBe((0x4000_0000_0000_0000n << 64n) | 0xffff_ffff_ffff_fffen);
    expect(run(x38(0x40, 1, 2), { xmm: { 1: 0x10000n | (3n << 32n), 2: 0x10001n | (0xffff_ffffn << 32n) } }).xmm(1)).toBe(0x10000n | (0xffff_fffdn << 32n));
    expect(run(x38(0x29, 1, 2), { xmm: { 1: 5n | (6n << 64n), 2: 5n | (7n << 64n) } }).xmm(1)).toBe(M64);
    expect(run(x38(0x2b, 1, 2), { xmm: { 1: 0x0001_0000_ffff_ffff_0000_1234_0000_ffffn, 2: 0x7fff_ffffn } }).xmm(1)).toBe(words([0xffff, 0x1234, 0, 0xffff, 0xffff, 0, 0, 0]));
    expect(run(x38(0x3b, 1, 2), { xmm: { 1: 0xffff_ffffn | (1n << 32n), 2: 2n | (0x8000_0000n << 32n) } }).xmm(1)).toBe(2n | (1n << 32n));
    expect(run(x38(0x3c, 1, 2), { xmm: { 1: bytes([0x80, 5]), 2: bytes([0x7f, 0xff]) } }).xmm(1)).toBe(bytes([0x7f, 5]));
  });

  it('PHMINPOSUW: minimum word and its lowest index', () => {
    expect(run(x38(0x41, 1, 2), { xmm: { 1: -1n & ((1n << 128n) - 1n), 2: words([9, 0xffff, 3, 7, 3, 8, 4, 5]) } }).xmm(1)).toBe(words([3, 2]));
  });

  it('BLENDPS / BLENDPD / PBLENDW / MPSADBW with imm8', () => {
    const d = words([1, 2, 3, 4, 5, 6, 7, 8]);
    const s = words([11, 12, 13, 14, 15, 16, 17, 18]);
    expect(run(x3a(0x0c, 1, 2, 0b0101), { xmm: { 1: d, 2: s } }).xmm(1)).toBe(words([11, 12, 3, 4, 15, 16, 7, 8]));
    expect(run(x3a(0x0d, 1, 2, 0b10), { xmm: { 1: d, 2: s } }).xmm(1)).toBe(words([1, 2, 3, 4, 15, 16, 17, 18]));
    expect(run(x3a(0x0e, 1, 2, 0x81), { xmm: { 1: d, 2: s } }).xmm(1)).toBe(words([11, 2, 3, 4, 5, 6, 7, 18]));
    // Destination bytes i, source dword 1 = [0,0,0,0]: word i = 4i + 6 (block 0), 4(i+4) + 6 (block 1).
    const src = bytes([9, 9, 9, 9, 0, 0, 0, 0]);
    expect(run(x3a(0x42, 1, 2, 1), { xmm: { 1: bytes(iota), 2: src } }).xmm(1)).toBe(words([0, 1, 2, 3, 4, 5, 6, 7].map((i) => 4 * i + 6)));
    expect(run(x3a(0x42, 1, 2, 5), { xmm: { 1: bytes(iota), 2: src } }).xmm(1)).toBe(words([0, 1, 2, 3, 4, 5, 6, 7].map((i) => 4 * i + 22)));
  });

  it('PEXTRB/PEXTRQ/EXTRACTPS zero-extend into the register; PINSRB/PINSRQ/INSERTPS', () => {
    const v = bytes(iota.map((i) => 0xf0 + i));
    // pextrb eax, xmm1, 0x13 (index 3): the whole of RAX is replaced.
    expect(run([0x66, 0x0f, 0x3a, 0x14, 0xc8, 0x13], { xmm: { 1: v }, gpr: { 0: -1n } }).reg(0)).toBe(0xf3n);
    // pextrq rcx, xmm1, 1 (REX.W)
    expect(run([0x66, 0x48, 0x0f, 0x3a, 0x16, 0xc9, 1], { xmm: { 1: v } }).reg(1)).toBe(v >> 64n);
    // extractps [rsi+0], xmm1, 2
    expect(Array.from(run([0x66, 0x0f, 0x3a, 0x17, 0x0e, 2], { xmm: { 1: v }, rsi: 3 }).mem.slice(3, 8))).toEqual([0xf8, 0xf9, 0xfa, 0xfb, 0]);
    // pinsrb xmm1, eax, 17 (index 1: imm8[3:0])
    expect(run([0x66, 0x0f, 0x3a, 0x20, 0xc8, 17], { xmm: { 1: 0n }, gpr: { 0: 0x1234n } }).xmm(1)).toBe(0x3400n);
    // pinsrq xmm1, rbx, 1
    expect(run([0x66, 0x48, 0x0f, 0x3a, 0x22, 0xcb, 1], { xmm: { 1: 7n }, gpr: { 3: 0x8877_6655_4433_2211n } }).xmm(1)).toBe((0x8877_6655_4433_2211n << 64n) | 7n);
    // insertps xmm1, xmm2, 0b10_01_0100: source dword 2 into dword 1, then dword 2 zeroed.
    const r = run(x3a(0x21, 1, 2, 0b1001_0100), { xmm: { 1: 0x4444_4444_3333_3333_2222_2222_1111_1111n, 2: 0xdddd_dddd_cccc_cccc_bbbb_bbbb_aaaa_aaaan } });
    expect(r.xmm(1)).toBe(0x4444_4444_0000_0000_cccc_cccc_1111_1111n);
  });

  it('MOVNTDQA loads an aligned m128; a register operand is #UD', () => {
    const mem = iota.map((i) => 0x30 + i);
    expect(run([0x66, 0x0f, 0x38, 0x2a, 0x0e], { mem }).xmm(1)).toBe(bytes(mem));
    expect(run([0x66, 0x0f, 0x38, 0x2a, 0xca]).vector).toBe(6);
    expect(run([0x66, 0x0f, 0x38, 0x2a, 0x0e], { rsi: 8 }).vector).toBe(13);
  });
});

describe('SSE4.2', () => {
  it('PCMPGTQ is a signed 64-bit comparison', () => {
    const r = run(x38(0x37, 1, 2), { xmm: { 1: 1n | (0x8000_0000_0000_0000n << 64n), 2: M64 | (0x7fff_ffff_ffff_ffffn << 64n) } });
    expect(r.xmm(1)).toBe(M64);
  });

  it('PCMPISTRI equal ordered finds a substring; SF and ZF report the terminators', () => {
    // pcmpistri xmm1, xmm2, 0x0C: unsigned bytes, equal ordered, positive polarity, least index.
    const r = run(x3a(0x63, 1, 2, 0x0c), { xmm: { 1: str('lo'), 2: str('hello world') } });
    expect(r.reg(1)).toBe(3n);
    expect(r.rflags).toBe(CF | ZF | SF);
    // Not found: ECX = 16, CF = 0.
    const n = run(x3a(0x63, 1, 2, 0x0c), { xmm: { 1: str('xyz'), 2: str('hello world') }, gpr: { 1: -1n } });
    expect(n.reg(1)).toBe(16n);
    expect(n.rflags).toBe(ZF | SF);
  });

  it('PCMPISTRI ranges and the masked negative polarity', () => {
    expect(run(x3a(0x63, 1, 2, 0x04), { xmm: { 1: str('az'), 2: str('ABCdef') } }).reg(1)).toBe(3n);
    // Masked negative: the first valid element outside a-z; the invalid tail stays 0.
    expect(run(x3a(0x63, 1, 2, 0x34), { xmm: { 1: str('az'), 2: str('abcD') } }).reg(1)).toBe(3n);
    expect(run(x3a(0x63, 1, 2, 0x34), { xmm: { 1: str('az'), 2: str('abcd') } }).reg(1)).toBe(16n);
    // Plain negative: the invalid tail counts as outside, so the index is the terminator's.
    expect(run(x3a(0x63, 1, 2, 0x14), { xmm: { 1: str('az'), 2: str('abcd') } }).reg(1)).toBe(4n);
    // Most significant index (imm8[6]): the last lowercase letter.
    expect(run(x3a(0x63, 1, 2, 0x44), { xmm: { 1: str('az'), 2: str('aBcDeF') } }).reg(1)).toBe(4n);
  });

  it('PCMPESTRI equal each with explicit lengths (EAX, EDX; RAX, RDX with REX.W)', () => {
    // Negative polarity: the first mismatch.
    const r = run(x3a(0x61, 1, 2, 0x18), { xmm: { 1: str('abcdefgh'), 2: str('abXdefgh') }, gpr: { 0: 4n, 2: 4n } });
    expect(r.reg(1)).toBe(2n);
    expect(r.rflags).toBe(CF | ZF | SF);
    // |EAX| saturates at 16; negative lengths count by their absolute value.
    const full = run(x3a(0x61, 1, 2, 0x18), { xmm: { 1: str('abcdefghijklmnop'), 2: str('abcdefghijklmnop') }, gpr: { 0: 100n, 2: -16n } });
    expect(full.reg(1)).toBe(16n);
    expect(full.rflags).toBe(0);
    // REX.W: RDX = -2 -> 2 elements; without REX.W, EDX = 0xFFFFFFFE is also -2.
    const w = run([0x66, 0x48, 0x0f, 0x3a, 0x61, 0xca, 0x18], { xmm: { 1: str('ab'), 2: str('aX') }, gpr: { 0: 2n, 2: -2n } });
    expect(w.reg(1)).toBe(1n);
    // RAX = 2^32 + 1 with REX.W saturates (16); without it EAX = 1.
    const big = 0x1_0000_0001n;
    expect(run([0x66, 0x48, 0x0f, 0x3a, 0x61, 0xca, 0x08], { xmm: { 1: str('aXcdefghijklmnop'), 2: str('aYcdefghijklmnop') }, gpr: { 0: big, 2: 16n } }).rflags & SF).toBe(0);
    expect(run([0x66, 0x0f, 0x3a, 0x61, 0xca, 0x08], { xmm: { 1: str('aXcdefghijklmnop'), 2: str('aYcdefghijklmnop') }, gpr: { 0: big, 2: 16n } }).rflags & SF).toBe(SF);
  });

  it('PCMPISTRM equal any: bit mask or byte mask in XMM0; OF = bit 0; AF, PF cleared', () => {
    const r = run(x3a(0x62, 1, 2, 0x00), { xmm: { 0: M64, 1: str('ae'), 2: str('apple') } });
    expect(r.xmm(0)).toBe(0b10001n);
    expect(r.rflags).toBe(CF | ZF | SF | OF);
    const m = run(x3a(0x62, 1, 2, 0x40), { xmm: { 1: str('ae'), 2: str('apple') } });
    expect(m.xmm(0)).toBe(0xff_0000_00ffn);
    // Word elements, word mask.
    const w = run(x3a(0x62, 1, 2, 0x41), { xmm: { 1: words([7]), 2: words([1, 7, 7, 2]) } });
    expect(w.xmm(0)).toBe(0xffff_ffff_0000n);
    expect(run(x3a(0x62, 1, 2, 0x00), { xmm: { 1: str('ae'), 2: str('apple') }, gpr: {} }).rflags & (AF | PF)).toBe(0);
  });

  it('PCMPxSTRx accept an unaligned m128 (SDM Vol. 2 §2.4); PSHUFB does not', () => {
    const mem = [...'xxhello'].map((c) => c.charCodeAt(0));
    mem.length = 32;
    // pcmpistri xmm1, [rsi], 0x0C with rsi = DATA_BASE + 2
    const r = run([0x66, 0x0f, 0x3a, 0x63, 0x0e, 0x0c], { xmm: { 1: str('ll') }, mem, rsi: 1 });
    expect(r.vector).toBe(-1);
    expect(r.reg(1)).toBe(3n);
    const g = run([0x66, 0x0f, 0x38, 0x00, 0x0e], { rsi: 1, mem });
    expect(g.vector).toBe(13);
    expect(g.errorCode).toBe(0);
  });
});

describe('exceptions', () => {
  it('#UD without the CPUID feature bit', () => {
    const noSsse3: CpuModel = { ...FULL, leaf1Ecx: FULL.leaf1Ecx & ~SSSE3 };
    expect(run(x38(0x00, 1, 2), {}, noSsse3).vector).toBe(6);
    expect(run(x38(0x17, 1, 2), {}, noSsse3).vector).toBe(-1);
    const noSse42: CpuModel = { ...FULL, leaf1Ecx: FULL.leaf1Ecx & ~SSE42 };
    expect(run(x3a(0x63, 1, 2, 0), {}, noSse42).vector).toBe(6);
    expect(run(x38(0x37, 1, 2), {}, noSse42).vector).toBe(6);
  });

  it('#UD for undefined mandatory prefixes: F3/F2 forms, SSE4.1 without 66', () => {
    expect(run([0xf3, 0x0f, 0x38, 0x00, 0xca]).vector).toBe(6);
    expect(run([0xf2, 0x0f, 0x38, 0x17, 0xca]).vector).toBe(6);
    expect(run([0x0f, 0x38, 0x17, 0xca]).vector).toBe(6);
    expect(run([0x0f, 0x3a, 0x63, 0xca, 0]).vector).toBe(6);
  });

  it('#NM with CR0.TS, and the fault leaves the destination unchanged', () => {
    const r = run(x38(0x00, 1, 2), { xmm: { 1: 5n }, cr0Extra: Cr0.TS });
    expect(r.vector).toBe(7);
    expect(r.xmm(1)).toBe(5n);
    expect(run([0x0f, 0x38, 0x00, 0xc1], { cr0Extra: Cr0.TS }).vector).toBe(7);
  });

  it('an MM form whose memory operand faults leaves TOP and the tags alone (as the AMD host does)', () => {
    // pshufb mm0, [rsi] with RSI on the page after the data window (not present): #PF.
    const r = run([0x0f, 0x38, 0x00, 0x06], { rsi: 4096, mm: { 0: 0x1234n } });
    expect(r.vector).toBe(14);
    expect(r.cpu.fpTop).toBe(3);
    expect(r.cpu.fpEmpty).toBe(0xff);
    expect(r.mm(0)).toBe(0x1234n);
  });
});
