/**
 * Engine benchmark (not part of npm test): prints JSON.
 *
 *  - goodput as a fraction of the link rate in the virtual-time simulator, for
 *    loss {0, 0.1 %, 1 %} x RTT {1, 10, 50} ms x {NewReno, CUBIC}, one path,
 *    a drop-tail queue of one bandwidth-delay product;
 *  - the engine's CPU cost per segment: CPU time (process.cpuUsage, all
 *    threads) and wall time around a clean simulated transfer, divided by the
 *    frames the simulated links carried (data segments and ACKs, both hosts'
 *    stacks included), with and without the SHA-256 of the payload.
 *
 *   npx tsc -p . && node dist/integration/bench/engine.js [--rate-mbps 1000] [--bytes N] [--quick]
 */
import { parseArgs } from 'node:util';
import { type Scenario, type SimResult, runScenario } from '../../native/src/sim';

interface GoodputRow {
  cc: 'newreno' | 'cubic';
  loss: number;
  rtt_ms: number;
  completed: boolean;
  bytes: number;
  duration_s: number;
  goodput_mbps: number;
  fraction: number;
  retransmits: number;
  wall_s: number;
}

function mib(n: number): number {
  return n * 1024 * 1024;
}

async function goodput(
  rateMbps: number,
  cc: 'newreno' | 'cubic',
  loss: number,
  rttMs: number,
  bytesOpt: number | undefined,
): Promise<GoodputRow> {
  const bdp = Math.round(((rateMbps * 1e6) / 8) * (rttMs / 1000));
  // Long enough to leave slow start behind: 40 pipes' worth, at least 16 MiB.
  const bytes = bytesOpt ?? Math.min(mib(512), Math.max(mib(16), 40 * bdp));
  const s: Scenario = {
    seed: 1,
    paths: [
      {
        rate_mbps: rateMbps,
        delay_ms: rttMs / 2,
        loss,
        queue_bytes: Math.max(bdp, 100000),
      },
    ],
    cc,
    workload: { type: 'bulk', bytes, hash: false },
    time_limit_s: 3600,
  };
  const r = await runScenario(s);
  return {
    cc,
    loss,
    rtt_ms: rttMs,
    completed: r.completed,
    bytes: r.bytes,
    duration_s: r.duration_s,
    goodput_mbps: Number(r.goodput_mbps.toFixed(2)),
    fraction: Number((r.goodput_mbps / rateMbps).toFixed(4)),
    retransmits: r.retransmits,
    wall_s: Number(r.wall_s.toFixed(3)),
  };
}

async function cpuCost(rateMbps: number, bytes: number, hash: boolean) {
  const s: Scenario = {
    seed: 1,
    paths: [{ rate_mbps: rateMbps, delay_ms: 0.5 }],
    cc: 'cubic',
    workload: { type: 'bulk', bytes, hash },
  };
  await runScenario({ ...s, workload: { type: 'bulk', bytes: mib(4), hash } }); // warm up
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r: SimResult = await runScenario(s);
  const wallNs = Number(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  const cpuNs = (c.user + c.system) * 1000;
  const client = r.connections.find((x) => x.role === 'client');
  const dataSegs = Number(client?.data_segs_out ?? 0);
  return {
    hash,
    completed: r.completed,
    bytes: r.bytes,
    frames: r.frames,
    data_segments: dataSegs,
    virtual_s: Number(r.duration_s.toFixed(4)),
    wall_s: Number((wallNs / 1e9).toFixed(4)),
    cpu_s: Number((cpuNs / 1e9).toFixed(4)),
    cpu_ns_per_frame: Math.round(cpuNs / r.frames),
    cpu_ns_per_data_segment: dataSegs ? Math.round(cpuNs / dataSegs) : null,
    frames_per_wall_s: Math.round(r.frames / (wallNs / 1e9)),
    virtual_over_wall: Number((r.duration_s / (wallNs / 1e9)).toFixed(3)),
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'rate-mbps': { type: 'string' },
      bytes: { type: 'string' },
      quick: { type: 'boolean' },
    },
  });
  const rate = values['rate-mbps'] ? Number(values['rate-mbps']) : 1000;
  const bytes = values.bytes ? Number(values.bytes) : values.quick ? mib(8) : undefined;
  if (!(rate > 0) || (bytes !== undefined && !(bytes > 0))) {
    process.stderr.write('engine bench: --rate-mbps and --bytes must be > 0\n');
    return 2;
  }
  const t0 = process.hrtime.bigint();
  const rows: GoodputRow[] = [];
  for (const cc of ['newreno', 'cubic'] as const) {
    for (const loss of [0, 0.001, 0.01]) {
      for (const rtt of [1, 10, 50]) rows.push(await goodput(rate, cc, loss, rtt, bytes));
    }
  }
  const cpuBytes = bytes ?? mib(256);
  const cpu = [await cpuCost(rate, cpuBytes, false), await cpuCost(rate, cpuBytes, true)];
  const out = {
    bench: 'engine',
    rate_mbps: rate,
    goodput: rows,
    cpu_per_segment: cpu,
    total_wall_s: Number((Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2)),
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`engine bench: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
