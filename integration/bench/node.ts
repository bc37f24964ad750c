/**
 * The node benchmark: the same `braid perf` workloads, side by side in one
 * run, over
 *   - sdk:    applications on two `braid node` processes (the SDK over shared
 *             memory, the nodes' Braid TCP on net_af_packet over one veth path),
 *   - engine: Braid's built-in apps in the perf process itself (`--engine`,
 *             net_af_packet over one veth path),
 *   - kernel: `braid perf --kernel` over a veth pair (the kernel's TCP with its
 *             default offloads),
 * bulk throughput and request/response latency (p50/p99), with ratios.
 * Prints JSON; one run on a shared machine: compare within a run only.
 *
 *   node dist/integration/bench/node.js [--bytes 64M] [--rr 5000] [--mptcp]
 * --mptcp adds the SDK over three paths with MPTCP (three subflows).
 */
import { parseArgs } from 'node:util';
import { afPacketVdev } from '../../native/src/runtime';
import { nextSubnet } from '../src/dpdk-testbed';
import { perfPair, type PairBulk, type PairRr } from '../src/perf-pair';
import { Testbed } from '../src/netns';
import { twoNodes } from '../src/node-testbed';

type Bulk = PairBulk;
type Rr = PairRr;

function parseSize(s: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * ({ '': 1, k: 1024, m: 1 << 20, g: 1 << 30 }[m[2]!.toLowerCase()] ?? 1);
}

let nextPort = 6300;

/** The next two free ports, for a bulk and a request/response run. */
const ports = (): [number, number] => [nextPort++, nextPort++];

async function sdkRun(
  bytes: number,
  rrCount: number,
  paths: number,
  subflows: number,
): Promise<{ bulk: Bulk; rr: Rr }> {
  const tb = new Testbed();
  try {
    const n = await twoNodes(tb, paths, { drainMs: 2000 });
    const sdk = (sock: string): string[] => [
      '--sdk',
      '--socket',
      sock,
      '--subflows',
      String(subflows),
    ];
    return await perfPair(
      tb,
      n.nsB,
      n.nsA,
      n.addrsB[0]!,
      sdk(n.b.appSocket),
      sdk(n.a.appSocket),
      bytes,
      rrCount,
      ports(),
    );
  } finally {
    await tb.destroy();
  }
}

/** Two namespaces joined by a veth pair, for the run fn; removed afterwards. */
async function vethPair<T>(
  fn: (tb: Testbed, nsA: string, nsB: string, a: string, b: string, net: string) => Promise<T>,
): Promise<T> {
  const tb = new Testbed();
  try {
    const nsA = tb.namespace('pa');
    const nsB = tb.namespace('pb');
    const v = tb.veth(nsA, nsB);
    return await fn(tb, nsA, nsB, v.a, v.b, nextSubnet());
  } finally {
    await tb.destroy();
  }
}

function engineRun(bytes: number, rrCount: number): Promise<{ bulk: Bulk; rr: Rr }> {
  return vethPair((tb, nsA, nsB, a, b, net) => {
    tb.offloadsOff(nsA, a);
    tb.offloadsOff(nsB, b);
    const eng = (iface: string, addr: string): string[] => [
      '--engine',
      '--vdev',
      afPacketVdev(0, iface, 1),
      '--address',
      `${addr}/24`,
    ];
    return perfPair(
      tb,
      nsB,
      nsA,
      `${net}.2`,
      eng(b, `${net}.2`),
      eng(a, `${net}.1`),
      bytes,
      rrCount,
      ports(),
    );
  });
}

function kernelRun(bytes: number, rrCount: number): Promise<{ bulk: Bulk; rr: Rr }> {
  return vethPair((tb, nsA, nsB, a, b, net) => {
    tb.address(nsA, a, `${net}.1/24`);
    tb.address(nsB, b, `${net}.2/24`);
    return perfPair(tb, nsB, nsA, `${net}.2`, ['--kernel'], ['--kernel'], bytes, rrCount, ports());
  });
}

const ratio = (a: number, b: number): number => (b > 0 ? Number((a / b).toFixed(3)) : 0);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bytes: { type: 'string' },
      rr: { type: 'string' },
      mptcp: { type: 'boolean' },
    },
  });
  const bytes = parseSize(values.bytes ?? '64M');
  const rrCount = Number(values.rr ?? 5000);
  const out: Record<string, unknown> = {
    bench: 'node',
    bytes,
    rr_count: rrCount,
    rr_size: { req: 64, resp: 64 },
  };
  process.stderr.write('node bench: SDK over two braid nodes (TCP, one path)\n');
  const sdk = await sdkRun(bytes, rrCount, 1, 1);
  process.stderr.write('node bench: built-in engine apps (--engine)\n');
  const engine = await engineRun(bytes, rrCount);
  process.stderr.write('node bench: kernel (--kernel)\n');
  const kernel = await kernelRun(bytes, rrCount);
  out.sdk = {
    ...sdk,
    note: 'cpu_seconds: the two perf applications only (the nodes processes are not counted)',
  };
  out.engine = engine;
  out.kernel = { ...kernel, note: 'kernel TCP with its default offloads on the veth pair' };
  if (values.mptcp) {
    process.stderr.write('node bench: SDK over MPTCP, three paths\n');
    out.sdk_mptcp_3paths = await sdkRun(bytes, rrCount, 3, 3);
  }
  out.ratios = {
    sdk_vs_engine_throughput: ratio(sdk.bulk.gbit_per_s, engine.bulk.gbit_per_s),
    sdk_vs_kernel_throughput: ratio(sdk.bulk.gbit_per_s, kernel.bulk.gbit_per_s),
    sdk_vs_engine_rr_p50: ratio(sdk.rr.p50_us, engine.rr.p50_us),
    sdk_vs_engine_rr_p99: ratio(sdk.rr.p99_us, engine.rr.p99_us),
    sdk_vs_kernel_rr_p50: ratio(sdk.rr.p50_us, kernel.rr.p50_us),
    sdk_vs_kernel_rr_p99: ratio(sdk.rr.p99_us, kernel.rr.p99_us),
  };
  out.load_average = (await import('node:os')).loadavg();
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`node bench: ${(e as Error).message}\n`);
  process.exit(1);
});
