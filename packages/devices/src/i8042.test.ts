import { IrqLevels, type Port, type SnapshotValue } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { I8042, I8042Command, I8042Status, type I8042Options } from './i8042.js';

/** structuredClone (Node 17+), typed here: the package compiles without DOM or Node types. */
const clone = <T>(v: T): T => (globalThis as unknown as { structuredClone: <U>(x: U) => U }).structuredClone(v);

const DATA = 0x60 as Port;
const CMD = 0x64 as Port;

function setup(options: I8042Options = {}) {
  const sink = new IrqLevels();
  const resets: number[] = [];
  const a20: boolean[] = [];
  const k = new I8042({ irqSink: sink, onReset: () => resets.push(1), onA20: (e) => a20.push(e), ...options });
  const status = () => k.pioRead(CMD, 1);
  const cmd = (c: number, arg?: number) => {
    k.pioWrite(CMD, 1, c);
    if (arg !== undefined) k.pioWrite(DATA, 1, arg);
  };
  const data = (v: number) => k.pioWrite(DATA, 1, v);
  const read = () => k.pioRead(DATA, 1);
  /** Reads every byte the output buffer offers. */
  const drain = () => {
    const out: number[] = [];
    while ((status() & I8042Status.OBF) !== 0) out.push(read());
    return out;
  };
  return { k, sink, resets, a20, status, cmd, data, read, drain };
}

describe('I8042 ports and status', () => {
  it('decodes ports 0x60 and 0x64', () => {
    expect(new I8042().pioRanges).toEqual([
      { base: 0x60, length: 1 },
      { base: 0x64, length: 1 },
    ]);
  });

  it('status at power-on: empty buffers, system flag from the command byte, command/data set', () => {
    const { status } = setup();
    expect(status()).toBe(I8042Status.SYS | I8042Status.CMD | I8042Status.UNLOCKED);
    expect(setup({ commandByte: 0x03 }).status() & I8042Status.SYS).toBe(0);
  });

  it('the command/data bit follows the port last written', () => {
    const { status, data, cmd } = setup();
    data(0xee);
    expect(status() & I8042Status.CMD).toBe(0);
    cmd(0xa8);
    expect(status() & I8042Status.CMD).toBe(I8042Status.CMD);
  });

  it('reading 0x60 pops the next byte and clears OBF when empty', () => {
    const { k, status, read } = setup();
    k.pressKey([0x1e, 0x9e]);
    expect(status() & I8042Status.OBF).toBe(1);
    expect(read()).toBe(0x1e);
    expect(status() & I8042Status.OBF).toBe(1);
    expect(read()).toBe(0x9e);
    expect(status() & I8042Status.OBF).toBe(0);
    expect(status() & I8042Status.IBF).toBe(0);
  });
});

describe('I8042 interrupts', () => {
  it('raises IRQ1 while a keyboard byte waits, lowers it when the last is read', () => {
    const { k, sink, read } = setup();
    k.pressKey([0x1e, 0x9e]);
    expect(sink.level(1)).toBe(true);
    read();
    expect(sink.level(1)).toBe(true);
    read();
    expect(sink.level(1)).toBe(false);
    expect(sink.level(12)).toBe(false);
  });

  it('no IRQ1 when the command byte disables it, and it appears when enabled', () => {
    const { k, sink, cmd, status } = setup({ commandByte: 0x44 });
    k.pressKey([0x1e]);
    expect(status() & I8042Status.OBF).toBe(1);
    expect(sink.level(1)).toBe(false);
    cmd(0x60, 0x45);
    expect(sink.level(1)).toBe(true);
    cmd(0x60, 0x44);
    expect(sink.level(1)).toBe(false);
  });

  it('auxiliary bytes set AUX_OBF and raise IRQ12 (not IRQ1) when enabled', () => {
    const { k, sink, status, read, cmd } = setup();
    k.auxInput([0x08]);
    expect(status() & (I8042Status.OBF | I8042Status.AUX_OBF)).toBe(I8042Status.OBF | I8042Status.AUX_OBF);
    expect(sink.level(12)).toBe(true);
    expect(sink.level(1)).toBe(false);
    cmd(0x60, 0x45); // IRQ12 disabled
    expect(sink.level(12)).toBe(false);
    expect(read()).toBe(0x08);
    expect(status() & I8042Status.AUX_OBF).toBe(0);
  });

  it('uses the given lines over the sink', () => {
    const sink = new IrqLevels();
    const other = new IrqLevels();
    const k = new I8042({ irqSink: sink, irq: { level: false, set: (l) => other.setIrq(7, l), raise() {}, lower() {}, pulse() {} } });
    k.pressKey([1]);
    expect(other.level(7)).toBe(true);
    expect(sink.level(1)).toBe(false);
  });
});

describe('I8042 controller commands', () => {
  it('0x20 reads and 0x60 writes the command byte', () => {
    const { cmd, read, k, status } = setup();
    cmd(0x20);
    expect(read()).toBe(0x47);
    cmd(0x60, 0x21);
    expect(k.commandByte).toBe(0x21);
    expect(status() & I8042Status.SYS).toBe(0);
    cmd(0x20);
    expect(read()).toBe(0x21);
    cmd(0x60, 0x04);
    expect(status() & I8042Status.SYS).toBe(I8042Status.SYS);
  });

  it('0xA7/0xA8 disable and enable the auxiliary interface', () => {
    const { cmd, k, status, read } = setup();
    cmd(0xa7);
    expect(k.commandByte & I8042Command.DISABLE_AUX).toBe(I8042Command.DISABLE_AUX);
    k.auxInput([0x09]);
    expect(status() & I8042Status.OBF).toBe(0);
    cmd(0xa8);
    expect(k.commandByte & I8042Command.DISABLE_AUX).toBe(0);
    expect(read()).toBe(0x09);
  });

  it('0xAD/0xAE disable and enable the keyboard interface, holding keys meanwhile', () => {
    const { cmd, k, status, read, sink } = setup();
    cmd(0xad);
    expect(k.commandByte & I8042Command.DISABLE_KBD).toBe(I8042Command.DISABLE_KBD);
    k.pressKey([0x1c]);
    expect(status() & I8042Status.OBF).toBe(0);
    expect(sink.level(1)).toBe(false);
    cmd(0xae);
    expect(sink.level(1)).toBe(true);
    expect(read()).toBe(0x1c);
  });

  it('self-tests: 0xA9 -> 00, 0xAA -> 55 and sets the system flag, 0xAB -> 00', () => {
    const { cmd, read, status } = setup({ commandByte: 0 });
    cmd(0xa9);
    expect(read()).toBe(0x00);
    expect(status() & I8042Status.SYS).toBe(0);
    cmd(0xaa);
    expect(read()).toBe(0x55);
    expect(status() & I8042Status.SYS).toBe(I8042Status.SYS);
    cmd(0xab);
    expect(status() & I8042Status.OBF).toBe(1);
    expect(read()).toBe(0x00);
  });

  it('controller replies raise IRQ1 as keyboard bytes', () => {
    const { cmd, sink } = setup();
    cmd(0xaa);
    expect(sink.level(1)).toBe(true);
  });

  it('0xC0 reads the input port', () => {
    const a = setup();
    a.cmd(0xc0);
    expect(a.read()).toBe(0xa0);
    const b = setup({ inputPort: 0x12 });
    b.cmd(0xc0);
    expect(b.read()).toBe(0x12);
  });

  it('0xD0 reads the output port: reset high, A20, and the OBF lines', () => {
    const { cmd, read, k } = setup();
    cmd(0xd0);
    expect(read()).toBe(0x03);
    k.pressKey([0x1e]);
    cmd(0xd0); // sampled while the key fills the buffer: KBD_OBF
    read(); // the key
    expect(read()).toBe(0x13);
    k.auxInput([0x08]);
    cmd(0xd0);
    read();
    expect(read()).toBe(0x23);
    const n = setup({ a20: false });
    n.k.pressKey([0x1e]);
    n.cmd(0xd0);
    // The reply waits behind the key, which is in the buffer when the port is sampled.
    expect(n.read()).toBe(0x1e);
    expect(n.read()).toBe(0x11);
  });

  it('0xD1 writes the output port: A20 changes report once, bit 0 low resets', () => {
    const { cmd, a20, resets, k, read } = setup();
    cmd(0xd1, 0x01);
    expect(a20).toEqual([false]);
    expect(k.a20).toBe(false);
    expect(resets).toEqual([]);
    cmd(0xd1, 0x01);
    expect(a20).toEqual([false]);
    cmd(0xd1, 0x03);
    expect(a20).toEqual([false, true]);
    cmd(0xd1, 0x02);
    expect(resets).toEqual([1]);
    expect(a20).toEqual([false, true]);
    cmd(0xd0);
    expect(read() & 1).toBe(1);
  });

  it('0xDD/0xDF disable and enable A20', () => {
    const { cmd, a20, k } = setup();
    cmd(0xdd);
    expect(k.a20).toBe(false);
    cmd(0xdd);
    cmd(0xdf);
    expect(k.a20).toBe(true);
    expect(a20).toEqual([false, true]);
  });

  it('0xFE pulses reset; 0xF0-0xFF reset only when bit 0 is clear', () => {
    const { cmd, resets, k } = setup();
    cmd(0xfe);
    expect(resets.length).toBe(1);
    cmd(0xff);
    cmd(0xf1);
    expect(resets.length).toBe(1);
    cmd(0xf0);
    expect(resets.length).toBe(2);
    expect(k.a20).toBe(true);
  });

  it('0xD2 puts a byte in the output buffer as from the keyboard', () => {
    const { cmd, status, read, sink } = setup();
    cmd(0xd2, 0x5a);
    expect(status() & (I8042Status.OBF | I8042Status.AUX_OBF)).toBe(I8042Status.OBF);
    expect(sink.level(1)).toBe(true);
    expect(read()).toBe(0x5a);
  });

  it('0xD3 puts a byte in the output buffer as from the auxiliary device', () => {
    const { cmd, status, read, sink } = setup();
    cmd(0xd3, 0xa5);
    expect(status() & I8042Status.AUX_OBF).toBe(I8042Status.AUX_OBF);
    expect(sink.level(12)).toBe(true);
    expect(sink.level(1)).toBe(false);
    expect(read()).toBe(0xa5);
  });

  it('0xD4 sends the next byte to the auxiliary device, not the keyboard', () => {
    const sent: number[] = [];
    const { cmd, drain, k } = setup({ onAuxWrite: (b) => sent.push(b) });
    cmd(0xd4, 0xf4);
    expect(sent).toEqual([0xf4]);
    expect(drain()).toEqual([]);
    k.auxInput([0xfa]);
    expect(drain()).toEqual([0xfa]);
  });

  it('0xD4 without an auxiliary device answers 0xFE from the aux port', () => {
    const { cmd, status, read } = setup();
    cmd(0xd4, 0xf2);
    expect(status() & I8042Status.AUX_OBF).toBe(I8042Status.AUX_OBF);
    expect(read()).toBe(0xfe);
  });

  it('a controller command cancels a pending data byte', () => {
    const { cmd, data, k, drain } = setup();
    cmd(0x60);
    cmd(0xa8);
    data(0xee); // goes to the keyboard now
    expect(k.commandByte).toBe(0x47);
    expect(drain()).toEqual([0xee]);
  });
});

describe('I8042 keyboard commands', () => {
  it('0xFF resets: FA, AA, and drops queued keys', () => {
    const { k, data, drain } = setup();
    k.pressKey([0x10]);
    data(0xff);
    expect(drain()).toEqual([0x10, 0xfa, 0xaa]); // 0x10 was already in the output buffer
  });

  it('0xF5 disables scanning (FA), 0xF4 enables it (FA)', () => {
    const { k, data, drain } = setup();
    data(0xf5);
    expect(drain()).toEqual([0xfa]);
    expect(k.pressKey([0x1e])).toBe(false);
    expect(drain()).toEqual([]);
    data(0xf4);
    expect(drain()).toEqual([0xfa]);
    expect(k.pressKey([0x1e])).toBe(true);
    expect(drain()).toEqual([0x1e]);
  });

  it('0xF2 identifies: FA AB 83', () => {
    const { data, drain } = setup();
    data(0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x83]);
  });

  it('IRQ1 drops at each read of 0x60 and rises again for the next byte: one edge per byte', () => {
    const edges: boolean[] = [];
    const k = new I8042({ irq: { level: false, set: (l) => edges.push(l), raise() {}, lower() {}, pulse() {} } });
    k.pioWrite(DATA, 1, 0xf2); // GETID: FA AB 83 queued
    expect(edges.filter((e) => e)).toHaveLength(1);
    const bytes: number[] = [];
    edges.length = 0;
    for (let i = 0; i < 3; i++) bytes.push(k.pioRead(DATA, 1));
    expect(bytes).toEqual([0xfa, 0xab, 0x83]);
    // The line's levels (repeats of the same level are no transitions): low, high (AB), low,
    // high (83), low (empty): an edge-triggered input sees every byte.
    expect(edges.filter((e, i) => i === 0 || e !== edges[i - 1])).toEqual([false, true, false, true, false]);
  });

  it('0xEE echoes EE', () => {
    const { data, drain } = setup();
    data(0xee);
    expect(drain()).toEqual([0xee]);
  });

  it('0xED sets the LEDs: FA, then FA for the mask byte (not taken as a command)', () => {
    const { k, data, drain } = setup();
    data(0xed);
    expect(drain()).toEqual([0xfa]);
    data(0xf2); // the mask, not Identify
    expect(drain()).toEqual([0xfa]);
    expect(k.leds).toBe(0x02);
    data(0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x83]);
  });

  it('0xF0 selects the scan code set: FA, FA; 0 reports it; bad sets get FE', () => {
    const { data, drain } = setup();
    data(0xf0);
    expect(drain()).toEqual([0xfa]);
    data(0x00);
    expect(drain()).toEqual([0xfa, 0x02]);
    data(0xf0);
    data(0x03);
    expect(drain()).toEqual([0xfa, 0xfa]);
    data(0xf0);
    data(0x00);
    expect(drain()).toEqual([0xfa, 0xfa, 0x03]);
    data(0xf0);
    data(0x07);
    expect(drain()).toEqual([0xfa, 0xfe]);
  });

  it('0xF3 takes a rate byte: FA, FA', () => {
    const { data, drain } = setup();
    data(0xf3);
    data(0xf4); // the rate, not Enable
    expect(drain()).toEqual([0xfa, 0xfa]);
  });

  it('unknown commands get FE', () => {
    const { data, drain } = setup();
    data(0x12);
    expect(drain()).toEqual([0xfe]);
  });

  it('writing to the keyboard enables its interface', () => {
    const { cmd, data, drain, k } = setup();
    cmd(0xad);
    data(0xee);
    expect(k.commandByte & I8042Command.DISABLE_KBD).toBe(0);
    expect(drain()).toEqual([0xee]);
  });
});

describe('I8042 host input', () => {
  it('pressKey queues whole events or nothing when full', () => {
    const { k, drain } = setup();
    const big = new Array<number>(64).fill(0x1e);
    expect(k.pressKey(big)).toBe(true);
    // One byte is in the output buffer, so 1 free slot: a 2-byte event does not fit.
    expect(k.pressKey([0xe0, 0x48])).toBe(false);
    expect(k.pressKey([0x30])).toBe(true);
    const out = drain();
    expect(out.length).toBe(65);
    expect(out[64]).toBe(0x30);
  });

  it('keeps order across the ring wrap-around', () => {
    const { k, read } = setup();
    for (let i = 0; i < 200; i++) {
      expect(k.pressKey([i & 0xff, (i + 1) & 0xff])).toBe(true);
      expect(read()).toBe(i & 0xff);
      expect(read()).toBe((i + 1) & 0xff);
    }
  });
});

describe('I8042 reset', () => {
  it('returns to power-on state: buffers empty, command byte, A20, keyboard defaults', () => {
    const { k, cmd, data, status, sink, a20, drain } = setup();
    cmd(0x60, 0x30);
    cmd(0xdd);
    data(0xed); // (keyboard interface re-enabled by the write)
    data(0x07);
    data(0xf5);
    k.auxInput([1, 2]);
    k.reset();
    expect(k.commandByte).toBe(0x47);
    expect(k.a20).toBe(true);
    expect(a20).toEqual([false, true]);
    expect(k.leds).toBe(0);
    expect(status() & I8042Status.OBF).toBe(0);
    expect(sink.level(1)).toBe(false);
    expect(sink.level(12)).toBe(false);
    expect(k.pressKey([0x1e])).toBe(true);
    expect(drain()).toEqual([0x1e]);
  });

  it('clears a half-written command', () => {
    const { k, cmd, data } = setup();
    cmd(0x60);
    k.reset();
    data(0x00); // a keyboard command now (unknown -> FE), not the command byte
    expect(k.commandByte).toBe(0x47);
  });
});

describe('I8042 snapshots', () => {
  /** A controller in a busy state: A20 off, LEDs command awaiting its argument, every queue in use. */
  function busy() {
    const s = setup();
    s.cmd(0xdd); // A20 off
    for (let i = 0; i < 20; i++) expect(s.k.pressKey([0x1e, 0x9e])).toBe(true);
    for (let i = 0; i < 30; i++) s.read();
    for (let i = 0; i < 20; i++) expect(s.k.pressKey([0x10 + i, 0x90 + i])).toBe(true); // the keyboard ring wraps
    s.k.auxInput([0x08, 0x01, 0x02]);
    s.cmd(0x20); // a controller reply waits behind the byte in the output buffer
    s.cmd(0xd3, 0x77); // and one that looks like an auxiliary byte
    s.data(0xed); // set LEDs: the argument is still to come
    return s;
  }

  it('a fresh controller restored from a snapshot answers exactly as the original', () => {
    const a = busy();
    const snap = a.k.saveState();
    const b = setup();
    b.k.restoreState(clone(snap));
    expect(b.a20).toEqual([false]);
    expect(b.k.a20).toBe(false);
    expect(b.sink.level(1)).toBe(a.sink.level(1));
    expect(b.sink.level(12)).toBe(a.sink.level(12));
    expect(b.k.saveState()).toEqual(snap);
    const run = (s: ReturnType<typeof setup>) => {
      const out = [s.status(), ...s.drain()];
      s.data(0x05); // the LED argument
      s.cmd(0xa8); // enable the auxiliary interface
      out.push(...s.drain(), s.k.leds, s.status());
      return out;
    };
    const outA = run(a);
    expect(run(b)).toEqual(outA);
    expect(outA).toContain(0x77);
    expect(outA).toContain(0x08);
    const wrapped = Array.from({ length: 20 }, (_, i) => `${0x10 + i},${0x90 + i}`).join(',');
    expect(outA.join(',')).toContain(wrapped); // the scan codes queued across the ring's end, in order
    expect(a.k.leds).toBe(5);
  });

  it('refuses a snapshot of another version or shape and keeps its state', () => {
    const { k } = busy();
    const good = k.saveState();
    const state = good.state as Record<string, SnapshotValue>;
    expect(() => k.restoreState({ version: 3, state })).toThrow(/version 3/);
    expect(() => k.restoreState({ version: 1, state: { ...state, kbdQueue: new Uint8Array(65) } })).toThrow(/"kbdQueue"/);
    expect(() => k.restoreState({ version: 1, state: { ...state, ctrlAux: new Uint8Array(0) } })).toThrow(/"ctrlAux"/);
    expect(() => k.restoreState({ version: 1, state: { ...state, pending: 9 } })).toThrow(/"pending"/);
    expect(() => k.restoreState({ version: 1, state: { ...state, scanSet: 0 } })).toThrow(/"scanSet"/);
    expect(() => k.restoreState({ version: 1, state: { ...state, obf: 1 } })).toThrow(/"obf"/);
    expect(() => k.restoreState({ version: 1, state: 'x' })).toThrow(/not an object/);
    expect(k.saveState()).toEqual(good);
  });
});
