/**
 * net_tap: a PMD with checksum offloads. Braid leaves IPv4 and TCP
 * checksums to the port on transmit and trusts the port's verdict on
 * receive; the kernel on the tap interface (same namespace) must accept
 * every segment, and 16 MiB each way must arrive intact.
 */
import * as fs from 'node:fs';
import { perfIn } from '../src/dpdk-testbed';
import { EngineProc } from '../src/engine-proc';
import { nsSh, Testbed } from '../src/netns';

jest.setTimeout(90000);

function tcpInCsumErrors(ns: string): number {
  const snmp = nsSh(ns, 'cat', ['/proc/net/snmp']).split('\n');
  const hdr = snmp.find((l) => l.startsWith('Tcp:') && l.includes('InCsumErrors'))!.split(/\s+/);
  const val = snmp.filter((l) => l.startsWith('Tcp:'))[1]!.split(/\s+/);
  return Number(val[hdr.indexOf('InCsumErrors')]);
}

describe('DPDK runtime: net_tap with checksum offloads', () => {
  let tb: Testbed;
  beforeAll(() => {
    tb = new Testbed();
  });
  afterAll(async () => {
    await tb.destroy();
  });

  test('16 MiB each way against the kernel on the tap, checksums by the port', async () => {
    expect(fs.existsSync('/dev/net/tun')).toBe(true);
    const ns = tb.namespace('tap');
    const e = EngineProc.spawn(tb, ns);
    const tap = `bdt${tb.id}t`;
    try {
      const o = await e.open(
        { vdevs: [`net_tap0,iface=${tap}`], filePrefix: tb.filePrefix('t'), memoryMb: 256 },
        { workers: 1, ports: [{ dev: 'net_tap0', address: '10.66.0.2/24' }] },
      );
      expect(o.stats.ports[0]!.offloads).toEqual({
        ipCsumRx: true,
        l4CsumRx: true,
        ipCsumTx: true,
        l4CsumTx: true,
      });
      // The tap netdev starts with the port's own MAC: give the kernel its own.
      nsSh(ns, 'ip', ['link', 'set', tap, 'address', '02:00:00:00:42:01']);
      nsSh(ns, 'ip', ['addr', 'add', '10.66.0.1/24', 'dev', tap]);
      nsSh(ns, 'ip', ['link', 'set', tap, 'up']);

      const sink = await e.startJob({ app: 'bulk-sink', port: 5701 });
      const k1 = await perfIn(tb, ns, [
        '--kernel',
        '-c',
        '10.66.0.2',
        '-p',
        '5701',
        '-n',
        String(16 << 20),
      ]).result;
      const r1 = await e.waitJob(sink, 30000);
      expect(k1.code).toBe(0);
      expect(r1.conns[0]!.error).toBe('');
      expect(r1.conns[0]!.sha256).toBe(k1.json!.end.streams[0]!.sha256);

      const srv = perfIn(tb, ns, ['--kernel', '-s', '-p', '5702']);
      await srv.ready;
      const j = await e.startJob({
        app: 'bulk-src',
        remote: '10.66.0.1',
        port: 5702,
        bytes: 16 << 20,
      });
      const r2 = await e.waitJob(j, 30000);
      const k2 = await srv.result;
      expect(r2.conns[0]!.error).toBe('');
      expect(k2.json!.end.streams[0]!.sha256).toBe(r2.conns[0]!.sha256);

      const s = await e.stats();
      expect(s.workers[0]!.tcp!.InCsumErrors).toBe(0);
      expect(s.workers[0]!.net.IpInCsumErrors).toBe(0);
      expect(tcpInCsumErrors(ns)).toBe(0);
    } finally {
      await e.close();
    }
  });

  test('2 workers: rte_flow is tried, refused by this kernel, and software dispatch carries the traffic', async () => {
    const ns = tb.namespace('tap2');
    const e = EngineProc.spawn(tb, ns);
    const tap = `bdt${tb.id}u`;
    try {
      const o = await e.open(
        {
          vdevs: [`net_tap0,iface=${tap}`],
          filePrefix: tb.filePrefix('u'),
          memoryMb: 256,
          workers: 2,
        },
        { workers: 2, ports: [{ dev: 'net_tap0', address: '10.67.0.2/24' }] },
      );
      const port = o.stats.ports[0]!;
      expect(port.rxQueues).toBe(2);
      expect(port.steering).toBe('software');
      expect(port.steeringReason).toMatch(/rte_flow refused/);
      nsSh(ns, 'ip', ['link', 'set', tap, 'address', '02:00:00:00:43:01']);
      nsSh(ns, 'ip', ['addr', 'add', '10.67.0.1/24', 'dev', tap]);
      nsSh(ns, 'ip', ['link', 'set', tap, 'up']);
      const srv = perfIn(tb, ns, ['--kernel', '-s', '-p', '5703', '--connections', '8']);
      await srv.ready;
      const j = await e.startJob({
        app: 'bulk-src',
        remote: '10.67.0.1',
        port: 5703,
        bytes: 1 << 20,
        workers: 'all',
        connections: 4,
      });
      const r = await e.waitJob(j, 30000);
      const k = await srv.result;
      const byPort = new Map(k.json!.end.streams.map((x) => [x.remote_port, x.sha256]));
      for (const c of r.conns) {
        expect(c.error).toBe('');
        expect(byPort.get(c.localPort!)).toBe(c.sha256);
      }
      const s = await e.stats();
      for (const w of s.workers) expect(w.tcp!.BraidDropNoSocket).toBe(0);
    } finally {
      await e.close();
    }
  });
});
