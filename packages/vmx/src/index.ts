/**
 * `@hvkit/vmx`: Intel VT-x for the hvkit x86 core. VMXON, the VMCS, VM entry and VM exit
 * arrive with their issue; the VMCS field-encoding rules are here now.
 */
export {
  isHighAccess,
  isWellFormedVmcsEncoding,
  vmcsFieldIndex,
  vmcsFieldType,
  vmcsFieldWidth,
  VmcsField,
  VmcsFieldType,
  VmcsFieldWidth,
} from './vmcs-encoding.js';
