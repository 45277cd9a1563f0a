/**
 * The device interface and the chipset that wires devices to the buses.
 *
 * A {@link Device} answers capability queries, in the manner of OpenVMM's `ChipsetDevice`:
 * each `supportsX()` returns the object that implements capability X (usually the device
 * itself) or is absent. A simple device implements only what it needs; an isa-debug-exit port
 * has PIO and nothing else. Device logic stays free of the buses, as in rust-vmm's
 * `vm-superio`: the device says which ranges it decodes, and the {@link Chipset} registers
 * them.
 */
import { type AccessSize, type MmioHandler, type MmioRegistration, type PioBus, type PioHandler, type PioRegistration } from './bus.js';
import { type PhysicalMemory } from './memory.js';

/** A range a device decodes: [base, base + length). */
export interface IoRange {
  readonly base: number;
  readonly length: number;
  /** Shown in conflict errors and bus maps; defaults to the device's name. */
  readonly name?: string;
}

/** Port I/O capability: the fixed port ranges the device decodes, and its handlers. */
export interface PioDevice extends PioHandler {
  readonly pioRanges: readonly IoRange[];
}

/** MMIO capability: the fixed physical ranges the device decodes, and its handlers. */
export interface MmioDevice extends MmioHandler {
  readonly mmioRanges: readonly IoRange[];
}

/** A PCI function's address: bus 0-255, device 0-31, function 0-7. */
export interface PciAddress {
  readonly bus: number;
  readonly device: number;
  readonly function: number;
}

/** The PCI requester ID (bus << 8 | device << 3 | function) that tags a function's DMA and MSIs. */
export function requesterId(address: PciAddress): number {
  return ((address.bus & 0xff) << 8) | ((address.device & 0x1f) << 3) | (address.function & 0x7);
}

/** PCI capability: a configuration space (PCI Local Bus spec §6). */
export interface PciDevice {
  /** Where the function wants to sit; the PCI host may assign one when absent. */
  readonly pciAddress?: PciAddress;
  /** A configuration-space read at byte `offset` (0-4095) of `size` bytes. */
  pciConfigRead(offset: number, size: AccessSize): number;
  pciConfigWrite(offset: number, size: AccessSize, value: number): void;
}

/** Something that attaches PCI functions: the PCI host bridge of a board. */
export interface PciHost {
  attach(device: PciDevice, name: string): PciAddress;
}

/** Reset capability: return to the power-on state. */
export interface Resettable {
  reset(): void;
}

/** A value a snapshot can hold: JSON data plus byte arrays. */
export type SnapshotValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | readonly SnapshotValue[]
  | { readonly [key: string]: SnapshotValue };

/** One device's saved state; `version` lets a device read snapshots of older layouts. */
export interface DeviceSnapshot {
  readonly version: number;
  readonly state: SnapshotValue;
}

/** Snapshot capability. */
export interface Snapshottable {
  saveState(): DeviceSnapshot;
  /** Throws when the snapshot is of a version or shape this device cannot restore. */
  restoreState(snapshot: DeviceSnapshot): void;
}

/** A device. Every capability query is optional; absent means "not supported". */
export interface Device {
  /** Unique within a chipset. */
  readonly name: string;
  supportsPio?(): PioDevice | undefined;
  supportsMmio?(): MmioDevice | undefined;
  supportsPci?(): PciDevice | undefined;
  supportsReset?(): Resettable | undefined;
  supportsSnapshot?(): Snapshottable | undefined;
}

/** Something wrong with how devices were put together; names the device. */
export class DeviceConfigurationError extends Error {
  override readonly name = 'DeviceConfigurationError';
  constructor(
    readonly device: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`device "${device}": ${message}`, options);
  }
}

export interface ChipsetOptions {
  pio: PioBus;
  /** Needed to attach devices with MMIO ranges. */
  memory?: PhysicalMemory;
  /** Needed to attach PCI devices. */
  pci?: PciHost;
}

interface Attached {
  readonly device: Device;
  readonly pio: PioRegistration[];
  readonly mmio: MmioRegistration[];
  readonly pci: PciAddress | undefined;
}

/**
 * The set of devices of a machine. `add` queries a device's capabilities and registers its
 * ranges; registration is all-or-nothing, so a device whose second range conflicts leaves no
 * trace of its first. `reset`, `saveState` and `restoreState` reach every device that supports
 * them, in the order they were added.
 */
export class Chipset {
  private readonly attached = new Map<string, Attached>();

  constructor(private readonly options: ChipsetOptions) {}

  add<D extends Device>(device: D): D {
    const name = device.name;
    if (!name) throw new DeviceConfigurationError(String(name), 'a device needs a non-empty name');
    if (this.attached.has(name)) throw new DeviceConfigurationError(name, 'a device with this name is already attached');
    const pio: PioRegistration[] = [];
    const mmio: MmioRegistration[] = [];
    try {
      const p = device.supportsPio?.();
      if (p) {
        for (const r of p.pioRanges) pio.push(this.options.pio.register(r.base, r.length, p, r.name ?? name));
      }
      const m = device.supportsMmio?.();
      if (m) {
        const memory = this.options.memory;
        if (!memory) throw new DeviceConfigurationError(name, 'has MMIO ranges but the chipset has no physical memory');
        for (const r of m.mmioRanges) mmio.push(memory.mapMmio(r.base, r.length, m, r.name ?? name));
      }
      const c = device.supportsPci?.();
      let pci: PciAddress | undefined;
      if (c) {
        const host = this.options.pci;
        if (!host) throw new DeviceConfigurationError(name, 'is a PCI device but the chipset has no PCI host bridge');
        pci = host.attach(c, name);
      }
      this.attached.set(name, { device, pio, mmio, pci });
      return device;
    } catch (error) {
      for (const r of pio) this.options.pio.unregister(r);
      for (const r of mmio) this.options.memory?.mmio.unregister(r);
      if (error instanceof DeviceConfigurationError) throw error;
      throw new DeviceConfigurationError(name, error instanceof Error ? error.message : String(error), { cause: error });
    }
  }

  get(name: string): Device | undefined {
    return this.attached.get(name)?.device;
  }

  /** Attached devices in the order they were added. */
  devices(): Device[] {
    return [...this.attached.values()].map((a) => a.device);
  }

  /** Where a PCI device was attached. */
  pciAddressOf(name: string): PciAddress | undefined {
    return this.attached.get(name)?.pci;
  }

  /** Resets every device that supports reset. */
  reset(): void {
    for (const { device } of this.attached.values()) device.supportsReset?.()?.reset();
  }

  /** The state of every device that supports snapshots, by device name. */
  saveState(): Record<string, DeviceSnapshot> {
    const out: Record<string, DeviceSnapshot> = {};
    for (const { device } of this.attached.values()) {
      const s = device.supportsSnapshot?.();
      if (s) out[device.name] = s.saveState();
    }
    return out;
  }

  /**
   * Restores every snapshot-capable device. Throws, naming the device, when the snapshot lacks
   * a device's state or holds state for a device this chipset does not have.
   */
  restoreState(snapshot: Readonly<Record<string, DeviceSnapshot>>): void {
    for (const key of Object.keys(snapshot)) {
      const d = this.attached.get(key)?.device;
      if (!d || !d.supportsSnapshot?.()) throw new DeviceConfigurationError(key, 'the snapshot has state for a device this machine does not have');
    }
    for (const { device } of this.attached.values()) {
      const s = device.supportsSnapshot?.();
      if (!s) continue;
      const state = snapshot[device.name];
      if (!state) throw new DeviceConfigurationError(device.name, 'the snapshot has no state for this device');
      try {
        s.restoreState(state);
      } catch (error) {
        throw new DeviceConfigurationError(device.name, `cannot restore: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    }
  }
}
