import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationError } from '../../util/errors.js';
import { freeLocalPort } from '../../util/ports.js';
import type { ScratchServer } from '../shared/scratch-server.js';

/** A value for redis.conf, double-quoted (sdssplitargs rules). */
function confValue(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A private redis-server (no persistence) in a temp directory (0700) on 127.0.0.1, with a random `requirepass`:
 * other local users can reach the port but not the restored data. The configuration, password included, goes
 * to the server on its stdin (`redis-server -`), never on its command line (/proc/<pid>/cmdline is world-readable).
 * The password is also written to `<dir>/password` (0600) for an operator who keeps the server (--keep); `where`
 * names that file, never the password. `url` carries it: never log it.
 */
export async function startScratchRedis(bin = 'redis-server'): Promise<ScratchServer> {
  const dir = await mkdtemp(join(tmpdir(), 'gushen-dr-drill-redis-'));
  await chmod(dir, 0o700);
  const password = randomBytes(24).toString('hex');
  const passwordFile = join(dir, 'password');
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600, flag: 'wx' });
  const port = await freeLocalPort();
  const conf = [
    `port ${port}`,
    'bind 127.0.0.1',
    'protected-mode yes',
    `dir ${confValue(dir)}`,
    'save ""',
    'appendonly no',
    `requirepass ${password}`,
  ].join('\n');
  const proc: ChildProcess = spawn(bin, ['-'], { stdio: ['pipe', 'ignore', 'ignore'] });
  proc.stdin?.on('error', () => undefined);
  proc.stdin?.end(`${conf}\n`);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  proc.once('error', () => undefined);
  const { Redis } = await import('ioredis');
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new OperationError(`could not start a throwaway ${bin} on port ${port}`);
    }
    const c = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      break;
    } catch {
      c.disconnect();
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url: `redis://:${password}@127.0.0.1:${port}`,
    where: `redis://127.0.0.1:${port} (password in ${passwordFile}, mode 0600: redis-cli -p ${port} --askpass; pid ${proc.pid}, dir ${dir})`,
    stop,
  };
}
