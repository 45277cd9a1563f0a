/**
 * The SVM instructions' checks and operations (instructions.ts) against APM Vol. 2 §15.4,
 * §15.5.1, §15.5.2, §15.7, §15.17, §15.18, §15.33.2 and Vol. 3's instruction pages. The other
 * modules' entry points (exitForInstruction, opVmrun, invalidateAsidPage) are replaced by
 * recorders: this file tests the decode wrapper and the ops of instructions.ts only.
 */
import { Efer, Flag, Seg, SegAttr } from '@hvkit/x86';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type * as InterceptModule from './intercept.js';
import type * as NptModule from './npt.js';
import type * as VmrunModule from './vmrun.js';
import { InterceptMisc1, InterceptMisc2, SvmExitCode, VIntr } from './constants.js';
import { opClgi, opStgi, opVmload, opVmsave } from './instructions.js';
import { R, SvmMachine, X } from './test-harness.js';

const mocks = vi.hoisted(() => ({
  exits: [] as number[],
  vmruns: [] as number[],
  invlpga: [] as { asid: number; lo: number; hi: number }[],
}));

vi.mock('./intercept.js', async (importOriginal) => {
  const orig = await importOriginal<typeof InterceptModule>();
  return {
    ...orig,
    exitForInstruction: (_svm: unknown, _cpu: unknown, code: number) => {
      mocks.exits.push(code);
      return true;
    },
  };
});
vi.mock('./vmrun.js', async (importOriginal) => {
  const orig = await importOriginal<typeof VmrunModule>();
  return {
    ...orig,
    opVmrun: (_svm: unknown, _cpu: unknown, pa: number) => {
      mocks.vmruns.push(pa);
      return true;
    },
  };
});
vi.mock('./npt.js', async (importOriginal) => {
  const orig = await importOriginal<typeof NptModule>();
  return {
    ...orig,
    invalidateAsidPage: (_svm: unknown, _cpu: unknown, asid: number, lo: number, hi: number) => {
      mocks.invlpga.push({ asid, lo: lo >>> 0, hi: hi >>> 0 });
    },
  };
});

const UD = 6;
const GP = 13;
const NMI = 2;
const OPERAND = 0x300000;

/** Every SVM instruction with its encoding, intercept bit (word, bit) and exit code (Appendix C). */
const ALL: readonly { name: string; bytes: readonly number[]; misc: 1 | 2; bit: number; code: number }[] = [
  { name: 'VMRUN', bytes: X.vmrun, misc: 2, bit: InterceptMisc2.Vmrun, code: 0x80 },
  { name: 'VMMCALL', bytes: X.vmmcall, misc: 2, bit: InterceptMisc2.Vmmcall, code: 0x81 },
  { name: 'VMLOAD', bytes: X.vmload, misc: 2, bit: InterceptMisc2.Vmload, code: 0x82 },
  { name: 'VMSAVE', bytes: X.vmsave, misc: 2, bit: InterceptMisc2.Vmsave, code: 0x83 },
  { name: 'STGI', bytes: X.stgi, misc: 2, bit: InterceptMisc2.Stgi, code: 0x84 },
  { name: 'CLGI', bytes: X.clgi, misc: 2, bit: InterceptMisc2.Clgi, code: 0x85 },
  { name: 'SKINIT', bytes: X.skinit, misc: 2, bit: InterceptMisc2.Skinit, code: 0x86 },
  { name: 'INVLPGA', bytes: X.invlpga, misc: 1, bit: InterceptMisc1.Invlpga, code: 0x7a },
];
const NOT_VMMCALL = ALL.filter((i) => i.name !== 'VMMCALL');

beforeEach(() => {
  mocks.exits.length = 0;
  mocks.vmruns.length = 0;
  mocks.invlpga.length = 0;
});

/** Pretends a guest runs (as VMRUN would leave things) with the given intercepts. */
function guest(m: SvmMachine, misc1: number, misc2: number): SvmMachine {
  m.cpu.guestMode = true;
  m.svm.interceptMisc1 = misc1;
  m.svm.interceptMisc2 = misc2;
  return m;
}

describe('#UD (APM Vol. 2 §15.4, Vol. 3 instruction pages)', () => {
  const NEED_SVME = ALL.filter((i) => i.name !== 'STGI' && i.name !== 'SKINIT');
  it.each(NEED_SVME)('$name is #UD with EFER.SVME = 0', ({ bytes }) => {
    const m = new SvmMachine().flat32();
    m.setReg(R.RAX, OPERAND);
    m.run([...bytes, ...X.hlt]);
    expect(m.fault?.vector).toBe(UD);
  });

  // Vol. 3 STGI/SKINIT: #UD needs EFER.SVME = 0 "and both" SVML = 0 and Fn8000_0001_ECX[SKINIT] = 0;
  // hvkit advertises SKINIT (caps.ts).
  it('STGI with EFER.SVME = 0 executes (Fn8000_0001_ECX[SKINIT] = 1): GIF = 1', () => {
    const m = new SvmMachine().flat32();
    m.cpu.gif = false;
    m.run([...X.stgi, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(m.cpu.gif).toBe(true);
  });

  it('SKINIT with EFER.SVME = 0 executes (Fn8000_0001_ECX[SKINIT] = 1): the SL runs with GIF = 0', () => {
    const m = new SvmMachine().flat32();
    m.w16(OPERAND, 0x10); // SL entry offset
    m.w16(OPERAND + 2, 0x20); // SL image length
    m.bytes(OPERAND + 0x10, X.hlt);
    m.setReg(R.RAX, OPERAND);
    m.run([...X.skinit, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(m.svm.skinitLog.length).toBe(1);
    expect(m.cpu.gif).toBe(false);
    expect(m.cpu.ripLo >>> 0).toBe(OPERAND + 0x11); // halted after the SL's HLT
  });

  it.each(['STGI', 'SKINIT'])('%s with EFER.SVME = 0 keeps its other checks: #UD in real mode, #GP(0) at CPL 3', (name) => {
    const { bytes } = ALL.find((i) => i.name === name)!;
    const r = new SvmMachine().real();
    r.run([...bytes, ...X.hlt]);
    expect(r.fault?.vector).toBe(UD);
    const u = new SvmMachine().flat32(3);
    u.setReg(R.RAX, OPERAND);
    u.step([...bytes]);
    expect(u.fault).toEqual(expect.objectContaining({ vector: GP, error: 0 }));
  });

  it.each(NOT_VMMCALL)('$name is #UD in real mode ("only recognized in protected mode")', ({ bytes }) => {
    const m = new SvmMachine().real().enableSvm();
    m.setReg(R.RAX, OPERAND);
    m.run([...bytes, ...X.hlt]);
    expect(m.fault?.vector).toBe(UD);
  });

  it.each(NOT_VMMCALL)('$name is #UD in virtual-8086 mode, also in guest mode with its intercept set', ({ bytes, misc, bit }) => {
    const m = new SvmMachine().v86().enableSvm();
    guest(m, misc === 1 ? bit : 0, misc === 2 ? bit : 0);
    m.setReg(R.RAX, OPERAND);
    m.run([...bytes, ...X.hlt]);
    expect(m.fault?.vector).toBe(UD);
    expect(mocks.exits).toEqual([]);
  });

  it('VMMCALL is #UD when not intercepted (§15.18): host, and guest without the intercept', () => {
    const m = new SvmMachine().flat32().enableSvm();
    m.run([...X.vmmcall, ...X.hlt]);
    expect(m.fault?.vector).toBe(UD);
    const g = guest(new SvmMachine().flat32().enableSvm(), 0, InterceptMisc2.Vmrun);
    g.run([...X.vmmcall, ...X.hlt]);
    expect(g.fault?.vector).toBe(UD);
    expect(mocks.exits).toEqual([]);
  });
});

describe('#GP(0) at CPL > 0, before the intercept check (§15.7 "Instruction intercepts")', () => {
  it.each(NOT_VMMCALL)('$name at CPL 3 raises #GP(0), even in guest mode with its intercept set', ({ bytes, misc, bit }) => {
    const m = new SvmMachine().flat32(3).enableSvm();
    m.setReg(R.RAX, OPERAND);
    m.run([...bytes, ...X.hlt]);
    expect(m.fault).toEqual(expect.objectContaining({ vector: GP, error: 0 }));
    const g = guest(new SvmMachine().flat32(3).enableSvm(), misc === 1 ? bit : 0, misc === 2 ? bit : 0);
    g.setReg(R.RAX, OPERAND);
    g.run([...bytes, ...X.hlt]);
    expect(g.fault).toEqual(expect.objectContaining({ vector: GP, error: 0 }));
    expect(mocks.exits).toEqual([]);
  });

  it('VMMCALL has no CPL check (§15.18): intercepted at CPL 3, and in real mode', () => {
    const m = guest(new SvmMachine().flat32(3).enableSvm(), 0, InterceptMisc2.Vmmcall);
    m.step([...X.vmmcall]); // (HLT at CPL 3 would be #GP itself)
    expect(m.fault).toBeNull();
    const r = guest(new SvmMachine().real().enableSvm(), 0, InterceptMisc2.Vmmcall);
    r.run([...X.vmmcall, ...X.hlt]);
    expect(r.fault).toBeNull();
    expect(mocks.exits).toEqual([SvmExitCode.Vmmcall, SvmExitCode.Vmmcall]);
  });
});

describe('intercepts in guest mode (§15.9, Appendix C exit codes)', () => {
  it.each(ALL)('$name with its intercept bit exits with code $code and does not execute', ({ bytes, misc, bit, code }) => {
    const m = guest(new SvmMachine().flat32().enableSvm(), misc === 1 ? bit : 0, misc === 2 ? bit : 0);
    m.fill(OPERAND, 0x1000, 0xab);
    m.setReg(R.RAX, OPERAND);
    m.run([...bytes, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(mocks.exits).toEqual([code]);
    expect(mocks.vmruns).toEqual([]);
    expect(mocks.invlpga).toEqual([]);
    expect(m.cpu.gif).toBe(true);
    expect(m.cpu.segSel[Seg.FS]).toBe(0x10); // no VMLOAD happened
    expect(m.svm.skinitLog).toEqual([]);
  });

  it('the intercept comes before the rAX operand checks (exceptions "based on specific operand values")', () => {
    for (const insn of [X.vmrun, X.vmload, X.vmsave]) {
      const m = guest(new SvmMachine().flat32().enableSvm(), 0, InterceptMisc2.Vmrun | InterceptMisc2.Vmload | InterceptMisc2.Vmsave);
      m.setReg(R.RAX, OPERAND + 0x10);
      m.run([...insn, ...X.hlt]);
      expect(m.fault).toBeNull();
    }
    expect(mocks.exits).toEqual([0x80, 0x82, 0x83]);
  });

  it('other intercept bits do not catch an instruction', () => {
    const m = guest(new SvmMachine().flat32().enableSvm(), ~InterceptMisc1.Invlpga, ~InterceptMisc2.Clgi);
    m.run([...X.clgi, ...X.hlt]);
    expect(mocks.exits).toEqual([]);
    expect(m.cpu.gif).toBe(false);
  });
});

describe('rAX (§15.5.1: 4 KiB aligned, below MAXPHYADDR, portion by address size)', () => {
  it.each([
    ['VMRUN', X.vmrun],
    ['VMLOAD', X.vmload],
    ['VMSAVE', X.vmsave],
  ] as const)('%s: #GP(0) when rAX is not 4 KiB aligned', (_n, bytes) => {
    const m = new SvmMachine().flat32().enableSvm();
    m.setReg(R.RAX, OPERAND | 0x800);
    m.run([...bytes, ...X.hlt]);
    expect(m.fault).toEqual(expect.objectContaining({ vector: GP, error: 0 }));
    expect(mocks.vmruns).toEqual([]);
  });

  it.each([
    ['VMRUN', X.vmrun],
    ['VMLOAD', X.vmload],
    ['VMSAVE', X.vmsave],
  ] as const)('%s: #GP(0) at 2^MAXPHYADDR (48 bits on the AMD model), fine just below', (_n, bytes) => {
    const m = new SvmMachine().long64().enableSvm();
    m.run([...X.movImm64(R.RAX, 1n << 48n), ...bytes, ...X.hlt]);
    expect(m.fault).toEqual(expect.objectContaining({ vector: GP, error: 0 }));
    const ok = new SvmMachine({ ram: 16 << 20 }).long64().enableSvm();
    ok.run([...X.movImm64(R.RAX, (1n << 48n) - 0x1000n), ...X.vmrun, ...X.hlt]);
    expect(ok.fault).toBeNull();
  });

  it('VMRUN hands opVmrun the full RAX in 64-bit mode', () => {
    const m = new SvmMachine().long64().enableSvm();
    m.run([...X.movImm64(R.RAX, 0x1234_5678_9000n), ...X.vmrun, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(mocks.vmruns).toEqual([0x1234_5678_9000]);
  });

  it('a 67h prefix in 64-bit mode uses EAX (RAX bits 63:32 ignored)', () => {
    const m = new SvmMachine().long64().enableSvm();
    m.run([...X.movImm64(R.RAX, 0xffff_ffff_0030_1000n), 0x67, ...X.vmrun, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(mocks.vmruns).toEqual([0x301000]);
  });

  it('32-bit code uses EAX', () => {
    const m = new SvmMachine().flat32().enableSvm();
    m.cpu.gprHi[R.RAX] = 0x7f;
    m.setReg(R.RAX, 0x7f_0030_2000n);
    m.run([...X.vmrun, ...X.hlt]);
    expect(mocks.vmruns).toEqual([0x302000]);
  });
});

describe('VMLOAD / VMSAVE (§15.5.2)', () => {
  /** VMCB state-save offsets, APM Vol. 2 Appendix B Table B-2. */
  const OFF = { fs: 0x440, gs: 0x450, ldtr: 0x470, tr: 0x490, star: 0x600, lstar: 0x608, cstar: 0x610, sfmask: 0x618, kgs: 0x620, sysCs: 0x628, sysEsp: 0x630, sysEip: 0x638 };

  function loadState(m: SvmMachine): void {
    const c = m.cpu;
    c.setSegmentRaw(Seg.FS, 0x33, 0x1234_5000, 0xfffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB, 0x7fff);
    c.setSegmentRaw(Seg.GS, 0x3b, 0x9abc_d000 | 0, 0xabcde, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.G, 0xffff_8000 | 0);
    c.setSegmentRaw(Seg.LDTR, 0x48, 0x5000, 0x1ff, SegAttr.P | 2, 0x1);
    c.setSegmentRaw(Seg.TR, 0x40, 0x9000, 0x67, SegAttr.P | 11, 0x2);
    c.kernelGsBaseLo = 0x1111_2222;
    c.kernelGsBaseHi = 0x3333_4444;
    c.starLo = 0x5555_6666;
    c.starHi = 0x0023_0010;
    c.lstarLo = 0x7777_8888 | 0;
    c.lstarHi = 0xffff_ffff | 0;
    c.cstarLo = 0x9999_aaaa | 0;
    c.cstarHi = 0xffff_8000 | 0;
    c.sfmask = 0x4_7700;
    c.sysenterCs = 0x10;
    c.sysenterEspLo = 0xbbbb_cccc | 0;
    c.sysenterEspHi = 0x1;
    c.sysenterEipLo = 0xdddd_eeee | 0;
    c.sysenterEipHi = 0x2;
  }

  it('VMSAVE stores FS, GS, TR, LDTR with hidden state and the syscall/sysenter MSRs at the Table B-2 offsets', () => {
    const m = new SvmMachine().long64().enableSvm();
    loadState(m);
    m.fill(OPERAND, 0x1000, 0xee);
    m.run([...X.movImm64(R.RAX, OPERAND), ...X.vmsave, ...X.hlt]);
    expect(m.fault).toBeNull();
    // FS: selector, attrib (type 3 | S | P | D/B at attrib bit 10), limit, base.
    expect(m.r16(OPERAND + OFF.fs)).toBe(0x33);
    expect(m.r16(OPERAND + OFF.fs + 2)).toBe(0x493);
    expect(m.r32(OPERAND + OFF.fs + 4)).toBe(0xfffff);
    expect(m.r64(OPERAND + OFF.fs + 8)).toBe(0x7fff_1234_5000n);
    expect(m.r16(OPERAND + OFF.gs)).toBe(0x3b);
    expect(m.r16(OPERAND + OFF.gs + 2)).toBe(0x892); // G = attrib bit 11, type 2, S, P; not accessed
    expect(m.r64(OPERAND + OFF.gs + 8)).toBe(0xffff_8000_9abc_d000n);
    expect(m.r16(OPERAND + OFF.ldtr)).toBe(0x48);
    expect(m.r16(OPERAND + OFF.ldtr + 2)).toBe(0x82);
    expect(m.r32(OPERAND + OFF.ldtr + 4)).toBe(0x1ff);
    expect(m.r64(OPERAND + OFF.ldtr + 8)).toBe(0x1_0000_5000n);
    expect(m.r16(OPERAND + OFF.tr)).toBe(0x40);
    expect(m.r16(OPERAND + OFF.tr + 2)).toBe(0x8b);
    expect(m.r64(OPERAND + OFF.tr + 8)).toBe(0x2_0000_9000n);
    expect(m.r64(OPERAND + OFF.kgs)).toBe(0x3333_4444_1111_2222n);
    expect(m.r64(OPERAND + OFF.star)).toBe(0x0023_0010_5555_6666n);
    expect(m.r64(OPERAND + OFF.lstar)).toBe(0xffff_ffff_7777_8888n);
    expect(m.r64(OPERAND + OFF.cstar)).toBe(0xffff_8000_9999_aaaan);
    expect(m.r64(OPERAND + OFF.sfmask)).toBe(0x4_7700n);
    expect(m.r64(OPERAND + OFF.sysCs)).toBe(0x10n);
    expect(m.r64(OPERAND + OFF.sysEsp)).toBe(0x1_bbbb_ccccn);
    expect(m.r64(OPERAND + OFF.sysEip)).toBe(0x2_dddd_eeeen);
    // Nothing else: CS (410h), RAX (5F8h), EXITCODE (070h) untouched.
    expect(m.r32(OPERAND + 0x410)).toBe(0xeeeeeeee);
    expect(m.r32(OPERAND + 0x5f8)).toBe(0xeeeeeeee);
    expect(m.r32(OPERAND + 0x070)).toBe(0xeeeeeeee);
  });

  it('VMLOAD loads the same state back, and only that state', () => {
    const src = new SvmMachine().long64().enableSvm();
    loadState(src);
    src.fill(OPERAND, 0x1000);
    opVmsave(src.svm, src.cpu, OPERAND);
    const m = new SvmMachine().long64().enableSvm();
    for (let o = 0; o < 0x1000; o += 4) m.w32(OPERAND + o, src.r32(OPERAND + o));
    const cs = [m.cpu.segSel[Seg.CS], m.cpu.segBase[Seg.CS], m.cpu.segAttr[Seg.CS]];
    m.run([...X.movImm64(R.RAX, OPERAND), ...X.vmload, ...X.hlt]);
    expect(m.fault).toBeNull();
    const c = m.cpu;
    for (const s of [Seg.FS, Seg.GS, Seg.LDTR, Seg.TR]) {
      expect([c.segSel[s], c.segBase[s], c.segBaseHi[s], c.segLimit[s], c.segAttr[s]]).toEqual([
        src.cpu.segSel[s],
        src.cpu.segBase[s],
        src.cpu.segBaseHi[s],
        src.cpu.segLimit[s],
        src.cpu.segAttr[s],
      ]);
    }
    expect([c.kernelGsBaseLo, c.kernelGsBaseHi, c.starLo, c.starHi, c.lstarLo, c.lstarHi, c.cstarLo, c.cstarHi, c.sfmask]).toEqual([
      0x1111_2222, 0x3333_4444, 0x5555_6666, 0x0023_0010, 0x7777_8888 | 0, -1, 0x9999_aaaa | 0, 0xffff_8000 | 0, 0x4_7700,
    ]);
    expect([c.sysenterCs, c.sysenterEspLo, c.sysenterEspHi, c.sysenterEipLo, c.sysenterEipHi]).toEqual([0x10, 0xbbbb_cccc | 0, 1, 0xdddd_eeee | 0, 2]);
    expect([c.segSel[Seg.CS], c.segBase[Seg.CS], c.segAttr[Seg.CS]]).toEqual(cs);
  });

  it('the FS base VMLOAD loads is used by the next instruction', () => {
    const m = new SvmMachine().flat32().enableSvm();
    m.fill(OPERAND, 0x1000);
    opVmsave(m.svm, m.cpu, OPERAND);
    m.w32(OPERAND + OFF.fs + 8, 0x380000);
    m.w32(0x380010, 0xfeedface);
    // VMLOAD; mov ebx, fs:[0x10]; hlt
    m.run([...X.movImm32(R.RAX, OPERAND), ...X.vmload, 0x64, 0x8b, 0x1d, 0x10, 0, 0, 0, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(m.reg(R.RBX)).toBe(0xfeedfacen);
  });

  it('opVmload and opVmsave are exported for the typed API', () => {
    expect(typeof opVmload).toBe('function');
  });
});

describe('STGI / CLGI (§15.17, vGIF §15.33.2)', () => {
  it('CLGI clears GIF and STGI sets it (host)', () => {
    const m = new SvmMachine().flat32().enableSvm();
    m.run([...X.clgi, ...X.hlt]);
    expect(m.cpu.gif).toBe(false);
    m.run([...X.stgi, ...X.hlt]);
    expect(m.cpu.gif).toBe(true);
  });

  it('an NMI held pending while GIF = 0 is taken right after STGI (Table 15-10)', () => {
    const m = new SvmMachine().flat32().enableSvm();
    m.cpu.gif = false;
    m.cpu.nmiPending = true;
    m.run([...X.nop, ...X.nop, ...X.stgi, ...X.nop, ...X.hlt]);
    expect(m.fault?.vector).toBe(NMI);
    // Taken at the boundary after STGI: RIP is the NOP after it.
    expect(m.cpu.ripLo).toBe(0x10000 + 2 + 3);
  });

  it('with V_GIF_ENABLE in guest mode, STGI/CLGI set/clear V_GIF (VMCB 60h bit 9) and leave GIF alone', () => {
    const m = guest(new SvmMachine().flat32().enableSvm(), 0, InterceptMisc2.Vmrun);
    m.svm.vIntr = VIntr.GifEnable | VIntr.Gif;
    m.run([...X.clgi, ...X.hlt]);
    expect(m.svm.vIntr & (1 << 9)).toBe(0);
    expect(m.svm.vIntr & (1 << 25)).not.toBe(0);
    expect(m.cpu.gif).toBe(true);
    m.cpu.extBoundary = false;
    opStgi(m.svm, m.cpu);
    expect(m.svm.vIntr & (1 << 9)).not.toBe(0);
    expect(m.cpu.extBoundary).toBe(true);
    expect(m.cpu.gif).toBe(true);
  });

  it('without V_GIF_ENABLE, or without vGIF advertised, guest STGI/CLGI change the real GIF', () => {
    const m = guest(new SvmMachine().flat32().enableSvm(), 0, 0);
    m.run([...X.clgi, ...X.hlt]);
    expect(m.cpu.gif).toBe(false);
    const n = guest(new SvmMachine({ features: { ...(new SvmMachine().svm.features), vgif: false } }).flat32().enableSvm(), 0, 0);
    n.svm.vIntr = VIntr.GifEnable | VIntr.Gif;
    opClgi(n.svm, n.cpu);
    expect(n.cpu.gif).toBe(false);
    expect(n.svm.vIntr & VIntr.Gif).not.toBe(0);
  });
});

describe('INVLPGA (Vol. 3 "INVLPGA")', () => {
  it('invalidates rAX (linear address) for the ASID in ECX', () => {
    const m = new SvmMachine().long64().enableSvm();
    m.run([...X.movImm64(R.RAX, 0xffff_8000_1234_5000n), ...X.movImm32(R.RCX, 7), ...X.invlpga, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(mocks.invlpga).toEqual([{ asid: 7, lo: 0x1234_5000, hi: 0xffff_8000 }]);
  });

  it('uses EAX with a 32-bit address size', () => {
    const m = new SvmMachine().long64().enableSvm();
    m.run([...X.movImm64(R.RAX, 0xffff_8000_1234_5678n), ...X.movImm32(R.RCX, 0), 0x67, ...X.invlpga, ...X.hlt]);
    expect(mocks.invlpga).toEqual([{ asid: 0, lo: 0x1234_5678, hi: 0 }]);
  });
});

describe('EFER.SVME gate', () => {
  it('the same instruction works once EFER.SVME is set', () => {
    const m = new SvmMachine().flat32();
    m.run([...X.clgi, ...X.hlt]);
    expect(m.fault?.vector).toBe(UD);
    m.clearEvents();
    m.cpu.efer |= Efer.SVME;
    m.run([...X.clgi, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(m.cpu.gif).toBe(false);
    expect(m.cpu.getEflags() & Flag.VM).toBe(0);
  });
});
