import { walClusterInfoKey } from '../../../repository/layout.js';
import { ObjectLockedError, type ObjectStore } from '../../../store/types.js';
import { errorMessage } from '../../../util/errors.js';
import type { Logger } from '../../../util/log.js';
import { baseBackups } from './restore.js';
import { parseLsn, segnoOfLsn } from './wal-names.js';
import { listWal, listWalClusters } from './wal-store.js';

export interface WalPruneResult {
  /** Per cluster: from which segment number on WAL is kept (undefined: all kept), and what was deleted. */
  clusters: Array<{ sysid: string; keptFrom?: string; deleted: number; reason: string }>;
  deletedKeys: string[];
  locked: string[];
  errors: string[];
}

/**
 * WAL retention, run after backups were pruned: WAL is deleted only where no retained base backup needs it.
 * Per cluster, segments older than the oldest retained base backup's start segment go (on every timeline), and
 * partial segments whose finished version is stored; a cluster no retained backup has a base backup of goes
 * whole, but only while another cluster has one (a store without any base backup keeps all its WAL). History
 * files stay (they are tiny and recovery asks for them).
 */
export async function pruneWal(o: { store: ObjectStore; log: Logger; dryRun?: boolean }): Promise<WalPruneResult> {
  const result: WalPruneResult = { clusters: [], deletedKeys: [], locked: [], errors: [] };
  // Every readable Completed manifest counts, signed or not: WAL goes only when no backup at all needs it.
  const bases = await baseBackups(o.store, undefined);
  const clusters = await listWalClusters(o.store);
  for (const sysid of clusters) {
    const mine = bases.filter((b) => b.facts.systemIdentifier === sysid);
    const cat = await listWal(o.store, sysid);
    const doomed: string[] = [];
    let keptFrom: string | undefined;
    let reason: string;
    if (mine.length === 0) {
      if (bases.length === 0) {
        result.clusters.push({ sysid, deleted: 0, reason: 'no base backup in the store at all: all WAL kept' });
        continue;
      }
      reason = 'no retained backup has a base backup of this cluster';
      for (const list of cat.timelines.values()) for (const e of list) doomed.push(...[e.full?.key, e.partial?.key].filter((k): k is string => !!k));
      for (const h of cat.histories.values()) doomed.push(h.key);
      doomed.push(walClusterInfoKey(sysid));
    } else {
      const oldest = mine.reduce((m, b) => {
        const s = segnoOfLsn(parseLsn(b.facts.startLsn), b.facts.walSegmentSize);
        return m === undefined || s < m.segno ? { segno: s, name: b.facts.startSegment, id: b.backupId } : m;
      }, undefined as { segno: bigint; name: string; id: string } | undefined)!;
      keptFrom = oldest.name;
      reason = `older than the oldest retained base backup's start (${oldest.name}, backup ${oldest.id})`;
      for (const list of cat.timelines.values()) {
        for (const e of list) {
          if (e.segno < oldest.segno) doomed.push(...[e.full?.key, e.partial?.key].filter((k): k is string => !!k));
          else if (e.full && e.partial) doomed.push(e.partial.key);
        }
      }
    }
    let deleted = 0;
    for (const key of doomed) {
      if (o.dryRun) {
        result.deletedKeys.push(key);
        deleted++;
        continue;
      }
      try {
        await o.store.delete(key);
        result.deletedKeys.push(key);
        deleted++;
      } catch (err) {
        if (err instanceof ObjectLockedError) result.locked.push(key);
        else result.errors.push(`${key}: ${errorMessage(err)}`);
      }
    }
    if (deleted > 0) o.log.info({ cluster: sysid, deleted, keptFrom, dryRun: o.dryRun === true }, 'WAL retention');
    result.clusters.push({ sysid, keptFrom, deleted, reason });
  }
  return result;
}
