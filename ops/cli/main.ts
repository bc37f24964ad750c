/**
 * The `braid` command line. Each subcommand lives in its own module under
 * ops/cli/ and is loaded only when it runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../src/paths';

export type Subcommand = (argv: string[]) => Promise<number>;

interface Entry {
  summary: string;
  load: () => Subcommand;
}

/** Load `ops/cli/<file>` only when its command runs (start-up stays quick). */
function loadCommand(file: string, fn: string): Subcommand {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(`./${file}`) as Record<string, unknown>;
  const sub = mod[fn];
  if (typeof sub !== 'function') throw new Error(`ops/cli/${file} does not export ${fn}`);
  return sub as Subcommand;
}

const commands: Record<string, Entry> = {
  dpdk: {
    summary: 'DPDK on this host: `braid dpdk info` starts EAL and lists its ports',
    load: () => loadCommand('dpdk', 'dpdkMain'),
  },
  sim: {
    summary: 'run a scenario in the virtual-time simulator (--scenario FILE [--json])',
    load: () => loadCommand('sim', 'simMain'),
  },
  perf: {
    summary: 'iperf3-like bulk and request/response on DPDK ports (--kernel: kernel TCP), --json',
    load: () => loadCommand('perf', 'perfMain'),
  },
  node: {
    summary: 'run the dataplane node (--config FILE): engine, app socket, admin socket, NATS agent',
    load: () => loadCommand('node', 'nodeMain'),
  },
  nc: {
    summary: 'netcat over Braid: an SDK app on the local node (default) or --kernel',
    load: () => loadCommand('nc', 'ncMain'),
  },
  ss: {
    summary: "a node's connections and subflows, like ss -ti / ss -M (-l, -a, -i, -M, --json)",
    load: () => loadCommand('node', 'ssMain'),
  },
  nstat: {
    summary: "a node's counters with the kernel's names (Tcp*, TcpExt*, MPTcpExt*), like nstat -a",
    load: () => loadCommand('node', 'nstatMain'),
  },
  controller: {
    summary: 'run the SDN controller (NATS southbound, HTTP northbound API)',
    load: () => loadCommand('controller', 'controllerMain'),
  },
  ctl: {
    summary: "the controller's northbound API from the shell (nodes, connections, policies, …)",
    load: () => loadCommand('ctl', 'ctlMain'),
  },
  emu: {
    summary: 'the DPDK link emulator: rate, delay, loss, blackhole per direction, set at run time',
    load: () => loadCommand('emu', 'emuMain'),
  },
  testbed: {
    summary:
      'the multi-path testbed: namespaces, paths through the link emulator (up|down|status|set)',
    load: () => loadCommand('testbed', 'testbedMain'),
  },
  bench: {
    summary: "benchmarks: `braid bench seed` reproduces the seed talk's charts (JSON, SVG, report)",
    load: () => loadCommand('bench', 'benchMain'),
  },
  demo: {
    summary: 'the end-to-end demo (testbed, NATS, controller, two nodes, an SDK app)',
    load: () => loadCommand('demo', 'demoMain'),
  },
};

export function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(
    ([name, e]) => `  ${name.padEnd(width)}  ${e.summary}`,
  );
  return [
    'Usage: braid <command> [options]',
    '',
    'Braid: user-space Multipath TCP (RFC 8684) on DPDK, run as a fleet.',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  -h, --help     this help (or `braid <command> --help`)',
    '  -V, --version  the version',
    '',
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(usage());
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '-V' || cmd === '--version') {
    process.stdout.write(`braid ${version()}\n`);
    return 0;
  }
  const entry = commands[cmd];
  if (!entry) {
    process.stderr.write(`braid: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  const sub = entry.load();
  return sub(rest);
}

if (require.main === module) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`braid: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
