/**
 * The application channel hosted on the DPDK runtime: the Unix socket
 * applications attach to (on this thread's event loop) and one channel
 * bridge per worker (native/addon/node.cc, native/CHANNEL.md). Used by
 * `braid node` (dataplane/src/node.ts).
 */
import { loadAddon } from './addon';
import type { Runtime, TcpInfo } from './runtime';

export interface NodeHostConfig {
  /** The app socket's path (its directory must exist). */
  path: string;
  /** The node's name, told to applications in the welcome. */
  name?: string;
  /** Socket file mode (default 0o660). */
  mode?: number;
  /** Only this uid (and root) may attach; default any. */
  allowUid?: number;
  /** Per app: connection slots, FIFO bytes each way, event ring records. */
  slots?: number;
  fifoSize?: number;
  ringSize?: number;
  maxApps?: number;
  /** Options a connection or listener leaves empty. */
  defaults?: HostOpts;
}

export interface HostOpts {
  congestionControl?: string;
  scheduler?: string;
  pathManager?: string;
  subflows?: number;
  nagle?: boolean;
}

export interface AttachedApp {
  id: number;
  pid: number;
  uid: number;
  name: string;
  worker: number;
  attachedAt: number;
}

export interface HostAddr {
  family: number;
  address: string;
  port: number;
}

export interface HostConn {
  worker: number;
  app: number;
  pid: number;
  name: string;
  slot: number;
  gen: number;
  listener: boolean;
  state: 'connecting' | 'open' | 'closing' | 'closed' | 'listen';
  transport: string;
  laddr: HostAddr;
  raddr: HostAddr;
  bytesToApp: number;
  bytesFromApp: number;
  info?: {
    transport: string;
    mptcp: boolean;
    /** backup: this end's MPTCP priority (MP_PRIO); peerBackup: the peer's. */
    subflows: Array<{
      laddr: HostAddr;
      raddr: HostAddr;
      tcp: TcpInfo;
      backup?: boolean;
      peerBackup?: boolean;
    }>;
  };
}

export interface BridgeStats {
  apps: number;
  conns: number;
  listeners: number;
  requests: number;
  events: number;
  bytes_to_app: number;
  bytes_from_app: number;
  accepts_deferred: number;
  protocol_errors: number;
  apps_removed: number;
  conns_reset_by_removal: number;
}

export interface HostStats {
  apps: number;
  attached: number;
  detached: number;
  refused: number;
  draining: boolean;
  workers: BridgeStats[];
}

type Handle = object;

interface NodeAddon {
  nodeCreate(
    rt: object,
    cfg: NodeHostConfig,
    onEvent: (kind: 'attach' | 'detach' | 'refuse', app: AttachedApp) => void,
  ): Handle;
  nodeApps(h: Handle): AttachedApp[];
  nodeStats(h: Handle): HostStats;
  nodeConns(h: Handle, withInfo: boolean): HostConn[];
  nodeSetOpt(h: Handle, worker: number, app: number, slot: number, opts: HostOpts): number;
  nodeSetPrio(
    h: Handle,
    worker: number,
    app: number,
    slot: number,
    subflow: number,
    backup: boolean,
  ): number;
  nodeDrain(h: Handle): void;
  nodeClose(h: Handle): void;
}

function addon(): NodeAddon {
  return loadAddon() as unknown as NodeAddon;
}

/** The channel server and the workers' bridges of one node process. */
export class NodeHost {
  private handle: Handle | null;

  constructor(
    rt: Runtime,
    cfg: NodeHostConfig,
    onEvent: (kind: 'attach' | 'detach' | 'refuse', app: AttachedApp) => void = () => undefined,
  ) {
    this.handle = addon().nodeCreate(rt.nativeHandle(), cfg, onEvent);
  }

  private h(): Handle {
    if (!this.handle) throw new Error('the node host is closed');
    return this.handle;
  }

  apps(): AttachedApp[] {
    return addon().nodeApps(this.h());
  }

  stats(): HostStats {
    return addon().nodeStats(this.h());
  }

  /** Every listener and connection of every app (with tcp_info per subflow
   * when `withInfo`). */
  conns(withInfo = false): HostConn[] {
    return addon().nodeConns(this.h(), withInfo);
  }

  /** Change one connection's options: 0, or a negative errno (-2: no such
   * connection). */
  setOpt(worker: number, app: number, slot: number, opts: HostOpts): number {
    return addon().nodeSetOpt(this.h(), worker, app, slot, opts);
  }

  /** Set one subflow (numbered as in conns(true)) of an MPTCP connection to
   * backup or regular: 0, or a negative errno (-2: no such connection or
   * subflow, -22: the connection has no subflows to set). */
  setPrio(worker: number, app: number, slot: number, subflow: number, backup: boolean): number {
    return addon().nodeSetPrio(this.h(), worker, app, slot, subflow, backup);
  }

  /** Refuse new apps and connections, close listeners; open connections go on. */
  drain(): void {
    addon().nodeDrain(this.h());
  }

  /** Apps are told the node stops; what is still open is reset. */
  close(): void {
    if (!this.handle) return;
    addon().nodeClose(this.handle);
    this.handle = null;
  }
}
