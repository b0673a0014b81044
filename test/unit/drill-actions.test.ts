import { describe, expect, it } from 'vitest';
import { collectProductionHosts, drillActions, type DrillContext } from '../../src/sources/kube/drill-actions/index.js';
import { productionHostsAction } from '../../src/sources/kube/drill-actions/production-hosts.js';
import { certificateAction, routingAction } from '../../src/sources/kube/drill-actions/routing.js';
import { ownObjectsAction } from '../../src/sources/kube/drill-actions/own-objects.js';
import { envAction, freshVolumeAction, noAutoscalerAction, oneReplicaAction, secretDataAction } from '../../src/sources/kube/drill-actions/workloads.js';

const tctx = { sourceNamespace: 'ai-qtrd', targetNamespace: 'dr-drill-x', backupId: 'b', restoreId: 'r', keepNodePorts: false };
const d = (over: Partial<DrillContext> = {}): DrillContext => ({
  productionHosts: ['gushen.lurus.cn'],
  domain: undefined,
  vars: { namespace: 'dr-drill-x', database: 'dr_drill_1', redisUrl: 'redis://r:6379' },
  env: {},
  secretData: {},
  ...over,
});
const ref = (kind: string, group = '', resource = '') => ({ kind, group, resource });

const ingressRoute = {
  apiVersion: 'traefik.io/v1alpha1',
  kind: 'IngressRoute',
  metadata: { name: 'ai-qtrd', annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt-prod' } },
  spec: { routes: [{ match: 'Host(`gushen.lurus.cn`) && PathPrefix(`/api/backtest`)' }], tls: { secretName: 'gushen-lurus-cn-tls', certResolver: 'le' } },
};

describe('drill transforms', () => {
  it('collects production hosts from Ingresses, IngressRoutes and Certificates', () => {
    expect(
      collectProductionHosts([
        ingressRoute,
        { kind: 'Ingress', spec: { rules: [{ host: 'a.example.com' }], tls: [{ hosts: ['b.example.com', '*.wild.example.com'] }] } },
        { kind: 'Certificate', spec: { dnsNames: ['c.example.com'], commonName: 'c.example.com' } },
      ]).sort(),
    ).toEqual(['a.example.com', 'b.example.com', 'c.example.com', 'gushen.lurus.cn']);
  });

  it('drill-production-hosts rewrites the host in every string, Secret data included', () => {
    const a = productionHostsAction(d({ domain: 'drill.internal' }));
    const cm = a.transform({ kind: 'ConfigMap', metadata: { name: 'c' }, data: { NEXTAUTH_URL: 'https://gushen.lurus.cn/api/auth' } }, tctx);
    expect(cm.data.NEXTAUTH_URL).toBe('https://gushen-lurus-cn.drill.internal/api/auth');
    const secret = a.transform({ kind: 'Secret', metadata: { name: 's' }, data: { URL: Buffer.from('https://gushen.lurus.cn').toString('base64') } }, tctx);
    expect(Buffer.from(secret.data.URL, 'base64').toString()).toBe('https://gushen-lurus-cn.drill.internal');
    expect(JSON.stringify(a.transform(structuredClone(ingressRoute), tctx))).not.toContain('gushen.lurus.cn');
  });

  it('drill-routing drops routes without a drill domain, and strips ACME hooks with one', () => {
    expect(routingAction(d()).transform(structuredClone(ingressRoute), tctx)).toBeNull();
    const kept = routingAction(d({ domain: 'drill.internal' })).transform(structuredClone(ingressRoute), tctx);
    expect(kept.metadata.annotations).toEqual({});
    expect(kept.spec.tls.certResolver).toBeUndefined();
    expect(routingAction(d()).appliesTo(ref('Ingress', 'networking.k8s.io'))).toBe(true);
    expect(routingAction(d()).appliesTo(ref('Service'))).toBe(false);
  });

  it('drill-no-certificates drops every cert-manager object', () => {
    expect(certificateAction.appliesTo(ref('Certificate', 'cert-manager.io'))).toBe(true);
    expect(certificateAction.transform({ kind: 'Certificate' }, tctx)).toBeNull();
  });

  it('drill-one-replica scales workloads down to one, never up', () => {
    expect(oneReplicaAction.transform({ kind: 'StatefulSet', spec: { replicas: 3 } }, tctx).spec.replicas).toBe(1);
    expect(oneReplicaAction.transform({ kind: 'Deployment', spec: { replicas: 0 } }, tctx).spec.replicas).toBe(0);
    expect(noAutoscalerAction.transform({ kind: 'HorizontalPodAutoscaler' }, tctx)).toBeNull();
  });

  it('drill-env points containers at the drill database, replacing valueFrom', () => {
    const a = envAction(d({ env: { DATABASE_URL: 'postgres://u@db/{{database}}', REDIS_URL: '{{redisUrl}}' } }));
    const dep = a.transform(
      {
        kind: 'Deployment',
        spec: { template: { spec: { containers: [{ name: 'api', env: [{ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }] } } },
      },
      tctx,
    );
    expect(dep.spec.template.spec.containers[0].env).toEqual([
      { name: 'DATABASE_URL', value: 'postgres://u@db/dr_drill_1' },
      { name: 'REDIS_URL', value: 'redis://r:6379' },
    ]);
  });

  it('drill-secret-data rewrites configured keys of configured Secrets only', () => {
    const a = secretDataAction(d({ secretData: { 'ai-qtrd-secrets': { DATABASE_URL: 'postgres://x/{{database}}' } } }));
    const s = a.transform({ kind: 'Secret', metadata: { name: 'ai-qtrd-secrets' }, data: { OTHER: 'eA==' } }, tctx);
    expect(Buffer.from(s.data.DATABASE_URL, 'base64').toString()).toBe('postgres://x/dr_drill_1');
    expect(s.data.OTHER).toBe('eA==');
    expect(a.transform({ kind: 'Secret', metadata: { name: 'other' }, data: {} }, tctx).data).toEqual({});
  });

  it('drill-fresh-volumes unbinds claims from production volumes', () => {
    expect(freshVolumeAction.transform({ kind: 'PersistentVolumeClaim', spec: { volumeName: 'pvc-1', resources: {} } }, tctx).spec).toEqual({ resources: {} });
  });

  it("drill-not-gushen-dr leaves gushen-dr's own objects (app.kubernetes.io/name=gushen-dr) out, and only those", () => {
    const own = { kind: 'Role', metadata: { name: 'gushen-dr-redis-exec', labels: { 'app.kubernetes.io/name': 'gushen-dr', 'app.kubernetes.io/part-of': 'gushen' } } };
    expect(ownObjectsAction.transform(own, tctx)).toBeNull();
    const platform = { kind: 'Role', metadata: { name: 'ai-qtrd', labels: { 'app.kubernetes.io/name': 'ai-qtrd', 'app.kubernetes.io/part-of': 'gushen' } } };
    expect(ownObjectsAction.transform(platform, tctx)).toBe(platform);
    const unlabelled = { kind: 'Secret', metadata: { name: 'gushen-dr-env' } };
    expect(ownObjectsAction.transform(unlabelled, tctx)).toBe(unlabelled);
  });

  it('runs in an order where certificates and routes are decided before hosts are rewritten', () => {
    expect(drillActions(d()).map((a) => a.name)).toEqual([
      'drill-not-gushen-dr',
      'drill-no-certificates',
      'drill-routing',
      'drill-production-hosts',
      'drill-one-replica',
      'drill-no-autoscalers',
      'drill-env',
      'drill-secret-data',
      'drill-fresh-volumes',
    ]);
  });
});
