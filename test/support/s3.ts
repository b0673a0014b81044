import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, killProcess, waitFor } from './ports.js';
import type { StoreConfig } from '../../src/config/schema.js';

export interface TestS3 {
  endpoint: string;
  bucket: string;
  dir: string;
  /** A store config for `s3://<bucket>/<prefix>` on this server. */
  storeConfig(prefix?: string): StoreConfig;
  /** The environment a gushen-dr child process needs to reach it. */
  env: Record<string, string>;
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

/**
 * A throwaway S3-protocol server: s3rver in its own process (so fault tests can kill it),
 * with the legacy OpenSSL provider its paginated listing needs.
 */
export async function startS3(bucket = 'gushen-dr-test'): Promise<TestS3> {
  const dir = await mkdtemp(join(tmpdir(), 'gushen-dr-s3-'));
  const port = await freePort();
  const bin = join(require.resolve('s3rver/package.json'), '..', 'bin', 's3rver.js');
  let proc: ChildProcess | undefined;
  const endpoint = `http://127.0.0.1:${port}`;
  const start = async () => {
    proc = spawn(process.execPath, ['--openssl-legacy-provider', bin, '-d', dir, '-a', '127.0.0.1', '-p', String(port), '--configure-bucket', bucket, '--silent'], {
      stdio: 'ignore',
    });
    const p = proc;
    await waitFor(`s3rver on ${endpoint}`, async () => {
      if (p.exitCode !== null) throw new Error(`s3rver exited with ${p.exitCode}`);
      const res = await fetch(`${endpoint}/${bucket}?list-type=2`);
      return res.ok ? true : undefined;
    });
  };
  const kill = () => killProcess(proc);
  await start();
  return {
    endpoint,
    bucket,
    dir,
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
    storeConfig: (prefix = '') => ({
      url: `s3://${bucket}/${prefix}`,
      s3: {
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        checksums: 'when_required',
        partSizeMiB: 5,
        queueSize: 2,
        maxAttempts: 4,
      },
    }),
    start,
    kill,
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** s3rver accepts any credentials, but the SDK needs some. */
export function useS3rverCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  process.env.AWS_REGION ??= 'us-east-1';
}
