/**
 * Share-nothing workers and steering: with 2 workers on net_af_packet (two
 * queue pairs; the kernel's packet fanout spreads frames over both queues
 * with no regard for Braid's workers), 120 concurrent connections each live
 * on one worker, and every segment of a connection is processed by that
 * worker: per-connection segment counts on each worker add up to exactly
 * the worker's own TCP input count, no worker ever saw a segment for a
 * connection it does not have (no RST, no "no socket" drop), and frames that
 * arrived on the wrong queue were handed over to their owner.
 */
import { braidKernelPair, perfIn, type BraidKernel } from '../src/dpdk-testbed';
import { Testbed } from '../src/netns';

jest.setTimeout(120000);

describe('DPDK runtime: 2 workers, 120 concurrent connections', () => {
  let tb: Testbed;
  let p: BraidKernel;
  beforeAll(async () => {
    tb = new Testbed();
    p = await braidKernelPair(tb, { workers: 2, config: { steering: 'software' } });
  });
  afterAll(async () => {
    await p?.engine.close();
    await tb.destroy();
  });

  test('every packet of a connection is handled by its owner worker', async () => {
    const perWorker = 60;
    const bytes = 256 * 1024;
    const n = 2 * perWorker;
    const server = perfIn(tb, p.nsKernel, [
      '--kernel',
      '-s',
      '-p',
      '5501',
      '--connections',
      String(n),
    ]);
    await server.ready;
    const id = await p.engine.startJob({
      app: 'bulk-src',
      remote: p.kernelAddr,
      port: 5501,
      bytes,
      workers: 'all',
      connections: perWorker,
    });
    // All connections are open at once before the first one finishes.
    const mid = await p.engine.pollJob(id);
    expect(mid.conns.length).toBe(n);
    const r = await p.engine.waitJob(id, 90000);
    const k = await server.result;
    expect(r.timedOut).toBe(false);
    expect(k.code).toBe(0);

    // Every transfer arrived intact at the kernel.
    const kernelByPort = new Map(k.json!.end.streams.map((s) => [s.remote_port, s]));
    for (const c of r.conns) {
      expect(c.error).toBe('');
      const ks = kernelByPort.get(c.localPort!);
      expect(ks).toBeDefined();
      expect(ks!.bytes).toBe(bytes);
      expect(ks!.sha256).toBe(c.sha256);
    }

    // Each connection's local port lies in its worker's block: the owner
    // rule sends its segments to that worker.
    const blocks = [
      await p.engine.call<[number, number]>('ephBlock', { worker: 0 }),
      await p.engine.call<[number, number]>('ephBlock', { worker: 1 }),
    ];
    for (const c of r.conns) {
      const [lo, hi] = blocks[c.worker]!;
      expect(c.localPort).toBeGreaterThanOrEqual(lo);
      expect(c.localPort).toBeLessThanOrEqual(hi);
      const owner = await p.engine.call<number>('owner', {
        raddr: p.kernelAddr,
        rport: 5501,
        lport: c.localPort,
      });
      expect(owner).toBe(c.worker);
    }

    const s = await p.engine.stats();
    for (const w of [0, 1]) {
      const mine = r.conns.filter((c) => c.worker === w);
      expect(mine.length).toBe(perWorker);
      const tcp = s.workers[w]!.tcp!;
      // Segments counted per connection on this worker = every segment
      // this worker's TCP took in.
      const segsIn = mine.reduce((a, c) => a + c.tcpInfo!.segs_in, 0);
      expect(segsIn).toBe(tcp.InSegs);
      expect(tcp.BraidDropNoSocket).toBe(0);
      expect(tcp.OutRsts).toBe(0);
      expect(tcp.ActiveOpens).toBe(perWorker);
      expect(s.workers[w]!.disp_drops).toBe(0);
    }
    // The fanout put frames on the wrong queue, and they were handed over.
    const handedOver = s.workers[0]!.disp_out + s.workers[1]!.disp_out;
    expect(handedOver).toBeGreaterThan(0);
    expect(s.workers[0]!.disp_in + s.workers[1]!.disp_in).toBe(handedOver);
    expect(s.ports[0]!.rxQueues).toBe(2);
  });

  test('connections accepted by listeners on both workers go to the hashed owner', async () => {
    const port = 5502;
    // Two consecutive client ports that hash to different workers.
    let base = 40000;
    for (;;) {
      const o0 = await p.engine.call<number>('owner', {
        raddr: p.kernelAddr,
        rport: base,
        lport: port,
      });
      const o1 = await p.engine.call<number>('owner', {
        raddr: p.kernelAddr,
        rport: base + 1,
        lport: port,
      });
      if (o0 === 0 && o1 === 1) break;
      base += 2;
    }
    const before = await p.engine.stats();
    const id = await p.engine.startJob({ app: 'bulk-sink', port, workers: 'all' });
    const client = perfIn(tb, p.nsKernel, [
      '--kernel',
      '-c',
      p.braidAddr,
      '-p',
      String(port),
      '-P',
      '2',
      '--cport',
      String(base),
      '-n',
      String(4 << 20),
    ]);
    const k = await client.result;
    expect(k.code).toBe(0);
    const r = await p.engine.waitJob(id, 30000);
    const byPort = new Map(k.json!.end.streams.map((x) => [x.local_port, x.sha256]));
    for (const w of [0, 1]) {
      const c = r.conns.find((x) => x.worker === w)!;
      expect(c.error).toBe('');
      expect(c.remotePort).toBe(base + w);
      expect(c.bytesReceived).toBe(4 << 20);
      expect(c.sha256).toBe(byPort.get(base + w));
    }
    const after = await p.engine.stats();
    for (const w of [0, 1]) {
      expect(after.workers[w]!.tcp!.BraidDropNoSocket).toBe(
        before.workers[w]!.tcp!.BraidDropNoSocket,
      );
      expect(after.workers[w]!.tcp!.PassiveOpens - before.workers[w]!.tcp!.PassiveOpens).toBe(1);
    }
  });
});
