/**
 * The deterministic virtual clock.
 *
 * Guest time is derived from retired instructions, never from the host's clock, so a run is
 * reproducible: the same guest and inputs give the same timer interrupts at the same
 * instructions. The CPU calls {@link VirtualClock.advance} with the instructions it retired;
 * while it is halted the machine skips ahead with {@link VirtualClock.advanceTo}.
 *
 * Time is an integer count of nanoseconds in a JavaScript number (exact for 104 days of guest
 * time). The instruction rate is a rational number of nanoseconds per instruction, kept with
 * an exact remainder, so no rounding error ever accumulates.
 *
 * Timers are objects created once and re-armed as often as needed; arming, cancelling and
 * firing allocate nothing. Timers due at the same nanosecond fire in the order they were
 * created.
 */

/** Read-only time, for devices that only need to know what time it is. */
export interface Clock {
  /** Guest time in nanoseconds since the clock started. */
  readonly nowNs: number;
}

/** Called when a timer fires, with the deadline it was armed for. */
export type TimerCallback = (deadlineNs: number) => void;

export interface VirtualClockOptions {
  /** Guest instructions per second of guest time; default 1e9 (1 ns per instruction). */
  instructionsPerSecond?: number;
  /** A timer that keeps re-arming itself without time passing is stopped after this many firings. */
  maxFiringsPerAdvance?: number;
}

const NS_PER_SECOND = 1_000_000_000;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The highest tick rate {@link ticksAt} and {@link tickTimeNs} are exact for. */
export const MAX_EXACT_TICK_HZ = Math.floor(Number.MAX_SAFE_INTEGER / NS_PER_SECOND);

/**
 * Ticks of a `hz` clock (tick 0 at time 0) that have happened by guest time `ns`:
 * floor(ns * hz / 1e9), exact for any `ns` a clock holds when `hz` <= {@link MAX_EXACT_TICK_HZ}
 * (the product is split so no intermediate passes 2^53). Devices with their own oscillator
 * (the 8254's 1.193182 MHz, the ACPI PM timer's 3.579545 MHz, the RTC's 32.768 kHz) count
 * with it, so no rounding error accumulates however long the guest runs.
 */
export function ticksAt(ns: number, hz: number): number {
  const q = Math.floor(ns / NS_PER_SECOND);
  const r = ns - q * NS_PER_SECOND;
  const x = r * hz;
  return q * hz + (x - (x % NS_PER_SECOND)) / NS_PER_SECOND;
}

/** The first whole guest nanosecond at which tick `tick` of a `hz` clock has happened (the inverse of {@link ticksAt}). */
export function tickTimeNs(tick: number, hz: number): number {
  const q = Math.floor(tick / hz);
  const r = tick - q * hz;
  const x = r * NS_PER_SECOND;
  const rem = x % hz;
  return q * NS_PER_SECOND + (x - rem) / hz + (rem === 0 ? 0 : 1);
}

export class Timer {
  /** @internal */ deadline = Infinity;
  /** @internal */ clock: VirtualClock;

  /** @internal Use {@link VirtualClock.createTimer}. */
  constructor(
    clock: VirtualClock,
    readonly name: string,
    /** @internal */ readonly callback: TimerCallback,
    /** @internal Creation order, for deterministic ties. */ readonly order: number,
  ) {
    this.clock = clock;
  }

  get armed(): boolean {
    return this.deadline !== Infinity;
  }

  /** The deadline in ns, or `Infinity` when not armed. */
  get deadlineNs(): number {
    return this.deadline;
  }

  /**
   * Fires at `deadlineNs` (absolute guest time). A deadline in the past fires at the next
   * `advance`/`advanceTo`/`poll`.
   */
  armAt(deadlineNs: number): void {
    if (Number.isNaN(deadlineNs) || deadlineNs === Infinity || deadlineNs < 0) {
      throw new RangeError(`timer "${this.name}": deadline ${deadlineNs} is not a finite, non-negative time`);
    }
    this.deadline = Math.ceil(deadlineNs);
    this.clock.rescan();
  }

  /** Fires `delayNs` after now. */
  armAfter(delayNs: number): void {
    if (!(delayNs >= 0) || delayNs === Infinity) {
      throw new RangeError(`timer "${this.name}": delay ${delayNs} is not a finite, non-negative time`);
    }
    this.armAt(this.clock.nowNs + delayNs);
  }

  cancel(): void {
    if (this.deadline === Infinity) return;
    this.deadline = Infinity;
    this.clock.rescan();
  }
}

export class VirtualClock implements Clock {
  private now = 0;
  private retiredCount = 0;
  /** ns per instruction = num / den, in lowest terms. */
  private readonly num: number;
  /** The most instructions {@link advance} accounts for at once (n * num stays below 2^52, exact). */
  private readonly chunk: number;
  private readonly den: number;
  /** The fraction of a nanosecond carried over: rem / den. */
  private rem = 0;
  private readonly timers: Timer[] = [];
  private next: Timer | null = null;
  private readonly maxFirings: number;
  private firing = false;

  constructor(options: VirtualClockOptions = {}) {
    const ips = options.instructionsPerSecond ?? NS_PER_SECOND;
    if (!Number.isInteger(ips) || ips <= 0) {
      throw new RangeError(`instructionsPerSecond ${ips} is not a positive integer`);
    }
    const g = gcd(NS_PER_SECOND, ips);
    this.num = NS_PER_SECOND / g;
    this.den = ips / g;
    this.chunk = Math.max(1, Math.floor(Number.MAX_SAFE_INTEGER / 2 / this.num));
    this.maxFirings = options.maxFiringsPerAdvance ?? 1_000_000;
  }

  get nowNs(): number {
    return this.now;
  }

  /** Instructions retired so far (as reported through `advance`). */
  get retired(): number {
    return this.retiredCount;
  }

  /**
   * The clock's own state for a snapshot: the time, the fraction of a nanosecond carried, and
   * the instruction count. Timers belong to their devices, which save and re-arm them.
   */
  saveState(): { readonly nowNs: number; readonly rem: number; readonly retired: number } {
    return { nowNs: this.now, rem: this.rem, retired: this.retiredCount };
  }

  /**
   * Puts the clock back to a {@link saveState} value and disarms every timer; restoring the
   * devices then re-arms theirs. Throws for values that are not a valid state.
   */
  restoreState(state: { readonly nowNs: number; readonly rem: number; readonly retired: number }): void {
    const { nowNs, rem, retired } = state;
    if (!Number.isSafeInteger(nowNs) || nowNs < 0 || !Number.isSafeInteger(rem) || rem < 0 || rem >= this.den || !Number.isSafeInteger(retired) || retired < 0) {
      throw new RangeError(`not a clock state this clock can take: ${JSON.stringify(state)}`);
    }
    this.now = nowNs;
    this.rem = rem;
    this.retiredCount = retired;
    for (const t of this.timers) t.deadline = Infinity;
    this.next = null;
  }

  /** A new, disarmed timer. */
  createTimer(name: string, callback: TimerCallback): Timer {
    const timer = new Timer(this, name, callback, this.timers.length);
    this.timers.push(timer);
    return timer;
  }

  /** The earliest armed deadline, or `Infinity`. */
  nextDeadlineNs(): number {
    return this.next === null ? Infinity : this.next.deadline;
  }

  /**
   * How many instructions may retire before the next timer is due (at least 1 when one is
   * armed in the future, 0 when one is already due), or `Infinity`. The CPU caps its run
   * budget with this, so timers fire on the exact instruction.
   */
  instructionsUntilNextDeadline(): number {
    const deadline = this.nextDeadlineNs();
    if (deadline === Infinity) return Infinity;
    const ns = deadline - this.now;
    if (ns <= 0) return 0;
    // Smallest n with floor((rem + n * num) / den) >= ns.
    return Math.max(1, Math.ceil((ns * this.den - this.rem) / this.num));
  }

  /** Accounts for `instructions` retired instructions and fires the timers that became due. */
  advance(instructions: number): void {
    if (!Number.isInteger(instructions) || instructions < 0) {
      throw new RangeError(`cannot advance by ${instructions} instructions`);
    }
    this.retiredCount += instructions;
    // Split huge advances so that n * num stays exact.
    const chunk = this.chunk;
    let left = instructions;
    while (left > 0) {
      const n = left < chunk ? left : chunk;
      const total = this.rem + n * this.num;
      this.now += Math.floor(total / this.den);
      this.rem = total % this.den;
      left -= n;
    }
    this.poll();
  }

  /** Moves time forward to `ns` with no instructions retired (an idle, halted CPU). */
  advanceTo(ns: number): void {
    if (Number.isNaN(ns) || ns === Infinity) throw new RangeError(`cannot advance to ${ns} ns`);
    if (ns > this.now) {
      this.now = Math.floor(ns);
      this.rem = 0;
    }
    this.poll();
  }

  /** Fires every timer whose deadline has passed, earliest first. */
  poll(): void {
    // Nothing due (the common case, once per run-loop turn): no firing bookkeeping.
    const first = this.next;
    if (first === null || first.deadline > this.now || this.firing) return;
    this.firing = true;
    try {
      let firings = 0;
      for (let t = this.next; t !== null && t.deadline <= this.now; t = this.next) {
        if (++firings > this.maxFirings) {
          throw new Error(`timer "${t.name}" fired ${this.maxFirings} times without guest time advancing; it re-arms itself in the past`);
        }
        const deadline = t.deadline;
        t.deadline = Infinity;
        this.rescan();
        t.callback(deadline);
      }
    } finally {
      this.firing = false;
    }
  }

  /** @internal Recomputes the earliest timer. */
  rescan(): void {
    let best: Timer | null = null;
    for (const t of this.timers) {
      if (t.deadline !== Infinity && (best === null || t.deadline < best.deadline)) best = t;
    }
    this.next = best;
  }
}
