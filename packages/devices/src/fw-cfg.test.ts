import { Chipset, PioBus } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { buildE820, E820Type, FwCfg, FwCfgKey, type FwCfgOptions } from './index.js';

function setup(options: FwCfgOptions = {}) {
  const pio = new PioBus();
  const chipset = new Chipset({ pio });
  const dev = chipset.add(new FwCfg(options));
  const select = (key: number) => pio.write(0x510, 2, key);
  const read = (n: number) => Array.from({ length: n }, () => pio.read(0x511, 1));
  return { pio, chipset, dev, select, read };
}

const le = (bytes: number[]) => bytes.reduce((acc, b, i) => acc + b * 2 ** (8 * i), 0);

describe('FwCfg', () => {
  it('claims exactly 0x510-0x511', () => {
    const { pio } = setup();
    expect(pio.find(0x510)).toBeDefined();
    expect(pio.find(0x511)).toBeDefined();
    expect(pio.find(0x50f)).toBeUndefined();
    expect(pio.find(0x512)).toBeUndefined();
  });

  it('reads the "QEMU" signature at key 0, and is selected there at power-on', () => {
    const { select, read } = setup();
    expect(String.fromCharCode(...read(4))).toBe('QEMU');
    select(FwCfgKey.SIGNATURE);
    expect(String.fromCharCode(...read(4))).toBe('QEMU');
  });

  it('reports the traditional interface without DMA in FW_CFG_ID', () => {
    const { select, read } = setup();
    select(FwCfgKey.ID);
    expect(read(4)).toEqual([1, 0, 0, 0]);
  });

  it('reports RAM size as u64 LE and CPU counts as u16 LE', () => {
    const { select, read } = setup({ ramSize: 0x1_2345_6000, nbCpus: 2, maxCpus: 8 });
    select(FwCfgKey.RAM_SIZE);
    expect(read(8)).toEqual([0x00, 0x60, 0x45, 0x23, 0x01, 0, 0, 0]);
    select(FwCfgKey.NB_CPUS);
    expect(read(2)).toEqual([2, 0]);
    select(FwCfgKey.MAX_CPUS);
    expect(read(2)).toEqual([8, 0]);
  });

  it('defaults MAX_CPUS to NB_CPUS', () => {
    const { select, read } = setup({ nbCpus: 3 });
    select(FwCfgKey.MAX_CPUS);
    expect(read(2)).toEqual([3, 0]);
  });

  it('returns 0 past the end of an item and for unknown keys', () => {
    const { select, read } = setup();
    select(FwCfgKey.SIGNATURE);
    expect(read(6)).toEqual([0x51, 0x45, 0x4d, 0x55, 0, 0]);
    select(FwCfgKey.KERNEL_ADDR); // valid key, never set
    expect(read(2)).toEqual([0, 0]);
    select(0x3fff); // beyond the last entry
    expect(read(2)).toEqual([0, 0]);
  });

  it('resets the offset on every select, even of the same key', () => {
    const { select, read } = setup();
    select(FwCfgKey.SIGNATURE);
    read(2);
    select(FwCfgKey.SIGNATURE);
    expect(read(1)).toEqual([0x51]);
  });

  it('lets the board set the kernel keys with QEMU widths', () => {
    const { dev, select, read } = setup();
    dev.setU32(FwCfgKey.KERNEL_ADDR, 0x100000);
    dev.setU32(FwCfgKey.CMDLINE_SIZE, 5);
    dev.setBytes(FwCfgKey.CMDLINE_DATA, Uint8Array.from('quiet', (c) => c.charCodeAt(0)));
    select(FwCfgKey.KERNEL_ADDR);
    expect(le(read(4))).toBe(0x100000);
    select(FwCfgKey.CMDLINE_SIZE);
    expect(read(4)).toEqual([5, 0, 0, 0]);
    select(FwCfgKey.CMDLINE_DATA);
    expect(String.fromCharCode(...read(5))).toBe('quiet');
    expect(() => dev.setU16(FwCfgKey.NB_CPUS, 0x10000)).toThrow(RangeError);
    expect(() => dev.setBytes(FwCfgKey.FILE_FIRST, new Uint8Array(1))).toThrow(RangeError);
    expect(() => dev.setBytes(FwCfgKey.FILE_DIR, new Uint8Array(1))).toThrow(RangeError);
  });

  it('copies the data it is given', () => {
    const { dev, select, read } = setup();
    const data = new Uint8Array([1, 2]);
    dev.setBytes(FwCfgKey.KERNEL_DATA, data);
    data[0] = 9;
    select(FwCfgKey.KERNEL_DATA);
    expect(read(2)).toEqual([1, 2]);
  });

  it('keeps arch-local items apart and ignores the write-channel bit on lookup', () => {
    const { dev, select, read } = setup();
    dev.setBytes(FwCfgKey.ARCH_LOCAL | 0, new Uint8Array([0xaa]));
    select(FwCfgKey.ARCH_LOCAL | 0);
    expect(read(2)).toEqual([0xaa, 0]);
    select(FwCfgKey.WRITE_CHANNEL | FwCfgKey.SIGNATURE);
    expect(read(1)).toEqual([0x51]);
  });

  it('dispatches on width: 8-bit reads at either port read data, 8-bit writes and wide reads do nothing', () => {
    const { pio, select } = setup();
    select(FwCfgKey.SIGNATURE);
    expect(pio.read(0x510, 1)).toBe(0x51);
    pio.write(0x510, 1, 0); // not a select
    pio.write(0x511, 1, 0); // not a data write
    expect(pio.read(0x511, 2)).toBe(0); // rejected width, offset unchanged
    expect(pio.read(0x511, 1)).toBe(0x45);
    pio.write(0x511, 2, FwCfgKey.ID); // a word at the data port is not a select
    expect(pio.read(0x511, 1)).toBe(0x4d);
  });

  it('builds a big-endian file directory, sorted by name as QEMU does', () => {
    const { dev, select, read } = setup();
    select(FwCfgKey.FILE_DIR);
    expect(read(5)).toEqual([0, 0, 0, 0, 0]);
    dev.addFile('opt/z', new Uint8Array([1, 2, 3]));
    dev.addFile('etc/a', new Uint8Array(0x1234));
    select(FwCfgKey.FILE_DIR);
    const dir = read(4 + 2 * 64 + 1);
    expect(dir.slice(0, 4)).toEqual([0, 0, 0, 2]);
    const entry = (i: number) => dir.slice(4 + i * 64, 4 + (i + 1) * 64);
    const name = (e: number[]) => String.fromCharCode(...e.slice(8, 8 + e.slice(8).indexOf(0)));
    expect(entry(0).slice(0, 8)).toEqual([0, 0, 0x12, 0x34, 0x00, 0x20, 0, 0]);
    expect(name(entry(0))).toBe('etc/a');
    expect(entry(0).slice(8 + 5)).toEqual(new Array(56 - 5).fill(0));
    expect(entry(1).slice(0, 8)).toEqual([0, 0, 0, 3, 0x00, 0x21, 0, 0]);
    expect(name(entry(1))).toBe('opt/z');
    expect(dir[4 + 128]).toBe(0);
    expect(dev.fileSelector('etc/a')).toBe(0x20);
    expect(dev.fileSelector('opt/z')).toBe(0x21);
    expect(dev.fileSelector('nope')).toBeUndefined();
    select(0x21);
    expect(read(4)).toEqual([1, 2, 3, 0]);
  });

  it('rejects duplicate, over-long or empty names, and a full directory', () => {
    const { dev } = setup({ fileSlots: 2 });
    dev.addFile('a', new Uint8Array(1));
    expect(() => dev.addFile('a', new Uint8Array(1))).toThrow(/duplicate/);
    expect(() => dev.addFile('x'.repeat(56), new Uint8Array(1))).toThrow(RangeError);
    expect(() => dev.addFile('', new Uint8Array(1))).toThrow(RangeError);
    expect(() => dev.addFile('etc/\u00e9', new Uint8Array(1))).toThrow(RangeError);
    expect(() => dev.addFile('etc/\0x', new Uint8Array(1))).toThrow(RangeError);
    dev.addFile('x'.repeat(55), new Uint8Array(1));
    expect(() => dev.addFile('c', new Uint8Array(1))).toThrow(/no free file slot/);
  });

  it('treats selectors beyond the file slots as unknown', () => {
    const { dev, select, read } = setup({ fileSlots: 1 });
    dev.addFile('a', new Uint8Array([7]));
    select(0x20);
    expect(read(1)).toEqual([7]);
    select(0x21);
    expect(read(1)).toEqual([0]);
  });

  it('builds etc/e820 entries as packed little-endian u64 addr, u64 len, u32 type', () => {
    const { dev, select, read } = setup();
    dev.addE820([
      { base: 0, length: 0x9fc00, type: E820Type.RAM },
      { base: 0x1_0000_0000n, length: 0x4000_0000, type: E820Type.RESERVED },
    ]);
    const sel = dev.fileSelector('etc/e820')!;
    select(FwCfgKey.FILE_DIR);
    const dir = read(4 + 64);
    expect(dir.slice(4, 8)).toEqual([0, 0, 0, 40]);
    select(sel);
    const bytes = read(41);
    expect(bytes.slice(0, 20)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xfc, 0x09, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
    expect(bytes.slice(20, 40)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 2, 0, 0, 0]);
    expect(bytes[40]).toBe(0);
    expect(() => buildE820([{ base: -1, length: 1, type: 1 }])).toThrow(RangeError);
  });

  it('returns to the signature on reset', () => {
    const { chipset, select, read } = setup();
    select(FwCfgKey.ID);
    chipset.reset();
    expect(read(1)).toEqual([0x51]);
    select(FwCfgKey.SIGNATURE);
    read(3);
    chipset.reset();
    expect(read(1)).toEqual([0x51]);
  });

  it('honours iobase', () => {
    const pio = new PioBus();
    new Chipset({ pio }).add(new FwCfg({ iobase: 0x700 }));
    pio.write(0x700, 2, FwCfgKey.ID);
    expect(pio.read(0x701, 1)).toBe(1);
    expect(pio.read(0x511, 1)).toBe(0xff);
  });
});

describe('FwCfg snapshots', () => {
  it('a fresh device with the same items goes on reading where the snapshot left off', () => {
    const data = Uint8Array.from({ length: 40 }, (_, i) => i * 3);
    const a = setup();
    a.dev.addFile('etc/test', data);
    a.select(a.dev.fileSelector('etc/test')! | FwCfgKey.WRITE_CHANNEL); // bit 14 is ignored for lookup
    expect(a.read(10)).toEqual(Array.from(data.subarray(0, 10)));
    const snap = a.dev.saveState();

    const b = setup();
    b.dev.addFile('etc/test', data);
    b.dev.restoreState(snap);
    expect(b.dev.saveState()).toEqual(snap);
    expect(b.read(35)).toEqual([...Array.from(data.subarray(10)), 0, 0, 0, 0, 0]);
    b.dev.reset();
    expect(String.fromCharCode(...b.read(4))).toBe('QEMU');
  });

  it('refuses a snapshot of another version or shape and keeps its state', () => {
    const { dev, select, read } = setup();
    select(FwCfgKey.SIGNATURE);
    read(2);
    const good = dev.saveState();
    expect(() => dev.restoreState({ version: 0, state: good.state })).toThrow(/version 0/);
    expect(() => dev.restoreState({ version: 1, state: { key: 0x10000, offset: 0 } })).toThrow(/"key"/);
    expect(() => dev.restoreState({ version: 1, state: { key: 1, offset: -1 } })).toThrow(/"offset"/);
    expect(() => dev.restoreState({ version: 1, state: null })).toThrow(/not an object/);
    expect(dev.saveState()).toEqual(good);
    expect(String.fromCharCode(...read(2))).toBe('MU');
  });
});
