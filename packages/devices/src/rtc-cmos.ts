/**
 * The PC's real-time clock and CMOS RAM, after the Motorola MC146818A datasheet ("MC146818A
 * Real-Time Clock Plus RAM (RTC)"). Register and bit names below are the datasheet's
 * ("Address Map", "Register A" to "Register D").
 *
 * On a PC the chip sits behind two ports: 0x70 selects a RAM address (bits 6-0) and, through
 * bit 7, masks the NMI (a board feature, reported through `onNmiMask`); 0x71 reads and writes
 * the selected byte. The interrupt output `IRQ` is wired to IRQ 8.
 *
 * Time is guest time only: the clock reads the configured base date (2000-01-01T00:00:00Z by
 * default) at guest time 0 and advances with the platform {@link VirtualClock}, so a run is
 * reproducible. The divider chain counts 32.768 kHz time-base ticks from guest time 0; update
 * cycles (the seconds) happen on whole guest seconds of that chain and periodic interrupts
 * on its rate-select taps, so every interrupt is raised at an exact guest time by a platform
 * {@link Timer}. Nothing runs while the interrupt is asserted or disabled: status flags are
 * worked out when the guest looks at them, so an idle RTC costs nothing.
 *
 * Simplifications: an update cycle takes no time (the registers change at the instant the
 * second ends; UIP is high for the 244 us before it, the datasheet's tBUC); the day of week is
 * derived from the date (Sunday = 1) rather than counted; the daylight-saving enable (DSE) and
 * square-wave enable (SQWE) bits are stored but have no effect; the periodic rates are those of
 * the 32.768 kHz time base whatever the DV bits select; time registers written with values out
 * of range are normalised as a calendar would (31 April is 1 May).
 */
import {
  InterruptLine,
  tickTimeNs,
  ticksAt,
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
  type Timer,
  type VirtualClock,
} from '@hvkit/platform';

/** CMOS addresses of the clock (datasheet "Address Map"), plus the PC's century byte. */
export const RtcRegister = {
  SECONDS: 0x00,
  SECONDS_ALARM: 0x01,
  MINUTES: 0x02,
  MINUTES_ALARM: 0x03,
  HOURS: 0x04,
  HOURS_ALARM: 0x05,
  DAY_OF_WEEK: 0x06,
  DATE_OF_MONTH: 0x07,
  MONTH: 0x08,
  YEAR: 0x09,
  A: 0x0a,
  B: 0x0b,
  C: 0x0c,
  D: 0x0d,
  /** The century, as the IBM PC/AT BIOS and ACPI's FADT `CENTURY` field place it. */
  CENTURY: 0x32,
} as const;

/** Register A bits (datasheet "Register A"). */
export const RegA = {
  /** UIP: update in progress (read-only). */
  UIP: 0x80,
  /** DV2-DV0: divider select; 010 = 32.768 kHz time base, 11x = divider chain held in reset. */
  DV_MASK: 0x70,
  /** RS3-RS0: rate select for the periodic interrupt and square wave. */
  RS_MASK: 0x0f,
} as const;

/** Register B bits (datasheet "Register B"). */
export const RegB = {
  /** SET: inhibit update cycles so the guest can set the time. */
  SET: 0x80,
  /** PIE: periodic interrupt enable. */
  PIE: 0x40,
  /** AIE: alarm interrupt enable. */
  AIE: 0x20,
  /** UIE: update-ended interrupt enable. */
  UIE: 0x10,
  /** SQWE: square-wave enable. */
  SQWE: 0x08,
  /** DM: data mode, 1 = binary, 0 = BCD. */
  DM: 0x04,
  /** 24/12: 1 = 24-hour mode, 0 = 12-hour mode (PM in bit 7 of the hours). */
  HOUR_24: 0x02,
  /** DSE: daylight-savings enable. */
  DSE: 0x01,
} as const;

/** Register C bits (datasheet "Register C"); read-only, cleared by reading. */
export const RegC = {
  /** IRQF: interrupt request flag = PF·PIE + AF·AIE + UF·UIE; mirrors the IRQ pin. */
  IRQF: 0x80,
  /** PF: periodic interrupt flag. */
  PF: 0x40,
  /** AF: alarm interrupt flag. */
  AF: 0x20,
  /** UF: update-ended interrupt flag. */
  UF: 0x10,
} as const;

/** Register D bits (datasheet "Register D"). */
export const RegD = {
  /** VRT: valid RAM and time (the battery is good). */
  VRT: 0x80,
} as const;

export interface RtcCmosOptions {
  /** The guest clock; the RTC creates its timer on it. */
  clock: VirtualClock;
  /** The date the clock shows at guest time 0; 2000-01-01T00:00:00Z by default. */
  baseDate?: Date | number;
  /** First of the two ports; 0x70 by default. */
  iobase?: number;
  /** The interrupt output, as the board wired it. Takes precedence over `irqSink`. */
  irq?: IrqLine;
  /** Where to wire the interrupt output when `irq` is absent: input `irqNumber` of this sink. */
  irqSink?: IrqSink;
  /** The interrupt controller input for `irqSink`; 8 by default. */
  irqNumber?: number;
  /** Called when the guest changes the NMI mask (port 0x70 bit 7; true = NMI masked). */
  onNmiMask?: (masked: boolean) => void;
  name?: string;
}

const NS_PER_SECOND = 1_000_000_000;
const SECONDS_PER_DAY = 86_400;
/** The 32.768 kHz time base. */
const TICKS_PER_SECOND = 32_768;
/** tBUC, the time UIP is high before an update cycle: 244 us, 8 time-base ticks. */
const UIP_BEFORE_UPDATE_NS = 244_140;
/** After the divider chain leaves reset, the first update comes half a second later. */
const FIRST_UPDATE_AFTER_RESET_NS = 500_000_000;
const DEFAULT_BASE = Date.UTC(2000, 0, 1);
/** What the QEMU board leaves in the register at power-on: 32.768 kHz base, 1024 Hz rate. */
const POWER_ON_A = 0x26;
/** 24-hour mode, BCD. */
const POWER_ON_B = RegB.HOUR_24;
/** QEMU i440fx: at 3.5 GiB of RAM or more, only the first 3 GiB sit below 4 GiB. */
const LOW_MEMORY_SPLIT = 0xe000_0000;
const LOW_MEMORY_LIMIT = 0xc000_0000;

const KiB = 1024;
const MiB = 1024 * KiB;

/** Wildcard and impossible alarm values. */
const ANY = -1;
const NEVER = -2;

function toBcd(v: number): number {
  return ((Math.floor(v / 10) % 10) << 4) | (v % 10);
}

/** A BCD byte's value, or NaN when a nibble is not a decimal digit. */
function fromBcd(v: number): number {
  const hi = v >> 4;
  const lo = v & 0x0f;
  return hi > 9 || lo > 9 ? NaN : hi * 10 + lo;
}

/** Period of the periodic interrupt in time-base ticks for rate select `rs`, or 0 (none). */
function periodTicks(rs: number): number {
  if (rs === 0) return 0;
  // Rates 1 and 2 repeat rates 8 and 9 on the 32.768 kHz time base (datasheet Table 5).
  return rs <= 2 ? 1 << (rs + 6) : 1 << (rs - 1);
}

/** Ticks of the time base in `d` ns (d >= 0), exactly. */
function ticksIn(d: number): number {
  return ticksAt(d, TICKS_PER_SECOND);
}

/** The first whole nanosecond at or after tick `t`. */
function nsOfTick(t: number): number {
  return tickTimeNs(t, TICKS_PER_SECOND);
}

/** The smallest value >= lo of an alarm field (ANY, NEVER or a value), or -1. */
function firstAtLeast(spec: number, lo: number, max: number): number {
  if (spec === NEVER) return -1;
  if (spec === ANY) return lo <= max ? lo : -1;
  return spec >= lo ? spec : -1;
}

/** The first second of the day >= tod matching the alarm, or -1. */
function nextMatchInDay(tod: number, hs: number, ms: number, ss: number): number {
  const th = Math.floor(tod / 3600);
  const tm = Math.floor((tod % 3600) / 60);
  const ts = tod % 60;
  for (let h = firstAtLeast(hs, th, 23); h !== -1; h = firstAtLeast(hs, h + 1, 23)) {
    for (let m = firstAtLeast(ms, h === th ? tm : 0, 59); m !== -1; m = firstAtLeast(ms, m + 1, 59)) {
      const s = firstAtLeast(ss, h === th && m === tm ? ts : 0, 59);
      if (s !== -1) return h * 3600 + m * 60 + s;
    }
  }
  return -1;
}

const SNAPSHOT_VERSION = 1;

/**
 * The MC146818A RTC with 128 bytes of CMOS RAM behind ports 0x70/0x71, interrupt on IRQ 8.
 */
export class RtcCmos implements Device, PioDevice, Resettable, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[];
  readonly irqNumber: number;
  private readonly clock: VirtualClock;
  private readonly timer: Timer;
  private readonly irq: IrqLine | undefined;
  private readonly onNmiMask: ((masked: boolean) => void) | undefined;
  private readonly iobase: number;

  /** The 128 bytes; the time registers hold the time only while updates are inhibited. */
  private readonly ram = new Uint8Array(128);
  private index = 0;
  private nmi = false;
  /** Guest time (ns) at which the divider chain was at tick 0; may be negative. */
  private chainNs = 0;
  /** Time (Unix seconds) shown when the chain was at tick 0, while updates run. */
  private epochSec: number;
  /** Register C flags (PF, AF, UF) accumulated up to `syncedNs`. */
  private flags = 0;
  private syncedNs: number;

  constructor(options: RtcCmosOptions) {
    this.clock = options.clock;
    this.iobase = options.iobase ?? 0x70;
    this.name = options.name ?? 'rtc-cmos';
    this.pioRanges = [{ base: this.iobase, length: 2 }];
    this.irqNumber = options.irqNumber ?? 8;
    this.irq = options.irq ?? (options.irqSink ? new InterruptLine(options.irqSink, this.irqNumber, this.name) : undefined);
    this.onNmiMask = options.onNmiMask;
    const base = options.baseDate ?? DEFAULT_BASE;
    const baseMs = typeof base === 'number' ? base : base.getTime();
    if (!Number.isFinite(baseMs)) throw new RangeError(`${this.name}: base date is not a valid date`);
    this.epochSec = Math.floor(baseMs / 1000);
    this.syncedNs = this.clock.nowNs;
    this.timer = this.clock.createTimer(this.name, () => {
      this.sync();
      this.schedule();
    });
    this.ram[RtcRegister.A] = POWER_ON_A;
    this.ram[RtcRegister.B] = POWER_ON_B;
    // The chain has run since guest time 0 from the base date.
    this.chainNs = 0;
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

  // ---- board side ------------------------------------------------------------------------

  /** Whether port 0x70 bit 7 currently masks the NMI. */
  get nmiMasked(): boolean {
    return this.nmi;
  }

  /** The CMOS address port 0x70 selects (0-127). */
  get selectedIndex(): number {
    return this.index;
  }

  /** The current time shown by the clock, as a Date (ms since the Unix epoch). */
  get currentDate(): Date {
    return new Date(this.currentSeconds() * 1000);
  }

  /** Reads a CMOS byte as the guest would (time registers show the current time). */
  readCmos(index: number): number {
    return this.readRegister(index & 0x7f);
  }

  /** Writes a CMOS byte as the guest would. */
  writeCmos(index: number, value: number): void {
    this.writeRegister(index & 0x7f, value & 0xff);
  }

  /**
   * Stores the memory size where the BIOS reads it (SeaBIOS `rtc_read`, QEMU `pc_cmos_init`):
   * 0x15/0x16 base memory in KiB (640); 0x17/0x18 and 0x30/0x31 extended memory above 1 MiB in
   * KiB, at most 65535; 0x34/0x35 memory between 16 MiB and 4 GiB in 64 KiB units; 0x5B-0x5D
   * memory above 4 GiB in 64 KiB units. `lowBytes` is how much of the RAM sits below 4 GiB;
   * by default QEMU i440fx's split (all of it, or 3 GiB when there are 3.5 GiB or more).
   */
  setMemorySize(bytes: number, lowBytes?: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`${this.name}: memory size ${bytes} is not a valid size`);
    const low = lowBytes ?? (bytes >= LOW_MEMORY_SPLIT ? LOW_MEMORY_LIMIT : bytes);
    if (!Number.isSafeInteger(low) || low < 0 || low > bytes || low > 0x1_0000_0000) {
      throw new RangeError(`${this.name}: low memory ${lowBytes} does not fit memory size ${bytes}`);
    }
    const high = bytes - low;
    const set16 = (at: number, v: number): void => {
      this.ram[at] = v & 0xff;
      this.ram[at + 1] = (v >> 8) & 0xff;
    };
    set16(0x15, 640);
    const extended = Math.min(65535, Math.max(0, Math.floor(low / KiB) - 1024));
    set16(0x17, extended);
    set16(0x30, extended);
    const above16 = Math.min(65535, low > 16 * MiB ? Math.floor((low - 16 * MiB) / (64 * KiB)) : 0);
    set16(0x34, above16);
    const above4g = Math.floor(high / (64 * KiB));
    this.ram[0x5b] = above4g & 0xff;
    this.ram[0x5c] = (above4g >> 8) & 0xff;
    this.ram[0x5d] = (above4g >> 16) & 0xff;
  }

  // ---- ports -----------------------------------------------------------------------------

  pioRead(port: Port, _size: AccessSize): number {
    // The index port is write-only; it reads as a floating bus.
    if (port === this.iobase) return 0xff;
    return this.readRegister(this.index);
  }

  pioWrite(port: Port, _size: AccessSize, value: number): void {
    if (port === this.iobase) {
      this.index = value & 0x7f;
      const masked = (value & 0x80) !== 0;
      if (masked !== this.nmi) {
        this.nmi = masked;
        this.onNmiMask?.(masked);
      }
      return;
    }
    this.writeRegister(this.index, value & 0xff);
  }

  /**
   * The RESET pin (datasheet "RESET"): clears PIE, AIE, UIE and SQWE in register B and the
   * flags of register C, dropping IRQ; the time, the alarm and the RAM are kept.
   */
  reset(): void {
    this.sync();
    this.ram[RtcRegister.B]! &= ~(RegB.PIE | RegB.AIE | RegB.UIE | RegB.SQWE);
    this.flags = 0;
    this.irq?.lower();
    this.schedule();
  }

  // ---- snapshots -------------------------------------------------------------------------

  /**
   * The RAM, the index and NMI-mask latch, the divider-chain phase and epoch, the register C
   * flags with the time they were worked out to, and the timer's deadline. Times are guest ns
   * of the machine's clock, which the machine restores with the devices.
   */
  saveState(): DeviceSnapshot {
    return {
      version: SNAPSHOT_VERSION,
      state: {
        ram: this.ram.slice(),
        index: this.index,
        nmi: this.nmi,
        chainNs: this.chainNs,
        epochSec: this.epochSec,
        flags: this.flags,
        syncedNs: this.syncedNs,
        timerNs: this.timer.armed ? this.timer.deadlineNs : null,
      },
    };
  }

  /**
   * Restores a {@link saveState} snapshot. The timer is re-armed for the saved deadline, so the
   * next interrupt comes at the same guest time; IRQ is driven to what the restored flags say;
   * `onNmiMask` hears of the NMI mask when it differs from this device's current one.
   */
  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported RTC snapshot version ${snapshot.version}`);
    const s = snapshot.state;
    if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) throw new Error('RTC snapshot state is not an object');
    const state = s as Readonly<Record<string, unknown>>;
    const time = (key: string): number => {
      const v = state[key];
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new Error(`RTC snapshot field "${key}" is not an integer`);
      return v;
    };
    const ram = state['ram'];
    if (!(ram instanceof Uint8Array) || ram.length !== this.ram.length) throw new Error('RTC snapshot field "ram" is not 128 bytes');
    const index = time('index');
    if (index < 0 || index > 0x7f) throw new Error('RTC snapshot field "index" is not 0-127');
    const nmi = state['nmi'];
    if (typeof nmi !== 'boolean') throw new Error('RTC snapshot field "nmi" is not a boolean');
    const flags = time('flags');
    if ((flags & ~(RegC.PF | RegC.AF | RegC.UF)) !== 0) throw new Error('RTC snapshot field "flags" has bits other than PF, AF and UF');
    const chainNs = time('chainNs');
    const epochSec = time('epochSec');
    const syncedNs = time('syncedNs');
    const timerNs = state['timerNs'];
    if (timerNs !== null && (typeof timerNs !== 'number' || !Number.isSafeInteger(timerNs) || timerNs < 0)) {
      throw new Error('RTC snapshot field "timerNs" is not null or a guest time');
    }
    this.ram.set(ram);
    this.index = index;
    this.chainNs = chainNs;
    this.epochSec = epochSec;
    this.flags = flags;
    this.syncedNs = syncedNs;
    if (timerNs === null) this.timer.cancel();
    else this.timer.armAt(timerNs);
    this.irq?.set(this.irqf());
    if (nmi !== this.nmi) {
      this.nmi = nmi;
      this.onNmiMask?.(nmi);
    }
  }

  // ---- registers -------------------------------------------------------------------------

  private readRegister(index: number): number {
    switch (index) {
      case RtcRegister.A:
        return (this.ram[RtcRegister.A]! & ~RegA.UIP) | (this.updateInProgress() ? RegA.UIP : 0);
      case RtcRegister.B:
        return this.ram[RtcRegister.B]!;
      case RtcRegister.C: {
        this.sync();
        const value = this.flags | (this.irqf() ? RegC.IRQF : 0);
        this.flags = 0;
        this.irq?.lower();
        this.schedule();
        return value;
      }
      case RtcRegister.D:
        return RegD.VRT;
      default:
        if (this.isTimeRegister(index) && this.updating()) this.storeTime(this.currentSeconds());
        return this.ram[index]!;
    }
  }

  private writeRegister(index: number, value: number): void {
    switch (index) {
      case RtcRegister.A:
        this.writeA(value);
        return;
      case RtcRegister.B:
        this.writeB(value);
        return;
      case RtcRegister.C:
      case RtcRegister.D:
        return; // read-only
      default:
        if (this.isTimeRegister(index) && this.updating()) {
          // Setting the time without SET: the clock carries on from the new value.
          this.sync();
          this.storeTime(this.currentSeconds());
          this.ram[index] = value;
          this.epochSec = this.registerSeconds() - this.secondsSinceChainStart();
          this.syncedNs = this.clock.nowNs;
          this.schedule();
          return;
        }
        this.ram[index] = value;
        if (index === RtcRegister.SECONDS_ALARM || index === RtcRegister.MINUTES_ALARM || index === RtcRegister.HOURS_ALARM) {
          this.sync();
          this.schedule();
        }
    }
  }

  private writeA(value: number): void {
    this.sync();
    const wasRunning = this.chainRunning();
    const wasUpdating = this.updating();
    if (wasUpdating) this.storeTime(this.currentSeconds());
    this.ram[RtcRegister.A] = value & ~RegA.UIP;
    const running = this.chainRunning();
    if (running && !wasRunning) {
      // Leaving divider reset: the first update cycle begins 500 ms later (datasheet "DV0-DV2").
      this.chainNs = this.clock.nowNs - FIRST_UPDATE_AFTER_RESET_NS;
    }
    if (this.updating() && (!wasUpdating || !wasRunning)) this.epochSec = this.registerSeconds() - this.secondsSinceChainStart();
    this.syncedNs = this.clock.nowNs;
    this.schedule();
  }

  private writeB(value: number): void {
    this.sync();
    const wasUpdating = this.updating();
    if (wasUpdating) this.storeTime(this.currentSeconds());
    // SET going high aborts updates and clears UIE (datasheet "UIE"; QEMU does the same).
    if (value & RegB.SET) value &= ~RegB.UIE;
    this.ram[RtcRegister.B] = value;
    if (this.updating() && !wasUpdating) {
      // SET cleared: the written time counts on with the divider chain's phase kept.
      this.epochSec = this.registerSeconds() - this.secondsSinceChainStart();
    }
    this.syncedNs = this.clock.nowNs;
    // IRQF follows the enables at once: enabling PIE with PF set asserts IRQ.
    this.irq?.set(this.irqf());
    this.schedule();
  }

  // ---- time ------------------------------------------------------------------------------

  private isTimeRegister(index: number): boolean {
    return (index <= RtcRegister.YEAR && index !== RtcRegister.SECONDS_ALARM && index !== RtcRegister.MINUTES_ALARM && index !== RtcRegister.HOURS_ALARM) || index === RtcRegister.CENTURY;
  }

  /** DV bits 000, 001 or 010: a time base is selected and the chain counts (QEMU's rule). */
  private chainRunning(): boolean {
    return (this.ram[RtcRegister.A]! & RegA.DV_MASK) <= 0x20;
  }

  /** Update cycles happen: the chain counts and SET is clear. */
  private updating(): boolean {
    return this.chainRunning() && (this.ram[RtcRegister.B]! & RegB.SET) === 0;
  }

  private binary(): boolean {
    return (this.ram[RtcRegister.B]! & RegB.DM) !== 0;
  }

  private hour24(): boolean {
    return (this.ram[RtcRegister.B]! & RegB.HOUR_24) !== 0;
  }

  /** Whole seconds the chain has counted at guest time `ns`. */
  private secondsSinceChainStart(ns = this.clock.nowNs): number {
    return Math.floor((ns - this.chainNs) / NS_PER_SECOND);
  }

  private currentSeconds(): number {
    return this.updating() ? this.epochSec + this.secondsSinceChainStart() : this.registerSeconds();
  }

  private updateInProgress(): boolean {
    if (!this.updating()) return false;
    const intoSecond = (this.clock.nowNs - this.chainNs) % NS_PER_SECOND;
    return NS_PER_SECOND - intoSecond <= UIP_BEFORE_UPDATE_NS;
  }

  private encode(v: number): number {
    return this.binary() ? v : toBcd(v);
  }

  private decode(v: number): number {
    return this.binary() ? v : fromBcd(v);
  }

  private encodeHours(h: number): number {
    if (this.hour24()) return this.encode(h);
    const h12 = h % 12 === 0 ? 12 : h % 12;
    return this.encode(h12) | (h >= 12 ? 0x80 : 0);
  }

  /** Hours 0-23 from a register byte, or NaN. */
  private decodeHours(v: number): number {
    if (this.hour24()) {
      const h = this.decode(v);
      return h <= 23 ? h : NaN;
    }
    const h12 = this.decode(v & 0x7f);
    if (!(h12 >= 1 && h12 <= 12)) return NaN;
    return (h12 % 12) + (v & 0x80 ? 12 : 0);
  }

  /** Writes the time `sec` (Unix seconds) into the time registers in the current format. */
  private storeTime(sec: number): void {
    const d = new Date(sec * 1000);
    const year = d.getUTCFullYear();
    const r = this.ram;
    r[RtcRegister.SECONDS] = this.encode(d.getUTCSeconds());
    r[RtcRegister.MINUTES] = this.encode(d.getUTCMinutes());
    r[RtcRegister.HOURS] = this.encodeHours(d.getUTCHours());
    r[RtcRegister.DAY_OF_WEEK] = this.encode(d.getUTCDay() + 1);
    r[RtcRegister.DATE_OF_MONTH] = this.encode(d.getUTCDate());
    r[RtcRegister.MONTH] = this.encode(d.getUTCMonth() + 1);
    r[RtcRegister.YEAR] = this.encode(((year % 100) + 100) % 100);
    r[RtcRegister.CENTURY] = this.encode(Math.floor(year / 100));
  }

  /** The time (Unix seconds) the time registers hold; bytes that are not numbers count as 0. */
  private registerSeconds(): number {
    const r = this.ram;
    const num = (v: number): number => (Number.isNaN(v) ? 0 : v);
    const d = new Date(0);
    d.setUTCFullYear(
      num(this.decode(r[RtcRegister.CENTURY]!)) * 100 + num(this.decode(r[RtcRegister.YEAR]!)),
      num(this.decode(r[RtcRegister.MONTH]!)) - 1,
      num(this.decode(r[RtcRegister.DATE_OF_MONTH]!)),
    );
    d.setUTCHours(num(this.decodeHours(r[RtcRegister.HOURS]!)), num(this.decode(r[RtcRegister.MINUTES]!)), num(this.decode(r[RtcRegister.SECONDS]!)), 0);
    return Math.floor(d.getTime() / 1000);
  }

  // ---- interrupts ------------------------------------------------------------------------

  private irqf(): boolean {
    const b = this.ram[RtcRegister.B]!;
    return ((this.flags & RegC.PF) !== 0 && (b & RegB.PIE) !== 0) || ((this.flags & RegC.AF) !== 0 && (b & RegB.AIE) !== 0) || ((this.flags & RegC.UF) !== 0 && (b & RegB.UIE) !== 0);
  }

  /** Alarm field: ANY for a "don't care" byte (0xC0-0xFF), NEVER for one no time can match. */
  private alarmField(v: number, max: number): number {
    if ((v & 0xc0) === 0xc0) return ANY;
    const x = this.decode(v);
    return x >= 0 && x <= max ? x : NEVER;
  }

  /** The first time (Unix seconds) after `sec` the alarm matches, or Infinity. */
  private nextAlarmAfter(sec: number): number {
    const hv = this.ram[RtcRegister.HOURS_ALARM]!;
    let hs = (hv & 0xc0) === 0xc0 ? ANY : this.decodeHours(hv);
    if (Number.isNaN(hs)) hs = NEVER;
    const ms = this.alarmField(this.ram[RtcRegister.MINUTES_ALARM]!, 59);
    const ss = this.alarmField(this.ram[RtcRegister.SECONDS_ALARM]!, 59);
    const t = sec + 1;
    const day = Math.floor(t / SECONDS_PER_DAY) * SECONDS_PER_DAY;
    const today = nextMatchInDay(t - day, hs, ms, ss);
    if (today !== -1) return day + today;
    const tomorrow = nextMatchInDay(0, hs, ms, ss);
    return tomorrow === -1 ? Infinity : day + SECONDS_PER_DAY + tomorrow;
  }

  /** Accumulates the flags for the events in (syncedNs, now] and updates IRQ. */
  private sync(): void {
    const now = this.clock.nowNs;
    const last = this.syncedNs;
    if (now > last) {
      if (this.chainRunning()) {
        const period = periodTicks(this.ram[RtcRegister.A]! & RegA.RS_MASK);
        if (period !== 0 && Math.floor(ticksIn(now - this.chainNs) / period) > Math.floor(ticksIn(last - this.chainNs) / period)) {
          this.flags |= RegC.PF;
        }
      }
      if (this.updating()) {
        const from = this.epochSec + this.secondsSinceChainStart(last);
        const to = this.epochSec + this.secondsSinceChainStart(now);
        if (to > from) {
          this.flags |= RegC.UF;
          if (this.nextAlarmAfter(from) <= to) this.flags |= RegC.AF;
        }
      }
      this.syncedNs = now;
    }
    if (this.irqf()) this.irq?.raise();
  }

  /** Arms the timer for the next interrupt, when one is enabled and IRQ is not already up. */
  private schedule(): void {
    let next = Infinity;
    if (!this.irqf()) {
      const now = this.clock.nowNs;
      const b = this.ram[RtcRegister.B]!;
      if (b & RegB.PIE && this.chainRunning()) {
        const period = periodTicks(this.ram[RtcRegister.A]! & RegA.RS_MASK);
        if (period !== 0) {
          const tick = (Math.floor(ticksIn(now - this.chainNs) / period) + 1) * period;
          next = Math.min(next, this.chainNs + nsOfTick(tick));
        }
      }
      if (this.updating()) {
        const k = this.secondsSinceChainStart(now);
        if (b & RegB.UIE) next = Math.min(next, this.chainNs + (k + 1) * NS_PER_SECOND);
        if (b & RegB.AIE) {
          const alarm = this.nextAlarmAfter(this.epochSec + k);
          if (alarm !== Infinity) next = Math.min(next, this.chainNs + (alarm - this.epochSec) * NS_PER_SECOND);
        }
      }
    }
    if (next === Infinity) this.timer.cancel();
    else this.timer.armAt(next);
  }
}
