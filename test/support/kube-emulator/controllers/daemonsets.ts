/** DaemonSet controller: one pod per matching, schedulable node. */
import { clone, randomSuffix, rec, str } from '../types.js';
import { create, def, isPodReady, omitEmpty, ownedBy, ownerRef, podFromTemplate, remove, setStatus, type ControllerContext } from './common.js';
import { nodeMatches } from './scheduling.js';

export function reconcileDaemonSets(ctx: ControllerContext): void {
  const dsDef = def(ctx, 'apps', 'daemonsets');
  const podDef = def(ctx, '', 'pods');
  const nodes = ctx.store.list('', 'nodes');
  for (const ds of ctx.store.list('apps', 'daemonsets')) {
    const template = rec(rec(ds.spec).template);
    const wanted = nodes.filter((n) => nodeMatches(template.spec, n));
    const pods = ownedBy(ctx, '', 'pods', ds);
    for (const node of wanted) {
      if (pods.some((p) => rec(p.spec).nodeName === node.metadata.name)) continue;
      const pod = podFromTemplate(template, `${ds.metadata.name ?? ''}-${randomSuffix(5)}`, ds.metadata.namespace, ownerRef(ds, dsDef));
      pod.spec = { ...clone(rec(pod.spec)), nodeName: node.metadata.name };
      const created = create(ctx, podDef, pod);
      if (created) pods.push(created);
    }
    for (const p of pods) if (!wanted.some((n) => n.metadata.name === str(rec(p.spec).nodeName))) remove(ctx, podDef, p);
    const live = pods.filter((p) => wanted.some((n) => n.metadata.name === str(rec(p.spec).nodeName)));
    const ready = live.filter(isPodReady).length;
    const status = omitEmpty({ currentNumberScheduled: live.length, desiredNumberScheduled: wanted.length, numberReady: ready, numberAvailable: ready, updatedNumberScheduled: live.length, observedGeneration: ds.metadata.generation });
    status.numberMisscheduled = 0;
    status.currentNumberScheduled = live.length;
    status.desiredNumberScheduled = wanted.length;
    status.numberReady = ready;
    setStatus(ctx, dsDef, ds, status);
  }
}
