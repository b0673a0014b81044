import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Identity } from '../crypto/index.js';
import type { Config, SourceName } from '../config/schema.js';
import type { Artifact, Manifest } from '../repository/manifest.js';
import type { ObjectStore } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { OperationError, UsageError, errorMessage } from '../util/errors.js';
import type { RestoreContext, RestoreItemResult } from '../sources/restore-context.js';
import type { KubeRestoreOptions, KubeRestoreReport } from '../sources/kube/restore.js';
import type { PostgresRestoreOptions, PostgresRestoreReport } from '../sources/postgres/restore.js';
import type { RedisRestoreReport } from '../sources/redis/restore.js';
import { openArtifact } from '../repository/artifact-reader.js';

export interface RestoreRunOptions {
  store: ObjectStore;
  manifest: Manifest;
  identities: Identity[];
  config: Config;
  log: Logger;
  only?: SourceName[];
  scratchDir?: string;
  signal?: AbortSignal;
  postgres?: Omit<PostgresRestoreOptions, 'pgUrl'> & { pgUrl?: string };
  redis?: { redisUrl?: string; dataDir?: string; force?: boolean; fenceReplicas?: boolean; redisServerBin?: string };
  kube?: KubeRestoreOptions;
}

export interface RestoreRunReport {
  backup: string;
  kube?: KubeRestoreReport;
  postgres?: PostgresRestoreReport;
  redis?: RedisRestoreReport;
  items: RestoreItemResult[];
  failed: number;
}

/**
 * Checks every target the restore needs before touching any, then restores the chosen parts.
 * Kubernetes first (namespaces, Secrets), then PostgreSQL, then Redis.
 */
export async function runRestore(opts: RestoreRunOptions): Promise<RestoreRunReport> {
  const inBackup = new Set(opts.manifest.artifacts.map((a) => a.source));
  const parts = (opts.only && opts.only.length > 0 ? opts.only : (['kube', 'postgres', 'redis'] as SourceName[])).filter(
    (s) => opts.only?.includes(s) || inBackup.has(s),
  );
  for (const p of parts) {
    if (!inBackup.has(p)) throw new UsageError(`--only ${p}: backup ${opts.manifest.id} has no ${p} artifact`);
  }
  if (parts.includes('postgres') && !opts.postgres?.pgUrl) throw new UsageError('restoring postgres needs --pg-url URL (the target server)');
  if (parts.includes('redis') && !opts.redis?.redisUrl && !opts.redis?.dataDir) {
    throw new UsageError('restoring redis needs --redis-url URL (online) or --redis-data-dir DIR (offline)');
  }
  if (parts.includes('kube') && !opts.kube?.kubeConfig && !opts.config.sources.kube) {
    throw new UsageError('restoring kube needs sources.kube in the config (for the cluster to restore into)');
  }

  const ctx: RestoreContext = {
    store: opts.store,
    manifest: opts.manifest,
    identities: opts.identities,
    config: opts.config,
    log: opts.log,
    scratchDir: opts.scratchDir,
    signal: opts.signal,
  };
  await checkArtifactsBeforeRestore(ctx, artifactsToCheckFirst(opts.manifest, parts, opts.postgres));

  const report: RestoreRunReport = { backup: opts.manifest.id, items: [], failed: 0 };
  if (parts.includes('kube')) {
    const { restoreKube } = await import('../sources/kube/restore.js');
    report.kube = await restoreKube(ctx, opts.kube ?? {});
    report.items.push(...report.kube.items);
    report.failed += report.kube.failed;
  }
  if (parts.includes('postgres')) {
    const { restorePostgres } = await import('../sources/postgres/restore.js');
    report.postgres = await restorePostgres(ctx, { ...opts.postgres, pgUrl: opts.postgres!.pgUrl! });
    report.items.push(...report.postgres.items);
  }
  if (parts.includes('redis')) {
    const r = opts.redis!;
    const { restoreRedisOffline, restoreRedisOnline } = await import('../sources/redis/restore.js');
    report.redis = r.dataDir
      ? await restoreRedisOffline(ctx, { dataDir: r.dataDir, force: r.force })
      : await restoreRedisOnline(ctx, { redisUrl: r.redisUrl!, force: r.force, fenceReplicas: r.fenceReplicas, redisServerBin: r.redisServerBin });
    report.items.push(...report.redis.items);
  }
  report.failed = report.items.filter((i) => i.result === 'failed').length;
  return report;
}

/**
 * The artifacts that must be verified before anything is restored: those of every part after the first (the
 * first part is applied before they would be read), and a PostgreSQL dump streamed into pg_restore (one job: its
 * end is verified only after pg_restore has applied the rest). The first part's other artifacts verify themselves
 * before anything is applied (Kubernetes reads its archive into memory, Redis and pg_restore --jobs stage theirs).
 */
function artifactsToCheckFirst(manifest: Manifest, parts: SourceName[], pgOpts: RestoreRunOptions['postgres']): Artifact[] {
  return manifest.artifacts.filter((a) => {
    if (!parts.includes(a.source)) return false;
    if (a.kind === 'pg_dumpall-globals-sql' && pgOpts?.withGlobals !== true) return false;
    if (a.kind === 'pg_dump-custom' && pgOpts?.sourceDatabase !== undefined && !(a.facts.type === 'postgres' && a.facts.database === pgOpts.sourceDatabase)) return false;
    if (a.source !== parts[0]) return true;
    return a.kind === 'pg_dump-custom' && (pgOpts?.jobs ?? 1) <= 1;
  });
}

/**
 * Reads these artifacts once, completely, before any target is touched: stored size and
 * SHA-256, decryption with the given identities, plaintext size and SHA-256. A truncated, swapped or tampered
 * artifact, an edited manifest or the wrong key then fails the restore with nothing restored — instead of after
 * the parts restored before it (Kubernetes goes first), or after a streamed pg_restore applied most of a bad dump.
 * It costs one extra read and decryption of the artifacts (no disk space).
 */
async function checkArtifactsBeforeRestore(ctx: RestoreContext, artifacts: Artifact[]): Promise<void> {
  if (artifacts.length === 0) return;
  const t0 = Date.now();
  for (const a of artifacts) {
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    try {
      await pipeline(await openArtifact(ctx.store, a, ctx.identities), sink, ctx.signal ? { signal: ctx.signal } : {});
    } catch (err) {
      const msg = errorMessage(err);
      throw new OperationError(msg.startsWith(`artifact ${a.name}`) ? msg : `artifact ${a.name} (${a.key}): ${msg}`, { cause: err });
    }
  }
  ctx.log.info({ artifacts: artifacts.map((a) => a.name), seconds: (Date.now() - t0) / 1000 }, 'artifacts verified (size, SHA-256, decryption) before restoring anything');
}
