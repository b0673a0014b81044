import type { RestoreAction } from './types.js';
import { deleteKeys, isRecord } from './types.js';

/** Labels the Job controller derives from the old Job's uid; a new Job gets new ones. */
const CONTROLLER_UID_LABELS = ['controller-uid', 'batch.kubernetes.io/controller-uid'];
/** Labels it adds next to them (recomputed from the name; harmless, but they are not the user's). */
const JOB_NAME_LABELS = ['job-name', 'batch.kubernetes.io/job-name'];

/**
 * Jobs: the generated selector and the pod template's controller-uid labels name the old Job's uid, which
 * the API rejects for a new Job; both are removed so the selector is generated again (unless the Job uses
 * a manual selector, which is the user's and kept).
 */
export const jobAction: RestoreAction = {
  name: 'job',
  appliesTo: (r) => r.group === 'batch' && r.resource === 'jobs',
  transform(obj: any) {
    const spec = obj.spec;
    if (!isRecord(spec) || spec.manualSelector === true) return obj;
    if (isRecord(spec.selector)) {
      deleteKeys(spec.selector, 'matchLabels', CONTROLLER_UID_LABELS);
      const ml = spec.selector.matchLabels;
      const me = spec.selector.matchExpressions;
      if ((!ml || Object.keys(ml).length === 0) && (!Array.isArray(me) || me.length === 0)) delete spec.selector;
    }
    deleteKeys(spec.template?.metadata, 'labels', [...CONTROLLER_UID_LABELS, ...JOB_NAME_LABELS]);
    return obj;
  },
  prepareUpdate(desired: any, live: any) {
    // selector and template are immutable on a Job; keep the live generated ones.
    if (isRecord(desired.spec) && isRecord(live?.spec)) {
      if (live.spec.selector !== undefined) desired.spec.selector = live.spec.selector;
      if (live.spec.template !== undefined) desired.spec.template = live.spec.template;
    }
    return desired;
  },
};
