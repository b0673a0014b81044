import { BACKUPS_PREFIX, MANIFEST_NAME, backupIdOfKey, manifestKey, parseBackupId, type Schedule } from './layout.js';
import type { Manifest } from './manifest.js';
import { parseManifest } from './manifest-json.js';
import type { ObjectStore } from '../store/types.js';
import { readObjectText } from '../store/text.js';
import { OperationError, UsageError, errorMessage } from '../util/errors.js';

export type CatalogStatus = Manifest['status'] | 'Incomplete' | 'Invalid';

export interface CatalogEntry {
  id: string;
  schedule: Schedule | 'unknown';
  status: CatalogStatus;
  startedAt: Date | undefined;
  /** Bytes stored under the backup's prefix. */
  storedBytes: number;
  objects: number;
  artifacts: number;
  manifest?: Manifest;
  problem?: string;
}

/** Every backup in the store, oldest first; a prefix without a manifest is Incomplete. */
export async function listBackups(store: ObjectStore): Promise<CatalogEntry[]> {
  const groups = new Map<string, { bytes: number; objects: number; hasManifest: boolean }>();
  for (const o of await store.list(BACKUPS_PREFIX)) {
    const id = backupIdOfKey(o.key);
    if (!id) continue;
    const g = groups.get(id) ?? { bytes: 0, objects: 0, hasManifest: false };
    g.bytes += o.size;
    g.objects += 1;
    if (o.key === manifestKey(id)) g.hasManifest = true;
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
      entries.push({ ...base, status: 'Incomplete', artifacts: g.objects, problem: `no ${MANIFEST_NAME}: the backup did not finish` });
      continue;
    }
    try {
      const manifest = await readManifest(store, id);
      entries.push({ ...base, status: manifest.status, artifacts: manifest.artifacts.length, manifest });
    } catch (err) {
      entries.push({ ...base, status: 'Invalid', artifacts: g.objects - 1, problem: errorMessage(err) });
    }
  }
  return entries;
}

export async function readManifest(store: ObjectStore, id: string): Promise<Manifest> {
  const text = await readObjectText(store, manifestKey(id));
  const m = parseManifest(text, id);
  if (m.id !== id) throw new OperationError(`manifest ${id} names another backup id (${m.id}): it was moved or tampered with`);
  return m;
}

/**
 * `latest` is the newest Completed backup; an explicit id must have a valid manifest.
 * `requireCompleted` refuses anything but Completed (drills); restore may use a PartiallyFailed one by id.
 */
export async function resolveBackup(store: ObjectStore, ref: string, opts: { requireCompleted?: boolean } = {}): Promise<Manifest> {
  if (ref === 'latest') {
    const good = (await listBackups(store)).filter((e) => e.status === 'Completed');
    const newest = good.at(-1);
    if (!newest?.manifest) throw new OperationError(`no Completed backup in ${store.description}`);
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
  const m = await readManifest(store, ref);
  if (opts.requireCompleted && m.status !== 'Completed') throw new OperationError(`backup ${ref} is ${m.status}, not Completed`);
  return m;
}
