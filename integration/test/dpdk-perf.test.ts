/**
 * `braid perf` end to end: Braid on DPDK (net_af_packet) in one namespace,
 * `braid perf --kernel` in the other, iperf3-style JSON from both; with
 * `--mptcp` on two paths against the kernel's MPTCP.
 */
import { nextSubnet, perfIn } from '../src/dpdk-testbed';
import { nsSh, Testbed } from '../src/netns';

jest.setTimeout(120000);
// Real kernels and DPDK on a shared 2-core machine: a run can lose a race the
// protocol does not promise (which subflow carries data first); a broken
// implementation still fails every attempt.
jest.retryTimes(2, { logErrorsBeforeRetry: true });

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

  test('braid perf --mptcp on two ports against braid perf --kernel --mptcp', async () => {
    // A second path on its own subnet; the kernel signals its address there.
    const v2 = tb.veth(nsB, nsK);
    tb.offloadsOff(nsK, v2.b);
    tb.offloadsOff(nsB, v2.a);
    const net2 = nextSubnet();
    tb.address(nsK, v2.b, `${net2}.1/24`);
    nsSh(nsK, 'ip', ['mptcp', 'limits', 'set', 'subflows', '2', 'add_addr_accepted', '2']);
    nsSh(nsK, 'ip', ['mptcp', 'endpoint', 'add', `${net2}.1`, 'dev', v2.b, 'signal']);
    const server = perfIn(tb, nsK, ['--kernel', '--mptcp', '-s', '-p', '5603']);
    await server.ready;
    const client = perfIn(tb, nsB, [
      '--mptcp',
      '-c',
      kernelAddr,
      '-p',
      '5603',
      '-n',
      '8M',
      '--vdev',
      `net_af_packet0,iface=${iface},framecnt=4096`,
      '--address',
      `${braidAddr}/24`,
      '--vdev',
      `net_af_packet1,iface=${v2.a},framecnt=4096`,
      '--address',
      `${net2}.2/24`,
    ]);
    const [c, s] = await Promise.all([client.result, server.result]);
    expect(c.code).toBe(0);
    expect(s.code).toBe(0);
    const cs = c.json!.end.streams[0]!;
    const ks = s.json!.end.streams[0]!;
    expect(c.json!.start.test_start.protocol).toBe('MPTCP');
    expect(cs.mptcp!.fallback).toBe(false);
    expect(cs.mptcp!.subflows).toBe(2);
    expect(cs.mptcp!.subflow_list!.map((f) => f.remote.split(':')[0])).toEqual([
      kernelAddr,
      `${net2}.1`,
    ]);
    expect(ks.mptcp!.fallback).toBe(false);
    expect(ks.mptcp!.info!.mptcpi_add_addr_signal).toBe(1);
    expect(ks.bytes).toBe(8 << 20);
    expect(ks.sha256).toBe(cs.sha256);
  });

  test('a clean error without a port', async () => {
    const r = await perfIn(tb, null, ['-c', '10.0.0.1']).result;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs a port/);
  });
});
