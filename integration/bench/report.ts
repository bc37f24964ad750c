/**
 * The seed benchmark's charts (SVG written as text: bars for single points,
 * lines with min–max whiskers for sweeps) and its markdown report with the
 * ratios MPTCP vs TCP and Braid vs kernel.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Chart, SeedResult, SeriesId } from './seed';

const COLORS: Record<SeriesId, string> = {
  'kernel-tcp': '#4e79a7',
  'kernel-mptcp': '#f28e2b',
  'braid-tcp': '#59a14f',
  'braid-mptcp': '#e15759',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A "nice" upper bound for an axis. */
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** One chart as an SVG document. */
export function chartSvg(chart: Chart, labels: Record<string, string>, missing: string[]): string {
  const W = 720;
  const H = 420;
  const m = { l: 70, r: 20, t: 50, b: 90 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const ids = Object.keys(chart.series) as SeriesId[];
  let top = 0;
  for (const id of ids) for (const p of chart.series[id]!) top = Math.max(top, p.max ?? 0);
  const yMax = niceMax(top * 1.05);
  const y = (v: number) => m.t + ph - (v / yMax) * ph;
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(chart.title)}</text>`,
  );
  // Y axis with 5 ticks.
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    o.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  o.push(
    `<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(chart.unit)}${chart.better === 'lower' ? ' (lower is better)' : ' (higher is better)'}</text>`,
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="black"/>`,
    `<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="black"/>`,
  );
  const whisker = (x: number, lo: number, hi: number, color: string) =>
    `<line x1="${x}" x2="${x}" y1="${y(lo)}" y2="${y(hi)}" stroke="${color}" stroke-width="1.5"/>` +
    `<line x1="${x - 4}" x2="${x + 4}" y1="${y(lo)}" y2="${y(lo)}" stroke="${color}"/>` +
    `<line x1="${x - 4}" x2="${x + 4}" y1="${y(hi)}" y2="${y(hi)}" stroke="${color}"/>`;
  if (chart.xs.length === 1) {
    // Bars, one per series.
    const slot = pw / Math.max(ids.length, 1);
    ids.forEach((id, i) => {
      const p = chart.series[id]![0]!;
      const cx = m.l + slot * (i + 0.5);
      const bw = slot * 0.55;
      if (p.mean !== null) {
        o.push(
          `<rect x="${cx - bw / 2}" y="${y(p.mean)}" width="${bw}" height="${y(0) - y(p.mean)}" fill="${COLORS[id]}"/>`,
          whisker(cx, p.min!, p.max!, '#333'),
          `<text x="${cx}" y="${y(p.max!) - 6}" text-anchor="middle">${fmt(p.mean)}</text>`,
        );
      } else {
        o.push(`<text x="${cx}" y="${y(0) - 8}" text-anchor="middle" fill="#a00">failed</text>`);
      }
      o.push(
        `<text x="${cx}" y="${m.t + ph + 18}" text-anchor="middle">${esc(labels[id] ?? id)}</text>`,
      );
    });
  } else {
    const xMin = Math.min(...chart.xs);
    const xMax = Math.max(...chart.xs);
    const x = (v: number) => m.l + 20 + ((v - xMin) / (xMax - xMin || 1)) * (pw - 40);
    for (const v of chart.xs) {
      o.push(
        `<line x1="${x(v)}" x2="${x(v)}" y1="${m.t + ph}" y2="${m.t + ph + 5}" stroke="black"/>`,
        `<text x="${x(v)}" y="${m.t + ph + 18}" text-anchor="middle">${fmt(v)}</text>`,
      );
    }
    o.push(
      `<text x="${m.l + pw / 2}" y="${m.t + ph + 36}" text-anchor="middle">${esc(chart.x_label)}</text>`,
    );
    for (const id of ids) {
      const pts = chart.series[id]!.filter((p) => p.mean !== null);
      if (pts.length > 1) {
        const d = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.x)} ${y(p.mean!)}`).join(' ');
        o.push(`<path d="${d}" fill="none" stroke="${COLORS[id]}" stroke-width="2"/>`);
      }
      for (const p of pts) {
        o.push(
          `<circle cx="${x(p.x)}" cy="${y(p.mean!)}" r="3.5" fill="${COLORS[id]}"/>`,
          whisker(x(p.x), p.min!, p.max!, COLORS[id]),
        );
      }
    }
  }
  // Legend (and what could not be measured).
  let lx = m.l;
  const ly = H - 28;
  for (const id of ids) {
    o.push(
      `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${COLORS[id]}"/>`,
      `<text x="${lx + 16}" y="${ly}">${esc(labels[id] ?? id)}</text>`,
    );
    lx += 30 + 7 * (labels[id] ?? id).length;
  }
  if (missing.length) {
    o.push(
      `<text x="${m.l}" y="${H - 8}" fill="#a00" font-size="11">not measured: ${esc(missing.join('; '))}</text>`,
    );
  }
  o.push('</svg>');
  return o.join('\n') + '\n';
}

function cell(p: { mean: number | null; min: number | null; max: number | null; runs: number[] }) {
  if (p.mean === null) return 'failed';
  return `${fmt(p.mean)} (${fmt(p.min!)}–${fmt(p.max!)}, n=${p.runs.length})`;
}

function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return '–';
  return `${(a / b).toFixed(2)}×`;
}

/** Write the SVG charts and report.md into dir; returns the file names. */
export function writeReport(r: SeedResult, dir: string): string[] {
  const labels = Object.fromEntries(r.series.map((s) => [s.id, s.label]));
  const missing = r.series.filter((s) => !s.available).map((s) => `${s.label}`);
  const files: string[] = [];
  const md: string[] = [];
  md.push(
    '# Braid seed benchmarks',
    '',
    `${r.meta.date} · ${r.meta.runs} run${r.meta.runs === 1 ? '' : 's'}${r.meta.quick ? ' (quick: short transfers)' : ''} · ` +
      `${r.meta.host.cpus} CPUs, Linux ${r.meta.host.kernel} · \`${r.meta.command}\``,
    '',
    `Testbed: ${r.meta.testbed.paths.length} paths through the DPDK link emulator, ` +
      `${r.meta.testbed.paths[0]?.rtt_ms ?? '?'} ms RTT and ${r.meta.testbed.paths[0]?.rate_mbps ?? '?'} Mbit/s each. ` +
      `Bulk ${r.meta.sizes.bulk_bytes / 1048576} MiB; request/response ${r.meta.sizes.rr_count} × ${r.meta.sizes.rr_size} B.`,
    'Single runs on a shared 2-core machine: compare the series side by side, not with other machines.',
    '',
    '## Series',
    '',
  );
  for (const s of r.series) {
    md.push(
      `- **${s.label}**: ${s.available ? s.how : `not measured — ${s.reason ?? 'unavailable'}`}`,
    );
  }
  md.push('');
  for (const ch of r.charts) {
    const file = `${ch.id}.svg`;
    fs.writeFileSync(path.join(dir, file), chartSvg(ch, labels, missing));
    files.push(file);
    const ids = Object.keys(ch.series) as SeriesId[];
    md.push(
      `## ${ch.title} (${ch.unit}, ${ch.better} is better)`,
      '',
      `![${ch.title}](${file})`,
      '',
    );
    md.push(
      `| ${ch.xs.length > 1 ? ch.x_label : 'point'} | ${ids.map((i) => labels[i]).join(' | ')} | MPTCP/TCP (kernel) | Braid/kernel (TCP) |`,
      `|---|${ids.map(() => '---').join('|')}|---|---|`,
    );
    ch.xs.forEach((x, xi) => {
      const pt = (id: SeriesId) => ch.series[id]?.[xi];
      md.push(
        `| ${ch.xs.length > 1 ? String(x) : '–'} | ${ids.map((i) => cell(pt(i)!)).join(' | ')} | ` +
          `${ratio(pt('kernel-mptcp')?.mean, pt('kernel-tcp')?.mean)} | ${ratio(pt('braid-tcp')?.mean, pt('kernel-tcp')?.mean)} |`,
      );
    });
    const errs = ids.flatMap((i) =>
      ch.series[i]!.flatMap((p) => p.errors.map((e) => `${i} x=${p.x}: ${e}`)),
    );
    if (errs.length) md.push('', 'Failed runs (not averaged):', ...errs.map((e) => `- ${e}`));
    md.push('');
  }
  if (r.simult_flows) {
    md.push(
      '## Simultaneous flows (the Linux selftest `simult_flows` matrix, 2 paths)',
      '',
      '| series | rates (Mbit/s) | one-way delays (ms) | achieved Mbit/s | of the summed rate |',
      '|---|---|---|---|---|',
    );
    for (const row of r.simult_flows.rows) {
      md.push(
        `| ${row.series} | ${row.rate1}/${row.rate2} | ${row.delay1}/${row.delay2} | ${cell(row)} | ${row.ratio === null ? '–' : `${(row.ratio * 100).toFixed(0)} %`} |`,
      );
    }
    const errs = r.simult_flows.rows.flatMap((x) => x.errors);
    if (errs.length) md.push('', 'Failed runs:', ...errs.map((e) => `- ${e}`));
    md.push('');
  }
  if (r.failover) {
    md.push(
      '## Failover (a path blackholed mid-transfer, 3 paths)',
      '',
      '| series | path blackholed | after | longest stall at the receiver (ms): mean (max) | transfers intact |',
      '|---|---|---|---|---|',
    );
    for (const row of r.failover.rows) {
      md.push(
        `| ${row.series} | ${row.path}${row.path === 0 ? ' (initial subflow)' : ''} | ${row.blackhole_after_ms} ms | ` +
          `${row.mean_max_stall_ms === null ? 'failed' : `${fmt(row.mean_max_stall_ms)} (${fmt(row.max_max_stall_ms!)})`} | ` +
          `${row.runs.filter((x) => x.intact).length}/${row.runs.length} |`,
      );
    }
    const errs = r.failover.rows.flatMap((x) => x.errors);
    if (errs.length) md.push('', 'Failed runs:', ...errs.map((e) => `- ${e}`));
    md.push('');
  }
  md.push(`Total time: ${r.seconds.toFixed(0)} s. Every run is in seed.json.`, '');
  fs.writeFileSync(path.join(dir, 'report.md'), md.join('\n'));
  files.push('report.md');
  return files;
}
