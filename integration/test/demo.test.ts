/**
 * `braid demo` end to end, shortened: testbed, NATS, controller, two nodes,
 * an SDK stream over the paths with one blackholed and restored; the
 * summary must show every byte intact, and nothing may be left behind.
 */
import { spawnSync } from 'node:child_process';
import { cliPath } from '../src/testbed';
import { listNamespaces, sh } from '../src/netns';

test('braid demo: every byte arrives intact across a path blackhole, and all is removed', () => {
  const name = `dm${process.pid % 100000}`;
  const r = spawnSync(
    process.execPath,
    [
      cliPath(),
      'demo',
      '--name',
      name,
      '--seconds',
      '12',
      '--blackhole-at',
      '4',
      '--restore-at',
      '8',
      '--json',
    ],
    { encoding: 'utf8', timeout: 150000 },
  );
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  let s: Record<string, unknown> = {};
  try {
    s = JSON.parse(last) as Record<string, unknown>;
  } catch {
    throw new Error(`no JSON summary (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  expect(s.errors).toEqual([]);
  expect(s.ok).toBe(true);
  expect(s.sha256_match).toBe(true);
  expect(s.transport).toBe('braid');
  expect(Number(s.bytes_received)).toBeGreaterThan(1e6);
  expect(Number(s.subflows_seen)).toBeGreaterThanOrEqual(1);
  // Bytes per path, from the controller's view of the connection (kept from
  // the last poll if the connection's telemetry ended before the summary).
  const perPath = Object.values(s.per_path_mb as Record<string, number>);
  expect(perPath.length).toBeGreaterThanOrEqual(1);
  const mb = perPath.reduce((a, b) => a + b, 0);
  expect(mb).toBeGreaterThan(0);
  // (Subflows' acknowledged bytes: what a blackholed path held is sent again
  // on another, so a little more than the application's bytes.)
  expect(mb * 1e6).toBeLessThanOrEqual(Number(s.bytes_received) * 1.1 + 1e5);
  expect(r.stdout).toContain('path 1 blackholed');
  // Whatever the controller's tuning loop did, the node carried it out.
  for (const a of s.controller_actions as Array<{ outcome: string }>) expect(a.outcome).toBe('ok');
  expect(r.status).toBe(0);
  expect(listNamespaces().filter((n) => n.startsWith(`btb-${name}-`))).toEqual([]);
  expect(sh('ip', ['-o', 'link', 'show'])).not.toContain(`btb-${name}-m`);
}, 180000);
