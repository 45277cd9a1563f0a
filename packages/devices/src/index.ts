/**
 * `@hvkit/devices`: PC devices behind the `@hvkit/platform` `Device` interface. Devices see
 * only the platform contracts (buses, interrupt lines, DMA, the clock), never the CPU.
 */
export { IsaDebugExit, type IsaDebugExitOptions } from './isa-debug-exit.js';
export {
  Fcr,
  Ier,
  Iir,
  Lcr,
  Lsr,
  Mcr,
  Msr,
  Uart16550,
  UART_FIFO_DEPTH,
  UartRegister,
  type ModemInputs,
  type Uart16550Options,
} from './uart-16550.js';
export { SystemControlPort, type SystemControlPortOptions } from './system-control-port.js';
export { RegA, RegB, RegC, RegD, RtcCmos, RtcRegister, type RtcCmosOptions } from './rtc-cmos.js';
export { BochsShutdownPort, DebugCon, type BochsShutdownPortOptions, type DebugConOptions } from './test-ports.js';
export { Pit8254, PitControl, PitStatus, PIT_CLOCK_HZ, pitTickAt, pitTickTimeNs, PortB, REFRESH_TOGGLE_TICKS, SystemControlPortB, type Pit8254Options, type SystemControlPortBOptions } from './pit8254.js';
export { I8042, I8042Command, I8042OutputPort, I8042Status, type I8042Options } from './i8042.js';
