/** Prometheus metrics of one controller (own registry, so replicas in one process stay apart). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly messages: Counter<'kind'>;
  readonly invalid: Counter<'kind'>;
  readonly telemetryRecords: Counter;
  readonly commands: Counter<'op' | 'outcome'>;
  readonly commandSeconds: Histogram<'op'>;
  readonly http: Counter<'method' | 'route' | 'status'>;
  readonly httpSeconds: Histogram<'method' | 'route'>;
  readonly nodes: Gauge<'status'>;
  readonly leader: Gauge;
  readonly desiredWrites: Counter<'outcome'>;
  readonly tuningActions: Counter<'priority'>;

  constructor(defaults = false) {
    const registers = [this.registry];
    this.messages = new Counter({
      name: 'braid_controller_messages_total',
      help: 'Control-plane messages received, by kind',
      labelNames: ['kind'],
      registers,
    });
    this.invalid = new Counter({
      name: 'braid_controller_invalid_messages_total',
      help: 'Messages refused because they failed their schema, by kind',
      labelNames: ['kind'],
      registers,
    });
    this.telemetryRecords = new Counter({
      name: 'braid_controller_telemetry_records_total',
      help: 'Connection and subflow snapshots ingested',
      registers,
    });
    this.commands = new Counter({
      name: 'braid_controller_commands_total',
      help: 'Commands sent to nodes, by op and outcome',
      labelNames: ['op', 'outcome'],
      registers,
    });
    this.commandSeconds = new Histogram({
      name: 'braid_controller_command_seconds',
      help: 'Command round-trip time',
      labelNames: ['op'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
    this.http = new Counter({
      name: 'braid_controller_http_requests_total',
      help: 'Northbound API requests',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'braid_controller_http_seconds',
      help: 'Northbound API latency',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.nodes = new Gauge({
      name: 'braid_controller_nodes',
      help: 'Known nodes by status',
      labelNames: ['status'],
      registers,
    });
    this.leader = new Gauge({
      name: 'braid_controller_leader',
      help: '1 when this replica is the leader',
      registers,
    });
    this.desiredWrites = new Counter({
      name: 'braid_controller_desired_writes_total',
      help: 'Desired-state writes to KV, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.tuningActions = new Counter({
      name: 'braid_controller_tuning_actions_total',
      help: 'Subflow priorities the tuning loop set: backup (bad path) or regular (tried again)',
      labelNames: ['priority'],
      registers,
    });
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'braid_controller_' });
  }
}
