/**
 * Differential-campaign forms: SSSE3, SSE4.1 and SSE4.2 integer and string instructions (owned by the simd-ext helper).
 * See README-fp.md for the API (fp-gen.ts) and how to run and debug forms.
 *
 * Every form starts from a random x87/SSE state (so MM forms also check the switch to MMX use,
 * #MF for a pending x87 exception, and TOP/tags after a faulting memory operand), then puts
 * edge lane values in the operands: bytes and words at the saturation and sign boundaries
 * (0, 1, 7F, 80, 81, FE, FF; 7FFF, 8000, 4000, ...), random lanes, and, for PCMPxSTRx, short
 * strings over a small alphabet with embedded zero bytes/words so that matches, ranges and
 * terminators all occur. 16-byte memory operands are misaligned a quarter of the time (#GP(0)
 * for the legacy-SSE forms, allowed for PCMPxSTRx); every imm8 value is drawn for the imm8
 * forms. A last group mixes undefined mandatory prefixes (F3, F2, none for the SSE4.1 opcodes)
 * that must be #UD.
 */
import { type FpForm, type FpGen, fpForm } from './fp-gen.js';
import { RAX, RDX, type Rm } from './generator.js';

const BYTE_EDGES = [0, 1, 2, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x40, 0xc0];
const WORD_EDGES = [0, 1, 0x7fff, 0x8000, 0x8001, 0xffff, 0xfffe, 0x4000, 0xc000, 0x00ff, 0xff00, 0x0080];
const DWORD_EDGES = [0, 1, 0x7fffffff, 0x80000000, 0x80000001, 0xffffffff, 0xfffffffe, 0x0000ffff, 0x00010000, 0x7fff, 0xffff8000];
/** String bytes: a few letters (so that equal-any / ranges / substring matches happen), zero, and sign-boundary bytes. */
const STR_BYTES = [0x61, 0x62, 0x63, 0x61, 0x62, 0x7a, 0x41, 0x00, 0x80, 0xff, 0x7f, 0x01];
const STR_WORDS = [0x61, 0x62, 0x63, 0x0000, 0x8000, 0xffff, 0x7fff, 0x0061, 0x6100, 0x0001];

/** Sixteen bytes of edge / random / string content into `out`. */
function lanes(g: FpGen, out: Uint8Array, str: boolean): void {
  const rng = g.rng;
  const mode = str ? rng.pick([4, 4, 5, 5, 6]) : rng.below(5);
  for (let i = 0; i < 16; i += 4) {
    let v: number;
    switch (mode) {
      case 0:
        v = rng.next();
        break;
      case 1:
        v = rng.pick(BYTE_EDGES) | (rng.pick(BYTE_EDGES) << 8) | (rng.pick(BYTE_EDGES) << 16) | (rng.pick(BYTE_EDGES) << 24);
        break;
      case 2:
        v = rng.pick(WORD_EDGES) | (rng.pick(WORD_EDGES) << 16);
        break;
      case 3:
        v = rng.chance(1, 3) ? rng.next() : rng.pick(DWORD_EDGES);
        break;
      case 4:
      case 6:
        v = rng.pick(STR_BYTES) | (rng.pick(STR_BYTES) << 8) | (rng.pick(STR_BYTES) << 16) | (rng.pick(STR_BYTES) << 24);
        break;
      default:
        v = rng.pick(STR_WORDS) | (rng.pick(STR_WORDS) << 16);
    }
    out[i] = v & 0xff;
    out[i + 1] = (v >>> 8) & 0xff;
    out[i + 2] = (v >>> 16) & 0xff;
    out[i + 3] = (v >>> 24) & 0xff;
  }
  // Strings: often no terminator at all, or (mode 6) a prefix copied from elsewhere is likely.
  if (str && rng.chance(1, 3)) for (let i = 0; i < 16; i++) if (out[i] === 0) out[i] = 0x61;
}

const tmp = new Uint8Array(16);

function fillXmm(g: FpGen, n: number, str = false): void {
  lanes(g, tmp, str);
  const d = (k: number): number => tmp[k]! | (tmp[k + 1]! << 8) | (tmp[k + 2]! << 16) | (tmp[k + 3]! << 24);
  g.setXmm(n, d(0), d(4), d(8), d(12));
}

function fillMem(g: FpGen, off: number, bytes: number, str = false): void {
  lanes(g, tmp, str);
  for (let i = 0; i < bytes; i++) g.mem[off + i] = tmp[i]!;
}

/** Shares some content between two operands (substring matches for PCMPxSTRx, equal lanes for compares). */
function shareXmm(g: FpGen, from: number, to: number): void {
  if (!g.rng.chance(1, 3)) return;
  const k = g.rng.below(4);
  const l = [0, 1, 2, 3].map((i) => g.xmmLane(to, i));
  l[k] = g.xmmLane(from, g.rng.below(4));
  g.setXmm(to, l[0]!, l[1]!, l[2]!, l[3]!);
}

/** An XMM register or a 16-byte memory operand (misaligned a quarter of the time), with edge or string contents. */
function xmmSrc(g: FpGen, reg: number, str = false, bytes = 16): Rm {
  const aligned = bytes === 16 && !g.rng.chance(1, 4);
  const rm = g.xmmRm(bytes, { align: aligned ? 16 : 1 });
  if (rm.mod === 3) {
    fillXmm(g, rm.rm | (rm.b << 3), str);
    if (str) shareXmm(g, reg, rm.rm | (rm.b << 3));
  } else fillMem(g, rm.off, bytes, str);
  return rm;
}

/** An MM register or an 8-byte memory operand with edge contents. */
function mmSrc(g: FpGen): Rm {
  const rm = g.mmRm(8);
  lanes(g, tmp, false);
  if (rm.mod === 3) g.setMm(rm.rm, tmp[0]! | (tmp[1]! << 8) | (tmp[2]! << 16) | (tmp[3]! << 24), tmp[4]! | (tmp[5]! << 8) | (tmp[6]! << 16) | (tmp[7]! << 24));
  else for (let i = 0; i < 8; i++) g.mem[rm.off + i] = tmp[i]!;
  return rm;
}

function mmDst(g: FpGen): number {
  const r = g.rng.below(8);
  lanes(g, tmp, false);
  g.setMm(r, tmp[0]! | (tmp[1]! << 8) | (tmp[2]! << 16) | (tmp[3]! << 24), tmp[4]! | (tmp[5]! << 8) | (tmp[6]! << 16) | (tmp[7]! << 24));
  // REX.R selects no MMX register (SDM Vol. 1 §9.2.2).
  return r | (g.rng.chance(1, 10) ? 8 : 0);
}

function xmmDst(g: FpGen, str = false): number {
  const r = g.rng.below(16);
  fillXmm(g, r, str);
  return r;
}

/** imm8: edge values, small shift counts and uniformly random. */
function imm(g: FpGen): number {
  return g.rng.chance(1, 3) ? g.rng.below(40) : g.imm8();
}

/** An explicit PCMPESTRx length: small (negative too), the saturation edges, or with high bits (REX.W matters). */
function length(g: FpGen, r: number): void {
  const rng = g.rng;
  switch (rng.below(6)) {
    case 0:
    case 1:
      g.setQ(r, rng.range(-20, 20));
      break;
    case 2:
      g.setLoHi(r, rng.range(-20, 20) >>> 0, rng.next());
      break;
    case 3:
      g.setLoHi(r, rng.pick([0x80000000, 0x7fffffff, 0x80000010, 0xfffffff0, 16, 17, 8, 9, 15, 7]), rng.pick([0, 0, 0xffffffff, 1, 0x80000000]));
      break;
    default:
      g.setQ(r, rng.range(0, 17));
  }
}

const SSSE3_38: [number, string][] = [
  [0x00, 'pshufb'],
  [0x01, 'phaddw'],
  [0x02, 'phaddd'],
  [0x03, 'phaddsw'],
  [0x04, 'pmaddubsw'],
  [0x05, 'phsubw'],
  [0x06, 'phsubd'],
  [0x07, 'phsubsw'],
  [0x08, 'psignb'],
  [0x09, 'psignw'],
  [0x0a, 'psignd'],
  [0x0b, 'pmulhrsw'],
  [0x1c, 'pabsb'],
  [0x1d, 'pabsw'],
  [0x1e, 'pabsd'],
];

const SSE41_38: [number, string][] = [
  [0x10, 'pblendvb'],
  [0x14, 'blendvps'],
  [0x15, 'blendvpd'],
  [0x17, 'ptest'],
  [0x28, 'pmuldq'],
  [0x29, 'pcmpeqq'],
  [0x2b, 'packusdw'],
  [0x38, 'pminsb'],
  [0x39, 'pminsd'],
  [0x3a, 'pminuw'],
  [0x3b, 'pminud'],
  [0x3c, 'pmaxsb'],
  [0x3d, 'pmaxsd'],
  [0x3e, 'pmaxuw'],
  [0x3f, 'pmaxud'],
  [0x40, 'pmulld'],
  [0x41, 'phminposuw'],
];

const PMOVX: [number, string, number][] = [
  [0x20, 'bw', 8],
  [0x21, 'bd', 4],
  [0x22, 'bq', 2],
  [0x23, 'wd', 8],
  [0x24, 'wq', 4],
  [0x25, 'dq', 8],
];

const hex = (v: number): string => v.toString(16).padStart(2, '0');

export function simdExtForms(): FpForm[] {
  const forms: FpForm[] = [];
  const p66 = [0x66];
  for (const [op, name] of SSSE3_38) {
    forms.push(
      fpForm(`${name} mm, mm/m64 (0f 38 ${hex(op)})`, 'ssse3', (g) => {
        g.randomFpState();
        const reg = mmDst(g);
        g.emit({ op: [0x0f, 0x38, op], reg, rm: mmSrc(g) });
      }, { feature: 'ssse3' }),
      fpForm(`${name} xmm, xmm/m128 (66 0f 38 ${hex(op)})`, 'ssse3', (g) => {
        g.randomFpState();
        const reg = xmmDst(g);
        g.emit({ pfx: p66, w: g.rng.chance(1, 8), op: [0x0f, 0x38, op], reg, rm: xmmSrc(g, reg) });
      }, { feature: 'ssse3' }),
    );
  }
  forms.push(
    fpForm('palignr mm, mm/m64, imm8 (0f 3a 0f)', 'ssse3', (g) => {
      g.randomFpState();
      const reg = mmDst(g);
      g.emit({ op: [0x0f, 0x3a, 0x0f], reg, rm: mmSrc(g), immSize: 1, imm: imm(g) });
    }, { feature: 'ssse3' }),
    fpForm('palignr xmm, xmm/m128, imm8 (66 0f 3a 0f)', 'ssse3', (g) => {
      g.randomFpState();
      const reg = xmmDst(g);
      g.emit({ pfx: p66, op: [0x0f, 0x3a, 0x0f], reg, rm: xmmSrc(g, reg), immSize: 1, imm: imm(g) });
    }, { feature: 'ssse3' }),
  );

  for (const [op, name] of [...SSE41_38, [0x37, 'pcmpgtq'] as [number, string]]) {
    forms.push(
      fpForm(`${name} xmm, xmm/m128 (66 0f 38 ${hex(op)})`, op === 0x37 ? 'sse4.2' : 'sse4.1', (g) => {
        g.randomFpState();
        const reg = xmmDst(g);
        if (op >= 0x10 && op <= 0x15) fillXmm(g, 0); // the blend mask (XMM0)
        const rm = xmmSrc(g, reg);
        if (rm.mod === 3 && g.rng.chance(1, 4)) shareXmm(g, reg, rm.rm | (rm.b << 3));
        g.emit({ pfx: p66, w: g.rng.chance(1, 8), op: [0x0f, 0x38, op], reg, rm });
      }, { feature: op === 0x37 ? 'sse4_2' : 'sse4_1' }),
    );
  }
  for (const [op, nm, bytes] of PMOVX) {
    for (const [base, kind] of [[0, 'sx'], [0x10, 'zx']] as const) {
      forms.push(
        fpForm(`pmov${kind}${nm} xmm, xmm/m${bytes * 8} (66 0f 38 ${hex(op + base)})`, 'sse4.1', (g) => {
          g.randomFpState();
          const reg = xmmDst(g);
          g.emit({ pfx: p66, op: [0x0f, 0x38, op + base], reg, rm: xmmSrc(g, reg, false, bytes) });
        }, { feature: 'sse4_1' }),
      );
    }
  }
  forms.push(
    fpForm('movntdqa xmm, m128 (66 0f 38 2a)', 'sse4.1', (g) => {
      g.randomFpState();
      const reg = xmmDst(g);
      // Register forms (#UD) a tenth of the time; a misaligned address (#GP(0)) a quarter.
      const rm = g.rng.chance(1, 10) ? g.regRm(g.rng.below(16)) : g.xmmRm(16, { memOnly: true, align: g.rng.chance(1, 4) ? 1 : 16 });
      if (rm.mod !== 3) fillMem(g, rm.off, 16);
      g.emit({ pfx: p66, op: [0x0f, 0x38, 0x2a], reg, rm });
    }, { feature: 'sse4_1' }),
  );
  for (const [op, name] of [[0x0c, 'blendps'], [0x0d, 'blendpd'], [0x0e, 'pblendw'], [0x42, 'mpsadbw']] as const) {
    forms.push(
      fpForm(`${name} xmm, xmm/m128, imm8 (66 0f 3a ${hex(op)})`, 'sse4.1', (g) => {
        g.randomFpState();
        const reg = xmmDst(g);
        g.emit({ pfx: p66, op: [0x0f, 0x3a, op], reg, rm: xmmSrc(g, reg), immSize: 1, imm: g.rng.below(256) });
      }, { feature: 'sse4_1' }),
    );
  }
  // Extracts: the GPR or memory destination is the r/m operand; REX.W selects PEXTRQ (16 only).
  for (const [op, name, bytes] of [[0x14, 'pextrb', 1], [0x15, 'pextrw', 2], [0x16, 'pextrd/q', 4], [0x17, 'extractps', 4]] as const) {
    forms.push(
      fpForm(`${name} r/m, xmm, imm8 (66 0f 3a ${hex(op)})`, 'sse4.1', (g) => {
        g.randomFpState();
        const reg = xmmDst(g);
        const w = g.rng.bool();
        const rm = g.anyRm(op === 0x16 && w ? 8 : bytes);
        g.emit({ pfx: p66, w, op: [0x0f, 0x3a, op], reg, rm, immSize: 1, imm: g.rng.below(256) });
      }, { feature: 'sse4_1' }),
    );
  }
  for (const [op, name, bytes] of [[0x20, 'pinsrb', 1], [0x22, 'pinsrd/q', 4]] as const) {
    forms.push(
      fpForm(`${name} xmm, r/m, imm8 (66 0f 3a ${hex(op)})`, 'sse4.1', (g) => {
        g.randomFpState();
        const reg = xmmDst(g);
        const w = g.rng.bool();
        const n = op === 0x22 && w ? 8 : bytes;
        const rm = g.anyRm(n);
        if (rm.mod !== 3) fillMem(g, rm.off, n);
        g.emit({ pfx: p66, w, op: [0x0f, 0x3a, op], reg, rm, immSize: 1, imm: g.rng.below(256) });
      }, { feature: 'sse4_1' }),
    );
  }
  forms.push(
    fpForm('insertps xmm, xmm/m32, imm8 (66 0f 3a 21)', 'sse4.1', (g) => {
      g.randomFpState();
      const reg = xmmDst(g);
      g.emit({ pfx: p66, op: [0x0f, 0x3a, 0x21], reg, rm: xmmSrc(g, reg, false, 4), immSize: 1, imm: g.rng.below(256) });
    }, { feature: 'sse4_1' }),
  );

  // PCMPxSTRx: every imm8 (bit 7 is ignored), strings with zero elements, explicit lengths in
  // RAX/RDX (REX.W: 64-bit), unaligned memory operands.
  for (const [op, name] of [[0x60, 'pcmpestrm'], [0x61, 'pcmpestri'], [0x62, 'pcmpistrm'], [0x63, 'pcmpistri']] as const) {
    forms.push(
      fpForm(`${name} xmm, xmm/m128, imm8 (66 0f 3a ${hex(op)})`, 'sse4.2', (g) => {
        g.randomFpState();
        if (op <= 0x61) {
          g.reserve(RAX, RDX);
          length(g, RAX);
          length(g, RDX);
        }
        const reg = xmmDst(g, true);
        const rm = g.xmmRm(16, { align: 1 });
        if (rm.mod === 3) {
          fillXmm(g, rm.rm | (rm.b << 3), true);
          shareXmm(g, reg, rm.rm | (rm.b << 3));
        } else fillMem(g, rm.off, 16, true);
        g.emit({ pfx: p66, w: g.rng.bool(), op: [0x0f, 0x3a, op], reg, rm, immSize: 1, imm: g.rng.below(256) });
      }, { feature: 'sse4_2' }),
    );
  }

  // Undefined mandatory prefixes: F3 / F2 (the last of them counts; 66 then does not select
  // the XMM form) and no prefix for the SSE4.1/4.2 opcodes.
  const ud38 = [0x00, 0x04, 0x0b, 0x1c, 0x10, 0x17, 0x20, 0x2a, 0x30, 0x37, 0x3f, 0x41];
  const ud3a = [0x0c, 0x0f, 0x14, 0x16, 0x20, 0x21, 0x22, 0x42, 0x60, 0x63];
  forms.push(
    fpForm('undefined prefix 0f 38 / 0f 3a (#UD)', 'sse4.1', (g) => {
      g.randomFpState();
      const three = g.rng.bool();
      const op = g.rng.pick(three ? ud3a : ud38);
      const mmx = three ? op === 0x0f : op < 0x20 && op !== 0x10 && op !== 0x17;
      const pfx = g.rng.pick(mmx ? [[0xf3], [0xf2], [0x66, 0xf3], [0xf2, 0x66], [0xf3, 0xf2]] : [[], [0xf3], [0xf2], [0x66, 0xf3], [0xf2, 0x66]]);
      const reg = g.rng.below(16);
      const rm = g.rng.bool() ? g.regRm(g.rng.below(16)) : g.memRm(16, { align: 16 });
      g.emit({ pfx, op: [0x0f, three ? 0x3a : 0x38, op], reg, rm, immSize: three ? 1 : undefined, imm: g.rng.below(256) });
    }, { feature: 'sse4_2', faults: 'always' }),
  );
  return forms;
}
