/**
 * `braid node` end to end: two node processes in network namespaces joined
 * by three veth paths (net_af_packet), SDK applications attached to each
 * over shared memory. Bytes are hashed (SHA-256) at both ends; the peer's
 * view (resets, counters) is checked, and so is the kernel's when the nodes
 * are gone and the SDK falls back to kernel MPTCP.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Testbed, nsSh } from '../src/netns';
import { braidCli, perfIn } from '../src/dpdk-testbed';
import {
  type SdkConnResult as ClientConn,
  type TwoNodes,
  sdkApp,
  twoNodes,
} from '../src/node-testbed';
import type { HostConn, HostStats } from '../../native/src/nodehost';

jest.setTimeout(180000);
// Two DPDK nodes, kernel peers and the apps share 2 cores: retry a test that
// loses a race (a broken implementation fails every attempt).
jest.retryTimes(2, { logErrorsBeforeRetry: true });

function cli(ns: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, process.execPath, braidCli(), ...args], {
    encoding: 'utf8',
    timeout: 30000,
  });
}

describe('braid node: two nodes over three paths, SDK apps on each', () => {
  let tb: Testbed;
  let n: TwoNodes;

  beforeAll(async () => {
    tb = new Testbed();
    n = await twoNodes(tb, 3, { kernelPath: true, drainMs: 15000 });
  });
  afterAll(async () => {
    await tb?.destroy();
  });

  test('100 concurrent MPTCP connections over the three paths, every one hashed end to end', async () => {
    const srv = sdkApp(tb, n.nsB, [
      'server',
      '--port',
      '7000',
      '--subflows',
      '3',
      '--socket',
      n.b.appSocket,
    ]);
    expect((await srv.waitFor('ready')).path).toBe('braid');
    const bytes = 192 * 1024;
    const cl = sdkApp(tb, n.nsA, [
      'client',
      '--host',
      n.addrsB.join(','),
      '--port',
      '7000',
      '--conns',
      '100',
      '--bytes',
      String(bytes),
      '--subflows',
      '3',
      '--socket',
      n.a.appSocket,
    ]);
    const res = (await cl.waitFor('conns', 60000)).conns as ClientConn[];
    expect(res).toHaveLength(100);
    for (const c of res) {
      expect(c.error).toBeUndefined();
      expect(c.transportPath).toBe('braid');
      expect(c.sent).toBe(bytes);
      expect(c.received).toBe(bytes);
      expect(c.echoSha).toBe(c.sentSha);
      // getInfo() once everything was written: MPTCP, the joins done.
      expect(c.info).toMatchObject({ transport: 'mptcp', mptcp: true });
      expect(c.info!.subflows).toBeGreaterThan(1);
    }
    // Fullmesh over three paths: a subflow on each.
    expect(Math.max(...res.map((c) => c.info!.subflows))).toBe(3);
    // Every path carried initial subflows.
    expect(new Set(res.map((c) => c.host))).toEqual(new Set(n.addrsB));
    // The server app hashed what it received: the same digests.
    const deadline = Date.now() + 10000;
    while (srv.lines.filter((l) => 'conn' in l).length < 100 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const got = srv.lines.filter((l) => 'conn' in l);
    expect(got).toHaveLength(100);
    for (const l of got) expect(l.error).toBeUndefined();
    expect(new Set(got.map((l) => l.sha256))).toEqual(new Set(res.map((c) => c.sentSha)));
    // Counters moved on both nodes (kernel names): every connection began
    // with MP_CAPABLE and was joined, none fell back.
    const nsA = JSON.parse(cli(n.nsA, ['nstat', '--json', '--admin-socket', n.a.adminSocket]));
    const nsB = JSON.parse(cli(n.nsB, ['nstat', '--json', '--admin-socket', n.b.adminSocket]));
    expect(nsA.MPTcpExtMPCapableSYNTX).toBeGreaterThanOrEqual(100);
    expect(nsA.MPTcpExtMPCapableSYNACKRX).toBeGreaterThanOrEqual(100);
    expect(nsB.MPTcpExtMPCapableSYNRX).toBeGreaterThanOrEqual(100);
    expect(nsB.MPTcpExtMPCapableACKRX).toBeGreaterThanOrEqual(100);
    expect(nsA.MPTcpExtMPJoinSynAckRx).toBeGreaterThanOrEqual(100);
    expect(nsB.MPTcpExtMPJoinSynRx).toBeGreaterThanOrEqual(100);
    expect(nsB.MPTcpExtMPJoinAckRx).toBeGreaterThanOrEqual(100);
    for (const c of [nsA, nsB]) {
      expect(c.MPTcpExtMPCapableFallbackACK ?? 0).toBe(0);
      expect(c.MPTcpExtMPCapableFallbackSYNACK ?? 0).toBe(0);
      expect(c.MPTcpExtDSSNoMatchTCP ?? 0).toBe(0);
    }
    expect(nsA.TcpActiveOpens).toBeGreaterThanOrEqual(200);
    expect(nsB.TcpPassiveOpens).toBeGreaterThanOrEqual(200);
    srv.child.kill('SIGTERM');
    await srv.exited;
  });

  test('MPTCP through the nodes: three subflows, one per path, a priority set mid-transfer, hashed', async () => {
    const srv = sdkApp(tb, n.nsB, [
      'server',
      '--port',
      '7050',
      '--subflows',
      '3',
      '--socket',
      n.b.appSocket,
    ]);
    await srv.waitFor('ready');
    const cl = sdkApp(tb, n.nsA, [
      'client',
      '--host',
      n.addrsB[0]!,
      '--port',
      '7050',
      '--conns',
      '4',
      '--bytes',
      String(128 * 1024),
      '--hold-ms',
      '6000',
      '--subflows',
      '3',
      '--socket',
      n.a.appSocket,
    ]);
    await cl.waitFor('midway', 60000);
    // The controller's set_subflow_priority (here through the admin
    // socket): the subflow turns backup (MP_PRIO to the peer), and the
    // telemetry and braid ss say so on both nodes.
    type Sub = {
      laddr: { port: number };
      raddr: { port: number };
      backup?: boolean;
      peerBackup?: boolean;
    };
    const mp = async (node: typeof n.a): Promise<Array<HostConn & { info: { subflows: Sub[] } }>> =>
      (
        (await node.admin({ op: 'ss', info: true })) as { connections: HostConn[] }
      ).connections.filter(
        (c) => !c.listener && c.transport === 'mptcp' && (c.info?.subflows.length ?? 0) > 1,
      ) as Array<HostConn & { info: { subflows: Sub[] } }>;
    let victim: (HostConn & { info: { subflows: Sub[] } }) | undefined;
    for (let t = 0; t < 100 && !victim; t++) {
      victim = (await mp(n.a)).find((c) => c.raddr.port === 7050 && c.info.subflows.length === 3);
      if (!victim) await new Promise((r) => setTimeout(r, 50));
    }
    expect(victim).toBeDefined();
    const id = `${victim!.worker}-${victim!.app}-${victim!.slot}-${victim!.gen}`;
    expect(
      await n.a.admin({
        op: 'command',
        command: {
          op: 'set_subflow_priority',
          args: { connection_id: id, subflow_id: '1', priority: 'backup' },
        },
      }),
    ).toEqual({ subflow: 1, priority: 'backup' });
    const tel = (await n.a.admin({ op: 'telemetry' })) as {
      connections: Array<{ id: string; subflows: Array<{ id: string; priority: string }> }>;
    };
    const snap = tel.connections.find((c) => c.id === id)!;
    expect(snap.subflows.map((s) => s.priority)).toEqual(['regular', 'backup', 'regular']);
    const ssA = cli(n.nsA, ['ss', '-M', '--admin-socket', n.a.adminSocket]);
    expect(ssA).toMatch(/\[1\] \S+ -> \S+ ESTAB backup/);
    // The peer node learnt it from MP_PRIO: that subflow is peer-backup there.
    const lport = (await mp(n.a)).find((c) => c.slot === victim!.slot)!.info.subflows[1]!.laddr
      .port;
    let peerSeen = false;
    for (let t = 0; t < 100 && !peerSeen; t++) {
      peerSeen = (await mp(n.b)).some((c) =>
        c.info.subflows.some((s) => s.raddr.port === lport && s.peerBackup === true),
      );
      if (!peerSeen) await new Promise((r) => setTimeout(r, 50));
    }
    expect(peerSeen).toBe(true);
    expect(cli(n.nsB, ['ss', '-M', '--admin-socket', n.b.adminSocket])).toContain('peer-backup');
    const res = (await cl.waitFor('conns', 60000)).conns as ClientConn[];
    for (const c of res) {
      expect(c.error).toBeUndefined();
      expect(c.echoSha).toBe(c.sentSha);
      expect(c.info).toMatchObject({ transport: 'mptcp', mptcp: true });
    }
    expect(Math.max(...res.map((c) => c.info!.subflows))).toBe(3);
    const nsB = JSON.parse(cli(n.nsB, ['nstat', '--json', '--admin-socket', n.b.adminSocket]));
    expect(nsB.MPTcpExtMPCapableSYNRX).toBeGreaterThanOrEqual(4);
    expect(nsB.MPTcpExtMPJoinSynRx).toBeGreaterThanOrEqual(4);
    expect(nsB.MPTcpExtMPPrioRx).toBeGreaterThanOrEqual(1);
    srv.child.kill('SIGTERM');
  });

  test('braid perf and braid nc as SDK applications on the nodes', async () => {
    const srv = perfIn(tb, n.nsB, ['-s', '-p', '7400', '--socket', n.b.appSocket]);
    await srv.ready;
    const cli = perfIn(tb, n.nsA, [
      '-c',
      n.addrsB[1]!,
      '-p',
      '7400',
      '-n',
      '4M',
      '--subflows',
      '1',
      '--socket',
      n.a.appSocket,
    ]);
    const [c, s] = await Promise.all([cli.result, srv.result]);
    expect(c.code).toBe(0);
    expect(c.json!.start.stack).toBe('sdk');
    expect(c.json!.end.streams[0]!.transport_path).toBe('braid');
    expect(s.json!.end.sum_received.bytes).toBe(4 << 20);
    expect(s.json!.end.streams[0]!.sha256).toBe(c.json!.end.streams[0]!.sha256);

    const l = tb.spawnIn(n.nsB, process.execPath, [
      braidCli(),
      'nc',
      '-l',
      '7401',
      '-v',
      '--socket',
      n.b.appSocket,
    ]);
    let got = '';
    l.stdout!.on('data', (d: Buffer) => (got += d.toString()));
    const lerr: string[] = [];
    l.stderr!.on('data', (d: Buffer) => lerr.push(d.toString()));
    for (let t = 0; t < 300 && !lerr.join('').includes('listening'); t++)
      await new Promise((r) => setTimeout(r, 50));
    expect(lerr.join('')).toContain('listening on 7401 (braid)');
    const out = execFileSync(
      'ip',
      [
        'netns',
        'exec',
        n.nsA,
        process.execPath,
        braidCli(),
        'nc',
        '-v',
        n.addrsB[2]!,
        '7401',
        '--socket',
        n.a.appSocket,
      ],
      {
        input: 'hello over braid\n',
        encoding: 'utf8',
        timeout: 30000,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    expect(out).toBe('');
    await new Promise<void>((r) => l.on('exit', () => r()));
    expect(got).toBe('hello over braid\n');
    expect(lerr.join('')).toContain('braid');
  });

  test('an app killed mid-transfer: its connections reset at the peer, another app is intact', async () => {
    const srv = sdkApp(tb, n.nsB, ['server', '--port', '7100', '--socket', n.b.appSocket]);
    await srv.waitFor('ready');
    const bytes = 2 << 20;
    const args = (conns: number, hold: number): string[] => [
      'client',
      '--host',
      n.addrsB.join(','),
      '--port',
      '7100',
      '--conns',
      String(conns),
      '--bytes',
      String(bytes),
      '--hold-ms',
      String(hold),
      '--subflows',
      '1',
      '--socket',
      n.a.appSocket,
    ];
    const victim = sdkApp(tb, n.nsA, args(4, 60000));
    const other = sdkApp(tb, n.nsA, args(4, 4000));
    await victim.waitFor('midway', 60000);
    await other.waitFor('midway', 60000);
    // ss shows both apps' connections established, with tcp_info.
    const ss = cli(n.nsA, ['ss', '-ti', '--admin-socket', n.a.adminSocket]);
    expect(ss).toContain('ESTAB');
    expect(ss).toContain(`${n.addrsB[0]}:7100`);
    expect(ss).toMatch(/rtt:[\d.]+\/[\d.]+ .*cwnd:\d+/);
    const before = (await n.a.admin({ op: 'ss' })) as { connections: HostConn[] };
    expect(before.connections.filter((c) => c.raddr.port === 7100)).toHaveLength(8);

    victim.child.kill('SIGKILL');
    const res = (await other.waitFor('conns', 60000)).conns as ClientConn[];
    for (const c of res) {
      expect(c.error).toBeUndefined();
      expect(c.received).toBe(bytes);
      expect(c.echoSha).toBe(c.sentSha);
    }
    // The peer app saw four resets (the victim's) and four clean ends.
    const deadline = Date.now() + 15000;
    while (srv.lines.filter((l) => 'conn' in l).length < 8 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const ends = srv.lines.filter((l) => 'conn' in l);
    expect(ends.filter((l) => l.error === 'ECONNRESET')).toHaveLength(4);
    const clean = ends.filter((l) => !l.error);
    expect(clean).toHaveLength(4);
    expect(new Set(clean.map((l) => l.sha256))).toEqual(new Set(res.map((c) => c.sentSha)));
    // Node A reclaimed the victim: counted, and its slots are gone.
    const st = (await n.a.admin({ op: 'nstat' })) as { channel: HostStats };
    expect(st.channel.workers[0]!.conns_reset_by_removal).toBeGreaterThanOrEqual(4);
    const after = (await n.a.admin({ op: 'ss' })) as { connections: HostConn[] };
    expect(after.connections.filter((c) => c.raddr.port === 7100)).toHaveLength(0);
    expect(n.a.logs.some((l) => l.msg === 'application detached')).toBe(true);
    srv.child.kill('SIGTERM');
  });

  test('SIGTERM drains: open transfers finish, the node exits cleanly', async () => {
    const srv = sdkApp(tb, n.nsB, ['server', '--port', '7200', '--socket', n.b.appSocket]);
    await srv.waitFor('ready');
    const bytes = 1 << 20;
    const cl = sdkApp(tb, n.nsA, [
      'client',
      '--host',
      n.addrsB.join(','),
      '--port',
      '7200',
      '--conns',
      '3',
      '--bytes',
      String(bytes),
      '--hold-ms',
      '1500',
      '--subflows',
      '1',
      '--socket',
      n.a.appSocket,
    ]);
    await cl.waitFor('midway', 60000);
    const prefix = JSON.parse(fs.readFileSync(n.a.configFile, 'utf8')).eal.args[0].split('=')[1];
    expect(fs.existsSync(`/var/run/dpdk/${prefix}`)).toBe(true);
    n.a.child.kill('SIGTERM');
    const res = (await cl.waitFor('conns', 60000)).conns as ClientConn[];
    for (const c of res) {
      expect(c.error).toBeUndefined();
      expect(c.transportPath).toBe('braid');
      expect(c.echoSha).toBe(c.sentSha);
      expect(c.received).toBe(bytes);
    }
    expect(await n.a.exited).toBe(0);
    const msgs = n.a.logs.map((l) => l.msg);
    expect(msgs).toContain('draining: no new connections');
    expect(msgs).toContain('drained');
    expect(fs.existsSync(`/var/run/dpdk/${prefix}`)).toBe(false);
    expect(fs.existsSync(n.a.appSocket)).toBe(false);
    srv.child.kill('SIGTERM');
  });

  test('nodes stopped: the SDK falls back to kernel MPTCP, and the kernel counts it', async () => {
    n.b.child.kill('SIGTERM');
    expect(await n.b.exited).toBe(0);
    // Same apps, same app socket paths: no node answers there any more.
    const srv = sdkApp(tb, n.nsB, ['server', '--port', '7300', '--socket', n.b.appSocket]);
    expect((await srv.waitFor('ready')).path).toBe('kernel-mptcp');
    const cl = sdkApp(tb, n.nsA, [
      'client',
      '--host',
      n.kernelB!,
      '--port',
      '7300',
      '--conns',
      '4',
      '--bytes',
      String(1 << 20),
      '--socket',
      n.a.appSocket,
    ]);
    const res = (await cl.waitFor('conns', 60000)).conns as ClientConn[];
    for (const c of res) {
      expect(c.error).toBeUndefined();
      expect(c.transportPath).toBe('kernel-mptcp');
      expect(c.echoSha).toBe(c.sentSha);
    }
    const out = nsSh(n.nsB, 'nstat', ['-asz', 'MPTcpExtMPCapableSYNRX']);
    const m = /MPTcpExtMPCapableSYNRX\s+(\d+)/.exec(out);
    expect(Number(m?.[1] ?? 0)).toBeGreaterThanOrEqual(4);
    srv.child.kill('SIGTERM');
  });
});
