import { describe, expect, it } from 'vitest';
import { planPrune } from '../../src/repository/prune.js';
import type { CatalogEntry, CatalogStatus } from '../../src/repository/catalog.js';
import { backupId, type Schedule } from '../../src/repository/layout.js';
import { syntheticManifest } from '../support/synthetic-backups.js';

const retention = { nightly: 14, monthly: 12, manual: 10, incompleteAfterHours: 24 };
const NOW = new Date('2026-11-24T12:00:00Z');
const config = (r: Partial<typeof retention> = {}) =>
  ({ retention: { ...retention, ...r }, sources: { postgres: {}, redis: {} }, schedules: { listen: ':9464' } }) as never;

/** A catalog entry; one with a manifest holds postgres and redis. */
function entry(daysAgo: number, schedule: Schedule, status: CatalogStatus, hour = 2): CatalogEntry {
  const at = new Date(NOW.getTime() - daysAgo * 86_400_000);
  at.setUTCHours(hour, 0, 0, 0);
  const id = backupId(at, schedule);
  const manifest = status === 'Completed' || status === 'Failed' || status === 'PartiallyFailed' ? syntheticManifest(id, ['postgres', 'redis'], status) : undefined;
  return { id, schedule, status, startedAt: at, storedBytes: 1, objects: 2, artifacts: 1, manifest };
}

describe('retention plan', () => {
  it('keeps exactly the newest 14 nightly and 12 monthly Completed backups out of a long history with failures', () => {
    const entries: CatalogEntry[] = [];
    for (let d = 40; d >= 1; d--) entries.push(entry(d, 'nightly', d % 7 === 0 ? 'Failed' : 'Completed'));
    for (let m = 15; m >= 1; m--) entries.push(entry(m * 30 + 0.5, 'monthly', m === 3 ? 'PartiallyFailed' : 'Completed', 3));
    const plan = planPrune(entries, config(), NOW);
    const kept = plan.filter((d) => d.action === 'keep').map((d) => d.id);
    const nightlyGood = entries.filter((e) => e.schedule === 'nightly' && e.status === 'Completed').map((e) => e.id).sort().reverse();
    const monthlyGood = entries.filter((e) => e.schedule === 'monthly' && e.status === 'Completed').map((e) => e.id).sort().reverse();
    expect(kept.sort()).toEqual([...nightlyGood.slice(0, 14), ...monthlyGood.slice(0, 12)].sort());
    // every failed one is older than a day here, so it goes
    for (const d of plan.filter((x) => x.status !== 'Completed')) expect(d.action).toBe('delete');
  });

  it('never deletes the newest Completed backup of a schedule, even when everything newer failed', () => {
    const entries = [entry(30, 'nightly', 'Completed'), ...Array.from({ length: 20 }, (_, i) => entry(20 - i, 'nightly', 'Failed'))];
    const plan = planPrune(entries, config({ nightly: 1 }), NOW);
    expect(plan.find((d) => d.id === entries[0].id)?.action).toBe('keep');
    expect(plan.filter((d) => d.action === 'keep')).toHaveLength(1);
  });

  it('keeps incomplete and failed backups younger than a day (they may still be running)', () => {
    const young = entry(0.2, 'nightly', 'Incomplete', 8);
    const old = entry(2, 'nightly', 'Incomplete');
    const failed = entry(3, 'manual', 'Failed');
    const plan = planPrune([failed, old, young], config(), NOW);
    expect(plan.map((d) => d.action)).toEqual(['delete', 'delete', 'keep']);
  });

  it('never deletes an unreadable manifest, however old, nor a directory that is not a backup id', () => {
    const unreadable = entry(300, 'nightly', 'Unreadable');
    const foreign: CatalogEntry = { id: 'not-ours', schedule: 'unknown', status: 'Incomplete', startedAt: undefined, storedBytes: 1, objects: 1, artifacts: 1 };
    const plan = planPrune([unreadable, foreign, entry(1, 'nightly', 'Completed')], config({ nightly: 1 }), NOW);
    expect(plan.map((d) => d.action)).toEqual(['keep', 'keep', 'keep']);
    expect(plan[0].reason).toMatch(/unreadable/);
    expect(plan[1].reason).toMatch(/not a backup id/);
  });

  it('keeps every Completed backup of a schedule the config has no retention for', () => {
    const entries = [1, 2, 3].map((d) => entry(d, 'weekly', 'Completed'));
    const plan = planPrune(entries, config(), NOW);
    expect(plan.map((d) => d.action)).toEqual(['keep', 'keep', 'keep']);
    expect(plan[0].reason).toMatch(/no retention for schedule weekly/);
  });
});

describe('prune with S3 Object Lock', () => {
  it('skips objects still under retention and says so, deleting the rest', async () => {
    const { FileStore } = await import('../../src/store/file.js');
    const { ObjectLockedError } = await import('../../src/store/types.js');
    const { writeObjectText } = await import('../../src/store/text.js');
    const { prune } = await import('../../src/repository/prune.js');
    const { silentLogger } = await import('../../src/util/log.js');
    const { tempDir } = await import('../support/tmp.js');
    const dir = await tempDir();
    try {
      const until = new Date('2027-01-01T00:00:00Z');
      class LockedStore extends FileStore {
        override async delete(key: string): Promise<void> {
          if (key.includes('20261001T020000Z-nightly')) throw new ObjectLockedError(key, until);
          return super.delete(key);
        }
      }
      const store = new LockedStore(dir.path);
      for (const id of ['20261001T020000Z-nightly', '20261002T020000Z-nightly']) {
        await writeObjectText(store, `backups/${id}/postgres/x.dump.zst.age`, 'x');
      }
      const r = await prune({ store, config: config(), log: silentLogger, now: NOW });
      expect(r.deleted).toEqual(['20261002T020000Z-nightly']);
      expect(r.locked).toEqual([{ id: '20261001T020000Z-nightly', key: 'backups/20261001T020000Z-nightly/postgres/x.dump.zst.age', until: until.toISOString() }]);
      expect((await store.list('backups/')).map((o) => o.key)).toEqual(['backups/20261001T020000Z-nightly/postgres/x.dump.zst.age']);
    } finally {
      await dir.cleanup();
    }
  });
});
