import { type Hpa, type Port } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { createPc } from './pc.js';

const debugExit = [{ type: 'isa-debug-exit' as const, iobase: 0xf4, iosize: 4 }];

/** Reads the slave 8259A's IRR (OCW3 "read IRR", 8259A data sheet). */
function slaveIrr(pc: ReturnType<typeof createPc>): number {
  pc.io.write(0xa0 as Port, 1, 0x0a);
  return pc.io.read(0xa0 as Port, 1);
}

/** Both 8259As initialized: vectors 20H/28H, edge-triggered, everything masked but IRQ2 and IRQ13. */
function initPics(pc: ReturnType<typeof createPc>): void {
  const w = (port: number, v: number): void => pc.io.write(port as Port, 1, v);
  w(0x20, 0x11);
  w(0x21, 0x20);
  w(0x21, 0x04);
  w(0x21, 0x01);
  w(0xa0, 0x11);
  w(0xa1, 0x28);
  w(0xa1, 0x02);
  w(0xa1, 0x01);
  w(0x21, 0xfb);
  w(0xa1, 0xdf);
}

describe('FERR# -> IRQ13, cleared through port 0F0H', () => {
  it('a FERR# rising edge latches IRQ13; a write to 0F0H clears it; only a new edge sets it again', () => {
    const pc = createPc();
    initPics(pc);
    const ferr = pc.cpu.onFerr!;
    expect(pc.fpuError.asserted).toBe(false);
    ferr(true);
    expect(pc.fpuError.asserted).toBe(true);
    expect(slaveIrr(pc) & (1 << 5)).not.toBe(0);
    pc.io.write(0xf0 as Port, 1, 0);
    expect(pc.fpuError.asserted).toBe(false);
    ferr(true); // still asserted: no edge
    expect(pc.fpuError.asserted).toBe(false);
    ferr(false);
    ferr(true);
    expect(pc.fpuError.asserted).toBe(true);
    expect(pc.io.read(0xf0 as Port, 1)).toBe(0xff);
    const snap = pc.saveState();
    pc.io.write(0xf0 as Port, 1, 0);
    pc.restoreState(snap);
    expect(pc.fpuError.asserted).toBe(true);
  });

  it('a guest with CR0.NE = 0 takes IRQ13 for an unmasked x87 exception, twice', () => {
    const pc = createPc({ devices: debugExit });
    // prettier-ignore
    const code = [
      0xbc, 0x00, 0x70, 0x00, 0x00,       // mov esp, 0x7000
      0xdb, 0xe3,                         // fninit
      0xd9, 0x2d, 0x04, 0x60, 0x00, 0x00, // fldcw [0x6004]  (ZE unmasked)
      0xd9, 0xee,                         // fldz
      0xd9, 0xe8,                         // fld1
      0xd8, 0xf1,                         // fdiv st0, st1: zero divide, pending
      0xfb,                               // sti
      0x9b,                               // fwait: FERR# -> IRQ13
      0x90,                               // nop
      0xd8, 0xf1,                         // fdiv st0, st1 again
      0x9b,                               // fwait: FERR# again
      0x90,                               // nop
      0xa0, 0x00, 0x60, 0x00, 0x00,       // mov al, [0x6000]
      0xe6, 0xf4,                         // out 0xf4, al
      0xf4,                               // hlt
    ];
    // prettier-ignore
    const handler = [
      0xdb, 0xe2,                         // fnclex (FERR# deasserts)
      0xe6, 0xf0,                         // out 0xf0, al (IRQ13 latch clear)
      0xb0, 0x20,                         // mov al, 0x20
      0xe6, 0xa0,                         // out 0xa0, al (EOI)
      0xe6, 0x20,                         // out 0x20, al
      0xfe, 0x05, 0x00, 0x60, 0x00, 0x00, // inc byte [0x6000]
      0xcf,                               // iret
    ];
    const base = 0x10_0000;
    pc.bootFlat(Uint8Array.from([...code, ...handler]), base);
    initPics(pc);
    const isr = base + code.length;
    // GDT at 0x9000 (null, flat code 08H, flat data 10H); IDT at 0x8000 with vector 2DH (IRQ13).
    pc.memory.write(0x9000 as Hpa, Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0, 0xff, 0xff, 0, 0, 0, 0x93, 0xcf, 0]));
    const gate = [isr & 0xff, (isr >> 8) & 0xff, 0x08, 0x00, 0x00, 0x8e, (isr >> 16) & 0xff, (isr >> 24) & 0xff];
    pc.memory.write((0x8000 + 0x2d * 8) as Hpa, Uint8Array.from(gate));
    pc.memory.write(0x6000 as Hpa, Uint8Array.from([0, 0, 0, 0, 0x7b, 0x03]));
    const cpu = pc.cpu;
    cpu.gdtrBaseLo = 0x9000;
    cpu.gdtrLimit = 0x17;
    cpu.idtrBaseLo = 0x8000;
    cpu.idtrLimit = 0x7ff;
    expect(cpu.cr0 & 0x20).toBe(0); // CR0.NE = 0: FERR#, not #MF
    const stop = pc.run(10_000);
    // isa-debug-exit: status (2 << 1) | 1 once the handler ran twice.
    expect(stop).toMatchObject({ reason: 'exit', status: 5 });
    expect(pc.fpuError.asserted).toBe(false);
  });
});
