// @ts-check
/**
 * The workspace-wide Vitest config (`pnpm test` at the repository root): one Vitest process
 * runs every package's project. Each project is the `vitest.config.ts` beside its package.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import SummaryReporter from './summary-reporter.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export default defineConfig({
  root,
  test: {
    projects: ['packages/*/vitest.config.ts', 'apps/*/vitest.config.ts', 'tooling/*/vitest.config.ts'],
    reporters: ['default', new SummaryReporter()],
  },
});
