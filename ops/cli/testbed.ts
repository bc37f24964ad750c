/**
 * `braid testbed up|down|status|set`: the multi-path testbed of network
 * namespaces and the link emulator (integration/src/testbed.ts).
 */
import { parseArgs } from 'node:util';
import {
  DEFAULT_STATE_DIR,
  down,
  parseLoss,
  parseMs,
  parsePathOverride,
  parseRate,
  readState,
  restartProcess,
  setPath,
  status,
  up,
  type HostMode,
  type PathSpec,
} from '../../integration/src/testbed';

const HELP = `Usage:
  braid testbed up [--name NAME] [--paths P] [--rtt 10ms] [--loss 1%] [--rate 100mbit]
                   [--path I:rtt=20ms,loss=0.5%,rate=50mbit ...] [--ecmp]
                   [--client-mode kernel|braid|braid-node] [--server-mode …]
                   [--controller] [--force] [--state-dir DIR]
  braid testbed down [--name NAME] [--state-dir DIR]
  braid testbed status [--name NAME] [--state-dir DIR]
  braid testbed set [--name NAME] --path I [--rtt MS] [--loss P] [--rate MBIT] [--down|--up]
  braid testbed restart [--name NAME] --process nats-server|controller [--kill]

A client host and a server host (network namespaces btb-NAME-cli and
btb-NAME-srv) joined by P paths (default 3), each through the DPDK link
emulator (one \`braid emu\` in btb-NAME-emu). Path i (from 0) is the subnet
10.200.(i+1).0/24: client .1, server .2. Kernel hosts get MPTCP limits and
one \`subflow\` endpoint per extra path, so kernel MPTCP uses every path;
\`ip netns exec btb-NAME-cli mptcpize run CMD\` runs an unmodified program.

--ecmp: one address pair (client 10.201.0.1, server 10.201.100.1) through two
router namespaces with a multipath route over the P paths and an L4 hash
(fib_multipath_hash_policy=1): flows that differ by ports spread over the paths.

Host modes: kernel (kernel TCP/MPTCP), braid (the path interface is left to
a Braid engine, e.g. \`braid perf --vdev net_af_packet0,iface=p0 --address
10.200.1.11/24\`), braid-node (a \`braid node\` on the host with a net_af_packet
port per path, addresses 10.200.(i+1).21 on the client and .22 on the server,
app and admin sockets in status under nodes.*; with --controller it joins
NATS on the management network; not with --ecmp).

--controller adds the control plane: a management network (a bridge
btb-NAME-mg in the host namespace on a free 10.199.X.0/24, with a veth mg0 into
the client (.2) and server (.3) hosts), a nats-server with JetStream listening
on the bridge (.1) and \`braid controller\` connected to it (API on
127.0.0.1). Nodes inside the hosts reach NATS at controller.natsFromHosts.
\`restart --process ROLE\` stops one of them (SIGTERM, or SIGKILL with --kill)
and starts it again with the same arguments and store.

The state file (DIR/NAME.json, default DIR ${DEFAULT_STATE_DIR}) records all
that \`up\` made; \`down\` removes it all, also after a crash.
`;

function fail(msg: string): number {
  process.stderr.write(`braid testbed: ${msg}\n`);
  return 2;
}

export async function testbedMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        name: { type: 'string', default: 'tb' },
        paths: { type: 'string', default: '3' },
        rtt: { type: 'string', default: '10ms' },
        loss: { type: 'string', default: '0' },
        rate: { type: 'string', default: '100mbit' },
        path: { type: 'string', multiple: true },
        ecmp: { type: 'boolean' },
        'client-mode': { type: 'string', default: 'kernel' },
        'server-mode': { type: 'string', default: 'kernel' },
        controller: { type: 'boolean' },
        force: { type: 'boolean' },
        'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
        down: { type: 'boolean' },
        up: { type: 'boolean' },
        process: { type: 'string' },
        kill: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    return fail(`${(e as Error).message}\n\n${HELP}`);
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const name = v.name;
  const stateDir = v['state-dir'];
  try {
    switch (positionals[0]) {
      case 'up': {
        const P = Number(v.paths);
        if (!Number.isInteger(P) || P < 1 || P > 8) return fail('--paths must be 1..8');
        const base: PathSpec = {
          rtt_ms: parseMs(v.rtt),
          loss: parseLoss(v.loss),
          rate_mbps: parseRate(v.rate),
        };
        const paths = Array.from({ length: P }, () => ({ ...base }));
        for (const o of v.path ?? []) {
          const [i, spec] = parsePathOverride(o);
          if (i >= P) return fail(`--path ${o}: there are ${P} paths (from 0)`);
          paths[i] = { ...paths[i]!, ...spec };
        }
        const modes = ['kernel', 'braid', 'braid-node'];
        for (const m of [v['client-mode'], v['server-mode']]) {
          if (!modes.includes(m)) return fail(`host mode "${m}": kernel, braid or braid-node`);
        }
        const st = await up({
          name,
          paths,
          ecmp: !!v.ecmp,
          clientMode: v['client-mode'] as HostMode,
          serverMode: v['server-mode'] as HostMode,
          controller: !!v.controller,
          force: !!v.force,
          stateDir,
        });
        process.stdout.write(JSON.stringify(st, null, 2) + '\n');
        return 0;
      }
      case 'down': {
        const r = await down(name, stateDir);
        process.stdout.write(JSON.stringify(r) + '\n');
        return 0;
      }
      case 'status': {
        const s = await status(name, stateDir);
        process.stdout.write(JSON.stringify(s, null, 2) + '\n');
        return s.up ? 0 : 1;
      }
      case 'set': {
        const st = readState(name, stateDir);
        if (!st) return fail(`no testbed "${name}" is up`);
        const idx = v.path?.[0];
        if (idx === undefined || !/^\d+$/.test(idx)) return fail('set needs --path I');
        const change: Partial<PathSpec> & { down?: boolean } = {};
        const given = (flag: string) =>
          argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
        if (given('rtt')) change.rtt_ms = parseMs(v.rtt);
        if (given('loss')) change.loss = parseLoss(v.loss);
        if (given('rate')) change.rate_mbps = parseRate(v.rate);
        if (v.down) change.down = true;
        if (v.up) change.down = false;
        await setPath(st, Number(idx), change);
        return 0;
      }
      case 'restart': {
        const st = readState(name, stateDir);
        if (!st) return fail(`no testbed "${name}" is up`);
        if (!v.process) return fail('restart needs --process ROLE (nats-server, controller)');
        const p = await restartProcess(st, v.process, stateDir, {
          signal: v.kill ? 'SIGKILL' : 'SIGTERM',
        });
        process.stdout.write(JSON.stringify({ role: p.role, pid: p.pid }) + '\n');
        return 0;
      }
      default:
        return fail(`expected up, down, status, set or restart\n\n${HELP}`);
    }
  } catch (e) {
    process.stderr.write(`braid testbed: ${(e as Error).message}\n`);
    return 1;
  }
}
