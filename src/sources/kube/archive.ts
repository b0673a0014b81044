import { z } from 'zod';

/**
 * Layout of the Kubernetes artifact (`kube/resources.tar`): one plain tar per backup (compressed and
 * age-encrypted as a whole by the artifact writer, so Secrets never reach the store in plaintext).
 *
 *   index.json                                                  first entry; lists every object entry
 *   resources/<qualified resource>/namespaces/<ns>/<name>.json  namespaced objects
 *   resources/<qualified resource>/cluster/<name>.json          cluster-scoped objects
 *
 * Qualified resource names follow kubectl and Velero: `<resource>.<group>`, and just `<resource>` for the
 * core group (no trailing dot): `configmaps`, `secrets`, `persistentvolumes`, `deployments.apps`,
 * `ingressroutes.traefik.io`, `customresourcedefinitions.apiextensions.k8s.io`. The same names key the
 * manifest's per-resource counts and the restore report's items (`deployments.apps ai-qtrd/ai-qtrd-web`).
 *
 * Each object file holds the object exactly as the API server returned it (plus `apiVersion` and `kind`,
 * which list responses leave off their items), pretty-printed JSON.
 */
export const KUBE_ARCHIVE_FORMAT = 1;
export const KUBE_INDEX_PATH = 'index.json';
export const KUBE_RESOURCES_DIR = 'resources/';
export const KUBE_ARTIFACT_NAME = 'kube/resources.tar';

/** Names of objects: DNS subdomains, plus the `:` that RBAC names allow (`system:controller:foo`). */
const OBJECT_NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.:@]{0,251}[A-Za-z0-9])?$/;
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const RESOURCE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const GROUP_RE = /^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** `configmaps` for the core group, `deployments.apps` otherwise. */
export function qualifiedResource(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

/** Inverse of qualifiedResource: the resource is everything before the first dot. */
export function parseQualifiedResource(qr: string): { resource: string; group: string } {
  const dot = qr.indexOf('.');
  return dot < 0 ? { resource: qr, group: '' } : { resource: qr.slice(0, dot), group: qr.slice(dot + 1) };
}

/** `apps/v1` → `apps`, `v1` → `` (core). */
export function groupOfApiVersion(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

export function isValidObjectName(name: string): boolean {
  return OBJECT_NAME_RE.test(name) && !name.includes('..');
}

export const kubeIndexEntrySchema = z.strictObject({
  path: z.string(),
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  /** Absent for cluster-scoped objects. */
  namespace: z.string().regex(NAMESPACE_RE).optional(),
  name: z.string().refine(isValidObjectName, 'expected an object name'),
  resource: z.string().regex(RESOURCE_RE),
  group: z.string().regex(GROUP_RE),
});

export const kubeArchiveIndexSchema = z.strictObject({
  format: z.literal(KUBE_ARCHIVE_FORMAT),
  backupId: z.string(),
  /** The namespace that was backed up. */
  namespace: z.string().regex(NAMESPACE_RE),
  createdAt: z.iso.datetime(),
  serverVersion: z.string().optional(),
  entries: z.array(kubeIndexEntrySchema),
  /** What was deliberately left out: `<qualified resource>: <reason>` → count. */
  skipped: z.record(z.string(), z.number().int().nonnegative()),
});

export type KubeIndexEntry = z.infer<typeof kubeIndexEntrySchema>;
export type KubeArchiveIndex = z.infer<typeof kubeArchiveIndexSchema>;

/** Where an object lives in the tar. */
export function entryPath(e: { resource: string; group: string; namespace?: string; name: string }): string {
  if (!isValidObjectName(e.name)) throw new Error(`invalid object name ${JSON.stringify(e.name)}`);
  const qr = qualifiedResource(e.resource, e.group);
  if (e.namespace !== undefined) {
    if (!NAMESPACE_RE.test(e.namespace)) throw new Error(`invalid namespace ${JSON.stringify(e.namespace)}`);
    return `${KUBE_RESOURCES_DIR}${qr}/namespaces/${e.namespace}/${e.name}.json`;
  }
  return `${KUBE_RESOURCES_DIR}${qr}/cluster/${e.name}.json`;
}

/** Builds the index entry of an object read from the API (resource and group from discovery). */
export function indexEntryFor(obj: any, resource: string, group: string): KubeIndexEntry {
  const e: Omit<KubeIndexEntry, 'path'> = { apiVersion: obj.apiVersion, kind: obj.kind, name: obj?.metadata?.name, resource, group };
  if (obj?.metadata?.namespace) e.namespace = obj.metadata.namespace;
  return { path: entryPath(e), ...e };
}

/** `deployments.apps ai-qtrd/ai-qtrd-web`, `persistentvolumes pv-redis-0`: the item names used in reports. */
export function itemName(e: { resource: string; group: string; namespace?: string; name: string }): string {
  return `${qualifiedResource(e.resource, e.group)} ${e.namespace ? `${e.namespace}/` : ''}${e.name}`;
}

/**
 * Checks that an index is consistent with the layout: every path is the one its fields imply, and no path
 * appears twice. Returns a list of problems (empty when fine).
 */
export function indexProblems(index: KubeArchiveIndex): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const e of index.entries) {
    let expected: string;
    try {
      expected = entryPath(e);
    } catch (err) {
      problems.push(`${e.path}: ${(err as Error).message}`);
      continue;
    }
    if (e.path !== expected) problems.push(`${e.path}: expected path ${expected}`);
    if (groupOfApiVersion(e.apiVersion) !== e.group) problems.push(`${e.path}: apiVersion ${e.apiVersion} is not in group "${e.group}"`);
    if (seen.has(e.path)) problems.push(`${e.path}: listed twice`);
    seen.add(e.path);
  }
  return problems;
}

/** Objects per qualified resource, as recorded in the manifest facts. */
export function countByResource(entries: Iterable<{ resource: string; group: string }>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of entries) {
    const qr = qualifiedResource(e.resource, e.group);
    counts[qr] = (counts[qr] ?? 0) + 1;
  }
  return counts;
}
