import { describe, expect, it } from 'vitest';
import { indexEntryFor, type KubeArchiveIndex } from '../../src/sources/kube/archive.js';
import { planKubeRestore, type PlanOptions } from '../../src/sources/kube/restore.js';
import { failureDetail, secretValues } from '../../src/sources/kube/apply.js';
import { workloadReadiness } from '../../src/sources/kube/wait.js';

const NS = 'ai-qtrd';
const objects = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, uid: 'n1', labels: { team: 'gushen' } } },
  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ai-qtrd-web', namespace: NS, uid: 'd1', generation: 4 }, spec: { replicas: 1 }, status: { readyReplicas: 1 } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'redis-service', namespace: NS }, spec: { clusterIP: '10.43.0.5', selector: { app: 'redis' }, ports: [{ port: 6379 }] } },
  { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'redis-service', namespace: NS }, subsets: [] },
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ai-qtrd-secrets', namespace: NS }, type: 'Opaque', data: { REDIS_PASSWORD: Buffer.from('s3cr3t-value').toString('base64') } },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'ai-qtrd-api-view' }, subjects: [{ kind: 'ServiceAccount', name: 'ai-qtrd-api', namespace: NS }] },
  { apiVersion: 'traefik.io/v1alpha1', kind: 'IngressRoute', metadata: { name: 'gushen', namespace: NS }, spec: { routes: [{ services: [{ name: 'ai-qtrd-web', namespace: NS, port: 3000 }] }] } },
];
const resources: Array<[string, string]> = [
  ['namespaces', ''],
  ['deployments', 'apps'],
  ['services', ''],
  ['endpoints', ''],
  ['secrets', ''],
  ['clusterrolebindings', 'rbac.authorization.k8s.io'],
  ['ingressroutes', 'traefik.io'],
];
const index: KubeArchiveIndex = {
  format: 1,
  backupId: '20261124T020000Z-nightly',
  namespace: NS,
  createdAt: '2026-11-24T02:00:00.000Z',
  entries: objects.map((o, i) => indexEntryFor(o, resources[i][0], resources[i][1])),
  skipped: {},
};
// keepHosts: these tests are about the other transforms (production hosts: test/unit/restore-hosts.test.ts).
const base: PlanOptions = { targetNamespace: 'ai-qtrd-restored', backupId: index.backupId, restoreId: 'r-1', keepNodePorts: false, keepHosts: true, createNamespace: true };

describe('kube restore plan', () => {
  it('maps into the target namespace, in restore order, skipping managed Endpoints', () => {
    const plan = planKubeRestore(index, objects, base);
    expect(plan.map((p) => [p.item, p.skip ?? p.droppedBy ?? 'apply'])).toEqual([
      ['namespaces ai-qtrd-restored', 'apply'],
      ['clusterrolebindings.rbac.authorization.k8s.io ai-qtrd-api-view', 'apply'],
      ['secrets ai-qtrd-restored/ai-qtrd-secrets', 'apply'],
      ['endpoints ai-qtrd-restored/redis-service', 'managed by its Service (recreated)'],
      ['services ai-qtrd-restored/redis-service', 'apply'],
      ['deployments.apps ai-qtrd-restored/ai-qtrd-web', 'apply'],
      ['ingressroutes.traefik.io ai-qtrd-restored/gushen', 'apply'],
    ]);
    const ns = plan[0].obj;
    expect(ns.metadata).toEqual({ name: 'ai-qtrd-restored', labels: { team: 'gushen', 'gushen-dr.io/backup': index.backupId, 'gushen-dr.io/restore': 'r-1' } });
    expect(plan[1].obj.subjects[0].namespace).toBe('ai-qtrd-restored');
    const dep = plan[5].obj;
    expect(dep.metadata.namespace).toBe('ai-qtrd-restored');
    expect(dep.metadata.uid).toBeUndefined();
    expect(dep.metadata.generation).toBeUndefined();
    expect(dep.status).toBeUndefined();
    expect(plan[4].obj.spec.clusterIP).toBeUndefined();
    expect(plan[6].obj.spec.routes[0].services[0].namespace).toBe('ai-qtrd-restored');
    // the archive's objects are untouched
    expect(objects[1].metadata.namespace).toBe(NS);
    expect((objects[2] as any).spec.clusterIP).toBe('10.43.0.5');
  });

  it('applies include filters and extra transforms, reporting drops by name', () => {
    function dropSecrets(obj: any) {
      return obj.kind === 'Secret' ? null : obj;
    }
    const plan = planKubeRestore(index, objects, {
      ...base,
      namespaceLabels: { 'gushen-dr.io/drill': 'yes' },
      include: (o) => o.kind !== 'IngressRoute',
      extraTransforms: [dropSecrets, (o) => ({ ...o, metadata: { ...o.metadata, annotations: { touched: 'yes' } } })],
    });
    expect(plan.find((p) => p.item.startsWith('ingressroutes'))).toBeUndefined();
    const secret = plan.find((p) => p.item.startsWith('secrets'))!;
    expect(secret.droppedBy).toBe('dropSecrets');
    expect(secret.obj).toBeUndefined();
    const ns = plan.find((p) => p.item.startsWith('namespaces'))!;
    expect(ns.obj.metadata.labels['gushen-dr.io/drill']).toBe('yes');
    expect(plan.find((p) => p.item.startsWith('deployments'))!.obj.metadata.annotations).toEqual({ touched: 'yes' });
  });

  it('keeps the namespace when an include filter selects one object, and creates it from scratch if the archive lacks it', () => {
    const plan = planKubeRestore(index, objects, { ...base, include: (o) => o.kind === 'Deployment' });
    expect(plan.map((p) => p.item)).toEqual(['namespaces ai-qtrd-restored', 'deployments.apps ai-qtrd-restored/ai-qtrd-web']);
    const noNs = { ...index, entries: index.entries.slice(1) };
    const plan2 = planKubeRestore(noNs, objects.slice(1), base);
    expect(plan2[0].item).toBe('namespaces ai-qtrd-restored');
    expect(plan2[0].obj.metadata.labels['gushen-dr.io/restore']).toBe('r-1');
  });

  it('restores into the same namespace as itself when not mapping', () => {
    const plan = planKubeRestore(index, objects, { ...base, targetNamespace: NS });
    expect(plan[0].item).toBe('namespaces ai-qtrd');
    expect(plan.find((p) => p.item.startsWith('deployments'))!.item).toBe('deployments.apps ai-qtrd/ai-qtrd-web');
  });

  it('leaves namespaces alone when createNamespace is off', () => {
    const plan = planKubeRestore(index, objects, { ...base, createNamespace: false });
    expect(plan[0].skip).toMatch(/createNamespace is off/);
  });
});

describe('failure details', () => {
  it('never carry a Secret value, base64 or decoded', () => {
    const secret = objects[4];
    expect(secretValues(secret)).toEqual([Buffer.from('s3cr3t-value').toString('base64'), 's3cr3t-value']);
    const msg = failureDetail(new Error(`Secret "x" is invalid: data[REDIS_PASSWORD]: Invalid value: "s3cr3t-value" (${(secret as any).data.REDIS_PASSWORD})`), secret);
    expect(msg).not.toContain('s3cr3t-value');
    expect(msg).not.toContain((secret as any).data.REDIS_PASSWORD);
    expect(msg).toContain('***');
  });
});

describe('workload readiness', () => {
  it('needs the current generation observed and all replicas ready', () => {
    expect(workloadReadiness({ metadata: { generation: 2 }, spec: { replicas: 2 }, status: { observedGeneration: 1, readyReplicas: 2 } })).toEqual({ ready: false, why: 'observedGeneration 1 < generation 2' });
    expect(workloadReadiness({ metadata: { generation: 2 }, spec: { replicas: 3 }, status: { observedGeneration: 2, readyReplicas: 2 } })).toEqual({ ready: false, why: '2/3 replicas ready' });
    expect(workloadReadiness({ metadata: { generation: 2 }, spec: { replicas: 3 }, status: { observedGeneration: 2, readyReplicas: 3 } })).toEqual({ ready: true });
    expect(workloadReadiness({ metadata: { generation: 1 }, spec: { replicas: 0 }, status: { observedGeneration: 1 } })).toEqual({ ready: true });
  });
});
