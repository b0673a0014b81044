import { qualifiedResource } from './archive.js';

/**
 * The order objects are created in, after Velero's default restore priorities: what others depend on first
 * (CRDs before their custom resources, namespaces, storage before claims, identities and RBAC, then Secrets
 * and ConfigMaps that Pods mount), Services before the workloads that are reached through them. Anything not
 * listed follows, alphabetically by qualified resource (deployments.apps, ingressroutes.traefik.io,
 * statefulsets.apps, …); within a resource, by namespace and name.
 */
export const RESTORE_PRIORITIES: readonly string[] = [
  'customresourcedefinitions.apiextensions.k8s.io',
  'namespaces',
  'storageclasses.storage.k8s.io',
  'volumesnapshotclasses.snapshot.storage.k8s.io',
  'volumesnapshotcontents.snapshot.storage.k8s.io',
  'volumesnapshots.snapshot.storage.k8s.io',
  'persistentvolumes',
  'persistentvolumeclaims',
  'clusterroles.rbac.authorization.k8s.io',
  'roles.rbac.authorization.k8s.io',
  'serviceaccounts',
  'clusterrolebindings.rbac.authorization.k8s.io',
  'rolebindings.rbac.authorization.k8s.io',
  'secrets',
  'configmaps',
  'limitranges',
  'resourcequotas',
  'priorityclasses.scheduling.k8s.io',
  'pods',
  'replicasets.apps',
  'endpoints',
  'services',
];

const RANK = new Map(RESTORE_PRIORITIES.map((qr, i) => [qr, i]));

/** Sort key of a qualified resource: its priority, or after all of them. */
export function resourceRank(qr: string): number {
  return RANK.get(qr) ?? RESTORE_PRIORITIES.length;
}

export interface Orderable {
  resource: string;
  group: string;
  namespace?: string;
  name: string;
}

export function compareForRestore(a: Orderable, b: Orderable): number {
  const qa = qualifiedResource(a.resource, a.group);
  const qb = qualifiedResource(b.resource, b.group);
  const ra = resourceRank(qa);
  const rb = resourceRank(qb);
  if (ra !== rb) return ra - rb;
  if (qa !== qb) return qa < qb ? -1 : 1;
  const na = a.namespace ?? '';
  const nb = b.namespace ?? '';
  if (na !== nb) return na < nb ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A sorted copy (stable). */
export function restoreOrder<T>(items: readonly T[], key: (t: T) => Orderable): T[] {
  return [...items].sort((x, y) => compareForRestore(key(x), key(y)));
}
