/**
 * The node's admin socket: a Unix socket speaking JSON lines. Each request
 * line is an object with an `op`; each answer line is `{ok: true, result}`
 * or `{ok: false, error}`. `braid ss`, `braid nstat` and `braid node status`
 * are its clients (adminRequest()).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as readline from 'node:readline';
import type { Logger } from '../../ops/src/log';

export type AdminHandler = (req: Record<string, unknown>) => unknown;

export class AdminServer {
  private handler: AdminHandler = () => {
    throw new Error('not ready');
  };
  private readonly socks = new Set<net.Socket>();

  private constructor(
    readonly path: string,
    private readonly server: net.Server,
  ) {}

  /** Listen on `file` (a stale socket left by a dead node is replaced; a live one is an error). */
  static async listen(file: string, log?: Logger): Promise<AdminServer> {
    if (fs.existsSync(file)) {
      const alive = await new Promise<boolean>((res) => {
        const c = net.connect(file);
        c.once('connect', () => {
          c.destroy();
          res(true);
        });
        c.once('error', () => res(false));
      });
      if (alive) throw new Error(`admin socket ${file}: another node is serving it`);
      fs.rmSync(file, { force: true });
    }
    const server = net.createServer();
    const admin = new AdminServer(file, server);
    server.on('connection', (s) => admin.serve(s, log));
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(file, () => {
        server.off('error', rej);
        res();
      });
    });
    fs.chmodSync(file, 0o660);
    return admin;
  }

  handle(h: AdminHandler): void {
    this.handler = h;
  }

  private serve(s: net.Socket, log?: Logger): void {
    this.socks.add(s);
    s.on('close', () => this.socks.delete(s));
    s.on('error', () => undefined);
    const rl = readline.createInterface({ input: s });
    rl.on('line', (line) => {
      let answer: unknown;
      try {
        const req = JSON.parse(line) as unknown;
        if (!req || typeof req !== 'object' || Array.isArray(req))
          throw new Error('a request is a JSON object with an "op"');
        answer = { ok: true, result: this.handler(req as Record<string, unknown>) };
      } catch (e) {
        log?.debug({ err: (e as Error).message }, 'admin request refused');
        answer = { ok: false, error: (e as Error).message };
      }
      if (!s.destroyed) s.write(JSON.stringify(answer) + '\n');
    });
  }

  async close(): Promise<void> {
    for (const s of this.socks) s.destroy();
    await new Promise<void>((res) => this.server.close(() => res()));
    fs.rmSync(this.path, { force: true });
  }
}

/** Ask a node's admin socket one question. */
export function adminRequest(
  file: string,
  req: Record<string, unknown>,
  timeoutMs = 5000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = net.connect(file);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`admin socket ${file}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new Error(
          e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
            ? `no Braid node at ${file} (${e.code}): is \`braid node\` running? (--admin-socket)`
            : `admin socket ${file}: ${e.message}`,
        ),
      );
    });
    s.once('connect', () => s.write(JSON.stringify(req) + '\n'));
    const rl = readline.createInterface({ input: s });
    rl.once('line', (line) => {
      clearTimeout(timer);
      s.destroy();
      try {
        const a = JSON.parse(line) as { ok: boolean; result?: unknown; error?: string };
        if (a.ok) resolve(a.result);
        else reject(new Error(a.error ?? 'the node refused the request'));
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}
