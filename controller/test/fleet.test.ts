/** The pure parts: fleet view, path health, tuning decisions, policy compilation, protocol decoding. */
import { Fleet, parseConnectionKey } from '../src/fleet';
import { compileDesired, sameDesired } from '../src/compile';
import { decode, encode } from '../src/protocol';
import { SimEngine } from '../../integration/fleet-sim/sim-engine';
import type { Policy, TelemetryBatch } from '../../schemas/gen/types';

const T = { rtt_factor: 4, loss_threshold: 0.05 };

function batch(node: string, engine: SimEngine, seq = 1): TelemetryBatch {
  return { v: 1, node_id: node, seq, ts: 1000, connections: engine.snapshot().connections };
}

test('liveness: down after N missed intervals, up again on a heartbeat', () => {
  const f = new Fleet();
  f.heartbeat({ v: 1, node_id: 'a', seq: 1, ts: 0, desired_revision: 0 }, 0);
  expect(f.sweep(500, 200, 3)).toEqual([]);
  expect(f.sweep(601, 200, 3)).toEqual(['a']);
  expect(f.sweep(900, 200, 3)).toEqual([]);
  expect(f.heartbeat({ v: 1, node_id: 'a', seq: 2, ts: 0, desired_revision: 3 }, 1000)).toBe(true);
  expect(f.nodeView('a', 1000, 200)).toEqual(
    expect.objectContaining({ status: 'up', applied_revision: 3 }),
  );
});

test('telemetry counts records and replaces the node’s connections', () => {
  const f = new Fleet();
  const e = new SimEngine({ connections: 2 });
  expect(f.telemetry(batch('a', e), 0)).toBe(6);
  expect(f.connections({ node: 'a' })).toHaveLength(2);
  e.connections.delete('c1');
  f.telemetry(batch('a', e, 2), 0);
  expect(f.connections().map((c) => c.id)).toEqual(['a:c0']);
  expect(parseConnectionKey('a:c0')).toEqual({ node: 'a', conn: 'c0' });
  expect(parseConnectionKey('nocolon')).toBeUndefined();
});

test('a path far worse than its peer is bad and its regular subflows are demoted, keeping one good', () => {
  const f = new Fleet();
  const e = new SimEngine({
    paths: [
      { local: '10.0.0.1', remote: '10.9.0.1', rtt: 100, loss: 0 },
      { local: '10.0.1.1', remote: '10.9.0.1', rtt: 1000, loss: 0 },
      { local: '10.0.2.1', remote: '10.9.0.1', rtt: 250, loss: 0.2 },
    ],
  });
  f.telemetry(batch('a', e), 0);
  // Loss counts from the first batch that showed a subflow: one batch gives
  // RTTs but no loss yet.
  const first = Object.fromEntries(f.paths(T).map((p) => [p.local_addr, p.health]));
  expect(first).toEqual({ '10.0.0.1': 'good', '10.0.1.1': 'bad', '10.0.2.1': 'degraded' });
  f.telemetry(batch('a', e, 2), 0);
  const health = Object.fromEntries(f.paths(T).map((p) => [p.local_addr, p.health]));
  expect(health).toEqual({ '10.0.0.1': 'good', '10.0.1.1': 'bad', '10.0.2.1': 'bad' });
  expect(f.tuning(T).map((a) => a.subflow)).toEqual(['1', '2']);
  // Once demoted they are not proposed again.
  for (const s of e.connections.get('c0')!.subflows) if (s.id !== '0') s.priority = 'backup';
  f.telemetry(batch('a', e, 3), 0);
  expect(f.tuning(T)).toEqual([]);
  // Alike paths are all good and nothing is done.
  const g = new Fleet();
  g.telemetry(batch('b', new SimEngine()), 0);
  expect(g.paths(T).every((p) => p.health === 'good')).toBe(true);
  expect(g.tuning(T)).toEqual([]);
});

/** One connection of node a over three paths, each to another address of
 * the same peer host, with each subflow's counters. */
function threePaths(
  ts: number,
  subs: Array<{ segs: number; acked: number; retrans: number; backup?: boolean }>,
): TelemetryBatch {
  return {
    v: 1,
    node_id: 'a',
    seq: ts,
    ts,
    connections: [
      {
        id: 'c0',
        state: 'established',
        local_addr: '10.200.1.11',
        local_port: 40000,
        remote_addr: '10.200.1.12',
        remote_port: 7000,
        subflows: subs.map((x, i) => ({
          id: String(i),
          local_addr: `10.200.${i + 1}.11`,
          local_port: 40000 + i,
          remote_addr: `10.200.${i + 1}.12`,
          remote_port: 7000,
          state: 'established',
          priority: x.backup ? 'backup' : 'regular',
          rtt: 10000,
          segs_out: x.segs,
          bytes_acked: x.acked,
          total_retrans: x.retrans,
        })),
      },
    ],
  };
}

test('losses a subflow had before the controller first saw it (its first slow start) do not make its path bad', () => {
  const f = new Fleet();
  const snap = (ts: number, segs: number[], retrans: number[]): TelemetryBatch =>
    threePaths(
      ts,
      segs.map((n, k) => ({ segs: n, acked: n * 1448, retrans: retrans[k]! })),
    );
  // The first subflow overshot the path's queue in slow start: 10 % of its
  // first segments went again, before the first batch.
  f.telemetry(snap(1000, [8000, 3000, 3000], [800, 10, 10]), 1000);
  f.telemetry(snap(2000, [12000, 7000, 7000], [802, 12, 12]), 2000);
  expect(f.paths(T).map((p) => p.health)).toEqual(['good', 'good', 'good']);
  expect(f.paths(T)[0]!.loss).toBeCloseTo(2 / 4000, 6);
  expect(f.tuning(T)).toEqual([]);
  // Losing 10 % from then on is bad.
  f.telemetry(snap(3000, [16000, 11000, 11000], [1602, 14, 14]), 3000);
  expect(f.paths(T).map((p) => p.health)).toEqual(['bad', 'good', 'good']);
  expect(f.tuning(T).map((a) => a.subflow)).toEqual(['0']);
});

test('a path that goes dark (retransmits, nothing acknowledged) is bad; paths of one connection to several peer addresses are peers', () => {
  const f = new Fleet();
  // One connection, three paths, each to another address of the same peer host.
  const snap = (acked: number[], retrans: number[]): TelemetryBatch =>
    threePaths(
      1000,
      acked.map((b, n) => ({ segs: 100000, acked: b, retrans: retrans[n]! })),
    );
  f.telemetry(snap([1e6, 1e6, 1e6], [0, 0, 0]), 0);
  expect(f.paths(T).map((p) => p.health)).toEqual(['good', 'good', 'good']);
  // Path 1 goes dark: its retransmissions grow, its acknowledged bytes do not.
  f.telemetry(snap([2e6, 1e6, 2e6], [0, 3, 0]), 1000);
  const paths = f.paths(T);
  expect(paths.map((p) => p.health)).toEqual(['good', 'bad', 'good']);
  expect(paths[1]!.stalled_subflows).toBe(1);
  const acts = f.tuning(T);
  expect(acts.map((a) => a.subflow)).toEqual(['1']);
  expect(acts[0]!.reason).toContain('stopped delivering');
  // Its retransmissions back off: a batch without one still shows it stalled
  // (nothing acknowledged since it retransmitted).
  f.telemetry(snap([2.5e6, 1e6, 2.5e6], [0, 3, 0]), 1500);
  expect(f.paths(T)[1]!.stalled_subflows).toBe(1);
  expect(f.tuning(T).map((a) => a.subflow)).toEqual(['1']);
  // It delivers again: good again.
  f.telemetry(snap([3e6, 1.5e6, 3e6], [0, 3, 0]), 2000);
  expect(f.paths(T).map((p) => p.health)).toEqual(['good', 'good', 'good']);
});

test('policies compile by node selector and priority; unchanged states compare equal', () => {
  const ps: Policy[] = [
    { id: 'low', priority: 10, nodes: ['*'], match: {}, action: { scheduler: 'default' } },
    {
      id: 'high',
      priority: 500,
      nodes: ['a'],
      match: { dst_port: 443 },
      action: { scheduler: 'redundant' },
    },
    { id: 'other', nodes: ['b'], match: {}, action: { subflows: 2 } },
  ];
  const a = compileDesired('a', ps, { congestion_control: 'olia' }, undefined, 'ctl', 1);
  expect(a.classes.map((c) => c.policy_id)).toEqual(['high', 'low']);
  expect(a.generation).toBe(1);
  expect(a.defaults).toEqual({ congestion_control: 'olia' });
  const a2 = compileDesired('a', ps, { congestion_control: 'olia' }, a, 'ctl', 2);
  expect(a2.generation).toBe(2);
  expect(sameDesired(a, a2)).toBe(true);
  expect(sameDesired(a, compileDesired('a', ps.slice(1), undefined, a, 'ctl'))).toBe(false);
});

test('decode refuses non-JSON, unknown versions and bad fields, naming them', () => {
  const nj = decode('node-heartbeat', new TextEncoder().encode('{'));
  expect(nj.ok).toBe(false);
  const v = decode(
    'node-heartbeat',
    encode({ v: 9, node_id: 'a', seq: 1, ts: 1, desired_revision: 0 }),
  );
  expect(!v.ok && v.error).toEqual(
    expect.objectContaining({ code: 'unknown_version', pointer: '/v' }),
  );
  const bad = decode(
    'node-heartbeat',
    encode({ v: 1, node_id: 'a b', seq: 1, ts: 1, desired_revision: 0 }),
  );
  expect(!bad.ok && bad.error.pointer).toBe('/node_id');
  const extra = decode(
    'node-heartbeat',
    encode({ v: 1, node_id: 'a', seq: 1, ts: 1, desired_revision: 0, x: 1 }),
  );
  expect(!extra.ok && extra.error.pointer).toBe('/x');
});

test('a demoted subflow is set regular again: a dark path once it delivers, any path after its hold; its loss then counts afresh', () => {
  const f = new Fleet();
  const snap = (ts: number, acked: number[], retrans: number[], segs: number[], backup = true) =>
    threePaths(
      ts,
      acked.map((b, n) => ({
        segs: segs[n]!,
        acked: b,
        retrans: retrans[n]!,
        backup: backup && n === 1,
      })),
    );
  f.telemetry(snap(0, [1e6, 1e6, 1e6], [0, 0, 0], [1000, 1000, 1000], false), 0);
  // Path 1 goes dark and is demoted.
  f.telemetry(snap(1000, [2e6, 1e6, 2e6], [0, 300, 0], [2000, 1300, 2000], false), 1000);
  const [act] = f.tuning(T);
  expect(act).toEqual(expect.objectContaining({ subflow: '1', dark: true }));
  const dark = { ...act!, at: 1000, holdMs: 10000, strikes: 0 };
  // Backup, still dark (its backed-off retransmissions go unanswered): it waits.
  f.telemetry(snap(2000, [3e6, 1e6, 3e6], [0, 301, 0], [3000, 1301, 3000]), 2000);
  expect(f.restorations([dark], 2000, T).restore).toEqual([]);
  // Its retransmission is acknowledged: the path delivers again, set regular at once.
  f.telemetry(snap(3000, [4e6, 1.1e6, 4e6], [0, 302, 0], [4000, 1302, 4000]), 3000);
  const r = f.restorations([dark], 3000, T).restore;
  expect(r.map((x) => x.demotion.subflow)).toEqual(['1']);
  expect(r[0]!.reason).toContain('delivers again');
  // Its loss (300 of 1300 segments, from the dark spell) still makes it bad ...
  expect(f.paths(T)[1]!.health).toBe('bad');
  // ... until it is counted afresh: set regular, rebased, it is judged by what it does now.
  f.rebase('a', 'c0', '1');
  f.telemetry(snap(4000, [5e6, 2e6, 5e6], [0, 302, 0], [5000, 1900, 5000], false), 4000);
  f.telemetry(snap(5000, [6e6, 3e6, 6e6], [0, 303, 0], [6000, 2600, 6000], false), 5000);
  expect(f.paths(T).map((p) => p.health)).toEqual(['good', 'good', 'good']);
  expect(f.tuning(T)).toEqual([]);

  // Demoted for loss (not dark): acknowledged data proves nothing; it waits its hold.
  const lossy = { ...dark, dark: false, at: 5000 };
  f.telemetry(snap(6000, [7e6, 3.1e6, 7e6], [0, 303, 0], [7000, 2601, 7000]), 6000);
  f.telemetry(snap(7000, [8e6, 3.2e6, 8e6], [0, 303, 0], [8000, 2602, 8000]), 7000);
  expect(f.restorations([lossy], 7000, T).restore).toEqual([]);
  const after = f.restorations([lossy], 15000, T).restore;
  expect(after.map((x) => x.reason)).toEqual([expect.stringContaining('backup for 10 s')]);
  // A subflow no longer backup (an operator set it) or gone is dropped from the list.
  f.telemetry(snap(8000, [9e6, 3.3e6, 9e6], [0, 303, 0], [9000, 2700, 9000], false), 8000);
  expect(f.restorations([lossy], 20000, T)).toEqual({ restore: [], gone: [lossy] });
});
