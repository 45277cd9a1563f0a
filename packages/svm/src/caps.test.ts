/**
 * CPUID and the SVM MSRs (caps.ts) against APM Vol. 2 §15.4, §15.30 and Vol. 3 Appendix E.
 */
import { Efer, readMsr, writeMsr } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SVM_FEATURES } from './caps.js';
import { R, SvmMachine, X } from './test-harness.js';

const GP = 13;
const VM_CR = 0xc0010114;
const IGNNE = 0xc0010115;
const SMM_CTL = 0xc0010116;
const VM_HSAVE_PA = 0xc0010117;
const SVM_KEY = 0xc0010118;

function cpuid(m: SvmMachine, leaf: number): [number, number, number, number] {
  m.setReg(R.RAX, leaf).setReg(R.RCX, 0);
  m.run([...X.cpuid, ...X.hlt]);
  return [Number(m.reg(R.RAX)), Number(m.reg(R.RBX)), Number(m.reg(R.RCX)), Number(m.reg(R.RDX))];
}

function rd(m: SvmMachine, msr: number): bigint | null {
  if (!readMsr(m.cpu, msr)) return null;
  return (BigInt(m.cpu.msrHi >>> 0) << 32n) | BigInt(m.cpu.msrLo >>> 0);
}

function wr(m: SvmMachine, msr: number, v: bigint): boolean {
  return writeMsr(m.cpu, msr, Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0);
}

describe('CPUID (APM Vol. 3 Appendix E.4.2, E.4.9)', () => {
  it('Fn8000_0001_ECX[SVM] (bit 2) and [SKINIT] (bit 12: SKINIT exists, and a DEV) are set', () => {
    const [, , ecx] = cpuid(new SvmMachine().flat32(), 0x80000001);
    expect(ecx & 4).toBe(4);
    expect(ecx & (1 << 12)).toBe(1 << 12);
  });

  it('the highest extended leaf covers Fn8000_000A', () => {
    const [eax] = cpuid(new SvmMachine().flat32(), 0x80000000);
    expect(eax >>> 0).toBeGreaterThanOrEqual(0x8000000a);
  });

  it('Fn8000_000A: revision 1, 64 ASIDs, ECX 0, EDX = NP|LbrVirt|NRIPS|VmcbClean|FlushByAsid|DecodeAssists|PauseFilter|PFThreshold|vGIF|vNMI', () => {
    const [eax, ebx, ecx, edx] = cpuid(new SvmMachine().flat32(), 0x8000000a);
    expect(eax & 0xff).toBe(1);
    expect(ebx).toBe(64);
    expect(ecx).toBe(0);
    // Bits 0, 1, 3, 5, 6, 7, 10, 12, 16, 25 (APM Vol. 3 Appendix E.4.9, Fn8000_000A_EDX); not SVML (2),
    // TscRateMsr (4), AVIC (13), VMSAVE virtualization (15).
    expect(edx >>> 0).toBe(0x020114eb);
  });

  it('EDX follows the configured features', () => {
    const m = new SvmMachine({ features: { ...DEFAULT_SVM_FEATURES, vgif: false, np: false, nasid: 16 } });
    m.flat32();
    const [, ebx, , edx] = cpuid(m, 0x8000000a);
    expect(ebx).toBe(16);
    expect(edx & (1 << 16)).toBe(0);
    expect(edx & 1).toBe(0);
    expect(edx & (1 << 25)).not.toBe(0);
  });
});

describe('VM_CR (§15.30.1)', () => {
  it('reads as written: DPD, R_INIT, DIS_A20M', () => {
    const m = new SvmMachine().flat32();
    expect(rd(m, VM_CR)).toBe(0n);
    expect(wr(m, VM_CR, 0x7n)).toBe(true);
    expect(rd(m, VM_CR)).toBe(0x7n);
  });

  it('bits 63:5 are MBZ: #GP', () => {
    const m = new SvmMachine().flat32();
    expect(wr(m, VM_CR, 0x20n)).toBe(false);
    expect(wr(m, VM_CR, 1n << 32n)).toBe(false);
    expect(rd(m, VM_CR)).toBe(0n);
  });

  it('SVMDIS makes EFER.SVME MBZ (WRMSR EFER with SVME #GPs)', () => {
    const m = new SvmMachine().flat32();
    expect(wr(m, VM_CR, 0x10n)).toBe(true);
    expect(wr(m, 0xc0000080, BigInt(Efer.SVME))).toBe(false);
    expect(m.cpu.efer & Efer.SVME).toBe(0);
    expect(wr(m, VM_CR, 0n)).toBe(true);
    expect(wr(m, 0xc0000080, BigInt(Efer.SVME))).toBe(true);
    expect(m.cpu.efer & Efer.SVME).toBe(Efer.SVME);
  });

  it('setting SVMDIS while EFER.SVME = 1 is #GP, regardless of LOCK', () => {
    const m = new SvmMachine().flat32().enableSvm();
    expect(wr(m, VM_CR, 0x10n)).toBe(false);
    expect(wr(m, VM_CR, 0x8n)).toBe(true); // LOCK
    expect(wr(m, VM_CR, 0x18n)).toBe(false);
    expect(rd(m, VM_CR)).toBe(0x8n);
  });

  it('with LOCK set, writes to LOCK and SVMDIS are silently ignored; the other bits are written', () => {
    const m = new SvmMachine().flat32();
    expect(wr(m, VM_CR, 0x18n)).toBe(true); // LOCK | SVMDIS
    expect(wr(m, VM_CR, 0x01n)).toBe(true); // tries to clear LOCK and SVMDIS, sets DPD
    expect(rd(m, VM_CR)).toBe(0x19n);
    const n = new SvmMachine().flat32();
    expect(wr(n, VM_CR, 0x08n)).toBe(true); // LOCK alone
    expect(wr(n, VM_CR, 0x10n)).toBe(true); // SVMDIS ignored
    expect(rd(n, VM_CR)).toBe(0x08n);
    expect(wr(n, 0xc0000080, BigInt(Efer.SVME))).toBe(true);
  });

  it('through the instructions: WRMSR with a reserved bit raises #GP(0)', () => {
    const m = new SvmMachine().flat32();
    m.setReg(R.RCX, VM_CR).setReg(R.RAX, 0x40).setReg(R.RDX, 0);
    m.run([...X.wrmsr, ...X.hlt]);
    expect(m.fault).toEqual(expect.objectContaining({ vector: GP, error: 0 }));
  });
});

describe('VM_HSAVE_PA (§15.30.4)', () => {
  it('is read/write, 64 bits', () => {
    const m = new SvmMachine().flat32();
    expect(wr(m, VM_HSAVE_PA, 0x12_3456_7000n)).toBe(true);
    expect(rd(m, VM_HSAVE_PA)).toBe(0x12_3456_7000n);
    expect(m.svm.hsavePa).toBe(0x12_3456_7000);
  });

  it('#GP when any of bits 11:0 is set', () => {
    const m = new SvmMachine().flat32();
    for (const v of [0x1001n, 0x1800n, 0x1fffn]) expect(wr(m, VM_HSAVE_PA, v)).toBe(false);
    expect(rd(m, VM_HSAVE_PA)).toBe(0n);
  });

  it('#GP at or above the maximum physical address (2^48 on the AMD model)', () => {
    const m = new SvmMachine().flat32();
    expect(wr(m, VM_HSAVE_PA, 1n << 48n)).toBe(false);
    expect(wr(m, VM_HSAVE_PA, 1n << 63n)).toBe(false);
    expect(wr(m, VM_HSAVE_PA, (1n << 48n) - 0x1000n)).toBe(true);
  });
});

describe('IGNNE, SMM_CTL, SVM_KEY (§15.30.2, §15.30.3, §15.31.1)', () => {
  it('IGNNE: bit 0 read/write, other bits MBZ', () => {
    const m = new SvmMachine().flat32();
    expect(rd(m, IGNNE)).toBe(0n);
    expect(wr(m, IGNNE, 1n)).toBe(true);
    expect(rd(m, IGNNE)).toBe(1n);
    expect(wr(m, IGNNE, 2n)).toBe(false);
    expect(rd(m, IGNNE)).toBe(1n);
  });

  it('SMM_CTL is write-only (RDMSR #GP); bits 63:5 MBZ', () => {
    const m = new SvmMachine().flat32();
    expect(rd(m, SMM_CTL)).toBeNull();
    expect(wr(m, SMM_CTL, 0x20n)).toBe(false);
    expect(wr(m, SMM_CTL, 0x1n)).toBe(true);
  });

  it('SVM_KEY does not exist without SVML', () => {
    const m = new SvmMachine().flat32();
    expect(rd(m, SVM_KEY)).toBeNull();
    expect(wr(m, SVM_KEY, 1n)).toBe(false);
  });
});
