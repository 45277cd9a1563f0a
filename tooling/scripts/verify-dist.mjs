#!/usr/bin/env node
// Checks, after `turbo run build`, that every library package built its `exports` targets:
// an ESM entry and its type declarations. Exits non-zero, naming what is missing.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const missing = [];
let checked = 0;
for (const dir of readdirSync(path.join(repo, 'packages'))) {
  const base = path.join(repo, 'packages', dir);
  const manifest = JSON.parse(readFileSync(path.join(base, 'package.json'), 'utf8'));
  const entry = manifest.exports['.'];
  for (const target of [entry.import, entry.types]) {
    checked++;
    if (!existsSync(path.join(base, target))) missing.push(`${manifest.name}: ${target}`);
  }
}
if (missing.length) {
  console.error(`verify-dist: missing build outputs (run \`pnpm build\`):\n  ${missing.join('\n  ')}`);
  process.exit(1);
}
console.log(`verify-dist: ${checked} build outputs present (ESM + .d.ts for every package)`);
