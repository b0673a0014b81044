import { Redis, type RedisOptions } from 'ioredis';
import { UsageError, OperationError, errorMessage } from '../../util/errors.js';
import { readPasswordFile } from '../../util/password-file.js';
import { redactUrl } from '../../util/redact.js';

/** A parsed `redis://[user[:password]@]host[:port][/db]` (or `rediss://` for TLS). */
export interface RedisEndpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls: boolean;
  /** The URL with its password replaced, for logs and messages. */
  display: string;
}

/**
 * `opts.passwordFile` (sources.redis.passwordFile, drill.redis.passwordFile, --redis-password-file): the password
 * is read from that file (its text as it is, not percent-encoded); a URL with a password of its own is refused then.
 */
export function parseRedisUrl(url: string, what = 'Redis URL', opts: { passwordFile?: string } = {}): RedisEndpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`${what} ${redactUrl(url)}: not a URL (expected redis://[:password@]host:port)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`${what} ${redactUrl(url)}: expected redis:// or rediss://`);
  }
  if (!u.hostname) throw new UsageError(`${what} ${redactUrl(url)}: no host`);
  const port = u.port ? Number(u.port) : 6379;
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) throw new UsageError(`${what} ${redactUrl(url)}: the path must be a database number`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  let password = u.password ? decodeURIComponent(u.password) : undefined;
  if (opts.passwordFile) {
    if (password !== undefined) throw new UsageError(`${what} ${redactUrl(url)} has a password and a password file (${opts.passwordFile}) is given too: keep the password in the file only`);
    password = readPasswordFile(opts.passwordFile, 'Redis password file');
  }
  return {
    host,
    port,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password,
    db: path ? Number(path) : 0,
    tls: u.protocol === 'rediss:',
    display: redactUrl(url),
  };
}

/** sources.redis.timeoutSeconds in milliseconds (default 60 s): connecting and each command, backup and restore. */
export function redisTimeoutMs(cfg: { timeoutSeconds?: number } | undefined): number {
  return (cfg?.timeoutSeconds ?? 60) * 1000;
}

/** ioredis options that fail fast instead of reconnecting forever. */
export function redisOptions(ep: RedisEndpoint, extra: RedisOptions = {}): RedisOptions {
  return {
    host: ep.host,
    port: ep.port,
    username: ep.username,
    password: ep.password,
    db: ep.db,
    tls: ep.tls ? {} : undefined,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 10_000,
    enableReadyCheck: true,
    ...extra,
  };
}

/** Connects (and authenticates) or throws an OperationError naming the redacted URL. */
export async function connectRedis(ep: RedisEndpoint, extra: RedisOptions = {}): Promise<Redis> {
  const client = new Redis(redisOptions(ep, extra));
  let lastError: unknown;
  client.on('error', (err: unknown) => {
    lastError = err;
  });
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    const why = errorMessage(lastError ?? err);
    throw new OperationError(`cannot connect to Redis at ${ep.display}: ${why}`, { cause: err });
  }
  return client;
}

/** `INFO [section]` as a map of its `key:value` lines. */
export function parseInfo(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

/** Per-database `keys` and `expires` from `INFO keyspace`. */
export function parseKeyspace(text: string): Array<{ db: number; keys: number; expires: number }> {
  const out: Array<{ db: number; keys: number; expires: number }> = [];
  for (const m of text.matchAll(/^db(\d+):keys=(\d+),expires=(\d+)/gm)) {
    out.push({ db: Number(m[1]), keys: Number(m[2]), expires: Number(m[3]) });
  }
  return out.sort((a, b) => a.db - b.db);
}
