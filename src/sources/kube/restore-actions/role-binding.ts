import type { RestoreAction, TransformContext } from './types.js';
import { isRecord, mapNamespace } from './types.js';

/** Rewrites the namespace of ServiceAccount subjects that lived in the source namespace. */
export function mapSubjects(obj: any, ctx: TransformContext): any {
  if (!Array.isArray(obj.subjects)) return obj;
  for (const s of obj.subjects) {
    if (isRecord(s) && s.kind === 'ServiceAccount' && s.namespace !== undefined) s.namespace = mapNamespace(s.namespace, ctx);
  }
  return obj;
}

/** RoleBindings: ServiceAccount subjects of the source namespace follow it to the target namespace. */
export const roleBindingAction: RestoreAction = {
  name: 'role-binding',
  appliesTo: (r) => r.group === 'rbac.authorization.k8s.io' && r.resource === 'rolebindings',
  transform: mapSubjects,
};
