import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { acquireLock, listLocks } from '../../src/repository/lock.js';
import { FileStore } from '../../src/store/file.js';
import { writeObjectText } from '../../src/store/text.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../support/tmp.js';
import { hostname } from 'node:os';

describe('backup lock', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => dir.cleanup());

  it('lets exactly one of many concurrent claimants hold it, and names the holder to the others', async () => {
    const store = new FileStore(`${dir.path}/a`);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => acquireLock(store, { purpose: 'backup (manual)', ttlSeconds: 60, log: silentLogger, settleMs: 300 })));
    const held = results.filter((r) => r.status === 'fulfilled');
    expect(held).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected')) {
      expect(String((r as PromiseRejectedResult).reason.message)).toMatch(/another backup holds the lock on file:.*gushen-dr pid \d+ on .* \(backup \(manual\)\), started/);
    }
    expect(await listLocks(store)).toHaveLength(1);
    await (held[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLock>>>).value.release();
    expect(await listLocks(store)).toHaveLength(0);
  });

  it('takes over a claim whose lease expired, and one whose process on this host is gone', async () => {
    const store = new FileStore(`${dir.path}/b`);
    const past = new Date(Date.now() - 3600_000).toISOString();
    await writeObjectText(store, 'locks/backup/20200101T000000Z-aaaa.json', JSON.stringify({ owner: 'x', host: 'elsewhere', pid: 1, purpose: 'p', startedAt: past, leaseExpiresAt: past }));
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    const future = new Date(Date.now() + 3600_000).toISOString();
    await writeObjectText(store, 'locks/backup/20200101T000001Z-bbbb.json', JSON.stringify({ owner: 'y', host: hostname(), pid: dead.pid, purpose: 'p', startedAt: past, leaseExpiresAt: future }));
    const warnings: string[] = [];
    const log = { ...silentLogger, warn: (_o: unknown, msg: string) => warnings.push(msg) } as unknown as typeof silentLogger;
    const lock = await acquireLock(store, { purpose: 'backup', ttlSeconds: 60, log, settleMs: 10 });
    expect(warnings).toEqual([expect.stringMatching(/lease expired/), expect.stringMatching(/process \d+ on this host is gone/)]);
    await lock.release();
  });

  it('does not take over a live claim from another host', async () => {
    const store = new FileStore(`${dir.path}/c`);
    const future = new Date(Date.now() + 3600_000).toISOString();
    await writeObjectText(store, 'locks/backup/20200101T000000Z-cccc.json', JSON.stringify({ owner: 'gushen-dr pid 7 on node-2', host: 'node-2', pid: 7, purpose: 'backup (nightly)', startedAt: future, leaseExpiresAt: future }));
    await expect(acquireLock(store, { purpose: 'backup', ttlSeconds: 60, log: silentLogger, settleMs: 10 })).rejects.toThrow(/gushen-dr pid 7 on node-2 \(backup \(nightly\)\)/);
    expect((await listLocks(store)).map((l) => l.key)).toEqual(['locks/backup/20200101T000000Z-cccc.json']);
  });
});
