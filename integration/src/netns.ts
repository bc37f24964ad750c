/**
 * Network namespaces and veth pairs for tests and benchmarks.
 *
 * Every name carries the prefix `bdt` and the creating process id
 * (namespaces `bdt-<pid>-<tag>`, interfaces `bdt<id><n><a|b>`, at most 15
 * characters), so that `sweepStale()` can remove what a crashed run left
 * behind: namespaces whose creator is gone (deleting a namespace deletes its
 * veth ends) and DPDK runtime directories `/var/run/dpdk/bdt-*` of dead
 * processes.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const NS_PREFIX = 'bdt';

/** Run a command, throwing with its stderr on failure; returns stdout. */
export function sh(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(input === undefined ? {} : { input }),
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr ?? '').trim() || err.message}`);
  }
}

/** Run a command inside namespace ns. */
export function nsSh(ns: string, cmd: string, args: string[]): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The namespaces that exist now. */
export function listNamespaces(): string[] {
  const out = sh('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n): n is string => !!n);
}

/** Remove leftovers of runs whose process is gone (or, with all, every
 * namespace and DPDK directory carrying the prefix). */
export function sweepStale(all = false): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const m = /^bdt-(\d+)-/.exec(ns);
    if (!m) continue;
    if (all || !alive(Number(m[1]))) {
      try {
        sh('ip', ['netns', 'del', ns]);
        removed.push(ns);
      } catch {
        /* gone already */
      }
    }
  }
  const dpdkDir = '/var/run/dpdk';
  if (fs.existsSync(dpdkDir)) {
    for (const d of fs.readdirSync(dpdkDir)) {
      const m = /^bdt-(\d+)-/.exec(d);
      if (m && (all || !alive(Number(m[1])))) {
        fs.rmSync(path.join(dpdkDir, d), { recursive: true, force: true });
        removed.push(path.join(dpdkDir, d));
      }
    }
  }
  return removed;
}

export interface Veth {
  /** Interface names: a in nsA, b in nsB. */
  a: string;
  b: string;
  nsA: string;
  nsB: string;
}

/**
 * A set of namespaces and veth pairs owned by one test; `destroy()` removes
 * them all (and is safe to call twice). Also sweeps stale leftovers on
 * creation.
 */
export class Testbed {
  readonly id: string;
  readonly namespaces: string[] = [];
  readonly files: string[] = [];
  readonly children = new Set<ChildProcess>();
  private nveth = 0;

  constructor() {
    sweepStale();
    this.id = crypto.randomBytes(2).toString('hex');
  }

  /** A DPDK --file-prefix that sweepStale recognises. */
  filePrefix(tag: string): string {
    return `${NS_PREFIX}-${process.pid}-${this.id}${tag}`;
  }

  /** A path under /tmp removed by destroy(). */
  tmpPath(tag: string): string {
    const p = path.join('/tmp', `${NS_PREFIX}-${process.pid}-${this.id}-${tag}`);
    this.files.push(p);
    return p;
  }

  namespace(tag: string): string {
    const ns = `${NS_PREFIX}-${process.pid}-${this.id}-${tag}`;
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    nsSh(ns, 'ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** A veth pair between two namespaces, both ends up, IPv6 off (quiet). */
  veth(nsA: string, nsB: string): Veth {
    const n = this.nveth++;
    const base = `${NS_PREFIX}${this.id}${n}`;
    const a = `${base}a`;
    const b = `${base}b`;
    sh('ip', ['link', 'add', a, 'netns', nsA, 'type', 'veth', 'peer', 'name', b, 'netns', nsB]);
    for (const [ns, dev] of [
      [nsA, a],
      [nsB, b],
    ] as const) {
      try {
        nsSh(ns, 'sysctl', ['-q', '-w', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
      } catch {
        /* IPv6 may be compiled out */
      }
      nsSh(ns, 'ip', ['link', 'set', dev, 'up']);
    }
    return { a, b, nsA, nsB };
  }

  /** Give a kernel interface an address. */
  address(ns: string, dev: string, cidr: string): void {
    nsSh(ns, 'ip', ['addr', 'add', cidr, 'dev', dev]);
  }

  /** Checksum offload, TSO and GSO off: every frame MTU-sized with a
   * finished checksum (needed on kernel interfaces facing a Braid port). */
  offloadsOff(ns: string, dev: string): void {
    nsSh(ns, 'ethtool', ['-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off']);
    try {
      nsSh(ns, 'ethtool', ['-K', dev, 'gro', 'off']);
    } catch {
      /* not every kernel lets gro be set on veth */
    }
  }

  /** A token bucket on dev's egress (rate in Mbit/s). */
  tbf(ns: string, dev: string, rateMbit: number, burstKb = 32, latencyMs = 50): void {
    nsSh(ns, 'tc', [
      'qdisc',
      'replace',
      'dev',
      dev,
      'root',
      'tbf',
      'rate',
      `${rateMbit}mbit`,
      'burst',
      `${burstKb}kb`,
      'latency',
      `${latencyMs}ms`,
    ]);
  }

  /** Spawn a process inside ns (tracked: destroy() kills it). */
  spawnIn(ns: string | null, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = ns
      ? spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'pipe', ...opts })
      : spawn(cmd, args, { stdio: 'pipe', ...opts });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  async destroy(): Promise<void> {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    await new Promise((r) => setTimeout(r, this.children.size ? 100 : 0));
    for (const ns of this.namespaces.splice(0)) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
    for (const f of this.files.splice(0)) fs.rmSync(f, { recursive: true, force: true });
    const dpdkDir = '/var/run/dpdk';
    if (fs.existsSync(dpdkDir)) {
      const mine = `${NS_PREFIX}-${process.pid}-${this.id}`;
      for (const d of fs.readdirSync(dpdkDir)) {
        if (d.startsWith(mine)) fs.rmSync(path.join(dpdkDir, d), { recursive: true, force: true });
      }
    }
  }
}
