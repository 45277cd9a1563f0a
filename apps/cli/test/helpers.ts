/** What the CLI tests share: captured streams, a scratch directory, and tiny hand-assembled guests. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Input, type Streams } from '../src/index.js';

export type Captured = Streams & { stdout: () => string; stderr: () => string };

/** Streams that collect what is written (bytes as Latin-1, as a serial port carries them). */
export function capture(options: { tty?: boolean } = {}): Captured {
  let out = '';
  let err = '';
  const text = (chunk: string | Uint8Array) => (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1'));
  return {
    out: { write: (s: string | Uint8Array) => (out += text(s)) },
    err: { write: (s: string | Uint8Array) => (err += text(s)), isTTY: options.tty ?? false },
    stdout: () => out,
    stderr: () => err,
  };
}

let scratch: string | undefined;

/** A file path in a fresh scratch directory (one per test file). */
export function scratchPath(name: string): string {
  scratch ??= mkdtempSync(path.join(tmpdir(), 'hvkit-cli-'));
  return path.join(scratch, name);
}

/** Writes `bytes` to a scratch file and returns its path. */
export function scratchFile(name: string, bytes: Uint8Array | string): string {
  const file = scratchPath(name);
  writeFileSync(file, bytes);
  return file;
}

/** Where the tiny guests are loaded: 1 MiB, in RAM on every PC. */
export const LOAD = 0x10_0000;

type AsmItem = number[] | { label: string } | { rel8: string } | { rel32: string } | { abs32: string };

/**
 * A two-pass assembler for hand-encoded 32-bit code: byte arrays, labels, 8/32-bit relative
 * branch targets and 32-bit absolute addresses of labels (the code runs at `base`).
 */
export function asm(base: number, items: readonly AsmItem[]): Uint8Array {
  const size = (it: AsmItem) => (Array.isArray(it) ? it.length : 'label' in it ? 0 : 'rel8' in it ? 1 : 4);
  const labels = new Map<string, number>();
  let pc = 0;
  for (const it of items) {
    if (!Array.isArray(it) && 'label' in it) labels.set(it.label, pc);
    pc += size(it);
  }
  const out: number[] = [];
  const target = (name: string) => {
    const t = labels.get(name);
    if (t === undefined) throw new Error(`no label ${name}`);
    return t;
  };
  for (const it of items) {
    if (Array.isArray(it)) out.push(...it);
    else if ('rel8' in it) out.push((target(it.rel8) - (out.length + 1)) & 0xff);
    else if ('rel32' in it) out.push(...u32(target(it.rel32) - (out.length + 4)));
    else if ('abs32' in it) out.push(...u32(base + target(it.abs32)));
  }
  return Uint8Array.from(out);
}

/** Little-endian bytes of a 32-bit value. */
export function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

const EHDR = 52;
const PHDR = 32;

/**
 * A minimal ELF32 i386 executable (System V ABI, "ELF Header", "Program Header"): one PT_LOAD
 * segment holding the headers and `code`, loaded at {@link LOAD}; the entry is the first byte
 * of `code`. `code` is assembled for `LOAD + 84`.
 */
export function elf32(code: Uint8Array): Uint8Array {
  const total = EHDR + PHDR + code.length;
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]); // magic, ELFCLASS32, ELFDATA2LSB, EV_CURRENT
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 3, true); // EM_386
  v.setUint32(20, 1, true); // e_version
  v.setUint32(24, LOAD + EHDR + PHDR, true); // e_entry
  v.setUint32(28, EHDR, true); // e_phoff
  v.setUint16(40, EHDR, true); // e_ehsize
  v.setUint16(42, PHDR, true); // e_phentsize
  v.setUint16(44, 1, true); // e_phnum
  v.setUint32(EHDR + 0, 1, true); // PT_LOAD
  v.setUint32(EHDR + 4, 0, true); // p_offset
  v.setUint32(EHDR + 8, LOAD, true); // p_vaddr
  v.setUint32(EHDR + 12, LOAD, true); // p_paddr
  v.setUint32(EHDR + 16, total, true); // p_filesz
  v.setUint32(EHDR + 20, total, true); // p_memsz
  v.setUint32(EHDR + 24, 5, true); // PF_R | PF_X
  v.setUint32(EHDR + 28, 0x1000, true); // p_align
  b.set(code, EHDR + PHDR);
  return b;
}

/** Where {@link elf32} code starts. */
export const ELF_CODE = LOAD + EHDR + PHDR;

/** Multiboot 1 header magic and the address-fields flag (Multiboot 0.6.96 §3.1.1, §3.1.3). */
const MB_MAGIC = 0x1badb002;
const MB_AOUT_KLUDGE = 1 << 16;
const MB_HEADER = 32;

/**
 * A Multiboot 1 kernel using the header's address fields (§3.1.3): the header at offset 0, the
 * whole file loaded at {@link LOAD}, entry right after the 32-byte header.
 */
export function multiboot(code: Uint8Array): Uint8Array {
  const b = new Uint8Array(MB_HEADER + code.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, MB_MAGIC, true);
  v.setUint32(4, MB_AOUT_KLUDGE, true);
  v.setUint32(8, (-(MB_MAGIC + MB_AOUT_KLUDGE) >>> 0) & 0xffffffff, true);
  v.setUint32(12, LOAD, true); // header_addr
  v.setUint32(16, LOAD, true); // load_addr
  v.setUint32(20, 0, true); // load_end_addr: the whole file
  v.setUint32(24, 0, true); // bss_end_addr: none
  v.setUint32(28, LOAD + MB_HEADER, true); // entry_addr
  b.set(code, MB_HEADER);
  return b;
}

/** Where {@link multiboot} code starts. */
export const MULTIBOOT_CODE = LOAD + MB_HEADER;

/** `out 0xf4, al; hlt`: the end of a tiny guest (isa-debug-exit at 0xF4). */
export const EXIT_AL = [0xe6, 0xf4, 0xf4];

/** `mov al, imm8; out 0xf4, al; hlt`. */
export const exitWith = (value: number): number[] => [0xb0, value & 0xff, ...EXIT_AL];

/** The isa-debug-exit device the tiny guests use. */
export const DEBUG_EXIT = ['-device', 'isa-debug-exit,iobase=0xf4,iosize=4'];

/** A keyboard for the tests: `type` delivers a chunk as stdin would. */
export class Keys implements Input {
  readonly raw: boolean[] = [];
  private readonly data = new Set<(c: Uint8Array | string) => void>();
  constructor(readonly isTTY = false) {}
  setRawMode(on: boolean): void {
    this.raw.push(on);
  }
  on(event: 'data' | 'end', l: ((c: Uint8Array | string) => void) | (() => void)): this {
    if (event === 'data') this.data.add(l as (c: Uint8Array | string) => void);
    return this;
  }
  off(event: 'data' | 'end', l: ((c: Uint8Array | string) => void) | (() => void)): this {
    if (event === 'data') this.data.delete(l as (c: Uint8Array | string) => void);
    return this;
  }
  get listeners(): number {
    return this.data.size;
  }
  type(text: string): void {
    for (const l of this.data) l(text);
  }
}
