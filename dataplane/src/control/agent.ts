/**
 * The node side of the control plane. A ControlAgent registers its node with the
 * controller (hello, request-reply), publishes heartbeats, telemetry batches and
 * events, answers commands (each checked against its schema and applied once per
 * idempotency key), and watches the node's desired state in the KV bucket,
 * converging to every valid revision. When NATS or the controller are away it
 * keeps the last state it applied (in memory and, when given a state file, on
 * disk, so a restart without NATS comes back to it).
 *
 * The engine is not known here: telemetry comes from a TelemetrySource, commands
 * go to a CommandExecutor and desired state to a DesiredStateApplier.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  connect,
  nkeyAuthenticator,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import type {
  BraidEvent,
  CommandResult,
  ConnectionSnapshot,
  ControlError,
  DesiredState,
  NodeHeartbeat,
  NodeHello,
  NodeHelloReply,
  NodePort,
  TelemetryBatch,
} from '../../../schemas/gen/types';
import {
  Buckets,
  SCHEMA_VERSION,
  Subjects,
  decode,
  encode,
  newId,
  nodeInboxPrefix,
  validate,
  type CommandMessage,
} from '../../../controller/src/protocol';
import type { Logger } from '../../../ops/src/log';

/** Where telemetry comes from: the engine's counter snapshots (or a simulation). */
export interface TelemetrySource {
  snapshot(): { connections: ConnectionSnapshot[]; counters?: Record<string, number> };
}

/** A command that could not be carried out: its code and reason go back to the controller. */
export class CommandFailure extends Error {
  constructor(
    readonly code: ControlError['code'],
    message: string,
    readonly pointer?: string,
  ) {
    super(message);
  }
}

/** Carries out commands (the engine, or a simulation). Throw CommandFailure to refuse. */
export interface CommandExecutor {
  execute(cmd: CommandMessage): Promise<Record<string, unknown>> | Record<string, unknown>;
}

/** Applies a whole desired state; called only with states that passed their schema. */
export interface DesiredStateApplier {
  apply(state: DesiredState, revision: number): Promise<void> | void;
}

/** A change of a node's desired state as the KV watch sees it. */
export interface DesiredUpdate {
  revision: number;
  /** undefined when the key was deleted or purged. */
  value?: Uint8Array;
}

/**
 * Delivers a node's desired-state updates. The default watches the node's own key;
 * a fleet simulator shares one watch among many nodes.
 */
export interface DesiredStateSource {
  watch(node: string, onUpdate: (u: DesiredUpdate) => void): Promise<() => void>;
}

export interface ControlAgentOptions {
  nodeId: string;
  /** NATS URLs (ignored when `nc` is given). */
  servers?: string[];
  /** A shared connection (fleet simulator); the agent does not close it. */
  nc?: NatsConnection;
  /** NATS nkey seed (the node's credentials, see `braid controller nats-auth`). */
  nkeySeed?: Uint8Array;
  prefix?: string;
  version: string;
  ports: NodePort[];
  addresses: string[];
  capabilities: string[];
  workers?: number;
  telemetry: TelemetrySource;
  executor: CommandExecutor;
  applier: DesiredStateApplier;
  desiredSource?: DesiredStateSource;
  /** Where the last applied desired state is kept across restarts. */
  stateFile?: string;
  /** Until the controller says otherwise. */
  heartbeatIntervalMs?: number;
  telemetryIntervalMs?: number;
  /** How many idempotency keys are remembered (default 10 000). */
  idempotencyCacheSize?: number;
  logger?: Logger;
  /** Hello request timeout (default 2 s). */
  helloTimeoutMs?: number;
}

export interface AgentStats {
  heartbeats: number;
  telemetryBatches: number;
  telemetryRecords: number;
  commands: number;
  duplicateCommands: number;
  invalidMessages: number;
  desiredApplied: number;
  desiredRefused: number;
}

/** The default desired-state source: a KV watch on the node's own key. */
export function kvDesiredSource(nc: NatsConnection, bucket: string): DesiredStateSource {
  return {
    async watch(node, onUpdate) {
      const kv = await new Kvm(nc).open(bucket, { bindOnly: true });
      const it = await kv.watch({ key: node });
      void (async () => {
        for await (const e of it) {
          if (e.operation === 'PUT') onUpdate({ revision: e.revision, value: e.value });
          else onUpdate({ revision: e.revision });
        }
      })().catch(() => undefined);
      return () => it.stop();
    },
  };
}

export class ControlAgent {
  readonly nodeId: string;
  readonly subjects: Subjects;
  readonly buckets: Buckets;
  readonly stats: AgentStats = {
    heartbeats: 0,
    telemetryBatches: 0,
    telemetryRecords: 0,
    commands: 0,
    duplicateCommands: 0,
    invalidMessages: 0,
    desiredApplied: 0,
    desiredRefused: 0,
  };
  /** The desired state in force (the last valid one), and its KV revision. */
  desired: DesiredState | undefined;
  appliedRevision = 0;
  /** The controller's hello reply once registered. */
  registration: NodeHelloReply | undefined;

  private nc: NatsConnection | undefined;
  private ownsConnection = false;
  private readonly startedAt = Date.now();
  private hbSeq = 0;
  private telSeq = 0;
  private hbTimer: NodeJS.Timeout | undefined;
  private telTimer: NodeJS.Timeout | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private freshWatch = false;
  private sub: Subscription | undefined;
  private stopWatch: (() => void) | undefined;
  private stopped = false;
  private readonly seen = new Map<string, Promise<CommandResult>>();
  private applying: Promise<void> = Promise.resolve();
  private helloInFlight = false;
  private readonly registeredWaiters: (() => void)[] = [];

  constructor(private readonly opts: ControlAgentOptions) {
    this.nodeId = opts.nodeId;
    this.subjects = new Subjects(opts.prefix);
    this.buckets = new Buckets(opts.prefix);
  }

  get connection(): NatsConnection | undefined {
    return this.nc;
  }

  get heartbeatIntervalMs(): number {
    return this.registration?.heartbeat_interval_ms ?? this.opts.heartbeatIntervalMs ?? 1000;
  }

  get telemetryIntervalMs(): number {
    return this.registration?.telemetry_interval_ms ?? this.opts.telemetryIntervalMs ?? 1000;
  }

  /** Resolves once the controller has answered a hello. */
  registered(): Promise<void> {
    if (this.registration) return Promise.resolve();
    return new Promise((r) => this.registeredWaiters.push(r));
  }

  /**
   * Start: bring back the last state from the state file, connect, subscribe to
   * commands, watch the desired state, and register (retrying in the background
   * while no controller answers).
   */
  async start(): Promise<void> {
    await this.restoreLastState();
    if (this.opts.nc) {
      this.nc = this.opts.nc;
    } else {
      this.nc = await connect({
        servers: this.opts.servers ?? ['nats://127.0.0.1:4222'],
        name: `braid-node-${this.nodeId}`,
        inboxPrefix: nodeInboxPrefix(this.nodeId),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        waitOnFirstConnect: true,
        ...(this.opts.nkeySeed ? { authenticator: nkeyAuthenticator(this.opts.nkeySeed) } : {}),
      });
      this.ownsConnection = true;
      void this.watchStatus(this.nc);
    }
    const nc = this.nc;
    this.sub = nc.subscribe(this.subjects.command(this.nodeId), {
      callback: (err, msg) => {
        if (!err) void this.onCommand(msg);
      },
    });
    const source = this.opts.desiredSource ?? kvDesiredSource(nc, this.buckets.desired);
    try {
      this.freshWatch = true;
      this.stopWatch = await source.watch(this.nodeId, (u) => this.onDesired(u));
    } catch (e) {
      // The bucket does not exist until a controller has started: retry after hello.
      this.opts.logger?.warn({ err: (e as Error).message }, 'desired-state watch not started yet');
    }
    this.scheduleHeartbeat();
    this.scheduleTelemetry();
    void this.hello();
  }

  /** Stop timers and subscriptions; close the connection when it is ours. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.hbTimer);
    clearTimeout(this.telTimer);
    clearTimeout(this.helloTimer);
    clearTimeout(this.watchTimer);
    this.stopWatch?.();
    this.sub?.unsubscribe();
    await this.applying.catch(() => undefined);
    if (this.ownsConnection && this.nc && !this.nc.isClosed()) await this.nc.close();
  }

  /** Publish an event (connection and subflow lifecycle) on `<prefix>.events.<id>`. */
  publishEvent(e: Omit<BraidEvent, 'v' | 'node_id' | 'ts' | 'source'> & { ts?: number }): void {
    const ev: BraidEvent = {
      v: SCHEMA_VERSION,
      id: newId(),
      node_id: this.nodeId,
      ts: e.ts ?? Date.now(),
      source: 'node',
      ...e,
    } as BraidEvent;
    const ok = validate('event', ev);
    if (!ok.ok) throw new Error(ok.error.message);
    this.nc?.publish(this.subjects.events(this.nodeId), encode(ev));
  }

  /** Publish one telemetry batch now (also done every telemetry interval). */
  publishTelemetry(): number {
    if (!this.nc || this.nc.isClosed()) return 0;
    const snap = this.opts.telemetry.snapshot();
    const batch: TelemetryBatch = {
      v: SCHEMA_VERSION,
      node_id: this.nodeId,
      seq: ++this.telSeq,
      ts: Date.now(),
      interval_ms: this.telemetryIntervalMs,
      connections: snap.connections,
      ...(snap.counters ? { counters: snap.counters } : {}),
    };
    this.nc.publish(this.subjects.telemetry(this.nodeId), encode(batch));
    let records = batch.connections.length;
    for (const c of batch.connections) records += c.subflows.length;
    this.stats.telemetryBatches++;
    this.stats.telemetryRecords += records;
    return records;
  }

  /** Publish one heartbeat now. */
  publishHeartbeat(): void {
    if (!this.nc || this.nc.isClosed()) return;
    const hb: NodeHeartbeat = {
      v: SCHEMA_VERSION,
      node_id: this.nodeId,
      seq: ++this.hbSeq,
      ts: Date.now(),
      uptime_ms: Date.now() - this.startedAt,
      desired_revision: this.appliedRevision,
      controller_reachable: this.registration !== undefined,
    };
    this.nc.publish(this.subjects.heartbeat(this.nodeId), encode(hb));
    this.stats.heartbeats++;
  }

  /** Register: one hello request; on no answer, retried with backoff until stopped. */
  async hello(attempt = 0): Promise<boolean> {
    if (this.stopped || !this.nc || this.helloInFlight) return false;
    this.helloInFlight = true;
    const msg: NodeHello = {
      v: SCHEMA_VERSION,
      node_id: this.nodeId,
      version: this.opts.version,
      started_at: this.startedAt,
      ports: this.opts.ports,
      addresses: this.opts.addresses,
      capabilities: this.opts.capabilities,
      desired_revision: this.appliedRevision,
      ...(this.opts.workers ? { workers: this.opts.workers } : {}),
    };
    try {
      const reply = await this.nc.request(this.subjects.hello(this.nodeId), encode(msg), {
        timeout: this.opts.helloTimeoutMs ?? 2000,
      });
      const d = decode<NodeHelloReply>('node-hello-reply', reply.data);
      if (!d.ok) throw new Error(d.error.message);
      if (!d.value.ok) throw new Error(d.value.error?.message ?? 'hello refused');
      const changed =
        d.value.heartbeat_interval_ms !== this.registration?.heartbeat_interval_ms ||
        d.value.telemetry_interval_ms !== this.registration?.telemetry_interval_ms;
      this.registration = d.value;
      this.opts.logger?.info({ controller: d.value.controller_id }, 'registered');
      if (changed) {
        this.scheduleHeartbeat();
        this.scheduleTelemetry();
      }
      if (!this.stopWatch) await this.retryWatch();
      for (const w of this.registeredWaiters.splice(0)) w();
      return true;
    } catch (e) {
      if (this.stopped) return false;
      const wait = Math.min(10000, 250 * 2 ** Math.min(attempt, 6));
      this.opts.logger?.debug({ err: (e as Error).message, wait }, 'hello not answered');
      this.helloTimer = setTimeout(() => void this.hello(attempt + 1), wait);
      return false;
    } finally {
      this.helloInFlight = false;
    }
  }

  /** Start the desired-state watch, retrying with backoff until it runs (the
   * bucket may not exist yet, or a busy server may time the request out). */
  private async retryWatch(attempt = 0): Promise<void> {
    if (!this.nc || this.stopped || this.stopWatch) return;
    const source = this.opts.desiredSource ?? kvDesiredSource(this.nc, this.buckets.desired);
    try {
      this.freshWatch = true;
      this.stopWatch = await source.watch(this.nodeId, (u) => this.onDesired(u));
    } catch (e) {
      const wait = Math.min(5000, 250 * 2 ** Math.min(attempt, 5));
      this.opts.logger?.warn({ err: (e as Error).message, wait }, 'desired-state watch failed');
      this.watchTimer = setTimeout(() => void this.retryWatch(attempt + 1), wait);
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'reconnect') {
        // The controller may have restarted meanwhile: say hello again.
        this.registration = undefined;
        void this.hello();
      }
    }
  }

  private scheduleHeartbeat(): void {
    clearTimeout(this.hbTimer);
    if (this.stopped) return;
    const tick = (): void => {
      this.publishHeartbeat();
      this.hbTimer = setTimeout(tick, this.heartbeatIntervalMs);
    };
    // Spread the first beat so a fleet started together does not beat in step.
    this.hbTimer = setTimeout(tick, Math.floor(Math.random() * this.heartbeatIntervalMs));
  }

  private scheduleTelemetry(): void {
    clearTimeout(this.telTimer);
    if (this.stopped) return;
    const tick = (): void => {
      try {
        this.publishTelemetry();
      } catch (e) {
        this.opts.logger?.warn({ err: (e as Error).message }, 'telemetry failed');
      }
      this.telTimer = setTimeout(tick, this.telemetryIntervalMs);
    };
    this.telTimer = setTimeout(
      tick,
      Math.floor((0.5 + Math.random() / 2) * this.telemetryIntervalMs),
    );
  }

  private reply(msg: Msg, result: CommandResult): void {
    if (msg.reply) msg.respond(encode(result));
  }

  /** A command: checked whole, run at most once per idempotency key, always answered. */
  private async onCommand(msg: Msg): Promise<void> {
    const d = decode<CommandMessage>('command', msg.data);
    if (!d.ok) {
      this.stats.invalidMessages++;
      this.reply(msg, { v: SCHEMA_VERSION, ok: false, node_id: this.nodeId, error: d.error });
      return;
    }
    const cmd = d.value;
    if (cmd.node_id !== this.nodeId) {
      this.stats.invalidMessages++;
      this.reply(msg, {
        v: SCHEMA_VERSION,
        ok: false,
        node_id: this.nodeId,
        command_id: cmd.id,
        idempotency_key: cmd.idempotency_key,
        error: {
          code: 'invalid',
          message: `/node_id is ${cmd.node_id}, not ${this.nodeId}`,
          pointer: '/node_id',
        },
      });
      return;
    }
    this.stats.commands++;
    const prior = this.seen.get(cmd.idempotency_key);
    if (prior) {
      this.stats.duplicateCommands++;
      const first = await prior;
      this.reply(msg, { ...first, command_id: cmd.id, duplicate: true });
      return;
    }
    const run = this.run(cmd);
    this.seen.set(cmd.idempotency_key, run);
    const max = this.opts.idempotencyCacheSize ?? 10000;
    while (this.seen.size > max) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
    }
    this.reply(msg, await run);
  }

  private async run(cmd: CommandMessage): Promise<CommandResult> {
    const base = {
      v: SCHEMA_VERSION,
      node_id: this.nodeId,
      command_id: cmd.id,
      idempotency_key: cmd.idempotency_key,
    };
    try {
      const result = await this.opts.executor.execute(cmd);
      return { ...base, ok: true, duplicate: false, result };
    } catch (e) {
      const f = e instanceof CommandFailure ? e : undefined;
      return {
        ...base,
        ok: false,
        error: {
          code: f?.code ?? 'failed',
          message: (e as Error).message,
          ...(f?.pointer !== undefined ? { pointer: f.pointer } : {}),
        },
      };
    }
  }

  /** A desired-state update: applied only when valid and newer; a bad one is refused whole. */
  private onDesired(u: DesiredUpdate): void {
    // The first update of a new watch is the bucket's current value: take it
    // whatever its revision (a bucket made anew after a NATS data loss starts
    // its revisions again). After that, revisions only move forward.
    const fresh = this.freshWatch;
    this.freshWatch = false;
    this.applying = this.applying.then(async () => {
      if (!fresh && u.revision <= this.appliedRevision) return;
      if (!u.value) {
        // Deleted by the controller: keep forwarding with the last state.
        this.opts.logger?.info(
          { revision: u.revision },
          'desired state removed; keeping the last one',
        );
        return;
      }
      const d = decode<DesiredState>('desired-state', u.value);
      if (!d.ok || d.value.node_id !== this.nodeId) {
        this.stats.desiredRefused++;
        this.stats.invalidMessages++;
        const error = d.ok
          ? {
              code: 'invalid' as const,
              message: `/node_id is ${d.value.node_id}`,
              pointer: '/node_id',
            }
          : d.error;
        this.opts.logger?.warn({ revision: u.revision, error }, 'desired state refused');
        try {
          this.publishEvent({
            type: 'desired.refused',
            severity: 'error',
            message: error.message,
            data: { revision: u.revision, pointer: error.pointer ?? '' },
          });
        } catch {
          /* the event is best effort */
        }
        return;
      }
      try {
        await this.opts.applier.apply(d.value, u.revision);
      } catch (e) {
        this.opts.logger?.error({ err: (e as Error).message }, 'applying desired state failed');
        this.publishEvent({
          type: 'desired.failed',
          severity: 'error',
          message: (e as Error).message,
          data: { revision: u.revision },
        });
        return;
      }
      this.desired = d.value;
      this.appliedRevision = u.revision;
      this.stats.desiredApplied++;
      this.saveLastState();
      this.publishEvent({
        type: 'desired.applied',
        severity: 'info',
        data: { revision: u.revision, generation: d.value.generation },
      });
      this.publishHeartbeat();
    });
  }

  private saveLastState(): void {
    const f = this.opts.stateFile;
    if (!f || !this.desired) return;
    fs.mkdirSync(path.dirname(f), { recursive: true });
    const tmp = `${f}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ revision: this.appliedRevision, state: this.desired }));
    fs.renameSync(tmp, f);
  }

  private async restoreLastState(): Promise<void> {
    const f = this.opts.stateFile;
    if (!f || !fs.existsSync(f)) return;
    try {
      const saved = JSON.parse(fs.readFileSync(f, 'utf8')) as { revision: number; state: unknown };
      const d = validate<DesiredState>('desired-state', saved.state);
      if (!d.ok || d.value.node_id !== this.nodeId) throw new Error('invalid saved state');
      await this.opts.applier.apply(d.value, saved.revision);
      this.desired = d.value;
      this.appliedRevision = saved.revision;
    } catch (e) {
      this.opts.logger?.warn({ file: f, err: (e as Error).message }, 'last state not restored');
    }
  }
}
