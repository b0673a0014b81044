import type { DrillContext, RestoreAction } from './types.js';

const ROUTE_KINDS = new Set(['Ingress', 'IngressRoute', 'IngressRouteTCP', 'IngressRouteUDP']);

/**
 * Ingresses and IngressRoutes: without a drill domain they are dropped (no route can reach the drill);
 * with one, their hosts were rewritten already, and ACME hooks are removed so no certificate is requested.
 */
export function routingAction(d: DrillContext): RestoreAction {
  return {
    name: 'drill-routing',
    appliesTo: (r) => ROUTE_KINDS.has(r.kind),
    transform(obj: any) {
      if (!d.domain) return null;
      const ann = obj.metadata?.annotations;
      if (ann) for (const k of Object.keys(ann)) if (k.startsWith('cert-manager.io/') || k.startsWith('acme.cert-manager.io/')) delete ann[k];
      if (obj.spec?.tls && typeof obj.spec.tls === 'object' && !Array.isArray(obj.spec.tls)) delete obj.spec.tls.certResolver;
      return obj;
    },
  };
}

/** cert-manager Certificates are always dropped: a drill must never ask an ACME server for anything. */
export const certificateAction: RestoreAction = {
  name: 'drill-no-certificates',
  appliesTo: (r) => r.group === 'cert-manager.io',
  transform: () => null,
};
