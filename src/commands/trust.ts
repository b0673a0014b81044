import { loadSigningPublicKeys } from '../config/signing.js';
import type { CatalogEntry } from '../repository/catalog.js';
import type { ManifestTrust } from '../repository/manifest-signature.js';
import type { Env } from './common.js';

/**
 * What the catalog readers of a command need from `signing`: the trusted public keys (a bad key file is a usage
 * error before anything is read), and a warning naming every newer backup `latest` skipped as not trusted.
 */
export async function manifestTrust(env: Env): Promise<ManifestTrust & { onUntrusted: (e: CatalogEntry) => void }> {
  const publicKeys = await loadSigningPublicKeys(env.config);
  return {
    publicKeys,
    onUntrusted: (e) => env.log.warn({ backup: e.id, status: e.status, problem: e.problem }, `backup ${e.id} skipped for latest: ${e.problem ?? e.status}`),
  };
}
