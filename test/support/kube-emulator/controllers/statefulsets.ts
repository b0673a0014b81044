/** StatefulSet controller: ordinal pods, PVCs from volumeClaimTemplates, ControllerRevisions. */
import { arr, clone, num, rec, str, strMap, type KubeObject, type Rec } from '../types.js';
import { create, def, isPodReady, isTerminal, omitEmpty, ownedBy, ownerRef, podFromTemplate, remove, setStatus, templateHash, type ControllerContext } from './common.js';

function ordinalOf(sts: KubeObject, pod: KubeObject): number {
  const prefix = `${sts.metadata.name ?? ''}-`;
  const name = pod.metadata.name ?? '';
  if (!name.startsWith(prefix)) return -1;
  const n = Number(name.slice(prefix.length));
  return Number.isInteger(n) ? n : -1;
}

function ensureRevision(ctx: ControllerContext, sts: KubeObject, hash: string): string {
  const crDef = def(ctx, 'apps', 'controllerrevisions');
  const name = `${sts.metadata.name ?? ''}-${hash}`;
  const revisions = ownedBy(ctx, 'apps', 'controllerrevisions', sts);
  if (!revisions.some((r) => r.metadata.name === name)) {
    const next = Math.max(0, ...revisions.map((r) => num(r.revision) ?? 0)) + 1;
    const template = rec(rec(sts.spec).template);
    create(ctx, crDef, {
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name,
        namespace: sts.metadata.namespace,
        labels: { ...strMap(rec(template.metadata).labels), 'controller.kubernetes.io/hash': hash },
        ownerReferences: [ownerRef(sts, def(ctx, 'apps', 'statefulsets'))],
      },
      data: { spec: { template: { ...clone(template), $patch: 'replace' } } },
      revision: next,
    });
  }
  return name;
}

function ensureClaims(ctx: ControllerContext, sts: KubeObject, ordinal: number): void {
  const pvcDef = def(ctx, '', 'persistentvolumeclaims');
  const spec = rec(sts.spec);
  const selectorLabels = strMap(rec(spec.selector).matchLabels);
  for (const t of arr(spec.volumeClaimTemplates).map(rec)) {
    const tm = rec(t.metadata);
    const name = `${str(tm.name) ?? ''}-${sts.metadata.name ?? ''}-${ordinal}`;
    if (ctx.store.get('', 'persistentvolumeclaims', sts.metadata.namespace, name)) continue;
    const meta: Rec = { name, namespace: sts.metadata.namespace, labels: { ...strMap(tm.labels), ...selectorLabels } };
    if (Object.keys(strMap(tm.annotations)).length) meta.annotations = strMap(tm.annotations);
    create(ctx, pvcDef, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: meta as KubeObject['metadata'], spec: clone(rec(t.spec)) });
  }
}

function stsPod(ctx: ControllerContext, sts: KubeObject, ordinal: number, revision: string): KubeObject {
  const spec = rec(sts.spec);
  const name = `${sts.metadata.name ?? ''}-${ordinal}`;
  const pod = podFromTemplate(spec.template, name, sts.metadata.namespace, ownerRef(sts, def(ctx, 'apps', 'statefulsets')), {
    'controller-revision-hash': revision,
    'statefulset.kubernetes.io/pod-name': name,
    'apps.kubernetes.io/pod-index': String(ordinal),
  });
  const ps = rec(pod.spec);
  ps.hostname = name;
  if (str(spec.serviceName)) ps.subdomain = spec.serviceName;
  const volumes = arr(ps.volumes).map(rec);
  for (const t of arr(spec.volumeClaimTemplates).map(rec)) {
    const vname = str(rec(t.metadata).name) ?? '';
    if (volumes.some((v) => v.name === vname)) continue;
    volumes.push({ name: vname, persistentVolumeClaim: { claimName: `${vname}-${sts.metadata.name ?? ''}-${ordinal}` } });
  }
  if (volumes.length) ps.volumes = volumes;
  pod.spec = ps;
  return pod;
}

export function reconcileStatefulSets(ctx: ControllerContext): void {
  const stsDef = def(ctx, 'apps', 'statefulsets');
  const podDef = def(ctx, '', 'pods');
  for (const sts of ctx.store.list('apps', 'statefulsets')) {
    const spec = rec(sts.spec);
    const replicas = num(spec.replicas) ?? 1;
    const hash = templateHash(spec.template);
    const revision = ensureRevision(ctx, sts, hash);
    const parallel = spec.podManagementPolicy === 'Parallel';
    const pods = new Map<number, KubeObject>();
    for (const p of ownedBy(ctx, '', 'pods', sts)) pods.set(ordinalOf(sts, p), p);

    // Scale down from the highest ordinal.
    for (const [i, p] of [...pods].sort((a, b) => b[0] - a[0])) {
      if (i >= replicas || i < 0) {
        remove(ctx, podDef, p);
        pods.delete(i);
        if (!parallel) break;
      }
    }
    // Create missing ordinals (OrderedReady waits for the previous ones to be ready).
    for (let i = 0; i < replicas; i++) {
      const existing = pods.get(i);
      if (existing) {
        if (!parallel && !isPodReady(existing)) break;
        continue;
      }
      ensureClaims(ctx, sts, i);
      const created = create(ctx, podDef, stsPod(ctx, sts, i, revision));
      if (created) pods.set(i, created);
      if (!parallel) break;
    }
    // Rolling update: replace the highest outdated pod once all are ready.
    const live = [...pods.values()].filter((p) => !isTerminal(p));
    const outdated = [...pods].filter(([, p]) => strMap(p.metadata.labels)['controller-revision-hash'] !== revision).sort((a, b) => b[0] - a[0]);
    if (rec(spec.updateStrategy).type !== 'OnDelete' && outdated.length && live.every(isPodReady)) remove(ctx, podDef, outdated[0]![1]);

    const ready = live.filter(isPodReady).length;
    const updated = live.filter((p) => strMap(p.metadata.labels)['controller-revision-hash'] === revision).length;
    const prev = rec(sts.status);
    const currentRevision = updated === live.length ? revision : (str(prev.currentRevision) ?? revision);
    const status = omitEmpty({
      observedGeneration: sts.metadata.generation,
      replicas: live.length,
      readyReplicas: ready,
      currentReplicas: updated === live.length ? live.length : live.length - updated,
      updatedReplicas: updated,
      availableReplicas: ready,
      currentRevision,
      updateRevision: revision,
    });
    status.collisionCount = 0;
    status.replicas = live.length;
    status.availableReplicas = ready;
    setStatus(ctx, stsDef, sts, status);
  }
}
