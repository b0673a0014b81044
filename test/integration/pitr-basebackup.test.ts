import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/repository/manifest-json.js';
import { FileStore } from '../../src/store/file.js';
import { readObjectText } from '../../src/store/text.js';
import type { BasebackupFacts } from '../../src/sources/postgres/pitr/facts.js';
import { parseLsn, parseSegmentName, segnoOfLsn } from '../../src/sources/postgres/pitr/wal-names.js';
import { listWal } from '../../src/sources/postgres/pitr/wal-store.js';
import { runCliProcess } from '../support/cli-process.js';
import { pitrEnv, startArchiver, startPitrServer, type PitrEnv, type PitrServer } from '../support/pitr.js';

/** `gushen-dr backup` with pitr.enabled: a streamed pg_basebackup whose WAL must be in the store. */
describe('base backups for point-in-time recovery', () => {
  let server: PitrServer;
  let env: PitrEnv;
  let store: FileStore;

  beforeAll(async () => {
    [server, env] = await Promise.all([startPitrServer(), pitrEnv()]);
    store = new FileStore(env.storeDir);
    await server.query('postgres', 'create database app');
    await server.query('app', "create table t as select g as id, repeat('b', 100) as pad from generate_series(1, 20000) g");
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), env?.cleanup()]);
  });

  const manifests = async () => {
    const keys = (await store.list('backups/')).filter((o) => o.key.endsWith('/manifest.json'));
    return Promise.all(keys.map(async (k) => parseManifest(await readObjectText(store, k.key), k.key)));
  };

  it('streams pg_basebackup into postgres/base.tar and is Completed once its WAL is stored; verify --deep reads it', async () => {
    const config = await env.writeConfig(server);
    const { p } = await startArchiver(config);
    try {
      const backup = await runCliProcess(['--config', config, 'backup']);
      expect(backup.code, backup.stderr).toBe(0);
      const [m] = await manifests();
      expect(m.status).toBe('Completed');
      expect(m.artifacts.map((a) => a.name)).toEqual(['postgres/app.dump', 'postgres/base.tar']);
      const base = m.artifacts.find((a) => a.kind === 'pg_basebackup-tar')!;
      const f = base.facts as BasebackupFacts;
      expect(f).toMatchObject({ type: 'postgres-basebackup', timeline: 1, walSegmentSize: 1024 * 1024 });
      expect(base.size).toBeGreaterThan(10 * 1024 * 1024);
      expect(Date.parse(f.walCheckedAt)).toBeGreaterThanOrEqual(Date.parse(f.stoppedAt));
      // Every segment from start to stop is stored as a finished segment.
      const cat = await listWal(store, f.systemIdentifier);
      const seg = f.walSegmentSize;
      const from = segnoOfLsn(parseLsn(f.startLsn), seg);
      const to = parseSegmentName(f.stopSegment, seg).segno;
      expect(to).toBeGreaterThanOrEqual(from);
      for (let s = from; s <= to; s++) expect(cat.timelines.get(1)!.find((e) => e.segno === s)?.full, `segment ${s}`).toBeDefined();

      const verify = await runCliProcess(['--config', config, 'verify', 'latest', '--deep']);
      expect(verify.code, verify.stderr + verify.stdout).toBe(0);
      expect(verify.stdout).toMatch(/ok\s+postgres\/base\.tar/);
      const show = await runCliProcess(['--config', config, 'show', 'latest']);
      expect(show.stdout).toContain(`WAL ${f.startSegment}..${f.stopSegment}`);
    } finally {
      p.signal('SIGTERM');
      await p.exited;
    }
  });

  it('without the archiver the base backup fails after pitr.walWaitSeconds, naming the missing segment; nothing is left of it', async () => {
    const config = await env.writeConfig(server, { walWaitSeconds: 3 });
    await new Promise((r) => setTimeout(r, 1100)); // a new backup id
    const backup = await runCliProcess(['--config', config, 'backup']);
    expect(backup.code).toBe(1);
    const m = (await manifests()).at(-1)!;
    expect(m.status).toBe('PartiallyFailed');
    expect(m.artifacts.map((a) => a.name)).toEqual(['postgres/app.dump']);
    expect(m.failures).toHaveLength(1);
    expect(m.failures[0].artifact).toBe('postgres/base.tar');
    expect(m.failures[0].error).toMatch(/WAL segment 00000001[0-9A-F]{16} is (missing|not stored yet) after waiting 3 s .*is gushen-dr wal-archive running\?/);
    expect((await store.list(`backups/${m.id}/`)).map((o) => o.key).filter((k) => k.includes('base.tar'))).toEqual([]);
  });
});
