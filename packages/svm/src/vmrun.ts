/**
 * VMRUN (AMD64 APM Vol. 2 §15.5 "VMRUN Instruction", §15.5.1 "Canonicalization and Consistency
 * Checks", §15.15 "VMCB State Caching" (clean bits), §15.20 "Event Injection"; APM Vol. 3
 * "VMRUN"), after the instruction's #UD/#GP checks and the VMRUN intercept (instructions.ts).
 *
 * Order (APM Vol. 3 VMRUN "Operation"): remember the VMCB address; read the control area
 * (honouring the clean bits); run the consistency checks; save the host state into the host
 * save area (VM_HSAVE_PA); load the guest state; TLB_CONTROL and ASID (npt.ts); GIF = 1; inject
 * EVENTINJ; continue in the guest.
 *
 * Decisions where the APM leaves room:
 * - The checks run before anything architectural changes, so a failing VMRUN
 *   (#VMEXIT(VMEXIT_INVALID), EXITCODE = -1, EXITINFO1 = EXITINFO2 = 0) leaves the host exactly as
 *   the #VMEXIT's host-state reload would (the host save area would hold the state the processor
 *   still has; RIP = the instruction after VMRUN), with what every #VMEXIT does besides: GIF = 0
 *   (§15.17) and DR7 = 400h (breakpoints disabled, §15.6). The VMCB's state-save area keeps what the hypervisor wrote (the guest state the
 *   #VMEXIT would save is that same state: none of it ran), EXITINTINFO and EVENTINJ are not
 *   touched. The processor then forgets its clean-bit cache (`cleanVmcbPa` = -1).
 * - Clean bits (§15.15.3) are honoured only for the VMCB address run last on this processor
 *   with VmcbClean advertised. A control group whose bit is set (I, IOPM, ASID, TPR, NP) is
 *   neither re-read nor re-checked: the cached copy in `SvmCpu` is used. Guest-state groups
 *   (CRx, DRx, DT, SEG, CR2, LBR) are always re-read (the VMCB holds what the last #VMEXIT
 *   saved, so reading it is what a cache would give; the APM allows either), and the checks on
 *   CR0/CR3/CR4/EFER/CS are skipped while the CRx and SEG bits are set and the values equal the
 *   ones that passed last time. EVENTINJ, TLB_CONTROL, INTERRUPT_SHADOW and nRIP have no clean
 *   bit: always read; the EVENTINJ check always runs.
 * - CPL comes from the VMCB's CPL byte; real mode (CR0.PE = 0, paged real mode included) forces
 *   0 and virtual-8086 mode (RFLAGS.VM = 1) forces 3 (APM Table B-2 note on CPL). The core
 *   derives CPL from SS.DPL, so SS.DPL is set to that CPL (the APM's SS attribute
 *   canonicalisation: the processor uses CPL, not SS.DPL).
 * - CR0.ET reads as 1 on AMD processors: it is forced to 1.
 * - LBR virtualization: the core records no branches; with LBR_VIRTUALIZATION_ENABLE the VMCB's
 *   DbgCtl/LBR fields are neither loaded nor changed (nothing to restore them into).
 * - EVENTINJ exceptions without EV: the core pushes 0 for vectors that define an error code.
 */
import { type Cpu, Cr0, Cr4, Efer, EventKind, Flag, Seg, SegAttr, cr4ValidMask } from '@hvkit/x86';
import { belowMaxPhyAddr } from './caps.js';
import { EventInj, EventType, InterceptMisc2, IntShadow, NpEnable, VmcbClean } from './constants.js';
import { guestEnter } from './events.js';
import { nptActivate } from './npt.js';
import { lbrEnter } from './lbr.js';
import type { SvmCpu } from './svm.js';
import { attribToCore, storeStateSave, VmcbOffset as O, type VmcbMemory } from './vmcb.js';

const TWO_32 = 4294967296;

/** CPUID Fn8000_0001_EDX bits (APM Vol. 3 Appendix E.4.2) that make EFER bits exist. */
const EXT1_EDX_SYSCALL = 1 << 11;
const EXT1_EDX_NX = 1 << 20;
const EXT1_EDX_LM = 1 << 29;

/** CS attrib (VMCB 12-bit format, bits 11:8 = AVL, L, D/B, G): L and D. */
const ATTRIB_L = 1 << 9;
const ATTRIB_D = 1 << 10;

/** The segments VMRUN loads from the VMCB (§15.5.1, Table B-2): ES, CS, SS, DS (FS, GS, TR, LDTR are VMLOAD's). */
const VMRUN_SEGS = 4;
const SEG_OFFSETS: readonly number[] = [O.Es, O.Cs, O.Ss, O.Ds];

/** Word indices (offset / 4) of the state-save fields the world switch moves (Table B-2, the host save area's layout too). */
const W_CS = O.Cs >> 2;
const W_GDTR = O.Gdtr >> 2;
const W_IDTR = O.Idtr >> 2;
/** CPL is the byte at 4CBh: bits 31:24 of the word at 4C8h. */
const W_CPL = (O.Cpl & ~3) >> 2;
const W_EFER = O.Efer >> 2;
const W_CR0 = O.Cr0 >> 2;
const W_CR2 = O.Cr2 >> 2;
const W_CR3 = O.Cr3 >> 2;
const W_CR4 = O.Cr4 >> 2;
const W_DR6 = O.Dr6 >> 2;
const W_DR7 = O.Dr7 >> 2;
const W_RFLAGS = O.Rflags >> 2;
const W_RIP = O.Rip >> 2;
const W_RSP = O.Rsp >> 2;
const W_RAX = O.Rax >> 2;
const W_GPAT = O.GPat >> 2;
const W_LBR_VIRT = O.LbrVirtualizationEnable >> 2;
/** TLB_CONTROL is the byte at 05Ch. */
const W_TLB_CONTROL = O.TlbControl >> 2;
const W_INTERRUPT_SHADOW = O.InterruptShadow >> 2;

/** Event types (§15.20 EVENTINJ.TYPE) VMRUN accepts: 0 INTR, 2 NMI, 3 exception, 4 software interrupt. */
const LEGAL_TYPES = (1 << EventType.Intr) | (1 << EventType.Nmi) | (1 << EventType.Exception) | (1 << EventType.Soft);

/**
 * The EFER bits this processor implements (APM Vol. 2 §3.1.7 "Extended Feature Enable Register"):
 * every other bit is MBZ for VMRUN (§15.5.1 "Any MBZ bit of EFER is set"). LMA is included:
 * VMRUN loads it as given.
 */
function eferValidMask(cpu: Cpu): number {
  const edx = cpu.model.ext1Edx;
  let m = Efer.SVME;
  if ((edx & EXT1_EDX_SYSCALL) !== 0) m |= Efer.SCE;
  if ((edx & EXT1_EDX_NX) !== 0) m |= Efer.NXE;
  if ((edx & EXT1_EDX_LM) !== 0) m |= Efer.LME | Efer.LMA;
  return m;
}

/**
 * Whether every byte of a PAT value (lo, hi) is a legal memory type (0 UC, 1 WC, 4 WT, 5 WP,
 * 6 WB, 7 UC-) with bits 7:3 clear (APM Vol. 2 §7.8.1 "PAT Register"; G_PAT with NP_ENABLE:
 * §15.25.8, checked by VMRUN).
 */
function patValid(lo: number, hi: number): boolean {
  for (let i = 0; i < 8; i++) {
    const t = ((i < 4 ? lo : hi) >>> ((i & 3) * 8)) & 0xff;
    if (t > 7 || t === 2 || t === 3) return false;
  }
  return true;
}

/**
 * §15.5.1 checks on the guest's control registers, EFER, DR6/DR7 and CS (each a documented
 * "illegal state combination"). Returns true when legal.
 */
function guestStateLegal(
  cpu: Cpu,
  cr0: number,
  cr0Hi: number,
  cr3Hi: number,
  cr4: number,
  cr4Hi: number,
  efer: number,
  eferHi: number,
  csAttrib: number,
): boolean {
  // "EFER.SVME is zero."
  if ((efer & Efer.SVME) === 0) return false;
  // "CR0.CD is zero and CR0.NW is set."
  if ((cr0 & (Cr0.CD | Cr0.NW)) === Cr0.NW) return false;
  // "CR0[63:32] are not zero."
  if (cr0Hi !== 0) return false;
  // "Any MBZ bit of CR4 is set" (bits of features this processor does not have included).
  if (cr4Hi !== 0 || (cr4 & ~cr4ValidMask(cpu)) !== 0) return false;
  // "Any MBZ bit of EFER is set." "EFER.LMA or EFER.LME is non-zero and this processor does not
  // support long mode" (then LME/LMA are outside the valid mask).
  if (eferHi !== 0 || (efer & ~eferValidMask(cpu)) !== 0) return false;
  const longPaging = (efer & Efer.LME) !== 0 && (cr0 & Cr0.PG) !== 0;
  if (longPaging) {
    // "EFER.LME and CR0.PG are both set and CR4.PAE is zero."
    if ((cr4 & Cr4.PAE) === 0) return false;
    // "EFER.LME and CR0.PG are both non-zero and CR0.PE is zero."
    if ((cr0 & Cr0.PE) === 0) return false;
    // "EFER.LME, CR0.PG, CR4.PAE, CS.L, and CS.D are all non-zero."
    if ((csAttrib & (ATTRIB_L | ATTRIB_D)) === (ATTRIB_L | ATTRIB_D)) return false;
    // "Any MBZ bit of CR3 is set": in long mode bits 63:MAXPHYADDR (APM Vol. 2 §5.3.2 Figure 5-16).
    const bits = cpu.model.physAddrBits;
    if (bits < 64 && (cr3Hi >>> 0) >= 2 ** (bits - 32)) return false;
  }
  return true;
}

/** Reads the control groups the clean bits do not cover as unchanged (§15.15.3), with their checks. Returns false on an illegal value. */
function loadControls(svm: SvmCpu, cpu: Cpu, v: VmcbMemory, clean: number): boolean {
  if ((clean & VmcbClean.I) === 0) {
    svm.interceptCrRead = v.r16(O.InterceptCrRead);
    svm.interceptCrWrite = v.r16(O.InterceptCrWrite);
    svm.interceptDrRead = v.r16(O.InterceptDrRead);
    svm.interceptDrWrite = v.r16(O.InterceptDrWrite);
    svm.interceptExceptions = v.r32(O.InterceptExceptions);
    svm.interceptMisc1 = v.r32(O.InterceptMisc1);
    svm.interceptMisc2 = v.r32(O.InterceptMisc2);
    svm.interceptMisc3 = v.r32(O.InterceptMisc3);
    svm.pauseFilterThreshold = v.r16(O.PauseFilterThreshold);
    svm.pauseFilterCount = v.r16(O.PauseFilterCount);
    svm.tscOffsetLo = v.r32(O.TscOffset);
    svm.tscOffsetHi = v.r32(O.TscOffset + 4);
    // "The VMRUN intercept bit is clear."
    if ((svm.interceptMisc2 & InterceptMisc2.Vmrun) === 0) return false;
  }
  if ((clean & VmcbClean.Iopm) === 0) {
    const limit = 2 ** cpu.model.physAddrBits;
    // Bits 11:0 of IOPM_BASE_PA / MSRPM_BASE_PA are ignored (Table B-1).
    const iopm = v.r64(O.IopmBasePa);
    const msrpm = v.r64(O.MsrpmBasePa);
    svm.iopmBase = iopm - (iopm % 4096);
    svm.msrpmBase = msrpm - (msrpm % 4096);
    // "The MSR or IOIO intercept tables extend to a physical address that is greater than or
    // equal to the maximum supported physical address": IOPM 12 KiB, MSRPM 8 KiB (§15.10.1, §15.11).
    if (svm.iopmBase + 0x3000 > limit || svm.msrpmBase + 0x2000 > limit) return false;
  }
  if ((clean & VmcbClean.Asid) === 0) {
    svm.asid = v.r32(O.GuestAsid);
    // "ASID is equal to zero" (ASID 0 is the host's, §15.16).
    if (svm.asid === 0) return false;
  }
  if ((clean & VmcbClean.Tpr) === 0) {
    svm.vIntr = v.r32(O.VIntr);
    svm.vIntrVector = v.r8(O.VIntrVector);
  }
  if ((clean & VmcbClean.Np) === 0) {
    svm.npEnable = svm.features.np ? v.r32(O.NpEnable) & NpEnable.Np : 0;
    svm.nCr3Lo = v.r32(O.NCr3);
    svm.nCr3Hi = v.r32(O.NCr3 + 4);
    svm.gPatLo = v.r32(O.GPat);
    svm.gPatHi = v.r32(O.GPat + 4);
    // With nested paging the guest's PAT is G_PAT; an illegal PAT type in it fails VMRUN (§15.25.8).
    if (svm.npEnable !== 0 && !patValid(svm.gPatLo, svm.gPatHi)) return false;
    // §15.25.4: with NP_ENABLE = 1 "any MBZ bit of nCR3 is set" is illegal: bits 63:MAXPHYADDR
    // (the nested root is a system-physical address; APM Vol. 2 §5.3.2 Figure 5-16).
    if (svm.npEnable !== 0 && !belowMaxPhyAddr(cpu, svm.nCr3Lo, svm.nCr3Hi)) return false;
  }
  return true;
}

/**
 * #VMEXIT(VMEXIT_INVALID) for a VMRUN whose checks failed (nothing loaded yet): EXITCODE = -1,
 * EXITINFO1 = EXITINFO2 = 0, GIF = 0, the clean-bit cache forgotten; the host continues after
 * VMRUN (the instruction completes normally: RIP = next RIP, as the host save area would say).
 */
function vmrunInvalid(svm: SvmCpu, cpu: Cpu): boolean {
  const v = svm.vmcb;
  v.w32(O.ExitCode, -1);
  v.w32(O.ExitCode + 4, -1);
  v.w64(O.ExitInfo1, 0, 0);
  v.w64(O.ExitInfo2, 0, 0);
  cpu.gif = false;
  // As every #VMEXIT's host reload (§15.6): all breakpoints disabled (DR7 = 400h).
  if (cpu.drLo[7] !== 0x400 || cpu.drHi[7] !== 0) {
    cpu.drLo[7] = 0x400;
    cpu.drHi[7] = 0;
    cpu.updateDebug();
  }
  svm.cleanVmcbPa = -1;
  svm.vmrunChecked = false;
  svm.vmcbPa = -1;
  const hook = svm.onExit;
  if (hook !== null) hook(svm);
  return false;
}

/**
 * Saves the host state into the host save area (§15.5 "VMRUN": ES, CS, SS, DS selectors (and, in
 * hvkit's layout, their full caches), GDTR, IDTR, EFER, CR0, CR3, CR4, RFLAGS, RIP = the
 * instruction after VMRUN, RSP, RAX; the layout is the VMCB state-save area's). hvkit also
 * stores CPL (0), DR6, DR7 and PAT (the host PAT #VMEXIT gives back when NP_ENABLE loaded G_PAT).
 */
function saveHost(svm: SvmCpu, cpu: Cpu): void {
  const hs = svm.hsave;
  const h = hs.open(svm.hsavePa);
  // RIP = the instruction after VMRUN, where the host resumes.
  storeStateSave(cpu, h, cpu.nipLo, cpu.nipHi);
  h[W_GPAT] = cpu.patLo;
  h[W_GPAT + 1] = cpu.patHi;
  hs.close();
}

/**
 * VMRUN with the VMCB at host-physical `pa` (after the instruction's #UD/#GP checks and the VMRUN
 * intercept, instructions.ts). Returns true when the guest was entered, false when VMRUN ended in
 * #VMEXIT(VMEXIT_INVALID) (the host continues after VMRUN). `cpu.nipLo/Hi` must hold the address
 * of the instruction after VMRUN (the host RIP saved).
 */
export function opVmrun(svm: SvmCpu, cpu: Cpu, pa: number): boolean {
  const v = svm.vmcb;
  v.select(pa);
  svm.vmcbPa = pa;
  // §15.15.3: the clean bits count only for the VMCB this processor ran last (and cached).
  const clean = pa === svm.cleanVmcbPa && svm.features.vmcbClean ? v.r32(O.VmcbClean) : 0;
  svm.cleanVmcbPa = -1;

  // ---- control area and its checks (§15.5.1) ----
  if (!loadControls(svm, cpu, v, clean)) return vmrunInvalid(svm, cpu);
  // §15.25.3: "If VMRUN is executed with hCR0.PG cleared to zero and NP_ENABLE set to 1, VMRUN
  // terminates with #VMEXIT(VMEXIT_INVALID)" (a host state check: made whatever the clean bits).
  if (svm.npEnable !== 0 && (cpu.cr0 & Cr0.PG) === 0) return vmrunInvalid(svm, cpu);
  // "Illegal event injection (see Section 15.20)": a reserved TYPE (1, 5-7); an exception
  // (TYPE 3) with vector 2 (NMI) or a vector above 31. NMI (TYPE 2) ignores the vector.
  const eventInj = v.r32(O.EventInj);
  if ((eventInj & EventInj.Valid) !== 0) {
    const type = (eventInj & EventInj.TypeMask) >>> EventInj.TypeShift;
    if (((LEGAL_TYPES >>> type) & 1) === 0) return vmrunInvalid(svm, cpu);
    const vector = eventInj & EventInj.VectorMask;
    if (type === EventType.Exception && (vector === 2 || vector > 31)) return vmrunInvalid(svm, cpu);
  }

  // ---- guest state checks (§15.5.1), skipped while clean and unchanged ----
  // The state-save area is indexed as words from here to the end of the guest-state load.
  const g = v.open(pa);
  const cr0 = g[W_CR0]! | Cr0.ET;
  const cr0Hi = g[W_CR0 + 1]!;
  const cr3Lo = g[W_CR3]!;
  const cr3Hi = g[W_CR3 + 1]!;
  const cr4 = g[W_CR4]!;
  const cr4Hi = g[W_CR4 + 1]!;
  const efer = g[W_EFER]!;
  const eferHi = g[W_EFER + 1]!;
  const csAttrib = g[W_CS]! >>> 16;
  const key = svm.vmrunCheckedKey;
  const same =
    svm.vmrunChecked &&
    (clean & (VmcbClean.Crx | VmcbClean.Seg)) === (VmcbClean.Crx | VmcbClean.Seg) &&
    key[0] === cr0 &&
    key[1] === cr0Hi &&
    key[2] === cr3Hi &&
    key[3] === cr4 &&
    key[4] === cr4Hi &&
    key[5] === efer &&
    key[6] === eferHi &&
    key[7] === csAttrib;
  if (!same) {
    svm.vmrunChecked = false;
    if (!guestStateLegal(cpu, cr0, cr0Hi, cr3Hi, cr4, cr4Hi, efer, eferHi, csAttrib)) {
      v.close();
      return vmrunInvalid(svm, cpu);
    }
    key[0] = cr0;
    key[1] = cr0Hi;
    key[2] = cr3Hi;
    key[3] = cr4;
    key[4] = cr4Hi;
    key[5] = efer;
    key[6] = eferHi;
    key[7] = csAttrib;
    svm.vmrunChecked = true;
  }
  // "DR6[63:32] are not zero." "DR7[63:32] are not zero."
  if (g[W_DR6 + 1] !== 0 || g[W_DR7 + 1] !== 0) {
    v.close();
    return vmrunInvalid(svm, cpu);
  }

  // ---- host state into the host save area ----
  saveHost(svm, cpu);
  svm.hostIf = (cpu.flags & Flag.IF) !== 0;

  // ---- guest state (Table B-2) ----
  cpu.cr0 = cr0;
  cpu.cr3Lo = cr3Lo;
  cpu.cr3Hi = cr3Hi;
  cpu.cr4 = cr4;
  cpu.efer = efer;
  cpu.cr2Lo = g[W_CR2]!;
  cpu.cr2Hi = g[W_CR2 + 1]!;
  cpu.drLo[6] = g[W_DR6]!;
  cpu.drHi[6] = 0;
  cpu.drLo[7] = g[W_DR7]!;
  cpu.drHi[7] = 0;
  const rflags = g[W_RFLAGS]!;
  cpu.setEflags(rflags);
  // CPL: the VMCB's, but 0 in real mode and 3 in virtual-8086 mode; the core reads it from SS.DPL.
  const cpl = (cr0 & Cr0.PE) === 0 ? 0 : (rflags & Flag.VM) !== 0 ? 3 : (g[W_CPL]! >>> 24) & 3;
  // Protected-mode segments with P = 0 are unusable (null) segments for the core (vmcb.ts attribToCore).
  const protectedSegs = (cr0 & Cr0.PE) !== 0 && (rflags & Flag.VM) === 0;
  const segSel = cpu.segSel;
  const segBase = cpu.segBase;
  const segBaseHi = cpu.segBaseHi;
  const segLimit = cpu.segLimit;
  const segAttr = cpu.segAttr;
  for (let s = 0; s < VMRUN_SEGS; s++) {
    const o = SEG_OFFSETS[s]! >> 2;
    const w = g[o]!;
    segSel[s] = w & 0xffff;
    let attr = attribToCore(w >>> 16, protectedSegs);
    if (s === Seg.SS) attr = (attr & ~SegAttr.DplMask) | (cpl << SegAttr.DplShift);
    segAttr[s] = attr;
    segLimit[s] = g[o + 1]! >>> 0;
    segBase[s] = g[o + 2]!;
    segBaseHi[s] = g[o + 3]!;
  }
  cpu.gdtrLimit = g[W_GDTR + 1]! & 0xffff;
  cpu.gdtrBaseLo = g[W_GDTR + 2]!;
  cpu.gdtrBaseHi = g[W_GDTR + 3]!;
  cpu.idtrLimit = g[W_IDTR + 1]! & 0xffff;
  cpu.idtrBaseLo = g[W_IDTR + 2]!;
  cpu.idtrBaseHi = g[W_IDTR + 3]!;
  cpu.ripLo = g[W_RIP]!;
  cpu.ripHi = g[W_RIP + 1]!;
  cpu.gpr[4] = g[W_RSP]!;
  cpu.gprHi[4] = g[W_RSP + 1]!;
  cpu.gpr[0] = g[W_RAX]!;
  cpu.gprHi[0] = g[W_RAX + 1]!;
  if (svm.npEnable !== 0) {
    cpu.patLo = svm.gPatLo;
    cpu.patHi = svm.gPatHi;
  }
  svm.lbrVirt = svm.features.lbrVirt ? g[W_LBR_VIRT]! & 1 : 0;
  // §15.23: the guest's DebugCtl and last-branch MSRs with LBR virtualization (lbr.ts).
  lbrEnter(svm);
  svm.tlbControl = g[W_TLB_CONTROL]! & 0xff;
  const intShadow = g[W_INTERRUPT_SHADOW]!;
  v.close();
  cpu.tscOffsetLo = svm.tscOffsetLo;
  cpu.tscOffsetHi = svm.tscOffsetHi;
  cpu.halted = false;

  // ---- enter the guest ----
  cpu.gif = true;
  cpu.guestMode = true;
  svm.cleanVmcbPa = pa;
  guestEnter(svm, cpu);
  nptActivate(svm, cpu);
  cpu.contextChanged();
  // Legacy PAE paging: without NP the PDPTEs are loaded from the guest's CR3. With NP they are
  // not loaded at all: every guest walk reads them through the nested tables (§15.25.10,
  // `cpu.pdpteFromWalk`, set by nptActivate).
  if (svm.npEnable === 0 && (cr0 & Cr0.PG) !== 0 && (cr4 & Cr4.PAE) !== 0 && (efer & Efer.LMA) === 0) cpu.walker.loadPdptes(cr3Lo);

  // ---- INTERRUPT_SHADOW (Table B-1, offset 068h): the guest instruction at RIP runs in the
  // shadow. An injected event is taken at once and its handler's first instruction is not in it.
  const shadow = (eventInj & EventInj.Valid) === 0 && (intShadow & IntShadow.Shadow) !== 0;
  cpu.interruptShadow = shadow;
  cpu.stiShadow = shadow;

  // ---- EVENTINJ (§15.20): delivered through the guest IDT, not itself intercepted ----
  if ((eventInj & EventInj.Valid) !== 0) injectEventInj(svm, cpu, eventInj);
  return true;
}

/**
 * Delivers EVENTINJ (§15.20) with `cpu.injectEvent`: TYPE 0 INTR -> external interrupt, 2 NMI ->
 * NMI (vector 2), 3 exception -> exception (error code = EVENTINJ[63:32] when EV), 4 software
 * interrupt -> INTn. With NRIPS the return address a software interrupt pushes is nRIP (the VMCB's
 * NRIP field, §15.7.1 "State Saved on Exit"/§15.20) when it lies 1-15 bytes past RIP, else RIP. Faults during delivery are
 * intercepted normally and report the injected event in EXITINTINFO (the core's vectoring info).
 * The injected event is taken at once: the interrupt shadow does not hold it back.
 */
function injectEventInj(svm: SvmCpu, cpu: Cpu, eventInj: number): void {
  const v = svm.vmcb;
  const type = (eventInj & EventInj.TypeMask) >>> EventInj.TypeShift;
  const vector = eventInj & EventInj.VectorMask;
  switch (type) {
    case EventType.Intr:
      cpu.injectEvent(EventKind.External, vector, -1);
      return;
    case EventType.Nmi:
      cpu.injectEvent(EventKind.Nmi, 2, -1);
      return;
    case EventType.Exception:
      // ERRORCODE is 32 bits (EVENTINJ[63:32]): taken unsigned, so FFFF_FFFFh is pushed as
      // such (the core's "no error code" is a negative number).
      cpu.injectEvent(EventKind.Exception, vector, (eventInj & EventInj.ErrorValid) !== 0 ? v.r32(O.EventInj + 4) >>> 0 : -1);
      return;
    default: {
      // Software interrupt: the return address is nRIP with NRIPS, else RIP (the hypervisor
      // advanced RIP itself).
      let len = 0;
      if (svm.features.nrips) {
        const nLo = v.r32(O.NRip);
        const nHi = v.r32(O.NRip + 4);
        const diff = (nHi - cpu.ripHi) * TWO_32 + (nLo >>> 0) - (cpu.ripLo >>> 0);
        // An nRIP that is no instruction length past RIP (a hypervisor that left it stale) is
        // not used: RIP is pushed, as without NRIPS.
        if (diff > 0 && diff <= 15) len = diff;
      }
      cpu.injectEvent(EventKind.Software, vector, -1, len, 1);
    }
  }
}
