import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationError } from '../../util/errors.js';
import { freeLocalPort } from '../../util/ports.js';
import type { ScratchServer } from '../shared/scratch-server.js';

/** A private redis-server (no persistence) in a temp directory on 127.0.0.1. */
export async function startScratchRedis(bin = 'redis-server'): Promise<ScratchServer> {
  const dir = await mkdtemp(join(tmpdir(), 'gushen-dr-drill-redis-'));
  await chmod(dir, 0o700);
  const port = await freeLocalPort();
  const proc: ChildProcess = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
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
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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
  return { url: `redis://127.0.0.1:${port}`, where: `redis://127.0.0.1:${port} (pid ${proc.pid}, dir ${dir})`, stop };
}
