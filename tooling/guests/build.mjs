#!/usr/bin/env node
// @ts-check
/**
 * Builds the bare-metal test guests with the system toolchain (gcc, as, ld, objcopy).
 *
 * Every program in `programs/` is a Multiboot 1 kernel. 32-bit programs are linked as ELF32
 * (`ld -m elf_i386`); 64-bit programs are linked as ELF64 and converted with
 * `objcopy -O elf32-i386`, because Multiboot 1 loaders (QEMU's `-kernel`, hvkit's
 * `loadMultiboot`) take ELF32 only. There is no 32-bit libgcc on the build machines, so the
 * guests do 64-bit division themselves.
 *
 * Outputs are cached in `os.tmpdir()/hvkit-guests`, keyed by a hash of the sources, the flags
 * and the toolchain versions: tests rebuild only when something changed. Library objects are
 * cached per bitness and shared by all programs.
 *
 * ```js
 * import { buildGuest, buildGuests } from '@hvkit/guests';
 * const { path } = await buildGuest('exceptions'); // an ELF32 Multiboot kernel
 * ```
 *
 * CLI: `node build.mjs [--out DIR] [NAME...]` builds the named programs (all by default) and
 * prints where each one is.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** This package's directory. */
export const GUESTS_DIR = path.dirname(fileURLToPath(import.meta.url));
const LIB_DIR = path.join(GUESTS_DIR, 'lib');
const PROGRAMS_DIR = path.join(GUESTS_DIR, 'programs');

const COMMON_CFLAGS = [
  '-ffreestanding',
  '-fno-pic',
  '-fno-pie',
  '-fno-stack-protector',
  '-fcf-protection=none',
  '-fno-asynchronous-unwind-tables',
  '-fno-tree-loop-distribute-patterns',
  '-fno-delete-null-pointer-checks',
  '-fno-strict-aliasing',
  '-mgeneral-regs-only',
  '-nostdlib',
  '-O2',
  '-g0',
  '-std=gnu11',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-Wno-unused-parameter',
  '-Wno-array-bounds',
];
/** Per bitness: compiler flags, linker emulation, linker script and library sources. */
const TARGETS = {
  32: {
    cflags: ['-m32', '-march=i686'],
    ld: ['-m', 'elf_i386'],
    script: 'link32.ld',
    sources: ['boot32.S', 'console.c', 'report.c', 'arch32.c', 'paging.c'],
  },
  64: {
    cflags: ['-m64', '-mno-red-zone', '-mcmodel=small'],
    ld: ['-m', 'elf_x86_64'],
    script: 'link64.ld',
    sources: ['boot64.S', 'console.c', 'report.c', 'arch64.c', 'paging.c'],
    /** Compiled with the library, linked only into the programs that ask for `+vmx`. */
    vmxSources: ['vmx.c'],
    /** Compiled with the library, linked only into the programs that ask for `+svm`. */
    svmSources: ['svm.c'],
  },
};
const LD_FLAGS = ['-nostdlib', '-static', '-z', 'max-page-size=0x1000', '-z', 'noexecstack', '--build-id=none', '--no-warn-rwx-segments'];

/**
 * @typedef {object} GuestInfo
 * @property {string} name
 * @property {32 | 64} bits
 * @property {string[]} qemuArgs extra QEMU arguments the program needs (for example `-cpu max`)
 * @property {number} smp how many CPUs the program wants (`smp=N`; 1 by default)
 * @property {string[]} devices extra devices it needs (`devices=pc-testdev,...`), by their QEMU `-device` names
 * @property {boolean} pc whether it needs the full PC (`machine=pc`: interrupt controllers, timers, PCI, ACPI)
 * @property {number} timeoutMs how long a run may take on QEMU TCG
 * @property {boolean} vmx whether it needs VT-x (`cpu=max,+vmx`): linked with lib/vmx.c, run on hvkit with
 *   `virtualization: 'vmx'`, and not on QEMU, whose TCG does not emulate VMX
 * @property {boolean} svm whether it needs AMD SVM (`cpu=max,+svm`): linked with lib/svm.c, run on hvkit with
 *   `virtualization: 'svm'`, and on QEMU with `-cpu max,+svm` (TCG emulates SVM)
 * @property {string} description
 * @property {string} source the program's C file
 */

/**
 * @typedef {GuestInfo & { path: string, cached: boolean }} BuiltGuest
 */

/** Names of every program (`programs/*.c`), sorted. */
export function guestNames() {
  return fs
    .readdirSync(PROGRAMS_DIR)
    .filter((f) => f.endsWith('.c'))
    .map((f) => f.slice(0, -2))
    .sort();
}

/**
 * What a program declares about itself in its `@guest` line, for example
 * `// @guest bits=64 cpu=max timeout=30 -- SYSCALL/SYSRET`. Keys: `bits`, `cpu`, `timeout`
 * (seconds on QEMU TCG), `smp` (CPUs), `devices` (comma-separated QEMU `-device` names) and
 * `machine=pc` (needs the full PC rather than the minimal board). `cpu=max,+vmx` asks for VT-x: such
 * a program links lib/vmx.c and cannot run on QEMU TCG, which has no VMX; `cpu=max,+svm` asks for AMD SVM: such a
 * program links lib/svm.c and runs on QEMU TCG too.
 * @param {string} name
 * @returns {GuestInfo}
 */
export function guestInfo(name) {
  const source = path.join(PROGRAMS_DIR, `${name}.c`);
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name) || !fs.existsSync(source)) {
    throw new Error(`no guest program "${name}" (have: ${guestNames().join(', ')})`);
  }
  const text = fs.readFileSync(source, 'utf8');
  const line = /@guest\b([^\n]*)/.exec(text)?.[1] ?? '';
  const [settings = '', description = ''] = line.split('--').map((s) => s.trim().replace(/\*\/\s*$/, '').trim());
  /** @type {Record<string, string>} */
  const kv = {};
  for (const token of settings.split(/\s+/).filter(Boolean)) {
    const [k, v = ''] = token.split('=');
    kv[k ?? ''] = v;
  }
  const bits = kv['bits'] === '64' ? 64 : 32;
  const qemuArgs = kv['cpu'] ? ['-cpu', kv['cpu']] : [];
  const vmx = (kv['cpu'] ?? '').split(',').includes('+vmx');
  if (vmx && bits !== 64) throw new Error(`guest program "${name}": +vmx needs bits=64 (lib/vmx.c is 64-bit only)`);
  const svm = (kv['cpu'] ?? '').split(',').includes('+svm');
  if (svm && bits !== 64) throw new Error(`guest program "${name}": +svm needs bits=64 (lib/svm.c is 64-bit only)`);
  if (svm && vmx) throw new Error(`guest program "${name}": +vmx and +svm exclude each other`);
  const smp = Number(kv['smp'] ?? 1);
  if (!Number.isInteger(smp) || smp < 1 || smp > 255) throw new Error(`guest program "${name}": smp=${kv['smp']} is not a CPU count from 1 to 255`);
  if (smp > 1) qemuArgs.push('-smp', String(smp));
  const devices = (kv['devices'] ?? '').split(',').filter(Boolean);
  for (const d of devices) qemuArgs.push('-device', d);
  const pc = kv['machine'] === 'pc' || smp > 1 || devices.length > 0;
  const timeoutMs = (Number(kv['timeout']) || 30) * 1000;
  return { name, bits, qemuArgs, smp, devices, pc, vmx, svm, timeoutMs, description, source };
}

/** Where built guests are cached: `os.tmpdir()/hvkit-guests`, or `$HVKIT_GUESTS_CACHE`. */
export function defaultCacheDir() {
  return process.env['HVKIT_GUESTS_CACHE'] || path.join(os.tmpdir(), 'hvkit-guests');
}

/** The tools a build runs. */
export const TOOLCHAIN = Object.freeze(['gcc', 'ld', 'objcopy']);

/** Whether gcc, ld and objcopy can be started (the guests cannot be built without them). */
export function toolchainAvailable() {
  return TOOLCHAIN.every((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0);
}

/** @type {Map<string, Promise<string>>} */
const toolVersions = new Map();
/** @param {string} tool */
async function toolVersion(tool) {
  let p = toolVersions.get(tool);
  if (!p) {
    p = run(tool, ['--version']).then(
      (r) => r.stdout.split('\n')[0] ?? '',
      (error) => {
        throw new Error(`the guests need the system toolchain: "${tool}" was not found (install gcc and binutils)`, { cause: error });
      },
    );
    toolVersions.set(tool, p);
  }
  return p;
}

/** @param {string[]} parts */
function hash(...parts) {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** The hash of every library file: any header may matter to any object. */
function libraryHash() {
  const files = fs.readdirSync(LIB_DIR).sort();
  return hash(...files.flatMap((f) => [f, fs.readFileSync(path.join(LIB_DIR, f), 'utf8')]));
}

/**
 * @param {string} cmd
 * @param {string[]} args
 */
async function exec(cmd, args) {
  try {
    await run(cmd, args, { maxBuffer: 16 << 20 });
  } catch (error) {
    const e = /** @type {{ stderr?: string, message: string }} */ (error);
    throw new Error(`${cmd} ${args.join(' ')}\n${e.stderr || e.message}`, { cause: error });
  }
}

/**
 * Runs `jobs` with at most `limit` at a time.
 * @template T
 * @param {(() => Promise<T>)[]} jobs
 * @param {number} limit
 */
async function pool(jobs, limit) {
  /** @type {T[]} */
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await /** @type {() => Promise<T>} */ (jobs[i])();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

const PARALLEL = Math.max(1, Math.min(4, os.availableParallelism?.() ?? os.cpus().length));

/** @param {32 | 64} bits */
function compileArgs(bits) {
  return [...TARGETS[bits].cflags, ...COMMON_CFLAGS, '-I', LIB_DIR];
}

/**
 * Makes `dir` appear complete or not at all: build in a temporary sibling, then rename.
 * @param {string} dir
 * @param {(tmp: string) => Promise<void>} fill
 */
async function atomicDir(dir, fill) {
  if (fs.existsSync(dir)) return;
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  fs.mkdirSync(tmp, { recursive: true });
  try {
    await fill(tmp);
    try {
      fs.renameSync(tmp, dir);
    } catch (error) {
      // Someone else finished the same build first: theirs is as good as ours.
      if (!fs.existsSync(dir)) throw error;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** @type {Map<string, Promise<string>>} */
const libraries = new Map();

/**
 * The library objects for one bitness, built once per library hash.
 * @param {32 | 64} bits
 * @param {string} cacheDir
 */
function buildLibrary(bits, cacheDir) {
  const key = `${cacheDir}|${bits}`;
  let p = libraries.get(key);
  if (!p) {
    p = (async () => {
      const versions = await Promise.all(TOOLCHAIN.map(toolVersion));
      const dir = path.join(cacheDir, `lib${bits}-${hash(libraryHash(), JSON.stringify(compileArgs(bits)), ...versions, String(bits))}`);
      await atomicDir(dir, async (tmp) => {
        const sources = [...TARGETS[bits].sources, ...(bits === 64 ? [...TARGETS[64].vmxSources, ...TARGETS[64].svmSources] : [])];
        await pool(
          sources.map((s) => () => exec('gcc', [...compileArgs(bits), '-c', path.join(LIB_DIR, s), '-o', path.join(tmp, `${s}.o`)])),
          PARALLEL,
        );
      });
      return dir;
    })();
    p.catch(() => libraries.delete(key));
    libraries.set(key, p);
  }
  return p;
}

/**
 * Builds one program (or finds it in the cache) and returns where the ELF32 image is. With
 * `outDir`, the image is also copied to `outDir/<name>.elf` and that path is returned.
 * @param {string} name
 * @param {{ outDir?: string, cacheDir?: string }} [options]
 * @returns {Promise<BuiltGuest>}
 */
export async function buildGuest(name, options = {}) {
  const info = guestInfo(name);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  fs.mkdirSync(cacheDir, { recursive: true });
  const libDir = await buildLibrary(info.bits, cacheDir);
  const source = fs.readFileSync(info.source, 'utf8');
  const key = hash(path.basename(libDir), source, info.vmx ? 'vmx' : '', ...(info.svm ? ['svm'] : []), JSON.stringify(LD_FLAGS), fs.readFileSync(path.join(LIB_DIR, TARGETS[info.bits].script), 'utf8'));
  const elf = path.join(cacheDir, `${name}-${key}`, `${name}.elf`);
  const cached = fs.existsSync(elf);
  if (!cached) {
    await atomicDir(path.dirname(elf), async (tmp) => {
      const obj = path.join(tmp, `${name}.o`);
      await exec('gcc', [...compileArgs(info.bits), '-c', info.source, '-o', obj]);
      const sources = [...TARGETS[info.bits].sources, ...(info.vmx ? TARGETS[64].vmxSources : []), ...(info.svm ? TARGETS[64].svmSources : [])];
      const objects = sources.map((s) => path.join(libDir, `${s}.o`));
      const linked = path.join(tmp, info.bits === 64 ? `${name}.elf64` : `${name}.elf`);
      await exec('ld', [...TARGETS[info.bits].ld, ...LD_FLAGS, '-T', path.join(LIB_DIR, TARGETS[info.bits].script), ...objects, obj, '-o', linked]);
      if (info.bits === 64) await exec('objcopy', ['-O', 'elf32-i386', linked, path.join(tmp, `${name}.elf`)]);
    });
  }
  let out = elf;
  if (options.outDir) {
    fs.mkdirSync(options.outDir, { recursive: true });
    out = path.join(options.outDir, `${name}.elf`);
    fs.copyFileSync(elf, out);
  }
  return { ...info, path: out, cached };
}

/**
 * Builds every program (or the ones named).
 * @param {string} [outDir] also copy the images to `outDir/<name>.elf`
 * @param {{ names?: string[], cacheDir?: string }} [options]
 * @returns {Promise<BuiltGuest[]>}
 */
export async function buildGuests(outDir, options = {}) {
  const names = options.names ?? guestNames();
  /** @type {BuiltGuest[]} */
  const built = [];
  for (const name of names) built.push(await buildGuest(name, { outDir, cacheDir: options.cacheDir }));
  return built;
}

/** @param {string[]} argv */
async function main(argv) {
  /** @type {string | undefined} */
  let outDir;
  const names = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--out') outDir = argv[++i];
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node build.mjs [--out DIR] [NAME...]\n');
      return;
    } else names.push(a);
  }
  const built = await buildGuests(outDir, { names: names.length ? names : undefined });
  for (const g of built) process.stdout.write(`${g.name} (${g.bits}-bit${g.cached ? ', cached' : ''}): ${g.path}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
