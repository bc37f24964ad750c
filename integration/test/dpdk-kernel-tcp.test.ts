/**
 * Braid TCP on DPDK (net_af_packet on a veth) against the Linux kernel's TCP
 * in another namespace, both directions: 64 MiB hashed end to end, with and
 * without a tbf rate limit, request/response, close from either side, and a
 * reset from the kernel. The kernel peer is `braid perf --kernel`, and the
 * C bulk tool `braid-tcpbulk` (the dataplane benchmark's kernel end).
 */
import { braidKernelPair, perfIn, tcpBulkIn, type BraidKernel } from '../src/dpdk-testbed';
import { nsSh, Testbed } from '../src/netns';

jest.setTimeout(120000);

const MiB = 1 << 20;

/** Ip InReceives of the kernel in namespace ns (/proc/net/snmp). */
function kernelIpInReceives(ns: string): number {
  const ip = nsSh(ns, 'cat', ['/proc/net/snmp'])
    .split('\n')
    .filter((l) => l.startsWith('Ip:'));
  const names = ip[0]!.split(/\s+/);
  return Number(ip[1]!.split(/\s+/)[names.indexOf('InReceives')]);
}

describe('DPDK runtime: Braid TCP <-> Linux kernel TCP over veth', () => {
  let tb: Testbed;
  let p: BraidKernel;
  beforeAll(async () => {
    tb = new Testbed();
    p = await braidKernelPair(tb, { afPacketExtra: 'qdisc_bypass=0' });
  });
  afterAll(async () => {
    await p?.engine.close();
    await tb.destroy();
  });

  async function braidToKernel(bytes: number, port: number) {
    const server = perfIn(tb, p.nsKernel, ['--kernel', '-s', '-p', String(port)]);
    await server.ready;
    const id = await p.engine.startJob({
      app: 'bulk-src',
      remote: p.kernelAddr,
      port,
      bytes,
      seed: port,
    });
    const r = await p.engine.waitJob(id, 90000);
    const k = await server.result;
    return { braid: r.conns[0]!, kernel: k.json!.end.streams[0]! };
  }

  async function kernelToBraid(bytes: number, port: number) {
    const id = await p.engine.startJob({ app: 'bulk-sink', port });
    const client = perfIn(tb, p.nsKernel, [
      '--kernel',
      '-c',
      p.braidAddr,
      '-p',
      String(port),
      '-n',
      String(bytes),
    ]);
    const k = await client.result;
    const r = await p.engine.waitJob(id, 30000);
    return { braid: r.conns[0]!, kernel: k.json!.end.streams[0]!, code: k.code };
  }

  test('Braid client sends 64 MiB to a kernel server (Braid closes first); SHA-256 matches', async () => {
    const { braid, kernel } = await braidToKernel(64 * MiB, 5301);
    expect(braid.error).toBe('');
    expect(braid.done).toBe(true);
    expect(braid.bytesSent).toBe(64 * MiB);
    expect(kernel.bytes).toBe(64 * MiB);
    expect(kernel.sha256).toBeDefined();
    expect(kernel.sha256).toBe(braid.sha256);
    // Braid resolved the kernel's MAC itself (it spoke first).
    const s = await p.engine.stats();
    expect(s.workers[0]!.net.BdArpOutRequests).toBeGreaterThanOrEqual(1);
    expect(s.workers[0]!.net.BdArpInReplies).toBeGreaterThanOrEqual(1);
  });

  test('kernel client sends 64 MiB to a Braid server (the kernel closes first); SHA-256 matches', async () => {
    const ip0 = kernelIpInReceives(p.nsBraid);
    const { braid, kernel, code } = await kernelToBraid(64 * MiB, 5302);
    expect(code).toBe(0);
    expect(braid.error).toBe('');
    expect(braid.bytesReceived).toBe(64 * MiB);
    expect(braid.sha256).toBe(kernel.sha256);
    // Braid's port has a MAC of its own: the kernel under it (Braid's
    // namespace) drops the ~46000 data frames on entry, none reaches its IP
    // layer.
    expect(kernelIpInReceives(p.nsBraid) - ip0).toBeLessThan(10);
    const mac = nsSh(p.nsBraid, 'cat', [`/sys/class/net/${p.veth.a}/address`]).trim();
    expect((await p.engine.stats()).ports[0]!.mac).not.toBe(mac);
  });

  test('the C bulk tool (braid-tcpbulk) both ways, 16 MiB hashed; a hash-ahead Braid source', async () => {
    // Braid -> braid-tcpbulk sink: a source that hashed its stream before
    // it started (hashAhead; native test sim_tcp_bulk_digest_ahead_same_stream
    // checks when) reports what the kernel's reader hashed.
    const sink = tcpBulkIn(tb, p.nsKernel, 'sink', ['-p', '5311']);
    await sink.ready;
    const id = await p.engine.startJob({
      app: 'bulk-src',
      remote: p.kernelAddr,
      port: 5311,
      bytes: 16 * MiB + 5,
      seed: 9,
      hashAhead: true,
    });
    const r = (await p.engine.waitJob(id, 30000)).conns[0]!;
    const k = await sink.result;
    expect(r.error).toBe('');
    expect(k.bytes).toBe(16 * MiB + 5);
    expect(k.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.sha256).toBe(k.sha256);
    // braid-tcpbulk source -> Braid's sink: the tool sends the stream Braid's
    // source sends for the same seed.
    const bs = await p.engine.startJob({ app: 'bulk-sink', port: 5312 });
    const src = tcpBulkIn(tb, p.nsKernel, 'source', [
      '-c',
      p.braidAddr,
      '-p',
      '5312',
      '-n',
      String(16 * MiB + 5),
      '--seed',
      '9',
    ]);
    const ks = await src.result;
    const b = (await p.engine.waitJob(bs, 30000)).conns[0]!;
    expect(b.error).toBe('');
    expect(b.bytesReceived).toBe(16 * MiB + 5);
    expect(ks.sha256).toBe(k.sha256);
    expect(b.sha256).toBe(ks.sha256);
  });

  describe('through a 100 Mbit/s tbf on each side', () => {
    beforeAll(() => {
      tb.tbf(p.nsKernel, p.veth.b, 100);
      tb.tbf(p.nsBraid, p.veth.a, 100);
    });
    afterAll(() => {
      tb.tbf(p.nsKernel, p.veth.b, 10000);
      tb.tbf(p.nsBraid, p.veth.a, 10000);
    });

    test('Braid -> kernel 16 MiB, rate-limited', async () => {
      const t0 = Date.now();
      const { braid, kernel } = await braidToKernel(16 * MiB, 5303);
      expect(braid.error).toBe('');
      expect(kernel.sha256).toBe(braid.sha256);
      // 16 MiB at 100 Mbit/s takes at least 1.3 s: the shaper was in the path.
      expect(Date.now() - t0).toBeGreaterThan(1200);
    });

    test('kernel -> Braid 16 MiB, rate-limited', async () => {
      const t0 = Date.now();
      const { braid, kernel } = await kernelToBraid(16 * MiB, 5304);
      expect(braid.error).toBe('');
      expect(braid.sha256).toBe(kernel.sha256);
      expect(Date.now() - t0).toBeGreaterThan(1200);
    });
  });

  test('request/response: Braid client against a kernel server', async () => {
    const server = perfIn(tb, p.nsKernel, [
      '--kernel',
      '-s',
      '-p',
      '5305',
      '--mode',
      'rr',
      '--req',
      '64',
      '--resp',
      '1024',
    ]);
    await server.ready;
    const id = await p.engine.startJob({
      app: 'rr-client',
      remote: p.kernelAddr,
      port: 5305,
      reqSize: 64,
      respSize: 1024,
      count: 2000,
    });
    const r = await p.engine.waitJob(id, 60000);
    const c = r.conns[0]!;
    expect(c.error).toBe('');
    expect(c.latency!.count).toBe(2000);
    expect(c.latency!.p50Us).toBeGreaterThan(0);
    expect(c.latency!.p99Us).toBeGreaterThanOrEqual(c.latency!.p50Us);
    const k = await server.result;
    expect(k.json!.end.streams[0]!.bytes).toBe(2000 * 64);
  });

  test('request/response: kernel client against a Braid server', async () => {
    const id = await p.engine.startJob({
      app: 'rr-server',
      port: 5306,
      reqSize: 64,
      respSize: 1024,
    });
    const client = perfIn(tb, p.nsKernel, [
      '--kernel',
      '-c',
      p.braidAddr,
      '-p',
      '5306',
      '--mode',
      'rr',
      '--req',
      '64',
      '--resp',
      '1024',
      '--count',
      '2000',
    ]);
    const k = await client.result;
    expect(k.code).toBe(0);
    expect(k.json!.end.rr!.transactions).toBe(2000);
    const r = await p.engine.waitJob(id, 30000);
    expect(r.conns[0]!.error).toBe('');
  });

  test('a reset from the kernel ends the Braid connection with ECONNRESET', async () => {
    const server = perfIn(tb, p.nsKernel, [
      '--kernel',
      '-s',
      '-p',
      '5307',
      '--rst-after',
      String(MiB),
    ]);
    await server.ready;
    const id = await p.engine.startJob({
      app: 'bulk-src',
      remote: p.kernelAddr,
      port: 5307,
      bytes: 64 * MiB,
    });
    const r = await p.engine.waitJob(id, 60000);
    const c = r.conns[0]!;
    expect(r.timedOut).toBe(false);
    expect(c.done).toBe(true);
    expect(c.error).toBe('ECONNRESET');
    expect(c.bytesSent).toBeLessThan(64 * MiB);
    await server.result;
    const s = await p.engine.stats();
    expect(s.workers[0]!.tcp!.EstabResets).toBeGreaterThanOrEqual(1);
  });

  test('connecting to a closed kernel port is refused', async () => {
    const id = await p.engine.startJob({
      app: 'bulk-src',
      remote: p.kernelAddr,
      port: 5399,
      bytes: MiB,
    });
    const r = await p.engine.waitJob(id, 20000);
    expect(r.conns[0]!.error).toBe('ECONNREFUSED');
  });
});

describe('DPDK runtime: port MTU and gateway from config', () => {
  let tb: Testbed;
  let p: BraidKernel;
  beforeAll(async () => {
    tb = new Testbed();
    p = await braidKernelPair(tb, { mtu: 1400, viaGateway: true });
    // An address of the kernel host outside Braid's subnet: reachable only
    // through the gateway.
    nsSh(p.nsKernel, 'ip', ['addr', 'add', '192.0.2.77/32', 'dev', 'lo']);
  });
  afterAll(async () => {
    await p?.engine.close();
    await tb.destroy();
  });

  test('MTU 1400: Braid advertises a 1360-byte MSS and 8 MiB from the kernel arrive intact', async () => {
    const s = await p.engine.stats();
    expect(s.ports[0]!.mtu).toBe(1400);
    const sink = await p.engine.startJob({ app: 'bulk-sink', port: 5311 });
    const client = perfIn(tb, p.nsKernel, [
      '--kernel',
      '-c',
      p.braidAddr,
      '-p',
      '5311',
      '-n',
      String(8 * MiB),
    ]);
    const k = await client.result;
    const r = await p.engine.waitJob(sink, 30000);
    expect(r.conns[0]!.sha256).toBe(k.json!.end.streams[0]!.sha256);
    expect(r.conns[0]!.tcpInfo!.advmss).toBeLessThanOrEqual(1360);
    expect(r.conns[0]!.tcpInfo!.rcv_mss).toBeLessThanOrEqual(1360);
  });

  test('an off-subnet destination is reached through the gateway', async () => {
    const server = perfIn(tb, p.nsKernel, ['--kernel', '-s', '-p', '5312']);
    await server.ready;
    const id = await p.engine.startJob({
      app: 'bulk-src',
      remote: '192.0.2.77',
      port: 5312,
      bytes: 4 * MiB,
    });
    const r = await p.engine.waitJob(id, 30000);
    const k = await server.result;
    expect(r.conns[0]!.error).toBe('');
    expect(k.json!.end.streams[0]!.sha256).toBe(r.conns[0]!.sha256);
    expect(r.conns[0]!.tcpInfo!.snd_mss).toBeLessThanOrEqual(1360);
  });
});

describe('DPDK runtime: a jumbo MTU over af_packet', () => {
  let tb: Testbed;
  let p: BraidKernel;
  beforeAll(async () => {
    tb = new Testbed();
    // braidKernelPair gives Braid's port ring frames for the MTU
    // (afPacketVdev with the MTU) and the kernel's veth end the same MTU.
    p = await braidKernelPair(tb, { mtu: 9000 });
  });
  afterAll(async () => {
    await p?.engine.close();
    await tb.destroy();
  });

  test('MTU 9000: 8960-byte segments both ways, 16 MiB hashed each way, payload sent from the send ring', async () => {
    const s = await p.engine.stats();
    expect(s.ports[0]!.mtu).toBe(9000);
    expect(s.ports[0]!.txRef).toBe(true);
    // Braid gave its own veth end the MTU.
    expect(nsSh(p.nsBraid, 'cat', [`/sys/class/net/${p.veth.a}/mtu`]).trim()).toBe('9000');
    const rx0 = Number(nsSh(p.nsKernel, 'cat', [`/sys/class/net/${p.veth.b}/statistics/rx_bytes`]));
    const rxp0 = Number(
      nsSh(p.nsKernel, 'cat', [`/sys/class/net/${p.veth.b}/statistics/rx_packets`]),
    );
    const ksink = tcpBulkIn(tb, p.nsKernel, 'sink', ['-p', '5321']);
    await ksink.ready;
    const id = await p.engine.startJob({
      app: 'bulk-src',
      remote: p.kernelAddr,
      port: 5321,
      bytes: 16 * MiB,
      seed: 21,
      hashAhead: true,
    });
    const out = (await p.engine.waitJob(id, 30000)).conns[0]!;
    const k = await ksink.result;
    expect(out.error).toBe('');
    expect(k.bytes).toBe(16 * MiB);
    expect(out.sha256).toBe(k.sha256);
    expect(out.tcpInfo!.snd_mss).toBeGreaterThan(8900);
    expect(out.tcpInfo!.snd_mss).toBeLessThanOrEqual(8960);
    // Frames of the whole MTU reached the kernel: over 16 MiB in fewer
    // than 2000 data frames would be impossible at 1500.
    const bytesIn =
      Number(nsSh(p.nsKernel, 'cat', [`/sys/class/net/${p.veth.b}/statistics/rx_bytes`])) - rx0;
    const framesIn =
      Number(nsSh(p.nsKernel, 'cat', [`/sys/class/net/${p.veth.b}/statistics/rx_packets`])) - rxp0;
    expect(bytesIn / framesIn).toBeGreaterThan(4000);
    // Most data frames carried their payload from TCP's send ring (no copy
    // into the mbuf).
    const w = (await p.engine.stats()).workers[0]!;
    expect(w.tx_ref).toBeGreaterThan((16 * MiB) / 8948 / 2);

    const bs = await p.engine.startJob({ app: 'bulk-sink', port: 5322 });
    const src = tcpBulkIn(tb, p.nsKernel, 'source', [
      '-c',
      p.braidAddr,
      '-p',
      '5322',
      '-n',
      String(16 * MiB),
      '--seed',
      '22',
    ]);
    const ks = await src.result;
    const b = (await p.engine.waitJob(bs, 30000)).conns[0]!;
    expect(b.error).toBe('');
    expect(b.bytesReceived).toBe(16 * MiB);
    expect(b.sha256).toBe(ks.sha256);
    expect(b.tcpInfo!.rcv_mss).toBeGreaterThan(8000);
  });
});
