/// <reference types="node" />
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { I440fxHostBridge, PIRQ_DISABLED } from '@hvkit/devices';
import type { Hpa, IrqSink } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { AcpiTableError, buildAcpiTables, createPc, type AcpiTablesConfig } from './index.js';
import { buildDsdtAml, pcDsdtDevices, type DsdtPciRoot } from './dsdt.js';

const PM = { pm1aEvt: 0x600, pm1aCnt: 0x604, pmTmr: 0x608, gpe0: 0x620, gpe0Length: 4, sciIrq: 9, tmrValExt: true };

function config(pci: DsdtPciRoot, com1 = true): AcpiTablesConfig {
  return {
    cpus: [{ apicId: 0, enabled: true }],
    ioApic: { id: 0, address: 0xfec0_0000, gsiBase: 0 },
    pm: PM,
    hpet: { address: 0xfed0_0000, blockId: 0x8086_a201 },
    dsdt: { pci, devices: pcDsdtDevices({ com1: com1 ? { base: 0x3f8, irq: 4 } : null, hpetBase: 0xfed0_0000 }) },
    base: 0x0ffe_0000,
    rsdpAddress: 0xf_0000,
  };
}

const PC_PCI: DsdtPciRoot = { memoryBase: 0x1000_0000, pirqIrqs: [10, 10, 11, 11] };

/** The bytes of table `name` in a built blob. */
function tableBytes(t: ReturnType<typeof buildAcpiTables>, name: string): Uint8Array {
  const e = t.tables.find((x) => x.name === name)!;
  return t.blob.bytes.subarray(e.address - t.blob.address, e.address - t.blob.address + e.length);
}

// ---- ACPICA, when installed: iasl (disassembler) and acpiexec (namespace and resource manager) ----

const probe = (tool: string): boolean => {
  const r = spawnSync(tool, ['-v'], { encoding: 'utf8' });
  return !r.error && /Intel ACPI Component Architecture/.test(`${r.stdout}${r.stderr}`);
};
const haveIasl = probe('iasl');
const haveAcpiexec = probe('acpiexec');

function run(tool: string, args: string[], cwd: string): string {
  const r = spawnSync(tool, args, { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  return `${r.stdout}${r.stderr}`;
}

/** Disassembles `dsdt` with iasl: the tool's output and the ASL it wrote. */
function disassemble(dsdt: Uint8Array): { out: string; asl: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'hvkit-dsdt-'));
  try {
    writeFileSync(path.join(dir, 'dsdt.dat'), dsdt);
    const out = run('iasl', ['-d', 'dsdt.dat'], dir);
    return { out, asl: readFileSync(path.join(dir, 'dsdt.dsl'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The body of `Device (NAME) { ... }` in iasl's output (up to the next Device at the same depth). */
function deviceBlock(asl: string, device: string): string {
  const start = asl.indexOf(`Device (${device})`);
  expect(start, device).toBeGreaterThanOrEqual(0);
  const next = asl.indexOf('\n        Device (', start + 1);
  return asl.slice(start, next < 0 ? undefined : next);
}

/** `_PRT` entries as iasl prints them: [slot, pin, link]. */
function prtEntries(asl: string): [number, number, string][] {
  const num = (s: string): number => (s === 'Zero' ? 0 : s === 'One' ? 1 : Number.parseInt(s, 16));
  const re = /Package \(0x04\)\s*\{\s*(0x[0-9A-F]+|Zero|One),\s*(0x[0-9A-F]+|Zero|One),\s*\\_SB\.(LNK[A-D]),\s*Zero\s*\}/g;
  return [...asl.matchAll(re)].map((m) => [num(m[1]!) >>> 16, num(m[2]!), m[3]!]);
}

/** The one interrupt each link's _CRS names, and its flags, as iasl prints them. */
function linkIrq(asl: string, link: string): { irq: number; flags: string } {
  const block = deviceBlock(asl, link);
  const m = /Name \(_CRS, ResourceTemplate \(\)[\s\S]*?Interrupt \(([^)]*)\)\s*\{\s*0x([0-9A-F]+),\s*\}/.exec(block);
  expect(m, link).not.toBeNull();
  return { irq: Number.parseInt(m![2]!, 16), flags: m![1]! };
}

describe.skipIf(!haveIasl)('the DSDT, disassembled by iasl (ACPICA 20200925)', () => {
  const t = buildAcpiTables(config(PC_PCI));
  const { out, asl } = disassemble(tableBytes(t, 'DSDT'));

  it('disassembles without a warning or error', () => {
    expect(out).toMatch(/Disassembly completed/);
    expect(out).not.toMatch(/Warning|Error|Invalid/i);
    expect(asl).not.toMatch(/Invalid|Unknown|Incorrect|Unresolved|External/);
  });

  it('declares the PCI root bridge with its bus, config ports and windows', () => {
    const pci = deviceBlock(asl, 'PCI0');
    expect(pci).toMatch(/Name \(_HID, EisaId \("PNP0A03"\)/);
    expect(pci).toMatch(/Name \(_UID, Zero\)/);
    expect(pci).toMatch(/Name \(_BBN, Zero\)/);
    expect(pci).toMatch(/WordBusNumber \(ResourceProducer, MinFixed, MaxFixed, PosDecode,\s*0x0000,\s*\/\/ Granularity\s*0x0000,\s*\/\/ Range Minimum\s*0x00FF,/);
    expect(pci).toMatch(/IO \(Decode16,\s*0x0CF8,\s*\/\/ Range Minimum\s*0x0CF8,\s*\/\/ Range Maximum\s*0x01,\s*\/\/ Alignment\s*0x08,/);
    expect(pci).toMatch(/WordIO \(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,\s*0x0000,\s*\/\/ Granularity\s*0x0000,\s*\/\/ Range Minimum\s*0x0CF7,/);
    expect(pci).toMatch(/WordIO \(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,\s*0x0000,\s*\/\/ Granularity\s*0x0D00,\s*\/\/ Range Minimum\s*0xFFFF,/);
    expect(pci).toMatch(/DWordMemory \(ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,\s*0x00000000,\s*\/\/ Granularity\s*0x000A0000,\s*\/\/ Range Minimum\s*0x000BFFFF,/);
    expect(pci).toMatch(
      /DWordMemory \(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,\s*0x00000000,\s*\/\/ Granularity\s*0x10000000,\s*\/\/ Range Minimum\s*0xFEBFFFFF,\s*\/\/ Range Maximum\s*0x00000000,\s*\/\/ Translation Offset\s*0xEEC00000,/,
    );
    expect(pci).toMatch(/Name \(_PRT, Package \(0x80\)/);
  });

  it('routes every slot and pin through links that say level, active high, shared', () => {
    const entries = prtEntries(asl);
    expect(entries.length).toBe(128);
    for (const l of ['LNKA', 'LNKB', 'LNKC', 'LNKD']) {
      expect(deviceBlock(asl, l)).toMatch(/Name \(_HID, EisaId \("PNP0C0F"\)/);
      expect(deviceBlock(asl, l)).toMatch(/Name \(_PRS, ResourceTemplate/);
      expect(deviceBlock(asl, l)).toMatch(/Method \(_SRS, 1, NotSerialized\)/);
      expect(linkIrq(asl, l).flags).toBe('ResourceConsumer, Level, ActiveHigh, Shared, ,, ');
    }
    expect(['LNKA', 'LNKB', 'LNKC', 'LNKD'].map((l) => linkIrq(asl, l).irq)).toEqual([10, 10, 11, 11]);
  });

  it('declares the ISA devices with their ports, IRQs and memory', () => {
    const expectDevice = (dev: string, hid: string, ...resources: RegExp[]): void => {
      const block = deviceBlock(asl, dev);
      expect(block).toMatch(new RegExp(`Name \\(_HID, EisaId \\("${hid}"\\)`));
      for (const r of resources) expect(block, `${dev} ${String(r)}`).toMatch(r);
    };
    const io = (base: number, length: number): RegExp => {
      const h = (v: number, w: number): string => `0x${v.toString(16).toUpperCase().padStart(w, '0')}`;
      return new RegExp(`IO \\(Decode16,\\s*${h(base, 4)},\\s*// Range Minimum\\s*${h(base, 4)},\\s*// Range Maximum\\s*0x01,\\s*// Alignment\\s*${h(length, 2)},`);
    };
    const irq = (n: number): RegExp => new RegExp(`IRQNoFlags \\(\\)\\s*\\{${n}\\}`);
    expectDevice('KBD', 'PNP0303', io(0x60, 1), io(0x64, 1), irq(1), /Method \(_STA, 0, NotSerialized\)\s*\/\/ _STA: Status\s*\{\s*Return \(0x0F\)/);
    expectDevice('MOU', 'PNP0F13', irq(12));
    expectDevice('RTC', 'PNP0B00', io(0x70, 2), irq(8));
    expectDevice('COM1', 'PNP0501', io(0x3f8, 8), irq(4));
    expectDevice('HPET', 'PNP0103', /Memory32Fixed \(ReadOnly,\s*0xFED00000,\s*\/\/ Address Base\s*0x00000400,/);
    expectDevice('TMR', 'PNP0100', io(0x40, 4), irq(0));
    expectDevice('PIC', 'PNP0000', io(0x20, 2), io(0xa0, 2), io(0x4d0, 2), irq(2));
    expectDevice('SPKR', 'PNP0800', io(0x61, 1));
    expectDevice('FPU', 'PNP0C04', io(0xf0, 1), irq(13));
    expect(asl).toMatch(/Name \(_S5, Package \(0x04\)/);
  });

  it('leaves COM1 out when the board has none, and the PIRQs that reach no IRQ', () => {
    const t2 = buildAcpiTables(config({ memoryBase: 0x800_0000, pirqIrqs: [11, null, 5, null] }, false));
    const { out: out2, asl: asl2 } = disassemble(tableBytes(t2, 'DSDT'));
    expect(out2).not.toMatch(/Warning|Error/i);
    expect(asl2).not.toMatch(/Device \(COM1\)/);
    expect(asl2).not.toMatch(/LNKB|LNKD/);
    expect(prtEntries(asl2).length).toBe(64);
    expect(linkIrq(asl2, 'LNKA').irq).toBe(11);
    expect(linkIrq(asl2, 'LNKC').irq).toBe(5);
    expect(asl2).toMatch(/0x08000000,\s*\/\/ Range Minimum\s*0xFEBFFFFF,/);
  });
});

describe.skipIf(!haveIasl)('the _PRT matches the board: I440fxHostBridge INTx routing', () => {
  for (const routes of [
    [10, 10, 11, 11],
    [5, 9, 11, 10],
  ] as [number, number, number, number][]) {
    it(`sends each slot's INTA-D to the IRQ its link names (PIRQ routes ${routes.join(', ')})`, () => {
      const raised: number[] = [];
      const sink: IrqSink = { setIrq: (line, level) => void (level && raised.push(line)) };
      const bridge = new I440fxHostBridge({ irq: sink, pirqRoutes: routes });
      const { asl } = disassemble(tableBytes(buildAcpiTables(config({ memoryBase: 0x1000_0000, pirqIrqs: routes })), 'DSDT'));
      const entries = prtEntries(asl);
      expect(entries.length).toBe(128);
      const seen = new Set<string>();
      for (const [slot, pin, link] of entries) {
        seen.add(`${slot}.${pin}`);
        raised.length = 0;
        const line = bridge.intx({ bus: 0, device: slot, function: 0 }, pin + 1);
        line.raise();
        line.lower();
        // The ISA IRQ the hardware raised is the one the link's _CRS names (and, with the
        // board's ISA IRQ n -> I/O APIC pin n wiring, the GSI).
        expect(raised, `slot ${slot} pin ${pin}`).toEqual([linkIrq(asl, link).irq]);
      }
      expect(seen.size).toBe(128);
    });
  }
});

describe.skipIf(!haveAcpiexec)('acpiexec (ACPICA 20200925) loads the namespace and converts the resources', () => {
  it('loads the tables without a warning and decodes the links and the root bridge', () => {
    // 64 _PRT entries: acpiexec's debugger converts a routing table into a 16 KiB buffer,
    // which 128 entries overflow (an OS allocates what it needs).
    const t = buildAcpiTables(config({ memoryBase: 0x1000_0000, pirqIrqs: [10, null, 11, null] }));
    const dir = mkdtempSync(path.join(tmpdir(), 'hvkit-dsdt-'));
    try {
      const files = ['FACS', 'DSDT', 'FACP', 'APIC', 'HPET'].map((n) => {
        writeFileSync(path.join(dir, `${n}.dat`), tableBytes(t, n));
        return `${n}.dat`;
      });
      const out = run('acpiexec', ['-b', 'resources \\_SB.PCI0; resources \\_SB.LNKC; evaluate \\_SB.COM1._STA; evaluate \\_SB.HPET._CRS', ...files], dir);
      expect(out).not.toMatch(/ACPI Warning|ACPI Error|Firmware Warning|Firmware Error|Could not/);
      // The debugger also tries _SRS on every device; the root bridge's resources are fixed.
      expect(out.match(/AcpiSetCurrentResources failed: \w+/g)).toEqual(['AcpiSetCurrentResources failed: AE_NOT_FOUND']);
      expect(out).toMatch(/Table \[DSDT: HVKITPC \] \(id \d+\) - +\d+ Objects with +12 Devices/);
      expect(out).toMatch(/PCI IRQ Routing Table Package\s*Address : 000000000001FFFF\s*Pin : 00000000\s*Source : \\_SB_\.LNKA/);
      expect(out).toMatch(/PCI IRQ Routing Table Package\s*Address : 000000000001FFFF\s*Pin : 00000002\s*Source : \\_SB_\.LNKC/);
      expect(out).toMatch(/Extended IRQ Resource\s*Type : ResourceConsumer\s*Triggering : Level\s*Polarity : ActiveHigh\s*Sharing : Shared[\s\S]*Dword00 : 0000000B/);
      expect(out).toMatch(/Resource Type : Bus Number Range[\s\S]*Address Maximum : 00FF/);
      expect(out).toMatch(/Evaluation of \\_SB\.COM1\._STA returned[\s\S]*\[Integer\] = 000000000000000F/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the DSDT builder', () => {
  it('overrides the PCI IRQs in the MADT as level-triggered, active high', () => {
    const t = buildAcpiTables(config(PC_PCI));
    const madt = tableBytes(t, 'APIC');
    const overrides: number[][] = [];
    for (let at = 44; at < madt.length; at += madt[at + 1]!) {
      if (madt[at] === 2) overrides.push([madt[at + 3]!, madt[at + 4]!, madt[at + 8]! | (madt[at + 9]! << 8)]);
    }
    expect(overrides).toEqual([
      [0, 2, 0x0],
      [9, 9, 0xd],
      [10, 10, 0xd],
      [11, 11, 0xd],
    ]);
  });

  it('keeps the DSDT to \\_S5_ without devices', () => {
    expect([...buildDsdtAml({}, 0)]).toEqual([0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00]);
  });

  it('refuses PIRQ routes to IRQs a PCI interrupt cannot use', () => {
    expect(() => buildAcpiTables(config({ memoryBase: 0x1000_0000, pirqIrqs: [0, 10, 11, 11] }))).toThrow(AcpiTableError);
    expect(() => buildAcpiTables(config({ memoryBase: 0x1000_0000, pirqIrqs: [8, 10, 11, 11] }))).toThrow(/IRQ 8/);
  });

  it('is what createPc writes: COM1 only with a serial port, the window from the top of low RAM', () => {
    const dsdtOf = (pc: ReturnType<typeof createPc>): Uint8Array => {
      const read = (at: number, n: number): Uint8Array => {
        const b = new Uint8Array(n);
        pc.memory.read(at as Hpa, b);
        return b;
      };
      const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset);
      const rsdp = read(0xf_0000, 36);
      expect(String.fromCharCode(...rsdp.subarray(0, 8))).toBe('RSD PTR ');
      const xsdt = Number(dv(rsdp).getBigUint64(24, true));
      const xlen = dv(read(xsdt, 8)).getUint32(4, true);
      for (let i = 36; i < xlen; i += 8) {
        const a = Number(dv(read(xsdt + i, 8)).getBigUint64(0, true));
        if (String.fromCharCode(...read(a, 4)) === 'FACP') {
          const dsdt = Number(dv(read(a + 140, 8)).getBigUint64(0, true));
          return read(dsdt, dv(read(dsdt, 8)).getUint32(4, true));
        }
      }
      throw new Error('no FADT');
    };
    const has = (bytes: Uint8Array, s: string): boolean => Buffer.from(bytes).includes(Buffer.from(s, 'latin1'));
    const withCom1 = dsdtOf(createPc({ memoryMiB: 64 }));
    const without = dsdtOf(createPc({ memoryMiB: 64, noSerial: true }));
    expect(has(withCom1, 'COM1')).toBe(true);
    expect(has(without, 'COM1')).toBe(false);
    for (const d of ['PCI0', 'LNKA', 'LNKD', 'KBD_', 'MOU_', 'RTC_', 'HPET', 'TMR_', 'PIC_', '_S5_']) expect(has(withCom1, d), d).toBe(true);
    // DWordMemory window: _MIN 0x04000000 (64 MiB), _MAX 0xFEBFFFFF.
    expect(has(withCom1, '\x00\x00\x00\x04\xff\xff\xbf\xfe')).toBe(true);
    if (haveIasl) expect(disassemble(withCom1).out).not.toMatch(/Warning|Error/i);
    expect(PIRQ_DISABLED).toBe(0x80);
  });
});
