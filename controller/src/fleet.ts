/**
 * The controller's in-memory view of the fleet, built from what nodes publish:
 * registrations, heartbeats (liveness), telemetry (connections, subflows, path
 * health). Every replica keeps one from the same subscriptions, so every replica
 * serves reads. Pure data: no I/O here.
 */
import type {
  ApiConnection,
  ApiNode,
  ApiPath,
  ConnectionSnapshot,
  NodeHeartbeat,
  NodeHello,
  TelemetryBatch,
} from '../../schemas/gen/types';

export interface NodeState {
  id: string;
  hello?: NodeHello;
  registeredAt?: number;
  lastSeen: number;
  status: 'up' | 'down';
  appliedRevision: number;
  desiredRevision: number;
  telemetrySeq: number;
  connections: Map<string, ConnEntry>;
  counters?: Record<string, number>;
}

/** A connection's latest snapshot, and which of its subflows are stalled:
 * retransmitted since they last had data acknowledged, and nothing
 * acknowledged since (a path that went dark shows this long before its RTT
 * estimate moves, and keeps showing it while its retransmissions back off). */
export interface ConnEntry {
  snapshot: ConnectionSnapshot;
  updatedAt: number;
  /** When this controller received it (its own clock). */
  receivedAt: number;
  stalled: Set<string>;
  /** Subflows that had data acknowledged between the previous snapshot and this one. */
  progressed: Set<string>;
  /** Each subflow's counters in the first batch that showed it: its loss
   * counts from there (a subflow's first slow start overshoots the path's
   * queue, and those losses are over by then). */
  base: Map<string, { retrans: number; segs: number }>;
  /** Each subflow's counters when it last had data acknowledged (or was first seen). */
  mark: Map<string, { acked: number; retrans: number }>;
}

export interface ConnectionFilter {
  node?: string;
  app?: string;
  state?: string;
}

export interface TuningSettings {
  rtt_factor: number;
  loss_threshold: number;
}

/** A subflow the tuning loop set to backup: when, why, and how long it waits
 * before it is tried again as regular. */
export interface Demotion {
  node: string;
  connection: string;
  subflow: string;
  path: string;
  /** The path went dark (rather than slow or lossy): any acknowledged data shows it works again. */
  dark: boolean;
  at: number;
  holdMs: number;
  /** Demotions in a row, each within a hold of the restore before it. */
  strikes: number;
}

/** A path's view, and whether its RTT or a stall makes it bad (beside its loss). */
interface PathJudgement {
  view: ApiPath;
  badRtt: boolean;
  dark: boolean;
}

/** The key of a subflow in the tuning loop's records: `node:connection:subflow`. */
export function subflowKey(x: { node: string; connection: string; subflow: string }): string {
  return `${x.node}:${x.connection}:${x.subflow}`;
}

/** How long after a priority change a telemetry batch surely shows it. */
const SETTLE_MS = 500;

/** A demoted subflow the tuning loop sets regular again, and why. */
export interface Restoration {
  demotion: Demotion;
  reason: string;
}

/** A subflow the tuning loop wants demoted to backup, and why. */
export interface TuningAction {
  node: string;
  connection: string;
  subflow: string;
  path: string;
  reason: string;
  /** The path went dark (stalled while its peers deliver). */
  dark: boolean;
}

/** The global id of a connection: `<node>:<connection id on the node>`. */
export function connectionKey(node: string, conn: string): string {
  return `${node}:${conn}`;
}

export function parseConnectionKey(id: string): { node: string; conn: string } | undefined {
  const i = id.indexOf(':');
  if (i <= 0 || i === id.length - 1) return undefined;
  return { node: id.slice(0, i), conn: id.slice(i + 1) };
}

export function pathKey(node: string, local: string, remote: string): string {
  return `${node}:${local}>${remote}`;
}

interface PathAcc {
  node: string;
  local: string;
  remote: string;
  subflows: number;
  backup: number;
  rttSum: number;
  rttvarSum: number;
  rttN: number;
  retrans: number;
  segsOut: number;
  rate: number;
  updatedAt: number;
  stalled: number;
}

export class Fleet {
  readonly nodes = new Map<string, NodeState>();

  private ensure(id: string, now: number): NodeState {
    let n = this.nodes.get(id);
    if (!n) {
      n = {
        id,
        lastSeen: now,
        status: 'up',
        appliedRevision: 0,
        desiredRevision: 0,
        telemetrySeq: 0,
        connections: new Map(),
      };
      this.nodes.set(id, n);
    }
    return n;
  }

  /** A registration (from a hello or from the nodes bucket). true when it is new or changed. */
  register(hello: NodeHello, now: number, registeredAt = now, seen = true): boolean {
    const n = this.ensure(hello.node_id, now);
    const changed = !n.hello || JSON.stringify(n.hello) !== JSON.stringify(hello);
    n.hello = hello;
    n.registeredAt ??= registeredAt;
    if (seen) {
      n.lastSeen = now;
      n.status = 'up';
    }
    if (hello.desired_revision !== undefined) n.appliedRevision = hello.desired_revision;
    return changed;
  }

  /** A heartbeat. Returns true when the node was down and is up again. */
  heartbeat(hb: NodeHeartbeat, now: number): boolean {
    const n = this.ensure(hb.node_id, now);
    const wasDown = n.status === 'down';
    n.lastSeen = now;
    n.status = 'up';
    n.appliedRevision = hb.desired_revision;
    return wasDown;
  }

  /** A telemetry batch replaces the node's connection snapshots. Returns the records taken. */
  telemetry(batch: TelemetryBatch, now: number): number {
    const n = this.ensure(batch.node_id, now);
    n.lastSeen = now;
    if (n.status === 'down') n.status = 'up';
    n.telemetrySeq = batch.seq;
    const next = new Map<string, ConnEntry>();
    let records = 0;
    for (const c of batch.connections) {
      const before = n.connections.get(c.id);
      const prev = before?.snapshot.subflows;
      const stalled = new Set<string>();
      const progressed = new Set<string>();
      const base = new Map<string, { retrans: number; segs: number }>();
      const mark = new Map<string, { acked: number; retrans: number }>();
      for (const s of c.subflows) {
        const acked = s.bytes_acked ?? 0;
        const retrans = s.total_retrans ?? 0;
        base.set(s.id, before?.base.get(s.id) ?? { retrans, segs: s.segs_out ?? 0 });
        const p = prev?.find((o) => o.id === s.id);
        const m = before?.mark.get(s.id);
        if (p && acked > (p.bytes_acked ?? 0)) progressed.add(s.id);
        if (!p || !m || acked !== m.acked) {
          mark.set(s.id, { acked, retrans });
        } else {
          mark.set(s.id, m);
          if (retrans > m.retrans) stalled.add(s.id);
        }
      }
      next.set(c.id, {
        snapshot: c,
        updatedAt: batch.ts,
        receivedAt: now,
        stalled,
        progressed,
        base,
        mark,
      });
      records += 1 + c.subflows.length;
    }
    n.connections = next;
    if (batch.counters) n.counters = batch.counters;
    return records;
  }

  /** Count a subflow's loss afresh from the next telemetry batch (after it is
   * put back into use, its path is judged by what it does from then on). */
  rebase(node: string, conn: string, subflow: string): void {
    this.nodes.get(node)?.connections.get(conn)?.base.delete(subflow);
  }

  /** Mark nodes silent for longer than `missed` intervals as down; the ids newly down. */
  sweep(now: number, intervalMs: number, missed: number): string[] {
    const down: string[] = [];
    for (const n of this.nodes.values()) {
      if (n.status === 'up' && now - n.lastSeen > intervalMs * missed) {
        n.status = 'down';
        down.push(n.id);
      }
    }
    return down;
  }

  nodeView(id: string, now: number, intervalMs: number): ApiNode | undefined {
    const n = this.nodes.get(id);
    if (!n) return undefined;
    return {
      id: n.id,
      status: n.status,
      last_seen: n.lastSeen,
      ...(n.registeredAt !== undefined ? { registered_at: n.registeredAt } : {}),
      ...(n.hello ? { hello: n.hello } : {}),
      desired_revision: n.desiredRevision,
      applied_revision: n.appliedRevision,
      telemetry_seq: n.telemetrySeq,
      connections: n.connections.size,
      missed_heartbeats: Math.max(0, Math.floor((now - n.lastSeen) / intervalMs)),
    };
  }

  connectionView(id: string): ApiConnection | undefined {
    const k = parseConnectionKey(id);
    if (!k) return undefined;
    const c = this.nodes.get(k.node)?.connections.get(k.conn);
    if (!c) return undefined;
    return { id, node_id: k.node, updated_at: c.updatedAt, snapshot: c.snapshot };
  }

  connections(f: ConnectionFilter = {}): ApiConnection[] {
    const out: ApiConnection[] = [];
    const nodes = f.node
      ? [this.nodes.get(f.node)].filter((n) => n !== undefined)
      : this.nodes.values();
    for (const n of nodes) {
      for (const [cid, c] of n.connections) {
        if (f.app !== undefined && c.snapshot.app !== f.app) continue;
        if (f.state !== undefined && c.snapshot.state !== f.state) continue;
        out.push({
          id: connectionKey(n.id, cid),
          node_id: n.id,
          updated_at: c.updatedAt,
          snapshot: c.snapshot,
        });
      }
    }
    return out;
  }

  private accumulate(only?: string): Map<string, PathAcc> {
    const acc = new Map<string, PathAcc>();
    const nodes = only
      ? [this.nodes.get(only)].filter((n) => n !== undefined)
      : this.nodes.values();
    for (const n of nodes) {
      for (const c of n.connections.values()) {
        for (const s of c.snapshot.subflows) {
          const key = pathKey(n.id, s.local_addr, s.remote_addr);
          let p = acc.get(key);
          if (!p) {
            p = {
              node: n.id,
              local: s.local_addr,
              remote: s.remote_addr,
              subflows: 0,
              backup: 0,
              rttSum: 0,
              rttvarSum: 0,
              rttN: 0,
              retrans: 0,
              segsOut: 0,
              rate: 0,
              updatedAt: 0,
              stalled: 0,
            };
            acc.set(key, p);
          }
          p.subflows++;
          if (s.priority === 'backup') p.backup++;
          if (s.rtt !== undefined) {
            p.rttSum += s.rtt;
            p.rttvarSum += s.rttvar ?? 0;
            p.rttN++;
          }
          const b = c.base.get(s.id);
          p.retrans += Math.max(0, (s.total_retrans ?? 0) - (b?.retrans ?? 0));
          p.segsOut += Math.max(0, (s.segs_out ?? 0) - (b?.segs ?? 0));
          p.rate += s.delivery_rate ?? 0;
          p.updatedAt = Math.max(p.updatedAt, c.updatedAt);
          if (c.stalled.has(s.id)) p.stalled++;
        }
      }
    }
    return acc;
  }

  /**
   * Health of every path the fleet uses (node, local address → remote address):
   * mean RTT, loss (retransmitted / sent segments since the controller first
   * saw each subflow), summed delivery rate; a path is bad when far worse than
   * the best path of the same node to the same peer.
   */
  paths(t: TuningSettings, node?: string): ApiPath[] {
    return [...this.judge(t, node).values()]
      .map((j) => j.view)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Every path's view and why it is bad (see paths()). */
  private judge(t: TuningSettings, node?: string): Map<string, PathJudgement> {
    // Peers are paths of the same node, so one node's paths need only its own telemetry.
    const acc = this.accumulate(node);
    const views = new Map<string, ApiPath>();
    const out = new Map<string, PathJudgement>();
    for (const [key, p] of acc) {
      const view: ApiPath = {
        id: key,
        node_id: p.node,
        local_addr: p.local,
        remote_addr: p.remote,
        subflows: p.subflows,
        backup_subflows: p.backup,
        stalled_subflows: p.stalled,
        rtt: p.rttN ? p.rttSum / p.rttN : 0,
        rttvar: p.rttN ? p.rttvarSum / p.rttN : 0,
        loss: p.segsOut ? p.retrans / p.segsOut : 0,
        delivery_rate: p.rate,
        health: p.rttN || p.segsOut ? 'good' : 'unknown',
        updated_at: p.updatedAt,
      };
      views.set(key, view);
      out.set(key, { view, badRtt: false, dark: false });
    }
    // Compare each path with its peers: the other paths of the same node that
    // carry subflows of the same connections (one peer host, several routes).
    const peers = new Map<string, Set<string>>();
    const nodes = node
      ? [this.nodes.get(node)].filter((n) => n !== undefined)
      : this.nodes.values();
    for (const n of nodes) {
      for (const c of n.connections.values()) {
        const keys = c.snapshot.subflows.map((s) => pathKey(n.id, s.local_addr, s.remote_addr));
        for (const k of keys) {
          const set = peers.get(k) ?? new Set<string>();
          for (const o of keys) if (o !== k) set.add(o);
          peers.set(k, set);
        }
      }
    }
    for (const [key, v] of views) {
      const list = [...(peers.get(key) ?? [])].map((k) => views.get(k)!).filter(Boolean);
      if (list.length < 1) continue;
      const bestRtt = Math.min(...list.map((o) => o.rtt ?? 0).filter((r) => r > 0));
      const bestLoss = Math.min(...list.map((o) => o.loss ?? 0));
      const badRtt = Number.isFinite(bestRtt) && (v.rtt ?? 0) > t.rtt_factor * bestRtt;
      const badLoss = (v.loss ?? 0) > t.loss_threshold && (v.loss ?? 0) > 5 * bestLoss;
      // Stalled while a peer is not: the path went dark.
      const dark = (v.stalled_subflows ?? 0) > 0 && list.some((o) => !o.stalled_subflows);
      if (badRtt || badLoss || dark) v.health = 'bad';
      else if (Number.isFinite(bestRtt) && (v.rtt ?? 0) > 2 * bestRtt) v.health = 'degraded';
      out.set(key, { view: v, badRtt, dark });
    }
    return out;
  }

  /**
   * What the tuning loop would do now: every regular subflow on a bad path of a
   * connection that keeps at least one regular subflow on a path that is not bad.
   */
  tuning(t: TuningSettings): TuningAction[] {
    const judged = this.judge(t);
    const out: TuningAction[] = [];
    for (const n of this.nodes.values()) {
      if (n.status !== 'up') continue;
      for (const [cid, c] of n.connections) {
        const subs = c.snapshot.subflows.filter((s) => s.state === 'established');
        if (subs.length < 2) continue;
        const judgement = (s: (typeof subs)[number]) =>
          judged.get(pathKey(n.id, s.local_addr, s.remote_addr));
        const bad = (s: (typeof subs)[number]): ApiPath | undefined => {
          const p = judgement(s)?.view;
          return p?.health === 'bad' ? p : undefined;
        };
        const goodRegular = subs.filter((s) => s.priority === 'regular' && !bad(s));
        if (goodRegular.length === 0) continue;
        for (const s of subs) {
          const p = bad(s);
          if (!p || s.priority !== 'regular') continue;
          out.push({
            node: n.id,
            connection: cid,
            subflow: s.id,
            path: p.id,
            dark: judgement(s)?.dark ?? false,
            reason: p.stalled_subflows
              ? `path ${p.id} stopped delivering: retransmitting with nothing acknowledged while its peers deliver`
              : `path ${p.id} rtt ${Math.round(p.rtt ?? 0)}us loss ${(p.loss ?? 0).toFixed(3)} is far worse than its peers`,
          });
        }
      }
    }
    return out;
  }

  /**
   * Which demoted subflows to set regular again: one on a path that went dark
   * as soon as it has data acknowledged again (its retransmissions get
   * through) while its path is not bad otherwise; any as soon as it has
   * waited its hold (then its path is judged afresh, and demoted again with
   * a doubled hold if it is still bad). `gone` lists demotions whose subflow
   * no longer exists or is no longer backup (someone else set it).
   */
  restorations(
    demotions: Iterable<Demotion>,
    now: number,
    t: TuningSettings,
  ): { restore: Restoration[]; gone: Demotion[] } {
    const restore: Restoration[] = [];
    const gone: Demotion[] = [];
    let judged: Map<string, PathJudgement> | undefined;
    for (const d of demotions) {
      const n = this.nodes.get(d.node);
      const c = n?.connections.get(d.connection);
      const s = c?.snapshot.subflows.find((x) => x.id === d.subflow);
      if (!n || !c || !s || s.state !== 'established') {
        if (!n || n.status === 'up') gone.push(d);
        continue;
      }
      if (s.priority !== 'backup') {
        // Set regular by someone else; a batch sent before the demotion took
        // effect may still show it regular.
        if (c.receivedAt > d.at + SETTLE_MS) gone.push(d);
        continue;
      }
      if (n.status !== 'up') continue;
      if (d.dark && c.progressed.has(s.id) && !c.stalled.has(s.id)) {
        // Its loss still counts the retransmissions of the dark spell: only
        // RTT and a stall now say the path is still bad.
        judged ??= this.judge(t);
        const j = judged.get(pathKey(n.id, s.local_addr, s.remote_addr));
        if (!j || (!j.badRtt && !j.dark)) {
          restore.push({
            demotion: d,
            reason: `path ${d.path} delivers again: data acknowledged on the backup subflow`,
          });
          continue;
        }
      }
      if (now - d.at >= d.holdMs) {
        restore.push({
          demotion: d,
          reason: `backup for ${Math.round((now - d.at) / 1000)} s: trying path ${d.path} again`,
        });
      }
    }
    return { restore, gone };
  }
}
