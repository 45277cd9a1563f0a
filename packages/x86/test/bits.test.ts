/**
 * BT/BTS/BTR/BTC, BSF/BSR, POPCNT, LZCNT/TZCNT, MOVBE, ADCX/ADOX, CRC32.
 */
import { describe, expect, it } from 'vitest';
import { AMD_ZEN } from '../src/index.js';
import { AF, ARITH, CF, le, memOperand, OF, PF, SF, user64, ZF } from './user-harness.js';

/** AMD_ZEN plus CPUID.01H:ECX.SSE4_2, which CRC32 requires. */
const WITH_SSE42 = { ...AMD_ZEN, leaf1Ecx: AMD_ZEN.leaf1Ecx | (1 << 20) };
const WITHOUT_SSE42 = { ...AMD_ZEN, leaf1Ecx: AMD_ZEN.leaf1Ecx & ~(1 << 20) };

describe('BT family', () => {
  it('register form: the offset is taken modulo the width; only CF changes', () => {
    const r = user64([0x0f, 0xab, 0xc8], { regs: { rax: 0xffff_ffff_0000_0001n, rcx: 33 }, flags: ZF | SF | OF | AF | PF }); // bts eax, ecx
    expect(r.reg('rax')).toBe(0x3n);
    expect(r.rflags & ARITH).toBe(ZF | SF | OF | AF | PF);
    const t = user64([0x48, 0x0f, 0xa3, 0xc8], { regs: { rax: 0x8000_0000_0000_0000n, rcx: 63 } }); // bt rax, rcx
    expect(t.rflags & CF).toBe(CF);
  });

  it('memory with a register offset addresses EA + (offset SAR 5) * 4, negative offsets included', () => {
    const mem = new Array<number>(128).fill(0);
    mem[0x20] = 0x01; // bit 0 of dword at 0x20
    // bts dword [DATA+0x40], ecx with ecx = -255: (-255 >> 5) * 4 = -32 -> dword at 0x20, bit -255 & 31 = 1.
    const r = user64([0x0f, 0xab, ...memOperand(1, 0x40)], { regs: { rcx: -255 }, mem });
    expect(r.memValue(0x20, 4)).toBe(0x3n);
    expect(r.rflags & CF).toBe(0);
    // btr qword [DATA+0], rcx with rcx = 64 * 3 + 5: the qword at +24, bit 5.
    const q = user64([0x48, 0x0f, 0xb3, ...memOperand(1, 0)], { regs: { rcx: 64 * 3 + 5 }, mem: [...new Array<number>(24).fill(0), 0x20] });
    expect(q.memValue(24, 8)).toBe(0n);
    expect(q.rflags & CF).toBe(CF);
    // 16-bit: the offset is a signed word: 0x8000 -> word at EA - 4096.
    const w = user64([0x66, 0x0f, 0xa3, ...memOperand(1, 0)], { regs: { rcx: 0x8000 } });
    expect(w.vector).toBe(14);
    expect(w.cpu.cr2Lo >>> 0).toBe(0x1fff_f000);
  });

  it('immediate form (0F BA): offset modulo the width, no address adjustment; LOCK BT is #UD', () => {
    const r = user64([0x0f, 0xba, ...memOperand(7, 0), 35], { mem: le(0x1234_5678, 4) }); // btc dword [DATA], 35 -> bit 3
    expect(r.memValue(0, 4)).toBe(0x1234_5670n);
    expect(r.rflags & CF).toBe(CF);
    expect(user64([0xf0, 0x0f, 0xba, ...memOperand(4, 0), 1]).vector).toBe(6);
    expect(user64([0xf0, 0x0f, 0xba, ...memOperand(5, 0), 1]).vector).toBe(-1);
  });
});

describe('bit scans and counts', () => {
  it('BSF/BSR: the index, ZF = 0, PF from the index, CF = OF = SF = AF = 0', () => {
    const r = user64([0x48, 0x0f, 0xbc, 0xc3], { regs: { rbx: 0x0000_0100_0000_0000n }, flags: CF | OF | SF | AF }); // bsf rax, rbx
    expect(r.reg('rax')).toBe(40n);
    expect(r.rflags & ARITH).toBe(PF); // 40 = 0b101000: two bits set, even parity
    const b = user64([0x0f, 0xbd, 0xc3], { regs: { rbx: 0x8000_0000 } }); // bsr eax, ebx -> 31, odd parity
    expect(b.reg('rax')).toBe(31n);
    expect(b.rflags & ARITH).toBe(0);
  });

  it('BSF/BSR with a zero source leave the whole destination alone and set ZF = PF = 1', () => {
    const r = user64([0x0f, 0xbd, 0xc3], { regs: { rax: 0xdead_beef_0000_0007n, rbx: 0xffff_ffff_0000_0000n }, flags: CF | OF | SF | AF });
    expect(r.reg('rax')).toBe(0xdead_beef_0000_0007n);
    expect(r.rflags & ARITH).toBe(ZF | PF);
  });

  it('TZCNT/LZCNT: CF = source is zero, ZF = result is zero, OF kept, SF = AF = PF = 0', () => {
    const z = user64([0xf3, 0x0f, 0xbc, 0xc3], { regs: { rbx: 0 }, flags: OF | SF | AF | PF }); // tzcnt eax, ebx
    expect(z.reg('rax')).toBe(32n);
    expect(z.rflags & ARITH).toBe(CF | OF);
    const l = user64([0x66, 0xf3, 0x0f, 0xbd, 0xc3], { regs: { rax: 0xaaaa_0000, rbx: 0x8000 } }); // lzcnt ax, bx
    expect(l.reg('rax')).toBe(0xaaaa_0000n);
    expect(l.rflags & ARITH).toBe(ZF);
    const q = user64([0xf3, 0x48, 0x0f, 0xbd, 0xc3], { regs: { rbx: 1 } }); // lzcnt rax, rbx
    expect(q.reg('rax')).toBe(63n);
  });

  it('POPCNT clears every flag but ZF', () => {
    const r = user64([0xf3, 0x48, 0x0f, 0xb8, 0xc3], { regs: { rbx: 0xf0f0_0000_0000_0001n }, flags: ARITH });
    expect(r.reg('rax')).toBe(9n);
    expect(r.rflags & ARITH).toBe(0);
    expect(user64([0xf3, 0x0f, 0xb8, 0xc3], { regs: { rbx: 0xffff_ffff_0000_0000n } }).rflags & ARITH).toBe(ZF);
  });
});

describe('MOVBE, ADCX/ADOX, CRC32', () => {
  it('MOVBE loads and stores byte-swapped; a register operand is #UD', () => {
    const r = user64([0x48, 0x0f, 0x38, 0xf0, ...memOperand(0, 8)], { mem: [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8] });
    expect(r.reg('rax')).toBe(0x0102_0304_0506_0708n);
    const s = user64([0x66, 0x0f, 0x38, 0xf1, ...memOperand(1, 0)], { regs: { rcx: 0xabcd } });
    expect(s.memValue(0, 2)).toBe(0xcdabn);
    expect(user64([0x0f, 0x38, 0xf0, 0xc1]).vector).toBe(6);
  });

  it('ADCX changes only CF, ADOX only OF', () => {
    const a = user64([0x66, 0x48, 0x0f, 0x38, 0xf6, 0xc3], { regs: { rax: -1n, rbx: 0 }, flags: CF | ZF }); // adcx rax, rbx
    expect(a.reg('rax')).toBe(0n);
    expect(a.rflags & ARITH).toBe(CF | ZF);
    const o = user64([0xf3, 0x0f, 0x38, 0xf6, 0xc3], { regs: { rax: 0xffff_ffff, rbx: 1 }, flags: 0 }); // adox eax, ebx
    expect(o.reg('rax')).toBe(0n);
    expect(o.rflags & ARITH).toBe(OF);
  });

  it('CRC32 accumulates CRC-32C (the check value of "123456789" is E3069283h)', () => {
    // crc32 rax, qword [DATA] ("12345678"); crc32 eax, byte [DATA + 8] ("9"); not eax.
    const text = [...'123456789'].map((c) => c.charCodeAt(0));
    const code = [0xf2, 0x48, 0x0f, 0x38, 0xf1, ...memOperand(0, 0), 0xf2, 0x0f, 0x38, 0xf0, ...memOperand(0, 8), 0xf7, 0xd0];
    const r = user64(code, { regs: { rax: 0xffff_ffff }, mem: text }, WITH_SSE42);
    expect(r.reg('rax')).toBe(0xe306_9283n);
    // Without SSE4.2 in CPUID (`-cpu ...,-sse4.2`), CRC32 is #UD.
    expect(user64(code, { regs: { rax: 0xffff_ffff }, mem: text }, WITHOUT_SSE42).vector).toBe(6);
    // The 64-bit form zero-extends and consumes 8 bytes.
    const q = user64([0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xc3], { regs: { rax: 0xffff_ffff_ffff_ffffn, rbx: 0 } }, WITH_SSE42);
    expect(q.reg('rax') >> 32n).toBe(0n);
  });
});
