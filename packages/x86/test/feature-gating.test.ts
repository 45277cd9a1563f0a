/**
 * Instructions tied to a CPUID feature bit raise #UD (or fall back to their older meaning)
 * when the model does not report the bit, as `-cpu MODEL,-feat` builds one (SDM Vol. 2: each
 * instruction's "CPUID Feature Flag" and #UD conditions).
 */
import { describe, expect, it } from 'vitest';
import { INTEL_CORE, type CpuModel } from '../src/index.js';
import { Cpuid1Ecx, Cpuid1Edx, Cpuid7Ebx, CpuidExt1Ecx } from '../src/model.js';
import { Sys } from './sys-harness.js';

type Word = 'leaf1Ecx' | 'leaf1Edx' | 'leaf7Ebx' | 'ext1Ecx';

function without(word: Word, bit: number): CpuModel {
  return { ...INTEL_CORE, [word]: INTEL_CORE[word] & ~bit };
}

/** Runs `code` then HLT in flat 32-bit mode; returns the caught vector (or -1) and EAX. */
function run32(model: CpuModel, code: number[]): { vector: number; eax: number } {
  const s = new Sys({ model }).flat32();
  s.cpu.gpr[0] = 0;
  s.cpu.gpr[1] = 0x0000_0f00; // ECX: bits 8-11
  s.cpu.gpr[3] = 0x1000; // EBX: a data address
  s.code([...code, 0xf4]);
  s.run(100);
  return { vector: s.fault?.vector ?? -1, eax: s.cpu.gpr[0]! >>> 0 };
}

const UD = 6;

describe('feature-gated instructions', () => {
  it.each([
    ['POPCNT', 'leaf1Ecx', Cpuid1Ecx.POPCNT, [0xf3, 0x0f, 0xb8, 0xc1]], // popcnt eax, ecx
    ['MOVBE', 'leaf1Ecx', Cpuid1Ecx.MOVBE, [0x0f, 0x38, 0xf0, 0x03]], // movbe eax, [ebx]
    ['RDRAND', 'leaf1Ecx', Cpuid1Ecx.RDRAND, [0x0f, 0xc7, 0xf0]], // rdrand eax
    ['RDSEED', 'leaf7Ebx', Cpuid7Ebx.RDSEED, [0x0f, 0xc7, 0xf8]], // rdseed eax
    ['ADCX', 'leaf7Ebx', Cpuid7Ebx.ADX, [0x66, 0x0f, 0x38, 0xf6, 0xc1]], // adcx eax, ecx
    ['ANDN (BMI1)', 'leaf7Ebx', Cpuid7Ebx.BMI1, [0xc4, 0xe2, 0x70, 0xf2, 0xc1]], // andn eax, ecx, ecx
    ['BZHI (BMI2)', 'leaf7Ebx', Cpuid7Ebx.BMI2, [0xc4, 0xe2, 0x70, 0xf5, 0xc1]], // bzhi eax, ecx, ecx
    ['CMPXCHG8B', 'leaf1Edx', Cpuid1Edx.CX8, [0x0f, 0xc7, 0x0b]], // cmpxchg8b [ebx]
  ] as const)('%s runs with its CPUID bit and raises #UD without it', (_name, word, bit, code) => {
    expect(run32(INTEL_CORE, [...code]).vector).toBe(-1);
    expect(run32(without(word, bit), [...code]).vector).toBe(UD);
  });

  it('LZCNT without the LZCNT bit is BSR, TZCNT without BMI1 is BSF (the F3 prefix is ignored)', () => {
    // ECX = 0x0F00: LZCNT = 20, BSR = 11; TZCNT = 8, BSF = 8 (use 0x0F00 for LZCNT only).
    expect(run32(INTEL_CORE, [0xf3, 0x0f, 0xbd, 0xc1]).eax).toBe(20);
    expect(run32(without('ext1Ecx', CpuidExt1Ecx.ABM), [0xf3, 0x0f, 0xbd, 0xc1]).eax).toBe(11);
    // ECX = 0x0F00 has TZCNT = BSF = 8; with ECX = 0 TZCNT gives 32 and BSF leaves EAX alone.
    const tz = (model: CpuModel) => {
      const s = new Sys({ model }).flat32();
      s.cpu.gpr[0] = 0x1234;
      s.cpu.gpr[1] = 0;
      s.code([0xf3, 0x0f, 0xbc, 0xc1, 0xf4]);
      s.run(10);
      return s.cpu.gpr[0]! >>> 0;
    };
    expect(tz(INTEL_CORE)).toBe(32);
    expect(tz(without('leaf7Ebx', Cpuid7Ebx.BMI1))).toBe(0x1234);
  });
});

describe('feature-gated instructions in 64-bit mode', () => {
  const run64 = (model: CpuModel, code: number[]) => {
    const s = new Sys({ model }).long64();
    s.cpu.gpr[3] = 0x2000; // RBX: a 16-byte aligned data address
    s.cpu.gprHi[3] = 0;
    s.code([...code, 0xf4]);
    s.run(100);
    return s.fault?.vector ?? -1;
  };
  it.each([
    ['LAHF', 'ext1Ecx', CpuidExt1Ecx.LAHF_LM, [0x9f]],
    ['SAHF', 'ext1Ecx', CpuidExt1Ecx.LAHF_LM, [0x9e]],
    ['CMPXCHG16B', 'leaf1Ecx', Cpuid1Ecx.CX16, [0x48, 0x0f, 0xc7, 0x0b]], // cmpxchg16b [rbx]
  ] as const)('%s needs its CPUID bit in 64-bit mode', (_name, word, bit, code) => {
    expect(run64(INTEL_CORE, [...code])).toBe(-1);
    expect(run64(without(word, bit), [...code])).toBe(UD);
  });

  it('LAHF without LAHF-SAHF still works outside 64-bit mode', () => {
    expect(run32(without('ext1Ecx', CpuidExt1Ecx.LAHF_LM), [0x9f]).vector).toBe(-1);
  });
});
