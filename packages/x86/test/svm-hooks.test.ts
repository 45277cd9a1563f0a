/**
 * Core hooks that exist for SVM's intercepts (AMD APM Vol. 2 §15.7-§15.14): RSM offered to the
 * extension before its #UD (no SMM here), the FERR_FREEZE point of legacy x87 error reporting
 * (CR0.NE = 0), and the side-effect-free fetch-translation lookup decode assists use.
 */
import { describe, expect, it } from 'vitest';
import { Cr0, Intercept, Vector } from '../src/index.js';
import { CODE, fakeExt, Sys } from './sys-harness.js';

interface Call {
  what: number;
  info: number;
}

function guest(exits: (what: number) => boolean): { s: Sys; calls: Call[] } {
  const s = new Sys();
  s.flat32(0);
  const calls: Call[] = [];
  s.cpu.ext = fakeExt('svm', {
    intercept: (c, what, info) => {
      calls.push({ what, info });
      if (exits(what)) {
        c.stop();
        return true;
      }
      return false;
    },
  });
  s.cpu.guestMode = true;
  return { s, calls };
}

describe('RSM (0F AA): #UD without SMM, offered to the extension first in guest mode', () => {
  it('outside guest mode RSM is #UD', () => {
    const s = new Sys();
    s.flat32(0);
    s.code([0x0f, 0xaa, 0xf4]);
    s.run();
    expect(s.fault?.vector).toBe(Vector.UD);
  });

  it('in guest mode the extension sees Intercept.Rsm before the #UD; an exit abandons it', () => {
    const { s, calls } = guest((w) => w === Intercept.Rsm);
    s.code([0x0f, 0xaa, 0xf4]);
    s.run();
    expect(calls.map((c) => c.what)).toContain(Intercept.Rsm);
    expect(s.fault).toBeNull();
  });

  it('in guest mode without an exit RSM is still #UD', () => {
    const { s, calls } = guest(() => false);
    s.code([0x0f, 0xaa, 0xf4]);
    s.run();
    expect(calls.some((c) => c.what === Intercept.Rsm)).toBe(true);
    expect(s.fault?.vector).toBe(Vector.UD);
  });
});

describe('FERR_FREEZE point (x87 error pending with CR0.NE = 0)', () => {
  function pendingX87(s: Sys): void {
    s.cpu.cr0 = (s.cpu.cr0 & ~(Cr0.NE | Cr0.EM | Cr0.TS)) | Cr0.MP;
    s.cpu.fsw |= 0x80 | 0x01; // ES with IE
  }

  it('FWAIT offers FerrFreeze; an exit abandons the instruction and leaves FERR# deasserted', () => {
    const { s, calls } = guest((w) => w === Intercept.FerrFreeze);
    pendingX87(s);
    s.code([0x9b, 0xf4]);
    s.run();
    expect(calls.map((c) => c.what)).toContain(Intercept.FerrFreeze);
    expect(s.cpu.ferr).toBe(false);
    expect(s.cpu.ripLo).toBe(CODE);
  });

  it('without an exit FERR# is asserted and execution continues (no #MF with NE = 0)', () => {
    const { s, calls } = guest(() => false);
    pendingX87(s);
    s.code([0x9b, 0xf4]);
    s.run();
    expect(calls.some((c) => c.what === Intercept.FerrFreeze)).toBe(true);
    expect(s.cpu.ferr).toBe(true);
    expect(s.fault).toBeNull();
  });

  it('with CR0.NE = 1 it is #MF, and FerrFreeze is not offered', () => {
    const { s, calls } = guest(() => false);
    pendingX87(s);
    s.cpu.cr0 |= Cr0.NE;
    s.code([0x9b, 0xf4]);
    s.run();
    expect(s.fault?.vector).toBe(Vector.MF);
    expect(calls.some((c) => c.what === Intercept.FerrFreeze)).toBe(false);
  });
});

describe('cachedFetchPhys', () => {
  it('returns the physical address of a fetched page from the TLB and -1 for one never fetched', () => {
    const s = new Sys();
    s.flat32(0);
    s.code([0x90, 0xf4]);
    s.run();
    expect(s.cpu.cachedFetchPhys(CODE + 1, 0)).toBe(CODE + 1);
    expect(s.cpu.cachedFetchPhys(0x300000, 0)).toBe(-1);
  });
});
