/**
 * An i440FX-like PCI host bridge with configuration mechanism 1 (PCI Local Bus spec 3.0
 * §3.2.2.3.2), PIIX-style INTx routing, and {@link PciConfigSpace}, a type 0 configuration
 * header that devices can use for their 256 bytes of configuration space.
 *
 * CONFIG_ADDRESS is the dword at 0xCF8: enable (bit 31), bus (23:16), device (15:11),
 * function (10:8), register (7:2). CONFIG_DATA is 0xCFC-0xCFF: a byte, word or dword access at
 * 0xCFC + n reaches configuration offset `register + n`. Only dword accesses hit
 * CONFIG_ADDRESS; other widths at 0xCF8 belong to other devices on a PC (0xCF9 is the PIIX
 * reset control register), so the bridge claims only port 0xCF8 and ignores narrower accesses
 * to it. Reads of absent functions, and of CONFIG_DATA with the enable bit clear, return all
 * ones; writes to them are dropped.
 *
 * INTx: a function's pin (1 = INTA# .. 4 = INTD#) on device slot `d` drives PIRQ
 * `(d + (pin - 1) - 1) mod 4` (A-D), as the PIIX swizzle that SeaBIOS and QEMU assume; each PIRQ
 * goes to a configurable ISA IRQ (default 10, 10, 11, 11, as SeaBIOS programs QEMU's PIIX).
 * PIRQs are wired-OR: an IRQ stays asserted while any PIRQ routed to it is.
 */
import {
  allOnes,
  DeviceConfigurationError,
  requesterId,
  Wire,
  type AccessSize,
  type Device,
  type DeviceSnapshot,
  type IoRange,
  type IrqLine,
  type IrqSink,
  type PciAddress,
  type PciDevice,
  type PciHost,
  type PioDevice,
  type Port,
  type Resettable,
  type Snapshottable,
} from '@hvkit/platform';

/** Configuration header offsets (PCI Local Bus spec 3.0 §6.1). */
export const PciConfig = {
  VendorId: 0x00,
  DeviceId: 0x02,
  Command: 0x04,
  Status: 0x06,
  RevisionId: 0x08,
  ClassCode: 0x09,
  CacheLineSize: 0x0c,
  LatencyTimer: 0x0d,
  HeaderType: 0x0e,
  Bar0: 0x10,
  SubsystemVendorId: 0x2c,
  SubsystemId: 0x2e,
  InterruptLine: 0x3c,
  InterruptPin: 0x3d,
} as const;

/** Command register bits (§6.2.2). */
export const PciCommand = {
  Io: 1 << 0,
  Memory: 1 << 1,
  BusMaster: 1 << 2,
  ParityErrorResponse: 1 << 6,
  Serr: 1 << 8,
  InterruptDisable: 1 << 10,
} as const;

/** Status register bits (§6.2.3). Bits 8 and 11-15 are write-one-to-clear. */
export const PciStatus = {
  InterruptStatus: 1 << 3,
  CapabilitiesList: 1 << 4,
  MasterDataParityError: 1 << 8,
  SignaledTargetAbort: 1 << 11,
  ReceivedTargetAbort: 1 << 12,
  ReceivedMasterAbort: 1 << 13,
  SignaledSystemError: 1 << 14,
  DetectedParityError: 1 << 15,
} as const;

const SNAPSHOT_VERSION = 1;
/** Read-only identity bytes: vendor/device ID, revision/class, header type, subsystem IDs, interrupt pin. */
const IDENTITY_OFFSETS = [0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0a, 0x0b, 0x0e, 0x2c, 0x2d, 0x2e, 0x2f, 0x3d];

const COMMAND_WRITABLE =
  PciCommand.Io | PciCommand.Memory | PciCommand.BusMaster | PciCommand.ParityErrorResponse | PciCommand.Serr | PciCommand.InterruptDisable;
const STATUS_W1C = 0xf900;

export interface PciBarOptions {
  /** `io` for an I/O BAR (size >= 4), `memory` for a memory BAR (size >= 16). */
  kind: 'memory' | 'io';
  /** A power of two, in bytes. */
  size: number;
  /** A 64-bit memory BAR; it also occupies the next BAR slot, which holds the high dword. */
  is64?: boolean;
  prefetchable?: boolean;
}

export interface PciConfigSpaceOptions {
  vendorId: number;
  deviceId: number;
  /** 24-bit class code: base class << 16 | subclass << 8 | programming interface. */
  classCode: number;
  revisionId?: number;
  /** Header type byte; defaults to 0 (bit 7 marks a multi-function device). */
  headerType?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** 0 = no INTx pin, 1-4 = INTA#-INTD#. */
  interruptPin?: number;
  /** BARs by index (0-5). A 64-bit BAR at index i also takes index i + 1. */
  bars?: readonly (PciBarOptions | undefined)[];
}

/**
 * A type 0 configuration header of 256 bytes. Identity fields (vendor, device, revision,
 * class, header type, subsystem, interrupt pin) are read-only; the command register keeps only
 * its implemented bits; status error bits are write-one-to-clear; BARs keep only their address
 * bits, so writing all ones and reading back gives the size mask with the type bits (§6.2.5.1).
 * Offsets 0x40-0xFF are device-specific and read-only unless the device opens them with
 * {@link PciConfigSpace.setWritable}.
 */
export class PciConfigSpace implements PciDevice, Snapshottable {
  readonly bytes = new Uint8Array(256);
  private readonly writeMask = new Uint8Array(256);
  private readonly w1cMask = new Uint8Array(256);
  private readonly initial = new Uint8Array(256);
  private readonly barSizes: number[] = [0, 0, 0, 0, 0, 0];

  constructor(
    options: PciConfigSpaceOptions,
    readonly pciAddress?: PciAddress,
  ) {
    this.put(PciConfig.VendorId, 2, options.vendorId);
    this.put(PciConfig.DeviceId, 2, options.deviceId);
    this.put(PciConfig.RevisionId, 1, options.revisionId ?? 0);
    this.put(PciConfig.ClassCode, 1, options.classCode & 0xff);
    this.put(PciConfig.ClassCode + 1, 2, (options.classCode >>> 8) & 0xffff);
    this.put(PciConfig.HeaderType, 1, options.headerType ?? 0);
    this.put(PciConfig.SubsystemVendorId, 2, options.subsystemVendorId ?? 0);
    this.put(PciConfig.SubsystemId, 2, options.subsystemId ?? 0);
    const pin = options.interruptPin ?? 0;
    if (!Number.isInteger(pin) || pin < 0 || pin > 4) throw new RangeError(`PCI interrupt pin ${pin} is not 0-4`);
    this.put(PciConfig.InterruptPin, 1, pin);
    this.setWritable(PciConfig.Command, 2, COMMAND_WRITABLE);
    this.w1cMask[PciConfig.Status] = STATUS_W1C & 0xff;
    this.w1cMask[PciConfig.Status + 1] = STATUS_W1C >>> 8;
    this.setWritable(PciConfig.CacheLineSize, 1, 0xff);
    this.setWritable(PciConfig.LatencyTimer, 1, 0xff);
    this.setWritable(PciConfig.InterruptLine, 1, 0xff);
    const bars = options.bars ?? [];
    for (let i = 0; i < bars.length; i++) {
      const bar = bars[i];
      if (bar) this.defineBar(i, bar);
    }
    this.initial.set(this.bytes);
  }

  private defineBar(index: number, bar: PciBarOptions): void {
    const { kind, size } = bar;
    const is64 = bar.is64 ?? false;
    if (index < 0 || index > 5 || (is64 && index > 4)) throw new RangeError(`PCI BAR ${index} does not fit in BAR0-BAR5`);
    if (this.barSizes[index] !== 0 || (is64 && this.barSizes[index + 1] !== 0)) throw new RangeError(`PCI BAR ${index} overlaps another BAR`);
    const minimum = kind === 'io' ? 4 : 16;
    if (!Number.isSafeInteger(size) || size < minimum || ((size & (size - 1)) !== 0 && size <= 0xffff_ffff))
      throw new RangeError(`PCI BAR size ${size} is not a power of two >= ${minimum}`);
    if (kind === 'io' && (is64 || size > 0xffff)) throw new RangeError('an I/O BAR is 32-bit and at most 64 KiB');
    if (size > 0xffff_ffff && !is64) throw new RangeError('a BAR of 4 GiB or more must be 64-bit');
    const offset = PciConfig.Bar0 + index * 4;
    this.barSizes[index] = size;
    if (kind === 'io') {
      this.put(offset, 4, 0x1);
      this.setWritable(offset, 4, ~(size - 1) & 0xffff_fffc);
      return;
    }
    const type = (is64 ? 0x4 : 0) | (bar.prefetchable ? 0x8 : 0);
    this.put(offset, 4, type);
    if (size > 0xffff_ffff) {
      const high = size / 0x1_0000_0000;
      if (!Number.isInteger(high) || (high & (high - 1)) !== 0) throw new RangeError(`PCI BAR size ${size} is not a power of two`);
      this.setWritable(offset, 4, 0);
      this.setWritable(offset + 4, 4, ~(high - 1));
    } else {
      this.setWritable(offset, 4, ~(size - 1) & 0xffff_fff0);
      if (is64) this.setWritable(offset + 4, 4, 0xffff_ffff);
    }
    if (is64) this.barSizes[index + 1] = -1;
  }

  /** Sets the bits of `mask` at `offset` (`size` bytes) writable by the guest, and clears the others. */
  setWritable(offset: number, size: AccessSize, mask: number): void {
    for (let i = 0; i < size; i++) this.writeMask[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Stores a value regardless of write masks: for the device's own registers. */
  put(offset: number, size: AccessSize, value: number): void {
    for (let i = 0; i < size; i++) this.bytes[offset + i] = (value >>> (8 * i)) & 0xff;
  }

  /** The little-endian value at `offset`; bytes past offset 255 read as zero. */
  get(offset: number, size: AccessSize): number {
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = value * 256 + (this.bytes[offset + i] ?? 0);
    return value;
  }

  get command(): number {
    return this.get(PciConfig.Command, 2);
  }

  get status(): number {
    return this.get(PciConfig.Status, 2);
  }

  /** Sets status bits (a device recording an error or its interrupt status). */
  setStatus(bits: number, on = true): void {
    const s = this.status;
    this.put(PciConfig.Status, 2, on ? s | bits : s & ~bits);
  }

  get interruptLine(): number {
    return this.bytes[PciConfig.InterruptLine]!;
  }

  get interruptPin(): number {
    return this.bytes[PciConfig.InterruptPin]!;
  }

  /** The size in bytes of BAR `index`, 0 when it is unimplemented or the high half of a 64-bit BAR. */
  barSize(index: number): number {
    return Math.max(0, this.barSizes[index] ?? 0);
  }

  /** The base address programmed in BAR `index` (both halves for a 64-bit BAR), type bits removed. */
  barAddress(index: number): number {
    const size = this.barSize(index);
    if (size === 0) return 0;
    const low = this.get(PciConfig.Bar0 + index * 4, 4);
    if (low & 1) return low & 0xffff_fffc;
    const base = low & 0xffff_fff0;
    return (low & 0x6) === 0x4 ? this.get(PciConfig.Bar0 + index * 4 + 4, 4) * 0x1_0000_0000 + (base >>> 0) : base >>> 0;
  }

  pciConfigRead(offset: number, size: AccessSize): number {
    return this.get(offset, size);
  }

  pciConfigWrite(offset: number, size: AccessSize, value: number): void {
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      if (at > 0xff) return;
      const v = (value >>> (8 * i)) & 0xff;
      const old = this.bytes[at]!;
      const wm = this.writeMask[at]!;
      this.bytes[at] = ((old & ~wm) | (v & wm)) & ~(v & this.w1cMask[at]!);
    }
  }

  /** Back to the power-on contents. */
  reset(): void {
    this.bytes.set(this.initial);
  }

  /** The 256 bytes, for the snapshot of the device that owns this header. */
  saveState(): DeviceSnapshot {
    return { version: SNAPSHOT_VERSION, state: { bytes: this.bytes.slice() } };
  }

  /** Restores {@link saveState}'s bytes; refuses those of a function with another identity (vendor, device, class…). */
  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported PCI configuration space snapshot version ${snapshot.version}`);
    const s = snapshot.state;
    const bytes = typeof s === 'object' && s !== null && !Array.isArray(s) && !(s instanceof Uint8Array) ? (s as Readonly<Record<string, unknown>>)['bytes'] : undefined;
    if (!(bytes instanceof Uint8Array) || bytes.length !== 256) throw new Error('PCI configuration space snapshot field "bytes" is not 256 bytes');
    for (const at of IDENTITY_OFFSETS) {
      if (bytes[at] !== this.initial[at]) {
        throw new Error(`PCI configuration space snapshot is of another function (byte 0x${at.toString(16)} is 0x${bytes[at]!.toString(16)}, not 0x${this.initial[at]!.toString(16)})`);
      }
    }
    this.bytes.set(bytes);
  }
}

/** i440FX PMC identity, as QEMU's `i440FX` host bridge presents it. */
export const I440FX_VENDOR_ID = 0x8086;
export const I440FX_DEVICE_ID = 0x1237;
export const CONFIG_ADDRESS_PORT = 0xcf8;
export const CONFIG_DATA_PORT = 0xcfc;
/** A PIRQ route to no ISA IRQ (PIIX3 route register bit 7). */
export const PIRQ_DISABLED = 0x80;

export interface PciHostBridgeOptions {
  /** Where PIRQ-routed INTx interrupts go (normally the 8259A pair). */
  irq?: IrqSink;
  /** ISA IRQ for PIRQA-D; {@link PIRQ_DISABLED} for none. Defaults to 10, 10, 11, 11. */
  pirqRoutes?: readonly [number, number, number, number];
  name?: string;
}

/** The PIRQ (0-3 = A-D) that INTx `pin` (1-4) of device slot `device` drives, as PIIX swizzles. */
export function pirqOf(device: number, pin: number): number {
  return (device + (pin - 1) - 1) & 3;
}

/** An i440FX-like PCI host bridge: configuration mechanism 1 and PIIX INTx routing. */
export class I440fxHostBridge implements Device, PioDevice, PciHost, Resettable, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[] = [
    { base: CONFIG_ADDRESS_PORT, length: 1, name: 'pci-config-address' },
    { base: CONFIG_DATA_PORT, length: 4, name: 'pci-config-data' },
  ];
  /** The bridge's own function 00:00.0. */
  readonly config: PciConfigSpace;
  /** The CONFIG_ADDRESS register. */
  configAddress = 0;
  private readonly functions = new Map<number, PciDevice>();
  private readonly names = new Map<number, string>();
  private readonly sink: IrqSink | undefined;
  private readonly routes: number[];
  private readonly defaultRoutes: readonly number[];
  /** Asserted INTx inputs per PIRQ. */
  private readonly pirqCount = new Int32Array(4);
  /** The level last sent to each ISA IRQ. */
  private readonly irqLevel = new Uint8Array(16);

  constructor(options: PciHostBridgeOptions = {}) {
    this.name = options.name ?? 'i440fx';
    this.sink = options.irq;
    this.defaultRoutes = options.pirqRoutes ?? [10, 10, 11, 11];
    for (const r of this.defaultRoutes) this.checkRoute(r);
    this.routes = [...this.defaultRoutes];
    this.config = new PciConfigSpace(
      { vendorId: I440FX_VENDOR_ID, deviceId: I440FX_DEVICE_ID, revisionId: 0x02, classCode: 0x06_00_00, headerType: 0 },
      { bus: 0, device: 0, function: 0 },
    );
    this.register(this.config, { bus: 0, device: 0, function: 0 }, this.name);
  }

  supportsPio(): PioDevice {
    return this;
  }

  supportsReset(): Resettable {
    return this;
  }

  supportsSnapshot(): Snapshottable {
    return this;
  }

  /** Places `device` at `address`; throws when the address is out of range or taken. */
  register(device: PciDevice, address: PciAddress, name: string): PciAddress {
    const { bus, device: slot, function: fn } = address;
    if (!isIntIn(bus, 255) || !isIntIn(slot, 31) || !isIntIn(fn, 7))
      throw new DeviceConfigurationError(name, `PCI address ${formatAddress(address)} is out of range`);
    const id = requesterId(address);
    const other = this.names.get(id);
    if (other !== undefined) throw new DeviceConfigurationError(name, `PCI address ${formatAddress(address)} is taken by "${other}"`);
    this.functions.set(id, device);
    this.names.set(id, name);
    return { bus, device: slot, function: fn };
  }

  /** `PciHost`: the device's own `pciAddress`, or the first free slot on bus 0 as function 0. */
  attach(device: PciDevice, name: string): PciAddress {
    if (device.pciAddress) return this.register(device, device.pciAddress, name);
    for (let slot = 1; slot < 32; slot++) {
      if (!this.names.has(slot << 3)) return this.register(device, { bus: 0, device: slot, function: 0 }, name);
    }
    throw new DeviceConfigurationError(name, 'no free PCI slot on bus 0');
  }

  /** The function at `address`, if any. */
  deviceAt(address: PciAddress): PciDevice | undefined {
    return this.functions.get(requesterId(address));
  }

  pioRead(port: Port, size: AccessSize): number {
    if (port === CONFIG_ADDRESS_PORT) return size === 4 ? this.configAddress : allOnes(size);
    const fn = this.selected();
    if (fn === undefined) return allOnes(size);
    return fn.pciConfigRead((this.configAddress & 0xfc) + (port & 3), size);
  }

  pioWrite(port: Port, size: AccessSize, value: number): void {
    if (port === CONFIG_ADDRESS_PORT) {
      // Bits 30:24 are reserved (read as zero); bits 1:0 are zero for a type 0 access.
      if (size === 4) this.configAddress = (value & 0x80ff_fffc) >>> 0;
      return;
    }
    const fn = this.selected();
    if (fn !== undefined) fn.pciConfigWrite((this.configAddress & 0xfc) + (port & 3), size, value);
  }

  /** The function CONFIG_ADDRESS selects, or undefined when disabled or absent. */
  private selected(): PciDevice | undefined {
    const a = this.configAddress;
    if ((a & 0x8000_0000) === 0) return undefined;
    return this.functions.get((a >>> 8) & 0xffff);
  }

  /** The ISA IRQ of PIRQ `pirq` (0-3), or {@link PIRQ_DISABLED}. */
  pirqRoute(pirq: number): number {
    return this.routes[pirq & 3]!;
  }

  /** Routes PIRQ `pirq` (0-3) to ISA IRQ `irq` (0-15) or {@link PIRQ_DISABLED}. */
  setPirqRoute(pirq: number, irq: number): void {
    this.checkRoute(irq);
    const old = this.routes[pirq & 3]!;
    this.routes[pirq & 3] = irq;
    this.update(old);
    this.update(irq);
  }

  /** The wire for INTx `pin` (1-4 = INTA#-INTD#) of the function at `address`, swizzled to a PIRQ. */
  intx(address: PciAddress, pin: number): IrqLine {
    if (!isIntIn(pin - 1, 3)) throw new RangeError(`PCI interrupt pin ${pin} is not 1-4`);
    return new IntxLine(this, pirqOf(address.device, pin));
  }

  /** @internal An INTx input of `pirq` changed. */
  changePirq(pirq: number, delta: 1 | -1): void {
    this.pirqCount[pirq] = this.pirqCount[pirq]! + delta;
    this.update(this.routes[pirq]!);
  }

  private update(irq: number): void {
    if (irq >= 16) return;
    let level = 0;
    for (let p = 0; p < 4; p++) if (this.routes[p] === irq && this.pirqCount[p]! > 0) level = 1;
    if (level === this.irqLevel[irq]) return;
    this.irqLevel[irq] = level;
    this.sink?.setIrq(irq, level === 1);
  }

  private checkRoute(irq: number): void {
    if (irq !== PIRQ_DISABLED && !isIntIn(irq, 15)) throw new RangeError(`PIRQ route ${irq} is not an ISA IRQ 0-15 or PIRQ_DISABLED`);
  }

  /** Resets CONFIG_ADDRESS, the bridge's own config space and the PIRQ routes. Device INTx levels stay. */
  reset(): void {
    this.configAddress = 0;
    this.config.reset();
    for (let p = 0; p < 4; p++) this.setPirqRoute(p, this.defaultRoutes[p]!);
  }

  /**
   * CONFIG_ADDRESS, the bridge's own configuration space and the PIRQ routes. The INTx levels
   * are not bridge state: they are the attached devices' wires, which those devices drive again
   * when they restore (and the functions' configuration spaces are theirs to save).
   */
  saveState(): DeviceSnapshot {
    const config = this.config.saveState();
    return { version: SNAPSHOT_VERSION, state: { configAddress: this.configAddress, routes: [...this.routes], config: { version: config.version, state: config.state } } };
  }

  /** Restores {@link saveState}; ISA IRQ levels follow the restored routes at once. */
  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported PCI host bridge snapshot version ${snapshot.version}`);
    const s = snapshot.state;
    if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) throw new Error('PCI host bridge snapshot state is not an object');
    const state = s as Readonly<Record<string, unknown>>;
    const address = state['configAddress'];
    if (typeof address !== 'number' || !Number.isInteger(address) || address < 0 || address > 0xffff_ffff || (address & ~0x80ff_fffc) !== 0) {
      throw new Error('PCI host bridge snapshot field "configAddress" is not a CONFIG_ADDRESS value');
    }
    const routes = state['routes'];
    if (!Array.isArray(routes) || routes.length !== 4 || !routes.every((r) => typeof r === 'number' && (r === PIRQ_DISABLED || isIntIn(r, 15)))) {
      throw new Error('PCI host bridge snapshot field "routes" is not four ISA IRQs or PIRQ_DISABLED');
    }
    const config = state['config'];
    if (typeof config !== 'object' || config === null || Array.isArray(config) || config instanceof Uint8Array) throw new Error('PCI host bridge snapshot field "config" is not a snapshot');
    this.config.restoreState(config as unknown as DeviceSnapshot);
    this.configAddress = address >>> 0;
    (routes as number[]).forEach((irq, p) => this.setPirqRoute(p, irq));
  }
}

/** One device's INTx# pin: level changes go to the host's PIRQ fan-in. */
class IntxLine extends Wire {
  constructor(
    private readonly host: I440fxHostBridge,
    readonly pirq: number,
  ) {
    super();
  }

  protected changed(level: boolean): void {
    this.host.changePirq(this.pirq, level ? 1 : -1);
  }
}

function isIntIn(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

function formatAddress(a: PciAddress): string {
  const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0');
  return `${hex(a.bus, 2)}:${hex(a.device, 2)}.${a.function}`;
}
