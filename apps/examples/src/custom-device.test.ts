import { describe, expect, it } from 'vitest';
import { Chipset, InterruptLine, IrqLevels, PioBus, VirtualClock } from '@hvkit/platform';
import { IntervalTimer, runExample } from './custom-device.js';

describe('the custom-device example', () => {
  it('fires a 250 µs periodic timer four times in 1 ms and exits with status 1 (guest wrote 0)', () => {
    const lines: string[] = [];
    const result = runExample((l) => lines.push(l));
    expect(result).toEqual({ expirations: 4, exitStatus: 1, irqEdges: 4 });
    expect(lines).toEqual(['timer expired 4 times in 1000 µs of guest time', 'guest asked to exit with status 1']);
  });

  it('survives a snapshot and restore mid-period', () => {
    const make = () => {
      const clock = new VirtualClock();
      const pio = new PioBus();
      const chipset = new Chipset({ pio });
      const timer = chipset.add(new IntervalTimer(clock, new InterruptLine(new IrqLevels(), 5)));
      return { clock, pio, chipset, timer };
    };
    const a = make();
    a.pio.write(0x300, 2, 10);
    a.pio.write(0x301, 1, 3);
    a.clock.advance(25_000);
    const snap = a.chipset.saveState();
    const b = make();
    b.clock.advance(25_000);
    b.chipset.restoreState(snap);
    a.clock.advance(20_000);
    b.clock.advance(20_000);
    expect(b.timer.expirations).toBe(a.timer.expirations);
    expect(a.timer.expirations).toBe(4);
  });
});
