/**
 * The northbound HTTP API (Hono): nodes, connections (commands to the owning
 * node), paths, policies (CRUD with compare-and-swap), events (SSE), audit,
 * metrics, OpenAPI, health. Bearer tokens carry a role: viewer reads, operator
 * also changes connections, admin also manages policies and reads the audit log.
 * Every mutation takes ?dryRun=true and is written to the audit log.
 */
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type {
  ApiConnectionPatch,
  ApiSubflowAdd,
  CommandResult,
  ControlError,
  Policy,
} from '../../schemas/gen/types';
import { validate } from './protocol';
import { parseConnectionKey } from './fleet';
import { ConflictError } from './store';
import type { Controller } from './controller';
import { openApiDocument } from './openapi';

export type Role = 'viewer' | 'operator' | 'admin';
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

interface Principal {
  name: string;
  role: Role;
}

type Env = { Variables: { principal: Principal; route: string } };
type Ctx = Context<Env>;

function errorBody(
  code: ControlError['code'],
  message: string,
  pointer?: string,
  issues?: ControlError['issues'],
) {
  return {
    error: {
      code,
      message,
      ...(pointer !== undefined ? { pointer } : {}),
      ...(issues ? { issues } : {}),
    },
  };
}

function param(c: Ctx, name: string): string {
  return c.req.param(name) ?? '';
}

export function buildApi(ctl: Controller): Hono<Env> {
  const app = new Hono<Env>();
  const tokens = new Map<string, Principal>();
  for (const t of ctl.cfg.auth?.tokens ?? []) {
    tokens.set(t.token, { name: t.name ?? `${t.role}-token`, role: t.role });
  }
  const open = tokens.size === 0;
  if (open) ctl.log.warn('no API tokens configured: the API is open to anyone who can reach it');

  const fail = (
    c: Ctx,
    status: 400 | 401 | 403 | 404 | 409 | 502 | 503,
    code: ControlError['code'],
    message: string,
    pointer?: string,
    issues?: ControlError['issues'],
  ) => c.json(errorBody(code, message, pointer, issues), status);

  // Metrics and timing for every request.
  app.use('*', async (c, next) => {
    const t0 = process.hrtime.bigint();
    await next();
    const route = c.get('route') ?? c.req.routePath ?? 'unknown';
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    ctl.metrics.http.inc({ method: c.req.method, route, status: String(c.res.status) });
    ctl.metrics.httpSeconds.observe({ method: c.req.method, route }, secs);
  });

  const PUBLIC = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);
  app.use('*', async (c, next) => {
    if (PUBLIC.has(c.req.path)) return next();
    if (open) {
      c.set('principal', { name: 'anonymous', role: 'admin' });
      return next();
    }
    const h = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    const p = m ? tokens.get(m[1]!) : undefined;
    if (!p) {
      c.header('WWW-Authenticate', 'Bearer realm="braid"');
      return fail(c, 401, 'forbidden', m ? 'unknown token' : 'a bearer token is required');
    }
    c.set('principal', p);
    return next();
  });

  const need = (role: Role) => async (c: Ctx, next: () => Promise<void>) => {
    const p = c.get('principal');
    if (RANK[p.role] < RANK[role]) {
      return fail(c, 403, 'forbidden', `${p.name} is ${p.role}; this needs ${role}`);
    }
    await next();
  };

  const dryRun = (c: Ctx): boolean => {
    const v = c.req.query('dryRun');
    return v === 'true' || v === '1';
  };

  /** The JSON body checked against `schema`, or a 400 naming the field. */
  async function body<T>(
    c: Ctx,
    schema: string,
  ): Promise<{ ok: true; value: T } | { ok: false; res: Response }> {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch (e) {
      return {
        ok: false,
        res: fail(c, 400, 'invalid', `body is not JSON: ${(e as Error).message}`, ''),
      };
    }
    const d = validate<T>(schema, raw);
    if (!d.ok)
      return {
        ok: false,
        res: fail(c, 400, 'invalid', d.error.message, d.error.pointer ?? '', d.error.issues),
      };
    return { ok: true, value: d.value };
  }

  async function audit(
    c: Ctx,
    action: string,
    target: string,
    outcome: 'ok' | 'error',
    before: unknown,
    after: unknown,
    detail?: unknown,
  ) {
    const p = c.get('principal');
    await ctl
      .audit({
        actor: p.name,
        role: p.role,
        action,
        target,
        dry_run: dryRun(c),
        outcome,
        ...(before !== undefined ? { before } : {}),
        ...(after !== undefined ? { after } : {}),
        ...(detail !== undefined ? { detail } : {}),
      })
      .catch((e: unknown) => ctl.log.error({ err: (e as Error).message }, 'audit write failed'));
  }

  /** A write against a policy revision that is no longer current: audited, 409. */
  async function staleRevision(
    c: Ctx,
    action: string,
    id: string,
    cur: { policy: Policy; revision: number },
    want: number,
    after: Policy | null,
  ) {
    await audit(c, action, id, 'error', cur.policy, after, {
      reason: `revision ${want} is not ${cur.revision}`,
    });
    const msg = `policy ${id} is at revision ${cur.revision}, not ${want}`;
    return fail(c, 409, 'conflict', msg, '/revision');
  }

  /** What a dry run of a policy write would do: audited, nothing written. */
  async function dryRunAnswer(
    c: Ctx,
    action: string,
    id: string,
    before: Policy,
    after: Policy | null,
    nodes: unknown,
  ) {
    await audit(c, action, id, 'ok', before, after);
    return c.json({ dry_run: true, before, after, affected_nodes: nodes });
  }

  // ------------------------------------------------------------ health, docs, metrics
  app.get('/healthz', (c) => c.json({ ok: true, id: ctl.id }));
  app.get('/readyz', (c) =>
    ctl.ready
      ? c.json({
          ready: true,
          id: ctl.id,
          leader: ctl.leader,
          leader_id: ctl.election?.leaderId ?? null,
        })
      : c.json({ ready: false, id: ctl.id }, 503),
  );
  app.get('/metrics', async (c) => {
    c.header('Content-Type', ctl.metrics.registry.contentType);
    return c.body(await ctl.metrics.registry.metrics());
  });
  app.get('/openapi.json', (c) => c.json(openApiDocument()));

  app.get('/v1/controller', need('viewer'), (c) =>
    c.json({
      id: ctl.id,
      leader: ctl.leader,
      leader_id: ctl.election?.leaderId ?? null,
      nats: ctl.natsUrl,
      prefix: ctl.cfg.nats.prefix,
    }),
  );

  // ------------------------------------------------------------ nodes
  app.get('/v1/nodes', need('viewer'), (c) => {
    const now = Date.now();
    const hb = ctl.cfg.heartbeat_interval_ms;
    const list = [...ctl.fleet.nodes.keys()].sort().map((id) => ctl.fleet.nodeView(id, now, hb)!);
    const status = c.req.query('status');
    return c.json({ nodes: status ? list.filter((n) => n.status === status) : list });
  });
  app.get('/v1/nodes/:id', need('viewer'), (c) => {
    const v = ctl.fleet.nodeView(param(c, 'id'), Date.now(), ctl.cfg.heartbeat_interval_ms);
    if (!v) return fail(c, 404, 'not_found', `no node ${param(c, 'id')}`);
    const desired = ctl.desired.get(v.id);
    return c.json({ ...v, desired: desired?.state ?? null });
  });

  // ------------------------------------------------------------ connections
  app.get('/v1/connections', need('viewer'), (c) => {
    const q = c.req.query();
    const list = ctl.fleet.connections({
      ...(q.node ? { node: q.node } : {}),
      ...(q.app ? { app: q.app } : {}),
      ...(q.state ? { state: q.state } : {}),
    });
    return c.json({ connections: list });
  });
  app.get('/v1/connections/:id', need('viewer'), (c) => {
    const v = ctl.fleet.connectionView(param(c, 'id'));
    if (!v) return fail(c, 404, 'not_found', `no connection ${param(c, 'id')}`);
    return c.json(v);
  });

  /** Send `cmds` to the node owning connection `id` (or show them on a dry run). */
  async function commands(
    c: Ctx,
    id: string,
    action: string,
    target: string,
    cmds: {
      op:
        'set_scheduler' | 'set_weights' | 'set_subflow_priority' | 'add_subflow' | 'remove_subflow';
      args: Record<string, unknown>;
    }[],
    before: unknown,
  ) {
    const key = parseConnectionKey(id)!;
    const planned = cmds.map((x) => ({ node_id: key.node, op: x.op, args: x.args }));
    if (dryRun(c)) {
      await audit(c, action, target, 'ok', before, planned);
      return c.json({ dry_run: true, commands: planned });
    }
    const node = ctl.fleet.nodes.get(key.node);
    if (node?.status !== 'up') {
      await audit(c, action, target, 'error', before, planned, { reason: 'node down' });
      return fail(c, 503, 'unavailable', `node ${key.node} is down`);
    }
    const idem = c.req.header('idempotency-key');
    const results: CommandResult[] = [];
    for (let i = 0; i < cmds.length; i++) {
      const x = cmds[i]!;
      const r = await ctl.sendCommand(key.node, x.op, x.args as never, {
        issuedBy: c.get('principal').name,
        ...(idem ? { idempotencyKey: cmds.length > 1 ? `${idem}-${i}` : idem } : {}),
      });
      results.push(r);
      if (!r.ok) break;
    }
    const ok = results.every((r) => r.ok);
    await audit(c, action, target, ok ? 'ok' : 'error', before, planned, { results });
    if (!ok) {
      const bad = results.find((r) => !r.ok)!;
      return c.json(
        {
          ...errorBody(
            bad.error?.code ?? 'failed',
            bad.error?.message ?? 'command failed',
            bad.error?.pointer,
          ),
          results,
        },
        502,
      );
    }
    return c.json({ dry_run: false, results });
  }

  app.patch('/v1/connections/:id', need('operator'), async (c) => {
    const id = param(c, 'id');
    const conn = ctl.fleet.connectionView(id);
    if (!conn) return fail(c, 404, 'not_found', `no connection ${id}`);
    const b = await body<ApiConnectionPatch>(c, 'api-connection-patch');
    if (!b.ok) return b.res;
    const p = b.value;
    const subs = new Map(conn.snapshot.subflows.map((s) => [s.id, s] as const));
    const cmds: Parameters<typeof commands>[4] = [];
    const cid = parseConnectionKey(id)!.conn;
    if (p.scheduler)
      cmds.push({ op: 'set_scheduler', args: { connection_id: cid, scheduler: p.scheduler } });
    if (p.weights) {
      for (const sid of Object.keys(p.weights)) {
        if (!subs.has(sid))
          return fail(
            c,
            400,
            'invalid',
            `/weights/${sid}: no subflow ${sid} on ${id}`,
            `/weights/${sid}`,
          );
      }
      cmds.push({ op: 'set_weights', args: { connection_id: cid, weights: p.weights } });
    }
    for (const [i, s] of (p.subflows ?? []).entries()) {
      if (!subs.has(s.id))
        return fail(
          c,
          400,
          'invalid',
          `/subflows/${i}/id: no subflow ${s.id} on ${id}`,
          `/subflows/${i}/id`,
        );
      cmds.push({
        op: 'set_subflow_priority',
        args: { connection_id: cid, subflow_id: s.id, priority: s.priority },
      });
    }
    const before = {
      scheduler: conn.snapshot.scheduler,
      subflows: conn.snapshot.subflows.map((s) => ({
        id: s.id,
        priority: s.priority,
        weight: s.weight,
      })),
    };
    return commands(c, id, 'connection.patch', id, cmds, before);
  });

  app.post('/v1/connections/:id/subflows', need('operator'), async (c) => {
    const id = param(c, 'id');
    const conn = ctl.fleet.connectionView(id);
    if (!conn) return fail(c, 404, 'not_found', `no connection ${id}`);
    const b = await body<ApiSubflowAdd>(c, 'api-subflow-add');
    if (!b.ok) return b.res;
    const cid = parseConnectionKey(id)!.conn;
    return commands(
      c,
      id,
      'subflow.add',
      id,
      [{ op: 'add_subflow', args: { connection_id: cid, ...b.value } }],
      {
        subflows: conn.snapshot.subflows.length,
      },
    );
  });

  app.delete('/v1/connections/:id/subflows/:sid', need('operator'), async (c) => {
    const id = param(c, 'id');
    const sid = param(c, 'sid');
    const conn = ctl.fleet.connectionView(id);
    if (!conn) return fail(c, 404, 'not_found', `no connection ${id}`);
    const sub = conn.snapshot.subflows.find((s) => s.id === sid);
    if (!sub) return fail(c, 404, 'not_found', `no subflow ${sid} on ${id}`);
    const cid = parseConnectionKey(id)!.conn;
    return commands(
      c,
      id,
      'subflow.remove',
      `${id}/${sid}`,
      [{ op: 'remove_subflow', args: { connection_id: cid, subflow_id: sid } }],
      sub,
    );
  });

  // ------------------------------------------------------------ paths
  app.get('/v1/paths', need('viewer'), (c) => {
    const node = c.req.query('node');
    return c.json({ paths: ctl.fleet.paths(ctl.tuning, node || undefined) });
  });

  // ------------------------------------------------------------ policies
  app.get('/v1/policies', need('viewer'), (c) => c.json({ policies: ctl.policyList() }));
  app.get('/v1/policies/:id', need('viewer'), (c) => {
    const p = ctl.policies.get(param(c, 'id'));
    if (!p) return fail(c, 404, 'not_found', `no policy ${param(c, 'id')}`);
    c.header('ETag', `"${p.revision}"`);
    return c.json(p.policy);
  });

  /** Nodes whose desired state a policy set would change. */
  const affected = (next: Policy[]): string[] => {
    const out: string[] = [];
    for (const n of ctl.fleet.nodes.values()) {
      if (!n.hello) continue;
      const a = JSON.stringify(ctl.compileFor(n.id).classes);
      const b = JSON.stringify(ctl.compileFor(n.id, next).classes);
      if (a !== b) out.push(n.id);
    }
    return out.sort();
  };

  /** The expected revision from If-Match or the body's revision field. */
  const expected = (c: Ctx, p?: { revision?: number }): number | undefined => {
    const h = c.req.header('if-match');
    if (h) {
      const n = Number(h.replace(/^W\//, '').replace(/"/g, ''));
      return Number.isInteger(n) ? n : -1;
    }
    return p?.revision;
  };

  const stripRev = (p: Policy): Policy => {
    const { revision: _r, ...rest } = p;
    return rest as Policy;
  };

  app.post('/v1/policies', need('admin'), async (c) => {
    const b = await body<Policy>(c, 'policy');
    if (!b.ok) return b.res;
    const p = stripRev(b.value);
    if (ctl.policies.has(p.id)) {
      await audit(c, 'policy.create', p.id, 'error', ctl.policies.get(p.id)!.policy, p, {
        reason: 'exists',
      });
      return fail(c, 409, 'conflict', `policy ${p.id} exists`, '/id');
    }
    const next = [...ctl.policyList().filter((x) => x.id !== p.id), p];
    if (dryRun(c)) {
      await audit(c, 'policy.create', p.id, 'ok', null, p);
      return c.json({ dry_run: true, before: null, after: p, affected_nodes: affected(next) }, 200);
    }
    const nodes = affected(next);
    try {
      const rev = await ctl.store.cas(ctl.store.policies, p.id, p, 0);
      await ctl.waitSeen(ctl.store.policies, ctl.store.buckets.policies, rev);
      await audit(c, 'policy.create', p.id, 'ok', null, { ...p, revision: rev });
      c.header('ETag', `"${rev}"`);
      return c.json({ ...p, revision: rev, affected_nodes: nodes }, 201);
    } catch (e) {
      if (e instanceof ConflictError) {
        await audit(c, 'policy.create', p.id, 'error', null, p, { reason: e.message });
        return fail(c, 409, 'conflict', `policy ${p.id} exists`, '/id');
      }
      throw e;
    }
  });

  app.put('/v1/policies/:id', need('admin'), async (c) => {
    const id = param(c, 'id');
    const b = await body<Policy>(c, 'policy');
    if (!b.ok) return b.res;
    if (b.value.id !== id) return fail(c, 400, 'invalid', `/id: ${b.value.id} is not ${id}`, '/id');
    const cur = ctl.policies.get(id);
    if (!cur) return fail(c, 404, 'not_found', `no policy ${id}`);
    const want = expected(c, b.value);
    if (want === undefined) {
      return fail(
        c,
        400,
        'invalid',
        '/revision: updates need If-Match or a revision (compare-and-swap)',
        '/revision',
      );
    }
    const p = stripRev(b.value);
    if (want !== cur.revision) return staleRevision(c, 'policy.update', id, cur, want, p);
    const nodes = affected([...ctl.policyList().filter((x) => x.id !== id), p]);
    if (dryRun(c)) return dryRunAnswer(c, 'policy.update', id, cur.policy, p, nodes);
    try {
      const rev = await ctl.store.cas(ctl.store.policies, id, p, want);
      await ctl.waitSeen(ctl.store.policies, ctl.store.buckets.policies, rev);
      await audit(c, 'policy.update', id, 'ok', cur.policy, { ...p, revision: rev });
      c.header('ETag', `"${rev}"`);
      return c.json({ ...p, revision: rev, affected_nodes: nodes });
    } catch (e) {
      if (e instanceof ConflictError) {
        await audit(c, 'policy.update', id, 'error', cur.policy, p, { reason: e.message });
        return fail(c, 409, 'conflict', e.message, '/revision');
      }
      throw e;
    }
  });

  app.delete('/v1/policies/:id', need('admin'), async (c) => {
    const id = param(c, 'id');
    const cur = ctl.policies.get(id);
    if (!cur) return fail(c, 404, 'not_found', `no policy ${id}`);
    const want = expected(c);
    if (want !== undefined && want !== cur.revision)
      return staleRevision(c, 'policy.delete', id, cur, want, null);
    const nodes = affected(ctl.policyList().filter((x) => x.id !== id));
    if (dryRun(c)) return dryRunAnswer(c, 'policy.delete', id, cur.policy, null, nodes);
    try {
      await ctl.store.casDelete(ctl.store.policies, id, want ?? cur.revision);
      const st = await ctl.store.policies.status();
      await ctl.waitSeen(
        ctl.store.policies,
        ctl.store.buckets.policies,
        st.streamInfo.state.last_seq,
      );
      await audit(c, 'policy.delete', id, 'ok', cur.policy, null);
      return c.json({ deleted: id, affected_nodes: nodes });
    } catch (e) {
      if (e instanceof ConflictError) return fail(c, 409, 'conflict', e.message, '/revision');
      throw e;
    }
  });

  // ------------------------------------------------------------ events (SSE), audit
  app.get('/v1/events', need('viewer'), (c) => {
    const node = c.req.query('node');
    const replay = Math.min(1000, Math.max(0, Number(c.req.query('replay') ?? 0) || 0));
    return streamSSE(c, async (stream) => {
      const queue: string[] = [];
      let wake: (() => void) | undefined;
      let closed = false;
      const off = ctl.onEvents((e) => {
        if (node && e.node_id !== node) return;
        queue.push(JSON.stringify(e));
        wake?.();
      });
      stream.onAbort(() => {
        closed = true;
        off();
        wake?.();
      });
      if (replay > 0) {
        for (const e of await ctl.store.readEvents(replay)) {
          if (!node || e.node_id === node)
            await stream.writeSSE({ event: 'event', data: JSON.stringify(e), id: String(e.seq) });
        }
      }
      await stream.writeSSE({ event: 'ready', data: JSON.stringify({ controller: ctl.id }) });
      while (!closed && !ctl.stopped) {
        if (queue.length === 0) {
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 15000).unref();
          });
          wake = undefined;
          if (queue.length === 0 && !closed) await stream.writeSSE({ event: 'ping', data: '{}' });
          continue;
        }
        const data = queue.shift()!;
        await stream.writeSSE({ event: 'event', data });
      }
      off();
    });
  });

  app.get('/v1/audit', need('admin'), async (c) => {
    const limit = Math.min(1000, Math.max(1, Number(c.req.query('limit') ?? 100) || 100));
    const recs = await ctl.store.readAudit(limit);
    const action = c.req.query('action');
    const target = c.req.query('target');
    return c.json({
      records: recs.filter(
        (r) => (!action || r.action === action) && (!target || r.target === target),
      ),
    });
  });

  app.notFound((c) => fail(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));
  app.onError((e, c) => {
    ctl.log.error({ err: e.message, path: c.req.path }, 'API error');
    return c.json(errorBody('failed', e.message), 500);
  });
  return app;
}
