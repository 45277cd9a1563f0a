/**
 * The minimal board: RAM, one CPU, a 16550 UART on COM1, the isa-debug-exit port, System
 * Control Port A (fast A20) and a Multiboot 1 loader. It is what bare-metal test programs and
 * the benchmark need; the PC platform issue grows it into a full PC (interrupt controllers,
 * timers, PCI).
 *
 * Wiring follows the package rules: the devices never see the CPU; the board connects their
 * callbacks (exit request, A20) to it.
 */
import { IsaDebugExit, SystemControlPort, Uart16550 } from '@hvkit/devices';
import { DeviceExclusionVector } from '@hvkit/iommu';
import { Chipset, PhysicalMemory, PioBus, VirtualClock } from '@hvkit/platform';
import { Cpu, Seg, SegAttr, StopReason, type CpuModel } from '@hvkit/x86';
import { loadMultiboot, type MultibootBoot, type MultibootOptions } from './multiboot.js';
import { attachSvm, attachVmx, FEATURE_CONTROL_VMX_LOCKED, virtualizationProblem, type Virtualization } from './virtualization.js';
import type { SkinitRecord, SvmCpu, SvmFeatures } from '@hvkit/svm';
import type { VmxFeatures } from '@hvkit/vmx';

export interface MinimalBoardOptions {
  /** RAM in MiB; 64 by default. */
  memoryMiB?: number;
  /** CPU model (CPUID, vendor behaviours). */
  model?: CpuModel;
  /** Called with each byte the guest writes to COM1. */
  onSerial?: (byte: number) => void;
  /** Whether to attach the isa-debug-exit port (true by default). */
  debugExit?: boolean;
  /** isa-debug-exit port base and size: 0xF4 and 4 by default (QEMU's test convention). */
  debugExitBase?: number;
  debugExitSize?: number;
  /** Guest instructions per second of virtual time; 1e9 by default. */
  instructionsPerSecond?: number;
  /**
   * Hardware virtualization: `'vmx'` gives the core Intel VT-x (`@hvkit/vmx`; the model must be
   * Intel) and, as firmware would, IA32_FEATURE_CONTROL locked with VMX enabled. `'svm'` gives it
   * AMD SVM (`@hvkit/svm`; the model must be AMD). Both throw `RangeError` when they cannot be used.
   */
  virtualization?: Virtualization;
  /** What VT-x exposes; `DEFAULT_VMX_FEATURES` of `@hvkit/vmx` by default. */
  vmxFeatures?: VmxFeatures;
  /** What SVM exposes (CPUID 8000_000Ah); `DEFAULT_SVM_FEATURES` of `@hvkit/svm` by default. */
  svmFeatures?: SvmFeatures;
}

/** How a {@link MinimalBoard.run} ended. */
export type BoardStop =
  | { readonly reason: 'exit'; readonly status: number; readonly instructions: number }
  | { readonly reason: 'shutdown' | 'halt' | 'budget'; readonly instructions: number };

export class MinimalBoard {
  readonly memory: PhysicalMemory;
  readonly io = new PioBus();
  readonly clock: VirtualClock;
  readonly cpu: Cpu;
  readonly uart: Uart16550;
  readonly debugExit: IsaDebugExit;
  readonly port92: SystemControlPort;
  readonly chipset: Chipset;
  /** Everything written to COM1, as text (Latin-1). */
  serialOutput = '';
  /**
   * With `virtualization: 'svm'`, AMD's Device Exclusion Vector (APM Vol. 2 §15.24), where SKINIT
   * protects the secure loader block (the board has no DMA devices of its own); else null.
   */
  readonly dev: DeviceExclusionVector | null;
  private readonly virtualization: Virtualization | undefined;
  private readonly vmxFeatures: VmxFeatures | undefined;
  private readonly svmFeatures: SvmFeatures | undefined;

  constructor(options: MinimalBoardOptions = {}) {
    const mib = options.memoryMiB ?? 64;
    if (!Number.isInteger(mib) || mib < 1 || mib > 3072) {
      throw new RangeError(`memory size ${mib} MiB is not an integer from 1 to 3072`);
    }
    this.memory = new PhysicalMemory({ ramSize: mib * 1024 * 1024 });
    this.memory.mapRam(0, mib * 1024 * 1024);
    this.clock = new VirtualClock({ instructionsPerSecond: options.instructionsPerSecond ?? 1e9 });
    this.cpu = new Cpu({ memory: this.memory, io: this.io, clock: this.clock, ...(options.model ? { model: options.model } : {}) });
    const virtProblem = virtualizationProblem(options.virtualization, this.cpu.model);
    if (virtProblem !== null) throw new RangeError(virtProblem);
    this.virtualization = options.virtualization;
    this.vmxFeatures = options.vmxFeatures;
    this.svmFeatures = options.svmFeatures;
    this.dev = options.virtualization === 'svm' ? new DeviceExclusionVector() : null;
    this.firmware();
    const onSerial = options.onSerial;
    this.uart = new Uart16550({
      onOutput: (b) => {
        this.serialOutput += String.fromCharCode(b);
        onSerial?.(b);
      },
    });
    this.debugExit = new IsaDebugExit({
      iobase: options.debugExitBase ?? 0xf4,
      iosize: options.debugExitSize ?? 4,
      onExit: () => this.cpu.stop(),
    });
    this.port92 = new SystemControlPort({
      onA20: (enabled) => this.cpu.setA20(enabled),
      onReset: () => this.cpu.reset(),
    });
    this.chipset = new Chipset({ pio: this.io, memory: this.memory });
    this.chipset.add(this.uart);
    if (options.debugExit !== false) this.chipset.add(this.debugExit);
    this.chipset.add(this.port92);
  }

  /**
   * Loads a Multiboot 1 kernel and puts the CPU in the state §3.2 of the specification
   * requires: 32-bit protected mode, flat 4 GiB code and data segments, paging and
   * interrupts off, A20 on, EAX = 0x2BADB002, EBX = the information structure.
   */
  bootMultiboot(image: Uint8Array, options: MultibootOptions = {}): MultibootBoot {
    const boot = loadMultiboot(this.memory, image, options);
    const cpu = this.cpu;
    cpu.reset();
    this.firmware();
    cpu.setA20(true);
    cpu.cr0 = (cpu.cr0 | 1) & ~(0x6000_0000 | 0); // PE = 1; caches on (CD = NW = 0)
    const data = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
    for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS, Seg.SS]) cpu.setSegmentRaw(s, 0x10, 0, 0xffff_ffff, data);
    cpu.setSegmentRaw(Seg.CS, 0x08, 0, 0xffff_ffff, data | SegAttr.Code);
    cpu.setEflags(0x2);
    cpu.gpr[0] = boot.eax | 0;
    cpu.gpr[3] = boot.ebx | 0;
    cpu.ripLo = boot.entry | 0;
    cpu.ripHi = 0;
    cpu.updateMode();
    this.serialOutput = '';
    this.debugExit.reset();
    return boot;
  }

  /**
   * What the board does in the firmware's stead after a reset: VT-x out of VMX operation with
   * IA32_FEATURE_CONTROL locked with VMX on; or SVM as after RESET (EFER.SVME = 0, VM_CR = 0:
   * SVM not disabled, not locked; APM Vol. 2 §15.4, §15.30.1).
   */
  private firmware(): void {
    if (this.virtualization === 'vmx') {
      attachVmx(this.cpu, this.memory, this.vmxFeatures);
      this.cpu.featureControlLo = FEATURE_CONTROL_VMX_LOCKED;
    } else if (this.virtualization === 'svm') {
      attachSvm(this.cpu, this.memory, this.svmFeatures, this.dev);
      this.dev!.unprotect(0, this.dev!.coverage);
    }
  }

  /** The core's SVM state with `virtualization: 'svm'`, else null. */
  get svm(): SvmCpu | null {
    return this.virtualization === 'svm' ? (this.cpu.ext as SvmCpu) : null;
  }

  /** The SKINIT measurements (APM Vol. 2 §15.27; no TPM: this log stands in for PCR 17), oldest first. */
  skinitLog(): readonly SkinitRecord[] {
    return this.svm?.skinitLog ?? [];
  }

  /** Runs until the guest exits through isa-debug-exit, shuts down, halts for good, or `maxInstructions` retire. */
  run(maxInstructions: number): BoardStop {
    const start = this.cpu.icount;
    let left = maxInstructions;
    for (;;) {
      const chunk = Math.min(left, 1_000_000);
      const why = this.cpu.run(chunk);
      const instructions = this.cpu.icount - start;
      left = maxInstructions - instructions;
      if (this.debugExit.exitStatus !== null) return { reason: 'exit', status: this.debugExit.exitStatus, instructions };
      if (why === StopReason.Shutdown) return { reason: 'shutdown', instructions };
      if (why === StopReason.Halt) return { reason: 'halt', instructions };
      if (left <= 0) return { reason: 'budget', instructions };
    }
  }
}
