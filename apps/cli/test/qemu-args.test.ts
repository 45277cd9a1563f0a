import { AMD_ZEN, INTEL_CORE } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { OptionError, parseInteger, parseSize, parseSystemArgs, systemMain, systemUsage } from '../src/index.js';
import { capture } from './helpers.js';

const MiB = 1024 * 1024;
const machine = (argv: string[]) => parseSystemArgs(argv).machine;

describe('QEMU-style options', () => {
  it('parses a typical test-kernel command line as QEMU would', () => {
    const o = parseSystemArgs([
      '-display', 'none', '-serial', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
      '-kernel', 'guest.elf', '-m', '64', '--smp', 'cpus=2', '-append', 'console=ttyS0', '-no-reboot',
      '-initrd', 'mod.bin', '-machine', 'pc,accel=tcg', '-accel', 'tcg', '-cpu', 'amd',
    ]);
    expect(o).toEqual({
      help: false,
      version: false,
      cpuHelp: false,
      machine: {
        memoryMiB: 64,
        cpus: 2,
        cpuModel: AMD_ZEN,
        kernel: 'guest.elf',
        initrd: 'mod.bin',
        append: 'console=ttyS0',
        serial: { kind: 'stdio' },
        devices: [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }],
        noReboot: true,
      },
    });
  });

  it('defaults to 128 MiB, one vCPU, the max CPU and COM1 on stdio', () => {
    expect(machine([])).toEqual({ memoryMiB: 128, cpus: 1, cpuModel: INTEL_CORE, append: '', serial: { kind: 'stdio' }, devices: [], noReboot: false });
  });

  it.each([
    ['64', 64],
    ['64M', 64],
    ['size=64M', 64],
    ['1G', 1024],
    ['4G', 4096],
    ['1.5G', 1536],
    ['2048k', 2],
    ['2GB', 2048],
    ['1T', 1024 * 1024],
  ])('reads -m %s as %i MiB', (text, mib) => {
    expect(machine(['-m', text]).memoryMiB).toBe(mib);
  });

  it('reads sizes and integers with QEMU units and bases', () => {
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize('1T')).toBe(1024 * 1024 * MiB);
    expect(parseInteger('0xf4', 'x')).toBe(0xf4);
    expect(parseInteger('0b101', 'x')).toBe(5);
    expect(parseInteger('0o17', 'x')).toBe(15);
    expect(parseInteger('17', 'x')).toBe(17);
  });

  it.each([
    ['4', 4],
    ['cpus=8', 8],
    ['32', 32],
    ['cores=4,threads=2', 8],
    ['4,sockets=2,cores=2', 4],
    ['2,maxcpus=2', 2],
  ])('reads -smp %s as %i vCPUs', (text, cpus) => {
    expect(machine(['-smp', text]).cpus).toBe(cpus);
  });

  it('takes the serial backends QEMU spells, and -nodefaults removes the default COM1', () => {
    expect(machine(['-serial', 'mon:stdio']).serial).toEqual({ kind: 'stdio' });
    expect(machine(['-serial', 'null']).serial).toEqual({ kind: 'null' });
    expect(machine(['-serial', 'none']).serial).toBeNull();
    expect(machine(['-serial', 'file:/tmp/x.log']).serial).toEqual({ kind: 'file', path: '/tmp/x.log' });
    expect(machine(['-chardev', 'file,id=c,path=/tmp/c.log', '-serial', 'chardev:c']).serial).toEqual({ kind: 'file', path: '/tmp/c.log' });
    expect(machine(['-nodefaults']).serial).toBeNull();
    expect(machine(['-nodefaults', '-serial', 'stdio']).serial).toEqual({ kind: 'stdio' });
    expect(machine(['-nographic']).serial).toEqual({ kind: 'stdio' });
    // An explicit -serial wins over -nographic, in either order, as in QEMU.
    expect(machine(['-serial', 'file:/tmp/s', '-nographic']).serial).toEqual({ kind: 'file', path: '/tmp/s' });
    expect(machine(['-nographic', '-nodefaults']).serial).toBeNull();
  });

  it('takes the devices and debug consoles QEMU spells', () => {
    expect(machine(['-device', 'isa-debug-exit']).devices).toEqual([{ type: 'isa-debug-exit', iobase: 0x501, iosize: 2 }]);
    expect(machine(['-device', 'pc-testdev']).devices).toEqual([{ type: 'pc-testdev' }]);
    expect(machine(['-debugcon', 'stdio']).debugcon).toEqual({ iobase: 0xe9, backend: { kind: 'stdio' } });
    expect(machine(['-debugcon', 'file:/tmp/d']).debugcon).toEqual({ iobase: 0xe9, backend: { kind: 'file', path: '/tmp/d' } });
    expect(machine(['-debugcon', 'none']).debugcon).toBeUndefined();
    expect(machine(['-chardev', 'stdio,id=dbg', '-device', 'isa-debugcon,iobase=0x402,chardev=dbg']).debugcon).toEqual({ iobase: 0x402, backend: { kind: 'stdio' } });
    expect(machine(['-device', 'isa-debugcon,chardev=n', '-chardev', 'null,id=n']).debugcon).toEqual({ iobase: 0xe9, backend: { kind: 'null' } });
  });

  it('accepts the options that only say what QEMU would leave out, and the bios', () => {
    expect(machine(['-display', 'none', '-vga', 'none', '-monitor', 'none', '-M', 'pc', '-machine', 'pc-i440fx-8.2', '-accel', 'tcg,thread=single', '-bios', 'bios.bin'])).toMatchObject({
      bios: 'bios.bin',
    });
  });

  it('parses -help, -version and -cpu help', () => {
    expect(parseSystemArgs(['-h']).help).toBe(true);
    expect(parseSystemArgs(['--help']).help).toBe(true);
    expect(parseSystemArgs(['-version']).version).toBe(true);
    expect(parseSystemArgs(['-cpu', 'help']).cpuHelp).toBe(true);
  });

  it.each([
    [['-m', 'lots'], "invalid size 'lots': expected a number with an optional K, M, G or T suffix"],
    [['-m', '1'], '-m 1: guest RAM must be at least 2 MiB'],
    [['-m', '2049k'], '-m 2049k: guest RAM must be a whole number of MiB'],
    [['-m', '2.5M'], '-m 2.5M: guest RAM must be a whole number of MiB'],
    [['-m', '2T'], '-m 2T: guest RAM must be at most 1 TiB'],
    [['-m', '0.3k'], "invalid size '0.3k': not a whole number of bytes"],
    [['-m', '64,slots=2'], "-m: unsupported parameter 'slots' (hvkit has no memory hotplug)"],
    [['-m', 'maxmem=1G'], "-m: unsupported parameter 'maxmem' (hvkit has no memory hotplug)"],
    [['-smp', '0'], '-smp 0: the number of vCPUs must be at least 1'],
    [['-smp', '33'], '-smp 33: the PC has at most 32 vCPUs'],
    [['-smp', 'four'], "-smp: 'four' is not an integer"],
    [['-smp', 'cores=4,threads=x'], "-smp threads: 'x' is not an integer"],
    [['-smp', '4,cores=3'], '-smp 4,cores=3: the topology gives 3 vCPUs, not 4 (hvkit does not hot-plug vCPUs)'],
    [['-smp', '2,maxcpus=4'], '-smp 2,maxcpus=4: maxcpus must equal cpus (hvkit does not hot-plug vCPUs)'],
    [['-smp', '2,books=1'], "-smp: unknown parameter 'books' (it has: cpus, maxcpus, sockets, dies, clusters, cores, threads)"],
    [['-smp', 'maxcpus=2'], '-smp: missing the number of vCPUs'],
    [['-kernel'], "option '-kernel' needs a value"],
    [['guest.elf'], "unexpected argument 'guest.elf' (options start with '-'; a kernel is given with -kernel FILE)"],
    [['-enable-kvm'], '-enable-kvm: hardware acceleration is not available: hvkit emulates the CPU in software (use -accel tcg, the default)'],
    [['-accel', 'kvm'], '-accel kvm: hardware acceleration is not available: hvkit emulates the CPU in software (use -accel tcg, the default)'],
    [['-machine', 'pc,accel=kvm'], '-machine accel kvm: hardware acceleration is not available: hvkit emulates the CPU in software (use -accel tcg, the default)'],
    [['-accel', 'qtest'], "-accel: unknown accelerator 'qtest' (hvkit has: tcg)"],
    [['-accel', 'tcg,tb-size=64'], "-accel: unknown parameter 'tb-size' (it has: accel, thread)"],
    [['-machine', 'q35'], '-machine q35: only the pc machine (i440FX/PIIX) exists in hvkit; q35 is not implemented'],
    [['-M', 'pc-q35-8.2'], '-machine pc-q35-8.2: only the pc machine (i440FX/PIIX) exists in hvkit; q35 is not implemented'],
    [['-machine', 'isapc'], "-machine: unknown machine type 'isapc' (hvkit has: pc)"],
    [['-machine', 'pc,smm=off'], "-machine: unknown parameter 'smm' (it has: type, accel)"],
    [['-device', 'e1000'], "-device: unknown driver 'e1000' (hvkit has: isa-debug-exit, pc-testdev, isa-debugcon)"],
    [['-device', 'isa-debug-exit,port=1'], "-device isa-debug-exit: unknown parameter 'port' (it has: iobase, iosize)"],
    [['-device', 'isa-debug-exit,iobase=zz'], "-device isa-debug-exit,iobase: 'zz' is not an integer"],
    [['-device', 'isa-debug-exit,iobase=0x10000'], '-device isa-debug-exit,iobase: 0x10000 is not an I/O port (0 to 0xffff)'],
    [['-device', 'isa-debug-exit,iobase=0xfffe,iosize=4'], '-device isa-debug-exit: iosize 4 at iobase 0xfffe does not fit the I/O space'],
    [['-device', 'isa-debug-exit,iosize=0'], '-device isa-debug-exit: iosize 0 at iobase 0x501 does not fit the I/O space'],
    [['-device', 'isa-debug-exit,iobase'], "-device: 'iobase' is not of the form key=value"],
    [['-device', ',iobase=1'], '-device ,iobase=1: missing driver name'],
    [['-device', 'pc-testdev,iobase=1'], "-device pc-testdev: unknown parameter 'iobase' (it takes none)"],
    [['-device', 'isa-debugcon,readback=0'], "-device isa-debugcon: unknown parameter 'readback' (it has: iobase, chardev)"],
    [['-device', 'isa-debugcon'], '-device isa-debugcon: needs chardev=ID (with -chardev stdio,id=ID), or use -debugcon stdio'],
    [['-device', 'isa-debugcon,chardev='], '-device isa-debugcon: chardev= needs a value'],
    [['-device', 'isa-debugcon,chardev=nope'], '-device isa-debugcon,chardev=nope: no -chardev with id=nope'],
    [['-debugcon', 'stdio', '-debugcon', 'null'], 'only one debug console (isa-debugcon) is supported'],
    [['-debugcon', 'tcp:1234'], "-debugcon: unsupported backend 'tcp:1234' (hvkit has: stdio, mon:stdio, null, none, file:PATH, chardev:ID)"],
    [['-serial', 'tcp:1234'], "-serial: unsupported backend 'tcp:1234' (hvkit has: stdio, mon:stdio, null, none, file:PATH, chardev:ID)"],
    [['-serial', 'file:'], "-serial: unsupported backend 'file:' (hvkit has: stdio, mon:stdio, null, none, file:PATH, chardev:ID)"],
    [['-serial', 'stdio', '-serial', 'null'], '-serial: hvkit has one serial port (COM1); give -serial once'],
    [['-serial', 'chardev:c'], '-serial: no -chardev with id=c'],
    [['-chardev', 'socket,id=s'], "-chardev: unsupported backend 'socket' (hvkit has: stdio, null, file)"],
    [['-chardev', 'stdio'], '-chardev stdio: missing id='],
    [['-chardev', 'file,id=f'], '-chardev file,id=f: missing path='],
    [['-chardev', 'null,id=a', '-chardev', 'null,id=a'], "-chardev: duplicate id 'a'"],
    [['-chardev', 'stdio,id=a,logfile=x'], "-chardev stdio: unknown parameter 'logfile' (it has: id, mux, signal)"],
    [['-display', 'gtk'], "-display: unsupported type 'gtk' (the command line is headless: use -display none; the browser lab has a screen)"],
    [['-vga', 'std'], "-vga: unsupported type 'std' (hvkit has no graphics card: use -vga none)"],
    [['-monitor', 'stdio'], "-monitor: unsupported 'stdio' (hvkit has no monitor: use -monitor none)"],
    [['-cpu', 'pentium'], "-cpu: unknown model 'pentium' (hvkit has: max, host, intel, amd, qemu64)"],
    [['-cpu', 'amd,+vmx'], "-cpu: vmx: VT-x is an Intel extension and 'amd' is an AuthenticAMD model (use max, host or intel; AMD's extension is svm)"],
    [['-cpu', 'intel,+svm'], "-cpu: svm: SVM is an AMD extension and 'intel' is a GenuineIntel model (use max, host, amd or qemu64; Intel's extension is vmx)"],
  ])('refuses %j with a message naming the problem', (argv, message) => {
    expect(() => parseSystemArgs(argv)).toThrow(OptionError);
    expect(() => parseSystemArgs(argv)).toThrow(message);
  });

  it('-cpu max,+vmx asks for VT-x (virtualization: vmx), and only then', () => {
    expect(parseSystemArgs(['-cpu', 'max,+vmx']).machine).toMatchObject({ cpuModel: INTEL_CORE, virtualization: 'vmx' });
    expect(parseSystemArgs(['-cpu', 'host,+vmx']).machine.virtualization).toBe('vmx');
    expect(parseSystemArgs(['-cpu', 'max']).machine).not.toHaveProperty('virtualization');
    expect(parseSystemArgs([]).machine).not.toHaveProperty('virtualization');
  });

  it('-cpu max,+svm asks for AMD SVM (virtualization: svm) on the AMD model', () => {
    expect(parseSystemArgs(['-cpu', 'max,+svm']).machine).toMatchObject({ cpuModel: { vendor: 'amd', name: 'hvkit-amd' }, virtualization: 'svm' });
    expect(parseSystemArgs(['-cpu', 'amd,svm=on']).machine.virtualization).toBe('svm');
  });

  it('refuses an unknown option, listing every option it supports', () => {
    expect(() => parseSystemArgs(['-hda', 'disk.img'])).toThrow(
      "unsupported option '-hda' (hvkit supports: -m, -smp, -cpu, -machine, -M, -accel, -kernel, -initrd, -append, -bios, -serial, -debugcon, -chardev, -device, -display, -vga, -monitor, -nographic, -nodefaults, -no-reboot, -version, -help)",
    );
  });

  it('documents every option it takes in -help', () => {
    const usage = systemUsage();
    for (const option of ['-m ', '-smp ', '-cpu ', '-machine ', '-M ', '-accel ', '-kernel ', '-initrd ', '-append ', '-bios ', '-serial ', '-debugcon ', '-chardev ', '-device ', '-display ', '-vga ', '-monitor ', '-nographic ', '-nodefaults ', '-no-reboot ', '-version ', '-help']) {
      expect(usage).toContain(`  ${option}`);
    }
  });
});

describe('hvkit-system-x86_64 before the machine starts', () => {
  it('exits 1 (as QEMU does) with the parser message for a malformed option', async () => {
    const io = capture();
    expect(await systemMain(['-m', '0'], io)).toBe(1);
    expect(io.stderr()).toBe('hvkit-system-x86_64: -m 0: guest RAM must be at least 2 MiB\n');
    expect(io.stdout()).toBe('');
  });

  it('exits 1 for an unknown option, in one line', async () => {
    const io = capture();
    expect(await systemMain(['-snapshot'], io)).toBe(1);
    expect(io.stderr()).toMatch(/^hvkit-system-x86_64: unsupported option '-snapshot' \(hvkit supports: -m, .*-help\)\n$/);
  });

  it('exits 1 when there is nothing to boot', async () => {
    const io = capture();
    expect(await systemMain(['-m', '64'], io)).toBe(1);
    expect(io.stderr()).toBe(
      'hvkit-system-x86_64: no kernel given: hvkit boots a Multiboot, Linux bzImage or ELF kernel directly (-kernel FILE), or firmware with -bios FILE\n',
    );
  });

  it('prints help, version and the CPU list on stdout with status 0', async () => {
    const io = capture();
    expect(await systemMain(['-help'], io)).toBe(0);
    expect(io.stdout()).toContain('-device driver[,prop=value...]');
    const io2 = capture();
    expect(await systemMain(['-version'], io2)).toBe(0);
    expect(io2.stdout()).toMatch(/^hvkit-system-x86_64 version \d+\.\d+\.\d+\n$/);
    const io3 = capture();
    expect(await systemMain(['-cpu', 'help'], io3)).toBe(0);
    expect(io3.stdout()).toMatch(/^Available CPU models:\n {2}max {6}hvkit virtual Intel-compatible CPU \(GenuineIntel\)\n/);
    expect(io3.stdout()).toMatch(/ smep /);
  });
});
