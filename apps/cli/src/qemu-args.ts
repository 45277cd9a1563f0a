/**
 * QEMU-compatible command-line options for `hvkit-system-x86_64`.
 *
 * The spelling follows `qemu-system-x86_64` (options start with `-` or `--`, sizes default to
 * MiB, devices are `driver,prop=value,...`), so a command line written for QEMU runs here
 * unchanged as far as hvkit implements it. Everything else is refused with a message that
 * names the option: a mistyped command line never starts a machine with a guess.
 */

export interface DeviceOption {
  driver: string;
  props: Record<string, string>;
}

export interface SystemOptions {
  memoryBytes: number;
  cpus: number;
  cpuModel: string;
  machine: string;
  kernel?: string;
  initrd?: string;
  append: string;
  serial: string;
  display: string;
  devices: DeviceOption[];
  noReboot: boolean;
  help: boolean;
  version: boolean;
}

export class OptionError extends Error {
  override readonly name = 'OptionError';
}

const MiB = 1024 * 1024;

/** Options that take a value, and what they are for (shown in -help). */
const VALUE_OPTIONS: Record<string, string> = {
  m: '-m [size=]megs   guest RAM; suffixes K, M, G, T (default M)',
  smp: '-smp [cpus=]n     number of vCPUs (1-255)',
  cpu: '-cpu model        CPU model',
  machine: '-machine type     board type (pc, q35)',
  M: '-M type           same as -machine',
  kernel: '-kernel file      Multiboot or Linux bzImage kernel to boot',
  initrd: '-initrd file      initial RAM disk',
  append: '-append cmdline   kernel command line',
  serial: '-serial dev       COM1 backend: stdio, null, none, file:PATH',
  display: '-display type     only "none" (hvkit is headless on the command line)',
  device: '-device driver[,prop=value...]   add a device (isa-debug-exit)',
};

const FLAG_OPTIONS: Record<string, string> = {
  nographic: '-nographic        same as -display none -serial stdio',
  'no-reboot': '-no-reboot        exit instead of rebooting',
  version: '-version          print the version and exit',
  help: '-help, -h         print this help and exit',
  h: '',
};

export const SUPPORTED_DEVICES: Record<string, Record<string, 'number'>> = {
  'isa-debug-exit': { iobase: 'number', iosize: 'number' },
};

export function systemUsage(): string {
  const lines = [...Object.values(VALUE_OPTIONS), ...Object.values(FLAG_OPTIONS)].filter(Boolean);
  return `usage: hvkit-system-x86_64 [options]\n\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

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

/** Splits `a=1,b=2` into pairs; a first item without `=` is returned as `head`. */
function splitProps(text: string, option: string): { head: string | undefined; props: Record<string, string> } {
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

function parseMemory(text: string): number {
  const { head, props } = splitProps(text, '-m');
  const size = head ?? props['size'];
  const extra = Object.keys(props).filter((k) => k !== 'size');
  if (extra.length) throw new OptionError(`-m: unsupported parameter '${extra[0]}' (hvkit has no memory hotplug)`);
  if (size === undefined) throw new OptionError('-m: missing size');
  const bytes = parseSize(size);
  if (bytes < MiB) throw new OptionError(`-m ${text}: guest RAM must be at least 1 MiB`);
  if (bytes % 4096 !== 0) throw new OptionError(`-m ${text}: guest RAM must be a multiple of 4 KiB`);
  return bytes;
}

function parseSmp(text: string): number {
  const { head, props } = splitProps(text, '-smp');
  const extra = Object.keys(props).filter((k) => k !== 'cpus');
  if (extra.length) throw new OptionError(`-smp: unsupported parameter '${extra[0]}'`);
  const cpus = parseInteger(head ?? props['cpus'] ?? '', '-smp');
  if (cpus < 1 || cpus > 255) throw new OptionError(`-smp ${text}: the number of vCPUs must be from 1 to 255`);
  return cpus;
}

function parseDevice(text: string): DeviceOption {
  const { head: driver, props } = splitProps(text, '-device');
  if (!driver) throw new OptionError(`-device ${text}: missing driver name`);
  const schema = SUPPORTED_DEVICES[driver];
  if (!schema) throw new OptionError(`-device: unknown driver '${driver}' (hvkit has: ${Object.keys(SUPPORTED_DEVICES).join(', ')})`);
  for (const [key, value] of Object.entries(props)) {
    if (!(key in schema)) throw new OptionError(`-device ${driver}: unknown property '${key}' (it has: ${Object.keys(schema).join(', ')})`);
    parseInteger(value, `-device ${driver},${key}`);
  }
  return { driver, props };
}

function parseSerial(text: string): string {
  if (['stdio', 'null', 'none', 'mon:stdio'].includes(text)) return text;
  if (text.startsWith('file:') && text.length > 5) return text;
  throw new OptionError(`-serial: unsupported backend '${text}' (hvkit has: stdio, null, none, file:PATH)`);
}

export function parseSystemArgs(argv: readonly string[]): SystemOptions {
  const o: SystemOptions = {
    memoryBytes: 128 * MiB,
    cpus: 1,
    cpuModel: 'max',
    machine: 'pc',
    append: '',
    serial: 'stdio',
    display: 'none',
    devices: [],
    noReboot: false,
    help: false,
    version: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      throw new OptionError(`unexpected argument '${arg}' (options start with '-'; a kernel is given with -kernel FILE)`);
    }
    const name = arg.replace(/^--?/, '');
    if (name in FLAG_OPTIONS) {
      if (name === 'nographic') {
        o.display = 'none';
        o.serial = 'stdio';
      } else if (name === 'no-reboot') o.noReboot = true;
      else if (name === 'version') o.version = true;
      else o.help = true;
      continue;
    }
    if (!(name in VALUE_OPTIONS)) throw new OptionError(`unsupported option '${arg}' (see -help)`);
    const value = argv[++i];
    if (value === undefined) throw new OptionError(`option '${arg}' needs a value`);
    switch (name) {
      case 'm':
        o.memoryBytes = parseMemory(value);
        break;
      case 'smp':
        o.cpus = parseSmp(value);
        break;
      case 'cpu':
        o.cpuModel = value;
        break;
      case 'machine':
      case 'M': {
        const type = splitProps(value, '-machine').head ?? '';
        if (type !== 'pc' && type !== 'q35') throw new OptionError(`-machine: unknown type '${type}' (hvkit has: pc, q35)`);
        o.machine = type;
        break;
      }
      case 'kernel':
        o.kernel = value;
        break;
      case 'initrd':
        o.initrd = value;
        break;
      case 'append':
        o.append = value;
        break;
      case 'serial':
        o.serial = parseSerial(value);
        break;
      case 'display':
        if (value !== 'none') throw new OptionError(`-display: unsupported type '${value}' (the command line is headless: use -display none; the browser lab has a screen)`);
        o.display = value;
        break;
      case 'device':
        o.devices.push(parseDevice(value));
        break;
    }
  }
  return o;
}
