/**
 * Hardware virtualization on the boards: `virtualization: 'vmx'` plugs an `@hvkit/vmx`
 * {@link VmxCpu} into every core as its virtualization extension (the one interface through
 * which VT-x reaches the core, packages/x86/src/extension.ts), before the first instruction;
 * `virtualization: 'svm'` plugs an `@hvkit/svm` {@link SvmCpu} the same way (AMD64 APM Vol. 2
 * ch. 15 "Secure Virtual Machine"), on AMD models only.
 *
 * Firmware: when the board stands in for the BIOS it also does what firmware does on a machine
 * with VT-x on: IA32_FEATURE_CONTROL (MSR 3AH) locked with "enable VMX outside SMX operation"
 * set, i.e. 5 (SDM Vol. 3C §23.7 "Enabling and Entering VMX Operation"; Vol. 4 Table 2-2). With
 * a real BIOS the PC hands it the same value in fw_cfg `etc/msr_feature_control`, the file
 * SeaBIOS writes into the MSR of every core (as QEMU does for its VT-x CPUs). With SVM, firmware
 * leaves VM_CR at 0 (SVM neither disabled nor locked, APM §15.30.1), as the RESET value is.
 */
import type { PhysicalMemory } from '@hvkit/platform';
import { DEFAULT_SVM_FEATURES, SvmCpu, type DmaExclusion, type SvmFeatures } from '@hvkit/svm';
import { DEFAULT_VMX_FEATURES, VmxCpu, type VmxFeatures } from '@hvkit/vmx';
import { Efer, type Cpu, type CpuModel } from '@hvkit/x86';

/** The hardware-virtualization extension a board's cores get: Intel VT-x or AMD SVM. */
export type Virtualization = 'vmx' | 'svm';

/** IA32_FEATURE_CONTROL as firmware leaves it with VT-x on: lock (bit 0) | enable VMX outside SMX (bit 2). */
export const FEATURE_CONTROL_VMX_LOCKED = 0x5;

/** Checks a board's virtualization option against its CPU model; returns the message of a configuration error, or null. */
export function virtualizationProblem(kind: Virtualization | undefined, model: CpuModel): string | null {
  if (kind === undefined) return null;
  if (kind === 'svm') {
    if (model.vendor !== 'amd') {
      return `AMD SVM (virtualization: 'svm') needs an AMD CPU model; ${model.name} is ${model.vendorString}: SVM is an AMD extension (Intel's is VT-x, 'vmx')`;
    }
    return null;
  }
  if (kind !== 'vmx') return `unknown virtualization "${String(kind)}" (hvkit has: vmx, svm)`;
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

/**
 * Plugs a fresh {@link SvmCpu} into `cpu` (`cpu.ext = svm; svm.attach(cpu)`): a processor as
 * after RESET (APM Vol. 2 §15.4: EFER.SVME = 0, which the core's reset clears; VM_CR and
 * VM_HSAVE_PA 0; GIF = 1, §15.17). Its nested page walker reads and writes host physical memory,
 * the board's RAM and ROM. `dev` is where SKINIT asks for DMA protection of the secure loader
 * block (the board's Device Exclusion Vector, §15.24/§15.27.4), or null.
 */
export function attachSvm(cpu: Cpu, memory: PhysicalMemory, features: SvmFeatures = DEFAULT_SVM_FEATURES, dev: DmaExclusion | null = null): SvmCpu {
  const walkerMemory = {
    read32: (hpa: number): number => memory.read32(hpa as never),
    write32: (hpa: number, value: number): void => memory.write32(hpa as never, value),
  };
  const svm = new SvmCpu(features, walkerMemory);
  cpu.guestMode = false;
  cpu.gif = true;
  cpu.intrBlocked = false;
  cpu.ext = svm;
  svm.attach(cpu);
  svm.dev = dev;
  return svm;
}

/** The SVM MSRs a snapshot keeps for one core: VM_CR and VM_HSAVE_PA (APM Vol. 2 §15.30). */
export interface SvmMsrState {
  readonly vmCr: number;
  readonly hsavePa: number;
}

/**
 * Why a core's SVM state cannot be saved whole, or null. A snapshot keeps VM_CR and
 * VM_HSAVE_PA ({@link SvmMsrState}) but not the rest of the SVM state: a guest's context (the
 * VMCB contents the processor caches, the host state it saved at VMRUN), GIF, the ASID-tagged
 * TLBs and the clean-bit cache. So a core in guest mode, with GIF clear (after CLGI), or with
 * EFER.SVME set (a hypervisor may be about to VMRUN with state it cached) is refused.
 */
export function svmSnapshotProblem(cpu: Cpu, index: number): string | null {
  if (!(cpu.ext instanceof SvmCpu)) return null;
  if (cpu.guestMode) return `CPU ${index} is in SVM guest mode (a guest runs); the guest's state and the host save area contents cached by VMRUN are not saved in snapshots`;
  if (!cpu.gif) return `CPU ${index} has GIF clear (after CLGI); GIF is not saved in snapshots: STGI first`;
  if ((cpu.efer & Efer.SVME) !== 0) return `CPU ${index} has EFER.SVME set; the SVM state (ASID-tagged TLBs, VMCB clean-bit cache) is not saved in snapshots: clear EFER.SVME first`;
  return null;
}

/** VM_CR and VM_HSAVE_PA of a core with SVM, for a snapshot. */
export function saveSvmMsrs(cpu: Cpu): SvmMsrState | null {
  const ext = cpu.ext;
  return ext instanceof SvmCpu ? { vmCr: ext.vmCr, hsavePa: ext.hsavePa } : null;
}

/** Puts saved VM_CR and VM_HSAVE_PA back into a core's (fresh) {@link SvmCpu}. */
export function restoreSvmMsrs(cpu: Cpu, state: SvmMsrState): void {
  const ext = cpu.ext;
  if (!(ext instanceof SvmCpu)) return;
  ext.vmCr = state.vmCr;
  ext.hsavePa = state.hsavePa;
}
