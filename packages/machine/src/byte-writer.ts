/** Little-endian byte images of firmware tables (ACPI, SMBIOS): fixed-size, written by offset. */
export class ByteWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(length: number) {
    this.bytes = new Uint8Array(length);
    this.view = new DataView(this.bytes.buffer);
  }
  u8(at: number, v: number): void {
    this.view.setUint8(at, v);
  }
  u16(at: number, v: number): void {
    this.view.setUint16(at, v, true);
  }
  u32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, true);
  }
  /** A 64-bit little-endian value from a number below 2^53. */
  u64(at: number, v: number): void {
    this.view.setUint32(at, v % 0x1_0000_0000, true);
    this.view.setUint32(at + 4, Math.floor(v / 0x1_0000_0000), true);
  }
  /** `s` in `length` bytes, padded with spaces (ACPI's OEM fields). */
  ascii(at: number, s: string, length: number): void {
    for (let i = 0; i < length; i++) this.bytes[at + i] = i < s.length ? s.charCodeAt(i) : 0x20;
  }
}

/** The bytes of an ASCII string; throws `error(s)` for any other character. */
export function asciiBytes(s: string, error: (s: string) => Error): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7e || c < 0x20) throw error(s);
    out[i] = c;
  }
  return out;
}
