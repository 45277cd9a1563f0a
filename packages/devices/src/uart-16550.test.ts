import { Chipset, InterruptLine, IrqLevels, PioBus } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { Uart16550, type Uart16550Options } from './index.js';

const BASE = 0x3f8;
const [RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR] = [0, 1, 2, 3, 4, 5, 6, 7].map((o) => BASE + o) as [number, number, number, number, number, number, number, number];
const FCR = IIR;
const THR = RBR;

/** A COM1 on a fresh bus, with its output and IRQ 4 recorded. */
function com1(options: Uart16550Options = {}) {
  const pio = new PioBus();
  const pic = new IrqLevels();
  const out: number[] = [];
  const uart = new Chipset({ pio }).add(new Uart16550({ irqSink: pic, onOutput: (b) => out.push(b), ...options }));
  const inb = (port: number) => pio.read(port, 1);
  const outb = (port: number, value: number) => pio.write(port, 1, value);
  return { pio, pic, out, uart, inb, outb, irq: () => pic.level(4) };
}

describe('Uart16550 registers', () => {
  it('claims the 8 COM1 ports 0x3F8-0x3FF and IRQ 4 by default', () => {
    const { pio, uart } = com1();
    expect(pio.find(0x3f7)).toBeUndefined();
    expect(pio.find(0x3f8)?.name).toBe('uart16550');
    expect(pio.find(0x3ff)?.name).toBe('uart16550');
    expect(pio.find(0x400)).toBeUndefined();
    expect(uart.irqNumber).toBe(4);
    const com2 = new Uart16550({ ...Uart16550.COM2, name: 'com2' });
    expect(com2.pioRanges).toEqual([{ base: 0x2f8, length: 8 }]);
    expect(com2.irqNumber).toBe(3);
  });

  it('powers up with the reset values of the UART Reset Configuration table', () => {
    const { inb } = com1();
    expect(inb(IER)).toBe(0x00);
    expect(inb(IIR)).toBe(0x01);
    expect(inb(LCR)).toBe(0x00);
    expect(inb(MCR)).toBe(0x00);
    expect(inb(LSR)).toBe(0x60); // THRE | TEMT
    expect(inb(MSR)).toBe(0xb0); // DCD | DSR | CTS from the attached terminal, no deltas
  });

  it('keeps the scratch register (SCR) as written', () => {
    const { inb, outb } = com1();
    outb(SCR, 0x5a);
    expect(inb(SCR)).toBe(0x5a);
    outb(SCR, 0xa5);
    expect(inb(SCR)).toBe(0xa5);
  });

  it('keeps all 8 LCR bits', () => {
    const { inb, outb } = com1();
    outb(LCR, 0x7f);
    expect(inb(LCR)).toBe(0x7f);
    outb(LCR, 0x03);
    expect(inb(LCR)).toBe(0x03);
  });

  it('reads IER bits 4-7 and MCR bits 5-7 as zero', () => {
    const { inb, outb } = com1();
    outb(IER, 0xf0);
    expect(inb(IER)).toBe(0x00);
    outb(IER, 0xff);
    expect(inb(IER)).toBe(0x0f);
    outb(MCR, 0xef);
    expect(inb(MCR)).toBe(0x0f);
  });

  it('maps DLL/DLM over RBR/THR and IER while DLAB (LCR bit 7) is set', () => {
    const { inb, outb, out, uart } = com1();
    outb(IER, 0x05);
    outb(LCR, 0x83);
    outb(RBR, 0x01);
    outb(IER, 0x00);
    expect(inb(RBR)).toBe(0x01);
    expect(inb(IER)).toBe(0x00);
    expect(uart.baudRate).toBe(115200);
    outb(RBR, 0x0c);
    expect(uart.baudRate).toBe(9600);
    outb(IER, 0x01);
    expect(uart.baudRate).toBe(115200 / 0x10c);
    expect(out).toEqual([]); // divisor writes transmit nothing
    outb(LCR, 0x03);
    expect(inb(IER)).toBe(0x05); // IER was untouched by the DLM writes
    outb(THR, 0x41);
    expect(out).toEqual([0x41]);
    outb(LCR, 0x83);
    expect(inb(RBR)).toBe(0x0c);
    expect(inb(IER)).toBe(0x01);
  });

  it('ignores writes to the LSR and MSR', () => {
    const { inb, outb } = com1();
    outb(LSR, 0x1f);
    outb(MSR, 0x0f);
    expect(inb(LSR)).toBe(0x60);
    expect(inb(MSR)).toBe(0xb0);
  });

  it('splits a wide access into byte cycles on consecutive ports, all ones past the last', () => {
    const { pio, inb } = com1();
    pio.write(LCR, 2, 0x0b03); // LCR = 0x03, MCR = 0x0B
    expect(inb(LCR)).toBe(0x03);
    expect(inb(MCR)).toBe(0x0b);
    expect(pio.read(MCR, 2)).toBe(0x600b); // MCR, then LSR
    expect(pio.read(SCR, 2)).toBe(0xff00); // SCR = 0, then a port past the UART
    expect(pio.read(MSR, 4)).toBe(0xffff_00b0);
  });
});

describe('Uart16550 transmitter', () => {
  it('sends THR writes to the output sink, with THRE and TEMT set again at once', () => {
    const { inb, outb, out } = com1();
    outb(LCR, 0x03);
    for (const c of 'ok\n') outb(THR, c.charCodeAt(0));
    expect(String.fromCharCode(...out)).toBe('ok\n');
    expect(inb(LSR) & 0x60).toBe(0x60);
  });

  it('sends only the word length LCR selects (5 bits after reset)', () => {
    const { outb, out } = com1();
    outb(THR, 0xff); // LCR = 0: 5-bit characters
    outb(LCR, 0x01);
    outb(THR, 0xff); // 6 bits
    outb(LCR, 0x02);
    outb(THR, 0xff); // 7 bits
    outb(LCR, 0x03);
    outb(THR, 0xff); // 8 bits
    expect(out).toEqual([0x1f, 0x3f, 0x7f, 0xff]);
  });

  it('raises the THRE interrupt when ETBEI is enabled while the THR is empty', () => {
    const { inb, outb, irq } = com1();
    outb(MCR, 0x08); // OUT2: let the interrupt reach the PIC
    expect(irq()).toBe(false);
    outb(IER, 0x02);
    expect(irq()).toBe(true);
    expect(inb(IIR)).toBe(0x02);
  });

  it('clears the THRE interrupt by reading the IIR, and raises it again on the next THR write', () => {
    const { inb, outb, irq, pic } = com1();
    outb(LCR, 0x03);
    outb(MCR, 0x08);
    outb(IER, 0x02);
    expect(inb(IIR)).toBe(0x02);
    expect(irq()).toBe(false);
    expect(inb(IIR)).toBe(0x01);
    const before = pic.changes.length;
    outb(THR, 0x41);
    expect(irq()).toBe(true);
    expect(pic.changes.slice(before)).toEqual([[4, true]]);
    // A write while the request is pending clears it before the empty THR makes a new one:
    // the line drops and rises again, a fresh edge for an edge-triggered PIC input.
    outb(THR, 0x42);
    expect(pic.changes.slice(before)).toEqual([
      [4, true],
      [4, false],
      [4, true],
    ]);
    expect(inb(IIR)).toBe(0x02);
  });

  it('re-arms the THRE interrupt when ETBEI is turned off and on again', () => {
    const { inb, outb } = com1();
    outb(IER, 0x02);
    expect(inb(IIR)).toBe(0x02);
    expect(inb(IIR)).toBe(0x01);
    outb(IER, 0x02); // no change of ETBEI: stays cleared
    expect(inb(IIR)).toBe(0x01);
    outb(IER, 0x00);
    outb(IER, 0x02);
    expect(inb(IIR)).toBe(0x02);
  });
});

describe('Uart16550 receiver', () => {
  it('delivers host input through RBR with DR set until the receiver is empty', () => {
    const { inb, outb, uart } = com1();
    outb(LCR, 0x03);
    uart.enqueueInput('hi');
    expect(inb(LSR) & 0x01).toBe(0x01);
    // 16450 mode: the RBR holds one character, the rest waits in the host queue.
    expect(uart.pendingInput).toBe(1);
    expect(inb(RBR)).toBe(0x68);
    expect(inb(LSR) & 0x01).toBe(0x01);
    expect(inb(RBR)).toBe(0x69);
    expect(inb(LSR) & 0x01).toBe(0x00);
    expect(inb(RBR)).toBe(0x69); // an empty RBR reads as the last character
    expect(inb(LSR) & 0x01).toBe(0x00);
  });

  it('receives only the selected word length', () => {
    const { inb, uart } = com1();
    uart.enqueueInput([0xff]);
    expect(inb(RBR)).toBe(0x1f);
  });

  it('sends a string as UTF-8', () => {
    const { inb, outb, uart } = com1();
    outb(LCR, 0x03);
    outb(FCR, 0x01);
    uart.enqueueInput('a\u00e9\u20ac');
    const got: number[] = [];
    while (inb(LSR) & 1) got.push(inb(RBR));
    expect(got).toEqual([0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac]);
  });

  it('raises the received-data interrupt while data is available and ERBFI is set', () => {
    const { inb, outb, uart, irq } = com1();
    outb(LCR, 0x03);
    outb(MCR, 0x08);
    outb(IER, 0x01);
    expect(inb(IIR)).toBe(0x01);
    uart.enqueueInput([1, 2]);
    expect(irq()).toBe(true);
    expect(inb(IIR)).toBe(0x04);
    expect(inb(IIR)).toBe(0x04); // an IIR read does not clear it
    inb(RBR);
    expect(inb(IIR)).toBe(0x04);
    inb(RBR);
    expect(inb(IIR)).toBe(0x01);
    expect(irq()).toBe(false);
  });

  it('holds host input while in loopback mode and takes it when loopback ends', () => {
    const { inb, outb, uart } = com1();
    outb(MCR, 0x10);
    uart.enqueueInput([7]);
    expect(inb(LSR) & 0x01).toBe(0);
    expect(uart.pendingInput).toBe(1);
    outb(MCR, 0x00);
    expect(inb(LSR) & 0x01).toBe(1);
    expect(inb(RBR)).toBe(7);
  });
});

describe('Uart16550 FIFO mode', () => {
  it('shows FCR0 in IIR bits 6-7 and programs FCR1-7 only together with FCR0', () => {
    const { inb, outb, uart } = com1();
    outb(FCR, 0xc0); // FCR0 = 0: ignored
    expect(inb(IIR)).toBe(0x01);
    uart.enqueueInput([1, 2, 3]);
    expect(uart.pendingInput).toBe(2); // still 16450 mode: one-character receiver
    inb(RBR);
    inb(RBR);
    inb(RBR);
    outb(FCR, 0x01);
    expect(inb(IIR)).toBe(0xc1);
    outb(FCR, 0x00);
    expect(inb(IIR)).toBe(0x01);
  });

  it('buffers 16 characters in the RCVR FIFO', () => {
    const { inb, outb, uart } = com1();
    outb(LCR, 0x03);
    outb(FCR, 0x01);
    uart.enqueueInput(Array.from({ length: 20 }, (_, i) => i));
    expect(uart.pendingInput).toBe(4);
    const got: number[] = [];
    while (inb(LSR) & 0x01) got.push(inb(RBR));
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('raises RDA at the trigger level and the character timeout below it', () => {
    const { inb, outb, uart } = com1();
    outb(LCR, 0x03);
    outb(FCR, 0x41); // trigger level 4
    outb(IER, 0x01);
    uart.enqueueInput([1, 2, 3]);
    expect(inb(IIR)).toBe(0xcc); // 3 < 4: the timeout indication
    uart.enqueueInput([4]);
    expect(inb(IIR)).toBe(0xc4);
    inb(RBR);
    expect(inb(IIR)).toBe(0xcc);
    inb(RBR);
    inb(RBR);
    inb(RBR);
    expect(inb(IIR)).toBe(0xc1);
  });

  it('uses trigger levels 1, 4, 8 and 14 for FCR bits 7-6', () => {
    for (const [bits, level] of [
      [0x00, 1],
      [0x40, 4],
      [0x80, 8],
      [0xc0, 14],
    ] as const) {
      const { inb, outb, uart } = com1();
      outb(LCR, 0x03);
      outb(FCR, bits | 0x01);
      outb(IER, 0x01);
      uart.enqueueInput(new Array(level - 1).fill(0x55));
      expect(inb(IIR)).toBe(level === 1 ? 0xc1 : 0xcc);
      uart.enqueueInput([0x55]);
      expect(inb(IIR)).toBe(0xc4);
    }
  });

  it('keeps RDA while host input keeps the FIFO above the trigger level', () => {
    const { inb, outb, uart } = com1();
    outb(LCR, 0x03);
    outb(FCR, 0xc1); // trigger level 14
    outb(IER, 0x01);
    uart.enqueueInput(new Array(20).fill(0x41));
    for (let i = 0; i < 6; i++) {
      expect(inb(IIR)).toBe(0xc4);
      inb(RBR);
    }
    // 14 left, none queued.
    expect(inb(IIR)).toBe(0xc4);
    inb(RBR);
    expect(inb(IIR)).toBe(0xcc);
  });

  it('clears the RCVR FIFO on FCR1 and when FCR0 changes', () => {
    const { inb, outb, uart } = com1();
    outb(FCR, 0x01);
    uart.enqueueInput([1, 2, 3]);
    outb(FCR, 0x03);
    expect(inb(LSR) & 0x01).toBe(0);
    expect(inb(IIR)).toBe(0xc1); // still in FIFO mode: FCR1 is self-clearing
    uart.enqueueInput([4, 5]);
    outb(FCR, 0x00);
    expect(inb(LSR) & 0x01).toBe(0);
    uart.enqueueInput([6]);
    outb(FCR, 0x01);
    expect(inb(LSR) & 0x01).toBe(0);
  });
});

describe('Uart16550 loopback and MODEM status', () => {
  it('loops the transmitter into the receiver and sends nothing out', () => {
    const { inb, outb, out } = com1();
    outb(LCR, 0x03);
    outb(MCR, 0x10);
    outb(THR, 0x5a);
    expect(out).toEqual([]);
    expect(inb(LSR)).toBe(0x61);
    expect(inb(RBR)).toBe(0x5a);
  });

  it('connects DTR->DSR, RTS->CTS, OUT1->RI and OUT2->DCD in loopback mode', () => {
    const { inb, outb } = com1({ modemInputs: {} });
    outb(MCR, 0x10);
    inb(MSR);
    outb(MCR, 0x11);
    expect(inb(MSR) & 0xf0).toBe(0x20);
    outb(MCR, 0x12);
    expect(inb(MSR) & 0xf0).toBe(0x10);
    outb(MCR, 0x14);
    expect(inb(MSR) & 0xf0).toBe(0x40);
    outb(MCR, 0x18);
    expect(inb(MSR) & 0xf0).toBe(0x80);
    outb(MCR, 0x1a);
    expect(inb(MSR) & 0xf0).toBe(0x90); // the value Linux's 8250 probe checks for
    outb(MCR, 0x00);
    expect(inb(MSR) & 0xf0).toBe(0x00); // the external inputs again
  });

  it('sets OE on a loopback overrun: the new character replaces the RBR in 16450 mode', () => {
    const { inb, outb } = com1();
    outb(LCR, 0x03);
    outb(MCR, 0x10);
    outb(THR, 1);
    outb(THR, 2);
    expect(inb(LSR)).toBe(0x63);
    expect(inb(LSR)).toBe(0x61); // reading the LSR cleared OE
    expect(inb(RBR)).toBe(2);
  });

  it('sets OE on a loopback overrun: the new character is lost in FIFO mode', () => {
    const { inb, outb } = com1();
    outb(LCR, 0x03);
    outb(FCR, 0x01);
    outb(MCR, 0x10);
    for (let i = 0; i < 17; i++) outb(THR, i);
    expect(inb(LSR) & 0x03).toBe(0x03);
    const got: number[] = [];
    while (inb(LSR) & 0x01) got.push(inb(RBR));
    expect(got).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });

  it('sets the delta bits on input changes, TERI only on the trailing edge of RI, and clears them on read', () => {
    const { inb, uart } = com1({ modemInputs: {} });
    expect(inb(MSR)).toBe(0x00);
    uart.setModemInputs({ cts: true });
    expect(inb(MSR)).toBe(0x11);
    expect(inb(MSR)).toBe(0x10);
    uart.setModemInputs({ dsr: true, dcd: true });
    expect(inb(MSR)).toBe(0xba);
    uart.setModemInputs({ ri: true });
    expect(inb(MSR)).toBe(0xf0); // RI asserted: no TERI
    uart.setModemInputs({ ri: false });
    expect(inb(MSR)).toBe(0xb4); // RI released: TERI
    uart.setModemInputs({ cts: false });
    expect(inb(MSR)).toBe(0xa1);
  });

  it('raises the MODEM status interrupt while a delta bit is set and EDSSI is enabled', () => {
    const { inb, outb, uart, irq } = com1();
    outb(MCR, 0x08);
    outb(IER, 0x08);
    expect(inb(IIR)).toBe(0x01);
    uart.setModemInputs({ dcd: false });
    expect(irq()).toBe(true);
    expect(inb(IIR)).toBe(0x00);
    inb(MSR);
    expect(inb(IIR)).toBe(0x01);
    expect(irq()).toBe(false);
  });

  it('makes loopback MCR changes MODEM status changes', () => {
    const { inb, outb } = com1({ modemInputs: {} });
    outb(IER, 0x08);
    outb(MCR, 0x10);
    expect(inb(IIR)).toBe(0x01);
    outb(MCR, 0x12); // RTS -> CTS
    expect(inb(IIR)).toBe(0x00);
    expect(inb(MSR)).toBe(0x11);
  });
});

describe('Uart16550 interrupt priority and wiring', () => {
  it('identifies line status, then received data, then THRE, then MODEM status', () => {
    const { inb, outb } = com1({ modemInputs: {} });
    outb(LCR, 0x03);
    outb(MCR, 0x12); // loopback with RTS: CTS goes high, DCTS set
    outb(THR, 1);
    outb(THR, 2); // overrun: OE
    outb(IER, 0x0f);
    expect(inb(IIR)).toBe(0x06);
    inb(LSR);
    expect(inb(IIR)).toBe(0x04);
    inb(RBR);
    expect(inb(IIR)).toBe(0x02);
    expect(inb(IIR)).toBe(0x00); // the previous read cleared THRE
    inb(MSR);
    expect(inb(IIR)).toBe(0x01);
  });

  it('masks each source with its own IER bit', () => {
    const { inb, outb, uart } = com1({ modemInputs: {} });
    outb(LCR, 0x03);
    uart.enqueueInput([1]);
    uart.setModemInputs({ cts: true });
    outb(IER, 0x02);
    expect(inb(IIR)).toBe(0x02);
    outb(IER, 0x08);
    expect(inb(IIR)).toBe(0x00);
    outb(IER, 0x04);
    expect(inb(IIR)).toBe(0x01); // no line status condition
    outb(IER, 0x01);
    expect(inb(IIR)).toBe(0x04);
  });

  it('gates the interrupt output with OUT2 and blocks it in loopback mode, as on a PC', () => {
    const { inb, outb, irq, uart } = com1();
    outb(IER, 0x02);
    expect(uart.interruptPending).toBe(true);
    expect(irq()).toBe(false); // OUT2 = 0
    outb(MCR, 0x08);
    expect(irq()).toBe(true);
    outb(MCR, 0x18); // loopback: the OUT2 pin is forced inactive
    expect(irq()).toBe(false);
    expect(inb(IIR)).toBe(0x02); // still visible in the IIR
  });

  it('follows the IIR alone when OUT2 gating is off', () => {
    const pic = new IrqLevels();
    const uart = new Uart16550({ irq: new InterruptLine(pic, 3), out2GatesIrq: false });
    uart.writeRegister(1, 0x02);
    expect(pic.level(3)).toBe(true);
    expect(uart.readRegister(2)).toBe(0x02);
    expect(pic.level(3)).toBe(false);
  });
});

describe('Uart16550 reset and snapshots', () => {
  it('resets every register except the divisor latch and SCR', () => {
    const pio = new PioBus();
    const chipset = new Chipset({ pio });
    const uart = chipset.add(new Uart16550());
    const outb = (p: number, v: number) => pio.write(p, 1, v);
    outb(LCR, 0x80);
    outb(RBR, 0x03);
    outb(LCR, 0x1b);
    outb(IER, 0x0f);
    outb(FCR, 0x01);
    outb(MCR, 0x1f);
    outb(SCR, 0x77);
    outb(THR, 0x41);
    chipset.reset();
    expect([IER, IIR, LCR, MCR, LSR, MSR, SCR].map((p) => pio.read(p, 1))).toEqual([0, 0x01, 0, 0, 0x60, 0xb0, 0x77]);
    expect(uart.baudRate).toBe(115200 / 3);
  });

  it('restores a snapshot exactly, FIFO contents included', () => {
    const a = com1();
    a.outb(LCR, 0x03);
    a.outb(FCR, 0x81);
    a.outb(IER, 0x05);
    a.outb(SCR, 0x42);
    a.uart.enqueueInput(new Array(18).fill(0).map((_, i) => i + 0x30));
    a.inb(RBR);
    const snap = a.uart.saveState();
    const b = com1();
    b.uart.restoreState(snap);
    for (const p of [IER, IIR, LCR, MCR, SCR, MSR]) expect(b.inb(p)).toBe(a.inb(p));
    const drain = (u: typeof a) => {
      const got: number[] = [];
      while (u.inb(LSR) & 1) got.push(u.inb(RBR));
      return got;
    };
    expect(drain(b)).toEqual(drain(a));
    expect(() => b.uart.restoreState({ version: 99, state: {} })).toThrow(/version 99/);
    expect(() => b.uart.restoreState({ ...snap, state: { ...(snap.state as object), ier: 'x' } })).toThrow(/"ier"/);
  });
});

describe('Uart16550 serial backends', () => {
  it('sends transmitted characters to the backend and the backend\'s input to the guest', async () => {
    const { BufferSerial } = await import('./uart-16550.js');
    const { PioBus } = await import('@hvkit/platform');
    const backend = new BufferSerial();
    const seen: number[] = [];
    const uart = new Uart16550({ backend, onOutput: (b) => seen.push(b) });
    const pio = new PioBus();
    pio.register(0x3f8, 8, uart, 'com1');
    pio.write(0x3fb as never, 1, 0x03); // 8N1
    for (const c of 'hi') pio.write(0x3f8 as never, 1, c.charCodeAt(0));
    expect(backend.text).toBe('hi');
    expect(seen).toEqual([0x68, 0x69]);
    backend.send('ok');
    expect(pio.read(0x3fd as never, 1) & 1).toBe(1); // LSR.DR
    expect(String.fromCharCode(pio.read(0x3f8 as never, 1), pio.read(0x3f8 as never, 1))).toBe('ok');
    expect(() => new BufferSerial().send('x')).toThrow(/not attached/);
  });
});
