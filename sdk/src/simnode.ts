/**
 * `braid sim-node`: a TEST FIXTURE, not a node. A Braid node whose network is
 * simulated: a background thread in the addon runs two simulated hosts in
 * real time (the node's stack with the channel bridge, and a peer with a
 * multi-connection echo server on `echoPort` and scripted clients) and serves
 * the application channel on a real Unix socket with real shared memory.
 * The SDK's tests attach to it exactly as applications attach to
 * `braid node`; only the network behind the node is simulated.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { loadAddon } from '../../native/src/addon';

export interface SimNodeOptions {
  /** Socket path (default: a fresh one in the temp directory). */
  path?: string;
  echoPort?: number;
  rateMbps?: number;
  delayMs?: number;
  slots?: number;
  fifoSize?: number;
}

export interface SimNodeStats {
  apps: number;
  attached: number;
  conns: number;
  listeners: number;
  requests: number;
  bytesToApp: number;
  bytesFromApp: number;
  protocolErrors: number;
  appsRemoved: number;
  connsResetByRemoval: number;
  peerEchoConns: number;
  peerEchoBytes: number;
  peerResets: number;
}

export interface PeerJobResult {
  started: boolean;
  done: boolean;
  err?: number;
  sent?: number;
  received?: number;
  match?: boolean;
}

interface SimNodeAddon {
  simNodeStart(o: SimNodeOptions & { path: string }): {
    id: number;
    nodeAddress: string;
    peerAddress: string;
    echoPort: number;
  };
  simNodePeerConnect(id: number, port: number, bytes: number, seed: number): number;
  simNodePeerResult(id: number, job: number): PeerJobResult;
  simNodeStats(id: number): SimNodeStats;
  simNodeStop(id: number): void;
}

export interface SimNode {
  path: string;
  /** The node's address in the simulated network. */
  nodeAddress: string;
  /** The peer's address; it echoes on echoPort. */
  peerAddress: string;
  echoPort: number;
  stats(): SimNodeStats;
  /** The peer connects to nodeAddress:port, sends `bytes` of a seeded
   * stream, half-closes and checks the echo. */
  peerConnect(port: number, bytes: number, seed?: number): number;
  peerResult(job: number): PeerJobResult;
  /** Stop the node: attached applications get a clear error. */
  stop(): void;
}

let seq = 0;

export function startSimNode(opts: SimNodeOptions = {}): SimNode {
  const a = loadAddon() as unknown as SimNodeAddon;
  const p = opts.path ?? path.join(os.tmpdir(), `braid-sim-node-${process.pid}-${seq++}.sock`);
  const r = a.simNodeStart({ ...opts, path: p });
  let stopped = false;
  return {
    path: p,
    nodeAddress: r.nodeAddress,
    peerAddress: r.peerAddress,
    echoPort: r.echoPort,
    stats: () => a.simNodeStats(r.id),
    peerConnect: (port, bytes, seed = 1) => a.simNodePeerConnect(r.id, port, bytes, seed),
    peerResult: (job) => a.simNodePeerResult(r.id, job),
    stop: () => {
      if (stopped) return;
      stopped = true;
      a.simNodeStop(r.id);
    },
  };
}
