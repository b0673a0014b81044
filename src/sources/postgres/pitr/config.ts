import { z } from 'zod';
import { positiveInt, url } from '../../../config/schema.js';

/**
 * `sources.postgres.pitr`: point-in-time recovery. `gushen-dr wal-archive` streams WAL through a physical
 * replication slot into `spoolDir` and stores every segment; `gushen-dr backup` adds a base backup
 * (`pg_basebackup`) to each PostgreSQL backup; `restore --to-time` replays WAL onto it.
 */
export const pitrConfigSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /**
   * Replication connection (a role with REPLICATION, allowed by a `replication` line in pg_hba.conf); default
   * `sources.postgres.url`. Its database path is ignored.
   */
  url: url('postgres://replicator:password@host:5432/').optional(),
  /**
   * A file holding the replication role's password alone (for `url`; in Kubernetes a Secret mounted as a file).
   * Without `url` the source's own `passwordFile` is used, as for every other connection of the source.
   */
  passwordFile: z.string().min(1).optional(),
  /** The physical replication slot that holds WAL on the server until it is archived. */
  slot: z
    .string()
    .regex(/^[a-z0-9_]{1,63}$/, 'expected a replication slot name (lower-case letters, digits, _)')
    .default('gushen_dr'),
  /** How often the segment being written is stored: the recovery point is never older than this (plus the upload). */
  partialUploadSeconds: positiveInt.default(10),
  /** Where pg_receivewal writes (a persistent volume): segments are removed from it once stored. */
  spoolDir: z.string().min(1).default('/var/lib/gushen-dr/wal-spool'),
  /** `/healthz` and `/metrics` of `gushen-dr wal-archive`. */
  listen: z.string().default('0.0.0.0:9465'),
  /** How long a base backup waits for the archiver to store the WAL it needs before that artifact fails. */
  walWaitSeconds: positiveInt.default(300),
  /** zstd level of archived WAL. */
  compressionLevel: z.number().int().min(1).max(19).default(3),
});

export type PitrConfig = z.infer<typeof pitrConfigSchema>;
