/**
 * Dataplane benchmark (JSON on stdout): one run, side by side, on this
 * machine.
 *
 *   - braid_memif:        Braid <-> Braid over net_memif (two processes)
 *                         with Braid's settings for an engine-to-engine
 *                         link (MEMIF_LINK: MTU 9000, checksums off, each
 *                         worker on its own CPU); the targets' ratios are
 *                         taken from it
 *   - braid_memif_1500:   the same with the port defaults (MTU 1500,
 *                         checksums on), beside it
 *   - kernel_veth:        kernel TCP <-> kernel TCP over a veth pair with C
 *                         tools (iperf3 bulk, sockperf ping-pong full round
 *                         trips) in two namespaces: the best the kernel does,
 *                         and the baseline of the targets
 *   - kernel_veth_node:   the same through `braid perf --kernel` (node:net),
 *                         whose JavaScript costs count in its CPU seconds
 *   - braid_kernel_afp:   Braid (net_af_packet on a veth) <-> kernel TCP,
 *                         both directions, the kernel's end in C
 *                         (braid-tcpbulk: recv()/send(), SHA-256 of what
 *                         it reads); every byte checked (sha256_match)
 *   - raw_afp_tx/rx:      the raw rate of net_af_packet over that same veth
 *                         pair, in each direction with a party at either
 *                         end as in the TCP runs: frames Braid's worker
 *                         blasts that a kernel process reads and counts, and
 *                         frames a kernel process sends that Braid's port
 *                         reads and counts
 *
 * For each: throughput, CPU seconds per GB (user + system time of the
 * processes of the pairing: Braid engines, and the kernel peers (iperf3,
 * sockperf, braid-tcpbulk, `braid perf --kernel`) with the kernel work
 * their system calls do; softirq work the kernel does outside them is not
 * counted, which favours the kernel), and
 * request/response p50/p99. Ratios at the end against the targets of
 * issue 4.
 *
 *   npx tsc -p . && node dist/integration/bench/dataplane.js [--bytes 256M] [--rr 20000]
 *     [--raw-ms 2000] [--repeat N] [--kernel-gro on|off] [--kernel-rps MASK]
 *     [--afp-devargs S] [--afp-worker-cpu N] [--braid-sink-hash on|off|both]
 *     [--only memif,node,tx,rx,rr,rawtx,rawrx] [--memif-zero-copy on|off|both] [--help]
 *   (--repeat: N rounds of every pairing in turn, medians; --only: the
 *   parts to run; --memif-zero-copy: the PMD's zero-copy on braid_memif's
 *   client end, or both with and without it; the af_packet settings hold
 *   for its TCP runs and raw rates alike)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { afPacketVdev } from '../../native/src/runtime';
import {
  braidBraidPair,
  braidKernelPair,
  kernelFrames,
  perfIn,
  tcpBulkIn,
} from '../src/dpdk-testbed';
import { type EngineProc } from '../src/engine-proc';
import { nsSh, sh, Testbed } from '../src/netns';
import { perfPair } from '../src/perf-pair';
import type { ConnResult } from '../../native/src/runtime';

interface Bulk {
  bytes: number;
  seconds: number;
  gbit_per_s: number;
  cpu_seconds: number;
  cpu_seconds_per_gb: number;
  bytes_per_cpu_second: number;
  retransmits: number;
  sha256_match?: boolean;
}

interface Rr {
  transactions: number;
  req: number;
  resp: number;
  p50_us: number;
  p99_us: number;
  mean_us: number;
  cpu_seconds: number;
}

function bulk(
  bytes: number,
  seconds: number,
  cpu: number,
  retransmits: number,
  match?: boolean,
): Bulk {
  return {
    bytes,
    seconds,
    gbit_per_s: (8 * bytes) / seconds / 1e9,
    cpu_seconds: cpu,
    cpu_seconds_per_gb: cpu / (bytes / 1e9),
    bytes_per_cpu_second: bytes / cpu,
    retransmits,
    ...(match === undefined ? {} : { sha256_match: match }),
  };
}

async function braidBulk(
  src: EngineProc,
  dst: EngineProc,
  addr: string,
  bytes: number,
  port: number,
) {
  const sink = await dst.startJob({ app: 'bulk-sink', port, noHash: true });
  const c0 = src.cpuSeconds() + dst.cpuSeconds();
  const job = await src.startJob({ app: 'bulk-src', remote: addr, port, bytes, noHash: true });
  const [s, r] = await Promise.all([src.waitJob(job, 120000), dst.waitJob(sink, 120000)]);
  const cpu = src.cpuSeconds() + dst.cpuSeconds() - c0;
  const c = s.conns[0]!;
  const secs = (c.tDoneUs - c.tStartUs) / 1e6;
  if (c.error || r.conns[0]!.error)
    throw new Error(`braid bulk: ${c.error} / ${r.conns[0]!.error}`);
  return bulk(r.conns[0]!.bytesReceived, secs, cpu, c.tcpInfo?.total_retrans ?? 0);
}

async function braidRr(
  cli: EngineProc,
  srv: EngineProc,
  addr: string,
  count: number,
  port: number,
): Promise<Rr> {
  const s = await srv.startJob({ app: 'rr-server', port, reqSize: 64, respSize: 64 });
  const c0 = cli.cpuSeconds() + srv.cpuSeconds();
  const j = await cli.startJob({
    app: 'rr-client',
    remote: addr,
    port,
    reqSize: 64,
    respSize: 64,
    count,
  });
  const r = await cli.waitJob(j, 120000);
  const cpu = cli.cpuSeconds() + srv.cpuSeconds() - c0;
  await srv.waitJob(s, 10000);
  const c: ConnResult = r.conns[0]!;
  if (c.error) throw new Error(`braid rr: ${c.error}`);
  return {
    transactions: c.latency!.count,
    req: 64,
    resp: 64,
    p50_us: c.latency!.p50Us,
    p99_us: c.latency!.p99Us,
    mean_us: c.latency!.meanUs,
    cpu_seconds: cpu,
  };
}

const tools: Record<string, boolean> = {};

/** A C tool in a namespace, with the user + system CPU seconds it used
 * (bash's `times` of its children) once it ends: by itself, or at stop()
 * (SIGTERM). */
function toolIn(
  tb: Testbed,
  ns: string,
  cmd: string[],
): { done: Promise<{ code: number; out: string; cpu: number }>; stop(): void } {
  if (!tools[cmd[0]!]) {
    try {
      sh('sh', ['-c', `command -v ${cmd[0]}`]);
      tools[cmd[0]!] = true;
    } catch {
      throw new Error(`${cmd[0]} is not installed (bash ops/bootstrap installs it)`);
    }
  }
  // Runs the tool in the background, waits for it or for a line on stdin
  // (then stops it), and reports the children's CPU times.
  // (A background job's stdin is /dev/null and it ignores SIGINT: hence fd 3 and SIGTERM.)
  const script =
    'exec 3<&0; "$@" </dev/null & p=$!; (read -r _ <&3; kill -TERM $p 2>/dev/null) & wait $p; rc=$?; times >&2; exit $rc';
  const child = tb.spawnIn(ns, 'bash', ['-c', script, 'tool', ...cmd]);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number; out: string; cpu: number }>((res) =>
    child.on('exit', (code) => {
      // `times`: the shell's own user/system line, then its children's.
      const lines = err.trim().split('\n').slice(-2);
      const secs = (lines[1] ?? '').match(/(\d+)m([\d.]+)s/g) ?? [];
      const cpu = secs
        .map((t) => /(\d+)m([\d.]+)s/.exec(t)!)
        .reduce((a, x) => a + Number(x[1]) * 60 + Number(x[2]), 0);
      res({ code: code ?? -1, out: out + err, cpu });
    }),
  );
  return { done, stop: () => child.stdin!.write('\n') };
}

/** The kernel's TcpRetransSegs in namespace ns (absolute). */
function kernelRetrans(ns: string): number {
  const m = /TcpRetransSegs\s+(\d+)/.exec(nsSh(ns, 'nstat', ['-az', 'TcpRetransSegs']));
  return Number(m?.[1] ?? 0);
}

async function listening(ns: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (nsSh(ns, 'ss', ['-Hltn', `sport = :${port}`]).trim()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on port ${port} in ${ns}`);
}

/** Kernel TCP bulk with iperf3 (C, one stream): its JSON, and the CPU of both ends. */
async function iperf3Bulk(
  tb: Testbed,
  nsC: string,
  nsS: string,
  addr: string,
  bytes: number,
  port: number,
): Promise<Bulk> {
  const srv = toolIn(tb, nsS, ['iperf3', '-s', '-1', '-p', String(port)]);
  await listening(nsS, port);
  const cli = toolIn(tb, nsC, [
    'iperf3',
    '-c',
    addr,
    '-p',
    String(port),
    '-n',
    String(bytes),
    '--json',
  ]);
  const [c, sv] = await Promise.all([cli.done, srv.done]);
  if (c.code !== 0) throw new Error(`iperf3: ${c.out.slice(0, 500)}`);
  const end = (
    JSON.parse(c.out.slice(0, c.out.lastIndexOf('}') + 1)) as {
      end: {
        sum_sent: { retransmits: number };
        sum_received: { bytes: number; seconds: number };
      };
    }
  ).end;
  return bulk(
    end.sum_received.bytes,
    end.sum_received.seconds,
    c.cpu + sv.cpu,
    end.sum_sent.retransmits,
  );
}

/** The kernel's bulk baseline: iperf3 once per port, one after the other;
 * the run with the least CPU per byte is the result, every run's figures are
 * in `runs`. On this machine the kernel's CPU per byte from one iperf3 run to
 * the next is bimodal, about 0.85-1.0 or 2.2-2.8 CPU s per GB, with nothing
 * else running: the best of a few is what the kernel does at its best. */
async function iperf3Best(
  tb: Testbed,
  nsC: string,
  nsS: string,
  addr: string,
  bytes: number,
  ports: number[],
): Promise<Bulk & { runs: Array<Pick<Bulk, 'gbit_per_s' | 'cpu_seconds_per_gb'>> }> {
  const runs: Bulk[] = [];
  for (const port of ports) runs.push(await iperf3Bulk(tb, nsC, nsS, addr, bytes, port));
  const best = runs.reduce((a, b) => (b.cpu_seconds_per_gb < a.cpu_seconds_per_gb ? b : a));
  return {
    ...best,
    runs: runs.map((r) => ({ gbit_per_s: r.gbit_per_s, cpu_seconds_per_gb: r.cpu_seconds_per_gb })),
  };
}

/** Kernel TCP request/response with sockperf ping-pong (C): full round trips
 * of 64-byte messages, as fast as they go, for about as many as `count`. */
async function sockperfRr(
  tb: Testbed,
  nsC: string,
  nsS: string,
  addr: string,
  count: number,
  port: number,
): Promise<Rr> {
  const srv = toolIn(tb, nsS, ['sockperf', 'server', '--tcp', '-i', addr, '-p', String(port)]);
  await listening(nsS, port);
  const secs = Math.max(1, Math.round(count / 10000));
  const cli = toolIn(tb, nsC, [
    'sockperf',
    'ping-pong',
    '--tcp',
    '-i',
    addr,
    '-p',
    String(port),
    '-m',
    '64',
    '--mps',
    'max',
    '--full-rtt',
    '-t',
    String(secs),
  ]);
  const c = await cli.done;
  srv.stop();
  const sv = await srv.done;
  // eslint-disable-next-line no-control-regex
  const text = c.out.replace(/\x1b\[[0-9;]*m/g, '');
  const pct = (p: string): number => {
    const m = new RegExp(`percentile ${p} =\\s*([\\d.]+)`).exec(text);
    if (!m) throw new Error(`sockperf: no percentile ${p} in: ${text.slice(-800)}`);
    return Number(m[1]);
  };
  return {
    transactions: Number(/ReceivedMessages=(\d+)/.exec(text)?.[1] ?? 0),
    req: 64,
    resp: 64,
    p50_us: pct('50.000'),
    p99_us: pct('99.000'),
    mean_us: Number(/avg-latency=([\d.]+)/.exec(text)?.[1] ?? NaN),
    cpu_seconds: c.cpu + sv.cpu,
  };
}

/** Braid's settings for a memif link between two engines, the pairing the
 * targets are taken from: a jumbo MTU (memif buffers sized to hold a frame;
 * MSS 8960), no checksums (`checksum: 'off'`, only for a trusted
 * shared-memory link; the kernel's veth does not checksum local traffic
 * either), and each engine's worker on a CPU of its own (`workerCpus`:
 * floating, the two spinning workers were found on one CPU in 90 % of the
 * samples of the runs whose p99 was a millisecond, each waiting out the
 * other's time slice); polling as the runtime's defaults. The client end's
 * zero-copy (the PMD's `zero-copy=yes`) stays off: it saved no measurable
 * CPU here (--memif-zero-copy both; native/RUNTIME.md). */
const MEMIF_LINK: MemifLink = {
  note: "Braid's memif default for engine-to-engine links",
  mtu: 9000,
  checksum: 'off',
  worker_cpus: [0, 1],
  zero_copy: false,
};
/** The port defaults (MTU 1500, checksums on), workers placed alike. */
const MEMIF_DEFAULTS: MemifLink = {
  ...MEMIF_LINK,
  note: 'port defaults (MTU 1500, checksums on), workers pinned as braid_memif',
  mtu: 1500,
  checksum: 'on',
};
/** The runtime's polling defaults, which both use (RuntimeConfig). */
const POLLING = { spinUs: 200, idleSleepMinUs: 50, idleSleepMaxUs: 200, busyPoll: false };

interface MemifLink {
  note: string;
  mtu: number;
  checksum: 'on' | 'off';
  worker_cpus: [number, number];
  /** The client end with the PMD's zero-copy=yes (memifVdev). */
  zero_copy: boolean;
}

/** What --only selects: memif (the memif pairings and their baseline,
 * kernel_veth), node (kernel_veth_node), and the af_packet parts: tx
 * (Braid -> kernel), rx (kernel -> Braid), rr, rawtx, rawrx. */
type Part = 'memif' | 'node' | 'tx' | 'rx' | 'rr' | 'rawtx' | 'rawrx';
const PARTS: Part[] = ['memif', 'node', 'tx', 'rx', 'rr', 'rawtx', 'rawrx'];
const AFP_PARTS: Part[] = ['tx', 'rx', 'rr', 'rawtx', 'rawrx'];

/** Settings of the af_packet veth pair, for its TCP runs and its raw rates
 * alike (one engine, one veth pair per round). */
interface AfpSettings {
  kernelGro: boolean;
  /** rps_cpus of the kernel's veth end (hex mask; '0': off). */
  kernelRps: string;
  /** Extra net_af_packet devargs of Braid's port. */
  devargs: string;
  /** The MTU of the veth pair and Braid's port (above 1500 Braid's ring
   * slots are sized for it: afPacketVdev). */
  mtu: number;
  /** The CPU of Braid's worker (null: floating). */
  workerCpu: number | null;
  /** Braid's sink in kernel -> Braid: SHA-256 (on), byte count (off), both series. */
  sinkHash: 'on' | 'off' | 'both';
}

/** Where Braid's engine spent its CPU over a series, per frame its port moved
 * (data frames out for Braid -> kernel and the raw TX, in for the others):
 * user time is Braid (its stack, the PMD's copies, the apps), system time the
 * kernel's work inside the PMD's system calls, which on a veth includes the
 * kernel peer's TCP (sendto() hands each frame to it). */
interface FrameCost {
  frames: number;
  user_us_per_frame: number;
  system_us_per_frame: number;
}

async function frameCostFrom(
  engine: EngineProc,
  dir: 'out' | 'in',
): Promise<() => Promise<FrameCost>> {
  const c0 = engine.cpuSplit();
  const p0 = (await engine.stats()).ports[0]!;
  return async () => {
    const c1 = engine.cpuSplit();
    const p1 = (await engine.stats()).ports[0]!;
    const frames = dir === 'out' ? p1.opackets - p0.opackets : p1.ipackets - p0.ipackets;
    return {
      frames,
      user_us_per_frame: ((c1.user - c0.user) * 1e6) / Math.max(1, frames),
      system_us_per_frame: ((c1.system - c0.system) * 1e6) / Math.max(1, frames),
    };
  };
}

/** The ratios of one round (or of the medians) against issue 4's targets. */
function ratiosOf(out: Record<string, unknown>): Record<string, number> {
  const bm = out.braid_memif as { bulk: Bulk; rr: Rr } | undefined;
  const b15 = out.braid_memif_1500 as { bulk: Bulk; rr: Rr } | undefined;
  const kv = out.kernel_veth as { bulk: Bulk; rr: Rr } | undefined;
  const kn = out.kernel_veth_node as { bulk: Bulk; rr: Rr } | undefined;
  const bk = out.braid_kernel_afp as
    { braid_to_kernel?: Bulk; kernel_to_braid?: Bulk; kernel_to_braid_unhashed?: Bulk } | undefined;
  const rawTx = out.raw_afp_tx as { gbit_per_s: number; frame_bytes: number } | undefined;
  const rawRx = out.raw_afp_rx as { gbit_per_s: number } | undefined;
  // Payload share of a full-sized frame (1514 bytes) carrying TCP with
  // timestamps (66 bytes of headers).
  const frame = rawTx?.frame_bytes ?? 1514;
  const goodput = (frame - 66) / frame;
  const ratios: Record<string, number> = {};
  if (bm && b15 && kv) {
    ratios.memif_vs_kernel_bytes_per_cpu_second =
      bm.bulk.bytes_per_cpu_second / kv.bulk.bytes_per_cpu_second;
    ratios.memif_vs_kernel_throughput = bm.bulk.gbit_per_s / kv.bulk.gbit_per_s;
    ratios.memif_p99_vs_kernel_p99 = bm.rr.p99_us / kv.rr.p99_us;
    // The same with the port defaults (MTU 1500, checksums on).
    ratios.memif_1500_vs_kernel_bytes_per_cpu_second =
      b15.bulk.bytes_per_cpu_second / kv.bulk.bytes_per_cpu_second;
    ratios.memif_1500_p99_vs_kernel_p99 = b15.rr.p99_us / kv.rr.p99_us;
    const bc = out.braid_memif_copy as { bulk: Bulk; rr: Rr } | undefined;
    if (bc) {
      // braid_memif against the same link without zero-copy (same round).
      ratios.memif_copy_vs_kernel_bytes_per_cpu_second =
        bc.bulk.bytes_per_cpu_second / kv.bulk.bytes_per_cpu_second;
      ratios.memif_zero_copy_vs_copy_bytes_per_cpu_second =
        bm.bulk.bytes_per_cpu_second / bc.bulk.bytes_per_cpu_second;
    }
    if (kn) {
      // The same against the kernel through braid perf --kernel (a Node
      // application on node:net: the kernel's numbers with a JavaScript app's costs).
      ratios.memif_vs_kernel_node_bytes_per_cpu_second =
        bm.bulk.bytes_per_cpu_second / kn.bulk.bytes_per_cpu_second;
      ratios.memif_p99_vs_kernel_node_p99 = bm.rr.p99_us / kn.rr.p99_us;
    }
  }
  if (bk?.braid_to_kernel && rawTx)
    ratios.braid_to_kernel_vs_raw_tx_goodput =
      bk.braid_to_kernel.gbit_per_s / (rawTx.gbit_per_s * goodput);
  if (bk?.kernel_to_braid && rawRx)
    ratios.kernel_to_braid_vs_raw_rx_goodput =
      bk.kernel_to_braid.gbit_per_s / (rawRx.gbit_per_s * goodput);
  if (bk?.kernel_to_braid_unhashed && rawRx)
    ratios.kernel_to_braid_unhashed_vs_raw_rx_goodput =
      bk.kernel_to_braid_unhashed.gbit_per_s / (rawRx.gbit_per_s * goodput);
  return ratios;
}

function targetsOf(ratios: Record<string, number>): Record<string, boolean> {
  const t: Record<string, boolean> = {};
  if (ratios.memif_vs_kernel_bytes_per_cpu_second !== undefined) {
    t.memif_at_least_2x_kernel_per_cpu_second = ratios.memif_vs_kernel_bytes_per_cpu_second >= 2;
    t.memif_p99_below_kernel = ratios.memif_p99_vs_kernel_p99! < 1;
  }
  // Both directions, every byte checked by SHA-256 at both ends.
  const tx = ratios.braid_to_kernel_vs_raw_tx_goodput;
  const rx = ratios.kernel_to_braid_vs_raw_rx_goodput;
  if (tx !== undefined && rx !== undefined)
    t.braid_kernel_at_least_80pct_of_device = Math.min(tx, rx) >= 0.8;
  return t;
}

/** Element-wise median of rounds with the same shape (numbers: median;
 * objects: recursively; anything else: the first round's). */
function median(rounds: unknown[]): unknown {
  const first = rounds[0];
  if (typeof first === 'number') {
    const v = (rounds as number[]).slice().sort((a, b) => a - b);
    const k = v.length >> 1;
    return v.length % 2 ? v[k] : (v[k - 1]! + v[k]!) / 2;
  }
  if (first && typeof first === 'object' && !Array.isArray(first)) {
    const o: Record<string, unknown> = {};
    for (const key of Object.keys(first))
      o[key] = median(rounds.map((r) => (r as Record<string, unknown>)[key]));
    return o;
  }
  return first;
}

/** One round: every pairing once, results into out. */
async function runRound(
  out: Record<string, unknown>,
  bytes: number,
  rrCount: number,
  rawMs: number,
  parts: Set<Part>,
  afp: AfpSettings,
  memifZeroCopy: 'on' | 'off' | 'both',
  round: number,
): Promise<void> {
  // --- Braid <-> Braid over memif ------------------------------------------
  // braid_memif: Braid's settings for an engine-to-engine memif link (the
  // pairing the targets are taken from); braid_memif_1500: the port
  // defaults (MTU 1500, checksums on), beside it.
  // With --memif-zero-copy both, braid_memif_copy (MEMIF_LINK without
  // zero-copy) runs right after braid_memif in every round.
  const pairings: Array<[string, MemifLink]> = !parts.has('memif')
    ? []
    : [
        ['braid_memif', { ...MEMIF_LINK, zero_copy: memifZeroCopy !== 'off' }],
        ...(memifZeroCopy === 'both'
          ? [['braid_memif_copy', { ...MEMIF_LINK, zero_copy: false }] as [string, MemifLink]]
          : []),
        ['braid_memif_1500', MEMIF_DEFAULTS],
      ];
  for (const [key, link] of pairings) {
    const tb = new Testbed();
    try {
      const cpus = os.availableParallelism();
      const p = await braidBraidPair(tb, 'memif', {
        mtu: link.mtu,
        checksums: [link.checksum, link.checksum],
        workerCpus: link.worker_cpus.map((c) => c % cpus) as [number, number],
        zeroCopy: link.zero_copy,
        config: POLLING,
      });
      const b = await braidBulk(p.a, p.b, p.addrB, bytes, 6001);
      const rr = await braidRr(p.a, p.b, p.addrB, rrCount, 6002);
      const port = (await p.a.stats()).ports[0]!;
      out[key] = {
        settings: { ...link, polling: POLLING, port_mtu: port.mtu, port_checksum: port.checksum },
        bulk: b,
        rr,
      };
      await p.a.close();
      await p.b.close();
    } finally {
      await tb.destroy();
    }
  }

  // --- kernel <-> kernel over veth -----------------------------------------
  if (parts.has('memif') || parts.has('node')) {
    const tb = new Testbed();
    try {
      const nsA = tb.namespace('ka');
      const nsB = tb.namespace('kb');
      const v = tb.veth(nsA, nsB);
      tb.address(nsA, v.a, '10.201.0.1/24');
      tb.address(nsB, v.b, '10.201.0.2/24');
      if (parts.has('node')) {
        const k = await perfPair(
          tb,
          nsB,
          nsA,
          '10.201.0.2',
          ['--kernel'],
          ['--kernel'],
          bytes,
          rrCount,
          [6101, 6102],
        );
        const b = bulk(k.bulk.bytes, k.bulk.seconds, k.bulk.cpu_seconds, k.bulk.retransmits);
        out.kernel_veth_node = {
          bulk: b,
          rr: { ...k.rr, req: 64, resp: 64 },
          note: 'kernel TCP through braid perf --kernel (node:net), TSO/GSO/checksum offloads on',
        };
      }
      if (parts.has('memif'))
        out.kernel_veth = {
          bulk: await iperf3Best(tb, nsA, nsB, '10.201.0.2', bytes, [6103, 6113, 6123]),
          rr: await sockperfRr(tb, nsA, nsB, '10.201.0.2', rrCount, 6104),
          note: 'kernel TCP through iperf3 (bulk) and sockperf ping-pong (rr, full round trips), TSO/GSO/checksum offloads on: the best the kernel does here',
        };
    } finally {
      await tb.destroy();
    }
  }

  if (AFP_PARTS.every((x) => !parts.has(x))) return;

  // --- Braid <-> kernel over veth (net_af_packet) ---------------------------
  // One engine and one veth pair for the TCP runs and the raw rates alike:
  // whatever is set on the device (afp) holds for both, so the ratios
  // compare like with like.
  {
    const tb = new Testbed();
    try {
      const cpus = os.availableParallelism();
      const devargs = afp.devargs;
      const p = await braidKernelPair(tb, {
        afPacketExtra: devargs,
        ...(afp.mtu !== 1500 ? { mtu: afp.mtu } : {}),
        ...(afp.workerCpu !== null ? { workerCpus: [afp.workerCpu % cpus] } : {}),
      });
      // The kernel's end of the veth has the offloads that would hand
      // af_packet unfinished frames off (tx, tso, gso: the testbed does
      // it); GRO, which only merges what the kernel receives before its
      // TCP sees it, is on unless --kernel-gro off.
      nsSh(p.nsKernel, 'ethtool', ['-K', p.veth.b, 'gro', afp.kernelGro ? 'on' : 'off']);
      // RPS on the kernel's end: what arrives there (Braid's frames: in
      // Braid -> kernel the data, in kernel -> Braid the ACKs) is queued to
      // the backlog of a CPU of the mask and handled there, instead of in
      // the softirq that Braid's sendto() runs.
      if (afp.kernelRps !== '0')
        nsSh(p.nsKernel, 'sh', [
          '-c',
          `echo ${afp.kernelRps} > /sys/class/net/${p.veth.b}/queues/rx-0/rps_cpus`,
        ]);
      const settings = {
        kernel_end: `tx/tso/gso off, gro ${afp.kernelGro ? 'on' : 'off'}`,
        kernel_rps_cpus: nsSh(p.nsKernel, 'cat', [
          `/sys/class/net/${p.veth.b}/queues/rx-0/rps_cpus`,
        ]).trim(),
        netdev_max_backlog: Number(
          fs.readFileSync('/proc/sys/net/core/netdev_max_backlog', 'utf8'),
        ),
        braid_vdev: afPacketVdev(0, p.veth.a, 1, devargs, afp.mtu),
        braid_worker_cpu: afp.workerCpu,
        mtu: afp.mtu,
      };
      const frameLen = afp.mtu + 14;
      const res: Record<string, unknown> = {
        settings,
        kernel_bulk_peer: 'braid-tcpbulk (C), SHA-256 of every byte at both ends',
      };
      out.braid_kernel_afp = res;
      if (parts.has('tx')) {
        // Braid -> kernel: the kernel's end reads with braid-tcpbulk (C,
        // recv() into 1 MiB, SHA-256 as it reads); Braid's source knows its
        // stream's digest before it starts (hashAhead), as the C source does
        // the other way: both ends are checked, neither hashes twice.
        const ksink = tcpBulkIn(tb, p.nsKernel, 'sink', ['-p', '6201']);
        await ksink.ready;
        const j = await p.engine.startJob({
          app: 'bulk-src',
          remote: p.kernelAddr,
          port: 6201,
          bytes,
          hashAhead: true,
        });
        // From here: startJob hashed the stream before it connected, outside
        // the transfer, as braid-tcpbulk source does (its hash_cpu_seconds).
        const c0 = p.engine.cpuSeconds();
        const cost = await frameCostFrom(p.engine, 'out');
        const r = await p.engine.waitJob(j, 180000);
        const ks = await ksink.result;
        const cpu = p.engine.cpuSeconds() - c0 + ks.cpu_seconds;
        const c = r.conns[0]!;
        if (c.error) throw new Error(`braid -> kernel: ${c.error}`);
        res.braid_to_kernel = bulk(
          ks.bytes,
          (c.tDoneUs - c.tStartUs) / 1e6,
          cpu,
          c.tcpInfo?.total_retrans ?? 0,
          ks.bytes === bytes && c.sha256 === ks.sha256,
        );
        (res.braid_to_kernel as Record<string, unknown>).engine_cpu = await cost();
      }
      // kernel -> Braid: braid-tcpbulk sends the stream (send() from 256 KiB
      // chunks; its digest computed before it connects), Braid's sink
      // hashes what it reads on its worker (kernel_to_braid) or only
      // counts it (kernel_to_braid_unhashed: no digest, bytes counted; same
      // connection setup otherwise). With both, the series take turns
      // going first from round to round (the second runs on a warmed-up
      // engine).
      const rxSeries: Array<[string, boolean]> = !parts.has('rx')
        ? []
        : [
            ...(afp.sinkHash !== 'off' ? [['kernel_to_braid', true] as [string, boolean]] : []),
            ...(afp.sinkHash !== 'on'
              ? [['kernel_to_braid_unhashed', false] as [string, boolean]]
              : []),
          ];
      if (round % 2) rxSeries.reverse();
      let port = 6202;
      for (const [key, hashed] of rxSeries) {
        const sink = await p.engine.startJob({
          app: 'bulk-sink',
          port,
          ...(hashed ? {} : { noHash: true }),
        });
        const kRetrans0 = kernelRetrans(p.nsKernel);
        const c0 = p.engine.cpuSeconds();
        const cost = await frameCostFrom(p.engine, 'in');
        const ksrc = tcpBulkIn(tb, p.nsKernel, 'source', [
          '-c',
          p.braidAddr,
          '-p',
          String(port),
          '-n',
          String(bytes),
        ]);
        port += 10;
        const k = await ksrc.result;
        const rs = await p.engine.waitJob(sink, 60000);
        const cpu = p.engine.cpuSeconds() - c0 + k.cpu_seconds;
        const sc = rs.conns[0]!;
        if (sc.error) throw new Error(`kernel -> braid: ${sc.error}`);
        const kRetrans = kernelRetrans(p.nsKernel) - kRetrans0;
        res[key] = bulk(
          sc.bytesReceived,
          (sc.tDoneUs - sc.tStartUs) / 1e6,
          cpu,
          kRetrans,
          hashed ? sc.bytesReceived === bytes && sc.sha256 === k.sha256 : undefined,
        );
        (res[key] as Record<string, unknown>).engine_cpu = await cost();
        if (!hashed)
          (res[key] as Record<string, unknown>).verified =
            'byte count only (Braid sink without SHA-256); kernel_to_braid checks the digest';
      }
      if (parts.has('rr')) {
        // request/response, Braid client
        const rsrv = perfIn(tb, p.nsKernel, [
          '--kernel',
          '-s',
          '-p',
          '6203',
          '--mode',
          'rr',
          '--req',
          '64',
          '--resp',
          '64',
        ]);
        await rsrv.ready;
        const r0 = p.engine.cpuSeconds();
        const rj = await p.engine.startJob({
          app: 'rr-client',
          remote: p.kernelAddr,
          port: 6203,
          reqSize: 64,
          respSize: 64,
          count: rrCount,
        });
        const rr = await p.engine.waitJob(rj, 120000);
        const rcpu = p.engine.cpuSeconds() - r0 + (await rsrv.result).json!.end.cpu_seconds;
        const l = rr.conns[0]!.latency!;
        res.rr = {
          transactions: l.count,
          req: 64,
          resp: 64,
          p50_us: l.p50Us,
          p99_us: l.p99Us,
          mean_us: l.meanUs,
          cpu_seconds: rcpu,
        };
      }
      // The raw rates of the device between the same two ends, each
      // direction with both parties at work as in the TCP runs: Braid's
      // worker blasts 1514-byte frames that a kernel process reads into user
      // space and counts; a kernel process sends such frames that Braid's
      // port reads and counts.
      if (parts.has('rawtx')) {
        const kmac = nsSh(p.nsKernel, 'cat', [`/sys/class/net/${p.veth.b}/address`]).trim();
        const counter = kernelFrames(p.nsKernel, p.veth.b, {
          mode: 'count',
          durationMs: rawMs + 3000,
        });
        await new Promise((r) => setTimeout(r, 1500));
        const rxPackets = (): number =>
          Number(nsSh(p.nsKernel, 'cat', [`/sys/class/net/${p.veth.b}/statistics/rx_packets`]));
        const if0 = rxPackets();
        const c1 = p.engine.cpuSeconds();
        const cost = await frameCostFrom(p.engine, 'out');
        const bl = await p.engine.blast({ dstMac: kmac, frameLen, durationMs: rawMs });
        const txCpu = p.engine.cpuSeconds() - c1;
        const engineCpu = await cost();
        const atIf = rxPackets() - if0;
        const counted = (await counter).frames;
        out.raw_afp_tx = {
          frame_bytes: frameLen,
          frames_accepted: bl.frames,
          frames_read_by_kernel_process: counted,
          // What the kernel interface counted: frames that arrived whether
          // or not a process kept up (the measure used before).
          frames_at_kernel_interface: atIf,
          interface_gbit_per_s: (atIf * frameLen * 8) / bl.seconds / 1e9,
          seconds: bl.seconds,
          braid_cpu_seconds: txCpu,
          engine_cpu: engineCpu,
          mpps: counted / bl.seconds / 1e6,
          gbit_per_s: (counted * frameLen * 8) / bl.seconds / 1e9,
        };
      }
      if (parts.has('rawrx')) {
        const bmac = (await p.engine.stats()).ports[0]!.mac;
        const cost = await frameCostFrom(p.engine, 'in');
        const sent = await kernelFrames(p.nsKernel, p.veth.b, {
          mode: 'send',
          dstMac: bmac,
          frameLen,
          durationMs: rawMs,
        });
        await new Promise((r) => setTimeout(r, 200));
        // The worker polls whether frames come or not: engine_cpu is its time
        // while the kernel's sender sets the pace, not what a frame needs.
        const engineCpu = await cost();
        const got = engineCpu.frames;
        out.raw_afp_rx = {
          frame_bytes: frameLen,
          frames_sent_by_kernel_process: sent.frames,
          frames_received: got,
          engine_cpu: engineCpu,
          seconds: sent.seconds,
          mpps: got / sent.seconds / 1e6,
          gbit_per_s: (got * frameLen * 8) / sent.seconds / 1e9,
        };
      }
      await p.engine.close();
    } finally {
      await tb.destroy();
    }
  }
}

const HELP = `Usage: node dist/integration/bench/dataplane.js [options]

Braid <-> Braid over net_memif, kernel <-> kernel over veth, Braid <-> kernel
over net_af_packet (both directions) and the raw af_packet rates of that veth,
side by side; prints JSON with the ratios against issue 4's targets.
Braid <-> Braid runs twice: braid_memif with Braid's settings for an
engine-to-engine link (MTU 9000, checksums off, each engine's worker on a
CPU of its own: the targets' ratios), and braid_memif_1500 with the port
defaults (MTU 1500, checksums on; workers pinned alike); each says its
settings in the JSON.

  --bytes N[K|M|G]   bulk transfer size (default 256M)
  --rr N             request/response transactions (default 20000)
  --raw-ms N         duration of each raw device measurement (default 2000)
  --repeat N         N rounds of every pairing in turn: medians, and each
                     round's ratios in ratios_per_round (default 1)
  --only LIST        comma-separated parts to run (default all):
                     memif (Braid <-> Braid over memif and its baseline,
                     kernel <-> kernel over veth with iperf3 / sockperf),
                     node (kernel_veth_node), and of the af_packet pairing:
                     tx (Braid -> kernel), rx (kernel -> Braid), rr,
                     rawtx, rawrx (the raw device rates)
  af_packet pairing (each setting holds for its TCP runs and raw rates alike,
  and is in braid_kernel_afp.settings):
  --kernel-gro on|off  GRO on the kernel's end of the af_packet veth
                     (default on; tx/tso/gso stay off there)
  --kernel-rps off|MASK  rps_cpus (hex CPU mask) of the kernel's veth end
                     (default off)
  --afp-devargs S    extra net_af_packet devargs of Braid's port
                     (e.g. qdisc_bypass=0,framesz=4096)
  --afp-worker-cpu N  Braid's worker pinned to CPU N (default floating)
  --afp-mtu N        MTU of the veth pair and Braid's port, 576..9000
                     (default 1500); above 1500 Braid's ring slots are
                     sized for it, and the raw rates use frames of N + 14
  --braid-sink-hash on|off|both  Braid's sink in kernel -> Braid: SHA-256
                     of every byte on its worker (kernel_to_braid: the
                     target's series, checked end to end), byte count only
                     (kernel_to_braid_unhashed: what the hashing costs), or
                     both series in turn (default both)
  --memif-zero-copy on|off|both  braid_memif's client end with the PMD's
                     zero-copy=yes (default off: no gain measured, see
                     native/RUNTIME.md); both: braid_memif_copy,
                     the same link without it, after it in every round
  --help             this text
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bytes: { type: 'string' },
      rr: { type: 'string' },
      'raw-ms': { type: 'string' },
      repeat: { type: 'string' },
      'kernel-gro': { type: 'string' },
      'kernel-rps': { type: 'string' },
      'afp-devargs': { type: 'string' },
      'afp-worker-cpu': { type: 'string' },
      'afp-mtu': { type: 'string' },
      'braid-sink-hash': { type: 'string' },
      only: { type: 'string' },
      'memif-zero-copy': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const size = values.bytes ?? '256M';
  const m = /^(\d+)([KMG]?)$/i.exec(size);
  if (!m) throw new Error('--bytes N[K|M|G]');
  const bytes =
    Number(m[1]) * ({ '': 1, K: 1024, M: 1 << 20, G: 1 << 30 }[m[2]!.toUpperCase()] ?? 1);
  const rrCount = Number(values.rr ?? 20000);
  const rawMs = Number(values['raw-ms'] ?? 2000);
  const repeat = Math.max(1, Number(values.repeat ?? 1));
  const kernelGro = (values['kernel-gro'] ?? 'on') !== 'off';
  const only = (values.only ?? PARTS.join(',')).split(',');
  for (const x of only)
    if (!PARTS.includes(x as Part)) throw new Error(`--only: ${x}? (${PARTS.join(',')})`);
  const parts = new Set(only as Part[]);
  const rps = values['kernel-rps'] ?? 'off';
  if (rps !== 'off' && !/^[0-9a-f]+$/i.test(rps)) throw new Error('--kernel-rps off|HEXMASK');
  const cpuArg = values['afp-worker-cpu'];
  if (cpuArg !== undefined && !/^\d+$/.test(cpuArg)) throw new Error('--afp-worker-cpu N');
  const afpMtu = Number(values['afp-mtu'] ?? 1500);
  if (!Number.isInteger(afpMtu) || afpMtu < 576 || afpMtu > 9000)
    throw new Error('--afp-mtu N (576..9000)');
  const sinkHash = values['braid-sink-hash'] ?? 'both';
  if (sinkHash !== 'on' && sinkHash !== 'off' && sinkHash !== 'both')
    throw new Error('--braid-sink-hash on|off|both');
  const afp: AfpSettings = {
    kernelGro,
    kernelRps: rps === 'off' ? '0' : rps,
    devargs: values['afp-devargs'] ?? '',
    mtu: afpMtu,
    workerCpu: cpuArg === undefined ? null : Number(cpuArg),
    sinkHash,
  };
  const zc = values['memif-zero-copy'] ?? 'off';
  if (zc !== 'on' && zc !== 'off' && zc !== 'both')
    throw new Error('--memif-zero-copy on|off|both');
  const memifZeroCopy = zc;
  const out: Record<string, unknown> = {
    machine: {
      cpus: (await import('node:os')).availableParallelism(),
      kernel: fs.readFileSync('/proc/version', 'utf8').split(' ')[2],
    },
    bytes,
    rr_transactions: rrCount,
    rounds: repeat,
    load_average: fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
  };

  // Rounds run every pairing in turn, so that the machine's load drifts
  // over all of them alike; the pairings' figures and the ratios are the
  // medians over the rounds.
  const rounds: Array<Record<string, unknown>> = [];
  for (let i = 0; i < repeat; i++) {
    const r: Record<string, unknown> = {};
    await runRound(r, bytes, rrCount, rawMs, parts, afp, memifZeroCopy, i);
    r.ratios = ratiosOf(r);
    rounds.push(r);
    process.stderr.write(`dataplane bench: round ${i + 1}/${repeat} ${JSON.stringify(r.ratios)}\n`);
  }
  Object.assign(out, median(rounds));
  if (repeat > 1) out.ratios_per_round = rounds.map((r) => r.ratios);
  out.targets = targetsOf(out.ratios as Record<string, number>);
  out.parts = [...parts];
  out.load_average_end = fs
    .readFileSync('/proc/loadavg', 'utf8')
    .split(' ')
    .slice(0, 3)
    .map(Number);
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`dataplane bench: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
