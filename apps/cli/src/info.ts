/**
 * `hvkit info`: the hvkit packages this CLI was installed with, read from their own
 * `package.json` files so the versions shown are the versions loaded.
 */
import { createRequire } from 'node:module';

export interface PackageInfo {
  name: string;
  version: string;
  description: string;
}

/** The library packages, bottom of the graph first. */
export const PACKAGE_NAMES = [
  '@hvkit/platform',
  '@hvkit/mmu',
  '@hvkit/irqchip',
  '@hvkit/devices',
  '@hvkit/iommu',
  '@hvkit/x86',
  '@hvkit/vmx',
  '@hvkit/svm',
  '@hvkit/machine',
  '@hvkit/hypervisor',
] as const;

export function collectPackages(): PackageInfo[] {
  const require = createRequire(import.meta.url);
  const read = (name: string): PackageInfo => {
    const manifest = require(`${name}/package.json`) as Partial<PackageInfo>;
    return { name, version: manifest.version ?? 'unknown', description: manifest.description ?? '' };
  };
  return [read('hvkit'), ...PACKAGE_NAMES.map(read)];
}

export function formatInfo(packages: readonly PackageInfo[], width = 100): string {
  const nameWidth = Math.max(7, ...packages.map((p) => p.name.length));
  const versionWidth = Math.max(7, ...packages.map((p) => p.version.length));
  const room = Math.max(20, width - nameWidth - versionWidth - 4);
  const clip = (s: string) => (s.length > room ? `${s.slice(0, room - 1)}…` : s);
  const lines = [
    `${'package'.padEnd(nameWidth)}  ${'version'.padEnd(versionWidth)}  description`,
    ...packages.map((p) => `${p.name.padEnd(nameWidth)}  ${p.version.padEnd(versionWidth)}  ${clip(p.description)}`),
  ];
  return `${lines.join('\n')}\n`;
}
