/**
 * A small fleet (50 simulated nodes on shared connections, real protocol) against
 * one controller: all register, beat, report telemetry, converge on a policy and
 * answer commands.
 */
import { startNatsServer, type NatsServer } from '../../ops/src/nats-server';
import type { Controller } from '../src/controller';
import { FleetSim } from '../../integration/fleet-sim/fleet';
import { api, startController, until } from './helpers';

jest.setTimeout(40000);

let nats: NatsServer;
let ctl: Controller;
let sim: FleetSim;

beforeAll(async () => {
  nats = await startNatsServer();
  ctl = await startController(nats.url, { heartbeat_interval_ms: 300, telemetry_interval_ms: 300 });
  await until(() => ctl.leader, 5000, 'leader');
  sim = new FleetSim({ servers: [nats.url], nodes: 50, nodesPerConnection: 20 });
  await sim.start();
  await sim.registered(20000);
});

afterAll(async () => {
  await sim?.stop();
  await ctl?.stop();
  await nats?.stop();
});

test('50 simulated nodes register, stay up and their telemetry reaches the API', async () => {
  const r = await until(
    async () => {
      const x = await api(ctl.url, 'GET', '/v1/nodes?status=up', { role: 'viewer' });
      return x.body.nodes?.length === 50 ? x : undefined;
    },
    10000,
    'all up',
  );
  expect(r.body.nodes[0].hello.version).toBe('fleet-sim');
  await until(() => ctl.fleet.connections().length === 50, 5000, 'telemetry from all');
  const paths = await api(ctl.url, 'GET', '/v1/paths', { role: 'viewer' });
  expect(paths.body.paths).toHaveLength(100);
});

test('a policy converges on every simulated node', async () => {
  expect(
    (
      await api(ctl.url, 'POST', '/v1/policies', {
        body: { id: 'fleet', match: {}, action: { scheduler: 'blest' } },
      })
    ).status,
  ).toBe(201);
  await until(
    () => sim.nodes.every((n) => n.agent.desired?.classes.some((c) => c.policy_id === 'fleet')),
    10000,
    'all converged',
  );
  await until(
    () =>
      [...ctl.fleet.nodes.values()].every(
        (n) => n.appliedRevision > 0 && n.appliedRevision === n.desiredRevision,
      ),
    5000,
    'applied revisions reported',
  );
});

test('commands reach the right simulated node', async () => {
  const results = await Promise.all(
    sim.nodes
      .slice(0, 10)
      .map((n) =>
        ctl.sendCommand(n.agent.nodeId, 'set_scheduler', { connection_id: 'c0', scheduler: 'ecf' }),
      ),
  );
  expect(results.every((r) => r.ok)).toBe(true);
  expect(
    sim.nodes.slice(0, 10).every((n) => n.engine.connections.get('c0')?.scheduler === 'ecf'),
  ).toBe(true);
  expect(sim.nodes[10]!.engine.connections.get('c0')?.scheduler).toBe('default');
});
