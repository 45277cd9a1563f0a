/**
 * ACPI fixed hardware, PIIX4 style: the power-management register blocks an OS finds through
 * the FADT, and the PIIX3/PIIX4 reset control register at port 0xCF9 that the FADT's
 * RESET_REG points at.
 *
 * {@link AcpiPm} decodes, at a configurable I/O base (0x600 by default, as QEMU's pc machine
 * programs its PIIX4 PM function):
 *
 * | ports         | block (FADT field)  | registers (ACPI 6.4 §4.8.4)                         |
 * |---------------|---------------------|-----------------------------------------------------|
 * | base+0..+3    | PM1a_EVT_BLK        | PM1_STS (16 bits, write 1 to clear), PM1_EN (16)    |
 * | base+4..+5    | PM1a_CNT_BLK        | PM1_CNT: SCI_EN, BM_RLD, GBL_RLS, SLP_TYP, SLP_EN   |
 * | base+8..+11   | PM_TMR_BLK          | PM_TMR: 3.579545 MHz, 24-bit (or 32-bit), read-only |
 * | gpe0 (base+0x20..+0x23 by default) | GPE0_BLK | GPE0_STS then GPE0_EN, half each (§4.8.5.1) |
 *
 * The timer is a pure function of the platform clock: its value at guest time `t` ns is
 * `floor(t * 3579545 / 1e9) mod 2^24` (or `2^32`), in exact integer arithmetic for the whole
 * range of the clock (see {@link pmTimerTicksAt}). TMR_STS is set whenever the counter's most
 * significant bit changes (§4.8.4.1.1, table 4.11 "PM1 Status Registers Fixed Hardware Feature
 * Status Bits"), i.e. every 2^23 (or 2^31) ticks; it is worked out when read, and a platform
 * {@link Timer} is armed for the next change only while TMR_EN is set and TMR_STS is clear, so
 * an idle PM block costs nothing.
 *
 * The SCI (System Control Interrupt, FADT SCI_INT, §5.2.9; IRQ 9 by default) is level-triggered: it
 * is asserted while SCI_EN is set and any enabled status bit is set, in PM1 or GPE0, and drops
 * when the OS clears the status bits. SCI_EN is set at power-on and reset: the FADT built by
 * `@hvkit/machine` has SMI_CMD = 0 (no System Management Mode), which tells the OS the
 * platform is always in ACPI mode (§4.8.3.4, "Legacy/ACPI Select and the SCI Interrupt"), so
 * the hardware must come up that way.
 *
 * Sleep: writing SLP_EN with SLP_TYP = the S5 value of the DSDT's `\_S5_` package (0 on a
 * PIIX4, whose SLP_TYP 0 is "soft off") calls `onPowerOff`; other SLP_TYP values call
 * `onSleep`. Nothing is powered down here; the board decides what to do.
 *
 * Implemented status/enable pairs: TMR (bit 0), PWRBTN (bit 8, through
 * {@link AcpiPm.pressPowerButton}), RTC (bit 10, through {@link AcpiPm.signalRtcAlarm}); GBL_EN
 * is stored but nothing sets GBL_STS (there is no BIOS in SMM to release the global lock).
 * There is no fixed sleep button (the FADT says so with SLP_BUTTON), no PM1b block, no PM2
 * block, and WAK_STS never sets because nothing sleeps.
 *
 * Every register is decoded byte by byte, so byte, word and dword accesses of any alignment
 * inside a block mean what they would on the chip; bytes of a wide access past the end of a
 * block read as 0xFF and are dropped on writes.
 */
import {
  DeviceConfigurationError,
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

/** The ACPI PM timer's frequency (ACPI 6.4 §4.8.3, "Power Management Timer"). */
export const PM_TIMER_HZ = 3_579_545;

/** PM timer ticks (not wrapped) that have happened by guest time `ns`: floor(ns * 3579545 / 1e9), exactly. */
export function pmTimerTicksAt(ns: number): number {
  return ticksAt(ns, PM_TIMER_HZ);
}

/** The first guest nanosecond at which tick `tick` has happened (the inverse of {@link pmTimerTicksAt}). */
export function pmTimerTickTimeNs(tick: number): number {
  return tickTimeNs(tick, PM_TIMER_HZ);
}

/** PM1_STS bits (ACPI 6.4 §4.8.4.1.1, "PM1 Status Registers"). Write 1 to clear. */
export const Pm1Sts = {
  TMR_STS: 1 << 0,
  BM_STS: 1 << 4,
  GBL_STS: 1 << 5,
  PWRBTN_STS: 1 << 8,
  SLPBTN_STS: 1 << 9,
  RTC_STS: 1 << 10,
  PCIEXP_WAKE_STS: 1 << 14,
  WAK_STS: 1 << 15,
} as const;

/** PM1_EN bits (ACPI 6.4 §4.8.4.1.2, "PM1 Enable Registers"); each enables the status bit at the same position. */
export const Pm1En = {
  TMR_EN: 1 << 0,
  GBL_EN: 1 << 5,
  PWRBTN_EN: 1 << 8,
  SLPBTN_EN: 1 << 9,
  RTC_EN: 1 << 10,
  PCIEXP_WAKE_DIS: 1 << 14,
} as const;

/** PM1_CNT bits (ACPI 6.4 §4.8.4.2.1, "PM1 Control Registers"). */
export const Pm1Cnt = {
  /** Power-management events raise an SCI (set) or an SMI (clear). */
  SCI_EN: 1 << 0,
  /** Bus-master requests take the processor out of C3. */
  BM_RLD: 1 << 1,
  /** Write-only: release the global lock to the BIOS (raises an SMI; no effect here). */
  GBL_RLS: 1 << 2,
  SLP_TYP_SHIFT: 10,
  SLP_TYP_MASK: 7 << 10,
  /** Write-only: enter the sleep state SLP_TYP selects. Reads as 0. */
  SLP_EN: 1 << 13,
} as const;

/** SLP_TYP of S5 (soft off) on a PIIX4 (PIIX4 datasheet, PMCNTRL "Suspend Type"): what `\_S5_` holds. */
export const PIIX4_SLP_TYP_S5 = 0;

/** The status bits this block implements (the others read 0, writes to them are ignored). */
const PM1_STS_IMPLEMENTED = Pm1Sts.TMR_STS | Pm1Sts.PWRBTN_STS | Pm1Sts.RTC_STS;
/** The enable bits this block stores. */
const PM1_EN_WRITABLE = Pm1En.TMR_EN | Pm1En.GBL_EN | Pm1En.PWRBTN_EN | Pm1En.RTC_EN;
/** PM1_CNT bits that read back what was written. */
const PM1_CNT_STORED = Pm1Cnt.SCI_EN | Pm1Cnt.BM_RLD | Pm1Cnt.SLP_TYP_MASK;

/**
 * Where the PM block's registers are, in the terms of the FADT (ACPI 6.4 §5.2.9): pass it to
 * `buildAcpiTables` (`@hvkit/machine`) as `pm`, so the tables describe this device exactly.
 */
export interface AcpiPmLayout {
  /** PM1a_EVT_BLK port (PM1_EVT_LEN = 4). */
  readonly pm1aEvt: number;
  /** PM1a_CNT_BLK port (PM1_CNT_LEN = 2). */
  readonly pm1aCnt: number;
  /** PM_TMR_BLK port (PM_TMR_LEN = 4). */
  readonly pmTmr: number;
  /** GPE0_BLK port, absent when the block has no GPE0 registers. */
  readonly gpe0?: number;
  /** GPE0_BLK_LEN in bytes (even; half status, half enable). */
  readonly gpe0Length?: number;
  /** The SCI's ISA IRQ (FADT SCI_INT). */
  readonly sciIrq: number;
  /** FADT flag TMR_VAL_EXT: the PM timer is 32 bits wide. */
  readonly tmrValExt: boolean;
  /** The SLP_TYP value that means S5; the DSDT's `\_S5_` package must hold it. */
  readonly s5SlpTyp: number;
}

export interface AcpiPmOptions {
  /** The guest clock: PM timer value and TMR_STS overflow events. */
  clock: VirtualClock;
  /** First port of the block; 0x600 by default (QEMU pc). PM1a_EVT is here, PM1a_CNT at +4, PM_TMR at +8. */
  base?: number;
  /** The GPE0 block: its port (default base + 0x20) and length (default 4: 16 GPEs), or `false` for none. */
  gpe0?: { base?: number; length?: number } | false;
  /** PM timer width: 24 bits (default, as PIIX4 and QEMU) or 32 (the FADT then sets TMR_VAL_EXT). */
  timerBits?: 24 | 32;
  /** The SCI output, as the board wired it. Takes precedence over `irqSink`. */
  sci?: IrqLine;
  /** Where to wire the SCI when `sci` is absent: input `sciIrq` of this sink. */
  irqSink?: IrqSink;
  /** The SCI's IRQ (FADT SCI_INT); 9 by default. */
  sciIrq?: number;
  /** SLP_TYP meaning S5; {@link PIIX4_SLP_TYP_S5} (0) by default. */
  s5SlpTyp?: number;
  /** SLP_EN was written with the S5 SLP_TYP: the guest asks to power off. */
  onPowerOff?: () => void;
  /** SLP_EN was written with another SLP_TYP (0-7). */
  onSleep?: (slpTyp: number) => void;
  name?: string;
}

const SNAPSHOT_VERSION = 1;

/** PIIX4-style ACPI PM1a event/control blocks, PM timer and GPE0 block. */
export class AcpiPm implements Device, PioDevice, Resettable, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[];
  readonly layout: AcpiPmLayout;
  private readonly base: number;
  private readonly gpeBase: number;
  /** GPE0 bytes per half (status, enable); 0 when there is no GPE0 block. */
  private readonly gpeHalf: number;
  private readonly clock: VirtualClock;
  private readonly sci: IrqLine | undefined;
  private readonly timer: Timer;
  /** log2 of the ticks between TMR_STS events: 23 or 31. */
  private readonly msbShift: number;
  private readonly msbPeriod: number;
  private readonly counterModulus: number;
  private readonly s5SlpTyp: number;
  private readonly onPowerOff: (() => void) | undefined;
  private readonly onSleep: ((slpTyp: number) => void) | undefined;

  /** PM1_STS bits set so far, apart from TMR_STS events not yet folded in (see `tmrPeriodSeen`). */
  private sts = 0;
  private en = 0;
  private cnt = Pm1Cnt.SCI_EN;
  /** The MSB half-period (ticks >> msbShift) TMR_STS was last brought up to date for. */
  private tmrPeriodSeen = 0;
  private readonly gpeSts: Uint8Array;
  private readonly gpeEn: Uint8Array;
  /** An SLP_EN write seen during the current access, to act on once the access is done. */
  private sleepRequest = -1;

  constructor(options: AcpiPmOptions) {
    this.name = options.name ?? 'acpi-pm';
    this.clock = options.clock;
    const base = options.base ?? 0x600;
    if (!Number.isInteger(base) || base < 0 || base + 12 > 0x1_0000) {
      throw new DeviceConfigurationError(this.name, `I/O base ${base} leaves no room for the 12-byte PM1/PM_TMR blocks`);
    }
    this.base = base;
    const bits = options.timerBits ?? 24;
    if (bits !== 24 && bits !== 32) throw new DeviceConfigurationError(this.name, `the PM timer is 24 or 32 bits wide, not ${String(bits)}`);
    this.msbShift = bits - 1;
    this.msbPeriod = 2 ** this.msbShift;
    this.counterModulus = 2 ** bits;
    const ranges: IoRange[] = [
      { base, length: 4, name: `${this.name}.pm1a-evt` },
      { base: base + 4, length: 2, name: `${this.name}.pm1a-cnt` },
      { base: base + 8, length: 4, name: `${this.name}.pm-tmr` },
    ];
    const gpe = options.gpe0 === false ? undefined : (options.gpe0 ?? {});
    if (gpe) {
      const gpeBase = gpe.base ?? base + 0x20;
      const length = gpe.length ?? 4;
      if (!Number.isInteger(length) || length < 2 || length > 32 || length % 2 !== 0) {
        throw new DeviceConfigurationError(this.name, `GPE0 block length ${length} is not an even number of bytes from 2 to 32`);
      }
      if (!Number.isInteger(gpeBase) || gpeBase < 0 || gpeBase + length > 0x1_0000) {
        throw new DeviceConfigurationError(this.name, `GPE0 base ${gpeBase} is not a port range of ${length} bytes`);
      }
      if (gpeBase < base + 12 && gpeBase + length > base) {
        throw new DeviceConfigurationError(this.name, `GPE0 block at ${gpeBase} overlaps the PM1/PM_TMR blocks`);
      }
      this.gpeBase = gpeBase;
      this.gpeHalf = length / 2;
      ranges.push({ base: gpeBase, length, name: `${this.name}.gpe0` });
    } else {
      this.gpeBase = -1;
      this.gpeHalf = 0;
    }
    this.pioRanges = ranges;
    this.gpeSts = new Uint8Array(this.gpeHalf);
    this.gpeEn = new Uint8Array(this.gpeHalf);
    const sciIrq = options.sciIrq ?? 9;
    if (!Number.isInteger(sciIrq) || sciIrq < 0 || sciIrq > 0xffff) throw new DeviceConfigurationError(this.name, `SCI IRQ ${sciIrq} is not valid`);
    this.sci = options.sci ?? (options.irqSink ? new InterruptLine(options.irqSink, sciIrq, `${this.name}.sci`) : undefined);
    const s5 = options.s5SlpTyp ?? PIIX4_SLP_TYP_S5;
    if (!Number.isInteger(s5) || s5 < 0 || s5 > 7) throw new DeviceConfigurationError(this.name, `S5 SLP_TYP ${s5} is not a 3-bit value`);
    this.s5SlpTyp = s5;
    this.onPowerOff = options.onPowerOff;
    this.onSleep = options.onSleep;
    this.layout = {
      pm1aEvt: base,
      pm1aCnt: base + 4,
      pmTmr: base + 8,
      ...(gpe ? { gpe0: this.gpeBase, gpe0Length: this.gpeHalf * 2 } : {}),
      sciIrq,
      tmrValExt: bits === 32,
      s5SlpTyp: s5,
    };
    this.timer = this.clock.createTimer(`${this.name}.tmr`, () => this.update());
    this.reset();
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

  /** The PM timer's value now (what a read of PM_TMR returns). */
  get timerValue(): number {
    return pmTimerTicksAt(this.clock.nowNs) % this.counterModulus;
  }

  /** PM1_STS as the guest reads it now. */
  get pm1Status(): number {
    this.foldTimer();
    return this.sts;
  }

  /** Whether the SCI is asserted. */
  get sciLevel(): boolean {
    return this.sci?.level ?? this.sciWanted();
  }

  /** The fixed power button was pressed: sets PWRBTN_STS (ACPI 6.4 §4.8.3.1.1.1, "Fixed Power Button"). */
  pressPowerButton(): void {
    this.setStatus(Pm1Sts.PWRBTN_STS);
  }

  /** The RTC raised its alarm: sets RTC_STS (ACPI 6.4 §4.8.3.3, "Real Time Clock Alarm"). */
  signalRtcAlarm(): void {
    this.setStatus(Pm1Sts.RTC_STS);
  }

  /** A general-purpose event: sets GPE0_STS bit `index` (ACPI 6.4 §4.8.5.1, "General-Purpose Event Register Blocks"). */
  raiseGpe(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.gpeHalf * 8) {
      throw new RangeError(`${this.name}: GPE ${index} does not exist (the GPE0 block has ${this.gpeHalf * 8})`);
    }
    this.gpeSts[index >> 3]! |= 1 << (index & 7);
    this.updateSci();
  }

  // ---- ports -----------------------------------------------------------------------------

  pioRead(port: Port, size: AccessSize): number {
    if (size === 4 && port === this.base + 8) return this.timerValue; // the common case
    let value = 0;
    for (let i = 0; i < size; i++) value |= this.readByte(port + i) << (8 * i);
    return value >>> 0;
  }

  pioWrite(port: Port, size: AccessSize, value: number): void {
    this.sleepRequest = -1;
    for (let i = 0; i < size; i++) this.writeByte(port + i, (value >>> (8 * i)) & 0xff);
    this.update();
    const typ = this.sleepRequest;
    if (typ >= 0) {
      this.sleepRequest = -1;
      if (typ === this.s5SlpTyp) this.onPowerOff?.();
      else this.onSleep?.(typ);
    }
  }

  private readByte(port: number): number {
    const off = port - this.base;
    if (off >= 0 && off < 12) {
      switch (off) {
        case 0:
        case 1:
          return (this.pm1Status >> (8 * off)) & 0xff;
        case 2:
        case 3:
          return (this.en >> (8 * (off - 2))) & 0xff;
        case 4:
        case 5:
          return (this.cnt >> (8 * (off - 4))) & 0xff;
        case 8:
        case 9:
        case 10:
        case 11:
          return Math.floor(this.timerValue / 2 ** (8 * (off - 8))) & 0xff;
        default:
          return 0xff; // 6-7: between PM1a_CNT and PM_TMR
      }
    }
    const g = port - this.gpeBase;
    if (this.gpeHalf !== 0 && g >= 0 && g < 2 * this.gpeHalf) return g < this.gpeHalf ? this.gpeSts[g]! : this.gpeEn[g - this.gpeHalf]!;
    return 0xff;
  }

  private writeByte(port: number, b: number): void {
    const off = port - this.base;
    if (off >= 0 && off < 12) {
      switch (off) {
        case 0:
        case 1: {
          // ACPI 6.4 §4.8.4.1.1: status bits are cleared by writing 1; writing 0 has no effect.
          const clear = (b << (8 * off)) & PM1_STS_IMPLEMENTED;
          if (clear & Pm1Sts.TMR_STS) this.foldTimer();
          this.sts &= ~clear;
          return;
        }
        case 2:
        case 3: {
          const shift = 8 * (off - 2);
          this.en = (this.en & ~(0xff << shift)) | ((b << shift) & PM1_EN_WRITABLE);
          return;
        }
        case 4:
        case 5: {
          const shift = 8 * (off - 4);
          const v = b << shift;
          this.cnt = (this.cnt & ~(0xff << shift)) | (v & PM1_CNT_STORED);
          // ACPI 6.4 §4.8.4.2.1: SLP_EN puts the system in the state SLP_TYP selects (the SLP_TYP of this write).
          if (v & Pm1Cnt.SLP_EN) this.sleepRequest = (this.cnt & Pm1Cnt.SLP_TYP_MASK) >> Pm1Cnt.SLP_TYP_SHIFT;
          return;
        }
        default:
          return; // PM_TMR is read-only
      }
    }
    const g = port - this.gpeBase;
    if (this.gpeHalf === 0 || g < 0 || g >= 2 * this.gpeHalf) return;
    // ACPI 6.4 §4.8.5.1: GPEx_STS bits are cleared by writing 1; GPEx_EN bits are read/write.
    if (g < this.gpeHalf) this.gpeSts[g]! &= ~b;
    else this.gpeEn[g - this.gpeHalf] = b;
  }

  // ---- state -----------------------------------------------------------------------------

  reset(): void {
    this.sts = 0;
    this.en = 0;
    this.cnt = Pm1Cnt.SCI_EN;
    this.gpeSts.fill(0);
    this.gpeEn.fill(0);
    this.tmrPeriodSeen = this.currentPeriod();
    this.sleepRequest = -1;
    this.update();
  }

  saveState(): DeviceSnapshot {
    this.foldTimer();
    return {
      version: SNAPSHOT_VERSION,
      state: {
        sts: this.sts,
        en: this.en,
        cnt: this.cnt,
        tmrPeriodSeen: this.tmrPeriodSeen,
        gpeSts: Uint8Array.from(this.gpeSts),
        gpeEn: Uint8Array.from(this.gpeEn),
      },
    };
  }

  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported ACPI PM snapshot version ${snapshot.version}`);
    const s = snapshot.state as Record<string, unknown>;
    const word = (k: string): number => {
      const v = s[k];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) throw new Error(`ACPI PM snapshot field "${k}" is not a 16-bit value`);
      return v;
    };
    const bytes = (k: string): Uint8Array => {
      const v = s[k];
      if (!(v instanceof Uint8Array) || v.length !== this.gpeHalf) throw new Error(`ACPI PM snapshot field "${k}" is not ${this.gpeHalf} bytes`);
      return v;
    };
    const seen = s['tmrPeriodSeen'];
    if (typeof seen !== 'number' || !Number.isSafeInteger(seen) || seen < 0) throw new Error('ACPI PM snapshot field "tmrPeriodSeen" is not valid');
    const sts = word('sts');
    const en = word('en');
    const cnt = word('cnt');
    const gs = bytes('gpeSts');
    const ge = bytes('gpeEn');
    this.sts = sts & PM1_STS_IMPLEMENTED;
    this.en = en & PM1_EN_WRITABLE;
    this.cnt = cnt & PM1_CNT_STORED;
    this.tmrPeriodSeen = seen;
    this.gpeSts.set(gs);
    this.gpeEn.set(ge);
    this.update();
  }

  // ---- internals -------------------------------------------------------------------------

  /** The number of MSB changes of the counter since guest time 0. */
  private currentPeriod(): number {
    return Math.floor(pmTimerTicksAt(this.clock.nowNs) / this.msbPeriod);
  }

  /** Sets TMR_STS if the counter's MSB changed since the last look. */
  private foldTimer(): void {
    const p = this.currentPeriod();
    if (p !== this.tmrPeriodSeen) {
      this.tmrPeriodSeen = p;
      this.sts |= Pm1Sts.TMR_STS;
    }
  }

  private setStatus(bit: number): void {
    this.sts |= bit;
    this.update();
  }

  private sciWanted(): boolean {
    if ((this.cnt & Pm1Cnt.SCI_EN) === 0) return false;
    if ((this.sts & this.en) !== 0) return true;
    for (let i = 0; i < this.gpeHalf; i++) if ((this.gpeSts[i]! & this.gpeEn[i]!) !== 0) return true;
    return false;
  }

  private updateSci(): void {
    this.sci?.set(this.sciWanted());
  }

  /** Brings TMR_STS and the SCI up to date, and arms the timer for the next MSB change when it matters. */
  private update(): void {
    this.foldTimer();
    this.updateSci();
    if ((this.en & Pm1En.TMR_EN) !== 0 && (this.sts & Pm1Sts.TMR_STS) === 0) {
      this.timer.armAt(pmTimerTickTimeNs((this.tmrPeriodSeen + 1) * this.msbPeriod));
    } else {
      this.timer.cancel();
    }
  }
}

/** Reset control register bits (Intel 82371SB PIIX3 datasheet, "RC—Reset Control Register", port 0xCF9). */
export const ResetControlBits = {
  /** SRST, "System Reset": 1 = hard reset (CPU RESET and PCIRST#), 0 = soft reset (INIT). */
  SYS_RST: 1 << 1,
  /** RCPU, "Reset CPU": a 0-to-1 transition starts the reset SYS_RST selects. */
  RST_CPU: 1 << 2,
} as const;

/** The value the FADT's RESET_VALUE writes to the reset register: SYS_RST | RST_CPU, a hard reset. */
export const RESET_CONTROL_HARD_RESET = 0x06;

export interface ResetControlOptions {
  /** Called when the guest starts a reset; `hard` is the SYS_RST bit. */
  onReset?: (hard: boolean) => void;
  /** The port; 0xCF9 by default. */
  port?: number;
  name?: string;
}

/**
 * The PIIX3 Reset Control Register at port 0xCF9 (Intel 82371SB PIIX3 datasheet, "RC—Reset
 * Control Register"; the same register is on the PIIX4 and ICH parts). Bit 1 (SYS_RST) selects
 * a hard (1) or soft (0) reset; a 0-to-1 transition of bit 2 (RST_CPU) starts it, which here
 * means calling `onReset(hard)`. The ACPI FADT's RESET_REG points here with RESET_VALUE 0x06
 * (ACPI 6.4 §4.8.4.6, "Reset Register").
 *
 * SYS_RST reads back as written; the reserved bits read 0. RST_CPU reads 0 once the reset it
 * started has been handed to the board (the reset clears it on the chip), so every write with
 * RST_CPU set is a 0-to-1 transition and resets again: a guest that retries its reboot methods
 * in a loop (Linux does) is not stuck behind a bit that stayed set. Only byte accesses at 0xCF9
 * reach this register on a PC: a dword access at 0xCF8 is the PCI host's CONFIG_ADDRESS.
 */
export class ResetControl implements Device, PioDevice, Resettable, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[];
  private readonly onReset: ((hard: boolean) => void) | undefined;
  private value = 0;

  constructor(options: ResetControlOptions = {}) {
    this.name = options.name ?? 'reset-control';
    const port = options.port ?? 0xcf9;
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new DeviceConfigurationError(this.name, `port ${port} is not an I/O port`);
    this.pioRanges = [{ base: port, length: 1 }];
    this.onReset = options.onReset;
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

  pioRead(_port: Port, size: AccessSize): number {
    // A wider IN returns the register in the low byte; the bytes above it are not decoded.
    return size === 1 ? this.value : (this.value | (size === 2 ? 0xff00 : 0xffff_ff00)) >>> 0;
  }

  pioWrite(_port: Port, _size: AccessSize, value: number): void {
    this.value = value & ResetControlBits.SYS_RST;
    if ((value & ResetControlBits.RST_CPU) !== 0) this.onReset?.((value & ResetControlBits.SYS_RST) !== 0);
  }

  reset(): void {
    this.value = 0;
  }

  saveState(): DeviceSnapshot {
    return { version: 1, state: { value: this.value } };
  }

  restoreState(snapshot: DeviceSnapshot): void {
    const v = (snapshot.state as Record<string, unknown>)['value'];
    if (snapshot.version !== 1 || typeof v !== 'number' || (v !== 0 && v !== ResetControlBits.SYS_RST)) throw new Error('reset control snapshot is not valid');
    this.value = v;
  }
}
