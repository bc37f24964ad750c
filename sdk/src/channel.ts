/**
 * The SDK's side of the application channel (native/CHANNEL.md): one
 * attachment per node socket per process, shared by every connection and
 * server of the process. Bytes move through shared-memory FIFOs with plain
 * copies done by the addon; the process sleeps on the channel's eventfd
 * (a libuv poll handle) only when nothing is pending, and the node wakes it
 * only then, so a busy connection makes no system call per chunk.
 */
import { loadAddon } from '../../native/src/addon';

/** Message types of the channel (braid/chan.h). */
export const REQ = {
  CONNECT: 1,
  LISTEN: 2,
  CLOSE_LISTENER: 3,
  RELEASE: 4,
  ABORT: 5,
  SETOPT: 6,
  INFO: 7,
} as const;
export const EV = {
  CONNECTED: 0x81,
  LISTENING: 0x82,
  ACCEPTED: 0x83,
  CLOSED: 0x84,
  ERROR: 0x85,
  INFO: 0x86,
  DONE: 0x87,
} as const;

export interface ChanAddr {
  family: number;
  address: string;
  port: number;
}

export interface ChanOpts {
  congestionControl?: string;
  scheduler?: string;
  pathManager?: string;
  subflows?: number;
  nagle?: boolean;
}

export interface ChanMsg {
  type: number;
  cookie?: number;
  slot?: number;
  gen?: number;
  arg?: number;
  laddr?: { address: string; port: number };
  raddr?: { address: string; port: number };
  opts?: ChanOpts;
}

export interface ChanEvent {
  type: number;
  cookie: number;
  slot: number;
  gen: number;
  err: number;
  arg: number;
  laddr: ChanAddr;
  raddr: ChanAddr;
}

/** A subflow as the node reports it: endpoints and tcp_info (Linux names). */
export interface SubflowInfo {
  laddr: ChanAddr;
  raddr: ChanAddr;
  tcp: Record<string, number | string>;
  /** MPTCP priority (MP_PRIO): this end's backup flag, and the peer's. */
  backup: boolean;
  peerBackup: boolean;
}
export interface ChanInfo {
  transport: string;
  mptcp: boolean;
  subflows: SubflowInfo[];
}

interface ChanAddon {
  chanAttach(
    path: string,
    name: string,
    timeoutMs: number,
  ): Promise<{ id: number; appId: number; slots: number; fifoSize: number }>;
  chanWatch(id: number, cb: (kind: 'wake' | 'gone') => void): void;
  chanRef(id: number, on: boolean): void;
  chanDetach(id: number): void;
  chanRequest(id: number, msg: ChanMsg): boolean;
  chanEvents(id: number): ChanEvent[];
  chanWrite(id: number, slot: number, buf: Buffer, offset: number): number;
  chanRead(id: number, slot: number, max: number): Buffer | number;
  chanWritable(id: number, slot: number): number;
  chanShutdown(id: number, slot: number): number;
  chanRelease(id: number, slot: number, abort: boolean): boolean;
  chanReadInfo(id: number, slot: number): ChanInfo;
  chanPause(id: number, slot: number, paused: boolean): void;
  chanArm(id: number): boolean;
  chanAlive(id: number): boolean;
}

export function chanAddon(): ChanAddon {
  return loadAddon() as unknown as ChanAddon;
}

/** The default node socket: $BRAID_APP_SOCKET, else /run/braid/app.sock. */
export function defaultSocketPath(): string {
  return process.env.BRAID_APP_SOCKET || '/run/braid/app.sock';
}

/** errno names for errors the node reports (positive Linux errno values). */
const ERRNO: Record<number, string> = {
  9: 'EBADF',
  11: 'EAGAIN',
  12: 'ENOMEM',
  22: 'EINVAL',
  32: 'EPIPE',
  71: 'EPROTO',
  98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL',
  101: 'ENETUNREACH',
  103: 'ECONNABORTED',
  104: 'ECONNRESET',
  107: 'ENOTCONN',
  110: 'ETIMEDOUT',
  111: 'ECONNREFUSED',
  113: 'EHOSTUNREACH',
};

export type CodedError = Error & { code?: string; errno?: number };

export function errnoError(errno: number, what: string): CodedError {
  const code = ERRNO[errno] ?? `E${errno}`;
  const e = new Error(`${what}: ${code}`) as CodedError;
  e.code = code;
  e.errno = errno;
  return e;
}

/** What a connection or server implements to hear from the channel. */
export interface ChanUser {
  /** Move bytes (called on every pump while the user is registered). */
  pump(): void;
  /** The node went away. */
  nodeGone(err: CodedError): void;
}

/** One attachment to a node. */
export class Channel {
  readonly addon = chanAddon();
  private scheduled = false;
  private pumping = false;
  private nextCookie = 1;
  private readonly queue: ChanMsg[] = [];
  private readonly waiters = new Map<number, (ev: ChanEvent) => void>();
  private readonly slots = new Map<number, (ev: ChanEvent) => void>();
  private readonly listeners = new Map<number, (ev: ChanEvent) => void>();
  private readonly users = new Set<ChanUser>();
  private refd = true;
  gone: CodedError | undefined;

  constructor(
    readonly id: number,
    readonly path: string,
    readonly fifoSize: number,
  ) {
    this.addon.chanWatch(id, (kind) => {
      if (kind === 'gone') this.nodeGone();
      else this.pump();
    });
    this.updateRef();
  }

  /** Queue a request; `onEvent` gets the node's answer (by cookie). */
  request(msg: ChanMsg, onEvent?: (ev: ChanEvent) => void): number {
    const cookie = this.nextCookie++;
    msg.cookie = cookie;
    if (onEvent) this.waiters.set(cookie, onEvent);
    if (this.queue.length || !this.addon.chanRequest(this.id, msg)) this.queue.push(msg);
    this.updateRef();
    this.schedule();
    return cookie;
  }

  /** Events of an established slot (CLOSED, INFO) go to `fn`. */
  bindSlot(slot: number, fn: (ev: ChanEvent) => void): void {
    this.slots.set(slot, fn);
  }
  unbindSlot(slot: number): void {
    this.slots.delete(slot);
    this.updateRef();
  }
  bindListener(lid: number, fn: (ev: ChanEvent) => void): void {
    this.listeners.set(lid, fn);
    this.updateRef();
  }
  unbindListener(lid: number): void {
    this.listeners.delete(lid);
    this.updateRef();
  }
  addUser(u: ChanUser): void {
    this.users.add(u);
    this.updateRef();
  }
  removeUser(u: ChanUser): void {
    this.users.delete(u);
    this.updateRef();
  }

  /** Run a pump soon (coalesced). */
  schedule(): void {
    if (this.scheduled || this.gone) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Keep the event loop alive only while something is open. */
  private updateRef(): void {
    if (this.gone) return;
    const want =
      this.users.size > 0 ||
      this.waiters.size > 0 ||
      this.listeners.size > 0 ||
      this.queue.length > 0;
    if (want !== this.refd) {
      this.addon.chanRef(this.id, want);
      this.refd = want;
    }
  }

  pump(): void {
    if (this.gone || this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length && this.addon.chanRequest(this.id, this.queue[0]))
        this.queue.shift();
      for (const ev of this.addon.chanEvents(this.id)) this.dispatch(ev);
      for (const u of [...this.users]) u.pump();
      for (const ev of this.addon.chanEvents(this.id)) this.dispatch(ev);
    } finally {
      this.pumping = false;
    }
    if (this.gone) return;
    if (!this.addon.chanAlive(this.id)) {
      this.nodeGone();
      return;
    }
    // Sleep only when nothing is pending; else come back next tick.
    if (this.queue.length || !this.addon.chanArm(this.id)) this.schedule();
  }

  private dispatch(ev: ChanEvent): void {
    switch (ev.type) {
      case EV.CONNECTED:
      case EV.LISTENING:
      case EV.ERROR:
      case EV.DONE:
      case EV.INFO: {
        const w = this.waiters.get(ev.cookie);
        if (w) {
          this.waiters.delete(ev.cookie);
          w(ev);
        } else if (ev.type === EV.INFO) {
          this.slots.get(ev.slot)?.(ev);
        }
        break;
      }
      case EV.ACCEPTED:
        this.listeners.get(ev.arg)?.(ev);
        break;
      case EV.CLOSED:
        this.slots.get(ev.slot)?.(ev);
        break;
    }
    this.updateRef();
  }

  private nodeGone(): void {
    if (this.gone) return;
    const e = new Error(
      `the Braid node at ${this.path} went away (stopped or crashed): connection lost`,
    ) as CodedError;
    e.code = 'EBRAIDNODEGONE';
    this.gone = e;
    channels.delete(this.path);
    const waiters = [...this.waiters.values()];
    this.waiters.clear();
    for (const u of [...this.users]) u.nodeGone(e);
    for (const w of waiters)
      w({
        type: EV.ERROR,
        cookie: 0,
        slot: 0,
        gen: 0,
        err: 0,
        arg: 0,
        laddr: { family: 0, address: '', port: 0 },
        raddr: { family: 0, address: '', port: 0 },
      });
    this.users.clear();
    this.listeners.clear();
    this.slots.clear();
    try {
      this.addon.chanDetach(this.id);
    } catch {
      // already closed
    }
  }

  /** Leave the node (tests; connections still open are reset). */
  detach(): void {
    if (this.gone) return;
    this.gone = Object.assign(new Error('the channel was detached'), { code: 'EBRAIDDETACHED' });
    channels.delete(this.path);
    this.addon.chanDetach(this.id);
  }
}

const channels = new Map<string, Promise<Channel>>();

/** The process's attachment to the node at `path` (attached on first use). */
export function getChannel(path: string, timeoutMs = 2000): Promise<Channel> {
  let p = channels.get(path);
  if (!p) {
    p = chanAddon()
      .chanAttach(path, `${process.title}[${process.pid}]`, timeoutMs)
      .then((r) => new Channel(r.id, path, r.fifoSize));
    channels.set(path, p);
    p.catch(() => channels.delete(path));
  }
  return p;
}

/** Detach every channel of this process (tests). */
export async function detachAll(): Promise<void> {
  const all = [...channels.values()];
  channels.clear();
  for (const p of all) {
    try {
      (await p).detach();
    } catch {
      // never attached
    }
  }
}
