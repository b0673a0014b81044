import { describe, expect, it } from 'vitest';
import { clusterRoleBindingAction } from '../../src/sources/kube/restore-actions/cluster-role-binding.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const ctx: TransformContext = { sourceNamespace: 'ai-qtrd', targetNamespace: 'dr-drill-1', backupId: 'id', restoreId: 'r', keepNodePorts: false };

describe('cluster-role-binding action', () => {
  it('maps the namespace of the backed-up namespace\'s ServiceAccount subjects', () => {
    const crb = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'ai-qtrd-api-view' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ kind: 'ServiceAccount', name: 'ai-qtrd-api', namespace: 'ai-qtrd' }, { kind: 'Group', name: 'ops' }],
    };
    const out = clusterRoleBindingAction.transform(crb, ctx);
    expect(out.subjects).toEqual([{ kind: 'ServiceAccount', name: 'ai-qtrd-api', namespace: 'dr-drill-1' }, { kind: 'Group', name: 'ops' }]);
    expect(out.metadata.name).toBe('ai-qtrd-api-view');
  });

  it('applies only to clusterrolebindings', () => {
    expect(clusterRoleBindingAction.appliesTo({ group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding' })).toBe(true);
    expect(clusterRoleBindingAction.appliesTo({ group: 'rbac.authorization.k8s.io', resource: 'rolebindings', kind: 'RoleBinding' })).toBe(false);
  });
});
