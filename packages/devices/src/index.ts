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
  BufferSerial,
  type SerialBackend,
} from './uart-16550.js';
export { SystemControlPort, type SystemControlPortOptions } from './system-control-port.js';
export { RegA, RegB, RegC, RegD, RtcCmos, RtcRegister, type RtcCmosOptions } from './rtc-cmos.js';
export { BochsShutdownPort, DebugCon, type BochsShutdownPortOptions, type DebugConOptions } from './test-ports.js';
export { Pit8254, PitControl, PitStatus, PIT_CLOCK_HZ, pitTickAt, pitTickTimeNs, PortB, REFRESH_TOGGLE_TICKS, SystemControlPortB, type Pit8254Options, type SystemControlPortBOptions } from './pit8254.js';
export { I8042, I8042Command, I8042OutputPort, I8042Status, type I8042Options } from './i8042.js';
export { CONFIG_ADDRESS_PORT, CONFIG_DATA_PORT, I440FX_DEVICE_ID, I440FX_VENDOR_ID, I440fxHostBridge, PciCommand, PciConfig, PciConfigSpace, PciStatus, PIRQ_DISABLED, pirqOf, type PciBarOptions, type PciConfigSpaceOptions, type PciHostBridgeOptions } from './pci-host.js';
export { buildE820, E820_ENTRY_SIZE, E820Type, FW_CFG_MAX_FILE_PATH, FwCfg, FwCfgId, FwCfgKey, type E820Range, type FwCfgOptions } from './fw-cfg.js';
export { PC_TESTDEV_FLUSH, PC_TESTDEV_IOPORT, PC_TESTDEV_IOPORT_BYTE, PC_TESTDEV_IRQ_BASE, PC_TESTDEV_IRQ_LINES, PcTestdev, type PcTestdevOptions } from './pc-testdev.js';
export { AcpiPm, PIIX4_SLP_TYP_S5, Pm1Cnt, Pm1En, Pm1Sts, PM_TIMER_HZ, pmTimerTicksAt, pmTimerTickTimeNs, RESET_CONTROL_HARD_RESET, ResetControl, ResetControlBits, type AcpiPmLayout, type AcpiPmOptions, type ResetControlOptions } from './acpi-pm.js';
export { Hpet, HPET_DEFAULT_BASE, HPET_DEFAULT_PERIOD_FS, HPET_DEFAULT_ROUTE_CAP, HPET_IOAPIC_PINS, HPET_MAX_PERIOD_FS, HPET_MIN_PERIOD_FS, HPET_MMIO_SIZE, HPET_NUM_TIMERS, HPET_VENDOR_ID, HpetCap, HpetConfig, HpetReg, HpetTimerConfig, type HpetOptions } from './hpet.js';
