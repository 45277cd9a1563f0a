/**
 * Instructions that exist only when the CPU model reports their CPUID feature bit (SDM Vol. 2,
 * each instruction's "CPUID Feature Flag" column and its #UD conditions). A model with a bit
 * removed (the CLI's `-cpu MODEL,-feat`) raises #UD for them, or, where the encoding meant
 * another instruction before the feature existed, runs that one (F3 0F BC/BD without BMI1/LZCNT
 * are BSF/BSR with an ignored prefix).
 */
import type { Handler } from '../optable.js';

/** The CPUID words a feature bit lives in. */
export type FeatureWord = 'leaf1Ecx' | 'leaf1Edx' | 'leaf7Ebx' | 'leaf7Ecx' | 'ext1Ecx' | 'ext1Edx';

/** `fn`, preceded by #UD when the model lacks the feature. */
export function gated(word: FeatureWord, bit: number, fn: Handler): Handler {
  return (cpu, d) => {
    if ((cpu.model[word] & bit) === 0) cpu.ud();
    fn(cpu, d);
  };
}

/** `fn` when the model has the feature, else `legacy` (the encoding's older meaning). */
export function orLegacy(word: FeatureWord, bit: number, fn: Handler, legacy: Handler): Handler {
  return (cpu, d) => {
    if ((cpu.model[word] & bit) === 0) legacy(cpu, d);
    else fn(cpu, d);
  };
}
