/**
 * The control plane end to end against a real nats-server: registration,
 * heartbeats and liveness, telemetry visible through the API, commands with
 * idempotency keys, desired state converging after a node restart, and
 * schema-invalid messages refused with the field named and counted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../../ops/src/nats-server';
import type { Controller } from '../src/controller';
import { SCHEMA_VERSION, decode, encode } from '../src/protocol';
import type { CommandResult, NodeHelloReply } from '../../schemas/gen/types';
import { api, startController, startNode, until, type SimNode } from './helpers';

jest.setTimeout(30000);

let nats: NatsServer;
let ctl: Controller;
let raw: NatsConnection;
const nodes: SimNode[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-cp-'));

beforeAll(async () => {
  nats = await startNatsServer();
  ctl = await startController(nats.url);
  await until(() => ctl.leader, 5000, 'leadership');
  raw = await connect({ servers: [nats.url] });
});

afterAll(async () => {
  for (const n of nodes) await n.agent.stop();
  await raw?.close();
  await ctl?.stop();
  await nats?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('a node registers with hello and is listed by the API', async () => {
  const n = await startNode(nats.url, 'node-a');
  nodes.push(n);
  await n.agent.registered();
  expect(n.agent.registration?.controller_id).toBe('ctl-1');
  expect(n.agent.registration?.heartbeat_interval_ms).toBe(200);
  const res = await until(async () => {
    const r = await api(ctl.url, 'GET', '/v1/nodes/node-a', { role: 'viewer' });
    return r.status === 200 && r.body.hello ? r : undefined;
  });
  expect(res.body.status).toBe('up');
  expect(res.body.hello.capabilities).toContain('mptcp.v1');
  // The leader records the registration in the nodes bucket.
  await until(
    async () => (await ctl.store.nodes.get('node-a'))?.operation === 'PUT',
    3000,
    'node record',
  );
});

test('telemetry is ingested and visible through the API with subflows and paths', async () => {
  const r = await until(async () => {
    const x = await api(ctl.url, 'GET', '/v1/connections?node=node-a', { role: 'viewer' });
    return x.body.connections?.length ? x : undefined;
  });
  const c = r.body.connections[0];
  expect(c.id).toBe('node-a:c0');
  expect(c.snapshot.subflows).toHaveLength(2);
  expect(c.snapshot.subflows[0]).toEqual(
    expect.objectContaining({ rtt: 200, snd_cwnd: 10, priority: 'regular' }),
  );
  expect(
    (await api(ctl.url, 'GET', '/v1/connections?app=nope', { role: 'viewer' })).body.connections,
  ).toEqual([]);
  const one = await api(ctl.url, 'GET', '/v1/connections/node-a:c0', { role: 'viewer' });
  expect(one.status).toBe(200);
  const paths = await api(ctl.url, 'GET', '/v1/paths', { role: 'viewer' });
  expect(paths.body.paths.map((p: { id: string }) => p.id)).toEqual([
    'node-a:10.1.0.2>10.2.0.2',
    'node-a:10.1.1.2>10.2.0.2',
  ]);
  const metrics = await (await fetch(`${ctl.url}/metrics`)).text();
  expect(metrics).toMatch(/braid_controller_telemetry_records_total [1-9]/);
});

test('a command goes round trip and a retried idempotency key is applied once', async () => {
  const n = nodes[0]!;
  const first = await ctl.sendCommand(
    'node-a',
    'set_scheduler',
    { connection_id: 'c0', scheduler: 'roundrobin' },
    { idempotencyKey: 'k-1' },
  );
  expect(first).toEqual(expect.objectContaining({ ok: true, duplicate: false, node_id: 'node-a' }));
  expect(first.result).toEqual({ before: 'default', after: 'roundrobin' });
  const again = await ctl.sendCommand(
    'node-a',
    'set_scheduler',
    { connection_id: 'c0', scheduler: 'roundrobin' },
    { idempotencyKey: 'k-1' },
  );
  expect(again.ok).toBe(true);
  expect(again.duplicate).toBe(true);
  expect(again.result).toEqual(first.result);
  expect(n.engine.count('set_scheduler')).toBe(1);
  // A failing command is answered with its error.
  const bad = await ctl.sendCommand('node-a', 'remove_subflow', {
    connection_id: 'zz',
    subflow_id: '0',
  });
  expect(bad.ok).toBe(false);
  expect(bad.error).toEqual(
    expect.objectContaining({ code: 'not_found', pointer: '/args/connection_id' }),
  );
  // A node that does not exist: unavailable at once.
  const none = await ctl.sendCommand('node-zz', 'ping', {});
  expect(none.error?.code).toBe('unavailable');
});

test('a schema-invalid command is answered with the field named, counted, and not run', async () => {
  const n = nodes[0]!;
  const before = n.engine.executed.length;
  const reply = await raw.request(
    'braid.cmd.node-a',
    encode({
      v: SCHEMA_VERSION,
      id: 'x1',
      idempotency_key: 'x1',
      node_id: 'node-a',
      op: 'set_scheduler',
      args: { connection_id: 'c0', scheduler: 'fastest' },
    }),
    { timeout: 2000 },
  );
  const d = decode<CommandResult>('command-result', reply.data);
  expect(d.ok).toBe(true);
  if (!d.ok) return;
  expect(d.value.ok).toBe(false);
  expect(d.value.error?.pointer).toBe('/args/scheduler');
  expect(n.engine.executed.length).toBe(before);
  expect(n.agent.stats.invalidMessages).toBeGreaterThan(0);
  // An unknown schema version is refused too.
  const v2 = await raw.request(
    'braid.cmd.node-a',
    encode({ v: 2, id: 'x2', idempotency_key: 'x2', node_id: 'node-a', op: 'ping', args: {} }),
    { timeout: 2000 },
  );
  expect(JSON.parse(new TextDecoder().decode(v2.data)).error).toEqual(
    expect.objectContaining({ code: 'unknown_version', pointer: '/v' }),
  );
});

test('a schema-invalid hello or heartbeat reaching the controller is refused, named and counted', async () => {
  const reply = await raw.request(
    'braid.node.node-x.hello',
    encode({
      v: 1,
      node_id: 'node-x',
      version: '1',
      ports: [{ name: 'p0', address: '10.0.0.1' }],
      addresses: [],
      capabilities: [],
    }),
    { timeout: 2000 },
  );
  const d = decode<NodeHelloReply>('node-hello-reply', reply.data);
  expect(d.ok && d.value.ok).toBe(false);
  if (d.ok) expect(d.value.error?.pointer).toBe('/ports/0/address');
  expect(ctl.fleet.nodes.has('node-x')).toBe(false);
  // A heartbeat claiming another node's id on its own subject is refused.
  raw.publish(
    'braid.node.node-y.hb',
    encode({ v: 1, node_id: 'node-a', seq: 1, ts: Date.now(), desired_revision: 0 }),
  );
  raw.publish(
    'braid.telemetry.node-y',
    encode({ v: 1, node_id: 'node-y', seq: 1, ts: Date.now(), connections: [{ id: 'c' }] }),
  );
  await raw.flush();
  const metrics = await until(async () => {
    const m = await (await fetch(`${ctl.url}/metrics`)).text();
    return /braid_controller_invalid_messages_total\{kind="telemetry"\} 1/.test(m) ? m : undefined;
  });
  expect(metrics).toMatch(/braid_controller_invalid_messages_total\{kind="hello"\} 1/);
  expect(metrics).toMatch(/braid_controller_invalid_messages_total\{kind="hb"\} 1/);
  expect(ctl.fleet.nodes.has('node-y')).toBe(false);
});

test('a silent node is marked down after N heartbeat intervals, and up when it comes back', async () => {
  const n = await startNode(nats.url, 'node-b');
  nodes.push(n);
  await n.agent.registered();
  await until(() => ctl.fleet.nodes.get('node-b')?.status === 'up', 3000, 'node-b up');
  const events: string[] = [];
  const off = ctl.onEvents((e) => events.push(`${e.type}:${e.node_id}`));
  await n.agent.stop();
  const t0 = Date.now();
  await until(() => ctl.fleet.nodes.get('node-b')?.status === 'down', 3000, 'node-b down');
  const took = Date.now() - t0;
  expect(took).toBeGreaterThanOrEqual(400); // 3 × 200 ms less the time since the last beat
  await until(() => events.includes('node.down:node-b'), 2000, 'node.down event');
  const r = await api(ctl.url, 'GET', '/v1/nodes?status=down', { role: 'viewer' });
  expect(r.body.nodes.map((x: { id: string }) => x.id)).toContain('node-b');
  const back = await startNode(nats.url, 'node-b');
  nodes.push(back);
  await until(() => ctl.fleet.nodes.get('node-b')?.status === 'up', 3000, 'node-b up again');
  await until(() => events.includes('node.up:node-b'), 2000, 'node.up event');
  off();
});

test('desired state: policies compile into KV, nodes converge, and a restarted node converges without replay', async () => {
  const stateFile = path.join(tmp, 'node-c.state.json');
  let n = await startNode(nats.url, 'node-c', { stateFile });
  await n.agent.registered();
  const p1 = await api(ctl.url, 'POST', '/v1/policies', {
    body: {
      id: 'bulk',
      match: { app: 'backup' },
      action: { scheduler: 'roundrobin', subflows: 4 },
    },
  });
  expect(p1.status).toBe(201);
  await until(
    () => n.agent.desired?.classes.some((c) => c.policy_id === 'bulk'),
    5000,
    'node-c converged',
  );
  expect(n.agent.desired?.classes[0]?.action).toEqual({ scheduler: 'roundrobin', subflows: 4 });
  expect(fs.existsSync(stateFile)).toBe(true);
  const rev1 = n.agent.appliedRevision;
  // The controller sees the node's applied revision through heartbeats.
  await until(
    async () => (await api(ctl.url, 'GET', '/v1/nodes/node-c')).body.applied_revision === rev1,
    3000,
    'applied revision',
  );

  // The node goes away; two changes happen; it comes back and converges to the last one only.
  await n.agent.stop();
  const p2 = await api(ctl.url, 'POST', '/v1/policies', {
    body: { id: 'video', priority: 200, match: { dst_port: 443 }, action: { scheduler: 'blest' } },
  });
  expect(p2.status).toBe(201);
  const upd = await api(ctl.url, 'PUT', '/v1/policies/bulk', {
    body: { id: 'bulk', match: { app: 'backup' }, action: { scheduler: 'redundant' } },
    headers: { 'if-match': `"${p1.body.revision}"` },
  });
  expect(upd.status).toBe(200);
  await until(
    () =>
      ctl.desired.get('node-c')?.state.classes.find((c) => c.policy_id === 'bulk')?.action
        .scheduler === 'redundant',
    3000,
    'compiled',
  );
  const latest = ctl.desired.get('node-c')!;

  n = await startNode(nats.url, 'node-c', { stateFile });
  nodes.push(n);
  // Before any NATS update it is back on its last state (from the state file).
  expect(n.engine.applied[0]?.revision).toBe(rev1);
  await until(() => n.agent.appliedRevision === latest.revision, 5000, 'restarted node converged');
  // One restore plus one convergence: the intermediate revision was never replayed.
  expect(n.engine.applied.map((a) => a.revision)).toEqual([rev1, latest.revision]);
  expect(n.agent.desired?.classes.map((c) => c.policy_id)).toEqual(['video', 'bulk']);
});

test('a desired state that fails its schema is refused whole and the last one kept', async () => {
  const n = nodes[nodes.length - 1]!;
  const keep = n.agent.appliedRevision;
  const cur = ctl.desired.get('node-c')!;
  // Write a broken value straight into KV (as a bad actor with bucket access could).
  await ctl.store.desired.update(
    'node-c',
    encode({
      ...cur.state,
      classes: [{ policy_id: 'x', priority: 1, match: {}, action: { scheduler: 'warp' } }],
    }),
    cur.revision,
  );
  await until(() => n.agent.stats.desiredRefused > 0, 3000, 'refusal');
  expect(n.agent.appliedRevision).toBe(keep);
  expect(n.agent.desired?.classes.map((c) => c.policy_id)).toEqual(['video', 'bulk']);
});
