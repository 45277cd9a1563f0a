/** x87 FPU instructions (D8-DF, FWAIT). (Placeholder: the owner fills this in.) */
export function installX87(): void {
  // installed by ops/index.ts
}
