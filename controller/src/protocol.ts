/**
 * The control-plane protocol shared by the controller and every node: subject and
 * bucket names, the schema version, and encoding/decoding of messages checked
 * against `schemas/` at both ends. The dataplane's control client imports this
 * file; it imports nothing from the rest of the controller.
 */
import { check, type SchemaIssue } from '../../schemas/src/index';
import type {
  AddSubflowArgs,
  ControlError,
  PingArgs,
  RemoveSubflowArgs,
  SetSchedulerArgs,
  SetSubflowPriorityArgs,
  SetWeightsArgs,
} from '../../schemas/gen/types';

export const SCHEMA_VERSION = 1 as const;
export const DEFAULT_PREFIX = 'braid';

/** Subjects of the control plane under `prefix` (default `braid`). */
export class Subjects {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {}
  hello(node: string): string {
    return `${this.prefix}.node.${node}.hello`;
  }
  heartbeat(node: string): string {
    return `${this.prefix}.node.${node}.hb`;
  }
  telemetry(node: string): string {
    return `${this.prefix}.telemetry.${node}`;
  }
  events(node: string): string {
    return `${this.prefix}.events.${node}`;
  }
  command(node: string): string {
    return `${this.prefix}.cmd.${node}`;
  }
  /** Events the controller itself raises (node down, tuning decisions). */
  get controllerEvents(): string {
    return `${this.prefix}.ctl.events`;
  }
  /** Audit records of API mutations (captured by the audit stream). */
  get audit(): string {
    return `${this.prefix}.ctl.audit`;
  }
  /** The node id in a subject `<prefix>.node.<id>.<kind>`, `<prefix>.<kind>.<id>`. */
  nodeOf(subject: string): string {
    const parts = subject.split('.');
    const base = this.prefix.split('.').length;
    return parts[base + 1] ?? '';
  }
}

/** JetStream buckets and streams under `prefix`. */
export class Buckets {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {}
  /** Desired state per node (key = node id), watched by nodes. */
  get desired(): string {
    return `${this.prefix}_desired`;
  }
  /** Registered nodes (key = node id), written by the leader. */
  get nodes(): string {
    return `${this.prefix}_nodes`;
  }
  /** Policies (key = policy id), written through the API with compare-and-swap. */
  get policies(): string {
    return `${this.prefix}_policies`;
  }
  /** Subflows the tuning loop set to backup (key = the subflow's key,
   * base64url), written by the leader: a new leader takes them over. */
  get tuning(): string {
    return `${this.prefix}_tuning`;
  }
  /** Leader election: one key with a bucket-wide TTL. */
  get election(): string {
    return `${this.prefix}_election`;
  }
  get eventsStream(): string {
    return `${this.prefix}_EVENTS`;
  }
  get auditStream(): string {
    return `${this.prefix}_AUDIT`;
  }
}

/** The inbox prefix a node uses, so its permissions can be limited to its own replies. */
export function nodeInboxPrefix(node: string): string {
  return `_INBOX_${node}`;
}

/** The arguments of every command op (types generated from schemas/src/command.schema.json). */
export interface CommandArgsByOp {
  ping: PingArgs;
  set_scheduler: SetSchedulerArgs;
  set_weights: SetWeightsArgs;
  set_subflow_priority: SetSubflowPriorityArgs;
  add_subflow: AddSubflowArgs;
  remove_subflow: RemoveSubflowArgs;
}
export type CommandOp = keyof CommandArgsByOp;
export const COMMAND_OPS: CommandOp[] = [
  'ping',
  'set_scheduler',
  'set_weights',
  'set_subflow_priority',
  'add_subflow',
  'remove_subflow',
];

/** A command message; the `command` schema checks that `args` fit `op`. */
export type CommandMessage = {
  [K in CommandOp]: {
    v: typeof SCHEMA_VERSION;
    id: string;
    idempotency_key: string;
    node_id: string;
    ts?: number;
    issued_by?: string;
    op: K;
    args: CommandArgsByOp[K];
  };
}[CommandOp];

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encode(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: ControlError };

/** Issues without ajv's "must match then schema" echo when a precise one is there. */
function precise(issues: SchemaIssue[]): SchemaIssue[] {
  const real = issues.filter((i) => !/must match "(then|else)" schema/.test(i.message));
  return real.length ? real : issues;
}

/** An `invalid` error naming the first bad field. */
export function invalid(issues: SchemaIssue[], what: string): ControlError {
  const first = issues[0];
  return {
    code: 'invalid',
    message: `${what}: ${first ? `${first.pointer || '/'} ${first.message}` : 'invalid'}`,
    pointer: first?.pointer ?? '',
    issues: issues.slice(0, 20),
  };
}

/**
 * Parse and check a message against schema `schema`. A bad one is never partly
 * used: the caller gets either the whole valid value or an error naming the field.
 */
export function decode<T>(schema: string, data: Uint8Array | string): Decoded<T> {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : dec.decode(data));
  } catch (e) {
    return {
      ok: false,
      error: { code: 'invalid', message: `not JSON: ${(e as Error).message}`, pointer: '' },
    };
  }
  return validate<T>(schema, value);
}

/** Check an already parsed value (defaults filled in). */
export function validate<T>(schema: string, value: unknown): Decoded<T> {
  if (value && typeof value === 'object' && 'v' in value) {
    const v = (value as { v: unknown }).v;
    if (v !== SCHEMA_VERSION) {
      return {
        ok: false,
        error: {
          code: 'unknown_version',
          message: `${schema}: /v schema version ${JSON.stringify(v)} is not supported (want ${SCHEMA_VERSION})`,
          pointer: '/v',
        },
      };
    }
  }
  const issues = precise(check(schema, value));
  if (issues.length) return { ok: false, error: invalid(issues, schema) };
  return { ok: true, value: value as T };
}

/** A fresh unique id (time-ordered enough for logs, random enough for keys). */
export function newId(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}
