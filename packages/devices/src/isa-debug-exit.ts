/**
 * The isa-debug-exit port, compatible with QEMU's device of the same name: a test guest
 * writes a value to it to end the run with exit status `(value << 1) | 1`, so status 1 is
 * never produced by a guest that wrote 0 by accident and a clean exit of the emulator (0)
 * stays distinguishable. Reads return 0, which is how a guest can probe for the port.
 *
 * The device only records the request and reports it to `onExit`; stopping the CPU is the
 * machine's business (devices never import the CPU).
 */
import { type AccessSize, type Device, type DeviceSnapshot, type IoRange, type PioDevice, type Port, type Resettable, type Snapshottable } from '@hvkit/platform';

const SNAPSHOT_VERSION = 1;

export interface IsaDebugExitOptions {
  /** First port; QEMU's default is 0x501 and test kernels usually pass `iobase=0xf4`. */
  iobase?: number;
  /** Number of ports; QEMU's default is 2. */
  iosize?: number;
  /** Called with the exit status when the guest writes the port. */
  onExit?: (status: number) => void;
  name?: string;
}

export class IsaDebugExit implements Device, PioDevice, Resettable, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[];
  /** The exit status the guest asked for, or `null` while it has not written the port. */
  exitStatus: number | null = null;
  private readonly onExit: ((status: number) => void) | undefined;

  constructor(options: IsaDebugExitOptions = {}) {
    const iobase = options.iobase ?? 0x501;
    const iosize = options.iosize ?? 2;
    this.name = options.name ?? 'isa-debug-exit';
    this.pioRanges = [{ base: iobase, length: iosize }];
    this.onExit = options.onExit;
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

  pioRead(_port: Port, _size: AccessSize): number {
    return 0;
  }

  pioWrite(_port: Port, _size: AccessSize, value: number): void {
    // QEMU computes (val << 1) | 1 in 64 bits; a 32-bit OUT value fits in 33 bits.
    const status = value * 2 + 1;
    this.exitStatus = status;
    this.onExit?.(status);
  }

  reset(): void {
    this.exitStatus = null;
  }

  saveState(): DeviceSnapshot {
    return { version: SNAPSHOT_VERSION, state: { exitStatus: this.exitStatus } };
  }

  /** Restores {@link saveState}; `onExit` is not called again for an exit already requested. */
  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported isa-debug-exit snapshot version ${snapshot.version}`);
    const s = snapshot.state;
    if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) throw new Error('isa-debug-exit snapshot state is not an object');
    const status = (s as Readonly<Record<string, unknown>>)['exitStatus'];
    // A status is (value << 1) | 1 of a 32-bit value: odd, at most 2^33 - 1.
    if (status !== null && (typeof status !== 'number' || !Number.isSafeInteger(status) || status < 1 || status > 2 ** 33 - 1 || status % 2 !== 1)) {
      throw new Error('isa-debug-exit snapshot field "exitStatus" is not null or an exit status');
    }
    this.exitStatus = status;
  }
}
