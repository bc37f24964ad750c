/**
 * Braid's virtual-time simulator from TypeScript: validate a scenario (schema
 * `sim-scenario`), run it in the native engine on a worker thread, and get
 * the result as plain data (the mptcp_info sequence numbers are BigInt: print
 * it with toJson from ./json). The format is described in native/SIMULATOR.md.
 */
import { check } from '../../schemas/src/index';
import type { SimScenario as Scenario } from '../../schemas/gen/types';
import { loadAddon } from './addon';
import type { MptcpInfo } from './mptcp-info';

/** The scenario and its parts, generated from schemas/src/sim-scenario.schema.json. */
export type { SimBlackhole, SimPath, SimScenario as Scenario } from '../../schemas/gen/types';

export interface SimLinkStats {
  sent_pkts: number;
  sent_bytes: number;
  delivered_pkts: number;
  delivered_bytes: number;
  dropped: { queue: number; loss: number; burst: number; blackhole: number; nobuf: number };
  corrupted: number;
  duplicated: number;
  reordered: number;
  max_queue_bytes: number;
  /** Time spent serialising frames (links with a rate); idle the rest. */
  busy_ms: number;
}

/** tcp_info-like snapshot of one end of the connection (Linux names). */
export interface SimConnection {
  role: 'client' | 'server';
  state_name: string;
  cc: string;
  total_retrans: number;
  rtt: number;
  snd_cwnd: number;
  bytes_acked: number;
  bytes_received: number;
  [field: string]: number | string;
}

/** One MPTCP subflow: which path it runs on (-1 if unknown) and its TCP info. */
export type SimSubflow = SimConnection & {
  path: number;
  active: boolean;
  /** Ours or the peer's backup flag, the scheduler weight, data bytes the
   * scheduler mapped onto it, and connecting|active|stalled|closing. */
  backup?: boolean;
  weight?: number;
  mapped?: number;
  sf_state?: string;
};

/** An MPTCP connection end: the mptcp_info-like snapshot, its subflows and
 * the host's MPTcpExt counters (non-zero ones). */
export interface SimMptcp {
  role: 'client' | 'server';
  /** The connection's packet scheduler, path manager and congestion control. */
  scheduler: string;
  pm: string;
  cc: string;
  /** The data sequence numbers are BigInt (mptcp-info.ts). */
  info: MptcpInfo;
  subflows: SimSubflow[];
  counters: Record<string, number>;
}

export interface SimResult {
  name?: string;
  completed: boolean;
  bytes: number;
  /** Bulk: whether the SHA-256 of what arrived equals what was sent; null for rr. */
  sha256_match: boolean | null;
  sha256_sent?: string;
  sha256_received?: string;
  duration_s: number;
  goodput_mbps: number;
  /** Bulk: the longest gap between two deliveries to the receiving application. */
  max_stall_ms?: number;
  /** Bulk: the 16 longest such gaps, longest first: when each began (virtual ms
   * from the start of the run) and how long it lasted. */
  stalls?: { at_ms: number; ms: number }[];
  /** Bulk both ways: when each direction had all its bytes, from the start
   * (duration_s is the later; bytes counts both). */
  forward_s?: number;
  reverse_s?: number;
  /** With `compete`: the competing TCP flow, and the workload's share of the bytes
   * both had delivered when the first of them finished. */
  compete?: { completed: boolean; goodput_mbps: number; share_main: number };
  transactions?: number;
  p50_us?: number;
  p99_us?: number;
  max_us?: number;
  min_us?: number;
  mean_us?: number;
  retransmits: number;
  connections: SimConnection[];
  /** protocol mptcp only: client and server connection ends. */
  mptcp?: SimMptcp[];
  paths: { client_to_server: SimLinkStats; server_to_client: SimLinkStats }[];
  counters: Record<
    'client' | 'server',
    { net: Record<string, number>; tcp: Record<string, number> }
  >;
  sim_end_s: number;
  events: number;
  frames: number;
  wall_s: number;
  error?: string;
}

interface SimAddon {
  runScenario(s: Scenario): Promise<Omit<SimResult, 'name'>>;
}

/** A scenario refused before it ran: `field` is the JSON pointer of the bad field. */
export class ScenarioError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`scenario ${field || '/'}: ${message}`);
    this.name = 'ScenarioError';
    this.field = field;
  }
}

/** Check a scenario (schema plus the rules a schema cannot say); returns a
 * copy with defaults filled in, or throws a ScenarioError naming the field. */
export function validateScenario(input: unknown): Scenario {
  const s = structuredClone(input) as Scenario;
  const issues = check('sim-scenario', s);
  const first = issues[0];
  if (first) throw new ScenarioError(first.pointer, first.message);
  if (s.paths.length > 8) throw new ScenarioError('/paths', 'at most 8 paths');
  s.paths.forEach((p, i) => {
    if ((p.blackholes ?? []).length > 8) {
      throw new ScenarioError(`/paths/${i}/blackholes`, 'at most 8 windows');
    }
    (p.blackholes ?? []).forEach((b, k) => {
      if (b.end_ms <= b.start_ms) {
        throw new ScenarioError(`/paths/${i}/blackholes/${k}/end_ms`, 'must be after start_ms');
      }
    });
  });
  return s;
}

/** Run a scenario in the simulator. Rejects with a ScenarioError for a bad
 * scenario; a run that does not finish resolves with completed: false. */
export async function runScenario(scenario: Scenario): Promise<SimResult> {
  const s = validateScenario(scenario);
  const addon = loadAddon() as unknown as SimAddon;
  if (typeof addon.runScenario !== 'function') {
    throw new Error('the native addon has no runScenario: rebuild it (npm run build:native)');
  }
  const r = await addon.runScenario(s);
  return s.name === undefined ? r : { name: s.name, ...r };
}
