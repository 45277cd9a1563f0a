/// <reference types="node" />
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AcpiPm, Hpet } from '@hvkit/devices';
import { PhysicalMemory, VirtualClock, type Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { AcpiTableError, buildAcpiTables, writeAcpiTables, type AcpiTables, type AcpiTablesConfig } from './index.js';

// ---- an independent reader of ACPI structures, written from the ACPI 6.4 text -----------------

/** Guest memory as an OS sees it: little-endian reads at physical addresses. */
class Phys {
  constructor(private readonly memory: PhysicalMemory) {}
  bytes(at: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    this.memory.read(at as Hpa, out);
    return out;
  }
  u8(at: number): number {
    return this.bytes(at, 1)[0]!;
  }
  u16(at: number): number {
    const b = this.bytes(at, 2);
    return b[0]! | (b[1]! << 8);
  }
  u32(at: number): number {
    const b = this.bytes(at, 4);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }
  u64(at: number): bigint {
    return BigInt(this.u32(at)) | (BigInt(this.u32(at + 4)) << 32n);
  }
  str(at: number, n: number): string {
    return String.fromCharCode(...this.bytes(at, n));
  }
  /** Sum of `n` bytes mod 256 (§5.2.6: "the entire table, including the checksum field, must add to zero"). */
  sum(at: number, n: number): number {
    return this.bytes(at, n).reduce((s, b) => (s + b) & 0xff, 0);
  }
}

/** §5.2.6 System Description Table Header. */
function header(p: Phys, at: number) {
  return {
    signature: p.str(at, 4),
    length: p.u32(at + 4),
    revision: p.u8(at + 8),
    oemId: p.str(at + 10, 6),
    oemTableId: p.str(at + 16, 8),
    oemRevision: p.u32(at + 24),
    creatorId: p.str(at + 28, 4),
    creatorRevision: p.u32(at + 32),
    sum: p.sum(at, p.u32(at + 4)),
  };
}

/** §5.2.3.2 Generic Address Structure. */
function gas(p: Phys, at: number) {
  return { space: p.u8(at), bitWidth: p.u8(at + 1), bitOffset: p.u8(at + 2), accessSize: p.u8(at + 3), address: p.u64(at + 4) };
}

/** §5.2.5.1: scan 0xE0000-0xFFFFF on 16-byte boundaries for a valid "RSD PTR ". */
function findRsdp(p: Phys): number {
  for (let a = 0xe0000; a < 0x100000; a += 16) {
    if (p.str(a, 8) === 'RSD PTR ' && p.sum(a, 20) === 0) return a;
  }
  throw new Error('no RSDP');
}

/** Walks the XSDT as an OS would, returning each table's address by signature. */
function discover(p: Phys) {
  const rsdp = findRsdp(p);
  const xsdt = Number(p.u64(rsdp + 24));
  const h = header(p, xsdt);
  const byName = new Map<string, number>();
  for (let i = 0; i < (h.length - 36) / 8; i++) {
    const a = Number(p.u64(xsdt + 36 + 8 * i));
    byName.set(p.str(a, 4), a);
  }
  const fadt = byName.get('FACP')!;
  byName.set('DSDT', Number(p.u64(fadt + 140)));
  byName.set('FACS', p.u32(fadt + 36));
  byName.set('XSDT', xsdt);
  byName.set('RSDT', p.u32(rsdp + 16));
  return { rsdp, byName };
}

interface MadtEntry {
  type: number;
  length: number;
  at: number;
}

function madtEntries(p: Phys, madt: number): MadtEntry[] {
  const end = madt + p.u32(madt + 4);
  const out: MadtEntry[] = [];
  for (let at = madt + 44; at < end; at += p.u8(at + 1)) {
    expect(p.u8(at + 1)).toBeGreaterThan(0);
    out.push({ type: p.u8(at), length: p.u8(at + 1), at });
  }
  return out;
}

// ---- fixtures ------------------------------------------------------------------------------------

const PM = { pm1aEvt: 0x600, pm1aCnt: 0x604, pmTmr: 0x608, gpe0: 0x620, gpe0Length: 4, sciIrq: 9, tmrValExt: false };

function pcConfig(over: Partial<AcpiTablesConfig> = {}): AcpiTablesConfig {
  return {
    cpus: [
      { apicId: 0, enabled: true },
      { apicId: 1, enabled: true },
      { apicId: 2, enabled: false },
    ],
    ioApic: { id: 0, address: 0xfec0_0000, gsiBase: 0 },
    pm: PM,
    hpet: { address: 0xfed0_0000, blockId: 0x8086_a201 },
    base: 0x9_0000,
    rsdpAddress: 0xf_5a10,
    ...over,
  };
}

function install(tables: AcpiTables): Phys {
  const memory = new PhysicalMemory({ ramSize: 0x20_0000 });
  memory.mapRam(0, 0x20_0000);
  writeAcpiTables(memory, tables);
  return new Phys(memory);
}

// ---- tests ---------------------------------------------------------------------------------------

describe('buildAcpiTables: structure', () => {
  const tables = buildAcpiTables(pcConfig());
  const p = install(tables);
  const { rsdp, byName } = discover(p);

  it('places an ACPI 2.0 RSDP where an OS finds it, with both checksums', () => {
    expect(rsdp).toBe(0xf_5a10);
    expect(p.str(rsdp, 8)).toBe('RSD PTR ');
    expect(p.sum(rsdp, 20)).toBe(0);
    expect(p.sum(rsdp, 36)).toBe(0);
    expect(p.str(rsdp + 9, 6)).toBe('HVKIT ');
    expect(p.u8(rsdp + 15)).toBe(2);
    expect(p.u32(rsdp + 20)).toBe(36);
    expect(p.bytes(rsdp + 33, 3)).toEqual(new Uint8Array(3));
    expect(tables.rsdp.bytes.length).toBe(36);
  });

  it('gives every table a valid header: length, revision, OEM and creator fields, zero checksum', () => {
    const revisions: Record<string, number> = { RSDT: 1, XSDT: 1, FACP: 6, APIC: 5, HPET: 1, DSDT: 2 };
    for (const [name, revision] of Object.entries(revisions)) {
      const at = byName.get(name)!;
      const h = header(p, at);
      expect({ name, ...h }).toEqual({
        name,
        signature: name,
        length: tables.tables.find((t) => t.name === name)!.length,
        revision,
        oemId: 'HVKIT ',
        oemTableId: 'HVKITPC ',
        oemRevision: 1,
        creatorId: 'HVKT',
        creatorRevision: 1,
        sum: 0,
      });
    }
  });

  it('points the RSDT (32-bit) and the XSDT (64-bit) at the same FADT, MADT and HPET', () => {
    const rsdt = byName.get('RSDT')!;
    const xsdt = byName.get('XSDT')!;
    expect(header(p, rsdt).length).toBe(36 + 3 * 4);
    expect(header(p, xsdt).length).toBe(36 + 3 * 8);
    const r = [0, 1, 2].map((i) => p.u32(rsdt + 36 + 4 * i));
    const x = [0, 1, 2].map((i) => Number(p.u64(xsdt + 36 + 8 * i)));
    expect(r).toEqual(x);
    expect(r.map((a) => p.str(a, 4))).toEqual(['FACP', 'APIC', 'HPET']);
    expect(p.u32(rsdp + 16)).toBe(rsdt);
    expect(Number(p.u64(rsdp + 24))).toBe(xsdt);
  });

  it('reports every table with its address and length, inside the blob', () => {
    expect(tables.tables.map((t) => t.name)).toEqual(['RSDP', 'FACS', 'DSDT', 'FACP', 'APIC', 'HPET', 'RSDT', 'XSDT']);
    for (const t of tables.tables.slice(1)) {
      expect(t.address).toBe(byName.get(t.name));
      expect(t.address).toBeGreaterThanOrEqual(tables.blob.address);
      expect(t.address + t.length).toBeLessThanOrEqual(tables.blob.address + tables.blob.bytes.length);
    }
    expect(tables.blob.address).toBe(0x9_0000);
  });

  it('builds the FACS: 64-byte aligned, signature, length 64, version 2, everything else zero', () => {
    const facs = byName.get('FACS')!;
    expect(facs % 64).toBe(0);
    expect(p.str(facs, 4)).toBe('FACS');
    expect(p.u32(facs + 4)).toBe(64);
    expect(p.u32(facs + 8)).toBe(0); // hardware signature
    expect(p.u32(facs + 12)).toBe(0); // firmware waking vector
    expect(p.u32(facs + 16)).toBe(0); // global lock
    expect(p.u32(facs + 20)).toBe(0); // flags
    expect(p.u64(facs + 24)).toBe(0n); // X_Firmware_Waking_Vector
    expect(p.u8(facs + 32)).toBe(2);
    expect(p.bytes(facs + 33, 31).every((b) => b === 0)).toBe(true);
  });

  it('encodes Name (_S5_, Package (4) {0, 0, 0, 0}) in the DSDT', () => {
    const dsdt = byName.get('DSDT')!;
    const aml = p.bytes(dsdt + 36, header(p, dsdt).length - 36);
    // NameOp, "_S5_", PackageOp, PkgLength 6, NumElements 4, ZeroOp x 4 (ACPI 6.4 §20.2)
    expect([...aml]).toEqual([0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00]);
  });

  it('fills every FADT field', () => {
    const f = byName.get('FACP')!;
    const h = header(p, f);
    expect(h.length).toBe(276);
    expect(p.u32(f + 36)).toBe(byName.get('FACS')); // FIRMWARE_CTRL
    expect(p.u32(f + 40)).toBe(byName.get('DSDT')); // DSDT
    expect(p.u8(f + 44)).toBe(0); // reserved
    expect(p.u8(f + 45)).toBe(0); // Preferred_PM_Profile
    expect(p.u16(f + 46)).toBe(9); // SCI_INT
    expect(p.u32(f + 48)).toBe(0); // SMI_CMD
    expect([p.u8(f + 52), p.u8(f + 53), p.u8(f + 54), p.u8(f + 55)]).toEqual([0, 0, 0, 0]); // ACPI_ENABLE..PSTATE_CNT
    expect(p.u32(f + 56)).toBe(0x600); // PM1a_EVT_BLK
    expect(p.u32(f + 60)).toBe(0); // PM1b_EVT_BLK
    expect(p.u32(f + 64)).toBe(0x604); // PM1a_CNT_BLK
    expect(p.u32(f + 68)).toBe(0); // PM1b_CNT_BLK
    expect(p.u32(f + 72)).toBe(0); // PM2_CNT_BLK
    expect(p.u32(f + 76)).toBe(0x608); // PM_TMR_BLK
    expect(p.u32(f + 80)).toBe(0x620); // GPE0_BLK
    expect(p.u32(f + 84)).toBe(0); // GPE1_BLK
    expect([88, 89, 90, 91, 92, 93, 94, 95].map((o) => p.u8(f + o))).toEqual([4, 2, 0, 4, 4, 0, 0, 0]); // lengths, GPE1_BASE, CST_CNT
    expect(p.u16(f + 96)).toBeGreaterThan(100); // P_LVL2_LAT: no C2
    expect(p.u16(f + 98)).toBeGreaterThan(1000); // P_LVL3_LAT: no C3
    expect([p.u16(f + 100), p.u16(f + 102), p.u8(f + 104), p.u8(f + 105), p.u8(f + 106), p.u8(f + 107)]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(p.u8(f + 108)).toBe(0x32); // CENTURY
    expect(p.u16(f + 109)).toBe(0b11); // IAPC_BOOT_ARCH: LEGACY_DEVICES | 8042
    expect(p.u8(f + 111)).toBe(0);
    // Flags: WBINVD (0), PROC_C1 (2), SLP_BUTTON (5), RESET_REG_SUP (10); TMR_VAL_EXT (8) clear; not HW-reduced.
    expect(p.u32(f + 112)).toBe((1 << 0) | (1 << 2) | (1 << 5) | (1 << 10));
    expect(gas(p, f + 116)).toEqual({ space: 1, bitWidth: 8, bitOffset: 0, accessSize: 1, address: 0xcf9n }); // RESET_REG
    expect(p.u8(f + 128)).toBe(0x06); // RESET_VALUE
    expect(p.u16(f + 129)).toBe(0); // ARM_BOOT_ARCH
    expect(p.u8(f + 131)).toBe(4); // FADT minor version
    expect(p.u64(f + 132)).toBe(0n); // X_FIRMWARE_CTRL: 0 because FIRMWARE_CTRL is set
    expect(p.u64(f + 140)).toBe(BigInt(byName.get('DSDT')!)); // X_DSDT
    expect(gas(p, f + 148)).toEqual({ space: 1, bitWidth: 32, bitOffset: 0, accessSize: 2, address: 0x600n }); // X_PM1a_EVT_BLK
    expect(gas(p, f + 160).address).toBe(0n); // X_PM1b_EVT_BLK
    expect(gas(p, f + 172)).toEqual({ space: 1, bitWidth: 16, bitOffset: 0, accessSize: 2, address: 0x604n }); // X_PM1a_CNT_BLK
    expect(gas(p, f + 184).address).toBe(0n); // X_PM1b_CNT_BLK
    expect(gas(p, f + 196).address).toBe(0n); // X_PM2_CNT_BLK
    expect(gas(p, f + 208)).toEqual({ space: 1, bitWidth: 32, bitOffset: 0, accessSize: 3, address: 0x608n }); // X_PM_TMR_BLK
    expect(gas(p, f + 220)).toEqual({ space: 1, bitWidth: 32, bitOffset: 0, accessSize: 1, address: 0x620n }); // X_GPE0_BLK
    expect(gas(p, f + 232).address).toBe(0n); // X_GPE1_BLK
    expect(p.bytes(f + 244, 24).every((b) => b === 0)).toBe(true); // SLEEP_CONTROL_REG, SLEEP_STATUS_REG
    expect(p.u64(f + 268)).toBe(0n); // hypervisor vendor identity
  });

  it('describes the interrupt controllers in the MADT', () => {
    const m = byName.get('APIC')!;
    expect(p.u32(m + 36)).toBe(0xfee0_0000);
    expect(p.u32(m + 40)).toBe(1); // PCAT_COMPAT
    const e = madtEntries(p, m);
    expect(e.map((x) => [x.type, x.length])).toEqual([
      [0, 8],
      [0, 8],
      [0, 8],
      [1, 12],
      [2, 10],
      [2, 10],
      [4, 6],
    ]);
    expect(e.slice(0, 3).map((x) => [p.u8(x.at + 2), p.u8(x.at + 3), p.u32(x.at + 4)])).toEqual([
      [0, 0, 1],
      [1, 1, 1],
      [2, 2, 0], // disabled
    ]);
    expect([p.u8(e[3]!.at + 2), p.u8(e[3]!.at + 3), p.u32(e[3]!.at + 4), p.u32(e[3]!.at + 8)]).toEqual([0, 0, 0xfec0_0000, 0]);
    // IRQ0 -> GSI 2, conforming; IRQ9 (SCI) -> GSI 9, active high (01), level (11 << 2).
    expect([4, 5].map((i) => [p.u8(e[i]!.at + 2), p.u8(e[i]!.at + 3), p.u32(e[i]!.at + 4), p.u16(e[i]!.at + 8)])).toEqual([
      [0, 0, 2, 0x0000],
      [0, 9, 9, 0x000d],
    ]);
    // Local APIC NMI: all processors (UID 0xFF), flags 0, LINT1.
    expect([p.u8(e[6]!.at + 2), p.u16(e[6]!.at + 3), p.u8(e[6]!.at + 5)]).toEqual([0xff, 0, 1]);
  });

  it('describes the HPET block in the HPET table', () => {
    const h = byName.get('HPET')!;
    expect(header(p, h).length).toBe(56);
    expect(p.u32(h + 36)).toBe(0x8086_a201);
    expect(gas(p, h + 40)).toEqual({ space: 0, bitWidth: 64, bitOffset: 0, accessSize: 0, address: 0xfed0_0000n });
    expect(p.u8(h + 52)).toBe(0); // HPET number
    expect(p.u16(h + 53)).toBe(0x80); // minimum clock tick
    expect(p.u8(h + 55)).toBe(0); // page protection
  });
});

describe('buildAcpiTables: variants', () => {
  it('uses x2APIC entries (and an x2APIC NMI entry) for APIC IDs of 255 and above', () => {
    const t = buildAcpiTables(
      pcConfig({
        cpus: [
          { apicId: 0, enabled: true },
          { apicId: 0x1_0000, enabled: true },
          { apicId: 255, enabled: false },
        ],
      }),
    );
    const p = install(t);
    const m = discover(p).byName.get('APIC')!;
    expect(header(p, m).sum).toBe(0);
    const e = madtEntries(p, m);
    expect(e.map((x) => x.type)).toEqual([0, 9, 9, 1, 2, 2, 4, 10]);
    expect([p.u16(e[1]!.at + 2), p.u32(e[1]!.at + 4), p.u32(e[1]!.at + 8), p.u32(e[1]!.at + 12)]).toEqual([0, 0x1_0000, 1, 1]);
    expect([p.u32(e[2]!.at + 4), p.u32(e[2]!.at + 8), p.u32(e[2]!.at + 12)]).toEqual([255, 0, 2]);
    const nmi = e[7]!;
    expect([nmi.length, p.u16(nmi.at + 2), p.u32(nmi.at + 4), p.u8(nmi.at + 8), p.bytes(nmi.at + 9, 3)]).toEqual([12, 0, 0xffff_ffff, 1, new Uint8Array(3)]);
  });

  it('uses x2APIC entries for every CPU when asked, and refuses x2APIC IDs when told not to use them', () => {
    const p = install(buildAcpiTables(pcConfig({ useX2apicEntries: true })));
    const e = madtEntries(p, discover(p).byName.get('APIC')!);
    expect(e.map((x) => x.type)).toEqual([9, 9, 9, 1, 2, 2, 4, 10]);
    expect(() => buildAcpiTables(pcConfig({ useX2apicEntries: false, cpus: [{ apicId: 300, enabled: true }] }))).toThrow(AcpiTableError);
  });

  it('follows the PM block: TMR_VAL_EXT, no GPE0, a BytePrefix-encoded S5 type, another SCI', () => {
    const t = buildAcpiTables(
      pcConfig({ pm: { pm1aEvt: 0xb000, pm1aCnt: 0xb004, pmTmr: 0xb008, sciIrq: 11, tmrValExt: true, s5SlpTyp: 7 }, hpet: undefined }),
    );
    const p = install(t);
    const { byName } = discover(p);
    expect(byName.has('HPET')).toBe(false);
    expect(header(p, byName.get('XSDT')!).length).toBe(36 + 16);
    const f = byName.get('FACP')!;
    expect(p.u32(f + 112) & (1 << 8)).toBe(1 << 8);
    expect([p.u16(f + 46), p.u32(f + 56), p.u32(f + 80), p.u8(f + 92)]).toEqual([11, 0xb000, 0, 0]);
    expect(gas(p, f + 220)).toEqual({ space: 0, bitWidth: 0, bitOffset: 0, accessSize: 0, address: 0n });
    const d = byName.get('DSDT')!;
    // Package: BytePrefix 0x07 twice, ZeroOp twice; PkgLength = 1 + 1 + 6.
    expect([...p.bytes(d + 36, header(p, d).length - 36)]).toEqual([0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04, 0x0a, 0x07, 0x0a, 0x07, 0x00, 0x00]);
    const e = madtEntries(p, byName.get('APIC')!);
    expect(p.u8(e[5]!.at + 3)).toBe(11); // the SCI override follows SCI_INT
  });

  it('uses the configured OEM IDs, overrides, reset register and HPET fields', () => {
    const t = buildAcpiTables(
      pcConfig({
        oemId: 'ACME',
        oemTableId: 'ROADRUN',
        overrides: [{ bus: 0, source: 0, gsi: 2, flags: 0 }],
        reset: { port: 0x64, value: 0xfe },
        localApicAddress: 0xfee1_0000,
        hpet: { address: 0xfed0_0400, blockId: 0x1234_5678, number: 1, minTick: 0x1000, pageProtection: 1 },
      }),
    );
    const p = install(t);
    const { rsdp, byName } = discover(p);
    expect(p.str(rsdp + 9, 6)).toBe('ACME  ');
    const f = byName.get('FACP')!;
    expect(header(p, f).oemTableId).toBe('ROADRUN ');
    expect([Number(gas(p, f + 116).address), p.u8(f + 128)]).toEqual([0x64, 0xfe]);
    const m = byName.get('APIC')!;
    expect(p.u32(m + 36)).toBe(0xfee1_0000);
    expect(madtEntries(p, m).filter((x) => x.type === 2).length).toBe(1);
    const h = byName.get('HPET')!;
    expect([p.u32(h + 36), Number(gas(p, h + 40).address), p.u8(h + 52), p.u16(h + 53), p.u8(h + 55)]).toEqual([0x1234_5678, 0xfed0_0400, 1, 0x1000, 1]);
  });

  it('aligns the FACS to 64 bytes whatever the base', () => {
    const t = buildAcpiTables(pcConfig({ base: 0x9_0008 }));
    const facs = t.tables.find((x) => x.name === 'FACS')!;
    expect(facs.address).toBe(0x9_0040);
    expect(t.blob.address).toBe(0x9_0008);
    expect(install(t).str(0x9_0040, 4)).toBe('FACS');
  });

  it('describes the hvkit devices exactly when built from their own layout', () => {
    const clock = new VirtualClock();
    const pm = new AcpiPm({ clock, timerBits: 32, base: 0xb000 });
    const hpet = new Hpet({ clock });
    const t = buildAcpiTables(pcConfig({ pm: pm.layout, hpet: { address: hpet.address, blockId: hpet.eventTimerBlockId } }));
    const p = install(t);
    const { byName } = discover(p);
    const f = byName.get('FACP')!;
    expect([p.u32(f + 56), p.u32(f + 64), p.u32(f + 76), p.u32(f + 80), p.u8(f + 92), p.u16(f + 46)]).toEqual([0xb000, 0xb004, 0xb008, 0xb020, 4, 9]);
    expect((p.u32(f + 112) >> 8) & 1).toBe(1);
    const h = byName.get('HPET')!;
    expect(p.u32(h + 36)).toBe(hpet.eventTimerBlockId);
  });
});

describe('buildAcpiTables: bad configurations', () => {
  const cases: [string, Partial<AcpiTablesConfig>, RegExp][] = [
    ['a misaligned RSDP', { rsdpAddress: 0xf_5a18 }, /RSDP address/],
    ['an RSDP outside the BIOS area', { rsdpAddress: 0x9_f000 }, /RSDP address/],
    ['an RSDP inside the tables', { base: 0xe_0000, rsdpAddress: 0xe_0100 }, /overlaps/],
    ['tables above 4 GiB', { base: 0xffff_ff00 }, /4 GiB/],
    ['a long OEM ID', { oemId: 'TOOLONG' }, /OEM ID/],
    ['a non-ASCII OEM table ID', { oemTableId: 'ÄCME' }, /OEM table ID/],
    ['no CPUs', { cpus: [] }, /at least one CPU/],
    ['a repeated APIC ID', { cpus: [{ apicId: 3, enabled: true }, { apicId: 3, enabled: true }] }, /repeats/],
    ['a non-ISA override', { overrides: [{ bus: 1 as 0, source: 0, gsi: 2, flags: 0 }] }, /bus 0/],
    ['an odd GPE0 length', { pm: { ...PM, gpe0Length: 3 } }, /GPE0_BLK_LEN/],
    ['an S5 type wider than SLP_TYP', { pm: { ...PM, s5SlpTyp: 8 } }, /S5 SLP_TYP/],
    ['a reset value wider than a byte', { reset: { port: 0xcf9, value: 0x106 } }, /reset value/],
    ['an I/O APIC ID wider than a byte', { ioApic: { id: 256, address: 0xfec0_0000, gsiBase: 0 } }, /I\/O APIC ID/],
  ];
  for (const [what, over, message] of cases) {
    it(`rejects ${what} with an AcpiTableError`, () => {
      expect(() => buildAcpiTables(pcConfig(over))).toThrow(AcpiTableError);
      expect(() => buildAcpiTables(pcConfig(over))).toThrow(message);
    });
  }
  it('rejects 256 CPUs with APIC IDs below 255 (processor UIDs no longer fit a byte)', () => {
    const cpus = Array.from({ length: 256 }, (_, i) => ({ apicId: i === 255 ? 1000 : i, enabled: true }));
    expect(() => buildAcpiTables(pcConfig({ cpus }))).not.toThrow();
    cpus[255] = { apicId: 254, enabled: true };
    cpus[254] = { apicId: 2000, enabled: true };
    expect(() => buildAcpiTables(pcConfig({ cpus }))).toThrow(/processor UID 255/);
  });
});

// ---- ACPICA (iasl, acpiexec), when installed, as a second opinion ---------------------------------

const iasl = spawnSync('iasl', ['-v'], { encoding: 'utf8' });
const haveIasl = !iasl.error && /Intel ACPI Component Architecture/.test(`${iasl.stdout}${iasl.stderr}`);
const acpiexec = spawnSync('acpiexec', ['-v'], { encoding: 'utf8' });
const haveAcpiexec = !acpiexec.error && /Intel ACPI Component Architecture/.test(`${acpiexec.stdout}${acpiexec.stderr}`);

/** Runs an ACPICA tool, returning stdout and stderr together. */
function run(tool: string, args: string[], cwd: string): string {
  const r = spawnSync(tool, args, { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  return `${r.stdout}${r.stderr}`;
}

/** Writes every table of `t` but the RSDP to `dir` as `<signature>.dat` (ACPICA tools take bare tables). */
function dumpTables(t: AcpiTables, dir: string): string[] {
  return t.tables
    .filter((e) => e.name !== 'RSDP')
    .map((e) => {
      const file = `${e.name.toLowerCase()}.dat`;
      writeFileSync(path.join(dir, file), t.blob.bytes.subarray(e.address - t.blob.address, e.address - t.blob.address + e.length));
      return file;
    });
}

const oracleConfig = (): AcpiTablesConfig =>
  pcConfig({ cpus: [{ apicId: 0, enabled: true }, { apicId: 300, enabled: true }], pm: { ...PM, s5SlpTyp: 5 } });

describe.skipIf(!haveIasl)('iasl -d (ACPICA 20200925 disassembler)', () => {
  it('disassembles every table without a warning and decodes the fields we meant', () => {
    const t = buildAcpiTables(oracleConfig());
    const dir = mkdtempSync(path.join(tmpdir(), 'hvkit-acpi-'));
    try {
      const dsl: Record<string, string> = {};
      for (const file of dumpTables(t, dir)) {
        const out = run('iasl', ['-d', file], dir);
        expect(out, file).toMatch(/decoded|Disassembly completed/);
        expect(out, file).not.toMatch(/Warning|Error|Invalid|checksum/i);
        dsl[file.slice(0, 4).toUpperCase()] = readFileSync(path.join(dir, file.replace(/\.dat$/, '.dsl')), 'utf8');
      }
      expect(readdirSync(dir).filter((n) => n.endsWith('.dsl')).length).toBe(t.tables.length - 1);
      for (const [name, text] of Object.entries(dsl)) expect(text, name).not.toMatch(/Invalid|Incorrect|Unknown/i);
      expect(dsl['DSDT']).toMatch(/Name \(_S5, Package \(0x04\)\s*\/\/ _S5_: S5 System State\s*\{\s*0x05,\s*0x05,\s*Zero,\s*Zero\s*\}\)/);
      expect(dsl['FACP']).toMatch(/Revision : 06/);
      expect(dsl['FACP']).toMatch(/FADT Minor Revision : 04/);
      expect(dsl['FACP']).toMatch(/PM1A Event Block Address : 00000600/);
      expect(dsl['FACP']).toMatch(/GPE0 Block Length : 04/);
      expect(dsl['FACP']).toMatch(/Reset Register Supported \(V2\) : 1/);
      expect(dsl['FACP']).toMatch(/Control Method Sleep Button \(V1\) : 1/);
      expect(dsl['FACP']).toMatch(/32-bit PM Timer \(V1\) : 0/);
      expect(dsl['FACP']).toMatch(/8042 Present on ports 60\/64 \(V2\) : 1/);
      expect(dsl['FACP']).toMatch(/Address : 0000000000000CF9/);
      expect(dsl['FACP']).toMatch(/Value to cause reset : 06/);
      expect(dsl['APIC']).toMatch(/PC-AT Compatibility : 1/);
      expect(dsl['APIC']).toMatch(/Processor x2Apic ID : 0000012C/);
      expect(dsl['APIC']).toMatch(/Subtable Type : 0A \[Local x2APIC NMI\]/);
      expect(dsl['HPET']).toMatch(/Hardware Block ID : 8086A201/);
      expect(dsl['FACS']).toMatch(/Version : 02/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!haveAcpiexec)('acpiexec (ACPICA 20200925 table manager and interpreter)', () => {
  it('loads the tables without a firmware warning and evaluates \\_S5 to the PM block\'s S5 type', () => {
    const t = buildAcpiTables(oracleConfig());
    const dir = mkdtempSync(path.join(tmpdir(), 'hvkit-acpi-'));
    try {
      const files = dumpTables(t, dir).filter((f) => f !== 'rsdt.dat' && f !== 'xsdt.dat'); // acpiexec builds its own
      const out = run('acpiexec', ['-b', 'evaluate \\_S5', ...files], dir);
      // ACPICA checks checksums, lengths and FADT 32-bit/64-bit consistency while loading.
      expect(out).not.toMatch(/Firmware Warning|Firmware Error|ACPI Warning|ACPI Error|checksum|mismatch/i);
      expect(out).toMatch(/Initialized GPE 00 to 0F \[_GPE\] 2 regs on interrupt 0x9 \(SCI\)/);
      expect(out).toMatch(/\[Package\] Contains 4 Elements:\s*\[Integer\] = 0000000000000005\s*\[Integer\] = 0000000000000005\s*\[Integer\] = 0000000000000000\s*\[Integer\] = 0000000000000000/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
