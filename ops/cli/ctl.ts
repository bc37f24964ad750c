/**
 * `braid ctl`: the controller's northbound API from the shell. Every answer is
 * printed as JSON; the exit status is 0 for 2xx, 1 for an API error (its JSON
 * body is printed too), 2 for bad arguments.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

const HELP = `Usage: braid ctl [--url URL] [--token TOKEN] <command> [args] [options]

The Braid controller's API from the shell; answers are JSON.
URL and TOKEN default to $BRAID_URL (else http://127.0.0.1:8480) and $BRAID_TOKEN.

Commands:
  status                              this replica, the leader
  nodes [ID]                          all nodes (--status up|down), or one
  connections [ID]                    all connections (--node, --app, --state), or one
  connection-set ID                   --scheduler S, --weight SUB=W…, --priority SUB=regular|backup…
  subflow-add ID                      --local ADDR --remote ADDR --remote-port P --backup
  subflow-rm ID SUB
  paths                               path health (--node)
  policies [ID]                       all policies, or one
  policy-create                       --file F (JSON; - for stdin)
  policy-update ID                    --file F [--revision N]   (compare-and-swap)
  policy-delete ID                    [--revision N]
  events                              follow the event stream (--node, --replay N); one JSON per line
  audit                               the audit log (--limit N, --action A, --target T)

Options:
  --dry-run        for changes: show the effect, change nothing
  --idempotency-key K   for connection changes: a retry with the same key runs once
  -h, --help       this help
`;

interface Opts {
  url: string;
  token?: string;
}

async function call(
  o: Opts,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<number> {
  const h: Record<string, string> = { accept: 'application/json', ...headers };
  if (o.token) h.authorization = `Bearer ${o.token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(o.url.replace(/\/$/, '') + path, {
    method,
    headers: h,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let out: unknown = text;
  try {
    out = JSON.parse(text);
  } catch {
    out = { status: res.status, body: text };
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return res.ok ? 0 : 1;
}

async function follow(o: Opts, path: string): Promise<number> {
  const h: Record<string, string> = { accept: 'text/event-stream' };
  if (o.token) h.authorization = `Bearer ${o.token}`;
  const res = await fetch(o.url.replace(/\/$/, '') + path, { headers: h });
  if (!res.ok || !res.body) {
    process.stdout.write(`${await res.text()}\n`);
    return 1;
  }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return 0;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (ev === 'event' && data) process.stdout.write(`${data}\n`);
    }
  }
}

function qs(params: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}

function pairs(list: string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const x of list ?? []) {
    const i = x.indexOf('=');
    if (i <= 0) throw new Error(`--${what} wants SUBFLOW=VALUE, not "${x}"`);
    out[x.slice(0, i)] = x.slice(i + 1);
  }
  return out;
}

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file === '-' ? 0 : file, 'utf8'));
}

export async function ctlMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        status: { type: 'string' },
        node: { type: 'string' },
        app: { type: 'string' },
        state: { type: 'string' },
        scheduler: { type: 'string' },
        weight: { type: 'string', multiple: true },
        priority: { type: 'string', multiple: true },
        local: { type: 'string' },
        remote: { type: 'string' },
        'remote-port': { type: 'string' },
        backup: { type: 'boolean' },
        file: { type: 'string', short: 'f' },
        revision: { type: 'string' },
        replay: { type: 'string' },
        limit: { type: 'string' },
        action: { type: 'string' },
        target: { type: 'string' },
        'dry-run': { type: 'boolean' },
        'idempotency-key': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (e) {
    process.stderr.write(`braid ctl: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const [cmd, a1, a2] = positionals;
  if (v.help || !cmd) {
    process.stdout.write(HELP);
    return v.help ? 0 : 2;
  }
  const o: Opts = {
    url: v.url ?? process.env.BRAID_URL ?? 'http://127.0.0.1:8480',
    ...((v.token ?? process.env.BRAID_TOKEN) ? { token: v.token ?? process.env.BRAID_TOKEN } : {}),
  };
  const dry = v['dry-run'] ? '?dryRun=true' : '';
  const idem: Record<string, string> = v['idempotency-key']
    ? { 'idempotency-key': v['idempotency-key'] }
    : {};
  const enc = encodeURIComponent;
  const need = (x: string | undefined, what: string): string => {
    if (!x) throw new Error(`${cmd} needs ${what}`);
    return x;
  };
  try {
    switch (cmd) {
      case 'status':
        return await call(o, 'GET', '/v1/controller');
      case 'nodes':
        return await call(
          o,
          'GET',
          a1 ? `/v1/nodes/${enc(a1)}` : `/v1/nodes${qs({ status: v.status })}`,
        );
      case 'connections':
        return await call(
          o,
          'GET',
          a1
            ? `/v1/connections/${enc(a1)}`
            : `/v1/connections${qs({ node: v.node, app: v.app, state: v.state })}`,
        );
      case 'connection-set': {
        const body: Record<string, unknown> = {};
        if (v.scheduler) body.scheduler = v.scheduler;
        const w = pairs(v.weight, 'weight');
        if (Object.keys(w).length)
          body.weights = Object.fromEntries(Object.entries(w).map(([k, x]) => [k, Number(x)]));
        const p = pairs(v.priority, 'priority');
        if (Object.keys(p).length)
          body.subflows = Object.entries(p).map(([id, priority]) => ({ id, priority }));
        return await call(
          o,
          'PATCH',
          `/v1/connections/${enc(need(a1, 'a connection id'))}${dry}`,
          body,
          idem,
        );
      }
      case 'subflow-add': {
        const body: Record<string, unknown> = {};
        if (v.local) body.local_addr = v.local;
        if (v.remote) body.remote_addr = v.remote;
        if (v['remote-port']) body.remote_port = Number(v['remote-port']);
        if (v.backup) body.backup = true;
        return await call(
          o,
          'POST',
          `/v1/connections/${enc(need(a1, 'a connection id'))}/subflows${dry}`,
          body,
          idem,
        );
      }
      case 'subflow-rm':
        return await call(
          o,
          'DELETE',
          `/v1/connections/${enc(need(a1, 'a connection id'))}/subflows/${enc(need(a2, 'a subflow id'))}${dry}`,
          undefined,
          idem,
        );
      case 'paths':
        return await call(o, 'GET', `/v1/paths${qs({ node: v.node })}`);
      case 'policies':
        return await call(o, 'GET', a1 ? `/v1/policies/${enc(a1)}` : '/v1/policies');
      case 'policy-create':
        return await call(o, 'POST', `/v1/policies${dry}`, readJson(need(v.file, '--file')));
      case 'policy-update': {
        const body = readJson(need(v.file, '--file')) as Record<string, unknown>;
        const h: Record<string, string> = v.revision ? { 'if-match': `"${v.revision}"` } : {};
        return await call(o, 'PUT', `/v1/policies/${enc(need(a1, 'a policy id'))}${dry}`, body, h);
      }
      case 'policy-delete': {
        const h: Record<string, string> = v.revision ? { 'if-match': `"${v.revision}"` } : {};
        return await call(
          o,
          'DELETE',
          `/v1/policies/${enc(need(a1, 'a policy id'))}${dry}`,
          undefined,
          h,
        );
      }
      case 'events':
        return await follow(o, `/v1/events${qs({ node: v.node, replay: v.replay })}`);
      case 'audit':
        return await call(
          o,
          'GET',
          `/v1/audit${qs({ limit: v.limit, action: v.action, target: v.target })}`,
        );
      default:
        process.stderr.write(`braid ctl: unknown command "${cmd}"\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    const msg = (e as Error).message;
    process.stderr.write(
      `braid ctl: ${msg}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}\n`,
    );
    return /needs|wants/.test(msg) ? 2 : 1;
  }
}
