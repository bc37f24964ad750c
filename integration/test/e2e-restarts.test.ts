/**
 * End to end on the testbed with a braid node on each host, NATS and the
 * controller: NATS and the controller restarted during a hashed transfer
 * (the data path does not depend on them: the transfer completes intact, and
 * the control plane converges again: nodes up, telemetry flowing, a policy
 * written after the restarts applied on both nodes); a node restarted (its
 * applications get a clear error, a new transfer through the restarted node
 * is intact, the controller sees it up again).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { repoRoot } from '../../ops/src/paths';
import { down, restartProcess, up, type TestbedState } from '../src/testbed';

const name = `rs${process.pid % 100000}`;
const stateDir = `/tmp/braid-e2e-${process.pid}`;
let st: TestbedState;

interface App {
  lines: Array<Record<string, unknown>>;
  wait(key: string, ms: number): Promise<Record<string, unknown>>;
  kill(): void;
}

function app(host: 'client' | 'server', args: string[]): App {
  const js = path.join(repoRoot(), 'dist', 'integration', 'src', 'demo-app.js');
  const child = spawn('ip', ['netns', 'exec', st.namespaces[host], process.execPath, js, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BRAID_APP_SOCKET: st.nodes![host]!.appSocket },
  });
  const lines: Array<Record<string, unknown>> = [];
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      lines.push({ text: l });
    }
  });
  return {
    lines,
    kill: () => child.kill('SIGKILL'),
    wait: (key, ms) =>
      new Promise((resolve, reject) => {
        const t0 = Date.now();
        const tick = (): void => {
          const hit = lines.find((l) => key in l);
          if (hit) return resolve(hit);
          if (Date.now() - t0 > ms) {
            return reject(
              new Error(`${host}: no "${key}" in ${ms} ms: ${JSON.stringify(lines)} ${err}`),
            );
          }
          setTimeout(tick, 50);
        };
        tick();
      }),
  };
}

async function api<T>(p: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const r = await fetch(`${st.controller!.api}${p}`, {
    ...init,
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(3000),
  });
  return { status: r.status, body: (await r.json()) as T };
}

interface NodeView {
  id: string;
  status: string;
  telemetry_seq: number;
  desired_revision: number;
  applied_revision: number;
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms (${String(last ?? '')})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const nodesUp = (minSeq: Record<string, number> = {}) =>
  until('both nodes up with fresh telemetry', 30000, async () => {
    const r = await api<{ nodes: NodeView[] }>('/v1/nodes');
    const ids = [st.nodes!.client!.id, st.nodes!.server!.id];
    const ns = ids.map((i) => r.body.nodes.find((n) => n.id === i));
    return ns.every((n) => n && n.status === 'up' && n.telemetry_seq > (minSeq[n.id] ?? -1))
      ? (ns as NodeView[])
      : undefined;
  });

beforeAll(async () => {
  st = await up({
    name,
    stateDir,
    paths: [0, 1, 2].map(() => ({ rtt_ms: 4, loss: 0, rate_mbps: 50 })),
    clientMode: 'braid-node',
    serverMode: 'braid-node',
    controller: true,
  });
  await nodesUp();
}, 90000);

afterAll(async () => {
  await down(name, stateDir).catch(() => undefined);
  fs.rmSync(stateDir, { recursive: true, force: true });
}, 30000);

/** A hashed transfer between SDK apps on the two nodes: a server on `port`, a client for `seconds`. */
async function transfer(port: number, seconds: number) {
  const srv = app('server', ['server', '--port', String(port)]);
  await srv.wait('listening', 15000);
  const host = st.nodes!.server!.addrs[0]!;
  const cli = app('client', [
    'client',
    '--host',
    host,
    '--port',
    String(port),
    '--seconds',
    String(seconds),
  ]);
  return { srv, cli };
}

test('NATS and controller restarts during a hashed transfer: intact, and the control plane converges', async () => {
  const { srv, cli } = await transfer(7100, 14);
  expect((await cli.wait('connected', 15000)).path).toBe('braid');
  await new Promise((r) => setTimeout(r, 2000));
  await restartProcess(st, 'nats-server', stateDir, { signal: 'SIGKILL', downMs: 1500 });
  await new Promise((r) => setTimeout(r, 2000));
  await restartProcess(st, 'controller', stateDir, { signal: 'SIGKILL' });
  const c = await cli.wait('done', 40000);
  const s = await srv.wait('done', 40000);
  expect(c.done).toBe(true);
  expect(s.bytes).toBe(c.bytes);
  expect(s.sha256).toBe(c.sha256);
  expect(Number(s.bytes)).toBeGreaterThan(1e6);
  // The control plane converges: both nodes up again with new telemetry…
  const before = Object.fromEntries((await nodesUp()).map((n) => [n.id, n.telemetry_seq]));
  await nodesUp(before);
  // …and a policy written now reaches both nodes (applied == desired revision).
  const pol = await api('/v1/policies', {
    method: 'POST',
    body: JSON.stringify({
      id: `p${process.pid}`,
      match: { dst_port: 7100 },
      action: { scheduler: 'roundrobin' },
    }),
  });
  expect(pol.status).toBeLessThan(300);
  await until('the policy applied on both nodes', 30000, async () => {
    const r = await api<{ nodes: NodeView[] }>('/v1/nodes');
    const mine = r.body.nodes.filter((n) => n.id.startsWith(`${name}-`));
    return mine.length === 2 &&
      mine.every((n) => n.desired_revision > 0 && n.applied_revision === n.desired_revision)
      ? true
      : undefined;
  });
}, 120000);

test('a node restart: its applications see an error, a new transfer is intact, the controller sees it again', async () => {
  const { srv, cli } = await transfer(7200, 30);
  await cli.wait('connected', 15000);
  await new Promise((r) => setTimeout(r, 1500));
  await restartProcess(st, 'node-client', stateDir, { signal: 'SIGKILL' });
  // The client application is told (an error, not a hang)…
  const failed = await until('the client app to fail', 20000, async () =>
    cli.lines.find((l) => l.done === false),
  );
  expect(String(failed.error)).not.toBe('');
  cli.kill();
  srv.kill();
  // A new transfer through the restarted node is intact.
  const { srv: srv2, cli: cli2 } = await transfer(7201, 3);
  expect((await cli2.wait('connected', 20000)).path).toBe('braid');
  const c = await cli2.wait('done', 30000);
  const s = await srv2.wait('done', 30000);
  expect(s.sha256).toBe(c.sha256);
  expect(Number(s.bytes)).toBeGreaterThan(1e5);
  await nodesUp();
}, 120000);
