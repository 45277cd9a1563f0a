/**
 * `@hvkit/irqchip`: the 8259A pair, the I/O APIC and the local APIC (xAPIC and x2APIC, with
 * its timer). Each controller implements the platform's `IrqSink` for its inputs.
 *
 * So far: the PC/AT 8259A master/slave pair with the PIIX ELCR registers.
 */
export { Icw1, Icw4, Ocw2, Ocw3, Pic8259Pair, PicPort, type Pic8259PairOptions } from './pic8259.js';
export { DeliveryMode, IOAPIC_DEFAULT_BASE, IOAPIC_PINS, IOAPIC_VERSION, IoApic, IoApicMmio, IoApicReg, Redir, type ApicBus, type IoApicOptions } from './ioapic.js';
