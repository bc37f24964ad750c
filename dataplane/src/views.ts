/**
 * The node's connections and counters as people who know `ss -ti`, `ss -M`
 * and `nstat` read them: kernel names for states, tcp_info fields and MIB
 * counters (Tcp*, TcpExt*, Ip*, Icmp*; Braid's own drops keep their Bd*
 * names; MPTcpExt* once connections run over MPTCP).
 */
import type {
  ConnectionSnapshot,
  NodeConfig,
  SubflowSnapshot,
  TcpState,
} from '../../schemas/gen/types';
import type { HostAddr, HostConn } from '../../native/src/nodehost';
import type { RuntimeStats, TcpInfo } from '../../native/src/runtime';

/** RFC 4022's Tcp group (nstat: Tcp<Name>); the rest of the TCP MIB is TcpExt. */
const TCP_GROUP = new Set([
  'RtoAlgorithm',
  'RtoMin',
  'RtoMax',
  'MaxConn',
  'ActiveOpens',
  'PassiveOpens',
  'AttemptFails',
  'EstabResets',
  'CurrEstab',
  'InSegs',
  'OutSegs',
  'RetransSegs',
  'InErrs',
  'OutRsts',
  'InCsumErrors',
]);

/** The nstat name of a TCP MIB field. */
export function nstatTcpName(field: string): string {
  if (field.startsWith('Bd')) return field;
  return TCP_GROUP.has(field) ? `Tcp${field}` : `TcpExt${field}`;
}

/** Counters summed over the workers, by nstat name. */
export function nstatCounters(st: RuntimeStats): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (k: string, v: number): void => {
    out[k] = (out[k] ?? 0) + v;
  };
  for (const w of st.workers) {
    for (const [k, v] of Object.entries(w.net)) add(k, v);
    for (const [k, v] of Object.entries(w.tcp ?? {})) add(nstatTcpName(k), v);
    for (const [k, v] of Object.entries((w as { mptcp?: Record<string, number> }).mptcp ?? {}))
      add(k.startsWith('MPTcpExt') ? k : `MPTcpExt${k}`, v);
  }
  return out;
}

/** A connection's id on this node: worker-app-slot-gen (stable for its life;
 * letters, digits and '-' only, as telemetry and NATS subjects require). */
export function connId(c: Pick<HostConn, 'worker' | 'app' | 'slot' | 'gen'>): string {
  return `${c.worker}-${c.app}-${c.slot}-${c.gen}`;
}

export function parseConnId(
  id: string,
): { worker: number; app: number; slot: number; gen: number } | undefined {
  const m = /^(\d+)-(\d+)-(\d+)-(\d+)$/.exec(id);
  if (!m) return undefined;
  return { worker: Number(m[1]), app: Number(m[2]), slot: Number(m[3]), gen: Number(m[4]) };
}

/** ESTABLISHED -> established, SYN_RECEIVED -> syn_recv, FIN_WAIT_1 -> fin_wait1 ... */
export function tcpStateName(engine: string): TcpState {
  const s = engine.toLowerCase();
  const map: Record<string, TcpState> = {
    closed: 'close',
    syn_received: 'syn_recv',
    fin_wait_1: 'fin_wait1',
    fin_wait_2: 'fin_wait2',
  };
  return map[s] ?? (s as TcpState);
}

function num(ti: TcpInfo, k: string): number | undefined {
  const v = ti[k];
  return typeof v === 'number' ? v : undefined;
}

function subflow(
  c: HostConn,
  i: number,
  s: { laddr: HostAddr; raddr: HostAddr; tcp: TcpInfo; backup?: boolean },
  cfg: NodeConfig,
): SubflowSnapshot {
  const port = cfg.ports.find((p) => p.address.split('/')[0] === s.laddr.address);
  // The subflow's own priority as the engine has it (set_subflow_priority,
  // MP_PRIO); the port's configured one when the engine does not say.
  const backup = s.backup ?? port?.backup ?? false;
  const out: SubflowSnapshot = {
    id: String(i), // the subflow's index in its connection
    local_addr: s.laddr.address,
    local_port: s.laddr.port,
    remote_addr: s.raddr.address,
    remote_port: s.raddr.port,
    state: tcpStateName(s.tcp.state_name),
    priority: backup ? 'backup' : 'regular',
    ...(port ? { port: port.name } : {}),
  };
  const fields = [
    'rtt',
    'rttvar',
    'snd_cwnd',
    'snd_ssthresh',
    'snd_mss',
    'rcv_space',
    'bytes_acked',
    'bytes_received',
    'bytes_sent',
    'segs_out',
    'segs_in',
    'total_retrans',
    'lost',
    'delivery_rate',
    'pacing_rate',
    'busy_time',
  ] as const;
  for (const f of fields) {
    const v = num(s.tcp, f);
    if (v !== undefined) (out as unknown as Record<string, number>)[f] = v;
  }
  return out;
}

/** One connection in the control plane's telemetry shape. */
export function connectionSnapshot(c: HostConn, cfg: NodeConfig): ConnectionSnapshot {
  const subs = c.info?.subflows ?? [];
  const first = subs[0]?.tcp;
  const sum = (k: string): number => subs.reduce((a, s) => a + (num(s.tcp, k) ?? 0), 0);
  const cc = first && typeof first.cc === 'string' ? first.cc : undefined;
  const known = ['cubic', 'newreno', 'lia', 'olia', 'balia'];
  return {
    id: connId(c),
    app: c.name,
    state: first ? tcpStateName(first.state_name) : 'close',
    mptcp: c.info?.mptcp ?? false,
    local_addr: c.laddr.address,
    local_port: c.laddr.port,
    remote_addr: c.raddr.address,
    remote_port: c.raddr.port,
    ...(cc && known.includes(cc)
      ? { congestion_control: cc as ConnectionSnapshot['congestion_control'] }
      : {}),
    bytes_sent: sum('bytes_sent'),
    bytes_received: sum('bytes_received'),
    bytes_acked: sum('bytes_acked'),
    bytes_retrans: sum('bytes_retrans'),
    subflows: subs.map((s, i) => subflow(c, i, s, cfg)),
  };
}
