/**
 * ACPI tables for an emulated PC, after the ACPI Specification 6.4 (section numbers below are
 * that edition's) and the IA-PC HPET Specification 1.0a.
 *
 * {@link buildAcpiTables} lays out, from `base` upwards, one contiguous blob:
 *
 * | table | signature | revision | what it says                                                    |
 * |-------|-----------|----------|-----------------------------------------------------------------|
 * | FACS  | `FACS`    | 2        | 64 bytes, 64-byte aligned (§5.2.10); no waking vector, no lock  |
 * | DSDT  | `DSDT`    | 2        | the PCI root bridge and ISA devices (`dsdt.ts`), `\_S5_` (§7.4.2) |
 * | FADT  | `FACP`    | 6.4      | fixed hardware of `AcpiPm`, reset register, boot flags (§5.2.9) |
 * | MADT  | `APIC`    | 5        | local APICs (x2APIC when needed), I/O APIC, overrides, NMI      |
 * | HPET  | `HPET`    | 1        | the HPET block, when configured (HPET spec §3.2.4)              |
 * | RSDT  | `RSDT`    | 1        | 32-bit pointers to FADT, MADT, HPET (§5.2.7)                    |
 * | XSDT  | `XSDT`    | 1        | the same as 64-bit pointers (§5.2.8)                            |
 *
 * and a separate RSDP (§5.2.5.3, revision 2, 36 bytes) at `rsdpAddress`, a 16-byte boundary in
 * the BIOS area 0xE0000-0xFFFFF where an OS scans for it (§5.2.5.1).
 *
 * The FADT is revision 6 with minor version 4 (ACPI 6.4, 276 bytes): every fixed-hardware block
 * appears both as a 32-bit port (PM1a_EVT_BLK...) and as a Generic Address Structure (X_PM1a_EVT_BLK...).
 * SMI_CMD is 0: there is no System Management Mode, so the platform is always in ACPI mode and
 * `AcpiPm` comes out of reset with SCI_EN set (§4.8.3.4). There is no PM1b, PM2 or GPE1 block,
 * and the table is not hardware-reduced.
 *
 * Every table header (§5.2.6) carries the OEM ID, OEM table ID, OEM revision 1, creator ID
 * `HVKT` and creator revision 1, and a checksum that makes the table's bytes sum to 0 mod 256.
 * The tables are plain bytes: {@link writeAcpiTables} copies them to guest memory.
 */
import { ByteWriter } from './byte-writer.js';
import { hex, type Hpa, type PhysicalMemory } from '@hvkit/platform';
import { AmlError } from './aml.js';
import { buildDsdtAml, type DsdtConfig } from './dsdt.js';

/** A configuration that cannot be described by the tables (bad field values, overlapping placement). */
export class AcpiTableError extends Error {
  override readonly name = 'AcpiTableError';
}

/** One processor: its (x2)APIC ID and whether it is usable (MADT "Enabled" flag). */
export interface AcpiCpu {
  readonly apicId: number;
  readonly enabled: boolean;
}

/** MPS INTI flags of an interrupt source override (§5.2.12.5, table "MPS INTI Flags"). */
export const MpsIntiFlags = {
  POLARITY_CONFORMS: 0b00,
  ACTIVE_HIGH: 0b01,
  ACTIVE_LOW: 0b11,
  TRIGGER_CONFORMS: 0b00 << 2,
  EDGE: 0b01 << 2,
  LEVEL: 0b11 << 2,
} as const;

/** An ISA interrupt that reaches the I/O APIC on another GSI or with other polarity/trigger (§5.2.12.5). */
export interface AcpiInterruptOverride {
  /** 0: ISA. */
  readonly bus: 0;
  /** The ISA IRQ. */
  readonly source: number;
  /** The global system interrupt it is wired to. */
  readonly gsi: number;
  /** {@link MpsIntiFlags}. */
  readonly flags: number;
}

/** The PM block's ports, as `AcpiPm.layout` in `@hvkit/devices` reports them. */
export interface AcpiPmConfig {
  readonly pm1aEvt: number;
  readonly pm1aCnt: number;
  readonly pmTmr: number;
  readonly gpe0?: number;
  /** GPE0_BLK_LEN; 4 by default when `gpe0` is given. */
  readonly gpe0Length?: number;
  readonly sciIrq: number;
  /** The PM timer is 32 bits wide (FADT flag TMR_VAL_EXT). */
  readonly tmrValExt: boolean;
  /** The SLP_TYP value the DSDT's `\_S5_` package gives; 0 (PIIX4 soft off) by default. */
  readonly s5SlpTyp?: number;
}

export interface AcpiHpetConfig {
  /** The block's physical base address. */
  readonly address: number;
  /** The Event Timer Block ID: the low half of the block's General Capabilities and ID register (`Hpet.eventTimerBlockId`). */
  readonly blockId: number;
  /** The HPET number (sequence number of the block); 0 by default. */
  readonly number?: number;
  /** Main counter minimum clock tick in periodic mode; 0x80 by default (as QEMU). */
  readonly minTick?: number;
  /** Page protection and OEM attribute; 0 (no guarantee) by default. */
  readonly pageProtection?: number;
}

export interface AcpiTablesConfig {
  /** OEM ID, up to 6 printable ASCII characters, padded with spaces; "HVKIT" by default. */
  readonly oemId?: string;
  /** OEM table ID, up to 8 characters; "HVKITPC" by default. */
  readonly oemTableId?: string;
  /** In MADT order; CPU n gets ACPI processor UID n. */
  readonly cpus: readonly AcpiCpu[];
  readonly ioApic: { readonly id: number; readonly address: number; readonly gsiBase: number };
  /** By default {@link defaultInterruptOverrides} for `pm.sciIrq` and the PCI IRQs of `dsdt.pci`. */
  readonly overrides?: readonly AcpiInterruptOverride[];
  /** 0xFEE00000 by default. */
  readonly localApicAddress?: number;
  readonly pm: AcpiPmConfig;
  /** The reset register (an I/O port) and the value that resets; 0xCF9 and 0x06 by default. */
  readonly reset?: { readonly port: number; readonly value: number };
  readonly hpet?: AcpiHpetConfig;
  /** The devices the DSDT describes besides `\_S5_` (none by default); see `dsdt.ts`. */
  readonly dsdt?: DsdtConfig;
  /**
   * MADT processor entries: `'auto'` (default) uses Processor Local APIC entries for APIC IDs
   * below 255 and Processor Local x2APIC entries for the others, as §5.2.12.12 requires;
   * `true` uses x2APIC entries for every CPU; `false` never does (APIC IDs must be below 255).
   */
  readonly useX2apicEntries?: 'auto' | boolean;
  /** Where the blob (FACS, DSDT, FADT, MADT, HPET, RSDT, XSDT) starts; it must end below 4 GiB. */
  readonly base: number;
  /** Where the RSDP goes: 16-byte aligned, within 0xE0000-0xFFFFF. */
  readonly rsdpAddress: number;
}

export interface AcpiTables {
  readonly rsdp: { readonly address: number; readonly bytes: Uint8Array };
  readonly blob: { readonly address: number; readonly bytes: Uint8Array };
  /** Every table in the blob (and the RSDP), by signature. */
  readonly tables: readonly { readonly name: string; readonly address: number; readonly length: number }[];
}

/** FADT fixed feature flags (§5.2.9, table "Fixed ACPI Description Table Fixed Feature Flags"). */
export const FadtFlags = {
  WBINVD: 1 << 0,
  WBINVD_FLUSH: 1 << 1,
  PROC_C1: 1 << 2,
  P_LVL2_UP: 1 << 3,
  /** Set: the power button is a control-method device (or absent); clear: fixed hardware. */
  PWR_BUTTON: 1 << 4,
  /** Set: the sleep button is a control-method device (or absent); clear: fixed hardware. */
  SLP_BUTTON: 1 << 5,
  FIX_RTC: 1 << 6,
  RTC_S4: 1 << 7,
  TMR_VAL_EXT: 1 << 8,
  DCK_CAP: 1 << 9,
  RESET_REG_SUP: 1 << 10,
  SEALED_CASE: 1 << 11,
  HEADLESS: 1 << 12,
  CPU_SW_SLP: 1 << 13,
  PCI_EXP_WAK: 1 << 14,
  USE_PLATFORM_CLOCK: 1 << 15,
  S4_RTC_STS_VALID: 1 << 16,
  REMOTE_POWER_ON_CAPABLE: 1 << 17,
  FORCE_APIC_CLUSTER_MODEL: 1 << 18,
  FORCE_APIC_PHYSICAL_DESTINATION_MODE: 1 << 19,
  HW_REDUCED_ACPI: 1 << 20,
  LOW_POWER_S0_IDLE_CAPABLE: 1 << 21,
} as const;

/** FADT IAPC_BOOT_ARCH flags (§5.2.9.3). */
export const IapcBootArch = {
  LEGACY_DEVICES: 1 << 0,
  I8042: 1 << 1,
  VGA_NOT_PRESENT: 1 << 2,
  MSI_NOT_SUPPORTED: 1 << 3,
  PCIE_ASPM_CONTROLS: 1 << 4,
  CMOS_RTC_NOT_PRESENT: 1 << 5,
} as const;

/** MADT interrupt controller structure types (§5.2.12, table "Interrupt Controller Structure Types"). */
export const MadtType = {
  LOCAL_APIC: 0,
  IO_APIC: 1,
  INTERRUPT_SOURCE_OVERRIDE: 2,
  LOCAL_APIC_NMI: 4,
  LOCAL_X2APIC: 9,
  LOCAL_X2APIC_NMI: 0x0a,
} as const;

/** Generic Address Structure address space IDs (§5.2.3.2). */
export const GasSpace = { SYSTEM_MEMORY: 0, SYSTEM_IO: 1 } as const;
/** Generic Address Structure access sizes (§5.2.3.2). */
export const GasAccess = { UNDEFINED: 0, BYTE: 1, WORD: 2, DWORD: 3, QWORD: 4 } as const;

export const FADT_REVISION = 6;
export const FADT_MINOR_VERSION = 4;
export const FADT_LENGTH = 276;
export const MADT_REVISION = 5;
export const FACS_LENGTH = 64;
export const FACS_VERSION = 2;
export const RSDP_LENGTH = 36;
export const ACPI_HEADER_LENGTH = 36;
/** The MADT "PCAT_COMPAT" flag: the system also has dual 8259s (§5.2.12, "Multiple APIC Flags"). */
export const MADT_PCAT_COMPAT = 1;
/** The century byte of the CMOS RTC (FADT CENTURY). */
const RTC_CENTURY_INDEX = 0x32;
const CREATOR_ID = 'HVKT';
const CREATOR_REVISION = 1;
const OEM_REVISION = 1;

/**
 * The overrides a PC's I/O APIC needs (as QEMU's pc machine gives them): ISA IRQ 0 (the PIT) on
 * GSI 2 with the ISA bus's own polarity and trigger, and the SCI level-triggered, active high,
 * on its own GSI (§5.2.12.5; the SCI is "a shareable, level, active low interrupt" by default,
 * §5.2.9, which is why it needs the override to be active high). Each ISA IRQ in `pciIrqs`
 * (where the PIRQ router sends PCI INTx) is level-triggered, active high on its own GSI too:
 * the router drives the ISA line high while an INTx# is asserted.
 */
export function defaultInterruptOverrides(sciIrq: number, pciIrqs: readonly number[] = []): AcpiInterruptOverride[] {
  const levelHigh = MpsIntiFlags.ACTIVE_HIGH | MpsIntiFlags.LEVEL;
  const out: AcpiInterruptOverride[] = [
    { bus: 0, source: 0, gsi: 2, flags: MpsIntiFlags.POLARITY_CONFORMS | MpsIntiFlags.TRIGGER_CONFORMS },
    { bus: 0, source: sciIrq, gsi: sciIrq, flags: levelHigh },
  ];
  for (const irq of [...new Set(pciIrqs)].sort((a, b) => a - b)) {
    if (irq !== 0 && irq !== sciIrq) out.push({ bus: 0, source: irq, gsi: irq, flags: levelHigh });
  }
  return out;
}

/** The byte that makes `bytes` sum to 0 mod 256 when stored in place of a zero byte. */
export function acpiChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

// ---- small writers ----------------------------------------------------------------------------

class Writer extends ByteWriter {
  /** A Generic Address Structure (§5.2.3.2): 12 bytes. */
  gas(at: number, space: number, bitWidth: number, bitOffset: number, accessSize: number, address: number): void {
    this.u8(at, space);
    this.u8(at + 1, bitWidth);
    this.u8(at + 2, bitOffset);
    this.u8(at + 3, accessSize);
    this.u64(at + 4, address);
  }
}

interface HeaderFields {
  readonly oemId: string;
  readonly oemTableId: string;
}

/** A table of `length` bytes with its §5.2.6 header filled in (checksum left for {@link seal}). */
function table(signature: string, length: number, revision: number, ids: HeaderFields): Writer {
  const w = new Writer(length);
  w.ascii(0, signature, 4);
  w.u32(4, length);
  w.u8(8, revision);
  // 9: checksum, set by seal()
  w.ascii(10, ids.oemId, 6);
  w.ascii(16, ids.oemTableId, 8);
  w.u32(24, OEM_REVISION);
  w.ascii(28, CREATOR_ID, 4);
  w.u32(32, CREATOR_REVISION);
  return w;
}

function seal(w: Writer): Uint8Array {
  w.u8(9, 0);
  w.u8(9, acpiChecksum(w.bytes));
  return w.bytes;
}

// ---- checks -----------------------------------------------------------------------------------

function check(ok: boolean, message: string): void {
  if (!ok) throw new AcpiTableError(message);
}

function isUint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

function checkUint(v: unknown, max: number, what: string): number {
  check(isUint(v, max), `${what} ${String(v)} is not an integer from 0 to ${hex(max)}`);
  return v as number;
}

function checkId(s: string, length: number, what: string): string {
  check(typeof s === 'string' && s.length <= length && /^[\x20-\x7e]*$/.test(s), `${what} "${String(s)}" is not up to ${length} printable ASCII characters`);
  return s;
}

const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;

// ---- the builder ------------------------------------------------------------------------------

/** Builds the ACPI tables of `config`. Throws an {@link AcpiTableError} for a configuration they cannot describe. */
export function buildAcpiTables(config: AcpiTablesConfig): AcpiTables {
  const ids: HeaderFields = {
    oemId: checkId(config.oemId ?? 'HVKIT', 6, 'OEM ID'),
    oemTableId: checkId(config.oemTableId ?? 'HVKITPC', 8, 'OEM table ID'),
  };
  const base = checkUint(config.base, 0xffff_ffff, 'table base address');
  const rsdpAddress = config.rsdpAddress;
  check(
    isUint(rsdpAddress, 0xfffff) && rsdpAddress >= 0xe0000 && rsdpAddress % 16 === 0 && rsdpAddress + RSDP_LENGTH <= 0x10_0000,
    `RSDP address ${String(rsdpAddress)} is not a 16-byte boundary within 0xe0000-0xfffff, where an OS looks for it`,
  );

  // ---- validate the hardware description ----
  const cpus = config.cpus;
  check(Array.isArray(cpus) && cpus.length > 0, 'the tables need at least one CPU');
  const x2 = config.useX2apicEntries ?? 'auto';
  const seen = new Set<number>();
  const useX2 = cpus.map((c, i) => {
    checkUint(c.apicId, 0xffff_fffe, `CPU ${i} APIC ID`);
    check(!seen.has(c.apicId), `CPU ${i} repeats APIC ID ${c.apicId}`);
    seen.add(c.apicId);
    const wide = x2 === true || c.apicId >= 0xff;
    check(!wide || x2 !== false, `CPU ${i} has APIC ID ${c.apicId}, which needs a Processor Local x2APIC entry (useX2apicEntries is false)`);
    check(wide || i <= 0xfe, `CPU ${i} has APIC ID ${c.apicId} below 255 but its ACPI processor UID ${i} does not fit a Processor Local APIC entry`);
    return wide;
  });
  const anyX2 = useX2.some((w) => w);
  const ioApic = config.ioApic;
  checkUint(ioApic.id, 0xff, 'I/O APIC ID');
  checkUint(ioApic.address, 0xffff_ffff, 'I/O APIC address');
  checkUint(ioApic.gsiBase, 0xffff_ffff, 'I/O APIC GSI base');
  const pm = config.pm;
  checkUint(pm.pm1aEvt, 0xffff, 'PM1a_EVT_BLK port');
  checkUint(pm.pm1aCnt, 0xffff, 'PM1a_CNT_BLK port');
  checkUint(pm.pmTmr, 0xffff, 'PM_TMR_BLK port');
  checkUint(pm.sciIrq, 0xffff, 'SCI_INT');
  const gpe0 = pm.gpe0 === undefined ? 0 : checkUint(pm.gpe0, 0xffff, 'GPE0_BLK port');
  const gpe0Length = pm.gpe0 === undefined ? 0 : checkUint(pm.gpe0Length ?? 4, 0xfe, 'GPE0_BLK_LEN');
  check(gpe0Length % 2 === 0 && (pm.gpe0 === undefined || gpe0Length > 0), `GPE0_BLK_LEN ${gpe0Length} is not a positive even number`);
  const s5 = checkUint(pm.s5SlpTyp ?? 0, 7, 'S5 SLP_TYP');
  const pirqIrqs: readonly (number | null)[] = config.dsdt?.pci?.pirqIrqs ?? [];
  const pciIrqs = pirqIrqs.filter((irq): irq is number => irq !== null);
  const overrides = config.overrides ?? defaultInterruptOverrides(pm.sciIrq, pciIrqs);
  for (const [i, o] of overrides.entries()) {
    check(o.bus === 0, `interrupt override ${i} is not on bus 0 (ISA)`);
    checkUint(o.source, 0xff, `interrupt override ${i} source IRQ`);
    checkUint(o.gsi, 0xffff_ffff, `interrupt override ${i} GSI`);
    checkUint(o.flags, 0xffff, `interrupt override ${i} flags`);
  }
  const localApicAddress = checkUint(config.localApicAddress ?? 0xfee0_0000, 0xffff_ffff, 'local APIC address');
  const reset = config.reset ?? { port: 0xcf9, value: 0x06 };
  checkUint(reset.port, 0xffff, 'reset register port');
  checkUint(reset.value, 0xff, 'reset value');
  const hpet = config.hpet;
  if (hpet) {
    check(isUint(hpet.address, 2 ** 52 - 1), `HPET address ${String(hpet.address)} is not a physical address`);
    checkUint(hpet.blockId, 0xffff_ffff, 'HPET event timer block ID');
    checkUint(hpet.number ?? 0, 0xff, 'HPET number');
    checkUint(hpet.minTick ?? 0x80, 0xffff, 'HPET minimum clock tick');
    checkUint(hpet.pageProtection ?? 0, 0xff, 'HPET page protection');
  }

  // ---- lay the blob out ----
  const facsAt = alignUp(base, 64);
  let dsdtAml: Uint8Array;
  try {
    dsdtAml = buildDsdtAml(config.dsdt ?? {}, s5);
  } catch (e) {
    if (e instanceof AmlError) throw new AcpiTableError(`the DSDT cannot describe the devices: ${e.message}`);
    throw e;
  }
  const dsdtLength = ACPI_HEADER_LENGTH + dsdtAml.length;
  const dsdtAt = facsAt + FACS_LENGTH;
  const fadtAt = alignUp(dsdtAt + dsdtLength, 16);
  const madtEntries =
    cpus.reduce((n, _c, i) => n + (useX2[i] ? 16 : 8), 0) + 12 + 10 * overrides.length + 6 + (anyX2 ? 12 : 0);
  const madtLength = ACPI_HEADER_LENGTH + 8 + madtEntries;
  const madtAt = alignUp(fadtAt + FADT_LENGTH, 16);
  const hpetLength = 56;
  const hpetAt = alignUp(madtAt + madtLength, 16);
  const pointed = hpet ? 3 : 2;
  const rsdtAt = alignUp(hpet ? hpetAt + hpetLength : madtAt + madtLength, 16);
  const rsdtLength = ACPI_HEADER_LENGTH + 4 * pointed;
  const xsdtAt = alignUp(rsdtAt + rsdtLength, 16);
  const xsdtLength = ACPI_HEADER_LENGTH + 8 * pointed;
  const end = xsdtAt + xsdtLength;
  check(end <= 0x1_0000_0000, `the tables (${hex(base)}-${hex(end - 1)}) do not end below 4 GiB, as the RSDT's 32-bit pointers need`);
  check(
    rsdpAddress + RSDP_LENGTH <= base || rsdpAddress >= end,
    `the RSDP at ${hex(rsdpAddress)} overlaps the tables at ${hex(base)}-${hex(end - 1)}`,
  );

  // ---- FACS (§5.2.10): no checksum; waking vectors and the global lock start at 0 ----
  const facs = new Writer(FACS_LENGTH);
  facs.ascii(0, 'FACS', 4);
  facs.u32(4, FACS_LENGTH);
  facs.u8(32, FACS_VERSION);

  // ---- DSDT (§5.2.11.1) ----
  const dsdt = table('DSDT', dsdtLength, 2, ids); // revision 2: AML integers are 64-bit
  dsdt.bytes.set(dsdtAml, ACPI_HEADER_LENGTH);

  // ---- FADT (§5.2.9) ----
  const f = table('FACP', FADT_LENGTH, FADT_REVISION, ids);
  f.u32(36, facsAt); // FIRMWARE_CTRL (X_FIRMWARE_CTRL must then be 0)
  f.u32(40, dsdtAt); // DSDT
  f.u8(45, 0); // Preferred_PM_Profile: unspecified
  f.u16(46, pm.sciIrq); // SCI_INT
  f.u32(48, 0); // SMI_CMD: no SMM; ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT stay 0
  f.u32(56, pm.pm1aEvt); // PM1a_EVT_BLK
  f.u32(64, pm.pm1aCnt); // PM1a_CNT_BLK
  f.u32(76, pm.pmTmr); // PM_TMR_BLK
  f.u32(80, gpe0); // GPE0_BLK
  f.u8(88, 4); // PM1_EVT_LEN
  f.u8(89, 2); // PM1_CNT_LEN
  f.u8(91, 4); // PM_TMR_LEN
  f.u8(92, gpe0Length); // GPE0_BLK_LEN
  f.u16(96, 0x0fff); // P_LVL2_LAT > 100: no C2
  f.u16(98, 0x0fff); // P_LVL3_LAT > 1000: no C3
  f.u8(108, RTC_CENTURY_INDEX); // CENTURY
  f.u16(109, IapcBootArch.LEGACY_DEVICES | IapcBootArch.I8042); // IAPC_BOOT_ARCH
  f.u32(
    112,
    FadtFlags.WBINVD | FadtFlags.PROC_C1 | FadtFlags.SLP_BUTTON | FadtFlags.RESET_REG_SUP | (pm.tmrValExt ? FadtFlags.TMR_VAL_EXT : 0),
  );
  f.gas(116, GasSpace.SYSTEM_IO, 8, 0, GasAccess.BYTE, reset.port); // RESET_REG
  f.u8(128, reset.value); // RESET_VALUE
  f.u8(131, FADT_MINOR_VERSION);
  f.u64(140, dsdtAt); // X_DSDT
  f.gas(148, GasSpace.SYSTEM_IO, 32, 0, GasAccess.WORD, pm.pm1aEvt); // X_PM1a_EVT_BLK: two 16-bit registers
  f.gas(172, GasSpace.SYSTEM_IO, 16, 0, GasAccess.WORD, pm.pm1aCnt); // X_PM1a_CNT_BLK
  f.gas(208, GasSpace.SYSTEM_IO, 32, 0, GasAccess.DWORD, pm.pmTmr); // X_PM_TMR_BLK
  if (gpe0Length > 0) f.gas(220, GasSpace.SYSTEM_IO, gpe0Length * 8, 0, GasAccess.BYTE, gpe0); // X_GPE0_BLK

  // ---- MADT (§5.2.12) ----
  const m = table('APIC', madtLength, MADT_REVISION, ids);
  m.u32(36, localApicAddress);
  m.u32(40, MADT_PCAT_COMPAT);
  let at = 44;
  cpus.forEach((c, uid) => {
    const enabled = c.enabled ? 1 : 0;
    if (useX2[uid]) {
      // §5.2.12.12 Processor Local x2APIC Structure
      m.u8(at, MadtType.LOCAL_X2APIC);
      m.u8(at + 1, 16);
      m.u32(at + 4, c.apicId);
      m.u32(at + 8, enabled);
      m.u32(at + 12, uid);
      at += 16;
    } else {
      // §5.2.12.2 Processor Local APIC Structure
      m.u8(at, MadtType.LOCAL_APIC);
      m.u8(at + 1, 8);
      m.u8(at + 2, uid);
      m.u8(at + 3, c.apicId);
      m.u32(at + 4, enabled);
      at += 8;
    }
  });
  // §5.2.12.3 I/O APIC Structure
  m.u8(at, MadtType.IO_APIC);
  m.u8(at + 1, 12);
  m.u8(at + 2, ioApic.id);
  m.u32(at + 4, ioApic.address);
  m.u32(at + 8, ioApic.gsiBase);
  at += 12;
  for (const o of overrides) {
    // §5.2.12.5 Interrupt Source Override Structure
    m.u8(at, MadtType.INTERRUPT_SOURCE_OVERRIDE);
    m.u8(at + 1, 10);
    m.u8(at + 2, o.bus);
    m.u8(at + 3, o.source);
    m.u32(at + 4, o.gsi);
    m.u16(at + 8, o.flags);
    at += 10;
  }
  // §5.2.12.7 Local APIC NMI Structure: LINT1 of every processor (UID 0xFF) is the NMI input.
  m.u8(at, MadtType.LOCAL_APIC_NMI);
  m.u8(at + 1, 6);
  m.u8(at + 2, 0xff);
  m.u16(at + 3, 0);
  m.u8(at + 5, 1);
  at += 6;
  if (anyX2) {
    // §5.2.12.13 Local x2APIC NMI Structure: the same for x2APIC processors (UID 0xFFFFFFFF = all).
    m.u8(at, MadtType.LOCAL_X2APIC_NMI);
    m.u8(at + 1, 12);
    m.u16(at + 2, 0);
    m.u32(at + 4, 0xffff_ffff);
    m.u8(at + 8, 1);
    at += 12;
  }

  // ---- HPET (HPET spec §3.2.4, "The ACPI 2.0 HPET Description Table (HPET)") ----
  let hpetTable: Uint8Array | undefined;
  if (hpet) {
    const h = table('HPET', hpetLength, 1, ids);
    h.u32(36, hpet.blockId);
    h.gas(40, GasSpace.SYSTEM_MEMORY, 64, 0, GasAccess.UNDEFINED, hpet.address);
    h.u8(52, hpet.number ?? 0);
    h.u16(53, hpet.minTick ?? 0x80);
    h.u8(55, hpet.pageProtection ?? 0);
    hpetTable = seal(h);
  }

  // ---- RSDT (§5.2.7) and XSDT (§5.2.8) ----
  const entries = hpet ? [fadtAt, madtAt, hpetAt] : [fadtAt, madtAt];
  const rsdt = table('RSDT', rsdtLength, 1, ids);
  const xsdt = table('XSDT', xsdtLength, 1, ids);
  entries.forEach((a, i) => {
    rsdt.u32(ACPI_HEADER_LENGTH + 4 * i, a);
    xsdt.u64(ACPI_HEADER_LENGTH + 8 * i, a);
  });

  // ---- RSDP (§5.2.5.3) ----
  const r = new Writer(RSDP_LENGTH);
  r.ascii(0, 'RSD PTR ', 8);
  r.ascii(9, ids.oemId, 6);
  r.u8(15, 2); // revision 2: ACPI 2.0 and later
  r.u32(16, rsdtAt);
  r.u32(20, RSDP_LENGTH);
  r.u64(24, xsdtAt);
  r.u8(8, acpiChecksum(r.bytes.subarray(0, 20))); // over the ACPI 1.0 part
  r.u8(32, acpiChecksum(r.bytes)); // extended checksum over all 36 bytes

  const blob = new Uint8Array(end - base);
  const placed: { name: string; address: number; length: number }[] = [{ name: 'RSDP', address: rsdpAddress, length: RSDP_LENGTH }];
  const put = (name: string, address: number, bytes: Uint8Array): void => {
    blob.set(bytes, address - base);
    placed.push({ name, address, length: bytes.length });
  };
  put('FACS', facsAt, facs.bytes);
  put('DSDT', dsdtAt, seal(dsdt));
  put('FACP', fadtAt, seal(f));
  put('APIC', madtAt, seal(m));
  if (hpetTable) put('HPET', hpetAt, hpetTable);
  put('RSDT', rsdtAt, seal(rsdt));
  put('XSDT', xsdtAt, seal(xsdt));
  return { rsdp: { address: rsdpAddress, bytes: r.bytes }, blob: { address: base, bytes: blob }, tables: placed };
}

/**
 * Copies the RSDP and the blob into guest memory. Both places must be RAM: a write to ROM is
 * dropped by `PhysicalMemory`, so a board that keeps its BIOS area in ROM puts the RSDP bytes
 * into the ROM image instead.
 */
export function writeAcpiTables(memory: Pick<PhysicalMemory, 'write'>, tables: AcpiTables): void {
  memory.write(tables.rsdp.address as Hpa, tables.rsdp.bytes);
  memory.write(tables.blob.address as Hpa, tables.blob.bytes);
}
