/**
 * `gushen-dr check` through the real CLI against real servers (s3rver, PostgreSQL 15, redis-server): a good config
 * passes every row (exit 0); each broken thing fails its own row, naming it, and only that row (exit 1).
 * s3rver does check credentials (an unknown access key id is InvalidAccessKeyId), so wrong credentials are tested
 * as they are; a bucket that does not exist is tested too.
 */
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { formatIdentityFile, generateX25519Identity } from '../../src/crypto/index.js';
import { runCliProcess } from '../support/cli-process.js';
import { freePort } from '../support/ports.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startS3, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

interface Row {
  check: string;
  status: 'ok' | 'failed' | 'skipped';
  detail: string;
}

describe('gushen-dr check', () => {
  let s3: TestS3;
  let pg: TestPostgres;
  let redis: TestRedis;
  let dir: { path: string; cleanup: () => Promise<void> };
  let identityFile: string;
  let otherIdentityFile: string;
  let recipient: string;
  let backupId: string;
  let n = 0;

  beforeAll(async () => {
    dir = await tempDir();
    [s3, pg, redis] = await Promise.all([startS3(), startPostgres(), startRedis({ save: '', appendonly: false })]);
    await pg.query('postgres', 'create database gushen');
    await pg.query('gushen', 'create table orders (id serial primary key, note text); create table secrets (id int); insert into orders (note) values (\'a\'), (\'b\')');
    // A login role that may read orders (and its sequence) but not secrets.
    await pg.query('gushen', "create role reader login; grant connect on database gushen to reader; grant usage on schema public to reader; grant select on orders, orders_id_seq to reader");
    await redis.client().set('k', 'v');
    const id = generateX25519Identity();
    recipient = id.recipient;
    identityFile = join(dir.path, 'dr.key');
    await writeFile(identityFile, formatIdentityFile(id.identity, id.recipient, new Date()), { mode: 0o600 });
    const other = generateX25519Identity();
    otherIdentityFile = join(dir.path, 'other.key');
    await writeFile(otherIdentityFile, formatIdentityFile(other.identity, other.recipient, new Date()), { mode: 0o600 });
    // One backup, so that the identity has something to be compared with.
    const r = await runCliProcess(['--config', await writeConfig(), 'backup'], { env: s3.env });
    expect(r.code, r.stderr).toBe(0);
    backupId = r.stdout.trim().split('\n').at(-1)!;
  }, 180_000);
  afterAll(async () => {
    await Promise.all([s3?.stop(), pg?.stop(), redis?.stop()]);
    await dir?.cleanup();
  });

  async function writeConfig(over: { store?: Record<string, unknown>; postgres?: Record<string, unknown>; identityFile?: string } = {}): Promise<string> {
    const base = s3.storeConfig('check');
    const file = join(dir.path, `config-${++n}.yaml`);
    await writeFile(
      file,
      stringify({
        store: { ...base, ...over.store, s3: { ...base.s3, ...(over.store?.s3 as object | undefined) } },
        encryption: { recipients: [recipient], identityFile: over.identityFile ?? identityFile },
        sources: {
          postgres: { url: `${pg.url}/`, databases: ['gushen'], globals: false, ...over.postgres },
          redis: { url: redis.url, method: 'file' },
        },
      }),
    );
    return file;
  }

  async function check(config: string, args: string[] = [], env: Record<string, string> = s3.env) {
    const r = await runCliProcess(['--config', config, '-o', 'json', 'check', ...args], { env });
    let rows: Row[] = [];
    try {
      rows = (JSON.parse(r.stdout) as { checks: Row[] }).checks;
    } catch {
      // asserted below
    }
    return { ...r, rows, failed: rows.filter((x) => x.status === 'failed') };
  }

  const row = (rows: Row[], name: string) => rows.find((r) => r.check === name);

  it('a good config: every row ok (or skipped), exit 0, and the probe object is gone', async () => {
    const cfg = await writeConfig();
    for (const command of ['backup', 'restore', 'drill']) {
      const r = await check(cfg, ['--for', command]);
      expect(r.code, `${command}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.failed).toEqual([]);
      expect(row(r.rows, 'store write')?.status).toBe('ok');
      expect(row(r.rows, 'encryption identity')).toMatchObject({ status: 'ok', detail: expect.stringContaining(backupId) });
      expect(row(r.rows, 'redis-server (restore tool)')?.status).toBe('ok');
    }
    const r = await check(cfg);
    expect(r.rows.map((x) => x.check)).toEqual(
      expect.arrayContaining(['store write', 'store backups', 'encryption recipients', 'scratch space', 'postgres database gushen', 'postgres pg_dump', 'redis server']),
    );
    expect(row(r.rows, 'postgres database gushen')?.detail).toMatch(/may read all 2 tables/);
    expect(row(r.rows, 'postgres pg_dump')?.detail).toMatch(/^pg_dump 1\d\.\d+ .* for PostgreSQL 15/);
    const table = await runCliProcess(['--config', cfg, 'check'], { env: s3.env });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^CHECK\s+STATUS\s+DETAIL/);
    expect(table.stdout).toMatch(/ready to backup: \d+ checks, none failed/);
    const left = await readdir(join(s3.dir), { recursive: true });
    expect(left.filter((f) => String(f).includes('checks'))).toEqual([]);
  }, 180_000);

  it('a dead S3 endpoint: the store rows fail naming the operation, bucket, key and endpoint', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await check(await writeConfig({ store: { s3: { endpoint: dead, maxAttempts: 1 } } }));
    expect(r.code, r.stderr).toBe(1);
    expect(r.failed.map((x) => x.check)).toEqual(['store write', 'store backups']);
    expect(row(r.rows, 'store write')?.detail).toMatch(new RegExp(`^s3 PutObject s3://${s3.bucket}/check/checks/[0-9a-f]{16} at ${dead}: .*ECONNREFUSED`));
    expect(row(r.rows, 'store backups')?.detail).toMatch(new RegExp(`^s3 ListObjectsV2 s3://${s3.bucket}/check/backups/ at ${dead}: `));
    // The sources are checked all the same.
    expect(row(r.rows, 'postgres database gushen')?.status).toBe('ok');
  }, 120_000);

  it('wrong S3 credentials (s3rver checks the access key): InvalidAccessKeyId, naming the bucket and endpoint', async () => {
    const r = await check(await writeConfig(), [], { ...s3.env, AWS_ACCESS_KEY_ID: 'NOT-A-KEY' });
    expect(r.code, r.stderr).toBe(1);
    expect(r.failed.map((x) => x.check)).toContain('store write');
    expect(row(r.rows, 'store write')?.detail).toMatch(new RegExp(`^s3 PutObject s3://${s3.bucket}/check/checks/\\S+ at ${s3.endpoint}: InvalidAccessKeyId`));
  }, 120_000);

  it('a bucket that does not exist: NoSuchBucket, naming it', async () => {
    const r = await check(await writeConfig({ store: { url: 's3://no-such-bucket/check' } }));
    expect(r.code, r.stderr).toBe(1);
    expect(row(r.rows, 'store write')?.detail).toMatch(new RegExp(`^s3 PutObject s3://no-such-bucket/check/checks/\\S+ at ${s3.endpoint}: NoSuchBucket`));
  }, 120_000);

  it('an identity that is not a recipient of the latest backup: its row fails, naming the backup', async () => {
    const r = await check(await writeConfig({ identityFile: otherIdentityFile }), ['--for', 'restore']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.failed.map((x) => x.check)).toEqual(['encryption identity']);
    expect(r.failed[0].detail).toContain(`identity file ${otherIdentityFile}: artifact `);
    expect(r.failed[0].detail).toContain(`of backup ${backupId}: no identity matched`);
  }, 120_000);

  it('restore and drill with that identity stop before anything is read: exit 2 naming the backup, and the drill fails in select', async () => {
    const cfg = await writeConfig({ identityFile: otherIdentityFile });
    const target = await startRedis({ save: '', appendonly: false });
    try {
      const r = await runCliProcess(['--config', cfg, 'restore', 'latest', '--only', 'redis', '--redis-url', target.url], { env: s3.env });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`artifact redis/dump\\.rdb of backup ${backupId}: no identity matched`));
      expect(await target.client().dbsize()).toBe(0);
      const d = await runCliProcess(['--config', cfg, '-o', 'json', 'drill'], { env: s3.env });
      expect(d.code, d.stderr).toBe(1);
      const report = JSON.parse(d.stdout) as { failure?: { phase: string; error: string }; phases: Array<{ name: string }> };
      expect(report.failure?.phase).toBe('select');
      expect(report.failure?.error).toContain(`of backup ${backupId}: no identity matched`);
      expect(report.phases.map((p) => p.name)).not.toContain('scratch');
    } finally {
      await target.stop();
    }
  }, 180_000);

  it('a PostgreSQL user who may not read a table: its database row fails, naming the table', async () => {
    const url = `postgres://reader@127.0.0.1:${pg.port}/`;
    const r = await check(await writeConfig({ postgres: { url } }));
    expect(r.code, r.stderr).toBe(1);
    expect(r.failed.map((x) => x.check)).toEqual(['postgres database gushen']);
    expect(r.failed[0].detail).toMatch(/user "reader" may not read "public"\."secrets" \(SELECT\) in database gushen/);
  }, 120_000);

  it('a pg_dump older than the server (binDir with an old pg_dump): the pg_dump row fails, naming both versions', async () => {
    const bin = join(dir.path, 'old-bin');
    await mkdir(bin, { recursive: true });
    // Test fixture: a stand-in whose --version is that of PostgreSQL 12's pg_dump.
    await writeFile(join(bin, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 12.22"\n');
    await chmod(join(bin, 'pg_dump'), 0o755);
    const r = await check(await writeConfig({ postgres: { binDir: bin } }));
    expect(r.code, r.stderr).toBe(1);
    expect(r.failed.map((x) => x.check)).toEqual(['postgres pg_dump']);
    expect(r.failed[0].detail).toMatch(new RegExp(`pg_dump 12\\.22 \\(${bin}/pg_dump\\) is older than the server \\(PostgreSQL 15\\.\\d+\\)`));
  }, 120_000);
});
