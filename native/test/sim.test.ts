import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../ops/src/paths';
import { type Scenario, ScenarioError, runScenario, validateScenario } from '../src/sim';

const scenarios = path.join(repoRoot(), 'integration', 'scenarios');

describe('the simulator through the addon', () => {
  test('a bulk transfer over a lossy path arrives intact', async () => {
    const r = await runScenario({
      seed: 5,
      paths: [{ rate_mbps: 100, delay_ms: 5, loss: 0.01 }],
      protocol: 'tcp',
      cc: 'newreno',
      workload: { type: 'bulk', bytes: 1 << 20 },
    });
    expect(r.completed).toBe(true);
    expect(r.sha256_match).toBe(true);
    expect(r.sha256_sent).toBe(r.sha256_received);
    expect(r.bytes).toBe(1 << 20);
    expect(r.retransmits).toBeGreaterThan(0);
    expect(r.paths[0]!.client_to_server.dropped.loss).toBeGreaterThan(0);
    expect(r.connections.map((c) => c.role)).toEqual(['client', 'server']);
    expect(r.connections[0]!.cc).toBe('newreno');
    expect(r.wall_s).toBeGreaterThan(0);
  });

  test('a bulk transfer both ways at once over TCP and MPTCP arrives intact', async () => {
    for (const protocol of ['tcp', 'mptcp'] as const) {
      const r = await runScenario({
        seed: 3,
        paths: [
          { rate_mbps: 20, delay_ms: 2 },
          { rate_mbps: 10, delay_ms: 10 },
        ],
        protocol,
        workload: { type: 'bulk', bytes: 1 << 20, both_ways: true },
      });
      expect(r.completed).toBe(true);
      expect(r.sha256_match).toBe(true);
      expect(r.bytes).toBe(2 << 20);
      expect(r.forward_s).toBeGreaterThan(0);
      expect(r.reverse_s).toBeGreaterThan(0);
      expect(r.duration_s).toBe(Math.max(r.forward_s!, r.reverse_s!, r.duration_s));
    }
  });

  test('the same seed gives the same run', async () => {
    const s: Scenario = {
      seed: 9,
      paths: [{ rate_mbps: 50, delay_ms: 3, jitter_ms: 1, loss: 0.02, reorder: 0.05 }],
      workload: { type: 'bulk', bytes: 300000 },
    };
    const [a, b] = await Promise.all([runScenario(s), runScenario(s)]);
    const strip = (r: typeof a) => ({ ...r, wall_s: 0 });
    expect(strip(a)).toEqual(strip(b));
  });

  test('request/response reports latency percentiles', async () => {
    const r = await runScenario({
      paths: [{ rate_mbps: 1000, delay_ms: 1 }],
      workload: { type: 'rr', request_bytes: 64, response_bytes: 1000, count: 50 },
    });
    expect(r.completed).toBe(true);
    expect(r.sha256_match).toBeNull();
    expect(r.transactions).toBe(50);
    expect(r.p50_us).toBeGreaterThanOrEqual(2000);
    expect(r.p99_us!).toBeGreaterThanOrEqual(r.p50_us!);
    expect(r.max_us!).toBeGreaterThanOrEqual(r.p99_us!);
  });

  test('every example scenario is valid', () => {
    for (const f of fs.readdirSync(scenarios).filter((n) => n.endsWith('.json'))) {
      const s = JSON.parse(fs.readFileSync(path.join(scenarios, f), 'utf8')) as unknown;
      expect(() => validateScenario(s)).not.toThrow();
    }
  });

  test('a bad scenario is refused with the field named', async () => {
    const bad = {
      paths: [{ rate_mbps: 100, delay_ms: 5, loss: 1.5 }],
      workload: { type: 'bulk', bytes: 1000 },
    };
    await expect(runScenario(bad as unknown as Scenario)).rejects.toThrow(ScenarioError);
    await expect(runScenario(bad as unknown as Scenario)).rejects.toThrow(/\/paths\/0\/loss/);
    await expect(
      runScenario({
        paths: [{ rate_mbps: 100, delay_ms: 5 }],
        workload: { type: 'bulk', bytes: 1000 },
        protocol: 'sctp' as unknown as 'tcp',
      }),
    ).rejects.toThrow(/protocol/);
    await expect(
      runScenario({
        paths: [{ rate_mbps: 1, delay_ms: 1, blackholes: [{ start_ms: 5, end_ms: 2 }] }],
        workload: { type: 'bulk', bytes: 1000 },
      }),
    ).rejects.toThrow(/blackholes\/0\/end_ms/);
    await expect(
      runScenario({ paths: [], workload: { type: 'bulk', bytes: 1 } } as unknown as Scenario),
    ).rejects.toThrow(/\/paths/);
  });

  test('braid sim runs a scenario file and exits 0, or 2 for a bad one', () => {
    const cli = path.join(repoRoot(), 'dist', 'ops', 'cli', 'main.js');
    const ok = spawnSync(
      process.execPath,
      [cli, 'sim', '--scenario', path.join(scenarios, 'impaired.json'), '--json'],
      { encoding: 'utf8', timeout: 60000 },
    );
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const r = JSON.parse(ok.stdout) as { completed: boolean; sha256_match: boolean; name: string };
    expect(r.completed).toBe(true);
    expect(r.sha256_match).toBe(true);
    expect(r.name).toMatch(/everything at once/);
    const human = spawnSync(
      process.execPath,
      [cli, 'sim', '--scenario', path.join(scenarios, 'rr-small.json')],
      { encoding: 'utf8', timeout: 60000 },
    );
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/2000 transactions, latency p50/);
    const bad = path.join(fs.mkdtempSync('/tmp/braid-sim-'), 'bad.json');
    fs.writeFileSync(
      bad,
      JSON.stringify({ paths: [{ rate_mbps: 10 }], workload: { type: 'bulk', bytes: 1 } }),
    );
    const refused = spawnSync(process.execPath, [cli, 'sim', '--scenario', bad], {
      encoding: 'utf8',
      timeout: 60000,
    });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/\/paths\/0\/delay_ms: is required/);
    fs.rmSync(path.dirname(bad), { recursive: true });
  });
});
