/** Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function. */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  readonly name: string;
  readonly where: string;
  readonly selfMs: number;
  readonly selfPercent: number;
  /** Time in the function and everything it called (recursion counted once). */
  readonly totalPercent: number;
}

export function summariseProfile(file: string, root: string): { functions: HotFunction[]; totalMs: number } {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode) => {
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const where = url ? `${path.relative(root, url)}:${n.callFrame.lineNumber + 1}` : '(native)';
    const name = n.callFrame.functionName || anonymousName(url, n.callFrame.lineNumber);
    return { key: `${name}\0${where}`, name, where };
  };
  const self = new Map<string, { name: string; where: string; us: number; totalUs: number }>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(profile.samples[i] ?? -1);
    if (!node) continue;
    totalUs += dt;
    const k = keyOf(node);
    const e = self.get(k.key) ?? { name: k.name, where: k.where, us: 0, totalUs: 0 };
    e.us += dt;
    self.set(k.key, e);
    // Inclusive time: every distinct function on the stack.
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id);
      if (!n) break;
      const kk = keyOf(n);
      if (seen.has(kk.key)) continue;
      seen.add(kk.key);
      const ee = self.get(kk.key) ?? { name: kk.name, where: kk.where, us: 0, totalUs: 0 };
      ee.totalUs += dt;
      self.set(kk.key, ee);
    }
  }
  const functions = [...self.values()]
    .filter((e) => e.us > 0)
    .sort((a, b) => b.us - a.us)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, selfPercent: (100 * e.us) / totalUs, totalPercent: (100 * e.totalUs) / totalUs }));
  return { functions, totalMs: totalUs / 1000 };
}

const sources = new Map<string, string[] | null>();

/**
 * A name for an anonymous function: hvkit registers handlers as arrow functions with their
 * name as the last string argument before the arrow (`add('mov reg,rm', 2, true, 'mov r32,m32',
 * (cpu, d) => ...)`, `defineHandler(\`j${cc}\`, (cpu, d) => ...)`), so the profile can say which.
 */
function anonymousName(file: string, line: number): string {
  if (!file) return '(anonymous)';
  let lines = sources.get(file);
  if (lines === undefined) {
    try {
      lines = fs.readFileSync(file, 'utf8').split('\n');
    } catch {
      lines = null;
    }
    sources.set(file, lines);
  }
  const text = lines?.[line] ?? '';
  const head = text.slice(0, Math.max(0, text.indexOf('=>')));
  const literals = [...head.matchAll(/(['"`])((?:(?!\1).)*)\1/g)].map((m) => m[2]);
  const last = literals[literals.length - 1];
  return last ? `(handler '${last}')` : '(anonymous)';
}
