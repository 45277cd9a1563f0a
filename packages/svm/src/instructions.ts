/**
 * The SVM instructions (APM Vol. 3 "VMRUN", "VMLOAD", "VMSAVE", "STGI", "CLGI", "VMMCALL",
 * "INVLPGA", "SKINIT"; APM Vol. 2 §15.4, §15.5, §15.5.2, §15.17, §15.18, §15.33.2).
 *
 * {@link executeSvm} does what depends on the encoding and the processor mode, in the APM's
 * order (§15.7 "Instruction intercepts": "instruction intercepts are checked after simple
 * exceptions (such as #GP—when CPL is incorrect—or #UD) have been checked, but before
 * exceptions related to memory accesses ... and exceptions based on specific operand values"):
 * 1. #UD: EFER.SVME = 0, except for STGI and SKINIT: their #UD needs SVME = 0 "and both of the
 *    following conditions were true: SVM Lock is not available (Fn8000_000A_EDX[SVML] = 0), DEV
 *    is not available (Fn8000_0001_ECX[SKINIT] = 0)" (Vol. 3 STGI, SKINIT), and hvkit advertises
 *    SKINIT (caps.ts); and, for every instruction but VMMCALL, real or virtual-8086 mode ("only
 *    recognized in protected mode");
 * 2. #GP(0) at CPL > 0 (not VMMCALL: §15.18 "No CPL checks are performed");
 * 3. in guest mode, the instruction's intercept -> #VMEXIT with its exit code (Appendix C:
 *    VMRUN 80h, VMMCALL 81h, VMLOAD 82h, VMSAVE 83h, STGI 84h, CLGI 85h, SKINIT 86h, INVLPGA 7Ah);
 * 4. the operand checks: VMRUN/VMLOAD/VMSAVE #GP(0) when rAX is not 4 KiB aligned or not below
 *    MAXPHYADDR; VMMCALL #UD when not intercepted (§15.18);
 * 5. the operation: `opVmrun` (vmrun.ts), {@link opVmload}, {@link opVmsave}, {@link opStgi},
 *    {@link opClgi}, {@link opInvlpga}, `opSkinit` (skinit.ts). The typed API calls the same ops.
 *
 * rAX: "The portion of RAX used in forming the address is determined by the current effective
 * address size" (§15.5.1): AX, EAX or RAX by the instruction's address size (a 67h prefix
 * selects it). SKINIT takes EAX; INVLPGA takes rAX (linear address) and ECX (ASID).
 */
import * as x86 from '@hvkit/x86';
import type { Cpu, VirtInstruction as VirtInstructionT } from '@hvkit/x86';
import { belowMaxPhyAddr } from './caps.js';
import { InterceptMisc1, InterceptMisc2, SvmExitCode, VIntr } from './constants.js';
import { exitForInstruction } from './intercept.js';
import { invalidateAsidPage } from './npt.js';
import { opSkinit } from './skinit.js';
import type { SvmCpu } from './svm.js';
import { attribFromCore, attribToCore, VmcbOffset, VmcbSeg } from './vmcb.js';
import { opVmrun } from './vmrun.js';

// Imported bindings copied into module constants (see the x86 core's operands.ts).
const { Cr0, Efer, Flag, Seg, VirtInstruction, insnAddrSize } = x86;

const TWO_32 = 4294967296;

/** The effective rAX of an SVM instruction: AX/EAX/RAX by address size; sets `cpu.lo/hi`-like pair in `scratchAddr`. */
const scratchAddr = new Int32Array(2);

function readRax(cpu: Cpu, d: number): void {
  const size = insnAddrSize(cpu, d); // 0 16-bit, 1 32-bit, 2 64-bit
  const lo = cpu.gpr[0]!;
  scratchAddr[0] = size === 0 ? lo & 0xffff : lo;
  scratchAddr[1] = size === 2 ? cpu.gprHi[0]! : 0;
}

/** Whether the processor is in protected mode and not in virtual-8086 mode. */
function protectedNonV86(cpu: Cpu): boolean {
  // RFLAGS.VM lives in cpu.flags (not an arithmetic flag): no getEflags on the VMRUN path.
  return (cpu.cr0 & Cr0.PE) !== 0 && (cpu.flags & Flag.VM) === 0;
}

/**
 * Executes the SVM instruction `which` decoded at record `d` (the core's `ext.execute`). Raises
 * #UD/#GP through the core, or performs the intercept's #VMEXIT.
 */
export function executeSvm(svm: SvmCpu, cpu: Cpu, which: VirtInstructionT, d: number): void {
  // 1. #UD (§15.4; Vol. 3 instruction pages). STGI and SKINIT do not need SVME: CPUID
  // Fn8000_0001_ECX[SKINIT] = 1 (caps.ts).
  if ((cpu.efer & Efer.SVME) === 0 && which !== VirtInstruction.Stgi && which !== VirtInstruction.Skinit) cpu.ud();
  if (which === VirtInstruction.Vmmcall) {
    // §15.18: no CPL check; #UD unless intercepted.
    if (cpu.guestMode && (svm.interceptMisc2 & InterceptMisc2.Vmmcall) !== 0) {
      exitForInstruction(svm, cpu, SvmExitCode.Vmmcall, 0, 0, 0, 0);
      return;
    }
    cpu.ud();
  }
  if (!protectedNonV86(cpu)) cpu.ud();
  // 2. #GP(0) at CPL > 0.
  if (cpu.cpl !== 0) cpu.gp(0);
  // 3. The intercept (guest mode).
  if (cpu.guestMode && interceptedInstruction(svm, cpu, which)) return;
  // 4./5. Operand checks and the operation.
  switch (which) {
    case VirtInstruction.Vmrun: {
      const pa = vmcbAddress(cpu, d);
      opVmrun(svm, cpu, pa);
      return;
    }
    case VirtInstruction.Vmload:
      opVmload(svm, cpu, vmcbAddress(cpu, d));
      return;
    case VirtInstruction.Vmsave:
      opVmsave(svm, cpu, vmcbAddress(cpu, d));
      return;
    case VirtInstruction.Stgi:
      opStgi(svm, cpu);
      return;
    case VirtInstruction.Clgi:
      opClgi(svm, cpu);
      return;
    case VirtInstruction.Skinit:
      opSkinit(svm, cpu, cpu.gpr[0]! >>> 0);
      return;
    case VirtInstruction.Invlpga:
      readRax(cpu, d);
      opInvlpga(svm, cpu, scratchAddr[0]!, scratchAddr[1]!, cpu.gpr[1]! >>> 0);
      return;
    default:
      cpu.ud();
  }
}

/** The instruction intercepts of §15.9 for the SVM instructions; true when a #VMEXIT happened. */
function interceptedInstruction(svm: SvmCpu, cpu: Cpu, which: VirtInstructionT): boolean {
  let code = -1;
  const m2 = svm.interceptMisc2;
  switch (which) {
    case VirtInstruction.Vmrun:
      if ((m2 & InterceptMisc2.Vmrun) !== 0) code = SvmExitCode.Vmrun;
      break;
    case VirtInstruction.Vmload:
      if ((m2 & InterceptMisc2.Vmload) !== 0) code = SvmExitCode.Vmload;
      break;
    case VirtInstruction.Vmsave:
      if ((m2 & InterceptMisc2.Vmsave) !== 0) code = SvmExitCode.Vmsave;
      break;
    case VirtInstruction.Stgi:
      if ((m2 & InterceptMisc2.Stgi) !== 0) code = SvmExitCode.Stgi;
      break;
    case VirtInstruction.Clgi:
      if ((m2 & InterceptMisc2.Clgi) !== 0) code = SvmExitCode.Clgi;
      break;
    case VirtInstruction.Skinit:
      if ((m2 & InterceptMisc2.Skinit) !== 0) code = SvmExitCode.Skinit;
      break;
    case VirtInstruction.Invlpga:
      if ((svm.interceptMisc1 & InterceptMisc1.Invlpga) !== 0) code = SvmExitCode.Invlpga;
      break;
    default:
      break;
  }
  if (code < 0) return false;
  // No EXITINFO for these (§15.8.3: INVLPGA's address is in the guest's rAX, not EXITINFO1).
  exitForInstruction(svm, cpu, code, 0, 0, 0, 0);
  return true;
}

/**
 * VMRUN/VMLOAD/VMSAVE's rAX as a physical address: #GP(0) unless 4 KiB aligned and below
 * MAXPHYADDR (Vol. 3 VMRUN/VMLOAD/VMSAVE "#GP: rAX referenced a physical address above the
 * maximum supported physical address; the address in rAX was not aligned on a 4Kbyte boundary").
 */
export function vmcbAddress(cpu: Cpu, d: number): number {
  readRax(cpu, d);
  const lo = scratchAddr[0]!;
  const hi = scratchAddr[1]!;
  if ((lo & 0xfff) !== 0 || !belowMaxPhyAddr(cpu, lo, hi)) cpu.gp(0);
  return (hi >>> 0) * TWO_32 + (lo >>> 0);
}

// ---- VMLOAD / VMSAVE (§15.5.2) ----------------------------------------------------------------

/** FS, GS, TR, LDTR by the core's Seg index and VMCB offset. */
const VMLOAD_SEGS: readonly (readonly [number, number])[] = [
  [Seg.FS, VmcbOffset.Fs],
  [Seg.GS, VmcbOffset.Gs],
  [Seg.TR, VmcbOffset.Tr],
  [Seg.LDTR, VmcbOffset.Ldtr],
];

/**
 * VMLOAD (§15.5.2): loads from the VMCB at host-physical `pa` FS, GS, TR and LDTR "including all
 * hidden state" (selector, attrib, limit, 64-bit base), KernelGsBase, STAR, LSTAR, CSTAR, SFMASK,
 * SYSENTER_CS, SYSENTER_ESP, SYSENTER_EIP. No descriptor table is read and nothing is checked.
 */
export function opVmload(svm: SvmCpu, cpu: Cpu, pa: number): void {
  const v = svm.aux;
  v.select(pa);
  for (let i = 0; i < 4; i++) {
    const seg = VMLOAD_SEGS[i]![0];
    const off = VMLOAD_SEGS[i]![1];
    cpu.setSegmentRaw(
      seg,
      v.r16(off + VmcbSeg.Selector),
      v.r32(off + VmcbSeg.Base),
      v.r32(off + VmcbSeg.Limit),
      // VMLOAD runs in protected mode (#UD otherwise): P = 0 loads an unusable (null) segment.
      attribToCore(v.r16(off + VmcbSeg.Attrib), true),
      v.r32(off + VmcbSeg.Base + 4),
    );
  }
  cpu.kernelGsBaseLo = v.r32(VmcbOffset.KernelGsBase);
  cpu.kernelGsBaseHi = v.r32(VmcbOffset.KernelGsBase + 4);
  cpu.starLo = v.r32(VmcbOffset.Star);
  cpu.starHi = v.r32(VmcbOffset.Star + 4);
  cpu.lstarLo = v.r32(VmcbOffset.Lstar);
  cpu.lstarHi = v.r32(VmcbOffset.Lstar + 4);
  cpu.cstarLo = v.r32(VmcbOffset.Cstar);
  cpu.cstarHi = v.r32(VmcbOffset.Cstar + 4);
  cpu.sfmask = v.r32(VmcbOffset.Sfmask);
  cpu.sysenterCs = v.r32(VmcbOffset.SysenterCs) & 0xffff;
  cpu.sysenterEspLo = v.r32(VmcbOffset.SysenterEsp);
  cpu.sysenterEspHi = v.r32(VmcbOffset.SysenterEsp + 4);
  cpu.sysenterEipLo = v.r32(VmcbOffset.SysenterEip);
  cpu.sysenterEipHi = v.r32(VmcbOffset.SysenterEip + 4);
  // FS/GS bases feed address computation of the instructions that follow.
  cpu.exitBlock = true;
}

/** VMSAVE (§15.5.2): stores the state {@link opVmload} loads into the VMCB at host-physical `pa`. */
export function opVmsave(svm: SvmCpu, cpu: Cpu, pa: number): void {
  const v = svm.aux;
  v.select(pa);
  for (let i = 0; i < 4; i++) {
    const seg = VMLOAD_SEGS[i]![0];
    const off = VMLOAD_SEGS[i]![1];
    v.w16(off + VmcbSeg.Selector, cpu.segSel[seg]!);
    v.w16(off + VmcbSeg.Attrib, attribFromCore(cpu.segAttr[seg]!));
    v.w32(off + VmcbSeg.Limit, cpu.segLimit[seg]!);
    v.w32(off + VmcbSeg.Base, cpu.segBase[seg]!);
    v.w32(off + VmcbSeg.Base + 4, cpu.segBaseHi[seg]!);
  }
  v.w64(VmcbOffset.KernelGsBase, cpu.kernelGsBaseLo, cpu.kernelGsBaseHi);
  v.w64(VmcbOffset.Star, cpu.starLo, cpu.starHi);
  v.w64(VmcbOffset.Lstar, cpu.lstarLo, cpu.lstarHi);
  v.w64(VmcbOffset.Cstar, cpu.cstarLo, cpu.cstarHi);
  v.w64(VmcbOffset.Sfmask, cpu.sfmask, 0);
  v.w64(VmcbOffset.SysenterCs, cpu.sysenterCs & 0xffff, 0);
  v.w64(VmcbOffset.SysenterEsp, cpu.sysenterEspLo, cpu.sysenterEspHi);
  v.w64(VmcbOffset.SysenterEip, cpu.sysenterEipLo, cpu.sysenterEipHi);
}

// ---- STGI / CLGI (§15.17, §15.33.2) ------------------------------------------------------------

/** Whether STGI/CLGI act on the virtual GIF: vGIF advertised, guest mode, V_GIF_ENABLE (§15.33.2). */
function vgifActive(svm: SvmCpu, cpu: Cpu): boolean {
  return svm.features.vgif && cpu.guestMode && (svm.vIntr & VIntr.GifEnable) !== 0;
}

/**
 * STGI (§15.17): GIF = 1, so held INTR, NMI, SMI and INIT become deliverable at the next
 * instruction boundary (STGI opens no interrupt shadow). In guest mode with V_GIF_ENABLE it sets
 * V_GIF instead (§15.33.2: "STGI executed in the guest sets bit 9 of VMCB offset 60h and allows a
 * virtual interrupt to be taken"); the events module writes V_GIF back on #VMEXIT.
 */
export function opStgi(svm: SvmCpu, cpu: Cpu): void {
  if (vgifActive(svm, cpu)) {
    svm.vIntr |= VIntr.Gif;
    // A pending V_IRQ / V_NMI may be deliverable now.
    cpu.extBoundary = true;
  } else {
    cpu.gif = true;
  }
  cpu.exitBlock = true;
}

/** CLGI (§15.17): GIF = 0; with vGIF in guest mode, V_GIF = 0 (virtual interrupts masked, §15.33.2). */
export function opClgi(svm: SvmCpu, cpu: Cpu): void {
  if (vgifActive(svm, cpu)) svm.vIntr &= ~VIntr.Gif;
  else cpu.gif = false;
  cpu.exitBlock = true;
}

// ---- INVLPGA (Vol. 3 "INVLPGA"; §15.16) --------------------------------------------------------

/**
 * INVLPGA: invalidates the TLB mapping of the linear address `lo:hi` (rAX) for the ASID `asid`
 * (ECX); ASID 0 is the host (the npt module owns the TLB banks).
 */
export function opInvlpga(svm: SvmCpu, cpu: Cpu, lo: number, hi: number, asid: number): void {
  invalidateAsidPage(svm, cpu, asid, lo, hi);
}
