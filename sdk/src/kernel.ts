/**
 * The SDK's kernel path: used when no Braid node is reachable. Connections go
 * over the kernel's MPTCP where it is enabled (an IPPROTO_MPTCP socket made by
 * the addon and handed to net.Socket by its fd), else over kernel TCP.
 */
import * as net from 'node:net';
import { loadAddon } from '../../native/src/addon';
import type { MptcpInfo, MptcpInfoDsnField } from '../../native/src/mptcp-info';

/** Which stack carries a connection. */
export type TransportPath = 'braid' | 'kernel-mptcp' | 'kernel-tcp';

/** The kernel's view of an MPTCP socket: the fields of struct mptcp_info
 * the addon reads (Braid's own mptcp_info has the same names and types,
 * the data sequence numbers exact as BigInt), and two flags decoded. */
export interface KernelMptcpInfo extends Pick<
  MptcpInfo,
  | 'mptcpi_subflows'
  | 'mptcpi_add_addr_signal'
  | 'mptcpi_add_addr_accepted'
  | 'mptcpi_subflows_max'
  | 'mptcpi_flags'
  | 'mptcpi_token'
  | MptcpInfoDsnField
  | 'mptcpi_local_addr_used'
  | 'mptcpi_local_addr_max'
  | 'mptcpi_csum_enabled'
> {
  /** The connection fell back to plain TCP. */
  fallback: boolean;
  /** The peer's key arrived: the peer speaks MPTCP. */
  remote_key_received: boolean;
}

interface KernelAddon {
  kernelSocket(family: 4 | 6, mptcp: boolean): number;
  kernelBind(fd: number, host: string, port: number): void;
  kernelClose(fd: number): void;
  kernelProtocol(fd: number): 'mptcp' | 'tcp';
  mptcpInfo(fd: number): KernelMptcpInfo;
}

function addon(): KernelAddon {
  return loadAddon() as unknown as KernelAddon;
}

let mptcpProbe: { ok: boolean; reason?: string } | undefined;

/** Whether this host's kernel makes MPTCP sockets (net.mptcp.enabled=1),
 * and why not. Probed once per process. */
export function kernelMptcp(): { ok: boolean; reason?: string } {
  if (!mptcpProbe) {
    try {
      addon().kernelClose(addon().kernelSocket(4, true));
      mptcpProbe = { ok: true };
    } catch (e) {
      mptcpProbe = { ok: false, reason: (e as Error).message };
    }
  }
  return mptcpProbe;
}

function familyOf(host: string): 4 | 6 {
  return net.isIPv6(host) ? 6 : 4;
}

/** A kernel socket fd: MPTCP when asked for and available, else TCP. */
function openFd(host: string, preferMptcp: boolean): { fd: number; path: TransportPath } {
  const family = familyOf(host);
  if (preferMptcp && kernelMptcp().ok) {
    return { fd: addon().kernelSocket(family, true), path: 'kernel-mptcp' };
  }
  return { fd: addon().kernelSocket(family, false), path: 'kernel-tcp' };
}

export interface KernelConnectOptions {
  host: string;
  port: number;
  /** Use kernel MPTCP when the kernel has it (default true). */
  mptcp?: boolean;
  /** Local port to connect from (MPTCP: the first subflow's). */
  localPort?: number;
}

/** A net.Socket that knows which kernel path it took. */
export type KernelSocket = net.Socket & { transportPath: TransportPath };

/** Connect over the kernel: MPTCP where enabled, else TCP. */
export function kernelConnect(opts: KernelConnectOptions, onConnect?: () => void): KernelSocket {
  if (!net.isIP(opts.host)) throw new TypeError(`kernelConnect: not an IP address: ${opts.host}`);
  const { fd, path } = openFd(opts.host, opts.mptcp ?? true);
  if (opts.localPort) {
    try {
      addon().kernelBind(fd, familyOf(opts.host) === 6 ? '::' : '0.0.0.0', opts.localPort);
    } catch (e) {
      addon().kernelClose(fd);
      throw e;
    }
  }
  const sock = new net.Socket({ fd, readable: true, writable: true }) as KernelSocket;
  sock.transportPath = path;
  sock.connect(opts.port, opts.host, onConnect);
  return sock;
}

/** A net.Server over the kernel whose listening socket is MPTCP where
 * enabled (it accepts MPTCP and plain TCP clients alike). */
export function kernelServer(
  handler: (sock: KernelSocket) => void,
  opts: { mptcp?: boolean } = {},
): {
  server: net.Server;
  transportPath: TransportPath;
  listen(port: number, host: string): Promise<number>;
} {
  const server = net.createServer((s) => {
    const ks = s as KernelSocket;
    ks.transportPath = pathOfSocket(ks);
    handler(ks);
  });
  let path: TransportPath =
    opts.mptcp === false || !kernelMptcp().ok ? 'kernel-tcp' : 'kernel-mptcp';
  return {
    server,
    get transportPath() {
      return path;
    },
    listen(port: number, host: string): Promise<number> {
      if (!net.isIP(host)) throw new TypeError(`kernelServer: not an IP address: ${host}`);
      const opened = openFd(host, opts.mptcp ?? true);
      path = opened.path;
      try {
        addon().kernelBind(opened.fd, host, port);
      } catch (e) {
        addon().kernelClose(opened.fd);
        throw e;
      }
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ fd: opened.fd }, () => {
          server.off('error', reject);
          resolve((server.address() as net.AddressInfo).port);
        });
      });
    },
  };
}

function fdOf(sock: net.Socket): number | undefined {
  const h = (sock as unknown as { _handle?: { fd?: number } })._handle;
  return h && typeof h.fd === 'number' && h.fd >= 0 ? h.fd : undefined;
}

/** The kernel path of a connected socket (MPTCP even if it fell back). */
export function pathOfSocket(sock: net.Socket): TransportPath {
  const fd = fdOf(sock);
  if (fd === undefined) return 'kernel-tcp';
  return addon().kernelProtocol(fd) === 'mptcp' ? 'kernel-mptcp' : 'kernel-tcp';
}

/** The kernel's MPTCP_INFO of a connected kernel MPTCP socket. */
export function kernelMptcpInfo(sock: net.Socket): KernelMptcpInfo {
  const fd = fdOf(sock);
  if (fd === undefined) throw new Error('kernelMptcpInfo: the socket is not open');
  return addon().mptcpInfo(fd);
}
