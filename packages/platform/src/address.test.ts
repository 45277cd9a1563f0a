import { describe, expect, it } from 'vitest';
import { gpa, hex, hpa, iova, port, PHYS_ADDR_LIMIT } from './index.js';

describe('branded addresses', () => {
  it('accept the full valid range and return the same number', () => {
    expect(hpa(0)).toBe(0);
    expect(hpa(PHYS_ADDR_LIMIT - 1)).toBe(2 ** 52 - 1);
    expect(gpa(0xfee0_0000)).toBe(0xfee0_0000);
    expect(iova(2 ** 53 - 1)).toBe(Number.MAX_SAFE_INTEGER);
    expect(port(0xffff)).toBe(0xffff);
  });

  it.each([
    ['hpa past MAXPHYADDR', () => hpa(2 ** 52), /host-physical address 0x10000000000000 is out of range/],
    ['negative gpa', () => gpa(-1), /guest-physical address -1 is out of range/],
    ['fractional hpa', () => hpa(1.5), /out of range/],
    ['NaN iova', () => iova(Number.NaN), /IOVA NaN is out of range/],
    ['port 0x10000', () => port(0x1_0000), /I\/O port 0x10000 is out of range: expected an integer from 0 to 0xffff/],
  ])('reject %s with a RangeError naming the value', (_name, make, message) => {
    expect(make).toThrow(RangeError);
    expect(make).toThrow(message);
  });

  it('formats hex with padding', () => {
    expect(hex(0x3f8)).toBe('0x3f8');
    expect(hex(0xa, 4)).toBe('0x000a');
  });
});
