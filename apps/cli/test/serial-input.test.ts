import { describe, expect, it } from 'vitest';
import { EscapeFilter, systemMain, type EscapeCommand } from '../src/index.js';
import { asm, capture, DEBUG_EXIT, ELF_CODE, elf32, Keys, scratchFile } from './helpers.js';

const PROGRAM = 'hvkit-system-x86_64';

function filter(chunks: string[]): { guest: string; commands: EscapeCommand[] } {
  let guest = '';
  const commands: EscapeCommand[] = [];
  const f = new EscapeFilter(
    (b) => (guest += Buffer.from(b).toString('latin1')),
    (c) => {
      commands.push(c);
      guest += `<${c}>`;
    },
  );
  for (const c of chunks) f.feed(Buffer.from(c, 'latin1'));
  return { guest, commands };
}

describe('the Ctrl-A escape (QEMU mon:stdio)', () => {
  it('passes other bytes through, Ctrl-C and Ctrl-Z included', () => {
    expect(filter(['ls -l\r', '\x03\x1a'])).toEqual({ guest: 'ls -l\r\x03\x1a', commands: [] });
  });
  it('Ctrl-A x quits, Ctrl-A h and ? ask for help, Ctrl-A c and b are commands, in order with the text around them', () => {
    expect(filter(['ab\x01xcd'])).toEqual({ guest: 'ab<quit>cd', commands: ['quit'] });
    expect(filter(['\x01h\x01?\x01X\x01c\x01b'])).toEqual({ guest: '<help><help><quit><monitor><break>', commands: ['help', 'help', 'quit', 'monitor', 'break'] });
  });
  it('Ctrl-A Ctrl-A sends one Ctrl-A; any other key after Ctrl-A is dropped', () => {
    expect(filter(['a\x01\x01b'])).toEqual({ guest: 'a\x01b', commands: [] });
    expect(filter(['a\x01zb'])).toEqual({ guest: 'ab', commands: [] });
  });
  it('keeps the escape across chunks', () => {
    expect(filter(['a\x01', 'xb'])).toEqual({ guest: 'a<quit>b', commands: ['quit'] });
    expect(filter(['\x01', '\x01'])).toEqual({ guest: '\x01', commands: [] });
  });
});

/** A guest that echoes COM1 input back until it reads 'q', then exits through isa-debug-exit with 0x2A. */
const ECHO = asm(ELF_CODE, [
  [0x66, 0xba, 0xfb, 0x03, 0xb0, 0x03, 0xee], // LCR = 3: 8 data bits
  { label: 'poll' },
  [0x66, 0xba, 0xfd, 0x03, 0xec, 0xa8, 0x01, 0x74], // in al, LSR; test al, DR; jz poll
  { rel8: 'poll' },
  [0x66, 0xba, 0xf8, 0x03, 0xec, 0xee], // in al, RBR; out THR, al
  [0x3c, 0x71, 0x75], // cmp al, 'q'; jne poll
  { rel8: 'poll' },
  [0xb0, 0x2a, 0xe6, 0xf4, 0xf4], // exit 0x2A
]);

describe('keystrokes reach COM1', () => {
  it('a guest reads what is typed, and the run ends as the guest says', async () => {
    const kernel = scratchFile('echo.elf', elf32(ECHO));
    const io = capture();
    const keys = new Keys();
    const timer = setTimeout(() => keys.type('hello, \x01\x01world q'), 100);
    const status = await systemMain([...DEBUG_EXIT, '-kernel', kernel], { ...io, in: keys }, { signals: false });
    clearTimeout(timer);
    expect(status).toBe((0x2a << 1) | 1);
    expect(io.stdout()).toBe('hello, \x01world q');
    expect(keys.listeners).toBe(0); // stdin is let go at the end
    expect(keys.raw).toEqual([]); // not a terminal: no raw mode
  });

  it('Ctrl-A x ends a run that would go on forever, with status 0', async () => {
    const kernel = scratchFile('spin.elf', elf32(asm(ELF_CODE, [[0xeb, 0xfe]])));
    const io = capture();
    const keys = new Keys(true);
    const timer = setTimeout(() => keys.type('\x01h\x01x'), 100);
    const status = await systemMain(['-kernel', kernel], { ...io, in: keys }, { signals: false });
    clearTimeout(timer);
    expect(status).toBe(0);
    expect(io.stderr()).toContain('C-a x    exit emulator');
    expect(io.stderr()).toContain(`${PROGRAM}: terminated (Ctrl-A x)\n`);
    expect(keys.raw).toEqual([true, false]); // a terminal goes raw for the run and comes back
  });

  it('-serial null or none leaves the keyboard alone', async () => {
    const kernel = scratchFile('exit.elf', elf32(asm(ELF_CODE, [[0xb0, 0x00, 0xe6, 0xf4, 0xf4]])));
    for (const serial of ['null', 'none']) {
      const keys = new Keys(true);
      const status = await systemMain([...DEBUG_EXIT, '-serial', serial, '-kernel', kernel], { ...capture(), in: keys }, { signals: false });
      expect(status).toBe(1);
      expect(keys.raw).toEqual([]);
      expect(keys.listeners).toBe(0);
    }
  });
});
