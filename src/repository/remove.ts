import { backupPrefix, manifestKey } from './layout.js';
import { ObjectLockedError, type ObjectStore } from '../store/types.js';

export interface RemoveResult {
  /** Objects S3 Object Lock still retains; empty when the backup is gone. */
  locked: Array<{ key: string; until?: string }>;
}

/**
 * Deletes one backup's objects, the manifest first: a half-deleted backup then looks incomplete (and is pruned as
 * such later), never complete. While the manifest itself is locked, nothing else is touched, so the backup stays
 * whole. Errors other than a lock are thrown.
 */
export async function removeBackup(store: ObjectStore, id: string): Promise<RemoveResult> {
  const keys = (await store.list(backupPrefix(id))).map((o) => o.key);
  const ordered = [...keys.filter((k) => k === manifestKey(id)), ...keys.filter((k) => k !== manifestKey(id))];
  const locked: RemoveResult['locked'] = [];
  for (const k of ordered) {
    try {
      await store.delete(k);
    } catch (err) {
      if (!(err instanceof ObjectLockedError)) throw err;
      locked.push({ key: k, until: err.retainUntil?.toISOString() });
      if (k === manifestKey(id)) break;
    }
  }
  return { locked };
}
