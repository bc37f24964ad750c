import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../src/paths';

const bin = path.join(repoRoot(), 'ops', 'bin', 'braid');

function braid(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('braid CLI', () => {
  test('--version prints the package version', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as {
      version: string;
    };
    const r = braid('--version');
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(`braid ${pkg.version}`);
  });

  test('--help lists the commands', () => {
    const r = braid('--help');
    expect(r.code).toBe(0);
    for (const c of ['dpdk', 'sim', 'controller', 'demo']) expect(r.out).toContain(`  ${c}`);
  });

  test('an unknown command is refused with usage and exit 2', () => {
    const r = braid('frobnicate');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command "frobnicate"/);
  });

  test('dpdk info validates its options', () => {
    const r = braid('dpdk', 'info', '--memory', 'lots');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--memory must be a whole number/);
  });
});
