/**
 * `braid controller`: run the SDN controller, and `braid controller nats-auth`:
 * make the fleet's NATS credentials (nkeys) and the nats-server authorization
 * block that confines every node to its own subjects.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError } from '../../schemas/src/config';
import type { ControllerConfig } from '../../schemas/gen/types';
import { Controller } from '../../controller/src/controller';
import { generateFleetAuth } from '../../controller/src/nats-auth';
import { createLogger } from '../src/log';

const HELP = `Usage: braid controller [--config FILE] [options]
       braid controller nats-auth --out DIR (--nodes ID,ID… | --config FILE) [options]

Runs the Braid SDN controller: NATS southbound (node registration, heartbeats,
telemetry, events, commands), desired state and policies in JetStream KV,
leader election between replicas, the tuning loop, and the HTTP API
(/v1/…, /metrics, /openapi.json, /healthz, /readyz).

With no NATS URL (config nats.urls or --nats) it starts a local nats-server
with JetStream (the embedded default; nats.embedded.port and data_dir).

Options:
  --config FILE      controller config (schemas/src/controller-config.schema.json)
  --id ID            replica id (default from config: controller-1)
  --nats URL         NATS server URL (repeatable); overrides the config
  --http-host HOST   API listen address (default 127.0.0.1)
  --http-port PORT   API port (default 8480; 0: any free port)
  --data-dir DIR     JetStream store of the embedded nats-server
  --nats-port PORT   client port of the embedded nats-server (0: any free port)
  --log-level LEVEL  trace|debug|info|warn|error|silent
  -h, --help         this help

nats-auth options:
  --out DIR          where to write authorization.conf and one <id>.nk seed per identity
  --nodes LIST       comma-separated node ids (default: the config's fleet list)
  --controllers LIST controller ids (default: the config's id)
  --prefix P         subject prefix (default braid)

Put DIR/authorization.conf in nats.embedded.authorization_file (or include it
in your nats-server config), give each node its DIR/<id>.nk as
nats.nkey_seed_file, and the controller its own.
`;

function readConfig(file: string | undefined): ControllerConfig {
  if (!file) return {};
  return loadConfig<ControllerConfig>('controller-config', file);
}

async function natsAuth(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      nodes: { type: 'string' },
      controllers: { type: 'string' },
      prefix: { type: 'string' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const cfg = readConfig(values.config);
  const nodes = values.nodes ? values.nodes.split(',').filter(Boolean) : (cfg.fleet ?? []);
  const controllers = values.controllers
    ? values.controllers.split(',').filter(Boolean)
    : [cfg.id ?? 'controller-1'];
  if (!values.out || nodes.length === 0) {
    process.stderr.write(
      'braid controller nats-auth: --out and a node list (--nodes or config fleet) are needed\n',
    );
    return 2;
  }
  for (const id of [...nodes, ...controllers]) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
      process.stderr.write(`braid controller nats-auth: "${id}" is not a valid id\n`);
      return 2;
    }
  }
  const auth = generateFleetAuth(values.prefix ?? cfg.nats?.prefix ?? 'braid', nodes, controllers);
  fs.mkdirSync(values.out, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(values.out, 'authorization.conf'), auth.authorization, {
    mode: 0o600,
  });
  for (const c of [...auth.nodes, ...auth.controllers]) {
    fs.writeFileSync(path.join(values.out, `${c.name}.nk`), `${c.seed}\n`, { mode: 0o600 });
  }
  process.stdout.write(
    `${JSON.stringify(
      {
        authorization: path.join(values.out, 'authorization.conf'),
        nodes: auth.nodes.map((c) => ({
          id: c.name,
          public_key: c.publicKey,
          seed_file: path.join(values.out!, `${c.name}.nk`),
        })),
        controllers: auth.controllers.map((c) => ({
          id: c.name,
          public_key: c.publicKey,
          seed_file: path.join(values.out!, `${c.name}.nk`),
        })),
      },
      null,
      2,
    )}\n`,
  );
  return 0;
}

export async function controllerMain(argv: string[]): Promise<number> {
  if (argv[0] === 'nats-auth') {
    try {
      return await natsAuth(argv.slice(1));
    } catch (e) {
      process.stderr.write(`braid controller nats-auth: ${(e as Error).message}\n`);
      return e instanceof ConfigError ? 2 : 1;
    }
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        id: { type: 'string' },
        nats: { type: 'string', multiple: true },
        'http-host': { type: 'string' },
        'http-port': { type: 'string' },
        'data-dir': { type: 'string' },
        'nats-port': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`braid controller: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let cfg: ControllerConfig;
  try {
    cfg = readConfig(values.config);
  } catch (e) {
    process.stderr.write(`braid controller: ${(e as Error).message}\n`);
    return 2;
  }
  cfg = structuredClone(cfg);
  if (values.id) cfg.id = values.id;
  if (values['log-level']) cfg.log_level = values['log-level'] as ControllerConfig['log_level'];
  cfg.http = { ...cfg.http };
  if (values['http-host']) cfg.http.host = values['http-host'];
  if (values['http-port'] !== undefined) cfg.http.port = Number(values['http-port']);
  cfg.nats = { ...cfg.nats };
  if (values.nats?.length) cfg.nats.urls = values.nats as [string, ...string[]];
  if (values['data-dir'] || values['nats-port'] !== undefined) {
    cfg.nats.embedded = { ...cfg.nats.embedded };
    if (values['data-dir']) cfg.nats.embedded.data_dir = values['data-dir'];
    if (values['nats-port'] !== undefined) cfg.nats.embedded.port = Number(values['nats-port']);
  }
  let ctl: Controller;
  try {
    ctl = new Controller(cfg, {
      processMetrics: true,
      logger: createLogger(`controller:${cfg.id ?? 'controller-1'}`, cfg.log_level ?? 'info'),
    });
  } catch (e) {
    process.stderr.write(`braid controller: ${(e as Error).message}\n`);
    return 2;
  }
  await ctl.start();
  process.stdout.write(
    `${JSON.stringify({ controller: ctl.id, api: ctl.url, nats: ctl.natsUrl })}\n`,
  );
  await new Promise<void>((resolve) => {
    const done = (): void => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  ctl.log.info('stopping');
  await ctl.stop({ release: true });
  return 0;
}
