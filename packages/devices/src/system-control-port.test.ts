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
});
