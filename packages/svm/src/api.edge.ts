/**
 * A typed TypeScript API for hypervisors written in TypeScript on AMD SVM: the VMCB's fields as
 * named accessors ({@link Vmcb}, by the APM's Appendix B names), and the SVM instructions as
 * methods of {@link SvmHost} with typed outcomes, VMRUN returning a typed #VMEXIT record. (An
 * `.edge.ts` file: BigInt is allowed here, at the edge, and nowhere on the emulator's hot path.)
 *
 * ```ts
 * const host = SvmHost.create({ memoryMiB: 16 }).prepareHost();  // 64-bit host, HLT loop at the host RIP
 * host.enable();                                                  // EFER.SVME, VM_HSAVE_PA
 * const vmcb = host.setupGuest64(0x10_0000, { rip: 0x20_0000, rsp: 0x30_0000 });
 * vmcb.interceptMisc1 |= InterceptMisc1.Cpuid | InterceptMisc1.Hlt;
 * let r = host.vmrun(0x10_0000);       // { kind: 'exit', exitCode: 0x72, exitName: 'Cpuid', ... }
 * vmcb.rip = r.nextRip;                // skip the CPUID
 * r = host.vmrun(0x10_0000);
 * ```
 *
 * It runs the very same code as the instructions: each method calls the operation function that
 * the instruction's decode path calls (`opVmrun` of vmrun.ts, `opVmload`, `opVmsave`, `opStgi`,
 * `opClgi`, `opInvlpga` of instructions.ts) on the same `Cpu` and `SvmCpu`, after the checks the
 * instruction makes first (APM Vol. 3: #UD with EFER.SVME = 0 or outside protected mode, #GP(0)
 * at CPL > 0, #GP(0) for a VMCB address not 4 KiB aligned or beyond MAXPHYADDR). Guest mode and
 * #VMEXIT are the emulator's own: `vmrun` runs the CPU (`cpu.run`) until `svm.onExit` fires, which
 * stops it at the boundary after the #VMEXIT, in the host context restored from the host save
 * area (APM Vol. 2 §15.6): RIP at the host area's HLT loop (the "next RIP" VMRUN saved), RAX the
 * VMCB address.
 *
 * Guest-caused conditions never throw: they come back as records (VMEXIT_INVALID is an exit
 * record with `exitCode` -1). Only misuse of the API (a value out of range, a CPU without an
 * SvmCpu, a VMRUN while a guest runs) throws.
 *
 * Costs: this is the edge. Each call allocates its result record; 64-bit values are bigints.
 */
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { AMD_ZEN, Cpu, CPU_FAULT, Cr0, Efer, Flag, Seg, SegAttr, StopReason, Vector, type CpuModel } from '@hvkit/x86';
import { belowMaxPhyAddr, DEFAULT_SVM_FEATURES, svmAllowsEnable, writeSvmMsr, type SvmFeatures } from './caps.js';
import { InterceptMisc2, SvmExitCode, SvmMsr } from './constants.js';
import { opClgi, opInvlpga, opStgi, opVmload, opVmsave } from './instructions.js';
import { SvmCpu } from './svm.js';
import { attribFromCore, VmcbOffset, VmcbSeg } from './vmcb.js';
import { opVmrun } from './vmrun.js';

// ---- the VMCB ---------------------------------------------------------------------------------

/** A segment register in the VMCB state save area (APM Table B-2: selector, attrib, limit, base). */
export interface VmcbSegment {
  selector: number;
  /** The VMCB's 12-bit attribute format (descriptor bits 47:40 in 7:0, bits 55:52 in 11:8). */
  attrib: number;
  limit: number;
  base: bigint;
}

/** A descriptor-table register (GDTR, IDTR) in the state save area: limit and base. */
export interface VmcbTable {
  limit: number;
  base: bigint;
}

/**
 * One VMCB (a 4 KiB page of host-physical memory; APM Vol. 2 Appendix B): every field of
 * {@link VmcbOffset} as an accessor named after it. 64-bit fields are bigints (EXITCODE is a
 * signed number: VMEXIT_INVALID is -1); 8-, 16- and 32-bit fields and flag words are numbers.
 * Reads and writes go straight to memory: a VMCB is the hypervisor's memory.
 */
export class Vmcb {
  constructor(
    readonly memory: PhysicalMemory,
    /** Host-physical address of the VMCB (4 KiB aligned). */
    readonly pa: number,
  ) {
    if (!Number.isInteger(pa) || pa < 0 || pa % 0x1000 !== 0) throw new RangeError(`VMCB address 0x${pa.toString(16)} is not 4 KiB aligned`);
  }

  // ---- raw access ----
  read8(off: number): number {
    return this.memory.read8((this.pa + off) as Hpa);
  }
  write8(off: number, v: number): void {
    this.memory.write8((this.pa + off) as Hpa, v & 0xff);
  }
  read16(off: number): number {
    return this.memory.read16((this.pa + off) as Hpa);
  }
  write16(off: number, v: number): void {
    this.memory.write16((this.pa + off) as Hpa, v & 0xffff);
  }
  read32(off: number): number {
    return this.memory.read32((this.pa + off) as Hpa) >>> 0;
  }
  write32(off: number, v: number): void {
    this.memory.write32((this.pa + off) as Hpa, v >>> 0);
  }
  read64(off: number): bigint {
    return (BigInt(this.read32(off + 4)) << 32n) | BigInt(this.read32(off));
  }
  write64(off: number, v: number | bigint): void {
    const b = BigInt.asUintN(64, BigInt(v));
    this.write32(off, Number(b & 0xffff_ffffn));
    this.write32(off + 4, Number(b >> 32n));
  }
  /** Zeroes the whole VMCB. */
  clear(): this {
    this.memory.write(this.pa as Hpa, new Uint8Array(0x1000));
    return this;
  }

  // ---- control area (Table B-1) ----
  get interceptCrRead(): number { return this.read16(VmcbOffset.InterceptCrRead); }
  set interceptCrRead(v: number) { this.write16(VmcbOffset.InterceptCrRead, v); }
  get interceptCrWrite(): number { return this.read16(VmcbOffset.InterceptCrWrite); }
  set interceptCrWrite(v: number) { this.write16(VmcbOffset.InterceptCrWrite, v); }
  get interceptDrRead(): number { return this.read16(VmcbOffset.InterceptDrRead); }
  set interceptDrRead(v: number) { this.write16(VmcbOffset.InterceptDrRead, v); }
  get interceptDrWrite(): number { return this.read16(VmcbOffset.InterceptDrWrite); }
  set interceptDrWrite(v: number) { this.write16(VmcbOffset.InterceptDrWrite, v); }
  /** Exception vectors 0-31 (bit n = vector n). */
  get interceptExceptions(): number { return this.read32(VmcbOffset.InterceptExceptions); }
  set interceptExceptions(v: number) { this.write32(VmcbOffset.InterceptExceptions, v); }
  /** {@link InterceptMisc1} bits (INTR ... shutdown). */
  get interceptMisc1(): number { return this.read32(VmcbOffset.InterceptMisc1); }
  set interceptMisc1(v: number) { this.write32(VmcbOffset.InterceptMisc1, v); }
  /** {@link InterceptMisc2} bits (VMRUN ... XSETBV). */
  get interceptMisc2(): number { return this.read32(VmcbOffset.InterceptMisc2); }
  set interceptMisc2(v: number) { this.write32(VmcbOffset.InterceptMisc2, v); }
  /** {@link InterceptMisc3} bits. */
  get interceptMisc3(): number { return this.read32(VmcbOffset.InterceptMisc3); }
  set interceptMisc3(v: number) { this.write32(VmcbOffset.InterceptMisc3, v); }
  get pauseFilterThreshold(): number { return this.read16(VmcbOffset.PauseFilterThreshold); }
  set pauseFilterThreshold(v: number) { this.write16(VmcbOffset.PauseFilterThreshold, v); }
  get pauseFilterCount(): number { return this.read16(VmcbOffset.PauseFilterCount); }
  set pauseFilterCount(v: number) { this.write16(VmcbOffset.PauseFilterCount, v); }
  get iopmBasePa(): bigint { return this.read64(VmcbOffset.IopmBasePa); }
  set iopmBasePa(v: bigint | number) { this.write64(VmcbOffset.IopmBasePa, v); }
  get msrpmBasePa(): bigint { return this.read64(VmcbOffset.MsrpmBasePa); }
  set msrpmBasePa(v: bigint | number) { this.write64(VmcbOffset.MsrpmBasePa, v); }
  get tscOffset(): bigint { return this.read64(VmcbOffset.TscOffset); }
  set tscOffset(v: bigint | number) { this.write64(VmcbOffset.TscOffset, v); }
  get guestAsid(): number { return this.read32(VmcbOffset.GuestAsid); }
  set guestAsid(v: number) { this.write32(VmcbOffset.GuestAsid, v); }
  /** TLB_CONTROL ({@link TlbControl}). */
  get tlbControl(): number { return this.read8(VmcbOffset.TlbControl); }
  set tlbControl(v: number) { this.write8(VmcbOffset.TlbControl, v); }
  /** The V_INTR word's low 32 bits ({@link VIntr}: V_TPR, V_IRQ, V_GIF, V_NMI, V_INTR_PRIO, V_IGN_TPR, V_INTR_MASKING, ...). */
  get vIntr(): number { return this.read32(VmcbOffset.VIntr); }
  set vIntr(v: number) { this.write32(VmcbOffset.VIntr, v); }
  /** V_TPR (bits 7:0 of the V_INTR word). */
  get vTpr(): number { return this.read8(VmcbOffset.VIntr); }
  set vTpr(v: number) { this.write8(VmcbOffset.VIntr, v); }
  get vIntrVector(): number { return this.read8(VmcbOffset.VIntrVector); }
  set vIntrVector(v: number) { this.write8(VmcbOffset.VIntrVector, v); }
  /** INTERRUPT_SHADOW (bit 0) and GUEST_INTERRUPT_MASK (bit 1) ({@link IntShadow}). */
  get interruptShadow(): number { return this.read32(VmcbOffset.InterruptShadow); }
  set interruptShadow(v: number) { this.write32(VmcbOffset.InterruptShadow, v); }
  /** EXITCODE as a signed number (Appendix C; VMEXIT_INVALID = -1). */
  get exitCode(): number { return Number(BigInt.asIntN(64, this.read64(VmcbOffset.ExitCode))); }
  set exitCode(v: number) { this.write64(VmcbOffset.ExitCode, BigInt.asUintN(64, BigInt(v))); }
  get exitInfo1(): bigint { return this.read64(VmcbOffset.ExitInfo1); }
  set exitInfo1(v: bigint | number) { this.write64(VmcbOffset.ExitInfo1, v); }
  get exitInfo2(): bigint { return this.read64(VmcbOffset.ExitInfo2); }
  set exitInfo2(v: bigint | number) { this.write64(VmcbOffset.ExitInfo2, v); }
  /** EXITINTINFO (§15.7.2; the EVENTINJ format). */
  get exitIntInfo(): bigint { return this.read64(VmcbOffset.ExitIntInfo); }
  set exitIntInfo(v: bigint | number) { this.write64(VmcbOffset.ExitIntInfo, v); }
  /** NP_ENABLE (bit 0) and the SEV bits ({@link NpEnable}). */
  get npEnable(): number { return this.read32(VmcbOffset.NpEnable); }
  set npEnable(v: number) { this.write32(VmcbOffset.NpEnable, v); }
  get avicApicBar(): bigint { return this.read64(VmcbOffset.AvicApicBar); }
  set avicApicBar(v: bigint | number) { this.write64(VmcbOffset.AvicApicBar, v); }
  get ghcbPa(): bigint { return this.read64(VmcbOffset.GhcbPa); }
  set ghcbPa(v: bigint | number) { this.write64(VmcbOffset.GhcbPa, v); }
  /** EVENTINJ (§15.20; {@link EventInj}: vector, TYPE, EV, V, error code in bits 63:32). */
  get eventInj(): bigint { return this.read64(VmcbOffset.EventInj); }
  set eventInj(v: bigint | number) { this.write64(VmcbOffset.EventInj, v); }
  /** N_CR3: the nested page tables (§15.25). */
  get nCr3(): bigint { return this.read64(VmcbOffset.NCr3); }
  set nCr3(v: bigint | number) { this.write64(VmcbOffset.NCr3, v); }
  /** LBR_VIRTUALIZATION_ENABLE (bit 0) ({@link LbrVirt}). */
  get lbrVirtualizationEnable(): number { return this.read32(VmcbOffset.LbrVirtualizationEnable); }
  set lbrVirtualizationEnable(v: number) { this.write32(VmcbOffset.LbrVirtualizationEnable, v); }
  /** The VMCB clean bits ({@link VmcbClean}; §15.15.3). */
  get vmcbClean(): number { return this.read32(VmcbOffset.VmcbClean); }
  set vmcbClean(v: number) { this.write32(VmcbOffset.VmcbClean, v); }
  /** nRIP: the next sequential instruction pointer saved by #VMEXIT (NRIPS). */
  get nRip(): bigint { return this.read64(VmcbOffset.NRip); }
  set nRip(v: bigint | number) { this.write64(VmcbOffset.NRip, v); }
  get guestInsnBytesCount(): number { return this.read8(VmcbOffset.GuestInsnBytesCount); }
  set guestInsnBytesCount(v: number) { this.write8(VmcbOffset.GuestInsnBytesCount, v); }
  /** The guest instruction bytes (decode assists): `guestInsnBytesCount` of the 15. */
  get guestInsnBytes(): number[] {
    const n = Math.min(this.guestInsnBytesCount, 15);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.read8(VmcbOffset.GuestInsnBytes + i));
    return out;
  }

  // ---- state save area (Table B-2) ----
  private seg(off: number): VmcbSegment {
    return {
      selector: this.read16(off + VmcbSeg.Selector),
      attrib: this.read16(off + VmcbSeg.Attrib),
      limit: this.read32(off + VmcbSeg.Limit),
      base: this.read64(off + VmcbSeg.Base),
    };
  }
  private setSeg(off: number, s: VmcbSegment): void {
    this.write16(off + VmcbSeg.Selector, s.selector);
    this.write16(off + VmcbSeg.Attrib, s.attrib);
    this.write32(off + VmcbSeg.Limit, s.limit);
    this.write64(off + VmcbSeg.Base, s.base);
  }
  private table(off: number): VmcbTable {
    return { limit: this.read32(off + VmcbSeg.Limit), base: this.read64(off + VmcbSeg.Base) };
  }
  private setTable(off: number, t: VmcbTable): void {
    this.write32(off + VmcbSeg.Limit, t.limit);
    this.write64(off + VmcbSeg.Base, t.base);
  }
  get es(): VmcbSegment { return this.seg(VmcbOffset.Es); }
  set es(s: VmcbSegment) { this.setSeg(VmcbOffset.Es, s); }
  get cs(): VmcbSegment { return this.seg(VmcbOffset.Cs); }
  set cs(s: VmcbSegment) { this.setSeg(VmcbOffset.Cs, s); }
  get ss(): VmcbSegment { return this.seg(VmcbOffset.Ss); }
  set ss(s: VmcbSegment) { this.setSeg(VmcbOffset.Ss, s); }
  get ds(): VmcbSegment { return this.seg(VmcbOffset.Ds); }
  set ds(s: VmcbSegment) { this.setSeg(VmcbOffset.Ds, s); }
  get fs(): VmcbSegment { return this.seg(VmcbOffset.Fs); }
  set fs(s: VmcbSegment) { this.setSeg(VmcbOffset.Fs, s); }
  get gs(): VmcbSegment { return this.seg(VmcbOffset.Gs); }
  set gs(s: VmcbSegment) { this.setSeg(VmcbOffset.Gs, s); }
  get ldtr(): VmcbSegment { return this.seg(VmcbOffset.Ldtr); }
  set ldtr(s: VmcbSegment) { this.setSeg(VmcbOffset.Ldtr, s); }
  get tr(): VmcbSegment { return this.seg(VmcbOffset.Tr); }
  set tr(s: VmcbSegment) { this.setSeg(VmcbOffset.Tr, s); }
  get gdtr(): VmcbTable { return this.table(VmcbOffset.Gdtr); }
  set gdtr(t: VmcbTable) { this.setTable(VmcbOffset.Gdtr, t); }
  get idtr(): VmcbTable { return this.table(VmcbOffset.Idtr); }
  set idtr(t: VmcbTable) { this.setTable(VmcbOffset.Idtr, t); }
  get cpl(): number { return this.read8(VmcbOffset.Cpl); }
  set cpl(v: number) { this.write8(VmcbOffset.Cpl, v); }
  get efer(): bigint { return this.read64(VmcbOffset.Efer); }
  set efer(v: bigint | number) { this.write64(VmcbOffset.Efer, v); }
  get cr4(): bigint { return this.read64(VmcbOffset.Cr4); }
  set cr4(v: bigint | number) { this.write64(VmcbOffset.Cr4, v); }
  get cr3(): bigint { return this.read64(VmcbOffset.Cr3); }
  set cr3(v: bigint | number) { this.write64(VmcbOffset.Cr3, v); }
  get cr0(): bigint { return this.read64(VmcbOffset.Cr0); }
  set cr0(v: bigint | number) { this.write64(VmcbOffset.Cr0, v); }
  get dr7(): bigint { return this.read64(VmcbOffset.Dr7); }
  set dr7(v: bigint | number) { this.write64(VmcbOffset.Dr7, v); }
  get dr6(): bigint { return this.read64(VmcbOffset.Dr6); }
  set dr6(v: bigint | number) { this.write64(VmcbOffset.Dr6, v); }
  get rflags(): bigint { return this.read64(VmcbOffset.Rflags); }
  set rflags(v: bigint | number) { this.write64(VmcbOffset.Rflags, v); }
  get rip(): bigint { return this.read64(VmcbOffset.Rip); }
  set rip(v: bigint | number) { this.write64(VmcbOffset.Rip, v); }
  get rsp(): bigint { return this.read64(VmcbOffset.Rsp); }
  set rsp(v: bigint | number) { this.write64(VmcbOffset.Rsp, v); }
  get rax(): bigint { return this.read64(VmcbOffset.Rax); }
  set rax(v: bigint | number) { this.write64(VmcbOffset.Rax, v); }
  get star(): bigint { return this.read64(VmcbOffset.Star); }
  set star(v: bigint | number) { this.write64(VmcbOffset.Star, v); }
  get lstar(): bigint { return this.read64(VmcbOffset.Lstar); }
  set lstar(v: bigint | number) { this.write64(VmcbOffset.Lstar, v); }
  get cstar(): bigint { return this.read64(VmcbOffset.Cstar); }
  set cstar(v: bigint | number) { this.write64(VmcbOffset.Cstar, v); }
  get sfmask(): bigint { return this.read64(VmcbOffset.Sfmask); }
  set sfmask(v: bigint | number) { this.write64(VmcbOffset.Sfmask, v); }
  get kernelGsBase(): bigint { return this.read64(VmcbOffset.KernelGsBase); }
  set kernelGsBase(v: bigint | number) { this.write64(VmcbOffset.KernelGsBase, v); }
  get sysenterCs(): bigint { return this.read64(VmcbOffset.SysenterCs); }
  set sysenterCs(v: bigint | number) { this.write64(VmcbOffset.SysenterCs, v); }
  get sysenterEsp(): bigint { return this.read64(VmcbOffset.SysenterEsp); }
  set sysenterEsp(v: bigint | number) { this.write64(VmcbOffset.SysenterEsp, v); }
  get sysenterEip(): bigint { return this.read64(VmcbOffset.SysenterEip); }
  set sysenterEip(v: bigint | number) { this.write64(VmcbOffset.SysenterEip, v); }
  get cr2(): bigint { return this.read64(VmcbOffset.Cr2); }
  set cr2(v: bigint | number) { this.write64(VmcbOffset.Cr2, v); }
  /** G_PAT (the guest's PAT with nested paging). */
  get gPat(): bigint { return this.read64(VmcbOffset.GPat); }
  set gPat(v: bigint | number) { this.write64(VmcbOffset.GPat, v); }
  get dbgCtl(): bigint { return this.read64(VmcbOffset.DbgCtl); }
  set dbgCtl(v: bigint | number) { this.write64(VmcbOffset.DbgCtl, v); }
  get brFrom(): bigint { return this.read64(VmcbOffset.BrFrom); }
  set brFrom(v: bigint | number) { this.write64(VmcbOffset.BrFrom, v); }
  get brTo(): bigint { return this.read64(VmcbOffset.BrTo); }
  set brTo(v: bigint | number) { this.write64(VmcbOffset.BrTo, v); }
  get lastExcpFrom(): bigint { return this.read64(VmcbOffset.LastExcpFrom); }
  set lastExcpFrom(v: bigint | number) { this.write64(VmcbOffset.LastExcpFrom, v); }
  get lastExcpTo(): bigint { return this.read64(VmcbOffset.LastExcpTo); }
  set lastExcpTo(v: bigint | number) { this.write64(VmcbOffset.LastExcpTo, v); }

  // ---- intercept sets ----
  /** Sets (or clears) `bits` in the 32-bit intercept word at `off` (InterceptMisc1/2/3, InterceptExceptions). */
  intercept(off: number, bits: number, on = true): this {
    const v = this.read32(off);
    this.write32(off, on ? v | bits : v & ~bits);
    return this;
  }
  /** Intercepts (or not) exception `vector` (§15.12). */
  interceptException(vector: number, on = true): this {
    return this.intercept(VmcbOffset.InterceptExceptions, (1 << vector) >>> 0, on);
  }
  /** Intercepts (or not) reads/writes of CRn (§15.8.1). */
  interceptCr(n: number, read: boolean, write: boolean): this {
    const bit = 1 << n;
    this.interceptCrRead = read ? this.interceptCrRead | bit : this.interceptCrRead & ~bit;
    this.interceptCrWrite = write ? this.interceptCrWrite | bit : this.interceptCrWrite & ~bit;
    return this;
  }
}

// ---- outcomes ----------------------------------------------------------------------------------

/** Appendix C names of the exit codes (ranges as `CrRead3`, `Excp14`...); unknown codes as hex. */
export function svmExitName(code: number): string {
  if (code >= 0 && code < 0x60) {
    const ranges = ['CrRead', 'CrWrite', 'DrRead', 'DrWrite', 'Excp', 'Excp'] as const;
    const base = code < 0x40 ? code & ~0xf : 0x40;
    return `${ranges[Math.floor(code / 16)]}${code - base}`;
  }
  if (code >= 0x90 && code < 0xa0) return `CrWriteTrap${code - 0x90}`;
  for (const [name, value] of Object.entries(SvmExitCode)) if (value === code) return name;
  return `0x${(code >>> 0).toString(16)}`;
}

/** A #VMEXIT (APM Vol. 2 §15.6), VMEXIT_INVALID included, as the VMCB's control area reports it. */
export interface SvmExit {
  readonly kind: 'exit';
  /** EXITCODE (Appendix C), signed: VMEXIT_INVALID is -1. */
  readonly exitCode: number;
  /** The Appendix C name of {@link exitCode} ({@link svmExitName}): 'Cpuid', 'Ioio', 'Hlt', 'Npf', 'Invalid', 'CrWrite0', ... */
  readonly exitName: string;
  readonly exitInfo1: bigint;
  readonly exitInfo2: bigint;
  /** EXITINTINFO (§15.7.2). */
  readonly exitIntInfo: bigint;
  /** nRIP (offset 0C8h; NRIPS): the next RIP for instruction intercepts. */
  readonly nextRip: bigint;
  /** The guest RIP saved by #VMEXIT (RIP of the intercepted instruction for instruction intercepts). */
  readonly rip: bigint;
  /** The guest instruction bytes (decode assists; #NPF and #PF intercepts), possibly empty. */
  readonly guestInsnBytes: readonly number[];
}

/** The instruction faulted before its operation (APM Vol. 3: #UD, #GP(0)). */
export interface SvmFault {
  readonly kind: 'fault';
  readonly vector: number;
  /** The error code, or null for exceptions without one. */
  readonly errorCode: number | null;
}

/** VMRUN entered the guest but no #VMEXIT came within the budget: the guest still runs ({@link SvmHost.continue}). */
export interface SvmNoExit {
  readonly kind: 'no-exit';
  readonly stop: 'budget' | 'halt' | 'shutdown' | 'breakpoint' | 'stopped' | 'yield';
  /** Guest instructions run. */
  readonly instructions: number;
}

/** The outcome of an SVM instruction without a result: done, or a fault. */
export type SvmStatus = { readonly kind: 'ok' } | SvmFault;
/** What VMRUN led to. */
export type SvmRunResult = SvmExit | SvmFault | SvmNoExit;

const OK: SvmStatus = Object.freeze({ kind: 'ok' });
const STOP_NAMES = ['budget', 'halt', 'shutdown', 'breakpoint', 'stopped', 'yield'] as const;
/** Instructions a VMRUN runs the guest for by default before returning {@link SvmNoExit}. */
const DEFAULT_BUDGET = 100_000_000;

// ---- the host area prepareHost builds ----------------------------------------------------------

/**
 * The layout of the host area {@link SvmHost.prepareHost} builds (offsets from its base; 128 KiB,
 * 4 KiB aligned): page tables mapping the first 4 GiB 1:1 with 2 MiB pages, a GDT, a TSS, an
 * empty IDT, the host code (a HLT loop), the host save area, the host stack, and an I/O and an
 * MSR permission map for {@link SvmHost.setupGuest64}.
 */
export const SvmHostArea = {
  Size: 0x2_0000,
  Pml4: 0x0000,
  Pdpt: 0x1000,
  /** Four page directories (0x2000-0x5FFF). */
  Pd: 0x2000,
  Gdt: 0x6000,
  Tss: 0x7000,
  Idt: 0x8000,
  /** `hlt; jmp $-1`: where #VMEXIT lands (the host RIP VMRUN saved). */
  HltLoop: 0x9000,
  /** The host save area (VM_HSAVE_PA) {@link SvmHost.enable} sets. */
  Hsave: 0xa000,
  /** Top of the host stack (grows down to 0xB000). */
  StackTop: 0x1_0000,
  /** The I/O permission map (12 KiB). */
  Iopm: 0x1_0000,
  /** The MSR permission map (8 KiB). */
  Msrpm: 0x1_4000,
} as const;

/** The host selectors prepareHost loads (GDT entries 1, 2 and 3-4). */
export const SvmHostSelector = { Code: 0x08, Data: 0x10, Tr: 0x18 } as const;

const TSS_LIMIT = 0x67;

export interface SvmHostOptions {
  /** RAM in MiB (16 by default). */
  memoryMiB?: number;
  /** An AMD CPU model (AMD_ZEN by default). */
  model?: CpuModel;
  features?: SvmFeatures;
}

/** A flat 64-bit guest ({@link SvmHost.setupGuest64}). */
export interface SvmGuest64 {
  rip: number | bigint;
  rsp: number | bigint;
  rflags?: number;
  /** The guest's CR3: the host's identity map by default. */
  cr3?: number | bigint;
  /** Guest ASID (1 by default; 0 is illegal). */
  asid?: number;
  /** Nested paging: nCR3 (sets NP_ENABLE). */
  nCr3?: number | bigint;
}

// ---- the API ---------------------------------------------------------------------------------

/**
 * A hypervisor's view of one logical processor with AMD SVM: the SVM instructions, typed, plus
 * helpers for a host context and the usual VMCB contents.
 */
export class SvmHost {
  readonly cpu: Cpu;
  readonly svm: SvmCpu;
  readonly memory: PhysicalMemory;
  /** Base of the host area once {@link prepareHost} ran, else -1. */
  hostArea = -1;
  private exited = false;
  private readonly onExit = (): void => {
    this.exited = true;
    this.cpu.stop();
  };

  /** A host for `cpu`, which must have an {@link SvmCpu} attached as its extension. */
  constructor(cpu: Cpu) {
    const ext = cpu.ext;
    if (!(ext instanceof SvmCpu)) throw new TypeError('SvmHost needs a Cpu with an SvmCpu attached (cpu.ext = svm; svm.attach(cpu))');
    this.cpu = cpu;
    this.svm = ext;
    this.memory = cpu.memory;
    ext.onExit = this.onExit;
  }

  /** Creates RAM, an AMD `Cpu` and its `SvmCpu`, and a host for them. */
  static create(options: SvmHostOptions = {}): SvmHost {
    const mib = options.memoryMiB ?? 16;
    if (!Number.isInteger(mib) || mib < 1 || mib > 3072) throw new RangeError(`memory size ${mib} MiB is not an integer from 1 to 3072`);
    const model = options.model ?? AMD_ZEN;
    if (model.vendor !== 'amd') throw new RangeError(`SVM needs an AMD CPU model; ${model.name} is ${model.vendorString}`);
    const memory = new PhysicalMemory({ ramSize: mib << 20 });
    memory.mapRam(0, mib << 20);
    const cpu = new Cpu({ memory, io: new PioBus(), model });
    const svm = new SvmCpu(options.features ?? DEFAULT_SVM_FEATURES, {
      read32: (a: number) => memory.read32(a as Hpa) | 0,
      write32: (a: number, v: number) => memory.write32(a as Hpa, v >>> 0),
    });
    cpu.ext = svm;
    svm.attach(cpu);
    return new SvmHost(cpu);
  }

  /** The VMCB at `pa`. */
  vmcb(pa: number): Vmcb {
    return new Vmcb(this.memory, pa);
  }

  // ---- host context --------------------------------------------------------------------------

  /**
   * Puts the core in a 64-bit host context (CR0 PE, PG, WP, NE; CR4.PAE; EFER LME, LMA, NXE; CPL
   * 0; flat segments from a GDT in the host area, a busy 64-bit TSS in TR, page tables mapping the
   * first 4 GiB 1:1 with 2 MiB pages, RSP at the host stack, RIP at a HLT loop). `base` (4 KiB
   * aligned, 128 KiB of RAM below 4 GiB): the last 128 KiB of RAM below 4 GiB by default.
   */
  prepareHost(base?: number): this {
    const ram = this.memory.ramSize;
    const at = base ?? Math.min(ram, 0x1_0000_0000) - SvmHostArea.Size;
    if (!Number.isInteger(at) || at < 0 || at % 0x1000 !== 0 || at + SvmHostArea.Size > Math.min(ram, 0x1_0000_0000)) {
      throw new RangeError(`host area 0x${at.toString(16)}: needs 128 KiB of RAM below 4 GiB at a 4 KiB boundary`);
    }
    this.hostArea = at;
    this.fill(at, SvmHostArea.Size, 0);
    this.write64(at + SvmHostArea.Pml4, at + SvmHostArea.Pdpt + 0x7);
    for (let i = 0; i < 4; i++) {
      const pd = at + SvmHostArea.Pd + i * 0x1000;
      this.write64(at + SvmHostArea.Pdpt + i * 8, pd + 0x7);
      for (let j = 0; j < 512; j++) this.write64(pd + j * 8, (i * 512 + j) * 0x20_0000 + 0x87);
    }
    const gdt = at + SvmHostArea.Gdt;
    this.write64(gdt + 0x08, 0x00af_9b00_0000_ffffn);
    this.write64(gdt + 0x10, 0x00cf_9300_0000_ffffn);
    const tss = at + SvmHostArea.Tss;
    const tssDesc = BigInt(TSS_LIMIT) | (BigInt(tss & 0xff_ffff) << 16n) | (0x8bn << 40n) | (BigInt((tss >>> 24) & 0xff) << 56n);
    this.write64(gdt + 0x18, tssDesc);
    this.write64(gdt + 0x20, 0);
    this.memory.write((tss + 102) as Hpa, Uint8Array.of(0x68, 0));
    this.memory.write((at + SvmHostArea.HltLoop) as Hpa, Uint8Array.of(0xf4, 0xeb, 0xfd));

    const cpu = this.cpu;
    cpu.efer = Efer.LME | Efer.LMA | Efer.NXE | (cpu.efer & Efer.SVME);
    cpu.cr4 = (1 << 5) | (1 << 9) | (1 << 10); // PAE, OSFXSR, OSXMMEXCPT
    cpu.cr3Lo = at + SvmHostArea.Pml4;
    cpu.cr3Hi = 0;
    cpu.cr0 = (Cr0.PE | Cr0.MP | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.PG) | 0;
    cpu.gdtrBaseLo = gdt;
    cpu.gdtrBaseHi = 0;
    cpu.gdtrLimit = 0x27;
    cpu.idtrBaseLo = at + SvmHostArea.Idt;
    cpu.idtrBaseHi = 0;
    cpu.idtrLimit = 0;
    const data = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
    for (const s of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) cpu.setSegmentRaw(s, SvmHostSelector.Data, 0, 0xffff_ffff, data);
    cpu.setSegmentRaw(Seg.CS, SvmHostSelector.Code, 0, 0xffff_ffff, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.L | SegAttr.G);
    cpu.setSegmentRaw(Seg.TR, SvmHostSelector.Tr, tss, TSS_LIMIT, SegAttr.P | 11);
    cpu.setSegmentRaw(Seg.LDTR, 0, 0, 0, 0);
    cpu.setEflags(0x2);
    cpu.gpr[4] = at + SvmHostArea.StackTop;
    cpu.gprHi[4] = 0;
    cpu.ripLo = at + SvmHostArea.HltLoop;
    cpu.ripHi = 0;
    cpu.halted = false;
    cpu.contextChanged();
    cpu.flushTlb(true);
    return this;
  }

  /**
   * Enables SVM as a hypervisor does (APM Vol. 2 §15.4 "Enabling SVM", §15.30.4): EFER.SVME = 1
   * (#GP(0) when VM_CR.SVMDIS forbids it), then VM_HSAVE_PA = `hsave` (the host area's by
   * default; #GP(0) unless 4 KiB aligned and below MAXPHYADDR).
   */
  enable(hsave?: number): SvmStatus {
    const cpu = this.cpu;
    const pa = hsave ?? (this.hostArea >= 0 ? this.hostArea + SvmHostArea.Hsave : -1);
    if (pa < 0) throw new Error('enable: no host save area (prepareHost first, or pass one)');
    if (!svmAllowsEnable(this.svm)) return fault(Vector.GP, 0);
    cpu.efer |= Efer.SVME;
    cpu.updateMode();
    if (!writeSvmMsr(this.svm, cpu, SvmMsr.VmHsavePa, pa % 0x1_0000_0000 | 0, Math.floor(pa / 0x1_0000_0000))) return fault(Vector.GP, 0);
    return OK;
  }

  /**
   * Writes a flat 64-bit guest into the VMCB at `pa` that passes the VMRUN consistency checks
   * (§15.5.1): the host's CR0/CR4/EFER (and CR3 unless given), the host area's GDT/IDT/TSS with
   * flat 64-bit code and data segments, CPL 0, DR6/DR7 at their reset values, G_PAT = the
   * power-on PAT, the VMRUN intercept (required), the host area's IOPM and MSRPM (zeroed:
   * nothing intercepted), ASID `asid` (1), and nested paging with `nCr3` when given.
   */
  setupGuest64(pa: number, g: SvmGuest64): Vmcb {
    const cpu = this.cpu;
    const at = this.hostArea;
    if (at < 0) throw new Error('setupGuest64: prepareHost first (the guest uses the host area GDT, TSS and page tables)');
    const v = this.vmcb(pa).clear();
    this.fill(at + SvmHostArea.Iopm, 0x3000, 0);
    this.fill(at + SvmHostArea.Msrpm, 0x2000, 0);
    v.interceptMisc2 = InterceptMisc2.Vmrun;
    v.iopmBasePa = at + SvmHostArea.Iopm;
    v.msrpmBasePa = at + SvmHostArea.Msrpm;
    v.guestAsid = g.asid ?? 1;
    if (g.nCr3 !== undefined) {
      v.npEnable = 1;
      v.nCr3 = g.nCr3;
    }
    const code = attribFromCore(SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.L | SegAttr.G);
    const data = attribFromCore(SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G);
    v.cs = { selector: SvmHostSelector.Code, attrib: code, limit: 0xffff_ffff, base: 0n };
    const flat = { selector: SvmHostSelector.Data, attrib: data, limit: 0xffff_ffff, base: 0n };
    v.ds = flat;
    v.es = flat;
    v.ss = flat;
    v.fs = flat;
    v.gs = flat;
    v.tr = { selector: SvmHostSelector.Tr, attrib: attribFromCore(SegAttr.P | 11), limit: TSS_LIMIT, base: BigInt(at + SvmHostArea.Tss) };
    v.ldtr = { selector: 0, attrib: 0, limit: 0, base: 0n };
    v.gdtr = { limit: 0x27, base: BigInt(at + SvmHostArea.Gdt) };
    v.idtr = { limit: 0, base: BigInt(at + SvmHostArea.Idt) };
    v.cpl = 0;
    v.efer = cpu.efer >>> 0;
    v.cr0 = cpu.cr0 >>> 0;
    v.cr3 = g.cr3 ?? pair(cpu.cr3Lo, cpu.cr3Hi);
    v.cr4 = cpu.cr4 >>> 0;
    v.dr6 = 0xffff_0ff0;
    v.dr7 = 0x400;
    v.rflags = g.rflags ?? 2;
    v.rip = g.rip;
    v.rsp = g.rsp;
    v.gPat = 0x0007_0406_0007_0406n;
    return v;
  }

  /** Sets (or clears) the IOPM bits of ports `port`..`port + size - 1` in the host area's map (§15.10.1). */
  interceptIo(port: number, size = 1, on = true): void {
    const map = this.requireArea() + SvmHostArea.Iopm;
    for (let p = port; p < port + size; p++) {
      const a = map + (p >>> 3);
      const b = this.memory.read8(a as Hpa);
      this.memory.write8(a as Hpa, on ? b | (1 << (p & 7)) : b & ~(1 << (p & 7)));
    }
  }

  /** Sets (or clears) the MSRPM read and write bits of `msr` in the host area's map (§15.11: 2 bits per MSR, three ranges). */
  interceptMsr(msr: number, read: boolean, write: boolean): void {
    const m = msr >>> 0;
    let base: number;
    if (m <= 0x1fff) base = 0;
    else if (m >= 0xc000_0000 && m <= 0xc000_1fff) base = 0x800;
    else if (m >= 0xc001_0000 && m <= 0xc001_1fff) base = 0x1000;
    else throw new RangeError(`MSR 0x${m.toString(16)} is outside the MSRPM ranges (always intercepted)`);
    const bit = (m & 0x1fff) * 2;
    const a = this.requireArea() + SvmHostArea.Msrpm + base + (bit >>> 3);
    let b = this.memory.read8(a as Hpa);
    const sh = bit & 7;
    b = (b & ~(3 << sh)) | ((read ? 1 : 0) << sh) | ((write ? 2 : 0) << sh);
    this.memory.write8(a as Hpa, b);
  }

  // ---- the SVM instructions --------------------------------------------------------------------

  /**
   * VMRUN with the VMCB at `vmcbPa` (APM Vol. 3 "VMRUN"; Vol. 2 §15.5), then runs the guest until
   * the next #VMEXIT (at most `budget` instructions). The checks before the operation are the
   * instruction's: #UD with EFER.SVME = 0 or outside protected mode, #GP(0) at CPL > 0 or for an
   * address not 4 KiB aligned or beyond MAXPHYADDR. The host resumes (the RIP VMRUN saves) at the
   * host area's HLT loop, or where the core's RIP is without a host area; RAX = `vmcbPa`.
   */
  vmrun(vmcbPa: number | bigint, budget?: number): SvmRunResult {
    const cpu = this.cpu;
    if (cpu.guestMode) throw new Error('VMRUN: a guest is already running (continue() runs it on)');
    const pa = address(vmcbPa);
    const f = this.checks() ?? (pa % 0x1000 !== 0 || !belowMaxPhyAddr(cpu, pa % 0x1_0000_0000 | 0, Math.floor(pa / 0x1_0000_0000)) ? fault(Vector.GP, 0) : null);
    if (f !== null) return f;
    if (this.hostArea >= 0) {
      cpu.ripLo = this.hostArea + SvmHostArea.HltLoop;
      cpu.ripHi = 0;
    }
    cpu.nipLo = cpu.ripLo;
    cpu.nipHi = cpu.ripHi;
    cpu.gpr[0] = pa % 0x1_0000_0000 | 0;
    cpu.gprHi[0] = Math.floor(pa / 0x1_0000_0000);
    cpu.halted = false;
    this.exited = false;
    const r = this.call(() => (opVmrun(this.svm, cpu, pa) ? 1 : 0));
    if (typeof r !== 'number') return r;
    if (this.exited || !cpu.guestMode) return this.exitRecord(pa);
    return this.runGuest(pa, budget ?? DEFAULT_BUDGET);
  }

  /** Runs a guest that is still running (after {@link SvmNoExit}) until the next #VMEXIT. */
  continue(budget?: number): SvmRunResult {
    if (!this.cpu.guestMode) throw new Error('no guest is running: VMRUN first');
    this.exited = false;
    return this.runGuest(this.svm.vmcbPa, budget ?? DEFAULT_BUDGET);
  }

  /** VMLOAD from the VMCB at `pa` (§15.5.2: FS, GS, TR, LDTR, KernelGsBase, STAR..SFMASK, SYSENTER). */
  vmload(pa: number | bigint): SvmStatus {
    const p = address(pa);
    return this.addressed(p) ?? this.status(() => opVmload(this.svm, this.cpu, p));
  }

  /** VMSAVE to the VMCB at `pa`. */
  vmsave(pa: number | bigint): SvmStatus {
    const p = address(pa);
    return this.addressed(p) ?? this.status(() => opVmsave(this.svm, this.cpu, p));
  }

  /** STGI (§15.17): GIF = 1. */
  stgi(): SvmStatus {
    return this.checks(false) ?? this.status(() => opStgi(this.svm, this.cpu));
  }

  /** CLGI: GIF = 0. */
  clgi(): SvmStatus {
    return this.checks() ?? this.status(() => opClgi(this.svm, this.cpu));
  }

  /** INVLPGA (Vol. 3 "INVLPGA"): invalidates the TLB mapping of `linear` for `asid` (0 = the host). */
  invlpga(linear: number | bigint, asid: number): SvmStatus {
    const v = BigInt.asUintN(64, BigInt(linear));
    return this.checks() ?? this.status(() => opInvlpga(this.svm, this.cpu, Number(v & 0xffff_ffffn) | 0, Number(v >> 32n) | 0, asid >>> 0));
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

  private requireArea(): number {
    if (this.hostArea < 0) throw new Error('prepareHost first: the permission maps live in the host area');
    return this.hostArea;
  }

  /**
   * The checks every SVM instruction but VMMCALL makes first (APM Vol. 3 instruction pages):
   * #UD with EFER.SVME = 0 (not for STGI, `svme` false: CPUID Fn8000_0001_ECX[SKINIT] = 1), in
   * real or virtual-8086 mode; #GP(0) at CPL > 0.
   */
  private checks(svme = true): SvmFault | null {
    const cpu = this.cpu;
    if (cpu.guestMode) throw new Error('the typed SVM API runs in the host; a guest is running (continue() runs it on)');
    if ((svme && (cpu.efer & Efer.SVME) === 0) || (cpu.cr0 & Cr0.PE) === 0 || (cpu.flags & Flag.VM) !== 0) return fault(Vector.UD, null);
    if (cpu.cpl !== 0) return fault(Vector.GP, 0);
    return null;
  }

  /** {@link checks}, then VMLOAD/VMSAVE's #GP(0) for an address not 4 KiB aligned or beyond MAXPHYADDR. */
  private addressed(pa: number): SvmFault | null {
    const f = this.checks();
    if (f !== null) return f;
    if (pa % 0x1000 !== 0 || !belowMaxPhyAddr(this.cpu, pa % 0x1_0000_0000 | 0, Math.floor(pa / 0x1_0000_0000))) return fault(Vector.GP, 0);
    return null;
  }

  /** Runs an operation function; a fault it raises comes back as an {@link SvmFault}. */
  private call(op: () => number): number | SvmFault {
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

  private status(op: () => void): SvmStatus {
    const r = this.call(() => {
      op();
      return 0;
    });
    return typeof r === 'number' ? OK : r;
  }

  private runGuest(pa: number, budget: number): SvmRunResult {
    const cpu = this.cpu;
    const start = cpu.icount;
    let left = budget;
    let why: StopReason = StopReason.Budget;
    while (left > 0 && !this.exited) {
      why = cpu.run(Math.min(left, 10_000_000));
      left = budget - (cpu.icount - start);
      if (this.exited || why !== StopReason.Budget) break;
    }
    if (this.exited) return this.exitRecord(pa);
    return { kind: 'no-exit', stop: STOP_NAMES[why] ?? 'stopped', instructions: cpu.icount - start };
  }

  private exitRecord(pa: number): SvmExit {
    const v = this.vmcb(pa);
    const code = v.exitCode;
    return {
      kind: 'exit',
      exitCode: code,
      exitName: svmExitName(code),
      exitInfo1: v.exitInfo1,
      exitInfo2: v.exitInfo2,
      exitIntInfo: v.exitIntInfo,
      nextRip: v.nRip,
      rip: v.rip,
      guestInsnBytes: v.guestInsnBytes,
    };
  }
}

function fault(vector: number, errorCode: number | null): SvmFault {
  return { kind: 'fault', vector, errorCode };
}

function address(v: number | bigint): number {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`physical address ${n} is out of range`);
  return Number(n);
}

function pair(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
