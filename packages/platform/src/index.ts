/**
 * `@hvkit/platform`: the contracts every other hvkit package builds on, as working code.
 *
 * - addresses: branded `Gpa`, `Hpa`, `Iova` and `Port` numbers;
 * - physical memory: RAM allocated chunk by chunk on first touch, ROM and MMIO regions, a fast path for RAM;
 * - buses: port I/O and MMIO, both rejecting overlapping registrations;
 * - interrupt lines and MSI delivery, and the contract between a core and its local APIC;
 * - DMA: the address space a device reads and writes through, so an IOMMU can sit in between;
 * - a deterministic virtual clock with timers;
 * - the `Device` interface with capability queries, and the `Chipset` that wires devices up.
 *
 * This package depends on nothing.
 */
export {
  gpa,
  hex,
  hpa,
  iova,
  port,
  IOVA_LIMIT,
  MAX_PHYS_ADDR_BITS,
  PHYS_ADDR_LIMIT,
  PORT_LIMIT,
  type Brand,
  type Gpa,
  type Hpa,
  type Iova,
  type Port,
} from './address.js';
export { AddressConflictError, describeRange } from './errors.js';
export { RangeEntry, RangeMap } from './range-map.js';
export {
  allOnes,
  truncate,
  MmioBus,
  PioBus,
  type AccessSize,
  type MmioHandler,
  type MmioRegistration,
  type PioHandler,
  type PioRegistration,
} from './bus.js';
export {
  MemoryRegion,
  PAGE_MASK,
  PAGE_SHIFT,
  PAGE_SIZE,
  PhysicalMemory,
  RAM_CHUNK_SIZE,
  RegionKind,
  type MemoryAccess,
  type MemoryRange,
  type PhysicalMemoryOptions,
  type RamSnapshot,
  type WriteObserver,
} from './memory.js';
export { InterruptLine, IrqLevels, SharedInterruptLine, Wire, type IrqLine, type IrqSink, type MsiSink } from './irq.js';
export { type CpuLocalApic, type CpuPins, type TscSource } from './apic.js';
export { DirectDma, DmaStatus, isMsiAddress, MSI_WINDOW_BASE, MSI_WINDOW_END, type DmaSpace } from './dma.js';
export { MAX_EXACT_TICK_HZ, tickTimeNs, ticksAt, Timer, VirtualClock, type Clock, type TimerCallback, type VirtualClockOptions } from './clock.js';
export {
  Chipset,
  DeviceConfigurationError,
  requesterId,
  type ChipsetOptions,
  type Device,
  type DeviceSnapshot,
  type IoRange,
  type MmioDevice,
  type PciAddress,
  type PciDevice,
  type PciHost,
  type PioDevice,
  type Resettable,
  type SnapshotValue,
  type Snapshottable,
} from './device.js';
