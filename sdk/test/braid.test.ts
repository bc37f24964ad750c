/**
 * The SDK over the application channel, end to end against the `sim-node`
 * test fixture (a Braid node whose network is simulated, serving the channel
 * on a real Unix socket with real shared memory), plus the fallback rules.
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BraidSocket, connect, createServer, detachAll } from '../src/index';
import { type SimNode, startSimNode } from '../src/simnode';

/** Send `data`, collect the echo; resolves with its sha256. */
function roundTrip(sock: BraidSocket, data: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    sock.on('data', (d: Buffer) => h.update(d));
    sock.on('end', () => resolve(h.digest('hex')));
    sock.on('error', reject);
    sock.end(data);
  });
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

async function until(cond: () => boolean, ms = 10000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('SDK over a Braid node (sim-node fixture)', () => {
  let node: SimNode;

  beforeAll(() => {
    node = startSimNode({ fifoSize: 65536, slots: 128 });
  });
  afterAll(async () => {
    await detachAll();
    node.stop();
  });

  test('connect: a Duplex over shared memory, echoed and hashed', async () => {
    const data = crypto.randomBytes(4 << 20);
    const sock = connect({ host: node.peerAddress, port: node.echoPort, socketPath: node.path });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    expect(sock.transportPath).toBe('braid');
    expect(sock.remoteAddress).toBe(node.peerAddress);
    expect(sock.remotePort).toBe(node.echoPort);
    expect(sock.localAddress).toBe(node.nodeAddress);
    expect(sock.localPort).toBeGreaterThan(0);
    const info = await sock.getInfo();
    expect(info.transportPath).toBe('braid');
    expect(info.subflows).toHaveLength(1);
    expect(info.subflows[0].tcp.state_name).toBe('ESTABLISHED');
    expect(info.subflows[0].raddr.address).toBe(node.peerAddress);
    const closed = new Promise((r) => sock.once('close', r));
    expect(await roundTrip(sock, data)).toBe(sha(data));
    await closed;
  });

  test('100 concurrent connections, every one hashed end to end', async () => {
    const conns = Array.from({ length: 100 }, (_, i) => {
      const data = crypto.randomBytes(64 * 1024 + i * 97);
      const sock = connect({
        host: node.peerAddress,
        port: node.echoPort,
        socketPath: node.path,
        congestionControl: i % 2 ? 'newreno' : 'cubic',
      });
      return roundTrip(sock, data).then((h) => expect(h).toBe(sha(data)));
    });
    await Promise.all(conns);
    await until(() => node.stats().conns === 0);
  });

  test('createServer: connections from the network, accepted through the node', async () => {
    const srv = createServer((s) => s.pipe(s), { socketPath: node.path });
    await srv.listen(8080);
    expect(srv.transportPath).toBe('braid');
    const jobs = [0, 1, 2].map((i) => node.peerConnect(8080, 300000 + i, 10 + i));
    await until(() => jobs.every((j) => node.peerResult(j).done));
    for (const j of jobs) {
      const r = node.peerResult(j);
      expect(r.err).toBe(0);
      expect(r.match).toBe(true);
    }
    await new Promise((r) => srv.close(() => r(undefined)));
  });

  test('a slow reader holds the sender back without losing a byte', async () => {
    const data = crypto.randomBytes(2 << 20);
    const echoed0 = node.stats().peerEchoBytes;
    const sock = connect({ host: node.peerAddress, port: node.echoPort, socketPath: node.path });
    const h = crypto.createHash('sha256');
    let got = 0;
    sock.pause();
    sock.end(data);
    // Nothing read for a while: the FIFOs and TCP's windows fill up.
    await new Promise((r) => setTimeout(r, 300));
    expect(node.stats().peerEchoBytes - echoed0).toBeLessThan(data.length);
    sock.on('data', (d: Buffer) => {
      got += d.length;
      h.update(d);
    });
    sock.resume();
    await new Promise((r) => sock.once('end', r));
    expect(got).toBe(data.length);
    expect(h.digest('hex')).toBe(sha(data));
  });

  test('per-connection options reach the node (congestion control, Nagle)', async () => {
    const sock = connect({
      host: node.peerAddress,
      port: node.echoPort,
      socketPath: node.path,
      congestionControl: 'newreno',
    });
    await new Promise((r) => sock.once('connect', r));
    expect((await sock.getInfo()).subflows[0].tcp.cc).toBe('newreno');
    sock.setNoDelay(false);
    const data = crypto.randomBytes(100000);
    expect(await roundTrip(sock, data)).toBe(sha(data));
    expect(node.stats().protocolErrors).toBe(0);
  });

  test('refused connections and bad options are errors on the stream', async () => {
    const refused = connect({ host: node.peerAddress, port: 4444, socketPath: node.path });
    const e1 = await new Promise<NodeJS.ErrnoException>((r) => refused.on('error', r));
    expect(e1.code).toBe('ECONNREFUSED');
    const badcc = connect({
      host: node.peerAddress,
      port: node.echoPort,
      socketPath: node.path,
      congestionControl: 'nonesuch',
    });
    const e2 = await new Promise<NodeJS.ErrnoException>((r) => badcc.on('error', r));
    expect(e2.code).toBe('EINVAL');
  });

  test('an application killed mid-transfer: its connections reset, others intact', async () => {
    const before = node.stats();
    // A child process attaches and opens 3 connections that never finish.
    const script = path.join(os.tmpdir(), `braid-sdk-child-${process.pid}.js`);
    fs.writeFileSync(
      script,
      `const a = require(${JSON.stringify(path.resolve(__dirname, '../../native/build/Release/braid.node'))});
       (async () => {
         const c = await a.chanAttach(${JSON.stringify(node.path)}, 'doomed', 2000);
         for (let i = 0; i < 3; i++)
           a.chanRequest(c.id, { type: 1, cookie: i + 1, raddr: { address: '${node.peerAddress}', port: ${node.echoPort} } });
         const buf = Buffer.alloc(1 << 20, 1);
         const slots = [];
         setInterval(() => {
           for (const e of a.chanEvents(c.id)) if (e.type === 0x81) slots.push(e.slot);
           for (const s of slots) { a.chanWrite(c.id, s, buf, 0); let r; while (typeof (r = a.chanRead(c.id, s, 1 << 20)) !== 'number'); }
           if (slots.length === 3) process.stdout.write('flowing\\n');
         }, 5);
       })();`,
    );
    const doomed = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    // Meanwhile this process transfers, and must not notice.
    const data = crypto.randomBytes(3 << 20);
    const sock = connect({ host: node.peerAddress, port: node.echoPort, socketPath: node.path });
    const mine = roundTrip(sock, data);
    await new Promise<void>((r) => doomed.stdout!.once('data', () => r()));
    doomed.kill('SIGKILL');
    await new Promise((r) => doomed.once('exit', r));
    await until(() => node.stats().peerResets >= before.peerResets + 3);
    expect(await mine).toBe(sha(data));
    const after = node.stats();
    expect(after.appsRemoved).toBe(before.appsRemoved + 1);
    expect(after.connsResetByRemoval).toBe(before.connsResetByRemoval + 3);
    fs.unlinkSync(script);
  });
});

describe('SDK when the node stops or is absent', () => {
  test('a node that stops: open connections and servers get a clear error', async () => {
    const node = startSimNode();
    const sock = connect({ host: node.peerAddress, port: node.echoPort, socketPath: node.path });
    await new Promise((r) => sock.once('connect', r));
    sock.write(Buffer.alloc(1000));
    const err = new Promise<NodeJS.ErrnoException>((r) => sock.once('error', r));
    node.stop();
    const e = await err;
    expect(e.code).toBe('EBRAIDNODEGONE');
    expect(e.message).toMatch(/went away/);
  });

  test("fallback 'none' with no node: a clear error", async () => {
    const p = path.join(os.tmpdir(), `braid-no-node-${process.pid}.sock`);
    const sock = connect({ host: '127.0.0.1', port: 9, socketPath: p, fallback: 'none' });
    const e = await new Promise<NodeJS.ErrnoException>((r) => sock.once('error', r));
    expect(e.code).toBe('EBRAIDNONODE');
    expect(e.message).toContain(p);
    await expect(
      createServer(undefined, { socketPath: p, fallback: 'none' }).listen(0),
    ).rejects.toThrow(/no Braid node reachable/);
  });

  test('no node: falls back to the kernel, hashed both ways, path visible', async () => {
    const p = path.join(os.tmpdir(), `braid-no-node-${process.pid}.sock`);
    const srv = createServer((s) => s.pipe(s), { socketPath: p });
    const port = await srv.listen(0, '127.0.0.1');
    expect(srv.transportPath).toMatch(/^kernel-/);
    const data = crypto.randomBytes(1 << 20);
    const sock = connect({ host: '127.0.0.1', port, socketPath: p });
    await new Promise((r) => sock.once('connect', r));
    expect(sock.transportPath).toBe(srv.transportPath);
    expect(sock.remotePort).toBe(port);
    const info = await sock.getInfo();
    expect(info.transportPath).toBe(sock.transportPath);
    const h = await roundTrip(sock, data);
    expect(h).toBe(sha(data));
    await new Promise((r) => srv.close(() => r(undefined)));
  });
});
