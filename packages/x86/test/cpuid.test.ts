import { describe, expect, it } from 'vitest';
import { AMD_ZEN, CodeMode, Cr4, decodeBytes, INTEL_CORE, OP_UD, signature, StopReason, type CpuModel } from '../src/index.js';
import { Cpuid1Ecx, Cpuid1Edx, Cpuid7Ebx, Cpuid7Ecx, CpuidExt1Ecx, CpuidExt1Edx } from '../src/model.js';
import { cpuidQuery } from '../src/ops/cpuid.js';
import { Msr, writeMsr } from '../src/ops/msr.js';
import { fakeExt, Sys } from './sys-harness.js';

function q(s: Sys, leaf: number, sub = 0): number[] {
  const out = new Int32Array(4);
  cpuidQuery(s.cpu, leaf, sub, out);
  return Array.from(out, (v) => v >>> 0);
}

function str(regs: number[]): string {
  let r = '';
  for (const v of regs) for (let k = 0; k < 4; k++) r += String.fromCharCode((v >>> (8 * k)) & 0xff);
  return r;
}

describe('CPUID', () => {
  it('leaf 0: vendor string and maximum basic leaf', () => {
    const s = new Sys();
    const [eax, ebx, ecx, edx] = q(s, 0);
    expect(eax).toBe(0x1f);
    expect(str([ebx!, edx!, ecx!])).toBe('GenuineIntel');
    const a = new Sys({ model: AMD_ZEN });
    const r = q(a, 0);
    expect(r[0]).toBe(0xd);
    expect(str([r[1]!, r[3]!, r[2]!])).toBe('AuthenticAMD');
  });

  it('leaf 1: signature, APIC ID in EBX[31:24], CLFLUSH size, the model features', () => {
    const s = new Sys();
    s.cpu.apicId = 5;
    const [eax, ebx, ecx, edx] = q(s, 1);
    expect(eax).toBe(signature(INTEL_CORE));
    expect(eax).toBe(0x50654);
    expect(ebx).toBe((5 << 24) | (8 << 8));
    expect(ecx).toBe(INTEL_CORE.leaf1Ecx >>> 0);
    expect(edx).toBe(INTEL_CORE.leaf1Edx >>> 0);
    expect(q(new Sys({ model: AMD_ZEN }), 1)[0]).toBe(0x00830f10);
  });

  it('no AVX, OSXSAVE (until CR4 sets it), VMX or SVM bits', () => {
    for (const m of [INTEL_CORE, AMD_ZEN]) {
      const s = new Sys({ model: m });
      const [, , ecx] = q(s, 1);
      for (const bit of [Cpuid1Ecx.OSXSAVE, Cpuid1Ecx.AVX, Cpuid1Ecx.VMX]) expect(ecx! & bit).toBe(0);
      expect(q(s, 0x80000001)[2]! & CpuidExt1Ecx.SVM).toBe(0);
    }
  });

  it('MISC_ENABLE: MONITOR off hides the MONITOR bit; limit-CPUID caps leaf 0 at 2; XD disable hides NX', () => {
    const s = new Sys();
    expect(q(s, 1)[2]! & Cpuid1Ecx.MONITOR).toBe(Cpuid1Ecx.MONITOR);
    expect(writeMsr(s.cpu, Msr.MISC_ENABLE, 1 | (1 << 22), 4)).toBe(true);
    expect(q(s, 1)[2]! & Cpuid1Ecx.MONITOR).toBe(0);
    expect(q(s, 0)[0]).toBe(2);
    expect(q(s, 7)).toEqual(q(s, 2)); // above the (limited) maximum: the highest basic leaf's data
    expect(q(s, 0x80000001)[3]! & CpuidExt1Edx.NX).toBe(0);
  });

  it('Intel: a leaf above the maximum returns the highest basic leaf; AMD returns zeros', () => {
    const s = new Sys();
    expect(q(s, 0x20, 1)).toEqual(q(s, 0x1f, 1));
    expect(q(s, 0x40000000, 0)).toEqual(q(s, 0x1f, 0));
    expect(q(s, 0x80000009)).toEqual(q(s, 0x1f, 0));
    const a = new Sys({ model: AMD_ZEN });
    expect(q(a, 0x20)).toEqual([0, 0, 0, 0]);
    expect(q(a, 0x8000000b)).toEqual([0, 0, 0, 0]);
  });

  it('leaf 4 and 0BH/1FH describe caches and topology (Intel)', () => {
    const s = new Sys();
    s.cpu.apicId = 2;
    const l1d = q(s, 4, 0);
    expect(l1d[0]! & 0x1f).toBe(1);
    expect(((l1d[1]! >>> 22) + 1) * (l1d[2]! + 1) * ((l1d[1]! & 0xfff) + 1)).toBe(32 * 1024);
    expect(q(s, 4, 4)[0]! & 0x1f).toBe(0);
    expect(q(s, 0xb, 0)).toEqual([0, 1, 0x100, 2]);
    expect(q(s, 0xb, 1)).toEqual([0, 1, 0x201, 2]);
    expect(q(s, 0xb, 2)).toEqual([0, 0, 2, 2]);
    expect(q(new Sys({ model: AMD_ZEN }), 4, 0)).toEqual([0, 0, 0, 0]);
  });

  it('leaf 7.0 reports the model; subleaf 1 is empty', () => {
    const s = new Sys();
    expect(q(s, 7, 0)).toEqual([0, INTEL_CORE.leaf7Ebx >>> 0, INTEL_CORE.leaf7Ecx >>> 0, (INTEL_CORE.leaf7Edx ?? 0) >>> 0]);
    // EDX: IBRS/IBPB (26), STIBP (27), IA32_ARCH_CAPABILITIES (29), SSBD (31) on the Intel model.
    expect(q(s, 7, 0)[3]).toBe(((1 << 26) | (1 << 27) | (1 << 29) | (1 << 31)) >>> 0);
    expect(q(new Sys({ model: AMD_ZEN }), 7, 0)[3]).toBe(0);
    expect(q(s, 7, 1)).toEqual([0, 0, 0, 0]);
  });

  it('leaf 0AH: architectural performance monitoring version 0 (no PMU for software to program)', () => {
    // SDM Vol. 3 §20.2.1: EAX[7:0] = 0 means no architectural performance monitoring; Linux
    // then keeps its hands off the model-specific PMU (the LBR stack of 06_55H, for one).
    expect(q(new Sys(), 0x0a)).toEqual([0, 0, 0, 0]);
    expect(q(new Sys({ model: AMD_ZEN }), 0x0a)).toEqual([0, 0, 0, 0]);
  });

  it('extended leaves: maximum, AMD mirror bits, brand string, address sizes', () => {
    const s = new Sys();
    expect(q(s, 0x80000000)[0]).toBe(0x80000008);
    expect(q(s, 0x80000001)).toEqual([0, 0, INTEL_CORE.ext1Ecx >>> 0, INTEL_CORE.ext1Edx >>> 0]);
    const brand = str([...q(s, 0x80000002), ...q(s, 0x80000003), ...q(s, 0x80000004)]).replace(/\0+$/, '');
    expect(brand).toBe(INTEL_CORE.brand);
    expect(q(s, 0x80000008)[0]).toBe(46 | (57 << 8));
    const a = new Sys({ model: AMD_ZEN });
    expect(q(a, 0x80000000)[0]).toBe(0x80000021);
    const e1 = q(a, 0x80000001);
    expect(e1[0]).toBe(signature(AMD_ZEN));
    expect(e1[3]).toBe(((AMD_ZEN.leaf1Edx & 0x0183f3ff) | AMD_ZEN.ext1Edx) >>> 0);
    expect(e1[3]! & CpuidExt1Edx.SYSCALL).toBe(CpuidExt1Edx.SYSCALL);
    expect(q(a, 0x80000008)[0]).toBe(48 | (48 << 8));
  });

  it('AMD: not affected by SSB, branch type confusion (80000008H:EBX bits 26, 29) and SRSO (80000021H:EAX bit 29); leaves in between read 0', () => {
    const a = new Sys({ model: AMD_ZEN });
    expect(q(a, 0x80000008)[1]).toBe(((1 << 26) | (1 << 29)) >>> 0);
    expect(q(a, 0x80000021)).toEqual([1 << 29, 0, 0, 0]);
    for (const leaf of [0x8000000b, 0x80000019, 0x8000001d, 0x8000001e, 0x8000001f, 0x80000020]) expect(q(a, leaf), leaf.toString(16)).toEqual([0, 0, 0, 0]);
    expect(q(a, 0x80000022)).toEqual([0, 0, 0, 0]);
    // A model without the leaf stops at 8000000AH (QEMU's qemu64, say).
    const old = new Sys({ model: { ...AMD_ZEN, ext8Ebx: undefined, ext21Eax: undefined } });
    expect(q(old, 0x80000000)[0]).toBe(0x8000000a);
    expect(q(old, 0x80000008)[1]).toBe(0);
    expect(q(old, 0x80000021)).toEqual([0, 0, 0, 0]);
    // Intel reports none of it (its equivalents are in IA32_ARCH_CAPABILITIES).
    const i = new Sys();
    expect(q(i, 0x80000008)[1]).toBe(0);
  });

  it('the extension adds its feature bits', () => {
    const s = new Sys();
    s.cpu.ext = fakeExt('vmx', {
      cpuid: (leaf, _sub, out) => {
        if (leaf === 1) out[2] = out[2]! | Cpuid1Ecx.VMX;
      },
    });
    expect(q(s, 1)[2]! & Cpuid1Ecx.VMX).toBe(Cpuid1Ecx.VMX);
  });

  it('the instruction writes EAX..EDX zero-extended, and is intercepted in guest mode', () => {
    const s = new Sys().long64();
    s.cpu.gpr[0] = 0;
    s.cpu.gprHi[0] = -1;
    s.cpu.gprHi[3] = -1;
    s.code([0x0f, 0xa2, 0xf4]);
    expect(s.run(10)).toBe(StopReason.Halt);
    expect(s.cpu.gpr[0]).toBe(0x1f);
    expect(s.cpu.gprHi[0]).toBe(0);
    expect(s.cpu.gprHi[3]).toBe(0);
    expect(s.cpu.gpr[3]).toBe(0x756e6547); // "Genu"
    const seen: number[] = [];
    s.cpu.ext = fakeExt('vmx', { intercept: (_c, what, info, info2) => (seen.push(what, info, info2), true) });
    s.cpu.guestMode = true;
    s.cpu.gpr[0] = 7;
    s.cpu.gpr[1] = 0;
    s.code([0x0f, 0xa2]);
    s.cpu.step();
    expect(seen).toEqual([1, 7, 0]);
    expect(s.cpu.gpr[0]).toBe(7);
  });

  it('OSXSAVE follows CR4.OSXSAVE', () => {
    for (const model of [INTEL_CORE, AMD_ZEN]) {
      const s = new Sys({ model });
      expect(q(s, 1)[2]! & Cpuid1Ecx.OSXSAVE).toBe(0);
      s.cpu.cr4 = Cr4.OSXSAVE;
      expect(q(s, 1)[2]! & Cpuid1Ecx.OSXSAVE).toBe(Cpuid1Ecx.OSXSAVE);
    }
  });

  it('the x87/SSE feature bits: both models, AMD mirrors MMX/FXSR and reports MMXEXT', () => {
    for (const model of [INTEL_CORE, AMD_ZEN]) {
      const s = new Sys({ model });
      const [, , ecx, edx] = q(s, 1);
      for (const b of [Cpuid1Edx.FPU, Cpuid1Edx.MMX, Cpuid1Edx.FXSR, Cpuid1Edx.SSE, Cpuid1Edx.SSE2]) expect(edx! & b).toBe(b);
      for (const b of [Cpuid1Ecx.SSE3, Cpuid1Ecx.SSSE3, Cpuid1Ecx.SSE41, Cpuid1Ecx.SSE42, Cpuid1Ecx.POPCNT, Cpuid1Ecx.XSAVE]) expect(ecx! & b).toBe(b);
      expect(ecx! & Cpuid1Ecx.AVX).toBe(0);
    }
    const e1 = q(new Sys({ model: AMD_ZEN }), 0x80000001)[3]!;
    // MMX (23), FXSR (24), MMXEXT (22); not FFXSR (25) or 3DNow! (31, 30).
    expect(e1 & (0xc3c00000 | 0)).toBe((1 << 22) | (1 << 23) | (1 << 24));
    expect(q(new Sys(), 0x80000001)[3]! & (7 << 22)).toBe(0);
  });

  it('leaf 0DH: XCR0 may hold x87 and SSE, a 576-byte area, XSAVEOPT only', () => {
    for (const model of [INTEL_CORE, AMD_ZEN]) {
      const s = new Sys({ model });
      expect(q(s, 0xd, 0)).toEqual([3, 576, 576, 0]);
      s.cpu.xcr0 = 3;
      expect(q(s, 0xd, 0)).toEqual([3, 576, 576, 0]);
      expect(q(s, 0xd, 1)).toEqual([1, 0, 0, 0]);
      for (const sub of [2, 3, 63]) expect(q(s, 0xd, sub)).toEqual([0, 0, 0, 0]);
    }
  });
});

/**
 * Every advertised feature bit must be implemented: instruction features need a probe
 * instruction that decodes to a handler; the "structural" ones (paging and mode features the
 * core and the page walker implement) are listed by name.
 */
type Probe = readonly [CodeMode, readonly number[]] | 'structural';
const B32 = CodeMode.Bits32;
const B64 = CodeMode.Bits64;
const PROBES: Record<string, Record<number, Probe>> = {
  leaf1Edx: {
    [Cpuid1Edx.FPU]: [B32, [0xd9, 0xe8]],
    [Cpuid1Edx.VME]: 'structural',
    [Cpuid1Edx.DE]: 'structural',
    [Cpuid1Edx.PSE]: 'structural',
    [Cpuid1Edx.TSC]: [B32, [0x0f, 0x31]],
    [Cpuid1Edx.MSR]: [B32, [0x0f, 0x32]],
    [Cpuid1Edx.PAE]: 'structural',
    [Cpuid1Edx.CX8]: [B32, [0x0f, 0xc7, 0x08]],
    [Cpuid1Edx.SEP]: [B32, [0x0f, 0x34]],
    [Cpuid1Edx.MTRR]: 'structural',
    [Cpuid1Edx.PGE]: 'structural',
    [Cpuid1Edx.CMOV]: [B32, [0x0f, 0x44, 0xc0]],
    [Cpuid1Edx.PAT]: 'structural',
    [Cpuid1Edx.PSE36]: 'structural',
    [Cpuid1Edx.CLFSH]: [B32, [0x0f, 0xae, 0x38]],
    [Cpuid1Edx.MMX]: [B32, [0x0f, 0x6f, 0xc0]],
    [Cpuid1Edx.FXSR]: [B32, [0x0f, 0xae, 0x00]],
    [Cpuid1Edx.SSE]: [B32, [0x0f, 0x28, 0xc0]],
    [Cpuid1Edx.SSE2]: [B32, [0x66, 0x0f, 0x28, 0xc0]],
  },
  leaf1Ecx: {
    [Cpuid1Ecx.SSE3]: [B32, [0x66, 0x0f, 0x7c, 0xc0]],
    [Cpuid1Ecx.MONITOR]: [B32, [0x0f, 0x01, 0xc8]],
    [Cpuid1Ecx.SSSE3]: [B32, [0x66, 0x0f, 0x38, 0x00, 0xc0]],
    [Cpuid1Ecx.CX16]: [B64, [0x48, 0x0f, 0xc7, 0x08]],
    [Cpuid1Ecx.PCID]: 'structural',
    [Cpuid1Ecx.MOVBE]: [B32, [0x0f, 0x38, 0xf0, 0x00]],
    [Cpuid1Ecx.POPCNT]: [B32, [0xf3, 0x0f, 0xb8, 0xc0]],
    [Cpuid1Ecx.XSAVE]: [B32, [0x0f, 0xae, 0x20]],
    [Cpuid1Ecx.SSE41]: [B32, [0x66, 0x0f, 0x38, 0x17, 0xc0]], // PTEST
    [Cpuid1Ecx.SSE42]: [B32, [0x66, 0x0f, 0x38, 0x37, 0xc0]], // PCMPGTQ
    [Cpuid1Ecx.RDRAND]: [B32, [0x0f, 0xc7, 0xf0]],
  },
  leaf7Ebx: {
    [Cpuid7Ebx.FSGSBASE]: [B64, [0xf3, 0x0f, 0xae, 0xc0]],
    [Cpuid7Ebx.BMI1]: [B64, [0xc4, 0xe2, 0x78, 0xf2, 0xc0]],
    [Cpuid7Ebx.SMEP]: 'structural',
    [Cpuid7Ebx.BMI2]: [B64, [0xc4, 0xe2, 0x78, 0xf5, 0xc0]],
    [Cpuid7Ebx.ERMS]: [B32, [0xf3, 0xa4]],
    [Cpuid7Ebx.INVPCID]: [B64, [0x66, 0x0f, 0x38, 0x82, 0x00]],
    [Cpuid7Ebx.RDSEED]: [B32, [0x0f, 0xc7, 0xf8]],
    [Cpuid7Ebx.ADX]: [B32, [0x66, 0x0f, 0x38, 0xf6, 0xc0]],
    [Cpuid7Ebx.SMAP]: [B32, [0x0f, 0x01, 0xca]],
    [Cpuid7Ebx.CLFLUSHOPT]: [B32, [0x66, 0x0f, 0xae, 0x38]],
  },
  leaf7Ecx: {
    [Cpuid7Ecx.UMIP]: 'structural',
    [Cpuid7Ecx.LA57]: 'structural',
    [Cpuid7Ecx.RDPID]: [B32, [0xf3, 0x0f, 0xc7, 0xf8]],
  },
  ext1Ecx: {
    [CpuidExt1Ecx.LAHF_LM]: [B64, [0x9f]],
    [CpuidExt1Ecx.ABM]: [B32, [0xf3, 0x0f, 0xbd, 0xc0]],
    // LOCK MOV CR0 = MOV CR8 needs AMD decoding, which decodeBytes' default (Intel) does not
    // do; decoder.test.ts and decoder-iced.test.ts check it with the AMD flavour.
    [CpuidExt1Ecx.AltMovCr8]: 'structural',
    [CpuidExt1Ecx.PREFETCHW]: [B32, [0x0f, 0x0d, 0x08]],
  },
  ext1Edx: {
    [CpuidExt1Edx.SYSCALL]: [B64, [0x0f, 0x05]],
    [CpuidExt1Edx.MMXEXT]: [B32, [0x0f, 0x70, 0xc0, 0x00]], // PSHUFW
    [CpuidExt1Edx.NX]: 'structural',
    [CpuidExt1Edx.PAGE1GB]: 'structural',
    [CpuidExt1Edx.RDTSCP]: [B32, [0x0f, 0x01, 0xf9]],
    [CpuidExt1Edx.LM]: 'structural',
  },
};

describe('models advertise only what the core implements', () => {
  for (const m of [INTEL_CORE, AMD_ZEN]) {
    for (const reg of Object.keys(PROBES)) {
      it(`${m.name} ${reg}`, () => {
        const value = m[reg as keyof CpuModel] as number;
        for (let bit = 0; bit < 32; bit++) {
          const mask = 1 << bit;
          if ((value & mask) === 0) continue;
          const probe = PROBES[reg]![mask];
          expect(probe, `${reg} bit ${bit} has no probe`).toBeDefined();
          if (probe === 'structural' || probe === undefined) continue;
          const { op } = decodeBytes(Uint8Array.from(probe[1]), probe[0], { amd: m.vendor === 'amd' });
          expect(op, `${reg} bit ${bit}: probe decodes to #UD`).not.toBe(OP_UD);
        }
      });
    }
  }
});
