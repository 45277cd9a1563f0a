import { AddressConflictError, Chipset, PioBus, type Port } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { IsaDebugExit } from './index.js';

describe('IsaDebugExit', () => {
  it('turns a write into QEMU exit status (value << 1) | 1 at the configured port', () => {
    const pio = new PioBus();
    const chipset = new Chipset({ pio });
    const seen: number[] = [];
    const dev = chipset.add(new IsaDebugExit({ iobase: 0xf4, iosize: 4, onExit: (s) => seen.push(s) }));
    expect(dev.exitStatus).toBeNull();
    pio.write(0xf4, 1, 0);
    expect(seen).toEqual([1]);
    pio.write(0xf5, 1, 0x10);
    expect(dev.exitStatus).toBe(0x21);
    // A 32-bit OUT keeps all 32 bits: the status needs 33 bits and must not wrap.
    pio.write(0xf4, 4, 0xffff_ffff);
    expect(dev.exitStatus).toBe(0x1_ffff_ffff);
  });

  it('decodes only its own ports, with QEMU defaults 0x501/2', () => {
    const pio = new PioBus();
    const dev = new Chipset({ pio }).add(new IsaDebugExit());
    pio.write(0x500, 1, 3);
    pio.write(0x503, 1, 3);
    expect(dev.exitStatus).toBeNull();
    pio.write(0x502, 1, 3);
    expect(dev.exitStatus).toBe(7);
  });

  it('reads as zero, unlike an unclaimed port', () => {
    const pio = new PioBus();
    new Chipset({ pio }).add(new IsaDebugExit({ iobase: 0xf4 }));
    expect(pio.read(0xf4, 1)).toBe(0);
    expect(pio.read(0xf6, 1)).toBe(0xff);
  });

  it('forgets the request on reset', () => {
    const pio = new PioBus();
    const chipset = new Chipset({ pio });
    const dev = chipset.add(new IsaDebugExit({ iobase: 0xf4 }));
    pio.write(0xf4, 1, 2);
    chipset.reset();
    expect(dev.exitStatus).toBeNull();
  });

  it('refuses a port another device holds', () => {
    const pio = new PioBus();
    const chipset = new Chipset({ pio });
    chipset.add(new IsaDebugExit({ iobase: 0xf4, name: 'exit-a' }));
    let error: unknown;
    try {
      chipset.add(new IsaDebugExit({ iobase: 0xf5, name: 'exit-b' }));
    } catch (e) {
      error = e;
    }
    expect(String(error)).toMatch(/device "exit-b": PIO range 0xf5-0xf6 for "exit-b" overlaps 0xf4-0xf5 already registered by "exit-a"/);
    expect((error as Error).cause).toBeInstanceOf(AddressConflictError);
    // The rejected device left nothing behind: its second port is still free.
    expect(pio.find(0xf6)).toBeUndefined();
  });

  it('restores the exit status from a snapshot without reporting the exit again', () => {
    const a = new IsaDebugExit();
    const fresh = a.saveState();
    a.pioWrite(0x501 as Port, 4, 0x8000_0000);
    const snap = a.saveState();
    const seen: number[] = [];
    const b = new IsaDebugExit({ onExit: (s) => seen.push(s) });
    b.restoreState(snap);
    expect([b.exitStatus, seen]).toEqual([0x1_0000_0001, []]);
    b.restoreState(fresh);
    expect(b.exitStatus).toBeNull();
    expect(() => b.restoreState({ version: 2, state: { exitStatus: null } })).toThrow(/version 2/);
    expect(() => b.restoreState({ version: 1, state: { exitStatus: 4 } })).toThrow(/"exitStatus"/);
    expect(() => b.restoreState({ version: 1, state: { exitStatus: 2 ** 33 + 1 } })).toThrow(/"exitStatus"/);
    expect(() => b.restoreState({ version: 1, state: [] })).toThrow(/not an object/);
    expect(b.exitStatus).toBeNull();
  });
});
