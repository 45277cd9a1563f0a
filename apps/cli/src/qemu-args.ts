/**
 * QEMU-compatible command-line options for `hvkit-system-x86_64`.
 *
 * The spelling follows `qemu-system-x86_64` (options start with `-` or `--`, sizes default to
 * MiB, devices are `driver,prop=value,...`), so a command line written for QEMU runs here
 * unchanged as far as hvkit implements it. Everything else is refused with a message that
 * names the option: a mistyped command line never starts a machine with a guess.
 */
import { type CpuModel } from '@hvkit/x86';
import { parseCpuModel, parseCpuSpec } from './cpu-model.js';
import { type MachineConfig } from './machine-run.js';
import {
  checkCpuCount,
  onlyProps,
  OptionError,
  parseCharSpec,
  parseDeviceSpec,
  parseInteger,
  parseMemoryMiB,
  splitProps,
  type CharBackend,
  type CharSpec,
  type DeviceRequest,
} from './option-values.js';

export interface SystemOptions {
  /** The machine to run. */
  machine: MachineConfig;
  help: boolean;
  version: boolean;
  /** `-cpu help`: list the models and features. */
  cpuHelp: boolean;
}

/** Options that take a value, and what they are for (shown in -help). */
const VALUE_OPTIONS: Record<string, string> = {
  m: '-m [size=]megs          guest RAM, at least 2 MiB; suffixes K, M, G, T (default M; 128M by default)',
  smp: '-smp [cpus=]n[,cores=n,threads=n,sockets=n,dies=n,maxcpus=n]   vCPUs, 1 to 32',
  cpu: '-cpu model[,+feat|-feat|feat=on|off...]   max, host, intel, amd or qemu64; +vmx: Intel VT-x, +svm: AMD SVM (-cpu help lists the features)',
  machine: '-machine [type=]pc[,accel=tcg]   the machine: pc (i440FX/PIIX) is the only one',
  M: '-M pc                   same as -machine',
  accel: '-accel tcg              software emulation (the only accelerator)',
  kernel: '-kernel file            Multiboot 1 kernel, Linux bzImage or ELF executable (detected)',
  initrd: "-initrd file            Linux initrd; Multiboot modules as 'file args,file args' (',,' is a comma)",
  append: '-append cmdline         kernel command line',
  bios: '-bios file              BIOS image (a multiple of 64 KiB, up to 16 MiB)',
  serial: '-serial dev             COM1: stdio, mon:stdio, null, none, file:PATH, chardev:ID',
  debugcon: '-debugcon dev           debug console at port 0xE9: stdio, null, none, file:PATH, chardev:ID',
  chardev: '-chardev stdio|null|file,id=ID[,path=PATH]   a backend for -device isa-debugcon,chardev=ID',
  device:
    '-device driver[,prop=value...]   isa-debug-exit[,iobase=,iosize=], pc-testdev, isa-debugcon[,iobase=],chardev=ID',
  display: '-display none           no display (the command line is headless)',
  vga: '-vga none               no VGA card (there is none)',
  monitor: '-monitor none           no monitor (there is none)',
};

const FLAG_OPTIONS: Record<string, string> = {
  nographic: '-nographic              no display; COM1 on stdio unless -serial says otherwise',
  nodefaults: '-nodefaults             no default devices: no COM1 unless -serial is given',
  'no-reboot': '-no-reboot              exit (status 0) instead of rebooting on a triple fault or reset',
  'enable-kvm': '',
  version: '-version                print the version and exit',
  help: '-help, -h               print this help and exit',
  h: '',
};

/** Every option name this front end takes. */
function supportedNames(): string {
  return [...Object.keys(VALUE_OPTIONS), ...Object.keys(FLAG_OPTIONS)]
    .filter((n) => n !== 'h' && n !== 'enable-kvm')
    .map((n) => `-${n}`)
    .join(', ');
}

export function systemUsage(): string {
  const lines = [...Object.values(VALUE_OPTIONS), ...Object.values(FLAG_OPTIONS)].filter(Boolean);
  return `usage: hvkit-system-x86_64 [options]\n\n${lines.map((l) => `  ${l}`).join('\n')}\n\nExit status: (value << 1) | 1 when the guest writes isa-debug-exit, 0 on power-off, 1 for a bad option or kernel.\n`;
}

const NO_HW_ACCEL = 'hardware acceleration is not available: hvkit emulates the CPU in software (use -accel tcg, the default)';

function parseSmp(text: string): number {
  const { head, props } = splitProps(text, '-smp');
  const topology = ['sockets', 'dies', 'clusters', 'cores', 'threads'];
  onlyProps(props, ['cpus', 'maxcpus', ...topology], '-smp');
  const num = (key: string, value: string) => parseInteger(value, `-smp ${key}`);
  const explicit = head ?? props['cpus'];
  let product: number | undefined;
  for (const key of topology) {
    if (props[key] !== undefined) product = (product ?? 1) * num(key, props[key]);
  }
  const cpus = explicit !== undefined ? parseInteger(explicit, '-smp') : product;
  if (cpus === undefined) throw new OptionError('-smp: missing the number of vCPUs');
  if (product !== undefined && product !== cpus) {
    throw new OptionError(`-smp ${text}: the topology gives ${product} vCPUs, not ${cpus} (hvkit does not hot-plug vCPUs)`);
  }
  if (props['maxcpus'] !== undefined && num('maxcpus', props['maxcpus']) !== cpus) {
    throw new OptionError(`-smp ${text}: maxcpus must equal cpus (hvkit does not hot-plug vCPUs)`);
  }
  return checkCpuCount(cpus, '-smp', text);
}

function parseMemory(text: string): number {
  const { head, props } = splitProps(text, '-m');
  const extra = Object.keys(props).filter((k) => k !== 'size');
  if (extra.length) throw new OptionError(`-m: unsupported parameter '${extra[0]}' (hvkit has no memory hotplug)`);
  const size = head ?? props['size'];
  if (size === undefined) throw new OptionError('-m: missing size');
  return parseMemoryMiB(size, '-m');
}

function parseMachine(text: string): void {
  const { head, props } = splitProps(text, '-machine');
  onlyProps(props, ['type', 'accel'], '-machine');
  const type = head ?? props['type'] ?? '';
  if (props['accel'] !== undefined) parseAccel(props['accel'], '-machine accel');
  if (type === 'pc' || /^pc-i440fx-\d+\.\d+$/.test(type)) return;
  if (type === 'q35' || type.startsWith('pc-q35-')) {
    throw new OptionError(`-machine ${type}: only the pc machine (i440FX/PIIX) exists in hvkit; q35 is not implemented`);
  }
  throw new OptionError(`-machine: unknown machine type '${type}' (hvkit has: pc)`);
}

function parseAccel(text: string, option: string): void {
  const { head, props } = splitProps(text, option);
  const accel = head ?? props['accel'] ?? '';
  if (['kvm', 'hvf', 'whpx', 'xen', 'nvmm'].includes(accel)) throw new OptionError(`${option} ${accel}: ${NO_HW_ACCEL}`);
  if (accel !== 'tcg') throw new OptionError(`${option}: unknown accelerator '${accel}' (hvkit has: tcg)`);
  onlyProps(props, ['accel', 'thread'], option);
}

function parseChardev(text: string, chardevs: Map<string, CharBackend>): void {
  const { head, props } = splitProps(text, '-chardev');
  const backend = head ?? '';
  const id = props['id'];
  if (!id) throw new OptionError(`-chardev ${text}: missing id=`);
  if (chardevs.has(id)) throw new OptionError(`-chardev: duplicate id '${id}'`);
  if (backend === 'stdio' || backend === 'null') {
    onlyProps(props, ['id', 'mux', 'signal'], `-chardev ${backend}`);
    chardevs.set(id, { kind: backend });
  } else if (backend === 'file') {
    onlyProps(props, ['id', 'path', 'mux'], '-chardev file');
    if (!props['path']) throw new OptionError(`-chardev file,id=${id}: missing path=`);
    chardevs.set(id, { kind: 'file', path: props['path'] });
  } else {
    throw new OptionError(`-chardev: unsupported backend '${backend}' (hvkit has: stdio, null, file)`);
  }
}

function resolveChar(spec: CharSpec, chardevs: Map<string, CharBackend>, option: string): CharBackend | null {
  if (spec.kind === 'none') return null;
  if (spec.kind !== 'chardev') return spec;
  const backend = chardevs.get(spec.id);
  if (backend === undefined) throw new OptionError(`${option}: no -chardev with id=${spec.id}`);
  return backend;
}

/** Parses a `qemu-system-x86_64` command line. Throws {@link OptionError}. */
export function parseSystemArgs(argv: readonly string[]): SystemOptions {
  let memoryMiB = 128;
  let cpus = 1;
  let cpuModel: CpuModel = parseCpuModel('max');
  let virtualization: 'vmx' | 'svm' | undefined;
  let kernel: string | undefined;
  let initrd: string | undefined;
  let append = '';
  let bios: string | undefined;
  let serial: CharSpec | undefined;
  let debugcon: { iobase: number; spec: CharSpec; option: string } | undefined;
  let nodefaults = false;
  let noReboot = false;
  let help = false;
  let version = false;
  let cpuHelp = false;
  const devices: MachineConfig['devices'] = [];
  const chardevs = new Map<string, CharBackend>();
  const setDebugcon = (iobase: number, spec: CharSpec, option: string) => {
    if (debugcon !== undefined) throw new OptionError('only one debug console (isa-debugcon) is supported');
    debugcon = { iobase, spec, option };
  };
  const addDevice = (d: DeviceRequest) => {
    if (d.type === 'debugcon') {
      if (d.chardev === undefined) throw new OptionError('-device isa-debugcon: needs chardev=ID (with -chardev stdio,id=ID), or use -debugcon stdio');
      setDebugcon(d.iobase, { kind: 'chardev', id: d.chardev }, `-device isa-debugcon,chardev=${d.chardev}`);
    } else {
      devices.push(d);
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      throw new OptionError(`unexpected argument '${arg}' (options start with '-'; a kernel is given with -kernel FILE)`);
    }
    const name = arg.replace(/^--?/, '');
    if (name in FLAG_OPTIONS) {
      if (name === 'nographic') {
        // No display, and COM1 on stdio: that is the default here already.
      } else if (name === 'nodefaults') nodefaults = true;
      else if (name === 'no-reboot') noReboot = true;
      else if (name === 'enable-kvm') throw new OptionError(`-enable-kvm: ${NO_HW_ACCEL}`);
      else if (name === 'version') version = true;
      else help = true;
      continue;
    }
    if (!(name in VALUE_OPTIONS)) throw new OptionError(`unsupported option '${arg}' (hvkit supports: ${supportedNames()})`);
    const value = argv[++i];
    if (value === undefined) throw new OptionError(`option '${arg}' needs a value`);
    switch (name) {
      case 'm':
        memoryMiB = parseMemory(value);
        break;
      case 'smp':
        cpus = parseSmp(value);
        break;
      case 'cpu':
        if (value === 'help' || value === '?') cpuHelp = true;
        else ({ model: cpuModel, virtualization } = parseCpuSpec(value));
        break;
      case 'machine':
      case 'M':
        parseMachine(value);
        break;
      case 'accel':
        parseAccel(value, '-accel');
        break;
      case 'kernel':
        kernel = value;
        break;
      case 'initrd':
        initrd = value;
        break;
      case 'append':
        append = value;
        break;
      case 'bios':
        bios = value;
        break;
      case 'serial':
        if (serial !== undefined) throw new OptionError('-serial: hvkit has one serial port (COM1); give -serial once');
        serial = parseCharSpec(value, '-serial', { none: true, chardev: true });
        break;
      case 'debugcon': {
        const spec = parseCharSpec(value, '-debugcon', { none: true, chardev: true });
        if (spec.kind !== 'none') setDebugcon(0xe9, spec, `-debugcon ${value}`);
        break;
      }
      case 'chardev':
        parseChardev(value, chardevs);
        break;
      case 'device':
        addDevice(parseDeviceSpec(value, '-device'));
        break;
      case 'display':
        if (value !== 'none') throw new OptionError(`-display: unsupported type '${value}' (the command line is headless: use -display none; the browser lab has a screen)`);
        break;
      case 'vga':
        if (value !== 'none') throw new OptionError(`-vga: unsupported type '${value}' (hvkit has no graphics card: use -vga none)`);
        break;
      case 'monitor':
        if (!['none', 'null', '/dev/null'].includes(value)) throw new OptionError(`-monitor: unsupported '${value}' (hvkit has no monitor: use -monitor none)`);
        break;
    }
  }
  const serialSpec: CharSpec = serial ?? (nodefaults ? { kind: 'none' } : { kind: 'stdio' });
  const dc = debugcon as { iobase: number; spec: CharSpec; option: string } | undefined;
  const debugBackend = dc === undefined ? null : resolveChar(dc.spec, chardevs, dc.option);
  const machine: MachineConfig = {
    memoryMiB,
    cpus,
    cpuModel,
    ...(virtualization !== undefined ? { virtualization } : {}),
    append,
    serial: resolveChar(serialSpec, chardevs, '-serial'),
    devices,
    noReboot,
    ...(kernel !== undefined ? { kernel } : {}),
    ...(initrd !== undefined ? { initrd } : {}),
    ...(bios !== undefined ? { bios } : {}),
    ...(dc !== undefined && debugBackend !== null ? { debugcon: { iobase: dc.iobase, backend: debugBackend } } : {}),
  };
  return { machine, help, version, cpuHelp };
}
