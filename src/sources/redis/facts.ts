import { z } from 'zod';

const count = z.number().int().nonnegative();

/** Manifest facts of a `redis-rdb` artifact: versions and keys per database, read from the RDB itself. */
export const redisFactsSchema = z.strictObject({
  type: z.literal('redis'),
  redisVersion: z.string(),
  rdbVersion: z.number().int(),
  method: z.enum(['exec', 'file', 'replication']),
  usedMemoryBytes: count,
  databases: z.array(z.strictObject({ db: count, keys: count, expires: count })),
});

export type RedisFacts = z.infer<typeof redisFactsSchema>;

declare module '../../repository/manifest.js' {
  interface ArtifactFactsByType {
    redis: RedisFacts;
  }
}
