/**
 * Example: write your own device and plug it into an hvkit board.
 *
 * The device is an interval timer with a count register at I/O port 0x300 and a control
 * register at 0x301. It implements only what it needs of the `Device` interface (PIO, reset,
 * snapshot), keeps its logic free of the buses, raises an interrupt line, and takes its time
 * from the deterministic virtual clock. Run it with `pnpm --filter @hvkit/examples
 * example:custom-device`.
 */
import { pathToFileURL } from 'node:url';
import { IsaDebugExit } from '@hvkit/devices';
import {
  Chipset,
  InterruptLine,
  IrqLevels,
  PioBus,
  VirtualClock,
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
} from '@hvkit/platform';

/** Control register bits. */
const ENABLE = 1;
const PERIODIC = 2;

export class IntervalTimer implements Device, PioDevice, Resettable, Snapshottable {
  readonly name = 'interval-timer';
  readonly pioRanges: readonly IoRange[] = [{ base: 0x300, length: 2 }];
  /** Period in microseconds. */
  count = 0;
  control = 0;
  expirations = 0;
  private readonly timer: Timer;

  constructor(
    private readonly clock: VirtualClock,
    private readonly irq: IrqLine,
  ) {
    this.timer = clock.createTimer(this.name, (deadline) => this.expire(deadline));
  }

  supportsPio() {
    return this;
  }
  supportsReset() {
    return this;
  }
  supportsSnapshot() {
    return this;
  }

  pioRead(port: Port, _size: AccessSize): number {
    return port === 0x300 ? this.count : this.control;
  }

  pioWrite(port: Port, _size: AccessSize, value: number): void {
    if (port === 0x300) this.count = value;
    else {
      this.control = value & (ENABLE | PERIODIC);
      this.irq.lower();
      if (this.control & ENABLE && this.count > 0) this.timer.armAfter(this.count * 1000);
      else this.timer.cancel();
    }
  }

  private expire(deadline: number): void {
    this.expirations++;
    this.irq.pulse();
    if (this.control & PERIODIC) this.timer.armAt(deadline + this.count * 1000);
  }

  reset(): void {
    this.count = 0;
    this.control = 0;
    this.expirations = 0;
    this.timer.cancel();
    this.irq.lower();
  }

  saveState(): DeviceSnapshot {
    return { version: 1, state: { count: this.count, control: this.control, expirations: this.expirations, deadline: this.timer.deadlineNs === Infinity ? null : this.timer.deadlineNs } };
  }

  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== 1) throw new Error(`unsupported snapshot version ${snapshot.version}`);
    const s = snapshot.state as { count: number; control: number; expirations: number; deadline: number | null };
    this.count = s.count;
    this.control = s.control;
    this.expirations = s.expirations;
    if (s.deadline === null) this.timer.cancel();
    else this.timer.armAt(s.deadline);
  }
}

/** Builds a board with the timer and a debug-exit port, and plays a guest's part on it. */
export function runExample(log: (line: string) => void = console.log): { expirations: number; exitStatus: number | null; irqEdges: number } {
  const clock = new VirtualClock({ instructionsPerSecond: 100_000_000 }); // a 100 MIPS guest
  const pio = new PioBus();
  const pic = new IrqLevels();
  const chipset = new Chipset({ pio });
  const timer = chipset.add(new IntervalTimer(clock, new InterruptLine(pic, 5, 'timer')));
  const exit = chipset.add(new IsaDebugExit({ iobase: 0xf4 }));

  // The "guest": program a 250 µs periodic timer, run 1 ms of instructions, stop it.
  pio.write(0x300, 2, 250);
  pio.write(0x301, 1, ENABLE | PERIODIC);
  clock.advance(100_000); // 1 ms at 100 MIPS
  pio.write(0x301, 1, 0);
  log(`timer expired ${timer.expirations} times in ${clock.nowNs / 1000} µs of guest time`);
  pio.write(0xf4, 1, timer.expirations === 4 ? 0 : 1);
  log(`guest asked to exit with status ${exit.exitStatus}`);
  return { expirations: timer.expirations, exitStatus: exit.exitStatus, irqEdges: pic.changes.filter(([, level]) => level).length };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) runExample();
