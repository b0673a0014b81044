import { FORMAT_VERSION, manifestSchema, type Manifest } from './manifest.js';
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
  return result.data as Manifest;
}

export function serializeManifest(m: Manifest): string {
  return `${JSON.stringify(manifestSchema.parse(m), null, 2)}\n`;
}
