/**
 * `npm run demo` (`braid demo`): the whole story on one machine in about a
 * minute and a half.
 *
 *  1. The testbed: client and server namespaces joined by three paths
 *     through the DPDK link emulator, a management network with NATS
 *     (JetStream) and the controller, and a `braid node` on each host.
 *  2. An SDK application: a client streaming a hashed byte stream to a
 *     server over one MPTCP connection with a subflow per path.
 *  3. Live per-subflow throughput, RTT and window, as the controller sees them
 *     (the nodes' telemetry over NATS), once a second.
 *  4. A path blackholed in the emulator mid-transfer: the connection carries
 *     on over the others, the controller's tuning loop demotes the dark
 *     subflow to backup (printed as it happens); later the path comes back
 *     and the tuning loop sets the subflow regular again.
 *  5. A summary (bytes, rate, the longest gap the application saw, hashes,
 *     what the controller did), then everything is removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { ApiConnection, AuditRecord } from '../../schemas/gen/types';
import { repoRoot } from '../../ops/src/paths';
import { RateTracker, renderTable } from './demo-view';
import { down, setPath, up, type TestbedState } from './testbed';

export interface DemoOptions {
  name: string;
  seconds: number;
  /** When (s after the transfer starts) the path goes dark, and comes back. */
  blackholeAt: number;
  restoreAt: number;
  blackholePath: number;
  rateMbps: number;
  rttMs: number;
  keep: boolean;
  stateDir?: string;
  /** Redraw the table in place (a terminal) or print it each second. */
  tty: boolean;
}

export interface DemoSummary {
  ok: boolean;
  seconds: number;
  bytes_sent: number;
  bytes_received: number;
  mbps: number;
  sha256_match: boolean;
  max_app_gap_ms: number;
  transport: string;
  subflows_seen: number;
  per_path_mb: Record<string, number>;
  controller_actions: Array<{
    target: string;
    priority: string;
    reason: string;
    outcome: string;
  }>;
  errors: string[];
}

interface AppProc {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  waitFor(key: string, timeoutMs: number): Promise<Record<string, unknown>>;
}

function startApp(st: TestbedState, host: 'client' | 'server', args: string[]): AppProc {
  const js = path.join(repoRoot(), 'dist', 'integration', 'src', 'demo-app.js');
  const node = st.nodes?.[host];
  const child = spawn('ip', ['netns', 'exec', st.namespaces[host], process.execPath, js, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(node ? { BRAID_APP_SOCKET: node.appSocket } : {}) },
  });
  const lines: Array<Record<string, unknown>> = [];
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      lines.push({ text: l });
    }
  });
  const waitFor = (key: string, timeoutMs: number): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const tick = (): void => {
        const hit = lines.find((l) => key in l);
        if (hit) return resolve(hit);
        const bad = lines.find((l) => l.done === false);
        if (bad) return reject(new Error(`${host} app: ${String(bad.error)}`));
        if (child.exitCode !== null && !hit) {
          return reject(new Error(`${host} app exited (${child.exitCode}): ${err.trim()}`));
        }
        if (Date.now() - t0 > timeoutMs) {
          return reject(new Error(`${host} app: no "${key}" after ${timeoutMs} ms ${err.trim()}`));
        }
        setTimeout(tick, 50);
      };
      tick();
    });
  return { child, lines, waitFor };
}

async function getJson<T>(url: string): Promise<T | null> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return r.ok ? ((await r.json()) as T) : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run the demo; `out` receives every line shown to the user. */
export async function runDemo(o: DemoOptions, out: (s: string) => void): Promise<DemoSummary> {
  const t0 = Date.now();
  const el = (): string => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
  const say = (s: string): void => out(`${el()} ${s}\n`);
  const summary: DemoSummary = {
    ok: false,
    seconds: 0,
    bytes_sent: 0,
    bytes_received: 0,
    mbps: 0,
    sha256_match: false,
    max_app_gap_ms: 0,
    transport: '',
    subflows_seen: 0,
    per_path_mb: {},
    controller_actions: [],
    errors: [],
  };
  let st: TestbedState | undefined;
  const apps: AppProc[] = [];
  let stopping = false;
  const onSignal = (): void => {
    stopping = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    say(
      `testbed: 3 paths × ${o.rateMbps} Mbit/s, ${o.rttMs} ms RTT through the DPDK link emulator; ` +
        'NATS + controller on a management network; a braid node on each host…',
    );
    st = await up({
      name: o.name,
      paths: [0, 1, 2].map(() => ({ rtt_ms: o.rttMs, loss: 0, rate_mbps: o.rateMbps })),
      clientMode: 'braid-node',
      serverMode: 'braid-node',
      controller: true,
      force: true,
      stateDir: o.stateDir,
    });
    const api = st.controller!.api;
    const ids = [st.nodes!.client!.id, st.nodes!.server!.id];
    say(`up: controller ${api}, NATS ${st.controller!.nats}, nodes ${ids.join(', ')}`);
    for (const p of st.paths) {
      say(
        `  path ${p.index}: ${st.nodes!.client!.addrs[p.index]} ⇄ ${st.nodes!.server!.addrs[p.index]}`,
      );
    }
    // Both nodes registered with the controller.
    const regDeadline = Date.now() + 20000;
    for (;;) {
      const nodes = await getJson<{ nodes: Array<{ id: string; status: string }> }>(
        `${api}/v1/nodes`,
      );
      const upIds = new Set((nodes?.nodes ?? []).filter((n) => n.status === 'up').map((n) => n.id));
      if (ids.every((i) => upIds.has(i))) break;
      if (Date.now() > regDeadline)
        throw new Error('the nodes did not register with the controller');
      await sleep(200);
    }
    say('both nodes registered with the controller');

    const server = startApp(st, 'server', ['server', '--port', '7000']);
    apps.push(server);
    const listening = await server.waitFor('listening', 15000);
    say(`SDK server listening on ${st.nodes!.server!.addrs[0]}:7000 (${String(listening.path)})`);
    const client = startApp(st, 'client', [
      'client',
      '--host',
      st.nodes!.server!.addrs[0]!,
      '--port',
      '7000',
      '--seconds',
      String(o.seconds),
      '--subflows',
      '3',
    ]);
    apps.push(client);
    const conn = await client.waitFor('connected', 15000);
    summary.transport = String(conn.path);
    say(`SDK client connected (${summary.transport}); streaming for ${o.seconds} s`);

    const tracker = new RateTracker();
    const tStart = Date.now();
    const seen = new Set<string>();
    const seenAudit = new Set<string>();
    let holed = false;
    let restored = false;
    let drawn = 0;
    let note = '';
    // Each subflow's latest bytes_acked, kept from one poll to the next: the
    // node's telemetry drops a connection once it has closed, which can be
    // before the summary's last look.
    const acked = new Map<string, { path: string; bytes: number }>();
    const noteAcked = (list: ApiConnection[]) => {
      for (const c of list)
        for (const s of c.snapshot.subflows) {
          const m = /^10\.\d+\.(\d+)\./.exec(s.local_addr);
          const path = m ? `path ${Number(m[1]) - 1}` : s.local_addr;
          const key = `${c.id} ${s.local_addr} ${s.remote_addr}`;
          const bytes = Math.max(s.bytes_acked ?? 0, acked.get(key)?.bytes ?? 0);
          acked.set(key, { path, bytes });
        }
    };
    while (!stopping) {
      const t = (Date.now() - tStart) / 1000;
      if (!holed && t >= o.blackholeAt) {
        holed = true;
        await setPath(st, o.blackholePath, { down: true });
        note = `path ${o.blackholePath} BLACKHOLED`;
        say(`▶ path ${o.blackholePath} blackholed in the emulator (both directions)`);
        drawn = 0;
      }
      if (!restored && t >= o.restoreAt) {
        restored = true;
        await setPath(st, o.blackholePath, { down: false });
        note = `path ${o.blackholePath} restored`;
        say(`▶ path ${o.blackholePath} restored`);
        drawn = 0;
      }
      const conns = await getJson<{ connections: ApiConnection[] }>(
        `${api}/v1/connections?node=${encodeURIComponent(ids[0]!)}`,
      );
      noteAcked(conns?.connections ?? []);
      const rows = tracker.rows(conns?.connections ?? [], Date.now(), st.subnetPrefix);
      for (const r of rows) seen.add(r.key);
      const audit = await getJson<{ records: AuditRecord[] }>(
        `${api}/v1/audit?action=subflow.priority&limit=50`,
      );
      for (const r of audit?.records ?? []) {
        if (seenAudit.has(r.id)) continue;
        seenAudit.add(r.id);
        const reason = String((r.detail as { reason?: string } | undefined)?.reason ?? '');
        const priority = String((r.after as { priority?: string } | undefined)?.priority ?? '?');
        const to = priority === 'regular' ? 'regular again' : `to ${priority}`;
        summary.controller_actions.push({ target: r.target, priority, reason, outcome: r.outcome });
        say(
          r.outcome === 'ok'
            ? `◆ controller: subflow ${r.target} set ${to} — ${reason}`
            : `◆ controller: asked the node to set subflow ${r.target} ${to} (${reason}); the node answered ${r.outcome}`,
        );
        drawn = 0;
      }
      const table = renderTable(t, rows, o.rateMbps, note);
      if (o.tty && drawn) out(`\x1b[${drawn}A\x1b[J`);
      out(table.join('\n') + '\n');
      drawn = o.tty ? table.length : 0;
      if (client.lines.some((l) => 'done' in l)) break;
      if (t > o.seconds + 30) {
        throw new Error(
          `the transfer did not finish within 30 s after the client stopped writing (stalled)`,
        );
      }
      await sleep(1000);
    }
    if (stopping) throw new Error('interrupted');
    const cdone = await client.waitFor('done', 30000);
    const sdone = await server.waitFor('done', 30000);
    summary.seconds = (Date.now() - tStart) / 1000;
    summary.bytes_sent = Number(cdone.bytes);
    summary.bytes_received = Number(sdone.bytes);
    summary.mbps = (summary.bytes_received * 8) / Number(sdone.seconds) / 1e6;
    summary.sha256_match = cdone.sha256 === sdone.sha256 && summary.bytes_sent > 0;
    summary.max_app_gap_ms = Number(sdone.max_gap_ms);
    summary.subflows_seen = seen.size;
    const fin = await getJson<{ connections: ApiConnection[] }>(
      `${api}/v1/connections?node=${encodeURIComponent(ids[0]!)}`,
    );
    noteAcked(fin?.connections ?? []);
    for (const { path, bytes } of acked.values())
      summary.per_path_mb[path] = (summary.per_path_mb[path] ?? 0) + Math.round(bytes / 1e5) / 10;
    summary.ok = summary.sha256_match && summary.bytes_received === summary.bytes_sent;
    return summary;
  } catch (e) {
    summary.errors.push((e as Error).message);
    return summary;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const a of apps) if (a.child.exitCode === null) a.child.kill('SIGKILL');
    if (st && !o.keep) {
      say('cleaning up (testbed down)…');
      await down(o.name, o.stateDir).catch((e: Error) => summary.errors.push(`down: ${e.message}`));
    } else if (st) {
      say(`testbed "${o.name}" left up (--keep): \`braid testbed down --name ${o.name}\``);
    }
  }
}

/** The summary as the user reads it. */
export function renderSummary(s: DemoSummary): string[] {
  const lines = [
    '',
    '──────── summary ────────',
    `transfer      ${(s.bytes_received / 1e6).toFixed(1)} MB in ${s.seconds.toFixed(1)} s ` +
      `(${s.mbps.toFixed(1)} Mbit/s) over ${s.transport || '?'}, ${s.subflows_seen} subflows`,
    `integrity     SHA-256 ${s.sha256_match ? 'identical at both ends ✓' : 'MISMATCH ✗'} ` +
      `(${s.bytes_sent} bytes sent, ${s.bytes_received} received)`,
    `longest gap   ${s.max_app_gap_ms} ms between two arrivals at the application`,
    `per path      ${Object.entries(s.per_path_mb)
      .map(([k, v]) => `${k}: ${v.toFixed(1)} MB`)
      .join(', ')}`,
    `controller    ${
      s.controller_actions.length
        ? s.controller_actions
            .map(
              (a) =>
                `${a.target} → ${a.priority}${a.outcome === 'ok' ? '' : ` (node: ${a.outcome})`}`,
            )
            .join('; ')
        : 'no action'
    }`,
  ];
  for (const e of s.errors) lines.push(`error         ${e}`);
  lines.push(s.ok ? 'result        OK' : 'result        FAILED');
  return lines;
}
