import { describe, expect, it } from 'vitest';
import {
  Chipset,
  DeviceConfigurationError,
  PhysicalMemory,
  PioBus,
  type AccessSize,
  type Device,
  type DeviceSnapshot,
  type Hpa,
  type IoRange,
  type MmioDevice,
  type PciAddress,
  type PciDevice,
  type PciHost,
  type PioDevice,
  type Port,
  type Resettable,
  type Snapshottable,
} from './index.js';

/** A scratch register at one port: PIO, reset and snapshot capable. */
class Scratch implements Device, PioDevice, Resettable, Snapshottable {
  value = 0;
  readonly pioRanges: IoRange[];
  constructor(
    readonly name: string,
    port: number,
  ) {
    this.pioRanges = [{ base: port, length: 1 }];
  }
  supportsPio() {
    return this;
  }
  supportsReset() {
    return this;
  }
  supportsSnapshot() {
    return this;
  }
  pioRead(_p: Port, _s: AccessSize) {
    return this.value;
  }
  pioWrite(_p: Port, _s: AccessSize, v: number) {
    this.value = v;
  }
  reset() {
    this.value = 0;
  }
  saveState(): DeviceSnapshot {
    return { version: 1, state: { value: this.value } };
  }
  restoreState(s: DeviceSnapshot) {
    if (s.version !== 1) throw new Error(`unknown version ${s.version}`);
    this.value = (s.state as { value: number }).value;
  }
}

/** A device with two port ranges and an MMIO page. */
class TwoRanges implements Device, PioDevice, MmioDevice {
  readonly pioRanges = [
    { base: 0x20, length: 2, name: 'pic-a' },
    { base: 0x4d0, length: 1, name: 'pic-elcr' },
  ];
  readonly mmioRanges = [{ base: 0xfec0_0000, length: 0x1000 }];
  constructor(readonly name = 'two') {}
  supportsPio() {
    return this;
  }
  supportsMmio() {
    return this;
  }
  pioRead(port: Port) {
    return port & 0xff;
  }
  pioWrite() {}
  mmioRead(addr: Hpa) {
    return addr - 0xfec0_0000;
  }
  mmioWrite() {}
}

describe('Chipset', () => {
  it('registers every range a device declares, under the range names', () => {
    const pio = new PioBus();
    const memory = new PhysicalMemory({ ramSize: 0x1000 });
    const chipset = new Chipset({ pio, memory });
    chipset.add(new TwoRanges());
    expect(pio.read(0x21, 1)).toBe(0x21);
    expect(pio.read(0x4d0, 1)).toBe(0xd0);
    expect(memory.read32(0xfec0_0010 as Hpa)).toBe(0x10);
    expect(pio.registrations().map((r) => r.name)).toEqual(['pic-a', 'pic-elcr']);
    expect(memory.mmio.registrations().map((r) => r.name)).toEqual(['two']);
  });

  it('asks only for the capabilities a device has: a device with none is fine', () => {
    const chipset = new Chipset({ pio: new PioBus() });
    const bare: Device = { name: 'bare' };
    chipset.add(bare);
    chipset.reset();
    expect(chipset.saveState()).toEqual({});
    expect(chipset.get('bare')).toBe(bare);
  });

  it('rolls back a device whose later range conflicts', () => {
    const pio = new PioBus();
    const chipset = new Chipset({ pio });
    chipset.add(new Scratch('elcr', 0x4d0));
    const attempt = () => chipset.add(new TwoRanges('pic'));
    expect(attempt).toThrow(DeviceConfigurationError);
    expect(attempt).toThrow('device "pic": PIO range 0x4d0-0x4d0 for "pic-elcr" overlaps 0x4d0-0x4d0 already registered by "elcr"');
    expect(pio.find(0x20)).toBeUndefined();
    expect(chipset.get('pic')).toBeUndefined();
  });

  it('rejects duplicate and empty names', () => {
    const chipset = new Chipset({ pio: new PioBus() });
    chipset.add(new Scratch('a', 0x80));
    expect(() => chipset.add(new Scratch('a', 0x81))).toThrow('device "a": a device with this name is already attached');
    expect(() => chipset.add(new Scratch('', 0x82))).toThrow(/needs a non-empty name/);
  });

  it('refuses MMIO devices without memory and PCI devices without a host bridge', () => {
    const chipset = new Chipset({ pio: new PioBus() });
    expect(() => chipset.add(new TwoRanges('mm'))).toThrow('device "mm": has MMIO ranges but the chipset has no physical memory');
    const nic: Device & PciDevice = {
      name: 'nic',
      supportsPci: () => nic,
      pciConfigRead: () => 0xffff_ffff,
      pciConfigWrite: () => {},
    };
    expect(() => chipset.add(nic)).toThrow('device "nic": is a PCI device but the chipset has no PCI host bridge');
  });

  it('hands PCI devices to the host bridge and remembers their address', () => {
    const attached: string[] = [];
    const host: PciHost = {
      attach(_dev: PciDevice, name: string): PciAddress {
        attached.push(name);
        return { bus: 0, device: 3, function: 0 };
      },
    };
    const chipset = new Chipset({ pio: new PioBus(), pci: host });
    const nic: Device & PciDevice = { name: 'nic', supportsPci: () => nic, pciConfigRead: () => 0, pciConfigWrite: () => {} };
    chipset.add(nic);
    expect(attached).toEqual(['nic']);
    expect(chipset.pciAddressOf('nic')).toEqual({ bus: 0, device: 3, function: 0 });
  });

  it('resets, saves and restores every capable device in order', () => {
    const pio = new PioBus();
    const chipset = new Chipset({ pio });
    const a = chipset.add(new Scratch('a', 0x80));
    const b = chipset.add(new Scratch('b', 0x81));
    pio.write(0x80, 1, 0x11);
    pio.write(0x81, 1, 0x22);
    const snap = chipset.saveState();
    expect(snap).toEqual({ a: { version: 1, state: { value: 0x11 } }, b: { version: 1, state: { value: 0x22 } } });
    chipset.reset();
    expect([a.value, b.value]).toEqual([0, 0]);
    chipset.restoreState(snap);
    expect([a.value, b.value]).toEqual([0x11, 0x22]);
    expect(chipset.devices().map((d) => d.name)).toEqual(['a', 'b']);
  });

  it('refuses snapshots that do not fit the machine, naming the device', () => {
    const chipset = new Chipset({ pio: new PioBus() });
    chipset.add(new Scratch('a', 0x80));
    expect(() => chipset.restoreState({})).toThrow('device "a": the snapshot has no state for this device');
    expect(() => chipset.restoreState({ a: { version: 1, state: { value: 1 } }, ghost: { version: 1, state: null } })).toThrow(
      'device "ghost": the snapshot has state for a device this machine does not have',
    );
    expect(() => chipset.restoreState({ a: { version: 9, state: null } })).toThrow('device "a": cannot restore: unknown version 9');
  });
});
