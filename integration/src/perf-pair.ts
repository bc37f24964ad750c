/**
 * `braid perf` bulk and request/response between a server in one namespace
 * and a client in another: the measurement the benchmarks share.
 */
import { perfIn } from './dpdk-testbed';
import type { Testbed } from './netns';

export interface PairBulk {
  bytes: number;
  seconds: number;
  gbit_per_s: number;
  retransmits: number;
  /** user + system seconds of both perf processes */
  cpu_seconds: number;
  transport_path?: string;
}

export interface PairRr {
  transactions: number;
  p50_us: number;
  p99_us: number;
  mean_us: number;
  cpu_seconds: number;
}

/** 64-byte requests and responses. */
const RR = ['--mode', 'rr', '--req', '64', '--resp', '64'];

/** Bulk (no hashing) on `ports[0]`, then request/response on `ports[1]`;
 * `serverArgs` / `clientArgs` choose the stack (e.g. `--kernel`). */
export async function perfPair(
  tb: Testbed,
  nsS: string,
  nsC: string,
  host: string,
  serverArgs: string[],
  clientArgs: string[],
  bytes: number,
  rrCount: number,
  ports: [number, number],
): Promise<{ bulk: PairBulk; rr: PairRr }> {
  const [p1, p2] = ports.map(String) as [string, string];
  const srv = perfIn(tb, nsS, [...serverArgs, '-s', '-p', p1, '--no-hash']);
  await srv.ready;
  const cli = perfIn(tb, nsC, [
    ...clientArgs,
    '-c',
    host,
    '-p',
    p1,
    '-n',
    String(bytes),
    '--no-hash',
  ]);
  const [c, s] = await Promise.all([cli.result, srv.result]);
  if (!c.json || c.code !== 0)
    throw new Error(
      `bulk client failed (${c.code}): ${c.stderr.slice(-2000)} ${JSON.stringify(c.json?.end.errors)} server: ${s.stderr.slice(-1000)}`,
    );
  const e = c.json.end;
  const bulk: PairBulk = {
    bytes: e.sum_sent.bytes,
    seconds: e.sum_sent.seconds,
    gbit_per_s: e.sum_sent.bits_per_second / 1e9,
    retransmits: e.sum_sent.retransmits,
    cpu_seconds: e.cpu_seconds + (s.json?.end.cpu_seconds ?? 0),
    ...(e.streams[0]?.transport_path ? { transport_path: e.streams[0].transport_path } : {}),
  };
  const rsrv = perfIn(tb, nsS, [...serverArgs, '-s', '-p', p2, ...RR]);
  await rsrv.ready;
  const rcli = perfIn(tb, nsC, [
    ...clientArgs,
    '-c',
    host,
    '-p',
    p2,
    ...RR,
    '--count',
    String(rrCount),
  ]);
  const rc = await rcli.result;
  const rs = await rsrv.result;
  if (!rc.json?.end.rr || rc.code !== 0)
    throw new Error(`rr client failed (${rc.code}): ${rc.stderr.slice(-2000)}`);
  const x = rc.json.end.rr;
  return {
    bulk,
    rr: {
      transactions: x.transactions,
      p50_us: x.p50_us,
      p99_us: x.p99_us,
      mean_us: x.mean_us,
      cpu_seconds: rc.json.end.cpu_seconds + (rs.json?.end.cpu_seconds ?? 0),
    },
  };
}
