import { Chipset, IrqLevels, PhysicalMemory, PioBus, type Hpa, type SnapshotValue } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { PcTestdev, type PcTestdevOptions } from './index.js';

function setup(options: PcTestdevOptions = {}) {
  const pio = new PioBus();
  const memory = new PhysicalMemory({ ramSize: 0x1000 });
  const dev = new Chipset({ pio, memory }).add(new PcTestdev(options));
  return { pio, dev, memory };
}

describe('PcTestdev', () => {
  it('claims 0xE0-0xEB and 0x2000-0x2017 only', () => {
    const { pio } = setup();
    for (const p of [0xe0, 0xe4, 0xe8, 0xeb, 0x2000, 0x2017]) expect(pio.find(p), p.toString(16)).toBeDefined();
    for (const p of [0xdf, 0xec, 0x1fff, 0x2018]) expect(pio.find(p), p.toString(16)).toBeUndefined();
  });

  it('reads back a 32-bit value written at 0xE0', () => {
    const { pio } = setup();
    pio.write(0xe0, 4, 0xdead_beef);
    expect(pio.read(0xe0, 4)).toBe(0xdead_beef);
  });

  it('addresses byte lanes by port: a byte at 0xE0 + n is bits 8n+7:8n', () => {
    const { pio, dev } = setup();
    pio.write(0xe0, 4, 0x1122_3344);
    expect(pio.read(0xe0, 1)).toBe(0x44);
    expect(pio.read(0xe1, 1)).toBe(0x33);
    expect(pio.read(0xe2, 2)).toBe(0x1122);
    pio.write(0xe1, 1, 0xab);
    expect(dev.ioportData).toBe(0x1122_ab44);
    pio.write(0xe2, 2, 0xcdef);
    expect(pio.read(0xe0, 4)).toBe(0xcdef_ab44);
    // An access running past 0xE3 keeps only the lanes inside the register.
    pio.write(0xe3, 4, 0x7766_5599);
    expect(dev.ioportData).toBe(0x99ef_ab44);
    expect(pio.read(0xe3, 4)).toBe(0x99);
  });

  it('shares the scratch register between 0xE0 and 0xE8', () => {
    const { pio } = setup();
    pio.write(0xe8, 4, 0x0102_0304);
    expect(pio.read(0xe0, 4)).toBe(0x0102_0304);
    pio.write(0xe3, 1, 0xff);
    expect(pio.read(0xeb, 1)).toBe(0xff);
  });

  it('treats 0xE4 as the flush port: 4-byte writes counted, page-aligned; others ignored; reads 0', () => {
    const { pio, dev } = setup();
    pio.write(0xe4, 4, 0x1234_5678);
    expect(dev.flushes).toBe(1);
    expect(dev.lastFlushAddress).toBe(0x1234_5000);
    pio.write(0xe4, 1, 0x12);
    pio.write(0xe4, 2, 0x12);
    expect(dev.flushes).toBe(1);
    expect(pio.read(0xe4, 4)).toBe(0);
    expect(pio.read(0xe0, 4)).toBe(0); // the scratch register is untouched
  });

  it('raises and lowers ISA IRQ n for writes to 0x2000 + n, forwarding only changes', () => {
    const irqs = new IrqLevels();
    const { pio, dev } = setup({ irqSink: irqs });
    pio.write(0x2000 + 5, 1, 1);
    expect(irqs.level(5)).toBe(true);
    expect(dev.irqLevel(5)).toBe(true);
    pio.write(0x2000 + 5, 1, 0x80); // any nonzero value asserts
    pio.write(0x2017, 1, 2);
    pio.write(0x2000 + 5, 1, 0);
    expect(irqs.changes).toEqual([
      [5, true],
      [23, true],
      [5, false],
    ]);
    expect(pio.read(0x2005, 1)).toBe(0);
  });

  it('ignores IRQ writes wider than a byte, and drops them without a sink', () => {
    const irqs = new IrqLevels();
    const { pio } = setup({ irqSink: irqs });
    pio.write(0x2001, 2, 1);
    pio.write(0x2001, 4, 1);
    expect(irqs.changes).toEqual([]);
    const bare = setup();
    bare.pio.write(0x2001, 1, 1);
    expect(bare.dev.irqLevel(1)).toBe(false);
  });
});

describe('PcTestdev iomem (64 KiB at 0xFF000000)', () => {
  it('reads back what was written, little-endian, at any width, up to the last byte', () => {
    const { memory } = setup();
    const at = (a: number) => a as Hpa;
    memory.write32(at(0xff00_0000), 0x1122_3344);
    expect(memory.read32(at(0xff00_0000))).toBe(0x1122_3344);
    expect(memory.read8(at(0xff00_0001))).toBe(0x33);
    memory.write8(at(0xff00_0002), 0x77);
    expect(memory.read32(at(0xff00_0000))).toBe(0x1177_3344);
    memory.write32(at(0xff00_fffc), 0xa5a5_a5a5);
    expect(memory.read32(at(0xff00_fffc))).toBe(0xa5a5_a5a5);
    expect(memory.read16(at(0xff00_fffe))).toBe(0xa5a5);
    // Outside the window: nothing there.
    expect(memory.read8(at(0xff01_0000))).toBe(0xff);
    expect(memory.read8(at(0xfeff_ffff))).toBe(0xff);
  });

  it('keeps the iomem contents across a snapshot', () => {
    const a = setup();
    a.memory.write32(0xff00_1000 as Hpa, 0xfeed_beef);
    const b = setup();
    b.dev.restoreState(a.dev.saveState());
    expect(b.memory.read32(0xff00_1000 as Hpa)).toBe(0xfeed_beef);
    expect(() => b.dev.restoreState({ version: 1, state: { ...(a.dev.saveState().state as Record<string, SnapshotValue>), iomem: new Uint8Array(4) } })).toThrow(/"iomem"/);
  });
});

describe('PcTestdev snapshots', () => {
  it('restores the scratch register, the flush record and the IRQ levels into a fresh device', () => {
    const a = setup({ irqSink: new IrqLevels() });
    a.pio.write(0xe0, 4, 0xcafe_f00d);
    a.pio.write(0xe4, 4, 0x0012_3456);
    a.pio.write(0x2000 + 5, 1, 1);
    a.pio.write(0x2000 + 23, 1, 1);
    const snap = a.dev.saveState();

    const sink = new IrqLevels();
    const b = setup({ irqSink: sink });
    b.dev.restoreState(snap);
    expect(b.dev.saveState()).toEqual(snap);
    expect(b.pio.read(0xe8, 4)).toBe(0xcafe_f00d);
    expect([b.dev.flushes, b.dev.lastFlushAddress]).toEqual([1, 0x0012_3000]);
    expect(sink.changes).toEqual([
      [5, true],
      [23, true],
    ]);
    b.pio.write(0x2000 + 5, 1, 0);
    expect(sink.level(5)).toBe(false);
    b.dev.restoreState(snap); // restoring over a live state changes only what differs
    expect(sink.changes.at(-1)).toEqual([5, true]);
    expect(sink.changes).toHaveLength(4);
  });

  it('refuses a snapshot of another version or shape and keeps its state', () => {
    const { dev, pio } = setup({ irqSink: new IrqLevels() });
    pio.write(0xe0, 4, 7);
    const good = dev.saveState();
    const state = good.state as Record<string, SnapshotValue>;
    expect(() => dev.restoreState({ version: 2, state })).toThrow(/version 2/);
    expect(() => dev.restoreState({ version: 1, state: { ...state, ioportData: -1 } })).toThrow(/"ioportData"/);
    expect(() => dev.restoreState({ version: 1, state: { ...state, lastFlushAddress: 0x1234 } })).toThrow(/"lastFlushAddress"/);
    expect(() => dev.restoreState({ version: 1, state: { ...state, irqs: 1 << 24 } })).toThrow(/"irqs"/);
    expect(() => dev.restoreState({ version: 1, state: { ...state, flushes: 0.5 } })).toThrow(/"flushes"/);
    expect(dev.saveState()).toEqual(good);
  });
});
