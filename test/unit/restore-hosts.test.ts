import { describe, expect, it } from 'vitest';
import { indexEntryFor, type KubeArchiveIndex } from '../../src/sources/kube/archive.js';
import { planKubeRestore, type PlanOptions } from '../../src/sources/kube/restore.js';
import { applyActions } from '../../src/sources/kube/restore-actions/index.js';
import { collectProductionHosts, productionCertificatesAction, productionHostsAction, productionRoutesAction } from '../../src/sources/kube/restore-actions/production-hosts.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const NS = 'ai-qtrd';
const HOST = 'gushen.lurus.cn';
const ingressRoute = {
  apiVersion: 'traefik.io/v1alpha1',
  kind: 'IngressRoute',
  metadata: { name: 'ai-qtrd', namespace: NS, annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt-prod', team: 'gushen' } },
  spec: { routes: [{ match: 'Host(`gushen.lurus.cn`) && PathPrefix(`/api`)', services: [{ name: 'ai-qtrd-api', port: 8000 }] }], tls: { secretName: 'gushen-lurus-cn-tls', certResolver: 'le' } },
};
const ingress = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'legacy', namespace: NS },
  spec: { rules: [{ host: HOST }], tls: [{ hosts: [HOST], secretName: 'gushen-lurus-cn-tls' }] },
};
const certificate = {
  apiVersion: 'cert-manager.io/v1',
  kind: 'Certificate',
  metadata: { name: 'gushen-lurus-cn-tls', namespace: NS },
  spec: { secretName: 'gushen-lurus-cn-tls', dnsNames: [HOST], issuerRef: { name: 'letsencrypt-prod', kind: 'ClusterIssuer' } },
};
const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ai-qtrd-config', namespace: NS }, data: { NEXTAUTH_URL: `https://${HOST}` } };
const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: NS }, data: { URL: Buffer.from(`https://${HOST}/cb`).toString('base64') } };

const refOf = (o: any) => {
  const g = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return { group: g, kind: o.kind, resource: `${o.kind.toLowerCase()}s` };
};
const ctx = (over: Partial<TransformContext> = {}): TransformContext => ({
  sourceNamespace: NS,
  targetNamespace: 'ai-qtrd-copy',
  backupId: 'b',
  restoreId: 'r',
  keepNodePorts: false,
  productionHosts: [HOST],
  ...over,
});
const same = { targetNamespace: NS };
const domain = { hostDomain: 'staging.example.com' };
const keep = { keepHosts: true };

describe('production hosts in a restore into another namespace', () => {
  it.each([
    // [what, object, context, expected: 'dropped by …' | a check of the created object]
    ['Certificate, another namespace', certificate, {}, 'production-certificates'],
    ['Certificate, another namespace, with a host domain', certificate, domain, 'production-certificates'],
    ['Certificate, --keep-hosts', certificate, keep, (o: any) => expect(o.spec.dnsNames).toEqual([HOST])],
    ['Certificate, same namespace (disaster recovery)', certificate, same, (o: any) => expect(o.spec.dnsNames).toEqual([HOST])],
    ['IngressRoute, another namespace, no domain', ingressRoute, {}, 'production-routes'],
    ['Ingress, another namespace, no domain', ingress, {}, 'production-routes'],
    [
      'IngressRoute, with a host domain',
      ingressRoute,
      domain,
      (o: any) => {
        expect(o.spec.routes[0].match).toBe('Host(`gushen-lurus-cn.staging.example.com`) && PathPrefix(`/api`)');
        expect(o.metadata.annotations).toEqual({ team: 'gushen' }); // no cert-manager hook
        expect(o.spec.tls).toEqual({ secretName: 'gushen-lurus-cn-tls' }); // no ACME resolver
      },
    ],
    [
      'Ingress, with a host domain',
      ingress,
      domain,
      (o: any) => {
        expect(o.spec.rules[0].host).toBe('gushen-lurus-cn.staging.example.com');
        expect(o.spec.tls[0].hosts).toEqual(['gushen-lurus-cn.staging.example.com']);
      },
    ],
    ['IngressRoute, --keep-hosts', ingressRoute, keep, (o: any) => expect(o).toMatchObject({ spec: { routes: [{ match: ingressRoute.spec.routes[0].match }], tls: { certResolver: 'le' } } })],
    ['IngressRoute, same namespace', ingressRoute, same, (o: any) => expect(o.metadata.annotations['cert-manager.io/cluster-issuer']).toBe('letsencrypt-prod')],
    ['ConfigMap, with a host domain', configMap, domain, (o: any) => expect(o.data.NEXTAUTH_URL).toBe('https://gushen-lurus-cn.staging.example.com')],
    ['ConfigMap, no domain: left as it is', configMap, {}, (o: any) => expect(o.data.NEXTAUTH_URL).toBe(`https://${HOST}`)],
    ['Secret data, with a host domain', secret, domain, (o: any) => expect(Buffer.from(o.data.URL, 'base64').toString()).toBe('https://gushen-lurus-cn.staging.example.com/cb')],
    ['Secret data, --keep-hosts', secret, { ...keep, ...domain }, (o: any) => expect(Buffer.from(o.data.URL, 'base64').toString()).toBe(`https://${HOST}/cb`)],
  ] as Array<[string, any, Partial<TransformContext>, string | ((o: any) => void)]>)('%s', (_what, obj, over, expected) => {
    const out = applyActions(obj, refOf(obj), ctx(over));
    if (typeof expected === 'string') {
      expect(out).toMatchObject({ droppedBy: expected });
      expect((out as { reason: string }).reason).toContain(HOST);
    } else {
      expect('obj' in out).toBe(true);
      expected((out as { obj: any }).obj);
    }
  });

  it('says why an object was left out, and how to keep it', () => {
    expect(productionCertificatesAction.dropReason!(certificate, ctx())).toBe(
      'cert-manager would request a second certificate for gushen.lurus.cn; restores into another namespace leave certificates out (--keep-hosts keeps them)',
    );
    expect(productionRoutesAction.dropReason!(ingressRoute, ctx())).toMatch(/^it routes gushen\.lurus\.cn, which the original serves; without a host domain \(--host-domain, or drill\.domain in the config\)/);
  });

  it('applies to the kinds that route or certify hosts', () => {
    expect(productionRoutesAction.appliesTo({ group: 'traefik.io', resource: 'ingressroutetcps', kind: 'IngressRouteTCP' })).toBe(true);
    expect(productionRoutesAction.appliesTo({ group: '', resource: 'services', kind: 'Service' })).toBe(false);
    expect(productionCertificatesAction.appliesTo({ group: 'cert-manager.io', resource: 'certificaterequests', kind: 'CertificateRequest' })).toBe(true);
    expect(productionCertificatesAction.appliesTo({ group: 'cert-manager.io', resource: 'issuers', kind: 'Issuer' })).toBe(false);
    expect(productionHostsAction.transform(structuredClone(configMap), ctx({ ...domain, productionHosts: [] })).data.NEXTAUTH_URL).toBe(`https://${HOST}`);
    expect(collectProductionHosts([ingressRoute, ingress, certificate, configMap])).toEqual([HOST]);
  });

  it('the plan of a restore into another namespace leaves routes and certificates out by default', () => {
    const objects = [ingressRoute, certificate, configMap];
    const index: KubeArchiveIndex = {
      format: 1,
      backupId: 'b',
      namespace: NS,
      createdAt: '2026-11-24T02:00:00.000Z',
      entries: [indexEntryFor(ingressRoute, 'ingressroutes', 'traefik.io'), indexEntryFor(certificate, 'certificates', 'cert-manager.io'), indexEntryFor(configMap, 'configmaps', '')],
      skipped: {},
    };
    const base: PlanOptions = { targetNamespace: 'ai-qtrd-copy', backupId: 'b', restoreId: 'r', keepNodePorts: false, createNamespace: false };
    const summary = (o: Partial<PlanOptions>) => planKubeRestore(index, objects, { ...base, ...o }).map((p) => `${p.item}: ${p.droppedBy ?? 'apply'}`);
    expect(summary({})).toEqual([
      'configmaps ai-qtrd-copy/ai-qtrd-config: apply',
      'certificates.cert-manager.io ai-qtrd-copy/gushen-lurus-cn-tls: production-certificates',
      'ingressroutes.traefik.io ai-qtrd-copy/ai-qtrd: production-routes',
    ]);
    expect(summary({ hostDomain: 'staging.example.com' })).toEqual([
      'configmaps ai-qtrd-copy/ai-qtrd-config: apply',
      'certificates.cert-manager.io ai-qtrd-copy/gushen-lurus-cn-tls: production-certificates',
      'ingressroutes.traefik.io ai-qtrd-copy/ai-qtrd: apply',
    ]);
    expect(summary({ keepHosts: true }).every((l) => l.endsWith(': apply'))).toBe(true);
    expect(summary({ targetNamespace: NS }).every((l) => l.endsWith(': apply'))).toBe(true);
    const dropped = planKubeRestore(index, objects, base).find((p) => p.droppedBy === 'production-routes');
    expect(dropped?.dropReason).toContain('gushen.lurus.cn');
  });
});
