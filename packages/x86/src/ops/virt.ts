/**
 * The VMX and SVM instruction slots (SDM Vol. 3 ch. 31 "VMX instruction reference"; AMD APM
 * Vol. 3 ch. 4). The core executes none of them: each is #UD unless a virtualization extension
 * of the right kind is plugged in, which then gets the decoded record through
 * `cpu.ext.execute(cpu, VirtInstruction.X, d)` and does all the checks (mode, CPL, operands).
 *
 * Encodings:
 * - VMX: VMXON F3 0F C7 /6 m64, VMCLEAR 66 0F C7 /6 m64, VMPTRLD 0F C7 /6 m64, VMPTRST 0F C7 /7
 *   m64, VMREAD 0F 78, VMWRITE 0F 79, VMCALL 0F 01 C1, VMLAUNCH C2, VMRESUME C3, VMXOFF C4,
 *   VMFUNC 0F 01 D4, INVEPT 66 0F 38 80, INVVPID 66 0F 38 81.
 * - SVM: 0F 01 D8-DF = VMRUN, VMMCALL, VMLOAD, VMSAVE, STGI, CLGI, SKINIT, INVLPGA.
 *
 * 0F C7 /6 and /7 are shared with RDRAND, RDSEED and RDPID (register forms, other owners): the
 * memory forms are selected here; a register form that lands in a prefix-selected slot of this
 * file is handed to whatever the opcode table holds for it without that slot.
 */
import type { Cpu } from '../cpu.js';
import { I_MEM, I_REP, I_REPNE, R_INFO } from '../decoded.js';
import { VirtInstruction } from '../extension.js';
import { defineHandler, HANDLERS, OpMap, Pfx, setOp, SLOTS, type OpSlot } from '../optable.js';

function run(cpu: Cpu, d: number, kind: 'vmx' | 'svm', which: VirtInstruction): void {
  const ext = cpu.ext;
  if (ext === null || ext.kind !== kind) cpu.ud();
  cpu.curRec = d;
  ext.execute(cpu, which, d);
  // The extension may have changed anything (VM entry sets extBoundary, say): re-evaluate.
  cpu.exitBlock = true;
}

/**
 * VMREAD and VMWRITE: in VMX root operation they change only a register or memory operand and
 * RFLAGS (SDM Vol. 3C §30.3 "VMREAD", "VMWRITE"), nothing the block loop depends on, so the block goes on (a host's
 * exit handler runs several of them per VM exit); in non-root operation they VM-exit, and the
 * exit's `contextChanged` sets `exitBlock` itself.
 */
function runAccess(cpu: Cpu, d: number, which: VirtInstruction): void {
  const ext = cpu.ext;
  if (ext === null || ext.kind !== 'vmx') cpu.ud();
  cpu.curRec = d;
  ext.execute(cpu, which, d);
}

function isMem(cpu: Cpu, d: number): boolean {
  return (cpu.rec[d + R_INFO]! & I_MEM) !== 0;
}

/** The handler `slot` resolves to for this ModRM byte when the prefix+reg selection is ignored. */
function resolveWithoutPrefixReg(s: OpSlot, modrm: number): number {
  const mod3 = modrm >= 0xc0;
  const reg = (modrm >> 3) & 7;
  let id = -1;
  if (mod3 && s.byRm !== null) id = s.byRm[modrm & 0x3f]!;
  if (id < 0 && mod3 && s.byRegMod3 !== null) id = s.byRegMod3[reg]!;
  if (id < 0 && !mod3 && s.byRegMem !== null) id = s.byRegMem[reg]!;
  if (id < 0 && s.byReg !== null) id = s.byReg[reg]!;
  return id < 0 ? s.op : id;
}

/** Runs the instruction another group installed for this encoding (register forms of 0F C7). */
function delegate(cpu: Cpu, d: number): void {
  const id = resolveWithoutPrefixReg(SLOTS[OpMap.Two]![0xc7]!, cpu.rec[d + R_INFO]! >>> 24);
  HANDLERS[id]!(cpu, d);
}

/** 0F C7 /6 memory form without a prefix (or F2): VMPTRLD. */
function c7r6(cpu: Cpu, d: number): void {
  if ((cpu.rec[d + R_INFO]! & I_REPNE) !== 0) cpu.ud();
  run(cpu, d, 'vmx', VirtInstruction.Vmptrld);
}

/** 66 0F C7 /6: VMCLEAR (memory), RDRAND r16 (register, elsewhere). */
function c7r6p66(cpu: Cpu, d: number): void {
  if (!isMem(cpu, d)) delegate(cpu, d);
  else run(cpu, d, 'vmx', VirtInstruction.Vmclear);
}

/** F3 0F C7 /6: VMXON (memory). */
function c7r6f3(cpu: Cpu, d: number): void {
  if (!isMem(cpu, d)) delegate(cpu, d);
  else run(cpu, d, 'vmx', VirtInstruction.Vmxon);
}

/** 0F C7 /7 memory form: VMPTRST (no mandatory prefix). */
function c7r7(cpu: Cpu, d: number): void {
  if ((cpu.rec[d + R_INFO]! & (I_REP | I_REPNE)) !== 0) cpu.ud();
  run(cpu, d, 'vmx', VirtInstruction.Vmptrst);
}

/** 66 0F C7 /7: nothing in memory form; RDSEED r16 in register form (elsewhere). */
function c7r7p66(cpu: Cpu, d: number): void {
  if (!isMem(cpu, d)) delegate(cpu, d);
  else cpu.ud();
}

export function installVirt(): void {
  const T = OpMap.Two;
  setOp(T, 0xc7, defineHandler('vmptrld', c7r6), { reg: 6, mod3: false });
  setOp(T, 0xc7, defineHandler('vmclear', c7r6p66), { prefix: Pfx.P66, reg: 6 });
  setOp(T, 0xc7, defineHandler('vmxon', c7r6f3), { prefix: Pfx.F3, reg: 6 });
  setOp(T, 0xc7, defineHandler('vmptrst', c7r7), { reg: 7, mod3: false });
  setOp(T, 0xc7, defineHandler('66 0f c7 /7', c7r7p66), { prefix: Pfx.P66, reg: 7 });
  setOp(T, 0x78, defineHandler('vmread', (cpu, d) => runAccess(cpu, d, VirtInstruction.Vmread)), { prefix: Pfx.None });
  setOp(T, 0x79, defineHandler('vmwrite', (cpu, d) => runAccess(cpu, d, VirtInstruction.Vmwrite)), { prefix: Pfx.None });
  const vmxRm: readonly (readonly [number, number, VirtInstruction, string])[] = [
    [0, 1, VirtInstruction.Vmcall, 'vmcall'],
    [0, 2, VirtInstruction.Vmlaunch, 'vmlaunch'],
    [0, 3, VirtInstruction.Vmresume, 'vmresume'],
    [0, 4, VirtInstruction.Vmxoff, 'vmxoff'],
    [2, 4, VirtInstruction.Vmfunc, 'vmfunc'],
  ];
  for (const [reg, rm, which, name] of vmxRm) {
    setOp(T, 0x01, defineHandler(name, (cpu, d) => run(cpu, d, 'vmx', which)), { reg, mod3: true, rm });
  }
  setOp(OpMap.Three38, 0x80, defineHandler('invept', (cpu, d) => run(cpu, d, 'vmx', VirtInstruction.Invept)), { prefix: Pfx.P66 });
  setOp(OpMap.Three38, 0x81, defineHandler('invvpid', (cpu, d) => run(cpu, d, 'vmx', VirtInstruction.Invvpid)), { prefix: Pfx.P66 });
  const svm: readonly (readonly [VirtInstruction, string])[] = [
    [VirtInstruction.Vmrun, 'vmrun'],
    [VirtInstruction.Vmmcall, 'vmmcall'],
    [VirtInstruction.Vmload, 'vmload'],
    [VirtInstruction.Vmsave, 'vmsave'],
    [VirtInstruction.Stgi, 'stgi'],
    [VirtInstruction.Clgi, 'clgi'],
    [VirtInstruction.Skinit, 'skinit'],
    [VirtInstruction.Invlpga, 'invlpga'],
  ];
  for (let rm = 0; rm < 8; rm++) {
    const [which, name] = svm[rm]!;
    setOp(T, 0x01, defineHandler(name, (cpu, d) => run(cpu, d, 'svm', which)), { reg: 3, mod3: true, rm });
  }
}
