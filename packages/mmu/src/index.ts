/**
 * `@hvkit/mmu`: x86 address translation. The linear-address rules, and the guest page walker
 * for every paging mode (32-bit, PAE, 4-level, 5-level); EPT and NPT two-dimensional walks and
 * a TLB tagged by VPID/ASID/PCID arrive with their issues.
 */
export { isCanonical, PageFaultErrorCode } from './linear.js';
export {
  accessErrorCode,
  Cr3,
  cr3Address,
  cr3AddressMaskHi,
  cr3AddressMaskLo,
  cr3Pcid,
  isAccessPermitted,
  PageAccess,
  PageSize,
  PageWalker,
  PagingMode,
  pagingModeOf,
  WalkControl,
  walkControlOf,
  type PageTableMemory,
  type PageWalkerOptions,
} from './paging.js';
