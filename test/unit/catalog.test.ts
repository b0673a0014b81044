import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listBackups } from '../../src/repository/catalog.js';
import { FileStore } from '../../src/store/file.js';
import { tempDir } from '../support/tmp.js';

/** The catalog of a store holding the given objects (key → content). */
async function catalog(root: string, objects: Record<string, string>) {
  const store = new FileStore(root);
  for (const [key, text] of Object.entries(objects)) await store.put(key, Readable.from([Buffer.from(text)]));
  return listBackups(store);
}

describe('listBackups: artifacts of a backup whose manifest cannot be used', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir('gushen-dr-catalog-');
  });
  afterEach(async () => {
    await dir.cleanup();
  });

  it('counts artifact objects only: not the manifest, its signature or the backup log', async () => {
    const unreadable = '20260301T020000Z-nightly';
    const incomplete = '20260302T020000Z-nightly';
    const entries = await catalog(dir.path, {
      [`backups/${unreadable}/postgres/gushen.dump.zst.age`]: 'x',
      [`backups/${unreadable}/redis/dump.rdb.zst.age`]: 'x',
      [`backups/${unreadable}/log.jsonl`]: '{}\n',
      [`backups/${unreadable}/manifest.json.sig`]: 'sig',
      [`backups/${unreadable}/manifest.json`]: '{ not json',
      // Killed after writing its log, before the manifest.
      [`backups/${incomplete}/kube/ai-qtrd.tar.zst.age`]: 'x',
      [`backups/${incomplete}/log.jsonl`]: '{}\n',
    });
    expect(entries.map((e) => [e.id, e.status, e.objects, e.artifacts])).toEqual([
      [unreadable, 'Unreadable', 5, 2],
      [incomplete, 'Incomplete', 2, 1],
    ]);
  });

  it('an unreadable manifest without a signature or log: every other object is an artifact', async () => {
    const id = '20260301T020000Z-monthly';
    const entries = await catalog(dir.path, { [`backups/${id}/postgres/gushen.dump.zst.age`]: 'x', [`backups/${id}/manifest.json`]: '[]' });
    expect(entries.map((e) => [e.status, e.objects, e.artifacts])).toEqual([['Unreadable', 2, 1]]);
  });
});
