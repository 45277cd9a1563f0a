/// <reference types="node" />
/**
 * SKINIT (skinit.ts) against APM Vol. 2 §15.27.2, §15.27.3, §15.27.6 and §15.30.1; SHA-1 against
 * node:crypto.
 */
import { createHash } from 'node:crypto';
import { Cr0, Efer, Flag, Seg, SegAttr, signature } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { InterceptMisc2 } from './constants.js';
import { opSkinit, sha1Hex, SLB_SIZE } from './skinit.js';
import type { DmaExclusion } from './svm.js';
import { R, SvmMachine, X } from './test-harness.js';

const SLB = 0x40000;
const ENTRY = 0x100;

/** An SL image: entry offset, length, then `length - 4` pattern bytes (§15.27.2). */
function writeSl(m: SvmMachine, length: number, code: readonly number[] = X.hlt): Uint8Array {
  const img = new Uint8Array(Math.max(length, ENTRY + code.length));
  for (let i = 4; i < length; i++) img[i] = (i * 37 + 11) & 0xff;
  img[0] = ENTRY & 0xff;
  img[1] = ENTRY >> 8;
  img[2] = length & 0xff;
  img[3] = length >> 8;
  img.set(code, ENTRY);
  m.memory.write(SLB as never, img);
  return img.subarray(0, length);
}

function sha1(b: Uint8Array): string {
  return createHash('sha1').update(b).digest('hex');
}

class RecordingDev implements DmaExclusion {
  readonly calls: [number, number][] = [];
  protect(base: number, length: number): void {
    this.calls.push([base, length]);
  }
}

function skinitMachine(): SvmMachine {
  const m = new SvmMachine().flat32().enableSvm();
  for (let r = 0; r < 8; r++) m.setReg(r, 0x1111_1111 * (r + 1));
  for (let r = 8; r < 16; r++) m.setReg(r, 0xdead_0000_0000n + BigInt(r));
  return m;
}

describe('SHA-1 (FIPS 180-4), checked against node:crypto', () => {
  it.each([0, 1, 3, 55, 56, 63, 64, 65, 119, 1000, 65535])('%i bytes', (n) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 8)) & 0xff;
    expect(sha1Hex(b)).toBe(sha1(b));
  });

  it('"abc" (FIPS 180 example)', () => {
    expect(sha1Hex(new TextEncoder().encode('abc'))).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
  });
});

describe('SKINIT (§15.27.6)', () => {
  it('EAX = SLB base (bits 15:0 cleared), ESP = SLB + 64 KiB, EDX = family/model/stepping, other GPRs 0', () => {
    const m = skinitMachine();
    writeSl(m, 0x300);
    m.setReg(R.RAX, SLB | 0xabcd);
    m.step([...X.skinit]);
    expect(m.fault).toBeNull();
    expect(m.reg(R.RAX)).toBe(BigInt(SLB));
    expect(m.reg(R.RSP)).toBe(BigInt(SLB + 0x10000));
    expect(m.reg(R.RDX)).toBe(BigInt(signature(m.cpu.model)));
    for (const r of [R.RCX, R.RBX, R.RBP, R.RSI, R.RDI]) expect(m.reg(r)).toBe(0n);
    for (let r = 8; r < 16; r++) expect(m.reg(r)).toBe(0n);
  });

  it('jumps to SLB + the entry offset (the word at SLB + 0), in flat 32-bit protected mode, paging off', () => {
    const m = skinitMachine();
    writeSl(m, 0x300);
    m.setReg(R.RAX, SLB);
    m.step([...X.skinit]);
    expect(m.rip).toBe(BigInt(SLB + ENTRY));
    const c = m.cpu;
    expect(c.cr0 & (Cr0.PE | Cr0.PG)).toBe(Cr0.PE);
    expect(c.cr0 >>> 0).toBe(0x6000_0011); // INIT's 6000_0010h (APM Table 14-1) with PE
    expect(c.cr4).toBe(0);
    expect([c.cr3Lo, c.cr2Lo]).toEqual([0, 0]);
    expect(c.efer).toBe(0); // "The EFER MSR, however, is cleared" (SVME too)
    expect(c.cpl).toBe(0);
    // CS = 8h, base 0, limit 4G, 32-bit code, read/execute; SS = 10h, read/write, expand-up, 32-bit.
    expect([c.segSel[Seg.CS], c.segBase[Seg.CS], c.segLimit[Seg.CS] >>> 0]).toEqual([8, 0, 0xffffffff]);
    expect(c.segAttr[Seg.CS]! & (SegAttr.Code | SegAttr.RW | SegAttr.DB)).toBe(SegAttr.Code | SegAttr.RW | SegAttr.DB);
    expect([c.segSel[Seg.SS], c.segBase[Seg.SS], c.segLimit[Seg.SS] >>> 0]).toEqual([0x10, 0, 0xffffffff]);
    expect(c.segAttr[Seg.SS]! & (SegAttr.Code | SegAttr.RW | SegAttr.DC | SegAttr.DB)).toBe(SegAttr.RW | SegAttr.DB);
    // DS, ES, FS, GS: 16-bit real-mode segments.
    for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS]) {
      expect([c.segSel[s], c.segBase[s], c.segLimit[s]]).toEqual([0, 0, 0xffff]);
      expect(c.segAttr[s]! & SegAttr.DB).toBe(0);
    }
  });

  it('the SL runs: PUSH EAX at the entry lands at the top of the SLB (SS flat, ESP = SLB + 10000h)', () => {
    const m = skinitMachine();
    writeSl(m, 0x300, [0x50, ...X.hlt]); // push eax; hlt
    m.setReg(R.RAX, SLB);
    m.run([...X.skinit]);
    expect(m.fault).toBeNull();
    expect(m.reg(R.RSP)).toBe(BigInt(SLB + 0x10000 - 4));
    expect(m.r32(SLB + 0x10000 - 4)).toBe(SLB);
    expect(m.rip).toBe(BigInt(SLB + ENTRY + 2));
  });

  it('clears GIF; sets VM_CR.DPD, R_INIT, DIS_A20M; keeps LOCK and SVMDIS', () => {
    const m = skinitMachine();
    writeSl(m, 0x300);
    m.svm.vmCr = 0x8; // LOCK
    m.setReg(R.RAX, SLB);
    m.step([...X.skinit]);
    expect(m.cpu.gif).toBe(false);
    expect(m.svm.vmCr).toBe(0x8 | 0x7);
  });

  it('an NMI stays pending after SKINIT (GIF = 0); RFLAGS is 2', () => {
    const m = skinitMachine();
    writeSl(m, 0x300, [...X.nop, ...X.nop, ...X.hlt]);
    m.cpu.setEflags(m.cpu.getEflags() | Flag.IF | Flag.DF | 0x8d5);
    m.setReg(R.RAX, SLB);
    m.step([...X.skinit]);
    expect(m.cpu.getEflags()).toBe(2);
    m.cpu.nmiPending = true;
    m.run();
    expect(m.fault).toBeNull();
    expect(m.cpu.getEflags()).toBe(2);
    expect(m.cpu.nmiPending).toBe(true);
    expect(m.rip).toBe(BigInt(SLB + ENTRY + 3));
  });

  it('measures the SL image (length = the word at SLB + 2) into the log', () => {
    const m = skinitMachine();
    const img = writeSl(m, 0x1234);
    m.w8(SLB + 0x1234, 0x99); // beyond the image: not measured
    m.setReg(R.RAX, SLB | 0x10);
    m.step([...X.skinit]);
    expect(m.svm.skinitLog).toEqual([{ slb: SLB, length: 0x1234, sha1: sha1(img), entry: SLB + ENTRY, devProtected: false }]);
  });

  it('protects the 64 KiB SLB through the DEV when the machine has one', () => {
    const m = skinitMachine();
    writeSl(m, 0x300);
    const dev = new RecordingDev();
    m.svm.dev = dev;
    m.setReg(R.RAX, SLB + 0xfff0);
    m.step([...X.skinit]);
    expect(dev.calls).toEqual([[SLB, 0x10000]]);
    expect(m.svm.skinitLog[0]!.devProtected).toBe(true);
    expect(SLB_SIZE).toBe(0x10000);
  });

  it('works from 64-bit mode too (EAX only), leaving long mode', () => {
    const m = new SvmMachine().long64().enableSvm();
    writeSl(m, 0x40);
    m.run([...X.movImm64(R.RAX, 0xffff_ffff_0004_1234n), ...X.skinit, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(m.reg(R.RAX)).toBe(BigInt(SLB));
    expect(m.cpu.efer & (Efer.LMA | Efer.LME | Efer.SVME)).toBe(0);
    expect(m.rip).toBe(BigInt(SLB + ENTRY + 1));
  });

  it('in guest mode the SKINIT intercept is checked first (no reinitialization)', () => {
    const m = skinitMachine();
    writeSl(m, 0x300);
    m.cpu.guestMode = true;
    m.svm.interceptMisc2 = InterceptMisc2.Skinit;
    m.setReg(R.RAX, SLB);
    m.step([...X.skinit]);
    // (The #VMEXIT itself is the intercept module's; here: SKINIT did not run.)
    expect(m.svm.skinitLog).toEqual([]);
    expect(m.svm.vmCr).toBe(0);
  });

  it('opSkinit is exported for the typed API', () => {
    const m = skinitMachine();
    writeSl(m, 0x10);
    opSkinit(m.svm, m.cpu, SLB);
    expect(m.rip).toBe(BigInt(SLB + ENTRY));
  });
});
