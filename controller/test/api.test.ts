/**
 * The northbound API over real HTTP: roles, 400 with the JSON pointer, 404, 409
 * on revision conflicts, dry runs, the audit log, connection changes sent as
 * commands, SSE, and the OpenAPI document.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { startNatsServer, type NatsServer } from '../../ops/src/nats-server';
import type { Controller } from '../src/controller';
import { api, startController, startNode, until, type SimNode } from './helpers';

jest.setTimeout(30000);

let nats: NatsServer;
let ctl: Controller;
let node: SimNode;

beforeAll(async () => {
  nats = await startNatsServer();
  ctl = await startController(nats.url);
  await until(() => ctl.leader, 5000, 'leadership');
  node = await startNode(nats.url, 'node-a');
  await node.agent.registered();
  await until(() => ctl.fleet.connectionView('node-a:c0'), 3000, 'telemetry');
});

afterAll(async () => {
  await node?.agent.stop();
  await ctl?.stop();
  await nats?.stop();
});

test('health, readiness and metrics need no token; the API does', async () => {
  expect((await api(ctl.url, 'GET', '/healthz', { role: null })).status).toBe(200);
  const ready = await api(ctl.url, 'GET', '/readyz', { role: null });
  expect(ready.status).toBe(200);
  expect(ready.body).toEqual(expect.objectContaining({ ready: true, leader: true }));
  expect((await api(ctl.url, 'GET', '/v1/nodes', { role: null })).status).toBe(401);
  const bad = await api(ctl.url, 'GET', '/v1/nodes', {
    role: null,
    headers: { authorization: 'Bearer nope' },
  });
  expect(bad.status).toBe(401);
  expect(bad.body.error.code).toBe('forbidden');
});

test('roles: viewer reads, operator changes connections, admin manages policies and reads the audit', async () => {
  expect((await api(ctl.url, 'GET', '/v1/nodes', { role: 'viewer' })).status).toBe(200);
  expect(
    (
      await api(ctl.url, 'PATCH', '/v1/connections/node-a:c0', {
        role: 'viewer',
        body: { scheduler: 'blest' },
      })
    ).status,
  ).toBe(403);
  const pol = { id: 'p-roles', match: {}, action: { scheduler: 'ecf' } };
  expect((await api(ctl.url, 'POST', '/v1/policies', { role: 'operator', body: pol })).status).toBe(
    403,
  );
  expect((await api(ctl.url, 'GET', '/v1/audit', { role: 'operator' })).status).toBe(403);
  const ok = await api(ctl.url, 'PATCH', '/v1/connections/node-a:c0', {
    role: 'operator',
    body: { scheduler: 'blest' },
  });
  expect(ok.status).toBe(200);
  expect(ok.body.results[0]).toEqual(
    expect.objectContaining({ ok: true, result: { before: 'default', after: 'blest' } }),
  );
  expect(node.engine.connections.get('c0')?.scheduler).toBe('blest');
});

test('bad input is a 400 naming the field; unknown ids are 404', async () => {
  const r = await api(ctl.url, 'POST', '/v1/policies', {
    body: { id: 'p-bad', match: { dst_port: 70000 }, action: {} },
  });
  expect(r.status).toBe(400);
  expect(r.body.error.pointer).toBe('/match/dst_port');
  const notJson = await api(ctl.url, 'POST', '/v1/policies', { body: '{nope' });
  expect(notJson.status).toBe(400);
  const patch = await api(ctl.url, 'PATCH', '/v1/connections/node-a:c0', {
    body: { subflows: [{ id: '0', priority: 'sideways' }] },
  });
  expect(patch.status).toBe(400);
  expect(patch.body.error.pointer).toBe('/subflows/0/priority');
  const noSub = await api(ctl.url, 'PATCH', '/v1/connections/node-a:c0', {
    body: { subflows: [{ id: '9', priority: 'backup' }] },
  });
  expect(noSub.status).toBe(400);
  expect(noSub.body.error.pointer).toBe('/subflows/0/id');
  expect((await api(ctl.url, 'GET', '/v1/nodes/nope')).status).toBe(404);
  expect((await api(ctl.url, 'GET', '/v1/connections/node-a:nope')).status).toBe(404);
  expect((await api(ctl.url, 'GET', '/v1/policies/nope')).status).toBe(404);
  expect((await api(ctl.url, 'DELETE', '/v1/connections/node-a:c0/subflows/42')).status).toBe(404);
  expect((await api(ctl.url, 'GET', '/v1/nothing')).status).toBe(404);
});

test('policies: create, 409 on an existing id and on a stale revision, update with If-Match, delete', async () => {
  const c = await api(ctl.url, 'POST', '/v1/policies', {
    body: { id: 'p1', match: { app: 'db' }, action: { scheduler: 'redundant' } },
  });
  expect(c.status).toBe(201);
  expect(c.body.affected_nodes).toEqual(['node-a']);
  const rev = c.body.revision as number;
  expect(c.headers.get('etag')).toBe(`"${rev}"`);
  expect(
    (await api(ctl.url, 'POST', '/v1/policies', { body: { id: 'p1', match: {}, action: {} } }))
      .status,
  ).toBe(409);
  const stale = await api(ctl.url, 'PUT', '/v1/policies/p1', {
    body: { id: 'p1', match: { app: 'db' }, action: { scheduler: 'ecf' } },
    headers: { 'if-match': `"${rev - 1}"` },
  });
  expect(stale.status).toBe(409);
  expect(stale.body.error.code).toBe('conflict');
  const noRev = await api(ctl.url, 'PUT', '/v1/policies/p1', {
    body: { id: 'p1', match: {}, action: {} },
  });
  expect(noRev.status).toBe(400);
  expect(noRev.body.error.pointer).toBe('/revision');
  const upd = await api(ctl.url, 'PUT', '/v1/policies/p1', {
    body: { id: 'p1', match: { app: 'db' }, action: { scheduler: 'ecf' }, revision: rev },
  });
  expect(upd.status).toBe(200);
  expect(upd.body.revision).toBeGreaterThan(rev);
  const got = await api(ctl.url, 'GET', '/v1/policies/p1', { role: 'viewer' });
  expect(got.body.action.scheduler).toBe('ecf');
  await until(
    () =>
      node.agent.desired?.classes.some((k) => k.policy_id === 'p1' && k.action.scheduler === 'ecf'),
    3000,
    'node converged',
  );
  expect(
    (await api(ctl.url, 'DELETE', '/v1/policies/p1', { headers: { 'if-match': `"${rev}"` } }))
      .status,
  ).toBe(409);
  const del = await api(ctl.url, 'DELETE', '/v1/policies/p1');
  expect(del.status).toBe(200);
  expect((await api(ctl.url, 'GET', '/v1/policies/p1')).status).toBe(404);
});

test('dryRun shows the effect and changes nothing', async () => {
  const d = await api(ctl.url, 'POST', '/v1/policies?dryRun=true', {
    body: { id: 'p-dry', match: {}, action: { subflows: 2 } },
  });
  expect(d.status).toBe(200);
  expect(d.body).toEqual(
    expect.objectContaining({ dry_run: true, before: null, affected_nodes: ['node-a'] }),
  );
  expect((await api(ctl.url, 'GET', '/v1/policies/p-dry')).status).toBe(404);
  const before = node.engine.executed.length;
  const p = await api(ctl.url, 'PATCH', '/v1/connections/node-a:c0?dryRun=true', {
    body: { weights: { '0': 3, '1': 1 } },
  });
  expect(p.status).toBe(200);
  expect(p.body.commands).toEqual([
    {
      node_id: 'node-a',
      op: 'set_weights',
      args: { connection_id: 'c0', weights: { '0': 3, '1': 1 } },
    },
  ]);
  expect(node.engine.executed.length).toBe(before);
});

test('subflows are added and removed through the API as commands, with an idempotency key', async () => {
  const add = await api(ctl.url, 'POST', '/v1/connections/node-a:c0/subflows', {
    role: 'operator',
    body: { local_addr: '10.1.1.2', backup: true },
    headers: { 'idempotency-key': 'add-1' },
  });
  expect(add.status).toBe(200);
  const sid = add.body.results[0].result.subflow_id as string;
  const again = await api(ctl.url, 'POST', '/v1/connections/node-a:c0/subflows', {
    role: 'operator',
    body: { local_addr: '10.1.1.2', backup: true },
    headers: { 'idempotency-key': 'add-1' },
  });
  expect(again.body.results[0]).toEqual(
    expect.objectContaining({ duplicate: true, result: { subflow_id: sid } }),
  );
  expect(node.engine.count('add_subflow')).toBe(1);
  await until(
    () => ctl.fleet.connectionView('node-a:c0')?.snapshot.subflows.some((s) => s.id === sid),
    3000,
    'new subflow in telemetry',
  );
  const rm = await api(ctl.url, 'DELETE', `/v1/connections/node-a:c0/subflows/${sid}`, {
    role: 'operator',
  });
  expect(rm.status).toBe(200);
  expect(node.engine.connections.get('c0')?.subflows.some((s) => s.id === sid)).toBe(false);
  // The node reported both as lifecycle events, kept in the events stream.
  await until(
    async () => {
      const evs = await ctl.store.readEvents(50);
      const mine = evs
        .filter((e) => e.node_id === 'node-a' && e.subflow_id === sid)
        .map((e) => e.type);
      return mine.includes('subflow.open') && mine.includes('subflow.close');
    },
    3000,
    'subflow events in the stream',
  );
});

test('every mutation is in the audit log with who, what, when, before and after', async () => {
  const r = await api(ctl.url, 'GET', '/v1/audit?limit=200');
  expect(r.status).toBe(200);
  const recs = r.body.records as {
    action: string;
    actor: string;
    role: string;
    dry_run: boolean;
    outcome: string;
    target: string;
    before?: unknown;
    after?: unknown;
    ts: number;
  }[];
  const find = (action: string, dry: boolean) =>
    recs.find((x) => x.action === action && x.dry_run === dry && x.outcome === 'ok');
  expect(find('policy.create', false)).toEqual(
    expect.objectContaining({ actor: 'ada', role: 'admin', target: 'p1', before: null }),
  );
  expect(find('policy.update', false)?.before).toEqual(
    expect.objectContaining({ action: { scheduler: 'redundant' } }),
  );
  expect(find('policy.delete', false)?.after).toBeNull();
  expect(find('policy.create', true)?.target).toBe('p-dry');
  expect(find('connection.patch', false)).toEqual(
    expect.objectContaining({ actor: 'otto', role: 'operator' }),
  );
  expect(find('subflow.add', false)).toBeDefined();
  expect(recs.some((x) => x.action === 'policy.update' && x.outcome === 'error')).toBe(true);
  expect(recs.every((x) => typeof x.ts === 'number')).toBe(true);
});

test('SSE delivers events as they happen', async () => {
  const ac = new AbortController();
  const res = await fetch(`${ctl.url}/v1/events?node=node-a`, {
    headers: { authorization: 'Bearer viewer-token-0123456789' },
    signal: ac.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const reader = res.body!.getReader();
  let text = '';
  const read = async (pattern: RegExp) => {
    while (!pattern.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  };
  await read(/event: ready/);
  node.agent.publishEvent({
    type: 'connection.open',
    severity: 'info',
    connection_id: 'c9',
    message: 'opened',
  });
  await read(/connection\.open/);
  expect(text).toMatch(/"connection_id":"c9"/);
  ac.abort();
});

test('the OpenAPI document is 3.1, every $ref resolves and every schema compiles', async () => {
  const r = await api(ctl.url, 'GET', '/openapi.json', { role: null });
  expect(r.status).toBe(200);
  const doc = r.body;
  expect(doc.openapi).toBe('3.1.0');
  for (const p of [
    '/v1/nodes',
    '/v1/connections/{id}',
    '/v1/paths',
    '/v1/policies/{id}',
    '/v1/events',
    '/v1/audit',
  ]) {
    expect(doc.paths[p]).toBeDefined();
  }
  const refs: string[] = [];
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (n && typeof n === 'object') {
      for (const [k, v] of Object.entries(n)) {
        if (k === '$ref' && typeof v === 'string') refs.push(v);
        else walk(v);
      }
    }
  };
  walk(doc);
  expect(refs.length).toBeGreaterThan(20);
  for (const ref of refs) {
    expect(ref.startsWith('#/components/schemas/')).toBe(true);
    expect(doc.components.schemas[ref.slice('#/components/schemas/'.length)]).toBeDefined();
  }
  // The components compile as JSON Schema 2020-12 when bundled with the document.
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  ajv.addSchema({ $id: 'doc', components: doc.components });
  const v = ajv.compile({ $ref: 'doc#/components/schemas/policy' });
  expect(v({ id: 'x', match: {}, action: {} })).toBe(true);
  expect(v({ id: 'x', match: { dst_port: -1 }, action: {} })).toBe(false);
  for (const [path, item] of Object.entries(
    doc.paths as Record<string, Record<string, { responses: object }>>,
  )) {
    for (const op of Object.values(item))
      expect(Object.keys(op.responses).length).toBeGreaterThan(0);
    expect(path.startsWith('/')).toBe(true);
  }
});
