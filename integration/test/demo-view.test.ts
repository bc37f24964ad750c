/** The demo's terminal view: rates from counters, path indexes, stalls. */
import type { ApiConnection } from '../../schemas/gen/types';
import { RateTracker, longestStall, pathOf, renderTable } from '../src/demo-view';

function conn(
  acked: number[],
  priority: Array<'regular' | 'backup'> = [],
  updatedAt?: number,
): ApiConnection {
  return {
    id: 'n1:c1',
    node_id: 'n1',
    ...(updatedAt !== undefined ? { updated_at: updatedAt } : {}),
    snapshot: {
      id: 'c1',
      state: 'established',
      local_addr: '10.200.1.11',
      local_port: 40000,
      remote_addr: '10.200.1.2',
      remote_port: 5201,
      subflows: acked.map((b, i) => ({
        id: `s${i}`,
        local_addr: `10.200.${i + 1}.11`,
        local_port: 40000 + i,
        remote_addr: `10.200.${i + 1}.2`,
        remote_port: 5201,
        state: 'established',
        priority: priority[i] ?? 'regular',
        rtt: 10500,
        snd_cwnd: 40,
        bytes_acked: b,
      })),
    },
  };
}

describe('demo view', () => {
  test('path index from a testbed address', () => {
    expect(pathOf('10.200.1.11', 200)).toBe(0);
    expect(pathOf('10.200.3.2', 200)).toBe(2);
    expect(pathOf('10.201.3.2', 200)).toBeNull();
    expect(pathOf('192.168.0.1', 200)).toBeNull();
  });

  test('rates come from counter deltas over the sample interval', () => {
    const t = new RateTracker();
    expect(t.rows([conn([0, 0])], 0, 200).map((r) => r.mbps)).toEqual([0, 0]);
    // 1.25 MB in 1 s = 10 Mbit/s; the second subflow carried nothing.
    const rows = t.rows([conn([1_250_000, 0])], 1000, 200);
    expect(rows[0]!.mbps).toBeCloseTo(10, 6);
    expect(rows[1]!.mbps).toBe(0);
    expect(rows.map((r) => r.path)).toEqual([0, 1]);
    expect(rows[0]!.rtt_ms).toBeCloseTo(10.5, 6);
  });

  test('rates follow the node’s batch times: a poll with no new batch, or two, shows the node’s rate', () => {
    const t = new RateTracker();
    t.rows([conn([0], [], 5000)], 100, 200);
    // Polled before the next batch: the same snapshot, no rate yet.
    expect(t.rows([conn([0], [], 5000)], 1100, 200)[0]!.mbps).toBe(0);
    // Two batches' worth at the next poll: 2.5 MB over the node's 2 s is 10 Mbit/s, not 20.
    expect(t.rows([conn([2_500_000], [], 7000)], 2100, 200)[0]!.mbps).toBeCloseTo(10, 6);
    // No new batch by the next poll: the rate it showed, not 0.
    expect(t.rows([conn([2_500_000], [], 7000)], 3100, 200)[0]!.mbps).toBeCloseTo(10, 6);
  });

  test('the table shows every subflow with its priority and the total', () => {
    const t = new RateTracker();
    t.rows([conn([0, 0, 0])], 0, 200);
    const lines = renderTable(
      2,
      t.rows([conn([2_500_000, 0, 0], ['regular', 'backup'])], 1000, 200),
      50,
    );
    expect(lines[0]).toContain('total   20.0 Mbit/s');
    expect(lines).toHaveLength(2 + 3);
    expect(lines[3]).toContain('backup');
    expect(renderTable(0, [], 50).at(-1)).toContain('no connection');
  });

  test('the longest stall is the longest time without progress', () => {
    const s = [0, 100, 200, 900, 1000].map((t, i) => ({ t, bytes: [0, 10, 20, 20, 30][i]! }));
    expect(longestStall(s)).toBe(800);
    expect(longestStall([])).toBe(0);
  });
});
