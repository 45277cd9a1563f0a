import type { Port } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { SystemControlPort } from './system-control-port.js';

describe('SystemControlPort (port 0x92)', () => {
  it('reports A20 changes and reads back bit 1', () => {
    const seen: boolean[] = [];
    const p = new SystemControlPort({ onA20: (e) => seen.push(e) });
    expect(p.pioRead(0x92 as Port, 1)).toBe(2);
    p.pioWrite(0x92 as Port, 1, 0);
    expect(seen).toEqual([false]);
    expect(p.pioRead(0x92 as Port, 1)).toBe(0);
    p.pioWrite(0x92 as Port, 1, 0); // no change, no callback
    p.pioWrite(0x92 as Port, 1, 2);
    expect(seen).toEqual([false, true]);
  });

  it('bit 0 requests a reset and reads back as 0', () => {
    let resets = 0;
    const p = new SystemControlPort({ onReset: () => resets++ });
    p.pioWrite(0x92 as Port, 1, 3);
    expect(resets).toBe(1);
    expect(p.pioRead(0x92 as Port, 1)).toBe(2);
  });

  it('restores the stored bits from a snapshot, reporting an A20 change but never a reset', () => {
    const a = new SystemControlPort();
    a.pioWrite(0x92 as Port, 1, 0xf0 | 1); // A20 off, bits 7:4 stored, a reset pulse
    const snap = a.saveState();
    const seen: boolean[] = [];
    let resets = 0;
    const b = new SystemControlPort({ onA20: (e) => seen.push(e), onReset: () => resets++ });
    b.restoreState(snap);
    expect(b.pioRead(0x92 as Port, 1)).toBe(0xf0);
    expect([seen, resets, b.a20]).toEqual([[false], 0, false]);
    b.restoreState(snap); // no change, no callback
    expect(seen).toEqual([false]);
    expect(() => b.restoreState({ version: 2, state: { value: 2 } })).toThrow(/version 2/);
    expect(() => b.restoreState({ version: 1, state: { value: 3 } })).toThrow(/"value"/);
    expect(() => b.restoreState({ version: 1, state: { value: 0x100 } })).toThrow(/"value"/);
    expect(() => b.restoreState({ version: 1, state: null })).toThrow(/not an object/);
    expect(b.saveState()).toEqual(snap);
  });
});
