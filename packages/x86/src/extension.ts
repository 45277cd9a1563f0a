/**
 * The virtualization extension interface: the one contract through which `@hvkit/vmx` and
 * `@hvkit/svm` plug into the core (in the way KVM's `kvm_x86_ops` separates the vendor code).
 *
 * Cost outside guest mode: interceptable instructions test `cpu.guestMode` (one boolean
 * field) before calling {@link VirtualizationExtension.intercept}; the gpa->hpa hook is
 * consulted only on TLB misses and page-walk reads, and only in guest mode.
 */
import type { Cpu } from './cpu.js';

/**
 * Points at which a hypervisor may take control (SDM Vol. 3 ch. 26 "VM exits" and AMD APM
 * Vol. 2 §15.9-15.13). Each names the instruction or event; the information needed to build
 * exit qualifications / EXITINFO is passed alongside.
 */
export const Intercept = {
  /** CPUID: info = EAX (leaf), info2 = ECX (subleaf). */
  Cpuid: 1,
  /** HLT. */
  Hlt: 2,
  /** INVLPG: info/info2 = the linear address (lo, hi); `cpu.curRec` = the instruction. */
  Invlpg: 3,
  Rdtsc: 4,
  Rdtscp: 5,
  /** RDPMC: info = ECX. */
  Rdpmc: 6,
  /** RDMSR: info = ECX. */
  Rdmsr: 7,
  /** WRMSR: info = ECX. */
  Wrmsr: 8,
  /**
   * IN/OUT/INS/OUTS: info = port | size << 16 | in << 19 | string << 20 | rep << 21 | imm << 22
   * (imm: the port is an immediate operand, E4-E7, not DX). String
   * forms: info2 = address size (1 16-bit, 2 32-bit, 3 64-bit) | segment << 4, and
   * `cpu.lastLo/lastHi` = the linear address of the memory operand (ES:rDI for INS, seg:rSI for
   * OUTS; SDM §27.2.1 "guest-linear address" for I/O instructions).
   */
  Io: 9,
  /** MOV to CRn: info = n | gpr << 4 (gpr = the source register 0-15; SDM §27.2.1 Table 27-3). */
  CrWrite: 10,
  /** MOV from CRn: info = n | gpr << 4 (gpr = the destination register 0-15). */
  CrRead: 11,
  /** MOV to DRn: info = n | gpr << 4 (the source register 0-15), info2 = 0 (direction: to DR; SDM §27.2.1 Table 27-4). */
  DrWrite: 12,
  /** MOV from DRn: info = n | gpr << 4 (the destination register 0-15), info2 = 1 (direction: from DR). */
  DrRead: 13,
  /**
   * An exception or software interrupt about to be delivered (hardware exceptions, INT n,
   * INT3, INTO, INT1): info = vector | kind << 8 | src << 12 where kind is the EventKind
   * (0 exception, 3 software INT n/INT3/INTO, 4 privileged software INT1) and src says which
   * instruction: 0 none (hardware), 1 INT n (CD ib), 2 INT3 (CC), 3 INTO (CE), 4 INT1 (F1);
   * info2 = the error code, or -1 for none. For software events `cpu.vectoringInsnLen` is the
   * instruction length and `cpu.ripLo/ripHi` is the address of the NEXT instruction (the
   * extension computes rip - len for the instruction's address); for faults rip is the
   * faulting instruction. `cpu.vectoringInfo` still describes an event whose delivery was
   * interrupted by this one (IDT-vectoring information, SDM §27.2.4).
   */
  Exception: 14,
  /** An external interrupt about to be acknowledged (INTR asserted, IF = 1, no shadow). */
  Interrupt: 15,
  /** An NMI about to be delivered: info = 2 | 2 << 8, info2 = -1. */
  Nmi: 16,
  /** INIT (pending, not blocked by `cpu.initBlocked`), in guest mode. true = consumed. */
  Init: 17,
  /** Start-up IPI received in wait-for-SIPI: info = the vector. true = consumed. */
  Sipi: 18,
  /**
   * Task switch: info = the new TSS selector, info2 = reason: 0 CALL, 1 IRET, 2 JMP, 3 IDT task
   * gate (for 3, `cpu.vectoringInfo` describes the event that went through the gate; SDM
   * §27.2.1 Table 27-2 "source of task switch"). For CALL, JMP and IRET `cpu.curRec` is the
   * instruction (its length is the VM-exit instruction length).
   */
  TaskSwitch: 19,
  Pause: 20,
  Monitor: 21,
  /** MWAIT: info = 1 when the monitoring hardware is armed (a MONITOR ran), else 0 (SDM §27.2.1). */
  Mwait: 22,
  /** LGDT/LIDT/SGDT/SIDT/LLDT/LTR/SLDT/STR: info = which (0 LGDT, 1 LIDT, 2 SGDT, 3 SIDT, 4 LLDT, 5 LTR, 6 SLDT, 7 STR); `cpu.curRec` = the instruction. */
  DescriptorTable: 23,
  Xsetbv: 24,
  Wbinvd: 25,
  Invd: 26,
  /** INVPCID: info = the type (low half); `cpu.curRec` = the instruction. */
  Invpcid: 27,
  /**
   * LMSW: info = the 16-bit source value, info2 = (memory ? 1 : 0) | reg << 1 (the source
   * register for a register operand); for a memory operand its linear address is in
   * `cpu.lastLo/lastHi` (SDM §27.2.1 Table 27-3 "LMSW operand type", "guest-linear address").
   */
  Lmsw: 28,
  Clts: 29,
  Smsw: 30,
  Iret: 31,
  Intn: 32,
  Rsm: 33,
  /** Triple fault (shutdown). */
  Shutdown: 34,
  Vmcall: 35,
  Rdrand: 36,
  Rdseed: 37,
  Popf: 38,
  Pushf: 39,
  Icebp: 40,
  /** INT n (CD ib) before any check (SVM's INTn intercept): info = the vector. */
  Swint: 41,
  /** An interrupt window opened (IF=1, no shadow) while the hypervisor asked for one. */
  InterruptWindow: 42,
  Xsaves: 43,
  Invlpga: 44,
  /** An SMI arrived in guest mode (the core has no SMM; without a VM exit it is dropped). */
  Smi: 45,
  /**
   * FERR_FREEZE: an x87 instruction found an unmasked x87 exception pending with CR0.NE = 0
   * (legacy FERR# reporting), where the processor would freeze until an interrupt (APM Vol. 2
   * §15.9 "Instruction Intercepts", FERR_FREEZE).
   */
  FerrFreeze: 46,
} as const;
export type Intercept = (typeof Intercept)[keyof typeof Intercept];

/** The VMX and SVM instructions, which decode to #UD unless an extension claims them. */
export const VirtInstruction = {
  Vmxon: 1,
  Vmxoff: 2,
  Vmclear: 3,
  Vmptrld: 4,
  Vmptrst: 5,
  Vmread: 6,
  Vmwrite: 7,
  Vmlaunch: 8,
  Vmresume: 9,
  Vmcall: 10,
  Vmfunc: 11,
  Invept: 12,
  Invvpid: 13,
  Vmrun: 20,
  Vmload: 21,
  Vmsave: 22,
  Vmmcall: 23,
  Stgi: 24,
  Clgi: 25,
  Skinit: 26,
  Invlpga: 27,
} as const;
export type VirtInstruction = (typeof VirtInstruction)[keyof typeof VirtInstruction];

/**
 * Every `intercept` call made for an instruction sets `cpu.curRec` to the instruction's decode
 * record first (guest mode only), so the extension can build VM-exit instruction information
 * with the helpers of insn-info.ts (SDM §27.2.5).
 */
export interface VirtualizationExtension {
  /** 'vmx' or 'svm'. */
  readonly kind: 'vmx' | 'svm';
  /** Called once when the extension is plugged into a CPU. */
  attach(cpu: Cpu): void;
  /** Adjusts CPUID output (sets the VMX or SVM feature bit, leaf 0x8000000A, ...). `out` is EAX, EBX, ECX, EDX. */
  cpuid(leaf: number, subleaf: number, out: Int32Array): void;
  /** Executes a VMX/SVM instruction decoded at record `d`. May raise exceptions through the CPU. */
  execute(cpu: Cpu, which: VirtInstruction, d: number): void;
  /**
   * In guest mode, called before an interceptable operation. Returns true when a VM exit
   * was performed (the CPU then abandons the instruction or event).
   */
  intercept(cpu: Cpu, what: Intercept, info: number, info2: number): boolean;
  /**
   * In guest mode, translates a guest-physical address to host-physical for an access of
   * kind `access` (0 read, 1 write, 2 fetch, with 4 set for page-walk accesses). May perform
   * a VM exit (EPT violation, nested #PF) by throwing through the CPU. It may lower
   * `cpu.slRights` (bit 0 read, 1 write, 2 execute; the core sets 7 before the final translation
   * of a linear access) to the kinds of access its mapping grants without another call: the core
   * installs no TLB right beyond them. `cpu.accessSize` is the size of the data access being
   * translated (0 when not a sized data access), for outcomes that depend on it; an extension may
   * redirect such an access (return another host-physical address) and set `slRights` to 0 so no
   * later access of the page reuses the translation without asking again.
   */
  translateGpa(cpu: Cpu, gpa: number, access: number): number;
  /** RDMSR of an MSR the extension owns; returns false when it does not own `msr`. Result in cpu.msrLo/msrHi. */
  readMsr(cpu: Cpu, msr: number): boolean;
  /** WRMSR of an MSR the extension owns; returns false when it does not own `msr`. */
  writeMsr(cpu: Cpu, msr: number, lo: number, hi: number): boolean;
  /** Whether CR4.VMXE / EFER.SVME may be set now (the feature bit is legal). */
  allowsEnable(cpu: Cpu): boolean;
  /**
   * Whether MOV to CR0/CR4, CLTS or LMSW may put `lo:hi` in CR`n` (0 or 4) now: false makes the
   * instruction raise #GP(0) (VMX: the bits IA32_VMX_CR0/CR4_FIXED0/FIXED1 fix in VMX operation,
   * SDM Vol. 3C §23.8 "Restrictions on VMX Operation"). In guest mode `lo:hi` is the value
   * after the guest/host-mask merge, i.e. what would land in the register. Called only from
   * those instruction paths, and only when an extension is plugged in.
   */
  allowsCrWrite(cpu: Cpu, n: number, lo: number, hi: number): boolean;
  /**
   * Called at an instruction boundary, before the core services pending debug traps, NMI and
   * INTR, whenever cpu.extBoundary is true or cpu.icount >= cpu.extDeadline (guest mode only;
   * also while halted or waiting for SIPI). Returns true when it performed a VM exit (the core
   * then re-evaluates from the new state). The extension must move `extDeadline` on (to
   * Infinity, say) once it has acted on it, or it is called again at every boundary.
   */
  boundary(cpu: Cpu): boolean;
}
