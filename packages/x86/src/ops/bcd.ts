/**
 * Decimal-arithmetic adjustments: DAA (27), DAS (2F), AAA (37), AAS (3F), AAM (D4 ib),
 * AAD (D5 ib), and the undocumented SALC (D6) (SDM Vol. 2 instruction pages). All are invalid
 * in 64-bit mode (the decoder makes them #UD there). AAM with an immediate of 0 is #DE.
 *
 * Flags the SDM leaves undefined follow AMD hardware, measured through the differential oracle
 * in compatibility mode over every AL (and a sample of AX) with every CF/AF input, and are used
 * for both vendors:
 * - DAA: OF = the adjusted AL is negative and the original AL was not (signed overflow of the
 *   addition); DAS: OF = the original AL was negative and the adjusted AL is not;
 * - AAA/AAS: the flags of the 16-bit addition AX + 106h (AAS: subtraction AX - 106h), or of
 *   AX + 0 when no adjustment is made: SF, ZF, PF and OF from that 16-bit result (before AL is
 *   masked to its low nibble; PF from its low byte); AF = CF = "adjusted" as documented;
 * - AAM: OF = AF = CF = 0; AAD: OF, AF, CF of the byte addition AL + (AH * imm8).
 * - SALC: AL = CF ? FFh : 00h, no flags (valid outside 64-bit mode on AMD and Intel).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as stateNs from '../state.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { R_IMM } = decodedNs;
const { PARITY, setArithFlags } = flagsNs;
const { defineHandler, OpMap, setOp } = optableNs;
const { Vector } = stateNs;

const CF = 0x1;
const PF = 0x4;
const AF = 0x10;
const ZF = 0x40;
const SF = 0x80;
const OF = 0x800;

/** SF, ZF, PF of a byte result. */
function szp8(r: number): number {
  return (r & SF) | (r === 0 ? ZF : 0) | (PARITY[r]! !== 0 ? PF : 0);
}

/** DAA (27) and DAS (2F) (SDM Vol. 2 "DAA", "DAS" Operation). */
function daaDas(cpu: Cpu, sub: boolean): void {
  const g = cpu.gpr;
  const oldAl = g[0]! & 0xff;
  const oldCf = cpu.fAux >>> 31;
  const af = (cpu.fAux >>> 3) & 1;
  let al = oldAl;
  let cf = 0;
  let naf = 0;
  if ((al & 0xf) > 9 || af !== 0) {
    const t = sub ? al - 6 : al + 6;
    cf = oldCf | (t > 0xff || t < 0 ? 1 : 0);
    al = t & 0xff;
    naf = 1;
  }
  if (oldAl > 0x99 || oldCf !== 0) {
    al = (sub ? al - 0x60 : al + 0x60) & 0xff;
    cf = 1;
  } else if (!sub) {
    cf = 0;
  }
  const of = sub ? (oldAl & ~al & 0x80) !== 0 : (~oldAl & al & 0x80) !== 0;
  g[0] = (g[0]! & ~0xff) | al;
  setArithFlags(cpu, cf | (naf !== 0 ? AF : 0) | szp8(al) | (of ? OF : 0));
}

/** AAA (37) and AAS (3F) (SDM Vol. 2 "AAA", "AAS" Operation). */
function aaaAas(cpu: Cpu, sub: boolean): void {
  const g = cpu.gpr;
  const ax = g[0]! & 0xffff;
  const adjust = (ax & 0xf) > 9 || ((cpu.fAux >>> 3) & 1) !== 0;
  const b = adjust ? 0x106 : 0;
  const r = (sub ? ax - b : ax + b) & 0xffff;
  const c = sub ? (~ax & b) | (~(ax ^ b) & r) : (ax & b) | ((ax | b) & ~r);
  const of = ((c >>> 15) ^ (c >>> 14)) & 1;
  g[0] = (g[0]! & ~0xffff) | (r & 0xff0f);
  setArithFlags(
    cpu,
    (adjust ? CF | AF : 0) | ((r >>> 8) & SF) | (r === 0 ? ZF : 0) | (PARITY[r & 0xff]! !== 0 ? PF : 0) | (of !== 0 ? OF : 0),
  );
}

/** AAM imm8 (D4): AH = AL / imm8, AL = AL mod imm8; #DE when imm8 = 0. */
function aam(cpu: Cpu, d: number): void {
  const imm = cpu.rec[d + R_IMM]! & 0xff;
  if (imm === 0) cpu.raise(Vector.DE);
  const g = cpu.gpr;
  const al = g[0]! & 0xff;
  const q = Math.floor(al / imm);
  const r = al - q * imm;
  g[0] = (g[0]! & ~0xffff) | (q << 8) | r;
  setArithFlags(cpu, szp8(r));
}

/** AAD imm8 (D5): AL = (AL + AH * imm8) & FFh, AH = 0. */
function aad(cpu: Cpu, d: number): void {
  const imm = cpu.rec[d + R_IMM]! & 0xff;
  const g = cpu.gpr;
  const al = g[0]! & 0xff;
  const p = (((g[0]! >>> 8) & 0xff) * imm) & 0xff;
  const s = al + p;
  const r = s & 0xff;
  const c = (al & p) | ((al | p) & ~r);
  const cf = (c >>> 7) & 1;
  const af = (c >>> 3) & 1;
  const of = ((c >>> 7) ^ (c >>> 6)) & 1;
  g[0] = (g[0]! & ~0xffff) | r;
  setArithFlags(cpu, cf | (af !== 0 ? AF : 0) | szp8(r) | (of !== 0 ? OF : 0));
}

/** SALC (D6): AL = CF ? FFh : 00h; flags unchanged. */
function salc(cpu: Cpu): void {
  const g = cpu.gpr;
  g[0] = (g[0]! & ~0xff) | (cpu.fAux < 0 ? 0xff : 0);
}

export function installBcd(): void {
  setOp(OpMap.One, 0x27, defineHandler('daa', (cpu) => daaDas(cpu, false)));
  setOp(OpMap.One, 0x2f, defineHandler('das', (cpu) => daaDas(cpu, true)));
  setOp(OpMap.One, 0x37, defineHandler('aaa', (cpu) => aaaAas(cpu, false)));
  setOp(OpMap.One, 0x3f, defineHandler('aas', (cpu) => aaaAas(cpu, true)));
  setOp(OpMap.One, 0xd4, defineHandler('aam', aam));
  setOp(OpMap.One, 0xd5, defineHandler('aad', aad));
  setOp(OpMap.One, 0xd6, defineHandler('salc', salc));
}
