/**
 * Hand-picked decoder edge cases, each from the SDM (Vol. 2 ch. 2 and the instruction pages)
 * or the APM where the vendors differ. The differential test against iced-x86
 * (decoder-iced.test.ts) covers the bulk; these pin the rules down one by one, with the
 * decoded record's fields where they matter.
 */
import { describe, expect, it } from 'vitest';
import '../src/cpu.js'; // installs the handlers
import {
  BYTE_HIGH,
  I_LOCK,
  I_MEM,
  I_REX,
  NO_REG,
  R_DISP,
  R_IMM,
  R_IMM2,
  R_INFO,
  R_REG,
  R_RM,
  R_SIB,
  RIP_BASE,
  recAsz,
  recLength,
  recOsz,
  recSeg,
} from '../src/decoded.js';
import { decodeBytes, OP_TOO_LONG, OP_UD } from '../src/decoder.js';
import { HANDLER_NAMES } from '../src/optable.js';
import { CodeMode, Seg } from '../src/state.js';

const M16 = CodeMode.Bits16;
const M32 = CodeMode.Bits32;
const M64 = CodeMode.Bits64;

function bytes(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2 + 16); // trailing zeros: room for any tail
  for (let i = 0; i < clean.length; i += 2) out[i / 2] = parseInt(clean.slice(i, i + 2), 16);
  return out;
}

function dec(hex: string, mode: CodeMode, amd = false): { len: number; op: number; name: string; rec: Int32Array; info: number } {
  const r = decodeBytes(bytes(hex), mode, { amd });
  const info = r.rec[R_INFO]!;
  expect(recLength(info)).toBe(r.length);
  return { len: r.length, op: r.op, name: HANDLER_NAMES[r.op]!, rec: r.rec, info };
}

function valid(hex: string, mode: CodeMode, len: number, amd = false): ReturnType<typeof dec> {
  const d = dec(hex, mode, amd);
  expect(d.op, `${hex} should be valid`).not.toBe(OP_UD);
  expect(d.op).not.toBe(OP_TOO_LONG);
  expect(d.len).toBe(len);
  return d;
}

function invalid(hex: string, mode: CodeMode, amd = false): void {
  expect(dec(hex, mode, amd).op, `${hex} should be #UD`).toBe(OP_UD);
}

describe('prefixes and REX (SDM Vol. 2 §2.1.1, §2.2.1)', () => {
  it('a REX prefix followed by a legacy prefix is ignored', () => {
    const d = valid('48 66 89 c0', M64, 4); // mov ax, ax: REX.W dropped, 66 applies
    expect(recOsz(d.info)).toBe(1);
    expect(d.info & I_REX).toBe(0);
  });

  it('REX.W takes precedence over 66', () => {
    expect(recOsz(valid('66 48 89 c0', M64, 4).info)).toBe(3);
  });

  it('of two REX prefixes only the last counts', () => {
    const d = valid('48 41 89 c0', M64, 4); // REX.B (mov r8d, eax), not REX.W
    expect(recOsz(d.info)).toBe(2);
    expect(d.rec[R_RM]).toBe(8);
  });

  it('40-4F are INC/DEC outside 64-bit mode', () => {
    expect(valid('48', M32, 1).name).toMatch(/dec/);
    expect(valid('40', M16, 1).name).toMatch(/inc/);
  });

  it('an instruction longer than 15 bytes raises #GP (handler OP_TOO_LONG)', () => {
    expect(valid(`${'66 '.repeat(14)}90`, M32, 15).len).toBe(15);
    const d = dec(`${'66 '.repeat(15)}90`, M32);
    expect(d.op).toBe(OP_TOO_LONG);
    expect(d.len).toBe(15);
  });

  it('segment overrides: CS/DS/ES/SS are ignored in 64-bit mode, FS/GS apply', () => {
    expect(recSeg(valid('26 8b 00', M64, 3).info)).toBe(Seg.DS);
    expect(recSeg(valid('64 8b 00', M64, 3).info)).toBe(Seg.FS);
    expect(recSeg(valid('26 8b 00', M32, 3).info)).toBe(Seg.ES);
    // A null prefix (ES/CS/SS/DS) after FS/GS does not cancel it; outside 64-bit mode the last wins.
    expect(recSeg(valid('64 2e 8b 00', M64, 4).info)).toBe(Seg.FS);
    expect(recSeg(valid('65 26 8b 00', M64, 4).info)).toBe(Seg.GS);
    expect(recSeg(valid('64 2e 8b 00', M32, 4).info)).toBe(Seg.CS);
  });
});

describe('ModRM, SIB and displacement (SDM Vol. 2 Tables 2-1 to 2-3)', () => {
  it('16-bit addressing: [bp+disp8] defaults to SS, [disp16] has no base', () => {
    let d = valid('8b 46 02', M16, 3);
    expect(d.rec[R_RM]).toBe(5);
    expect(d.rec[R_DISP]).toBe(2);
    expect(recSeg(d.info)).toBe(Seg.SS);
    d = valid('8b 06 34 12', M16, 4);
    expect(d.rec[R_RM]).toBe(NO_REG);
    expect(d.rec[R_DISP]).toBe(0x1234);
    expect(recSeg(d.info)).toBe(Seg.DS);
    d = valid('8b 00', M16, 2); // [bx+si]
    expect([d.rec[R_RM], d.rec[R_SIB]]).toEqual([3, 6]);
  });

  it('67 switches 32-bit code to 16-bit addressing and back', () => {
    expect(recAsz(valid('67 8b 46 fe', M32, 4).info)).toBe(1);
    expect(valid('67 8b 46 fe', M32, 4).rec[R_DISP]).toBe(-2);
    expect(recAsz(valid('67 8b 45 fe', M16, 4).info)).toBe(2);
  });

  it('SIB with base 101b and mod 00: disp32 and no base', () => {
    const d = valid('8b 04 25 78 56 34 12', M64, 7);
    expect(d.rec[R_RM]).toBe(NO_REG);
    expect(d.rec[R_SIB]).toBe(NO_REG); // index 100b = none
    expect(d.rec[R_DISP]).toBe(0x12345678);
  });

  it('ESP/EBP-based addresses default to SS', () => {
    expect(recSeg(valid('8b 04 24', M32, 3).info)).toBe(Seg.SS);
    expect(recSeg(valid('8b 45 00', M32, 3).info)).toBe(Seg.SS);
    expect(recSeg(valid('8b 44 25 00', M32, 4).info)).toBe(Seg.SS); // [ebp+0] via SIB
  });

  it('mod 00 rm 101b is RIP-relative in 64-bit mode, absolute elsewhere', () => {
    expect(valid('8b 05 10 00 00 00', M64, 6).rec[R_RM]).toBe(RIP_BASE);
    expect(valid('8b 05 10 00 00 00', M32, 6).rec[R_RM]).toBe(NO_REG);
  });

  it('byte registers 4-7 are AH..BH without REX and SPL..DIL with any REX', () => {
    expect(valid('88 e0', M64, 2).rec[R_REG]).toBe(BYTE_HIGH + 0); // mov al, ah
    expect(valid('40 88 e0', M64, 3).rec[R_REG]).toBe(4); // mov al, spl
    expect(valid('88 c7', M32, 2).rec[R_RM]).toBe(BYTE_HIGH + 3); // mov bh, al
    expect(valid('41 88 c7', M64, 3).rec[R_RM]).toBe(15); // mov r15b, al
  });

  it('MOV CRn ignores mod: the operand is always a register', () => {
    const d = valid('0f 20 00', M32, 3);
    expect(d.info & I_MEM).toBe(0);
    expect(d.rec[R_RM]).toBe(0);
  });
});

describe('immediates and offsets', () => {
  it('group 3 (F6/F7): only TEST (/0, /1) has an immediate', () => {
    expect(valid('f6 c0 12', M32, 3).rec[R_IMM]).toBe(0x12);
    expect(valid('f6 c8 12', M32, 3).rec[R_IMM]).toBe(0x12); // /1: TEST alias
    valid('f6 d0', M32, 2); // NOT al
    valid('f7 c0 78 56 34 12', M32, 6);
    valid('66 f7 c0 34 12', M32, 5);
    valid('f7 d8', M64, 2); // NEG eax
  });

  it('MOV moffs: the offset is address-size wide (8 bytes in 64-bit mode)', () => {
    valid('a1 88 77 66 55 44 33 22 11', M64, 9);
    valid('67 a1 44 33 22 11', M64, 6);
    valid('a1 34 12', M16, 3);
    valid('67 a1 34 12', M32, 4);
    const d = valid('a0 88 77 66 55 44 33 22 11', M64, 9);
    expect([d.rec[R_IMM]! >>> 0, d.rec[R_IMM2]! >>> 0]).toEqual([0x55667788, 0x11223344]);
  });

  it('MOV r64, imm64 (REX.W B8) carries a 64-bit immediate', () => {
    const d = valid('48 b8 01 02 03 04 05 06 07 08', M64, 10);
    expect([d.rec[R_IMM], d.rec[R_IMM2]]).toEqual([0x04030201, 0x08070605]);
    valid('b8 01 02 03 04', M64, 5);
  });

  it('ENTER has imm16 then imm8', () => {
    const d = valid('c8 10 00 01', M32, 4);
    expect([d.rec[R_IMM], d.rec[R_IMM2]]).toEqual([16, 1]);
  });

  it('far JMP/CALL ptr16:16/32; invalid in 64-bit mode', () => {
    valid('ea 00 10 00 f0', M16, 5);
    valid('ea 00 10 00 00 08 00', M32, 7);
    valid('66 ea 00 10 08 00', M32, 6);
    invalid('ea 00 10 00 00 08 00', M64);
  });

  it('near branches in 64-bit mode: Intel ignores 66, AMD makes them 16-bit', () => {
    valid('66 0f 84 00 00 00 00', M64, 7);
    valid('66 0f 84 00 00', M64, 5, true);
    valid('66 e8 00 00 00 00', M64, 6);
    valid('66 e8 00 00', M64, 4, true);
  });
});

describe('validity', () => {
  it('opcodes invalid in 64-bit mode (SDM Vol. 2 Table A-2 "i64")', () => {
    for (const h of ['06', '07', '0e', '16', '17', '1e', '1f', '27', '2f', '37', '3f', '60', '61', 'ce', 'd4 0a', 'd5 0a', '9a 00 00 00 00 00 00', '82 c0 01']) invalid(h, M64);
    valid('06', M32, 1);
  });

  it('LOCK needs a lockable instruction with a memory destination (SDM Vol. 2 "LOCK")', () => {
    expect(valid('f0 01 00', M32, 3).info & I_LOCK).not.toBe(0);
    invalid('f0 01 c0', M32); // register destination
    invalid('f0 39 00', M32); // CMP is not lockable
    invalid('f0 83 38 01', M32); // group 1 /7 = CMP
    valid('f0 83 00 01', M32, 4);
    valid('f0 f7 10', M32, 3); // NOT
    invalid('f0 f7 00 01 00 00 00', M32); // TEST
    invalid('f0 ff 20', M32); // JMP
    valid('f0 0f ba 28 01', M32, 5); // BTS
    invalid('f0 0f ba 20 01', M32); // BT
    invalid('f0 8b 00', M32); // MOV
    invalid('f0 90', M32);
  });

  it('AMD: LOCK MOV CR0 is MOV CR8; Intel: #UD (APM Vol. 3 "MOV CRn")', () => {
    expect(valid('f0 0f 22 c0', M32, 4, true).rec[R_REG]).toBe(8);
    invalid('f0 0f 22 c0', M32);
    invalid('f0 0f 22 d0', M32, true); // LOCK MOV CR2
  });

  it('MOV CRn exists for CR0, CR2-CR4 and CR8; MOV DRn for DR0-DR7', () => {
    invalid('0f 20 c8', M32); // CR1
    invalid('0f 20 e8', M32); // CR5
    valid('0f 20 e0', M32, 3); // CR4
    valid('44 0f 20 c0', M64, 4); // CR8
    invalid('44 0f 20 c8', M64); // CR9
    invalid('44 0f 21 c0', M64); // DR8
  });

  it('MOV Sreg: segment registers 0-5 only, never to CS', () => {
    invalid('8e c8', M32);
    invalid('8e f0', M32);
    invalid('8c f8', M32);
    valid('8c c8', M32, 2);
    valid('8e d8', M32, 2);
  });

  it('memory-only operands: LEA, LSS, far indirect branches, CMPXCHG8B, INVPCID, MOVBE', () => {
    invalid('8d c0', M32);
    invalid('0f b2 c0', M32);
    invalid('ff d8', M32); // CALL far (/3)
    invalid('ff e8', M32); // JMP far (/5)
    invalid('0f c7 c8', M32); // CMPXCHG8B (/1)
    invalid('66 0f 38 82 c0', M64); // INVPCID
    invalid('0f 38 f0 c0', M32); // MOVBE
    valid('0f 38 f0 00', M32, 4);
  });

  it('C4/C5 are LES/LDS in 16/32-bit mode unless the next byte has mod = 3', () => {
    expect(dec('c4 00', M32).len).toBe(2); // LES eax, [eax]
    valid('c4 e2 78 f2 c1', M32, 5); // VEX ANDN
    valid('c4 e2 78 f2 c1', M64, 5);
  });

  it('VEX after 66/F2/F3/LOCK/REX is #UD (SDM Vol. 2 §2.3.2)', () => {
    for (const p of ['66', 'f2', 'f3', 'f0', '40']) invalid(`${p} c4 e2 78 f2 c1`, M64);
  });

  it('BMI: VEX.L1 is #UD; RORX needs vvvv = 1111b', () => {
    invalid('c4 e2 7c f2 c1', M64);
    valid('c4 e3 7b f0 c2 01', M64, 6);
    invalid('c4 e3 3b f0 c2 01', M32); // vvvv[3] is ignored for registers but still checked here
  });

  it('mandatory prefixes select a different instruction (F3: TZCNT, LZCNT, POPCNT)', () => {
    expect(valid('f3 0f bc c0', M32, 4).op).not.toBe(dec('0f bc c0', M32).op);
    expect(valid('f3 0f bd c0', M32, 4).op).not.toBe(dec('0f bd c0', M32).op);
    valid('f3 0f b8 c0', M32, 4);
    invalid('0f b8 c0', M32); // JMPE (IA-64) is not an x86 instruction here
  });

  it('group 9 and group 15 forms by prefix and mode', () => {
    invalid('f2 0f c7 f0', M32); // RDRAND is NFx
    valid('66 0f c7 f0', M32, 4); // RDRAND r16
    valid('f3 0f c7 f8', M32, 4); // RDPID
    invalid('f3 0f c7 38', M32); // RDPID has no memory form
    invalid('f3 0f ae c0', M32); // RDFSBASE: 64-bit mode only
    valid('f3 0f ae c0', M64, 4);
    invalid('0f ae c0', M64); // without F3
  });

  it('SWAPGS exists only in 64-bit mode; F3/F2 0F 01 D9 is VMGEXIT, not VMMCALL', () => {
    invalid('0f 01 f8', M32);
    valid('0f 01 f8', M64, 3);
    invalid('f3 0f 01 d9', M64);
    valid('0f 01 d9', M64, 3);
  });

  it('UD0 has a ModRM byte on Intel but not on AMD', () => {
    expect(dec('0f ff 00', M32).len).toBe(3);
    expect(dec('0f ff 00', M32, true).len).toBe(2);
  });
});
