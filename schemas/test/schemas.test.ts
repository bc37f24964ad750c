import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../src/config';
import { SchemaError, assertValid, check, listSchemaFiles } from '../src/index';
import { execFileSync } from 'node:child_process';
import { repoRoot } from '../../ops/src/paths';
import type { NodeConfig } from '../gen/types';

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-schemas-'));
let nfile = 0;
afterAll(() => fs.rmSync(tmpDir, { recursive: true, force: true }));

function tmpFile(content: string): string {
  const f = path.join(tmpDir, `config-${nfile++}.json`);
  fs.writeFileSync(f, content);
  return f;
}

const goodNode = {
  id: 'node-a',
  ports: [{ name: 'p0', device: 'net_null0', address: '10.1.0.2/24' }],
};

describe('schemas', () => {
  test('every schema compiles and has an $id named after its file', () => {
    const files = listSchemaFiles();
    expect(files).toEqual(expect.arrayContaining(['node-config.schema.json']));
    for (const f of files) expect(() => check(f.replace(/\.schema\.json$/, ''), {})).not.toThrow();
  });

  test('generated types are current with the schemas', () => {
    // Runs the compiled generator (npm test builds dist/ before jest).
    const gen = path.join(repoRoot(), 'dist', 'schemas', 'src', 'gen.js');
    expect(fs.existsSync(gen)).toBe(true);
    expect(() => execFileSync(process.execPath, [gen, '--check'], { stdio: 'pipe' })).not.toThrow();
  });

  test('a good node config is accepted and defaults are filled in', () => {
    const cfg = assertValid<NodeConfig>('node-config', structuredClone(goodNode));
    expect(cfg.workers).toBe(1);
    expect(cfg.ports[0]?.mtu).toBe(1500);
    expect(cfg.log_level).toBe('info');
  });

  test('a bad field is refused with its JSON pointer and the reason', () => {
    const bad = structuredClone(goodNode) as Record<string, unknown>;
    (bad.ports as Record<string, unknown>[])[0]!.mtu = 100000;
    try {
      assertValid('node-config', bad);
      throw new Error('accepted a bad config');
    } catch (e) {
      expect(e).toBeInstanceOf(SchemaError);
      expect((e as SchemaError).pointer).toBe('/ports/0/mtu');
      expect((e as SchemaError).message).toMatch(/\/ports\/0\/mtu: must be <= 9000/);
    }
  });

  test('telemetry carries MPTCP data sequence numbers as exact decimal strings', () => {
    const conn = {
      id: '0-1-2-3',
      state: 'established',
      local_addr: '10.0.0.1',
      local_port: 40000,
      remote_addr: '10.0.0.2',
      remote_port: 5201,
      subflows: [],
    };
    const batch = (extra: Record<string, unknown>) => ({
      v: 1,
      node_id: 'node-a',
      seq: 0,
      ts: 1767225600000,
      connections: [{ ...conn, ...extra }],
    });
    expect(check('telemetry', batch({}))).toEqual([]);
    const max = (2n ** 64n - 1n).toString();
    expect(
      check('telemetry', batch({ write_seq: max, snd_una: '6623866005027694974', rcv_nxt: '0' })),
    ).toEqual([]);
    // A JSON number cannot hold such a value exactly; signs, blanks and
    // leading zeros are not digits of one.
    for (const bad of [6623866005027695000, '-1', '01', ' 1', '1e3', '123456789012345678901']) {
      expect(check('telemetry', batch({ snd_una: bad }))[0]?.pointer).toBe(
        '/connections/0/snd_una',
      );
    }
  });

  test('missing and unknown fields are named', () => {
    expect(check('node-config', { ports: goodNode.ports })).toEqual([
      { pointer: '/id', message: 'is required' },
    ]);
    expect(check('node-config', { ...structuredClone(goodNode), colour: 'blue' })).toEqual([
      { pointer: '/colour', message: 'is not a known field' },
    ]);
    const issues = check('node-config', {
      ...structuredClone(goodNode),
      ports: [{ name: 'p0', device: 'x', address: '10.1.0.300/24' }],
    });
    expect(issues[0]?.pointer).toBe('/ports/0/address');
  });
});

describe('config files', () => {
  test('loadConfig names the file, the field and the reason', () => {
    const f = tmpFile(JSON.stringify({ id: 'bad id!', ports: goodNode.ports }));
    expect(() => loadConfig('node-config', f)).toThrow(ConfigError);
    expect(() => loadConfig('node-config', f)).toThrow(`${f}: /id: must match pattern`);
  });

  test('malformed JSON and missing files get a clear error', () => {
    const f = tmpFile('{ "id": ');
    expect(() => loadConfig('node-config', f)).toThrow(/not valid JSON/);
    expect(() => loadConfig('node-config', '/nonexistent/braid.json')).toThrow(/cannot read/);
  });

  test('controller config defaults', () => {
    const f = tmpFile('{}');
    const cfg = loadConfig<{ http: { port: number }; nats: { prefix: string } }>(
      'controller-config',
      f,
    );
    expect(cfg.http.port).toBe(8480);
  });
});
