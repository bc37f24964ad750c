/** Shared set-up of the controller tests: a real nats-server, controllers, simulated nodes. */
import pino from 'pino';
import { Controller } from '../src/controller';
import type { ControllerConfig } from '../../schemas/gen/types';
import { ControlAgent } from '../../dataplane/src/control/agent';
import { SimEngine, type SimEngineOptions } from '../../integration/fleet-sim/sim-engine';

export const quiet = pino({ level: process.env.BRAID_TEST_LOG ?? 'silent' });

export const TOKENS = {
  viewer: 'viewer-token-0123456789',
  operator: 'operator-token-0123456789',
  admin: 'admin-token-0123456789abc',
};

export function controllerConfig(
  natsUrl: string,
  over: Partial<ControllerConfig> = {},
): ControllerConfig {
  return {
    id: 'ctl-1',
    log_level: 'silent',
    http: { host: '127.0.0.1', port: 0 },
    nats: { urls: [natsUrl], prefix: 'braid' },
    auth: {
      tokens: [
        { name: 'vera', token: TOKENS.viewer, role: 'viewer' },
        { name: 'otto', token: TOKENS.operator, role: 'operator' },
        { name: 'ada', token: TOKENS.admin, role: 'admin' },
      ],
    },
    heartbeat_interval_ms: 200,
    node_down_after_missed: 3,
    telemetry_interval_ms: 200,
    election: { ttl_ms: 1500, renew_ms: 300 },
    tuning: { enabled: false, interval_ms: 300, rtt_factor: 4, loss_threshold: 0.05 },
    command_timeout_ms: 1000,
    ...over,
  };
}

export async function startController(
  natsUrl: string,
  over: Partial<ControllerConfig> = {},
): Promise<Controller> {
  const c = new Controller(controllerConfig(natsUrl, over), { logger: quiet });
  await c.start();
  return c;
}

export interface SimNode {
  agent: ControlAgent;
  engine: SimEngine;
}

export async function startNode(
  natsUrl: string,
  id: string,
  opts: {
    engine?: SimEngineOptions;
    stateFile?: string;
    nkeySeed?: Uint8Array;
    prefix?: string;
  } = {},
): Promise<SimNode> {
  const engine = new SimEngine(opts.engine);
  const agent = new ControlAgent({
    nodeId: id,
    servers: [natsUrl],
    prefix: opts.prefix ?? 'braid',
    version: '0.1.0-test',
    ports: [
      { name: 'p0', device: 'net_null0', address: '10.1.0.2/24' },
      { name: 'p1', device: 'net_null1', address: '10.1.1.2/24' },
    ],
    addresses: ['10.1.0.2', '10.1.1.2'],
    capabilities: ['mptcp.v1', 'scheduler.roundrobin'],
    telemetry: engine,
    executor: engine,
    applier: engine,
    heartbeatIntervalMs: 200,
    telemetryIntervalMs: 200,
    helloTimeoutMs: 500,
    logger: quiet,
    ...(opts.stateFile ? { stateFile: opts.stateFile } : {}),
    ...(opts.nkeySeed ? { nkeySeed: opts.nkeySeed } : {}),
  });
  engine.onEvent = (e) => agent.publishEvent(e);
  await agent.start();
  return { agent, engine };
}

/** Poll `fn` until it returns a truthy value (or throw after `ms`). */
export async function until<T>(
  fn: () => T | Promise<T>,
  ms = 5000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** fetch with a role's bearer token and JSON in/out (bodies are loosely typed JSON). */
/* eslint-disable @typescript-eslint/no-explicit-any */
export async function api(
  base: string,
  method: string,
  path: string,
  o: { role?: keyof typeof TOKENS | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  const role = o.role === undefined ? 'admin' : o.role;
  if (role) headers.authorization = `Bearer ${TOKENS[role]}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    ...(o.body !== undefined
      ? { body: typeof o.body === 'string' ? o.body : JSON.stringify(o.body) }
      : {}),
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, headers: res.headers };
}
/* eslint-enable @typescript-eslint/no-explicit-any */
