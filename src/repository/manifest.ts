import { z } from 'zod';
import { ARTIFACT_NAME_RE, isBackupId } from './layout.js';

/** Bump on any incompatible change; readers refuse versions they do not know. */
export const FORMAT_VERSION = 1;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a lowercase hex SHA-256');
const isoTime = z.iso.datetime();
const count = z.number().int().nonnegative();

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

export const redisFactsSchema = z.strictObject({
  type: z.literal('redis'),
  redisVersion: z.string(),
  rdbVersion: z.number().int(),
  method: z.enum(['exec', 'file', 'replication']),
  usedMemoryBytes: count,
  databases: z.array(z.strictObject({ db: count, keys: count, expires: count })),
});

export const kubeFactsSchema = z.strictObject({
  type: z.literal('kube'),
  namespace: z.string(),
  serverVersion: z.string().optional(),
  objects: count,
  /** Objects per qualified resource, kubectl-style: `deployments.apps`, and bare `configmaps` for the core group (src/sources/kube/archive.ts). */
  counts: z.record(z.string(), count),
  /** Skipped objects per `<qualified resource>: <reason>`, e.g. `pods: owned by a controller (recreated)`. */
  skipped: z.record(z.string(), count),
});

export const artifactFactsSchema = z.discriminatedUnion('type', [
  postgresFactsSchema,
  postgresGlobalsFactsSchema,
  redisFactsSchema,
  kubeFactsSchema,
]);

export const artifactSchema = z.strictObject({
  name: z.string().regex(ARTIFACT_NAME_RE, 'expected <source>/<file>'),
  source: z.enum(['kube', 'postgres', 'redis']),
  /** What the plaintext is, i.e. which standard tool reads it. */
  kind: z.enum(['pg_dump-custom', 'pg_dumpall-globals-sql', 'redis-rdb', 'kube-tar']),
  key: z.string(),
  /** Plaintext, before compression and encryption. */
  size: count,
  sha256,
  compression: z.enum(['zstd', 'gzip', 'none']),
  encryption: z.strictObject({ format: z.literal('age-encryption.org/v1'), recipients: z.array(z.string()).min(1) }),
  /** As stored: what `verify` checks without a key. */
  stored: z.strictObject({ size: count, sha256 }),
  verifiedAt: isoTime.optional(),
  facts: artifactFactsSchema,
});

export const failureSchema = z.strictObject({
  source: z.enum(['kube', 'postgres', 'redis']),
  artifact: z.string().optional(),
  error: z.string(),
});

export const manifestSchema = z.strictObject({
  formatVersion: z.literal(FORMAT_VERSION),
  id: z.string().refine(isBackupId, 'expected a backup id like 20261124T020000Z-nightly'),
  schedule: z.enum(['manual', 'nightly', 'monthly']),
  status: z.enum(['Completed', 'PartiallyFailed', 'Failed']),
  startedAt: isoTime,
  finishedAt: isoTime,
  tool: z.strictObject({ name: z.literal('gushen-dr'), version: z.string() }),
  host: z.string(),
  sources: z.array(z.enum(['kube', 'postgres', 'redis'])),
  artifacts: z.array(artifactSchema),
  failures: z.array(failureSchema),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type Artifact = z.infer<typeof artifactSchema>;
export type ArtifactFacts = z.infer<typeof artifactFactsSchema>;
export type PostgresFacts = z.infer<typeof postgresFactsSchema>;
export type RedisFacts = z.infer<typeof redisFactsSchema>;
export type KubeFacts = z.infer<typeof kubeFactsSchema>;
export type Failure = z.infer<typeof failureSchema>;
export type BackupStatus = Manifest['status'];
