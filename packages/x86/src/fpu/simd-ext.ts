/** SSSE3, SSE4.1 integer and SSE4.2 instructions. (Placeholder: the owner fills this in.) */
export function installSimdExt(): void {
  // installed by ops/index.ts
}
