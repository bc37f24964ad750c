/**
 * Braid MPTCP on DPDK (net_af_packet, three ports on three subnets) against
 * the Linux kernel's MPTCP in another namespace, both directions: the
 * kernel's own `nstat` counters and MPTCP_INFO, Braid's MIB and per-subflow
 * info, and SHA-256 of every byte at both ends. With DSS checksums asked by
 * the kernel, through a middlebox that strips option 30 (fallback), and
 * against plain kernel TCP peers (fallback both directions). The kernel
 * peer is `braid perf --kernel [--mptcp]`.
 */
import { braidKernelPaths, perfIn, type BraidKernelPaths } from '../src/dpdk-testbed';
import { nsSh, Testbed } from '../src/netns';
import { toJson } from '../../native/src/json';
import type { ConnResult } from '../../native/src/runtime';
import type { PerfStream } from '../../ops/cli/perf';

jest.setTimeout(120000);
// Real kernels and DPDK on a shared 2-core machine: a run can lose a race the
// protocol does not promise (which subflow carries data first); a broken
// implementation still fails every attempt.
jest.retryTimes(2, { logErrorsBeforeRetry: true });

const MiB = 1 << 20;
const BYTES = 16 * MiB;

/** The kernel namespace's MPTcpExt counters (absolute, history untouched). */
function kernelMib(ns: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of nsSh(ns, 'nstat', ['-asz']).split('\n')) {
    const m = /^(MPTcpExt\w+)\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

function delta(
  after: Record<string, number>,
  before: Record<string, number>,
): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) d[k] = v - (before[k] ?? 0);
  return d;
}

function nz(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v));
}

function slim(c: ConnResult): unknown {
  return {
    ...c,
    tcpInfo: undefined,
    mptcp: {
      ...c.mptcp,
      subflows: c.mptcp?.subflows.map((f) => ({
        ...f,
        tcpInfo: {
          state: f.tcpInfo.state_name,
          unacked: f.tcpInfo.unacked,
          acked: f.tcpInfo.bytes_acked,
          rcv: f.tcpInfo.bytes_received,
          snd_wnd: f.tcpInfo.snd_wnd,
          retr: f.tcpInfo.total_retrans,
          backoff: f.tcpInfo.backoff,
          lds: f.tcpInfo.last_data_sent,
          lar: f.tcpInfo.last_ack_recv,
        },
      })),
    },
  };
}

/** Both ends' 64-bit data sequence numbers, exact (BigInt from the addon;
 * decimal strings in `braid perf --json`, read back by perfIn), agree once the
 * transfer is over: what one end wrote is what the other expects next. Each
 * end takes its snapshot at its own moment of the close, so the DATA_FIN (one
 * sequence number, counted as Linux counts it) may be in one and not yet in
 * the other; a value that went through a double would be off by hundreds. */
function expectSameDsns(braid: ConnResult, ks: PerfStream): void {
  const b = braid.mptcp!.info!;
  const k = ks.mptcp!.info!;
  expect(typeof k.mptcpi_write_seq).toBe('bigint');
  expect(typeof k.mptcpi_rcv_nxt).toBe('bigint');
  expect(typeof b.mptcpi_write_seq).toBe('bigint');
  // Random IDSNs: at least one of the two is above 2^53 (all but 2^-22 of runs).
  expect(b.mptcpi_write_seq > 2n ** 53n || b.mptcpi_rcv_nxt > 2n ** 53n).toBe(true);
  const near = (x: bigint, y: bigint): bigint => (x > y ? x - y : y - x);
  expect(near(k.mptcpi_rcv_nxt as bigint, b.mptcpi_write_seq)).toBeLessThanOrEqual(1n);
  expect(near(b.mptcpi_rcv_nxt, k.mptcpi_write_seq as bigint)).toBeLessThanOrEqual(1n);
}

/** Sum of Braid's MPTcpExt counters over its workers. */
async function braidMib(p: BraidKernelPaths): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const w of (await p.engine.stats()).workers)
    for (const [k, v] of Object.entries(w.mptcp ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Subflows of a Braid connection that carried payload (either way). */
function busySubflows(c: ConnResult, min = 64 * 1024): number {
  return c.mptcp!.subflows.filter(
    (f) => f.tcpInfo.bytes_acked >= min || f.tcpInfo.bytes_received >= min,
  ).length;
}

describe('DPDK runtime: Braid MPTCP <-> Linux kernel MPTCP over three veth paths', () => {
  let tb: Testbed;
  let p: BraidKernelPaths;
  let port = 5600;

  function kernel(args: string[]): string {
    return nsSh(p.nsKernel, args[0]!, args.slice(1));
  }

  /** A kernel endpoint on every path but the first. */
  function extraPaths(flag: 'signal' | 'subflow') {
    return p.paths.slice(1).map((x) => ({ addr: x.kernelAddr, dev: x.kernelDev, flag }));
  }

  /** Reset the kernel namespace's MPTCP settings between cases. */
  function kernelMptcp(opts: {
    endpoints?: Array<{ addr: string; dev: string; flag: 'signal' | 'subflow' }>;
    checksum?: boolean;
  }): void {
    kernel(['ip', 'mptcp', 'endpoint', 'flush']);
    kernel(['ip', 'mptcp', 'limits', 'set', 'subflows', '4', 'add_addr_accepted', '4']);
    kernel(['sysctl', '-q', '-w', `net.mptcp.checksum_enabled=${opts.checksum ? 1 : 0}`]);
    for (const e of opts.endpoints ?? [])
      kernel(['ip', 'mptcp', 'endpoint', 'add', e.addr, 'dev', e.dev, e.flag]);
  }

  beforeAll(async () => {
    tb = new Testbed();
    p = await braidKernelPaths(tb, 3);
    kernel(['sysctl', '-q', '-w', 'net.mptcp.enabled=1']);
  });
  afterAll(async () => {
    await p?.engine.close();
    await tb.destroy();
  });

  /** Braid client (bulk source) -> kernel MPTCP server. */
  async function braidToKernel(
    kernelArgs: string[],
    bytes = BYTES,
    mptcp?: { subflows: Array<{ local: string; remote: string }> },
  ) {
    const pt = port++;
    const server = perfIn(tb, p.nsKernel, ['--kernel', '-s', '-p', String(pt), ...kernelArgs]);
    await server.ready;
    const id = await p.engine.startJob({
      app: 'bulk-src',
      protocol: 'mptcp',
      remote: p.paths[0]!.kernelAddr,
      port: pt,
      bytes,
      seed: pt,
      ...(mptcp ? { mptcp } : {}),
    });
    const r = await p.engine.waitJob(id, 60000);
    const k = await server.result;
    expect(k.json).not.toBeNull();
    return { braid: r.conns[0]!, kernel: k.json!.end.streams[0]!, timedOut: r.timedOut };
  }

  /** Kernel client (bulk) -> Braid MPTCP server (bulk sink). */
  async function kernelToBraid(
    kernelArgs: string[],
    announce: string[] = [],
    bytes = BYTES,
  ): Promise<{ braid: ConnResult; kernel: PerfStream; code: number }> {
    const pt = port++;
    const id = await p.engine.startJob({
      app: 'bulk-sink',
      protocol: 'mptcp',
      port: pt,
      mptcp: { announce: announce.map((address) => ({ address })) },
    });
    const client = perfIn(tb, p.nsKernel, [
      '--kernel',
      '-c',
      p.paths[0]!.braidAddr,
      '-p',
      String(pt),
      '-n',
      String(bytes),
      ...kernelArgs,
    ]);
    const k = await client.result;
    const r = await p.engine.waitJob(id, 30000);
    expect(k.json).not.toBeNull();
    return { braid: r.conns[0]!, kernel: k.json!.end.streams[0]!, code: k.code };
  }

  test('Braid client opens the subflows its job names; the kernel server knows each token', async () => {
    // No kernel endpoints: the subflows are the ones the job asks for at
    // connect. They wait for the connection to be fully established, so
    // no MP_JOIN reaches the kernel before the third ACK with Braid's key.
    kernelMptcp({});
    const k0 = kernelMib(p.nsKernel);
    const b0 = await braidMib(p);
    const subflows = p.paths.slice(1).map((x) => ({ local: x.braidAddr, remote: x.kernelAddr }));
    const { braid, kernel: ks } = await braidToKernel(['--mptcp'], BYTES, { subflows });
    const k = delta(kernelMib(p.nsKernel), k0);
    const b = delta(await braidMib(p), b0);
    if (process.env.BD_DEBUG) console.log(toJson({ braid: slim(braid), k: nz(k), b: nz(b) }, 1));
    expect(braid.error).toBe('');
    expect(ks.bytes).toBe(BYTES);
    expect(ks.sha256).toBe(braid.sha256);
    expect(k.MPTcpExtMPJoinSynRx).toBe(2);
    expect(k.MPTcpExtMPJoinAckRx).toBe(2);
    expect(k.MPTcpExtMPJoinNoTokenFound ?? 0).toBe(0);
    expect(b.MPTcpExtMPJoinSynAckRx).toBe(2);
    expect(ks.mptcp!.fallback).toBe(false);
    const remotes = [...new Set(braid.mptcp!.subflows.map((f) => f.remote.split(':')[0]))].sort();
    expect(remotes).toEqual(p.paths.map((x) => x.kernelAddr).sort());
    expect(busySubflows(braid)).toBeGreaterThan(1);
  });

  for (const checksum of [false, true]) {
    const tag = checksum ? ' (kernel asks for DSS checksums)' : '';

    test(`Braid client joins the addresses a kernel server announces${tag}`, async () => {
      kernelMptcp({
        checksum,
        endpoints: extraPaths('signal'),
      });
      const k0 = kernelMib(p.nsKernel);
      const b0 = await braidMib(p);
      const { braid, kernel: ks } = await braidToKernel(['--mptcp']);
      const k = delta(kernelMib(p.nsKernel), k0);
      const b = delta(await braidMib(p), b0);
      if (process.env.BD_DEBUG && ks.error)
        console.log(toJson({ braid: slim(braid), ks, k: nz(k), b: nz(b) }, 1));
      expect(braid.error).toBe('');
      expect(ks.error).toBeUndefined();
      expect(ks.bytes).toBe(BYTES);
      expect(ks.sha256).toBe(braid.sha256);
      // The kernel saw MPTCP and took the joins (at least one per
      // announced address; Braid's path manager opens a path again if
      // the kernel resets its subflow), without falling back.
      expect(k.MPTcpExtMPCapableSYNRX).toBe(1);
      expect(k.MPTcpExtMPJoinSynRx).toBeGreaterThanOrEqual(2);
      expect(k.MPTcpExtMPJoinAckRx).toBe(k.MPTcpExtMPJoinSynRx);
      expect(k.MPTcpExtMPCapableFallbackACK ?? 0).toBe(0);
      expect(k.MPTcpExtMPFallbackTokenInit ?? 0).toBe(0);
      expect(k.MPTcpExtDSSNotMatching ?? 0).toBe(0);
      expect(k.MPTcpExtDataCsumErr ?? 0).toBe(0);
      expect(ks.mptcp!.fallback).toBe(false);
      expect(ks.mptcp!.info!.mptcpi_csum_enabled).toBe(checksum ? 1 : 0);
      // Braid took the announcements and joined them.
      expect(b.MPTcpExtAddAddr).toBe(2);
      expect(b.MPTcpExtMPJoinSynAckRx).toBe(k.MPTcpExtMPJoinSynRx);
      expect(braid.mptcp!.fallback).toBe(false);
      const remotes = [...new Set(braid.mptcp!.subflows.map((f) => f.remote.split(':')[0]))].sort();
      expect(remotes).toEqual(p.paths.map((x) => x.kernelAddr).sort());
      expect(busySubflows(braid)).toBeGreaterThan(1);
      expect(braid.mptcp!.info!.mptcpi_csum_enabled).toBe(checksum ? 1 : 0);
      expectSameDsns(braid, ks);
    });

    test(`kernel client's subflows join a Braid server${tag}`, async () => {
      kernelMptcp({
        checksum,
        endpoints: extraPaths('subflow'),
      });
      const k0 = kernelMib(p.nsKernel);
      const b0 = await braidMib(p);
      const { braid, kernel: ks, code } = await kernelToBraid(['--mptcp']);
      const k = delta(kernelMib(p.nsKernel), k0);
      const b = delta(await braidMib(p), b0);
      if (process.env.BD_DEBUG)
        console.log(toJson({ braid: slim(braid), ks, k: nz(k), b: nz(b) }, 1));
      expect(code).toBe(0);
      expect(braid.error).toBe('');
      expect(braid.bytesReceived).toBe(BYTES);
      expect(braid.sha256).toBe(ks.sha256);
      expect(b.MPTcpExtMPCapableSYNRX).toBe(1);
      expect(b.MPTcpExtMPJoinSynRx).toBeGreaterThanOrEqual(2);
      expect(b.MPTcpExtMPJoinAckRx).toBe(b.MPTcpExtMPJoinSynRx);
      expect(b.MPTcpExtDataCsumErr).toBe(0);
      expect(k.MPTcpExtMPCapableSYNACKRX).toBe(1);
      expect(k.MPTcpExtMPJoinSynAckRx).toBe(b.MPTcpExtMPJoinSynRx);
      expect(ks.mptcp!.fallback).toBe(false);
      expect(braid.mptcp!.fallback).toBe(false);
      expect(braid.mptcp!.subflows.length).toBeGreaterThanOrEqual(3);
      expect(busySubflows(braid)).toBeGreaterThan(1);
      expect(braid.mptcp!.info!.mptcpi_csum_enabled).toBe(checksum ? 1 : 0);
      expectSameDsns(braid, ks);
    });
  }

  test('a middlebox strips option 30: clean fallback, every byte arrives', async () => {
    kernelMptcp({});
    const rule = ['PREROUTING', '-p', 'tcp', '-j', 'TCPOPTSTRIP', '--strip-options', '30'];
    kernel(['iptables', '-t', 'mangle', '-I', ...rule]);
    try {
      const b0 = await braidMib(p);
      const { braid, kernel: ks } = await braidToKernel(['--mptcp']);
      const b = delta(await braidMib(p), b0);
      expect(braid.error).toBe('');
      expect(ks.sha256).toBe(braid.sha256);
      expect(ks.bytes).toBe(BYTES);
      expect(braid.mptcp!.fallback).toBe(true);
      expect(braid.mptcp!.fallbackReason).toBe('SYN-ACK without MP_CAPABLE');
      expect(b.MPTcpExtMPCapableFallbackSYNACK).toBe(1);
      expect(ks.mptcp!.fallback).toBe(true);
    } finally {
      kernel(['iptables', '-t', 'mangle', '-D', ...rule]);
    }
  });

  test('plain kernel TCP peers: fallback in both directions, every byte arrives', async () => {
    kernelMptcp({});
    const b0 = await braidMib(p);
    const out = await braidToKernel([]);
    expect(out.braid.error).toBe('');
    expect(out.kernel.sha256).toBe(out.braid.sha256);
    expect(out.braid.mptcp!.fallback).toBe(true);
    expect(out.braid.mptcp!.fallbackReason).toBe('SYN-ACK without MP_CAPABLE');
    const inn = await kernelToBraid([]);
    expect(inn.code).toBe(0);
    expect(inn.braid.error).toBe('');
    expect(inn.braid.bytesReceived).toBe(BYTES);
    expect(inn.braid.sha256).toBe(inn.kernel.sha256);
    expect(inn.braid.mptcp!.fallback).toBe(true);
    expect(inn.braid.mptcp!.fallbackReason).toBe('SYN without MP_CAPABLE');
    const b = delta(await braidMib(p), b0);
    expect(b.MPTcpExtMPCapableFallbackSYNACK).toBe(1);
    expect(b.MPTcpExtMPCapableSYNRX).toBe(0);
  });
});
