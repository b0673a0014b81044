import { z } from 'zod';
import { basebackupFactsSchema } from './pitr/facts.js';

const count = z.number().int().nonnegative();

/** Manifest facts of a `pg_dump-custom` artifact: the database's tables and their exact row counts at the snapshot. */
export const postgresFactsSchema = z.strictObject({
  type: z.literal('postgres'),
  database: z.string(),
  serverVersion: z.string(),
  pgDumpVersion: z.string(),
  databaseSizeBytes: count,
  snapshot: z.string().optional(),
  /** pg_dump's own --compress setting ('0': none, gushen-dr compresses the stream; see the artifact's `compression`). */
  dumpCompression: z.string().optional(),
  tables: z.array(z.strictObject({ schema: z.string(), name: z.string(), rows: count })),
});

export const postgresGlobalsFactsSchema = z.strictObject({
  type: z.literal('postgres-globals'),
  serverVersion: z.string(),
  roles: count,
});

/** Every kind of facts a PostgreSQL artifact carries (checked by the engine before a restore, verify or drill). */
export const postgresArtifactFactsSchema = z.discriminatedUnion('type', [postgresFactsSchema, postgresGlobalsFactsSchema, basebackupFactsSchema]);
export type PostgresFacts = z.infer<typeof postgresFactsSchema>;
export type PostgresGlobalsFacts = z.infer<typeof postgresGlobalsFactsSchema>;

declare module '../../repository/manifest.js' {
  interface ArtifactFactsByType {
    postgres: PostgresFacts;
    'postgres-globals': PostgresGlobalsFacts;
  }
}
