/**
 * Braid <-> Braid: two engines in two processes over net_memif (shared
 * memory) and over a veth pair (net_af_packet in two namespaces).
 */
import { braidBraidPair, type BraidBraid } from '../src/dpdk-testbed';
import { Testbed } from '../src/netns';

jest.setTimeout(120000);

const MiB = 1 << 20;

for (const via of ['memif', 'veth'] as const) {
  describe(`DPDK runtime: Braid <-> Braid over ${via}`, () => {
    let tb: Testbed;
    let p: BraidBraid;
    beforeAll(async () => {
      tb = new Testbed();
      p = await braidBraidPair(tb, via);
    });
    afterAll(async () => {
      await p?.a.close();
      await p?.b.close();
      await tb.destroy();
    });

    test('64 MiB bulk, SHA-256 equal at both ends', async () => {
      const sink = await p.b.startJob({ app: 'bulk-sink', port: 5401 });
      const src = await p.a.startJob({
        app: 'bulk-src',
        remote: p.addrB,
        port: 5401,
        bytes: 64 * MiB,
        seed: 7,
      });
      const [s, r] = await Promise.all([p.a.waitJob(src, 60000), p.b.waitJob(sink, 60000)]);
      expect(s.conns[0]!.error).toBe('');
      expect(r.conns[0]!.error).toBe('');
      expect(r.conns[0]!.bytesReceived).toBe(64 * MiB);
      expect(r.conns[0]!.sha256).toBe(s.conns[0]!.sha256);
      const st = await p.a.stats();
      expect(st.ports[0]!.driver).toBe(via === 'memif' ? 'net_memif' : 'net_af_packet');
      // Over memif and af_packet alike (port defaults: MTU 1500, checksums
      // computed over the header and the payload in the send ring) data
      // segments leave from TCP's send ring: both PMDs copy a frame into
      // their own ring before tx_burst returns.
      expect(st.ports[0]!.txRef).toBe(true);
      expect(st.workers[0]!.tx_ref).toBeGreaterThan(((64 * MiB) / 1448) * 0.9);
      expect((await p.b.stats()).workers[0]!.rx_bad).toBe(0);
      // Every worker carries an MPTCP stack; a plain TCP job leaves it idle.
      expect(st.workers[0]!.mptcp!.MPTcpExtMPCapableSYNTX).toBe(0);
      expect(st.workers[0]!.mptcp!.MPTcpExtMPJoinSynRx).toBe(0);
    });

    test('request/response with latency percentiles', async () => {
      const srv = await p.b.startJob({ app: 'rr-server', port: 5402, reqSize: 32, respSize: 32 });
      const cli = await p.a.startJob({
        app: 'rr-client',
        remote: p.addrB,
        port: 5402,
        reqSize: 32,
        respSize: 32,
        count: 5000,
      });
      const c = await p.a.waitJob(cli, 60000);
      expect(c.conns[0]!.error).toBe('');
      expect(c.conns[0]!.latency!.count).toBe(5000);
      const s = await p.b.waitJob(srv, 10000);
      expect(s.conns[0]!.error).toBe('');
    });
  });
}
