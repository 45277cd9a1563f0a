import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatInfo, hvkitMain, PACKAGE_NAMES, type Streams } from '../src/index.js';

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
const versionOf = (dir: string) => JSON.parse(readFileSync(`${repo}/${dir}/package.json`, 'utf8')).version as string;

describe('hvkit info', () => {
  it('lists the CLI and all ten packages with the versions in their package.json', async () => {
    const io = capture();
    expect(await hvkitMain(['info'], io)).toBe(0);
    const lines = io.stdout().trim().split('\n');
    expect(lines[0]).toMatch(/^package\s+version\s+description$/);
    expect(lines).toHaveLength(12);
    expect(lines[1]).toMatch(new RegExp(`^hvkit\\s+${versionOf('apps/cli')}\\s`));
    PACKAGE_NAMES.forEach((name, i) => {
      expect(lines[i + 2]).toMatch(new RegExp(`^${name}\\s+${versionOf(`packages/${name.slice(7)}`)}\\s+\\S`));
    });
  });

  it('prints JSON with --json', async () => {
    const io = capture();
    expect(await hvkitMain(['info', '--json'], io)).toBe(0);
    const parsed = JSON.parse(io.stdout()) as { name: string; version: string }[];
    expect(parsed.map((p) => p.name)).toEqual(['hvkit', ...PACKAGE_NAMES]);
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
    const out = execFileSync('pnpm', ['exec', 'hvkit', 'info'], { cwd: repo, encoding: 'utf8' });
    expect(out).toMatch(/^@hvkit\/platform\s+\d+\.\d+\.\d+/m);
    expect(out).toMatch(/^@hvkit\/hypervisor\s+\d+\.\d+\.\d+/m);
  });

  it('hvkit-system-x86_64 reports a bad option with a non-zero status', () => {
    const r = spawnSync(process.execPath, [bin('hvkit-system-x86_64.js'), '-m', 'lots'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("hvkit-system-x86_64: invalid size 'lots'");
  });
});
