/**
 * An I/O APIC compatible with the Intel 82093AA, after the Intel datasheet "82093AA I/O Advanced
 * Programmable Interrupt Controller (IOAPIC)". Register names are the datasheet's: the
 * I/O Register Select register IOREGSEL and the I/O Window register IOWIN (the only two
 * directly addressed registers), and behind the window IOAPICID, IOAPICVER, IOAPICARB and the
 * 24 redirection table entries IOREDTBL0-IOREDTBL23. As on the later parts that report version
 * 0x20 (ICH and PIIX4-era chipsets), the EOI register at +0x40 is also decoded.
 *
 * MMIO: IOREGSEL at base + 0x00, IOWIN at base + 0x10, EOI at base + 0x40. Only 32-bit
 * accesses are honoured; other sizes, and other offsets in the 4 KiB window, read as 0 and
 * ignore writes.
 *
 * Inputs: the I/O APIC is the {@link IrqSink} for pins 0-23. A pin's polarity bit (INTPOL)
 * turns the wire level into "asserted". An edge-triggered pin delivers once on each asserting
 * edge. A level-triggered pin delivers while asserted and sets Remote IRR when the message is
 * accepted; Remote IRR blocks further deliveries until an EOI for the entry's vector arrives
 * ({@link IoApic.eoi}, called by the local APIC, or a write to the EOI register), after which
 * a pin still asserted delivers again. A masked pin latches nothing: an edge seen while masked
 * is lost, and a level pin delivers when unmasked if it is still asserted.
 *
 * Delivery goes out as a message to an {@link ApicBus} (the local APICs). When the bus
 * refuses a level-triggered interrupt, Delivery Status (DELIVS) reads 1 ("Send Pending") and
 * the interrupt is retried on the next event that could deliver it (input change, entry write,
 * EOI).
 */
import {
  type AccessSize,
  type Device,
  type DeviceSnapshot,
  type Hpa,
  type IoRange,
  type IrqSink,
  type MmioDevice,
  type Resettable,
  type Snapshottable,
} from '@hvkit/platform';

/** The default physical base of the I/O APIC window. */
export const IOAPIC_DEFAULT_BASE = 0xfec0_0000;

/** Offsets of the directly addressed registers. */
export const IoApicMmio = {
  /** IOREGSEL: selects the register that IOWIN reads and writes (bits 7:0). */
  IOREGSEL: 0x00,
  /** IOWIN: the window onto the register IOREGSEL selects. */
  IOWIN: 0x10,
  /** EOI register (version 0x20 parts): a write of a vector is an EOI for that vector. */
  EOI: 0x40,
} as const;

/** Register indices behind IOWIN. */
export const IoApicReg = {
  /** IOAPICID: bits 27:24 are the APIC ID. */
  IOAPICID: 0x00,
  /** IOAPICVER: bits 7:0 version, bits 23:16 maximum redirection entry. Read-only. */
  IOAPICVER: 0x01,
  /** IOAPICARB: bits 27:24 the arbitration ID. Read-only. */
  IOAPICARB: 0x02,
  /** IOREDTBL0 low dword; entry n is at 0x10 + 2 * n (low) and 0x11 + 2 * n (high). */
  IOREDTBL: 0x10,
} as const;

/** Bits of a redirection entry's low dword (bits 31:0 of IOREDTBLn). */
export const Redir = {
  /** INTVEC: the vector, bits 7:0. */
  VECTOR: 0xff,
  /** DELMOD: delivery mode, bits 10:8. */
  DELIVERY_MODE: 0x700,
  DELIVERY_MODE_SHIFT: 8,
  /** DESTMOD: 0 physical, 1 logical. */
  DEST_MODE: 0x800,
  /** DELIVS: delivery status, read-only (1 = send pending). */
  DELIVERY_STATUS: 0x1000,
  /** INTPOL: 0 active high, 1 active low. */
  POLARITY: 0x2000,
  /** Remote IRR: read-only, level-triggered entries only. */
  REMOTE_IRR: 0x4000,
  /** TRIGGER MODE: 0 edge, 1 level. */
  TRIGGER: 0x8000,
  /** INTERRUPT MASK: 1 = masked. */
  MASK: 0x1_0000,
  /** Destination field: bits 63:56, i.e. bits 31:24 of the high dword. */
  DEST_SHIFT: 24,
} as const;

/** Delivery modes (DELMOD), as in the MSI data register (SDM Vol. 3 §11.11.2). */
export const DeliveryMode = {
  Fixed: 0,
  LowestPriority: 1,
  Smi: 2,
  Nmi: 4,
  Init: 5,
  ExtInt: 7,
} as const;
export type DeliveryMode = (typeof DeliveryMode)[keyof typeof DeliveryMode];

/**
 * Where the I/O APIC sends interrupt messages: the local APICs, implemented later by
 * `LocalApic`. The fields are those of an MSI message (SDM Vol. 3 §11.11.1-§11.11.2).
 */
export interface ApicBus {
  /**
   * Delivers one interrupt message; returns whether it was accepted.
   *
   * @param dest Destination ID (MSI address bits 19:12): an APIC ID in physical mode, a
   *   logical destination (MDA) in logical mode; 0xFF is the broadcast.
   * @param destMode Destination mode (MSI address bit 2, DM): 0 physical, 1 logical.
   * @param deliveryMode Delivery mode (MSI data bits 10:8), one of {@link DeliveryMode}.
   * @param vector Vector (MSI data bits 7:0); ignored for SMI, NMI, INIT and ExtINT.
   * @param level Level (MSI data bit 14): true = assert. The I/O APIC only sends asserts.
   * @param trigger Trigger mode (MSI data bit 15): 0 edge, 1 level. A local APIC must send
   *   an EOI back ({@link IoApic.eoi}) for a level-triggered vector.
   */
  deliver(dest: number, destMode: number, deliveryMode: number, vector: number, level: boolean, trigger: number): boolean;
}

export interface IoApicOptions {
  /** Where the interrupt messages go. */
  bus: ApicBus;
  /** Physical base of the 4 KiB window; defaults to {@link IOAPIC_DEFAULT_BASE}. */
  base?: number;
  /** Defaults to "ioapic". */
  name?: string;
  /** The APIC ID at reset (bits 3:0); defaults to 0. */
  id?: number;
}

export const IOAPIC_PINS = 24;
export const IOAPIC_VERSION = 0x20;
const VERSION_VALUE = ((IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
const ID_MASK = 0x0f00_0000;
/** Writable bits of the low dword: everything but DELIVS, Remote IRR and the reserved 31:17. */
const LOW_WRITABLE =
  Redir.VECTOR | Redir.DELIVERY_MODE | Redir.DEST_MODE | Redir.POLARITY | Redir.TRIGGER | Redir.MASK;
const HIGH_WRITABLE = 0xff00_0000;
const WINDOW_SIZE = 0x1000;
/** Bits of the low dword an entry can hold: the writable ones plus DELIVS and Remote IRR. */
const LOW_STATE = LOW_WRITABLE | Redir.DELIVERY_STATUS | Redir.REMOTE_IRR;
const SNAPSHOT_VERSION = 1;

export class IoApic implements Device, MmioDevice, Resettable, Snapshottable, IrqSink {
  readonly name: string;
  readonly base: number;
  readonly mmioRanges: readonly IoRange[];

  private readonly bus: ApicBus;
  private readonly resetId: number;
  private regsel = 0;
  private id = 0;
  private arb = 0;
  private readonly low = new Uint32Array(IOAPIC_PINS);
  private readonly high = new Uint32Array(IOAPIC_PINS);
  /** Wire levels as driven (before polarity); wires are not reset with the chip. */
  private readonly wire = new Uint8Array(IOAPIC_PINS);

  constructor(options: IoApicOptions) {
    this.bus = options.bus;
    this.base = options.base ?? IOAPIC_DEFAULT_BASE;
    this.name = options.name ?? 'ioapic';
    this.resetId = ((options.id ?? 0) << 24) & ID_MASK;
    this.mmioRanges = [{ base: this.base, length: WINDOW_SIZE, name: this.name }];
    this.reset();
  }

  supportsMmio(): MmioDevice {
    return this;
  }

  supportsReset(): Resettable {
    return this;
  }

  supportsSnapshot(): Snapshottable {
    return this;
  }

  /** Power-on state: every entry masked, edge, active high, vector 0; IOREGSEL 0. */
  reset(): void {
    this.regsel = 0;
    this.id = this.resetId;
    this.arb = this.resetId;
    this.low.fill(Redir.MASK);
    this.high.fill(0);
  }

  /**
   * IOREGSEL, the ID and arbitration ID, the 24 redirection entries (Remote IRR and Delivery
   * Status included) and the input wire levels.
   */
  saveState(): DeviceSnapshot {
    return {
      version: SNAPSHOT_VERSION,
      state: { regsel: this.regsel, id: this.id, arb: this.arb, low: Array.from(this.low), high: Array.from(this.high), wire: this.wire.slice() },
    };
  }

  /**
   * Restores {@link saveState}. Nothing is delivered: an interrupt in flight when the state was
   * saved (Remote IRR set) awaits its EOI, and a refused one (Delivery Status set) is retried on
   * the next event, as before.
   */
  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported I/O APIC snapshot version ${snapshot.version}`);
    const s = snapshot.state;
    if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) throw new Error('I/O APIC snapshot state is not an object');
    const state = s as Readonly<Record<string, unknown>>;
    const reg = (key: string, mask: number): number => {
      const v = state[key];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff || (v & ~mask) !== 0) throw new Error(`I/O APIC snapshot field "${key}" is not a valid value`);
      return v;
    };
    const entries = (key: string, mask: number): number[] => {
      const v = state[key];
      if (!Array.isArray(v) || v.length !== IOAPIC_PINS || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffff_ffff && (x & ~mask) === 0)) {
        throw new Error(`I/O APIC snapshot field "${key}" is not ${IOAPIC_PINS} valid redirection-entry dwords`);
      }
      return v as number[];
    };
    const regsel = reg('regsel', 0xff);
    const id = reg('id', ID_MASK);
    const arb = reg('arb', ID_MASK);
    const low = entries('low', LOW_STATE);
    const high = entries('high', HIGH_WRITABLE);
    const wire = state['wire'];
    if (!(wire instanceof Uint8Array) || wire.length !== IOAPIC_PINS || wire.some((w) => w > 1)) throw new Error(`I/O APIC snapshot field "wire" is not ${IOAPIC_PINS} levels`);
    this.regsel = regsel;
    this.id = id;
    this.arb = arb;
    this.low.set(low);
    this.high.set(high);
    this.wire.set(wire);
  }

  mmioRead(addr: Hpa, size: AccessSize): number {
    if (size !== 4) return 0;
    const offset = (addr as number) - this.base;
    if (offset === IoApicMmio.IOREGSEL) return this.regsel;
    if (offset === IoApicMmio.IOWIN) return this.readRegister(this.regsel);
    return 0;
  }

  mmioWrite(addr: Hpa, size: AccessSize, value: number): void {
    if (size !== 4) return;
    const offset = (addr as number) - this.base;
    if (offset === IoApicMmio.IOREGSEL) this.regsel = value & 0xff;
    else if (offset === IoApicMmio.IOWIN) this.writeRegister(this.regsel, value >>> 0);
    else if (offset === IoApicMmio.EOI) this.eoi(value & 0xff);
  }

  /** The register at `index` (as IOWIN reads it with IOREGSEL = `index`). */
  readRegister(index: number): number {
    switch (index) {
      case IoApicReg.IOAPICID:
        return this.id;
      case IoApicReg.IOAPICVER:
        return VERSION_VALUE;
      case IoApicReg.IOAPICARB:
        return this.arb;
    }
    const entry = (index - IoApicReg.IOREDTBL) >> 1;
    if (index < IoApicReg.IOREDTBL || entry >= IOAPIC_PINS) return 0;
    return (index & 1 ? this.high[entry] : this.low[entry]) ?? 0;
  }

  /** Writes the register at `index` (as IOWIN writes it with IOREGSEL = `index`). */
  writeRegister(index: number, value: number): void {
    if (index === IoApicReg.IOAPICID) {
      this.id = value & ID_MASK;
      // The arbitration ID is loaded from the APIC ID whenever IOAPICID is written.
      this.arb = this.id;
      return;
    }
    const entry = (index - IoApicReg.IOREDTBL) >> 1;
    if (index < IoApicReg.IOREDTBL || entry >= IOAPIC_PINS) return;
    if (index & 1) {
      this.high[entry] = (value & HIGH_WRITABLE) >>> 0;
      return;
    }
    const old = this.low[entry] ?? 0;
    let next = ((old & ~LOW_WRITABLE) | (value & LOW_WRITABLE)) >>> 0;
    // Remote IRR means nothing for an edge-triggered entry; switching to edge clears it.
    if (!(next & Redir.TRIGGER)) next &= ~(Redir.REMOTE_IRR | Redir.DELIVERY_STATUS);
    this.low[entry] = next >>> 0;
    if (next & Redir.TRIGGER) this.service(entry);
  }

  /** Input `pin` (0-23) changed to wire level `level`. */
  setIrq(pin: number, level: boolean): void {
    if (pin < 0 || pin >= IOAPIC_PINS) return;
    const before = this.asserted(pin);
    this.wire[pin] = level ? 1 : 0;
    const after = this.asserted(pin);
    const low = this.low[pin] ?? 0;
    if (low & Redir.TRIGGER) {
      if (after) this.service(pin);
      else this.low[pin] = (low & ~Redir.DELIVERY_STATUS) >>> 0;
    } else if (after && !before && !(low & Redir.MASK)) {
      this.send(pin, low);
    }
  }

  /**
   * An EOI for `vector` from a local APIC (or the EOI register): clears Remote IRR of every
   * level-triggered entry with that vector, and delivers again those still asserted.
   */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const low = this.low[pin] ?? 0;
      if ((low & Redir.VECTOR) !== vector || !(low & Redir.REMOTE_IRR)) continue;
      this.low[pin] = (low & ~Redir.REMOTE_IRR) >>> 0;
      this.service(pin);
    }
  }

  /** Whether `pin` is asserted, after its polarity. */
  private asserted(pin: number): boolean {
    const activeLow = ((this.low[pin] ?? 0) & Redir.POLARITY) !== 0;
    return (this.wire[pin] === 1) !== activeLow;
  }

  /** Delivers a level-triggered pin if it is asserted, unmasked and not awaiting an EOI. */
  private service(pin: number): void {
    const low = this.low[pin] ?? 0;
    if (!(low & Redir.TRIGGER) || low & (Redir.MASK | Redir.REMOTE_IRR) || !this.asserted(pin)) return;
    if (this.send(pin, low)) this.low[pin] = ((low | Redir.REMOTE_IRR) & ~Redir.DELIVERY_STATUS) >>> 0;
    else this.low[pin] = (low | Redir.DELIVERY_STATUS) >>> 0;
  }

  private send(pin: number, low: number): boolean {
    const mode = (low & Redir.DELIVERY_MODE) >> Redir.DELIVERY_MODE_SHIFT;
    // 011 and 110 are reserved delivery modes: nothing is sent.
    if (mode === 3 || mode === 6) return false;
    return this.bus.deliver(
      (this.high[pin] ?? 0) >>> Redir.DEST_SHIFT,
      low & Redir.DEST_MODE ? 1 : 0,
      mode,
      low & Redir.VECTOR,
      true,
      low & Redir.TRIGGER ? 1 : 0,
    );
  }
}
