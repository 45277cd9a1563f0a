/**
 * A small ACPI Machine Language (AML) encoder: just what the PC's DSDT needs, after the ACPI
 * Specification 6.5, §20 ("ACPI Machine Language (AML) Specification"; §20.2 is the grammar,
 * quoted by rule name below) and §6.4 ("Resource Data Types for ACPI") for resource templates.
 * The ASL operator each function stands for (§19.6) is named in its comment.
 *
 * Every encoder returns the bytes of one AML term as a plain `number[]`; terms nest by
 * concatenation. Nothing here knows about devices: `dsdt.ts` describes the board with these.
 */

/** AML opcodes used here (§20.2.5, §20.3 "AML Byte Stream Byte Values"). */
export const AmlOp = {
  ZERO: 0x00,
  ONE: 0x01,
  NAME: 0x08,
  BYTE_PREFIX: 0x0a,
  WORD_PREFIX: 0x0b,
  DWORD_PREFIX: 0x0c,
  STRING_PREFIX: 0x0d,
  QWORD_PREFIX: 0x0e,
  SCOPE: 0x10,
  BUFFER: 0x11,
  PACKAGE: 0x12,
  METHOD: 0x14,
  DUAL_NAME_PREFIX: 0x2e,
  MULTI_NAME_PREFIX: 0x2f,
  EXT_OP_PREFIX: 0x5b,
  /** After ExtOpPrefix: DeviceOp is 5B 82. */
  DEVICE: 0x82,
  ROOT_CHAR: 0x5c,
  PARENT_PREFIX_CHAR: 0x5e,
  RETURN: 0xa4,
} as const;

/** An AML term, or a piece of one, as bytes. */
export type Aml = number[];

/** A name, an integer or a string that cannot be encoded. */
export class AmlError extends Error {
  override readonly name = 'AmlError';
}

// ---- names (§20.2.2 Name Objects Encoding) ------------------------------------------------------

/**
 * NameSeg := <LeadNameChar NameChar NameChar NameChar>, LeadNameChar := 'A'-'Z' | '_',
 * NameChar := DigitChar | LeadNameChar. ASL pads names shorter than four characters with '_'
 * (§19.2.2), as this does.
 */
export function nameSeg(name: string): Aml {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(name)) throw new AmlError(`"${name}" is not an ACPI name segment (1-4 of A-Z, 0-9, _, not starting with a digit)`);
  return [...name.padEnd(4, '_')].map((c) => c.charCodeAt(0));
}

/**
 * NameString := <RootChar NamePath> | <PrefixPath NamePath>; NamePath := NameSeg | DualNamePath
 * | MultiNamePath | NullName. `path` is written as in ASL: `\_SB.PCI0`, `^LNKA`, `_HID`.
 */
export function nameString(path: string): Aml {
  let rest = path;
  const prefix: Aml = [];
  if (rest.startsWith('\\')) {
    prefix.push(AmlOp.ROOT_CHAR);
    rest = rest.slice(1);
  } else {
    while (rest.startsWith('^')) {
      prefix.push(AmlOp.PARENT_PREFIX_CHAR);
      rest = rest.slice(1);
    }
  }
  const segs = rest === '' ? [] : rest.split('.');
  if (segs.length > 255) throw new AmlError(`"${path}" has more than 255 name segments`);
  const body = segs.flatMap(nameSeg);
  if (segs.length === 0) return [...prefix, 0x00]; // NullName
  if (segs.length === 1) return [...prefix, ...body];
  if (segs.length === 2) return [...prefix, AmlOp.DUAL_NAME_PREFIX, ...body];
  return [...prefix, AmlOp.MULTI_NAME_PREFIX, segs.length, ...body];
}

// ---- PkgLength (§20.2.4 Package Length Encoding) ------------------------------------------------

/**
 * The PkgLength that precedes `contentLength` bytes. Its value counts its own bytes too. One
 * byte holds lengths up to 63 in bits 5-0; otherwise bits 7-6 of the lead byte give the number
 * of ByteData that follow (1-3), bits 3-0 the least significant nybble, and each following byte
 * the next eight bits: at most 2^28 - 1.
 */
export function pkgLength(contentLength: number): Aml {
  if (!Number.isInteger(contentLength) || contentLength < 0) throw new AmlError(`package length ${contentLength} is not a byte count`);
  if (contentLength + 1 <= 0x3f) return [contentLength + 1];
  for (let extra = 1; extra <= 3; extra++) {
    const total = contentLength + 1 + extra;
    if (total < 2 ** (4 + 8 * extra)) {
      const out = [(extra << 6) | (total & 0x0f)];
      for (let i = 0; i < extra; i++) out.push((total >>> (4 + 8 * i)) & 0xff);
      return out;
    }
  }
  throw new AmlError(`package length ${contentLength} does not fit 28 bits`);
}

/** `contents` preceded by their PkgLength. */
function withLength(contents: Aml): Aml {
  return [...pkgLength(contents.length), ...contents];
}

// ---- data objects (§20.2.3 Data Objects Encoding) -----------------------------------------------

/**
 * An integer constant, in the shortest form: ZeroOp, OneOp, BytePrefix ByteData, WordPrefix
 * WordData, DWordPrefix DWordData or QWordPrefix QWordData (little-endian).
 */
export function integer(value: number | bigint): Aml {
  const v = BigInt(value);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new AmlError(`${String(value)} is not a 64-bit unsigned integer`);
  if (v === 0n) return [AmlOp.ZERO];
  if (v === 1n) return [AmlOp.ONE];
  const le = (n: number): Aml => Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
  if (v <= 0xffn) return [AmlOp.BYTE_PREFIX, ...le(1)];
  if (v <= 0xffffn) return [AmlOp.WORD_PREFIX, ...le(2)];
  if (v <= 0xffff_ffffn) return [AmlOp.DWORD_PREFIX, ...le(4)];
  return [AmlOp.QWORD_PREFIX, ...le(8)];
}

/** String := StringPrefix AsciiCharList NullChar; AsciiChar is 0x01-0x7F. */
export function string(s: string): Aml {
  if ([...s].some((c) => c.charCodeAt(0) < 0x01 || c.charCodeAt(0) > 0x7f)) throw new AmlError(`"${s}" is not an AML string (ASCII 0x01-0x7F)`);
  return [AmlOp.STRING_PREFIX, ...[...s].map((c) => c.charCodeAt(0)), 0x00];
}

/**
 * The 32-bit compressed EISA ID of ASL's `EISAID ("PNP0A03")` (§19.6.35): three letters of five
 * bits each (letter - 0x40), then four hex digits, stored big-endian, so the dword as read
 * little-endian is 0x030AD041 for PNP0A03.
 */
export function eisaId(id: string): number {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new AmlError(`"${id}" is not an EISA ID (three capitals and four hex digits)`);
  const c = (i: number): number => id.charCodeAt(i) - 0x40;
  const vendor = (c(0) << 10) | (c(1) << 5) | c(2);
  const product = Number.parseInt(id.slice(3), 16);
  const bytes = [vendor >> 8, vendor & 0xff, product >> 8, product & 0xff];
  return (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
}

/** DefBuffer := BufferOp PkgLength BufferSize ByteList (`Buffer () {...}`, §19.6.10). */
export function buffer(bytes: readonly number[]): Aml {
  return [AmlOp.BUFFER, ...withLength([...integer(bytes.length), ...bytes])];
}

/** DefPackage := PackageOp PkgLength NumElements PackageElementList (`Package () {...}`, §19.6.101). */
export function pkg(elements: readonly Aml[]): Aml {
  if (elements.length > 255) throw new AmlError(`a Package has at most 255 elements, not ${elements.length}`);
  return [AmlOp.PACKAGE, ...withLength([elements.length, ...elements.flat()])];
}

// ---- named objects and statements (§20.2.5) -----------------------------------------------------

/** DefName := NameOp NameString DataRefObject (`Name (NAME, object)`, §19.6.90). */
export function name(path: string, object: Aml): Aml {
  return [AmlOp.NAME, ...nameString(path), ...object];
}

/** DefScope := ScopeOp PkgLength NameString TermList (`Scope (path) {...}`, §19.6.122). */
export function scope(path: string, terms: readonly Aml[]): Aml {
  return [AmlOp.SCOPE, ...withLength([...nameString(path), ...terms.flat()])];
}

/** DefDevice := DeviceOp PkgLength NameString TermList (`Device (NAME) {...}`, §19.6.31). */
export function device(path: string, terms: readonly Aml[]): Aml {
  return [AmlOp.EXT_OP_PREFIX, AmlOp.DEVICE, ...withLength([...nameString(path), ...terms.flat()])];
}

/**
 * DefMethod := MethodOp PkgLength NameString MethodFlags TermList (`Method (NAME, args,
 * NotSerialized) {...}`, §19.6.85). MethodFlags: bits 2-0 the argument count, bit 3 SerializeFlag
 * (clear here), bits 7-4 SyncLevel (0).
 */
export function method(path: string, argCount: number, terms: readonly Aml[]): Aml {
  if (!Number.isInteger(argCount) || argCount < 0 || argCount > 7) throw new AmlError(`a method takes 0-7 arguments, not ${argCount}`);
  return [AmlOp.METHOD, ...withLength([...nameString(path), argCount, ...terms.flat()])];
}

/** DefReturn := ReturnOp ArgObject (`Return (value)`, §19.6.117). */
export function returnValue(value: Aml): Aml {
  return [AmlOp.RETURN, ...value];
}

// ---- resource descriptors (§6.4) ----------------------------------------------------------------

const le16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

function checkRange(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new AmlError(`${what} ${v} is not an integer from 0 to 0x${max.toString(16)}`);
}

/**
 * I/O Port Descriptor (§6.4.2.5, `IO (Decode16, min, max, align, length)`): small item 0x47,
 * Information bit 0 = 1 (16-bit decode), _MIN, _MAX, _ALN, _LEN. A fixed range here: min = max.
 */
export function ioPort(base: number, length: number): Aml {
  checkRange(base, 0xffff, 'I/O base');
  checkRange(length, 0xff, 'I/O length');
  return [0x47, 0x01, ...le16(base), ...le16(base), 0x01, length];
}

/**
 * IRQ Descriptor without the information byte (§6.4.2.1, `IRQNoFlags () {irqs}`): small item
 * 0x22 and a 16-bit mask, one bit per ISA IRQ; that form means active-high, edge-triggered (ISA).
 */
export function irqNoFlags(irqs: readonly number[]): Aml {
  let mask = 0;
  for (const irq of irqs) {
    checkRange(irq, 15, 'ISA IRQ');
    mask |= 1 << irq;
  }
  return [0x22, ...le16(mask)];
}

/** Fields of an Extended Interrupt Descriptor (§6.4.3.6). */
export interface ExtendedInterrupt {
  readonly level: boolean;
  readonly activeLow: boolean;
  readonly shared: boolean;
  readonly interrupts: readonly number[];
}

/**
 * Extended Interrupt Descriptor (§6.4.3.6, `Interrupt (ResourceConsumer, Level|Edge,
 * ActiveHigh|ActiveLow, Shared|Exclusive) {gsis}`): large item 0x89, length, flags (bit 0
 * consumer, bit 1 _HE = edge, bit 2 _LL = active low, bit 3 _SHR), count, 32-bit interrupt numbers.
 */
export function extendedInterrupt(d: ExtendedInterrupt): Aml {
  if (d.interrupts.length === 0 || d.interrupts.length > 255) throw new AmlError('an Extended Interrupt Descriptor lists 1-255 interrupts');
  for (const i of d.interrupts) checkRange(i, 0xffff_ffff, 'interrupt number');
  const flags = 0x01 | (d.level ? 0 : 0x02) | (d.activeLow ? 0x04 : 0) | (d.shared ? 0x08 : 0);
  return [0x89, ...le16(2 + 4 * d.interrupts.length), flags, d.interrupts.length, ...d.interrupts.flatMap(le32)];
}

/**
 * 32-Bit Fixed Memory Range Descriptor (§6.4.3.4, `Memory32Fixed (ReadOnly|ReadWrite, base,
 * length)`): large item 0x86, length 9, information bit 0 = writable, base, length.
 */
export function memory32Fixed(base: number, length: number, writable: boolean): Aml {
  checkRange(base, 0xffff_ffff, 'memory base');
  checkRange(length, 0xffff_ffff, 'memory length');
  return [0x86, ...le16(9), writable ? 1 : 0, ...le32(base), ...le32(length)];
}

/** The resource type of an address space descriptor (§6.4.3.5, table "Resource Type"). */
export const AddressSpace = { MEMORY: 0, IO: 1, BUS_NUMBER: 2 } as const;

/** A bridge window: what a producer (a root bridge) decodes and passes on. */
export interface AddressWindow {
  readonly type: (typeof AddressSpace)[keyof typeof AddressSpace];
  readonly min: number;
  readonly max: number;
  /**
   * Type-specific flags (§6.4.3.5.4 "Resource Type Specific Flags"): for memory bit 0 is
   * read-write and bits 2-1 _MEM (0 non-cacheable, 1 cacheable); for I/O bits 1-0 _RNG (3 =
   * ISA and non-ISA ranges); 0 for bus numbers.
   */
  readonly typeFlags: number;
}

/**
 * General flags of a producer window with a fixed minimum and maximum (§6.4.3.5.x "General
 * Flags"): bit 3 _MAF, bit 2 _MIF, bit 1 _DEC = 0 (positive decode), bit 0 = 0 (producer).
 */
const FIXED_PRODUCER = 0x0c;

function addressFields(w: AddressWindow, max: number): number[] {
  checkRange(w.min, max, 'window minimum');
  checkRange(w.max, max, 'window maximum');
  if (w.max < w.min) throw new AmlError(`window 0x${w.min.toString(16)}-0x${w.max.toString(16)} is empty`);
  checkRange(w.typeFlags, 0xff, 'type-specific flags');
  return [w.type, FIXED_PRODUCER, w.typeFlags];
}

/**
 * Word Address Space Descriptor (§6.4.3.5.3, `WordBusNumber`/`WordIO`): large item 0x88, length
 * 13, resource type, general flags, type flags, then 16-bit _GRA (0), _MIN, _MAX, _TRA (0), _LEN.
 */
export function wordAddress(w: AddressWindow): Aml {
  const head = addressFields(w, 0xffff);
  return [0x88, ...le16(13), ...head, ...le16(0), ...le16(w.min), ...le16(w.max), ...le16(0), ...le16(w.max - w.min + 1)];
}

/**
 * DWord Address Space Descriptor (§6.4.3.5.2, `DWordMemory`/`DWordIO`): large item 0x87, length
 * 23, resource type, general flags, type flags, then 32-bit _GRA (0), _MIN, _MAX, _TRA (0), _LEN.
 */
export function dwordAddress(w: AddressWindow): Aml {
  const head = addressFields(w, 0xffff_ffff);
  return [0x87, ...le16(23), ...head, ...le32(0), ...le32(w.min), ...le32(w.max), ...le32(0), ...le32(w.max - w.min + 1)];
}

/**
 * `ResourceTemplate () {...}` (§19.3.3, §6.4.1): a Buffer of the descriptors followed by the End
 * Tag (§6.4.2.9: small item 0x79 and a checksum byte; 0 means "treat as correct").
 */
export function resourceTemplate(descriptors: readonly Aml[]): Aml {
  return buffer([...descriptors.flat(), 0x79, 0x00]);
}
