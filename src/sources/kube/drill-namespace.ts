import { setTimeout as sleep } from 'node:timers/promises';
import { OperationError, UsageError, errorMessage } from '../../util/errors.js';
import { collectionPath, isNotFound, objectPath, type ApiResource, type KubeClient } from '../shared/kube-client.js';
import { qualifiedResource } from './archive.js';
import { discoverResources } from './discovery.js';
import { isExcluded } from './filters.js';
import { DRILL_LABEL } from './scratch-namespace.js';

/**
 * A standing drill namespace (`drill.namespace`, e.g. `gushen-dr-drill` created by k8s/cronjobs): the drill
 * restores into it and empties it afterwards, so its rights can be a Role in that namespace alone instead of
 * a ClusterRole over every namespace (docs/rbac.md).
 */

/** Label on the drill's own Role, RoleBinding (and ServiceAccount, if one lives there): never removed when emptying. */
export const DRILL_ACCESS_LABEL = 'gushen-dr.io/drill-access';
const RESTORE_LABEL = 'gushen-dr.io/restore';
/** Written by controllers in reaction to what happens (also to the deletions): removed, but not waited for. */
const EVENT_RESOURCES = new Set(['events', 'events.events.k8s.io']);
const OWN_ACCESS_RESOURCES = new Set(['roles.rbac.authorization.k8s.io', 'rolebindings.rbac.authorization.k8s.io', 'serviceaccounts']);

/**
 * Checks that the drill may use an existing namespace: it exists, is not the backed-up (production) namespace,
 * and carries the drill label. Nothing is created: the namespace and the drill's rights in it come with the install.
 */
export async function checkDrillNamespace(client: KubeClient, name: string, sourceNamespace: string, signal?: AbortSignal): Promise<void> {
  if (name === sourceNamespace) throw new UsageError(`refusing to drill into ${name}: it is the backed-up (production) namespace`);
  const ns = await client.getOptional(objectPath('v1', 'namespaces', name), { signal });
  if (!ns) throw new UsageError(`drill.namespace ${name} does not exist: create it labelled ${DRILL_LABEL}=true (k8s/cronjobs does), or unset drill.namespace to let the drill create one`);
  if (ns.metadata?.labels?.[DRILL_LABEL] !== 'true') throw new UsageError(`refusing to drill into namespace ${name}: it lacks the label ${DRILL_LABEL}=true`);
}

/**
 * What stays in an emptied drill namespace: the drill's own access (labelled gushen-dr.io/drill-access=true and
 * not restored) and what the cluster creates in every namespace (ServiceAccount `default`, ConfigMap
 * `kube-root-ca.crt`). `qr` is the qualified resource (`rolebindings.rbac.authorization.k8s.io`).
 */
export function keptInDrillNamespace(qr: string, obj: any): boolean {
  const labels = obj?.metadata?.labels ?? {};
  if (labels[RESTORE_LABEL] !== undefined) return false;
  const name = obj?.metadata?.name;
  if (qr === 'serviceaccounts' && name === 'default') return true;
  if (qr === 'configmaps' && name === 'kube-root-ca.crt') return true;
  return OWN_ACCESS_RESOURCES.has(qr) && labels[DRILL_ACCESS_LABEL] === 'true';
}

export interface EmptyOptions {
  /** First delete what this restore created, by its `gushen-dr.io/restore` label, one collection per resource. */
  restore?: { id: string; resources: ReadonlyArray<{ groupVersion: string; resource: string }> };
  /** `sources.kube.excludeResources`: never backed up, so never restored, and not looked at (the drill may lack rights on them). */
  excludeResources?: readonly string[];
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface EmptyResult {
  /** Objects deleted by name (what the restore-label pass left, or everything in a sweep without it). */
  deleted: string[];
  /** Resources whose restored objects went in one delete-collection request. */
  collections: number;
}

/**
 * Empties a drill namespace: the restored objects by their restore label, then everything else found in any
 * namespaced resource the API serves (claims a StatefulSet made, Jobs, leftovers of a killed drill), except
 * what keptInDrillNamespace keeps; then waits until nothing else is left. Objects owned by another object are
 * left to the garbage collector at first and deleted directly only if they outlive a few rounds. Throws when the
 * namespace is not empty in time, or when a resource cannot be listed (its emptiness is then unknown).
 */
export async function emptyDrillNamespace(client: KubeClient, ns: string, opts: EmptyOptions = {}): Promise<EmptyResult> {
  const { signal } = opts;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const result: EmptyResult = { deleted: [], collections: 0 };
  const problems: string[] = [];

  if (opts.restore) {
    const seen = new Set<string>();
    for (const r of opts.restore.resources) {
      const path = collectionPath(r.groupVersion, r.resource, ns);
      if (seen.has(path)) continue;
      seen.add(path);
      try {
        await client.request('DELETE', path, { query: { labelSelector: `${RESTORE_LABEL}=${opts.restore.id}`, propagationPolicy: 'Background' }, signal });
        result.collections += 1;
      } catch (err) {
        if (signal?.aborted) throw err;
        if (!isNotFound(err)) problems.push(`delete ${qualifiedResource(r.resource, groupOf(r.groupVersion))} by label: ${errorMessage(err)}`);
      }
    }
  }

  const discovery = await discoverResources(client, signal);
  if (discovery.failedGroups.length > 0) throw new OperationError(`cannot check that namespace ${ns} is empty: discovery of ${discovery.failedGroups.join('; ')}`);
  const exclude = opts.excludeResources ?? [];
  const resources = dedupe(discovery.resources.filter((r) => r.namespaced && r.verbs.includes('delete') && !isExcluded(r.resource, r.group, exclude)));
  const deadline = Date.now() + timeoutMs;
  for (let round = 1; ; round++) {
    const left: string[] = [];
    for (const r of resources) {
      const qr = qualifiedResource(r.resource, r.group);
      let items: any[];
      try {
        items = await client.list(collectionPath(r.groupVersion, r.resource, ns), r.kind, r.groupVersion, { signal });
      } catch (err) {
        if (signal?.aborted) throw err;
        throw new OperationError(`cannot check that namespace ${ns} is empty: list ${qr}: ${errorMessage(err)}`, { cause: err });
      }
      for (const obj of items) {
        if (keptInDrillNamespace(qr, obj)) continue;
        const name: string = obj.metadata?.name;
        const item = `${qr} ${ns}/${name}`;
        if (!EVENT_RESOURCES.has(qr)) left.push(item);
        const owned = Array.isArray(obj.metadata?.ownerReferences) && obj.metadata.ownerReferences.length > 0;
        if (obj.metadata?.deletionTimestamp || (owned && round < 4)) continue;
        try {
          await client.request('DELETE', objectPath(r.groupVersion, r.resource, name, ns), { query: { propagationPolicy: 'Background' }, signal });
          result.deleted.push(item);
        } catch (err) {
          if (signal?.aborted) throw err;
          if (!isNotFound(err)) problems.push(`delete ${item}: ${errorMessage(err)}`);
        }
      }
    }
    if (left.length === 0) return result;
    if (Date.now() >= deadline) {
      const more = left.length > 10 ? ` (and ${left.length - 10} more)` : '';
      const why = problems.length > 0 ? `; ${problems.slice(-5).join('; ')}` : '';
      throw new OperationError(`namespace ${ns} is not empty after ${Math.round(timeoutMs / 1000)}s: ${left.slice(0, 10).join(', ')}${more}${why}`);
    }
    await sleep(Math.min(1000, Math.max(0, deadline - Date.now())), undefined, { signal });
  }
}

function groupOf(groupVersion: string): string {
  return groupVersion.includes('/') ? groupVersion.slice(0, groupVersion.indexOf('/')) : '';
}

/** One entry per qualified resource (discovery lists a resource once per group, at its preferred version). */
function dedupe(resources: ApiResource[]): ApiResource[] {
  const out = new Map<string, ApiResource>();
  for (const r of resources) {
    const qr = qualifiedResource(r.resource, r.group);
    if (!out.has(qr)) out.set(qr, r);
  }
  return [...out.values()];
}
