/**
 * The seed talk's benchmarks on the multi-path testbed (`braid bench seed`).
 *
 * Between a client and a server namespace joined by 3 paths through the link
 * emulator (10 ms RTT, 100 Mbit/s each by default), side by side in the same
 * run, averaging --runs runs:
 *   1. forwarding throughput (bulk transfer, receiver's rate);
 *   2. forwarding latency (request/response, mean time per transaction);
 *   3. latency under packet drop (loss on every path, both directions, swept);
 *   4. latency under packet delay (extra RTT on path 0, swept: the path every
 *      series starts on, so single-path TCP feels it fully and MPTCP can
 *      schedule around it).
 * Series: kernel TCP (path 0), kernel MPTCP (3 paths, `mptcpize run`), Braid
 * TCP (`braid perf` on DPDK net_af_packet on the client's path-0 interface,
 * kernel server), Braid MPTCP (a `braid node` on each host taking every path
 * interface with addresses of its own, `braid perf --sdk --subflows 3` at both
 * ends: user-space MPTCP between two hosts, as in the seed).
 * Also: the Linux selftest `simult_flows` matrix (2 paths, kernel and Braid
 * MPTCP) and a failover run (a path blackholed mid-transfer: the receiver's
 * longest stall), kernel and Braid MPTCP.
 *
 *   braid bench seed [--runs 10] [--quick] [--out DIR] [--only throughput,latency,loss,delay,simult,failover]
 *
 * Output: DIR/seed.json (every run, mean/min/max per point), DIR/*.svg,
 * DIR/report.md; the JSON is also printed on stdout, the directory on stderr.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  addNode,
  down,
  perfOn,
  setPath,
  spawnOn,
  up,
  type PathSpec,
  type TestbedState,
} from '../src/testbed';
import { repoRoot } from '../../ops/src/paths';
import { writeReport } from './report';

export type SeriesId = 'kernel-tcp' | 'kernel-mptcp' | 'braid-tcp' | 'braid-mptcp';

export interface SeriesInfo {
  id: SeriesId;
  label: string;
  available: boolean;
  reason?: string;
  how: string;
}

export interface Point {
  x: number;
  /** One value per successful run. */
  runs: number[];
  errors: string[];
  mean: number | null;
  min: number | null;
  max: number | null;
  /** Extra per-run details (p99, retransmits…). */
  detail: Array<Record<string, number>>;
}

export interface Chart {
  id: 'throughput' | 'latency' | 'loss' | 'delay';
  title: string;
  unit: string;
  x_label: string;
  /** Lower is better (latency) or higher (throughput). */
  better: 'lower' | 'higher';
  xs: number[];
  series: Partial<Record<SeriesId, Point[]>>;
}

export interface SimultRow {
  series: SeriesId;
  rate1: number;
  rate2: number;
  delay1: number;
  delay2: number;
  bytes: number;
  expected_mbps: number;
  runs: number[];
  errors: string[];
  mean: number | null;
  min: number | null;
  max: number | null;
  ratio: number | null;
}

export interface FailoverRow {
  series: SeriesId;
  path: number;
  bytes: number;
  blackhole_after_ms: number;
  runs: Array<{ max_stall_ms: number; seconds: number; bytes: number; intact: boolean }>;
  errors: string[];
  mean_max_stall_ms: number | null;
  max_max_stall_ms: number | null;
}

export interface SeedResult {
  meta: {
    date: string;
    quick: boolean;
    runs: number;
    host: { cpus: number; kernel: string; model: string };
    testbed: { paths: PathSpec[]; notes: string[] };
    sizes: { bulk_bytes: number; rr_count: number; rr_size: number };
    command: string;
  };
  series: SeriesInfo[];
  charts: Chart[];
  simult_flows: { series: SeriesInfo[]; rows: SimultRow[] } | null;
  failover: { series: SeriesInfo[]; rows: FailoverRow[] } | null;
  seconds: number;
}

const SERIES: SeriesInfo[] = [
  {
    id: 'kernel-tcp',
    label: 'kernel TCP (1 path)',
    available: true,
    how: '`braid perf --kernel` client and server, path 0',
  },
  {
    id: 'kernel-mptcp',
    label: 'kernel MPTCP (3 paths)',
    available: true,
    how: '`mptcpize run braid perf --kernel` both ends; client subflow endpoints on paths 1 and 2',
  },
  {
    id: 'braid-tcp',
    label: 'Braid TCP (1 path)',
    available: true,
    how: 'client `braid perf --vdev net_af_packet0,iface=p0` (DPDK) on path 0, kernel TCP server',
  },
  {
    id: 'braid-mptcp',
    label: 'Braid MPTCP (3 paths)',
    available: true,
    how:
      '`braid node` on each host (net_af_packet on every path interface), `braid perf --sdk ' +
      '--subflows 3` at both ends (SDK over shared memory)',
  },
];

function stats(v: number[]): { mean: number | null; min: number | null; max: number | null } {
  if (!v.length) return { mean: null, min: null, max: null };
  return {
    mean: v.reduce((a, b) => a + b, 0) / v.length,
    min: Math.min(...v),
    max: Math.max(...v),
  };
}

let portSeq = 0;
function nextPort(): number {
  portSeq = (portSeq + 1) % 500;
  return 5400 + portSeq;
}

interface Sizes {
  bulkBytes: number;
  rrCount: number;
  rrSize: number;
  timeoutS: number;
}

/** One measurement of a series: a value (Mbit/s or ms) and details, or an error. */
async function measure(
  st: TestbedState,
  series: SeriesId,
  mode: 'bulk' | 'rr',
  sz: Sizes,
): Promise<{ value: number; detail: Record<string, number> }> {
  const port = String(nextPort());
  const mptcp = series === 'kernel-mptcp';
  const braidNodes = series === 'braid-mptcp';
  const stack = (host: 'client' | 'server'): string[] =>
    braidNodes ? ['--sdk', '--socket', st.nodes![host]!.appSocket] : ['--kernel'];
  const server = perfOn(
    st,
    'server',
    [
      ...stack('server'),
      '-s',
      '-p',
      port,
      '--mode',
      mode,
      '--timeout',
      String(sz.timeoutS),
      // The server answers each --req bytes with --resp bytes: both ends must agree.
      ...(mode === 'rr' ? ['--req', String(sz.rrSize), '--resp', String(sz.rrSize)] : []),
    ],
    mptcp,
    (sz.timeoutS + 10) * 1000,
  );
  await server.ready;
  const common = [
    '-c',
    braidNodes ? st.nodes!.server!.addrs[0]! : st.serverAddr,
    '-p',
    port,
    '--mode',
    mode,
    '--timeout',
    String(sz.timeoutS),
  ];
  const work =
    mode === 'bulk'
      ? ['-n', String(sz.bulkBytes)]
      : ['--count', String(sz.rrCount), '--req', String(sz.rrSize), '--resp', String(sz.rrSize)];
  const clientArgs =
    series === 'braid-tcp'
      ? [
          ...common,
          ...work,
          '--vdev',
          `net_af_packet0,iface=${st.paths[0]!.client.dev}`,
          '--address',
          `${st.braidClientAddr}/24`,
        ]
      : braidNodes
        ? [...stack('client'), '--subflows', '3', ...common, ...work]
        : ['--kernel', ...common, ...work];
  const client = perfOn(st, 'client', clientArgs, mptcp, (sz.timeoutS + 10) * 1000);
  const c = await client.result;
  if (c.code !== 0 || !c.json) server.child.kill('SIGKILL');
  const s = await server.result;
  if (c.code !== 0 || !c.json) {
    throw new Error(`client exit ${c.code}: ${(c.stderr || c.stdout).trim().slice(-300)}`);
  }
  if (c.json.end.errors.length) throw new Error(c.json.end.errors.join('; '));
  if (mode === 'bulk') {
    if (s.code !== 0 || !s.json) throw new Error(`server exit ${s.code}: ${s.stderr.slice(-300)}`);
    const got = s.json.end.streams[0];
    if (!got || got.bytes !== sz.bulkBytes) throw new Error(`server got ${got?.bytes ?? 0} bytes`);
    if (got.sha256 !== c.json.end.streams[0]?.sha256) throw new Error('SHA-256 mismatch');
    return {
      value: s.json.end.sum_received.bits_per_second / 1e6,
      detail: {
        seconds: s.json.end.sum_received.seconds,
        retransmits: c.json.end.sum_sent.retransmits,
      },
    };
  }
  const rr = c.json.end.rr;
  if (!rr || rr.transactions !== sz.rrCount) {
    throw new Error(`rr: ${rr?.transactions ?? 0} of ${sz.rrCount} transactions`);
  }
  return {
    value: rr.mean_us / 1000,
    detail: { p50_ms: rr.p50_us / 1000, p99_ms: rr.p99_us / 1000, max_ms: rr.max_us / 1000 },
  };
}

/** Put every path back to the base settings. */
async function resetPaths(st: TestbedState, base: PathSpec): Promise<void> {
  for (const p of st.paths) {
    await setPath(st, p.index, { ...base, down: false });
  }
}

function log(msg: string): void {
  process.stderr.write(`[bench seed] ${msg}\n`);
}

/** A receiver that records the longest gap between data arrivals (run
 * under mptcpize in the server host); a sender that writes N bytes. */
const STALL_SERVER = `
const net = require('net'); const crypto = require('crypto');
const port = Number(process.argv[1]);
const srv = net.createServer((c) => {
  let bytes = 0, first = 0, last = 0, maxGap = 0, gapAt = 0; const h = crypto.createHash('sha256');
  c.on('data', (d) => { const t = performance.now(); if (!first) first = t; else if (t - last > maxGap) { maxGap = t - last; gapAt = last - first; } last = t; bytes += d.length; h.update(d); });
  c.on('end', () => { console.log(JSON.stringify({ bytes, seconds: (last - first) / 1000, max_stall_ms: maxGap, stall_at_ms: gapAt, sha256: h.digest('hex') })); c.end(); srv.close(); });
});
srv.listen(port, () => console.error('stall server ready'));`;

const STALL_CLIENT = `
const net = require('net'); const crypto = require('crypto');
const [host, port, total] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const h = crypto.createHash('sha256'); let sent = 0; let n = 0;
const c = net.connect(port, host, () => { console.error('connected'); pump(); });
function pump() { while (sent < total) { const len = Math.min(65536, total - sent); const b = Buffer.alloc(len, n++ & 255); h.update(b); sent += len; if (!c.write(b)) { c.once('drain', pump); return; } } c.end(); }
c.on('close', () => console.log(JSON.stringify({ sent, sha256: h.digest('hex') })));
c.on('error', (e) => { console.error(e.message); process.exit(1); });`;

async function failoverRun(
  st: TestbedState,
  pathIdx: number,
  bytes: number,
  afterMs: number,
  timeoutS: number,
): Promise<{ max_stall_ms: number; seconds: number; bytes: number; intact: boolean }> {
  const port = String(nextPort());
  const server = spawnOn(
    st,
    'server',
    ['mptcpize', 'run', process.execPath, '-e', STALL_SERVER, port],
    'stall server ready',
    timeoutS * 1000,
  );
  await server.ready;
  const client = spawnOn(
    st,
    'client',
    ['mptcpize', 'run', process.execPath, '-e', STALL_CLIENT, st.serverAddr, port, String(bytes)],
    'connected',
    timeoutS * 1000,
  );
  await client.ready;
  await new Promise((r) => setTimeout(r, afterMs));
  await setPath(st, pathIdx, { down: true });
  const [c, s] = await Promise.all([client.result, server.result]);
  await setPath(st, pathIdx, { down: false });
  if (s.code !== 0 || c.code !== 0) {
    throw new Error(`failover: client ${c.code} server ${s.code}: ${s.stderr || c.stderr}`);
  }
  const sj = JSON.parse(s.stdout.trim().split('\n').pop()!) as {
    bytes: number;
    seconds: number;
    max_stall_ms: number;
    sha256: string;
  };
  const cj = JSON.parse(c.stdout.trim().split('\n').pop()!) as { sent: number; sha256: string };
  return {
    max_stall_ms: sj.max_stall_ms,
    seconds: sj.seconds,
    bytes: sj.bytes,
    intact: sj.bytes === cj.sent && sj.sha256 === cj.sha256,
  };
}

/** The same failover run between the two braid nodes: the SDK application of
 * the demo streams for `seconds`, the server times the longest gap. */
async function braidFailoverRun(
  st: TestbedState,
  pathIdx: number,
  seconds: number,
  afterMs: number,
): Promise<{ max_stall_ms: number; seconds: number; bytes: number; intact: boolean }> {
  const port = String(nextPort());
  const js = path.join(repoRoot(), 'dist', 'integration', 'src', 'demo-app.js');
  const env = (h: 'client' | 'server') => ['env', `BRAID_APP_SOCKET=${st.nodes![h]!.appSocket}`];
  const server = spawnOn(
    st,
    'server',
    [...env('server'), process.execPath, js, 'server', '--port', port],
    '"listening"',
    (seconds + 60) * 1000,
  );
  await server.ready;
  const client = spawnOn(
    st,
    'client',
    [
      ...env('client'),
      process.execPath,
      js,
      'client',
      '--host',
      st.nodes!.server!.addrs[0]!,
      '--port',
      port,
      '--seconds',
      String(seconds),
      '--subflows',
      '3',
    ],
    '"connected"',
    (seconds + 60) * 1000,
  );
  await client.ready;
  await new Promise((r) => setTimeout(r, afterMs));
  await setPath(st, pathIdx, { down: true });
  const [c, s] = await Promise.all([client.result, server.result]);
  await setPath(st, pathIdx, { down: false });
  const last = (out: string) =>
    JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  const sj = last(s.stdout);
  const cj = last(c.stdout);
  if (sj.done !== true || cj.done !== true) {
    throw new Error(`failover: client ${c.code} server ${s.code}: ${s.stdout || s.stderr}`);
  }
  return {
    max_stall_ms: Number(sj.max_gap_ms),
    seconds: Number(sj.seconds),
    bytes: Number(sj.bytes),
    intact: sj.bytes === cj.bytes && sj.sha256 === cj.sha256,
  };
}

/** The simult_flows matrix of the Linux selftests: rates in Mbit/s, one-way delays in ms. */
export const SIMULT_MATRIX: Array<[number, number, number, number]> = [
  [10, 10, 0, 0],
  [10, 10, 1, 25],
  [10, 3, 0, 0],
  [10, 3, 1, 25],
  [10, 3, 25, 1],
];

export async function seedMain(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean' },
      out: { type: 'string' },
      only: { type: 'string' },
      rtt: { type: 'string', default: '10' },
      rate: { type: 'string', default: '100' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    process.stdout.write(
      'Usage: braid bench seed [--runs 10] [--quick] [--out DIR] [--only throughput,latency,loss,delay,simult,failover]\n',
    );
    return 0;
  }
  const t0 = Date.now();
  const quick = !!v.quick;
  const runs = Number(v.runs ?? (quick ? 2 : 10));
  const only = new Set(
    (v.only ?? 'throughput,latency,loss,delay,simult,failover').split(',').map((s) => s.trim()),
  );
  const out = v.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'braid-bench-seed-'));
  fs.mkdirSync(out, { recursive: true });
  const sz: Sizes = quick
    ? { bulkBytes: 8 << 20, rrCount: 50, rrSize: 64, timeoutS: 60 }
    : { bulkBytes: 64 << 20, rrCount: 500, rrSize: 64, timeoutS: 120 };
  const base: PathSpec = { rtt_ms: Number(v.rtt), loss: 0, rate_mbps: Number(v.rate) };
  const name = v.name ?? `sd${process.pid % 100000}`;
  const stateDir = path.join(out, 'testbed');
  const lossXs = [0, 0.5, 1, 2, 5];
  const delayXs = quick ? [0, 20, 50] : [0, 10, 20, 50, 100];
  const result: SeedResult = {
    meta: {
      date: new Date().toISOString(),
      quick,
      runs,
      host: { cpus: os.cpus().length, kernel: os.release(), model: os.cpus()[0]?.model ?? '?' },
      testbed: { paths: [base, base, base], notes: [] },
      sizes: { bulk_bytes: sz.bulkBytes, rr_count: sz.rrCount, rr_size: sz.rrSize },
      command: `braid bench seed ${argv.join(' ')}`.trim(),
    },
    series: SERIES,
    charts: [],
    simult_flows: null,
    failover: null,
    seconds: 0,
  };
  const measured = SERIES.filter((s) => s.available).map((s) => s.id);
  const mkChart = (
    id: Chart['id'],
    title: string,
    unit: string,
    xLabel: string,
    better: Chart['better'],
    xs: number[],
  ): Chart => ({
    id,
    title,
    unit,
    x_label: xLabel,
    better,
    xs,
    series: Object.fromEntries(
      measured.map((s) => [
        s,
        xs.map((x) => ({ x, runs: [], errors: [], mean: null, min: null, max: null, detail: [] })),
      ]),
    ),
  });
  const charts: Chart[] = [];
  if (only.has('throughput')) {
    charts.push(mkChart('throughput', 'Forwarding throughput', 'Mbit/s', '', 'higher', [0]));
  }
  if (only.has('latency')) {
    charts.push(
      mkChart('latency', 'Forwarding latency (request/response)', 'ms', '', 'lower', [0]),
    );
  }
  if (only.has('loss')) {
    charts.push(
      mkChart('loss', 'Latency under packet drop', 'ms', 'loss on every path (%)', 'lower', lossXs),
    );
  }
  if (only.has('delay')) {
    charts.push(
      mkChart(
        'delay',
        'Latency under packet delay',
        'ms',
        'extra RTT on path 0 (ms)',
        'lower',
        delayXs,
      ),
    );
  }
  result.charts = charts;

  const cleanup = async () => {
    await down(name, stateDir).catch(() => undefined);
  };
  const onSignal = () => {
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (charts.length || only.has('failover')) {
      log(`testbed up: 3 paths, ${base.rtt_ms} ms RTT, ${base.rate_mbps} Mbit/s each`);
      const st = await up({ name, stateDir, paths: [base, base, base], force: true });
      result.meta.testbed.notes = st.notes;
      if (measured.includes('braid-mptcp')) {
        log('a braid node on each host');
        await addNode(st, 'server', stateDir);
        await addNode(st, 'client', stateDir);
      }
      for (let r = 0; r < runs; r++) {
        for (const ch of charts) {
          for (let xi = 0; xi < ch.xs.length; xi++) {
            const x = ch.xs[xi]!;
            await resetPaths(st, base);
            if (ch.id === 'loss') {
              for (const p of st.paths) await setPath(st, p.index, { loss: x / 100 });
            } else if (ch.id === 'delay') {
              await setPath(st, 0, { rtt_ms: base.rtt_ms + x });
            }
            for (const s of measured) {
              const pt = ch.series[s]![xi]!;
              let shown = 'error';
              try {
                const m = await measure(st, s, ch.id === 'throughput' ? 'bulk' : 'rr', sz);
                pt.runs.push(m.value);
                pt.detail.push(m.detail);
                shown = `${m.value.toFixed(2)} ${ch.unit}`;
              } catch (e) {
                pt.errors.push(`run ${r + 1}: ${(e as Error).message}`);
                shown = `error: ${(e as Error).message}`;
              }
              log(
                `run ${r + 1}/${runs} ${ch.id}${ch.xs.length > 1 ? ` x=${x}` : ''} ${s}: ${shown}`,
              );
            }
          }
        }
      }
      for (const ch of charts) {
        for (const pts of Object.values(ch.series))
          for (const pt of pts) Object.assign(pt, stats(pt.runs));
      }
      await resetPaths(st, base);

      if (only.has('failover')) {
        const fbytes = quick ? 24 << 20 : 96 << 20;
        const after = quick ? 400 : 1000;
        const rows: FailoverRow[] = [];
        const fseries = (['kernel-mptcp', 'braid-mptcp'] as const).filter((x) =>
          measured.includes(x),
        );
        for (const series of fseries)
          for (const pi of [0, 1]) {
            const row: FailoverRow = {
              series,
              path: pi,
              bytes: fbytes,
              blackhole_after_ms: after,
              runs: [],
              errors: [],
              mean_max_stall_ms: null,
              max_max_stall_ms: null,
            };
            for (let r = 0; r < Math.min(runs, 3); r++) {
              await resetPaths(st, base);
              try {
                const fr =
                  series === 'braid-mptcp'
                    ? await braidFailoverRun(st, pi, quick ? 4 : 8, after)
                    : await failoverRun(st, pi, fbytes, after, 90);
                row.runs.push(fr);
                log(
                  `failover ${series} path ${pi} run ${r + 1}: longest stall ${fr.max_stall_ms.toFixed(1)} ms`,
                );
              } catch (e) {
                row.errors.push((e as Error).message);
                log(`failover ${series} path ${pi} run ${r + 1}: ${(e as Error).message}`);
              }
            }
            const s = stats(row.runs.map((x) => x.max_stall_ms));
            row.mean_max_stall_ms = s.mean;
            row.max_max_stall_ms = s.max;
            rows.push(row);
          }
        result.failover = { series: SERIES.filter((x) => fseries.some((f) => f === x.id)), rows };
      }
      await down(name, stateDir);
    }

    if (only.has('simult')) {
      const sname = `sf${process.pid % 100000}`;
      const sbase: PathSpec = { rtt_ms: 0, loss: 0, rate_mbps: 10 };
      log('testbed up: 2 paths for the simult_flows matrix');
      const st = await up({ name: sname, stateDir, paths: [sbase, sbase], force: true });
      const sseries = (['kernel-mptcp', 'braid-mptcp'] as const).filter((x) =>
        measured.includes(x),
      );
      if (sseries.includes('braid-mptcp')) {
        await addNode(st, 'server', stateDir);
        await addNode(st, 'client', stateDir);
      }
      const rows: SimultRow[] = [];
      const bytes = quick ? 2 << 20 : 8 << 20;
      try {
        for (const [rate1, rate2, delay1, delay2] of SIMULT_MATRIX)
          for (const series of sseries) {
            const row: SimultRow = {
              series,
              rate1,
              rate2,
              delay1,
              delay2,
              bytes,
              expected_mbps: rate1 + rate2,
              runs: [],
              errors: [],
              mean: null,
              min: null,
              max: null,
              ratio: null,
            };
            // The selftest's queue is netem's default: a few BDP; ours: 2 BDP, at least 64 KB.
            await setPath(st, 0, { rate_mbps: rate1, rtt_ms: 2 * delay1, queue_bytes: 65536 });
            await setPath(st, 1, { rate_mbps: rate2, rtt_ms: 2 * delay2, queue_bytes: 65536 });
            for (let r = 0; r < Math.min(runs, 3); r++) {
              try {
                const m = await measure(st, series, 'bulk', { ...sz, bulkBytes: bytes });
                row.runs.push(m.value);
              } catch (e) {
                row.errors.push((e as Error).message);
              }
            }
            Object.assign(row, stats(row.runs));
            row.ratio = row.mean === null ? null : row.mean / row.expected_mbps;
            log(
              `simult ${series} ${rate1}/${rate2} Mbit ${delay1}/${delay2} ms: ${row.mean?.toFixed(2) ?? 'error'} Mbit/s`,
            );
            rows.push(row);
          }
      } finally {
        await down(sname, stateDir);
      }
      result.simult_flows = {
        series: SERIES.filter((x) => sseries.some((f) => f === x.id)),
        rows,
      };
    }
  } finally {
    await cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  result.seconds = (Date.now() - t0) / 1000;
  fs.rmSync(stateDir, { recursive: true, force: true });
  fs.writeFileSync(path.join(out, 'seed.json'), JSON.stringify(result, null, 2));
  const files = writeReport(result, out);
  process.stdout.write(JSON.stringify(result) + '\n');
  log(`results in ${out}: seed.json ${files.join(' ')}`);
  return 0;
}

if (require.main === module) {
  seedMain(process.argv.slice(2)).then(
    (c) => process.exit(c),
    (e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
