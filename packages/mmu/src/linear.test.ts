import { describe, expect, it } from 'vitest';
import { isCanonical } from './index.js';

/** Splits a 64-bit value (as a BigInt, fine in tests) into the signed 32-bit high half. */
const hiOf = (v: bigint) => Number(BigInt.asIntN(32, v >> 32n));

describe('isCanonical', () => {
  const cases48: [bigint, boolean][] = [
    [0n, true],
    [0x0000_7fff_ffff_ffffn, true],
    [0x0000_8000_0000_0000n, false],
    [0xffff_7fff_ffff_ffffn, false],
    [0xffff_8000_0000_0000n, true],
    [0xffff_ffff_ffff_ffffn, true],
    [0x8000_0000_0000_0000n, false],
    [0x0001_0000_0000_0000n, false],
  ];
  it.each(cases48)('48-bit: %s -> %s', (addr, expected) => {
    expect(isCanonical(hiOf(addr), 48)).toBe(expected);
  });

  const cases57: [bigint, boolean][] = [
    [0x00ff_ffff_ffff_ffffn, true],
    [0x0100_0000_0000_0000n, false],
    [0xff00_0000_0000_0000n, true],
    [0xfeff_ffff_ffff_ffffn, false],
    // Canonical for LA57 but not for 4-level paging.
    [0x0000_8000_0000_0000n, true],
  ];
  it.each(cases57)('57-bit: %s -> %s', (addr, expected) => {
    expect(isCanonical(hiOf(addr), 57)).toBe(expected);
  });

  it('accepts the high half as signed or unsigned', () => {
    expect(isCanonical(0xffff_8000, 48)).toBe(true);
    expect(isCanonical(0xffff_8000 | 0, 48)).toBe(true);
  });
});
