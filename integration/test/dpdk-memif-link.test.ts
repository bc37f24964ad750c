/**
 * Braid <-> Braid over net_memif with the settings of an engine-to-engine
 * link: a jumbo MTU (MSS follows; memif buffers must hold a frame), a
 * jumbo port facing a 1500-byte one, and `checksum: 'off'` (a trusted
 * shared-memory link; wrong values and other drivers refused).
 */
import * as fs from 'node:fs';
import { memifVdev, runtimeEalArgs } from '../../native/src/runtime';
import { braidBraidPair, type BraidBraid, type MemifOptions } from '../src/dpdk-testbed';
import { EngineProc } from '../src/engine-proc';
import { Testbed } from '../src/netns';

jest.setTimeout(120000);

const MiB = 1 << 20;

/** A hashed bulk transfer a -> b: the sender's segment count and MSS. */
async function hashed(p: BraidBraid, port: number, bytes: number) {
  const sink = await p.b.startJob({ app: 'bulk-sink', port });
  const src = await p.a.startJob({ app: 'bulk-src', remote: p.addrB, port, bytes, seed: 3 });
  const [s, r] = await Promise.all([p.a.waitJob(src, 60000), p.b.waitJob(sink, 60000)]);
  expect(s.conns[0]!.error).toBe('');
  expect(r.conns[0]!.error).toBe('');
  expect(r.conns[0]!.bytesReceived).toBe(bytes);
  expect(r.conns[0]!.sha256).toBe(s.conns[0]!.sha256);
  const ti = s.conns[0]!.tcpInfo!;
  return { segs: ti.segs_out, mss: Number(ti.snd_mss) };
}

/** Minor page faults of a process so far. */
function minorFaults(pid: number): number {
  const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[7]);
}

/** The CPUs each worker thread of an engine process may run on. */
function workerCpus(pid: number): string[] {
  return fs
    .readdirSync(`/proc/${pid}/task`)
    .map((t) => fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))
    .filter((st) => /^Name:\s+rte-worker/m.test(st))
    .map((st) => /^Cpus_allowed_list:\s+(\S+)/m.exec(st)![1]!);
}

async function withPair(opts: MemifOptions, fn: (p: BraidBraid) => Promise<void>) {
  const tb = new Testbed();
  let p: BraidBraid | undefined;
  try {
    p = await braidBraidPair(tb, 'memif', opts);
    await fn(p);
  } finally {
    await p?.a.close();
    await p?.b.close();
    await tb.destroy();
  }
}

describe('DPDK runtime: memif engine-to-engine link settings', () => {
  test('MTU 9000 with checksums off: MSS 8960, 32 MiB hashed, no checksum work', async () => {
    await withPair({ mtu: 9000, checksums: ['off', 'off'], workerCpus: [1, 0] }, async (p) => {
      // Each engine's worker on its own CPU (workerCpus), the control
      // thread floating.
      expect(workerCpus(p.a.child.pid!)).toEqual(['1']);
      expect(workerCpus(p.b.child.pid!)).toEqual(['0']);
      const st = await p.a.stats();
      expect(st.ports[0]!.mtu).toBe(9000);
      expect(st.ports[0]!.checksum).toBe('off');
      // memif in copy mode over buffers smaller than the mbufs: frames
      // carry TCP's payload in place (read in the send ring by the PMD).
      expect(st.ports[0]!.txRef).toBe(true);
      const f0 = [minorFaults(p.a.child.pid!), minorFaults(p.b.child.pid!)];
      const { segs, mss } = await hashed(p, 5501, 32 * MiB);
      // The mempool and the memif region were populated up front: what
      // faults in now is mostly the connection's own buffers (about 2000
      // more per side when each page of the region faulted in here).
      expect(minorFaults(p.a.child.pid!) - f0[0]!).toBeLessThan(1500);
      expect(minorFaults(p.b.child.pid!) - f0[1]!).toBeLessThan(1500);
      expect(mss).toBe(8948); // 8960 less 12 bytes of timestamps
      expect(segs).toBeLessThan((32 * MiB) / 8000);
      const b = await p.b.stats();
      expect(b.workers[0]!.rx_bad).toBe(0);
      expect(b.workers[0]!.tcp!.InCsumErrors).toBe(0);
      // Nearly every data segment left from the send ring, each frame in
      // one memif buffer (the receiver read no chained frame: rx_bad 0).
      const a = (await p.a.stats()).workers[0]!;
      expect(a.tx_ref).toBeGreaterThan(((32 * MiB) / 8948) * 0.9);
      expect(a.tx_ref).toBeLessThanOrEqual(segs);
      // To its own address: never on the link, nothing to verify either.
      await hashed({ ...p, b: p.a, addrB: p.addrA }, 5506, MiB);
      // A request/response client reports percentiles once done (they
      // are not sorted on the worker while it runs).
      await p.b.startJob({ app: 'rr-server', port: 5507, reqSize: 64, respSize: 64 });
      const rr = await p.a.startJob({
        app: 'rr-client',
        remote: p.addrB,
        port: 5507,
        reqSize: 64,
        respSize: 64,
        count: 1000000,
      });
      await new Promise((r) => setTimeout(r, 300));
      const mid = (await p.a.pollJob(rr)).conns[0]!.latency!;
      expect(mid.count).toBeGreaterThan(0);
      expect(mid.count).toBeLessThan(mid.of);
      expect(mid.p99Us).toBe(0);
      await p.a.stopJob(rr);
    });
  });

  test("zero-copy client: 32 MiB hashed each way, the server reads the client's own memory", async () => {
    await withPair({ mtu: 9000, checksums: ['off', 'off'], zeroCopy: true }, async (p) => {
      // Engine a (the server) maps engine b's EAL memory (a memfd) as a
      // memif region besides its own: b lends it its mbufs.
      const eal = (pid: number) =>
        fs
          .readFileSync(`/proc/${pid}/maps`, 'utf8')
          .split('\n')
          .filter((l) => /memfd:nohuge/.test(l)).length;
      expect(eal(p.a.child.pid!)).toBeGreaterThan(eal(p.b.child.pid!));
      const ab = await hashed(p, 5511, 32 * MiB);
      expect(ab.mss).toBe(8948);
      const ba = await hashed({ ...p, a: p.b, b: p.a, addrB: p.addrA }, 5512, 32 * MiB);
      expect(ba.mss).toBe(8948);
      for (const e of [p.a, p.b]) expect((await e.stats()).workers[0]!.rx_bad).toBe(0);
      // The zero-copy client hands the server its mbufs themselves: its
      // frames hold their bytes; the server (copy mode) refers to them.
      const [sa, sb] = [await p.a.stats(), await p.b.stats()];
      expect(sb.ports[0]!.txRef).toBe(false);
      expect(sb.workers[0]!.tx_ref).toBe(0);
      expect(sa.ports[0]!.txRef).toBe(true);
      expect(sa.workers[0]!.tx_ref).toBeGreaterThan(((32 * MiB) / 8948) * 0.9);
    });
  });

  test('zero-copy is refused on a memif server and over mbufs smaller than the buffers', async () => {
    expect(() => memifVdev(0, 'server', '/tmp/x.sock', { zeroCopy: true })).toThrow(
      /memif zero-copy is for the client end/,
    );
    const tb = new Testbed();
    try {
      for (const [args, re] of [
        ['role=server', /zero-copy=yes is for the memif client \(role=client\)/],
        [
          'role=client,bsize=9024',
          /zero-copy needs mbufs that hold a memif buffer: data room \d+ < bsize 9024/,
        ],
      ] as const) {
        const e = EngineProc.spawn(tb, null);
        try {
          const dev = `net_memif0,${args},socket=${tb.tmpPath('zc.sock')},zero-copy=yes`;
          await expect(
            e.open(
              { vdevs: [dev], filePrefix: tb.filePrefix('zc'), memoryMb: 64 },
              { ports: [{ dev: 'net_memif0', address: '10.9.0.2/24' }] },
            ),
          ).rejects.toThrow(re);
        } finally {
          await e.close();
        }
      }
    } finally {
      await tb.destroy();
    }
  });

  test('MTU 9000 over 2048-byte memif buffers is refused with the bsize to set', async () => {
    await expect(withPair({ mtu: 9000, memifBufs: 'default' }, async () => {})).rejects.toThrow(
      /MTU 9000 needs memif buffers of at least 9018 bytes \(the vdev's bsize is 2048: add bsize=9024\)/,
    );
  });

  test('a 9000-byte port and a 1500-byte port: MSS 1460 both ways (1448 with timestamps)', async () => {
    await withPair({ mtus: [9000, 1500] }, async (p) => {
      expect((await p.a.stats()).ports[0]!.mtu).toBe(9000);
      expect((await p.b.stats()).ports[0]!.mtu).toBe(1500);
      const ab = await hashed(p, 5503, 8 * MiB);
      expect(ab.mss).toBe(1448);
      const back = await hashed({ ...p, a: p.b, b: p.a, addrB: p.addrA }, 5504, 8 * MiB);
      expect(back.mss).toBe(1448);
    });
  });

  test('checksums off on one side only: the verifying side drops its frames', async () => {
    await withPair({ checksums: ['off', 'on'] }, async (p) => {
      await p.b.startJob({ app: 'bulk-sink', port: 5505 });
      const src = await p.a.startJob({ app: 'bulk-src', remote: p.addrB, port: 5505, bytes: MiB });
      await new Promise((r) => setTimeout(r, 1500));
      const b = await p.b.stats();
      // a's SYNs leave without an IPv4 header checksum: b's IP layer drops them.
      expect(b.workers[0]!.net.IpInCsumErrors).toBeGreaterThan(0);
      expect(b.workers[0]!.tcp!.InSegs ?? 0).toBe(0);
      expect((await p.a.stopJob(src)).conns[0]!.bytesSent).toBe(0);
    });
  });

  test.each([
    [
      'net_null0',
      'off',
      /checksum "off" is only for a trusted shared-memory link \(net_memif\), not net_null/,
    ],
    ['net_null0', 'none', /ports\[0\]\.checksum: expected "on" or "off"/],
  ])('%s with checksum %s is refused', async (dev, checksum, re) => {
    const tb = new Testbed();
    const e = EngineProc.spawn(tb, null);
    try {
      await expect(
        e.open(
          { vdevs: [dev], filePrefix: tb.filePrefix('ck'), memoryMb: 64 },
          {
            ports: [{ dev, address: '10.9.0.2/24', checksum: checksum as 'on' | 'off' }],
          },
        ),
      ).rejects.toThrow(re);
    } finally {
      await e.close();
      await tb.destroy();
    }
  });

  test('workerCpus outside the machine are refused', () => {
    expect(() => runtimeEalArgs({ workers: 1, workerCpus: [64] })).toThrow(
      /workerCpus: 64 is not a CPU of this machine/,
    );
  });
});
