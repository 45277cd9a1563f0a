/**
 * Installs every instruction group into the opcode maps. Handler ids 0 and 1 are fixed: #UD
 * for invalid or unimplemented encodings, #GP(0) for instructions longer than 15 bytes.
 */
import { HANDLERS, defineHandler } from '../optable.js';
import { Vector } from '../state.js';
import { installAlu } from './alu.js';
import { installFast } from './fast.js';
import { installControl } from './control.js';
import { installMov } from './mov.js';
import { installStack } from './stack.js';
import { installSystem } from './system.js';
import { installIo } from './io.js';
import { installShift } from './shift.js';

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
  installIo();
  installShift();
  installFast(HANDLERS);
}
