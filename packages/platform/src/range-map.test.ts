import { describe, expect, it } from 'vitest';
import { AddressConflictError, RangeMap } from './index.js';

describe('RangeMap', () => {
  it('finds entries by any address inside them and nothing in the gaps', () => {
    const m = new RangeMap<string>('MMIO', 0x1_0000);
    m.insert(0x100, 0x10, 'a', 'A');
    m.insert(0x200, 0x100, 'c', 'C');
    m.insert(0x110, 0x10, 'b', 'B'); // adjacent to a, inserted out of order
    expect(m.entries().map((e) => e.name)).toEqual(['a', 'b', 'c']);
    expect(m.find(0x100)?.value).toBe('A');
    expect(m.find(0x10f)?.value).toBe('A');
    expect(m.find(0x110)?.value).toBe('B');
    expect(m.find(0x2ff)?.value).toBe('C');
    expect(m.find(0x300)).toBeUndefined();
    expect(m.find(0xff)).toBeUndefined();
    expect(m.find(0x120)).toBeUndefined();
    // The last-hit cache must not return a stale entry.
    expect(m.find(0x105)?.value).toBe('A');
    expect(m.find(0x1ff)).toBeUndefined();
  });

  it.each([
    ['identical', 0x100, 0x10],
    ['overlapping the start', 0xf8, 0x10],
    ['overlapping the end', 0x10f, 0x10],
    ['inside', 0x104, 2],
    ['enclosing', 0x0, 0x1000],
  ])('rejects a range %s an existing one', (_name, base, size) => {
    const m = new RangeMap<number>('PIO', 0x1_0000);
    m.insert(0x100, 0x10, 'uart', 1);
    const attempt = () => m.insert(base, size, 'intruder', 2);
    expect(attempt).toThrow(AddressConflictError);
    expect(attempt).toThrow(/^PIO range 0x[0-9a-f]+-0x[0-9a-f]+ for "intruder" overlaps 0x100-0x10f already registered by "uart"$/);
    expect(m.size).toBe(1);
  });

  it('reports the conflicting registrations on the error', () => {
    const m = new RangeMap<number>('MMIO', 2 ** 52);
    m.insert(0xfee0_0000, 0x1000, 'lapic', 1);
    try {
      m.insert(0xfee0_0800, 0x100, 'rogue', 2);
      expect.unreachable();
    } catch (e) {
      const err = e as AddressConflictError;
      expect(err.space).toBe('MMIO');
      expect(err.existing).toMatchObject({ base: 0xfee0_0000, end: 0xfee0_1000, name: 'lapic' });
      expect(err.requested).toMatchObject({ base: 0xfee0_0800, end: 0xfee0_0900, name: 'rogue' });
    }
  });

  it.each([
    ['an empty range', 0x10, 0, /size 0 is not a positive integer/],
    ['a negative base', -1, 4, /base -1 is not a non-negative integer/],
    ['a fractional size', 0, 1.5, /size 1.5 is not a positive integer/],
    ['a range past the end', 0xfffe, 4, /0xfffe-0x10001 for "x" extends past the end of the space \(0x0-0xffff\)/],
  ])('rejects %s', (_name, base, size, message) => {
    const m = new RangeMap<number>('PIO', 0x1_0000);
    expect(() => m.insert(base, size, 'x', 0)).toThrow(RangeError);
    expect(() => m.insert(base, size, 'x', 0)).toThrow(message);
  });

  it('frees a removed range for reuse and forgets it in lookups', () => {
    const m = new RangeMap<number>('PIO', 0x1_0000);
    const e = m.insert(0x60, 1, 'kbd', 1);
    expect(m.find(0x60)).toBe(e);
    expect(m.remove(e)).toBe(true);
    expect(m.remove(e)).toBe(false);
    expect(m.find(0x60)).toBeUndefined();
    expect(m.insert(0x60, 1, 'kbd2', 2).value).toBe(2);
  });

  it('agrees with a brute-force model under random insertions', () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const m = new RangeMap<number>('PIO', 4096);
    const owner = new Int32Array(4096).fill(-1);
    for (let i = 0; i < 500; i++) {
      const base = rand(4000);
      const size = 1 + rand(40);
      let free = true;
      for (let a = base; a < base + size; a++) if (owner[a] !== -1) free = false;
      if (free) {
        m.insert(base, size, `r${i}`, i);
        owner.fill(i, base, base + size);
      } else {
        expect(() => m.insert(base, size, `r${i}`, i)).toThrow(AddressConflictError);
      }
    }
    for (let a = 0; a < 4096; a++) expect(m.find(a)?.value ?? -1).toBe(owner[a]);
  });
});
