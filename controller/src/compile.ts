/**
 * Compilation of policies into one node's desired state: the policies that name
 * the node (or "*"), highest priority first, each a traffic class with its
 * action, plus the fleet defaults. Pure; the leader writes the result to KV.
 */
import type { DesiredState, Policy, PolicyAction, TrafficClass } from '../../schemas/gen/types';
import { SCHEMA_VERSION } from './protocol';

export function appliesTo(p: Policy, node: string): boolean {
  const nodes = p.nodes ?? ['*'];
  return nodes.includes('*') || nodes.includes(node);
}

/** The traffic classes of `node`, ordered by priority (then id, for a stable result). */
export function classesFor(policies: Policy[], node: string): TrafficClass[] {
  return policies
    .filter((p) => appliesTo(p, node))
    .sort((a, b) => (b.priority ?? 100) - (a.priority ?? 100) || a.id.localeCompare(b.id))
    .map((p) => ({
      policy_id: p.id,
      priority: p.priority ?? 100,
      match: p.match,
      action: p.action,
    }));
}

export function compileDesired(
  node: string,
  policies: Policy[],
  defaults: PolicyAction | undefined,
  previous: DesiredState | undefined,
  by: string,
  now = Date.now(),
): DesiredState {
  return {
    v: SCHEMA_VERSION,
    node_id: node,
    generation: (previous?.generation ?? 0) + 1,
    updated_at: now,
    updated_by: by,
    ...(defaults ? { defaults } : {}),
    classes: classesFor(policies, node),
  };
}

/** Whether two desired states say the same (ignoring generation and who/when). */
export function sameDesired(a: DesiredState | undefined, b: DesiredState): boolean {
  if (!a) return false;
  return (
    JSON.stringify({ d: a.defaults ?? null, c: a.classes }) ===
    JSON.stringify({ d: b.defaults ?? null, c: b.classes })
  );
}
