/** SSE/SSE2/SSE3/SSE4.1 floating-point instructions. (Placeholder: the owner fills this in.) */
export function installSseFloat(): void {
  // installed by ops/index.ts
}
