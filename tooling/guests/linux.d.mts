/** The meta package whose dependency names the kernel: `linux-image-cloud-amd64`. */
export const KERNEL_META_PACKAGE: string;
export const BUSYBOX_PACKAGE: string;
/** The start of the line `/init` prints before the shell: `hvkit-linux: ready release=R cpus=N`. */
export const LINUX_MARKER: string;
/** The shell prompt, `hvkit# `. */
export const LINUX_PROMPT: string;
/** The start of the line the KVM initramfs prints after loading the modules: `hvkit-linux: kvm=loaded|absent`. */
export const KVM_MARKER: string;
/** The checks `/bin/kvmtest` runs, in order (`kvmtest: ok <check>`, then `kvmtest: PASS`). */
export const KVMTEST_CHECKS: readonly string[];
/** `tooling/guests/kvmtest/kvmtest.c`, the `/dev/kvm` test program built into `/bin/kvmtest`. */
export const KVMTEST_SOURCE: string;
/** The module names the KVM initramfs carries with their dependencies: kvm, kvm_intel, kvm_amd. */
export const KVM_MODULES: readonly string[];
/** A file in the initramfs with known contents: `/etc/hvkit-sample`. */
export const SAMPLE_PATH: string;
/** The sample file's bytes (64 KiB). */
export function sampleBytes(): Buffer;
/** The MD5 of the sample file, in hex. */
export function sampleMd5(): string;
/** `tooling/guests/.cache/linux`, or `$HVKIT_LINUX_CACHE`. */
export function defaultLinuxCacheDir(): string;
/** Whether apt-get, apt-cache and dpkg can be started. */
export function linuxToolsAvailable(): boolean;
/** A kernel module taken from the kernel package, uncompressed. */
export interface KernelModule {
  /** Its path in the initramfs, without the leading slash: `lib/modules/<release>/kernel/...ko`. */
  readonly path: string;
  readonly data: Buffer;
  /** The module names it depends on (`.modinfo` `depends=`). */
  readonly depends: readonly string[];
}
/**
 * The modules `names` and all they depend on, from a kernel package unpacked at `root`
 * (`.ko.xz`/`.ko.zst`/`.ko.gz` decompressed), by module name with `_`.
 */
export function collectModules(root: string, release: string, names: readonly string[]): Map<string, KernelModule>;
/** Compiles kvmtest.c with `gcc -static -O2` into `outDir/kvmtest` and returns its bytes. */
export function buildKvmtest(outDir: string): Buffer;
/**
 * The gzipped newc initramfs built around a busybox-static binary; with `kvm`, also the modules
 * (loaded by `/init`, which then prints {@link KVM_MARKER}) and `/bin/kvmtest`.
 */
export function buildInitramfs(busybox: string, kvm?: { modules: Map<string, KernelModule>; kvmtest: Buffer }): Buffer;
export interface PreparedLinux {
  /** The kernel bzImage, unmodified from the Debian package. */
  readonly kernel: string;
  /** The gzipped initramfs. */
  readonly initrd: string;
  /**
   * The gzipped initramfs with the kernel's KVM modules and `/bin/kvmtest` (`initrd-kvm.gz`), or
   * null where it cannot be built (no gcc): then {@link kvmWhy} says why.
   */
  readonly initrdKvm: string | null;
  readonly kvmWhy: string | null;
  /** The kernel release (`uname -r`). */
  readonly release: string;
  readonly kernelPackage: string;
  readonly busyboxPackage: string;
  /** Whether the files came from the cache. */
  readonly cached: boolean;
}
/** Downloads and builds the guest, or takes it from the cache; throws an Error saying why it cannot. */
export function prepareLinux(options?: { cacheDir?: string; force?: boolean; log?: (line: string) => void }): PreparedLinux;
