/**
 * The dataplane node (`braid node --config FILE`): one process per host. It
 * starts the engine on the configured DPDK ports and workers, serves
 * applications on the app socket (shared memory, native/CHANNEL.md), answers
 * `braid ss` / `braid nstat` on the admin socket, and, when NATS is
 * configured, runs the control agent (telemetry from the live connections,
 * commands executed on the engine, desired state applied).
 *
 * SIGTERM (or drain()) drains: no new applications or connections, listeners
 * closed, open connections may finish until the drain deadline; then the
 * apps are told the node stops, what is left is reset, the workers stop and
 * EAL's runtime directory is removed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../schemas/src/config';
import type { ConnectionSnapshot, DesiredState, NodeConfig } from '../../schemas/gen/types';
import { Runtime, type RuntimeStats } from '../../native/src/runtime';
import { NodeHost, type HostConn, type HostOpts } from '../../native/src/nodehost';
import type { Logger } from '../../ops/src/log';
import { AdminServer } from './admin';
import { CommandFailure, ControlAgent } from './control/agent';
import type { CommandMessage } from '../../controller/src/protocol';
import { nstatCounters, connectionSnapshot, parseConnId } from './views';

export function loadNodeConfig(file: string): NodeConfig {
  return loadConfig<NodeConfig>('node-config', file);
}

/** `net_af_packet0,iface=veth0` -> vdev; `0000:01:00.0` -> a PCI device. */
export function portDevice(device: string): { dev: string; vdev?: string; pci?: string } {
  const name = device.split(',')[0]!;
  if (/^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/.test(name))
    return { dev: name, pci: device };
  return { dev: name, vdev: device };
}

export interface NodeServiceOptions {
  config: NodeConfig;
  logger: Logger;
  version?: string;
  /** EAL file prefix (default: a unique one). */
  filePrefix?: string;
}

export class NodeService {
  readonly config: NodeConfig;
  readonly rt: Runtime;
  readonly host: NodeHost;
  readonly admin: AdminServer;
  readonly startedAt = Date.now();
  agent: ControlAgent | undefined;
  private draining: Promise<void> | undefined;
  private closed = false;
  private readonly log: Logger;
  private desired: DesiredState | undefined;

  private constructor(opts: NodeServiceOptions, rt: Runtime, host: NodeHost, admin: AdminServer) {
    this.config = opts.config;
    this.log = opts.logger;
    this.rt = rt;
    this.host = host;
    this.admin = admin;
  }

  /** Start the engine, the app socket and the admin socket (and NATS when configured). */
  static async start(opts: NodeServiceOptions): Promise<NodeService> {
    const cfg = opts.config;
    const log = opts.logger;
    const devs = cfg.ports.map((p) => portDevice(p.device));
    const appSocket = cfg.app_socket ?? '/run/braid/app.sock';
    const adminSocket = cfg.admin_socket ?? '/run/braid/admin.sock';
    for (const p of [appSocket, adminSocket]) fs.mkdirSync(path.dirname(p), { recursive: true });
    const poll = cfg.polling ?? {};
    // A --file-prefix in eal.args names EAL's runtime directory (removed at exit).
    const ealExtra = (cfg.eal?.args ?? []).filter((a) => !a.startsWith('--file-prefix='));
    const prefixArg = (cfg.eal?.args ?? []).find((a) => a.startsWith('--file-prefix='));
    const filePrefix = opts.filePrefix ?? prefixArg?.slice('--file-prefix='.length);
    const rt = Runtime.open(
      {
        vdevs: devs.flatMap((d) => (d.vdev ? [d.vdev] : [])),
        pciAllow: devs.flatMap((d) => (d.pci ? [d.pci] : [])),
        noHuge: cfg.eal?.no_huge ?? true,
        memoryMb: cfg.eal?.memory_mb ?? 256,
        filePrefix,
        extra: ealExtra,
        workers: cfg.workers ?? 1,
      },
      {
        workers: cfg.workers ?? 1,
        ports: cfg.ports.map((p, i) => ({
          dev: devs[i]!.dev,
          address: p.address,
          gateway: p.gateway,
          mtu: p.mtu,
        })),
        busyPoll: poll.busy_poll ?? false,
        idleSleepMaxUs: poll.idle_sleep_max_us,
        spinUs: poll.spin_us,
      },
    );
    let host: NodeHost | undefined;
    try {
      const ch = cfg.channel ?? {};
      const d = cfg.defaults ?? {};
      host = new NodeHost(
        rt,
        {
          path: appSocket,
          name: cfg.id,
          mode: ch.socket_mode,
          allowUid: ch.allow_uid,
          slots: ch.slots,
          fifoSize: ch.fifo_kb !== undefined ? ch.fifo_kb * 1024 : undefined,
          defaults: {
            congestionControl: d.congestion_control,
            scheduler: d.scheduler,
            pathManager: d.path_manager,
            subflows: d.subflows,
          },
        },
        (kind, app) => {
          if (kind === 'refuse')
            log.warn({ app: app.name, pid: app.pid, uid: app.uid }, 'application refused');
          else
            log.info(
              { app: app.name, appId: app.id, pid: app.pid, worker: app.worker },
              kind === 'attach' ? 'application attached' : 'application detached',
            );
        },
      );
      const admin = await AdminServer.listen(adminSocket, log);
      const svc = new NodeService(opts, rt, host, admin);
      admin.handle((req) => svc.adminRequest(req));
      log.info(
        {
          node: cfg.id,
          workers: cfg.workers ?? 1,
          ports: cfg.ports.map((p) => ({ name: p.name, device: p.device, address: p.address })),
          appSocket,
          adminSocket,
          eal: rt.filePrefix,
        },
        'node started',
      );
      if (cfg.nats?.urls?.length) svc.startAgent(opts.version ?? '0.0.0');
      return svc;
    } catch (e) {
      host?.close();
      rt.close();
      throw e;
    }
  }

  private startAgent(version: string): void {
    const cfg = this.config;
    const nkeySeed = cfg.nats?.nkey_seed_file
      ? new TextEncoder().encode(fs.readFileSync(cfg.nats.nkey_seed_file, 'utf8').trim())
      : undefined;
    const agent = new ControlAgent({
      nodeId: cfg.id,
      servers: cfg.nats?.urls,
      nkeySeed,
      prefix: cfg.nats?.prefix,
      version,
      ports: cfg.ports.map((p) => ({
        name: p.name,
        address: p.address,
        ...(p.backup ? { backup: true } : {}),
      })),
      addresses: cfg.ports.map((p) => p.address.split('/')[0]!),
      capabilities: ['tcp', 'app-channel'],
      workers: cfg.workers ?? 1,
      telemetry: { snapshot: () => this.telemetry() },
      executor: { execute: (cmd) => this.execute(cmd) },
      applier: { apply: (state) => this.applyDesired(state) },
      stateFile: cfg.state_file,
      logger: this.log,
    });
    this.agent = agent;
    agent.start().then(
      () => this.log.info({ nats: cfg.nats?.urls }, 'control agent connected'),
      (e: Error) => this.log.error({ err: e.message }, 'control agent did not start'),
    );
  }

  /** Connections as the control plane reports them (tcp_info names). */
  telemetry(): { connections: ConnectionSnapshot[]; counters: Record<string, number> } {
    const conns = this.host.conns(true).filter((c) => !c.listener && c.info);
    return {
      connections: conns.map((c) => connectionSnapshot(c, this.config)),
      counters: nstatCounters(this.rt.stats()),
    };
  }

  private findConn(id: string): HostConn {
    const key = parseConnId(id);
    const c = key
      ? this.host
          .conns(false)
          .find(
            (x) =>
              !x.listener &&
              x.worker === key.worker &&
              x.app === key.app &&
              x.slot === key.slot &&
              x.gen === key.gen,
          )
      : undefined;
    if (!c) throw new CommandFailure('not_found', `no connection ${id} on this node`);
    return c;
  }

  /** A controller's command, carried out on the engine. */
  execute(cmd: CommandMessage): Record<string, unknown> {
    switch (cmd.op) {
      case 'ping':
        return { pong: true, uptime_ms: Date.now() - this.startedAt };
      case 'set_scheduler': {
        const args = cmd.args as { connection_id: string; scheduler: string };
        const c = this.findConn(args.connection_id);
        if (c.transport !== 'mptcp')
          throw new CommandFailure(
            'conflict',
            `connection ${args.connection_id} is plain TCP (${c.transport}): it has no scheduler`,
          );
        return this.setOpt(c, { scheduler: args.scheduler });
      }
      case 'set_subflow_priority': {
        const args = cmd.args as {
          connection_id: string;
          subflow_id: string;
          priority: 'regular' | 'backup';
        };
        const c = this.findConn(args.connection_id);
        if (c.transport !== 'mptcp')
          throw new CommandFailure(
            'conflict',
            `connection ${args.connection_id} is plain TCP (${c.transport}): it has no subflows`,
          );
        const sub = Number(args.subflow_id);
        if (!Number.isInteger(sub) || sub < 0)
          throw new CommandFailure(
            'invalid',
            `subflow id ${args.subflow_id}: an index is expected`,
          );
        const rc = this.host.setPrio(c.worker, c.app, c.slot, sub, args.priority === 'backup');
        if (rc === -2)
          throw new CommandFailure('not_found', `no subflow ${sub} on ${args.connection_id}`);
        if (rc < 0) throw new CommandFailure('failed', `the engine refused (errno ${-rc})`);
        return { subflow: sub, priority: args.priority };
      }
      default:
        throw new CommandFailure('unavailable', `${cmd.op} is not supported by this node yet`);
    }
  }

  private setOpt(c: HostConn, opts: HostOpts): Record<string, unknown> {
    const rc = this.host.setOpt(c.worker, c.app, c.slot, opts);
    if (rc === -2) throw new CommandFailure('not_found', 'the connection is gone');
    if (rc < 0) throw new CommandFailure('failed', `the engine refused (errno ${-rc})`);
    return { applied: opts };
  }

  /** The desired state: kept; its defaults apply to new connections' policy
   * lookups by the node (the engine's per-connection options). */
  applyDesired(state: DesiredState): void {
    this.desired = state;
    this.log.info(
      { generation: state.generation, classes: state.classes.length },
      'desired state applied',
    );
  }

  get desiredState(): DesiredState | undefined {
    return this.desired;
  }

  /** The admin socket's requests: {op: 'status' | 'ss' | 'nstat' | 'apps' |
   * 'telemetry' | 'command'}. */
  adminRequest(req: Record<string, unknown>): unknown {
    switch (req.op) {
      case 'status': {
        const s = this.host.stats();
        return {
          node: this.config.id,
          pid: process.pid,
          uptime_ms: Date.now() - this.startedAt,
          workers: this.rt.workers,
          draining: s.draining,
          apps: s.apps,
          connections: s.workers.reduce((a, w) => a + w.conns, 0),
          listeners: s.workers.reduce((a, w) => a + w.listeners, 0),
          nats: this.agent
            ? { registered: this.agent.registration !== undefined, stats: this.agent.stats }
            : null,
          ports: this.rt.stats().ports.map((p) => ({
            dev: p.dev,
            driver: p.driver,
            mac: p.mac,
            link_up: p.linkUp,
            ipackets: p.ipackets,
            opackets: p.opackets,
          })),
        };
      }
      case 'apps':
        return { apps: this.host.apps() };
      case 'ss':
        return { connections: this.host.conns(req.info === true) };
      case 'nstat':
        return {
          counters: nstatCounters(this.rt.stats()),
          channel: this.host.stats(),
        };
      case 'telemetry':
        return this.telemetry();
      case 'command': {
        // A control-plane command from the node's own host (as from NATS).
        const cmd = req.command as CommandMessage | undefined;
        if (!cmd || typeof cmd.op !== 'string') throw new Error('command: {op, args} expected');
        try {
          return this.execute(cmd);
        } catch (e) {
          if (e instanceof CommandFailure) throw new Error(`${e.code}: ${e.message}`);
          throw e;
        }
      }
      default:
        throw new Error(`unknown admin request ${JSON.stringify(req.op)}`);
    }
  }

  /** Open (non-listener) connections across the workers. */
  openConnections(): number {
    return this.host.stats().workers.reduce((a, w) => a + w.conns, 0);
  }

  /**
   * Drain, then stop: new apps and connections are refused, listeners close,
   * open connections have until `deadlineMs` to finish; what is left is reset.
   */
  drainAndStop(deadlineMs = this.config.drain_timeout_ms ?? 30000): Promise<void> {
    if (this.draining) return this.draining;
    this.draining = (async () => {
      const t0 = Date.now();
      this.host.drain();
      this.log.info(
        { connections: this.openConnections(), deadlineMs },
        'draining: no new connections',
      );
      while (Date.now() - t0 < deadlineMs) {
        const open = this.openConnections();
        if (open === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const left = this.openConnections();
      this.log.info({ left, ms: Date.now() - t0 }, left ? 'drain deadline: resetting' : 'drained');
      await this.close();
    })();
    return this.draining;
  }

  /** Stop at once: apps told, connections reset, engine and EAL stopped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent?.stop().catch(() => undefined);
    this.host.close();
    await this.admin.close();
    let stats: RuntimeStats | undefined;
    try {
      stats = this.rt.stats();
    } catch {
      stats = undefined;
    }
    this.rt.close();
    this.log.info(
      { polls: stats?.workers.reduce((a, w) => a + w.polls, 0) },
      'node stopped: EAL runtime directory removed',
    );
  }
}
