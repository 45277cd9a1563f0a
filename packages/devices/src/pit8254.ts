/**
 * An Intel 8254 programmable interval timer (the PC's PIT), after the Intel 82C54 datasheet
 * ("82C54 CHMOS Programmable Interval Timer"). Mode and command names below are the
 * datasheet's: Mode 0 "Interrupt on Terminal Count", Mode 1 "Hardware Retriggerable One-Shot",
 * Mode 2 "Rate Generator", Mode 3 "Square Wave Mode", Mode 4 "Software Triggered Strobe",
 * Mode 5 "Hardware Triggered Strobe (Retriggerable)", the "Counter Latch Command" and the
 * "Read-Back Command".
 *
 * Ports 0x40-0x42 are counters 0-2, 0x43 the control word register. On a PC every counter
 * runs from the 1.193182 MHz clock; counter 0's OUT is IRQ0, counter 1 used to time DRAM
 * refresh, counter 2's GATE and OUT are wired to port 0x61 ({@link SystemControlPortB}) and
 * drive the speaker. Counters 0 and 1 have their GATE tied high.
 *
 * Nothing counts in the background. CLK pulse `k` happens at guest time `ceil(k * 1e9 /
 * 1193182)` ns, and every count and OUT level is computed from the number of pulses between
 * the moment a count was loaded and now, in exact integer arithmetic, so no drift accumulates
 * however long the guest runs. Counter 0 keeps one platform {@link Timer} armed for the next
 * change of its OUT, so IRQ0 changes level at the exact guest time: in modes 2 and 3 the line
 * rises once per period.
 *
 * Departures from the chip, all in states the datasheet leaves undefined or calls illegal:
 * after power-on and reset every counter is in mode 0, LSB-then-MSB, binary, with OUT high
 * and no count; a count of 1 in mode 2 keeps OUT high (no pulse); in mode 3 the count read
 * during the extra CLK pulse of the high half of an odd count is 0; and a count read after a
 * new count was written but before the CLK pulse that loads it returns the new count (on the
 * chip the counting element still holds its old contents for that fraction of a microsecond,
 * but an ISA I/O cycle lasts longer than a CLK period, so software never sees them; here
 * back-to-back port accesses are nanoseconds apart, so the window would be visible).
 */
import {
  tickTimeNs,
  ticksAt,
  type AccessSize,
  type Device,
  type DeviceSnapshot,
  type IoRange,
  type IrqLine,
  type PioDevice,
  type Port,
  type Resettable,
  type Snapshottable,
  type Timer,
  type VirtualClock,
} from '@hvkit/platform';

/** The PIT's input clock on a PC, in Hz. */
export const PIT_CLOCK_HZ = 1_193_182;

/** The CLK pulse most recently at or before guest time `ns` (pulse 0 is at time 0). */
export function pitTickAt(ns: number): number {
  return ticksAt(ns, PIT_CLOCK_HZ);
}

/** The guest time in ns of CLK pulse `tick`: the first nanosecond at which it has happened. */
export function pitTickTimeNs(tick: number): number {
  return tickTimeNs(tick, PIT_CLOCK_HZ);
}

/** Control word fields (datasheet, "Control Word Format"). */
export const PitControl = {
  /** SC1-SC0: counter select; 3 is the Read-Back Command. */
  SC_SHIFT: 6,
  /** RW1-RW0: 0 is the Counter Latch Command, 1 LSB only, 2 MSB only, 3 LSB then MSB. */
  RW_SHIFT: 4,
  /** M2-M0. */
  MODE_SHIFT: 1,
  /** BCD: count in binary coded decimal (4 decades). */
  BCD: 0x01,
} as const;

/** Status byte bits (datasheet, "Status Byte"); bits 5-0 repeat the control word's. */
export const PitStatus = {
  OUTPUT: 0x80,
  NULL_COUNT: 0x40,
} as const;

const NONE = Infinity;

class Counter {
  modeBits = 0;
  mode = 0;
  rw = 3;
  bcd = false;
  modulus = 0x10000;
  /** The count register: the last count written (1..modulus). */
  cr = 0x10000;
  /** The value the counting element held at pulse `base`. */
  start = 0;
  base = NONE;
  counting = false;
  /** The count shown while not counting (or before `base`). */
  frozen = 0;
  /** OUT while not counting (or before `base`). */
  idleOut = true;
  /** Mode 0: terminal count reached before the counter was paused; mode 4: strobe done. */
  tcDone = false;
  /** Modes 2 and 3: pulse at which `cr` becomes the period, and whether a low half starts then. */
  pendingTick = NONE;
  pendingLow = false;
  /** NULL COUNT is set until this pulse. */
  nullUntil = NONE;
  gate = true;
  /** A count was written since the control word. */
  hasCount = false;
  /** LSB written, MSB next (write byte pointer for RW 3). */
  writeMsbNext = false;
  lsb = 0;
  readMsbNext = false;
  /** Latched count (already BCD-encoded when BCD), or -1. */
  latchedCount = -1;
  /** Bytes of the latched count still to read (2 for RW 3, else 1). */
  latchBytes = 0;
  latchedStatus = -1;

  /** Results of {@link eval}. */
  cnt = 0;
  out = true;

  reset(): void {
    this.modeBits = 0;
    this.mode = 0;
    this.rw = 3;
    this.bcd = false;
    this.modulus = 0x10000;
    this.cr = 0x10000;
    this.start = 0;
    this.base = NONE;
    this.counting = false;
    this.frozen = 0;
    this.idleOut = true;
    this.tcDone = false;
    this.pendingTick = NONE;
    this.pendingLow = false;
    this.nullUntil = NONE;
    this.hasCount = false;
    this.writeMsbNext = false;
    this.lsb = 0;
    this.readMsbNext = false;
    this.latchedCount = -1;
    this.latchBytes = 0;
    this.latchedStatus = -1;
    this.cnt = 0;
    this.out = true;
  }

  private wrap(x: number): number {
    const m = this.modulus;
    return ((x % m) + m) % m;
  }

  /** Sets `cnt` (binary, 0..modulus-1) and `out` for pulse `t`. */
  eval(t: number): void {
    if (t >= this.pendingTick) this.applyPending();
    if (!this.counting || t < this.base) {
      this.cnt = this.frozen;
      this.out = this.idleOut;
      return;
    }
    const d = t - this.base;
    const s = this.start;
    switch (this.mode) {
      case 0:
        this.cnt = this.wrap(s - d);
        this.out = this.tcDone || d >= s;
        return;
      case 1:
        this.cnt = this.wrap(s - d);
        this.out = d >= s;
        return;
      case 2: {
        const p = d % s;
        this.cnt = this.wrap(s - p);
        this.out = s === 1 || p !== s - 1;
        return;
      }
      case 3: {
        const hi = (s + 1) >> 1;
        const p = d % s;
        const top = s & 1 ? s - 1 : s;
        if (p < hi) {
          this.cnt = this.wrap(top - 2 * p);
          this.out = true;
        } else {
          this.cnt = this.wrap(top - 2 * (p - hi));
          this.out = false;
        }
        return;
      }
      case 4:
        this.cnt = this.wrap(s - d);
        this.out = this.tcDone || d !== s;
        return;
      default:
        this.cnt = this.wrap(s - d);
        this.out = d !== s;
    }
  }

  /** The count a counter in the current mode reads at the pulse that loads `n`. */
  private firstCount(n: number): number {
    return this.wrap(this.mode === 3 && n & 1 ? n - 1 : n);
  }

  private applyPending(): void {
    const r = this.pendingTick;
    this.pendingTick = NONE;
    this.start = this.cr;
    this.base = this.pendingLow ? r - ((this.cr + 1) >> 1) : r;
  }

  /** The first pulse after `t` at which OUT may change (or a pending reload happens), or NONE. */
  nextChange(t: number): number {
    if (!this.counting) return NONE;
    if (t < this.base) return this.base;
    const d = t - this.base;
    const s = this.start;
    let next = NONE;
    switch (this.mode) {
      case 0:
        if (!this.tcDone && d < s) next = this.base + s;
        break;
      case 1:
        if (d < s) next = this.base + s;
        break;
      case 2:
        if (s > 1) {
          const p = d % s;
          next = p < s - 1 ? t + (s - 1 - p) : t + 1;
        }
        break;
      case 3: {
        const hi = (s + 1) >> 1;
        if (s - hi > 0) {
          const p = d % s;
          next = p < hi ? t + (hi - p) : t + (s - p);
        }
        break;
      }
      default: // modes 4 and 5
        if (!(this.mode === 4 && this.tcDone)) {
          if (d < s) next = this.base + s;
          else if (d === s) next = t + 1;
        }
    }
    return next < this.pendingTick ? next : this.pendingTick;
  }

  status(t: number): number {
    this.eval(t);
    return (this.out ? PitStatus.OUTPUT : 0) | (t < this.nullUntil ? PitStatus.NULL_COUNT : 0) | (this.rw << 4) | (this.modeBits << 1) | (this.bcd ? 1 : 0);
  }

  /** The count as the counter presents it (BCD-encoded in BCD mode). */
  encoded(): number {
    const v = this.cnt;
    if (!this.bcd) return v;
    return (Math.floor(v / 1000) << 12) | (Math.floor(v / 100) % 10 << 8) | (Math.floor(v / 10) % 10 << 4) | v % 10;
  }

  decode(v: number): number {
    let n = v;
    if (this.bcd) n = (v >> 12) * 1000 + ((v >> 8) & 15) * 100 + ((v >> 4) & 15) * 10 + (v & 15);
    n %= this.modulus;
    return n === 0 ? this.modulus : n;
  }

  control(t: number, value: number): void {
    this.eval(t);
    this.frozen = this.cnt;
    this.modeBits = (value >> 1) & 7;
    this.mode = this.modeBits > 5 ? this.modeBits - 4 : this.modeBits;
    this.rw = (value >> 4) & 3;
    this.bcd = (value & 1) !== 0;
    this.modulus = this.bcd ? 10000 : 0x10000;
    this.frozen %= this.modulus;
    this.counting = false;
    this.base = NONE;
    this.pendingTick = NONE;
    this.tcDone = false;
    this.idleOut = this.mode !== 0;
    this.nullUntil = NONE;
    this.hasCount = false;
    this.writeMsbNext = false;
    this.readMsbNext = false;
    this.latchedCount = -1;
    this.latchBytes = 0;
    this.latchedStatus = -1;
  }

  /** A data-port write at pulse `t`. */
  writeByte(t: number, value: number): void {
    let v: number;
    if (this.rw === 1) v = value;
    else if (this.rw === 2) v = value << 8;
    else if (!this.writeMsbNext) {
      this.lsb = value;
      this.writeMsbNext = true;
      if (this.mode === 0) {
        // Mode 0: writing the first byte disables counting and sets OUT low at once.
        this.eval(t);
        this.frozen = this.cnt;
        this.counting = false;
        this.idleOut = false;
        this.tcDone = false;
      }
      return;
    } else {
      v = this.lsb | (value << 8);
      this.writeMsbNext = false;
    }
    this.load(t, this.decode(v));
  }

  private load(t: number, n: number): void {
    this.cr = n;
    this.hasCount = true;
    this.eval(t);
    switch (this.mode) {
      case 0:
      case 4:
        this.frozen = n % this.modulus; // see the class comment: the new count reads at once
        this.tcDone = false;
        this.idleOut = this.mode === 4;
        this.nullUntil = t + 1;
        this.start = n;
        if (this.gate) {
          this.base = t + 1;
          this.counting = true;
        } else {
          // Loaded on the next CLK pulse; counting waits for GATE.
          this.counting = false;
          this.frozen = n % this.modulus;
        }
        return;
      case 2:
      case 3:
        if (this.counting && t >= this.base) {
          // The new count takes effect at the end of the current period (mode 2) or half-cycle (mode 3).
          const d = t - this.base;
          const s = this.start;
          const p = d % s;
          if (this.mode === 2) {
            this.pendingTick = t - p + s;
            this.pendingLow = false;
          } else {
            const hi = (s + 1) >> 1;
            this.pendingLow = p < hi;
            this.pendingTick = p < hi ? t - p + hi : t - p + s;
          }
          this.nullUntil = this.pendingTick;
        } else if (this.gate) {
          if (!this.counting) this.frozen = this.firstCount(n);
          this.start = n;
          this.base = t + 1;
          this.counting = true;
          this.nullUntil = t + 1;
        } else {
          this.nullUntil = NONE;
        }
        return;
      default:
        // Modes 1 and 5: the count waits for a trigger on GATE.
        this.nullUntil = NONE;
    }
  }

  setGate(t: number, level: boolean): void {
    if (level === this.gate) return;
    this.eval(t);
    this.gate = level;
    switch (this.mode) {
      case 0:
      case 4:
        if (!level) {
          if (this.counting) {
            this.frozen = this.cnt;
            this.idleOut = this.out;
            this.tcDone = this.mode === 0 ? this.out : t >= this.base + this.start;
            this.counting = false;
          }
        } else if (this.hasCount && !this.writeMsbNext) {
          this.start = this.frozen;
          this.base = t;
          this.counting = true;
        }
        return;
      case 2:
      case 3:
        if (!level) {
          if (this.pendingTick !== NONE && t >= this.pendingTick) this.applyPending();
          this.frozen = this.cnt;
          this.idleOut = true;
          this.counting = false;
          this.pendingTick = NONE;
        } else if (this.hasCount) {
          // Reloaded on the next CLK pulse; reads show the reloaded count at once (class comment).
          this.frozen = this.firstCount(this.cr);
          this.start = this.cr;
          this.base = t + 1;
          this.counting = true;
          this.nullUntil = t + 1;
        }
        return;
      default:
        if (level && this.hasCount) {
          // Rising edge: trigger. The count is loaded on the next CLK pulse; reads show it at once.
          this.frozen = this.firstCount(this.cr);
          this.idleOut = this.out;
          this.start = this.cr;
          this.base = t + 1;
          this.counting = true;
          this.nullUntil = t + 1;
        }
    }
  }

  latchCount(t: number): void {
    if (this.latchedCount >= 0) return;
    this.eval(t);
    this.latchedCount = this.encoded();
    this.latchBytes = this.rw === 3 ? 2 : 1;
  }

  latchStatus(t: number): void {
    if (this.latchedStatus >= 0) return;
    this.latchedStatus = this.status(t);
  }

  readByte(t: number): number {
    if (this.latchedStatus >= 0) {
      const s = this.latchedStatus;
      this.latchedStatus = -1;
      return s;
    }
    let v: number;
    let msb: boolean;
    if (this.latchedCount >= 0) {
      v = this.latchedCount;
      msb = this.rw === 2 || (this.rw === 3 && this.latchBytes === 1);
      if (--this.latchBytes <= 0) this.latchedCount = -1;
    } else {
      this.eval(t);
      v = this.encoded();
      msb = this.rw === 2 || (this.rw === 3 && this.readMsbNext);
      if (this.rw === 3) this.readMsbNext = !this.readMsbNext;
    }
    return msb ? (v >> 8) & 0xff : v & 0xff;
  }

  save(): number[] {
    const n = (x: number): number => (x === NONE ? -1 : x);
    return [
      this.modeBits,
      this.rw,
      this.bcd ? 1 : 0,
      this.cr,
      this.start,
      n(this.base),
      this.counting ? 1 : 0,
      this.frozen,
      this.idleOut ? 1 : 0,
      this.tcDone ? 1 : 0,
      n(this.pendingTick),
      this.pendingLow ? 1 : 0,
      n(this.nullUntil),
      this.gate ? 1 : 0,
      this.hasCount ? 1 : 0,
      this.writeMsbNext ? 1 : 0,
      this.lsb,
      this.readMsbNext ? 1 : 0,
      this.latchedCount,
      this.latchBytes,
      this.latchedStatus,
    ];
  }

  restore(a: readonly number[]): void {
    const n = (x: number): number => (x === -1 ? NONE : x);
    this.modeBits = a[0]! & 7;
    this.mode = this.modeBits > 5 ? this.modeBits - 4 : this.modeBits;
    this.rw = a[1]! & 3;
    this.bcd = a[2] === 1;
    this.modulus = this.bcd ? 10000 : 0x10000;
    this.cr = a[3]!;
    this.start = a[4]!;
    this.base = n(a[5]!);
    this.counting = a[6] === 1;
    this.frozen = a[7]!;
    this.idleOut = a[8] === 1;
    this.tcDone = a[9] === 1;
    this.pendingTick = n(a[10]!);
    this.pendingLow = a[11] === 1;
    this.nullUntil = n(a[12]!);
    this.gate = a[13] === 1;
    this.hasCount = a[14] === 1;
    this.writeMsbNext = a[15] === 1;
    this.lsb = a[16]!;
    this.readMsbNext = a[17] === 1;
    this.latchedCount = a[18]!;
    this.latchBytes = a[19]!;
    this.latchedStatus = a[20]!;
  }
}

const SNAPSHOT_VERSION = 1;
const COUNTER_FIELDS = 21;

export interface Pit8254Options {
  /** The machine's clock: guest time, and the timer that raises IRQ0 on time. */
  clock: VirtualClock;
  /** Counter 0's OUT (IRQ0 on a PC). */
  irq?: IrqLine;
  /** First port; 0x40 on a PC. */
  base?: number;
  name?: string;
}

export class Pit8254 implements Device, PioDevice, Resettable, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[];
  private readonly base: number;
  private readonly clock: VirtualClock;
  private readonly irq: IrqLine | undefined;
  private readonly timer: Timer;
  private readonly counters: readonly [Counter, Counter, Counter] = [new Counter(), new Counter(), new Counter()];

  constructor(options: Pit8254Options) {
    this.base = options.base ?? 0x40;
    this.name = options.name ?? 'pit';
    this.pioRanges = [{ base: this.base, length: 4 }];
    this.clock = options.clock;
    this.irq = options.irq;
    this.timer = this.clock.createTimer(`${this.name}.out0`, (deadlineNs) => this.updateOut0(pitTickAt(deadlineNs)));
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

  /** The current CLK pulse. */
  get tick(): number {
    return pitTickAt(this.clock.nowNs);
  }

  /** Counter `index`'s OUT now. */
  out(index: 0 | 1 | 2): boolean {
    const c = this.counters[index];
    c.eval(this.tick);
    return c.out;
  }

  /** Counter `index`'s count now (binary, 0 standing for 65536 or 10000). */
  count(index: 0 | 1 | 2): number {
    const c = this.counters[index];
    c.eval(this.tick);
    return c.cnt;
  }

  /** Drives counter `index`'s GATE input (on a PC only counter 2's is wired, to port 0x61). */
  setGate(index: 0 | 1 | 2, level: boolean): void {
    this.counters[index].setGate(this.tick, level);
    if (index === 0) this.updateOut0(this.tick);
  }

  gate(index: 0 | 1 | 2): boolean {
    return this.counters[index].gate;
  }

  pioRead(port: Port, _size: AccessSize): number {
    const i = port - this.base;
    if (i < 0 || i > 2) return 0xff; // the control word register is write-only
    return this.counters[i]!.readByte(this.tick);
  }

  pioWrite(port: Port, _size: AccessSize, value: number): void {
    const i = port - this.base;
    const t = this.tick;
    value &= 0xff;
    if (i >= 0 && i <= 2) {
      this.counters[i]!.writeByte(t, value);
      if (i === 0) this.updateOut0(t);
      return;
    }
    if (i !== 3) return;
    const sc = value >> PitControl.SC_SHIFT;
    if (sc === 3) {
      // Read-Back Command: bit 5 clear latches the count, bit 4 clear the status, of the counters in bits 1-3.
      for (let k = 0; k < 3; k++) {
        if ((value & (2 << k)) === 0) continue;
        const c = this.counters[k]!;
        if ((value & 0x10) === 0) c.latchStatus(t);
        if ((value & 0x20) === 0) c.latchCount(t);
      }
      return;
    }
    const c = this.counters[sc]!;
    if (((value >> PitControl.RW_SHIFT) & 3) === 0) {
      c.latchCount(t); // Counter Latch Command
      return;
    }
    c.control(t, value);
    if (sc === 0) this.updateOut0(t);
  }

  reset(): void {
    for (const c of this.counters) c.reset();
    this.timer.cancel();
    this.irq?.set(true);
  }

  saveState(): DeviceSnapshot {
    return { version: SNAPSHOT_VERSION, state: { counters: this.counters.map((c) => c.save()) } };
  }

  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) throw new Error(`unsupported 8254 snapshot version ${snapshot.version}`);
    const s = snapshot.state as Record<string, unknown>;
    const cs = s['counters'];
    if (!Array.isArray(cs) || cs.length !== 3) throw new Error('8254 snapshot field "counters" is not an array of 3');
    for (const a of cs) {
      if (!Array.isArray(a) || a.length !== COUNTER_FIELDS || !a.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= -1)) {
        throw new Error('8254 snapshot counter state is not valid');
      }
    }
    (cs as number[][]).forEach((a, k) => this.counters[k]!.restore(a));
    this.updateOut0(this.tick);
  }

  /** Drives IRQ0 from counter 0's OUT at pulse `t` and arms the timer for its next change. */
  private updateOut0(t: number): void {
    const c = this.counters[0];
    c.eval(t);
    this.irq?.set(c.out);
    const next = c.nextChange(t);
    if (next === NONE) this.timer.cancel();
    else this.timer.armAt(pitTickTimeNs(next));
  }
}

/** Port 0x61 bits (IBM PC/AT "System Control Port B"). */
export const PortB = {
  /** Counter 2's GATE (read/write). */
  GATE2: 0x01,
  /** Speaker data enable (read/write): the speaker sounds OUT2 AND this bit. */
  SPEAKER_DATA: 0x02,
  /** Parity check and I/O channel check disable (read/write, stored only). */
  CHECK_DISABLE: 0x0c,
  /** Toggles every 18 PIT clocks (about 15.09 us), the refresh period BIOSes program on counter 1. */
  REFRESH_TOGGLE: 0x10,
  /** Counter 2's OUT (read only). */
  OUT2: 0x20,
} as const;

/** PIT clocks per half-period of the refresh toggle. */
export const REFRESH_TOGGLE_TICKS = 18;

export interface SystemControlPortBOptions {
  pit: Pit8254;
  name?: string;
}

/**
 * Port 0x61, "System Control Port B": counter 2's GATE, the speaker enable, the refresh
 * toggle and OUT2. The PIT itself decodes only 0x40-0x43; this device sits beside it.
 */
export class SystemControlPortB implements Device, PioDevice, Resettable, Snapshottable {
  readonly name: string;
  readonly pioRanges: readonly IoRange[] = [{ base: 0x61, length: 1 }];
  private readonly pit: Pit8254;
  private value = 0;

  constructor(options: SystemControlPortBOptions) {
    this.pit = options.pit;
    this.name = options.name ?? 'port61';
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

  /** Whether the speaker is driven: OUT2 gated by the speaker data enable bit. */
  get speakerOn(): boolean {
    return (this.value & PortB.SPEAKER_DATA) !== 0 && this.pit.out(2);
  }

  pioRead(_port: Port, _size: AccessSize): number {
    const refresh = Math.floor(this.pit.tick / REFRESH_TOGGLE_TICKS) & 1 ? PortB.REFRESH_TOGGLE : 0;
    return this.value | refresh | (this.pit.out(2) ? PortB.OUT2 : 0);
  }

  pioWrite(_port: Port, _size: AccessSize, value: number): void {
    this.value = value & 0x0f;
    this.pit.setGate(2, (value & PortB.GATE2) !== 0);
  }

  reset(): void {
    this.value = 0;
    this.pit.setGate(2, false);
  }

  saveState(): DeviceSnapshot {
    return { version: 1, state: { value: this.value } };
  }

  restoreState(snapshot: DeviceSnapshot): void {
    const v = (snapshot.state as Record<string, unknown>)['value'];
    if (snapshot.version !== 1 || typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x0f) throw new Error('port 0x61 snapshot is not valid');
    this.value = v; // GATE2 itself is part of the PIT's state
  }
}
