/**
 * `@hvkit/svm`: AMD SVM for the hvkit x86 core (AMD64 APM Vol. 2 ch. 15): the VMCB,
 * VMRUN/VMLOAD/VMSAVE/VMMCALL/STGI/CLGI/SKINIT/INVLPGA, intercepts, #VMEXIT with EXITINFO, GIF,
 * V_IRQ/V_TPR, nested paging and ASIDs.
 */
export {
  EventInj,
  EventType,
  InterceptMisc1,
  InterceptMisc2,
  InterceptMisc3,
  IntShadow,
  LbrVirt,
  NpEnable,
  SvmExitCode,
  SvmFeature,
  SvmMsr,
  TlbControl,
  VIntr,
  VmcbClean,
  VmCr,
} from './constants.js';
export { attribFromCore, attribToCore, VMCB_SEG_BY_CORE_SEG, VmcbMemory, VmcbOffset, VmcbSeg } from './vmcb.js';
export { DEFAULT_SVM_FEATURES, type SvmFeatures } from './caps.js';
export { opClgi, opInvlpga, opStgi, opVmload, opVmsave } from './instructions.js';
export { opSkinit, sha1Hex, SLB_SIZE } from './skinit.js';
export { SvmCpu, type DmaExclusion, type SkinitRecord, type WalkerMemory } from './svm.js';
export { AsidContexts, invalidateAllAsids, invalidateAsidPage, nptActivate, nptTranslate } from './npt.js';
export {
  SvmHost,
  SvmHostArea,
  SvmHostSelector,
  svmExitName,
  Vmcb,
  type SvmExit,
  type SvmFault,
  type SvmGuest64,
  type SvmHostOptions,
  type SvmNoExit,
  type SvmRunResult,
  type SvmStatus,
  type VmcbSegment,
  type VmcbTable,
} from './api.edge.js';
