/**
 * Every guest program runs on hvkit: the CPU programs on `MinimalBoard`, the ones that declare
 * `machine=pc` (or `smp`/`devices`) on the full PC from `createPc`, with the CPUs and devices
 * they ask for, with VT-x (`virtualization: 'vmx'`) for those whose `cpu=` has `+vmx`, and with AMD SVM (`virtualization: 'svm'`, on the AMD CPU model) for those with `+svm`. Each must pass every check: exact vectors, error codes, CR2, pushed frames and register values,
 * as each program checks them against the Intel SDM (and, where installed, QEMU agrees; see
 * guests.test.ts and scripts/qemu-conformance.mjs).
 */
import { readFileSync } from 'node:fs';
import { createPc, MinimalBoard, type PcDeviceSpec } from '@hvkit/machine';
import { AMD_ZEN } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { buildGuest, guestInfo, guestNames, parseSerial, toolchainAvailable } from '../index.mjs';

const hasToolchain = toolchainAvailable();
if (!hasToolchain) console.warn('@hvkit/guests: gcc, ld or objcopy is missing, so the guests are not run on hvkit');

/** Instructions a program may take; bench is the long one. */
const BUDGET: Record<string, number> = { bench: 2_000_000_000 };
/** The benchmark workloads of pnpm bench are not run here (bench, benchfp and vmxbench check their own checksums there). */
const NOT_HERE = ['bench', 'benchfp', 'vmxbench'];

describe.skipIf(!hasToolchain)('the guest programs on hvkit', () => {
  it.each(guestNames().filter((n) => !NOT_HERE.includes(n)))(
    '%s passes',
    async (name) => {
      const guest = await buildGuest(name);
      const info = guestInfo(name);
      const image = new Uint8Array(readFileSync(guest.path));
      const virt = info.vmx ? { virtualization: 'vmx' as const } : info.svm ? { virtualization: 'svm' as const } : {};
      // SVM is AMD's: those programs run on the AMD model (the boards refuse 'svm' on an Intel one).
      const amd = info.svm ? AMD_ZEN : undefined;
      let stop: { reason: string; status?: number };
      let serial: string;
      if (info.pc) {
        const devices: PcDeviceSpec[] = [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }];
        for (const d of info.devices) {
          if (d !== 'pc-testdev') throw new Error(`${name}: no hvkit device for -device ${d}`);
          devices.push({ type: 'pc-testdev' });
        }
        const pc = createPc({ memoryMiB: 64, cpus: info.smp, devices, ...virt, ...(amd ? { cpuModel: amd } : {}) });
        pc.bootMultiboot(image, { cmdline: name });
        stop = pc.run(BUDGET[name] ?? 200_000_000);
        serial = pc.serialOutput;
      } else {
        const board = new MinimalBoard({ memoryMiB: 64, ...virt, ...(amd ? { model: amd } : {}) });
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

/**
 * A snapshot taken mid-run and restored into a fresh machine must give the same serial output
 * from then on, byte for byte: the timer-heavy `lapic` program (LAPIC timer, PIT, TSC), the
 * four-CPU `smp` program, and `pit`, cut at several points.
 */
describe.skipIf(!hasToolchain)('whole-machine snapshots on hvkit', () => {
  it.each([
    ['lapic', 1, [200_000, 3_000_000]],
    ['smp', 4, [50_000, 400_000]],
    ['pit', 1, [2_000_000, 20_000_000]],
  ] as const)(
    '%s (%i CPUs): restoring a mid-run snapshot reproduces the serial output exactly',
    async (name, cpus, cuts) => {
      const guest = await buildGuest(name);
      const image = new Uint8Array(readFileSync(guest.path));
      const devices: PcDeviceSpec[] = [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }];
      const make = () => createPc({ memoryMiB: 64, cpus, devices });
      for (const cut of cuts) {
        const a = make();
        a.bootMultiboot(image, { cmdline: name });
        expect(a.run(cut)).toMatchObject({ reason: 'budget' });
        const snapshot = structuredClone(a.saveState());
        const before = a.serialOutput.length;
        const endA = a.run(400_000_000);
        expect(endA).toMatchObject({ reason: 'exit', status: 1 });
        const b = make();
        b.restoreState(snapshot);
        const endB = b.run(400_000_000);
        expect(endB).toMatchObject({ reason: 'exit', status: 1 });
        expect(a.serialOutput.length).toBeGreaterThan(before); // the cut is mid-run
        expect(b.serialOutput).toBe(a.serialOutput.slice(before));
        expect(endB.instructions).toBe(endA.instructions);
        expect(b.stats().guestNs).toBe(a.stats().guestNs);
      }
    },
    300_000,
  );
});
