import type { ApiResource, KubeClient } from '../shared/kube-client.js';
import { groupVersionPath } from '../shared/kube-client.js';
import { errorMessage } from '../../util/errors.js';

export interface DiscoveryResult {
  resources: ApiResource[];
  /** Groups whose discovery failed (e.g. an aggregated API that is down): `<groupVersion>: <error>`. */
  failedGroups: string[];
}

/**
 * Every API resource that can be backed up and restored, at each group's preferred version: core (`/api/v1`)
 * plus every group in `/apis`, custom resources included. Subresources (`pods/log`) are left out, and so are
 * resources that cannot be both listed and created (read-only views like metrics.k8s.io, or create-only
 * reviews): there is nothing to restore from them.
 */
export async function discoverResources(client: KubeClient, signal?: AbortSignal): Promise<DiscoveryResult> {
  const groupVersions: Array<{ group: string; groupVersion: string }> = [];
  const core = await client.get('/api', { signal });
  const coreVersions: string[] = Array.isArray(core?.versions) ? core.versions : ['v1'];
  if (coreVersions.includes('v1')) groupVersions.push({ group: '', groupVersion: 'v1' });
  const apis = await client.get('/apis', { signal });
  for (const g of Array.isArray(apis?.groups) ? apis.groups : []) {
    const gv: string | undefined = g?.preferredVersion?.groupVersion ?? g?.versions?.[0]?.groupVersion;
    if (typeof g?.name === 'string' && gv) groupVersions.push({ group: g.name, groupVersion: gv });
  }

  const resources: ApiResource[] = [];
  const failedGroups: string[] = [];
  const lists = await Promise.all(
    groupVersions.map(async ({ group, groupVersion }) => {
      try {
        return { group, groupVersion, list: await client.get(groupVersionPath(groupVersion), { signal }) };
      } catch (err) {
        failedGroups.push(`${groupVersion}: ${errorMessage(err)}`);
        return undefined;
      }
    }),
  );
  for (const l of lists) {
    if (!l) continue;
    const version = l.groupVersion.includes('/') ? l.groupVersion.slice(l.groupVersion.indexOf('/') + 1) : l.groupVersion;
    for (const r of Array.isArray(l.list?.resources) ? l.list.resources : []) {
      if (typeof r?.name !== 'string' || r.name.includes('/') || typeof r.kind !== 'string') continue;
      const verbs: string[] = Array.isArray(r.verbs) ? r.verbs : [];
      if (!verbs.includes('list') || !verbs.includes('create')) continue;
      resources.push({
        group: l.group,
        version,
        groupVersion: l.groupVersion,
        resource: r.name,
        kind: r.kind,
        namespaced: r.namespaced === true,
        verbs,
      });
    }
  }
  return { resources, failedGroups: failedGroups.sort() };
}
