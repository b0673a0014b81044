import { describe, expect, it } from 'vitest';
import { podAction } from '../../src/sources/kube/restore-actions/pod.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const ctx: TransformContext = { sourceNamespace: 'a', targetNamespace: 'b', backupId: 'id', restoreId: 'r', keepNodePorts: false };

describe('pod action', () => {
  it('drops nodeName, the admission-set priority and the injected API token volume', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'debug', namespace: 'a' },
      spec: {
        nodeName: 'cloud-ubuntu-3-2c2g',
        priorityClassName: 'high',
        priority: 1000,
        serviceAccountName: 'default',
        volumes: [{ name: 'data', emptyDir: {} }, { name: 'kube-api-access-x7k2p', projected: { sources: [] } }],
        containers: [
          {
            name: 'c',
            image: 'busybox',
            volumeMounts: [
              { name: 'data', mountPath: '/data' },
              { name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
            ],
          },
        ],
      },
    };
    const out = podAction.transform(structuredClone(pod), ctx);
    expect(out.spec.nodeName).toBeUndefined();
    expect(out.spec.priority).toBeUndefined();
    expect(out.spec.priorityClassName).toBe('high');
    expect(out.spec.volumes).toEqual([{ name: 'data', emptyDir: {} }]);
    expect(out.spec.containers[0].volumeMounts).toEqual([{ name: 'data', mountPath: '/data' }]);
  });

  it('keeps an explicit priority when there is no priorityClassName', () => {
    const out = podAction.transform({ kind: 'Pod', metadata: { name: 'p' }, spec: { priority: 5, containers: [] } }, ctx);
    expect(out.spec.priority).toBe(5);
  });
});
