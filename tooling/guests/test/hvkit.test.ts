/**
 * Every guest program runs on hvkit's own x86 core (`MinimalBoard` from `@hvkit/machine`) and
 * must pass every check: exact vectors, error codes, CR2, pushed frames and register values,
 * as each program checks them against the Intel SDM (and, where installed, QEMU agrees; see
 * guests.test.ts and scripts/qemu-conformance.mjs).
 */
import { readFileSync } from 'node:fs';
import { MinimalBoard } from '@hvkit/machine';
import { describe, expect, it } from 'vitest';
import { buildGuest, guestNames, parseSerial, toolchainAvailable } from '../index.mjs';

const hasToolchain = toolchainAvailable();
if (!hasToolchain) console.warn('@hvkit/guests: gcc, ld or objcopy is missing, so the guests are not run on hvkit');

/** Instructions a program may take; bench is the long one. */
const BUDGET: Record<string, number> = { bench: 2_000_000_000 };

describe.skipIf(!hasToolchain)('the guest programs on hvkit', () => {
  it.each(guestNames().filter((n) => n !== 'bench'))(
    '%s passes',
    async (name) => {
      const guest = await buildGuest(name);
      const board = new MinimalBoard({ memoryMiB: 64 });
      board.bootMultiboot(new Uint8Array(readFileSync(guest.path)), { cmdline: name });
      const stop = board.run(BUDGET[name] ?? 200_000_000);
      const log = parseSerial(board.serialOutput);
      const failed = log.checks.filter((c) => c.kind === 'FAIL').map((c) => c.line);
      expect(failed).toEqual([]);
      expect(log.final).toEqual({ passed: true, name, reason: '' });
      expect(stop).toMatchObject({ reason: 'exit', status: 1 });
      expect(log.checks.filter((c) => c.kind === 'ok').length).toBeGreaterThan(0);
    },
    120_000,
  );
});
