import { describe, expect, it } from 'vitest';
import { artifactKey, backupId, backupIdOfKey, manifestKey, parseBackupId } from '../../src/repository/layout.js';

describe('backup layout', () => {
  it('makes ids that sort by time and parse back', () => {
    const a = backupId(new Date('2026-11-24T02:00:00.123Z'), 'nightly');
    expect(a).toBe('20261124T020000Z-nightly');
    expect(parseBackupId(a)).toEqual({ startedAt: new Date('2026-11-24T02:00:00Z'), schedule: 'nightly' });
    const ids = [backupId(new Date('2026-12-01T03:00:00Z'), 'monthly'), a, backupId(new Date('2026-11-25T02:00:00Z'), 'manual')];
    expect([...ids].sort()).toEqual([a, ids[2], ids[0]]);
    expect(parseBackupId('../etc')).toBeUndefined();
  });

  it('puts every object of a backup under its prefix, the manifest included', () => {
    expect(artifactKey('20261124T020000Z-nightly', 'postgres/gushen.dump', 'zstd')).toBe('backups/20261124T020000Z-nightly/postgres/gushen.dump.zst.age');
    expect(manifestKey('20261124T020000Z-nightly')).toBe('backups/20261124T020000Z-nightly/manifest.json');
    expect(backupIdOfKey('backups/20261124T020000Z-nightly/redis/dump.rdb.zst.age')).toBe('20261124T020000Z-nightly');
  });
});
