/**
 * The testbed's option parsing and link mapping, and the seed report (SVG
 * charts and markdown) from a made-up result: no namespaces needed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { emuLinkOf, parseLoss, parseMs, parsePathOverride, parseRate } from '../src/testbed';
import { chartSvg, writeReport } from '../bench/report';
import type { Chart, Point, SeedResult } from '../bench/seed';

describe('testbed options', () => {
  test('times, loss, rates and per-path overrides', () => {
    expect(parseMs('10ms')).toBe(10);
    expect(parseMs('0.5s')).toBe(500);
    expect(parseMs('7')).toBe(7);
    expect(parseLoss('1%')).toBeCloseTo(0.01);
    expect(parseLoss('0.5%')).toBeCloseTo(0.005);
    expect(parseLoss('0.02')).toBeCloseTo(0.02);
    expect(() => parseLoss('150%')).toThrow(/range/);
    expect(parseRate('100mbit')).toBe(100);
    expect(parseRate('1gbit')).toBe(1000);
    expect(parseRate('500kbit')).toBe(0.5);
    expect(parsePathOverride('1:rtt=20ms,loss=0.5%')).toEqual([1, { rtt_ms: 20, loss: 0.005 }]);
    expect(() => parsePathOverride('1:speed=3')).toThrow(/unknown/);
  });

  test('a path spec becomes one-way emulator links (half the RTT, a 2-BDP queue)', () => {
    expect(emuLinkOf({ rtt_ms: 10, loss: 0.01, rate_mbps: 100 })).toEqual({
      delay_ms: 5,
      loss: 0.01,
      rate_mbps: 100,
      queue_bytes: 250000,
    });
    // Small BDPs get at least 64 KB; unlimited rate: no queue limit.
    expect(emuLinkOf({ rtt_ms: 0, loss: 0, rate_mbps: 10 }).queue_bytes).toBe(65536);
    expect(emuLinkOf({ rtt_ms: 10, loss: 0, rate_mbps: 0 }).queue_bytes).toBe(0);
  });
});

function point(x: number, runs: number[]): Point {
  return {
    x,
    runs,
    errors: runs.length ? [] : ['run 1: client exit 1'],
    mean: runs.length ? runs.reduce((a, b) => a + b) / runs.length : null,
    min: runs.length ? Math.min(...runs) : null,
    max: runs.length ? Math.max(...runs) : null,
    detail: [],
  };
}

describe('seed report', () => {
  const loss: Chart = {
    id: 'loss',
    title: 'Latency under packet drop',
    unit: 'ms',
    x_label: 'loss (%)',
    better: 'lower',
    xs: [0, 1, 5],
    series: {
      'kernel-tcp': [point(0, [10, 12]), point(1, [20, 22]), point(5, [])],
      'kernel-mptcp': [point(0, [11, 11]), point(1, [15, 17]), point(5, [30, 40])],
    },
  };
  const tput: Chart = {
    id: 'throughput',
    title: 'Forwarding throughput',
    unit: 'Mbit/s',
    x_label: '',
    better: 'higher',
    xs: [0],
    series: {
      'kernel-tcp': [point(0, [90, 94])],
      'kernel-mptcp': [point(0, [270, 280])],
      'braid-tcp': [point(0, [60, 70])],
    },
  };
  const result: SeedResult = {
    meta: {
      date: '2026-01-01T00:00:00Z',
      quick: true,
      runs: 2,
      host: { cpus: 2, kernel: 'x', model: 'y' },
      testbed: { paths: [{ rtt_ms: 10, loss: 0, rate_mbps: 100 }], notes: [] },
      sizes: { bulk_bytes: 8 << 20, rr_count: 50, rr_size: 64 },
      command: 'braid bench seed --quick',
    },
    series: [
      { id: 'kernel-tcp', label: 'kernel TCP', available: true, how: 'a' },
      { id: 'kernel-mptcp', label: 'kernel MPTCP', available: true, how: 'b' },
      { id: 'braid-tcp', label: 'Braid TCP', available: true, how: 'c' },
      {
        id: 'braid-mptcp',
        label: 'Braid MPTCP',
        available: false,
        reason: 'not over DPDK yet',
        how: '-',
      },
    ],
    charts: [tput, loss],
    simult_flows: null,
    failover: null,
    seconds: 1,
  };

  test('SVG: a well-formed document with a line per series and what was not measured', () => {
    const svg = chartSvg(loss, { 'kernel-tcp': 'kernel TCP' }, ['Braid MPTCP']);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    // 2 + 3 points drawn; the failed point is left out.
    expect(svg.match(/<circle /g)).toHaveLength(5);
    expect(svg).toContain('not measured: Braid MPTCP');
    expect(svg).not.toContain('NaN');
  });

  test('report: charts and markdown with ratios; the unavailable series says why', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-report-'));
    try {
      const files = writeReport(result, dir);
      expect(files.sort()).toEqual(['loss.svg', 'report.md', 'throughput.svg']);
      const md = fs.readFileSync(path.join(dir, 'report.md'), 'utf8');
      expect(md).toContain('**Braid MPTCP**: not measured — not over DPDK yet');
      // MPTCP/TCP = 275/92 and Braid/kernel = 65/92.
      expect(md).toContain('2.99×');
      expect(md).toContain('0.71×');
      expect(md).toContain('kernel-tcp x=5: run 1: client exit 1');
      expect(md).not.toContain('NaN');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
