/**
 * A 16550A UART (the PC's COM ports), after the National Semiconductor / Texas Instruments
 * PC16550D datasheet ("PC16550D Universal Asynchronous Receiver/Transmitter with FIFOs").
 * Register and bit names below are the datasheet's ("Summary of Registers" table).
 *
 * In the spirit of rust-vmm's `vm-superio`, the device is only the register logic: it does not
 * know the buses or the host. The board gives it an {@link IrqLine} (the `INTRPT` pin as
 * gated on a PC, see below), an output sink called once per transmitted character, and host
 * input through {@link Uart16550.enqueueInput}.
 *
 * The serial line runs in zero time. A character written to the THR is on the wire at once
 * (so `THRE` and `TEMT` are set again before the next instruction), and characters from the
 * host move into the receiver as soon as it has room. Host input therefore never overruns the
 * receiver (the input queue is the flow control); an overrun can only be made by the guest
 * itself, in loopback mode. For the same reason the FIFO-mode character timeout (datasheet,
 * "FIFO Interrupt Mode Operation": no characters removed from or input to the RCVR FIFO
 * during the last 4 character times) is taken to have expired whenever the RCVR FIFO holds
 * fewer characters than its trigger level and no more are coming: a guest sees what real
 * hardware shows a few character times later.
 *
 * Parity, framing errors and breaks never occur: the host link carries whole characters.
 *
 * Interrupt wiring on a PC: the chip's `INTRPT` output reaches the interrupt controller
 * through a buffer enabled by the `OUT2` output pin, and every PC-compatible serial driver
 * sets MCR bit 3 (`OUT2`) to enable it. In loopback mode the `OUT2` pin is forced inactive
 * (datasheet, "MODEM Control Register"), so on a PC no interrupt leaves the card then.
 * `out2GatesIrq: false` gives the bare chip instead (and QEMU's model, which does not gate).
 * Either way the interrupt is visible in the IIR.
 */
import {
  InterruptLine,
  type AccessSize,
  type Device,
  type DeviceSnapshot,
  type IoRange,
  type IrqLine,
  type IrqSink,
  type PioDevice,
  type Port,
  type Resettable,
  type Snapshottable,
} from '@hvkit/platform';

/** Register offsets from the base port (datasheet, "Summary of Registers"). */
export const UartRegister = {
  /** Receiver Buffer Register (read, DLAB=0) / Transmitter Holding Register (write, DLAB=0) / Divisor Latch LS (DLAB=1). */
  RBR_THR_DLL: 0,
  /** Interrupt Enable Register (DLAB=0) / Divisor Latch MS (DLAB=1). */
  IER_DLM: 1,
  /** Interrupt Identification Register (read) / FIFO Control Register (write). */
  IIR_FCR: 2,
  /** Line Control Register. */
  LCR: 3,
  /** MODEM Control Register. */
  MCR: 4,
  /** Line Status Register. */
  LSR: 5,
  /** MODEM Status Register. */
  MSR: 6,
  /** Scratch Register. */
  SCR: 7,
} as const;

/** IER bits (datasheet, "Interrupt Enable Register"). */
export const Ier = {
  /** ERBFI: Enable Received Data Available Interrupt (and the FIFO timeout interrupt). */
  ERBFI: 0x01,
  /** ETBEI: Enable Transmitter Holding Register Empty Interrupt. */
  ETBEI: 0x02,
  /** ELSI: Enable Receiver Line Status Interrupt. */
  ELSI: 0x04,
  /** EDSSI: Enable MODEM Status Interrupt. */
  EDSSI: 0x08,
} as const;

/** IIR values (datasheet, "Interrupt Control Functions" table); bit 0 is 0 while one is pending. */
export const Iir = {
  /** Bit 0: 1 when no interrupt is pending. */
  NO_INTERRUPT: 0x01,
  /** Priority 1: Receiver Line Status (OE, PE, FE or BI). */
  RECEIVER_LINE_STATUS: 0x06,
  /** Priority 2: Received Data Available (or RCVR FIFO trigger level reached). */
  RECEIVED_DATA_AVAILABLE: 0x04,
  /** Priority 2: Character Timeout Indication (FIFO mode only). */
  CHARACTER_TIMEOUT: 0x0c,
  /** Priority 3: Transmitter Holding Register Empty. */
  THR_EMPTY: 0x02,
  /** Priority 4: MODEM Status (CTS, DSR, RI or DCD changed). */
  MODEM_STATUS: 0x00,
  /** Bits 6-7: both set while FCR0 (FIFO enable) is set. */
  FIFOS_ENABLED: 0xc0,
} as const;

/** FCR bits (datasheet, "FIFO Control Register"). */
export const Fcr = {
  /** FCR0: enable the XMIT and RCVR FIFOs; changing it clears both. */
  FIFO_ENABLE: 0x01,
  /** FCR1: clear the RCVR FIFO (self-clearing). */
  RCVR_FIFO_RESET: 0x02,
  /** FCR2: clear the XMIT FIFO (self-clearing). */
  XMIT_FIFO_RESET: 0x04,
  /** FCR3: DMA mode select (RXRDY/TXRDY pins; no effect on what the CPU sees). */
  DMA_MODE: 0x08,
  /** FCR6-7: RCVR FIFO trigger level, 1/4/8/14 characters. */
  TRIGGER_MASK: 0xc0,
} as const;

/** LCR bits (datasheet, "Line Control Register"). */
export const Lcr = {
  /** WLS0-1: word length 5 + value bits. */
  WORD_LENGTH_MASK: 0x03,
  /** STB: number of stop bits. */
  STB: 0x04,
  /** PEN: parity enable. */
  PEN: 0x08,
  /** EPS: even parity select. */
  EPS: 0x10,
  /** Stick parity. */
  STICK_PARITY: 0x20,
  /** Set Break. */
  SET_BREAK: 0x40,
  /** DLAB: Divisor Latch Access Bit. */
  DLAB: 0x80,
} as const;

/** MCR bits (datasheet, "MODEM Control Register"). */
export const Mcr = {
  DTR: 0x01,
  RTS: 0x02,
  OUT1: 0x04,
  OUT2: 0x08,
  /** LOOP: local loopback (diagnostic) mode. */
  LOOP: 0x10,
} as const;

/** LSR bits (datasheet, "Line Status Register"). */
export const Lsr = {
  /** DR: Data Ready. */
  DR: 0x01,
  /** OE: Overrun Error. */
  OE: 0x02,
  /** PE: Parity Error. */
  PE: 0x04,
  /** FE: Framing Error. */
  FE: 0x08,
  /** BI: Break Interrupt. */
  BI: 0x10,
  /** THRE: Transmitter Holding Register Empty. */
  THRE: 0x20,
  /** TEMT: Transmitter Empty (THR and TSR both empty). */
  TEMT: 0x40,
  /** Error in RCVR FIFO (FIFO mode). */
  RCVR_FIFO_ERROR: 0x80,
} as const;

/** MSR bits (datasheet, "MODEM Status Register"). */
export const Msr = {
  /** DCTS: Delta Clear to Send. */
  DCTS: 0x01,
  /** DDSR: Delta Data Set Ready. */
  DDSR: 0x02,
  /** TERI: Trailing Edge Ring Indicator. */
  TERI: 0x04,
  /** DDCD: Delta Data Carrier Detect. */
  DDCD: 0x08,
  CTS: 0x10,
  DSR: 0x20,
  RI: 0x40,
  DCD: 0x80,
} as const;

/** The MODEM status inputs of the chip (true = the signal is asserted). */
export interface ModemInputs {
  cts?: boolean;
  dsr?: boolean;
  ri?: boolean;
  dcd?: boolean;
}

/**
 * The host end of a serial port: where the guest's characters go and where the host's come
 * from. The UART calls `attach` once with a function that queues host input for the guest;
 * `transmit` receives each character the guest sends. Implementations: {@link BufferSerial}
 * here (tests, snapshots, the browser lab's terminal buffer); the CLI's Node stdio backend
 * lives in `apps/cli` because devices stay free of Node.
 */
export interface SerialBackend {
  /** A character the guest transmitted. */
  transmit(byte: number): void;
  /** Called once by the UART: `receive` queues host characters (bytes, or text sent as UTF-8). */
  attach?(receive: (bytes: ArrayLike<number> | string) => void): void;
}

/** A serial backend that keeps everything the guest sends and lets the host type. */
export class BufferSerial implements SerialBackend {
  private readonly out: number[] = [];
  private receive: ((bytes: ArrayLike<number> | string) => void) | null = null;

  transmit(byte: number): void {
    this.out.push(byte & 0xff);
  }

  attach(receive: (bytes: ArrayLike<number> | string) => void): void {
    this.receive = receive;
  }

  /** Everything transmitted so far. */
  get bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }

  /** Everything transmitted so far, as Latin-1 text. */
  get text(): string {
    return String.fromCharCode(...this.out);
  }

  /** Sends host input to the guest (throws until a UART attached this backend). */
  send(input: ArrayLike<number> | string): void {
    if (this.receive === null) throw new Error('this serial backend is not attached to a UART');
    this.receive(input);
  }
}

export interface Uart16550Options {
  /** First of the 8 ports; COM1 (0x3F8) by default. */
  base?: number;
  /** The interrupt output, as the board wired it. Takes precedence over `irqSink`. */
  irq?: IrqLine;
  /** Where to wire the interrupt output when `irq` is absent: input `irqNumber` of this sink. */
  irqSink?: IrqSink;
  /** The interrupt controller input for `irqSink`; 4 (COM1) by default. */
  irqNumber?: number;
  /** Called with each character the guest transmits (outside loopback mode). */
  onOutput?: (byte: number) => void;
  /** The host end: gets each transmitted character (after `onOutput`) and supplies input. */
  backend?: SerialBackend;
  /**
   * Whether the interrupt reaches `irq` only while the `OUT2` pin is active, as on every PC
   * serial port (see the module comment). Default true.
   */
  out2GatesIrq?: boolean;
  /** MODEM inputs at power-on; CTS, DSR and DCD asserted by default (a terminal attached). */
  modemInputs?: ModemInputs;
  name?: string;
}

/** Depth of the XMIT and RCVR FIFOs (datasheet, "General Description"). */
export const UART_FIFO_DEPTH = 16;
/** Trigger levels for FCR bits 7-6 = 00, 01, 10, 11 (datasheet, "FIFO Control Register"). */
const TRIGGER_LEVELS = [1, 4, 8, 14] as const;
/** The PC's 1.8432 MHz UART clock divided by 16: the baud rate at divisor 1. */
const BAUD_BASE = 115_200;
const SNAPSHOT_VERSION = 1;

/**
 * A 16550A UART behind the platform `Device` interface: 8 ports at `base`, interrupt on the
 * given line (IRQ 4 for COM1).
 */
export class Uart16550 implements Device, PioDevice, Resettable, Snapshottable {
  /** COM1-COM4 as wired on a PC; spread one into the options: `{ ...Uart16550.COM2, irqSink }`. */
  static readonly COM1 = { base: 0x3f8, irqNumber: 4 } as const;
  static readonly COM2 = { base: 0x2f8, irqNumber: 3 } as const;
  static readonly COM3 = { base: 0x3e8, irqNumber: 4 } as const;
  static readonly COM4 = { base: 0x2e8, irqNumber: 3 } as const;

  readonly name: string;
  readonly base: number;
  readonly pioRanges: readonly IoRange[];
  /** The interrupt controller input this UART is wired to (informational when `irq` is given). */
  readonly irqNumber: number;
  private readonly irq: IrqLine | undefined;
  private readonly onOutput: ((byte: number) => void) | undefined;
  private readonly out2GatesIrq: boolean;

  // Registers.
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsr = Lsr.THRE | Lsr.TEMT;
  /** MSR bits 0-3 (the delta bits); bits 4-7 are computed from the effective inputs. */
  private msrDeltas = 0;
  private scr = 0;
  private fcr = 0;
  private divisor = 0;
  /** The last character moved out of the RCVR FIFO / RBR (what an empty RBR reads as). */
  private rbr = 0;
  /** The RCVR FIFO, or in 16450 mode the RBR alone (at most 1 entry then). */
  private rxFifo: number[] = [];
  /** A THR Empty interrupt is pending (set when the THR empties, cleared by an IIR read or a THR write). */
  private thrInterrupt = false;
  /** The external MODEM inputs as MSR bits 4-7. */
  private externalModem: number;
  /** Bits 4-7 as last reported, to derive the delta bits. */
  private lastModem: number;
  private readonly powerOnModem: number;
  /** Host characters waiting for room in the receiver. */
  private readonly input: number[] = [];
  private inputHead = 0;

  constructor(options: Uart16550Options = {}) {
    this.base = options.base ?? Uart16550.COM1.base;
    this.name = options.name ?? 'uart16550';
    this.pioRanges = [{ base: this.base, length: 8 }];
    this.irqNumber = options.irqNumber ?? Uart16550.COM1.irqNumber;
    this.irq = options.irq ?? (options.irqSink ? new InterruptLine(options.irqSink, this.irqNumber, this.name) : undefined);
    const backend = options.backend;
    const onOutput = options.onOutput;
    this.onOutput =
      backend === undefined
        ? onOutput
        : onOutput === undefined
          ? (b) => backend.transmit(b)
          : (b) => {
              onOutput(b);
              backend.transmit(b);
            };
    backend?.attach?.((bytes) => this.enqueueInput(bytes));
    this.out2GatesIrq = options.out2GatesIrq ?? true;
    this.powerOnModem = modemBits(options.modemInputs ?? { cts: true, dsr: true, dcd: true });
    this.externalModem = this.powerOnModem;
    this.lastModem = this.powerOnModem;
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

  // ---- host side -------------------------------------------------------------------------

  /**
   * Queues characters from the host for the guest to receive, in order, as fast as it reads
   * them. A string is sent as UTF-8.
   */
  enqueueInput(bytes: ArrayLike<number> | string): void {
    if (typeof bytes === 'string') {
      utf8(bytes, this.input);
    } else {
      for (let i = 0; i < bytes.length; i++) this.input.push(bytes[i]! & 0xff);
    }
    this.fillReceiver();
    this.update();
  }

  /** Host characters not yet moved into the receiver. */
  get pendingInput(): number {
    return this.input.length - this.inputHead;
  }

  /** Sets the external MODEM inputs (CTS, DSR, RI, DCD); omitted signals keep their level. */
  setModemInputs(inputs: ModemInputs): void {
    let bits = this.externalModem;
    const apply = (v: boolean | undefined, bit: number) => {
      if (v !== undefined) bits = v ? bits | bit : bits & ~bit;
    };
    apply(inputs.cts, Msr.CTS);
    apply(inputs.dsr, Msr.DSR);
    apply(inputs.ri, Msr.RI);
    apply(inputs.dcd, Msr.DCD);
    this.externalModem = bits;
    this.modemChanged();
    this.update();
  }

  /** The baud rate the guest programmed (115200 / divisor), or 0 while the divisor is 0. */
  get baudRate(): number {
    return this.divisor === 0 ? 0 : BAUD_BASE / this.divisor;
  }

  /** Whether the chip's INTRPT output is asserted (before any OUT2 gating). */
  get interruptPending(): boolean {
    return (this.identify() & Iir.NO_INTERRUPT) === 0;
  }

  // ---- bus side --------------------------------------------------------------------------

  /**
   * The 16550 is an 8-bit part; a wider access is split into byte cycles on consecutive ports
   * (as the ISA bus does), and bytes past the 8th port read as all ones.
   */
  pioRead(port: Port, size: AccessSize): number {
    let value = 0;
    for (let i = size - 1; i >= 0; i--) {
      const offset = port - this.base + i;
      value = value * 256 + (offset < 8 ? this.readRegister(offset) : 0xff);
    }
    return value;
  }

  pioWrite(port: Port, size: AccessSize, value: number): void {
    for (let i = 0; i < size; i++) {
      const offset = port - this.base + i;
      if (offset < 8) this.writeRegister(offset, (value >>> (8 * i)) & 0xff);
    }
  }

  /** A byte read of register `offset` (0-7). */
  readRegister(offset: number): number {
    const dlab = (this.lcr & Lcr.DLAB) !== 0;
    switch (offset) {
      case UartRegister.RBR_THR_DLL:
        return dlab ? this.divisor & 0xff : this.readRbr();
      case UartRegister.IER_DLM:
        return dlab ? this.divisor >>> 8 : this.ier;
      case UartRegister.IIR_FCR:
        return this.readIir();
      case UartRegister.LCR:
        return this.lcr;
      case UartRegister.MCR:
        return this.mcr;
      case UartRegister.LSR:
        return this.readLsr();
      case UartRegister.MSR:
        return this.readMsr();
      default:
        return this.scr;
    }
  }

  /** A byte write of register `offset` (0-7). */
  writeRegister(offset: number, value: number): void {
    const dlab = (this.lcr & Lcr.DLAB) !== 0;
    switch (offset) {
      case UartRegister.RBR_THR_DLL:
        if (dlab) this.divisor = (this.divisor & 0xff00) | value;
        else this.writeThr(value);
        return;
      case UartRegister.IER_DLM:
        if (dlab) this.divisor = (this.divisor & 0xff) | (value << 8);
        else this.writeIer(value);
        return;
      case UartRegister.IIR_FCR:
        this.writeFcr(value);
        return;
      case UartRegister.LCR:
        this.lcr = value;
        return;
      case UartRegister.MCR:
        this.writeMcr(value);
        return;
      case UartRegister.LSR:
      case UartRegister.MSR:
        // Factory-test writes (datasheet, "Line Status Register": "not recommended"); ignored, as QEMU does.
        return;
      default:
        this.scr = value;
    }
  }

  // ---- registers -------------------------------------------------------------------------

  private get fifoMode(): boolean {
    return (this.fcr & Fcr.FIFO_ENABLE) !== 0;
  }

  private get loopback(): boolean {
    return (this.mcr & Mcr.LOOP) !== 0;
  }

  private get wordMask(): number {
    return (1 << (5 + (this.lcr & Lcr.WORD_LENGTH_MASK))) - 1;
  }

  private get triggerLevel(): number {
    return TRIGGER_LEVELS[(this.fcr & Fcr.TRIGGER_MASK) >>> 6]!;
  }

  private readRbr(): number {
    if (this.rxFifo.length !== 0) {
      this.rbr = this.rxFifo.shift()!;
      this.fillReceiver();
      if (this.rxFifo.length === 0) this.lsr &= ~Lsr.DR;
      this.update();
    }
    return this.rbr;
  }

  /** THR write: the character goes out at once, so the THR empties and THRE fires again. */
  private writeThr(value: number): void {
    const ch = value & this.wordMask;
    // Writing the THR clears a pending THRE interrupt (datasheet, "Interrupt Control
    // Functions"); the line drops, then rises again when the (instant) transmission empties
    // the THR: one edge per character.
    this.thrInterrupt = false;
    this.lsr &= ~(Lsr.THRE | Lsr.TEMT);
    this.update();
    if (this.loopback) this.receive(ch);
    else this.onOutput?.(ch);
    this.lsr |= Lsr.THRE | Lsr.TEMT;
    this.thrInterrupt = true;
    this.update();
  }

  private writeIer(value: number): void {
    const changed = (this.ier ^ value) & 0x0f;
    this.ier = value & 0x0f;
    // Enabling ETBEI while the THR is empty raises the THRE interrupt at once, even when an
    // IIR read had cleared it before (what PC drivers rely on; QEMU and Bochs do the same).
    if (changed & Ier.ETBEI) this.thrInterrupt = (this.ier & Ier.ETBEI) !== 0 && (this.lsr & Lsr.THRE) !== 0;
    this.update();
  }

  private readIir(): number {
    const iir = this.identify();
    // Reading the IIR when the THRE interrupt is the source clears it (datasheet, "Interrupt Control Functions").
    if ((iir & 0x0f) === Iir.THR_EMPTY) {
      this.thrInterrupt = false;
      this.update();
    }
    return iir;
  }

  /** The IIR value: the highest-priority pending interrupt (datasheet, "Interrupt Control Functions"). */
  private identify(): number {
    const fifoBits = this.fifoMode ? Iir.FIFOS_ENABLED : 0;
    const ier = this.ier;
    if (ier & Ier.ELSI && this.lsr & (Lsr.OE | Lsr.PE | Lsr.FE | Lsr.BI)) return fifoBits | Iir.RECEIVER_LINE_STATUS;
    if (ier & Ier.ERBFI && this.rxFifo.length !== 0) {
      if (!this.fifoMode || this.rxFifo.length >= this.triggerLevel) return fifoBits | Iir.RECEIVED_DATA_AVAILABLE;
      if (this.pendingInput === 0 || this.loopback) return fifoBits | Iir.CHARACTER_TIMEOUT;
    }
    if (ier & Ier.ETBEI && this.thrInterrupt) return fifoBits | Iir.THR_EMPTY;
    if (ier & Ier.EDSSI && this.msrDeltas !== 0) return fifoBits | Iir.MODEM_STATUS;
    return fifoBits | Iir.NO_INTERRUPT;
  }

  private writeFcr(value: number): void {
    const enable = value & Fcr.FIFO_ENABLE;
    if (enable !== (this.fcr & Fcr.FIFO_ENABLE)) {
      // Changing FCR0 clears both FIFOs (datasheet, "FIFO Control Register", FCR0).
      this.clearReceiver();
    }
    // FCR1-7 are programmed only together with FCR0 = 1 (datasheet, "FIFO Control Register").
    this.fcr = enable ? value & (Fcr.FIFO_ENABLE | Fcr.DMA_MODE | Fcr.TRIGGER_MASK) : 0;
    if (enable && value & Fcr.RCVR_FIFO_RESET) this.clearReceiver();
    // XMIT FIFO reset: the transmitter is always empty here; nothing to clear.
    this.fillReceiver();
    this.update();
  }

  private clearReceiver(): void {
    this.rxFifo = [];
    this.lsr &= ~(Lsr.DR | Lsr.RCVR_FIFO_ERROR);
  }

  private writeMcr(value: number): void {
    const wasLoopback = this.loopback;
    this.mcr = value & 0x1f;
    this.modemChanged();
    // Leaving loopback reconnects SIN: host characters may flow again.
    if (wasLoopback && !this.loopback) this.fillReceiver();
    this.update();
  }

  private readLsr(): number {
    const value = this.lsr;
    // Reading the LSR clears OE, PE, FE and BI (datasheet, "Line Status Register"); bit 7
    // stays while errors remain in the FIFO, which never happens here (see the module comment).
    this.lsr &= ~(Lsr.OE | Lsr.PE | Lsr.FE | Lsr.BI | Lsr.RCVR_FIFO_ERROR);
    if (value & (Lsr.OE | Lsr.PE | Lsr.FE | Lsr.BI)) this.update();
    return value;
  }

  private readMsr(): number {
    const value = this.effectiveModem() | this.msrDeltas;
    // Reading the MSR clears the delta bits 0-3 (datasheet, "MODEM Status Register").
    if (this.msrDeltas !== 0) {
      this.msrDeltas = 0;
      this.update();
    }
    return value;
  }

  /**
   * MSR bits 4-7 as the chip sees them: in loopback mode DTR→DSR, RTS→CTS, OUT1→RI and
   * OUT2→DCD (datasheet, "MODEM Control Register", bit 4).
   */
  private effectiveModem(): number {
    if (!this.loopback) return this.externalModem;
    const m = this.mcr;
    return (m & Mcr.RTS ? Msr.CTS : 0) | (m & Mcr.DTR ? Msr.DSR : 0) | (m & Mcr.OUT1 ? Msr.RI : 0) | (m & Mcr.OUT2 ? Msr.DCD : 0);
  }

  /** Derives the delta bits from a change of the effective MODEM inputs (datasheet, "MODEM Status Register"). */
  private modemChanged(): void {
    const now = this.effectiveModem();
    const changed = now ^ this.lastModem;
    if (changed & Msr.CTS) this.msrDeltas |= Msr.DCTS;
    if (changed & Msr.DSR) this.msrDeltas |= Msr.DDSR;
    if (changed & Msr.DCD) this.msrDeltas |= Msr.DDCD;
    // TERI: the RI input went from low to high, i.e. MSR bit 6 (its complement) went 1 -> 0.
    if (changed & Msr.RI && !(now & Msr.RI)) this.msrDeltas |= Msr.TERI;
    this.lastModem = now;
  }

  /** A character arrives in the receiver (from the host, or the transmitter in loopback). */
  private receive(ch: number): void {
    const capacity = this.fifoMode ? UART_FIFO_DEPTH : 1;
    if (this.rxFifo.length >= capacity) {
      // Overrun (datasheet, "Line Status Register", OE): in FIFO mode the new character is lost; in 16450 mode
      // it overwrites the RBR.
      this.lsr |= Lsr.OE;
      if (!this.fifoMode) this.rxFifo[0] = ch;
      return;
    }
    this.rxFifo.push(ch);
    this.lsr |= Lsr.DR;
  }

  /** Moves host characters into the receiver while it has room (not in loopback mode). */
  private fillReceiver(): void {
    if (this.loopback) return;
    const capacity = this.fifoMode ? UART_FIFO_DEPTH : 1;
    while (this.inputHead < this.input.length && this.rxFifo.length < capacity) {
      this.receive(this.input[this.inputHead++]! & this.wordMask);
    }
    if (this.inputHead === this.input.length) {
      this.input.length = 0;
      this.inputHead = 0;
    }
  }

  /** Drives the interrupt output from the IIR (and, on a PC, the OUT2 pin). */
  private update(): void {
    if (!this.irq) return;
    let level = this.interruptPending;
    if (this.out2GatesIrq && (!(this.mcr & Mcr.OUT2) || this.loopback)) level = false;
    this.irq.set(level);
  }

  // ---- reset and snapshots ---------------------------------------------------------------

  /**
   * Master reset (datasheet, "UART Reset Configuration" table): IER, FCR, LCR, MCR and the
   * MSR delta bits cleared, LSR = 0x60, IIR = 0x01, both FIFOs empty. The divisor latch and the
   * scratch register are not affected; host input still queued is kept.
   */
  reset(): void {
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.fcr = 0;
    this.lsr = Lsr.THRE | Lsr.TEMT;
    this.rxFifo = [];
    this.thrInterrupt = false;
    this.msrDeltas = 0;
    this.lastModem = this.effectiveModem();
    this.fillReceiver();
    this.update();
  }

  saveState(): DeviceSnapshot {
    return {
      version: SNAPSHOT_VERSION,
      state: {
        ier: this.ier,
        lcr: this.lcr,
        mcr: this.mcr,
        lsr: this.lsr,
        msrDeltas: this.msrDeltas,
        scr: this.scr,
        fcr: this.fcr,
        divisor: this.divisor,
        rbr: this.rbr,
        rxFifo: Uint8Array.from(this.rxFifo),
        thrInterrupt: this.thrInterrupt,
        externalModem: this.externalModem,
        lastModem: this.lastModem,
        input: Uint8Array.from(this.input.slice(this.inputHead)),
      },
    };
  }

  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported 16550 snapshot version ${snapshot.version}`);
    const s = snapshot.state as Record<string, unknown>;
    const byte = (key: string, max = 0xff): number => {
      const v = s[key];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Error(`16550 snapshot field "${key}" is not a valid value`);
      return v;
    };
    const bytes = (key: string, maxLength: number): number[] => {
      const v = s[key];
      if (!(v instanceof Uint8Array) || v.length > maxLength) throw new Error(`16550 snapshot field "${key}" is not a valid byte array`);
      return [...v];
    };
    if (typeof s['thrInterrupt'] !== 'boolean') throw new Error('16550 snapshot field "thrInterrupt" is not a boolean');
    const fcr = byte('fcr');
    this.ier = byte('ier') & 0x0f;
    this.lcr = byte('lcr');
    this.mcr = byte('mcr') & 0x1f;
    this.lsr = byte('lsr');
    this.msrDeltas = byte('msrDeltas') & 0x0f;
    this.scr = byte('scr');
    this.fcr = fcr;
    this.divisor = byte('divisor', 0xffff);
    this.rbr = byte('rbr');
    this.rxFifo = bytes('rxFifo', fcr & Fcr.FIFO_ENABLE ? UART_FIFO_DEPTH : 1);
    this.thrInterrupt = s['thrInterrupt'];
    this.externalModem = byte('externalModem') & 0xf0;
    this.lastModem = byte('lastModem') & 0xf0;
    const input = bytes('input', Number.MAX_SAFE_INTEGER);
    this.input.length = 0;
    this.inputHead = 0;
    for (const b of input) this.input.push(b);
    this.update();
  }
}

function modemBits(inputs: ModemInputs): number {
  return (inputs.cts ? Msr.CTS : 0) | (inputs.dsr ? Msr.DSR : 0) | (inputs.ri ? Msr.RI : 0) | (inputs.dcd ? Msr.DCD : 0);
}

/** Appends the UTF-8 encoding of `text` to `out`. */
function utf8(text: string, out: number[]): void {
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
}
