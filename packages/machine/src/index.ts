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
export { MinimalBoard, type BoardStop, type MinimalBoardOptions } from './board.js';
