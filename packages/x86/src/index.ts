/**
 * `@hvkit/x86`: the x86-64 CPU core (decoder, interpreter, modes, exceptions, MSRs, CPUID) and
 * the virtualization extension interface that `@hvkit/vmx` and `@hvkit/svm` implement.
 */
export { Cpu, StopReason, type CpuOptions, type InterruptController } from './cpu.js';
export { Decoder, decodeBytes, OP_UD, OP_TOO_LONG } from './decoder.js';
export { HANDLER_NAMES } from './optable.js';
export { CodeMode, Cr0, Cr4, Efer, Flag, Reg, Seg, SegAttr, Vector, hasErrorCode } from './state.js';
export { AMD_ZEN, INTEL_CORE, signature, type CpuModel, type Vendor } from './model.js';
export { Intercept, VirtInstruction, type VirtualizationExtension } from './extension.js';
export { CPU_FAULT, CPU_SHUTDOWN, CPU_VMEXIT, CpuConfigurationError } from './fault.js';
export { arithFlags, condition } from './flags.js';
export {
  CPU_SNAPSHOT_VERSION,
  CpuSnapshotError,
  restoreCpuState,
  saveCpuState,
  type CpuSegmentState,
  type CpuSnapshot,
  type CpuSnapshotState,
  type CpuTableRegisterState,
} from './snapshot.js';
export { EventKind } from './interrupts.js';
export {
  insnAddrSize,
  insnBaseReg,
  insnDisplacement,
  insnIndexReg,
  insnIsMem,
  insnLength,
  insnOpSize,
  insnRegField,
  insnRipRelative,
  insnRmReg,
  insnScale,
  insnSegment,
  memOperandLinear,
  vmxInstructionInfo,
} from './insn-info.js';
// For virtualization extensions (@hvkit/vmx): operand checks and translation of a memory
// operand, the arithmetic-flag setter (VMsucceed/VMfail conventions), the CR4 bits the core accepts.
export { memAddr } from './ops/operands.js';
export { setArithFlags } from './flags.js';
export { cr4ValidMask } from './ops/sysreg.js';
// MSR access as RDMSR/WRMSR at CPL 0 perform it (VMX MSR-load/store lists, SDM Vol. 3 §26.4, §27.4).
export { readMsr, writeMsr } from './ops/msr.js';
