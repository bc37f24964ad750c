/**
 * A connection as applications see it: a Duplex stream with net.Socket's
 * usual surface, carried either by the local Braid node (through the
 * channel's shared FIFOs) or, on fallback, by a kernel socket it wraps.
 */
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import {
  type ChanAddr,
  type ChanEvent,
  type ChanInfo,
  type ChanUser,
  type Channel,
  type CodedError,
  EV,
  REQ,
  errnoError,
} from './channel';
import { type KernelMptcpInfo, type TransportPath, kernelMptcpInfo } from './kernel';

export type { TransportPath } from './kernel';

/** What getInfo() returns. */
export interface ConnectionInfo {
  transportPath: TransportPath;
  /** Braid: the node's transport ('tcp' or 'mptcp'); kernel: the protocol. */
  transport: string;
  mptcp: boolean;
  /** Braid: every subflow with its tcp_info (Linux field names). */
  subflows: ChanInfo['subflows'];
  /** Kernel MPTCP: the kernel's mptcp_info. */
  kernel?: KernelMptcpInfo;
}

const READ_CHUNK = 256 * 1024;

/** A Braid connection (a Duplex like net.Socket). */
export class BraidSocket extends Duplex implements ChanUser {
  transportPath: TransportPath = 'braid';
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  remoteFamily?: string;
  connecting = true;

  private chan?: Channel;
  private slot = -1;
  private reading = false;
  private paused = false;
  private readDone = false;
  private writeDone = false;
  private released = false;
  private shutdownPending = false;
  private finalCb?: (err?: Error | null) => void;
  private readonly wq: { buf: Buffer; off: number; cb: (err?: Error | null) => void }[] = [];
  private kernel?: net.Socket;
  private infoWaiters: ((info: ChanInfo | Error) => void)[] = [];

  constructor() {
    super({ allowHalfOpen: true, decodeStrings: true });
    this.on('end', () => {
      this.readDone = true;
      this.maybeRelease();
    });
  }

  /** Bind to a channel slot (connected or accepted). */
  attachBraid(chan: Channel, ev: ChanEvent): void {
    this.chan = chan;
    this.slot = ev.slot;
    this.genCache = ev.gen;
    this.setAddrs(ev.laddr, ev.raddr);
    this.connecting = false;
    chan.bindSlot(ev.slot, (e) => this.slotEvent(e));
    chan.addUser(this);
    chan.schedule();
  }

  /** Carry this connection over a kernel socket (fallback). */
  attachKernel(sock: net.Socket, path: TransportPath): void {
    this.kernel = sock;
    this.transportPath = path;
    sock.on('connect', () => {
      this.connecting = false;
      this.remoteAddress = sock.remoteAddress;
      this.remotePort = sock.remotePort;
      this.localAddress = sock.localAddress;
      this.localPort = sock.localPort;
      this.remoteFamily = sock.remoteFamily;
      this.emit('connect');
      this.emit('ready');
    });
    sock.on('data', (d: Buffer) => {
      if (!this.push(d)) sock.pause();
    });
    sock.on('end', () => this.push(null));
    sock.on('error', (e) => this.destroy(e));
    sock.on('close', () => {
      if (!this.destroyed && this.readDone && this.writableFinished) this.destroy();
    });
    // Writes made before the path was known.
    for (const w of this.wq.splice(0)) sock.write(w.off ? w.buf.subarray(w.off) : w.buf, w.cb);
    if (this.shutdownPending) {
      this.shutdownPending = false;
      const cb = this.finalCb;
      this.finalCb = undefined;
      sock.end(() => cb?.());
    }
  }

  private setAddrs(l: ChanAddr, r: ChanAddr): void {
    this.localAddress = l.address || undefined;
    this.localPort = l.port;
    this.remoteAddress = r.address || undefined;
    this.remotePort = r.port;
    this.remoteFamily = r.family === 6 ? 'IPv6' : 'IPv4';
  }

  /** The connect failed (before any slot). */
  fail(err: Error): void {
    this.connecting = false;
    this.destroy(err);
  }

  // --- Duplex ----------------------------------------------------------------

  override _read(): void {
    if (this.kernel) {
      this.kernel.resume();
      return;
    }
    this.reading = true;
    if (this.paused && this.chan) {
      this.paused = false;
      this.chan.addon.chanPause(this.chan.id, this.slot, false);
    }
    this.chan?.schedule();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.kernel) {
      this.kernel.write(chunk, cb);
      return;
    }
    this.wq.push({ buf: chunk, off: 0, cb });
    if (this.chan) this.pump();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.kernel) {
      this.kernel.end(() => cb());
      return;
    }
    this.shutdownPending = true;
    this.finalCb = cb;
    if (this.chan) this.pump();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.kernel) {
      this.kernel.destroy(err ?? undefined);
      cb(err);
      return;
    }
    for (const w of this.wq.splice(0)) w.cb(err ?? new Error('the connection was destroyed'));
    this.releaseSlot(err !== null && err !== undefined);
    this.failInfo(err ?? new Error('the connection was destroyed'));
    cb(err);
  }

  /** Close with RST (like net.Socket.resetAndDestroy). */
  resetAndDestroy(): this {
    if (this.kernel) this.kernel.resetAndDestroy();
    else this.releaseSlot(true);
    return this.destroy();
  }

  setNoDelay(noDelay = true): this {
    if (this.kernel) this.kernel.setNoDelay(noDelay);
    else if (this.chan && this.slot >= 0)
      this.chan.request({
        type: REQ.SETOPT,
        slot: this.slot,
        gen: this.gen(),
        opts: { nagle: !noDelay },
      });
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.kernel?.setKeepAlive(enable, delay);
    return this;
  }

  setTimeout(ms: number, cb?: () => void): this {
    if (this.kernel) this.kernel.setTimeout(ms, cb);
    return this;
  }

  address(): net.AddressInfo | Record<string, never> {
    if (this.localAddress === undefined) return {};
    return { address: this.localAddress, port: this.localPort ?? 0, family: 'IPv4' };
  }

  /** Telemetry of this connection: every subflow's tcp_info from the node,
   * or the kernel's mptcp_info on the kernel MPTCP path. */
  getInfo(): Promise<ConnectionInfo> {
    if (this.kernel) {
      const info: ConnectionInfo = {
        transportPath: this.transportPath,
        transport: this.transportPath === 'kernel-mptcp' ? 'mptcp' : 'tcp',
        mptcp: this.transportPath === 'kernel-mptcp',
        subflows: [],
      };
      if (this.transportPath === 'kernel-mptcp') {
        info.kernel = kernelMptcpInfo(this.kernel);
        info.mptcp = !info.kernel.fallback;
      }
      return Promise.resolve(info);
    }
    const chan = this.chan;
    if (!chan || this.slot < 0 || this.released)
      return Promise.reject(new Error('getInfo: the connection is not open'));
    return new Promise((resolve, reject) => {
      this.infoWaiters.push((r) => (r instanceof Error ? reject(r) : resolve(this.toInfo(r))));
      chan.request({ type: REQ.INFO, slot: this.slot, gen: this.gen() }, (ev) => this.onInfo(ev));
    });
  }

  private toInfo(ci: ChanInfo): ConnectionInfo {
    return {
      transportPath: 'braid',
      transport: ci.transport,
      mptcp: ci.mptcp,
      subflows: ci.subflows,
    };
  }

  private onInfo(ev: ChanEvent): void {
    const w = this.infoWaiters.shift();
    if (!w) return;
    if (ev.type !== EV.INFO || !this.chan) {
      w(this.chan?.gone ?? errnoError(ev.err || 9, 'getInfo'));
      return;
    }
    try {
      w(this.chan.addon.chanReadInfo(this.chan.id, this.slot));
    } catch (e) {
      w(e as Error);
    }
  }

  private failInfo(err: Error): void {
    for (const w of this.infoWaiters.splice(0)) w(err);
  }

  /** The slot's generation, from the event that gave us the slot. */
  private genCache = 0;
  private gen(): number {
    return this.genCache;
  }

  // --- channel side ----------------------------------------------------------

  private slotEvent(ev: ChanEvent): void {
    if (ev.type === EV.CLOSED) {
      if (ev.err) {
        // The rx FIFO ends with a reset mark: reading reports it.
        this.pump();
        if (!this.destroyed) this.destroy(errnoError(ev.err, 'read'));
      } else {
        this.pump();
      }
    }
  }

  /** Move bytes between the stream and the FIFOs. */
  pump(): void {
    const chan = this.chan;
    if (!chan || this.released || this.slot < 0) return;
    const { addon, id } = chan;
    // Writes: as much as the tx FIFO takes.
    while (this.wq.length) {
      const w = this.wq[0];
      const n = addon.chanWrite(id, this.slot, w.buf, w.off);
      if (n < 0) {
        this.wq.shift();
        w.cb(errnoError(-n, 'write'));
        continue;
      }
      if (n === 0) break;
      w.off += n;
      if (w.off < w.buf.length) break;
      this.wq.shift();
      w.cb();
    }
    if (this.shutdownPending && !this.wq.length) {
      this.shutdownPending = false;
      addon.chanShutdown(id, this.slot);
      this.writeDone = true;
      const cb = this.finalCb;
      this.finalCb = undefined;
      cb?.();
    }
    // Reads: while the consumer wants more.
    while (this.reading && !this.readDone) {
      const r = addon.chanRead(id, this.slot, READ_CHUNK);
      if (typeof r === 'number') {
        if (r === 0) {
          this.reading = false;
          this.push(null);
        } else if (r !== -11) {
          this.reading = false;
          this.destroy(errnoError(-r, 'read'));
          return;
        }
        break;
      }
      this.reading = this.push(r);
      if (!this.reading && !this.paused) {
        this.paused = true;
        addon.chanPause(id, this.slot, true);
      }
    }
    this.maybeRelease();
  }

  nodeGone(err: CodedError): void {
    this.released = true;
    if (!this.destroyed) this.destroy(err);
  }

  private maybeRelease(): void {
    if (this.readDone && this.writeDone && !this.released) this.releaseSlot(false);
  }

  private releaseSlot(abort: boolean): void {
    const chan = this.chan;
    if (!chan || this.released || this.slot < 0) return;
    this.released = true;
    if (!chan.gone && !chan.addon.chanRelease(chan.id, this.slot, abort))
      chan.request({ type: abort ? REQ.ABORT : REQ.RELEASE, slot: this.slot, gen: this.gen() });
    chan.unbindSlot(this.slot);
    chan.removeUser(this);
    if (!this.destroyed && this.readDone && this.writableFinished) this.destroy();
  }
}
