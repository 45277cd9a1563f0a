/**
 * `@hvkit/vmx`: Intel VT-x for the hvkit x86 core. Plug a {@link VmxCpu} into each `Cpu` as its
 * virtualization extension (`cpu.ext = vmx; vmx.attach(cpu)`), or let `@hvkit/machine` do it.
 */
export {
  isHighAccess,
  isWellFormedVmcsEncoding,
  vmcsFieldIndex,
  vmcsFieldType,
  vmcsFieldWidth,
  VmcsFieldType,
  VmcsFieldWidth,
} from './vmcs-encoding.js';
export { SLOT_ENCODING, slotOf, Vmcs, VMCS_DATA_OFFSET, VMCS_LAUNCH_OFFSET, VMCS_MAX_INDEX, VMCS_SLOT, VMCS_SLOTS, VmcsField } from './fields.js';
export {
  ActivityState,
  EntryCtl,
  EXIT_REASON_ENTRY_FAILURE,
  ExitCtl,
  FeatureControl,
  Interruptibility,
  InterruptionType,
  PinCtl,
  Proc2Ctl,
  ProcCtl,
  VmFuncCtl,
  VmInstructionError,
  VmxExitReason,
  VmxMsr,
} from './constants.js';
export { DEFAULT_VMX_FEATURES, VmxCaps, type VmxFeatures } from './caps.js';
export { NO_VMCS, VmxCpu } from './vmx.js';
export { VMCS_ABORT_OFFSET, VmxAbortIndicator } from './exit.js';
export { ApicAccessType } from './ept.js';
export {
  assertSucceeded,
  describeFailure,
  HostArea,
  HostSelector,
  VmxHost,
  VmxInstructionFailure,
  type Guest64State,
  type VmFailInvalid,
  type VmFailValid,
  type VmSucceed,
  type VmxAbort,
  type VmxControls,
  type VmxExit,
  type VmxFailure,
  type VmxFault,
  type VmxHostOptions,
  type VmxNoExit,
  type VmxRunResult,
  type VmxStatus,
} from './api.edge.js';
