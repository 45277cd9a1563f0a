/**
 * The availability checks of the MMX and SSE/SSE2/SSE3 integer and move instructions, which the
 * host oracle cannot vary (its CR0/CR4 are Linux's), against the SDM's exception tables:
 * - MMX: CR0.EM = 1 is #UD, CR0.TS = 1 is #NM; CR4.OSFXSR does not matter (SDM Vol. 2 "PADDB":
 *   Protected Mode Exceptions, MMX form);
 * - SSE/SSE2: CR0.EM = 1 or CR4.OSFXSR = 0 is #UD, CR0.TS = 1 is #NM (Vol. 2 §2.4, class 4);
 * - MOVQ2DQ needs both (an SSE2 instruction that reads an MMX register);
 * - MOVNTI is a general-register store: none of these apply (Vol. 2 "MOVNTI");
 * - an invalid encoding (register operand for a memory-only form and the reverse) is #UD before #NM;
 * - SSE3 moves are #UD on a model without CPUID.1:ECX.SSE3;
 * - EMMS: every tag empty; TOP cleared on AMD models (as the AMD host does), kept on Intel ones.
 */
import { describe, expect, it } from 'vitest';
import { AMD_ZEN, Cr0, Cr4, INTEL_CORE, type CpuModel } from '../src/index.js';
import type { Hpa } from '@hvkit/platform';
import { SnippetRunner } from './native/emulator-runner.js';
import { DATA_BASE, DATA_SIZE, FX_FSW, FX_FTW, FX_MXCSR, FX_SIZE } from './native/layout.js';
import { Legacy } from './user-harness.js';

function fresh(): Uint8Array {
  const fx = new Uint8Array(FX_SIZE);
  fx[0] = 0x7f;
  fx[1] = 0x03;
  fx[FX_MXCSR] = 0x80;
  fx[FX_MXCSR + 1] = 0x1f;
  return fx;
}

function runner(model: CpuModel = AMD_ZEN): SnippetRunner {
  return new SnippetRunner({ model });
}

function exec(r: SnippetRunner, code: number[], fx = fresh()): { vector: number; fx: Uint8Array } {
  const gpr = new Int32Array(32);
  gpr[8] = DATA_BASE + 64;
  gpr[14] = DATA_BASE; // rdi
  const res = r.run({ code: Uint8Array.from(code), gpr, rflags: 0x202, mem: new Uint8Array(DATA_SIZE), fx });
  return { vector: res.vector, fx: res.fx!.slice() };
}

const PADDB_MM = [0x0f, 0xfc, 0xc1];
const PADDB_XMM = [0x66, 0x0f, 0xfc, 0xc1];
const MOVQ2DQ = [0xf3, 0x0f, 0xd6, 0xc1];
const MOVNTI = [0x0f, 0xc3, 0x07];
const PMOVMSKB_MEM = [0x66, 0x0f, 0xd7, 0x07];
const MOVNTDQ_REG = [0x66, 0x0f, 0xe7, 0xc1];
const UD = 6;
const NM = 7;
const NONE = -1;

describe('MMX / SSE availability checks', () => {
  it('CR0.TS = 1: #NM for MMX and SSE forms, not for MOVNTI; invalid encodings stay #UD', () => {
    const r = runner();
    const cr0 = r.cpu.cr0;
    r.cpu.cr0 = cr0 | Cr0.TS;
    try {
      expect(exec(r, PADDB_MM).vector).toBe(NM);
      expect(exec(r, PADDB_XMM).vector).toBe(NM);
      expect(exec(r, MOVQ2DQ).vector).toBe(NM);
      expect(exec(r, MOVNTI).vector).toBe(NONE);
      expect(exec(r, PMOVMSKB_MEM).vector).toBe(UD);
      expect(exec(r, MOVNTDQ_REG).vector).toBe(UD);
    } finally {
      r.cpu.cr0 = cr0;
    }
  });

  it('CR0.EM = 1: #UD for MMX and SSE forms', () => {
    const r = runner();
    const cr0 = r.cpu.cr0;
    r.cpu.cr0 = cr0 | Cr0.EM;
    try {
      expect(exec(r, PADDB_MM).vector).toBe(UD);
      expect(exec(r, PADDB_XMM).vector).toBe(UD);
      expect(exec(r, [0x0f, 0x77]).vector).toBe(UD); // EMMS
      expect(exec(r, MOVNTI).vector).toBe(NONE);
    } finally {
      r.cpu.cr0 = cr0;
    }
  });

  it('CR4.OSFXSR = 0: #UD for SSE forms and MOVQ2DQ; MMX forms run', () => {
    const r = runner();
    const cr4 = r.cpu.cr4;
    r.cpu.cr4 = cr4 & ~Cr4.OSFXSR;
    try {
      expect(exec(r, PADDB_MM).vector).toBe(NONE);
      expect(exec(r, PADDB_XMM).vector).toBe(UD);
      expect(exec(r, MOVQ2DQ).vector).toBe(UD);
      expect(exec(r, [0x0f, 0x28, 0xc1]).vector).toBe(UD); // MOVAPS
    } finally {
      r.cpu.cr4 = cr4;
    }
  });

  it('SSE3 moves need CPUID.1:ECX.SSE3', () => {
    const without = runner({ ...AMD_ZEN, leaf1Ecx: AMD_ZEN.leaf1Ecx & ~1 });
    const withIt = runner();
    for (const code of [
      [0xf2, 0x0f, 0x12, 0xc1], // MOVDDUP
      [0xf3, 0x0f, 0x12, 0xc1], // MOVSLDUP
      [0xf3, 0x0f, 0x16, 0xc1], // MOVSHDUP
      [0xf2, 0x0f, 0xf0, 0x07], // LDDQU
    ]) {
      expect(exec(without, code).vector).toBe(UD);
      expect(exec(withIt, code).vector).toBe(NONE);
    }
  });

  it('EMMS empties every tag; TOP is cleared on AMD, kept on Intel', () => {
    const fx = fresh();
    fx[FX_FSW + 1] = 6 << 3; // TOP = 6
    fx[FX_FTW] = 0xc0; // R6, R7 valid
    const amd = exec(runner(AMD_ZEN), [0x0f, 0x77], fx.slice());
    expect(amd.fx[FX_FTW]).toBe(0);
    expect((amd.fx[FX_FSW + 1]! >> 3) & 7).toBe(0);
    const intel = exec(runner(INTEL_CORE), [0x0f, 0x77], fx.slice());
    expect(intel.fx[FX_FTW]).toBe(0);
    expect((intel.fx[FX_FSW + 1]! >> 3) & 7).toBe(6);
  });
});

describe('legacy modes', () => {
  it('real mode: MASKMOVDQU stores at DS:DI (16-bit address size), MOVDQA checks alignment, MOVD moves 32 bits', () => {
    const l = new Legacy('real');
    l.cpu.cr4 |= Cr4.OSFXSR;
    const x = l.cpu.xmm;
    for (let k = 0; k < 4; k++) x[k] = (0x11111111 * (k + 1)) | 0; // XMM0 data
    x[4] = 0x80008000 | 0; // XMM1 mask: bytes 1 and 3
    x[5] = 0x000000ff;
    x[6] = 0;
    x[7] = -1;
    l.cpu.gpr[7] = 0xabcd1200 | 0; // EDI: only DI = 0x1200 counts
    l.memory.write(0x1200 as Hpa, new Uint8Array(16));
    l.run([0x66, 0x0f, 0xf7, 0xc1]); // maskmovdqu xmm0, xmm1
    expect(l.vector).toBe(-1);
    const out = new Uint8Array(16);
    l.memory.read(0x1200 as Hpa, out);
    expect([...out]).toEqual([0, 0x11, 0, 0x11, 0x22, 0, 0, 0, 0, 0, 0, 0, 0x44, 0x44, 0x44, 0x44]);
    l.cpu.gpr[3] = 0x1204; // BX misaligned
    l.run([0x66, 0x0f, 0x6f, 0x07]); // movdqa xmm0, [bx]
    expect(l.vector).toBe(13);
    l.cpu.gpr[3] = 0x1200;
    l.run([0x66, 0x0f, 0x6f, 0x17, 0x66, 0x0f, 0x7e, 0xd0]); // movdqa xmm2, [bx]; movd eax, xmm2
    expect(l.vector).toBe(-1);
    expect(l.cpu.gpr[0]! >>> 0).toBe(0x11001100);
  });

  it('32-bit protected mode: PMOVMSKB and PEXTRW write the 32-bit register', () => {
    const l = new Legacy('pm32');
    l.cpu.cr4 |= Cr4.OSFXSR;
    const x = l.cpu.xmm;
    x[12] = 0x80ff0080 | 0; // XMM3
    x[13] = 0x12345678;
    x[14] = 0;
    x[15] = 0x80000000 | 0;
    l.cpu.gpr[0] = -1;
    l.run([0x66, 0x0f, 0xd7, 0xc3, 0x66, 0x0f, 0xc5, 0xcb, 0x03]); // pmovmskb eax, xmm3; pextrw ecx, xmm3, 3
    expect(l.vector).toBe(-1);
    expect(l.cpu.gpr[0]! >>> 0).toBe(0b1000_0000_0000_1101);
    expect(l.cpu.gpr[1]! >>> 0).toBe(0x1234);
  });
});
