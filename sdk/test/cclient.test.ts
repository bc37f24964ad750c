/**
 * The C client library (native/client) against the sim-node test fixture:
 * the example program attaches over the Unix socket, echoes a pattern
 * through the node and checks it, and reports the node's tcp_info.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from '../../ops/src/paths';
import { type SimNode, startSimNode } from '../src/simnode';

const native = path.join(repoRoot(), 'native');
const bin = path.join(native, 'out', 'client', 'braid-echo-client');

describe('C client (braid_client.h)', () => {
  let node: SimNode;
  beforeAll(() => {
    execFileSync('make', ['-s', '-C', native, 'client'], { stdio: 'inherit' });
    node = startSimNode();
  });
  afterAll(() => node.stop());

  test('echo through the node, checked byte for byte, with tcp_info', () => {
    const r = spawnSync(
      bin,
      [node.peerAddress, String(node.echoPort), String(3 << 20), node.path],
      {
        encoding: 'utf8',
        timeout: 30000,
      },
    );
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.match).toBe(true);
    expect(out.bytes).toBe(3 << 20);
    expect(out.subflows).toBe(1);
  });

  test('no node: a clear error and exit status 1', () => {
    const r = spawnSync(bin, [node.peerAddress, '7', '10', '/tmp/braid-nonesuch.sock'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no Braid node at /tmp/braid-nonesuch.sock');
  });

  test('refused: the errno comes back', () => {
    const r = spawnSync(bin, [node.peerAddress, '4444', '10', node.path], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Connection refused');
  });
});
