import { z } from 'zod';
import { positiveInt, url } from '../../config/schema.js';

/** `sources.redis` in the config file (README's configuration table). */
export const redisConfigSchema = z.strictObject({
  url: url('redis://:password@host:6379'),
  /** A file holding the password alone (not percent-encoded), instead of one in the URL. */
  passwordFile: z.string().min(1).optional(),
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

export type RedisSourceConfig = z.infer<typeof redisConfigSchema>;

declare module '../../config/schema.js' {
  interface SourceConfigs {
    redis: RedisSourceConfig;
  }
}
