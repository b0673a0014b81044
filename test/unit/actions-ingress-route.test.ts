import { describe, expect, it } from 'vitest';
import { ingressRouteAction } from '../../src/sources/kube/restore-actions/ingress-route.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const ctx: TransformContext = { sourceNamespace: 'ai-qtrd', targetNamespace: 'ai-qtrd-restored', backupId: 'id', restoreId: 'r', keepNodePorts: false };

describe('ingress-route action', () => {
  it('maps service, middleware and TLS option namespaces that name the source namespace', () => {
    const ir = {
      apiVersion: 'traefik.io/v1alpha1',
      kind: 'IngressRoute',
      metadata: { name: 'gushen', namespace: 'ai-qtrd' },
      spec: {
        entryPoints: ['websecure'],
        routes: [
          {
            match: 'Host(`gushen.lurus.cn`) && PathPrefix(`/api/backtest`)',
            kind: 'Rule',
            services: [{ name: 'ai-qtrd-api', port: 8000, namespace: 'ai-qtrd' }],
            middlewares: [{ name: 'strip', namespace: 'ai-qtrd' }, { name: 'global-auth', namespace: 'kube-system' }],
          },
          { match: 'Host(`gushen.lurus.cn`)', kind: 'Rule', services: [{ name: 'ai-qtrd-web', port: 3000 }] },
        ],
        tls: { secretName: 'gushen-lurus-cn-tls', options: { name: 'modern', namespace: 'ai-qtrd' } },
      },
    };
    const out = ingressRouteAction.transform(ir, ctx);
    expect(out.spec.routes[0].services[0].namespace).toBe('ai-qtrd-restored');
    expect(out.spec.routes[0].middlewares).toEqual([{ name: 'strip', namespace: 'ai-qtrd-restored' }, { name: 'global-auth', namespace: 'kube-system' }]);
    expect(out.spec.routes[1].services[0]).toEqual({ name: 'ai-qtrd-web', port: 3000 });
    expect(out.spec.tls).toEqual({ secretName: 'gushen-lurus-cn-tls', options: { name: 'modern', namespace: 'ai-qtrd-restored' } });
  });

  it('applies to both Traefik API groups', () => {
    expect(ingressRouteAction.appliesTo({ group: 'traefik.containo.us', resource: 'ingressroutes', kind: 'IngressRoute' })).toBe(true);
    expect(ingressRouteAction.appliesTo({ group: 'networking.k8s.io', resource: 'ingresses', kind: 'Ingress' })).toBe(false);
  });
});
