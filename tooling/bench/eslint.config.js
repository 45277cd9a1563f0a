import { hvkitConfig } from '@hvkit/eslint-config';

export default hvkitConfig(import.meta.dirname);
