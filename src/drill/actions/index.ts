import type { DrillContext, RestoreAction } from './types.js';
import { productionHostsAction } from './production-hosts.js';
import { namespaceDnsAction } from './namespace-dns.js';
import { certificateAction, routingAction } from './routing.js';
import { envAction, freshVolumeAction, noAutoscalerAction, oneReplicaAction, secretDataAction } from './workloads.js';

export { collectProductionHosts } from './production-hosts.js';
export type { DrillContext } from './types.js';

/** The drill's transforms, applied after the restore's own clean-up, in this order. */
export function drillActions(d: DrillContext): RestoreAction[] {
  return [
    certificateAction,
    routingAction(d),
    productionHostsAction(d),
    namespaceDnsAction,
    oneReplicaAction,
    noAutoscalerAction,
    envAction(d),
    secretDataAction(d),
    freshVolumeAction,
  ];
}
