import { InterruptLine, IrqLevels, VirtualClock, type Port } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { Pit8254, PIT_CLOCK_HZ, pitTickAt, pitTickTimeNs, SystemControlPortB } from './pit8254.js';

function setup() {
  const clock = new VirtualClock();
  const sink = new IrqLevels();
  const irq = new InterruptLine(sink, 0);
  const pit = new Pit8254({ clock, irq });
  const port61 = new SystemControlPortB({ pit });
  const out = (port: number, v: number) => pit.pioWrite(port as Port, 1, v);
  const inb = (port: number) => pit.pioRead(port as Port, 1);
  /** Moves guest time to the first nanosecond of CLK pulse `k`. */
  const at = (k: number) => clock.advanceTo(pitTickTimeNs(k));
  /** The last nanosecond before pulse `k`. */
  const before = (k: number) => clock.advanceTo(pitTickTimeNs(k) - 1);
  const read16 = (port: number) => inb(port) | (inb(port) << 8);
  const p61 = () => port61.pioRead(0x61 as Port, 1);
  const w61 = (v: number) => port61.pioWrite(0x61 as Port, 1, v);
  return { clock, sink, irq, pit, port61, out, inb, at, before, read16, p61, w61 };
}

/** OUT of a counter sampled at pulses from..to inclusive, as a string of 0/1. */
function wave(s: ReturnType<typeof setup>, index: 0 | 1 | 2, from: number, to: number): string {
  let w = '';
  for (let k = from; k <= to; k++) {
    s.at(k);
    w += s.pit.out(index) ? '1' : '0';
  }
  return w;
}

describe('PIT clock mapping', () => {
  it('maps 1.193182 MHz pulses onto nanoseconds exactly, without drift', () => {
    expect(pitTickTimeNs(PIT_CLOCK_HZ)).toBe(1_000_000_000);
    expect(pitTickAt(1_000_000_000)).toBe(PIT_CLOCK_HZ);
    expect(pitTickAt(999_999_999)).toBe(PIT_CLOCK_HZ - 1);
    expect(pitTickTimeNs(1)).toBe(839); // 838.095... rounded up
    expect(pitTickAt(838)).toBe(0);
    expect(pitTickAt(839)).toBe(1);
    // A day of guest time: exactly 86400 * 1193182 pulses.
    expect(pitTickAt(86_400 * 1e9)).toBe(86_400 * PIT_CLOCK_HZ);
    for (const k of [7, 123_456_789, 86_400 * PIT_CLOCK_HZ + 12_345]) {
      expect(pitTickAt(pitTickTimeNs(k))).toBe(k);
      expect(pitTickAt(pitTickTimeNs(k) - 1)).toBe(k - 1);
    }
  });
});

describe('Pit8254 modes', () => {
  it('mode 0 (interrupt on terminal count): OUT low on the control word, high N+1 pulses after the count write', () => {
    const s = setup();
    s.at(10);
    s.out(0x43, 0x30); // counter 0, LSB then MSB, mode 0, binary
    expect(s.irq.level).toBe(false);
    s.out(0x40, 100);
    s.out(0x40, 0); // written at pulse 10: loaded at 11, terminal count at 111
    s.at(11);
    expect(s.read16(0x40)).toBe(100);
    s.at(61);
    expect(s.read16(0x40)).toBe(50);
    s.before(111);
    expect(s.irq.level).toBe(false);
    expect(s.read16(0x40)).toBe(1);
    s.at(111);
    expect(s.irq.level).toBe(true);
    expect(s.read16(0x40)).toBe(0);
    s.at(112);
    expect(s.read16(0x40)).toBe(0xffff); // keeps counting down after terminal count
    s.at(111 + 65536);
    expect(s.irq.level).toBe(true); // no second interrupt
    expect(s.sink.changes).toEqual([
      [0, true], // power-on OUT
      [0, false],
      [0, true],
    ]);
  });

  it('mode 0: writing the first byte stops counting and drops OUT; the full count restarts it', () => {
    const s = setup();
    s.out(0x43, 0x30);
    s.out(0x40, 10);
    s.out(0x40, 0);
    s.at(20);
    expect(s.irq.level).toBe(true);
    s.out(0x40, 5);
    expect(s.irq.level).toBe(false);
    const c = s.pit.count(0);
    s.at(30);
    expect(s.pit.count(0)).toBe(c); // not counting between the two bytes
    s.out(0x40, 0); // count 5 written at 30: OUT high at 36
    s.before(36);
    expect(s.irq.level).toBe(false);
    s.at(36);
    expect(s.irq.level).toBe(true);
  });

  it('mode 1 (hardware retriggerable one-shot) on counter 2, triggered through port 0x61', () => {
    const s = setup();
    s.out(0x43, 0xb2); // counter 2, LSB/MSB, mode 1
    s.out(0x42, 4);
    s.out(0x42, 0);
    s.at(5);
    expect(s.p61() & 0x20).toBe(0x20); // OUT2 high, no trigger yet
    s.w61(0x01); // gate rising at pulse 5: OUT low from 6 for 4 pulses
    expect(wave(s, 2, 5, 11)).toBe('1000011');
    expect(s.pit.count(2)).toBe(0xffff); // wrapped after the terminal count
    // Retrigger during the pulse restarts it.
    s.w61(0);
    s.at(20);
    s.w61(1); // trigger at 20: low 21..24
    s.at(22);
    s.w61(0);
    s.w61(1); // retrigger at 22: loaded at 23, low until 26
    expect(wave(s, 2, 22, 28)).toBe('0000011');
  });

  it('mode 2 (rate generator): one-pulse low OUT, IRQ0 rising edges exactly once per period', () => {
    const s = setup();
    s.out(0x43, 0x34); // counter 0, LSB/MSB, mode 2
    s.out(0x40, 10);
    s.out(0x40, 0); // at pulse 0: loaded at 1, low at 10, rising at 11, 21, ...
    s.at(1);
    expect(s.pit.count(0)).toBe(10);
    s.at(5);
    expect(s.pit.count(0)).toBe(6);
    s.before(10);
    expect(s.irq.level).toBe(true);
    s.at(10);
    expect(s.irq.level).toBe(false);
    expect(s.pit.count(0)).toBe(1);
    s.before(11);
    expect(s.irq.level).toBe(false);
    s.at(11);
    expect(s.irq.level).toBe(true);
    expect(s.pit.count(0)).toBe(10);
    s.sink.changes.length = 0;
    s.at(1001); // one big step: the timer fires at every edge
    const rising = s.sink.changes.filter(([, l]) => l).length;
    expect(rising).toBe(99); // 21, 31, ..., 1001
    expect(s.sink.changes.length).toBe(198);
    expect(s.irq.level).toBe(true);
  });

  it('mode 2: a new count takes effect at the end of the current period', () => {
    const s = setup();
    s.out(0x43, 0x34);
    s.out(0x40, 10);
    s.out(0x40, 0); // rising edges at 11, 21
    s.at(15);
    s.out(0x40, 20);
    s.out(0x40, 0);
    expect(s.pit.count(0)).toBe(6); // the current period goes on
    s.before(20);
    expect(s.irq.level).toBe(true);
    s.at(20);
    expect(s.irq.level).toBe(false); // old period's low pulse
    s.at(21);
    expect(s.irq.level).toBe(true);
    expect(s.pit.count(0)).toBe(20);
    s.before(40);
    expect(s.irq.level).toBe(true);
    s.at(40);
    expect(s.irq.level).toBe(false);
    s.at(41);
    expect(s.irq.level).toBe(true);
  });

  it('mode 3 (square wave): even count, half high and half low, counting down by two', () => {
    const s = setup();
    s.out(0x43, 0x36); // counter 0, LSB/MSB, mode 3
    s.out(0x40, 10);
    s.out(0x40, 0); // loaded at 1
    expect(wave(s, 0, 1, 21)).toBe('111110000011111000001');
    s.at(22);
    expect(s.pit.count(0)).toBe(8);
    s.at(23);
    expect(s.pit.count(0)).toBe(6);
    s.at(26);
    expect(s.pit.count(0)).toBe(10); // start of the low half
    expect(s.irq.level).toBe(false);
  });

  it('mode 3 with an odd count: high for (N+1)/2 pulses and low for (N-1)/2, IRQ edges on time', () => {
    const s = setup();
    s.out(0x43, 0x36);
    s.out(0x40, 7);
    s.out(0x40, 0); // loaded at 1
    s.sink.changes.length = 0;
    s.at(1);
    expect(s.pit.count(0)).toBe(6); // N-1 is loaded
    expect(wave(s, 0, 1, 3)).toBe('111');
    expect(s.pit.count(0)).toBe(2); // decremented by two
    s.at(4);
    expect(s.irq.level).toBe(true); // the extra pulse of the high half
    s.before(5);
    expect(s.irq.level).toBe(true);
    s.at(5);
    expect(s.irq.level).toBe(false);
    s.before(8);
    expect(s.irq.level).toBe(false);
    s.at(8);
    expect(s.irq.level).toBe(true);
    expect(wave(s, 0, 8, 15)).toBe('11110001');
    expect(s.sink.changes).toEqual([
      [0, false],
      [0, true],
      [0, false],
      [0, true],
    ]);
  });

  it('mode 3: a new count takes effect at the end of the current half-cycle', () => {
    const s = setup();
    s.out(0x43, 0x36);
    s.out(0x40, 10);
    s.out(0x40, 0); // high 1..5, low 6..10
    s.at(3);
    s.out(0x40, 4);
    s.out(0x40, 0);
    expect(wave(s, 0, 3, 16)).toBe('11100110011001');
  });

  it('mode 4 (software triggered strobe): one low pulse N+1 pulses after the write, no reload', () => {
    const s = setup();
    s.out(0x43, 0x38); // counter 0, LSB/MSB, mode 4
    expect(s.irq.level).toBe(true);
    s.out(0x40, 5);
    s.out(0x40, 0); // loaded at 1, strobe at 6
    expect(wave(s, 0, 4, 8)).toBe('11011');
    expect(s.pit.count(0)).toBe(0xfffe);
    s.at(6 + 65536);
    expect(s.irq.level).toBe(true);
    expect(s.sink.changes).toEqual([
      [0, true],
      [0, false],
      [0, true],
    ]);
  });

  it('mode 5 (hardware triggered strobe) on counter 2: low pulse N pulses after the load that follows the trigger', () => {
    const s = setup();
    s.out(0x43, 0xba); // counter 2, LSB/MSB, mode 5
    s.out(0x42, 3);
    s.out(0x42, 0);
    expect(wave(s, 2, 0, 10)).toBe('11111111111'); // no trigger, no strobe
    s.w61(1); // trigger at 10: loaded at 11, strobe at 14
    expect(wave(s, 2, 12, 16)).toBe('11011');
    s.w61(0);
    s.w61(1); // retrigger at 16: strobe at 20
    expect(wave(s, 2, 17, 21)).toBe('11101');
  });
});

describe('Pit8254 commands and counting formats', () => {
  it('the counter latch command freezes the read value until both bytes are read', () => {
    const s = setup();
    s.out(0x43, 0x34);
    s.out(0x40, 0x34);
    s.out(0x40, 0x12); // 0x1234 at pulse 0
    s.at(0x101);
    s.out(0x43, 0x00); // latch counter 0: 0x1234 - 0x100
    s.at(0x200);
    s.out(0x43, 0x00); // ignored: the first latch is not read yet
    expect(s.inb(0x40)).toBe(0x34);
    s.at(0x300);
    expect(s.inb(0x40)).toBe(0x11);
    // Latch released: live reads again.
    expect(s.read16(0x40)).toBe(0x1234 - 0x2ff);
  });

  it('the read-back command latches status and count; status comes first', () => {
    const s = setup();
    s.out(0x43, 0x34); // mode 2, LSB/MSB, binary
    s.out(0x43, 0xe2); // read-back status only, counter 0: null count, no count yet
    expect(s.inb(0x40)).toBe(0x80 | 0x40 | 0x30 | 0x04);
    s.out(0x40, 100);
    s.out(0x40, 0);
    s.out(0x43, 0xe2); // same pulse: the count is not loaded yet
    expect(s.inb(0x40)).toBe(0xf4);
    s.at(20);
    s.out(0x43, 0xc2); // read-back count and status of counter 0
    s.at(30);
    expect(s.inb(0x40)).toBe(0xb4); // OUT high, count loaded
    expect(s.read16(0x40)).toBe(81); // latched at pulse 20
    // Mode 3 written as 0b111, BCD, LSB only; counter 2 selected through bit 3.
    s.out(0x43, 0x9f);
    s.out(0x43, 0xe8);
    expect(s.inb(0x42)).toBe(0x80 | 0x40 | 0x10 | 0x0e | 0x01);
    // Status bit 7 follows OUT: mode 0 starts low.
    s.out(0x43, 0x70); // counter 1, LSB/MSB, mode 0
    s.out(0x43, 0xe4);
    expect(s.inb(0x41)).toBe(0x70);
  });

  it('LSB-only and MSB-only access, and the LSB/MSB byte pointer', () => {
    const s = setup();
    s.out(0x43, 0x10); // counter 0, LSB only, mode 0
    s.out(0x40, 0x80); // a complete count: 0x0080
    s.at(1);
    expect(s.pit.count(0)).toBe(0x80);
    expect(s.inb(0x40)).toBe(0x80);
    expect(s.inb(0x40)).toBe(0x80); // no MSB in between
    s.out(0x43, 0x20); // MSB only
    s.out(0x40, 0x02); // 0x0200
    s.at(2);
    expect(s.pit.count(0)).toBe(0x200);
    expect(s.inb(0x40)).toBe(0x02);
    s.out(0x43, 0x30); // LSB then MSB
    s.out(0x40, 0x78);
    s.out(0x40, 0x56);
    s.at(3);
    expect(s.inb(0x40)).toBe(0x78);
    expect(s.inb(0x40)).toBe(0x56);
    expect(s.inb(0x40)).toBe(0x78);
    s.out(0x43, 0x30); // a control word resets the pointer
    s.out(0x40, 0x01);
    s.out(0x40, 0x01);
    s.at(4);
    expect(s.inb(0x40)).toBe(0x01);
  });

  it('BCD counting: four decades, reads in BCD', () => {
    const s = setup();
    s.out(0x43, 0x31); // mode 0, BCD
    s.out(0x40, 0x00);
    s.out(0x40, 0x01); // 100 decimal, loaded at 1
    s.at(1);
    expect(s.read16(0x40)).toBe(0x0100);
    s.at(12);
    expect(s.read16(0x40)).toBe(0x0089);
    s.at(101);
    expect(s.read16(0x40)).toBe(0);
    expect(s.irq.level).toBe(true);
    s.at(102);
    expect(s.read16(0x40)).toBe(0x9999); // wraps in decimal
  });

  it('a count of 0 is 65536 in binary and 10000 in BCD', () => {
    const s = setup();
    s.out(0x43, 0x30);
    s.out(0x40, 0);
    s.out(0x40, 0);
    s.at(2);
    expect(s.read16(0x40)).toBe(0xffff);
    s.before(65537);
    expect(s.irq.level).toBe(false);
    s.at(65537);
    expect(s.irq.level).toBe(true);

    const b = setup();
    b.out(0x43, 0x31);
    b.out(0x40, 0);
    b.out(0x40, 0);
    b.at(2);
    expect(b.read16(0x40)).toBe(0x9999);
    b.before(10001);
    expect(b.irq.level).toBe(false);
    b.at(10001);
    expect(b.irq.level).toBe(true);

    const r = setup();
    r.out(0x43, 0x34); // mode 2, count 0: period 65536
    r.out(0x40, 0);
    r.out(0x40, 0);
    r.before(65537);
    expect(r.irq.level).toBe(false);
    r.at(65537);
    expect(r.irq.level).toBe(true);
  });

  it('the timer raises IRQ0 at the exact guest time when the CPU advances by instructions', () => {
    const s = setup();
    s.out(0x43, 0x34);
    s.out(0x40, 0x9c);
    s.out(0x40, 0x2e); // 11932: about 100 Hz; rising edges at 1 + 11932 k
    const edge = pitTickTimeNs(1 + 11932 * 3);
    s.clock.advance(edge - 1 - s.clock.nowNs);
    const before = s.sink.changes.filter(([, l]) => l).length;
    expect(s.clock.instructionsUntilNextDeadline()).toBe(1);
    s.clock.advance(1);
    expect(s.sink.changes.filter(([, l]) => l).length).toBe(before + 1);
    expect(s.clock.nowNs).toBe(edge);
  });
});

describe('Pit8254 gates and port 0x61', () => {
  it('gate 2 through port 0x61 bit 0 starts and stops counter 2; OUT2 reads back in bit 5', () => {
    const s = setup();
    expect(s.pit.gate(2)).toBe(false);
    s.out(0x43, 0xb6); // counter 2, LSB/MSB, mode 3
    s.out(0x42, 8);
    s.out(0x42, 0);
    s.at(10);
    expect(s.pit.count(2)).toBe(0); // gate low: not loaded, not counting
    s.w61(0x03); // gate high at 10: loaded at 11
    expect(s.p61() & 0x03).toBe(0x03);
    const bits: number[] = [];
    for (let k = 11; k <= 19; k++) {
      s.at(k);
      bits.push((s.p61() >> 5) & 1);
    }
    expect(bits).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 1]);
    expect(s.port61.speakerOn).toBe(true);
    s.at(15);
    s.w61(0x02); // gate low in the low half: OUT2 high at once, counting stops
    expect(s.p61() & 0x20).toBe(0x20);
    const c = s.pit.count(2);
    s.at(40);
    expect(s.pit.count(2)).toBe(c);
    expect(s.p61() & 0x20).toBe(0x20);
    s.w61(0x03); // gate high at 40: reloaded at 41
    expect(wave(s, 2, 41, 49)).toBe('111100001');
  });

  it('gate 2 low pauses mode 0 counting', () => {
    const s = setup();
    s.w61(1);
    s.out(0x43, 0xb0); // counter 2, mode 0
    s.out(0x42, 10);
    s.out(0x42, 0); // loaded at 1
    s.at(4);
    s.w61(0); // paused at 7 left
    s.at(100);
    expect(s.pit.count(2)).toBe(7);
    expect(s.p61() & 0x20).toBe(0);
    s.w61(1); // resumes at 100: 7 more pulses
    s.before(107);
    expect(s.p61() & 0x20).toBe(0);
    s.at(107);
    expect(s.p61() & 0x20).toBe(0x20);
  });

  it('gate 2 low pauses mode 4 counting, and the strobe comes once per count', () => {
    const s = setup();
    s.w61(1);
    s.out(0x43, 0xb8); // counter 2, mode 4
    s.out(0x42, 10);
    s.out(0x42, 0); // loaded at 1, strobe at 11 unless paused
    s.at(5);
    s.w61(0); // 6 left
    s.at(50);
    expect(s.pit.count(2)).toBe(6);
    s.w61(1); // resumes at 50: strobe at 56
    expect(wave(s, 2, 55, 57)).toBe('101');
    s.w61(0); // paused after the strobe, then resumed: the wrapped count must not strobe again
    s.w61(1);
    s.at(57 + 0xffff);
    expect(s.pit.count(2)).toBe(0);
    expect(wave(s, 2, 57 + 0xffff, 57 + 0x10001)).toBe('111');
  });

  it('the refresh toggle in bit 4 flips every 18 PIT clocks (about 15 us)', () => {
    const s = setup();
    const bit = (k: number) => {
      s.at(k);
      return (s.p61() >> 4) & 1;
    };
    expect(bit(17)).toBe(0);
    expect(bit(18)).toBe(1);
    expect(bit(35)).toBe(1);
    expect(bit(36)).toBe(0);
    expect(pitTickTimeNs(18)).toBe(15_086); // 15.09 us
    // Computed from time, not from reads: a long gap lands on the right phase.
    expect(bit(18 * 1001)).toBe(1);
  });
});

describe('Pit8254 reset and snapshot', () => {
  it('snapshot/restore keeps counting and IRQ0 timing', () => {
    const s = setup();
    s.out(0x43, 0x34);
    s.out(0x40, 10);
    s.out(0x40, 0);
    s.out(0x43, 0xb2);
    s.out(0x42, 7);
    s.at(14);
    const saved = s.pit.saveState();
    const saved61 = s.port61.saveState();
    s.out(0x43, 0x30); // disturb counter 0
    s.pit.restoreState(saved);
    s.port61.restoreState(saved61);
    expect(s.pit.count(0)).toBe(7);
    s.out(0x42, 0); // counter 2's write pointer was mid-count in the snapshot
    expect(s.pit.saveState()).not.toEqual(saved);
    s.before(20);
    expect(s.irq.level).toBe(true);
    s.at(20);
    expect(s.irq.level).toBe(false);
    expect(() => s.pit.restoreState({ version: 2, state: {} })).toThrow(/version/);
    expect(() => s.pit.restoreState({ version: 1, state: { counters: [] } })).toThrow();
  });

  it('reset stops the counters and the IRQ0 timer', () => {
    const s = setup();
    s.out(0x43, 0x34);
    s.out(0x40, 10);
    s.out(0x40, 0);
    s.at(5);
    s.pit.reset();
    s.sink.changes.length = 0;
    s.at(100);
    expect(s.sink.changes).toEqual([]);
    expect(s.irq.level).toBe(true);
    s.out(0x43, 0xe2);
    expect(s.inb(0x40)).toBe(0x80 | 0x40 | 0x30);
  });
});

describe('PIT count read right after a count is written', () => {
  it('reads the new count before the CLK pulse that loads it (modes 0 and 2, LSB/MSB and MSB-only)', () => {
    const s = setup();
    s.at(100);
    s.out(0x43, 0x34); // counter 0, LSB then MSB, mode 2
    s.out(0x40, 0xff);
    s.out(0x40, 0xff);
    s.out(0x43, 0x00); // latch at once, still before the next pulse
    expect(s.read16(0x40)).toBe(0xffff);
    s.at(102);
    s.out(0x43, 0x00);
    expect(s.read16(0x40)).toBe(0xfffe); // loaded at 101, one pulse counted
    s.out(0x43, 0x20); // counter 0, MSB only, mode 0
    s.out(0x40, 0x80);
    s.out(0x43, 0x00);
    expect(s.inb(0x40)).toBe(0x80); // MSB of 0x8000, not of the previous count
  });
});

describe('PIT GATE rising edge in mode 2', () => {
  it('shows the reloaded count immediately, then counts down from it', () => {
    const s = setup();
    s.w61(0x01); // GATE2 high
    s.out(0x43, 0xb4); // counter 2, LSB/MSB, mode 2
    s.out(0x42, 0xff);
    s.out(0x42, 0xff);
    s.at(30000);
    s.out(0x43, 0x80);
    const before = s.read16(0x42);
    expect(before).toBeLessThan(0xffff - 20000);
    s.w61(0x00); // GATE low: counting stops
    s.w61(0x01); // rising edge: reload
    s.out(0x43, 0x80);
    expect(s.read16(0x42)).toBe(0xffff);
    s.at(30010);
    s.out(0x43, 0x80);
    expect(s.read16(0x42)).toBe(0xffff - 9);
  });
});
