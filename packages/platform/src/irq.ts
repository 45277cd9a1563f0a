/**
 * Interrupt lines: the wires between devices and interrupt controllers.
 *
 * A device holds an {@link IrqLine} and drives its level; it never knows which controller is
 * on the other end. A controller implements {@link IrqSink}, one input per line number (the
 * 8259A's IR0-IR7, the I/O APIC's redirection-table pins). Whether a controller treats an
 * input as edge- or level-triggered is its own business; a line reports only level changes,
 * so an edge-triggered input sees each rising edge exactly once.
 *
 * Message-signalled interrupts are not wires: a device writes a message to the MSI address
 * window (0xFEE0_0000-0xFEEF_FFFF, SDM Vol. 3 §11.11), which is why they travel through the
 * DMA path ({@link MsiSink}), where an IOMMU can remap them.
 */

/** The controller side of interrupt wires. */
export interface IrqSink {
  /** Input `line` changed to `level` (true = asserted). */
  setIrq(line: number, level: boolean): void;
}

/** The device side of one interrupt wire. */
export interface IrqLine {
  /** The current level. */
  readonly level: boolean;
  set(level: boolean): void;
  raise(): void;
  lower(): void;
  /** A rising edge followed by a falling edge (for edge-triggered ISA devices). */
  pulse(): void;
}

/**
 * What every wire does with its level (remember it, report only changes); subclasses say where
 * a change goes. Exported so devices that fan interrupts out (a PCI host's INTx swizzle, say)
 * build on it rather than repeat it.
 */
export abstract class Wire implements IrqLine {
  private current = false;

  get level(): boolean {
    return this.current;
  }

  set(level: boolean): void {
    if (level === this.current) return;
    this.current = level;
    this.changed(level);
  }

  raise(): void {
    this.set(true);
  }

  lower(): void {
    this.set(false);
  }

  pulse(): void {
    this.set(true);
    this.set(false);
  }

  protected abstract changed(level: boolean): void;
}

/** A wire from one device to input `line` of `sink`. */
export class InterruptLine extends Wire {
  constructor(
    private readonly sink: IrqSink,
    readonly line: number,
    readonly name = `irq${line}`,
  ) {
    super();
  }

  protected changed(level: boolean): void {
    this.sink.setIrq(this.line, level);
  }
}

/**
 * A wired-OR line shared by several devices, as PCI INTx pins are (PCI Local Bus spec §2.2.6):
 * the output is asserted while any input is asserted.
 */
export class SharedInterruptLine {
  private asserted = 0;
  private readonly output: InterruptLine;

  constructor(sink: IrqSink, line: number, name = `irq${line}`) {
    this.output = new InterruptLine(sink, line, name);
  }

  /** The combined level. */
  get level(): boolean {
    return this.output.level;
  }

  /** A new input for one device. */
  input(): IrqLine {
    return new SharedInput(this);
  }

  /** @internal */
  change(delta: 1 | -1): void {
    this.asserted += delta;
    this.output.set(this.asserted > 0);
  }
}

class SharedInput extends Wire {
  constructor(private readonly shared: SharedInterruptLine) {
    super();
  }

  protected changed(level: boolean): void {
    this.shared.change(level ? 1 : -1);
  }
}

/** An `IrqSink` that records levels: for tests, and for boards with an unconnected input. */
export class IrqLevels implements IrqSink {
  /** Level of each line number seen so far. */
  readonly levels = new Map<number, boolean>();
  /** Every change, in order, as [line, level]. */
  readonly changes: [number, boolean][] = [];

  setIrq(line: number, level: boolean): void {
    this.levels.set(line, level);
    this.changes.push([line, level]);
  }

  level(line: number): boolean {
    return this.levels.get(line) ?? false;
  }
}

/** Receives message-signalled interrupts (MSI/MSI-X), SDM Vol. 3 §11.11. */
export interface MsiSink {
  /**
   * Delivers the message `data` written to `address` (in 0xFEE0_0000-0xFEEF_FFFF) by the
   * device with PCI requester ID `requesterId` (bus << 8 | device << 3 | function).
   */
  deliverMsi(address: number, data: number, requesterId: number): void;
}
