/**
 * QEMU's firmware configuration device (fw_cfg), the traditional I/O-port interface of
 * QEMU `docs/specs/fw_cfg.rst` (no DMA interface).
 *
 * - A 16-bit write at the selector port (0x510) selects an item and resets the data offset
 *   to 0.
 * - Each 8-bit read at the data port (0x511) returns the next byte of the selected item;
 *   reads past the end, and reads of an item that does not exist, return 0. As in QEMU,
 *   whose two ports are one "combined" region dispatched on access width only, an 8-bit read
 *   at 0x510 reads data too.
 * - 8-bit writes are ignored (QEMU removed data writes in 2.4); 2- and 4-byte reads, which
 *   QEMU rejects, return 0 and leave the offset alone.
 * - Bit 15 of a key selects the architecture-local item set; bit 14 (the old write channel)
 *   is ignored for lookup, as in QEMU.
 * - Reset (and power-on) selects key 0, the signature.
 *
 * Files live at keys 0x0020 and up, kept sorted by name as QEMU does (so adding a file can
 * move another file's selector; guests look files up by name in the directory at 0x0019).
 * Items are stored as byte arrays, so a data read allocates nothing.
 */
import { type AccessSize, type Device, type DeviceSnapshot, type IoRange, type PioDevice, type Port, type Resettable, type Snapshottable } from '@hvkit/platform';

/** fw_cfg item keys (QEMU `include/standard-headers/linux/qemu_fw_cfg.h`). */
export const FwCfgKey = {
  SIGNATURE: 0x00,
  ID: 0x01,
  UUID: 0x02,
  RAM_SIZE: 0x03,
  NOGRAPHIC: 0x04,
  NB_CPUS: 0x05,
  MACHINE_ID: 0x06,
  KERNEL_ADDR: 0x07,
  KERNEL_SIZE: 0x08,
  KERNEL_CMDLINE: 0x09,
  INITRD_ADDR: 0x0a,
  INITRD_SIZE: 0x0b,
  BOOT_DEVICE: 0x0c,
  NUMA: 0x0d,
  BOOT_MENU: 0x0e,
  MAX_CPUS: 0x0f,
  KERNEL_ENTRY: 0x10,
  KERNEL_DATA: 0x11,
  INITRD_DATA: 0x12,
  CMDLINE_ADDR: 0x13,
  CMDLINE_SIZE: 0x14,
  CMDLINE_DATA: 0x15,
  SETUP_ADDR: 0x16,
  SETUP_SIZE: 0x17,
  SETUP_DATA: 0x18,
  FILE_DIR: 0x19,
  FILE_FIRST: 0x20,
  /** Bit 14: the (obsolete) write channel. */
  WRITE_CHANNEL: 0x4000,
  /** Bit 15: the architecture-local item set. */
  ARCH_LOCAL: 0x8000,
} as const;

/** FW_CFG_ID bits: bit 0 = traditional interface, bit 1 = DMA interface. */
export const FwCfgId = { TRADITIONAL: 0x01, DMA: 0x02 } as const;

/** E820 range types (ACPI spec, Address Range Types). */
export const E820Type = { RAM: 1, RESERVED: 2, ACPI: 3, NVS: 4, UNUSABLE: 5 } as const;

export interface E820Range {
  readonly base: number | bigint;
  readonly length: number | bigint;
  readonly type: number;
}

/** Bytes in a file name field, NUL included. */
export const FW_CFG_MAX_FILE_PATH = 56;
/** Bytes of one `etc/e820` entry: u64 address, u64 length, u32 type, packed, little-endian. */
export const E820_ENTRY_SIZE = 20;

export interface FwCfgOptions {
  /** Selector port; the data port is iobase + 1. QEMU's PC default is 0x510. */
  iobase?: number;
  /** FW_CFG_RAM_SIZE in bytes. */
  ramSize?: number | bigint;
  /** FW_CFG_NB_CPUS. */
  nbCpus?: number;
  /** FW_CFG_MAX_CPUS; defaults to `nbCpus`. */
  maxCpus?: number;
  /** How many file selectors there are (QEMU's default is 0x20). */
  fileSlots?: number;
  name?: string;
}

const ENTRY_MASK = 0x3fff;
const SNAPSHOT_VERSION = 1;

interface FwCfgFile {
  readonly name: string;
  readonly data: Uint8Array;
}

export class FwCfg implements Device, PioDevice, Resettable, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[];
  private readonly iobase: number;
  private readonly maxEntry: number;
  private readonly fileSlots: number;
  /** [generic, arch-local] items by key & 0x3fff. */
  private readonly entries: [(Uint8Array | null)[], (Uint8Array | null)[]];
  private readonly files: FwCfgFile[] = [];
  private current: Uint8Array | null = null;
  private offset = 0;
  /** The selected key as the guest wrote it. */
  private key = 0;

  constructor(options: FwCfgOptions = {}) {
    this.iobase = options.iobase ?? 0x510;
    this.name = options.name ?? 'fw-cfg';
    this.pioRanges = [{ base: this.iobase, length: 2 }];
    this.fileSlots = options.fileSlots ?? 0x20;
    if (!Number.isInteger(this.fileSlots) || this.fileSlots < 0 || FwCfgKey.FILE_FIRST + this.fileSlots > ENTRY_MASK + 1) {
      throw new RangeError(`fw_cfg: invalid fileSlots ${String(options.fileSlots)}`);
    }
    this.maxEntry = FwCfgKey.FILE_FIRST + this.fileSlots;
    this.entries = [new Array<Uint8Array | null>(this.maxEntry).fill(null), new Array<Uint8Array | null>(this.maxEntry).fill(null)];
    this.setBytes(FwCfgKey.SIGNATURE, ascii('QEMU'));
    this.setU32(FwCfgKey.ID, FwCfgId.TRADITIONAL);
    this.setU64(FwCfgKey.RAM_SIZE, options.ramSize ?? 0);
    const nb = options.nbCpus ?? 1;
    this.setU16(FwCfgKey.NB_CPUS, nb);
    this.setU16(FwCfgKey.MAX_CPUS, options.maxCpus ?? nb);
    this.rebuildDirectory();
    this.select(0);
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

  /** Sets item `key` (0x00-0x1F, optionally | ARCH_LOCAL) to a copy of `data`. */
  setBytes(key: number, data: Uint8Array): void {
    const index = key & ENTRY_MASK;
    if (!Number.isInteger(key) || key < 0 || key > 0xffff || (key & FwCfgKey.WRITE_CHANNEL) !== 0 || index >= FwCfgKey.FILE_FIRST) {
      throw new RangeError(`fw_cfg: key 0x${key.toString(16)} is not a plain item key (files go through addFile)`);
    }
    if (index === FwCfgKey.FILE_DIR && (key & FwCfgKey.ARCH_LOCAL) === 0) {
      throw new RangeError('fw_cfg: the file directory is built from addFile');
    }
    this.store(key, data.slice());
  }

  setU16(key: number, value: number): void {
    this.setBytes(key, le(2, value));
  }

  setU32(key: number, value: number): void {
    this.setBytes(key, le(4, value));
  }

  setU64(key: number, value: number | bigint): void {
    this.setBytes(key, le(8, value));
  }

  /** Adds file `name` with a copy of `data`. Throws on a duplicate, an over-long name, or no free slot. */
  addFile(name: string, data: Uint8Array): void {
    if (name.length === 0 || name.length >= FW_CFG_MAX_FILE_PATH || !isAsciiWithoutNul(name)) {
      throw new RangeError(`fw_cfg: file name "${name}" must be 1-${FW_CFG_MAX_FILE_PATH - 1} ASCII characters without NUL`);
    }
    if (this.files.some((f) => f.name === name)) throw new Error(`fw_cfg: duplicate file name "${name}"`);
    if (this.files.length >= this.fileSlots) throw new RangeError(`fw_cfg: no free file slot for "${name}"`);
    this.files.push({ name, data: data.slice() });
    // QEMU keeps the directory sorted by name (strcmp order; names are ASCII, so by code unit).
    this.files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.rebuildDirectory();
    // Keep a guest mid-read on the item it selected.
    this.current = this.lookup(this.key);
  }

  /** The selector of file `name`, or undefined. */
  fileSelector(name: string): number | undefined {
    const i = this.files.findIndex((f) => f.name === name);
    return i < 0 ? undefined : FwCfgKey.FILE_FIRST + i;
  }

  /** Adds `etc/e820`: one 20-byte little-endian entry (u64 addr, u64 len, u32 type) per range. */
  addE820(ranges: readonly E820Range[]): void {
    this.addFile('etc/e820', buildE820(ranges));
  }

  pioRead(_port: Port, size: AccessSize): number {
    if (size !== 1) return 0;
    const data = this.current;
    if (data === null || this.offset >= data.length) return 0;
    return data[this.offset++]!;
  }

  pioWrite(port: Port, size: AccessSize, value: number): void {
    if (size === 2 && port === this.iobase) this.select(value);
  }

  reset(): void {
    this.select(0);
  }

  /**
   * The selected key and the read offset in it. The items are the host's configuration, which
   * the guest cannot change: the machine that restores builds its fw_cfg with the same items.
   */
  saveState(): DeviceSnapshot {
    return { version: SNAPSHOT_VERSION, state: { key: this.key, offset: this.offset } };
  }

  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported fw_cfg snapshot version ${snapshot.version}`);
    const s = snapshot.state;
    if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) throw new Error('fw_cfg snapshot state is not an object');
    const { key, offset } = s as Readonly<Record<string, unknown>>;
    if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key > 0xffff) throw new Error('fw_cfg snapshot field "key" is not a 16-bit selector');
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new Error('fw_cfg snapshot field "offset" is not a byte offset');
    this.select(key);
    this.offset = offset;
  }

  private select(key: number): void {
    this.key = key & 0xffff;
    this.offset = 0;
    this.current = this.lookup(this.key);
  }

  private lookup(key: number): Uint8Array | null {
    const index = key & ENTRY_MASK;
    if (index >= this.maxEntry) return null;
    return this.entries[(key & FwCfgKey.ARCH_LOCAL) !== 0 ? 1 : 0][index] ?? null;
  }

  private store(key: number, data: Uint8Array): void {
    this.entries[(key & FwCfgKey.ARCH_LOCAL) !== 0 ? 1 : 0][key & ENTRY_MASK] = data;
    if ((this.key & ~FwCfgKey.WRITE_CHANNEL) === (key & ~FwCfgKey.WRITE_CHANNEL)) this.current = data;
  }

  private rebuildDirectory(): void {
    const dir = new Uint8Array(4 + this.files.length * 64);
    const view = new DataView(dir.buffer);
    view.setUint32(0, this.files.length, false);
    const generic = this.entries[0];
    for (let i = 0; i < this.fileSlots; i++) generic[FwCfgKey.FILE_FIRST + i] = null;
    this.files.forEach((file, i) => {
      const at = 4 + i * 64;
      view.setUint32(at, file.data.length, false);
      view.setUint16(at + 4, FwCfgKey.FILE_FIRST + i, false);
      view.setUint16(at + 6, 0, false);
      dir.set(ascii(file.name), at + 8);
      generic[FwCfgKey.FILE_FIRST + i] = file.data;
    });
    generic[FwCfgKey.FILE_DIR] = dir;
  }
}

/** The `etc/e820` file contents for `ranges`. */
export function buildE820(ranges: readonly E820Range[]): Uint8Array {
  const out = new Uint8Array(ranges.length * E820_ENTRY_SIZE);
  const view = new DataView(out.buffer);
  ranges.forEach((r, i) => {
    const at = i * E820_ENTRY_SIZE;
    view.setBigUint64(at, toU64(r.base), true);
    view.setBigUint64(at + 8, toU64(r.length), true);
    if (!Number.isInteger(r.type) || r.type < 0 || r.type > 0xffff_ffff) throw new RangeError(`e820: invalid type ${r.type}`);
    view.setUint32(at + 16, r.type, true);
  });
  return out;
}

function toU64(value: number | bigint): bigint {
  if (typeof value === 'number' && (!Number.isSafeInteger(value) || value < 0)) throw new RangeError(`fw_cfg: ${value} is not a u64`);
  const v = BigInt(value);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`fw_cfg: ${value} is not a u64`);
  return v;
}

function le(bytes: 2 | 4 | 8, value: number | bigint): Uint8Array {
  const v = toU64(value);
  if (v >> BigInt(bytes * 8) !== 0n) throw new RangeError(`fw_cfg: ${value} does not fit in ${bytes} bytes`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v, true);
  return out.subarray(0, bytes);
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function isAsciiWithoutNul(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0 || c > 0x7f) return false;
  }
  return true;
}
