/**
 * Every guest program runs on hvkit: the CPU programs on `MinimalBoard`, the ones that declare
 * `machine=pc` (or `smp`/`devices`) on the full PC from `createPc`, with the CPUs and devices
 * they ask for. Each must pass every check: exact vectors, error codes, CR2, pushed frames and register values,
 * as each program checks them against the Intel SDM (and, where installed, QEMU agrees; see
 * guests.test.ts and scripts/qemu-conformance.mjs).
 */
import { readFileSync } from 'node:fs';
import { createPc, MinimalBoard, type PcDeviceSpec } from '@hvkit/machine';
import { describe, expect, it } from 'vitest';
import { buildGuest, guestInfo, guestNames, parseSerial, toolchainAvailable } from '../index.mjs';

const hasToolchain = toolchainAvailable();
if (!hasToolchain) console.warn('@hvkit/guests: gcc, ld or objcopy is missing, so the guests are not run on hvkit');

/** Instructions a program may take; bench is the long one. */
const BUDGET: Record<string, number> = { bench: 2_000_000_000 };

describe.skipIf(!hasToolchain)('the guest programs on hvkit', () => {
  it.each(guestNames().filter((n) => n !== 'bench'))(
    '%s passes',
    async (name) => {
      const guest = await buildGuest(name);
      const info = guestInfo(name);
      const image = new Uint8Array(readFileSync(guest.path));
      let stop: { reason: string; status?: number };
      let serial: string;
      if (info.pc) {
        const devices: PcDeviceSpec[] = [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }];
        for (const d of info.devices) {
          if (d !== 'pc-testdev') throw new Error(`${name}: no hvkit device for -device ${d}`);
          devices.push({ type: 'pc-testdev' });
        }
        const pc = createPc({ memoryMiB: 64, cpus: info.smp, devices });
        pc.bootMultiboot(image, { cmdline: name });
        stop = pc.run(BUDGET[name] ?? 200_000_000);
        serial = pc.serialOutput;
      } else {
        const board = new MinimalBoard({ memoryMiB: 64 });
        board.bootMultiboot(image, { cmdline: name });
        stop = board.run(BUDGET[name] ?? 200_000_000);
        serial = board.serialOutput;
      }
      const log = parseSerial(serial);
      const failed = log.checks.filter((c) => c.kind === 'FAIL').map((c) => c.line);
      expect(failed).toEqual([]);
      expect(log.final).toEqual({ passed: true, name, reason: '' });
      expect(stop).toMatchObject({ reason: 'exit', status: 1 });
      expect(log.checks.filter((c) => c.kind === 'ok').length).toBeGreaterThan(0);
    },
    120_000,
  );
});
