import type { RestoreAction, TransformContext } from './types.js';
import { isRecord, mapNamespace } from './types.js';

const TRAEFIK_GROUPS = new Set(['traefik.io', 'traefik.containo.us']);
const ROUTE_RESOURCES = new Set(['ingressroutes', 'ingressroutetcps', 'ingressrouteudps']);

/**
 * Traefik IngressRoutes (`traefik.io` and the older `traefik.containo.us`): services, middlewares and TLS
 * options/stores may name a namespace; references to the source namespace follow it to the target.
 */
export const ingressRouteAction: RestoreAction = {
  name: 'ingress-route',
  appliesTo: (r) => TRAEFIK_GROUPS.has(r.group) && ROUTE_RESOURCES.has(r.resource),
  transform(obj: any, ctx: TransformContext) {
    const spec = obj.spec;
    if (!isRecord(spec)) return obj;
    const fix = (ref: unknown) => {
      if (isRecord(ref) && ref.namespace !== undefined) ref.namespace = mapNamespace(ref.namespace, ctx);
    };
    for (const route of Array.isArray(spec.routes) ? spec.routes : []) {
      if (!isRecord(route)) continue;
      for (const s of Array.isArray(route.services) ? route.services : []) fix(s);
      for (const m of Array.isArray(route.middlewares) ? route.middlewares : []) fix(m);
    }
    if (isRecord(spec.tls)) {
      fix(spec.tls.options);
      fix(spec.tls.store);
    }
    return obj;
  },
};
