/**
 * MPTCP benchmark in the virtual-time simulator (deterministic; not part of
 * npm test): prints JSON.
 *
 *  - simult_flows: the Linux selftest's matrix (two paths, 16 MiB, rates
 *    10/10 and 10/3 Mbit/s, delays 0/0, 1/25 and 25/1 ms): transfer time
 *    against the ideal (size over the summed rates); target <= 1.05. One
 *    way, and both ways at once on one connection as the selftest does.
 *    Against the TCP-framing ideal too (1448 payload bytes per 1514-byte
 *    frame: no TCP with timestamps does better on these links).
 *  - three equal paths: MPTCP goodput as a fraction of the summed capacity
 *    (target >= 0.97) and against single-path TCP (target >= 2.8).
 *  - latency: request/response p50/p99 over three paths with 1 %, 5 % loss
 *    or +40 ms on the first one, per scheduler, against TCP on that path.
 *  - failover: one of three paths blackholed mid-transfer; the longest
 *    stall the receiving application saw, in path RTTs (target < 3).
 *  - fairness: MPTCP with two subflows through one 20 Mbit/s bottleneck
 *    against one TCP flow there: MPTCP's share of the bytes delivered when
 *    the first flow finished (coupled target <= 0.5; the TCP flow runs the
 *    same controller, a coupled one alone being NewReno).
 *
 *   npx tsc -p . && node dist/integration/bench/mptcp.js [--quick] [--only simult,...]
 */
import { parseArgs } from 'node:util';
import { type Scenario, type SimPath, type SimResult, runScenario } from '../../native/src/sim';

const MIB = 1024 * 1024;
// TCP's framing: the simulated links (like netem in the Linux selftest)
// count whole Ethernet frames against the rate, and a full segment with
// timestamps carries 1448 payload bytes in a 1514-byte frame. No TCP with
// timestamps gets more through a link; Braid's MPTCP options cost little
// on top (a mapping on the first segment it covers, a data ACK when it
// moved). The ideals below are NOT scaled by this: it is reported beside.
const TCP_PAYLOAD = 1500 - 40 - 12;
const FRAMING = TCP_PAYLOAD / (1500 + 14);
const SCHEDULERS = ['lowrtt', 'roundrobin', 'redundant', 'weighted', 'blest', 'ecf'] as const;
type Sched = (typeof SCHEDULERS)[number];

function path(rateMbps: number, delayMs: number, extra: Partial<SimPath> = {}): SimPath {
  // A drop-tail queue of about 100 ms at the path's rate (at least 30 kB).
  const queue = Math.max(30000, Math.round(((rateMbps * 1e6) / 8) * 0.1));
  return { rate_mbps: rateMbps, delay_ms: delayMs, queue_bytes: queue, ...extra };
}

async function run(s: Scenario): Promise<SimResult> {
  const r = await runScenario({ seed: 1, time_limit_s: 600, ...s });
  if (!r.completed) throw new Error(`${s.name ?? 'scenario'}: ${r.error ?? 'not completed'}`);
  return r;
}

async function simultFlows(bytes: number) {
  const cases: [number, number, number, number][] = [
    [10, 10, 0, 0],
    [10, 10, 1, 25],
    [10, 3, 0, 0],
    [10, 3, 1, 25],
    [10, 3, 25, 1],
  ];
  const rows = [];
  for (const [r0, r1, d0, d1] of cases) {
    const ideal = (bytes * 8) / ((r0 + r1) * 1e6);
    const row: Record<string, unknown> = {
      rates_mbps: [r0, r1],
      delays_ms: [d0, d1],
      ideal_s: ideal,
      target: 1.05,
    };
    // One way (client to server), then both ways at once on one
    // connection as the selftest runs it (each direction has its own
    // link capacity, so the ideal is the same).
    for (const both of [false, true]) {
      const r = await run({
        name: `simult ${r0}/${r1} ${d0}/${d1}${both ? ' both ways' : ''}`,
        protocol: 'mptcp',
        paths: [path(r0, d0), path(r1, d1)],
        workload: { type: 'bulk', bytes, hash: false, both_ways: both },
      });
      row[both ? 'both_ways' : 'one_way'] = {
        duration_s: r.duration_s,
        ...(both ? { forward_s: r.forward_s, reverse_s: r.reverse_s } : {}),
        ratio: r.duration_s / ideal,
        ratio_vs_tcp_framing_ideal: (r.duration_s / ideal) * FRAMING,
        retransmits: r.retransmits,
      };
    }
    rows.push(row);
  }
  return rows;
}

async function threePaths(bytes: number) {
  const paths: Scenario['paths'] = [path(10, 10), path(10, 10), path(10, 10)];
  const mp = await run({
    name: '3 paths mptcp',
    protocol: 'mptcp',
    paths,
    workload: { type: 'bulk', bytes, hash: false },
  });
  const tcp = await run({
    name: '1 path tcp',
    protocol: 'tcp',
    paths,
    workload: { type: 'bulk', bytes, hash: false },
  });
  return {
    mptcp_goodput_mbps: mp.goodput_mbps,
    tcp_goodput_mbps: tcp.goodput_mbps,
    fraction_of_capacity: mp.goodput_mbps / 30,
    fraction_of_tcp_framing_capacity: mp.goodput_mbps / (30 * FRAMING),
    tcp_framing_max_fraction: FRAMING,
    fraction_target: 0.97,
    vs_tcp: mp.goodput_mbps / tcp.goodput_mbps,
    vs_tcp_target: 2.8,
  };
}

async function latency(count: number) {
  const impairments: [string, Partial<SimPath>][] = [
    ['loss 1%', { loss: 0.01 }],
    ['loss 5%', { loss: 0.05 }],
    ['+40 ms', { delay_ms: 50 }],
  ];
  const rows = [];
  for (const [label, imp] of impairments) {
    const paths: Scenario['paths'] = [path(10, 10, imp), path(10, 10), path(10, 10)];
    const workload = { type: 'rr' as const, request_bytes: 1000, response_bytes: 4000, count };
    const tcp = await run({ name: `rr tcp ${label}`, protocol: 'tcp', paths, workload });
    const row: Record<string, unknown> = {
      impairment: label,
      tcp: { p50_us: tcp.p50_us, p99_us: tcp.p99_us },
    };
    for (const sched of SCHEDULERS) {
      const r = await run({
        name: `rr ${sched} ${label}`,
        protocol: 'mptcp',
        paths,
        workload,
        mptcp: { scheduler: sched },
      });
      row[sched] = {
        p50_us: r.p50_us,
        p99_us: r.p99_us,
        p99_vs_tcp: (r.p99_us ?? 0) / (tcp.p99_us ?? 1),
      };
    }
    rows.push(row);
  }
  return rows;
}

async function failover(bytes: number, scheds: readonly Sched[]) {
  const rtt = 20;
  const rows = [];
  for (const sched of scheds) {
    const r = await run({
      name: `failover ${sched}`,
      protocol: 'mptcp',
      paths: [
        path(10, rtt / 2),
        path(10, rtt / 2, { blackholes: [{ start_ms: 1000, end_ms: 1e9 }] }),
        path(10, rtt / 2),
      ],
      workload: { type: 'bulk', bytes, hash: true },
      mptcp: { scheduler: sched },
    });
    // The RTT the survivors measured under load (queues included), in ms.
    const client = r.mptcp?.find((m) => m.role === 'client');
    const live = (client?.subflows ?? []).filter((s) => s.path !== 1 && s.rtt > 0);
    const loaded = live.length ? live.reduce((a, s) => a + s.rtt, 0) / live.length / 1000 : rtt;
    rows.push({
      scheduler: sched,
      sha256_match: r.sha256_match,
      max_stall_ms: r.max_stall_ms,
      path_rtt_ms: rtt,
      stall_rtts: (r.max_stall_ms ?? 0) / rtt,
      loaded_rtt_ms: loaded,
      stall_loaded_rtts: (r.max_stall_ms ?? 0) / loaded,
      target_rtts: 3,
      goodput_mbps: r.goodput_mbps,
    });
  }
  return rows;
}

async function fairness(bytes: number) {
  const rows = [];
  for (const cc of ['cubic', 'newreno', 'lia', 'olia', 'balia'] as const) {
    const r = await run({
      name: `fairness ${cc}`,
      protocol: 'mptcp',
      paths: [path(20, 10)],
      cc,
      mptcp: { subflows_per_path: 2 },
      compete: { path: 0 },
      workload: { type: 'bulk', bytes, hash: false },
    });
    const coupled = cc !== 'cubic' && cc !== 'newreno';
    rows.push({
      cc,
      coupled,
      mptcp_subflows: 2,
      mptcp_share: r.compete?.share_main,
      target_max: coupled ? 0.5 : null,
      mptcp_goodput_mbps: r.goodput_mbps,
      tcp_goodput_mbps: r.compete?.goodput_mbps,
    });
  }
  return rows;
}

const PARTS = ['simult', 'three', 'latency', 'failover', 'fairness'] as const;
const HELP = `usage: node dist/integration/bench/mptcp.js [--quick] [--only LIST]
MPTCP benchmarks in the virtual-time simulator (deterministic, seed 1); JSON on stdout.
  --quick      smaller transfers (a check, not the numbers to quote)
  --only LIST  comma-separated parts: ${PARTS.join(',')} (default: all)
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const quick = values.quick ?? false;
  const only = new Set(values.only ? values.only.split(',') : PARTS);
  for (const p of only)
    if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--only: unknown part ${p}`);
  const t0 = Date.now();
  const out: Record<string, unknown> = {
    bench: 'mptcp',
    simulator: 'virtual time, deterministic (seed 1)',
  };
  if (only.has('simult')) {
    process.stderr.write('mptcp bench: simult_flows\n');
    out.simult_flows = await simultFlows(quick ? 4 * MIB : 16 * MIB);
  }
  if (only.has('three')) {
    process.stderr.write('mptcp bench: three paths\n');
    out.three_paths = await threePaths(quick ? 8 * MIB : 32 * MIB);
  }
  if (only.has('latency')) {
    process.stderr.write('mptcp bench: latency\n');
    out.latency = await latency(quick ? 200 : 1000);
  }
  if (only.has('failover')) {
    process.stderr.write('mptcp bench: failover\n');
    out.failover = await failover(quick ? 4 * MIB : 16 * MIB, quick ? ['lowrtt'] : SCHEDULERS);
  }
  if (only.has('fairness')) {
    process.stderr.write('mptcp bench: fairness\n');
    out.fairness = await fairness(quick ? 8 * MIB : 32 * MIB);
  }
  out.wall_s = (Date.now() - t0) / 1000;
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`mptcp bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
