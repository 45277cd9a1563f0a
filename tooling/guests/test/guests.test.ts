/**
 * Every guest program builds into an ELF32 Multiboot image that hvkit's own loader accepts,
 * and (where qemu-system-x86_64 is installed) passes on QEMU TCG, the oracle the x86 core's
 * system tests will be compared with.
 */
import { readFileSync } from 'node:fs';
import { loadMultiboot } from '@hvkit/machine';
import { PhysicalMemory } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { buildGuest, compareSerial, guestInfo, guestNames, parseSerial, qemuAvailable, runGuestOnQemu, toolchainAvailable } from '../index.mjs';

const names = guestNames();
const hasToolchain = toolchainAvailable();
const hasQemu = hasToolchain && qemuAvailable();
if (!hasToolchain) {
  console.warn('@hvkit/guests: gcc, ld or objcopy is missing, so the guests are neither built nor run (Debian: apt-get install gcc binutils)');
} else if (!hasQemu) {
  console.warn('@hvkit/guests: qemu-system-x86_64 is not installed, so the guests are built but not run (Debian: apt-get install qemu-system-x86)');
}

describe('the guest programs', () => {
  it('include the programs the x86 system tests need', () => {
    for (const name of ['smoke', 'smoke64', 'exceptions', 'modes', 'paging', 'paging64', 'privilege', 'syscall64', 'tasks', 'v86', 'iobitmap', 'debug', 'bench']) {
      expect(names).toContain(name);
    }
    expect(guestInfo('paging64')).toMatchObject({ bits: 64, qemuArgs: ['-cpu', 'max'], vmx: false });
    for (const name of ['vmx_insn', 'vmx_entry', 'vmx_exits', 'vmx_ept']) expect(guestInfo(name)).toMatchObject({ bits: 64, vmx: true, svm: false });
    // The SVM programs run on QEMU TCG too (it emulates SVM with -cpu max,+svm).
    for (const name of ['svm_insn', 'svm_vmrun', 'svm_intercepts', 'svm_npt', 'svm_events', 'svm_smp', 'svmbench']) {
      expect(guestInfo(name)).toMatchObject({ bits: 64, vmx: false, svm: true });
      expect(guestInfo(name).qemuArgs.slice(0, 2)).toEqual(['-cpu', 'max,+svm']);
    }
    // bench is for v86 too, which has no long mode.
    expect(guestInfo('bench').bits).toBe(32);
    expect(() => guestInfo('no-such-guest')).toThrow(/no guest program "no-such-guest"/);
  });

  it.skipIf(!hasToolchain).each(names)('%s builds into an ELF32 i386 Multiboot image that loadMultiboot boots', async (name) => {
    const guest = await buildGuest(name);
    const image = new Uint8Array(readFileSync(guest.path));
    const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
    expect(view.getUint32(0, true)).toBe(0x464c457f);
    expect(image[4]).toBe(1); // ELFCLASS32, also for 64-bit programs
    expect(view.getUint16(18, true)).toBe(3); // EM_386
    const memory = new PhysicalMemory({ ramSize: 64 << 20 });
    memory.mapRam(0, 0xa0000, 0, 'low');
    memory.mapRam(0x100000, (64 << 20) - 0x100000, 0x100000, 'high');
    const boot = loadMultiboot(memory, image, { cmdline: name });
    expect(boot.eax).toBe(0x2badb002);
    expect(boot.entry).toBeGreaterThanOrEqual(0x100000);
    expect(boot.header.offset).toBeLessThan(8192);
    // The entry point is in the first loaded segment (the .text that starts with the header).
    expect(boot.entry).toBeLessThan(boot.kernel[0]!.end);
    // A second build of unchanged sources comes from the cache.
    expect((await buildGuest(name)).cached).toBe(true);
  });
});

/** QEMU's TCG does not emulate VMX: the `+vmx` programs run on hvkit only (and on Bochs, scripts/bochs-conformance.mjs). */
const qemuNames = names.filter((n) => !guestInfo(n).vmx);

describe.skipIf(!hasQemu)('the guest programs on QEMU TCG', () => {
  it.each(names.filter((n) => guestInfo(n).vmx))('%s is not run on QEMU (TCG has no VMX)', (name) => {
    expect(guestInfo(name)).toMatchObject({ bits: 64, vmx: true });
    expect(guestInfo(name).qemuArgs).toContain('max,+vmx');
  });

  it.each(qemuNames)('%s passes', async (name) => {
    const result = await runGuestOnQemu(name);
    const failed = result.log.checks.filter((c) => c.kind === 'FAIL').map((c) => c.line);
    expect(failed).toEqual([]);
    expect(result.run.timedOut).toBe(false);
    expect(result.log.final).toEqual({ passed: true, name, reason: '' });
    expect(result.run.status).toBe(1); // the guest wrote 0 to isa-debug-exit
    expect(result.log.checks.filter((c) => c.kind === 'ok').length).toBeGreaterThan(0);
  });
});

describe('serial logs', () => {
  const qemu = ['# info', 'ok a', 'SKIP b -- QEMU TCG does not do b', 'ok c: x', 'PASS prog', ''].join('\n');

  it('parses check lines and the final line, ignoring # lines', () => {
    const log = parseSerial(qemu.replace(/\n/g, '\r\n'));
    expect(log.checks.map((c) => [c.kind, c.check])).toEqual([
      ['ok', 'a'],
      ['SKIP', 'b'],
      ['ok', 'c: x'],
    ]);
    expect(log.final).toEqual({ passed: true, name: 'prog', reason: '' });
  });

  it('tells check failures (" -- ") from the verdict ("<program>: ")', () => {
    const log = parseSerial('ok a\nFAIL some check: with a colon -- got 1, want 2\nFAIL prog: 1 check failed (first: some check)\n');
    expect(log.checks[1]).toMatchObject({ kind: 'FAIL', check: 'some check: with a colon', detail: 'got 1, want 2' });
    expect(log.checks.map((c) => c.kind)).toEqual(['ok', 'FAIL']);
    expect(log.final).toEqual({ passed: false, name: 'prog', reason: '1 check failed (first: some check)' });
  });

  it('compares a candidate with the reference, not comparing what the reference skipped', () => {
    expect(compareSerial(qemu, 'ok a\nok b\nok c: x\nPASS prog\n')).toEqual([]);
    expect(compareSerial(qemu, 'ok a\nFAIL b -- broken\nok c: x\nPASS prog\n')).toEqual([]);
    expect(compareSerial(qemu, 'ok a\nFAIL c: x -- got 1, want 2\nFAIL prog: 1 check failed\n')).toEqual([
      'reference: ok c: x\ncandidate: FAIL c: x -- got 1, want 2',
      'final: reference PASS prog, candidate FAIL prog: 1 check failed',
    ]);
    expect(compareSerial(qemu, 'ok c: x\nok d\nFAIL e -- no\nPASS prog\n')).toEqual(['missing: ok a', 'extra: FAIL e -- no']);
  });
});
