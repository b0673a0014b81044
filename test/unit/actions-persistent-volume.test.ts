import { describe, expect, it } from 'vitest';
import { persistentVolumeAction } from '../../src/sources/kube/restore-actions/persistent-volume.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const ctx: TransformContext = { sourceNamespace: 'ai-qtrd', targetNamespace: 'ai-qtrd-restored', backupId: 'id', restoreId: 'r', keepNodePorts: false };

const pv = () => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: {
    name: 'pvc-0a1b',
    annotations: { 'pv.kubernetes.io/bound-by-controller': 'yes', 'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path' },
  },
  spec: {
    storageClassName: 'local-path',
    claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: 'ai-qtrd', name: 'data-redis-0', uid: 'u-9', resourceVersion: '77' },
  },
});

describe('persistent-volume action', () => {
  it('keeps only the claim identity, mapped to the target namespace, and drops bind annotations', () => {
    const out = persistentVolumeAction.transform(pv(), ctx);
    expect(out.spec.claimRef).toEqual({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: 'ai-qtrd-restored', name: 'data-redis-0' });
    expect(out.metadata.annotations).toEqual({ 'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path' });
  });

  it('leaves a claimRef into another namespace alone', () => {
    const o = pv();
    o.spec.claimRef.namespace = 'other';
    expect(persistentVolumeAction.transform(o, ctx).spec.claimRef.namespace).toBe('other');
  });

  it('prepareUpdate keeps the live binding when it is to the same claim', () => {
    const desired = persistentVolumeAction.transform(pv(), { ...ctx, targetNamespace: 'ai-qtrd' });
    const live = pv();
    expect(persistentVolumeAction.prepareUpdate!(desired, live).spec.claimRef.uid).toBe('u-9');
  });
});
