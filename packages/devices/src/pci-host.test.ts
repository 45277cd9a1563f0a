import { Chipset, IrqLevels, PioBus, type AccessSize, type Device, type PciAddress, type PciDevice, type SnapshotValue } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { I440fxHostBridge, PciCommand, PciConfigSpace, PciStatus, PIRQ_DISABLED, pirqOf } from './index.js';

function cfgAddr(bus: number, dev: number, fn: number, reg: number, enable = true): number {
  return ((enable ? 0x8000_0000 : 0) | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;
}

function setup(irq?: IrqLevels): { pio: PioBus; host: I440fxHostBridge; chipset: Chipset } {
  const pio = new PioBus();
  const host = new I440fxHostBridge({ irq });
  const chipset = new Chipset({ pio, pci: host });
  chipset.add(host);
  return { pio, host, chipset };
}

function read(pio: PioBus, bus: number, dev: number, fn: number, reg: number, size: AccessSize = 4): number {
  pio.write(0xcf8, 4, cfgAddr(bus, dev, fn, reg));
  return pio.read(0xcfc + (reg & 3), size);
}

function write(pio: PioBus, bus: number, dev: number, fn: number, reg: number, size: AccessSize, value: number): void {
  pio.write(0xcf8, 4, cfgAddr(bus, dev, fn, reg));
  pio.write(0xcfc + (reg & 3), size, value);
}

/** A recording function, to see exactly which offset and size a data access reaches. */
class Probe implements PciDevice {
  readonly reads: [number, number][] = [];
  readonly writes: [number, number, number][] = [];
  constructor(readonly pciAddress?: PciAddress) {}
  pciConfigRead(offset: number, size: AccessSize): number {
    this.reads.push([offset, size]);
    return 0x1234_5678 & (size === 4 ? 0xffff_ffff : size === 2 ? 0xffff : 0xff);
  }
  pciConfigWrite(offset: number, size: AccessSize, value: number): void {
    this.writes.push([offset, size, value]);
  }
}

class PciCard implements Device {
  constructor(
    readonly name: string,
    readonly fn: PciDevice,
  ) {}
  supportsPci(): PciDevice {
    return this.fn;
  }
}

describe('I440fxHostBridge configuration mechanism 1', () => {
  it('presents the i440FX PMC at 00:00.0: 8086:1237, class 060000, header type 0', () => {
    const { pio } = setup();
    expect(read(pio, 0, 0, 0, 0x00)).toBe(0x1237_8086);
    expect(read(pio, 0, 0, 0, 0x08) >>> 8).toBe(0x06_00_00);
    expect(read(pio, 0, 0, 0, 0x0e, 1)).toBe(0);
  });

  it('decodes bus, device, function and register from CONFIG_ADDRESS', () => {
    const { pio, host } = setup();
    const probe = new Probe();
    host.register(probe, { bus: 3, device: 17, function: 5 }, 'probe');
    expect(read(pio, 3, 17, 5, 0x40)).toBe(0x1234_5678);
    expect(probe.reads).toEqual([[0x40, 4]]);
    // Neighbouring bus, device and function numbers are different functions: all absent.
    expect(read(pio, 2, 17, 5, 0x40)).toBe(0xffff_ffff);
    expect(read(pio, 3, 16, 5, 0x40)).toBe(0xffff_ffff);
    expect(read(pio, 3, 17, 4, 0x40)).toBe(0xffff_ffff);
    expect(read(pio, 3, 17, 5, 0xfc)).toBe(0x1234_5678);
    expect(probe.reads).toEqual([
      [0x40, 4],
      [0xfc, 4],
    ]);
    // Reserved bits 30:24 and 1:0 read back as zero.
    pio.write(0xcf8, 4, 0xffff_ffff);
    expect(pio.read(0xcf8, 4)).toBe(0x80ff_fffc);
  });

  it('answers CONFIG_DATA only while the enable bit is set', () => {
    const { pio, host } = setup();
    pio.write(0xcf8, 4, cfgAddr(0, 0, 0, 0, false));
    expect(pio.read(0xcfc, 4)).toBe(0xffff_ffff);
    pio.write(0xcfc, 1, 0xff); // dropped
    const interruptLine = host.config.interruptLine;
    pio.write(0xcf8, 4, cfgAddr(0, 0, 0, 0x3c, false));
    pio.write(0xcfc, 1, 0x5a);
    expect(host.config.interruptLine).toBe(interruptLine);
    pio.write(0xcf8, 4, cfgAddr(0, 0, 0, 0));
    expect(pio.read(0xcfc, 4)).toBe(0x1237_8086);
  });

  it('reads all ones of the access width from absent functions and drops writes to them', () => {
    const { pio } = setup();
    expect(read(pio, 0, 5, 0, 0, 4)).toBe(0xffff_ffff);
    expect(read(pio, 0, 5, 0, 2, 2)).toBe(0xffff);
    expect(read(pio, 0, 0, 1, 1, 1)).toBe(0xff);
    write(pio, 0, 5, 0, 0x3c, 1, 0x0b);
    expect(read(pio, 0, 5, 0, 0x3c, 1)).toBe(0xff);
  });

  it('routes byte, word and dword CONFIG_DATA accesses to register + (port & 3)', () => {
    const { pio, host } = setup();
    const probe = new Probe();
    host.register(probe, { bus: 0, device: 2, function: 0 }, 'probe');
    pio.write(0xcf8, 4, cfgAddr(0, 2, 0, 0x10));
    pio.read(0xcfc, 4);
    pio.read(0xcfe, 2);
    pio.read(0xcfd, 1);
    pio.read(0xcff, 1);
    pio.write(0xcfc, 4, 0xdead_beef);
    pio.write(0xcfe, 2, 0xbeef);
    pio.write(0xcff, 1, 0xef);
    expect(probe.reads).toEqual([
      [0x10, 4],
      [0x12, 2],
      [0x11, 1],
      [0x13, 1],
    ]);
    expect(probe.writes).toEqual([
      [0x10, 4, 0xdead_beef],
      [0x12, 2, 0xbeef],
      [0x13, 1, 0xef],
    ]);
    // Against the host bridge's real header: bytes and words of the identity dword.
    expect(read(pio, 0, 0, 0, 0x00, 1)).toBe(0x86);
    expect(read(pio, 0, 0, 0, 0x01, 1)).toBe(0x80);
    expect(read(pio, 0, 0, 0, 0x02, 2)).toBe(0x1237);
    expect(read(pio, 0, 0, 0, 0x03, 1)).toBe(0x12);
  });

  it('takes only dword accesses at 0xCF8, leaving 0xCF9 to other devices', () => {
    const { pio, host } = setup();
    pio.write(0xcf8, 4, cfgAddr(0, 0, 0, 0));
    pio.write(0xcf8, 1, 0);
    pio.write(0xcf8, 2, 0);
    expect(host.configAddress).toBe(0x8000_0000);
    expect(pio.read(0xcf8, 1)).toBe(0xff);
    expect(pio.read(0xcf8, 2)).toBe(0xffff);
    expect(pio.find(0xcf9)).toBeUndefined();
    expect(pio.find(0xcfb)).toBeUndefined();
  });

  it('attaches chipset devices at their own address or the first free slot, and rejects conflicts', () => {
    const { pio, host, chipset } = setup();
    const a = new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1000, classCode: 0x02_00_00 });
    const b = new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1001, classCode: 0x01_00_00 }, { bus: 0, device: 5, function: 0 });
    chipset.add(new PciCard('a', a));
    chipset.add(new PciCard('b', b));
    expect(chipset.pciAddressOf('a')).toEqual({ bus: 0, device: 1, function: 0 });
    expect(chipset.pciAddressOf('b')).toEqual({ bus: 0, device: 5, function: 0 });
    expect(read(pio, 0, 1, 0, 0)).toBe(0x1000_1af4);
    expect(read(pio, 0, 5, 0, 0)).toBe(0x1001_1af4);
    expect(() => host.register(new Probe(), { bus: 0, device: 5, function: 0 }, 'c')).toThrow(/taken by "b"/);
    expect(() => host.register(new Probe(), { bus: 0, device: 32, function: 0 }, 'd')).toThrow(/out of range/);
  });
});

describe('PciConfigSpace', () => {
  const ident = { vendorId: 0x1234, deviceId: 0x5678, classCode: 0x03_00_01, revisionId: 7, interruptPin: 1 };

  it('keeps identity fields and the interrupt pin read-only', () => {
    const c = new PciConfigSpace(ident);
    c.pciConfigWrite(0x00, 4, 0);
    c.pciConfigWrite(0x08, 4, 0);
    c.pciConfigWrite(0x0e, 1, 0x80);
    c.pciConfigWrite(0x2c, 4, 0xffff_ffff);
    c.pciConfigWrite(0x3c, 2, 0x040b);
    expect(c.pciConfigRead(0x00, 4)).toBe(0x5678_1234);
    expect(c.pciConfigRead(0x08, 4)).toBe(0x0300_0107);
    expect(c.pciConfigRead(0x0e, 1)).toBe(0);
    expect(c.pciConfigRead(0x2c, 4)).toBe(0);
    expect(c.interruptPin).toBe(1);
    expect(c.interruptLine).toBe(0x0b);
    // Device-specific space stays read-only unless opened.
    c.pciConfigWrite(0x40, 4, 0xffff_ffff);
    expect(c.pciConfigRead(0x40, 4)).toBe(0);
    c.setWritable(0x40, 1, 0x0f);
    c.pciConfigWrite(0x40, 4, 0xffff_ffff);
    expect(c.pciConfigRead(0x40, 4)).toBe(0x0f);
  });

  it('keeps only implemented command bits and clears status error bits written with one', () => {
    const c = new PciConfigSpace(ident);
    c.pciConfigWrite(0x04, 2, 0xffff);
    expect(c.command).toBe(0x0547);
    c.setStatus(PciStatus.ReceivedMasterAbort | PciStatus.DetectedParityError | PciStatus.CapabilitiesList);
    c.pciConfigWrite(0x06, 2, 0); // writing zero changes nothing
    expect(c.status).toBe(0xa010);
    c.pciConfigWrite(0x06, 2, PciStatus.ReceivedMasterAbort | PciStatus.CapabilitiesList);
    expect(c.status).toBe(0x8010);
    // A dword write to the command register does not clear status bits written as zero...
    c.pciConfigWrite(0x04, 4, PciCommand.Memory);
    expect(c.status).toBe(0x8010);
    expect(c.command).toBe(PciCommand.Memory);
    // ...and clears those written as one.
    c.pciConfigWrite(0x04, 4, 0xffff_0000 | PciCommand.Io);
    expect(c.status).toBe(0x0010);
    expect(c.command).toBe(PciCommand.Io);
  });

  it('sizes a 32-bit memory BAR: all ones reads back the size mask with the type bits', () => {
    const c = new PciConfigSpace({ ...ident, bars: [{ kind: 'memory', size: 0x1000, prefetchable: true }] });
    expect(c.pciConfigRead(0x10, 4)).toBe(0x8);
    c.pciConfigWrite(0x10, 4, 0xffff_ffff);
    expect(c.pciConfigRead(0x10, 4)).toBe(0xffff_f008);
    c.pciConfigWrite(0x10, 4, 0xfebf_1234);
    expect(c.pciConfigRead(0x10, 4)).toBe(0xfebf_1008);
    expect(c.barAddress(0)).toBe(0xfebf_1000);
    expect(c.barSize(0)).toBe(0x1000);
    // Unimplemented BARs read zero even after all ones.
    c.pciConfigWrite(0x14, 4, 0xffff_ffff);
    expect(c.pciConfigRead(0x14, 4)).toBe(0);
  });

  it('sizes an I/O BAR with bit 0 set', () => {
    const c = new PciConfigSpace({ ...ident, bars: [undefined, { kind: 'io', size: 0x20 }] });
    expect(c.pciConfigRead(0x14, 4)).toBe(0x1);
    c.pciConfigWrite(0x14, 4, 0xffff_ffff);
    expect(c.pciConfigRead(0x14, 4)).toBe(0xffff_ffe1);
    c.pciConfigWrite(0x14, 4, 0xc000);
    expect(c.pciConfigRead(0x14, 4)).toBe(0xc001); // bit 0 (I/O space indicator) is read-only
    expect(c.barAddress(1)).toBe(0xc000);
    expect(() => new PciConfigSpace({ ...ident, bars: [{ kind: 'io', size: 0x30 }] })).toThrow(RangeError);
  });

  it('sizes a 64-bit memory BAR pair', () => {
    const c = new PciConfigSpace({ ...ident, bars: [undefined, undefined, { kind: 'memory', size: 0x4000, is64: true }] });
    expect(c.pciConfigRead(0x18, 4)).toBe(0x4);
    c.pciConfigWrite(0x18, 4, 0xffff_ffff);
    c.pciConfigWrite(0x1c, 4, 0xffff_ffff);
    expect(c.pciConfigRead(0x18, 4)).toBe(0xffff_c004);
    expect(c.pciConfigRead(0x1c, 4)).toBe(0xffff_ffff);
    c.pciConfigWrite(0x18, 4, 0x0000_8000);
    c.pciConfigWrite(0x1c, 4, 0x0000_0001);
    expect(c.barAddress(2)).toBe(0x1_0000_8000);
    expect(c.barSize(3)).toBe(0);

    const big = new PciConfigSpace({ ...ident, bars: [{ kind: 'memory', size: 0x2_0000_0000, is64: true }] });
    big.pciConfigWrite(0x10, 4, 0xffff_ffff);
    big.pciConfigWrite(0x14, 4, 0xffff_ffff);
    expect(big.pciConfigRead(0x10, 4)).toBe(0x4);
    expect(big.pciConfigRead(0x14, 4)).toBe(0xffff_fffe);
    expect(() => new PciConfigSpace({ ...ident, bars: [undefined, undefined, undefined, undefined, undefined, { kind: 'memory', size: 16, is64: true }] })).toThrow(RangeError);
  });

  it('resets to its power-on contents', () => {
    const c = new PciConfigSpace({ ...ident, bars: [{ kind: 'memory', size: 0x1000 }] });
    c.pciConfigWrite(0x10, 4, 0xffff_ffff);
    c.pciConfigWrite(0x04, 2, 0x7);
    c.reset();
    expect(c.pciConfigRead(0x10, 4)).toBe(0);
    expect(c.command).toBe(0);
  });
});

describe('PIIX INTx routing', () => {
  it('swizzles (device + pin - 1) mod 4 with INTA# as pin 0', () => {
    expect(pirqOf(1, 1)).toBe(0);
    expect(pirqOf(2, 1)).toBe(1);
    expect(pirqOf(1, 2)).toBe(1);
    expect(pirqOf(3, 1)).toBe(2);
    expect(pirqOf(4, 1)).toBe(3);
    expect(pirqOf(5, 1)).toBe(0);
    expect(pirqOf(4, 4)).toBe(2);
  });

  it('raises the ISA IRQ of the swizzled PIRQ (default 10, 10, 11, 11), wired-OR', () => {
    const levels = new IrqLevels();
    const { host } = setup(levels);
    const a = host.intx({ bus: 0, device: 1, function: 0 }, 1); // PIRQA -> 10
    const b = host.intx({ bus: 0, device: 2, function: 0 }, 1); // PIRQB -> 10
    const c = host.intx({ bus: 0, device: 3, function: 0 }, 1); // PIRQC -> 11
    const d = host.intx({ bus: 0, device: 3, function: 0 }, 2); // PIRQD -> 11
    a.raise();
    expect(levels.changes).toEqual([[10, true]]);
    b.raise();
    a.lower();
    expect(levels.level(10)).toBe(true);
    b.lower();
    expect(levels.level(10)).toBe(false);
    c.raise();
    expect(levels.level(11)).toBe(true);
    d.raise();
    c.lower();
    expect(levels.level(11)).toBe(true);
    d.lower();
    expect(levels.changes).toEqual([
      [10, true],
      [10, false],
      [11, true],
      [11, false],
    ]);
  });

  it('follows PIRQ route changes, including to disabled', () => {
    const levels = new IrqLevels();
    const { host } = setup(levels);
    const line = host.intx({ bus: 0, device: 4, function: 0 }, 1); // PIRQD
    host.setPirqRoute(3, 5);
    line.raise();
    expect(levels.changes).toEqual([[5, true]]);
    host.setPirqRoute(3, 9);
    expect(levels.level(5)).toBe(false);
    expect(levels.level(9)).toBe(true);
    host.setPirqRoute(3, PIRQ_DISABLED);
    expect(levels.level(9)).toBe(false);
    expect(() => host.setPirqRoute(0, 16)).toThrow(RangeError);
    expect(() => host.intx({ bus: 0, device: 1, function: 0 }, 0)).toThrow(RangeError);
  });
});

describe('I440fxHostBridge snapshots', () => {
  it('a fresh bridge restored from a snapshot keeps CONFIG_ADDRESS, its configuration space and the PIRQ routes', () => {
    const a = setup();
    write(a.pio, 0, 0, 0, 0x0d, 1, 0x40); // latency timer
    write(a.pio, 0, 0, 0, 0x3c, 1, 0x0b); // interrupt line
    a.host.setPirqRoute(0, 5);
    a.host.setPirqRoute(3, PIRQ_DISABLED);
    a.pio.write(0xcf8, 4, cfgAddr(0, 0, 0, 0x0c)); // left selected
    const snap = a.host.saveState();

    const levels = new IrqLevels();
    const b = setup(levels);
    b.host.restoreState(snap);
    expect(b.host.saveState()).toEqual(snap);
    expect(b.pio.read(0xcf8, 4)).toBe(cfgAddr(0, 0, 0, 0x0c));
    expect(b.pio.read(0xcfd, 1)).toBe(0x40); // CONFIG_DATA reaches the selected register without a new CONFIG_ADDRESS
    expect(read(b.pio, 0, 0, 0, 0x3c, 1)).toBe(0x0b);
    expect([0, 1, 2, 3].map((p) => b.host.pirqRoute(p))).toEqual([5, 10, 11, PIRQ_DISABLED]);
    b.host.intx({ bus: 0, device: 1, function: 0 }, 1).raise(); // PIRQA
    expect(levels.changes).toEqual([[5, true]]);
  });

  it('ISA IRQ levels follow the restored routes for INTx lines already asserted', () => {
    const levels = new IrqLevels();
    const { host } = setup(levels);
    const snap = host.saveState(); // default routes: PIRQA -> 10
    host.setPirqRoute(0, 7);
    host.intx({ bus: 0, device: 1, function: 0 }, 1).raise();
    expect(levels.level(7)).toBe(true);
    host.restoreState(snap);
    expect(levels.level(7)).toBe(false);
    expect(levels.level(10)).toBe(true);
  });

  it('refuses a snapshot of another version, shape or function and keeps its state', () => {
    const { host } = setup();
    host.setPirqRoute(1, 3);
    const good = host.saveState();
    const state = good.state as Record<string, SnapshotValue>;
    const config = state['config'] as { version: number; state: Record<string, SnapshotValue> };
    expect(() => host.restoreState({ version: 2, state })).toThrow(/version 2/);
    expect(() => host.restoreState({ version: 1, state: { ...state, configAddress: 0x4000_0000 } })).toThrow(/"configAddress"/);
    expect(() => host.restoreState({ version: 1, state: { ...state, routes: [10, 10, 11, 16] } })).toThrow(/"routes"/);
    expect(() => host.restoreState({ version: 1, state: { ...state, config: null } })).toThrow(/"config"/);
    expect(() => host.restoreState({ version: 1, state: { ...state, config: { ...config, state: { bytes: new Uint8Array(255) } } } })).toThrow(/256 bytes/);
    const other = new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1000, classCode: 0x02_00_00 }).saveState();
    expect(() => host.restoreState({ version: 1, state: { ...state, config: { version: other.version, state: other.state } } })).toThrow(/another function/);
    expect(host.saveState()).toEqual(good);
  });
});
