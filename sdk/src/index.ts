/**
 * Braid's SDK: a `net`-like API over the local Braid node (shared memory,
 * native/CHANNEL.md), with fallback to the kernel's MPTCP (else TCP) when no
 * node is reachable, or a clear error with `fallback: 'none'`.
 *
 *   const sock = connect({ host: '10.0.0.2', port: 5201, subflows: 2 });
 *   sock.on('connect', () => sock.end('hello'));
 *   sock.transportPath;            // 'braid' | 'kernel-mptcp' | 'kernel-tcp'
 *   await sock.getInfo();          // subflows with tcp_info
 *
 *   const srv = createServer((s) => s.pipe(s));
 *   await srv.listen(5201);
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import {
  type ChanEvent,
  type ChanOpts,
  type Channel,
  type CodedError,
  EV,
  REQ,
  errnoError,
  getChannel,
  defaultSocketPath,
} from './channel';
import { type KernelSocket, type TransportPath, kernelConnect, kernelServer } from './kernel';
import { BraidSocket } from './socket';

export { BraidSocket, type ConnectionInfo } from './socket';
export type { TransportPath } from './kernel';
export { defaultSocketPath, detachAll } from './channel';

/** Per-connection options the node applies (ignored on the kernel path,
 * where the kernel's own settings rule). */
export interface TransportOptions {
  /** MPTCP packet scheduler: 'default' (lowest RTT), 'roundrobin', 'redundant', 'weighted', 'blest', 'ecf' (schemas/src/common.schema.json). */
  scheduler?: string;
  /** MPTCP path manager (e.g. 'fullmesh', 'ndiffports'). */
  pathManager?: string;
  /** Subflows wanted; 1 = plain TCP. */
  subflows?: number;
  /** Congestion control ('cubic', 'newreno', coupled 'lia' / 'olia' with MPTCP). */
  congestionControl?: string;
}

export interface CommonOptions {
  /** Node socket (default $BRAID_APP_SOCKET, else /run/braid/app.sock). */
  socketPath?: string;
  /** 'kernel' (default): no node reachable -> the kernel's MPTCP where
   * enabled, else TCP. 'none': fail with an error instead. */
  fallback?: 'kernel' | 'none';
  /** How long to wait for the node's answer when attaching (ms, 2000). */
  attachTimeoutMs?: number;
}

export interface ConnectOptions extends TransportOptions, CommonOptions {
  host: string;
  port: number;
  localAddress?: string;
  localPort?: number;
}

function transportOpts(o: TransportOptions): ChanOpts {
  return {
    scheduler: o.scheduler,
    pathManager: o.pathManager,
    subflows: o.subflows,
    congestionControl: o.congestionControl,
  };
}

function noNodeError(path: string, cause: Error): CodedError {
  const e = new Error(
    `no Braid node reachable at ${path} (${cause.message}) and fallback is 'none'`,
  ) as CodedError;
  e.code = 'EBRAIDNONODE';
  return e;
}

/** Attach errors that mean "no node there" (as opposed to a broken node);
 * a node that is stopping (draining) counts as none. */
function unreachable(e: unknown): boolean {
  const code = (e as CodedError).code;
  return (
    code === 'ENOENT' ||
    code === 'ECONNREFUSED' ||
    code === 'ETIMEDOUT' ||
    code === 'EACCES' ||
    code === 'ESHUTDOWN'
  );
}

/** Open a connection: over the local Braid node, else per `fallback`. */
export function connect(opts: ConnectOptions, onConnect?: () => void): BraidSocket {
  if (!net.isIP(opts.host)) throw new TypeError(`connect: not an IP address: ${opts.host}`);
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535)
    throw new RangeError(`connect: port out of range: ${opts.port}`);
  const sock = new BraidSocket();
  if (onConnect) sock.once('connect', onConnect);
  const path = opts.socketPath ?? defaultSocketPath();
  getChannel(path, opts.attachTimeoutMs).then(
    (chan) => braidConnect(sock, chan, opts),
    (e: CodedError) => {
      if (sock.destroyed) return;
      if (opts.fallback === 'none' || !unreachable(e)) {
        sock.fail(opts.fallback === 'none' ? noNodeError(path, e) : e);
        return;
      }
      let ks: KernelSocket;
      try {
        ks = kernelConnect({ host: opts.host, port: opts.port, mptcp: true });
      } catch (err) {
        sock.fail(err as Error);
        return;
      }
      sock.attachKernel(ks, ks.transportPath);
    },
  );
  return sock;
}

function braidConnect(sock: BraidSocket, chan: Channel, opts: ConnectOptions): void {
  if (sock.destroyed) return;
  chan.request(
    {
      type: REQ.CONNECT,
      raddr: { address: opts.host, port: opts.port },
      laddr:
        opts.localAddress || opts.localPort
          ? { address: opts.localAddress ?? '', port: opts.localPort ?? 0 }
          : undefined,
      opts: transportOpts(opts),
    },
    (ev: ChanEvent) => {
      if (ev.type === EV.CONNECTED) {
        if (sock.destroyed) {
          // Given up meanwhile: hand the slot straight back.
          chan.addon.chanRelease(chan.id, ev.slot, true);
          return;
        }
        sock.attachBraid(chan, ev);
        sock.emit('connect');
        sock.emit('ready');
        return;
      }
      sock.fail(chan.gone ?? errnoError(ev.err, `connect ${opts.host}:${opts.port}`));
    },
  );
}

export interface ListenOptions extends TransportOptions, CommonOptions {
  port: number;
  host?: string;
  backlog?: number;
}

/** A server like net.Server: 'connection', 'listening', 'error', 'close'. */
export class BraidServer extends EventEmitter {
  transportPath: TransportPath | undefined;
  private chan?: Channel;
  private lid = -1;
  private kernel?: ReturnType<typeof kernelServer>;
  private bound?: net.AddressInfo;
  private readonly conns = new Set<net.Socket | BraidSocket>();

  constructor(
    private readonly handler?: (sock: BraidSocket | KernelSocket) => void,
    private readonly defaults: CommonOptions & TransportOptions = {},
  ) {
    super();
    if (handler) this.on('connection', handler);
  }

  /** Listen; resolves with the bound port. */
  listen(portOrOpts: number | ListenOptions, host?: string): Promise<number> {
    const o: ListenOptions =
      typeof portOrOpts === 'number'
        ? { ...this.defaults, port: portOrOpts, host }
        : { ...this.defaults, ...portOrOpts };
    const path = o.socketPath ?? defaultSocketPath();
    return getChannel(path, o.attachTimeoutMs).then(
      (chan) => this.braidListen(chan, o),
      (e: CodedError) => {
        if (o.fallback === 'none' || !unreachable(e))
          throw o.fallback === 'none' ? noNodeError(path, e) : e;
        return this.kernelListen(o);
      },
    );
  }

  private braidListen(chan: Channel, o: ListenOptions): Promise<number> {
    return new Promise((resolve, reject) => {
      chan.request(
        {
          type: REQ.LISTEN,
          laddr: { address: o.host ?? '', port: o.port },
          arg: o.backlog ?? 511,
          opts: transportOpts(o),
        },
        (ev) => {
          if (ev.type !== EV.LISTENING) {
            const e = chan.gone ?? errnoError(ev.err, `listen ${o.host ?? '0.0.0.0'}:${o.port}`);
            this.emit('error', e);
            reject(e);
            return;
          }
          this.chan = chan;
          this.lid = ev.slot;
          this.transportPath = 'braid';
          this.bound = { address: o.host ?? '0.0.0.0', port: o.port, family: 'IPv4' };
          chan.bindListener(ev.slot, (a) => this.accepted(chan, a));
          chan.addUser(this.user);
          this.emit('listening');
          resolve(o.port);
        },
      );
    });
  }

  private readonly user = {
    pump: () => undefined,
    nodeGone: (err: CodedError) => {
      this.chan = undefined;
      this.emit('error', err);
    },
  };

  private accepted(_chan: Channel, ev: ChanEvent): void {
    const s = new BraidSocket();
    s.attachBraid(_chan, ev);
    this.conns.add(s);
    s.on('close', () => this.conns.delete(s));
    this.emit('connection', s);
  }

  private async kernelListen(o: ListenOptions): Promise<number> {
    const ks = kernelServer((s) => {
      this.conns.add(s);
      s.on('close', () => this.conns.delete(s));
      this.emit('connection', s);
    });
    this.kernel = ks;
    ks.server.on('error', (e) => this.emit('error', e));
    const port = await ks.listen(o.port, o.host ?? '0.0.0.0');
    this.transportPath = ks.transportPath;
    this.bound = ks.server.address() as net.AddressInfo;
    this.emit('listening');
    return port;
  }

  address(): net.AddressInfo | null {
    return this.bound ?? null;
  }

  /** Stop listening; open connections stay (like net.Server.close). */
  close(cb?: (err?: Error) => void): this {
    if (this.kernel) {
      this.kernel.server.close(() => {
        this.emit('close');
        cb?.();
      });
      return this;
    }
    const chan = this.chan;
    if (chan && this.lid >= 0 && !chan.gone) {
      chan.request({ type: REQ.CLOSE_LISTENER, slot: this.lid });
      chan.unbindListener(this.lid);
      chan.removeUser(this.user);
    }
    this.lid = -1;
    setImmediate(() => {
      this.emit('close');
      cb?.();
    });
    return this;
  }
}

/** Create a server; call listen() on it. */
export function createServer(
  handler?: (sock: BraidSocket | KernelSocket) => void,
  defaults: CommonOptions & TransportOptions = {},
): BraidServer {
  return new BraidServer(handler, defaults);
}
