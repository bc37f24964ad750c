/**
 * A local `nats-server` with JetStream: the controller's embedded default and the
 * server every control-plane test runs against. Debian's nats-server (2.9.x) is
 * started with a generated config file (port, JetStream store directory and, when
 * given, an `authorization { users = [...] }` block), and we wait until its
 * monitoring endpoint answers before handing it back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';

export const NATS_SERVER_BIN = process.env.BRAID_NATS_SERVER ?? '/usr/sbin/nats-server';

export interface NatsServerOptions {
  /** Client port; 0 or absent: a free one. */
  port?: number;
  /** JetStream store directory; absent: a fresh temporary directory removed on stop(). */
  dataDir?: string;
  /** Host to listen on (default 127.0.0.1). */
  host?: string;
  /** An `authorization { ... }` block (see controller/src/nats-auth.ts), verbatim. */
  authorization?: string;
  /** How long to wait for the server to be ready (default 10 s). */
  readyTimeoutMs?: number;
  /** Extra lines for the config file. */
  extraConfig?: string;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly pid: number;
  /** Stop the server (SIGTERM, then SIGKILL after 3 s) and remove temporary directories. */
  stop(): Promise<void>;
  /** SIGKILL the server without cleanup of the store (for restart tests). */
  kill(): Promise<void>;
}

/** A TCP port that is free right now on `host`. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function probe(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      { host, port, path: '/healthz?js-enabled-only=true', timeout: 500 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

/** Start nats-server with JetStream and wait until it is ready. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  if (!fs.existsSync(NATS_SERVER_BIN)) {
    throw new Error(`nats-server not found at ${NATS_SERVER_BIN} (apt-get install nats-server)`);
  }
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port && opts.port > 0 ? opts.port : await freePort(host);
  const monitor = await freePort(host);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-nats-'));
  const dataDir = opts.dataDir ?? path.join(work, 'js');
  fs.mkdirSync(dataDir, { recursive: true });
  const conf = [
    `host: ${JSON.stringify(host)}`,
    `port: ${port}`,
    `http: ${JSON.stringify(`${host}:${monitor}`)}`,
    `server_name: ${JSON.stringify(`braid-${port}`)}`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(dataDir)}`,
    `  max_memory_store: 256MB`,
    `  max_file_store: 2GB`,
    `}`,
    `max_payload: 4MB`,
    opts.authorization ?? '',
    opts.extraConfig ?? '',
  ].join('\n');
  const confFile = path.join(work, 'nats-server.conf');
  fs.writeFileSync(confFile, conf, { mode: 0o600 });
  const logFile = path.join(work, 'nats-server.log');
  const out = fs.openSync(logFile, 'a');
  const child = spawn(NATS_SERVER_BIN, ['-c', confFile], {
    stdio: ['ignore', out, out],
    detached: false,
  });
  fs.closeSync(out);
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 10000);
  let ready = false;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await probe(host, monitor)) {
      ready = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const cleanup = (): void => {
    if (!opts.dataDir) fs.rmSync(work, { recursive: true, force: true });
    else {
      fs.rmSync(confFile, { force: true });
      fs.rmSync(logFile, { force: true });
      fs.rmSync(work, { recursive: true, force: true });
    }
  };
  if (!ready) {
    const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : '';
    child.kill('SIGKILL');
    await exited(child);
    cleanup();
    throw new Error(`nats-server did not become ready on ${host}:${port}\n${log}`);
  }
  let stopped = false;
  return {
    url: `nats://${host}:${port}`,
    port,
    host,
    dataDir,
    pid: child.pid ?? 0,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited(child);
        clearTimeout(t);
      }
      cleanup();
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited(child);
      }
    },
  };
}
