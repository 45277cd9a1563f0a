/**
 * scripts/bochs-conformance.mjs: how the differences between a Bochs log and an hvkit log are
 * sorted, and, where Bochs and GRUB are installed (not on CI: the runs are skipped with a
 * message), that a Multiboot image boots on Bochs from a GRUB CD and its run ends at the
 * program's triple fault with the verdict on the serial log.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bochsMissing, buildGuest, runOnBochs, toolchainAvailable } from '../index.mjs';
import { bochsDifferences, runGuestOnHvkitVmx } from '../scripts/bochs-conformance.mjs';

describe('bochsDifferences', () => {
  const bochs = ['ok a', 'FAIL b -- got 1, want 2', 'ok c', 'ok d', 'SKIP e -- not here', 'FAIL x: 1 check failed (first: b)'].join('\n');
  const hvkit = ['ok a', 'ok b', 'SKIP c -- no such feature', 'ok e', 'FAIL f -- got 3, want 4', 'PASS x'].join('\n');

  it('sorts the checks whose lines differ by kind, with Bochs as the reference', () => {
    expect(bochsDifferences(bochs, hvkit)).toEqual([
      { kind: 'differs', bochs: 'FAIL b -- got 1, want 2', hvkit: 'ok b' },
      { kind: 'not-on-hvkit', bochs: 'ok c', hvkit: 'SKIP c -- no such feature' },
      { kind: 'missing', bochs: 'ok d', hvkit: '' },
      { kind: 'extra', bochs: '', hvkit: 'FAIL f -- got 3, want 4' },
      { kind: 'final', bochs: 'FAIL x: 1 check failed (first: b)', hvkit: 'PASS x' },
    ]);
  });

  it('finds nothing when the logs agree, and ignores checks Bochs skipped', () => {
    expect(bochsDifferences('ok a\nSKIP b -- no\nPASS x\n', '# info\nok a\nok b\nPASS x\n')).toEqual([]);
  });
});

const missing = toolchainAvailable() ? bochsMissing() : ['gcc, ld or objcopy'];
if (missing.length) console.warn(`@hvkit/guests: the Bochs runs are skipped, missing: ${missing.join('; ')}`);

describe.skipIf(missing.length > 0)('on Bochs (where installed)', () => {
  it('boots smoke64 from a GRUB CD; the run ends at its triple fault with PASS on COM1', async () => {
    const guest = await buildGuest('smoke64');
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvkit-bochs-test-'));
    try {
      const lines: string[] = [];
      const run = await runOnBochs(guest.path, { name: 'smoke64', workDir, timeoutMs: 120_000, onLine: (line) => lines.push(line) });
      expect(run.ended).toBe('triple-fault');
      expect(run.serial).toMatch(/^ok UD2 raises #UD with RIP at the UD2$/m);
      expect(run.serial).toMatch(/^PASS smoke64$/m);
      expect(lines).toContain('ok UD2 raises #UD with RIP at the UD2');
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  });

  it('vmx_ept prints the same check lines on Bochs and on hvkit', async () => {
    const guest = await buildGuest('vmx_ept');
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvkit-bochs-test-'));
    try {
      const run = await runOnBochs(guest.path, { name: 'vmx_ept', workDir, timeoutMs: 120_000 });
      expect(run.serial).toMatch(/^PASS vmx_ept$/m);
      const hv = await runGuestOnHvkitVmx('vmx_ept');
      expect(bochsDifferences(run.serial, hv.serial)).toEqual([]);
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  });
});
