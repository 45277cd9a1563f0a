/** MMX and SSE/SSE2 integer and data-movement instructions. (Placeholder: the owner fills this in.) */
export function installSimdInt(): void {
  // installed by ops/index.ts
}
