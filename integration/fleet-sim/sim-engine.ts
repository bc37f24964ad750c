/**
 * A simulated engine for one node: connections with subflows whose tcp_info-like
 * counters advance every snapshot, a command executor that changes them, and a
 * desired-state applier that records what it got. It stands in for the C engine
 * behind dataplane/src/control's interfaces; the protocol around it is the real one.
 */
import type { ConnectionSnapshot, DesiredState, SubflowSnapshot } from '../../schemas/gen/types';
import type { CommandMessage } from '../../controller/src/protocol';
import {
  CommandFailure,
  type CommandExecutor,
  type DesiredStateApplier,
  type TelemetrySource,
} from '../../dataplane/src/control/agent';

export interface SimPath {
  local: string;
  remote: string;
  /** Base RTT in microseconds. */
  rtt: number;
  /** Fraction of segments retransmitted. */
  loss: number;
}

/** A lifecycle event as the engine reports it (the agent adds node, time and version). */
export interface SimEvent {
  type: string;
  severity: 'info' | 'warn' | 'error';
  connection_id?: string;
  subflow_id?: string;
  message?: string;
  data?: Record<string, unknown>;
}

export interface SimEngineOptions {
  /** Connections to open at start (default 1). */
  connections?: number;
  /** Paths every connection uses, one subflow each (default two clean paths). */
  paths?: SimPath[];
  app?: string;
}

export class SimEngine implements TelemetrySource, CommandExecutor, DesiredStateApplier {
  readonly connections = new Map<string, ConnectionSnapshot>();
  readonly executed: CommandMessage[] = [];
  readonly applied: { state: DesiredState; revision: number }[] = [];
  paths: SimPath[];
  /** Where lifecycle events go (the agent's publishEvent once wired). */
  onEvent: ((e: SimEvent) => void) | undefined;
  private nextSub = 100;
  private tick = 0;

  constructor(opts: SimEngineOptions = {}) {
    this.paths = opts.paths ?? [
      { local: '10.1.0.2', remote: '10.2.0.2', rtt: 200, loss: 0 },
      { local: '10.1.1.2', remote: '10.2.0.2', rtt: 250, loss: 0 },
    ];
    for (let i = 0; i < (opts.connections ?? 1); i++) this.open(`c${i}`, opts.app ?? 'app');
  }

  open(id: string, app: string): ConnectionSnapshot {
    const subflows: SubflowSnapshot[] = this.paths.map((p, i) => ({
      id: String(i),
      local_addr: p.local,
      local_port: 40000 + i,
      remote_addr: p.remote,
      remote_port: 5201,
      state: 'established',
      priority: 'regular',
      weight: 1,
      rtt: p.rtt,
      rttvar: Math.round(p.rtt / 4),
      snd_cwnd: 10,
      snd_mss: 1448,
      bytes_acked: 0,
      bytes_received: 0,
      segs_out: 0,
      segs_in: 0,
      total_retrans: 0,
      delivery_rate: 0,
    }));
    const c: ConnectionSnapshot = {
      id,
      app,
      state: 'established',
      mptcp: true,
      local_addr: this.paths[0]?.local ?? '10.1.0.2',
      local_port: 40000,
      remote_addr: this.paths[0]?.remote ?? '10.2.0.2',
      remote_port: 5201,
      scheduler: 'default',
      congestion_control: 'lia',
      path_manager: 'fullmesh',
      token: 0x1234 + this.connections.size,
      bytes_sent: 0,
      bytes_received: 0,
      bytes_acked: 0,
      bytes_retrans: 0,
      subflows,
    };
    this.connections.set(id, c);
    return c;
  }

  snapshot(): { connections: ConnectionSnapshot[]; counters: Record<string, number> } {
    this.tick++;
    for (const c of this.connections.values()) {
      for (const s of c.subflows) {
        const p = this.paths.find((x) => x.local === s.local_addr && x.remote === s.remote_addr);
        const segs = s.priority === 'backup' ? 1 : 100;
        s.segs_out = (s.segs_out ?? 0) + segs;
        s.total_retrans = (s.total_retrans ?? 0) + Math.round(segs * (p?.loss ?? 0));
        s.bytes_acked = (s.bytes_acked ?? 0) + segs * 1448;
        s.delivery_rate = segs * 1448 * 10;
        s.rtt = p?.rtt ?? s.rtt;
      }
      c.bytes_acked = c.subflows.reduce((a, s) => a + (s.bytes_acked ?? 0), 0);
      c.bytes_sent = c.bytes_acked;
    }
    return {
      connections: [...this.connections.values()],
      counters: { MPTcpExtMPCapableSYNTX: this.connections.size, MPTcpExtMPJoinSynRx: this.tick },
    };
  }

  count(op: string): number {
    return this.executed.filter((c) => c.op === op).length;
  }

  private conn(id: string): ConnectionSnapshot {
    const c = this.connections.get(id);
    if (!c) throw new CommandFailure('not_found', `no connection ${id}`, '/args/connection_id');
    return c;
  }

  private sub(c: ConnectionSnapshot, id: string): SubflowSnapshot {
    const s = c.subflows.find((x) => x.id === id);
    if (!s)
      throw new CommandFailure('not_found', `no subflow ${id} on ${c.id}`, '/args/subflow_id');
    return s;
  }

  execute(cmd: CommandMessage): Record<string, unknown> {
    this.executed.push(cmd);
    switch (cmd.op) {
      case 'ping':
        return { pong: true };
      case 'set_scheduler': {
        const c = this.conn(cmd.args.connection_id);
        const before = c.scheduler;
        c.scheduler = cmd.args.scheduler;
        return { before, after: c.scheduler };
      }
      case 'set_weights': {
        const c = this.conn(cmd.args.connection_id);
        for (const [sid, w] of Object.entries(cmd.args.weights)) this.sub(c, sid).weight = w;
        return { weights: Object.fromEntries(c.subflows.map((s) => [s.id, s.weight])) };
      }
      case 'set_subflow_priority': {
        const c = this.conn(cmd.args.connection_id);
        const s = this.sub(c, cmd.args.subflow_id);
        const before = s.priority;
        s.priority = cmd.args.priority;
        this.onEvent?.({
          type: 'subflow.priority',
          severity: 'info',
          connection_id: c.id,
          subflow_id: s.id,
          data: { before, after: s.priority },
        });
        return { before, after: s.priority };
      }
      case 'add_subflow': {
        const c = this.conn(cmd.args.connection_id);
        const id = String(this.nextSub++);
        const local = cmd.args.local_addr ?? c.local_addr;
        const remote = cmd.args.remote_addr ?? c.remote_addr;
        c.subflows.push({
          id,
          local_addr: local,
          local_port: 41000 + c.subflows.length,
          remote_addr: remote,
          remote_port: cmd.args.remote_port ?? c.remote_port,
          state: 'established',
          priority: cmd.args.backup ? 'backup' : 'regular',
          rtt: 300,
          rttvar: 75,
          snd_cwnd: 10,
          segs_out: 0,
          total_retrans: 0,
        });
        this.onEvent?.({
          type: 'subflow.open',
          severity: 'info',
          connection_id: c.id,
          subflow_id: id,
        });
        return { subflow_id: id };
      }
      case 'remove_subflow': {
        const c = this.conn(cmd.args.connection_id);
        this.sub(c, cmd.args.subflow_id);
        c.subflows = c.subflows.filter((s) => s.id !== cmd.args.subflow_id);
        this.onEvent?.({
          type: 'subflow.close',
          severity: 'info',
          connection_id: c.id,
          subflow_id: cmd.args.subflow_id,
        });
        return { removed: cmd.args.subflow_id };
      }
    }
  }

  apply(state: DesiredState, revision: number): void {
    this.applied.push({ state, revision });
  }
}
