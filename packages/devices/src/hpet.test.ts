import { Chipset, DeviceConfigurationError, InterruptLine, IrqLevels, PhysicalMemory, PioBus, VirtualClock } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { Hpet, HpetConfig, HpetTimerConfig as TC, type HpetOptions } from './index.js';

const BASE = 0xfed0_0000;
const CAP = 0x000;
const CONF = 0x010;
const ISR = 0x020;
const COUNTER = 0x0f0;
const tconf = (n: number): number => 0x100 + 0x20 * n;
const tcmp = (n: number): number => 0x108 + 0x20 * n;
const route = (pin: number): number => pin << TC.INT_ROUTE_SHIFT;

function setup(options: Partial<HpetOptions> = {}) {
  const clock = new VirtualClock();
  const memory = new PhysicalMemory({ ramSize: 0x1000 });
  memory.mapRam(0, 0x1000);
  const ioapic = new IrqLevels();
  const pic = new IrqLevels();
  const legacy: boolean[] = [];
  const hpet = new Chipset({ pio: new PioBus(), memory }).add(
    new Hpet({
      clock,
      ioApic: ioapic,
      legacyIrq0: new InterruptLine(pic, 0),
      legacyIrq8: new InterruptLine(pic, 8),
      onLegacyReplacement: (on) => legacy.push(on),
      ...options,
    }),
  );
  const rd = (off: number): number => memory.mmio.read(BASE + off, 4);
  const wr = (off: number, v: number): void => memory.mmio.write(BASE + off, 4, v);
  /** A 64-bit access as the bus delivers it: low half, then high half. */
  const wr64 = (off: number, hi: number, lo: number): void => {
    wr(off, lo);
    wr(off + 4, hi);
  };
  const rd64 = (off: number): [number, number] => [rd(off + 4), rd(off)];
  return { clock, memory, ioapic, pic, legacy, hpet, rd, wr, wr64, rd64 };
}

/** IrqLevels changes for one pin, as a list of levels. */
function edges(levels: IrqLevels, pin: number): boolean[] {
  return levels.changes.filter(([p]) => p === pin).map(([, l]) => l);
}

describe('Hpet registers', () => {
  it('reports revision 1, three timers, a 64-bit counter, LegacyReplacement, vendor 8086 and a 10 ns period', () => {
    const { rd, hpet, memory } = setup();
    // REV_ID 0x01 | NUM_TIM_CAP 2 << 8 | COUNT_SIZE_CAP (bit 13) | LEG_RT_CAP (bit 15) | 0x8086 << 16
    expect(rd(CAP)).toBe(0x8086_a201);
    expect(rd(CAP + 4)).toBe(10_000_000);
    expect(hpet.eventTimerBlockId).toBe(0x8086_a201);
    expect(memory.mmio.find(BASE)?.name).toBe('hpet');
    expect(memory.mmio.find(BASE + 0x3ff)?.name).toBe('hpet');
    expect(memory.mmio.find(BASE + 0x400)).toBeUndefined();
  });

  it('describes timer 0 as 64-bit periodic and timers 1-2 as 32-bit one-shot, routable to pins 20-23', () => {
    const { rd } = setup();
    expect(rd(tconf(0))).toBe(TC.PER_INT_CAP | TC.SIZE_CAP);
    expect(rd(tconf(1))).toBe(0);
    expect(rd(tconf(2))).toBe(0);
    for (const n of [0, 1, 2]) expect(rd(tconf(n) + 4)).toBe(0x00f0_0000);
    // Comparators come out of reset all ones (32 bits wide for the 32-bit timers).
    expect([rd(tcmp(0) + 4), rd(tcmp(0))]).toEqual([0xffff_ffff, 0xffff_ffff]);
    expect([rd(tcmp(1) + 4), rd(tcmp(1))]).toEqual([0, 0xffff_ffff]);
  });

  it('stores only the configuration bits a timer is capable of', () => {
    const { rd, wr } = setup();
    wr(tconf(1), 0xffff_ffff & ~TC.INT_ROUTE_MASK);
    expect(rd(tconf(1))).toBe(TC.INT_TYPE_CNF | TC.INT_ENB_CNF); // no TYPE, VAL_SET, 32MODE, FSB
    wr(tconf(0), TC.INT_TYPE_CNF | TC.INT_ENB_CNF | TC.TYPE_CNF | TC.MODE32_CNF | TC.FSB_EN_CNF);
    expect(rd(tconf(0))).toBe(TC.INT_TYPE_CNF | TC.INT_ENB_CNF | TC.TYPE_CNF | TC.MODE32_CNF | TC.PER_INT_CAP | TC.SIZE_CAP);
    wr(tconf(0) + 4, 0); // Tn_INT_ROUTE_CAP is read-only
    expect(rd(tconf(0) + 4)).toBe(0x00f0_0000);
    wr(CONF, 0xffff_ffff);
    expect(rd(CONF)).toBe(HpetConfig.ENABLE_CNF | HpetConfig.LEG_RT_CNF);
  });

  it('takes only Tn_INT_ROUTE_CNF values its Tn_INT_ROUTE_CAP allows', () => {
    const { rd, wr } = setup({ intRouteCap: [0x00f0_0000, 0x0000_0800, 0x00f0_0000] });
    wr(tconf(0), route(21));
    expect(rd(tconf(0)) & TC.INT_ROUTE_MASK).toBe(route(21));
    wr(tconf(0), route(5)); // not allowed: the old route stays
    expect(rd(tconf(0)) & TC.INT_ROUTE_MASK).toBe(route(21));
    expect(rd(tconf(1) + 4)).toBe(0x800);
    wr(tconf(1), route(11));
    expect(rd(tconf(1)) & TC.INT_ROUTE_MASK).toBe(route(11));
  });

  it('answers narrow reads with the addressed bytes and drops narrow or misaligned writes', () => {
    const { memory, rd } = setup();
    expect(memory.mmio.read(BASE + CAP + 2, 2)).toBe(0x8086);
    expect(memory.mmio.read(BASE + CAP + 1, 1)).toBe(0xa2);
    // Bytes 3-6: the top byte of the ID (0x80), then the low bytes of the period 0x00989680.
    expect(memory.mmio.read(BASE + CAP + 3, 4)).toBe(0x9896_8080);
    memory.mmio.write(BASE + CONF, 1, 1);
    memory.mmio.write(BASE + CONF + 2, 4, 1);
    expect(rd(CONF)).toBe(0);
    expect(rd(0x0f8)).toBe(0); // reserved
    expect(rd(0x3fc)).toBe(0); // past the last timer
  });
});

describe('Hpet main counter', () => {
  it('is halted at 0 until ENABLE_CNF, then counts 10 ns ticks of guest time, and freezes when halted', () => {
    const { clock, rd, wr, rd64 } = setup();
    clock.advanceTo(12_345);
    expect(rd(COUNTER)).toBe(0);
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(12_345 + 9);
    expect(rd(COUNTER)).toBe(0);
    clock.advanceTo(12_345 + 10);
    expect(rd(COUNTER)).toBe(1);
    clock.advanceTo(12_345 + 1_000_000_007);
    expect(rd64(COUNTER)).toEqual([0, 100_000_000]);
    wr(CONF, 0);
    clock.advanceTo(5_000_000_000);
    expect(rd(COUNTER)).toBe(100_000_000);
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(5_000_000_020);
    expect(rd(COUNTER)).toBe(100_000_002);
  });

  it('is writable in 32-bit halves while halted, carries into the high half, and ignores writes while running', () => {
    const { clock, rd, wr, wr64, rd64 } = setup();
    wr64(COUNTER, 0x7, 0xffff_fff0);
    expect(rd64(COUNTER)).toEqual([0x7, 0xffff_fff0]);
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(200); // 20 ticks
    expect(rd64(COUNTER)).toEqual([0x8, 4]);
    wr(COUNTER, 0);
    expect(rd(COUNTER)).toBe(4);
    // The full 64 bits wrap to zero.
    wr(CONF, 0);
    wr64(COUNTER, 0xffff_ffff, 0xffff_ffff);
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(220);
    expect(rd64(COUNTER)).toEqual([0, 1]);
  });

  it('derives the counter exactly for a period that does not divide a nanosecond evenly', () => {
    const period = 69_841_279; // a 14.31818 MHz crystal
    const { clock, rd64, wr } = setup({ clockPeriodFs: period });
    expect(setup({ clockPeriodFs: period }).rd(CAP + 4)).toBe(period);
    wr(CONF, HpetConfig.ENABLE_CNF);
    for (const t of [1, 69, 70, 1_000_000_000, 3 * 86_400_000_000_000 + 12_345]) {
      clock.advanceTo(t);
      const ticks = (BigInt(t) * 1_000_000n) / BigInt(period);
      const [hi, lo] = rd64(COUNTER);
      expect(BigInt(hi) * 2n ** 32n + BigInt(lo)).toBe(ticks);
    }
  });
});

describe('Hpet timers', () => {
  it('fires a one-shot 64-bit timer once, at the exact tick, as an edge on its I/O APIC pin', () => {
    const { clock, ioapic, rd, wr, wr64 } = setup();
    wr(tconf(0), TC.INT_ENB_CNF | route(20));
    wr64(tcmp(0), 0, 1000);
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advance(9_999);
    expect(edges(ioapic, 20)).toEqual([]);
    expect(clock.instructionsUntilNextDeadline()).toBe(1);
    clock.advance(1);
    expect(edges(ioapic, 20)).toEqual([true, false]);
    expect(rd(ISR)).toBe(0); // edge mode leaves the status bit alone
    clock.advanceTo(3_600_000_000_000);
    expect(edges(ioapic, 20)).toEqual([true, false]);
  });

  it('does not fire for a comparator the counter has already passed', () => {
    const { clock, ioapic, wr, wr64 } = setup();
    wr(tconf(0), TC.INT_ENB_CNF | route(20));
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(10_000);
    wr64(tcmp(0), 0, 1000); // the counter is already at 1000
    clock.advanceTo(20_000_000);
    expect(edges(ioapic, 20)).toEqual([]);
  });

  it('in level mode sets Tn_INT_STS and holds the pin until the status bit is written with 1', () => {
    const { clock, ioapic, rd, wr, wr64 } = setup();
    wr(tconf(0), TC.INT_TYPE_CNF | TC.INT_ENB_CNF | route(22));
    wr64(tcmp(0), 0, 50);
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(500);
    expect(rd(ISR)).toBe(1);
    expect(ioapic.level(22)).toBe(true);
    wr(ISR, 0); // writing 0 has no effect
    expect(ioapic.level(22)).toBe(true);
    wr(ISR, 1);
    expect(rd(ISR)).toBe(0);
    expect(edges(ioapic, 22)).toEqual([true, false]);
  });

  it('sets the status bit with Tn_INT_ENB_CNF clear, without interrupting, and interrupts once enabled', () => {
    const { clock, ioapic, rd, wr, wr64 } = setup();
    wr(tconf(0), TC.INT_TYPE_CNF | route(22));
    wr64(tcmp(0), 0, 50);
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(500);
    expect(rd(ISR)).toBe(1);
    expect(ioapic.level(22)).toBe(false);
    wr(tconf(0), TC.INT_TYPE_CNF | TC.INT_ENB_CNF | route(22));
    expect(ioapic.level(22)).toBe(true);
    // ENABLE_CNF = 0 disables every interrupt, including one being asserted.
    wr(CONF, 0);
    expect(ioapic.level(22)).toBe(false);
    wr(CONF, HpetConfig.ENABLE_CNF);
    expect(ioapic.level(22)).toBe(true);
  });

  it('compares a 32-bit timer with the low half of the counter and matches again after each 2^32 ticks', () => {
    const { clock, ioapic, wr, wr64 } = setup();
    wr64(COUNTER, 0, 0xffff_fff6);
    wr(tconf(1), TC.INT_ENB_CNF | route(23));
    wr(tcmp(1), 5);
    wr(tcmp(1) + 4, 0xdead); // the upper half of a 32-bit comparator is read-only
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(149);
    expect(edges(ioapic, 23)).toEqual([]);
    clock.advanceTo(150); // 15 ticks: counter 0x1_0000_0005
    expect(edges(ioapic, 23)).toEqual([true, false]);
    clock.advanceTo(150 + 2 ** 32 * 10 - 1);
    expect(edges(ioapic, 23)).toEqual([true, false]);
    clock.advanceTo(150 + 2 ** 32 * 10);
    expect(edges(ioapic, 23)).toEqual([true, false, true, false]);
  });

  it('truncates a 64-bit timer to 32 bits under Tn_32MODE_CNF', () => {
    const { clock, ioapic, rd, wr, wr64 } = setup();
    wr64(tcmp(0), 0x1, 0x100);
    wr(tconf(0), TC.INT_ENB_CNF | TC.MODE32_CNF | route(20));
    expect([rd(tcmp(0) + 4), rd(tcmp(0))]).toEqual([0, 0x100]);
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(0x100 * 10);
    expect(edges(ioapic, 20)).toEqual([true, false]);
  });

  it('runs periodic mode as Linux programs it: VAL_SET, accumulator, then period', () => {
    const { clock, ioapic, rd, wr } = setup();
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(1000); // counter 100
    const delta = 1000; // 10 us
    wr(tconf(0), TC.INT_ENB_CNF | TC.TYPE_CNF | TC.VAL_SET_CNF | TC.MODE32_CNF | route(21));
    expect(rd(tconf(0)) & TC.VAL_SET_CNF).toBe(TC.VAL_SET_CNF);
    wr(tcmp(0), rd(COUNTER) + delta); // accumulator = 1100
    expect(rd(tconf(0)) & TC.VAL_SET_CNF).toBe(0); // clears itself
    wr(tcmp(0), delta); // period only: the accumulator stays
    expect(rd(tcmp(0))).toBe(1100);
    const fires: number[] = [];
    for (let t = 1000; t <= 41_000; t += 10) {
      clock.advanceTo(t);
      if (ioapic.changes.length > fires.length * 2) fires.push(t);
    }
    expect(fires).toEqual([11_000, 21_000, 31_000, 41_000]);
    expect(rd(tcmp(0))).toBe(5100); // the next match
  });

  it('sets both halves of a periodic accumulator with one VAL_SET and a 64-bit (split) write', () => {
    const { rd, wr, wr64 } = setup();
    wr(tconf(0), TC.TYPE_CNF | TC.VAL_SET_CNF);
    wr64(tcmp(0), 0x2, 0x3000);
    expect([rd(tcmp(0) + 4), rd(tcmp(0))]).toEqual([0x2, 0x3000]);
    // Without VAL_SET a periodic timer's write changes only the period.
    wr64(tcmp(0), 0x5, 0x10);
    expect([rd(tcmp(0) + 4), rd(tcmp(0))]).toEqual([0x2, 0x3000]);
    // A lone high-half write after VAL_SET sets the accumulator's high half (Intel's two-step recipe).
    wr(tconf(0), TC.TYPE_CNF | TC.VAL_SET_CNF);
    wr(tcmp(0) + 4, 0x9);
    expect([rd(tcmp(0) + 4), rd(tcmp(0))]).toEqual([0x9, 0x3000]);
  });

  it('catches up a periodic timer after a long halt: one interrupt, comparator past the counter', () => {
    const { clock, ioapic, rd, rd64, wr, wr64 } = setup();
    wr(tconf(0), TC.INT_ENB_CNF | TC.TYPE_CNF | TC.VAL_SET_CNF | route(20));
    wr64(tcmp(0), 0, 100);
    wr64(tcmp(0), 0, 100); // period 100 ticks = 1 us
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(1_000_500); // 100_050 ticks: matches at 100, 200, ..., 100_000 were due
    expect(edges(ioapic, 20)).toEqual([true, false]);
    expect(rd64(tcmp(0))).toEqual([0, 100_100]);
    expect(rd(COUNTER)).toBe(100_050);
    clock.advanceTo(1_000_999);
    expect(edges(ioapic, 20).length).toBe(2);
    clock.advanceTo(1_001_000);
    expect(edges(ioapic, 20).length).toBe(4);
  });

  it('ORs timers that share a pin', () => {
    const { clock, ioapic, wr, wr64 } = setup();
    wr(tconf(0), TC.INT_TYPE_CNF | TC.INT_ENB_CNF | route(21));
    wr(tconf(2), TC.INT_TYPE_CNF | TC.INT_ENB_CNF | route(21));
    wr64(tcmp(0), 0, 10);
    wr(tcmp(2), 20);
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(300);
    expect(ioapic.level(21)).toBe(true);
    wr(ISR, 1);
    expect(ioapic.level(21)).toBe(true);
    wr(ISR, 4);
    expect(ioapic.level(21)).toBe(false);
    expect(edges(ioapic, 21)).toEqual([true, false]);
  });
});

describe('Hpet LegacyReplacement Route', () => {
  it('sends timer 0 to IRQ0 and pin 2, timer 1 to IRQ8 and pin 8, and tells the board', () => {
    const { clock, ioapic, pic, legacy, hpet, wr, wr64 } = setup();
    wr(tconf(0), TC.INT_ENB_CNF | route(20));
    wr(tconf(1), TC.INT_ENB_CNF | route(21));
    wr(tconf(2), TC.INT_ENB_CNF | route(22));
    wr64(tcmp(0), 0, 10);
    wr(tcmp(1), 20);
    wr(tcmp(2), 30);
    wr(CONF, HpetConfig.ENABLE_CNF | HpetConfig.LEG_RT_CNF);
    expect(legacy).toEqual([true]);
    expect(hpet.legacyReplacement).toBe(true);
    clock.advanceTo(400);
    expect(pic.changes).toEqual([
      [0, true],
      [0, false],
      [8, true],
      [8, false],
    ]);
    expect(ioapic.changes).toEqual([
      [2, true],
      [2, false],
      [8, true],
      [8, false],
      [22, true],
      [22, false],
    ]);
    wr(CONF, HpetConfig.ENABLE_CNF);
    expect(legacy).toEqual([true, false]);
  });

  it('moves a held level interrupt when the route changes', () => {
    const { clock, ioapic, pic, wr, wr64 } = setup();
    wr(tconf(0), TC.INT_TYPE_CNF | TC.INT_ENB_CNF | route(20));
    wr64(tcmp(0), 0, 10);
    wr(CONF, HpetConfig.ENABLE_CNF);
    clock.advanceTo(100);
    expect(ioapic.level(20)).toBe(true);
    wr(CONF, HpetConfig.ENABLE_CNF | HpetConfig.LEG_RT_CNF);
    expect([ioapic.level(20), ioapic.level(2), pic.level(0)]).toEqual([false, true, true]);
  });
});

describe('Hpet reset, snapshots and options', () => {
  it('resets to a halted counter at 0 with every output low', () => {
    const { clock, ioapic, pic, legacy, hpet, rd, wr, wr64 } = setup();
    wr(tconf(0), TC.INT_TYPE_CNF | TC.INT_ENB_CNF);
    wr64(tcmp(0), 0, 10);
    wr(CONF, HpetConfig.ENABLE_CNF | HpetConfig.LEG_RT_CNF);
    clock.advanceTo(1000);
    expect(pic.level(0)).toBe(true);
    hpet.reset();
    expect([rd(CONF), rd(ISR), rd(COUNTER), rd(tconf(0)), rd(tcmp(0))]).toEqual([0, 0, 0, TC.PER_INT_CAP | TC.SIZE_CAP, 0xffff_ffff]);
    expect([pic.level(0), ioapic.level(2)]).toEqual([false, false]);
    expect(legacy).toEqual([true, false]);
    expect(clock.nextDeadlineNs()).toBe(Infinity);
  });

  it('restores a running counter and pending matches exactly', () => {
    const a = setup();
    a.wr(tconf(0), TC.INT_ENB_CNF | TC.TYPE_CNF | TC.VAL_SET_CNF | route(23));
    a.wr64(tcmp(0), 0, 500);
    a.wr64(tcmp(0), 0, 500);
    a.wr(tconf(2), TC.INT_TYPE_CNF | route(20));
    a.wr(tcmp(2), 30);
    a.wr(CONF, HpetConfig.ENABLE_CNF);
    a.clock.advanceTo(7_777);
    const snap = a.hpet.saveState();
    const b = setup();
    b.clock.advanceTo(7_777);
    b.hpet.restoreState(snap);
    for (const off of [CONF, ISR, COUNTER, tconf(0), tcmp(0), tcmp(0) + 4, tconf(2), tcmp(2)]) expect(b.rd(off)).toBe(a.rd(off));
    expect(b.rd(ISR)).toBe(4);
    a.clock.advanceTo(10_000);
    b.clock.advanceTo(10_000);
    expect(b.ioapic.changes).toEqual(a.ioapic.changes.slice(a.ioapic.changes.length - b.ioapic.changes.length));
    expect(b.ioapic.changes).toEqual([
      [23, true],
      [23, false],
    ]);
    expect(b.rd(COUNTER)).toBe(a.rd(COUNTER));
    expect(() => b.hpet.restoreState({ version: 9, state: {} })).toThrow(/version/);
    expect(() => b.hpet.restoreState({ version: 1, state: { ...(snap.state as object), timers: [] } })).toThrow(/timers/);
  });

  it('rejects bad options with a DeviceConfigurationError', () => {
    const clock = new VirtualClock();
    expect(() => new Hpet({ clock, clockPeriodFs: 100_000_001 })).toThrow(DeviceConfigurationError);
    expect(() => new Hpet({ clock, clockPeriodFs: 999_999 })).toThrow(DeviceConfigurationError);
    expect(() => new Hpet({ clock, address: 0xfed0_0100 })).toThrow(DeviceConfigurationError);
    expect(() => new Hpet({ clock, intRouteCap: 1 << 24 })).toThrow(/I\/O APIC pins/);
  });
});
