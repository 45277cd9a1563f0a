import { Chipset, PioBus, port, type AccessSize } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { Pic8259Pair } from './index.js';

const out = (pic: Pic8259Pair, p: number, v: number, size: AccessSize = 1): void => pic.pioWrite(port(p), size, v);
const inb = (pic: Pic8259Pair, p: number, size: AccessSize = 1): number => pic.pioRead(port(p), size);

interface InitOptions {
  icw1?: number;
  masterIcw4?: number;
  slaveIcw4?: number;
}

/** The BIOS/Linux sequence: vectors 0x20 and 0x28, slave on IR2, 8086 mode. */
function init(pic: Pic8259Pair, o: InitOptions = {}): void {
  const icw1 = o.icw1 ?? 0x11;
  out(pic, 0x20, icw1);
  out(pic, 0x21, 0x20);
  out(pic, 0x21, 0x04);
  out(pic, 0x21, o.masterIcw4 ?? 0x01);
  out(pic, 0xa0, icw1);
  out(pic, 0xa1, 0x28);
  out(pic, 0xa1, 0x02);
  out(pic, 0xa1, o.slaveIcw4 ?? 0x01);
}

function setup(o: InitOptions = {}): Pic8259Pair {
  const pic = new Pic8259Pair();
  init(pic, o);
  return pic;
}

const pulse = (pic: Pic8259Pair, line: number): void => {
  pic.setIrq(line, true);
  pic.setIrq(line, false);
};
const readIsr = (pic: Pic8259Pair, cmd = 0x20): number => {
  out(pic, cmd, 0x0b);
  return inb(pic, cmd);
};
const readIrr = (pic: Pic8259Pair, cmd = 0x20): number => {
  out(pic, cmd, 0x0a);
  return inb(pic, cmd);
};
const eoi = (pic: Pic8259Pair, cmd = 0x20): void => out(pic, cmd, 0x20);

describe('Pic8259Pair', () => {
  describe('initialization (ICW1-ICW4)', () => {
    it('takes vectors from ICW2 and sets no interrupt before a request', () => {
      const pic = setup();
      expect(pic.hasInterrupt()).toBe(false);
      pulse(pic, 1);
      expect(pic.hasInterrupt()).toBe(true);
      expect(pic.acknowledge()).toBe(0x21);
      pulse(pic, 12);
      eoi(pic);
      expect(pic.acknowledge()).toBe(0x2c);
    });

    it('uses the low three bits of ICW2 for the level, not the vector base', () => {
      const pic = new Pic8259Pair();
      out(pic, 0x20, 0x11);
      out(pic, 0x21, 0x37);
      out(pic, 0x21, 0x04);
      out(pic, 0x21, 0x01);
      pulse(pic, 3);
      expect(pic.acknowledge()).toBe(0x33);
    });

    it('clears the IMR and ISR, resets priority and the read select on ICW1', () => {
      const pic = setup();
      out(pic, 0x21, 0xff);
      out(pic, 0x20, 0xc3); // set priority: IR3 lowest
      pic.setIrq(5, true);
      out(pic, 0x21, 0x00);
      pic.acknowledge();
      out(pic, 0x21, 0x81);
      out(pic, 0x20, 0x0b); // read ISR
      init(pic);
      expect(inb(pic, 0x21)).toBe(0);
      expect(pic.registers().isr).toBe(0);
      // IRR is read again, and the edge that was latched is gone (edge sense reset).
      expect(inb(pic, 0x20)).toBe(0);
      pic.setIrq(3, true);
      pic.setIrq(4, true);
      expect(pic.acknowledge()).toBe(0x23); // IR3 highest again, not IR4
    });

    it('needs a fresh rising edge after ICW1 for an edge input that is still high', () => {
      const pic = setup();
      pic.setIrq(4, true);
      init(pic);
      expect(pic.hasInterrupt()).toBe(false);
      pic.setIrq(4, false);
      pic.setIrq(4, true);
      expect(pic.hasInterrupt()).toBe(true);
    });

    it('skips ICW4 without IC4, leaving AEOI off', () => {
      const pic = new Pic8259Pair();
      out(pic, 0x20, 0x10);
      out(pic, 0x21, 0x20);
      out(pic, 0x21, 0x04); // ICW3
      out(pic, 0x21, 0xfe); // now OCW1, not ICW4
      expect(inb(pic, 0x21)).toBe(0xfe);
      pulse(pic, 0);
      pic.acknowledge();
      expect(pic.registers().isr & 1).toBe(1);
    });

    it('skips ICW3 in single mode, and IR2 is then an ordinary input', () => {
      const pic = new Pic8259Pair();
      out(pic, 0x20, 0x13); // SNGL, IC4
      out(pic, 0x21, 0x40);
      out(pic, 0x21, 0x03); // ICW4: AEOI, 8086 (would be ICW3 in cascade mode)
      out(pic, 0x21, 0xf0); // OCW1
      expect(inb(pic, 0x21)).toBe(0xf0);
      pulse(pic, 2);
      expect(pic.acknowledge()).toBe(0x42);
      expect(pic.registers().isr).toBe(0); // AEOI took effect
    });

    it('ignores setIrq(2) in cascade mode', () => {
      const pic = setup();
      pic.setIrq(2, true);
      expect(pic.hasInterrupt()).toBe(false);
      expect(() => pic.setIrq(16, true)).toThrow(RangeError);
    });
  });

  describe('OCW1 (IMR)', () => {
    it('masks a line until unmasked, keeping the request in IRR', () => {
      const pic = setup();
      out(pic, 0x21, 0x08);
      expect(inb(pic, 0x21)).toBe(0x08);
      pulse(pic, 3);
      expect(pic.hasInterrupt()).toBe(false);
      expect(readIrr(pic)).toBe(0x08);
      out(pic, 0x21, 0x00);
      expect(pic.hasInterrupt()).toBe(true);
      expect(pic.acknowledge()).toBe(0x23);
    });

    it('masks all slave lines through the master IR2 mask', () => {
      const pic = setup();
      out(pic, 0x21, 0x04);
      pulse(pic, 9);
      expect(pic.hasInterrupt()).toBe(false);
      out(pic, 0x21, 0x00);
      expect(pic.acknowledge()).toBe(0x29);
    });
  });

  describe('priority', () => {
    it('resolves IR0 over IR7 and the slave at IR2 level, above IR3', () => {
      const pic = setup();
      pulse(pic, 7);
      pulse(pic, 3);
      pulse(pic, 10);
      pulse(pic, 0);
      const order: number[] = [];
      for (let i = 0; i < 4; i++) {
        order.push(pic.acknowledge());
        eoi(pic);
        if (order[i]! >= 0x28) eoi(pic, 0xa0);
      }
      expect(order).toEqual([0x20, 0x2a, 0x23, 0x27]);
      expect(pic.hasInterrupt()).toBe(false);
    });

    it('lets only a higher priority interrupt nest over one in service', () => {
      const pic = setup();
      pulse(pic, 4);
      expect(pic.acknowledge()).toBe(0x24);
      pulse(pic, 5);
      expect(pic.hasInterrupt()).toBe(false);
      pulse(pic, 1);
      expect(pic.hasInterrupt()).toBe(true);
      expect(pic.acknowledge()).toBe(0x21);
      expect(readIsr(pic)).toBe(0x12);
    });

    it('set priority (OCW2) makes the given level the lowest', () => {
      const pic = setup();
      out(pic, 0x20, 0xc4); // IR4 lowest, IR5 highest
      pulse(pic, 0);
      pulse(pic, 6);
      expect(pic.acknowledge()).toBe(0x26);
    });
  });

  describe('EOI (OCW2)', () => {
    it('non-specific EOI clears the highest-priority ISR bit', () => {
      const pic = setup();
      pulse(pic, 5);
      pic.acknowledge();
      pulse(pic, 1);
      pic.acknowledge();
      expect(readIsr(pic)).toBe(0x22);
      eoi(pic);
      expect(readIsr(pic)).toBe(0x20);
    });

    it('specific EOI clears the named ISR bit only', () => {
      const pic = setup();
      pulse(pic, 5);
      pic.acknowledge();
      pulse(pic, 1);
      pic.acknowledge();
      out(pic, 0x20, 0x65);
      expect(readIsr(pic)).toBe(0x02);
    });

    it('rotate on non-specific EOI makes the serviced level the lowest', () => {
      const pic = setup();
      pulse(pic, 1);
      pic.acknowledge();
      out(pic, 0x20, 0xa0);
      pulse(pic, 0);
      pulse(pic, 1);
      pulse(pic, 3);
      expect(pic.acknowledge()).toBe(0x23); // IR2 highest now; IR3 beats IR0 and IR1
      out(pic, 0x20, 0xa0); // IR3 lowest: IR4..IR7, IR0 next
      expect(pic.acknowledge()).toBe(0x20);
    });

    it('rotate on specific EOI sets the priority from the level', () => {
      const pic = setup();
      pulse(pic, 6);
      pic.acknowledge();
      out(pic, 0x20, 0xe6); // IR6 lowest, IR7 highest
      expect(pic.registers().isr).toBe(0);
      pulse(pic, 0);
      pulse(pic, 6);
      expect(pic.acknowledge()).toBe(0x20);
      out(pic, 0x20, 0xe0); // IR0 lowest
      pulse(pic, 7);
      expect(pic.acknowledge()).toBe(0x26);
    });

    it('an interrupt is not delivered again until its EOI', () => {
      const pic = setup();
      pulse(pic, 3);
      pic.acknowledge();
      pulse(pic, 3);
      expect(pic.hasInterrupt()).toBe(false);
      eoi(pic);
      expect(pic.acknowledge()).toBe(0x23);
    });
  });

  describe('AEOI (ICW4)', () => {
    it('leaves nothing in service, so equal and lower levels are delivered', () => {
      const pic = setup({ masterIcw4: 0x03 });
      pulse(pic, 1);
      expect(pic.acknowledge()).toBe(0x21);
      expect(readIsr(pic)).toBe(0);
      pulse(pic, 6);
      expect(pic.acknowledge()).toBe(0x26);
    });

    it('rotates in AEOI mode only while rotate-in-AEOI is set', () => {
      const pic = setup({ masterIcw4: 0x03 });
      out(pic, 0x20, 0x80); // set
      pulse(pic, 3);
      pic.acknowledge(); // IR3 becomes lowest
      pulse(pic, 0);
      pulse(pic, 5);
      expect(pic.acknowledge()).toBe(0x25);
      out(pic, 0x20, 0x00); // clear: priority stays, no more rotation
      pulse(pic, 4);
      expect(pic.acknowledge()).toBe(0x20); // IR6 is highest after IR5 was served; IR0 beats IR4
      pulse(pic, 4);
      pulse(pic, 7);
      expect(pic.acknowledge()).toBe(0x27); // unchanged order: 6,7,0,...
    });
  });

  describe('OCW3', () => {
    it('reads IRR by default and ISR after RR/RIS, and keeps the selection', () => {
      const pic = setup();
      pulse(pic, 4);
      pulse(pic, 6);
      pic.acknowledge();
      expect(inb(pic, 0x20)).toBe(0x40);
      out(pic, 0x20, 0x0b);
      expect(inb(pic, 0x20)).toBe(0x10);
      expect(inb(pic, 0x20)).toBe(0x10);
      out(pic, 0x20, 0x08); // RR = 0: no change
      expect(inb(pic, 0x20)).toBe(0x10);
      out(pic, 0x20, 0x0a);
      expect(inb(pic, 0x20)).toBe(0x40);
    });

    it('reads the slave IRR and ISR at 0xA0', () => {
      const pic = setup();
      pulse(pic, 11);
      pulse(pic, 14);
      expect(readIrr(pic, 0xa0)).toBe(0x48);
      expect(pic.acknowledge()).toBe(0x2b);
      expect(readIsr(pic, 0xa0)).toBe(0x08);
      expect(readIsr(pic)).toBe(0x04);
    });

    it('poll returns 0x80 | level and acknowledges it, once', () => {
      const pic = setup();
      out(pic, 0x21, 0xff);
      pulse(pic, 5);
      out(pic, 0x21, 0xdf);
      out(pic, 0x20, 0x0c);
      expect(inb(pic, 0x20)).toBe(0x85);
      expect(readIsr(pic)).toBe(0x20);
      expect(readIrr(pic)).toBe(0);
      out(pic, 0x20, 0x0c);
      expect(inb(pic, 0x20)).toBe(0); // nothing pending
      expect(inb(pic, 0x21)).toBe(0xdf); // the poll was consumed; back to the IMR
    });

    it('special mask mode lets lower levels in while one is in service', () => {
      const pic = setup();
      pulse(pic, 3);
      pic.acknowledge();
      pulse(pic, 5);
      expect(pic.hasInterrupt()).toBe(false);
      out(pic, 0x21, 0x08);
      out(pic, 0x20, 0x68); // ESMM | SMM
      expect(pic.hasInterrupt()).toBe(true);
      expect(pic.acknowledge()).toBe(0x25);
      out(pic, 0x20, 0x48); // ESMM, SMM = 0: normal again
      eoi(pic); // IR3 (highest in service)
      expect(readIsr(pic)).toBe(0x20);
    });

    it('ignores SMM without ESMM', () => {
      const pic = setup();
      pulse(pic, 3);
      pic.acknowledge();
      pulse(pic, 5);
      out(pic, 0x20, 0x28);
      expect(pic.hasInterrupt()).toBe(false);
    });
  });

  describe('edge and level triggering', () => {
    it('latches a rising edge in IRR, even after the line falls', () => {
      const pic = setup();
      pic.setIrq(4, true);
      pic.setIrq(4, false);
      expect(readIrr(pic)).toBe(0x10);
      expect(pic.acknowledge()).toBe(0x24);
      expect(readIrr(pic)).toBe(0);
    });

    it('does not re-request on a line held high after EOI (edge)', () => {
      const pic = setup();
      pic.setIrq(4, true);
      pic.acknowledge();
      pic.setIrq(4, true); // no change of level: no edge
      eoi(pic);
      expect(pic.hasInterrupt()).toBe(false);
    });

    it('does not re-latch the cascade input while the slave output stays high', () => {
      const pic = setup();
      out(pic, 0x4d1, 0x02); // line 9 level
      pic.setIrq(9, true);
      pulse(pic, 1);
      expect(pic.acknowledge()).toBe(0x21); // IR1 over the slave
      out(pic, 0x21, 0x04); // mask IR2, then answer the slave by polling it
      out(pic, 0xa0, 0x0c);
      expect(inb(pic, 0xa0)).toBe(0x81);
      pic.setIrq(9, false);
      eoi(pic, 0xa0);
      out(pic, 0x21, 0x00);
      eoi(pic); // the IR2 edge latched earlier is still there (spurious 15)...
      expect(pic.acknowledge()).toBe(0x2f);
      eoi(pic);
      expect(pic.hasInterrupt()).toBe(false); // ...but only once
    });

    it('in level mode (LTIM) IRR follows the line and requests again after EOI', () => {
      const pic = setup({ icw1: 0x19 });
      pic.setIrq(4, true);
      expect(pic.acknowledge()).toBe(0x24);
      expect(readIrr(pic)).toBe(0x10);
      eoi(pic);
      expect(pic.hasInterrupt()).toBe(true);
      pic.setIrq(4, false);
      expect(pic.hasInterrupt()).toBe(false);
      expect(readIrr(pic)).toBe(0);
    });

    it('ELCR makes a single line level-triggered', () => {
      const pic = setup();
      out(pic, 0x4d1, 0x08); // line 11
      pic.setIrq(11, true);
      pic.setIrq(3, true);
      expect(pic.acknowledge()).toBe(0x2b); // the slave, at IR2 level, outranks IR3
      eoi(pic, 0xa0);
      eoi(pic);
      expect(pic.acknowledge()).toBe(0x2b); // line 11 still high: level, requests again
      pic.setIrq(11, false); // the handler quiets the device before its EOIs
      eoi(pic, 0xa0);
      eoi(pic);
      expect(pic.acknowledge()).toBe(0x23);
      eoi(pic);
      expect(pic.hasInterrupt()).toBe(false); // line 3 still high: edge, no new request
    });

    it('ELCR on a line already high requests at once; back to edge keeps it', () => {
      const pic = setup();
      out(pic, 0x21, 0xff);
      pic.setIrq(5, true);
      pic.acknowledge(); // spurious, IRR kept
      expect(readIrr(pic)).toBe(0x20);
      out(pic, 0x4d0, 0x20);
      pic.setIrq(5, false);
      expect(readIrr(pic)).toBe(0);
    });
  });

  describe('ELCR', () => {
    it('reads back with lines 0, 1, 2, 8 and 13 forced to edge', () => {
      const pic = setup();
      out(pic, 0x4d0, 0xff);
      out(pic, 0x4d1, 0xff);
      expect(inb(pic, 0x4d0)).toBe(0xf8);
      expect(inb(pic, 0x4d1)).toBe(0xde);
      expect(inb(pic, 0x4d0, 2)).toBe(0xdef8);
      out(pic, 0x4d0, 0x0a20, 2);
      expect(inb(pic, 0x4d0)).toBe(0x20);
      expect(inb(pic, 0x4d1)).toBe(0x0a);
    });

    it('keeps line 13 edge-triggered whatever is written', () => {
      const pic = setup();
      out(pic, 0x4d1, 0x20);
      pic.setIrq(13, true);
      expect(pic.acknowledge()).toBe(0x2d);
      eoi(pic, 0xa0);
      eoi(pic);
      expect(pic.hasInterrupt()).toBe(false);
    });
  });

  describe('cascade and spurious interrupts', () => {
    it('delivers slave interrupts through IR2 and needs EOIs to both chips', () => {
      const pic = setup();
      pulse(pic, 9);
      expect(pic.acknowledge()).toBe(0x29);
      expect(pic.registers().isr).toBe(0x0204);
      pulse(pic, 10);
      expect(pic.hasInterrupt()).toBe(false);
      eoi(pic, 0xa0);
      expect(pic.hasInterrupt()).toBe(false); // master IR2 still in service
      eoi(pic);
      expect(pic.acknowledge()).toBe(0x2a);
    });

    it('in special fully nested mode lets a higher slave level through the in-service IR2', () => {
      const pic = setup({ masterIcw4: 0x11 });
      pulse(pic, 12);
      expect(pic.acknowledge()).toBe(0x2c);
      pulse(pic, 9);
      expect(pic.acknowledge()).toBe(0x29);
    });

    it('answers IR7 (spurious, ISR untouched) when a level request vanishes before INTA', () => {
      const pic = setup({ icw1: 0x19 });
      pic.setIrq(5, true);
      expect(pic.hasInterrupt()).toBe(true);
      pic.setIrq(5, false);
      expect(pic.acknowledge()).toBe(0x27);
      expect(pic.registers().isr).toBe(0);
    });

    it('answers IR7 when the request is masked before INTA', () => {
      const pic = setup();
      pulse(pic, 3);
      out(pic, 0x21, 0x08);
      expect(pic.acknowledge()).toBe(0x27);
      expect(pic.registers().isr).toBe(0);
    });

    it('answers IRQ 15 when a slave request vanishes, leaving master IR2 in service', () => {
      const pic = setup();
      out(pic, 0x4d1, 0x02); // line 9 level
      pic.setIrq(9, true);
      expect(pic.hasInterrupt()).toBe(true);
      pic.setIrq(9, false);
      expect(pic.hasInterrupt()).toBe(true); // the master latched the edge on IR2
      expect(pic.acknowledge()).toBe(0x2f);
      expect(pic.registers().isr).toBe(0x0004);
      eoi(pic);
      expect(pic.hasInterrupt()).toBe(false);
    });

    it('calls onIntrChange on every INTR change', () => {
      const changes: boolean[] = [];
      const pic = new Pic8259Pair({ onIntrChange: (l) => changes.push(l) });
      init(pic);
      pulse(pic, 1);
      pulse(pic, 0);
      pic.acknowledge(); // IR0; IR1 still blocked
      eoi(pic); // IR1 requests again
      pic.acknowledge();
      expect(changes).toEqual([true, false, true, false]);
    });
  });

  describe('device', () => {
    it('registers 0x20-0x21, 0xA0-0xA1 and 0x4D0-0x4D1 through a chipset', () => {
      const bus = new PioBus();
      const pic = new Chipset({ pio: bus }).add(new Pic8259Pair());
      bus.write(0x21, 1, 0x5a);
      bus.write(0xa1, 1, 0xa5);
      expect(bus.read(0x21, 1)).toBe(0x5a);
      expect(bus.read(0xa1, 1)).toBe(0xa5);
      expect(bus.read(0x4d0, 1)).toBe(0);
      expect(bus.read(0x22, 1)).toBe(0xff);
      expect(bus.registrations().map((r) => [r.base, r.end])).toEqual([
        [0x20, 0x22],
        [0xa0, 0xa2],
        [0x4d0, 0x4d2],
      ]);
      expect(pic.supportsReset()).toBe(pic);
    });

    it('reset returns to power-on state but keeps the input levels', () => {
      const pic = setup();
      out(pic, 0x21, 0x0f);
      out(pic, 0x4d0, 0x80);
      pic.setIrq(7, true);
      pic.acknowledge();
      pic.reset();
      expect(pic.registers()).toEqual({ irr: 0, isr: 0, imr: 0, elcr: 0 });
      expect(pic.hasInterrupt()).toBe(false);
      init(pic);
      pic.setIrq(7, false);
      pic.setIrq(7, true);
      expect(pic.acknowledge()).toBe(0x27);
    });

    it('snapshots and restores the full state', () => {
      const pic = setup({ masterIcw4: 0x03 });
      out(pic, 0x4d1, 0x0c);
      out(pic, 0x20, 0x80);
      out(pic, 0x21, 0x40);
      pic.setIrq(10, true);
      pulse(pic, 4);
      pic.acknowledge();
      pulse(pic, 6);
      out(pic, 0x20, 0x0b);
      const snap = pic.saveState();
      const copy = new Pic8259Pair();
      copy.restoreState(snap);
      expect(copy.registers()).toEqual(pic.registers());
      expect(copy.hasInterrupt()).toBe(pic.hasInterrupt());
      expect(inb(copy, 0x20)).toBe(inb(pic, 0x20));
      expect(copy.acknowledge()).toBe(pic.acknowledge());
      expect(copy.saveState()).toEqual(pic.saveState());
    });

    it('rejects a bad snapshot without changing state', () => {
      const pic = setup();
      out(pic, 0x21, 0x33);
      const good = pic.saveState();
      expect(() => pic.restoreState({ version: 2, state: good.state })).toThrow(/version/);
      const state = good.state as { master: Record<string, number>; slave: Record<string, number> };
      expect(() => pic.restoreState({ version: 1, state: { ...state, slave: { ...state.slave, imr: 256 } } })).toThrow(/slave\.imr/);
      expect(inb(pic, 0x21)).toBe(0x33);
    });
  });
});
