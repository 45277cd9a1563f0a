/**
 * Installs every instruction group into the opcode maps. Handler ids 0 and 1 are fixed: #UD
 * for invalid or unimplemented encodings, #GP(0) for instructions longer than 15 bytes.
 */
import { HANDLERS, defineHandler } from '../optable.js';
import { Vector } from '../state.js';
import { installAlu } from './alu.js';
import { installFast } from './fast.js';
import { installLegacy } from './legacy.js';
import { installControl } from './control.js';
import { installMov } from './mov.js';
import { installStack } from './stack.js';
import { installSystem } from './system.js';
import { installFar } from './far.js';
import { installDebug } from './debug.js';
import { installIo } from './io.js';
import { installShift } from './shift.js';
import { installMulDiv } from './muldiv.js';
import { installBits } from './bits.js';
import { installBmi } from './bmi.js';
import { installAtomic } from './atomic.js';
import { installString } from './string.js';
import { installMiscUser } from './misc-user.js';
import { installBcd } from './bcd.js';
import { installSysreg } from './sysreg.js';
import { installMsr } from './msr.js';
import { installCpuid } from './cpuid.js';
import { installFastcall } from './fastcall.js';
import { installVirt } from './virt.js';
import { installX87 } from '../fpu/x87.js';
import { installSseFloat } from '../fpu/sse-float.js';
import { installSimdInt } from '../fpu/simd-int.js';
import { installSimdExt } from '../fpu/simd-ext.js';
import { installFpuState } from '../fpu/state-save.js';

let installed = false;

export function installAllOps(): void {
  // Specialized fast forms are installed last, over the generic handlers (see fast.ts).
  if (installed) return;
  installed = true;
  if (HANDLERS.length !== 0) throw new Error('handler table initialised twice');
  const ud = defineHandler('#UD', (cpu) => cpu.raise(Vector.UD));
  const tooLong = defineHandler('#GP(0): instruction too long', (cpu) => cpu.raise(Vector.GP, 0));
  if (ud !== 0 || tooLong !== 1) throw new Error('fixed handler ids moved');
  installAlu();
  installMov();
  installControl();
  installStack();
  installSystem();
  installFar();
  installDebug();
  installIo();
  installShift();
  installMulDiv();
  installBits();
  installBmi();
  installAtomic();
  installString();
  installMiscUser();
  installBcd();
  // System registers, MSRs, CPUID, fast system calls, VMX/SVM slots (after installMov: 63 = ARPL here).
  installSysreg();
  installMsr();
  installCpuid();
  installFastcall();
  installVirt();
  // x87, MMX, SSE..SSE4.2 and the state-management instructions (src/fpu/).
  installX87();
  installSimdInt();
  installSimdExt();
  installSseFloat();
  installFpuState();
  installLegacy();
  installFast(HANDLERS);
}
