import { describe, expect, it } from 'vitest';
import { commonMetadataAction, RESTORE_LABEL_BACKUP, RESTORE_LABEL_RESTORE } from '../../src/sources/kube/restore-actions/common-metadata.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const ctx: TransformContext = { sourceNamespace: 'ai-qtrd', targetNamespace: 'ai-qtrd-restored', backupId: '20261124T020000Z-nightly', restoreId: 'r1', keepNodePorts: false };

describe('common-metadata action', () => {
  it('strips server-owned metadata and status, maps the namespace and adds the restore labels', () => {
    const obj = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'ai-qtrd-config',
        namespace: 'ai-qtrd',
        uid: 'u-1',
        resourceVersion: '42',
        generation: 3,
        creationTimestamp: '2026-01-01T00:00:00Z',
        deletionTimestamp: '2026-01-02T00:00:00Z',
        deletionGracePeriodSeconds: 30,
        managedFields: [{ manager: 'kubectl' }],
        selfLink: '/api/v1/namespaces/ai-qtrd/configmaps/ai-qtrd-config',
        ownerReferences: [{ apiVersion: 'v1', kind: 'Foo', name: 'x', uid: 'u-2' }],
        labels: { app: 'gushen' },
        annotations: { note: 'kept' },
        finalizers: ['example.com/keep'],
      },
      data: { A: '1' },
      status: { whatever: true },
    };
    const out = commonMetadataAction.transform(structuredClone(obj), ctx);
    expect(out.metadata).toEqual({
      name: 'ai-qtrd-config',
      namespace: 'ai-qtrd-restored',
      labels: { app: 'gushen', [RESTORE_LABEL_BACKUP]: ctx.backupId, [RESTORE_LABEL_RESTORE]: 'r1' },
      annotations: { note: 'kept' },
      finalizers: ['example.com/keep'],
    });
    expect(out.status).toBeUndefined();
    expect(out.data).toEqual({ A: '1' });
  });

  it('leaves cluster-scoped objects without a namespace', () => {
    const out = commonMetadataAction.transform({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv-1', uid: 'x' } }, ctx);
    expect(out.metadata.namespace).toBeUndefined();
    expect(out.metadata.uid).toBeUndefined();
    expect(out.metadata.labels[RESTORE_LABEL_RESTORE]).toBe('r1');
  });
});
