/**
 * The multi-path testbed: a client host and a server host (network
 * namespaces) joined by P paths, each path through the DPDK link emulator
 * (one `braid emu` process in an emulator namespace bridging all P pairs).
 *
 *   path mode (default), path i = 0..P-1, subnet 10.200.(i+1).0/24:
 *     client  p<i> 10.200.(i+1).1 ── c<i> [emu ns] s<i> ── p<i> 10.200.(i+1).2  server
 *
 *   ecmp mode (one address pair; the path is picked by an L4 hash):
 *     client  h0 10.201.0.1(+.2,.3…) ── r0 [router rc] p<i> 10.201.(i+1).1 ── c<i> [emu] s<i>
 *       ── p<i> 10.201.(i+1).2 [router rs] r0 ── h0 10.201.100.1  server
 *     rc and rs hold a multipath route over the P paths with
 *     net.ipv4.fib_multipath_hash_policy=1 (hash of addresses, protocol and
 *     ports): two subflows that differ only by source port land on
 *     different paths as often as the hash spreads them.
 *
 * Host modes: `kernel` (kernel TCP and MPTCP: limits and `subflow`
 * endpoints set up, source-address policy routing so that the subflow from
 * the address of path i leaves by path i), `braid` (the path interfaces are
 * left to a Braid engine such as `braid perf --vdev net_af_packet0,iface=p0`
 * with an address of its own, e.g. 10.200.1.11), `braid-node` (a `braid node`
 * in the host with one net_af_packet port per path interface, addresses
 * 10.200.(i+1).21 on the client and .22 on the server, its app socket and
 * admin socket in the testbed's directory and, with the controller, NATS on
 * the management network; not with --ecmp).
 *
 * Everything `up` makes is recorded in a state file (default directory
 * /run/braid/testbed, `<name>.json`) before it is made, so that `down`
 * removes it even after a crash. Names carry the prefix `btb-<name>-`
 * (namespaces) so that a lost state file can still be recovered from.
 * Nothing is routed outside the namespaces made here; the controller (when
 * asked) listens on 127.0.0.1 of the host namespace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { emuRequest, type EmuShow } from '../../native/src/emu';
import { fromJson } from '../../native/src/json';
import type { EmuLink } from '../../schemas/gen/types';
import { repoRoot } from '../../ops/src/paths';
import type { PerfResult } from '../../ops/cli/perf';
import { listNamespaces, nsSh, sh } from './netns';
import {
  NATS_SERVER_BIN,
  freePort,
  natsServerConf,
  waitNatsReady,
} from '../../ops/src/nats-server';

export type HostMode = 'kernel' | 'braid' | 'braid-node';

export interface PathSpec {
  /** Round-trip time in ms (split evenly: half each direction). */
  rtt_ms: number;
  /** Random loss, 0..1, each direction. */
  loss: number;
  /** Rate in Mbit/s, each direction (0: unlimited). */
  rate_mbps: number;
  /** Queue in front of the rate in bytes (0: about 2 BDP, at least 64 KB). */
  queue_bytes?: number;
}

export interface TestbedNode {
  id: string;
  config: string;
  appSocket: string;
  adminSocket: string;
  addrs: string[];
}

export interface TestbedOptions {
  name: string;
  paths: PathSpec[];
  ecmp?: boolean;
  clientMode?: HostMode;
  serverMode?: HostMode;
  controller?: boolean;
  stateDir?: string;
  force?: boolean;
}

export interface TestbedProcess {
  role: string;
  pid: number;
  ns: string | null;
  /** What /proc/<pid>/cmdline contained at start (to never kill a reused pid). */
  cmdline: string;
  log?: string;
  /** How to start it again (`restartProcess`): argv and the log line that says ready. */
  argv?: string[];
  readyText?: string;
}

export interface TestbedPath {
  index: number;
  spec: PathSpec;
  /** Interfaces and addresses of the path's hosts. */
  client: { dev: string; addr: string };
  server: { dev: string; addr: string };
  /** Emulator pair index and interfaces. */
  emu: { pair: number; a: string; b: string };
}

export interface TestbedState {
  version: 1;
  name: string;
  created: string;
  ecmp: boolean;
  clientMode: HostMode;
  serverMode: HostMode;
  namespaces: { client: string; server: string; emu: string; routers: string[] };
  /** The address the client connects to, and the client's first address. */
  serverAddr: string;
  clientAddr: string;
  /** A free address on the client's first path for a Braid engine (mode braid). */
  braidClientAddr: string;
  subnetPrefix: number;
  paths: TestbedPath[];
  emuSocket: string;
  processes: TestbedProcess[];
  files: string[];
  /** Filled when a controller was started: its API (host namespace), the
   * NATS URL as the host sees it and as the client/server namespaces see it. */
  controller?: { api: string; nats: string; natsFromHosts: string };
  /** The management network (with --controller): a bridge in the host
   * namespace with the NATS address, and one veth (`mg0`) into each host. */
  mgmt?: { bridge: string; subnet: string; gateway: string; client: string; server: string };
  /** `braid node` of each braid-node host: id, sockets, addresses (path order). */
  nodes?: Partial<Record<'client' | 'server', TestbedNode>>;
  /** Links made in the host namespace (deleted by name on down). */
  rootLinks?: string[];
  /** What could not be done (honestly reported by status). */
  notes: string[];
}

export const DEFAULT_STATE_DIR = '/run/braid/testbed';
const NAME_RE = /^[a-z0-9]{1,8}$/;

export function cliPath(): string {
  return path.join(repoRoot(), 'dist', 'ops', 'cli', 'main.js');
}

/** "10ms" / "10" → 10; "1%" → 0.01, "0.01" → 0.01; "100mbit" / "1gbit" → Mbit/s. */
export function parseMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|us)?$/.exec(s.trim());
  if (!m) throw new Error(`bad time "${s}" (e.g. 10ms)`);
  const v = Number(m[1]);
  return m[2] === 's' ? v * 1000 : m[2] === 'us' ? v / 1000 : v;
}

export function parseLoss(s: string): number {
  const t = s.trim();
  const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(t);
  if (!m) throw new Error(`bad loss "${s}" (e.g. 1% or 0.01)`);
  const v = m[2] ? Number(m[1]) / 100 : Number(m[1]);
  if (v < 0 || v > 1) throw new Error(`loss out of range: "${s}"`);
  return v;
}

export function parseRate(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(kbit|mbit|gbit)?$/i.exec(s.trim());
  if (!m) throw new Error(`bad rate "${s}" (e.g. 100mbit)`);
  const v = Number(m[1]);
  const unit = (m[2] ?? 'mbit').toLowerCase();
  return unit === 'kbit' ? v / 1000 : unit === 'gbit' ? v * 1000 : v;
}

/** `1:rtt=20ms,loss=0.5%,rate=50mbit` → [1, partial spec] (paths from 0). */
export function parsePathOverride(s: string): [number, Partial<PathSpec>] {
  const m = /^(\d+):(.+)$/.exec(s);
  if (!m) throw new Error(`bad --path "${s}" (e.g. 1:rtt=20ms,loss=0.5%)`);
  const spec: Partial<PathSpec> = {};
  for (const kv of m[2]!.split(',')) {
    const [k, v] = kv.split('=');
    if (!k || v === undefined) throw new Error(`bad --path item "${kv}"`);
    if (k === 'rtt') spec.rtt_ms = parseMs(v);
    else if (k === 'loss') spec.loss = parseLoss(v);
    else if (k === 'rate') spec.rate_mbps = parseRate(v);
    else if (k === 'queue') spec.queue_bytes = Number(v);
    else throw new Error(`unknown --path key "${k}" (rtt, loss, rate, queue)`);
  }
  return [Number(m[1]), spec];
}

/** The emulator's one-way link for a path spec. */
export function emuLinkOf(spec: PathSpec): EmuLink {
  const oneWay = spec.rtt_ms / 2;
  // A queue of about two bandwidth-delay products (at least 64 KB) when not given.
  const bdp = spec.rate_mbps > 0 ? (spec.rate_mbps * 1e6 * Math.max(spec.rtt_ms, 1)) / 8e3 : 0;
  const queue = spec.queue_bytes ?? (spec.rate_mbps > 0 ? Math.max(65536, Math.round(2 * bdp)) : 0);
  return { delay_ms: oneWay, loss: spec.loss, rate_mbps: spec.rate_mbps, queue_bytes: queue };
}

export function statePath(name: string, stateDir = DEFAULT_STATE_DIR): string {
  return path.join(stateDir, `${name}.json`);
}

export function readState(name: string, stateDir = DEFAULT_STATE_DIR): TestbedState | null {
  try {
    return JSON.parse(fs.readFileSync(statePath(name, stateDir), 'utf8')) as TestbedState;
  } catch {
    return null;
  }
}

function writeState(st: TestbedState, stateDir: string): void {
  fs.mkdirSync(stateDir, { recursive: true });
  const p = statePath(st.name, stateDir);
  fs.writeFileSync(`${p}.tmp`, JSON.stringify(st, null, 2));
  fs.renameSync(`${p}.tmp`, p);
}

function cmdlineOf(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return null;
  }
}

/** Whether a recorded process still runs (same pid and same command line). */
export function processAlive(p: TestbedProcess): boolean {
  const c = cmdlineOf(p.pid);
  if (c === null) return false;
  try {
    const stat = fs.readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false;
  } catch {
    return false;
  }
  return c === p.cmdline;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start a detached process (it outlives `braid testbed up`) with its
 * output in a log file; wait until the log has `readyText`. */
async function startDetached(
  ns: string | null,
  role: string,
  args: string[],
  log: string,
  readyText: string,
  timeoutMs: number,
): Promise<{ pid: number; out: string }> {
  const startAt = fs.existsSync(log) ? fs.statSync(log).size : 0;
  const fd = fs.openSync(log, 'a');
  // args[0] is a script for Node unless it is an absolute executable path.
  const full = args[0]?.endsWith('.js') ? [process.execPath, ...args] : args;
  const argv = ns ? ['netns', 'exec', ns, ...full] : full.slice(1);
  const child = spawn(ns ? 'ip' : full[0]!, argv, {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  child.unref();
  const pid = child.pid!;
  const end = Date.now() + timeoutMs;
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? -1));
  for (;;) {
    const out = fs.readFileSync(log).subarray(startAt).toString('utf8');
    if (out.includes(readyText)) return { pid, out };
    if (exited !== null) throw new Error(`${role} exited (${exited}): ${out.trim().slice(-600)}`);
    if (Date.now() > end) {
      try {
        process.kill(pid, 'SIGKILL'); // never leave an unrecorded process behind
      } catch {
        /* gone */
      }
      throw new Error(`${role} not ready after ${timeoutMs} ms: ${out}`);
    }
    await sleep(50);
  }
}

/** startDetached, recorded in the state (restartable) once it is ready. */
export async function startRecorded(
  st: TestbedState,
  stateDir: string,
  ns: string | null,
  role: string,
  argv: string[],
  log: string,
  readyText: string,
  timeoutMs: number,
): Promise<{ pid: number; out: string }> {
  const r = await startDetached(ns, role, argv, log, readyText, timeoutMs);
  st.processes.push({
    role,
    pid: r.pid,
    ns,
    cmdline: cmdlineOf(r.pid) ?? '',
    log,
    argv,
    readyText,
  });
  writeState(st, stateDir);
  return r;
}

function sysctl(ns: string, key: string, value: string | number): void {
  nsSh(ns, 'sysctl', ['-q', '-w', `${key}=${value}`]);
}

function vethPair(nsA: string, a: string, nsB: string, b: string): void {
  sh('ip', ['-n', nsA, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', nsB]);
  for (const [ns, dev] of [
    [nsA, a],
    [nsB, b],
  ] as const) {
    try {
      sysctl(ns, `net.ipv6.conf.${dev}.disable_ipv6`, 1);
    } catch {
      /* IPv6 compiled out */
    }
    // Every interface here faces a DPDK port somewhere on its way: frames must be
    // MTU-sized with finished checksums.
    nsSh(ns, 'ethtool', ['-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off']);
    try {
      nsSh(ns, 'ethtool', ['-K', dev, 'gro', 'off']);
    } catch {
      /* not settable everywhere */
    }
    sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }
}

function newNamespace(ns: string): void {
  sh('ip', ['netns', 'add', ns]);
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  try {
    sysctl(ns, 'net.ipv6.conf.all.disable_ipv6', 1);
  } catch {
    /* IPv6 compiled out */
  }
  sysctl(ns, 'net.ipv4.conf.all.rp_filter', 0);
  sysctl(ns, 'net.ipv4.conf.default.rp_filter', 0);
}

/** Kernel MPTCP on a host: limits, and one `subflow` endpoint per extra address. */
function kernelMptcp(ns: string, extra: Array<{ addr: string; dev: string }>, paths: number): void {
  sysctl(ns, 'net.mptcp.enabled', 1);
  sh('ip', ['-n', ns, 'mptcp', 'endpoint', 'flush']);
  const n = Math.min(8, Math.max(paths, 1));
  sh('ip', [
    '-n',
    ns,
    'mptcp',
    'limits',
    'set',
    'subflow',
    String(n),
    'add_addr_accepted',
    String(n),
  ]);
  for (const e of extra) {
    sh('ip', ['-n', ns, 'mptcp', 'endpoint', 'add', e.addr, 'dev', e.dev, 'subflow']);
  }
}

/** Bring a testbed up. Refuses when one with that name is up (unless force). */
export async function up(opts: TestbedOptions): Promise<TestbedState> {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  if (!NAME_RE.test(opts.name)) throw new Error(`testbed name must match ${NAME_RE.source}`);
  const P = opts.paths.length;
  if (P < 1 || P > 8) throw new Error('1 to 8 paths');
  const clientMode = opts.clientMode ?? 'kernel';
  const serverMode = opts.serverMode ?? 'kernel';
  for (const m of [clientMode, serverMode]) {
    if (m === 'braid-node' && opts.ecmp) {
      throw new Error('host mode braid-node needs one interface per path (not --ecmp)');
    }
  }
  const prefix = `btb-${opts.name}-`;
  const existing = readState(opts.name, stateDir);
  const leftovers = listNamespaces().filter((n) => n.startsWith(prefix));
  if (existing || leftovers.length) {
    if (!opts.force) {
      throw new Error(
        `testbed "${opts.name}" is already up (${existing ? statePath(opts.name, stateDir) : leftovers.join(', ')}); ` +
          '`braid testbed down` it first, or pass --force',
      );
    }
    await down(opts.name, stateDir);
  }
  const ecmp = !!opts.ecmp;
  const sp = ecmp ? 201 : 200;
  const filesDir = path.join(stateDir, opts.name);
  fs.mkdirSync(filesDir, { recursive: true });
  const st: TestbedState = {
    version: 1,
    name: opts.name,
    created: new Date().toISOString(),
    ecmp,
    clientMode,
    serverMode,
    namespaces: {
      client: `${prefix}cli`,
      server: `${prefix}srv`,
      emu: `${prefix}emu`,
      routers: ecmp ? [`${prefix}rc`, `${prefix}rs`] : [],
    },
    serverAddr: ecmp ? `10.${sp}.100.1` : `10.${sp}.1.2`,
    clientAddr: ecmp ? `10.${sp}.0.1` : `10.${sp}.1.1`,
    braidClientAddr: ecmp ? `10.${sp}.0.11` : `10.${sp}.1.11`,
    subnetPrefix: sp,
    paths: [],
    emuSocket: path.join(filesDir, 'emu.sock'),
    processes: [],
    files: [filesDir],
    notes: [],
  };
  writeState(st, stateDir); // recorded before anything is made
  try {
    const { client: nsC, server: nsS, emu: nsE } = st.namespaces;
    for (const ns of [nsC, nsS, nsE, ...st.namespaces.routers]) newNamespace(ns);
    // With ecmp, the path ends live in the routers; the hosts hang off them.
    const [left, right] = ecmp ? (st.namespaces.routers as [string, string]) : [nsC, nsS];
    for (let i = 0; i < P; i++) {
      vethPair(left, `p${i}`, nsE, `c${i}`);
      vethPair(nsE, `s${i}`, right, `p${i}`);
      const ca = `10.${sp}.${i + 1}.1`;
      const sa = `10.${sp}.${i + 1}.2`;
      sh('ip', ['-n', left, 'addr', 'add', `${ca}/24`, 'dev', `p${i}`]);
      sh('ip', ['-n', right, 'addr', 'add', `${sa}/24`, 'dev', `p${i}`]);
      st.paths.push({
        index: i,
        spec: opts.paths[i]!,
        client: { dev: `p${i}`, addr: ca },
        server: { dev: `p${i}`, addr: sa },
        emu: { pair: i, a: `c${i}`, b: `s${i}` },
      });
    }
    if (ecmp) {
      const [rc, rs] = st.namespaces.routers as [string, string];
      vethPair(nsC, 'h0', rc, 'r0');
      vethPair(rs, 'r0', nsS, 'h0');
      sh('ip', ['-n', nsC, 'addr', 'add', `10.${sp}.0.1/24`, 'dev', 'h0']);
      sh('ip', ['-n', rc, 'addr', 'add', `10.${sp}.0.254/24`, 'dev', 'r0']);
      sh('ip', ['-n', rs, 'addr', 'add', `10.${sp}.100.254/24`, 'dev', 'r0']);
      sh('ip', ['-n', nsS, 'addr', 'add', `10.${sp}.100.1/24`, 'dev', 'h0']);
      sh('ip', ['-n', nsC, 'route', 'add', `10.${sp}.0.0/16`, 'via', `10.${sp}.0.254`]);
      sh('ip', ['-n', nsS, 'route', 'add', `10.${sp}.0.0/16`, 'via', `10.${sp}.100.254`]);
      for (const [r, dst, peer] of [
        [rc, `10.${sp}.100.0/24`, 2],
        [rs, `10.${sp}.0.0/24`, 1],
      ] as const) {
        sysctl(r, 'net.ipv4.ip_forward', 1);
        sysctl(r, 'net.ipv4.fib_multipath_hash_policy', 1);
        const hops: string[] = [];
        for (let i = 0; i < P; i++) {
          hops.push('nexthop', 'via', `10.${sp}.${i + 1}.${peer}`, 'dev', `p${i}`, 'weight', '1');
        }
        sh('ip', ['-n', r, 'route', 'add', dst, ...hops]);
      }
      // Extra client addresses on the one interface (kernel MPTCP opens a
      // subflow per address; the hash spreads them).
      for (let i = 1; i < P; i++) {
        sh('ip', ['-n', nsC, 'addr', 'add', `10.${sp}.0.${i + 1}/24`, 'dev', 'h0']);
      }
    } else {
      // Source-address routing on the client: what leaves from the address of
      // path i takes path i (also towards the server's address on path 0).
      for (let i = 1; i < P; i++) {
        const table = String(100 + i);
        sh('ip', ['-n', nsC, 'route', 'add', `10.${sp}.0.0/16`, 'dev', `p${i}`, 'table', table]);
        sh('ip', ['-n', nsC, 'rule', 'add', 'from', `10.${sp}.${i + 1}.1`, 'table', table]);
      }
    }
    if (clientMode === 'kernel') {
      const extra = ecmp
        ? Array.from({ length: P - 1 }, (_, i) => ({ addr: `10.${sp}.0.${i + 2}`, dev: 'h0' }))
        : st.paths.slice(1).map((p) => ({ addr: p.client.addr, dev: p.client.dev }));
      kernelMptcp(nsC, extra, P);
    } else if (clientMode === 'braid') {
      st.notes.push(
        `client in braid mode: a Braid engine takes ${ecmp ? 'h0' : 'p0'} with address ${st.braidClientAddr}`,
      );
    }
    if (serverMode === 'kernel') kernelMptcp(nsS, [], P);
    else if (serverMode === 'braid') {
      st.notes.push('server in braid mode: a Braid engine takes its path interfaces');
    }
    writeState(st, stateDir);

    // The emulator: one process bridging every pair.
    const cfgFile = path.join(filesDir, 'emu.json');
    fs.writeFileSync(
      cfgFile,
      JSON.stringify({
        pairs: st.paths.map((p) => ({ a: p.emu.a, b: p.emu.b, both: emuLinkOf(p.spec) })),
        control_socket: st.emuSocket,
        memory_mb: 128 + 32 * P,
      }),
    );
    const emuLog = path.join(filesDir, 'emu.log');
    const emu = await startDetached(
      nsE,
      'emulator',
      [cliPath(), 'emu', 'run', '--config', cfgFile],
      emuLog,
      '"ready":true',
      30000,
    );
    st.processes.push({
      role: 'emu',
      pid: emu.pid,
      ns: nsE,
      cmdline: cmdlineOf(emu.pid) ?? '',
      log: emuLog,
    });
    writeState(st, stateDir);

    if (opts.controller) await startControlPlane(st, stateDir, filesDir);
    const hosts = (['server', 'client'] as const).filter(
      (h) => (h === 'client' ? clientMode : serverMode) === 'braid-node',
    );
    await Promise.all(hosts.map((h) => startNodeOn(st, stateDir, filesDir, h)));
    return st;
  } catch (e) {
    await down(opts.name, stateDir).catch(() => undefined);
    throw e;
  }
}

/** A /24 in 10.199.0.0/16 that no interface of the host namespace uses. */
function freeMgmtSubnet(): number {
  const used = sh('ip', ['-4', '-o', 'addr', 'show']);
  for (let x = 0; x < 255; x++) {
    if (!used.includes(` 10.199.${x}.`)) return x;
  }
  throw new Error('no free management subnet in 10.199.0.0/16');
}

/** The management network, a nats-server with JetStream on it and the
 * controller (both in the host namespace). Nodes inside the client and
 * server namespaces reach NATS at the bridge's address. */
async function startControlPlane(
  st: TestbedState,
  stateDir: string,
  filesDir: string,
): Promise<void> {
  const x = freeMgmtSubnet();
  const bridge = `btb-${st.name}-mg`;
  const gw = `10.199.${x}.1`;
  st.rootLinks = [bridge];
  st.mgmt = {
    bridge,
    subnet: `10.199.${x}.0/24`,
    gateway: gw,
    client: `10.199.${x}.2`,
    server: `10.199.${x}.3`,
  };
  writeState(st, stateDir); // recorded before it is made
  sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
  sh('ip', ['addr', 'add', `${gw}/24`, 'dev', bridge]);
  sh('ip', ['link', 'set', bridge, 'up']);
  for (const [host, addr] of [
    ['client', st.mgmt.client],
    ['server', st.mgmt.server],
  ] as const) {
    const ns = st.namespaces[host];
    const dev = `btb-${st.name}-m${host[0]}`;
    sh('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', 'mg0', 'netns', ns]);
    sh('ip', ['link', 'set', dev, 'master', bridge, 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'mg0']);
    sh('ip', ['-n', ns, 'link', 'set', 'mg0', 'up']);
  }
  // NATS in its own process (so that tests and the demo can restart it).
  const natsPort = await freePort(gw);
  const monitor = await freePort(gw);
  const natsDir = path.join(filesDir, 'nats');
  fs.mkdirSync(path.join(natsDir, 'js'), { recursive: true });
  const conf = path.join(natsDir, 'nats-server.conf');
  fs.writeFileSync(
    conf,
    natsServerConf({
      host: gw,
      port: natsPort,
      monitorPort: monitor,
      dataDir: path.join(natsDir, 'js'),
    }),
  );
  const natsLog = path.join(filesDir, 'nats-server.log');
  const natsArgv = [NATS_SERVER_BIN, '-c', conf];
  const natsReady = 'Server is ready';
  await startRecorded(st, stateDir, null, 'nats-server', natsArgv, natsLog, natsReady, 15000);
  if (!(await waitNatsReady(gw, monitor, 15000)))
    throw new Error('nats-server: JetStream not ready');
  const natsUrl = `nats://${gw}:${natsPort}`;
  const log = path.join(filesDir, 'controller.log');
  const ctlArgv = [
    cliPath(),
    'controller',
    '--nats',
    natsUrl,
    '--http-port',
    String(await freePort()),
    '--log-level',
    'warn',
  ];
  const ctlReady = '"controller":';
  const ctl = await startRecorded(st, stateDir, null, 'controller', ctlArgv, log, ctlReady, 30000);
  const line = ctl.out.split('\n').find((l) => l.includes(ctlReady))!;
  const info = JSON.parse(line) as { api: string; nats: string };
  st.controller = { api: info.api, nats: natsUrl, natsFromHosts: natsUrl };
  writeState(st, stateDir);
}

/** Start a `braid node` on a host of a testbed that is up (any host mode but
 * ecmp: the node takes the path interfaces with addresses of its own beside
 * the kernel's, so kernel and Braid traffic can share the paths). */
export async function addNode(
  st: TestbedState,
  host: 'client' | 'server',
  stateDir = DEFAULT_STATE_DIR,
): Promise<TestbedNode> {
  if (st.ecmp) throw new Error('a braid node needs one interface per path (not --ecmp)');
  if (st.nodes?.[host]) return st.nodes[host]!;
  await startNodeOn(st, stateDir, path.join(stateDir, st.name), host);
  return st.nodes![host]!;
}

/** The `braid node` of a braid-node host (role `node-client` / `node-server`). */
async function startNodeOn(
  st: TestbedState,
  stateDir: string,
  filesDir: string,
  host: 'client' | 'server',
): Promise<void> {
  const id = `${st.name}-${host}`;
  const dir = path.join(filesDir, `node-${host}`);
  fs.mkdirSync(dir, { recursive: true });
  const last = host === 'client' ? 21 : 22; // .11 is braidClientAddr (braid mode)
  const addrs = st.paths.map((p) => `10.${st.subnetPrefix}.${p.index + 1}.${last}`);
  const node: TestbedNode = {
    id,
    config: path.join(dir, 'node.json'),
    appSocket: path.join(dir, 'app.sock'),
    adminSocket: path.join(dir, 'admin.sock'),
    addrs,
  };
  const cfg = {
    id,
    workers: 1,
    eal: { memory_mb: 256, args: [`--file-prefix=braid-${st.name}-${host}`] },
    ports: st.paths.map((p, i) => ({
      name: `p${p.index}`,
      device: `net_af_packet${i},iface=${p[host].dev},qpairs=1`,
      address: `${addrs[i]}/24`,
    })),
    app_socket: node.appSocket,
    admin_socket: node.adminSocket,
    ...(st.controller ? { nats: { urls: [st.controller.natsFromHosts] } } : {}),
  };
  fs.writeFileSync(node.config, JSON.stringify(cfg, null, 2));
  st.nodes = { ...st.nodes, [host]: node };
  await startRecorded(
    st,
    stateDir,
    st.namespaces[host],
    `node-${host}`,
    [cliPath(), 'node', '--config', node.config],
    path.join(filesDir, `node-${host}.log`),
    'node started',
    60000,
  );
}

/** Stop one of the testbed's recorded processes (by role) and start it
 * again with the same arguments (e.g. a NATS or controller restart). */
export async function restartProcess(
  st: TestbedState,
  role: string,
  stateDir = DEFAULT_STATE_DIR,
  opts: { downMs?: number; signal?: NodeJS.Signals } = {},
): Promise<TestbedProcess> {
  const i = st.processes.findIndex((p) => p.role === role);
  const p = st.processes[i];
  if (!p) throw new Error(`testbed "${st.name}" has no process "${role}"`);
  if (!p.argv || !p.readyText) throw new Error(`process "${role}" cannot be restarted`);
  if (opts.signal === 'SIGKILL' && processAlive(p)) {
    process.kill(p.pid, 'SIGKILL');
    for (let k = 0; k < 40 && processAlive(p); k++) await sleep(50);
  }
  await killProcess(p);
  if (opts.downMs) await sleep(opts.downMs);
  const log = p.log ?? path.join(stateDir, st.name, `${role}.log`);
  const r = await startDetached(p.ns, role, p.argv, log, p.readyText, 30000);
  const np: TestbedProcess = { ...p, pid: r.pid, cmdline: cmdlineOf(r.pid) ?? '' };
  st.processes[i] = np;
  writeState(st, stateDir);
  return np;
}

async function killProcess(p: TestbedProcess): Promise<void> {
  if (!processAlive(p)) return;
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 40 && processAlive(p); i++) await sleep(50);
  if (processAlive(p)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    for (let i = 0; i < 20 && processAlive(p); i++) await sleep(50);
  }
}

/** What `down` removed. */
export interface DownResult {
  name: string;
  killed: number[];
  namespaces: string[];
  files: string[];
  hadState: boolean;
}

/** Remove everything a testbed made (also after a crash, also without its
 * state file: the namespaces are found by their prefix and the processes
 * running inside them are killed). */
export async function down(name: string, stateDir = DEFAULT_STATE_DIR): Promise<DownResult> {
  if (!NAME_RE.test(name)) throw new Error(`testbed name must match ${NAME_RE.source}`);
  const st = readState(name, stateDir);
  const res: DownResult = { name, killed: [], namespaces: [], files: [], hadState: !!st };
  // The emulator is asked to stop first (it closes its ports and EAL cleanly).
  const emu = st?.processes.find((p) => p.role === 'emu');
  if (st && emu && processAlive(emu)) {
    await emuRequest(st.emuSocket, { op: 'stop' }, 2000).catch(() => undefined);
    for (let i = 0; i < 40 && processAlive(emu); i++) await sleep(50);
  }
  for (const p of [...(st?.processes ?? [])].reverse()) {
    if (processAlive(p)) res.killed.push(p.pid);
    await killProcess(p);
  }
  const prefix = `btb-${name}-`;
  const nss = new Set([
    ...(st
      ? [st.namespaces.client, st.namespaces.server, st.namespaces.emu, ...st.namespaces.routers]
      : []),
    ...listNamespaces().filter((n) => n.startsWith(prefix)),
  ]);
  for (const ns of nss) {
    // Anything still running in the namespace (unrecorded, e.g. a crashed `up`).
    try {
      for (const pid of sh('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
          res.killed.push(Number(pid));
        } catch {
          /* gone */
        }
      }
    } catch {
      /* namespace gone */
    }
    try {
      sh('ip', ['netns', 'del', ns]);
      res.namespaces.push(ns);
    } catch {
      /* gone */
    }
  }
  // Links of the host namespace (the management bridge and its veths).
  const rootLinks = new Set(st?.rootLinks ?? []);
  for (const l of sh('ip', ['-o', 'link', 'show']).split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(l);
    if (m && m[1]!.startsWith(`btb-${name}-m`)) rootLinks.add(m[1]!);
  }
  for (const l of rootLinks) {
    try {
      sh('ip', ['link', 'del', l]);
      res.namespaces.push(`link ${l}`);
    } catch {
      /* gone (veths go with their namespace) */
    }
  }
  const files = new Set([...(st?.files ?? []), path.join(stateDir, name)]);
  for (const f of files) {
    if (fs.existsSync(f)) {
      fs.rmSync(f, { recursive: true, force: true });
      res.files.push(f);
    }
  }
  // DPDK runtime directories of the emulator (its pid is in the prefix) and
  // of the nodes (braid-NAME-client / -server).
  const dpdkDir = '/var/run/dpdk';
  for (const h of ['client', 'server']) {
    const d = path.join(dpdkDir, `braid-${name}-${h}`);
    if (fs.existsSync(d)) {
      fs.rmSync(d, { recursive: true, force: true });
      res.files.push(d);
    }
  }
  for (const p of st?.processes ?? []) {
    if (!fs.existsSync(dpdkDir)) break;
    for (const d of fs.readdirSync(dpdkDir)) {
      if (d.startsWith(`braid-${p.pid}-`)) {
        fs.rmSync(path.join(dpdkDir, d), { recursive: true, force: true });
        res.files.push(path.join(dpdkDir, d));
      }
    }
  }
  const sf = statePath(name, stateDir);
  if (fs.existsSync(sf)) {
    fs.rmSync(sf, { force: true });
    res.files.push(sf);
  }
  return res;
}

export interface TestbedStatus {
  name: string;
  up: boolean;
  state: TestbedState | null;
  processes: Array<TestbedProcess & { alive: boolean }>;
  namespaces: Array<{ name: string; exists: boolean }>;
  emulator: EmuShow | { error: string } | null;
  mptcp: { client: string; server: string } | null;
}

export async function status(name: string, stateDir = DEFAULT_STATE_DIR): Promise<TestbedStatus> {
  const st = readState(name, stateDir);
  if (!st) {
    return {
      name,
      up: false,
      state: null,
      processes: [],
      namespaces: [],
      emulator: null,
      mptcp: null,
    };
  }
  const have = new Set(listNamespaces());
  const nss = [
    st.namespaces.client,
    st.namespaces.server,
    st.namespaces.emu,
    ...st.namespaces.routers,
  ];
  const processes = st.processes.map((p) => ({ ...p, alive: processAlive(p) }));
  let emulator: TestbedStatus['emulator'] = null;
  try {
    emulator = ((await emuRequest(st.emuSocket, { op: 'show' }, 2000)) as { show: EmuShow }).show;
  } catch (e) {
    emulator = { error: (e as Error).message };
  }
  let mptcp: TestbedStatus['mptcp'] = null;
  try {
    mptcp = {
      client: sh('ip', ['-n', st.namespaces.client, 'mptcp', 'endpoint', 'show']).trim(),
      server: sh('ip', ['-n', st.namespaces.server, 'mptcp', 'endpoint', 'show']).trim(),
    };
  } catch {
    mptcp = null;
  }
  return {
    name,
    up: nss.every((n) => have.has(n)) && processes.every((p) => p.alive),
    state: st,
    processes,
    namespaces: nss.map((n) => ({ name: n, exists: have.has(n) })),
    emulator,
    mptcp,
  };
}

/** Change one path at run time (both directions unless dir says otherwise). */
export async function setPath(
  st: TestbedState,
  index: number,
  change: Partial<PathSpec> & { down?: boolean; extra_delay_ms?: number },
  dir: 'ab' | 'ba' | 'both' = 'both',
): Promise<void> {
  const p = st.paths[index];
  if (!p) throw new Error(`no path ${index} (there are ${st.paths.length})`);
  const link: EmuLink = {};
  if (change.rtt_ms !== undefined) link.delay_ms = change.rtt_ms / 2;
  if (change.loss !== undefined) link.loss = change.loss;
  if (change.rate_mbps !== undefined) link.rate_mbps = change.rate_mbps;
  if (change.queue_bytes !== undefined) link.queue_bytes = change.queue_bytes;
  if (change.down !== undefined) link.down = change.down;
  const r = (await emuRequest(st.emuSocket, { op: 'set', pair: p.emu.pair, dir, link })) as {
    ok: boolean;
    error?: string;
  };
  if (!r.ok) throw new Error(`emulator refused: ${r.error ?? '?'}`);
}

/** Run a command in one of the testbed's hosts (synchronously; returns stdout). */
export function hostSh(
  st: TestbedState,
  host: 'client' | 'server',
  cmd: string,
  args: string[],
): string {
  return nsSh(st.namespaces[host], cmd, args);
}

/** A named MIB counter (nstat -az) in a namespace. */
export function nstat(ns: string, counter: string): number {
  const out = nsSh(ns, 'nstat', ['-az', counter]);
  const m = new RegExp(`^${counter}\\s+(\\d+)`, 'm').exec(out);
  return m ? Number(m[1]) : 0;
}

/** A process run in one of the testbed's hosts. */
export interface HostProc {
  child: ChildProcess;
  /** Resolves once a server says it is ready (or exits). */
  ready: Promise<void>;
  result: Promise<{ code: number; json: PerfResult | null; stdout: string; stderr: string }>;
}

/** Run `braid perf ARGS --json` in a host; `mptcp` wraps it in `mptcpize run`
 * (kernel MPTCP for an unmodified program). */
export function perfOn(
  st: TestbedState,
  host: 'client' | 'server',
  args: string[],
  mptcp = false,
  timeoutMs = 120000,
): HostProc {
  const argv = [process.execPath, cliPath(), 'perf', ...args, '--json'];
  return spawnOn(st, host, mptcp ? ['mptcpize', 'run', ...argv] : argv, 'ready on port', timeoutMs);
}

/** Run ARGV in a host; `readyText` on stderr or stdout resolves `ready`. */
export function spawnOn(
  st: TestbedState,
  host: 'client' | 'server',
  argv: string[],
  readyText: string,
  timeoutMs = 120000,
): HostProc {
  const child = spawn('ip', ['netns', 'exec', st.namespaces[host], ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes(readyText)) onReady();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.includes(readyText)) onReady();
  });
  const result = new Promise<{
    code: number;
    json: PerfResult | null;
    stdout: string;
    stderr: string;
  }>((res) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      onReady();
      let json: PerfResult | null = null;
      try {
        json = fromJson(out.slice(out.indexOf('{'))) as PerfResult;
      } catch {
        json = null;
      }
      res({ code: code ?? -1, json, stdout: out, stderr: err });
    });
  });
  return { child, ready, result };
}
