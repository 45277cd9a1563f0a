/**
 * #VMEXIT (AMD64 APM Vol. 2 §15.6 "#VMEXIT", §15.7.1 "State Saved on Exit" / nRIP, §15.7.2
 * "Intercepts During IDT Interrupt Delivery" / EXITINTINFO).
 *
 * A #VMEXIT, in the APM's order (§15.6):
 * 1. GIF is cleared, so the world switch is atomic (and the host then runs with GIF = 0: INTR,
 *    NMI, SMI and INIT stay pending until STGI, §15.17);
 * 2. the guest state is written back to the VMCB: the same subset VMRUN loads (ES, CS, SS, DS
 *    with their hidden parts, GDTR, IDTR, EFER, CR0, CR2, CR3, CR4, DR6, DR7, RFLAGS, RIP, RSP,
 *    RAX, CPL; G_PAT with nested paging), with V_TPR, V_IRQ (and V_GIF, V_NMI, V_NMI_MASK) and
 *    INTERRUPT_SHADOW / GUEST_INTERRUPT_MASK (events.ts `guestLeave`);
 * 3. EXITCODE, EXITINFO1, EXITINFO2, EXITINTINFO (an event whose delivery was interrupted,
 *    §15.7.2) and, with NRIPS, nRIP (§15.7.1) are written; EVENTINJ.V is cleared;
 * 4. the processor leaves guest mode: intercepts off, ASID 0 (the host's TLB bank), V_IRQ and
 *    V_INTR_MASKING off, TSC_OFFSET 0;
 * 5. the host state saved by VMRUN is reloaded from the host save area (hvkit lays it out as a
 *    VMCB state-save area, vmrun.ts `saveHost`: ES/CS/SS/DS with their hidden parts, GDTR, IDTR,
 *    EFER, CR0, CR3, CR4, RFLAGS, RIP after VMRUN, RSP, RAX, the host PAT at G_PAT),
 *    with CR0.PE forced to 1, RFLAGS.VM to 0, CPL 0, all breakpoints in DR7 disabled; PAE
 *    PDPTEs are reloaded from the host CR3; the reloaded state is checked and an illegal host
 *    state shuts the processor down.
 *
 * Hot path (the world switch): no allocation, no BigInt; the VMCB and the host save area are
 * indexed as words (`VmcbMemory.open`: the RAM page itself, a staging copy for a page that is
 * not RAM); segment caches are stored straight into the core's arrays and `cpu.contextChanged`
 * recomputes what derives from them.
 *
 * Exits found while the core is in the middle of an instruction or an event delivery (a #NPF:
 * npt.ts) are completed in two steps, as in the VMX frontend: {@link recordPendingExit} keeps
 * the exit information and the IDT-vectoring information of the interrupted delivery, the
 * caller throws `CPU_VMEXIT`, the core unwinds the instruction (RIP back at it, as for a fault),
 * and the next boundary (events.ts) calls {@link completePendingExit}, which saves the guest
 * state the abandoned instruction left.
 */
import { Cr0, Cr4, Efer, Flag, Seg, SegAttr, type Cpu } from '@hvkit/x86';
import { EventInj, NpEnable, SvmExitCode } from './constants.js';
import { guestLeave, resetGuestHooks } from './events.js';
import { lbrLeave } from './lbr.js';
import type { SvmCpu } from './svm.js';
import { attribToCore, storeStateSave, VmcbOffset } from './vmcb.js';

/** The four segment registers VMRUN and #VMEXIT switch (the others are VMLOAD/VMSAVE's). */
const SWITCHED_SEGS = [Seg.ES, Seg.CS, Seg.SS, Seg.DS] as const;
const SWITCHED_OFFS = [VmcbOffset.Es, VmcbOffset.Cs, VmcbOffset.Ss, VmcbOffset.Ds] as const;

/** Word indices (offset / 4) of the VMCB fields the world switch touches (APM Appendix B). */
const W_EXITCODE = VmcbOffset.ExitCode >> 2;
const W_EXITINFO1 = VmcbOffset.ExitInfo1 >> 2;
const W_EXITINFO2 = VmcbOffset.ExitInfo2 >> 2;
const W_EXITINTINFO = VmcbOffset.ExitIntInfo >> 2;
const W_EVENTINJ = VmcbOffset.EventInj >> 2;
const W_NRIP = VmcbOffset.NRip >> 2;
const W_GDTR = VmcbOffset.Gdtr >> 2;
const W_IDTR = VmcbOffset.Idtr >> 2;
const W_EFER = VmcbOffset.Efer >> 2;
const W_CR0 = VmcbOffset.Cr0 >> 2;
const W_CR3 = VmcbOffset.Cr3 >> 2;
const W_CR4 = VmcbOffset.Cr4 >> 2;
const W_RFLAGS = VmcbOffset.Rflags >> 2;
const W_RIP = VmcbOffset.Rip >> 2;
const W_RSP = VmcbOffset.Rsp >> 2;
const W_RAX = VmcbOffset.Rax >> 2;
const W_GPAT = VmcbOffset.GPat >> 2;

/**
 * The EXITINTINFO / EVENTINJ TYPE (APM §15.20, Table 15-1 "Guest Exception or Interrupt Types")
 * of the core's IDT-vectoring type (VMX encoding): 0 external interrupt -> 0 INTR, 2 NMI -> 2,
 * 3 hardware exception -> 3, 4 software interrupt (INT n) -> 4 (SOFT_INT), 5 privileged
 * software exception (INT1/ICEBP) and 6 software exception (INT3, INTO) -> 3 (exceptions).
 */
export function exitIntInfoType(vmxType: number): number {
  switch (vmxType) {
    case 0:
      return 0;
    case 2:
      return 2;
    case 4:
      return 4;
    default:
      return 3;
  }
}

/**
 * Performs #VMEXIT with EXITCODE `code` and EXITINFO1/2 (lo, hi): writes the exit information,
 * EXITINTINFO from `cpu.vectoringInfo` (then clears it), saves the guest state into the VMCB,
 * loads the host state from the host save area, clears GIF, leaves guest mode, calls
 * `svm.onExit`. Does not throw. The caller has set RIP (cpu.ripLo/Hi) to what the VMCB must hold
 * and `cpu.nipLo/Hi` to the next RIP (nRIP) where the intercept defines one (else nip = rip).
 *
 * `code` = {@link SvmExitCode.Invalid} (VMRUN's consistency checks, §15.5.1): EXITCODE = -1
 * (all 64 bits), EXITINFO as given, and no guest state is saved (the VMCB keeps what the
 * hypervisor wrote; no guest ran), neither EXITINTINFO, nRIP nor EVENTINJ are touched; the host
 * state is reloaded as for any #VMEXIT.
 */
export function svmExit(svm: SvmCpu, cpu: Cpu, code: number, info1Lo: number, info1Hi: number, info2Lo: number, info2Hi: number): void {
  const vi = cpu.vectoringInfo;
  cpu.vectoringInfo = 0;
  finishExit(svm, cpu, code, info1Lo, info1Hi, info2Lo, info2Hi, vi, cpu.vectoringError);
}

/**
 * Records a #VMEXIT found mid-instruction or during an event delivery (#NPF, APM §15.25.6); the
 * caller then throws CPU_VMEXIT; completed at the next boundary ({@link completePendingExit},
 * called first by events.ts `boundary`). Keeps the IDT-vectoring information of the delivery
 * now (the core clears `cpu.vectoringInfo` when it unwinds) and the interrupt shadow the
 * instruction ran under.
 */
export function recordPendingExit(svm: SvmCpu, cpu: Cpu, code: number, info1Lo: number, info1Hi: number, info2Lo: number, info2Hi: number): void {
  svm.pendingExitCode = code;
  svm.pendingInfo1Lo = info1Lo;
  svm.pendingInfo1Hi = info1Hi;
  svm.pendingInfo2Lo = info2Lo;
  svm.pendingInfo2Hi = info2Hi;
  svm.pendingVectoringInfo = cpu.vectoringInfo;
  svm.pendingVectoringError = cpu.vectoringError;
  svm.pendingShadow = cpu.insnShadow;
  // The run loop calls ext.boundary at the next boundary (events.ts completes the exit).
  cpu.extBoundary = true;
  cpu.exitBlock = true;
}

/**
 * Completes the #VMEXIT recorded by {@link recordPendingExit}: the core has unwound the
 * instruction (RIP, RSP as a fault leaves them), so the guest state saved is the one the
 * abandoned instruction left, with RIP at the instruction (nRIP = RIP), and EXITINTINFO
 * describes the interrupted delivery (§15.7.2). Returns whether there was one.
 */
export function completePendingExit(svm: SvmCpu, cpu: Cpu): boolean {
  const code = svm.pendingExitCode;
  if (code === -1) return false;
  svm.pendingExitCode = -1;
  cpu.vectoringInfo = 0;
  // Back at the instruction's boundary, in the shadow it ran under.
  if (svm.pendingShadow !== 0) {
    cpu.interruptShadow = true;
    cpu.stiShadow = svm.pendingShadow === 1;
    svm.pendingShadow = 0;
  }
  cpu.nipLo = cpu.ripLo;
  cpu.nipHi = cpu.ripHi;
  finishExit(svm, cpu, code, svm.pendingInfo1Lo, svm.pendingInfo1Hi, svm.pendingInfo2Lo, svm.pendingInfo2Hi, svm.pendingVectoringInfo, svm.pendingVectoringError);
  return true;
}

function finishExit(svm: SvmCpu, cpu: Cpu, code: number, i1lo: number, i1hi: number, i2lo: number, i2hi: number, vi: number, verr: number): void {
  // §15.6: "Disable interrupts by clearing the GIF".
  cpu.gif = false;
  cpu.gvaValid = false;
  svm.pendingExitCode = -1;
  const v = svm.vmcb;
  const invalid = code === SvmExitCode.Invalid;
  const pa = svm.vmcbPa >= 0 ? svm.vmcbPa : v.pa;
  if (pa >= 0) {
    const w = v.open(pa);
    // EXITCODE (64 bits, VMEXIT_INVALID = -1 sign-extended), EXITINFO1, EXITINFO2.
    w[W_EXITCODE] = code;
    w[W_EXITCODE + 1] = code < 0 ? -1 : 0;
    w[W_EXITINFO1] = i1lo;
    w[W_EXITINFO1 + 1] = i1hi;
    w[W_EXITINFO2] = i2lo;
    w[W_EXITINFO2 + 1] = i2hi;
    if (!invalid) {
      // §15.7.2 EXITINTINFO: V (31), EV (11), TYPE (10:8), VECTOR (7:0), ERRORCODE (63:32).
      if (vi < 0) {
        const hasErr = (vi & (1 << 11)) !== 0;
        w[W_EXITINTINFO] = EventInj.Valid | (hasErr ? EventInj.ErrorValid : 0) | (exitIntInfoType((vi >>> 8) & 7) << EventInj.TypeShift) | (vi & 0xff);
        w[W_EXITINTINFO + 1] = hasErr ? verr : 0;
      } else {
        w[W_EXITINTINFO] = 0;
        w[W_EXITINTINFO + 1] = 0;
      }
      // §15.7.1 nRIP (NRIPS): the next sequential instruction pointer the caller set.
      if (svm.features.nrips) {
        w[W_NRIP] = cpu.nipLo;
        w[W_NRIP + 1] = cpu.nipHi;
      }
      // §15.20: the injected event was taken (or is now in EXITINTINFO): EVENTINJ.V is cleared.
      w[W_EVENTINJ] &= ~EventInj.Valid;
      saveGuestState(svm, cpu, w);
    }
    v.close();
  }
  // V_TPR/V_IRQ/... and INTERRUPT_SHADOW written back, the core's guest-mode hooks reset
  // (VMEXIT_INVALID: no guest ran, nothing is written back).
  if (!invalid && cpu.guestMode) {
    // §15.23: the guest's LBR state back into the VMCB (lbr.ts); the host's DebugCtl (0) is in force again.
    lbrLeave(svm);
    guestLeave(svm, cpu);
  } else resetGuestHooks(svm, cpu);
  loadHostState(svm, cpu);
  svm.vmcbPa = -1;
  const onExit = svm.onExit;
  if (onExit !== null) onExit(svm);
}

/**
 * §15.6 "Write back to the VMCB the current guest state" (the subset VMRUN loads), into the
 * VMCB's words `w` (opened by the caller).
 */
function saveGuestState(svm: SvmCpu, cpu: Cpu, w: Int32Array): void {
  storeStateSave(cpu, w, cpu.ripLo, cpu.ripHi);
  // With nested paging the guest's PAT is the gPAT register (§15.25.8), saved with the guest.
  // The cached copy (clean bit NP) follows, so a VMRUN that keeps it resumes with this gPAT.
  if ((svm.npEnable & NpEnable.Np) !== 0) {
    w[W_GPAT] = cpu.patLo;
    w[W_GPAT + 1] = cpu.patHi;
    svm.gPatLo = cpu.patLo;
    svm.gPatHi = cpu.patHi;
  }
  // GUEST_INTERRUPT_MASK / INTERRUPT_SHADOW: guestLeave (events.ts) writes them with V_TPR/V_IRQ.
}

/**
 * §15.6 "Reload the host state previously saved by the VMRUN instruction", forcing CR0.PE = 1,
 * RFLAGS.VM = 0, CPL 0 and disabling all breakpoints in DR7 (DR7 = 400h: no enable, no
 * condition); ASID 0; no interrupt shadow; not halted. Then the host-state consistency checks:
 * an illegal host state (the VMRUN checks of §15.5.1 that can fail on reloaded state) or a PAE
 * host CR3 whose PDPTEs have reserved bits set shuts the processor down.
 */
function loadHostState(svm: SvmCpu, cpu: Cpu): void {
  const hs = svm.hsave;
  const h = hs.open(svm.hsavePa);
  cpu.guestMode = false;

  const efer = h[W_EFER]!;
  const cr0 = h[W_CR0]! | Cr0.PE;
  const cr4 = h[W_CR4]!;
  cpu.efer = efer;
  cpu.cr0 = cr0;
  cpu.cr4 = cr4;
  cpu.cr3Lo = h[W_CR3]!;
  cpu.cr3Hi = h[W_CR3 + 1]!;
  cpu.drLo[7] = 0x400;
  cpu.drHi[7] = 0;
  cpu.setEflags((h[W_RFLAGS]! & ~Flag.VM) | 2);
  if ((svm.npEnable & NpEnable.Np) !== 0) {
    cpu.patLo = h[W_GPAT]!;
    cpu.patHi = h[W_GPAT + 1]!;
  }

  // The segment caches go straight into the core's arrays (what setSegmentRaw stores):
  // contextChanged below recomputes what derives from them (fast limits, code mode, CPL).
  const segSel = cpu.segSel;
  const segAttr = cpu.segAttr;
  const segLimit = cpu.segLimit;
  const segBase = cpu.segBase;
  const segBaseHi = cpu.segBaseHi;
  for (let i = 0; i < 4; i++) {
    const seg = SWITCHED_SEGS[i]!;
    const o = SWITCHED_OFFS[i]! >> 2;
    const w = h[o]!;
    let attr = attribToCore(w >>> 16, true);
    // CPL 0: the CPL is SS.DPL (and CS.DPL for the non-conforming host code segment).
    if (seg === Seg.SS || seg === Seg.CS) attr &= ~SegAttr.DplMask;
    segSel[seg] = w & 0xffff;
    segAttr[seg] = attr;
    segLimit[seg] = h[o + 1]! >>> 0;
    segBase[seg] = h[o + 2]!;
    segBaseHi[seg] = h[o + 3]!;
  }
  cpu.gdtrLimit = h[W_GDTR + 1]! & 0xffff;
  cpu.gdtrBaseLo = h[W_GDTR + 2]!;
  cpu.gdtrBaseHi = h[W_GDTR + 3]!;
  cpu.idtrLimit = h[W_IDTR + 1]! & 0xffff;
  cpu.idtrBaseLo = h[W_IDTR + 2]!;
  cpu.idtrBaseHi = h[W_IDTR + 3]!;

  cpu.ripLo = h[W_RIP]!;
  cpu.ripHi = h[W_RIP + 1]!;
  cpu.gpr[4] = h[W_RSP]!;
  cpu.gprHi[4] = h[W_RSP + 1]!;
  cpu.gpr[0] = h[W_RAX]!;
  cpu.gprHi[0] = h[W_RAX + 1]!;
  hs.close();

  cpu.interruptShadow = false;
  cpu.stiShadow = false;
  cpu.halted = false;
  cpu.pendingDb = 0;
  // ASID 0: the host's TLB bank, selected after the host CR0/CR4/EFER/RFLAGS are in place and
  // before contextChanged (no flush for the other context's access rights).
  cpu.selectTlbBank(0);
  cpu.contextChanged();

  // Host-state checks (§15.6 "check the reloaded host state for consistency; any error causes
  // the processor to shutdown"): CR0.NW without CR0.CD, long mode paging without PAE, a 64-bit
  // CS with D set in long mode, bad PAE PDPTEs.
  const pg = (cr0 & Cr0.PG) !== 0;
  const lme = (efer & Efer.LME) !== 0;
  const csAttr = cpu.segAttr[Seg.CS]!;
  let bad = (cr0 & (Cr0.CD | Cr0.NW)) === Cr0.NW;
  if (lme && pg && (cr4 & Cr4.PAE) === 0) bad = true;
  if (lme && pg && (csAttr & (SegAttr.L | SegAttr.DB)) === (SegAttr.L | SegAttr.DB)) bad = true;
  if (!bad && pg && (cr4 & Cr4.PAE) !== 0 && (efer & Efer.LMA) === 0 && !cpu.walker.loadPdptes(cpu.cr3Lo)) bad = true;
  if (bad) {
    cpu.shutdown = true;
    cpu.exitBlock = true;
  }
}
