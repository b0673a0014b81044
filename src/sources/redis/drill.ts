import type { Artifact } from '../../repository/manifest.js';
import type { CheckResult, DrillContext, DrillTarget } from '../source.js';
import type { RedisFacts } from './facts.js';
import { restoreRedisOnline, type RedisRestoreReport } from './restore.js';
import { startScratchRedis } from './scratch-server.js';

/**
 * Redis's drill part: the RDB is restored online into `drill.redis.url` (`{{namespace}}` replaced) or a throwaway
 * local redis-server; then the keys per database must equal the manifest's, less those whose TTL ran out since.
 */
export async function prepareRedisDrill(ctx: DrillContext): Promise<DrillTarget | undefined> {
  const rdb = ctx.artifacts.find((a): a is Artifact & { facts: RedisFacts } => a.kind === 'redis-rdb' && a.facts.type === 'redis');
  if (!rdb) return undefined;
  let redisUrl: string;
  let passwordFile: string | undefined;
  let kind: 'throwaway' | 'configured';
  if (ctx.config.drill.redis.url) {
    redisUrl = ctx.config.drill.redis.url.replace(/\{\{namespace\}\}/g, ctx.vars.namespace ?? '');
    passwordFile = ctx.config.drill.redis.passwordFile;
    kind = 'configured';
  } else {
    const srv = await startScratchRedis();
    ctx.cleanup(`throwaway Redis ${srv.where}`, srv.stop);
    redisUrl = srv.url;
    kind = 'throwaway';
  }
  let report: RedisRestoreReport | undefined;
  return {
    vars: { redisUrl },
    scratch: { server: kind },
    describe: `redis ${kind}`,
    restore: async () => {
      report = await ctx.phase('redis', () => restoreRedisOnline(ctx.restore, { redisUrl, passwordFile }), (r) => `${r.keysRestored} keys`);
    },
    checks: async () => (report ? redisChecks(report, rdb.facts) : []),
  };
}

/** Per-database key counts after the Redis restore; keys whose TTL ran out since the backup are allowed for. */
export function redisChecks(report: RedisRestoreReport, facts: RedisFacts): CheckResult[] {
  const expectedTotal = facts.databases.reduce((s, d) => s + d.keys, 0) - report.databases.reduce((s, d) => s + d.expiredSinceBackup, 0);
  const actualTotal = report.databases.reduce((s, d) => s + d.actual, 0);
  const total: CheckResult = { kind: 'redis', name: 'keys in all databases', ok: actualTotal === expectedTotal, expected: expectedTotal, actual: actualTotal };
  return [
    total,
    ...facts.databases.map((d): CheckResult => {
      const r = report.databases.find((x) => x.db === d.db);
      const expected = d.keys - (r?.expiredSinceBackup ?? 0);
      return {
        kind: 'redis',
        name: `db${d.db} keys`,
        ok: r !== undefined && r.actual === expected,
        expected,
        actual: r?.actual ?? 'missing',
        detail: r?.expiredSinceBackup ? `${d.keys} in the backup, ${r.expiredSinceBackup} expired since (TTL)` : undefined,
      };
    }),
  ];
}
