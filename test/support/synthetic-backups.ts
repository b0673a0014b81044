import { FORMAT_VERSION, type Artifact, type Manifest } from '../../src/repository/manifest.js';
import { parseBackupId } from '../../src/repository/layout.js';
import { serializeManifest } from '../../src/repository/manifest-json.js';
import { writeObjectText } from '../../src/store/text.js';
import type { ObjectStore } from '../../src/store/types.js';

const SHA = 'a'.repeat(64);
const RECIPIENT = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const ARTIFACT_NAME: Record<string, string> = { postgres: 'postgres/gushen.dump', redis: 'redis/dump.rdb', kube: 'kube/ai-qtrd.tar' };

/** An artifact of `source` as a backup would record it (verified unless `verified: false`). */
export function syntheticArtifact(id: string, source: string, verified = true): Artifact {
  const name = ARTIFACT_NAME[source] ?? `${source}/data.bin`;
  return {
    name,
    source,
    kind: 'test',
    key: `backups/${id}/${name}.zst.age`,
    size: 1,
    sha256: SHA,
    compression: 'zstd',
    encryption: { format: 'age-encryption.org/v1', recipients: [RECIPIENT] },
    stored: { size: 1, sha256: SHA },
    ...(verified ? { verifiedAt: parseBackupId(id)!.startedAt.toISOString() } : {}),
    facts: { type: source },
  } as Artifact;
}

/**
 * A manifest for backup `id` covering `sources`: Completed with a verified artifact of each, or Failed / PartiallyFailed
 * (PartiallyFailed: the first source verified, the rest failed).
 */
export function syntheticManifest(id: string, sources: string[], status: Manifest['status'] = 'Completed'): Manifest {
  const parsed = parseBackupId(id);
  if (!parsed) throw new Error(`not a backup id: ${id}`);
  const good = status === 'Completed' ? sources : status === 'PartiallyFailed' ? sources.slice(0, 1) : [];
  const bad = sources.filter((s) => !good.includes(s));
  return {
    formatVersion: FORMAT_VERSION,
    id,
    schedule: parsed.schedule,
    status,
    startedAt: parsed.startedAt.toISOString(),
    finishedAt: new Date(parsed.startedAt.getTime() + 60_000).toISOString(),
    tool: { name: 'gushen-dr', version: 'test' },
    host: 'test',
    sources,
    artifacts: good.map((s) => syntheticArtifact(id, s)),
    failures: bad.map((s) => ({ source: s, error: 'boom' })),
  } as Manifest;
}

/** Writes the artifacts' objects and then the manifest (or `manifestText` instead of it, or none). */
export async function writeSyntheticBackup(
  store: ObjectStore,
  id: string,
  sources: string[],
  opts: { status?: Manifest['status']; manifestText?: string; noManifest?: boolean } = {},
): Promise<Manifest> {
  const m = syntheticManifest(id, sources, opts.status);
  for (const s of sources) await writeObjectText(store, `backups/${id}/${ARTIFACT_NAME[s] ?? `${s}/data.bin`}.zst.age`, 'x');
  if (!opts.noManifest) await writeObjectText(store, `backups/${id}/manifest.json`, opts.manifestText ?? serializeManifest(m));
  return m;
}
