/**
 * `restore --dry-run` changes nothing anywhere and prints the plan, against real servers: a PostgreSQL server
 * (its database list, every table's rows, its write counters), Redis targets (DEBUG DIGEST, LASTSAVE,
 * rdb_changes_since_last_save, the commands they ran) and an offline data directory (file listing and mtimes),
 * with and without --force, through the engine and once through the CLI.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/engine/backup.js';
import { runRestore, type RestoreRunOptions, type RestoreRunReport } from '../../src/engine/restore.js';
import { type Config } from '../../src/config/schema.js';
import { configSchema } from '../../src/sources/registry.js';
import { generateX25519Identity, parseIdentity, type Identity } from '../../src/crypto/index.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { FileStore } from '../../src/store/file.js';
import { silentLogger } from '../../src/util/log.js';
import { runCliProcess } from '../support/cli-process.js';
import { createPlatformDataset } from '../support/pg-dataset.js';
import { fillRedis } from '../support/redis-dataset.js';
import { freePort, waitFor } from '../support/ports.js';
import { startPostgres, withClient, type TestPostgres } from '../support/postgres.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';

const PG_PASSWORD = 'DryRunPw7x';
const REDIS_PASSWORD = 'dry-Run-Redis-4k';

/** Everything observable about the PostgreSQL server that a restore would change. */
async function pgState(server: TestPostgres, db: string) {
  const databases = (await server.query('postgres', 'select datname from pg_catalog.pg_database order by 1')).rows.map((r) => r.datname);
  const { tables, schema } = await withClient(server.urlFor(db), async (c) => {
    const list = (await c.query<{ s: string; n: string }>(
      "select n.nspname as s, c.relname as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r','p') and n.nspname not in ('pg_catalog','information_schema') order by 1, 2",
    )).rows;
    const out: Record<string, string> = {};
    for (const t of list) {
      const q = `"${t.s}"."${t.n}"`;
      out[`${t.s}.${t.n}`] = (await c.query(`select count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' order by x::text)), '') as sum from ${q} x`)).rows[0].sum;
    }
    const cols = (await c.query("select md5(string_agg(table_schema||'.'||table_name||'.'||column_name||':'||data_type, ',' order by 1)) as h from information_schema.columns where table_schema not in ('pg_catalog','information_schema')")).rows[0].h;
    return { tables: out, schema: cols as string };
  });
  // Written-row counters of the database (reads never move them).
  const writes = (await server.query('postgres', 'select tup_inserted, tup_updated, tup_deleted from pg_stat_database where datname = $1', [db])).rows[0];
  return { databases, tables, schema, writes };
}

/** Calls per command so far (`INFO commandstats`). */
async function commandCalls(c: Redis): Promise<Map<string, number>> {
  const text = await c.info('commandstats');
  return new Map([...text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
}

/** Commands that only read (what the dry run and this test's own probes may have run; REPLCONF: the replica's acks). */
const READ_COMMANDS = new Set(['info', 'auth', 'select', 'ping', 'hello', 'client|setname', 'client|setinfo', 'debug', 'lastsave', 'dbsize', 'command', 'command|docs', 'replconf']);

async function redisState(r: TestRedis) {
  const c = r.client();
  const [digest, lastsave, persistence, keyspace] = await Promise.all([c.call('DEBUG', 'DIGEST'), c.lastsave(), c.info('persistence'), c.info('keyspace')]);
  const changes = /rdb_changes_since_last_save:(\d+)/.exec(persistence)![1];
  // avg_ttl moves with the clock; the key and expire counts do not.
  return { digest, lastsave, changes, keyspace: keyspace.trim().replace(/,avg_ttl=\d+/g, '') };
}

async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const s = await stat(p);
      out.push(`${p.slice(dir.length)} ${s.size} ${s.mtimeMs}`);
      if (e.isDirectory()) await walk(p);
    }
  };
  out.push(`. ${(await stat(dir)).mtimeMs}`);
  await walk(dir);
  return out.sort();
}

describe('restore --dry-run changes nothing and prints the plan', () => {
  let pgServer: TestPostgres;
  let redisSource: TestRedis;
  let redisTarget: TestRedis;
  let replica: TestRedis;
  let dir: { path: string; cleanup: () => Promise<void> };
  let config: Config;
  let identities: Identity[];
  let store: FileStore;
  let manifest: Manifest;
  let pgUrl: string;

  const dryRun = (parts: Partial<RestoreRunOptions>, only: RestoreRunOptions['only']): Promise<RestoreRunReport> =>
    runRestore({ store, manifest, identities, config, log: silentLogger, only, ...parts });
  const item = (r: RestoreRunReport, name: string) => r.items.find((i) => i.item === name);

  beforeAll(async () => {
    dir = await tempDir();
    [pgServer, redisSource, redisTarget] = await Promise.all([
      startPostgres({ password: PG_PASSWORD }),
      startRedis({ password: REDIS_PASSWORD }),
      startRedis({ password: REDIS_PASSWORD, extraArgs: ['--enable-debug-command', 'local'] }),
    ]);
    replica = await startRedis({ password: REDIS_PASSWORD, replicaOf: redisTarget, extraArgs: ['--enable-debug-command', 'local'] });
    pgUrl = `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${pgServer.port}/`;
    await pgServer.query('postgres', 'create database gushen');
    await createPlatformDataset(pgServer.urlFor('gushen'), { rows: 2_000 });
    await fillRedis(redisSource.client(), { keys: 300, large: false, streams: false });
    await fillRedis(redisTarget.client(), { keys: 120, seed: 7, large: false, streams: false });
    await waitFor('replica sync', async () => ((await replica.client().info('replication')).includes('master_link_status:up') ? true : undefined));
    await redisTarget.client().bgsave();
    await waitFor('target BGSAVE', async () => ((await redisTarget.client().info('persistence')).includes('rdb_bgsave_in_progress:0') ? true : undefined));
    const key = generateX25519Identity();
    identities = [parseIdentity(key.identity)];
    const identityFile = join(dir.path, 'identity.txt');
    await writeFile(identityFile, `${key.identity}\n`, { mode: 0o600 });
    const raw = {
      store: { url: `file://${dir.path}/store` },
      encryption: { recipients: [key.recipient], identityFile },
      sources: { postgres: { url: pgUrl, databases: ['gushen'] }, redis: { url: redisSource.url, method: 'file' } },
    };
    config = configSchema.parse(raw);
    await writeFile(join(dir.path, 'gushen-dr.yaml'), JSON.stringify(raw));
    store = new FileStore(`${dir.path}/store`);
    manifest = await runBackup({ config, store, schedule: 'manual', only: ['postgres', 'redis'], log: silentLogger });
    expect(manifest.status).toBe('Completed');
  });

  afterAll(async () => {
    await Promise.all([pgServer?.stop(), redisSource?.stop(), replica?.stop()]);
    await redisTarget?.stop();
    await dir?.cleanup();
  });

  it('PostgreSQL, --force into the live database: nothing dropped or written; the plan names the target, what it holds and the backup', async () => {
    const before = await pgState(pgServer, 'gushen');
    const r = await dryRun({ postgres: { pgUrl, database: 'gushen', force: true, dryRun: true } }, ['postgres']);
    expect(await pgState(pgServer, 'gushen')).toEqual(before);
    expect(r.failed).toBe(0);
    const line = item(r, 'postgres database gushen')!;
    expect(line.result).toBe('would-restore');
    expect(line.detail).toMatch(new RegExp(`^"gushen" on postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${pgServer.port}/ exists with \\d+ tables \\(.*\\), [\\d.]+ MiB: --force would drop and replace the backup's objects in it \\(pg_restore --clean --if-exists\\); backup: \\d+ tables, \\d+ rows, `));
    const facts = manifest.artifacts.find((a) => a.name === 'postgres/gushen.dump')!.facts;
    const rows = facts.type === 'postgres' ? facts.tables.reduce((s, t) => s + t.rows, 0) : -1;
    expect(line.detail).toContain(`backup: ${facts.type === 'postgres' ? facts.tables.length : -1} tables, ${rows} rows`);
    expect(item(r, 'postgres pg_restore')?.result).toBe('would-restore');
    expect(JSON.stringify(r)).not.toContain(PG_PASSWORD);
    const db = (r.postgres as any).databases[0];
    expect(db.targetState).toMatchObject({ exists: true, tables: Object.keys(before.tables).length });
  });

  it('PostgreSQL: a new name would be created (and is not); an occupied one without --force would be refused', async () => {
    const before = await pgState(pgServer, 'gushen');
    const fresh = await dryRun({ postgres: { pgUrl, database: 'gushen_copy', dryRun: true } }, ['postgres']);
    expect(item(fresh, 'postgres database gushen → gushen_copy')).toMatchObject({ result: 'would-restore', detail: expect.stringMatching(/^"gushen_copy" on \S+ does not exist: it would be created \(from template0\) and restored; backup: /) });
    const refused = await dryRun({ postgres: { pgUrl, database: 'gushen', dryRun: true } }, ['postgres']);
    expect(refused.failed).toBe(1);
    expect(item(refused, 'postgres database gushen')).toMatchObject({ result: 'failed', detail: expect.stringContaining('the restore would be refused without --force') });
    expect(await pgState(pgServer, 'gushen')).toEqual(before);
    expect(before.databases).not.toContain('gushen_copy');
  });

  it('PostgreSQL: a target the dry run cannot reach fails the plan, saying why', async () => {
    const closed = await freePort();
    const r = await dryRun({ postgres: { pgUrl: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${closed}/`, dryRun: true } }, ['postgres']);
    expect(r.failed).toBe(1);
    expect(item(r, 'postgres database gushen')).toMatchObject({ result: 'failed', detail: expect.stringMatching(/the dry run cannot see the target: cannot connect to PostgreSQL .*ECONNREFUSED/) });
    expect(JSON.stringify(r)).not.toContain(PG_PASSWORD);
  });

  it('Redis online, --force into a non-empty master with a replica: nothing flushed or written anywhere', async () => {
    const before = await redisState(redisTarget);
    const replicaBefore = await redisState(replica);
    const calls = await commandCalls(redisTarget.client());
    const r = await dryRun({ redis: { redisUrl: redisTarget.url, force: true, dryRun: true } }, ['redis']);
    expect(await redisState(redisTarget)).toEqual(before);
    expect(await redisState(replica)).toEqual(replicaBefore);
    const after = await commandCalls(redisTarget.client());
    const ran = [...after].filter(([cmd, n]) => n !== (calls.get(cmd) ?? 0)).map(([cmd]) => cmd);
    expect(ran.filter((cmd) => !READ_COMMANDS.has(cmd))).toEqual([]);
    expect(r.failed).toBe(0);
    const perDb = [...before.keyspace.matchAll(/^db(\d+):keys=(\d+)/gm)].map((m) => `db${m[1]}: ${m[2]}`);
    const keys = [...before.keyspace.matchAll(/keys=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    const db0Now = Number(/^db0:keys=(\d+)/m.exec(before.keyspace)![1]);
    expect(item(r, 'redis target')).toMatchObject({
      result: 'would-restore',
      detail: expect.stringMatching(new RegExp(`^redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redisTarget.port}/? \\(online; Redis [\\d.]+, master, 1 connected replica would follow the restore as it happens \\(not fenced\\)\\): holds ${keys} keys \\(${perDb.join(', ')}\\): --force would FLUSHALL them first$`)),
    });
    const facts = manifest.artifacts.find((a) => a.name === 'redis/dump.rdb')!.facts;
    const db0 = facts.type === 'redis' ? facts.databases.find((d) => d.db === 0)! : undefined;
    expect(item(r, 'redis db0')).toMatchObject({ result: 'would-restore', detail: `backup: ${db0!.keys} keys, ${db0!.expires} with a TTL; db0 holds ${db0Now} keys now` });
    expect(JSON.stringify(r)).not.toContain(REDIS_PASSWORD);
  });

  it('Redis online: refused without --force, a replica refused, an unreachable target fails the plan', async () => {
    const before = await redisState(redisTarget);
    const noForce = await dryRun({ redis: { redisUrl: redisTarget.url, dryRun: true } }, ['redis']);
    expect(item(noForce, 'redis target')).toMatchObject({ result: 'failed', detail: expect.stringContaining('the restore would be refused without --force') });
    const intoReplica = await dryRun({ redis: { redisUrl: replica.url, force: true, dryRun: true } }, ['redis']);
    expect(item(intoReplica, 'redis target')).toMatchObject({ result: 'failed', detail: expect.stringContaining(`a replica of 127.0.0.1:${redisTarget.port}: the restore would be refused`) });
    const closed = await freePort();
    const gone = await dryRun({ redis: { redisUrl: `redis://127.0.0.1:${closed}`, dryRun: true } }, ['redis']);
    expect(item(gone, 'redis target')).toMatchObject({ result: 'failed', detail: expect.stringMatching(/the dry run cannot see the target: cannot connect to Redis .*ECONNREFUSED/) });
    expect(gone.failed).toBeGreaterThan(0);
    expect(await redisState(redisTarget)).toEqual(before);
  });

  it('password files (--pg-password-file, --redis-password-file): the plan reads the targets with them', async () => {
    await writeFile(join(dir.path, 'pg.pw'), `${PG_PASSWORD}\n`, { mode: 0o600 });
    await writeFile(join(dir.path, 'redis.pw'), `${REDIS_PASSWORD}\n`, { mode: 0o600 });
    const r = await dryRun(
      {
        postgres: { pgUrl: `postgres://postgres@127.0.0.1:${pgServer.port}/`, passwordFile: join(dir.path, 'pg.pw'), database: 'gushen', force: true, dryRun: true },
        redis: { redisUrl: `redis://127.0.0.1:${redisTarget.port}`, passwordFile: join(dir.path, 'redis.pw'), force: true, dryRun: true },
      },
      ['postgres', 'redis'],
    );
    expect(r.items.filter((i) => i.result === 'failed')).toEqual([]);
    expect(item(r, 'postgres database gushen')?.detail).toMatch(/exists with \d+ tables/);
    expect(item(r, 'redis target')?.detail).toMatch(/--force would FLUSHALL them first$/);
    expect(JSON.stringify(r)).not.toContain(PG_PASSWORD);
    expect(JSON.stringify(r)).not.toContain(REDIS_PASSWORD);
  });

  it('Redis offline: a data directory holding data is listed, not touched (with and without --force); a missing one is not created', async () => {
    const dataDir = join(dir.path, 'redis-data');
    await mkdir(join(dataDir, 'appendonlydir'), { recursive: true });
    await writeFile(join(dataDir, 'dump.rdb'), 'REDIS0010 not really');
    await writeFile(join(dataDir, 'appendonlydir', 'appendonly.aof.1.base.rdb'), 'base');
    const before = await listing(dataDir);
    const forced = await dryRun({ redis: { dataDir, force: true, dryRun: true } }, ['redis']);
    expect(item(forced, 'redis data dir')).toMatchObject({
      result: 'would-restore',
      detail: `${dataDir} (offline) holds Redis data (dump.rdb, appendonlydir): --force would move it aside into pre-restore-<timestamp>/ and prepare the directory (AOF base and dump.rdb); room to stage redis/dump.rdb`,
    });
    const refused = await dryRun({ redis: { dataDir, dryRun: true } }, ['redis']);
    expect(item(refused, 'redis data dir')).toMatchObject({ result: 'failed', detail: expect.stringContaining('the restore would be refused without --force') });
    expect(await listing(dataDir)).toEqual(before);

    const missing = join(dir.path, 'not-yet', 'data');
    const planned = await dryRun({ redis: { dataDir: missing, dryRun: true } }, ['redis']);
    expect(item(planned, 'redis data dir')).toMatchObject({ result: 'would-restore', detail: expect.stringContaining(`${missing} (offline) does not exist: it would be created`) });
    await expect(stat(join(dir.path, 'not-yet'))).rejects.toThrow(/ENOENT/);
  });

  it('CLI: `restore latest --only postgres,redis --force --dry-run` changes nothing, prints both plans and exits 0', async () => {
    const pgBefore = await pgState(pgServer, 'gushen');
    const redisBefore = await redisState(redisTarget);
    const res = await runCliProcess([
      '--config', join(dir.path, 'gushen-dr.yaml'), '--log-level', 'warn',
      'restore', 'latest', '--only', 'postgres,redis', '--force', '--dry-run',
      '--pg-url', pgUrl, '--database', 'gushen', '--redis-url', redisTarget.url,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(await pgState(pgServer, 'gushen')).toEqual(pgBefore);
    expect(await redisState(redisTarget)).toEqual(redisBefore);
    expect(res.stdout).toMatch(/postgres database gushen +would-restore +"gushen" on postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/ exists with \d+ tables/);
    expect(res.stdout).toMatch(/redis target +would-restore +redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? \(online; .*--force would FLUSHALL them first/);
    expect(res.stdout).toMatch(/redis db0 +would-restore +backup: \d+ keys/);
    expect(res.stdout).toMatch(/\(dry run: nothing was changed\): ok\s*$/);
    expect(res.stdout + res.stderr).not.toContain(PG_PASSWORD);
    expect(res.stdout + res.stderr).not.toContain(REDIS_PASSWORD);
  });
});
