import type { RestoreAction, TransformContext } from './types.js';
import { deleteKeys, isMapping, isRecord } from './types.js';

/** Set by the API server to the namespace's own name. */
const NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * The Namespace object. When mapping, the target namespace is made from the source one (its labels, such as
 * Pod Security levels, and annotations carry over) under the target name; the source namespace itself is
 * never restored then. The finalizers in `spec` are the server's and are dropped.
 */
export const namespaceAction: RestoreAction = {
  name: 'namespace',
  appliesTo: (r) => r.group === '' && r.resource === 'namespaces',
  transform(obj: any, ctx: TransformContext) {
    if (isMapping(ctx) && obj.metadata?.name === ctx.sourceNamespace) obj.metadata.name = ctx.targetNamespace;
    deleteKeys(obj.metadata, 'labels', [NAME_LABEL]);
    if (isRecord(obj.spec)) {
      delete obj.spec.finalizers;
      if (Object.keys(obj.spec).length === 0) delete obj.spec;
    }
    return obj;
  },
};
