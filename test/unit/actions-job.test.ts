import { describe, expect, it } from 'vitest';
import { jobAction } from '../../src/sources/kube/restore-actions/job.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const ctx: TransformContext = { sourceNamespace: 'a', targetNamespace: 'b', backupId: 'id', restoreId: 'r', keepNodePorts: false };

const job = () => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'migrate', namespace: 'a', labels: { 'batch.kubernetes.io/controller-uid': 'u-1', app: 'api' } },
  spec: {
    selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u-1', 'controller-uid': 'u-1' } },
    template: {
      metadata: { labels: { 'batch.kubernetes.io/controller-uid': 'u-1', 'controller-uid': 'u-1', 'job-name': 'migrate', 'batch.kubernetes.io/job-name': 'migrate', app: 'api' } },
      spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'x' }] },
    },
  },
});

describe('job action', () => {
  it('removes the generated controller-uid selector and template labels', () => {
    const out = jobAction.transform(job(), ctx);
    expect(out.spec.selector).toBeUndefined();
    expect(out.spec.template.metadata.labels).toEqual({ app: 'api' });
  });

  it('keeps a manual selector', () => {
    const j = job();
    (j.spec as any).manualSelector = true;
    j.spec.selector = { matchLabels: { app: 'api' } } as any;
    const out = jobAction.transform(j, ctx);
    expect(out.spec.selector).toEqual({ matchLabels: { app: 'api' } });
  });

  it('keeps other selector labels', () => {
    const j = job();
    (j.spec.selector.matchLabels as any).tier = 'batch';
    expect(jobAction.transform(j, ctx).spec.selector).toEqual({ matchLabels: { tier: 'batch' } });
  });
});
