/// <reference types="node" />
import { existsSync, readFileSync } from 'node:fs';
import { type Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { createPc, PcConfigurationError } from './pc.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * A flat 32-bit program: writes its own address to one dword every `stride` bytes from `from`
 * up to `to`, prints "K" on COM1 and writes 0 to isa-debug-exit (QEMU status 1).
 */
function toucher(from: number, to: number, stride: number): Uint8Array {
  const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  // prettier-ignore
  return Uint8Array.from([
    0xbf, ...le(from),            // mov edi, from
    0x89, 0x3f,                   // loop: mov [edi], edi
    0x81, 0xc7, ...le(stride),    // add edi, stride
    0x81, 0xff, ...le(to),        // cmp edi, to
    0x72, 0xf0,                   // jb loop
    0x66, 0xba, 0xfb, 0x03,       // mov dx, 0x3fb (LCR)
    0xb0, 0x03,                   // mov al, 3 (8 data bits)
    0xee,                         // out dx, al
    0x66, 0xba, 0xf8, 0x03,       // mov dx, 0x3f8
    0xb0, 0x4b,                   // mov al, 'K'
    0xee,                         // out dx, al
    0xb0, 0x00,                   // mov al, 0
    0xe6, 0xf4,                   // out 0xf4, al
    0xf4,                         // hlt
  ]);
}

const debugExit = [{ type: 'isa-debug-exit' as const, iobase: 0xf4, iosize: 4 }];

describe('createPc: memory', () => {
  it('splits 4 GiB of RAM at 3 GiB (QEMU i440fx) and maps the rest above 4 GiB', () => {
    const pc = createPc({ memoryMiB: 4096 });
    expect(pc.lowMemory).toBe(3 * GiB);
    expect(pc.highMemory).toBe(GiB);
    pc.memory.write32((4 * GiB + 0x1234) as Hpa, 0xfeedface);
    expect(pc.memory.read32((4 * GiB + 0x1234) as Hpa)).toBe(0xfeedface);
    expect(pc.memory.ramOffset((4 * GiB) as Hpa)).toBe(3 * GiB);
    // The PCI hole reads as all ones; RAM past the end is not there.
    expect(pc.memory.read32((3 * GiB + 0x100) as Hpa)).toBe(0xffff_ffff);
    expect(pc.memory.ramOffset((5 * GiB) as Hpa)).toBe(-1);
  });

  it('keeps all of a small RAM below 4 GiB, with the VGA hole unmapped', () => {
    const pc = createPc({ memoryMiB: 64 });
    expect(pc.lowMemory).toBe(64 * MiB);
    expect(pc.highMemory).toBe(0);
    expect(pc.memory.ramOffset(0xb8000 as Hpa)).toBe(-1);
    expect(pc.memory.ramOffset(0x9f000 as Hpa)).toBe(0x9f000);
  });

  it('gives kernels an e820 map with the EBDA, BIOS area, ACPI tables and MMIO windows carved out', () => {
    const pc = createPc({ memoryMiB: 4096 });
    const map = pc.e820.map((e) => [e.base, e.length, e.type]);
    expect(map).toEqual([
      [0, 0x9_fc00, 1],
      [0x9_fc00, 0x400, 2],
      [0xf_0000, 0x1_0000, 2],
      [0x10_0000, 3 * GiB - 0x10_0000 - 128 * 1024, 1],
      [3 * GiB - 128 * 1024, 128 * 1024, 3],
      [0xfec0_0000, 0x1000, 2],
      [0xfed0_0000, 0x400, 2],
      [0xfee0_0000, 0x1000, 2],
      [4 * GiB, GiB, 1],
    ]);
  });

  it('runs a 4 GiB guest that touches ~20 MiB with ~20 MiB of host memory for its RAM', () => {
    const pc = createPc({ memoryMiB: 4096, devices: debugExit });
    // 20 dwords 128 MiB apart, from 256 MiB up to just under 3 GiB.
    pc.bootFlat(toucher(0x1000_0000, 0xb000_0000, 0x0800_0000), 0x10_0000);
    const stop = pc.run(10_000);
    expect(stop).toMatchObject({ reason: 'exit', status: 1 });
    expect(pc.serialOutput).toBe('K');
    for (let a = 0x1000_0000; a < 0xb000_0000; a += 0x0800_0000) expect(pc.memory.read32(a as Hpa)).toBe(a);
    // 20 touched chunks + the program's, the ACPI tables', the low 1 MiB's (RSDP): 1 MiB each.
    expect(pc.memory.allocatedRamBytes).toBeLessThanOrEqual(24 * MiB);
    expect(pc.stats().ramAllocated).toBe(pc.memory.allocatedRamBytes);
  });
});

describe('createPc: configuration errors', () => {
  it.each([
    ['1 MiB', { memoryMiB: 1 }, /memory size 1 MiB is not an integer from 2 MiB to 1 TiB/],
    ['12.5 MiB', { memoryMiB: 12.5 }, /memory size 12.5 MiB/],
    ['0 CPUs', { cpus: 0 }, /CPU count 0 is not an integer from 1 to 32/],
    ['33 CPUs', { cpus: 33 }, /CPU count 33/],
    ['quantum 0', { quantum: 0 }, /quantum 0 is not a positive integer/],
    ['two pc-testdevs', { devices: [{ type: 'pc-testdev' as const }, { type: 'pc-testdev' as const }] }, /only one pc-testdev/],
    ['a floppy', { devices: [{ type: 'floppy' } as never] }, /unknown device type "floppy"/],
    ['a 1000-byte BIOS', { bios: new Uint8Array(1000) }, /multiple of 64 KiB/],
  ])('%s is refused', (_name, options, message) => {
    expect(() => createPc(options)).toThrow(PcConfigurationError);
    expect(() => createPc(options)).toThrow(message);
  });
});

describe('createPc: firmware tables', () => {
  it('puts an ACPI 2.0 RSDP in the BIOS area that points at tables in reserved RAM', () => {
    const pc = createPc({ memoryMiB: 64, cpus: 2 });
    const sig = String.fromCharCode(...Array.from({ length: 8 }, (_, i) => pc.memory.read8((0xf_0000 + i) as Hpa)));
    expect(sig).toBe('RSD PTR ');
    expect(pc.memory.read8((0xf_0000 + 15) as Hpa)).toBe(2); // revision
    const rsdt = pc.memory.read32((0xf_0000 + 16) as Hpa);
    expect(rsdt).toBeGreaterThanOrEqual(64 * MiB - 128 * 1024);
    expect(rsdt).toBeLessThan(64 * MiB);
  });

  it('publishes RAM size, CPU count and etc/e820 (RAM only, as QEMU) through fw_cfg', () => {
    const pc = createPc({ memoryMiB: 4096, cpus: 3 });
    const sel = (key: number) => {
      pc.io.write(0x510 as never, 2, key);
      return (n: number) => Array.from({ length: n }, () => pc.io.read(0x511 as never, 1));
    };
    const le = (b: number[]) => b.reduce((v, x, i) => v + x * 2 ** (8 * i), 0);
    expect(le(sel(0x03)(8))).toBe(4 * GiB);
    expect(le(sel(0x05)(2))).toBe(3);
    const dir = sel(0x19)(4 + 64 * 4);
    const count = (dir[0]! << 24) | (dir[1]! << 16) | (dir[2]! << 8) | dir[3]!;
    let e820Key = -1;
    let e820Size = 0;
    for (let i = 0; i < count; i++) {
      const f = dir.slice(4 + i * 64, 4 + i * 64 + 64);
      const name = String.fromCharCode(...f.slice(8).filter((c) => c !== 0));
      if (name === 'etc/e820') {
        e820Size = (f[0]! << 24) | (f[1]! << 16) | (f[2]! << 8) | f[3]!;
        e820Key = (f[4]! << 8) | f[5]!;
      }
    }
    expect(e820Size).toBe(40);
    const e = sel(e820Key)(40);
    expect([le(e.slice(0, 8)), le(e.slice(8, 16)), le(e.slice(16, 20))]).toEqual([0, 3 * GiB, 1]);
    expect([le(e.slice(20, 28)), le(e.slice(28, 36)), le(e.slice(36, 40))]).toEqual([4 * GiB, GiB, 1]);
  });
});

describe('createPc: SMP', () => {
  it('starts the application processors waiting for SIPI and gives every APIC its own ID', () => {
    const pc = createPc({ cpus: 4 });
    expect(pc.cpus.map((c) => c.waitForSipi)).toEqual([false, true, true, true]);
    expect(pc.lapics.map((l) => l.apicId)).toEqual([0, 1, 2, 3]);
    expect(pc.lapics.map((l) => (l.baseLo & 0x100) !== 0)).toEqual([true, false, false, false]);
  });
});

/** Debian's SeaBIOS, when installed (`apt-get install seabios`): a real BIOS as an oracle for the board. */
const SEABIOS = '/usr/share/seabios/bios.bin';

describe.skipIf(!existsSync(SEABIOS))('createPc with SeaBIOS', () => {
  it('POSTs: finds fw_cfg, the i440FX, all 4 CPUs (INIT/SIPI), COM1 and the keyboard, then looks for a boot device', () => {
    let log = '';
    const pc = createPc({
      memoryMiB: 64,
      cpus: 4,
      bios: new Uint8Array(readFileSync(SEABIOS)),
      devices: [{ type: 'debugcon', iobase: 0x402 }],
      onDebugCon: (b) => {
        log += String.fromCharCode(b);
      },
    });
    pc.run(300_000_000);
    expect(log).toMatch(/^SeaBIOS \(version /);
    expect(log).toContain('Found QEMU fw_cfg');
    expect(log).toContain('PCI: init bdf=00:00.0 id=8086:1237');
    expect(log).toContain('Found 4 cpu(s) max supported 4 cpu(s)');
    expect(log).toContain('Found 1 serial ports');
    expect(log).toContain('PS2 keyboard initialized');
    expect(log).toContain('No bootable device.');
  });
});

describe('createPc: COM1 backend', () => {
  it('hands the guest\'s COM1 output to a serial backend', async () => {
    const { BufferSerial } = await import('@hvkit/devices');
    const serial = new BufferSerial();
    const pc = createPc({ serial, devices: debugExit });
    pc.bootFlat(toucher(0x20_0000, 0x20_1000, 0x1000), 0x10_0000);
    expect(pc.run(1000)).toMatchObject({ reason: 'exit', status: 1 });
    expect(serial.text).toBe('K');
  });
});

describe('createPc: what the board does as firmware', () => {
  it('programs the MTRRs as firmware hands them over: WB default, legacy video UC, the PCI hole UC (SDM Vol. 3 §12.11)', () => {
    const pc = createPc({ memoryMiB: 256, cpus: 2 });
    pc.bootFlat(Uint8Array.of(0xf4), 0x10_0000); // resets the BSP as a loader does
    for (const cpu of pc.cpus) {
      expect(cpu.mtrrs.get(0x2ff)).toEqual([0xc06, 0]); // IA32_MTRR_DEF_TYPE: E | FE | WB
      expect(cpu.mtrrs.get(0x250)).toEqual([0x06060606, 0x06060606]); // 0-512 KiB WB
      expect(cpu.mtrrs.get(0x259)).toEqual([0, 0]); // 0xA0000-0xBFFFF UC
      const ranges: [number, number][] = [];
      for (let n = 0; n < 8; n++) {
        const base = cpu.mtrrs.get(0x200 + 2 * n);
        const mask = cpu.mtrrs.get(0x201 + 2 * n);
        if (mask === undefined || (mask[0] & 0x800) === 0) continue;
        expect(base![0] & 0xff).toBe(0); // UC
        const size = 2 ** 32 - ((mask[0] & ~0xfff) >>> 0);
        expect(mask[1]).toBe((1 << (46 - 32)) - 1); // mask bits up to MAXPHYADDR
        ranges.push([(base![0] & ~0xfff) >>> 0, size]);
      }
      // 256 MiB to 4 GiB, in naturally aligned powers of two.
      expect(ranges).toEqual([
        [0x1000_0000, 0x1000_0000],
        [0x2000_0000, 0x2000_0000],
        [0x4000_0000, 0x4000_0000],
        [0x8000_0000, 0x8000_0000],
      ]);
    }
  });

  it('with stopWhenIdle, a core halted for a timer returns "idle" and idle() lets guest time pass up to the deadline', () => {
    const pc = createPc({ memoryMiB: 16 });
    // prettier-ignore
    pc.bootFlat(Uint8Array.from([
      0xc7, 0x05, 0xe0, 0x03, 0xe0, 0xfe, 0x0b, 0, 0, 0,        // LAPIC divide configuration: by 1
      0xc7, 0x05, 0x20, 0x03, 0xe0, 0xfe, 0x20, 0, 0, 0,        // LVT timer: vector 0x20, one-shot
      0xc7, 0x05, 0x80, 0x03, 0xe0, 0xfe, 0x40, 0x42, 0x0f, 0,  // initial count 1,000,000
      0xfa, 0xf4, 0xeb, 0xfd,                                   // cli; hlt; jmp hlt
    ]), 0x10_0000);
    pc.stopWhenIdle = true;
    const first = pc.run(1_000_000);
    expect(first.reason).toBe('idle');
    const until = (first as { untilNs: number }).untilNs;
    expect(until).toBeGreaterThan(0);
    const t0 = pc.stats().guestNs;
    const passed = pc.idle(until / 2);
    expect(passed).toBeGreaterThan(0);
    expect(pc.stats().guestNs - t0).toBeCloseTo(passed, -2);
    const second = pc.run(1_000_000);
    expect(second.reason).toBe('idle');
    expect((second as { untilNs: number }).untilNs).toBeLessThan(until);
    pc.idle(10 * until); // stops at the deadline
    // The timer fires; with IF = 0 nothing else can wake the core.
    expect(pc.run(1_000_000).reason).toBe('halt');
    pc.stopWhenIdle = false;
  });

  it('counts the ticks a halted core skips as idle, not as executed instructions', () => {
    const pc = createPc({ memoryMiB: 16 });
    // prettier-ignore
    pc.bootFlat(Uint8Array.from([
      0xc7, 0x05, 0xe0, 0x03, 0xe0, 0xfe, 0x0b, 0, 0, 0,        // LAPIC divide by 1
      0xc7, 0x05, 0x20, 0x03, 0xe0, 0xfe, 0x20, 0, 0, 0,        // LVT timer, one-shot
      0xc7, 0x05, 0x80, 0x03, 0xe0, 0xfe, 0x40, 0x42, 0x0f, 0,  // initial count 1,000,000
      0xfa, 0xf4, 0xeb, 0xfd,                                   // cli; hlt; jmp hlt
    ]), 0x10_0000);
    expect(pc.run(10_000_000).reason).toBe('halt');
    const s = pc.stats();
    expect(s.idle).toBeGreaterThan(50_000); // the 1 ms timer: ~100,000 ticks at 1e8 per second
    expect(s.instructions - s.idle).toBeLessThan(10); // three stores, CLI, HLT
  });
});
