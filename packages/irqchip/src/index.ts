/**
 * `@hvkit/irqchip`: the 8259A pair, the I/O APIC and the local APIC (xAPIC and x2APIC, with
 * its timer). Each controller implements the platform's `IrqSink` for its inputs.
 *
 * Nothing is exported yet: the controllers arrive with the PC platform issue.
 */
export {};
