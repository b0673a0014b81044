import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, killProcess, waitFor } from './ports.js';

export interface TestRedis {
  port: number;
  /** redis://[:password@]127.0.0.1:port */
  url: string;
  dir: string;
  password?: string;
  client(db?: number): Redis;
  stop(): Promise<void>;
  /** SIGKILL the server (fault tests); start() brings it back with the same dir and port. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface RedisOptions {
  password?: string;
  appendonly?: boolean;
  /** `save` setting; production-like RDB snapshots by default. */
  save?: string;
  replicaOf?: TestRedis;
  dir?: string;
  extraArgs?: string[];
}

/**
 * A throwaway redis-server process (7.x). Production runs appendonly yes + RDB, so that is the default.
 * Always a local process: Redis tests read the server's data directory.
 */
export async function startRedis(opts: RedisOptions = {}): Promise<TestRedis> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'gushen-dr-redis-')));
  const port = await freePort();
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', opts.save ?? '3600 1',
    '--appendonly', opts.appendonly === false ? 'no' : 'yes',
    '--daemonize', 'no',
    '--logfile', join(dir, 'redis.log'),
  ];
  if (opts.password) args.push('--requirepass', opts.password, '--masterauth', opts.password);
  if (opts.replicaOf) args.push('--replicaof', '127.0.0.1', String(opts.replicaOf.port));
  if (opts.replicaOf?.password) args.push('--masterauth', opts.replicaOf.password);
  args.push(...(opts.extraArgs ?? []));
  let proc: ChildProcess | undefined;
  const clients: Redis[] = [];
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : '';
  const url = `redis://${auth}127.0.0.1:${port}`;
  const start = async () => {
    proc = spawn('redis-server', args, { stdio: 'ignore' });
    const p = proc;
    await waitFor(`redis-server on port ${port}`, async () => {
      if (p.exitCode !== null) throw new Error(`redis-server exited with ${p.exitCode}`);
      const c = new Redis({ port, host: '127.0.0.1', password: opts.password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        await c.connect();
        const info = await c.info('persistence');
        return /loading:0/.test(info) ? true : undefined;
      } finally {
        c.disconnect();
      }
    });
  };
  const kill = () => killProcess(proc);
  await start();
  return {
    port,
    url,
    dir,
    password: opts.password,
    client: (db = 0) => {
      const c = new Redis({ port, host: '127.0.0.1', password: opts.password, db });
      clients.push(c);
      return c;
    },
    start,
    kill,
    stop: async () => {
      for (const c of clients) c.disconnect();
      await kill();
      // A BGSAVE child outlives a killed server for a moment and may still write its temp file: retry.
      if (!opts.dir) await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    },
  };
}
