/**
 * `@hvkit/mmu`: x86 address translation. The linear-address rules; the guest page walker for
 * every paging mode (32-bit, PAE, 4-level, 5-level); the second-level walker in EPT and NPT
 * formats and the two-dimensional walk that composes the two; and a TLB tagged by VPID/ASID,
 * PCID and EPTP/nCR3 with paging-structure caches and every invalidation rule.
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
export {
  EptMemoryType,
  EptViolation,
  Eptp,
  GuestPhysicalMemory,
  NestedAccess,
  NestedPageWalker,
  NestedStatus,
  NpfInfoHi,
  SecondLevelFormat,
  SecondLevelWalker,
  type SecondLevelWalkerOptions,
} from './nested.js';
export { ep4ta, FlushCause, NO_ROOT, Tlb, TlbPerm, type TlbOptions, type TlbStats, type TranslationResult } from './tlb.js';
