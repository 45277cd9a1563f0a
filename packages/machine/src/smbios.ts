/**
 * SMBIOS tables for an emulated PC, after the DMTF System Management BIOS (SMBIOS) Reference
 * Specification, DSP0134 version 3.0 (section and table numbers below are that edition's; they
 * have stayed the same in the 3.x editions since).
 *
 * {@link buildSmbiosTables} makes two entry points and one structure table:
 *
 * - the SMBIOS 3.0 (64-bit) entry point `_SM3_` (§5.2.2, 24 bytes) at `entryPointAddress`, and
 * - the SMBIOS 2.1 (32-bit) entry point `_SM_` (§5.2.1, 31 bytes, version 2.8, with the `_DMI_`
 *   intermediate anchor) 32 bytes above it,
 *
 * both on 16-byte boundaries in 0xF0000-0xFFFFF, where software without EFI looks for them
 * (§5.2.1, §5.2.2: "searching for the anchor-string on paragraph (16-byte) boundaries within the
 * physical memory address range 000F0000h to 000FFFFFh"). Both point at the same table, whose
 * structures have their SMBIOS 3.0 lengths; a 2.8 reader skips the fields it does not know by
 * the Length byte (§6.1.2). An OS that knows both prefers the 3.0 entry point (§5.2).
 *
 * | type | structure (section)                         | what it says                                            |
 * |------|---------------------------------------------|---------------------------------------------------------|
 * | 0    | BIOS Information (§7.1)                     | vendor, version, date, 64 KiB at F000h, ACPI, a VM      |
 * | 1    | System Information (§7.2)                   | manufacturer, product, version, UUID, power-switch wake |
 * | 3    | System Enclosure or Chassis (§7.4)          | type Other, all states Safe, no security                |
 * | 4    | Processor Information (§7.5), one per CPU   | "CPU n", family, CPUID signature and features, speed    |
 * | 16   | Physical Memory Array (§7.17)               | system memory on the board, no ECC, one device          |
 * | 17   | Memory Device (§7.18)                       | "DIMM 0" holding all of RAM                             |
 * | 19   | Memory Array Mapped Address (§7.20)         | RAM below 4 GiB, and above it when there is any         |
 * | 32   | System Boot Information (§7.33)             | no errors detected                                      |
 * | 127  | End-of-Table (§7.45)                        |                                                         |
 *
 * Handles count up from 0 in that order. Every structure's formatted area is followed by its
 * string-set: the strings, each NUL-terminated, then one more NUL; a structure without strings
 * ends in two NULs (§6.1.3). A string field holds the string's 1-based number, or 0 for none.
 * The tables are plain bytes: {@link writeSmbiosTables} copies them to guest memory.
 */
import { asciiBytes, ByteWriter } from './byte-writer.js';
import { hex, type Hpa, type PhysicalMemory } from '@hvkit/platform';
import { signature, type CpuModel } from '@hvkit/x86';

/** A configuration that cannot be described by the tables (bad field values, overlapping placement). */
export class SmbiosTableError extends Error {
  override readonly name = 'SmbiosTableError';
}

/** SMBIOS structure types used here (§7, Table 3). */
export const SmbiosType = {
  BIOS_INFORMATION: 0,
  SYSTEM_INFORMATION: 1,
  SYSTEM_ENCLOSURE: 3,
  PROCESSOR_INFORMATION: 4,
  PHYSICAL_MEMORY_ARRAY: 16,
  MEMORY_DEVICE: 17,
  MEMORY_ARRAY_MAPPED_ADDRESS: 19,
  SYSTEM_BOOT_INFORMATION: 32,
  END_OF_TABLE: 127,
} as const;

/** The structures' formatted-area lengths, as SMBIOS 3.0 defines them. */
export const SmbiosLength = {
  /** §7.1: 18h for 2.4 and later (3.1 adds the Extended BIOS ROM Size). */
  BIOS_INFORMATION: 0x18,
  /** §7.2: 1Bh for 2.4 and later. */
  SYSTEM_INFORMATION: 0x1b,
  /** §7.4: 15h + n*m + 1 for 2.7 and later; no contained elements here (n = 0). */
  SYSTEM_ENCLOSURE: 0x16,
  /** §7.5: 30h for 3.0 (Core Count 2, Core Enabled 2, Thread Count 2). */
  PROCESSOR_INFORMATION: 0x30,
  /** §7.17: 17h for 2.7 and later (Extended Maximum Capacity). */
  PHYSICAL_MEMORY_ARRAY: 0x17,
  /** §7.18: 28h for 2.8 and 3.0 (voltages). */
  MEMORY_DEVICE: 0x28,
  /** §7.20: 1Fh for 2.7 and later (extended addresses). */
  MEMORY_ARRAY_MAPPED_ADDRESS: 0x1f,
  /** §7.33: 0Ah + the one-byte boot status. */
  SYSTEM_BOOT_INFORMATION: 0x0b,
  /** §7.45. */
  END_OF_TABLE: 0x04,
} as const;

/** §5.2.1: the 32-bit entry point is 1Fh bytes. */
export const SMBIOS_ENTRY_POINT_32_LENGTH = 0x1f;
/** §5.2.2: the 64-bit entry point is 18h bytes. */
export const SMBIOS_ENTRY_POINT_64_LENGTH = 0x18;
/** Where the 32-bit entry point sits relative to `entryPointAddress` (after the 64-bit one). */
export const SMBIOS_ENTRY_POINT_32_OFFSET = 0x20;
/** The versions the entry points announce. */
export const SMBIOS_VERSION_32 = { major: 2, minor: 8 } as const;
export const SMBIOS_VERSION_64 = { major: 3, minor: 0, docrev: 0 } as const;

/** §7.5.2 Table 23, Processor Family values used here. */
export const ProcessorFamily = {
  OTHER: 0x01,
  UNKNOWN: 0x02,
  /** "AMD Zen Processor Family". */
  AMD_ZEN: 0x6b,
  /** "Intel® Xeon™ processor". */
  INTEL_XEON: 0xb3,
} as const;

/** One processor socket (hvkit: one per vCPU). */
export interface SmbiosCpu {
  readonly model: CpuModel;
  /**
   * CPUID.01H:EDX as the core reports it, for the Processor ID (§7.5.3): the model's feature
   * bits plus what the board adds (the APIC bit follows the local APIC). The model's by default.
   */
  readonly leaf1Edx?: number;
}

export interface SmbiosConfig {
  /** The processors, in socket order ("CPU 0", "CPU 1", ...). At least one. */
  readonly cpus: readonly SmbiosCpu[];
  /** RAM mapped from address 0 (bytes; the PC's low RAM, holes included). */
  readonly lowMemory: number;
  /** RAM mapped from 4 GiB (bytes; 0 for none). */
  readonly highMemory: number;
  /** The processors' speed in MHz (hvkit: instructions per second / 1e6); 100 by default. */
  readonly speedMHz?: number;
  /** Whether the platform has ACPI tables (BIOS Characteristics Extension Byte 1 bit 0); true by default. */
  readonly acpi?: boolean;
  /** BIOS vendor, version and release date ("mm/dd/yyyy", §7.1 offset 08h). */
  readonly biosVendor?: string;
  readonly biosVersion?: string;
  readonly biosReleaseDate?: string;
  /** System BIOS major and minor release (§7.1 offsets 14h, 15h). */
  readonly biosRelease?: { readonly major: number; readonly minor: number };
  /** System Information strings (§7.2). */
  readonly manufacturer?: string;
  readonly productName?: string;
  readonly version?: string;
  readonly serialNumber?: string;
  readonly family?: string;
  /**
   * The system UUID as "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". By default one is derived from
   * the rest of the configuration (an RFC 9562 version 8 UUID), so a machine gets the same UUID
   * on every run.
   */
  readonly uuid?: string;
  /**
   * Where the entry points go: the 64-bit one here, the 32-bit one {@link SMBIOS_ENTRY_POINT_32_OFFSET}
   * bytes above. A 16-byte boundary with both within 0xF0000-0xFFFFF.
   */
  readonly entryPointAddress: number;
  /** Where the structure table goes (below 4 GiB: the 32-bit entry point holds a 32-bit address). */
  readonly tableAddress: number;
}

/** A placed structure, for callers and tests. */
export interface SmbiosStructureInfo {
  readonly type: number;
  readonly handle: number;
  /** Offset in the table. */
  readonly offset: number;
  /** Formatted area length (the header's Length). */
  readonly length: number;
  /** Formatted area plus string-set. */
  readonly size: number;
}

export interface SmbiosTables {
  readonly entryPoint64: { readonly address: number; readonly bytes: Uint8Array };
  readonly entryPoint32: { readonly address: number; readonly bytes: Uint8Array };
  readonly table: { readonly address: number; readonly bytes: Uint8Array };
  readonly structures: readonly SmbiosStructureInfo[];
}

/** The byte that makes `bytes` sum to 0 mod 256 when stored in place of a zero byte. */
export function smbiosChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const FOUR_GIB = 0x1_0000_0000;

// ---- one structure ------------------------------------------------------------------------------

/** A structure under construction: the formatted area (§6.1.2) and its string-set (§6.1.3). */
class Structure extends ByteWriter {
  private readonly strings: string[] = [];

  constructor(
    readonly type: number,
    length: number,
    readonly handle: number,
  ) {
    super(length);
    this.bytes[0] = type;
    this.bytes[1] = length;
    this.u16(2, handle);
  }
  /** A string field: the string's number in the set (a repeated string reuses its number), or 0 for none. */
  str(at: number, s: string | undefined): void {
    if (s === undefined || s === '') {
      this.bytes[at] = 0;
      return;
    }
    if (s.includes('\0')) throw new SmbiosTableError(`SMBIOS string ${JSON.stringify(s)} contains a NUL`);
    let n = this.strings.indexOf(s);
    if (n < 0) {
      n = this.strings.length;
      this.strings.push(s);
    }
    if (n >= 255) throw new SmbiosTableError('more than 255 strings in one SMBIOS structure');
    this.bytes[at] = n + 1;
  }
  /** The formatted area and the string-set: "each string is terminated with a null (00h) BYTE and the set of strings is terminated with an additional null (00h) BYTE"; no strings: two NULs. */
  encode(): Uint8Array {
    // Strings here are ASCII, the subset of UTF-8 (§6.1.3) every SMBIOS version reads.
    const parts = this.strings.map((text) => asciiBytes(text, (bad) => new SmbiosTableError(`SMBIOS string ${JSON.stringify(bad)} is not printable ASCII`)));
    const setSize = parts.length === 0 ? 2 : parts.reduce((n, p) => n + p.length + 1, 0) + 1;
    const out = new Uint8Array(this.bytes.length + setSize);
    out.set(this.bytes);
    let at = this.bytes.length;
    for (const p of parts) {
      out.set(p, at);
      at += p.length + 1;
    }
    return out;
  }
}

// ---- field values ---------------------------------------------------------------------------------

/** §7.5.2: the family that fits the model, Other when none does. */
export function processorFamily(model: CpuModel): number {
  // Intel 06_55H is Skylake-SP / Cascade Lake: the Xeon Scalable parts.
  if (model.vendor === 'intel' && model.family === 6 && model.model === 0x55) return ProcessorFamily.INTEL_XEON;
  // AMD families 17h and 19h are Zen, Zen 2, Zen 3 and Zen 4.
  if (model.vendor === 'amd' && (model.family === 0x17 || model.family === 0x19)) return ProcessorFamily.AMD_ZEN;
  return ProcessorFamily.OTHER;
}

/** The Processor Manufacturer string for a CPU vendor. */
function processorManufacturer(model: CpuModel): string {
  switch (model.vendor) {
    case 'intel':
      return 'Intel(R) Corporation';
    case 'amd':
      return 'Advanced Micro Devices, Inc.';
    default:
      return model.vendorString;
  }
}

/** 32-bit FNV-1a of `text`, continuing from `seed`. */
function fnv1a(text: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i) & 0xff;
    h = Math.imul(h, 0x0100_0193) >>> 0;
  }
  return h;
}

/** A UUID's 16 bytes in network (RFC 9562) order, from its text form. */
function parseUuid(text: string): Uint8Array {
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(text)) {
    throw new SmbiosTableError(`UUID ${JSON.stringify(text)} is not in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`);
  }
  const hexDigits = text.replaceAll('-', '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hexDigits.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** A UUID (network order) that depends only on `text`: RFC 9562 version 8 (custom), variant 10b. */
function derivedUuid(text: string): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  let h = 0x811c_9dc5;
  for (let i = 0; i < 4; i++) {
    h = fnv1a(`${i}:${text}`, h);
    v.setUint32(i * 4, h);
  }
  out[6] = (out[6]! & 0x0f) | 0x80;
  out[8] = (out[8]! & 0x3f) | 0x80;
  return out;
}

/**
 * §7.2.1: the UUID's first three fields (time_low, time_mid, time_hi_and_version) are stored
 * little-endian, the rest in network order ("version 2.6 and later").
 */
function smbiosUuidBytes(network: Uint8Array): Uint8Array {
  const out = network.slice();
  out.set([network[3]!, network[2]!, network[1]!, network[0]!, network[5]!, network[4]!, network[7]!, network[6]!], 0);
  return out;
}

/** "mm/dd/yyyy" (§7.1 offset 08h). */
function checkDate(date: string): string {
  if (!/^(0[1-9]|1[0-2])\/(0[1-9]|[12][0-9]|3[01])\/\d{4}$/.test(date)) throw new SmbiosTableError(`BIOS release date ${JSON.stringify(date)} is not mm/dd/yyyy`);
  return date;
}

function checkUint(v: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new SmbiosTableError(`${what} ${String(v)} is not an integer from 0 to ${String(max)}`);
  return v;
}

// ---- the tables -------------------------------------------------------------------------------------

/** Builds the entry points and the structure table. See the module comment for what they say. */
/** Type 0's BIOS release date by default (see there). */
export const DEFAULT_BIOS_DATE = '01/01/2014';

export function buildSmbiosTables(config: SmbiosConfig): SmbiosTables {
  const cpus = config.cpus;
  if (cpus.length === 0 || cpus.length > 0xfe00) throw new SmbiosTableError(`${String(cpus.length)} processors: SMBIOS needs from 1 to 65024`);
  const low = config.lowMemory;
  const high = config.highMemory;
  checkUint(low, FOUR_GIB, 'low memory size');
  checkUint(high, 2 ** 52, 'high memory size');
  if (low % MiB !== 0 || high % MiB !== 0 || low === 0) throw new SmbiosTableError(`memory sizes ${hex(low)} and ${hex(high)} are not whole, non-zero MiB`);
  const speed = checkUint(config.speedMHz ?? 100, 0xfffe, 'processor speed (MHz)');
  const epAddress = config.entryPointAddress;
  const ep32Address = epAddress + SMBIOS_ENTRY_POINT_32_OFFSET;
  if (!Number.isInteger(epAddress) || epAddress % 16 !== 0 || epAddress < 0xf_0000 || ep32Address + SMBIOS_ENTRY_POINT_32_LENGTH > 0x10_0000) {
    throw new SmbiosTableError(`entry point address ${String(epAddress)} is not a 16-byte boundary with both entry points within 0xf0000-0xfffff`);
  }
  const release = config.biosRelease ?? { major: 1, minor: 0 };
  checkUint(release.major, 0xfe, 'BIOS major release');
  checkUint(release.minor, 0xfe, 'BIOS minor release');
  const totalMemory = low + high;

  const structures: Structure[] = [];
  const add = (type: number, length: number): Structure => {
    const s = new Structure(type, length, structures.length);
    structures.push(s);
    return s;
  };

  // ---- Type 0, BIOS Information (§7.1) --------------------------------------------------------------
  {
    const s = add(SmbiosType.BIOS_INFORMATION, SmbiosLength.BIOS_INFORMATION);
    s.str(0x04, config.biosVendor ?? 'hvkit');
    s.str(0x05, config.biosVersion ?? '1.0');
    // BIOS Starting Address Segment: the firmware area is the 64 KiB at F000:0000 (it holds the
    // RSDP and these entry points; there is no BIOS code), so the size is 64K * (0 + 1).
    s.u16(0x06, 0xf000);
    // The default date is before 2015 on purpose: Linux keys quirks on the BIOS year, and from
    // 2015 on an Intel machine it takes RTC alarms through the ACPI fixed RTC event (PM1 RTC_STS),
    // which this board does not wire to the RTC; before 2015 it uses the RTC's own IRQ 8 (through
    // the HPET), which works. SeaBIOS reports 2014 for the same effect.
    s.str(0x08, checkDate(config.biosReleaseDate ?? DEFAULT_BIOS_DATE));
    s.u8(0x09, 0x00);
    // §7.1.1 Table 7: bit 3 "BIOS Characteristics are not supported": there are no BIOS services.
    s.u64(0x0a, 1 << 3);
    // §7.1.2.1 Table 8, Extension Byte 1: bit 0 ACPI is supported.
    s.u8(0x12, config.acpi === false ? 0 : 0x01);
    // §7.1.2.2 Table 9, Extension Byte 2: bit 4 "SMBIOS table describes a virtual machine".
    s.u8(0x13, 1 << 4);
    s.u8(0x14, release.major);
    s.u8(0x15, release.minor);
    // No embedded controller: FFh for both (§7.1 offsets 16h, 17h).
    s.u8(0x16, 0xff);
    s.u8(0x17, 0xff);
  }

  // ---- Type 1, System Information (§7.2) --------------------------------------------------------------
  {
    const manufacturer = config.manufacturer ?? 'hvkit';
    const product = config.productName ?? 'hvkit PC (i440FX + PIIX)';
    const version = config.version ?? '1.0';
    const s = add(SmbiosType.SYSTEM_INFORMATION, SmbiosLength.SYSTEM_INFORMATION);
    s.str(0x04, manufacturer);
    s.str(0x05, product);
    s.str(0x06, version);
    s.str(0x07, config.serialNumber);
    const uuid =
      config.uuid !== undefined
        ? parseUuid(config.uuid)
        : derivedUuid([manufacturer, product, version, low, high, speed, ...cpus.map((c) => `${c.model.name}/${String(signature(c.model))}`)].join('|'));
    s.bytes.set(smbiosUuidBytes(uuid), 0x08);
    // §7.2.2 Table 12: 06h Power Switch.
    s.u8(0x18, 0x06);
    s.str(0x19, undefined);
    s.str(0x1a, config.family ?? 'hvkit');
  }

  // ---- Type 3, System Enclosure or Chassis (§7.4) ---------------------------------------------------
  {
    const s = add(SmbiosType.SYSTEM_ENCLOSURE, SmbiosLength.SYSTEM_ENCLOSURE);
    s.str(0x04, config.manufacturer ?? 'hvkit');
    // §7.4.1 Table 17: 01h Other, no chassis lock (bit 7).
    s.u8(0x05, 0x01);
    // §7.4.2 Table 18: 03h Safe for the boot-up, power supply and thermal states.
    s.u8(0x09, 0x03);
    s.u8(0x0a, 0x03);
    s.u8(0x0b, 0x03);
    // §7.4.3 Table 19: 03h None.
    s.u8(0x0c, 0x03);
    // OEM-defined 0, height and power cords 0 (unspecified), no contained elements (n = m = 0),
    // no SKU string.
  }

  // ---- Type 4, Processor Information (§7.5), one per socket -----------------------------------------
  cpus.forEach((cpu, i) => {
    const m = cpu.model;
    const s = add(SmbiosType.PROCESSOR_INFORMATION, SmbiosLength.PROCESSOR_INFORMATION);
    s.str(0x04, `CPU ${String(i)}`);
    // §7.5.1 Table 22: 03h Central Processor.
    s.u8(0x05, 0x03);
    const family = processorFamily(m);
    s.u8(0x06, family);
    s.str(0x07, processorManufacturer(m));
    // §7.5.3.2: for x86 the Processor ID is CPUID.01H:EAX (the signature) then CPUID.01H:EDX.
    s.u32(0x08, signature(m));
    s.u32(0x0c, cpu.leaf1Edx ?? m.leaf1Edx);
    s.str(0x10, m.brand);
    // Voltage 0: none of the legacy bits set, i.e. not given (§7.5.4).
    s.u8(0x11, 0x00);
    // External clock 0: unknown. Max and current speed in MHz.
    s.u16(0x12, 0);
    s.u16(0x14, speed);
    s.u16(0x16, speed);
    // Status: bit 6 socket populated, bits 2:0 = 1 "CPU Enabled".
    s.u8(0x18, 0x41);
    // §7.5.5 Table 24: 01h Other (a virtual socket).
    s.u8(0x19, 0x01);
    // No cache structures: FFFFh for the L1, L2 and L3 cache handles.
    s.u16(0x1a, 0xffff);
    s.u16(0x1c, 0xffff);
    s.u16(0x1e, 0xffff);
    // Serial number, asset tag, part number: none.
    // One core, enabled, one thread (threadsPerPackage is 1 on hvkit's models).
    const threads = Math.max(1, Math.min(m.threadsPerPackage, 0xff));
    s.u8(0x23, 1);
    s.u8(0x24, 1);
    s.u8(0x25, threads);
    // §7.5.9 Table 27: bit 2 64-bit Capable (CPUID.80000001H:EDX.LM, bit 29).
    s.u16(0x26, (m.ext1Edx & (1 << 29)) !== 0 ? 1 << 2 : 1 << 1);
    // Processor Family 2 repeats the family when it fits in the byte (§7.5 offset 28h).
    s.u16(0x28, family);
    // Core Count 2, Core Enabled 2, Thread Count 2: equal to the byte fields below 256.
    s.u16(0x2a, 1);
    s.u16(0x2c, 1);
    s.u16(0x2e, threads);
  });

  // ---- Type 16, Physical Memory Array (§7.17) -------------------------------------------------------
  const array = add(SmbiosType.PHYSICAL_MEMORY_ARRAY, SmbiosLength.PHYSICAL_MEMORY_ARRAY);
  {
    const s = array;
    // Table 72: 03h System board or motherboard; Table 73: 03h System memory; Table 74: 03h None.
    s.u8(0x04, 0x03);
    s.u8(0x05, 0x03);
    s.u8(0x06, 0x03);
    // Maximum Capacity in KiB, or 8000_0000h and the Extended Maximum Capacity in bytes at 2 TiB and above.
    const kib = totalMemory / KiB;
    if (kib < 0x8000_0000) {
      s.u32(0x07, kib);
    } else {
      s.u32(0x07, 0x8000_0000);
      s.u64(0x0f, totalMemory);
    }
    // FFFEh: no error information structure is provided.
    s.u16(0x0b, 0xfffe);
    s.u16(0x0d, 1);
  }

  // ---- Type 17, Memory Device (§7.18) ----------------------------------------------------------------
  {
    const s = add(SmbiosType.MEMORY_DEVICE, SmbiosLength.MEMORY_DEVICE);
    s.u16(0x04, array.handle);
    s.u16(0x06, 0xfffe);
    // Total and data width unknown.
    s.u16(0x08, 0xffff);
    s.u16(0x0a, 0xffff);
    // Size in MiB (bit 15 clear); 7FFFh means "see Extended Size" (§7.18.5), which holds MiB in bits 30:0.
    const mib = totalMemory / MiB;
    if (mib < 0x7fff) {
      s.u16(0x0c, mib);
    } else {
      if (mib > 0x7fff_ffff) throw new SmbiosTableError(`memory of ${String(mib)} MiB does not fit the Extended Size field`);
      s.u16(0x0c, 0x7fff);
      s.u32(0x1c, mib);
    }
    // Table 75: 09h DIMM. Not part of a set.
    s.u8(0x0e, 0x09);
    s.u8(0x0f, 0x00);
    s.str(0x10, 'DIMM 0');
    s.str(0x11, undefined);
    // Table 76: 07h RAM. Table 77 (Type Detail): bit 1 Other.
    s.u8(0x12, 0x07);
    s.u16(0x13, 1 << 1);
    // Speed unknown (0). Manufacturer: the board's.
    s.u16(0x15, 0);
    s.str(0x17, config.manufacturer ?? 'hvkit');
    // Serial number, asset tag, part number: none; rank unknown (0); configured speed and
    // voltages unknown (0).
  }

  // ---- Type 19, Memory Array Mapped Address (§7.20), per RAM range -----------------------------------
  const ranges: [number, number][] = [[0, low]];
  if (high > 0) ranges.push([FOUR_GIB, high]);
  for (const [base, length] of ranges) {
    const s = add(SmbiosType.MEMORY_ARRAY_MAPPED_ADDRESS, SmbiosLength.MEMORY_ARRAY_MAPPED_ADDRESS);
    const startKib = base / KiB;
    const endKib = (base + length) / KiB - 1;
    if (endKib < 0xffff_ffff) {
      s.u32(0x04, startKib);
      s.u32(0x08, endKib);
    } else {
      // FFFF_FFFFh in the Starting Address: the Extended Starting and Ending Addresses (bytes) apply.
      s.u32(0x04, 0xffff_ffff);
      s.u32(0x08, 0xffff_ffff);
      s.u64(0x0f, base);
      s.u64(0x17, base + length - 1);
    }
    s.u16(0x0c, array.handle);
    // Partition width: one device forms the row.
    s.u8(0x0e, 1);
  }

  // ---- Type 32, System Boot Information (§7.33) -------------------------------------------------------
  {
    const s = add(SmbiosType.SYSTEM_BOOT_INFORMATION, SmbiosLength.SYSTEM_BOOT_INFORMATION);
    // Reserved bytes 04h-09h are zero; boot status 00h: no errors detected (Table 94).
    s.u8(0x0a, 0x00);
  }

  // ---- Type 127, End-of-Table (§7.45) -------------------------------------------------------------------
  add(SmbiosType.END_OF_TABLE, SmbiosLength.END_OF_TABLE);

  // ---- the table ------------------------------------------------------------------------------------------
  const encoded = structures.map((s) => s.encode());
  const tableLength = encoded.reduce((n, b) => n + b.length, 0);
  const table = new Uint8Array(tableLength);
  const infos: SmbiosStructureInfo[] = [];
  let at = 0;
  structures.forEach((s, i) => {
    const b = encoded[i]!;
    table.set(b, at);
    infos.push({ type: s.type, handle: s.handle, offset: at, length: s.bytes.length, size: b.length });
    at += b.length;
  });
  const maxStructure = encoded.reduce((n, b) => Math.max(n, b.length), 0);

  const tableAddress = config.tableAddress;
  checkUint(tableAddress, FOUR_GIB - 1, 'structure table address');
  if (tableLength > 0xffff) throw new SmbiosTableError(`the structure table (${String(tableLength)} bytes) is too long for the 32-bit entry point's 16-bit length`);
  if (tableAddress + tableLength > FOUR_GIB) throw new SmbiosTableError(`the structure table at ${hex(tableAddress)} does not end below 4 GiB`);
  const overlaps = (a: number, alen: number, b: number, blen: number): boolean => a < b + blen && b < a + alen;
  if (overlaps(tableAddress, tableLength, epAddress, SMBIOS_ENTRY_POINT_32_OFFSET + SMBIOS_ENTRY_POINT_32_LENGTH)) {
    throw new SmbiosTableError(`the structure table at ${hex(tableAddress)}-${hex(tableAddress + tableLength - 1)} overlaps the entry points at ${hex(epAddress)}`);
  }

  // ---- §5.2.2 Table 2, the SMBIOS 3.0 (64-bit) entry point ------------------------------------------------------
  const ep64 = new Uint8Array(SMBIOS_ENTRY_POINT_64_LENGTH);
  {
    const v = new DataView(ep64.buffer);
    ep64.set(asciiBytes('_SM3_', Error), 0x00);
    ep64[0x06] = SMBIOS_ENTRY_POINT_64_LENGTH;
    ep64[0x07] = SMBIOS_VERSION_64.major;
    ep64[0x08] = SMBIOS_VERSION_64.minor;
    ep64[0x09] = SMBIOS_VERSION_64.docrev;
    // Entry Point Revision 01h: the 3.0 layout. Byte 0Bh reserved.
    ep64[0x0a] = 0x01;
    // Structure table maximum size: the table's length, exactly.
    v.setUint32(0x0c, tableLength, true);
    v.setUint32(0x10, tableAddress, true);
    v.setUint32(0x14, 0, true);
    ep64[0x05] = smbiosChecksum(ep64);
  }

  // ---- §5.2.1 Table 1, the SMBIOS 2.1 (32-bit) entry point ---------------------------------------------------------
  const ep32 = new Uint8Array(SMBIOS_ENTRY_POINT_32_LENGTH);
  {
    const v = new DataView(ep32.buffer);
    ep32.set(asciiBytes('_SM_', Error), 0x00);
    ep32[0x05] = SMBIOS_ENTRY_POINT_32_LENGTH;
    ep32[0x06] = SMBIOS_VERSION_32.major;
    ep32[0x07] = SMBIOS_VERSION_32.minor;
    v.setUint16(0x08, maxStructure, true);
    // Entry Point Revision 00h (the 2.1 layout); the Formatted Area 0Bh-0Fh is zero.
    ep32[0x0a] = 0x00;
    ep32.set(asciiBytes('_DMI_', Error), 0x10);
    v.setUint16(0x16, tableLength, true);
    v.setUint32(0x18, tableAddress, true);
    v.setUint16(0x1c, structures.length, true);
    ep32[0x1e] = (SMBIOS_VERSION_32.major << 4) | SMBIOS_VERSION_32.minor;
    // The Intermediate Checksum covers 10h-1Eh; then the Entry Point Structure Checksum covers all 1Fh bytes.
    ep32[0x15] = smbiosChecksum(ep32.subarray(0x10, 0x1f));
    ep32[0x04] = smbiosChecksum(ep32);
  }

  return {
    entryPoint64: { address: epAddress, bytes: ep64 },
    entryPoint32: { address: ep32Address, bytes: ep32 },
    table: { address: tableAddress, bytes: table },
    structures: infos,
  };
}

/** Copies the entry points and the table into guest memory (which must be RAM there: writes to ROM are dropped). */
export function writeSmbiosTables(memory: Pick<PhysicalMemory, 'write'>, tables: SmbiosTables): void {
  memory.write(tables.entryPoint64.address as Hpa, tables.entryPoint64.bytes);
  memory.write(tables.entryPoint32.address as Hpa, tables.entryPoint32.bytes);
  memory.write(tables.table.address as Hpa, tables.table.bytes);
}
