import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';
import { dockerAvailable } from './docker.js';

const run = promisify(execFile);
export const PG_BIN = process.env.GUSHEN_DR_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface TestPostgres {
  host: string;
  port: number;
  /** Superuser URL without a database path: append `/<db>` or use urlFor(). */
  url: string;
  urlFor(db: string): string;
  password?: string;
  query<T extends pg.QueryResultRow = any>(db: string, sql: string, params?: unknown[]): Promise<pg.QueryResult<T>>;
  stop(): Promise<void>;
  /** Stops the server immediately (fault tests), keeping its data; start() brings it back on the same port. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface PostgresOptions {
  /** Require a password (scram) for TCP connections. */
  password?: string;
}

/** A throwaway PostgreSQL 15 server owned by the calling test file. */
export async function startPostgres(opts: PostgresOptions = {}): Promise<TestPostgres> {
  if (await dockerAvailable()) return startPostgresContainer(opts);
  return startPostgresLocal(opts);
}

async function asPostgres(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  if (process.getuid?.() === 0) return run('runuser', ['-u', 'postgres', '--', cmd, ...args]);
  return run(cmd, args);
}

async function startPostgresLocal(opts: PostgresOptions): Promise<TestPostgres> {
  const base = await mkdtemp(join(tmpdir(), 'gushen-dr-pg-'));
  await chmod(base, 0o755);
  const data = join(base, 'data');
  const sock = join(base, 'sock');
  await mkdir(data);
  await mkdir(sock);
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: g } = await run('id', ['-g', 'postgres']);
    for (const d of [base, data, sock]) await chown(d, Number(stdout.trim()), Number(g.trim()));
  }
  const initArgs = ['-D', data, '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'];
  if (opts.password) {
    const pw = join(base, 'pw');
    await writeFile(pw, `${opts.password}\n`, { mode: 0o644 });
    initArgs.push('--pwfile', pw, '--auth-host=scram-sha-256', '--auth-local=trust');
  } else {
    initArgs.push('--auth=trust');
  }
  await asPostgres(join(PG_BIN, 'initdb'), initArgs);
  await rm(join(base, 'pw'), { force: true });
  const port = await freePort();
  const serverOpts = `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 -c shared_buffers=64MB`;
  const start = async () => {
    await asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-o', serverOpts, '-l', join(base, 'log'), '-w', '-t', '60', 'start']);
  };
  await start();
  const auth = opts.password ? `postgres:${encodeURIComponent(opts.password)}@` : 'postgres@';
  const url = `postgres://${auth}127.0.0.1:${port}`;
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    url,
    password: opts.password,
    urlFor: (db) => `${url}/${db}`,
    query: (db, sql, params) => withClient(`${url}/${db}`, (c) => c.query(sql, params)),
    start,
    kill: async () => {
      await asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(base, { recursive: true, force: true });
    },
  };
}

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  // A server stopped under test (a restart mid-load) also emits 'error' on the client (57P01); the connect or query
  // running then rejects with it, which is where a test sees it. Unlistened, the event failed the whole run.
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function startPostgresContainer(opts: PostgresOptions): Promise<TestPostgres> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const password = opts.password ?? 'postgres';
  const container = await new GenericContainer('postgres:15')
    .withEnvironment({ POSTGRES_PASSWORD: password, POSTGRES_HOST_AUTH_METHOD: opts.password ? 'scram-sha-256' : 'trust' })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const host = container.getHost();
  const port = container.getMappedPort(5432);
  const url = `postgres://postgres:${encodeURIComponent(password)}@${host}:${port}`;
  return {
    host,
    port,
    url,
    password: opts.password,
    urlFor: (db) => `${url}/${db}`,
    query: (db, sql, params) => withClient(`${url}/${db}`, (c) => c.query(sql, params)),
    start: async () => {
      await container.restart();
    },
    kill: async () => {
      await container.stop({ remove: false });
    },
    stop: async () => {
      await container.stop();
    },
  };
}

/** Runs a client binary (psql etc.) of the test server's version. */
export function pgBin(name: string): string {
  return join(PG_BIN, name);
}
