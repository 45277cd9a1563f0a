/**
 * System Control Port A (port 0x92, the "fast A20" port of PS/2-compatible chipsets; Intel
 * PIIX4 datasheet §4.1.10 "Port 92h"): bit 1 gates address line A20, writing bit 0 as 1
 * pulses a fast CPU reset. Reads return the last value written with bit 0 clear.
 *
 * The device only reports changes (`onA20`, `onReset`); the board connects them to the CPU.
 */
import type { AccessSize, Device, DeviceSnapshot, IoRange, PioDevice, Port, Resettable, Snapshottable } from '@hvkit/platform';

const SNAPSHOT_VERSION = 1;

export interface SystemControlPortOptions {
  /** Called when the A20 gate opens (true) or closes (false). */
  onA20?: (enabled: boolean) => void;
  /** Called when the guest requests a fast reset. */
  onReset?: () => void;
  /** Whether A20 starts enabled (as after a BIOS); true by default. */
  a20?: boolean;
}

export class SystemControlPort implements Device, PioDevice, Resettable, Snapshottable {
  readonly name = 'port92';
  readonly pioRanges: readonly IoRange[] = [{ base: 0x92, length: 1 }];
  private value: number;
  private readonly initial: number;

  constructor(private readonly options: SystemControlPortOptions = {}) {
    this.initial = options.a20 === false ? 0 : 2;
    this.value = this.initial;
  }

  get a20(): boolean {
    return (this.value & 2) !== 0;
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
    return this.value & 0xfe;
  }

  pioWrite(_port: Port, _size: AccessSize, value: number): void {
    const before = this.a20;
    this.value = value & 0xfe;
    if (this.a20 !== before) this.options.onA20?.(this.a20);
    if ((value & 1) !== 0) this.options.onReset?.();
  }

  reset(): void {
    const before = this.a20;
    this.value = this.initial;
    if (this.a20 !== before) this.options.onA20?.(this.a20);
  }

  saveState(): DeviceSnapshot {
    return { version: SNAPSHOT_VERSION, state: { value: this.value } };
  }

  /**
   * Restores {@link saveState}. `onA20` hears of the A20 gate when it differs from this
   * device's current one; `onReset` is never called (bit 0 is not stored).
   */
  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported port 0x92 snapshot version ${snapshot.version}`);
    const s = snapshot.state;
    if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) throw new Error('port 0x92 snapshot state is not an object');
    const value = (s as Readonly<Record<string, unknown>>)['value'];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xfe || (value & 1) !== 0) {
      throw new Error('port 0x92 snapshot field "value" is not a byte with bit 0 clear');
    }
    const before = this.a20;
    this.value = value;
    if (this.a20 !== before) this.options.onA20?.(this.a20);
  }
}
