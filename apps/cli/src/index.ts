/**
 * The `hvkit` CLI as a library: the entry points behind the `hvkit` and
 * `hvkit-system-x86_64` binaries, their option parsers, and the machine runner they share.
 */
export { hvkitMain } from './hvkit.js';
export { systemMain } from './system.js';
export { parseRunArgs, runMain, RUN_USAGE, type RunOptions } from './run.js';
export { collectPackages, formatInfo, type PackageInfo } from './info.js';
export { parseSystemArgs, systemUsage, type SystemOptions } from './qemu-args.js';
export { CPU_MODELS, cpuFeatureNames, cpuHelp, parseCpuModel, parseCpuSpec, UNGATED_FEATURES, type CpuSpec } from './cpu-model.js';
export {
  checkCpuCount,
  MAX_CPUS,
  MAX_MEMORY_MIB,
  MIN_MEMORY_MIB,
  OptionError,
  parseCharSpec,
  parseDeviceSpec,
  parseInteger,
  parseMemoryMiB,
  parseSize,
  SUPPORTED_DEVICES,
  type CharBackend,
  type CharSpec,
  type DeviceRequest,
} from './option-values.js';
export {
  detectKernelFormat,
  formatProgress,
  formatStats,
  InputError,
  readInputFile,
  runMachine,
  splitModuleList,
  type KernelFormat,
  type MachineConfig,
  type RunEnvironment,
} from './machine-run.js';
export { type Output, type Streams } from './streams.js';
export { ESCAPE, ESCAPE_HELP, EscapeFilter, SerialInput, type EscapeCommand, type Input } from './serial-input.js';
