import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LOCKS_PREFIX, compactTimestamp } from './layout.js';
import { ObjectNotFoundError, type ObjectStore } from '../store/types.js';
import { readObjectText, writeObjectText } from '../store/text.js';
import { OperationError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/**
 * One backup at a time per store, on any object store (no conditional writes needed):
 * each run writes its own claim object, then lists all claims; it withdraws if a live claim is already held or
 * sorts before its own (by key: start time, then a random nonce), looks again after a settle delay, then marks itself held.
 *
 * A claim is live while its lease (short: `backup.lockLeaseSeconds`, 120 s by default) has not expired; the holder's
 * heartbeat renews it every third of the lease. So a claim whose holder was killed (a pod, a node) blocks retries
 * for at most one lease, after which it is taken over; a claim from this host whose process is gone is stale at once.
 * A claim that cannot be read or parsed blocks (fail closed): it might be a live holder's.
 * The holder that cannot renew its lease in time (the store fails, its claim was removed, the process stalled)
 * has lost the lock: `lost` aborts, and the run must stop.
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
  /** Aborts (with an OperationError saying why) when the lock is lost: the run holding it must stop. Never after release(). */
  lost: AbortSignal;
  release(): Promise<void>;
}

export interface AcquireLockOptions {
  purpose: string;
  /** How long a claim stays live without renewal; the heartbeat renews it every third of that. */
  leaseSeconds: number;
  log: Logger;
  now?: () => Date;
  settleMs?: number;
  /** For tests: the heartbeat interval (default: a third of the lease, at least 1 s). */
  heartbeatMs?: number;
}

/** Claim keys this process holds right now. A claim with our pid that is not here was left behind by us. */
const heldHere = new Set<string>();

export async function acquireLock(store: ObjectStore, opts: AcquireLockOptions): Promise<HeldLock> {
  const now = opts.now ?? (() => new Date());
  const leaseMs = opts.leaseSeconds * 1000;
  const started = now();
  const key = `${LOCKS_PREFIX}${compactTimestamp(started)}-${String(started.getTime() % 1000).padStart(3, '0')}-${randomBytes(6).toString('hex')}.json`;
  const claim: LockClaim = {
    owner: `gushen-dr pid ${process.pid} on ${hostname()}`,
    host: hostname(),
    pid: process.pid,
    purpose: opts.purpose,
    startedAt: started.toISOString(),
    leaseExpiresAt: new Date(started.getTime() + leaseMs).toISOString(),
  };
  heldHere.add(key);
  try {
    await writeObjectText(store, key, JSON.stringify(claim));
  } catch (err) {
    heldHere.delete(key);
    throw err;
  }
  const withdraw = async () => {
    heldHere.delete(key);
    await store.delete(key);
  };

  const contest = async (): Promise<void> => {
    let others;
    try {
      others = await liveClaims(store, key, now(), opts.log);
    } catch (err) {
      await withdraw().catch(() => undefined);
      throw err;
    }
    const holder = others.find((o) => o.claim.held) ?? others.find((o) => o.key < key);
    if (holder) {
      await withdraw();
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
  let leaseStart = Date.now();
  claim.leaseExpiresAt = new Date(now().getTime() + leaseMs).toISOString();
  try {
    await writeObjectText(store, key, JSON.stringify(claim));
  } catch (err) {
    await withdraw().catch(() => undefined);
    throw err;
  }

  // The heartbeat. Real elapsed time (not `now`, which tests fix) decides when the lease runs out: the watchdog
  // fires when no renewal succeeded within a lease of the last one's start, e.g. while a renewal hangs.
  const lostCtl = new AbortController();
  let released = false;
  let beatTimer: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  const lose = (why: string) => {
    if (released || lostCtl.signal.aborted) return;
    clearTimeout(beatTimer);
    clearTimeout(watchdog);
    const err = new OperationError(`lost the backup lock ${key} on ${store.description}: ${why}; another run may hold it now, so this one stops`);
    opts.log.error({ lock: key, err: err.message }, 'lost the backup lock');
    lostCtl.abort(err);
  };
  const armWatchdog = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => lose(`its lease of ${opts.leaseSeconds} s ran out before it could be renewed`), Math.max(0, leaseStart + leaseMs - Date.now()));
    watchdog.unref();
  };
  const beat = async () => {
    const attempt = Date.now();
    try {
      const current = await readClaimState(store, key);
      if (current.state === 'missing') throw new Error('its claim was removed from the store (taken over as stale, or deleted by hand)');
      if (current.state === 'unreadable') throw new Error(`its claim cannot be read back (${current.reason})`);
      if (current.claim.pid !== claim.pid || current.claim.host !== claim.host || current.claim.startedAt !== claim.startedAt) {
        throw new Error(`its claim now belongs to ${current.claim.owner}`);
      }
      const renewed = { ...claim, leaseExpiresAt: new Date(now().getTime() + leaseMs).toISOString() };
      await writeObjectText(store, key, JSON.stringify(renewed));
      claim.leaseExpiresAt = renewed.leaseExpiresAt;
    } catch (err) {
      lose(`renewing its lease failed: ${errorMessage(err)}`);
      return;
    }
    if (released || lostCtl.signal.aborted) return;
    leaseStart = attempt;
    armWatchdog();
    schedule();
  };
  const every = opts.heartbeatMs ?? Math.max(1000, leaseMs / 3);
  const schedule = () => {
    beatTimer = setTimeout(() => void beat(), every);
    beatTimer.unref();
  };
  armWatchdog();
  schedule();

  return {
    key,
    claim,
    lost: lostCtl.signal,
    release: async () => {
      if (released) return;
      released = true;
      clearTimeout(beatTimer);
      clearTimeout(watchdog);
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
    const other = await readClaimState(store, o.key);
    if (other.state === 'missing') continue; // released meanwhile
    if (other.state === 'unreadable') {
      // Fail closed: an unreadable claim may be a live holder's (a newer format, a store that failed this read).
      throw new OperationError(
        `the backup lock claim ${o.key} on ${store.description} cannot be read (${other.reason}), so whether another backup holds the lock is unknown; ` +
          `no backup runs until it is removed. If no gushen-dr backup is running, delete it: ${removalHint(store, o.key)}`,
      );
    }
    const stale = staleReason(o.key, other.claim, now);
    if (stale) {
      log.warn({ lock: o.key, holder: other.claim.owner, since: other.claim.startedAt }, `taking over a stale backup lock: ${stale}`);
      await store.delete(o.key);
      continue;
    }
    live.push({ key: o.key, claim: other.claim });
  }
  return live.sort((a, b) => (a.key < b.key ? -1 : 1));
}

type ClaimState = { state: 'ok'; claim: LockClaim } | { state: 'missing' } | { state: 'unreadable'; reason: string };

async function readClaimState(store: ObjectStore, key: string): Promise<ClaimState> {
  let text: string;
  try {
    text = await readObjectText(store, key);
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return { state: 'missing' };
    return { state: 'unreadable', reason: errorMessage(err) };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { state: 'unreadable', reason: `not JSON: ${JSON.stringify(text.slice(0, 40))}${text.length > 40 ? '…' : ''}` };
  }
  const problem = claimProblem(parsed);
  return problem ? { state: 'unreadable', reason: problem } : { state: 'ok', claim: parsed as LockClaim };
}

/** What is wrong with a parsed claim, or undefined when it has every field a decision needs. */
function claimProblem(c: unknown): string | undefined {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) return 'not a JSON object';
  const o = c as Record<string, unknown>;
  for (const f of ['owner', 'host', 'purpose', 'startedAt', 'leaseExpiresAt']) if (typeof o[f] !== 'string') return `no ${f}`;
  if (!Number.isSafeInteger(o.pid) || (o.pid as number) <= 0) return 'no pid';
  if (Number.isNaN(Date.parse(o.leaseExpiresAt as string))) return `leaseExpiresAt ${JSON.stringify(o.leaseExpiresAt)} is not a time`;
  if (o.held !== undefined && typeof o.held !== 'boolean') return 'held is not true or false';
  return undefined;
}

/** How to delete one object of the store by hand, for error messages. */
function removalHint(store: ObjectStore, key: string): string {
  const d = store.description;
  if (d.startsWith('file://')) return `rm '${d.slice('file://'.length).replace(/\/+$/, '')}/${key}'`;
  const m = /^(s3:\/\/\S+?)(?: at (\S+))?$/.exec(d);
  if (m) return `aws s3 rm '${m[1]}${key}'${m[2] ? ` --endpoint-url ${m[2]}` : ''}`;
  return `delete ${key} from ${d}`;
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

/** Current claims, for `list` and diagnostics (`claim` is undefined for one that cannot be read). */
export async function listLocks(store: ObjectStore): Promise<Array<{ key: string; claim?: LockClaim }>> {
  const out = [];
  for (const o of await store.list(LOCKS_PREFIX)) {
    const s = await readClaimState(store, o.key);
    if (s.state !== 'missing') out.push({ key: o.key, claim: s.state === 'ok' ? s.claim : undefined });
  }
  return out;
}
