/**
 * `braid perf` end to end: Braid on DPDK (net_af_packet) in one namespace,
 * `braid perf --kernel` in the other, iperf3-style JSON from both.
 */
import { nextSubnet, perfIn } from '../src/dpdk-testbed';
import { Testbed } from '../src/netns';

jest.setTimeout(120000);

describe('braid perf', () => {
  let tb: Testbed;
  let nsB: string;
  let nsK: string;
  let iface: string;
  let braidAddr: string;
  let kernelAddr: string;
  beforeAll(() => {
    tb = new Testbed();
    nsB = tb.namespace('pb');
    nsK = tb.namespace('pk');
    const v = tb.veth(nsB, nsK);
    tb.offloadsOff(nsK, v.b);
    tb.offloadsOff(nsB, v.a);
    const net = nextSubnet();
    kernelAddr = `${net}.1`;
    braidAddr = `${net}.2`;
    tb.address(nsK, v.b, `${kernelAddr}/24`);
    iface = v.a;
  });
  afterAll(async () => {
    await tb.destroy();
  });

  const braidArgs = (workers: number): string[] => [
    '--vdev',
    `net_af_packet0,iface=${iface},qpairs=${workers},framecnt=4096`,
    '--address',
    `${braidAddr}/24`,
    '--workers',
    String(workers),
    '--memory',
    '256',
  ];

  test('Braid client (2 workers, 4 streams) to a kernel server: bulk JSON', async () => {
    const server = perfIn(tb, nsK, ['--kernel', '-s', '-p', '5601', '--connections', '4']);
    await server.ready;
    const client = perfIn(tb, nsB, [
      '-c',
      kernelAddr,
      '-p',
      '5601',
      '-n',
      '4M',
      '-P',
      '4',
      ...braidArgs(2),
    ]);
    const [c, s] = await Promise.all([client.result, server.result]);
    expect(c.code).toBe(0);
    expect(s.code).toBe(0);
    const cj = c.json!;
    expect(cj.start.stack).toBe('braid');
    expect(cj.end.streams).toHaveLength(4);
    expect(new Set(cj.end.streams.map((x) => x.worker))).toEqual(new Set([0, 1]));
    expect(cj.end.sum_received.bits_per_second).toBeGreaterThan(0);
    expect(cj.end.sum_sent.retransmits).toBeGreaterThanOrEqual(0);
    expect(cj.end.sum_sent.bytes).toBe(16 << 20);
    // the kernel received every stream with the same digest
    const byPort = new Map(s.json!.end.streams.map((x) => [x.remote_port, x.sha256]));
    for (const st of cj.end.streams) expect(byPort.get(st.local_port)).toBe(st.sha256);
  });

  test('kernel client to a Braid server: request/response JSON with percentiles', async () => {
    const server = perfIn(tb, nsB, [
      '-s',
      '-p',
      '5602',
      '--mode',
      'rr',
      '--req',
      '100',
      '--resp',
      '200',
      ...braidArgs(1),
    ]);
    await server.ready;
    const client = perfIn(tb, nsK, [
      '--kernel',
      '-c',
      braidAddr,
      '-p',
      '5602',
      '--mode',
      'rr',
      '--req',
      '100',
      '--resp',
      '200',
      '--count',
      '1000',
    ]);
    const [c, s] = await Promise.all([client.result, server.result]);
    expect(c.code).toBe(0);
    expect(s.code).toBe(0);
    const rr = c.json!.end.rr!;
    expect(rr.transactions).toBe(1000);
    expect(rr.p50_us).toBeGreaterThan(0);
    expect(rr.p99_us).toBeGreaterThanOrEqual(rr.p50_us);
    expect(s.json!.start.stack).toBe('braid');
  });

  test('a clean error without a port', async () => {
    const r = await perfIn(tb, null, ['-c', '10.0.0.1']).result;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs a port/);
  });
});
