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
 *   on the console.
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
import { gzipSync } from 'node:zlib';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The meta package whose dependency names the kernel. */
export const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';
export const BUSYBOX_PACKAGE = 'busybox-static';
/** The line `/init` prints once the shell is about to start. */
export const LINUX_MARKER = 'hvkit-linux: ready';
/** The shell prompt `/init` sets, easy to wait for. */
export const LINUX_PROMPT = 'hvkit# ';
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
echo "${LINUX_MARKER} release=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
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

/** Builds the initramfs from an unpacked busybox-static. */
export function buildInitramfs(busybox) {
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
  cpio.file('init', Buffer.from(init), 0o755);
  cpio.file('etc/hvkit-sample', sampleBytes());
  cpio.file('etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\n'));
  cpio.file('etc/group', Buffer.from('root:x:0:\n'));
  return gzipSync(cpio.finish(), { level: 9 });
}

/**
 * Prepares (or reuses) the Linux guest.
 * @param {{ cacheDir?: string, force?: boolean, log?: (line: string) => void }} [options]
 * @returns {{ kernel: string, initrd: string, release: string, kernelPackage: string, busyboxPackage: string, cached: boolean }}
 */
export function prepareLinux(options = {}) {
  const dir = options.cacheDir ?? defaultLinuxCacheDir();
  const log = options.log ?? (() => {});
  const manifestPath = path.join(dir, 'manifest.json');
  if (!options.force && existsSync(manifestPath)) {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8'));
    if (existsSync(m.kernel) && existsSync(m.initrd)) return { ...m, cached: true };
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
    const manifest = {
      kernel,
      initrd,
      release,
      kernelPackage: path.basename(kernelDeb),
      busyboxPackage: path.basename(busyboxDeb),
    };
    writeFileSync(manifestPath + suffix, JSON.stringify(manifest, null, 2) + '\n');
    renameSync(manifestPath + suffix, manifestPath);
    log(`kernel ${release} -> ${kernel}; initramfs -> ${initrd}`);
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
