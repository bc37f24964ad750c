/**
 * The DPDK runtime from TypeScript: EAL start (one per process), the engine
 * on DPDK ports with N worker lcores, the built-in traffic apps run as jobs,
 * and counter snapshots. See native/RUNTIME.md.
 */
import * as os from 'node:os';
import { loadAddon } from './addon';
import { ealArgs, type EalOptions, stopEal } from './dpdk';
import type { MptcpInfo } from './mptcp-info';

export interface RuntimePortConfig {
  /** The ethdev name EAL gives the device, e.g. `net_af_packet0`. */
  dev: string;
  /** IPv4 address with prefix, e.g. `10.0.0.2/24`. */
  address?: string;
  gateway?: string;
  /** IP MTU, 576..9000 (default 1500). A `net_memif` port above 1500 needs
   * its vdev's `bsize` to hold a frame: `memifVdev(..., { mtu })`. */
  mtu?: number;
  rxDesc?: number;
  txDesc?: number;
  /** 'on' (default): IPv4/TCP/ICMP checksums computed on send and verified
   * on receive (by the port where it has offloads, else in software).
   * 'off': neither, like the kernel's veth with local traffic. Only for a
   * trusted shared-memory link between two Braid engines that both set it
   * (refused on any driver but net_memif): a peer that verifies drops every
   * frame. */
  checksum?: 'on' | 'off';
}

export interface RuntimeConfig {
  workers?: number;
  ports: RuntimePortConfig[];
  /** mbufs in the pool (default: sized from queues and rings). */
  mbufs?: number;
  ringSize?: number;
  seed?: number;
  /** Adaptive polling: keep polling this long after the last packet
   * (default 200 us), then sleep from idleSleepMinUs (default 50 us)
   * doubling to idleSleepMaxUs (default 200 us). */
  spinUs?: number;
  idleSleepMinUs?: number;
  idleSleepMaxUs?: number;
  /** Never sleep (pure busy polling). */
  busyPoll?: boolean;
  steering?: 'auto' | 'software';
  /** Braid TCP on every worker (default true). */
  tcp?: boolean;
  /** MPTCP on top of every worker's TCP (default: on when tcp is). */
  mptcp?: boolean | MptcpConfig;
}

/** Per-worker MPTCP settings (braid/mptcp.h struct bd_mptcp_config). */
export interface MptcpConfig {
  /** Ask for DSS checksums (the kernel's net.mptcp.checksum_enabled). */
  checksum?: boolean;
  /** Subflows per connection including the first (1..8, default 8). */
  subflowsMax?: number;
  /** ADD_ADDRs acted on per connection (0..8, default 8). */
  addAddrAcceptedMax?: number;
  /** Join the addresses a peer announces (default true). */
  autoJoin?: boolean;
  /** Data-level buffers in bytes (default 1 MiB each). */
  sndBuf?: number;
  rcvBuf?: number;
}

export type AppName = 'bulk-src' | 'bulk-sink' | 'echo' | 'rr-client' | 'rr-server';

export interface JobSpec {
  app: AppName;
  /** Workers to run on: a list, or 'all' (default [0]). */
  workers?: number[] | 'all';
  /** Client connections per worker (servers: always 1). */
  connections?: number;
  remote?: string;
  local?: string;
  port?: number;
  bytes?: number;
  seed?: number;
  /** Bulk apps: send zeros and hash nothing (the stack alone). */
  noHash?: boolean;
  /** bulk-src: the stream's sha256 is computed by startJob (on the calling
   * thread, ~0.7 s per GB, before the connection starts) and the worker
   * only generates the bytes: the same bytes and digest, no hashing on the
   * data path. */
  hashAhead?: boolean;
  reqSize?: number;
  respSize?: number;
  count?: number;
  cc?: string;
  noDelay?: boolean;
  sndBuf?: number;
  rcvBuf?: number;
  /** 'tcp' (default) or 'mptcp': the app runs over the worker's MPTCP
   * stack (a server accepts MPTCP and plain TCP clients alike). */
  protocol?: 'tcp' | 'mptcp';
  mptcp?: MptcpJobOptions;
}

/** What an MPTCP job does once its connection is up. */
export interface MptcpJobOptions {
  /** Clients: extra subflows (MP_JOIN) from a local address (default: the
   * address of the port that routes to `remote`) to `remote` (default the
   * job's remote) on `port` (default the job's port). */
  subflows?: Array<{ local?: string; remote?: string; port?: number }>;
  /** Addresses to announce to the peer (ADD_ADDR, signal); `id` defaults to
   * the position + 1, `port` 0 = none. */
  announce?: Array<{ address: string; id?: number; port?: number }>;
}

export interface SubflowResult {
  local: string;
  remote: string;
  /** Usable for data (not closed, reset or backup-only). */
  active: boolean;
  tcpInfo: TcpInfo;
}

export interface MptcpResult {
  fallback: boolean;
  /** Why it fell back ('' when it did not). */
  fallbackReason: string;
  /** The connection's mptcp_info (Linux field names); the data sequence
   * numbers are BigInt (mptcp-info.ts), JSON-print it with json.ts toJson. */
  info?: MptcpInfo;
  subflows: SubflowResult[];
  /** What the connection-up hook could not do (join, announce). */
  upErrors: string[];
}

export interface TcpInfo {
  state_name: string;
  total_retrans: number;
  segs_in: number;
  segs_out: number;
  bytes_acked: number;
  bytes_received: number;
  rtt: number;
  snd_cwnd: number;
  [field: string]: number | string;
}

export interface ConnResult {
  worker: number;
  index: number;
  app: AppName;
  done: boolean;
  closed: boolean;
  error: string;
  tStartUs: number;
  tFirstUs: number;
  tDoneUs: number;
  bytesSent: number;
  bytesReceived: number;
  sha256?: string;
  local?: string;
  remote?: string;
  localPort?: number;
  remotePort?: number;
  tcpInfo?: TcpInfo;
  /** MPTCP jobs: the connection and its subflows. */
  mptcp?: MptcpResult;
  /** Request/response clients: `count` transactions done so far; the
   * percentiles once the client is done (0 before). */
  latency?: {
    count: number;
    of: number;
    minUs: number;
    meanUs: number;
    p50Us: number;
    p90Us: number;
    p99Us: number;
    maxUs: number;
  };
}

export interface JobResult {
  done: boolean;
  conns: ConnResult[];
}

export interface WorkerStats {
  worker: number;
  polls: number;
  busy_polls: number;
  idle_polls: number;
  sleeps: number;
  sleep_us: number;
  rx_frames: number;
  rx_own: number;
  disp_out: number;
  disp_in: number;
  disp_drops: number;
  arp_copies: number;
  /** MP_JOIN SYNs read here and steered by their token (several workers). */
  join_steered: number;
  /** Frames of joined MPTCP subflows steered to their connection's worker. */
  flow_steered: number;
  /** MP_JOINs refused: the joined-subflow table had no room. */
  join_refused: number;
  rx_bad: number;
  tx_frames: number;
  tx_full: number;
  /** Frames whose TCP payload the PMD read in place, in TCP's send ring
   * (ports with `txRef`: no copy into the mbuf). */
  tx_ref: number;
  ctl_calls: number;
  link_changes: number;
  net: Record<string, number>;
  tcp?: Record<string, number>;
  /** MPTCP counters under the kernel's nstat names (MPTcpExtMPJoinSynRx). */
  mptcp?: Record<string, number>;
}

export interface PortStats {
  dev: string;
  driver: string;
  portId: number;
  mac: string;
  mtu: number;
  rxQueues: number;
  txQueues: number;
  linkUp: boolean;
  linkSpeedMbps: number;
  offloads: { ipCsumRx: boolean; l4CsumRx: boolean; ipCsumTx: boolean; l4CsumTx: boolean };
  /** The port's frames may carry TCP's payload in place (an external mbuf
   * segment in TCP's send ring) instead of a copy: memif in copy mode over
   * buffers smaller than the mbufs. */
  txRef: boolean;
  /** The port's `checksum` setting ('off': trusted link, no checksums). */
  checksum: 'on' | 'off';
  steering: 'rte_flow' | 'software';
  steeringReason?: string;
  ipackets: number;
  opackets: number;
  ibytes: number;
  obytes: number;
  imissed: number;
  ierrors: number;
  oerrors: number;
  rxNoMbuf: number;
}

export interface RuntimeStats {
  workers: WorkerStats[];
  ports: PortStats[];
  nowUs: number;
}

type Handle = object;

interface RuntimeAddon {
  ealInit(args: string[]): unknown;
  rtCreate(cfg: RuntimeConfig): Handle;
  rtStart(h: Handle): void;
  rtPinPort(h: Handle, port: number, worker: number): void;
  rtOwner(h: Handle, raddr: string, rport: number, lport: number): number;
  rtEphBlock(h: Handle, worker: number): [number, number];
  rtJobStart(h: Handle, spec: JobSpec): number;
  rtJobPoll(h: Handle, id: number): JobResult;
  rtJobDone(h: Handle, id: number): boolean;
  rtJobStop(h: Handle, id: number): JobResult;
  rtStats(h: Handle): RuntimeStats;
  rtDestroy(h: Handle): void;
  rtBlast(h: Handle, o: BlastSpec): BlastResult;
}

export interface BlastSpec {
  worker?: number;
  port?: number;
  dstMac: string;
  frameLen?: number;
  durationMs?: number;
}

export interface BlastResult {
  frames: number;
  bytes: number;
  refused: number;
  seconds: number;
}

/** A `net_af_packet` virtual device on a kernel interface, one queue pair
 * per worker, with a ring of 4096 frames per queue (the PMD's default of
 * 512 overflows while a worker naps). For a port MTU above 1500 the ring
 * slots hold the frame after the kernel's 66-byte slot header (a multiple of
 * 1 KiB, four to a block: whole pages); the runtime sizes its mbufs for them
 * and gives the interface the MTU, and with the PMD's 2 KiB slots it refuses
 * such an MTU and says which devargs it needs. */
export function afPacketVdev(
  index: number,
  iface: string,
  qpairs = 1,
  extra = '',
  mtu = 1500,
): string {
  const slot = Math.ceil((mtu + 14 + 66) / 1024) * 1024;
  const jumbo = mtu > 1500 ? `,framesz=${slot},blocksz=${4 * slot}` : '';
  return `net_af_packet${index},iface=${iface},qpairs=${qpairs},framecnt=4096${jumbo}${extra ? ',' + extra : ''}`;
}

/** A `net_memif` virtual device (one side of a shared-memory link). With
 * `mtu` above 1500 its buffers (`bsize`) hold a whole frame of that MTU, the
 * size of the runtime's mbufs for it: one copy per frame each way, no
 * chained descriptors. Both sides need the same MTU. `zeroCopy` (client
 * only): the PMD's `zero-copy=yes`, the client lends the server its own
 * mbufs (its EAL memory as a memif region) and copies nothing itself; the
 * server still copies once each way. */
export function memifVdev(
  index: number,
  role: 'server' | 'client',
  socket: string,
  opts: { mtu?: number; zeroCopy?: boolean } = {},
): string {
  const mtu = opts.mtu ?? 1500;
  if (opts.zeroCopy && role !== 'client')
    throw new Error('memif zero-copy is for the client end (role=client)');
  const bsize = mtu > 1500 ? `,bsize=${Math.ceil((mtu + 18) / 64) * 64}` : '';
  const zc = opts.zeroCopy ? ',zero-copy=yes' : '';
  return `net_memif${index},role=${role},socket=${socket},id=0${bsize}${zc}`;
}

/** EAL options for a runtime with `workers` worker lcores: one lcore more
 * for the control thread, all floating over the machine's CPUs. */
export function runtimeEalArgs(
  opts: EalOptions & { workers?: number; workerCpus?: number[] },
): ReturnType<typeof ealArgs> {
  const workers = opts.workers ?? 1;
  const cpus = Math.max(1, os.availableParallelism());
  const pin = opts.workerCpus ?? [];
  for (const c of pin)
    if (!Number.isInteger(c) || c < 0 || c >= cpus)
      throw new Error(`workerCpus: ${c} is not a CPU of this machine (0..${cpus - 1})`);
  const lcores = pin.length
    ? [
        `0@(0-${cpus - 1})`,
        ...Array.from({ length: workers }, (_, i) => `${i + 1}@${pin[i % pin.length]}`),
      ].join(',')
    : `(0-${workers})@(0-${cpus - 1})`;
  return ealArgs({ ...opts, extra: [`--lcores=${lcores}`, ...(opts.extra ?? [])] });
}

function addon(): RuntimeAddon {
  return loadAddon() as unknown as RuntimeAddon;
}

/** The engine running on DPDK ports in this process. */
export class Runtime {
  private handle: Handle | null;
  private constructor(
    handle: Handle,
    readonly filePrefix: string | undefined,
    readonly workers: number,
  ) {
    this.handle = handle;
  }

  /**
   * Start EAL (unless `eal` is false: it runs already) and the runtime.
   * Pinned ports go to the given worker before the workers start.
   */
  static open(
    eal: (EalOptions & { workers?: number; workerCpus?: number[] }) | false,
    cfg: RuntimeConfig,
    pins: Array<[port: number, worker: number]> = [],
  ): Runtime {
    const a = addon();
    let filePrefix: string | undefined;
    if (eal) {
      const e = runtimeEalArgs({ ...eal, workers: cfg.workers ?? 1 });
      filePrefix = e.filePrefix;
      a.ealInit(e.args);
    }
    let h: Handle;
    try {
      h = a.rtCreate(cfg);
    } catch (err) {
      if (eal) stopEal(filePrefix);
      throw err;
    }
    try {
      for (const [port, worker] of pins) a.rtPinPort(h, port, worker);
      a.rtStart(h);
    } catch (err) {
      a.rtDestroy(h);
      if (eal) stopEal(filePrefix);
      throw err;
    }
    return new Runtime(h, filePrefix, cfg.workers ?? 1);
  }

  private h(): Handle {
    if (!this.handle) throw new Error('the runtime is closed');
    return this.handle;
  }

  /** The addon's handle, for other native parts hosted on this runtime
   * (the application channel of `braid node`, native/src/nodehost.ts). */
  nativeHandle(): object {
    return this.h();
  }

  startJob(spec: JobSpec): number {
    return addon().rtJobStart(this.h(), spec);
  }

  pollJob(id: number): JobResult {
    return addon().rtJobPoll(this.h(), id);
  }

  /** Collect the final results and free the job's apps (connections that
   * did not finish are reset). */
  stopJob(id: number): JobResult {
    return addon().rtJobStop(this.h(), id);
  }

  /** Whether every connection of the job is done (pollJob's `done` without
   * collecting the results). */
  jobDone(id: number): boolean {
    return addon().rtJobDone(this.h(), id);
  }

  /** Poll until every connection of the job is done (or timeout), then
   * stop it and return the results. Polls ask the workers for `done` only
   * (jobDone): collecting every connection's tcp_info into objects each
   * interval counted in the CPU seconds of a transfer (native/RUNTIME.md). */
  async waitJob(
    id: number,
    timeoutMs: number,
    intervalMs = 20,
  ): Promise<JobResult & { timedOut: boolean }> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (this.jobDone(id)) return { ...this.stopJob(id), timedOut: false };
      if (Date.now() > end) return { ...this.stopJob(id), timedOut: true };
      await new Promise((res) => setTimeout(res, intervalMs));
    }
  }

  stats(): RuntimeStats {
    return addon().rtStats(this.h());
  }

  owner(raddr: string, rport: number, lport: number): number {
    return addon().rtOwner(this.h(), raddr, rport, lport);
  }

  /** Raw device rate: transmit frames as fast as the PMD takes them. */
  blast(spec: BlastSpec): BlastResult {
    return addon().rtBlast(this.h(), spec);
  }

  ephemeralBlock(worker: number): [number, number] {
    return addon().rtEphBlock(this.h(), worker);
  }

  /** Stop the workers, free the engine, stop EAL (if this runtime started
   * it) and remove its runtime directory. */
  close(): void {
    if (!this.handle) return;
    addon().rtDestroy(this.handle);
    this.handle = null;
    if (this.filePrefix) stopEal(this.filePrefix);
  }
}
