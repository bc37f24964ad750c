/**
 * A fleet simulator: many simulated nodes speaking the real control protocol
 * over NATS (hello, heartbeats, telemetry, events, commands, desired-state
 * watch), each a real ControlAgent from dataplane/src/control over a SimEngine.
 * To simulate thousands of nodes in one process, nodes share NATS connections
 * (`nodesPerConnection`) and one KV watch of the desired-state bucket; every
 * subject and message is still per node, exactly as a real node sends it.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { Buckets } from '../../controller/src/protocol';
import {
  ControlAgent,
  type DesiredStateSource,
  type DesiredUpdate,
} from '../../dataplane/src/control/agent';
import { SimEngine, type SimEngineOptions } from './sim-engine';
import type { Logger } from '../../ops/src/log';

export interface FleetSimOptions {
  servers: string[];
  prefix?: string;
  nodes: number;
  /** Node ids are `<idPrefix><index>` (default `sim-`). */
  idPrefix?: string;
  nodesPerConnection?: number;
  engine?: SimEngineOptions;
  heartbeatIntervalMs?: number;
  telemetryIntervalMs?: number;
  /** Nodes started at once (default 500). */
  startBatch?: number;
  logger?: Logger;
}

/** One KV watch of the whole desired-state bucket, dispatched to the nodes by key. */
export class SharedDesiredSource implements DesiredStateSource {
  private readonly subs = new Map<string, (u: DesiredUpdate) => void>();
  private readonly last = new Map<string, DesiredUpdate>();
  private stopFn: (() => void) | undefined;

  async open(nc: NatsConnection, bucket: string): Promise<void> {
    const kv = await new Kvm(nc).open(bucket, { bindOnly: true });
    const it = await kv.watch();
    this.stopFn = () => it.stop();
    void (async () => {
      for await (const e of it) {
        const u: DesiredUpdate =
          e.operation === 'PUT'
            ? { revision: e.revision, value: e.value }
            : { revision: e.revision };
        this.last.set(e.key, u);
        this.subs.get(e.key)?.(u);
      }
    })().catch(() => undefined);
  }

  async watch(node: string, onUpdate: (u: DesiredUpdate) => void): Promise<() => void> {
    this.subs.set(node, onUpdate);
    const cur = this.last.get(node);
    if (cur) onUpdate(cur);
    return () => this.subs.delete(node);
  }

  stop(): void {
    this.stopFn?.();
  }
}

export class FleetSim {
  readonly nodes: { agent: ControlAgent; engine: SimEngine }[] = [];
  private readonly conns: NatsConnection[] = [];
  private readonly desired = new SharedDesiredSource();

  constructor(readonly opts: FleetSimOptions) {}

  ids(): string[] {
    return this.nodes.map((n) => n.agent.nodeId);
  }

  async start(): Promise<void> {
    const per = this.opts.nodesPerConnection ?? 500;
    const nConns = Math.max(1, Math.ceil(this.opts.nodes / per));
    for (let i = 0; i < nConns; i++) {
      this.conns.push(
        await connect({
          servers: this.opts.servers,
          name: `braid-fleet-sim-${i}`,
          maxReconnectAttempts: -1,
          pingInterval: 30000,
        }),
      );
    }
    await this.desired.open(this.conns[0]!, new Buckets(this.opts.prefix).desired);
    const batch = this.opts.startBatch ?? 500;
    const prefix = this.opts.idPrefix ?? 'sim-';
    for (let i = 0; i < this.opts.nodes; i += batch) {
      const starts: Promise<void>[] = [];
      for (let j = i; j < Math.min(this.opts.nodes, i + batch); j++) {
        const engine = new SimEngine(this.opts.engine);
        const agent = new ControlAgent({
          nodeId: `${prefix}${j}`,
          nc: this.conns[j % nConns]!,
          ...(this.opts.prefix ? { prefix: this.opts.prefix } : {}),
          version: 'fleet-sim',
          ports: [
            { name: 'p0', device: 'sim', address: '10.1.0.2/24' },
            { name: 'p1', device: 'sim', address: '10.1.1.2/24', backup: false },
          ],
          addresses: ['10.1.0.2', '10.1.1.2'],
          capabilities: ['mptcp.v1', 'sim'],
          telemetry: engine,
          executor: engine,
          applier: engine,
          desiredSource: this.desired,
          heartbeatIntervalMs: this.opts.heartbeatIntervalMs ?? 1000,
          telemetryIntervalMs: this.opts.telemetryIntervalMs ?? 1000,
          helloTimeoutMs: 5000,
          ...(this.opts.logger ? { logger: this.opts.logger } : {}),
        });
        engine.onEvent = (e) => agent.publishEvent(e);
        this.nodes.push({ agent, engine });
        starts.push(agent.start());
      }
      await Promise.all(starts);
      await Promise.all(this.conns.map((c) => c.flush()));
    }
  }

  /** Resolves when every node's hello has been answered. */
  async registered(timeoutMs = 60000): Promise<void> {
    const all = Promise.all(this.nodes.map((n) => n.agent.registered()));
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_r, reject) => {
      t = setTimeout(() => reject(new Error('fleet not registered in time')), timeoutMs);
    });
    try {
      await Promise.race([all, timeout]);
    } finally {
      clearTimeout(t);
    }
  }

  /** Sum of every node's counters. */
  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const n of this.nodes) {
      for (const [k, v] of Object.entries(n.agent.stats)) out[k] = (out[k] ?? 0) + v;
    }
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.agent.stop()));
    this.desired.stop();
    for (const c of this.conns) await c.drain().catch(() => c.close());
  }
}
