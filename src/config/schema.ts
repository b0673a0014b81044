import { z } from 'zod';
import { parseDuration } from '../util/duration.js';

/** A string that parses as a URL; `what` says which, in the error. */
export const url = (what: string) =>
  z.string().refine((s) => {
    try {
      new URL(s);
      return true;
    } catch {
      return false;
    }
  }, `expected a URL (${what})`);

export const positiveInt = z.number().int().positive();

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

/**
 * Manifest signatures (Ed25519, docs/format.md section 3a). `keyFile`: the backup side's private key (PKCS#8 PEM).
 * `publicKeys` / `publicKeysFile`: the readers' trusted keys (PEM, or its one-line base64 body); when any is set,
 * list, show, verify, restore, drill and prune trust only manifests signed by one of them.
 */
export const signingSchema = z.strictObject({
  keyFile: z.string().min(1).optional(),
  publicKeys: z.array(z.string().min(1)).min(1).optional(),
  publicKeysFile: z.string().min(1).optional(),
});




/**
 * The old fixed schedules' retention, kept as shorthand: `retention.nightly: 14` is `keepLast: 14` for the nightly
 * schedule unless `schedules.nightly.retention` says otherwise.
 */
export const retentionSchema = z.strictObject({
  nightly: positiveInt.default(14),
  monthly: positiveInt.default(12),
  manual: positiveInt.default(10),
  incompleteAfterHours: positiveInt.default(24),
});

/**
 * Which Completed backups of one schedule to keep, grandfather-father-son style: a backup that any rule matches
 * stays. `keepHourly: 24` keeps the newest backup of each of the 24 newest hours that have one (likewise days,
 * ISO weeks, months, in schedules.timeZone or UTC); `keepWithin: 7d` keeps every backup younger than that.
 */
export const retentionPolicySchema = z
  .strictObject({
    keepLast: positiveInt.optional(),
    keepHourly: positiveInt.optional(),
    keepDaily: positiveInt.optional(),
    keepWeekly: positiveInt.optional(),
    keepMonthly: positiveInt.optional(),
    keepWithin: z
      .string()
      .refine((d) => parseDuration(d) !== undefined, 'expected a duration like 36h, 7d or 2w (units h, d, w)')
      .optional(),
  })
  .refine((p) => Object.values(p).some((v) => v !== undefined), {
    message: 'expected at least one of keepLast, keepHourly, keepDaily, keepWeekly, keepMonthly, keepWithin',
  });
export type RetentionPolicy = z.infer<typeof retentionPolicySchema>;

const healthCheckSchema = z.strictObject({
  service: z.string(),
  port: positiveInt,
  path: z.string().startsWith('/').default('/api/health'),
  expectStatus: z.number().int().default(200),
  expectBody: z.string().optional(),
});

export const drillSchema = z.strictObject({
  /**
   * An existing scratch namespace (labelled gushen-dr.io/drill=true, e.g. gushen-dr-drill created at install time)
   * to restore into and empty afterwards; unset: the drill creates `<namespacePrefix><date>` and deletes it.
   */
  namespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'expected a namespace name (lowercase letters, digits, -)')
    .optional(),
  namespacePrefix: z.string().default('dr-drill-'),
  domain: z.string().optional(),
  databasePrefix: z.string().default('dr_drill_'),
  /** Scratch PostgreSQL server for the drill database; unset: a throwaway local server. */
  postgres: z.strictObject({ url: url('postgres://user:password@scratch-host:5432/'), passwordFile: z.string().min(1).optional() }).optional(),
  /** Scratch Redis for the drill (`{{namespace}}` is replaced); unset: a throwaway local redis-server. */
  redis: z.strictObject({ url: z.string().optional(), passwordFile: z.string().min(1).optional() }).prefault({}),
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

/** Schedule names: also the suffix of backup ids (src/repository/layout.ts), so they stay short and key-safe. */
export const SCHEDULE_NAME_PATTERN = '[a-z][a-z0-9-]{0,30}';
const SCHEDULE_NAME_RE = new RegExp(`^${SCHEDULE_NAME_PATTERN}$`);
/** Keys of `schedules` that are settings, not backup schedules (`drill` is the drill's cron). */
export const SCHEDULES_SETTINGS: readonly string[] = ['drill', 'timeZone', 'listen'];
/** Schedules known without configuration; their retention defaults to the `retention.<name>` shorthand. */
export const BUILTIN_SCHEDULES = ['manual', 'nightly', 'monthly'] as const;

/** One named backup schedule; a plain string is shorthand for `{ cron: <string> }`. */
export const scheduleDefSchema = z.strictObject({
  /** When `gushen-dr schedule` runs it; without it the schedule is run from elsewhere (`backup --schedule <name>`). */
  cron: z.string().optional(),
  /** The sources its backups cover (default: every configured one), like `backup --only`. */
  only: z.array(z.string()).min(1).optional(),
  retention: retentionPolicySchema.optional(),
});
export type ScheduleDef = z.infer<typeof scheduleDefSchema>;

/**
 * `drill`, `timeZone`, `listen`, and any number of named backup schedules (`nightly: "0 2 * * *"`,
 * `hourly: { cron, only, retention }`). Each entry is checked here so that errors name the schedule and its key;
 * src/config/schedules.ts reads them.
 */
export const schedulesSchema = z
  .object({
    drill: z.string().optional(),
    timeZone: z.string().optional(),
    listen: z.string().default('127.0.0.1:9464'),
  })
  .catchall(z.unknown())
  .superRefine((s, ctx) => {
    for (const [name, value] of Object.entries(s)) {
      if (SCHEDULES_SETTINGS.includes(name)) continue;
      if (!SCHEDULE_NAME_RE.test(name)) {
        ctx.addIssue({ code: 'custom', path: [name], message: `not a schedule name: expected ${SCHEDULE_NAME_PATTERN} (lower case, digits, -)` });
        continue;
      }
      if (typeof value === 'string') {
        if (!(BUILTIN_SCHEDULES as readonly string[]).includes(name)) {
          ctx.addIssue({ code: 'custom', path: [name], message: `a new schedule needs its retention: write { cron: "${value}", retention: { keepLast: N } }` });
        }
        continue;
      }
      const r = scheduleDefSchema.safeParse(value, { reportInput: true });
      if (!r.success) {
        for (const i of r.error.issues) ctx.addIssue({ ...i, path: [name, ...i.path] } as Parameters<typeof ctx.addIssue>[0]);
        continue;
      }
      if (name === 'manual' && r.data.cron !== undefined) ctx.addIssue({ code: 'custom', path: [name, 'cron'], message: 'manual backups are run by hand: no cron' });
      // A new schedule without a rule would grow the store without bound; the built-in ones have retention.<name>.
      if (!(BUILTIN_SCHEDULES as readonly string[]).includes(name) && r.data.retention === undefined) {
        ctx.addIssue({ code: 'custom', path: [name, 'retention'], message: 'required: how many of its backups to keep, e.g. { keepLast: 24 } or { keepDaily: 7, keepWeekly: 4 }' });
      }
    }
  });

/**
 * Everything but `sources`. The sources' own schemas live with each source (src/sources/<name>/config.ts) and
 * are put together by the registry (src/sources/registry.ts) with `buildConfigSchema`.
 */
export const baseConfigShape = {
  store: storeSchema,
  encryption: encryptionSchema,
  signing: signingSchema.optional(),
  retention: retentionSchema.prefault({}),
  backup: z
    .strictObject({
      concurrency: z.number().int().min(1).max(8).default(2),
      /** How long a backup's lock claim stays live unrenewed (its holder renews it every third of this): a killed run blocks retries this long. */
      lockLeaseSeconds: z.number().int().min(3).max(86_400).optional(),
      /** The old name of lockLeaseSeconds, still accepted. */
      lockTtlSeconds: positiveInt.optional(),
    })
    .refine((b) => b.lockLeaseSeconds === undefined || b.lockTtlSeconds === undefined, {
      message: 'set lockLeaseSeconds or its old name lockTtlSeconds, not both',
      path: ['lockTtlSeconds'],
    })
    .transform((b) => ({ ...b, lockLeaseSeconds: b.lockLeaseSeconds ?? b.lockTtlSeconds ?? 120 }))
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
};

/**
 * The config schema for a set of sources: each one optional, unknown keys refused. `sources` itself may be left out:
 * a restore-only config (store and encryption) serves restore, verify, list and drill; `backup` then says that no
 * source is configured (src/engine/backup.ts selectSources). Called once, by the registry, with every source's schema.
 */
export function buildConfigSchema(sources: Record<string, z.ZodType>) {
  const names = Object.keys(sources);
  const shape = Object.fromEntries(names.map((n) => [n, sources[n].optional()]));
  return z
    .strictObject({
      ...baseConfigShape,
      sources: z.strictObject(shape).prefault({}),
    })
    .superRefine((c, ctx) => {
      // A schedule's `only` names configured sources, like `backup --only`: checked here, before any run.
      const configured = names.filter((n) => (c.sources as Record<string, unknown>)[n] !== undefined);
      for (const [name, def] of Object.entries(c.schedules)) {
        if (SCHEDULES_SETTINGS.includes(name) || typeof def !== 'object' || def === null) continue;
        ((def as ScheduleDef).only ?? []).forEach((s, i) => {
          if (!configured.includes(s)) {
            ctx.addIssue({
              code: 'custom',
              path: ['schedules', name, 'only', i],
              message: names.includes(s) ? `sources.${s} is not configured` : `unknown source "${s}" (expected ${names.join(', ')})`,
            });
          }
        });
      }
    });
}

/**
 * Each source's parsed config, by source name. Empty here: every source adds its entry by declaration merging in
 * its own config module (`declare module '../../config/schema.js' { interface SourceConfigs { … } }`), so the
 * config layer never imports a source and `config.sources.<name>` is still typed.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SourceConfigs {}

/** A source's name: a key of `SourceConfigs` (the registry checks that it lists exactly these). */
export type SourceName = keyof SourceConfigs & string;

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- only its type is used
const baseConfigSchema = z.strictObject(baseConfigShape);
export type Config = z.infer<typeof baseConfigSchema> & { sources: { [K in SourceName]?: SourceConfigs[K] } };
export type StoreConfig = z.infer<typeof storeSchema>;
export type DrillConfig = z.infer<typeof drillSchema>;
