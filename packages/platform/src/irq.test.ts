import { describe, expect, it } from 'vitest';
import { InterruptLine, IrqLevels, SharedInterruptLine } from './index.js';

describe('InterruptLine', () => {
  it('reports level changes only, so an edge-triggered input sees each edge once', () => {
    const pic = new IrqLevels();
    const line = new InterruptLine(pic, 4, 'com1');
    line.raise();
    line.raise();
    expect(line.level).toBe(true);
    line.lower();
    line.lower();
    line.set(true);
    expect(pic.changes).toEqual([
      [4, true],
      [4, false],
      [4, true],
    ]);
    expect(pic.level(4)).toBe(true);
    expect(line.name).toBe('com1');
  });

  it('pulses as a rising then a falling edge', () => {
    const pic = new IrqLevels();
    const timer = new InterruptLine(pic, 0);
    timer.pulse();
    expect(pic.changes).toEqual([
      [0, true],
      [0, false],
    ]);
    expect(timer.level).toBe(false);
  });
});

describe('SharedInterruptLine', () => {
  it('is the wired OR of its inputs', () => {
    const ioapic = new IrqLevels();
    const intA = new SharedInterruptLine(ioapic, 16, 'pci-inta');
    const nic = intA.input();
    const disk = intA.input();
    nic.raise();
    disk.raise();
    expect(intA.level).toBe(true);
    nic.lower();
    expect(intA.level).toBe(true);
    disk.lower();
    expect(intA.level).toBe(false);
    expect(ioapic.changes).toEqual([
      [16, true],
      [16, false],
    ]);
  });

  it('counts a device that asserts twice only once', () => {
    const sink = new IrqLevels();
    const shared = new SharedInterruptLine(sink, 17);
    const a = shared.input();
    const b = shared.input();
    a.raise();
    a.raise();
    b.raise();
    b.lower();
    expect(shared.level).toBe(true);
    a.lower();
    expect(shared.level).toBe(false);
    b.pulse();
    expect(sink.changes.slice(-2)).toEqual([
      [17, true],
      [17, false],
    ]);
  });
});
