import { sourceResolve } from '@hvkit/vitest-config';
import { defineConfig } from 'vite';

// The lab imports workspace packages from their TypeScript sources (the `@hvkit/source`
// export condition), so `vite` and `vite build` need no package build first.
export default defineConfig({
  ...sourceResolve,
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true },
});
