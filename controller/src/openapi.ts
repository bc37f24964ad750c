/**
 * The OpenAPI 3.1 document of the northbound API, made from the same JSON
 * Schemas the API validates with (schemaOf): each schema becomes a component,
 * each `$defs` entry a component named `<schema>.<def>`, and every
 * `urn:braid:schema:…` reference is rewritten to point at them.
 */
import { schemaOf } from '../../schemas/src/index';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const ID = 'urn:braid:schema:';
const COMPONENT = '#/components/schemas/';

function componentRef(ref: string, current: string): string {
  let file = current;
  let frag = ref;
  if (ref.startsWith(ID)) {
    const [f, fr] = ref.slice(ID.length).split('#');
    file = f ?? current;
    frag = fr ? `#${fr}` : '';
  }
  const m = /^#\/\$defs\/(.+)$/.exec(frag);
  return m ? `${COMPONENT}${file}.${m[1]}` : `${COMPONENT}${file}`;
}

function rewrite(node: Json, current: string): Json {
  if (Array.isArray(node)) return node.map((n) => rewrite(n, current));
  if (node && typeof node === 'object') {
    const out: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === '$id' || k === '$schema' || k === '$defs') continue;
      if (k === '$ref' && typeof v === 'string') out[k] = componentRef(v, current);
      else out[k] = rewrite(v, current);
    }
    return out;
  }
  return node;
}

/** The schemas the API uses directly; components are these and whatever they reference. */
const ROOTS = [
  'api-node',
  'api-connection',
  'api-path',
  'api-error',
  'api-connection-patch',
  'api-subflow-add',
  'policy',
  'event',
  'audit-record',
];

function refsOf(node: Json, out: Set<string>): void {
  if (Array.isArray(node)) node.forEach((n) => refsOf(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith(ID)) {
        out.add(v.slice(ID.length).split('#')[0] ?? '');
      } else refsOf(v, out);
    }
  }
}

function components(): Record<string, Json> {
  const out: Record<string, Json> = {};
  const todo = [...ROOTS];
  const done = new Set<string>();
  while (todo.length) {
    const name = todo.pop()!;
    if (done.has(name) || !name) continue;
    done.add(name);
    const s = schemaOf(name) as { [k: string]: Json };
    const defs = s.$defs;
    if (defs && typeof defs === 'object' && !Array.isArray(defs)) {
      for (const [d, v] of Object.entries(defs)) out[`${name}.${d}`] = rewrite(v, name);
    }
    out[name] = rewrite(s, name);
    const refs = new Set<string>();
    refsOf(s, refs);
    todo.push(...refs);
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

const ref = (name: string): Json => ({ $ref: `${COMPONENT}${name}` });
const json = (schema: Json, description = 'OK'): Json => ({
  description,
  content: { 'application/json': { schema } },
});
const list = (key: string, item: string): Json => ({
  type: 'object',
  required: [key],
  properties: { [key]: { type: 'array', items: ref(item) } },
});
const errors = (...codes: number[]): Record<string, Json> => {
  const text: Record<number, string> = {
    400: 'Bad input: error.pointer is the JSON pointer of the bad field',
    401: 'No or unknown bearer token',
    403: 'The token’s role is not enough',
    404: 'Unknown id',
    409: 'Revision conflict (If-Match / revision)',
    502: 'The node refused or failed the command',
    503: 'The node is down',
  };
  const out: Record<string, Json> = {};
  for (const c of codes) out[String(c)] = json(ref('api-error'), text[c]);
  return out;
};
const pathParam = (name: string): Json => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
});
const query = (name: string, schema: Json = { type: 'string' }): Json => ({
  name,
  in: 'query',
  schema,
});
const dry = query('dryRun', { type: 'boolean' });
const ifMatch: Json = { name: 'If-Match', in: 'header', schema: { type: 'string' } };
const body = (name: string): Json => ({
  required: true,
  content: { 'application/json': { schema: ref(name) } },
});
const mutation: Json = { type: 'object', additionalProperties: true };

let cached: Record<string, unknown> | undefined;

export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const read = errors(401, 403);
  const paths: Record<string, Json> = {
    '/healthz': {
      get: { summary: 'Liveness', security: [], responses: { 200: json({ type: 'object' }) } },
    },
    '/readyz': {
      get: {
        summary: 'Readiness (NATS connected, KV state loaded)',
        security: [],
        responses: { 200: json({ type: 'object' }), 503: json({ type: 'object' }, 'Not ready') },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics',
        security: [],
        responses: {
          200: { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } },
        },
      },
    },
    '/openapi.json': {
      get: { summary: 'This document', security: [], responses: { 200: json({ type: 'object' }) } },
    },
    '/v1/nodes': {
      get: {
        summary: 'Every known node',
        parameters: [query('status', { type: 'string', enum: ['up', 'down'] })],
        responses: { 200: json(list('nodes', 'api-node')), ...read },
      },
    },
    '/v1/nodes/{id}': {
      get: {
        summary: 'One node, with its desired state',
        parameters: [pathParam('id')],
        responses: { 200: json(ref('api-node')), ...read, ...errors(404) },
      },
    },
    '/v1/connections': {
      get: {
        summary: 'Connections with their subflows',
        parameters: [query('node'), query('app'), query('state')],
        responses: { 200: json(list('connections', 'api-connection')), ...read },
      },
    },
    '/v1/connections/{id}': {
      get: {
        summary: 'One connection (id = <node>:<connection>)',
        parameters: [pathParam('id')],
        responses: { 200: json(ref('api-connection')), ...read, ...errors(404) },
      },
      patch: {
        summary: 'Change scheduler, weights or subflow priorities (commands to the owning node)',
        parameters: [
          pathParam('id'),
          dry,
          { name: 'Idempotency-Key', in: 'header', schema: { type: 'string' } },
        ],
        requestBody: body('api-connection-patch'),
        responses: { 200: json(mutation), ...read, ...errors(400, 404, 502, 503) },
      },
    },
    '/v1/connections/{id}/subflows': {
      post: {
        summary: 'Open one more subflow',
        parameters: [pathParam('id'), dry],
        requestBody: body('api-subflow-add'),
        responses: { 200: json(mutation), ...read, ...errors(400, 404, 502, 503) },
      },
    },
    '/v1/connections/{id}/subflows/{sid}': {
      delete: {
        summary: 'Close a subflow',
        parameters: [pathParam('id'), pathParam('sid'), dry],
        responses: { 200: json(mutation), ...read, ...errors(404, 502, 503) },
      },
    },
    '/v1/paths': {
      get: {
        summary: 'Health of every path the fleet uses',
        parameters: [query('node')],
        responses: { 200: json(list('paths', 'api-path')), ...read },
      },
    },
    '/v1/policies': {
      get: {
        summary: 'Every policy',
        responses: { 200: json(list('policies', 'policy')), ...read },
      },
      post: {
        summary: 'Create a policy',
        parameters: [dry],
        requestBody: body('policy'),
        responses: {
          201: json(ref('policy'), 'Created'),
          200: json(mutation, 'Dry run'),
          ...read,
          ...errors(400, 409),
        },
      },
    },
    '/v1/policies/{id}': {
      get: {
        summary: 'One policy',
        parameters: [pathParam('id')],
        responses: { 200: json(ref('policy')), ...read, ...errors(404) },
      },
      put: {
        summary: 'Replace a policy (compare-and-swap: If-Match or revision)',
        parameters: [pathParam('id'), dry, ifMatch],
        requestBody: body('policy'),
        responses: { 200: json(ref('policy')), ...read, ...errors(400, 404, 409) },
      },
      delete: {
        summary: 'Delete a policy',
        parameters: [pathParam('id'), dry, ifMatch],
        responses: { 200: json(mutation), ...read, ...errors(404, 409) },
      },
    },
    '/v1/events': {
      get: {
        summary: 'Server-Sent Events: every node and controller event',
        parameters: [
          query('node'),
          query('replay', { type: 'integer', minimum: 0, maximum: 1000 }),
        ],
        responses: {
          200: {
            description: 'An event stream of BraidEvent',
            content: { 'text/event-stream': { schema: ref('event') } },
          },
          ...read,
        },
      },
    },
    '/v1/audit': {
      get: {
        summary: 'The audit log (admin)',
        parameters: [
          query('limit', { type: 'integer', minimum: 1, maximum: 1000 }),
          query('action'),
          query('target'),
        ],
        responses: { 200: json(list('records', 'audit-record')), ...read },
      },
    },
  };
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'Braid controller API',
      version: '1',
      description: 'Northbound API of the Braid SDN controller. Schemas come from schemas/src.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: components(),
    },
  };
  return cached;
}
