import type { Config, SourceName } from '../config/schema.js';
import { backupSchedules, retentionTimeZone } from '../config/schedules.js';
import type { ObjectStore } from '../store/types.js';
import { listBackups, type CatalogEntry } from './catalog.js';
import { removeBackup } from './remove.js';
import { planRetention, type RetentionDecision } from './retention.js';
import { loadSigningPublicKeys } from '../config/signing.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export type PruneDecision = RetentionDecision;

/** The retention plan for a catalog under `config`: every schedule's policy, the configured sources (src/repository/retention.ts). */
export function planPrune(entries: CatalogEntry[], config: Pick<Config, 'retention' | 'schedules' | 'sources'>, now: Date): PruneDecision[] {
  const policies = new Map(backupSchedules(config as Config).map((s) => [s.name, s.retention]));
  return planRetention({
    entries,
    policy: (schedule) => policies.get(schedule),
    sources: configuredSources(config),
    incompleteAfterHours: config.retention.incompleteAfterHours,
    now,
    timeZone: retentionTimeZone(config as Config),
  });
}

export function configuredSources(config: Pick<Config, 'sources'>): SourceName[] {
  return (Object.keys(config.sources) as SourceName[]).filter((s) => config.sources[s] !== undefined);
}

export interface PruneResult {
  decisions: PruneDecision[];
  deleted: string[];
  locked: Array<{ id: string; key: string; until?: string }>;
  errors: Array<{ id: string; error: string }>;
  /** Temp files of interrupted writes removed from a file:// store. */
  abandoned?: { files: number; bytes: number };
  /** Set when prune deleted nothing because a manifest could not be read: it says which. */
  aborted?: string;
}

export async function prune(opts: { store: ObjectStore; config: Config; log: Logger; dryRun?: boolean; now?: Date }): Promise<PruneResult> {
  const { store, log } = opts;
  const now = opts.now ?? new Date();
  // With signing public keys configured, a manifest someone else wrote is not Completed to retention: it can
  // neither push good backups out of the newest N nor be deleted as one.
  const entries = await listBackups(store, { publicKeys: await loadSigningPublicKeys(opts.config) });
  for (const e of entries.filter((x) => x.status === 'Unsigned' || x.status === 'BadSignature')) log.warn({ backup: e.id, status: e.status, problem: e.problem }, 'backup kept: its manifest is not trusted');
  const decisions = planPrune(entries, opts.config, now);
  const result: PruneResult = { decisions, deleted: [], locked: [], errors: [] };
  // A manifest that cannot be read may be the newest copy of a source (a GET that failed once, a newer gushen-dr's
  // format): without it the plan may be wrong, so nothing is deleted until every manifest reads (exit 1).
  const unreadable = entries.filter((e) => e.status === 'Unreadable');
  if (unreadable.length > 0) {
    for (const e of unreadable) {
      result.errors.push({ id: e.id, error: `manifest unreadable: ${e.problem ?? 'unknown error'}` });
      log.error({ backup: e.id, err: e.problem }, 'manifest unreadable; prune deletes nothing until it reads again');
    }
    result.aborted = `could not read the manifest of ${unreadable.map((e) => e.id).join(', ')}: nothing deleted (fix the store or the gushen-dr version, or remove it with \`gushen-dr delete <id> --force\`)`;
    return result;
  }
  if (opts.dryRun) return result;
  if (store.sweepAbandoned) {
    // Same age as an incomplete backup's: a run that old is not writing any more. A failure here is reported
    // (exit 1) but does not hold up retention.
    try {
      result.abandoned = await store.sweepAbandoned(new Date(now.getTime() - opts.config.retention.incompleteAfterHours * 3_600_000));
      if (result.abandoned.files > 0) log.info(result.abandoned, 'removed temp files of interrupted writes');
    } catch (err) {
      result.errors.push({ id: 'temp files', error: errorMessage(err) });
      log.error({ err: errorMessage(err) }, 'could not remove temp files of interrupted writes');
    }
  }
  for (const d of decisions.filter((x) => x.action === 'delete')) {
    try {
      const { locked } = await removeBackup(store, d.id);
      for (const l of locked) result.locked.push({ id: d.id, ...l });
      const lockedHere = locked.length > 0;
      if (lockedHere) log.warn({ backup: d.id }, 'backup is still under S3 Object Lock retention; skipped');
      else {
        result.deleted.push(d.id);
        log.info({ backup: d.id, reason: d.reason }, 'backup deleted');
      }
    } catch (err) {
      result.errors.push({ id: d.id, error: errorMessage(err) });
      log.error({ backup: d.id, err: errorMessage(err) }, 'could not delete backup');
    }
  }
  return result;
}
