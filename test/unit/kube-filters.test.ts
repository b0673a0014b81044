import { describe, expect, it } from 'vitest';
import { SKIP_REASONS, isExcluded, selectorServiceNames, skipReason } from '../../src/sources/kube/filters.js';

const owned = (kind: string) => ({ metadata: { name: 'x', ownerReferences: [{ apiVersion: 'apps/v1', kind, name: 'o', uid: 'u', controller: true }] } });
const ctx = { selectorServices: selectorServiceNames([{ metadata: { name: 'redis-service' }, spec: { selector: { app: 'redis' } } }, { metadata: { name: 'external-db' }, spec: {} }]) };

describe('backup/restore skip rules', () => {
  it('skips what controllers recreate', () => {
    expect(skipReason('events', '', {}, ctx)).toBe(SKIP_REASONS.events);
    expect(skipReason('events', 'events.k8s.io', {}, ctx)).toBe(SKIP_REASONS.events);
    expect(skipReason('pods', '', owned('ReplicaSet'), ctx)).toBe(SKIP_REASONS.ownedPod);
    expect(skipReason('pods', '', { metadata: { name: 'bare' } }, ctx)).toBeUndefined();
    expect(skipReason('replicasets', 'apps', owned('Deployment'), ctx)).toBe(SKIP_REASONS.ownedReplicaSet);
    expect(skipReason('replicasets', 'apps', { metadata: { name: 'bare' } }, ctx)).toBeUndefined();
    expect(skipReason('jobs', 'batch', owned('CronJob'), ctx)).toBe(SKIP_REASONS.cronJobJob);
    expect(skipReason('controllerrevisions', 'apps', {}, ctx)).toBe(SKIP_REASONS.controllerRevision);
    expect(skipReason('leases', 'coordination.k8s.io', {}, ctx)).toBe(SKIP_REASONS.lease);
    expect(skipReason('configmaps', '', { metadata: { name: 'kube-root-ca.crt' } }, ctx)).toBe(SKIP_REASONS.rootCa);
    expect(skipReason('configmaps', '', { metadata: { name: 'ai-qtrd-config' } }, ctx)).toBeUndefined();
  });

  it('skips Endpoints of Services with a selector only', () => {
    expect(skipReason('endpoints', '', { metadata: { name: 'redis-service' } }, ctx)).toBe(SKIP_REASONS.managedEndpoints);
    expect(skipReason('endpoints', '', { metadata: { name: 'external-db' } }, ctx)).toBeUndefined();
    const slice = { metadata: { name: 'redis-service-abcde', labels: { 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } } };
    expect(skipReason('endpointslices', 'discovery.k8s.io', slice, ctx)).toBe(SKIP_REASONS.managedEndpointSlice);
    expect(skipReason('endpointslices', 'discovery.k8s.io', { metadata: { name: 'manual', labels: { 'endpointslice.kubernetes.io/managed-by': 'me' } } }, ctx)).toBeUndefined();
  });

  it('skips service-account token Secrets but not TLS or Opaque ones', () => {
    expect(skipReason('secrets', '', { type: 'kubernetes.io/service-account-token', metadata: { name: 't' } }, ctx)).toBe(SKIP_REASONS.tokenSecret);
    expect(skipReason('secrets', '', { type: 'kubernetes.io/tls', metadata: { name: 'gushen-lurus-cn-tls' } }, ctx)).toBeUndefined();
    expect(skipReason('secrets', '', { type: 'Opaque', metadata: { name: 'ai-qtrd-secrets' } }, ctx)).toBeUndefined();
  });

  it('matches excludeResources by qualified or bare resource name', () => {
    expect(isExcluded('ingressroutes', 'traefik.io', ['ingressroutes'])).toBe(true);
    expect(isExcluded('deployments', 'apps', ['deployments.apps'])).toBe(true);
    expect(isExcluded('deployments', 'apps', ['statefulsets.apps'])).toBe(false);
  });
});
