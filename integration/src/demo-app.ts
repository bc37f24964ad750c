/**
 * The application of `braid demo`: an SDK client that streams a
 * deterministic pseudo-random byte stream to an SDK server for a while,
 * both hashing what they send and receive (SHA-256), the server also timing
 * the longest gap between two arrivals (the stall an application sees).
 * Each prints one JSON line when it is done; the client also prints
 * `{"connected":…}` once connected and the server `{"listening":…}`.
 *
 *   node demo-app.js server --port 7000
 *   node demo-app.js client --host 10.200.1.2 --port 7000 --seconds 40 [--subflows 3]
 *
 * The node's channel socket comes from $BRAID_APP_SOCKET (the SDK's
 * default); with no node the SDK falls back to the kernel (printed in
 * `path`).
 */
import { createHash, createCipheriv } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connect, createServer } from '../../sdk/src/index';

/** A fast deterministic stream: AES-128-CTR over zeros with a fixed key. */
function streamCipher(seed: number) {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed >>> 0, 0);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
}

const print = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

async function server(port: number): Promise<void> {
  const srv = createServer((sock) => {
    const sha = createHash('sha256');
    let bytes = 0;
    let last = Date.now();
    let maxGap = 0;
    const t0 = last;
    sock.on('data', (d: Buffer) => {
      const now = Date.now();
      if (bytes > 0) maxGap = Math.max(maxGap, now - last);
      last = now;
      bytes += d.length;
      sha.update(d);
    });
    sock.on('end', () => {
      print({
        done: true,
        bytes,
        sha256: sha.digest('hex'),
        max_gap_ms: maxGap,
        seconds: (Date.now() - t0) / 1000,
        path: (sock as { transportPath?: string }).transportPath,
      });
      sock.end();
      srv.close();
      // One connection served: leave (the node's channel would keep the process alive).
      setTimeout(() => process.exit(process.exitCode ?? 0), 200);
    });
    sock.on('error', (e: Error) => {
      print({ done: false, error: e.message, bytes });
      process.exitCode = 1;
      srv.close();
    });
  });
  srv.on('error', (e: Error) => {
    print({ done: false, error: e.message });
    process.exitCode = 1;
  });
  // An MPTCP listener (it accepts plain TCP clients too).
  await srv.listen({ port, subflows: 3 });
  print({ listening: port, path: srv.transportPath });
}

async function client(host: string, port: number, seconds: number, subflows: number) {
  const sha = createHash('sha256');
  const gen = streamCipher(42);
  const zero = Buffer.alloc(64 * 1024);
  let bytes = 0;
  const sock = connect({ host, port, subflows, scheduler: 'default' }, () =>
    print({ connected: true, path: sock.transportPath }),
  );
  await new Promise<void>((resolve, reject) => {
    const end = Date.now() + seconds * 1000;
    sock.once('error', reject);
    const pump = (): void => {
      while (Date.now() < end) {
        const chunk = gen.update(zero);
        sha.update(chunk);
        bytes += chunk.length;
        if (!sock.write(chunk)) {
          sock.once('drain', pump);
          return;
        }
      }
      sock.end();
    };
    sock.once('connect', pump);
    sock.on('finish', () => undefined);
    sock.on('close', () => resolve());
    sock.resume(); // the server sends nothing; drain the readable side
  });
  print({ done: true, bytes, sha256: sha.digest('hex'), path: sock.transportPath });
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string', default: '7000' },
      seconds: { type: 'string', default: '30' },
      subflows: { type: 'string', default: '3' },
    },
  });
  const port = Number(values.port);
  if (positionals[0] === 'server') await server(port);
  else if (positionals[0] === 'client' && values.host) {
    await client(values.host, port, Number(values.seconds), Number(values.subflows));
  } else {
    process.stderr.write(
      'usage: demo-app server --port P | client --host H --port P [--seconds S]\n',
    );
    return 2;
  }
  return 0;
}

if (require.main === module) {
  main().then(
    (c) => {
      if (c) process.exitCode = c;
    },
    (e: Error) => {
      print({ done: false, error: e.message });
      process.exitCode = 1;
    },
  );
}
