import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { CheckContext, CheckRow } from '../source.js';
import { checkRow, failed } from '../shared/check-rows.js';
import { connectRedis, parseInfo, parseRedisUrl, redisTimeoutMs } from './client.js';
import type { RedisFacts } from './facts.js';
import { rdbVersionOfRedis, redisServerVersion } from './loader-server.js';
import { minRedisForRdbVersion } from './rdb.js';

/**
 * Redis's rows of `gushen-dr check`: the server answers (and its version, so the RDB version its BGSAVE writes);
 * the redis-server found here (PATH) can load that RDB version, and the latest backup's, which a restore and a
 * drill need; for `method: exec` the right to exec into the pod; for `method: file` with dataDir, that it is readable.
 */
export async function checkRedis(ctx: CheckContext): Promise<CheckRow[]> {
  const cfg = ctx.config.sources.redis;
  if (!cfg) return [];
  const rows: CheckRow[] = [];
  let serverRdb: number | undefined;
  if (ctx.command === 'backup') {
    rows.push(
      await checkRow('redis server', async () => {
        const ep = parseRedisUrl(cfg.url, 'sources.redis.url', { passwordFile: cfg.passwordFile });
        const client = await connectRedis(ep, { commandTimeout: Math.min(redisTimeoutMs(cfg), 15_000), connectTimeout: 10_000 });
        try {
          const version = parseInfo(await client.info('server')).get('redis_version') ?? '?';
          serverRdb = rdbVersionOfRedis(version);
          return `${ep.display}: Redis ${version} (its snapshots are RDB version ${serverRdb})`;
        } finally {
          client.disconnect();
        }
      }),
    );
  }
  const latestRdb = (ctx.latest?.artifacts ?? []).flatMap((a) => (a.kind === 'redis-rdb' && a.facts.type === 'redis' ? [(a.facts as RedisFacts).rdbVersion] : []));
  const needed = Math.max(0, serverRdb ?? 0, ...latestRdb);
  rows.push(
    await checkRow('redis-server (restore tool)', async () => {
      const bin = 'redis-server';
      const version = await redisServerVersion(bin);
      const reads = rdbVersionOfRedis(version);
      if (needed > reads) {
        const whose = serverRdb === needed ? 'the server writes' : `backup ${ctx.latest?.id} holds`;
        return failed(`${bin} ${version} (PATH) reads RDB up to version ${reads}, and ${whose} RDB version ${needed}: a restore or drill here could not load it; install redis-server ${minRedisForRdbVersion(needed)} or newer (restore --redis-server-bin)`);
      }
      return `${bin} ${version} (PATH) reads RDB up to version ${reads}${needed ? ` (needed: ${needed})` : ''}`;
    }),
  );
  if (ctx.command === 'backup' && cfg.method === 'exec') {
    rows.push(
      await checkRow('redis exec rights', async () => {
        const { KubeClient, loadKubeConfig } = await import('../shared/kube-client.js');
        const { deniedPermissions, describePermission, rightsOutcome } = await import('../shared/kube-access.js');
        const namespace = cfg.namespace ?? ctx.config.sources.kube?.namespace;
        const client = new KubeClient(loadKubeConfig(ctx.config.sources.kube), 10_000);
        const perms = [
          { verb: 'get', resource: 'pods', namespace, name: cfg.pod },
          { verb: 'create', resource: 'pods', subresource: 'exec', namespace, name: cfg.pod },
        ];
        const denied = await deniedPermissions(client, perms, ctx.signal);
        return rightsOutcome(`pod ${cfg.pod} in ${namespace} at ${client.description}`, perms.length, denied.map(describePermission));
      }),
    );
  }
  if (ctx.command === 'backup' && cfg.method === 'file' && cfg.dataDir) {
    const dir = cfg.dataDir;
    rows.push(
      await checkRow('redis dataDir', async () => {
        await access(dir, constants.R_OK | constants.X_OK);
        return `${dir} is readable`;
      }),
    );
  }
  return rows;
}
