/**
 * A High Precision Event Timer block, after the IA-PC HPET (High Precision Event Timers)
 * Specification 1.0a (register and bit names below are the specification's, §2.3 "Register
 * Descriptions"), laid out like the HPET of Intel's ICH chipsets:
 *
 * - 1 KiB of MMIO at 0xFED00000 by default;
 * - a 64-bit main counter ticking every `clockPeriodFs` femtoseconds (10 ns by default, as
 *   QEMU's HPET), LegacyReplacement Route capable, vendor 0x8086, revision 1;
 * - three timers: timer 0 is 64-bit and periodic-capable; timers 1 and 2 are 32-bit one-shot
 *   timers, as on ICH parts (Tn_SIZE_CAP and Tn_PER_INT_CAP tell the guest which is which);
 * - I/O APIC routing (Tn_INT_ROUTE_CNF, restricted to the Tn_INT_ROUTE_CAP bitmap, pins 20-23
 *   by default as on ICH parts); FSB (MSI-like) delivery is not supported (Tn_FSB_INT_DEL_CAP
 *   is 0).
 *
 * Interrupt outputs. The board wires:
 *
 * - `ioApic`: the I/O APIC's inputs. Outside LegacyReplacement mode timer N drives pin
 *   Tn_INT_ROUTE_CNF. Several timers may share a pin: it is the OR of them.
 * - `legacyIrq0`, `legacyIrq8`: the 8259 inputs IRQ0 and IRQ8. In LegacyReplacement mode
 *   (LEG_RT_CNF, spec "Legacy Replacement Route") timer 0 drives IRQ0 and I/O APIC pin 2, and
 *   timer 1 drives IRQ8 and I/O APIC pin 8; timer 2 keeps its own route. The PIT and the RTC
 *   must then stop reaching those inputs: `onLegacyReplacement(enabled)` tells the board when
 *   to disconnect and reconnect them.
 *
 * A timer in level mode (Tn_INT_TYPE_CNF = 1) sets its Tn_INT_STS bit on every match, whether
 * its interrupt is enabled or not, and holds its output asserted while Tn_INT_STS, Tn_INT_ENB_CNF
 * and ENABLE_CNF are all set; the guest drops it by writing 1 to Tn_INT_STS. A timer in edge
 * mode pulses its output once per match (its status bit stays 0, which the spec lets software
 * ignore).
 *
 * Timing. Nothing counts in the background: the main counter is its value when ENABLE_CNF was
 * last set plus the ticks of guest time since, in exact integer arithmetic. Each timer keeps one
 * platform {@link Timer} armed for its next match (the first tick strictly after the current
 * one at which the counter, or its low 32 bits for a 32-bit timer, equals the comparator), so
 * interrupts come at the exact guest time. A 32-bit comparator therefore matches again every
 * 2^32 ticks, as the spec describes for 32-bit timers after a wrap. A periodic timer that falls
 * behind (the CPU was halted over several periods) adds as many periods as matches it missed
 * and raises one interrupt for them, as a coalescing interrupt controller would.
 *
 * Accesses: the spec allows 32- and 64-bit accesses; the platform bus splits a 64-bit access
 * into two 32-bit halves, low first. Narrower reads return the addressed bytes; narrower or
 * misaligned writes are dropped. 64-bit values are kept as two 32-bit halves (no BigInt).
 */
import {
  DeviceConfigurationError,
  type AccessSize,
  type Device,
  type DeviceSnapshot,
  type Hpa,
  type IoRange,
  type IrqLine,
  type IrqSink,
  type MmioDevice,
  type Resettable,
  type Snapshottable,
  type Timer,
  type VirtualClock,
} from '@hvkit/platform';

/** Where PC chipsets put the first HPET block (and where ACPI's HPET table usually points). */
export const HPET_DEFAULT_BASE = 0xfed0_0000;
/** The size of one timer block's register space. */
export const HPET_MMIO_SIZE = 0x400;
/** 10 ns, as QEMU's HPET: a 100 MHz counter. */
export const HPET_DEFAULT_PERIOD_FS = 10_000_000;
/** COUNTER_CLK_PERIOD may not exceed 0x05F5E100 fs (100 ns), so the counter runs at 10 MHz or more. */
export const HPET_MAX_PERIOD_FS = 100_000_000;
/** The smallest period this model accepts (1 ns); finer counters would outrun exact arithmetic. */
export const HPET_MIN_PERIOD_FS = 1_000_000;
export const HPET_NUM_TIMERS = 3;
export const HPET_VENDOR_ID = 0x8086;
/** I/O APIC pins a timer can be routed to: 0-23. */
export const HPET_IOAPIC_PINS = 24;
/** The default Tn_INT_ROUTE_CAP: pins 20-23, as the ICH HPET's timers. */
export const HPET_DEFAULT_ROUTE_CAP = 0x00f0_0000;

/** Register offsets (§2.3, "Register Descriptions", register overview table). */
export const HpetReg = {
  GENERAL_CAPABILITIES: 0x000,
  /** COUNTER_CLK_PERIOD: the upper half of the capabilities register. */
  COUNTER_CLK_PERIOD: 0x004,
  GENERAL_CONFIGURATION: 0x010,
  GENERAL_INTERRUPT_STATUS: 0x020,
  MAIN_COUNTER: 0x0f0,
  /** Timer N's registers start at TIMER_BASE + N * TIMER_STRIDE. */
  TIMER_BASE: 0x100,
  TIMER_STRIDE: 0x20,
  /** Offsets within a timer's registers. */
  TN_CONFIG: 0x00,
  TN_ROUTE_CAP: 0x04,
  TN_COMPARATOR: 0x08,
  TN_FSB_ROUTE: 0x10,
} as const;

/** General Capabilities and ID register, low half. */
export const HpetCap = {
  REV_ID_MASK: 0xff,
  NUM_TIM_CAP_SHIFT: 8,
  /** The main counter is 64 bits wide. */
  COUNT_SIZE_CAP: 1 << 13,
  LEG_RT_CAP: 1 << 15,
  VENDOR_ID_SHIFT: 16,
} as const;

/** General Configuration register. */
export const HpetConfig = {
  /** The main counter runs and timers may interrupt. */
  ENABLE_CNF: 1 << 0,
  /** LegacyReplacement Route: timer 0 on IRQ0/pin 2, timer 1 on IRQ8/pin 8. */
  LEG_RT_CNF: 1 << 1,
} as const;

/** Timer N Configuration and Capabilities register, low half (the high half is Tn_INT_ROUTE_CAP). */
export const HpetTimerConfig = {
  /** 1 = level-triggered, 0 = edge-triggered. */
  INT_TYPE_CNF: 1 << 1,
  INT_ENB_CNF: 1 << 2,
  /** Periodic mode (only when Tn_PER_INT_CAP). */
  TYPE_CNF: 1 << 3,
  PER_INT_CAP: 1 << 4,
  /** The timer is 64 bits wide. */
  SIZE_CAP: 1 << 5,
  /** The next comparator write sets the accumulator of a periodic timer. */
  VAL_SET_CNF: 1 << 6,
  /** A 64-bit timer behaves as a 32-bit one. */
  MODE32_CNF: 1 << 8,
  INT_ROUTE_SHIFT: 9,
  INT_ROUTE_MASK: 0x1f << 9,
  FSB_EN_CNF: 1 << 14,
  FSB_INT_DEL_CAP: 1 << 15,
} as const;

const TWO32 = 0x1_0000_0000;
/** A 64-bit difference at or above 2^53 ticks is beyond any reachable guest time. */
const TOO_FAR_HI = 2 ** 21;
const NS_PER_FS_SCALE = 1_000_000; // fs per ns
const TC = HpetTimerConfig;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

class HpetTimer {
  /** Low half of the configuration register, stored bits only (no capability bits). */
  conf = 0;
  cmpHi = 0;
  cmpLo = 0xffff_ffff;
  /** The last value written to the comparator: a periodic timer's period. */
  perHi = 0;
  perLo = 0;
  /** Tn_INT_STS. */
  status = false;
  timer!: Timer;

  constructor(
    readonly index: number,
    /** Tn_SIZE_CAP. */
    readonly wideCap: boolean,
    /** Tn_PER_INT_CAP. */
    readonly periodicCap: boolean,
    /** Tn_INT_ROUTE_CAP. */
    readonly routeCap: number,
  ) {}

  /** Whether the comparator is 64 bits wide now. */
  get wide(): boolean {
    return this.wideCap && (this.conf & TC.MODE32_CNF) === 0;
  }

  get periodic(): boolean {
    return (this.conf & TC.TYPE_CNF) !== 0;
  }

  get level(): boolean {
    return (this.conf & TC.INT_TYPE_CNF) !== 0;
  }

  reset(): void {
    this.conf = 0;
    this.cmpHi = this.wideCap ? 0xffff_ffff : 0;
    this.cmpLo = 0xffff_ffff;
    this.perHi = 0;
    this.perLo = 0;
    this.status = false;
  }

  capabilities(): number {
    return (this.periodicCap ? TC.PER_INT_CAP : 0) | (this.wideCap ? TC.SIZE_CAP : 0);
  }
}

export interface HpetOptions {
  /** The guest clock: the main counter and the timers' matches derive from it. */
  clock: VirtualClock;
  /** Base of the 1 KiB register block; {@link HPET_DEFAULT_BASE} by default. */
  address?: number;
  /** COUNTER_CLK_PERIOD in femtoseconds, from 1 ns to 100 ns; {@link HPET_DEFAULT_PERIOD_FS} by default. */
  clockPeriodFs?: number;
  /** Tn_INT_ROUTE_CAP: the I/O APIC pins (bit n = pin n, pins 0-23) each timer may be routed to. */
  intRouteCap?: number | readonly [number, number, number];
  /** The I/O APIC's inputs (pins 0-23). */
  ioApic?: IrqSink;
  /** The 8259's IRQ0 input, driven by timer 0 in LegacyReplacement mode. */
  legacyIrq0?: IrqLine;
  /** The 8259's IRQ8 input, driven by timer 1 in LegacyReplacement mode. */
  legacyIrq8?: IrqLine;
  /** LEG_RT_CNF changed (while set, the board disconnects the PIT from IRQ0 and the RTC from IRQ8). */
  onLegacyReplacement?: (enabled: boolean) => void;
  name?: string;
}

const SNAPSHOT_VERSION = 1;
const TIMER_FIELDS = 6;

/** An IA-PC HPET timer block with three timers. */
export class Hpet implements Device, MmioDevice, Resettable, Snapshottable {
  readonly name: string;
  readonly mmioRanges: readonly IoRange[];
  /** The block's base address. */
  readonly address: number;
  /** COUNTER_CLK_PERIOD in femtoseconds. */
  readonly clockPeriodFs: number;
  private readonly clock: VirtualClock;
  private readonly ioApic: IrqSink | undefined;
  private readonly legacyIrq0: IrqLine | undefined;
  private readonly legacyIrq8: IrqLine | undefined;
  private readonly onLegacyReplacement: ((enabled: boolean) => void) | undefined;
  private readonly timers: readonly HpetTimer[];
  /** Ticks in `ns` nanoseconds = floor(ns * tickNum / tickDen) (= ns * 1e6 / period, reduced). */
  private readonly tickNum: number;
  private readonly tickDen: number;

  private conf = 0;
  private running = false;
  /** The main counter when it last started (or its frozen value while halted). */
  private baseHi = 0;
  private baseLo = 0;
  /** Guest time at which the counter last started. */
  private startNs = 0;
  /** The timer whose comparator's high half a 64-bit VAL_SET write is still setting, or -1. */
  private pendingHi = -1;
  /** What each I/O APIC input was last driven to by this block. */
  private readonly pinLevel = new Uint8Array(HPET_IOAPIC_PINS);
  private readonly pinWant = new Uint8Array(HPET_IOAPIC_PINS);
  /** Scratch results of {@link counterNow}. */
  private cHi = 0;
  private cLo = 0;

  constructor(options: HpetOptions) {
    this.name = options.name ?? 'hpet';
    this.clock = options.clock;
    const address = options.address ?? HPET_DEFAULT_BASE;
    if (!Number.isSafeInteger(address) || address < 0 || address % HPET_MMIO_SIZE !== 0 || address + HPET_MMIO_SIZE > 2 ** 52) {
      throw new DeviceConfigurationError(this.name, `address ${address} is not a 1 KiB-aligned physical address`);
    }
    this.address = address;
    this.mmioRanges = [{ base: address, length: HPET_MMIO_SIZE }];
    const period = options.clockPeriodFs ?? HPET_DEFAULT_PERIOD_FS;
    if (!Number.isInteger(period) || period < HPET_MIN_PERIOD_FS || period > HPET_MAX_PERIOD_FS) {
      throw new DeviceConfigurationError(this.name, `counter period ${period} fs is not an integer from ${HPET_MIN_PERIOD_FS} to ${HPET_MAX_PERIOD_FS}`);
    }
    this.clockPeriodFs = period;
    const g = gcd(NS_PER_FS_SCALE, period);
    this.tickNum = NS_PER_FS_SCALE / g;
    this.tickDen = period / g;
    const caps = options.intRouteCap ?? HPET_DEFAULT_ROUTE_CAP;
    const capOf = (i: number): number => {
      const c = typeof caps === 'number' ? caps : caps[i];
      if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c >= 2 ** HPET_IOAPIC_PINS) {
        throw new DeviceConfigurationError(this.name, `timer ${i} route capability ${String(c)} is not a bitmap of I/O APIC pins 0-23`);
      }
      return c;
    };
    this.timers = [new HpetTimer(0, true, true, capOf(0)), new HpetTimer(1, false, false, capOf(1)), new HpetTimer(2, false, false, capOf(2))];
    for (const t of this.timers) t.timer = this.clock.createTimer(`${this.name}.timer${t.index}`, (deadline) => this.fire(t, deadline));
    this.ioApic = options.ioApic;
    this.legacyIrq0 = options.legacyIrq0;
    this.legacyIrq8 = options.legacyIrq8;
    this.onLegacyReplacement = options.onLegacyReplacement;
    this.reset();
  }

  supportsMmio(): MmioDevice {
    return this;
  }

  supportsReset(): Resettable {
    return this;
  }

  supportsSnapshot(): Snapshottable {
    return this;
  }

  // ---- board side ------------------------------------------------------------------------

  /**
   * The low half of the General Capabilities and ID register: REV_ID 1, NUM_TIM_CAP 2 (three
   * timers), COUNT_SIZE_CAP, LEG_RT_CAP, VENDOR_ID 0x8086. The ACPI HPET table's "Event Timer
   * Block ID" is this value (HPET spec §3.2.4).
   */
  get eventTimerBlockId(): number {
    return (1 | ((HPET_NUM_TIMERS - 1) << HpetCap.NUM_TIM_CAP_SHIFT) | HpetCap.COUNT_SIZE_CAP | HpetCap.LEG_RT_CAP | (HPET_VENDOR_ID << HpetCap.VENDOR_ID_SHIFT)) >>> 0;
  }

  /** Whether LEG_RT_CNF is set. */
  get legacyReplacement(): boolean {
    return (this.conf & HpetConfig.LEG_RT_CNF) !== 0;
  }

  /** The main counter now, as a number (exact below 2^53). */
  get counter(): number {
    this.counterNow();
    return this.cHi * TWO32 + this.cLo;
  }

  // ---- MMIO ------------------------------------------------------------------------------

  mmioRead(addr: Hpa, size: AccessSize): number {
    const off = addr - this.address;
    if (size === 4 && (off & 3) === 0) return this.readDword(off);
    let v = 0;
    for (let i = 0; i < size; i++) {
      const o = off + i;
      v |= ((this.readDword(o & ~3) >>> (8 * (o & 3))) & 0xff) << (8 * i);
    }
    return v >>> 0;
  }

  mmioWrite(addr: Hpa, size: AccessSize, value: number): void {
    const off = addr - this.address;
    const pending = this.pendingHi;
    this.pendingHi = -1;
    // §2.3: software accesses the registers 32 or 64 bits at a time; narrower writes are dropped.
    if (size !== 4 || (off & 3) !== 0) return;
    this.writeDword(off, value >>> 0, pending);
  }

  private readDword(off: number): number {
    switch (off) {
      case HpetReg.GENERAL_CAPABILITIES:
        return this.eventTimerBlockId;
      case HpetReg.COUNTER_CLK_PERIOD:
        return this.clockPeriodFs;
      case HpetReg.GENERAL_CONFIGURATION:
        return this.conf;
      case HpetReg.GENERAL_INTERRUPT_STATUS: {
        let s = 0;
        for (const t of this.timers) if (t.status) s |= 1 << t.index;
        return s;
      }
      case HpetReg.MAIN_COUNTER:
        this.counterNow();
        return this.cLo;
      case HpetReg.MAIN_COUNTER + 4:
        this.counterNow();
        return this.cHi;
    }
    const t = this.timerAt(off);
    if (t === undefined) return 0; // reserved
    switch ((off - HpetReg.TIMER_BASE) % HpetReg.TIMER_STRIDE) {
      case HpetReg.TN_CONFIG:
        return (t.conf | t.capabilities()) >>> 0;
      case HpetReg.TN_ROUTE_CAP:
        return t.routeCap;
      case HpetReg.TN_COMPARATOR:
        return t.cmpLo;
      case HpetReg.TN_COMPARATOR + 4:
        return t.wide ? t.cmpHi : 0;
      default:
        return 0; // FSB interrupt route: FSB delivery is not supported
    }
  }

  private writeDword(off: number, v: number, pending: number): void {
    switch (off) {
      case HpetReg.GENERAL_CONFIGURATION:
        this.writeConfig(v);
        return;
      case HpetReg.GENERAL_INTERRUPT_STATUS:
        // General Interrupt Status: level-mode Tn_INT_STS bits are cleared by writing 1.
        for (const t of this.timers) if ((v >>> t.index) & 1) t.status = false;
        this.drive();
        return;
      case HpetReg.MAIN_COUNTER:
      case HpetReg.MAIN_COUNTER + 4:
        // Main Counter Value: software writes it only while the counter is halted; writes while
        // it runs are ignored here.
        if (this.running) return;
        if (off === HpetReg.MAIN_COUNTER) this.baseLo = v;
        else this.baseHi = v;
        return;
    }
    const t = this.timerAt(off);
    if (t === undefined) return;
    switch ((off - HpetReg.TIMER_BASE) % HpetReg.TIMER_STRIDE) {
      case HpetReg.TN_CONFIG:
        this.writeTimerConfig(t, v);
        return;
      case HpetReg.TN_COMPARATOR:
        this.writeComparator(t, v, false, pending);
        return;
      case HpetReg.TN_COMPARATOR + 4:
        this.writeComparator(t, v, true, pending);
        return;
      default:
        return; // Tn_INT_ROUTE_CAP is read-only; FSB routes are not supported
    }
  }

  private timerAt(off: number): HpetTimer | undefined {
    if (off < HpetReg.TIMER_BASE) return undefined;
    return this.timers[Math.floor((off - HpetReg.TIMER_BASE) / HpetReg.TIMER_STRIDE)];
  }

  private writeConfig(v: number): void {
    const old = this.conf;
    const next = v & (HpetConfig.ENABLE_CNF | HpetConfig.LEG_RT_CNF);
    if ((old ^ next) & HpetConfig.ENABLE_CNF) {
      if (next & HpetConfig.ENABLE_CNF) {
        this.startNs = this.clock.nowNs;
        this.running = true;
      } else {
        // ENABLE_CNF = 0 halts the main counter and disables every timer interrupt.
        this.counterNow();
        this.baseHi = this.cHi;
        this.baseLo = this.cLo;
        this.running = false;
      }
    }
    this.conf = next;
    for (const t of this.timers) this.arm(t);
    this.drive();
    if ((old ^ next) & HpetConfig.LEG_RT_CNF) this.onLegacyReplacement?.((next & HpetConfig.LEG_RT_CNF) !== 0);
  }

  /** Timer N Configuration and Capabilities: only the bits the timer's capabilities allow are stored. */
  private writeTimerConfig(t: HpetTimer, v: number): void {
    let c = v & (TC.INT_TYPE_CNF | TC.INT_ENB_CNF);
    if (t.periodicCap) c |= v & (TC.TYPE_CNF | TC.VAL_SET_CNF);
    if (t.wideCap) c |= v & TC.MODE32_CNF;
    // Tn_INT_ROUTE_CNF: a value not in Tn_INT_ROUTE_CAP is not taken (it will not read back).
    const route = (v & TC.INT_ROUTE_MASK) >>> TC.INT_ROUTE_SHIFT;
    c |= (t.routeCap >>> route) & 1 ? route << TC.INT_ROUTE_SHIFT : t.conf & TC.INT_ROUTE_MASK;
    if (c & TC.MODE32_CNF && !(t.conf & TC.MODE32_CNF)) {
      // Tn_32MODE_CNF: the comparator and the period become 32 bits wide.
      t.cmpHi = 0;
      t.perHi = 0;
    }
    t.conf = c;
    this.arm(t);
    this.drive();
  }

  /**
   * A comparator write (§2.3.9.2.1 "Non-Periodic Mode", §2.3.9.2.2 "Periodic Mode"). The value
   * written is always remembered as the period. It also becomes the comparator when the timer is
   * one-shot, or when Tn_VAL_SET_CNF is set (which then clears itself); a periodic timer
   * otherwise keeps its accumulator. A 64-bit write with Tn_VAL_SET_CNF reaches us as two
   * halves, so VAL_SET covers the high half written right after the low one.
   */
  private writeComparator(t: HpetTimer, v: number, high: boolean, pending: number): void {
    const valSet = (t.conf & TC.VAL_SET_CNF) !== 0;
    if (!high) {
      if (!t.periodic || valSet) t.cmpLo = v;
      t.perLo = v;
      if (valSet && t.wide) this.pendingHi = t.index;
    } else {
      if (!t.wide) return; // the upper half of a 32-bit comparator is read-only zero
      if (!t.periodic || valSet || pending === t.index) t.cmpHi = v;
      t.perHi = v;
    }
    t.conf &= ~TC.VAL_SET_CNF;
    this.arm(t);
  }

  // ---- state -----------------------------------------------------------------------------

  reset(): void {
    const wasLegacy = this.legacyReplacement;
    this.conf = 0;
    this.running = false;
    this.baseHi = 0;
    this.baseLo = 0;
    this.startNs = 0;
    this.pendingHi = -1;
    for (const t of this.timers) {
      t.reset();
      t.timer.cancel();
    }
    this.drive();
    if (wasLegacy) this.onLegacyReplacement?.(false);
  }

  saveState(): DeviceSnapshot {
    return {
      version: SNAPSHOT_VERSION,
      state: {
        conf: this.conf,
        running: this.running,
        baseHi: this.baseHi,
        baseLo: this.baseLo,
        startNs: this.startNs,
        pendingHi: this.pendingHi,
        pins: Uint8Array.from(this.pinLevel),
        timers: this.timers.map((t) => [t.conf, t.cmpHi, t.cmpLo, t.perHi, t.perLo, t.status ? 1 : 0]),
      },
    };
  }

  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported HPET snapshot version ${snapshot.version}`);
    const s = snapshot.state as Record<string, unknown>;
    const u32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < TWO32;
    const { conf, running, baseHi, baseLo, startNs, pendingHi, pins, timers } = s;
    if (!u32(conf) || (conf & ~3) !== 0) throw new Error('HPET snapshot field "conf" is not valid');
    if (typeof running !== 'boolean') throw new Error('HPET snapshot field "running" is not a boolean');
    if (!u32(baseHi) || !u32(baseLo)) throw new Error('HPET snapshot counter base is not valid');
    if (typeof startNs !== 'number' || !Number.isSafeInteger(startNs) || startNs < 0) throw new Error('HPET snapshot field "startNs" is not valid');
    if (typeof pendingHi !== 'number' || !Number.isInteger(pendingHi) || pendingHi < -1 || pendingHi >= HPET_NUM_TIMERS) throw new Error('HPET snapshot field "pendingHi" is not valid');
    if (!(pins instanceof Uint8Array) || pins.length !== HPET_IOAPIC_PINS) throw new Error('HPET snapshot field "pins" is not valid');
    if (!Array.isArray(timers) || timers.length !== HPET_NUM_TIMERS) throw new Error(`HPET snapshot field "timers" is not an array of ${HPET_NUM_TIMERS}`);
    for (const a of timers) {
      if (!Array.isArray(a) || a.length !== TIMER_FIELDS || !a.every(u32)) throw new Error('HPET snapshot timer state is not valid');
    }
    const wasLegacy = this.legacyReplacement;
    this.conf = conf;
    this.running = running;
    this.baseHi = baseHi;
    this.baseLo = baseLo;
    this.startNs = startNs;
    this.pendingHi = pendingHi;
    this.pinLevel.set(pins);
    (timers as number[][]).forEach((a, i) => {
      const t = this.timers[i]!;
      t.conf = a[0]! & ~(TC.PER_INT_CAP | TC.SIZE_CAP | TC.FSB_EN_CNF | TC.FSB_INT_DEL_CAP);
      t.cmpHi = t.wideCap ? a[1]! : 0;
      t.cmpLo = a[2]!;
      t.perHi = t.wideCap ? a[3]! : 0;
      t.perLo = a[4]!;
      t.status = a[5] === 1;
    });
    for (const t of this.timers) this.arm(t);
    this.drive();
    if (wasLegacy !== this.legacyReplacement) this.onLegacyReplacement?.(this.legacyReplacement);
  }

  // ---- time ------------------------------------------------------------------------------

  /** Counter ticks in `ns` >= 0 nanoseconds, exactly. */
  private ticksIn(ns: number): number {
    const q = Math.floor(ns / this.tickDen);
    const x = (ns - q * this.tickDen) * this.tickNum; // < 1e14: exact
    return q * this.tickNum + (x - (x % this.tickDen)) / this.tickDen;
  }

  /** Nanoseconds from the counter's start to the first moment of tick `k`. */
  private tickOffsetNs(k: number): number {
    const q = Math.floor(k / this.tickNum);
    const x = (k - q * this.tickNum) * this.tickDen; // < 1e14: exact
    const rem = x % this.tickNum;
    return q * this.tickDen + (x - rem) / this.tickNum + (rem === 0 ? 0 : 1);
  }

  /** Ticks since the counter started (0 while halted). */
  private elapsed(): number {
    return this.running ? this.ticksIn(this.clock.nowNs - this.startNs) : 0;
  }

  /** Sets `cHi`/`cLo` to the main counter now. */
  private counterNow(): void {
    const e = this.elapsed();
    let lo = this.baseLo + (e % TWO32);
    let carry = 0;
    if (lo >= TWO32) {
      lo -= TWO32;
      carry = 1;
    }
    this.cLo = lo;
    this.cHi = (this.baseHi + Math.floor(e / TWO32) + carry) % TWO32;
  }

  /** Arms timer `t` for its next match, strictly after the current tick. */
  private arm(t: HpetTimer): void {
    if (!this.running) {
      t.timer.cancel();
      return;
    }
    const e = this.elapsed();
    this.counterNow();
    let delta: number;
    if (t.wide) {
      // (comparator - counter - 1) mod 2^64, then + 1: ticks until the next match.
      let lo = t.cmpLo - this.cLo - 1;
      let borrow = 0;
      if (lo < 0) {
        lo += TWO32;
        borrow = 1;
      }
      let hi = t.cmpHi - this.cHi - borrow;
      if (hi < 0) hi += TWO32;
      if (hi >= TOO_FAR_HI) {
        t.timer.cancel(); // centuries away
        return;
      }
      delta = hi * TWO32 + lo + 1;
    } else {
      let d = t.cmpLo - this.cLo - 1;
      if (d < 0) d += TWO32;
      delta = d + 1;
    }
    const deadline = this.startNs + this.tickOffsetNs(e + delta);
    if (deadline >= Number.MAX_SAFE_INTEGER) t.timer.cancel();
    else t.timer.armAt(deadline);
  }

  /** The counter reached timer `t`'s comparator at `deadlineNs`. */
  private fire(t: HpetTimer, deadlineNs: number): void {
    if (!this.running) return;
    if (t.periodic) {
      // §2.3.9.2.2: each match adds the last value written to the comparator. Matches missed
      // while the host was elsewhere are added at once.
      const missed = this.ticksIn(this.clock.nowNs - this.startNs) - this.ticksIn(deadlineNs - this.startNs);
      const perIsSmall = t.wide ? t.perHi < TOO_FAR_HI : true;
      const per = t.wide ? t.perHi * TWO32 + t.perLo : t.perLo;
      if (per !== 0) {
        if (!perIsSmall || per > missed) this.addToComparator(t, t.wide ? t.perHi : 0, t.perLo);
        else {
          const amount = missed - (missed % per) + per;
          this.addToComparator(t, Math.floor(amount / TWO32), amount % TWO32);
        }
      }
    }
    if (t.level) {
      t.status = true;
      this.drive();
    } else if ((t.conf & TC.INT_ENB_CNF) !== 0) {
      this.pulse(t);
    }
    this.arm(t);
  }

  private addToComparator(t: HpetTimer, hi: number, lo: number): void {
    let sum = t.cmpLo + lo;
    let carry = 0;
    if (sum >= TWO32) {
      sum -= TWO32;
      carry = 1;
    }
    t.cmpLo = sum;
    if (t.wide) t.cmpHi = (t.cmpHi + hi + carry) % TWO32;
  }

  // ---- interrupts ------------------------------------------------------------------------

  /** The I/O APIC pin timer `t` drives now, or -1. */
  private pinOf(t: HpetTimer): number {
    if (t.index <= 1 && this.legacyReplacement) return t.index === 0 ? 2 : 8;
    const route = (t.conf & TC.INT_ROUTE_MASK) >>> TC.INT_ROUTE_SHIFT;
    return (t.routeCap >>> route) & 1 ? route : -1;
  }

  /** The legacy 8259 line timer `t` drives now, if any. */
  private legacyLineOf(t: HpetTimer): IrqLine | undefined {
    if (t.index > 1 || !this.legacyReplacement) return undefined;
    return t.index === 0 ? this.legacyIrq0 : this.legacyIrq8;
  }

  /** Drives every output to the OR of the level-mode timers asserting it. */
  private drive(): void {
    this.pinWant.fill(0);
    let irq0 = false;
    let irq8 = false;
    if (this.conf & HpetConfig.ENABLE_CNF) {
      for (const t of this.timers) {
        if (!t.level || !t.status || (t.conf & TC.INT_ENB_CNF) === 0) continue;
        const pin = this.pinOf(t);
        if (pin >= 0) this.pinWant[pin] = 1;
        if (this.legacyReplacement) {
          if (t.index === 0) irq0 = true;
          else if (t.index === 1) irq8 = true;
        }
      }
    }
    for (let pin = 0; pin < HPET_IOAPIC_PINS; pin++) {
      const want = this.pinWant[pin]!;
      if (want === this.pinLevel[pin]) continue;
      this.pinLevel[pin] = want;
      this.ioApic?.setIrq(pin, want === 1);
    }
    this.legacyIrq0?.set(irq0);
    this.legacyIrq8?.set(irq8);
  }

  /** One edge on timer `t`'s outputs (none on an output another timer holds high). */
  private pulse(t: HpetTimer): void {
    const pin = this.pinOf(t);
    if (pin >= 0 && this.pinLevel[pin] === 0 && this.ioApic) {
      this.ioApic.setIrq(pin, true);
      this.ioApic.setIrq(pin, false);
    }
    const line = this.legacyLineOf(t);
    if (line && !line.level) line.pulse();
  }
}
