/**
 * The Intel 8042 keyboard controller of the PC AT (IBM "Personal Computer AT Technical
 * Reference", "Keyboard Controller" and "Keyboard" sections), with the PS/2 auxiliary-port
 * commands (0xA7-0xA9, 0xD3, 0xD4) and the common fast-A20 extension (0xDD/0xDF).
 *
 * Port 0x60 is the data port (output buffer on read, input buffer on write); port 0x64 is the
 * status register on read and the command register on write. Commands complete in zero time,
 * so the input buffer is never full (IBF reads 0).
 *
 * The keyboard itself is modelled at the command level: the host queues scan codes with
 * {@link I8042.pressKey}, in the code set the guest expects to read (set 1 when the command
 * byte's translation bit is on, as it is after a BIOS). The controller does not translate.
 * No auxiliary device (mouse) is modelled: bytes the guest sends to it go to `onAuxWrite`, and
 * the host answers with {@link I8042.auxInput}; without `onAuxWrite` the port answers 0xFE.
 *
 * The device only reports changes (`onReset`, `onA20`); the board connects them to the CPU.
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

/** Status register bits (port 0x64, read). */
export const I8042Status = {
  /** Output buffer full: a byte waits at port 0x60. */
  OBF: 0x01,
  /** Input buffer full (always 0 here: commands complete at once). */
  IBF: 0x02,
  /** System flag: command byte bit 2 (set by a successful self-test). */
  SYS: 0x04,
  /** Command/data: 1 when the last write was to port 0x64. */
  CMD: 0x08,
  /** Keyboard not inhibited (the AT's keylock switch). */
  UNLOCKED: 0x10,
  /** The byte in the output buffer came from the auxiliary device (PS/2). */
  AUX_OBF: 0x20,
} as const;

/** Command byte bits (controller RAM byte 0; commands 0x20/0x60). */
export const I8042Command = {
  /** Interrupt on IRQ1 when the output buffer holds a keyboard byte. */
  KBD_INT: 0x01,
  /** Interrupt on IRQ12 when the output buffer holds an auxiliary byte. */
  AUX_INT: 0x02,
  /** System flag. */
  SYS: 0x04,
  /** Ignore the keyboard inhibit switch (AT). */
  OVERRIDE: 0x08,
  /** Keyboard interface disabled. */
  DISABLE_KBD: 0x10,
  /** Auxiliary interface disabled. */
  DISABLE_AUX: 0x20,
  /** Translate keyboard scan codes to set 1. */
  TRANSLATE: 0x40,
} as const;

/** Output port bits (commands 0xD0/0xD1). */
export const I8042OutputPort = {
  /** System reset, active low. */
  RESET_N: 0x01,
  /** Gate address line A20. */
  A20: 0x02,
  /** Output buffer full with a keyboard byte (IRQ1). */
  KBD_OBF: 0x10,
  /** Output buffer full with an auxiliary byte (IRQ12). */
  AUX_OBF: 0x20,
} as const;

export interface I8042Options {
  /** The keyboard interrupt (IRQ1), as the board wired it. Takes precedence over `irqSink`. */
  irq?: IrqLine;
  /** The auxiliary interrupt (IRQ12). Takes precedence over `irqSink`. */
  auxIrq?: IrqLine;
  /** Where to wire absent lines: inputs 1 and 12 of this sink. */
  irqSink?: IrqSink;
  /** Called when the guest resets the system (0xFE, 0xF0-0xFF with bit 0 clear, 0xD1 bit 0 = 0). */
  onReset?: () => void;
  /** Called when the A20 gate opens (true) or closes (false). */
  onA20?: (enabled: boolean) => void;
  /** Called with each byte the guest sends to the auxiliary device (0xD4). */
  onAuxWrite?: (byte: number) => void;
  /** Whether A20 starts enabled (as after a BIOS); true by default. */
  a20?: boolean;
  /** The command byte at power-on; 0x47 (both interrupts, system flag, translation) by default. */
  commandByte?: number;
  /** What command 0xC0 reads; 0xA0 (keyboard not inhibited, no manufacturing jumper) by default. */
  inputPort?: number;
  name?: string;
}

const DATA_PORT = 0x60;
const KBD_CAPACITY = 64;
const AUX_CAPACITY = 64;
const CTRL_CAPACITY = 8;

/** A fixed-capacity FIFO of bytes; no allocation after construction. */
class ByteRing {
  private readonly buf: Uint8Array;
  private head = 0;
  private count = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
  }

  get length(): number {
    return this.count;
  }

  get free(): number {
    return this.buf.length - this.count;
  }

  push(byte: number): boolean {
    if (this.count === this.buf.length) return false;
    this.buf[(this.head + this.count) % this.buf.length] = byte;
    this.count++;
    return true;
  }

  shift(): number {
    const b = this.buf[this.head]!;
    this.head = (this.head + 1) % this.buf.length;
    this.count--;
    return b;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }

  get capacity(): number {
    return this.buf.length;
  }

  /** The queued bytes, oldest first (a copy). */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.buf[(this.head + i) % this.buf.length]!;
    return out;
  }

  /** Replaces the contents with `bytes` (at most `capacity`). */
  load(bytes: Uint8Array): void {
    this.buf.set(bytes);
    this.head = 0;
    this.count = bytes.length;
  }
}

/** What the next byte written to port 0x60 is for (saved in snapshots by value: append only). */
const enum Pending {
  None,
  CommandByte,
  OutputPort,
  KbdOutputBuffer,
  AuxOutputBuffer,
  AuxDevice,
  KbdLeds,
  KbdScanSet,
  KbdTypematic,
}

const SNAPSHOT_VERSION = 1;

/** An 8042 keyboard controller with an AT/PS/2 keyboard, at ports 0x60 and 0x64. */
export class I8042 implements Device, PioDevice, Resettable, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[] = [
    { base: 0x60, length: 1 },
    { base: 0x64, length: 1 },
  ];
  private readonly irq: IrqLine | undefined;
  private readonly auxIrq: IrqLine | undefined;
  private readonly initialCommand: number;
  private readonly initialOutput: number;
  private readonly inputPort: number;

  private command: number;
  private outputPort: number;
  private lastWasCommand = true;
  private pending = Pending.None;
  /** The output buffer register. */
  private obf = false;
  private outByte = 0;
  private outAux = false;
  /** Controller replies, and beside each whether it is to look like an auxiliary byte (0xD3). */
  private readonly ctrlQueue = new ByteRing(CTRL_CAPACITY);
  private readonly ctrlAux = new ByteRing(CTRL_CAPACITY);
  private readonly kbdQueue = new ByteRing(KBD_CAPACITY);
  private readonly auxQueue = new ByteRing(AUX_CAPACITY);
  // Keyboard state.
  private scanning = true;
  private ledState = 0;
  private scanSet = 2;

  constructor(private readonly options: I8042Options = {}) {
    this.name = options.name ?? 'i8042';
    this.irq = options.irq ?? (options.irqSink ? new InterruptLine(options.irqSink, 1, `${this.name}.kbd`) : undefined);
    this.auxIrq = options.auxIrq ?? (options.irqSink ? new InterruptLine(options.irqSink, 12, `${this.name}.aux`) : undefined);
    this.initialCommand = (options.commandByte ?? 0x47) & 0xff;
    this.initialOutput = I8042OutputPort.RESET_N | (options.a20 === false ? 0 : I8042OutputPort.A20);
    this.inputPort = (options.inputPort ?? 0xa0) & 0xff;
    this.command = this.initialCommand;
    this.outputPort = this.initialOutput;
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
   * Queues the scan-code bytes of one key event. Returns false (and queues nothing) when the
   * keyboard is not scanning or its buffer has no room for all of them.
   */
  pressKey(scancodeBytes: ArrayLike<number>): boolean {
    if (!this.scanning || scancodeBytes.length > this.kbdQueue.free) return false;
    for (let i = 0; i < scancodeBytes.length; i++) this.kbdQueue.push(scancodeBytes[i]! & 0xff);
    this.refill();
    return true;
  }

  /** Queues bytes from the auxiliary device; false (nothing queued) when there is no room. */
  auxInput(bytes: ArrayLike<number>): boolean {
    if (bytes.length > this.auxQueue.free) return false;
    for (let i = 0; i < bytes.length; i++) this.auxQueue.push(bytes[i]! & 0xff);
    this.refill();
    return true;
  }

  get a20(): boolean {
    return (this.outputPort & I8042OutputPort.A20) !== 0;
  }

  /** The keyboard LEDs as last set with 0xED: bit 0 Scroll, 1 Num, 2 Caps Lock. */
  get leds(): number {
    return this.ledState;
  }

  get commandByte(): number {
    return this.command;
  }

  // ---- ports -----------------------------------------------------------------------------

  pioRead(port: Port, _size: AccessSize): number {
    if (port === DATA_PORT) {
      const b = this.outByte;
      // Reading the output buffer clears OBF, and IRQ1/IRQ12 with it; the next queued byte then
      // sets OBF again, raising the line anew. The 8042's interrupt outputs follow OBF (AT
      // Technical Reference, "Keyboard Controller": output port bits 4 and 5), and an
      // edge-triggered PIC or I/O APIC input sees one rising edge per byte only if the line drops
      // in between (Linux's atkbd otherwise loses the ID bytes after the ACK of GETID).
      this.obf = false;
      this.updateIrq();
      this.refill();
      return b;
    }
    return this.status();
  }

  pioWrite(port: Port, _size: AccessSize, value: number): void {
    value &= 0xff;
    if (port === DATA_PORT) {
      this.lastWasCommand = false;
      this.writeData(value);
    } else {
      this.lastWasCommand = true;
      this.controllerCommand(value);
    }
    this.refill();
  }

  reset(): void {
    this.command = this.initialCommand;
    this.setOutputPort(this.initialOutput);
    this.lastWasCommand = true;
    this.pending = Pending.None;
    this.obf = false;
    this.outByte = 0;
    this.outAux = false;
    this.ctrlQueue.clear();
    this.ctrlAux.clear();
    this.kbdQueue.clear();
    this.auxQueue.clear();
    this.resetKeyboard();
    this.updateIrq();
  }

  // ---- snapshots -------------------------------------------------------------------------

  /** The controller's registers and queues and the keyboard's state (scan codes still queued included). */
  saveState(): DeviceSnapshot {
    return {
      version: SNAPSHOT_VERSION,
      state: {
        command: this.command,
        outputPort: this.outputPort,
        lastWasCommand: this.lastWasCommand,
        pending: this.pending,
        obf: this.obf,
        outByte: this.outByte,
        outAux: this.outAux,
        ctrlQueue: this.ctrlQueue.toBytes(),
        ctrlAux: this.ctrlAux.toBytes(),
        kbdQueue: this.kbdQueue.toBytes(),
        auxQueue: this.auxQueue.toBytes(),
        scanning: this.scanning,
        leds: this.ledState,
        scanSet: this.scanSet,
      },
    };
  }

  /**
   * Restores a {@link saveState} snapshot and drives IRQ1/IRQ12 to match it. `onA20` hears of
   * the A20 gate when it differs from this device's current one; `onReset` is never called.
   */
  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported 8042 snapshot version ${snapshot.version}`);
    const s = snapshot.state;
    if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) throw new Error('8042 snapshot state is not an object');
    const state = s as Readonly<Record<string, unknown>>;
    const int = (key: string, min: number, max: number): number => {
      const v = state[key];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Error(`8042 snapshot field "${key}" is not an integer from ${min} to ${max}`);
      return v;
    };
    const bool = (key: string): boolean => {
      const v = state[key];
      if (typeof v !== 'boolean') throw new Error(`8042 snapshot field "${key}" is not a boolean`);
      return v;
    };
    const bytes = (key: string, ring: ByteRing): Uint8Array => {
      const v = state[key];
      if (!(v instanceof Uint8Array) || v.length > ring.capacity) throw new Error(`8042 snapshot field "${key}" is not at most ${ring.capacity} bytes`);
      return v;
    };
    const command = int('command', 0, 0xff);
    const outputPort = int('outputPort', 0, 0x0f);
    const lastWasCommand = bool('lastWasCommand');
    const pending = int('pending', Pending.None, Pending.KbdTypematic) as Pending;
    const obf = bool('obf');
    const outByte = int('outByte', 0, 0xff);
    const outAux = bool('outAux');
    const ctrlQueue = bytes('ctrlQueue', this.ctrlQueue);
    const ctrlAux = bytes('ctrlAux', this.ctrlAux);
    if (ctrlAux.length !== ctrlQueue.length || ctrlAux.some((b) => b > 1)) throw new Error('8042 snapshot field "ctrlAux" does not match "ctrlQueue"');
    const kbdQueue = bytes('kbdQueue', this.kbdQueue);
    const auxQueue = bytes('auxQueue', this.auxQueue);
    const scanning = bool('scanning');
    const leds = int('leds', 0, 7);
    const scanSet = int('scanSet', 1, 3);
    this.command = command;
    this.lastWasCommand = lastWasCommand;
    this.pending = pending;
    this.obf = obf;
    this.outByte = outByte;
    this.outAux = outAux;
    this.ctrlQueue.load(ctrlQueue);
    this.ctrlAux.load(ctrlAux);
    this.kbdQueue.load(kbdQueue);
    this.auxQueue.load(auxQueue);
    this.scanning = scanning;
    this.ledState = leds;
    this.scanSet = scanSet;
    this.setOutputPort(outputPort);
    this.updateIrq();
  }

  // ---- internals -------------------------------------------------------------------------

  private status(): number {
    let s = I8042Status.UNLOCKED;
    if (this.obf) s |= I8042Status.OBF;
    if (this.obf && this.outAux) s |= I8042Status.AUX_OBF;
    if (this.command & I8042Command.SYS) s |= I8042Status.SYS;
    if (this.lastWasCommand) s |= I8042Status.CMD;
    return s;
  }

  private reply(byte: number, aux = false): void {
    if (this.ctrlQueue.push(byte)) this.ctrlAux.push(aux ? 1 : 0);
  }

  private controllerCommand(cmd: number): void {
    this.pending = Pending.None;
    if (cmd >= 0xf0) {
      // Pulse output port lines 0-3 low for every clear bit of the low nibble; line 0 is reset.
      if ((cmd & 1) === 0) this.options.onReset?.();
      return;
    }
    switch (cmd) {
      case 0x20:
        this.reply(this.command);
        break;
      case 0x60:
        this.pending = Pending.CommandByte;
        break;
      case 0xa7:
        this.command |= I8042Command.DISABLE_AUX;
        break;
      case 0xa8:
        this.command &= ~I8042Command.DISABLE_AUX;
        break;
      case 0xa9:
        this.reply(0x00);
        break;
      case 0xaa:
        this.command |= I8042Command.SYS;
        this.reply(0x55);
        break;
      case 0xab:
        this.reply(0x00);
        break;
      case 0xad:
        this.command |= I8042Command.DISABLE_KBD;
        break;
      case 0xae:
        this.command &= ~I8042Command.DISABLE_KBD;
        break;
      case 0xc0:
        this.reply(this.inputPort);
        break;
      case 0xd0:
        this.reply(this.readOutputPort());
        break;
      case 0xd1:
        this.pending = Pending.OutputPort;
        break;
      case 0xd2:
        this.pending = Pending.KbdOutputBuffer;
        break;
      case 0xd3:
        this.pending = Pending.AuxOutputBuffer;
        break;
      case 0xd4:
        this.pending = Pending.AuxDevice;
        break;
      case 0xdd:
        this.setOutputPort(this.outputPort & ~I8042OutputPort.A20);
        break;
      case 0xdf:
        this.setOutputPort(this.outputPort | I8042OutputPort.A20);
        break;
      default:
        break; // Unknown commands are ignored.
    }
  }

  private readOutputPort(): number {
    let v = this.outputPort & 0x0f;
    if (this.obf) v |= this.outAux ? I8042OutputPort.AUX_OBF : I8042OutputPort.KBD_OBF;
    return v;
  }

  private setOutputPort(value: number): void {
    const before = this.a20;
    this.outputPort = value & 0x0f;
    if (this.a20 !== before) this.options.onA20?.(this.a20);
  }

  private writeData(value: number): void {
    const pending = this.pending;
    this.pending = Pending.None;
    switch (pending) {
      case Pending.CommandByte:
        this.command = value & 0x7f;
        return;
      case Pending.OutputPort:
        this.setOutputPort(value | I8042OutputPort.RESET_N);
        if ((value & I8042OutputPort.RESET_N) === 0) this.options.onReset?.();
        return;
      case Pending.KbdOutputBuffer:
        this.reply(value);
        return;
      case Pending.AuxOutputBuffer:
        this.reply(value, true);
        return;
      case Pending.AuxDevice:
        if (this.options.onAuxWrite) this.options.onAuxWrite(value);
        else this.auxQueue.push(0xfe);
        return;
      case Pending.KbdLeds:
        this.ledState = value & 7;
        this.kbd(0xfa);
        return;
      case Pending.KbdScanSet:
        this.scanSetArgument(value);
        return;
      case Pending.KbdTypematic:
        this.kbd(0xfa);
        return;
      case Pending.None:
        // Sending data to the keyboard enables its interface (as QEMU's and many 8042s do).
        this.command &= ~I8042Command.DISABLE_KBD;
        this.keyboardCommand(value);
        return;
    }
  }

  private kbd(byte: number): void {
    this.kbdQueue.push(byte);
  }

  private keyboardCommand(cmd: number): void {
    switch (cmd) {
      case 0xff: // Reset: acknowledge, then the basic assurance test passes.
        this.resetKeyboard();
        this.kbdQueue.clear();
        this.kbd(0xfa);
        this.kbd(0xaa);
        break;
      case 0xf6: // Set default.
        this.resetKeyboard();
        this.kbd(0xfa);
        break;
      case 0xf5: // Default disable: defaults, stop scanning.
        this.resetKeyboard();
        this.scanning = false;
        this.kbdQueue.clear();
        this.kbd(0xfa);
        break;
      case 0xf4: // Enable: clear the buffer, start scanning.
        this.scanning = true;
        this.kbdQueue.clear();
        this.kbd(0xfa);
        break;
      case 0xf3: // Set typematic rate/delay: the next byte is the rate.
        this.kbd(0xfa);
        this.pending = Pending.KbdTypematic;
        break;
      case 0xf2: // Identify: an MF2 keyboard.
        this.kbd(0xfa);
        this.kbd(0xab);
        this.kbd(0x83);
        break;
      case 0xf0: // Select scan code set: the next byte is the set (0 = report it).
        this.kbd(0xfa);
        this.pending = Pending.KbdScanSet;
        break;
      case 0xee: // Echo.
        this.kbd(0xee);
        break;
      case 0xed: // Set/reset mode indicators: the next byte is the LED mask.
        this.kbd(0xfa);
        this.pending = Pending.KbdLeds;
        break;
      default:
        this.kbd(0xfe); // Resend: not a command this keyboard knows.
        break;
    }
  }

  private scanSetArgument(value: number): void {
    if (value === 0) {
      this.kbd(0xfa);
      this.kbd(this.scanSet);
    } else if (value >= 1 && value <= 3) {
      this.scanSet = value;
      this.kbd(0xfa);
    } else {
      this.kbd(0xfe);
    }
  }

  private resetKeyboard(): void {
    this.scanning = true;
    this.ledState = 0;
    this.scanSet = 2;
  }

  /** Moves the next byte into an empty output buffer, then updates the interrupt lines. */
  private refill(): void {
    if (!this.obf) {
      if (this.ctrlQueue.length > 0) {
        this.outByte = this.ctrlQueue.shift();
        this.outAux = this.ctrlAux.shift() !== 0;
        this.obf = true;
      } else if ((this.command & I8042Command.DISABLE_KBD) === 0 && this.kbdQueue.length > 0) {
        this.outByte = this.kbdQueue.shift();
        this.outAux = false;
        this.obf = true;
      } else if ((this.command & I8042Command.DISABLE_AUX) === 0 && this.auxQueue.length > 0) {
        this.outByte = this.auxQueue.shift();
        this.outAux = true;
        this.obf = true;
      }
    }
    this.updateIrq();
  }

  private updateIrq(): void {
    this.irq?.set(this.obf && !this.outAux && (this.command & I8042Command.KBD_INT) !== 0);
    this.auxIrq?.set(this.obf && this.outAux && (this.command & I8042Command.AUX_INT) !== 0);
  }
}
