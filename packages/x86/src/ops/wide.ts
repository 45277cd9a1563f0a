/**
 * 64-bit shifts on (lo, hi) halves, shared by the shift/rotate and BMI instructions. Results go
 * to the one preallocated `wide` scratch object (read it right after the call), so nothing is
 * allocated.
 */
export const wide = { lo: 0, hi: 0 };

/** (lo, hi) << c for 0 <= c <= 64 into wide.lo/wide.hi. */
export function shl64(lo: number, hi: number, c: number): void {
  if (c === 0) {
    wide.lo = lo;
    wide.hi = hi;
  } else if (c < 32) {
    wide.hi = (hi << c) | (lo >>> (32 - c));
    wide.lo = lo << c;
  } else if (c < 64) {
    wide.hi = lo << (c - 32);
    wide.lo = 0;
  } else {
    wide.hi = 0;
    wide.lo = 0;
  }
}

/** (lo, hi) >>> c for 0 <= c <= 64 into wide.lo/wide.hi. */
export function shr64(lo: number, hi: number, c: number): void {
  if (c === 0) {
    wide.lo = lo;
    wide.hi = hi;
  } else if (c < 32) {
    wide.lo = (lo >>> c) | (hi << (32 - c));
    wide.hi = hi >>> c;
  } else if (c < 64) {
    wide.lo = hi >>> (c - 32);
    wide.hi = 0;
  } else {
    wide.lo = 0;
    wide.hi = 0;
  }
}
