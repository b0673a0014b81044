/**
 * Restoring Redis from a backup's `redis/dump.rdb`.
 *
 * ## Online restore (`--redis-url URL [--force]`)
 *
 * The artifact is decrypted into a private scratch directory and fully verified (SHA-256, RDB structure,
 * CRC64, key counts against the manifest) before anything is changed. A throwaway local `redis-server`
 * (same or newer version than the one that wrote the backup; Unix socket only, `save ''`,
 * `appendonly no`) loads it, and every key is copied into the target with DUMP / RESTORE … REPLACE
 * ABSTTL, pipelined page by page, so values, types and absolute expire times are kept. Redis Functions
 * libraries are copied too. The target must be empty unless `--force`, which FLUSHALLs it first (only
 * after the backup has been verified and loaded). Afterwards the per-database key counts of the target
 * are compared with the manifest; keys whose TTL ran out since the backup are legitimately absent and
 * are reported as `expiredSinceBackup` (the check is `actual == expected - expiredSinceBackup`).
 * Nothing should write to the target while it is being restored.
 *
 * ## Replication safety
 *
 * Production runs redis-0 as master with redis-1/redis-2 as replicas. A replica mirrors its master:
 * whatever the master holds after a restore — including an empty or half-restored dataset if the
 * restore fails midway, or an empty one if the master restarts without loading its files — is copied
 * to every replica by the next (full) synchronisation, destroying the last good copies.
 *
 * - Restoring into a replica (`role:slave`) is refused: writes to it are rejected or would be undone
 *   by its master. Restore into the master.
 * - When the target is a master with connected replicas, the restore warns; by default the replicas
 *   keep following and receive the FLUSHALL and every RESTORE as they happen.
 * - With `fenceReplicas: true` the order is: **fence** each replica with `REPLICAOF NO ONE` (it keeps
 *   the pre-restore data as a standalone copy and no longer follows the master) → **restore** the
 *   master and verify its key counts → **re-attach** each replica with `REPLICAOF <its previous master
 *   host> <port>` and wait until it has fully synchronised. Replicas are reached at the `ip:port` they
 *   announce in `INFO replication` with the target's credentials (production uses one password for
 *   `requirepass` and `masterauth`), or at `replicaUrls`. If the restore or its check fails, the
 *   replicas are left fenced, holding the old data, and the error says so: re-attach them (or promote
 *   one) by hand once the master is right.
 *
 * For the Kubernetes StatefulSet the same order applies to an offline restore:
 *   1. fence: `redis-cli -h redis-1… REPLICAOF NO ONE`, same for redis-2 (or scale them away);
 *   2. stop redis-0 (scale the StatefulSet to 0 or run a maintenance pod on its PVC), then
 *      `gushen-dr restore <id> --only redis --redis-data-dir /data` against its volume;
 *   3. start redis-0, check `INFO keyspace` against the restore report;
 *   4. re-attach: `REPLICAOF redis-0.redis-headless.ai-qtrd.svc.cluster.local 6379` on redis-1 and
 *      redis-2 (restarting those pods does the same when their configuration names the master).
 *
 * ## Offline restore (`--redis-data-dir DIR`)
 *
 * Prepares a data directory for a stopped Redis. Redis 7 with `appendonly yes` loads only its AOF and
 * ignores dump.rdb (redis/redis#12484), so the RDB is installed as the AOF base,
 * `<appenddirname>/<appendfilename>.1.base.rdb`, with an empty `.1.incr.aof` and the manifest
 * `file <name>.1.base.rdb seq 1 type b` / `file <name>.1.incr.aof seq 1 type i` — the layout Redis
 * itself writes after an AOF rewrite with an RDB preamble. The same file is hard-linked as `dump.rdb`
 * for servers running with `appendonly no`. Existing data (dump.rdb, the AOF directory, a pre-7.0
 * single-file AOF) is refused unless `--force`, which moves it into `pre-restore-<timestamp>/`.
 */
import { constants as fsConstants } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, rename, stat, chown, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { compactTimestamp } from '../../repository/layout.js';
import type { Artifact } from '../../repository/manifest.js';
import type { RedisFacts } from './facts.js';
import { minRedisForRdbVersion, validateRdbFile, type RdbSummary } from './rdb.js';
import { OperationError, UsageError, errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { connectRedis, parseInfo, parseKeyspace, parseRedisUrl, redisTimeoutMs, type RedisEndpoint } from './client.js';
import { stageArtifact, type StagedArtifact } from '../../repository/artifact-reader.js';
import type { RestoreContext, RestoreItemResult } from '../restore-context.js';
import { copyFunctions, copyKeys } from './restore-keys.js';
import { compareVersions, rdbVersionOfRedis, redisServerVersion, startThrowawayRedis, type ThrowawayRedis } from './loader-server.js';

export interface RedisOnlineRestoreOptions {
  redisUrl: string;
  /** A file holding the target's password (--redis-password-file), instead of one in the URL. */
  passwordFile?: string;
  force?: boolean;
  redisServerBin?: string;
  /** Detach the target's replicas during the restore and re-attach them after it (see above). */
  fenceReplicas?: boolean;
  /** Where to reach the replicas when their announced ip:port is not reachable from here. */
  replicaUrls?: string[];
  /** Keys per pipelined page. */
  batch?: number;
  /** How long a re-attached replica may take to finish its full synchronisation. */
  replicaSyncTimeoutMs?: number;
}

export interface RedisOfflineRestoreOptions {
  dataDir: string;
  force?: boolean;
  /** default appendonly.aof */
  appendFilename?: string;
  /** default appendonlydir */
  appendDirname?: string;
}

export interface RedisRestoreReport {
  /** A dry run's plan: the keys per database the backup holds (`expected`); nothing was changed. */
  dryRun?: boolean;
  mode: 'online' | 'offline';
  databases: Array<{ db: number; expected: number; actual: number; expiredSinceBackup: number }>;
  keysRestored: number;
  items: RestoreItemResult[];
  /** Online: how long staging (download, decrypt, verify), loading into the throwaway server and copying took. */
  timings?: { stageMs: number; loadMs: number; copyMs: number };
}

/** A restore that ran but whose result is wrong; carries the report. */
export class RedisRestoreError extends OperationError {
  constructor(
    message: string,
    readonly report: RedisRestoreReport,
  ) {
    super(message);
    this.name = 'RedisRestoreError';
  }
}

function redisArtifact(ctx: RestoreContext): { artifact: Artifact; facts: RedisFacts } {
  const artifact = ctx.manifest.artifacts.find((a) => a.kind === 'redis-rdb');
  if (!artifact) throw new UsageError(`backup ${ctx.manifest.id} has no Redis artifact`);
  if (artifact.facts.type !== 'redis') throw new UsageError(`${artifact.name}: its facts are not Redis facts`);
  return { artifact, facts: artifact.facts };
}

/** The staged file must be exactly what the manifest describes. */
function checkAgainstFacts(artifact: Artifact, facts: RedisFacts, s: RdbSummary): void {
  const problems: string[] = [];
  if (s.rdbVersion !== facts.rdbVersion) problems.push(`RDB version ${s.rdbVersion}, the manifest says ${facts.rdbVersion}`);
  const dbs = new Set([...facts.databases.map((d) => d.db), ...s.databases.map((d) => d.db)]);
  for (const db of [...dbs].sort((a, b) => a - b)) {
    const f = facts.databases.find((d) => d.db === db) ?? { keys: 0, expires: 0 };
    const g = s.databases.find((d) => d.db === db) ?? { keys: 0, expires: 0 };
    if (f.keys !== g.keys || f.expires !== g.expires) {
      problems.push(`db${db}: ${g.keys} keys / ${g.expires} expires in the file, the manifest says ${f.keys} / ${f.expires}`);
    }
  }
  if (problems.length > 0) throw new OperationError(`${artifact.name}: does not match its manifest: ${problems.join('; ')}`);
}

/** Decrypts, verifies and validates the artifact; returns the staged file and its summary. */
async function stageAndValidate(ctx: RestoreContext, artifact: Artifact, facts: RedisFacts, scratchDir?: string): Promise<{ staged: StagedArtifact; summary: RdbSummary }> {
  const staged = await stageArtifact(ctx.store, artifact, ctx.identities, scratchDir ?? ctx.scratchDir);
  try {
    const summary = await validateRdbFile(staged.path, { expiredBefore: Date.now() });
    checkAgainstFacts(artifact, facts, summary);
    return { staged, summary };
  } catch (err) {
    await staged.remove();
    if (err instanceof OperationError || err instanceof UsageError) throw err;
    throw new OperationError(`${artifact.name}: ${errorMessage(err)}`, { cause: err });
  }
}

export async function deepVerifyRedis(ctx: RestoreContext, artifact: Artifact): Promise<void> {
  if (artifact.facts.type !== 'redis') throw new OperationError(`${artifact.name}: not a Redis artifact`);
  const { staged } = await stageAndValidate(ctx, artifact, artifact.facts);
  await staged.remove();
}

interface ReplicaLink {
  endpoint: RedisEndpoint;
  masterHost: string;
  masterPort: number;
}

function announcedReplicas(info: Map<string, string>): Array<{ ip: string; port: number; state: string }> {
  const out: Array<{ ip: string; port: number; state: string }> = [];
  for (const [k, v] of info) {
    if (!/^slave\d+$/.test(k)) continue;
    const f = Object.fromEntries(v.split(',').map((kv) => kv.split('=') as [string, string]));
    if (f.ip && f.port) out.push({ ip: f.ip, port: Number(f.port), state: f.state ?? '' });
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fenceReplicas(target: RedisEndpoint, info: Map<string, string>, opts: RedisOnlineRestoreOptions, log: Logger, commandTimeout: number): Promise<ReplicaLink[]> {
  const endpoints: RedisEndpoint[] = opts.replicaUrls?.length
    ? opts.replicaUrls.map((u) => parseRedisUrl(u, 'replica URL'))
    : announcedReplicas(info).map((r) => ({ ...target, host: r.ip, port: r.port, db: 0, display: `redis://${r.ip}:${r.port}` }));
  const links: ReplicaLink[] = [];
  for (const ep of endpoints) {
    const c = await connectRedis(ep, { commandTimeout }).catch((err: unknown) => {
      throw new UsageError(`cannot reach replica ${ep.display} to fence it (${errorMessage(err)}); pass its address with replicaUrls, or restore without fenceReplicas`);
    });
    try {
      const ri = parseInfo(await c.info('replication'));
      if (ri.get('role') !== 'slave') throw new UsageError(`${ep.display} is not a replica (role:${ri.get('role')}); cannot fence it`);
      links.push({ endpoint: ep, masterHost: ri.get('master_host') ?? target.host, masterPort: Number(ri.get('master_port') ?? target.port) });
    } finally {
      c.disconnect();
    }
  }
  // Only fence once all of them were reachable.
  for (const l of links) {
    const c = await connectRedis(l.endpoint, { commandTimeout });
    try {
      await c.call('REPLICAOF', 'NO', 'ONE');
      log.warn({ replica: l.endpoint.display }, 'replica fenced (REPLICAOF NO ONE): it keeps the pre-restore data until re-attached');
    } finally {
      c.disconnect();
    }
  }
  return links;
}

async function reattachReplica(l: ReplicaLink, timeoutMs: number, log: Logger, commandTimeout: number): Promise<void> {
  const c = await connectRedis(l.endpoint, { commandTimeout });
  try {
    await c.call('REPLICAOF', l.masterHost, String(l.masterPort));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ri = parseInfo(await c.info('replication'));
      if (ri.get('master_link_status') === 'up' && ri.get('master_sync_in_progress') === '0') break;
      if (Date.now() > deadline) {
        throw new OperationError(`replica ${l.endpoint.display} did not finish synchronising with ${l.masterHost}:${l.masterPort} within ${Math.round(timeoutMs / 1000)} s`);
      }
      await sleep(200);
    }
    log.info({ replica: l.endpoint.display }, 'replica re-attached and synchronised');
  } finally {
    c.disconnect();
  }
}

async function keyspaceOf(c: Redis): Promise<Map<number, number>> {
  return new Map(parseKeyspace(await c.info('keyspace')).map((d) => [d.db, d.keys]));
}

/**
 * Compares the target's key counts with the manifest. `expiredAtStart` counts keys whose TTL had run
 * out before the throwaway server loaded the file; keys may also run out during the copy, so when the
 * first comparison fails the staged file is counted again against the time of the count: any actual
 * count between `expected - expiredByCount` and `expected - expiredAtStart` is explained by TTLs.
 */
async function compareCounts(
  facts: RedisFacts,
  summaryAtStart: RdbSummary,
  stagedPath: string,
  actual: Map<number, number>,
  countedAt: number,
): Promise<{ databases: RedisRestoreReport['databases']; mismatches: string[] }> {
  let late: RdbSummary | undefined;
  const databases: RedisRestoreReport['databases'] = [];
  const mismatches: string[] = [];
  const dbs = [...new Set([...facts.databases.map((d) => d.db), ...actual.keys()])].sort((a, b) => a - b);
  for (const db of dbs) {
    const expected = facts.databases.find((d) => d.db === db)?.keys ?? 0;
    const got = actual.get(db) ?? 0;
    const e0 = summaryAtStart.databases.find((d) => d.db === db)?.expired ?? 0;
    let expired = e0;
    if (got !== expected - e0) {
      late ??= await validateRdbFile(stagedPath, { expiredBefore: countedAt });
      const e1 = late.databases.find((d) => d.db === db)?.expired ?? 0;
      if (got >= expected - e1 && got <= expected - e0) expired = expected - got;
      else mismatches.push(`db${db}: ${got} keys, expected ${expected - e0}${e1 !== e0 ? ` to ${expected - e1}` : ''} (${expected} in the backup)`);
    }
    databases.push({ db, expected, actual: got, expiredSinceBackup: expired });
  }
  return { databases, mismatches };
}

export async function restoreRedisOnline(ctx: RestoreContext, opts: RedisOnlineRestoreOptions): Promise<RedisRestoreReport> {
  const { artifact, facts } = redisArtifact(ctx);
  const ep = parseRedisUrl(opts.redisUrl, '--redis-url', { passwordFile: opts.passwordFile });
  const log = ctx.log.child({ restore: 'redis', mode: 'online' });
  const bin = opts.redisServerBin ?? 'redis-server';
  const report: RedisRestoreReport = { mode: 'online', databases: [], keysRestored: 0, items: [] };

  // Everything that can refuse the restore is checked before downloading anything.
  const localVersion = await redisServerVersion(bin);
  if (rdbVersionOfRedis(localVersion) < facts.rdbVersion) {
    throw new UsageError(
      `${bin} is Redis ${localVersion}, which cannot load RDB version ${facts.rdbVersion} (written by Redis ${facts.redisVersion}); ` +
        `install redis-server ${minRedisForRdbVersion(facts.rdbVersion)} or newer, or pass its path (redisServerBin)`,
    );
  }
  // A target (or replica) that stops answering fails the restore after this long instead of hanging it.
  const commandTimeout = redisTimeoutMs(ctx.config.sources.redis);
  const target = await connectRedis(ep, { commandTimeout });
  let throwaway: ThrowawayRedis | undefined;
  let staged: StagedArtifact | undefined;
  let fenced: ReplicaLink[] = [];
  let stage = 'checking the target';
  try {
    const replication = parseInfo(await target.info('replication'));
    if (replication.get('role') === 'slave') {
      throw new UsageError(
        `${ep.display} is a replica of ${replication.get('master_host')}:${replication.get('master_port')}: restore into its master instead ` +
          '(a replica rejects writes, and its master would overwrite them at the next synchronisation)',
      );
    }
    const targetVersion = parseInfo(await target.info('server')).get('redis_version') ?? '0';
    if (rdbVersionOfRedis(localVersion) > rdbVersionOfRedis(targetVersion)) {
      throw new UsageError(
        `the target runs Redis ${targetVersion}, which cannot RESTORE the DUMP payloads of the local redis-server ${localVersion}; ` +
          `use a redis-server no newer than the target (and at least ${minRedisForRdbVersion(facts.rdbVersion)}) via redisServerBin`,
      );
    }
    const absoluteTtl = compareVersions(localVersion, '7.0') >= 0 && compareVersions(targetVersion, '5.0') >= 0;
    const existing = await keyspaceOf(target);
    const existingKeys = [...existing.values()].reduce((a, b) => a + b, 0);
    if (existingKeys > 0 && !opts.force) {
      throw new UsageError(
        `${ep.display} already holds ${existingKeys} keys (${[...existing].map(([db, n]) => `db${db}: ${n}`).join(', ')}); ` +
          'restore into an empty Redis, or pass --force to FLUSHALL it first',
      );
    }
    const replicas = Number(replication.get('connected_slaves') ?? 0);
    if (replicas > 0 && !opts.fenceReplicas) {
      log.warn({ replicas }, 'the target has connected replicas: they receive the restore as it happens (and anything a failed restore leaves behind)');
      report.items.push({ item: 'redis replicas', result: 'skipped', detail: `${replicas} connected replicas follow the master through the restore (not fenced)` });
    }

    stage = 'downloading and verifying the backup';
    const t0 = Date.now();
    const s = await stageAndValidate(ctx, artifact, facts);
    staged = s.staged;
    const summary = s.summary;
    const stageMs = Date.now() - t0;
    log.info({ bytes: summary.size, ms: stageMs }, 'backup staged and verified');

    stage = 'loading the backup into a throwaway redis-server';
    const tLoad = Date.now();
    const maxDb = Math.max(0, ...summary.databases.map((d) => d.db));
    throwaway = await startThrowawayRedis({ bin, rdbPath: staged.path, databases: maxDb + 1, signal: ctx.signal });
    const loadMs = Date.now() - tLoad;
    log.info({ version: throwaway.version, loaded: throwaway.loaded.keys, expiredOnLoad: throwaway.loaded.expired, ms: loadMs }, 'throwaway redis-server loaded the backup');

    if (replicas > 0 && opts.fenceReplicas) {
      stage = 'fencing the replicas';
      fenced = await fenceReplicas(ep, replication, opts, log, commandTimeout);
      for (const l of fenced) report.items.push({ item: `redis replica ${l.endpoint.display}`, result: 'updated', detail: 'fenced (REPLICAOF NO ONE)' });
    }

    stage = 'emptying the target';
    const now = await keyspaceOf(target);
    const nowKeys = [...now.values()].reduce((a, b) => a + b, 0);
    if (nowKeys > 0) {
      if (!opts.force) throw new UsageError(`${ep.display} received ${nowKeys} keys while the backup was being prepared; nothing was changed (pass --force to FLUSHALL it)`);
      log.warn({ keys: nowKeys }, 'FLUSHALL on the target (--force)');
      await target.flushall('SYNC');
    }

    stage = 'copying keys';
    const tCopy = Date.now();
    const dbs = summary.databases.filter((d) => d.keys > 0).map((d) => d.db);
    const copied = await copyKeys(throwaway, ep, dbs, { absoluteTtl, batch: opts.batch, log, signal: ctx.signal, timeoutMs: commandTimeout });
    if (summary.functions > 0) {
      const src = throwaway.client(0);
      await src.connect();
      await copyFunctions(src, target);
      report.items.push({ item: 'redis functions', result: 'restored', detail: `${summary.functions} libraries` });
    }
    const copyMs = Date.now() - tCopy;
    report.keysRestored = copied.keys;
    report.timings = { stageMs, loadMs, copyMs };
    log.info({ keys: copied.keys, ms: copyMs, keysPerSecond: Math.round(copied.keys / Math.max(copyMs / 1000, 0.001)) }, 'keys copied');

    stage = 'comparing key counts';
    const countedAt = Date.now();
    const actual = await keyspaceOf(target);
    const { databases, mismatches } = await compareCounts(facts, summary, staged.path, actual, countedAt + 1);
    report.databases = databases;
    for (const d of databases) {
      const bad = mismatches.find((m) => m.startsWith(`db${d.db}:`));
      report.items.push({
        item: `redis db${d.db}`,
        result: bad ? 'failed' : 'restored',
        detail: bad ?? `${d.actual} keys${d.expiredSinceBackup ? ` (${d.expiredSinceBackup} of ${d.expected} expired since the backup)` : ''}`,
      });
    }
    if (mismatches.length > 0) {
      const fencedNote = fenced.length ? `; replicas ${fenced.map((l) => l.endpoint.display).join(', ')} stay fenced with the pre-restore data` : '';
      throw new RedisRestoreError(`redis restore into ${ep.display}: key counts differ from the backup: ${mismatches.join('; ')}${fencedNote}`, report);
    }

    if (fenced.length > 0) {
      stage = 're-attaching the replicas';
      for (const l of fenced) {
        await reattachReplica(l, opts.replicaSyncTimeoutMs ?? 5 * 60_000, log, commandTimeout);
        const item = report.items.find((i) => i.item === `redis replica ${l.endpoint.display}`);
        if (item) item.detail = `fenced during the restore, re-attached to ${l.masterHost}:${l.masterPort} and synchronised`;
      }
      fenced = [];
    }
    return report;
  } catch (err) {
    if (err instanceof RedisRestoreError || err instanceof UsageError) throw err;
    const fencedNote = fenced.length
      ? `; replicas ${fenced.map((l) => l.endpoint.display).join(', ')} were fenced (REPLICAOF NO ONE) and still hold the data from before the restore: ` +
        `re-attach them with REPLICAOF ${fenced[0].masterHost} ${fenced[0].masterPort} once the master is right, or promote one`
      : '';
    throw new OperationError(`redis restore into ${ep.display} failed while ${stage}: ${errorMessage(err)}${fencedNote}`, { cause: err });
  } finally {
    target.disconnect();
    await throwaway?.stop().catch(() => undefined);
    await staged?.remove().catch(() => undefined);
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, fsConstants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function restoreRedisOffline(ctx: RestoreContext, opts: RedisOfflineRestoreOptions): Promise<RedisRestoreReport> {
  const { artifact, facts } = redisArtifact(ctx);
  const log = ctx.log.child({ restore: 'redis', mode: 'offline' });
  const appendFilename = opts.appendFilename ?? 'appendonly.aof';
  const appendDirname = opts.appendDirname ?? 'appendonlydir';
  for (const [what, v] of [['appendFilename', appendFilename], ['appendDirname', appendDirname]] as const) {
    if (!NAME_RE.test(v)) throw new UsageError(`${what} "${v}": expected a plain file name`);
  }
  const dataDir = resolve(opts.dataDir);
  const st = await stat(dataDir).catch(() => undefined);
  if (st && !st.isDirectory()) throw new UsageError(`--redis-data-dir ${dataDir} is not a directory`);
  if (!st) await mkdir(dataDir, { recursive: true, mode: 0o750 });
  const owner = await stat(dataDir);

  const candidates = ['dump.rdb', appendDirname, appendFilename];
  const existing: string[] = [];
  for (const name of candidates) {
    const p = join(dataDir, name);
    if (!(await exists(p))) continue;
    if (name === appendDirname && (await readdir(p)).length === 0) continue;
    existing.push(name);
  }
  if (existing.length > 0 && !opts.force) {
    throw new UsageError(`${dataDir} already holds Redis data (${existing.join(', ')}); stop Redis and pass --force to move it aside, or choose an empty directory`);
  }

  const report: RedisRestoreReport = { mode: 'offline', databases: [], keysRestored: 0, items: [] };
  // Staged inside the data directory, so installing it is a rename on the same filesystem.
  const { staged, summary } = await stageAndValidate(ctx, artifact, facts, dataDir);
  try {
    if (existing.length > 0) {
      const aside = join(dataDir, `pre-restore-${compactTimestamp(new Date())}`);
      await mkdir(aside, { mode: 0o700 });
      for (const name of existing) await rename(join(dataDir, name), join(aside, name));
      log.warn({ aside }, 'existing Redis data moved aside (--force)');
      report.items.push({ item: 'redis previous data', result: 'updated', detail: `moved to ${aside} (${existing.join(', ')}); delete it once the restore is confirmed` });
    }
    const aofDir = join(dataDir, appendDirname);
    await mkdir(aofDir, { recursive: true, mode: 0o755 });
    const base = `${appendFilename}.1.base.rdb`;
    const incr = `${appendFilename}.1.incr.aof`;
    const manifestName = `${appendFilename}.manifest`;
    await rename(staged.path, join(aofDir, base));
    await writeFile(join(aofDir, incr), '', { mode: 0o644 });
    const tmpManifest = join(aofDir, `.${manifestName}.tmp`);
    await writeFile(tmpManifest, `file ${base} seq 1 type b\nfile ${incr} seq 1 type i\n`, { mode: 0o644 });
    await fsyncPath(tmpManifest);
    await rename(tmpManifest, join(aofDir, manifestName));
    const dump = join(dataDir, 'dump.rdb');
    try {
      await link(join(aofDir, base), dump);
    } catch {
      await copyFile(join(aofDir, base), dump);
    }
    for (const p of [join(aofDir, base), join(aofDir, incr), dump]) await fsyncPath(p);
    await fsyncPath(aofDir);
    await fsyncPath(dataDir);
    // Files written as root belong to whoever owns the data directory (the redis user in the image).
    if (process.getuid?.() === 0 && owner.uid !== 0) {
      for (const p of [aofDir, join(aofDir, base), join(aofDir, incr), join(aofDir, manifestName), dump]) await chown(p, owner.uid, owner.gid);
    }

    const total = summary.databases.reduce((n, d) => n + d.keys, 0);
    report.keysRestored = total;
    report.databases = facts.databases.map((f) => {
      const s = summary.databases.find((d) => d.db === f.db);
      const expired = s?.expired ?? 0;
      return { db: f.db, expected: f.keys, actual: (s?.keys ?? 0) - expired, expiredSinceBackup: expired };
    });
    report.items.push({
      item: 'redis data dir',
      result: 'restored',
      detail: `${join(aofDir, base)} (AOF base, manifest ${manifestName}) and dump.rdb: ${total} keys; start Redis on ${dataDir}`,
    });
    log.info({ dataDir, keys: total }, 'offline Redis data directory prepared');
    return report;
  } finally {
    await staged.remove().catch(() => undefined);
  }
}
