import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OptionError, parseInteger, parseSize, parseSystemArgs, systemMain, type Streams } from '../src/index.js';
import { buildGuest, toolchainAvailable } from '@hvkit/guests';

const MiB = 1024 * 1024;

function capture(): Streams & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: { write: (s: string) => (out += s) }, err: { write: (s: string) => (err += s) }, stdout: () => out, stderr: () => err };
}

describe('QEMU-style options', () => {
  it('parses a typical test-kernel command line as QEMU would', () => {
    const o = parseSystemArgs([
      '-display', 'none', '-serial', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
      '-kernel', 'guest.elf', '-m', '64', '--smp', 'cpus=2', '-append', 'console=ttyS0', '-no-reboot',
    ]);
    expect(o).toMatchObject({
      display: 'none',
      serial: 'stdio',
      devices: [{ driver: 'isa-debug-exit', props: { iobase: '0xf4', iosize: '4' } }],
      kernel: 'guest.elf',
      memoryBytes: 64 * MiB,
      cpus: 2,
      append: 'console=ttyS0',
      noReboot: true,
    });
  });

  it('defaults to 128 MiB, one vCPU and the pc machine, like QEMU', () => {
    expect(parseSystemArgs([])).toMatchObject({ memoryBytes: 128 * MiB, cpus: 1, machine: 'pc' });
  });

  it.each([
    ['64', 64 * MiB],
    ['64M', 64 * MiB],
    ['1G', 1024 * MiB],
    ['1.5G', 1536 * MiB],
    ['512k', 512 * 1024],
    ['2GB', 2048 * MiB],
  ])('reads size %s with QEMU units', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('reads integers in the bases QEMU properties allow', () => {
    expect(parseInteger('0xf4', 'x')).toBe(0xf4);
    expect(parseInteger('0b101', 'x')).toBe(5);
    expect(parseInteger('17', 'x')).toBe(17);
    expect(() => parseInteger('f4', 'iobase')).toThrow("iobase: 'f4' is not an integer");
  });

  it.each([
    [['-m', 'lots'], "invalid size 'lots': expected a number with an optional K, M, G or T suffix"],
    [['-m', '512k'], '-m 512k: guest RAM must be at least 1 MiB'],
    [['-m', '1025k'], '-m 1025k: guest RAM must be a multiple of 4 KiB'],
    [['-m', '64,slots=2'], "-m: unsupported parameter 'slots' (hvkit has no memory hotplug)"],
    [['-smp', '0'], '-smp 0: the number of vCPUs must be from 1 to 255'],
    [['-smp', 'four'], "-smp: 'four' is not an integer"],
    [['-kernel'], "option '-kernel' needs a value"],
    [['guest.elf'], "unexpected argument 'guest.elf' (options start with '-'; a kernel is given with -kernel FILE)"],
    [['-enable-kvm'], "unsupported option '-enable-kvm' (see -help)"],
    [['-device', 'e1000'], "-device: unknown driver 'e1000' (hvkit has: isa-debug-exit)"],
    [['-device', 'isa-debug-exit,port=1'], "-device isa-debug-exit: unknown property 'port' (it has: iobase, iosize)"],
    [['-device', 'isa-debug-exit,iobase=zz'], "-device isa-debug-exit,iobase: 'zz' is not an integer"],
    [['-device', 'isa-debug-exit,iobase'], "-device: 'iobase' is not of the form key=value"],
    [['-serial', 'tcp:1234'], "-serial: unsupported backend 'tcp:1234' (hvkit has: stdio, null, none, file:PATH)"],
    [['-display', 'gtk'], "-display: unsupported type 'gtk'"],
    [['-machine', 'isapc'], "-machine: unknown type 'isapc' (hvkit has: pc, q35)"],
  ])('refuses %j with a message naming the problem', (argv, message) => {
    expect(() => parseSystemArgs(argv)).toThrow(OptionError);
    expect(() => parseSystemArgs(argv)).toThrow(message);
  });
});

describe('hvkit-system-x86_64', () => {
  it('exits 2 with the parser message for a malformed option', async () => {
    const io = capture();
    expect(await systemMain(['-m', '0'], io)).toBe(2);
    expect(io.stderr()).toBe('hvkit-system-x86_64: -m 0: guest RAM must be at least 1 MiB\n');
  });

  it('exits 1 naming a kernel that does not exist, or is not a file', async () => {
    const io = capture();
    expect(await systemMain(['-kernel', '/nonexistent/bzImage'], io)).toBe(1);
    expect(io.stderr()).toBe('hvkit-system-x86_64: -kernel /nonexistent/bzImage: no such file\n');
    const io2 = capture();
    expect(await systemMain(['-kernel', tmpdir()], io2)).toBe(1);
    expect(io2.stderr()).toContain('not a regular file');
  });

  it('rejects a kernel that is not a Multiboot image with a clear message', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hvkit-'));
    const kernel = path.join(dir, 'guest.elf');
    writeFileSync(kernel, new Uint8Array(16));
    const io = capture();
    expect(await systemMain(['-kernel', kernel, '-m', '64'], io)).toBe(1);
    expect(io.stderr()).toMatch(/^hvkit-system-x86_64: -kernel .*guest\.elf: .*Multiboot/);
  });

  it('refuses what the minimal board cannot do yet, saying so', async () => {
    const io = capture();
    expect(await systemMain(['-m', '64'], io)).toBe(1);
    expect(io.stderr()).toMatch(/no -kernel given/);
    const dir = mkdtempSync(path.join(tmpdir(), 'hvkit-'));
    const kernel = path.join(dir, 'guest.elf');
    writeFileSync(kernel, new Uint8Array(16));
    const io2 = capture();
    expect(await systemMain(['-kernel', kernel, '-cpu', 'pentium'], io2)).toBe(1);
    expect(io2.stderr()).toMatch(/-cpu pentium: unknown model/);
  });

  it('prints help and version', async () => {
    const io = capture();
    expect(await systemMain(['-help'], io)).toBe(0);
    expect(io.stdout()).toContain('-device driver[,prop=value...]');
    const io2 = capture();
    expect(await systemMain(['-version'], io2)).toBe(0);
    expect(io2.stdout()).toMatch(/^hvkit-system-x86_64 version \d+\.\d+\.\d+\n$/);
  });
});

describe('hvkit-system-x86_64 booting a bare-metal guest', () => {
  it.skipIf(!toolchainAvailable())('runs a Multiboot guest to its isa-debug-exit write, QEMU-style', async () => {
    const guest = await buildGuest('smoke64');
    const io = capture();
    const status = await systemMain(['-nographic', '-no-reboot', '-m', '32', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4', '-kernel', guest.path], io);
    // The guest writes 0 for "pass": QEMU's status is (0 << 1) | 1.
    expect(status).toBe(1);
    expect(io.stdout()).toMatch(/PASS smoke64\r?\n/);
    expect(io.stderr()).toBe('');
  }, 60_000);
});
