/**
 * `braid demo` (`npm run demo`): the testbed, NATS, the controller, two
 * Braid nodes and an SDK application over three paths; a path blackholed
 * mid-transfer; a summary; everything removed (integration/src/demo.ts).
 */
import { parseArgs } from 'node:util';
import { renderSummary, runDemo } from '../../integration/src/demo';

const HELP = `Usage: braid demo [--seconds 45] [--rate 50] [--rtt 10] [--blackhole-at 15]
                  [--restore-at 30] [--path 1] [--name demo] [--keep] [--json]

Brings up a client and a server host (network namespaces) joined by three
paths through the DPDK link emulator, NATS with JetStream and the controller
on a management network, and a \`braid node\` on each host. An SDK client
streams a hashed byte stream to an SDK server over one MPTCP connection with
a subflow per path, while the terminal shows each subflow's throughput, RTT
and window as the controller sees them. Mid-transfer one path is blackholed:
the connection carries on over the others and the controller's tuning loop
demotes the dark subflow to backup; later the path comes back, and the
controller sets the subflow regular again once it delivers. A summary
(bytes, rate, the longest gap at the application, SHA-256 at both ends, what
the controller did) ends it, and everything is removed (unless --keep).

Needs root, DPDK and nats-server (\`bash ops/bootstrap\` installs them).
Exit status 0 when every byte arrived intact.

Options:
  --seconds S        how long the client streams (default 45)
  --rate MBIT        each path's rate (default 50)
  --rtt MS           each path's round-trip time (default 10)
  --blackhole-at S   when the path goes dark (default 15)
  --restore-at S     when it comes back (default 30; past --seconds: never)
  --path I           which path (0..2, default 1)
  --name NAME        testbed name (default demo)
  --keep             leave the testbed up at the end
  --json             print the summary as JSON on stdout as well
`;

export async function demoMain(argv: string[]): Promise<number> {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: {
        seconds: { type: 'string', default: '45' },
        rate: { type: 'string', default: '50' },
        rtt: { type: 'string', default: '10' },
        'blackhole-at': { type: 'string', default: '15' },
        'restore-at': { type: 'string', default: '30' },
        path: { type: 'string', default: '1' },
        name: { type: 'string', default: 'demo' },
        keep: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`braid demo: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const num = (k: string, s: string, lo: number, hi: number): number => {
    const n = Number(s);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new Error(`--${k} must be ${lo}..${hi}`);
    return n;
  };
  let opts;
  try {
    opts = {
      name: v.name,
      seconds: num('seconds', v.seconds, 5, 3600),
      rateMbps: num('rate', v.rate, 1, 10000),
      rttMs: num('rtt', v.rtt, 0, 1000),
      blackholeAt: num('blackhole-at', v['blackhole-at'], 0, 3600),
      restoreAt: num('restore-at', v['restore-at'], 0, 3600),
      blackholePath: num('path', v.path, 0, 2),
      keep: !!v.keep,
      tty: !!process.stdout.isTTY,
    };
  } catch (e) {
    process.stderr.write(`braid demo: ${(e as Error).message}\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('braid demo: needs root (network namespaces, DPDK)\n');
    return 2;
  }
  const s = await runDemo(opts, (line) => process.stdout.write(line));
  process.stdout.write(renderSummary(s).join('\n') + '\n');
  if (v.json) process.stdout.write(JSON.stringify(s) + '\n');
  return s.ok ? 0 : 1;
}
