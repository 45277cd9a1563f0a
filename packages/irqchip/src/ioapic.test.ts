import { type Hpa, type SnapshotValue } from '@hvkit/platform';
import { beforeEach, describe, expect, it } from 'vitest';
import { DeliveryMode, IoApic, Redir, type ApicBus } from './ioapic.js';

interface Message {
  dest: number;
  destMode: number;
  deliveryMode: number;
  vector: number;
  level: boolean;
  trigger: number;
}

class RecordingBus implements ApicBus {
  readonly messages: Message[] = [];
  accept = true;
  deliver(dest: number, destMode: number, deliveryMode: number, vector: number, level: boolean, trigger: number): boolean {
    this.messages.push({ dest, destMode, deliveryMode, vector, level, trigger });
    return this.accept;
  }
  vectors(): number[] {
    return this.messages.map((m) => m.vector);
  }
}

const BASE = 0xfec0_0000;
const at = (offset: number): Hpa => (BASE + offset) as Hpa;

let bus: RecordingBus;
let ioapic: IoApic;

function select(index: number): void {
  ioapic.mmioWrite(at(0x00), 4, index);
}
function read(index: number): number {
  select(index);
  return ioapic.mmioRead(at(0x10), 4);
}
function write(index: number, value: number): void {
  select(index);
  ioapic.mmioWrite(at(0x10), 4, value >>> 0);
}
const LEVEL = Redir.TRIGGER;
const ACTIVE_LOW = Redir.POLARITY;

beforeEach(() => {
  bus = new RecordingBus();
  ioapic = new IoApic({ bus });
});

describe('IoApic registers', () => {
  it('decodes IOREGSEL at +0x00 and IOWIN at +0x10 at the configured base', () => {
    const other = new IoApic({ bus, base: 0xfec0_1000 });
    expect(other.mmioRanges).toEqual([{ base: 0xfec0_1000, length: 0x1000, name: 'ioapic' }]);
    other.mmioWrite((0xfec0_1000 + 0x00) as Hpa, 4, 0x01);
    expect(other.mmioRead((0xfec0_1000 + 0x00) as Hpa, 4)).toBe(0x01);
    expect(other.mmioRead((0xfec0_1000 + 0x10) as Hpa, 4)).toBe(0x0017_0020);
    // IOREGSEL holds 8 bits.
    ioapic.mmioWrite(at(0x00), 4, 0x1234);
    expect(ioapic.mmioRead(at(0x00), 4)).toBe(0x34);
  });

  it('ignores non-32-bit accesses and other offsets', () => {
    select(0x01);
    expect(ioapic.mmioRead(at(0x10), 1)).toBe(0);
    expect(ioapic.mmioRead(at(0x10), 2)).toBe(0);
    expect(ioapic.mmioRead(at(0x20), 4)).toBe(0);
    ioapic.mmioWrite(at(0x00), 1, 0x10);
    expect(ioapic.mmioRead(at(0x00), 4)).toBe(0x01);
    write(0x10, 0x31);
    ioapic.mmioWrite(at(0x10), 2, 0x0042);
    expect(read(0x10) & 0xff).toBe(0x31);
  });

  it('reports version 0x20 and 23 as the maximum redirection entry in IOAPICVER, read-only', () => {
    expect(read(0x01)).toBe(0x0017_0020);
    write(0x01, 0);
    expect(read(0x01)).toBe(0x0017_0020);
  });

  it('keeps bits 27:24 of IOAPICID and loads IOAPICARB from it', () => {
    expect(new IoApic({ bus, id: 2 }).readRegister(0x00)).toBe(0x0200_0000);
    write(0x00, 0xffff_ffff);
    expect(read(0x00)).toBe(0x0f00_0000);
    expect(read(0x02)).toBe(0x0f00_0000);
    write(0x02, 0);
    expect(read(0x02)).toBe(0x0f00_0000);
  });

  it('resets every entry to masked, and reads registers beyond entry 23 as 0', () => {
    for (let n = 0; n < 24; n++) {
      expect(read(0x10 + 2 * n)).toBe(Redir.MASK);
      expect(read(0x11 + 2 * n)).toBe(0);
    }
    write(0x40, 0xffff_ffff);
    expect(read(0x40)).toBe(0);
    write(0x10, 0x31);
    ioapic.reset();
    expect(read(0x10)).toBe(Redir.MASK);
  });

  it('writes the writable bits of an entry and keeps delivery status and remote IRR read-only', () => {
    write(0x10 + 2 * 5, 0xffff_ffff);
    expect(read(0x10 + 2 * 5)).toBe(0x0001_afff);
    write(0x11 + 2 * 5, 0xffff_ffff);
    expect(read(0x11 + 2 * 5)).toBe(0xff00_0000 >>> 0);
    // Other entries are untouched.
    expect(read(0x10 + 2 * 4)).toBe(Redir.MASK);
    expect(read(0x10 + 2 * 6)).toBe(Redir.MASK);
  });
});

describe('IoApic delivery', () => {
  it('latches nothing on a masked edge-triggered pin', () => {
    ioapic.setIrq(1, true);
    ioapic.setIrq(1, false);
    write(0x10 + 2, 0x41);
    expect(bus.messages).toEqual([]);
    ioapic.setIrq(1, true);
    expect(bus.vectors()).toEqual([0x41]);
  });

  it('delivers an edge-triggered pin once per asserting edge', () => {
    write(0x10, 0x30);
    ioapic.setIrq(0, true);
    ioapic.setIrq(0, true);
    expect(bus.vectors()).toEqual([0x30]);
    ioapic.setIrq(0, false);
    expect(bus.vectors()).toEqual([0x30]);
    ioapic.setIrq(0, true);
    expect(bus.vectors()).toEqual([0x30, 0x30]);
    expect(read(0x10) & Redir.REMOTE_IRR).toBe(0);
  });

  it('delivers a level-triggered pin once, sets remote IRR, and again after EOI while asserted', () => {
    write(0x10 + 2 * 9, LEVEL | 0x59);
    ioapic.setIrq(9, true);
    ioapic.setIrq(9, true);
    expect(bus.vectors()).toEqual([0x59]);
    expect(read(0x10 + 2 * 9) & Redir.REMOTE_IRR).toBe(Redir.REMOTE_IRR);
    // An EOI for another vector does nothing.
    ioapic.eoi(0x58);
    expect(bus.vectors()).toEqual([0x59]);
    ioapic.eoi(0x59);
    expect(bus.vectors()).toEqual([0x59, 0x59]);
    expect(read(0x10 + 2 * 9) & Redir.REMOTE_IRR).toBe(Redir.REMOTE_IRR);
    ioapic.setIrq(9, false);
    ioapic.eoi(0x59);
    expect(bus.vectors()).toEqual([0x59, 0x59]);
    expect(read(0x10 + 2 * 9) & Redir.REMOTE_IRR).toBe(0);
  });

  it('takes an EOI through the EOI register at +0x40', () => {
    write(0x10 + 2 * 3, LEVEL | 0x63);
    ioapic.setIrq(3, true);
    ioapic.mmioWrite(at(0x40), 4, 0x63);
    expect(bus.vectors()).toEqual([0x63, 0x63]);
  });

  it('inverts active-low pins', () => {
    write(0x10 + 2 * 2, ACTIVE_LOW | 0x42);
    ioapic.setIrq(2, true);
    expect(bus.messages).toEqual([]);
    ioapic.setIrq(2, false);
    expect(bus.vectors()).toEqual([0x42]);
    // Level, active low: a wire held low is asserted; high is not.
    write(0x10 + 2 * 4, LEVEL | ACTIVE_LOW | 0x44);
    expect(bus.vectors()).toEqual([0x42, 0x44]);
    ioapic.setIrq(4, true);
    ioapic.eoi(0x44);
    expect(bus.vectors()).toEqual([0x42, 0x44]);
  });

  it('re-delivers an asserted level pin when unmasked, but not an edge seen while masked', () => {
    write(0x10 + 2 * 7, Redir.MASK | LEVEL | 0x77);
    write(0x10 + 2 * 8, Redir.MASK | 0x78);
    ioapic.setIrq(7, true);
    ioapic.setIrq(8, true);
    expect(bus.messages).toEqual([]);
    write(0x10 + 2 * 7, LEVEL | 0x77);
    write(0x10 + 2 * 8, 0x78);
    expect(bus.vectors()).toEqual([0x77]);
    // A level pin that dropped while masked is not delivered on unmask.
    write(0x10 + 2 * 10, Redir.MASK | LEVEL | 0x7a);
    ioapic.setIrq(10, true);
    ioapic.setIrq(10, false);
    write(0x10 + 2 * 10, LEVEL | 0x7a);
    expect(bus.vectors()).toEqual([0x77]);
  });

  it('passes destination, destination mode, delivery mode, vector and trigger to the bus', () => {
    write(0x11 + 2 * 11, 0xa5_00_0000 | 0x00ff_ffff);
    write(0x10 + 2 * 11, Redir.DEST_MODE | (DeliveryMode.LowestPriority << 8) | LEVEL | 0xb1);
    write(0x11 + 2 * 12, 0x03_00_0000);
    write(0x10 + 2 * 12, (DeliveryMode.Nmi << 8) | 0xb2);
    ioapic.setIrq(11, true);
    ioapic.setIrq(12, true);
    expect(bus.messages).toEqual([
      { dest: 0xa5, destMode: 1, deliveryMode: DeliveryMode.LowestPriority, vector: 0xb1, level: true, trigger: 1 },
      { dest: 0x03, destMode: 0, deliveryMode: DeliveryMode.Nmi, vector: 0xb2, level: true, trigger: 0 },
    ]);
  });

  it('sets delivery status while a refused level interrupt is pending and retries it', () => {
    bus.accept = false;
    write(0x10 + 2 * 6, LEVEL | 0x66);
    ioapic.setIrq(6, true);
    expect(read(0x10 + 2 * 6) & (Redir.DELIVERY_STATUS | Redir.REMOTE_IRR)).toBe(Redir.DELIVERY_STATUS);
    bus.accept = true;
    write(0x10 + 2 * 6, LEVEL | 0x66);
    expect(read(0x10 + 2 * 6) & (Redir.DELIVERY_STATUS | Redir.REMOTE_IRR)).toBe(Redir.REMOTE_IRR);
    expect(bus.vectors()).toEqual([0x66, 0x66]);
  });

  it('ignores pins outside 0-23', () => {
    ioapic.setIrq(24, true);
    ioapic.setIrq(-1, true);
    expect(bus.messages).toEqual([]);
  });
});

describe('IoApic snapshots', () => {
  /** A chip with an interrupt in service, a refused one, a masked asserted pin and an edge pin. */
  function busy(): { chip: IoApic; bus: RecordingBus } {
    bus = new RecordingBus();
    ioapic = new IoApic({ bus });
    write(0x00, 0x0500_0000); // IOAPICID 5
    write(0x10 + 2 * 3, LEVEL | 0x33);
    write(0x11 + 2 * 3, 0x0100_0000);
    ioapic.setIrq(3, true); // delivered: Remote IRR
    write(0x10 + 2 * 7, LEVEL | 0x37);
    bus.accept = false;
    ioapic.setIrq(7, true); // refused: Delivery Status
    bus.accept = true;
    write(0x10 + 2 * 9, LEVEL | ACTIVE_LOW | Redir.MASK | 0x39);
    ioapic.setIrq(9, false); // asserted (active low) while masked
    write(0x10 + 2 * 5, (DeliveryMode.LowestPriority << Redir.DELIVERY_MODE_SHIFT) | Redir.DEST_MODE | 0x35);
    select(0x13);
    return { chip: ioapic, bus };
  }

  /** What happens next: an EOI, an unmask, a repeated input and an edge. */
  function after(chip: IoApic, b: RecordingBus): Message[] {
    bus = b;
    ioapic = chip;
    b.messages.length = 0;
    const window = chip.mmioRead(at(0x10), 4); // IOREGSEL was restored too
    chip.eoi(0x33);
    write(0x10 + 2 * 9, LEVEL | ACTIVE_LOW | 0x39);
    chip.setIrq(7, true);
    chip.setIrq(5, true);
    return [...b.messages, { dest: window, destMode: read(0), deliveryMode: read(2), vector: read(0x10 + 2 * 3), level: true, trigger: read(0x10 + 2 * 7) }];
  }

  it('a fresh I/O APIC restored from a snapshot delivers nothing on restore, then exactly as the original', () => {
    const a = busy();
    expect(read(0x10 + 2 * 3) & Redir.REMOTE_IRR).not.toBe(0);
    expect(read(0x10 + 2 * 7) & Redir.DELIVERY_STATUS).not.toBe(0);
    select(0x13);
    const snap = a.chip.saveState();

    const busB = new RecordingBus();
    const chipB = new IoApic({ bus: busB, id: 2 });
    chipB.restoreState(snap);
    expect(busB.messages).toEqual([]);
    expect(chipB.saveState()).toEqual(snap);
    const seenA = after(a.chip, a.bus);
    const seenB = after(chipB, busB);
    expect(seenB).toEqual(seenA);
    expect(seenA.map((m) => m.vector).slice(0, 4)).toEqual([0x33, 0x39, 0x37, 0x35]);
  });

  it('refuses a snapshot of another version or shape and keeps its state', () => {
    const { chip } = busy();
    const good = chip.saveState();
    const state = good.state as Record<string, SnapshotValue>;
    const low = state['low'] as number[];
    expect(() => chip.restoreState({ version: 2, state })).toThrow(/version 2/);
    expect(() => chip.restoreState({ version: 1, state: { ...state, regsel: 0x100 } })).toThrow(/"regsel"/);
    expect(() => chip.restoreState({ version: 1, state: { ...state, id: 0x1000_0000 } })).toThrow(/"id"/);
    expect(() => chip.restoreState({ version: 1, state: { ...state, low: low.slice(1) } })).toThrow(/"low"/);
    expect(() => chip.restoreState({ version: 1, state: { ...state, low: [0x2_0000, ...low.slice(1)] } })).toThrow(/"low"/);
    expect(() => chip.restoreState({ version: 1, state: { ...state, high: low } })).toThrow(/"high"/);
    expect(() => chip.restoreState({ version: 1, state: { ...state, wire: new Uint8Array(24).fill(2) } })).toThrow(/"wire"/);
    expect(() => chip.restoreState({ version: 1, state: 0 })).toThrow(/not an object/);
    expect(chip.saveState()).toEqual(good);
  });
});
