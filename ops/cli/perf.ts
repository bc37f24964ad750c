/**
 * `braid perf`: iperf3-like bulk and request/response measurements with
 * Braid's built-in apps on DPDK ports, or (`--kernel`) the same workload
 * over the kernel's TCP through node:net, for side-by-side numbers.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { parseArgs } from 'node:util';
import { toJson } from '../../native/src/json';
import {
  Runtime,
  type ConnResult,
  type JobSpec,
  type RuntimePortConfig,
} from '../../native/src/runtime';
import {
  kernelConnect,
  kernelMptcp,
  kernelMptcpInfo,
  kernelServer as kernelMptcpServer,
} from '../../sdk/src/kernel';
import {
  type TransportOptions,
  connect as sdkConnect,
  createServer as sdkCreateServer,
  defaultSocketPath,
  detachAll,
} from '../../sdk/src/index';

const HELP = `Usage: braid perf (-s | -c HOST) [options]

  -s, --server          serve (bulk sink, or request/response with --mode rr)
  -c, --client HOST     connect to HOST
  -p, --port N          TCP port (default 5201)
  --mode bulk|rr        bulk transfer (default) or request/response
  -n, --bytes N         bytes per stream for bulk (default 64 MiB; K/M/G suffixes)
  -P, --parallel N      parallel streams (client; default 1)
  --cport N             kernel client: bind stream i to local port N+i (MPTCP: its
                        first subflow)
  --req N --resp N      request and response sizes for rr (default 1 and 1)
  --count N             transactions per stream for rr (default 10000)
  --connections N       server: exit after N connections (default 1)
  --timeout S           give up after S seconds (default 120)
  --json                iperf3-style JSON (with --mptcp, each stream's mptcp.info
                        holds the connection's mptcp_info; its 64-bit data sequence
                        numbers mptcpi_write_seq, mptcpi_snd_una and mptcpi_rcv_nxt
                        are strings of decimal digits, exact)
  --kernel              use the kernel's TCP (node:net) instead of Braid
  --mptcp               Multipath TCP: Braid's MPTCP stack, or with --kernel an
                        IPPROTO_MPTCP socket (the namespace's \`ip mptcp\` endpoints
                        and limits decide its extra subflows)

Which stack: --sdk (an application on the local \`braid node\`, through the SDK
over shared memory) is the default when the node's app socket is there and no
--vdev is given; --engine (or --vdev) runs Braid's built-in apps on DPDK ports
in this process; --kernel uses the kernel's TCP.

SDK options (a running \`braid node\`):
  --sdk                 force SDK mode
  --socket PATH         the node's app socket (default $BRAID_APP_SOCKET or
                        /run/braid/app.sock)
  --subflows N          MPTCP subflows (1 = plain TCP; default: the node's)
  --scheduler NAME --path-manager NAME --cc NAME
  --fallback kernel     no node: use the kernel's MPTCP/TCP (default: fail)

Braid (DPDK) options:
  --vdev DEV            an EAL virtual device (repeatable: one port each), e.g.
                        net_af_packet0,iface=veth0  or  net_memif0,role=server,socket=/tmp/m
  --dev NAME            the ethdev to use (one port; default: the first --vdev's name)
  --address CIDR        Braid's address on the port, e.g. 10.0.0.2/24 (repeatable:
                        the i-th --address goes to the i-th --vdev's port)
  --gateway IP
  --workers N           worker lcores (default 1)
  --memory MB           EAL memory (default 256)
  --busy-poll           never sleep when idle

Braid MPTCP options (with --mptcp):
  --subflow LOCAL[,REMOTE]  client: one more subflow from LOCAL to REMOTE (default
                        the server address) once connected (repeatable)
  --announce ADDR       announce ADDR to the peer (ADD_ADDR) once connected (repeatable)
  --checksum            ask for DSS checksums
  --no-join             do not join the addresses the peer announces
  --subflows-max N      subflows per connection, the first included (1..8, default 8)
  (with --workers N > 1, joins reach the worker of their connection by token)

Both:
  --no-hash             bulk: send zeros and skip SHA-256 (measure the stack alone)

Kernel-only:
  --rst-after N         server: reset each connection after N bytes (tests)
`;

export interface PerfStream {
  id: number;
  local_host: string;
  local_port: number;
  remote_host: string;
  remote_port: number;
  bytes: number;
  seconds: number;
  bits_per_second: number;
  retransmits: number;
  sha256?: string;
  error?: string;
  worker?: number;
  /** --mptcp: the connection's MPTCP state. */
  mptcp?: PerfMptcp;
  /** SDK mode: braid, kernel-mptcp or kernel-tcp. */
  transport_path?: string;
}

export interface PerfMptcp {
  fallback: boolean;
  fallback_reason?: string;
  subflows: number;
  /** Braid: every subflow with its bytes (kernel: counts only). */
  subflow_list?: Array<{
    local: string;
    remote: string;
    active: boolean;
    bytes_acked: number;
    bytes_received: number;
    total_retrans: number;
  }>;
  /** mptcp_info (Linux field names): the data sequence numbers are BigInt
   * here and decimal strings in the JSON output (native/src/json.ts). */
  info?: Record<string, number | string | boolean | bigint>;
}

export interface PerfResult {
  start: {
    /** braid: the built-in apps on DPDK ports (--engine); sdk: an app on a
     * braid node; kernel: node:net. */
    stack: 'braid' | 'kernel' | 'sdk';
    role: 'client' | 'server';
    test_start: {
      protocol: 'TCP' | 'MPTCP';
      mode: 'bulk' | 'rr';
      num_streams: number;
      bytes?: number;
      req_size?: number;
      resp_size?: number;
      count?: number;
    };
    timestamp: { time: string };
  };
  end: {
    streams: PerfStream[];
    sum_sent: { seconds: number; bytes: number; bits_per_second: number; retransmits: number };
    sum_received: { seconds: number; bytes: number; bits_per_second: number };
    cpu_utilization_percent: { host_total: number; host_user: number; host_system: number };
    cpu_seconds: number;
    rr?: {
      transactions: number;
      transactions_per_second: number;
      mean_us: number;
      p50_us: number;
      p90_us: number;
      p99_us: number;
      min_us: number;
      max_us: number;
    };
    errors: string[];
  };
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(s);
  if (!m) throw new Error(`bad size "${s}"`);
  const mult = { '': 1, k: 1024, m: 1 << 20, g: 1 << 30 }[m[2]!.toLowerCase()]!;
  return Math.round(Number(m[1]) * mult);
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Tcp RetransSegs of this network namespace (kernel side). */
function kernelRetransSegs(): number {
  try {
    const lines = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n');
    const hdr = lines.find((l) => l.startsWith('Tcp:') && l.includes('RetransSegs'));
    const val = lines.find((l) => l.startsWith('Tcp:') && !l.includes('RetransSegs'));
    if (!hdr || !val) return 0;
    const i = hdr.split(/\s+/).indexOf('RetransSegs');
    return Number(val.split(/\s+/)[i]);
  } catch {
    return 0;
  }
}

interface Opts {
  server: boolean;
  mptcp: boolean;
  noHash: boolean;
  host?: string;
  port: number;
  mode: 'bulk' | 'rr';
  bytes: number;
  parallel: number;
  req: number;
  resp: number;
  count: number;
  connections: number;
  timeoutMs: number;
  rstAfter?: number;
  cport?: number;
}

/** The socket API a non-engine run uses: the kernel's (node:net) or the SDK's. */
interface PerfSock {
  localAddress?: string;
  localPort?: number;
  remoteAddress?: string;
  remotePort?: number;
  write(b: Buffer): boolean;
  end(): void;
  destroy(): void;
  on(ev: string, cb: (...a: never[]) => void): unknown;
  once(ev: string, cb: (...a: never[]) => void): unknown;
}
interface SockApi {
  stack: 'kernel' | 'sdk';
  listen(
    port: number,
    handler: (s: PerfSock) => void,
    ready: () => void,
    onError: (e: Error) => void,
  ): { close(): void };
  connect(host: string, port: number, localPort?: number): PerfSock & { transportPath?: string };
  /** Let the process exit (the SDK's channel). */
  done(): Promise<void>;
}

/** The kernel's sockets (node:net), or with --mptcp IPPROTO_MPTCP ones. */
function kernelApi(o: Pick<Opts, 'mptcp'>): SockApi {
  return {
    stack: 'kernel',
    listen(port, handler, ready, onError) {
      if (o.mptcp) {
        const k = kernelMptcpServer(handler as (s: net.Socket) => void, { mptcp: true });
        k.listen(port, '0.0.0.0').then(ready, onError);
        return k.server;
      }
      const server = net.createServer({ noDelay: true }, handler);
      server.listen(port, ready);
      return server;
    },
    connect(host, port, localPort) {
      if (o.mptcp) {
        const k = kernelConnect({ host, port, mptcp: true, ...(localPort ? { localPort } : {}) });
        k.setNoDelay(true);
        return k;
      }
      return net.connect({ host, port, noDelay: true, ...(localPort ? { localPort } : {}) });
    },
    done: () => Promise.resolve(),
  };
}

function sdkApi(socketPath: string, t: TransportOptions, fallback: 'kernel' | 'none'): SockApi {
  const common = { socketPath, fallback, ...t };
  return {
    stack: 'sdk',
    listen(port, handler, ready) {
      const srv = sdkCreateServer((s) => handler(s as PerfSock), common);
      srv.on('error', (e: Error) => process.stderr.write(`braid perf: ${e.message}\n`));
      srv.listen(port).then(ready, (e: Error) => {
        process.stderr.write(`braid perf: listen: ${e.message}\n`);
        process.exit(1);
      });
      return srv;
    },
    connect(host, port, localPort) {
      return sdkConnect({ host, port, ...(localPort ? { localPort } : {}), ...common });
    },
    done: () => detachAll(),
  };
}

function cpuPercent(
  cpu0: NodeJS.CpuUsage,
  t0: bigint,
): { pct: PerfResult['end']['cpu_utilization_percent']; seconds: number } {
  const d = process.cpuUsage(cpu0);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  const user = (100 * d.user) / wallUs;
  const sys = (100 * d.system) / wallUs;
  return {
    pct: { host_total: user + sys, host_user: user, host_system: sys },
    seconds: (d.user + d.system) / 1e6,
  };
}

function summarize(
  stack: 'braid' | 'kernel' | 'sdk',
  o: Opts,
  streams: PerfStream[],
  sentBytes: number,
  recvBytes: number,
  seconds: number,
  retrans: number,
  cpu: ReturnType<typeof cpuPercent>,
  lat: number[] | null,
  errors: string[],
): PerfResult {
  const r: PerfResult = {
    start: {
      stack,
      role: o.server ? 'server' : 'client',
      test_start: {
        protocol: o.mptcp ? 'MPTCP' : 'TCP',
        mode: o.mode,
        num_streams: streams.length,
        ...(o.mode === 'bulk'
          ? { bytes: o.bytes }
          : { req_size: o.req, resp_size: o.resp, count: o.count }),
      },
      timestamp: { time: new Date().toUTCString() },
    },
    end: {
      streams,
      sum_sent: {
        seconds,
        bytes: sentBytes,
        bits_per_second: seconds > 0 ? (8 * sentBytes) / seconds : 0,
        retransmits: retrans,
      },
      sum_received: {
        seconds,
        bytes: recvBytes,
        bits_per_second: seconds > 0 ? (8 * recvBytes) / seconds : 0,
      },
      cpu_utilization_percent: cpu.pct,
      cpu_seconds: cpu.seconds,
      errors,
    },
  };
  if (lat) {
    const s = [...lat].sort((a, b) => a - b);
    r.end.rr = {
      transactions: s.length,
      transactions_per_second: seconds > 0 ? s.length / seconds : 0,
      mean_us: s.length ? s.reduce((a, b) => a + b, 0) / s.length : 0,
      p50_us: percentile(s, 50),
      p90_us: percentile(s, 90),
      p99_us: percentile(s, 99),
      min_us: s[0] ?? 0,
      max_us: s[s.length - 1] ?? 0,
    };
  }
  return r;
}

// --- kernel (node:net) -------------------------------------------------------

function kernelServer(
  o: Opts,
  ready: () => void,
  api: SockApi = kernelApi(o),
): Promise<PerfResult> {
  return new Promise((resolve) => {
    const streams: PerfStream[] = [];
    const lat: number[] | null = null;
    const errors: string[] = [];
    let done = 0;
    let first: bigint | null = null;
    let last = 0n;
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    const rt0 = kernelRetransSegs();
    const onConn = (sock: PerfSock): void => {
      (sock as unknown as Partial<net.Socket>).setNoDelay?.(true);
      const id = streams.length + 1;
      const st: PerfStream = {
        id,
        local_host: sock.localAddress ?? '',
        local_port: sock.localPort ?? 0,
        remote_host: sock.remoteAddress ?? '',
        remote_port: sock.remotePort ?? 0,
        bytes: 0,
        seconds: 0,
        bits_per_second: 0,
        retransmits: 0,
      };
      streams.push(st);
      const start = process.hrtime.bigint();
      if (first === null) first = start;
      const hash = crypto.createHash('sha256');
      let pending = 0;
      sock.on('data', (d: Buffer) => {
        st.bytes += d.length;
        if (o.mode === 'bulk') {
          if (!o.noHash) hash.update(d);
          if (o.rstAfter !== undefined && st.bytes >= o.rstAfter) {
            const k = sock as unknown as net.Socket;
            if (typeof k.resetAndDestroy === 'function') k.resetAndDestroy();
            else sock.destroy();
          }
        } else {
          pending += d.length;
          while (pending >= o.req) {
            pending -= o.req;
            sock.write(Buffer.alloc(o.resp, 0x5a));
          }
        }
      });
      const finish = (err?: Error): void => {
        if (st.seconds) return;
        const end = process.hrtime.bigint();
        if (end > last) last = end;
        st.seconds = Math.max(1e-9, Number(end - start) / 1e9);
        st.bits_per_second = (8 * st.bytes) / st.seconds;
        if (o.mode === 'bulk' && !err && !o.noHash) st.sha256 = hash.digest('hex');
        if (err) {
          st.error = err.message;
          errors.push(err.message);
        }
        if (++done >= o.connections) {
          server.close();
          const secs = Number(last - (first ?? t0)) / 1e9;
          resolve(
            summarize(
              api.stack,
              o,
              streams,
              0,
              streams.reduce((a, s) => a + s.bytes, 0),
              secs,
              kernelRetransSegs() - rt0,
              cpuPercent(cpu0, t0),
              lat,
              errors,
            ),
          );
        }
      };
      sock.on('end', () => {
        if (o.mptcp && api.stack === 'kernel') st.mptcp = kernelMptcpState(sock as net.Socket);
        sock.end();
        finish();
      });
      sock.on('error', (e: Error) => finish(e));
      sock.on('close', () => finish());
    };
    const server = api.listen(o.port, onConn, ready, (e: Error) => {
      errors.push(e.message);
      resolve(summarize('kernel', o, [], 0, 0, 0, 0, cpuPercent(cpu0, t0), null, errors));
    });
  });
}

/** The kernel's MPTCP view of a socket (MPTCP_INFO). */
function kernelMptcpState(sock: net.Socket): PerfMptcp | undefined {
  try {
    const mi = kernelMptcpInfo(sock);
    return { fallback: mi.fallback, subflows: mi.mptcpi_subflows, info: { ...mi } };
  } catch {
    return undefined;
  }
}

function kernelClient(o: Opts, api: SockApi = kernelApi(o)): Promise<PerfResult> {
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const rt0 = kernelRetransSegs();
  const lat: number[] = [];
  const errors: string[] = [];
  const one = (id: number): Promise<PerfStream> =>
    new Promise((resolve) => {
      const sock = api.connect(o.host!, o.port, o.cport ? o.cport + id - 1 : undefined);
      const st: PerfStream = {
        id,
        local_host: '',
        local_port: 0,
        remote_host: o.host!,
        remote_port: o.port,
        bytes: 0,
        seconds: 0,
        bits_per_second: 0,
        retransmits: 0,
      };
      const start = process.hrtime.bigint();
      const hash = crypto.createHash('sha256');
      let settled = false;
      const finish = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (sock.transportPath) st.transport_path = sock.transportPath;
        st.seconds = Math.max(1e-9, Number(process.hrtime.bigint() - start) / 1e9);
        st.bits_per_second = (8 * st.bytes) / st.seconds;
        if (err) {
          st.error = err.message;
          errors.push(err.message);
        } else if (o.mode === 'bulk' && !o.noHash) st.sha256 = hash.digest('hex');
        if (o.mptcp && api.stack === 'kernel' && !st.mptcp)
          st.mptcp = kernelMptcpState(sock as net.Socket);
        sock.destroy();
        resolve(st);
      };
      sock.on('connect', () => {
        st.local_host = sock.localAddress ?? '';
        st.local_port = sock.localPort ?? 0;
        if (o.mode === 'bulk') {
          let left = o.bytes;
          const zeros = Buffer.alloc(65536);
          const pump = (): void => {
            while (left > 0) {
              const n = Math.min(left, 65536);
              const chunk = o.noHash ? zeros.subarray(0, n) : crypto.randomBytes(n);
              if (!o.noHash) hash.update(chunk);
              left -= n;
              st.bytes += n;
              if (!sock.write(chunk)) {
                sock.once('drain', pump);
                return;
              }
            }
            sock.end();
          };
          pump();
        } else {
          let got = 0;
          let n = 0;
          let tReq = process.hrtime.bigint();
          const req = Buffer.alloc(o.req, 0x61);
          sock.on('data', (d: Buffer) => {
            got += d.length;
            while (got >= o.resp) {
              got -= o.resp;
              lat.push(Number(process.hrtime.bigint() - tReq) / 1000);
              st.bytes += o.req;
              if (++n >= o.count) {
                sock.end();
                return;
              }
              tReq = process.hrtime.bigint();
              sock.write(req);
            }
          });
          sock.write(req);
        }
      });
      sock.on('data', () => undefined);
      // The peer's FIN: every subflow the connection had is still there.
      sock.on('end', () => {
        if (o.mptcp && api.stack === 'kernel') st.mptcp = kernelMptcpState(sock as net.Socket);
      });
      sock.on('error', (e: Error) => finish(e));
      sock.on('close', () => finish());
      const timer = setTimeout(() => finish(new Error('timeout')), o.timeoutMs);
    });
  return Promise.all(Array.from({ length: o.parallel }, (_, i) => one(i + 1))).then((streams) => {
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const bytes = streams.reduce((a, s) => a + s.bytes, 0);
    return summarize(
      api.stack,
      o,
      streams,
      bytes,
      bytes,
      secs,
      kernelRetransSegs() - rt0,
      cpuPercent(cpu0, t0),
      o.mode === 'rr' ? lat : null,
      errors,
    );
  });
}

// --- Braid (DPDK) -----------------------------------------------------------

function braidStreams(conns: ConnResult[], useSent: boolean): PerfStream[] {
  return conns.map((c, i) => {
    const secs = Math.max(1e-9, (c.tDoneUs - c.tStartUs) / 1e6);
    const bytes = useSent ? c.bytesSent : c.bytesReceived;
    const [lh, lp] = (c.local ?? ':').split(':');
    const [rh, rp] = (c.remote ?? ':').split(':');
    return {
      id: i + 1,
      worker: c.worker,
      local_host: lh ?? '',
      local_port: Number(lp ?? 0),
      remote_host: rh ?? '',
      remote_port: Number(rp ?? 0),
      bytes,
      seconds: secs,
      bits_per_second: (8 * bytes) / secs,
      retransmits: c.mptcp
        ? c.mptcp.subflows.reduce((a, f) => a + f.tcpInfo.total_retrans, 0)
        : (c.tcpInfo?.total_retrans ?? 0),
      ...(c.sha256 ? { sha256: c.sha256 } : {}),
      ...(c.error ? { error: c.error } : {}),
      ...(c.mptcp ? { mptcp: braidMptcp(c) } : {}),
    };
  });
}

function braidMptcp(c: ConnResult): PerfMptcp {
  const m = c.mptcp!;
  return {
    fallback: m.fallback,
    ...(m.fallbackReason ? { fallback_reason: m.fallbackReason } : {}),
    subflows: m.subflows.length,
    subflow_list: m.subflows.map((f) => ({
      local: f.local,
      remote: f.remote,
      active: f.active,
      bytes_acked: f.tcpInfo.bytes_acked,
      bytes_received: f.tcpInfo.bytes_received,
      total_retrans: f.tcpInfo.total_retrans,
    })),
    ...(m.info ? { info: { ...m.info } } : {}),
    ...(m.upErrors.length ? { info: { ...m.info, up_errors: m.upErrors.join('; ') } } : {}),
  };
}

async function braidRun(
  o: Opts,
  rt: Runtime,
  noHash: boolean,
  ready: () => void,
  mptcp?: Pick<JobSpec, 'mptcp'>,
): Promise<PerfResult> {
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let spec: JobSpec;
  if (o.server) {
    spec =
      o.mode === 'bulk'
        ? { app: 'bulk-sink', port: o.port, workers: 'all', noHash }
        : { app: 'rr-server', port: o.port, workers: 'all', reqSize: o.req, respSize: o.resp };
  } else if (o.mode === 'bulk') {
    spec = {
      app: 'bulk-src',
      remote: o.host!,
      port: o.port,
      bytes: o.bytes,
      connections: o.parallel,
      noHash,
      workers: 'all',
    };
  } else {
    spec = {
      app: 'rr-client',
      remote: o.host!,
      port: o.port,
      reqSize: o.req,
      respSize: o.resp,
      count: o.count,
      connections: o.parallel,
      workers: 'all',
    };
  }
  if (o.mptcp) {
    spec.protocol = 'mptcp';
    if (mptcp?.mptcp) spec.mptcp = mptcp.mptcp;
  }
  if (!o.server && spec.connections && rt.workers > 1) {
    // spread the streams over the workers: connections per worker
    spec.connections = Math.max(1, Math.ceil(o.parallel / rt.workers));
  }
  const id = rt.startJob(spec);
  ready();
  const end = Date.now() + o.timeoutMs;
  let res = rt.pollJob(id);
  for (;;) {
    if (o.server) {
      const finished = res.conns.filter((c) => c.done);
      if (finished.length >= Math.min(o.connections, res.conns.length)) break;
    } else if (res.done) break;
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 10));
    res = rt.pollJob(id);
  }
  const final = rt.stopJob(id);
  const conns = final.conns.filter((c) => !o.server || c.tStartUs > 0);
  const errors = conns.filter((c) => c.error).map((c) => `worker ${c.worker}: ${c.error}`);
  if (Date.now() > end) errors.push('timeout');
  const streams = braidStreams(conns, !o.server);
  const tStart = Math.min(...conns.map((c) => c.tStartUs));
  const tDone = Math.max(...conns.map((c) => c.tDoneUs));
  const secs = conns.length ? Math.max(1e-9, (tDone - tStart) / 1e6) : 0;
  const sent = conns.reduce((a, c) => a + c.bytesSent, 0);
  const ackedOf = (c: ConnResult): number =>
    c.mptcp?.info ? (c.mptcp.info.mptcpi_bytes_acked ?? 0) : (c.tcpInfo?.bytes_acked ?? 0);
  const acked = conns.reduce(
    (a, c) => a + (o.server ? c.bytesReceived : Math.min(c.bytesSent, ackedOf(c))),
    0,
  );
  const lat: number[] = [];
  let rr: PerfResult['end']['rr'] | undefined;
  if (o.mode === 'rr' && !o.server) {
    // per-connection percentiles come from the engine; combine by weight
    const ls = conns.map((c) => c.latency).filter((l): l is NonNullable<typeof l> => !!l);
    const n = ls.reduce((a, l) => a + l.count, 0);
    rr = {
      transactions: n,
      transactions_per_second: secs > 0 ? n / secs : 0,
      mean_us: n ? ls.reduce((a, l) => a + l.meanUs * l.count, 0) / n : 0,
      p50_us: Math.max(0, ...ls.map((l) => l.p50Us)),
      p90_us: Math.max(0, ...ls.map((l) => l.p90Us)),
      p99_us: Math.max(0, ...ls.map((l) => l.p99Us)),
      min_us: Math.min(...ls.map((l) => l.minUs)),
      max_us: Math.max(0, ...ls.map((l) => l.maxUs)),
    };
  }
  const r = summarize(
    'braid',
    o,
    streams,
    o.server ? 0 : sent,
    acked,
    secs,
    streams.reduce((a, s) => a + s.retransmits, 0),
    cpuPercent(cpu0, t0),
    o.mode === 'rr' && !o.server ? lat : null,
    errors,
  );
  if (rr) r.end.rr = rr;
  return r;
}

function human(r: PerfResult): string {
  const lines = [`[${r.start.stack} ${r.start.role}] ${r.start.test_start.mode}`];
  for (const s of r.end.streams) {
    lines.push(
      `  stream ${s.id} ${s.local_host}:${s.local_port} -> ${s.remote_host}:${s.remote_port}: ` +
        `${s.bytes} bytes in ${s.seconds.toFixed(3)} s, ${(s.bits_per_second / 1e6).toFixed(1)} Mbit/s` +
        (s.sha256 ? ` sha256 ${s.sha256.slice(0, 16)}…` : '') +
        (s.error ? ` error ${s.error}` : ''),
    );
    if (s.mptcp) {
      const m = s.mptcp;
      lines.push(
        `    mptcp: ${m.subflows} subflow(s)` +
          (m.fallback
            ? `, fell back to TCP${m.fallback_reason ? ` (${m.fallback_reason})` : ''}`
            : ''),
      );
      for (const f of m.subflow_list ?? [])
        lines.push(
          `      ${f.local} -> ${f.remote}${f.active ? '' : ' (inactive)'}: acked ${f.bytes_acked}, received ${f.bytes_received}, retrans ${f.total_retrans}`,
        );
    }
  }
  lines.push(
    `  sent ${(r.end.sum_sent.bits_per_second / 1e6).toFixed(1)} Mbit/s, received ${(
      r.end.sum_received.bits_per_second / 1e6
    ).toFixed(
      1,
    )} Mbit/s, retransmits ${r.end.sum_sent.retransmits}, cpu ${r.end.cpu_utilization_percent.host_total.toFixed(0)} %`,
  );
  if (r.end.rr) {
    const x = r.end.rr;
    lines.push(
      `  rr: ${x.transactions} transactions, ${x.transactions_per_second.toFixed(0)}/s, p50 ${x.p50_us.toFixed(0)} us, p90 ${x.p90_us.toFixed(0)} us, p99 ${x.p99_us.toFixed(0)} us`,
    );
  }
  for (const e of r.end.errors) lines.push(`  error: ${e}`);
  return lines.join('\n') + '\n';
}

export async function perfMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      server: { type: 'boolean', short: 's' },
      client: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      mode: { type: 'string' },
      bytes: { type: 'string', short: 'n' },
      parallel: { type: 'string', short: 'P' },
      req: { type: 'string' },
      resp: { type: 'string' },
      count: { type: 'string' },
      connections: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      kernel: { type: 'boolean' },
      vdev: { type: 'string', multiple: true },
      dev: { type: 'string' },
      address: { type: 'string', multiple: true },
      gateway: { type: 'string' },
      workers: { type: 'string' },
      memory: { type: 'string' },
      'busy-poll': { type: 'boolean' },
      'no-hash': { type: 'boolean' },
      'rst-after': { type: 'string' },
      cport: { type: 'string' },
      mptcp: { type: 'boolean' },
      subflow: { type: 'string', multiple: true },
      announce: { type: 'string', multiple: true },
      checksum: { type: 'boolean' },
      'no-join': { type: 'boolean' },
      'subflows-max': { type: 'string' },
      sdk: { type: 'boolean' },
      engine: { type: 'boolean' },
      socket: { type: 'string' },
      subflows: { type: 'string' },
      scheduler: { type: 'string' },
      'path-manager': { type: 'string' },
      cc: { type: 'string' },
      fallback: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const fail = (msg: string): number => {
    process.stderr.write(`braid perf: ${msg}\n`);
    return 2;
  };
  if (!!values.server === !!values.client) return fail('give either -s or -c HOST\n\n' + HELP);
  const int = (v: string | undefined, d: number, name: string): number => {
    if (v === undefined) return d;
    const n = parseSize(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name}: bad number`);
    return n;
  };
  let o: Opts;
  try {
    o = {
      server: !!values.server,
      mptcp: !!values.mptcp,
      noHash: !!values['no-hash'],
      ...(values.client ? { host: values.client } : {}),
      port: int(values.port, 5201, 'port'),
      mode: values.mode === 'rr' ? 'rr' : 'bulk',
      bytes: int(values.bytes, 64 << 20, 'bytes'),
      parallel: Math.max(1, int(values.parallel, 1, 'parallel')),
      req: Math.max(1, int(values.req, 1, 'req')),
      resp: Math.max(1, int(values.resp, 1, 'resp')),
      count: Math.max(1, int(values.count, 10000, 'count')),
      connections: Math.max(1, int(values.connections, 1, 'connections')),
      timeoutMs: int(values.timeout, 120, 'timeout') * 1000,
      ...(values.cport !== undefined ? { cport: int(values.cport, 0, 'cport') } : {}),
      ...(values['rst-after'] !== undefined
        ? { rstAfter: int(values['rst-after'], 0, 'rst-after') }
        : {}),
    };
  } catch (e) {
    return fail((e as Error).message);
  }
  if (values.mode && values.mode !== 'bulk' && values.mode !== 'rr')
    return fail('--mode is bulk or rr');
  if (o.port < 1 || o.port > 65535) return fail('--port must be 1..65535');
  const ready = (): void => {
    process.stderr.write(`braid perf: ready on port ${o.port}\n`);
  };
  const mptcpOnly = ['subflow', 'announce', 'checksum', 'no-join', 'subflows-max'] as const;
  for (const k of mptcpOnly)
    if (values[k] !== undefined && !o.mptcp) return fail(`--${k} needs --mptcp`);
  let result: PerfResult;
  const socketPath = values.socket ?? defaultSocketPath();
  const sdk =
    !values.kernel &&
    !values.engine &&
    (values.sdk || (!values.vdev?.length && fs.existsSync(socketPath)));
  if (values.kernel) {
    if (o.mptcp && !kernelMptcp().ok)
      return fail(`the kernel makes no MPTCP socket here: ${kernelMptcp().reason}`);
    if (values.subflow || values.announce || values.checksum || values['no-join'])
      return fail(
        'with --kernel, extra subflows, announcements and checksums come from `ip mptcp` and sysctl net.mptcp.*',
      );
    result = o.server ? await kernelServer(o, ready) : await kernelClient(o);
  } else if (sdk) {
    if (values.fallback && values.fallback !== 'kernel' && values.fallback !== 'none')
      return fail('--fallback is kernel or none');
    const api = sdkApi(
      socketPath,
      {
        ...(values.subflows ? { subflows: int(values.subflows, 1, 'subflows') } : {}),
        ...(values.scheduler ? { scheduler: values.scheduler } : {}),
        ...(values['path-manager'] ? { pathManager: values['path-manager'] } : {}),
        ...(values.cc ? { congestionControl: values.cc } : {}),
      },
      values.fallback === 'kernel' ? 'kernel' : 'none',
    );
    result = o.server ? await kernelServer(o, ready, api) : await kernelClient(o, api);
    await api.done();
  } else {
    const vdevs = values.vdev ?? [];
    const addrs = values.address ?? [];
    if (!vdevs.length)
      return fail(
        `Braid needs a port: --vdev DEV (built-in apps), or a node's app socket (none at ${socketPath}; --socket), or --kernel`,
      );
    if (!addrs.length) return fail('Braid needs --address CIDR');
    if (values.dev && (vdevs.length > 1 || addrs.length > 1))
      return fail('--dev goes with one port only');
    if (addrs.length > 1 && addrs.length !== vdevs.length)
      return fail('give one --address per --vdev');
    if (values.subflow && o.server) return fail('--subflow is for clients');
    const ports: RuntimePortConfig[] = addrs.map((address, i) => ({
      dev: i === 0 && values.dev ? values.dev : vdevs[i]!.split(',')[0]!,
      address,
      ...(i === 0 && values.gateway ? { gateway: values.gateway } : {}),
    }));
    let mptcpJob: Pick<JobSpec, 'mptcp'> | undefined;
    try {
      mptcpJob = {
        mptcp: {
          subflows: (values.subflow ?? []).map((x) => {
            const [local, remote] = x.split(',');
            if (!local || !net.isIPv4(local) || (remote !== undefined && !net.isIPv4(remote)))
              throw new Error(`--subflow ${x}: expected LOCAL[,REMOTE] IPv4 addresses`);
            return { local, ...(remote ? { remote } : {}) };
          }),
          announce: (values.announce ?? []).map((address) => {
            if (!net.isIPv4(address)) throw new Error(`--announce ${address}: not an IPv4 address`);
            return { address };
          }),
        },
      };
    } catch (e) {
      return fail((e as Error).message);
    }
    const workers = int(values.workers, 1, 'workers');
    let rt: Runtime;
    try {
      rt = Runtime.open(
        {
          vdevs,
          memoryMb: int(values.memory, 256, 'memory'),
          workers,
        },
        {
          workers,
          ports,
          ...(values['busy-poll'] ? { busyPoll: true } : {}),
          ...(o.mptcp
            ? {
                mptcp: {
                  checksum: !!values.checksum,
                  autoJoin: !values['no-join'],
                  ...(values['subflows-max']
                    ? { subflowsMax: int(values['subflows-max'], 8, 'subflows-max') }
                    : {}),
                },
              }
            : {}),
        },
      );
    } catch (e) {
      process.stderr.write(`braid perf: ${(e as Error).message}\n`);
      return 1;
    }
    try {
      // give the link (memif) a moment to come up before the first SYN
      const t = Date.now();
      while (!rt.stats().ports.every((p) => p.linkUp) && Date.now() - t < 10000)
        await new Promise((r) => setTimeout(r, 50));
      result = await braidRun(o, rt, o.noHash, ready, mptcpJob);
    } finally {
      rt.close();
    }
  }
  process.stdout.write(values.json ? toJson(result, 2) + '\n' : human(result));
  return result.end.errors.length ? 1 : 0;
}
