/**
 * The isa-debug-exit port, compatible with QEMU's device of the same name: a test guest
 * writes a value to it to end the run with exit status `(value << 1) | 1`, so status 1 is
 * never produced by a guest that wrote 0 by accident and a clean exit of the emulator (0)
 * stays distinguishable. Reads return 0, which is how a guest can probe for the port.
 *
 * The device only records the request and reports it to `onExit`; stopping the CPU is the
 * machine's business (devices never import the CPU).
 */
import { type AccessSize, type Device, type IoRange, type PioDevice, type Port, type Resettable } from '@hvkit/platform';

export interface IsaDebugExitOptions {
  /** First port; QEMU's default is 0x501 and test kernels usually pass `iobase=0xf4`. */
  iobase?: number;
  /** Number of ports; QEMU's default is 2. */
  iosize?: number;
  /** Called with the exit status when the guest writes the port. */
  onExit?: (status: number) => void;
  name?: string;
}

export class IsaDebugExit implements Device, PioDevice, Resettable {
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
}
