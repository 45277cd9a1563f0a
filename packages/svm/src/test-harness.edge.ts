/**
 * Test-only harness for the SVM modules (NOT exported from index.ts): one `Cpu` (the AMD model)
 * on RAM with an {@link SvmCpu} plugged in, direct mode setup (real, flat 32-bit protected,
 * 64-bit long mode with identity paging), exceptions caught and recorded, memory helpers, a
 * VMCB builder that passes every VMRUN consistency check ({@link SvmMachine.setupVmcb}), and byte
 * encoders for the SVM instructions and the few ordinary instructions tests need around them.
 *
 * Typical use:
 * ```ts
 * const m = new SvmMachine().long64().enableSvm().setupVmcb({ guestRip: GUEST_CODE });
 * m.bytes(GUEST_CODE, [...X.cpuid]);                 // the guest
 * m.vmcb32(VmcbOffset.InterceptMisc1, InterceptMisc1.Cpuid);
 * m.run([...X.movImm64(R.RAX, VMCB_AT), ...X.vmrun, ...X.hlt]);
 * expect(m.exitCode()).toBe(SvmExitCode.Cpuid);
 * ```
 *
 * Memory map used by the helpers (8 MiB of RAM by default):
 * - 0x00000-0x00FFF: real-mode IVT, unused otherwise;
 * - {@link GDT_AT} 0x6000: the GDT the mode setups write (descriptors for every selector they use);
 * - {@link TSS_AT} 0x9000: a TSS (TR points at it);
 * - {@link CODE} 0x10000: host code written by {@link SvmMachine.run} / {@link SvmMachine.code};
 * - {@link STACK_TOP} 0x8000: initial host RSP (stack grows down to 0x1000);
 * - {@link PT_ROOT} 0x70000-0x72FFF: long-mode page tables (identity map of the first 1 GiB);
 * - {@link HSAVE_AT} 0x100000: the host save area (VM_HSAVE_PA); {@link VMCB_AT} 0x101000: the VMCB;
 * - {@link IOPM_AT} 0x104000 (12 KiB), {@link MSRPM_AT} 0x108000 (8 KiB): the permission maps;
 * - {@link GUEST_CODE} 0x200000, {@link GUEST_STACK} 0x280000: the guest's code and stack;
 * - 0x300000 and up: free (NPT tables, other VMCBs, operands).
 */
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { AMD_ZEN, Cpu, Cr0, Cr4, Efer, Flag, Seg, SegAttr, type CpuModel, type StopReason } from '@hvkit/x86';
import { DEFAULT_SVM_FEATURES, type SvmFeatures } from './caps.js';
import { InterceptMisc2 } from './constants.js';
import { SvmCpu } from './svm.js';
import { attribFromCore, VMCB_SEG_BY_CORE_SEG, VmcbOffset, VmcbSeg } from './vmcb.js';

export const CODE = 0x10000;
export const STACK_TOP = 0x8000;
export const TSS_AT = 0x9000;
export const PT_ROOT = 0x70000;
export const GDT_AT = 0x6000;
/** The host save area {@link SvmMachine.enableSvm} sets VM_HSAVE_PA to. */
export const HSAVE_AT = 0x100000;
/** The VMCB {@link SvmMachine.setupVmcb} writes by default. */
export const VMCB_AT = 0x101000;
/** The I/O permission map (12 KiB) and the MSR permission map (8 KiB) of {@link SvmMachine.setupVmcb}. */
export const IOPM_AT = 0x104000;
export const MSRPM_AT = 0x108000;
/** Where tests put guest code, and the guest's initial RSP. */
export const GUEST_CODE = 0x200000;
export const GUEST_STACK = 0x280000;


/** Flat segment attributes (the core's SegAttr layout; `attribFromCore` converts to the VMCB's). */
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

export interface SvmMachineOptions {
  /** RAM size in bytes (default 8 MiB). */
  ram?: number;
  model?: CpuModel;
  features?: SvmFeatures;
}

/**
 * A processor with SVM on RAM. Faults are not delivered through the IDT: `cpu.onEvent`
 * records them in {@link events} and stops the CPU, so a test sees `fault` = the first one.
 */
export class SvmMachine {
  readonly memory: PhysicalMemory;
  readonly io: PioBus;
  readonly cpu: Cpu;
  readonly svm: SvmCpu;
  readonly events: CaughtEvent[] = [];

  constructor(opts: SvmMachineOptions = {}) {
    const ram = opts.ram ?? 8 << 20;
    this.memory = new PhysicalMemory({ ramSize: ram });
    this.memory.mapRam(0, ram);
    this.io = new PioBus();
    this.cpu = new Cpu({ memory: this.memory, io: this.io, model: opts.model ?? AMD_ZEN });
    const mem = this.memory;
    this.svm = new SvmCpu(opts.features ?? DEFAULT_SVM_FEATURES, {
      read32: (a: number) => mem.read32(a as Hpa) | 0,
      write32: (a: number, v: number) => mem.write32(a as Hpa, v >>> 0),
    });
    this.cpu.ext = this.svm;
    this.svm.attach(this.cpu);
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

  // ---- SVM ----------------------------------------------------------------------------------

  /** EFER.SVME = 1 (APM §15.4 "Enabling SVM") and VM_HSAVE_PA = {@link HSAVE_AT}. */
  enableSvm(hsave = HSAVE_AT): this {
    this.cpu.efer |= Efer.SVME;
    this.svm.hsavePa = hsave;
    return this;
  }

  /** Writes 32 bits at VMCB offset `off` of the VMCB at `vmcb` (default {@link VMCB_AT}). */
  vmcb32(off: number, v: number, vmcb = VMCB_AT): this {
    this.w32(vmcb + off, v);
    return this;
  }
  /** Writes 64 bits at VMCB offset `off`. */
  vmcb64(off: number, v: bigint | number, vmcb = VMCB_AT): this {
    this.w64(vmcb + off, v);
    return this;
  }
  /** Sets bits in the 32-bit word at VMCB offset `off`. */
  vmcbSet(off: number, bits: number, vmcb = VMCB_AT): this {
    this.w32(vmcb + off, (this.r32(vmcb + off) | bits) >>> 0);
    return this;
  }
  /** Reads 64 bits at VMCB offset `off`. */
  vmcbRead(off: number, vmcb = VMCB_AT): bigint {
    return this.r64(vmcb + off);
  }
  /** EXITCODE as a signed number (VMEXIT_INVALID = -1). */
  exitCode(vmcb = VMCB_AT): number {
    return Number(BigInt.asIntN(64, this.r64(vmcb + VmcbOffset.ExitCode)));
  }
  exitInfo1(vmcb = VMCB_AT): bigint {
    return this.r64(vmcb + VmcbOffset.ExitInfo1);
  }
  exitInfo2(vmcb = VMCB_AT): bigint {
    return this.r64(vmcb + VmcbOffset.ExitInfo2);
  }

  /**
   * Fills the VMCB at `vmcb` with a guest that passes every VMRUN consistency check (APM §15.5.1):
   * the current (host) mode's control registers, EFER, segments, GDTR/IDTR, RFLAGS 2, RSP
   * `guestRsp` and RIP `guestRip`, guest ASID 1, the VMRUN intercept (required), the IOPM and MSRPM
   * bases at {@link IOPM_AT} / {@link MSRPM_AT} (zero-filled: nothing intercepted), no other intercept.
   */
  setupVmcb(opts: { guestRip: number; guestRsp?: number; asid?: number }, vmcb = VMCB_AT): this {
    const c = this.cpu;
    this.fill(vmcb, 0x1000);
    this.fill(IOPM_AT, 0x3000);
    this.fill(MSRPM_AT, 0x2000);
    this.vmcb32(VmcbOffset.InterceptMisc2, InterceptMisc2.Vmrun, vmcb);
    this.vmcb64(VmcbOffset.IopmBasePa, IOPM_AT, vmcb);
    this.vmcb64(VmcbOffset.MsrpmBasePa, MSRPM_AT, vmcb);
    this.vmcb32(VmcbOffset.GuestAsid, opts.asid ?? 1, vmcb);
    for (let s = 0; s < 8; s++) {
      const off = vmcb + VMCB_SEG_BY_CORE_SEG[s]!;
      this.w16(off + VmcbSeg.Selector, c.segSel[s]!);
      this.w16(off + VmcbSeg.Attrib, attribFromCore(c.segAttr[s]!));
      this.w32(off + VmcbSeg.Limit, c.segLimit[s]!);
      this.w32(off + VmcbSeg.Base, c.segBase[s]!);
      this.w32(off + VmcbSeg.Base + 4, c.segBaseHi[s]!);
    }
    this.w32(vmcb + VmcbOffset.Gdtr + VmcbSeg.Limit, c.gdtrLimit);
    this.w32(vmcb + VmcbOffset.Gdtr + VmcbSeg.Base, c.gdtrBaseLo);
    this.w32(vmcb + VmcbOffset.Gdtr + VmcbSeg.Base + 4, c.gdtrBaseHi);
    this.w32(vmcb + VmcbOffset.Idtr + VmcbSeg.Limit, c.idtrLimit);
    this.w32(vmcb + VmcbOffset.Idtr + VmcbSeg.Base, c.idtrBaseLo);
    this.w32(vmcb + VmcbOffset.Idtr + VmcbSeg.Base + 4, c.idtrBaseHi);
    this.w8(vmcb + VmcbOffset.Cpl, c.cpl);
    this.vmcb32(VmcbOffset.Efer, c.efer, vmcb);
    this.vmcb32(VmcbOffset.Cr0, c.cr0, vmcb);
    this.vmcb32(VmcbOffset.Cr3, c.cr3Lo, vmcb).vmcb32(VmcbOffset.Cr3 + 4, c.cr3Hi, vmcb);
    this.vmcb32(VmcbOffset.Cr4, c.cr4, vmcb);
    this.vmcb32(VmcbOffset.Dr6, 0xffff0ff0, vmcb);
    this.vmcb32(VmcbOffset.Dr7, 0x400, vmcb);
    this.vmcb32(VmcbOffset.Rflags, 2, vmcb);
    this.vmcb64(VmcbOffset.Rip, opts.guestRip, vmcb);
    this.vmcb64(VmcbOffset.Rsp, opts.guestRsp ?? GUEST_STACK, vmcb);
    this.vmcb64(VmcbOffset.GPat, 0x0007040600070406n, vmcb);
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
   * 4 GiB, page directory at {@link PT_ROOT}) at `cpl`: PE and PG set.
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
}

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

/** Byte encoders (AMD APM Vol. 3 opcode tables; the SVM instructions are 0F 01 D8-DF). */
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

  /** VMRUN rAX: 0F 01 D8. */
  vmrun: [0x0f, 0x01, 0xd8] as readonly number[],
  /** VMMCALL: 0F 01 D9. */
  vmmcall: [0x0f, 0x01, 0xd9] as readonly number[],
  /** VMLOAD rAX: 0F 01 DA. */
  vmload: [0x0f, 0x01, 0xda] as readonly number[],
  /** VMSAVE rAX: 0F 01 DB. */
  vmsave: [0x0f, 0x01, 0xdb] as readonly number[],
  /** STGI: 0F 01 DC. */
  stgi: [0x0f, 0x01, 0xdc] as readonly number[],
  /** CLGI: 0F 01 DD. */
  clgi: [0x0f, 0x01, 0xdd] as readonly number[],
  /** SKINIT EAX: 0F 01 DE. */
  skinit: [0x0f, 0x01, 0xde] as readonly number[],
  /** INVLPGA rAX, ECX: 0F 01 DF. */
  invlpga: [0x0f, 0x01, 0xdf] as readonly number[],
  cpuid: [0x0f, 0xa2] as readonly number[],
  rdtsc: [0x0f, 0x31] as readonly number[],
  rdmsr: [0x0f, 0x32] as readonly number[],
  wrmsr: [0x0f, 0x30] as readonly number[],
  sti: [0xfb] as readonly number[],
  cli: [0xfa] as readonly number[],
  pause: [0xf3, 0x90] as readonly number[],
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
