import { hvkitConfig } from './index.js';

export default hvkitConfig(import.meta.dirname);
