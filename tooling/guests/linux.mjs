#!/usr/bin/env node
// @ts-check
/**
 * `pnpm guests:linux`: prepares a real Linux guest from Debian's packages, with the machine's own
 * package tools and nothing else (`apt-get download` and `dpkg -x`):
 *
 * - `vmlinuz`: the kernel of the `linux-image-*-cloud-amd64` package that the meta package
 *   `linux-image-cloud-amd64` depends on, unmodified;
 * - `initrd.gz`: an initramfs built here from `busybox-static` (a newc cpio archive written by this
 *   script, so no `cpio` program is needed), whose `/init` mounts proc, sys and devtmpfs, prints
 *   the marker line `hvkit-linux: ready release=<uname -r> cpus=<online CPUs>` and starts a shell
 *   on the console;
 * - `initrd-kvm.gz`: the same initramfs plus the kernel package's own KVM modules (`kvm.ko`,
 *   `kvm-intel.ko`, `kvm-amd.ko` and what they depend on, under `/lib/modules/<release>/`) and
 *   `/bin/kvmtest`, a static program built here with the machine's `gcc` from
 *   `kvmtest/kvmtest.c`, which drives `/dev/kvm` and runs nested guests. Its `/init` first loads
 *   `kvm-intel` (CPU flag `vmx`) or `kvm-amd` (flag `svm`) with their dependencies, in
 *   dependency order, and prints `hvkit-linux: kvm=loaded` or `hvkit-linux: kvm=absent`. Without
 *   `gcc` it is not built (`initrdKvm` is null and `kvmWhy` says why).
 *
 * The files go in `tooling/guests/.cache/linux/` (ignored by git; `$HVKIT_LINUX_CACHE` moves it).
 * A second run reuses them; `--force` prepares them again.
 *
 * ```sh
 * node tooling/guests/linux.mjs [--force] [--quiet]   # prints the paths as JSON
 * ```
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The meta package whose dependency names the kernel. */
export const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';
export const BUSYBOX_PACKAGE = 'busybox-static';
/** The line `/init` prints once the shell is about to start. */
export const LINUX_MARKER = 'hvkit-linux: ready';
/** The shell prompt `/init` sets, easy to wait for. */
export const LINUX_PROMPT = 'hvkit# ';
/** The start of the line the KVM initramfs prints after loading the modules: `hvkit-linux: kvm=loaded|absent`. */
export const KVM_MARKER = 'hvkit-linux: kvm=';
/** The KVM test program's source, built into `/bin/kvmtest`. */
export const KVMTEST_SOURCE = path.join(HERE, 'kvmtest', 'kvmtest.c');
/** The KVM modules the KVM initramfs carries (with their dependencies), by module name. */
export const KVM_MODULES = ['kvm', 'kvm_intel', 'kvm_amd'];
/** The checks `/bin/kvmtest` runs, in order; each prints `kvmtest: ok <check>` or `kvmtest: FAIL <check> -- ...`. */
export const KVMTEST_CHECKS = [
  'open-dev-kvm',
  'api-version',
  'vcpu-mmap-size',
  'create-vm-vcpu',
  'supported-cpuid',
  'io',
  'cpuid-vendor',
  'cpuid-set-leaf',
  'hlt',
  'mmio-write',
  'mmio-read',
  'checksum-real-mode',
  'long-mode',
  'two-vcpus',
  'two-vms',
];
/** A file in the initramfs with known contents, for `md5sum` checks: `/etc/hvkit-sample`. */
export const SAMPLE_PATH = '/etc/hvkit-sample';

/** The sample file's bytes: 64 KiB from a fixed linear congruential sequence. */
export function sampleBytes() {
  const out = Buffer.alloc(65536);
  let x = 0x1234567;
  for (let i = 0; i < out.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function sampleMd5() {
  return createHash('md5').update(sampleBytes()).digest('hex');
}

export function defaultLinuxCacheDir() {
  return process.env.HVKIT_LINUX_CACHE ?? path.join(HERE, '.cache', 'linux');
}

/** Whether this machine has the tools the preparation needs. */
export function linuxToolsAvailable() {
  return ['apt-get', 'apt-cache', 'dpkg'].every((t) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0);
}

/** The `/init` script. */
const INIT = `#!/bin/sh
# hvkit's initramfs: mount the virtual file systems, print the marker, start a shell.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp /root
@KVM@echo "${LINUX_MARKER} release=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
export HOME=/root PS1='${LINUX_PROMPT}'
cd /root
while true; do
  setsid cttyhack sh
  echo "hvkit-linux: shell exited; starting another"
done
`;

/**
 * A newc ("070701") cpio archive, as the kernel's initramfs unpacker reads it
 * (Documentation/driver-api/early-userspace/buffer-format.rst).
 */
class Cpio {
  constructor() {
    /** @type {Buffer[]} */
    this.parts = [];
    this.ino = 1;
  }
  /** @param {string} name @param {number} mode @param {Buffer} data @param {number} [rdevMajor] @param {number} [rdevMinor] */
  add(name, mode, data = Buffer.alloc(0), rdevMajor = 0, rdevMinor = 0) {
    const fields = [this.ino++, mode, 0, 0, (mode & 0o170000) === 0o040000 ? 2 : 1, 0, data.length, 0, 0, rdevMajor, rdevMinor, name.length + 1, 0];
    const header = Buffer.from('070701' + fields.map((f) => (f >>> 0).toString(16).padStart(8, '0')).join('') + name + '\0', 'latin1');
    this.parts.push(header, Buffer.alloc((4 - (header.length % 4)) % 4));
    if (data.length) this.parts.push(data, Buffer.alloc((4 - (data.length % 4)) % 4));
  }
  dir(name) { this.add(name, 0o040755); }
  file(name, data, perm = 0o644) { this.add(name, 0o100000 | perm, data); }
  symlink(name, target) { this.add(name, 0o120777, Buffer.from(target)); }
  chardev(name, major, minor, perm = 0o600) { this.add(name, 0o020000 | perm, Buffer.alloc(0), major, minor); }
  finish() {
    this.add('TRAILER!!!', 0);
    const body = Buffer.concat(this.parts);
    return Buffer.concat([body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
  }
}

/**
 * The part of the KVM initramfs' `/init` that loads the modules: the vendor module is chosen by
 * the CPU flags in /proc/cpuinfo (`vmx`: Intel VT-x, `svm`: AMD SVM), each list is in
 * dependency order.
 * @param {{ intel: string[], amd: string[] }} order paths in the initramfs, without the leading slash
 */
function kvmInitPart(order) {
  const list = (/** @type {string[]} */ paths) => paths.map((p) => `/${p}`).join(' ');
  return `# Load the kernel's own KVM modules for this CPU's virtualization extension.
if grep -qw vmx /proc/cpuinfo; then set -- intel ${list(order.intel)}
elif grep -qw svm /proc/cpuinfo; then set -- amd ${list(order.amd)}
else set -- none
fi
kvm_vendor=$1; shift
kvm=absent
kvm_t0=$(cut -d' ' -f1 /proc/uptime)
if [ $# -gt 0 ]; then
  kvm=loaded
  for m in "$@"; do insmod "$m" || { kvm=absent; break; }; done
  i=0
  while [ $kvm = loaded ] && [ ! -c /dev/kvm ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  [ -c /dev/kvm ] || kvm=absent
fi
kvm_t1=$(cut -d' ' -f1 /proc/uptime)
echo "hvkit-linux: kvm-modules vendor=$kvm_vendor seconds=$(awk -v a="$kvm_t0" -v b="$kvm_t1" 'BEGIN { printf "%.2f", b - a }')"
echo "${KVM_MARKER}$kvm"
`;
}

/** @param {string} cmd @param {string[]} args @param {string} [cwd] */
function run(cmd, args, cwd) {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = /** @type {{ stderr?: string, message: string }} */ (e);
    throw new Error(`guests:linux: \`${cmd} ${args.join(' ')}\` failed: ${(err.stderr || err.message).trim().split('\n').slice(-3).join(' / ')}`, { cause: e });
  }
}

/** The exact kernel package the meta package depends on, e.g. `linux-image-6.1.0-56-cloud-amd64`. */
function kernelPackage() {
  const out = run('apt-cache', ['depends', KERNEL_META_PACKAGE]);
  const m = /Depends:\s*(linux-image-[^\s]+-cloud-amd64)/.exec(out);
  if (!m) throw new Error(`guests:linux: \`apt-cache depends ${KERNEL_META_PACKAGE}\` names no linux-image-*-cloud-amd64 package`);
  return m[1];
}

/** Downloads one package into `dir` and unpacks it into `dir/root`; returns the .deb path. */
function fetchPackage(name, dir) {
  run('apt-get', ['download', name], dir);
  const debs = readdirSync(dir).filter((f) => f.endsWith('.deb') && decodeURIComponent(f).startsWith(`${name}_`));
  if (debs.length !== 1) throw new Error(`guests:linux: apt-get download ${name} left ${debs.length} .deb files`);
  const deb = path.join(dir, debs[0]);
  run('dpkg', ['-x', deb, path.join(dir, 'root')]);
  return deb;
}

/** The applet names of a busybox binary, as paths (`bin/sh`, `usr/bin/md5sum` ...). */
function busyboxApplets(busybox) {
  const r = spawnSync(busybox, ['--list-full'], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim().split('\n');
  return null; // cannot run it here: /init installs the links itself
}

/**
 * The contents of `.modinfo` (`key=value` strings) of an ELF64 little-endian kernel module.
 * @param {Buffer} ko @param {string} file for messages
 */
function modinfo(ko, file) {
  if (ko.readUInt32BE(0) !== 0x7f454c46 || ko[4] !== 2 || ko[5] !== 1) throw new Error(`guests:linux: ${file} is not an ELF64 little-endian module`);
  const shoff = Number(ko.readBigUInt64LE(0x28));
  const shentsize = ko.readUInt16LE(0x3a);
  const shnum = ko.readUInt16LE(0x3c);
  const shstrndx = ko.readUInt16LE(0x3e);
  const section = (/** @type {number} */ i) => {
    const h = shoff + i * shentsize;
    return { name: ko.readUInt32LE(h), offset: Number(ko.readBigUInt64LE(h + 0x18)), size: Number(ko.readBigUInt64LE(h + 0x20)) };
  };
  const names = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const end = ko.indexOf(0, names.offset + s.name);
    if (ko.toString('latin1', names.offset + s.name, end) !== '.modinfo') continue;
    /** @type {Map<string, string>} */
    const info = new Map();
    for (const entry of ko.toString('latin1', s.offset, s.offset + s.size).split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0 && !info.has(entry.slice(0, eq))) info.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    return info;
  }
  throw new Error(`guests:linux: ${file} has no .modinfo section`);
}

/**
 * The kernel modules `names` (module names, `-` and `_` alike) and everything they depend on,
 * from an unpacked kernel package: each module's path in the initramfs (`lib/modules/<release>/
 * kernel/...ko`), its uncompressed bytes (a `.ko.xz` or `.ko.zst` is decompressed with the
 * machine's `xz` or `zstd`), and its dependencies by module name.
 * @param {string} root where the package was unpacked
 * @param {string} release
 * @param {string[]} names
 */
export function collectModules(root, release, names) {
  const base = path.join(root, 'lib', 'modules', release);
  /** @type {Map<string, string>} module name -> file under `base` */
  const files = new Map();
  const walk = (/** @type {string} */ rel) => {
    for (const e of readdirSync(path.join(base, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (/\.ko(\.xz|\.zst|\.gz)?$/.test(e.name)) files.set(e.name.replace(/\.ko.*$/, '').replace(/-/g, '_'), r);
    }
  };
  walk('kernel');
  /** @type {Map<string, { path: string, data: Buffer, depends: string[] }>} */
  const modules = new Map();
  const visit = (/** @type {string} */ name) => {
    const key = name.replace(/-/g, '_');
    if (modules.has(key)) return;
    const rel = files.get(key);
    if (!rel) throw new Error(`guests:linux: the kernel package has no module ${name} under lib/modules/${release}/kernel`);
    const file = path.join(base, rel);
    let data = readFileSync(file);
    let target = rel;
    if (rel.endsWith('.xz') || rel.endsWith('.zst')) {
      const tool = rel.endsWith('.xz') ? 'xz' : 'zstd';
      data = execFileSync(tool, ['-dc', file], { maxBuffer: 1 << 28 });
      target = rel.replace(/\.(xz|zst)$/, '');
    } else if (rel.endsWith('.gz')) {
      data = gunzipSync(data);
      target = rel.replace(/\.gz$/, '');
    }
    const depends = (modinfo(data, rel).get('depends') ?? '').split(',').filter(Boolean).map((d) => d.replace(/-/g, '_'));
    modules.set(key, { path: `lib/modules/${release}/${target}`, data, depends });
    for (const d of depends) visit(d);
  };
  for (const n of names) visit(n);
  return modules;
}

/**
 * `names` and their dependencies, dependencies first (the order insmod needs).
 * @param {Map<string, { path: string, depends: string[] }>} modules @param {string[]} names
 */
function loadOrder(modules, names) {
  /** @type {string[]} */
  const out = [];
  const visit = (/** @type {string} */ n) => {
    const m = /** @type {{ path: string, depends: string[] }} */ (modules.get(n));
    if (out.includes(m.path)) return;
    for (const d of m.depends) visit(d);
    out.push(m.path);
  };
  for (const n of names) visit(n.replace(/-/g, '_'));
  return out;
}

/**
 * Compiles `kvmtest/kvmtest.c` with the machine's gcc (`-static -O2`, stripped, no build ID, so
 * the same compiler gives the same bytes).
 * @param {string} outDir
 */
export function buildKvmtest(outDir) {
  const out = path.join(outDir, 'kvmtest');
  run('gcc', ['-static', '-O2', '-s', '-Wall', '-Wl,--build-id=none', '-o', out, path.basename(KVMTEST_SOURCE)], path.dirname(KVMTEST_SOURCE));
  return readFileSync(out);
}

/**
 * What decides the KVM initramfs besides the packages (its test program's source and this
 * file's `/init`), for the cache.
 */
function kvmInputsHash() {
  return createHash('sha256').update(readFileSync(KVMTEST_SOURCE)).update(INIT).update(kvmInitPart({ intel: [], amd: [] })).digest('hex').slice(0, 16);
}

/**
 * Builds the initramfs from an unpacked busybox-static; with `kvm`, also the KVM modules
 * (loaded by `/init`) and `/bin/kvmtest`.
 * @param {string} busybox
 * @param {{ modules: Map<string, { path: string, data: Buffer, depends: string[] }>, kvmtest: Buffer }} [kvm]
 */
export function buildInitramfs(busybox, kvm) {
  const cpio = new Cpio();
  for (const d of ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'tmp', 'etc', 'root', 'mnt']) cpio.dir(d);
  cpio.chardev('dev/console', 5, 1);
  cpio.chardev('dev/null', 1, 3, 0o666);
  cpio.chardev('dev/ttyS0', 4, 64, 0o660);
  cpio.file('bin/busybox', readFileSync(busybox), 0o755);
  const applets = busyboxApplets(busybox);
  let init = INIT;
  if (applets) {
    for (const a of applets) {
      if (a === 'bin/busybox' || !/^(bin|sbin|usr\/bin|usr\/sbin)\/[^/]+$/.test(a)) continue;
      cpio.symlink(a, '/bin/busybox');
    }
  } else {
    init = init.replace('export PATH', '/bin/busybox --install -s\nexport PATH');
    cpio.symlink('bin/sh', 'busybox');
  }
  if (kvm) {
    const order = { intel: loadOrder(kvm.modules, ['kvm', 'kvm_intel']), amd: loadOrder(kvm.modules, ['kvm', 'kvm_amd']) };
    const dirs = new Set();
    for (const m of kvm.modules.values()) {
      const parts = m.path.split('/');
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    }
    for (const d of [...dirs].sort()) cpio.dir(d);
    const sorted = [...kvm.modules.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
    for (const m of sorted) cpio.file(m.path, m.data);
    // modules.dep, so that busybox's modprobe also finds them (`modprobe kvm_intel` by hand).
    const release = sorted[0].path.split('/')[2];
    const rel = (/** @type {string} */ p) => p.slice(`lib/modules/${release}/`.length);
    const dep = sorted.map((m) => `${rel(m.path)}:${loadOrder(kvm.modules, m.depends).reverse().map((d) => ` ${rel(d)}`).join('')}\n`).join('');
    cpio.file(`lib/modules/${release}/modules.dep`, Buffer.from(dep));
    cpio.file('bin/kvmtest', kvm.kvmtest, 0o755);
    init = init.replace('@KVM@', kvmInitPart(order));
  } else {
    init = init.replace('@KVM@', '');
  }
  cpio.file('init', Buffer.from(init), 0o755);
  cpio.file('etc/hvkit-sample', sampleBytes());
  cpio.file('etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\n'));
  cpio.file('etc/group', Buffer.from('root:x:0:\n'));
  return gzipSync(cpio.finish(), { level: 9 });
}

/**
 * Prepares (or reuses) the Linux guest.
 * @param {{ cacheDir?: string, force?: boolean, log?: (line: string) => void }} [options]
 * @returns {{ kernel: string, initrd: string, initrdKvm: string | null, kvmWhy: string | null, release: string, kernelPackage: string, busyboxPackage: string, cached: boolean }}
 */
export function prepareLinux(options = {}) {
  const dir = options.cacheDir ?? defaultLinuxCacheDir();
  const log = options.log ?? (() => {});
  const manifestPath = path.join(dir, 'manifest.json');
  if (!options.force && existsSync(manifestPath)) {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8'));
    // A manifest from before the KVM initramfs, or built from another kvmtest.c or /init, is stale.
    const kvmFresh = m.kvmInputs === kvmInputsHash() && (m.initrdKvm ? existsSync(m.initrdKvm) : typeof m.kvmWhy === 'string');
    if (existsSync(m.kernel) && existsSync(m.initrd) && kvmFresh) return { ...m, cached: true };
  }
  if (!linuxToolsAvailable()) throw new Error('guests:linux: needs apt-get, apt-cache and dpkg (a Debian machine)');
  mkdirSync(dir, { recursive: true });
  try {
    return prepareOnce(dir, log);
  } catch (error) {
    // Stale or missing package lists make apt-cache or apt-get download fail: as root, refresh
    // them once and try again (what `.ci/run` on a fresh machine needs).
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) throw error;
    log(`${/** @type {Error} */ (error).message}; running apt-get update and trying again`);
    run('apt-get', ['update', '-qq']);
    return prepareOnce(dir, log);
  }
}

/** @param {string} dir @param {(line: string) => void} log */
function prepareOnce(dir, log) {
  const manifestPath = path.join(dir, 'manifest.json');
  const work = mkdtempSync(path.join(os.tmpdir(), 'hvkit-linux-'));
  try {
    const pkg = kernelPackage();
    log(`downloading ${pkg} and ${BUSYBOX_PACKAGE} with apt-get download`);
    const kernelDeb = fetchPackage(pkg, work);
    const busyboxDeb = fetchPackage(BUSYBOX_PACKAGE, work);
    const boot = path.join(work, 'root', 'boot');
    const vmlinuz = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`guests:linux: ${pkg} has no /boot/vmlinuz-*`);
    const release = vmlinuz.slice('vmlinuz-'.length);
    const busybox = path.join(work, 'root', 'bin', 'busybox');
    const kernel = path.join(dir, 'vmlinuz');
    const initrd = path.join(dir, 'initrd.gz');
    // Several test files may prepare the guest at once: each writes its own temporary files
    // and renames them into place (atomic), and the manifest, which readers look for, last.
    const suffix = `.${process.pid}.tmp`;
    writeFileSync(kernel + suffix, readFileSync(path.join(boot, vmlinuz)));
    renameSync(kernel + suffix, kernel);
    writeFileSync(initrd + suffix, buildInitramfs(busybox));
    renameSync(initrd + suffix, initrd);
    // The KVM initramfs: needs gcc for kvmtest; without it the plain guest is still prepared.
    const kvmInputs = kvmInputsHash();
    /** @type {string | null} */
    let initrdKvm = path.join(dir, 'initrd-kvm.gz');
    /** @type {string | null} */
    let kvmWhy = null;
    try {
      const modules = collectModules(path.join(work, 'root'), release, KVM_MODULES);
      const kvmtest = buildKvmtest(work);
      writeFileSync(initrdKvm + suffix, buildInitramfs(busybox, { modules, kvmtest }));
      renameSync(initrdKvm + suffix, initrdKvm);
    } catch (error) {
      kvmWhy = /** @type {Error} */ (error).message;
      log(`no KVM initramfs: ${kvmWhy}`);
      initrdKvm = null;
    }
    const manifest = {
      kernel,
      initrd,
      initrdKvm,
      kvmWhy,
      kvmInputs,
      release,
      kernelPackage: path.basename(kernelDeb),
      busyboxPackage: path.basename(busyboxDeb),
    };
    writeFileSync(manifestPath + suffix, JSON.stringify(manifest, null, 2) + '\n');
    renameSync(manifestPath + suffix, manifestPath);
    log(`kernel ${release} -> ${kernel}; initramfs -> ${initrd}${initrdKvm ? `; KVM initramfs -> ${initrdKvm}` : ''}`);
    return { ...manifest, cached: false };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--')); // `pnpm guests:linux -- --force`
  const bad = args.find((a) => a !== '--force' && a !== '--quiet');
  if (bad) {
    process.stderr.write(`guests:linux: unknown option ${bad} (usage: node tooling/guests/linux.mjs [--force] [--quiet])\n`);
    process.exit(2);
  }
  try {
    const quiet = args.includes('--quiet');
    const r = prepareLinux({ force: args.includes('--force'), log: quiet ? undefined : (l) => process.stderr.write(`guests:linux: ${l}\n`) });
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  } catch (e) {
    process.stderr.write(`${/** @type {Error} */ (e).message}\n`);
    process.exit(1);
  }
}
