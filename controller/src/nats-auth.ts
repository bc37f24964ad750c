/**
 * NATS credentials for the fleet: one nkey per node and per controller, and the
 * `authorization { users = [...] }` block for nats-server that limits each node
 * to its own subjects. A node may publish only its own hello, heartbeat,
 * telemetry and events, answer only requests it received (allow_responses),
 * receive only its own commands and its own inbox, and open a KV watch only on
 * its own key of the desired-state bucket. Controllers get everything.
 *
 * Only public keys go into the server config; each seed goes to its owner.
 */
import { createUser } from '@nats-io/nkeys';
import { Buckets, Subjects, nodeInboxPrefix } from './protocol';

export interface NodePermissions {
  publish: string[];
  subscribe: string[];
}

/** The minimal subjects node `id` needs (see the file comment). */
export function nodePermissions(prefix: string, id: string): NodePermissions {
  const s = new Subjects(prefix);
  const b = new Buckets(prefix);
  const stream = `KV_${b.desired}`;
  return {
    publish: [
      s.hello(id),
      s.heartbeat(id),
      s.telemetry(id),
      s.events(id),
      // Bind to the desired-state bucket and watch only this node's key.
      `$JS.API.STREAM.INFO.${stream}`,
      `$JS.API.CONSUMER.CREATE.${stream}.*.$KV.${b.desired}.${id}`,
      // Flow-control replies of the watch's push consumer.
      `$JS.FC.${stream}.>`,
    ],
    subscribe: [s.command(id), `${nodeInboxPrefix(id)}.>`],
  };
}

export interface Credential {
  name: string;
  publicKey: string;
  /** The nkey seed (secret): `SU…`. */
  seed: string;
}

export interface FleetAuth {
  /** The `authorization { ... }` block for nats-server. */
  authorization: string;
  nodes: Credential[];
  controllers: Credential[];
}

function newCredential(name: string): Credential {
  const kp = createUser();
  return { name, publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}

const q = (s: string): string => JSON.stringify(s);

/** Credentials and the server's authorization block for `nodes` and `controllers` (default one). */
export function generateFleetAuth(
  prefix: string,
  nodes: string[],
  controllers = ['controller'],
): FleetAuth {
  const nodeCreds = nodes.map(newCredential);
  const ctlCreds = controllers.map(newCredential);
  const lines: string[] = ['authorization {', '  users = ['];
  for (const c of ctlCreds)
    lines.push(`    # controller ${c.name}`, `    { nkey: ${q(c.publicKey)} }`);
  for (const c of nodeCreds) {
    const p = nodePermissions(prefix, c.name);
    lines.push(
      `    # node ${c.name}`,
      `    { nkey: ${q(c.publicKey)}, permissions: {`,
      `        publish: { allow: [${p.publish.map(q).join(', ')}] }`,
      `        subscribe: { allow: [${p.subscribe.map(q).join(', ')}] }`,
      `        allow_responses: true`,
      `    } }`,
    );
  }
  lines.push('  ]', '}', '');
  return { authorization: lines.join('\n'), nodes: nodeCreds, controllers: ctlCreds };
}
