/**
 * FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, XSAVE/XRSTOR/XSAVEOPT, XGETBV/XSETBV: the rules the native
 * comparison (fpu-state-native.test.ts, 64-bit mode at CPL 0 with every CR4 bit on) cannot reach:
 * exception conditions (SDM Vol. 2 instruction pages, exception tables), CR4.OSFXSR = 0, legacy
 * mode's eight XMM registers, fault atomicity, INIT (SDM Vol. 3 Table 10-1), FERR#.
 * Host facts used here were measured on this machine (AMD Zen 4) with small C probes: FXSAVE
 * writes bytes 0-415 in 64-bit mode and nothing past them; 66/F3-prefixed FXSAVE, LDMXCSR and
 * XSAVE are #UD; XRSTOR accepts nonzero header bytes 24-63; LDMXCSR with bit 16 set is #GP(0).
 */
import { describe, expect, it } from 'vitest';
import { AMD_ZEN, Cr0, Cr4, INTEL_CORE, Vector } from '../src/index.js';
import { sseInUse, x87InUse } from '../src/fpu/state-save.js';
import { CODE, Sys } from './sys-harness.js';

const AREA = 0x200000;
const SRC = 0x210000;

function sys64(model = AMD_ZEN, cpl = 0): Sys {
  const s = new Sys({ model }).long64(cpl);
  s.cpu.cr4 |= Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.OSXSAVE;
  s.cpu.xcr0 = 3;
  return s;
}

function sys32(): Sys {
  const s = new Sys({ model: INTEL_CORE }).flat32();
  s.cpu.cr4 |= Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.OSXSAVE;
  s.cpu.xcr0 = 3;
  return s;
}

/** Runs `code` then HLT; returns the vector of the first exception, or -1. */
function exec(s: Sys, code: readonly number[]): number {
  s.events.length = 0;
  s.code([...code, 0xf4]);
  s.run(100);
  return s.events.length > 0 ? s.events[0]!.vector : -1;
}

function fill(s: Sys, at: number, n: number, v: number): void {
  s.memory.write(at as never, new Uint8Array(n).fill(v));
}

/** A recognizable x87/SSE state. */
function seed(s: Sys): void {
  const c = s.cpu;
  c.fcw = 0x027f;
  c.fsw = 0x4100;
  c.fpTop = 6;
  c.fpEmpty = 0x3f;
  for (let i = 0; i < 8; i++) {
    c.fpLo[i] = 0x11111111 * (i + 1);
    c.fpHi[i] = (0x80000000 | (i << 8)) | 0;
    c.fpSe[i] = 0x4000 + i;
  }
  for (let k = 0; k < 64; k++) c.xmm[k] = (0x01010101 * (k + 1)) | 0;
  c.mxcsr = 0x1f80 | 0x20;
}

// FXSAVE [rdi] = 0F AE 07; FXRSTOR [rsi] = 0F AE 0E; XSAVE [rdi] = 0F AE 27; XRSTOR [rsi] = 0F AE 2E;
// XSAVEOPT [rdi] = 0F AE 37; LDMXCSR [rsi] = 0F AE 16; STMXCSR [rdi] = 0F AE 1F.
const FXSAVE = [0x0f, 0xae, 0x07];
const FXRSTOR = [0x0f, 0xae, 0x0e];
const XSAVE = [0x0f, 0xae, 0x27];
const XRSTOR = [0x0f, 0xae, 0x2e];
const LDMXCSR = [0x0f, 0xae, 0x16];
const STMXCSR = [0x0f, 0xae, 0x1f];

describe('FXSAVE / FXRSTOR', () => {
  it('stores the documented layout (64-bit mode: 16 XMM registers, nothing past byte 415)', () => {
    const s = sys64();
    seed(s);
    s.cpu.gpr[7] = AREA;
    fill(s, AREA, 512, 0xaa);
    expect(exec(s, FXSAVE)).toBe(-1);
    expect(s.r16(AREA)).toBe(0x027f);
    expect(s.r16(AREA + 2)).toBe(0x4100 | (6 << 11));
    expect(s.r8(AREA + 4)).toBe(0xc0); // abridged tag: R6, R7 valid
    expect(s.r8(AREA + 5)).toBe(0);
    expect(s.r32(AREA + 24)).toBe(0x1fa0);
    expect(s.r32(AREA + 28)).toBe(0xffff);
    // ST(i) = R((TOP + i) mod 8), TOP = 6: the slots hold R6, R7, R0, ..., R5.
    for (let i = 0; i < 8; i++) {
      const r = (6 + i) & 7;
      expect(s.r32(AREA + 32 + 16 * i)).toBe((0x11111111 * (r + 1)) >>> 0);
      expect(s.r16(AREA + 40 + 16 * i)).toBe(0x4000 + r);
      expect(s.r16(AREA + 42 + 16 * i) | s.r32(AREA + 44 + 16 * i)).toBe(0);
    }
    expect(s.r32(AREA + 160)).toBe(0x01010101);
    expect(s.r32(AREA + 412)).toBe((0x01010101 * 64) >>> 0);
    for (let k = 416; k < 512; k++) expect(s.r8(AREA + k)).toBe(0xaa);
  });

  it('legacy mode: XMM0-XMM7 only, and XMM8-15 keep their values through FXRSTOR', () => {
    const s = sys32();
    seed(s);
    s.cpu.gpr[7] = AREA;
    fill(s, AREA, 512, 0xaa);
    expect(exec(s, FXSAVE)).toBe(-1);
    expect(s.r32(AREA + 284)).toBe((0x01010101 * 32) >>> 0);
    expect(s.r32(AREA + 288)).toBe(0xaaaaaaaa);
    fill(s, SRC, 512, 0);
    s.w16(SRC, 0x37f);
    s.cpu.gpr[6] = SRC;
    expect(exec(s, FXRSTOR)).toBe(-1);
    expect(s.cpu.xmm[0]).toBe(0);
    expect(s.cpu.xmm[32]).toBe((0x01010101 * 33) | 0);
  });

  it('CR4.OSFXSR = 0: XMM registers neither stored nor loaded, MXCSR still is', () => {
    const s = sys64();
    seed(s);
    s.cpu.cr4 &= ~Cr4.OSFXSR;
    s.cpu.gpr[7] = AREA;
    fill(s, AREA, 512, 0xaa);
    expect(exec(s, FXSAVE)).toBe(-1);
    expect(s.r32(AREA + 24)).toBe(0x1fa0);
    expect(s.r32(AREA + 160)).toBe(0xaaaaaaaa);
    fill(s, SRC, 512, 0);
    s.w32(SRC + 24, 0x1f00);
    s.cpu.gpr[6] = SRC;
    expect(exec(s, FXRSTOR)).toBe(-1);
    expect(s.cpu.mxcsr).toBe(0x1f00);
    expect(s.cpu.xmm[0]).toBe(0x01010101);
  });

  it('exceptions: misalignment #GP(0), CR0.EM or CR0.TS #NM, reserved MXCSR bits #GP(0), prefixes #UD', () => {
    const s = sys64();
    s.cpu.gpr[7] = AREA + 8;
    expect(exec(s, FXSAVE)).toBe(Vector.GP);
    s.cpu.gpr[7] = AREA;
    s.cpu.cr0 |= Cr0.TS;
    expect(exec(s, FXSAVE)).toBe(Vector.NM);
    s.cpu.cr0 = (s.cpu.cr0 & ~Cr0.TS) | Cr0.EM;
    expect(exec(s, FXSAVE)).toBe(Vector.NM);
    s.cpu.cr0 &= ~Cr0.EM;
    fill(s, SRC, 512, 0);
    s.w32(SRC + 24, 0x11f80);
    s.cpu.gpr[6] = SRC;
    const before = s.cpu.fcw;
    expect(exec(s, FXRSTOR)).toBe(Vector.GP);
    expect(s.cpu.fcw).toBe(before);
    for (const p of [0x66, 0xf3, 0xf2]) {
      expect(exec(s, [p, ...FXSAVE])).toBe(Vector.UD);
      expect(exec(s, [p, ...LDMXCSR])).toBe(Vector.UD);
      expect(exec(s, [p, ...XSAVE])).toBe(Vector.UD);
    }
    expect(exec(s, [0x0f, 0xae, 0xc0])).toBe(Vector.UD); // mod = 3, no prefix
  });

  it('a page fault on the second page leaves memory and state unchanged', () => {
    const s = sys64(AMD_ZEN, 3);
    fill(s, 0x3ff000, 0x1000, 0x55);
    // The 2 MiB page at 0x400000 made supervisor-only: a CPL-3 FXSAVE at 0x3fff00 faults on it.
    seed(s);
    s.cpu.gpr[7] = 0x3fff00;
    fill(s, 0x3fff00, 512, 0x55);
    // Find and clear the U bit of the PDE mapping 0x400000 by scanning the page directory.
    for (let a = 0x70000; a < 0x80000; a += 8) {
      const lo = s.r32(a);
      if ((lo & 0x80) !== 0 && (lo & ~0xfff) >>> 0 === 0x400000) s.w32(a, lo & ~4);
    }
    s.cpu.flushTlb(true);
    expect(exec(s, FXSAVE)).toBe(Vector.PF);
    for (let k = 0; k < 256; k++) expect(s.r8(0x3fff00 + k)).toBe(0x55);
    // As on the host: the whole area is checked, even the bytes not stored or loaded (FXSAVE in
    // 64-bit mode stores bytes 0-415; XSAVE of x87 state alone stores 0-159 and the header).
    s.cpu.gpr[7] = 0x3fffa0;
    expect(exec(s, FXSAVE)).toBe(Vector.PF);
    expect(s.r8(0x3fffa0)).toBe(0x55);
    s.cpu.gpr[6] = 0x3fffa0;
    const fcw = s.cpu.fcw;
    expect(exec(s, FXRSTOR)).toBe(Vector.PF);
    expect(s.cpu.fcw).toBe(fcw);
    s.cpu.cr4 |= Cr4.OSXSAVE;
    s.cpu.gpr[0] = 1;
    s.cpu.gpr[2] = 0;
    s.cpu.gpr[7] = 0x400000 - 384;
    expect(exec(s, XSAVE)).toBe(Vector.PF);
    expect(s.r8(0x400000 - 384)).toBe(0x55);
  });
});

describe('FXRSTOR loads FSW/FCW as the host does', () => {
  it('ES and B follow the unmasked exception flags; FCW bit 6 reads 1, bits 15:13 and 7 read 0', () => {
    const s = sys64();
    s.cpu.gpr[6] = SRC;
    const cases: [number, number, number, number][] = [
      // fcw, fsw loaded -> fcw, fsw (with TOP) read back by the host
      [0x037f, 0x8000, 0x037f, 0x0000],
      [0x037e, 0x0001, 0x037e, 0x8081],
      [0x037f, 0x0081, 0x037f, 0x0001],
      [0x037e, 0x0041, 0x037e, 0x80c1],
      [0x037f, 0x7fff, 0x037f, 0x7f7f],
      [0xffff, 0x0000, 0x1f7f, 0x0000],
      [0x0000, 0x0000, 0x0040, 0x0000],
    ];
    for (const [fcw, fsw, fcw2, fsw2] of cases) {
      fill(s, SRC, 512, 0);
      s.w16(SRC, fcw);
      s.w16(SRC + 2, fsw);
      expect(exec(s, FXRSTOR)).toBe(-1);
      expect(s.cpu.fcw).toBe(fcw2);
      expect((s.cpu.fsw | (s.cpu.fpTop << 11)) & 0xffff).toBe(fsw2);
    }
  });

  it('AMD loads FOP/FIP/FDP only with ES = 1; Intel always', () => {
    for (const [model, loaded] of [[AMD_ZEN, false], [INTEL_CORE, true]] as const) {
      const s = sys64(model);
      s.cpu.gpr[6] = SRC;
      fill(s, SRC, 512, 0);
      s.w16(SRC, 0x037f);
      s.w32(SRC + 8, 0x12345678);
      s.w32(SRC + 16, 0x9abcdef0);
      s.w16(SRC + 6, 0x1ff);
      expect(exec(s, FXRSTOR)).toBe(-1);
      expect(s.cpu.fipLo >>> 0).toBe(loaded ? 0x12345678 : 0);
      expect(s.cpu.fdpLo >>> 0).toBe(loaded ? 0x9abcdef0 : 0);
      expect(s.cpu.fop).toBe(loaded ? 0x1ff : 0);
    }
  });

  it('clears FERR# when the loaded state has no pending exception', () => {
    const s = sys64();
    const seen: boolean[] = [];
    s.cpu.onFerr = (a) => seen.push(a);
    s.cpu.ferr = true;
    s.cpu.gpr[6] = SRC;
    fill(s, SRC, 512, 0);
    s.w16(SRC, 0x037f);
    expect(exec(s, FXRSTOR)).toBe(-1);
    expect(s.cpu.ferr).toBe(false);
    expect(seen).toEqual([false]);
  });
});

describe('LDMXCSR / STMXCSR', () => {
  it('round-trips every writable bit; reserved bits #GP(0); SSE rules for #UD/#NM', () => {
    const s = sys64();
    s.cpu.gpr[6] = SRC;
    s.cpu.gpr[7] = AREA;
    s.w32(SRC, 0xffff);
    expect(exec(s, [...LDMXCSR, ...STMXCSR])).toBe(-1);
    expect(s.r32(AREA)).toBe(0xffff);
    s.w32(SRC, 0x11f80);
    expect(exec(s, LDMXCSR)).toBe(Vector.GP);
    expect(s.cpu.mxcsr).toBe(0xffff);
    s.cpu.cr4 &= ~Cr4.OSFXSR;
    expect(exec(s, STMXCSR)).toBe(Vector.UD);
    s.cpu.cr4 |= Cr4.OSFXSR;
    s.cpu.cr0 |= Cr0.EM;
    expect(exec(s, STMXCSR)).toBe(Vector.UD);
    s.cpu.cr0 = (s.cpu.cr0 & ~Cr0.EM) | Cr0.TS;
    expect(exec(s, STMXCSR)).toBe(Vector.NM);
  });
});

describe('XSAVE / XRSTOR / XSAVEOPT', () => {
  it('#UD with CR4.OSXSAVE = 0, #NM with CR0.TS (not CR0.EM), #GP(0) unless 64-byte aligned', () => {
    const s = sys64();
    s.cpu.gpr[0] = 3;
    s.cpu.gpr[2] = 0;
    s.cpu.gpr[7] = AREA;
    s.cpu.cr4 &= ~Cr4.OSXSAVE;
    expect(exec(s, XSAVE)).toBe(Vector.UD);
    s.cpu.cr4 |= Cr4.OSXSAVE;
    s.cpu.cr0 |= Cr0.EM;
    expect(exec(s, XSAVE)).toBe(-1);
    s.cpu.cr0 = (s.cpu.cr0 & ~Cr0.EM) | Cr0.TS;
    expect(exec(s, XSAVE)).toBe(Vector.NM);
    s.cpu.cr0 &= ~Cr0.TS;
    s.cpu.gpr[7] = AREA + 32;
    expect(exec(s, XSAVE)).toBe(Vector.GP);
  });

  it('stores only requested components and XSTATE_BV bits; XRSTOR with XSTATE_BV = 0 initializes', () => {
    const s = sys64();
    seed(s);
    s.cpu.gpr[2] = 0;
    s.cpu.gpr[7] = AREA;
    fill(s, AREA, 640, 0xaa);
    s.cpu.gpr[0] = 1; // x87 only
    expect(exec(s, XSAVE)).toBe(-1);
    expect(s.r16(AREA)).toBe(0x027f);
    expect(s.r32(AREA + 24)).toBe(0xaaaaaaaa); // MXCSR belongs to SSE state
    expect(s.r32(AREA + 160)).toBe(0xaaaaaaaa);
    expect(s.r8(AREA + 512)).toBe(0xab); // bit 0 := XINUSE[0] = 1; other bits untouched
    expect(s.r8(AREA + 513)).toBe(0xaa);
    // Now restore an all-zero header: both components initialized, MXCSR still loaded.
    fill(s, SRC, 576, 0);
    s.w32(SRC + 24, 0x1f00);
    s.w16(SRC, 0x1234);
    s.cpu.gpr[0] = 3;
    s.cpu.gpr[6] = SRC;
    expect(exec(s, XRSTOR)).toBe(-1);
    expect(s.cpu.fcw).toBe(0x37f);
    expect(s.cpu.fpEmpty).toBe(0xff);
    expect(s.cpu.mxcsr).toBe(0x1f00);
    expect(Array.from(s.cpu.xmm).every((v) => v === 0)).toBe(true);
    expect(x87InUse(s.cpu)).toBe(false);
    expect(sseInUse(s.cpu)).toBe(false);
    // XSAVEOPT skips components in their initial configuration but writes MXCSR and the header.
    fill(s, AREA, 640, 0xaa);
    expect(exec(s, [0x0f, 0xae, 0x37])).toBe(-1);
    expect(s.r16(AREA)).toBe(0xaaaa);
    expect(s.r32(AREA + 160)).toBe(0xaaaaaaaa);
    expect(s.r32(AREA + 24)).toBe(0x1f00);
    expect(s.r8(AREA + 512)).toBe(0xa8);
  });

  it('XRSTOR #GP(0): XCOMP_BV or header bytes 16-23 nonzero, XSTATE_BV outside XCR0, reserved MXCSR bits', () => {
    const s = sys64();
    s.cpu.gpr[0] = 3;
    s.cpu.gpr[2] = 0;
    s.cpu.gpr[6] = SRC;
    const good = (): void => {
      fill(s, SRC, 576, 0);
      s.w16(SRC, 0x37f);
      s.w32(SRC + 24, 0x1f80);
      s.w32(SRC + 512, 3);
    };
    good();
    s.w8(SRC + 575, 1); // bytes 24-63 of the header are not checked
    expect(exec(s, XRSTOR)).toBe(-1);
    for (const at of [520, 527, 528, 535]) {
      good();
      s.w8(SRC + at, 1);
      expect(exec(s, XRSTOR), `byte ${at}`).toBe(Vector.GP);
    }
    good();
    s.w32(SRC + 512, 7);
    expect(exec(s, XRSTOR)).toBe(Vector.GP);
    s.cpu.xcr0 = 1;
    good();
    s.w32(SRC + 512, 2);
    expect(exec(s, XRSTOR)).toBe(Vector.GP);
    s.cpu.xcr0 = 3;
    good();
    s.w32(SRC + 24, 0x101f80);
    expect(exec(s, XRSTOR)).toBe(Vector.GP);
    s.cpu.gpr[0] = 1; // MXCSR not requested: not checked
    expect(exec(s, XRSTOR)).toBe(-1);
  });
});

describe('XGETBV / XSETBV', () => {
  // XGETBV = 0F 01 D0, XSETBV = 0F 01 D1
  it('XCR0 accepts 1 and 3 only; ECX must be 0; XSETBV needs CPL 0; both need CR4.OSXSAVE', () => {
    const s = sys64();
    const set = (eax: number, edx = 0, ecx = 0): number => {
      s.cpu.gpr[0] = eax;
      s.cpu.gpr[2] = edx;
      s.cpu.gpr[1] = ecx;
      return exec(s, [0x0f, 0x01, 0xd1]);
    };
    expect(set(1)).toBe(-1);
    expect(s.cpu.xcr0).toBe(1);
    expect(set(3)).toBe(-1);
    expect(s.cpu.xcr0).toBe(3);
    for (const [eax, edx, ecx] of [[2, 0, 0], [0, 0, 0], [7, 0, 0], [3, 1, 0], [3, 0, 1]] as const) {
      expect(set(eax, edx, ecx)).toBe(Vector.GP);
      expect(s.cpu.xcr0).toBe(3);
    }
    s.cpu.gpr[1] = 0;
    s.cpu.gprHi[0] = -1;
    expect(exec(s, [0x0f, 0x01, 0xd0])).toBe(-1);
    expect([s.cpu.gpr[0], s.cpu.gprHi[0], s.cpu.gpr[2]]).toEqual([3, 0, 0]);
    s.cpu.gpr[1] = 1; // XINUSE: needs XGETBV1, not advertised
    expect(exec(s, [0x0f, 0x01, 0xd0])).toBe(Vector.GP);
    s.cpu.cr4 &= ~Cr4.OSXSAVE;
    s.cpu.gpr[1] = 0;
    expect(exec(s, [0x0f, 0x01, 0xd0])).toBe(Vector.UD);
    const u = sys64(AMD_ZEN, 3);
    u.cpu.gpr[0] = 3;
    u.cpu.gpr[1] = 0;
    u.cpu.gpr[2] = 0;
    expect(exec(u, [0x0f, 0x01, 0xd1])).toBe(Vector.GP);
    expect(u.cpu.ripLo).toBe(CODE);
    // XGETBV runs at CPL 3; the #GP is the HLT after it.
    expect(exec(u, [0x0f, 0x01, 0xd0])).toBe(Vector.GP);
    expect(u.cpu.ripLo).toBe(CODE + 3);
    expect(u.cpu.gpr[0]).toBe(3);
  });

  it('CR4.OSFXSR, OSXMMEXCPT and OSXSAVE are writable', () => {
    const s = sys64();
    s.cpu.cr4 &= ~(Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.OSXSAVE);
    // mov rax, cr4; or eax, 0x40600; mov cr4, rax
    expect(exec(s, [0x0f, 0x20, 0xe0, 0x0d, 0x00, 0x06, 0x04, 0x00, 0x0f, 0x22, 0xe0])).toBe(-1);
    expect(s.cpu.cr4 & (Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.OSXSAVE)).toBe(Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.OSXSAVE);
  });
});

describe('INIT and RESET', () => {
  it('INIT keeps the x87 state, MXCSR, XMM registers and XCR0; RESET does not', () => {
    const s = sys64();
    seed(s);
    s.cpu.fipLo = 0x1234;
    const fp = [Array.from(s.cpu.fpLo), Array.from(s.cpu.fpHi), Array.from(s.cpu.fpSe), Array.from(s.cpu.xmm)];
    s.cpu.init();
    expect([Array.from(s.cpu.fpLo), Array.from(s.cpu.fpHi), Array.from(s.cpu.fpSe), Array.from(s.cpu.xmm)]).toEqual(fp);
    expect([s.cpu.fcw, s.cpu.fsw, s.cpu.fpTop, s.cpu.fpEmpty, s.cpu.fipLo, s.cpu.mxcsr, s.cpu.xcr0]).toEqual([0x027f, 0x4100, 6, 0x3f, 0x1234, 0x1fa0, 3]);
    expect(s.cpu.cr4).toBe(0);
    s.cpu.reset();
    expect([s.cpu.fcw, s.cpu.fsw, s.cpu.fpTop, s.cpu.fpEmpty, s.cpu.fipLo, s.cpu.mxcsr, s.cpu.xcr0]).toEqual([0x40, 0, 0, 0, 0, 0x1f80, 1]);
    expect(Array.from(s.cpu.xmm).every((v) => v === 0)).toBe(true);
  });
});
