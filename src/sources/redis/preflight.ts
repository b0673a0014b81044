import { stat } from 'node:fs/promises';
import type { Config } from '../../config/schema.js';
import { UsageError, errorMessage } from '../../util/errors.js';
import { parseRedisUrl } from './client.js';

/**
 * What a Redis backup needs, checked before anything runs (above all before BGSAVE makes production Redis fork):
 * the URL parses; `method: exec` has a namespace, a kubeconfig with a current cluster and an API server that
 * answers; `method: file` with `dataDir` names an existing directory.
 */
export async function preflightRedis(config: Config, signal?: AbortSignal): Promise<void> {
  const cfg = config.sources.redis;
  if (!cfg) return;
  parseRedisUrl(cfg.url, 'sources.redis.url');
  if (cfg.method === 'exec') {
    if (!(cfg.namespace ?? config.sources.kube?.namespace)) throw new UsageError('sources.redis.method exec needs sources.redis.namespace or sources.kube.namespace');
    // The exec method reads the RDB out of the pod through the API: without it BGSAVE would run for nothing.
    await (await import('../shared/kube-preflight.js')).preflightKube(config.sources.kube, 'sources.redis.method exec', { signal });
  }
  if (cfg.method === 'file' && cfg.dataDir) {
    const st = await stat(cfg.dataDir).catch((err: unknown) => {
      throw new UsageError(`sources.redis.dataDir ${cfg.dataDir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : errorMessage(err)}`);
    });
    if (!st.isDirectory()) throw new UsageError(`sources.redis.dataDir ${cfg.dataDir}: not a directory`);
  }
}
