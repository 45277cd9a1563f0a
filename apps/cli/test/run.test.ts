import { readFileSync } from 'node:fs';
import { buildGuest, toolchainAvailable } from '@hvkit/guests';
import { AMD_ZEN, INTEL_CORE } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { formatProgress, formatStats, hvkitMain, OptionError, parseRunArgs, RUN_USAGE, runMain, systemMain } from '../src/index.js';
import { asm, capture, ELF_CODE, elf32, EXIT_AL, exitWith, scratchFile, scratchPath, u32 } from './helpers.js';

const EXIT_DEVICE = ['--device', 'isa-debug-exit,iobase=0xf4,iosize=4'];
const tiny = (name: string, code: readonly number[] | Uint8Array) => scratchFile(name, elf32(Uint8Array.from(code)));
/** Terminal escapes made visible (ESC as `<ESC>`), for matching. */
const esc = (text: string) => text.replaceAll(String.fromCharCode(0x1b), '<ESC>');
const run = async (argv: string[], options: { tty?: boolean; signals?: boolean } = {}) => {
  const io = capture({ tty: options.tty ?? false });
  const status = await runMain(argv, io, { signals: options.signals ?? false });
  return { status, out: io.stdout(), err: io.stderr() };
};

describe('hvkit run options', () => {
  it('has friendly defaults: 128 MiB, one max vCPU, COM1 on stdio, automatic progress', () => {
    expect(parseRunArgs(['k.elf'])).toEqual({
      help: false,
      machine: {
        memoryMiB: 128,
        cpus: 1,
        cpuModel: INTEL_CORE,
        kernel: 'k.elf',
        append: '',
        serial: { kind: 'stdio' },
        devices: [],
        noReboot: false,
        stats: false,
        progress: 'auto',
        rebootNotes: true,
      },
    });
  });

  it('--cpu max,+vmx gives the vCPUs VT-x, host,+svm AMD SVM', () => {
    expect(parseRunArgs(['--cpu', 'max,+vmx', 'k']).machine).toMatchObject({ cpuModel: INTEL_CORE, virtualization: 'vmx' });
    expect(parseRunArgs(['--cpu=intel,vmx=on', 'k']).machine.virtualization).toBe('vmx');
    expect(parseRunArgs(['--cpu', 'host,+svm', 'k']).machine).toMatchObject({ cpuModel: { vendor: 'amd' }, virtualization: 'svm' });
  });

  it('reads every option in its long, short and --name=value forms', () => {
    const o = parseRunArgs([
      '--memory', '256M', '--cpus=4', '--cpu', 'amd', '--initrd', 'mods', '--append=console=ttyS0 quiet', '--serial', 'file:/tmp/s',
      '--debugcon', 'null', '--device', 'pc-testdev', '--device=isa-debug-exit,iobase=0xf4', '--bios', 'b.bin', '--no-reboot',
      '--max-instructions', '2G', '--stats', '--progress', 'k.elf',
    ]);
    expect(o.machine).toEqual({
      memoryMiB: 256,
      cpus: 4,
      cpuModel: AMD_ZEN,
      kernel: 'k.elf',
      initrd: 'mods',
      append: 'console=ttyS0 quiet',
      serial: { kind: 'file', path: '/tmp/s' },
      debugcon: { iobase: 0xe9, backend: { kind: 'null' } },
      devices: [{ type: 'pc-testdev' }, { type: 'isa-debug-exit', iobase: 0xf4, iosize: 2 }],
      bios: 'b.bin',
      noReboot: true,
      maxInstructions: 2_000_000_000,
      stats: true,
      progress: true,
      rebootNotes: true,
    });
    expect(parseRunArgs(['-m', '64', '-c', '2', 'k']).machine).toMatchObject({ memoryMiB: 64, cpus: 2 });
    expect(parseRunArgs(['-m64', '-c2', 'k']).machine).toMatchObject({ memoryMiB: 64, cpus: 2 });
    expect(parseRunArgs(['-m=1G', 'k']).machine.memoryMiB).toBe(1024);
    expect(parseRunArgs(['--cmdline', 'a b', 'k']).machine.append).toBe('a b');
    expect(parseRunArgs(['--serial', 'none', 'k']).machine.serial).toBeNull();
    expect(parseRunArgs(['--serial', 'null', 'k']).machine.serial).toEqual({ kind: 'null' });
    expect(parseRunArgs(['--no-progress', 'k']).machine.progress).toBe(false);
    expect(parseRunArgs(['--max-instructions', '150k', 'k']).machine.maxInstructions).toBe(150_000);
    expect(parseRunArgs(['--max-instructions', '3M', 'k']).machine.maxInstructions).toBe(3_000_000);
    expect(parseRunArgs(['--device', 'isa-debugcon', 'k']).machine.debugcon).toEqual({ iobase: 0xe9, backend: { kind: 'stdio' } });
    expect(parseRunArgs(['--device', 'isa-debugcon,iobase=0x402,chardev=file:/tmp/d', 'k']).machine.debugcon).toEqual({ iobase: 0x402, backend: { kind: 'file', path: '/tmp/d' } });
    expect(parseRunArgs(['--', '-odd-name.elf']).machine.kernel).toBe('-odd-name.elf');
    expect(parseRunArgs(['--bios', 'b.bin']).machine.kernel).toBeUndefined();
    expect(parseRunArgs(['--help']).help).toBe(true);
    expect(parseRunArgs(['-h']).help).toBe(true);
  });

  it.each([
    [['--memory'], "option '--memory' needs a value"],
    [['k', '-m'], "option '-m' needs a value"],
    [['--stats=yes', 'k'], "option '--stats' takes no value"],
    [['--memory', '1', 'k'], '--memory 1: guest RAM must be at least 2 MiB'],
    [['-m', '3.5M', 'k'], '-m 3.5M: guest RAM must be a whole number of MiB'],
    [['--cpus', '0', 'k'], '--cpus 0: the number of vCPUs must be at least 1'],
    [['-c', '64', 'k'], '-c 64: the PC has at most 32 vCPUs'],
    [['--cpus', 'two', 'k'], "--cpus: 'two' is not an integer"],
    [['--cpu', 'intel,+svm', 'k'], "-cpu: svm: SVM is an AMD extension and 'intel' is a GenuineIntel model (use max, host, amd or qemu64; Intel's extension is vmx)"],
    [['--cpu', 'amd,+vmx', 'k'], "-cpu: vmx: VT-x is an Intel extension and 'amd' is an AuthenticAMD model (use max, host or intel; AMD's extension is svm)"],
    [['--serial', 'pty', 'k'], "--serial: unsupported backend 'pty' (hvkit has: stdio, mon:stdio, null, none, file:PATH)"],
    [['--debugcon', 'none', 'k'], "--debugcon: unsupported backend 'none' (hvkit has: stdio, mon:stdio, null, file:PATH)"],
    [['--device', 'virtio-net', 'k'], "--device: unknown driver 'virtio-net' (hvkit has: isa-debug-exit, pc-testdev, isa-debugcon)"],
    [['--device', 'isa-debugcon,chardev=tcp:1', 'k'], "--device isa-debugcon,chardev: unsupported backend 'tcp:1' (hvkit has: stdio, mon:stdio, null, file:PATH)"],
    [['--debugcon', 'stdio', '--device', 'isa-debugcon', 'k'], 'only one debug console (isa-debugcon) is supported'],
    [['--max-instructions', 'lots', 'k'], "--max-instructions: 'lots' is not a count (digits, optionally followed by K, M or G)"],
    [['--max-instructions', '0', 'k'], "--max-instructions: '0' is not a positive count"],
    [['-cpu', 'amd', 'k'], "unknown option '-cpu' (long options take two dashes: --cpu)"],
    [['-memory=64', 'k'], "unknown option '-memory=64' (long options take two dashes: --memory)"],
    [['a.elf', 'b.elf'], "one KERNEL, please: got 'a.elf', 'b.elf'"],
    [[], 'no KERNEL given (usage: hvkit run [options] KERNEL; see --help)'],
    [['--stats'], 'no KERNEL given (usage: hvkit run [options] KERNEL; see --help)'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseRunArgs(argv)).toThrow(OptionError);
    expect(() => parseRunArgs(argv)).toThrow(message);
  });

  it('refuses an unknown option with status 1, listing the options', async () => {
    const r = await run(['--turbo', 'k.elf']);
    expect(r.status).toBe(1);
    expect(r.err).toBe(
      "hvkit run: unknown option '--turbo' (hvkit run takes: --memory/-m, --cpus/-c, --cpu, --initrd, --append, --cmdline, --serial, --debugcon, --device, --bios, --no-reboot, --max-instructions, --stats, --progress, --no-progress, --help/-h; see --help)\n",
    );
    expect(r.out).toBe('');
    const short = await run(['-x', 'k.elf']);
    expect(short.err).toMatch(/^hvkit run: unknown option '-x' \(hvkit run takes: /);
  });

  it('prints its help, and hvkit help lists run', async () => {
    const r = await run(['--help']);
    expect(r).toEqual({ status: 0, out: RUN_USAGE, err: '' });
    for (const option of ['--memory', '--cpus', '--cpu', '--initrd', '--append', '--cmdline', '--serial', '--debugcon', '--device', '--bios', '--no-reboot', '--max-instructions', '--stats', '--progress', '--no-progress', '--help']) {
      expect(RUN_USAGE).toContain(option);
    }
    const io = capture();
    expect(await hvkitMain(['help'], io)).toBe(0);
    expect(io.stdout()).toMatch(/^ {2}run \[options\] KERNEL {3}boot a Multiboot, Linux bzImage or ELF kernel on the hvkit PC$/m);
  });
});

describe('hvkit run machines', () => {
  it.skipIf(!toolchainAvailable())('boots a guest to its isa-debug-exit write and prints statistics with --stats', async () => {
    const guest = await buildGuest('smoke');
    const r = await run([...EXIT_DEVICE, '--stats', '-m', '32', guest.path]);
    expect(r.status).toBe(1);
    expect(r.out).toContain('PASS smoke');
    const lines = r.err.split('\n');
    expect(lines).toHaveLength(9);
    expect(lines[0]).toMatch(/^\[hvkit\] instructions {2}[1-9]\d*$/);
    expect(lines[1]).toMatch(/^\[hvkit\] idle {10}\d+ of them skipped while every core was halted$/);
    expect(lines[2]).toMatch(/^\[hvkit\] guest time {4}\d+\.\d{6} s$/);
    expect(lines[3]).toMatch(/^\[hvkit\] host time {5}\d+\.\d{3} s$/);
    expect(lines[4]).toMatch(/^\[hvkit\] speed {9}\d+\.\d\d MIPS \(executed instructions per host second\)$/);
    expect(lines[5]).toMatch(/^\[hvkit\] exits {9}[1-9]\d* \(port I\/O and MMIO\)$/);
    expect(lines[6]).toMatch(/^\[hvkit\] TLB fills {5}\d+$/);
    expect(lines[7]).toMatch(/^\[hvkit\] guest RAM {5}\d+\.\d MiB allocated of 32 MiB$/);
    expect(lines[8]).toBe('');
  }, 30_000);

  it('formats the statistics and the progress line from pc.stats()', () => {
    const stats = { instructions: 1_234_567_890, idle: 34_567_890, guestNs: 1_230_000_000, hostMs: 27_300, mips: 45.23, exits: 77, tlbFills: 5, ramAllocated: 3 * 1024 * 1024 };
    expect(formatProgress(stats)).toBe('[hvkit] 1234M instr  45.2 MIPS  guest 1.23 s');
    expect(formatStats(stats, 64)).toBe(
      [
        '[hvkit] instructions  1234567890',
        '[hvkit] idle          34567890 of them skipped while every core was halted',
        '[hvkit] guest time    1.230000 s',
        '[hvkit] host time     27.300 s',
        '[hvkit] speed         45.23 MIPS (executed instructions per host second)',
        '[hvkit] exits         77 (port I/O and MMIO)',
        '[hvkit] TLB fills     5',
        '[hvkit] guest RAM     3.0 MiB allocated of 64 MiB',
        '',
      ].join('\n'),
    );
  });

  it('stops at --max-instructions with status 1 and a message', async () => {
    const r = await run(['--max-instructions', '1M', tiny('spin', [0xeb, 0xfe])]);
    expect(r).toEqual({ status: 1, out: '', err: 'hvkit run: stopped after 1000000 instructions (the limit is 1000000)\n' });
  });

  it('draws the progress line on a terminal with --progress, and clears it', async () => {
    const r = await run(['--progress', '--max-instructions', '3M', tiny('spin-p', [0xeb, 0xfe])], { tty: true });
    expect(r.status).toBe(1);
    expect(esc(r.err)).toMatch(/^\r\[hvkit\] \d+M instr {2}\d+\.\d MIPS {2}guest \d+\.\d\d s<ESC>\[K/);
    expect(esc(r.err)).toMatch(/\r<ESC>\[Khvkit run: stopped after 3000000 instructions \(the limit is 3000000\)\n$/);
    // Not on a pipe unless asked, and never with --no-progress.
    const quiet = await run(['--max-instructions', '3M', tiny('spin-q', [0xeb, 0xfe])]);
    expect(quiet.err).toBe('hvkit run: stopped after 3000000 instructions (the limit is 3000000)\n');
    const off = await run(['--no-progress', '--max-instructions', '3M', tiny('spin-o', [0xeb, 0xfe])], { tty: true });
    expect(off.err).toBe('hvkit run: stopped after 3000000 instructions (the limit is 3000000)\n');
  });

  it('shows the progress line by itself on a terminal once a run passes 2 s, and exits 130 on SIGINT', async () => {
    const io = capture({ tty: true });
    const timer = setTimeout(() => process.emit('SIGINT'), 2600);
    const status = await hvkitMain(['run', tiny('spin-long', [0xeb, 0xfe])], io);
    clearTimeout(timer);
    expect(status).toBe(130);
    expect(esc(io.stderr())).toMatch(/^\r\[hvkit\] \d+M instr {2}\d+\.\d MIPS {2}guest \d+\.\d\d s<ESC>\[K/);
    expect(esc(io.stderr())).toMatch(/\r<ESC>\[Khvkit run: terminating on signal 2\n$/);
    expect(process.listenerCount('SIGINT')).toBe(0);
  }, 20_000);

  it('says when the guest reboots, and exits with what the second boot writes', async () => {
    const image = asm(ELF_CODE, [
      [0xff, 0x05, ...u32(0x20_0000), 0xa1, ...u32(0x20_0000), 0x83, 0xf8, 0x01, 0x75], // inc [2 MiB]; mov eax, [2 MiB]; cmp eax, 1; jne
      { rel8: 'again' },
      [0xb0, 0x06, 0x66, 0xba, 0xf9, 0x0c, 0xee, 0xeb, 0xfe], // reset through 0xCF9; jmp $
      { label: 'again' },
      EXIT_AL,
    ]);
    const kernel = tiny('reboot-note', image);
    expect(await run([...EXIT_DEVICE, kernel])).toEqual({ status: 5, out: '', err: 'hvkit run: the guest asked for a reset: rebooting\n' });
    expect(await run([...EXIT_DEVICE, '--no-reboot', kernel])).toEqual({ status: 0, out: '', err: '' });
  });

  it('writes COM1 and the debug console to files', async () => {
    // COM1: LCR (0x3FB) = 3 for 8-bit characters, then 'S' and LF to the THR (0x3F8); 'D' to
    // the debug console at 0xE9; exit.
    const code = [0x66, 0xba, 0xfb, 0x03, 0xb0, 0x03, 0xee, 0x66, 0xba, 0xf8, 0x03, 0xb0, 0x53, 0xee, 0xb0, 0x0a, 0xee, 0xb0, 0x44, 0xe6, 0xe9, ...exitWith(0)];
    const serial = scratchPath('run-serial.log');
    const debug = scratchPath('run-debug.log');
    const r = await run([...EXIT_DEVICE, '--serial', `file:${serial}`, '--debugcon', `file:${debug}`, tiny('files', code)]);
    expect(r).toEqual({ status: 1, out: '', err: '' });
    expect(readFileSync(serial, 'latin1')).toBe('S\n');
    expect(readFileSync(debug, 'latin1')).toBe('D');
  });

  it('runs firmware from the reset vector with --bios and no kernel', async () => {
    // A 64 KiB BIOS whose last 16 bytes (0xFFFFFFF0, the reset vector: SDM Vol. 3 §10.1.4) are
    // mov al, 0x21; out 0xf4, al; hlt
    const bios = new Uint8Array(0x1_0000);
    bios.set([0xb0, 0x21, ...EXIT_AL], 0xfff0);
    const file = scratchFile('tiny-bios.bin', bios);
    expect(await run([...EXIT_DEVICE, '--bios', file])).toEqual({ status: 0x43, out: '', err: '' });
    const io = capture();
    expect(await systemMain(['-device', 'isa-debug-exit,iobase=0xf4,iosize=4', '-bios', file], io, { signals: false })).toBe(0x43);
  });

  it('names a kernel that cannot be read without a flag', async () => {
    expect(await run(['/nonexistent/kernel'])).toEqual({ status: 1, out: '', err: 'hvkit run: /nonexistent/kernel: no such file\n' });
    const junk = scratchFile('run-junk', 'garbage');
    expect(await run([junk])).toEqual({
      status: 1,
      out: '',
      err: `hvkit run: ${junk}: not a kernel hvkit can boot: no Multiboot header in the first 8 KiB, no Linux "HdrS" signature at offset 0x202, no ELF header\n`,
    });
    expect(await run(['--initrd', '/nonexistent/initrd', tiny('mb-less', exitWith(0))])).toEqual({
      status: 1,
      out: '',
      err: `hvkit run: ${scratchPath('mb-less')}: an ELF kernel without a Multiboot header takes no initrd or modules\n`,
    });
  });
});
