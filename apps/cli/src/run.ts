/**
 * `hvkit run [options] KERNEL`: the friendly front end to the PC, with GNU-style options
 * (`--memory 256M`, `--memory=256M`, `-m 256M`, `-m256M`). It runs the machine exactly as
 * `hvkit-system-x86_64` does (the same module, the same exit statuses), and adds an
 * instruction limit, statistics and a progress line.
 */
import { type CpuModel } from '@hvkit/x86';
import { parseCpuModel, parseCpuSpec } from './cpu-model.js';
import { runMachine, type MachineConfig } from './machine-run.js';
import { checkCpuCount, OptionError, parseCharSpec, parseDeviceSpec, parseInteger, parseMemoryMiB, type CharBackend } from './option-values.js';
import { type Streams } from './streams.js';

const PROGRAM = 'hvkit run';

export const RUN_USAGE = `usage: hvkit run [options] KERNEL

Boots KERNEL (a Multiboot 1 kernel, Linux bzImage or ELF executable) on the hvkit PC.

options:
  -m, --memory SIZE          guest RAM, at least 2 MiB (K, M, G, T; default unit M; default 128M)
  -c, --cpus N               vCPUs, 1 to 32 (default 1)
      --cpu MODEL[,FEAT...]  max, host, intel, amd or qemu64, with +feat, -feat, feat=on|off
                             (+vmx: Intel VT-x, on Intel models; +svm: AMD SVM)
      --initrd FILE          Linux initrd; Multiboot modules as 'file args,file args'
      --append, --cmdline S  kernel command line
      --serial BACKEND       COM1: stdio (default), null, none, file:PATH
      --debugcon BACKEND     a debug console at port 0xE9: stdio, null, file:PATH
      --device SPEC          isa-debug-exit[,iobase=N,iosize=N], pc-testdev,
                             isa-debugcon[,iobase=N][,chardev=stdio|null|file:PATH]
      --bios FILE            BIOS image; without KERNEL the vCPUs start in it
      --no-reboot            exit (status 0) on a triple fault or reset instead of rebooting
      --max-instructions N   stop with status 1 after N instructions (K, M, G: thousands...)
      --stats                print run statistics on stderr at the end
      --progress             always show the progress line on stderr
      --no-progress          never show it (by default: when stderr is a terminal, after 2 s)
  -h, --help                 show this help

Exit status: (value << 1) | 1 when the guest writes isa-debug-exit, 0 on power-off or halt,
1 for a bad option, file or kernel, or when --max-instructions is reached, 130 on Ctrl-C.
`;

interface OptionSpec {
  readonly long: string;
  readonly short?: string;
  readonly value: boolean;
}

const OPTIONS: readonly OptionSpec[] = [
  { long: 'memory', short: 'm', value: true },
  { long: 'cpus', short: 'c', value: true },
  { long: 'cpu', value: true },
  { long: 'initrd', value: true },
  { long: 'append', value: true },
  { long: 'cmdline', value: true },
  { long: 'serial', value: true },
  { long: 'debugcon', value: true },
  { long: 'device', value: true },
  { long: 'bios', value: true },
  { long: 'no-reboot', value: false },
  { long: 'max-instructions', value: true },
  { long: 'stats', value: false },
  { long: 'progress', value: false },
  { long: 'no-progress', value: false },
  { long: 'help', short: 'h', value: false },
];

/** What `hvkit run` was asked to do. */
export interface RunOptions {
  machine: MachineConfig;
  help: boolean;
}

/** An instruction count: digits with an optional decimal K, M or G. */
function parseCount(text: string, option: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(text.trim());
  if (!m) throw new OptionError(`${option}: '${text}' is not a count (digits, optionally followed by K, M or G)`);
  const n = Number(m[1]) * (m[2] ? 1000 ** ' KMG'.indexOf(m[2].toUpperCase()) : 1);
  if (!Number.isSafeInteger(n) || n < 1) throw new OptionError(`${option}: '${text}' is not a positive count`);
  return n;
}

function backendOnly(text: string, option: string, none: boolean): CharBackend | null {
  const spec = parseCharSpec(text, option, { none });
  return spec.kind === 'none' ? null : (spec as CharBackend);
}

/** Parses `hvkit run`'s arguments (after `run`). Throws {@link OptionError}. */
export function parseRunArgs(argv: readonly string[]): RunOptions {
  let memoryMiB = 128;
  let cpus = 1;
  let cpuModel: CpuModel = parseCpuModel('max');
  let virtualization: 'vmx' | 'svm' | undefined;
  let initrd: string | undefined;
  let append = '';
  let serial: CharBackend | null = { kind: 'stdio' };
  let debugcon: MachineConfig['debugcon'];
  let bios: string | undefined;
  let noReboot = false;
  let maxInstructions: number | undefined;
  let stats = false;
  let progress: boolean | 'auto' = 'auto';
  let help = false;
  const devices: MachineConfig['devices'] = [];
  const positional: string[] = [];
  const setDebugcon = (iobase: number, backend: CharBackend) => {
    if (debugcon !== undefined) throw new OptionError('only one debug console (isa-debugcon) is supported');
    debugcon = { iobase, backend };
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    let shown: string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (eq >= 0) inline = arg.slice(eq + 1);
      spec = OPTIONS.find((o) => o.long === name);
      shown = `--${name}`;
    } else {
      const word = arg.slice(1).split('=')[0]!;
      if (word.length > 1 && OPTIONS.some((o) => o.long === word)) {
        throw new OptionError(`unknown option '${arg}' (long options take two dashes: --${word})`);
      }
      spec = OPTIONS.find((o) => o.short === arg[1]);
      if (arg.length > 2) inline = arg.slice(arg[2] === '=' ? 3 : 2);
      shown = arg.slice(0, 2);
    }
    if (spec === undefined) {
      throw new OptionError(`unknown option '${arg}' (hvkit run takes: ${OPTIONS.map((o) => `--${o.long}${o.short ? `/-${o.short}` : ''}`).join(', ')}; see --help)`);
    }
    let value = '';
    if (spec.value) {
      const next = inline ?? argv[++i];
      if (next === undefined) throw new OptionError(`option '${shown}' needs a value`);
      value = next;
    } else if (inline !== undefined) {
      throw new OptionError(`option '${shown}' takes no value`);
    }
    switch (spec.long) {
      case 'memory':
        memoryMiB = parseMemoryMiB(value, shown);
        break;
      case 'cpus':
        cpus = checkCpuCount(parseInteger(value, shown), shown, value);
        break;
      case 'cpu':
        ({ model: cpuModel, virtualization } = parseCpuSpec(value));
        break;
      case 'initrd':
        initrd = value;
        break;
      case 'append':
      case 'cmdline':
        append = value;
        break;
      case 'serial':
        serial = backendOnly(value, shown, true);
        break;
      case 'debugcon': {
        const backend = backendOnly(value, shown, false);
        if (backend) setDebugcon(0xe9, backend);
        break;
      }
      case 'device': {
        const d = parseDeviceSpec(value, shown);
        if (d.type === 'debugcon') setDebugcon(d.iobase, d.chardev === undefined ? { kind: 'stdio' } : backendOnly(d.chardev, `${shown} isa-debugcon,chardev`, false)!);
        else devices.push(d);
        break;
      }
      case 'bios':
        bios = value;
        break;
      case 'no-reboot':
        noReboot = true;
        break;
      case 'max-instructions':
        maxInstructions = parseCount(value, shown);
        break;
      case 'stats':
        stats = true;
        break;
      case 'progress':
        progress = true;
        break;
      case 'no-progress':
        progress = false;
        break;
      case 'help':
        help = true;
        break;
    }
  }
  if (positional.length > 1) throw new OptionError(`one KERNEL, please: got ${positional.map((p) => `'${p}'`).join(', ')}`);
  const kernel = positional[0];
  if (kernel === undefined && bios === undefined && !help) throw new OptionError('no KERNEL given (usage: hvkit run [options] KERNEL; see --help)');
  const machine: MachineConfig = {
    memoryMiB,
    cpus,
    cpuModel,
    ...(virtualization !== undefined ? { virtualization } : {}),
    append,
    serial,
    devices,
    noReboot,
    stats,
    progress,
    rebootNotes: true,
    ...(kernel !== undefined ? { kernel } : {}),
    ...(initrd !== undefined ? { initrd } : {}),
    ...(bios !== undefined ? { bios } : {}),
    ...(debugcon !== undefined ? { debugcon } : {}),
    ...(maxInstructions !== undefined ? { maxInstructions } : {}),
  };
  return { machine, help };
}

/** Runs `hvkit run ARGS`; returns the exit status (see {@link RUN_USAGE}). */
export async function runMain(argv: readonly string[], io: Streams, options: { signals?: boolean } = {}): Promise<number> {
  let parsed: RunOptions;
  try {
    parsed = parseRunArgs(argv);
  } catch (error) {
    if (error instanceof OptionError) {
      io.err.write(`${PROGRAM}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (parsed.help) {
    io.out.write(RUN_USAGE);
    return 0;
  }
  return runMachine(parsed.machine, {
    program: PROGRAM,
    io,
    labels: { kernel: '', initrd: '--initrd', bios: '--bios' },
    ...(options.signals !== undefined ? { signals: options.signals } : {}),
  });
}
