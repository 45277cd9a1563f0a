/**
 * SKINIT (APM Vol. 2 §15.27 "Security" / "Secure Startup with SKINIT"). STUB: owner "insn".
 */
import type { Cpu } from '@hvkit/x86';
import type { SvmCpu } from './svm.js';

export function opSkinit(svm: SvmCpu, cpu: Cpu, slb: number): void {
  void svm;
  void slb;
  cpu.ud();
}
