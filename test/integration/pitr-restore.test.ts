import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { loadIdentities } from '../../src/config/keys.js';
import { runRestore, type RestoreRunOptions } from '../../src/engine/restore.js';
import { resolveBackup } from '../../src/repository/catalog.js';
import { postgresSource } from '../../src/sources/postgres/index.js';
import { formatMicros } from '../../src/sources/postgres/pitr/wal-names.js';
import { loadConfig } from '../../src/sources/registry.js';
import { openStore } from '../../src/store/open.js';
import { silentLogger } from '../../src/util/log.js';
import { runCliProcess, type CliProcess } from '../support/cli-process.js';
import { commitTimes, pitrEnv, startArchiver, startDataDir, startPitrServer, type PitrEnv, type PitrServer } from '../support/pitr.js';

/** A time as an operator would write it, in Beijing time (+08:00), keeping the microseconds. */
function beijing(us: bigint): string {
  const shifted = formatMicros(us + 8n * 3600n * 1_000_000n);
  return `${shifted.slice(0, -1)}+08:00`;
}

/** Point-in-time recovery with real PostgreSQL 15: base backup + archived WAL replayed to a chosen moment. */
describe('restore --to-time: point-in-time recovery', () => {
  let server: PitrServer;
  let env: PitrEnv;
  let config: string;
  let archiver: CliProcess;
  let rows: Array<{ id: number; us: bigint }>;
  let n = 0;

  const restore = (toTime: string, extra: string[] = []) => {
    const dir = join(env.dir, `restored-${++n}`);
    return runCliProcess(['--config', config, 'restore', 'latest', '--only', 'postgres', '--to-time', toTime, '--pgdata', dir, ...extra]).then((r) => ({ ...r, dir }));
  };
  /** The same restore in this process (the CLI's start-up costs seconds each on a busy machine). */
  const restoreHere = async (toTime: string) => {
    const dir = join(env.dir, `restored-${++n}`);
    const cfg = await loadConfig(config);
    const store = openStore(cfg.store);
    const f = { toTime, pgdata: dir };
    const postgres = { ...(postgresSource.restoreOptions(f, { force: false, dryRun: false }) as object) };
    await runRestore({ postgres, store, manifest: await resolveBackup(store, 'latest'), identities: await loadIdentities(cfg), config: cfg, log: silentLogger, only: ['postgres'] } as RestoreRunOptions);
    return dir;
  };
  const idsIn = async (dir: string): Promise<number[]> => {
    const s = await startDataDir(dir);
    try {
      return (await s.query<{ id: number }>('app', 'select id from ev order by id')).rows.map((r) => Number(r.id));
    } finally {
      await s.stop();
    }
  };

  beforeAll(async () => {
    [server, env] = await Promise.all([startPitrServer(), pitrEnv()]);
    config = await env.writeConfig(server);
    await server.query('postgres', 'create database app');
    await server.query('app', 'create table ev (id serial primary key, note text not null)');
    ({ p: archiver } = await startArchiver(config));
    const backup = await runCliProcess(['--config', config, 'backup']);
    expect(backup.code, backup.stderr).toBe(0);
    // One row per transaction, with time between them; their commit times are what recovery_target_time sees.
    for (let i = 0; i < 30; i++) {
      await server.query('app', `insert into ev (note) values ('row ${i}')`);
      await new Promise((r) => setTimeout(r, 120));
    }
    rows = await commitTimes(server, 'app', 'ev');
    // Past partialUploadSeconds (1 s): the newest rows are in the store.
    await new Promise((r) => setTimeout(r, 2500));
  }, 240_000);

  afterAll(async () => {
    archiver?.signal('SIGTERM');
    await archiver?.exited;
    await Promise.all([server?.stop(), env?.cleanup()]);
  });

  it('holds every row committed at or before each of six targets and none after', async () => {
    expect(rows).toHaveLength(30);
    const targets: Array<{ text: string; expect: number[] }> = [];
    const upTo = (us: bigint) => rows.filter((r) => r.us <= us).map((r) => r.id);
    // Exactly a commit's time (inclusive), in UTC with microseconds.
    targets.push({ text: formatMicros(rows[4].us), expect: upTo(rows[4].us) });
    // One microsecond before a commit: that row is left out.
    targets.push({ text: formatMicros(rows[11].us - 1n), expect: upTo(rows[11].us - 1n) });
    // Half way between two commits, written in +08:00.
    const mid = (rows[17].us + rows[18].us) / 2n;
    targets.push({ text: beijing(mid), expect: upTo(mid) });
    // The very first and the very last row.
    targets.push({ text: formatMicros(rows[0].us), expect: [rows[0].id] });
    targets.push({ text: formatMicros(rows[29].us), expect: upTo(rows[29].us) });
    // After the last commit (nothing newer archived): everything.
    const after = rows[29].us + 500_000n;
    targets.push({ text: formatMicros(after), expect: rows.map((r) => r.id) });
    for (const t of targets) {
      const dir = await restoreHere(t.text);
      expect(await idsIn(dir), t.text).toEqual(t.expect);
      // Left stopped and ready to start, owned by postgres, with recovery finished.
      expect(await stat(join(dir, 'recovery.signal')).catch(() => undefined)).toBeUndefined();
      expect(await stat(join(dir, 'postmaster.pid')).catch(() => undefined)).toBeUndefined();
      expect((await stat(dir)).uid).toBe(Number(execFileSync('id', ['-u', 'postgres']).toString().trim()));
    }
  });

  it('restores to latest, reporting the last replayed commit', async () => {
    const r = await restore('latest', ['-o', 'json']);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const report = JSON.parse(r.stdout) as { postgres: { pitr: { lastReplayedTransaction: string; baseBackup: { backup: string } } } };
    // Ours, or a later one of autovacuum's (an ANALYZE of ev commits too).
    expect(report.postgres.pitr.lastReplayedTransaction >= formatMicros(rows[29].us)).toBe(true);
    expect(await idsIn(r.dir)).toEqual(rows.map((x) => x.id));
  });

  it('refuses, changing nothing, a target outside the recoverable window, a time without zone, and a directory that holds files', async () => {
    const before = await restore('2001-01-01T00:00:00Z');
    expect(before.code).toBe(2);
    expect(before.stderr).toMatch(/before the oldest base backup .*recoverable \d{4}-\d\d-\d\dT.* → \d{4}-/);
    expect(await stat(before.dir).catch(() => undefined)).toBeUndefined();
    const future = await restore(formatMicros(BigInt(Date.now() + 3_600_000) * 1000n));
    expect(future.code).toBe(2);
    expect(future.stderr).toMatch(/after the newest archived WAL/);
    const noZone = await restore('2026-11-24T10:00:00');
    expect(noZone.code).toBe(2);
    expect(noZone.stderr).toMatch(/with its zone/);
    const busy = join(env.dir, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'keep'), 'x');
    const full = await runCliProcess(['--config', config, 'restore', 'latest', '--only', 'postgres', '--to-time', 'latest', '--pgdata', busy]);
    expect(full.code).toBe(2);
    expect(full.stderr).toMatch(/must be a new or empty directory/);
    expect(await readdir(busy)).toEqual(['keep']);
  });
});
