/**
 * Hardware task switching (SDM Vol. 3 ch. 8): JMP/CALL to a TSS or task gate, IRET with NT,
 * and interrupts through task gates.
 */
import type { Cpu } from './cpu.js';
import { Vector } from './state.js';

export const TaskSwitchReason = {
  Call: 0,
  Iret: 1,
  Jmp: 2,
  /** Through a task gate in the IDT. */
  Gate: 3,
} as const;
export type TaskSwitchReason = (typeof TaskSwitchReason)[keyof typeof TaskSwitchReason];

/**
 * Switches to the task named by `selector` (a TSS descriptor, or a task gate's TSS selector).
 * `errorCode` >= 0 is pushed on the new task's stack (exceptions through task gates).
 *
 * Not implemented yet: raises #UD (listed in the issue notes).
 */
export function taskSwitch(cpu: Cpu, selector: number, reason: TaskSwitchReason, errorCode: number, ext: number): void {
  void selector;
  void reason;
  void errorCode;
  void ext;
  cpu.raise(Vector.UD);
}
