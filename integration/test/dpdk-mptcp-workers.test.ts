/**
 * An MPTCP listener on every worker of a 2-worker Braid engine (three
 * net_af_packet ports, two queue pairs each: the kernel's packet fanout
 * spreads frames over the queues with no regard for Braid's workers)
 * against kernel MPTCP clients whose `ip mptcp endpoint … subflow` adds two
 * subflows per connection. Each connection lives on the worker its first
 * SYN hashes to; its joins hash anywhere, and reach it by their token
 * (token steering): every connection has all three subflows on its owner,
 * no worker refused a join or met a segment without its socket, every join
 * SYN was steered by its token, and every byte arrived (SHA-256 at both
 * ends).
 */
import { braidKernelPaths, perfIn, type BraidKernelPaths } from '../src/dpdk-testbed';
import { nsSh, Testbed } from '../src/netns';
import { toJson } from '../../native/src/json';
import type { WorkerStats } from '../../native/src/runtime';

jest.setTimeout(180000);

const PORTS = 5;
// Long enough that the kernel has opened both extra subflows well before the end,
// even on a loaded machine (a connection that ends first has fewer to show).
const BYTES = 16 << 20;

function mibDelta(after: WorkerStats, before: WorkerStats): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.mptcp ?? {})) d[k] = v - (before.mptcp?.[k] ?? 0);
  return d;
}

describe('DPDK runtime: an MPTCP server on 2 workers, kernel MPTCP clients with 3 subflows', () => {
  let tb: Testbed;
  let p: BraidKernelPaths;

  function kernel(args: string[]): string {
    return nsSh(p.nsKernel, args[0]!, args.slice(1));
  }

  beforeAll(async () => {
    tb = new Testbed();
    p = await braidKernelPaths(tb, 3, { workers: 2 });
    kernel(['sysctl', '-q', '-w', 'net.mptcp.enabled=1']);
    kernel(['sysctl', '-q', '-w', 'net.mptcp.checksum_enabled=0']);
    kernel(['ip', 'mptcp', 'endpoint', 'flush']);
    kernel(['ip', 'mptcp', 'limits', 'set', 'subflows', '4', 'add_addr_accepted', '4']);
    for (const x of p.paths.slice(1))
      kernel(['ip', 'mptcp', 'endpoint', 'add', x.kernelAddr, 'dev', x.kernelDev, 'subflow']);
  });
  afterAll(async () => {
    await p?.engine.close();
    await tb.destroy();
  });

  /** A client port base whose stream 1 hashes to worker 0 and stream 2 to
   * worker 1 (the first subflow of a connection stays where it hashes). */
  async function portsForBothWorkers(lport: number, from: number): Promise<number> {
    for (let base = from; ; base += 2) {
      const owners = await Promise.all(
        [base, base + 1].map((rport) =>
          p.engine.call<number>('owner', { raddr: p.paths[0]!.kernelAddr, rport, lport }),
        ),
      );
      if (owners[0] === 0 && owners[1] === 1) return base;
    }
  }

  test('every subflow of a connection reaches the worker holding it', async () => {
    const ports = Array.from({ length: PORTS }, (_, i) => 5700 + i);
    const bases: number[] = [];
    for (const [i, port] of ports.entries())
      bases.push(await portsForBothWorkers(port, 40000 + 200 * i));
    const before = await p.engine.stats();
    const jobs: number[] = [];
    for (const port of ports)
      jobs.push(
        await p.engine.startJob({ app: 'bulk-sink', protocol: 'mptcp', port, workers: 'all' }),
      );
    // Every client at once: 2 connections each, one per worker.
    const clients = ports.map((port, i) =>
      perfIn(tb, p.nsKernel, [
        '--kernel',
        '--mptcp',
        '-c',
        p.paths[0]!.braidAddr,
        '-p',
        String(port),
        '-P',
        '2',
        '--cport',
        String(bases[i]),
        '-n',
        String(BYTES),
      ]),
    );
    const ks = await Promise.all(clients.map((c) => c.result));
    if (process.env.BD_DEBUG) {
      console.log(toJson(ks, 1).slice(0, 6000));
      for (const id of jobs) console.log(toJson(await p.engine.pollJob(id)).slice(0, 6000));
      const s = await p.engine.stats();
      for (const w of s.workers)
        console.log(JSON.stringify({ ...w, net: undefined, tcp: undefined }));
    }
    const rs = await Promise.all(jobs.map((id) => p.engine.waitJob(id, 60000)));
    const after = await p.engine.stats();

    const joinsOn = [0, 0];
    for (const [i, r] of rs.entries()) {
      expect(ks[i]!.code).toBe(0);
      expect(r.timedOut).toBe(false);
      const byPort = new Map(ks[i]!.json!.end.streams.map((s) => [s.local_port, s]));
      for (const w of [0, 1]) {
        const c = r.conns.find((x) => x.worker === w)!;
        expect(c.error).toBe('');
        expect(c.remotePort).toBe(bases[i]! + w);
        expect(c.bytesReceived).toBe(BYTES);
        expect(c.sha256).toBe(byPort.get(bases[i]! + w)!.sha256);
        expect(byPort.get(bases[i]! + w)!.mptcp!.fallback).toBe(false);
        // All three subflows, one per kernel address, on this worker.
        expect(c.mptcp!.fallback).toBe(false);
        const remotes = new Set(c.mptcp!.subflows.map((f) => f.remote.split(':')[0]));
        expect([...remotes].sort()).toEqual(p.paths.map((x) => x.kernelAddr).sort());
        joinsOn[w]! += c.mptcp!.subflows.length - 1;
      }
    }

    let steered = 0;
    let joinSyns = 0;
    for (const w of [0, 1]) {
      const d = mibDelta(after.workers[w]!, before.workers[w]!);
      // One connection per client on each worker, and its joins there.
      expect(d.MPTcpExtMPCapableSYNRX).toBe(PORTS);
      expect(d.MPTcpExtMPJoinAckRx).toBe(joinsOn[w]);
      expect(d.MPTcpExtMPJoinSynRx).toBe(joinsOn[w]);
      expect(d.MPTcpExtMPJoinNoTokenFound).toBe(0);
      expect(d.MPTcpExtMPJoinAckHMacFailure).toBe(0);
      // No segment reached a worker without its socket.
      expect(after.workers[w]!.tcp!.BraidDropNoSocket).toBe(
        before.workers[w]!.tcp!.BraidDropNoSocket,
      );
      expect(after.workers[w]!.join_refused - before.workers[w]!.join_refused).toBe(0);
      expect(after.workers[w]!.disp_drops - before.workers[w]!.disp_drops).toBe(0);
      steered += after.workers[w]!.join_steered - before.workers[w]!.join_steered;
      joinSyns += d.MPTcpExtMPJoinSynRx!;
      // The later segments of joined subflows went by the flow table.
      expect(after.workers[w]!.flow_steered).toBeGreaterThan(before.workers[w]!.flow_steered);
    }
    // Every MP_JOIN SYN went by its token.
    expect(joinSyns).toBe(4 * PORTS);
    expect(steered).toBe(joinSyns);
  });
});
