import { Chipset, IrqLevels, PioBus, VirtualClock, type SnapshotValue } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { RegB, RegC, RtcCmos } from './index.js';

const S = 1_000_000_000;

/** structuredClone (Node 17+), typed here: the package compiles without DOM or Node types. */
const clone = <T>(v: T): T => (globalThis as unknown as { structuredClone: <U>(x: U) => U }).structuredClone(v);

function setup(baseDate?: string, onNmiMask?: (m: boolean) => void) {
  const clock = new VirtualClock();
  const pio = new PioBus();
  const pic = new IrqLevels();
  const rtc = new Chipset({ pio }).add(
    new RtcCmos({ clock, irqSink: pic, ...(baseDate ? { baseDate: new Date(baseDate) } : {}), ...(onNmiMask ? { onNmiMask } : {}) }),
  );
  const rd = (i: number): number => {
    pio.write(0x70, 1, i);
    return pio.read(0x71, 1);
  };
  const wr = (i: number, v: number): void => {
    pio.write(0x70, 1, i);
    pio.write(0x71, 1, v);
  };
  const time = (): number[] => [0x32, 9, 8, 7, 6, 4, 2, 0].map(rd);
  return { clock, pio, pic, rtc, rd, wr, time, irq: () => pic.level(8) };
}

describe('RtcCmos time registers', () => {
  it('starts at 2000-01-01T00:00:00Z in BCD, 24-hour mode, and counts guest seconds', () => {
    const { clock, time, rd } = setup();
    // century, year, month, date, day of week (Saturday = 7), hours, minutes, seconds
    expect(time()).toEqual([0x20, 0x00, 0x01, 0x01, 0x07, 0x00, 0x00, 0x00]);
    expect(rd(0x0b)).toBe(RegB.HOUR_24);
    expect(rd(0x0a)).toBe(0x26);
    clock.advanceTo(S - 1);
    expect(rd(0)).toBe(0x00);
    clock.advanceTo(59 * S);
    expect(rd(0)).toBe(0x59); // BCD, not 0x3B
    clock.advanceTo(3725 * S);
    expect(time().slice(5)).toEqual([0x01, 0x02, 0x05]);
  });

  it('uses binary when register B DM is set, for every time field including the century', () => {
    const { clock, wr, time } = setup('2019-11-23T17:59:45Z');
    wr(0x0b, RegB.HOUR_24 | RegB.DM);
    clock.advanceTo(14 * S);
    expect(time()).toEqual([20, 19, 11, 23, 7, 17, 59, 59]);
    wr(0x0b, RegB.HOUR_24);
    expect(time()).toEqual([0x20, 0x19, 0x11, 0x23, 0x07, 0x17, 0x59, 0x59]);
  });

  it('shows 12-hour mode with PM in bit 7: midnight is 12 AM and noon 12 PM', () => {
    const { clock, wr, rd } = setup('2021-03-04T00:00:00Z');
    const hoursAt = (sec: number): number => {
      clock.advanceTo(sec * S);
      return rd(4);
    };
    wr(0x0b, 0); // 12-hour, BCD
    expect(hoursAt(0)).toBe(0x12);
    expect(hoursAt(3599)).toBe(0x12);
    expect(hoursAt(3600)).toBe(0x01);
    expect(hoursAt(12 * 3600 - 1)).toBe(0x11);
    expect(hoursAt(12 * 3600)).toBe(0x92);
    expect(hoursAt(13 * 3600 - 1)).toBe(0x92);
    expect(hoursAt(13 * 3600)).toBe(0x81);
    expect(hoursAt(24 * 3600 - 1)).toBe(0x91);
    expect(hoursAt(24 * 3600)).toBe(0x12);
    wr(0x0b, RegB.DM); // 12-hour, binary
    expect(hoursAt(36 * 3600)).toBe(0x8c);
    expect(hoursAt(37 * 3600)).toBe(0x81);
    wr(0x0b, RegB.HOUR_24);
    expect(hoursAt(48 * 3600)).toBe(0x00);
    expect(hoursAt(60 * 3600)).toBe(0x12);
  });

  it('rolls over days, months, years and centuries, with leap years', () => {
    const cases: [string, number[]][] = [
      // base (1 s before), expected [century, year, month, date, dow] 1 s later
      ['1999-12-31T23:59:59Z', [0x20, 0x00, 0x01, 0x01, 0x07]],
      ['2023-04-30T23:59:59Z', [0x20, 0x23, 0x05, 0x01, 0x02]],
      ['2024-02-28T23:59:59Z', [0x20, 0x24, 0x02, 0x29, 0x05]],
      ['2023-02-28T23:59:59Z', [0x20, 0x23, 0x03, 0x01, 0x04]],
      ['2000-02-28T23:59:59Z', [0x20, 0x00, 0x02, 0x29, 0x03]],
      ['2100-02-28T23:59:59Z', [0x21, 0x00, 0x03, 0x01, 0x02]],
    ];
    for (const [base, expected] of cases) {
      const { clock, time } = setup(base);
      expect(time().slice(5)).toEqual([0x23, 0x59, 0x59]);
      clock.advanceTo(S);
      expect(time(), base).toEqual([...expected, 0x00, 0x00, 0x00]);
    }
    const { clock, time } = setup('2024-02-28T12:00:00Z');
    clock.advanceTo(2 * 86_400 * S);
    expect(time().slice(2, 4)).toEqual([0x03, 0x01]);
  });

  it('freezes while SET is on, takes the written time, and keeps the divider phase', () => {
    const { clock, wr, rd, time } = setup();
    clock.advanceTo(1.5 * S);
    wr(0x0b, RegB.SET | RegB.HOUR_24 | RegB.UIE);
    expect(rd(0x0b)).toBe(RegB.SET | RegB.HOUR_24); // SET clears UIE
    clock.advanceTo(10 * S);
    expect(rd(0)).toBe(0x01);
    wr(0, 0x30);
    wr(2, 0x45);
    wr(4, 0x13);
    wr(7, 0x15);
    wr(8, 0x06);
    wr(9, 0x26);
    clock.advanceTo(20.7 * S);
    expect(rd(0)).toBe(0x30);
    wr(0x0b, RegB.HOUR_24);
    expect(time()).toEqual([0x20, 0x26, 0x06, 0x15, 0x02, 0x13, 0x45, 0x30]);
    clock.advanceTo(21 * S - 1);
    expect(rd(0)).toBe(0x30);
    clock.advanceTo(21 * S); // the chain's second boundary, not 1 s after SET was cleared
    expect(rd(0)).toBe(0x31);
  });

  it('takes a time written without SET and counts on from it', () => {
    const { clock, wr, rd } = setup();
    clock.advanceTo(2.25 * S);
    wr(2, 0x10);
    expect([rd(2), rd(0)]).toEqual([0x10, 0x02]);
    clock.advanceTo(3 * S);
    expect([rd(2), rd(0)]).toEqual([0x10, 0x03]);
  });

  it('sets UIP for the 244 us before each update, not while SET is on', () => {
    const { clock, wr, rd } = setup();
    clock.advanceTo(S - 244_141);
    expect(rd(0x0a) & 0x80).toBe(0);
    clock.advanceTo(S - 244_140);
    expect(rd(0x0a)).toBe(0xa6);
    wr(0x0a, 0xa6); // UIP is read-only
    expect(rd(0x0a)).toBe(0xa6);
    wr(0x0b, RegB.SET | RegB.HOUR_24);
    expect(rd(0x0a)).toBe(0x26);
    wr(0x0b, RegB.HOUR_24);
    clock.advanceTo(S);
    expect(rd(0x0a)).toBe(0x26);
  });

  it('stops while the divider chain is in reset and updates 500 ms after it leaves reset', () => {
    const { clock, wr, rd, irq } = setup();
    clock.advanceTo(1.2 * S);
    wr(0x0a, 0x76);
    clock.advanceTo(9 * S);
    expect(rd(0)).toBe(0x01);
    expect(rd(0x0c)).toBe(0x50); // the flags from before the reset
    wr(0x0b, RegB.HOUR_24 | RegB.UIE | RegB.PIE);
    clock.advanceTo(9.1 * S);
    expect(irq()).toBe(false);
    wr(0x0a, 0x26);
    clock.advanceTo(9.6 * S - 1);
    expect(rd(0)).toBe(0x01);
    expect(rd(0x0c) & 0x10).toBe(0);
    clock.advanceTo(9.6 * S);
    expect(rd(0)).toBe(0x02);
    expect(rd(0x0c) & 0x10).toBe(0x10);
  });
});

describe('RtcCmos interrupts', () => {
  it('raises IRQ 8 at the exact update, reports IRQF|UF in C, and drops IRQ when C is read', () => {
    const { clock, wr, rd, irq } = setup();
    wr(0x0b, RegB.HOUR_24 | RegB.UIE);
    expect(clock.nextDeadlineNs()).toBe(S);
    clock.advanceTo(S - 1);
    expect(irq()).toBe(false);
    clock.advanceTo(S);
    expect(irq()).toBe(true);
    expect(rd(0x0c)).toBe(0xd0); // IRQF, UF, and PF: the 1024 Hz flag is set even with PIE off
    expect(irq()).toBe(false);
    expect(rd(0x0c)).toBe(0x00);
    clock.advanceTo(2 * S);
    expect(irq()).toBe(true);
    clock.advanceTo(5 * S); // stays up, no further timer work
    expect(clock.nextDeadlineNs()).toBe(Infinity);
    expect(rd(0x0c)).toBe(0xd0);
    expect(clock.nextDeadlineNs()).toBe(6 * S);
  });

  it('sets flags without asserting IRQ when the interrupt is disabled, and asserts on enable', () => {
    const { clock, wr, rd, irq, pic } = setup();
    clock.advanceTo(S);
    expect(irq()).toBe(false);
    expect(clock.nextDeadlineNs()).toBe(Infinity);
    expect(rd(0x0c)).toBe(0x50); // PF (1024 Hz by default) and UF, no IRQF
    clock.advanceTo(2 * S);
    wr(0x0b, RegB.HOUR_24 | RegB.UIE); // UF already set: IRQF follows at once
    expect(irq()).toBe(true);
    expect(rd(0x0c)).toBe(0xd0);
    expect(pic.changes).toEqual([
      [8, true],
      [8, false],
    ]);
  });

  it('interrupts at the rate-select frequency: rate 6 is 1024 Hz, rate 15 is 2 Hz, rate 0 none', () => {
    const { clock, wr, rd, irq } = setup();
    wr(0x0b, RegB.HOUR_24 | RegB.PIE);
    // 1e9 / 1024 = 976562.5 ns.
    clock.advanceTo(976_562);
    expect(irq()).toBe(false);
    clock.advanceTo(976_563);
    expect(irq()).toBe(true);
    expect(rd(0x0c)).toBe(0xc0);
    expect(irq()).toBe(false);
    clock.advanceTo(1_953_124);
    expect(irq()).toBe(false);
    clock.advanceTo(1_953_125);
    expect(irq()).toBe(true);
    rd(0x0c);
    let count = 2;
    while (clock.nextDeadlineNs() <= S) {
      clock.advanceTo(clock.nextDeadlineNs());
      expect(irq()).toBe(true);
      expect(rd(0x0c) & 0x40).toBe(0x40);
      count++;
    }
    expect(count).toBe(1024);

    wr(0x0a, 0x2f);
    expect(clock.nextDeadlineNs()).toBe(1.5 * S);
    wr(0x0a, 0x23); // 8192 Hz
    expect(clock.nextDeadlineNs()).toBe(S + 122_071);
    wr(0x0a, 0x21); // rate 1 = rate 8 = 256 Hz
    expect(clock.nextDeadlineNs()).toBe(S + 3_906_250);
    wr(0x0a, 0x20);
    expect(clock.nextDeadlineNs()).toBe(Infinity);
    clock.advanceTo(3 * S);
    expect(rd(0x0c) & 0x40).toBe(0);
  });

  it('raises the alarm interrupt when hours, minutes and seconds match, at the exact second', () => {
    const { clock, wr, rd, irq } = setup();
    wr(1, 0x05);
    wr(3, 0x00);
    wr(5, 0x00);
    wr(0x0b, RegB.HOUR_24 | RegB.AIE);
    expect(clock.nextDeadlineNs()).toBe(5 * S);
    clock.advanceTo(5 * S - 1);
    expect(irq()).toBe(false);
    clock.advanceTo(5 * S);
    expect(irq()).toBe(true);
    expect(rd(0x0c)).toBe(0xf0); // IRQF, AF, the UF of the same update, and PF
    expect(clock.nextDeadlineNs()).toBe((86_400 + 5) * S);
    // 12-hour alarm for 1 PM.
    wr(0x0b, RegB.AIE);
    wr(5, 0x81);
    expect(clock.nextDeadlineNs()).toBe((13 * 3600 + 5) * S);
  });

  it('treats alarm bytes 0xC0-0xFF as "don\'t care"', () => {
    const { clock, wr, rd, irq } = setup();
    wr(1, 0x30);
    wr(3, 0xc0);
    wr(5, 0xff);
    wr(0x0b, RegB.HOUR_24 | RegB.AIE);
    clock.advanceTo(30 * S);
    expect(irq()).toBe(true);
    rd(0x0c);
    expect(clock.nextDeadlineNs()).toBe(90 * S);
    wr(1, 0xd2);
    expect(clock.nextDeadlineNs()).toBe(31 * S);
    // AF is worked out without IRQ too: minutes 2 at any second.
    wr(0x0b, RegB.HOUR_24);
    wr(1, 0xff);
    wr(3, 0x02);
    clock.advanceTo(119 * S);
    expect(rd(0x0c) & 0x20).toBe(0);
    clock.advanceTo(120 * S);
    expect(rd(0x0c) & 0x20).toBe(0x20);
    // An alarm no time matches never fires.
    wr(1, 0x60);
    wr(0x0b, RegB.HOUR_24 | RegB.AIE);
    expect(clock.nextDeadlineNs()).toBe(Infinity);
  });

  it('reset clears the interrupt enables and flags, and drops IRQ', () => {
    const { clock, wr, rd, irq, rtc } = setup();
    wr(0x0b, RegB.HOUR_24 | RegB.UIE | RegB.PIE | RegB.AIE | RegB.SQWE | RegB.DM);
    clock.advanceTo(S);
    expect(irq()).toBe(true);
    rtc.reset();
    expect(irq()).toBe(false);
    expect(rd(0x0b)).toBe(RegB.HOUR_24 | RegB.DM);
    expect(rd(0x0c)).toBe(0);
    expect(rd(0)).toBe(1);
  });
});

describe('RtcCmos ports and RAM', () => {
  it('reports the NMI mask (port 0x70 bit 7) on change and keeps bits 6-0 as the index', () => {
    const seen: boolean[] = [];
    const { pio, rtc, rd } = setup(undefined, (m) => seen.push(m));
    expect(rtc.nmiMasked).toBe(false);
    pio.write(0x70, 1, 0x8f);
    expect(rtc.nmiMasked).toBe(true);
    expect(rtc.selectedIndex).toBe(0x0f);
    pio.write(0x71, 1, 0x5a);
    pio.write(0x70, 1, 0x80 | 0x10);
    expect(seen).toEqual([true]);
    pio.write(0x70, 1, 0x0f);
    expect(seen).toEqual([true, false]);
    expect(pio.read(0x71, 1)).toBe(0x5a);
    expect(pio.read(0x70, 1)).toBe(0xff);
    expect(rd(0x8f)).toBe(0x5a);
  });

  it('stores the 114 bytes of RAM, with C and D read-only and D reporting VRT', () => {
    const { rd, wr } = setup();
    for (let i = 0x0e; i < 0x80; i++) if (i !== 0x32) wr(i, (i * 7 + 3) & 0xff);
    for (let i = 0x0e; i < 0x80; i++) if (i !== 0x32) expect(rd(i)).toBe((i * 7 + 3) & 0xff);
    wr(0x0c, 0xff);
    wr(0x0d, 0x00);
    expect(rd(0x0c)).toBe(0x00);
    expect(rd(0x0d)).toBe(0x80);
  });

  it('writes the memory size where SeaBIOS reads it', () => {
    const { rtc } = setup();
    const bytes = (...idx: number[]): number[] => idx.map((i) => rtc.readCmos(i));
    rtc.setMemorySize(8 * 1024 * 1024);
    expect(bytes(0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35, 0x5b, 0x5c, 0x5d)).toEqual([0x80, 0x02, 0x00, 0x1c, 0x00, 0x1c, 0, 0, 0, 0, 0]);
    rtc.setMemorySize(128 * 1024 * 1024);
    expect(bytes(0x17, 0x18, 0x30, 0x31, 0x34, 0x35, 0x5b)).toEqual([0xff, 0xff, 0xff, 0xff, 0x00, 0x07, 0]);
    rtc.setMemorySize(6 * 1024 ** 3); // 3 GiB low, 3 GiB high
    expect(bytes(0x34, 0x35, 0x5b, 0x5c, 0x5d)).toEqual([0x00, 0xbf, 0x00, 0xc0, 0x00]);
    rtc.setMemorySize(2 * 1024 ** 4, 2 * 1024 ** 3);
    // (2 TiB - 2 GiB) / 64 KiB = 0x1FF_8000
    expect(bytes(0x34, 0x35, 0x5b, 0x5c, 0x5d)).toEqual([0x00, 0x7f, 0x00, 0x80, 0xff]);
    expect(() => rtc.setMemorySize(-1)).toThrow(RangeError);
  });
});

describe('RtcCmos snapshots', () => {
  /** An RTC whose IRQ changes are logged with the guest time they happen at. */
  function rig(baseDate: string) {
    const clock = new VirtualClock();
    const pio = new PioBus();
    const log: [number, boolean][] = [];
    const nmi: boolean[] = [];
    const rtc = new Chipset({ pio }).add(
      new RtcCmos({ clock, baseDate: new Date(baseDate), irqSink: { setIrq: (_line, level) => void log.push([clock.nowNs, level]) }, onNmiMask: (m) => nmi.push(m) }),
    );
    const rd = (i: number): number => {
      pio.write(0x70, 1, 0x80 | i); // keeps the NMI masked
      return pio.read(0x71, 1);
    };
    const wr = (i: number, v: number): void => {
      pio.write(0x70, 1, 0x80 | i);
      pio.write(0x71, 1, v);
    };
    /** Steps guest time by 1 ms to `end`; whenever IRQ is up, reads C and the time registers. */
    const trace = (end: number): number[][] => {
      const out: number[][] = [];
      for (let t = clock.nowNs; t <= end; t += 1_000_000) {
        clock.advanceTo(t);
        if (log.length > 0 && log[log.length - 1]![1]) out.push([t, rd(0x0c), ...[0x32, 9, 8, 7, 6, 4, 2, 0].map(rd)]);
      }
      return out;
    };
    return { clock, rtc, log, nmi, rd, wr, trace };
  }

  it('a fresh RTC restored mid-period interrupts at the same guest times and shows the same time', () => {
    // Saved with IRQ up (timer idle until C is read) and with C just read (timer armed).
    for (const readC of [false, true]) {
      const a = rig('2024-02-28T23:59:57Z');
      a.wr(0x0a, 0x2f); // 32.768 kHz, rate 15: 2 Hz periodic interrupt
      a.wr(0x05, 0x00); // alarm 00:00:02
      a.wr(0x03, 0x00);
      a.wr(0x01, 0x02);
      a.wr(0x0b, RegB.HOUR_24 | RegB.PIE | RegB.UIE | RegB.AIE);
      a.wr(0x40, 0x5a);
      a.clock.advanceTo(1.3 * S);
      a.rd(0x0c);
      a.clock.advanceTo(1.7 * S); // a periodic flag is pending and IRQ is up
      if (readC) expect(a.rd(0x0c)).toBe(RegC.IRQF | RegC.PF);
      expect(a.clock.nextDeadlineNs()).toBe(readC ? 2 * S : Infinity);
      const snap = a.rtc.saveState();

      const b = rig('1999-01-01T00:00:00Z'); // another base date: the snapshot carries the time
      b.clock.advanceTo(a.clock.nowNs);
      b.rtc.restoreState(clone(snap));
      expect(b.nmi).toEqual([true]);
      expect(b.log).toEqual(readC ? [] : [[a.clock.nowNs, true]]);
      expect(b.clock.nextDeadlineNs()).toBe(a.clock.nextDeadlineNs());
      expect(b.rtc.saveState()).toEqual(snap);
      const ta = a.trace(7 * S);
      const tb = b.trace(7 * S);
      expect(tb).toEqual(ta);
      expect(ta[0]![0]).toBe(readC ? 2 * S : 1.7 * S);
      // Periodic, update-ended and the alarm at 00:00:02 on 2024-02-29 (a leap day) all came.
      expect(ta.some((r) => r[1]! & RegC.UF)).toBe(true);
      expect(ta.some((r) => r[1]! & RegC.AF && r[5] === 0x29 && r[7] === 0x00 && r[8] === 0x00 && r[9] === 0x02)).toBe(true);
      expect(b.rd(0x40)).toBe(0x5a);
    }
  });

  it('refuses a snapshot of another version or shape and keeps its state', () => {
    const { rtc, clock } = rig('2000-01-01T00:00:00Z');
    clock.advanceTo(S);
    const good = rtc.saveState();
    const state = good.state as Record<string, SnapshotValue>;
    expect(() => rtc.restoreState({ version: 2, state })).toThrow(/version 2/);
    expect(() => rtc.restoreState({ version: 1, state: { ...state, ram: new Uint8Array(64) } })).toThrow(/"ram"/);
    expect(() => rtc.restoreState({ version: 1, state: { ...state, index: 128 } })).toThrow(/"index"/);
    expect(() => rtc.restoreState({ version: 1, state: { ...state, flags: 0x80 } })).toThrow(/"flags"/);
    expect(() => rtc.restoreState({ version: 1, state: { ...state, timerNs: -5 } })).toThrow(/"timerNs"/);
    expect(() => rtc.restoreState({ version: 1, state: { ...state, chainNs: 0.5 } })).toThrow(/"chainNs"/);
    expect(() => rtc.restoreState({ version: 1, state: [] })).toThrow(/not an object/);
    expect(rtc.saveState()).toEqual(good);
  });
});
