import { FORMAT_VERSION, manifestSchema, type Manifest } from './manifest.js';
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
  if (raw && typeof raw === 'object' && 'formatVersion' in raw && (raw as { formatVersion: unknown }).formatVersion !== FORMAT_VERSION) {
    throw new OperationError(
      `manifest ${where} has formatVersion ${JSON.stringify((raw as { formatVersion: unknown }).formatVersion)}; this gushen-dr reads formatVersion ${FORMAT_VERSION}`,
    );
  }
  const result = manifestSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new OperationError(`manifest ${where} is invalid: ${formatIssues(result.error.issues)}`);
  const m = result.data as Manifest;
  if (isBackupId(where) && m.id !== where) throw new OperationError(`manifest ${where} names another backup id (${m.id}): it was moved or tampered with`);
  const outside = artifactOutsideBackup(m);
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

export function serializeManifest(m: Manifest): string {
  const parsed = manifestSchema.parse(m) as Manifest;
  const outside = artifactOutsideBackup(parsed);
  if (outside) throw new OperationError(`manifest ${m.id}: ${outside}`);
  return `${JSON.stringify(parsed, null, 2)}\n`;
}
