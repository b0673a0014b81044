import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../config/schema.js';
import { UsageError, errorMessage } from '../../util/errors.js';
import { pgConnection } from './tools.js';

/**
 * What a PostgreSQL backup needs, checked before anything runs: the URL is a postgres:// URL, and `binDir`, when
 * set, is a directory holding the dump tools the backup runs (pg_dump, and pg_dumpall for the globals).
 */
export async function preflightPostgres(config: Config): Promise<void> {
  const cfg = config.sources.postgres;
  if (!cfg) return;
  try {
    pgConnection(cfg.url);
  } catch (err) {
    throw new UsageError(`sources.postgres.url: ${errorMessage(err)}`);
  }
  if (cfg.binDir) {
    const st = await stat(cfg.binDir).catch((err: unknown) => {
      throw new UsageError(`sources.postgres.binDir ${cfg.binDir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : errorMessage(err)}`);
    });
    if (!st.isDirectory()) throw new UsageError(`sources.postgres.binDir ${cfg.binDir}: not a directory`);
    for (const tool of ['pg_dump', ...(cfg.globals ? ['pg_dumpall'] : [])]) {
      await access(join(cfg.binDir, tool), constants.X_OK).catch(() => {
        throw new UsageError(`sources.postgres.binDir ${cfg.binDir}: no executable ${tool} in it`);
      });
    }
  }
}
