/**
 * Test-only harness for the VMX modules (NOT exported from index.ts): one `Cpu` on RAM with a
 * {@link VmxCpu} plugged in, direct mode setup (real, flat 32-bit protected, 64-bit long mode
 * with identity paging), exceptions caught and recorded, memory helpers, the RFLAGS outcome of
 * the VMX conventions (SDM Vol. 3 §30.2 "Conventions"), and byte encoders for the VMX
 * instructions and the few ordinary instructions tests need around them.
 *
 * Typical use:
 * ```ts
 * const m = new VmxMachine().long64().enableVmx();
 * m.w32(0x20000, m.vmx.features.revisionId);        // VMXON region
 * m.setReg(Reg.RAX, 0x30000); m.w64(0x30000, 0x20000n); // operand: the pointer, in memory
 * m.run([...X.vmxon(X.MEM_RAX), ...X.hlt]);
 * expect(m.outcome()).toBe('succeed');
 * ```
 *
 * Memory map used by the helpers (8 MiB of RAM by default):
 * - 0x00000-0x00FFF: real-mode IVT, unused otherwise;
 * - {@link GDT_AT} 0x6000: the GDT the mode setups write (descriptors for every selector they use);
 * - {@link TSS_AT} 0x9000: a TSS (TR points at it);
 * - {@link CODE} 0x10000: code written by {@link VmxMachine.run} / {@link VmxMachine.code};
 * - {@link STACK_TOP} 0x8000: initial RSP (stack grows down to 0x1000);
 * - {@link PT_ROOT} 0x70000-0x72FFF: long-mode page tables (identity map of the first 1 GiB);
 * - {@link VMXON_AT} 0x100000, {@link VMCS_AT} 0x101000: the regions {@link VmxMachine.vmxonAndLoad}
 *   uses by default;
 * - 0x102000 and up: free for other VMCS regions, operands, EPT tables, guest code.
 *
 * For VM-entry/exit tests: `new VmxMachine().long64().enableVmx().vmxonAndLoad().setupVmcs({...})`
 * gives a current VMCS that passes every VM-entry check; `field(...)` then changes one field.
 */
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { Cpu, Cr0, Cr4, Efer, Flag, INTEL_CORE, Seg, SegAttr, type CpuModel, type StopReason } from '@hvkit/x86';
import { DEFAULT_VMX_FEATURES, type VmxFeatures } from './caps.js';
import { EntryCtl, ExitCtl, FeatureControl } from './constants.js';
import { VmcsField } from './fields.js';
import { opVmclear, opVmptrld, opVmxon } from './instructions.js';
import { VmxCpu } from './vmx.js';

export const CODE = 0x10000;
export const STACK_TOP = 0x8000;
export const TSS_AT = 0x9000;
export const PT_ROOT = 0x70000;
export const GDT_AT = 0x6000;

/** Flat segment attributes (the core's SegAttr = the VMX access-rights layout). */
export const ATTR = {
  code16: SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed,
  data16: SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed,
  code32: SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G,
  code64: SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.L | SegAttr.G,
  data: SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G,
  /** Busy 32/64-bit TSS. */
  tss: SegAttr.P | 11,
} as const;

/** An exception the CPU raised and the harness caught (RIP stays at the faulting instruction). */
export interface CaughtEvent {
  kind: number;
  vector: number;
  /** The error code, or -1 for none. */
  error: number;
}

/** The VMX instruction outcomes as RFLAGS shows them (SDM Vol. 3 §30.2). */
export type VmxOutcome = 'succeed' | 'failInvalid' | 'failValid' | 'other';

/** RFLAGS bits the VMX conventions define: CF, PF, AF, ZF, SF, OF. */
export const VMX_FLAGS = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;

export interface VmxMachineOptions {
  /** RAM size in bytes (default 8 MiB). */
  ram?: number;
  model?: CpuModel;
  features?: VmxFeatures;
}

/**
 * A processor with VMX on RAM. Faults are not delivered through the IDT: `cpu.onEvent`
 * records them in {@link events} and stops the CPU, so a test sees `fault` = the first one.
 */
export class VmxMachine {
  readonly memory: PhysicalMemory;
  readonly io: PioBus;
  readonly cpu: Cpu;
  readonly vmx: VmxCpu;
  readonly events: CaughtEvent[] = [];

  constructor(opts: VmxMachineOptions = {}) {
    const ram = opts.ram ?? 8 << 20;
    this.memory = new PhysicalMemory({ ramSize: ram });
    this.memory.mapRam(0, ram);
    this.io = new PioBus();
    this.cpu = new Cpu({ memory: this.memory, io: this.io, model: opts.model ?? INTEL_CORE });
    const mem = this.memory;
    this.vmx = new VmxCpu(opts.features ?? DEFAULT_VMX_FEATURES, {
      read32: (a: number) => mem.read32(a as Hpa) | 0,
      write32: (a: number, v: number) => mem.write32(a as Hpa, v >>> 0),
    });
    this.cpu.ext = this.vmx;
    this.vmx.attach(this.cpu);
    this.cpu.onEvent = (kind, vector, error) => {
      this.events.push({ kind, vector, error });
      this.cpu.stop();
      return true;
    };
  }

  // ---- physical memory --------------------------------------------------------------------

  w8(a: number, v: number): void {
    this.memory.write8(a as Hpa, v & 0xff);
  }
  w16(a: number, v: number): void {
    this.memory.write16(a as Hpa, v & 0xffff);
  }
  w32(a: number, v: number): void {
    this.memory.write32(a as Hpa, v >>> 0);
  }
  w64(a: number, v: bigint | number): void {
    const b = BigInt.asUintN(64, BigInt(v));
    this.w32(a, Number(b & 0xffffffffn));
    this.w32(a + 4, Number(b >> 32n));
  }
  r8(a: number): number {
    return this.memory.read8(a as Hpa);
  }
  r16(a: number): number {
    return this.memory.read16(a as Hpa);
  }
  r32(a: number): number {
    return this.memory.read32(a as Hpa) >>> 0;
  }
  r64(a: number): bigint {
    return (BigInt(this.r32(a + 4)) << 32n) | BigInt(this.r32(a));
  }
  bytes(a: number, b: readonly number[]): void {
    this.memory.write(a as Hpa, Uint8Array.from(b));
  }
  /** Fills `length` bytes at `a` with `value`. */
  fill(a: number, length: number, value = 0): void {
    this.memory.write(a as Hpa, new Uint8Array(length).fill(value));
  }

  // ---- registers ----------------------------------------------------------------------------

  /** Sets a general register (64-bit value). */
  setReg(r: number, v: bigint | number): this {
    const b = BigInt.asUintN(64, BigInt(v));
    this.cpu.gpr[r] = Number(b & 0xffffffffn) | 0;
    this.cpu.gprHi[r] = Number(b >> 32n) | 0;
    return this;
  }
  /** A general register as an unsigned 64-bit value. */
  reg(r: number): bigint {
    return (BigInt(this.cpu.gprHi[r]! >>> 0) << 32n) | BigInt(this.cpu.gpr[r]! >>> 0);
  }
  /** RIP as an unsigned 64-bit value. */
  get rip(): bigint {
    return (BigInt(this.cpu.ripHi >>> 0) << 32n) | BigInt(this.cpu.ripLo >>> 0);
  }
  /** The full RFLAGS. */
  get rflags(): number {
    return this.cpu.getEflags();
  }
  /** Sets the arithmetic flags (CF PF AF ZF SF OF) to `bits`, keeping the others. */
  setArith(bits: number): this {
    this.cpu.setEflags((this.cpu.getEflags() & ~VMX_FLAGS) | (bits & VMX_FLAGS));
    return this;
  }

  /**
   * The VMX outcome RFLAGS shows (SDM §30.2): VMsucceed = all six flags clear; VMfailInvalid =
   * CF only; VMfailValid = ZF only; anything else is 'other'.
   */
  outcome(): VmxOutcome {
    const f = this.rflags & VMX_FLAGS;
    if (f === 0) return 'succeed';
    if (f === Flag.CF) return 'failInvalid';
    if (f === Flag.ZF) return 'failValid';
    return 'other';
  }

  /** The current VMCS's VM-instruction error field (0x4400), or -1 without a current VMCS. */
  instructionError(): number {
    const v = this.vmx.current;
    return v === null ? -1 : v.get(0x4400);
  }

  // ---- running code -------------------------------------------------------------------------

  /** Writes `code` at `at` (default CODE) and points RIP at it (CS base is 0 except in real mode). */
  code(code: readonly number[], at = CODE): this {
    this.bytes(at, code);
    this.cpu.ripLo = (at - this.cpu.segBase[Seg.CS]!) | 0;
    this.cpu.ripHi = 0;
    this.cpu.nipLo = this.cpu.ripLo;
    this.cpu.nipHi = 0;
    this.cpu.halted = false;
    return this;
  }

  /**
   * Writes `code` (append HLT yourself, see {@link X.hlt}) and runs it until HLT, a caught
   * exception or the budget. Returns the stop reason.
   */
  run(code?: readonly number[], budget = 10_000): StopReason {
    if (code !== undefined) this.code(code);
    return this.cpu.run(budget);
  }

  /** Writes `code` and executes exactly one instruction of it. */
  step(code?: readonly number[]): StopReason {
    return this.run(code, 1);
  }

  /** The first exception caught since the last {@link clearEvents}, or null. */
  get fault(): CaughtEvent | null {
    return this.events.length === 0 ? null : this.events[0]!;
  }
  clearEvents(): this {
    this.events.length = 0;
    return this;
  }

  // ---- mode setup ---------------------------------------------------------------------------

  /** Real mode, CS = CODE >> 4 (IP 0 = CODE), other segments 0. */
  real(): this {
    const c = this.cpu;
    c.cr0 &= ~(Cr0.PE | Cr0.PG);
    c.setSegmentRaw(Seg.CS, CODE >> 4, CODE, 0xffff, ATTR.code16);
    for (const s of [Seg.SS, Seg.DS, Seg.ES, Seg.FS, Seg.GS]) c.setSegmentRaw(s, 0, 0, 0xffff, ATTR.data16);
    c.gpr[4] = STACK_TOP;
    c.updateMode();
    return this;
  }

  /** Writes an 8-byte segment descriptor at GDT index `index` (SDM Vol. 3 §3.4.5). */
  desc(index: number, base: number, limit: number, access: number, flags: number): void {
    const lo = ((limit & 0xffff) | ((base & 0xffff) << 16)) >>> 0;
    const hi = (((base >>> 16) & 0xff) | (access << 8) | (limit & 0xf0000) | (flags << 20) | (base & 0xff000000)) >>> 0;
    this.w32(GDT_AT + index * 8, lo);
    this.w32(GDT_AT + index * 8 + 4, hi);
  }

  /** Points GDTR at {@link GDT_AT} (limit 0x7f) after clearing it. */
  private freshGdt(): void {
    this.fill(GDT_AT, 0x80);
    this.cpu.gdtrBaseLo = GDT_AT;
    this.cpu.gdtrBaseHi = 0;
    this.cpu.gdtrLimit = 0x7f;
  }

  /**
   * Flat 32-bit protected mode at `cpl`, no paging, a 32-bit TSS in TR. The GDT at
   * {@link GDT_AT} has the descriptors of every selector used: 08H code, 10H data, 1BH user
   * code, 23H user data, 28H busy 32-bit TSS.
   */
  flat32(cpl = 0): this {
    this.freshGdt();
    this.desc(1, 0, 0xfffff, 0x9b, 0xc);
    this.desc(2, 0, 0xfffff, 0x93, 0xc);
    this.desc(3, 0, 0xfffff, 0xfb, 0xc);
    this.desc(4, 0, 0xfffff, 0xf3, 0xc);
    this.desc(5, TSS_AT, 0x67, 0x8b, 0);
    const c = this.cpu;
    c.cr0 = (c.cr0 | Cr0.PE) & ~Cr0.PG;
    c.efer &= ~(Efer.LME | Efer.LMA);
    const dpl = cpl << SegAttr.DplShift;
    c.setSegmentRaw(Seg.CS, cpl === 0 ? 0x08 : 0x1b, 0, 0xffffffff, ATTR.code32 | dpl);
    c.setSegmentRaw(Seg.SS, cpl === 0 ? 0x10 : 0x23, 0, 0xffffffff, ATTR.data | dpl);
    for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS]) c.setSegmentRaw(s, cpl === 0 ? 0x10 : 0x23, 0, 0xffffffff, ATTR.data | dpl);
    c.setSegmentRaw(Seg.TR, 0x28, TSS_AT, 0x67, ATTR.tss);
    c.gpr[4] = STACK_TOP;
    c.updateMode();
    c.flushTlb(true);
    return this;
  }

  /**
   * IA-32e mode with 4-level paging identity-mapping the first 1 GiB (user-writable 2 MiB
   * pages, tables at {@link PT_ROOT}); 64-bit code at `cpl`, or compatibility mode
   * (CS.L = 0, 32-bit) when `compat`. The GDT at {@link GDT_AT} has 08H code (64-bit, or
   * 32-bit for `compat`), 10H data, 2BH user data, 33H user code, 40H busy 64-bit TSS.
   */
  long64(cpl = 0, compat = false): this {
    this.freshGdt();
    this.desc(1, 0, 0xfffff, 0x9b, compat ? 0xc : 0xa);
    this.desc(2, 0, 0xfffff, 0x93, 0xc);
    this.desc(5, 0, 0xfffff, 0xf3, 0xc);
    this.desc(6, 0, 0xfffff, 0xfb, compat ? 0xc : 0xa);
    this.desc(8, TSS_AT, 0x67, 0x8b, 0);
    const c = this.cpu;
    this.fill(PT_ROOT, 0x3000);
    this.w64(PT_ROOT, BigInt(PT_ROOT + 0x1000) | 7n);
    this.w64(PT_ROOT + 0x1000, BigInt(PT_ROOT + 0x2000) | 7n);
    for (let i = 0; i < 512; i++) this.w64(PT_ROOT + 0x2000 + i * 8, BigInt(i) * 0x200000n | 0x87n);
    c.cr3Lo = PT_ROOT;
    c.cr3Hi = 0;
    c.cr4 |= Cr4.PAE;
    c.efer |= Efer.LME | Efer.LMA | Efer.SCE;
    c.cr0 |= Cr0.PE | Cr0.PG;
    const dpl = cpl << SegAttr.DplShift;
    c.setSegmentRaw(Seg.CS, cpl === 0 ? 0x08 : 0x33, 0, 0xffffffff, (compat ? ATTR.code32 : ATTR.code64) | dpl);
    c.setSegmentRaw(Seg.SS, cpl === 0 ? 0x10 : 0x2b, 0, 0xffffffff, ATTR.data | dpl);
    for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS]) c.setSegmentRaw(s, cpl === 0 ? 0x10 : 0x2b, 0, 0xffffffff, ATTR.data | dpl);
    c.setSegmentRaw(Seg.TR, 0x40, TSS_AT, 0x67, ATTR.tss);
    c.gpr[4] = STACK_TOP;
    c.updateMode();
    c.flushTlb(true);
    return this;
  }

  /**
   * 32-bit protected mode with 32-bit paging (CR4.PSE, 4-MByte pages identity-mapping all
   * 4 GiB, page directory at {@link PT_ROOT}) at `cpl`: PE and PG set, as VMX operation needs
   * (IA32_VMX_CR0_FIXED0).
   */
  paged32(cpl = 0): this {
    this.flat32(cpl);
    for (let i = 0; i < 1024; i++) this.w32(PT_ROOT + i * 4, ((i << 22) | 0x87) >>> 0);
    const c = this.cpu;
    c.cr3Lo = PT_ROOT;
    c.cr3Hi = 0;
    c.cr4 = (c.cr4 | Cr4.PSE) & ~Cr4.PAE;
    c.cr0 |= Cr0.PG;
    c.updateMode();
    c.flushTlb(true);
    return this;
  }

  /** Virtual-8086 mode (RFLAGS.VM = 1) on top of flat32. */
  v86(): this {
    this.flat32(0);
    this.cpu.setEflags(this.cpu.getEflags() | Flag.VM);
    this.cpu.setSegmentRaw(Seg.CS, CODE >> 4, CODE, 0xffff, ATTR.code16 | (3 << SegAttr.DplShift));
    this.cpu.updateMode();
    return this;
  }

  /**
   * Makes VMXON legal (SDM §30.3 VMXON #GP conditions, §24.7/§24.8): CR4.VMXE = 1, CR0.NE = 1
   * (CR0 FIXED0), IA32_FEATURE_CONTROL = lock | VMX outside SMX (`featureControl`).
   */
  enableVmx(featureControl: number = FeatureControl.Lock | FeatureControl.VmxOutsideSmx): this {
    this.cpu.cr0 |= Cr0.NE;
    this.cpu.cr4 |= Cr4.VMXE;
    this.cpu.featureControlLo = featureControl;
    this.cpu.updateMode();
    return this;
  }

  /** Writes a VMXON/VMCS region header at `a`: revision identifier (default the features'), shadow bit, abort 0. */
  region(a: number, revision: number = this.vmx.features.revisionId, shadow = false): this {
    this.fill(a, 4096);
    this.w32(a, (revision & 0x7fffffff) | (shadow ? 0x80000000 : 0));
    return this;
  }

  /**
   * VMXON (region at `vmxon`) and VMCLEAR + VMPTRLD of the VMCS region at `vmcs` through the
   * operation functions (no instruction bytes). Throws if an outcome is not VMsucceed (a harness
   * misuse, not a guest condition). Call after a mode setup and {@link enableVmx}.
   */
  vmxonAndLoad(vmxon = VMXON_AT, vmcs = VMCS_AT): this {
    const { vmx, cpu } = this;
    this.region(vmxon).region(vmcs);
    const r = [opVmxon(vmx, cpu, vmxon), opVmclear(vmx, cpu, vmcs), opVmptrld(vmx, cpu, vmcs)];
    if (r.some((x) => x !== 0)) throw new Error(`vmxonAndLoad: outcomes ${r.join(', ')}`);
    return this;
  }

  /** Writes a field of the current VMCS directly (as the processor would: no VMWRITE checks). */
  field(encoding: number, value: bigint | number): this {
    const v = this.vmx.current;
    if (v === null) throw new Error('field: no current VMCS');
    const b = BigInt.asUintN(64, BigInt(value));
    v.set(encoding, Number(b & 0xffffffffn) | 0, Number(b >> 32n) | 0);
    v.generation++;
    return this;
  }

  /** Reads a field of the current VMCS as an unsigned 64-bit value. */
  readField(encoding: number): bigint {
    const v = this.vmx.current!;
    return (BigInt(v.getHi(encoding) >>> 0) << 32n) | BigInt(v.get(encoding) >>> 0);
  }

  /**
   * Fills the current VMCS for a VM entry that passes every check, in the style of a minimal
   * hypervisor: controls at their TRUE allowed-0 settings (plus "host address-space size" and
   * "IA-32e mode guest"), host state = the processor's current 64-bit state with RIP `hostRip`,
   * guest state = the same 64-bit flat environment with RIP `guestRip` and RSP `guestRsp`
   * (LDTR unusable, DR7 = 400H, RFLAGS = 2, VMCS link pointer = FFFFFFFF_FFFFFFFFH, active,
   * no blocking). Use after {@link long64}, {@link enableVmx} and {@link vmxonAndLoad}; change
   * single fields afterwards with {@link field} to build failing cases.
   */
  setupVmcs(opts: { guestRip: number; hostRip: number; guestRsp?: number; hostRsp?: number }): this {
    const c = this.cpu;
    const caps = this.vmx.caps;
    const F = VmcsField;
    this.field(F.PinBasedVmExecControl, caps.pinAllowed0);
    this.field(F.CpuBasedVmExecControl, caps.procAllowed0);
    this.field(F.SecondaryVmExecControl, 0);
    this.field(F.VmExitControls, caps.exitAllowed0 | ExitCtl.HostAddressSpaceSize);
    this.field(F.VmEntryControls, caps.entryAllowed0 | EntryCtl.Ia32eModeGuest);
    this.field(F.ExceptionBitmap, 0);
    this.field(F.Cr3TargetCount, 0);
    this.field(F.VmExitMsrStoreCount, 0);
    this.field(F.VmExitMsrLoadCount, 0);
    this.field(F.VmEntryMsrLoadCount, 0);
    this.field(F.VmEntryInterruptionInfo, 0);
    this.field(F.VmcsLinkPointer, -1n);
    // Host state (SDM §24.5).
    this.field(F.HostCr0, c.cr0 >>> 0);
    this.field(F.HostCr3, c.cr3Lo >>> 0);
    this.field(F.HostCr4, c.cr4 >>> 0);
    this.field(F.HostEsSelector, c.segSel[Seg.ES]! & 0xf8);
    this.field(F.HostCsSelector, c.segSel[Seg.CS]! & 0xf8);
    this.field(F.HostSsSelector, c.segSel[Seg.SS]! & 0xf8);
    this.field(F.HostDsSelector, c.segSel[Seg.DS]! & 0xf8);
    this.field(F.HostFsSelector, c.segSel[Seg.FS]! & 0xf8);
    this.field(F.HostGsSelector, c.segSel[Seg.GS]! & 0xf8);
    this.field(F.HostTrSelector, c.segSel[Seg.TR]! & 0xf8);
    this.field(F.HostFsBase, c.segBase[Seg.FS]! >>> 0);
    this.field(F.HostGsBase, c.segBase[Seg.GS]! >>> 0);
    this.field(F.HostTrBase, c.segBase[Seg.TR]! >>> 0);
    this.field(F.HostGdtrBase, c.gdtrBaseLo >>> 0);
    this.field(F.HostIdtrBase, c.idtrBaseLo >>> 0);
    this.field(F.HostIa32SysenterCs, 0);
    this.field(F.HostIa32SysenterEsp, 0);
    this.field(F.HostIa32SysenterEip, 0);
    this.field(F.HostIa32Pat, (BigInt(c.patHi >>> 0) << 32n) | BigInt(c.patLo >>> 0));
    this.field(F.HostIa32Efer, c.efer >>> 0);
    this.field(F.HostRip, opts.hostRip);
    this.field(F.HostRsp, opts.hostRsp ?? STACK_TOP);
    // Guest state (SDM §24.4).
    this.field(F.GuestCr0, c.cr0 >>> 0);
    this.field(F.GuestCr3, c.cr3Lo >>> 0);
    this.field(F.GuestCr4, c.cr4 >>> 0);
    this.field(F.GuestDr7, 0x400);
    this.field(F.GuestIa32Debugctl, 0);
    this.field(F.GuestIa32Pat, (BigInt(c.patHi >>> 0) << 32n) | BigInt(c.patLo >>> 0));
    this.field(F.GuestIa32Efer, c.efer >>> 0);
    for (let s = 0; s < 8; s++) {
      let attr = c.segAttr[s]! & 0x1f0ff;
      if ((attr & SegAttr.P) === 0) attr = SegAttr.Unusable;
      if (s === Seg.LDTR) attr = SegAttr.Unusable;
      this.field(0x0800 + 2 * s, s === Seg.LDTR ? 0 : c.segSel[s]!);
      this.field(0x4800 + 2 * s, c.segLimit[s]!);
      this.field(0x4814 + 2 * s, attr);
      this.field(0x6806 + 2 * s, (BigInt(c.segBaseHi[s]! >>> 0) << 32n) | BigInt(c.segBase[s]! >>> 0));
    }
    this.field(F.GuestGdtrBase, c.gdtrBaseLo >>> 0);
    this.field(F.GuestGdtrLimit, c.gdtrLimit);
    this.field(F.GuestIdtrBase, c.idtrBaseLo >>> 0);
    this.field(F.GuestIdtrLimit, c.idtrLimit);
    this.field(F.GuestRflags, 2);
    this.field(F.GuestRip, opts.guestRip);
    this.field(F.GuestRsp, opts.guestRsp ?? STACK_TOP - 0x1000);
    this.field(F.GuestPendingDbgExceptions, 0);
    this.field(F.GuestInterruptibilityInfo, 0);
    this.field(F.GuestActivityState, 0);
    this.field(F.GuestSysenterCs, 0);
    this.field(F.GuestSysenterEsp, 0);
    this.field(F.GuestSysenterEip, 0);
    return this;
  }
}

/** Default VMXON region of {@link VmxMachine.vmxonAndLoad}. */
export const VMXON_AT = 0x100000;
/** Default VMCS region of {@link VmxMachine.vmxonAndLoad}. */
export const VMCS_AT = 0x101000;

// ---- instruction encoders --------------------------------------------------------------------

/**
 * ModRM bytes and displacement tails for the operand forms the encoders take. A memory form
 * `[base]` is `mod 00, rm = base` (not RSP/RBP: they need a SIB or disp); `[base + disp8]` is
 * `mod 01`. `REG(r)` is a register operand (mod 11) for r 0-7.
 */
export interface RmForm {
  /** ModRM byte with reg = 0. */
  readonly modrm: number;
  /** Bytes after the ModRM byte (displacement). */
  readonly tail: readonly number[];
  /** REX.B needed (r8-r15 as base/register). */
  readonly rexB?: boolean;
}

/** Register numbers (the core's Reg order). */
export const R = { RAX: 0, RCX: 1, RDX: 2, RBX: 3, RSP: 4, RBP: 5, RSI: 6, RDI: 7 } as const;

function imm32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

function modrm(form: RmForm, reg: number): number[] {
  return [form.modrm | ((reg & 7) << 3), ...form.tail];
}

/** Byte encoders (verified against the SDM Vol. 2 opcode tables and iced-x86 in caps/instructions tests). */
export const X = {
  /** `[rax]`. */
  MEM_RAX: { modrm: 0x00, tail: [] } as RmForm,
  /** `[rbx]`. */
  MEM_RBX: { modrm: 0x03, tail: [] } as RmForm,
  /** `[base + disp8]` (base 0-7, not RSP). */
  memDisp8: (base: number, disp: number): RmForm => ({ modrm: 0x40 | base, tail: [disp & 0xff] }),
  /** `[base + disp32]` (base 0-7, not RSP). */
  memDisp32: (base: number, disp: number): RmForm => ({ modrm: 0x80 | base, tail: imm32(disp) }),
  /** Absolute `[disp32]` (32-bit code: mod 00 rm 101; in 64-bit mode this is RIP-relative). */
  memAbs32: (disp: number): RmForm => ({ modrm: 0x05, tail: imm32(disp) }),
  /** A register operand (mod 11). */
  REG: (r: number): RmForm => ({ modrm: 0xc0 | r, tail: [] }),

  /** VMXON m64: F3 0F C7 /6. */
  vmxon: (m: RmForm): number[] => [0xf3, 0x0f, 0xc7, ...modrm(m, 6)],
  /** VMCLEAR m64: 66 0F C7 /6. */
  vmclear: (m: RmForm): number[] => [0x66, 0x0f, 0xc7, ...modrm(m, 6)],
  /** VMPTRLD m64: 0F C7 /6. */
  vmptrld: (m: RmForm): number[] => [0x0f, 0xc7, ...modrm(m, 6)],
  /** VMPTRST m64: 0F C7 /7. */
  vmptrst: (m: RmForm): number[] => [0x0f, 0xc7, ...modrm(m, 7)],
  /** VMREAD r/m, r (`dst` = r/m gets the field named by register `enc`): 0F 78 /r. */
  vmread: (dst: RmForm, enc: number): number[] => [0x0f, 0x78, ...modrm(dst, enc)],
  /** VMWRITE r, r/m (field named by register `enc` gets `src`): 0F 79 /r. */
  vmwrite: (enc: number, src: RmForm): number[] => [0x0f, 0x79, ...modrm(src, enc)],
  /** INVEPT r, m128: 66 0F 38 80 /r (`type` register, descriptor in memory). */
  invept: (type: number, m: RmForm): number[] => [0x66, 0x0f, 0x38, 0x80, ...modrm(m, type)],
  /** INVVPID r, m128: 66 0F 38 81 /r. */
  invvpid: (type: number, m: RmForm): number[] => [0x66, 0x0f, 0x38, 0x81, ...modrm(m, type)],
  vmcall: [0x0f, 0x01, 0xc1] as readonly number[],
  vmlaunch: [0x0f, 0x01, 0xc2] as readonly number[],
  vmresume: [0x0f, 0x01, 0xc3] as readonly number[],
  vmxoff: [0x0f, 0x01, 0xc4] as readonly number[],
  vmfunc: [0x0f, 0x01, 0xd4] as readonly number[],
  hlt: [0xf4] as readonly number[],
  nop: [0x90] as readonly number[],
  /** MOV r64, imm64 (REX.W B8+r; r 0-7). */
  movImm64: (r: number, v: bigint | number): number[] => {
    const b = BigInt.asUintN(64, BigInt(v));
    return [0x48, 0xb8 + r, ...imm32(Number(b & 0xffffffffn)), ...imm32(Number(b >> 32n))];
  },
  /** MOV r32, imm32 (B8+r; r 0-7; zero-extends in 64-bit mode). */
  movImm32: (r: number, v: number): number[] => [0xb8 + r, ...imm32(v)],
  /** The REX.W prefix (prepend to make an operand 64-bit where the default is 32). */
  REX_W: 0x48,
};
