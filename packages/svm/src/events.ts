/**
 * Guest-mode interrupt state at instruction boundaries (APM Vol. 2 §15.17 GIF, §15.21 V_IRQ,
 * V_TPR, V_INTR_MASKING, §15.21.5 vNMI, §15.33 vGIF). STUB: owner "exit".
 */
import type { Cpu } from '@hvkit/x86';
import type { SvmCpu } from './svm.js';

/** The core's boundary hook in guest mode. Returns true when it performed a #VMEXIT. */
export function boundary(svm: SvmCpu, cpu: Cpu): boolean {
  void svm;
  void cpu;
  return false;
}

/**
 * After VMRUN loaded the guest (vmrun.ts calls it, before event injection): sets the core's
 * generic hooks from the cached controls (`intrIgnoresIf`, `intrBlocked`, TSC offset,
 * `extBoundary` for pending virtual interrupts, `cpu.gif` = 1, ...).
 */
export function guestEnter(svm: SvmCpu, cpu: Cpu): void {
  void svm;
  void cpu;
}

/** At #VMEXIT (vmexit.ts calls it before loading host state): writes V_TPR/V_IRQ/... back, resets the core hooks. */
export function guestLeave(svm: SvmCpu, cpu: Cpu): void {
  void svm;
  void cpu;
}
