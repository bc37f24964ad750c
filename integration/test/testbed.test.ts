/**
 * The multi-path testbed (`braid testbed`): three paths through the link
 * emulator between a kernel MPTCP client and server, status, run-time path
 * changes, clean removal also after a crash; the ECMP mode with a controller.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  cliPath,
  down,
  hostSh,
  nstat,
  perfOn,
  processAlive,
  readState,
  up,
  type TestbedState,
  type TestbedStatus,
} from '../src/testbed';
import { listNamespaces, sh } from '../src/netns';

const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-testbed-'));
afterAll(() => fs.rmSync(stateDir, { recursive: true, force: true }));
const name = `j${process.pid % 100000}`;
const ecmpName = `e${process.pid % 100000}`;

function braid(...args: string[]) {
  const r = spawnSync(process.execPath, [cliPath(), ...args], { encoding: 'utf8', timeout: 60000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Average RTT of pings from the client (from a source address), or null. */
function ping(st: TestbedState, from: string, to: string, count = 4): number | null {
  const r = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      st.namespaces.client,
      'ping',
      '-n',
      '-q',
      '-c',
      String(count),
      '-i',
      '0.2',
      '-W',
      '1',
      '-I',
      from,
      to,
    ],
    { encoding: 'utf8', timeout: 20000 },
  );
  const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  return r.status === 0 && m ? Number(m[1]) : null;
}

function emuDelivered(s: TestbedStatus): number[] {
  const e = s.emulator as { pairs: { ab: { stats: { delivered_pkts: number } } }[] };
  return e.pairs.map((p) => p.ab.stats.delivered_pkts);
}

function status(n: string): TestbedStatus {
  const r = braid('testbed', 'status', '--name', n, '--state-dir', stateDir);
  return JSON.parse(r.out) as TestbedStatus;
}

describe('braid testbed: 3 paths through the link emulator', () => {
  let st: TestbedState;

  beforeAll(async () => {
    st = await up({
      name,
      stateDir,
      paths: [0, 1, 2].map(() => ({ rtt_ms: 10, loss: 0, rate_mbps: 100 })),
    });
  }, 60000);

  afterAll(async () => {
    await down(name, stateDir).catch(() => undefined);
  });

  test('a second up with the same name is refused clearly', () => {
    const r = braid('testbed', 'up', '--name', name, '--state-dir', stateDir);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/already up/);
  });

  test('kernel MPTCP client to server: hashed end to end over all 3 paths', async () => {
    const before = emuDelivered(status(name));
    const joins0 = nstat(st.namespaces.server, 'MPTcpExtMPJoinSynRx');
    const bytes = 12 << 20;
    const server = perfOn(st, 'server', ['--kernel', '-s', '-p', '5310'], true);
    await server.ready;
    const client = perfOn(
      st,
      'client',
      ['--kernel', '-c', st.serverAddr, '-p', '5310', '-n', String(bytes)],
      true,
    );
    const [c, s] = await Promise.all([client.result, server.result]);
    expect(c.code).toBe(0);
    expect(s.code).toBe(0);
    expect(s.json!.end.streams[0]!.bytes).toBe(bytes);
    expect(s.json!.end.streams[0]!.sha256).toBe(c.json!.end.streams[0]!.sha256);
    expect(nstat(st.namespaces.server, 'MPTcpExtMPJoinSynRx') - joins0).toBe(2);
    const after = emuDelivered(status(name));
    // Every path carried a good share of the data (> 1000 packets of 12 MiB).
    for (let i = 0; i < 3; i++) expect(after[i]! - before[i]!).toBeGreaterThan(1000);
  }, 40000);

  test('status: JSON with the paths, the emulator counters and live processes', () => {
    const s = status(name);
    expect(s.up).toBe(true);
    expect(s.state!.paths).toHaveLength(3);
    expect(s.state!.paths[1]!.client.addr).toBe('10.200.2.1');
    expect(s.processes.map((p) => [p.role, p.alive])).toEqual([['emu', true]]);
    expect(s.namespaces.every((n) => n.exists)).toBe(true);
    const e = s.emulator as {
      pairs: { ab: { params: { delay_ms: number; rate_mbps: number } } }[];
    };
    expect(e.pairs).toHaveLength(3);
    expect(e.pairs[0]!.ab.params.delay_ms).toBe(5);
    expect(e.pairs[0]!.ab.params.rate_mbps).toBe(100);
    expect(s.mptcp!.client).toContain('10.200.3.1');
  });

  test('a path changed at run time (RTT, then blackholed and back)', () => {
    const base = ping(st, '10.200.2.1', st.serverAddr);
    expect(base).not.toBeNull();
    expect(base!).toBeLessThan(25);
    let r = braid(
      'testbed',
      'set',
      '--name',
      name,
      '--state-dir',
      stateDir,
      '--path',
      '1',
      '--rtt',
      '60ms',
    );
    expect(r.code).toBe(0);
    const slow = ping(st, '10.200.2.1', st.serverAddr);
    expect(slow!).toBeGreaterThanOrEqual(59);
    // Path 0 kept its RTT.
    expect(ping(st, '10.200.1.1', st.serverAddr)!).toBeLessThan(25);
    r = braid('testbed', 'set', '--name', name, '--state-dir', stateDir, '--path', '1', '--down');
    expect(r.code).toBe(0);
    expect(ping(st, '10.200.2.1', st.serverAddr, 2)).toBeNull();
    r = braid(
      'testbed',
      'set',
      '--name',
      name,
      '--state-dir',
      stateDir,
      '--path',
      '1',
      '--up',
      '--rtt',
      '10ms',
    );
    expect(r.code).toBe(0);
    expect(ping(st, '10.200.2.1', st.serverAddr)!).toBeLessThan(25);
  }, 30000);

  test('down after a crash (processes killed) removes everything', async () => {
    const emu = st.processes.find((p) => p.role === 'emu')!;
    process.kill(emu.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    expect(processAlive(emu)).toBe(false);
    expect(status(name).up).toBe(false);
    const r = braid('testbed', 'down', '--name', name, '--state-dir', stateDir);
    expect(r.code).toBe(0);
    expect(listNamespaces().filter((n) => n.startsWith(`btb-${name}-`))).toEqual([]);
    expect(readState(name, stateDir)).toBeNull();
    expect(fs.existsSync(path.join(stateDir, name))).toBe(false);
  });
});

describe('braid testbed --ecmp --controller', () => {
  let st: TestbedState;

  beforeAll(async () => {
    const r = braid(
      'testbed',
      'up',
      '--name',
      ecmpName,
      '--state-dir',
      stateDir,
      '--ecmp',
      '--paths',
      '2',
      '--rtt',
      '2ms',
      '--rate',
      '0',
      '--controller',
    );
    if (r.code !== 0) throw new Error(r.err);
    st = JSON.parse(r.out) as TestbedState;
  }, 60000);

  afterAll(async () => {
    await down(ecmpName, stateDir).catch(() => undefined);
  });

  test('one address pair: connections with different ports spread over both paths', async () => {
    expect(st.serverAddr).toBe('10.201.100.1');
    const before = emuDelivered(status(ecmpName));
    const server = perfOn(st, 'server', ['--kernel', '-s', '-p', '5320', '--connections', '16']);
    await server.ready;
    const client = perfOn(st, 'client', [
      '--kernel',
      '-c',
      st.serverAddr,
      '-p',
      '5320',
      '-P',
      '16',
      '-n',
      '128K',
      '--cport',
      '41000',
    ]);
    const [c, s] = await Promise.all([client.result, server.result]);
    expect(c.code).toBe(0);
    expect(s.code).toBe(0);
    const after = emuDelivered(status(ecmpName));
    // 16 flows hashed over 2 paths: both carry some (all on one: 1 in 32768).
    expect(after[0]! - before[0]!).toBeGreaterThan(50);
    expect(after[1]! - before[1]!).toBeGreaterThan(50);
  }, 30000);

  test('NATS is reachable from inside the hosts over the management network', () => {
    expect(st.mgmt?.subnet).toMatch(/^10\.199\.\d+\.0\/24$/);
    const url = new URL(st.controller!.natsFromHosts);
    for (const host of ['client', 'server'] as const) {
      // A NATS server greets every client with an INFO line.
      const greeting = hostSh(st, host, 'bash', [
        '-c',
        `exec 3<>/dev/tcp/${url.hostname}/${url.port}; head -c 4 <&3`,
      ]);
      expect(greeting).toBe('INFO');
    }
  });

  test('a NATS restart: the controller is ready again', async () => {
    const r = braid(
      'testbed',
      'restart',
      '--name',
      ecmpName,
      '--state-dir',
      stateDir,
      '--process',
      'nats-server',
    );
    expect(r.code).toBe(0);
    const deadline = Date.now() + 20000;
    let ok = false;
    while (!ok && Date.now() < deadline) {
      ok = (await fetch(`${st.controller!.api}/readyz`).catch(() => null))?.status === 200;
      if (!ok) await new Promise((res) => setTimeout(res, 200));
    }
    expect(ok).toBe(true);
  }, 30000);

  test('the controller answers and down stops it and its nats-server', async () => {
    expect(st.controller?.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
    const res = await fetch(`${st.controller!.api}/healthz`);
    expect(res.status).toBe(200);
    const procs = readState(ecmpName, stateDir)!.processes;
    expect(procs.map((p) => p.role).sort()).toEqual(['controller', 'emu', 'nats-server']);
    const r = braid('testbed', 'down', '--name', ecmpName, '--state-dir', stateDir);
    expect(r.code).toBe(0);
    for (const p of procs) expect(processAlive(p)).toBe(false);
    expect(listNamespaces().filter((n) => n.startsWith(`btb-${ecmpName}-`))).toEqual([]);
    expect(sh('ip', ['-o', 'link', 'show'])).not.toContain(`btb-${ecmpName}-m`);
  }, 20000);
});
