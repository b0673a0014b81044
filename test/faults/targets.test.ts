/**
 * Restore targets that already hold data: every CLI path that would overwrite data without --force refuses
 * with exit 2 and a message naming the target, and leaves the target exactly as it was — a PostgreSQL database
 * with tables, a Redis with keys, a Redis data directory with data (here: the live server's own directory), and
 * existing Kubernetes objects (the default policy skips them; only --existing update replaces them).
 */
import { createHash } from 'node:crypto';
import { cp, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_PASSWORD, REDIS_PASSWORD, startPlatform, type Platform } from '../support/platform.js';
import { runCliProcess } from '../support/cli-process.js';
import { canonicalDump, diffCanonical } from '../support/redis-dataset.js';
import { withClient } from '../support/postgres.js';
import { tempDir } from '../support/tmp.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { startRedis } from '../support/redis.js';
import { FaultCounter } from './support.js';

const counter = new FaultCounter(import.meta.filename);

async function tableChecksums(url: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const tables = await c.query<{ s: string; t: string }>(
      `select table_schema s, table_name t from information_schema.tables where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog','information_schema') order by 1,2`,
    );
    const out: Record<string, string> = {};
    for (const { s, t } of tables.rows) {
      const r = await c.query<{ h: string }>(`select md5(coalesce(string_agg(x::text, E'\\n' order by x::text), '')) h from "${s}"."${t}" x`);
      out[`${s}.${t}`] = r.rows[0].h;
    }
    return out;
  });
}

/** Every file under dir: path → size and SHA-256. */
async function treeDigest(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    out[p.slice(dir.length)] = `${(await stat(p)).size}:${createHash('sha256').update(await readFile(p)).digest('hex')}`;
  }
  return out;
}

describe('restore targets that hold data: refused without --force, left unchanged', () => {
  let p: Platform;
  let cfg: string;
  let backupId: string;

  beforeAll(async () => {
    p = await startPlatform({ rows: 5000, redisKeys: 1500 });
    cfg = await p.writeConfig('targets.yaml');
    const b = await runCliProcess(['--config', cfg, 'backup']);
    counter.backup();
    expect(b.code, b.stderr).toBe(0);
    backupId = b.stdout.trim().split('\n').at(-1)!;
  });
  afterAll(async () => {
    await p?.stop();
    await counter.report();
  });

  const restore = async (...args: string[]) => {
    counter.fault();
    return runCliProcess(['--config', cfg, 'restore', backupId, ...args]);
  };

  it('PostgreSQL: a target database with tables (the source itself) is refused with exit 2 and not touched', async () => {
    const before = await tableChecksums(p.pg.urlFor('gushen'));
    const r = await restore('--only', 'postgres', '--pg-url', p.pg.url);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to restore into non-empty database on postgres:\/\/postgres(:\*\*\*)?@127\.0\.0\.1:\d+\/: "gushen" has 11 tables \(.*\).*--force/);
    expect(r.stderr + r.stdout).not.toContain(PG_PASSWORD);
    expect(await tableChecksums(p.pg.urlFor('gushen'))).toEqual(before);
    // and under another name that exists with tables: the same
    await p.pg.query('postgres', 'create database other');
    await p.pg.query('other', 'create table keep (id int primary key, v text)');
    await p.pg.query('other', 'insert into keep values (1, $1)', ['precious']);
    const r2 = await restore('--only', 'postgres', '--pg-url', p.pg.url, '--database', 'other');
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('"other" has 1 table (public.keep)');
    expect((await p.pg.query('other', 'select v from keep')).rows).toEqual([{ v: 'precious' }]);
  });

  it('Redis online: a target with keys (the source itself) is refused with exit 2 and not touched', async () => {
    const before = await canonicalDump(p.redis.client());
    const r = await restore('--only', 'redis', '--redis-url', `redis://:${REDIS_PASSWORD}@127.0.0.1:${p.redis.port}`);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ already holds \d+ keys \(db0: \d+.*\); restore into an empty Redis, or pass --force/);
    expect(r.stderr + r.stdout).not.toContain(REDIS_PASSWORD);
    expect(diffCanonical(before, await canonicalDump(p.redis.client()), { ttlToleranceMs: 60_000, expiredBefore: Date.now() })).toEqual([]);
  });

  it('Redis online: a target that stops answering mid-restore fails within sources.redis.timeoutSeconds, naming it', async () => {
    const target = await startRedis({ save: '', appendonly: false });
    const proxy = await startFaultProxy({ port: target.port });
    try {
      const slow = await p.writeConfig('target-timeout.yaml', { sources: { ...p.config().sources, redis: { ...p.config().sources.redis, timeoutSeconds: 2 } } });
      proxy.bytesPerSecond = 64 * 1024; // the copy takes seconds: long enough to freeze it in the middle
      void proxy.waitForBytes(32 * 1024, 'up').then(() => {
        proxy.mode = 'stop-reading';
      });
      counter.fault();
      const t0 = Date.now();
      const r = await runCliProcess(['--config', slow, 'restore', backupId, '--only', 'redis', '--redis-url', `redis://127.0.0.1:${proxy.port}`]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/redis restore into redis:\/\/127\.0\.0\.1:\d+.*timed out/i);
      expect(Date.now() - t0).toBeLessThan(60_000);
    } finally {
      await proxy.close();
      await target.stop();
    }
  });

  it('Redis offline: a data directory holding data is refused with exit 2 and not touched', async () => {
    const dir = await tempDir('gushen-dr-redis-data-');
    try {
      // A copy of a real Redis data directory (RDB + AOF directory).
      await p.redis.client().bgrewriteaof().catch(() => undefined);
      // The rewrite replaces AOF files as it finishes: copy once it is over, or a file vanishes mid-copy.
      while (!/aof_rewrite_in_progress:0[\s\S]*aof_rewrite_scheduled:0/.test(await p.redis.client().info('persistence'))) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await cp(p.redis.dir, dir.path, { recursive: true, filter: (src) => !src.endsWith('.log') && !/temp-/.test(src) });
      const before = await treeDigest(dir.path);
      expect(Object.keys(before).some((f) => f.includes('appendonlydir'))).toBe(true);
      const r = await restore('--only', 'redis', '--redis-data-dir', dir.path);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/already holds Redis data \((dump\.rdb, )?appendonlydir\); stop Redis and pass --force/);
      expect(await treeDigest(dir.path)).toEqual(before);
    } finally {
      await dir.cleanup();
    }
  });

  it('Kubernetes: existing objects are skipped by default (never replaced without --existing update), and a bad policy exits 2', async () => {
    const snapshot = () =>
      JSON.stringify(
        p.kube
          .objects()
          .filter((o) => o.metadata?.namespace === 'ai-qtrd')
          .map((o) => ({ kind: o.kind, name: o.metadata.name, rv: o.metadata.resourceVersion, uid: o.metadata.uid, spec: o.spec, data: o.data }))
          .sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`)),
      );
    const before = snapshot();
    const r = await restore('--only', 'kube', '--no-wait', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { items: Array<{ item: string; result: string; detail?: string }> };
    const results = new Set(report.items.map((i) => i.result));
    expect(results.has('updated')).toBe(false);
    expect(report.items.filter((i) => i.item.includes('ai-qtrd/') && i.result === 'skipped').length).toBeGreaterThan(10);
    expect(report.items.filter((i) => i.result === 'created' && i.item.includes(' ai-qtrd/'))).toEqual([]);
    expect(snapshot()).toEqual(before);
    const bad = await restore('--only', 'kube', '--existing', 'overwrite');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--existing overwrite: expected skip or update');
    expect(snapshot()).toEqual(before);
  });

  it('no target given: exit 2 before anything is read', async () => {
    const r = await restore('--only', 'postgres');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('restoring postgres needs --pg-url URL');
  });
});
