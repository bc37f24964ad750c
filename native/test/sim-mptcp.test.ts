// SPDX-License-Identifier: Apache-2.0
// MPTCP through runScenario: a hashed bulk transfer over three paths, every
// path carrying part of it, and the mptcp snapshot in the result.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../../ops/src/paths';
import { fromJson, toJson } from '../src/json';
import { MPTCP_INFO_DSN_FIELDS, type MptcpInfo } from '../src/mptcp-info';
import { type Scenario, ScenarioError, type SimResult, runScenario } from '../src/sim';

// A completed bulk transfer client -> server over two paths.
const bulk2: Scenario = {
  name: 'dsn',
  seed: 1,
  protocol: 'mptcp',
  paths: [
    { rate_mbps: 10, delay_ms: 10 },
    { rate_mbps: 10, delay_ms: 10 },
  ],
  workload: { type: 'bulk', bytes: 1 << 20 },
};

function ends(r: Pick<SimResult, 'mptcp'>): { client: MptcpInfo; server: MptcpInfo } {
  const info = (role: string): MptcpInfo => {
    const m = r.mptcp?.find((x) => x.role === role);
    if (!m) throw new Error(`no ${role} in the result`);
    return m.info;
  };
  return { client: info('client'), server: info('server') };
}

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

  test('the data sequence numbers are exact BigInts and agree at both ends', async () => {
    const r = await runScenario(bulk2);
    expect(r.completed).toBe(true);
    expect(r.sha256_match).toBe(true);
    const { client, server } = ends(r);
    for (const info of [client, server]) {
      for (const [k, v] of Object.entries(info)) {
        const dsn = (MPTCP_INFO_DSN_FIELDS as readonly string[]).includes(k);
        expect([k, typeof v]).toEqual([k, dsn ? 'bigint' : 'number']);
      }
      for (const k of MPTCP_INFO_DSN_FIELDS) expect(info[k]).toBeDefined();
    }
    // Everything written was acknowledged, and the receiver's next
    // expected sequence number is the sender's next one, both ways.
    expect(client.mptcpi_write_seq - client.mptcpi_snd_una).toBe(0n);
    expect(server.mptcpi_rcv_nxt).toBe(client.mptcpi_write_seq);
    expect(server.mptcpi_write_seq - server.mptcpi_snd_una).toBe(0n);
    expect(client.mptcpi_rcv_nxt).toBe(server.mptcpi_write_seq);
    expect(client.mptcpi_bytes_acked).toBe(1 << 20);
    // Above 2^53, where a number would have dropped low bits: a value that
    // went through a double comes back unchanged from one; these do not.
    const dsns = [client.mptcpi_write_seq, server.mptcpi_write_seq];
    for (const v of dsns) expect(v > 2n ** 53n).toBe(true);
    expect(dsns.some((v) => BigInt(Number(v)) !== v)).toBe(true);
  });

  test('braid sim --json prints the data sequence numbers as exact decimal strings', async () => {
    const want = ends(await runScenario(bulk2));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-sim-dsn-'));
    try {
      const file = path.join(dir, 'dsn.json');
      fs.writeFileSync(file, JSON.stringify(bulk2));
      const cli = path.join(repoRoot(), 'dist', 'ops', 'cli', 'main.js');
      const out = spawnSync(process.execPath, [cli, 'sim', '--scenario', file, '--json'], {
        encoding: 'utf8',
        timeout: 60000,
      });
      expect(out.stderr).toBe('');
      expect(out.status).toBe(0);
      for (const k of MPTCP_INFO_DSN_FIELDS) {
        expect(out.stdout).toContain(`"${k}": "${want.client[k].toString()}"`);
        expect(out.stdout).toContain(`"${k}": "${want.server[k].toString()}"`);
      }
      // Plain JSON readers get the digits; fromJson gives the BigInts back.
      const plain = ends(JSON.parse(out.stdout) as SimResult);
      expect(plain.client.mptcpi_snd_una as unknown).toBe(want.client.mptcpi_snd_una.toString());
      const back = ends(fromJson(out.stdout) as SimResult);
      for (const k of MPTCP_INFO_DSN_FIELDS) {
        expect(back.client[k]).toBe(want.client[k]);
        expect(back.server[k]).toBe(want.server[k]);
      }
      expect(toJson(back, 2)).toBe(toJson(want, 2));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
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
