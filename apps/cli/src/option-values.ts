/**
 * Option values both front ends read the same way (`hvkit-system-x86_64` QEMU-style,
 * `hvkit run` GNU-style): sizes, integers, `key=value` lists, character backends and `-device`
 * specifications. Every malformed value throws {@link OptionError} with a message naming it.
 */
import { type PcDeviceSpec } from '@hvkit/machine';

/** A command-line option or value the front end cannot use; the message says why. */
export class OptionError extends Error {
  override readonly name = 'OptionError';
}

const MiB = 1024 * 1024;

/** The PC's vCPU limit (`createPc` takes 1 to 32). */
export const MAX_CPUS = 32;

/** The smallest RAM the PC boots with. */
export const MIN_MEMORY_MIB = 2;

/** The most RAM the PC takes (1 TiB; guest RAM is allocated as the guest touches it). */
export const MAX_MEMORY_MIB = 1024 * 1024;

/** Parses a QEMU size: a number with an optional K/M/G/T suffix (and optional B), default unit `defaultUnit`. */
export function parseSize(text: string, defaultUnit = MiB): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)[bB]?$/.exec(text.trim());
  if (!m) throw new OptionError(`invalid size '${text}': expected a number with an optional K, M, G or T suffix`);
  const unit = m[2] ? 1024 ** ' KMGT'.indexOf(m[2].toUpperCase()) : defaultUnit;
  const bytes = Number(m[1]) * unit;
  if (!Number.isSafeInteger(bytes)) throw new OptionError(`invalid size '${text}': not a whole number of bytes`);
  return bytes;
}

/** Parses `0x`-hex, `0o`-octal, `0b`-binary or decimal integers, as QEMU properties allow. */
export function parseInteger(text: string, what: string): number {
  const t = text.trim();
  const value = /^(0x[0-9a-f]+|0o[0-7]+|0b[01]+|\d+)$/i.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new OptionError(`${what}: '${text}' is not an integer`);
  return value;
}

/** Splits `head,a=1,b=2` into pairs; a first item without `=` is returned as `head`. */
export function splitProps(text: string, option: string): { head: string | undefined; props: Record<string, string> } {
  const props: Record<string, string> = {};
  let head: string | undefined;
  text.split(',').forEach((item, i) => {
    const eq = item.indexOf('=');
    if (eq < 0) {
      if (i === 0) head = item;
      else throw new OptionError(`${option}: '${item}' is not of the form key=value`);
    } else {
      props[item.slice(0, eq)] = item.slice(eq + 1);
    }
  });
  return { head, props };
}

/** Refuses properties outside `allowed`, naming the first. */
export function onlyProps(props: Record<string, string>, allowed: readonly string[], option: string): void {
  const extra = Object.keys(props).find((k) => !allowed.includes(k));
  if (extra !== undefined) {
    throw new OptionError(`${option}: unknown parameter '${extra}' (${allowed.length ? `it has: ${allowed.join(', ')}` : 'it takes none'})`);
  }
}

/** Guest RAM from a size (default unit MiB): a whole number of MiB, from 2 MiB to 1 TiB. */
export function parseMemoryMiB(text: string, option: string): number {
  const bytes = parseSize(text);
  if (bytes < MIN_MEMORY_MIB * MiB) throw new OptionError(`${option} ${text}: guest RAM must be at least ${MIN_MEMORY_MIB} MiB`);
  if (bytes % MiB !== 0) throw new OptionError(`${option} ${text}: guest RAM must be a whole number of MiB`);
  if (bytes / MiB > MAX_MEMORY_MIB) throw new OptionError(`${option} ${text}: guest RAM must be at most 1 TiB`);
  return bytes / MiB;
}

/** A vCPU count from 1 to {@link MAX_CPUS}. */
export function checkCpuCount(cpus: number, option: string, text: string): number {
  if (cpus < 1) throw new OptionError(`${option} ${text}: the number of vCPUs must be at least 1`);
  if (cpus > MAX_CPUS) throw new OptionError(`${option} ${text}: the PC has at most ${MAX_CPUS} vCPUs`);
  return cpus;
}

/** Where a character device's bytes go. */
export type CharBackend = { readonly kind: 'stdio' } | { readonly kind: 'null' } | { readonly kind: 'file'; readonly path: string };

/** A backend as written on the command line: also "no device" and a reference to a `-chardev`. */
export type CharSpec = CharBackend | { readonly kind: 'none' } | { readonly kind: 'chardev'; readonly id: string };

/**
 * Reads a QEMU character backend spelling: `stdio`, `mon:stdio` (stdio: hvkit has no monitor),
 * `null`, `file:PATH`, and where the caller allows them `none` (no device) and `chardev:ID`.
 */
export function parseCharSpec(text: string, option: string, allow: { none?: boolean; chardev?: boolean } = {}): CharSpec {
  const names = ['stdio', 'mon:stdio', 'null', ...(allow.none ? ['none'] : []), 'file:PATH', ...(allow.chardev ? ['chardev:ID'] : [])];
  if (text === 'stdio' || text === 'mon:stdio') return { kind: 'stdio' };
  if (text === 'null') return { kind: 'null' };
  if (text === 'none' && allow.none) return { kind: 'none' };
  if (text.startsWith('file:') && text.length > 5) return { kind: 'file', path: text.slice(5) };
  if (text.startsWith('chardev:') && text.length > 8 && allow.chardev) return { kind: 'chardev', id: text.slice(8) };
  throw new OptionError(`${option}: unsupported backend '${text}' (hvkit has: ${names.join(', ')})`);
}

/** A `-device` request: a PC device, the debug console with the chardev it names. */
export type DeviceRequest =
  | Exclude<PcDeviceSpec, { type: 'debugcon' }>
  | { readonly type: 'debugcon'; readonly iobase: number; readonly chardev?: string };

/** `-device` drivers and their properties. */
export const SUPPORTED_DEVICES: Readonly<Record<string, readonly string[]>> = {
  'isa-debug-exit': ['iobase', 'iosize'],
  'pc-testdev': [],
  'isa-debugcon': ['iobase', 'chardev'],
};

function ioPort(value: string, what: string): number {
  const n = parseInteger(value, what);
  if (n > 0xffff) throw new OptionError(`${what}: ${value} is not an I/O port (0 to 0xffff)`);
  return n;
}

/**
 * Parses `driver[,prop=value...]` (QEMU `-device`): `isa-debug-exit[,iobase=N][,iosize=N]`
 * (defaults 0x501 and 2, as QEMU), `pc-testdev`, `isa-debugcon[,iobase=N][,chardev=ID]`
 * (default port 0xE9).
 */
export function parseDeviceSpec(text: string, option: string): DeviceRequest {
  const { head: driver, props } = splitProps(text, option);
  if (!driver) throw new OptionError(`${option} ${text}: missing driver name`);
  const allowed = SUPPORTED_DEVICES[driver];
  if (allowed === undefined) throw new OptionError(`${option}: unknown driver '${driver}' (hvkit has: ${Object.keys(SUPPORTED_DEVICES).join(', ')})`);
  onlyProps(props, allowed, `${option} ${driver}`);
  const port = (key: string) => (props[key] === undefined ? undefined : ioPort(props[key], `${option} ${driver},${key}`));
  switch (driver) {
    case 'isa-debug-exit': {
      const iobase = port('iobase') ?? 0x501;
      const iosize = props['iosize'] === undefined ? 2 : parseInteger(props['iosize'], `${option} ${driver},iosize`);
      if (iosize < 1 || iobase + iosize > 0x10000) throw new OptionError(`${option} ${driver}: iosize ${iosize} at iobase ${hex(iobase)} does not fit the I/O space`);
      return { type: 'isa-debug-exit', iobase, iosize };
    }
    case 'pc-testdev':
      return { type: 'pc-testdev' };
    default: {
      const chardev = props['chardev'];
      if (chardev === '') throw new OptionError(`${option} ${driver}: chardev= needs a value`);
      return { type: 'debugcon', iobase: port('iobase') ?? 0xe9, ...(chardev === undefined ? {} : { chardev }) };
    }
  }
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
