import { READABLE_FORMAT_VERSIONS, manifestSchema, type Manifest } from './manifest.js';
import { artifactKey, isBackupId } from './layout.js';
import { formatIssues } from '../config/load.js';
import { OperationError } from '../util/errors.js';

/** Parses and validates a stored manifest; every error names the backup and the field. */
export function parseManifest(text: string, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new OperationError(`manifest ${where} is not valid JSON: ${(err as Error).message}`);
  }
  if (raw && typeof raw === 'object' && 'formatVersion' in raw && !READABLE_FORMAT_VERSIONS.includes((raw as { formatVersion: unknown }).formatVersion as number)) {
    throw new OperationError(
      `manifest ${where} has formatVersion ${JSON.stringify((raw as { formatVersion: unknown }).formatVersion)}; this gushen-dr reads formatVersion ${READABLE_FORMAT_VERSIONS.join(' and ')}`,
    );
  }
  const result = manifestSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new OperationError(`manifest ${where} is invalid: ${formatIssues(result.error.issues)}`);
  const m = result.data as Manifest;
  if (isBackupId(where) && m.id !== where) throw new OperationError(`manifest ${where} names another backup id (${m.id}): it was moved or tampered with`);
  const outside = artifactOutsideBackup(m) ?? plaintextHashMissing(m);
  if (outside) throw new OperationError(`manifest ${where} is invalid: ${outside}`);
  return m;
}

/**
 * Every artifact must be stored under its own backup, at the key its name and compression give
 * (`artifactKey(id, name, compression)`): a manifest can then never point at another backup's objects, or anywhere
 * else in the store.
 */
function artifactOutsideBackup(m: Manifest): string | undefined {
  for (const [i, a] of m.artifacts.entries()) {
    const expected = artifactKey(m.id, a.name, a.compression);
    if (a.key !== expected) return `artifacts.${i} (${a.name}) has key "${a.key}", expected "${expected}": an artifact must be stored under its own backup`;
  }
  return undefined;
}

/**
 * An artifact may leave out its plaintext SHA-256 only in format version 2 and only when it is zstd-compressed: the
 * zstd frames' content checksum is then what checks its plaintext.
 */
function plaintextHashMissing(m: Manifest): string | undefined {
  for (const [i, a] of m.artifacts.entries()) {
    if (a.sha256 !== undefined) continue;
    if (m.formatVersion === 1) return `artifacts.${i} (${a.name}) has no sha256, which formatVersion 1 requires`;
    if (a.compression !== 'zstd') return `artifacts.${i} (${a.name}) has no sha256 and compression ${a.compression}: only a zstd artifact (its frames' checksum) may leave it out`;
  }
  return undefined;
}

export function serializeManifest(m: Manifest): string {
  const parsed = manifestSchema.parse(m) as Manifest;
  const outside = artifactOutsideBackup(parsed) ?? plaintextHashMissing(parsed);
  if (outside) throw new OperationError(`manifest ${m.id}: ${outside}`);
  return `${JSON.stringify(parsed, null, 2)}\n`;
}
