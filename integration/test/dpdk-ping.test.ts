/**
 * The DPDK path end to end, independent of TCP: a kernel namespace pings a
 * Braid port (net_af_packet on a veth) and gets ICMP echo replies; ARP
 * resolves both ways.
 */
import { braidKernelPair, kernelPing } from '../src/dpdk-testbed';
import { nsSh, Testbed } from '../src/netns';

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
