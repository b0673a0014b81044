import type { RestoreAction } from './types.js';
import { deleteKeys, isRecord } from './types.js';
import { BIND_ANNOTATIONS } from './persistent-volume.js';

/** The node a WaitForFirstConsumer volume was provisioned for; it may not exist where we restore. */
const SELECTED_NODE = 'volume.kubernetes.io/selected-node';

/**
 * PersistentVolumeClaims: bind annotations and the selected node are dropped so the claim binds (or is
 * provisioned) afresh. `spec.volumeName` is kept so a claim finds its restored PV; the restore engine clears
 * it when that PV is bound to another claim (then the claim is provisioned anew).
 */
export const persistentVolumeClaimAction: RestoreAction = {
  name: 'persistent-volume-claim',
  appliesTo: (r) => r.group === '' && r.resource === 'persistentvolumeclaims',
  transform(obj: any) {
    deleteKeys(obj.metadata, 'annotations', [...BIND_ANNOTATIONS, SELECTED_NODE]);
    return obj;
  },
  prepareUpdate(desired: any, live: any) {
    // A bound claim's volumeName is immutable.
    if (isRecord(desired.spec) && desired.spec.volumeName === undefined && live?.spec?.volumeName) desired.spec.volumeName = live.spec.volumeName;
    return desired;
  },
};
