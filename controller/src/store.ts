/**
 * The controller's shared state in JetStream: KV buckets for desired state,
 * registered nodes, policies, the tuning loop's demotions and the leader key,
 * and streams for events and the
 * audit log. Every replica opens the same buckets, so a replica that takes over
 * finds everything its predecessor wrote.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { AuditRecord, BraidEvent } from '../../schemas/gen/types';
import { Buckets, Subjects, decode, encode } from './protocol';

/** A compare-and-swap write lost: the revision is not the one the writer expected. */
export class ConflictError extends Error {
  constructor(
    message: string,
    readonly current?: number,
  ) {
    super(message);
    this.name = 'ConflictError';
  }
}

export function isWrongSequence(e: unknown): boolean {
  const m = (e as Error)?.message ?? '';
  return /wrong last sequence|key exists|10071/i.test(m);
}

const NS = 1_000_000;

export interface StoreOptions {
  /** Bucket-wide TTL of the election bucket (the leader key's lease). */
  electionTtlMs: number;
  /** How long events are kept (default 24 h). */
  eventsMaxAgeMs?: number;
}

export class Store {
  readonly buckets: Buckets;
  readonly subjects: Subjects;
  js!: JetStreamClient;
  jsm!: JetStreamManager;
  desired!: KV;
  nodes!: KV;
  policies!: KV;
  election!: KV;
  tuning!: KV;

  constructor(
    readonly nc: NatsConnection,
    prefix: string,
  ) {
    this.buckets = new Buckets(prefix);
    this.subjects = new Subjects(prefix);
  }

  /** Create (or bind to) every bucket and stream. Safe to run from several replicas. */
  async open(opts: StoreOptions): Promise<void> {
    this.jsm = await jetstreamManager(this.nc);
    this.js = jetstream(this.nc);
    const kvm = new Kvm(this.js);
    this.desired = await kvm.create(this.buckets.desired, { history: 5 });
    this.nodes = await kvm.create(this.buckets.nodes, { history: 1 });
    this.policies = await kvm.create(this.buckets.policies, { history: 10 });
    this.tuning = await kvm.create(this.buckets.tuning, { history: 1 });
    this.election = await kvm.create(this.buckets.election, {
      history: 1,
      ttl: opts.electionTtlMs,
    });
    await this.ensureStream({
      name: this.buckets.eventsStream,
      subjects: [this.subjects.events('*'), this.subjects.controllerEvents],
      max_age: (opts.eventsMaxAgeMs ?? 24 * 3600 * 1000) * NS,
      max_msgs: 1_000_000,
    });
    await this.ensureStream({
      name: this.buckets.auditStream,
      subjects: [this.subjects.audit],
      max_msgs: 1_000_000,
    });
  }

  private async ensureStream(cfg: {
    name: string;
    subjects: string[];
    max_age?: number;
    max_msgs: number;
  }): Promise<void> {
    try {
      await this.jsm.streams.info(cfg.name);
    } catch {
      try {
        await this.jsm.streams.add({ ...cfg, max_age: cfg.max_age ?? 0 });
      } catch (e) {
        // Another replica made it first.
        await this.jsm.streams.info(cfg.name).catch(() => {
          throw e;
        });
      }
    }
  }

  /** Write `value` under `key` if the key is still at `expected` (0: must not exist). */
  async cas(kv: KV, key: string, value: unknown, expected: number): Promise<number> {
    try {
      if (expected === 0) return await kv.create(key, encode(value));
      return await kv.update(key, encode(value), expected);
    } catch (e) {
      if (isWrongSequence(e)) {
        const cur = await kv.get(key).catch(() => null);
        const rev = cur && cur.operation === 'PUT' ? cur.revision : 0;
        throw new ConflictError(`${key}: revision is ${rev}, not ${expected}`, rev);
      }
      throw e;
    }
  }

  /** Delete `key` if it is still at `expected` (undefined: unconditionally). */
  async casDelete(kv: KV, key: string, expected?: number): Promise<void> {
    try {
      await kv.delete(key, expected ? { previousSeq: expected } : undefined);
    } catch (e) {
      if (isWrongSequence(e)) {
        const cur = await kv.get(key).catch(() => null);
        throw new ConflictError(
          `${key}: revision is ${cur?.revision ?? 0}, not ${expected}`,
          cur?.revision,
        );
      }
      throw e;
    }
  }

  /** Append one audit record to the audit stream (acknowledged by JetStream). */
  async appendAudit(rec: AuditRecord): Promise<number> {
    const ack = await this.js.publish(this.subjects.audit, encode(rec));
    return ack.seq;
  }

  /** The last `limit` messages of a stream (oldest first), decoded with `schema`. */
  async tail<T>(stream: string, schema: string, limit: number): Promise<(T & { seq: number })[]> {
    const info = await this.jsm.streams.info(stream);
    const last = info.state.last_seq;
    const first = Math.max(info.state.first_seq, last - limit + 1);
    if (info.state.messages === 0 || last < first) return [];
    const seqs: number[] = [];
    for (let s = first; s <= last; s++) seqs.push(s);
    const msgs = await Promise.all(
      seqs.map((seq) => this.jsm.streams.getMessage(stream, { seq }).catch(() => null)),
    );
    const out: (T & { seq: number })[] = [];
    for (const m of msgs) {
      if (!m) continue;
      const d = decode<T>(schema, m.data);
      if (d.ok) out.push({ ...d.value, seq: m.seq });
    }
    return out;
  }

  readAudit(limit: number): Promise<(AuditRecord & { seq: number })[]> {
    return this.tail<AuditRecord>(this.buckets.auditStream, 'audit-record', limit);
  }

  readEvents(limit: number): Promise<(BraidEvent & { seq: number })[]> {
    return this.tail<BraidEvent>(this.buckets.eventsStream, 'event', limit);
  }
}

/** A KV entry's JSON value, or undefined for deletes. */
export function entryValue(e: KvEntry): unknown {
  if (e.operation !== 'PUT') return undefined;
  return JSON.parse(new TextDecoder().decode(e.value));
}
