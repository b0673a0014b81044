import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { stringify } from 'yaml';
import { formatIdentityFile, generateX25519Identity } from '../../src/crypto/index.js';
import { startCliProcess, type CliProcess } from './cli-process.js';
import { PG_BIN, withClient } from './postgres.js';
import { freePort, waitFor } from './ports.js';
import { parseMetrics } from './metrics.js';

const run = promisify(execFile);

async function asPostgres(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  if (process.getuid?.() === 0) return run('runuser', ['-u', 'postgres', '--', cmd, ...args]);
  return run(cmd, args);
}

async function ownedByPostgres(...dirs: string[]): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  for (const d of dirs) await chown(d, uid, gid);
}

/** A PostgreSQL 15 source server for PITR tests: 1 MiB WAL segments, commit timestamps on, replication allowed. */
export interface PitrServer {
  port: number;
  /** Superuser URL, path `/postgres`. */
  url: string;
  urlFor(db: string): string;
  data: string;
  query<T extends pg.QueryResultRow = any>(db: string, sql: string, params?: unknown[]): Promise<pg.QueryResult<T>>;
  /** The postmaster's pid (from postmaster.pid). */
  pid(): Promise<number>;
  /** kill -9 of the postmaster (its backends notice and exit); data is kept. */
  kill9(): Promise<void>;
  /** pg_ctl restart -m fast. */
  restart(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPitrServer(opts: { segSizeMiB?: number } = {}): Promise<PitrServer> {
  const base = await mkdtemp(join(tmpdir(), 'gushen-dr-pitr-src-'));
  await chmod(base, 0o755);
  const data = join(base, 'data');
  const sock = join(base, 'sock');
  await mkdir(data);
  await mkdir(sock);
  await ownedByPostgres(base, data, sock);
  await asPostgres(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8', `--wal-segsize=${opts.segSizeMiB ?? 1}`]);
  const port = await freePort();
  const serverOpts = [
    `-p ${port}`,
    `-k ${sock}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c full_page_writes=on',
    '-c track_commit_timestamp=on',
    '-c max_connections=40',
    '-c shared_buffers=32MB',
    '-c max_wal_size=64MB',
    '-c wal_keep_size=0',
  ].join(' ');
  const start = async () => {
    await asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-o', serverOpts, '-l', join(base, 'log'), '-w', '-t', '60', 'start']);
  };
  await start();
  const url = `postgres://postgres@127.0.0.1:${port}`;
  const pid = async () => Number((await readFile(join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  return {
    port,
    url: `${url}/postgres`,
    urlFor: (db) => `${url}/${db}`,
    data,
    query: (db, sql, params) => withClient(`${url}/${db}`, (c) => c.query(sql, params)),
    pid,
    kill9: async () => {
      const p = await pid();
      process.kill(p, 'SIGKILL');
      await waitFor('the killed postmaster and its backends to exit', async () => {
        try {
          process.kill(p, 0);
          return undefined;
        } catch {
          // Backends notice the postmaster's death within moments; the next start needs them gone.
          const { stdout } = await run('ps', ['-u', 'postgres', '-o', 'pid=,args=']).catch(() => ({ stdout: '' }));
          return stdout.split('\n').some((l) => l.includes(`postgres: `) && l.includes(String(port))) ? undefined : true;
        }
      });
    },
    restart: async () => {
      await asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-o', serverOpts, '-l', join(base, 'log'), '-m', 'fast', '-w', '-t', '60', 'restart']);
    },
    start,
    stop: async () => {
      await asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(base, { recursive: true, force: true });
    },
  };
}

export interface PitrEnv {
  dir: string;
  identityFile: string;
  recipient: string;
  storeDir: string;
  spoolDir: string;
  /** Writes gushen-dr.yaml for this server; returns its path. */
  writeConfig(server: PitrServer, pitr?: Record<string, unknown>): Promise<string>;
  cleanup(): Promise<void>;
}

export async function pitrEnv(): Promise<PitrEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'gushen-dr-pitr-'));
  // Restored data directories go in here: the postgres user must be able to reach them.
  await chmod(dir, 0o755);
  const { identity, recipient } = generateX25519Identity();
  const identityFile = join(dir, 'dr.key');
  await writeFile(identityFile, formatIdentityFile(identity, recipient, new Date()), { mode: 0o600 });
  const storeDir = join(dir, 'store');
  const spoolDir = join(dir, 'spool');
  return {
    dir,
    identityFile,
    recipient,
    storeDir,
    spoolDir,
    writeConfig: async (server, pitr = {}) => {
      const file = join(dir, 'gushen-dr.yaml');
      await writeFile(
        file,
        stringify({
          store: { url: `file://${storeDir}` },
          encryption: { recipients: [recipient], identityFile },
          sources: {
            postgres: {
              url: server.url,
              databases: ['app'],
              globals: false,
              pitr: { enabled: true, partialUploadSeconds: 1, spoolDir, listen: '127.0.0.1:0', walWaitSeconds: 60, ...pitr },
            },
          },
          backup: { lockLeaseSeconds: 120 },
        }),
      );
      return file;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Starts `gushen-dr wal-archive` and waits until it streams; returns the process and its status address. */
export async function startArchiver(config: string, extra: string[] = []): Promise<{ p: CliProcess; address: string }> {
  const p = startCliProcess(['--config', config, 'wal-archive', ...extra]);
  const line = await p.waitForStderr(/serving \/healthz and \/metrics/, 60_000);
  const address = String((JSON.parse(line) as { listen: string }).listen);
  await p.waitForStderr(/streaming WAL/, 60_000);
  return { p, address };
}

/** Prometheus text → metric name (with labels) → value. */
export async function scrape(address: string): Promise<Map<string, number>> {
  return parseMetrics(await (await fetch(`http://${address}/metrics`)).text());
}

/** Starts a restored data directory (owned by postgres when we are root) on a free port; `ids()` reads a table. */
export async function startDataDir(data: string): Promise<{ port: number; query<T extends pg.QueryResultRow = any>(db: string, sql: string): Promise<pg.QueryResult<T>>; stop(): Promise<void> }> {
  const port = await freePort();
  const sock = await mkdtemp(join(tmpdir(), 'gushen-dr-pitr-sock-'));
  await chmod(sock, 0o755);
  await ownedByPostgres(sock);
  const log = join(sock, 'log');
  await asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-o', `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1`, '-l', log, '-w', '-t', '60', 'start']);
  return {
    port,
    query: (db, sql) => withClient(`postgres://postgres@127.0.0.1:${port}/${db}`, (c) => c.query(sql)),
    stop: async () => {
      await asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
      await rm(sock, { recursive: true, force: true });
    },
  };
}

/** Commit time of each row of `table` in microseconds since the epoch (track_commit_timestamp is on). */
export async function commitTimes(server: PitrServer, db: string, table: string): Promise<Array<{ id: number; us: bigint }>> {
  const r = await server.query<{ id: string; us: string }>(
    db,
    `select t.id::text as id, (extract(epoch from pg_xact_commit_timestamp(t.xmin)) * 1000000)::bigint::text as us from ${table} t order by t.id`,
  );
  return r.rows.map((x) => ({ id: Number(x.id), us: BigInt(x.us) }));
}
