/**
 * The SVM intercepts (APM Vol. 2 §15.7-§15.14). STUB: owner "intercept".
 */
import type { Cpu, Intercept } from '@hvkit/x86';
import type { SvmCpu } from './svm.js';

export function intercept(svm: SvmCpu, cpu: Cpu, what: Intercept, info: number, info2: number): boolean {
  void svm;
  void cpu;
  void what;
  void info;
  void info2;
  return false;
}

/**
 * #VMEXIT for an intercepted instruction: nRIP = the next instruction (`cpu.nipLo/Hi`), RIP stays
 * at the instruction, decode-assist bytes where the intercept defines them.
 */
export function exitForInstruction(svm: SvmCpu, cpu: Cpu, code: number, info1Lo: number, info1Hi: number, info2Lo: number, info2Hi: number): boolean {
  void svm;
  void cpu;
  void code;
  void info1Lo;
  void info1Hi;
  void info2Lo;
  void info2Hi;
  return false;
}
