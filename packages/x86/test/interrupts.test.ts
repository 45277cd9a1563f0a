import { describe, expect, it } from 'vitest';
import { Flag, Seg, StopReason, Vector } from '../src/index.js';
import {
  A,
  gate,
  K_CODE,
  K_DATA,
  KC,
  KSTACK,
  L_CODE,
  L_UCODE,
  le32,
  Machine,
  kernel32,
  seg,
  standard,
  TSS_BASE,
  U_CODE,
  U_DATA,
  UC,
  USTACK,
  user32,
} from './pm-harness.js';

const HLT = 0xf4;
const H = 0x14000; // handler area

/** IDT gate for `v` to K_CODE:H+v*16 with a HLT there. */
function handler(m: Machine, v: number, type = 0xe, d = 0): number {
  const at = H + v * 16;
  m.idt(v, gate(type, K_CODE, at, d));
  m.w8(at, HLT);
  return at;
}

describe('protected-mode interrupt and exception delivery', () => {
  it('INT n from CPL 3 through a DPL 3 interrupt gate: stack switch, frame, IF cleared', () => {
    const m = user32();
    const h = handler(m, 0x80, 0xe, 3);
    m.cpu.flags |= Flag.IF;
    m.bytes(UC, [0xcd, 0x80]);
    expect(m.cpu.run(10)).toBe(StopReason.Halt);
    expect(m.cpu.ripLo).toBe(h + 1);
    expect(m.cpu.cpl).toBe(0);
    expect(m.sel(Seg.SS)).toBe(K_DATA);
    expect(m.esp()).toBe(KSTACK - 20);
    expect([m.r32(KSTACK - 4), m.r32(KSTACK - 8), m.r32(KSTACK - 16), m.r32(KSTACK - 20)]).toEqual([U_DATA, USTACK, U_CODE, UC + 2]);
    expect(m.r32(KSTACK - 12) & Flag.IF).toBe(Flag.IF);
    expect(m.flags() & Flag.IF).toBe(0);
  });

  it('a trap gate keeps IF', () => {
    const m = kernel32();
    handler(m, 0x81, 0xf, 0);
    m.cpu.flags |= Flag.IF;
    m.bytes(KC, [0xcd, 0x81]);
    m.cpu.run(3);
    expect(m.flags() & Flag.IF).toBe(Flag.IF);
    expect(m.esp()).toBe(KSTACK - 12);
  });

  it('INT n through a gate with DPL < CPL: #GP(vector * 8 + 2)', () => {
    const m = user32();
    handler(m, 0x80, 0xe, 0);
    handler(m, Vector.GP, 0xe, 0);
    m.bytes(UC, [0xcd, 0x80]);
    m.cpu.run(5);
    expect(m.cpu.ripLo).toBe(H + Vector.GP * 16 + 1);
    expect(m.r32(KSTACK - 24)).toBe(0x80 * 8 + 2); // error code
    expect(m.r32(KSTACK - 20)).toBe(UC); // faulting INT
  });

  it('a fault pushes the faulting EIP, the error code and RF = 1 in the EFLAGS image', () => {
    const m = user32();
    handler(m, Vector.GP);
    m.bytes(UC, [0x90, HLT]);
    m.cpu.run(5);
    expect(m.r32(KSTACK - 24)).toBe(0);
    expect(m.r32(KSTACK - 20)).toBe(UC + 1);
    expect(m.r32(KSTACK - 12) & Flag.RF).toBe(Flag.RF);
    expect(m.flags() & Flag.RF).toBe(0);
  });

  it('INT3 is a trap: no RF in the image, return address after the instruction', () => {
    const m = kernel32();
    handler(m, Vector.BP, 0xe, 0);
    m.bytes(KC, [0xcc]);
    m.cpu.run(3);
    expect(m.r32(KSTACK - 12)).toBe(KC + 1);
    expect(m.r32(KSTACK - 4) & Flag.RF).toBe(0);
  });

  it('a not-present gate for an exception: #NP(vector * 8 + 2 + EXT)', () => {
    const m = kernel32();
    m.idt(Vector.UD, gate(0xe, K_CODE, 0x1234, 0, 0, false));
    handler(m, Vector.NP);
    m.bytes(KC, [0x0f, 0x0b]); // UD2 (or any #UD)
    m.cpu.run(5);
    expect(m.cpu.ripLo).toBe(H + Vector.NP * 16 + 1);
    expect(m.r32(KSTACK - 16)).toBe(Vector.UD * 8 + 3);
  });

  it('an external interrupt through a bad gate: #GP with EXT = 1', () => {
    const m = kernel32();
    m.idt(0x40, gate(0x3, K_CODE, 0, 0)); // not an interrupt/trap/task gate
    handler(m, Vector.GP);
    let pending = true;
    m.cpu.interrupts = {
      hasInterrupt: () => pending,
      acknowledge: () => {
        pending = false;
        return 0x40;
      },
    };
    m.cpu.flags |= Flag.IF;
    m.bytes(KC, [0x90, 0x90]);
    m.cpu.run(5);
    expect(m.cpu.ripLo).toBe(H + Vector.GP * 16 + 1);
    expect(m.r32(KSTACK - 16)).toBe(0x40 * 8 + 3);
    expect(m.r32(KSTACK - 12)).toBe(KC); // interrupted before the first instruction
  });

  it('the handler offset beyond the code segment limit: #GP(EXT)', () => {
    const m = kernel32();
    m.gdt(13, seg(0, 0xfff, A.code, 4));
    m.idt(0x41, gate(0xe, 13 * 8, 0x2000, 0));
    handler(m, Vector.GP);
    m.bytes(KC, [0xcd, 0x41]);
    m.cpu.run(5);
    expect(m.cpu.ripLo).toBe(H + Vector.GP * 16 + 1);
    expect(m.r32(KSTACK - 16)).toBe(0);
  });

  it('a contributory fault while delivering a contributory fault is #DF with error code 0', () => {
    const m = kernel32();
    m.idt(Vector.GP, gate(0xe, K_CODE, 0, 0, 0, false)); // -> #NP during #GP delivery
    const h = handler(m, Vector.DF);
    m.bytes(KC, [0xea, ...le32(0), 0, 0]); // JMP far to null: #GP(0)
    m.cpu.run(5);
    expect(m.cpu.ripLo).toBe(h + 1);
    expect(m.r32(KSTACK - 16)).toBe(0);
    expect(m.r32(KSTACK - 12)).toBe(KC);
  });

  it('a fault while delivering #DF shuts the processor down (triple fault)', () => {
    const m = kernel32();
    m.idt(Vector.GP, gate(0xe, K_CODE, 0, 0, 0, false));
    m.idt(Vector.DF, gate(0xe, K_CODE, 0, 0, 0, false));
    m.bytes(KC, [0xea, ...le32(0), 0, 0]);
    expect(m.cpu.run(5)).toBe(StopReason.Shutdown);
    expect(m.cpu.shutdown).toBe(true);
  });

  it('a benign exception during delivery is handled serially (no #DF)', () => {
    const m = kernel32();
    // INT 0x42's gate points at a not-present handler segment: #NP delivered normally.
    m.gdt(13, seg(0, 0xfffff, A.code & 0x7f));
    m.idt(0x42, gate(0xe, 13 * 8, 0, 0));
    const h = handler(m, Vector.NP);
    m.bytes(KC, [0xcd, 0x42]);
    m.cpu.run(5);
    expect(m.cpu.ripLo).toBe(h + 1);
    expect(m.r32(KSTACK - 16)).toBe(13 * 8);
  });

  it('IDT limit too small: #GP(vector * 8 + 2)', () => {
    const m = kernel32();
    handler(m, Vector.GP);
    m.cpu.idtrLimit = 0x40 * 8 - 1;
    m.bytes(KC, [0xcd, 0x50]);
    m.cpu.run(5);
    expect(m.r32(KSTACK - 16)).toBe(0x50 * 8 + 2);
  });

  it('an external interrupt at CPL 3 with no room on the new stack: #SS(new SS + EXT), delivered serially', () => {
    const m = user32();
    handler(m, 0x40);
    m.gdt(13, seg(0x40000, 0xfff, A.data, 4));
    m.w32(TSS_BASE + 8, 13 * 8);
    m.w32(TSS_BASE + 4, 16); // 20 bytes needed
    const seen: number[][] = [];
    m.cpu.onEvent = (k, v, e) => {
      seen.push([k, v, e]);
      if (v === Vector.SS) {
        m.cpu.stop();
        return true;
      }
      return false;
    };
    let pending = true;
    m.cpu.interrupts = {
      hasInterrupt: () => pending,
      acknowledge: () => {
        pending = false;
        return 0x40;
      },
    };
    m.cpu.flags |= Flag.IF;
    m.bytes(UC, [0x90]);
    m.cpu.run(5);
    expect(seen).toEqual([
      [1, 0x40, -1],
      [0, Vector.SS, 13 * 8 + 1],
    ]);
    expect(m.cpu.cpl).toBe(3);
    expect(m.esp()).toBe(USTACK);
  });

  it('a #SS while delivering #GP is a double fault', () => {
    const m = user32();
    handler(m, Vector.GP);
    const h = handler(m, Vector.DF);
    m.gdt(13, seg(0x40000, 0xfff, A.data, 4));
    m.w32(TSS_BASE + 8, 13 * 8);
    m.w32(TSS_BASE + 4, 16);
    m.bytes(UC, [HLT]); // #GP at CPL 3
    const seen: number[][] = [];
    m.cpu.onEvent = (k, v, e) => {
      seen.push([k, v, e]);
      return false;
    };
    // #DF needs the same stack switch and fails again: triple fault.
    expect(m.cpu.run(5)).toBe(StopReason.Shutdown);
    expect(seen).toEqual([
      [0, Vector.GP, 0],
      [0, Vector.DF, 0],
    ]);
    void h;
  });

  it('IRET to an outer level pops SS:ESP and nulls DPL 0 data segments; IF kept when CPL > IOPL', () => {
    const m = kernel32();
    m.push32(U_DATA);
    m.push32(USTACK - 4);
    m.push32(0x202 | Flag.IOPL); // IF, IOPL 3
    m.push32(U_CODE);
    m.push32(UC);
    m.bytes(KC, [0xcf]);
    m.bytes(UC, [0x90]);
    m.cpu.step();
    expect(m.cpu.cpl).toBe(3);
    expect(m.sel(Seg.SS)).toBe(U_DATA);
    expect(m.esp()).toBe(USTACK - 4);
    expect(m.sel(Seg.DS)).toBe(0);
    expect(m.flags() & (Flag.IOPL | Flag.IF)).toBe(Flag.IOPL | Flag.IF);
  });

  it('IRET at CPL 3 cannot change IOPL, nor IF when CPL > IOPL', () => {
    const m = user32();
    m.push32(0x202 | Flag.IOPL | Flag.CF);
    m.push32(U_CODE);
    m.push32(UC + 0x10);
    m.bytes(UC, [0xcf]);
    m.cpu.step();
    expect(m.cpu.ripLo).toBe(UC + 0x10);
    expect(m.flags() & (Flag.IOPL | Flag.IF | Flag.CF)).toBe(Flag.CF);
  });

  it('IRET unblocks NMIs', () => {
    const m = kernel32();
    m.push32(0x2);
    m.push32(K_CODE);
    m.push32(KC + 0x10);
    m.bytes(KC, [0xcf]);
    m.cpu.nmiBlocked = true;
    m.cpu.step();
    expect(m.cpu.nmiBlocked).toBe(false);
  });

  it('IRET to a return CS with RPL < CPL: #GP(selector)', () => {
    const m = user32();
    m.push32(0x2);
    m.push32(K_CODE);
    m.push32(0x1000);
    m.bytes(UC, [0xcf]);
    m.catchEvents();
    m.cpu.run(3);
    expect(m.events[0]).toEqual([0, Vector.GP, K_CODE]);
  });

  it('NMI delivery blocks further NMIs until IRET', () => {
    const m = kernel32();
    const h = handler(m, Vector.NMI);
    m.bytes(KC, [0x90]);
    m.cpu.nmiPending = true;
    m.cpu.run(3);
    expect(m.cpu.ripLo).toBe(h + 1);
    expect(m.cpu.nmiBlocked).toBe(true);
    m.cpu.nmiPending = true;
    m.cpu.halted = false;
    m.bytes(h, [0x90, HLT]);
    m.at(h);
    m.cpu.run(3);
    expect(m.cpu.nmiPending).toBe(true);
  });
});

describe('IA-32e interrupt delivery', () => {
  function long64(cpl: 0 | 3): Machine {
    const m = new Machine();
    standard(m);
    m.gdt16(6, seg(TSS_BASE, 0x67, A.tss32, 0), 0);
    for (let i = 0; i < 0x68; i += 4) m.w32(TSS_BASE + i, 0);
    m.w32(TSS_BASE + 4, KSTACK); // RSP0
    m.w32(TSS_BASE + 0x24, 0x60008); // IST1 (misaligned on purpose)
    m.loadTr(6);
    if (cpl === 0) {
      m.longMode(L_CODE, K_DATA, K_DATA);
      m.cpu.gpr[4] = KSTACK - 0x100 + 8;
      m.at(KC);
    } else {
      m.longMode(L_UCODE, U_DATA, U_DATA);
      m.cpu.gpr[4] = USTACK;
      m.at(UC);
    }
    return m;
  }
  function h64(m: Machine, v: number, ist = 0, d = 0, type = 0xe): number {
    const at = H + v * 16;
    m.idt64(v, gate(type, L_CODE, at, d, ist), 0);
    m.w8(at, HLT);
    return at;
  }

  it('from CPL 3: RSP0, 8-byte frame SS RSP RFLAGS CS RIP, SS = null with RPL 0', () => {
    const m = long64(3);
    const h = h64(m, 0x80, 0, 3);
    m.bytes(UC, [0xcd, 0x80]);
    m.cpu.run(3);
    expect(m.cpu.ripLo).toBe(h + 1);
    expect(m.sel(Seg.SS)).toBe(0);
    expect(m.esp()).toBe(KSTACK - 40);
    expect([m.r32(KSTACK - 8), m.r32(KSTACK - 16), m.r32(KSTACK - 32), m.r32(KSTACK - 40)]).toEqual([U_DATA, USTACK, L_UCODE, UC + 2]);
  });

  it('same CPL: the stack is aligned to 16 bytes and SS:RSP are pushed', () => {
    const m = long64(0);
    h64(m, 0x81);
    const rsp = m.esp();
    m.bytes(KC, [0xcd, 0x81]);
    m.cpu.run(3);
    const top = rsp & ~0xf;
    expect(m.esp()).toBe(top - 40);
    expect(m.r32(top - 16)).toBe(rsp);
    expect(m.r32(top - 8)).toBe(K_DATA);
  });

  it('IST: the stack comes from the TSS IST slot, aligned to 16 bytes', () => {
    const m = long64(0);
    const at = H;
    m.idt64(Vector.UD, gate(0xe, L_CODE, at, 0, 1), 0);
    m.w8(at, HLT);
    m.bytes(KC, [0xea]); // invalid in 64-bit mode: #UD
    m.cpu.run(3);
    expect(m.cpu.ripLo).toBe(at + 1);
    expect(m.esp()).toBe(0x60000 - 40);
    expect(m.r32(0x60000 - 40)).toBe(KC);
  });

  it('IST with an error code', () => {
    const m = long64(0);
    const at = H;
    m.idt64(Vector.GP, gate(0xe, L_CODE, at, 0, 1), 0);
    m.w8(at, HLT);
    m.bytes(KC, [0x66, 0xb8, 0x34, 0x12, 0x8e, 0xd8]); // mov ax,0x1234; mov ds,ax: #GP(0x1234)
    m.cpu.run(4);
    expect(m.cpu.ripLo).toBe(at + 1);
    expect(m.esp()).toBe(0x60000 - 48);
    expect(m.r32(0x60000 - 48)).toBe(0x1234);
    expect(m.r32(0x60000 - 40)).toBe(KC + 4);
  });

  it('IRETQ at the same CPL pops SS:RSP', () => {
    const m = long64(0);
    const frameAt = KSTACK - 0x200;
    m.cpu.gpr[4] = frameAt;
    m.w32(frameAt, KC + 0x20);
    m.w32(frameAt + 8, L_CODE);
    m.w32(frameAt + 16, 0x2);
    m.w32(frameAt + 24, 0x12340);
    m.w32(frameAt + 32, K_DATA);
    m.bytes(KC, [0x48, 0xcf]);
    m.cpu.step();
    expect(m.cpu.ripLo).toBe(KC + 0x20);
    expect(m.esp()).toBe(0x12340);
  });

  it('IRETQ to CPL 3 with a null SS: #GP(0); to CPL 0 a null SS is allowed', () => {
    const m = long64(0);
    const f = KSTACK - 0x200;
    m.cpu.gpr[4] = f;
    m.w32(f, UC);
    m.w32(f + 8, L_UCODE);
    m.w32(f + 16, 2);
    m.w32(f + 24, USTACK);
    m.w32(f + 32, 3);
    m.bytes(KC, [0x48, 0xcf]);
    m.catchEvents();
    m.cpu.run(2);
    expect(m.events[0]).toEqual([0, Vector.GP, 0]);

    const m2 = long64(0);
    m2.cpu.gpr[4] = f;
    m2.w32(f, KC + 0x40);
    m2.w32(f + 8, L_CODE);
    m2.w32(f + 16, 2);
    m2.w32(f + 24, 0x5000);
    m2.w32(f + 32, 0);
    m2.bytes(KC, [0x48, 0xcf]);
    m2.cpu.step();
    expect(m2.cpu.ripLo).toBe(KC + 0x40);
    expect(m2.sel(Seg.SS)).toBe(0);
  });

  it('IRET with NT = 1 in IA-32e mode: #GP(0)', () => {
    const m = long64(0);
    m.cpu.flags |= Flag.NT;
    m.bytes(KC, [0x48, 0xcf]);
    m.catchEvents();
    m.cpu.run(2);
    expect(m.events[0]).toEqual([0, Vector.GP, 0]);
  });

  it('a 32-bit gate type in the IDT: #GP(vector * 8 + 2)', () => {
    const m = long64(0);
    m.idt64(0x82, gate(0x6, L_CODE, 0x1000, 0), 0);
    const h = h64(m, Vector.GP);
    m.bytes(KC, [0xcd, 0x82]);
    m.cpu.run(3);
    expect(m.cpu.ripLo).toBe(h + 1);
    const top = (KSTACK - 0x100 + 8) & ~0xf;
    expect(m.r32(top - 48)).toBe(0x82 * 8 + 2);
  });

  it('a non-canonical handler address: #GP(0)', () => {
    const m = long64(0);
    m.idt64(0x83, gate(0xe, L_CODE, 0x1000, 0), 0x00800000);
    const h = h64(m, Vector.GP);
    m.bytes(KC, [0xcd, 0x83]);
    m.cpu.run(3);
    expect(m.cpu.ripLo).toBe(h + 1);
    const top = (KSTACK - 0x100 + 8) & ~0xf;
    expect(m.r32(top - 48)).toBe(0);
  });

  it('a #PF while delivering #GP is delivered serially as #PF (not #DF)', () => {
    const m = long64(0);
    m.w32(TSS_BASE + 0x24, 0x500000); // IST1 in unmapped memory (only 4 MiB mapped)
    m.idt64(Vector.GP, gate(0xe, L_CODE, 0x1000, 0, 1), 0);
    const h = h64(m, Vector.PF);
    h64(m, Vector.DF);
    m.bytes(KC, [0x66, 0xb8, 0x34, 0x12, 0x8e, 0xd8]);
    m.cpu.run(4);
    expect(m.cpu.ripLo).toBe(h + 1);
    expect(m.cpu.cr2Lo >>> 0).toBe(0x500000 - 8);
    const top = (KSTACK - 0x100 + 8) & ~0xf;
    expect(m.r32(top - 48)).toBe(2); // #PF error code: supervisor write, not present
    expect(m.r32(top - 40)).toBe(KC + 4);
  });
});
