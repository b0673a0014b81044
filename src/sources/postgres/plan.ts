import type pg from 'pg';
import { ensureScratchSpace } from '../../repository/artifact-reader.js';
import type { Artifact } from '../../repository/manifest.js';
import { UsageError, errorMessage } from '../../util/errors.js';
import { tmpdir } from 'node:os';
import type { RestoreContext, RestoreItemResult } from '../restore-context.js';
import type { SourceRestoreResult } from '../source.js';
import type { PostgresFacts, PostgresGlobalsFacts } from './facts.js';
import type { PostgresRestoreInput } from './index.js';
import type { PostgresRestoreReport } from './restore.js';
import {
  USER_TABLES_SQL,
  checkRestoreVersions,
  connectPg,
  locatePgTool,
  majorOf,
  pgServerDisplay,
  pgUrlWithPasswordFile,
  serverMajor,
  type PgConnectError,
} from './tools.js';

/** What a dry run saw of one target database (read-only). */
export interface PostgresTargetState {
  exists: boolean;
  /** User tables in it now. */
  tables?: number;
  sizeBytes?: number;
  /** Why the restore would refuse or fail on this target; absent when it would go ahead. */
  problem?: string;
}

/** A dry run's report: the restore's report, each database with what the dry run saw of its target. */
export type PostgresPlanReport = PostgresRestoreReport & {
  dryRun: true;
  server: string;
  databases: Array<PostgresRestoreReport['databases'][number] & { targetState?: PostgresTargetState }>;
};

/** At most this many table names in a plan line. */
const LIST_TABLES = 5;

/**
 * `restore --dry-run` for PostgreSQL: what would be restored where, from the manifest (tables, rows, size),
 * and what the target holds now, seen over read-only connections (`select` only; every transaction of the
 * session is READ ONLY, so not even a mistake here could write). The plan's lines are `failed` where the real
 * restore would refuse or fail (a target with tables and no --force, a template, no suitable pg_restore) and
 * when the target cannot be reached: a dry run that cannot see the target says why and exits non-zero.
 */
export async function planPostgresRestore(ctx: RestoreContext, o: PostgresRestoreInput): Promise<SourceRestoreResult<PostgresPlanReport>> {
  const m = ctx.manifest;
  const jobs = o.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new UsageError(`--jobs ${o.jobs}: expected a whole number from 1 to 64`);
  // The same choices, and the same refusals, as the restore itself (restore.ts).
  let dumps = m.artifacts.filter((a): a is Artifact & { facts: PostgresFacts } => a.kind === 'pg_dump-custom' && a.facts.type === 'postgres');
  if (dumps.length === 0) throw new UsageError(`backup ${m.id} has no PostgreSQL database`);
  if (o.sourceDatabase !== undefined) {
    const names = dumps.map((a) => a.facts.database);
    dumps = dumps.filter((a) => a.facts.database === o.sourceDatabase);
    if (dumps.length === 0) throw new UsageError(`backup ${m.id} has no database "${o.sourceDatabase}" (it has: ${names.join(', ')})`);
  }
  if (o.database !== undefined && dumps.length > 1) {
    throw new UsageError(`--database ${o.database}: backup ${m.id} has ${dumps.length} databases (${dumps.map((a) => a.facts.database).join(', ')}); choose one with --source-database`);
  }
  const globals = m.artifacts.find((a) => a.kind === 'pg_dumpall-globals-sql');
  if (o.withGlobals && !globals) throw new UsageError(`--with-globals: backup ${m.id} has no roles (it was made with sources.postgres.globals: false)`);
  const seen = new Set<string>();
  for (const a of dumps) {
    const name = o.database ?? a.facts.database;
    if (seen.has(name)) throw new UsageError(`two backed-up databases would be restored into "${name}"`);
    seen.add(name);
  }
  if (!o.pgUrl) throw new UsageError('restoring postgres needs --pg-url URL (the target server)');
  const url = pgUrlWithPasswordFile(o.pgUrl, o.passwordFile);
  const server = pgServerDisplay(url);

  const items: RestoreItemResult[] = [];
  const databases: PostgresPlanReport['databases'] = [];
  const backupSide = (f: PostgresFacts) => {
    const rows = f.tables.reduce((s, t) => s + t.rows, 0);
    return { tables: f.tables.length, rows, text: `backup: ${f.tables.length} tables, ${rows} rows, ${bytes(f.databaseSizeBytes)}` };
  };
  const itemOf = (f: PostgresFacts, target: string) => `postgres database ${f.database}${target === f.database ? '' : ` → ${target}`}`;

  let admin: pg.Client;
  try {
    admin = await connectReadOnly(url, 'postgres').catch((err: unknown) => {
      if ((err as PgConnectError).isMissingDatabase) return connectReadOnly(url, 'template1');
      throw err;
    });
  } catch (err) {
    // Nothing can be said about the targets: every line fails, with the reason.
    const why = `the dry run cannot see the target: ${errorMessage(err)}`;
    for (const a of dumps) {
      const target = o.database ?? a.facts.database;
      const b = backupSide(a.facts);
      items.push({ item: itemOf(a.facts, target), result: 'failed', detail: `"${target}" on ${server}: ${why}; ${b.text}` });
      databases.push({ source: a.facts.database, target, tables: b.tables, rows: b.rows, sizeBytes: a.facts.databaseSizeBytes, mismatches: [], targetState: { exists: false, problem: why } });
    }
    return { items, report: { dryRun: true, server, databases, globalsRestored: false, items } };
  }

  try {
    const v = await admin.query<{ v: string; n: string }>("select current_setting('server_version') as v, current_setting('server_version_num') as n");
    const version = { full: v.rows[0].v, major: serverMajor(Number(v.rows[0].n)) };
    // The pg_restore the restore would use, and whether it can read these dumps into this server.
    try {
      const wantMajor = Math.max(version.major, ...dumps.map((a) => majorOf(a.facts.pgDumpVersion) ?? 0));
      const tool = await locatePgTool('pg_restore', { binDir: ctx.config.sources.postgres?.binDir, major: wantMajor });
      for (const a of dumps) checkRestoreVersions(tool, a.facts, version);
      items.push({ item: 'postgres pg_restore', result: 'would-restore', detail: `${tool.path} (${tool.version.full}) into PostgreSQL ${version.full} at ${server}` });
    } catch (err) {
      items.push({ item: 'postgres pg_restore', result: 'failed', detail: `the restore would fail: ${errorMessage(err)}` });
    }
    if (o.withGlobals && globals) {
      const roles = (globals.facts as PostgresGlobalsFacts).roles;
      items.push({ item: 'postgres roles and tablespaces', result: 'would-restore', detail: `from ${globals.name} (${roles} roles) into ${server}; roles that exist are left as they are` });
    }
    if (jobs > 1) {
      const largest = dumps.reduce((a, b) => (b.size > a.size ? b : a));
      const dir = ctx.scratchDir ?? ctx.config.scratchDir ?? tmpdir();
      try {
        await ensureScratchSpace(dir, largest.size, `${largest.name} for pg_restore --jobs ${jobs}`);
        items.push({ item: 'postgres scratch space', result: 'would-restore', detail: `${dir}: room to stage ${largest.name} (${bytes(largest.size)}) for --jobs ${jobs}` });
      } catch (err) {
        items.push({ item: 'postgres scratch space', result: 'failed', detail: errorMessage(err) });
      }
    }

    for (const a of dumps) {
      const f = a.facts;
      const target = o.database ?? f.database;
      const b = backupSide(f);
      const state = await targetState(admin, url, target, o.force === true);
      const where = `"${target}" on ${server}`;
      let now: string;
      if (!state.exists) now = `${where} does not exist: it would be created (from template0) and restored`;
      else if (state.tables === undefined) now = `${where} exists`;
      else if (state.tables === 0) now = `${where} exists with no tables (${bytes(state.sizeBytes)}): restored into it`;
      else now = `${where} exists with ${state.tables} tables (${state.tableNames.join(', ')}${state.tables > LIST_TABLES ? ', …' : ''}), ${bytes(state.sizeBytes)}`;
      if (state.exists && state.tables && !state.problem) now += `: --force would drop and replace the backup's objects in it (pg_restore --clean --if-exists)`;
      const detail = state.problem ? `${now}: ${state.problem}; ${b.text}` : `${now}; ${b.text}`;
      items.push({ item: itemOf(f, target), result: state.problem ? 'failed' : 'would-restore', detail });
      const { tableNames: _names, ...seenState } = state;
      databases.push({ source: f.database, target, tables: b.tables, rows: b.rows, sizeBytes: f.databaseSizeBytes, mismatches: [], targetState: seenState });
    }
  } finally {
    await admin.end().catch(() => undefined);
  }
  return { items, report: { dryRun: true, server, databases, globalsRestored: false, items } };
}

/** A connection whose every transaction is READ ONLY: the server itself refuses any write on it. */
async function connectReadOnly(url: string, database: string): Promise<pg.Client> {
  const c = await connectPg(url, database, 'gushen-dr restore --dry-run');
  try {
    await c.query('set session characteristics as transaction read only');
  } catch (err) {
    await c.end().catch(() => undefined);
    throw err;
  }
  return c;
}

/** Whether the target database exists, what it holds, and why the restore would refuse it (as restore.ts does). */
async function targetState(admin: pg.Client, url: string, name: string, force: boolean): Promise<PostgresTargetState & { tableNames: string[] }> {
  const r = await admin.query<{ datallowconn: boolean; datistemplate: boolean; size: string | null }>(
    `select datallowconn, datistemplate,
            case when has_database_privilege(datname, 'CONNECT') then pg_catalog.pg_database_size(datname) end as size
       from pg_catalog.pg_database where datname = $1`,
    [name],
  );
  if (r.rows.length === 0) return { exists: false, tableNames: [] };
  const row = r.rows[0];
  const sizeBytes = row.size === null ? undefined : Number(row.size);
  if (row.datistemplate || !row.datallowconn) {
    return { exists: true, sizeBytes, tableNames: [], problem: 'it is a template or does not allow connections: the restore would be refused (choose another name with --database)' };
  }
  let tables: Array<{ schema: string; name: string }>;
  try {
    const c = await connectReadOnly(url, name);
    try {
      tables = (await c.query<{ schema: string; name: string }>(USER_TABLES_SQL)).rows;
    } finally {
      await c.end().catch(() => undefined);
    }
  } catch (err) {
    return { exists: true, sizeBytes, tableNames: [], problem: `cannot look inside it: ${errorMessage(err)}` };
  }
  const tableNames = tables.slice(0, LIST_TABLES).map((t) => `${t.schema}.${t.name}`);
  const problem =
    tables.length > 0 && !force ? 'the restore would be refused without --force (or restore under another name with --database)' : undefined;
  return { exists: true, tables: tables.length, sizeBytes, tableNames, ...(problem ? { problem } : {}) };
}

function bytes(n: number | undefined): string {
  if (n === undefined) return 'size unknown';
  if (n < 1024 * 1024) return `${n} bytes`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
