import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { acquireLock, listLocks } from '../../src/repository/lock.js';
import { FileStore } from '../../src/store/file.js';
import { readObjectText, writeObjectText } from '../../src/store/text.js';
import type { ObjectStore } from '../../src/store/types.js';
import { parseConfig } from '../../src/sources/registry.js';
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
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => acquireLock(store, { purpose: 'backup (manual)', leaseSeconds: 60, log: silentLogger, settleMs: 300 })));
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
    const lock = await acquireLock(store, { purpose: 'backup', leaseSeconds: 60, log, settleMs: 10 });
    expect(warnings).toEqual([expect.stringMatching(/lease expired/), expect.stringMatching(/process \d+ on this host is gone/)]);
    await lock.release();
  });

  it('does not take over a live claim from another host', async () => {
    const store = new FileStore(`${dir.path}/c`);
    const future = new Date(Date.now() + 3600_000).toISOString();
    await writeObjectText(store, 'locks/backup/20200101T000000Z-cccc.json', JSON.stringify({ owner: 'gushen-dr pid 7 on node-2', host: 'node-2', pid: 7, purpose: 'backup (nightly)', startedAt: future, leaseExpiresAt: future }));
    await expect(acquireLock(store, { purpose: 'backup', leaseSeconds: 60, log: silentLogger, settleMs: 10 })).rejects.toThrow(/gushen-dr pid 7 on node-2 \(backup \(nightly\)\)/);
    expect((await listLocks(store)).map((l) => l.key)).toEqual(['locks/backup/20200101T000000Z-cccc.json']);
  });

  it('an unreadable or garbled claim blocks (fail closed), naming it and how to remove it', async () => {
    const store = new FileStore(`${dir.path}/d`);
    for (const [name, text] of [
      ['20200101T000000Z-000-garbled.json', '{"owner": "gushen-dr pid 7 on node-2", "ho'],
      ['20200101T000000Z-000-empty.json', '{}'],
    ]) {
      const key = `locks/backup/${name}`;
      await writeObjectText(store, key, text);
      const err = (await acquireLock(store, { purpose: 'backup', leaseSeconds: 60, log: silentLogger, settleMs: 10 }).then(() => undefined, (e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toContain(`${key} on file://${dir.path}/d cannot be read`);
      expect(err.message).toContain(`delete it: rm '${dir.path}/d/${key}'`);
      // Our own claim was withdrawn; the unreadable one is left for a person to judge.
      expect((await listLocks(store)).map((l) => l.key)).toEqual([key]);
      await store.delete(key);
    }
    const lock = await acquireLock(store, { purpose: 'backup', leaseSeconds: 60, log: silentLogger, settleMs: 10 });
    await lock.release();
  });

  it('heartbeat: the held claim is renewed every third of its lease, and is short by default', async () => {
    expect(parseConfig('store: {url: "file:///x"}\nencryption: {recipients: [age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq]}\nsources: {redis: {url: "redis://127.0.0.1"}}').backup.lockLeaseSeconds).toBe(120);
    // The old name is still accepted, as the lease.
    expect(parseConfig('store: {url: "file:///x"}\nencryption: {recipients: [age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq]}\nsources: {redis: {url: "redis://127.0.0.1"}}\nbackup: {lockTtlSeconds: 600}').backup.lockLeaseSeconds).toBe(600);
    const store = new FileStore(`${dir.path}/e`);
    const lock = await acquireLock(store, { purpose: 'backup', leaseSeconds: 3, log: silentLogger, settleMs: 10 });
    try {
      const first = lock.claim.leaseExpiresAt;
      expect(Date.parse(first) - Date.now()).toBeLessThanOrEqual(3000);
      const stored = async () => JSON.parse(await readObjectText(store, lock.key)).leaseExpiresAt as string;
      // Renewed (by the heartbeat, every second here), while the lease never lapses.
      for (let i = 0; i < 100 && (await stored()) === first; i++) await new Promise((r) => setTimeout(r, 100));
      expect(Date.parse(await stored())).toBeGreaterThan(Date.parse(first));
      expect(lock.lost.aborted).toBe(false);
    } finally {
      await lock.release();
    }
  });

  it('a failed lease renewal loses the lock: lock.lost aborts with the reason', async () => {
    const inner = new FileStore(`${dir.path}/f`);
    let failLockWrites = false;
    const store: ObjectStore = Object.assign(Object.create(inner) as ObjectStore, {
      put: (key: string, ...rest: Parameters<ObjectStore['put']> extends [string, ...infer R] ? R : never) =>
        failLockWrites && key.startsWith('locks/') ? Promise.reject(new Error('store unavailable (planted)')) : inner.put(key, ...rest),
    });
    const errors: string[] = [];
    const log = { ...silentLogger, error: (_o: unknown, msg: string) => errors.push(msg) } as unknown as typeof silentLogger;
    const lock = await acquireLock(store, { purpose: 'backup', leaseSeconds: 60, log, settleMs: 10, heartbeatMs: 50 });
    failLockWrites = true;
    await waitForAbort(lock.lost);
    expect(String((lock.lost.reason as Error).message)).toMatch(/lost the backup lock .*: renewing its lease failed: store unavailable \(planted\)/);
    expect(errors).toEqual(['lost the backup lock']);
    await lock.release();
  });

  it('a held claim removed from under the holder (taken over) loses the lock', async () => {
    const store = new FileStore(`${dir.path}/g`);
    const lock = await acquireLock(store, { purpose: 'backup', leaseSeconds: 60, log: silentLogger, settleMs: 10, heartbeatMs: 50 });
    await store.delete(lock.key);
    await waitForAbort(lock.lost);
    expect(String((lock.lost.reason as Error).message)).toMatch(/its claim was removed from the store/);
    await lock.release();
  });

  it('a claim whose holder was killed blocks only until its short lease expires, then is taken over', async () => {
    const store = new FileStore(`${dir.path}/h`);
    // A pod on another node, killed: its claim stays, held, with the default lease.
    const config = parseConfig('store: {url: "file:///x"}\nencryption: {recipients: [age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq]}\nsources: {redis: {url: "redis://127.0.0.1"}}');
    const killedAt = new Date('2026-11-24T02:00:00Z');
    const claim = { owner: 'gushen-dr pid 1 on gushen-dr-nightly-x', host: 'gushen-dr-nightly-x', pid: 1, purpose: 'backup (nightly)', startedAt: killedAt.toISOString(), held: true,
      leaseExpiresAt: new Date(killedAt.getTime() + config.backup.lockLeaseSeconds * 1000).toISOString() };
    await writeObjectText(store, 'locks/backup/20261124T020000Z-000-aaaa.json', JSON.stringify(claim));
    const at = (seconds: number) => () => new Date(killedAt.getTime() + seconds * 1000);
    await expect(acquireLock(store, { purpose: 'backup', leaseSeconds: 120, log: silentLogger, settleMs: 10, now: at(60) })).rejects.toThrow(/another backup holds the lock/);
    // The retry five minutes later (the Job's backoff) gets it.
    const lock = await acquireLock(store, { purpose: 'backup', leaseSeconds: 120, log: silentLogger, settleMs: 10, now: at(300) });
    expect((await listLocks(store)).map((l) => l.key)).toEqual([lock.key]);
    await lock.release();
  });
});

function waitForAbort(signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(() => reject(new Error('the lock was not lost within 20 s')), 20_000);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
