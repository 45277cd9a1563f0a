/**
 * `@hvkit/iommu`: Intel VT-d DMA and interrupt remapping and AMD's Device Exclusion Vector.
 * Each implements the platform's `DmaSpace`, so it sits between a device and memory.
 *
 * So far: AMD's Device Exclusion Vector (dev.ts; APM Vol. 2 §15.24), which SKINIT uses to protect
 * the secure loader block. VT-d and the DEV's PCI registers arrive with the IOMMU issue.
 */
export { DevDmaSpace, DeviceExclusionVector, type DeviceExclusionVectorOptions } from './dev.js';
