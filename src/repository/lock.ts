import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LOCKS_PREFIX, compactTimestamp } from './layout.js';
import type { ObjectStore } from '../store/types.js';
import { readObjectText, writeObjectText } from '../store/text.js';
import { OperationError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/**
 * One backup at a time per store, on any object store (no conditional writes needed):
 * each run writes its own claim object, then lists all claims; it withdraws if a live claim is already held or
 * sorts before its own (by key: start time, then a random nonce), looks again after a settle delay, then marks itself held. A claim is live while its lease has not expired; the holder renews it.
 * A claim from this host whose process is gone is stale at once (crash, kill -9).
 */
export interface LockClaim {
  owner: string;
  host: string;
  pid: number;
  purpose: string;
  startedAt: string;
  leaseExpiresAt: string;
  /** Set once the claimant won: later claimants withdraw before any held claim, whatever its key. */
  held?: boolean;
}

export interface HeldLock {
  key: string;
  claim: LockClaim;
  release(): Promise<void>;
}

/** Claim keys this process holds right now. A claim with our pid that is not here was left behind by us. */
const heldHere = new Set<string>();

export async function acquireLock(
  store: ObjectStore,
  opts: { purpose: string; ttlSeconds: number; log: Logger; now?: () => Date; settleMs?: number },
): Promise<HeldLock> {
  const now = opts.now ?? (() => new Date());
  const started = now();
  const key = `${LOCKS_PREFIX}${compactTimestamp(started)}-${String(started.getTime() % 1000).padStart(3, '0')}-${randomBytes(6).toString('hex')}.json`;
  const claim: LockClaim = {
    owner: `gushen-dr pid ${process.pid} on ${hostname()}`,
    host: hostname(),
    pid: process.pid,
    purpose: opts.purpose,
    startedAt: started.toISOString(),
    leaseExpiresAt: new Date(started.getTime() + opts.ttlSeconds * 1000).toISOString(),
  };
  heldHere.add(key);
  try {
    await writeObjectText(store, key, JSON.stringify(claim));
  } catch (err) {
    heldHere.delete(key);
    throw err;
  }

  const contest = async (): Promise<void> => {
    const others = await liveClaims(store, key, now(), opts.log);
    const holder = others.find((o) => o.claim.held) ?? others.find((o) => o.key < key);
    if (holder) {
      heldHere.delete(key);
      await store.delete(key);
      throw new OperationError(
        `another backup holds the lock on ${store.description}: ${holder.claim.owner} (${holder.claim.purpose}), started ${holder.claim.startedAt}, lease until ${holder.claim.leaseExpiresAt}`,
      );
    }
  };
  // Two rounds: a claimant that wrote just after our first look (or with a skewed clock) is seen in the second.
  await contest();
  await new Promise((r) => setTimeout(r, opts.settleMs ?? 1000));
  await contest();
  claim.held = true;
  await writeObjectText(store, key, JSON.stringify(claim));

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
      // Even when the delete fails (store unreachable), this process no longer holds the claim: a later run
      // in the same process (the schedule daemon) takes it over like a dead process's claim.
      heldHere.delete(key);
      await store.delete(key);
    },
  };
}

async function liveClaims(store: ObjectStore, own: string, now: Date, log: Logger): Promise<Array<{ key: string; claim: LockClaim }>> {
  const live: Array<{ key: string; claim: LockClaim }> = [];
  for (const o of await store.list(LOCKS_PREFIX)) {
    if (o.key === own) continue;
    const other = await readClaim(store, o.key);
    if (!other) continue;
    const stale = staleReason(o.key, other, now);
    if (stale) {
      log.warn({ lock: o.key, holder: other.owner, since: other.startedAt }, `taking over a stale backup lock: ${stale}`);
      await store.delete(o.key);
      continue;
    }
    live.push({ key: o.key, claim: other });
  }
  return live.sort((a, b) => (a.key < b.key ? -1 : 1));
}

async function readClaim(store: ObjectStore, key: string): Promise<LockClaim | undefined> {
  try {
    return JSON.parse(await readObjectText(store, key)) as LockClaim;
  } catch {
    return undefined; // vanished meanwhile or unreadable: not a live claim
  }
}

function staleReason(key: string, c: LockClaim, now: Date): string | undefined {
  if (new Date(c.leaseExpiresAt).getTime() <= now.getTime()) return `its lease expired at ${c.leaseExpiresAt}`;
  if (c.host === hostname() && c.pid !== process.pid && !processAlive(c.pid)) return `process ${c.pid} on this host is gone`;
  if (c.host === hostname() && c.pid === process.pid && !heldHere.has(key)) return 'this process left it behind (releasing it failed)';
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
