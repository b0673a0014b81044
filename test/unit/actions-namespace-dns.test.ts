import { describe, expect, it } from 'vitest';
import { RESTORE_ACTIONS } from '../../src/sources/kube/restore-actions/index.js';
import { namespaceDnsAction } from '../../src/sources/kube/restore-actions/namespace-dns.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const ctx: TransformContext = { sourceNamespace: 'ai-qtrd', targetNamespace: 'ai-qtrd-copy', backupId: 'id', restoreId: 'r', keepNodePorts: false };
const configMap = () => ({
  kind: 'ConfigMap',
  metadata: { name: 'c', namespace: 'ai-qtrd', annotations: { note: 'redis-service.ai-qtrd.svc' } },
  data: { REDIS_HOST: 'redis-service.ai-qtrd.svc.cluster.local', API: 'http://ai-qtrd-api.ai-qtrd.svc:8000', OTHER: 'x.ai-qtrd-other.svc', PG: 'postgres://db.example.com:5432/gushen' },
});

describe('namespace-dns action', () => {
  it('points <service>.<source namespace>.svc names at the target namespace, in every string but the metadata', () => {
    const cm = namespaceDnsAction.transform(configMap(), ctx);
    expect(cm.data).toEqual({
      REDIS_HOST: 'redis-service.ai-qtrd-copy.svc.cluster.local',
      API: 'http://ai-qtrd-api.ai-qtrd-copy.svc:8000',
      OTHER: 'x.ai-qtrd-other.svc',
      PG: 'postgres://db.example.com:5432/gushen',
    });
    expect(cm.metadata.annotations.note).toBe('redis-service.ai-qtrd.svc');
    const deploy = namespaceDnsAction.transform(
      { kind: 'Deployment', metadata: { name: 'api' }, spec: { template: { spec: { containers: [{ env: [{ name: 'REDIS', value: 'redis-0.redis-headless.ai-qtrd.svc:6379' }], args: ['--upstream=web.ai-qtrd.svc'] }] } } } },
      ctx,
    );
    expect(deploy.spec.template.spec.containers[0].env[0].value).toBe('redis-0.redis-headless.ai-qtrd-copy.svc:6379');
    expect(deploy.spec.template.spec.containers[0].args).toEqual(['--upstream=web.ai-qtrd-copy.svc']);
  });

  it('rewrites Secret data through base64', () => {
    const url = 'redis://:p@redis-0.redis-headless.ai-qtrd.svc.cluster.local:6379';
    const s = namespaceDnsAction.transform({ kind: 'Secret', metadata: { name: 's' }, data: { U: Buffer.from(url).toString('base64') } }, ctx);
    expect(Buffer.from(s.data.U, 'base64').toString()).toBe('redis://:p@redis-0.redis-headless.ai-qtrd-copy.svc.cluster.local:6379');
  });

  it('changes nothing in the same namespace, or when the restore keeps the names', () => {
    expect(namespaceDnsAction.transform(configMap(), { ...ctx, targetNamespace: 'ai-qtrd' })).toEqual(configMap());
    expect(namespaceDnsAction.transform(configMap(), { ...ctx, keepNamespaceDns: true })).toEqual(configMap());
  });

  it('runs last among the restore actions, after the per-kind ones', () => {
    expect(RESTORE_ACTIONS.at(-1)?.name).toBe('namespace-dns');
  });
});
