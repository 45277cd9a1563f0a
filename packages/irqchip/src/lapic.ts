/**
 * The local APIC of one logical processor, in xAPIC and x2APIC mode, after the Intel SDM
 * Vol. 3 ch. 11 ("Advanced Programmable Interrupt Controller (APIC)"). Section numbers below
 * are those of the current SDM (older editions number the chapter 10).
 *
 * The core sees it through `CpuLocalApic` (`@hvkit/platform`): INTR and INTA, IA32_APIC_BASE,
 * the 4 KiB xAPIC register page (the core decodes its address; this device has no MMIO range
 * of its own), the x2APIC MSRs 0x800-0x8FF, CR8 and IA32_TSC_DEADLINE. The APIC drives the
 * core's INIT, SIPI, NMI and SMI pins through `CpuPins`. LINT0 and LINT1 are the inputs 0 and
 * 1 of its `IrqSink`. Messages to and from other APICs go through an {@link ApicBusHub}.
 *
 * Model: version 0x14 with six LVT entries (timer, thermal, performance counters, LINT0, LINT1,
 * error; no CMCI, so offset 0x2F0 / MSR 0x82F is reserved), Pentium 4-style 8-bit xAPIC IDs,
 * 1 GHz timer base clock (one count per nanosecond of guest time before the divider, as QEMU's
 * APIC timer), TSC-deadline mode when a {@link TscSource} is given, EOI-broadcast suppression
 * when asked for.
 *
 * Behaviour the SDM leaves open, and what this model does:
 * - xAPIC page accesses: the registers are 32-bit at 16-byte aligned offsets (§11.4.1). A read
 *   of 1, 2 or 4 bytes within the first 4 bytes of a register returns those bytes (bytes past
 *   the register read 0); a read of bytes 4-15 of a slot returns 0. Only aligned 32-bit writes
 *   take effect; other writes are ignored (as KVM does). An access to a reserved slot reads 0,
 *   is ignored, and sets ESR bit 7 (illegal register address).
 * - The APR (offset 0x90) reads 0: it belongs to the P6 APIC-bus arbitration; on the system
 *   bus lowest-priority arbitration is done by {@link ApicBusHub} with the PPR. The Remote Read
 *   register (0xC0) reads 0.
 * - A fixed or lowest-priority IPI with a vector below 16 is not sent and sets the send illegal
 *   vector error (ESR bit 5); such a message from elsewhere is refused with the receive illegal
 *   vector error (bit 6) (§11.5.3). An error interrupt is signalled when an error bit becomes
 *   set that was not already pending since the last ESR write.
 * - A software-disabled APIC refuses fixed and lowest-priority messages; interrupts already in
 *   the IRR are still delivered (§11.4.7.2).
 * - Combinations of delivery mode and shorthand that the SDM's ICR table calls invalid are
 *   delivered as written (as KVM does); the reserved delivery modes 011 and 111 send nothing.
 * - Changing the divide configuration while the timer runs keeps the current count and counts
 *   the rest with the new divider. Timer mode 11b (reserved) behaves as one-shot.
 * - The delivery status bits (LVT and ICR) always read 0: messages are delivered synchronously.
 * - The focus-processor bit of the SVR is stored but arbitration ignores it.
 * - An xAPIC DFR model other than 0000b (cluster) behaves as flat.
 *
 * A board without firmware can put the APIC in virtual-wire mode, as a BIOS does, with
 * {@link LocalApic.enableVirtualWire}; at power-up (SDM §11.4.7.1) every LVT entry is masked
 * and the APIC is software-disabled, so 8259A interrupts do not reach the core through LINT0.
 */
import {
  DeviceConfigurationError,
  type CpuLocalApic,
  type CpuPins,
  type Device,
  type DeviceSnapshot,
  type IrqSink,
  type Resettable,
  type Snapshottable,
  type Timer,
  type TscSource,
  type VirtualClock,
} from '@hvkit/platform';
import type { ApicBusHub } from './apic-bus.js';

/** The default physical address of the xAPIC register page (IA32_APIC_BASE after reset). */
export const APIC_DEFAULT_BASE = 0xfee0_0000;
/** The first x2APIC MSR: register at xAPIC offset `o` is MSR `X2APIC_MSR_BASE + (o >> 4)`. */
export const X2APIC_MSR_BASE = 0x800;
/** The version number in the Local APIC Version register (an integrated xAPIC). */
export const LAPIC_VERSION = 0x14;
/** LVT entries: timer, thermal, performance counters, LINT0, LINT1, error (max LVT = 5). */
export const LVT_COUNT = 6;

/** IA32_APIC_BASE (MSR 0x1B) bits, SDM §11.4.4 Figure 11-5 and §11.12.1. */
export const ApicBase = {
  /** BSP flag, read-only. */
  BSP: 0x100,
  /** x2APIC enable. */
  EXTD: 0x400,
  /** APIC global enable. */
  EN: 0x800,
  /** Base address bits 31:12 (the rest is in the high half, up to MAXPHYADDR). */
  ADDRESS: 0xffff_f000,
} as const;

/** Offsets of the xAPIC registers in the 4 KiB page (SDM §11.4.1 Table 11-1). */
export const ApicReg = {
  ID: 0x020,
  VERSION: 0x030,
  TPR: 0x080,
  APR: 0x090,
  PPR: 0x0a0,
  EOI: 0x0b0,
  RRD: 0x0c0,
  LDR: 0x0d0,
  DFR: 0x0e0,
  SVR: 0x0f0,
  /** ISR bits 31:0; the eight registers are at 0x100-0x170. */
  ISR: 0x100,
  TMR: 0x180,
  IRR: 0x200,
  ESR: 0x280,
  /** ICR bits 31:0; writing it sends the IPI. */
  ICR_LO: 0x300,
  /** ICR bits 63:32 (xAPIC only; the destination in bits 31:24). */
  ICR_HI: 0x310,
  LVT_TIMER: 0x320,
  LVT_THERMAL: 0x330,
  LVT_PERF: 0x340,
  LVT_LINT0: 0x350,
  LVT_LINT1: 0x360,
  LVT_ERROR: 0x370,
  TIMER_INITIAL_COUNT: 0x380,
  TIMER_CURRENT_COUNT: 0x390,
  TIMER_DIVIDE: 0x3e0,
  /** SELF IPI: x2APIC only (MSR 0x83F), write-only. */
  SELF_IPI: 0x3f0,
} as const;

/** Indices of the LVT entries (offset 0x320 + 0x10 * index). */
export const LvtIndex = { Timer: 0, Thermal: 1, Perf: 2, Lint0: 3, Lint1: 4, Error: 5 } as const;

/** LVT entry bits, SDM §11.5.1 Figure 11-8. */
export const Lvt = {
  VECTOR: 0xff,
  DELIVERY_MODE: 0x700,
  DELIVERY_MODE_SHIFT: 8,
  DELIVERY_STATUS: 0x1000,
  /** LINT0/LINT1 input polarity: 1 = active low. */
  POLARITY: 0x2000,
  /** LINT0/LINT1 remote IRR (level-triggered fixed only), read-only. */
  REMOTE_IRR: 0x4000,
  /** LINT0/LINT1 trigger mode: 1 = level. */
  TRIGGER: 0x8000,
  MASK: 0x1_0000,
  /** Timer mode, bits 18:17: one of {@link TimerMode}. */
  TIMER_MODE: 0x6_0000,
  TIMER_MODE_SHIFT: 17,
} as const;

/** LVT timer modes (SDM §11.5.4 Figure 11-8). */
export const TimerMode = { OneShot: 0, Periodic: 1, TscDeadline: 2 } as const;

/** LVT delivery modes (SDM §11.5.1). */
export const LvtDeliveryMode = { Fixed: 0, Smi: 2, Nmi: 4, Init: 5, ExtInt: 7 } as const;

/** Interrupt Command Register bits, SDM §11.6.1 Figure 11-12 (xAPIC) and §11.12.9 (x2APIC). */
export const Icr = {
  VECTOR: 0xff,
  DELIVERY_MODE: 0x700,
  DELIVERY_MODE_SHIFT: 8,
  /** Destination mode: 1 = logical. */
  DEST_LOGICAL: 0x800,
  /** Delivery status (xAPIC, read-only; always 0 here). */
  DELIVERY_STATUS: 0x1000,
  /** Level: 0 = de-assert (INIT level de-assert only), 1 = assert. */
  LEVEL_ASSERT: 0x4000,
  /** Trigger mode: 1 = level. */
  TRIGGER_LEVEL: 0x8000,
  /** Destination shorthand, bits 19:18: one of {@link Shorthand}. */
  SHORTHAND: 0xc_0000,
  SHORTHAND_SHIFT: 18,
} as const;

/** ICR delivery modes (SDM §11.6.1); 011 and 111 are reserved. */
export const IpiDeliveryMode = { Fixed: 0, LowestPriority: 1, Smi: 2, Nmi: 4, Init: 5, StartUp: 6 } as const;

/** Destination shorthands (ICR bits 19:18). */
export const Shorthand = { None: 0, Self: 1, AllIncludingSelf: 2, AllExcludingSelf: 3 } as const;

/** Error Status Register bits, SDM §11.5.3 Figure 11-9. */
export const Esr = {
  SEND_CHECKSUM: 0x01,
  RECEIVE_CHECKSUM: 0x02,
  SEND_ACCEPT: 0x04,
  RECEIVE_ACCEPT: 0x08,
  REDIRECTABLE_IPI: 0x10,
  SEND_ILLEGAL_VECTOR: 0x20,
  RECEIVE_ILLEGAL_VECTOR: 0x40,
  ILLEGAL_REGISTER_ADDRESS: 0x80,
} as const;

/** Spurious-Interrupt Vector Register bits, SDM §11.9 Figure 11-23. */
export const Svr = {
  VECTOR: 0xff,
  /** APIC software enable. */
  APIC_ENABLE: 0x100,
  /** Focus processor checking disabled. */
  FOCUS_DISABLE: 0x200,
  /** Suppress EOI broadcasts (only when the Version register advertises it, bit 24). */
  EOI_BROADCAST_SUPPRESSION: 0x1000,
} as const;

export interface LocalApicOptions {
  /** The initial APIC ID (the x2APIC ID; its low 8 bits are the xAPIC ID at reset). */
  id: number;
  /** Whether this is the bootstrap processor (IA32_APIC_BASE.BSP). */
  bsp: boolean;
  clock: VirtualClock;
  /** The core's pins. */
  pins: CpuPins;
  /** The TSC, for TSC-deadline mode; without it the mode is not supported. */
  tsc?: TscSource;
  /** The APIC bus; {@link ApicBusHub.attach} sets it too. */
  bus?: ApicBusHub;
  /** The 8259A pair, whose INTR reaches the core through LINT0 in ExtINT mode. */
  extInt?: { hasInterrupt(): boolean; acknowledge(): number };
  /** x2APIC supported (IA32_APIC_BASE.EXTD writable); default true. */
  x2apic?: boolean;
  /** MAXPHYADDR, 36-52; IA32_APIC_BASE bits at and above it are reserved. Default 46. */
  physAddrBits?: number;
  /** Advertise and honour EOI-broadcast suppression (Version bit 24, SVR bit 12); default false. */
  eoiBroadcastSuppression?: boolean;
  /** The device name; default `lapic<id>`. */
  name?: string;
}

const SNAPSHOT_VERSION = 1;
const TWO_32 = 0x1_0000_0000;

const LVT_TIMER = 0;
const LVT_LINT0 = 3;
const LVT_ERROR = 5;

const DM_FIXED = 0;
const DM_LOWEST = 1;
const DM_SMI = 2;
const DM_NMI = 4;
const DM_INIT = 5;
const DM_STARTUP = 6;
const DM_EXTINT = 7;

/** Writable bits of each LVT entry (without the timer's TSC-deadline bit). */
const LVT_WRITABLE = [
  Lvt.VECTOR | Lvt.MASK | 0x2_0000, // timer: vector, mask, periodic
  Lvt.VECTOR | Lvt.DELIVERY_MODE | Lvt.MASK, // thermal
  Lvt.VECTOR | Lvt.DELIVERY_MODE | Lvt.MASK, // performance counters
  Lvt.VECTOR | Lvt.DELIVERY_MODE | Lvt.POLARITY | Lvt.TRIGGER | Lvt.MASK, // LINT0
  Lvt.VECTOR | Lvt.DELIVERY_MODE | Lvt.POLARITY | Lvt.TRIGGER | Lvt.MASK, // LINT1
  Lvt.VECTOR | Lvt.MASK, // error
] as const;
/** Read-only bits of each LVT entry: a 1 written there is ignored, not reserved. */
const LVT_READ_ONLY = [
  Lvt.DELIVERY_STATUS,
  Lvt.DELIVERY_STATUS,
  Lvt.DELIVERY_STATUS,
  Lvt.DELIVERY_STATUS | Lvt.REMOTE_IRR,
  Lvt.DELIVERY_STATUS | Lvt.REMOTE_IRR,
  Lvt.DELIVERY_STATUS,
] as const;

/** xAPIC ICR low: vector, delivery mode, destination mode, level, trigger, shorthand. */
const ICR_LO_WRITABLE = 0x000c_cfff;
/** x2APIC ICR low: bits 12, 13, 16, 17 and 31:20 are reserved (SDM §11.12.9). */
const X2_ICR_LO_WRITABLE = 0x000c_cfff;
const DCR_WRITABLE = 0x0b;

/** Divide Configuration Register value (bits 3, 1, 0) to divisor, SDM §11.5.4 Figure 11-10. */
function divisorOf(dcr: number): number {
  const code = ((dcr & 0x8) >> 1) | (dcr & 0x3);
  return code === 7 ? 1 : 2 << code;
}

/** The highest set bit of a 256-bit register held in eight 32-bit words, or -1. */
function highestBit(words: Uint32Array): number {
  for (let i = 7; i >= 0; i--) {
    const w = words[i] ?? 0;
    if (w !== 0) return i * 32 + 31 - Math.clz32(w);
  }
  return -1;
}

function isObject(v: unknown): v is Readonly<Record<string, unknown>> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * One local APIC. Implements `CpuLocalApic` for its core, `IrqSink` for LINT0 (line 0) and
 * LINT1 (line 1), and `Device` with reset and snapshots.
 */
export class LocalApic implements CpuLocalApic, IrqSink, Device, Resettable, Snapshottable {
  readonly name: string;
  /** The initial (hardware-assigned) APIC ID; the x2APIC ID. */
  readonly initialId: number;
  readonly bsp: boolean;
  /** Whether x2APIC mode is supported. */
  readonly x2apicSupported: boolean;
  /** Whether TSC-deadline mode is supported (a TSC source was given). */
  readonly tscDeadlineSupported: boolean;
  readonly eoiBroadcastSuppression: boolean;
  /** The APIC bus (set by {@link ApicBusHub.attach}). */
  bus: ApicBusHub | undefined;
  /** The 8259A pair behind LINT0 in ExtINT mode; may be set after construction. */
  extInt: { hasInterrupt(): boolean; acknowledge(): number } | undefined;

  private readonly clock: VirtualClock;
  private readonly pins: CpuPins;
  private readonly tsc: TscSource | undefined;
  private readonly timer: Timer;
  /** Writable bits of IA32_APIC_BASE's high half (base address bits 32 to MAXPHYADDR-1). */
  private readonly baseHiMask: number;
  private readonly version: number;
  private readonly svrWritable: number;
  private readonly lvtTimerWritable: number;
  /** A list holding only this APIC, for IPIs when no bus is attached. */
  private readonly alone: readonly LocalApic[];

  private base = 0;
  private baseHigh = 0;
  /** The xAPIC ID register (ID in bits 31:24). */
  private idReg = 0;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffff_ffff;
  private svr = 0xff;
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  private readonly irr = new Uint32Array(8);
  /** ESR as software reads it. */
  private esr = 0;
  /** Errors detected since the last ESR write. */
  private errors = 0;
  private icrLo = 0;
  private icrHi = 0;
  private readonly lvt = new Uint32Array(LVT_COUNT);
  private initialCount = 0;
  private dcr = 0;
  private divisor = 2;
  /** One-shot/periodic: whether the count runs; it counts from `timerBaseCount` at `timerBaseNs`. */
  private timerRunning = false;
  private timerBaseNs = 0;
  private timerBaseCount = 0;
  private tscDeadline = 0;
  /** LINT0/LINT1 wire levels (before polarity); wires are not reset with the APIC. */
  private readonly lint = new Uint8Array(2);
  /** An ExtINT message arrived; the vector comes from the 8259A at INTA. */
  private extIntMessage = false;

  // Caches, recomputed when IRR, ISR, TPR, LVT LINT0, SVR or IA32_APIC_BASE change.
  private highestIrr = -1;
  private highestIsr = -1;
  private ppr = 0;
  /** A fixed interrupt in the IRR is above the PPR. */
  private fixedPending = false;
  /** INTR comes from the 8259A: APIC globally disabled, LINT0 unmasked ExtINT, or an ExtINT message. */
  private extIntRoute = false;
  private msrResultLo = 0;
  private msrResultHi = 0;

  constructor(options: LocalApicOptions) {
    const x2 = options.x2apic ?? true;
    const name = options.name ?? `lapic${String(options.id)}`;
    const maxId = x2 ? 0xffff_fffe : 0xfe;
    if (!Number.isInteger(options.id) || options.id < 0 || options.id > maxId) {
      throw new DeviceConfigurationError(name, `APIC ID ${String(options.id)} is not an integer in 0-${maxId.toString(16)}h`);
    }
    const bits = options.physAddrBits ?? 46;
    if (!Number.isInteger(bits) || bits < 36 || bits > 52) {
      throw new DeviceConfigurationError(name, `physAddrBits ${String(bits)} is not an integer in 36-52`);
    }
    this.name = name;
    this.initialId = options.id;
    this.bsp = options.bsp;
    this.x2apicSupported = x2;
    this.clock = options.clock;
    this.pins = options.pins;
    this.tsc = options.tsc;
    this.tscDeadlineSupported = options.tsc !== undefined;
    this.bus = options.bus;
    this.extInt = options.extInt;
    this.eoiBroadcastSuppression = options.eoiBroadcastSuppression ?? false;
    this.baseHiMask = 2 ** (bits - 32) - 1;
    this.version = LAPIC_VERSION | ((LVT_COUNT - 1) << 16) | (this.eoiBroadcastSuppression ? 1 << 24 : 0);
    this.svrWritable = Svr.VECTOR | Svr.APIC_ENABLE | Svr.FOCUS_DISABLE | (this.eoiBroadcastSuppression ? Svr.EOI_BROADCAST_SUPPRESSION : 0);
    this.lvtTimerWritable = LVT_WRITABLE[LVT_TIMER] | (this.tscDeadlineSupported ? 0x4_0000 : 0);
    this.alone = [this];
    this.timer = this.clock.createTimer(`${name} timer`, this.onTimer);
    this.reset();
  }

  supportsReset(): Resettable {
    return this;
  }

  supportsSnapshot(): Snapshottable {
    return this;
  }

  // ---- state as other APICs and the bus see it ------------------------------------------------

  /** IA32_APIC_BASE.EN: the APIC is globally enabled. */
  get hardwareEnabled(): boolean {
    return (this.base & ApicBase.EN) !== 0;
  }

  /** SVR bit 8: the APIC is software-enabled. */
  get softwareEnabled(): boolean {
    return (this.svr & Svr.APIC_ENABLE) !== 0;
  }

  /** Whether the APIC is in x2APIC mode. */
  get x2apicMode(): boolean {
    return (this.base & ApicBase.EXTD) !== 0;
  }

  /** The APIC ID used for physical destinations: the x2APIC ID, or the 8-bit xAPIC ID. */
  get apicId(): number {
    return this.x2apicMode ? this.initialId : this.idReg >>> 24;
  }

  /** The Logical Destination Register. */
  get logicalDestination(): number {
    return this.ldr;
  }

  /** The Destination Format Register (xAPIC). */
  get destinationFormat(): number {
    return this.dfr;
  }

  /** The Processor Priority Register (§11.8.3.1), used for lowest-priority arbitration. */
  get processorPriority(): number {
    return this.ppr;
  }

  /** Whether a fixed or lowest-priority message would be accepted (§11.4.7.2). */
  get acceptsFixed(): boolean {
    return (this.base & ApicBase.EN) !== 0 && (this.svr & Svr.APIC_ENABLE) !== 0;
  }

  // ---- CpuLocalApic: INTR and INTA ---------------------------------------------------------------

  /**
   * INTR: a fixed interrupt whose priority class is above the PPR's (§11.8.3.1), or an 8259A
   * interrupt through ExtINT (LINT0 in ExtINT mode, an ExtINT message, or the APIC globally
   * disabled, when the 8259A's INTR reaches the core directly, §11.4.3). Constant time.
   */
  hasInterrupt(): boolean {
    if (this.fixedPending) return true;
    if (!this.extIntRoute) return false;
    const pic = this.extInt;
    return pic !== undefined && pic.hasInterrupt();
  }

  /**
   * INTA. An ExtINT interrupt takes its vector from the 8259A and leaves the ISR alone
   * (§11.5.1: ExtINT is delivered as if from an 8259A); otherwise the highest IRR vector
   * above the PPR moves to the ISR (§11.8.4). With nothing deliverable, the spurious vector
   * from the SVR, with no ISR bit set (§11.9).
   */
  acknowledge(): number {
    if (this.extIntRoute) {
      const pic = this.extInt;
      if (pic !== undefined && pic.hasInterrupt()) {
        if (this.extIntMessage) {
          this.extIntMessage = false;
          this.updateExtIntRoute();
        }
        return pic.acknowledge();
      }
    }
    if (!this.fixedPending) return this.svr & Svr.VECTOR;
    const vector = this.highestIrr;
    const word = vector >> 5;
    const bit = 1 << (vector & 31);
    this.irr[word] = (this.irr[word] ?? 0) & ~bit;
    this.isr[word] = (this.isr[word] ?? 0) | bit;
    this.highestIrr = highestBit(this.irr);
    if (vector > this.highestIsr) this.highestIsr = vector;
    this.updatePriority();
    return vector;
  }

  // ---- IA32_APIC_BASE --------------------------------------------------------------------------

  get baseLo(): number {
    return this.base >>> 0;
  }

  get baseHi(): number {
    return this.baseHigh;
  }

  /**
   * WRMSR IA32_APIC_BASE (§11.4.4, §11.12.5). Reserved: bits 7:0 and 9, EXTD when x2APIC is not
   * supported, bits at and above MAXPHYADDR. BSP is read-only (writes ignore it). Illegal
   * transitions (Figure 11-27): disabled to x2APIC, x2APIC to xAPIC, and any state with
   * EXTD = 1 and EN = 0. Going to disabled returns the APIC to its power-up state (§11.4.3);
   * the x2APIC ID is kept, and re-enabling gives the initial APIC ID again (§11.12.5.1).
   */
  writeBase(lo: number, hi: number): boolean {
    lo >>>= 0;
    hi >>>= 0;
    let reserved = 0x2ff;
    if (!this.x2apicSupported) reserved |= ApicBase.EXTD;
    if (lo & reserved || hi & ~this.baseHiMask) return false;
    const en = (lo & ApicBase.EN) !== 0;
    const extd = (lo & ApicBase.EXTD) !== 0;
    if (extd && !en) return false;
    const wasEnabled = this.hardwareEnabled;
    const wasX2 = this.x2apicMode;
    if (extd && !wasEnabled) return false; // disabled -> x2APIC
    if (wasX2 && en && !extd) return false; // x2APIC -> xAPIC
    this.base = ((lo & ~ApicBase.BSP) | (this.base & ApicBase.BSP)) >>> 0;
    this.baseHigh = hi;
    if (wasEnabled && !en) {
      this.resetRegisters();
      this.idReg = ((this.initialId & 0xff) << 24) >>> 0;
    } else if (!wasEnabled && en) {
      this.idReg = ((this.initialId & 0xff) << 24) >>> 0;
    } else if (extd && !wasX2) {
      // xAPIC -> x2APIC: the x2APIC ID is the hardware one; the LDR is derived from it
      // (§11.12.10.2); the other registers keep their values.
      this.ldr = this.x2apicLdr();
    }
    this.updateExtIntRoute();
    this.updatePriority();
    return true;
  }

  /** The physical address of the xAPIC page, or -1 when disabled or in x2APIC mode. */
  get mmioPage(): number {
    if ((this.base & (ApicBase.EN | ApicBase.EXTD)) !== ApicBase.EN) return -1;
    return this.baseHigh * TWO_32 + ((this.base & ApicBase.ADDRESS) >>> 0);
  }

  // ---- xAPIC page ------------------------------------------------------------------------------

  mmioRead(offset: number, size: 1 | 2 | 4): number {
    if (this.mmioPage < 0) return 0;
    const byte = offset & 0xf;
    if (byte >= 4) return 0;
    const value = this.readRegister(offset >> 4, false);
    const shifted = value < 0 ? 0 : value >>> (byte * 8);
    return size === 4 ? shifted >>> 0 : shifted & (size === 1 ? 0xff : 0xffff);
  }

  mmioWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    if (this.mmioPage < 0 || size !== 4 || offset & 0xf) return;
    this.writeRegister(offset >> 4, value >>> 0, false);
  }

  // ---- x2APIC MSRs -----------------------------------------------------------------------------

  get msrLo(): number {
    return this.msrResultLo;
  }

  get msrHi(): number {
    return this.msrResultHi;
  }

  /** RDMSR 0x800-0x8FF (§11.12.1.2 Table 11-6); false = #GP(0). */
  readMsr(msr: number): boolean {
    if (!this.x2apicMode || msr < X2APIC_MSR_BASE || msr > X2APIC_MSR_BASE + 0xff) return false;
    const index = msr - X2APIC_MSR_BASE;
    if (index === ApicReg.ICR_LO >> 4) {
      this.msrResultLo = this.icrLo;
      this.msrResultHi = this.icrHi;
      return true;
    }
    const value = this.readRegister(index, true);
    if (value < 0) return false;
    this.msrResultLo = value;
    this.msrResultHi = 0;
    return true;
  }

  /**
   * WRMSR 0x800-0x8FF; false = #GP(0): not in x2APIC mode, a read-only or missing register, a
   * reserved bit set (§11.12.1.3), bits 63:32 set other than in the ICR, a non-zero EOI or ESR
   * write.
   */
  writeMsr(msr: number, lo: number, hi: number): boolean {
    if (!this.x2apicMode || msr < X2APIC_MSR_BASE || msr > X2APIC_MSR_BASE + 0xff) return false;
    const index = msr - X2APIC_MSR_BASE;
    lo >>>= 0;
    hi >>>= 0;
    if (index === ApicReg.ICR_LO >> 4) {
      if (lo & ~X2_ICR_LO_WRITABLE) return false;
      this.icrLo = lo;
      this.icrHi = hi;
      this.sendIpi(lo, hi, true);
      return true;
    }
    if (hi !== 0) return false;
    return this.writeRegister(index, lo, true);
  }

  // ---- CR8 -------------------------------------------------------------------------------------

  /** CR8 = TPR[7:4] (§11.8.6). */
  readCr8(): number {
    return this.tpr >>> 4;
  }

  writeCr8(value: number): void {
    this.tpr = (value & 0xf) << 4;
    this.updatePriority();
  }

  // ---- IA32_TSC_DEADLINE -----------------------------------------------------------------------

  /** IA32_TSC_DEADLINE: the armed deadline in TSC-deadline mode, else 0 (§11.5.4.1). */
  readTscDeadline(): number {
    return this.timerMode() === TimerMode.TscDeadline ? this.tscDeadline : 0;
  }

  /**
   * Arms (non-zero) or disarms (0) the TSC-deadline timer; ignored outside TSC-deadline mode
   * (§11.5.4.1). A deadline already passed fires at the next clock poll.
   */
  writeTscDeadline(tsc: number): void {
    const source = this.tsc;
    if (source === undefined || this.timerMode() !== TimerMode.TscDeadline) return;
    if (!(tsc >= 0) || !Number.isFinite(tsc)) return;
    this.tscDeadline = tsc;
    if (tsc === 0) {
      this.timer.cancel();
      return;
    }
    const now = this.clock.nowNs;
    const ahead = tsc - source.readTsc();
    this.timer.armAt(ahead <= 0 ? now : now + Math.ceil(ahead / source.ticksPerNs));
  }

  // ---- LINT0 / LINT1 ---------------------------------------------------------------------------

  /**
   * LINT0 (line 0) or LINT1 (line 1) changed level. Per the LVT entry (§11.5.1): masked inputs
   * deliver nothing; fixed edge inputs set the IRR on the asserting edge; fixed level inputs
   * set the IRR while asserted and remote IRR is clear, and set remote IRR until the EOI; NMI,
   * SMI and INIT act on the asserting edge; ExtINT leaves the vector to the 8259A. While the
   * APIC is globally disabled, LINT0 is INTR and LINT1 is NMI (§11.4.3, §11.5.1).
   */
  setIrq(line: number, level: boolean): void {
    if (line !== 0 && line !== 1) throw new RangeError(`${this.name}: no LINT${String(line)} input (lines are 0 and 1)`);
    const was = this.lint[line] === 1;
    this.lint[line] = level ? 1 : 0;
    if (!this.hardwareEnabled) {
      if (level && !was) {
        if (line === 1) this.pins.nmi();
        else this.pins.kick();
      }
      return;
    }
    const entry = this.lvt[LVT_LINT0 + line] ?? 0;
    const activeLow = (entry & Lvt.POLARITY) !== 0;
    const asserted = level !== activeLow;
    const wasAsserted = was !== activeLow;
    if (entry & Lvt.MASK) return;
    const mode = (entry & Lvt.DELIVERY_MODE) >> Lvt.DELIVERY_MODE_SHIFT;
    if (mode === DM_FIXED && entry & Lvt.TRIGGER) {
      this.serviceLint(line);
      return;
    }
    if (!asserted || wasAsserted) return;
    switch (mode) {
      case DM_FIXED:
        this.localInterrupt(entry & Lvt.VECTOR, false);
        break;
      case DM_NMI:
        this.pins.nmi();
        break;
      case DM_SMI:
        this.pins.smi();
        break;
      case DM_INIT:
        // The core resets this APIC when it takes the INIT (initReset).
        this.pins.init();
        break;
      case DM_EXTINT:
        this.pins.kick();
        break;
    }
  }

  // ---- messages from the bus -------------------------------------------------------------------

  /**
   * A message for this APIC (an IPI, an I/O APIC or MSI message). Fixed and lowest priority
   * set the IRR bit, and the TMR bit for level trigger or clear it for edge (§11.8.4); they
   * are refused when the APIC is disabled (§11.4.7.2) or the vector is below 16 (§11.5.3).
   * NMI, SMI, start-up and INIT go to the pins (the core resets this APIC when it takes the INIT); an
   * INIT level de-assert (level 0, trigger level) does nothing; ExtINT takes the next vector
   * from the 8259A. Returns whether the message was accepted.
   */
  accept(deliveryMode: number, vector: number, level: boolean, trigger: number): boolean {
    if (!this.hardwareEnabled) return false;
    switch (deliveryMode) {
      case DM_FIXED:
      case DM_LOWEST:
        if (!this.softwareEnabled) return false;
        if (vector < 16) {
          this.recordError(Esr.RECEIVE_ILLEGAL_VECTOR);
          return false;
        }
        this.setIrr(vector & 0xff, trigger !== 0);
        return true;
      case DM_SMI:
        this.pins.smi();
        return true;
      case DM_NMI:
        this.pins.nmi();
        return true;
      case DM_INIT:
        if (!level && trigger !== 0) return true;
        // Only the core's pin: the core calls initReset() when it performs the INIT, so an INIT
        // it blocks (VMX root operation) or turns into a VM exit leaves this APIC as it is (SDM
        // Vol. 3C §24.8, §25.2 "INIT signals").
        this.pins.init();
        return true;
      case DM_STARTUP:
        this.pins.startup(vector & 0xff);
        return true;
      case DM_EXTINT:
        this.extIntMessage = true;
        this.updateExtIntRoute();
        return true;
      default:
        return false;
    }
  }

  // ---- inspection (tests, debuggers) ------------------------------------------------------------

  /** The 256-bit IRR, ISR or TMR as bit `v` = vector v, without side effects. */
  vectorBit(register: 'irr' | 'isr' | 'tmr', vector: number): boolean {
    return (((this[register][vector >> 5] ?? 0) >>> (vector & 31)) & 1) === 1;
  }

  /** The current count of the timer (§11.5.4), as the register reads. */
  get timerCurrentCount(): number {
    return this.currentCount();
  }

  /** When the timer fires next, in guest ns, or Infinity. */
  get timerDeadlineNs(): number {
    return this.timer.deadlineNs;
  }

  // ---- firmware helper ---------------------------------------------------------------------------

  /**
   * Programs virtual-wire mode as PC firmware does (MultiProcessor Specification 1.4 §3.6.2.2):
   * APIC software-enabled with spurious vector 0xFF, LINT0 ExtINT unmasked (the 8259A's INTR),
   * LINT1 NMI unmasked on the BSP (masked on APs). For boards that boot without firmware.
   */
  enableVirtualWire(): void {
    if (!this.hardwareEnabled) return;
    this.svr = (this.svr & ~Svr.VECTOR) | 0xff | Svr.APIC_ENABLE;
    this.writeLvt(LVT_LINT0, DM_EXTINT << Lvt.DELIVERY_MODE_SHIFT);
    this.writeLvt(LVT_LINT0 + 1, (DM_NMI << Lvt.DELIVERY_MODE_SHIFT) | (this.bsp ? 0 : Lvt.MASK));
  }

  // ---- reset -----------------------------------------------------------------------------------

  /** RESET (§11.4.7.1, §11.12.5.1): enabled in xAPIC mode at 0xFEE00000, initial ID, registers cleared. */
  reset(): void {
    this.base = (APIC_DEFAULT_BASE | ApicBase.EN | (this.bsp ? ApicBase.BSP : 0)) >>> 0;
    this.baseHigh = 0;
    this.idReg = ((this.initialId & 0xff) << 24) >>> 0;
    this.resetRegisters();
  }

  /**
   * INIT (§11.4.7.3): the power-up state except the APIC ID and IA32_APIC_BASE (the mode and
   * base address are kept, §11.12.5.1). Called by the core when it performs an INIT
   * ({@link CpuLocalApic.initReset}); an INIT message or LINT input only drives the core's pin.
   */
  initReset(): void {
    this.resetRegisters();
  }

  /** The registers' power-up values (§11.4.7.1); ID and IA32_APIC_BASE are the caller's business. */
  private resetRegisters(): void {
    this.tpr = 0;
    this.ldr = this.x2apicMode ? this.x2apicLdr() : 0;
    this.dfr = 0xffff_ffff;
    this.svr = 0xff;
    this.isr.fill(0);
    this.tmr.fill(0);
    this.irr.fill(0);
    this.esr = 0;
    this.errors = 0;
    this.icrLo = 0;
    this.icrHi = 0;
    this.lvt.fill(Lvt.MASK);
    this.initialCount = 0;
    this.dcr = 0;
    this.divisor = divisorOf(0);
    this.timerRunning = false;
    this.timerBaseNs = 0;
    this.timerBaseCount = 0;
    this.tscDeadline = 0;
    this.timer.cancel();
    this.extIntMessage = false;
    this.highestIrr = -1;
    this.highestIsr = -1;
    this.fixedPending = false;
    this.updatePriority();
    this.updateExtIntRoute();
  }

  // ---- registers -------------------------------------------------------------------------------

  /**
   * The register at slot `index` (offset >> 4). Returns -1 for a register that does not read
   * in this mode: xAPIC reserved slots (which set ESR bit 7 and read as 0), x2APIC write-only,
   * xAPIC-only and missing registers (#GP).
   */
  private readRegister(index: number, x2: boolean): number {
    if (index >= 0x10 && index < 0x28) {
      const word = index & 7;
      const regs = index < 0x18 ? this.isr : index < 0x20 ? this.tmr : this.irr;
      return regs[word] ?? 0;
    }
    if (index >= 0x32 && index <= 0x37) return this.lvt[index - 0x32] ?? 0;
    switch (index) {
      case ApicReg.ID >> 4:
        return x2 ? this.initialId : this.idReg;
      case ApicReg.VERSION >> 4:
        return this.version;
      case ApicReg.TPR >> 4:
        return this.tpr;
      case ApicReg.PPR >> 4:
        return this.ppr;
      case ApicReg.LDR >> 4:
        return this.ldr;
      case ApicReg.SVR >> 4:
        return this.svr;
      case ApicReg.ESR >> 4:
        return this.esr;
      case ApicReg.TIMER_INITIAL_COUNT >> 4:
        return this.initialCount;
      case ApicReg.TIMER_CURRENT_COUNT >> 4:
        return this.currentCount();
      case ApicReg.TIMER_DIVIDE >> 4:
        return this.dcr;
    }
    if (x2) return -1;
    switch (index) {
      case ApicReg.APR >> 4:
      case ApicReg.EOI >> 4:
      case ApicReg.RRD >> 4:
        return 0;
      case ApicReg.DFR >> 4:
        return this.dfr;
      case ApicReg.ICR_LO >> 4:
        return this.icrLo;
      case ApicReg.ICR_HI >> 4:
        return this.icrHi;
    }
    this.recordError(Esr.ILLEGAL_REGISTER_ADDRESS);
    return -1;
  }

  /**
   * Writes the register at slot `index`. In x2APIC mode returns false for #GP (read-only or
   * missing register, reserved bits); in xAPIC mode reserved bits are dropped, read-only
   * registers ignore writes, and reserved slots set ESR bit 7.
   */
  private writeRegister(index: number, value: number, x2: boolean): boolean {
    if (index >= 0x32 && index <= 0x37) {
      const i = index - 0x32;
      const writable = i === LVT_TIMER ? this.lvtTimerWritable : (LVT_WRITABLE[i] ?? 0);
      if (x2 && value & ~(writable | (LVT_READ_ONLY[i] ?? 0))) return false;
      this.writeLvt(i, value & writable);
      return true;
    }
    switch (index) {
      case ApicReg.TPR >> 4:
        if (x2 && value & ~0xff) return false;
        this.tpr = value & 0xff;
        this.updatePriority();
        return true;
      case ApicReg.EOI >> 4:
        if (x2 && value !== 0) return false;
        this.eoi();
        return true;
      case ApicReg.SVR >> 4:
        if (x2 && value & ~this.svrWritable) return false;
        this.writeSvr(value & this.svrWritable);
        return true;
      case ApicReg.ESR >> 4:
        if (x2 && value !== 0) return false;
        this.esr = this.errors;
        this.errors = 0;
        return true;
      case ApicReg.TIMER_INITIAL_COUNT >> 4:
        this.writeInitialCount(value);
        return true;
      case ApicReg.TIMER_DIVIDE >> 4:
        if (x2 && value & ~DCR_WRITABLE) return false;
        this.writeDivide(value & DCR_WRITABLE);
        return true;
    }
    if (x2) {
      if (index === ApicReg.SELF_IPI >> 4) {
        if (value & ~0xff) return false;
        this.sendIpi((Shorthand.Self << Icr.SHORTHAND_SHIFT) | value, 0, true);
        return true;
      }
      return false;
    }
    switch (index) {
      case ApicReg.ID >> 4:
        this.idReg = (value & 0xff00_0000) >>> 0;
        return true;
      case ApicReg.LDR >> 4:
        this.ldr = (value & 0xff00_0000) >>> 0;
        return true;
      case ApicReg.DFR >> 4:
        this.dfr = ((value & 0xf000_0000) | 0x0fff_ffff) >>> 0;
        return true;
      case ApicReg.ICR_LO >> 4:
        this.icrLo = value & ICR_LO_WRITABLE;
        this.sendIpi(this.icrLo, this.icrHi >>> 24, false);
        return true;
      case ApicReg.ICR_HI >> 4:
        this.icrHi = (value & 0xff00_0000) >>> 0;
        return true;
      case ApicReg.VERSION >> 4:
      case ApicReg.APR >> 4:
      case ApicReg.PPR >> 4:
      case ApicReg.RRD >> 4:
      case ApicReg.TIMER_CURRENT_COUNT >> 4:
        return true;
    }
    if (index >= 0x10 && index < 0x28) return true; // ISR, TMR, IRR: read-only
    this.recordError(Esr.ILLEGAL_REGISTER_ADDRESS);
    return true;
  }

  /**
   * SVR write (§11.9). Clearing the software enable masks every LVT entry (§11.4.7.2); setting
   * it again leaves them masked.
   */
  private writeSvr(value: number): void {
    this.svr = value;
    if (!(value & Svr.APIC_ENABLE)) {
      for (let i = 0; i < LVT_COUNT; i++) this.lvt[i] = (this.lvt[i] ?? 0) | Lvt.MASK;
    }
    this.updateExtIntRoute();
  }

  /**
   * An LVT write: while software-disabled the mask stays set (§11.4.7.2); remote IRR and
   * delivery status are kept from the old value. Switching the timer between TSC-deadline
   * and the other modes disarms it (§11.5.4.1).
   */
  private writeLvt(i: number, value: number): void {
    const old = this.lvt[i] ?? 0;
    let next = value;
    if (!this.softwareEnabled) next |= Lvt.MASK;
    if (i === LVT_LINT0 || i === LVT_LINT0 + 1) {
      // Remote IRR means nothing for edge-triggered or non-fixed inputs.
      const levelFixed = next & Lvt.TRIGGER && ((next & Lvt.DELIVERY_MODE) >> Lvt.DELIVERY_MODE_SHIFT) === DM_FIXED;
      if (levelFixed) next |= old & Lvt.REMOTE_IRR;
    }
    this.lvt[i] = next >>> 0;
    if (i === LVT_TIMER) {
      const wasDeadline = ((old & Lvt.TIMER_MODE) >> Lvt.TIMER_MODE_SHIFT) === TimerMode.TscDeadline;
      const isDeadline = ((next & Lvt.TIMER_MODE) >> Lvt.TIMER_MODE_SHIFT) === TimerMode.TscDeadline;
      if (wasDeadline !== isDeadline) {
        this.timer.cancel();
        this.timerRunning = false;
        this.initialCount = 0;
        this.tscDeadline = 0;
      }
    } else if (i === LVT_LINT0 || i === LVT_LINT0 + 1) {
      if (i === LVT_LINT0) this.updateExtIntRoute();
      this.serviceLint(i - LVT_LINT0);
    }
  }

  /** Delivers a level-triggered fixed LINT input that is asserted, unmasked and not awaiting EOI. */
  private serviceLint(line: number): void {
    const i = LVT_LINT0 + line;
    const entry = this.lvt[i] ?? 0;
    if (entry & (Lvt.MASK | Lvt.REMOTE_IRR) || !(entry & Lvt.TRIGGER)) return;
    if (((entry & Lvt.DELIVERY_MODE) >> Lvt.DELIVERY_MODE_SHIFT) !== DM_FIXED) return;
    const asserted = (this.lint[line] === 1) !== ((entry & Lvt.POLARITY) !== 0);
    if (!asserted) return;
    if (this.localInterrupt(entry & Lvt.VECTOR, true)) this.lvt[i] = (entry | Lvt.REMOTE_IRR) >>> 0;
  }

  /**
   * An interrupt from a local source (LVT): vectors below 16 are refused with the receive
   * illegal vector error (§11.5.3). Returns whether the IRR took it.
   */
  private localInterrupt(vector: number, level: boolean): boolean {
    if (vector < 16) {
      this.recordError(Esr.RECEIVE_ILLEGAL_VECTOR);
      return false;
    }
    this.setIrr(vector, level);
    return true;
  }

  /** Delivers the LVT entry `i` (timer or error), if unmasked, as a fixed edge interrupt. */
  private lvtInterrupt(i: number): void {
    const entry = this.lvt[i] ?? 0;
    if (entry & Lvt.MASK) return;
    this.localInterrupt(entry & Lvt.VECTOR, false);
  }

  /** Records an error in the ESR accumulator; a new error signals the error LVT (§11.5.3). */
  private recordError(bit: number): void {
    if (this.errors & bit) return;
    this.errors |= bit;
    this.lvtInterrupt(LVT_ERROR);
  }

  // ---- IRR, ISR, priorities ----------------------------------------------------------------------

  private setIrr(vector: number, level: boolean): void {
    const word = vector >> 5;
    const bit = 1 << (vector & 31);
    this.irr[word] = (this.irr[word] ?? 0) | bit;
    this.tmr[word] = level ? (this.tmr[word] ?? 0) | bit : (this.tmr[word] ?? 0) & ~bit;
    if (vector > this.highestIrr) {
      this.highestIrr = vector;
      this.updatePriority();
    }
  }

  /**
   * PPR (§11.8.3.1): the TPR if its class is at least the highest in-service class, else that
   * class with subclass 0. INTR is up when the highest IRR class is above the PPR class.
   * Kicks the core when an interrupt becomes deliverable.
   */
  private updatePriority(): void {
    const isrv = this.highestIsr < 0 ? 0 : this.highestIsr;
    this.ppr = (this.tpr & 0xf0) >= (isrv & 0xf0) ? this.tpr : isrv & 0xf0;
    const was = this.fixedPending;
    this.fixedPending = this.highestIrr >= 0 && (this.highestIrr & 0xf0) > (this.ppr & 0xf0);
    if (this.fixedPending && !was) this.pins.kick();
  }

  /** Recomputes whether INTR comes from the 8259A; kicks the core if that opens a pending one. */
  private updateExtIntRoute(): void {
    const lint0 = this.lvt[LVT_LINT0] ?? 0;
    const was = this.extIntRoute;
    this.extIntRoute =
      !this.hardwareEnabled ||
      this.extIntMessage ||
      (!(lint0 & Lvt.MASK) && ((lint0 & Lvt.DELIVERY_MODE) >> Lvt.DELIVERY_MODE_SHIFT) === DM_EXTINT);
    if (this.extIntRoute && !was && this.extInt !== undefined && this.extInt.hasInterrupt()) this.pins.kick();
  }

  /**
   * EOI (§11.8.5): clears the highest ISR bit. For a level-triggered vector (TMR set) the EOI
   * goes to the I/O APICs unless suppressed in the SVR (§11.8.5), and clears the remote IRR of
   * a level-triggered LINT entry with that vector (§11.5.1).
   */
  private eoi(): void {
    const vector = this.highestIsr;
    if (vector < 0) return;
    const word = vector >> 5;
    const bit = 1 << (vector & 31);
    this.isr[word] = (this.isr[word] ?? 0) & ~bit;
    this.highestIsr = highestBit(this.isr);
    this.updatePriority();
    if (!((this.tmr[word] ?? 0) & bit)) return;
    for (let line = 0; line < 2; line++) {
      const entry = this.lvt[LVT_LINT0 + line] ?? 0;
      if (entry & Lvt.REMOTE_IRR && (entry & Lvt.VECTOR) === vector) {
        this.lvt[LVT_LINT0 + line] = (entry & ~Lvt.REMOTE_IRR) >>> 0;
        this.serviceLint(line);
      }
    }
    if (!(this.svr & Svr.EOI_BROADCAST_SUPPRESSION)) this.bus?.broadcastEoi(vector);
  }

  /** The x2APIC logical ID (§11.12.10.2): cluster ID[19:4] in bits 31:16, 1 << ID[3:0]. */
  private x2apicLdr(): number {
    const id = this.initialId;
    return ((((id >>> 4) & 0xffff) << 16) | (1 << (id & 15))) >>> 0;
  }

  // ---- IPIs ------------------------------------------------------------------------------------

  /** Sends the IPI an ICR (or SELF IPI) write describes (§11.6.1). */
  private sendIpi(lo: number, dest: number, x2: boolean): void {
    const mode = (lo & Icr.DELIVERY_MODE) >> Icr.DELIVERY_MODE_SHIFT;
    const vector = lo & Icr.VECTOR;
    if (mode === 3 || mode === 7) return;
    if ((mode === DM_FIXED || mode === DM_LOWEST) && vector < 16) {
      this.recordError(Esr.SEND_ILLEGAL_VECTOR);
      return;
    }
    const level = (lo & Icr.LEVEL_ASSERT) !== 0;
    // An INIT level de-assert (level 0, trigger level) goes out too; receivers ignore it.
    const trigger = lo & Icr.TRIGGER_LEVEL ? 1 : 0;
    const shorthand = (lo & Icr.SHORTHAND) >>> Icr.SHORTHAND_SHIFT;
    const destMode = lo & Icr.DEST_LOGICAL ? 1 : 0;
    const apics = this.bus !== undefined ? this.bus.apics : this.alone;
    routeMessage(apics, this, shorthand, dest, destMode, mode, vector, level, trigger, x2);
  }

  // ---- timer -----------------------------------------------------------------------------------

  private timerMode(): number {
    return ((this.lvt[LVT_TIMER] ?? 0) & Lvt.TIMER_MODE) >> Lvt.TIMER_MODE_SHIFT;
  }

  /** Initial count write (§11.5.4): restarts the count; 0 stops the timer; ignored in TSC-deadline mode. */
  private writeInitialCount(value: number): void {
    if (this.timerMode() === TimerMode.TscDeadline) return;
    this.initialCount = value >>> 0;
    if (this.initialCount === 0) {
      this.timerRunning = false;
      this.timer.cancel();
      return;
    }
    this.startCount(this.initialCount);
  }

  private startCount(count: number): void {
    const now = this.clock.nowNs;
    this.timerRunning = true;
    this.timerBaseNs = now;
    this.timerBaseCount = count;
    this.timer.armAt(now + count * this.divisor);
  }

  /** Divide configuration write (§11.5.4 Figure 11-10); a running count continues at the new rate. */
  private writeDivide(value: number): void {
    const remaining = this.timerRunning && this.timerMode() !== TimerMode.TscDeadline ? this.currentCount() : 0;
    this.dcr = value;
    this.divisor = divisorOf(value);
    if (remaining > 0) this.startCount(remaining);
  }

  /** The current count (§11.5.4): 0 when stopped, expired (one-shot) or in TSC-deadline mode. */
  private currentCount(): number {
    if (!this.timerRunning || this.timerMode() === TimerMode.TscDeadline) return 0;
    const elapsed = Math.floor((this.clock.nowNs - this.timerBaseNs) / this.divisor);
    if (elapsed < this.timerBaseCount) return this.timerBaseCount - elapsed;
    if (this.timerMode() !== TimerMode.Periodic || this.initialCount === 0) return 0;
    return this.initialCount - ((elapsed - this.timerBaseCount) % this.initialCount);
  }

  /**
   * The timer fired. TSC-deadline: the deadline MSR clears (§11.5.4.1). Periodic: the count
   * reloads from the initial count; periods that passed without a poll are skipped (their
   * interrupts would merge in the IRR anyway). One-shot: the count stays at 0.
   */
  private readonly onTimer = (deadline: number): void => {
    if (this.timerMode() === TimerMode.TscDeadline) {
      this.tscDeadline = 0;
    } else if (!this.timerRunning) {
      return;
    } else if (this.timerMode() === TimerMode.Periodic && this.initialCount > 0) {
      const period = this.initialCount * this.divisor;
      const now = this.clock.nowNs;
      let next = deadline + period;
      if (next <= now) next += Math.floor((now - next) / period + 1) * period;
      this.timerBaseNs = next - period;
      this.timerBaseCount = this.initialCount;
      this.timer.armAt(next);
    } else {
      this.timerRunning = false;
    }
    this.lvtInterrupt(LVT_TIMER);
  };

  // ---- snapshots -------------------------------------------------------------------------------

  saveState(): DeviceSnapshot {
    return {
      version: SNAPSHOT_VERSION,
      state: {
        base: this.base,
        baseHigh: this.baseHigh,
        idReg: this.idReg,
        tpr: this.tpr,
        ldr: this.ldr,
        dfr: this.dfr,
        svr: this.svr,
        isr: Array.from(this.isr),
        tmr: Array.from(this.tmr),
        irr: Array.from(this.irr),
        esr: this.esr,
        errors: this.errors,
        icrLo: this.icrLo,
        icrHi: this.icrHi,
        lvt: Array.from(this.lvt),
        initialCount: this.initialCount,
        dcr: this.dcr,
        timerRunning: this.timerRunning,
        timerBaseNs: this.timerBaseNs,
        timerBaseCount: this.timerBaseCount,
        timerDeadlineNs: this.timer.armed ? this.timer.deadlineNs : -1,
        tscDeadline: this.tscDeadline,
        lint: Array.from(this.lint),
        extIntMessage: this.extIntMessage,
      },
    };
  }

  /** Restores a snapshot, re-arming the timer at its saved deadline. */
  restoreState(snapshot: DeviceSnapshot): void {
    if (snapshot.version !== SNAPSHOT_VERSION) {
      throw new DeviceConfigurationError(this.name, `unsupported local APIC snapshot version ${String(snapshot.version)}`);
    }
    const s = snapshot.state;
    if (!isObject(s)) throw new DeviceConfigurationError(this.name, 'local APIC snapshot state is not an object');
    const num = (key: string, max: number): number => {
      const v = s[key];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -1 || v > max) {
        throw new DeviceConfigurationError(this.name, `local APIC snapshot field "${key}" is not an integer in range`);
      }
      return v;
    };
    const u32 = (key: string): number => {
      const v = num(key, 0xffff_ffff);
      if (v < 0) throw new DeviceConfigurationError(this.name, `local APIC snapshot field "${key}" is negative`);
      return v;
    };
    const words = (key: string, length: number, max: number): number[] => {
      const v = s[key];
      if (!Array.isArray(v) || v.length !== length || !v.every((w) => typeof w === 'number' && Number.isInteger(w) && w >= 0 && w <= max)) {
        throw new DeviceConfigurationError(this.name, `local APIC snapshot field "${key}" is not ${String(length)} integers`);
      }
      return v as number[];
    };
    const bool = (key: string): boolean => {
      const v = s[key];
      if (typeof v !== 'boolean') throw new DeviceConfigurationError(this.name, `local APIC snapshot field "${key}" is not a boolean`);
      return v;
    };
    const state = {
      base: u32('base'),
      baseHigh: u32('baseHigh'),
      idReg: u32('idReg'),
      tpr: u32('tpr'),
      ldr: u32('ldr'),
      dfr: u32('dfr'),
      svr: u32('svr'),
      isr: words('isr', 8, 0xffff_ffff),
      tmr: words('tmr', 8, 0xffff_ffff),
      irr: words('irr', 8, 0xffff_ffff),
      esr: u32('esr'),
      errors: u32('errors'),
      icrLo: u32('icrLo'),
      icrHi: u32('icrHi'),
      lvt: words('lvt', LVT_COUNT, 0xffff_ffff),
      initialCount: u32('initialCount'),
      dcr: u32('dcr'),
      timerRunning: bool('timerRunning'),
      timerBaseNs: num('timerBaseNs', Number.MAX_SAFE_INTEGER),
      timerBaseCount: u32('timerBaseCount'),
      timerDeadlineNs: num('timerDeadlineNs', Number.MAX_SAFE_INTEGER),
      tscDeadline: num('tscDeadline', Number.MAX_SAFE_INTEGER),
      lint: words('lint', 2, 1),
      extIntMessage: bool('extIntMessage'),
    };
    if (state.base & 0x2ff || (state.base & ApicBase.EXTD && !(state.base & ApicBase.EN)) || (state.base & ApicBase.EXTD && !this.x2apicSupported)) {
      throw new DeviceConfigurationError(this.name, 'local APIC snapshot has an invalid IA32_APIC_BASE');
    }
    this.base = ((state.base & ~ApicBase.BSP) | (this.bsp ? ApicBase.BSP : 0)) >>> 0;
    this.baseHigh = state.baseHigh & this.baseHiMask;
    this.idReg = state.idReg;
    this.tpr = state.tpr & 0xff;
    this.ldr = state.ldr;
    this.dfr = state.dfr;
    this.svr = state.svr & this.svrWritable;
    this.isr.set(state.isr);
    this.tmr.set(state.tmr);
    this.irr.set(state.irr);
    this.esr = state.esr;
    this.errors = state.errors;
    this.icrLo = state.icrLo;
    this.icrHi = state.icrHi;
    this.lvt.set(state.lvt);
    this.initialCount = state.initialCount;
    this.dcr = state.dcr & DCR_WRITABLE;
    this.divisor = divisorOf(this.dcr);
    this.timerRunning = state.timerRunning;
    this.timerBaseNs = Math.max(0, state.timerBaseNs);
    this.timerBaseCount = state.timerBaseCount;
    this.tscDeadline = Math.max(0, state.tscDeadline);
    this.lint.set(state.lint);
    this.extIntMessage = state.extIntMessage;
    this.timer.cancel();
    if (state.timerDeadlineNs >= 0) this.timer.armAt(state.timerDeadlineNs);
    this.highestIrr = highestBit(this.irr);
    this.highestIsr = highestBit(this.isr);
    this.fixedPending = false;
    this.updatePriority();
    this.updateExtIntRoute();
  }
}

/**
 * Delivers one message to the APICs of `apics` it is for (SDM §11.6.2): by shorthand, else by
 * physical or logical destination; lowest priority (or `lowest`) picks one of them. Used by
 * {@link ApicBusHub}, and by a {@link LocalApic} with no bus for its self-IPIs.
 *
 * @internal
 */
export function routeMessage(
  apics: readonly LocalApic[],
  source: LocalApic | null,
  shorthand: number,
  dest: number,
  destMode: number,
  deliveryMode: number,
  vector: number,
  level: boolean,
  trigger: number,
  x2format: boolean,
  redirectionHint = false,
): boolean {
  const lowest = deliveryMode === DM_LOWEST || (redirectionHint && deliveryMode === DM_FIXED);
  let best: LocalApic | null = null;
  let accepted = false;
  for (let i = 0; i < apics.length; i++) {
    const apic = apics[i];
    if (apic === undefined || !apic.hardwareEnabled) continue;
    let hit: boolean;
    switch (shorthand) {
      case Shorthand.Self:
        hit = apic === source;
        break;
      case Shorthand.AllIncludingSelf:
        hit = true;
        break;
      case Shorthand.AllExcludingSelf:
        hit = apic !== source;
        break;
      default:
        hit = matchesDestination(apic, dest, destMode, x2format);
    }
    if (!hit) continue;
    if (!lowest) {
      if (apic.accept(deliveryMode, vector, level, trigger)) accepted = true;
      continue;
    }
    if (!apic.acceptsFixed) continue;
    if (
      best === null ||
      apic.processorPriority < best.processorPriority ||
      (apic.processorPriority === best.processorPriority && apic.apicId < best.apicId)
    ) {
      best = apic;
    }
  }
  if (lowest) return best !== null && best.accept(DM_LOWEST, vector, level, trigger);
  return accepted;
}

/**
 * Whether `apic` is a destination of `dest` (SDM §11.6.2.1-§11.6.2.2, §11.12.10): the
 * broadcast (0xFF in xAPIC format, 0xFFFFFFFF in x2APIC format); in physical mode its APIC
 * ID; in logical mode, in x2APIC mode the cluster (bits 31:16) must equal its LDR's and the
 * bit masks (15:0) must share a bit; in xAPIC mode with the flat model the 8-bit masks must
 * share a bit, with the cluster model the cluster (bits 7:4) must equal and the members (3:0)
 * share a bit.
 */
function matchesDestination(apic: LocalApic, dest: number, destMode: number, x2format: boolean): boolean {
  if (dest === (x2format ? 0xffff_ffff : 0xff)) return true;
  if (destMode === 0) return apic.apicId === dest;
  const ldr = apic.logicalDestination;
  if (apic.x2apicMode) return dest >>> 16 === ldr >>> 16 && (dest & ldr & 0xffff) !== 0;
  const mda = dest & 0xff;
  const logicalId = ldr >>> 24;
  if (apic.destinationFormat >>> 28 === 0) return mda >> 4 === logicalId >> 4 && (mda & logicalId & 0xf) !== 0;
  return (mda & logicalId) !== 0;
}
