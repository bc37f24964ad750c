/**
 * `braid controller` and `braid ctl`: the embedded nats-server default, the
 * ctl commands against a live controller, and nats-auth's generated files.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Controller } from '../src/controller';
import { ctlMain } from '../../ops/cli/ctl';
import { controllerMain } from '../../ops/cli/controller';
import { TOKENS, controllerConfig, quiet, startNode, until, type SimNode } from './helpers';

jest.setTimeout(30000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-cli-'));
let ctl: Controller;
let node: SimNode;

async function run(
  fn: (a: string[]) => Promise<number>,
  args: string[],
): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await fn(args);
    return { code, out };
  } finally {
    spy.mockRestore();
    err.mockRestore();
  }
}

beforeAll(async () => {
  const cfg = controllerConfig('nats://unused:1');
  delete cfg.nats!.urls;
  cfg.nats!.embedded = { port: 0, data_dir: path.join(tmp, 'js') };
  ctl = new Controller(cfg, { logger: quiet });
  await ctl.start();
  await until(() => ctl.leader, 5000, 'leader');
  node = await startNode(ctl.embedded!.url, 'node-cli');
  await node.agent.registered();
  await until(() => ctl.fleet.connectionView('node-cli:c0'), 3000, 'telemetry');
});

afterAll(async () => {
  await node?.agent.stop();
  await ctl?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('with no NATS URL the controller starts its own nats-server with JetStream in the data dir', () => {
  expect(ctl.embedded).toBeDefined();
  expect(fs.existsSync(path.join(tmp, 'js', 'jetstream'))).toBe(true);
});

test('braid ctl reads and changes through the API and prints JSON', async () => {
  const base = ['--url', ctl.url, '--token', TOKENS.admin];
  const nodes = await run(ctlMain, [...base, 'nodes']);
  expect(nodes.code).toBe(0);
  expect(JSON.parse(nodes.out).nodes[0].id).toBe('node-cli');
  const conns = await run(ctlMain, [...base, 'connections', '--node', 'node-cli']);
  expect(JSON.parse(conns.out).connections[0].snapshot.subflows).toHaveLength(2);
  const set = await run(ctlMain, [
    ...base,
    'connection-set',
    'node-cli:c0',
    '--scheduler',
    'redundant',
    '--priority',
    '1=backup',
  ]);
  expect(set.code).toBe(0);
  expect(node.engine.connections.get('c0')?.scheduler).toBe('redundant');
  expect(node.engine.connections.get('c0')?.subflows[1]?.priority).toBe('backup');
  const file = path.join(tmp, 'p.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ id: 'cli-p', match: { app: 'web' }, action: { scheduler: 'blest' } }),
  );
  const dry = await run(ctlMain, [...base, 'policy-create', '--file', file, '--dry-run']);
  expect(JSON.parse(dry.out).dry_run).toBe(true);
  const made = await run(ctlMain, [...base, 'policy-create', '--file', file]);
  expect(made.code).toBe(0);
  const stale = await run(ctlMain, [...base, 'policy-delete', 'cli-p', '--revision', '999']);
  expect(stale.code).toBe(1);
  expect(JSON.parse(stale.out).error.code).toBe('conflict');
  const audit = await run(ctlMain, [...base, 'audit', '--action', 'policy.create']);
  expect(JSON.parse(audit.out).records.length).toBe(2);
  const denied = await run(ctlMain, [
    '--url',
    ctl.url,
    '--token',
    TOKENS.viewer,
    'policy-delete',
    'cli-p',
  ]);
  expect(denied.code).toBe(1);
  expect((await run(ctlMain, ['--help'])).code).toBe(0);
  expect((await run(ctlMain, [...base, 'connection-set'])).code).toBe(2);
});

test('braid controller nats-auth writes the authorization block and one seed per identity', async () => {
  const out = path.join(tmp, 'auth');
  const r = await run(controllerMain, [
    'nats-auth',
    '--out',
    out,
    '--nodes',
    'n1,n2',
    '--controllers',
    'c1',
  ]);
  expect(r.code).toBe(0);
  const conf = fs.readFileSync(path.join(out, 'authorization.conf'), 'utf8');
  expect(conf).toMatch(/authorization \{/);
  expect(conf).toMatch(/"braid\.node\.n1\.hb"/);
  expect(conf).toMatch(/allow_responses: true/);
  expect(fs.readFileSync(path.join(out, 'n2.nk'), 'utf8')).toMatch(/^SU[A-Z0-9]+\n$/);
  expect(fs.statSync(path.join(out, 'c1.nk')).mode & 0o777).toBe(0o600);
  expect((await run(controllerMain, ['--help'])).code).toBe(0);
  expect((await run(controllerMain, ['--bogus'])).code).toBe(2);
});
