import type { RestoreAction, TransformContext } from './types.js';
import { deleteKeys, isRecord } from './types.js';

export const RESTORE_LABEL_BACKUP = 'gushen-dr.io/backup';
export const RESTORE_LABEL_RESTORE = 'gushen-dr.io/restore';

/** Metadata the API server owns: copying it into a create is rejected or meaningless. */
const SERVER_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
  'ownerReferences',
];

/**
 * Applies to every object: strips server-owned metadata and `status`, moves namespaced objects into the
 * target namespace, and labels the object with the backup and restore it came from.
 */
export const commonMetadataAction: RestoreAction = {
  name: 'common-metadata',
  appliesTo: () => true,
  transform(obj: any, ctx: TransformContext) {
    const md = isRecord(obj.metadata) ? obj.metadata : (obj.metadata = {});
    for (const k of SERVER_METADATA) delete md[k];
    delete obj.status;
    if (md.namespace) md.namespace = ctx.targetNamespace;
    md.labels = { ...(isRecord(md.labels) ? md.labels : {}), [RESTORE_LABEL_BACKUP]: ctx.backupId, [RESTORE_LABEL_RESTORE]: ctx.restoreId };
    deleteKeys(md, 'annotations', []);
    return obj;
  },
};
