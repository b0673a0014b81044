import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import type { PostgresSourceConfig } from './config.js';
import { ARTIFACT_NAME_RE } from '../../repository/layout.js';
import type { Artifact, Failure } from '../../repository/manifest.js';
import type { PostgresFacts } from './facts.js';
import { OperationError, UsageError, errorMessage } from '../../util/errors.js';
import {
  PgConnectError,
  USER_TABLES_SQL,
  checkDumpToolVersion,
  connectPg,
  countTables,
  locatePgTool,
  pgConnection,
  pgUrlWithPasswordFile,
  serverMajor,
  spawnPgTool,
  stderrErrors,
  type LocatedTool,
  type PgTool,
  type TableCount,
} from './tools.js';
import { redactUrl } from '../../util/redact.js';
import { withFacts, type WrittenArtifact } from '../../repository/artifact-writer.js';
import { zstdCommand } from '../../util/compression.js';
import { ToolOutput, ZstdDumpOutput, killIfRunning, spawnIntoZstd, spawnZstdCompressor, stopTool } from './dump-stream.js';
import type { BackupFn, BackupContext, BackupResult } from '../source.js';

/**
 * Compression: pg_dump always runs with `--compress=0` and gushen-dr compresses the stream itself (zstd
 * level 1 by default, the zstd CLI or Node's zstd: util/compression.ts), i.e. on a second core next to
 * pg_dump. With the zstd CLI (the default engine when it is installed) pg_dump's stdout is zstd's stdin
 * (dump-stream.ts, spawnIntoZstd): the plaintext never passes through Node, which reads only the compressed bytes,
 * and the artifact records the plaintext size zstd counted and no plaintext SHA-256 (its zstd frames' checksum
 * checks it; manifest format version 2). On the benchmark that saved a pass over the whole dump: about 1.3 s of CPU
 * per GiB of database on a machine whose dump already keeps both cores busy (bench/postgres.ts). Level 1 instead of 3:
 * half zstd's CPU, and on the benchmark's data a smaller output (134.6 against 147.5 MB for a 557 MB dump). Measured on the platform-like test dataset (bench/postgres.ts has the numbers): 5–10× faster than
 * pg_dump's default gzip at a better ratio. pg_dump ≥ 16 could do zstd itself, but single-threaded in the same process that reads
 * and formats the rows, so it is not used. The choice is recorded per artifact: `compression` (the stream)
 * and `facts.dumpCompression` (pg_dump's own setting).
 */
export const PG_DUMP_COMPRESS = '0';

/**
 * The engine may start this source while the backup lock is still being acquired (postgresSource.startsBeforeLock):
 * until `ctx.held` resolves it only reads (connects, exports the snapshot, reads versions, sizes and the table list);
 * every tool (pg_dumpall, pg_dump) starts after it.
 */
async function lockHeld(ctx: BackupContext): Promise<void> {
  try {
    await ctx.held;
  } catch (err) {
    throw new LockNotHeld(errorMessage(err), { cause: err });
  }
}

/** The backup lock was not won: nothing may start, for any database. */
class LockNotHeld extends Error {}

/** Test and benchmark hooks; the CLI never sets them. */
export interface PostgresBackupHooks {
  /** After the snapshot is exported, before pg_dump starts. */
  onSnapshot?: (database: string, snapshot: string) => Promise<void> | void;
  /** Every spawned pg_dump / pg_dumpall. (pg_dump's stdout is zstd's when the zstd CLI compresses: see onOutput.) */
  onChild?: (tool: PgTool, database: string | undefined, child: ChildProcess) => void;
  /** Every dump's stream as the artifact writer gets it: zstd frames when the zstd CLI reads pg_dump, else plaintext. */
  onOutput?: (tool: PgTool, database: string | undefined, output: Readable) => void;
}

export const backupPostgres: BackupFn = (ctx) => backupPostgresWith(ctx, {});

export async function backupPostgresWith(ctx: BackupContext, hooks: PostgresBackupHooks): Promise<BackupResult> {
  const configured = ctx.config.sources.postgres;
  if (!configured) throw new UsageError('sources.postgres is not configured');
  // sources.postgres.passwordFile: read once; pgConnection() hands the password to the tools in PGPASSWORD.
  const cfg: PostgresSourceConfig = { ...configured, url: pgUrlWithPasswordFile(configured.url, configured.passwordFile) };
  const log = ctx.log;
  const tools = new ToolCache(cfg.binDir);
  const artifacts: Artifact[] = [];
  const failures: Failure[] = [];

  if (cfg.globals) {
    try {
      artifacts.push(await backupGlobals(ctx, cfg, tools, hooks));
    } catch (err) {
      if (isFatal(err)) throw err;
      failures.push({ source: 'postgres', artifact: 'postgres/globals.sql', error: errorMessage(err) });
    }
  }

  for (const db of cfg.databases) {
    const name = `postgres/${db}.dump`;
    if (ctx.signal.aborted) {
      failures.push({ source: 'postgres', artifact: name, error: 'interrupted before it started' });
      continue;
    }
    if (!ARTIFACT_NAME_RE.test(name)) {
      failures.push({
        source: 'postgres',
        artifact: name,
        error: `database "${db}": its name cannot be used as an artifact name (letters, digits, . _ - only)`,
      });
      continue;
    }
    try {
      artifacts.push(await backupDatabase(ctx, cfg, db, name, tools, hooks));
    } catch (err) {
      if (isFatal(err)) throw err;
      log.error({ database: db, err: errorMessage(err) }, 'postgres database backup failed');
      failures.push({ source: 'postgres', artifact: name, error: errorMessage(err) });
    }
  }
  // Whatever runs after this source's own artifacts (the PITR base backup) starts with the lock held.
  await lockHeld(ctx);
  return { artifacts, failures };
}

/** sources.postgres.timeoutSeconds (default 300): how long pg_dump may send nothing; connecting waits at most 30 s of it. */
function idleTimeoutMs(cfg: PostgresSourceConfig): number {
  return (cfg.timeoutSeconds ?? 300) * 1000;
}

function connectTimeoutMs(cfg: PostgresSourceConfig): number {
  return Math.min(30, cfg.timeoutSeconds ?? 300) * 1000;
}

/** Errors that no other database of the same server can escape: wrong credentials, a too-old pg_dump. */
function isFatal(err: unknown): boolean {
  return err instanceof UsageError || err instanceof LockNotHeld || (err instanceof PgConnectError && err.isAuthFailure);
}

class ToolCache {
  private readonly cache = new Map<string, Promise<LocatedTool>>();
  constructor(private readonly binDir?: string) {}
  get(name: PgTool, major: number): Promise<LocatedTool> {
    const k = `${name}@${major}`;
    let p = this.cache.get(k);
    if (!p) {
      p = locatePgTool(name, { binDir: this.binDir, major });
      this.cache.set(k, p);
    }
    return p;
  }
}

interface ServerInfo {
  serverVersion: string;
  major: number;
}

async function serverInfo(client: pg.Client): Promise<ServerInfo> {
  const r = await client.query<{ v: string; n: string }>(
    "select current_setting('server_version') as v, current_setting('server_version_num') as n",
  );
  return { serverVersion: r.rows[0].v, major: serverMajor(Number(r.rows[0].n)) };
}

async function backupDatabase(
  ctx: BackupContext,
  cfg: PostgresSourceConfig,
  db: string,
  name: string,
  tools: ToolCache,
  hooks: PostgresBackupHooks,
): Promise<Artifact> {
  const log = ctx.log.child({ database: db });
  const t0 = Date.now();
  const client = await connectPg(cfg.url, db, 'gushen-dr backup', { connectTimeoutMs: connectTimeoutMs(cfg) });
  let inTx = false;
  let ok = false;
  /** True while the row counts still run on the client: then it is closed without waiting for a rollback. */
  let busy = () => false;
  try {
    // The exporting transaction: its snapshot is what pg_dump dumps and what the row counts describe.
    await client.query('begin isolation level repeatable read read only');
    inTx = true;
    // The row counts run next to pg_dump: parallel workers would only take the cores pg_dump and zstd need (on the
    // benchmark the counts took 0.84 s on three processes with them, 0.41 s on one without).
    await client.query('set local max_parallel_workers_per_gather = 0');
    const snap = await client.query<{ snapshot: string; size: string }>(
      'select pg_export_snapshot() as snapshot, pg_database_size(current_database()) as size',
    );
    const snapshot = snap.rows[0].snapshot;
    const databaseSizeBytes = Number(snap.rows[0].size);
    const server = await serverInfo(client);
    const pgDump = await tools.get('pg_dump', server.major);
    checkDumpToolVersion(pgDump, { full: server.serverVersion, major: server.major });
    const tables = (await client.query<{ schema: string; name: string }>(USER_TABLES_SQL)).rows;
    await lockHeld(ctx);
    await hooks.onSnapshot?.(db, snapshot);

    const conn = pgConnection(cfg.url, db);
    conn.env.PGCONNECT_TIMEOUT = String(connectTimeoutMs(cfg) / 1000);
    const args = ['--format=custom', `--compress=${PG_DUMP_COMPRESS}`, `--snapshot=${snapshot}`, '--no-password', `--dbname=${conn.connString}`];
    log.info({ server: redactUrl(conn.connString), snapshot, pgDump: pgDump.version.full, tables: tables.length }, 'postgres: dumping database');
    // With the zstd CLI, pg_dump writes straight into it (see the top of this file); else through this process.
    const zstdCmd = cfg.compression === 'zstd' ? zstdCommand() : undefined;
    const zstd = zstdCmd ? spawnZstdCompressor(zstdCmd, cfg.compressionLevel) : undefined;
    const { child, done } = zstd
      ? spawnIntoZstd(zstd, (stdout) => spawnPgTool(pgDump, args, conn, { signal: ctx.signal, largeStdoutBuffer: true, stdio: ['ignore', stdout, 'pipe'] }))
      : spawnPgTool(pgDump, args, conn, { signal: ctx.signal, largeStdoutBuffer: true });
    hooks.onChild?.('pg_dump', db, child);

    // Exact row counts inside the same snapshot, on the exporting connection, while pg_dump streams.
    const counts: Promise<TableCount[]> = countTables(client, tables);
    let countsSettled = false;
    let countErr: unknown;
    counts.then(
      () => (countsSettled = true),
      (err: unknown) => {
        countsSettled = true;
        countErr = err;
        killIfRunning(child);
      },
    );
    busy = () => !countsSettled;
    // A dump leaves out indexes and free space, so the database's size bounds it from above.
    const spec = { name, source: 'postgres' as const, kind: 'pg_dump-custom', compression: cfg.compression, compressionLevel: cfg.compressionLevel, expectedSize: databaseSizeBytes };
    let written: WrittenArtifact;
    try {
      const output = zstd ? new ZstdDumpOutput({ child, done }, zstd, 'pg_dump', counts, idleTimeoutMs(cfg)) : new ToolOutput(child, done, 'pg_dump', counts, idleTimeoutMs(cfg));
      hooks.onOutput?.('pg_dump', db, output);
      written = output instanceof ZstdDumpOutput ? await ctx.writer.writeCompressed(spec, output, ctx.signal) : await ctx.writer.write(spec, output, ctx.signal);
    } catch (err) {
      await stopTool(child, done);
      if (zstd) await stopTool(zstd.child, zstd.done);
      // Counting may still run (the dump failed first): closing the connection below cancels it.
      if (countErr) throw new OperationError(`database ${db}: counting rows in the snapshot failed: ${errorMessage(countErr)}`, { cause: countErr });
      throw new OperationError(`database ${db}: ${errorMessage(err)}`, { cause: err });
    }
    // The stream ended only after pg_dump had exited, so the snapshot was held long enough; it may go now.
    const run = await done;
    for (const w of run.stderr.split('\n').filter((l) => /warning:/i.test(l))) log.warn({ pgDump: w.trim() }, 'pg_dump warning');
    const facts: PostgresFacts = {
      type: 'postgres',
      database: db,
      serverVersion: server.serverVersion,
      pgDumpVersion: pgDump.version.full,
      databaseSizeBytes,
      snapshot,
      dumpCompression: PG_DUMP_COMPRESS,
      tables: await counts,
    };
    const rows = facts.tables.reduce((s, t) => s + t.rows, 0);
    log.info(
      { bytes: written.size, stored: written.stored.size, tables: facts.tables.length, rows, seconds: (Date.now() - t0) / 1000 },
      'postgres: database dumped',
    );
    ok = true;
    return withFacts(written, facts);
  } finally {
    if (!ok) {
      // The dump failed, perhaps because the server stopped answering: a rollback or a polite end() would then
      // wait forever. Dropping the connection ends the read-only snapshot transaction all the same.
      client.connection.stream.destroy();
    } else {
      if (inTx && !busy()) await client.query('rollback').catch(() => undefined);
      await client.end().catch(() => undefined);
    }
  }
}

/** Where pg_dumpall connects: the URL's own database, else `postgres`, else the configured databases in turn. */
async function connectAny(cfg: PostgresSourceConfig): Promise<pg.Client & { database: string }> {
  const fromUrl = decodeURIComponent(new URL(cfg.url).pathname.replace(/^\//, ''));
  const candidates = [...new Set([fromUrl || 'postgres', ...cfg.databases])];
  let last: unknown;
  for (const db of candidates) {
    try {
      const c = await connectPg(cfg.url, db, 'gushen-dr backup', { connectTimeoutMs: connectTimeoutMs(cfg) });
      return Object.assign(c, { database: db });
    } catch (err) {
      if (err instanceof PgConnectError && err.isMissingDatabase) {
        last = err;
        continue;
      }
      throw err;
    }
  }
  throw last;
}

async function backupGlobals(ctx: BackupContext, cfg: PostgresSourceConfig, tools: ToolCache, hooks: PostgresBackupHooks): Promise<Artifact> {
  const log = ctx.log;
  const client = await connectAny(cfg);
  let info: { user: string; canRead: boolean; roles: number };
  let server: ServerInfo;
  try {
    server = await serverInfo(client);
    const r = await client.query<{ user: string; can: boolean; roles: string }>(
      `select current_user as user,
              has_table_privilege('pg_catalog.pg_authid', 'select') as can,
              (select count(*) from pg_catalog.pg_roles where rolname !~ '^pg_') as roles`,
    );
    info = { user: r.rows[0].user, canRead: r.rows[0].can, roles: Number(r.rows[0].roles) };
  } finally {
    await client.end().catch(() => undefined);
  }
  const hint = 'set sources.postgres.globals: false in the config to back up the databases without roles and tablespaces';
  if (!info.canRead) {
    throw new OperationError(
      `pg_dumpall --globals-only: the PostgreSQL user "${info.user}" may not read roles and their passwords (pg_authid needs a superuser); use a superuser, or ${hint}`,
    );
  }
  const pgDumpall = await tools.get('pg_dumpall', server.major);
  checkDumpToolVersion(pgDumpall, { full: server.serverVersion, major: server.major });
  await lockHeld(ctx);
  const conn = pgConnection(cfg.url, client.database);
  conn.env.PGCONNECT_TIMEOUT = String(connectTimeoutMs(cfg) / 1000);
  const { child, done } = spawnPgTool(pgDumpall, ['--globals-only', '--no-password', `--dbname=${conn.connString}`], conn, { signal: ctx.signal });
  hooks.onChild?.('pg_dumpall', undefined, child);
  try {
    const written = await ctx.writer.write(
      { name: 'postgres/globals.sql', source: 'postgres', kind: 'pg_dumpall-globals-sql', compression: cfg.compression, compressionLevel: cfg.compressionLevel },
      new ToolOutput(child, done, 'pg_dumpall', undefined, idleTimeoutMs(cfg)),
      ctx.signal,
    );
    log.info({ roles: info.roles, bytes: written.size }, 'postgres: roles and tablespaces dumped');
    return withFacts(written, { type: 'postgres-globals', serverVersion: server.serverVersion, roles: info.roles });
  } catch (err) {
    const run = await stopTool(child, done);
    const msg = errorMessage(err);
    if (stderrErrors(run.stderr).some((l) => /permission denied/i.test(l))) {
      throw new OperationError(`${msg}; ${hint}`, { cause: err });
    }
    throw err instanceof OperationError ? err : new OperationError(msg, { cause: err });
  }
}
