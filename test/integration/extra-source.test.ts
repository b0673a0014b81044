import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../src/config/schema.js';
import { loadIdentities } from '../../src/config/keys.js';
import { runBackup } from '../../src/engine/backup.js';
import { verifyBackup } from '../../src/engine/verify.js';
import { runRestore } from '../../src/engine/restore.js';
import { runDrill } from '../../src/engine/drill/run.js';
import { resolveBackup } from '../../src/repository/catalog.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { openStore } from '../../src/store/open.js';
import { SOURCES } from '../../src/sources/registry.js';
import { silentLogger } from '../../src/util/log.js';
import { notesSource } from '../support/notes-source.js';
import { registryConfig } from '../support/source-round-trip.js';
import { tempDir } from '../support/tmp.js';

// The registry is the only place listing the sources: a source added to it is backed up, verified, restored and
// drilled by the unchanged engine; and a backup holding a source this gushen-dr does not know fails a whole
// restore and a drill loudly instead of being silently left out.
describe('a source added to the registry, and nowhere else', () => {
  const registry = [...SOURCES, notesSource];
  let dir: { path: string; cleanup: () => Promise<void> };
  let config: Config;
  let manifest: Manifest;
  const notes = { 'a.txt': 'first note', 'b.md': '# 第二条笔记\n', 'c.json': '{"n":3}' };

  beforeAll(async () => {
    dir = await tempDir('gushen-dr-extra-source-');
    const src = join(dir.path, 'notes');
    await mkdir(src);
    for (const [f, t] of Object.entries(notes)) await writeFile(join(src, f), t);
    // The config schema a registry with this source derives: the same function the real registry calls.
    config = await registryConfig(registry, dir.path, { notes: { dir: src } });
    manifest = await runBackup({ config, store: openStore(config.store), schedule: 'manual', log: silentLogger, registry });
  });
  afterAll(async () => {
    await dir?.cleanup();
  });

  it('is backed up into a Completed backup, read back and deep-verified', async () => {
    expect(manifest.status).toBe('Completed');
    expect(manifest.sources).toEqual(['notes']);
    expect(manifest.artifacts.map((a) => [a.name, a.kind, a.verifiedAt !== undefined])).toEqual([['notes/files.json', 'notes-json', true]]);
    const results = await verifyBackup({ store: openStore(config.store), manifest, config, log: silentLogger, deep: { identities: await loadIdentities(config) }, registry });
    expect(results).toEqual([{ artifact: 'notes/files.json', ok: true, checks: ['stored size and SHA-256', 'decrypted, plaintext SHA-256, source check'] }]);
  });

  it('is restored by a whole restore (no --only), with its own options', async () => {
    const target = join(dir.path, 'restored');
    const m = await resolveBackup(openStore(config.store), 'latest');
    const report = await runRestore({
      store: openStore(config.store),
      manifest: m,
      identities: await loadIdentities(config),
      config,
      log: silentLogger,
      registry,
      ...({ notes: { targetDir: target } } as object),
    });
    expect(report.failed).toBe(0);
    expect(report.items).toEqual([{ item: `notes → ${target}`, result: 'restored', detail: '3 files' }]);
    expect((await readdir(target)).sort()).toEqual(Object.keys(notes));
    for (const [f, t] of Object.entries(notes)) expect(await readFile(join(target, f), 'utf8')).toBe(t);
  });

  it('takes part in the drill: restored into scratch, checked against the manifest, cleaned up', async () => {
    const r = await runDrill({ store: openStore(config.store), config, log: silentLogger, identities: await loadIdentities(config), registry });
    expect(r.failure).toBeUndefined();
    expect(r.status).toBe('Passed');
    expect(r.phases.map((p) => p.name)).toEqual(['select', 'scratch', 'notes', 'data', 'cleanup']);
    expect(r.checks).toEqual([{ kind: 'notes', name: 'notes files', ok: true, expected: 3, actual: 3 }]);
    expect(r.cleanup.done).toBe(true);
    expect(await readdir(config.scratchDir!)).toEqual([]);
  });

  it('fails a whole restore loudly, before touching anything, where the registry lacks it', async () => {
    const target = join(dir.path, 'not-restored');
    await expect(
      runRestore({ store: openStore(config.store), manifest, identities: await loadIdentities(config), config, log: silentLogger }),
    ).rejects.toThrow(/artifact notes\/files\.json belongs to source "notes", which this gushen-dr does not know/);
    await expect(readdir(target)).rejects.toThrow(/ENOENT/);
  });

  it('fails a drill loudly where the registry lacks it', async () => {
    const r = await runDrill({ store: openStore(config.store), config, log: silentLogger, identities: await loadIdentities(config) });
    expect(r.status).toBe('Failed');
    expect(r.failure).toEqual({ phase: 'select', error: expect.stringMatching(/source "notes", which this gushen-dr does not know/) });
  });
});
