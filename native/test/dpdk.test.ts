import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../ops/src/paths';
import { sweepStaleEalDirs } from '../src/dpdk';

// EAL can start once per process, so each case runs in a child process.
const cli = path.join(repoRoot(), 'dist', 'ops', 'cli', 'main.js');

function braid(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('DPDK through the addon', () => {
  test('EAL starts without hugepages and sees every virtual device', () => {
    const r = braid(
      'dpdk',
      'info',
      '--vdev',
      'net_null0',
      '--vdev',
      'net_null1',
      '--vdev',
      'net_ring0',
      '--json',
    );
    expect(r.err).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.out) as {
      version: string;
      ports: { name: string; driver: string }[];
      filePrefix: string;
    };
    expect(info.version).toMatch(/^DPDK 22\.11/);
    expect(info.ports.map((p) => p.name)).toEqual(['net_null0', 'net_null1', 'net_ring0']);
    expect(info.ports.map((p) => p.driver)).toEqual(['net_null', 'net_null', 'net_ring']);
    // The runtime directory is removed again.
    expect(fs.existsSync(path.join('/var/run/dpdk', info.filePrefix))).toBe(false);
  });

  test('no devices: zero ports', () => {
    const r = braid('dpdk', 'info', '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { ports: unknown[] }).ports).toHaveLength(0);
  });

  test('a device EAL cannot create gives a clear error and a non-zero exit', () => {
    const r = braid('dpdk', 'info', '--vdev', 'net_nosuchdriver0');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/DPDK EAL did not start/);
  });
});

test('runtime directories of Braid processes that are gone are swept, live ones kept', () => {
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  const gone = path.join('/var/run/dpdk', `braid-${dead}-abc123`);
  const mine = path.join('/var/run/dpdk', `braid-${process.pid}-abc123`);
  fs.mkdirSync(gone, { recursive: true });
  fs.mkdirSync(mine, { recursive: true });
  try {
    expect(sweepStaleEalDirs()).toContain(path.basename(gone));
    expect(fs.existsSync(gone)).toBe(false);
    expect(fs.existsSync(mine)).toBe(true);
  } finally {
    fs.rmSync(gone, { recursive: true, force: true });
    fs.rmSync(mine, { recursive: true, force: true });
  }
});
