/**
 * High availability: two controller replicas on one NATS; one leads through the
 * KV lease, both serve reads; killing the leader (no release, as a crash) hands
 * over within a few seconds and nothing written before is lost. Also the tuning
 * loop, which only the leader runs.
 */
import { startNatsServer, type NatsServer } from '../../ops/src/nats-server';
import type { Controller } from '../src/controller';
import { api, startController, startNode, until, type SimNode } from './helpers';

jest.setTimeout(40000);

let nats: NatsServer;
let a: Controller;
let b: Controller;
let c: Controller | undefined;
const TUNING = {
  enabled: true,
  interval_ms: 300,
  rtt_factor: 4,
  loss_threshold: 0.05,
  restore_after_ms: 3000,
};
const nodes: SimNode[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  a = await startController(nats.url, {
    id: 'ctl-a',
    tuning: { enabled: true, interval_ms: 300, rtt_factor: 4, loss_threshold: 0.05 },
  });
  await until(() => a.leader, 5000, 'a leads');
  b = await startController(nats.url, {
    id: 'ctl-b',
    tuning: TUNING,
  });
});

afterAll(async () => {
  for (const n of nodes) await n.agent.stop();
  await a?.stop();
  await b?.stop();
  await c?.stop();
  await nats?.stop();
});

test('one leader; both replicas serve reads of the same fleet', async () => {
  const n = await startNode(nats.url, 'node-h');
  nodes.push(n);
  await n.agent.registered();
  await until(() => b.election.leaderId === 'ctl-a', 3000, 'b knows the leader');
  expect(a.leader).toBe(true);
  expect(b.leader).toBe(false);
  for (const c of [a, b]) {
    const r = await until(async () => {
      const x = await api(c.url, 'GET', '/v1/connections?node=node-h', { role: 'viewer' });
      return x.body.connections?.length ? x : undefined;
    });
    expect(r.body.connections[0].id).toBe('node-h:c0');
  }
  const ra = await api(b.url, 'GET', '/readyz', { role: null });
  expect(ra.body).toEqual(expect.objectContaining({ leader: false, leader_id: 'ctl-a' }));
});

test('killing the leader hands over within a few seconds with nothing lost', async () => {
  const n = nodes[0]!;
  const p1 = await api(a.url, 'POST', '/v1/policies', {
    body: { id: 'before', match: { app: 'x' }, action: { scheduler: 'roundrobin' } },
  });
  expect(p1.status).toBe(201);
  await until(
    () => n.agent.desired?.classes.some((c) => c.policy_id === 'before'),
    3000,
    'converged on before',
  );
  // A replica that is not the leader writes policies too (compare-and-swap keeps them safe).
  const p0 = await api(b.url, 'POST', '/v1/policies', {
    body: { id: 'from-b', match: { app: 'y' }, action: { subflows: 2 } },
  });
  expect(p0.status).toBe(201);
  await until(
    () => n.agent.desired?.classes.some((c) => c.policy_id === 'from-b'),
    3000,
    'leader compiled b’s policy',
  );

  const t0 = Date.now();
  await a.stop({ release: false });
  await until(() => b.leader, 8000, 'b takes over');
  const handover = Date.now() - t0;
  expect(handover).toBeLessThan(5000);

  const p2 = await api(b.url, 'POST', '/v1/policies', {
    body: { id: 'after', match: { app: 'z' }, action: { scheduler: 'blest' } },
  });
  expect(p2.status).toBe(201);
  await until(
    () => n.agent.desired?.classes.some((c) => c.policy_id === 'after'),
    5000,
    'converged after handover',
  );
  expect(n.agent.desired?.classes.map((c) => c.policy_id).sort()).toEqual([
    'after',
    'before',
    'from-b',
  ]);
  const audit = await api(b.url, 'GET', '/v1/audit?action=policy.create');
  expect(audit.body.records.map((r: { target: string }) => r.target)).toEqual(
    expect.arrayContaining(['before', 'from-b', 'after']),
  );
  const nodesList = await api(b.url, 'GET', '/v1/nodes');
  expect(nodesList.body.nodes.map((x: { id: string }) => x.id)).toContain('node-h');
  // Commands still flow through the new leader.
  expect((await b.sendCommand('node-h', 'ping', {})).ok).toBe(true);
});

test('the leader’s tuning loop sets subflows on a much worse path to backup, with an event and an audit record', async () => {
  const n = await startNode(nats.url, 'node-t', {
    engine: {
      paths: [
        { local: '10.1.0.2', remote: '10.2.0.2', rtt: 200, loss: 0 },
        { local: '10.1.1.2', remote: '10.2.0.2', rtt: 5000, loss: 0.2 },
      ],
    },
  });
  nodes.push(n);
  const events: string[] = [];
  const off = b.onEvents((e) => events.push(`${e.type}:${e.node_id}:${e.subflow_id ?? ''}`));
  await until(
    () => n.engine.connections.get('c0')?.subflows[1]?.priority === 'backup',
    8000,
    'subflow 1 demoted',
  );
  expect(n.engine.connections.get('c0')?.subflows[0]?.priority).toBe('regular');
  await until(() => events.includes('tuning.subflow_backup:node-t:1'), 3000, 'tuning event');
  off();
  const paths = await api(b.url, 'GET', '/v1/paths?node=node-t', { role: 'viewer' });
  expect(
    paths.body.paths.find((p: { local_addr: string }) => p.local_addr === '10.1.1.2').health,
  ).toBe('bad');
  const audit = await api(b.url, 'GET', '/v1/audit?action=subflow.priority');
  expect(audit.body.records[0]).toEqual(
    expect.objectContaining({
      role: 'controller',
      target: 'node-t:c0/1',
      after: { priority: 'backup' },
    }),
  );
});

test('the tuning loop tries a demoted subflow again after its hold, doubles the hold while its path stays bad, and a new leader carries on', async () => {
  const n = nodes.find((x) => x.engine.paths[1]?.rtt === 5000)!;
  c = await startController(nats.url, { id: 'ctl-c', tuning: TUNING });
  interface Rec {
    ts: number;
    actor: string;
    after?: { priority?: string };
    detail?: { reason?: string; strikes?: number; hold_ms?: number };
  }
  const records = async (ctl: Controller): Promise<Rec[]> => {
    const r = await api(ctl.url, 'GET', '/v1/audit?action=subflow.priority&limit=100');
    return (r.body.records as (Rec & { target: string })[])
      .filter((x) => x.target === 'node-t:c0/1')
      .sort((x, y) => y.ts - x.ts);
  };
  // b sets it regular after 3 s; the path is still bad, so it is demoted again, now for 6 s.
  const again = await until(
    async () => (await records(b)).find((r) => r.detail?.strikes === 1),
    15000,
    'demoted again with a doubled hold',
  );
  expect(again.after).toEqual({ priority: 'backup' });
  expect(again.detail?.hold_ms).toBe(6000);
  const tried = (await records(b)).find((r) => r.after?.priority === 'regular');
  expect(tried?.detail?.reason).toContain('backup for 3 s');
  // The demotion is kept in the tuning bucket, whatever becomes of the audit
  // stream: emptied here, as a busy fleet's records would push it out.
  const kvKey = Buffer.from('node-t:c0:1').toString('base64url');
  const kept = await until(
    async () => {
      const e = await b.store.tuning.get(kvKey);
      const v = e?.operation === 'PUT' ? JSON.parse(new TextDecoder().decode(e.value)) : null;
      return v?.strikes === 1 ? v : undefined;
    },
    3000,
    'the demotion in the tuning bucket',
  );
  expect(kept).toEqual(
    expect.objectContaining({
      node_id: 'node-t',
      connection_id: 'c0',
      subflow_id: '1',
      hold_ms: 6000,
      demoted_by: 'ctl-b',
    }),
  );
  await b.store.jsm.streams.purge(b.store.buckets.auditStream);
  // The path recovers; b fails (no release); c leads, takes the demotion over from
  // the tuning bucket and sets the subflow regular when its hold is over.
  n.engine.paths[1] = { ...n.engine.paths[1]!, rtt: 250, loss: 0 };
  await b.stop({ release: false });
  await until(() => c!.leader, 8000, 'c takes over');
  await until(
    () => n.engine.connections.get('c0')?.subflows[1]?.priority === 'regular',
    15000,
    'set regular again by the new leader',
  );
  const last = (await records(c))[0]!;
  expect(last.actor).toBe('ctl-c/tuning');
  expect(last.after).toEqual({ priority: 'regular' });
  expect(last.ts - again.ts).toBeGreaterThanOrEqual(6000);
  // Set regular: its record is gone from the bucket.
  await until(
    async () => (await c!.store.tuning.get(kvKey))?.operation !== 'PUT',
    3000,
    'the record removed',
  );
  // Judged afresh on a good path, it stays regular.
  await new Promise((r) => setTimeout(r, 1500));
  expect(n.engine.connections.get('c0')?.subflows[1]?.priority).toBe('regular');
});

test('a subflow that ends between the telemetry and the tuning command is no failed action', async () => {
  const n = await startNode(nats.url, 'node-g', {
    engine: {
      paths: [
        { local: '10.1.0.2', remote: '10.2.0.2', rtt: 200, loss: 0 },
        { local: '10.1.1.2', remote: '10.2.0.2', rtt: 5000, loss: 0.2 },
      ],
    },
  });
  nodes.push(n);
  // The connection closes just as the command arrives.
  const execute = n.engine.execute.bind(n.engine);
  n.engine.execute = (cmd) => {
    if (cmd.op === 'set_subflow_priority') n.engine.connections.delete('c0');
    return execute(cmd);
  };
  await until(() => n.engine.count('set_subflow_priority') > 0, 8000, 'tuning command sent');
  await new Promise((r) => setTimeout(r, 1000));
  const audit = await api(c!.url, 'GET', '/v1/audit?action=subflow.priority&limit=100');
  const mine = (audit.body.records as { target: string }[]).filter((r) =>
    r.target.startsWith('node-g:'),
  );
  expect(mine).toEqual([]);
});
