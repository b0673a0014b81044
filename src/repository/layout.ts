import { SCHEDULE_NAME_PATTERN } from '../config/schema.js';

/**
 * The one place that knows object keys. Every key is relative to the store root (the store URL's prefix).
 * Documented in docs/format.md; change both together.
 *
 *   backups/<id>/<artifact object>     one object per artifact, written first
 *   backups/<id>/manifest.json.sig     Ed25519 signature of manifest.json's bytes, when signing is configured
 *   backups/<id>/log.jsonl             the backup run's own log (JSON lines, credentials redacted; not an artifact), before the manifest
 *   backups/<id>/manifest.json         written last; a backup without it is incomplete
 *   locks/backup/<timestamp>-<nonce>.json   lock claims (see src/repository/lock.ts)
 *   drills/<drill-id>/report.json|report.md
 *   checks/<random>                    `gushen-dr check`'s write/read/delete probe, deleted at once
 *   wal/<system id>/cluster.json, <timeline>/<segment>[.partial].zst.age, <timeline>.history.zst.age   archived WAL (PITR)
 */
export const BACKUPS_PREFIX = 'backups/';
export const LOCKS_PREFIX = 'locks/backup/';
export const DRILLS_PREFIX = 'drills/';
/** Where `gushen-dr check` (and a drill's start) writes, reads back and deletes a small probe object. */
export const CHECKS_PREFIX = 'checks/';
export const MANIFEST_NAME = 'manifest.json';
/** The manifest's detached Ed25519 signature (docs/format.md section 3a). */
export const MANIFEST_SIGNATURE_NAME = 'manifest.json.sig';

/**
 * A schedule name: `manual` (a backup run by hand), `nightly` and `monthly` (always known, the old fixed set), or
 * any name configured under `schedules` (e.g. `hourly`). Ids of the old set stay valid: the pattern only widened.
 */
export type Schedule = string;
export { SCHEDULE_NAME_PATTERN };
export const SCHEDULE_NAME_RE = new RegExp(`^${SCHEDULE_NAME_PATTERN}$`);
/** Names every gushen-dr knows without configuration (their retention: `retention.<name>`). */
export const BUILTIN_SCHEDULES: readonly Schedule[] = ['manual', 'nightly', 'monthly'];

const ID_RE = new RegExp(`^(\\d{8}T\\d{6}Z)-(${SCHEDULE_NAME_PATTERN})$`);

/** Ids sort by time: `20261124T020000Z-nightly`. */
export function backupId(at: Date, schedule: Schedule): string {
  if (!SCHEDULE_NAME_RE.test(schedule)) throw new Error(`"${schedule}" is not a schedule name (${SCHEDULE_NAME_PATTERN})`);
  return `${compactTimestamp(at)}-${schedule}`;
}

export function compactTimestamp(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

export function parseBackupId(id: string): { startedAt: Date; schedule: Schedule } | undefined {
  const m = ID_RE.exec(id);
  if (!m) return undefined;
  const t = m[1];
  const iso = `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`;
  return { startedAt: new Date(iso), schedule: m[2] };
}

export function isBackupId(id: string): boolean {
  return ID_RE.test(id);
}

export function backupPrefix(id: string): string {
  return `${BACKUPS_PREFIX}${id}/`;
}

export function manifestKey(id: string): string {
  return `${backupPrefix(id)}${MANIFEST_NAME}`;
}

/** The backup run's log (docs/format.md): plain JSON lines, credentials redacted, written just before the manifest. */
export const BACKUP_LOG_NAME = 'log.jsonl';
export function backupLogKey(id: string): string {
  return `${backupPrefix(id)}${BACKUP_LOG_NAME}`;
}

export function manifestSignatureKey(id: string): string {
  return `${backupPrefix(id)}${MANIFEST_SIGNATURE_NAME}`;
}

/**
 * Object key of an artifact. Artifact names are paths like `postgres/gushen.dump`;
 * the stored object carries the suffixes of what was applied, outermost last.
 */
export function artifactKey(id: string, name: string, compression: Compression): string {
  return `${backupPrefix(id)}${name}${COMPRESSION_SUFFIX[compression]}.age`;
}

import type { Compression } from '../util/compression.js';
export type { Compression };
export const COMPRESSION_SUFFIX: Record<Compression, string> = { zstd: '.zst', gzip: '.gz', none: '' };

/**
 * Artifact names: `<source>/<file>`, letters, digits, `._-`; no traversal. The registry narrows `<source>` to
 * the known sources (src/sources/registry.ts, `artifactNamePattern`).
 */
export const ARTIFACT_FILE_PATTERN = '[a-zA-Z0-9][a-zA-Z0-9._-]{0,200}';
export const ARTIFACT_NAME_RE = new RegExp(`^[a-z][a-z0-9-]{0,30}\\/${ARTIFACT_FILE_PATTERN}$`);

export function drillReportKeys(drillId: string): { json: string; markdown: string } {
  return { json: `${DRILLS_PREFIX}${drillId}/report.json`, markdown: `${DRILLS_PREFIX}${drillId}/report.md` };
}

/**
 * Archived WAL for point-in-time recovery (docs/format.md section 9), per PostgreSQL cluster (its system
 * identifier, so WAL of a re-initialised cluster never mixes with the old one's) and timeline (8 hex digits):
 *   wal/<sysid>/cluster.json                              plain JSON: segment size, server version (no secrets)
 *   wal/<sysid>/<timeline>/<segment>.zst.age              a finished 24-hex-digit segment: zstd → age
 *   wal/<sysid>/<timeline>/<segment>.partial.zst.age      the segment being written, replaced as it grows
 *   wal/<sysid>/<timeline>.history.zst.age                a timeline history file
 */
export const WAL_PREFIX = 'wal/';
const SYSID_RE = /^\d{1,20}$/;
const TLI_RE = /^[0-9A-F]{8}$/;
const SEGMENT_RE = /^[0-9A-F]{24}$/;

function walCluster(sysid: string): string {
  if (!SYSID_RE.test(sysid)) throw new Error(`not a PostgreSQL system identifier: ${JSON.stringify(sysid)}`);
  return `${WAL_PREFIX}${sysid}/`;
}

export function walClusterPrefix(sysid: string): string {
  return walCluster(sysid);
}

export function walClusterInfoKey(sysid: string): string {
  return `${walCluster(sysid)}cluster.json`;
}

/** A finished segment (`partial`: the one being written). `segment` is the 24-hex-digit file name; its first 8 are the timeline. */
export function walSegmentKey(sysid: string, segment: string, partial = false): string {
  if (!SEGMENT_RE.test(segment)) throw new Error(`not a WAL segment name: ${JSON.stringify(segment)}`);
  return `${walCluster(sysid)}${segment.slice(0, 8)}/${segment}${partial ? '.partial' : ''}.zst.age`;
}

/** `timeline` as 8 hex digits, e.g. `00000002`. */
export function walHistoryKey(sysid: string, timeline: string): string {
  if (!TLI_RE.test(timeline)) throw new Error(`not a timeline id: ${JSON.stringify(timeline)}`);
  return `${walCluster(sysid)}${timeline}.history.zst.age`;
}

export type WalKey =
  | { kind: 'cluster'; sysid: string }
  | { kind: 'segment'; sysid: string; segment: string; partial: boolean }
  | { kind: 'history'; sysid: string; timeline: string };

/** What a key under wal/ is, or undefined for anything else (temp files, foreign objects). */
export function parseWalKey(key: string): WalKey | undefined {
  const m = /^wal\/(\d{1,20})\/(?:(cluster\.json)|([0-9A-F]{8})\.history\.zst\.age|([0-9A-F]{8})\/([0-9A-F]{24})(\.partial)?\.zst\.age)$/.exec(key);
  if (!m) return undefined;
  if (m[2]) return { kind: 'cluster', sysid: m[1] };
  if (m[3]) return { kind: 'history', sysid: m[1], timeline: m[3] };
  if (m[5].slice(0, 8) !== m[4]) return undefined;
  return { kind: 'segment', sysid: m[1], segment: m[5], partial: m[6] !== undefined };
}

/** The backup id a key belongs to, if it is under backups/. */
export function backupIdOfKey(key: string): string | undefined {
  if (!key.startsWith(BACKUPS_PREFIX)) return undefined;
  const rest = key.slice(BACKUPS_PREFIX.length);
  const slash = rest.indexOf('/');
  return slash > 0 ? rest.slice(0, slash) : undefined;
}
