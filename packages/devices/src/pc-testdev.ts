/**
 * QEMU's `pc-testdev` (hw/misc/pc-testdev.c), the port-I/O side used by kvm-unit-tests:
 *
 * - 0xE0-0xE3 "ioport": a 32-bit scratch register. An access of `size` bytes at 0xE0 + n
 *   reads or writes byte lanes n..n+size-1 of it (QEMU masks by `(addr & 3) * 8`), so
 *   `outl 0xE0` then `inl 0xE0` reads the value back and `inb 0xE1` reads bits 15:8.
 * - 0xE4-0xE7 "flush page": QEMU takes a 4-byte write of a guest-physical address and
 *   mprotects the host page behind it to make KVM drop cached translations. An emulator has
 *   nothing to flush, so writes are only counted (`flushes`, the last address in
 *   `lastFlushAddress`); writes of other widths are ignored (QEMU accepts only 4 bytes), and
 *   reads return 0 (the region has no read handler).
 * - 0xE8-0xEB "ioport-byte": the same scratch register as 0xE0 (QEMU splits accesses there
 *   into bytes, which gives the same result).
 * - 0x2000-0x2017 "irq lines": a 1-byte write of `v` to 0x2000 + n sets ISA IRQ n to
 *   `v !== 0` through `irqSink`; only level changes are forwarded. Wider writes are ignored
 *   (QEMU accepts only 1 byte) and reads return 0.
 *
 * - 0xFF00_0000-0xFF00_FFFF "iomem": 64 KiB of MMIO scratch memory; accesses of any width read
 *   and write its bytes little-endian (an access running past the end keeps the bytes inside).
 *
 * Like QEMU's, the device has no
 * reset: the scratch value and the IRQ levels persist. A scratch access that would run past
 * 0xE3 (or 0xEB) keeps only the lanes inside the register.
 */
import {
  InterruptLine,
  type AccessSize,
  type Device,
  type DeviceSnapshot,
  type IoRange,
  type IrqSink,
  type MmioDevice,
  type PioDevice,
  type Port,
  type Snapshottable,
} from '@hvkit/platform';

export const PC_TESTDEV_IOPORT = 0xe0;
export const PC_TESTDEV_FLUSH = 0xe4;
export const PC_TESTDEV_IOPORT_BYTE = 0xe8;
export const PC_TESTDEV_IRQ_BASE = 0x2000;
export const PC_TESTDEV_IRQ_LINES = 24;
export const PC_TESTDEV_IOMEM = 0xff00_0000;
export const PC_TESTDEV_IOMEM_SIZE = 0x1_0000;
const SNAPSHOT_VERSION = 1;

export interface PcTestdevOptions {
  /** Receives ISA IRQ n when the guest writes 0x2000 + n; without it those writes are dropped. */
  irqSink?: IrqSink;
  name?: string;
}

export class PcTestdev implements Device, PioDevice, MmioDevice, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[];
  readonly mmioRanges: readonly IoRange[];
  /** The 64 KiB behind 0xFF00_0000. */
  readonly iomem = new Uint8Array(PC_TESTDEV_IOMEM_SIZE);
  /** The 32-bit scratch register behind 0xE0 and 0xE8. */
  ioportData = 0;
  /** Flush-page writes seen. */
  flushes = 0;
  lastFlushAddress: number | null = null;
  private readonly lines: readonly InterruptLine[];

  constructor(options: PcTestdevOptions = {}) {
    this.name = options.name ?? 'pc-testdev';
    this.pioRanges = [
      { base: PC_TESTDEV_IOPORT, length: 12, name: `${this.name}.ioport` },
      { base: PC_TESTDEV_IRQ_BASE, length: PC_TESTDEV_IRQ_LINES, name: `${this.name}.irq` },
    ];
    this.mmioRanges = [{ base: PC_TESTDEV_IOMEM, length: PC_TESTDEV_IOMEM_SIZE, name: `${this.name}.iomem` }];
    const sink = options.irqSink;
    this.lines = sink ? Array.from({ length: PC_TESTDEV_IRQ_LINES }, (_, n) => new InterruptLine(sink, n, `${this.name}.irq${n}`)) : [];
  }

  supportsPio(): PioDevice {
    return this;
  }

  supportsMmio(): MmioDevice {
    return this;
  }

  mmioRead(addr: number, size: AccessSize): number {
    const off = addr - PC_TESTDEV_IOMEM;
    let v = 0;
    for (let i = Math.min(size, PC_TESTDEV_IOMEM_SIZE - off) - 1; i >= 0; i--) v = v * 256 + this.iomem[off + i]!;
    return v;
  }

  mmioWrite(addr: number, size: AccessSize, value: number): void {
    const off = addr - PC_TESTDEV_IOMEM;
    const n = Math.min(size, PC_TESTDEV_IOMEM_SIZE - off);
    for (let i = 0; i < n; i++) this.iomem[off + i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
  }

  supportsSnapshot(): Snapshottable {
    return this;
  }

  /** The level the guest last wrote for IRQ `n`. */
  irqLevel(n: number): boolean {
    return this.lines[n]?.level ?? false;
  }

  /** The scratch register, the flush-page record and the IRQ levels (bit n = IRQ n). */
  saveState(): DeviceSnapshot {
    let irqs = 0;
    for (let n = 0; n < this.lines.length; n++) if (this.lines[n]!.level) irqs |= 1 << n;
    return { version: SNAPSHOT_VERSION, state: { ioportData: this.ioportData, flushes: this.flushes, lastFlushAddress: this.lastFlushAddress, irqs, iomem: this.iomem.slice() } };
  }

  /** Restores {@link saveState}, driving each IRQ line to its saved level. */
  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported pc-testdev snapshot version ${snapshot.version}`);
    const s = snapshot.state;
    if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) throw new Error('pc-testdev snapshot state is not an object');
    const { ioportData, flushes, lastFlushAddress, irqs, iomem } = s as Readonly<Record<string, unknown>>;
    if (!(iomem instanceof Uint8Array) || iomem.length !== PC_TESTDEV_IOMEM_SIZE) throw new Error('pc-testdev snapshot field "iomem" is not 64 KiB of bytes');
    const u32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
    if (!u32(ioportData)) throw new Error('pc-testdev snapshot field "ioportData" is not a 32-bit value');
    if (typeof flushes !== 'number' || !Number.isSafeInteger(flushes) || flushes < 0) throw new Error('pc-testdev snapshot field "flushes" is not a count');
    if (lastFlushAddress !== null && !(u32(lastFlushAddress) && (lastFlushAddress & 0xfff) === 0)) {
      throw new Error('pc-testdev snapshot field "lastFlushAddress" is not null or a page address');
    }
    if (!u32(irqs) || irqs >= 2 ** PC_TESTDEV_IRQ_LINES) throw new Error('pc-testdev snapshot field "irqs" is not a mask of 24 lines');
    this.ioportData = ioportData;
    this.iomem.set(iomem);
    this.flushes = flushes;
    this.lastFlushAddress = lastFlushAddress;
    for (let n = 0; n < this.lines.length; n++) this.lines[n]!.set(((irqs >>> n) & 1) !== 0);
  }

  pioRead(port: Port, size: AccessSize): number {
    if (isScratch(port)) {
      const shift = (port & 3) * 8;
      return ((this.ioportData >>> shift) & laneMask(size, shift)) >>> 0;
    }
    return 0;
  }

  pioWrite(port: Port, size: AccessSize, value: number): void {
    if (isScratch(port)) {
      const shift = (port & 3) * 8;
      const mask = laneMask(size, shift);
      this.ioportData = ((this.ioportData & ~(mask << shift)) | ((value & mask) << shift)) >>> 0;
    } else if (port >= PC_TESTDEV_FLUSH && port < PC_TESTDEV_FLUSH + 4) {
      if (size !== 4) return;
      this.flushes++;
      this.lastFlushAddress = (value & ~0xfff) >>> 0;
    } else if (port >= PC_TESTDEV_IRQ_BASE && port < PC_TESTDEV_IRQ_BASE + PC_TESTDEV_IRQ_LINES) {
      if (size !== 1) return;
      this.lines[port - PC_TESTDEV_IRQ_BASE]?.set(value !== 0);
    }
  }
}

function isScratch(port: number): boolean {
  return (port >= PC_TESTDEV_IOPORT && port < PC_TESTDEV_IOPORT + 4) || (port >= PC_TESTDEV_IOPORT_BYTE && port < PC_TESTDEV_IOPORT_BYTE + 4);
}

/** The mask for `size` bytes starting at bit `shift`, clipped to the 32-bit register. */
function laneMask(size: AccessSize, shift: number): number {
  const bits = Math.min(size * 8, 32 - shift);
  return bits >= 32 ? 0xffff_ffff : (1 << bits) - 1;
}
