import { qualifiedResource } from './archive.js';

/**
 * What is recreated by controllers or meaningless to restore, and so left out of backups (and, should an
 * archive contain it anyway, out of restores). Each rule gives the reason recorded in the skipped counts.
 */
export interface SkipContext {
  /** Names of the namespace's Services that have a selector (their Endpoints are managed). */
  selectorServices: ReadonlySet<string>;
}

export const SKIP_REASONS = {
  events: 'events are not restored',
  ownedPod: 'owned by a controller (recreated)',
  ownedReplicaSet: 'owned by a Deployment (recreated)',
  cronJobJob: 'created by a CronJob (not re-run)',
  managedEndpoints: 'managed by its Service (recreated)',
  managedEndpointSlice: 'managed by the EndpointSlice controller (recreated)',
  controllerRevision: 'controller history (recreated)',
  lease: 'leases are runtime state',
  tokenSecret: 'service-account token (recreated)',
  rootCa: 'recreated in every namespace',
} as const;

const MANAGED_SLICE_BY = new Set(['endpointslice-controller.k8s.io', 'endpointslicemirroring-controller.k8s.io']);

function controllerOwner(obj: any): any | undefined {
  const refs = obj?.metadata?.ownerReferences;
  return Array.isArray(refs) ? refs.find((r: any) => r?.controller === true) : undefined;
}

/** Why an object is not backed up / restored, or undefined when it is. */
export function skipReason(resource: string, group: string, obj: any, ctx: SkipContext): string | undefined {
  const qr = qualifiedResource(resource, group);
  switch (qr) {
    case 'events':
    case 'events.events.k8s.io':
      return SKIP_REASONS.events;
    case 'pods':
      return controllerOwner(obj) ? SKIP_REASONS.ownedPod : undefined;
    case 'replicasets.apps':
      return controllerOwner(obj) ? SKIP_REASONS.ownedReplicaSet : undefined;
    case 'jobs.batch':
      return controllerOwner(obj)?.kind === 'CronJob' ? SKIP_REASONS.cronJobJob : undefined;
    case 'endpoints':
      return ctx.selectorServices.has(obj?.metadata?.name) ? SKIP_REASONS.managedEndpoints : undefined;
    case 'endpointslices.discovery.k8s.io': {
      const by = obj?.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'];
      return MANAGED_SLICE_BY.has(by) || controllerOwner(obj)?.kind === 'Service' ? SKIP_REASONS.managedEndpointSlice : undefined;
    }
    case 'controllerrevisions.apps':
      return SKIP_REASONS.controllerRevision;
    case 'leases.coordination.k8s.io':
      return SKIP_REASONS.lease;
    case 'secrets':
      return obj?.type === 'kubernetes.io/service-account-token' ? SKIP_REASONS.tokenSecret : undefined;
    case 'configmaps':
      return obj?.metadata?.name === 'kube-root-ca.crt' ? SKIP_REASONS.rootCa : undefined;
    default:
      return undefined;
  }
}

/** Services with a selector, from a list of Service objects. */
export function selectorServiceNames(services: Iterable<any>): Set<string> {
  const out = new Set<string>();
  for (const s of services) {
    const sel = s?.spec?.selector;
    if (sel && typeof sel === 'object' && Object.keys(sel).length > 0 && typeof s?.metadata?.name === 'string') out.add(s.metadata.name);
  }
  return out;
}

/** `sources.kube.excludeResources` entries match a qualified resource (`deployments.apps`) or a bare one (`configmaps`, `ingressroutes`). */
export function isExcluded(resource: string, group: string, exclude: readonly string[]): boolean {
  const qr = qualifiedResource(resource, group);
  return exclude.some((e) => e === qr || e === resource);
}
