import { z } from 'zod';
import type { SourceName } from '../config/schema.js';
import { ARTIFACT_NAME_RE, SCHEDULE_NAME_RE, isBackupId } from './layout.js';

/**
 * Bump on any incompatible change; readers refuse versions they do not know. Written: 2. Read: 1 and 2
 * (READABLE_FORMAT_VERSIONS). Version 2 lets an artifact leave out its plaintext `sha256` when the plaintext never
 * passed through gushen-dr (pg_dump's stdout handed straight to the zstd CLI): its plaintext is then checked by the
 * zstd frames' content checksum, inside age's authenticated encryption (docs/format.md).
 */
export const FORMAT_VERSION = 2;
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a lowercase hex SHA-256');
const isoTime = z.iso.datetime();
const count = z.number().int().nonnegative();

/**
 * An artifact's facts, by their `type`. Empty here: each source adds the types of its facts by declaration
 * merging in its own facts module (src/sources/<name>/facts.ts), which also holds the zod schema the engine checks
 * them with. The repository itself reads only `type`, so a manifest whose facts it does not know is still listed,
 * kept and pruned like any other (a newer gushen-dr's extra field does not make a backup unreadable).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ArtifactFactsByType {}
export type ArtifactFacts = ArtifactFactsByType[keyof ArtifactFactsByType];

/** Facts as the repository checks them: an object with a `type`; the source's own schema checks the rest. */
const factsEnvelope = z.looseObject({ type: z.string().min(1) });

/** A source name as stored (the registry checks that it names a known source). */
const sourceName = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'expected a source name');

export const artifactSchema = z.strictObject({
  name: z.string().regex(ARTIFACT_NAME_RE, 'expected <source>/<file>'),
  source: sourceName,
  /** What the plaintext is, i.e. which standard tool reads it (each source lists its kinds). */
  kind: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,60}$/, 'expected an artifact kind'),
  key: z.string(),
  /** Plaintext, before compression and encryption. */
  size: count,
  /** Of the plaintext; absent (format version 2 only, zstd only) when the plaintext went straight into the zstd CLI. */
  sha256: sha256.optional(),
  compression: z.enum(['zstd', 'gzip', 'none']),
  encryption: z.strictObject({ format: z.literal('age-encryption.org/v1'), recipients: z.array(z.string()).min(1) }),
  /** As stored: what `verify` checks without a key. */
  stored: z.strictObject({ size: count, sha256 }),
  verifiedAt: isoTime.optional(),
  facts: factsEnvelope,
});

export const failureSchema = z.strictObject({
  source: sourceName,
  artifact: z.string().optional(),
  error: z.string(),
});

export const manifestSchema = z.strictObject({
  formatVersion: z.union([z.literal(1), z.literal(2)]),
  id: z.string().refine(isBackupId, 'expected a backup id like 20261124T020000Z-nightly'),
  /** `manual`, `nightly`, `monthly` or a configured schedule's name (widened from that fixed set; docs/format.md). */
  schedule: z.string().regex(SCHEDULE_NAME_RE, 'expected a schedule name'),
  status: z.enum(['Completed', 'PartiallyFailed', 'Failed']),
  startedAt: isoTime,
  finishedAt: isoTime,
  tool: z.strictObject({ name: z.literal('gushen-dr'), version: z.string() }),
  host: z.string(),
  /** The sources this run covered: every configured one, or those of `backup --only`. */
  sources: z.array(sourceName),
  artifacts: z.array(artifactSchema),
  failures: z.array(failureSchema),
});

type StoredArtifact = z.infer<typeof artifactSchema>;
/** One stored artifact; `facts` typed by what the sources declare (checked against their schemas by the engine). */
export type Artifact = Omit<StoredArtifact, 'source' | 'facts'> & { source: SourceName; facts: ArtifactFacts };
export type Failure = Omit<z.infer<typeof failureSchema>, 'source'> & { source: SourceName };
export type Manifest = Omit<z.infer<typeof manifestSchema>, 'artifacts' | 'failures' | 'sources'> & {
  sources: SourceName[];
  artifacts: Artifact[];
  failures: Failure[];
};
export type BackupStatus = Manifest['status'];
