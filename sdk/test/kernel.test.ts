import { execFileSync, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import * as path from 'node:path';
import { repoRoot } from '../../ops/src/paths';
import {
  type KernelSocket,
  kernelConnect,
  kernelMptcp,
  kernelMptcpInfo,
  kernelServer,
} from '../src/kernel';

const SIZE = 8 << 20;

/** Send `data`, read back the echo; the sha256 of what came back. */
function roundTrip(sock: net.Socket, data: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    let got = 0;
    sock.on('data', (d: Buffer) => {
      h.update(d);
      got += d.length;
      if (got === data.length) sock.end();
    });
    sock.on('end', () => resolve(h.digest('hex')));
    sock.on('error', reject);
    sock.write(data);
  });
}

function echo(s: net.Socket) {
  s.pipe(s);
  s.on('error', () => undefined);
}

describe('SDK kernel path', () => {
  const data = crypto.randomBytes(SIZE);
  const digest = crypto.createHash('sha256').update(data).digest('hex');

  test('this kernel makes MPTCP sockets', () => {
    expect(kernelMptcp()).toEqual({ ok: true });
  });

  test('kernel MPTCP both ends: bytes intact and the peer spoke MPTCP', async () => {
    const accepted: KernelSocket[] = [];
    const srv = kernelServer((s) => {
      accepted.push(s);
      echo(s);
    });
    try {
      const port = await srv.listen(0, '127.0.0.1');
      expect(srv.transportPath).toBe('kernel-mptcp');
      const sock = kernelConnect({ host: '127.0.0.1', port });
      await new Promise((r) => sock.once('connect', r));
      expect(sock.transportPath).toBe('kernel-mptcp');
      const info = kernelMptcpInfo(sock);
      expect(info.fallback).toBe(false);
      expect(info.remote_key_received).toBe(true);
      expect(await roundTrip(sock, data)).toBe(digest);
      expect(accepted[0]?.transportPath).toBe('kernel-mptcp');
    } finally {
      srv.server.close();
      for (const s of accepted) s.destroy();
    }
  });

  test('an MPTCP client against a plain TCP server falls back and loses nothing', async () => {
    const server = net.createServer(echo);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const sock = kernelConnect({ host: '127.0.0.1', port });
    try {
      await new Promise((r) => sock.once('connect', r));
      expect(sock.transportPath).toBe('kernel-mptcp');
      expect(kernelMptcpInfo(sock).fallback).toBe(true);
      expect(await roundTrip(sock, data)).toBe(digest);
    } finally {
      sock.destroy();
      server.close();
    }
  });

  test('a bad address is refused with a clear error', () => {
    expect(() => kernelConnect({ host: 'not-an-ip', port: 1 })).toThrow(/not an IP address/);
  });

  test('with MPTCP disabled in the kernel the SDK uses TCP', () => {
    const ns = `braid-t-sdk-${process.pid}`;
    const script = `
      const k = require(${JSON.stringify(path.join(repoRoot(), 'dist', 'sdk', 'src', 'kernel.js'))});
      const net = require('node:net');
      const srv = net.createServer((s) => s.pipe(s));
      srv.listen(0, '127.0.0.1', () => {
        const s = k.kernelConnect({ host: '127.0.0.1', port: srv.address().port }, () => s.write('ping'));
        s.on('data', (d) => {
          console.log(JSON.stringify({ probe: k.kernelMptcp(), path: s.transportPath, echo: d.toString() }));
          s.destroy(); srv.close();
        });
      });`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.mptcp.enabled=0']);
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], {
        encoding: 'utf8',
        timeout: 20000,
      });
      expect(r.stderr).toBe('');
      const out = JSON.parse(r.stdout) as {
        probe: { ok: boolean; reason: string };
        path: string;
        echo: string;
      };
      expect(out.probe.ok).toBe(false);
      expect(out.probe.reason).toMatch(/cannot create a kernel MPTCP socket/);
      expect(out.path).toBe('kernel-tcp');
      expect(out.echo).toBe('ping');
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });
});
