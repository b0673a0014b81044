import { tmpdir } from 'node:os';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import type { Artifact } from '../../repository/manifest.js';
import type { PostgresFacts } from './facts.js';
import { ArchiveIndexer, patchDataOffsets } from './archive.js';
import { OperationError, UsageError, errorMessage } from '../../util/errors.js';
import {
  USER_TABLES_SQL,
  checkRestoreVersions,
  connectPg,
  countTables,
  locatePgTool,
  majorOf,
  pgClientUrl,
  pgConnection,
  pgServerDisplay,
  pgUrlWithPasswordFile,
  quoteIdent,
  secretsOf,
  serverMajor,
  spawnPgTool,
  stderrErrors,
  toolFailure,
  type LocatedTool,
  type TableCount,
  type ToolRun,
} from './tools.js';
import { redactSecrets } from '../../util/redact.js';
import { ensureScratchSpace, openArtifact, stageArtifact } from '../../repository/artifact-reader.js';
import type { RestoreContext, RestoreItemResult } from '../restore-context.js';

export interface PostgresRestoreOptions {
  /** Server URL; the database path part is ignored. */
  pgUrl: string;
  /** A file holding the password (--pg-password-file, drill.postgres.passwordFile); else the URL's, PGPASSWORD or PGPASSFILE. */
  passwordFile?: string;
  /** Target database name; only valid when the restore covers one database (default: the backed-up name). */
  database?: string;
  /** Which backed-up database; default all. */
  sourceDatabase?: string;
  /** pg_restore --jobs; 1 (default) streams, more stage a seekable file in the scratch directory. */
  jobs?: number;
  /** Replace the objects of a target that already has tables (pg_restore --clean --if-exists). */
  force?: boolean;
  /** Restore roles and tablespaces from the globals artifact first. */
  withGlobals?: boolean;
}

export interface PostgresRestoreReport {
  /** A dry run's plan: what would be restored where (from the manifest; nothing was changed). */
  dryRun?: boolean;
  databases: Array<{ source: string; target: string; tables: number; rows: number; sizeBytes?: number; mismatches: Array<{ table: string; expected: number; actual: number }> }>;
  globalsRestored: boolean;
  items: RestoreItemResult[];
}

/** A restore that ran but whose result does not match the manifest; carries the report. */
export class PostgresRestoreError extends OperationError {
  constructor(
    message: string,
    readonly report: PostgresRestoreReport,
  ) {
    super(message);
    this.name = 'PostgresRestoreError';
  }
}

/** At most this many table names are listed when refusing a non-empty target. */
const LIST_TABLES = 10;
/** Globals are a few kilobytes; refuse to buffer anything absurd. */
const MAX_GLOBALS_BYTES = 64 * 1024 * 1024;

interface Plan {
  artifact: Artifact;
  facts: PostgresFacts;
  target: string;
  exists: boolean;
  tables: number;
}

/**
 * Restores PostgreSQL databases from a backup into the server at `pgUrl`. Every target is checked before
 * anything is downloaded: a target database with tables is refused unless `force`. Afterwards every table's
 * row count is compared with the manifest; any difference fails the restore with a table-by-table report.
 */
export async function restorePostgres(ctx: RestoreContext, options: PostgresRestoreOptions): Promise<PostgresRestoreReport> {
  // The password file is read once; pgConnection() hands the password to pg_restore and psql in PGPASSWORD.
  const opts = { ...options, pgUrl: pgUrlWithPasswordFile(options.pgUrl, options.passwordFile) };
  const log = ctx.log;
  const jobs = opts.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new UsageError(`--jobs ${opts.jobs}: expected a whole number from 1 to 64`);
  const where = pgServerDisplay(pgConnection(opts.pgUrl, 'postgres').connString);

  let selected = ctx.manifest.artifacts.filter((a) => a.kind === 'pg_dump-custom' && a.facts.type === 'postgres');
  if (selected.length === 0) throw new UsageError(`backup ${ctx.manifest.id} has no PostgreSQL database`);
  if (opts.sourceDatabase !== undefined) {
    const names = selected.map((a) => (a.facts as PostgresFacts).database);
    selected = selected.filter((a) => (a.facts as PostgresFacts).database === opts.sourceDatabase);
    if (selected.length === 0) {
      throw new UsageError(`backup ${ctx.manifest.id} has no database "${opts.sourceDatabase}" (it has: ${names.join(', ')})`);
    }
  }
  if (opts.database !== undefined && selected.length > 1) {
    throw new UsageError(
      `--database ${opts.database}: backup ${ctx.manifest.id} has ${selected.length} databases (${selected.map((a) => (a.facts as PostgresFacts).database).join(', ')}); choose one to restore under another name, or restore them under their own names`,
    );
  }
  const globals = ctx.manifest.artifacts.find((a) => a.kind === 'pg_dumpall-globals-sql');
  if (opts.withGlobals && !globals) {
    throw new UsageError(`--with-globals: backup ${ctx.manifest.id} has no roles (it was made with sources.postgres.globals: false)`);
  }

  // Every artifact needed must be in the store (a HEAD, nothing is downloaded yet).
  for (const a of [...selected, ...(opts.withGlobals && globals ? [globals] : [])]) {
    if (!(await ctx.store.head(a.key))) throw new OperationError(`artifact ${a.name} (${a.key}) is missing from ${ctx.store.description}`);
  }

  // Check the target server and every target database before touching anything.
  const admin = await connectAdmin(opts.pgUrl);
  const plans: Plan[] = [];
  let pgRestore: LocatedTool;
  let target: { full: string; major: number };
  try {
    const v = await admin.query<{ v: string; n: string }>("select current_setting('server_version') as v, current_setting('server_version_num') as n");
    target = { full: v.rows[0].v, major: serverMajor(Number(v.rows[0].n)) };
    const binDir = ctx.config.sources.postgres?.binDir;
    const wantMajor = Math.max(target.major, ...selected.map((a) => majorOf((a.facts as PostgresFacts).pgDumpVersion) ?? 0));
    pgRestore = await locatePgTool('pg_restore', { binDir, major: wantMajor });
    for (const a of selected) checkRestoreVersions(pgRestore, a.facts as PostgresFacts, target);

    const refusals: string[] = [];
    const seen = new Set<string>();
    for (const a of selected) {
      const facts = a.facts as PostgresFacts;
      const name = opts.database ?? facts.database;
      if (seen.has(name)) throw new UsageError(`two backed-up databases would be restored into "${name}"`);
      seen.add(name);
      const r = await admin.query<{ datallowconn: boolean; datistemplate: boolean }>(
        'select datallowconn, datistemplate from pg_catalog.pg_database where datname = $1',
        [name],
      );
      if (r.rows.length === 0) {
        plans.push({ artifact: a, facts, target: name, exists: false, tables: 0 });
        continue;
      }
      if (r.rows[0].datistemplate || !r.rows[0].datallowconn) {
        throw new UsageError(`target database "${name}" on ${where} is a template or does not allow connections; choose another name with --database`);
      }
      const existing = await userTables(opts.pgUrl, name);
      if (existing.length > 0 && !opts.force) {
        const shown = existing.slice(0, LIST_TABLES).map((t) => `${t.schema}.${t.name}`);
        const more = existing.length > LIST_TABLES ? ` and ${existing.length - LIST_TABLES} more` : '';
        refusals.push(`"${name}" has ${existing.length} table${existing.length === 1 ? '' : 's'} (${shown.join(', ')}${more})`);
      }
      plans.push({ artifact: a, facts, target: name, exists: true, tables: existing.length });
    }
    if (refusals.length > 0) {
      throw new UsageError(
        `refusing to restore into non-empty database${refusals.length > 1 ? 's' : ''} on ${where}: ${refusals.join('; ')}. ` +
          'Restore under another name with --database NAME, or pass --force to drop and replace the objects in the backup (pg_restore --clean --if-exists)',
      );
    }
  } finally {
    await admin.end().catch(() => undefined);
  }
  // With more jobs each dump is staged: check the room for the largest before any database is created.
  if (jobs > 1) {
    const largest = plans.reduce((m, p) => (p.artifact.size > m.artifact.size ? p : m), plans[0]);
    await ensureScratchSpace(scratchDirOf(ctx), largest.artifact.size, `${largest.artifact.name} for pg_restore --jobs ${jobs} (--jobs 1 streams and needs no room)`);
  }

  const report: PostgresRestoreReport = { databases: [], globalsRestored: false, items: [] };
  if (opts.withGlobals && globals) {
    await restoreGlobals(ctx, globals, opts.pgUrl, binDirOf(ctx), target.major);
    report.globalsRestored = true;
    report.items.push({ item: 'postgres roles and tablespaces', result: 'restored', detail: `from ${globals.name}` });
  }

  for (const plan of plans) {
    const { facts, target: name } = plan;
    const t0 = Date.now();
    const conn = pgConnection(opts.pgUrl, name);
    const item = `postgres database ${facts.database}${name === facts.database ? '' : ` → ${name}`}`;
    let created = false;
    try {
      if (!plan.exists) {
        await createDatabase(opts.pgUrl, name);
        created = true;
      }
      // An existing target is cleaned only with --force (one with tables was refused without it).
      const clean = plan.exists && opts.force === true;
      log.info({ sourceDatabase: facts.database, target: name, server: where, jobs, clean }, 'postgres: restoring database');
      const args = ['--exit-on-error', '--no-password', `--dbname=${conn.connString}`];
      if (clean) args.push('--clean', '--if-exists');
      await runPgRestore(ctx, plan.artifact, pgRestore, args, conn, jobs);
    } catch (err) {
      // A database created by this restore holds nothing usable after a failure (e.g. the staged dump did not
      // verify): drop it again, so that a failed restore leaves the server as it found it.
      const dropped = created && (await dropDatabase(opts.pgUrl, name).then(() => true, (e: unknown) => (log.warn({ target: name, err: errorMessage(e) }, 'could not drop the database this failed restore created'), false)));
      report.items.push({ item, result: 'failed', detail: `${errorMessage(err)}${dropped ? ` (database "${name}", created by this restore, was dropped again)` : ''}` });
      throw err instanceof OperationError || err instanceof UsageError
        ? err
        : new OperationError(`restoring database ${facts.database} into "${name}": ${errorMessage(err)}`, { cause: err });
    }
    const actual = await countRows(pgClientUrl(opts.pgUrl, name), jobs);
    const byName = new Map(actual.map((t) => [`${t.schema}.${t.name}`, t.rows]));
    const mismatches = facts.tables
      .map((t) => ({ table: `${t.schema}.${t.name}`, expected: t.rows, actual: byName.get(`${t.schema}.${t.name}`) ?? -1 }))
      .filter((m) => m.expected !== m.actual);
    const rows = facts.tables.reduce((s, t) => s + (byName.get(`${t.schema}.${t.name}`) ?? 0), 0);
    report.databases.push({ source: facts.database, target: name, tables: facts.tables.length, rows, mismatches });
    if (mismatches.length > 0) {
      const lines = mismatches.map((m) => `  ${m.table}: expected ${m.expected} rows, found ${m.actual < 0 ? 'no such table' : m.actual}`);
      const msg = `database ${facts.database} restored into "${name}" does not match the backup's row counts (${mismatches.length} of ${facts.tables.length} tables differ):\n${lines.join('\n')}`;
      report.items.push({ item, result: 'failed', detail: `${mismatches.length} tables with wrong row counts` });
      throw new PostgresRestoreError(msg, report);
    }
    report.items.push({ item, result: 'restored', detail: `${facts.tables.length} tables, ${rows} rows, row counts match the backup` });
    log.info({ sourceDatabase: facts.database, target: name, tables: facts.tables.length, rows, seconds: (Date.now() - t0) / 1000 }, 'postgres: database restored and row counts match');
  }
  return report;
}

function binDirOf(ctx: RestoreContext): string | undefined {
  return ctx.config.sources.postgres?.binDir;
}

/** A connection to the target server's maintenance database (postgres, else template1). */
async function connectAdmin(url: string): Promise<pg.Client> {
  try {
    return await connectPg(url, 'postgres', 'gushen-dr restore');
  } catch (err) {
    if ((err as { isMissingDatabase?: boolean }).isMissingDatabase) return connectPg(url, 'template1', 'gushen-dr restore');
    throw err;
  }
}

async function userTables(url: string, database: string): Promise<Array<{ schema: string; name: string }>> {
  const c = await connectPg(url, database, 'gushen-dr restore');
  try {
    return (await c.query<{ schema: string; name: string }>(USER_TABLES_SQL)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function createDatabase(url: string, name: string): Promise<void> {
  const c = await connectAdmin(url);
  try {
    // template0: nothing from template1 may collide with the restored objects.
    await c.query(`create database ${quoteIdent(name)} template template0`);
  } catch (err) {
    throw new OperationError(`creating database "${name}": ${redactSecrets(errorMessage(err), secretsOf(url))}`, { cause: err });
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function dropDatabase(url: string, name: string): Promise<void> {
  const c = await connectAdmin(url);
  try {
    await c.query(`drop database if exists ${quoteIdent(name)} with (force)`);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * pg_restore from the artifact. With one job the plaintext streams into its stdin: age authenticates every
 * 64 KiB chunk before it is passed on, and the size and SHA-256 of the whole are checked at the end; a mismatch
 * kills pg_restore and fails the restore (the target then holds a partial restore and must be redone).
 * With more jobs pg_restore needs a seekable file: the artifact is staged (decrypted and fully verified) in the
 * scratch directory first and removed afterwards, on failure too.
 */
async function runPgRestore(
  ctx: RestoreContext,
  artifact: Artifact,
  tool: LocatedTool,
  args: string[],
  conn: { env: NodeJS.ProcessEnv; password?: string },
  jobs: number,
): Promise<void> {
  if (jobs > 1) {
    const t0 = Date.now();
    const indexer = new ArchiveIndexer();
    const staged = await stageArtifact(ctx.store, artifact, ctx.identities, scratchDirOf(ctx), indexer);
    ctx.log.debug({ artifact: artifact.name, bytes: artifact.size, seconds: (Date.now() - t0) / 1000 }, 'postgres: dump staged and verified');
    try {
      // The dump was written to a pipe, so its TOC has no data offsets; without them pg_restore's workers each
      // read through the blocks in front of the one they want (see format/pg-archive.ts).
      const offsets = await patchDataOffsets(staged.path, indexer);
      if (offsets.skipped) ctx.log.info({ artifact: artifact.name, reason: offsets.skipped }, 'postgres: data offsets not added; pg_restore will find the blocks by reading');
      else ctx.log.debug({ artifact: artifact.name, entries: offsets.patched }, 'postgres: data offsets added to the staged dump');
      const t1 = Date.now();
      const { done } = spawnPgTool(tool, [...args, `--jobs=${jobs}`, staged.path], conn, { stdio: ['ignore', 'ignore', 'pipe'], signal: ctx.signal });
      const why = restoreFailure(await done);
      if (why) throw new OperationError(`${artifact.name}: ${why}`);
      ctx.log.debug({ artifact: artifact.name, jobs, seconds: (Date.now() - t1) / 1000 }, 'postgres: pg_restore finished');
    } finally {
      await staged.remove();
    }
    return;
  }
  await feedTool(ctx, artifact, tool, args, conn, (run) => restoreFailure(run));
}

function restoreFailure(run: ToolRun): string | undefined {
  const why = toolFailure('pg_restore', run);
  if (!why) return undefined;
  const role = /role "([^"]+)" does not exist/.exec(run.stderr);
  return role ? `${why} (the roles of the backup are missing on the target: restore them with --with-globals, or create role "${role[1]}" first)` : why;
}

/**
 * Streams the verified plaintext of an artifact into a tool's stdin; a failure of either side fails the whole.
 * The artifact is always read to its end, so its size and SHA-256 are checked even when the tool stops reading
 * before the last byte (pg_restore exits once it has what it needs).
 */
async function feedTool(
  ctx: RestoreContext,
  artifact: Artifact,
  tool: LocatedTool,
  args: string[],
  conn: { env: NodeJS.ProcessEnv; password?: string },
  judge: (run: ToolRun) => string | undefined,
): Promise<void> {
  const src = await openArtifact(ctx.store, artifact, ctx.identities);
  const { child, done } = spawnPgTool(tool, args, conn, { stdio: ['pipe', 'ignore', 'pipe'], signal: ctx.signal });
  let streamErr: unknown;
  try {
    await pipeline(src, new ToolInput(child.stdin!));
  } catch (err) {
    streamErr = err;
    // The tool must not take a truncated archive for a whole one.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
  const run = await done;
  const why = judge(run);
  if (streamErr) {
    throw new OperationError(`${artifact.name}: ${errorMessage(streamErr)}${why ? ` (${why})` : ''}`, { cause: streamErr });
  }
  if (why) throw new OperationError(`${artifact.name}: ${why}`);
}

/**
 * Writes into a child's stdin with backpressure; once the child has closed it, swallows the rest, so the
 * source is still read (and verified) to its end. Destroyed (the source failed), it closes the child's stdin.
 */
class ToolInput extends Writable {
  private gone = false;
  private pending: ((err?: Error | null) => void) | undefined;

  constructor(private readonly stdin: Writable) {
    super();
    const away = () => {
      this.gone = true;
      const cb = this.pending;
      this.pending = undefined;
      cb?.();
    };
    stdin.on('error', away);
    stdin.on('close', away);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.gone) return cb();
    this.pending = cb;
    this.stdin.write(chunk, () => {
      if (this.pending === cb) {
        this.pending = undefined;
        cb();
      }
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.gone) this.stdin.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.stdin.destroy();
    cb(err);
  }
}

/** Runs the roles and tablespaces SQL through psql; "already exists" errors are expected (e.g. the superuser). */
async function restoreGlobals(ctx: RestoreContext, a: Artifact, url: string, binDir: string | undefined, major: number): Promise<void> {
  const sql = await readAll(await openArtifact(ctx.store, a, ctx.identities), MAX_GLOBALS_BYTES, a.name);
  const psql = await locatePgTool('psql', { binDir, major });
  const conn = pgConnection(url, 'postgres');
  const { child, done } = spawnPgTool(psql, ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=0', `--dbname=${conn.connString}`], conn, {
    stdio: ['pipe', 'ignore', 'pipe'],
    signal: ctx.signal,
  });
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(sql);
  const run = await done;
  const errors = stderrErrors(run.stderr).filter((l) => !/already exists/.test(l));
  if (run.code !== 0 || run.signal || errors.length > 0) {
    const why = toolFailure('psql', { ...run, stderr: errors.join('\n') }) ?? `psql reported errors: ${errors.slice(0, 5).join('; ')}`;
    throw new OperationError(`restoring roles from ${a.name}: ${why}`);
  }
  ctx.log.info({ artifact: a.name }, 'postgres: roles and tablespaces restored');
}

async function readAll(src: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  await pipeline(
    src,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > limit) return cb(new Error(`${what} is larger than ${limit} bytes`));
        chunks.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/**
 * `verify --deep`: decrypts the artifact (checking stored and plaintext size and SHA-256) and, for a database
 * dump, has pg_restore read every byte of it (`-f /dev/null`; `-l` would read only the table of contents).
 * For the globals artifact, checks it is pg_dumpall's SQL text.
 */
export async function deepVerifyPostgres(ctx: RestoreContext, artifact: Artifact): Promise<void> {
  if (artifact.kind === 'pg_dumpall-globals-sql') {
    const buf = await readAll(await openArtifact(ctx.store, artifact, ctx.identities), MAX_GLOBALS_BYTES, artifact.name);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(buf);
    if (text.includes('\u0000') || text.includes('\uFFFD') || !/^--\s*PostgreSQL database cluster dump/m.test(text)) {
      throw new OperationError(`${artifact.name}: not the SQL text of pg_dumpall --globals-only`);
    }
    return;
  }
  if (artifact.kind !== 'pg_dump-custom' || artifact.facts.type !== 'postgres') {
    throw new OperationError(`${artifact.name}: not a PostgreSQL artifact (kind ${artifact.kind})`);
  }
  const facts = artifact.facts;
  const tool = await locatePgTool('pg_restore', { binDir: binDirOf(ctx), major: majorOf(facts.pgDumpVersion) });
  const dumpMajor = majorOf(facts.pgDumpVersion);
  if (dumpMajor !== undefined && tool.version.major < dumpMajor) {
    throw new UsageError(`pg_restore ${tool.version.full} (${tool.path}) cannot read an archive written by pg_dump ${facts.pgDumpVersion}; install postgresql-client-${dumpMajor} or set sources.postgres.binDir`);
  }
  await feedTool(ctx, artifact, tool, ['--file=/dev/null'], { env: process.env }, (run) => toolFailure('pg_restore', run));
}

/**
 * Exact row counts of every user table of the database at `url` (one consistent snapshot), in the server's
 * order of schema and name. With `parallel` > 1 that many connections count at once, all in the first one's exported snapshot.
 */
export async function countRows(url: string, parallel = 1): Promise<TableCount[]> {
  const db = decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
  const clients = [await connectPg(url, db, 'gushen-dr count')];
  try {
    await clients[0].query('begin isolation level repeatable read read only');
    const tables = (await clients[0].query<{ schema: string; name: string }>(USER_TABLES_SQL)).rows;
    const workers = Math.max(1, Math.min(parallel, tables.length));
    if (workers > 1) {
      const { snapshot } = (await clients[0].query<{ snapshot: string }>('select pg_export_snapshot() as snapshot')).rows[0];
      for (let i = 1; i < workers; i++) {
        const c = await connectPg(url, db, 'gushen-dr count');
        clients.push(c);
        await c.query('begin isolation level repeatable read read only');
        await c.query(`set transaction snapshot '${snapshot.replace(/'/g, "''")}'`);
      }
    }
    const queue = [...tables];
    const counted = (await Promise.all(clients.map(async (c) => {
      const mine: TableCount[] = [];
      for (let t = queue.shift(); t; t = queue.shift()) mine.push(...(await countTables(c, [t])));
      return mine;
    }))).flat();
    for (const c of clients) await c.query('commit');
    const order = new Map(tables.map((t, i) => [`${t.schema}\u0000${t.name}`, i]));
    return counted.sort((a, b) => order.get(`${a.schema}\u0000${a.name}`)! - order.get(`${b.schema}\u0000${b.name}`)!);
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

function scratchDirOf(ctx: RestoreContext): string {
  return ctx.scratchDir ?? ctx.config.scratchDir ?? tmpdir();
}
