import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ensureScratchSpace } from '../../repository/artifact-reader.js';
import type { Artifact } from '../../repository/manifest.js';
import { UsageError, errorMessage } from '../../util/errors.js';
import type { RestoreContext, RestoreItemResult } from '../restore-context.js';
import type { SourceRestoreResult } from '../source.js';
import { connectRedis, parseInfo, parseKeyspace, parseRedisUrl, redisTimeoutMs } from './client.js';
import type { RedisFacts } from './facts.js';
import type { RedisRestoreInput } from './index.js';
import { rdbVersionOfRedis, redisServerVersion } from './loader-server.js';
import { minRedisForRdbVersion } from './rdb.js';
import type { RedisRestoreReport } from './restore.js';

/** What a dry run saw of the target (read-only). */
export interface RedisTargetState {
  /** The redacted URL, or the data directory. */
  target: string;
  /** Online: keys per database now (`INFO keyspace`). */
  keys?: Record<string, number>;
  /** Offline: the Redis data files the directory holds now; `exists` false when it does not exist yet. */
  exists?: boolean;
  dataFiles?: string[];
  /** Why the restore would refuse or fail; absent when it would go ahead. */
  problem?: string;
}

export type RedisPlanReport = RedisRestoreReport & { dryRun: true; target: RedisTargetState };

/**
 * `restore --dry-run` for Redis: the keys per database the backup holds, and the target as it is. Online, the
 * target is only read (`INFO`: role, version, keyspace); offline, the data directory is only listed (nothing
 * is created, moved or staged). Lines are `failed` where the real restore would refuse or fail (a non-empty
 * target without --force, a replica, a redis-server that cannot load the backup) and when the target cannot be
 * reached: a dry run that cannot see the target says why and exits non-zero.
 */
export async function planRedisRestore(ctx: RestoreContext, o: RedisRestoreInput): Promise<SourceRestoreResult<RedisPlanReport>> {
  const rdb = ctx.manifest.artifacts.find((a): a is Artifact & { facts: RedisFacts } => a.kind === 'redis-rdb' && a.facts.type === 'redis');
  if (!rdb) throw new UsageError(`backup ${ctx.manifest.id} has no Redis artifact`);
  const facts = rdb.facts;
  const items: RestoreItemResult[] = [];
  const target = o.dataDir ? await offlineTarget(rdb, o, items) : await onlineTarget(ctx, rdb, o, items);
  const now = target.keys ?? {};
  for (const d of facts.databases) {
    const there = o.dataDir ? '' : `; db${d.db} holds ${now[`db${d.db}`] ?? 0} keys now`;
    items.push({ item: `redis db${d.db}`, result: target.problem ? 'failed' : 'would-restore', detail: `backup: ${d.keys} keys, ${d.expires} with a TTL${there}` });
  }
  const databases = facts.databases.map((d) => ({ db: d.db, expected: d.keys, actual: 0, expiredSinceBackup: 0 }));
  return { items, report: { dryRun: true, mode: o.dataDir ? 'offline' : 'online', databases, keysRestored: 0, items, target } };
}

async function onlineTarget(ctx: RestoreContext, rdb: Artifact & { facts: RedisFacts }, o: RedisRestoreInput, items: RestoreItemResult[]): Promise<RedisTargetState> {
  if (!o.redisUrl) throw new UsageError('restoring redis needs --redis-url URL (online) or --redis-data-dir DIR (offline)');
  const ep = parseRedisUrl(o.redisUrl, '--redis-url', { passwordFile: o.passwordFile });
  const facts = rdb.facts;
  const state: RedisTargetState = { target: ep.display };
  const fail = (problem: string): RedisTargetState => {
    items.push({ item: 'redis target', result: 'failed', detail: `${ep.display}: ${problem}` });
    return { ...state, problem };
  };

  // The local redis-server that would load the backup.
  const bin = o.redisServerBin ?? 'redis-server';
  let localVersion: string;
  try {
    localVersion = await redisServerVersion(bin);
  } catch (err) {
    return fail(`the restore would fail: ${errorMessage(err)}`);
  }
  if (rdbVersionOfRedis(localVersion) < facts.rdbVersion) {
    return fail(`the restore would fail: ${bin} is Redis ${localVersion}, which cannot load RDB version ${facts.rdbVersion} (install ${minRedisForRdbVersion(facts.rdbVersion)} or newer, or pass --redis-server-bin)`);
  }

  let client;
  try {
    client = await connectRedis(ep, { commandTimeout: redisTimeoutMs(ctx.config.sources.redis) });
  } catch (err) {
    return fail(`the dry run cannot see the target: ${errorMessage(err)}`);
  }
  try {
    const replication = parseInfo(await client.info('replication'));
    const version = parseInfo(await client.info('server')).get('redis_version') ?? '0';
    const keyspace = parseKeyspace(await client.info('keyspace'));
    state.keys = Object.fromEntries(keyspace.map((d) => [`db${d.db}`, d.keys]));
    const role = replication.get('role');
    if (role === 'slave') {
      return fail(`a replica of ${replication.get('master_host')}:${replication.get('master_port')}: the restore would be refused (restore into its master)`);
    }
    if (rdbVersionOfRedis(localVersion) > rdbVersionOfRedis(version)) {
      return fail(`the restore would fail: the target runs Redis ${version}, which cannot RESTORE what the local redis-server ${localVersion} dumps (use --redis-server-bin with one no newer than the target)`);
    }
    const replicas = Number(replication.get('connected_slaves') ?? 0);
    const about = `Redis ${version}, ${role ?? 'master'}${replicas > 0 ? `, ${replicas} connected replica${replicas === 1 ? '' : 's'} ${o.fenceReplicas ? 'would be fenced during the restore' : 'would follow the restore as it happens (not fenced)'}` : ''}`;
    const total = keyspace.reduce((n, d) => n + d.keys, 0);
    const held = keyspace.map((d) => `db${d.db}: ${d.keys}`).join(', ');
    if (total > 0 && !o.force) return fail(`${about}; holds ${total} keys (${held}): the restore would be refused without --force`);
    const what = total > 0 ? `holds ${total} keys (${held}): --force would FLUSHALL them first` : 'empty';
    items.push({ item: 'redis target', result: 'would-restore', detail: `${ep.display} (online; ${about}): ${what}` });
    return state;
  } catch (err) {
    return fail(`the dry run cannot see the target: ${errorMessage(err)}`);
  } finally {
    client.disconnect();
  }
}

/** The files restoreRedisOffline treats as existing Redis data. */
const DATA_FILES = ['dump.rdb', 'appendonlydir', 'appendonly.aof'];

async function offlineTarget(rdb: Artifact, o: RedisRestoreInput, items: RestoreItemResult[]): Promise<RedisTargetState> {
  const dataDir = resolve(o.dataDir!);
  const fail = (problem: string, extra: Partial<RedisTargetState> = {}): RedisTargetState => {
    items.push({ item: 'redis data dir', result: 'failed', detail: `${dataDir}: ${problem}` });
    return { target: dataDir, ...extra, problem };
  };
  const st = await stat(dataDir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : err));
  if (st instanceof Error) return fail(`the dry run cannot see it: ${errorMessage(st)}`);
  if (st && !st.isDirectory()) return fail('not a directory: the restore would be refused');
  const dataFiles: string[] = [];
  if (st) {
    try {
      for (const name of DATA_FILES) {
        const p = join(dataDir, name);
        const s = await stat(p).catch(() => undefined);
        if (!s) continue;
        if (s.isDirectory() && (await readdir(p)).length === 0) continue;
        dataFiles.push(name);
      }
    } catch (err) {
      return fail(`the dry run cannot see it: ${errorMessage(err)}`);
    }
  }
  // The RDB is staged inside the data directory (or where it would be created).
  const stageDir = st ? dataDir : await nearestExisting(dataDir);
  try {
    await ensureScratchSpace(stageDir, rdb.size, `${rdb.name} in ${dataDir}`);
  } catch (err) {
    return fail(`the restore would fail: ${errorMessage(err)}`, { exists: st !== undefined, dataFiles });
  }
  const state: RedisTargetState = { target: dataDir, exists: st !== undefined, dataFiles };
  if (dataFiles.length > 0 && !o.force) {
    return fail(`holds Redis data (${dataFiles.join(', ')}): the restore would be refused without --force (stop Redis first)`, { exists: true, dataFiles });
  }
  const what = !st
    ? 'does not exist: it would be created and prepared'
    : dataFiles.length > 0
      ? `holds Redis data (${dataFiles.join(', ')}): --force would move it aside into pre-restore-<timestamp>/ and prepare the directory`
      : 'holds no Redis data: it would be prepared';
  items.push({ item: 'redis data dir', result: 'would-restore', detail: `${dataDir} (offline) ${what} (AOF base and dump.rdb); room to stage ${rdb.name}` });
  return state;
}

async function nearestExisting(p: string): Promise<string> {
  for (let dir = dirname(p); ; dir = dirname(dir)) {
    if (await stat(dir).then(() => true, () => false)) return dir;
    if (dirname(dir) === dir) return dir;
  }
}
