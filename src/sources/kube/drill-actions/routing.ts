import { ROUTE_KINDS, stripAcmeHooks } from '../restore-actions/production-hosts.js';
import type { DrillContext, RestoreAction } from './types.js';

/**
 * Ingresses and IngressRoutes: without a drill domain they are dropped (no route can reach the drill);
 * with one, their hosts were rewritten already, and ACME hooks are removed so no certificate is requested.
 */
export function routingAction(d: DrillContext): RestoreAction {
  return {
    name: 'drill-routing',
    appliesTo: (r) => ROUTE_KINDS.has(r.kind),
    transform: (obj: any) => (d.domain ? stripAcmeHooks(obj) : null),
  };
}

/** cert-manager Certificates are always dropped: a drill must never ask an ACME server for anything. */
export const certificateAction: RestoreAction = {
  name: 'drill-no-certificates',
  appliesTo: (r) => r.group === 'cert-manager.io',
  transform: () => null,
};
