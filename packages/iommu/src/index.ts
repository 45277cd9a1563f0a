/**
 * `@hvkit/iommu`: Intel VT-d DMA and interrupt remapping and AMD's Device Exclusion Vector.
 * Each implements the platform's `DmaSpace`, so it sits between a device and memory.
 *
 * Nothing is exported yet: the IOMMUs arrive with their issue.
 */
export {};
