/**
 * The local nats-server helper: a started server answers, and work
 * directories left by an owner that died (a controller killed with SIGKILL)
 * are swept while those of live owners stay.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startNatsServer, sweepStaleNatsDirs } from '../src/nats-server';

describe('nats-server work directories', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-sweep-test-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('a directory whose owner is dead is removed; a live owner keeps its own', () => {
    // A pid that surely exited: a short child process that has been reaped.
    const dead = spawnSync('true').pid!;
    const stale = path.join(tmp, 'braid-nats-dead');
    const live = path.join(tmp, 'braid-nats-live');
    const unowned = path.join(tmp, 'braid-nats-other');
    for (const d of [stale, live, unowned]) fs.mkdirSync(d);
    fs.writeFileSync(path.join(stale, 'owner.pid'), String(dead));
    fs.writeFileSync(path.join(live, 'owner.pid'), String(process.pid));
    expect(sweepStaleNatsDirs(tmp)).toEqual([stale]);
    expect(fs.existsSync(live)).toBe(true);
    expect(fs.existsSync(unowned)).toBe(true);
  });

  test('a started server records its owner and removes its directory on stop', async () => {
    const before = new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('braid-nats-')));
    const srv = await startNatsServer();
    const mine = fs
      .readdirSync(os.tmpdir())
      .filter((n) => n.startsWith('braid-nats-') && !before.has(n));
    expect(mine.length).toBe(1);
    const dir = path.join(os.tmpdir(), mine[0]!);
    expect(fs.readFileSync(path.join(dir, 'owner.pid'), 'utf8')).toBe(String(process.pid));
    await srv.stop();
    expect(fs.existsSync(dir)).toBe(false);
  }, 20000);
});
