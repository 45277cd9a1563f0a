/**
 * Hardware virtualization on the boards: `virtualization: 'vmx'` plugs an `@hvkit/vmx`
 * {@link VmxCpu} into every core as its virtualization extension (the one interface through
 * which VT-x reaches the core, packages/x86/src/extension.ts), before the first instruction.
 * AMD SVM (`'svm'`) is not implemented yet.
 *
 * Firmware: when the board stands in for the BIOS it also does what firmware does on a machine
 * with VT-x on: IA32_FEATURE_CONTROL (MSR 3AH) locked with "enable VMX outside SMX operation"
 * set, i.e. 5 (SDM Vol. 3C §23.7 "Enabling and Entering VMX Operation"; Vol. 4 Table 2-2). With
 * a real BIOS the PC hands it the same value in fw_cfg `etc/msr_feature_control`, the file
 * SeaBIOS writes into the MSR of every core (as QEMU does for its VT-x CPUs).
 */
import type { PhysicalMemory } from '@hvkit/platform';
import { DEFAULT_VMX_FEATURES, VmxCpu, type VmxFeatures } from '@hvkit/vmx';
import type { Cpu, CpuModel } from '@hvkit/x86';

/** The hardware-virtualization extension a board's cores get: Intel VT-x or AMD SVM. */
export type Virtualization = 'vmx' | 'svm';

/** IA32_FEATURE_CONTROL as firmware leaves it with VT-x on: lock (bit 0) | enable VMX outside SMX (bit 2). */
export const FEATURE_CONTROL_VMX_LOCKED = 0x5;

/** Checks a board's virtualization option against its CPU model; returns the message of a configuration error, or null. */
export function virtualizationProblem(kind: Virtualization | undefined, model: CpuModel): string | null {
  if (kind === undefined) return null;
  if (kind === 'svm') return 'SVM is not implemented yet';
  if (kind !== 'vmx') return `unknown virtualization "${String(kind)}" (hvkit has: vmx)`;
  if (model.vendor !== 'intel') {
    return `VT-x (virtualization: 'vmx') needs an Intel CPU model; ${model.name} is ${model.vendorString}: VMX is an Intel extension (AMD's is SVM)`;
  }
  return null;
}

/**
 * Plugs a fresh {@link VmxCpu} into `cpu` (`cpu.ext = vmx; vmx.attach(cpu)`): a processor out
 * of VMX operation, as after RESET (SDM Vol. 3C §23.7: VMX operation is entered only by
 * VMXON). Its EPT walker reads and writes host physical memory, the board's RAM and ROM.
 */
export function attachVmx(cpu: Cpu, memory: PhysicalMemory, features: VmxFeatures = DEFAULT_VMX_FEATURES): VmxCpu {
  const walkerMemory = {
    read32: (hpa: number): number => memory.read32(hpa as never),
    write32: (hpa: number, value: number): void => memory.write32(hpa as never, value),
  };
  const vmx = new VmxCpu(features, walkerMemory);
  cpu.guestMode = false;
  cpu.ext = vmx;
  vmx.attach(cpu);
  return vmx;
}

/**
 * Why a core's state cannot be saved whole, or null. The VMX state (VMXON region, the current
 * VMCS and the VMCS data cached in the processor, launch states) is not part of a CPU snapshot,
 * so a core in VMX operation, or one still caching a VMCS after VMXOFF, cannot be saved.
 */
export function vmxSnapshotProblem(cpu: Cpu, index: number): string | null {
  const ext = cpu.ext;
  if (!(ext instanceof VmxCpu)) return null;
  if (cpu.guestMode) return `CPU ${index} is in VMX non-root operation (a guest runs); the VMX state is not saved in snapshots`;
  if (ext.inVmx) return `CPU ${index} is in VMX operation (after VMXON); the VMX state is not saved in snapshots: VMXOFF first`;
  if (ext.active.size > 0) return `CPU ${index} still caches ${ext.active.size} active VMCS(s); VMCLEAR them before saving`;
  return null;
}
