/**
 * `braid node` (the dataplane node service), `braid ss` (its connections and
 * subflows, like `ss -ti` / `ss -M`) and `braid nstat` (its counters with the
 * kernel's names). ss and nstat ask a running node over its admin socket.
 */
import { parseArgs } from 'node:util';
import { adminRequest } from '../../dataplane/src/admin';
import { NodeService, loadNodeConfig } from '../../dataplane/src/node';
import { connId } from '../../dataplane/src/views';
import type { HostConn } from '../../native/src/nodehost';
import { createLogger } from '../src/log';
import { version } from './main';

const DEFAULT_ADMIN = '/run/braid/admin.sock';

const NODE_HELP = `Usage: braid node --config FILE
       braid node status [--admin-socket PATH]

Run the dataplane node: the engine on the config's DPDK ports and workers,
applications served on the app socket (the SDK and the C client attach there,
shared memory), \`braid ss\` / \`braid nstat\` on the admin socket, and the
control agent when the config names NATS servers.

  --config FILE        the node's config (schemas/src/node-config.schema.json):
                         id, ports [{name, device, address, gateway?, mtu?}],
                         workers, eal {memory_mb, no_huge, args}, defaults
                         {scheduler, path_manager, subflows, congestion_control},
                         app_socket (/run/braid/app.sock), admin_socket
                         (/run/braid/admin.sock), channel {slots, fifo_kb,
                         allow_uid, socket_mode}, polling {busy_poll,
                         idle_sleep_max_us, spin_us}, drain_timeout_ms (30000),
                         nats {urls, prefix, nkey_seed_file}, state_file, log_level
  --log-level LEVEL    overrides the config's log_level
  -h, --help           this help

Logs are JSON lines (pino) on stderr. SIGTERM or SIGINT drains: new apps and
connections are refused and listeners close, open connections may finish until
drain_timeout_ms; then apps get "the node went away", what is left is reset,
the workers stop and EAL's runtime directory is removed. A second signal stops
at once.

Example config:
  {"id": "node-a", "workers": 1,
   "ports": [{"name": "p0", "device": "net_af_packet0,iface=veth0",
              "address": "10.0.0.2/24"}],
   "app_socket": "/run/braid/app.sock"}
`;

const SS_HELP = `Usage: braid ss [options]

The node's connections as applications opened them, like ss(8).

  -t, --tcp            connections (default: connections, no listeners)
  -l, --listening      listeners only
  -a, --all            connections and listeners
  -i, --info           tcp_info per connection (rtt, cwnd, bytes, retrans)
  -M, --mptcp          every subflow of each connection (with its tcp_info);
                       "backup": this end made it a backup subflow (MP_PRIO),
                       "peer-backup": the peer did
  --json               the raw answer as JSON
  --admin-socket PATH  the node's admin socket (default ${DEFAULT_ADMIN})
  -h, --help           this help
`;

const NSTAT_HELP = `Usage: braid nstat [options] [PATTERN ...]

The node's counters with the kernel's names (Ip*, Icmp*, Tcp*, TcpExt*,
MPTcpExt*; Braid's own drops as Bd*), summed over the workers. Like
\`nstat -a\`: absolute values since the node started. PATTERNs are
shell-style globs on the name (e.g. 'Tcp*' 'MPTcpExt*').

  -z, --zeros          show counters that are zero too
  --json               JSON object {name: value}
  --channel            also the application channel's counters
  --admin-socket PATH  the node's admin socket (default ${DEFAULT_ADMIN})
  -h, --help           this help
`;

export async function nodeMain(argv: string[]): Promise<number> {
  if (argv[0] === 'status') return nodeStatus(argv.slice(1));
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(NODE_HELP);
    return 0;
  }
  if (!values.config) {
    process.stderr.write(`braid node: --config FILE is needed\n\n${NODE_HELP}`);
    return 2;
  }
  const cfg = loadNodeConfig(values.config);
  const log = createLogger(
    `node:${cfg.id}`,
    (values['log-level'] ?? cfg.log_level) as Parameters<typeof createLogger>[1],
  );
  let svc: NodeService;
  try {
    svc = await NodeService.start({ config: cfg, logger: log, version: version() });
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'node did not start');
    log.flush?.();
    return 1;
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        log.warn({ signal: sig }, 'second signal: stopping now');
        svc.close().then(
          () => resolve(0),
          () => resolve(1),
        );
        return;
      }
      log.info({ signal: sig }, 'stopping: draining connections');
      svc.drainAndStop().then(
        () => resolve(0),
        (e: Error) => {
          log.error({ err: e.message }, 'drain failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

async function nodeStatus(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { 'admin-socket': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(NODE_HELP);
    return 0;
  }
  const r = await adminRequest(values['admin-socket'] ?? DEFAULT_ADMIN, { op: 'status' });
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  return 0;
}

const SS_STATE: Record<string, string> = {
  ESTABLISHED: 'ESTAB',
  SYN_SENT: 'SYN-SENT',
  SYN_RECEIVED: 'SYN-RECV',
  FIN_WAIT_1: 'FIN-WAIT-1',
  FIN_WAIT_2: 'FIN-WAIT-2',
  CLOSE_WAIT: 'CLOSE-WAIT',
  LAST_ACK: 'LAST-ACK',
  TIME_WAIT: 'TIME-WAIT',
  CLOSING: 'CLOSING',
  CLOSED: 'UNCONN',
  LISTEN: 'LISTEN',
};

function ep(a: { address: string; port: number }): string {
  return `${a.address || '*'}:${a.port || '*'}`;
}

/** ss -ti's second line for one tcp_info. */
function tcpInfoLine(t: Record<string, number | string>): string {
  const n = (k: string): number => Number(t[k] ?? 0);
  const ms = (us: number): string => (us / 1000).toFixed(3).replace(/\.?0+$/, '');
  const parts = [
    String(t.cc ?? ''),
    `rto:${ms(n('rto'))}`,
    `rtt:${ms(n('rtt'))}/${ms(n('rttvar'))}`,
    `mss:${n('snd_mss')}`,
    `cwnd:${n('snd_cwnd')}`,
  ];
  if (n('snd_ssthresh') && n('snd_ssthresh') < 0x7fffffff)
    parts.push(`ssthresh:${n('snd_ssthresh')}`);
  parts.push(
    `bytes_sent:${n('bytes_sent')}`,
    `bytes_retrans:${n('bytes_retrans')}`,
    `bytes_acked:${n('bytes_acked')}`,
    `bytes_received:${n('bytes_received')}`,
    `segs_out:${n('segs_out')}`,
    `segs_in:${n('segs_in')}`,
  );
  if (n('delivery_rate')) parts.push(`delivery_rate:${Math.round(n('delivery_rate') * 8)}bps`);
  parts.push(`retrans:${n('retrans')}/${n('total_retrans')}`);
  if (n('min_rtt')) parts.push(`minrtt:${ms(n('min_rtt'))}`);
  return '\t ' + parts.filter(Boolean).join(' ');
}

export function formatSs(conns: HostConn[], info: boolean, mptcp: boolean): string {
  const rows: string[][] = [
    ['State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port', 'Process'],
  ];
  const extra: string[][] = [[]];
  for (const c of conns) {
    const t = c.info?.subflows[0]?.tcp;
    const state = c.listener
      ? 'LISTEN'
      : t
        ? (SS_STATE[t.state_name] ?? t.state_name)
        : c.state.toUpperCase();
    rows.push([
      state,
      '0',
      '0',
      ep(c.laddr),
      c.listener ? '*:*' : ep(c.raddr),
      `app:("${c.name}",pid=${c.pid},id=${c.app}) conn:${c.listener ? `listener.${c.slot}` : connId(c)} ${c.transport}${c.info?.mptcp ? ' mptcp' : ''}`,
    ]);
    const lines: string[] = [];
    if (c.info && (info || mptcp)) {
      const subs = c.info.subflows;
      if (mptcp && (subs.length > 1 || c.info.mptcp)) {
        lines.push(`\t subflows:${subs.length}`);
        subs.forEach((s, i) => {
          const prio = `${s.backup ? ' backup' : ''}${s.peerBackup ? ' peer-backup' : ''}`;
          lines.push(
            `\t [${i}] ${ep(s.laddr)} -> ${ep(s.raddr)} ${SS_STATE[s.tcp.state_name] ?? s.tcp.state_name}${prio}`,
          );
          lines.push('\t' + tcpInfoLine(s.tcp));
        });
      } else if (subs[0]) {
        lines.push(tcpInfoLine(subs[0].tcp));
      }
    }
    extra.push(lines);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows
      .map((r, k) =>
        [
          r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join(' '),
          ...extra[k]!,
        ].join('\n'),
      )
      .join('\n') + '\n'
  );
}

export async function ssMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      tcp: { type: 'boolean', short: 't' },
      listening: { type: 'boolean', short: 'l' },
      all: { type: 'boolean', short: 'a' },
      info: { type: 'boolean', short: 'i' },
      mptcp: { type: 'boolean', short: 'M' },
      json: { type: 'boolean' },
      'admin-socket': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(SS_HELP);
    return 0;
  }
  const withInfo = Boolean(values.info || values.mptcp);
  const r = (await adminRequest(values['admin-socket'] ?? DEFAULT_ADMIN, {
    op: 'ss',
    info: withInfo,
  })) as { connections: HostConn[] };
  const conns = r.connections.filter((c) =>
    values.all ? true : values.listening ? c.listener : !c.listener,
  );
  if (values.json) {
    process.stdout.write(JSON.stringify({ connections: conns }, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(formatSs(conns, Boolean(values.info), Boolean(values.mptcp)));
  return 0;
}

function globRe(p: string): RegExp {
  return new RegExp(
    '^' +
      p
        .split('')
        .map((ch) =>
          ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
        )
        .join('') +
      '$',
  );
}

export async function nstatMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      zeros: { type: 'boolean', short: 'z' },
      json: { type: 'boolean' },
      channel: { type: 'boolean' },
      'admin-socket': { type: 'string' },
      // nstat's -a (absolute) is what this always prints
      absolute: { type: 'boolean', short: 'a' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(NSTAT_HELP);
    return 0;
  }
  const r = (await adminRequest(values['admin-socket'] ?? DEFAULT_ADMIN, { op: 'nstat' })) as {
    counters: Record<string, number>;
    channel: unknown;
  };
  const pats = positionals.map(globRe);
  const names = Object.keys(r.counters)
    .filter((k) => values.zeros || r.counters[k] !== 0)
    .filter((k) => pats.length === 0 || pats.some((re) => re.test(k)))
    .sort();
  if (values.json) {
    const out: Record<string, unknown> = Object.fromEntries(names.map((k) => [k, r.counters[k]]));
    if (values.channel) out.channel = r.channel;
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return 0;
  }
  process.stdout.write('#kernel\n');
  const w = Math.max(24, ...names.map((k) => k.length));
  for (const k of names)
    process.stdout.write(`${k.padEnd(w)} ${String(r.counters[k]).padStart(14)} 0.0\n`);
  if (values.channel) process.stdout.write(JSON.stringify(r.channel, null, 2) + '\n');
  return 0;
}
