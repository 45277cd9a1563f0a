import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildGuest, toolchainAvailable } from '@hvkit/guests';
import { describe, expect, it } from 'vitest';
import { detectKernelFormat, splitModuleList, systemMain } from '../src/index.js';
import { asm, capture, DEBUG_EXIT, ELF_CODE, elf32, EXIT_AL, exitWith, multiboot, MULTIBOOT_CODE, scratchFile, scratchPath, u32 } from './helpers.js';

const PROGRAM = 'hvkit-system-x86_64';
const run = async (argv: string[]) => {
  const io = capture();
  const status = await systemMain(argv, io, { signals: false });
  return { status, out: io.stdout(), err: io.stderr() };
};
/** The guests write CR LF line ends (tooling/guests/lib/console.c); compare with LF. */
const lf = (text: string) => text.replace(/\r\n/g, '\n');
const tiny = (name: string, code: readonly number[] | Uint8Array) => scratchFile(name, elf32(Uint8Array.from(code)));

const guests = toolchainAvailable();

describe('hvkit-system-x86_64 booting real guests', () => {
  it.skipIf(!guests)('runs a Multiboot guest to its isa-debug-exit write: status (0 << 1) | 1', async () => {
    const guest = await buildGuest('smoke');
    const r = await run(['-nographic', '-no-reboot', '-m', '32', ...DEBUG_EXIT, '-kernel', guest.path]);
    expect(r.status).toBe(1);
    expect(lf(r.out)).toMatch(/^\n?# smoke: 32-bit guest.*\nok CR0\.PE = 1 at the Multiboot entry\n[^]*PASS smoke\n$/);
    expect(r.err).toBe('');
  }, 30_000);

  it.skipIf(!guests)('writes COM1 to a file with -serial file:PATH, nothing on stdout', async () => {
    const guest = await buildGuest('smoke');
    const log = scratchPath('serial.log');
    writeFileSync(log, 'old contents that QEMU would truncate\n');
    const r = await run(['-display', 'none', '-serial', `file:${log}`, ...DEBUG_EXIT, '-kernel', guest.path]);
    expect(r.status).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe('');
    const text = lf(readFileSync(log, 'latin1'));
    expect(text).toMatch(/^\n?# smoke: 32-bit guest/);
    expect(text).toMatch(/PASS smoke\n$/);
  }, 30_000);

  it.skipIf(!guests)('has no COM1 with -serial none (the guest still runs)', async () => {
    const guest = await buildGuest('smoke');
    const r = await run(['-nodefaults', ...DEBUG_EXIT, '-kernel', guest.path]);
    expect(r.out).toBe('');
    expect(r.err).toBe('');
    expect(r.status).toBe(1);
  }, 30_000);

  it.skipIf(!guests)('starts 4 vCPUs with -smp 4 (the smp guest counts them)', async () => {
    const guest = await buildGuest('smp');
    const r = await run(['-nographic', '-no-reboot', '-smp', '4', '-m', '64', ...DEBUG_EXIT, '-kernel', guest.path]);
    expect(r.out).toContain('ok fw_cfg NB_CPUS = 4');
    expect(lf(r.out)).toMatch(/PASS smp\n$/);
    expect(r.status).toBe(1);
    // With one vCPU the same guest sees fw_cfg say 1 and fails: the option is what made it pass.
    const one = await run(['-nographic', '-no-reboot', '-m', '64', ...DEBUG_EXIT, '-kernel', guest.path]);
    expect(one.out).toContain('FAIL fw_cfg NB_CPUS = 4');
    expect(lf(one.out)).toMatch(/\nFAIL smp: fw_cfg reports 1 CPUs\n$/);
    expect(one.status).not.toBe(1);
  }, 60_000);

  it.skipIf(!guests)('attaches pc-testdev with -device pc-testdev', async () => {
    const guest = await buildGuest('pctestdev');
    const r = await run(['-nographic', '-no-reboot', '-device', 'pc-testdev', ...DEBUG_EXIT, '-kernel', guest.path]);
    expect(r.err).toBe('');
    // The port side of the device (QEMU hw/misc/pc-testdev.c): the scratch register and the IRQ lines.
    expect(r.out).toContain('ok 0xE0: a dword reads back 0x12345678');
    expect(r.out).toContain('ok 0x2000 + n, write 1: IRQ n (5, 7, 10, 11) shows in the IRR');
    expect(r.out).toContain('ok IRQ 11 raised through 0x200B is delivered as vector 0x2B');
    // The whole program passes (the MMIO scratch at 0xFF000000 included) and says so with status 1.
    expect(lf(r.out)).toMatch(/\nPASS pctestdev\n$/);
    expect(r.status).toBe(1);
    const without = await run(['-nographic', '-no-reboot', ...DEBUG_EXIT, '-kernel', guest.path]);
    expect(without.out).not.toContain('ok 0xE0: a dword reads back 0x12345678');
  }, 30_000);
});

describe('hvkit-system-x86_64 exit statuses', () => {
  it.each([
    [0x00, 1],
    [0x01, 3],
    [0x2a, 0x55],
    [0x7f, 0xff],
    [0x80, 1], // (0x80 << 1) | 1 = 0x101: a process status keeps the low 8 bits
  ])('exits with (value << 1) | 1 when the guest writes %i to isa-debug-exit', async (value, status) => {
    const r = await run([...DEBUG_EXIT, '-kernel', tiny(`exit-${value}`, exitWith(value))]);
    expect(r.status).toBe(status);
    expect(r.err).toBe('');
  });

  it('takes isa-debug-exit at QEMU default port 0x501 with no iobase', async () => {
    // mov dx, 0x501; mov al, 3; out dx, al; hlt
    const r = await run(['-device', 'isa-debug-exit', '-kernel', tiny('exit-501', [0x66, 0xba, 0x01, 0x05, 0xb0, 0x03, 0xee, 0xf4])]);
    expect(r.status).toBe(7);
  });

  it('exits 0 on an ACPI S5 power-off (SLP_TYP 0 | SLP_EN to PM1a_CNT at 0x604)', async () => {
    // mov dx, 0x604; mov ax, 0x2000; out dx, ax; jmp $
    const r = await run(['-kernel', tiny('s5', [0x66, 0xba, 0x04, 0x06, 0x66, 0xb8, 0x00, 0x20, 0x66, 0xef, 0xeb, 0xfe])]);
    expect(r).toEqual({ status: 0, out: '', err: '' });
  });

  it('exits 0 when the guest writes "Shutdown" to the Bochs port 0x8900', async () => {
    const code = [0x66, 0xba, 0x00, 0x89, ...[...'Shutdown'].flatMap((c) => [0xb0, c.charCodeAt(0), 0xee]), 0xeb, 0xfe];
    const r = await run(['-kernel', tiny('bochs-shutdown', code)]);
    expect(r).toEqual({ status: 0, out: '', err: '' });
  });

  it('exits 0 with a note when every vCPU halts with nothing to wake it', async () => {
    const r = await run(['-kernel', tiny('cli-hlt', [0xfa, 0xf4])]);
    expect(r.status).toBe(0);
    expect(r.err).toBe(`${PROGRAM}: every vCPU is halted with no interrupt or timer to wake it; stopping\n`);
  });

  /**
   * Guests that count their boots in RAM at 2 MiB (RAM survives a reset, as on a PC), end the
   * first boot with a triple fault or a reset request, and on the next write the count to
   * isa-debug-exit.
   */
  const FAILURES: [string, Parameters<typeof asm>[1]][] = [
    // LIDT with limit 0, then INT3: #GP, #DF, shutdown (SDM Vol. 3 §6.15, "Interrupt 8").
    ['a triple fault', [[0x0f, 0x01, 0x1d], { abs32: 'zero' }, [0xcc]]],
    // 0xCF9 reset control: bit 2 with bit 1 (hard reset).
    ['a reset through port 0xCF9', [[0xb0, 0x06, 0x66, 0xba, 0xf9, 0x0c, 0xee]]],
    // 8042 command 0xFE: pulse the reset line.
    ['a reset through the 8042 (command 0xFE)', [[0xb0, 0xfe, 0xe6, 0x64]]],
    // Port 0x92 bit 0: fast reset.
    ['a reset through port 0x92', [[0xb0, 0x01, 0xe6, 0x92]]],
  ];

  it.each(FAILURES)('after %s: exits 0 with -no-reboot, boots the kernel again without it', async (what, failure) => {
    const image = asm(ELF_CODE, [
      [0xff, 0x05, ...u32(0x20_0000)], // inc dword [0x200000]
      [0xa1, ...u32(0x20_0000)], // mov eax, [0x200000]
      [0x83, 0xf8, 0x01, 0x75], // cmp eax, 1; jne again
      { rel8: 'again' },
      ...failure,
      [0xeb, 0xfe], // jmp $ (a reset request takes effect at once)
      { label: 'again' },
      EXIT_AL,
      { label: 'zero' },
      [0, 0, 0, 0, 0, 0],
    ]);
    const file = scratchFile(`reboot-${what.replace(/\W+/g, '-')}.elf`, elf32(image));
    expect(await run([...DEBUG_EXIT, '-no-reboot', '-kernel', file])).toEqual({ status: 0, out: '', err: '' });
    // Second boot: the count is 2, so the status is (2 << 1) | 1.
    expect(await run([...DEBUG_EXIT, '-kernel', file])).toEqual({ status: 5, out: '', err: '' });
  });

  it('exits 130 on SIGINT, saying so', async () => {
    const kernel = tiny('spin', [0xeb, 0xfe]);
    const io = capture();
    const timer = setTimeout(() => process.emit('SIGINT'), 300);
    const status = await systemMain(['-kernel', kernel], io);
    clearTimeout(timer);
    expect(status).toBe(130);
    expect(io.stderr()).toBe(`${PROGRAM}: terminating on signal 2\n`);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });
});

describe('hvkit-system-x86_64 kernels, modules and consoles', () => {
  /**
   * A Multiboot kernel that prints its command line and each module's string on the debug
   * console (Multiboot 0.6.96 §3.3: cmdline at +16, mods_count at +20, mods_addr at +24; a
   * module entry is mod_start, mod_end, string, reserved), then exits with the module count.
   */
  const printer = asm(MULTIBOOT_CODE, [
    [0xbc, ...u32(0x9_0000)], // mov esp, 0x90000
    [0x89, 0xdd], // mov ebp, ebx
    [0x8b, 0x75, 0x10, 0xe8], // mov esi, [ebp+16]; call print
    { rel32: 'print' },
    [0x8b, 0x4d, 0x14], // mov ecx, [ebp+20]
    [0x8b, 0x7d, 0x18], // mov edi, [ebp+24]
    { label: 'next' },
    [0x85, 0xc9, 0x74], // test ecx, ecx; jz done
    { rel8: 'done' },
    [0x8b, 0x77, 0x08, 0xe8], // mov esi, [edi+8]; call print
    { rel32: 'print' },
    [0x8b, 0x37, 0xac, 0xe6, 0xe9], // mov esi, [edi]; lodsb; out 0xe9, al (the module's first byte)
    [0xb0, 0x0a, 0xe6, 0xe9], // mov al, 10; out 0xe9, al
    [0x83, 0xc7, 0x10, 0x49, 0xeb], // add edi, 16; dec ecx; jmp next
    { rel8: 'next' },
    { label: 'done' },
    [0x8b, 0x45, 0x14], // mov eax, [ebp+20]
    EXIT_AL,
    { label: 'print' },
    [0xac, 0x84, 0xc0, 0x74], // lodsb; test al, al; jz end
    { rel8: 'end' },
    [0xe6, 0xe9, 0xeb], // out 0xe9, al; jmp print
    { rel8: 'print' },
    { label: 'end' },
    [0xb0, 0x0a, 0xe6, 0xe9, 0xc3], // mov al, 10; out 0xe9, al; ret
  ]);

  it('gives a Multiboot kernel "FILE APPEND" as its command line and -initrd files as modules, as QEMU does', async () => {
    const kernel = scratchFile('printer.mb', multiboot(printer));
    const a = scratchFile('a.mod', 'A-module');
    const b = scratchFile('b,c.mod', 'B-module');
    const log = scratchPath('debugcon.log');
    const r = await run([...DEBUG_EXIT, '-debugcon', `file:${log}`, '-append', 'one two', '-initrd', `${a} x=1 y,${b.replace(',', ',,')}`, '-kernel', kernel]);
    expect(r).toEqual({ status: (2 << 1) | 1, out: '', err: '' });
    expect(readFileSync(log, 'latin1')).toBe(`${kernel} one two\n${a} x=1 y\nA\n${b}\nB\n`);
  });

  it('sends the debug console where -chardev says, at the port -device says', async () => {
    // mov dx, 0x402; mov al, 'h'; out dx, al; mov al, 'i'; out dx, al; then exit
    const code = [0x66, 0xba, 0x02, 0x04, 0xb0, 0x68, 0xee, 0xb0, 0x69, 0xee, ...exitWith(0)];
    const r = await run(['-chardev', 'stdio,id=dbg', '-device', 'isa-debugcon,iobase=0x402,chardev=dbg', ...DEBUG_EXIT, '-kernel', tiny('debugcon-402', code)]);
    expect(r).toEqual({ status: 1, out: 'hi', err: '' });
  });

  it('splits QEMU module lists on commas, with ",," for a literal comma', () => {
    expect(splitModuleList('a.bin x=1,b.bin')).toEqual([
      { file: 'a.bin', cmdline: 'a.bin x=1' },
      { file: 'b.bin', cmdline: 'b.bin' },
    ]);
    expect(splitModuleList('a,,b.bin arg,,more')).toEqual([{ file: 'a,b.bin', cmdline: 'a,b.bin arg,more' }]);
  });

  /**
   * A minimal bzImage (Linux boot protocol 2.10, Documentation/arch/x86/boot.rst): one setup
   * sector, then a 32-bit kernel for 1 MiB that prints the command line (`cmd_line_ptr`,
   * boot_params + 0x228) and the initrd's first byte (`ramdisk_image`, + 0x218) on the debug
   * console and exits with the initrd's size (`ramdisk_size`, + 0x21C).
   */
  function bzImage(): Uint8Array {
    const kernel = asm(0x10_0000, [
      [0xbc, ...u32(0x9_0000)], // mov esp, 0x90000
      [0x89, 0xf5], // mov ebp, esi (boot_params)
      [0x8b, 0xb5, ...u32(0x228), 0xe8], // mov esi, [ebp+0x228]; call print
      { rel32: 'print' },
      [0x8b, 0xb5, ...u32(0x218), 0xac, 0xe6, 0xe9, 0xb0, 0x0a, 0xe6, 0xe9], // mov esi, [ebp+0x218]; lodsb; out 0xe9, al; LF
      [0x8b, 0x85, ...u32(0x21c)], // mov eax, [ebp+0x21c]
      EXIT_AL,
      { label: 'print' },
      [0xac, 0x84, 0xc0, 0x74],
      { rel8: 'end' },
      [0xe6, 0xe9, 0xeb],
      { rel8: 'print' },
      { label: 'end' },
      [0xb0, 0x0a, 0xe6, 0xe9, 0xc3],
    ]);
    const image = new Uint8Array(1024 + kernel.length);
    const v = new DataView(image.buffer);
    image[0x1f1] = 1; // setup_sects
    v.setUint32(0x1f4, Math.floor(kernel.length / 16), true); // syssize
    v.setUint16(0x1fe, 0xaa55, true); // boot_flag
    image.set([0xeb, 0x66], 0x200); // jump: the header ends at 0x268
    v.setUint32(0x202, 0x53726448, true); // "HdrS"
    v.setUint16(0x206, 0x020a, true); // version 2.10
    image[0x211] = 0x01; // loadflags: LOADED_HIGH
    v.setUint32(0x214, 0x10_0000, true); // code32_start
    v.setUint32(0x22c, 0x37ff_ffff, true); // initrd_addr_max
    v.setUint32(0x238, 255, true); // cmdline_size
    image.set(kernel, 1024);
    return image;
  }

  it('boots a Linux bzImage with -append as its command line and -initrd as its ramdisk', async () => {
    const kernel = scratchFile('tiny.bzImage', bzImage());
    const initrd = scratchFile('tiny.initrd', 'Initrd of 21 bytes..\n');
    const log = scratchPath('linux-debugcon.log');
    const r = await run([...DEBUG_EXIT, '-debugcon', `file:${log}`, '-append', 'console=ttyS0 quiet', '-initrd', initrd, '-kernel', kernel]);
    expect(r).toEqual({ status: (21 << 1) | 1, out: '', err: '' });
    expect(readFileSync(log, 'latin1')).toBe('console=ttyS0 quiet\nI\n');
  });

  it('boots an ELF without a Multiboot header at its entry point', async () => {
    const r = await run([...DEBUG_EXIT, '-kernel', tiny('plain', exitWith(9))]);
    expect(r).toEqual({ status: 19, out: '', err: '' });
  });

  it('tells the kernel formats apart by their signatures', () => {
    expect(detectKernelFormat(multiboot(Uint8Array.of(0xf4)))).toBe('multiboot');
    expect(detectKernelFormat(elf32(Uint8Array.of(0xf4)))).toBe('elf');
    const bz = new Uint8Array(1024);
    bz.set([0x48, 0x64, 0x72, 0x53], 0x202);
    expect(detectKernelFormat(bz)).toBe('linux');
    // A Multiboot magic with a bad checksum is not a Multiboot header (Multiboot §3.1.2).
    const bad = multiboot(Uint8Array.of(0xf4));
    bad[8]! ^= 1;
    expect(detectKernelFormat(bad)).toBe('unknown');
    expect(detectKernelFormat(new Uint8Array(0))).toBe('unknown');
  });
});

describe('hvkit-system-x86_64 refusing what it cannot boot, in one line', () => {
  const expectOneLine = async (argv: string[], line: string) => {
    const r = await run(argv);
    expect(r.status).toBe(1);
    expect(r.err).toBe(`${line}\n`);
    expect(r.out).toBe('');
  };

  it.skipIf(!guests)('a truncated ELF', async () => {
    const guest = await buildGuest('smoke');
    const image = readFileSync(guest.path);
    const cut = scratchFile('truncated.elf', image.subarray(0, 600));
    // The first program header (ELF32: e_phoff at 28; p_offset at +4, p_filesz at +16).
    const ph = image.readUInt32LE(28);
    const offset = image.readUInt32LE(ph + 4);
    const filesz = image.readUInt32LE(ph + 16);
    await expectOneLine(
      ['-kernel', cut],
      `${PROGRAM}: -kernel ${cut}: ELF segment 0 is truncated: ${filesz} bytes at file offset 0x${offset.toString(16)}, the file has 600 (p_offset + p_filesz)`,
    );
  });

  it('a file that is no kernel at all', async () => {
    const junk = scratchFile('junk.bin', 'this is not a kernel\n'.repeat(100));
    await expectOneLine(
      ['-kernel', junk],
      `${PROGRAM}: -kernel ${junk}: not a kernel hvkit can boot: no Multiboot header in the first 8 KiB, no Linux "HdrS" signature at offset 0x202, no ELF header`,
    );
  });

  it('a bzImage with a boot protocol older than 2.06', async () => {
    const bz = new Uint8Array(4096);
    bz.set([0x55, 0xaa], 0x1fe); // boot_flag
    bz.set([0xeb, 0x66], 0x200); // jump
    bz.set([0x48, 0x64, 0x72, 0x53], 0x202); // "HdrS"
    bz.set([0x04, 0x02], 0x206); // version 2.04
    const file = scratchFile('old.bzImage', bz);
    await expectOneLine(['-kernel', file], `${PROGRAM}: -kernel ${file}: the kernel speaks boot protocol 2.04 (version 0x204); this loader needs 2.06 or later (Linux 2.6.22+)`);
  });

  it('a directory, a missing file, a missing module', async () => {
    const dir = path.dirname(scratchPath('x'));
    await expectOneLine(['-kernel', dir], `${PROGRAM}: -kernel ${dir}: is a directory, not a file`);
    await expectOneLine(['-kernel', '/nonexistent/bzImage'], `${PROGRAM}: -kernel /nonexistent/bzImage: no such file`);
    const kernel = scratchFile('printer2.mb', multiboot(Uint8Array.of(0xf4)));
    await expectOneLine(['-kernel', kernel, '-initrd', '/nonexistent/mod arg'], `${PROGRAM}: -initrd /nonexistent/mod: no such file`);
    await expectOneLine(['-bios', '/nonexistent/bios.bin'], `${PROGRAM}: -bios /nonexistent/bios.bin: no such file`);
  });

  it('an initrd or command line with nothing to boot them, an empty file name', async () => {
    const bios = scratchFile('bios-64k.bin', new Uint8Array(0x1_0000));
    await expectOneLine(['-bios', bios, '-initrd', 'x'], `${PROGRAM}: -initrd needs a kernel`);
    await expectOneLine(['-bios', bios, '-append', 'x'], `${PROGRAM}: a kernel command line needs a kernel`);
    await expectOneLine(['-kernel', ''], `${PROGRAM}: -kernel: empty file name`);
    const kernel = scratchFile('printer3.mb', multiboot(Uint8Array.of(0xf4)));
    await expectOneLine(['-kernel', kernel, '-initrd', `${kernel},`], `${PROGRAM}: -initrd: empty file name`);
  });

  it('a serial file that cannot be created', async () => {
    await expectOneLine(['-serial', 'file:/nonexistent/dir/log', '-kernel', tiny('exit-a', exitWith(0))], `${PROGRAM}: serial file:/nonexistent/dir/log: no such file`);
  });

  it('an unknown option', async () => {
    const r = await run(['-kernel', 'x', '-frobnicate']);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/^hvkit-system-x86_64: unsupported option '-frobnicate' \(hvkit supports: [^\n]*\)\n$/);
  });

  it('a BIOS image of the wrong size', async () => {
    const bios = scratchFile('bios.bin', new Uint8Array(1000));
    await expectOneLine(['-bios', bios], `${PROGRAM}: a BIOS image must be a non-empty multiple of 64 KiB up to 16 MiB; this one is 1000 bytes`);
  });

  it('an initrd or command line for an ELF kernel without a Multiboot header', async () => {
    const kernel = tiny('plain2', exitWith(0));
    await expectOneLine(['-kernel', kernel, '-append', 'x'], `${PROGRAM}: -kernel ${kernel}: an ELF kernel without a Multiboot header gets no command line`);
    await expectOneLine(['-kernel', kernel, '-initrd', kernel], `${PROGRAM}: -kernel ${kernel}: an ELF kernel without a Multiboot header takes no initrd or modules`);
  });

  it('a second debug console device', async () => {
    await expectOneLine(['-debugcon', 'null', '-chardev', 'null,id=n', '-device', 'isa-debugcon,chardev=n'], `${PROGRAM}: only one debug console (isa-debugcon) is supported`);
  });

  it('two isa-debug-exit devices (the PC refuses them)', async () => {
    await expectOneLine([...DEBUG_EXIT, '-device', 'isa-debug-exit', '-kernel', tiny('exit-b', exitWith(0))], `${PROGRAM}: only one isa-debug-exit device is supported`);
  });
});
