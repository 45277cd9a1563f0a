/** FXSAVE/FXRSTOR, XSAVE family, LDMXCSR/STMXCSR, EMMS-independent state instructions. (Placeholder: the owner fills this in.) */
export function installFpuState(): void {
  // installed by ops/index.ts
}
