import { z } from 'zod';

const url = (what: string) =>
  z.string().refine((s) => {
    try {
      new URL(s);
      return true;
    } catch {
      return false;
    }
  }, `expected a URL (${what})`);

const positiveInt = z.number().int().positive();

export const storeSchema = z.strictObject({
  url: z
    .string()
    .regex(/^(file|s3):\/\//, 'expected a URL starting with file:// or s3://'),
  s3: z
    .strictObject({
      endpoint: url('S3 endpoint, e.g. http://127.0.0.1:9000').optional(),
      region: z.string().default('us-east-1'),
      forcePathStyle: z.boolean().default(false),
      checksums: z.enum(['when_supported', 'when_required']).default('when_supported'),
      // An upload holds (queueSize + 1) parts in memory. 8 MiB (the AWS CLI's default) keeps a backup under
      // 150 MiB peak RSS (docs/performance.md); a source that knows its size up front (a database) gets larger
      // parts automatically when 8 MiB parts would not fit S3's 10,000-part limit.
      partSizeMiB: z.number().int().min(5).max(5120).default(8),
      queueSize: z.number().int().min(1).max(16).default(2),
      maxAttempts: z.number().int().min(1).max(20).default(6),
      /** A request whose connection moves no bytes for this long fails (and is retried): a dead or stalled endpoint never hangs a run. Default 120. */
      timeoutSeconds: z.number().int().min(1).max(3600).optional(),
      objectLock: z
        .strictObject({ mode: z.enum(['GOVERNANCE', 'COMPLIANCE']), days: positiveInt })
        .optional(),
    })
    .prefault({}),
});

export const encryptionSchema = z
  .strictObject({
    recipients: z.array(z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, 'expected an age X25519 recipient (age1…)')).default([]),
    recipientsFile: z.string().min(1).optional(),
    identityFile: z.string().min(1).optional(),
  })
  .refine((e) => e.recipients.length > 0 || e.recipientsFile !== undefined, {
    message: 'expected at least one recipient: set encryption.recipients or encryption.recipientsFile',
  });

export const kubeSourceSchema = z.strictObject({
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a namespace name (DNS-1123 label)'),
  kubeconfig: z.string().optional(),
  context: z.string().optional(),
  excludeResources: z.array(z.string()).default([]),
  clusterResources: z.boolean().default(true),
});

export const postgresSourceSchema = z.strictObject({
  url: url('postgres://user:password@host:5432/'),
  databases: z.array(z.string().min(1)).min(1, 'expected at least one database name'),
  globals: z.boolean().default(true),
  binDir: z.string().optional(),
  compression: z.enum(['zstd', 'gzip', 'none']).default('zstd'),
  compressionLevel: z.number().int().min(1).max(19).default(3),
  /** How long the server may stay silent: connecting (at most 30 s), and pg_dump/pg_dumpall producing no output while we wait for it. Default 300. */
  timeoutSeconds: positiveInt.optional(),
});

export const redisSourceSchema = z.strictObject({
  url: url('redis://:password@host:6379'),
  method: z.enum(['exec', 'file', 'replication']).default('file'),
  dataDir: z.string().optional(),
  namespace: z.string().optional(),
  pod: z.string().default('redis-0'),
  container: z.string().default('redis'),
  bgsaveTimeoutSeconds: positiveInt.default(600),
  /** zstd level; 1 by default: an RDB's strings are LZF-compressed already, and a higher level's extra CPU runs beside the BGSAVE fork (bench/redis.ts). */
  compressionLevel: z.number().int().min(1).max(19).default(1),
  /** Connecting and each command (a server that stops answering, e.g. while BGSAVE is polled or during an online restore, fails the run instead of hanging it). Default 60. */
  timeoutSeconds: positiveInt.optional(),
});

export const retentionSchema = z.strictObject({
  nightly: positiveInt.default(14),
  monthly: positiveInt.default(12),
  manual: positiveInt.default(10),
  incompleteAfterHours: positiveInt.default(24),
});

const healthCheckSchema = z.strictObject({
  service: z.string(),
  port: positiveInt,
  path: z.string().startsWith('/').default('/api/health'),
  expectStatus: z.number().int().default(200),
  expectBody: z.string().optional(),
});

export const drillSchema = z.strictObject({
  namespacePrefix: z.string().default('dr-drill-'),
  domain: z.string().optional(),
  databasePrefix: z.string().default('dr_drill_'),
  /** Scratch PostgreSQL server for the drill database; unset: a throwaway local server. */
  postgres: z.strictObject({ url: url('postgres://user:password@scratch-host:5432/') }).optional(),
  /** Scratch Redis for the drill (`{{namespace}}` is replaced); unset: a throwaway local redis-server. */
  redis: z.strictObject({ url: z.string().optional() }).prefault({}),
  healthChecks: z
    .array(healthCheckSchema)
    .default([
      { service: 'ai-qtrd-web', port: 3000, path: '/api/health', expectStatus: 200, expectBody: '"status":"ok"' },
      { service: 'ai-qtrd-api', port: 8000, path: '/api/health', expectStatus: 200, expectBody: '"status":"ok"' },
    ]),
  /** Container env rewrites in the drill namespace: NAME → value (`{{namespace}}`, `{{database}}`, `{{redisUrl}}` replaced). */
  env: z.record(z.string(), z.string()).default({}),
  /** Secret rewrites: secret name → key → value (same placeholders). */
  secretData: z.record(z.string(), z.record(z.string(), z.string())).default({}),
  readyTimeoutSeconds: positiveInt.default(600),
  binDir: z.string().optional(),
});

export const metricsSchema = z.strictObject({
  pushgateway: url('Pushgateway URL').optional(),
  textfile: z.string().optional(),
  job: z.string().default('gushen-dr'),
});

export const notifySchema = z.strictObject({
  webhook: url('webhook URL').optional(),
  onSuccess: z.boolean().default(false),
});

export const schedulesSchema = z.strictObject({
  nightly: z.string().optional(),
  monthly: z.string().optional(),
  drill: z.string().optional(),
  timeZone: z.string().optional(),
  listen: z.string().default('127.0.0.1:9464'),
});

export const configSchema = z.strictObject({
  store: storeSchema,
  encryption: encryptionSchema,
  sources: z
    .strictObject({
      kube: kubeSourceSchema.optional(),
      postgres: postgresSourceSchema.optional(),
      redis: redisSourceSchema.optional(),
    })
    .refine((s) => s.kube || s.postgres || s.redis, { message: 'expected at least one of kube, postgres, redis' }),
  retention: retentionSchema.prefault({}),
  backup: z
    .strictObject({
      concurrency: z.number().int().min(1).max(8).default(2),
      lockTtlSeconds: positiveInt.default(6 * 3600),
    })
    .prefault({}),
  scratchDir: z.string().optional(),
  /** Who runs zstd: the zstd command (2× less CPU than Node's built-in zstd, measured) when it is on PATH, else Node. */
  zstd: z
    .strictObject({
      engine: z.enum(['auto', 'command', 'node']).default('auto'),
      command: z.string().min(1).default('zstd'),
    })
    .prefault({}),
  metrics: metricsSchema.prefault({}),
  notify: notifySchema.prefault({}),
  drill: drillSchema.prefault({}),
  schedules: schedulesSchema.prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type StoreConfig = z.infer<typeof storeSchema>;
export type KubeSourceConfig = z.infer<typeof kubeSourceSchema>;
export type PostgresSourceConfig = z.infer<typeof postgresSourceSchema>;
export type RedisSourceConfig = z.infer<typeof redisSourceSchema>;
export type DrillConfig = z.infer<typeof drillSchema>;
export type SourceName = 'kube' | 'postgres' | 'redis';
export const SOURCE_NAMES: readonly SourceName[] = ['kube', 'postgres', 'redis'];
