import { describe, expect, it } from 'vitest';
import { roleBindingAction } from '../../src/sources/kube/restore-actions/role-binding.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const ctx: TransformContext = { sourceNamespace: 'ai-qtrd', targetNamespace: 'ai-qtrd-restored', backupId: 'id', restoreId: 'r', keepNodePorts: false };

describe('role-binding action', () => {
  it('maps ServiceAccount subjects of the source namespace, leaves others', () => {
    const rb = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'api', namespace: 'ai-qtrd' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'api' },
      subjects: [
        { kind: 'ServiceAccount', name: 'ai-qtrd-api', namespace: 'ai-qtrd' },
        { kind: 'ServiceAccount', name: 'monitor', namespace: 'monitoring' },
        { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'ops' },
      ],
    };
    const out = roleBindingAction.transform(rb, ctx);
    expect(out.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'ai-qtrd-api', namespace: 'ai-qtrd-restored' },
      { kind: 'ServiceAccount', name: 'monitor', namespace: 'monitoring' },
      { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'ops' },
    ]);
    expect(out.roleRef).toEqual(rb.roleRef);
  });
});
