import { clusterRoleBindingAction } from './cluster-role-binding.js';
import { commonMetadataAction } from './common-metadata.js';
import { ingressRouteAction } from './ingress-route.js';
import { jobAction } from './job.js';
import { namespaceAction } from './namespace.js';
import { namespaceDnsAction } from './namespace-dns.js';
import { persistentVolumeClaimAction } from './persistent-volume-claim.js';
import { persistentVolumeAction } from './persistent-volume.js';
import { podAction } from './pod.js';
import { productionCertificatesAction, productionHostsAction, productionRoutesAction } from './production-hosts.js';
import { roleBindingAction } from './role-binding.js';
import { serviceAccountAction } from './service-account.js';
import { serviceAction } from './service.js';
import type { ResourceRef, RestoreAction, TransformContext } from './types.js';

export type { ResourceRef, RestoreAction, TransformContext } from './types.js';
export { RESTORE_LABEL_BACKUP, RESTORE_LABEL_RESTORE } from './common-metadata.js';

/**
 * The built-in actions, in the order they run: metadata first, then the one for the object's kind, then (into
 * another namespace) production hosts: certificates, routes, host names; in-cluster DNS names last.
 */
export const RESTORE_ACTIONS: readonly RestoreAction[] = [
  commonMetadataAction,
  namespaceAction,
  serviceAction,
  podAction,
  persistentVolumeAction,
  persistentVolumeClaimAction,
  jobAction,
  roleBindingAction,
  clusterRoleBindingAction,
  serviceAccountAction,
  ingressRouteAction,
  productionCertificatesAction,
  productionRoutesAction,
  productionHostsAction,
  namespaceDnsAction,
];

export function actionsFor(ref: ResourceRef, actions: readonly RestoreAction[] = RESTORE_ACTIONS): RestoreAction[] {
  return actions.filter((a) => a.appliesTo(ref));
}

/**
 * Runs the built-in actions on a deep copy of `obj`. Returns the object to create, or the name of the action
 * that dropped it (and why, when the action says).
 */
export function applyActions(obj: any, ref: ResourceRef, ctx: TransformContext): { obj: any } | { droppedBy: string; reason?: string } {
  let cur = structuredClone(obj);
  for (const a of actionsFor(ref)) {
    const next = a.transform(cur, ctx);
    if (next === null || next === undefined) return a.dropReason ? { droppedBy: a.name, reason: a.dropReason(cur, ctx) } : { droppedBy: a.name };
    cur = next;
  }
  return { obj: cur };
}

/** Lets the kind's actions adjust the desired object before it replaces `live`. */
export function prepareUpdate(desired: any, live: any, ref: ResourceRef): any {
  let cur = desired;
  for (const a of actionsFor(ref)) if (a.prepareUpdate) cur = a.prepareUpdate(cur, live);
  return cur;
}
