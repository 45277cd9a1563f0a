import { fileURLToPath } from 'node:url';
import { hvkitProject } from '@hvkit/vitest-config';

// Building the guests and booting each one on QEMU takes seconds, not milliseconds.
export default hvkitProject(fileURLToPath(new URL('.', import.meta.url)), { testTimeout: 180_000 });
