/**
 * Per-node NATS credentials: with the generated authorization block, nodes work
 * normally on their own subjects, and the server refuses a node that tries to
 * publish another node's heartbeat or telemetry, read another's commands, or
 * watch another's desired state.
 */
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { startNatsServer, type NatsServer } from '../../ops/src/nats-server';
import { generateFleetAuth } from '../src/nats-auth';
import { Controller } from '../src/controller';
import { encode, nodeInboxPrefix } from '../src/protocol';
import { controllerConfig, quiet, startNode, until, type SimNode } from './helpers';

jest.setTimeout(30000);

const auth = generateFleetAuth('braid', ['node-1', 'node-2'], ['ctl-1']);
const seed = (name: string) =>
  new TextEncoder().encode([...auth.nodes, ...auth.controllers].find((c) => c.name === name)!.seed);

let nats: NatsServer;
let ctl: Controller;
let ctlNc: NatsConnection;
const nodes: SimNode[] = [];
let rogue: NatsConnection;
const errors: string[] = [];

beforeAll(async () => {
  nats = await startNatsServer({ authorization: auth.authorization });
  ctlNc = await connect({ servers: [nats.url], authenticator: nkeyAuthenticator(seed('ctl-1')) });
  ctl = new Controller(controllerConfig(nats.url), { nc: ctlNc, logger: quiet });
  await ctl.start();
  await until(() => ctl.leader, 5000, 'leader');
  for (const id of ['node-1', 'node-2']) {
    const n = await startNode(nats.url, id, { nkeySeed: seed(id) });
    nodes.push(n);
    await n.agent.registered();
  }
  // node-1's credentials, used by hand as an impostor would.
  rogue = await connect({
    servers: [nats.url],
    authenticator: nkeyAuthenticator(seed('node-1')),
    inboxPrefix: nodeInboxPrefix('node-1'),
  });
  void (async () => {
    for await (const s of rogue.status())
      if (s.type === 'error') errors.push(String(s.error?.message ?? s.error));
  })();
});

afterAll(async () => {
  for (const n of nodes) await n.agent.stop();
  await rogue?.close();
  await ctl?.stop();
  await ctlNc?.close();
  await nats?.stop();
});

test('an unknown client is refused', async () => {
  await expect(
    connect({ servers: [nats.url], reconnect: false, maxReconnectAttempts: 0 }),
  ).rejects.toThrow(/Authorization|authentication/i);
});

test('nodes work normally with their own credentials: hello, telemetry, desired state, commands', async () => {
  await until(
    () => ctl.fleet.connectionView('node-1:c0') && ctl.fleet.connectionView('node-2:c0'),
    3000,
    'telemetry',
  );
  const r = await ctl.sendCommand('node-2', 'set_scheduler', {
    connection_id: 'c0',
    scheduler: 'ecf',
  });
  expect(r.ok).toBe(true);
  await ctl.store.cas(
    ctl.store.policies,
    'pp',
    { id: 'pp', match: {}, action: { subflows: 2 } },
    0,
  );
  for (const n of nodes)
    await until(
      () => n.agent.desired?.classes.some((c) => c.policy_id === 'pp'),
      5000,
      `${n.agent.nodeId} converged`,
    );
});

test('a node publishing another node’s heartbeat or telemetry is refused by the server', async () => {
  const before = ctl.fleet.nodes.get('node-2')!.lastSeen;
  const seen: string[] = [];
  const spy = ctlNc.subscribe('braid.node.node-2.hb', {
    callback: (_e, m) => void seen.push(m.subject),
  });
  await new Promise((r) => setTimeout(r, 50));
  seen.length = 0;
  rogue.publish(
    'braid.node.node-9.hb',
    encode({ v: 1, node_id: 'node-9', seq: 1, ts: Date.now(), desired_revision: 0 }),
  );
  rogue.publish(
    'braid.telemetry.node-9',
    encode({ v: 1, node_id: 'node-9', seq: 1, ts: Date.now(), connections: [] }),
  );
  await until(
    () => errors.some((e) => /Permissions Violation for Publish to "braid.node.node-9.hb"/.test(e)),
    3000,
    'publish violation',
  );
  await until(
    () =>
      errors.some((e) => /Permissions Violation for Publish to "braid.telemetry.node-9"/.test(e)),
    3000,
    'publish violation',
  );
  expect(ctl.fleet.nodes.has('node-9')).toBe(false);
  // Its own subjects still work on the same connection.
  rogue.publish(
    'braid.node.node-1.hb',
    encode({ v: 1, node_id: 'node-1', seq: 99, ts: Date.now(), desired_revision: 0 }),
  );
  await rogue.flush();
  spy.unsubscribe();
  expect(ctl.fleet.nodes.get('node-2')!.lastSeen).toBeGreaterThanOrEqual(before);
});

test('a node reading another node’s commands is refused by the server', async () => {
  const sub = rogue.subscribe('braid.cmd.node-2');
  const done = (async () => {
    try {
      for await (const _m of sub) return 'message';
      return 'closed';
    } catch (e) {
      return (e as Error).message;
    }
  })();
  const outcome = await done;
  expect(outcome).toMatch(/Permissions Violation for Subscription to "braid.cmd.node-2"/);
  // node-2 still gets its own commands, and only it.
  const r = await ctl.sendCommand('node-2', 'ping', {});
  expect(r.ok).toBe(true);
});

test('a node watching another node’s desired state is refused', async () => {
  const kv = await new Kvm(rogue).open('braid_desired', { bindOnly: true });
  await expect(
    (async () => {
      const it = await kv.watch({ key: 'node-2' });
      for await (const _e of it) return 'got node-2 state';
      return 'closed';
    })(),
  ).rejects.toThrow(/permission|timeout|TIMEOUT/i);
  // Its own key works.
  const own = await kv.watch({ key: 'node-1' });
  for await (const e of own) {
    expect(e.key).toBe('node-1');
    break;
  }
});
