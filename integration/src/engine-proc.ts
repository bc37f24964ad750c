/**
 * A Braid engine in its own process (EAL starts once per process), driven
 * over stdin/stdout with JSON lines. Tests and benchmarks start one per
 * network namespace with `EngineProc.spawn()`. The mptcp_info sequence
 * numbers of job results (BigInt) cross as decimal strings and come back as
 * BigInt (native/src/json.ts).
 *
 * DPDK logs to stdout too, so replies are the lines that start with `@@bd `.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import type { EalOptions } from '../../native/src/dpdk';
import { fromJson, toJson } from '../../native/src/json';
import {
  Runtime,
  type BlastResult,
  type BlastSpec,
  type JobResult,
  type JobSpec,
  type RuntimeConfig,
  type RuntimeStats,
} from '../../native/src/runtime';
import { repoRoot } from '../../ops/src/paths';
import type { Testbed } from './netns';

const TAG = '@@bd ';

interface Request {
  id: number;
  op: string;
  args?: unknown;
}

/** The child's main loop. */
async function childMain(): Promise<void> {
  let rt: Runtime | null = null;
  const reply = (id: number, ok: boolean, v: unknown): void => {
    process.stdout.write(
      TAG + toJson(ok ? { id, ok, result: v } : { id, ok, error: String(v) }) + '\n',
    );
  };
  const rl = readline.createInterface({ input: process.stdin });
  const close = (): void => {
    try {
      rt?.close();
    } catch {
      /* exiting anyway */
    }
    rt = null;
  };
  process.on('SIGTERM', () => {
    close();
    process.exit(0);
  });
  rl.on('close', () => {
    close();
    process.exit(0);
  });
  for await (const line of rl) {
    let req: Request;
    try {
      req = JSON.parse(line) as Request;
    } catch {
      continue;
    }
    try {
      const a = req.args as Record<string, unknown>;
      switch (req.op) {
        case 'open': {
          const { eal, config, pins } = a as {
            eal: EalOptions & { workers?: number; workerCpus?: number[] };
            config: RuntimeConfig;
            pins?: Array<[number, number]>;
          };
          rt = Runtime.open(eal, config, pins ?? []);
          reply(req.id, true, { filePrefix: rt.filePrefix, stats: rt.stats() });
          break;
        }
        case 'jobStart':
          reply(req.id, true, need(rt).startJob(a as unknown as JobSpec));
          break;
        case 'jobPoll':
          reply(req.id, true, need(rt).pollJob(a.id as number));
          break;
        case 'jobStop':
          reply(req.id, true, need(rt).stopJob(a.id as number));
          break;
        case 'jobWait':
          reply(req.id, true, await need(rt).waitJob(a.id as number, a.timeoutMs as number));
          break;
        case 'stats':
          reply(req.id, true, need(rt).stats());
          break;
        case 'owner':
          reply(
            req.id,
            true,
            need(rt).owner(a.raddr as string, a.rport as number, a.lport as number),
          );
          break;
        case 'blast':
          reply(req.id, true, need(rt).blast(a as unknown as BlastSpec));
          break;
        case 'ephBlock':
          reply(req.id, true, need(rt).ephemeralBlock(a.worker as number));
          break;
        case 'close':
          close();
          reply(req.id, true, null);
          process.exit(0);
          break;
        default:
          reply(req.id, false, `unknown op ${req.op}`);
      }
    } catch (e) {
      reply(req.id, false, e instanceof Error ? e.message : String(e));
    }
  }
}

function need<T>(v: T | null): T {
  if (!v) throw new Error('the engine is not open');
  return v;
}

/** user + system CPU seconds of a process (from /proc/PID/stat). */
export function processCpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields after the command: state(0) ... utime(11) stime(12)
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** A process's user and system CPU seconds so far (system: the kernel's work
 * in its system calls, e.g. an af_packet port's sendto()). */
export function processCpuSplit(pid: number): { user: number; system: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
}

/** The parent's handle on an engine process. */
export class EngineProc {
  private next = 1;
  private pending = new Map<number, { res: (v: unknown) => void; rej: (e: Error) => void }>();
  private exited = false;
  readonly log: string[] = [];

  private constructor(readonly child: ChildProcess) {
    const rl = readline.createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      if (!line.startsWith(TAG)) {
        this.log.push(line);
        return;
      }
      const m = fromJson(line.slice(TAG.length)) as {
        id: number;
        ok: boolean;
        result?: unknown;
        error?: string;
      };
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.res(m.result);
      else p.rej(new Error(m.error));
    });
    child.stderr!.on('data', (d: Buffer) => this.log.push(d.toString()));
    child.on('exit', (code, sig) => {
      this.exited = true;
      for (const p of this.pending.values())
        p.rej(
          new Error(`engine process exited (${code ?? sig}): ${this.log.join('').slice(-2000)}`),
        );
      this.pending.clear();
    });
  }

  /** Start an engine process in namespace ns (null: this namespace). */
  static spawn(tb: Testbed, ns: string | null): EngineProc {
    const compiled = path.join(repoRoot(), 'dist', 'integration', 'src', 'engine-proc.js');
    if (!fs.existsSync(compiled)) {
      throw new Error(`${compiled} is missing: run ops/bootstrap (or npx tsc -p .)`);
    }
    return new EngineProc(tb.spawnIn(ns, process.execPath, [compiled, '--child']));
  }

  call<T>(op: string, args?: unknown, timeoutMs = 60000): Promise<T> {
    if (this.exited) return Promise.reject(new Error('engine process has exited'));
    const id = this.next++;
    return new Promise<T>((res, rej) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        rej(new Error(`engine ${op}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        res: (v) => {
          clearTimeout(t);
          res(v as T);
        },
        rej: (e) => {
          clearTimeout(t);
          rej(e);
        },
      });
      this.child.stdin!.write(JSON.stringify({ id, op, args }) + '\n');
    });
  }

  open(
    eal: EalOptions & { workers?: number; workerCpus?: number[] },
    config: RuntimeConfig,
    pins?: Array<[number, number]>,
  ): Promise<{ filePrefix: string; stats: RuntimeStats }> {
    return this.call('open', { eal, config, pins });
  }

  startJob(spec: JobSpec): Promise<number> {
    return this.call('jobStart', spec);
  }

  pollJob(id: number): Promise<JobResult> {
    return this.call('jobPoll', { id });
  }

  stopJob(id: number): Promise<JobResult> {
    return this.call('jobStop', { id });
  }

  waitJob(id: number, timeoutMs: number): Promise<JobResult & { timedOut: boolean }> {
    return this.call('jobWait', { id, timeoutMs }, timeoutMs + 30000);
  }

  blast(spec: BlastSpec): Promise<BlastResult> {
    return this.call('blast', spec, (spec.durationMs ?? 1000) + 30000);
  }

  /** CPU seconds (user + system) the engine process has used so far. */
  cpuSeconds(): number {
    return processCpuSeconds(this.child.pid!);
  }

  cpuSplit(): { user: number; system: number } {
    return processCpuSplit(this.child.pid!);
  }

  stats(): Promise<RuntimeStats> {
    return this.call('stats');
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    try {
      await this.call('close', undefined, 15000);
    } catch {
      this.child.kill('SIGKILL');
    }
    await gone;
  }
}

if (require.main === module && process.argv.includes('--child')) {
  childMain().catch((e: unknown) => {
    process.stderr.write(`engine-proc: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
