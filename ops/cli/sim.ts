import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { toJson } from '../../native/src/json';
import { ScenarioError, type SimResult, runScenario } from '../../native/src/sim';

const HELP = `Usage: braid sim --scenario FILE [--json] [--seed N]

Runs a scenario in Braid's virtual-time simulator: two hosts running Braid's
own TCP/IP stack, joined by emulated paths (rate, delay, jitter, loss,
reordering, duplication, corruption, blackholes), under a virtual clock.
The same seed gives the same run. The scenario format is described in
native/SIMULATOR.md; examples are in integration/scenarios/.

  --scenario FILE  the scenario (JSON)
  --seed N         override the scenario's seed
  --json           print the whole result as JSON (protocol mptcp: the 64-bit
                   data sequence numbers in mptcp[].info, mptcpi_write_seq,
                   mptcpi_snd_una and mptcpi_rcv_nxt, are strings of decimal
                   digits, exact)
  -h, --help       this help

Exit status: 0 when the workload completed (and, for bulk, the SHA-256 of
what arrived matches what was sent), 1 when it did not, 2 for a bad
scenario or bad arguments.
`;

function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

function summary(r: SimResult): string {
  const lines: string[] = [];
  const ok = r.completed && r.sha256_match !== false;
  lines.push(
    `${r.name ? r.name + ': ' : ''}${ok ? 'completed' : 'NOT completed'}${r.error ? ` (${r.error})` : ''}`,
  );
  lines.push(
    `  ${fmtBytes(r.bytes)} in ${r.duration_s.toFixed(3)} s virtual: ${r.goodput_mbps.toFixed(1)} Mbit/s goodput`,
  );
  if (r.sha256_match !== null) lines.push(`  sha256 ${r.sha256_match ? 'match' : 'MISMATCH'}`);
  if (r.transactions !== undefined) {
    lines.push(
      `  ${r.transactions} transactions, latency p50 ${r.p50_us} us, p99 ${r.p99_us} us, max ${r.max_us} us`,
    );
  }
  lines.push(`  retransmits ${r.retransmits}`);
  for (const c of r.connections) {
    lines.push(
      `  ${c.role}: ${c.state_name} ${c.cc} rtt ${c.rtt} us cwnd ${c.snd_cwnd} retrans ${c.total_retrans}`,
    );
  }
  r.paths.forEach((p, i) => {
    for (const [dir, l] of [
      ['c->s', p.client_to_server],
      ['s->c', p.server_to_client],
    ] as const) {
      const d = l.dropped;
      lines.push(
        `  path ${i} ${dir}: ${l.sent_pkts} sent, ${l.delivered_pkts} delivered, dropped ` +
          `loss ${d.loss} queue ${d.queue} blackhole ${d.blackhole}, ` +
          `reordered ${l.reordered} duplicated ${l.duplicated} corrupted ${l.corrupted}`,
      );
    }
  });
  lines.push(
    `  ${r.events} events, ${r.frames} frames in ${r.wall_s.toFixed(3)} s wall ` +
      `(${r.wall_s > 0 ? Math.round(r.frames / r.wall_s) : 0} frames/s)`,
  );
  return lines.join('\n') + '\n';
}

export async function simMain(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        scenario: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`braid sim: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.scenario) {
    process.stderr.write(`braid sim: --scenario FILE is required\n\n${HELP}`);
    return 2;
  }
  let scenario: Record<string, unknown>;
  try {
    scenario = JSON.parse(fs.readFileSync(values.scenario, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    process.stderr.write(`braid sim: ${values.scenario}: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.seed !== undefined) {
    const seed = Number(values.seed);
    if (!Number.isSafeInteger(seed) || seed < 0) {
      process.stderr.write('braid sim: --seed must be a whole number >= 0\n');
      return 2;
    }
    scenario.seed = seed;
  }
  let result: SimResult;
  try {
    result = await runScenario(scenario as never);
  } catch (e) {
    const bad = e instanceof ScenarioError;
    process.stderr.write(`braid sim: ${values.scenario}: ${(e as Error).message}\n`);
    return bad ? 2 : 1;
  }
  process.stdout.write(values.json ? toJson(result, 2) + '\n' : summary(result));
  return result.completed && result.sha256_match !== false ? 0 : 1;
}
