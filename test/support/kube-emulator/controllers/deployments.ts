/** Deployment controller: one ReplicaSet per pod template, status from the ReplicaSets. */
import { clone, num, rec, strMap, type KubeObject } from '../types.js';
import { conditions, create, def, omitEmpty, ownedBy, ownerRef, setStatus, templateHash, writeObject, type ControllerContext } from './common.js';

const REVISION = 'deployment.kubernetes.io/revision';

function maxUnavailable(dep: KubeObject, replicas: number): number {
  const strategy = rec(rec(dep.spec).strategy);
  if (strategy.type === 'Recreate') return replicas;
  const v = rec(strategy.rollingUpdate).maxUnavailable ?? '25%';
  if (typeof v === 'number') return v;
  const pct = parseInt(String(v), 10);
  return Number.isFinite(pct) ? Math.floor((replicas * pct) / 100) : 0;
}

export function reconcileDeployments(ctx: ControllerContext): void {
  const depDef = def(ctx, 'apps', 'deployments');
  const rsDef = def(ctx, 'apps', 'replicasets');
  for (const dep of ctx.store.list('apps', 'deployments')) {
    const spec = rec(dep.spec);
    const replicas = num(spec.replicas) ?? 1;
    const template = rec(spec.template);
    const hash = templateHash(template);
    const owned = ownedBy(ctx, 'apps', 'replicasets', dep);
    let newRs = owned.find((rs) => strMap(rs.metadata.labels)['pod-template-hash'] === hash);
    const maxRev = Math.max(0, ...owned.map((rs) => Number(strMap(rs.metadata.annotations)[REVISION] ?? 0)));
    const paused = spec.paused === true;
    if (!newRs && !paused) {
      const tm = rec(template.metadata);
      const labels = { ...strMap(tm.labels), 'pod-template-hash': hash };
      const selector = rec(clone(spec.selector));
      selector.matchLabels = { ...strMap(selector.matchLabels), 'pod-template-hash': hash };
      newRs = create(ctx, rsDef, {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${dep.metadata.name ?? ''}-${hash}`,
          namespace: dep.metadata.namespace,
          labels,
          annotations: { [REVISION]: String(maxRev + 1), 'deployment.kubernetes.io/desired-replicas': String(replicas), 'deployment.kubernetes.io/max-replicas': String(replicas + 1) },
          ownerReferences: [ownerRef(dep, depDef)],
        },
        spec: { replicas, minReadySeconds: num(spec.minReadySeconds) ?? 0, selector, template: { ...clone(template), metadata: { ...clone(tm), labels } } },
      });
    } else if (newRs && num(rec(newRs.spec).replicas) !== replicas) {
      writeObject(ctx, rsDef, {
        ...clone(newRs),
        metadata: { ...clone(newRs.metadata), annotations: { ...strMap(newRs.metadata.annotations), 'deployment.kubernetes.io/desired-replicas': String(replicas) } },
        spec: { ...clone(rec(newRs.spec)), replicas },
      });
    }
    if (!newRs) continue;
    const newStatus = rec(newRs.status);
    const newAvailable = num(newStatus.availableReplicas) ?? 0;
    const olds = owned.filter((rs) => rs !== newRs && rs.metadata.uid !== newRs?.metadata.uid);
    const recreate = rec(spec.strategy).type === 'Recreate';
    for (const rs of olds) {
      if ((num(rec(rs.spec).replicas) ?? 0) > 0 && (recreate || newAvailable >= replicas)) writeObject(ctx, rsDef, { ...clone(rs), spec: { ...clone(rec(rs.spec)), replicas: 0 } });
    }
    const revision = strMap(newRs.metadata.annotations)[REVISION];
    if (revision && strMap(dep.metadata.annotations)[REVISION] !== revision) {
      writeObject(ctx, depDef, { ...clone(dep), metadata: { ...clone(dep.metadata), annotations: { ...strMap(dep.metadata.annotations), [REVISION]: revision } } });
    }
    const all = [newRs, ...olds];
    const sum = (f: string): number => all.reduce((a, rs) => a + (num(rec(rs.status)[f]) ?? 0), 0);
    const total = sum('replicas');
    const available = sum('availableReplicas');
    const updated = num(newStatus.replicas) ?? 0;
    const complete = updated === replicas && total === replicas && available >= replicas;
    const cur = rec(dep.status);
    const conds = conditions(
      cur.conditions,
      [
        available >= replicas - maxUnavailable(dep, replicas)
          ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
          : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' },
        complete
          ? { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${newRs.metadata.name ?? ''}" has successfully progressed.` }
          : { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${newRs.metadata.name ?? ''}" is progressing.` },
      ],
      ['lastUpdateTime', 'lastTransitionTime'],
    );
    setStatus(
      ctx,
      depDef,
      dep,
      omitEmpty({
        observedGeneration: dep.metadata.generation,
        replicas: total,
        updatedReplicas: updated,
        readyReplicas: sum('readyReplicas'),
        availableReplicas: available,
        unavailableReplicas: Math.max(0, replicas - available),
        conditions: conds,
      }),
    );
  }
}

