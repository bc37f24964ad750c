/**
 * `braid node` processes and SDK applications in network namespaces, for
 * the node tests and the node benchmark. Two nodes (each in its own
 * namespace, net_af_packet on veth ends) joined by `paths` veth pairs, one
 * subnet per path; optionally a kernel path (kernel addresses on both
 * sides) for the SDK's fallback. Everything belongs to a Testbed.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { repoRoot } from '../../ops/src/paths';
import { afPacketVdev } from '../../native/src/runtime';
import type { NodeConfig } from '../../schemas/gen/types';
import { adminRequest } from '../../dataplane/src/admin';
import { braidCli, nextSubnet } from './dpdk-testbed';
import type { Testbed } from './netns';

/** One connection of the SDK test app's client (integration/src/sdk-app.ts). */
export interface SdkConnResult {
  host: string;
  transportPath: string;
  sent: number;
  received: number;
  sentSha: string;
  echoSha: string;
  error?: string;
  localPort?: number;
  /** getInfo() at the end of the echo. */
  info?: { transport: string; mptcp: boolean; subflows: number; error?: string };
}

export interface NodeProc {
  ns: string;
  id: string;
  child: ChildProcess;
  appSocket: string;
  adminSocket: string;
  configFile: string;
  /** Every log line (parsed pino JSON). */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  admin(req: Record<string, unknown>): Promise<unknown>;
}

/** Start `braid node --config` in ns; resolves once it logged "node started". */
export async function startNode(
  tb: Testbed,
  ns: string,
  cfg: Omit<NodeConfig, 'app_socket' | 'admin_socket'>,
  timeoutMs = 30000,
): Promise<NodeProc> {
  const dir = tb.tmpPath(`node-${cfg.id}`);
  fs.mkdirSync(dir, { recursive: true });
  const appSocket = path.join(dir, 'app.sock');
  const adminSocket = path.join(dir, 'admin.sock');
  const configFile = path.join(dir, 'node.json');
  const full: NodeConfig = {
    ...cfg,
    app_socket: appSocket,
    admin_socket: adminSocket,
    eal: { ...cfg.eal, args: ['--file-prefix=' + tb.filePrefix(cfg.id), ...(cfg.eal?.args ?? [])] },
  };
  fs.writeFileSync(configFile, JSON.stringify(full, null, 2));
  const child = tb.spawnIn(ns, process.execPath, [braidCli(), 'node', '--config', configFile], {
    env: { ...process.env, BRAID_LOG_FORMAT: 'json', BRAID_LOG_LEVEL: 'info' },
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`node ${cfg.id} did not start in ${timeoutMs} ms:\n${stderr}`)),
      timeoutMs,
    );
    readline.createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr += line + '\n';
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        logs.push(o);
        if (o.msg === 'node started') {
          clearTimeout(timer);
          resolve();
        }
      } catch {
        /* EAL prints plain lines */
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node ${cfg.id} exited (${code}) before it started:\n${stderr}`));
    });
  });
  await started;
  return {
    ns,
    id: cfg.id,
    child,
    appSocket,
    adminSocket,
    configFile,
    logs,
    exited,
    admin: (req) => adminRequest(adminSocket, req),
  };
}

export interface TwoNodes {
  a: NodeProc;
  b: NodeProc;
  nsA: string;
  nsB: string;
  /** B's address on each path (A connects to these). */
  addrsB: string[];
  addrsA: string[];
  /** Kernel addresses on the kernel path (when asked for). */
  kernelA?: string;
  kernelB?: string;
}

/** Two nodes joined by `paths` veth pairs (one subnet each). */
export async function twoNodes(
  tb: Testbed,
  paths: number,
  opts: { kernelPath?: boolean; workers?: number; drainMs?: number } = {},
): Promise<TwoNodes> {
  const nsA = tb.namespace('na');
  const nsB = tb.namespace('nb');
  const addrsA: string[] = [];
  const addrsB: string[] = [];
  const portsA: NodeConfig['ports'][number][] = [];
  const portsB: NodeConfig['ports'][number][] = [];
  const workers = opts.workers ?? 1;
  for (let i = 0; i < paths; i++) {
    const v = tb.veth(nsA, nsB);
    tb.offloadsOff(nsA, v.a);
    tb.offloadsOff(nsB, v.b);
    const net = nextSubnet();
    addrsA.push(`${net}.1`);
    addrsB.push(`${net}.2`);
    portsA.push({
      name: `p${i}`,
      device: afPacketVdev(i, v.a, workers),
      address: `${net}.1/24`,
    });
    portsB.push({
      name: `p${i}`,
      device: afPacketVdev(i, v.b, workers),
      address: `${net}.2/24`,
    });
  }
  let kernelA: string | undefined;
  let kernelB: string | undefined;
  if (opts.kernelPath) {
    const v = tb.veth(nsA, nsB);
    const net = nextSubnet();
    kernelA = `${net}.1`;
    kernelB = `${net}.2`;
    tb.address(nsA, v.a, `${kernelA}/24`);
    tb.address(nsB, v.b, `${kernelB}/24`);
  }
  const common = {
    workers,
    eal: { memory_mb: 256 },
    drain_timeout_ms: opts.drainMs ?? 10000,
    channel: { fifo_kb: 256, slots: 256 },
  };
  const [a, b] = await Promise.all([
    startNode(tb, nsA, { id: `a${tb.id}`, ports: portsA as NodeConfig['ports'], ...common }),
    startNode(tb, nsB, { id: `b${tb.id}`, ports: portsB as NodeConfig['ports'], ...common }),
  ]);
  return { a, b, nsA, nsB, addrsA, addrsB, kernelA, kernelB };
}

/** The compiled SDK test application (integration/src/sdk-app.ts). */
export function sdkAppJs(): string {
  return path.join(repoRoot(), 'dist', 'integration', 'src', 'sdk-app.js');
}

export interface AppProc {
  child: ChildProcess;
  /** Every JSON line the app printed. */
  lines: Array<Record<string, unknown>>;
  /** Resolves with the first line that has `key`. */
  waitFor(key: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  stderr(): string;
}

/** Run the SDK app in ns (its node's app socket given by `socket`). */
export function sdkApp(tb: Testbed, ns: string, args: string[]): AppProc {
  const child = tb.spawnIn(ns, process.execPath, [sdkAppJs(), ...args]);
  const lines: Array<Record<string, unknown>> = [];
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      lines.push({ text: l });
    }
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const waitFor = (key: string, timeoutMs = 60000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const check = (): void => {
        const hit = lines.find((l) => key in l);
        if (hit) return resolve(hit);
        if ('fatal' in (lines.find((l) => 'fatal' in l) ?? {}))
          return reject(new Error(`sdk-app failed: ${JSON.stringify(lines)}\n${err}`));
        if (Date.now() - t0 > timeoutMs)
          return reject(new Error(`sdk-app: no "${key}" in ${timeoutMs} ms: ${err}`));
        setTimeout(check, 50);
      };
      check();
    });
  return { child, lines, waitFor, exited, stderr: () => err };
}
