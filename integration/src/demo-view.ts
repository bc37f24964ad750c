/**
 * What `braid demo` shows in the terminal: per-subflow throughput, RTT and
 * window from the connection snapshots the controller holds (the telemetry
 * the nodes publish), one table per second, and the summary at the end.
 * Pure functions of their inputs, so they are unit-tested apart from the
 * testbed.
 */
import type { ApiConnection, SubflowSnapshot } from '../../schemas/gen/types';

/** One row of the live table. */
export interface SubflowRow {
  key: string;
  /** Testbed path index (from the subnet), or null when it is not a path address. */
  path: number | null;
  local: string;
  remote: string;
  state: string;
  priority: string;
  /** Goodput since the previous sample (from bytes_acked or bytes_received). */
  mbps: number;
  rtt_ms: number | null;
  cwnd: number | null;
  retrans: number;
}

/** The byte counter of a subflow that says how much it carried. */
function carried(s: SubflowSnapshot): number {
  return Math.max(s.bytes_acked ?? 0, s.bytes_received ?? 0);
}

/** The path index of an address 10.<p>.<i+1>.x of the testbed (i from 0). */
export function pathOf(addr: string, subnetPrefix: number): number | null {
  const m = /^10\.(\d+)\.(\d+)\.\d+$/.exec(addr);
  if (!m || Number(m[1]) !== subnetPrefix) return null;
  const third = Number(m[2]);
  return third >= 1 && third <= 8 ? third - 1 : null;
}

/** Samples between calls: remembers each subflow's counter, the time of the
 * telemetry batch it came in and the rate shown. */
export class RateTracker {
  private last = new Map<string, { bytes: number; t: number; mbps: number }>();

  /** Rows for the connections of one node polled at time `tMs` (ms). Rates
   * are taken over the node's own batch times (`updated_at`) when known, so a
   * poll that sees no new batch, or two, shows the rate the node measured,
   * not 0 and then twice it. */
  rows(conns: ApiConnection[], tMs: number, subnetPrefix: number): SubflowRow[] {
    const out: SubflowRow[] = [];
    for (const c of conns) {
      const t = c.updated_at ?? tMs;
      for (const s of c.snapshot.subflows) {
        const key = `${c.id}/${s.id}`;
        const bytes = carried(s);
        const prev = this.last.get(key);
        let mbps = prev?.mbps ?? 0;
        if (!prev || t !== prev.t) {
          const dt = prev ? (t - prev.t) / 1000 : 0;
          mbps = prev && dt > 0 ? Math.max(0, ((bytes - prev.bytes) * 8) / dt / 1e6) : 0;
          this.last.set(key, { bytes, t, mbps });
        }
        out.push({
          key,
          path: pathOf(s.local_addr, subnetPrefix) ?? pathOf(s.remote_addr, subnetPrefix),
          local: `${s.local_addr}:${s.local_port}`,
          remote: `${s.remote_addr}:${s.remote_port}`,
          state: s.state,
          priority: s.priority,
          mbps,
          rtt_ms: s.rtt !== undefined ? s.rtt / 1000 : null,
          cwnd: s.snd_cwnd ?? null,
          retrans: s.total_retrans ?? 0,
        });
      }
    }
    return out.sort((a, b) => (a.path ?? 99) - (b.path ?? 99) || a.key.localeCompare(b.key));
  }
}

const bar = (mbps: number, scale: number, width: number): string => {
  const n = scale > 0 ? Math.round((Math.min(mbps, scale) / scale) * width) : 0;
  return '█'.repeat(n) + '·'.repeat(width - n);
};

/** The table printed every second. `scale`: the Mbit/s of a full bar. */
export function renderTable(tS: number, rows: SubflowRow[], scale: number, note = ''): string[] {
  const total = rows.reduce((a, r) => a + r.mbps, 0);
  const lines = [
    `t=${tS.toFixed(0).padStart(3)}s  total ${total.toFixed(1).padStart(6)} Mbit/s  ${note}`,
    '  path  subflow (client side)          state       prio     Mbit/s                       rtt ms  cwnd  retrans',
  ];
  for (const r of rows) {
    lines.push(
      [
        '  ',
        (r.path === null ? '?' : String(r.path)).padEnd(5),
        `${r.local}→${r.remote.split(':')[0]}`.padEnd(31),
        r.state.padEnd(12),
        r.priority.padEnd(8),
        r.mbps.toFixed(1).padStart(6),
        ' ',
        bar(r.mbps, scale, 20),
        (r.rtt_ms === null ? '-' : r.rtt_ms.toFixed(1)).padStart(8),
        (r.cwnd === null ? '-' : String(r.cwnd)).padStart(6),
        String(r.retrans).padStart(9),
      ].join(''),
    );
  }
  if (!rows.length) lines.push('  (no connection reported yet)');
  return lines;
}

/** The longest gap between consecutive progress samples (ms). */
export function longestStall(samples: Array<{ t: number; bytes: number }>): number {
  let worst = 0;
  let lastMove = samples[0]?.t ?? 0;
  for (let i = 1; i < samples.length; i++) {
    if (samples[i]!.bytes > samples[i - 1]!.bytes) {
      worst = Math.max(worst, samples[i]!.t - lastMove);
      lastMove = samples[i]!.t;
    }
  }
  return worst;
}
