import { readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../../../util/errors.js';
import { parseIsoMicros } from './wal-names.js';

/** `--to-time`: everything archived, or a moment (microseconds since the epoch, as PostgreSQL keeps them). */
export type PitrTarget = { latest: true } | { latest: false; micros: bigint; text: string };

/** A point-in-time recovery's options: `restore --to-time T --pgdata DIR [--pgdata-owner USER]`. */
export interface PitrRestoreInput {
  target: PitrTarget;
  pgdata: string;
  /** Who owns DIR and runs the server: default `postgres` when run as root, else the current user. */
  owner?: string;
}

/** The PITR part of the restore flags, or undefined when `--to-time` is not given. Throws UsageError. */
export function pitrRestoreInput(f: Readonly<Record<string, unknown>>): PitrRestoreInput | undefined {
  const toTime = f.toTime as string | undefined;
  if (toTime === undefined) {
    if (f.pgdata !== undefined || f.pgdataOwner !== undefined) throw new UsageError('--pgdata and --pgdata-owner are for a point-in-time recovery: add --to-time <time|latest>');
    return undefined;
  }
  if (typeof f.pgdata !== 'string' || f.pgdata === '') {
    throw new UsageError('--to-time needs --pgdata DIR: a new or empty directory that becomes the restored data directory');
  }
  let target: PitrTarget;
  if (toTime === 'latest') target = { latest: true };
  else {
    const micros = parseIsoMicros(toTime);
    if (micros === undefined) {
      throw new UsageError(`--to-time ${toTime}: expected an ISO-8601 time with its zone (2026-11-24T10:15:30+08:00, 2026-11-24T02:15:30.250Z) or "latest"`);
    }
    target = { latest: false, micros, text: toTime };
  }
  const owner = f.pgdataOwner as string | undefined;
  if (owner !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/i.test(owner)) throw new UsageError(`--pgdata-owner ${owner}: not a user name`);
  return { target, pgdata: resolve(f.pgdata), owner };
}

/**
 * What can be checked before anything is restored: the other PostgreSQL flags do not apply, DIR is new or
 * empty, and only root may hand DIR to another user.
 */
export function checkPitrRestoreInput(p: PitrRestoreInput, other: { pgUrl?: string; database?: string; jobs?: number; withGlobals?: boolean }): void {
  const clash = [other.pgUrl && '--pg-url', other.database && '--database', other.jobs && '--jobs', other.withGlobals && '--with-globals'].filter(Boolean);
  if (clash.length > 0) throw new UsageError(`--to-time restores a data directory (--pgdata), not into a server: ${clash.join(', ')} do not apply`);
  let st;
  try {
    st = statSync(p.pgdata);
  } catch {
    st = undefined;
  }
  if (st && (!st.isDirectory() || readdirSync(p.pgdata).length > 0)) {
    throw new UsageError(`--pgdata ${p.pgdata}: must be a new or empty directory (it holds ${st.isDirectory() ? 'files' : 'something that is not a directory'})`);
  }
  const root = process.getuid?.() === 0;
  if (!root && p.owner !== undefined && p.owner !== (process.env.USER ?? '')) {
    throw new UsageError(`--pgdata-owner ${p.owner}: only root can hand the data directory to another user`);
  }
}
