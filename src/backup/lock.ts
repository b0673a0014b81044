import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LOCKS_PREFIX, compactTimestamp } from '../format/layout.js';
import type { ObjectStore } from '../store/types.js';
import { readObjectText, writeObjectText } from '../store/text.js';
import { OperationError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/**
 * One backup at a time per store, on any object store (no conditional writes needed):
 * each run writes its own claim object, then lists all claims; the oldest live claim (by key) holds the lock,
 * the others withdraw. A claim is live while its lease has not expired; the holder renews it.
 * A claim from this host whose process is gone is stale at once (crash, kill -9).
 */
export interface LockClaim {
  owner: string;
  host: string;
  pid: number;
  purpose: string;
  startedAt: string;
  leaseExpiresAt: string;
}

export interface HeldLock {
  key: string;
  claim: LockClaim;
  release(): Promise<void>;
}

export async function acquireLock(
  store: ObjectStore,
  opts: { purpose: string; ttlSeconds: number; log: Logger; now?: () => Date },
): Promise<HeldLock> {
  const now = opts.now ?? (() => new Date());
  const started = now();
  const key = `${LOCKS_PREFIX}${compactTimestamp(started)}-${randomBytes(6).toString('hex')}.json`;
  const claim: LockClaim = {
    owner: `gushen-dr pid ${process.pid} on ${hostname()}`,
    host: hostname(),
    pid: process.pid,
    purpose: opts.purpose,
    startedAt: started.toISOString(),
    leaseExpiresAt: new Date(started.getTime() + opts.ttlSeconds * 1000).toISOString(),
  };
  await writeObjectText(store, key, JSON.stringify(claim));

  const live: Array<{ key: string; claim: LockClaim }> = [];
  for (const o of await store.list(LOCKS_PREFIX)) {
    if (o.key === key) {
      live.push({ key, claim });
      continue;
    }
    const other = await readClaim(store, o.key);
    if (!other) continue;
    const stale = staleReason(other, now());
    if (stale) {
      opts.log.warn({ lock: o.key, holder: other.owner, since: other.startedAt }, `taking over a stale backup lock: ${stale}`);
      await store.delete(o.key);
      continue;
    }
    live.push({ key: o.key, claim: other });
  }
  live.sort((a, b) => (a.key < b.key ? -1 : 1));
  const holder = live[0];
  if (holder.key !== key) {
    await store.delete(key);
    throw new OperationError(
      `another backup holds the lock on ${store.description}: ${holder.claim.owner} (${holder.claim.purpose}), started ${holder.claim.startedAt}, lease until ${holder.claim.leaseExpiresAt}`,
    );
  }

  const renewEvery = Math.max(1000, (opts.ttlSeconds * 1000) / 3);
  const timer = setInterval(() => {
    claim.leaseExpiresAt = new Date(now().getTime() + opts.ttlSeconds * 1000).toISOString();
    writeObjectText(store, key, JSON.stringify(claim)).catch((err: unknown) =>
      opts.log.warn({ err: (err as Error).message }, 'could not renew the backup lock lease'),
    );
  }, renewEvery);
  timer.unref();
  let released = false;
  return {
    key,
    claim,
    release: async () => {
      if (released) return;
      released = true;
      clearInterval(timer);
      await store.delete(key);
    },
  };
}

async function readClaim(store: ObjectStore, key: string): Promise<LockClaim | undefined> {
  try {
    return JSON.parse(await readObjectText(store, key)) as LockClaim;
  } catch {
    return undefined; // vanished meanwhile or unreadable: not a live claim
  }
}

function staleReason(c: LockClaim, now: Date): string | undefined {
  if (new Date(c.leaseExpiresAt).getTime() <= now.getTime()) return `its lease expired at ${c.leaseExpiresAt}`;
  if (c.host === hostname() && c.pid !== process.pid && !processAlive(c.pid)) return `process ${c.pid} on this host is gone`;
  return undefined;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Current claims, for `list` and diagnostics. */
export async function listLocks(store: ObjectStore): Promise<Array<{ key: string; claim?: LockClaim }>> {
  const out = [];
  for (const o of await store.list(LOCKS_PREFIX)) out.push({ key: o.key, claim: await readClaim(store, o.key) });
  return out;
}
