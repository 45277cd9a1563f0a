/**
 * `@hvkit/irqchip`: the 8259A pair, the I/O APIC and the local APIC (xAPIC and x2APIC, with
 * its timer). Each controller implements the platform's `IrqSink` for its inputs.
 *
 * So far: the PC/AT 8259A master/slave pair with the PIIX ELCR registers, the 82093AA-style
 * I/O APIC, the local APIC (xAPIC and x2APIC, with its timer and IPIs) and the APIC bus that
 * routes I/O APIC messages, MSIs and IPIs between them.
 */
export { Icw1, Icw4, Ocw2, Ocw3, Pic8259Pair, PicPort, type Pic8259PairOptions } from './pic8259.js';
export { DeliveryMode, IOAPIC_DEFAULT_BASE, IOAPIC_PINS, IOAPIC_VERSION, IoApic, IoApicMmio, IoApicReg, Redir, type ApicBus, type IoApicOptions } from './ioapic.js';
export {
  APIC_DEFAULT_BASE,
  ApicBase,
  ApicReg,
  Esr,
  Icr,
  IpiDeliveryMode,
  LAPIC_VERSION,
  LVT_COUNT,
  LocalApic,
  Lvt,
  LvtDeliveryMode,
  LvtIndex,
  Shorthand,
  Svr,
  TimerMode,
  X2APIC_MSR_BASE,
  type LocalApicOptions,
} from './lapic.js';
export { ApicBusHub, Msi, type EoiListener } from './apic-bus.js';
