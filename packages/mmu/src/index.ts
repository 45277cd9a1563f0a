/**
 * `@hvkit/mmu`: x86 address translation. Guest page walks in every paging mode, EPT and NPT
 * two-dimensional walks, and a TLB tagged by VPID/ASID/PCID arrive with their issues; the
 * linear-address rules they all share are here now.
 */
export { isCanonical, PageFaultErrorCode } from './linear.js';
