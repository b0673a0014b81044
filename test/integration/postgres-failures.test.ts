import type { ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactWriter } from '../../src/repository/artifact-writer.js';
import { backupPostgres, backupPostgresWith, type PostgresBackupHooks } from '../../src/sources/postgres/backup.js';
import type { BackupResult } from '../../src/sources/source.js';
import { type Config } from '../../src/config/schema.js';
import { configSchema } from '../../src/sources/registry.js';
import { generateX25519Identity } from '../../src/crypto/index.js';
import { FileStore } from '../../src/store/file.js';
import { openStore } from '../../src/store/open.js';
import type { S3Store } from '../../src/store/s3.js';
import type { ObjectStore } from '../../src/store/types.js';
import { OperationError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { createPlatformDataset } from '../support/pg-dataset.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { startS3, useS3rverCredentials, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

const PASSWORD = 'Fail-Pw-7x!';
const ID = '20260302T020000Z-manual';

describe('postgres backup failures are loud and leave nothing behind', () => {
  let server: TestPostgres;
  let s3: TestS3;
  let dir: { path: string; cleanup: () => Promise<void> };
  let recipient: string;

  const cfg = (postgres: Record<string, unknown>, store = `file://${dir.path}/store`): Config =>
    configSchema.parse({
      store: { url: store },
      encryption: { recipients: [recipient] },
      sources: { postgres: { url: `${server.url}/`, databases: ['gushen'], globals: false, ...postgres } },
    });

  const run = (config: Config, store: ObjectStore, hooks: PostgresBackupHooks = {}): Promise<BackupResult> =>
    backupPostgresWith(
      { backupId: ID, config, writer: new ArtifactWriter(store, ID, [recipient]), log: silentLogger, signal: new AbortController().signal },
      hooks,
    );

  /**
   * Kills pg_dump with SIGKILL once `afterBytes` of the dump's stream have reached the artifact writer (compressed
   * bytes when the zstd CLI reads pg_dump's stdout itself).
   */
  const killPgDumpAfter = (afterBytes: number): PostgresBackupHooks => {
    let dump: ChildProcess | undefined;
    return {
      onChild: (tool, _db, child) => {
        if (tool === 'pg_dump') dump = child;
      },
      onOutput: (tool, _db, output) => {
        if (tool !== 'pg_dump') return;
        let seen = 0;
        output.on('data', (c: Buffer) => {
          seen += c.length;
          if (seen >= afterBytes && dump && dump.exitCode === null && dump.signalCode === null) dump.kill('SIGKILL');
        });
      },
    };
  };

  beforeAll(async () => {
    useS3rverCredentials();
    [server, s3, dir] = await Promise.all([startPostgres({ password: PASSWORD }), startS3(), tempDir()]);
    await server.query('postgres', 'create database gushen');
    await createPlatformDataset(server.urlFor('gushen'), { rows: 100_000 });
    await server.query('postgres', "create role reader login password 'Reader-Pw-3'");
    // A typical application user: it can read the data, but not pg_authid.
    await server.query('gushen', 'grant usage on schema auth, market, trading, strategy, audit to reader');
    await server.query('gushen', 'grant select on all tables in schema auth, market, trading, strategy, audit to reader');
    await server.query('gushen', 'grant select on all sequences in schema auth, market, trading, strategy, audit to reader');
    recipient = generateX25519Identity().recipient;
  });

  afterAll(async () => {
    await Promise.all([server?.stop(), s3?.stop(), dir?.cleanup()]);
  });

  it('pg_dump killed mid-stream (file store): the artifact fails, nothing under its key, no temp file', async () => {
    const store = new FileStore(join(dir.path, 'store'));
    // zstd's output: a few hundred KiB into a dump of about 3 MiB compressed.
    const result = await run(cfg({}), store, killPgDumpAfter(256 * 1024));
    expect(result.artifacts).toEqual([]);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ source: 'postgres', artifact: 'postgres/gushen.dump' });
    expect(result.failures[0].error).toMatch(/pg_dump was killed by SIGKILL/);
    expect(await store.list('')).toEqual([]);
    expect(await readdir(join(dir.path, 'store', '.tmp'))).toEqual([]);
  });

  it('pg_dump killed mid-stream (S3): the multipart upload is aborted, never completed', async () => {
    const store = openStore(s3.storeConfig('killed')) as S3Store;
    const sent: string[] = [];
    (store as unknown as { client: S3Client }).client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    // Uncompressed, so that parts (5 MiB) are uploaded before pg_dump dies.
    const result = await run(cfg({ compression: 'none' }), store, killPgDumpAfter(14 * 1024 * 1024));
    expect(result.artifacts).toEqual([]);
    expect(result.failures[0].error).toMatch(/pg_dump was killed by SIGKILL/);
    expect(sent.filter((c) => c === 'CreateMultipartUploadCommand')).toHaveLength(1);
    expect(sent.filter((c) => c === 'UploadPartCommand').length).toBeGreaterThanOrEqual(1);
    expect(sent.filter((c) => c === 'AbortMultipartUploadCommand')).toHaveLength(1);
    expect(sent).not.toContain('CompleteMultipartUploadCommand');
    expect(await store.list('')).toEqual([]);
  });

  it('an interrupted backup (signal) stops pg_dump, stores nothing and skips the databases not started', async () => {
    const store = new FileStore(join(dir.path, 'store-abort'));
    const ac = new AbortController();
    let pgDumpExit: Promise<unknown> | undefined;
    const result = await backupPostgresWith(
      { backupId: ID, config: cfg({ databases: ['gushen', 'postgres'] }), writer: new ArtifactWriter(store, ID, [recipient]), log: silentLogger, signal: ac.signal },
      {
        onChild: (_tool, _db, child) => {
          pgDumpExit = new Promise((r) => child.once('close', (code, signal) => r({ code, signal })));
        },
        onOutput: (_tool, _db, output) => output.once('data', () => ac.abort(new Error('SIGTERM received'))),
      },
    );
    expect(result.artifacts).toEqual([]);
    expect(result.failures.map((f) => f.artifact)).toEqual(['postgres/gushen.dump', 'postgres/postgres.dump']);
    expect(result.failures[1].error).toBe('interrupted before it started');
    // pg_dump is gone, and did not finish (SIGTERM, or exit 1 on the closed pipe, whichever comes first).
    expect(await pgDumpExit).not.toEqual({ code: 0, signal: null });
    expect(await store.list('')).toEqual([]);
    expect(await readdir(join(dir.path, 'store-abort', '.tmp'))).toEqual([]);
  });

  it('a wrong password: the source fails with a clear message that does not contain the password', async () => {
    const store = new FileStore(join(dir.path, 'store-badpw'));
    const bad = cfg({ url: `postgres://postgres:${encodeURIComponent('Wrong-Pw-1')}@127.0.0.1:${server.port}/`, globals: true });
    const err = await run(bad, store).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/password authentication failed for user "postgres"/);
    expect(msg).toContain(`127.0.0.1:${server.port}`);
    expect(msg).not.toContain('Wrong-Pw-1');
    expect(await store.list('')).toEqual([]);
  });

  it('a missing database fails that database only, with its name', async () => {
    const store = new FileStore(join(dir.path, 'store-missing'));
    const result = await run(cfg({ databases: ['no_such_db', 'gushen'] }), store);
    expect(result.artifacts.map((a) => a.name)).toEqual(['postgres/gushen.dump']);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ artifact: 'postgres/no_such_db.dump' });
    expect(result.failures[0].error).toMatch(/database "no_such_db" does not exist/);
    expect(result.failures[0].error).not.toContain(PASSWORD);
    expect((await store.list('')).map((o) => o.key)).toEqual([`backups/${ID}/postgres/gushen.dump.zst.age`]);
  });

  it('a user who may not read roles: globals fail with the hint to disable them, databases still back up', async () => {
    const store = new FileStore(join(dir.path, 'store-reader'));
    const reader = { url: `postgres://reader:Reader-Pw-3@127.0.0.1:${server.port}/` };
    const result = await run(cfg({ ...reader, globals: true }), store);
    expect(result.artifacts.map((a) => a.name)).toEqual(['postgres/gushen.dump']);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0].artifact).toBe('postgres/globals.sql');
    expect(result.failures[0].error).toMatch(/user "reader" may not read roles/);
    expect(result.failures[0].error).toContain('set sources.postgres.globals: false');

    // With globals: false, nothing fails.
    const store2 = new FileStore(join(dir.path, 'store-reader2'));
    const ok = await run(cfg({ ...reader, globals: false }), store2);
    expect(ok.failures).toEqual([]);
    expect(ok.artifacts.map((a) => a.name)).toEqual(['postgres/gushen.dump']);
  });

  it('pg_dump cannot read a table: exit code and its error reach the failure', async () => {
    await server.query('gushen', 'create table public.secret_plans (id int)');
    await server.query('gushen', 'revoke all on public.secret_plans from public');
    // The reader can read every table but this one: the snapshot's counting or pg_dump fails, loudly.
    const store = new FileStore(join(dir.path, 'store-denied'));
    const result = await run(cfg({ url: `postgres://reader:Reader-Pw-3@127.0.0.1:${server.port}/` }), store);
    expect(result.artifacts).toEqual([]);
    expect(result.failures[0].error).toMatch(/permission denied for table secret_plans/);
    expect(await store.list('')).toEqual([]);
    await server.query('gushen', 'drop table public.secret_plans');
  });

  it('the exported API runs with the default hooks', async () => {
    const store = new FileStore(join(dir.path, 'store-plain'));
    const config = cfg({ compression: 'gzip', compressionLevel: 6 });
    const result = await backupPostgres({
      backupId: ID,
      config,
      writer: new ArtifactWriter(store, ID, [recipient]),
      log: silentLogger,
      signal: new AbortController().signal,
    });
    expect(result.failures).toEqual([]);
    expect(result.artifacts[0].key).toBe(`backups/${ID}/postgres/gushen.dump.gz.age`);
    expect(result.artifacts[0].compression).toBe('gzip');
  });
});
