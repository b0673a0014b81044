import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { generateX25519Identity } from '../../src/crypto/index.js';
import { runBackup } from '../../src/engine/backup.js';
import { listLocks, type LockClaim } from '../../src/repository/lock.js';
import { redisSource } from '../../src/sources/redis/index.js';
import { parseConfig } from '../../src/sources/registry.js';
import { FileStore } from '../../src/store/file.js';
import type { ObjectStore } from '../../src/store/types.js';
import type { BackupContext } from '../../src/sources/source.js';
import { silentLogger } from '../../src/util/log.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';

/** The backup engine and its store lock: a run that loses the lock stops, and a claim's lease is short. */
describe('backup and its lock', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let redis: TestRedis;
  const recipient = generateX25519Identity().recipient;
  const config = (backup = '') =>
    parseConfig(`store: {url: "file:///unused"}\nencryption: {recipients: [${recipient}]}\nsources: {redis: {url: "${redis.url}", method: file}}\n${backup}`);

  beforeAll(async () => {
    dir = await tempDir();
    redis = await startRedis({ save: '', appendonly: false });
    await redis.client().set('k', 'v');
  });
  afterAll(async () => {
    await redis?.stop();
    await dir?.cleanup();
  });

  it('a lease renewal that fails stops the backup: the sources see the abort, and the manifest is not Completed', async () => {
    const inner = new FileStore(join(dir.path, 'a'));
    let failLockWrites = false;
    const store: ObjectStore = Object.assign(Object.create(inner) as ObjectStore, {
      put: (key: string, ...rest: Parameters<ObjectStore['put']> extends [string, ...infer R] ? R : never) =>
        failLockWrites && key.startsWith('locks/') ? Promise.reject(new Error('store unavailable for lock writes (planted)')) : inner.put(key, ...rest),
    });
    let sawAbort = false;
    // The real Redis backup, once the lock is lost (or after 20 s, when it never is).
    const redisAfterLoss = async (ctx: BackupContext) => {
      failLockWrites = true;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20_000);
        ctx.signal.addEventListener('abort', () => {
          sawAbort = true;
          clearTimeout(t);
          resolve();
        });
      });
      return redisSource.backup(ctx);
    };
    // The old name of lockLeaseSeconds: a 3 s lease, renewed every second.
    const m = await runBackup({ config: config('backup: {lockLeaseSeconds: 3}'), store, schedule: 'manual', log: silentLogger, backupFns: { redis: redisAfterLoss } });
    expect(sawAbort).toBe(true);
    expect(m.status).not.toBe('Completed');
    expect(m.failures.map((f) => f.error).join('\n')).toMatch(/lost the backup lock locks\/backup\/.*renewing its lease failed: store unavailable for lock writes \(planted\)/);
  });

  it('the default lease is short (120 s): a killed run blocks the next for minutes, not hours', async () => {
    const store = new FileStore(join(dir.path, 'b'));
    let claims: Array<{ key: string; claim?: LockClaim }> = [];
    const m = await runBackup({
      config: config(),
      store,
      schedule: 'manual',
      log: silentLogger,
      backupFns: {
        redis: async (ctx) => {
          claims = await listLocks(store);
          return redisSource.backup(ctx);
        },
      },
    });
    expect(m.status).toBe('Completed');
    expect(claims).toHaveLength(1);
    const c = claims[0].claim!;
    expect(c.held).toBe(true);
    expect(Date.parse(c.leaseExpiresAt) - Date.now()).toBeLessThanOrEqual(120_000);
    expect(Date.parse(c.leaseExpiresAt) - Date.now()).toBeGreaterThan(60_000);
    expect(await listLocks(store)).toEqual([]);
  });
});
