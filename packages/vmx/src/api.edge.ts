/**
 * A typed TypeScript API for hypervisors written in TypeScript: VMXON, VMPTRLD, VMWRITE,
 * VMLAUNCH... as methods, with typed outcomes and a typed VM-exit record. (An `.edge.ts` file:
 * BigInt is allowed here, at the edge, and nowhere on the emulator's hot path.)
 *
 * ```ts
 * const host = VmxHost.create({ memoryMiB: 16 });
 * host.prepareRoot();                        // 64-bit host context, HLT loop at the host RIP
 * host.writeRevision(0x1000); host.vmxon(0x1000);
 * host.writeRevision(0x2000); host.vmclear(0x2000); host.vmptrld(0x2000);
 * host.setControls({ proc: ProcCtl.HltExiting });
 * host.writeHostState(); host.writeGuestState64({ rip: 0x20000, rsp: 0x30000 });
 * let r = host.vmlaunch();                   // { kind: 'exit', basicReason: 10 (CPUID), ... }
 * host.vmwrite(VmcsField.GuestRip, r.guestRip + BigInt(r.instructionLength));
 * r = host.vmresume();
 * ```
 *
 * It runs the very same code as the instructions: every method calls the operation function of
 * instructions.ts that the instruction's decode wrapper calls (`opVmxon` ... `opInvvpid`), on the
 * same `Cpu` and `VmxCpu`, and VM entry, non-root operation and VM exits are the emulator's own:
 * `vmlaunch`/`vmresume` run the CPU (`cpu.run`) until `vmx.onExit` fires, which stops it at the
 * instruction boundary after the VM exit, in the host context the VMCS host-state area gave it.
 * So the outcomes are exactly those of the SDM (Vol. 3C §30.2 "Conventions": VMsucceed,
 * VMfailInvalid, VMfailValid with the VM-instruction error of §30.4 Table 30-1; faults such as
 * #UD for VMXON with CR4.VMXE = 0, §30.3), reported as values here instead of RFLAGS.
 *
 * Guest-caused conditions never throw: they come back as records. Only misuse of the API (a
 * value out of range, a CPU without a VmxCpu) throws.
 *
 * Costs: this is the edge. Each call allocates its result record; 64-bit values are bigints.
 * The hot paths (the instructions themselves, VM entry and exit) allocate nothing.
 */
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { CodeMode, Cpu, CPU_FAULT, Cr0, Cr4, Efer, Flag, INTEL_CORE, Seg, SegAttr, StopReason, Vector, type CpuModel } from '@hvkit/x86';
import { DEFAULT_VMX_FEATURES, type VmxFeatures } from './caps.js';
import { EntryCtl, EXIT_REASON_ENTRY_FAILURE, ExitCtl, VmxMsr, type VmInstructionError, type VmxExitReason } from './constants.js';
import { VmcsField } from './fields.js';
import { opInvept, opInvvpid, opVmclear, opVmlaunch, opVmptrld, opVmptrst, opVmread, opVmwrite, opVmxoff, opVmxon } from './instructions.js';
import { VmxCpu } from './vmx.js';

// ---- outcomes -------------------------------------------------------------------------------

/** VMsucceed (SDM Vol. 3C §30.2: CF = PF = AF = ZF = SF = OF = 0). */
export interface VmSucceed {
  readonly kind: 'succeed';
}
/** VMfailInvalid: no current VMCS (§30.2: CF = 1). */
export interface VmFailInvalid {
  readonly kind: 'vmfail-invalid';
}
/** VMfailValid(error): the error number is in the current VMCS's VM-instruction error field (§30.2: ZF = 1; §30.4 Table 30-1). */
export interface VmFailValid {
  readonly kind: 'vmfail-valid';
  readonly error: VmInstructionError;
}
/** The instruction faulted (#UD, #GP(0), ...; SDM Vol. 3C §30.3 lists each instruction's). */
export interface VmxFault {
  readonly kind: 'fault';
  readonly vector: number;
  /** The error code, or null for exceptions without one. */
  readonly errorCode: number | null;
}
/** A VMX instruction that did not succeed. */
export type VmxFailure = VmFailInvalid | VmFailValid | VmxFault;
/** The outcome of a VMX instruction. */
export type VmxStatus = VmSucceed | VmxFailure;

/**
 * A VM exit (SDM Vol. 3C ch. 27) or a VM-entry failure that loaded the host state (§26.8: exit
 * reason 33 or 34 with bit 31 set), as the exit-information fields of the VMCS report it
 * (§24.9 "VM-Exit Information Fields").
 */
export interface VmxExit {
  readonly kind: 'exit';
  /** The exit-reason field (§24.9.1 Table 24-18): basic reason in bits 15:0, bit 31 = VM-entry failure. */
  readonly reason: number;
  /** Bits 15:0 of the exit reason (Appendix C). */
  readonly basicReason: VmxExitReason | number;
  /** Bit 31 of the exit reason: the VM entry failed (§26.8). */
  readonly entryFailure: boolean;
  readonly qualification: bigint;
  readonly guestLinearAddress: bigint;
  readonly guestPhysicalAddress: bigint;
  /** VM-exit interruption information (§24.9.2). */
  readonly interruptionInfo: number;
  readonly interruptionErrorCode: number;
  /** IDT-vectoring information (§24.9.3). */
  readonly idtVectoringInfo: number;
  readonly idtVectoringErrorCode: number;
  readonly instructionLength: number;
  readonly instructionInformation: number;
  /** The guest RIP saved by the exit (§27.3.3; the RIP field before entry for a VM-entry failure). */
  readonly guestRip: bigint;
}

/** VM entry happened but no VM exit came within the budget: the guest is still in VMX non-root operation ({@link VmxHost.continue} runs it on). */
export interface VmxNoExit {
  readonly kind: 'no-exit';
  /** Why `cpu.run` returned: 'budget', 'halt' (the guest is halted with nothing to wake it), 'shutdown'... */
  readonly stop: 'budget' | 'halt' | 'shutdown' | 'breakpoint' | 'stopped' | 'yield';
  /** Guest instructions run. */
  readonly instructions: number;
}

/** A VM exit whose host-state loading failed: VMX abort (§27.7); the processor is shut down. */
export interface VmxAbort {
  readonly kind: 'vmx-abort';
}

/** What VMLAUNCH / VMRESUME led to. */
export type VmxRunResult = VmxExit | VmxFailure | VmxNoExit | VmxAbort;

/** Thrown by {@link VmxHost.vmread} and {@link VmxHost.vmptrst} when the instruction does not succeed (their result is a value, not a status). */
export class VmxInstructionFailure extends Error {
  override readonly name = 'VmxInstructionFailure';
  constructor(
    readonly instruction: string,
    readonly failure: VmxFailure,
  ) {
    super(`${instruction}: ${describeFailure(failure)}`);
  }
}

/** A short text for a failure ("VMfailValid(12)", "#UD"). */
export function describeFailure(f: VmxFailure): string {
  if (f.kind === 'vmfail-invalid') return 'VMfailInvalid';
  if (f.kind === 'vmfail-valid') return `VMfailValid(${f.error})`;
  return `exception ${f.vector}${f.errorCode === null ? '' : ` (error code ${f.errorCode})`}`;
}

/** Throws when `status` is not VMsucceed: for hypervisor code that treats any failure as a bug. */
export function assertSucceeded(status: VmxStatus, what = 'VMX instruction'): void {
  if (status.kind !== 'succeed') throw new VmxInstructionFailure(what, status);
}

const SUCCEED: VmSucceed = Object.freeze({ kind: 'succeed' });
const FAIL_INVALID: VmFailInvalid = Object.freeze({ kind: 'vmfail-invalid' });
const STOP_NAMES = ['budget', 'halt', 'shutdown', 'breakpoint', 'stopped', 'yield'] as const;

// ---- the host area prepareRoot builds ---------------------------------------------------------

/**
 * The layout of the host area {@link VmxHost.prepareRoot} builds (offsets from its base; 64 KiB
 * in all, 4 KiB aligned): page tables mapping the first 4 GiB 1:1 with 2-MiB pages, a GDT, a
 * TSS, the host code (a HLT loop) and the host stack.
 */
export const HostArea = {
  Size: 0x1_0000,
  Pml4: 0x0000,
  Pdpt: 0x1000,
  /** Four page directories (0x2000-0x5FFF). */
  Pd: 0x2000,
  Gdt: 0x6000,
  Tss: 0x7000,
  Idt: 0x8000,
  /** `hlt; jmp $-1`: where VM exits land (the host RIP). */
  HltLoop: 0x9000,
  /** Top of the host stack (grows down to 0xA000). */
  StackTop: 0x1_0000,
} as const;

/** The host selectors prepareRoot loads (GDT entries 1, 2 and 3-4). */
export const HostSelector = { Code: 0x08, Data: 0x10, Tr: 0x18 } as const;

const TSS_LIMIT = 0x67;

export interface VmxHostOptions {
  /** RAM in MiB (16 by default). */
  memoryMiB?: number;
  /** An Intel CPU model (INTEL_CORE by default). */
  model?: CpuModel;
  features?: VmxFeatures;
}

/** Desired control bits; {@link VmxHost.setControls} adds the bits that must be 1 (default1 / allowed-0 settings). */
export interface VmxControls {
  pin?: number;
  proc?: number;
  proc2?: number;
  exit?: number;
  entry?: number;
}

/** One flat 64-bit guest context ({@link VmxHost.writeGuestState64}). */
export interface Guest64State {
  rip: number | bigint;
  rsp: number | bigint;
  rflags?: number;
  /** CR3 of the guest; the host's identity map by default. */
  cr3?: number | bigint;
}

// ---- the API ---------------------------------------------------------------------------------

/**
 * A hypervisor's view of one logical processor with VT-x: the typed VMX instructions, plus
 * helpers to set up a host context and the usual VMCS contents.
 */
export class VmxHost {
  readonly cpu: Cpu;
  readonly vmx: VmxCpu;
  /** The CPU's physical memory. */
  readonly memory: PhysicalMemory;
  /** Base of the host area once {@link prepareRoot} ran, else -1. */
  hostArea = -1;
  private exited = false;
  private readonly onExit = (): void => {
    this.exited = true;
    this.cpu.stop();
  };

  /** A host for `cpu`, which must have a {@link VmxCpu} attached as its extension. */
  constructor(cpu: Cpu) {
    const ext = cpu.ext;
    if (!(ext instanceof VmxCpu)) throw new TypeError('VmxHost needs a Cpu with a VmxCpu attached (cpu.ext = vmx; vmx.attach(cpu))');
    this.cpu = cpu;
    this.vmx = ext;
    this.memory = cpu.memory;
    ext.onExit = this.onExit;
  }

  /** Creates RAM, an Intel `Cpu` and its `VmxCpu`, and a host for them. */
  static create(options: VmxHostOptions = {}): VmxHost {
    const mib = options.memoryMiB ?? 16;
    if (!Number.isInteger(mib) || mib < 1 || mib > 3072) throw new RangeError(`memory size ${mib} MiB is not an integer from 1 to 3072`);
    const model = options.model ?? INTEL_CORE;
    if (model.vendor !== 'intel') throw new RangeError(`VT-x needs an Intel CPU model; ${model.name} is ${model.vendorString}`);
    const memory = new PhysicalMemory({ ramSize: mib << 20 });
    memory.mapRam(0, mib << 20);
    const cpu = new Cpu({ memory, io: new PioBus(), model });
    const vmx = new VmxCpu(options.features ?? DEFAULT_VMX_FEATURES, {
      read32: (a: number) => memory.read32(a as Hpa),
      write32: (a: number, v: number) => memory.write32(a as Hpa, v),
    });
    cpu.ext = vmx;
    vmx.attach(cpu);
    return new VmxHost(cpu);
  }

  // ---- host context --------------------------------------------------------------------------

  /**
   * Puts the core in a 64-bit host context in which VMXON may run (SDM Vol. 3C §23.7 "Enabling
   * and Entering VMX Operation", §23.8 "Restrictions on VMX Operation"): CR0 with PE, NE, PG
   * (and WP, ET, MP), CR4 with PAE and VMXE, EFER.LME/LMA, CPL 0, flat segments from a GDT in
   * the host area, a busy 64-bit TSS in TR, page tables mapping the first 4 GiB 1:1 with 2-MiB
   * pages, RSP at the top of the host stack and RIP at a HLT loop. IA32_FEATURE_CONTROL, if not
   * locked yet, is locked with VMX outside SMX enabled (as firmware does). `base` (4 KiB
   * aligned, 64 KiB in RAM below 4 GiB) is where the area goes: the last 64 KiB of RAM below
   * 4 GiB by default.
   */
  prepareRoot(base?: number): this {
    const ram = this.memory.ramSize;
    const at = base ?? Math.min(ram, 0x1_0000_0000) - HostArea.Size;
    if (!Number.isInteger(at) || at < 0 || at % 0x1000 !== 0 || at + HostArea.Size > Math.min(ram, 0x1_0000_0000)) {
      throw new RangeError(`host area 0x${at.toString(16)}: needs 64 KiB of RAM below 4 GiB at a 4 KiB boundary`);
    }
    this.hostArea = at;
    this.fill(at, HostArea.Size, 0);
    // Paging: PML4[0] -> PDPT; PDPT[0..3] -> four PDs of 2-MiB pages (P, R/W, PS) covering 4 GiB.
    this.write64(at + HostArea.Pml4, at + HostArea.Pdpt + 0x3);
    for (let i = 0; i < 4; i++) {
      const pd = at + HostArea.Pd + i * 0x1000;
      this.write64(at + HostArea.Pdpt + i * 8, pd + 0x3);
      for (let j = 0; j < 512; j++) this.write64(pd + j * 8, (i * 512 + j) * 0x20_0000 + 0x83);
    }
    // GDT: null, 64-bit code (0x08), data (0x10), 64-bit TSS (0x18, 16 bytes; busy).
    const gdt = at + HostArea.Gdt;
    this.write64(gdt + 0x08, 0x00af_9b00_0000_ffffn);
    this.write64(gdt + 0x10, 0x00cf_9300_0000_ffffn);
    const tss = at + HostArea.Tss;
    const tssDesc = BigInt(TSS_LIMIT) | (BigInt(tss & 0xff_ffff) << 16n) | (0x8bn << 40n) | (BigInt((tss >>> 24) & 0xff) << 56n);
    this.write64(gdt + 0x18, tssDesc);
    this.write64(gdt + 0x20, BigInt(Math.floor(tss / 0x1_0000_0000)));
    this.memory.write((tss + 102) as Hpa, Uint8Array.of(0x68, 0)); // I/O map base = 104: no bitmap
    // Host code: hlt; jmp $-1 (back to the hlt).
    this.memory.write((at + HostArea.HltLoop) as Hpa, Uint8Array.of(0xf4, 0xeb, 0xfd));

    const cpu = this.cpu;
    cpu.efer = Efer.LME | Efer.LMA | Efer.NXE;
    cpu.cr4 = Cr4.PAE | Cr4.VMXE | Cr4.OSFXSR | Cr4.OSXMMEXCPT;
    cpu.cr3Lo = at + HostArea.Pml4;
    cpu.cr3Hi = 0;
    cpu.cr0 = (Cr0.PE | Cr0.MP | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.PG) | 0;
    cpu.gdtrBaseLo = gdt;
    cpu.gdtrBaseHi = 0;
    cpu.gdtrLimit = 0x27;
    cpu.idtrBaseLo = at + HostArea.Idt;
    cpu.idtrBaseHi = 0;
    cpu.idtrLimit = 0;
    const data = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
    for (const s of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) cpu.setSegmentRaw(s, HostSelector.Data, 0, 0xffff_ffff, data);
    cpu.setSegmentRaw(Seg.CS, HostSelector.Code, 0, 0xffff_ffff, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.L | SegAttr.G);
    cpu.setSegmentRaw(Seg.TR, HostSelector.Tr, tss, TSS_LIMIT, SegAttr.P | 11);
    cpu.setSegmentRaw(Seg.LDTR, 0, 0, 0, 0);
    cpu.setEflags(0x2);
    cpu.gpr[4] = at + HostArea.StackTop; // RSP
    cpu.gprHi[4] = 0;
    cpu.ripLo = at + HostArea.HltLoop;
    cpu.ripHi = 0;
    cpu.halted = false;
    if ((cpu.featureControlLo & 1) === 0) cpu.featureControlLo = 0x5; // lock | VMX outside SMX
    cpu.contextChanged();
    cpu.flushTlb(true);
    return this;
  }

  // ---- the VMX instructions ------------------------------------------------------------------

  /** VMXON with the VMXON region at `region` (SDM Vol. 3C §30.3 "VMXON"). */
  vmxon(region: number | bigint): VmxStatus {
    const ptr = address(region);
    const fault = this.vmxonChecks();
    return fault ?? this.status(() => opVmxon(this.vmx, this.cpu, ptr));
  }

  /** VMXOFF. */
  vmxoff(): VmxStatus {
    return this.rootStatus(() => opVmxoff(this.vmx, this.cpu));
  }

  /** VMCLEAR of the VMCS at `region`. */
  vmclear(region: number | bigint): VmxStatus {
    const ptr = address(region);
    return this.rootStatus(() => opVmclear(this.vmx, this.cpu, ptr));
  }

  /** VMPTRLD: makes the VMCS at `region` current. */
  vmptrld(region: number | bigint): VmxStatus {
    const ptr = address(region);
    return this.rootStatus(() => opVmptrld(this.vmx, this.cpu, ptr));
  }

  /** VMPTRST: the current-VMCS pointer, or null for FFFFFFFF_FFFFFFFFH (no current VMCS). Throws {@link VmxInstructionFailure} on a fault. */
  vmptrst(): number | null {
    const r = this.rootInstruction(() => opVmptrst(this.vmx));
    if (typeof r !== 'number') throw new VmxInstructionFailure('VMPTRST', r);
    return r === -1 ? null : r;
  }

  /**
   * VMREAD of `field` as a number (16-, 32-bit fields; 64-bit and natural-width ones below
   * 2^53). Throws {@link VmxInstructionFailure} when VMREAD fails (no current VMCS:
   * VMfailInvalid; a field hvkit does not support: VMfailValid(12)), and RangeError for a
   * value from 2^53 up (use {@link vmread64}).
   */
  vmread(field: VmcsField | number): number {
    const v = this.vmread64(field);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`VMREAD ${hex(field)}: 0x${v.toString(16)} does not fit a number exactly; use vmread64`);
    return Number(v);
  }

  /** VMREAD of `field` as an unsigned 64-bit value (the full natural width on this 64-bit processor). */
  vmread64(field: VmcsField | number): bigint {
    const vmx = this.vmx;
    const cpu = this.cpu;
    let lo = 0;
    const r = this.rootInstruction(() => {
      lo = opVmread(vmx, cpu, field);
      return vmx.outcome;
    });
    if (typeof r !== 'number') throw new VmxInstructionFailure(`VMREAD ${hex(field)}`, r);
    const failure = outcomeOf(r);
    if (failure !== null) throw new VmxInstructionFailure(`VMREAD ${hex(field)}`, failure);
    // opVmread leaves the high half of a 64-bit or natural-width field in readHi (0 otherwise).
    return pair(lo, vmx.readHi);
  }

  /** VMWRITE of `value` (unsigned, or negative as two's complement) to `field`. */
  vmwrite(field: VmcsField | number, value: number | bigint): VmxStatus {
    const v = BigInt.asUintN(64, typeof value === 'bigint' ? value : BigInt(value));
    const lo = Number(v & 0xffff_ffffn) | 0;
    const hi = Number(v >> 32n) | 0;
    return this.rootStatus(() => opVmwrite(this.vmx, this.cpu, field, lo, hi));
  }

  /** INVEPT of `type` (1 single-context, 2 all-context) for `eptp` (SDM Vol. 3C §30.3 "INVEPT"). */
  invept(type: number, eptp: number | bigint = 0): VmxStatus {
    const v = BigInt.asUintN(64, BigInt(eptp));
    return this.rootStatus(() => opInvept(this.vmx, this.cpu, type, Number(v & 0xffff_ffffn) | 0, Number(v >> 32n) | 0));
  }

  /** INVVPID of `type` (0 individual-address, 1 single-context, 2 all-context, 3 single-context-retaining-globals). */
  invvpid(type: number, vpid: number, linearAddress: number | bigint = 0): VmxStatus {
    const v = BigInt.asUintN(64, BigInt(linearAddress));
    return this.rootStatus(() => opInvvpid(this.vmx, this.cpu, type, vpid, Number(v & 0xffff_ffffn) | 0, Number(v >> 32n) | 0));
  }

  /** VMLAUNCH, then runs the guest until a VM exit (at most `budget` instructions). */
  vmlaunch(budget?: number): VmxRunResult {
    return this.enter(true, budget);
  }

  /** VMRESUME, then runs the guest until a VM exit (at most `budget` instructions). */
  vmresume(budget?: number): VmxRunResult {
    return this.enter(false, budget);
  }

  /** Runs a guest that is still in VMX non-root operation (after a {@link VmxNoExit}) until a VM exit. */
  continue(budget?: number): VmxRunResult {
    if (!this.cpu.guestMode) throw new Error('no guest is running: VMLAUNCH or VMRESUME first');
    this.exited = false;
    return this.runGuest(budget ?? DEFAULT_BUDGET);
  }

  // ---- capability MSRs and VMCS set-up helpers ------------------------------------------------------

  /** RDMSR of a VMX capability MSR (SDM Vol. 3C Appendix A), or IA32_FEATURE_CONTROL; null when the CPU has no such MSR. */
  readMsr(msr: number): bigint | null {
    const cpu = this.cpu;
    if (msr === VmxMsr.Ia32FeatureControl) return BigInt(cpu.featureControlLo >>> 0);
    if (!this.vmx.readMsr(cpu, msr)) return null;
    return pair(cpu.msrLo, cpu.msrHi);
  }

  /** Bits 30:0 of IA32_VMX_BASIC: the VMCS revision identifier (Appendix A.1). */
  get revisionId(): number {
    return Number(this.readMsr(VmxMsr.Ia32VmxBasic)! & 0x7fff_ffffn);
  }

  /** Writes the VMCS revision identifier into the first dword of a VMXON or VMCS region (§24.2, §24.11.5). */
  writeRevision(region: number): void {
    this.memory.write32(region as Hpa, this.revisionId);
  }

  /**
   * Writes the five control words of the current VMCS: each requested value with the bits that
   * must be 1 added (the allowed-0 settings of the TRUE capability MSRs when IA32_VMX_BASIC bit 55
   * says they exist, Appendix A.3-A.5). Throws RangeError when a requested bit may not be 1.
   * "Activate secondary controls" is set when `proc2` is non-zero.
   */
  setControls(controls: VmxControls): VmxStatus {
    const trueMsrs = (this.readMsr(VmxMsr.Ia32VmxBasic)! >> 55n) & 1n;
    const t = trueMsrs === 1n;
    const proc2 = controls.proc2 ?? 0;
    const list: [VmcsField, number, number, string][] = [
      [VmcsField.PinBasedVmExecControl, t ? VmxMsr.Ia32VmxTruePinbasedCtls : VmxMsr.Ia32VmxPinbasedCtls, controls.pin ?? 0, 'pin-based'],
      [VmcsField.CpuBasedVmExecControl, t ? VmxMsr.Ia32VmxTrueProcbasedCtls : VmxMsr.Ia32VmxProcbasedCtls, (controls.proc ?? 0) | (proc2 !== 0 ? 1 << 31 : 0), 'primary processor-based'],
      [VmcsField.VmExitControls, t ? VmxMsr.Ia32VmxTrueExitCtls : VmxMsr.Ia32VmxExitCtls, controls.exit ?? 0, 'VM-exit'],
      [VmcsField.VmEntryControls, t ? VmxMsr.Ia32VmxTrueEntryCtls : VmxMsr.Ia32VmxEntryCtls, controls.entry ?? 0, 'VM-entry'],
    ];
    if (proc2 !== 0) list.push([VmcsField.SecondaryVmExecControl, VmxMsr.Ia32VmxProcbasedCtls2, proc2, 'secondary processor-based']);
    for (const [field, msr, want, name] of list) {
      const cap = this.readMsr(msr);
      if (cap === null) throw new RangeError(`the ${name} controls: capability MSR ${hex(msr)} is not implemented`);
      const allowed0 = Number(cap & 0xffff_ffffn);
      const allowed1 = Number(cap >> 32n);
      const bad = want & ~allowed1;
      if (bad !== 0) throw new RangeError(`the ${name} controls: bits ${hex(bad >>> 0)} may not be 1 on this processor (allowed-1 ${hex(allowed1 >>> 0)})`);
      const s = this.vmwrite(field, (want | allowed0) >>> 0);
      if (s.kind !== 'succeed') return s;
    }
    return SUCCEED;
  }

  /**
   * Writes the host-state area (SDM Vol. 3C §24.5) from the core's current context (the one
   * {@link prepareRoot} made): CR0/CR3/CR4, the selectors, FS/GS/TR/GDTR/IDTR bases, SYSENTER,
   * IA32_PAT and IA32_EFER, RSP, and RIP = the HLT loop of the host area (or `rip`). Also sets
   * the "host address-space size" exit control, as a 64-bit host needs (§26.2.2).
   */
  writeHostState(rip?: number | bigint, rsp?: number | bigint): VmxStatus {
    const cpu = this.cpu;
    const area = this.hostArea;
    const hostRip = rip ?? (area >= 0 ? area + HostArea.HltLoop : pair(cpu.ripLo, cpu.ripHi));
    const hostRsp = rsp ?? (area >= 0 ? area + HostArea.StackTop : pair(cpu.gpr[4]!, cpu.gprHi[4]!));
    const w: [VmcsField, number | bigint][] = [
      [VmcsField.HostCr0, cpu.cr0 >>> 0],
      [VmcsField.HostCr3, pair(cpu.cr3Lo, cpu.cr3Hi)],
      [VmcsField.HostCr4, cpu.cr4 >>> 0],
      [VmcsField.HostEsSelector, cpu.segSel[Seg.ES]! & 0xf8],
      [VmcsField.HostCsSelector, cpu.segSel[Seg.CS]! & 0xf8],
      [VmcsField.HostSsSelector, cpu.segSel[Seg.SS]! & 0xf8],
      [VmcsField.HostDsSelector, cpu.segSel[Seg.DS]! & 0xf8],
      [VmcsField.HostFsSelector, cpu.segSel[Seg.FS]! & 0xf8],
      [VmcsField.HostGsSelector, cpu.segSel[Seg.GS]! & 0xf8],
      [VmcsField.HostTrSelector, cpu.segSel[Seg.TR]! & 0xf8],
      [VmcsField.HostFsBase, pair(cpu.segBase[Seg.FS]!, cpu.segBaseHi[Seg.FS]!)],
      [VmcsField.HostGsBase, pair(cpu.segBase[Seg.GS]!, cpu.segBaseHi[Seg.GS]!)],
      [VmcsField.HostTrBase, pair(cpu.segBase[Seg.TR]!, cpu.segBaseHi[Seg.TR]!)],
      [VmcsField.HostGdtrBase, pair(cpu.gdtrBaseLo, cpu.gdtrBaseHi)],
      [VmcsField.HostIdtrBase, pair(cpu.idtrBaseLo, cpu.idtrBaseHi)],
      [VmcsField.HostIa32SysenterCs, cpu.sysenterCs >>> 0],
      [VmcsField.HostIa32SysenterEsp, pair(cpu.sysenterEspLo, cpu.sysenterEspHi)],
      [VmcsField.HostIa32SysenterEip, pair(cpu.sysenterEipLo, cpu.sysenterEipHi)],
      [VmcsField.HostIa32Pat, pair(cpu.patLo, cpu.patHi)],
      [VmcsField.HostIa32Efer, cpu.efer >>> 0],
      [VmcsField.HostRsp, hostRsp],
      [VmcsField.HostRip, hostRip],
    ];
    for (const [field, value] of w) {
      const s = this.vmwrite(field, value);
      if (s.kind !== 'succeed') return s;
    }
    if ((cpu.efer & Efer.LMA) !== 0) {
      const exit = this.vmread(VmcsField.VmExitControls);
      return this.vmwrite(VmcsField.VmExitControls, (exit | ExitCtl.HostAddressSpaceSize) >>> 0);
    }
    return SUCCEED;
  }

  /**
   * Writes a flat 64-bit guest context into the guest-state area (SDM Vol. 3C §24.4) that
   * passes the VM-entry checks of §26.3.1: the host's CR0/CR4 (and CR3 unless given), the host
   * area's selectors with flat 64-bit code and data segments, the host area's GDT/IDT/TSS, LDTR
   * unusable, DR7 = 400H, no blocking, active, VMCS link pointer FFFFFFFF_FFFFFFFFH, and the
   * "IA-32e mode guest" entry control.
   */
  writeGuestState64(state: Guest64State): VmxStatus {
    const cpu = this.cpu;
    if (this.hostArea < 0) throw new Error('writeGuestState64: prepareRoot first (the guest uses the host area GDT, TSS and page tables)');
    const code64 = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.L | SegAttr.G;
    const data = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
    const w: [VmcsField, number | bigint][] = [
      [VmcsField.GuestCr0, cpu.cr0 >>> 0],
      [VmcsField.GuestCr3, state.cr3 ?? pair(cpu.cr3Lo, cpu.cr3Hi)],
      [VmcsField.GuestCr4, cpu.cr4 >>> 0],
      [VmcsField.GuestDr7, 0x400],
      [VmcsField.GuestRsp, state.rsp],
      [VmcsField.GuestRip, state.rip],
      [VmcsField.GuestRflags, state.rflags ?? 0x2],
      [VmcsField.GuestCsSelector, HostSelector.Code],
      [VmcsField.GuestCsBase, 0],
      [VmcsField.GuestCsLimit, 0xffff_ffff],
      [VmcsField.GuestCsArBytes, code64],
      [VmcsField.GuestTrSelector, HostSelector.Tr],
      [VmcsField.GuestTrBase, this.hostArea + HostArea.Tss],
      [VmcsField.GuestTrLimit, TSS_LIMIT],
      [VmcsField.GuestTrArBytes, SegAttr.P | 11],
      [VmcsField.GuestLdtrSelector, 0],
      [VmcsField.GuestLdtrBase, 0],
      [VmcsField.GuestLdtrLimit, 0],
      [VmcsField.GuestLdtrArBytes, 1 << 16], // unusable
      [VmcsField.GuestGdtrBase, this.hostArea + HostArea.Gdt],
      [VmcsField.GuestGdtrLimit, 0x27],
      [VmcsField.GuestIdtrBase, this.hostArea + HostArea.Idt],
      [VmcsField.GuestIdtrLimit, 0],
      [VmcsField.GuestIa32Debugctl, 0],
      [VmcsField.GuestIa32Pat, pair(cpu.patLo, cpu.patHi)],
      [VmcsField.GuestIa32Efer, cpu.efer >>> 0],
      [VmcsField.GuestSysenterCs, 0],
      [VmcsField.GuestSysenterEsp, 0],
      [VmcsField.GuestSysenterEip, 0],
      [VmcsField.GuestInterruptibilityInfo, 0],
      [VmcsField.GuestActivityState, 0],
      [VmcsField.GuestPendingDbgExceptions, 0],
      [VmcsField.VmcsLinkPointer, 0xffff_ffff_ffff_ffffn],
    ];
    for (const [sel, base, limit, ar] of [
      [VmcsField.GuestEsSelector, VmcsField.GuestEsBase, VmcsField.GuestEsLimit, VmcsField.GuestEsArBytes],
      [VmcsField.GuestSsSelector, VmcsField.GuestSsBase, VmcsField.GuestSsLimit, VmcsField.GuestSsArBytes],
      [VmcsField.GuestDsSelector, VmcsField.GuestDsBase, VmcsField.GuestDsLimit, VmcsField.GuestDsArBytes],
      [VmcsField.GuestFsSelector, VmcsField.GuestFsBase, VmcsField.GuestFsLimit, VmcsField.GuestFsArBytes],
      [VmcsField.GuestGsSelector, VmcsField.GuestGsBase, VmcsField.GuestGsLimit, VmcsField.GuestGsArBytes],
    ] as const) {
      w.push([sel, HostSelector.Data], [base, 0], [limit, 0xffff_ffff], [ar, data]);
    }
    for (const [field, value] of w) {
      const s = this.vmwrite(field, value);
      if (s.kind !== 'succeed') return s;
    }
    const entry = this.vmread(VmcsField.VmEntryControls);
    return this.vmwrite(VmcsField.VmEntryControls, (entry | EntryCtl.Ia32eModeGuest) >>> 0);
  }

  // ---- memory helpers ----------------------------------------------------------------------------

  write(address: number, bytes: ArrayLike<number>): void {
    this.memory.write(address as Hpa, Uint8Array.from(bytes));
  }
  fill(address: number, length: number, value = 0): void {
    this.memory.write(address as Hpa, new Uint8Array(length).fill(value));
  }
  read32(address: number): number {
    return this.memory.read32(address as Hpa) >>> 0;
  }
  write32(address: number, value: number): void {
    this.memory.write32(address as Hpa, value >>> 0);
  }
  write64(address: number, value: number | bigint): void {
    const v = BigInt.asUintN(64, BigInt(value));
    this.memory.write32(address as Hpa, Number(v & 0xffff_ffffn));
    this.memory.write32((address + 4) as Hpa, Number(v >> 32n));
  }

  // ---- internals ----------------------------------------------------------------------------------

  /** Runs an operation function; a fault it raises comes back as a {@link VmxFault}. */
  private call(op: () => number): number | VmxFault {
    const cpu = this.cpu;
    try {
      return op();
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      const vector = cpu.excVector;
      const errorCode = cpu.excHasError ? cpu.excError : null;
      cpu.excVector = -1;
      return { kind: 'fault', vector, errorCode };
    }
  }

  /**
   * The checks the instructions make before their operation in VMX root operation (SDM Vol. 3C
   * §30.3, each instruction's "Operation"): #UD outside VMX operation, with CR0.PE = 0, in
   * virtual-8086 mode or in compatibility mode; #GP(0) at CPL > 0. Then the operation.
   */
  private rootInstruction(op: () => number): number | VmxFault {
    const cpu = this.cpu;
    if (cpu.guestMode) throw new Error('the typed VMX API runs in VMX root operation; a guest is running (continue() runs it on)');
    if (!this.vmx.inVmx || (cpu.cr0 & Cr0.PE) === 0 || (cpu.flags & Flag.VM) !== 0 || compatibilityMode(cpu)) return fault(Vector.UD, null);
    if (cpu.cpl !== 0) return fault(Vector.GP, 0);
    return this.call(op);
  }

  private rootStatus(op: () => number): VmxStatus {
    const r = this.rootInstruction(op);
    if (typeof r !== 'number') return r;
    return outcomeOf(r) ?? SUCCEED;
  }

  /**
   * VMXON's checks before its operation (SDM Vol. 3C §30.3 "VMXON"): #UD with CR0.PE = 0,
   * CR4.VMXE = 0, RFLAGS.VM = 1 or in compatibility mode; outside VMX operation #GP(0) at
   * CPL > 0, with A20M, with CR0/CR4 bits the FIXED MSRs forbid (Appendix A.7, A.8), or with
   * IA32_FEATURE_CONTROL unlocked or without "VMX outside SMX" (§23.7). In VMX root operation
   * the operation fails with VMfailValid(15).
   */
  private vmxonChecks(): VmxFault | null {
    const cpu = this.cpu;
    if (cpu.guestMode) throw new Error('the typed VMX API runs in VMX root operation; a guest is running (continue() runs it on)');
    if ((cpu.cr0 & Cr0.PE) === 0 || (cpu.cr4 & Cr4.VMXE) === 0 || (cpu.flags & Flag.VM) !== 0 || compatibilityMode(cpu)) return fault(Vector.UD, null);
    if (this.vmx.inVmx) return cpu.cpl !== 0 ? fault(Vector.GP, 0) : null;
    const c = this.vmx.caps;
    if (cpu.cpl !== 0 || !cpu.a20) return fault(Vector.GP, 0);
    if ((cpu.cr0 & c.cr0Fixed0) !== c.cr0Fixed0 || (cpu.cr0 & ~c.cr0Fixed1) !== 0) return fault(Vector.GP, 0);
    if ((cpu.cr4 & c.cr4Fixed0) !== c.cr4Fixed0 || (cpu.cr4 & ~c.cr4Fixed1) !== 0) return fault(Vector.GP, 0);
    if ((cpu.featureControlLo & 0x5) !== 0x5) return fault(Vector.GP, 0);
    return null;
  }

  private status(op: () => number): VmxStatus {
    const r = this.call(op);
    if (typeof r !== 'number') return r;
    return outcomeOf(r) ?? SUCCEED;
  }

  private enter(launch: boolean, budget: number | undefined): VmxRunResult {
    if (this.cpu.guestMode) throw new Error(`${launch ? 'VMLAUNCH' : 'VMRESUME'}: a guest is already running (continue() runs it on)`);
    this.exited = false;
    const r = this.rootInstruction(() => opVmlaunch(this.vmx, this.cpu, launch));
    if (typeof r !== 'number') return r;
    // A VM-entry failure (§26.8) or an exit during entry (§26.6, §26.7) already left.
    if (this.exited) return this.exitRecord();
    const failure = outcomeOf(r);
    if (failure !== null) return failure;
    if (!this.cpu.guestMode) {
      // Still in root operation without an exit: the instruction completed with a VMfail, which
      // RFLAGS records (§30.2) whatever the operation returned.
      const flagged = outcomeOf(flagsOutcome(this.cpu, this.vmx));
      if (flagged !== null) return flagged;
      return this.cpu.shutdown ? { kind: 'vmx-abort' } : this.exitRecord();
    }
    return this.runGuest(budget ?? DEFAULT_BUDGET);
  }

  private runGuest(budget: number): VmxRunResult {
    const cpu = this.cpu;
    const start = cpu.icount;
    let left = budget;
    let why: StopReason = StopReason.Budget;
    while (left > 0 && !this.exited) {
      why = cpu.run(Math.min(left, 10_000_000));
      left = budget - (cpu.icount - start);
      if (this.exited || why !== StopReason.Budget) break;
    }
    if (this.exited) return this.exitRecord();
    if (cpu.shutdown && !cpu.guestMode) return { kind: 'vmx-abort' };
    return { kind: 'no-exit', stop: STOP_NAMES[why] ?? 'stopped', instructions: cpu.icount - start };
  }

  private exitRecord(): VmxExit | VmxAbort {
    const v = this.vmx.current;
    if (v === null || this.cpu.shutdown) return { kind: 'vmx-abort' };
    const reason = v.get(VmcsField.VmExitReason) >>> 0;
    const wide = (f: number): bigint => (BigInt(v.getHi(f) >>> 0) << 32n) | BigInt(v.get(f) >>> 0);
    return {
      kind: 'exit',
      reason,
      basicReason: reason & 0xffff,
      entryFailure: (reason & EXIT_REASON_ENTRY_FAILURE) !== 0,
      qualification: wide(VmcsField.ExitQualification),
      guestLinearAddress: wide(VmcsField.GuestLinearAddress),
      guestPhysicalAddress: wide(VmcsField.GuestPhysicalAddress),
      interruptionInfo: v.get(VmcsField.VmExitInterruptionInfo) >>> 0,
      interruptionErrorCode: v.get(VmcsField.VmExitInterruptionErrorCode) >>> 0,
      idtVectoringInfo: v.get(VmcsField.IdtVectoringInfo) >>> 0,
      idtVectoringErrorCode: v.get(VmcsField.IdtVectoringErrorCode) >>> 0,
      instructionLength: v.get(VmcsField.VmExitInstructionLength) >>> 0,
      instructionInformation: v.get(VmcsField.VmExitInstructionInfo) >>> 0,
      guestRip: wide(VmcsField.GuestRip),
    };
  }
}

/** Instructions a VMLAUNCH/VMRESUME runs the guest for by default before returning {@link VmxNoExit}. */
const DEFAULT_BUDGET = 100_000_000;

/** The outcome number of an operation function (0, -1, n > 0) as a failure, or null for VMsucceed. */
function outcomeOf(r: number): VmxFailure | null {
  if (r === 0) return null;
  if (r < 0) return FAIL_INVALID;
  return { kind: 'vmfail-valid', error: r as VmInstructionError };
}

/** The outcome RFLAGS show (§30.2): CF = 1 VMfailInvalid (-1), ZF = 1 VMfailValid with the current VMCS's VM-instruction error, else 0. */
function flagsOutcome(cpu: Cpu, vmx: VmxCpu): number {
  const f = cpu.getEflags();
  if ((f & Flag.CF) !== 0) return -1;
  if ((f & Flag.ZF) !== 0) return vmx.current === null ? -1 : vmx.current.get(VmcsField.VmInstructionError);
  return 0;
}

function fault(vector: number, errorCode: number | null): VmxFault {
  return { kind: 'fault', vector, errorCode };
}

/** IA-32e mode with CS.L = 0 (SDM Vol. 3A §2.2.1): the VMX instructions other than VMCALL/VMFUNC #UD there. */
function compatibilityMode(cpu: Cpu): boolean {
  return (cpu.efer & Efer.LMA) !== 0 && cpu.mode !== CodeMode.Bits64;
}

function address(v: number | bigint): number {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`physical address ${n} is out of range`);
  return Number(n);
}

function pair(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
