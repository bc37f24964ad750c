/**
 * The DPDK link emulator between two kernel hosts in namespaces:
 *   hA (a0) <-veth-> (e0) [emu namespace: braid emu] (e1) <-veth-> (b0) hB
 * It must pass traffic untouched, add the delay it is told, limit the rate,
 * and blackhole a direction at run time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Testbed } from '../src/netns';
import { perfIn } from '../src/dpdk-testbed';
import type { PerfResult } from '../../ops/cli/perf';
import { repoRoot } from '../../ops/src/paths';

const cli = path.join(repoRoot(), 'dist', 'ops', 'cli', 'main.js');
const A = '10.251.0.1';
const B = '10.251.0.2';

function braid(ns: string | null, ...args: string[]) {
  const cmd = ns
    ? ['ip', ['netns', 'exec', ns, process.execPath, cli, ...args]]
    : [process.execPath, [cli, ...args]];
  const r = spawnSync(cmd[0] as string, cmd[1] as string[], { encoding: 'utf8', timeout: 20000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Average ping RTT in ms, or null when nothing came back. */
function ping(ns: string, to: string, count: number): number | null {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '1', to],
    {
      encoding: 'utf8',
      timeout: 20000,
    },
  );
  const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  return r.status === 0 && m ? Number(m[1]) : null;
}

describe('link emulator (braid emu) between kernel hosts', () => {
  let tb: Testbed;
  let hA: string;
  let hB: string;
  let emuNs: string;
  let sock: string;

  beforeAll(async () => {
    tb = new Testbed();
    hA = tb.namespace('ha');
    hB = tb.namespace('hb');
    emuNs = tb.namespace('emu');
    const va = tb.veth(hA, emuNs);
    const vb = tb.veth(emuNs, hB);
    for (const [ns, dev] of [
      [hA, va.a],
      [emuNs, va.b],
      [emuNs, vb.a],
      [hB, vb.b],
    ] as const) {
      tb.offloadsOff(ns, dev);
    }
    tb.address(hA, va.a, `${A}/24`);
    tb.address(hB, vb.b, `${B}/24`);
    sock = tb.tmpPath('emu.sock');
    const cfgFile = tb.tmpPath('emu.json');
    fs.writeFileSync(
      cfgFile,
      JSON.stringify({
        pairs: [{ a: va.b, b: vb.a, both: { delay_ms: 10 } }],
        control_socket: sock,
      }),
    );
    const child = tb.spawnIn(emuNs, process.execPath, [cli, 'emu', 'run', '--config', cfgFile]);
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`emulator not ready: ${err}`)), 30000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"ready":true')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`emulator exited ${code}: ${err}`)));
    });
  }, 60000);

  afterAll(async () => {
    if (sock && fs.existsSync(sock)) braid(null, 'emu', 'stop', '--control', sock);
    await tb?.destroy();
  });

  test('frames pass both ways with the configured delay (ARP included)', () => {
    const rtt = ping(hA, B, 5);
    expect(rtt).not.toBeNull();
    // 10 ms each way.
    expect(rtt!).toBeGreaterThanOrEqual(19.5);
    expect(rtt!).toBeLessThan(35);
  });

  test('the delay changes at run time', () => {
    const r = braid(
      null,
      'emu',
      'set',
      '--control',
      sock,
      '--pair',
      '0',
      '--dir',
      'ab',
      '--delay',
      '30',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const rtt = ping(hA, B, 4);
    expect(rtt!).toBeGreaterThanOrEqual(39.5);
    expect(rtt!).toBeLessThan(60);
    expect(braid(null, 'emu', 'set', '--control', sock, '--pair', '0', '--delay', '1').code).toBe(
      0,
    );
  });

  test('a blackholed direction drops everything and counts it; --up restores it', () => {
    expect(
      braid(null, 'emu', 'set', '--control', sock, '--pair', '0', '--dir', 'ba', '--down').code,
    ).toBe(0);
    expect(ping(hA, B, 3)).toBeNull();
    const show = JSON.parse(braid(null, 'emu', 'show', '--control', sock, '--json').out) as {
      pairs: { ba: { params: { down: boolean }; stats: { dropped: { blackhole: number } } } }[];
    };
    expect(show.pairs[0]!.ba.params.down).toBe(true);
    expect(show.pairs[0]!.ba.stats.dropped.blackhole).toBeGreaterThanOrEqual(3);
    expect(
      braid(null, 'emu', 'set', '--control', sock, '--pair', '0', '--dir', 'ba', '--up').code,
    ).toBe(0);
    expect(ping(hA, B, 3)).not.toBeNull();
  });

  test('kernel TCP through a rate-limited link: bytes intact, rate respected', async () => {
    expect(
      braid(
        null,
        'emu',
        'set',
        '--control',
        sock,
        '--pair',
        '0',
        '--rate',
        '50',
        '--queue',
        '200000',
      ).code,
    ).toBe(0);
    const bytes = 8 << 20;
    const server = perfIn(tb, hB, ['--kernel', '-s', '-p', '5401']);
    await server.ready;
    const client = perfIn(tb, hA, ['--kernel', '-c', B, '-p', '5401', '-n', String(bytes)]);
    const [c, s] = await Promise.all([client.result, server.result]);
    expect(c.code).toBe(0);
    expect(s.code).toBe(0);
    const sent = c.json as PerfResult;
    const got = s.json as PerfResult;
    expect(got.end.streams[0]!.bytes).toBe(bytes);
    expect(got.end.streams[0]!.sha256).toBe(sent.end.streams[0]!.sha256);
    // 8 MiB at 50 Mbit/s is at least 1.34 s; the receiver saw no more than the rate.
    const bps = got.end.sum_received.bits_per_second;
    expect(bps).toBeLessThanOrEqual(50e6 * 1.05);
    expect(bps).toBeGreaterThan(50e6 * 0.5);
  }, 60000);
});
