/**
 * Guest-mode interrupt state at instruction boundaries (AMD64 APM Vol. 2 §15.17 "Global
 * Interrupt Flag", §15.21 "Interrupt and LDTR Virtualization": §15.21.1 physical interrupt
 * masking with V_INTR_MASKING, §15.21.2-§15.21.4 virtual interrupts (V_IRQ, V_INTR_PRIO,
 * V_IGN_TPR, V_TPR, V_INTR_VECTOR, the VINTR intercept), §15.21.5 virtual NMI, §15.33 vGIF).
 *
 * The running guest's V_INTR word is `svm.vIntr` (vmrun.ts loads it from VMCB offset 060h;
 * intercept.ts keeps its V_TPR current for MOV CR8 with V_INTR_MASKING; instructions.ts sets and
 * clears V_GIF for STGI/CLGI with vGIF); {@link guestLeave} writes it back on #VMEXIT.
 *
 * The core's generic hooks carry the rest:
 * - `cpu.gif`: GIF. VMRUN sets it, #VMEXIT clears it (vmexit.ts), STGI/CLGI in the host;
 * - `cpu.intrBlocked` / `cpu.intrIgnoresIf`: with V_INTR_MASKING = 1 the host's RFLAGS.IF (as
 *   it was at VMRUN, `svm.hostIf`) masks physical INTR and the guest's IF only virtual
 *   interrupts (§15.21.1): host IF = 0 -> INTR is not taken in the guest at all; host IF = 1 ->
 *   INTR reaches the INTR intercept whatever the guest's IF. Without V_INTR_MASKING the guest's
 *   RFLAGS.IF masks physical interrupts as usual;
 * - `cpu.nmiBlocked`: with V_NMI_ENABLE it carries V_NMI_MASK while the guest runs (set by the
 *   core when it delivers an NMI, cleared by IRET: §15.21.5), the host's own NMI blocking kept
 *   aside (`svm.hostNmiBlocked`);
 * - `cpu.extBoundary`: true only while a virtual interrupt or virtual NMI is pending or a
 *   #VMEXIT is to be completed, so {@link boundary} runs at every boundary then and never
 *   otherwise (it is also called while the guest is halted: a deliverable virtual interrupt
 *   wakes HLT).
 *
 * Priorities at a boundary (§15.21.4 "physical interrupts take priority over virtual
 * interrupts"; Vol. 2 §8.5 for the rest): pending debug traps, INIT, a deliverable physical
 * NMI and a physical INTR the guest would take are left to the core; then a virtual NMI; then a
 * virtual interrupt (or the VINTR intercept in its place).
 */
import { EventKind, Flag, type Cpu } from '@hvkit/x86';
import { InterceptMisc1, IntShadow, SvmExitCode, VIntr } from './constants.js';
import { interceptEnter } from './intercept.js';
import type { SvmCpu } from './svm.js';
import { VmcbOffset } from './vmcb.js';
import { completePendingExit, svmExit } from './vmexit.js';

/** The V_INTR bits the processor updates while the guest runs and writes back on #VMEXIT (§15.6). */
const VINTR_WRITEBACK = VIntr.TprMask | VIntr.Irq | VIntr.Gif | VIntr.Nmi | VIntr.NmiMask;
const W_VINTR = VmcbOffset.VIntr >> 2;
const W_INTERRUPT_SHADOW = VmcbOffset.InterruptShadow >> 2;

/** Whether {@link boundary} has something to look at: a #VMEXIT to complete, V_IRQ, or V_NMI with vNMI. */
export function needsBoundary(svm: SvmCpu): boolean {
  const v = svm.vIntr;
  return svm.pendingExitCode !== -1 || (v & VIntr.Irq) !== 0 || (v & (VIntr.NmiEnable | VIntr.Nmi)) === (VIntr.NmiEnable | VIntr.Nmi);
}

/**
 * The core's boundary hook in guest mode. Completes a recorded #VMEXIT first; then takes a
 * pending virtual NMI or virtual interrupt when it is deliverable. Returns true when it performed
 * a #VMEXIT or delivered an event (the core re-evaluates from the new state).
 *
 * A virtual NMI (§15.21.5: V_NMI_ENABLE, V_NMI = 1, V_NMI_MASK = 0) is taken with GIF = 1 (and
 * V_GIF = 1 with vGIF, §15.33.2), outside an interrupt shadow and when no physical NMI is
 * deliverable: V_NMI is cleared, V_NMI_MASK set, and the NMI goes through the guest IDT (vector 2;
 * the NMI intercept is for physical NMIs).
 *
 * A virtual interrupt (§15.21.4) is taken when V_IRQ = 1, GIF = 1 (V_GIF = 1 with vGIF), the
 * guest's RFLAGS.IF = 1, no interrupt shadow, no physical interrupt or NMI is to be taken first,
 * and V_IGN_TPR = 1 or V_INTR_PRIO > V_TPR[3:0]. With the VINTR intercept that point is a
 * #VMEXIT(VINTR) (V_IRQ stays set); otherwise V_IRQ is cleared and V_INTR_VECTOR is delivered
 * through the guest IDT as an external interrupt (a fault during its delivery is intercepted with
 * EXITINTINFO describing it).
 */
export function boundary(svm: SvmCpu, cpu: Cpu): boolean {
  if (completePendingExit(svm, cpu)) return true;
  const v = svm.vIntr;
  const vnmi = (v & (VIntr.NmiEnable | VIntr.Nmi)) === (VIntr.NmiEnable | VIntr.Nmi);
  if (!vnmi && (v & VIntr.Irq) === 0) {
    cpu.extBoundary = false;
    return false;
  }
  // GIF (§15.17) and, with vGIF, V_GIF (§15.33.2) hold every virtual event pending.
  if (!cpu.gif || (v & (VIntr.GifEnable | VIntr.Gif)) === VIntr.GifEnable) return false;
  if (cpu.interruptShadow || cpu.pendingDb !== 0 || cpu.shutdown || cpu.waitForSipi) return false;
  if (cpu.initPending && !cpu.initBlocked) return false;
  // A physical NMI the core delivers (or intercepts) now comes first.
  if (cpu.nmiPending && !cpu.nmiBlocked) return false;
  if (vnmi && !cpu.nmiBlocked) {
    // V_NMI_MASK: the core's delivery sets cpu.nmiBlocked (it carries V_NMI_MASK while vNMI runs).
    svm.vIntr = v & ~VIntr.Nmi;
    cpu.injectEvent(EventKind.Nmi, 2, -1);
    if (cpu.guestMode) cpu.extBoundary = needsBoundary(svm);
    return true;
  }
  if ((v & VIntr.Irq) === 0 || (cpu.flags & Flag.IF) === 0) return false;
  // A physical INTR the guest takes (or intercepts) now comes first (§15.21.4).
  const ic = cpu.interrupts;
  if (!cpu.intrBlocked && ic !== null && ((cpu.flags & Flag.IF) !== 0 || cpu.intrIgnoresIf) && ic.hasInterrupt()) return false;
  // §15.21.3: the pending interrupt's priority against V_TPR (bits 3:0), unless V_IGN_TPR.
  if ((v & VIntr.IgnTpr) === 0 && ((v >>> VIntr.PrioShift) & 0xf) <= (v & 0xf)) return false;
  if ((svm.interceptMisc1 & InterceptMisc1.Vintr) !== 0) {
    // §15.21.4 VINTR intercept: at the point the virtual interrupt would be taken; V_IRQ stays set.
    cpu.nipLo = cpu.ripLo;
    cpu.nipHi = cpu.ripHi;
    svmExit(svm, cpu, SvmExitCode.Vintr, 0, 0, 0, 0);
    return true;
  }
  svm.vIntr = v & ~VIntr.Irq;
  cpu.injectEvent(EventKind.External, svm.vIntrVector & 0xff, -1);
  if (cpu.guestMode) cpu.extBoundary = needsBoundary(svm);
  return true;
}

/**
 * After VMRUN loaded the guest (vmrun.ts calls it, before event injection): sets the core's
 * generic hooks from the cached controls: GIF = 1; physical-interrupt masking (§15.21.1:
 * `intrBlocked` = V_INTR_MASKING and host IF = 0; `intrIgnoresIf` = V_INTR_MASKING, host IF = 1
 * and the INTR intercept); the TSC offset (TSC_OFFSET, VMCB 050h: guest TSC = host TSC +
 * offset, as vmrun.ts cached it); intercept.ts's per-entry state (`interceptEnter`); INIT not blocked (the INIT intercept decides); no deadline; V_NMI_MASK in
 * `cpu.nmiBlocked` with vNMI; `extBoundary` while a virtual event is pending.
 */
export function guestEnter(svm: SvmCpu, cpu: Cpu): void {
  const v = svm.vIntr;
  cpu.gif = true;
  const masking = (v & VIntr.Masking) !== 0;
  cpu.intrBlocked = masking && !svm.hostIf;
  cpu.intrIgnoresIf = masking && svm.hostIf && (svm.interceptMisc1 & InterceptMisc1.Intr) !== 0;
  // TSC_OFFSET as VMRUN cached it (clean bit I).
  cpu.tscOffsetLo = svm.tscOffsetLo;
  cpu.tscOffsetHi = svm.tscOffsetHi;
  cpu.initBlocked = false;
  cpu.extDeadline = Infinity;
  if ((v & VIntr.NmiEnable) !== 0 && svm.features.vnmi) {
    if (!svm.nmiSwapped) svm.hostNmiBlocked = cpu.nmiBlocked;
    svm.nmiSwapped = true;
    cpu.nmiBlocked = (v & VIntr.NmiMask) !== 0;
  }
  cpu.extBoundary = needsBoundary(svm);
  // The intercept module's per-entry state (pause filter, the guest CR2 baseline).
  interceptEnter(svm, cpu);
}

/**
 * At #VMEXIT (vmexit.ts calls it before loading the host state): writes V_TPR, V_IRQ, V_GIF,
 * V_NMI and V_NMI_MASK back into the VMCB's V_INTR word (§15.6, §15.21.5, §15.33), and
 * INTERRUPT_SHADOW (the STI / MOV SS shadow of the next instruction at a boundary, or the one the
 * intercepted instruction ran under) with GUEST_INTERRUPT_MASK (the guest's RFLAGS.IF) at 068h;
 * puts the host's NMI blocking back (vNMI); resets the core's guest-mode hooks (TSC offset 0,
 * no physical-interrupt masking, no boundary calls, no deadline, INIT not blocked).
 */
export function guestLeave(svm: SvmCpu, cpu: Cpu): void {
  let v = svm.vIntr;
  if (svm.nmiSwapped) {
    v = cpu.nmiBlocked ? v | VIntr.NmiMask : v & ~VIntr.NmiMask;
    svm.vIntr = v;
    cpu.nmiBlocked = svm.hostNmiBlocked;
    svm.nmiSwapped = false;
  }
  const vmcb = svm.vmcb;
  if (svm.vmcbPa >= 0) {
    const w = vmcb.open(svm.vmcbPa);
    w[W_VINTR] = (w[W_VINTR]! & ~VINTR_WRITEBACK) | (v & VINTR_WRITEBACK);
    const shadow = cpu.interruptShadow || cpu.insnShadow !== 0 ? IntShadow.Shadow : 0;
    const gim = (cpu.flags & Flag.IF) !== 0 ? IntShadow.GuestIf : 0;
    w[W_INTERRUPT_SHADOW] = shadow | gim;
    w[W_INTERRUPT_SHADOW + 1] = 0;
    vmcb.close();
  }
  resetGuestHooks(svm, cpu);
}

/**
 * Puts the core's guest-mode hooks back to their neutral values (and the host's NMI blocking, with
 * vNMI) without writing the VMCB: for #VMEXIT(VMEXIT_INVALID), where no guest ran.
 */
export function resetGuestHooks(svm: SvmCpu, cpu: Cpu): void {
  if (svm.nmiSwapped) {
    cpu.nmiBlocked = svm.hostNmiBlocked;
    svm.nmiSwapped = false;
  }
  cpu.intrBlocked = false;
  cpu.intrIgnoresIf = false;
  cpu.tscOffsetLo = 0;
  cpu.tscOffsetHi = 0;
  cpu.extBoundary = false;
  cpu.extDeadline = Infinity;
  cpu.initBlocked = false;
}
