/**
 * The PC: `createPc` assembles an i440FX/PIIX-class machine from the hvkit packages.
 *
 * Memory map (as QEMU's `pc` machine lays it out):
 *
 * | range | what |
 * | --- | --- |
 * | 0 - 0x9FFFF | RAM (conventional memory; the top 1 KiB is the EBDA, reserved in e820) |
 * | 0xA0000 - 0xBFFFF | the VGA window: nothing (reads as all ones) |
 * | 0xC0000 - 0xFFFFF | shadow RAM (reserved in e820) holding the ACPI RSDP and the SMBIOS tables, or the BIOS when `bios` is given |
 * | 1 MiB - low top | RAM; the ACPI tables sit in its last 128 KiB (ACPI reclaimable in e820) |
 * | low top - 0xFEBFFFFF | the PCI hole |
 * | 0xFEC00000 | I/O APIC (4 KiB) |
 * | 0xFED00000 | HPET (1 KiB) |
 * | 0xFEE00000 | each core's local APIC page (decoded by the core itself) |
 * | 4 GiB - BIOS size | the BIOS image again (with `bios`) |
 * | 4 GiB - | the rest of RAM |
 *
 * The low top is the whole RAM when it is under 3.5 GiB, else 3 GiB (QEMU i440fx's split).
 *
 * Interrupt wiring: every ISA IRQ goes to the 8259A pair and to the I/O APIC pin of the same
 * number, except IRQ0, which is I/O APIC pin 2 (the MADT's interrupt source override says
 * so). The PIT drives IRQ0 (and the HPET takes IRQ0/IRQ8 over in legacy replacement mode), the
 * 8042 IRQ1/IRQ12, COM1 IRQ4, the RTC IRQ8, the ACPI SCI IRQ9 (level), PCI INTA-D go through
 * the PIIX PIRQ routing to ISA IRQs (10/11 by default), which reach the PIC and the I/O APIC like
 * any ISA IRQ (I/O APIC pins 16-23 are unconnected). The BSP's FERR# output sets a latch on
 * IRQ13 that a write to port 0F0H clears (the PC/AT's numeric-error logic). The 8259A's INTR is LINT0 of
 * the BSP's local APIC; the I/O APIC and MSIs reach the local APICs over the APIC bus.
 *
 * The cores run interleaved on one thread, deterministically: each runs up to a quantum of
 * instructions in turn, then guest time advances by the quantum (a one-core machine lets the
 * core keep exact time itself). A halted core idles through its share.
 */
import {
  AcpiPm,
  BochsShutdownPort,
  DebugCon,
  FwCfg,
  Hpet,
  I440fxHostBridge,
  I8042,
  IsaDebugExit,
  PcTestdev,
  Pit8254,
  ResetControl,
  RtcCmos,
  SystemControlPort,
  SystemControlPortB,
  Uart16550,
  type SerialBackend,
} from '@hvkit/devices';
import { DeviceExclusionVector } from '@hvkit/iommu';
import { ApicBusHub, IoApic, LocalApic, Pic8259Pair } from '@hvkit/irqchip';
import {
  Chipset,
  DirectDma,
  InterruptLine,
  PhysicalMemory,
  PioBus,
  VirtualClock,
  Wire,
  type CpuPins,
  type Device,
  type DeviceSnapshot,
  type DmaSpace,
  type Hpa,
  type IrqSink,
  type Port,
  type RamSnapshot,
} from '@hvkit/platform';
import { Cpu, INTEL_CORE, restoreCpuState, saveCpuState, Seg, SegAttr, StopReason, type CpuModel, type CpuSnapshot } from '@hvkit/x86';
import { buildAcpiTables, writeAcpiTables } from './acpi-tables.js';
import { pcDsdtDevices } from './dsdt.js';
import { loadElf } from './elf.js';
import { loadFlat } from './flat.js';
import { FpuErrorLatch } from './fpu-error.js';
import { E820Type, loadLinux, type E820Entry, type LinuxBoot } from './linux.js';
import { loadMultiboot, MultibootMemoryType, type MultibootBoot, type MultibootOptions } from './multiboot.js';
import { buildSmbiosTables, writeSmbiosTables } from './smbios.js';
import {
  attachSvm,
  attachVmx,
  FEATURE_CONTROL_VMX_LOCKED,
  restoreSvmMsrs,
  saveSvmMsrs,
  svmSnapshotProblem,
  virtualizationProblem,
  vmxSnapshotProblem,
  type SvmMsrState,
  type Virtualization,
} from './virtualization.js';
import type { SkinitRecord, SvmCpu, SvmFeatures } from '@hvkit/svm';
import type { VmxFeatures } from '@hvkit/vmx';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const FOUR_GIB = 4 * GiB;
/** QEMU i440fx: RAM of 3.5 GiB or more is split at 3 GiB. */
const LOW_SPLIT = 0xe000_0000;
const LOW_LIMIT = 0xc000_0000;
const IOAPIC_BASE = 0xfec0_0000;
const HPET_BASE = 0xfed0_0000;
const ACPI_PM_BASE = 0x600;
const ACPI_TABLES_SIZE = 128 * 1024;
const RSDP_ADDRESS = 0xf_0000;
/** SMBIOS entry points (`_SM3_`, then `_SM_` 32 bytes up) and structure table, in the F segment after the RSDP. */
const SMBIOS_ENTRY_ADDRESS = 0xf_0040;
const SMBIOS_TABLE_ADDRESS = 0xf_0080;
/** CPUID.01H:EDX bit 9: the local APIC, which every hvkit PC core has enabled from reset. */
const CPUID1_EDX_APIC = 1 << 9;
const MAX_CPUS = 32;

/** An extra device the PC can carry, by QEMU `-device` name. */
export type PcDeviceSpec =
  | { readonly type: 'isa-debug-exit'; readonly iobase?: number; readonly iosize?: number }
  | { readonly type: 'pc-testdev' }
  | { readonly type: 'debugcon'; readonly iobase?: number };

export interface PcOptions {
  /** RAM in MiB (64 by default); at least 2. */
  memoryMiB?: number;
  /** vCPUs, 1 to 32 (1 by default). */
  cpus?: number;
  /** CPU model; Intel by default. */
  cpuModel?: CpuModel;
  /** Extra devices. */
  devices?: readonly PcDeviceSpec[];
  /** Called with each byte the guest writes to COM1. */
  onSerial?: (byte: number) => void;
  /** COM1's host end (a `BufferSerial`, the CLI's stdio backend, a browser terminal). */
  serial?: SerialBackend;
  /** Called with each byte written to debugcon (when attached). */
  onDebugCon?: (byte: number) => void;
  /**
   * Guest instructions per second of guest time: the TSC rate. 1e8 by default (a 100 MHz
   * core), so guest time passes at about half real time at the emulator's speed and timer-heavy
   * guests do not spin for billions of instructions.
   */
  instructionsPerSecond?: number;
  /** Instructions each core runs before the next takes its turn (SMP only); 1000 by default. */
  quantum?: number;
  /** The RTC's date at power-on (a fixed date by default, so runs are reproducible). */
  rtcDate?: Date | number;
  /** A BIOS image (e.g. SeaBIOS `bios.bin`) to map below 4 GiB and in 0xE0000/0xC0000; the cores start in it. */
  bios?: Uint8Array;
  /** Without COM1 (QEMU's `-serial none`). */
  noSerial?: boolean;
  /**
   * Hardware virtualization: `'vmx'` gives every core Intel VT-x (`@hvkit/vmx`; the CPU model
   * must be Intel), so guests can run hypervisors; `'svm'` gives every core AMD SVM
   * (`@hvkit/svm`; the CPU model must be AMD). Without a BIOS the board leaves
   * IA32_FEATURE_CONTROL locked with VMX enabled, as firmware does; with SVM it leaves VM_CR at 0
   * (SVM not disabled, not locked).
   */
  virtualization?: Virtualization;
  /** What VT-x exposes (capability MSRs); `DEFAULT_VMX_FEATURES` of `@hvkit/vmx` by default. */
  vmxFeatures?: VmxFeatures;
  /** What SVM exposes (CPUID 8000_000Ah); `DEFAULT_SVM_FEATURES` of `@hvkit/svm` by default. */
  svmFeatures?: SvmFeatures;
}

/** How {@link Pc.run} ended. */
export type PcStop =
  | { readonly reason: 'exit'; readonly status: number; readonly instructions: number }
  | { readonly reason: 'shutdown' | 'halt' | 'budget' | 'paused' | 'reset' | 'poweroff'; readonly instructions: number }
  /**
   * Every core is halted and a timer will wake one in `untilNs` of guest time; returned only
   * with {@link Pc.stopWhenIdle}, so that a front end can let host time pass ({@link Pc.idle}).
   */
  | { readonly reason: 'idle'; readonly instructions: number; readonly untilNs: number };

/** Run statistics. */
export interface PcStats {
  /** Instructions retired by all cores. */
  readonly instructions: number;
  /** Guest time in ns. */
  readonly guestNs: number;
  /** Host milliseconds spent in {@link Pc.run}. */
  readonly hostMs: number;
  /** Million instructions executed per host second in {@link Pc.run} (idle time skipped while halted does not count). */
  readonly mips: number;
  /** Of {@link instructions}, the TSC ticks that passed while cores were halted: skipped, not executed. */
  readonly idle: number;
  /** Exits from guest execution to device models: port I/O and MMIO accesses. */
  readonly exits: number;
  /** TLB fills (page walks or identity translations that missed the TLB). */
  readonly tlbFills: number;
  /** Host bytes of guest RAM allocated. */
  readonly ramAllocated: number;
}

/** The whole machine's state: versioned, typed, made of JSON data and byte arrays. */
export interface PcSnapshot {
  readonly format: 'hvkit-pc';
  readonly version: 1;
  readonly config: { readonly memoryMiB: number; readonly cpus: number; readonly model: string; readonly devices: readonly string[]; readonly virtualization?: Virtualization };
  readonly clock: { readonly nowNs: number; readonly rem: number; readonly retired: number };
  readonly ram: RamSnapshot;
  readonly cpus: readonly CpuSnapshot[];
  readonly devices: Readonly<Record<string, DeviceSnapshot>>;
  readonly board: { readonly a20: boolean; readonly exitStatus: number | null };
  /** With SVM: each core's VM_CR and VM_HSAVE_PA (the rest of the SVM state is not saved: {@link svmSnapshotProblem}). */
  readonly svm?: readonly SvmMsrState[];
  /** With SVM: the Device Exclusion Vector's set bits, as [word index, word] pairs (its blocked-access log is not saved). */
  readonly dev?: readonly number[];
}

/** A configuration the PC cannot be built with, or a snapshot it cannot take. */
export class PcConfigurationError extends Error {
  override readonly name = 'PcConfigurationError';
}

/** The ISA interrupt fan-out: each ISA IRQ to the 8259A pair and to its I/O APIC pin. */
class IsaIrqs implements IrqSink {
  constructor(
    private readonly pic: Pic8259Pair,
    private readonly ioapic: IoApic,
  ) {}

  setIrq(line: number, level: boolean): void {
    this.pic.setIrq(line, level);
    // ACPI MADT override: ISA IRQ0 is GSI 2 (the PIT's conventional wiring on a PC).
    this.ioapic.setIrq(line === 0 ? 2 : line, level);
  }
}

/**
 * An ISA interrupt line that can be disconnected (the PIT's and RTC's lines while the HPET is
 * in legacy replacement mode); the device keeps driving it, the controllers stop seeing it.
 */
class GatedLine extends Wire {
  private connected = true;
  constructor(
    private readonly sink: IrqSink,
    private readonly line: number,
  ) {
    super();
  }

  gate(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    if (this.level) this.sink.setIrq(this.line, connected);
  }

  protected changed(level: boolean): void {
    if (this.connected) this.sink.setIrq(this.line, level);
  }
}

/** The pins of a core, forwarded (the APIC is built before its core). */
class CorePins implements CpuPins {
  core: Cpu | null = null;
  init(): void {
    this.core?.init();
  }
  startup(vector: number): void {
    this.core?.startup(vector);
  }
  nmi(): void {
    this.core?.nmi();
  }
  smi(): void {
    this.core?.smi();
  }
  kick(): void {
    this.core?.kick();
  }
}

/** A range of the e820 map. */
interface E820Range {
  base: number;
  length: number;
  type: number;
}

export class Pc {
  readonly memory: PhysicalMemory;
  readonly io = new PioBus();
  readonly clock: VirtualClock;
  readonly chipset: Chipset;
  readonly cpus: readonly Cpu[];
  readonly lapics: readonly LocalApic[];
  readonly apicBus = new ApicBusHub();
  readonly pic = new Pic8259Pair();
  /** The BSP's FERR# -> IRQ13 latch (port 0F0H clears it). */
  readonly fpuError: FpuErrorLatch;
  readonly ioapic: IoApic;
  readonly pit: Pit8254;
  readonly rtc: RtcCmos;
  readonly i8042: I8042;
  readonly uart: Uart16550 | null;
  readonly pci: I440fxHostBridge;
  readonly fwCfg: FwCfg;
  readonly acpiPm: AcpiPm;
  readonly hpet: Hpet;
  readonly debugExit: IsaDebugExit | null;
  readonly pcTestdev: PcTestdev | null;
  readonly debugCon: DebugCon | null;
  /**
   * AMD's Device Exclusion Vector, with `virtualization: 'svm'` (else null): device memory
   * accesses through {@link dmaSpace} are checked against it (APM Vol. 2 §15.24), and every
   * core's SKINIT protects the secure loader block in it (§15.27.4). RESET clears it.
   */
  readonly dev: DeviceExclusionVector | null;
  /** RAM below 4 GiB (from 0) and above it (from 4 GiB). */
  readonly lowMemory: number;
  readonly highMemory: number;
  /** The e820 map the loaders hand to kernels. */
  readonly e820: readonly E820Range[];
  readonly options: Readonly<PcOptions>;
  /** Everything written to COM1, as text (Latin-1). */
  serialOutput = '';
  /** How many instructions a core runs per turn (SMP). */
  readonly quantum: number;
  private readonly ips: number;
  private a20 = true;
  private pendingStop: 'reset' | 'poweroff' | 'shutdown' | null = null;
  private paused = false;
  private hostMs = 0;
  private instructionsRun = 0;
  private readonly deviceNames: string[];

  constructor(options: PcOptions = {}) {
    this.options = options;
    const mib = options.memoryMiB ?? 64;
    if (!Number.isInteger(mib) || mib < 2 || mib > 1024 * 1024) throw new PcConfigurationError(`memory size ${mib} MiB is not an integer from 2 MiB to 1 TiB`);
    const ncpu = options.cpus ?? 1;
    if (!Number.isInteger(ncpu) || ncpu < 1 || ncpu > MAX_CPUS) throw new PcConfigurationError(`CPU count ${ncpu} is not an integer from 1 to ${MAX_CPUS}`);
    const quantum = options.quantum ?? 1000;
    if (!Number.isInteger(quantum) || quantum < 1) throw new PcConfigurationError(`quantum ${quantum} is not a positive integer`);
    this.quantum = quantum;
    const ips = options.instructionsPerSecond ?? 1e8;
    this.instructionsPerSecond = ips;
    this.ips = ips;
    const model = options.cpuModel ?? INTEL_CORE;
    const virtProblem = virtualizationProblem(options.virtualization, model);
    if (virtProblem !== null) throw new PcConfigurationError(virtProblem);
    const ram = mib * MiB;
    const low = ram >= LOW_SPLIT ? LOW_LIMIT : ram;
    this.lowMemory = low;
    this.highMemory = ram - low;

    // ---- memory ------------------------------------------------------------------------
    this.memory = new PhysicalMemory({ ramSize: ram });
    this.memory.mapRam(0, Math.min(low, 0xa_0000), 0, 'ram-conventional');
    if (low > 0xc_0000) {
      this.memory.mapRam(0xc_0000, Math.min(low, 0x10_0000) - 0xc_0000, 0xc_0000, 'ram-shadow');
      if (low > 0x10_0000) this.memory.mapRam(0x10_0000, low - 0x10_0000, 0x10_0000, 'ram-low');
    }
    if (this.highMemory > 0) this.memory.mapRam(FOUR_GIB, this.highMemory, low, 'ram-high');
    if (options.bios !== undefined) this.mapBios(options.bios);
    this.clock = new VirtualClock({ instructionsPerSecond: ips });
    // With SVM, AMD's Device Exclusion Vector sits between the devices and memory (APM Vol. 2
    // §15.24), covering all of RAM (4 GiB << SIZE, SIZE up to 4), and SKINIT protects the secure
    // loader block through it.
    if (options.virtualization === 'svm') {
      const top = this.highMemory > 0 ? FOUR_GIB + this.highMemory : low;
      let sizeLog2 = 0;
      while (sizeLog2 < 4 && FOUR_GIB * 2 ** sizeLog2 < top) sizeLog2++;
      this.dev = new DeviceExclusionVector({ sizeLog2 });
    } else {
      this.dev = null;
    }

    // ---- interrupt controllers and cores ----------------------------------------------------
    this.ioapic = new IoApic({ bus: this.apicBus, base: IOAPIC_BASE });
    this.apicBus.onEoi((vector) => this.ioapic.eoi(vector));
    const cpus: Cpu[] = [];
    const lapics: LocalApic[] = [];
    const smp = ncpu > 1;
    // One TSC for the package: no core reads it below what another already read.
    const tscShared = smp ? new Float64Array(1) : null;
    for (let i = 0; i < ncpu; i++) {
      const pins = new CorePins();
      const lapic = new LocalApic({
        id: i,
        bsp: i === 0,
        clock: this.clock,
        pins,
        bus: this.apicBus,
        physAddrBits: model.physAddrBits,
        ...(i === 0 ? { extInt: this.pic } : {}),
        tsc: { readTsc: () => cpu.icount + cpu.tscOffset, ticksPerNs: ips / 1e9 },
      });
      const cpu: Cpu = new Cpu({ memory: this.memory, io: this.io, model, apic: lapic, apicId: i, ...(smp ? {} : { clock: this.clock }) });
      pins.core = cpu;
      cpu.pauseYields = smp;
      cpu.tscShared = tscShared;
      this.apicBus.attach(lapic);
      cpus.push(cpu);
      lapics.push(lapic);
    }
    this.cpus = cpus;
    this.lapics = lapics;
    const bsp = lapics[0]!;
    this.pic.onIntrChange = (level) => bsp.setIrq(0, level);

    // ---- devices -------------------------------------------------------------------------------
    this.chipset = new Chipset({ pio: this.io, memory: this.memory });
    const isa = new IsaIrqs(this.pic, this.ioapic);
    const irq = (n: number): InterruptLine => new InterruptLine(isa, n);
    this.pci = new I440fxHostBridge({ irq: isa });
    this.chipset = new Chipset({ pio: this.io, memory: this.memory, pci: this.pci });
    // HPET legacy replacement (IA-PC HPET spec §2.4.4) takes IRQ0 and IRQ8 from the PIT and
    // the RTC: their lines are cut while it is on.
    const pitLine = new GatedLine(isa, 0);
    const rtcLine = new GatedLine(isa, 8);
    this.pit = new Pit8254({ clock: this.clock, irq: pitLine });
    this.rtc = new RtcCmos({ clock: this.clock, irq: rtcLine, baseDate: options.rtcDate ?? Date.UTC(2026, 0, 1) });
    this.rtc.setMemorySize(ram, low);
    // CMOS 0x5F: the number of CPUs minus one, where QEMU's pc_cmos_init puts it for the BIOS.
    this.rtc.writeCmos(0x5f, ncpu - 1);
    this.i8042 = new I8042({ irq: irq(1), auxIrq: irq(12), onReset: () => this.requestReset(), onA20: (on) => this.setA20(on) });
    this.uart =
      options.noSerial === true
        ? null
        : new Uart16550({
            irq: irq(4),
            ...(options.serial ? { backend: options.serial } : {}),
            onOutput: (b) => {
              this.serialOutput += String.fromCharCode(b);
              options.onSerial?.(b);
            },
          });
    this.fwCfg = new FwCfg({ ramSize: ram, nbCpus: ncpu, maxCpus: ncpu });
    this.acpiPm = new AcpiPm({ clock: this.clock, base: ACPI_PM_BASE, sci: irq(9), onPowerOff: () => this.requestStop('poweroff') });
    this.hpet = new Hpet({
      clock: this.clock,
      address: HPET_BASE,
      ioApic: this.ioapic,
      legacyIrq0: irq(0),
      legacyIrq8: irq(8),
      onLegacyReplacement: (on) => {
        pitLine.gate(!on);
        rtcLine.gate(!on);
      },
    });
    const add = (d: Device): void => {
      this.chipset.add(d);
    };
    add(this.pic);
    add(this.ioapic);
    for (const l of lapics) add(l);
    add(this.pci);
    add(this.pit);
    add(new SystemControlPortB({ pit: this.pit }));
    add(this.rtc);
    add(this.i8042);
    add(new SystemControlPort({ onA20: (on) => this.setA20(on), onReset: () => this.requestReset() }));
    add(new ResetControl({ onReset: () => this.requestReset() }));
    if (this.uart !== null) add(this.uart);
    add(this.fwCfg);
    add(this.acpiPm);
    add(this.hpet);
    add(new BochsShutdownPort({ onShutdown: () => this.requestStop('poweroff') }));
    // FERR# of the BSP -> the IRQ13 latch, cleared by a write to port 0F0H (fpu-error.ts).
    this.fpuError = new FpuErrorLatch({ irq: irq(13) });
    add(this.fpuError);
    const fpuError = this.fpuError;
    this.cpus[0]!.onFerr = (asserted) => fpuError.setFerr(asserted);
    let debugExit: IsaDebugExit | null = null;
    let testdev: PcTestdev | null = null;
    let debugCon: DebugCon | null = null;
    const names: string[] = [];
    for (const d of options.devices ?? []) {
      names.push(d.type);
      if (d.type === 'isa-debug-exit') {
        if (debugExit !== null) throw new PcConfigurationError('only one isa-debug-exit device is supported');
        debugExit = new IsaDebugExit({ iobase: d.iobase ?? 0x501, iosize: d.iosize ?? 2, onExit: () => this.stopCores() });
        add(debugExit);
      } else if (d.type === 'pc-testdev') {
        if (testdev !== null) throw new PcConfigurationError('only one pc-testdev device is supported');
        testdev = new PcTestdev({ irqSink: isa });
        add(testdev);
      } else if (d.type === 'debugcon') {
        if (debugCon !== null) throw new PcConfigurationError('only one debugcon device is supported');
        debugCon = new DebugCon({ iobase: d.iobase ?? 0xe9, ...(options.onDebugCon ? { onOutput: options.onDebugCon } : {}) });
        add(debugCon);
      } else {
        throw new PcConfigurationError(`unknown device type "${(d as { type: string }).type}"`);
      }
    }
    this.deviceNames = names;
    this.debugExit = debugExit;
    this.pcTestdev = testdev;
    this.debugCon = debugCon;

    // ---- firmware tables -----------------------------------------------------------------------
    this.e820 = this.buildE820();
    // fw_cfg's etc/e820 lists RAM only, as QEMU's does; firmware carves its own reservations.
    this.fwCfg.addFile(
      'etc/e820',
      encodeE820([
        { base: 0, length: low, type: E820Type.RAM },
        ...(this.highMemory > 0 ? [{ base: FOUR_GIB, length: this.highMemory, type: E820Type.RAM }] : []),
      ]),
    );
    if (options.bios === undefined) this.writeFirmwareTables();
    // With a BIOS: SeaBIOS writes this file's value into IA32_FEATURE_CONTROL of every core.
    else if (options.virtualization === 'vmx') this.fwCfg.addFile('etc/msr_feature_control', new Uint8Array([FEATURE_CONTROL_VMX_LOCKED, 0, 0, 0, 0, 0, 0, 0]));
    this.powerOn();
  }

  /** The BSP. */
  get cpu(): Cpu {
    return this.cpus[0]!;
  }

  /** Exit status written to isa-debug-exit, or null. */
  get exitStatus(): number | null {
    return this.debugExit?.exitStatus ?? null;
  }

  // ---- booting ---------------------------------------------------------------------------------

  /**
   * Power-on: every device and core reset. Without a BIOS the board stands in for one: the BSP's
   * local APIC is put in virtual-wire mode (MP spec §3.6.2.2), the application processors wait
   * for INIT/SIPI, and the loaders below set the BSP's registers.
   */
  powerOn(): void {
    this.chipset.reset();
    this.shadowBios();
    for (const cpu of this.cpus) cpu.reset();
    // RESET leaves VMX operation (SDM Vol. 3C §23.7), and SVM as at power-on (EFER.SVME = 0,
    // VM_CR and VM_HSAVE_PA 0, GIF = 1; APM Vol. 2 §15.4, §15.30): every core gets a fresh extension.
    this.attachVirtualization();
    this.dev?.unprotect(0, this.dev.coverage);
    if (this.options.bios === undefined) for (const cpu of this.cpus) this.firmwareMtrrs(cpu);
    this.setA20(true);
    for (let i = 1; i < this.cpus.length; i++) this.cpus[i]!.init();
    if (this.options.bios === undefined) {
      // What firmware leaves: virtual-wire mode, and IRQ9 (the ACPI SCI) level-triggered in the
      // PIIX ELCR (ACPI 6.5 §5.2.9 "SCI_INT": shareable, level, active low on the wire).
      this.lapics[0]!.enableVirtualWire();
      this.io.write(0x4d1 as Port, 1, 1 << 1);
    }
    this.pendingStop = null;
  }

  /**
   * Loads a Multiboot 1 kernel and starts the BSP in the state §3.2 of the specification asks
   * for (32-bit protected mode, flat segments, paging and interrupts off, A20 on).
   */
  bootMultiboot(image: Uint8Array, options: Omit<MultibootOptions, 'memoryMap'> = {}): MultibootBoot {
    const boot = loadMultiboot(this.memory, image, {
      ...options,
      memoryMap: this.e820.map((e) => ({ base: e.base, length: e.length, type: e.type === E820Type.RAM ? MultibootMemoryType.AVAILABLE : e.type })),
    });
    this.enterFlat32(boot.entry);
    const cpu = this.cpu;
    cpu.gpr[0] = boot.eax | 0;
    cpu.gpr[3] = boot.ebx | 0;
    return boot;
  }

  /** Loads an ELF32/ELF64 executable and starts the BSP at its entry in flat 32-bit protected mode. */
  bootElf(image: Uint8Array): number {
    const boot = loadElf(this.memory, image);
    if (boot.entry >= FOUR_GIB) throw new PcConfigurationError(`the ELF entry point ${boot.entry.toString(16)} is above 4 GiB; a 32-bit start cannot reach it`);
    this.enterFlat32(boot.entry);
    return boot.entry;
  }

  /** Loads a flat binary at `address` and starts the BSP there in flat 32-bit protected mode. */
  bootFlat(image: Uint8Array, address: number, entry = address): void {
    loadFlat(this.memory, image, { address, entry });
    this.enterFlat32(entry);
  }

  /** Loads a Linux bzImage (boot protocol 2.06+) and starts the BSP at its 32- or 64-bit entry. */
  bootLinux(image: Uint8Array, options: { cmdline?: string; initrd?: Uint8Array; entry?: 32 | 64 } = {}): LinuxBoot {
    const e820: E820Entry[] = this.e820.map((e) => ({ addr: e.base, size: e.length, type: e.type }));
    const boot = loadLinux(this.memory, image, { ...options, e820, ...(this.options.bios === undefined ? { acpiRsdp: RSDP_ADDRESS } : {}) });
    const cpu = this.cpu;
    cpu.reset();
    this.firmwareMtrrs(cpu);
    this.setA20(true);
    cpu.gdtrBaseLo = boot.gdt.base;
    cpu.gdtrBaseHi = 0;
    cpu.gdtrLimit = boot.gdt.limit;
    const flat = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.G;
    if (boot.mode === 64) {
      cpu.cr4 = 0x20; // PAE
      cpu.cr3Lo = boot.cr3 ?? 0;
      cpu.efer = 0x500; // LME | LMA
      cpu.cr0 = 0x8000_0001 | 0x10; // PG | PE | ET
      for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS, Seg.SS]) cpu.setSegmentRaw(s, 0x18, 0, 0xffff_ffff, flat | SegAttr.DB);
      cpu.setSegmentRaw(Seg.CS, 0x10, 0, 0xffff_ffff, flat | SegAttr.Code | SegAttr.L);
      cpu.gpr[6] = boot.bootParams | 0; // RSI
    } else {
      cpu.cr0 = 0x11;
      for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS, Seg.SS]) cpu.setSegmentRaw(s, 0x18, 0, 0xffff_ffff, flat | SegAttr.DB);
      cpu.setSegmentRaw(Seg.CS, 0x10, 0, 0xffff_ffff, flat | SegAttr.Code | SegAttr.DB);
      cpu.gpr[6] = boot.bootParams | 0; // ESI
    }
    cpu.setSegmentRaw(Seg.TR, 0, 0, 0xffff, SegAttr.P | 11);
    cpu.setEflags(0x2);
    cpu.ripLo = boot.entry % FOUR_GIB | 0;
    cpu.ripHi = Math.floor(boot.entry / FOUR_GIB) | 0;
    cpu.flushTlb(true);
    cpu.updateMode();
    return boot;
  }

  /** The BSP in 32-bit protected mode with flat 4 GiB segments at `entry`, paging and interrupts off. */
  private enterFlat32(entry: number): void {
    const cpu = this.cpu;
    cpu.reset();
    this.firmwareMtrrs(cpu);
    this.setA20(true);
    cpu.cr0 = (cpu.cr0 | 1) & ~0x6000_0000;
    const data = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
    for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS, Seg.SS]) cpu.setSegmentRaw(s, 0x10, 0, 0xffff_ffff, data);
    cpu.setSegmentRaw(Seg.CS, 0x08, 0, 0xffff_ffff, data | SegAttr.Code);
    cpu.setEflags(0x2);
    cpu.ripLo = entry | 0;
    cpu.ripHi = 0;
    cpu.updateMode();
    this.serialOutput = '';
  }

  /**
   * The MTRRs firmware programs before it hands over (SeaBIOS's `mtrr_setup` does the same on
   * QEMU): default type write-back and enabled (IA32_MTRR_DEF_TYPE = 0C06H: E, FE, WB), the fixed
   * ranges write-back except the legacy video window 0xA0000-0xBFFFF (uncacheable), and the PCI
   * hole from the top of low RAM to 4 GiB uncacheable through variable ranges, each a naturally
   * aligned power of two (SDM Vol. 3 §12.11.2-§12.11.4). The emulator ignores memory types;
   * operating systems read them (Linux sets up the PAT only with MTRRs enabled).
   */
  private firmwareMtrrs(cpu: Cpu): void {
    const WB = 0x06060606;
    const m = cpu.mtrrs;
    m.clear();
    m.set(0x250, [WB, WB]); // IA32_MTRR_FIX64K_00000
    m.set(0x258, [WB, WB]); // IA32_MTRR_FIX16K_80000
    m.set(0x259, [0, 0]); // IA32_MTRR_FIX16K_A0000: UC
    for (let msr = 0x268; msr <= 0x26f; msr++) m.set(msr, [WB, WB]); // IA32_MTRR_FIX4K_C0000..F8000
    const physBits = cpu.model.physAddrBits;
    const maskHi = physBits >= 52 ? 0xfffff : (1 << (physBits - 32)) - 1;
    let start = this.lowMemory;
    let n = 0;
    while (start < FOUR_GIB && n < 8) {
      let size = FOUR_GIB;
      while (start % size !== 0 || start + size > FOUR_GIB) size /= 2;
      m.set(0x200 + 2 * n, [start | 0, 0]); // IA32_MTRR_PHYSBASEn, type 0 (UC)
      m.set(0x201 + 2 * n, [(FOUR_GIB - size) | 0x800, maskHi]); // IA32_MTRR_PHYSMASKn, valid
      start += size;
      n++;
    }
    m.set(0x2ff, [0xc06, 0]); // IA32_MTRR_DEF_TYPE
    // With VT-x, firmware locks IA32_FEATURE_CONTROL with VMX outside SMX enabled (virtualization.ts).
    if (this.options.virtualization === 'vmx') cpu.featureControlLo = FEATURE_CONTROL_VMX_LOCKED;
  }

  // ---- run control -----------------------------------------------------------------------------

  /**
   * Runs until the guest exits through isa-debug-exit, shuts down (triple fault), powers off,
   * resets, every core halts for good, {@link pause} is called, or about `maxInstructions`
   * (all cores together) retire.
   */
  run(maxInstructions: number): PcStop {
    const t0 = Date.now();
    const start = this.totalInstructions();
    const idle0 = this.idleTicks();
    this.paused = false;
    try {
      return this.cpus.length === 1 ? this.runOne(maxInstructions, start) : this.runMany(maxInstructions, start);
    } finally {
      this.hostMs += Date.now() - t0;
      // Executed instructions only: ticks skipped while halted are not work done.
      this.instructionsRun += this.totalInstructions() - start - (this.idleTicks() - idle0);
    }
  }

  /** Makes {@link run} return `paused` at the next instruction boundary. */
  pause(): void {
    this.paused = true;
    this.stopCores();
  }

  stats(): PcStats {
    const idle = this.idleTicks();
    let tlbFills = 0;
    let exits = 0;
    for (const c of this.cpus) {
      tlbFills += c.tlbFills;
      exits += c.deviceExits;
    }
    return {
      instructions: this.totalInstructions(),
      guestNs: this.clock.nowNs,
      hostMs: this.hostMs,
      mips: this.hostMs > 0 ? this.instructionsRun / this.hostMs / 1000 : 0,
      idle,
      exits,
      tlbFills,
      ramAllocated: this.memory.allocatedRamBytes,
    };
  }

  private idleTicks(): number {
    let n = 0;
    for (const c of this.cpus) n += c.idleTicks;
    return n;
  }

  private totalInstructions(): number {
    let n = 0;
    for (const c of this.cpus) n += c.icount;
    return n;
  }

  private stopOutcome(instructions: number): PcStop | null {
    const status = this.exitStatus;
    if (status !== null) return { reason: 'exit', status, instructions };
    if (this.pendingStop !== null) return { reason: this.pendingStop, instructions };
    if (this.paused) return { reason: 'paused', instructions };
    return null;
  }

  /**
   * When true, {@link run} returns `'idle'` where every core is halted waiting for a timer,
   * instead of skipping guest time ahead to the timer at once. An interactive front end sets it
   * and paces idle guest time to the host clock with {@link idle}, so a guest waiting for
   * keystrokes neither burns the host CPU nor races its clock ahead (compare QEMU's
   * `-icount sleep=on`). Off by default: batch runs skip idle time, which keeps them fast and
   * deterministic.
   */
  get stopWhenIdle(): boolean {
    return this.idleStops;
  }

  set stopWhenIdle(on: boolean) {
    this.idleStops = on;
    for (const c of this.cpus) c.skipIdle = !on;
  }

  private idleStops = false;

  /** Guest instructions per second of guest time (the TSC rate). */
  readonly instructionsPerSecond: number;

  /**
   * Lets up to `ns` of guest time pass with every core idle, stopping at the next timer
   * deadline; returns the guest nanoseconds that passed.
   */
  idle(ns: number): number {
    const nsPerInstruction = 1e9 / this.instructionsPerSecond;
    const n = Math.min(this.clock.instructionsUntilNextDeadline(), Math.floor(ns / nsPerInstruction));
    if (!(n > 0)) return 0;
    for (const c of this.cpus) {
      c.icount += n;
      c.idleTicks += n;
    }
    this.clock.advance(n);
    return n * nsPerInstruction;
  }

  private runOne(maxInstructions: number, start: number): PcStop {
    const cpu = this.cpu;
    let left = maxInstructions;
    for (;;) {
      const why = cpu.run(Math.min(left, 1_000_000));
      const instructions = cpu.icount - start;
      left = maxInstructions - instructions;
      const stop = this.stopOutcome(instructions);
      if (stop !== null) return stop;
      if (why === StopReason.Shutdown) return { reason: 'shutdown', instructions };
      if (left <= 0) return { reason: 'budget', instructions };
      if (why === StopReason.Halt) {
        // Halted past this chunk: idle to the next timer (it may wake the core), or stop when
        // no timer is armed and so nothing can.
        const until = this.clock.instructionsUntilNextDeadline();
        if (until === Infinity) return { reason: 'halt', instructions };
        if (this.idleStops) return { reason: 'idle', instructions, untilNs: this.clock.nextDeadlineNs() - this.clock.nowNs };
        const skip = Math.max(1, Math.min(until, left));
        cpu.icount += skip;
        cpu.idleTicks += skip;
        this.clock.advance(skip);
      }
    }
  }

  private runMany(maxInstructions: number, start: number): PcStop {
    const clock = this.clock;
    const cpus = this.cpus;
    for (;;) {
      const instructions = this.totalInstructions() - start;
      if (instructions >= maxInstructions) return { reason: 'budget', instructions };
      const until = clock.instructionsUntilNextDeadline();
      const slice = Math.max(1, Math.min(this.quantum, until));
      let active = false;
      for (let i = 0; i < cpus.length; i++) {
        const cpu = cpus[i]!;
        if (cpu.shutdown) return { reason: 'shutdown', instructions: this.totalInstructions() - start };
        const before = cpu.icount;
        const why = cpu.run(slice);
        const ran = cpu.icount - before;
        if (ran > 0) active = true;
        const stop = this.stopOutcome(this.totalInstructions() - start);
        if (stop !== null) return stop;
        if (why === StopReason.Shutdown) return { reason: 'shutdown', instructions: this.totalInstructions() - start };
        // A halted core (or one waiting for SIPI) idles through the rest of its turn: its TSC
        // keeps pace with guest time.
        if (ran < slice) {
          cpu.icount += slice - ran;
          cpu.idleTicks += slice - ran;
        }
      }
      if (!active) {
        // Every core is idle: skip to the next timer, or stop when nothing can wake them.
        const next = clock.nextDeadlineNs();
        if (next === Infinity) return { reason: 'halt', instructions: this.totalInstructions() - start };
        if (this.idleStops) {
          clock.advance(slice);
          return { reason: 'idle', instructions: this.totalInstructions() - start, untilNs: Math.max(0, clock.nextDeadlineNs() - clock.nowNs) };
        }
      }
      clock.advance(slice);
    }
  }

  private stopCores(): void {
    for (const c of this.cpus) c.stop();
  }

  private requestStop(why: 'reset' | 'poweroff' | 'shutdown'): void {
    if (this.pendingStop === null) this.pendingStop = why;
    this.stopCores();
  }

  private requestReset(): void {
    this.requestStop('reset');
  }

  private setA20(enabled: boolean): void {
    this.a20 = enabled;
    for (const c of this.cpus) c.setA20(enabled);
  }

  // ---- snapshots ---------------------------------------------------------------------------------

  /** The whole machine's state: RAM, every core, every device, guest time. */
  saveState(): PcSnapshot {
    // A device whose state would be lost makes the snapshot a lie: refuse instead.
    const stateless = this.chipset.devices().filter((d) => d.supportsSnapshot?.() === undefined);
    if (stateless.length > 0) throw new PcConfigurationError(`cannot snapshot: ${stateless.map((d) => d.name).join(', ')} cannot save state`);
    for (const [i, cpu] of this.cpus.entries()) {
      const problem = vmxSnapshotProblem(cpu, i) ?? svmSnapshotProblem(cpu, i);
      if (problem !== null) throw new PcConfigurationError(`cannot snapshot: ${problem}`);
    }
    const svm = this.options.virtualization === 'svm' ? { svm: this.cpus.map((c) => saveSvmMsrs(c)!), dev: this.saveDev() } : {};
    return {
      format: 'hvkit-pc',
      version: 1,
      config: this.configKey(),
      clock: this.clock.saveState(),
      ram: this.memory.saveRam(),
      cpus: this.cpus.map((c) => saveCpuState(c)),
      devices: this.chipset.saveState(),
      board: { a20: this.a20, exitStatus: this.exitStatus },
      ...svm,
    };
  }

  /**
   * Restores a {@link saveState} snapshot into this machine, which must be built with the same
   * memory size, CPU count, CPU model and devices. Throws {@link PcConfigurationError} otherwise.
   */
  restoreState(snapshot: PcSnapshot): void {
    if (snapshot === null || typeof snapshot !== 'object' || snapshot.format !== 'hvkit-pc') throw new PcConfigurationError('not an hvkit PC snapshot');
    if (snapshot.version !== 1) throw new PcConfigurationError(`PC snapshot version ${String(snapshot.version)} is not supported (this build reads version 1)`);
    const want = this.configKey();
    const have = snapshot.config;
    if (JSON.stringify(want) !== JSON.stringify(have)) {
      throw new PcConfigurationError(`the snapshot is of a different machine: ${JSON.stringify(have)}, this one is ${JSON.stringify(want)}`);
    }
    this.clock.restoreState(snapshot.clock);
    this.memory.restoreRam(snapshot.ram);
    // Snapshots are taken outside VMX operation and SVM guest mode only: the cores restart out
    // of them too, with the SVM MSRs the snapshot kept.
    this.attachVirtualization();
    snapshot.cpus.forEach((s, i) => restoreCpuState(this.cpus[i]!, s));
    snapshot.svm?.forEach((s, i) => restoreSvmMsrs(this.cpus[i]!, s));
    if (this.dev !== null) this.restoreDev(snapshot.dev ?? []);
    this.chipset.restoreState(snapshot.devices);
    this.setA20(snapshot.board.a20);
    this.pendingStop = null;
  }

  /** Plugs a fresh virtualization extension (as after RESET) into every core, when the machine has one. */
  private attachVirtualization(): void {
    const o = this.options;
    if (o.virtualization === 'vmx') for (const cpu of this.cpus) attachVmx(cpu, this.memory, o.vmxFeatures);
    else if (o.virtualization === 'svm') for (const cpu of this.cpus) attachSvm(cpu, this.memory, o.svmFeatures, this.dev);
  }

  /**
   * The memory a device with PCI requester ID `requesterId` reaches by DMA: host-physical
   * addresses, MSI writes to the local APICs; with SVM, through the {@link dev} check (a
   * protected page reads all ones and ignores writes, §15.24.3). For devices that do DMA.
   */
  dmaSpace(requesterId = 0): DmaSpace {
    const direct = new DirectDma(this.memory, this.apicBus, requesterId);
    return this.dev === null ? direct : this.dev.space(direct);
  }

  /** The DEV's non-zero words as [index, word] pairs. */
  private saveDev(): number[] {
    const out: number[] = [];
    const bits = this.dev!.bits;
    for (let i = 0; i < bits.length; i++) if (bits[i] !== 0) out.push(i, bits[i]!);
    return out;
  }

  private restoreDev(pairs: readonly number[]): void {
    const bits = this.dev!.bits;
    if (pairs.length % 2 !== 0 || !pairs.every((v, k) => Number.isInteger(v) && v >= 0 && (k % 2 === 1 ? v <= 0xffff_ffff : v < bits.length))) {
      throw new PcConfigurationError('the snapshot\'s DEV bits are not [word index, word] pairs within the vector');
    }
    bits.fill(0);
    for (let k = 0; k < pairs.length; k += 2) bits[pairs[k]!] = pairs[k + 1]!;
  }

  /** Core `index`'s SVM state (`virtualization: 'svm'`), else null. */
  svm(index = 0): SvmCpu | null {
    return this.options.virtualization === 'svm' ? ((this.cpus[index]?.ext as SvmCpu | undefined) ?? null) : null;
  }

  /**
   * The SKINIT measurements of every core since power-on, oldest first (APM Vol. 2 §15.27: what
   * a TPM would have extended into PCR 17; the PC has no TPM, so this log stands in for it).
   * Empty without SVM.
   */
  skinitLog(): readonly SkinitRecord[] {
    const out: SkinitRecord[] = [];
    for (let i = 0; i < this.cpus.length; i++) out.push(...(this.svm(i)?.skinitLog ?? []));
    return out;
  }

  private configKey(): PcSnapshot['config'] {
    const v = this.options.virtualization;
    return { memoryMiB: this.memory.ramSize / MiB, cpus: this.cpus.length, model: this.cpu.model.name, devices: [...this.deviceNames], ...(v !== undefined ? { virtualization: v } : {}) };
  }

  // ---- firmware ----------------------------------------------------------------------------------

  /**
   * The BIOS image at the top of the 4 GiB space. Below 1 MiB the board stands in for the
   * i440FX's PAM shadowing (not modelled): the last 128 KiB of the image (or all of a smaller
   * one) are copied into the shadow RAM at 0xE0000-0xFFFFF at power-on, which is where a BIOS
   * that shadows itself ends up; that RAM stays writable.
   */
  private mapBios(image: Uint8Array): void {
    if (image.length === 0 || image.length % 0x1_0000 !== 0 || image.length > 16 * MiB) {
      throw new PcConfigurationError(`a BIOS image must be a non-empty multiple of 64 KiB up to 16 MiB; this one is ${image.length} bytes`);
    }
    if (this.lowMemory < 0x10_0000) throw new PcConfigurationError('a BIOS needs at least 1 MiB of RAM');
    this.memory.mapRom(FOUR_GIB - image.length, image, 'bios');
  }

  private shadowBios(): void {
    const image = this.options.bios;
    if (image === undefined) return;
    const isa = image.subarray(Math.max(0, image.length - 0x2_0000));
    this.memory.write((0x10_0000 - isa.length) as Hpa, isa);
  }

  private buildE820(): E820Range[] {
    const low = this.lowMemory;
    const map: E820Range[] = [];
    map.push({ base: 0, length: Math.min(low, 0x9_fc00), type: E820Type.RAM });
    if (low > 0x9_fc00) map.push({ base: 0x9_fc00, length: 0x400, type: E820Type.RESERVED });
    map.push({ base: 0xf_0000, length: 0x1_0000, type: E820Type.RESERVED });
    if (low > 0x10_0000) {
      const tables = this.options.bios === undefined ? ACPI_TABLES_SIZE : 0;
      map.push({ base: 0x10_0000, length: low - 0x10_0000 - tables, type: E820Type.RAM });
      if (tables > 0) map.push({ base: low - tables, length: tables, type: E820Type.ACPI });
    }
    map.push({ base: IOAPIC_BASE, length: 0x1000, type: E820Type.RESERVED });
    map.push({ base: HPET_BASE, length: 0x400, type: E820Type.RESERVED });
    map.push({ base: 0xfee0_0000, length: 0x1000, type: E820Type.RESERVED });
    if (this.options.bios !== undefined) map.push({ base: FOUR_GIB - this.options.bios.length, length: this.options.bios.length, type: E820Type.RESERVED });
    if (this.highMemory > 0) map.push({ base: FOUR_GIB, length: this.highMemory, type: E820Type.RAM });
    return map.filter((e) => e.length > 0);
  }

  /** The ACPI tables (RSDP in the BIOS area, the rest at the top of low RAM) and the SMBIOS tables (BIOS area). */
  private writeFirmwareTables(): void {
    if (this.lowMemory <= 0x10_0000 + ACPI_TABLES_SIZE) return;
    const tables = buildAcpiTables({
      cpus: this.lapics.map((l) => ({ apicId: l.apicId, enabled: true })),
      ioApic: { id: 0, address: IOAPIC_BASE, gsiBase: 0 },
      localApicAddress: 0xfee0_0000,
      pm: this.acpiPm.layout,
      reset: { port: 0xcf9, value: 0x06 },
      hpet: { address: HPET_BASE, blockId: this.hpet.eventTimerBlockId },
      // The DSDT: PCI bus 0 (its memory window starts at the top of low RAM; INTx through the
      // bridge's PIRQ routes) and the ISA devices as wired above (COM1 on IRQ 4 when present).
      dsdt: {
        pci: { memoryBase: this.lowMemory, pirqIrqs: [0, 1, 2, 3].map((p) => this.pci.pirqRoute(p)).map((irq) => (irq < 16 ? irq : null)) as [number | null, number | null, number | null, number | null] },
        devices: pcDsdtDevices({ com1: this.uart === null ? null : { base: this.uart.pioRanges[0]!.base, irq: 4 }, hpetBase: HPET_BASE }),
      },
      base: this.lowMemory - ACPI_TABLES_SIZE,
      rsdpAddress: RSDP_ADDRESS,
    });
    writeAcpiTables(this.memory, tables);
    // SMBIOS (smbios.ts): both entry points after the RSDP in the reserved F segment, where an OS
    // scans for them, and the structure table after them there.
    const smbios = buildSmbiosTables({
      cpus: this.cpus.map((c) => ({ model: c.model, leaf1Edx: c.model.leaf1Edx | CPUID1_EDX_APIC })),
      lowMemory: this.lowMemory,
      highMemory: this.highMemory,
      speedMHz: Math.max(1, Math.min(0xfffe, Math.round(this.ips / 1e6))),
      entryPointAddress: SMBIOS_ENTRY_ADDRESS,
      tableAddress: SMBIOS_TABLE_ADDRESS,
    });
    writeSmbiosTables(this.memory, smbios);
  }
}

/** Builds a PC. See {@link Pc} and {@link PcOptions}. */
export function createPc(options: PcOptions = {}): Pc {
  return new Pc(options);
}

/** `etc/e820` for fw_cfg: 20-byte entries (u64 base, u64 length, u32 type), little-endian. */
function encodeE820(map: readonly E820Range[]): Uint8Array {
  const out = new Uint8Array(map.length * 20);
  const v = new DataView(out.buffer);
  map.forEach((e, i) => {
    v.setUint32(i * 20, e.base % FOUR_GIB, true);
    v.setUint32(i * 20 + 4, Math.floor(e.base / FOUR_GIB), true);
    v.setUint32(i * 20 + 8, e.length % FOUR_GIB, true);
    v.setUint32(i * 20 + 12, Math.floor(e.length / FOUR_GIB), true);
    v.setUint32(i * 20 + 16, e.type, true);
  });
  return out;
}
