/**
 * Debug ports that test guests use, compatible with QEMU and Bochs:
 *
 * - {@link DebugCon}: the Bochs/QEMU "port 0xE9 hack" (QEMU `-device isa-debugcon`). Every byte
 *   written is a character for the host; a read returns the readback value (0xE9 by default,
 *   as QEMU's `readback` property), which is how a guest detects the port.
 * - {@link BochsShutdownPort}: Bochs' port 0x8900. Writing the bytes of the string
 *   `"Shutdown"` in order asks to power the machine off.
 *
 * The devices only report what the guest asked for; ending the run is the machine's business.
 */
import { type AccessSize, type Device, type DeviceSnapshot, type IoRange, type PioDevice, type Port, type Resettable, type Snapshottable } from '@hvkit/platform';

const SNAPSHOT_VERSION = 1;

/** The state object of a snapshot of `device`, or an error naming it. */
function snapshotState(snapshot: DeviceSnapshot, device: string): Readonly<Record<string, unknown>> {
  if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported ${device} snapshot version ${snapshot.version}`);
  const s = snapshot.state;
  if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) throw new Error(`${device} snapshot state is not an object`);
  return s as Readonly<Record<string, unknown>>;
}

export interface DebugConOptions {
  /** The port; 0xE9 by default (QEMU's `iobase`). */
  iobase?: number;
  /** What a read returns; 0xE9 by default (QEMU's `readback`). */
  readback?: number;
  /** Called with each byte the guest writes. */
  onOutput?: (byte: number) => void;
  name?: string;
}

export class DebugCon implements Device, PioDevice, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[];
  readonly readback: number;
  private readonly onOutput: ((byte: number) => void) | undefined;

  constructor(options: DebugConOptions = {}) {
    const iobase = options.iobase ?? 0xe9;
    this.name = options.name ?? 'debugcon';
    this.pioRanges = [{ base: iobase, length: 1 }];
    this.readback = (options.readback ?? 0xe9) & 0xff;
    this.onOutput = options.onOutput;
  }

  supportsPio(): PioDevice {
    return this;
  }

  supportsSnapshot(): Snapshottable {
    return this;
  }

  pioRead(_port: Port, _size: AccessSize): number {
    return this.readback;
  }

  /** The port keeps no state (the readback value is configuration); the snapshot says so. */
  saveState(): DeviceSnapshot {
    return { version: SNAPSHOT_VERSION, state: {} };
  }

  restoreState(snapshot: DeviceSnapshot): void {
    snapshotState(snapshot, 'debugcon');
  }

  /** As QEMU's debugcon, a wider OUT sends its low byte only. */
  pioWrite(_port: Port, _size: AccessSize, value: number): void {
    this.onOutput?.(value & 0xff);
  }
}

export interface BochsShutdownPortOptions {
  /** The port; 0x8900 by default, as in Bochs. */
  iobase?: number;
  /** Called when the guest has written the whole string `"Shutdown"`. */
  onShutdown?: () => void;
  name?: string;
}

const SHUTDOWN = Array.from('Shutdown', (c) => c.charCodeAt(0));

export class BochsShutdownPort implements Device, PioDevice, Resettable, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[];
  /** Whether the guest has asked to shut down since the last reset. */
  shutdownRequested = false;
  private readonly onShutdown: (() => void) | undefined;
  /** How many bytes of `"Shutdown"` have been matched so far. */
  private matched = 0;

  constructor(options: BochsShutdownPortOptions = {}) {
    const iobase = options.iobase ?? 0x8900;
    this.name = options.name ?? 'bochs-shutdown';
    this.pioRanges = [{ base: iobase, length: 1 }];
    this.onShutdown = options.onShutdown;
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

  /** Nothing to read: the port floats. */
  pioRead(_port: Port, size: AccessSize): number {
    return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffff_ffff;
  }

  pioWrite(_port: Port, _size: AccessSize, value: number): void {
    const byte = value & 0xff;
    if (byte === SHUTDOWN[this.matched]) {
      this.matched++;
      if (this.matched === SHUTDOWN.length) {
        this.matched = 0;
        this.shutdownRequested = true;
        this.onShutdown?.();
      }
    } else {
      // Any other byte resets the matcher; an 'S' starts a new attempt at once.
      this.matched = byte === SHUTDOWN[0] ? 1 : 0;
    }
  }

  reset(): void {
    this.matched = 0;
    this.shutdownRequested = false;
  }

  /** How much of `"Shutdown"` has been matched, and whether it was requested. */
  saveState(): DeviceSnapshot {
    return { version: SNAPSHOT_VERSION, state: { matched: this.matched, shutdownRequested: this.shutdownRequested } };
  }

  /** Restores {@link saveState}; `onShutdown` is not called again for a request already made. */
  restoreState(snapshot: DeviceSnapshot): void {
    const { matched, shutdownRequested } = snapshotState(snapshot, 'Bochs shutdown port');
    if (typeof matched !== 'number' || !Number.isInteger(matched) || matched < 0 || matched >= SHUTDOWN.length) {
      throw new Error(`Bochs shutdown port snapshot field "matched" is not 0-${SHUTDOWN.length - 1}`);
    }
    if (typeof shutdownRequested !== 'boolean') throw new Error('Bochs shutdown port snapshot field "shutdownRequested" is not a boolean');
    this.matched = matched;
    this.shutdownRequested = shutdownRequested;
  }
}
