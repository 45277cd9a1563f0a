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
  Cpuid: 1,
  Hlt: 2,
  Invlpg: 3,
  Rdtsc: 4,
  Rdtscp: 5,
  Rdpmc: 6,
  Rdmsr: 7,
  Wrmsr: 8,
  /** IN/OUT/INS/OUTS: info = port | size << 16 | in << 19 | string << 20 | rep << 21. */
  Io: 9,
  /** MOV to CRn: info = n. */
  CrWrite: 10,
  /** MOV from CRn: info = n. */
  CrRead: 11,
  /** MOV to DRn. */
  DrWrite: 12,
  DrRead: 13,
  /** An exception about to be delivered: info = vector, info2 = error code. */
  Exception: 14,
  /** An external interrupt about to be taken. */
  Interrupt: 15,
  Nmi: 16,
  Init: 17,
  Sipi: 18,
  TaskSwitch: 19,
  Pause: 20,
  Monitor: 21,
  Mwait: 22,
  /** LGDT/LIDT/SGDT/SIDT/LLDT/LTR/SLDT/STR: info = which (0-7 as above). */
  DescriptorTable: 23,
  Xsetbv: 24,
  Wbinvd: 25,
  Invd: 26,
  Invpcid: 27,
  Lmsw: 28,
  Clts: 29,
  Smsw: 30,
  Iret: 31,
  Intn: 32,
  Rsm: 33,
  Shutdown: 34,
  Vmcall: 35,
  Rdrand: 36,
  Rdseed: 37,
  Popf: 38,
  Pushf: 39,
  Icebp: 40,
  Swint: 41,
  /** An interrupt window opened (IF=1, no shadow) while the hypervisor asked for one. */
  InterruptWindow: 42,
  Xsaves: 43,
  Invlpga: 44,
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
   * a VM exit (EPT violation, nested #PF) by throwing through the CPU.
   */
  translateGpa(cpu: Cpu, gpa: number, access: number): number;
  /** RDMSR of an MSR the extension owns; returns false when it does not own `msr`. Result in cpu.msrLo/msrHi. */
  readMsr(cpu: Cpu, msr: number): boolean;
  /** WRMSR of an MSR the extension owns; returns false when it does not own `msr`. */
  writeMsr(cpu: Cpu, msr: number, lo: number, hi: number): boolean;
  /** Whether CR4.VMXE / EFER.SVME may be set now (the feature bit is legal). */
  allowsEnable(cpu: Cpu): boolean;
}
