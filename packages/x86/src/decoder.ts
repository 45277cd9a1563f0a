/**
 * The instruction decoder (SDM Vol. 2 ch. 2): prefixes, REX, VEX, the opcode maps, ModRM/SIB,
 * displacement and immediates, into one record of {@link REC_WORDS} words.
 *
 * The decoder reads bytes from a window (`src[pos..pos+avail)`), normally the rest of the code
 * page in RAM. A byte past the window comes from `more(k)`: the CPU's fetch across the page
 * boundary (which may raise #PF), or a thrower that tells the block builder to stop.
 *
 * Rules enforced here:
 * - an instruction longer than 15 bytes decodes to {@link OP_TOO_LONG} (#GP(0), SDM Vol. 2 §2.3.11);
 * - LOCK on an instruction that does not allow it (by opcode and ModRM.reg), or with a register
 *   destination, decodes to #UD (SDM Vol. 2 "LOCK" and §2.1.1);
 * - undefined group members, register operands where only memory is allowed, mandatory-prefix
 *   classes a group form does not define, and 64-bit-only forms elsewhere decode to #UD (the
 *   tables in optable.ts: VALID_REGS_*, MOD3_REGS_*, PFX_LEGAL_0F; SDM Vol. 2 Appendix A);
 * - VEX after 66/F2/F3/LOCK/REX decodes to #UD, and so do VEX.L = 1 and VEX.vvvv other than
 *   1111b where the instruction has no such operand (VEX_RULES_*);
 * - opcodes invalid in 64-bit mode decode to #UD there (SDM Vol. 2 Appendix A, "i64");
 * - a REX prefix not immediately before the opcode is ignored (SDM Vol. 2 §2.2.1);
 * - in 64-bit mode segment overrides other than FS and GS are ignored (SDM Vol. 1 §3.3.7.1),
 *   but are still recorded so that their bytes count; they do not displace an earlier FS/GS.
 */
import * as decoded from './decoded.js';
import * as optable from './optable.js';
import * as state from './state.js';

// Imported bindings, copied once into module constants. Module runners that rewrite ES
// modules (Vitest's) turn every read of an imported binding into a getter call, which made
// decoding several times slower under test. All of these are constants.
const { BYTE_HIGH, I_ASZ_SHIFT, I_ENDS_BLOCK, I_LOCK, I_MEM, I_MODRM_SHIFT, I_OSZ_SHIFT, I_REP, I_REX, I_REPNE, I_SEG_SHIFT, I_SEGOVR, NO_REG, R_DISP, R_IMM, R_IMM2, R_INFO, R_OP, R_REG, R_RM, R_SIB, RIP_BASE } = decoded;
const { PFX_LEGAL_0F, PL_O64, MOD3_REGS_38, MOD3_REGS_0F, MOD3_REGS_1B, V_L0, V_NOVVVV, VEX_RULES_38, VEX_RULES_3A, F_BYTE, F_D64, F_END, F_F64, F_I64, F_IMM_MASK, F_IMM_SHIFT, F_INV, F_M, F_REGONLY, FORMAT_0F, FORMAT_1B, Imm, LOCK_REGS_0F, LOCK_REGS_1B, OpMap, resolveOp, SLOTS, VALID_REGS_0F, VALID_REGS_1B } = optable;
const { CodeMode, Seg } = state;

/** Handler id 0: invalid opcode (#UD). */
export const OP_UD = 0;
/** Handler id 1: instruction longer than 15 bytes (#GP(0)). */
export const OP_TOO_LONG = 1;

/** Thrown by a window's `more` to say "the instruction continues past the window". */
export const NEED_MORE_BYTES = { reason: 'need more bytes' } as const;

const MAX_LEN = 15;

export class Decoder {
  /** Current code mode. */
  mode: state.CodeMode = CodeMode.Bits16;
  /** AMD decoding: near branches honour the 66 prefix in 64-bit mode. */
  amd = false;
  /** Byte window. */
  src: Uint8Array = new Uint8Array(16);
  pos = 0;
  avail = 0;
  /** Supplies byte `k` of the instruction when `k >= avail`. */
  more: (k: number) => number = () => {
    throw NEED_MORE_BYTES;
  };

  private len = 0;

  private byte(): number {
    const k = this.len;
    if (k >= MAX_LEN) throw TOO_LONG;
    this.len = k + 1;
    return k < this.avail ? this.src[this.pos + k]! : this.more(k) & 0xff;
  }

  /**
   * Decodes one instruction into `rec[d..d+8)`. Returns the length. Exceptions from `more`
   * propagate (a #PF on the second page, or {@link NEED_MORE_BYTES}).
   */
  decode(rec: Int32Array, d: number): number {
    this.len = 0;
    try {
      return this.decodeInner(rec, d);
    } catch (e) {
      if (e !== TOO_LONG) throw e;
      rec[d + R_OP] = OP_TOO_LONG;
      rec[d + R_INFO] = MAX_LEN | I_ENDS_BLOCK;
      return MAX_LEN;
    }
  }

  private decodeInner(rec: Int32Array, d: number): number {
    const mode = this.mode;
    const is64 = mode === CodeMode.Bits64;
    let opsz66 = false;
    let adsz67 = false;
    let rep = 0; // 0, I_REP or I_REPNE (last one wins)
    let lock = false;
    let seg = -1;
    let rex = 0;
    let b: number;
    // Prefixes (SDM Vol. 2 §2.1.1).
    for (;;) {
      b = this.byte();
      if (b === 0x66) opsz66 = true;
      else if (b === 0x67) adsz67 = true;
      else if (b === 0xf3) rep = I_REP;
      else if (b === 0xf2) rep = I_REPNE;
      else if (b === 0xf0) lock = true;
      else if (b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e) {
        // In 64-bit mode these are null prefixes: they do not displace an FS/GS override.
        if (!is64 || seg < Seg.FS) seg = (b >> 3) & 3;
      }
      else if (b === 0x64) seg = Seg.FS;
      else if (b === 0x65) seg = Seg.GS;
      else if (is64 && (b & 0xf0) === 0x40) {
        rex = b;
        // A REX prefix must come last; a legacy prefix after it cancels it.
        b = this.byte();
        if ((b & 0xf0) === 0x40) {
          this.len--;
          continue;
        }
        if (b === 0x66 || b === 0x67 || b === 0xf3 || b === 0xf2 || b === 0xf0 || b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e || b === 0x64 || b === 0x65) {
          rex = 0;
          this.len--;
          continue;
        }
        break;
      } else break;
    }
    const pfxClass = rep === I_REP ? 2 : rep === I_REPNE ? 3 : opsz66 ? 1 : 0;
    const rexW = (rex & 8) !== 0;
    let rexR = (rex & 4) << 1;
    let rexX = (rex & 2) << 2;
    let rexB = (rex & 1) << 3;
    let vexW = false;
    let vexV: number;
    let vexL: number;
    let vexRaw: number;

    let map: number = OpMap.One;
    let fmt: number;
    let opcode = b;
    if (b === 0x0f) {
      opcode = this.byte();
      if (opcode === 0x38) {
        map = OpMap.Three38;
        opcode = this.byte();
        fmt = F_M;
      } else if (opcode === 0x3a) {
        map = OpMap.Three3A;
        opcode = this.byte();
        fmt = F_M | (Imm.Ib << F_IMM_SHIFT);
      } else {
        map = OpMap.Two;
        // UD0 has a ModRM byte on Intel but not on AMD (SDM Vol. 2 "UD"; APM Vol. 3 "UD0").
        fmt = opcode === 0xff && this.amd ? 0 : FORMAT_0F[opcode]!;
      }
    } else if ((b === 0xc4 || b === 0xc5) && (is64 || this.peekModIs3())) {
      // VEX (SDM Vol. 2 §2.3.5). Legacy 66/F2/F3/LOCK or REX before VEX is #UD.
      const p1 = this.byte();
      let mmmmm: number;
      let pp: number;
      if (b === 0xc5) {
        rexR = p1 & 0x80 ? 0 : 8;
        vexV = (~p1 >> 3) & 0xf;
        vexL = (p1 >> 2) & 1;
        pp = p1 & 3;
        mmmmm = 1;
      } else {
        rexR = p1 & 0x80 ? 0 : 8;
        rexX = p1 & 0x40 ? 0 : 8;
        rexB = p1 & 0x20 ? 0 : 8;
        mmmmm = p1 & 0x1f;
        const p2 = this.byte();
        vexW = (p2 & 0x80) !== 0;
        vexV = (~p2 >> 3) & 0xf;
        vexL = (p2 >> 2) & 1;
        pp = p2 & 3;
      }
      // Outside 64-bit mode VEX.R/X/B and vvvv[3] select no register (SDM Vol. 2 §2.3.5);
      // vvvv still has to be 1111b where the instruction has no vvvv operand.
      vexRaw = vexV;
      if (!is64) {
        rexR = rexX = rexB = 0;
        vexV &= 7;
      }
      opcode = this.byte();
      if (mmmmm === 1) {
        map = OpMap.Vex0F;
        fmt = FORMAT_0F[opcode]! & ~F_INV;
      } else if (mmmmm === 2) {
        map = OpMap.Vex38;
        fmt = F_M;
      } else if (mmmmm === 3) {
        map = OpMap.Vex3A;
        fmt = F_M | (Imm.Ib << F_IMM_SHIFT);
      } else {
        rec[d + R_OP] = OP_UD;
        rec[d + R_INFO] = this.len | I_ENDS_BLOCK;
        return this.len;
      }
      // VEX-encoded: the prefix class comes from pp.
      // VEX after 66/F2/F3/LOCK/REX is #UD (SDM Vol. 2 §2.3.2-2.3.4); so are the opcodes' own rules.
      const rules = mmmmm === 2 ? VEX_RULES_38[opcode]! : mmmmm === 3 ? VEX_RULES_3A[opcode]! : 0;
      const vexInvalid =
        opsz66 || rep !== 0 || lock || rex !== 0 || ((rules & V_L0) !== 0 && vexL !== 0) || ((rules & V_NOVVVV) !== 0 && vexRaw !== 0);
      return this.finish(rec, d, map, opcode, fmt, pp, vexInvalid, vexW, vexV, vexL, rexR, rexX, rexB, false, adsz67, 0, seg, false);
    } else {
      fmt = FORMAT_1B[b]!;
    }
    return this.finish(rec, d, map, opcode, fmt, pfxClass, false, rexW, 0, 0, rexR, rexX, rexB, opsz66, adsz67, rep, seg, lock, rex !== 0);
  }

  /** In 16/32-bit mode, C4/C5 are VEX only when the next byte has mod = 3. */
  private peekModIs3(): boolean {
    const k = this.len;
    if (k >= MAX_LEN) return false;
    const next = k < this.avail ? this.src[this.pos + k]! : this.more(k) & 0xff;
    return next >= 0xc0;
  }

  private finish(
    rec: Int32Array,
    d: number,
    map: number,
    opcode: number,
    fmt: number,
    pfxClass: number,
    vexInvalid: boolean,
    w: boolean,
    vexV: number,
    vexL: number,
    rexR: number,
    rexX: number,
    rexB: number,
    opsz66: boolean,
    adsz67: boolean,
    rep: number,
    seg: number,
    lock: boolean,
    anyRex = false,
  ): number {
    const mode = this.mode;
    const is64 = mode === CodeMode.Bits64;
    // Operand size (SDM Vol. 1 §3.6, Vol. 2 §2.2.1.2).
    let osz: number;
    if ((fmt & F_BYTE) !== 0) osz = 0;
    else if (is64) {
      if (w) osz = 3;
      else if ((fmt & F_F64) !== 0) osz = this.amd && opsz66 ? 1 : 3;
      else if ((fmt & F_D64) !== 0) osz = opsz66 ? 1 : 3;
      else osz = opsz66 ? 1 : 2;
    } else if (mode === CodeMode.Bits32) osz = opsz66 ? 1 : 2;
    else osz = opsz66 ? 2 : 1;
    const asz = is64 ? (adsz67 ? 2 : 3) : mode === CodeMode.Bits32 ? (adsz67 ? 1 : 2) : adsz67 ? 2 : 1;

    let info = (osz << I_OSZ_SHIFT) | (asz << I_ASZ_SHIFT) | rep | (anyRex ? I_REX : 0);
    if ((fmt & F_END) !== 0) info |= I_ENDS_BLOCK;
    let reg = 0;
    let rm = NO_REG;
    let sib = NO_REG;
    let disp = 0;
    let modrm = 0;
    let defSeg: number = Seg.DS;
    const byteRegs = (fmt & F_BYTE) !== 0 && !anyRex;

    if ((fmt & F_M) !== 0) {
      modrm = this.byte();
      info |= modrm << I_MODRM_SHIFT;
      const mod = modrm >> 6;
      const r = ((modrm >> 3) & 7) | rexR;
      reg = byteRegs && r >= 4 && r < 8 ? BYTE_HIGH + r - 4 : r;
      const rmLow = modrm & 7;
      if (mod === 3 || (fmt & F_REGONLY) !== 0) {
        const x = rmLow | rexB;
        rm = byteRegs && x >= 4 && x < 8 ? BYTE_HIGH + x - 4 : x;
      } else {
        info |= I_MEM;
        if (asz === 1) {
          // 16-bit addressing (SDM Vol. 2 Table 2-1).
          switch (rmLow) {
            case 0: rm = 3; sib = 6; break; // [BX+SI]
            case 1: rm = 3; sib = 7; break; // [BX+DI]
            case 2: rm = 5; sib = 6; defSeg = Seg.SS; break; // [BP+SI]
            case 3: rm = 5; sib = 7; defSeg = Seg.SS; break; // [BP+DI]
            case 4: rm = 6; break; // [SI]
            case 5: rm = 7; break; // [DI]
            case 6: if (mod === 0) rm = NO_REG; else { rm = 5; defSeg = Seg.SS; } break;
            default: rm = 3; break; // [BX]
          }
          if (mod === 0 && rmLow === 6) disp = this.imm16s();
          else if (mod === 1) disp = (this.byte() << 24) >> 24;
          else if (mod === 2) disp = this.imm16s();
        } else {
          // 32/64-bit addressing (SDM Vol. 2 Tables 2-2, 2-3).
          if (rmLow === 4) {
            const s = this.byte();
            const base = s & 7;
            const idx = ((s >> 3) & 7) | rexX;
            sib = idx === 4 ? NO_REG : idx | ((s >> 6) << 8);
            if (base === 5 && mod === 0) {
              rm = NO_REG;
              disp = this.imm32();
            } else {
              rm = base | rexB;
              if (base === 4 || base === 5) defSeg = Seg.SS;
            }
          } else if (rmLow === 5 && mod === 0) {
            rm = is64 ? RIP_BASE : NO_REG;
            disp = this.imm32();
          } else {
            rm = rmLow | rexB;
            if (rmLow === 5) defSeg = Seg.SS;
          }
          if (mod === 1) disp = (this.byte() << 24) >> 24;
          else if (mod === 2) disp = this.imm32();
        }
      }
    } else if (map === OpMap.One) {
      // Register in the opcode's low bits (50-5F, 90-97, B0-BF, C8-CF in the 0F map below).
      const x = (opcode & 7) | rexB;
      reg = byteRegs && x >= 4 && x < 8 ? BYTE_HIGH + x - 4 : x;
    } else if (map === OpMap.Two) {
      reg = (opcode & 7) | rexB;
    }
    if (seg >= 0) {
      info |= I_SEGOVR;
      if (!is64 || seg >= Seg.FS) defSeg = seg;
    }
    info |= defSeg << I_SEG_SHIFT;

    // Immediates.
    let imm = 0;
    let imm2 = 0;
    const immKind = (fmt & F_IMM_MASK) >> F_IMM_SHIFT;
    switch (immKind) {
      case Imm.None:
        break;
      case Imm.Ib:
        imm = this.byte();
        break;
      case Imm.Iw:
        imm = this.imm16();
        break;
      case Imm.Iz:
        imm = osz === 1 ? this.imm16() : this.imm32();
        break;
      case Imm.Iv:
        if (osz === 1) imm = this.imm16();
        else {
          imm = this.imm32();
          if (osz === 3) imm2 = this.imm32();
        }
        break;
      case Imm.IwIb:
        imm = this.imm16();
        imm2 = this.byte();
        break;
      case Imm.Ap:
        imm = osz === 1 ? this.imm16() : this.imm32();
        imm2 = this.imm16();
        break;
      case Imm.Ob:
        if (asz === 1) imm = this.imm16();
        else {
          imm = this.imm32();
          if (asz === 3) imm2 = this.imm32();
        }
        break;
      case Imm.Jb:
        imm = (this.byte() << 24) >> 24;
        break;
      case Imm.Jz:
        imm = osz === 1 ? this.imm16s() : this.imm32();
        break;
      case Imm.G3b:
        if (((modrm >> 3) & 7) < 2) imm = this.byte();
        break;
      case Imm.G3v:
        if (((modrm >> 3) & 7) < 2) imm = osz === 1 ? this.imm16() : this.imm32();
        break;
    }
    if (map >= OpMap.Vex38) imm2 = vexV | (vexL << 4);

    // Handler.
    let op = resolveOp(SLOTS[map]![opcode]!, modrm, pfxClass);
    const modReg = (modrm >> 3) & 7;
    if (map <= OpMap.Two) {
      const mem = (info & I_MEM) !== 0;
      if ((fmt & F_INV) !== 0) op = OP_UD;
      else if ((fmt & F_M) !== 0) {
        // ModRM.reg values that encode nothing, and register operands where only memory is allowed.
        const one = map === OpMap.One;
        if ((((one ? VALID_REGS_1B : VALID_REGS_0F)[opcode]! >> modReg) & 1) === 0) op = OP_UD;
        else if (!mem && (((one ? MOD3_REGS_1B : MOD3_REGS_0F)[opcode]! >> modReg) & 1) === 0) op = OP_UD;
        else if (!one) {
          // Mandatory prefixes and 64-bit-only forms of the group opcodes.
          const legal = PFX_LEGAL_0F[opcode * 16 + (mem ? 0 : 8) + modReg]!;
          if (((legal >> pfxClass) & 1) === 0 || ((legal & PL_O64) !== 0 && !is64)) op = OP_UD;
          else if (opcode === 0x01) {
            // SWAPGS (0F 01 F8) exists only in 64-bit mode (SDM Vol. 2 "SWAPGS"); F3/F2 0F 01 D9
            // is VMGEXIT, not VMMCALL (APM Vol. 3 "VMGEXIT").
            if ((modrm === 0xf8 && !is64) || (modrm === 0xd9 && pfxClass >= 2)) op = OP_UD;
          }
        }
      }
      if (map === OpMap.Two && (opcode & 0xfc) === 0x20) {
        // MOV from/to CRn: CR0, CR2-CR4, CR8; MOV from/to DRn: DR0-DR7 (SDM Vol. 2 "MOV—Move to/from
        // Control Registers", "MOV—Move to/from Debug Registers"). AMD: LOCK MOV CR0 is CR8
        // (APM Vol. 3 "MOV (CRn)").
        if (lock && this.amd && (opcode & 1) === 0 && reg === 0) {
          reg = 8;
          lock = false;
        }
        if ((opcode & 1) === 0 ? reg === 1 || (reg > 4 && reg !== 8) : reg > 7) op = OP_UD;
      }
    }
    // MOVBE (0F38 F0/F1) takes memory only; with F2 the opcodes are CRC32 (SDM Vol. 2 "MOVBE").
    if (map === OpMap.Three38 && (info & I_MEM) === 0 && (((opcode & 0xfe) === 0xf0 && pfxClass !== 3) || ((MOD3_REGS_38[opcode]! >> modReg) & 1) === 0)) op = OP_UD;
    if (is64 && (fmt & F_I64) !== 0) op = OP_UD;
    if (vexInvalid && map >= OpMap.Vex38) op = OP_UD;
    if (lock) {
      info |= I_LOCK;
      // LOCK needs a lockable instruction with a memory destination (SDM Vol. 2 "LOCK").
      const lockRegs = map === OpMap.One ? LOCK_REGS_1B[opcode]! : map === OpMap.Two ? LOCK_REGS_0F[opcode]! : 0;
      if ((info & I_MEM) === 0 || ((lockRegs >> modReg) & 1) === 0) op = OP_UD;
    }
    const len = this.len;
    rec[d + R_OP] = op;
    rec[d + R_INFO] = info | len | (op === OP_UD ? I_ENDS_BLOCK : 0);
    rec[d + R_REG] = reg;
    rec[d + R_RM] = rm;
    rec[d + R_SIB] = sib;
    rec[d + R_DISP] = disp;
    rec[d + R_IMM] = imm;
    rec[d + R_IMM2] = imm2;
    return len;
  }

  private imm16(): number {
    const lo = this.byte();
    return lo | (this.byte() << 8);
  }
  private imm16s(): number {
    return (this.imm16() << 16) >> 16;
  }
  private imm32(): number {
    const a = this.byte();
    const b = this.byte();
    const c = this.byte();
    return a | (b << 8) | (c << 16) | (this.byte() << 24);
  }
}

const TOO_LONG = { reason: 'instruction longer than 15 bytes' } as const;

/**
 * Decodes one instruction from a byte array (for tools and tests). Returns the length and
 * handler id; `op === OP_UD` means invalid or not implemented.
 */
export function decodeBytes(bytes: Uint8Array, mode: state.CodeMode, options: { amd?: boolean } = {}): { length: number; op: number; rec: Int32Array } {
  const dec = new Decoder();
  dec.mode = mode;
  dec.amd = options.amd ?? false;
  dec.src = bytes;
  dec.pos = 0;
  dec.avail = bytes.length;
  const rec = new Int32Array(8);
  const length = dec.decode(rec, 0);
  return { length, op: rec[R_OP]!, rec };
}
