import { describe, expect, it } from 'vitest';
import {
  AddressSpace,
  AmlError,
  buffer,
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
  nameSeg,
  nameString,
  pkg,
  pkgLength,
  resourceTemplate,
  returnValue,
  scope,
  string,
  wordAddress,
} from './aml.js';

/**
 * A PkgLength decoder written from ACPI 6.5 §20.2.4: bits 7-6 of the lead byte count the
 * ByteData that follow; with none, bits 5-0 are the length; otherwise bits 3-0 are its low
 * nybble and each following byte the next 8 bits. Returns the value and the encoding's size.
 */
function decodePkgLength(bytes: readonly number[]): { value: number; size: number } {
  const lead = bytes[0]!;
  const follow = lead >> 6;
  if (follow === 0) return { value: lead & 0x3f, size: 1 };
  expect(lead & 0x30).toBe(0); // bits 5-4 are reserved when ByteData follow
  let value = lead & 0x0f;
  for (let i = 0; i < follow; i++) value |= bytes[1 + i]! << (4 + 8 * i);
  return { value, size: 1 + follow };
}

describe('PkgLength (§20.2.4)', () => {
  it('uses one byte up to a package of 63 bytes and two from 64 on', () => {
    expect(pkgLength(0)).toEqual([0x01]);
    expect(pkgLength(62)).toEqual([0x3f]); // 62 + 1 = 63: the largest one-byte length
    // 63 bytes of content do not fit one byte (64 > 63): two bytes, 63 + 2 = 65 = 0x41.
    expect(pkgLength(63)).toEqual([0x41, 0x04]);
    expect(pkgLength(64)).toEqual([0x42, 0x04]);
  });

  it('uses two bytes up to 4095 and three from 4096 on', () => {
    expect(pkgLength(4093)).toEqual([0x4f, 0xff]); // 4093 + 2 = 4095 = 0xFFF
    // 4094 + 2 = 4096 needs 13 bits: three bytes, 4094 + 3 = 4097 = 0x1001.
    expect(pkgLength(4094)).toEqual([0x81, 0x00, 0x01]);
    expect(pkgLength(0xf_fffc)).toEqual([0x8f, 0xff, 0xff]); // + 3 = 0xFFFFF
    expect(pkgLength(0xf_fffd)).toEqual([0xc1, 0x00, 0x00, 0x01]); // + 4 = 0x100001
  });

  it('counts its own bytes in the value, for every size', () => {
    for (const n of [0, 1, 61, 62, 63, 64, 100, 4092, 4093, 4094, 4095, 4096, 70_000, 0xf_fffc, 0xf_fffd, 0xfff_fffb]) {
      const enc = pkgLength(n);
      const { value, size } = decodePkgLength(enc);
      expect(size, `n=${n}`).toBe(enc.length);
      expect(value, `n=${n}`).toBe(n + enc.length);
    }
  });

  it('refuses what 28 bits cannot hold', () => {
    expect(() => pkgLength(0xfff_fffc)).toThrow(AmlError);
    expect(() => pkgLength(-1)).toThrow(AmlError);
  });
});

describe('names (§20.2.2)', () => {
  it('pads a NameSeg with underscores and checks its characters', () => {
    expect(nameSeg('_SB')).toEqual([0x5f, 0x53, 0x42, 0x5f]);
    expect(nameSeg('KBD')).toEqual([...'KBD_'].map((c) => c.charCodeAt(0)));
    for (const bad of ['', '1ABC', 'ABCDE', 'ab', 'A-B']) expect(() => nameSeg(bad), bad).toThrow(AmlError);
  });

  it('encodes root, parent, dual and multi name paths', () => {
    const seg = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
    expect(nameString('_HID')).toEqual(seg('_HID'));
    expect(nameString('\\_SB')).toEqual([0x5c, ...seg('_SB_')]);
    expect(nameString('\\_SB.LNKA')).toEqual([0x5c, 0x2e, ...seg('_SB_'), ...seg('LNKA')]);
    expect(nameString('\\_SB.PCI0.ISA')).toEqual([0x5c, 0x2f, 3, ...seg('_SB_'), ...seg('PCI0'), ...seg('ISA_')]);
    expect(nameString('^^LNKA')).toEqual([0x5e, 0x5e, ...seg('LNKA')]);
    expect(nameString('\\')).toEqual([0x5c, 0x00]); // the root: RootChar NullName
  });
});

describe('data objects (§20.2.3)', () => {
  it('encodes integers in the shortest form', () => {
    expect(integer(0)).toEqual([0x00]);
    expect(integer(1)).toEqual([0x01]);
    expect(integer(2)).toEqual([0x0a, 0x02]);
    expect(integer(0xff)).toEqual([0x0a, 0xff]);
    expect(integer(0x100)).toEqual([0x0b, 0x00, 0x01]);
    expect(integer(0x1_ffff)).toEqual([0x0c, 0xff, 0xff, 0x01, 0x00]);
    expect(integer(0x1_0000_0000)).toEqual([0x0e, 0, 0, 0, 0, 1, 0, 0, 0]);
    expect(integer(0xffff_ffff_ffff_ffffn)).toEqual([0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(() => integer(-1)).toThrow(AmlError);
    expect(() => integer(2n ** 64n)).toThrow(AmlError);
  });

  it('encodes strings with StringPrefix and a NUL', () => {
    expect(string('PC')).toEqual([0x0d, 0x50, 0x43, 0x00]);
    expect(() => string('é')).toThrow(AmlError);
  });

  it('compresses EISA IDs (§19.6.35)', () => {
    // "PNP" = 10000 01110 10000 = 0x41D0, product 0x0A03, stored big-endian: 41 D0 0A 03.
    expect(eisaId('PNP0A03')).toBe(0x030a_d041);
    expect(eisaId('PNP0C0F')).toBe(0x0f0c_d041);
    expect(eisaId('PNP0303')).toBe(0x0303_d041);
    expect(eisaId('PNP0501')).toBe(0x0105_d041);
    expect(eisaId('PNP0103')).toBe(0x0301_d041);
    expect(() => eisaId('pnp0a03')).toThrow(AmlError);
    expect(() => eisaId('PNP0A0')).toThrow(AmlError);
  });

  it('builds buffers and packages with their lengths', () => {
    expect(buffer([1, 2, 3])).toEqual([0x11, 0x06, 0x0a, 0x03, 1, 2, 3]);
    expect(pkg([integer(0), integer(5)])).toEqual([0x12, 0x05, 0x02, 0x00, 0x0a, 0x05]);
    const big = pkg(Array.from({ length: 100 }, () => integer(0)));
    expect(big.slice(0, 4)).toEqual([0x12, 0x47, 0x06, 100]); // NumElements + 100 elements + 2 length bytes = 103 = 0x67
    expect(decodePkgLength(big.slice(1)).value).toBe(big.length - 1);
    expect(() => pkg(Array.from({ length: 256 }, () => integer(0)))).toThrow(AmlError);
  });
});

describe('named objects (§20.2.5)', () => {
  it('encodes Name, Scope, Device, Method and Return', () => {
    const seg = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
    expect(name('_UID', integer(0))).toEqual([0x08, ...seg('_UID'), 0x00]);
    expect(scope('\\_SB', [])).toEqual([0x10, 0x06, 0x5c, ...seg('_SB_')]);
    expect(device('KBD', [])).toEqual([0x5b, 0x82, 0x05, ...seg('KBD_')]);
    // Method (_STA, 0) { Return (0x0F) }: MethodFlags 0, ReturnOp, BytePrefix 0F.
    expect(method('_STA', 0, [returnValue(integer(0x0f))])).toEqual([0x14, 0x09, ...seg('_STA'), 0x00, 0xa4, 0x0a, 0x0f]);
    expect(method('_SRS', 1, [])).toEqual([0x14, 0x06, ...seg('_SRS'), 0x01]);
    expect(() => method('_SRS', 8, [])).toThrow(AmlError);
  });
});

describe('resource descriptors (§6.4)', () => {
  it('encodes small items: I/O port, IRQ, end tag', () => {
    expect(ioPort(0x3f8, 8)).toEqual([0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08]);
    expect(irqNoFlags([1, 12])).toEqual([0x22, 0x02, 0x10]);
    expect(resourceTemplate([])).toEqual([0x11, 0x05, 0x0a, 0x02, 0x79, 0x00]);
    expect(() => irqNoFlags([16])).toThrow(AmlError);
    expect(() => ioPort(0x1_0000, 1)).toThrow(AmlError);
  });

  it('encodes large items: fixed memory, extended interrupt, address spaces', () => {
    expect(memory32Fixed(0xfed0_0000, 0x400, false)).toEqual([0x86, 0x09, 0x00, 0x00, 0x00, 0x00, 0xd0, 0xfe, 0x00, 0x04, 0x00, 0x00]);
    // Consumer (1), level (HE 0), active high (LL 0), shared (8).
    expect(extendedInterrupt({ level: true, activeLow: false, shared: true, interrupts: [10] })).toEqual([0x89, 0x06, 0x00, 0x09, 0x01, 0x0a, 0, 0, 0]);
    expect(extendedInterrupt({ level: false, activeLow: true, shared: false, interrupts: [1, 2] })[3]).toBe(0x01 | 0x02 | 0x04);
    const w = wordAddress({ type: AddressSpace.IO, min: 0xd00, max: 0xffff, typeFlags: 3 });
    expect(w).toEqual([0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x0d, 0xff, 0xff, 0, 0, 0x00, 0xf3]);
    const d = dwordAddress({ type: AddressSpace.MEMORY, min: 0xa_0000, max: 0xb_ffff, typeFlags: 3 });
    expect(d.length).toBe(3 + 23);
    expect(d.slice(0, 6)).toEqual([0x87, 0x17, 0x00, 0x00, 0x0c, 0x03]);
    expect(d.slice(-4)).toEqual([0x00, 0x00, 0x02, 0x00]); // _LEN 0x20000
    expect(() => wordAddress({ type: AddressSpace.IO, min: 2, max: 1, typeFlags: 0 })).toThrow(AmlError);
  });
});
