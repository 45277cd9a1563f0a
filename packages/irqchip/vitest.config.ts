import { fileURLToPath } from 'node:url';
import { hvkitProject } from '@hvkit/vitest-config';

export default hvkitProject(fileURLToPath(new URL('.', import.meta.url)));
