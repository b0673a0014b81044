import { describe, expect, it } from 'vitest';
import { RESTORE_PRIORITIES, compareForRestore, restoreOrder } from '../../src/sources/kube/order.js';

const o = (qr: string, name: string, namespace?: string) => {
  const dot = qr.indexOf('.');
  return dot < 0 ? { resource: qr, group: '', name, namespace } : { resource: qr.slice(0, dot), group: qr.slice(dot + 1), name, namespace };
};

describe('restore order', () => {
  it('puts dependencies first, Velero-style, and the rest alphabetically after services', () => {
    const input = [
      o('statefulsets.apps', 'redis', 'n'),
      o('ingressroutes.traefik.io', 'gushen', 'n'),
      o('services', 'redis-service', 'n'),
      o('deployments.apps', 'ai-qtrd-web', 'n'),
      o('secrets', 'ai-qtrd-secrets', 'n'),
      o('certificates.cert-manager.io', 'gushen-lurus-cn-tls', 'n'),
      o('configmaps', 'ai-qtrd-config', 'n'),
      o('rolebindings.rbac.authorization.k8s.io', 'api', 'n'),
      o('serviceaccounts', 'ai-qtrd-api', 'n'),
      o('roles.rbac.authorization.k8s.io', 'api', 'n'),
      o('persistentvolumeclaims', 'data-redis-0', 'n'),
      o('persistentvolumes', 'pvc-1'),
      o('storageclasses.storage.k8s.io', 'local-path'),
      o('namespaces', 'n'),
      o('customresourcedefinitions.apiextensions.k8s.io', 'ingressroutes.traefik.io'),
      o('clusterrolebindings.rbac.authorization.k8s.io', 'ai-qtrd-api-view'),
      o('deployments.apps', 'ai-qtrd-api', 'n'),
    ];
    const sorted = restoreOrder(input, (x) => x).map((x) => `${x.group ? `${x.resource}.${x.group}` : x.resource}/${x.name}`);
    expect(sorted).toEqual([
      'customresourcedefinitions.apiextensions.k8s.io/ingressroutes.traefik.io',
      'namespaces/n',
      'storageclasses.storage.k8s.io/local-path',
      'persistentvolumes/pvc-1',
      'persistentvolumeclaims/data-redis-0',
      'roles.rbac.authorization.k8s.io/api',
      'serviceaccounts/ai-qtrd-api',
      'clusterrolebindings.rbac.authorization.k8s.io/ai-qtrd-api-view',
      'rolebindings.rbac.authorization.k8s.io/api',
      'secrets/ai-qtrd-secrets',
      'configmaps/ai-qtrd-config',
      'services/redis-service',
      'certificates.cert-manager.io/gushen-lurus-cn-tls',
      'deployments.apps/ai-qtrd-api',
      'deployments.apps/ai-qtrd-web',
      'ingressroutes.traefik.io/gushen',
      'statefulsets.apps/redis',
    ]);
  });

  it('has CRDs first and services last among the priorities', () => {
    expect(RESTORE_PRIORITIES[0]).toBe('customresourcedefinitions.apiextensions.k8s.io');
    expect(RESTORE_PRIORITIES.at(-1)).toBe('services');
    expect(compareForRestore(o('limitranges', 'a', 'n'), o('configmaps', 'z', 'n'))).toBeGreaterThan(0);
  });
});
