/**
 * The `hvkit` CLI as a library: the entry points behind the `hvkit` and
 * `hvkit-system-x86_64` binaries, and the QEMU-style option parser.
 */
export { hvkitMain } from './hvkit.js';
export { systemMain, checkFiles } from './system.js';
export { collectPackages, formatInfo, type PackageInfo } from './info.js';
export {
  OptionError,
  parseInteger,
  parseSize,
  parseSystemArgs,
  systemUsage,
  SUPPORTED_DEVICES,
  type DeviceOption,
  type SystemOptions,
} from './qemu-args.js';
export { type Output, type Streams } from './streams.js';
