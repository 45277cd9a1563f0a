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
