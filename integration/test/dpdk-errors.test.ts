/**
 * Clean errors from the DPDK runtime: EAL that cannot start, a port that
 * cannot be opened, an invalid address, too few lcores.
 */
import { EngineProc } from '../src/engine-proc';
import { Testbed } from '../src/netns';

jest.setTimeout(60000);

describe('DPDK runtime: clean errors', () => {
  let tb: Testbed;
  beforeEach(() => {
    tb = new Testbed();
  });
  afterEach(async () => {
    await tb.destroy();
  });

  async function openFails(
    eal: Parameters<EngineProc['open']>[0],
    config: Parameters<EngineProc['open']>[1],
  ): Promise<string> {
    const e = EngineProc.spawn(tb, null);
    try {
      await e.open(eal, config);
    } catch (err) {
      return (err as Error).message;
    } finally {
      await e.close();
    }
    throw new Error('open succeeded');
  }

  test('EAL cannot start: an unknown virtual device', async () => {
    const msg = await openFails(
      { vdevs: ['net_nosuchdriver0'], filePrefix: tb.filePrefix('e1'), memoryMb: 64 },
      { ports: [] },
    );
    expect(msg).toMatch(/EAL did not start/);
  });

  test('a port that EAL does not have cannot be opened', async () => {
    const msg = await openFails(
      { vdevs: ['net_null0'], filePrefix: tb.filePrefix('e2'), memoryMb: 64 },
      { ports: [{ dev: 'net_af_packet9', address: '10.9.0.2/24' }] },
    );
    expect(msg).toMatch(/port net_af_packet9 cannot be opened.*devices: net_null0/);
  });

  test('net_af_packet on an interface that does not exist', async () => {
    const msg = await openFails(
      { vdevs: ['net_af_packet0,iface=bdtnosuch0'], filePrefix: tb.filePrefix('e3'), memoryMb: 64 },
      { ports: [{ dev: 'net_af_packet0', address: '10.9.0.2/24' }] },
    );
    expect(msg).toMatch(/EAL did not start|cannot be opened/);
  });

  test('an af_packet MTU above 1500 needs ring frames for it, and says which', async () => {
    const ns = tb.namespace('mtu');
    const v = tb.veth(ns, ns);
    const e = EngineProc.spawn(tb, ns);
    try {
      await expect(
        e.open(
          {
            vdevs: [`net_af_packet0,iface=${v.a}`],
            filePrefix: tb.filePrefix('e5'),
            memoryMb: 128,
          },
          { ports: [{ dev: 'net_af_packet0', address: '10.9.0.2/24', mtu: 9000 }] },
        ),
      ).rejects.toThrow(
        /MTU 9000 over af_packet needs ring frames of at least 9080 bytes \(framesz is 2048: add framesz=9216,blocksz=36864\)/,
      );
    } finally {
      await e.close();
    }
  });

  test.each([
    ['10.9.0.256/24', /invalid IPv4 address/],
    ['10.9.0.0/24', /invalid IPv4 address 10\.9\.0\.0\/24/],
    ['10.9.0.255/24', /invalid IPv4 address/],
    ['224.0.0.5/24', /invalid IPv4 address/],
    ['10.9.0.2/33', /invalid prefix length/],
  ])('an invalid address %s is refused', async (address, re) => {
    const msg = await openFails(
      { vdevs: ['net_null0'], filePrefix: tb.filePrefix('e4'), memoryMb: 64 },
      { ports: [{ dev: 'net_null0', address }] },
    );
    expect(msg).toMatch(re);
  });

  test('MPTCP settings out of range are refused', async () => {
    const msg = await openFails(
      { vdevs: ['net_null0'], filePrefix: tb.filePrefix('e6'), memoryMb: 64 },
      { ports: [{ dev: 'net_null0', address: '10.9.0.2/24' }], mptcp: { subflowsMax: 9 } },
    );
    expect(msg).toMatch(/subflowsMax: expected a whole number in 1\.\.8/);
  });

  test('an MPTCP server on several workers needs no pinned port (joins go by token)', async () => {
    const e = EngineProc.spawn(tb, null);
    try {
      await e.open(
        { vdevs: ['net_null0'], filePrefix: tb.filePrefix('e7'), memoryMb: 128, workers: 2 },
        { workers: 2, ports: [{ dev: 'net_null0', address: '10.9.0.2/24' }] },
        [[5002, 1]],
      );
      const all = await e.startJob({
        app: 'bulk-sink',
        protocol: 'mptcp',
        port: 5001,
        workers: 'all',
      });
      const r = await e.stopJob(all);
      expect(r.conns.map((c) => [c.worker, c.error])).toEqual([
        [0, ''],
        [1, ''],
      ]);
      const id = await e.startJob({ app: 'bulk-sink', protocol: 'mptcp', port: 5002 });
      expect((await e.stopJob(id)).conns[0]!.error).toBe('');
    } finally {
      await e.close();
    }
  });

  test('more workers than lcores', async () => {
    const msg = await openFails(
      {
        vdevs: ['net_null0'],
        filePrefix: tb.filePrefix('e5'),
        memoryMb: 64,
        workers: 1,
        extra: [],
      },
      { workers: 1, ports: [{ dev: 'net_null0', address: '10.9.0.2/24' }], mbufs: 1 << 24 },
    );
    expect(msg).toMatch(/mempool|memory/);
  });
});
