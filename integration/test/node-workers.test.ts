/**
 * `braid node` with two workers: a listening SDK application is on one
 * worker, yet every connection to its port reaches it (the node steers the
 * port to the listener's worker while it listens), over plain TCP and MPTCP.
 */
import { Testbed } from '../src/netns';
import {
  type SdkConnResult as ClientConn,
  type TwoNodes,
  sdkApp,
  twoNodes,
} from '../src/node-testbed';
import type { HostStats } from '../../native/src/nodehost';

jest.setTimeout(180000);
jest.retryTimes(2, { logErrorsBeforeRetry: true });

describe('braid node with two workers', () => {
  let tb: Testbed;
  let n: TwoNodes;

  beforeAll(async () => {
    tb = new Testbed();
    n = await twoNodes(tb, 2, { workers: 2 });
  });
  afterAll(async () => {
    await tb?.destroy();
  });

  test.each([
    ['plain TCP', '1', 7600],
    ['MPTCP', '2', 7610],
  ])('a listener on one worker gets every connection (%s)', async (_name, subflows, port) => {
    const srv = sdkApp(tb, n.nsB, [
      'server',
      '--port',
      String(port),
      '--subflows',
      subflows,
      '--socket',
      n.b.appSocket,
    ]);
    expect((await srv.waitFor('ready')).path).toBe('braid');
    const bytes = 64 * 1024;
    const conns = 24;
    const cl = sdkApp(tb, n.nsA, [
      'client',
      '--host',
      n.addrsB.join(','),
      '--port',
      String(port),
      '--conns',
      String(conns),
      '--bytes',
      String(bytes),
      '--subflows',
      subflows,
      '--socket',
      n.a.appSocket,
    ]);
    const res = (await cl.waitFor('conns', 60000)).conns as ClientConn[];
    expect(res).toHaveLength(conns);
    for (const c of res) {
      expect(c.error).toBeUndefined();
      expect(c.received).toBe(bytes);
      expect(c.echoSha).toBe(c.sentSha);
      if (subflows !== '1') expect(c.info).toMatchObject({ transport: 'mptcp', mptcp: true });
    }
    // Their source ports hash to both workers: without the steering, about
    // half of them would have met no listener.
    const st = (await n.b.admin({ op: 'nstat' })) as { channel: HostStats };
    expect(st.channel.workers).toHaveLength(2);
    const deadline = Date.now() + 10000;
    while (srv.lines.filter((l) => 'conn' in l).length < conns && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const got = srv.lines.filter((l) => 'conn' in l);
    expect(got).toHaveLength(conns);
    expect(new Set(got.map((l) => l.sha256))).toEqual(new Set(res.map((c) => c.sentSha)));
    srv.child.kill('SIGTERM');
    await srv.exited;
  });

  // Apps are handed to the workers in turn, so a second server started
  // right after the first lands on the other worker. Connections to the
  // port go to the first one's worker: the second listener would never get
  // one, so it is refused as the kernel refuses a second bind.
  test('a second listener on a port another app listens on is refused (EADDRINUSE)', async () => {
    const port = 7620;
    const args = ['server', '--port', String(port), '--socket', n.b.appSocket];
    const first = sdkApp(tb, n.nsB, args);
    expect((await first.waitFor('ready')).path).toBe('braid');
    const second = sdkApp(tb, n.nsB, args);
    expect(String((await second.waitFor('fatal')).fatal)).toMatch(/EADDRINUSE/);
    expect(await second.exited).toBe(1);
    // The first still gets every connection.
    const cl = sdkApp(tb, n.nsA, [
      'client',
      '--host',
      n.addrsB[0],
      '--port',
      String(port),
      '--conns',
      '8',
      '--bytes',
      '4096',
      '--socket',
      n.a.appSocket,
    ]);
    const res = (await cl.waitFor('conns', 60000)).conns as ClientConn[];
    expect(res).toHaveLength(8);
    for (const c of res) {
      expect(c.error).toBeUndefined();
      expect(c.echoSha).toBe(c.sentSha);
    }
    first.child.kill('SIGTERM');
    await first.exited;
  });
});
