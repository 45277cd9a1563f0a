/**
 * System instructions (a first set; see the issue notes for what is still missing):
 * HLT, CLI/STI, INT n/INT3/INTO, IRET in real mode.
 */
import type { Cpu } from '../cpu.js';
import { R_IMM, R_INFO } from '../decoded.js';
import { deliverEvent, EventKind } from '../interrupts.js';
import { defineHandler, OpMap, setOp } from '../optable.js';
import { Cr0, Flag, Seg, Vector } from '../state.js';
import { adjustSp, jumpTo, peek } from './operands.js';

function osz(cpu: Cpu, d: number): number {
  return (cpu.rec[d + R_INFO]! >>> 4) & 3;
}

/** HLT (F4): CPL 0 only (SDM Vol. 2 "HLT"). */
function hlt(cpu: Cpu): void {
  if (cpu.cpl !== 0) cpu.gp(0);
  if (cpu.guestMode && cpu.ext !== null && cpu.ext.intercept(cpu, 2, 0, 0)) return;
  cpu.halted = true;
  cpu.exitBlock = true;
}

function iopl(cpu: Cpu): number {
  return (cpu.flags >>> 12) & 3;
}

/** CLI (FA): #GP(0) when CPL > IOPL in protected mode (VME/PVI come later). */
function cli(cpu: Cpu): void {
  if ((cpu.cr0 & Cr0.PE) !== 0 && cpu.cpl > iopl(cpu)) cpu.gp(0);
  cpu.flags &= ~Flag.IF;
}

/** STI (FB): sets IF; the next instruction runs in an interrupt shadow (SDM Vol. 3 §6.8.3). */
function sti(cpu: Cpu): void {
  if ((cpu.cr0 & Cr0.PE) !== 0 && cpu.cpl > iopl(cpu)) cpu.gp(0);
  if ((cpu.flags & Flag.IF) === 0) cpu.interruptShadow = true;
  cpu.flags |= Flag.IF;
  cpu.exitBlock = true;
}

/** INT n (CD), INT3 (CC), INTO (CE): traps, the return address is the next instruction. */
function intN(cpu: Cpu, vector: number, kind: 3 | 4): void {
  cpu.ripLo = cpu.nipLo;
  cpu.ripHi = cpu.nipHi;
  deliverEvent(cpu, kind, vector, -1);
}

/** IRET in real mode (SDM Vol. 2 "IRET" real-address-mode operation). */
function iret(cpu: Cpu, d: number): void {
  if ((cpu.cr0 & Cr0.PE) !== 0) cpu.ud(); // protected-mode IRET: see the issue notes
  const o = osz(cpu, d);
  const size = o === 1 ? 2 : 4;
  const ip = peek(cpu, size, 0);
  const cs = peek(cpu, size, size) & 0xffff;
  const fl = peek(cpu, size, 2 * size);
  jumpTo(cpu, ip, 0, o);
  adjustSp(cpu, 3 * size);
  cpu.setSegmentRaw(Seg.CS, cs, cs << 4, cpu.segLimit[Seg.CS]!, cpu.segAttr[Seg.CS]!);
  const keep = size === 2 ? ~0xffff : Flag.VM | Flag.VIP | Flag.VIF;
  cpu.setEflags((cpu.getEflags() & keep) | (fl & ~keep));
  cpu.nmiBlocked = false;
  cpu.exitBlock = true;
  cpu.updateMode();
}

export function installSystem(): void {
  setOp(OpMap.One, 0xf4, defineHandler('hlt', hlt));
  setOp(OpMap.One, 0xfa, defineHandler('cli', cli));
  setOp(OpMap.One, 0xfb, defineHandler('sti', sti));
  setOp(OpMap.One, 0xcd, defineHandler('int n', (cpu, d) => intN(cpu, cpu.rec[d + R_IMM]! & 0xff, EventKind.Software)));
  setOp(OpMap.One, 0xcc, defineHandler('int3', (cpu) => intN(cpu, Vector.BP, EventKind.Software)));
  setOp(
    OpMap.One,
    0xce,
    defineHandler('into', (cpu) => {
      if ((cpu.fAux ^ (cpu.fAux << 1)) < 0) intN(cpu, Vector.OF, EventKind.Software);
    }),
  );
  setOp(OpMap.One, 0xf1, defineHandler('int1', (cpu) => intN(cpu, Vector.DB, EventKind.PrivilegedSoftware)));
  setOp(OpMap.One, 0xcf, defineHandler('iret', iret));
}
