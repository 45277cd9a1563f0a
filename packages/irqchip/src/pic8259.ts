/**
 * The PC/AT pair of 8259A Programmable Interrupt Controllers, after the Intel 8259A datasheet
 * ("8259A Programmable Interrupt Controller (8259A/8259A-2)"). Command and bit names below are
 * the datasheet's: the Initialization Command Words ICW1-ICW4, the Operation Command Words
 * OCW1-OCW3, the Interrupt Request Register (IRR), In-Service Register (ISR) and Interrupt
 * Mask Register (IMR).
 *
 * Wiring, as on a PC: the master answers ports 0x20/0x21 and drives the CPU's INTR; the slave
 * answers 0xA0/0xA1 and its INT output drives the master's IR2 ("Cascading Mode"). ISA lines
 * 0-7 go to the master's IR0-IR7, lines 8-15 to the slave's IR0-IR7. Line 2 is the cascade
 * input, so `setIrq(2, ...)` is ignored while the master is in cascade mode (AT boards route
 * the ISA bus's IRQ2 pin to IRQ9; that is the board's business).
 *
 * Edge or level triggering is chosen per chip by ICW1.LTIM and per line by the ELCR registers
 * at 0x4D0/0x4D1 (Intel 82371AB PIIX4 datasheet, "ELCR1/ELCR2 - Edge/Level Control
 * Registers"); a line is level-triggered when either says so. As on PIIX, ELCR bits for lines
 * 0, 1, 2, 8 and 13 are forced to 0 (edge).
 *
 * Edge-triggered inputs ("Edge Triggered Mode"): a rising edge sets the IRR bit, and the bit
 * stays set until the interrupt is acknowledged, even if the line falls first. The real chip
 * needs the IR input to stay high until the first INTA pulse; latching instead is what lets a
 * device pulse its line (`IrqLine.pulse()`), and it is what QEMU and other emulators do.
 * Level-triggered inputs ("Level Triggered Mode"): the IRR bit follows the line, and is not
 * cleared by INTA; the ISR bit keeps the same level from interrupting again until its EOI.
 *
 * When the request that raised INTR is gone by the time of INTA (a level line dropped, a mask
 * bit set), the chip answers with IR7: a spurious interrupt, whose ISR bit is not set
 * ("Interrupt Sequence", note on the default IR7). A spurious interrupt from the slave is
 * vector base+7 of the slave (IRQ 15), and the master's IR2 stays in service, so the guest must
 * send the master an EOI, as Linux and Windows do.
 *
 * The CPU side is the `{ hasInterrupt(), acknowledge() }` pair that `@hvkit/x86`'s `Cpu`
 * polls: `acknowledge()` is the two-pulse INTA sequence of 8086 mode, returning the vector.
 */
import {
  type AccessSize,
  type Device,
  type DeviceSnapshot,
  type IoRange,
  type IrqSink,
  type PioDevice,
  type Port,
  type Resettable,
  type Snapshottable,
} from '@hvkit/platform';

/** The PC ports of the pair and of the PIIX ELCR registers. */
export const PicPort = {
  MASTER_COMMAND: 0x20,
  MASTER_DATA: 0x21,
  SLAVE_COMMAND: 0xa0,
  SLAVE_DATA: 0xa1,
  /** ELCR1: edge/level control for lines 0-7. */
  ELCR_MASTER: 0x4d0,
  /** ELCR2: edge/level control for lines 8-15. */
  ELCR_SLAVE: 0x4d1,
} as const;

/** ICW1 bits (written to the command port with D4 = 1). */
export const Icw1 = {
  /** IC4: ICW4 needed. */
  IC4: 0x01,
  /** SNGL: single (no ICW3) rather than cascade mode. */
  SNGL: 0x02,
  /** ADI: call address interval 4 (8080 mode only). */
  ADI: 0x04,
  /** LTIM: level-triggered mode. */
  LTIM: 0x08,
  /** D4: marks an ICW1. */
  INIT: 0x10,
} as const;

/** ICW4 bits. */
export const Icw4 = {
  /** µPM: 8086/8088 mode (vectors from ICW2) rather than MCS-80/85 mode. */
  UPM: 0x01,
  /** AEOI: automatic end of interrupt. */
  AEOI: 0x02,
  /** M/S: master (1) or slave (0), meaningful in buffered mode. */
  MS: 0x04,
  /** BUF: buffered mode. */
  BUF: 0x08,
  /** SFNM: special fully nested mode. */
  SFNM: 0x10,
} as const;

/** OCW2 commands: bits R, SL, EOI (D7-D5); D2-D0 are the level L2-L0. */
export const Ocw2 = {
  ROTATE_AEOI_CLEAR: 0x00,
  NON_SPECIFIC_EOI: 0x20,
  NOP: 0x40,
  SPECIFIC_EOI: 0x60,
  ROTATE_AEOI_SET: 0x80,
  ROTATE_NON_SPECIFIC_EOI: 0xa0,
  SET_PRIORITY: 0xc0,
  ROTATE_SPECIFIC_EOI: 0xe0,
} as const;

/** OCW3 bits (written to the command port with D4 = 0, D3 = 1). */
export const Ocw3 = {
  /** RIS: read the ISR (1) or the IRR (0) on the next command-port read, with RR. */
  RIS: 0x01,
  /** RR: apply RIS. */
  RR: 0x02,
  /** P: poll command. */
  POLL: 0x04,
  /** D3: marks an OCW3. */
  OCW3: 0x08,
  /** SMM: special mask mode, with ESMM. */
  SMM: 0x20,
  /** ESMM: apply SMM. */
  ESMM: 0x40,
} as const;

/** ELCR bits PIIX forces to edge: lines 0, 1, 2 (master) and 8, 13 (slave). */
const ELCR_WRITABLE_MASTER = 0xf8;
const ELCR_WRITABLE_SLAVE = 0xde;

const SNAPSHOT_VERSION = 1;
const CASCADE_IR = 2;

/** Where the initialization sequence is: which ICW the data port expects next. */
const enum InitStep {
  Ready = 0,
  Icw2 = 1,
  Icw3 = 2,
  Icw4 = 3,
}

const CHIP_FIELDS = [
  'irr',
  'isr',
  'imr',
  'lines',
  'elcr',
  'icw1',
  'icw2',
  'icw3',
  'icw4',
  'initStep',
  'highest',
  'rotateInAeoi',
  'readIsr',
  'poll',
  'specialMask',
] as const;

type ChipField = (typeof CHIP_FIELDS)[number];

/** One 8259A. Registers are bit masks over IR0-IR7. */
class Chip {
  irr = 0;
  isr = 0;
  imr = 0;
  /** The levels of the IR inputs, for edge detection and level-mode IRR. */
  lines = 0;
  elcr = 0;
  icw1 = 0;
  /** T7-T3 of the vector (ICW2 with the low three bits cleared). */
  icw2 = 0;
  icw3 = 0;
  icw4 = 0;
  initStep: InitStep = InitStep.Ready;
  /** The IR with the highest priority; the lowest is the one before it (the rotation state). */
  highest = 0;
  /** OCW2 "rotate in automatic EOI mode" is set. */
  rotateInAeoi = 0;
  /** OCW3 RR/RIS: the command port reads the ISR (1) or the IRR (0). */
  readIsr = 0;
  /** OCW3 P: the next read is a poll. */
  poll = 0;
  /** OCW3 ESMM/SMM: special mask mode. */
  specialMask = 0;

  constructor(readonly elcrWritable: number) {}

  /** Bits of IR inputs that are level-triggered. */
  levelMask(): number {
    return this.icw1 & Icw1.LTIM ? 0xff : this.elcr;
  }

  setInput(ir: number, level: boolean): void {
    const bit = 1 << ir;
    const was = (this.lines & bit) !== 0;
    if (level) this.lines |= bit;
    else this.lines &= ~bit;
    if (this.levelMask() & bit) {
      if (level) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (level && !was) {
      this.irr |= bit;
    }
  }

  /** Level-triggered IRR bits follow their lines (after an ELCR or LTIM change). */
  syncLevelIrr(): void {
    const level = this.levelMask();
    this.irr = (this.irr & ~level) | (this.lines & level);
  }

  /** The priority rank (0 = highest) of the highest-priority bit in `mask`; 8 when none. */
  rank(mask: number): number {
    if (mask === 0) return 8;
    let r = 0;
    while ((mask & (1 << ((r + this.highest) & 7))) === 0) r++;
    return r;
  }

  /**
   * The IR the chip would interrupt for now ("Priority Resolver"), or -1: the highest-priority
   * unmasked request, if it outranks everything in service. In special mask mode only masked
   * and in-service levels are inhibited, at any priority. In special fully nested mode the
   * master's cascade input in service does not block further requests from the slave.
   */
  pending(isMaster: boolean): number {
    const requests = this.irr & ~this.imr;
    if (this.specialMask) {
      const r = this.rank(requests & ~this.isr);
      return r === 8 ? -1 : (r + this.highest) & 7;
    }
    const r = this.rank(requests);
    if (r === 8) return -1;
    let inService = this.isr;
    if (isMaster && this.icw4 & Icw4.SFNM) inService &= ~(1 << CASCADE_IR);
    return r < this.rank(inService) ? (r + this.highest) & 7 : -1;
  }

  /** INTA for `ir`: set its ISR bit (or, in AEOI mode, end it at once) and clear an edge request. */
  acknowledge(ir: number): void {
    const bit = 1 << ir;
    if (this.icw4 & Icw4.AEOI) {
      if (this.rotateInAeoi) this.highest = (ir + 1) & 7;
    } else {
      this.isr |= bit;
    }
    if ((this.levelMask() & bit) === 0) this.irr &= ~bit;
  }

  /** ICW1: start the initialization sequence ("Initialization Command Words"). */
  writeIcw1(value: number): void {
    this.icw1 = value & 0x1f;
    this.initStep = InitStep.Icw2;
    // The datasheet's list: the edge sense circuit is reset, the IMR cleared, IR7 gets the
    // lowest priority, special mask mode is cleared and the status read is set to the IRR;
    // without IC4 all ICW4 functions are zero.
    this.irr &= this.levelMask();
    this.syncLevelIrr();
    this.isr = 0;
    this.imr = 0;
    this.highest = 0;
    this.specialMask = 0;
    this.readIsr = 0;
    this.poll = 0;
    this.rotateInAeoi = 0;
    this.icw3 = 0;
    this.icw4 = 0;
  }

  writeData(value: number): void {
    switch (this.initStep) {
      case InitStep.Ready:
        this.imr = value; // OCW1
        return;
      case InitStep.Icw2:
        this.icw2 = value & 0xf8;
        this.initStep = this.icw1 & Icw1.SNGL ? this.afterIcw3() : InitStep.Icw3;
        return;
      case InitStep.Icw3:
        this.icw3 = value;
        this.initStep = this.afterIcw3();
        return;
      case InitStep.Icw4:
        this.icw4 = value & 0x1f;
        this.initStep = InitStep.Ready;
        return;
    }
  }

  private afterIcw3(): InitStep {
    return this.icw1 & Icw1.IC4 ? InitStep.Icw4 : InitStep.Ready;
  }

  /** OCW2: EOI, rotation and priority commands. */
  writeOcw2(value: number): void {
    const level = value & 7;
    switch (value & 0xe0) {
      case Ocw2.ROTATE_AEOI_CLEAR:
        this.rotateInAeoi = 0;
        break;
      case Ocw2.ROTATE_AEOI_SET:
        this.rotateInAeoi = 1;
        break;
      case Ocw2.NON_SPECIFIC_EOI:
      case Ocw2.ROTATE_NON_SPECIFIC_EOI: {
        const r = this.rank(this.isr);
        if (r === 8) break;
        const ir = (r + this.highest) & 7;
        this.isr &= ~(1 << ir);
        if (value & 0x80) this.highest = (ir + 1) & 7;
        break;
      }
      case Ocw2.SPECIFIC_EOI:
        this.isr &= ~(1 << level);
        break;
      case Ocw2.ROTATE_SPECIFIC_EOI:
        this.isr &= ~(1 << level);
        this.highest = (level + 1) & 7;
        break;
      case Ocw2.SET_PRIORITY:
        this.highest = (level + 1) & 7;
        break;
      default: // Ocw2.NOP
        break;
    }
  }

  /** OCW3: read-register select, poll and special mask mode. */
  writeOcw3(value: number): void {
    if (value & Ocw3.ESMM) this.specialMask = value & Ocw3.SMM ? 1 : 0;
    if (value & Ocw3.POLL) this.poll = 1;
    if (value & Ocw3.RR) this.readIsr = value & Ocw3.RIS;
  }

  reset(): void {
    this.irr = 0;
    this.isr = 0;
    this.imr = 0;
    this.elcr = 0;
    this.icw1 = 0;
    this.icw2 = 0;
    this.icw3 = 0;
    this.icw4 = 0;
    this.initStep = InitStep.Ready;
    this.highest = 0;
    this.rotateInAeoi = 0;
    this.readIsr = 0;
    this.poll = 0;
    this.specialMask = 0;
  }

  save(): Record<ChipField, number> {
    const out = {} as Record<ChipField, number>;
    for (const f of CHIP_FIELDS) out[f] = this[f];
    return out;
  }

  restore(state: unknown, which: string): void {
    if (typeof state !== 'object' || state === null) throw new Error(`8259A snapshot: "${which}" is not an object`);
    const s = state as Record<string, unknown>;
    const values = {} as Record<ChipField, number>;
    for (const f of CHIP_FIELDS) {
      const v = s[f];
      const max = f === 'initStep' ? InitStep.Icw4 : f === 'highest' ? 7 : 0xff;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Error(`8259A snapshot field "${which}.${f}" is not a valid value`);
      values[f] = v;
    }
    Object.assign(this, values);
    this.elcr &= this.elcrWritable;
  }
}

export interface Pic8259PairOptions {
  /** The device name; defaults to "pic8259". */
  name?: string;
  /** Called when the master's INT output (the CPU's INTR) changes, e.g. to wake a halted CPU. */
  onIntrChange?: (level: boolean) => void;
}

/**
 * The master/slave 8259A pair of a PC with the PIIX ELCR registers: an `IrqSink` for ISA lines
 * 0-15, the interrupt source a `Cpu` polls, and a `Device` with port I/O, reset and snapshots.
 */
export class Pic8259Pair implements Device, PioDevice, Resettable, Snapshottable, IrqSink {
  readonly name: string;
  readonly pioRanges: readonly IoRange[];
  /** Called when INTR changes; may be set after construction. */
  onIntrChange: ((level: boolean) => void) | undefined;

  private readonly master = new Chip(ELCR_WRITABLE_MASTER);
  private readonly slave = new Chip(ELCR_WRITABLE_SLAVE);
  private intr = false;

  constructor(options: Pic8259PairOptions = {}) {
    this.name = options.name ?? 'pic8259';
    this.onIntrChange = options.onIntrChange;
    this.pioRanges = [
      { base: PicPort.MASTER_COMMAND, length: 2, name: `${this.name} master` },
      { base: PicPort.SLAVE_COMMAND, length: 2, name: `${this.name} slave` },
      { base: PicPort.ELCR_MASTER, length: 2, name: `${this.name} ELCR` },
    ];
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

  // ---- interrupt inputs ------------------------------------------------------------------

  /** ISA line `line` (0-15) changed level. Line 2 is the cascade input while cascaded. */
  setIrq(line: number, level: boolean): void {
    if (!Number.isInteger(line) || line < 0 || line > 15) throw new RangeError(`8259A pair: no ISA line ${line}`);
    if (line >= 8) this.slave.setInput(line - 8, level);
    else if (line === CASCADE_IR && this.cascaded()) return;
    else this.master.setInput(line, level);
    this.update();
  }

  // ---- CPU side --------------------------------------------------------------------------

  /** Whether the master's INT output (the CPU's INTR) is asserted. */
  hasInterrupt(): boolean {
    return this.intr;
  }

  /**
   * The INTA sequence ("Interrupt Sequence", 8086 mode): resolves the highest-priority request,
   * sets its ISR bit (unless AEOI), and returns its vector. Through IR2 the slave supplies the
   * vector. With no request left, the answer is IR7 of the chip asked: a spurious interrupt.
   */
  acknowledge(): number {
    const m = this.master;
    const ir = m.pending(true);
    let vector: number;
    if (ir < 0) {
      vector = m.icw2 | 7;
    } else if (ir === CASCADE_IR && this.cascaded()) {
      const s = this.slave;
      const sir = s.pending(false);
      if (sir >= 0) s.acknowledge(sir);
      m.acknowledge(CASCADE_IR);
      vector = s.icw2 | (sir >= 0 ? sir : 7);
    } else {
      m.acknowledge(ir);
      vector = m.icw2 | ir;
    }
    this.update();
    return vector;
  }

  // ---- port I/O ----------------------------------------------------------------------------

  pioRead(port: Port, size: AccessSize): number {
    let value = 0;
    for (let i = 0; i < size; i++) value |= this.readByte(port + i) << (8 * i);
    return value >>> 0;
  }

  pioWrite(port: Port, size: AccessSize, value: number): void {
    for (let i = 0; i < size; i++) this.writeByte(port + i, (value >>> (8 * i)) & 0xff);
  }

  private readByte(port: number): number {
    switch (port) {
      case PicPort.MASTER_COMMAND:
      case PicPort.MASTER_DATA:
        return this.readChip(this.master, true, port & 1);
      case PicPort.SLAVE_COMMAND:
      case PicPort.SLAVE_DATA:
        return this.readChip(this.slave, false, port & 1);
      case PicPort.ELCR_MASTER:
        return this.master.elcr;
      case PicPort.ELCR_SLAVE:
        return this.slave.elcr;
      default:
        return 0xff;
    }
  }

  private writeByte(port: number, value: number): void {
    switch (port) {
      case PicPort.MASTER_COMMAND:
      case PicPort.MASTER_DATA:
        this.writeChip(this.master, port & 1, value);
        break;
      case PicPort.SLAVE_COMMAND:
      case PicPort.SLAVE_DATA:
        this.writeChip(this.slave, port & 1, value);
        break;
      case PicPort.ELCR_MASTER:
        this.master.elcr = value & ELCR_WRITABLE_MASTER;
        this.master.syncLevelIrr();
        break;
      case PicPort.ELCR_SLAVE:
        this.slave.elcr = value & ELCR_WRITABLE_SLAVE;
        this.slave.syncLevelIrr();
        break;
      default:
        return;
    }
    this.update();
  }

  /**
   * A read: after a poll command ("Poll Command") the poll word, I = bit 7 and W2-W0 the level,
   * which acknowledges that level as INTA would; else the IRR or ISR (OCW3) on A0 = 0 and the
   * IMR on A0 = 1.
   */
  private readChip(chip: Chip, isMaster: boolean, a0: number): number {
    if (chip.poll) {
      chip.poll = 0;
      const ir = chip.pending(isMaster);
      if (ir < 0) return 0;
      chip.acknowledge(ir);
      this.update();
      return 0x80 | ir;
    }
    if (a0) return chip.imr;
    return chip.readIsr ? chip.isr : chip.irr;
  }

  /** A write: A0 = 0 with D4 = 1 is ICW1, with D3 = 1 OCW3, else OCW2; A0 = 1 is ICW2-4 or OCW1. */
  private writeChip(chip: Chip, a0: number, value: number): void {
    if (a0) chip.writeData(value);
    else if (value & Icw1.INIT) chip.writeIcw1(value);
    else if (value & Ocw3.OCW3) chip.writeOcw3(value);
    else chip.writeOcw2(value);
  }

  // ---- state -------------------------------------------------------------------------------

  /** The master cascades the slave on IR2 unless ICW1 put it in single mode. */
  private cascaded(): boolean {
    return (this.master.icw1 & Icw1.SNGL) === 0;
  }

  /** Propagates the slave's INT to the master's IR2 and the master's INT to INTR. */
  private update(): void {
    if (this.cascaded()) this.master.setInput(CASCADE_IR, this.slave.pending(false) >= 0);
    const intr = this.master.pending(true) >= 0;
    if (intr !== this.intr) {
      this.intr = intr;
      this.onIntrChange?.(intr);
    }
  }

  /** Power-on state: both chips uninitialized with everything clear; input levels are kept. */
  reset(): void {
    this.master.reset();
    this.slave.reset();
    // The cascade input's level is the slave's output; the rest are the devices' wires.
    this.master.lines &= ~(1 << CASCADE_IR);
    this.update();
  }

  saveState(): DeviceSnapshot {
    return { version: SNAPSHOT_VERSION, state: { master: this.master.save(), slave: this.slave.save() } };
  }

  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported 8259A snapshot version ${snapshot.version}`);
    const s = snapshot.state;
    if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) throw new Error('8259A snapshot state is not an object');
    const state = s as Readonly<Record<string, unknown>>;
    const master = new Chip(ELCR_WRITABLE_MASTER);
    const slave = new Chip(ELCR_WRITABLE_SLAVE);
    master.restore(state['master'], 'master');
    slave.restore(state['slave'], 'slave');
    this.master.restore(state['master'], 'master');
    this.slave.restore(state['slave'], 'slave');
    this.update();
  }

  // ---- inspection (for tests and debuggers) --------------------------------------------------

  /** The IRR, ISR and IMR of the master (bits 0-7) and slave (bits 8-15), without side effects. */
  registers(): { irr: number; isr: number; imr: number; elcr: number } {
    const both = (f: 'irr' | 'isr' | 'imr' | 'elcr'): number => this.master[f] | (this.slave[f] << 8);
    return { irr: both('irr'), isr: both('isr'), imr: both('imr'), elcr: both('elcr') };
  }
}
