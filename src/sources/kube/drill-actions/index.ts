import type { DrillContext, RestoreAction } from './types.js';
import { productionHostsAction } from './production-hosts.js';
import { certificateAction, routingAction } from './routing.js';
import { ownObjectsAction } from './own-objects.js';
import { envAction, freshVolumeAction, noAutoscalerAction, oneReplicaAction, secretDataAction } from './workloads.js';

export { collectProductionHosts } from './production-hosts.js';
export type { DrillContext } from './types.js';

/** The drill's transforms, applied after the restore's own actions (which already point in-namespace DNS names at the drill namespace), in this order. */
export function drillActions(d: DrillContext): RestoreAction[] {
  return [
    ownObjectsAction,
    certificateAction,
    routingAction(d),
    productionHostsAction(d),
    oneReplicaAction,
    noAutoscalerAction,
    envAction(d),
    secretDataAction(d),
    freshVolumeAction,
  ];
}
