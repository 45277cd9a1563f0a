/**
 * The SVM intercepts (AMD64 APM Vol. 2 §15.7 "Intercept Operation" and §15.8-§15.14): for every
 * operation the core offers in guest mode (`ext.intercept`), whether the VMCB's intercept vectors
 * make it a #VMEXIT, with the EXITCODE (Appendix C) and the EXITINFO1/EXITINFO2 the APM defines
 * for it (decode assists §15.35 where advertised). Operations that are not intercepted but behave
 * differently in a guest are performed here too: MOV CR8 with V_INTR_MASKING reads and writes
 * V_TPR (§15.21.1); an IRET with a virtual NMI pending asks for the boundary hook (§15.21.5).
 *
 * Where an intercept is checked relative to the instruction's exceptions (§15.7.1 "Instruction
 * intercepts are checked after simple exceptions, such as #GP when CPL is incorrect, or #UD,
 * but before exceptions related to memory accesses and to specific operand values") is decided
 * by the place of the core's call: the core makes its mode/CPL/#UD checks first, then calls
 * `ext.intercept`, then reads operands (#PF, #GP for bad values). The exceptions to the rule
 * are the core's too: RSM is offered before its #UD outside SMM, the SVM instructions (VMRUN ...)
 * are intercepted before their CPL check (instructions.ts).
 *
 * Nothing here allocates or throws JS errors; the hot paths (CPUID, I/O, MSR) read only the
 * cached controls in `SvmCpu` and the permission maps in host-physical memory.
 */
import { CodeMode, Cr0, insnAddrSize, Intercept, Seg, type Cpu } from '@hvkit/x86';
import { InterceptMisc1, InterceptMisc2, SvmExitCode, VIntr } from './constants.js';
import type { SvmCpu } from './svm.js';
import { VmcbOffset } from './vmcb.js';
import { svmExit } from './vmexit.js';

// ---- pure EXITINFO helpers (exported for tests and the typed API) ---------------------------

/**
 * EXITINFO1 of an IOIO intercept (APM §15.10.2, Figure 15-2): bit 0 TYPE (1 = IN), bit 2 STR,
 * bit 3 REP, bits 6:4 SZ32/SZ16/SZ8 (one-hot), bits 9:7 A64/A32/A16 (one-hot), bits 12:10 SEG
 * (decode assists: the effective segment of a string instruction, ES for INS), bits 31:16 the
 * port. `info` is the core's Io encoding (port | size << 16 | in << 19 | string << 20 | rep << 21),
 * `addrSize` 1 16-bit, 2 32-bit, 3 64-bit, `seg` the core's segment number (ES 0 ... GS 5, the
 * APM's SEG encoding).
 */
export function ioioInfo(info: number, addrSize: number, seg: number, decodeAssists: boolean): number {
  const size = (info >>> 16) & 7;
  const str = (info >>> 20) & 1;
  let v = ((info >>> 19) & 1) | (str << 2) | (((info >>> 21) & 1) << 3);
  v |= size === 1 ? 1 << 4 : size === 2 ? 1 << 5 : 1 << 6;
  v |= 1 << (6 + addrSize);
  if (decodeAssists && str !== 0) v |= (seg & 7) << 10;
  return (v | ((info & 0xffff) << 16)) | 0;
}

/**
 * Whether the I/O permission map at host-physical `base` (12 KiB, one bit per port, §15.10.1)
 * intercepts an access of `size` bytes at `port`: the bits of every byte the access touches are
 * checked (a 4-byte access at FFFFh checks the bits of ports FFFFh-10002h, which the 12 KiB map
 * holds beyond the first 64 K).
 */
export function iopmIntercepts(cpu: Cpu, base: number, port: number, size: number): boolean {
  const byte = base + (port >>> 3);
  const bits = (cpu.memory.read8(byte as never) | (cpu.memory.read8((byte + 1) as never) << 8)) >>> (port & 7);
  return (bits & ((1 << size) - 1)) !== 0;
}

/**
 * The bit index in the MSR permission map (8 KiB, §15.11 "MSR Intercepts": MSRs 0000_0000h-0000_1FFFh
 * at bytes 000h-7FFh, C000_0000h-C000_1FFFh at 800h-FFFh, C001_0000h-C001_1FFFh at 1000h-17FFh,
 * two bits per MSR: the even one for RDMSR, the odd one for WRMSR), or -1 for an MSR outside the
 * three ranges (always intercepted when MSR_PROT is set).
 */
export function msrpmBit(msr: number, write: boolean): number {
  const m = msr >>> 0;
  let range: number;
  if (m <= 0x1fff) range = 0;
  else if (m >= 0xc0000000 && m <= 0xc0001fff) range = 1;
  else if (m >= 0xc0010000 && m <= 0xc0011fff) range = 2;
  else return -1;
  return range * 0x800 * 8 + (m & 0x1fff) * 2 + (write ? 1 : 0);
}

/** Whether the MSR permission map at host-physical `base` intercepts RDMSR (`write` false) / WRMSR of `msr`. */
export function msrpmIntercepts(cpu: Cpu, base: number, msr: number, write: boolean): boolean {
  const bit = msrpmBit(msr, write);
  if (bit < 0) return true;
  return ((cpu.memory.read8((base + (bit >>> 3)) as never) >>> (bit & 7)) & 1) !== 0;
}

/**
 * EXITINFO2 of a task-switch intercept (§15.14.2), high half: bit 36 (4 here) the switch is
 * due to IRET, bit 38 (6) due to JMP, bit 44 (12) an error code is pushed (low half = it).
 * `reason` is the core's: 0 CALL, 1 IRET, 2 JMP, 3 IDT task gate.
 */
export function taskSwitchInfo2Hi(reason: number, hasError: boolean): number {
  return (reason === 1 ? 1 << 4 : 0) | (reason === 2 ? 1 << 6 : 0) | (hasError ? 1 << 12 : 0);
}

/** The SVM #VMEXIT code of a descriptor-table access by the core's `which` (0 LGDT, 1 LIDT, 2 SGDT, 3 SIDT, 4 LLDT, 5 LTR, 6 SLDT, 7 STR). */
const DT_EXIT: readonly number[] = [
  SvmExitCode.GdtrWrite,
  SvmExitCode.IdtrWrite,
  SvmExitCode.GdtrRead,
  SvmExitCode.IdtrRead,
  SvmExitCode.LdtrWrite,
  SvmExitCode.TrWrite,
  SvmExitCode.LdtrRead,
  SvmExitCode.TrRead,
];
/** The InterceptMisc1 bit of each `which`. */
const DT_BIT: readonly number[] = [
  InterceptMisc1.GdtrWrite,
  InterceptMisc1.IdtrWrite,
  InterceptMisc1.GdtrRead,
  InterceptMisc1.IdtrRead,
  InterceptMisc1.LdtrWrite,
  InterceptMisc1.TrWrite,
  InterceptMisc1.LdtrRead,
  InterceptMisc1.TrRead,
];

/** CR0 bits a write may change without the selective CR0 write intercept (§15.9.1): TS and MP. */
const CR0_SELECTIVE_FREE = Cr0.TS | Cr0.MP;

// ---- exits ----------------------------------------------------------------------------------

/** #VMEXIT for an instruction intercept: RIP = the instruction, nRIP = the next one (the run loop set both). */
function insnExit(svm: SvmCpu, cpu: Cpu, code: number, info1Lo: number, info1Hi: number, info2Lo: number, info2Hi: number): true {
  svmExit(svm, cpu, code, info1Lo, info1Hi, info2Lo, info2Hi);
  svm.pauseLeft = -1;
  return true;
}

/** #VMEXIT not caused by an instruction (events, faults): nRIP is not defined, the exit saves RIP as nRIP. */
function eventExit(svm: SvmCpu, cpu: Cpu, code: number, info1Lo: number, info1Hi: number, info2Lo: number, info2Hi: number): true {
  cpu.nipLo = cpu.ripLo;
  cpu.nipHi = cpu.ripHi;
  svmExit(svm, cpu, code, info1Lo, info1Hi, info2Lo, info2Hi);
  svm.pauseLeft = -1;
  return true;
}

/**
 * #VMEXIT for an intercepted instruction: nRIP = the next instruction (`cpu.nipLo/Hi`), RIP stays
 * at the instruction (§15.7.1 "nRIP"). The SVM instructions' intercepts (VMRUN, VMMCALL, VMLOAD,
 * VMSAVE, STGI, CLGI, SKINIT, INVLPGA: instructions.ts) come here; none of them has EXITINFO or
 * instruction bytes (those are for #NPF and #PF only, §15.35.6).
 */
export function exitForInstruction(svm: SvmCpu, cpu: Cpu, code: number, info1Lo: number, info1Hi: number, info2Lo: number, info2Hi: number): boolean {
  return insnExit(svm, cpu, code, info1Lo, info1Hi, info2Lo, info2Hi);
}

/**
 * Called by VMRUN once the guest is loaded (vmrun.ts / events.ts `guestEnter`): reloads the
 * pause-filter counter at the next PAUSE (§15.14.4 "loaded from PAUSE_FILTER_COUNT on VMRUN")
 * and takes the guest's CR2 as the baseline an intercepted #PF leaves in place.
 */
export function interceptEnter(svm: SvmCpu, cpu: Cpu): void {
  svm.pauseLeft = -1;
  svm.lastPauseAt = -1;
  svm.guestCr2Lo = cpu.cr2Lo;
  svm.guestCr2Hi = cpu.cr2Hi;
  svm.guestCr2Known = true;
}

/**
 * Decode assists (§15.35.6 "Instruction bytes"): writes up to 15 bytes of the guest instruction
 * at CS:RIP into the VMCB's GuestInsnBytes (0D1h) and their number into 0D0h, for #NPF and #PF
 * intercepts. Only bytes the core fetched and still has an execute translation for in its TLB are
 * given (no walk, no fault, no nested fault): the instruction that faulted on a data access was
 * fetched, and a fault on the fetch itself gives 0 bytes, which the APM allows ("the number of
 * bytes fetched may be 0"). Returns the count. `svm.vmcb` must be the running guest's VMCB.
 */
export function fetchGuestInsnBytes(svm: SvmCpu, cpu: Cpu): number {
  if (!svm.features.decodeAssists) return 0;
  if (svm.vmcbPa >= 0) svm.vmcb.select(svm.vmcbPa);
  const is64 = cpu.mode === CodeMode.Bits64;
  let lo = cpu.ripLo;
  let hi = cpu.ripHi;
  if (!is64) {
    lo = (cpu.segBase[Seg.CS]! + lo) | 0;
    hi = 0;
  }
  const mem = cpu.memory;
  let n = 0;
  let phys = -1;
  for (; n < 15; n++) {
    if (n === 0 || (lo & 0xfff) === 0) {
      phys = cpu.cachedFetchPhys(lo, hi);
      if (phys < 0) break;
    }
    svm.vmcb.w8(VmcbOffset.GuestInsnBytes + n, mem.read8(phys as never));
    phys++;
    const next = (lo >>> 0) + 1;
    lo = next | 0;
    if (next > 0xffff_ffff) hi = is64 ? (hi + 1) | 0 : 0;
  }
  svm.vmcb.w8(VmcbOffset.GuestInsnBytesCount, n);
  return n;
}

// ---- the intercept hook ----------------------------------------------------------------------

/**
 * Decides whether an operation the core offers in guest mode causes a #VMEXIT and performs it
 * (true), performs the operation's guest behaviour itself (true: MOV CR8 with V_INTR_MASKING), or
 * lets the core run it (false).
 */
export function intercept(svm: SvmCpu, cpu: Cpu, what: Intercept, info: number, info2: number): boolean {
  const m1 = svm.interceptMisc1;
  const m2 = svm.interceptMisc2;
  switch (what) {
    // ---- §15.9 control and debug registers --------------------------------------------------
    case Intercept.CrRead:
      return crRead(svm, cpu, info & 0xf, (info >>> 4) & 0xf);
    case Intercept.CrWrite:
      return crWrite(svm, cpu, info & 0xf, (info >>> 4) & 0xf);
    case Intercept.Smsw:
      // SMSW reads CR0: the CR0 read intercept, without decode-assist information (§15.35.2).
      return (svm.interceptCrRead & 1) !== 0 && insnExit(svm, cpu, SvmExitCode.CrRead, 0, 0, 0, 0);
    case Intercept.Clts:
      // CLTS writes CR0 (CR0 write intercept); it only changes TS, so never the selective one.
      return (svm.interceptCrWrite & 1) !== 0 && insnExit(svm, cpu, SvmExitCode.CrWrite, 0, 0, 0, 0);
    case Intercept.Lmsw:
      // The CR0 write intercept takes precedence; LMSW treats the selective CR0 write intercept
      // as non-selective: it exits whatever the value (§15.9.1). No decode-assist information.
      if ((svm.interceptCrWrite & 1) !== 0) return insnExit(svm, cpu, SvmExitCode.CrWrite, 0, 0, 0, 0);
      return (m1 & InterceptMisc1.Cr0SelWrite) !== 0 && insnExit(svm, cpu, SvmExitCode.Cr0SelWrite, 0, 0, 0, 0);
    case Intercept.DrRead:
    case Intercept.DrWrite: {
      // §15.9.2: DR0-DR15 read/write intercepts; decode assists give the GPR in EXITINFO1[3:0].
      const n = info & 0xf;
      const read = what === Intercept.DrRead;
      if ((((read ? svm.interceptDrRead : svm.interceptDrWrite) >>> n) & 1) === 0) return false;
      const gpr = svm.features.decodeAssists ? (info >>> 4) & 0xf : 0;
      return insnExit(svm, cpu, (read ? SvmExitCode.DrRead : SvmExitCode.DrWrite) + n, gpr, 0, 0, 0);
    }

    // ---- §15.12 exceptions, §15.13 external events -------------------------------------------
    case Intercept.Exception:
      return exception(svm, cpu, info, info2);
    case Intercept.Interrupt:
      // §15.13.1: the interrupt is not acknowledged and stays pending (taken by the host once
      // GIF = 1, or by the guest after the next VMRUN); an exit from HLT leaves HLT.
      if ((m1 & InterceptMisc1.Intr) === 0) return false;
      cpu.halted = false;
      return eventExit(svm, cpu, SvmExitCode.Intr, 0, 0, 0, 0);
    case Intercept.Nmi:
      // §15.13.2: the NMI is held pending (the core had taken it off; put it back): after the
      // #VMEXIT GIF = 0 holds it until the host's STGI.
      if ((m1 & InterceptMisc1.Nmi) === 0) return false;
      cpu.nmiPending = true;
      cpu.halted = false;
      return eventExit(svm, cpu, SvmExitCode.Nmi, 0, 0, 0, 0);
    case Intercept.Smi:
      // §15.13.3: EXITINFO1 bit 0 = 0 (an external SMI, not an I/O-trap SMI).
      if ((m1 & InterceptMisc1.Smi) === 0) return false;
      cpu.halted = false;
      return eventExit(svm, cpu, SvmExitCode.Smi, 0, 0, 0, 0);
    case Intercept.Init:
      // §15.13.4: the INIT stays pending (GIF = 0 after the exit holds it; VM_CR.R_INIT decides
      // what the host does with it).
      if ((m1 & InterceptMisc1.Init) === 0) return false;
      cpu.initPending = true;
      cpu.halted = false;
      return eventExit(svm, cpu, SvmExitCode.Init, 0, 0, 0, 0);
    case Intercept.Shutdown:
      return (m1 & InterceptMisc1.Shutdown) !== 0 && eventExit(svm, cpu, SvmExitCode.Shutdown, 0, 0, 0, 0);
    case Intercept.FerrFreeze:
      return (m1 & InterceptMisc1.FerrFreeze) !== 0 && eventExit(svm, cpu, SvmExitCode.FerrFreeze, 0, 0, 0, 0);
    case Intercept.TaskSwitch:
      return (m1 & InterceptMisc1.TaskSwitch) !== 0 && taskSwitch(svm, cpu, info, info2);

    // ---- §15.10, §15.11 I/O and MSR ----------------------------------------------------------
    case Intercept.Io:
      return (m1 & InterceptMisc1.IoioProt) !== 0 && io(svm, cpu, info, info2);
    case Intercept.Rdmsr:
    case Intercept.Wrmsr: {
      if ((m1 & InterceptMisc1.MsrProt) === 0) return false;
      const write = what === Intercept.Wrmsr;
      if (!msrpmIntercepts(cpu, svm.msrpmBase, info, write)) return false;
      return insnExit(svm, cpu, SvmExitCode.Msr, write ? 1 : 0, 0, 0, 0);
    }

    // ---- §15.14 miscellaneous instruction intercepts -----------------------------------------
    case Intercept.Cpuid:
      return (m1 & InterceptMisc1.Cpuid) !== 0 && insnExit(svm, cpu, SvmExitCode.Cpuid, 0, 0, 0, 0);
    case Intercept.Hlt:
      return (m1 & InterceptMisc1.Hlt) !== 0 && insnExit(svm, cpu, SvmExitCode.Hlt, 0, 0, 0, 0);
    case Intercept.Invd:
      return (m1 & InterceptMisc1.Invd) !== 0 && insnExit(svm, cpu, SvmExitCode.Invd, 0, 0, 0, 0);
    case Intercept.Rdtsc:
      return (m1 & InterceptMisc1.Rdtsc) !== 0 && insnExit(svm, cpu, SvmExitCode.Rdtsc, 0, 0, 0, 0);
    case Intercept.Rdpmc:
      return (m1 & InterceptMisc1.Rdpmc) !== 0 && insnExit(svm, cpu, SvmExitCode.Rdpmc, 0, 0, 0, 0);
    case Intercept.Pushf:
      return (m1 & InterceptMisc1.Pushf) !== 0 && insnExit(svm, cpu, SvmExitCode.Pushf, 0, 0, 0, 0);
    case Intercept.Popf:
      return (m1 & InterceptMisc1.Popf) !== 0 && insnExit(svm, cpu, SvmExitCode.Popf, 0, 0, 0, 0);
    case Intercept.Rsm:
      return (m1 & InterceptMisc1.Rsm) !== 0 && insnExit(svm, cpu, SvmExitCode.Rsm, 0, 0, 0, 0);
    case Intercept.Iret:
      if ((m1 & InterceptMisc1.Iret) !== 0) return insnExit(svm, cpu, SvmExitCode.Iret, 0, 0, 0, 0);
      // vNMI (§15.21.5): IRET ends the virtual NMI's handler. V_NMI_MASK rides in
      // `cpu.nmiBlocked` while the guest runs (events.ts), which the core's IRET clears; a pending
      // V_NMI becomes deliverable: make the boundary hook look.
      if ((svm.vIntr & (VIntr.NmiEnable | VIntr.Nmi)) === (VIntr.NmiEnable | VIntr.Nmi)) cpu.extBoundary = true;
      return false;
    case Intercept.Swint:
    case Intercept.Intn:
      // INTn (§15.14 "Miscellaneous Intercepts"): before any check of the INT n (the core offers
      // it first); decode assists give the vector in EXITINFO1 (§15.35.5).
      if ((m1 & InterceptMisc1.Intn) === 0) return false;
      return insnExit(svm, cpu, SvmExitCode.Swint, svm.features.decodeAssists ? info & 0xff : 0, 0, 0, 0);
    case Intercept.Invlpg:
      // Decode assists: EXITINFO1 = the linear address operand (§15.35.4).
      if ((m1 & InterceptMisc1.Invlpg) === 0) return false;
      return svm.features.decodeAssists ? insnExit(svm, cpu, SvmExitCode.Invlpg, info, info2, 0, 0) : insnExit(svm, cpu, SvmExitCode.Invlpg, 0, 0, 0, 0);
    case Intercept.Invlpga:
      return (m1 & InterceptMisc1.Invlpga) !== 0 && insnExit(svm, cpu, SvmExitCode.Invlpga, 0, 0, 0, 0);
    case Intercept.Pause:
      return (m1 & InterceptMisc1.Pause) !== 0 && pause(svm, cpu);
    case Intercept.DescriptorTable:
      return (m1 & DT_BIT[info & 7]!) !== 0 && insnExit(svm, cpu, DT_EXIT[info & 7]!, 0, 0, 0, 0);
    case Intercept.Rdtscp:
      return (m2 & InterceptMisc2.Rdtscp) !== 0 && insnExit(svm, cpu, SvmExitCode.Rdtscp, 0, 0, 0, 0);
    case Intercept.Icebp:
      return (m2 & InterceptMisc2.Icebp) !== 0 && insnExit(svm, cpu, SvmExitCode.Icebp, 0, 0, 0, 0);
    case Intercept.Wbinvd:
      return (m2 & InterceptMisc2.Wbinvd) !== 0 && insnExit(svm, cpu, SvmExitCode.Wbinvd, 0, 0, 0, 0);
    case Intercept.Monitor:
      return (m2 & InterceptMisc2.Monitor) !== 0 && insnExit(svm, cpu, SvmExitCode.Monitor, 0, 0, 0, 0);
    case Intercept.Mwait:
      // The unconditional MWAIT intercept first; the conditional one only with the monitor armed.
      if ((m2 & InterceptMisc2.Mwait) !== 0) return insnExit(svm, cpu, SvmExitCode.Mwait, 0, 0, 0, 0);
      return (m2 & InterceptMisc2.MwaitConditional) !== 0 && (info & 1) !== 0 && insnExit(svm, cpu, SvmExitCode.MwaitConditional, 0, 0, 0, 0);
    case Intercept.Xsetbv:
      return (m2 & InterceptMisc2.Xsetbv) !== 0 && insnExit(svm, cpu, SvmExitCode.Xsetbv, 0, 0, 0, 0);
    default:
      // VMX-only points (SIPI, VMCALL, RDRAND/RDSEED, XSAVES, INVPCID, interrupt window): run normally.
      return false;
  }
}

// ---- control registers (§15.9) ---------------------------------------------------------------

/** Decode assists (§15.35.2): EXITINFO1 bit 63 = the access is a MOV CRx, bits 3:0 = its GPR. */
function crExit(svm: SvmCpu, cpu: Cpu, code: number, gpr: number): true {
  if (!svm.features.decodeAssists) return insnExit(svm, cpu, code, 0, 0, 0, 0);
  return insnExit(svm, cpu, code, gpr, 1 << 31, 0, 0);
}

/** MOV from CRn: the CRn read intercept; CR8 with V_INTR_MASKING reads V_TPR (§15.21.1). */
function crRead(svm: SvmCpu, cpu: Cpu, n: number, gpr: number): boolean {
  if (((svm.interceptCrRead >>> n) & 1) !== 0) return crExit(svm, cpu, SvmExitCode.CrRead + n, gpr);
  if (n === 8 && (svm.vIntr & VIntr.Masking) !== 0) {
    const tpr = svm.vIntr & 0xf;
    if (cpu.mode === CodeMode.Bits64) cpu.setReg64(gpr, tpr, 0);
    else cpu.setReg32(gpr, tpr);
    return true;
  }
  return false;
}

/**
 * MOV to CRn: the CRn write intercept; for CR0 without it, the selective CR0 write intercept
 * (exit 65h) when the value changes a bit other than TS and MP (§15.9.1); CR8 with
 * V_INTR_MASKING writes V_TPR instead of the local APIC's TPR (§15.21.1; bits 63:4 set is #GP).
 */
function crWrite(svm: SvmCpu, cpu: Cpu, n: number, gpr: number): boolean {
  if (((svm.interceptCrWrite >>> n) & 1) !== 0) return crExit(svm, cpu, SvmExitCode.CrWrite + n, gpr);
  const lo = cpu.gpr[gpr]!;
  const hi = cpu.mode === CodeMode.Bits64 ? cpu.gprHi[gpr]! : 0;
  switch (n) {
    case 0:
      if ((svm.interceptMisc1 & InterceptMisc1.Cr0SelWrite) !== 0 && (((lo ^ cpu.cr0) & ~CR0_SELECTIVE_FREE) | hi) !== 0) {
        return crExit(svm, cpu, SvmExitCode.Cr0SelWrite, gpr);
      }
      return false;
    case 2:
      svm.guestCr2Lo = lo;
      svm.guestCr2Hi = hi;
      return false;
    case 8:
      if ((svm.vIntr & VIntr.Masking) === 0) return false;
      if ((lo & ~0xf) !== 0 || hi !== 0) cpu.gp(0);
      svm.vIntr = (svm.vIntr & ~VIntr.TprMask) | (lo & 0xf);
      // A lower V_TPR may unmask a pending V_IRQ (events.ts looks at the boundary).
      cpu.extBoundary = true;
      return true;
    default:
      return false;
  }
}

// ---- exceptions (§15.12) ---------------------------------------------------------------------

/**
 * Exception intercepts (§15.12): vector n exits with code 40h + n when bit n of the exception
 * vector is set. EXITINFO1 = the error code for exceptions that push one; #PF: EXITINFO2 = the
 * faulting linear address and CR2 is left as it was (the core wrote it before offering the #PF:
 * restored), plus the instruction bytes (decode assists). INT n is not an exception (the INTn
 * intercept, at the instruction); INT3 (#BP), INTO (#OF) and INT1 (#DB) are, and exit with RIP =
 * the instruction and nRIP = the next one.
 */
function exception(svm: SvmCpu, cpu: Cpu, info: number, error: number): boolean {
  const vector = info & 0xff;
  const kind = (info >>> 8) & 0xf;
  const src = (info >>> 12) & 0xf;
  if (kind === 3 && src === 1) return false;
  if (vector >= 32 || ((svm.interceptExceptions >>> vector) & 1) === 0) {
    if (vector === 14) {
      // Delivered to the guest: CR2 now holds its address.
      svm.guestCr2Lo = cpu.cr2Lo;
      svm.guestCr2Hi = cpu.cr2Hi;
    }
    return false;
  }
  const info1 = error >= 0 ? error : 0;
  if (kind !== 0) {
    // A software exception: the core has RIP at the next instruction.
    cpu.nipLo = cpu.ripLo;
    cpu.nipHi = cpu.ripHi;
    ripBack(cpu, cpu.vectoringInsnLen);
    svmExit(svm, cpu, SvmExitCode.Excp + vector, info1, 0, 0, 0);
    svm.pauseLeft = -1;
    return true;
  }
  if (vector === 14) {
    const addrLo = cpu.cr2Lo;
    const addrHi = cpu.cr2Hi;
    if (svm.guestCr2Known) {
      cpu.cr2Lo = svm.guestCr2Lo;
      cpu.cr2Hi = svm.guestCr2Hi;
    }
    fetchGuestInsnBytes(svm, cpu);
    return eventExit(svm, cpu, SvmExitCode.Excp + 14, info1, 0, addrLo, addrHi);
  }
  return eventExit(svm, cpu, SvmExitCode.Excp + vector, info1, 0, 0, 0);
}

/** Moves RIP back by `len` bytes (to a software event's instruction; 32-bit wrap outside 64-bit mode). */
function ripBack(cpu: Cpu, len: number): void {
  const lo = (cpu.ripLo >>> 0) - len;
  cpu.ripLo = lo | 0;
  if (lo < 0) cpu.ripHi = cpu.mode === CodeMode.Bits64 ? (cpu.ripHi - 1) | 0 : 0;
}

// ---- task switch (§15.14.2) -------------------------------------------------------------------

/**
 * EXITINFO1 = the new TSS selector; EXITINFO2 bits 36 (IRET), 38 (JMP), 44 (error code valid)
 * and 31:0 the error code of an exception delivered through a task gate. The switch has not
 * happened: RIP = the CALL/JMP/IRET (or the INT n/INT3/INTO whose gate it is), nRIP the next.
 */
function taskSwitch(svm: SvmCpu, cpu: Cpu, selector: number, reason: number): true {
  let hasError = false;
  let errLo = 0;
  if (reason === 3) {
    const vi = cpu.vectoringInfo;
    const type = (vi >>> 8) & 7;
    if (vi < 0 && type >= 4 && type <= 6) {
      // A software event through a task gate: the core moved RIP past the instruction.
      cpu.nipLo = cpu.ripLo;
      cpu.nipHi = cpu.ripHi;
      ripBack(cpu, cpu.vectoringInsnLen);
    } else {
      cpu.nipLo = cpu.ripLo;
      cpu.nipHi = cpu.ripHi;
    }
    if (vi < 0 && (vi & (1 << 11)) !== 0) {
      hasError = true;
      errLo = cpu.vectoringError;
    }
  }
  svmExit(svm, cpu, SvmExitCode.TaskSwitch, selector & 0xffff, 0, errLo, taskSwitchInfo2Hi(reason, hasError));
  svm.pauseLeft = -1;
  return true;
}

// ---- I/O (§15.10) -----------------------------------------------------------------------------

/** IOIO_PROT: the IOPM bits of every byte accessed; EXITINFO1 per §15.10.2, EXITINFO2 = the next RIP. */
function io(svm: SvmCpu, cpu: Cpu, info: number, info2: number): boolean {
  const port = info & 0xffff;
  const size = (info >>> 16) & 7;
  if (!iopmIntercepts(cpu, svm.iopmBase, port, size)) return false;
  const str = (info & (1 << 20)) !== 0;
  const asz = str ? info2 & 3 : insnAddrSize(cpu, cpu.curRec) + 1;
  const i1 = ioioInfo(info, asz, (info2 >>> 4) & 7, svm.features.decodeAssists);
  return insnExit(svm, cpu, SvmExitCode.Ioio, i1, 0, cpu.nipLo, cpu.nipHi);
}

// ---- PAUSE (§15.14.4, §15.14.5) ---------------------------------------------------------------

/**
 * The PAUSE intercept with the pause filter: a counter loaded from PAUSE_FILTER_COUNT at VMRUN
 * (0: no filtering, every PAUSE exits) counts PAUSEs down; the PAUSE that brings it to 0 exits.
 * With PAUSE_FILTER_THRESHOLD != 0, a PAUSE more than that many cycles after the previous one
 * reloads the counter first (the guest is not spinning). Cycles are the core's retired
 * instructions (its TSC clock).
 */
function pause(svm: SvmCpu, cpu: Cpu): boolean {
  const count = svm.features.pauseFilter ? svm.pauseFilterCount & 0xffff : 0;
  if (count === 0) return insnExit(svm, cpu, SvmExitCode.Pause, 0, 0, 0, 0);
  const now = cpu.retired(cpu.curRec);
  const threshold = svm.features.pauseFilterThreshold ? svm.pauseFilterThreshold & 0xffff : 0;
  if (svm.pauseLeft < 0 || (threshold !== 0 && svm.lastPauseAt >= 0 && now - svm.lastPauseAt > threshold)) svm.pauseLeft = count;
  svm.lastPauseAt = now;
  if (--svm.pauseLeft > 0) return false;
  return insnExit(svm, cpu, SvmExitCode.Pause, 0, 0, 0, 0);
}
