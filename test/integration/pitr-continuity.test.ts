import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walSegmentKey } from '../../src/repository/layout.js';
import { FileStore } from '../../src/store/file.js';
import { listWal } from '../../src/sources/postgres/pitr/wal-store.js';
import { runCliProcess, type CliProcess } from '../support/cli-process.js';
import { pitrEnv, startArchiver, startDataDir, startPitrServer, type PitrEnv, type PitrServer } from '../support/pitr.js';

/** The archiver and PostgreSQL each restarted under load; the chain stays whole, and a hole is found and named. */
describe('PITR continuity: restarts without gaps, verify --wal, a missing segment, WAL retention', () => {
  let server: PitrServer;
  let env: PitrEnv;
  let config: string;
  let store: FileStore;
  let archiver: CliProcess | undefined;
  let inserted = 0;

  const cli = (args: string[]) => runCliProcess(['--config', config, ...args]);

  beforeAll(async () => {
    [server, env] = await Promise.all([startPitrServer(), pitrEnv()]);
    store = new FileStore(env.storeDir);
    config = await env.writeConfig(server);
    await server.query('postgres', 'create database app');
    await server.query('app', "create table load (id bigserial primary key, pad text not null default repeat('p', 300))");
    ({ p: archiver } = await startArchiver(config));
  }, 120_000);
  afterAll(async () => {
    archiver?.signal('SIGKILL');
    await Promise.all([server?.stop(), env?.cleanup()]);
  });

  it('keeps the chain whole across an archiver restart and a PostgreSQL restart mid-load; verify --wal and a restore to latest agree', async () => {
    const backup = await cli(['backup']);
    expect(backup.code, backup.stderr).toBe(0);
    let writing = true;
    const writer = (async () => {
      while (writing) {
        try {
          await server.query('app', 'insert into load (pad) select repeat($1, 300) from generate_series(1, 50)', ['q']);
          inserted += 50;
        } catch {
          // PostgreSQL is restarting
        }
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 2000));
      // The archiver restarts (SIGTERM: clean) while the load goes on; the slot holds WAL meanwhile.
      archiver!.signal('SIGTERM');
      expect((await archiver!.exited).code).toBe(0);
      await new Promise((r) => setTimeout(r, 1500));
      ({ p: archiver } = await startArchiver(config));
      await new Promise((r) => setTimeout(r, 1500));
      await server.restart();
      await new Promise((r) => setTimeout(r, 2500));
    } finally {
      writing = false;
      await writer;
    }
    const rows = Number((await server.query('app', 'select count(*) as n from load')).rows[0].n);
    expect(rows).toBe(inserted);
    expect(rows).toBeGreaterThan(500);
    await new Promise((r) => setTimeout(r, 2500)); // partialUploadSeconds (1) and the upload

    const verify = await cli(['verify', '--wal', '--deep']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/ok\s+WAL from base backup \S+: \d+ segments/);
    expect(verify.stdout).toMatch(/ok\s+WAL page headers: \d+ segments decrypted/);
    const list = await cli(['list']);
    expect(list.stdout).toMatch(/PostgreSQL point-in-time recovery: \d{4}-\S+ → \d{4}-\S+/);
    expect(list.stdout).not.toMatch(/holes/);

    const dir = join(env.dir, 'latest');
    const restore = await cli(['restore', 'latest', '--only', 'postgres', '--to-time', 'latest', '--pgdata', dir]);
    expect(restore.code, restore.stderr.slice(-3000)).toBe(0);
    const s = await startDataDir(dir);
    try {
      expect(Number((await s.query('app', 'select count(*) as n from load')).rows[0].n)).toBe(rows);
    } finally {
      await s.stop();
    }
  });

  it('a segment missing from the store fails verify --wal and the restore, naming it', async () => {
    const m = (await cli(['show', 'latest', '-o', 'json']));
    const base = (JSON.parse(m.stdout) as { artifacts: Array<{ kind: string; facts: { systemIdentifier: string; stopSegment: string } }> }).artifacts.find((a) => a.kind === 'pg_basebackup-tar')!.facts;
    const cat = await listWal(store, base.systemIdentifier);
    const full = cat.timelines.get(1)!.filter((e) => e.full && e.name > base.stopSegment);
    const victim = full[Math.floor(full.length / 2)];
    const key = walSegmentKey(base.systemIdentifier, victim.name);
    const saved = await store.get(key).then(async (s) => {
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    });
    await store.delete(key);
    try {
      const verify = await cli(['verify', '--wal']);
      expect(verify.code).toBe(1);
      expect(verify.stdout).toContain(`FAILED WAL from base backup`);
      expect(verify.stdout).toContain(`WAL segment ${victim.name} is missing`);
      const restore = await cli(['restore', 'latest', '--only', 'postgres', '--to-time', 'latest', '--pgdata', join(env.dir, 'holed')]);
      expect(restore.code).toBe(1);
      expect(restore.stderr).toContain(`WAL segment ${victim.name} is missing`);
      const show = await cli(['list']);
      expect(show.stdout).toContain(`holes: WAL segment ${victim.name} is missing`);
    } finally {
      const { Readable } = await import('node:stream');
      await store.put(key, Readable.from([saved]));
    }
    expect((await cli(['verify', '--wal'])).code).toBe(0);
  });

  it('prune removes WAL that no retained base backup needs, and only that', async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const second = await cli(['backup']);
    expect(second.code, second.stderr).toBe(0);
    const cfg = await env.writeConfig(server, {});
    // Keep one manual backup: the first goes, and the WAL before the second's base backup with it.
    const { readFile, writeFile } = await import('node:fs/promises');
    await writeFile(cfg, `${await readFile(cfg, 'utf8')}retention:\n  manual: 1\n`);
    const before = (await store.list('wal/')).length;
    const prune = await cli(['prune']);
    expect(prune.code, prune.stdout + prune.stderr).toBe(0);
    expect(prune.stdout).toMatch(/WAL of cluster \d+: deleted [1-9]\d* objects .*kept from [0-9A-F]{24}/);
    const kept = prune.stdout.match(/kept from ([0-9A-F]{24})/)![1];
    const segs = (await store.list('wal/')).map((o) => o.key.match(/\/([0-9A-F]{24})(\.partial)?\.zst\.age$/)?.[1]).filter((x): x is string => !!x);
    expect(segs.length).toBeLessThan(before);
    expect(segs.every((n) => n >= kept)).toBe(true);
    const verify = await cli(['verify', '--wal']);
    expect(verify.code, verify.stdout).toBe(0);
  });
});
