import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactWriter } from '../../src/repository/artifact-writer.js';
import { backupRedis } from '../../src/sources/redis/backup.js';
import { type Config } from '../../src/config/schema.js';
import { configSchema } from '../../src/sources/registry.js';
import { generateX25519Identity, parseIdentity, type Identity } from '../../src/crypto/index.js';
import { type Artifact, type Manifest } from '../../src/repository/manifest.js';
import { type RedisFacts } from '../../src/sources/redis/facts.js';
import type { RestoreContext } from '../../src/sources/restore-context.js';
import { deepVerifyRedis, restoreRedisOffline, restoreRedisOnline } from '../../src/sources/redis/restore.js';
import { FileStore } from '../../src/store/file.js';
import { UsageError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { parseKeyspace } from '../../src/sources/redis/client.js';
import { CACHE_TTL_SECONDS, canonicalDump, diffCanonical, fillRedis, type CanonicalDump, type FillResult } from '../support/redis-dataset.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/ports.js';
import { countingStore } from '../support/counting-store.js';
import { testManifest } from '../support/manifest.js';

const BACKUP_ID = '20261124T020000Z-nightly';
const PASSWORD = 'redis-Pw-5t9!x';
const SHORT_LIVED = 40;
// Long enough that none expires before the backup's fork even on a loaded machine (the first test compares the
// snapshot with INFO keyspace; at 6 s a backup slowed by other work lost some before the fork), short enough
// that the restore tests can wait for them all to have expired.
const SHORT_TTL_MS = 20_000;


async function keyspace(r: TestRedis): Promise<Map<number, number>> {
  return new Map(parseKeyspace(await r.client().info('keyspace')).map((d) => [d.db, d.keys]));
}

describe('redis backup and restore (master + 2 replicas, appendonly yes + RDB)', () => {
  let master: TestRedis;
  let replicas: TestRedis[];
  let storeDir: { path: string; cleanup: () => Promise<void> };
  let scratch: { path: string; cleanup: () => Promise<void> };
  let store: FileStore;
  let config: Config;
  let identities: Identity[];
  let artifact: Artifact;
  let filled: FillResult;
  let filledAt: number;
  let atBackup: CanonicalDump;
  const servers: TestRedis[] = [];

  const manifest = (): Manifest => testManifest(BACKUP_ID, [artifact]);
  const ctx = (over: Partial<RestoreContext> = {}): RestoreContext => ({
    store,
    manifest: manifest(),
    identities,
    config,
    log: silentLogger,
    scratchDir: scratch.path,
    ...over,
  });
  const server = async (opts: Parameters<typeof startRedis>[0] = {}) => {
    const r = await startRedis(opts);
    servers.push(r);
    return r;
  };

  beforeAll(async () => {
    [storeDir, scratch] = await Promise.all([tempDir(), tempDir()]);
    master = await server({ password: PASSWORD, extraArgs: ['--repl-diskless-sync-delay', '0'] });
    replicas = await Promise.all([0, 1].map(() => server({ password: PASSWORD, replicaOf: master })));
    store = new FileStore(storeDir.path);
    filled = await fillRedis(master.client(), { keys: 12_000, shortLived: { count: SHORT_LIVED, ttlMs: SHORT_TTL_MS } });
    filledAt = Date.now();
    // A Redis Functions library: not a key, but part of the dataset an RDB carries.
    await master.client().call('FUNCTION', 'LOAD', "#!lua name=gushen\nredis.register_function('quote_age', function(keys, args) return 42 end)");
    const key = generateX25519Identity();
    identities = [parseIdentity(key.identity)];
    config = configSchema.parse({
      store: { url: `file://${storeDir.path}` },
      encryption: { recipients: [key.recipient] },
      sources: { redis: { url: master.url, method: 'file' } },
    });
    // Both replicas in sync before the backup.
    for (const r of replicas) {
      await waitFor('replica sync', async () => ((await r.client().info('replication')).includes('master_link_status:up') ? true : undefined));
    }
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await Promise.all([storeDir?.cleanup(), scratch?.cleanup()]);
  });

  it('backs up a fresh BGSAVE snapshot, validated, with facts matching the server', async () => {
    const before = Number(await master.client().lastsave());
    const writer = new ArtifactWriter(store, BACKUP_ID, config.encryption.recipients);
    const res = await backupRedis({ backupId: BACKUP_ID, config, writer, log: silentLogger, signal: new AbortController().signal });
    atBackup = await canonicalDump(master.client());
    expect(res.failures).toEqual([]);
    expect(res.artifacts).toHaveLength(1);
    artifact = res.artifacts[0];
    expect(artifact).toMatchObject({ name: 'redis/dump.rdb', kind: 'redis-rdb', compression: 'zstd', source: 'redis' });
    expect(Number(await master.client().lastsave())).toBeGreaterThan(before);
    const facts = artifact.facts as RedisFacts;
    const info = await master.client().info();
    expect(facts.redisVersion).toBe(/redis_version:(\S+)/.exec(info)![1]);
    expect(facts.rdbVersion).toBe(10);
    expect(facts.method).toBe('file');
    expect(facts.usedMemoryBytes).toBeGreaterThan(1_000_000);
    // Nothing writes during the test, so the snapshot holds exactly what INFO keyspace says.
    const ks = parseKeyspace(await master.client().info('keyspace'));
    expect(facts.databases).toEqual(ks.map(({ db, keys, expires }) => ({ db, keys, expires })));
    expect(facts.databases.reduce((n, d) => n + d.keys, 0)).toBe(filled.total);
    // The artifact is the server's dump.rdb, byte for byte.
    const onDisk = await readFile(join(master.dir, 'dump.rdb'));
    expect(artifact.size).toBe(onDisk.length);
    expect(artifact.sha256).toBe((await import('node:crypto')).createHash('sha256').update(onDisk).digest('hex'));
    // Stored encrypted: no RDB magic in the object.
    const stored = await readFile(join(storeDir.path, artifact.key));
    expect(stored.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    await deepVerifyRedis(ctx(), artifact);
  });

  it('refuses a non-empty target before downloading anything, and a replica', async () => {
    const busy = await server();
    await busy.client().set('existing', '1');
    const counting = countingStore(store);
    const err = await restoreRedisOnline(ctx({ store: counting }), { redisUrl: busy.url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/already holds 1 keys.*--force/);
    expect(counting.gets).toBe(0);
    expect(await busy.client().get('existing')).toBe('1');

    const err2 = await restoreRedisOnline(ctx({ store: counting }), { redisUrl: replicas[0].url }).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(UsageError);
    expect((err2 as Error).message).toMatch(/is a replica of 127\.0\.0\.1:\d+: restore into its master/);
    expect((err2 as Error).message).not.toContain(PASSWORD);
    expect(counting.gets).toBe(0);
  });

  it('restores every key online with its type, value and expire time; expired keys are accounted for', async () => {
    // Let the short-lived keys run out between backup and restore.
    await new Promise((r) => setTimeout(r, Math.max(0, filledAt + SHORT_TTL_MS + 100 - Date.now())));
    const target = await server({ password: 'other-pw' });
    const report = await restoreRedisOnline(ctx(), { redisUrl: target.url });
    const after = await canonicalDump(target.client());
    expect(diffCanonical(atBackup, after, { ttlToleranceMs: 2000, expiredBefore: Date.now() })).toEqual([]);
    // Expire times survive exactly (ABSTTL), and match the cache policies.
    const sample = [...after.values()].find((e) => Buffer.from(e.key, 'hex').toString().startsWith('session:'))!;
    expect(sample.expireAt).toBe(atBackup.get(`0:${sample.key}`)!.expireAt);
    const ttl = await target.client().ttl(Buffer.from(sample.key, 'hex'));
    expect(ttl).toBeGreaterThan(CACHE_TTL_SECONDS.session - 120);
    expect(ttl).toBeLessThanOrEqual(CACHE_TTL_SECONDS.session);
    // Counts: the short-lived keys expired since the backup.
    const db0 = report.databases.find((d) => d.db === 0)!;
    expect(db0.expiredSinceBackup).toBeGreaterThanOrEqual(SHORT_LIVED);
    for (const d of report.databases) expect(d.actual).toBe(d.expected - d.expiredSinceBackup);
    const ks = await keyspace(target);
    for (const d of report.databases) expect(ks.get(d.db) ?? 0).toBe(d.actual);
    expect(report.keysRestored).toBe(filled.total - db0.expiredSinceBackup);
    expect(report.items.filter((i) => i.result === 'failed')).toEqual([]);
    // Every type made it.
    const types = new Set([...after.values()].map((e) => e.type));
    expect([...types].sort()).toEqual(['hash', 'list', 'set', 'stream', 'string', 'zset']);
    expect([...new Set([...after.values()].map((e) => e.db))].sort()).toEqual([0, 1, 2, 3, 5]);
    // The Functions library came along.
    expect(await target.client().call('FCALL', 'quote_age', '0')).toBe(42);
    expect(report.items.find((i) => i.item === 'redis functions')?.detail).toBe('1 libraries');
  });

  it('--force empties a non-empty target first', async () => {
    const target = await server();
    await target.client().set('stale', 'x');
    await target.client(7).set('stale-in-db7', 'x');
    const report = await restoreRedisOnline(ctx(), { redisUrl: target.url, force: true });
    expect(await target.client().exists('stale')).toBe(0);
    expect(await target.client(7).exists('stale-in-db7')).toBe(0);
    const ks = await keyspace(target);
    for (const d of report.databases) expect(ks.get(d.db) ?? 0).toBe(d.expected - d.expiredSinceBackup);
  });

  it('fences the replicas of a target master, restores it, and re-attaches them in sync', async () => {
    const tMaster = await server({ extraArgs: ['--repl-diskless-sync-delay', '0'] });
    const tReplicas = await Promise.all([0, 1].map(() => server({ replicaOf: tMaster })));
    await tMaster.client().set('old-data', 'before-restore');
    for (const r of tReplicas) await waitFor('replica sync', async () => ((await r.client().get('old-data')) === 'before-restore' ? true : undefined));
    const report = await restoreRedisOnline(ctx(), { redisUrl: tMaster.url, force: true, fenceReplicas: true });
    const replicaItems = report.items.filter((i) => i.item.startsWith('redis replica'));
    expect(replicaItems).toHaveLength(2);
    for (const i of replicaItems) expect(i.detail).toMatch(/re-attached .* and synchronised/);
    const masterView = await canonicalDump(tMaster.client());
    for (const r of tReplicas) {
      expect((await r.client().info('replication')).match(/role:(\w+)/)![1]).toBe('slave');
      const replicaView = await canonicalDump(r.client());
      expect(diffCanonical(masterView, replicaView, { ttlToleranceMs: 0 })).toEqual([]);
      expect(await r.client().exists('old-data')).toBe(0);
    }
    expect(masterView.size).toBe(report.keysRestored);
  });

  it('leaves fenced replicas holding the old data when the restore fails midway', async () => {
    const tMaster = await server({ extraArgs: ['--repl-diskless-sync-delay', '0'] });
    const tReplica = await server({ replicaOf: tMaster });
    await tMaster.client().set('old-data', 'before-restore');
    await waitFor('replica sync', async () => ((await tReplica.client().get('old-data')) === 'before-restore' ? true : undefined));
    // The master runs out of memory part way through the copy.
    const used = Number(/used_memory:(\d+)/.exec(await tMaster.client().info('memory'))![1]);
    await tMaster.client().config('SET', 'maxmemory', String(used + 2_000_000));
    await tMaster.client().config('SET', 'maxmemory-policy', 'noeviction');
    const err = await restoreRedisOnline(ctx(), { redisUrl: tMaster.url, force: true, fenceReplicas: true }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/failed while copying keys: RESTORE into db 0 of the target failed: OOM/);
    expect((err as Error).message).toMatch(/were fenced \(REPLICAOF NO ONE\) and still hold the data from before the restore/);
    // The replica was fenced before the master was emptied: it is a standalone copy of the old data.
    expect((await tReplica.client().info('replication')).includes('role:master')).toBe(true);
    expect(await tReplica.client().get('old-data')).toBe('before-restore');
    expect(await tReplica.client().dbsize()).toBe(1);
  });

  it('prepares an offline data directory that a Redis with appendonly yes really loads', async () => {
    const dir = await tempDir('gushen-dr-redis-offline-');
    try {
      const report = await restoreRedisOffline(ctx(), { dataDir: dir.path });
      expect(report.mode).toBe('offline');
      const manifestText = await readFile(join(dir.path, 'appendonlydir', 'appendonly.aof.manifest'), 'utf8');
      expect(manifestText).toBe('file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n');
      expect((await readdir(dir.path)).filter((n) => n.startsWith('gushen-dr-stage'))).toEqual([]);
      // Only the AOF is left: Redis with appendonly yes must load the installed base file.
      await rm(join(dir.path, 'dump.rdb'));
      const r = await startRedis({ dir: dir.path, appendonly: true });
      try {
        expect((await r.client().config('GET', 'appendonly'))[1]).toBe('yes');
        const loaded = await canonicalDump(r.client());
        expect(diffCanonical(atBackup, loaded, { ttlToleranceMs: 0, expiredBefore: Date.now() })).toEqual([]);
        expect(await r.client().info('persistence')).toMatch(/aof_enabled:1/);
        expect(await readFile(join(dir.path, 'redis.log'), 'utf8')).toMatch(/DB loaded from base file appendonly\.aof\.1\.base\.rdb/);
        // The AOF keeps working on top of the installed base: a write survives a hard restart.
        await r.client().set('written-after-restore', 'yes');
        await new Promise((res) => setTimeout(res, 1100)); // appendfsync everysec
        await r.kill();
        await r.start();
        const c = r.client();
        expect(await c.get('written-after-restore')).toBe('yes');
        const reloaded = await canonicalDump(c);
        reloaded.delete(`0:${Buffer.from('written-after-restore').toString('hex')}`);
        expect(diffCanonical(loaded, reloaded, { ttlToleranceMs: 0, expiredBefore: Date.now() })).toEqual([]);
      } finally {
        await r.stop();
      }

      // A directory with data is refused; --force moves it aside.
      const err = await restoreRedisOffline(ctx(), { dataDir: dir.path }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(/already holds Redis data \(.*appendonlydir.*\)/);
      const forced = await restoreRedisOffline(ctx(), { dataDir: dir.path, force: true });
      const aside = forced.items.find((i) => i.item === 'redis previous data')!;
      expect(aside.detail).toMatch(/moved to .*pre-restore-/);
      const asideDir = /moved to (\S+)/.exec(aside.detail!)![1];
      expect((await stat(join(asideDir, 'appendonlydir'))).isDirectory()).toBe(true);
    } finally {
      await dir.cleanup();
    }
  });
});
