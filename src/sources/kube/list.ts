import type { Logger } from '../../util/log.js';
import { indexEntryFor, qualifiedResource, type KubeIndexEntry } from './archive.js';
import { collectionPath, objectPath, type ApiResource, type KubeClient } from '../shared/kube-client.js';
import { errorMessage, OperationError } from '../../util/errors.js';
import { mapLimit } from '../../util/concurrency.js';
import { discoverResources } from './discovery.js';
import { isExcluded, selectorServiceNames, skipReason } from './filters.js';

export interface CollectOptions {
  namespace: string;
  /** `sources.kube.excludeResources`: not even listed. */
  excludeResources: readonly string[];
  /** Add the cluster-scoped objects the namespace depends on. */
  clusterResources: boolean;
  log: Logger;
  signal?: AbortSignal;
}

export interface CollectedObject {
  entry: KubeIndexEntry;
  obj: any;
}

export interface Collected {
  serverVersion?: string;
  /** Sorted by archive path. */
  objects: CollectedObject[];
  /** `<qualified resource>: <reason>` → count. */
  skipped: Record<string, number>;
  /** What could not be read (the backup is then partial). */
  failures: string[];
}

const LIST_CONCURRENCY = 4;

/**
 * Reads everything the namespace consists of: every namespaced resource that can be listed (custom
 * resources included), minus what controllers recreate, plus the Namespace object and, with
 * `clusterResources`, the cluster-scoped objects it depends on: PersistentVolumes bound to its claims, the
 * StorageClasses those use, the CRDs of its custom resources, and ClusterRoleBindings of its ServiceAccounts.
 */
export async function collectNamespace(client: KubeClient, opts: CollectOptions): Promise<Collected> {
  const { namespace: ns, log, signal } = opts;
  const serverVersion = await client.serverVersion(signal);
  const nsObj = await client.getOptional(objectPath('v1', 'namespaces', ns), { signal });
  if (!nsObj) throw new OperationError(`namespace ${ns} does not exist in the cluster at ${client.description}`);

  const discovery = await discoverResources(client, signal);
  const failures: string[] = [];
  for (const g of discovery.failedGroups) {
    log.warn({ group: g }, 'API group discovery failed; its resources are not in the backup');
    failures.push(`discovery of ${g}`);
  }
  const byQr = new Map<string, ApiResource>();
  for (const r of discovery.resources) {
    const qr = qualifiedResource(r.resource, r.group);
    if (!byQr.has(qr)) byQr.set(qr, r);
  }

  const skipped: Record<string, number> = {};
  const skip = (qr: string, reason: string) => {
    const k = `${qr}: ${reason}`;
    skipped[k] = (skipped[k] ?? 0) + 1;
  };

  const namespaced = [...byQr.values()].filter((r) => r.namespaced);
  for (const r of namespaced) {
    if (isExcluded(r.resource, r.group, opts.excludeResources)) log.info({ resource: qualifiedResource(r.resource, r.group) }, 'excluded by sources.kube.excludeResources');
  }
  const toList = namespaced.filter((r) => !isExcluded(r.resource, r.group, opts.excludeResources));
  const listed = await mapLimit(toList, LIST_CONCURRENCY, async (r) => {
    try {
      return { r, items: await client.list(collectionPath(r.groupVersion, r.resource, ns), r.kind, r.groupVersion, { signal }) };
    } catch (err) {
      if (signal?.aborted) throw err;
      failures.push(`list ${qualifiedResource(r.resource, r.group)} in ${ns}: ${errorMessage(err)}`);
      return { r, items: [] as any[] };
    }
  });

  const services = listed.find((l) => l.r.group === '' && l.r.resource === 'services')?.items ?? [];
  const skipCtx = { selectorServices: selectorServiceNames(services) };
  const objects: CollectedObject[] = [];
  const add = (obj: any, r: { resource: string; group: string }) => objects.push({ entry: indexEntryFor(obj, r.resource, r.group), obj });

  add(withTypeMeta(nsObj, 'v1', 'Namespace'), { resource: 'namespaces', group: '' });
  for (const { r, items } of listed) {
    for (const obj of items) {
      const why = skipReason(r.resource, r.group, obj, skipCtx);
      if (why) skip(qualifiedResource(r.resource, r.group), why);
      else add(obj, r);
    }
  }

  if (opts.clusterResources) {
    const clusterFailures = await addClusterDependencies(client, ns, byQr, objects, add, signal);
    failures.push(...clusterFailures);
  }

  objects.sort((a, b) => (a.entry.path < b.entry.path ? -1 : a.entry.path > b.entry.path ? 1 : 0));
  return { serverVersion, objects, skipped, failures };
}

async function addClusterDependencies(
  client: KubeClient,
  ns: string,
  byQr: Map<string, ApiResource>,
  objects: CollectedObject[],
  add: (obj: any, r: { resource: string; group: string }) => void,
  signal?: AbortSignal,
): Promise<string[]> {
  const failures: string[] = [];
  const listAll = async (qr: string): Promise<any[]> => {
    const r = byQr.get(qr);
    if (!r) return [];
    try {
      return await client.list(collectionPath(r.groupVersion, r.resource), r.kind, r.groupVersion, { signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      failures.push(`list ${qr}: ${errorMessage(err)}`);
      return [];
    }
  };
  const pvcs = objects.filter((o) => o.entry.resource === 'persistentvolumeclaims' && o.entry.group === '').map((o) => o.obj);

  // PersistentVolumes bound (or reserved) for the namespace's claims.
  const volumeNames = new Set(pvcs.map((c) => c?.spec?.volumeName).filter((n): n is string => typeof n === 'string' && n !== ''));
  const pvs = (await listAll('persistentvolumes')).filter((pv) => pv?.spec?.claimRef?.namespace === ns || volumeNames.has(pv?.metadata?.name));
  for (const pv of pvs) add(pv, { resource: 'persistentvolumes', group: '' });

  // StorageClasses those claims and volumes use.
  const scr = byQr.get('storageclasses.storage.k8s.io');
  const classNames = new Set(
    [...pvcs, ...pvs].map((o) => o?.spec?.storageClassName).filter((n): n is string => typeof n === 'string' && n !== ''),
  );
  if (scr) {
    for (const name of [...classNames].sort()) {
      try {
        const sc = await client.getOptional(objectPath(scr.groupVersion, scr.resource, name), { signal });
        if (sc) add(withTypeMeta(sc, scr.groupVersion, scr.kind), scr);
      } catch (err) {
        if (signal?.aborted) throw err;
        failures.push(`get storageclass ${name}: ${errorMessage(err)}`);
      }
    }
  }

  // CRDs of the custom resources that were backed up.
  const crds = await listAll('customresourcedefinitions.apiextensions.k8s.io');
  const crdByQr = new Map<string, any>();
  for (const crd of crds) {
    const plural = crd?.spec?.names?.plural;
    const group = crd?.spec?.group;
    if (typeof plural === 'string' && typeof group === 'string') crdByQr.set(qualifiedResource(plural, group), crd);
  }
  const usedQrs = new Set(objects.map((o) => qualifiedResource(o.entry.resource, o.entry.group)));
  for (const qr of [...usedQrs].sort()) {
    const crd = crdByQr.get(qr);
    if (crd) add(crd, { resource: 'customresourcedefinitions', group: 'apiextensions.k8s.io' });
  }

  // ClusterRoleBindings whose subjects include the namespace's ServiceAccounts.
  const crbs = await listAll('clusterrolebindings.rbac.authorization.k8s.io');
  for (const crb of crbs) {
    const subjects = Array.isArray(crb?.subjects) ? crb.subjects : [];
    if (subjects.some((s: any) => s?.kind === 'ServiceAccount' && s?.namespace === ns)) {
      add(crb, { resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io' });
    }
  }

  // ClusterRoles those bindings (and the namespace's RoleBindings) grant, unless they are the cluster's own
  // (bootstrap roles such as view/edit/admin, and system: roles), which every cluster has.
  const crr = byQr.get('clusterroles.rbac.authorization.k8s.io');
  const roleNames = new Set<string>();
  for (const o of objects) {
    const isBinding = o.entry.group === 'rbac.authorization.k8s.io' && (o.entry.resource === 'clusterrolebindings' || o.entry.resource === 'rolebindings');
    const ref = o.obj?.roleRef;
    if (isBinding && ref?.kind === 'ClusterRole' && typeof ref.name === 'string' && !ref.name.startsWith('system:')) roleNames.add(ref.name);
  }
  if (crr) {
    for (const name of [...roleNames].sort()) {
      try {
        const role = await client.getOptional(objectPath(crr.groupVersion, crr.resource, name), { signal });
        if (role && role.metadata?.labels?.['kubernetes.io/bootstrapping'] !== 'rbac-defaults') add(withTypeMeta(role, crr.groupVersion, crr.kind), crr);
      } catch (err) {
        if (signal?.aborted) throw err;
        failures.push(`get clusterrole ${name}: ${errorMessage(err)}`);
      }
    }
  }
  return failures;
}

function withTypeMeta(obj: any, apiVersion: string, kind: string): any {
  return { apiVersion: obj?.apiVersion ?? apiVersion, kind: obj?.kind ?? kind, ...obj };
}
