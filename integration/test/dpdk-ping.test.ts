/**
 * The DPDK path end to end, independent of TCP: a kernel namespace pings a
 * Braid port (net_af_packet on a veth) and gets ICMP echo replies; ARP
 * resolves both ways and is answered once however many workers share the
 * port; the port's link going down and up is seen by every worker, the
 * address is announced again, and a TCP transfer across it completes.
 */
import {
  braidKernelPair,
  kernelArping,
  kernelPing,
  perfIn,
  type BraidKernel,
} from '../src/dpdk-testbed';
import { nsSh, Testbed } from '../src/netns';
import type { RuntimeStats } from '../../native/src/runtime';

function sum(s: RuntimeStats, f: (w: RuntimeStats['workers'][number]) => number): number {
  return s.workers.reduce((a, w) => a + f(w), 0);
}

/** Wait until the port reports its link up (or down) and every worker has
 * seen `changes` link changes. */
async function waitLink(
  p: BraidKernel,
  up: boolean,
  changes: number,
  timeoutMs = 5000,
): Promise<RuntimeStats> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await p.engine.stats();
    if (s.ports[0]!.linkUp === up && s.workers.every((w) => w.link_changes >= changes)) return s;
    if (Date.now() > end) throw new Error(`link did not go ${up ? 'up' : 'down'}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

jest.setTimeout(60000);

describe('DPDK runtime: ping over net_af_packet', () => {
  let tb: Testbed;
  beforeEach(() => {
    tb = new Testbed();
  });
  afterEach(async () => {
    await tb.destroy();
  });

  test('a kernel host pings Braid and ARP resolves both ways', async () => {
    const p = await braidKernelPair(tb);
    const replies = await kernelPing(p.nsKernel, p.braidAddr, 5, 1000);
    expect(replies.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    // The kernel learned Braid's MAC (Braid answered its ARP request).
    const stats = await p.engine.stats();
    const neigh = nsSh(p.nsKernel, 'ip', ['neigh', 'show', p.braidAddr]);
    expect(neigh).toContain(stats.ports[0]!.mac);
    const net = stats.workers[0]!.net;
    expect(net.BdArpInRequests).toBeGreaterThanOrEqual(1);
    expect(net.BdArpOutReplies).toBeGreaterThanOrEqual(1);
    expect(net.IcmpInEchos).toBe(5);
    expect(net.IcmpOutEchoReps).toBe(5);
    expect(stats.ports[0]!.driver).toBe('net_af_packet');
    expect(stats.ports[0]!.linkUp).toBe(true);
    // Braid resolves the kernel by ARP itself after its cache is cleared by
    // a fresh engine: covered by the TCP tests, where Braid connects first.
    await p.engine.close();
  });

  test('with 2 workers on the port, an ARP request is answered once and both learn', async () => {
    const p = await braidKernelPair(tb, { workers: 2 });
    const mac = (await p.engine.stats()).ports[0]!.mac;
    const before = await p.engine.stats();
    for (let i = 0; i < 4; i++) {
      // arping -c 1: the kernel end sees exactly one reply, from Braid's port.
      expect(await kernelArping(p.nsKernel, p.veth.b, p.braidAddr, 300)).toEqual([mac]);
    }
    const s = await p.engine.stats();
    const d = (f: (w: RuntimeStats['workers'][number]) => number): number =>
      sum(s, f) - sum(before, f);
    expect(d((w) => w.net.BdArpInRequests)).toBe(8); // every worker saw every request
    expect(d((w) => w.net.BdArpOutReplies)).toBe(4); // one of them answered it
    expect(d((w) => w.net.BdArpInLearnOnly)).toBe(4); // the other only learned
    expect(d((w) => w.arp_copies)).toBe(4);
    // The address was announced once at start, not once per worker.
    expect(sum(s, (w) => w.net.BdArpOutGratuitous)).toBe(1);
    // A ping from the kernel: answered (one worker owns ICMP), no extra ARP.
    expect((await kernelPing(p.nsKernel, p.braidAddr, 2, 1000)).length).toBe(2);
    await p.engine.close();
  });

  test('link down and up on the kernel end: every worker sees it, Braid announces itself again, TCP rides it out', async () => {
    // Shaped to 50 Mbit/s so the transfer is still running when the link drops.
    const p = await braidKernelPair(tb, { workers: 2, afPacketExtra: 'qdisc_bypass=0' });
    tb.tbf(p.nsBraid, p.veth.a, 50);
    const server = perfIn(tb, p.nsKernel, ['--kernel', '-s', '-p', '5401']);
    await server.ready;
    const bytes = 8 << 20;
    const id = await p.engine.startJob({
      app: 'bulk-src',
      remote: p.kernelAddr,
      port: 5401,
      bytes,
      seed: 7,
    });
    const end = Date.now() + 10000;
    while (((await p.engine.pollJob(id)).conns[0]?.tcpInfo?.bytes_acked ?? 0) < 1 << 20) {
      if (Date.now() > end) throw new Error('transfer did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    const g0 = sum(await p.engine.stats(), (w) => w.net.BdArpOutGratuitous);
    nsSh(p.nsKernel, 'ip', ['link', 'set', p.veth.b, 'down']);
    const down = await waitLink(p, false, 1);
    for (const w of down.workers) expect(w.link_changes).toBe(1);
    const acked = (await p.engine.pollJob(id)).conns[0]!.tcpInfo!.bytes_acked;
    await new Promise((r) => setTimeout(r, 600));
    // Nothing crosses a link that is down.
    expect((await p.engine.pollJob(id)).conns[0]!.tcpInfo!.bytes_acked).toBe(acked);
    nsSh(p.nsKernel, 'ip', ['link', 'set', p.veth.b, 'up']);
    const up = await waitLink(p, true, 2);
    for (const w of up.workers) expect(w.link_changes).toBe(2);
    // Announced again once (by one worker) when the link came back.
    expect(sum(up, (w) => w.net.BdArpOutGratuitous)).toBe(g0 + 1);
    const r = await p.engine.waitJob(id, 60000);
    const k = await server.result;
    expect(r.conns[0]!.error).toBe('');
    expect(k.json!.end.streams[0]!.bytes).toBe(bytes);
    expect(k.json!.end.streams[0]!.sha256).toBe(r.conns[0]!.sha256);
    expect(r.conns[0]!.tcpInfo!.total_retrans).toBeGreaterThan(0);
    await p.engine.close();
  });

  test('an idle engine sleeps instead of spinning', async () => {
    const p = await braidKernelPair(tb);
    await new Promise((r) => setTimeout(r, 1000));
    const s = await p.engine.stats();
    const w = s.workers[0]!;
    expect(w.sleeps).toBeGreaterThan(100);
    // Most of the idle second was spent asleep.
    expect(w.sleep_us).toBeGreaterThan(500000);
    await p.engine.close();
  });
});
