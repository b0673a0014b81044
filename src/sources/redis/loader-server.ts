/**
 * A throwaway local redis-server that loads a staged RDB file, so its keys can be copied elsewhere.
 * It lives in the (0700) directory the RDB was staged in, listens only on a Unix socket there
 * (mode 700; no TCP port at all), never saves (`save ''`, `appendonly no`), and is killed and its
 * directory removed on every path by its owner calling stop().
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { OperationError, UsageError, errorMessage } from '../../util/errors.js';
import { createStageDir } from '../../util/stage-dir.js';
import { parseInfo } from './client.js';

const execFileP = promisify(execFile);

export interface ThrowawayRedis {
  socketPath: string;
  version: string;
  /** A client on the given database (disconnected by stop()). */
  client(db?: number): Redis;
  /** `rdb_last_load_keys_loaded` / `_expired` from INFO persistence (Redis ≥ 7.0; 0 otherwise). */
  loaded: { keys: number; expired: number };
  stop(): Promise<void>;
}

/** `redis-server --version` → "7.0.15". */
export async function redisServerVersion(bin: string): Promise<string> {
  let out: string;
  try {
    out = (await execFileP(bin, ['--version'], { timeout: 15_000 })).stdout;
  } catch (err) {
    throw new UsageError(`cannot run ${bin} --version: ${errorMessage(err)} (install redis-server, or pass its path)`);
  }
  const m = /v=(\d+\.\d+\.\d+)/.exec(out);
  if (!m) throw new UsageError(`${bin} --version printed "${out.trim().slice(0, 80)}": not a redis-server`);
  return m[1];
}

/** Compares dotted versions numerically. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The RDB version a Redis release writes (and the newest it reads); also the version of its DUMP payloads. */
export function rdbVersionOfRedis(version: string): number {
  if (compareVersions(version, '7.4') >= 0) return 12;
  if (compareVersions(version, '7.2') >= 0) return 11;
  if (compareVersions(version, '7.0') >= 0) return 10;
  if (compareVersions(version, '5.0') >= 0) return 9;
  if (compareVersions(version, '4.0') >= 0) return 8;
  if (compareVersions(version, '3.2') >= 0) return 7;
  return 6;
}

export interface StartThrowawayOptions {
  bin: string;
  /** The staged RDB: its (private) directory becomes the server's directory. */
  rdbPath: string;
  /** Databases the server must have (highest db number + 1). */
  databases: number;
  loadTimeoutMs?: number;
  signal?: AbortSignal;
}

export async function startThrowawayRedis(opts: StartThrowawayOptions): Promise<ThrowawayRedis> {
  const version = await redisServerVersion(opts.bin);
  const dir = dirname(opts.rdbPath);
  let sockDir: string | undefined;
  let socketPath = join(dir, 'redis.sock');
  // sun_path holds 107 bytes; a deep scratch directory needs the socket elsewhere (still private).
  if (Buffer.byteLength(socketPath) > 100) {
    sockDir = await createStageDir(tmpdir());
    socketPath = join(sockDir, 'redis.sock');
  }
  const logfile = join(dir, 'redis.log');
  const args = [
    '--port', '0',
    '--unixsocket', socketPath,
    '--unixsocketperm', '700',
    '--dir', dir,
    '--dbfilename', basename(opts.rdbPath),
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--logfile', logfile,
    '--databases', String(Math.max(16, opts.databases)),
    '--maxmemory', '0',
    '--protected-mode', 'no',
  ];
  const proc: ChildProcess = spawn(opts.bin, args, { stdio: 'ignore' });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    proc.once('error', (err) => {
      exited = { code: -1, signal: null };
      spawnError = err;
      resolve();
    });
  });
  let spawnError: Error | undefined;
  const killOnExit = () => {
    if (!exited) proc.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const clients: Redis[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const c of clients) c.disconnect();
    if (!exited) {
      proc.kill('SIGKILL');
      await exitPromise;
    }
    process.removeListener('exit', killOnExit);
    if (sockDir) await rm(sockDir, { recursive: true, force: true });
  };
  const logTail = async () => {
    try {
      const text = await readFile(logfile, 'utf8');
      return text
        .split('\n')
        .filter((l) => /#|\*/.test(l))
        .slice(-5)
        .map((l) => l.replace(/^\d+:[A-Z] [^*#]*[*#] /, ''))
        .join(' | ');
    } catch {
      return '';
    }
  };
  const client = (db = 0) => {
    const c = new Redis({ path: socketPath, db, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };

  const deadline = Date.now() + (opts.loadTimeoutMs ?? 30 * 60_000);
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new OperationError('aborted');
      if (exited) {
        if (spawnError) throw new UsageError(`cannot start ${opts.bin}: ${spawnError.message}`);
        const why = await logTail();
        throw new OperationError(`the throwaway redis-server ${version} could not load the backup (exit ${exited.code ?? exited.signal})${why ? `: ${why}` : ''}`);
      }
      if (Date.now() > deadline) throw new OperationError('the throwaway redis-server did not finish loading the backup in time');
      const c = new Redis({ path: socketPath, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        await c.connect();
        const info = parseInfo(await c.info('persistence'));
        if (info.get('loading') === '0') {
          c.disconnect();
          return {
            socketPath,
            version,
            client: (db?: number) => client(db),
            loaded: { keys: Number(info.get('rdb_last_load_keys_loaded') ?? 0), expired: Number(info.get('rdb_last_load_keys_expired') ?? 0) },
            stop,
          };
        }
      } catch {
        // not up yet, or still loading (LOADING errors)
      }
      c.disconnect();
      await Promise.race([new Promise((r) => setTimeout(r, 100)), exitPromise]);
    }
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Removes a directory, ignoring errors (cleanup paths). */
export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch(() => undefined);
}
