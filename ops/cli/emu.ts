import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../../schemas/src/config';
import type { EmuConfig, EmuLink } from '../../schemas/gen/types';
import { Emulator, emuRequest } from '../../native/src/emu';

const HELP = `Usage:
  braid emu run --config FILE     run the link emulator (foreground; SIGTERM stops it)
  braid emu set [--control SOCK] --pair N [--dir ab|ba|both] [link options]
  braid emu show [--control SOCK] [--json]
  braid emu stop [--control SOCK]

The link emulator is a DPDK network function: it bridges pairs of interfaces
(opened with net_af_packet) through emulated links with, per direction, rate,
queue, delay, jitter, random and bursty loss, reordering, duplication,
corruption and blackhole, changeable while it runs. The config is
schemas/src/emu-config.schema.json.

Link options (\`set\`; what is not given keeps its value):
  --rate MBIT        serialisation rate in Mbit/s (0: unlimited)
  --queue BYTES      queue limit in front of the rate (0: unlimited)
  --delay MS         one-way delay         --jitter MS    extra uniform delay
  --loss P           random loss 0..1      --reorder P    reordering 0..1
  --duplicate P      duplication 0..1      --corrupt P    one bit flipped 0..1
  --burst-enter P --burst-exit P [--burst-loss P]   bursty (Gilbert-Elliott) loss
  --down / --up      blackhole the direction / end the blackhole
  --control SOCK     the emulator's control socket (default /run/braid/emu.sock)
`;

const DEFAULT_SOCKET = '/run/braid/emu.sock';

const NUMERIC: Record<string, keyof EmuLink> = {
  rate: 'rate_mbps',
  queue: 'queue_bytes',
  delay: 'delay_ms',
  jitter: 'jitter_ms',
  loss: 'loss',
  reorder: 'reorder',
  duplicate: 'duplicate',
  corrupt: 'corrupt',
  'burst-enter': 'burst_enter',
  'burst-exit': 'burst_exit',
  'burst-loss': 'burst_loss',
};

function fail(msg: string): number {
  process.stderr.write(`braid emu: ${msg}\n`);
  return 2;
}

async function run(configFile: string | undefined): Promise<number> {
  if (!configFile) return fail('run needs --config FILE');
  let cfg: EmuConfig;
  try {
    cfg = loadConfig<EmuConfig>('emu-config', configFile);
  } catch (e) {
    if (e instanceof ConfigError) return fail(e.message);
    throw e;
  }
  let emu: Emulator;
  try {
    emu = new Emulator(cfg);
  } catch (e) {
    process.stderr.write(`braid emu: ${(e as Error).message}\n`);
    return 1;
  }
  const socket = cfg.control_socket ?? DEFAULT_SOCKET;
  let done!: () => void;
  const stopped = new Promise<void>((r) => (done = r));
  await emu.serve(socket, () => done());
  process.on('SIGTERM', () => done());
  process.on('SIGINT', () => done());
  process.stdout.write(
    JSON.stringify({ ready: true, control_socket: socket, pid: process.pid }) + '\n',
  );
  await stopped;
  emu.close();
  return 0;
}

export async function emuMain(argv: string[]): Promise<number> {
  const options = {
    config: { type: 'string' },
    control: { type: 'string' },
    pair: { type: 'string' },
    dir: { type: 'string' },
    json: { type: 'boolean' },
    down: { type: 'boolean' },
    up: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    ...Object.fromEntries(Object.keys(NUMERIC).map((k) => [k, { type: 'string' }])),
  } as const;
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options });
  } catch (e) {
    return fail(`${(e as Error).message}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  const v = values as Record<string, string | boolean | undefined>;
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const socket = (v.control as string | undefined) ?? DEFAULT_SOCKET;
  switch (positionals[0]) {
    case 'run':
      return run(v.config as string | undefined);
    case 'show': {
      const r = (await emuRequest(socket, { op: 'show' })) as { show: unknown };
      process.stdout.write(JSON.stringify(r.show, null, v.json ? undefined : 2) + '\n');
      return 0;
    }
    case 'stop':
      await emuRequest(socket, { op: 'stop' });
      return 0;
    case 'set': {
      const pair = Number(v.pair);
      if (v.pair === undefined || !Number.isInteger(pair) || pair < 0) {
        return fail('set needs --pair N (from 0)');
      }
      const dir = (v.dir as string | undefined) ?? 'both';
      if (!['ab', 'ba', 'both'].includes(dir)) return fail('--dir must be ab, ba or both');
      const link: EmuLink = {};
      for (const [flag, field] of Object.entries(NUMERIC)) {
        const raw = v[flag];
        if (raw === undefined) continue;
        const n = Number(raw);
        if (!Number.isFinite(n)) return fail(`--${flag}: not a number: ${String(raw)}`);
        (link as Record<string, number>)[field] = n;
      }
      if (v.down && v.up) return fail('--down and --up together');
      if (v.down) link.down = true;
      if (v.up) link.down = false;
      const r = (await emuRequest(socket, {
        op: 'set',
        pair,
        dir: dir as 'ab' | 'ba' | 'both',
        link,
      })) as { ok: boolean; error?: string };
      if (!r.ok) return fail(r.error ?? 'refused');
      return 0;
    }
    default:
      return fail(`expected run, set, show or stop\n\n${HELP}`);
  }
}
