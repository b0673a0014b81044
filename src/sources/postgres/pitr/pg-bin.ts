import { locatePgTool, type LocatedTool, type PgTool } from '../tools.js';
import { UsageError } from '../../../util/errors.js';

/** The PostgreSQL programs point-in-time recovery runs (client package: the first three; server: the rest). */
export type PitrTool = 'pg_receivewal' | 'pg_basebackup' | 'pg_waldump' | 'postgres' | 'pg_ctl' | 'pg_controldata';

/**
 * Finds one of them like the dump tools are found (`binDir`, else /usr/lib/postgresql/<major>/bin, else PATH),
 * and refuses one older than the server: they speak the server's replication protocol and read its WAL and
 * data directory, which only the same or a newer major version understands.
 */
export async function locatePitrTool(name: PitrTool, opts: { binDir?: string; major?: number }): Promise<LocatedTool> {
  // locatePgTool finds any binary by name and reads its --version; its type lists the dump tools only.
  const tool = (await locatePgTool(name as unknown as PgTool, opts)) as LocatedTool;
  if (opts.major !== undefined && tool.version.major < opts.major) {
    throw new UsageError(
      `${name} ${tool.version.full} (${tool.path}) is older than the server (PostgreSQL ${opts.major}): install PostgreSQL ${opts.major} (client and server packages) or set sources.postgres.binDir`,
    );
  }
  // The server programs must be of the very same major version as the data directory they run on.
  if ((name === 'postgres' || name === 'pg_ctl' || name === 'pg_controldata') && opts.major !== undefined && tool.version.major !== opts.major) {
    throw new UsageError(`${name} ${tool.version.full} (${tool.path}) cannot run a PostgreSQL ${opts.major} data directory: install postgresql-${opts.major} or set sources.postgres.binDir`);
  }
  return tool;
}
