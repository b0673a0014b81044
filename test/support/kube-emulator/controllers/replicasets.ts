/** ReplicaSet controller: keeps spec.replicas pods alive. */
import { num, randomSuffix, rec } from '../types.js';
import { create, def, isPodReady, isTerminal, omitEmpty, ownedBy, ownerRef, podFromTemplate, remove, setStatus, type ControllerContext } from './common.js';

export function reconcileReplicaSets(ctx: ControllerContext): void {
  const rsDef = def(ctx, 'apps', 'replicasets');
  const podDef = def(ctx, '', 'pods');
  for (const rs of ctx.store.list('apps', 'replicasets')) {
    const spec = rec(rs.spec);
    const replicas = num(spec.replicas) ?? 1;
    let pods = ownedBy(ctx, '', 'pods', rs).filter((p) => !isTerminal(p));
    for (let i = pods.length; i < replicas; i++) {
      const pod = create(ctx, podDef, podFromTemplate(spec.template, `${rs.metadata.name ?? ''}-${randomSuffix(5)}`, rs.metadata.namespace, ownerRef(rs, rsDef)));
      if (pod) pods.push(pod);
    }
    if (pods.length > replicas) {
      const victims = [...pods].sort((a, b) => Number(isPodReady(a)) - Number(isPodReady(b))).slice(0, pods.length - replicas);
      for (const p of victims) remove(ctx, podDef, p);
      pods = pods.filter((p) => !victims.includes(p));
    }
    const ready = pods.filter(isPodReady).length;
    const status: Record<string, unknown> = omitEmpty({ replicas: pods.length, fullyLabeledReplicas: pods.length, readyReplicas: ready, availableReplicas: ready, observedGeneration: rs.metadata.generation });
    status.replicas = pods.length;
    setStatus(ctx, rsDef, rs, status);
  }
}
