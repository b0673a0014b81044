import { describe, expect, it } from 'vitest';
import { indexEntryFor, type KubeArchiveIndex } from '../../src/sources/kube/archive.js';
import { parseResourceSpecs, resolveResourceSpecs } from '../../src/sources/kube/resource-filter.js';
import { UsageError } from '../../src/util/errors.js';

const NS = 'ai-qtrd';
const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'middlewares.traefik.io' },
  spec: { group: 'traefik.io', names: { plural: 'middlewares', singular: 'middleware', kind: 'Middleware', shortNames: ['mw'] } },
};
const objects = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ai-qtrd-web', namespace: NS } },
  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ai-qtrd-api', namespace: NS } },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'redis', namespace: NS } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ai-qtrd-web', namespace: NS } },
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ai-qtrd-config', namespace: NS } },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data-redis-0', namespace: NS } },
  { apiVersion: 'traefik.io/v1alpha1', kind: 'IngressRoute', metadata: { name: 'ai-qtrd', namespace: NS } },
  { apiVersion: 'traefik.io/v1alpha1', kind: 'Middleware', metadata: { name: 'strip', namespace: NS } },
  { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'gushen-lurus-cn-tls', namespace: NS } },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'legacy', namespace: NS } },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'ai-qtrd-node-reader' } },
  crd,
];
const resources: Array<[string, string]> = [
  ['namespaces', ''],
  ['deployments', 'apps'],
  ['deployments', 'apps'],
  ['statefulsets', 'apps'],
  ['services', ''],
  ['configmaps', ''],
  ['persistentvolumeclaims', ''],
  ['ingressroutes', 'traefik.io'],
  ['middlewares', 'traefik.io'],
  ['certificates', 'cert-manager.io'],
  ['ingresses', 'networking.k8s.io'],
  ['clusterrolebindings', 'rbac.authorization.k8s.io'],
  ['customresourcedefinitions', 'apiextensions.k8s.io'],
];
const index: KubeArchiveIndex = {
  format: 1,
  backupId: '20261124T020000Z-nightly',
  namespace: NS,
  createdAt: '2026-11-24T02:00:00.000Z',
  entries: objects.map((o, i) => indexEntryFor(o, resources[i][0], resources[i][1])),
  skipped: {},
};

/** The archive items the specs select, as `<qualified resource>/<name>`. */
function selected(specs: string[]): string[] {
  const include = resolveResourceSpecs(specs, index, objects);
  return index.entries.filter((e, i) => include(objects[i], e)).map((e) => `${e.group ? `${e.resource}.${e.group}` : e.resource}/${e.name}`);
}

describe('--resource: kubectl forms resolved against the archive index', () => {
  it.each([
    ['plural', 'deployments/ai-qtrd-web', 'deployments.apps/ai-qtrd-web'],
    ['singular', 'deployment/ai-qtrd-web', 'deployments.apps/ai-qtrd-web'],
    ['short name', 'deploy/ai-qtrd-web', 'deployments.apps/ai-qtrd-web'],
    ['kind', 'Deployment/ai-qtrd-web', 'deployments.apps/ai-qtrd-web'],
    ['kind, any case', 'DEPLOYMENT/ai-qtrd-web', 'deployments.apps/ai-qtrd-web'],
    ['resource.group', 'deployments.apps/ai-qtrd-web', 'deployments.apps/ai-qtrd-web'],
    ['singular.group', 'deployment.apps/ai-qtrd-web', 'deployments.apps/ai-qtrd-web'],
    ['kind.group', 'Deployment.apps/ai-qtrd-web', 'deployments.apps/ai-qtrd-web'],
    ['resource.version.group', 'deployments.v1.apps/ai-qtrd-web', 'deployments.apps/ai-qtrd-web'],
    ['sts', 'sts/redis', 'statefulsets.apps/redis'],
    ['svc', 'svc/ai-qtrd-web', 'services/ai-qtrd-web'],
    ['service', 'service/ai-qtrd-web', 'services/ai-qtrd-web'],
    ['cm', 'cm/ai-qtrd-config', 'configmaps/ai-qtrd-config'],
    ['configmap', 'configmap/ai-qtrd-config', 'configmaps/ai-qtrd-config'],
    ['core version', 'configmaps.v1/ai-qtrd-config', 'configmaps/ai-qtrd-config'],
    ['pvc', 'pvc/data-redis-0', 'persistentvolumeclaims/data-redis-0'],
    ['ing', 'ing/legacy', 'ingresses.networking.k8s.io/legacy'],
    ['ingress.group', 'ingress.networking.k8s.io/legacy', 'ingresses.networking.k8s.io/legacy'],
    ['ns', 'ns/ai-qtrd', 'namespaces/ai-qtrd'],
    ['custom resource, singular', 'ingressroute/ai-qtrd', 'ingressroutes.traefik.io/ai-qtrd'],
    ['custom resource, plural.group', 'ingressroutes.traefik.io/ai-qtrd', 'ingressroutes.traefik.io/ai-qtrd'],
    ['custom resource, kind.group', 'IngressRoute.traefik.io/ai-qtrd', 'ingressroutes.traefik.io/ai-qtrd'],
    ['cert-manager short name', 'cert/gushen-lurus-cn-tls', 'certificates.cert-manager.io/gushen-lurus-cn-tls'],
    ['short name from a backed-up CRD', 'mw/strip', 'middlewares.traefik.io/strip'],
    ['cluster-scoped', 'clusterrolebinding/ai-qtrd-node-reader', 'clusterrolebindings.rbac.authorization.k8s.io/ai-qtrd-node-reader'],
    ['crd', 'crd/middlewares.traefik.io', 'customresourcedefinitions.apiextensions.k8s.io/middlewares.traefik.io'],
  ])('%s: %s', (_form, spec, want) => {
    expect(selected([spec])).toEqual([want]);
  });

  it('takes several specs and restores every object they name', () => {
    expect(selected(['deploy/ai-qtrd-web', 'cm/ai-qtrd-config', 'deployments.apps/ai-qtrd-api'])).toEqual([
      'deployments.apps/ai-qtrd-web',
      'deployments.apps/ai-qtrd-api',
      'configmaps/ai-qtrd-config',
    ]);
  });

  it.each([
    ['a misspelt type', ['deploymnt/ai-qtrd-web'], /deploymnt\/ai-qtrd-web: backup \S+ holds no objects of type "deploymnt" \(it has .*deployments\.apps/],
    ['a misspelt name', ['deployment/ai-qtrd-webb'], /deployment\/ai-qtrd-webb: backup \S+ has no deployments\.apps named "ai-qtrd-webb" \(it has ai-qtrd-api, ai-qtrd-web\)/],
    ['the wrong group', ['deployments.extensions/ai-qtrd-web'], /holds no objects of type "deployments\.extensions"/],
    ['the wrong version', ['deployments.v1beta1.apps/ai-qtrd-web'], /holds no objects of type "deployments\.v1beta1\.apps"/],
    ['a type the backup lacks', ['cronjob/nightly'], /cronjob\/nightly: .*no objects of type "cronjob"/],
    ['a name in the wrong type', ['svc/ai-qtrd-api'], /svc\/ai-qtrd-api: backup \S+ has no services named "ai-qtrd-api"/],
  ])('refuses %s, naming it', (_what, specs, message) => {
    expect(() => resolveResourceSpecs(specs, index, objects)).toThrow(UsageError);
    expect(() => resolveResourceSpecs(specs, index, objects)).toThrow(message);
  });

  it('names every spec that matched nothing, and not the ones that did', () => {
    const err = (() => {
      try {
        resolveResourceSpecs(['deploy/ai-qtrd-web', 'deploymnt/x', 'cm/nope'], index, objects);
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a UsageError');
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(/^--resource matched nothing in the backup, so nothing was restored: /);
    expect(err.message).toContain('deploymnt/x:');
    expect(err.message).toContain('cm/nope:');
    expect(err.message).not.toContain('deploy/ai-qtrd-web:');
  });

  it.each([['deployments'], ['/ai-qtrd-web'], ['deploy/'], ['deploy/a/b'], ['deploy/Not_A_Name!'], ['deploy ai-qtrd-web']])('refuses the malformed spec %j before reading anything', (spec) => {
    expect(() => parseResourceSpecs([spec])).toThrow(UsageError);
    expect(() => parseResourceSpecs([spec])).toThrow(/expected TYPE\/NAME as kubectl takes it/);
  });

  it('parses one string, a list, or nothing', () => {
    expect(parseResourceSpecs(undefined)).toEqual([]);
    expect(parseResourceSpecs('Deployment.v1.apps/x')).toEqual([{ spec: 'Deployment.v1.apps/x', type: 'deployment', version: 'v1', group: 'apps', name: 'x' }]);
    expect(parseResourceSpecs(['cm/a', 'svc/b']).map((s) => s.type)).toEqual(['cm', 'svc']);
  });
});
