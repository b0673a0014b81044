import type { Config } from '../config/schema.js';
import { backupPrefix, manifestKey, SCHEDULES } from './layout.js';
import type { ObjectStore } from '../store/types.js';
import { ObjectLockedError } from '../store/types.js';
import { listBackups, type CatalogEntry } from './catalog.js';
import { loadSigningPublicKeys } from '../config/signing.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export interface PruneDecision {
  id: string;
  status: CatalogEntry['status'];
  action: 'keep' | 'delete';
  reason: string;
}

/**
 * Keeps the newest N Completed backups per schedule and never the newest Completed of any schedule away;
 * deletes non-Completed backups (failed, partial, incomplete, invalid) once older than `incompleteAfterHours`.
 */
export function planPrune(entries: CatalogEntry[], retention: Config['retention'], now: Date): PruneDecision[] {
  const decisions = new Map<string, PruneDecision>();
  for (const schedule of SCHEDULES) {
    const keepN = retention[schedule];
    const completed = entries.filter((e) => e.schedule === schedule && e.status === 'Completed').sort((a, b) => (a.id < b.id ? 1 : -1));
    completed.forEach((e, i) => {
      const keep = i < Math.max(1, keepN);
      decisions.set(e.id, {
        id: e.id,
        status: e.status,
        action: keep ? 'keep' : 'delete',
        reason: keep ? (i === 0 ? `newest Completed ${schedule} backup` : `within the newest ${keepN} Completed ${schedule}`) : `beyond the newest ${keepN} Completed ${schedule}`,
      });
    });
  }
  const cutoff = now.getTime() - retention.incompleteAfterHours * 3600_000;
  for (const e of entries) {
    if (decisions.has(e.id)) continue;
    if (e.status === 'Unsigned' || e.status === 'BadSignature') {
      // Not proven incomplete, and not trusted either: never counted as Completed, never deleted automatically.
      decisions.set(e.id, { id: e.id, status: e.status, action: 'keep', reason: `${e.status}: manifest not trusted; kept for an operator to look at (delete by hand)` });
      continue;
    }
    const started = e.startedAt?.getTime() ?? 0;
    const old = started < cutoff;
    decisions.set(e.id, {
      id: e.id,
      status: e.status,
      action: old ? 'delete' : 'keep',
      reason: old ? `${e.status} and older than ${retention.incompleteAfterHours} h` : `${e.status} but younger than ${retention.incompleteAfterHours} h (may still be running)`,
    });
  }
  return entries.map((e) => decisions.get(e.id)!);
}

export interface PruneResult {
  decisions: PruneDecision[];
  deleted: string[];
  locked: Array<{ id: string; key: string; until?: string }>;
  errors: Array<{ id: string; error: string }>;
  /** Temp files of interrupted writes removed from a file:// store. */
  abandoned?: { files: number; bytes: number };
}

export async function prune(opts: { store: ObjectStore; config: Config; log: Logger; dryRun?: boolean; now?: Date }): Promise<PruneResult> {
  const { store, log } = opts;
  const now = opts.now ?? new Date();
  // With signing public keys configured, a manifest someone else wrote is not Completed to retention: it can
  // neither push good backups out of the newest N nor be deleted as one.
  const entries = await listBackups(store, { publicKeys: await loadSigningPublicKeys(opts.config) });
  for (const e of entries.filter((x) => x.status === 'Unsigned' || x.status === 'BadSignature')) log.warn({ backup: e.id, status: e.status, problem: e.problem }, 'backup kept: its manifest is not trusted');
  const decisions = planPrune(entries, opts.config.retention, now);
  const result: PruneResult = { decisions, deleted: [], locked: [], errors: [] };
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
      // The manifest goes first, so a half-deleted backup never looks complete.
      const keys = (await store.list(backupPrefix(d.id))).map((o) => o.key);
      const ordered = [...keys.filter((k) => k === manifestKey(d.id)), ...keys.filter((k) => k !== manifestKey(d.id))];
      let lockedHere = false;
      for (const k of ordered) {
        try {
          await store.delete(k);
        } catch (err) {
          if (!(err instanceof ObjectLockedError)) throw err;
          lockedHere = true;
          result.locked.push({ id: d.id, key: k, until: err.retainUntil?.toISOString() });
          if (k === manifestKey(d.id)) break; // keep the whole backup intact while its manifest is locked
        }
      }
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
