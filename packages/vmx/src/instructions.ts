/**
 * The VMX instructions (Intel SDM Vol. 3C ch. 30 "VMX Instruction Reference") and the VMCS cache
 * (§24.1 "Overview", §24.11 "Software Use of the VMCS and Related Structures").
 *
 * Two layers:
 * - the decode wrapper {@link executeVmx} does what depends on the encoding and the processor
 *   mode: the #UD conditions, the VM exit in VMX non-root operation (through
 *   `exitForInstruction`, exit qualification = the displacement of a memory operand, §27.2.1
 *   Table 27-1), #GP(0) at CPL > 0, and reading/writing the memory or register operands (the
 *   core's segment, canonical and paging checks raise #GP/#SS/#PF there);
 * - the operation functions (`opVmxon` ... `opInvvpid`) do the rest of each instruction's
 *   "Operation" pseudo-code, with the VMsucceed / VMfailInvalid / VMfailValid outcomes and the
 *   VM-instruction error numbers of §30.4 Table 30-1. The typed TypeScript API (api.ts) calls
 *   the same functions, so both run the very same code. Each returns the outcome (0 VMsucceed,
 *   -1 VMfailInvalid, n > 0 VMfailValid with error n; also left in `vmx.outcome`) and sets
 *   RFLAGS.CF/PF/AF/ZF/SF/OF as the instruction does (§30.2 "Conventions"). They assume the
 *   #UD/#GP checks of the wrapper passed (root operation, CPL 0).
 *
 * The VMCS cache: the current VMCS and every other active one is a {@link Vmcs} in `vmx.active`
 * (by region address). VMPTRLD of a region that is not active reads the region (hvkit's layout,
 * fields.ts); VMPTRLD of an active region does not reread memory; VMCLEAR writes the cached data
 * back and sets the launch state in the region to clear. In between, the region's memory is not
 * kept in step with the cache (§24.11.1: software must not access an active VMCS region with
 * ordinary memory accesses). Vmcs objects freed by VMCLEAR are reused, so steady-state use
 * allocates nothing. VMXOFF leaves the active VMCSs cached (§30.3 VMXOFF does not write them
 * back; §24.11.1 asks software to VMCLEAR them first).
 */
import type { Hpa } from '@hvkit/platform';
import * as x86 from '@hvkit/x86';
import type { Cpu } from '@hvkit/x86';
import { Proc2Ctl, ProcCtl, VmFuncCtl, VmInstructionError, VmxExitReason } from './constants.js';
import { isGuestSegmentField, Vmcs, VMCS_DATA_OFFSET, VMCS_LAUNCH_OFFSET, VMCS_SLOT, VMCS_SLOTS, VmcsField } from './fields.js';
import { vmEntry } from './entry.js';
import { eptpSwitch } from './ept.js';
import { exitForInstruction } from './nonroot.js';
import type { VmxCpu } from './vmx.js';

// Imported bindings copied into module constants (module runners that rewrite ES modules turn
// every read of an imported binding into a getter call; see the x86 core's operands.ts).
const { CodeMode, Cr0, Cr4, Efer, Flag, SegAttr, Seg, VirtInstruction } = x86;
const { insnDisplacement, insnIsMem, insnRegField, insnRmReg, memAddr, setArithFlags } = x86;

const VM_INSTRUCTION_ERROR_SLOT = VMCS_SLOT[VmcsField.VmInstructionError]!;
/** IA32_VMX_MISC bit 29: VMWRITE may write the VM-exit information fields. */
const MISC_VMWRITE_ANY = 1 << 29;
/** IA32_FEATURE_CONTROL: lock (bit 0), VMX outside SMX (bit 2) (SDM §24.7). */
const FC_LOCK = 1;
const FC_VMX_OUTSIDE_SMX = 4;

// ---- the conventions (SDM §30.2) ----------------------------------------------------------------

/** VMsucceed: CF, PF, AF, ZF, SF, OF := 0. */
export function vmSucceed(vmx: VmxCpu, cpu: Cpu): number {
  setArithFlags(cpu, 0);
  vmx.outcome = 0;
  return 0;
}

/** VMfailInvalid: CF := 1; PF, AF, ZF, SF, OF := 0. Returns -1. */
export function vmFailInvalid(vmx: VmxCpu, cpu: Cpu): number {
  setArithFlags(cpu, Flag.CF);
  vmx.outcome = -1;
  return -1;
}

/**
 * VMfailValid(error): ZF := 1; CF, PF, AF, SF, OF := 0; the current VMCS's VM-instruction error
 * field := error. Returns `error`. (Without a current VMCS, which the SDM never asks for, it is
 * VMfailInvalid.)
 */
export function vmFailValid(vmx: VmxCpu, cpu: Cpu, error: number): number {
  const v = vmx.current;
  if (v === null) return vmFailInvalid(vmx, cpu);
  setArithFlags(cpu, Flag.ZF);
  v.lo[VM_INSTRUCTION_ERROR_SLOT] = error;
  v.hi[VM_INSTRUCTION_ERROR_SLOT] = 0;
  vmx.outcome = error;
  return error;
}

/** VMfail(error): VMfailValid(error) if the current-VMCS pointer is valid, else VMfailInvalid. */
export function vmFail(vmx: VmxCpu, cpu: Cpu, error: number): number {
  return vmx.current !== null ? vmFailValid(vmx, cpu, error) : vmFailInvalid(vmx, cpu);
}

// ---- VMCS regions ---------------------------------------------------------------------------------

/** Whether a VMXON/VMCS pointer is 4-KByte aligned and within MAXPHYADDR (SDM §30.3). */
function pointerValid(vmx: VmxCpu, ptr: number): boolean {
  return ptr >= 0 && ptr % 4096 === 0 && ptr < 2 ** vmx.caps.physAddrBits;
}

function read32(cpu: Cpu, addr: number): number {
  return cpu.memory.read32(addr as Hpa) | 0;
}

function write32(cpu: Cpu, addr: number, v: number): void {
  cpu.memory.write32(addr as Hpa, v >>> 0);
}

/** Loads the VMCS data of the region at `addr` into a (pooled) Vmcs and makes it active. */
function activate(vmx: VmxCpu, cpu: Cpu, addr: number): Vmcs {
  const v = vmx.vmcsPool.pop() ?? new Vmcs();
  v.address = addr;
  v.launched = read32(cpu, addr + VMCS_LAUNCH_OFFSET) === 1;
  const lo = v.lo;
  const hi = v.hi;
  let a = addr + VMCS_DATA_OFFSET;
  for (let i = 0; i < VMCS_SLOTS; i++, a += 8) {
    lo[i] = read32(cpu, a);
    hi[i] = read32(cpu, a + 4);
  }
  v.generation++;
  v.checkedGeneration = -1;
  vmx.active.set(addr, v);
  return v;
}

/** Writes a cached VMCS to its region (launch state clear) and frees it (SDM §30.3 VMCLEAR). */
function writeBackAndFree(vmx: VmxCpu, cpu: Cpu, v: Vmcs): void {
  const addr = v.address;
  const lo = v.lo;
  const hi = v.hi;
  let a = addr + VMCS_DATA_OFFSET;
  for (let i = 0; i < VMCS_SLOTS; i++, a += 8) {
    write32(cpu, a, lo[i]!);
    write32(cpu, a + 4, hi[i]!);
  }
  vmx.active.delete(addr);
  if (vmx.staleAfterVmxoff.size !== 0) vmx.staleAfterVmxoff.delete(v);
  v.launched = false;
  vmx.vmcsPool.push(v);
}

// ---- operations ------------------------------------------------------------------------------

/**
 * VMXON's operation after its #UD/#GP checks (SDM §30.3 "VMXON"): in VMX root operation
 * VMfail(15); a pointer not 4-KByte aligned or beyond MAXPHYADDR, or a region whose revision
 * identifier (bits 30:0) differs or whose bit 31 is set: VMfailInvalid; otherwise the
 * current-VMCS pointer becomes invalid, the processor enters VMX root operation, INIT is
 * blocked, address-range monitoring is cleared, VMsucceed.
 */
export function opVmxon(vmx: VmxCpu, cpu: Cpu, ptr: number): number {
  if (vmx.inVmx) return vmFail(vmx, cpu, VmInstructionError.VmxonInVmxRoot);
  if (!pointerValid(vmx, ptr)) return vmFailInvalid(vmx, cpu);
  const rev = read32(cpu, ptr);
  if (rev !== (vmx.features.revisionId & 0x7fffffff)) return vmFailInvalid(vmx, cpu);
  vmx.current = null;
  vmx.inVmx = true;
  vmx.vmxonPointer = ptr;
  cpu.initBlocked = true;
  cpu.monitorArmed = false;
  return vmSucceed(vmx, cpu);
}

/**
 * VMXOFF's operation (SDM §30.3 "VMXOFF"; no dual-monitor treatment here): leaves VMX operation,
 * unblocks INIT, clears address-range monitoring, VMsucceed. The active VMCSs stay cached; a
 * launched one, made current again after the next VMXON, fails VMRESUME with error 6 until it
 * is VMCLEARed (Table 30-1 "VMRESUME after VMXOFF").
 */
export function opVmxoff(vmx: VmxCpu, cpu: Cpu): number {
  for (const v of vmx.active.values()) if (v.launched) vmx.staleAfterVmxoff.add(v);
  vmx.inVmx = false;
  vmx.current = null;
  cpu.initBlocked = false;
  cpu.monitorArmed = false;
  return vmSucceed(vmx, cpu);
}

/**
 * VMCLEAR's operation (SDM §30.3 "VMCLEAR"): an invalid pointer VMfail(2); the VMXON pointer
 * VMfail(3); otherwise the VMCS's data is written to its region if it is cached, its launch
 * state is set to clear, and if it is the current VMCS the current-VMCS pointer becomes
 * invalid. VMsucceed.
 */
export function opVmclear(vmx: VmxCpu, cpu: Cpu, ptr: number): number {
  if (!pointerValid(vmx, ptr)) return vmFail(vmx, cpu, VmInstructionError.VmclearInvalidAddress);
  if (ptr === vmx.vmxonPointer) return vmFail(vmx, cpu, VmInstructionError.VmclearVmxonPointer);
  const v = vmx.active.get(ptr);
  if (vmx.current !== null && vmx.current.address === ptr) vmx.current = null;
  if (v !== undefined) writeBackAndFree(vmx, cpu, v);
  write32(cpu, ptr + VMCS_LAUNCH_OFFSET, 0);
  return vmSucceed(vmx, cpu);
}

/**
 * VMPTRLD's operation (SDM §30.3 "VMPTRLD"): an invalid pointer VMfail(9); the VMXON pointer
 * VMfail(10); a region whose revision identifier differs, or with bit 31 (shadow-VMCS
 * indicator) set (VMCS shadowing is not supported): VMfail(11); otherwise it becomes the
 * current VMCS (read from memory only if it is not active already). VMsucceed.
 */
export function opVmptrld(vmx: VmxCpu, cpu: Cpu, ptr: number): number {
  if (!pointerValid(vmx, ptr)) return vmFail(vmx, cpu, VmInstructionError.VmptrldInvalidAddress);
  if (ptr === vmx.vmxonPointer) return vmFail(vmx, cpu, VmInstructionError.VmptrldVmxonPointer);
  const rev = read32(cpu, ptr);
  if (rev !== (vmx.features.revisionId & 0x7fffffff)) return vmFail(vmx, cpu, VmInstructionError.VmptrldIncorrectRevision);
  const cur = vmx.current;
  if (cur === null || cur.address !== ptr) vmx.current = vmx.active.get(ptr) ?? activate(vmx, cpu, ptr);
  return vmSucceed(vmx, cpu);
}

/**
 * VMPTRST (SDM §30.3 "VMPTRST"): the current-VMCS pointer, -1 for FFFFFFFF_FFFFFFFFH (no current
 * VMCS). The instruction stores it and signals VMsucceed; this function only answers the value.
 */
export function opVmptrst(vmx: VmxCpu): number {
  return vmx.current === null ? -1 : vmx.current.address;
}

/**
 * The slot of the field `encoding` names for VMREAD/VMWRITE, or -1 when the encoding names no
 * supported field (reserved bits 31:15 or 12 set, high access of a field that is not 64-bit,
 * or a field hvkit does not implement: VMfailValid(12), SDM §24.11.2, §30.3 VMREAD).
 */
export function fieldSlot(encoding: number, encodingHi = 0): number {
  if (encodingHi !== 0 || (encoding & (0xffff8000 | 0x1000)) !== 0) return -1;
  if ((encoding & 1) !== 0 && ((encoding >>> 13) & 3) !== 1) return -1;
  return VMCS_SLOT[encoding & ~1]!;
}

/**
 * VMREAD's operation in VMX root operation (SDM §30.3 "VMREAD"): no current VMCS VMfailInvalid;
 * an unsupported field VMfailValid(12); otherwise VMsucceed and the field's value (§24.11.2
 * "VMREAD, VMWRITE, and Encodings of VMCS Fields"): a 16/32-bit field zero-extended, a 64-bit or
 * natural-width field whole, the high access of a 64-bit field its bits 63:32 zero-extended.
 * Returns the low half (0 on failure) with the high half in `vmx.readHi`; the outcome is in
 * `vmx.outcome`. (Truncation to a 32-bit operand outside 64-bit mode is the instruction's.)
 */
export function opVmread(vmx: VmxCpu, cpu: Cpu, encoding: number, encodingHi = 0): number {
  vmx.readHi = 0;
  const v = vmx.current;
  if (v === null) {
    vmFailInvalid(vmx, cpu);
    return 0;
  }
  const s = fieldSlot(encoding, encodingHi);
  if (s < 0) {
    vmFailValid(vmx, cpu, VmInstructionError.UnsupportedVmcsComponent);
    return 0;
  }
  setArithFlags(cpu, 0);
  vmx.outcome = 0;
  if ((encoding & 1) !== 0) return v.hi[s]!;
  switch ((encoding >>> 13) & 3) {
    case 0:
      return v.lo[s]! & 0xffff;
    case 2:
      return v.lo[s]!;
    default:
      vmx.readHi = v.hi[s]!;
      return v.lo[s]!;
  }
}

/**
 * VMWRITE's operation in VMX root operation (SDM §30.3 "VMWRITE"): no current VMCS
 * VMfailInvalid; an unsupported field VMfailValid(12); a VM-exit information field (type 1)
 * VMfailValid(13) (IA32_VMX_MISC bit 29 clear); otherwise the field is written (§24.11.2: a
 * 16-bit field takes bits 15:0, a 32-bit field bits 31:0, the high access of a 64-bit field
 * writes bits 31:0 of the value into bits 63:32 of the field) and VMsucceed. A write to a
 * control or host-state field bumps the VMCS generation (VM entry then rechecks controls and
 * host state, SDM §26.2); guest-state fields are checked on every entry anyway (§26.3.1).
 */
export function opVmwrite(vmx: VmxCpu, cpu: Cpu, encoding: number, lo: number, hi: number, encodingHi = 0): number {
  const v = vmx.current;
  if (v === null) return vmFailInvalid(vmx, cpu);
  const s = fieldSlot(encoding, encodingHi);
  if (s < 0) return vmFailValid(vmx, cpu, VmInstructionError.UnsupportedVmcsComponent);
  if (((encoding >>> 10) & 3) === 1 && (vmx.caps.miscLo & MISC_VMWRITE_ANY) === 0) {
    return vmFailValid(vmx, cpu, VmInstructionError.VmwriteReadOnlyComponent);
  }
  if ((encoding & 1) !== 0) {
    v.hi[s] = lo;
  } else {
    switch ((encoding >>> 13) & 3) {
      case 0:
        v.lo[s] = lo & 0xffff;
        v.hi[s] = 0;
        break;
      case 2:
        v.lo[s] = lo;
        v.hi[s] = 0;
        break;
      default:
        v.lo[s] = lo;
        v.hi[s] = hi;
    }
  }
  // Only control (type 0) and host-state (type 3) fields feed the VM-entry checks that are
  // cached per generation (entry.ts controlsOk/hostStateOk); a guest-state write (the guest RIP
  // a host advances on every exit) leaves the generation, and those checks' result, alone.
  const type = (encoding >>> 10) & 3;
  if (type === 0 || type === 3) v.generation++;
  else if (type === 2 && isGuestSegmentField(encoding)) v.segGeneration++;
  setArithFlags(cpu, 0);
  vmx.outcome = 0;
  return 0;
}

/**
 * VMLAUNCH/VMRESUME after their #UD/#GP checks (SDM §30.3 "VMLAUNCH/VMRESUME"): no current VMCS
 * VMfailInvalid; events blocked by MOV SS VMfailValid(26); VMLAUNCH of a VMCS whose launch state
 * is not clear VMfailValid(4); VMRESUME of one that is not launched VMfailValid(5), or of one
 * that stayed active across VMXOFF VMfailValid(6); then VM entry (entry.ts: VMfailValid 7/8 for
 * controls/host state, a VM-entry failure exit, or non-root operation). Returns 0 when VM entry
 * was attempted without VMfail (the guest runs, or a VM-entry failure exit happened).
 *
 * "Blocking by MOV SS" is the blocking that applies to this VMLAUNCH/VMRESUME itself: the
 * core's `insnShadow` (2 = the previous instruction was MOV SS / POP SS; its `interruptShadow`
 * has already been consumed as this instruction started).
 */
export function opVmlaunch(vmx: VmxCpu, cpu: Cpu, launch: boolean): number {
  const v = vmx.current;
  if (v === null) return vmFailInvalid(vmx, cpu);
  if (cpu.insnShadow === 2) return vmFailValid(vmx, cpu, VmInstructionError.EntryEventsBlockedByMovSs);
  if (launch) {
    if (v.launched) return vmFailValid(vmx, cpu, VmInstructionError.VmlaunchNonClearVmcs);
  } else {
    if (!v.launched) return vmFailValid(vmx, cpu, VmInstructionError.VmresumeNonLaunchedVmcs);
    if (vmx.staleAfterVmxoff.size !== 0 && vmx.staleAfterVmxoff.has(v)) return vmFailValid(vmx, cpu, VmInstructionError.VmresumeAfterVmxoff);
  }
  vmx.outcome = 0;
  vmEntry(vmx, cpu, launch);
  return vmx.outcome;
}

/**
 * Conservative TLB invalidation for INVEPT/INVVPID: every tagged TLB bank of the core (the only
 * cached translations: the EPT walker, `vmx.ept`, keeps no cache of its own).
 */
function invalidateAll(cpu: Cpu): void {
  cpu.flushAllTlbBanks();
}

/**
 * INVEPT's operation (SDM §30.3 "INVEPT"): a type not supported (IA32_VMX_EPT_VPID_CAP bits
 * 25/26; types are 1 single-context and 2 all-context) VMfailValid(28); single-context with an
 * EPTP that would fail VM entry (§26.2.1.1) VMfailValid(28); otherwise the mappings are
 * invalidated (conservatively: all of them, which the SDM allows, §28.4.3.4) and VMsucceed.
 * `typeHi` is the high half of a 64-bit type register.
 */
export function opInvept(vmx: VmxCpu, cpu: Cpu, type: number, eptpLo: number, eptpHi: number, typeHi = 0): number {
  if (typeHi !== 0 || type < 0 || type > 31 || (vmx.caps.inveptTypes & (1 << type)) === 0) {
    return vmFailValid(vmx, cpu, VmInstructionError.InvalidOperandToInveptInvvpid);
  }
  if (type === 1 && !vmx.caps.eptpValid(eptpLo, eptpHi)) return vmFailValid(vmx, cpu, VmInstructionError.InvalidOperandToInveptInvvpid);
  invalidateAll(cpu);
  return vmSucceed(vmx, cpu);
}

/**
 * INVVPID's operation (SDM §30.3 "INVVPID"): a type not supported (IA32_VMX_EPT_VPID_CAP bits
 * 40-43: 0 individual-address, 1 single-context, 2 all-context, 3 single-context-retaining-
 * globals) VMfailValid(28); descriptor bits 63:16 not 0 VMfailValid(28) (`vpid` here is the
 * whole low dword and `vpidHi` the reserved bits 63:32); VPID 0 for types 0, 1, 3 VMfailValid(28);
 * type 0 with a non-canonical linear address VMfailValid(28); otherwise invalidation
 * (conservatively: everything) and VMsucceed.
 */
export function opInvvpid(vmx: VmxCpu, cpu: Cpu, type: number, vpid: number, addrLo: number, addrHi: number, typeHi = 0, vpidHi = 0): number {
  const fail = VmInstructionError.InvalidOperandToInveptInvvpid;
  if (typeHi !== 0 || type < 0 || type > 31 || (vmx.caps.invvpidTypes & (1 << type)) === 0) return vmFailValid(vmx, cpu, fail);
  if ((vpid & ~0xffff) !== 0 || vpidHi !== 0) return vmFailValid(vmx, cpu, fail);
  if (type !== 2 && vpid === 0) return vmFailValid(vmx, cpu, fail);
  if (type === 0) {
    const sign = addrHi >> (cpu.linearBits - 33);
    if (sign !== 0 && sign !== -1) return vmFailValid(vmx, cpu, fail);
  }
  invalidateAll(cpu);
  return vmSucceed(vmx, cpu);
}

/**
 * VMCALL in VMX root operation (SDM §30.3 "VMCALL"): without the dual-monitor treatment of SMIs
 * and SMM (IA32_SMM_MONITOR_CTL[0] = 0 on this processor), VMfail(1) "VMCALL executed in VMX
 * root operation".
 */
export function opVmcall(vmx: VmxCpu, cpu: Cpu): number {
  return vmFail(vmx, cpu, VmInstructionError.VmcallInVmxRoot);
}

// ---- the instructions -------------------------------------------------------------------------

/** IA32_EFER.LMA = 1 and CS.L = 0: compatibility mode. */
function compatMode(cpu: Cpu): boolean {
  return (cpu.efer & Efer.LMA) !== 0 && (cpu.segAttr[Seg.CS]! & SegAttr.L) === 0;
}

/** 64-bit mode (IA32_EFER.LMA = 1 and CS.L = 1): VMREAD/VMWRITE/INVEPT/INVVPID use 64-bit registers. */
function longMode(cpu: Cpu): boolean {
  return cpu.mode === CodeMode.Bits64;
}

/**
 * The #UD conditions shared by VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMLAUNCH, VMRESUME,
 * VMXOFF, INVEPT, INVVPID (SDM §30.3): not in VMX operation, CR0.PE = 0, RFLAGS.VM = 1, or
 * compatibility mode.
 */
function udChecks(vmx: VmxCpu, cpu: Cpu): void {
  if (!vmx.inVmx || (cpu.cr0 & Cr0.PE) === 0 || (cpu.flags & Flag.VM) !== 0 || compatMode(cpu)) cpu.ud();
}

/**
 * In VMX non-root operation: the instruction's VM exit (SDM §25.1.2 "Instructions That Cause VM
 * Exits Unconditionally"), with the displacement of a memory operand as the exit qualification
 * (§27.2.1 Table 27-1; 0 for a register operand). Returns true when it exited.
 */
function nonRootExit(vmx: VmxCpu, cpu: Cpu, d: number, reason: number, withDisp: boolean): boolean {
  if (!cpu.guestMode) return false;
  cpu.curRec = d;
  let q = 0;
  if (withDisp && insnIsMem(cpu, d)) q = insnDisplacement(cpu, d);
  exitForInstruction(vmx, cpu, reason, q, q < 0 ? -1 : 0);
  return true;
}

/** Reads the 64-bit memory operand of `d` (m64): the low half, the high half in `cpu.hi`. */
function readM64(cpu: Cpu, d: number): number {
  const lo = memAddr(cpu, d, 8, false);
  return cpu.rd64(lo, cpu.hi);
}

/** The 64-bit value (lo, hi) as a number; above 2^53 it is inexact, which only ever makes an invalid pointer. */
function toNumber(lo: number, hi: number): number {
  return (hi >>> 0) * 0x1_0000_0000 + (lo >>> 0);
}

/** 16-byte descriptor of INVEPT/INVVPID, read into `desc` as four dwords (after the core's checks). */
const desc = new Int32Array(4);

function readM128(cpu: Cpu, d: number): void {
  const lo = memAddr(cpu, d, 16, false);
  const hi = cpu.hi;
  desc[0] = cpu.rd64(lo, hi);
  desc[1] = cpu.hi;
  const next = (lo >>> 0) + 8;
  desc[2] = cpu.rd64(next | 0, next > 0xffff_ffff ? (hi + 1) | 0 : hi);
  desc[3] = cpu.hi;
}

function ptrArg(cpu: Cpu, d: number): number {
  const lo = readM64(cpu, d);
  return toNumber(lo, cpu.hi);
}

/**
 * Executes the VMX instruction `which` decoded at record `d` (SDM Vol. 3C §30.3): #UD checks,
 * VM exit in non-root operation, #GP(0) at CPL > 0, operand access, then the operation.
 */
export function executeVmx(vmx: VmxCpu, cpu: Cpu, which: x86.VirtInstruction, d: number): void {
  switch (which) {
    case VirtInstruction.Vmxon:
      execVmxon(vmx, cpu, d);
      return;
    case VirtInstruction.Vmxoff:
      udChecks(vmx, cpu);
      if (nonRootExit(vmx, cpu, d, VmxExitReason.Vmxoff, false)) return;
      if (cpu.cpl !== 0) cpu.gp(0);
      opVmxoff(vmx, cpu);
      return;
    case VirtInstruction.Vmclear:
    case VirtInstruction.Vmptrld: {
      const clear = which === VirtInstruction.Vmclear;
      if (!insnIsMem(cpu, d)) cpu.ud();
      udChecks(vmx, cpu);
      if (nonRootExit(vmx, cpu, d, clear ? VmxExitReason.Vmclear : VmxExitReason.Vmptrld, true)) return;
      if (cpu.cpl !== 0) cpu.gp(0);
      const ptr = ptrArg(cpu, d);
      if (clear) opVmclear(vmx, cpu, ptr);
      else opVmptrld(vmx, cpu, ptr);
      return;
    }
    case VirtInstruction.Vmptrst: {
      if (!insnIsMem(cpu, d)) cpu.ud();
      udChecks(vmx, cpu);
      if (nonRootExit(vmx, cpu, d, VmxExitReason.Vmptrst, true)) return;
      if (cpu.cpl !== 0) cpu.gp(0);
      const p = opVmptrst(vmx);
      const lo = memAddr(cpu, d, 8, true);
      if (p < 0) cpu.wr64(lo, cpu.hi, -1, -1);
      else cpu.wr64(lo, cpu.hi, p % 0x1_0000_0000 | 0, Math.floor(p / 0x1_0000_0000) | 0);
      vmSucceed(vmx, cpu);
      return;
    }
    case VirtInstruction.Vmread:
      execVmread(vmx, cpu, d);
      return;
    case VirtInstruction.Vmwrite:
      execVmwrite(vmx, cpu, d);
      return;
    case VirtInstruction.Vmlaunch:
    case VirtInstruction.Vmresume: {
      const launch = which === VirtInstruction.Vmlaunch;
      udChecks(vmx, cpu);
      if (nonRootExit(vmx, cpu, d, launch ? VmxExitReason.Vmlaunch : VmxExitReason.Vmresume, false)) return;
      if (cpu.cpl !== 0) cpu.gp(0);
      opVmlaunch(vmx, cpu, launch);
      return;
    }
    case VirtInstruction.Invept:
    case VirtInstruction.Invvpid:
      execInvalidate(vmx, cpu, d, which === VirtInstruction.Invept);
      return;
    case VirtInstruction.Vmcall:
      // SDM §30.3 "VMCALL": #UD outside VMX operation; in non-root operation a VM exit comes
      // before the RFLAGS.VM / compatibility-mode #UD and the CPL check.
      if (!vmx.inVmx) cpu.ud();
      if (nonRootExit(vmx, cpu, d, VmxExitReason.Vmcall, false)) return;
      if ((cpu.flags & Flag.VM) !== 0 || compatMode(cpu)) cpu.ud();
      if (cpu.cpl !== 0) cpu.gp(0);
      opVmcall(vmx, cpu);
      return;
    case VirtInstruction.Vmfunc:
      execVmfunc(vmx, cpu, d);
      return;
    default:
      cpu.ud();
  }
}

/**
 * VMXON (SDM §30.3 "VMXON"): #UD for a register operand, CR0.PE = 0, CR4.VMXE = 0, RFLAGS.VM = 1
 * or compatibility mode; in non-root operation a VM exit; outside VMX operation #GP(0) at CPL > 0,
 * in A20M mode, with CR0/CR4 values not supported in VMX operation (IA32_VMX_CR0/CR4_FIXED0/1),
 * with IA32_FEATURE_CONTROL unlocked or without "VMX outside SMX" (bit 2); in root operation
 * #GP(0) at CPL > 0, else VMfail(15) (the operand is not read).
 */
function execVmxon(vmx: VmxCpu, cpu: Cpu, d: number): void {
  if (!insnIsMem(cpu, d) || (cpu.cr0 & Cr0.PE) === 0 || (cpu.cr4 & Cr4.VMXE) === 0 || (cpu.flags & Flag.VM) !== 0 || compatMode(cpu)) cpu.ud();
  if (!vmx.inVmx) {
    const c = vmx.caps;
    if (cpu.cpl !== 0 || !cpu.a20) cpu.gp(0);
    if ((cpu.cr0 & c.cr0Fixed0) !== c.cr0Fixed0 || (cpu.cr0 & ~c.cr0Fixed1) !== 0) cpu.gp(0);
    if ((cpu.cr4 & c.cr4Fixed0) !== c.cr4Fixed0 || (cpu.cr4 & ~c.cr4Fixed1) !== 0) cpu.gp(0);
    const fc = cpu.featureControlLo;
    if ((fc & FC_LOCK) === 0 || (fc & FC_VMX_OUTSIDE_SMX) === 0) cpu.gp(0);
    opVmxon(vmx, cpu, ptrArg(cpu, d));
    return;
  }
  if (nonRootExit(vmx, cpu, d, VmxExitReason.Vmxon, true)) return;
  if (cpu.cpl !== 0) cpu.gp(0);
  vmFail(vmx, cpu, VmInstructionError.VmxonInVmxRoot);
}

/**
 * VMREAD r/m, r (SDM §30.3 "VMREAD"): the field encoding in the ModRM.reg register, the value to
 * the r/m operand; 64-bit operands in 64-bit mode, 32-bit otherwise (a 64-bit field's bits 63:32
 * are then not returned). The destination is written only on success.
 */
function execVmread(vmx: VmxCpu, cpu: Cpu, d: number): void {
  udChecks(vmx, cpu);
  // No VMCS shadowing: every VMREAD in non-root operation exits (§25.1.3).
  if (nonRootExit(vmx, cpu, d, VmxExitReason.Vmread, true)) return;
  if (cpu.cpl !== 0) cpu.gp(0);
  const wide = longMode(cpu);
  const r = insnRegField(cpu, d);
  const enc = cpu.gpr[r]!;
  const lo = opVmread(vmx, cpu, enc, wide ? cpu.gprHi[r]! : 0);
  if (vmx.outcome !== 0) return;
  const hi = wide ? vmx.readHi : 0;
  if (insnIsMem(cpu, d)) {
    const a = memAddr(cpu, d, wide ? 8 : 4, true);
    if (wide) cpu.wr64(a, cpu.hi, lo, hi);
    else cpu.wr32(a, cpu.hi, lo);
  } else {
    const rm = insnRmReg(cpu, d);
    cpu.gpr[rm] = lo;
    cpu.gprHi[rm] = hi;
  }
}

/**
 * VMWRITE r, r/m (SDM §30.3 "VMWRITE"): the field encoding in the ModRM.reg register, the value
 * from the r/m operand; 64-bit operands in 64-bit mode, 32-bit otherwise (zero-extended, so a
 * 64-bit or natural-width field gets bits 63:32 cleared, §24.11.2). The memory operand is read
 * before the checks of the operation.
 */
function execVmwrite(vmx: VmxCpu, cpu: Cpu, d: number): void {
  udChecks(vmx, cpu);
  if (nonRootExit(vmx, cpu, d, VmxExitReason.Vmwrite, true)) return;
  if (cpu.cpl !== 0) cpu.gp(0);
  const wide = longMode(cpu);
  let lo: number;
  let hi = 0;
  if (insnIsMem(cpu, d)) {
    const a = memAddr(cpu, d, wide ? 8 : 4, false);
    if (wide) {
      lo = cpu.rd64(a, cpu.hi);
      hi = cpu.hi;
    } else {
      lo = cpu.rd32(a, cpu.hi);
    }
  } else {
    const rm = insnRmReg(cpu, d);
    lo = cpu.gpr[rm]!;
    if (wide) hi = cpu.gprHi[rm]!;
  }
  const r = insnRegField(cpu, d);
  opVmwrite(vmx, cpu, cpu.gpr[r]!, lo, hi, wide ? cpu.gprHi[r]! : 0);
}

/**
 * INVEPT/INVVPID r, m128 (SDM §30.3): #UD for a register operand or when the processor has no
 * INVEPT/INVVPID; the type from the register (64-bit in 64-bit mode), the descriptor read from
 * memory before the type checks.
 */
function execInvalidate(vmx: VmxCpu, cpu: Cpu, d: number, ept: boolean): void {
  if (!insnIsMem(cpu, d)) cpu.ud();
  if ((ept ? vmx.caps.inveptTypes : vmx.caps.invvpidTypes) === 0) cpu.ud();
  udChecks(vmx, cpu);
  if (nonRootExit(vmx, cpu, d, ept ? VmxExitReason.Invept : VmxExitReason.Invvpid, true)) return;
  if (cpu.cpl !== 0) cpu.gp(0);
  const r = insnRegField(cpu, d);
  const type = cpu.gpr[r]!;
  const typeHi = longMode(cpu) ? cpu.gprHi[r]! : 0;
  readM128(cpu, d);
  if (ept) opInvept(vmx, cpu, type, desc[0]!, desc[1]!, typeHi);
  else opInvvpid(vmx, cpu, type, desc[0]!, desc[2]!, desc[3]!, typeHi, desc[1]!);
}

/**
 * VMFUNC (SDM §30.3 "VMFUNC", §25.5.6 "VM Functions"): #UD outside VMX non-root operation or
 * when "enable VM functions" is 0 (or the secondary controls are not active); EAX > 63 or a VM
 * function not enabled in the VM-function controls: VM exit 59; EPTP switching (function 0) with
 * index ECX through `eptpSwitch`, which answers false for an index >= 512 or an invalid EPTP in
 * the list: VM exit 59.
 */
function execVmfunc(vmx: VmxCpu, cpu: Cpu, d: number): void {
  if (!cpu.guestMode) cpu.ud();
  if ((vmx.proc & ProcCtl.ActivateSecondaryControls) === 0 || (vmx.proc2 & Proc2Ctl.EnableVmFunctions) === 0) cpu.ud();
  const fn = cpu.gpr[0]!;
  const cur = vmx.current!;
  const enabled = cur.get(VmcsField.VmFunctionControls);
  if (fn === 0 && (enabled & VmFuncCtl.EptpSwitching) !== 0 && eptpSwitch(vmx, cpu, cpu.gpr[1]!)) return;
  nonRootExit(vmx, cpu, d, VmxExitReason.Vmfunc, false);
}

/** Re-export for the core's MOV-to-CR path (wired by the lead): see caps.ts. */
export { crWriteAllowed } from './caps.js';
