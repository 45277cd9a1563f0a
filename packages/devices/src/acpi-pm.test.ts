import { Chipset, DeviceConfigurationError, IrqLevels, PioBus, VirtualClock } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { AcpiPm, I440fxHostBridge, Pm1Cnt, Pm1En, Pm1Sts, pmTimerTicksAt, pmTimerTickTimeNs, ResetControl, type AcpiPmOptions } from './index.js';

const S = 1_000_000_000;
const EVT = 0x600;
const CNT = 0x604;
const TMR = 0x608;
const GPE = 0x620;

/** The reference value, in BigInt, straight from the definition: floor(ns * 3579545 / 1e9). */
function refTicks(ns: number): bigint {
  return (BigInt(ns) * 3_579_545n) / 1_000_000_000n;
}

function setup(options: Partial<AcpiPmOptions> = {}) {
  const clock = new VirtualClock();
  const pio = new PioBus();
  const pic = new IrqLevels();
  const events: string[] = [];
  const pm = new Chipset({ pio }).add(
    new AcpiPm({
      clock,
      irqSink: pic,
      onPowerOff: () => events.push('off'),
      onSleep: (t) => events.push(`sleep${t}`),
      ...options,
    }),
  );
  return { clock, pio, pic, pm, events, sci: () => pic.level(options.sciIrq ?? 9) };
}

describe('AcpiPm PM timer', () => {
  it('reads floor(ns * 3579545 / 1e9) mod 2^24, exactly, for days of guest time', () => {
    const { clock, pio } = setup();
    const times = [0, 1, 279, 280, 1_000_000, S - 1, S, 4 * S + 687_123, 3 * 86_400 * S + 123_456_789, 100 * 86_400 * S + 999_999_999];
    for (const t of times) {
      clock.advanceTo(t);
      expect(pio.read(TMR, 4)).toBe(Number(refTicks(t) % (1n << 24n)));
    }
  });

  it('is 32 bits wide when configured so, and says so in its layout (TMR_VAL_EXT)', () => {
    const { clock, pio, pm } = setup({ timerBits: 32 });
    const t = 20 * 86_400 * S + 777;
    clock.advanceTo(t);
    expect(pio.read(TMR, 4)).toBe(Number(refTicks(t) % (1n << 32n)));
    expect(pio.read(TMR, 4)).toBeGreaterThan(0xffffff);
    expect(pm.layout.tmrValExt).toBe(true);
    expect(setup().pm.layout.tmrValExt).toBe(false);
  });

  it('inverts exactly: tick k first shows at pmTimerTickTimeNs(k)', () => {
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const k = i < 10 ? i : rnd() * 4096 + (rnd() % 4096);
      const ns = pmTimerTickTimeNs(k);
      expect(pmTimerTicksAt(ns)).toBe(k);
      if (k > 0) expect(pmTimerTicksAt(ns - 1)).toBe(k - 1);
      expect(BigInt(pmTimerTicksAt(ns))).toBe(refTicks(ns));
    }
  });

  it('composes byte and word reads of the counter and ignores writes to it', () => {
    const { clock, pio } = setup();
    clock.advanceTo(3 * S + 12_345);
    const v = pio.read(TMR, 4);
    expect([pio.read(TMR, 1), pio.read(TMR + 1, 1), pio.read(TMR + 2, 1), pio.read(TMR + 3, 1)]).toEqual([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, 0]);
    expect(pio.read(TMR + 2, 2)).toBe(v >>> 16);
    pio.write(TMR, 4, 0);
    expect(pio.read(TMR, 4)).toBe(v);
  });
});

describe('AcpiPm PM1 event block', () => {
  it('sets TMR_STS each time bit 23 of the counter changes, and clears it by writing 1', () => {
    const { clock, pio } = setup();
    const at = (tick: number): number => pmTimerTickTimeNs(tick);
    clock.advanceTo(at(1 << 23) - 1);
    expect(pio.read(EVT, 2) & Pm1Sts.TMR_STS).toBe(0);
    clock.advanceTo(at(1 << 23));
    expect(pio.read(TMR, 4)).toBe(1 << 23);
    expect(pio.read(EVT, 2) & Pm1Sts.TMR_STS).toBe(Pm1Sts.TMR_STS);
    pio.write(EVT, 2, 0); // writing 0 does nothing
    expect(pio.read(EVT, 2) & Pm1Sts.TMR_STS).toBe(Pm1Sts.TMR_STS);
    pio.write(EVT, 2, Pm1Sts.TMR_STS);
    expect(pio.read(EVT, 2) & Pm1Sts.TMR_STS).toBe(0);
    // The MSB falls (1 -> 0) at the 24-bit wrap: that sets it too.
    clock.advanceTo(at(1 << 24) - 1);
    expect(pio.read(EVT, 2) & Pm1Sts.TMR_STS).toBe(0);
    clock.advanceTo(at(1 << 24));
    expect(pio.read(TMR, 4)).toBe(0);
    expect(pio.read(EVT, 2) & Pm1Sts.TMR_STS).toBe(Pm1Sts.TMR_STS);
  });

  it('uses bit 31 for TMR_STS when the timer is 32 bits wide', () => {
    const { clock, pio } = setup({ timerBits: 32 });
    clock.advanceTo(pmTimerTickTimeNs(2 ** 31) - 1);
    expect(pio.read(EVT, 2) & Pm1Sts.TMR_STS).toBe(0);
    clock.advanceTo(pmTimerTickTimeNs(2 ** 31));
    expect(pio.read(EVT, 2) & Pm1Sts.TMR_STS).toBe(Pm1Sts.TMR_STS);
  });

  it('raises the SCI (IRQ 9, level) at the exact nanosecond of the MSB change while TMR_EN is set', () => {
    const { clock, pio, pic, sci } = setup();
    pio.write(EVT + 2, 2, Pm1En.TMR_EN);
    expect(pio.read(EVT + 2, 2)).toBe(Pm1En.TMR_EN);
    const first = pmTimerTickTimeNs(1 << 23);
    clock.advance(first - 1); // 1 ns per instruction
    expect(sci()).toBe(false);
    expect(clock.instructionsUntilNextDeadline()).toBe(1);
    clock.advance(1);
    expect(sci()).toBe(true);
    expect(pic.changes).toEqual([[9, true]]);
    // The SCI stays up until the status bit is cleared (level), then the next change re-raises it.
    clock.advanceTo(first + S);
    expect(sci()).toBe(true);
    pio.write(EVT, 1, Pm1Sts.TMR_STS);
    expect(sci()).toBe(false);
    clock.advanceTo(pmTimerTickTimeNs(1 << 24) - 1);
    expect(sci()).toBe(false);
    clock.advanceTo(pmTimerTickTimeNs(1 << 24));
    expect(sci()).toBe(true);
  });

  it('arms no timer while TMR_EN is clear, yet asserts the SCI when TMR_EN is set over a pending TMR_STS', () => {
    const { clock, pio, sci } = setup();
    expect(clock.nextDeadlineNs()).toBe(Infinity);
    clock.advanceTo(pmTimerTickTimeNs(1 << 23) + 5);
    expect(sci()).toBe(false);
    pio.write(EVT + 2, 2, Pm1En.TMR_EN);
    expect(sci()).toBe(true);
    pio.write(EVT + 2, 2, 0);
    expect(sci()).toBe(false);
    expect(clock.nextDeadlineNs()).toBe(Infinity);
  });

  it('signals the fixed power button and the RTC alarm through PWRBTN_STS and RTC_STS', () => {
    const { pio, pm, sci } = setup();
    pm.pressPowerButton();
    expect(pio.read(EVT, 2)).toBe(Pm1Sts.PWRBTN_STS);
    expect(sci()).toBe(false);
    pio.write(EVT + 3, 1, Pm1En.PWRBTN_EN >> 8); // byte write to the high half of PM1_EN
    expect(pio.read(EVT + 2, 2)).toBe(Pm1En.PWRBTN_EN);
    expect(sci()).toBe(true);
    pio.write(EVT + 1, 1, Pm1Sts.PWRBTN_STS >> 8); // byte W1C of the high half of PM1_STS
    expect(pio.read(EVT, 2)).toBe(0);
    expect(sci()).toBe(false);
    pm.signalRtcAlarm();
    expect(pio.read(EVT, 2)).toBe(Pm1Sts.RTC_STS);
    pio.write(EVT, 4, Pm1En.RTC_EN << 16); // dword: PM1_STS (nothing cleared) and PM1_EN
    expect(sci()).toBe(true);
    pio.write(EVT, 4, Pm1Sts.RTC_STS | (Pm1En.RTC_EN << 16));
    expect(sci()).toBe(false);
  });

  it('keeps unimplemented enable and status bits at 0', () => {
    const { pio } = setup();
    pio.write(EVT + 2, 2, 0xffff);
    expect(pio.read(EVT + 2, 2)).toBe(Pm1En.TMR_EN | Pm1En.GBL_EN | Pm1En.PWRBTN_EN | Pm1En.RTC_EN);
    pio.write(EVT, 2, 0xffff);
    expect(pio.read(EVT, 2)).toBe(0);
  });
});

describe('AcpiPm PM1 control and sleep', () => {
  it('comes out of reset in ACPI mode (SCI_EN set), as SMI_CMD = 0 requires', () => {
    const { pio, pm } = setup();
    expect(pio.read(CNT, 2)).toBe(Pm1Cnt.SCI_EN);
    pio.write(CNT, 2, 0);
    expect(pio.read(CNT, 2)).toBe(0);
    pm.reset();
    expect(pio.read(CNT, 2)).toBe(Pm1Cnt.SCI_EN);
  });

  it('gates every SCI source with SCI_EN', () => {
    const { pio, pm, sci } = setup();
    pio.write(EVT + 2, 2, Pm1En.PWRBTN_EN);
    pio.write(CNT, 2, 0);
    pm.pressPowerButton();
    expect(sci()).toBe(false);
    pio.write(CNT, 2, Pm1Cnt.SCI_EN);
    expect(sci()).toBe(true);
  });

  it('powers off on SLP_EN with the S5 SLP_TYP, and reports other sleep types', () => {
    const { pio, events } = setup();
    pio.write(CNT, 2, Pm1Cnt.SCI_EN | (1 << Pm1Cnt.SLP_TYP_SHIFT)); // SLP_TYP without SLP_EN: nothing
    expect(events).toEqual([]);
    expect(pio.read(CNT, 2)).toBe(Pm1Cnt.SCI_EN | (1 << Pm1Cnt.SLP_TYP_SHIFT));
    pio.write(CNT, 2, Pm1Cnt.SCI_EN | (1 << Pm1Cnt.SLP_TYP_SHIFT) | Pm1Cnt.SLP_EN);
    expect(events).toEqual(['sleep1']);
    expect(pio.read(CNT, 2) & Pm1Cnt.SLP_EN).toBe(0); // write-only
    pio.write(CNT + 1, 1, (Pm1Cnt.SLP_EN | (0 << Pm1Cnt.SLP_TYP_SHIFT)) >> 8); // PIIX4 S5 = 0, by byte
    expect(events).toEqual(['sleep1', 'off']);
  });

  it('takes the S5 SLP_TYP from its options', () => {
    const { pio, events, pm } = setup({ s5SlpTyp: 5 });
    expect(pm.layout.s5SlpTyp).toBe(5);
    pio.write(CNT, 2, Pm1Cnt.SLP_EN);
    pio.write(CNT, 2, (5 << Pm1Cnt.SLP_TYP_SHIFT) | Pm1Cnt.SLP_EN);
    expect(events).toEqual(['sleep0', 'off']);
  });
});

describe('AcpiPm GPE0 block', () => {
  it('has GPE0_STS then GPE0_EN, half the block each, write-1-to-clear status, SCI on STS & EN', () => {
    const { pio, pm, sci } = setup();
    pm.raiseGpe(9);
    expect(pio.read(GPE, 2)).toBe(1 << 9);
    expect(sci()).toBe(false);
    pio.write(GPE + 2, 2, 1 << 9);
    expect(pio.read(GPE + 2, 2)).toBe(1 << 9);
    expect(sci()).toBe(true);
    pio.write(GPE, 1, 0xff); // clears GPEs 0-7 only
    expect(sci()).toBe(true);
    pio.write(GPE + 1, 1, 0x02);
    expect(pio.read(GPE, 4)).toBe((1 << 9) << 16);
    expect(sci()).toBe(false);
    expect(() => pm.raiseGpe(16)).toThrow(RangeError);
  });

  it('can be moved, resized or left out, and the layout follows', () => {
    const a = setup({ gpe0: { base: 0xafe0, length: 8 } });
    expect(a.pm.layout).toMatchObject({ pm1aEvt: 0x600, pm1aCnt: 0x604, pmTmr: 0x608, gpe0: 0xafe0, gpe0Length: 8, sciIrq: 9 });
    a.pm.raiseGpe(31);
    expect(a.pio.read(0xafe0, 4)).toBe(0x8000_0000);
    const b = setup({ gpe0: false, base: 0xb000 });
    expect(b.pm.layout.gpe0).toBeUndefined();
    expect(b.pm.pioRanges.map((r) => [r.base, r.length])).toEqual([
      [0xb000, 4],
      [0xb004, 2],
      [0xb008, 4],
    ]);
    expect(() => b.pm.raiseGpe(0)).toThrow(RangeError);
  });
});

describe('AcpiPm decoding, reset, snapshots and options', () => {
  it('claims the four blocks and reads 0xFF past the end of a block', () => {
    const { pio } = setup();
    expect([EVT, EVT + 3, CNT, CNT + 1, TMR, TMR + 3, GPE, GPE + 3].map((p) => pio.find(p)?.name)).toEqual([
      'acpi-pm.pm1a-evt',
      'acpi-pm.pm1a-evt',
      'acpi-pm.pm1a-cnt',
      'acpi-pm.pm1a-cnt',
      'acpi-pm.pm-tmr',
      'acpi-pm.pm-tmr',
      'acpi-pm.gpe0',
      'acpi-pm.gpe0',
    ]);
    expect(pio.find(CNT + 2)).toBeUndefined();
    expect(pio.read(CNT, 4)).toBe(0xffff_0000 + Pm1Cnt.SCI_EN);
  });

  it('resets status, enables and the SCI, and stops the timer', () => {
    const { clock, pio, pm, sci } = setup();
    pio.write(EVT + 2, 2, Pm1En.TMR_EN | Pm1En.PWRBTN_EN);
    pio.write(GPE + 2, 2, 0xffff);
    pm.raiseGpe(0);
    pm.pressPowerButton();
    expect(sci()).toBe(true);
    pm.reset();
    expect(sci()).toBe(false);
    expect([pio.read(EVT, 4), pio.read(GPE, 4), pio.read(CNT, 2)]).toEqual([0, 0, Pm1Cnt.SCI_EN]);
    expect(clock.nextDeadlineNs()).toBe(Infinity);
  });

  it('saves and restores its registers, including a TMR_STS not yet read', () => {
    const a = setup();
    a.pio.write(EVT + 2, 2, Pm1En.PWRBTN_EN);
    a.pio.write(CNT, 2, Pm1Cnt.SCI_EN | Pm1Cnt.BM_RLD | (3 << Pm1Cnt.SLP_TYP_SHIFT));
    a.pio.write(GPE + 2, 2, 0x0102);
    a.pm.raiseGpe(4);
    a.clock.advanceTo(pmTimerTickTimeNs(1 << 23) + 10);
    const snap = a.pm.saveState();
    const b = setup();
    b.clock.advanceTo(pmTimerTickTimeNs(1 << 23) + 10);
    b.pm.restoreState(snap);
    for (const [port, size] of [
      [EVT, 4],
      [CNT, 2],
      [GPE, 4],
    ] as const) {
      expect(b.pio.read(port, size)).toBe(a.pio.read(port, size));
    }
    expect(b.pio.read(EVT, 2) & Pm1Sts.TMR_STS).toBe(Pm1Sts.TMR_STS);
    expect(() => b.pm.restoreState({ version: 2, state: {} })).toThrow(/version/);
    expect(() => b.pm.restoreState({ version: 1, state: { ...(snap.state as object), en: 0x10000 } })).toThrow(/"en"/);
    expect(() => b.pm.restoreState({ version: 1, state: { ...(snap.state as object), gpeSts: new Uint8Array(5) } })).toThrow(/"gpeSts"/);
  });

  it('rejects bad options with a DeviceConfigurationError', () => {
    const clock = new VirtualClock();
    expect(() => new AcpiPm({ clock, timerBits: 16 as 24 })).toThrow(DeviceConfigurationError);
    expect(() => new AcpiPm({ clock, base: 0xfffa })).toThrow(DeviceConfigurationError);
    expect(() => new AcpiPm({ clock, gpe0: { length: 3 } })).toThrow(/even/);
    expect(() => new AcpiPm({ clock, gpe0: { base: 0x604 } })).toThrow(/overlaps/);
    expect(() => new AcpiPm({ clock, s5SlpTyp: 8 })).toThrow(DeviceConfigurationError);
  });
});

describe('ResetControl (port 0xCF9)', () => {
  function rc() {
    const pio = new PioBus();
    const resets: boolean[] = [];
    const chipset = new Chipset({ pio });
    chipset.add(new I440fxHostBridge());
    const dev = chipset.add(new ResetControl({ onReset: (hard) => resets.push(hard) }));
    return { pio, resets, dev };
  }

  it('sits at 0xCF9 beside the PCI host bridge (dword CONFIG_ADDRESS at 0xCF8)', () => {
    const { pio } = rc();
    expect(pio.find(0xcf9)?.name).toBe('reset-control');
    pio.write(0xcf8, 4, 0x8000_0000);
    expect(pio.read(0xcf8, 4)).toBe(0x8000_0000);
  });

  it('resets on RST_CPU, hard when SYS_RST is set (the FADT RESET_VALUE 0x06)', () => {
    const { pio, resets } = rc();
    pio.write(0xcf9, 1, 0x02);
    expect(resets).toEqual([]);
    expect(pio.read(0xcf9, 1)).toBe(0x02);
    pio.write(0xcf9, 1, 0x06);
    expect(resets).toEqual([true]);
    expect(pio.read(0xcf9, 1)).toBe(0x02); // RST_CPU does not stay set
    pio.write(0xcf9, 1, 0x06);
    expect(resets).toEqual([true, true]);
    pio.write(0xcf9, 1, 0x04);
    expect(resets).toEqual([true, true, false]);
    expect(pio.read(0xcf9, 1)).toBe(0x00);
    pio.write(0xcf9, 1, 0xfa); // reserved bits do not stick
    expect(pio.read(0xcf9, 1)).toBe(0x02);
  });

  it('resets to 0 and round-trips snapshots', () => {
    const { pio, dev } = rc();
    pio.write(0xcf9, 1, 0x02);
    const snap = dev.saveState();
    dev.reset();
    expect(pio.read(0xcf9, 1)).toBe(0);
    dev.restoreState(snap);
    expect(pio.read(0xcf9, 1)).toBe(2);
    expect(() => dev.restoreState({ version: 1, state: { value: 4 } })).toThrow();
  });
});
