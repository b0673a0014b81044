import { describe, expect, it } from 'vitest';
import { persistentVolumeClaimAction } from '../../src/sources/kube/restore-actions/persistent-volume-claim.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const ctx: TransformContext = { sourceNamespace: 'a', targetNamespace: 'b', backupId: 'id', restoreId: 'r', keepNodePorts: false };

describe('persistent-volume-claim action', () => {
  it('drops bind annotations and the selected node, keeps the volume name', () => {
    const pvc = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: 'data-redis-0',
        namespace: 'a',
        annotations: {
          'pv.kubernetes.io/bind-completed': 'yes',
          'pv.kubernetes.io/bound-by-controller': 'yes',
          'volume.kubernetes.io/selected-node': 'cloud-ubuntu-2-4c8g',
          'volume.kubernetes.io/storage-provisioner': 'rancher.io/local-path',
        },
      },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'local-path', volumeName: 'pvc-0a1b' },
    };
    const out = persistentVolumeClaimAction.transform(pvc, ctx);
    expect(out.metadata.annotations).toEqual({ 'volume.kubernetes.io/storage-provisioner': 'rancher.io/local-path' });
    expect(out.spec.volumeName).toBe('pvc-0a1b');
  });

  it('removes the annotations map when nothing is left in it', () => {
    const out = persistentVolumeClaimAction.transform({ kind: 'PersistentVolumeClaim', metadata: { name: 'c', annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } }, spec: {} }, ctx);
    expect(out.metadata.annotations).toBeUndefined();
  });

  it('prepareUpdate keeps the live, immutable volumeName', () => {
    const out = persistentVolumeClaimAction.prepareUpdate!({ kind: 'PersistentVolumeClaim', metadata: { name: 'c' }, spec: {} }, { spec: { volumeName: 'pv-live' } });
    expect(out.spec.volumeName).toBe('pv-live');
  });
});
