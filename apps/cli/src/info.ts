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

/**
 * The CLI and the hvkit packages it was installed with (its `@hvkit/*` dependencies), the
 * bottom of the package graph first: a package is listed after everything it depends on.
 */
export function collectPackages(): PackageInfo[] {
  const require = createRequire(import.meta.url);
  type Manifest = Partial<PackageInfo> & { dependencies?: Record<string, string> };
  const manifest = (name: string) => require(`${name}/package.json`) as Manifest;
  const hvkitDeps = (m: Manifest) => Object.keys(m.dependencies ?? {}).filter((d) => d.startsWith('@hvkit/')).sort();
  const cli = manifest('hvkit');
  const ordered: string[] = [];
  const visit = (name: string) => {
    if (ordered.includes(name)) return;
    for (const dep of hvkitDeps(manifest(name))) visit(dep);
    ordered.push(name);
  };
  for (const name of hvkitDeps(cli)) visit(name);
  const info = (name: string, m: Manifest): PackageInfo => ({ name, version: m.version ?? 'unknown', description: m.description ?? '' });
  return [info('hvkit', cli), ...ordered.map((name) => info(name, manifest(name)))];
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
