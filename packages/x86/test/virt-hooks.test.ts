/**
 * The core hooks a virtualization extension drives (VT-x first, SVM later): CR0/CR4 guest/host
 * masks and read shadows, the TSC offset, the boundary hook (extBoundary, extDeadline), IDT-
 * vectoring information during event delivery, richer intercept information, INIT blocking,
 * tagged TLB banks and the instruction-information helpers. Expected values come from the SDM
 * (Vol. 3C §25.3, §25.5.1, §27.2.1, §27.2.4, §27.2.5, §28.3), not from the implementation.
 */
import { describe, expect, it } from 'vitest';
import {
  CPU_VMEXIT,
  Cr0,
  Cr4,
  Efer,
  Flag,
  Intercept,
  Seg,
  StopReason,
  Vector,
  insnAddrSize,
  insnBaseReg,
  insnIndexReg,
  insnIsMem,
  insnLength,
  insnScale,
  insnSegment,
  memOperandLinear,
  vmxInstructionInfo,
  type Cpu,
} from '../src/index.js';
import { ATTR, CODE, fakeExt, Sys } from './sys-harness.js';

const HLT = 0xf4;
const NOP = 0x90;

interface Call {
  what: number;
  info: number;
  info2: number;
}

/** Flat 32-bit CPL 0 guest with a recording extension. */
function guest32(over: Parameters<typeof fakeExt>[1] = {}): { s: Sys; calls: Call[] } {
  const s = new Sys();
  s.flat32(0);
  const calls: Call[] = [];
  s.cpu.ext = fakeExt('vmx', {
    intercept: (_c, what, info, info2) => {
      calls.push({ what, info, info2 });
      return false;
    },
    ...over,
  });
  s.cpu.guestMode = true;
  return { s, calls };
}

describe('CR0/CR4 guest/host masks and read shadows (SDM §25.3)', () => {
  it('MOV from CR0/CR4 and SMSW read host-owned bits from the shadow', () => {
    const { s } = guest32();
    const c = s.cpu;
    c.cr0 = (c.cr0 | Cr0.TS) & ~Cr0.NE; // real: TS = 1, NE = 0
    c.cr0GuestMask = Cr0.TS | Cr0.NE;
    c.cr0ReadShadow = Cr0.NE; // shadow: TS = 0, NE = 1
    c.cr4 = Cr4.VMXE | Cr4.PGE;
    c.cr4GuestMask = Cr4.VMXE;
    c.cr4ReadShadow = 0;
    // mov eax, cr0 ; mov ebx, cr4 ; smsw ecx ; hlt
    s.code([0x0f, 0x20, 0xc0, 0x0f, 0x20, 0xe3, 0x0f, 0x01, 0xe1, HLT]);
    expect(s.run()).toBe(StopReason.Halt);
    const expected = ((c.cr0 & ~(Cr0.TS | Cr0.NE)) | Cr0.NE) >>> 0;
    expect(c.gpr[0]! >>> 0).toBe(expected);
    expect(c.gpr[3]! >>> 0).toBe(Cr4.PGE); // VMXE hidden by the shadow
    expect(c.gpr[1]! >>> 0).toBe(expected); // SMSW r32: the whole (shadowed) CR0
    // Outside guest mode the real values.
    c.guestMode = false;
    s.code([0x0f, 0x20, 0xc0, HLT]);
    s.run();
    expect(c.gpr[0]! >>> 0).toBe(c.cr0 >>> 0);
  });

  it('MOV to CR0, CLTS and LMSW leave host-owned bits unchanged', () => {
    const { s } = guest32();
    const c = s.cpu;
    c.cr0 = (c.cr0 | Cr0.TS) & ~(Cr0.NE | Cr0.MP);
    c.cr0GuestMask = Cr0.TS | Cr0.NE;
    c.cr0ReadShadow = 0;
    // mov eax, cr0 ; and eax, ~TS ; or eax, NE|MP ; mov cr0, eax ; hlt
    s.code([0x0f, 0x20, 0xc0, 0x25, ...le32(~Cr0.TS), 0x0d, ...le32(Cr0.NE | Cr0.MP), 0x0f, 0x22, 0xc0, HLT]);
    s.run();
    expect(c.cr0 & Cr0.TS).toBe(Cr0.TS); // host-owned: unchanged
    expect(c.cr0 & Cr0.NE).toBe(0); // host-owned: unchanged
    expect(c.cr0 & Cr0.MP).toBe(Cr0.MP); // guest-owned: written
    // clts ; hlt: TS is host-owned, so it stays set.
    s.code([0x0f, 0x06, HLT]);
    s.run();
    expect(c.cr0 & Cr0.TS).toBe(Cr0.TS);
    // xor eax, eax ; lmsw ax ; hlt: MP (guest-owned) cleared, TS (host-owned) kept, PE never cleared.
    s.code([0x31, 0xc0, 0x0f, 0x01, 0xf0, HLT]);
    s.run();
    expect(c.cr0 & (Cr0.TS | Cr0.MP | Cr0.PE)).toBe(Cr0.TS | Cr0.PE);
    // With TS guest-owned CLTS clears it.
    c.cr0GuestMask = 0;
    s.code([0x0f, 0x06, HLT]);
    s.run();
    expect(c.cr0 & Cr0.TS).toBe(0);
  });

  it('CrWrite/CrRead carry the register; LMSW its source and operand kind', () => {
    const { s, calls } = guest32();
    // mov cr0, ebx ; mov esi, cr4 ; lmsw di ; lmsw [0x5000] ; hlt
    s.w16(0x5000, 0x1234);
    s.cpu.gpr[7] = 0xabcd;
    s.code([0x0f, 0x22, 0xc3, 0x0f, 0x20, 0xe6, 0x0f, 0x01, 0xf7, 0x0f, 0x01, 0x35, ...le32(0x5000), HLT]);
    s.cpu.ext!.intercept = (cpu, what, info, info2) => {
      calls.push({ what, info, info2 });
      if (what === Intercept.Lmsw) calls.push({ what: -1, info: cpu.lastLo, info2: cpu.lastHi });
      return what === Intercept.CrWrite || what === Intercept.Lmsw; // exit: nothing changes
    };
    const cr0 = s.cpu.cr0;
    s.run();
    const cr = calls.filter((k) => k.what !== Intercept.Hlt);
    expect(cr[0]).toEqual({ what: Intercept.CrWrite, info: 0 | (3 << 4), info2: 0 });
    expect(cr[1]).toEqual({ what: Intercept.CrRead, info: 4 | (6 << 4), info2: 0 });
    expect(cr[2]).toEqual({ what: Intercept.Lmsw, info: 0xabcd, info2: 7 << 1 });
    expect(cr[4]).toEqual({ what: Intercept.Lmsw, info: 0x1234, info2: 1 });
    expect(cr[5]).toEqual({ what: -1, info: 0x5000, info2: 0 });
    expect(s.cpu.cr0).toBe(cr0);
  });
});

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

describe('TSC offsetting (SDM §25.3)', () => {
  it('RDTSC and RDMSR IA32_TSC add the offset with a carry in guest mode only', () => {
    const { s } = guest32();
    const c = s.cpu;
    c.tscOffsetLo = 0x10;
    c.tscOffsetHi = 1;
    // rdtsc ; mov esi, eax ; mov edi, edx ; mov ecx, 0x10 ; rdmsr ; hlt
    const code = [0x0f, 0x31, 0x89, 0xc6, 0x89, 0xd7, 0xb9, ...le32(0x10), 0x0f, 0x32, HLT];
    // Host TSC at the RDTSC = 2^32 - 5, at the RDMSR (4 instructions later) 2^32 - 1.
    c.tscOffset = 2 ** 32 - 5 - c.icount;
    s.code(code);
    s.run();
    // 0xFFFFFFFB + 0x1_00000010 = 0x2_0000000B.
    expect([c.gpr[6]! >>> 0, c.gpr[7]! >>> 0]).toEqual([0xb, 2]);
    expect([c.gpr[0]! >>> 0, c.gpr[2]! >>> 0]).toEqual([0xf, 2]);
    c.guestMode = false;
    c.tscOffset = 2 ** 32 - 5 - c.icount;
    s.code(code);
    s.run();
    expect([c.gpr[6]! >>> 0, c.gpr[7]! >>> 0]).toEqual([0xffff_fffb, 0]);
    expect([c.gpr[0]! >>> 0, c.gpr[2]! >>> 0]).toEqual([0xffff_ffff, 0]);
  });
});

describe('the boundary hook', () => {
  it('extBoundary: boundary() once per instruction, before each, also after HLT', () => {
    const seen: number[] = [];
    const { s } = guest32({ boundary: (cpu) => (seen.push(cpu.icount), false) });
    s.code([NOP, NOP, NOP, NOP, NOP, HLT]);
    const start = s.cpu.icount;
    s.cpu.extBoundary = true;
    expect(s.run()).toBe(StopReason.Halt);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6].map((k) => start + k));
    // Halted with extBoundary: another call when time passes (the next run).
    s.run();
    expect(seen.length).toBe(8);
    // Without it: never.
    seen.length = 0;
    s.cpu.extBoundary = false;
    s.code([NOP, NOP, HLT]);
    s.run();
    expect(seen).toEqual([]);
  });

  it('extBoundary set by an intercept is honoured at the very next boundary', () => {
    const seen: number[] = [];
    const { s } = guest32({
      boundary: (cpu) => (seen.push(cpu.icount), false),
      intercept: (cpu, what) => {
        if (what === Intercept.Cpuid) cpu.extBoundary = true;
        return false;
      },
    });
    // nop ; cpuid ; nop ; nop ; hlt (one block)
    s.code([NOP, 0x0f, 0xa2, NOP, NOP, HLT]);
    const start = s.cpu.icount;
    s.run();
    expect(seen[0]).toBe(start + 2);
    expect(seen.slice(0, 4)).toEqual([2, 3, 4, 5].map((k) => start + k));
  });

  it('extDeadline: called at the first boundary at or after it, never run past', () => {
    const seen: number[] = [];
    const { s } = guest32({
      boundary: (cpu) => {
        seen.push(cpu.icount);
        cpu.extDeadline = Infinity;
        cpu.stop();
        return true;
      },
    });
    s.code([0xeb, 0xfe]); // jmp $
    const deadline = s.cpu.icount + 1000;
    s.cpu.extDeadline = deadline;
    expect(s.run(100_000)).toBe(StopReason.Stopped);
    // Exactly at the deadline: not one instruction more (SDM §25.5.1).
    expect(seen).toEqual([deadline]);
    expect(s.cpu.icount).toBe(deadline);
  });

  it('extDeadline while halted: the idle core jumps to the deadline', () => {
    const seen: number[] = [];
    const { s } = guest32({
      boundary: (cpu) => {
        seen.push(cpu.icount);
        cpu.extDeadline = Infinity;
        return false;
      },
    });
    s.code([HLT]);
    s.run();
    expect(s.cpu.halted).toBe(true);
    const deadline = s.cpu.icount + 5000;
    s.cpu.extDeadline = deadline;
    const idle = s.cpu.idleTicks;
    expect(s.run(100_000)).toBe(StopReason.Halt);
    expect(seen).toEqual([deadline]);
    expect(s.cpu.idleTicks - idle).toBe(5000);
    // A deadline beyond the budget is not reached within this run.
    s.cpu.extDeadline = s.cpu.icount + 1_000_000;
    s.run(10);
    expect(seen.length).toBe(1);
  });
});

/** Flat 32-bit guest with a GDT (code at 8), an IDT at 0x2000 and handlers at 0x3000. */
function idtGuest(): Sys {
  const s = new Sys();
  s.flat32(0);
  s.cpu.onEvent = null;
  s.desc(0x1000, 1, 0, 0xfffff, 0x9a);
  s.cpu.gdtrBaseLo = 0x1000;
  s.cpu.gdtrLimit = 0xff;
  s.cpu.idtrBaseLo = 0x2000;
  s.cpu.idtrLimit = 0x7ff;
  for (let v = 0; v < 0x40; v++) {
    s.w32(0x2000 + v * 8, (8 << 16) | 0x3000);
    s.w32(0x2000 + v * 8 + 4, 0x8e00); // present 32-bit interrupt gate, DPL 0
  }
  s.w8(0x3000, HLT);
  s.cpu.guestMode = true;
  return s;
}

describe('IDT-vectoring information during delivery (SDM §27.2.4)', () => {
  it('an EPT-like exit on a stack push sees the event being delivered; 0 afterwards', () => {
    const s = idtGuest();
    const seen: { info: number; err: number; len: number; gva: number; valid: boolean }[] = [];
    let fault = true;
    s.cpu.ext = fakeExt('vmx', {
      translateGpa: (cpu: Cpu, gpa: number) => {
        if (fault && (gpa & ~0xfff) === 0x7000) {
          seen.push({ info: cpu.vectoringInfo >>> 0, err: cpu.vectoringError, len: cpu.vectoringInsnLen, gva: cpu.gvaLo, valid: cpu.gvaValid });
          cpu.stop();
          throw CPU_VMEXIT;
        }
        return gpa;
      },
    });
    // int 0x30 (software interrupt, type 4, length 2)
    s.code([0xcd, 0x30]);
    s.run();
    expect(seen[0]).toEqual({ info: (0x80000000 | (4 << 8) | 0x30) >>> 0, err: 0, len: 2, gva: 0x7ffc, valid: true });
    expect(s.cpu.vectoringInfo).toBe(0);
    // int3 (software exception, type 6, length 1)
    s.code([0xcc]);
    s.run();
    expect(seen[1]!.info).toBe((0x80000000 | (6 << 8) | 3) >>> 0);
    expect(seen[1]!.len).toBe(1);
    // ud2: a hardware exception (type 3).
    s.code([0x0f, 0x0b]);
    s.run();
    expect(seen[2]!.info).toBe((0x80000000 | (3 << 8) | 6) >>> 0);
    // Delivery that completes leaves 0.
    fault = false;
    s.code([0xcd, 0x30]);
    s.run();
    expect(s.cpu.ripLo).toBe(0x3001);
    expect(s.cpu.vectoringInfo).toBe(0);
  });

  it('a nested exception intercept sees the first event; Exception info carries kind and source', () => {
    const s = idtGuest();
    s.w32(0x2000 + 0x31 * 8 + 4, 0x0e00); // gate 0x31 not present: #NP(0x31 * 8 + 2)
    const calls: { info: number; info2: number; vec: number; rip: number; len: number }[] = [];
    s.cpu.ext = fakeExt('vmx', {
      intercept: (cpu, what, info, info2) => {
        if (what === Intercept.Exception) calls.push({ info, info2, vec: cpu.vectoringInfo >>> 0, rip: cpu.ripLo, len: cpu.vectoringInsnLen });
        if (what === Intercept.Exception && (info & 0xff) === 11) {
          cpu.stop();
          return true;
        }
        return false;
      },
    });
    s.code([NOP, 0xcd, 0x31]);
    s.run();
    // First the INT 0x31 itself: vector | kind 3 (software) << 8 | src 1 (CD ib) << 12, no error code.
    expect(calls[0]).toEqual({ info: 0x31 | (3 << 8) | (1 << 12), info2: -1, vec: 0, rip: CODE + 3, len: 2 });
    // Then the #NP raised while delivering it, with IDT-vectoring information = the INT 0x31.
    expect(calls[1]!.info).toBe(11);
    expect(calls[1]!.info2).toBe(0x31 * 8 + 2);
    expect(calls[1]!.vec).toBe((0x80000000 | (4 << 8) | 0x31) >>> 0);
    expect(s.cpu.vectoringInfo).toBe(0);
  });

  it('external interrupts are not offered as Exception; NMI is, and exiting leaves NMIs unblocked', () => {
    const s = idtGuest();
    const whats: number[] = [];
    s.cpu.ext = fakeExt('vmx', {
      intercept: (cpu, what, info, info2) => {
        whats.push(what, info, info2);
        cpu.stop();
        return true;
      },
    });
    s.code([NOP, NOP]);
    s.cpu.nmi();
    s.run();
    expect(whats).toEqual([Intercept.Nmi, 2 | (2 << 8), -1]);
    expect(s.cpu.nmiBlocked).toBe(false);
  });
});

describe('blocking of the current instruction (insnShadow) and INTR with IF = 0 (intrIgnoresIf)', () => {
  it('insnShadow is 2 inside the instruction after MOV SS, 1 after STI, 0 otherwise and at boundaries', () => {
    const seen: number[] = [];
    const { s } = guest32({
      intercept: (cpu, what) => {
        if (what === Intercept.Cpuid) seen.push(cpu.insnShadow);
        return false;
      },
    });
    // As MOV SS leaves it at the boundary; then cpuid; cpuid; cli; sti; cpuid; cpuid; hlt.
    s.code([0x0f, 0xa2, 0x0f, 0xa2, 0xfa, 0xfb, 0x0f, 0xa2, 0x0f, 0xa2, HLT]);
    s.cpu.interruptShadow = true;
    s.cpu.stiShadow = false;
    expect(s.run()).toBe(StopReason.Halt);
    expect(seen).toEqual([2, 0, 1, 0]);
    expect(s.cpu.insnShadow).toBe(0);
  });

  it('a fault in a shadowed instruction is delivered (and intercepted) with insnShadow still set', () => {
    const seen: number[] = [];
    const { s } = guest32({
      intercept: (cpu, what, info) => {
        if (what === Intercept.Exception) seen.push(info & 0xff, cpu.insnShadow);
        cpu.stop();
        return true;
      },
    });
    s.cpu.onEvent = null;
    // cli; sti; ud2
    s.code([0xfa, 0xfb, 0x0f, 0x0b]);
    s.run();
    expect(seen).toEqual([6, 1]);
    expect(s.cpu.insnShadow).toBe(0);
  });

  it('intrIgnoresIf: in guest mode INTR is offered with IF = 0 (also waking HLT), never delivered, and not in a shadow', () => {
    const offered: number[] = [];
    let pending = false;
    let exit = true;
    const { s } = guest32({
      intercept: (cpu, what) => {
        if (what === Intercept.Interrupt) {
          offered.push(cpu.icount);
          if (exit) cpu.stop();
          return exit;
        }
        return false;
      },
    });
    s.cpu.interrupts = { hasInterrupt: () => pending, acknowledge: () => ((pending = false), 0x30) };
    s.cpu.flags &= ~Flag.IF;
    const start = s.cpu.icount;
    // Without intrIgnoresIf, IF = 0 keeps it pending: the guest halts.
    pending = true;
    s.code([NOP, HLT]);
    expect(s.run()).toBe(StopReason.Halt);
    expect(offered).toEqual([]);
    // With it: offered before the first instruction, and from HLT.
    s.cpu.intrIgnoresIf = true;
    s.code([NOP, HLT]);
    expect(s.run()).toBe(StopReason.Stopped);
    expect(offered).toEqual([start + 2]);
    expect(s.cpu.halted).toBe(false);
    s.cpu.halted = true;
    s.run();
    expect(offered).toEqual([start + 2, start + 2]);
    expect(s.cpu.halted).toBe(true);
    // A MOV SS (or STI) shadow holds it back one instruction.
    for (const sti of [false, true]) {
      offered.length = 0;
      s.code([NOP, NOP, HLT]);
      s.cpu.interruptShadow = true;
      s.cpu.stiShadow = sti;
      const at = s.cpu.icount;
      s.run();
      expect(offered).toEqual([at + 1]);
    }
    // Declined by the extension: nothing is delivered while IF = 0.
    exit = false;
    offered.length = 0;
    s.code([NOP, HLT]);
    s.cpu.run(3);
    expect(offered.length).toBeGreaterThan(0);
    expect(pending).toBe(true);
  });
});

describe('PAUSE in guest mode', () => {
  it('a PAUSE that exits does not also yield the turn; one that does not exit yields (pauseYields)', () => {
    let exits = true;
    const { s } = guest32({ intercept: (_c, what) => what === Intercept.Pause && exits });
    s.cpu.pauseYields = true;
    s.code([0xf3, 0x90, NOP, HLT]);
    expect(s.run()).toBe(StopReason.Halt);
    exits = false;
    s.code([0xf3, 0x90, NOP, HLT]);
    expect(s.run()).toBe(StopReason.Yield);
  });
});

describe('INIT and SIPI', () => {
  it('INIT stays pending while initBlocked and is taken once unblocked', () => {
    const s = new Sys();
    s.flat32(0);
    const c = s.cpu;
    c.apicBaseLo &= ~0x100; // an application processor: INIT leads to wait-for-SIPI
    c.initBlocked = true;
    c.init();
    s.code([NOP, NOP, HLT]);
    expect(s.run()).toBe(StopReason.Halt);
    expect(c.ripLo).toBe(CODE + 3);
    expect(c.cr0 & Cr0.PE).toBe(Cr0.PE);
    expect(c.waitForSipi).toBe(false);
    c.initBlocked = false;
    expect(s.run()).toBe(StopReason.Halt);
    expect(c.waitForSipi).toBe(true);
    expect(c.cr0 & Cr0.PE).toBe(0);
  });

  it('in guest mode INIT and SIPI go to the extension first', () => {
    const s = new Sys();
    s.flat32(0);
    const c = s.cpu;
    const got: number[] = [];
    c.ext = fakeExt('vmx', {
      intercept: (_c, what, info) => {
        if (what === Intercept.Init || what === Intercept.Sipi) got.push(what, info);
        return true;
      },
    });
    c.guestMode = true;
    c.init();
    s.code([NOP, HLT]);
    s.run();
    expect(got).toEqual([Intercept.Init, 0]);
    expect(c.cr0 & Cr0.PE).toBe(Cr0.PE); // consumed: no reset
    c.waitForSipi = true;
    c.startup(0x12);
    expect(got.slice(2)).toEqual([Intercept.Sipi, 0x12]);
    expect(c.waitForSipi).toBe(true);
  });
});

describe('tagged TLB banks', () => {
  it('a translation cached in one bank serves only that bank; flushTlb flushes the current bank', () => {
    const s = new Sys({ ram: 8 << 20 });
    s.long64();
    const c = s.cpu;
    s.w32(0x200000, 0xaaaa);
    s.w32(0x400000, 0xbbbb);
    const pde = 0x72000 + 8; // long64(): PD at 0x72000, entry 1 maps 0x200000
    expect(s.r32(pde) >>> 0).toBe(0x200000 | 0x87);
    c.selectTlbBank(1);
    expect(c.tlbBankTag).toBe(1);
    expect(c.rd32(0x200000, 0)).toBe(0xaaaa);
    s.w32(pde, 0x400000 | 0x87); // remap without any flush
    expect(c.rd32(0x200000, 0)).toBe(0xaaaa); // bank 1 still caches the old translation
    c.selectTlbBank(0);
    expect(c.rd32(0x200000, 0)).toBe(0xbbbb); // bank 0 walks the new tables
    c.selectTlbBank(1);
    expect(c.rd32(0x200000, 0)).toBe(0xaaaa); // back, no flush in between
    c.selectTlbBank(0);
    c.flushTlb(true);
    c.selectTlbBank(1);
    expect(c.rd32(0x200000, 0)).toBe(0xaaaa); // flushTlb in bank 0 did not touch bank 1
    c.flushTlbBank(1);
    expect(c.rd32(0x200000, 0)).toBe(0xbbbb);
  });

  it('at most 8 banks: the least recently used is flushed and reused', () => {
    const s = new Sys({ ram: 8 << 20 });
    s.long64();
    const c = s.cpu;
    s.w32(0x200000, 0xaaaa);
    s.w32(0x400000, 0xbbbb);
    c.selectTlbBank(1);
    expect(c.rd32(0x200000, 0)).toBe(0xaaaa);
    s.w32(0x72008, 0x400000 | 0x87);
    // Banks 0..7 exist after 2..7; bank 8 evicts the least recently used (bank 0, not 1).
    for (let t = 2; t <= 8; t++) c.selectTlbBank(t);
    c.selectTlbBank(1);
    expect(c.rd32(0x200000, 0)).toBe(0xaaaa);
    // Bank 9 evicts bank 2, ... none of them is 1 (used last): still cached.
    c.selectTlbBank(9);
    c.selectTlbBank(1);
    expect(c.rd32(0x200000, 0)).toBe(0xaaaa);
    c.flushAllTlbBanks();
    expect(c.rd32(0x200000, 0)).toBe(0xbbbb);
  });

  it('switching banks invalidates the jump cache (codeGen)', () => {
    const s = new Sys();
    s.flat32(0);
    const g = s.cpu.codeGen;
    s.cpu.selectTlbBank(3);
    expect(s.cpu.codeGen).not.toBe(g);
  });
});

describe('world switch: contextChanged', () => {
  it('recomputes mode and CPL and makes the next RIP follow a RIP loaded by an intercept', () => {
    const s = new Sys();
    s.flat32(0);
    const c = s.cpu;
    c.ext = fakeExt('vmx', {
      intercept: (cpu, what) => {
        if (what !== Intercept.Cpuid) return false;
        // "VM exit" to a 16-bit real-mode host at 0x6000 (CS base 0x6000, IP 0).
        cpu.cr0 &= ~Cr0.PE;
        cpu.setSegmentRaw(Seg.CS, 0x600, 0x6000, 0xffff, cpu.segAttr[Seg.CS]! & ~0x4000);
        cpu.ripLo = 0;
        cpu.ripHi = 0;
        cpu.guestMode = false;
        cpu.contextChanged();
        return true;
      },
    });
    c.guestMode = true;
    s.w8(0x6000, HLT);
    s.code([0x0f, 0xa2, NOP, NOP, NOP]);
    expect(s.run()).toBe(StopReason.Halt);
    expect(c.ripLo).toBe(1);
    expect(c.mode).toBe(0);
  });

  it('a switch out of 64-bit mode applies the new context\'s segment limits (written raw in 64-bit mode)', () => {
    const s = new Sys().long64();
    const c = s.cpu;
    // In 64-bit mode: a DS with a 4 GiB limit, then the next context's DS (limit FFFh) stored
    // directly into the arrays, as a world switch does, still in 64-bit mode.
    c.setSegmentRaw(Seg.DS, 0x10, 0, 0xffffffff, ATTR.data);
    c.segLimit[Seg.DS] = 0xfff;
    c.contextChanged();
    // The switch to a flat 32-bit context without paging: an access past DS's limit is #GP(0)
    // (SDM Vol. 3 §5.3; in 64-bit mode no limit is checked).
    c.efer &= ~(Efer.LME | Efer.LMA);
    c.cr0 &= ~Cr0.PG;
    c.segAttr[Seg.CS] = ATTR.code32;
    c.segAttr[Seg.SS] = ATTR.data;
    c.segLimit[Seg.SS] = 0xffffffff;
    c.contextChanged();
    expect(c.mode).toBe(1);
    // mov eax, [0x2000] ; hlt
    s.code([0x8b, 0x05, 0x00, 0x20, 0x00, 0x00, 0xf4]);
    s.run();
    expect(s.events).toEqual([{ vector: Vector.GP, error: 0 }]);
  });

  it('breakpoint masks follow DR7 across world switches and a reset', () => {
    const s = new Sys().flat32();
    const c = s.cpu;
    // nop ; nop ; hlt with an execute breakpoint on the second NOP (L0, R/W0 = 00b).
    c.drLo[0] = CODE + 1;
    c.drLo[7] = 0x401;
    c.contextChanged();
    s.code([0x90, 0x90, 0xf4]);
    s.run();
    expect(s.events.map((e) => e.vector)).toEqual([Vector.DB]);
    // The same DR7 after another switch: still armed.
    s.events.length = 0;
    c.contextChanged();
    s.code([0x90, 0x90, 0xf4]);
    s.run();
    expect(s.events.map((e) => e.vector)).toEqual([Vector.DB]);
    // DR7 = 400h loaded by a switch: disarmed.
    s.events.length = 0;
    c.drLo[7] = 0x400;
    c.contextChanged();
    s.code([0x90, 0x90, 0xf4]);
    expect(s.run()).toBe(StopReason.Halt);
    expect(s.events).toEqual([]);
    // A reset clears the masks: the breakpoint armed again afterwards with the DR7 of before.
    c.drLo[7] = 0x401;
    c.updateDebug();
    c.reset();
    s.flat32();
    c.drLo[0] = CODE + 1;
    c.drLo[7] = 0x401;
    c.updateDebug();
    s.code([0x90, 0x90, 0xf4]);
    s.run();
    expect(s.events.map((e) => e.vector)).toEqual([Vector.DB]);
  });
});

describe('instruction information (SDM §27.2.5)', () => {
  it('curRec names the intercepted instruction; memory operand fields and linear address', () => {
    const s = new Sys();
    s.long64();
    const c = s.cpu;
    const got: number[] = [];
    c.ext = fakeExt('vmx', {
      intercept: (cpu, what) => {
        if (what !== Intercept.DescriptorTable) return false;
        const d = cpu.curRec;
        const lo = memOperandLinear(cpu, d);
        got.push(vmxInstructionInfo(cpu, d), insnLength(cpu, d), insnScale(cpu, d), insnIndexReg(cpu, d), insnBaseReg(cpu, d), insnAddrSize(cpu, d), insnSegment(cpu, d), lo, cpu.hi);
        return true;
      },
    });
    c.guestMode = true;
    c.gpr[0] = 0x1000;
    c.gpr[3] = 0x20;
    c.setSegmentRaw(Seg.FS, 0, 0x10, 0, 0, 1); // FS base 0x1_0000_0010
    // sgdt [rax + rbx*4 + 0x10] ; sgdt fs:[rax + rbx*4 + 0x10] ; hlt
    s.code([0x0f, 0x01, 0x44, 0x98, 0x10, 0x64, 0x0f, 0x01, 0x44, 0x98, 0x10, HLT]);
    s.run();
    // Table 27-11/27-14: scaling 2 (x4), address size 2 (64-bit), memory, segment DS (3), index RBX (3), base RAX (0).
    const info = 2 | (2 << 7) | (3 << 15) | (3 << 18) | (0 << 23);
    expect(got.slice(0, 9)).toEqual([info, 5, 2, 3, 0, 2, 3, 0x1090, 0]);
    expect(got.slice(9, 18)).toEqual([(info & ~(7 << 15)) | (4 << 15), 6, 2, 3, 0, 2, 4, 0x10a0, 1]);
  });

  it('a register operand: Mem/Reg = 1, Reg1 = r/m, Reg2 = reg; no base or index', () => {
    const s = new Sys();
    s.long64();
    const c = s.cpu;
    const got: number[] = [];
    c.ext = fakeExt('vmx', {
      execute: (cpu, _which, d) => {
        expect(cpu.curRec).toBe(d);
        got.push(vmxInstructionInfo(cpu, d), insnIsMem(cpu, d) ? 1 : 0, insnBaseReg(cpu, d), insnIndexReg(cpu, d));
      },
    });
    // vmread r9, rbx (REX.B: 41 0F 78 D9: reg = rbx, rm = r9) ; hlt
    s.code([0x41, 0x0f, 0x78, 0xd9, HLT]);
    s.run();
    expect(got).toEqual([(2 << 7) | (1 << 10) | (9 << 3) | (3 << 28), 0, -1, -1]);
  });

  it('string I/O exposes the linear address of its memory operand', () => {
    const { s, calls } = guest32();
    s.cpu.ext!.intercept = (cpu, what, info, info2) => {
      if (what === Intercept.Io) calls.push({ what: cpu.lastLo, info, info2 });
      return what === Intercept.Io;
    };
    s.cpu.setSegmentRaw(Seg.DS, 0x10, 0x100, 0xffffffff, s.cpu.segAttr[Seg.DS]!);
    s.cpu.gpr[6] = 0x2000;
    s.cpu.gpr[2] = 0x80;
    // outsb ; hlt
    s.code([0x6e, HLT]);
    s.run();
    expect(calls[0]).toEqual({ what: 0x2100, info: 0x80 | (1 << 16) | (1 << 20), info2: 2 | (3 << 4) });
  });
});
