import { describe, expect, it } from 'vitest';
import { MAX_EXACT_TICK_HZ, tickTimeNs, ticksAt, VirtualClock } from './index.js';

describe('VirtualClock', () => {
  it('derives time from retired instructions at the configured rate, exactly', () => {
    const c = new VirtualClock({ instructionsPerSecond: 3_000_000_000 }); // 1/3 ns per instruction
    c.advance(1);
    c.advance(1);
    expect(c.nowNs).toBe(0);
    c.advance(1);
    expect(c.nowNs).toBe(1);
    for (let i = 0; i < 3_000; i++) c.advance(1);
    expect(c.nowNs).toBe(1001);
    expect(c.retired).toBe(3003);
  });

  it('defaults to 1 ns per instruction and stays exact for huge advances', () => {
    const c = new VirtualClock();
    c.advance(2 ** 40);
    c.advance(7);
    expect(c.nowNs).toBe(2 ** 40 + 7);
    const slow = new VirtualClock({ instructionsPerSecond: 7 });
    slow.advance(2 ** 24); // 2^24 * 1e9 needs more than 53 bits in one product
    slow.advance(3);
    expect(slow.nowNs).toBe(Number(((2n ** 24n + 3n) * 10n ** 9n) / 7n));
  });

  it('fires timers at their deadline, earliest first, ties in creation order', () => {
    const c = new VirtualClock();
    const log: string[] = [];
    const a = c.createTimer('a', (d) => log.push(`a@${d}`));
    const b = c.createTimer('b', (d) => log.push(`b@${d}`));
    const z = c.createTimer('z', (d) => log.push(`z@${d}`));
    z.armAt(100);
    b.armAt(50);
    a.armAt(50);
    c.advance(49);
    expect(log).toEqual([]);
    c.advance(1);
    expect(log).toEqual(['a@50', 'b@50']);
    c.advance(1000);
    expect(log).toEqual(['a@50', 'b@50', 'z@100']);
    expect(a.armed || b.armed || z.armed).toBe(false);
  });

  it('tells the CPU how many instructions it may run before the next deadline', () => {
    const c = new VirtualClock({ instructionsPerSecond: 2_000_000_000 }); // 0.5 ns each
    expect(c.instructionsUntilNextDeadline()).toBe(Infinity);
    const t = c.createTimer('pit', () => {});
    t.armAfter(10);
    const n = c.instructionsUntilNextDeadline();
    expect(n).toBe(20);
    c.advance(n - 1);
    expect(t.armed).toBe(true);
    c.advance(1);
    expect(t.armed).toBe(false);
    t.armAt(0);
    expect(c.instructionsUntilNextDeadline()).toBe(0);
  });

  it('supports periodic timers that re-arm from their callback', () => {
    const c = new VirtualClock();
    const fired: number[] = [];
    const t = c.createTimer('periodic', (d) => {
      fired.push(d);
      t.armAt(d + 10);
    });
    t.armAt(10);
    c.advance(35);
    expect(fired).toEqual([10, 20, 30]);
    expect(t.deadlineNs).toBe(40);
  });

  it('skips ahead while halted with advanceTo, without retiring instructions', () => {
    const c = new VirtualClock();
    const fired: number[] = [];
    c.createTimer('rtc', (d) => fired.push(d)).armAt(1_000_000);
    c.advanceTo(c.nextDeadlineNs());
    expect(c.nowNs).toBe(1_000_000);
    expect(c.retired).toBe(0);
    expect(fired).toEqual([1_000_000]);
    c.advanceTo(5); // never backwards
    expect(c.nowNs).toBe(1_000_000);
  });

  it('cancels timers', () => {
    const c = new VirtualClock();
    let fired = false;
    const t = c.createTimer('x', () => (fired = true));
    t.armAt(5);
    t.cancel();
    t.cancel();
    c.advance(10);
    expect(fired).toBe(false);
    expect(c.nextDeadlineNs()).toBe(Infinity);
  });

  it('is deterministic: two clocks driven alike fire identically', () => {
    const run = () => {
      const c = new VirtualClock({ instructionsPerSecond: 1_193_182 * 3 });
      const log: number[] = [];
      const t1 = c.createTimer('t1', (d) => {
        log.push(d);
        t1.armAt(d + 838);
      });
      const t2 = c.createTimer('t2', (d) => {
        log.push(-d);
        t2.armAt(d + 1000);
      });
      t1.armAt(838);
      t2.armAt(1000);
      for (let i = 0; i < 1000; i++) c.advance(17 + (i % 13));
      return log;
    };
    const first = run();
    expect(first.length).toBeGreaterThan(10);
    expect(run()).toEqual(first);
  });

  describe('error paths', () => {
    it.each([
      ['a zero rate', () => new VirtualClock({ instructionsPerSecond: 0 }), /instructionsPerSecond 0 is not a positive integer/],
      ['a fractional rate', () => new VirtualClock({ instructionsPerSecond: 1.5 }), /not a positive integer/],
      ['a negative advance', () => new VirtualClock().advance(-1), /cannot advance by -1 instructions/],
      ['a fractional advance', () => new VirtualClock().advance(0.5), /cannot advance by 0.5/],
      ['advancing to NaN', () => new VirtualClock().advanceTo(Number.NaN), /cannot advance to NaN ns/],
      ['an infinite deadline', () => new VirtualClock().createTimer('t', () => {}).armAt(Infinity), /timer "t": deadline Infinity/],
      ['a negative deadline', () => new VirtualClock().createTimer('t', () => {}).armAt(-1), /timer "t": deadline -1/],
      ['a NaN delay', () => new VirtualClock().createTimer('t', () => {}).armAfter(Number.NaN), /timer "t": delay NaN/],
    ])('rejects %s', (_name, make, message) => {
      expect(make).toThrow(RangeError);
      expect(make).toThrow(message);
    });

    it('stops a timer that re-arms itself in the past forever, naming it', () => {
      const c = new VirtualClock({ maxFiringsPerAdvance: 100 });
      const t = c.createTimer('runaway', () => t.armAt(0));
      t.armAt(0);
      expect(() => c.advance(1)).toThrow(/timer "runaway" fired 100 times without guest time advancing/);
    });
  });
});

describe('ticksAt / tickTimeNs', () => {
  it('convert exactly between nanoseconds and a device clock, over days of guest time', () => {
    for (const hz of [1_193_182, 3_579_545, 32_768, MAX_EXACT_TICK_HZ]) {
      for (const ns of [0, 1, 838, 999_999_999, 1_000_000_000, 86_400 * 1e9 * 30 + 123_456_789]) {
        const t = ticksAt(ns, hz);
        // floor(ns * hz / 1e9) by exact integer arithmetic as the reference.
        expect(BigInt(t)).toBe((BigInt(ns) * BigInt(hz)) / 1_000_000_000n);
        // tick t happened by ns, and its first nanosecond is the smallest such time.
        const first = tickTimeNs(t, hz);
        expect(first).toBeLessThanOrEqual(ns);
        expect(ticksAt(first, hz)).toBe(t);
        if (first > 0) expect(ticksAt(first - 1, hz)).toBe(t - 1);
      }
    }
  });
});
