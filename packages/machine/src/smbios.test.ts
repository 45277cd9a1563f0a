/// <reference types="node" />
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Hpa } from '@hvkit/platform';
import { AMD_ZEN, INTEL_CORE, signature, type CpuModel } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { buildSmbiosTables, createPc, E820Type, SmbiosTableError, type SmbiosConfig, type SmbiosTables } from './index.js';

// ---- an independent reader of SMBIOS data, written from the DSP0134 3.0 text ----------------------

/** Bytes at physical addresses, as an OS reads them. */
type Read = (at: number, n: number) => Uint8Array;

const u16 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number): number => (u16(b, at) | (u16(b, at + 2) << 16)) >>> 0;
const u64 = (b: Uint8Array, at: number): number => u32(b, at) + u32(b, at + 4) * 2 ** 32;
const ascii = (b: Uint8Array, at: number, n: number): string => String.fromCharCode(...b.subarray(at, at + n));
const sum = (b: Uint8Array): number => b.reduce((s, x) => (s + x) & 0xff, 0);

interface ParsedStructure {
  type: number;
  length: number;
  handle: number;
  /** The formatted area (header included). */
  area: Uint8Array;
  strings: string[];
  /** Formatted area plus string-set. */
  size: number;
}

interface ParsedEntryPoints {
  sm3?: { address: number; version: string; maxSize: number; table: number };
  sm?: { address: number; version: string; maxStructure: number; tableLength: number; table: number; count: number; bcd: number };
}

/** §5.2.1/§5.2.2: paragraph boundaries from F0000h to FFFFFh, checking anchors, lengths and checksums. */
function scanEntryPoints(read: Read): ParsedEntryPoints {
  const out: ParsedEntryPoints = {};
  const seg = read(0xf_0000, 0x1_0000);
  for (let off = 0; off < 0x1_0000; off += 16) {
    if (ascii(seg, off, 5) === '_SM3_') {
      const len = seg[off + 6]!;
      expect(len).toBe(0x18);
      const ep = seg.subarray(off, off + len);
      expect(sum(ep)).toBe(0);
      expect(ep[0x0a]).toBe(1); // entry point revision 01h
      expect(ep[0x0b]).toBe(0);
      expect(out.sm3).toBeUndefined();
      out.sm3 = { address: 0xf_0000 + off, version: `${ep[7]!}.${ep[8]!}.${ep[9]!}`, maxSize: u32(ep, 0x0c), table: u64(ep, 0x10) };
    } else if (ascii(seg, off, 4) === '_SM_') {
      const len = seg[off + 5]!;
      expect(len).toBe(0x1f);
      const ep = seg.subarray(off, off + len);
      expect(sum(ep)).toBe(0);
      expect(ascii(ep, 0x10, 5)).toBe('_DMI_');
      expect(sum(ep.subarray(0x10, 0x1f))).toBe(0);
      expect([...ep.subarray(0x0a, 0x10)]).toEqual([0, 0, 0, 0, 0, 0]);
      expect(out.sm).toBeUndefined();
      out.sm = {
        address: 0xf_0000 + off,
        version: `${ep[6]!}.${ep[7]!}`,
        maxStructure: u16(ep, 0x08),
        tableLength: u16(ep, 0x16),
        table: u32(ep, 0x18),
        count: u16(ep, 0x1c),
        bcd: ep[0x1e]!,
      };
    }
  }
  return out;
}

/** §6.1.2/§6.1.3: header, formatted area, string-set up to the double NUL; stops after type 127. */
function parseStructures(table: Uint8Array): ParsedStructure[] {
  const out: ParsedStructure[] = [];
  let at = 0;
  for (;;) {
    expect(at + 4).toBeLessThanOrEqual(table.length);
    const type = table[at]!;
    const length = table[at + 1]!;
    expect(length).toBeGreaterThanOrEqual(4);
    const area = table.subarray(at, at + length);
    let p = at + length;
    const strings: string[] = [];
    if (table[p] === 0) {
      // No strings: the set is two NULs.
      expect(table[p + 1]).toBe(0);
      p += 2;
    } else {
      while (table[p] !== 0) {
        const start = p;
        while (table[p] !== 0) p++;
        expect(p).toBeLessThan(table.length);
        strings.push(new TextDecoder().decode(table.subarray(start, p)));
        p++;
      }
      p++;
    }
    out.push({ type, length, handle: u16(area, 2), area, strings, size: p - at });
    at = p;
    if (type === 127) break;
  }
  expect(at).toBe(table.length);
  return out;
}

/** String field `at` of `s`: undefined for 0, else the numbered string (which must exist). */
function str(s: ParsedStructure, at: number): string | undefined {
  const n = s.area[at]!;
  if (n === 0) return undefined;
  expect(n).toBeLessThanOrEqual(s.strings.length);
  return s.strings[n - 1];
}

/** Every string field of each type (offsets per §7.x), to check they all point into the set. */
const STRING_FIELDS: Record<number, number[]> = {
  0: [0x04, 0x05, 0x08],
  1: [0x04, 0x05, 0x06, 0x07, 0x19, 0x1a],
  3: [0x04, 0x06, 0x07, 0x08, 0x15],
  4: [0x04, 0x07, 0x10, 0x20, 0x21, 0x22],
  16: [],
  17: [0x10, 0x11, 0x17, 0x18, 0x19, 0x1a],
  19: [],
  32: [],
  127: [],
};

function readerOf(tables: SmbiosTables): Read {
  const mem = new Map<number, number>();
  for (const part of [tables.entryPoint64, tables.entryPoint32, tables.table]) part.bytes.forEach((b, i) => mem.set(part.address + i, b));
  return (at, n) => Uint8Array.from({ length: n }, (_, i) => mem.get(at + i) ?? 0);
}

interface Parsed {
  eps: ParsedEntryPoints;
  table: Uint8Array;
  structures: ParsedStructure[];
}

/** Finds the entry points, reads the table through each, checks they agree, parses it. */
function parse(read: Read): Parsed {
  const eps = scanEntryPoints(read);
  expect(eps.sm3).toBeDefined();
  expect(eps.sm).toBeDefined();
  const sm = eps.sm!;
  const sm3 = eps.sm3!;
  expect(sm3.version).toBe('3.0.0');
  expect(sm.version).toBe('2.8');
  expect(sm.bcd).toBe(0x28);
  expect(sm3.table).toBe(sm.table);
  expect(sm3.maxSize).toBe(sm.tableLength);
  const table = read(sm.table, sm.tableLength);
  const structures = parseStructures(table);
  expect(structures.length).toBe(sm.count);
  expect(Math.max(...structures.map((s) => s.size))).toBe(sm.maxStructure);
  // Handles: unique, below FEFFh (FFFEh/FFFFh are reserved values).
  const handles = structures.map((s) => s.handle);
  expect(new Set(handles).size).toBe(handles.length);
  for (const h of handles) expect(h).toBeLessThan(0xfeff);
  for (const s of structures) {
    for (const f of STRING_FIELDS[s.type] ?? []) if (f < s.length) str(s, f);
    // No empty strings (§6.1.3: a string field of 0 means "none"; the set holds no empty strings).
    for (const t of s.strings) expect(t.length).toBeGreaterThan(0);
  }
  return { eps, table, structures };
}

const GiB = 2 ** 30;
const MiB = 2 ** 20;

function config(over: Partial<SmbiosConfig> = {}): SmbiosConfig {
  return {
    cpus: [{ model: INTEL_CORE, leaf1Edx: INTEL_CORE.leaf1Edx | (1 << 9) }],
    lowMemory: 64 * MiB,
    highMemory: 0,
    entryPointAddress: 0xf_0040,
    tableAddress: 0xf_0080,
    ...over,
  };
}

const ofType = (p: Parsed, type: number): ParsedStructure[] => p.structures.filter((s) => s.type === type);
const one = (p: Parsed, type: number): ParsedStructure => {
  const all = ofType(p, type);
  expect(all).toHaveLength(1);
  return all[0]!;
};

// ---- the tables -------------------------------------------------------------------------------------------

describe('buildSmbiosTables: entry points and table', () => {
  it('makes a 3.0 and a 2.8 entry point over one table, with valid checksums and counts', () => {
    const t = buildSmbiosTables(config());
    expect(t.entryPoint64.address).toBe(0xf_0040);
    expect(t.entryPoint32.address).toBe(0xf_0060);
    expect(t.entryPoint64.bytes).toHaveLength(0x18);
    expect(t.entryPoint32.bytes).toHaveLength(0x1f);
    const p = parse(readerOf(t));
    expect(p.eps.sm3!.address).toBe(0xf_0040);
    expect(p.eps.sm!.address).toBe(0xf_0060);
    expect(p.eps.sm!.table).toBe(0xf_0080);
    expect(p.structures.map((s) => s.type)).toEqual([0, 1, 3, 4, 16, 17, 19, 32, 127]);
    expect(p.structures.map((s) => s.handle)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(p.structures.map((s) => s.length)).toEqual([0x18, 0x1b, 0x16, 0x30, 0x17, 0x28, 0x1f, 0x0b, 0x04]);
    expect(t.structures.map((s) => [s.type, s.handle, s.offset, s.length, s.size])).toEqual(
      p.structures.map((s, i) => [s.type, s.handle, p.structures.slice(0, i).reduce((n, x) => n + x.size, 0), s.length, s.size]),
    );
    // Structures without strings end in exactly two NULs.
    const boot = one(p, 32);
    expect(boot.size).toBe(0x0b + 2);
    expect(one(p, 127).size).toBe(6);
  });

  it('the reader rejects broken checksums and a missing double NUL', () => {
    const t = buildSmbiosTables(config());
    const withByte = (part: 'entryPoint64' | 'entryPoint32' | 'table', at: number, v: number): SmbiosTables => {
      const bytes = t[part].bytes.slice();
      bytes[at] = v;
      return { ...t, [part]: { address: t[part].address, bytes } };
    };
    expect(() => parse(readerOf(withByte('entryPoint64', 0x05, t.entryPoint64.bytes[5]! ^ 1)))).toThrow();
    expect(() => parse(readerOf(withByte('entryPoint32', 0x15, t.entryPoint32.bytes[0x15]! ^ 1)))).toThrow();
    const end = t.table.bytes.length;
    expect(() => parse(readerOf(withByte('table', end - 1, 0x41)))).toThrow();
  });

  it('is deterministic', () => {
    expect(buildSmbiosTables(config()).table.bytes).toEqual(buildSmbiosTables(config()).table.bytes);
  });
});

describe('buildSmbiosTables: structures', () => {
  it('Type 0 BIOS Information: vendor, version, date, 64 KiB at F000h, characteristics', () => {
    const b = one(parse(readerOf(buildSmbiosTables(config()))), 0);
    expect(str(b, 0x04)).toBe('hvkit');
    expect(str(b, 0x05)).toBe('1.0');
    expect(u16(b.area, 0x06)).toBe(0xf000);
    expect(str(b, 0x08)).toMatch(/^\d\d\/\d\d\/\d{4}$/);
    expect(b.area[0x09]).toBe(0);
    expect(u64(b.area, 0x0a)).toBe(8); // bit 3: characteristics not supported
    expect(b.area[0x12]).toBe(1); // ACPI
    expect(b.area[0x13]).toBe(0x10); // virtual machine
    expect([b.area[0x14], b.area[0x15], b.area[0x16], b.area[0x17]]).toEqual([1, 0, 0xff, 0xff]);
    const noAcpi = one(parse(readerOf(buildSmbiosTables(config({ acpi: false, biosRelease: { major: 2, minor: 7 } })))), 0);
    expect([noAcpi.area[0x12], noAcpi.area[0x14], noAcpi.area[0x15]]).toEqual([0, 2, 7]);
  });

  it('Type 1 System Information: strings, wake-up type, UUID byte order', () => {
    const p = parse(readerOf(buildSmbiosTables(config({ uuid: '00112233-4455-6677-8899-aabbccddeeff' }))));
    const s = one(p, 1);
    expect(str(s, 0x04)).toBe('hvkit');
    expect(str(s, 0x05)).toBe('hvkit PC (i440FX + PIIX)');
    expect(str(s, 0x06)).toBe('1.0');
    expect(str(s, 0x07)).toBeUndefined();
    expect(str(s, 0x1a)).toBe('hvkit');
    expect(s.area[0x18]).toBe(0x06);
    // §7.2.1: time_low, time_mid, time_hi_and_version little-endian.
    expect([...s.area.subarray(0x08, 0x18)]).toEqual([0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    // The manufacturer string appears once in the set though two fields could name it.
    expect(new Set(s.strings).size).toBe(s.strings.length);
  });

  it('Type 1: the default UUID is a version 8 UUID derived from the configuration', () => {
    const uuidOf = (c: SmbiosConfig): number[] => [...one(parse(readerOf(buildSmbiosTables(c))), 1).area.subarray(0x08, 0x18)];
    const a = uuidOf(config());
    expect(uuidOf(config())).toEqual(a);
    expect(uuidOf(config({ lowMemory: 128 * MiB }))).not.toEqual(a);
    expect(a[7]! >> 4).toBe(8); // version, in the little-endian time_hi_and_version
    expect(a[8]! >> 6).toBe(2); // variant 10b
    expect(a.every((x) => x === 0) || a.every((x) => x === 0xff)).toBe(false);
  });

  it('Type 3 Chassis: type Other, states Safe, no contained elements', () => {
    const c = one(parse(readerOf(buildSmbiosTables(config()))), 3);
    expect(str(c, 0x04)).toBe('hvkit');
    expect([...c.area.subarray(0x05, 0x06)]).toEqual([0x01]);
    expect([c.area[0x09], c.area[0x0a], c.area[0x0b], c.area[0x0c]]).toEqual([3, 3, 3, 3]);
    expect([c.area[0x13], c.area[0x14], c.area[0x15]]).toEqual([0, 0, 0]);
  });

  it.each([
    ['Intel', INTEL_CORE, 0xb3, 'Intel(R) Corporation'],
    ['AMD', AMD_ZEN, 0x6b, 'Advanced Micro Devices, Inc.'],
  ] as [string, CpuModel, number, string][])('Type 4 Processor per CPU (%s)', (_, model, family, vendor) => {
    const edx = model.leaf1Edx | (1 << 9);
    const p = parse(readerOf(buildSmbiosTables(config({ cpus: [0, 1, 2].map(() => ({ model, leaf1Edx: edx })), speedMHz: 100 }))));
    const cpus = ofType(p, 4);
    expect(cpus).toHaveLength(3);
    cpus.forEach((c, i) => {
      expect(str(c, 0x04)).toBe(`CPU ${i}`);
      expect(c.area[0x05]).toBe(0x03);
      expect(c.area[0x06]).toBe(family);
      expect(u16(c.area, 0x28)).toBe(family);
      expect(str(c, 0x07)).toBe(vendor);
      expect(u32(c.area, 0x08)).toBe(signature(model));
      expect(u32(c.area, 0x0c)).toBe(edx >>> 0);
      expect(str(c, 0x10)).toBe(model.brand);
      expect([u16(c.area, 0x14), u16(c.area, 0x16)]).toEqual([100, 100]);
      expect(c.area[0x18]).toBe(0x41);
      expect([u16(c.area, 0x1a), u16(c.area, 0x1c), u16(c.area, 0x1e)]).toEqual([0xffff, 0xffff, 0xffff]);
      expect([c.area[0x23], c.area[0x24], c.area[0x25]]).toEqual([1, 1, 1]);
      expect(u16(c.area, 0x26)).toBe(4); // 64-bit capable
      expect([u16(c.area, 0x2a), u16(c.area, 0x2c), u16(c.area, 0x2e)]).toEqual([1, 1, 1]);
    });
    expect(p.structures.filter((s) => s.type === 4).map((s) => s.handle)).toEqual([3, 4, 5]);
  });

  it('Types 16, 17, 19 describe RAM below 4 GiB only', () => {
    const p = parse(readerOf(buildSmbiosTables(config({ lowMemory: 512 * MiB }))));
    const arr = one(p, 16);
    expect([arr.area[4], arr.area[5], arr.area[6]]).toEqual([3, 3, 3]);
    expect(u32(arr.area, 0x07)).toBe(512 * 1024);
    expect(u16(arr.area, 0x0b)).toBe(0xfffe);
    expect(u16(arr.area, 0x0d)).toBe(1);
    const dev = one(p, 17);
    expect(u16(dev.area, 0x04)).toBe(arr.handle);
    expect(u16(dev.area, 0x0c)).toBe(512);
    expect(str(dev, 0x10)).toBe('DIMM 0');
    expect(dev.area[0x12]).toBe(0x07);
    const maps = ofType(p, 19);
    expect(maps).toHaveLength(1);
    expect([u32(maps[0]!.area, 4), u32(maps[0]!.area, 8), u16(maps[0]!.area, 0x0c), maps[0]!.area[0x0e]]).toEqual([0, 512 * 1024 - 1, arr.handle, 1]);
  });

  it('Types 16, 17, 19 with RAM above 4 GiB, and Extended Size at 32 GiB and more', () => {
    const p = parse(readerOf(buildSmbiosTables(config({ lowMemory: 3 * GiB, highMemory: 61 * GiB }))));
    expect(u32(one(p, 16).area, 0x07)).toBe(64 * 1024 * 1024);
    const dev = one(p, 17);
    expect(u16(dev.area, 0x0c)).toBe(0x7fff);
    expect(u32(dev.area, 0x1c)).toBe(64 * 1024);
    const maps = ofType(p, 19).map((m) => [u32(m.area, 4) * 1024, (u32(m.area, 8) + 1) * 1024]);
    expect(maps).toEqual([
      [0, 3 * GiB],
      [4 * GiB, 65 * GiB],
    ]);
  });

  it('Types 16 and 19 switch to the extended (byte) fields past their 32-bit KiB ranges', () => {
    const p = parse(readerOf(buildSmbiosTables(config({ lowMemory: 3 * GiB, highMemory: 4096 * GiB }))));
    const arr = one(p, 16);
    expect(u32(arr.area, 0x07)).toBe(0x8000_0000);
    expect(u64(arr.area, 0x0f)).toBe(4099 * GiB);
    const high = ofType(p, 19)[1]!;
    expect([u32(high.area, 4), u32(high.area, 8)]).toEqual([0xffff_ffff, 0xffff_ffff]);
    expect([u64(high.area, 0x0f), u64(high.area, 0x17)]).toEqual([4 * GiB, 4100 * GiB - 1]);
  });

  it('Type 32: no errors; Type 127 ends the table', () => {
    const p = parse(readerOf(buildSmbiosTables(config())));
    expect([...one(p, 32).area.subarray(4, 11)]).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(p.structures.at(-1)!.type).toBe(127);
  });
});

describe('buildSmbiosTables: errors', () => {
  it.each([
    ['an unaligned entry point', { entryPointAddress: 0xf_0048 }, /16-byte boundary/],
    ['an entry point outside the F segment', { entryPointAddress: 0xe_0000 }, /0xf0000-0xfffff/],
    ['an entry point running past 1 MiB', { entryPointAddress: 0xf_fff0 }, /0xf0000-0xfffff/],
    ['a table over the entry points', { tableAddress: 0xf_0050 }, /overlaps the entry points/],
    ['a table above 4 GiB', { tableAddress: 0xffff_ff00 }, /below 4 GiB/],
    ['no CPUs', { cpus: [] }, /processors/],
    ['a bad date', { biosReleaseDate: '2026-01-01' }, /mm\/dd\/yyyy/],
    ['a bad UUID', { uuid: 'not-a-uuid' }, /UUID/],
    ['memory not in MiB', { lowMemory: 1000 }, /whole, non-zero MiB/],
    ['a string with a NUL', { productName: 'a\0b' }, /NUL/],
    ['a string outside printable ASCII', { productName: 'hvkit\u2122' }, /not printable ASCII/],
  ] as [string, Partial<SmbiosConfig>, RegExp][])('rejects %s', (_, over, message) => {
    expect(() => buildSmbiosTables(config(over))).toThrow(SmbiosTableError);
    expect(() => buildSmbiosTables(config(over))).toThrow(message);
  });
});

// ---- on the PC ------------------------------------------------------------------------------------------------

describe('createPc: SMBIOS in guest memory', () => {
  const readPc =
    (pc: ReturnType<typeof createPc>): Read =>
    (at, n) => {
      const out = new Uint8Array(n);
      pc.memory.read(at as Hpa, out);
      return out;
    };

  it('an OS scanning the F segment finds both entry points, after the RSDP, in reserved memory', () => {
    const pc = createPc({ memoryMiB: 64, cpus: 2 });
    const read = readPc(pc);
    expect(ascii(read(0xf_0000, 8), 0, 8)).toBe('RSD PTR ');
    const p = parse(read);
    const reserved = pc.e820.find((e) => e.type === E820Type.RESERVED && e.base <= 0xf_0000 && e.base + e.length >= 0x10_0000);
    expect(reserved).toBeDefined();
    expect(p.eps.sm!.table + p.eps.sm!.tableLength).toBeLessThanOrEqual(0x10_0000);
    expect(p.eps.sm3!.address).toBeGreaterThanOrEqual(0xf_0024); // past the 36-byte RSDP
    const cpus = ofType(p, 4);
    expect(cpus).toHaveLength(2);
    // The Processor ID's EDX is what CPUID.01H reports: the model's bits and the APIC bit.
    expect(u32(cpus[0]!.area, 0x0c)).toBe((INTEL_CORE.leaf1Edx | (1 << 9)) >>> 0);
    expect(u16(cpus[0]!.area, 0x16)).toBe(100);
    expect(u16(one(p, 17).area, 0x0c)).toBe(64);
  });

  it('follows the guest clock and the split at 3 GiB', () => {
    const pc = createPc({ memoryMiB: 4096, instructionsPerSecond: 2.5e8 });
    const p = parse(readPc(pc));
    expect(u16(one(p, 4).area, 0x16)).toBe(250);
    expect(ofType(p, 19).map((m) => [u32(m.area, 4), u32(m.area, 8)])).toEqual([
      [0, 3 * 1024 * 1024 - 1],
      [4 * 1024 * 1024, 5 * 1024 * 1024 - 1],
    ]);
  });

  it('leaves the F segment to the BIOS when one is given', () => {
    const pc = createPc({ memoryMiB: 64, bios: new Uint8Array(0x1_0000) });
    const e = scanEntryPoints(readPc(pc));
    expect(e.sm).toBeUndefined();
    expect(e.sm3).toBeUndefined();
  });
});

// ---- dmidecode, when installed, as a second opinion ------------------------------------------------------------

function findDmidecode(): string | null {
  const candidates = [process.env['DMIDECODE'], 'dmidecode', '/usr/sbin/dmidecode', '/sbin/dmidecode'].filter((c): c is string => c !== undefined && c !== '');
  for (const c of candidates) {
    if (c.includes('/') && !existsSync(c)) continue;
    const r = spawnSync(c, ['--version'], { encoding: 'utf8' });
    if (!r.error && r.status === 0 && /^\d+\.\d+/.test(r.stdout)) return c;
  }
  return null;
}
const dmidecode = findDmidecode();

/**
 * A `dmidecode --dump-bin` file (dmidecode(8) "BINARY DUMP FILE FORMAT"): the entry point at 0
 * with the table address rewritten to 20h (and its checksums redone), the table at 20h.
 */
function dumpFile(tables: SmbiosTables, which: '32' | '64'): Uint8Array {
  const ep = (which === '64' ? tables.entryPoint64 : tables.entryPoint32).bytes.slice();
  const v = new DataView(ep.buffer);
  if (which === '64') {
    v.setUint32(0x10, 0x20, true);
    v.setUint32(0x14, 0, true);
    ep[5] = 0;
    ep[5] = (0x100 - sum(ep)) & 0xff;
  } else {
    v.setUint32(0x18, 0x20, true);
    ep[0x15] = 0;
    ep[0x15] = (0x100 - sum(ep.subarray(0x10, 0x1f))) & 0xff;
    ep[4] = 0;
    ep[4] = (0x100 - sum(ep)) & 0xff;
  }
  const out = new Uint8Array(0x20 + tables.table.bytes.length);
  out.set(ep);
  out.set(tables.table.bytes, 0x20);
  return out;
}

describe.skipIf(dmidecode === null)(`dmidecode --from-dump (${dmidecode ?? 'absent'})`, () => {
  const decode = (tables: SmbiosTables, which: '32' | '64'): string => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hvkit-smbios-'));
    try {
      const file = path.join(dir, 'dmi.bin');
      writeFileSync(file, dumpFile(tables, which));
      const r = spawnSync(dmidecode!, ['--from-dump', file], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      return r.stdout;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it.each(['64', '32'] as const)('decodes the PC tables through the %s-bit entry point without complaint', (which) => {
    const pc = createPc({ memoryMiB: 4096, cpus: 2 });
    const read = (at: number, n: number): Uint8Array => {
      const out = new Uint8Array(n);
      pc.memory.read(at as Hpa, out);
      return out;
    };
    const eps = scanEntryPoints(read);
    const table = read(eps.sm!.table, eps.sm!.tableLength);
    const tables: SmbiosTables = {
      entryPoint64: { address: eps.sm3!.address, bytes: read(eps.sm3!.address, 0x18) },
      entryPoint32: { address: eps.sm!.address, bytes: read(eps.sm!.address, 0x1f) },
      table: { address: eps.sm!.table, bytes: table },
      structures: [],
    };
    const out = decode(tables, which);
    expect(out).toContain(which === '64' ? 'SMBIOS 3.0.0 present.' : 'SMBIOS 2.8 present.');
    if (which === '32') expect(out).toContain(`${eps.sm!.count} structures occupying ${table.length} bytes.`);
    for (const bad of ['OUT OF SPEC', 'Invalid', 'invalid', 'wrong', 'truncated', 'Bad', 'Unsupported', 'not fully supported']) expect(out).not.toContain(bad);
    expect(out).toContain('Vendor: hvkit');
    expect(out).toContain('Product Name: hvkit PC (i440FX + PIIX)');
    expect(out).toContain('Characteristics:\n\t\tBIOS characteristics not supported');
    expect(out).toContain('System is a virtual machine');
    expect(out).toContain('Socket Designation: CPU 1');
    expect(out).toContain('Family: Xeon');
    expect(out).toContain('Signature: Type 0, Family 6, Model 85, Stepping 4');
    expect(out).toContain('APIC (On-chip APIC hardware supported)');
    expect(out).toContain('Max Speed: 100 MHz');
    expect(out).toContain('Status: Populated, Enabled');
    expect(out).toContain('Size: 4 GB');
    expect(out).toContain('Ending Address: 0x000BFFFFFFF');
    expect(out).toContain('Starting Address: 0x00100000000');
    expect(out).toContain('Status: No errors detected');
    expect(out).toContain('End Of Table');
  });

  it('decodes the AMD processor and the extended memory fields', () => {
    const out = decode(buildSmbiosTables(config({ cpus: [{ model: AMD_ZEN }], lowMemory: 3 * GiB, highMemory: 4096 * GiB })), '64');
    expect(out).toContain('Family: Zen');
    expect(out).toContain('Manufacturer: Advanced Micro Devices, Inc.');
    expect(out).toContain('Maximum Capacity: 4099 GB');
    expect(out).toContain('Size: 4099 GB');
    // dmidecode 3.4 prints the extended (byte) addresses of Type 19 with a stray "k".
    expect(out).toMatch(/Starting Address: 0x0*100000000k?\n/);
    expect(out).toMatch(/Ending Address: 0x0*400FFFFFFFFk?\n/);
    expect(out).not.toContain('OUT OF SPEC');
  });
});
