import { z } from 'zod';
import { positiveInt, url } from '../../config/schema.js';
import { pitrConfigSchema } from './pitr/config.js';

/** `sources.postgres` in the config file (README's configuration table). */
export const postgresConfigSchema = z.strictObject({
  url: url('postgres://user:password@host:5432/'),
  /** A file holding the password alone (not percent-encoded); else the URL's, PGPASSWORD or PGPASSFILE. */
  passwordFile: z.string().min(1).optional(),
  /** Default: the database the URL names. */
  databases: z.array(z.string().min(1)).min(1, 'expected at least one database name').optional(),
  globals: z.boolean().default(true),
  binDir: z.string().optional(),
  compression: z.enum(['zstd', 'gzip', 'none']).default('zstd'),
  /** 1 by default: half the CPU of level 3 and, on the benchmark's dump, a smaller output (src/sources/postgres/backup.ts). */
  compressionLevel: z.number().int().min(1).max(19).default(1),
  /** How long the server may stay silent: connecting (at most 30 s), and pg_dump/pg_dumpall producing no output while we wait for it. Default 300. */
  timeoutSeconds: positiveInt.optional(),
  /** Point-in-time recovery: WAL archiving, base backups, restore --to-time (src/sources/postgres/pitr/config.ts). */
  pitr: pitrConfigSchema.optional(),
}).transform((c, ctx) => {
  if (c.databases) return { ...c, databases: c.databases };
  let db = '';
  try {
    db = decodeURIComponent(new URL(c.url).pathname.replace(/^\//, ''));
  } catch {
    // the url check above has said so
  }
  if (!db) {
    ctx.issues.push({ code: 'custom', path: ['databases'], input: c, message: 'required when the URL names no database (postgres://host:5432/<database>)' });
    return z.NEVER;
  }
  return { ...c, databases: [db] };
});

export type PostgresSourceConfig = z.infer<typeof postgresConfigSchema>;

declare module '../../config/schema.js' {
  interface SourceConfigs {
    postgres: PostgresSourceConfig;
  }
}
