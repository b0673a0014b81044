import type { Identity } from '../crypto/index.js';
import type { Config } from '../config/schema.js';
import type { Manifest } from '../repository/manifest.js';
import type { ObjectStore } from '../store/types.js';
import { verifyStoredArtifact } from '../repository/artifact-reader.js';
import type { RestoreContext } from '../sources/restore-context.js';
import { errorMessage } from '../util/errors.js';
import { SOURCES, checkManifestSources, sourceNamed } from '../sources/registry.js';
import type { Source } from '../sources/source.js';
import type { Logger } from '../util/log.js';
import { removeStaleStageDirs, stageParents } from '../util/stage-dir.js';
import type { ArtifactProgress } from '../repository/artifact-writer.js';
import { withReadProgress } from '../repository/read-progress.js';

export interface VerifyResult {
  artifact: string;
  ok: boolean;
  checks: string[];
  error?: string;
}

/**
 * Presence, stored size and SHA-256 of every artifact; with `deep`, decrypts each one and runs its source's own
 * check (pg_restore full read, RDB CRC64 and structure, tar index and JSON).
 */
export async function verifyBackup(opts: {
  store: ObjectStore;
  manifest: Manifest;
  config: Config;
  log: Logger;
  deep?: { identities: Identity[]; scratchDir?: string };
  /** For tests: the registry (default: every source gushen-dr knows). */
  registry?: readonly Source<any, any>[];
  /** Reports every artifact read (bars on a terminal, else JSON progress lines). */
  progress?: ArtifactProgress;
}): Promise<VerifyResult[]> {
  const { manifest, log } = opts;
  const store = withReadProgress(opts.store, manifest.artifacts, opts.progress);
  const registry = opts.registry ?? SOURCES;
  if (opts.deep) checkManifestSources(manifest, registry);
  // Decrypted data that a killed restore, drill or deep verify left in the scratch directories goes first.
  if (opts.deep) await removeStaleStageDirs(stageParents(opts.deep.scratchDir ?? opts.config.scratchDir), log);
  const results: VerifyResult[] = [];
  for (const a of manifest.artifacts) {
    const checks: string[] = [];
    try {
      await verifyStoredArtifact(store, a);
      checks.push('stored size and SHA-256');
      if (opts.deep) {
        const ctx: RestoreContext = { store, manifest, identities: opts.deep.identities, config: opts.config, log, scratchDir: opts.deep.scratchDir };
        await sourceNamed(a.source, registry)!.deepVerify(ctx, a);
        checks.push(a.sha256 !== undefined ? 'decrypted, plaintext SHA-256, source check' : 'decrypted, zstd checksums and plaintext size, source check');
      }
      results.push({ artifact: a.name, ok: true, checks });
    } catch (err) {
      results.push({ artifact: a.name, ok: false, checks, error: errorMessage(err) });
    }
  }
  return results;
}
