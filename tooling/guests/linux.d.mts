/** The meta package whose dependency names the kernel: `linux-image-cloud-amd64`. */
export const KERNEL_META_PACKAGE: string;
export const BUSYBOX_PACKAGE: string;
/** The start of the line `/init` prints before the shell: `hvkit-linux: ready release=R cpus=N`. */
export const LINUX_MARKER: string;
/** The shell prompt, `hvkit# `. */
export const LINUX_PROMPT: string;
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
/** The gzipped newc initramfs built around a busybox-static binary. */
export function buildInitramfs(busybox: string): Buffer;
export interface PreparedLinux {
  /** The kernel bzImage, unmodified from the Debian package. */
  readonly kernel: string;
  /** The gzipped initramfs. */
  readonly initrd: string;
  /** The kernel release (`uname -r`). */
  readonly release: string;
  readonly kernelPackage: string;
  readonly busyboxPackage: string;
  /** Whether the files came from the cache. */
  readonly cached: boolean;
}
/** Downloads and builds the guest, or takes it from the cache; throws an Error saying why it cannot. */
export function prepareLinux(options?: { cacheDir?: string; force?: boolean; log?: (line: string) => void }): PreparedLinux;
