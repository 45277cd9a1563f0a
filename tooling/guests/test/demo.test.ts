/**
 * The README's demo boots the bundled image `prebuilt/demo.elf` (built from programs/demo.c,
 * committed so the demo needs no compiler) on hvkit's PC. It must pass there on four CPUs:
 * every CPU brought up with INIT + one SIPI and reporting its x2APIC ID in x2APIC mode (SDM
 * Vol. 3 §10.4, §11.12), the ACPI tables found through the RSDP (ACPI 6.5 §5.2.5), and the
 * PASS verdict written to isa-debug-exit (status 1, as QEMU reports it). Where gcc is
 * installed, the program built from source must print exactly what the bundled image prints,
 * so the bundle cannot drift from its source unnoticed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createPc, type PcDeviceSpec, type PcStop } from '@hvkit/machine';
import { describe, expect, it } from 'vitest';
import { buildGuest, GUESTS_DIR, parseSerial, toolchainAvailable, type SerialLog } from '../index.mjs';

const BUNDLED = path.join(GUESTS_DIR, 'prebuilt', 'demo.elf');
const hasToolchain = toolchainAvailable();

/** Boots an image the way `pnpm run demo` does: 4 CPUs, 128 MiB, isa-debug-exit at 0xF4/4. */
function bootDemo(image: Uint8Array): { stop: PcStop; serial: string } {
  const devices: PcDeviceSpec[] = [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }];
  const pc = createPc({ cpus: 4, memoryMiB: 128, devices });
  pc.bootMultiboot(image, { cmdline: 'demo' });
  const stop = pc.run(200_000_000);
  return { stop, serial: pc.serialOutput };
}

describe('the bundled demo guest (prebuilt/demo.elf)', () => {
  const image = new Uint8Array(readFileSync(BUNDLED));
  let run: { stop: PcStop; serial: string; log: SerialLog; lines: string[] } | undefined;
  /** One boot of the bundled image, shared by the tests below. */
  const demo = () => {
    if (!run) {
      const { stop, serial } = bootDemo(image);
      run = { stop, serial, log: parseSerial(serial), lines: serial.split('\n').map((l) => l.trimEnd()) };
    }
    return run;
  };

  it('is a small ELF32 Multiboot image whose checksum the provenance README records', () => {
    expect(image.byteLength).toBeLessThan(64 * 1024);
    expect([...image.subarray(0, 5)]).toEqual([0x7f, 0x45, 0x4c, 0x46, 1]); // ELF, ELFCLASS32
    const sha256 = createHash('sha256').update(image).digest('hex');
    expect(readFileSync(path.join(GUESTS_DIR, 'prebuilt', 'README.md'), 'utf8')).toContain(sha256);
  });

  it('passes on the 4-CPU PC and exits through isa-debug-exit with status 1', () => {
    const { log, stop, lines } = demo();
    expect(log.checks.filter((c) => c.kind !== 'ok').map((c) => c.line)).toEqual([]);
    expect(log.final).toEqual({ passed: true, name: 'demo', reason: '' });
    expect(stop).toMatchObject({ reason: 'exit', status: 1 });
    expect(lines).toContain('# hvkit demo: an x86-64 PC booted from a Multiboot kernel');
    expect(lines).toContain('ok long mode active: IA32_EFER.LME = LMA = 1, CR0.PG = 1, CR4.PAE = 1');
    expect(lines.find((l) => l.startsWith('# RAM: '))).toMatch(/^# RAM: 128 MiB installed \(fw_cfg RAM_SIZE\); the memory map has \d+ ranges, 12[67] MiB of it/);
  });

  it('brings up every CPU: one line per CPU, in order, each in x2APIC mode with its own ID', () => {
    const { lines } = demo();
    const cpuLines = lines.filter((l) => /^\w+ cpu \d+ online/.test(l));
    expect(cpuLines).toEqual([0, 1, 2, 3].map((i) => `ok cpu ${i} online (x2APIC ID ${i})`));
    expect(lines).toContain('ok all 4 CPUs came online after INIT + one SIPI');
    expect(lines).toContain('ok MADT: 4 enabled CPUs');
  });

  it('lists the ACPI tables it found through the RSDP and XSDT', () => {
    const { log, lines } = demo();
    const tables = lines.find((l) => l.startsWith('# ACPI tables: '))?.slice('# ACPI tables: '.length).split(' ');
    expect(tables).toEqual(expect.arrayContaining(['FACP', 'APIC', 'HPET', '(DSDT)']));
    for (const check of [
      'ACPI: the RSDP, on a 16-byte boundary in 0xE0000-0xFFFFF, checksum 0',
      'ACPI: a FADT ("FACP") pointing to a DSDT',
      'ACPI: a MADT ("APIC")',
      'ACPI: an HPET table ("HPET") with the HPET at 0xFED00000',
    ]) {
      expect(log.checks).toContainEqual(expect.objectContaining({ kind: 'ok', check }));
    }
    expect(lines.find((l) => l.startsWith('# RSDP at '))).toMatch(/-> XSDT at 0x[0-9a-f]+$/);
  });

  it('counts timer interrupts that wake HLT (the LAPIC timer, and the PIT through the I/O APIC)', () => {
    const { lines } = demo();
    expect(lines).toContain('ok LAPIC timer: periodic interrupts on vector 0x40 woke HLT 5 times');
    expect(lines).toContain('ok PIT: IRQ 0 through the I/O APIC (the MADT\'s pin) woke HLT 3 times');
    expect(lines).toContain('# PIT: IRQ 0 -> I/O APIC pin 2 -> vector 0x41: 3 interrupts');
    // hvkit's TSC runs at 100 MHz of guest time and its APIC timer at 1 GHz: 1 ms per tick.
    expect(lines).toContain('# LAPIC timer: 5 ticks, about 100000 TSC cycles each');
  });

  it.skipIf(!hasToolchain)('matches its source: programs/demo.c built now prints exactly the same', async () => {
    const built = await buildGuest('demo');
    const fresh = bootDemo(new Uint8Array(readFileSync(built.path)));
    const bundled = demo();
    expect(fresh.serial).toBe(bundled.serial);
    expect(fresh.stop).toMatchObject({ reason: bundled.stop.reason, status: 1 });
  });
});
