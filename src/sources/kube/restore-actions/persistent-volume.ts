import type { RestoreAction, TransformContext } from './types.js';
import { deleteKeys, isRecord, mapNamespace } from './types.js';

/** Annotations the PV controller uses to track a binding it made; the restored pair is bound again. */
export const BIND_ANNOTATIONS = ['pv.kubernetes.io/bind-completed', 'pv.kubernetes.io/bound-by-controller'];

/**
 * PersistentVolumes: the claim reference keeps only the claim's identity (namespace mapped, name), not the
 * uid/resourceVersion of the old claim, so the PV binds to the restored claim; bind annotations are dropped.
 */
export const persistentVolumeAction: RestoreAction = {
  name: 'persistent-volume',
  appliesTo: (r) => r.group === '' && r.resource === 'persistentvolumes',
  transform(obj: any, ctx: TransformContext) {
    deleteKeys(obj.metadata, 'annotations', BIND_ANNOTATIONS);
    const ref = obj.spec?.claimRef;
    if (isRecord(ref)) {
      delete ref.uid;
      delete ref.resourceVersion;
      if (ref.namespace !== undefined) ref.namespace = mapNamespace(ref.namespace, ctx);
    }
    return obj;
  },
  prepareUpdate(desired: any, live: any) {
    // Replacing a PV bound to the same claim keeps the binding (uid and all).
    const want = desired.spec?.claimRef;
    const have = live?.spec?.claimRef;
    if (isRecord(want) && isRecord(have) && want.namespace === have.namespace && want.name === have.name) desired.spec.claimRef = have;
    return desired;
  },
};
