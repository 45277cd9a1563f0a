/**
 * The lint rules, run through ESLint with each package's real `eslint.config.js`, on code that
 * is linted as if it were a file of that package.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../..', import.meta.url));

async function lint(pkgDir: string, file: string, code: string): Promise<string[]> {
  const cwd = path.join(repo, pkgDir);
  const eslint = new ESLint({ cwd });
  const [result] = await eslint.lintText(code, { filePath: path.join(cwd, file) });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

const bigintUses = [
  ['a BigInt() call', 'export const x = BigInt(1);'],
  ['a BigInt literal', 'export const x = 123n;'],
  ['a hex BigInt literal', 'export const x = 0xffff_ffff_ffff_ffffn;'],
  ['a BigUint64Array', 'export const x = new BigUint64Array(4);'],
  ['a DataView BigInt read', 'export const f = (v: DataView) => v.getBigUint64(0, true);'],
  ['the bigint type', 'export type Wide = bigint;'],
  ['BigInt.asUintN', 'export const f = (v: number) => BigInt.asUintN(64, v as never);'],
] as const;

describe('hvkit/no-bigint', () => {
  it.each(bigintUses)('fails on %s in packages/x86/src', async (_name, code) => {
    const messages = await lint('packages/x86', 'src/fixture.ts', code);
    expect(messages.some((m) => m.startsWith('hvkit/no-bigint:'))).toBe(true);
  });

  it.each(['packages/mmu', 'packages/vmx', 'packages/svm', 'packages/iommu', 'packages/irqchip'])('applies to %s/src too', async (dir) => {
    const messages = await lint(dir, 'src/walk.ts', 'export const x = 1n;');
    expect(messages).toContain("hvkit/no-bigint: BigInt literal 1n is banned on the hot path: keep 64-bit values as 32-bit halves (BigInt belongs in *.edge.ts files).");
  });

  it('allows BigInt in *.edge.ts files and in tests of hot-path packages', async () => {
    const code = 'export const toBig = (hi: number, lo: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);';
    expect(await lint('packages/x86', 'src/registers.edge.ts', code)).toEqual([]);
    expect(await lint('packages/x86', 'src/cpu.test.ts', code)).toEqual([]);
  });

  it('does not apply to packages off the hot path', async () => {
    expect(await lint('packages/platform', 'src/snapshot.ts', 'export const x = BigInt(2) + 3n;')).toEqual([]);
    expect(await lint('packages/machine', 'src/x.ts', 'export const x = 3n;')).toEqual([]);
  });

  it('leaves ordinary 32-bit code alone', async () => {
    expect(await lint('packages/x86', 'src/alu.ts', 'export const add = (a: number, b: number) => (a + b) | 0;')).toEqual([]);
  });
});

describe('hvkit/package-boundaries', () => {
  it('rejects an import the package graph forbids: the CPU may not import a device', async () => {
    const messages = await lint('packages/x86', 'src/cpu.ts', "export { IsaDebugExit } from '@hvkit/devices';");
    expect(messages).toEqual([
      "hvkit/package-boundaries: '@hvkit/x86' may not import '@hvkit/devices': the package graph allows @hvkit/platform, @hvkit/mmu.",
    ]);
  });

  it('rejects a device importing the CPU, and platform importing anything', async () => {
    expect(await lint('packages/devices', 'src/uart.ts', "import '@hvkit/x86';")).toHaveLength(1);
    expect(await lint('packages/platform', 'src/x.ts', "import '@hvkit/mmu';")).toEqual([
      "hvkit/package-boundaries: '@hvkit/platform' may not import '@hvkit/mmu': the package graph allows no other package.",
    ]);
  });

  it('rejects deep imports past a package index', async () => {
    const messages = await lint('packages/vmx', 'src/vmcs.ts', "export * from '@hvkit/x86/src/cpu';");
    expect(messages).toEqual(["hvkit/package-boundaries: Import '@hvkit/x86' only through its public index, not '@hvkit/x86/src/cpu'."]);
  });

  it('rejects relative imports that leave the package', async () => {
    const messages = await lint('packages/svm', 'src/vmcb.ts', "import '../../x86/src/index.js';");
    expect(messages).toEqual([
      "hvkit/package-boundaries: Relative import '../../x86/src/index.js' leaves package '@hvkit/svm'; import the other package by name.",
    ]);
  });

  it('accepts allowed imports, relative imports inside the package and apps importing anything', async () => {
    expect(await lint('packages/vmx', 'src/a.ts', "export * from '@hvkit/x86';\nexport * from '@hvkit/mmu';\nexport * from './b.js';")).toEqual([]);
    expect(await lint('packages/vmx', 'src/deep/a.ts', "export * from '../b.js';")).toEqual([]);
    expect(await lint('apps/cli', 'src/a.ts', "export * from '@hvkit/machine';\nexport * from '@hvkit/x86';")).toEqual([]);
  });

  it('lets any package use the tooling presets, but no library import an app', async () => {
    expect(await lint('packages/platform', 'vitest.config.ts', "export { hvkitProject } from '@hvkit/vitest-config';")).toEqual([]);
    expect(await lint('packages/machine', 'src/a.ts', "export * from '@hvkit/web';")).toEqual([
      "hvkit/package-boundaries: '@hvkit/machine' may not import '@hvkit/web': the package graph allows @hvkit/platform, @hvkit/mmu, @hvkit/irqchip, @hvkit/devices, @hvkit/iommu, @hvkit/x86, @hvkit/vmx, @hvkit/svm.",
    ]);
  });

  it('checks dynamic imports too', async () => {
    const messages = await lint('packages/irqchip', 'src/a.ts', "export const load = () => import('@hvkit/x86');");
    expect(messages).toHaveLength(1);
  });
});
