// @ts-check
/**
 * `@hvkit/guests`: bare-metal test guests for hvkit, built with the system toolchain, and the
 * QEMU runner that serves as their oracle.
 *
 * ```js
 * import { buildGuest } from '@hvkit/guests';
 * const guest = await buildGuest('exceptions'); // guest.path: an ELF32 Multiboot kernel
 * ```
 */
export { buildGuest, buildGuests, defaultCacheDir, guestInfo, guestNames, GUESTS_DIR, TOOLCHAIN, toolchainAvailable } from './build.mjs';
export { compareSerial, parseSerial, QEMU, qemuAvailable, runGuestOnQemu, runOnQemu } from './scripts/qemu-conformance.mjs';
export { BOCHS, bochsMissing, DEFAULT_BOCHS_CPU, runOnBochs } from './scripts/bochs-conformance.mjs';
export {
  BUSYBOX_PACKAGE,
  buildInitramfs,
  buildKvmtest,
  collectModules,
  defaultLinuxCacheDir,
  KERNEL_META_PACKAGE,
  KVM_MARKER,
  KVM_MODULES,
  KVMTEST_CHECKS,
  KVMTEST_SOURCE,
  LINUX_MARKER,
  LINUX_PROMPT,
  linuxToolsAvailable,
  prepareLinux,
  SAMPLE_PATH,
  sampleBytes,
  sampleMd5,
} from './linux.mjs';
