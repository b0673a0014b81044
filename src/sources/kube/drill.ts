import type { Artifact } from '../../repository/manifest.js';
import type { DrillConfig } from '../../config/schema.js';
import { errorMessage } from '../../util/errors.js';
import { KubeApiError, KubeClient, collectionPath, loadKubeConfig, objectPath, type KubeConfig } from '../shared/kube-client.js';
import type { CheckResult, DrillContext, DrillTarget } from '../source.js';
import { qualifiedResource } from './archive.js';
import { collectProductionHosts, drillActions } from './drill-actions/index.js';
import type { RestoreAction } from './drill-actions/types.js';
import type { KubeFacts } from './facts.js';
import { readKubeArchive, restoreKube } from './restore.js';
import { checkDrillNamespace, emptyDrillNamespace } from './drill-namespace.js';
import { createDrillNamespace, deleteDrillNamespace } from './scratch-namespace.js';
import { waitForWorkloads } from './wait.js';

type HealthCheck = DrillConfig['healthChecks'][number];
/** Objects expected per qualified resource in the target namespace, with where to list them. */
export type ExpectedKubeCounts = Map<string, { expected: number; groupVersion: string; resource: string }>;

/**
 * Kubernetes's drill part, when there is a cluster (sources.kube or the drill's kubeconfig): a scratch namespace
 * gets the backed-up namespace's objects through the drill transforms (hosts, env, Secrets rewritten to the scratch
 * targets; cluster-scoped objects left out); then rollouts and health checks through the API server's service
 * proxy, and per-resource object counts. The scratch namespace is either the standing `drill.namespace` (it must
 * exist with the drill label; emptied before and after, so the drill needs rights there only) or, without it or
 * with an explicit `--namespace`, `<namespacePrefix><date>` created and deleted by the drill (needs the right
 * to create namespaces: local and admin runs).
 */
export async function prepareKubeDrill(ctx: DrillContext): Promise<DrillTarget | undefined> {
  const artifact = ctx.artifacts.find((a): a is Artifact & { facts: KubeFacts } => a.kind === 'kube-tar' && a.facts.type === 'kube');
  const kubeConfig = ctx.options.kubeConfig as KubeConfig | undefined;
  if (!artifact || (kubeConfig === undefined && ctx.config.sources.kube === undefined)) return undefined;
  const kube = new KubeClient(kubeConfig ?? loadKubeConfig(ctx.config.sources.kube));
  const dashed = ctx.stamp.replace('_', '-');
  const standing = ctx.options.namespace === undefined ? ctx.config.drill.namespace : undefined;
  const namespace = (ctx.options.namespace as string | undefined) ?? standing ?? `${ctx.config.drill.namespacePrefix}${dashed}`;
  const restoreId = `drill-${dashed}`;
  // Resource types of the backup's namespaced objects: what the cleanup deletes by the restore label.
  const restored: Array<{ groupVersion: string; resource: string }> = [];
  let describe = `namespace ${namespace}`;
  if (standing) {
    await checkDrillNamespace(kube, namespace, artifact.facts.namespace, ctx.restore.signal);
    // What an earlier drill left (killed, or kept with --keep): the namespace is the drill's alone.
    const excludeResources = ctx.config.sources.kube?.excludeResources ?? [];
    const leftovers = await emptyDrillNamespace(kube, namespace, { excludeResources, signal: ctx.restore.signal });
    if (leftovers.deleted.length > 0) {
      ctx.restore.log.warn({ namespace, removed: leftovers.deleted.length, first: leftovers.deleted.slice(0, 5) }, 'drill namespace was not empty: removed what an earlier drill left');
      describe += ` (${leftovers.deleted.length} leftover objects removed)`;
    }
    ctx.cleanup(`the objects in namespace ${namespace}`, async () => {
      await emptyDrillNamespace(kube, namespace, { restore: { id: restoreId, resources: restored }, excludeResources });
    });
  } else {
    await createDrillNamespace(kube, namespace, artifact.facts.namespace, ctx.drillId);
    ctx.cleanup(`namespace ${namespace}`, () => deleteDrillNamespace(kube, namespace));
  }
  const transforms: NonNullable<DrillTarget['transforms']> = { dropped: [], excluded: [] };
  let expected: ExpectedKubeCounts | undefined;

  return {
    vars: { namespace },
    scratch: { namespace },
    describe,
    mode: 'kubernetes',
    transforms,
    restore: async (vars) => {
      await ctx.phase(
        'kube',
        async () => {
          const { index, objects } = await readKubeArchive(ctx.restore, artifact);
          for (const e of index.entries) if (e.namespace !== undefined) restored.push({ groupVersion: e.apiVersion, resource: e.resource });
          const actions = drillActions({
            productionHosts: collectProductionHosts(objects),
            domain: ctx.config.drill.domain,
            vars: { namespace, database: vars.database ?? '', redisUrl: vars.redisUrl ?? '', pgUrl: vars.pgUrl ?? '' },
            env: ctx.config.drill.env,
            secretData: ctx.config.drill.secretData,
          });
          for (const e of index.entries) {
            if (e.namespace === undefined) transforms.excluded.push({ item: `${qualifiedResource(e.resource, e.group)} ${e.name}`, reason: 'cluster-scoped: shared with production, not restored by a drill' });
          }
          const res = await restoreKube(ctx.restore, {
            toNamespace: namespace,
            existing: 'skip',
            restoreId,
            include: (_obj, entry) => entry.namespace !== undefined,
            extraTransforms: actions.map(asTransform),
            // The drill's own transforms move production hosts (stricter: every host becomes .invalid without a domain).
            keepHosts: true,
            waitForReady: false,
            createNamespace: false,
            kubeConfig: kube.kc,
          });
          transforms.dropped.push(...res.dropped);
          if (res.failed > 0) {
            throw new Error(`${res.failed} objects failed: ${res.items.filter((i) => i.result === 'failed').map((i) => `${i.item} (${i.detail ?? ''})`).slice(0, 5).join('; ')}`);
          }
          expected = expectedKubeCounts(artifact.facts, index.entries, res.items);
          return res;
        },
        (res) => `${res.summary.created ?? 0} created, ${res.dropped.length} dropped by drill transforms, ${transforms.excluded.length} cluster-scoped left out`,
      );
    },
    ready: async () => {
      await ctx.phase('rollout', () => waitForRollouts(kube, namespace, ctx.config.drill.readyTimeoutSeconds, ctx.restore.signal), (n) => `${n} workloads ready`);
      await ctx.phase(
        'health',
        async () => {
          const checks: CheckResult[] = [];
          for (const hc of ctx.config.drill.healthChecks) checks.push(await healthCheck(kube, namespace, hc, ctx.restore.signal));
          ctx.record(checks);
          const bad = checks.filter((c) => !c.ok);
          if (bad.length > 0) throw new Error(bad.map((c) => `${c.name}: ${c.detail ?? `expected ${c.expected}, got ${c.actual}`}`).join('; '));
          return checks;
        },
        (checks) => `${checks.length} services answered`,
      );
    },
    checks: async () => (expected ? kubeChecks(kube, namespace, restoreId, expected) : []),
  };
}

/** GET through the API server's services proxy; the status and body must match what the config expects. */
export async function healthCheck(client: KubeClient, namespace: string, hc: HealthCheck, signal?: AbortSignal): Promise<CheckResult> {
  const name = `${hc.service}:${hc.port}${hc.path}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(`${hc.service}:${hc.port}`)}/proxy${hc.path}`;
  let status = 200;
  let body: string;
  try {
    const parsed = await client.get(path, { signal, timeoutMs: 30_000 });
    body = typeof parsed === 'string' ? parsed : JSON.stringify(parsed);
  } catch (err) {
    if (err instanceof KubeApiError) {
      status = err.code;
      body = err.apiMessage;
    } else {
      return { kind: 'health', name, ok: false, expected: hc.expectStatus, detail: `service ${hc.service}: ${errorMessage(err)}` };
    }
  }
  if (status !== hc.expectStatus) {
    return { kind: 'health', name, ok: false, expected: hc.expectStatus, actual: status, detail: `service ${hc.service} answered ${status}: ${body.slice(0, 200)}` };
  }
  if (hc.expectBody && !body.includes(hc.expectBody)) {
    return { kind: 'health', name, ok: false, expected: hc.expectBody, actual: body.slice(0, 200), detail: `service ${hc.service}: body lacks ${hc.expectBody}` };
  }
  return { kind: 'health', name, ok: true, expected: hc.expectStatus, actual: status };
}

/** Makes a drill action a restore transform; its name is what the restore report says dropped an object. */
function asTransform(a: RestoreAction): (obj: any, ctx: any) => any | null {
  const fn = (obj: any, ctx: any) => {
    const apiVersion = String(obj?.apiVersion ?? '');
    const ref = { group: apiVersion.includes('/') ? apiVersion.split('/')[0] : '', resource: '', kind: String(obj?.kind ?? '') };
    return a.appliesTo(ref) ? a.transform(obj, ctx) : obj;
  };
  Object.defineProperty(fn, 'name', { value: a.name });
  return fn;
}

async function waitForRollouts(kube: KubeClient, ns: string, timeoutSeconds: number, signal?: AbortSignal): Promise<number> {
  const targets = [];
  for (const [gv, resource, kind] of [['apps/v1', 'deployments', 'Deployment'], ['apps/v1', 'statefulsets', 'StatefulSet']] as const) {
    for (const o of await kube.list(collectionPath(gv, resource, ns), kind, gv, { signal })) {
      targets.push({ item: `${resource}.apps ${ns}/${o.metadata.name}`, path: objectPath(gv, resource, o.metadata.name, ns) });
    }
  }
  const notReady = await waitForWorkloads(kube, targets, timeoutSeconds, { signal });
  if (notReady.size > 0) throw new Error(`not ready after ${timeoutSeconds}s: ${[...notReady].map(([k, v]) => `${k} (${v})`).join('; ')}`);
  return targets.length;
}

/**
 * What the drill namespace must hold per resource: the manifest's count minus what the drill left out on
 * purpose (dropped by a transform, cluster-scoped, or skipped by the restore with a reason). Also what any
 * restore into another namespace must leave there (the round-trip tests use it with a plain restore's items).
 */
export function expectedKubeCounts(
  facts: KubeFacts,
  entries: Array<{ resource: string; group: string; apiVersion: string; namespace?: string }>,
  items: Array<{ item: string; result: string }>,
): ExpectedKubeCounts {
  const out: ExpectedKubeCounts = new Map();
  const leftOut = new Map<string, number>();
  for (const i of items) {
    if (i.result === 'created' || i.result === 'updated') continue;
    const qr = i.item.split(' ')[0];
    leftOut.set(qr, (leftOut.get(qr) ?? 0) + 1);
  }
  for (const e of entries) {
    if (e.namespace === undefined) continue;
    const qr = qualifiedResource(e.resource, e.group);
    if (!out.has(qr)) out.set(qr, { expected: 0, groupVersion: e.apiVersion, resource: e.resource });
  }
  for (const [qr, v] of out) {
    const clusterScoped = entries.filter((e) => e.namespace === undefined && qualifiedResource(e.resource, e.group) === qr).length;
    v.expected = (facts.counts[qr] ?? 0) - clusterScoped - (leftOut.get(qr) ?? 0);
  }
  return out;
}

async function kubeChecks(kube: KubeClient, ns: string, restoreId: string, expected: ExpectedKubeCounts): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const [qr, e] of expected) {
    const page = await kube.get(collectionPath(e.groupVersion, e.resource, ns), { query: { labelSelector: `gushen-dr.io/restore=${restoreId}` } });
    const actual = (page?.items ?? []).length;
    out.push({ kind: 'kube', name: `${qr} objects`, ok: actual === e.expected, expected: e.expected, actual });
  }
  return out;
}
