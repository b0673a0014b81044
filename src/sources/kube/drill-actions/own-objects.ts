import type { RestoreAction } from './types.js';

/** The label k8s/cronjobs puts on every object of gushen-dr itself (CronJobs, config, ServiceAccounts, RBAC). */
export const GUSHEN_DR_NAME_LABEL = ['app.kubernetes.io/name', 'gushen-dr'] as const;

/**
 * gushen-dr's own objects in the backed-up namespace are not part of the platform a drill proves, and restoring
 * them would do harm: a restored `gushen-dr-nightly` CronJob would back up and prune from the scratch namespace,
 * and restoring the backup account's Role (exec into redis-0) would need rights the drill must not hold (RBAC
 * lets an account grant only what it holds). They are left out of every drill.
 */
export const ownObjectsAction: RestoreAction = {
  name: 'drill-not-gushen-dr',
  appliesTo: () => true,
  transform: (obj: any) => (obj?.metadata?.labels?.[GUSHEN_DR_NAME_LABEL[0]] === GUSHEN_DR_NAME_LABEL[1] ? null : obj),
};
