import type { RestoreAction } from './types.js';
import { mapSubjects } from './role-binding.js';

/**
 * ClusterRoleBindings (backed up when they bind the namespace's ServiceAccounts): those subjects follow the
 * namespace mapping. The binding's name is cluster-wide, so when restoring a copy next to the original, it
 * exists already and is skipped unless `--existing update`.
 */
export const clusterRoleBindingAction: RestoreAction = {
  name: 'cluster-role-binding',
  appliesTo: (r) => r.group === 'rbac.authorization.k8s.io' && r.resource === 'clusterrolebindings',
  transform: mapSubjects,
};
