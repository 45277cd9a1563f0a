/**
 * The SVM intercepts (AMD APM Vol. 2 §15.7-§15.14) with their EXITCODEs (Appendix C) and
 * EXITINFO1/EXITINFO2 formats. The guest instruction runs on the real core in guest mode with the
 * cached controls set directly (as VMRUN would); `svmExit` is replaced by a recorder so these
 * tests check intercept.ts alone (end-to-end exits through VMRUN/#VMEXIT: intercept-e2e.test.ts).
 * Expected values come from the APM.
 */
import { Cr0, Cr4, Intercept, type Cpu } from '@hvkit/x86';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { InterceptMisc1, InterceptMisc2, SvmExitCode, VIntr } from './constants.js';
import { DEFAULT_SVM_FEATURES } from './caps.js';
import { intercept, interceptEnter, iopmIntercepts, ioioInfo, msrpmBit, msrpmIntercepts, taskSwitchInfo2Hi } from './intercept.js';
import type { SvmCpu } from './svm.js';
import { CODE, IOPM_AT, MSRPM_AT, R, SvmMachine, VMCB_AT } from './test-harness.js';
import { VmcbOffset } from './vmcb.js';

interface ExitRec {
  code: number;
  i1: bigint;
  i2: bigint;
  rip: number;
  nip: number;
}

const rec = vi.hoisted(() => ({ exits: [] as ExitRec[] }));

vi.mock('./vmexit.js', () => {
  const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  return {
    svmExit: (_svm: SvmCpu, cpu: Cpu, code: number, a: number, b: number, c: number, d: number): void => {
      rec.exits.push({ code, i1: u64(a, b), i2: u64(c, d), rip: cpu.ripLo >>> 0, nip: cpu.nipLo >>> 0 });
      cpu.guestMode = false;
      cpu.stop();
    },
    recordPendingExit: (): void => undefined,
    completePendingExit: (): boolean => false,
  };
});

beforeEach(() => {
  rec.exits.length = 0;
});

/** A processor in guest mode (long mode by default) with empty permission maps, no intercept set. */
function guest(mode: 'long' | 'flat' = 'long', decodeAssists = true): SvmMachine {
  const m = new SvmMachine({ features: { ...DEFAULT_SVM_FEATURES, decodeAssists } });
  if (mode === 'long') m.long64();
  else m.flat32();
  m.enableSvm();
  m.fill(IOPM_AT, 0x3000);
  m.fill(MSRPM_AT, 0x2000);
  m.fill(VMCB_AT, 0x1000);
  const svm = m.svm;
  svm.iopmBase = IOPM_AT;
  svm.msrpmBase = MSRPM_AT;
  svm.vmcb.select(VMCB_AT);
  m.cpu.guestMode = true;
  interceptEnter(svm, m.cpu);
  return m;
}

/** Runs `code` (HLT appended) and returns the one exit, or null when it ran to HLT. */
function exitOf(m: SvmMachine, code: readonly number[]): ExitRec | null {
  m.run([...code, 0xf4]);
  expect(rec.exits.length).toBeLessThanOrEqual(1);
  return rec.exits[0] ?? null;
}

describe('pure EXITINFO helpers', () => {
  it('IOIO EXITINFO1 (§15.10.2): TYPE, STR, REP, SZ, A, SEG, PORT', () => {
    // OUT 80h, AL with a 32-bit address size: SZ8 (bit 4), A32 (bit 8), port in 31:16.
    expect(ioioInfo(0x80 | (1 << 16), 2, 0, true)).toBe((1 << 4) | (1 << 8) | (0x80 << 16));
    // IN EAX, DX (port 3F8h), 16-bit addresses: TYPE = 1, SZ32 (bit 6), A16 (bit 7).
    expect(ioioInfo(0x3f8 | (4 << 16) | (1 << 19), 1, 0, true) >>> 0).toBe((1 | (1 << 6) | (1 << 7) | (0x3f8 << 16)) >>> 0);
    // REP OUTSW FS:[rSI] port 1F0h, 64-bit addresses: STR, REP, SZ16, A64, SEG = FS (4) in 12:10.
    const outsw = 0x1f0 | (2 << 16) | (1 << 20) | (1 << 21);
    expect(ioioInfo(outsw, 3, 4, true)).toBe((1 << 2) | (1 << 3) | (1 << 5) | (1 << 9) | (4 << 10) | (0x1f0 << 16));
    // SEG is a decode assist.
    expect(ioioInfo(outsw, 3, 4, false)).toBe((1 << 2) | (1 << 3) | (1 << 5) | (1 << 9) | (0x1f0 << 16));
    // Port FFFFh lands in bits 31:16.
    expect(ioioInfo(0xffff | (1 << 16), 2, 0, true) >>> 0).toBe(0xffff0110);
  });

  it('MSRPM bit (§15.11): three 2K-MSR ranges, two bits per MSR, read then write', () => {
    expect(msrpmBit(0, false)).toBe(0);
    expect(msrpmBit(0, true)).toBe(1);
    expect(msrpmBit(0x1fff, true)).toBe(0x3fff);
    expect(msrpmBit(0xc0000080 | 0, false)).toBe(0x800 * 8 + 0x100);
    expect(msrpmBit(0xc0010114 | 0, true)).toBe(0x1000 * 8 + 0x228 + 1);
    expect(msrpmBit(0x2000, false)).toBe(-1);
    expect(msrpmBit(0xc0002000 | 0, false)).toBe(-1);
    expect(msrpmBit(0xc0012000 | 0, false)).toBe(-1);
    expect(msrpmBit(0x40000000, true)).toBe(-1);
  });

  it('IOPM (§15.10.1): every byte of a multi-byte access; the bits past 64K', () => {
    const m = guest();
    m.w8(IOPM_AT + (0x81 >>> 3), 1 << (0x81 & 7));
    expect(iopmIntercepts(m.cpu, IOPM_AT, 0x80, 1)).toBe(false);
    expect(iopmIntercepts(m.cpu, IOPM_AT, 0x80, 2)).toBe(true);
    expect(iopmIntercepts(m.cpu, IOPM_AT, 0x7e, 4)).toBe(true);
    expect(iopmIntercepts(m.cpu, IOPM_AT, 0x7d, 4)).toBe(false);
    expect(iopmIntercepts(m.cpu, IOPM_AT, 0x81, 1)).toBe(true);
    // Port FFFFh, 2 bytes: ports FFFFh and 10000h; bit 10000h is byte 2000h of the map.
    m.w8(IOPM_AT + 0x2000, 1);
    expect(iopmIntercepts(m.cpu, IOPM_AT, 0xffff, 1)).toBe(false);
    expect(iopmIntercepts(m.cpu, IOPM_AT, 0xffff, 2)).toBe(true);
  });

  it('MSRPM lookup: MSRs outside the ranges are always intercepted', () => {
    const m = guest();
    m.w8(MSRPM_AT + 0x800 + (0x80 >>> 2), 2 << ((0x80 & 3) * 2)); // EFER: write bit only
    expect(msrpmIntercepts(m.cpu, MSRPM_AT, 0xc0000080 | 0, true)).toBe(true);
    expect(msrpmIntercepts(m.cpu, MSRPM_AT, 0xc0000080 | 0, false)).toBe(false);
    expect(msrpmIntercepts(m.cpu, MSRPM_AT, 0x10, false)).toBe(false);
    expect(msrpmIntercepts(m.cpu, MSRPM_AT, 0x40000000, false)).toBe(true);
  });

  it('task switch EXITINFO2 (§15.14.2): bit 36 IRET, bit 38 JMP, bit 44 error code', () => {
    expect(taskSwitchInfo2Hi(0, false)).toBe(0);
    expect(taskSwitchInfo2Hi(1, false)).toBe(1 << (36 - 32));
    expect(taskSwitchInfo2Hi(2, false)).toBe(1 << (38 - 32));
    expect(taskSwitchInfo2Hi(3, true)).toBe(1 << (44 - 32));
  });
});

describe('instruction intercepts (§15.14): EXITCODE, RIP at the instruction, nRIP after it', () => {
  const simple: [string, number[], 1 | 2, number, number][] = [
    ['CPUID', [0x0f, 0xa2], 1, InterceptMisc1.Cpuid, SvmExitCode.Cpuid],
    ['HLT', [0xf4], 1, InterceptMisc1.Hlt, SvmExitCode.Hlt],
    ['INVD', [0x0f, 0x08], 1, InterceptMisc1.Invd, SvmExitCode.Invd],
    ['RDTSC', [0x0f, 0x31], 1, InterceptMisc1.Rdtsc, SvmExitCode.Rdtsc],
    ['RDPMC', [0x0f, 0x33], 1, InterceptMisc1.Rdpmc, SvmExitCode.Rdpmc],
    ['PUSHF', [0x9c], 1, InterceptMisc1.Pushf, SvmExitCode.Pushf],
    ['POPF', [0x9d], 1, InterceptMisc1.Popf, SvmExitCode.Popf],
    ['IRETQ', [0x48, 0xcf], 1, InterceptMisc1.Iret, SvmExitCode.Iret],
    ['RSM', [0x0f, 0xaa], 1, InterceptMisc1.Rsm, SvmExitCode.Rsm],
    ['INVLPGA', [0x0f, 0x01, 0xdf], 1, InterceptMisc1.Invlpga, SvmExitCode.Invlpga],
    ['RDTSCP', [0x0f, 0x01, 0xf9], 2, InterceptMisc2.Rdtscp, SvmExitCode.Rdtscp],
    ['ICEBP', [0xf1], 2, InterceptMisc2.Icebp, SvmExitCode.Icebp],
    ['WBINVD', [0x0f, 0x09], 2, InterceptMisc2.Wbinvd, SvmExitCode.Wbinvd],
    ['MONITOR', [0x0f, 0x01, 0xc8], 2, InterceptMisc2.Monitor, SvmExitCode.Monitor],
    ['MWAIT', [0x0f, 0x01, 0xc9], 2, InterceptMisc2.Mwait, SvmExitCode.Mwait],
    ['XSETBV', [0x0f, 0x01, 0xd1], 2, InterceptMisc2.Xsetbv, SvmExitCode.Xsetbv],
    ['SGDT', [0x0f, 0x01, 0x00], 1, InterceptMisc1.GdtrRead, SvmExitCode.GdtrRead],
    ['SIDT', [0x0f, 0x01, 0x08], 1, InterceptMisc1.IdtrRead, SvmExitCode.IdtrRead],
    ['LGDT', [0x0f, 0x01, 0x10], 1, InterceptMisc1.GdtrWrite, SvmExitCode.GdtrWrite],
    ['LIDT', [0x0f, 0x01, 0x18], 1, InterceptMisc1.IdtrWrite, SvmExitCode.IdtrWrite],
    ['SLDT', [0x0f, 0x00, 0xc0], 1, InterceptMisc1.LdtrRead, SvmExitCode.LdtrRead],
    ['STR', [0x0f, 0x00, 0xc8], 1, InterceptMisc1.TrRead, SvmExitCode.TrRead],
    ['LLDT', [0x0f, 0x00, 0xd0], 1, InterceptMisc1.LdtrWrite, SvmExitCode.LdtrWrite],
    ['LTR', [0x0f, 0x00, 0xd8], 1, InterceptMisc1.TrWrite, SvmExitCode.TrWrite],
  ];
  for (const [name, bytes, word, bit, code] of simple) {
    it(`${name}: exit ${code.toString(16)}h when intercepted`, () => {
      const m = guest();
      m.cpu.cr4 |= Cr4.OSXSAVE;
      m.setReg(R.RAX, 0x300000).setReg(R.RCX, 0).setReg(R.RDX, 0);
      if (word === 1) m.svm.interceptMisc1 = bit;
      else m.svm.interceptMisc2 = bit;
      const e = exitOf(m, bytes);
      expect(e).not.toBeNull();
      expect(e!.code).toBe(code);
      expect(e!.i1).toBe(0n);
      expect(e!.rip).toBe(CODE);
      expect(e!.nip).toBe(CODE + bytes.length);
    });
  }

  it('without the intercept bit the instruction runs in the guest (CPUID, HLT)', () => {
    const m = guest();
    m.svm.interceptMisc1 = ~(InterceptMisc1.Cpuid | InterceptMisc1.Hlt) & ~InterceptMisc1.Pause;
    m.svm.interceptMisc1 &= ~InterceptMisc1.Shutdown;
    m.setReg(R.RAX, 0);
    expect(exitOf(m, [0x0f, 0xa2])).toBeNull();
    expect(Number(m.reg(R.RBX))).not.toBe(0); // vendor string
  });

  it('MWAIT conditional (8Ch) only with the monitor armed; the unconditional one (8Bh) first', () => {
    const m = guest();
    m.svm.interceptMisc2 = InterceptMisc2.MwaitConditional;
    expect(intercept(m.svm, m.cpu, Intercept.Mwait, 0, 0)).toBe(false);
    expect(intercept(m.svm, m.cpu, Intercept.Mwait, 1, 0)).toBe(true);
    expect(rec.exits[0]!.code).toBe(SvmExitCode.MwaitConditional);
    m.cpu.guestMode = true;
    m.svm.interceptMisc2 = InterceptMisc2.MwaitConditional | InterceptMisc2.Mwait;
    intercept(m.svm, m.cpu, Intercept.Mwait, 1, 0);
    expect(rec.exits[1]!.code).toBe(SvmExitCode.Mwait);
  });

  it('INTn (75h): before the INT, EXITINFO1 = the vector (decode assists); INT3 is not INTn', () => {
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.Intn;
    const e = exitOf(m, [0xcd, 0x21]);
    expect(e!.code).toBe(SvmExitCode.Swint);
    expect(e!.i1).toBe(0x21n);
    expect(e!.rip).toBe(CODE);
    expect(e!.nip).toBe(CODE + 2);
    // No decode assists: EXITINFO1 = 0.
    rec.exits.length = 0;
    const m2 = guest('long', false);
    m2.svm.interceptMisc1 = InterceptMisc1.Intn;
    expect(exitOf(m2, [0xcd, 0x21])!.i1).toBe(0n);
  });

  it('INVLPG (79h): EXITINFO1 = the linear address with decode assists', () => {
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.Invlpg;
    m.setReg(R.RBX, 0x7fff_1234_5000n);
    const e = exitOf(m, [0x0f, 0x01, 0x3b]);
    expect(e!.code).toBe(SvmExitCode.Invlpg);
    expect(e!.i1).toBe(0x7fff_1234_5000n);
    rec.exits.length = 0;
    const m2 = guest('long', false);
    m2.svm.interceptMisc1 = InterceptMisc1.Invlpg;
    m2.setReg(R.RBX, 0x5000);
    expect(exitOf(m2, [0x0f, 0x01, 0x3b])!.i1).toBe(0n);
  });
});

describe('PAUSE and the pause filter (§15.14.4, §15.14.5)', () => {
  const PAUSE = [0xf3, 0x90];
  it('PAUSE_FILTER_COUNT 0: every PAUSE exits', () => {
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.Pause;
    expect(exitOf(m, PAUSE)!.code).toBe(SvmExitCode.Pause);
  });

  it('count 3: the third PAUSE exits', () => {
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.Pause;
    m.svm.pauseFilterCount = 3;
    const e = exitOf(m, [...PAUSE, ...PAUSE, ...PAUSE, ...PAUSE]);
    expect(e!.code).toBe(SvmExitCode.Pause);
    expect(e!.rip).toBe(CODE + 4);
  });

  it('threshold: a PAUSE more than THRESHOLD cycles after the previous one reloads the count', () => {
    const spaced = [...PAUSE, ...Array<number>(10).fill(0x90), ...PAUSE, ...Array<number>(10).fill(0x90), ...PAUSE];
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.Pause;
    m.svm.pauseFilterCount = 2;
    m.svm.pauseFilterThreshold = 5;
    expect(exitOf(m, spaced)).toBeNull();
    rec.exits.length = 0;
    const m2 = guest();
    m2.svm.interceptMisc1 = InterceptMisc1.Pause;
    m2.svm.pauseFilterCount = 2;
    m2.svm.pauseFilterThreshold = 50;
    expect(exitOf(m2, spaced)!.rip).toBe(CODE + 12);
  });
});

describe('IOIO_PROT (§15.10)', () => {
  it('OUT imm8: EXITINFO1 per Figure 15-2, EXITINFO2 = the next RIP', () => {
    const m = guest('flat');
    m.svm.interceptMisc1 = InterceptMisc1.IoioProt;
    m.w8(IOPM_AT + 0x10, 1); // port 80h
    const e = exitOf(m, [0xe6, 0x80]);
    expect(e!.code).toBe(SvmExitCode.Ioio);
    expect(e!.i1).toBe(BigInt((1 << 4) | (1 << 8) | (0x80 << 16)));
    expect(e!.i2).toBe(BigInt(CODE + 2));
  });

  it('IN EAX, DX with a 16-bit address size override: TYPE, SZ32, A16; a port without its bit runs', () => {
    const m = guest('flat');
    m.svm.interceptMisc1 = InterceptMisc1.IoioProt;
    m.w8(IOPM_AT + (0x3fa >>> 3), 1 << (0x3fa & 7)); // only port 3FAh: a dword at 3F8h touches it
    m.setReg(R.RDX, 0x3f8);
    const e = exitOf(m, [0x67, 0xed]);
    expect(e!.i1).toBe(BigInt((1 | (1 << 6) | (1 << 7) | (0x3f8 << 16)) >>> 0));
    expect(e!.i2).toBe(BigInt(CODE + 2));
    rec.exits.length = 0;
    const m2 = guest('flat');
    m2.svm.interceptMisc1 = InterceptMisc1.IoioProt;
    m2.w8(IOPM_AT + (0x3fa >>> 3), 1 << (0x3fa & 7));
    m2.setReg(R.RDX, 0x3f8);
    expect(exitOf(m2, [0xec])).toBeNull(); // IN AL, DX: port 3F8h only
  });

  it('REP OUTSB FS:[rSI] in 64-bit mode: STR, REP, SZ8, A64, SEG = FS', () => {
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.IoioProt;
    m.w8(IOPM_AT + (0x1f0 >>> 3), 1);
    m.setReg(R.RDX, 0x1f0).setReg(R.RCX, 4).setReg(R.RSI, 0x300000);
    const e = exitOf(m, [0x64, 0xf3, 0x6e]);
    expect(e!.i1).toBe(BigInt((1 << 2) | (1 << 3) | (1 << 4) | (1 << 9) | (4 << 10) | (0x1f0 << 16)));
    expect(e!.i2).toBe(BigInt(CODE + 3));
    expect(e!.rip).toBe(CODE);
  });
});

describe('MSR_PROT (§15.11)', () => {
  it('RDMSR EXITINFO1 = 0, WRMSR = 1, by the MSRPM bits; MSRs outside the ranges always', () => {
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.MsrProt;
    m.w8(MSRPM_AT + 0x800 + (0x80 >>> 2), 2 << ((0x80 & 3) * 2)); // EFER: write only
    m.setReg(R.RCX, 0xc0000080);
    expect(exitOf(m, [0x0f, 0x32])).toBeNull();
    m.cpu.guestMode = true;
    const e = exitOf(m, [0x0f, 0x30]);
    expect(e!.code).toBe(SvmExitCode.Msr);
    expect(e!.i1).toBe(1n);
    rec.exits.length = 0;
    const m2 = guest();
    m2.svm.interceptMisc1 = InterceptMisc1.MsrProt;
    m2.setReg(R.RCX, 0x40000000);
    const e2 = exitOf(m2, [0x0f, 0x32]);
    expect(e2!.code).toBe(SvmExitCode.Msr);
    expect(e2!.i1).toBe(0n);
  });

  it('without MSR_PROT nothing exits', () => {
    const m = guest();
    m.w8(MSRPM_AT, 0xff);
    m.setReg(R.RCX, 0x10);
    expect(exitOf(m, [0x0f, 0x32])).toBeNull();
  });
});

describe('CR and DR intercepts (§15.9), decode assists (§15.35)', () => {
  it('MOV RBX, CR3 / MOV CR3, RBX: 03h / 13h, EXITINFO1 bit 63 = MOV, 3:0 = GPR', () => {
    const m = guest();
    m.svm.interceptCrRead = 1 << 3;
    const e = exitOf(m, [0x0f, 0x20, 0xdb]);
    expect(e!.code).toBe(SvmExitCode.CrRead + 3);
    expect(e!.i1).toBe((1n << 63n) | 3n);
    rec.exits.length = 0;
    const m2 = guest();
    m2.svm.interceptCrWrite = 1 << 3;
    m2.setReg(R.RBX, m2.cpu.cr3Lo);
    const e2 = exitOf(m2, [0x0f, 0x22, 0xdb]);
    expect(e2!.code).toBe(SvmExitCode.CrWrite + 3);
    expect(e2!.i1).toBe((1n << 63n) | 3n);
  });

  it('without decode assists EXITINFO1 = 0', () => {
    const m = guest('long', false);
    m.svm.interceptCrRead = 1 << 3;
    expect(exitOf(m, [0x0f, 0x20, 0xdb])!.i1).toBe(0n);
  });

  it('selective CR0 write (65h): only for bits other than TS/MP; the CR0 write intercept takes precedence', () => {
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.Cr0SelWrite;
    m.setReg(R.RCX, (m.cpu.cr0 | Cr0.TS | Cr0.MP) >>> 0);
    expect(exitOf(m, [0x0f, 0x22, 0xc1])).toBeNull();
    expect(m.cpu.cr0 & Cr0.TS).toBe(Cr0.TS);
    m.cpu.guestMode = true;
    m.setReg(R.RCX, (m.cpu.cr0 ^ Cr0.WP) >>> 0);
    const e = exitOf(m, [0x0f, 0x22, 0xc1]);
    expect(e!.code).toBe(SvmExitCode.Cr0SelWrite);
    expect(e!.i1).toBe((1n << 63n) | 1n);
    rec.exits.length = 0;
    const m2 = guest();
    m2.svm.interceptMisc1 = InterceptMisc1.Cr0SelWrite;
    m2.svm.interceptCrWrite = 1;
    m2.setReg(R.RCX, (m2.cpu.cr0 ^ Cr0.WP) >>> 0);
    expect(exitOf(m2, [0x0f, 0x22, 0xc1])!.code).toBe(SvmExitCode.CrWrite);
  });

  it('LMSW: CR0 write intercept (10h) first; the selective one exits whatever the value; EXITINFO1 bit 63 = 0', () => {
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.Cr0SelWrite;
    m.setReg(R.RAX, m.cpu.cr0 & 0xf); // writes the same MSW
    const e = exitOf(m, [0x0f, 0x01, 0xf0]);
    expect(e!.code).toBe(SvmExitCode.Cr0SelWrite);
    expect(e!.i1).toBe(0n);
    rec.exits.length = 0;
    const m2 = guest();
    m2.svm.interceptMisc1 = InterceptMisc1.Cr0SelWrite;
    m2.svm.interceptCrWrite = 1;
    m2.setReg(R.RAX, m2.cpu.cr0 & 0xf);
    expect(exitOf(m2, [0x0f, 0x01, 0xf0])!.code).toBe(SvmExitCode.CrWrite);
  });

  it('CLTS: CR0 write intercept only (never selective); SMSW: CR0 read intercept', () => {
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.Cr0SelWrite;
    m.cpu.cr0 |= Cr0.TS;
    expect(exitOf(m, [0x0f, 0x06])).toBeNull();
    expect(m.cpu.cr0 & Cr0.TS).toBe(0);
    m.cpu.guestMode = true;
    m.svm.interceptCrWrite = 1;
    const e = exitOf(m, [0x0f, 0x06]);
    expect(e!.code).toBe(SvmExitCode.CrWrite);
    expect(e!.i1).toBe(0n);
    rec.exits.length = 0;
    const m2 = guest();
    m2.svm.interceptCrRead = 1;
    expect(exitOf(m2, [0x0f, 0x01, 0xe0])!.code).toBe(SvmExitCode.CrRead);
  });

  it('MOV CR8 with V_INTR_MASKING reads and writes V_TPR, not the APIC (§15.21.1); bits 63:4 #GP', () => {
    const m = guest();
    m.svm.vIntr = VIntr.Masking | 0x5;
    m.cpu.cr8 = 0x2;
    m.setReg(R.RAX, 0x9);
    exitOf(m, [0x44, 0x0f, 0x20, 0xc3, 0x44, 0x0f, 0x22, 0xc0]); // mov rbx, cr8 ; mov cr8, rax
    expect(m.reg(R.RBX)).toBe(5n);
    expect(m.svm.vIntr).toBe(VIntr.Masking | 0x9);
    expect(m.cpu.cr8).toBe(0x2);
    m.cpu.guestMode = true;
    m.setReg(R.RAX, 0x10);
    m.cpu.onEvent = (_k, v) => {
      m.events.push({ kind: 0, vector: v, error: 0 });
      m.cpu.stop();
      return true;
    };
    exitOf(m, [0x44, 0x0f, 0x22, 0xc0]);
    expect(m.fault?.vector).toBe(13);
    expect(m.svm.vIntr).toBe(VIntr.Masking | 0x9);
  });

  it('CR8 write intercept (18h) comes before V_TPR', () => {
    const m = guest();
    m.svm.vIntr = VIntr.Masking;
    m.svm.interceptCrWrite = 1 << 8;
    m.setReg(R.RAX, 3);
    const e = exitOf(m, [0x44, 0x0f, 0x22, 0xc0]);
    expect(e!.code).toBe(SvmExitCode.CrWrite + 8);
    expect(e!.i1).toBe(1n << 63n);
    expect(m.svm.vIntr).toBe(VIntr.Masking);
  });

  it('MOV DR7, RDX / MOV RDX, DR7: 37h / 27h, EXITINFO1 = GPR (no bit 63)', () => {
    const m = guest();
    m.svm.interceptDrWrite = 1 << 7;
    m.setReg(R.RDX, 0x400);
    const e = exitOf(m, [0x0f, 0x23, 0xfa]);
    expect(e!.code).toBe(SvmExitCode.DrWrite + 7);
    expect(e!.i1).toBe(2n);
    rec.exits.length = 0;
    const m2 = guest();
    m2.svm.interceptDrRead = 1 << 7;
    expect(exitOf(m2, [0x0f, 0x21, 0xfa])!.code).toBe(SvmExitCode.DrRead + 7);
  });
});

describe('exception intercepts (§15.12)', () => {
  function noCatch(m: SvmMachine): void {
    m.cpu.onEvent = null;
  }

  it('#UD (46h): RIP = the faulting instruction, EXITINFO1 = 0', () => {
    const m = guest();
    noCatch(m);
    m.svm.interceptExceptions = 1 << 6;
    const e = exitOf(m, [0x0f, 0x0b]);
    expect(e!.code).toBe(SvmExitCode.Excp + 6);
    expect(e!.rip).toBe(CODE);
    expect(e!.i1).toBe(0n);
  });

  it('#PF (4Eh): EXITINFO1 = error code, EXITINFO2 = address, CR2 unchanged, instruction bytes', () => {
    const m = guest();
    noCatch(m);
    m.cpu.cr2Lo = 0x1234;
    interceptEnter(m.svm, m.cpu);
    m.svm.interceptExceptions = 1 << 14;
    m.setReg(R.RBX, 0x80000000);
    const e = exitOf(m, [0x89, 0x03]); // mov [rbx], eax: not-present write, supervisor
    expect(e!.code).toBe(SvmExitCode.Excp + 14);
    expect(e!.i1).toBe(2n);
    expect(e!.i2).toBe(0x80000000n);
    expect(m.cpu.cr2Lo).toBe(0x1234);
    expect(m.r8(VMCB_AT + VmcbOffset.GuestInsnBytesCount)).toBe(15);
    expect(m.r8(VMCB_AT + VmcbOffset.GuestInsnBytes)).toBe(0x89);
    expect(m.r8(VMCB_AT + VmcbOffset.GuestInsnBytes + 1)).toBe(0x03);
  });

  it('#GP with its error code in EXITINFO1', () => {
    const m = guest();
    m.svm.interceptExceptions = 1 << 13;
    expect(intercept(m.svm, m.cpu, Intercept.Exception, 13, 0x18)).toBe(true);
    expect(rec.exits[0]!.code).toBe(SvmExitCode.Excp + 13);
    expect(rec.exits[0]!.i1).toBe(0x18n);
  });

  it('INT3 (#BP, 43h): RIP = the INT3, nRIP after it; INT n is never an exception intercept', () => {
    const m = guest();
    noCatch(m);
    m.svm.interceptExceptions = 1 << 3;
    const e = exitOf(m, [0x90, 0xcc]);
    expect(e!.code).toBe(SvmExitCode.Excp + 3);
    expect(e!.rip).toBe(CODE + 1);
    expect(e!.nip).toBe(CODE + 2);
    // INT 3 (CD 03) is INTn: not offered to the exception vector.
    m.cpu.guestMode = true;
    expect(intercept(m.svm, m.cpu, Intercept.Exception, 3 | (3 << 8) | (1 << 12), -1)).toBe(false);
  });

  it('a delivered #PF updates the CR2 an intercepted one leaves', () => {
    const m = guest();
    m.cpu.cr2Lo = 0x5000;
    expect(intercept(m.svm, m.cpu, Intercept.Exception, 14, 0)).toBe(false);
    m.svm.interceptExceptions = 1 << 14;
    m.cpu.cr2Lo = 0x6000;
    intercept(m.svm, m.cpu, Intercept.Exception, 14, 0);
    expect(rec.exits[0]!.i2).toBe(0x6000n);
    expect(m.cpu.cr2Lo).toBe(0x5000);
  });
});

describe('external events (§15.13), task switch, shutdown, FERR_FREEZE', () => {
  it('INTR (60h): not acknowledged, leaves HLT; without the bit the core delivers it', () => {
    const m = guest();
    expect(intercept(m.svm, m.cpu, Intercept.Interrupt, 0, 0)).toBe(false);
    m.svm.interceptMisc1 = InterceptMisc1.Intr;
    m.cpu.halted = true;
    expect(intercept(m.svm, m.cpu, Intercept.Interrupt, 0, 0)).toBe(true);
    expect(rec.exits[0]!.code).toBe(SvmExitCode.Intr);
    expect(m.cpu.halted).toBe(false);
  });

  it('NMI (61h) stays pending for the host; INIT (63h) too; SMI (62h)', () => {
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.Nmi | InterceptMisc1.Init | InterceptMisc1.Smi;
    m.cpu.nmiPending = false;
    intercept(m.svm, m.cpu, Intercept.Nmi, 2 | (2 << 8), -1);
    expect(rec.exits[0]!.code).toBe(SvmExitCode.Nmi);
    expect(m.cpu.nmiPending).toBe(true);
    m.cpu.guestMode = true;
    intercept(m.svm, m.cpu, Intercept.Init, 0, 0);
    expect(rec.exits[1]!.code).toBe(SvmExitCode.Init);
    expect(m.cpu.initPending).toBe(true);
    m.cpu.guestMode = true;
    m.cpu.smi();
    expect(rec.exits[2]!.code).toBe(SvmExitCode.Smi);
  });

  it('task switch (7Dh): EXITINFO1 = selector; JMP bit 38; a gate with an error code: bit 44 + code', () => {
    const m = guest();
    expect(intercept(m.svm, m.cpu, Intercept.TaskSwitch, 0x28, 2)).toBe(false);
    m.svm.interceptMisc1 = InterceptMisc1.TaskSwitch;
    intercept(m.svm, m.cpu, Intercept.TaskSwitch, 0x28, 2);
    expect(rec.exits[0]!.code).toBe(SvmExitCode.TaskSwitch);
    expect(rec.exits[0]!.i1).toBe(0x28n);
    expect(rec.exits[0]!.i2).toBe(1n << 38n);
    m.cpu.guestMode = true;
    m.cpu.vectoringInfo = (1 << 31) | (1 << 11) | (3 << 8) | 13;
    m.cpu.vectoringError = 0x1c;
    intercept(m.svm, m.cpu, Intercept.TaskSwitch, 0x30, 3);
    expect(rec.exits[1]!.i1).toBe(0x30n);
    expect(rec.exits[1]!.i2).toBe((1n << 44n) | 0x1cn);
    m.cpu.vectoringInfo = 0;
    m.cpu.guestMode = true;
    intercept(m.svm, m.cpu, Intercept.TaskSwitch, 0x30, 1);
    expect(rec.exits[2]!.i2).toBe(1n << 36n);
  });

  it('shutdown (7Fh) and FERR_FREEZE (7Eh) on FWAIT with CR0.NE = 0', () => {
    const m = guest();
    m.svm.interceptMisc1 = InterceptMisc1.Shutdown | InterceptMisc1.FerrFreeze;
    intercept(m.svm, m.cpu, Intercept.Shutdown, 0, 0);
    expect(rec.exits[0]!.code).toBe(SvmExitCode.Shutdown);
    m.cpu.guestMode = true;
    m.cpu.cr0 &= ~(Cr0.NE | Cr0.TS | Cr0.EM);
    m.cpu.fsw |= 0x81;
    m.run([0x9b, 0xf4]);
    expect(rec.exits[1]!.code).toBe(SvmExitCode.FerrFreeze);
    expect(rec.exits[1]!.rip).toBe(CODE);
  });

  it('IRET with vNMI and a V_NMI pending, not intercepted: runs, and the boundary hook is asked for', () => {
    const m = guest();
    m.svm.vIntr = VIntr.NmiEnable | VIntr.NmiMask;
    m.cpu.extBoundary = false;
    expect(intercept(m.svm, m.cpu, Intercept.Iret, 0, 0)).toBe(false);
    expect(m.cpu.extBoundary).toBe(false);
    m.svm.vIntr = VIntr.NmiEnable | VIntr.NmiMask | VIntr.Nmi;
    expect(intercept(m.svm, m.cpu, Intercept.Iret, 0, 0)).toBe(false);
    expect(m.cpu.extBoundary).toBe(true);
  });
});
