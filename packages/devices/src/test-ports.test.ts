import { Chipset, PioBus, type Port } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { BochsShutdownPort, DebugCon } from './index.js';

function writeString(pio: PioBus, port: number, s: string): void {
  for (const c of s) pio.write(port, 1, c.charCodeAt(0));
}

describe('DebugCon', () => {
  it('sends each byte written to port 0xE9 to onOutput', () => {
    const pio = new PioBus();
    const out: number[] = [];
    new Chipset({ pio }).add(new DebugCon({ onOutput: (b) => out.push(b) }));
    writeString(pio, 0xe9, 'hi\n');
    pio.write(0xe9, 2, 0x4142); // a wider OUT sends the low byte
    expect(String.fromCharCode(...out)).toBe('hi\nB');
    pio.write(0xe8, 1, 0x41);
    pio.write(0xea, 1, 0x41);
    expect(out).toHaveLength(4);
  });

  it('reads back 0xE9 by default, or the configured readback, at the configured port', () => {
    const pio = new PioBus();
    const chipset = new Chipset({ pio });
    chipset.add(new DebugCon());
    expect(pio.read(0xe9, 1)).toBe(0xe9);
    const out: number[] = [];
    chipset.add(new DebugCon({ name: 'dc2', iobase: 0x402, readback: 0x42, onOutput: (b) => out.push(b) }));
    expect(pio.read(0x402, 1)).toBe(0x42);
    pio.write(0x402, 1, 0x7a);
    expect(out).toEqual([0x7a]);
  });
});

describe('BochsShutdownPort', () => {
  function setup(): { pio: PioBus; dev: BochsShutdownPort; calls: () => number } {
    const pio = new PioBus();
    let n = 0;
    const dev = new Chipset({ pio }).add(new BochsShutdownPort({ onShutdown: () => n++ }));
    return { pio, dev, calls: () => n };
  }

  it('calls onShutdown once the bytes of "Shutdown" arrive in order at 0x8900', () => {
    const { pio, dev, calls } = setup();
    writeString(pio, 0x8900, 'Shutdow');
    expect(calls()).toBe(0);
    expect(dev.shutdownRequested).toBe(false);
    writeString(pio, 0x8900, 'n');
    expect(calls()).toBe(1);
    expect(dev.shutdownRequested).toBe(true);
    // The matcher starts over after a match.
    writeString(pio, 0x8900, 'n');
    expect(calls()).toBe(1);
    writeString(pio, 0x8900, 'Shutdown');
    expect(calls()).toBe(2);
  });

  it('resets the matcher on any other byte', () => {
    const { pio, calls } = setup();
    writeString(pio, 0x8900, 'Shutxdown');
    writeString(pio, 0x8900, 'down');
    writeString(pio, 0x8900, 'shutdown');
    writeString(pio, 0x8900, 'Shut\0down');
    expect(calls()).toBe(0);
    // A stray 'S' restarts the match instead of spoiling it.
    writeString(pio, 0x8900, 'ShuSShutdown');
    expect(calls()).toBe(1);
  });

  it('ignores other ports and forgets a partial match on reset', () => {
    const { pio, dev, calls } = setup();
    writeString(pio, 0x8901, 'Shutdown');
    expect(calls()).toBe(0);
    writeString(pio, 0x8900, 'Shut');
    dev.reset();
    writeString(pio, 0x8900, 'down');
    expect(calls()).toBe(0);
  });
});

describe('test port snapshots', () => {
  it('a restored Bochs shutdown port finishes a "Shutdown" begun before the snapshot', () => {
    const pioA = new PioBus();
    const a = new Chipset({ pio: pioA }).add(new BochsShutdownPort());
    writeString(pioA, 0x8900, 'Shut');
    const snap = a.saveState();

    const pio = new PioBus();
    let calls = 0;
    const b = new Chipset({ pio }).add(new BochsShutdownPort({ onShutdown: () => calls++ }));
    b.restoreState(snap);
    expect(b.saveState()).toEqual(snap);
    writeString(pio, 0x8900, 'down');
    expect([calls, b.shutdownRequested]).toEqual([1, true]);

    const done = b.saveState();
    const c = new BochsShutdownPort({ onShutdown: () => calls++ });
    c.restoreState(done);
    expect([calls, c.shutdownRequested]).toEqual([1, true]); // the request is not made again
  });

  it('refuses bad snapshots and keeps its state', () => {
    const port = new BochsShutdownPort();
    port.pioWrite(0x8900 as Port, 1, 0x53); // 'S'
    const good = port.saveState();
    expect(() => port.restoreState({ version: 2, state: good.state })).toThrow(/version 2/);
    expect(() => port.restoreState({ version: 1, state: { matched: 8, shutdownRequested: false } })).toThrow(/"matched"/);
    expect(() => port.restoreState({ version: 1, state: { matched: 1, shutdownRequested: 'no' } })).toThrow(/"shutdownRequested"/);
    expect(port.saveState()).toEqual(good);
    const con = new DebugCon();
    expect(con.saveState()).toEqual({ version: 1, state: {} });
    expect(() => con.restoreState({ version: 1, state: {} })).not.toThrow();
    expect(() => con.restoreState({ version: 9, state: {} })).toThrow(/debugcon snapshot version 9/);
    expect(() => con.restoreState({ version: 1, state: 5 })).toThrow(/not an object/);
  });
});
