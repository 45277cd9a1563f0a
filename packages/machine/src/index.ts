/**
 * `@hvkit/machine`: an emulated x86-64 PC assembled from the hvkit packages.
 *
 * The board arrives with the x86 core and PC platform issues; the Multiboot 1 loader that will
 * start test kernels on it is here now.
 */
export {
  loadMultiboot,
  MULTIBOOT_BOOTLOADER_MAGIC,
  MULTIBOOT_HEADER_MAGIC,
  MULTIBOOT_SEARCH,
  MultibootError,
  MultibootHeaderFlag,
  MultibootInfoFlag,
  MultibootMemoryType,
  type MultibootBoot,
  type MultibootMemory,
  type MultibootMemoryMapEntry,
  type MultibootModule,
  type MultibootOptions,
  type PhysicalRange,
} from './multiboot.js';
export { KernelImageError, type LoaderError, type LoaderMemory } from './loader-error.js';
export {
  ElfClass,
  ElfError,
  ElfMachine,
  ElfSegmentFlag,
  ElfType,
  loadElf,
  parseElf,
  PT_LOAD,
  type ElfBoot,
  type ElfImage,
  type ElfLoadOptions,
  type ElfParseOptions,
  type ElfSegment,
} from './elf.js';
export { FlatImageError, loadFlat, type FlatBoot, type FlatOptions } from './flat.js';
export {
  E820_MAX_ENTRIES,
  E820Type,
  LINUX_BOOT_CS,
  LINUX_BOOT_DS,
  LINUX_BOOT_FLAG,
  LINUX_BOOT_LAYOUT,
  LINUX_HDRS_MAGIC,
  LINUX_LOADER_TYPE,
  LINUX_MIN_PROTOCOL,
  LinuxBootError,
  LinuxLoadFlag,
  LinuxXLoadFlag,
  loadLinux,
  parseLinuxHeader,
  type E820Entry,
  type LinuxBoot,
  type LinuxOptions,
  type LinuxSetupHeader,
} from './linux.js';
export { MinimalBoard, type BoardStop, type MinimalBoardOptions } from './board.js';
export { FEATURE_CONTROL_VMX_LOCKED, type SvmMsrState, type Virtualization } from './virtualization.js';
export {
  ACPI_HEADER_LENGTH,
  acpiChecksum,
  AcpiTableError,
  buildAcpiTables,
  defaultInterruptOverrides,
  FACS_LENGTH,
  FACS_VERSION,
  FADT_LENGTH,
  FADT_MINOR_VERSION,
  FADT_REVISION,
  FadtFlags,
  GasAccess,
  GasSpace,
  IapcBootArch,
  MADT_PCAT_COMPAT,
  MADT_REVISION,
  MadtType,
  MpsIntiFlags,
  RSDP_LENGTH,
  writeAcpiTables,
  type AcpiCpu,
  type AcpiHpetConfig,
  type AcpiInterruptOverride,
  type AcpiPmConfig,
  type AcpiTables,
  type AcpiTablesConfig,
} from './acpi-tables.js';
export { buildDsdtAml, pcDsdtDevices, type DsdtConfig, type DsdtDevice, type DsdtIoRange, type DsdtPciRoot, type PcDsdtDevicesOptions } from './dsdt.js';
export {
  buildSmbiosTables,
  processorFamily,
  ProcessorFamily,
  SMBIOS_ENTRY_POINT_32_LENGTH,
  SMBIOS_ENTRY_POINT_32_OFFSET,
  SMBIOS_ENTRY_POINT_64_LENGTH,
  SMBIOS_VERSION_32,
  SMBIOS_VERSION_64,
  smbiosChecksum,
  SmbiosLength,
  SmbiosTableError,
  SmbiosType,
  writeSmbiosTables,
  type SmbiosConfig,
  type SmbiosCpu,
  type SmbiosStructureInfo,
  type SmbiosTables,
} from './smbios.js';
export {
  createPc,
  Pc,
  PcConfigurationError,
  type PcDeviceSpec,
  type PcOptions,
  type PcSnapshot,
  type PcStats,
  type PcStop,
} from './pc.js';
