import type { CheckContext, CheckRow } from '../source.js';
import { checkRow, skipped } from '../shared/check-rows.js';
import { deniedPermissions, describePermission, rightsOutcome, type KubePermission } from '../shared/kube-access.js';
import { KubeClient, loadKubeConfig } from '../shared/kube-client.js';
import { parseQualifiedResource } from './archive.js';
import { discoverResources } from './discovery.js';
import type { KubeFacts } from './facts.js';
import { isExcluded } from './filters.js';

/**
 * Kubernetes's rows of `gushen-dr check`: the API server answers with the kubeconfig's credentials, and a
 * SelfSubjectAccessReview for every permission the command needs is allowed. A backup lists every namespaced
 * resource the API serves (minus excludeResources) in the namespace, gets the Namespace and Secrets, and with
 * clusterResources reads the cluster-scoped objects it depends on. A drill creates, lists and deletes every kind of
 * object the latest backup holds in its standing scratch namespace (drill.namespace), or else creates and deletes a
 * namespace of its own and needs those rights in any namespace; a restore creates them in the configured namespace.
 */
export async function checkKube(ctx: CheckContext): Promise<CheckRow[]> {
  const cfg = ctx.config.sources.kube;
  if (!cfg) return [];
  let client: KubeClient | undefined;
  const api = await checkRow('kube api', async () => {
    client = new KubeClient(loadKubeConfig(cfg), 10_000);
    const version = await client.get<{ gitVersion?: string }>('/version', { signal: ctx.signal, timeoutMs: 10_000 });
    return `${client.description}: Kubernetes ${version?.gitVersion ?? '(version not given)'}`;
  });
  if (api.status !== 'ok' || !client) return [api, { check: `kube rights (${ctx.command})`, status: 'skipped', detail: 'the API server did not answer' }];
  const c = client;
  const rights = await checkRow(`kube rights (${ctx.command})`, async () => {
    const perms = await permissionsFor(ctx, c);
    if (perms.length === 0) return skipped('no Kubernetes objects in the latest backup');
    const denied = await deniedPermissions(c, perms, ctx.signal);
    return rightsOutcome(`${ctx.command} as the kubeconfig's user`, perms.length, denied.map(describePermission));
  });
  return [api, rights];
}

async function permissionsFor(ctx: CheckContext, client: KubeClient): Promise<KubePermission[]> {
  const cfg = ctx.config.sources.kube!;
  const ns = cfg.namespace;
  if (ctx.command === 'backup') {
    const discovery = await discoverResources(client, ctx.signal);
    const perms: KubePermission[] = [{ verb: 'get', resource: 'namespaces', name: ns }];
    for (const r of discovery.resources) {
      if (!r.namespaced || isExcluded(r.resource, r.group, cfg.excludeResources)) continue;
      perms.push({ verb: 'list', resource: r.resource, group: r.group, namespace: ns });
    }
    perms.push({ verb: 'get', resource: 'secrets', namespace: ns });
    if (cfg.clusterResources) {
      perms.push(
        { verb: 'list', resource: 'persistentvolumes' },
        { verb: 'get', resource: 'storageclasses', group: 'storage.k8s.io' },
        { verb: 'list', resource: 'customresourcedefinitions', group: 'apiextensions.k8s.io' },
        { verb: 'list', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io' },
      );
    }
    return perms;
  }
  // What the latest backup holds is what a restore or drill creates.
  const facts = (ctx.latest?.artifacts ?? []).flatMap((a) => (a.kind === 'kube-tar' && a.facts.type === 'kube' ? [a.facts as KubeFacts] : []));
  const kinds = [...new Set(facts.flatMap((f) => Object.keys(f.counts)))]
    .map(parseQualifiedResource)
    .filter((r) => !(r.group === '' && r.resource === 'namespaces'))
    .filter((r) => !['persistentvolumes', 'storageclasses', 'customresourcedefinitions', 'clusterrolebindings', 'clusterroles'].includes(r.resource));
  if (ctx.command === 'restore') {
    return kinds.flatMap((r) => ['get', 'create'].map((verb) => ({ verb, resource: r.resource, group: r.group, namespace: ns })));
  }
  // A drill into the standing scratch namespace (drill.namespace): its rights are there only, it creates no namespace.
  const standing = ctx.config.drill.namespace;
  if (standing) {
    return [
      // A namespace's own object is in itself for RBAC (the API server's request attributes): a Role there grants it.
      { verb: 'get', resource: 'namespaces', name: standing, namespace: standing },
      ...kinds.flatMap((r) => ['create', 'get', 'list', 'delete'].map((verb) => ({ verb, resource: r.resource, group: r.group, namespace: standing }))),
      { verb: 'get', resource: 'services', subresource: 'proxy', namespace: standing },
    ];
  }
  // A drill that creates its scratch namespace: it does not exist yet, so the rights must hold in any namespace.
  return [
    ...['create', 'get', 'delete'].map((verb) => ({ verb, resource: 'namespaces' })),
    ...kinds.flatMap((r) => ['create', 'get', 'list', 'delete'].map((verb) => ({ verb, resource: r.resource, group: r.group }))),
    { verb: 'get', resource: 'services', subresource: 'proxy' },
  ];
}
