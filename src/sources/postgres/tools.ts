import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { access, constants, readdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { OperationError, UsageError, errorMessage } from '../../util/errors.js';
import { findExecutable } from '../../util/executables.js';
import { readPasswordFile } from '../../util/password-file.js';
import { redactSecrets, redactUrl } from '../../util/redact.js';
import { pgpassPassword } from './pgpass.js';

const run = promisify(execFile);

export type PgTool = 'pg_dump' | 'pg_restore' | 'pg_dumpall' | 'psql';

/** Where Debian/Ubuntu's postgresql-common installs each major version's client binaries. */
export const DEBIAN_PG_ROOT = '/usr/lib/postgresql';

export interface PgVersion {
  /** As printed, e.g. `15.20` or `16beta1`. */
  full: string;
  major: number;
}

export interface LocatedTool {
  name: PgTool;
  path: string;
  version: PgVersion;
}

/**
 * `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` → 15.20; also `9.6.24` (major 9.6 → 9) and `17beta2`.
 * Majors before 10 are two-part; we report the first part only (we never support them anyway).
 */
export function parseToolVersion(output: string): PgVersion {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?([a-z]+\d*)?/.exec(output);
  if (!m) throw new Error(`unrecognised version output: ${JSON.stringify(output.trim().slice(0, 200))}`);
  const full = m[0].replace(/^\(PostgreSQL\)\s+/, '');
  return { full, major: Number(m[1]) };
}

/** `server_version_num` (e.g. 150020) → major 15; pre-10 servers (90624) → 9. */
export function serverMajor(versionNum: number): number {
  return Math.floor(versionNum / 10000);
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function installedMajors(root: string): Promise<number[]> {
  try {
    const entries = await readdir(root);
    return entries.filter((e) => /^\d+$/.test(e)).map(Number).sort((a, b) => a - b);
  } catch {
    return [];
  }
}

export interface LocateOptions {
  /** `sources.postgres.binDir` (or drill.binDir): used exclusively when set. */
  binDir?: string;
  /** The major version wanted (the server's). */
  major?: number;
  /** For tests: where per-major directories live (default /usr/lib/postgresql). */
  root?: string;
  /** For tests: the PATH to search last (default process.env.PATH). */
  path?: string;
}

/**
 * Finds a PostgreSQL client binary: `binDir` when configured; else `/usr/lib/postgresql/<major>/bin`;
 * else the lowest installed major above it; else the newest installed one; else PATH.
 * The version is read from the binary itself (`--version`), so callers can check it.
 */
export async function locatePgTool(name: PgTool, opts: LocateOptions = {}): Promise<LocatedTool> {
  const candidates: string[] = [];
  if (opts.binDir) {
    candidates.push(join(opts.binDir, name));
  } else {
    const root = opts.root ?? DEBIAN_PG_ROOT;
    const majors = await installedMajors(root);
    const ordered =
      opts.major === undefined
        ? [...majors].reverse()
        : [...majors.filter((m) => m === opts.major), ...majors.filter((m) => m > opts.major!), ...[...majors].reverse().filter((m) => m < opts.major!)];
    for (const m of ordered) candidates.push(join(root, String(m), 'bin', name));
    for (const dir of (opts.path ?? process.env.PATH ?? '').split(delimiter).filter(Boolean)) candidates.push(join(dir, name));
  }
  for (const c of candidates) {
    if (!(await executable(c))) continue;
    let out: string;
    try {
      out = (await run(c, ['--version'], { timeout: 30_000 })).stdout;
    } catch (err) {
      // Debian's pg_wrapper on PATH fails without a cluster for some tools; try the next candidate.
      if (opts.binDir) throw new UsageError(`${c} --version failed: ${errorMessage(err)}`);
      continue;
    }
    return { name, path: c, version: parseToolVersion(out) };
  }
  if (opts.binDir) throw new UsageError(`${name} not found in binDir ${opts.binDir}`);
  const want = opts.major !== undefined ? ` (PostgreSQL ${opts.major} or newer)` : '';
  throw new UsageError(
    `${name}${want} not found in ${opts.root ?? DEBIAN_PG_ROOT}/<version>/bin nor on PATH: install the PostgreSQL client (e.g. apt-get install postgresql-client-${opts.major ?? 'NN'}) or set sources.postgres.binDir`,
  );
}

/** pg_dump/pg_dumpall must be at least the server's major version: older ones refuse or produce wrong dumps. */
export function checkDumpToolVersion(tool: LocatedTool, server: { full: string; major: number }): void {
  if (tool.version.major < server.major) {
    throw new UsageError(
      `${tool.name} ${tool.version.full} (${tool.path}) is older than the server (PostgreSQL ${server.full}): ` +
        `${tool.name} must be of major version ${server.major} or newer. Install postgresql-client-${server.major} or point sources.postgres.binDir at its bin directory`,
    );
  }
}

/**
 * pg_restore must read the archive (≥ the pg_dump that wrote it), and must know the target server
 * (≥ its major version); the target must not be older than the server the dump came from.
 */
export function checkRestoreVersions(tool: LocatedTool, archive: { pgDumpVersion: string; serverVersion: string }, target: { full: string; major: number }): void {
  const dumpMajor = majorOf(archive.pgDumpVersion);
  const sourceMajor = majorOf(archive.serverVersion);
  if (dumpMajor !== undefined && tool.version.major < dumpMajor) {
    throw new UsageError(
      `${tool.name} ${tool.version.full} (${tool.path}) cannot read an archive written by pg_dump ${archive.pgDumpVersion}: ` +
        `install postgresql-client-${dumpMajor} or newer, or set sources.postgres.binDir`,
    );
  }
  if (tool.version.major < target.major) {
    throw new UsageError(
      `${tool.name} ${tool.version.full} (${tool.path}) is older than the target server (PostgreSQL ${target.full}), which it does not support: ` +
        `install postgresql-client-${target.major} or set sources.postgres.binDir`,
    );
  }
  if (sourceMajor !== undefined && target.major < sourceMajor) {
    throw new UsageError(
      `the target server runs PostgreSQL ${target.full} but the backup is of PostgreSQL ${archive.serverVersion}: restoring into an older major version is not supported; use a PostgreSQL ${sourceMajor} or newer server`,
    );
  }
}

export function majorOf(version: string): number | undefined {
  const m = /^(\d+)/.exec(version.trim());
  return m ? Number(m[1]) : undefined;
}

/** Connection details of a postgres:// URL, split so that the password never reaches a command line. */
export interface PgConnection {
  /** The URL without password (neither in the userinfo nor as `?password=`), with `database` as its path: safe for argv (`-d`) and logs. */
  connString: string;
  /** Environment for the child process: PGPASSWORD when the URL has a password; else the inherited PGPASSWORD / PGPASSFILE. */
  env: NodeJS.ProcessEnv;
  password?: string;
  user?: string;
  database: string;
}

function parsePgUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`not a postgres:// URL: ${redactUrl(url)}`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new UsageError(`expected a postgres:// URL, got ${redactUrl(url)}`);
  }
  return u;
}

/** The password a URL carries: its userinfo's (percent-decoded), else libpq's `?password=` parameter. */
function urlPassword(u: URL): string | undefined {
  if (u.password) return decodeURIComponent(u.password);
  return u.searchParams.get('password') ?? undefined;
}

/**
 * Builds the libpq connection for one database of a server URL. The URL's own path is replaced by `database`
 * (when given). Query parameters (sslmode, host for a Unix socket, ...) are kept, except `password`: a password
 * in the userinfo or the query goes into the child's PGPASSWORD, never into its argv. Without one, the inherited
 * PGPASSWORD or PGPASSFILE (libpq's own routes) reach the child.
 */
export function pgConnection(url: string, database?: string): PgConnection {
  const u = parsePgUrl(url);
  const password = urlPassword(u);
  const user = u.username ? decodeURIComponent(u.username) : (u.searchParams.get('user') ?? undefined);
  const db = database ?? (decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres');
  u.password = '';
  u.searchParams.delete('password');
  u.pathname = `/${encodeURIComponent(db)}`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Inherited libpq variables would silently change where the tools connect; the URL says it all.
  // PGPASSWORD and PGPASSFILE only say how to log in: they stay, unless the URL has its own password.
  for (const k of ['PGDATABASE', 'PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGUSER', 'PGSERVICE', 'PGOPTIONS']) delete env[k];
  if (password !== undefined) env.PGPASSWORD = password;
  return { connString: u.toString(), env, password, user, database: db };
}

/**
 * The URL with the password read from `passwordFile` (sources.postgres.passwordFile, drill.postgres.passwordFile,
 * --pg-password-file) put in, for this process's memory only: pgConnection() moves it into the children's
 * PGPASSWORD and every log line shows the URL through redactUrl(). A URL that has a password of its own as well
 * is refused (which one would win is not obvious). Without a file the URL is returned as it is.
 */
export function pgUrlWithPasswordFile(url: string, passwordFile: string | undefined): string {
  if (!passwordFile) return url;
  const u = parsePgUrl(url);
  if (urlPassword(u) !== undefined) {
    throw new UsageError(`${redactUrl(url)} has a password and a password file (${passwordFile}) is given too: keep the password in the file only`);
  }
  const password = readPasswordFile(passwordFile, 'PostgreSQL password file');
  // A URL without a host (a Unix socket: postgres:///db?host=/dir) cannot have a userinfo: libpq's parameter then.
  if (u.host) u.password = encodeURIComponent(password);
  else u.searchParams.set('password', password);
  return u.toString();
}

/** The server part of a URL for messages: the path dropped, the query (host=/socket/dir, sslmode) kept, no password. */
export function pgServerDisplay(url: string): string {
  try {
    const u = new URL(url);
    u.pathname = '/';
    return redactUrl(u.toString());
  } catch {
    return redactUrl(url);
  }
}

/** A URL for node-postgres (it needs the password in the URL; never log it). */
export function pgClientUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/**
 * The URL node-postgres connects with. Without a password in the URL, PGPASSWORD (node-postgres reads it itself)
 * or else the password file libpq would read (PGPASSFILE, ~/.pgpass: pgpass.ts) is used, as the tools do.
 */
function clientUrlWithCredentials(url: string, database: string): string {
  const u = new URL(pgClientUrl(url, database));
  if (urlPassword(u) !== undefined || process.env.PGPASSWORD) return u.toString();
  const host = (u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname) || u.searchParams.get('host') || process.env.PGHOST || '';
  const user = decodeURIComponent(u.username) || u.searchParams.get('user') || process.env.PGUSER || process.env.USER || userInfo().username;
  const port = u.port || u.searchParams.get('port') || process.env.PGPORT || '5432';
  const password = pgpassPassword({ host, port, database, user });
  if (password === undefined) return u.toString();
  if (u.host) u.password = encodeURIComponent(password);
  else u.searchParams.set('password', password);
  return u.toString();
}

/** Opens a node-postgres client on one database of the server; connection errors name the redacted URL. */
export async function connectPg(url: string, database: string, appName = 'gushen-dr', opts: { connectTimeoutMs?: number } = {}): Promise<pg.Client> {
  // Like PGCONNECT_TIMEOUT for the tools: a server that accepts the connection and never answers must not hang us.
  const client = new pg.Client({ connectionString: clientUrlWithCredentials(url, database), application_name: appName, connectionTimeoutMillis: opts.connectTimeoutMs ?? 30_000 });
  // An idle client whose server goes away emits 'error'; the pending query (if any) rejects on its own.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new PgConnectError(url, database, err);
  }
  return client;
}

/** SQLSTATEs meaning the credentials or the role are wrong: no other database on the server will work either. */
const AUTH_CODES = new Set(['28P01', '28000']);

export class PgConnectError extends OperationError {
  readonly code?: string;
  constructor(url: string, database: string, cause: unknown) {
    const code = (cause as { code?: unknown })?.code;
    const where = redactUrl(pgClientUrl(url, database));
    super(`cannot connect to PostgreSQL at ${where}: ${redactSecrets(errorMessage(cause), secretsOf(url))}`, { cause });
    this.name = 'PgConnectError';
    this.code = typeof code === 'string' ? code : undefined;
  }
  get isAuthFailure(): boolean {
    return this.code !== undefined && AUTH_CODES.has(this.code);
  }
  get isMissingDatabase(): boolean {
    return this.code === '3D000';
  }
}

/** The password of a URL (raw and decoded; userinfo or `?password=`) and an inherited PGPASSWORD, for redactSecrets. */
export function secretsOf(url: string): string[] {
  const out = process.env.PGPASSWORD ? [process.env.PGPASSWORD] : [];
  try {
    const u = new URL(url);
    if (u.password) out.push(u.password, decodeURIComponent(u.password));
    const q = u.searchParams.get('password');
    if (q) out.push(q, encodeURIComponent(q));
  } catch {
    // nothing to add
  }
  return out;
}

/** `"schema"."name"` with embedded quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/**
 * User tables whose rows pg_dump writes: ordinary and partitioned tables, outside the system schemas,
 * not temporary tables of other sessions.
 */
export const USER_TABLES_SQL = `
  select n.nspname as schema, c.relname as name
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where c.relkind in ('r', 'p')
     and c.relpersistence <> 't'
     and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
     and n.nspname !~ '^pg_(toast_)?temp_'
   order by n.nspname, c.relname`;

export interface TableCount {
  schema: string;
  name: string;
  rows: number;
}

/** Exact `count(*)` of every user table, one statement per table, on an open client (inside its transaction, if any). */
export async function countTables(client: pg.Client, tables?: Array<{ schema: string; name: string }>): Promise<TableCount[]> {
  const list = tables ?? (await client.query<{ schema: string; name: string }>(USER_TABLES_SQL)).rows;
  const out: TableCount[] = [];
  for (const t of list) {
    const r = await client.query<{ n: string }>(`select count(*) as n from ${qualified(t.schema, t.name)}`);
    out.push({ schema: t.schema, name: t.name, rows: Number(r.rows[0].n) });
  }
  return out;
}

export interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Captured stderr (bounded, redacted). */
  stderr: string;
}

/** Lines of a PostgreSQL client tool's stderr that report an error (not warnings or notices). */
export function stderrErrors(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /(^|:\s)(error|fatal|panic):\s/i.test(l) || /^(ERROR|FATAL|PANIC):/.test(l));
}

/** Collects the tail of a stream (at most `limit` bytes kept). */
export class BoundedText {
  private chunks: string[] = [];
  private size = 0;
  constructor(private readonly limit = 64 * 1024) {}
  push(s: string): void {
    this.chunks.push(s);
    this.size += s.length;
    while (this.size > this.limit && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  toString(): string {
    const s = this.chunks.join('');
    return s.length > this.limit ? s.slice(s.length - this.limit) : s;
  }
}

/**
 * Spawns a client tool with the connection's environment. stderr is captured (bounded, secrets redacted);
 * `done` resolves when the process has exited and its pipes are closed.
 */
export function spawnPgTool(
  tool: LocatedTool,
  args: string[],
  conn: Pick<PgConnection, 'env' | 'password'>,
  opts: { stdio?: SpawnOptions['stdio']; signal?: AbortSignal; largeStdoutBuffer?: boolean } = {},
): { child: ChildProcess; done: Promise<ToolRun> } {
  const [command, argv] = opts.largeStdoutBuffer ? withLargeStdoutBuffer(tool.path, args) : [tool.path, args];
  const child = spawn(command, argv, {
    env: { ...conn.env, PGAPPNAME: 'gushen-dr', PGCONNECT_TIMEOUT: conn.env.PGCONNECT_TIMEOUT ?? '30' },
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  const err = new BoundedText();
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => err.push(s));
  const onAbort = () => child.kill('SIGTERM');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const secrets = [conn.password, conn.env.PGPASSWORD].filter((x): x is string => !!x);
  const done = new Promise<ToolRun>((resolve) => {
    let spawnError: Error | undefined;
    child.once('error', (e) => {
      spawnError = e;
    });
    child.once('close', (code, signal) => {
      opts.signal?.removeEventListener('abort', onAbort);
      const text = `${err.toString()}${spawnError ? `\n${tool.name}: error: ${spawnError.message}` : ''}`;
      resolve({ code: spawnError ? (code ?? 127) : code, signal, stderr: redactSecrets(text, secrets) });
    });
  });
  return { child, done };
}

/**
 * pg_dump writes its archive through stdio, whose buffer for a pipe is 4 KiB: reading a 531 MiB dump then took
 * ~60,000 reads and 1.3 s of our CPU. Under coreutils' `stdbuf -o1M` (it sets the buffer and execs the tool, so
 * the pid, signals and exit status stay the tool's) the same dump came in ~12,000 reads for 0.5 s. Without
 * stdbuf the tool runs as it is.
 */
function withLargeStdoutBuffer(path: string, args: string[]): [string, string[]] {
  const stdbuf = findExecutable('stdbuf');
  return stdbuf ? [stdbuf, ['-o1M', path, ...args]] : [path, args];
}

/** A one-line description of why a tool run failed, or undefined when it succeeded. */
export function toolFailure(name: string, r: ToolRun, opts: { stderrErrorsFail?: boolean } = {}): string | undefined {
  const errors = stderrErrors(r.stderr);
  const detail = errors.length ? errors.slice(0, 5).join('; ') : lastLines(r.stderr, 3);
  if (r.signal) return `${name} was killed by ${r.signal}${detail ? `: ${detail}` : ''}`;
  if (r.code !== 0) return `${name} exited with code ${r.code}${detail ? `: ${detail}` : ''}`;
  if ((opts.stderrErrorsFail ?? true) && errors.length) return `${name} reported errors: ${errors.slice(0, 5).join('; ')}`;
  return undefined;
}

function lastLines(s: string, n: number): string {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join('; ');
}
