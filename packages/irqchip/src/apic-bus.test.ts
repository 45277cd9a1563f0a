import { DeviceConfigurationError, VirtualClock, hpa, type CpuPins } from '@hvkit/platform';
import { beforeEach, describe, expect, it } from 'vitest';
import { ApicBase, ApicBusHub, ApicReg, DeliveryMode, Esr, IoApic, LocalApic, Redir, type LocalApicOptions } from './index.js';

/** A core's pins; like the core, it performs an INIT at once, resetting its APIC (CpuLocalApic.initReset). */
class FakePins implements CpuPins {
  readonly events: string[] = [];
  apic: LocalApic | null = null;
  init(): void {
    this.events.push('init');
    this.apic?.initReset();
  }
  startup(vector: number): void {
    this.events.push(`sipi:${vector.toString(16)}`);
  }
  nmi(): void {
    this.events.push('nmi');
  }
  smi(): void {
    this.events.push('smi');
  }
  kick(): void {
    // not recorded here; lapic.test.ts covers kicks
  }
}

let clock: VirtualClock;
let hub: ApicBusHub;
let apics: LocalApic[];
let pins: FakePins[];

/** A hub with one APIC per ID in `ids`, each software-enabled; the first is the BSP. */
function setup(ids: number[] = [0, 1, 2, 3], options: Partial<LocalApicOptions> = {}): void {
  clock = new VirtualClock();
  hub = new ApicBusHub();
  pins = [];
  apics = ids.map((id, i) => {
    const p = new FakePins();
    pins.push(p);
    const apic = new LocalApic({ id, bsp: i === 0, clock, pins: p, ...options });
    p.apic = apic;
    hub.attach(apic);
    apic.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    return apic;
  });
}

const wr = (i: number, offset: number, value: number): void => apics[i]!.mmioWrite(offset, 4, value >>> 0);
const rd = (i: number, offset: number): number => apics[i]!.mmioRead(offset, 4);
/** Sends an xAPIC IPI from APIC `i`: ICR high then ICR low. */
const ipi = (i: number, lo: number, dest = 0): void => {
  wr(i, ApicReg.ICR_HI, dest << 24);
  wr(i, ApicReg.ICR_LO, lo);
};
/** Which APICs (by index) have `vector` in their IRR. */
const holders = (vector: number): number[] => apics.flatMap((a, i) => (a.vectorBit('irr', vector) ? [i] : []));
const events = (): string[][] => pins.map((p) => p.events);
const toX2 = (a: LocalApic): void => {
  expect(a.writeBase(0xfee0_0000 | ApicBase.EN | ApicBase.EXTD | (a.baseLo & ApicBase.BSP), 0)).toBe(true);
  expect(a.writeMsr(0x80f, 0x1ff, 0)).toBe(true);
};

const LOGICAL = 0x800;
const LEVEL_TRIGGER = 0x8000;
const ASSERT = 0x4000;
const SELF = 0x4_0000;
const ALL_INCL = 0x8_0000;
const ALL_EXCL = 0xc_0000;

beforeEach(() => setup());

describe('ApicBusHub: attaching', () => {
  it('sets each APIC bus and refuses duplicate APIC IDs', () => {
    expect(hub.apics).toEqual(apics);
    expect(apics[0]!.bus).toBe(hub);
    const dup = new LocalApic({ id: 2, bsp: false, clock, pins: new FakePins() });
    expect(() => hub.attach(dup)).toThrow(DeviceConfigurationError);
    expect(() => hub.attach(apics[1]!)).toThrow(/already attached/);
  });
});

describe('IPIs in xAPIC mode (SDM §11.6)', () => {
  it('delivers a fixed IPI to one physical destination', () => {
    ipi(0, ASSERT | 0x40, 2);
    expect(holders(0x40)).toEqual([2]);
    expect(rd(0, ApicReg.ICR_LO)).toBe(ASSERT | 0x40); // delivery status idle
    expect(rd(0, ApicReg.ICR_HI)).toBe(0x0200_0000);
    expect(apics[2]!.vectorBit('tmr', 0x40)).toBe(false);
  });

  it('follows a changed xAPIC ID', () => {
    wr(3, ApicReg.ID, 0x0900_0000);
    ipi(0, 0x41, 9);
    expect(holders(0x41)).toEqual([3]);
    ipi(0, 0x42, 3);
    expect(holders(0x42)).toEqual([]);
  });

  it('delivers by each destination shorthand, ignoring the destination field', () => {
    ipi(1, SELF | 0x50, 3);
    expect(holders(0x50)).toEqual([1]);
    ipi(1, ALL_INCL | 0x51, 3);
    expect(holders(0x51)).toEqual([0, 1, 2, 3]);
    ipi(1, ALL_EXCL | 0x52, 1);
    expect(holders(0x52)).toEqual([0, 2, 3]);
  });

  it('broadcasts to every APIC, sender included, with destination 0xFF', () => {
    ipi(2, 0x53, 0xff);
    expect(holders(0x53)).toEqual([0, 1, 2, 3]);
  });

  it('sets the TMR for a level-triggered fixed IPI and sends its EOI to the listeners', () => {
    const eois: number[] = [];
    hub.onEoi((v) => eois.push(v));
    ipi(0, LEVEL_TRIGGER | ASSERT | 0x60, 1);
    expect(apics[1]!.vectorBit('tmr', 0x60)).toBe(true);
    expect(apics[1]!.acknowledge()).toBe(0x60);
    wr(1, ApicReg.EOI, 0);
    expect(eois).toEqual([0x60]);
    // An edge-triggered vector's EOI is not broadcast.
    ipi(0, 0x61, 1);
    apics[1]!.acknowledge();
    wr(1, ApicReg.EOI, 0);
    expect(eois).toEqual([0x60]);
  });

  it('sends NMI, SMI, INIT and start-up to the destination pins', () => {
    ipi(0, ASSERT | 0x400, 1);
    ipi(0, ASSERT | 0x200, 2);
    ipi(0, ASSERT | 0x500, 3);
    ipi(0, ASSERT | 0x600 | 0x9a, 3);
    expect(events()).toEqual([[], ['nmi'], ['smi'], ['init', 'sipi:9a']]);
  });

  it('runs the INIT-SIPI-SIPI sequence to all others, with an ignored INIT de-assert', () => {
    wr(2, ApicReg.TPR, 0x40);
    ipi(0, ALL_EXCL | ASSERT | LEVEL_TRIGGER | 0x500);
    ipi(0, ALL_EXCL | LEVEL_TRIGGER | 0x500); // INIT level de-assert
    ipi(0, ALL_EXCL | ASSERT | 0x600 | 0x10);
    ipi(0, ALL_EXCL | ASSERT | 0x600 | 0x10);
    const ap = ['init', 'sipi:10', 'sipi:10'];
    expect(events()).toEqual([[], ap, ap, ap]);
    expect(rd(2, ApicReg.TPR)).toBe(0); // the target core took the INIT and reset its APIC
    expect(rd(2, ApicReg.ID)).toBe(0x0200_0000);
  });

  it('sends NMI to all including self', () => {
    ipi(3, ALL_INCL | ASSERT | 0x400);
    expect(events()).toEqual([['nmi'], ['nmi'], ['nmi'], ['nmi']]);
  });

  it('sends nothing for the reserved delivery modes 011 and 111', () => {
    ipi(0, ALL_INCL | 0x300 | 0x70);
    ipi(0, ALL_INCL | 0x700 | 0x71);
    expect(holders(0x70)).toEqual([]);
    expect(holders(0x71)).toEqual([]);
    expect(events()).toEqual([[], [], [], []]);
  });

  it('still sends IPIs from a software-disabled APIC, which still takes NMI (SDM §11.4.7.2)', () => {
    wr(0, ApicReg.SVR, 0xff);
    ipi(0, 0x44, 1);
    expect(holders(0x44)).toEqual([1]);
    ipi(1, 0x45, 0);
    expect(holders(0x45)).toEqual([]);
    ipi(1, 0x400, 0);
    expect(events()[0]).toEqual(['nmi']);
  });

  it('leaves a globally disabled APIC out of every delivery', () => {
    expect(apics[3]!.writeBase(0xfee0_0000, 0)).toBe(true);
    ipi(0, ALL_INCL | 0x46);
    ipi(0, ASSERT | 0x400, 3);
    expect(holders(0x46)).toEqual([0, 1, 2]);
    expect(events()[3]).toEqual([]);
  });

  it('reports an illegal vector in a received message on the receiver', () => {
    expect(hub.deliver(1, 0, DeliveryMode.Fixed, 0x0e, true, 0)).toBe(false);
    wr(1, ApicReg.ESR, 0);
    expect(rd(1, ApicReg.ESR)).toBe(Esr.RECEIVE_ILLEGAL_VECTOR);
  });

  describe('logical destinations', () => {
    it('matches the flat model by bit mask', () => {
      apics.forEach((_, i) => wr(i, ApicReg.LDR, (1 << i) << 24));
      ipi(0, LOGICAL | 0x70, 0x05);
      expect(holders(0x70)).toEqual([0, 2]);
      ipi(0, LOGICAL | 0x71, 0x0a);
      expect(holders(0x71)).toEqual([1, 3]);
      ipi(0, LOGICAL | 0x72, 0x10);
      expect(holders(0x72)).toEqual([]);
      ipi(0, LOGICAL | 0x73, 0xff);
      expect(holders(0x73)).toEqual([0, 1, 2, 3]);
    });

    it('matches the cluster model by cluster and member mask', () => {
      const ldr = [0x11, 0x12, 0x21, 0x22];
      apics.forEach((_, i) => {
        wr(i, ApicReg.DFR, 0x0fff_ffff);
        wr(i, ApicReg.LDR, ldr[i]! << 24);
      });
      ipi(0, LOGICAL | 0x70, 0x13);
      expect(holders(0x70)).toEqual([0, 1]);
      ipi(0, LOGICAL | 0x71, 0x21);
      expect(holders(0x71)).toEqual([2]);
      ipi(0, LOGICAL | 0x72, 0x32);
      expect(holders(0x72)).toEqual([]);
      ipi(0, LOGICAL | 0x73, 0x14);
      expect(holders(0x73)).toEqual([]);
      ipi(0, LOGICAL | 0x74, 0xff);
      expect(holders(0x74)).toEqual([0, 1, 2, 3]);
    });
  });

  describe('lowest priority', () => {
    beforeEach(() => apics.forEach((_, i) => wr(i, ApicReg.LDR, (1 << i) << 24)));

    it('picks the APIC with the lowest processor priority, the lowest APIC ID on a tie', () => {
      [0x30, 0x10, 0x10, 0x20].forEach((tpr, i) => wr(i, ApicReg.TPR, tpr));
      ipi(0, LOGICAL | 0x100 | 0x80, 0x0f);
      expect(holders(0x80)).toEqual([1]);
      ipi(0, LOGICAL | 0x100 | 0x81, 0x0d); // 0, 2, 3
      expect(holders(0x81)).toEqual([2]);
      // In-service vectors raise the PPR: APIC 1 and 2 are now busy at class 8.
      apics[1]!.acknowledge();
      apics[2]!.acknowledge();
      ipi(0, LOGICAL | 0x100 | 0x82, 0x0f);
      expect(holders(0x82)).toEqual([3]);
    });

    it('skips software-disabled APICs', () => {
      wr(0, ApicReg.SVR, 0xff);
      ipi(1, LOGICAL | 0x100 | 0x83, 0x0f);
      expect(holders(0x83)).toEqual([1]);
    });

    it('picks by APIC ID, not attach order', () => {
      setup([7, 5, 6]);
      ipi(0, 0x100 | 0x84, 0xff);
      expect(holders(0x84)).toEqual([1]);
    });

    it('arbitrates I/O APIC lowest-priority messages', () => {
      [0x20, 0x20, 0x10, 0x10].forEach((tpr, i) => wr(i, ApicReg.TPR, tpr));
      expect(hub.deliver(0x0f, 1, DeliveryMode.LowestPriority, 0x85, true, 0)).toBe(true);
      expect(holders(0x85)).toEqual([2]);
      apics.forEach((_, i) => wr(i, ApicReg.SVR, 0xff));
      expect(hub.deliver(0x0f, 1, DeliveryMode.LowestPriority, 0x86, true, 0)).toBe(false);
    });
  });
});

describe('IPIs in x2APIC mode (SDM §11.12.9-§11.12.10)', () => {
  beforeEach(() => {
    setup([0, 1, 0x10, 0x11]);
    apics.forEach(toX2);
  });

  const send = (i: number, lo: number, dest: number): void => {
    expect(apics[i]!.writeMsr(0x830, lo, dest)).toBe(true);
  };

  it('delivers to a 32-bit physical destination and broadcasts on 0xFFFFFFFF', () => {
    send(0, 0x40, 0x11);
    expect(holders(0x40)).toEqual([3]);
    send(0, 0x41, 0xff);
    expect(holders(0x41)).toEqual([]); // 0xFF is an ordinary ID in x2APIC format
    send(0, 0x42, 0xffff_ffff);
    expect(holders(0x42)).toEqual([0, 1, 2, 3]);
  });

  it('matches logical destinations by cluster and member bits', () => {
    send(0, LOGICAL | 0x50, 0x0000_0003); // cluster 0, IDs 0 and 1
    expect(holders(0x50)).toEqual([0, 1]);
    send(0, LOGICAL | 0x51, 0x0001_0002); // cluster 1, ID 0x11
    expect(holders(0x51)).toEqual([3]);
    send(0, LOGICAL | 0x52, 0x0002_0003);
    expect(holders(0x52)).toEqual([]);
    send(0, LOGICAL | 0x53, 0xffff_ffff);
    expect(holders(0x53)).toEqual([0, 1, 2, 3]);
  });

  it('uses the shorthands and the SELF IPI register', () => {
    send(2, ALL_EXCL | 0x60, 0);
    expect(holders(0x60)).toEqual([0, 1, 3]);
    expect(apics[1]!.writeMsr(0x83f, 0x61, 0)).toBe(true);
    expect(holders(0x61)).toEqual([1]);
    send(3, ALL_EXCL | ASSERT | 0x500, 0);
    send(3, ASSERT | 0x600 | 0x20, 1);
    expect(events()).toEqual([['init'], ['init', 'sipi:20'], ['init'], []]);
  });

  it('takes 8-bit I/O APIC messages by x2APIC ID, with 0xFF as the broadcast', () => {
    expect(hub.deliver(0x10, 0, DeliveryMode.Fixed, 0x70, true, 0)).toBe(true);
    expect(holders(0x70)).toEqual([2]);
    expect(hub.deliver(0xff, 0, DeliveryMode.Fixed, 0x71, true, 0)).toBe(true);
    expect(holders(0x71)).toEqual([0, 1, 2, 3]);
  });
});

describe('MSI (SDM §11.11)', () => {
  const msi = (dest: number, flags: number, data: number): void => hub.deliverMsi(0xfee0_0000 | (dest << 12) | flags, data, 0x0010);

  it('decodes destination, vector and trigger mode', () => {
    msi(2, 0, 0x0041);
    expect(holders(0x41)).toEqual([2]);
    expect(apics[2]!.vectorBit('tmr', 0x41)).toBe(false);
    msi(3, 0, 0xc000 | 0x42); // level-triggered assert
    expect(holders(0x42)).toEqual([3]);
    expect(apics[3]!.vectorBit('tmr', 0x42)).toBe(true);
    msi(0xff, 0, 0x43);
    expect(holders(0x43)).toEqual([0, 1, 2, 3]);
  });

  it('uses the logical destination mode in address bit 2', () => {
    apics.forEach((_, i) => wr(i, ApicReg.LDR, (1 << i) << 24));
    msi(0x06, 0x4, 0x50);
    expect(holders(0x50)).toEqual([1, 2]);
  });

  it('applies lowest-priority semantics with the redirection hint (bit 3) or delivery mode 001', () => {
    apics.forEach((_, i) => wr(i, ApicReg.LDR, (1 << i) << 24));
    [0x40, 0x30, 0x20, 0x30].forEach((tpr, i) => wr(i, ApicReg.TPR, tpr));
    msi(0x0b, 0xc, 0x51); // RH = 1, logical: APICs 0, 1, 3
    expect(holders(0x51)).toEqual([1]);
    msi(0x0f, 0x4, 0x100 | 0x52);
    expect(holders(0x52)).toEqual([2]);
  });

  it('delivers NMI, SMI, INIT and ExtINT delivery modes', () => {
    msi(1, 0, 0x400);
    msi(2, 0, 0x200);
    msi(3, 0, 0x500);
    expect(events()).toEqual([[], ['nmi'], ['smi'], ['init']]);
    const pic = { pending: true, hasInterrupt: (): boolean => pic.pending, acknowledge: (): number => 0x27 };
    apics[0]!.extInt = pic;
    expect(apics[0]!.hasInterrupt()).toBe(false);
    msi(0, 0, 0x700);
    expect(apics[0]!.hasInterrupt()).toBe(true);
    expect(apics[0]!.acknowledge()).toBe(0x27);
  });

  it('drops de-asserts, reserved delivery modes and writes outside 0xFEExxxxx', () => {
    msi(1, 0, 0x8000 | 0x60); // level-triggered de-assert
    msi(1, 0, 0x300 | 0x61);
    msi(1, 0, 0x600 | 0x62);
    hub.deliverMsi(0xfed0_1000, 0x63, 0);
    expect(holders(0x60)).toEqual([]);
    expect(holders(0x61)).toEqual([]);
    expect(holders(0x62)).toEqual([]);
    expect(holders(0x63)).toEqual([]);
    expect(events()).toEqual([[], [], [], []]);
  });
});

describe('with the I/O APIC', () => {
  let ioapic: IoApic;
  const ioWrite = (index: number, value: number): void => {
    ioapic.mmioWrite(hpa(0xfec0_0000), 4, index);
    ioapic.mmioWrite(hpa(0xfec0_0010), 4, value >>> 0);
  };
  const ioRead = (index: number): number => {
    ioapic.mmioWrite(hpa(0xfec0_0000), 4, index);
    return ioapic.mmioRead(hpa(0xfec0_0010), 4);
  };

  const connect = (): void => {
    ioapic = new IoApic({ bus: hub });
    hub.onEoi((v) => ioapic.eoi(v));
  };

  it('delivers an edge-triggered pin to its physical destination', () => {
    connect();
    ioWrite(0x10 + 2 * 4, 0x31);
    ioWrite(0x11 + 2 * 4, 1 << 24);
    ioapic.setIrq(4, true);
    expect(holders(0x31)).toEqual([1]);
  });

  it('sends the EOI of a level-triggered vector back to the I/O APIC, which delivers again', () => {
    connect();
    ioWrite(0x10 + 2 * 10, Redir.TRIGGER | 0x41);
    ioWrite(0x11 + 2 * 10, 2 << 24);
    ioapic.setIrq(10, true);
    const apic = apics[2]!;
    expect(apic.vectorBit('irr', 0x41)).toBe(true);
    expect(apic.vectorBit('tmr', 0x41)).toBe(true);
    expect(ioRead(0x10 + 2 * 10) & Redir.REMOTE_IRR).toBe(Redir.REMOTE_IRR);
    expect(apic.acknowledge()).toBe(0x41);
    wr(2, ApicReg.EOI, 0);
    // The pin is still asserted: Remote IRR cleared by the EOI, then set by the redelivery.
    expect(apic.vectorBit('irr', 0x41)).toBe(true);
    expect(apic.acknowledge()).toBe(0x41);
    ioapic.setIrq(10, false);
    wr(2, ApicReg.EOI, 0);
    expect(ioRead(0x10 + 2 * 10) & Redir.REMOTE_IRR).toBe(0);
    expect(apic.vectorBit('irr', 0x41)).toBe(false);
  });

  it('keeps the EOI from the I/O APIC when EOI broadcast is suppressed in the SVR', () => {
    setup([0, 1], { eoiBroadcastSuppression: true });
    connect();
    wr(0, ApicReg.SVR, 0x11ff);
    ioWrite(0x10 + 2 * 9, Redir.TRIGGER | 0x49);
    ioapic.setIrq(9, true);
    expect(apics[0]!.acknowledge()).toBe(0x49);
    wr(0, ApicReg.EOI, 0);
    expect(ioRead(0x10 + 2 * 9) & Redir.REMOTE_IRR).toBe(Redir.REMOTE_IRR);
    expect(apics[0]!.vectorBit('irr', 0x49)).toBe(false);
    // Software then EOIs the I/O APIC directly, as Linux does with directed EOI.
    ioapic.mmioWrite(hpa(0xfec0_0040), 4, 0x49);
    expect(ioRead(0x10 + 2 * 9) & Redir.REMOTE_IRR).toBe(Redir.REMOTE_IRR);
    expect(apics[0]!.vectorBit('irr', 0x49)).toBe(true);
  });

  it('leaves a refused level-triggered message pending in the I/O APIC', () => {
    connect();
    wr(3, ApicReg.SVR, 0xff);
    ioWrite(0x10 + 2 * 5, Redir.TRIGGER | 0x45);
    ioWrite(0x11 + 2 * 5, 3 << 24);
    ioapic.setIrq(5, true);
    expect(ioRead(0x10 + 2 * 5) & Redir.DELIVERY_STATUS).toBe(Redir.DELIVERY_STATUS);
    wr(3, ApicReg.SVR, 0x1ff);
    ioWrite(0x10 + 2 * 5, Redir.TRIGGER | 0x45); // any entry write retries
    expect(holders(0x45)).toEqual([3]);
  });
});
