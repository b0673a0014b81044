import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Readable } from 'node:stream';
import { resolveBackup } from '../../src/repository/catalog.js';
import { prune } from '../../src/repository/prune.js';
import { serializeManifest } from '../../src/repository/manifest-json.js';
import { FileStore } from '../../src/store/file.js';
import { silentLogger } from '../../src/util/log.js';
import { syntheticManifest, writeSyntheticBackup } from '../support/synthetic-backups.js';
import { tempDir } from '../support/tmp.js';

const NOW = new Date('2026-11-24T12:00:00Z');
const config = (retention: Record<string, number> = {}) =>
  ({
    retention: { nightly: 14, monthly: 12, manual: 10, incompleteAfterHours: 24, ...retention },
    sources: { postgres: { url: 'postgres://x/' }, redis: { url: 'redis://x' } },
    schedules: { listen: '127.0.0.1:9464' },
  }) as never;

/** `id` of a backup started `daysAgo` days before NOW. */
function idAt(daysAgo: number, schedule = 'nightly'): string {
  const t = new Date(NOW.getTime() - daysAgo * 86_400_000);
  return `${t.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')}-${schedule}`;
}

/** A file store whose GET of some keys fails, like an S3 endpoint returning 503 or a reset connection. */
class FlakyStore extends FileStore {
  readonly failing = new Set<string>();
  override async get(key: string): Promise<Readable> {
    if (this.failing.has(key)) throw new Error(`GET ${key}: 503 SlowDown`);
    return super.get(key);
  }
}

let dir: { path: string; cleanup: () => Promise<void> };
let store: FlakyStore;
beforeEach(async () => {
  dir = await tempDir();
  store = new FlakyStore(dir.path);
});
afterEach(async () => {
  await dir.cleanup();
});

const ids = async () => [...new Set((await store.list('backups/')).map((o) => o.key.split('/')[1]))];

describe('prune never deletes a backup whose manifest it cannot read (issue 16, defect 1)', () => {
  it('a newer formatVersion, an extra field and a failed GET abort prune, naming each backup; nothing is deleted', async () => {
    const newer = idAt(10);
    const extra = idAt(9);
    const flaky = idAt(8);
    const good = idAt(1);
    const v2 = JSON.parse(serializeManifest(syntheticManifest(newer, ['postgres', 'redis'])));
    await writeSyntheticBackup(store, newer, ['postgres', 'redis'], { manifestText: JSON.stringify({ ...v2, formatVersion: 3 }) });
    const withExtra = JSON.parse(serializeManifest(syntheticManifest(extra, ['postgres', 'redis'])));
    await writeSyntheticBackup(store, extra, ['postgres', 'redis'], { manifestText: JSON.stringify({ ...withExtra, signature: 'x' }) });
    await writeSyntheticBackup(store, flaky, ['postgres', 'redis']);
    store.failing.add(`backups/${flaky}/manifest.json`);
    await writeSyntheticBackup(store, good, ['postgres', 'redis']);
    const before = await ids();

    const r = await prune({ store, config: config({ nightly: 1 }), log: silentLogger, now: NOW });
    expect(r.deleted).toEqual([]);
    expect(await ids()).toEqual(before);
    expect(r.errors.map((e) => e.id).sort()).toEqual([newer, extra, flaky].sort());
    expect(r.errors.find((e) => e.id === newer)?.error).toMatch(/formatVersion 3/);
    expect(r.errors.find((e) => e.id === flaky)?.error).toMatch(/503/);
    for (const id of [newer, extra, flaky]) expect(r.decisions.find((d) => d.id === id)?.action).toBe('keep');
  });

  it('once the manifest reads again, the same store is pruned normally', async () => {
    const old = idAt(8);
    await writeSyntheticBackup(store, old, ['postgres', 'redis']);
    await writeSyntheticBackup(store, idAt(1), ['postgres', 'redis']);
    store.failing.add(`backups/${old}/manifest.json`);
    expect((await prune({ store, config: config({ nightly: 1 }), log: silentLogger, now: NOW })).deleted).toEqual([]);
    store.failing.clear();
    const r = await prune({ store, config: config({ nightly: 1 }), log: silentLogger, now: NOW });
    expect(r.errors).toEqual([]);
    expect(r.deleted).toEqual([old]);
  });

  it('deletes only what is proven incomplete: no manifest, or a manifest saying Failed', async () => {
    const noManifest = idAt(5);
    const failed = idAt(4);
    await writeSyntheticBackup(store, noManifest, ['postgres'], { noManifest: true });
    await writeSyntheticBackup(store, failed, ['postgres', 'redis'], { status: 'Failed' });
    await writeSyntheticBackup(store, idAt(1), ['postgres', 'redis']);
    const r = await prune({ store, config: config(), log: silentLogger, now: NOW });
    expect(r.errors).toEqual([]);
    expect(r.deleted.sort()).toEqual([noManifest, failed].sort());
  });
});

describe('a backup --only run is not a full backup (issue 16, defect 2)', () => {
  it('retention keeps the newest Completed copy of every configured source, however many partial runs follow', async () => {
    const full = idAt(20, 'manual');
    await writeSyntheticBackup(store, full, ['postgres', 'redis']);
    const partial: string[] = [];
    for (let d = 15; d >= 1; d--) partial.push((await writeSyntheticBackup(store, idAt(d, 'manual'), ['postgres'])).id);
    const r = await prune({ store, config: config({ manual: 3 }), log: silentLogger, now: NOW });
    expect(r.errors).toEqual([]);
    expect(r.deleted.sort()).toEqual(partial.slice(0, -3).sort());
    expect((await ids()).sort()).toEqual([full, ...partial.slice(-3)].sort());
    expect(r.decisions.find((d) => d.id === full)?.reason).toMatch(/newest Completed copy of redis/);
  });

  it('keeps a PartiallyFailed backup that holds the only verified copy of a source', async () => {
    const pf = idAt(10);
    await writeSyntheticBackup(store, pf, ['redis', 'postgres'], { status: 'PartiallyFailed' }); // redis verified, postgres failed
    for (let d = 5; d >= 1; d--) await writeSyntheticBackup(store, idAt(d), ['postgres']);
    const r = await prune({ store, config: config({ nightly: 2 }), log: silentLogger, now: NOW });
    expect(r.errors).toEqual([]);
    expect(r.deleted).not.toContain(pf);
    expect(r.decisions.find((d) => d.id === pf)?.reason).toMatch(/redis/);
  });

  it('latest for a source is the newest Completed backup holding a verified artifact of it', async () => {
    const full = idAt(3, 'manual');
    await writeSyntheticBackup(store, full, ['postgres', 'redis']);
    const partial = idAt(2, 'manual');
    await writeSyntheticBackup(store, partial, ['postgres']);
    await writeSyntheticBackup(store, idAt(1, 'manual'), ['postgres', 'redis'], { status: 'PartiallyFailed' });
    expect((await resolveBackup(store, 'latest')).id).toBe(partial);
    expect((await resolveBackup(store, 'latest', { sources: ['postgres'] })).id).toBe(partial);
    expect((await resolveBackup(store, 'latest', { sources: ['redis'] })).id).toBe(full);
    expect((await resolveBackup(store, 'latest', { sources: ['postgres', 'redis'] })).id).toBe(full);
    await expect(resolveBackup(store, 'latest', { sources: ['kube'] })).rejects.toThrow(/no Completed backup .*kube/);
  });
});

describe('gushen-dr prune and list on an unreadable manifest', () => {
  it('prune exits 1 naming the backup and deletes nothing; list shows it Unreadable with the reason', async () => {
    const { writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { vi } = await import('vitest');
    const { runCli } = await import('../../src/cli.js');
    const newer = idAt(10);
    const v2 = JSON.parse(serializeManifest(syntheticManifest(newer, ['postgres'])));
    await writeSyntheticBackup(store, newer, ['postgres'], { manifestText: JSON.stringify({ ...v2, formatVersion: 3 }) });
    await writeSyntheticBackup(store, idAt(9), ['postgres'], { status: 'Failed' });
    const cfg = join(dir.path, 'gushen-dr.yaml');
    await writeFile(
      cfg,
      `store: { url: "file://${dir.path}" }\nencryption: { recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p] }\nsources:\n  postgres: { url: "postgres://u@h:5432/", databases: [gushen] }\n`,
    );
    const stdout: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (stdout.push(String(c)), true));
    try {
      const before = await ids();
      expect(await runCli(['node', 'gushen-dr', '--config', cfg, '--log-level', 'silent', 'prune'])).toBe(1);
      expect(await ids()).toEqual(before);
      expect(stdout.join('')).toContain(`prune stopped: could not read the manifest of ${newer}: nothing deleted`);
      stdout.length = 0;
      expect(await runCli(['node', 'gushen-dr', '--config', cfg, '--log-level', 'silent', 'list'])).toBe(0);
      expect(stdout.join('')).toMatch(new RegExp(`Unreadable ${newer}: manifest ${newer} has formatVersion 3`));
    } finally {
      vi.restoreAllMocks();
    }
  });
});
