/**
 * Controller benchmark (JSON on stdout). For each fleet size it starts a real
 * nats-server, one controller in its own process, and a fleet simulator of that
 * many nodes speaking the real protocol, then measures over a window:
 *   - telemetry records (connection + subflow snapshots) ingested per second, and
 *     per second of controller CPU time (= per controller core: the controller's
 *     ingest runs on one thread),
 *   - command round trip (controller → node → result) p50/p99 under that load,
 *   - northbound API latency p50/p99 under that load.
 *
 *   npm run build:ts && node dist/integration/bench/controller.js [--nodes 1000,10000]
 *       [--seconds 10] [--telemetry-interval 1000] [--commands 300] [--per-connection 500]
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startNatsServer } from '../../ops/src/nats-server';
import { Controller } from '../../controller/src/controller';
import { FleetSim } from '../fleet-sim/fleet';

interface ChildStats {
  records: number;
  telemetryMessages: number;
  invalid: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  nodes: number;
  up: number;
  desired: number;
}

type ChildMsg =
  | { type: 'ready'; url: string }
  | { type: 'stats'; stats: ChildStats }
  | { type: 'commands'; ms: number[]; failed: number }
  | { type: 'sim-ready'; registrationS: number }
  | { type: 'sim-stats'; cpuUs: number };

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[i]! * 1000) / 1000;
}

function summary(ms: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p99: pct(s, 99), max: pct(s, 100) };
}

// ------------------------------------------------------------------ child: the controller

async function child(): Promise<void> {
  const cfg = JSON.parse(process.env.BRAID_BENCH_CONFIG ?? '{}') as Record<string, unknown>;
  const ctl = new Controller(cfg, { logger: pino({ level: 'silent' }) });
  await ctl.start();
  const send = (m: ChildMsg): void => {
    process.send?.(m);
  };
  const counter = async (
    c: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> },
    label?: string,
  ) => {
    const v = (await c.get()).values;
    return v.filter((x) => !label || x.labels.kind === label).reduce((a, x) => a + x.value, 0);
  };
  process.on('message', (raw: unknown) => {
    const m = raw as { cmd: string; n?: number; ids?: string[] };
    void (async () => {
      if (m.cmd === 'stats') {
        const cpu = process.cpuUsage();
        let up = 0;
        for (const n of ctl.fleet.nodes.values()) if (n.status === 'up') up++;
        send({
          type: 'stats',
          stats: {
            records: await counter(ctl.metrics.telemetryRecords),
            telemetryMessages: await counter(ctl.metrics.messages, 'telemetry'),
            invalid: await counter(ctl.metrics.invalid),
            cpuUserUs: cpu.user,
            cpuSystemUs: cpu.system,
            nodes: ctl.fleet.nodes.size,
            up,
            desired: ctl.desired.size,
          },
        });
      } else if (m.cmd === 'commands') {
        const ids = m.ids ?? [];
        const ms: number[] = [];
        let failed = 0;
        const stopAt = Date.now() + 20000;
        for (let i = 0; i < (m.n ?? 0) && Date.now() < stopAt; i++) {
          const id = ids[Math.floor(Math.random() * ids.length)]!;
          const t0 = process.hrtime.bigint();
          const r = await ctl.sendCommand(id, 'set_scheduler', {
            connection_id: 'c0',
            scheduler: i % 2 ? 'roundrobin' : 'default',
          });
          ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
          if (!r.ok) failed++;
        }
        send({ type: 'commands', ms, failed });
      } else if (m.cmd === 'stop') {
        await ctl.stop();
        process.exit(0);
      }
    })();
  });
  send({ type: 'ready', url: ctl.url });
}

// ------------------------------------------------------------------ child: the simulated fleet

async function simChild(): Promise<void> {
  const o = JSON.parse(process.env.BRAID_BENCH_SIM ?? '{}') as {
    servers: string[];
    nodes: number;
    perConnection: number;
    interval: number;
    heartbeat: number;
  };
  const sim = new FleetSim({
    servers: o.servers,
    nodes: o.nodes,
    nodesPerConnection: o.perConnection,
    heartbeatIntervalMs: o.heartbeat,
    telemetryIntervalMs: o.interval,
  });
  const t0 = Date.now();
  const progress = setInterval(() => {
    const done = sim.nodes.filter((x) => x.agent.registration).length;
    process.stderr.write(
      `bench sim: ${sim.nodes.length} started, ${done} registered after ${Math.round((Date.now() - t0) / 1000)} s\n`,
    );
  }, 5000);
  await sim.start();
  await sim.registered(300000);
  clearInterval(progress);
  process.on('message', (raw: unknown) => {
    const m = raw as { cmd: string };
    if (m.cmd === 'stats') {
      const cpu = process.cpuUsage();
      process.send?.({ type: 'sim-stats', cpuUs: cpu.user + cpu.system });
    } else if (m.cmd === 'stop') {
      void sim.stop().finally(() => process.exit(0));
    }
  });
  process.send?.({ type: 'sim-ready', registrationS: (Date.now() - t0) / 1000 });
}

// ------------------------------------------------------------------ parent: measurements

function request<T extends ChildMsg['type']>(
  c: ChildProcess,
  cmd: Record<string, unknown>,
  type: T,
): Promise<Extract<ChildMsg, { type: T }>> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      if ((m as ChildMsg).type === type) {
        c.off('message', on);
        resolve(m as Extract<ChildMsg, { type: T }>);
      }
    };
    c.on('message', on);
    if (Object.keys(cmd).length) c.send(cmd);
  });
}

async function until(fn: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function apiLoad(
  url: string,
  ids: string[],
  stopAt: number,
): Promise<{ all: number[]; byRoute: Record<string, number[]> }> {
  const byRoute: Record<string, number[]> = {
    'GET /v1/nodes/{id}': [],
    'GET /v1/connections/{id}': [],
    'GET /v1/connections?node=': [],
    'GET /v1/paths?node=': [],
  };
  const all: number[] = [];
  const routes = Object.keys(byRoute);
  let i = 0;
  while (Date.now() < stopAt) {
    const id = ids[Math.floor(Math.random() * ids.length)]!;
    const route = routes[i++ % routes.length]!;
    const path =
      route === 'GET /v1/nodes/{id}'
        ? `/v1/nodes/${id}`
        : route === 'GET /v1/connections/{id}'
          ? `/v1/connections/${id}:c0`
          : route === 'GET /v1/connections?node='
            ? `/v1/connections?node=${id}`
            : `/v1/paths?node=${id}`;
    const t0 = process.hrtime.bigint();
    const res = await fetch(url + path);
    await res.arrayBuffer();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    all.push(ms);
    byRoute[route]!.push(ms);
    await new Promise((r) => setTimeout(r, 5));
  }
  return { all, byRoute };
}

async function runOne(
  n: number,
  o: {
    seconds: number;
    interval: number;
    heartbeat: number;
    commands: number;
    perConnection: number;
  },
) {
  const nats = await startNatsServer();
  natsStop = () => nats.stop();
  const cfg = {
    id: 'bench-ctl',
    log_level: 'silent',
    http: { host: '127.0.0.1', port: 0 },
    nats: { urls: [nats.url] },
    heartbeat_interval_ms: o.heartbeat,
    node_down_after_missed: 5,
    telemetry_interval_ms: o.interval,
    tuning: { enabled: false },
  };
  const c = fork(__filename, ['--child', 'controller'], {
    env: { ...process.env, BRAID_BENCH_CONFIG: JSON.stringify(cfg) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.add(c);
  const ready = request(c, {}, 'ready');
  let simProc: ChildProcess | undefined;
  try {
    const { url } = await ready;
    // The fleet starts once the controller has made the buckets.
    simProc = fork(__filename, ['--child', 'sim'], {
      env: {
        ...process.env,
        BRAID_BENCH_SIM: JSON.stringify({
          servers: [nats.url],
          nodes: n,
          perConnection: o.perConnection,
          interval: o.interval,
          heartbeat: o.heartbeat,
        }),
      },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    children.add(simProc);
    const { registrationS } = await request(simProc, {}, 'sim-ready');
    const registration = registrationS;
    const stats = async () => (await request(c, { cmd: 'stats' }, 'stats')).stats;
    process.stderr.write(`bench: ${n} nodes registered in ${registration} s\n`);
    let last = 0;
    await until(async () => {
      const s = await stats();
      if (Date.now() - last > 5000) {
        last = Date.now();
        process.stderr.write(`bench: controller sees ${s.up} up, ${s.desired} desired states\n`);
      }
      return s.up >= n && s.desired >= n;
    }, 120000);
    // Let telemetry reach its steady state.
    await new Promise((r) => setTimeout(r, Math.max(2000, o.interval * 2)));
    const ids = Array.from({ length: n }, (_v, i) => `sim-${i}`);
    const sp = simProc;
    const simCpu = async () => (await request(sp, { cmd: 'stats' }, 'sim-stats')).cpuUs;
    // Window 1: ingest only (telemetry, heartbeats), for records per controller core.
    const s0 = await stats();
    const sc0 = await simCpu();
    const w0 = Date.now();
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    const s1 = await stats();
    const sc1 = await simCpu();
    const wall = (Date.now() - w0) / 1000;
    // Window 2: the API under that load.
    const apiRes = await apiLoad(url, ids, Date.now() + o.seconds * 1000);
    // Then commands, still under telemetry load.
    const cmds = await request(c, { cmd: 'commands', n: o.commands, ids }, 'commands');
    const records = s1.records - s0.records;
    const cpu = (s1.cpuUserUs + s1.cpuSystemUs - s0.cpuUserUs - s0.cpuSystemUs) / 1e6;
    return {
      nodes: n,
      records_per_batch: 3,
      telemetry_interval_ms: o.interval,
      heartbeat_interval_ms: o.heartbeat,
      registration_s: Math.round(registration * 100) / 100,
      window_s: Math.round(wall * 100) / 100,
      records_ingested: records,
      batches_ingested: s1.telemetryMessages - s0.telemetryMessages,
      invalid_messages: s1.invalid - s0.invalid,
      records_per_s: Math.round(records / wall),
      controller_cpu_cores: Math.round((cpu / wall) * 1000) / 1000,
      records_per_controller_core_s: cpu > 0 ? Math.round(records / cpu) : null,
      nodes_up: s1.up,
      simulator_cpu_cores: Math.round(((sc1 - sc0) / 1e6 / wall) * 1000) / 1000,
      command_rtt_ms: { ...summary(cmds.ms), failed: cmds.failed },
      api_ms: {
        ...summary(apiRes.all),
        by_route: Object.fromEntries(
          Object.entries(apiRes.byRoute).map(([k, v]) => [k, summary(v)]),
        ),
      },
    };
  } finally {
    for (const p of [simProc, c]) {
      if (!p || p.exitCode !== null) continue;
      p.send({ cmd: 'stop' });
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          p.kill('SIGKILL');
          r();
        }, 8000);
        p.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    children.clear();
    await nats.stop();
  }
}

const children = new Set<ChildProcess>();
let natsStop: (() => Promise<void>) | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const c of children) c.kill('SIGKILL');
    void (natsStop?.() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '1000,10000' },
      seconds: { type: 'string', default: '10' },
      'telemetry-interval': { type: 'string', default: '1000' },
      'heartbeat-interval': { type: 'string', default: '1000' },
      commands: { type: 'string', default: '300' },
      'per-connection': { type: 'string', default: '500' },
    },
  });
  const o = {
    seconds: Number(values.seconds),
    interval: Number(values['telemetry-interval']),
    heartbeat: Number(values['heartbeat-interval']),
    commands: Number(values.commands),
    perConnection: Number(values['per-connection']),
  };
  const runs = [];
  for (const n of values.nodes!.split(',').map(Number)) {
    process.stderr.write(`bench: ${n} simulated nodes…\n`);
    const r = await runOne(n, o);
    process.stderr.write(`bench: ${JSON.stringify(r)}\n`);
    runs.push(r);
  }
  const out = {
    benchmark: 'controller',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', node: process.version },
    notes:
      'records = connection + subflow snapshots; per controller core = records / controller CPU seconds. Controller, simulator and API client are separate processes sharing the machine with nats-server; command round trips include the simulated node answering from a busy simulator process.',
    runs,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

if (process.argv.includes('--child')) {
  const kind = process.argv[process.argv.indexOf('--child') + 1];
  (kind === 'sim' ? simChild() : child()).catch((e: unknown) => {
    process.stderr.write(`bench controller: ${(e as Error).message}\n`);
    process.exit(1);
  });
} else if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
