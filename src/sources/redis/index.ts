import type { Artifact, Manifest } from '../../repository/manifest.js';
import { UsageError } from '../../util/errors.js';
import { readPasswordFile } from '../../util/password-file.js';
import { redactUrl } from '../../util/redact.js';
import type { Source, SourceRestoreResult } from '../source.js';
import { redisConfigSchema } from './config.js';
import { redisFactsSchema } from './facts.js';
import type { RedisRestoreReport } from './restore.js';

/** `gushen-dr restore` options for Redis: online into `redisUrl`, or offline into `dataDir`. */
export interface RedisRestoreInput {
  redisUrl?: string;
  /** --redis-password-file */
  passwordFile?: string;
  dataDir?: string;
  force?: boolean;
  fenceReplicas?: boolean;
  redisServerBin?: string;
  dryRun?: boolean;
}

declare module '../source.js' {
  interface SourceRestoreTypes {
    redis: { options: RedisRestoreInput; report: RedisRestoreReport };
  }
}

/** Redis: the RDB of a fresh BGSAVE (or a replication stream), checked by our RDB reader before it is stored. */
export const redisSource = {
  name: 'redis' as const,
  title: 'Redis',
  configSchema: redisConfigSchema,
  factsSchema: redisFactsSchema,
  artifactKinds: ['redis-rdb'],
  restoreOrder: 30,
  validate: async (config, signal) => (await import('./preflight.js')).preflightRedis(config, signal),
  // gushen-dr check: the server answers, the local redis-server reads its RDB version, exec rights (check.ts).
  check: async (ctx) => (await import('./check.js')).checkRedis(ctx),
  backup: async (ctx) => (await import('./backup.js')).backupRedis(ctx),
  deepVerify: async (ctx, a) => (await import('./restore.js')).deepVerifyRedis(ctx, a),
  restoreFlags: [
    { flags: '--redis-url <url>', description: 'Redis to restore into (online; no password here: it would show in the process list)' },
    { flags: '--redis-password-file <file>', description: "file holding the --redis-url server's password" },
    { flags: '--redis-data-dir <dir>', description: 'prepare a Redis data directory (offline)' },
    { flags: '--fence-replicas', description: 'online Redis restore: detach replicas first, re-attach after the check' },
    { flags: '--redis-server-bin <path>', description: 'redis-server for loading the backup (same or newer than the backup, not newer than the target)' },
  ],
  restoreOptions: (f, common) => ({
    redisUrl: f.redisUrl as string | undefined,
    passwordFile: f.redisPasswordFile as string | undefined,
    dataDir: f.redisDataDir as string | undefined,
    force: common.force,
    fenceReplicas: f.fenceReplicas === true,
    redisServerBin: f.redisServerBin as string | undefined,
    dryRun: common.dryRun,
  }),
  checkRestoreOptions: (_m, o) => {
    if (!o.redisUrl && !o.dataDir) throw new UsageError('restoring redis needs --redis-url URL (online) or --redis-data-dir DIR (offline)');
    // Before anything is restored (Kubernetes and PostgreSQL come first): the file must be readable.
    if (o.passwordFile && o.redisUrl) {
      if (URL.canParse(o.redisUrl) && new URL(o.redisUrl).password) throw new UsageError(`--redis-url ${redactUrl(o.redisUrl)} has a password and --redis-password-file is given too: keep the password in the file only`);
      readPasswordFile(o.passwordFile, '--redis-password-file');
    }
  },
  // The Redis restore stages and verifies the RDB before it touches the target.
  artifactsToCheckFirst: (m, _o, first) => (first ? [] : ofSource(m)),
  restore: async (ctx, o): Promise<SourceRestoreResult<RedisRestoreReport>> => {
    // The plan: the manifest's facts and the target as it is, only read (plan.ts).
    if (o.dryRun) return (await import('./plan.js')).planRedisRestore(ctx, o);
    const r = await import('./restore.js');
    const report = o.dataDir
      ? await r.restoreRedisOffline(ctx, { dataDir: o.dataDir, force: o.force })
      : await r.restoreRedisOnline(ctx, { redisUrl: o.redisUrl!, passwordFile: o.passwordFile, force: o.force, fenceReplicas: o.fenceReplicas, redisServerBin: o.redisServerBin });
    return { items: report.items, report };
  },
  drill: { prepare: async (ctx) => (await import('./drill.js')).prepareRedisDrill(ctx) },
} satisfies Source<RedisRestoreInput, RedisRestoreReport>;

const ofSource = (m: Manifest): Artifact[] => m.artifacts.filter((a) => a.source === 'redis');
