import { spawn } from 'node:child_process';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { OperationError, errorMessage } from '../../../util/errors.js';
import type { Logger } from '../../../util/log.js';
import { BoundedText } from '../tools.js';
import type { Owner } from './wal-stage.js';
import { formatMicros, parseIsoMicros } from './wal-names.js';

export interface RecoveryOptions {
  pgdata: string;
  /** The `postgres` server binary of the data directory's major version. */
  postgres: string;
  /** A 0700 directory of the owner's: the server's socket and its private pg_hba.conf go here. */
  socketDir: string;
  owner?: Owner;
  restoreCommand: string;
  /** `2026-11-24 02:15:30.250000+00`; undefined: replay everything there is. */
  targetTime?: string;
  log: Logger;
  signal?: AbortSignal;
}

export interface RecoveryResult {
  /** `last completed transaction was at log time …` (or the replay timestamp the server reports after promotion). */
  lastTransaction?: string;
  /** `recovery stopping before commit of transaction N, time …`: the first transaction left out. */
  stoppedBefore?: string;
  /** The start LSN of the last record replayed. */
  redoDoneAt?: string;
  newTimeline?: number;
}

const PORT = 5432;

/**
 * Starts PostgreSQL on the restored data directory with recovery.signal, privately: no TCP (listen_addresses
 * empty), its socket in a 0700 directory, trust only there (its own pg_hba.conf, not the data directory's),
 * no archiving, no hot standby. Replays WAL to the target, promotes, then is stopped (fast shutdown, which
 * checkpoints). The settings are given on the command line: nothing of them stays in the data directory.
 */
export async function runRecovery(o: RecoveryOptions): Promise<RecoveryResult> {
  await writeFile(join(o.pgdata, 'recovery.signal'), '', { mode: 0o600 });
  const hba = join(o.socketDir, 'pg_hba.conf');
  const ident = join(o.socketDir, 'pg_ident.conf');
  await writeFile(hba, 'local all all trust\n', { mode: 0o600 });
  await writeFile(ident, '', { mode: 0o600 });
  const sock = join(o.socketDir, 'sock');
  await mkdir(sock, { mode: 0o700 });
  if (o.owner) for (const f of [join(o.pgdata, 'recovery.signal'), hba, ident, sock]) await chown(f, o.owner.uid, o.owner.gid);
  const settings: Record<string, string> = {
    data_directory: o.pgdata,
    hba_file: hba,
    ident_file: ident,
    listen_addresses: '',
    unix_socket_directories: sock,
    port: String(PORT),
    hot_standby: 'off',
    archive_mode: 'off',
    ssl: 'off',
    logging_collector: 'off',
    log_destination: 'stderr',
    lc_messages: 'C',
    log_timezone: 'UTC',
    synchronous_standby_names: '',
    primary_conninfo: '',
    primary_slot_name: '',
    external_pid_file: '',
    cluster_name: 'gushen-dr-pitr',
    restore_command: o.restoreCommand,
    recovery_target_action: 'promote',
    recovery_target_timeline: 'latest',
    ...(o.targetTime ? { recovery_target_time: o.targetTime, recovery_target_inclusive: 'on' } : {}),
  };
  const args = ['-D', o.pgdata, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  o.log.info({ pgdata: o.pgdata, target: o.targetTime ?? 'all archived WAL' }, 'starting the recovering server (private: no TCP)');
  const child = spawn(o.postgres, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8', TZ: 'UTC' },
    ...(o.owner ? { uid: o.owner.uid, gid: o.owner.gid } : {}),
  });
  const tail = new BoundedText(32 * 1024);
  const result: RecoveryResult = {};
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  let buf = '';
  const onLine = (line: string) => {
    tail.push(`${line}\n`);
    let m;
    if ((m = /last completed transaction was at log time (.+)$/.exec(line))) result.lastTransaction = isoOf(m[1]);
    else if ((m = /recovery stopping (?:before|after) (?:commit|abort) of transaction \d+, time (.+)$/.exec(line))) result.stoppedBefore = isoOf(m[1]);
    else if ((m = /redo done at ([0-9A-F]+\/[0-9A-F]+)/.exec(line))) result.redoDoneAt = m[1];
    else if ((m = /selected new timeline ID: (\d+)/.exec(line))) result.newTimeline = Number(m[1]);
    else if (/database system is ready to accept connections/.test(line)) ready();
    if (/restored log file|redo starts|consistent recovery state|recovery stopping|archive recovery complete|FATAL|PANIC/.test(line)) o.log.info({ postgres: line.replace(/^\S+ \S+ \S+ \[\d+\] /, '') }, 'recovery');
  };
  for (const s of [child.stdout!, child.stderr!]) {
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      lines.forEach(onLine);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      tail.push(`${errorMessage(err)}\n`);
      resolve({ code: 127, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const onAbort = () => child.kill('SIGINT');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const first = await Promise.race([readyP.then(() => 'ready' as const), exited]);
    if (first !== 'ready') {
      const fatal = tail
        .toString()
        .split('\n')
        .filter((l) => /FATAL|PANIC/.test(l))
        .map((l) => l.replace(/^.*?(FATAL|PANIC):\s*/, ''));
      const hint = fatal.some((l) => /before configured recovery target was reached/.test(l))
        ? ': the archive ends before the target (see the recoverable window in gushen-dr list)'
        : '';
      throw new OperationError(`the recovering server stopped${o.signal?.aborted ? ' (interrupted)' : ''} before it was promoted: ${fatal.join('; ') || lastLines(tail.toString(), 5)}${hint}`);
    }
    // Promoted. The server's own view, where the role "postgres" exists (the log lines say the same).
    await askServer(sock, result).catch((err: unknown) => o.log.debug({ err: errorMessage(err) }, 'could not ask the promoted server; its log is used'));
    child.kill('SIGINT');
    const end = await exited;
    if (end.code !== 0) throw new OperationError(`the promoted server did not shut down cleanly (${end.signal ?? `exit ${end.code}`}): ${lastLines(tail.toString(), 5)}`);
    return result;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      await exited;
    }
  }
}

async function askServer(sock: string, result: RecoveryResult): Promise<void> {
  const c = new pg.Client({ host: sock, port: PORT, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 10_000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const r = await c.query<{ ts: Date | null; recovery: boolean }>('select pg_last_xact_replay_timestamp() as ts, pg_is_in_recovery() as recovery');
    if (r.rows[0].recovery) throw new Error('still in recovery');
    if (!result.lastTransaction && r.rows[0].ts) result.lastTransaction = r.rows[0].ts.toISOString();
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** The server's `2026-12-04 18:10:41.959755+00` (log_timezone UTC) as ISO-8601 with microseconds. */
function isoOf(s: string): string {
  const us = parseIsoMicros(s.trim());
  return us === undefined ? s.trim() : formatMicros(us);
}

function lastLines(s: string, n: number): string {
  return s.split('\n').filter(Boolean).slice(-n).join('; ');
}

export interface PrivateServer {
  query<T extends pg.QueryResultRow = any>(db: string, sql: string): Promise<pg.QueryResult<T>>;
  stop(): Promise<void>;
}

/**
 * Starts a (recovered, promoted) data directory privately: no TCP, its socket and a trust-only pg_hba.conf in
 * `socketDir` (0700, the owner's), no archiving. For the drill's check that it starts and answers.
 */
export async function startPrivate(o: { pgdata: string; postgres: string; socketDir: string; owner?: Owner; log: Logger }): Promise<PrivateServer> {
  const hba = join(o.socketDir, 'check_hba.conf');
  await writeFile(hba, 'local all all trust\n', { mode: 0o600 });
  const sock = join(o.socketDir, 'check-sock');
  await mkdir(sock, { mode: 0o700 });
  if (o.owner) for (const f of [hba, sock]) await chown(f, o.owner.uid, o.owner.gid);
  const settings = { data_directory: o.pgdata, hba_file: hba, listen_addresses: '', unix_socket_directories: sock, port: String(PORT), archive_mode: 'off', ssl: 'off', logging_collector: 'off', lc_messages: 'C' };
  const child = spawn(o.postgres, ['-D', o.pgdata, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' },
    ...(o.owner ? { uid: o.owner.uid, gid: o.owner.gid } : {}),
  });
  const tail = new BoundedText(16 * 1024);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const ready = new Promise<boolean>((resolve) => {
    for (const s of [child.stdout!, child.stderr!]) {
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        tail.push(d);
        if (/database system is ready to accept connections/.test(d)) resolve(true);
      });
    }
    void exited.then(() => resolve(false));
  });
  if (!(await ready)) throw new OperationError(`the recovered data directory does not start: ${lastLines(tail.toString(), 5)}`);
  return {
    query: async (db, sql) => {
      const c = new pg.Client({ host: sock, port: PORT, user: 'postgres', database: db, connectionTimeoutMillis: 10_000 });
      c.on('error', () => undefined);
      await c.connect();
      try {
        return await c.query(sql);
      } finally {
        await c.end().catch(() => undefined);
      }
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}
