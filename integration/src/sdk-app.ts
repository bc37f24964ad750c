/**
 * A small application on the Braid SDK for tests and benchmarks, run as its
 * own process (so that it can be killed, and so that it attaches to a node
 * like any application does):
 *
 *   node sdk-app.js server --port P [--socket PATH] [--subflows N]
 *     an echo server; prints `{"ready":port,"path":...}` once listening, and
 *     one JSON line per finished connection {remote, bytes, sha256, error?}.
 *   node sdk-app.js client --host H[,H2,...] --port P --conns N --bytes B
 *                          [--socket PATH] [--hold-ms MS] [--subflows N]
 *     N concurrent connections (spread over the hosts), each sends B
 *     pseudo-random bytes and reads the echo back; prints one JSON line
 *     {conns: [{host, transportPath, sent, received, sentSha, echoSha,
 *     error?}], ms}. --hold-ms: pause that long half-way through the send
 *     (so a test can act on connections mid-transfer; `{"midway":true}` is
 *     printed when every connection got there).
 */
import * as crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import { type BraidSocket, connect, createServer } from '../../sdk/src/index';
import type { SdkConnResult as ConnResult } from './node-testbed';

function out(o: unknown): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

async function server(port: number, socketPath?: string, subflows?: number): Promise<void> {
  const srv = createServer(
    (sock) => {
      const h = crypto.createHash('sha256');
      let bytes = 0;
      const remote = `${sock.remoteAddress}:${sock.remotePort}`;
      let error: string | undefined;
      sock.on('data', (d: Buffer) => {
        h.update(d);
        bytes += d.length;
      });
      sock.on('error', (e: NodeJS.ErrnoException) => {
        error = e.code ?? e.message;
      });
      sock.on('close', () =>
        out({ conn: remote, bytes, sha256: h.digest('hex'), ...(error ? { error } : {}) }),
      );
      sock.pipe(sock);
    },
    { socketPath, subflows },
  );
  srv.on('error', (e: Error) => out({ serverError: e.message }));
  const p = await srv.listen(port);
  out({ ready: p, path: srv.transportPath });
}

function oneConn(
  host: string,
  port: number,
  bytes: number,
  seed: number,
  socketPath: string | undefined,
  subflows: number | undefined,
  midway: Promise<void>,
  atMidway: () => void,
): Promise<ConnResult> {
  return new Promise((resolve) => {
    const sock: BraidSocket = connect({ host, port, socketPath, subflows });
    const txh = crypto.createHash('sha256');
    const rxh = crypto.createHash('sha256');
    let received = 0;
    let sent = 0;
    let error: string | undefined;
    let done = false;
    let info: ConnResult['info'];
    const finish = (): void => {
      if (done) return;
      done = true;
      resolve({
        host,
        transportPath: sock.transportPath,
        sent,
        received,
        sentSha: txh.digest('hex'),
        echoSha: rxh.digest('hex'),
        localPort: sock.localPort,
        ...(info ? { info } : {}),
        ...(error ? { error } : {}),
      });
    };
    sock.on('data', (d: Buffer) => {
      rxh.update(d);
      received += d.length;
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    // Once everything is sent the connection is in full swing: note how it runs.
    let infoP: Promise<void> = Promise.resolve();
    const noteInfo = (): void => {
      infoP = sock.getInfo().then(
        (i) => {
          info = { transport: i.transport, mptcp: i.mptcp, subflows: i.subflows.length };
        },
        (e: Error) => {
          info = { transport: 'unknown', mptcp: false, subflows: 0, error: e.message };
        },
      );
    };
    sock.on('close', () => void infoP.then(finish));
    sock.once('connect', () => {
      // Deterministic pseudo-random payload: chunks of sha256 counters.
      const chunk = 64 * 1024;
      let ctr = 0;
      const make = (n: number): Buffer => {
        const b = Buffer.allocUnsafe(n);
        for (let off = 0; off < n; off += 32) {
          const d = crypto.createHash('sha256').update(`${seed}:${ctr++}`).digest();
          d.copy(b, off, 0, Math.min(32, n - off));
        }
        return b;
      };
      let paused = false;
      const pump = (): void => {
        while (sent < bytes) {
          if (!paused && sent >= bytes / 2) {
            paused = true;
            atMidway();
            void midway.then(pump);
            return;
          }
          const n = Math.min(chunk, bytes - sent, !paused ? Math.ceil(bytes / 2) - sent : chunk);
          const b = make(n);
          txh.update(b);
          sent += n;
          if (!sock.write(b)) {
            sock.once('drain', pump);
            return;
          }
        }
        noteInfo();
        sock.end();
      };
      pump();
    });
  });
}

async function client(
  hosts: string[],
  port: number,
  conns: number,
  bytes: number,
  socketPath: string | undefined,
  holdMs: number,
  subflows: number | undefined,
): Promise<void> {
  const t0 = Date.now();
  let atMid = 0;
  let release: () => void = () => undefined;
  const midway = new Promise<void>((r) => (release = r));
  if (!holdMs) release();
  const atMidway = (): void => {
    atMid++;
    if (holdMs && atMid === conns) {
      out({ midway: true });
      setTimeout(release, holdMs);
    }
  };
  const all = await Promise.all(
    Array.from({ length: conns }, (_, i) =>
      oneConn(hosts[i % hosts.length]!, port, bytes, i, socketPath, subflows, midway, atMidway),
    ),
  );
  out({ conns: all, ms: Date.now() - t0 });
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      conns: { type: 'string' },
      bytes: { type: 'string' },
      socket: { type: 'string' },
      'hold-ms': { type: 'string' },
      subflows: { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port ?? 5201);
  if (mode === 'server')
    return server(port, values.socket, values.subflows ? Number(values.subflows) : undefined);
  if (mode === 'client') {
    await client(
      (values.host ?? '').split(',').filter(Boolean),
      port,
      Number(values.conns ?? 1),
      Number(values.bytes ?? 1 << 20),
      values.socket,
      Number(values['hold-ms'] ?? 0),
      values.subflows ? Number(values.subflows) : undefined,
    );
    process.exit(0);
  }
  throw new Error(`sdk-app: unknown mode ${mode}`);
}

main().catch((e: unknown) => {
  out({ fatal: (e as Error).message });
  process.exit(1);
});
