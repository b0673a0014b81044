import { BACKUPS_PREFIX, MANIFEST_NAME, backupIdOfKey, backupLogKey, manifestKey, manifestSignatureKey, parseBackupId, type Schedule } from './layout.js';
import type { Manifest } from './manifest.js';
import type { SourceName } from '../config/schema.js';
import { parseManifest } from './manifest-json.js';
import { ManifestSignatureError, checkManifestSignature, type ManifestTrust, type SignatureProblem } from './manifest-signature.js';
import type { ObjectStore } from '../store/types.js';
import { readObject } from '../store/text.js';
import { OperationError, UsageError, errorMessage } from '../util/errors.js';

/**
 * `Unsigned` / `BadSignature`: with signing public keys configured, a manifest that is not trusted (never `latest`).
 * `Unreadable`: the manifest is there but could not be read (bad JSON, an unknown formatVersion, a field too many, a failed
 * GET). Nothing is known about such a backup, so retention never deletes it and `prune` stops until it reads again.
 */
export type CatalogStatus = Manifest['status'] | 'Incomplete' | 'Unreadable' | SignatureProblem;

export interface CatalogEntry {
  id: string;
  schedule: Schedule | 'unknown';
  status: CatalogStatus;
  startedAt: Date | undefined;
  /** Bytes stored under the backup's prefix. */
  storedBytes: number;
  objects: number;
  /** The manifest's artifact count; without a usable manifest, the objects that are not the manifest, its signature or the backup's log. */
  artifacts: number;
  manifest?: Manifest;
  problem?: string;
}

/**
 * Every backup in the store, oldest first; a prefix without a manifest is Incomplete. With `publicKeys`, a manifest
 * whose signature is missing or does not verify is listed as Unsigned / BadSignature, without its manifest.
 */
export async function listBackups(store: ObjectStore, trust: ManifestTrust = {}): Promise<CatalogEntry[]> {
  const groups = new Map<string, { bytes: number; objects: number; artifacts: number; hasManifest: boolean }>();
  for (const o of await store.list(BACKUPS_PREFIX)) {
    const id = backupIdOfKey(o.key);
    if (!id) continue;
    const g = groups.get(id) ?? { bytes: 0, objects: 0, artifacts: 0, hasManifest: false };
    g.bytes += o.size;
    g.objects += 1;
    if (o.key === manifestKey(id)) g.hasManifest = true;
    // The manifest, its signature and the backup's own log are not artifacts (src/repository/layout.ts).
    else if (o.key !== manifestSignatureKey(id) && o.key !== backupLogKey(id)) g.artifacts += 1;
    groups.set(id, g);
  }
  const entries: CatalogEntry[] = [];
  for (const [id, g] of [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const parsed = parseBackupId(id);
    const base = {
      id,
      schedule: parsed?.schedule ?? ('unknown' as const),
      startedAt: parsed?.startedAt,
      storedBytes: g.bytes,
      objects: g.objects,
    };
    if (!g.hasManifest) {
      entries.push({ ...base, status: 'Incomplete', artifacts: g.artifacts, problem: `no ${MANIFEST_NAME}: the backup did not finish` });
      continue;
    }
    try {
      const manifest = await readManifest(store, id, trust);
      entries.push({ ...base, status: manifest.status, artifacts: manifest.artifacts.length, manifest });
    } catch (err) {
      const status = err instanceof ManifestSignatureError ? err.status : 'Unreadable';
      entries.push({ ...base, status, artifacts: g.artifacts, problem: errorMessage(err) });
    }
  }
  return entries;
}

/** Backup `id`'s manifest; with `publicKeys`, only when its signature verifies (ManifestSignatureError otherwise). */
export async function readManifest(store: ObjectStore, id: string, trust: ManifestTrust = {}): Promise<Manifest> {
  const bytes = await readObject(store, manifestKey(id));
  if (trust.publicKeys && trust.publicKeys.length > 0) await checkManifestSignature(store, id, bytes, trust.publicKeys);
  const m = parseManifest(bytes.toString('utf8'), id);
  if (m.id !== id) throw new OperationError(`manifest ${id} names another backup id (${m.id}): it was moved or tampered with`);
  return m;
}

/**
 * `latest` is the newest Completed backup; an explicit id must have a valid manifest.
 * `requireCompleted` refuses anything but Completed (drills); restore may use a PartiallyFailed one by id.
 */
export async function resolveBackup(
  store: ObjectStore,
  ref: string,
  opts: { requireCompleted?: boolean; onUntrusted?: (e: CatalogEntry) => void; sources?: readonly SourceName[] } & ManifestTrust = {},
): Promise<Manifest> {
  if (ref === 'latest') {
    const entries = await listBackups(store, opts);
    // A `backup --only` run is Completed too: for a restore or drill of some sources, only a backup holding them counts.
    const sources = opts.sources ?? [];
    const good = entries.filter((e) => e.status === 'Completed' && sources.every((s) => holdsCopy(e.manifest!, s)));
    const newest = good.at(-1);
    // Manifests newer than the one chosen that are not trusted (signature missing or bad) are skipped, and named.
    const untrusted = entries.filter((e) => (e.status === 'Unsigned' || e.status === 'BadSignature') && (!newest || e.id > newest.id));
    for (const e of untrusted) opts.onUntrusted?.(e);
    if (!newest?.manifest) {
      const skipped = untrusted.length > 0 ? `; not trusted: ${untrusted.map((e) => `${e.id} (${e.status})`).join(', ')}` : '';
      // A restore can name fewer sources (--only) or an id; say so rather than pick a backup without one of them.
      const holding = sources.length > 0 ? ` holding ${sources.join(', ')} (name a backup id, or fewer sources with --only)` : '';
      throw new OperationError(`no Completed backup${holding} in ${store.description}${skipped}`);
    }
    return newest.manifest;
  }
  if (!parseBackupId(ref)) throw new UsageError(`"${ref}" is not a backup id (like 20261124T020000Z-nightly) or "latest"`);
  const head = await store.head(manifestKey(ref));
  if (!head) {
    const any = await store.list(`${BACKUPS_PREFIX}${ref}/`);
    throw new OperationError(
      any.length > 0 ? `backup ${ref} is incomplete (no manifest): it is not restorable` : `backup ${ref} not found in ${store.description}`,
    );
  }
  const m = await readManifest(store, ref, opts);
  if (opts.requireCompleted && m.status !== 'Completed') throw new OperationError(`backup ${ref} is ${m.status}, not Completed`);
  return m;
}

/**
 * Whether a backup holds a whole verified copy of `source`: at least one artifact of it, each read back and checked
 * (`verifiedAt`), and no failure of it. Every source of a Completed backup passes; a `backup --only` run's others do not.
 */
export function holdsCopy(m: Manifest, source: string): boolean {
  const artifacts = m.artifacts.filter((a) => a.source === source);
  return artifacts.length > 0 && artifacts.every((a) => a.verifiedAt !== undefined) && !m.failures.some((f) => f.source === source);
}

/** Whether a backup holds at least one verified artifact of `source` (a PartiallyFailed one may). */
export function hasVerifiedArtifact(m: Manifest, source: string): boolean {
  return m.artifacts.some((a) => a.source === source && a.verifiedAt !== undefined);
}
