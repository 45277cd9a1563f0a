import { describe, expect, it } from 'vitest';
import { AddressConflictError, MmioBus, PioBus, type AccessSize, type Hpa, type MmioHandler, type PioHandler, type Port } from './index.js';

class RecordingPio implements PioHandler {
  readonly log: string[] = [];
  constructor(private readonly value = 0) {}
  pioRead(port: Port, size: AccessSize): number {
    this.log.push(`in${size} ${port.toString(16)}`);
    return this.value;
  }
  pioWrite(port: Port, size: AccessSize, value: number): void {
    this.log.push(`out${size} ${port.toString(16)}=${value.toString(16)}`);
  }
}

class RecordingMmio implements MmioHandler {
  readonly log: string[] = [];
  constructor(private readonly value = 0) {}
  mmioRead(addr: Hpa, size: AccessSize): number {
    this.log.push(`r${size} ${addr.toString(16)}`);
    return this.value;
  }
  mmioWrite(addr: Hpa, size: AccessSize, value: number): void {
    this.log.push(`w${size} ${addr.toString(16)}=${value.toString(16)}`);
  }
}

describe('PioBus', () => {
  it('routes each access to the device owning its first port, with the absolute port', () => {
    const bus = new PioBus();
    const uart = new RecordingPio(0x60);
    const pic = new RecordingPio(0x11);
    bus.register(0x3f8, 8, uart, 'com1');
    bus.register(0x20, 2, pic, 'pic-master');
    expect(bus.read(0x3fd, 1)).toBe(0x60);
    bus.write(0x21, 1, 0xfb);
    bus.write(0x3ff, 2, 0x1234);
    expect(uart.log).toEqual(['in1 3fd', 'out2 3ff=1234']);
    expect(pic.log).toEqual(['out1 21=fb']);
  });

  it('masks written values and returned values to the access width', () => {
    const bus = new PioBus();
    const dev = new RecordingPio(-1);
    bus.register(0x80, 1, dev, 'post');
    bus.write(0x80, 1, 0x1ff);
    bus.write(0x80, 2, 0x12345);
    bus.write(0x80, 4, -1);
    expect(dev.log).toEqual(['out1 80=ff', 'out2 80=2345', 'out4 80=ffffffff']);
    expect(bus.read(0x80, 1)).toBe(0xff);
    expect(bus.read(0x80, 2)).toBe(0xffff);
    expect(bus.read(0x80, 4)).toBe(0xffff_ffff);
  });

  it('reads all ones and drops writes on unclaimed ports, counting them', () => {
    const bus = new PioBus();
    expect(bus.read(0x1234, 1)).toBe(0xff);
    expect(bus.read(0x1234, 2)).toBe(0xffff);
    expect(bus.read(0x1234, 4)).toBe(0xffff_ffff);
    bus.write(0x1234, 1, 0);
    expect(bus.unclaimedAccesses).toBe(4);
  });

  it('rejects overlapping registrations with both names, leaving the first intact', () => {
    const bus = new PioBus();
    const first = new RecordingPio(1);
    bus.register(0x60, 1, first, 'kbd-data');
    bus.register(0x64, 1, first, 'kbd-cmd');
    expect(() => bus.register(0x60, 5, new RecordingPio(2), 'rogue')).toThrow(AddressConflictError);
    expect(() => bus.register(0x60, 5, new RecordingPio(2), 'rogue')).toThrow(
      'PIO range 0x60-0x64 for "rogue" overlaps 0x60-0x60 already registered by "kbd-data"',
    );
    expect(bus.read(0x60, 1)).toBe(1);
    // The ports between the two registrations stay free.
    expect(bus.read(0x62, 1)).toBe(0xff);
  });

  it('rejects ranges outside the 64 KiB port space', () => {
    const bus = new PioBus();
    expect(() => bus.register(0xfffe, 4, new RecordingPio(), 'wide')).toThrow(RangeError);
    expect(() => bus.register(0x10, 0, new RecordingPio(), 'empty')).toThrow(/size 0/);
  });

  it('unregisters, freeing the ports and reusing the handler slot', () => {
    const bus = new PioBus();
    const a = bus.register(0x70, 2, new RecordingPio(7), 'rtc');
    expect(bus.unregister(a)).toBe(true);
    expect(bus.unregister(a)).toBe(false);
    expect(bus.read(0x70, 1)).toBe(0xff);
    bus.register(0x71, 1, new RecordingPio(9), 'rtc2');
    expect(bus.read(0x71, 1)).toBe(9);
    expect(bus.read(0x70, 1)).toBe(0xff);
    expect(bus.registrations().map((r) => r.name)).toEqual(['rtc2']);
  });
});

describe('MmioBus', () => {
  it('routes by address and passes the absolute address', () => {
    const bus = new MmioBus();
    const hpet = new RecordingMmio(0xabcd);
    bus.register(0xfed0_0000, 0x400, hpet, 'hpet');
    expect(bus.read(0xfed0_00f0, 4)).toBe(0xabcd);
    bus.write(0xfed0_0010, 4, 0x1_0000_0003);
    expect(hpet.log).toEqual(['r4 fed000f0', 'w4 fed00010=3']);
  });

  it('reads all ones outside any region', () => {
    const bus = new MmioBus();
    bus.register(0x1000, 0x10, new RecordingMmio(), 'dev');
    expect(bus.read(0x1010, 4)).toBe(0xffff_ffff);
    expect(bus.read(0xfff, 2)).toBe(0xffff);
    expect(bus.unclaimedAccesses).toBe(2);
  });

  it('rejects overlaps', () => {
    const bus = new MmioBus();
    bus.register(0xfec0_0000, 0x1000, new RecordingMmio(), 'ioapic');
    expect(() => bus.register(0xfec0_0f00, 0x200, new RecordingMmio(), 'other')).toThrow(
      'MMIO range 0xfec00f00-0xfec010ff for "other" overlaps 0xfec00000-0xfec00fff already registered by "ioapic"',
    );
  });
});
