/**
 * Leader election between controller replicas through the KV store. The election
 * bucket has a bucket-wide TTL (nats-server 2.9 has no per-key TTL): the leader
 * key disappears that long after its last write. A replica becomes leader by
 * creating the key (compare-and-swap against "absent") and stays leader by
 * updating it at its own revision every `renewMs`; a failed update means it has
 * lost the lease and steps down at once.
 */
import type { KV } from '@nats-io/kv';
import type { LeaderRecord } from '../../schemas/gen/types';
import { SCHEMA_VERSION, encode, validate } from './protocol';

export const LEADER_KEY = 'leader';

export interface ElectionOptions {
  id: string;
  renewMs: number;
  url?: string;
  onChange?: (leader: boolean) => void;
  onError?: (e: Error) => void;
}

export class Election {
  private rev = 0;
  private since = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private busy = false;
  leader = false;
  leaderId: string | undefined;

  constructor(
    private readonly kv: KV,
    private readonly opts: ElectionOptions,
  ) {}

  start(): void {
    this.running = true;
    void this.tick();
  }

  /** Stop campaigning; with `release`, give the lease up now so another replica takes over at once. */
  async stop(release = true): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 10));
    if (this.leader && release) {
      await this.kv.delete(LEADER_KEY, { previousSeq: this.rev }).catch(() => undefined);
    }
    this.set(false);
  }

  private set(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    if (leader) this.leaderId = this.opts.id;
    this.opts.onChange?.(leader);
  }

  private record(): LeaderRecord {
    return {
      v: SCHEMA_VERSION,
      controller_id: this.opts.id,
      since: this.since,
      renewed_at: Date.now(),
      ...(this.opts.url ? { url: this.opts.url } : {}),
    };
  }

  /** One round: renew when leading, else try to take an absent lease. */
  async tick(): Promise<void> {
    if (!this.running || this.busy) return;
    this.busy = true;
    try {
      if (this.leader) {
        try {
          this.rev = await this.kv.update(LEADER_KEY, encode(this.record()), this.rev);
        } catch (e) {
          this.opts.onError?.(e as Error);
          this.set(false);
        }
      }
      if (!this.leader) {
        this.since = Date.now();
        try {
          this.rev = await this.kv.create(LEADER_KEY, encode(this.record()));
          this.set(true);
        } catch {
          const cur = await this.kv.get(LEADER_KEY).catch(() => null);
          if (cur && cur.operation === 'PUT') {
            const d = validate<LeaderRecord>('leader-record', cur.json());
            this.leaderId = d.ok ? d.value.controller_id : undefined;
          } else {
            this.leaderId = undefined;
          }
        }
      }
    } finally {
      this.busy = false;
      if (this.running) {
        // Candidates look more often than leaders renew, so a vacant lease is taken quickly.
        const wait = this.leader
          ? this.opts.renewMs
          : Math.max(100, Math.floor(this.opts.renewMs / 2));
        this.timer = setTimeout(() => void this.tick(), wait);
      }
    }
  }
}
