/**
 * The contract between a CPU core and its local APIC.
 *
 * On x86 the local APIC sits inside the core, yet it is a device in every other respect: it
 * has registers, timers and a message bus to the other APICs and the I/O APIC. hvkit keeps
 * the two apart: `@hvkit/x86` talks to a {@link CpuLocalApic} and `@hvkit/irqchip`'s
 * `LocalApic` implements one; the APIC drives the core's INIT, SIPI, NMI and SMI pins through
 * {@link CpuPins}. Neither package imports the other; a board connects them.
 *
 * References: SDM Vol. 3 ch. 11 ("Advanced Programmable Interrupt Controller"), in
 * particular §11.4.4 (IA32_APIC_BASE), §11.5.4.1 (TSC-deadline mode), §11.8.6 (CR8 and the
 * TPR), §11.12 (x2APIC MSRs).
 */

/** The APIC side, as the core sees it. */
export interface CpuLocalApic {
  /**
   * Whether a maskable interrupt can be delivered now (INTR): a fixed interrupt in the IRR
   * above the processor priority, or an ExtINT from a legacy PIC. Called at every instruction
   * boundary where the core could take an interrupt (RFLAGS.IF = 1), so it must be cheap.
   */
  hasInterrupt(): boolean;
  /** Interrupt acknowledge (INTA): moves the interrupt to the ISR and returns its vector. */
  acknowledge(): number;

  /** IA32_APIC_BASE (MSR 0x1B), low and high halves. */
  readonly baseLo: number;
  readonly baseHi: number;
  /**
   * WRMSR IA32_APIC_BASE. Returns false when the value sets a reserved bit or asks for an
   * illegal mode transition (§11.12.5, Figure 11-27), which the core turns into #GP(0).
   */
  writeBase(lo: number, hi: number): boolean;

  /**
   * The physical address of the 4 KiB xAPIC register page the core decodes (the base from
   * IA32_APIC_BASE), or -1 while the APIC is globally disabled or in x2APIC mode (then the
   * page is ordinary memory or nothing). The core reads it on slow paths only.
   */
  readonly mmioPage: number;
  /** An access to the xAPIC page; `offset` is 0-0xFFF. */
  mmioRead(offset: number, size: 1 | 2 | 4): number;
  mmioWrite(offset: number, size: 1 | 2 | 4, value: number): void;

  /**
   * RDMSR of an x2APIC register (MSR 0x800-0x8FF). Returns false for #GP(0) (not in x2APIC
   * mode, a write-only or missing register); the value is in {@link msrLo} / {@link msrHi}.
   */
  readMsr(msr: number): boolean;
  /** WRMSR of an x2APIC register; false for #GP(0) (read-only, reserved bits, not x2APIC). */
  writeMsr(msr: number, lo: number, hi: number): boolean;
  /** Result of the last successful {@link readMsr}. */
  readonly msrLo: number;
  readonly msrHi: number;

  /** TPR bits 7:4, as MOV from CR8 reads them (§11.8.6). */
  readCr8(): number;
  /** MOV to CR8: TPR = value << 4. */
  writeCr8(value: number): void;

  /** IA32_TSC_DEADLINE (MSR 0x6E0), as a TSC value (a double, exact to 2^53). */
  readTscDeadline(): number;
  writeTscDeadline(tsc: number): void;

  /**
   * The local APIC's part of INIT (§11.4.7.3): its registers return to their power-up state
   * except the APIC ID and IA32_APIC_BASE. The core calls it when it actually performs an INIT
   * ({@link CpuPins.init} only signals one): an INIT the core holds pending (blocked in VMX root
   * operation, SDM Vol. 3C §24.8) resets the APIC only once taken, and an INIT that causes a VM
   * exit (§25.2) performs "none of the operations normally associated with INIT", so it does not.
   */
  initReset(): void;
}

/** The core's pins, as the APIC drives them. */
export interface CpuPins {
  /**
   * INIT (§10.4.2): the core goes to its INIT state, and an AP then waits for a SIPI. The core
   * resets its local APIC ({@link CpuLocalApic.initReset}) when, and only if, it performs the INIT.
   */
  init(): void;
  /** Start-up IPI with vector `vector` (0-255): an AP waiting for SIPI starts at vector:0000. */
  startup(vector: number): void;
  /** NMI (edge). */
  nmi(): void;
  /** SMI; cores without SMM ignore it. */
  smi(): void;
  /** Maskable interrupt state changed: a halted core should look again. */
  kick(): void;
}

/** What the local APIC needs of the TSC for TSC-deadline mode. */
export interface TscSource {
  /** The TSC now (a double). */
  readTsc(): number;
  /** TSC ticks per nanosecond of guest time. */
  readonly ticksPerNs: number;
}
