/**
 * The PC/AT's numeric-error logic: the BSP's FERR# output (an unmasked x87 exception pending
 * while CR0.NE = 0; SDM Vol. 1 §8.7 and Appendix D "Guidelines for Writing x87 FPU Exception
 * Handlers", §D.2: the MS-DOS compatibility sub-mode) sets a latch that drives ISA IRQ13; a write of
 * any value to I/O port 0F0H (the "coprocessor busy clear" port) clears the latch and so
 * deasserts IRQ13. Only the next FERR# rising edge asserts it again (the latch is set by the
 * edge and cleared by the OUT to 0F0H, as Appendix D describes the PC's external logic). Reads of port 0F0H return all ones.
 */
import type { AccessSize, Device, DeviceSnapshot, IoRange, IrqLine, PioDevice, Port, Resettable, Snapshottable } from '@hvkit/platform';

/** The coprocessor-error ("busy clear") port of the PC/AT. */
export const FPU_ERROR_PORT = 0xf0;

export interface FpuErrorLatchOptions {
  /** ISA IRQ13. */
  readonly irq: IrqLine;
  readonly name?: string;
}

export class FpuErrorLatch implements Device, PioDevice, Resettable, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[] = [{ base: FPU_ERROR_PORT, length: 1 }];
  private readonly irq: IrqLine;
  /** The last FERR# level seen (edge detection). */
  private ferr = false;
  /** The IRQ13 latch. */
  private latch = false;

  constructor(options: FpuErrorLatchOptions) {
    this.irq = options.irq;
    this.name = options.name ?? 'fpu-error';
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

  /** The FERR# input (the BSP's `onFerr`). */
  setFerr(asserted: boolean): void {
    if (asserted && !this.ferr) {
      this.latch = true;
      this.irq.set(true);
    }
    this.ferr = asserted;
  }

  /** Whether IRQ13 is asserted. */
  get asserted(): boolean {
    return this.latch;
  }

  pioRead(_port: Port, size: AccessSize): number {
    return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
  }

  pioWrite(_port: Port, _size: AccessSize, _value: number): void {
    this.latch = false;
    this.irq.set(false);
  }

  reset(): void {
    this.ferr = false;
    this.latch = false;
    this.irq.set(false);
  }

  saveState(): DeviceSnapshot {
    return { version: 1, state: { ferr: this.ferr, latch: this.latch } };
  }

  restoreState(snapshot: DeviceSnapshot): void {
    const s = snapshot.state as Record<string, unknown> | null;
    if (snapshot.version !== 1 || s === null || typeof s !== 'object' || typeof s['ferr'] !== 'boolean' || typeof s['latch'] !== 'boolean') {
      throw new Error('fpu-error snapshot is not valid');
    }
    this.ferr = s['ferr'];
    this.latch = s['latch'];
    this.irq.set(this.latch);
  }
}
