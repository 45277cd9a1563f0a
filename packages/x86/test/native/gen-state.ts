/**
 * Differential-campaign forms: the x87/SSE state instructions (owned by the state helper; the
 * code is src/fpu/state-save.ts). See README-fp.md for the API.
 *
 * The data window is 128 bytes at the start of a zero-filled page, so a 512- or 576-byte state
 * area can be read but not written there:
 * - FXRSTOR / FXRSTOR64 from window offset 0: FCW, FSW, the abridged tag, FOP/FIP/FDP, MXCSR and
 *   ST0-ST5 come from the window (random, MXCSR sometimes with a reserved bit: #GP(0)); ST6, ST7
 *   and every XMM register from the zero rest of the page. FOP/FIP/FDP are not compared.
 * - XRSTOR / XRSTOR64 from offset 0: the header (at 512) is zero, so every requested component
 *   gets its initial configuration; MXCSR is loaded from the window whenever SSE state is
 *   requested (EDX:EAX random, including all ones: the host's larger XCR0 only adds AVX state,
 *   which is not compared).
 * - FXSAVE/FXRSTOR misaligned (16-byte rule), XSAVE/XRSTOR/XSAVEOPT misaligned (64-byte rule):
 *   #GP(0) before anything is written.
 * - 66/F2/F3 before FXSAVE..XRSTOR (0F AE /0-/5 memory): #UD (not /6: 66 0F AE /6 is CLWB, which
 *   this host has and the emulated models do not advertise; not F3 /4, PTWRITE on Intel).
 * - XGETBV with ECX = 0, then AND EAX, 3: the host's XCR0 also enables AVX and AVX-512 state; the
 *   x87 and SSE bits and EDX (0) must agree.
 * LDMXCSR/STMXCSR are core forms (fp-forms.ts). XSAVE/XSAVEOPT/FXSAVE with a successful store
 * cannot be compared here (the area leaves the window); test/fpu-state-native.test.ts does that.
 */
import { type FpForm, type FpGen, fpForm } from './fp-gen.js';

/** A /digit ModRM.reg, with the ignored REX.R set sometimes. */
function digit(g: FpGen, d: number): number {
  return d | (g.rng.chance(1, 10) ? 8 : 0);
}

/** An MXCSR value for an image: writable bits, sometimes one reserved bit (never 17, AMD's MM). */
function imageMxcsr(g: FpGen): number {
  let v = g.rng.next() & 0xffff;
  if (g.rng.chance(1, 3)) v = 0x1f80 | (v & 0x603f);
  if (g.rng.chance(1, 10)) v = (v | (1 << g.rng.pick([16, 18, 20, 24, 31]))) >>> 0;
  return v >>> 0;
}

/** Fills window bytes 0-127 with a legacy-region image: control words, pointers, MXCSR, ST0-ST5. */
function windowImage(g: FpGen): void {
  const rng = g.rng;
  const fcw = rng.chance(1, 2) ? 0x037f & ~(rng.next() & 0x3f) : rng.next() & 0xffff;
  g.memWrite(0, 2, fcw);
  g.memWrite(2, 2, rng.next() & 0xffff);
  g.memWrite(4, 4, rng.next());
  g.memWrite(8, 8, rng.next(), rng.next());
  g.memWrite(16, 8, rng.next(), rng.next());
  g.memWrite(24, 4, imageMxcsr(g));
  g.memWrite(28, 4, rng.next());
  for (let i = 0; i < 6; i++) {
    const off = 32 + 16 * i;
    g.memF80(off);
    g.memWrite(off + 10, 2, rng.next());
    g.memWrite(off + 12, 4, rng.next());
  }
}

export function stateForms(): FpForm[] {
  const forms: FpForm[] = [];
  for (const w of [false, true]) {
    const n = w ? 'fxrstor64' : 'fxrstor';
    forms.push(
      fpForm(`${n} m512 (0f ae /1)`, 'state', (g) => {
        g.randomFpState();
        windowImage(g);
        g.emit({ w, op: [0x0f, 0xae], reg: digit(g, 1), rm: g.memAt(0, g.rng.chance(1, 6)) });
      }, { feature: 'fxsr' }),
      fpForm(`xrstor${w ? '64' : ''} m (0f ae /5, header zero)`, 'state', (g) => {
        g.randomFpState();
        windowImage(g);
        // EDX:EAX, the requested-feature bitmap (gpr[2r] / gpr[2r + 1]: low / high half of GPR r).
        g.reserve(0, 2);
        g.gpr[0] = g.rng.pick([0, 1, 2, 3, 3, -1]);
        g.gpr[4] = g.rng.chance(1, 4) ? g.rng.next() | 0 : 0;
        g.emit({ w, op: [0x0f, 0xae], reg: digit(g, 5), rm: g.memAt(0, g.rng.chance(1, 6)) });
      }, { feature: 'xsave' }),
    );
  }
  // Misaligned areas: #GP(0). (reg, alignment)
  const mis: [number, number, string][] = [
    [0, 16, 'fxsave'],
    [1, 16, 'fxrstor'],
    [4, 64, 'xsave'],
    [5, 64, 'xrstor'],
    [6, 64, 'xsaveopt'],
  ];
  for (const [reg, align, name] of mis) {
    forms.push(
      fpForm(`${name} misaligned (0f ae /${reg})`, 'state', (g) => {
        g.randomFpState();
        g.reserve(0, 2);
        g.gpr[0] = 3;
        g.gpr[4] = 0;
        let off = g.rng.below(DATA_WINDOW);
        if (off % align === 0) off += 8;
        g.emit({ w: g.rng.bool(), op: [0x0f, 0xae], reg: digit(g, reg), rm: g.memAt(off, g.rng.chance(1, 6)) });
      }, { feature: reg <= 1 ? 'fxsr' : 'xsave', faults: 'always' }),
    );
  }
  forms.push(
    fpForm('66/f2/f3 0f ae /0-/5 memory', 'state', (g) => {
      g.randomFpState();
      const pfx = g.rng.pick([0x66, 0xf2, 0xf3]);
      let reg = g.rng.below(6);
      if (pfx === 0xf3 && reg === 4) reg = 5;
      g.emit({ pfx: [pfx], op: [0x0f, 0xae], reg: digit(g, reg), rm: g.memRm(4, { align: 64 }) });
    }, { feature: 'xsave', faults: 'always' }),
    fpForm('xgetbv (ecx = 0); and eax, 3', 'state', (g) => {
      g.randomFpState();
      g.gpr[2] = 0; // ECX = 0 (RCX bits 63:32 are ignored)
      g.gpr[3] = g.rng.chance(1, 2) ? 0 : g.rng.next() | 0;
      g.raw(0x0f, 0x01, 0xd0, 0x83, 0xe0, 0x03);
    }, { feature: 'xsave', faults: 'never' }),
  );
  return forms;
}

/** Window size: misaligned offsets stay in it (the access itself faults before any byte moves). */
const DATA_WINDOW = 128 - 8;
