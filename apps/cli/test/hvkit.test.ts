import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatInfo, hvkitMain, type Streams } from '../src/index.js';

function capture(): Streams & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: { write: (s: string) => (out += s) },
    err: { write: (s: string) => (err += s) },
    stdout: () => out,
    stderr: () => err,
  };
}

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const LIBRARIES = ['platform', 'mmu', 'irqchip', 'devices', 'iommu', 'x86', 'vmx', 'svm', 'machine', 'hypervisor'];
const versionOf = (dir: string) => JSON.parse(readFileSync(`${repo}/${dir}/package.json`, 'utf8')).version as string;

describe('hvkit info', () => {
  it('lists the CLI and all ten packages with the versions in their package.json', async () => {
    const io = capture();
    expect(await hvkitMain(['info'], io)).toBe(0);
    const lines = io.stdout().trim().split('\n');
    expect(lines[0]).toMatch(/^package\s+version\s+description$/);
    expect(lines[1]).toMatch(new RegExp(`^hvkit\\s+${versionOf('apps/cli')}\\s`));
    const listed = lines.slice(2).map((l) => l.split(/\s+/)[0]!);
    expect([...listed].sort()).toEqual(LIBRARIES.map((l) => `@hvkit/${l}`).sort());
    for (const line of lines.slice(2)) {
      const [name, version] = line.split(/\s+/);
      expect(version).toBe(versionOf(`packages/${name!.slice(7)}`));
      expect(line.length).toBeGreaterThan(name!.length + version!.length + 4); // has a description
    }
  });

  it('lists every package after the packages it depends on', async () => {
    const io = capture();
    await hvkitMain(['info', '--json'], io);
    const order = (JSON.parse(io.stdout()) as { name: string }[]).map((p) => p.name).slice(1);
    for (const [i, name] of order.entries()) {
      const deps = Object.keys(JSON.parse(readFileSync(`${repo}/packages/${name.slice(7)}/package.json`, 'utf8')).dependencies ?? {});
      for (const dep of deps) {
        expect(order).toContain(dep);
        expect(order.indexOf(dep), `${dep} before ${name}`).toBeLessThan(i);
      }
    }
  });

  it('prints JSON with --json', async () => {
    const io = capture();
    expect(await hvkitMain(['info', '--json'], io)).toBe(0);
    const parsed = JSON.parse(io.stdout()) as { name: string; version: string }[];
    expect(parsed).toHaveLength(11);
    expect(parsed[0]!.name).toBe('hvkit');
    expect(parsed.find((p) => p.name === '@hvkit/platform')?.version).toBe(versionOf('packages/platform'));
  });

  it('clips long descriptions to the width', () => {
    const text = formatInfo([{ name: 'a', version: '1', description: 'x'.repeat(200) }], 60);
    expect(text.split('\n')[1]!.length).toBeLessThanOrEqual(60);
    expect(text).toContain('…');
  });

  it.each([
    [['bogus'], /hvkit: unknown command 'bogus'/],
    [[], /usage: hvkit <command>/],
    [['info', '--yaml'], /hvkit info: unknown option '--yaml'/],
  ])('rejects %j with exit status 2 and a message', async (argv, message) => {
    const io = capture();
    expect(await hvkitMain(argv, io)).toBe(2);
    expect(io.stderr()).toMatch(message);
    expect(io.stdout()).toBe('');
  });
});

describe('the installed binaries', () => {
  const bin = (name: string) => fileURLToPath(new URL(`../bin/${name}`, import.meta.url));

  it('`pnpm exec hvkit info` works from the repository root', () => {
    // The workspace's own pnpm (a root devDependency), whatever launched the tests.
    const pnpm = path.join(repo, 'node_modules/.bin/pnpm');
    const out = execFileSync(pnpm, ['exec', 'hvkit', 'info'], { cwd: repo, encoding: 'utf8' });
    expect(out).toMatch(/^@hvkit\/platform\s+\d+\.\d+\.\d+/m);
    expect(out).toMatch(/^@hvkit\/hypervisor\s+\d+\.\d+\.\d+/m);
  });

  it('hvkit-system-x86_64 reports a bad option with status 1, as QEMU does', () => {
    const r = spawnSync(process.execPath, [bin('hvkit-system-x86_64.js'), '-m', 'lots'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("hvkit-system-x86_64: invalid size 'lots': expected a number with an optional K, M, G or T suffix\n");
  });

  it('hvkit run reports a bad kernel in one line, with no stack trace', () => {
    const r = spawnSync(process.execPath, [bin('hvkit.js'), 'run', '/nonexistent/kernel'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('hvkit run: /nonexistent/kernel: no such file\n');
  });
});
