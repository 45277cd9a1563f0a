/**
 * Differential-campaign forms: MMX, SSE/SSE2 integer and data-movement instructions, and the
 * SSE3 moves, of the 0F map (src/fpu/simd-int.ts, simd-move.ts; owned by the simd-int helper).
 * See README-fp.md for the API (fp-gen.ts) and how to run and debug forms.
 *
 * The forms come from the table in simd-int-forms.ts (which the unit test test/simd-int.test.ts
 * also runs through its own generator); every one is built here the same way:
 * - a random x87/SSE state (so MMX forms meet random TOP/tags, and pending unmasked x87
 *   exceptions, which are #MF), with integer edge lanes in XMM0-15 and MM0-7 most of the time;
 * - ModRM.reg random over 0-15 (REX.R, ignored for MMX registers) or the group's /digit;
 * - the r/m operand: a register (0-15), or a memory operand in the window filled with integer
 *   edge values. Aligned forms get a misaligned address one time in eight (#GP(0)); register-only
 *   forms get a memory operand, and memory-only forms a register, one time in eight (#UD);
 * - 66 before a mandatory F3/F2 now and then (F3/F2 decide), REX.W at random (MOVD becomes MOVQ,
 *   MOVNTI 64-bit; ignored elsewhere), imm8 over small counts and all byte values;
 * - MASKMOVQ/MASKMOVDQU store through rDI (or EDI with 67h) inside the window.
 */
import { DATA_BASE, DATA_SIZE } from './layout.js';
import { type FpForm, type FpGen, fpForm } from './fp-gen.js';
import type { Rm } from './generator.js';
import { type SimdForm, simdIntFormTable } from './simd-int-forms.js';

const RDI = 7;

/** The host feature (/proc/cpuinfo flag) a form needs. */
function featureOf(f: SimdForm): string {
  if (f.name.startsWith('movsldup') || f.name.startsWith('movshdup') || f.name.startsWith('movddup') || f.name.startsWith('lddqu')) return 'pni';
  if (f.pfx !== 0) return 'sse2';
  if (f.reg === 'xmm' || f.rm === 'xmm') return 'sse';
  return 'mmx';
}

/** Whether REX.W changes the instruction (MOVD -> MOVQ, MOVNTI r64). */
function wMatters(f: SimdForm): boolean {
  return ((f.op === 0x6e || f.op === 0x7e) && (f.pfx === 0 || f.pfx === 0x66)) || f.op === 0xc3;
}

function build(f: SimdForm, g: FpGen): void {
  const rng = g.rng;
  g.randomFpState();
  if (rng.chance(3, 4)) for (let n = 0; n < 16; n++) g.randomXmm(n, 'int');
  if (rng.chance(3, 4)) {
    for (let n = 0; n < 8; n++) {
      g.value(64);
      g.setMm(n, g.vlo, g.vhi);
    }
  }
  const pfx: number[] = [];
  if ((f.pfx === 0xf3 || f.pfx === 0xf2) && rng.chance(1, 8)) pfx.push(0x66);
  if (f.pfx !== 0) pfx.push(f.pfx);
  const op = [0x0f, f.op];
  if (f.noModrm === true) {
    g.emit({ pfx, op });
    return;
  }
  const w = wMatters(f) ? rng.bool() : rng.chance(1, 8);
  const reg = typeof f.reg === 'number' ? f.reg | (rng.chance(1, 8) ? 8 : 0) : rng.below(16);
  let mem: boolean;
  if (f.rdiStore === true || f.mem === 0) mem = rng.chance(1, 8);
  else if (f.memOnly === true) mem = !rng.chance(1, 8);
  else mem = rng.bool();
  let rm: Rm;
  if (mem) {
    const size = f.mem === 0 ? 8 : wMatters(f) && w ? 8 : f.mem;
    const align = f.aligned === true && !rng.chance(1, 8) ? 16 : 1;
    rm = g.memRm(size, { align });
    g.memLanes(rm.off, size, 'int');
  } else {
    rm = g.regRm(rng.below(16));
  }
  let a32 = false;
  if (f.rdiStore === true) {
    const n = f.mem;
    const off = rng.below(DATA_SIZE - n + 1);
    a32 = rng.chance(1, 5);
    if (a32) g.setLoHi(RDI, DATA_BASE + off, rng.next());
    else g.setQ(RDI, DATA_BASE + off);
    g.reserve(RDI);
    for (let i = 0; i < DATA_SIZE; i += 8) g.memInt(i, 8);
  }
  const k = rng.below(4);
  const imm = k === 0 ? rng.below(17) : k === 1 ? rng.below(70) : rng.below(256);
  g.emit({ pfx, op, reg, rm, w, a32: a32 || undefined, ...(f.imm === true ? { imm, immSize: 1 } : {}) });
}

export function simdIntForms(): FpForm[] {
  return simdIntFormTable().map((f) => fpForm(`${f.name} [${f.pfx === 0 ? '' : `${f.pfx.toString(16)} `}0f ${f.op.toString(16).padStart(2, '0')}]`, 'simd-int', (g) => build(f, g), { feature: featureOf(f) }));
}
