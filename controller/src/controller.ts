/**
 * The Braid controller: NATS southbound (registration, liveness, telemetry,
 * events, commands), shared state in JetStream KV (policies → desired state per
 * node), leader election between replicas, the tuning loop, and the Hono
 * northbound API (api.ts). Every replica ingests everything and serves reads;
 * only the leader writes desired state and node records and runs the tuning loop.
 */
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import {
  connect,
  nkeyAuthenticator,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { serve, type ServerType } from '@hono/node-server';
import type {
  AuditRecord,
  BraidEvent,
  CommandResult,
  ControllerConfig,
  ControlError,
  DesiredState,
  NodeHeartbeat,
  NodeHello,
  NodeHelloReply,
  NodeRecord,
  Policy,
  TelemetryBatch,
  TuningRecord,
} from '../../schemas/gen/types';
import { parseConfig } from '../../schemas/src/config';
import { createLogger, type Logger } from '../../ops/src/log';
import { startNatsServer, type NatsServer } from '../../ops/src/nats-server';
import {
  SCHEMA_VERSION,
  Subjects,
  decode,
  encode,
  newId,
  validate,
  type CommandArgsByOp,
  type CommandMessage,
  type CommandOp,
} from './protocol';
import {
  Fleet,
  connectionKey,
  subflowKey,
  type Demotion,
  type NodeState,
  type TuningSettings,
} from './fleet';
import { compileDesired, sameDesired } from './compile';
import { ConflictError, Store } from './store';
import { Election } from './election';
import { Metrics } from './metrics';
import { buildApi } from './api';

/** A config with every default filled in. */
export type ResolvedConfig = Required<
  Pick<
    ControllerConfig,
    'id' | 'heartbeat_interval_ms' | 'node_down_after_missed' | 'telemetry_interval_ms'
  >
> &
  ControllerConfig & {
    http: { host: string; port: number };
    nats: { prefix: string; embedded: { port: number; data_dir: string } } & NonNullable<
      ControllerConfig['nats']
    >;
    election: { ttl_ms: number; renew_ms: number };
    tuning: {
      enabled: boolean;
      interval_ms: number;
      rtt_factor: number;
      loss_threshold: number;
      restore_after_ms: number;
      restore_max_ms: number;
    };
    command_timeout_ms: number;
  };

/** The tuning loop asks a node to demote the same subflow at most this often. */
const TUNE_REPEAT_MS = 30000;

export function resolveConfig(cfg: ControllerConfig | unknown, file = 'config'): ResolvedConfig {
  return parseConfig<ResolvedConfig>('controller-config', structuredClone(cfg ?? {}), file);
}

export interface ControllerOptions {
  /** Use this connection (it is not closed by stop()). */
  nc?: NatsConnection;
  logger?: Logger;
  /** Start the HTTP API (default true). */
  http?: boolean;
  /** Collect Node.js process metrics too (default false; true in `braid controller`). */
  processMetrics?: boolean;
}

export interface SendOptions {
  idempotencyKey?: string;
  issuedBy?: string;
  timeoutMs?: number;
  /** Resend once on timeout with the same key (default true). */
  retry?: boolean;
}

type Listener = (e: BraidEvent & { seq?: number }) => void;

export class Controller {
  readonly cfg: ResolvedConfig;
  readonly id: string;
  readonly subjects: Subjects;
  readonly fleet = new Fleet();
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly policies = new Map<string, { policy: Policy; revision: number }>();
  readonly desired = new Map<string, { state: DesiredState; revision: number }>();
  nc!: NatsConnection;
  store!: Store;
  election!: Election;
  embedded: NatsServer | undefined;
  url = '';
  natsUrl = '';

  private ownsConnection = false;
  private http: ServerType | undefined;
  private subs: Subscription[] = [];
  private watches: { stop(): void }[] = [];
  private timers: NodeJS.Timeout[] = [];
  private compileTimer: NodeJS.Timeout | undefined;
  private compiling: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<Listener>();
  private readonly seen = new Map<string, number>();
  private readonly seenWaiters: { bucket: string; rev: number; resolve: () => void }[] = [];
  private readonly tuned = new Map<string, number>();
  private tuneBusy = false;
  /** Subflows the tuning loop set to backup (key node:connection:subflow). */
  private readonly demoted = new Map<string, Demotion>();
  /** Subflows it set regular again: when, and the hold they had. */
  private readonly restored = new Map<string, { at: number; holdMs: number; strikes: number }>();
  private readonly dirty = new Set<string>();
  private readonly pendingRecords = new Set<string>();
  private recordLanes = 0;
  private allDirty = true;
  private readonly invalidNotified = new Map<string, number>();
  private started = false;
  private stopping = false;

  constructor(
    config: ControllerConfig | ResolvedConfig,
    private readonly opts: ControllerOptions = {},
  ) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    this.subjects = new Subjects(this.cfg.nats.prefix);
    this.metrics = new Metrics(opts.processMetrics ?? false);
    this.log = opts.logger ?? createLogger(`controller:${this.id}`, this.cfg.log_level ?? 'info');
  }

  get stopped(): boolean {
    return this.stopping;
  }

  get leader(): boolean {
    return this.election?.leader ?? false;
  }

  get tuning(): TuningSettings {
    return this.cfg.tuning;
  }

  /** Whether this replica can serve: NATS up, buckets open, initial KV state loaded. */
  get ready(): boolean {
    return this.started && !this.nc.isClosed() && !this.stopping;
  }

  async start(): Promise<void> {
    await this.connect();
    this.store = new Store(this.nc, this.cfg.nats.prefix);
    await this.store.open({ electionTtlMs: this.cfg.election.ttl_ms });
    await this.watchBucket(this.store.policies, (e) => this.onPolicyEntry(e));
    await this.watchBucket(this.store.nodes, (e) => this.onNodeEntry(e));
    await this.watchBucket(this.store.desired, (e) => this.onDesiredEntry(e));
    await Promise.all([
      this.caughtUp(this.store.policies),
      this.caughtUp(this.store.nodes),
      this.caughtUp(this.store.desired),
    ]);
    this.subscribe();
    const sweepEvery = Math.max(50, Math.floor(this.cfg.heartbeat_interval_ms / 2));
    this.timers.push(setInterval(() => this.sweep(), sweepEvery));
    if (this.cfg.tuning.enabled) {
      this.timers.push(setInterval(() => void this.tune(), this.cfg.tuning.interval_ms));
    }
    if (this.opts.http !== false) await this.listen();
    this.election = new Election(this.store.election, {
      id: this.id,
      renewMs: this.cfg.election.renew_ms,
      ...(this.url ? { url: this.url } : {}),
      onChange: (leader) => this.onLeadership(leader),
      onError: (e) => this.log.warn({ err: e.message }, 'leader lease lost'),
    });
    this.election.start();
    this.started = true;
    this.log.info({ url: this.url, nats: this.natsUrl }, 'controller started');
  }

  /**
   * Stop. `release` (default) gives the leader lease up at once; without it the
   * replica just goes silent, as a crash would, and the lease runs out.
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.compileTimer);
    await this.election?.stop(opts.release ?? true);
    for (const s of this.subs) s.unsubscribe();
    for (const w of this.watches) w.stop();
    for (const l of [...this.listeners]) this.listeners.delete(l);
    if (this.http) {
      const srv = this.http as unknown as {
        closeAllConnections?: () => void;
        close(cb: () => void): void;
      };
      srv.closeAllConnections?.();
      await new Promise<void>((r) => srv.close(() => r()));
    }
    await this.compiling.catch(() => undefined);
    if (this.ownsConnection && this.nc && !this.nc.isClosed()) await this.nc.close();
    if (this.embedded) await this.embedded.stop();
  }

  // ---------------------------------------------------------------- NATS

  private async connect(): Promise<void> {
    if (this.opts.nc) {
      this.nc = this.opts.nc;
      this.natsUrl = this.nc.getServer();
      return;
    }
    let servers = this.cfg.nats.urls as string[] | undefined;
    if (!servers) {
      const auth = this.cfg.nats.embedded.authorization_file;
      this.embedded = await startNatsServer({
        port: this.cfg.nats.embedded.port,
        dataDir: this.cfg.nats.embedded.data_dir,
        ...(auth ? { authorization: fs.readFileSync(auth, 'utf8') } : {}),
      });
      servers = [this.embedded.url];
      this.log.info(
        { url: this.embedded.url, dir: this.cfg.nats.embedded.data_dir },
        'embedded nats-server started',
      );
    }
    const seedFile = this.cfg.nats.nkey_seed_file;
    this.nc = await connect({
      servers,
      name: `braid-controller-${this.id}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      ...(seedFile
        ? {
            authenticator: nkeyAuthenticator(
              new TextEncoder().encode(fs.readFileSync(seedFile, 'utf8').trim()),
            ),
          }
        : {}),
    });
    this.ownsConnection = true;
    this.natsUrl = servers.join(',');
  }

  private subscribe(): void {
    const s = this.subjects;
    const on = (subject: string, fn: (m: Msg) => void): void => {
      this.subs.push(
        this.nc.subscribe(subject, {
          callback: (err, m) => {
            if (err) {
              this.log.error({ err: err.message, subject }, 'subscription failed');
              return;
            }
            try {
              fn(m);
            } catch (e) {
              this.log.error({ err: (e as Error).message, subject: m.subject }, 'handler failed');
            }
          },
        }),
      );
    };
    on(s.hello('*'), (m) => this.onHello(m));
    on(s.heartbeat('*'), (m) => this.onHeartbeat(m));
    on(s.telemetry('*'), (m) => this.onTelemetry(m));
    on(s.events('*'), (m) => this.onEvent(m));
    on(s.controllerEvents, (m) => this.onEvent(m));
  }

  /** A message that failed its schema: counted, answered when it can be, never used. */
  private refuse(kind: string, m: Msg, node: string, error: ControlError): void {
    this.metrics.invalid.inc({ kind });
    this.log.warn({ kind, node, error: error.message }, 'message refused');
    if (m.reply) {
      m.respond(encode({ v: SCHEMA_VERSION, ok: false, node_id: node, error }));
    } else if (this.leader) {
      // No reply subject (heartbeat, telemetry, event): tell through an event, at most every 10 s per node.
      const key = `${kind}:${node}`;
      const last = this.invalidNotified.get(key) ?? 0;
      if (Date.now() - last > 10000) {
        this.invalidNotified.set(key, Date.now());
        this.emit({
          type: 'message.invalid',
          severity: 'warn',
          node_id: /^[A-Za-z0-9_-]{1,64}$/.test(node) ? node : 'unknown',
          message: error.message,
          data: { kind, pointer: error.pointer ?? '' },
        });
      }
    }
  }

  private checkSubject<T extends { node_id: string }>(kind: string, m: Msg, value: T): boolean {
    const node = this.subjects.nodeOf(m.subject);
    if (value.node_id === node) return true;
    this.refuse(kind, m, node, {
      code: 'invalid',
      message: `/node_id ${value.node_id} does not match the subject's node ${node}`,
      pointer: '/node_id',
    });
    return false;
  }

  private onHello(m: Msg): void {
    this.metrics.messages.inc({ kind: 'hello' });
    const node = this.subjects.nodeOf(m.subject);
    const d = decode<NodeHello>('node-hello', m.data);
    if (!d.ok) return this.refuse('hello', m, node, d.error);
    if (!this.checkSubject('hello', m, d.value)) return;
    const now = Date.now();
    const wasDown = this.fleet.nodes.get(node)?.status === 'down';
    const changed = this.fleet.register(d.value, now);
    if (wasDown && this.leader) {
      this.emit({
        type: 'node.up',
        severity: 'info',
        node_id: node,
        message: `${node} registered again`,
      });
    }
    const reply: NodeHelloReply = {
      v: SCHEMA_VERSION,
      ok: true,
      controller_id: this.id,
      heartbeat_interval_ms: this.cfg.heartbeat_interval_ms,
      telemetry_interval_ms: this.cfg.telemetry_interval_ms,
      node_down_after_missed: this.cfg.node_down_after_missed,
      desired_bucket: this.store.buckets.desired,
      desired_revision: this.desired.get(node)?.revision ?? 0,
    };
    m.respond(encode(reply));
    if (this.leader) {
      if (changed) this.writeNodeRecord(node);
      this.scheduleCompile(50, node);
    }
  }

  private onHeartbeat(m: Msg): void {
    this.metrics.messages.inc({ kind: 'hb' });
    const node = this.subjects.nodeOf(m.subject);
    const d = decode<NodeHeartbeat>('node-heartbeat', m.data);
    if (!d.ok) return this.refuse('hb', m, node, d.error);
    if (!this.checkSubject('hb', m, d.value)) return;
    const wasDown = this.fleet.heartbeat(d.value, Date.now());
    if (wasDown && this.leader) {
      this.emit({ type: 'node.up', severity: 'info', node_id: node, message: `${node} is back` });
    }
  }

  /** Telemetry: the whole batch or nothing. Returns the records taken (for benchmarks). */
  onTelemetry(m: Msg): number {
    this.metrics.messages.inc({ kind: 'telemetry' });
    const node = this.subjects.nodeOf(m.subject);
    const d = decode<TelemetryBatch>('telemetry', m.data);
    if (!d.ok) {
      this.refuse('telemetry', m, node, d.error);
      return 0;
    }
    if (!this.checkSubject('telemetry', m, d.value)) return 0;
    const n = this.fleet.telemetry(d.value, Date.now());
    this.metrics.telemetryRecords.inc(n);
    return n;
  }

  private onEvent(m: Msg): void {
    this.metrics.messages.inc({ kind: 'event' });
    const node =
      m.subject === this.subjects.controllerEvents ? 'controller' : this.subjects.nodeOf(m.subject);
    const d = decode<BraidEvent>('event', m.data);
    if (!d.ok) return this.refuse('event', m, node, d.error);
    if (node !== 'controller' && !this.checkSubject('event', m, d.value)) return;
    for (const l of this.listeners) l(d.value);
  }

  /** Listen to every event (node and controller); returns the unsubscribe function. */
  onEvents(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Raise a controller event (to every replica's SSE clients and the events stream). */
  emit(e: Omit<BraidEvent, 'v' | 'ts' | 'source' | 'id'>): void {
    const ev = {
      v: SCHEMA_VERSION,
      id: newId(),
      ts: Date.now(),
      source: 'controller',
      ...e,
    } as BraidEvent;
    const ok = validate('event', ev);
    if (!ok.ok) {
      this.log.error({ err: ok.error.message }, 'bad controller event');
      return;
    }
    if (!this.nc.isClosed()) this.nc.publish(this.subjects.controllerEvents, encode(ev));
  }

  private sweep(): void {
    const down = this.fleet.sweep(
      Date.now(),
      this.cfg.heartbeat_interval_ms,
      this.cfg.node_down_after_missed,
    );
    for (const id of down) {
      this.log.warn({ node: id }, 'node down');
      if (this.leader) {
        this.emit({
          type: 'node.down',
          severity: 'warn',
          node_id: id,
          message: `${id} silent for ${this.cfg.node_down_after_missed} heartbeat intervals`,
        });
      }
    }
    let up = 0;
    let dn = 0;
    for (const n of this.fleet.nodes.values()) {
      if (n.status === 'up') up++;
      else dn++;
    }
    this.metrics.nodes.set({ status: 'up' }, up);
    this.metrics.nodes.set({ status: 'down' }, dn);
  }

  // ---------------------------------------------------------------- commands

  /** Send a command and wait for its result; a timeout is retried once with the same key. */
  async sendCommand<K extends CommandOp>(
    node: string,
    op: K,
    args: CommandArgsByOp[K],
    o: SendOptions = {},
  ): Promise<CommandResult> {
    const cmd = {
      v: SCHEMA_VERSION,
      id: newId(),
      idempotency_key: o.idempotencyKey ?? newId(),
      node_id: node,
      ts: Date.now(),
      issued_by: o.issuedBy ?? this.id,
      op,
      args,
    } as CommandMessage;
    const ok = validate('command', cmd);
    if (!ok.ok) {
      this.metrics.commands.inc({ op, outcome: 'invalid' });
      return { v: SCHEMA_VERSION, ok: false, node_id: node, error: ok.error };
    }
    const started = process.hrtime.bigint();
    const attempts = o.retry === false ? 1 : 2;
    let last: ControlError = { code: 'timeout', message: 'no answer' };
    for (let i = 0; i < attempts; i++) {
      try {
        const reply = await this.nc.request(this.subjects.command(node), encode(cmd), {
          timeout: o.timeoutMs ?? this.cfg.command_timeout_ms,
        });
        const d = decode<CommandResult>('command-result', reply.data);
        const secs = Number(process.hrtime.bigint() - started) / 1e9;
        this.metrics.commandSeconds.observe({ op }, secs);
        if (!d.ok) {
          this.metrics.invalid.inc({ kind: 'command-result' });
          this.metrics.commands.inc({ op, outcome: 'invalid_reply' });
          return {
            v: SCHEMA_VERSION,
            ok: false,
            node_id: node,
            command_id: cmd.id,
            error: d.error,
          };
        }
        this.metrics.commands.inc({ op, outcome: d.value.ok ? 'ok' : 'error' });
        return d.value;
      } catch (e) {
        const msg = (e as Error).message ?? String(e);
        if (/no responders|503/i.test(msg) || (e as Error).name === 'NoRespondersError') {
          last = { code: 'unavailable', message: `node ${node} is not listening for commands` };
          break;
        }
        last = { code: 'timeout', message: `node ${node} did not answer: ${msg}` };
      }
    }
    this.metrics.commands.inc({ op, outcome: last.code });
    return {
      v: SCHEMA_VERSION,
      ok: false,
      node_id: node,
      command_id: cmd.id,
      idempotency_key: cmd.idempotency_key,
      error: last,
    };
  }

  // ---------------------------------------------------------------- audit

  async audit(r: Omit<AuditRecord, 'v' | 'id' | 'ts' | 'controller_id'>): Promise<AuditRecord> {
    const rec = {
      v: SCHEMA_VERSION,
      id: newId(),
      ts: Date.now(),
      controller_id: this.id,
      ...r,
    } as AuditRecord;
    await this.store.appendAudit(rec);
    return rec;
  }

  // ---------------------------------------------------------------- KV state

  private async watchBucket(kv: KV, fn: (e: KvWatchEntry) => void): Promise<void> {
    const it = await kv.watch();
    const name = (await kv.status()).bucket;
    this.watches.push(it);
    void (async () => {
      for await (const e of it) {
        try {
          fn(e);
        } catch (err) {
          this.log.error({ err: (err as Error).message, key: e.key }, 'bad KV entry');
        }
        this.markSeen(name, e.revision);
      }
    })().catch((err: unknown) => this.log.error({ err: (err as Error).message }, 'watch ended'));
  }

  private markSeen(bucket: string, rev: number): void {
    if (rev > (this.seen.get(bucket) ?? 0)) this.seen.set(bucket, rev);
    for (let i = this.seenWaiters.length - 1; i >= 0; i--) {
      const w = this.seenWaiters[i]!;
      if (w.bucket === bucket && (this.seen.get(bucket) ?? 0) >= w.rev) {
        this.seenWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** Wait until this replica's watch of `kv` has seen revision `rev` (read your writes). */
  waitSeen(kv: KV, bucket: string, rev: number, timeoutMs = 3000): Promise<void> {
    if ((this.seen.get(bucket) ?? 0) >= rev) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.seenWaiters.push({
        bucket,
        rev,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }

  private async caughtUp(kv: KV): Promise<void> {
    const st = await kv.status();
    await this.waitSeen(kv, st.bucket, st.streamInfo.state.last_seq, 5000);
  }

  private onPolicyEntry(e: KvWatchEntry): void {
    if (e.operation !== 'PUT') {
      this.policies.delete(e.key);
    } else {
      const d = validate<Policy>('policy', e.json());
      if (!d.ok) {
        this.log.error({ key: e.key, err: d.error.message }, 'invalid policy in KV ignored');
        return;
      }
      this.policies.set(e.key, {
        policy: { ...d.value, revision: e.revision },
        revision: e.revision,
      });
    }
    if (this.leader) this.scheduleCompile();
  }

  private onNodeEntry(e: KvWatchEntry): void {
    if (e.operation !== 'PUT') return;
    const d = validate<NodeRecord>('node-record', e.json());
    if (!d.ok) return;
    const known = this.fleet.nodes.get(d.value.node_id);
    if (!known?.hello) this.fleet.register(d.value.hello, Date.now(), d.value.registered_at, false);
    if (this.leader) this.scheduleCompile(50, d.value.node_id);
  }

  private onDesiredEntry(e: KvWatchEntry): void {
    if (e.operation !== 'PUT') {
      this.desired.delete(e.key);
      return;
    }
    const d = validate<DesiredState>('desired-state', e.json());
    if (!d.ok) return;
    this.desired.set(e.key, { state: d.value, revision: e.revision });
    const n = this.fleet.nodes.get(e.key);
    if (n) n.desiredRevision = e.revision;
  }

  /** Queue a node record write (coalesced, a few at a time so a registration storm stays orderly). */
  private writeNodeRecord(node: string): void {
    this.pendingRecords.add(node);
    while (this.recordLanes < 8 && this.recordLanes < this.pendingRecords.size) {
      this.recordLanes++;
      void this.recordLane().finally(() => this.recordLanes--);
    }
  }

  private async recordLane(): Promise<void> {
    for (;;) {
      const node = this.pendingRecords.values().next().value;
      if (node === undefined || this.stopping || !this.leader) return;
      this.pendingRecords.delete(node);
      const n = this.fleet.nodes.get(node);
      if (!n?.hello) continue;
      const rec: NodeRecord = {
        v: SCHEMA_VERSION,
        node_id: node,
        hello: n.hello,
        registered_at: n.registeredAt ?? Date.now(),
        registered_by: this.id,
      };
      await this.store.nodes.put(node, encode(rec)).catch((e: unknown) => {
        this.log.warn({ node, err: (e as Error).message }, 'node record not written');
      });
    }
  }

  private onLeadership(leader: boolean): void {
    this.metrics.leader.set(leader ? 1 : 0);
    this.log.info({ leader }, leader ? 'became leader' : 'no longer leader');
    if (!leader) return;
    this.emit({
      type: 'controller.leader',
      severity: 'info',
      node_id: this.id,
      message: `${this.id} leads`,
    });
    // Catch up on whatever happened while no one led: node records and desired state.
    for (const id of this.fleet.nodes.keys()) this.writeNodeRecord(id);
    this.scheduleCompile(0);
    void this.recallDemotions().catch((e: unknown) =>
      this.log.warn({ err: (e as Error).message }, 'tuning history not read'),
    );
  }

  /** A new leader takes over the subflows earlier leaders' tuning loops set to
   * backup (the tuning bucket: one record per demoted subflow, however long
   * ago), so it sets them regular again in time. */
  private async recallDemotions(): Promise<void> {
    const kv = this.store.tuning;
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    for (const k of keys) {
      const e = await kv.get(k).catch(() => null);
      if (!e || e.operation !== 'PUT') continue;
      const r = decode<TuningRecord>('tuning-record', e.value);
      if (!r.ok) {
        this.log.warn({ key: k, err: r.error.message }, 'tuning record unreadable: dropped');
        await kv.delete(k).catch(() => undefined);
        continue;
      }
      const d = r.value;
      const sub = { node: d.node_id, connection: d.connection_id, subflow: d.subflow_id };
      this.demoted.set(subflowKey(sub), {
        ...sub,
        path: d.path,
        dark: d.dark,
        at: d.demoted_at,
        holdMs: d.hold_ms,
        strikes: d.strikes,
      });
    }
  }

  /** Write (or remove) a demoted subflow's record in the tuning bucket. */
  private async keepDemotion(key: string, d: Demotion | undefined): Promise<void> {
    const k = Buffer.from(key).toString('base64url');
    try {
      if (!d) {
        await this.store.tuning.delete(k);
        return;
      }
      const rec: TuningRecord = {
        v: SCHEMA_VERSION,
        node_id: d.node,
        connection_id: d.connection,
        subflow_id: d.subflow,
        path: d.path,
        dark: d.dark,
        demoted_at: d.at,
        hold_ms: d.holdMs,
        strikes: d.strikes,
        demoted_by: this.id,
      };
      await this.store.tuning.put(k, encode(rec));
    } catch (e) {
      this.log.warn({ key, err: (e as Error).message }, 'tuning record not written');
    }
  }

  /** Recompile one node's (or every node's) desired state soon (leader only). */
  scheduleCompile(delayMs = 50, node?: string): void {
    if (node === undefined) this.allDirty = true;
    else this.dirty.add(node);
    if (this.compileTimer || this.stopping) return;
    this.compileTimer = setTimeout(() => {
      this.compileTimer = undefined;
      this.compiling = this.compiling
        .then(() => this.compileAll())
        .catch((e: unknown) => {
          this.log.error({ err: (e as Error).message }, 'compile failed');
        });
    }, delayMs);
  }

  /** The policies as a list, stable order. */
  policyList(): Policy[] {
    return [...this.policies.values()]
      .map((p) => p.policy)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The desired state `node` would get from `policies` (for dry runs, too). */
  compileFor(node: string, policies = this.policyList()): DesiredState {
    const strip = policies.map((p) => {
      const { revision: _r, ...rest } = p;
      return rest as Policy;
    });
    return compileDesired(node, strip, this.cfg.defaults, this.desired.get(node)?.state, this.id);
  }

  private async compileAll(): Promise<void> {
    if (!this.leader || this.stopping) return;
    let retry = false;
    // Compile the nodes that may have changed (cheap), then write the changed ones, a few at a time.
    const ids = this.allDirty ? [...this.fleet.nodes.keys()] : [...this.dirty];
    this.allDirty = false;
    this.dirty.clear();
    const policies = this.policyList();
    const work: { n: NodeState; next: DesiredState; expected: number }[] = [];
    for (const id of ids) {
      const n = this.fleet.nodes.get(id);
      if (!n?.hello) continue;
      const cur = this.desired.get(n.id);
      const next = this.compileFor(n.id, policies);
      if (!sameDesired(cur?.state, next)) work.push({ n, next, expected: cur?.revision ?? 0 });
    }
    const write = async (w: (typeof work)[number]): Promise<void> => {
      if (!this.leader || this.stopping) return;
      try {
        const rev = await this.store.cas(this.store.desired, w.n.id, w.next, w.expected);
        this.desired.set(w.n.id, { state: w.next, revision: rev });
        w.n.desiredRevision = rev;
        this.metrics.desiredWrites.inc({ outcome: 'ok' });
      } catch (e) {
        this.metrics.desiredWrites.inc({
          outcome: e instanceof ConflictError ? 'conflict' : 'error',
        });
        this.log.warn(
          { node: w.n.id, err: (e as Error).message },
          'desired state write lost; will retry',
        );
        this.dirty.add(w.n.id);
        retry = true;
      }
    };
    let next = 0;
    const lanes = Array.from({ length: Math.min(32, work.length) }, async () => {
      while (next < work.length) await write(work[next++]!);
    });
    await Promise.all(lanes);
    if (retry && this.compileTimer === undefined) {
      this.compileTimer = setTimeout(() => {
        this.compileTimer = undefined;
        this.compiling = this.compiling.then(() => this.compileAll()).catch(() => undefined);
      }, 200);
    }
  }

  // ---------------------------------------------------------------- tuning

  /**
   * One round of the tuning loop (leader only): demote subflows on bad paths to
   * backup, and set demoted ones regular again when their path delivers again or
   * their hold is over (doubled for each demotion soon after a restore).
   */
  async tune(): Promise<number> {
    // One round at a time: a round waits for the nodes' answers, and the
    // next must not act on the same subflows meanwhile.
    if (!this.leader || this.stopping || this.tuneBusy) return 0;
    this.tuneBusy = true;
    try {
      return await this.tuneRound();
    } finally {
      this.tuneBusy = false;
    }
  }

  private async tuneRound(): Promise<number> {
    const t = this.cfg.tuning;
    const now = Date.now();
    let done = 0;
    for (const a of this.fleet.tuning(t)) {
      const key = subflowKey(a);
      if (now - (this.tuned.get(key) ?? 0) < TUNE_REPEAT_MS) continue;
      this.tuned.set(key, now);
      const last = this.restored.get(key);
      const strikes = last && now - last.at < last.holdMs ? last.strikes + 1 : 0;
      const holdMs = Math.min(t.restore_max_ms, t.restore_after_ms * 2 ** strikes);
      const ok = await this.tunePriority(a, 'backup', a.reason, {
        dark: a.dark,
        hold_ms: holdMs,
        strikes,
      });
      if (ok) {
        this.restored.delete(key);
        const d: Demotion = { ...a, at: now, holdMs, strikes };
        this.demoted.set(key, d);
        await this.keepDemotion(key, d);
        done++;
      }
    }
    if (t.restore_after_ms > 0) {
      const { restore, gone } = this.fleet.restorations(this.demoted.values(), now, t);
      for (const d of gone) {
        const key = subflowKey(d);
        this.demoted.delete(key);
        await this.keepDemotion(key, undefined);
      }
      for (const { demotion: d, reason } of restore) {
        const key = subflowKey(d);
        const ok = await this.tunePriority(d, 'regular', reason, { held_ms: now - d.at });
        if (!ok) {
          d.at = now; // try again after another hold
          await this.keepDemotion(key, d);
          continue;
        }
        this.demoted.delete(key);
        await this.keepDemotion(key, undefined);
        this.tuned.delete(key);
        this.restored.set(key, { at: now, holdMs: d.holdMs, strikes: d.strikes });
        this.fleet.rebase(d.node, d.connection, d.subflow);
        done++;
      }
    }
    // Forget what no longer matters, so that a long-lived leader's maps
    // follow the fleet's connections rather than grow with every one seen.
    for (const [key, r] of this.restored) if (now - r.at >= r.holdMs) this.restored.delete(key);
    for (const [key, at] of this.tuned) if (now - at >= TUNE_REPEAT_MS) this.tuned.delete(key);
    return done;
  }

  /** Set a subflow's priority for the tuning loop, with an event and an audit record. */
  private async tunePriority(
    a: { node: string; connection: string; subflow: string; path: string },
    priority: 'backup' | 'regular',
    reason: string,
    detail: Record<string, unknown>,
  ): Promise<boolean> {
    const key = subflowKey(a);
    const res = await this.sendCommand(
      a.node,
      'set_subflow_priority',
      { connection_id: a.connection, subflow_id: a.subflow, priority },
      { idempotencyKey: `tune-${key}-${priority}-${Date.now()}`, issuedBy: `${this.id}/tuning` },
    );
    if (res.error?.code === 'not_found') {
      // The connection or subflow ended between the telemetry the round
      // judged and the command: nothing was changed, nothing to report.
      this.log.debug({ key, priority, err: res.error.message }, 'tuning target gone');
      return false;
    }
    this.emit({
      type: priority === 'backup' ? 'tuning.subflow_backup' : 'tuning.subflow_regular',
      severity: res.ok ? 'info' : 'warn',
      node_id: a.node,
      connection_id: connectionKey(a.node, a.connection),
      subflow_id: a.subflow,
      message: res.ok ? reason : `${reason}; command failed: ${res.error?.message}`,
      data: { path: a.path, ok: res.ok },
    });
    await this.audit({
      actor: `${this.id}/tuning`,
      role: 'controller',
      action: 'subflow.priority',
      target: `${a.node}:${a.connection}/${a.subflow}`,
      dry_run: false,
      outcome: res.ok ? 'ok' : 'error',
      before: { priority: priority === 'backup' ? 'regular' : 'backup' },
      after: { priority },
      detail: { reason, path: a.path, ...detail },
    }).catch(() => undefined);
    if (res.ok) this.metrics.tuningActions.inc({ priority });
    return res.ok;
  }

  // ---------------------------------------------------------------- HTTP

  private async listen(): Promise<void> {
    const app = buildApi(this);
    await new Promise<void>((resolve, reject) => {
      const srv = serve(
        { fetch: app.fetch, port: this.cfg.http.port, hostname: this.cfg.http.host },
        () => resolve(),
      );
      srv.on('error', reject);
      this.http = srv;
    });
    const addr = this.http!.address() as AddressInfo;
    this.url = `http://${this.cfg.http.host}:${addr.port}`;
  }
}
