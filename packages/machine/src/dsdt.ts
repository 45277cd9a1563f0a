/**
 * The DSDT's definition block for the hvkit PC (ACPI 6.5 §5.2.11.1): the PCI root bridge, the
 * interrupt links its slots' INTx pins reach, the ISA devices of the board, and `\_S5_`.
 *
 *     Scope (\_SB) {
 *       Device (PCI0)   _HID PNP0A03, _UID 0, _BBN 0, _CRS (bus 0-FF, ports CF8-CFF, I/O and
 *                       memory windows), _PRT (every slot's INTA-D to an interrupt link)
 *       Device (LNKA)   _HID PNP0C0F: one per PIRQ that reaches an IRQ; _PRS = _CRS = its IRQ
 *       ...
 *       Device (KBD)    ISA devices, one per entry of {@link DsdtConfig.devices}
 *       ...
 *     }
 *     Name (_S5, Package (4) { typ, typ, 0, 0 })
 *
 * Why interrupt links and not GSI numbers in the _PRT: a _PRT entry whose Source is 0 names a
 * global system interrupt, which an OS then programs as level-triggered, active low (the PCI
 * INTx# convention; Linux does exactly that). On this board the PIRQ router drives ISA IRQ
 * inputs of the 8259 pair and the I/O APIC active high (`I440fxHostBridge` raises the line
 * while any INTx# routed to it is asserted; the I/O APIC honours its polarity bit), so an
 * active-low pin would read as asserted when idle. A link's resource template carries the
 * polarity (§6.2.13, §6.4.3.6): Level, ActiveHigh, Shared, which is what the wire does.
 * The routing is fixed (no PIIX function in config space rewrites it), so each link offers
 * exactly its current IRQ in _PRS, and _SRS (which can only be asked for that IRQ) does nothing.
 */
import { pirqOf } from '@hvkit/devices';
import {
  AddressSpace,
  type Aml,
  AmlError,
  device,
  dwordAddress,
  eisaId,
  extendedInterrupt,
  integer,
  ioPort,
  irqNoFlags,
  memory32Fixed,
  method,
  name,
  nameString,
  pkg,
  resourceTemplate,
  returnValue,
  scope,
  wordAddress,
} from './aml.js';

/** The PCI root bridge (bus 0) and its INTx routing. */
export interface DsdtPciRoot {
  /** First address of the 32-bit memory window: the top of RAM below 4 GiB. */
  readonly memoryBase: number;
  /** Last address of that window; 0xFEBFFFFF by default (below the I/O APIC). */
  readonly memoryLimit?: number;
  /**
   * The ISA IRQ that PIRQA-D drive (`I440fxHostBridge.pirqRoute`), or null for a disabled
   * PIRQ. The board wires ISA IRQ n to I/O APIC pin n (IRQ 0 and 2 are not PCI routes).
   */
  readonly pirqIrqs: readonly [number | null, number | null, number | null, number | null];
}

/** An I/O port range. */
export interface DsdtIoRange {
  readonly base: number;
  readonly length: number;
}

/** A device with fixed resources, described by `_HID` and `_CRS` (§6.1.5, §6.2.2). */
export interface DsdtDevice {
  /** NameSeg, 1-4 characters (padded with '_'). */
  readonly name: string;
  /** EISA ID for `_HID`, e.g. PNP0303. */
  readonly hid: string;
  readonly uid?: number;
  readonly io?: readonly DsdtIoRange[];
  /** ISA IRQs, active high and edge-triggered (IRQNoFlags). */
  readonly irqs?: readonly number[];
  readonly memory?: readonly { readonly base: number; readonly length: number; readonly writable: boolean }[];
  /** A `_STA` method returning this (e.g. 0x0F: present, enabled, shown, functioning; §6.3.7). */
  readonly sta?: number;
}

export interface DsdtConfig {
  readonly pci?: DsdtPciRoot;
  readonly devices?: readonly DsdtDevice[];
}

/** The IRQ of each interrupt link, by link name (LNKA-LNKD for PIRQA-D). */
const LINK_NAMES = ['LNKA', 'LNKB', 'LNKC', 'LNKD'] as const;

const hidUid = (hid: string, uid: number): Aml[] => [name('_HID', integer(eisaId(hid))), name('_UID', integer(uid))];

/** `_CRS` of the root bridge (§6.2.2, §6.4.3.5): what bus 0 decodes. */
function pciRootResources(pci: DsdtPciRoot): Aml {
  const limit = pci.memoryLimit ?? 0xfebf_ffff;
  const windows: Aml[] = [
    wordAddress({ type: AddressSpace.BUS_NUMBER, min: 0, max: 0xff, typeFlags: 0 }),
    // The configuration mechanism's own ports: consumed by the bridge, not passed on.
    ioPort(0xcf8, 8),
    wordAddress({ type: AddressSpace.IO, min: 0x0000, max: 0x0cf7, typeFlags: 0x03 }),
    wordAddress({ type: AddressSpace.IO, min: 0x0d00, max: 0xffff, typeFlags: 0x03 }),
    // The legacy VGA window: read-write, cacheable.
    dwordAddress({ type: AddressSpace.MEMORY, min: 0xa_0000, max: 0xb_ffff, typeFlags: 0x03 }),
  ];
  if (pci.memoryBase <= limit) {
    // The PCI hole above low RAM: read-write, non-cacheable.
    windows.push(dwordAddress({ type: AddressSpace.MEMORY, min: pci.memoryBase, max: limit, typeFlags: 0x01 }));
  }
  return resourceTemplate(windows);
}

/**
 * `_PRT` (§6.2.13): for every device slot 0-31 and pin 0-3 (INTA-INTD), the package
 * { Address 0xSSSSFFFF (any function of slot S), Pin, Source (the link), Source Index 0 }.
 * The pin reaches PIRQ `pirqOf(slot, pin + 1)`, the swizzle the host bridge implements.
 */
function pciRouting(pci: DsdtPciRoot): Aml {
  const entries: Aml[] = [];
  for (let slot = 0; slot < 32; slot++) {
    for (let pin = 0; pin < 4; pin++) {
      const pirq = pirqOf(slot, pin + 1);
      if (pci.pirqIrqs[pirq] === null) continue;
      entries.push(pkg([integer(slot * 0x1_0000 + 0xffff), integer(pin), nameString(`\\_SB.${LINK_NAMES[pirq]}`), integer(0)]));
    }
  }
  return pkg(entries);
}

/**
 * An interrupt link (PNP0C0F, §6.2.13 "Interrupt link devices") fixed to `irq`: _PRS and _CRS
 * both the one level-triggered, active-high, shared interrupt; _SRS accepts it.
 */
function interruptLink(index: number, irq: number): Aml {
  const crs = resourceTemplate([extendedInterrupt({ level: true, activeLow: false, shared: true, interrupts: [irq] })]);
  return device(LINK_NAMES[index]!, [...hidUid('PNP0C0F', index + 1), name('_PRS', crs), name('_CRS', crs), method('_SRS', 1, [])]);
}

function pciRoot(pci: DsdtPciRoot): Aml[] {
  for (const irq of pci.pirqIrqs) {
    if (irq !== null && (!Number.isInteger(irq) || irq < 3 || irq > 15 || irq === 8 || irq === 13)) {
      throw new AmlError(`PIRQ route to IRQ ${irq} cannot be described (a PCI IRQ is 3-7, 9-12, 14 or 15)`);
    }
  }
  const links = pci.pirqIrqs.flatMap((irq, i) => (irq === null ? [] : [interruptLink(i, irq)]));
  return [
    // No _ADR: §6 distinguishes full device descriptors (_HID, enumerated by OSPM) from
    // augmented ones (_ADR, enumerated by their bus); a root bridge is the former.
    device('PCI0', [
      ...hidUid('PNP0A03', 0),
      name('_BBN', integer(0)), // §6.5.5: the bridge's bus number
      name('_CRS', pciRootResources(pci)),
      name('_PRT', pciRouting(pci)),
    ]),
    ...links,
  ];
}

function fixedDevice(d: DsdtDevice): Aml {
  const resources: Aml[] = [
    ...(d.io ?? []).map((r) => ioPort(r.base, r.length)),
    ...(d.irqs !== undefined && d.irqs.length > 0 ? [irqNoFlags(d.irqs)] : []),
    ...(d.memory ?? []).map((m) => memory32Fixed(m.base, m.length, m.writable)),
  ];
  return device(d.name, [
    ...hidUid(d.hid, d.uid ?? 0),
    ...(d.sta === undefined ? [] : [method('_STA', 0, [returnValue(integer(d.sta))])]),
    name('_CRS', resourceTemplate(resources)),
  ]);
}

/**
 * The S5 sleep-state object (§7.4.2): `Name (_S5, Package (4) { s5, s5, 0, 0 })`: SLP_TYP for
 * PM1a_CNT and PM1b_CNT (no PM1b block here; the same value is harmless), two reserved entries.
 */
export function s5Object(slpTyp: number): Aml {
  return name('_S5', pkg([integer(slpTyp), integer(slpTyp), integer(0), integer(0)]));
}

/** The DSDT's AML (without the table header). */
export function buildDsdtAml(config: DsdtConfig, s5SlpTyp: number): Uint8Array {
  const sb: Aml[] = [...(config.pci ? pciRoot(config.pci) : []), ...(config.devices ?? []).map(fixedDevice)];
  const terms: Aml[] = sb.length > 0 ? [scope('\\_SB', sb)] : [];
  return Uint8Array.from([...terms.flat(), ...s5Object(s5SlpTyp)]);
}

/** What the PC board has that an OS looks for in the namespace (see `pcDsdtDevices`). */
export interface PcDsdtDevicesOptions {
  /** COM1's base port and IRQ; null when the board has none. */
  readonly com1: { readonly base: number; readonly irq: number } | null;
  /** The HPET block's base address; null when there is none. */
  readonly hpetBase: number | null;
}

/**
 * The PC's ISA devices with their fixed resources (ports and IRQs as `pc.ts` wires them):
 *
 * | name | _HID    | what                 | resources                          |
 * |------|---------|----------------------|------------------------------------|
 * | PIC  | PNP0000 | 8259A pair           | 0x20-0x21, 0xA0-0xA1, ELCR 0x4D0-0x4D1, IRQ 2 |
 * | TMR  | PNP0100 | 8254 PIT             | 0x40-0x43, IRQ 0                   |
 * | SPKR | PNP0800 | speaker (port B)     | 0x61                               |
 * | RTC  | PNP0B00 | CMOS RTC             | 0x70-0x71, IRQ 8                   |
 * | FPU  | PNP0C04 | numeric error latch  | 0xF0, IRQ 13                       |
 * | KBD  | PNP0303 | 8042 keyboard        | 0x60, 0x64, IRQ 1                  |
 * | MOU  | PNP0F13 | 8042 aux (PS/2 mouse)| IRQ 12                             |
 * | COM1 | PNP0501 | 16550 UART           | base-base+7, its IRQ (when present)|
 * | HPET | PNP0103 | HPET                 | 1 KiB at its base (when present)   |
 *
 * IRQ 0 and 8 stay with the PIT and the RTC: the HPET takes them only in legacy replacement
 * mode, which the OS itself turns on (the HPET ACPI table tells it that it may).
 */
export function pcDsdtDevices(options: PcDsdtDevicesOptions): DsdtDevice[] {
  const out: DsdtDevice[] = [
    { name: 'PIC', hid: 'PNP0000', io: [{ base: 0x20, length: 2 }, { base: 0xa0, length: 2 }, { base: 0x4d0, length: 2 }], irqs: [2] },
    { name: 'TMR', hid: 'PNP0100', io: [{ base: 0x40, length: 4 }], irqs: [0] },
    { name: 'SPKR', hid: 'PNP0800', io: [{ base: 0x61, length: 1 }] },
    { name: 'RTC', hid: 'PNP0B00', io: [{ base: 0x70, length: 2 }], irqs: [8] },
    { name: 'FPU', hid: 'PNP0C04', io: [{ base: 0xf0, length: 1 }], irqs: [13] },
    { name: 'KBD', hid: 'PNP0303', io: [{ base: 0x60, length: 1 }, { base: 0x64, length: 1 }], irqs: [1], sta: 0x0f },
    { name: 'MOU', hid: 'PNP0F13', irqs: [12], sta: 0x0f },
  ];
  if (options.com1 !== null) out.push({ name: 'COM1', hid: 'PNP0501', uid: 1, io: [{ base: options.com1.base, length: 8 }], irqs: [options.com1.irq], sta: 0x0f });
  if (options.hpetBase !== null) out.push({ name: 'HPET', hid: 'PNP0103', memory: [{ base: options.hpetBase, length: 0x400, writable: false }], sta: 0x0f });
  return out;
}
