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

/** The config file text of a JetStream nats-server. */
export function natsServerConf(o: {
  host: string;
  port: number;
  monitorPort: number;
  dataDir: string;
  authorization?: string;
  extraConfig?: string;
}): string {
  return [
    `host: ${JSON.stringify(o.host)}`,
    `port: ${o.port}`,
    `http: ${JSON.stringify(`${o.host}:${o.monitorPort}`)}`,
    `server_name: ${JSON.stringify(`braid-${o.port}`)}`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(o.dataDir)}`,
    `  max_memory_store: 256MB`,
    `  max_file_store: 2GB`,
    `}`,
    `max_payload: 4MB`,
    o.authorization ?? '',
    o.extraConfig ?? '',
  ].join('\n');
}

/** Wait until the nats-server monitoring endpoint at host:port says JetStream is up. */
export async function waitNatsReady(
  host: string,
  monitorPort: number,
  timeoutMs: number,
  alive: () => boolean = () => true,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) return false;
    if (await probe(host, monitorPort)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const WORK_PREFIX = 'braid-nats-';

/** Remove work directories of earlier servers whose owning process is gone
 * (e.g. a controller killed with SIGKILL never ran its cleanup). */
export function sweepStaleNatsDirs(tmp = os.tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(tmp).filter((n) => n.startsWith(WORK_PREFIX));
  } catch {
    return removed;
  }
  for (const n of names) {
    const dir = path.join(tmp, n);
    let owner = 0;
    try {
      owner = Number(fs.readFileSync(path.join(dir, 'owner.pid'), 'utf8').trim());
    } catch {
      continue; // not ours to judge (no owner recorded)
    }
    if (!Number.isInteger(owner) || owner <= 0) continue;
    try {
      process.kill(owner, 0);
      continue; // owner alive
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPERM') continue;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** Start nats-server with JetStream and wait until it is ready. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  if (!fs.existsSync(NATS_SERVER_BIN)) {
    throw new Error(`nats-server not found at ${NATS_SERVER_BIN} (apt-get install nats-server)`);
  }
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port && opts.port > 0 ? opts.port : await freePort(host);
  const monitor = await freePort(host);
  sweepStaleNatsDirs();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), WORK_PREFIX));
  fs.writeFileSync(path.join(work, 'owner.pid'), String(process.pid));
  const dataDir = opts.dataDir ?? path.join(work, 'js');
  fs.mkdirSync(dataDir, { recursive: true });
  const conf = natsServerConf({
    host,
    port,
    monitorPort: monitor,
    dataDir,
    authorization: opts.authorization,
    extraConfig: opts.extraConfig,
  });
  const confFile = path.join(work, 'nats-server.conf');
  fs.writeFileSync(confFile, conf, { mode: 0o600 });
  const logFile = path.join(work, 'nats-server.log');
  const out = fs.openSync(logFile, 'a');
  const child = spawn(NATS_SERVER_BIN, ['-c', confFile], {
    stdio: ['ignore', out, out],
    detached: false,
  });
  fs.closeSync(out);
  const ready = await waitNatsReady(
    host,
    monitor,
    opts.readyTimeoutMs ?? 10000,
    () => child.exitCode === null,
  );
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
