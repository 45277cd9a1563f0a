// This package cannot use @hvkit/vitest-config (which lints itself with this package), and its
// tests import no workspace package, so it needs no source-condition resolution.
import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: '@hvkit/eslint-config', include: ['test/**/*.test.ts'], environment: 'node', testTimeout: 60_000 },
});
