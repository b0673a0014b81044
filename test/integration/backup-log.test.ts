/**
 * A backup's own log and progress, through the real CLI against password-protected PostgreSQL and Redis: every JSON
 * log line (stderr and the stored log) has each key once; the log is stored as backups/<id>/log.jsonl before the
 * manifest, holds no password, and `gushen-dr logs` prints it; without a terminal, progress comes as JSON lines
 * (`msg: "progress"`, with the total where the size is known) for backup, verify and restore.
 */
import { stat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { formatIdentityFile, generateX25519Identity } from '../../src/crypto/index.js';
import { runCliProcess } from '../support/cli-process.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';

const PG_PW = 'Lg7Hq#Pw2Zr?Tk9/Vb';
const REDIS_PW = 'Rl4Xc#Yn8Qm?Wd3/Hs';

/** Keys that occur twice in one JSON object, anywhere in `text` (JSON.parse keeps the last and says nothing). */
export function duplicateKeys(text: string): string[] {
  const dups: string[] = [];
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      let s = '';
      while (j < text.length && text[j] !== '"') {
        s += text[j] === '\\' ? text[j] + text[++j] : text[j];
        j++;
      }
      const top = stack.at(-1);
      if (top && expectKey) {
        if (top.has(s)) dups.push(s);
        top.add(s);
        expectKey = false;
      }
      i = j;
    } else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = stack.at(-1) instanceof Set;
    }
  }
  return dups;
}

describe('a backup stores its own log; progress without a terminal', () => {
  let pg: TestPostgres;
  let redis: TestRedis;
  let target: TestRedis;
  let dir: { path: string; cleanup: () => Promise<void> };
  let config: string;
  let storeDir: string;
  let backup: Awaited<ReturnType<typeof runCliProcess>>;
  let id: string;
  const env = { GUSHEN_DR_PROGRESS_SECONDS: '0.2' };

  beforeAll(async () => {
    dir = await tempDir();
    [pg, redis, target] = await Promise.all([startPostgres({ password: PG_PW }), startRedis({ password: REDIS_PW, save: '', appendonly: false }), startRedis({ save: '', appendonly: false })]);
    await pg.query('postgres', 'create database gushen');
    await pg.query('gushen', "create table orders as select g as id, md5(g::text) as note from generate_series(1, 20000) g");
    const c = redis.client();
    for (let i = 0; i < 200; i++) await c.set(`k:${i}`, 'v'.repeat(100));
    const id0 = generateX25519Identity();
    const identityFile = join(dir.path, 'dr.key');
    await writeFile(identityFile, formatIdentityFile(id0.identity, id0.recipient, new Date()), { mode: 0o600 });
    storeDir = join(dir.path, 'store');
    config = join(dir.path, 'config.yaml');
    await writeFile(
      config,
      stringify({
        store: { url: `file://${storeDir}` },
        encryption: { recipients: [id0.recipient], identityFile },
        sources: {
          postgres: { url: `postgres://postgres:${encodeURIComponent(PG_PW)}@127.0.0.1:${pg.port}/`, databases: ['gushen'], globals: true },
          redis: { url: `redis://:${encodeURIComponent(REDIS_PW)}@127.0.0.1:${redis.port}`, method: 'file' },
        },
      }),
    );
    backup = await runCliProcess(['--config', config, 'backup'], { env });
    expect(backup.code, backup.stderr).toBe(0);
    id = backup.stdout.trim().split('\n').at(-1)!;
  }, 180_000);
  afterAll(async () => {
    await Promise.all([pg?.stop(), redis?.stop(), target?.stop()]);
    await dir?.cleanup();
  });

  it('no log line has a key twice (stderr)', () => {
    const lines = backup.stderr.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.filter((l) => duplicateKeys(l).length > 0)).toEqual([]);
    // The sources' own lines carry their source once.
    expect(lines.some((l) => l.includes('"source":"redis"'))).toBe(true);
  });

  it('the log is stored with the backup, before the manifest, without passwords, and `logs` prints it', async () => {
    const logFile = join(storeDir, 'backups', id, 'log.jsonl');
    const text = await readFile(logFile, 'utf8');
    const lines = text.split('\n').filter(Boolean);
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(expect.arrayContaining(['backup started', 'source finished', 'writing the manifest']));
    expect(lines.filter((l) => duplicateKeys(l).length > 0)).toEqual([]);
    for (const secret of [PG_PW, encodeURIComponent(PG_PW), REDIS_PW, encodeURIComponent(REDIS_PW)]) {
      expect(text).not.toContain(secret);
      expect(backup.stderr).not.toContain(secret);
    }
    expect((await stat(logFile)).mtimeMs).toBeLessThanOrEqual((await stat(join(storeDir, 'backups', id, 'manifest.json'))).mtimeMs);
    // Not an artifact: the manifest does not list it.
    const manifest = JSON.parse(await readFile(join(storeDir, 'backups', id, 'manifest.json'), 'utf8')) as { artifacts: Array<{ key: string }> };
    expect(manifest.artifacts.map((a) => a.key)).not.toContain(`backups/${id}/log.jsonl`);

    const json = await runCliProcess(['--config', config, '-o', 'json', 'logs', id]);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout.split('\n').filter(Boolean)).toEqual(lines);
    const human = await runCliProcess(['--config', config, 'logs', 'latest']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z info {2}backup started {2}backup=/m);
    const missing = await runCliProcess(['--config', config, 'logs', '20200101T000000Z-manual']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('backup 20200101T000000Z-manual has no stored log');
  }, 120_000);

  it('backup progress: JSON lines per artifact, with the total where the size is known', async () => {
    const progress = backup.stderr
      .split('\n')
      .filter((l) => l.includes('"msg":"progress"'))
      .map((l) => JSON.parse(l) as { operation: string; item: string; bytes: number; totalBytes?: number; bytesPerSecond: number; done?: boolean });
    const done = progress.filter((p) => p.done);
    expect(done.map((p) => p.item).sort()).toEqual(['postgres/globals.sql', 'postgres/gushen.dump', 'redis/dump.rdb']);
    expect(done.every((p) => p.operation === 'backup' && p.bytes > 0 && p.bytesPerSecond >= 0)).toBe(true);
    // pg_database_size and Redis used_memory are the totals (estimates); the roles have none.
    expect(done.find((p) => p.item === 'postgres/gushen.dump')?.totalBytes).toBeGreaterThan(0);
    expect(done.find((p) => p.item === 'redis/dump.rdb')?.totalBytes).toBeGreaterThan(0);
    expect(done.find((p) => p.item === 'postgres/globals.sql')?.totalBytes).toBeUndefined();
    // Bytes are plaintext bytes, like the totals: a dump compressed by the zstd CLI counted its compressed bytes
    // (a finished dump looked a third done). Every artifact's last line has its plaintext size.
    const manifest = JSON.parse(await readFile(join(storeDir, 'backups', id, 'manifest.json'), 'utf8')) as { artifacts: Array<{ name: string; size: number }> };
    for (const a of manifest.artifacts) expect(done.find((p) => p.item === a.name)?.bytes, a.name).toBe(a.size);
    // While the dump ran, no line counted more than the dump (give or take what zstd read of its own at start-up).
    const dumpSize = manifest.artifacts.find((a) => a.name === 'postgres/gushen.dump')!.size;
    expect(progress.filter((p) => p.item === 'postgres/gushen.dump').every((p) => p.bytes <= dumpSize + 64 * 1024)).toBe(true);
  });

  it('verify and restore report progress of what they read, with the stored size as the total', async () => {
    const manifest = JSON.parse(await readFile(join(storeDir, 'backups', id, 'manifest.json'), 'utf8')) as { artifacts: Array<{ name: string; stored: { size: number } }> };
    const verify = await runCliProcess(['--config', config, 'verify', id, '--deep'], { env });
    expect(verify.code, verify.stderr).toBe(0);
    const restore = await runCliProcess(['--config', config, 'restore', id, '--only', 'redis', '--redis-url', target.url], { env });
    expect(restore.code, restore.stderr).toBe(0);
    for (const [r, operation, items] of [
      [verify, 'verify', manifest.artifacts.map((a) => a.name)],
      [restore, 'restore', ['redis/dump.rdb']],
    ] as const) {
      const done = r.stderr
        .split('\n')
        .filter((l) => l.includes('"msg":"progress"') && l.includes('"done":true'))
        .map((l) => JSON.parse(l) as { operation: string; item: string; bytes: number; totalBytes: number });
      for (const item of items) {
        const size = manifest.artifacts.find((a) => a.name === item)!.stored.size;
        expect(done.filter((p) => p.item === item && p.operation === operation && p.totalBytes === size && p.bytes === size).length, `${operation} ${item}`).toBeGreaterThan(0);
      }
      expect(r.stderr.split('\n').filter((l) => l.startsWith('{') && duplicateKeys(l).length > 0)).toEqual([]);
    }
  }, 180_000);
});
