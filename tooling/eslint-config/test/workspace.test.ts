/**
 * Repository checks: every library package has the shape the design card asks for, and its
 * declared dependencies are exactly what the package graph allows it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { allowedDependencies } from '../graph.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const read = (p: string) => JSON.parse(readFileSync(path.join(repo, p), 'utf8'));
const libraries = readdirSync(path.join(repo, 'packages')).sort();

describe('workspace layout', () => {
  it('has exactly the ten library packages of the design card', () => {
    expect(libraries).toEqual(['devices', 'hypervisor', 'iommu', 'irqchip', 'machine', 'mmu', 'platform', 'svm', 'vmx', 'x86']);
    expect(Object.keys(allowedDependencies).sort()).toEqual(libraries.map((l) => `@hvkit/${l}`).sort());
  });

  it('has the top level of the design card', () => {
    const top = readdirSync(repo).filter((n) => !n.startsWith('.') && n !== 'node_modules');
    for (const required of ['package.json', 'pnpm-workspace.yaml', 'turbo.json', 'packages', 'apps', 'tooling', 'README.md']) {
      expect(top).toContain(required);
    }
    expect(existsSync(path.join(repo, '.changeset/config.json'))).toBe(true);
    const changesets = read('.changeset/config.json');
    expect(changesets).toMatchObject({ access: 'public', baseBranch: 'main' });
    expect(read('package.json').packageManager).toMatch(/^pnpm@10\./);
  });

  describe.each(libraries)('packages/%s', (dir) => {
    const manifest = read(`packages/${dir}/package.json`);

    it('is @hvkit/<dir> with src/index.ts and a README', () => {
      expect(manifest.name).toBe(`@hvkit/${dir}`);
      expect(existsSync(path.join(repo, 'packages', dir, 'src/index.ts'))).toBe(true);
      expect(readFileSync(path.join(repo, 'packages', dir, 'README.md'), 'utf8')).toMatch(new RegExp(`^# @hvkit/${dir}\\b`));
    });

    it('exports ESM with types, and its TypeScript source under the @hvkit/source condition', () => {
      expect(manifest.type).toBe('module');
      expect(manifest.types).toBe('./dist/index.d.ts');
      const root = manifest.exports['.'];
      expect(Object.keys(root)).toEqual(['@hvkit/source', 'types', 'import']);
      expect(root).toEqual({ '@hvkit/source': './src/index.ts', types: './dist/index.d.ts', import: './dist/index.js' });
      expect(manifest.files).toContain('dist');
      expect(manifest.scripts).toMatchObject({ build: 'tsup', typecheck: 'tsc --noEmit', lint: 'eslint .' });
    });

    it('passes with no tests only while it has none, so lost tests cannot go unnoticed', () => {
      // Tests live next to the sources (src/) or in test/.
      const hasTests = ['src', 'test'].some((sub) => {
        const where = path.join(repo, 'packages', dir, sub);
        return existsSync(where) && readdirSync(where, { recursive: true }).some((f) => String(f).endsWith('.test.ts'));
      });
      expect(manifest.scripts.test).toBe(hasTests ? 'vitest run' : 'vitest run --passWithNoTests');
    });

    it('depends on exactly the packages the graph allows', () => {
      const declared = Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith('@hvkit/')).sort();
      expect(declared).toEqual([...allowedDependencies[manifest.name]!].sort());
      for (const d of declared) expect(manifest.dependencies[d]).toBe('workspace:*');
    });
  });

  it('keeps the package graph acyclic', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, trail: string[]) => {
      if (state.get(name) === 'done') return;
      if (state.get(name) === 'visiting') throw new Error(`cycle: ${[...trail, name].join(' -> ')}`);
      state.set(name, 'visiting');
      for (const dep of allowedDependencies[name] ?? []) visit(dep, [...trail, name]);
      state.set(name, 'done');
    };
    for (const name of Object.keys(allowedDependencies)) visit(name, []);
    expect(state.size).toBe(libraries.length);
  });
});
