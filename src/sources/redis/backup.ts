/**
 * The Redis source: one artifact, `redis/dump.rdb` (kind `redis-rdb`), a fresh RDB snapshot.
 *
 * Methods (`sources.redis.method`):
 *   file         BGSAVE, then read <dir>/<dbfilename> from this host (Redis runs here).
 *   exec         BGSAVE, then stream `cat <dir>/<dbfilename>` out of the pod through the Kubernetes exec API.
 *   replication  No BGSAVE: SYNC over the replication protocol makes the server (master or replica)
 *                produce a fresh snapshot and send it to us, like `redis-cli --rdb`.
 * `dir` and `dbfilename` come from CONFIG GET unless `sources.redis.dataDir` overrides the directory.
 * Every byte passes through the RDB validator on its way to the artifact writer: a file with a bad
 * magic, an unknown version, a broken structure, a CRC mismatch or key counts that disagree with its
 * RESIZEDB hints fails the backup and nothing is left in the store.
 */
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { RedisSourceConfig } from './config.js';
import { RdbFormatError, RdbValidator, totalKeys } from './rdb.js';
import type { RedisFacts } from './facts.js';
import type { Logger } from '../../util/log.js';
import { OperationError, UsageError, errorMessage } from '../../util/errors.js';
import { connectRedis, parseInfo, parseRedisUrl, redisTimeoutMs } from './client.js';
import { withFacts } from '../../repository/artifact-writer.js';
import { bgsave, type BgsaveResult } from './bgsave.js';
import { FollowMismatchError, followBgsave, openRdbFile } from './snapshot-file.js';
import { fetchRdbByReplication } from './snapshot-replication.js';
import type { BackupFn, BackupContext } from '../source.js';

export const REDIS_ARTIFACT_NAME = 'redis/dump.rdb';

/** Where the server writes its RDB: CONFIG GET dir / dbfilename (dataDir overrides the directory). */
async function rdbLocation(client: Redis, cfg: RedisSourceConfig, log: Logger): Promise<{ dir: string; file: string }> {
  let dir = cfg.dataDir;
  let file = 'dump.rdb';
  try {
    const [, d] = (await client.config('GET', 'dir')) as string[];
    const [, f] = (await client.config('GET', 'dbfilename')) as string[];
    if (f) file = f;
    dir ??= d;
  } catch (err) {
    if (!cfg.dataDir) {
      throw new OperationError(`CONFIG GET dir failed (${errorMessage(err)}); set sources.redis.dataDir to the directory Redis saves to`, { cause: err });
    }
    log.warn({ err: errorMessage(err) }, 'CONFIG GET failed; assuming dbfilename dump.rdb in sources.redis.dataDir');
  }
  if (!dir) throw new OperationError('could not determine the Redis data directory; set sources.redis.dataDir');
  return { dir, file };
}

interface OpenedSource {
  stream: Readable;
  /** The server's verdict on the save being read, when the stream may end before it (see followBgsave). */
  saved?: Promise<BgsaveResult>;
}

/**
 * The snapshot to store. `confirmed`: a save the server already confirmed (file method), whose finished file is read
 * without another BGSAVE.
 */
async function openSource(ctx: BackupContext, cfg: RedisSourceConfig, client: Redis, log: Logger, follow: boolean, confirmed?: BgsaveResult): Promise<OpenedSource> {
  const ep = parseRedisUrl(cfg.url, 'sources.redis.url', { passwordFile: cfg.passwordFile });
  if (cfg.method === 'replication') {
    log.info({ server: ep.display }, 'requesting a snapshot over the replication protocol');
    return { stream: await fetchRdbByReplication(ep, { log, signal: ctx.signal, headerTimeoutMs: cfg.bgsaveTimeoutSeconds * 1000 }) };
  }
  // Resolve everything that can fail on configuration before making the server fork.
  const namespace = cfg.namespace ?? ctx.config.sources.kube?.namespace;
  // The Kubernetes client is loaded only for the exec method (it costs ~80 MiB of memory).
  const exec = cfg.method === 'exec' ? await import('./snapshot-exec.js') : undefined;
  const kc = exec?.kubeConfigFor(ctx.config);
  if (cfg.method === 'exec' && !namespace) throw new UsageError('sources.redis.method exec needs sources.redis.namespace or sources.kube.namespace');
  // Where the file will be; if this fails now, BGSAVE still runs first (its own error is the better one).
  const early = await rdbLocation(client, cfg, log).catch(() => undefined);
  if (confirmed && cfg.method === 'file') {
    const where = early ?? (await rdbLocation(client, cfg, log));
    return { stream: await openRdbFile(join(where.dir, where.file), confirmed.lastsave) };
  }

  log.info('BGSAVE');
  let onIssued!: (i: { scheduled: boolean; at: number }) => void;
  const issued = new Promise<{ scheduled: boolean; at: number }>((r) => (onIssued = r));
  const done = bgsave(client, { timeoutMs: cfg.bgsaveTimeoutSeconds * 1000, log, signal: ctx.signal, onIssued });
  done.then(
    (saved) => log.info({ lastsave: saved.lastsave, ms: saved.durationMs, scheduled: saved.scheduled }, 'BGSAVE finished'),
    () => undefined,
  );
  if (cfg.method === 'file' && follow && early) {
    // Copy while the child writes: the file method reads the snapshot as it grows (see followBgsave).
    const first = await Promise.race([issued, done.then(() => undefined, () => undefined)]);
    if (first && !first.scheduled) {
      const stream = await followBgsave({ dir: early.dir, file: early.file, issuedAt: first.at, done, log });
      if (stream) return { stream, saved: done };
    }
  }
  const saved = await done;
  const where = early ?? (await rdbLocation(client, cfg, log));
  if (cfg.method === 'file') {
    const path = join(where.dir, where.file);
    log.info({ path }, 'reading the RDB file');
    return { stream: await openRdbFile(path, saved.lastsave) };
  }
  const path = posix.join(where.dir, where.file);
  return { stream: await exec!.execCat(kc!, { namespace: namespace!, pod: cfg.pod, container: cfg.container }, path, { log, signal: ctx.signal }) };
}

export const backupRedis: BackupFn = async (ctx) => {
  const cfg = ctx.config.sources.redis;
  if (!cfg) throw new UsageError('sources.redis is not configured');
  const ep = parseRedisUrl(cfg.url, 'sources.redis.url', { passwordFile: cfg.passwordFile });
  // ctx.log carries `source` already: binding it again would write the key twice on every line.
  const log = ctx.log.child({ method: cfg.method });
  const started = Date.now();
  // Without a command timeout a server that stops answering (dead peer, hung process) hangs the backup forever.
  const timeoutMs = redisTimeoutMs(cfg);
  const client = await connectRedis(ep, { connectTimeout: timeoutMs, commandTimeout: timeoutMs });
  try {
    const server = parseInfo(await client.info('server'));
    const memory = parseInfo(await client.info('memory'));
    const replication = parseInfo(await client.info('replication'));
    log.info({ server: ep.display, version: server.get('redis_version'), role: replication.get('role') }, 'redis backup starting');

    let written;
    let validator: RdbValidator;
    let confirmed: BgsaveResult | undefined;
    for (let follow = true; ; follow = false) {
      let source: Readable;
      let saved: Promise<BgsaveResult> | undefined;
      try {
        ({ stream: source, saved } = await openSource(ctx, cfg, client, log, follow, confirmed));
      } catch (err) {
        if (err instanceof UsageError || err instanceof OperationError) throw err;
        throw new OperationError(`redis backup (${cfg.method}): ${errorMessage(err)}`, { cause: err });
      }
      const v = new RdbValidator();
      validator = v;
      let invalid: RdbFormatError | undefined;
      let mismatch: FollowMismatchError | undefined;
      v.on('error', (e) => {
        if (e instanceof RdbFormatError) invalid = e;
      });
      source.on('error', (e) => {
        if (e instanceof FollowMismatchError) mismatch = e;
        v.destroy(e);
      });
      source.pipe(v);
      try {
        written = await ctx.writer.write(
          // An RDB is smaller than the memory its data uses; twice that is a safe upper estimate for sizing parts.
          { name: REDIS_ARTIFACT_NAME, source: 'redis', kind: 'redis-rdb', compression: 'zstd', compressionLevel: cfg.compressionLevel, expectedSize: 2 * Number(memory.get('used_memory') ?? 0) || undefined, progressTotal: Number(memory.get('used_memory') ?? 0) || undefined },
          v,
          ctx.signal,
        );
      } catch (err) {
        source.destroy();
        if (mismatch && follow) {
          log.warn({ reason: mismatch.message }, 'reading the snapshot during BGSAVE did not work out; taking another one and reading the finished file');
          continue;
        }
        if (invalid) {
          throw new OperationError(`redis backup (${cfg.method}): the RDB failed validation, nothing was stored: ${invalid.message}`, { cause: invalid });
        }
        const msg = errorMessage(err).replace(/^artifact redis\/dump\.rdb: /, '');
        throw new OperationError(`redis backup (${cfg.method}): ${msg}`, { cause: err });
      }
      let result: BgsaveResult | undefined;
      try {
        result = await saved;
      } catch (err) {
        await ctx.writer.discard(written).catch((e: unknown) => log.error({ err: errorMessage(e) }, 'could not remove the artifact of a failed save'));
        if (err instanceof OperationError) throw err;
        throw new OperationError(`redis backup (${cfg.method}): ${errorMessage(err)}`, { cause: err });
      }
      if (result && result.saves > 1) {
        // What was followed is the first save, which bgsave() did not accept (it ended within the second of the
        // previous save, so LASTSAVE could not vouch for it) and took again: the server confirmed a later file.
        // Store that save's finished file instead (no further BGSAVE), so the artifact is the snapshot the facts
        // and LASTSAVE describe.
        await ctx.writer.discard(written);
        log.info('the followed save was taken again by the server check; reading the finished file of a confirmed save instead');
        confirmed = result;
        continue;
      }
      break;
    }
    const summary = validator.summary();
    const facts: RedisFacts = {
      type: 'redis',
      redisVersion: summary.redisVersion ?? server.get('redis_version') ?? 'unknown',
      rdbVersion: summary.rdbVersion,
      method: cfg.method,
      usedMemoryBytes: Number(memory.get('used_memory') ?? 0),
      databases: summary.databases.map(({ db, keys, expires }) => ({ db, keys, expires })),
    };
    log.info(
      { bytes: written.size, keys: totalKeys(summary), rdbVersion: summary.rdbVersion, checksum: summary.checksum, ms: Date.now() - started },
      'redis backup complete',
    );
    return { artifacts: [withFacts(written, facts)], failures: [] };
  } finally {
    client.disconnect();
  }
};
