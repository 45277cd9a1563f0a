/**
 * The decoder against iced-x86, a reference x86 decoder (see scripts/decoder-campaign.ts for
 * the rules and for longer campaigns with any seed):
 * - every stream we accept, iced accepts with the same length, the same ModRM memory operand
 *   (base, index, scale, displacement, segment) and the same immediates;
 * - every stream iced accepts whose instruction belongs to the claimed ISA (integer, system,
 *   x87, MMX, SSE..SSE4.2, FXSAVE/XSAVE) we accept too, unless it is listed in NOT_IMPLEMENTED
 *   below (those raise #UD);
 * - AVX and other unclaimed instructions are #UD (hint NOPs and the listed exceptions aside);
 * - for in-scope instructions that are still #UD, our format tables already give iced's length.
 */
import { describe, expect, it } from 'vitest';
import { type CampaignResult, formatMismatch, runCampaign, STREAM_BYTES, TEST_STREAMS, TEST_SUITE } from '../scripts/decoder-campaign.js';

/**
 * In-scope instructions (by iced `Code`) that the core does not implement yet: each raises #UD.
 * Remove a line when its instruction lands (the last test below says which).
 */
const NOT_IMPLEMENTED: ReadonlySet<string> = new Set<string>([]);

const seenNotImplemented = new Set<string>();
const listedButImplemented = new Set<string>();

function check(r: CampaignResult): void {
  for (const k of r.notImplementedSeen.keys()) seenNotImplemented.add(k);
  for (const k of r.listedButImplemented) listedButImplemented.add(k);
  const lines = r.mismatches.map(formatMismatch);
  if (r.mismatchCount > lines.length) lines.push(`... and ${r.mismatchCount - lines.length} more`);
  expect(lines).toEqual([]);
  expect(r.mismatchCount).toBe(0);
}

describe('decoder vs iced-x86', () => {
  for (const part of TEST_SUITE) {
    it(`agrees on ${part.name}`, () => {
      const buf = part.streams();
      const r = runCampaign(buf, { notImplemented: NOT_IMPLEMENTED, formats: 'in-scope', maxReport: 40, flavours: part.flavours });
      expect(r.decodes).toBe((buf.length / STREAM_BYTES) * part.flavours.length);
      // Not vacuous: many streams decode to something both sides accept (few in the 0F38,
      // 0F3A and VEX maps, where the claimed ISA has few instructions).
      expect(r.bothValid).toBeGreaterThan(r.decodes / (part === TEST_SUITE[0] ? 5 : 1000));
      check(r);
    }, 120_000);
  }

  it('random streams cover the opcode maps: the suite has 1,000,000 of them', () => {
    expect(TEST_STREAMS).toBeGreaterThanOrEqual(1_000_000);
  });

  it('lists only instructions that are still not implemented', () => {
    expect([...listedButImplemented].sort()).toEqual([]);
    // Every listed instruction showed up as #UD in the campaigns above (no stale names).
    expect([...NOT_IMPLEMENTED].filter((n) => !seenNotImplemented.has(n)).sort()).toEqual([]);
  });
});
