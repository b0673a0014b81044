import { hostRewriter, rewriteHosts } from '../restore-actions/production-hosts.js';
import { drillHost, type DrillContext, type RestoreAction } from './types.js';

export { collectProductionHosts } from '../restore-actions/production-hosts.js';

/**
 * Rewrites every production host name in every string of every object (ConfigMap values, env, annotations,
 * Ingress rules, IngressRoute matches; Secret data decoded and re-encoded), so nothing in the drill namespace
 * points at production: to `<host-with-dashes>.<drill.domain>`, or to an unroutable `.invalid` name without one.
 */
export function productionHostsAction(d: DrillContext): RestoreAction {
  const rewrite = hostRewriter(d.productionHosts, (h) => drillHost(h, d.domain));
  return {
    name: 'drill-production-hosts',
    appliesTo: () => d.productionHosts.length > 0,
    transform: (obj: any) => rewriteHosts(obj, rewrite),
  };
}
