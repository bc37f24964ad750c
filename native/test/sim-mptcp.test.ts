// SPDX-License-Identifier: Apache-2.0
// MPTCP through runScenario: a hashed bulk transfer over three paths, every
// path carrying part of it, and the mptcp snapshot in the result.
import { ScenarioError, runScenario } from '../src/sim';

describe('simulator: mptcp scenarios', () => {
  test('bulk over three 10 Mbit/s paths uses every path', async () => {
    const bytes = 4 << 20;
    const path = { rate_mbps: 10, delay_ms: 10 };
    const r = await runScenario({
      seed: 1,
      protocol: 'mptcp',
      paths: [path, path, path],
      workload: { type: 'bulk', bytes },
    });
    expect(r.error).toBeUndefined();
    expect(r.completed).toBe(true);
    expect(r.sha256_match).toBe(true);
    expect(r.bytes).toBe(bytes);
    expect(r.goodput_mbps).toBeGreaterThan(15);
    const client = r.mptcp?.find((m) => m.role === 'client');
    expect(client).toBeDefined();
    expect(client?.info.mptcpi_subflows).toBe(2); // joined, as Linux counts
    expect(client?.subflows).toHaveLength(3);
    const perPath = [0, 0, 0];
    for (const sf of client?.subflows ?? []) perPath[sf.path] += sf.bytes_acked;
    const total = perPath.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(bytes * 0.99);
    for (const b of perPath) expect(b).toBeGreaterThan(total / 10);
    expect(r.mptcp?.find((m) => m.role === 'server')?.counters.MPJoinAckRx).toBe(2);
  });

  test('scheduler, path manager, coupled cc and backups come from the scenario', async () => {
    const path = { rate_mbps: 10, delay_ms: 5 };
    const r = await runScenario({
      seed: 2,
      protocol: 'mptcp',
      paths: [path, path],
      cc: 'lia',
      mptcp: { scheduler: 'redundant', pm: 'external', backup_paths: [1] },
      workload: { type: 'bulk', bytes: 1 << 20 },
    });
    expect(r.error).toBeUndefined();
    expect(r.sha256_match).toBe(true);
    expect(r.max_stall_ms).toBeGreaterThanOrEqual(0);
    const client = r.mptcp?.find((m) => m.role === 'client');
    expect(client?.scheduler).toBe('redundant');
    expect(client?.pm).toBe('external');
    expect(client?.cc).toBe('lia');
    expect(client?.subflows[1]?.backup).toBe(true);
    // The backup subflow carries nothing while the other one works.
    expect(client?.subflows[1]?.mapped).toBe(0);
    expect(client?.subflows[0]?.mapped).toBe(1 << 20);
  });

  test('an unknown scheduler is refused naming the field', async () => {
    await expect(
      runScenario({
        protocol: 'mptcp',
        paths: [{ rate_mbps: 10, delay_ms: 5 }],
        mptcp: { scheduler: 'fastest' as never },
        workload: { type: 'bulk', bytes: 1000 },
      }),
    ).rejects.toThrow(ScenarioError);
  });
});
