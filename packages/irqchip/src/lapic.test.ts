import { DeviceConfigurationError, VirtualClock, port, type CpuPins, type TscSource } from '@hvkit/platform';
import { beforeEach, describe, expect, it } from 'vitest';
import { ApicBase, ApicReg, Esr, LocalApic, Lvt, Pic8259Pair, PicPort, type LocalApicOptions } from './index.js';

class FakePins implements CpuPins {
  readonly events: string[] = [];
  kicks = 0;
  init(): void {
    this.events.push('init');
  }
  startup(vector: number): void {
    this.events.push(`sipi:${vector.toString(16)}`);
  }
  nmi(): void {
    this.events.push('nmi');
  }
  smi(): void {
    this.events.push('smi');
  }
  kick(): void {
    this.kicks++;
  }
}

let clock: VirtualClock;
let pins: FakePins;
let apic: LocalApic;

function make(options: Partial<LocalApicOptions> = {}): LocalApic {
  clock = new VirtualClock();
  pins = new FakePins();
  apic = new LocalApic({ id: 0, bsp: true, clock, pins, ...options });
  return apic;
}

const rd = (offset: number, a: LocalApic = apic): number => a.mmioRead(offset, 4);
const wr = (offset: number, value: number, a: LocalApic = apic): void => a.mmioWrite(offset, 4, value >>> 0);
/** Software-enables the APIC with spurious vector 0xFF. */
const swEnable = (a: LocalApic = apic): void => wr(ApicReg.SVR, 0x1ff, a);
/** Writes the ESR and reads it (the SDM's write-then-read sequence). */
const esr = (a: LocalApic = apic): number => {
  wr(ApicReg.ESR, 0, a);
  return rd(ApicReg.ESR, a);
};
const X2 = 0xfee0_0000 | ApicBase.EN | ApicBase.EXTD;
const XAPIC = 0xfee0_0000 | ApicBase.EN;
const toX2 = (a: LocalApic = apic): void => {
  expect(a.writeBase(X2 | (a.baseLo & ApicBase.BSP), 0)).toBe(true);
};
const msr = (m: number, a: LocalApic = apic): number => {
  expect(a.readMsr(m)).toBe(true);
  return a.msrLo;
};
/** Delivers a fixed interrupt message. */
const fixed = (vector: number, level = false, a: LocalApic = apic): boolean => a.accept(0, vector, true, level ? 1 : 0);
const irr = (v: number): boolean => apic.vectorBit('irr', v);
const isr = (v: number): boolean => apic.vectorBit('isr', v);
const tmr = (v: number): boolean => apic.vectorBit('tmr', v);
/** Acknowledges and EOIs whatever is deliverable; returns the vector or -1. */
const service = (): number => {
  if (!apic.hasInterrupt()) return -1;
  const v = apic.acknowledge();
  wr(ApicReg.EOI, 0);
  return v;
};

beforeEach(() => {
  make();
});

describe('LocalApic power-up state (SDM §11.4.7.1)', () => {
  it('has the reset register values in xAPIC mode', () => {
    make({ id: 3 });
    expect(apic.name).toBe('lapic3');
    expect(apic.baseLo).toBe(0xfee0_0900);
    expect(apic.baseHi).toBe(0);
    expect(apic.mmioPage).toBe(0xfee0_0000);
    expect(rd(ApicReg.ID)).toBe(0x0300_0000);
    expect(rd(ApicReg.VERSION)).toBe(0x0005_0014);
    for (const r of [ApicReg.TPR, ApicReg.APR, ApicReg.PPR, ApicReg.LDR, ApicReg.ESR, ApicReg.ICR_LO, ApicReg.ICR_HI]) expect(rd(r)).toBe(0);
    expect(rd(ApicReg.DFR)).toBe(0xffff_ffff);
    expect(rd(ApicReg.SVR)).toBe(0xff);
    for (let i = 0; i < 8; i++) {
      expect(rd(ApicReg.ISR + 16 * i)).toBe(0);
      expect(rd(ApicReg.TMR + 16 * i)).toBe(0);
      expect(rd(ApicReg.IRR + 16 * i)).toBe(0);
    }
    for (let r = ApicReg.LVT_TIMER; r <= ApicReg.LVT_ERROR; r += 16) expect(rd(r)).toBe(0x1_0000);
    expect(rd(ApicReg.TIMER_INITIAL_COUNT)).toBe(0);
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(0);
    expect(rd(ApicReg.TIMER_DIVIDE)).toBe(0);
    expect(apic.hasInterrupt()).toBe(false);
  });

  it('sets BSP only on the bootstrap processor', () => {
    expect(make({ bsp: false, id: 1 }).baseLo).toBe(0xfee0_0800);
  });

  it('advertises EOI-broadcast suppression in the version register only when asked', () => {
    make({ eoiBroadcastSuppression: true });
    expect(rd(ApicReg.VERSION)).toBe(0x0105_0014);
  });

  it('rejects bad options with a typed error', () => {
    expect(() => make({ id: -1 })).toThrow(DeviceConfigurationError);
    expect(() => make({ id: 0xffff_ffff })).toThrow(DeviceConfigurationError);
    expect(() => make({ id: 0xff, x2apic: false })).toThrow(/APIC ID/);
    expect(() => make({ physAddrBits: 35 })).toThrow(/physAddrBits/);
    expect(() => make({ physAddrBits: 53 })).toThrow(DeviceConfigurationError);
    expect(() => apic.setIrq(2, true)).toThrow(RangeError);
  });

  it('reset() returns to the power-up state and the initial ID', () => {
    make({ id: 2 });
    swEnable();
    wr(ApicReg.ID, 0x0700_0000);
    wr(ApicReg.TPR, 0x40);
    wr(ApicReg.LVT_LINT0, 0x700);
    fixed(0x55);
    expect(apic.writeBase(0xfed0_0800, 0)).toBe(true);
    apic.reset();
    expect(apic.baseLo).toBe(0xfee0_0900);
    expect(rd(ApicReg.ID)).toBe(0x0200_0000);
    expect(rd(ApicReg.TPR)).toBe(0);
    expect(rd(ApicReg.SVR)).toBe(0xff);
    expect(rd(ApicReg.LVT_LINT0)).toBe(0x1_0000);
    expect(irr(0x55)).toBe(false);
  });
});

describe('xAPIC register access', () => {
  it('applies the write masks of each register', () => {
    swEnable();
    const cases: [number, number][] = [
      [ApicReg.ID, 0xff00_0000],
      [ApicReg.TPR, 0xff],
      [ApicReg.LDR, 0xff00_0000],
      [ApicReg.SVR, 0x3ff],
      [ApicReg.ICR_HI, 0xff00_0000],
      [ApicReg.LVT_TIMER, 0x3_00ff],
      [ApicReg.LVT_THERMAL, 0x1_07ff],
      [ApicReg.LVT_PERF, 0x1_07ff],
      [ApicReg.LVT_LINT0, 0x1_a7ff],
      [ApicReg.LVT_LINT1, 0x1_a7ff],
      [ApicReg.LVT_ERROR, 0x1_00ff],
      [ApicReg.TIMER_DIVIDE, 0xb],
    ];
    for (const [reg, mask] of cases) {
      wr(reg, 0xffff_ffff);
      expect(rd(reg), `register ${reg.toString(16)}`).toBe(mask);
      wr(reg, reg === ApicReg.SVR ? 0x100 : 0);
    }
    // ICR low: vector, mode, dest mode, level, trigger, shorthand; delivery mode 111 sends nothing.
    wr(ApicReg.ICR_LO, 0xffff_ffff);
    expect(rd(ApicReg.ICR_LO)).toBe(0x000c_cfff);
    // DFR: only the model bits are writable, the rest reads 1.
    wr(ApicReg.DFR, 0);
    expect(rd(ApicReg.DFR)).toBe(0x0fff_ffff);
    wr(ApicReg.DFR, 0x1234_5678);
    expect(rd(ApicReg.DFR)).toBe(0x1fff_ffff);
  });

  it('makes the timer mode bit 18 writable only with TSC-deadline support', () => {
    make({ tsc: { readTsc: () => 0, ticksPerNs: 1 } });
    swEnable();
    wr(ApicReg.LVT_TIMER, 0xffff_ffff);
    expect(rd(ApicReg.LVT_TIMER)).toBe(0x7_00ff);
  });

  it('lets SVR bit 12 be set only when EOI-broadcast suppression is advertised', () => {
    make({ eoiBroadcastSuppression: true });
    wr(ApicReg.SVR, 0xffff_ffff);
    expect(rd(ApicReg.SVR)).toBe(0x13ff);
  });

  it('ignores writes to read-only registers', () => {
    fixed(0x40); // refused: software-disabled
    swEnable();
    fixed(0x40);
    for (const reg of [ApicReg.VERSION, ApicReg.PPR, ApicReg.APR, ApicReg.IRR + 0x20, ApicReg.ISR, ApicReg.TMR, ApicReg.TIMER_CURRENT_COUNT]) {
      const before = rd(reg);
      wr(reg, 0xdead_beef);
      expect(rd(reg)).toBe(before);
    }
    expect(irr(0x40)).toBe(true);
    expect(esr()).toBe(0);
  });

  it('reads bytes and words within a register and 0 past it; ignores narrow or misaligned writes', () => {
    make({ id: 0x12 });
    expect(apic.mmioRead(ApicReg.ID + 3, 1)).toBe(0x12);
    expect(apic.mmioRead(ApicReg.VERSION, 2)).toBe(0x0014);
    expect(apic.mmioRead(ApicReg.VERSION + 2, 2)).toBe(0x0005);
    expect(apic.mmioRead(ApicReg.VERSION + 2, 4)).toBe(0x0005);
    expect(apic.mmioRead(ApicReg.VERSION + 4, 4)).toBe(0);
    expect(apic.mmioRead(ApicReg.DFR + 8, 4)).toBe(0);
    apic.mmioWrite(ApicReg.TPR, 1, 0x30);
    apic.mmioWrite(ApicReg.TPR, 2, 0x30);
    apic.mmioWrite(ApicReg.TPR + 4, 4, 0x30);
    apic.mmioWrite(ApicReg.TPR + 1, 4, 0x30);
    expect(rd(ApicReg.TPR)).toBe(0);
    apic.mmioWrite(ApicReg.TPR, 4, 0x30);
    expect(rd(ApicReg.TPR)).toBe(0x30);
  });

  it('reads reserved registers as 0 and reports an illegal register address in the ESR', () => {
    expect(rd(0x2f0)).toBe(0); // LVT CMCI: not implemented (max LVT 5)
    expect(esr()).toBe(Esr.ILLEGAL_REGISTER_ADDRESS);
    expect(esr()).toBe(0);
    wr(0x3f0, 0x41); // SELF IPI exists only in x2APIC mode
    expect(esr()).toBe(Esr.ILLEGAL_REGISTER_ADDRESS);
    expect(rd(0x800)).toBe(0);
    expect(esr()).toBe(Esr.ILLEGAL_REGISTER_ADDRESS);
    // Write-only and implemented read-only registers are not errors.
    expect(rd(ApicReg.EOI)).toBe(0);
    expect(rd(ApicReg.RRD)).toBe(0);
    expect(esr()).toBe(0);
  });

  it('latches errors into the ESR only on an ESR write', () => {
    expect(rd(0x040)).toBe(0);
    expect(rd(ApicReg.ESR)).toBe(0); // not yet latched
    wr(ApicReg.ESR, 0);
    expect(rd(ApicReg.ESR)).toBe(0x80);
    expect(rd(ApicReg.ESR)).toBe(0x80); // reads do not clear it
    wr(ApicReg.ESR, 0xffff);
    expect(rd(ApicReg.ESR)).toBe(0);
  });

  it('signals the error LVT when an error is detected', () => {
    swEnable();
    wr(ApicReg.LVT_ERROR, 0xee);
    rd(0x050);
    expect(irr(0xee)).toBe(true);
    expect(apic.acknowledge()).toBe(0xee);
    wr(ApicReg.EOI, 0);
    // The same error again before the ESR is written does not signal again.
    rd(0x050);
    expect(irr(0xee)).toBe(false);
    wr(ApicReg.ESR, 0);
    rd(0x050);
    expect(irr(0xee)).toBe(true);
  });
});

describe('IA32_APIC_BASE (SDM §11.4.4, §11.12.5)', () => {
  it('rejects reserved bits', () => {
    for (const bit of [0, 1, 2, 3, 4, 5, 6, 7, 9]) expect(apic.writeBase(XAPIC | (1 << bit), 0), `bit ${bit}`).toBe(false);
    expect(apic.writeBase(XAPIC, 1 << 14)).toBe(false); // bit 46 = MAXPHYADDR
    expect(apic.writeBase(XAPIC, (1 << 14) - 1)).toBe(true);
    make({ physAddrBits: 36 });
    expect(apic.writeBase(XAPIC, 0x10)).toBe(false);
    expect(apic.writeBase(XAPIC, 0x0f)).toBe(true);
    expect(apic.baseLo).toBe(0xfee0_0900);
    expect(apic.baseHi).toBe(0x0f);
    expect(apic.mmioPage).toBe(0xf_fee0_0000);
  });

  it('treats EXTD as reserved without x2APIC support', () => {
    make({ x2apic: false });
    expect(apic.writeBase(X2, 0)).toBe(false);
    expect(apic.x2apicMode).toBe(false);
  });

  it('keeps BSP read-only', () => {
    expect(apic.writeBase(XAPIC, 0)).toBe(true);
    expect(apic.baseLo).toBe(0xfee0_0900);
    make({ bsp: false });
    expect(apic.writeBase(XAPIC | ApicBase.BSP, 0)).toBe(true);
    expect(apic.baseLo).toBe(0xfee0_0800);
  });

  it('allows only the legal mode transitions (Figure 11-27)', () => {
    // xAPIC -> invalid (EN = 0, EXTD = 1)
    expect(apic.writeBase(0xfee0_0000 | ApicBase.EXTD, 0)).toBe(false);
    // xAPIC -> disabled -> x2APIC is illegal
    expect(apic.writeBase(0xfee0_0000, 0)).toBe(true);
    expect(apic.mmioPage).toBe(-1);
    expect(apic.writeBase(X2, 0)).toBe(false);
    expect(apic.writeBase(0xfee0_0000 | ApicBase.EXTD, 0)).toBe(false);
    // disabled -> xAPIC -> x2APIC
    expect(apic.writeBase(XAPIC, 0)).toBe(true);
    expect(apic.mmioPage).toBe(0xfee0_0000);
    toX2();
    expect(apic.x2apicMode).toBe(true);
    expect(apic.mmioPage).toBe(-1);
    // x2APIC -> xAPIC is illegal; x2APIC -> disabled is legal
    expect(apic.writeBase(XAPIC, 0)).toBe(false);
    expect(apic.writeBase(0xfee0_0000 | ApicBase.EXTD, 0)).toBe(false);
    expect(apic.x2apicMode).toBe(true);
    expect(apic.writeBase(0xfee0_0000, 0)).toBe(true);
    expect(apic.hardwareEnabled).toBe(false);
    expect(apic.writeBase(XAPIC, 0)).toBe(true);
    expect(apic.baseLo).toBe(0xfee0_0900);
  });

  it('relocates the register page', () => {
    expect(apic.writeBase(0xfed4_0000 | ApicBase.EN, 0)).toBe(true);
    expect(apic.mmioPage).toBe(0xfed4_0000);
    expect(apic.writeBase(0x1234_5000 | ApicBase.EN, 2)).toBe(true);
    expect(apic.mmioPage).toBe(2 * 0x1_0000_0000 + 0x1234_5000);
    expect(apic.mmioRead(ApicReg.VERSION, 4)).toBe(0x0005_0014);
  });

  it('returns to the power-up state when globally disabled, and comes back with the initial ID', () => {
    make({ id: 5 });
    swEnable();
    wr(ApicReg.ID, 0x0900_0000);
    wr(ApicReg.TPR, 0x20);
    wr(ApicReg.LDR, 0x0100_0000);
    wr(ApicReg.DFR, 0);
    wr(ApicReg.LVT_LINT0, 0x700);
    fixed(0x40);
    expect(apic.writeBase(0xfee0_0000, 0)).toBe(true);
    expect(apic.accept(0, 0x41, true, 0)).toBe(false); // a disabled APIC takes no messages
    expect(apic.writeBase(XAPIC, 0)).toBe(true);
    expect(rd(ApicReg.ID)).toBe(0x0500_0000);
    expect(rd(ApicReg.TPR)).toBe(0);
    expect(rd(ApicReg.LDR)).toBe(0);
    expect(rd(ApicReg.DFR)).toBe(0xffff_ffff);
    expect(rd(ApicReg.SVR)).toBe(0xff);
    expect(rd(ApicReg.LVT_LINT0)).toBe(0x1_0000);
    expect(irr(0x40)).toBe(false);
    expect(irr(0x41)).toBe(false);
  });

  it('keeps the registers when only software-disabled (SDM §11.4.7.2), with every LVT masked', () => {
    make({ id: 5 });
    swEnable();
    wr(ApicReg.ID, 0x0900_0000);
    wr(ApicReg.TPR, 0x20);
    wr(ApicReg.LDR, 0x0100_0000);
    wr(ApicReg.LVT_LINT0, 0x700);
    wr(ApicReg.LVT_ERROR, 0x33);
    wr(ApicReg.SVR, 0x0ff);
    expect(rd(ApicReg.ID)).toBe(0x0900_0000);
    expect(rd(ApicReg.TPR)).toBe(0x20);
    expect(rd(ApicReg.LDR)).toBe(0x0100_0000);
    expect(rd(ApicReg.LVT_LINT0)).toBe(0x1_0700);
    expect(rd(ApicReg.LVT_ERROR)).toBe(0x1_0033);
    wr(ApicReg.LVT_ERROR, 0x34);
    expect(rd(ApicReg.LVT_ERROR)).toBe(0x1_0034); // the mask cannot be cleared
    swEnable();
    expect(rd(ApicReg.LVT_ERROR)).toBe(0x1_0034); // re-enabling leaves them masked
    wr(ApicReg.LVT_ERROR, 0x34);
    expect(rd(ApicReg.LVT_ERROR)).toBe(0x34);
  });
});

describe('x2APIC mode (SDM §11.12)', () => {
  beforeEach(() => {
    make({ id: 0x123 });
    toX2();
  });

  it('reads the 32-bit ID and derives the LDR from it', () => {
    expect(msr(0x802)).toBe(0x123);
    expect(apic.msrHi).toBe(0);
    expect(msr(0x80d)).toBe(0x0012_0008);
    expect(msr(0x803)).toBe(0x0005_0014);
    expect(msr(0x80f)).toBe(0xff);
    expect(msr(0x832)).toBe(0x1_0000);
    make({ id: 0x4_5678 });
    toX2();
    expect(msr(0x80d)).toBe(((0x4567 << 16) | (1 << 8)) >>> 0);
  });

  it('ignores the xAPIC ID software wrote before switching', () => {
    make({ id: 7 });
    wr(ApicReg.ID, 0x2000_0000);
    toX2();
    expect(msr(0x802)).toBe(7);
    expect(apic.apicId).toBe(7);
  });

  it('raises #GP for write-only, xAPIC-only and missing registers on RDMSR', () => {
    for (const m of [0x800, 0x801, 0x804, 0x809, 0x80b, 0x80c, 0x80e, 0x829, 0x82f, 0x831, 0x83a, 0x83f, 0x840, 0x8ff, 0x7ff, 0x900]) {
      expect(apic.readMsr(m), `MSR ${m.toString(16)}`).toBe(false);
    }
    for (const m of [0x802, 0x803, 0x808, 0x80a, 0x80d, 0x80f, 0x810, 0x817, 0x818, 0x81f, 0x820, 0x827, 0x828, 0x830, 0x832, 0x837, 0x838, 0x839, 0x83e]) {
      expect(apic.readMsr(m), `MSR ${m.toString(16)}`).toBe(true);
    }
  });

  it('raises #GP on WRMSR to read-only registers, reserved bits and bits 63:32', () => {
    for (const m of [0x802, 0x803, 0x80a, 0x80d, 0x80e, 0x810, 0x818, 0x820, 0x839, 0x809, 0x82f, 0x831]) {
      expect(apic.writeMsr(m, 0, 0), `MSR ${m.toString(16)}`).toBe(false);
    }
    expect(apic.writeMsr(0x808, 0x100, 0)).toBe(false);
    expect(apic.writeMsr(0x808, 0x20, 1)).toBe(false);
    expect(apic.writeMsr(0x808, 0xff, 0)).toBe(true);
    expect(msr(0x808)).toBe(0xff);
    expect(apic.writeMsr(0x80b, 1, 0)).toBe(false); // EOI: only 0
    expect(apic.writeMsr(0x80b, 0, 0)).toBe(true);
    expect(apic.writeMsr(0x828, 1, 0)).toBe(false); // ESR: only 0
    expect(apic.writeMsr(0x828, 0, 0)).toBe(true);
    expect(apic.writeMsr(0x80f, 0x1000, 0)).toBe(false); // EOI suppression not advertised
    expect(apic.writeMsr(0x80f, 0x400, 0)).toBe(false);
    expect(apic.writeMsr(0x80f, 0x3ff, 0)).toBe(true);
    expect(apic.writeMsr(0x835, 0x2_0000, 0)).toBe(false); // LINT0 bit 17 reserved
    expect(apic.writeMsr(0x835, 0x1_f7ff, 0)).toBe(true); // remote IRR / delivery status are read-only, not reserved
    expect(msr(0x835)).toBe(0x1_a7ff);
    expect(apic.writeMsr(0x832, 0x4_0000, 0)).toBe(false); // TSC-deadline mode not supported
    expect(apic.writeMsr(0x837, 0x700, 0)).toBe(false); // error LVT has no delivery mode
    expect(apic.writeMsr(0x83e, 0x4, 0)).toBe(false);
    expect(apic.writeMsr(0x83e, 0xb, 0)).toBe(true);
    expect(apic.writeMsr(0x838, 0xffff_ffff, 0)).toBe(true);
    expect(apic.writeMsr(0x83f, 0x100, 0)).toBe(false);
    for (const bit of [12, 13, 16, 17, 20, 31]) expect(apic.writeMsr(0x830, 1 << bit, 0), `ICR bit ${bit}`).toBe(false);
  });

  it('keeps the whole 64-bit ICR with a 32-bit destination', () => {
    expect(apic.writeMsr(0x830, 0x41, 0x1234_5678)).toBe(true);
    expect(msr(0x830)).toBe(0x41);
    expect(apic.msrHi).toBe(0x1234_5678);
  });

  it('takes a self IPI through the SELF IPI register', () => {
    expect(apic.writeMsr(0x80f, 0x1ff, 0)).toBe(true);
    expect(apic.writeMsr(0x83f, 0x61, 0)).toBe(true);
    expect(irr(0x61)).toBe(true);
    expect(tmr(0x61)).toBe(false);
  });

  it('refuses everything through the MSRs outside x2APIC mode, and the page inside it', () => {
    expect(apic.mmioRead(ApicReg.VERSION, 4)).toBe(0);
    make();
    expect(apic.readMsr(0x802)).toBe(false);
    expect(apic.writeMsr(0x808, 0, 0)).toBe(false);
  });

  it('keeps x2APIC mode and the ID across INIT', () => {
    expect(apic.writeMsr(0x808, 0x50, 0)).toBe(true);
    apic.accept(5, 0, true, 0);
    expect(pins.events).toEqual(['init']);
    apic.initReset(); // the core takes the INIT
    expect(apic.x2apicMode).toBe(true);
    expect(msr(0x802)).toBe(0x123);
    expect(msr(0x80d)).toBe(0x0012_0008);
    expect(msr(0x808)).toBe(0);
  });
});

describe('priorities, INTR and INTA (SDM §11.8)', () => {
  beforeEach(() => swEnable());

  it('computes the PPR from the TPR and the highest in-service vector', () => {
    wr(ApicReg.TPR, 0x2f);
    expect(rd(ApicReg.PPR)).toBe(0x2f);
    wr(ApicReg.TPR, 0);
    fixed(0x51);
    expect(apic.acknowledge()).toBe(0x51);
    expect(rd(ApicReg.PPR)).toBe(0x50);
    wr(ApicReg.TPR, 0x4f);
    expect(rd(ApicReg.PPR)).toBe(0x50);
    wr(ApicReg.TPR, 0x5a);
    expect(rd(ApicReg.PPR)).toBe(0x5a);
    wr(ApicReg.TPR, 0x63);
    expect(rd(ApicReg.PPR)).toBe(0x63);
    wr(ApicReg.EOI, 0);
    wr(ApicReg.TPR, 0x10);
    expect(rd(ApicReg.PPR)).toBe(0x10);
  });

  it('delivers only a priority class above the PPR class', () => {
    wr(ApicReg.TPR, 0x2f);
    fixed(0x2f);
    expect(apic.hasInterrupt()).toBe(false);
    fixed(0x30);
    expect(apic.hasInterrupt()).toBe(true);
    expect(apic.acknowledge()).toBe(0x30);
    // 0x3f is in the class now in service: held until the EOI.
    fixed(0x3f);
    expect(apic.hasInterrupt()).toBe(false);
    fixed(0x40);
    expect(apic.acknowledge()).toBe(0x40);
    wr(ApicReg.EOI, 0);
    expect(apic.hasInterrupt()).toBe(false); // 0x30 still in service
    wr(ApicReg.EOI, 0);
    expect(apic.acknowledge()).toBe(0x3f);
    wr(ApicReg.EOI, 0);
    expect(apic.hasInterrupt()).toBe(false); // 0x2f is at the TPR class
    wr(ApicReg.TPR, 0x1f);
    expect(apic.acknowledge()).toBe(0x2f);
  });

  it('moves IRR to ISR on INTA and clears the highest ISR bit on EOI', () => {
    for (const v of [0x30, 0x90, 0x60]) fixed(v);
    expect(rd(ApicReg.IRR + 0x10)).toBe(1 << 16); // 0x30
    expect(rd(ApicReg.IRR + 0x40)).toBe(1 << 16); // 0x90
    expect(apic.acknowledge()).toBe(0x90);
    expect(irr(0x90)).toBe(false);
    expect(isr(0x90)).toBe(true);
    expect(rd(ApicReg.ISR + 0x40)).toBe(1 << 16);
    fixed(0xa0);
    expect(apic.acknowledge()).toBe(0xa0); // nested
    expect(apic.hasInterrupt()).toBe(false);
    wr(ApicReg.EOI, 0);
    expect(isr(0xa0)).toBe(false);
    expect(isr(0x90)).toBe(true);
    wr(ApicReg.EOI, 0);
    expect(isr(0x90)).toBe(false);
    expect([service(), service(), service()]).toEqual([0x60, 0x30, -1]);
    wr(ApicReg.EOI, 0); // an EOI with nothing in service is harmless
    expect(rd(ApicReg.PPR)).toBe(0);
  });

  it('sets the TMR on acceptance by trigger mode (SDM §11.8.4)', () => {
    fixed(0x70, true);
    expect(tmr(0x70)).toBe(true);
    fixed(0x71, false);
    expect(tmr(0x71)).toBe(false);
    expect(rd(ApicReg.TMR + 0x30)).toBe(1 << 16);
  });

  it('answers INTA with the spurious vector when nothing is deliverable, leaving the ISR alone', () => {
    wr(ApicReg.SVR, 0x1e7);
    expect(apic.acknowledge()).toBe(0xe7);
    wr(ApicReg.TPR, 0xf0);
    fixed(0x80);
    expect(apic.acknowledge()).toBe(0xe7);
    expect(isr(0x80)).toBe(false);
    expect(irr(0x80)).toBe(true);
  });

  it('uses CR8 as TPR bits 7:4 (SDM §11.8.6)', () => {
    apic.writeCr8(5);
    expect(rd(ApicReg.TPR)).toBe(0x50);
    wr(ApicReg.TPR, 0x7c);
    expect(apic.readCr8()).toBe(7);
    fixed(0x75);
    expect(apic.hasInterrupt()).toBe(false);
    apic.writeCr8(6);
    expect(apic.hasInterrupt()).toBe(true);
  });

  it('kicks the core when an interrupt becomes deliverable', () => {
    wr(ApicReg.TPR, 0x50);
    fixed(0x45);
    expect(pins.kicks).toBe(0);
    wr(ApicReg.TPR, 0x30);
    expect(pins.kicks).toBe(1);
    fixed(0x46); // already deliverable: no new kick needed
    expect(pins.kicks).toBe(1);
    expect(apic.acknowledge()).toBe(0x46);
    expect(pins.kicks).toBe(1); // 0x45 is below the in-service class
    wr(ApicReg.EOI, 0);
    expect(pins.kicks).toBe(2); // the EOI makes 0x45 deliverable
    service();
    fixed(0x80);
    expect(pins.kicks).toBe(3);
  });

  it('refuses fixed messages while software-disabled but still delivers the IRR (SDM §11.4.7.2)', () => {
    fixed(0x40);
    wr(ApicReg.SVR, 0xff);
    expect(apic.hasInterrupt()).toBe(true);
    expect(fixed(0x50)).toBe(false);
    expect(irr(0x50)).toBe(false);
    expect(apic.accept(1, 0x50, true, 0)).toBe(false);
    expect(apic.acknowledge()).toBe(0x40);
    expect(apic.accept(4, 0, true, 0)).toBe(true);
    expect(apic.accept(2, 0, true, 0)).toBe(true);
    expect(apic.accept(6, 0x9a, true, 0)).toBe(true);
    expect(pins.events).toEqual(['nmi', 'smi', 'sipi:9a']);
  });

  it('refuses illegal vectors with a receive error (SDM §11.5.3)', () => {
    expect(fixed(15)).toBe(false);
    expect(irr(15)).toBe(false);
    expect(esr()).toBe(Esr.RECEIVE_ILLEGAL_VECTOR);
    expect(fixed(16)).toBe(true);
  });

  it('does not send a fixed IPI with an illegal vector (send error)', () => {
    wr(ApicReg.ICR_LO, 0x4_0000 | 0x0f); // self
    expect(irr(0x0f)).toBe(false);
    expect(esr()).toBe(Esr.SEND_ILLEGAL_VECTOR);
    wr(ApicReg.ICR_LO, 0x4_0000 | 0x10);
    expect(irr(0x10)).toBe(true);
    expect(rd(ApicReg.ICR_LO)).toBe(0x4_0010); // delivery status 0: sent
  });

  it('resets on INIT except the ID and IA32_APIC_BASE (SDM §11.4.7.3)', () => {
    make({ id: 4 });
    swEnable();
    wr(ApicReg.ID, 0x0600_0000);
    expect(apic.writeBase(0xfed0_0000 | ApicBase.EN, 0)).toBe(true);
    wr(ApicReg.TPR, 0x30);
    wr(ApicReg.LDR, 0x0800_0000);
    wr(ApicReg.LVT_TIMER, 0x20);
    wr(ApicReg.TIMER_INITIAL_COUNT, 1000);
    fixed(0x90);
    apic.acknowledge();
    fixed(0x91);
    expect(apic.accept(5, 0, true, 0)).toBe(true);
    expect(pins.events).toEqual(['init']);
    // The message only drives the core's INIT pin; the core resets the APIC when it takes it.
    apic.initReset();
    expect(rd(ApicReg.ID)).toBe(0x0600_0000);
    expect(apic.baseLo).toBe(0xfed0_0900);
    expect(rd(ApicReg.TPR)).toBe(0);
    expect(rd(ApicReg.LDR)).toBe(0);
    expect(rd(ApicReg.SVR)).toBe(0xff);
    expect(rd(ApicReg.LVT_TIMER)).toBe(0x1_0000);
    expect(rd(ApicReg.TIMER_INITIAL_COUNT)).toBe(0);
    expect(isr(0x90)).toBe(false);
    expect(irr(0x91)).toBe(false);
    expect(apic.timerDeadlineNs).toBe(Infinity);
  });

  it('leaves its registers alone when an INIT message arrives: the core resets it when it takes the INIT (SDM Vol. 3C §24.8, §25.2)', () => {
    // A core in VMX root operation blocks INIT; in VMX non-root operation an INIT causes a VM exit
    // and performs "none of the operations normally associated with INIT". Either way the APIC
    // keeps working (software-enabled, accepting fixed interrupts) until the core performs INIT.
    swEnable();
    wr(ApicReg.TPR, 0x30);
    wr(ApicReg.LVT_TIMER, 0x20);
    expect(apic.accept(5, 0, true, 0)).toBe(true);
    expect(pins.events).toEqual(['init']);
    expect(rd(ApicReg.SVR)).toBe(0x1ff);
    expect(rd(ApicReg.TPR)).toBe(0x30);
    expect(rd(ApicReg.LVT_TIMER)).toBe(0x20);
    fixed(0x91);
    expect(irr(0x91)).toBe(true);
    apic.initReset();
    expect(rd(ApicReg.SVR)).toBe(0xff);
    expect(irr(0x91)).toBe(false);
  });

  it('ignores an INIT level de-assert', () => {
    swEnable();
    wr(ApicReg.TPR, 0x30);
    expect(apic.accept(5, 0, false, 1)).toBe(true);
    expect(pins.events).toEqual([]);
    expect(rd(ApicReg.TPR)).toBe(0x30);
  });
});

describe('LINT0 / LINT1 (SDM §11.5.1)', () => {
  beforeEach(() => swEnable());

  it('delivers a fixed edge-triggered input on the asserting edge only', () => {
    wr(ApicReg.LVT_LINT1, 0x41);
    apic.setIrq(1, true);
    expect(apic.acknowledge()).toBe(0x41);
    wr(ApicReg.EOI, 0);
    apic.setIrq(1, true); // no new edge
    expect(irr(0x41)).toBe(false);
    apic.setIrq(1, false);
    apic.setIrq(1, true);
    expect(irr(0x41)).toBe(true);
    expect(tmr(0x41)).toBe(false);
  });

  it('honours the polarity bit', () => {
    wr(ApicReg.LVT_LINT1, 0x2000 | 0x42);
    apic.setIrq(1, true);
    expect(irr(0x42)).toBe(false);
    apic.setIrq(1, false);
    expect(irr(0x42)).toBe(true);
  });

  it('keeps a level-triggered input from re-interrupting until EOI (remote IRR)', () => {
    wr(ApicReg.LVT_LINT0, 0x8000 | 0x50);
    apic.setIrq(0, true);
    expect(irr(0x50)).toBe(true);
    expect(tmr(0x50)).toBe(true);
    expect(rd(ApicReg.LVT_LINT0) & Lvt.REMOTE_IRR).toBe(Lvt.REMOTE_IRR);
    expect(apic.acknowledge()).toBe(0x50);
    apic.setIrq(0, false);
    apic.setIrq(0, true);
    expect(irr(0x50)).toBe(false); // remote IRR blocks it
    wr(ApicReg.EOI, 0);
    // Still asserted after the EOI: delivered again.
    expect(irr(0x50)).toBe(true);
    expect(apic.acknowledge()).toBe(0x50);
    apic.setIrq(0, false);
    wr(ApicReg.EOI, 0);
    expect(rd(ApicReg.LVT_LINT0) & Lvt.REMOTE_IRR).toBe(0);
    expect(irr(0x50)).toBe(false);
  });

  it('delivers a level-triggered input that is asserted when it is unmasked', () => {
    wr(ApicReg.LVT_LINT0, 0x1_8000 | 0x52);
    apic.setIrq(0, true);
    expect(irr(0x52)).toBe(false);
    wr(ApicReg.LVT_LINT0, 0x8000 | 0x52);
    expect(irr(0x52)).toBe(true);
  });

  it('drives NMI, SMI and INIT on the asserting edge and ignores masked inputs', () => {
    wr(ApicReg.LVT_LINT1, 0x400);
    apic.setIrq(1, true);
    apic.setIrq(1, false);
    wr(ApicReg.LVT_LINT0, 0x200);
    apic.setIrq(0, true);
    apic.setIrq(0, false);
    wr(ApicReg.LVT_LINT1, 0x1_0400);
    apic.setIrq(1, true);
    apic.setIrq(1, false);
    expect(pins.events).toEqual(['nmi', 'smi']);
    wr(ApicReg.TPR, 0x40);
    wr(ApicReg.LVT_LINT0, 0x500);
    apic.setIrq(0, true);
    expect(pins.events).toEqual(['nmi', 'smi', 'init']);
    expect(rd(ApicReg.TPR)).toBe(0x40); // only the pin: the core resets the APIC when it takes the INIT
  });

  it('reports an illegal LVT vector as a receive error', () => {
    wr(ApicReg.LVT_LINT1, 0x05);
    apic.setIrq(1, true);
    expect(irr(5)).toBe(false);
    expect(esr()).toBe(Esr.RECEIVE_ILLEGAL_VECTOR);
  });

  it('makes LINT0 INTR and LINT1 NMI while the APIC is globally disabled', () => {
    const pic = new Pic8259Pair();
    apic.extInt = pic;
    pic.onIntrChange = (level) => apic.setIrq(0, level);
    initPic(pic);
    expect(apic.writeBase(0xfee0_0000, 0)).toBe(true);
    pic.setIrq(4, true);
    expect(pins.kicks).toBe(1);
    expect(apic.writeBase(XAPIC, 0)).toBe(true);
    expect(apic.hasInterrupt()).toBe(false); // LINT0 masked again
    expect(apic.writeBase(0xfee0_0000, 0)).toBe(true);
    expect(pins.kicks).toBe(2); // the pending INTR reaches the core directly again
    expect(apic.hasInterrupt()).toBe(true);
    expect(apic.acknowledge()).toBe(0x24);
    apic.setIrq(1, true);
    expect(pins.events).toEqual(['nmi']);
  });
});

function initPic(pic: Pic8259Pair): void {
  for (const [p, v] of [
    [PicPort.MASTER_COMMAND, 0x11],
    [PicPort.MASTER_DATA, 0x20],
    [PicPort.MASTER_DATA, 0x04],
    [PicPort.MASTER_DATA, 0x01],
    [PicPort.SLAVE_COMMAND, 0x11],
    [PicPort.SLAVE_DATA, 0x28],
    [PicPort.SLAVE_DATA, 0x02],
    [PicPort.SLAVE_DATA, 0x01],
  ] as const) {
    pic.pioWrite(port(p), 1, v);
  }
}

describe('ExtINT through LINT0 with the 8259A pair', () => {
  let pic: Pic8259Pair;
  beforeEach(() => {
    pic = new Pic8259Pair();
    initPic(pic);
    apic.extInt = pic;
    pic.onIntrChange = (level) => apic.setIrq(0, level);
  });

  it('blocks 8259A interrupts at power-up (LINT0 masked) and passes them in virtual-wire mode', () => {
    pic.setIrq(1, true);
    expect(pic.hasInterrupt()).toBe(true);
    expect(apic.hasInterrupt()).toBe(false);
    apic.enableVirtualWire();
    expect(rd(ApicReg.SVR)).toBe(0x1ff);
    expect(rd(ApicReg.LVT_LINT0)).toBe(0x700);
    expect(rd(ApicReg.LVT_LINT1)).toBe(0x400);
    expect(apic.hasInterrupt()).toBe(true);
    expect(apic.acknowledge()).toBe(0x21);
    // The vector came from the 8259A: the APIC's ISR is untouched, the 8259A's is set.
    expect(isr(0x21)).toBe(false);
    expect(pic.registers().isr).toBe(0x02);
    expect(apic.hasInterrupt()).toBe(false);
    pic.setIrq(1, false);
    pic.pioWrite(port(0x20), 1, 0x20);
    pic.setIrq(12, true);
    expect(apic.acknowledge()).toBe(0x2c);
  });

  it('kicks the core when the 8259A raises INTR in ExtINT mode', () => {
    swEnable();
    wr(ApicReg.LVT_LINT0, 0x700);
    const before = pins.kicks;
    pic.setIrq(3, true);
    expect(pins.kicks).toBe(before + 1);
  });

  it('kicks the core when unmasking LINT0 opens a pending 8259A interrupt', () => {
    pic.setIrq(3, true);
    expect(pins.kicks).toBe(0);
    apic.enableVirtualWire();
    expect(pins.kicks).toBe(1);
  });

  it('stops passing 8259A interrupts when LINT0 is masked or software-disabled', () => {
    apic.enableVirtualWire();
    pic.setIrq(3, true);
    wr(ApicReg.LVT_LINT0, 0x1_0700);
    expect(apic.hasInterrupt()).toBe(false);
    wr(ApicReg.LVT_LINT0, 0x700);
    expect(apic.hasInterrupt()).toBe(true);
    wr(ApicReg.SVR, 0xff);
    expect(apic.hasInterrupt()).toBe(false);
  });

  it('masks LINT1 NMI on an AP in virtual-wire mode', () => {
    make({ bsp: false, id: 1 });
    apic.enableVirtualWire();
    expect(rd(ApicReg.LVT_LINT1)).toBe(0x1_0400);
  });

  it('takes an ExtINT message: the next INTA goes to the 8259A', () => {
    swEnable();
    pic.setIrq(5, true);
    expect(apic.hasInterrupt()).toBe(false);
    expect(apic.accept(7, 0, true, 0)).toBe(true);
    expect(apic.hasInterrupt()).toBe(true);
    expect(apic.acknowledge()).toBe(0x25);
    pic.setIrq(5, false);
    pic.pioWrite(port(0x20), 1, 0x20);
    pic.setIrq(6, true);
    expect(apic.hasInterrupt()).toBe(false); // the message was consumed
  });

  it('prefers the 8259A over a fixed interrupt at INTA', () => {
    apic.enableVirtualWire();
    fixed(0x80);
    pic.setIrq(0, true);
    expect(apic.acknowledge()).toBe(0x20);
    expect(apic.acknowledge()).toBe(0x80);
  });
});

describe('timer (SDM §11.5.4)', () => {
  beforeEach(() => swEnable());

  const oneShot = (vector: number, count: number, dcr = 0xb): void => {
    wr(ApicReg.TIMER_DIVIDE, dcr);
    wr(ApicReg.LVT_TIMER, vector);
    wr(ApicReg.TIMER_INITIAL_COUNT, count);
  };

  it('fires a one-shot count at the exact nanosecond and stays at 0', () => {
    clock.advance(50);
    oneShot(0x40, 1000);
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(1000);
    clock.advance(250);
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(750);
    clock.advance(749);
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(1);
    expect(irr(0x40)).toBe(false);
    clock.advance(1);
    expect(clock.nowNs).toBe(1050);
    expect(irr(0x40)).toBe(true);
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(0);
    expect(service()).toBe(0x40);
    clock.advance(100_000);
    expect(irr(0x40)).toBe(false);
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(0);
    expect(rd(ApicReg.TIMER_INITIAL_COUNT)).toBe(1000);
  });

  it('divides the 1 GHz base clock by the divide configuration (Figure 11-10)', () => {
    const table: [number, number][] = [
      [0x0, 2],
      [0x1, 4],
      [0x2, 8],
      [0x3, 16],
      [0x8, 32],
      [0x9, 64],
      [0xa, 128],
      [0xb, 1],
    ];
    for (const [dcr, divisor] of table) {
      make();
      swEnable();
      oneShot(0x40, 10, dcr);
      clock.advance(divisor * 3);
      expect(rd(ApicReg.TIMER_CURRENT_COUNT), `dcr ${dcr}`).toBe(7);
      clock.advance(divisor - 1);
      expect(rd(ApicReg.TIMER_CURRENT_COUNT), `dcr ${dcr}`).toBe(7);
      clock.advance(divisor * 7 - 1 - (divisor - 1));
      expect(irr(0x40), `dcr ${dcr}`).toBe(false);
      clock.advance(1);
      expect(irr(0x40), `dcr ${dcr}`).toBe(true);
      expect(clock.nowNs).toBe(10 * divisor);
    }
  });

  it('keeps the current count and continues at the new rate when the divider changes', () => {
    oneShot(0x40, 1000);
    clock.advance(400);
    wr(ApicReg.TIMER_DIVIDE, 0x1); // divide by 4
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(600);
    clock.advance(4 * 600 - 1);
    expect(irr(0x40)).toBe(false);
    clock.advance(1);
    expect(irr(0x40)).toBe(true);
  });

  it('reloads in periodic mode and fires every period', () => {
    wr(ApicReg.TIMER_DIVIDE, 0xb);
    wr(ApicReg.LVT_TIMER, 0x2_0041);
    wr(ApicReg.TIMER_INITIAL_COUNT, 100);
    const fired: number[] = [];
    for (let t = 0; t < 450; t++) {
      clock.advance(1);
      if (irr(0x41)) {
        fired.push(clock.nowNs);
        service();
      }
      if (clock.nowNs === 150) expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(50);
    }
    expect(fired).toEqual([100, 200, 300, 400]);
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(50);
  });

  it('skips periods missed in one long advance without looping', () => {
    wr(ApicReg.TIMER_DIVIDE, 0xb);
    wr(ApicReg.LVT_TIMER, 0x2_0041);
    wr(ApicReg.TIMER_INITIAL_COUNT, 1);
    clock.advanceTo(10_000_000_000);
    expect(irr(0x41)).toBe(true);
    expect(apic.timerDeadlineNs).toBe(10_000_000_001);
  });

  it('restarts on an initial-count write and stops on 0', () => {
    oneShot(0x40, 100);
    clock.advance(60);
    wr(ApicReg.TIMER_INITIAL_COUNT, 100);
    clock.advance(99);
    expect(irr(0x40)).toBe(false);
    clock.advance(1);
    expect(irr(0x40)).toBe(true);
    service();
    wr(ApicReg.TIMER_INITIAL_COUNT, 100);
    clock.advance(50);
    wr(ApicReg.TIMER_INITIAL_COUNT, 0);
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(0);
    clock.advance(1000);
    expect(irr(0x40)).toBe(false);
  });

  it('counts while masked but delivers nothing', () => {
    wr(ApicReg.TIMER_DIVIDE, 0xb);
    wr(ApicReg.LVT_TIMER, 0x1_0040);
    wr(ApicReg.TIMER_INITIAL_COUNT, 100);
    clock.advance(30);
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(70);
    clock.advance(100);
    expect(irr(0x40)).toBe(false);
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(0);
  });

  it('switches one-shot to periodic without disarming', () => {
    oneShot(0x40, 100);
    clock.advance(10);
    wr(ApicReg.LVT_TIMER, 0x2_0040);
    clock.advance(90);
    expect(service()).toBe(0x40);
    clock.advance(100);
    expect(service()).toBe(0x40);
  });
});

describe('TSC-deadline timer (SDM §11.5.4.1)', () => {
  let tsc: TscSource;
  beforeEach(() => {
    clock = new VirtualClock();
    tsc = { readTsc: () => clock.nowNs * 3, ticksPerNs: 3 };
    pins = new FakePins();
    apic = new LocalApic({ id: 0, bsp: true, clock, pins, tsc });
    swEnable();
    wr(ApicReg.LVT_TIMER, 0x4_0050);
  });

  it('fires when the TSC reaches the deadline, then reads 0', () => {
    clock.advance(100);
    apic.writeTscDeadline(3001); // 1000.33 ns
    expect(apic.readTscDeadline()).toBe(3001);
    clock.advance(900);
    expect(irr(0x50)).toBe(false);
    clock.advance(1);
    expect(clock.nowNs).toBe(1001);
    expect(irr(0x50)).toBe(true);
    expect(apic.readTscDeadline()).toBe(0);
  });

  it('fires a deadline already passed at the next clock poll', () => {
    clock.advance(1000);
    apic.writeTscDeadline(30);
    expect(irr(0x50)).toBe(false);
    clock.poll();
    expect(irr(0x50)).toBe(true);
  });

  it('disarms on a write of 0', () => {
    apic.writeTscDeadline(300);
    apic.writeTscDeadline(0);
    clock.advance(1000);
    expect(irr(0x50)).toBe(false);
  });

  it('ignores the initial count and reads a current count of 0', () => {
    wr(ApicReg.TIMER_INITIAL_COUNT, 10);
    expect(rd(ApicReg.TIMER_INITIAL_COUNT)).toBe(0);
    clock.advance(100);
    expect(rd(ApicReg.TIMER_CURRENT_COUNT)).toBe(0);
    expect(irr(0x50)).toBe(false);
  });

  it('disarms on a switch to another mode, where the MSR reads 0 and ignores writes', () => {
    apic.writeTscDeadline(3000);
    wr(ApicReg.LVT_TIMER, 0x50);
    expect(apic.readTscDeadline()).toBe(0);
    clock.advance(2000);
    expect(irr(0x50)).toBe(false);
    apic.writeTscDeadline(9000);
    expect(apic.readTscDeadline()).toBe(0);
    clock.advance(5000);
    expect(irr(0x50)).toBe(false);
    // And the one-shot count is disarmed when switching to TSC-deadline mode.
    wr(ApicReg.TIMER_INITIAL_COUNT, 100);
    wr(ApicReg.LVT_TIMER, 0x4_0050);
    expect(rd(ApicReg.TIMER_INITIAL_COUNT)).toBe(0);
    clock.advance(1000);
    expect(irr(0x50)).toBe(false);
  });

  it('ignores the deadline MSR without a TSC source', () => {
    make();
    swEnable();
    wr(ApicReg.LVT_TIMER, 0x4_0050);
    apic.writeTscDeadline(10);
    expect(apic.readTscDeadline()).toBe(0);
    clock.advance(100);
    expect(irr(0x50)).toBe(false);
  });
});

describe('snapshots', () => {
  /** Records when the periodic timer vector 0x41 fires over `ns` nanoseconds, 1 ns at a time. */
  const firings = (a: LocalApic, c: VirtualClock, ns: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < ns; i++) {
      c.advance(1);
      if (a.vectorBit('irr', 0x41)) {
        out.push(c.nowNs);
        a.acknowledge();
        a.mmioWrite(ApicReg.EOI, 4, 0);
      }
    }
    return out;
  };

  it('round-trips mid-timer and fires at the same times afterwards', () => {
    swEnable();
    wr(ApicReg.TIMER_DIVIDE, 0x0); // divide by 2
    wr(ApicReg.LVT_TIMER, 0x2_0041);
    wr(ApicReg.TIMER_INITIAL_COUNT, 37);
    wr(ApicReg.TPR, 0x10);
    fixed(0x99, true);
    clock.advance(100);
    const snap = apic.saveState();

    const clock2 = new VirtualClock();
    clock2.advanceTo(clock.nowNs);
    const pins2 = new FakePins();
    const copy = new LocalApic({ id: 0, bsp: true, clock: clock2, pins: pins2 });
    copy.restoreState(JSON.parse(JSON.stringify(snap)) as typeof snap);
    expect(copy.saveState()).toEqual(snap);
    expect(copy.mmioRead(ApicReg.TIMER_CURRENT_COUNT, 4)).toBe(rd(ApicReg.TIMER_CURRENT_COUNT));
    expect(copy.vectorBit('tmr', 0x99)).toBe(true);
    expect(copy.mmioRead(ApicReg.TPR, 4)).toBe(0x10);

    // Take the pending 0x99 out of the way in both.
    expect(apic.acknowledge()).toBe(0x99);
    expect(copy.acknowledge()).toBe(0x99);
    wr(ApicReg.EOI, 0);
    copy.mmioWrite(ApicReg.EOI, 4, 0);
    const a = firings(apic, clock, 400);
    const b = firings(copy, clock2, 400);
    expect(a.length).toBeGreaterThan(4);
    expect(b).toEqual(a);
    expect(a[2]! - a[1]!).toBe(74);
  });

  it('re-arms a TSC deadline on restore', () => {
    const tsc = { readTsc: () => clock.nowNs, ticksPerNs: 1 };
    make({ tsc });
    swEnable();
    wr(ApicReg.LVT_TIMER, 0x4_0050);
    apic.writeTscDeadline(500);
    clock.advance(200);
    const snap = apic.saveState();
    const clock2 = new VirtualClock();
    clock2.advanceTo(200);
    const copy = new LocalApic({ id: 0, bsp: true, clock: clock2, pins: new FakePins(), tsc: { readTsc: () => clock2.nowNs, ticksPerNs: 1 } });
    copy.restoreState(snap);
    expect(copy.readTscDeadline()).toBe(500);
    clock2.advance(299);
    expect(copy.vectorBit('irr', 0x50)).toBe(false);
    clock2.advance(1);
    expect(copy.vectorBit('irr', 0x50)).toBe(true);
    expect(copy.readTscDeadline()).toBe(0);
  });

  it('keeps x2APIC mode and BSP in a snapshot', () => {
    make({ id: 9 });
    toX2();
    const copy = new LocalApic({ id: 9, bsp: true, clock, pins: new FakePins() });
    copy.restoreState(apic.saveState());
    expect(copy.x2apicMode).toBe(true);
    expect(copy.baseLo).toBe(apic.baseLo);
    expect(copy.readMsr(0x80d)).toBe(true);
    expect(copy.msrLo).toBe((1 << 9) >>> 0);
  });

  it('rejects snapshots it cannot restore', () => {
    const snap = apic.saveState();
    expect(() => apic.restoreState({ version: 2, state: snap.state })).toThrow(DeviceConfigurationError);
    expect(() => apic.restoreState({ version: 1, state: 3 })).toThrow(/not an object/);
    const state = snap.state as Record<string, unknown>;
    expect(() => apic.restoreState({ version: 1, state: { ...state, irr: [1, 2] } as never })).toThrow(/irr/);
    expect(() => apic.restoreState({ version: 1, state: { ...state, tpr: 'x' } as never })).toThrow(/tpr/);
    expect(() => apic.restoreState({ version: 1, state: { ...state, base: 0xfee0_0400 } as never })).toThrow(/IA32_APIC_BASE/);
  });

  it('is a Device with reset and snapshot capabilities', () => {
    expect(apic.supportsReset()).toBe(apic);
    expect(apic.supportsSnapshot()).toBe(apic);
  });
});
