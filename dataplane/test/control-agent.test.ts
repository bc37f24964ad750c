/**
 * The node side of the control plane when things go away: a node that starts
 * while NATS is down runs on its last state and converges once NATS comes; a
 * node (and controller) riding through a nats-server restart reconnect, say hello
 * again and converge to changes made meanwhile.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, startNatsServer, type NatsServer } from '../../ops/src/nats-server';
import type { Controller } from '../../controller/src/controller';
import {
  api,
  startController,
  startNode,
  until,
  type SimNode,
} from '../../controller/test/helpers';
import { ControlAgent } from '../src/control/agent';
import { SimEngine } from '../../integration/fleet-sim/sim-engine';
import { quiet } from '../../controller/test/helpers';

jest.setTimeout(40000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-agent-'));
let nats: NatsServer | undefined;
let ctl: Controller | undefined;
const nodes: SimNode[] = [];
const agents: ControlAgent[] = [];

afterAll(async () => {
  for (const a of agents) await a.stop();
  for (const n of nodes) await n.agent.stop();
  await ctl?.stop();
  await nats?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('a node started while NATS is away runs on its last state, then converges when NATS comes', async () => {
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const stateFile = path.join(tmp, 'n1.json');
  fs.writeFileSync(
    stateFile,
    JSON.stringify({
      revision: 1,
      state: {
        v: 1,
        node_id: 'n1',
        generation: 1,
        classes: [
          { policy_id: 'old', priority: 100, match: {}, action: { scheduler: 'roundrobin' } },
        ],
      },
    }),
  );
  const engine = new SimEngine();
  const agent = new ControlAgent({
    nodeId: 'n1',
    servers: [url],
    version: 't',
    ports: [{ name: 'p0', address: '10.1.0.2/24' }],
    addresses: ['10.1.0.2'],
    capabilities: [],
    telemetry: engine,
    executor: engine,
    applier: engine,
    stateFile,
    helloTimeoutMs: 500,
    logger: quiet,
  });
  agents.push(agent);
  const started = agent.start();
  await until(() => engine.applied.length === 1, 2000, 'last state restored');
  expect(agent.desired?.classes[0]?.policy_id).toBe('old');
  // Now NATS and a controller arrive, with a policy for everyone.
  nats = await startNatsServer({ port, dataDir: path.join(tmp, 'js') });
  ctl = await startController(nats.url);
  await until(() => ctl!.leader, 5000, 'leader');
  await started;
  await agent.registered();
  expect(
    (
      await api(ctl.url, 'POST', '/v1/policies', {
        body: { id: 'new', match: {}, action: { subflows: 2 } },
      })
    ).status,
  ).toBe(201);
  await until(() => agent.desired?.classes.some((c) => c.policy_id === 'new'), 15000, 'converged');
  expect(agent.desired?.classes.map((c) => c.policy_id)).toEqual(['new']);
});

test('through a nats-server restart, node and controller reconnect and the node converges', async () => {
  const n = await startNode(nats!.url, 'n2');
  nodes.push(n);
  await n.agent.registered();
  await until(
    () => n.agent.desired?.classes.some((c) => c.policy_id === 'new'),
    5000,
    'n2 converged',
  );
  const port = nats!.port;
  await nats!.kill();
  await new Promise((r) => setTimeout(r, 300));
  // While NATS is away, both keep their state.
  expect(n.agent.desired?.classes.map((c) => c.policy_id)).toEqual(['new']);
  const old = nats!;
  nats = await startNatsServer({ port, dataDir: path.join(tmp, 'js') });
  await old.stop();
  await until(
    () => !ctl!.nc.isClosed() && ctl!.nc.info !== undefined,
    5000,
    'controller reconnected',
  );
  const r = await until(
    async () => {
      const x = await api(ctl!.url, 'POST', '/v1/policies', {
        body: { id: 'later', match: { app: 'a' }, action: { scheduler: 'ecf' } },
      });
      return x.status === 201 ? x : undefined;
    },
    10000,
    'policy write after restart',
  );
  expect(r.body.revision).toBeGreaterThan(0);
  await until(
    () => n.agent.desired?.classes.some((c) => c.policy_id === 'later'),
    15000,
    'n2 converged after restart',
  );
  await until(() => ctl!.fleet.nodes.get('n2')?.status === 'up', 3000, 'n2 up');
});
