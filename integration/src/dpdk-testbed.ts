/**
 * Test topologies for the DPDK runtime: a Braid engine on a veth end
 * (net_af_packet) facing a kernel namespace, two Braid engines over
 * net_memif or over veth. Every piece is owned by a Testbed and goes away
 * with `tb.destroy()`.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { ADDON_PATH } from '../../native/src/addon';
import { fromJson } from '../../native/src/json';
import { repoRoot } from '../../ops/src/paths';
import { afPacketVdev, memifVdev, type RuntimeConfig } from '../../native/src/runtime';
import { EngineProc } from './engine-proc';
import { nsSh, type Testbed, type Veth } from './netns';
import type { PerfResult } from '../../ops/cli/perf';

let subnet = 0;
/** A fresh 10.x.y.0/24 per topology (x from the pid, so that parallel runs
 * on one machine do not collide inside their own namespaces either way). */
export function nextSubnet(): string {
  subnet++;
  return `10.${100 + (process.pid % 100)}.${subnet % 250}`;
}

/** braidKernelPair: the CPU(s) Braid's workers are pinned to (workerCpus). */
export interface AfPacketOptions extends EngineOptions {
  workerCpus?: number[];
}

export interface BraidKernel {
  nsBraid: string;
  nsKernel: string;
  veth: Veth;
  braidAddr: string;
  kernelAddr: string;
  engine: EngineProc;
}

export interface EngineOptions {
  workers?: number;
  config?: Partial<RuntimeConfig>;
  pins?: Array<[number, number]>;
  memoryMb?: number;
  /** Extra net_af_packet devargs, e.g. `qdisc_bypass=0` (so that a tbf on
   * Braid's own veth end shapes what Braid sends). */
  afPacketExtra?: string;
  /** Braid's port(s): IP MTU (memif: both ends, with buffers to fit), and
   * the kernel end as its gateway. */
  mtu?: number;
  viaGateway?: boolean;
}

/** Braid <-> Braid over memif: per-engine port settings. */
export interface MemifOptions extends EngineOptions {
  /** IP MTU of engine a's and b's ports (instead of `mtu`, both). */
  mtus?: [number, number];
  /** The ports' checksum setting (a and b). */
  checksums?: ['on' | 'off', 'on' | 'off'];
  /** memif buffers (`bsize`) that hold a frame of the port's MTU ('fit',
   * the default), or the PMD's 2048 bytes (refused above MTU 2030). */
  memifBufs?: 'fit' | 'default';
  /** The CPU of engine a's and b's workers (default: all float). */
  workerCpus?: [number, number];
  /** Engine b's end (the memif client) with the PMD's zero-copy=yes. */
  zeroCopy?: boolean;
}

/** A Braid engine in one namespace on net_af_packet, a kernel interface in
 * another, joined by a veth pair with the kernel's offloads off. */
export async function braidKernelPair(
  tb: Testbed,
  opts: AfPacketOptions = {},
): Promise<BraidKernel> {
  const net = nextSubnet();
  const nsBraid = tb.namespace('braid');
  const nsKernel = tb.namespace('kern');
  const veth = tb.veth(nsBraid, nsKernel);
  tb.offloadsOff(nsKernel, veth.b);
  tb.offloadsOff(nsBraid, veth.a);
  const kernelAddr = `${net}.1`;
  const braidAddr = `${net}.2`;
  tb.address(nsKernel, veth.b, `${kernelAddr}/24`);
  // A jumbo MTU on the kernel's end too (Braid's port sets its own end).
  if (opts.mtu && opts.mtu > 1500)
    nsSh(nsKernel, 'ip', ['link', 'set', veth.b, 'mtu', String(opts.mtu)]);
  const workers = opts.workers ?? 1;
  const engine = EngineProc.spawn(tb, nsBraid);
  await engine.open(
    {
      vdevs: [afPacketVdev(0, veth.a, workers, opts.afPacketExtra, opts.mtu)],
      filePrefix: tb.filePrefix('b'),
      memoryMb: opts.memoryMb ?? 256,
      workers,
      ...(opts.workerCpus ? { workerCpus: opts.workerCpus } : {}),
    },
    {
      workers,
      ports: [
        {
          dev: 'net_af_packet0',
          address: `${braidAddr}/24`,
          ...(opts.mtu ? { mtu: opts.mtu } : {}),
          ...(opts.viaGateway ? { gateway: kernelAddr } : {}),
        },
      ],
      ...opts.config,
    },
    opts.pins,
  );
  return { nsBraid, nsKernel, veth, braidAddr, kernelAddr, engine };
}

export interface BraidKernelPaths {
  nsBraid: string;
  nsKernel: string;
  /** Path i: a veth pair on its own /24 (Braid's port i on end a). */
  paths: Array<{ veth: Veth; braidAddr: string; kernelAddr: string; kernelDev: string }>;
  engine: EngineProc;
}

/** A Braid engine with `n` ports (net_af_packet, one per path) facing one
 * kernel namespace over `n` veth pairs, each path on its own subnet. */
export async function braidKernelPaths(
  tb: Testbed,
  n: number,
  opts: EngineOptions = {},
): Promise<BraidKernelPaths> {
  const nsBraid = tb.namespace('braid');
  const nsKernel = tb.namespace('kern');
  const paths = Array.from({ length: n }, () => {
    const net = nextSubnet();
    const veth = tb.veth(nsBraid, nsKernel);
    tb.offloadsOff(nsKernel, veth.b);
    tb.offloadsOff(nsBraid, veth.a);
    tb.address(nsKernel, veth.b, `${net}.1/24`);
    return { veth, braidAddr: `${net}.2`, kernelAddr: `${net}.1`, kernelDev: veth.b };
  });
  const workers = opts.workers ?? 1;
  const engine = EngineProc.spawn(tb, nsBraid);
  await engine.open(
    {
      vdevs: paths.map((p, i) => afPacketVdev(i, p.veth.a, workers, opts.afPacketExtra)),
      filePrefix: tb.filePrefix('b'),
      memoryMb: opts.memoryMb ?? 256,
      workers,
    },
    {
      workers,
      ports: paths.map((p, i) => ({ dev: `net_af_packet${i}`, address: `${p.braidAddr}/24` })),
      ...opts.config,
    },
    opts.pins,
  );
  return { nsBraid, nsKernel, paths, engine };
}

export interface BraidBraid {
  a: EngineProc;
  b: EngineProc;
  addrA: string;
  addrB: string;
}

/** Two engines joined by net_memif (both in this namespace) or by a veth
 * pair (each in its own namespace, net_af_packet). */
export async function braidBraidPair(
  tb: Testbed,
  via: 'memif' | 'veth',
  opts: MemifOptions = {},
): Promise<BraidBraid> {
  const net = nextSubnet();
  const addrA = `${net}.1`;
  const addrB = `${net}.2`;
  const workers = opts.workers ?? 1;
  const base = { workers, ...opts.config };
  if (via === 'memif') {
    const sock = tb.tmpPath('memif.sock');
    const side = (i: 0 | 1) => {
      const mtu = opts.mtus?.[i] ?? opts.mtu;
      return {
        port: {
          dev: 'net_memif0',
          ...(mtu ? { mtu } : {}),
          ...(opts.checksums ? { checksum: opts.checksums[i] } : {}),
        },
        vdev: opts.memifBufs === 'default' || !mtu ? {} : { mtu },
      };
    };
    const [sa, sb] = [side(0), side(1)];
    const a = EngineProc.spawn(tb, null);
    const b = EngineProc.spawn(tb, null);
    // The memif client does not retry: the server's socket must exist first.
    await a.open(
      {
        vdevs: [memifVdev(0, 'server', sock, sa.vdev)],
        filePrefix: tb.filePrefix('ma'),
        memoryMb: opts.memoryMb ?? 256,
        workers,
        ...(opts.workerCpus ? { workerCpus: [opts.workerCpus[0]] } : {}),
      },
      { ...base, ports: [{ ...sa.port, address: `${addrA}/24` }] },
      opts.pins,
    );
    await b.open(
      {
        vdevs: [memifVdev(0, 'client', sock, { ...sb.vdev, zeroCopy: opts.zeroCopy ?? false })],
        filePrefix: tb.filePrefix('mb'),
        memoryMb: opts.memoryMb ?? 256,
        workers,
        ...(opts.workerCpus ? { workerCpus: [opts.workerCpus[1]] } : {}),
      },
      { ...base, ports: [{ ...sb.port, address: `${addrB}/24` }] },
      opts.pins,
    );
    await waitLinks([a, b]);
    return { a, b, addrA, addrB };
  }
  const nsA = tb.namespace('ba');
  const nsB = tb.namespace('bb');
  const v = tb.veth(nsA, nsB);
  tb.offloadsOff(nsA, v.a);
  tb.offloadsOff(nsB, v.b);
  const a = EngineProc.spawn(tb, nsA);
  const b = EngineProc.spawn(tb, nsB);
  await Promise.all([
    a.open(
      {
        vdevs: [afPacketVdev(0, v.a, workers)],
        filePrefix: tb.filePrefix('va'),
        memoryMb: opts.memoryMb ?? 256,
        workers,
      },
      { ...base, ports: [{ dev: 'net_af_packet0', address: `${addrA}/24` }] },
      opts.pins,
    ),
    b.open(
      {
        vdevs: [afPacketVdev(0, v.b, workers)],
        filePrefix: tb.filePrefix('vb'),
        memoryMb: opts.memoryMb ?? 256,
        workers,
      },
      { ...base, ports: [{ dev: 'net_af_packet0', address: `${addrB}/24` }] },
      opts.pins,
    ),
  ]);
  await waitLinks([a, b]);
  return { a, b, addrA, addrB };
}

/** Wait until every engine's first port reports its link up. */
export async function waitLinks(engines: EngineProc[], timeoutMs = 10000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (const e of engines) {
    while (!(await e.stats()).ports[0]!.linkUp) {
      if (Date.now() > end) throw new Error('link did not come up');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Run a Node script inside a namespace; resolves with its stdout. */
export function nodeIn(
  ns: string,
  script: string,
  args: string[] = [],
  timeoutMs = 60000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', ns, process.execPath, '-e', script, '--', ...args],
      { timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, BRAID_ADDON: ADDON_PATH } },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/** ICMP echo from the kernel of namespace ns (through the addon's raw
 * socket helper): the replies that came back. */
export async function kernelPing(
  ns: string,
  addr: string,
  count: number,
  timeoutMs = 1000,
): Promise<Array<{ seq: number; rttUs: number }>> {
  const out = await nodeIn(
    ns,
    `const a = require(process.env.BRAID_ADDON);
     console.log(JSON.stringify(a.kernelPing(${JSON.stringify(addr)}, ${count}, ${timeoutMs})));`,
  );
  return JSON.parse(out) as Array<{ seq: number; rttUs: number }>;
}

/** One ARP request for addr from the kernel interface iface of namespace
 * ns (an AF_PACKET socket, like `arping -c 1`): the MAC of every reply that
 * came back within timeoutMs. */
export async function kernelArping(
  ns: string,
  iface: string,
  addr: string,
  timeoutMs = 500,
): Promise<string[]> {
  const out = await nodeIn(
    ns,
    `const a = require(process.env.BRAID_ADDON);
     console.log(JSON.stringify(a.kernelArping(${JSON.stringify(iface)}, ${JSON.stringify(addr)}, ${timeoutMs})));`,
  );
  return (JSON.parse(out) as { macs: string[] }).macs;
}

/** The kernel end of a raw device-rate measurement, run by a process in
 * namespace ns: 'count' reads every frame of ethertype 0x88b5 arriving on
 * iface for durationMs, 'send' sends such frames to dstMac for durationMs. */
export async function kernelFrames(
  ns: string,
  iface: string,
  spec: { mode: 'count' | 'send'; dstMac?: string; frameLen?: number; durationMs: number },
): Promise<{ frames: number; seconds: number }> {
  const out = await nodeIn(
    ns,
    `const a = require(process.env.BRAID_ADDON);
     console.log(JSON.stringify(a.kernelFrames(${JSON.stringify(iface)}, ${JSON.stringify(spec)})));`,
    [],
    spec.durationMs + 60000,
  );
  return JSON.parse(out) as { frames: number; seconds: number };
}

/** The compiled `braid` CLI entry (for kernel peers: `braid perf --kernel`). */
export function braidCli(): string {
  return path.join(repoRoot(), 'dist', 'ops', 'cli', 'main.js');
}

export interface PerfProc {
  /** Resolves once the process says it is ready (servers). */
  ready: Promise<void>;
  /** Resolves with the parsed JSON result and exit code. */
  result: Promise<{ code: number; json: PerfResult | null; stderr: string }>;
}

/** Run `braid perf ARGS --json` in namespace ns (null: here). */
export function perfIn(tb: Testbed, ns: string | null, args: string[]): PerfProc {
  const child = tb.spawnIn(ns, process.execPath, [braidCli(), 'perf', ...args, '--json']);
  let out = '';
  let err = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.includes('ready on port')) onReady();
  });
  const result = new Promise<{ code: number; json: PerfResult | null; stderr: string }>((res) => {
    child.on('exit', (code) => {
      onReady();
      let json: PerfResult | null = null;
      try {
        json = fromJson(out.slice(out.indexOf('{'))) as PerfResult;
      } catch {
        json = null;
      }
      res({ code: code ?? -1, json, stderr: err });
    });
  });
  return { ready, result };
}

/** The C bulk tool (native/tools/tcpbulk.c, built with the addon). */
export const TCPBULK_PATH = path.join(path.dirname(ADDON_PATH), 'braid-tcpbulk');

export interface TcpBulkResult {
  bytes: number;
  seconds: number;
  /** Hex SHA-256 of the bytes ('' with --no-hash). */
  sha256: string;
  /** User + system CPU of the tool during the transfer. */
  cpu_seconds: number;
  /** A source's hashing of its stream before the transfer. */
  hash_cpu_seconds: number;
}

export interface TcpBulkProc {
  /** Resolves once a sink listens (a source: at once). */
  ready: Promise<void>;
  result: Promise<TcpBulkResult>;
}

/** `braid-tcpbulk sink|source ARGS` in namespace ns: the kernel's end of a
 * bulk transfer in C (recv()/send() with a large buffer, SHA-256 through
 * libcrypto), so that no JavaScript reader or writer paces the kernel. */
export function tcpBulkIn(
  tb: Testbed,
  ns: string | null,
  mode: 'sink' | 'source',
  args: string[],
): TcpBulkProc {
  const child = tb.spawnIn(ns, TCPBULK_PATH, [mode, ...args]);
  let out = '';
  let err = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  if (mode === 'source') onReady();
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.includes('ready on port')) onReady();
  });
  const result = new Promise<TcpBulkResult>((res, rej) => {
    child.on('error', rej);
    child.on('exit', (code) => {
      onReady();
      if (code !== 0) rej(new Error(`braid-tcpbulk ${mode} exited ${code}: ${err.trim()}`));
      else res(JSON.parse(out) as TcpBulkResult);
    });
  });
  return { ready, result };
}
