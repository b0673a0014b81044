/**
 * A GuShen-like Redis dataset (for tests and benchmarks) and a canonical, order-independent view of
 * everything in a server, for comparing a restore with its source.
 *
 * Key mix, after the platform's cache policies (ops guide): K-lines 1 h, backtest results 24 h,
 * sessions 3 h, quotes 1 min; plus watchlists (sets), trade lists, leaderboards (sorted sets),
 * counters (integer strings), event streams with consumer groups and pending entries, a job queue
 * in db 1, binary keys and values in db 2, and a few large values of every collection type.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export const CACHE_TTL_SECONDS = { kline: 3600, backtest: 86_400, session: 10_800, quote: 60 } as const;

export interface FillOptions {
  /** Approximate number of keys to create (the exact count is returned). */
  keys: number;
  seed?: number;
  /** Large values of every collection type (a multi-MB string, a 20k-field hash, ...). Default true. */
  large?: boolean;
  /** Streams with consumer groups, pending entries and acknowledgements. Default true. */
  streams?: boolean;
  /** Extra keys in db 0 that expire this many ms after they are written (to exercise expiry across a backup). */
  shortLived?: { count: number; ttlMs: number };
  /** Commands per pipeline. */
  batch?: number;
}

export interface FillResult {
  /** Keys per database. */
  perDb: Record<number, number>;
  total: number;
  withTtl: number;
}

const SYMBOLS = ['600519.SH', '000001.SZ', '300750.SZ', '601318.SH', '000858.SZ', '002594.SZ', '600036.SH', '601012.SH', '000333.SZ', '600276.SH'];
const INTERVALS = ['1m', '5m', '15m', '1h', '1d'];

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function klineJson(r: () => number, n: number): string {
  const bars: number[][] = [];
  let p = 10 + r() * 1000;
  for (let i = 0; i < n; i++) {
    const o = p;
    p = p * (1 + (r() - 0.5) / 50);
    bars.push([1_700_000_000 + i * 60, +o.toFixed(2), +Math.max(o, p).toFixed(2), +Math.min(o, p).toFixed(2), +p.toFixed(2), Math.floor(r() * 1e6)]);
  }
  return JSON.stringify(bars);
}

/**
 * Fills a server (db 0, 1, 2) with the GuShen-like mix. `client` may be connected to any db: each
 * database gets its own duplicate connection. Returns how many keys went where.
 */
export async function fillRedis(client: Redis, opts: FillOptions): Promise<FillResult> {
  const r = rng(opts.seed ?? 42);
  const batch = opts.batch ?? 2000;
  const conns = new Map<number, Redis>();
  const conn = (db: number) => {
    let c = conns.get(db);
    if (!c) {
      c = client.duplicate({ db });
      conns.set(db, c);
    }
    return c;
  };
  const perDb: Record<number, number> = {};
  let withTtl = 0;
  const pipes = new Map<number, { p: ReturnType<Redis['pipeline']>; n: number }>();
  const flush = async (db: number) => {
    const e = pipes.get(db);
    if (!e || e.n === 0) return;
    pipes.delete(db);
    const res = await e.p.exec();
    for (const [err] of res ?? []) if (err) throw err;
  };
  const cmd = async (db: number, f: (p: ReturnType<Redis['pipeline']>) => void, newKey = true, ttl = false) => {
    let e = pipes.get(db);
    if (!e) {
      e = { p: conn(db).pipeline(), n: 0 };
      pipes.set(db, e);
    }
    f(e.p);
    e.n++;
    if (newKey) perDb[db] = (perDb[db] ?? 0) + 1;
    if (ttl) withTtl++;
    if (e.n >= batch) await flush(db);
  };

  const n = Math.max(opts.keys, 10);
  const large = opts.large ?? true;
  const streams = opts.streams ?? true;
  // Shares of the key budget.
  const special = (large ? 8 : 0) + (streams ? 3 : 0) + 3;
  const budget = Math.max(n - special, 0);
  const q = (share: number) => Math.floor(budget * share);
  const counts = {
    kline: q(0.3),
    quote: q(0.15),
    session: q(0.15),
    backtest: q(0.04),
    watchlist: q(0.08),
    trades: q(0.05),
    rank: q(0.04),
    counter: q(0.09),
    queue: q(0.04),
    binary: q(0.03),
  };
  const used = Object.values(counts).reduce((a, b) => a + b, 0);
  counts.counter += budget - used;

  for (let i = 0; i < counts.kline; i++) {
    const sym = SYMBOLS[i % SYMBOLS.length];
    const key = `kline:${sym}:${INTERVALS[i % INTERVALS.length]}:${i}`;
    const value = klineJson(r, 3 + Math.floor(r() * 6));
    await cmd(0, (p) => p.set(key, value, 'EX', CACHE_TTL_SECONDS.kline), true, true);
  }
  for (let i = 0; i < counts.quote; i++) {
    const key = `quote:${SYMBOLS[i % SYMBOLS.length]}:${i}`;
    const price = (10 + r() * 500).toFixed(2);
    await cmd(0, (p) => p.hset(key, { price, bid: price, ask: (Number(price) + 0.01).toFixed(2), volume: String(Math.floor(r() * 1e7)), ts: String(1_700_000_000_000 + i) }), true, false);
    await cmd(0, (p) => p.expire(key, CACHE_TTL_SECONDS.quote), false, true);
  }
  for (let i = 0; i < counts.session; i++) {
    const key = `session:${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}-${i}`;
    const value = JSON.stringify({ userId: `u${Math.floor(r() * 1e6)}`, roles: ['trader'], csrf: Math.floor(r() * 1e12).toString(36), createdAt: 1_700_000_000 + i });
    await cmd(0, (p) => p.set(key, value, 'EX', CACHE_TTL_SECONDS.session), true, true);
  }
  for (let i = 0; i < counts.backtest; i++) {
    const key = `backtest:result:${i}`;
    const equity = JSON.stringify(Array.from({ length: 20 }, () => +(1 + (r() - 0.4) / 10).toFixed(4)));
    await cmd(0, (p) => p.hset(key, { strategy: `ma-cross-${i % 7}`, sharpe: (r() * 3).toFixed(3), maxDrawdown: (r() / 3).toFixed(3), trades: String(Math.floor(r() * 500)), equity }), true, false);
    await cmd(0, (p) => p.expire(key, CACHE_TTL_SECONDS.backtest), false, true);
  }
  for (let i = 0; i < counts.watchlist; i++) {
    const key = `user:${i}:watchlist`;
    const members = SYMBOLS.filter(() => r() < 0.5);
    if (members.length === 0) members.push(SYMBOLS[0]);
    await cmd(0, (p) => p.sadd(key, ...members));
  }
  for (let i = 0; i < counts.trades; i++) {
    const key = `strategy:${i}:trades`;
    const items = Array.from({ length: 1 + Math.floor(r() * 8) }, (_, j) => JSON.stringify({ t: 1_700_000_000 + j, side: j % 2 ? 'sell' : 'buy', qty: 100 * (1 + j) }));
    await cmd(0, (p) => p.rpush(key, ...items));
  }
  for (let i = 0; i < counts.rank; i++) {
    const key = `rank:strategy:${i}`;
    const args: (string | number)[] = [];
    for (let j = 0; j < 5; j++) args.push(+(r() * 100 - 20).toFixed(3), `s${Math.floor(r() * 10000)}`);
    await cmd(0, (p) => p.zadd(key, ...args));
  }
  for (let i = 0; i < counts.counter; i++) {
    const key = `stats:2026-11-${String(1 + (i % 28)).padStart(2, '0')}:m${i}`;
    await cmd(0, (p) => p.set(key, String(Math.floor(r() * 100000))));
  }
  for (let i = 0; i < counts.queue; i++) {
    const key = `celery:queue:${i}`;
    await cmd(1, (p) => p.lpush(key, JSON.stringify({ id: `job-${i}`, task: 'backtest.run', args: [i] })));
  }
  for (let i = 0; i < counts.binary; i++) {
    const key = Buffer.from([0x00, 0xff, 0xfe, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0x0d, 0x0a, 0x80]);
    const value = Buffer.alloc(16 + (i % 64));
    for (let j = 0; j < value.length; j++) value[j] = Math.floor(r() * 256);
    await cmd(2, (p) => p.set(key, value));
  }
  // A few big keys per collection type (non-compact encodings: hashtable, quicklist, skiplist).
  if (large) {
    await cmd(0, (p) => p.set('blob:static:bundle', Buffer.alloc(3 * 1024 * 1024, 'x')));
    const big = Buffer.alloc(1_500_000);
    for (let j = 0; j < big.length; j += 4) big.writeUInt32LE(Math.floor(r() * 2 ** 32), j);
    await cmd(0, (p) => p.set('blob:model:weights', big));
    for (let j = 0; j < 20_000; j += 1000) {
      const fields: Record<string, string> = {};
      for (let k = j; k < j + 1000; k++) fields[`f${k}`] = `v${k}:${Math.floor(r() * 1e9)}`;
      await cmd(0, (p) => p.hset('symbols:meta', fields), j === 0);
    }
    for (let j = 0; j < 30_000; j += 1000) {
      const items = Array.from({ length: 1000 }, (_, k) => `tick:${j + k}:${(r() * 100).toFixed(2)}`);
      await cmd(0, (p) => p.rpush('ticks:600519.SH', ...items), j === 0);
    }
    for (let j = 0; j < 10_000; j += 1000) {
      const members = Array.from({ length: 1000 }, (_, k) => `member-${j + k}`);
      await cmd(0, (p) => p.sadd('users:active', ...members), j === 0);
    }
    await cmd(0, (p) => p.sadd('ids:int', ...Array.from({ length: 300 }, (_, k) => k * 7)));
    for (let j = 0; j < 5_000; j += 1000) {
      const args: (string | number)[] = [];
      for (let k = j; k < j + 1000; k++) args.push(k % 3 === 0 ? '-inf' : k % 5 === 0 ? 'inf' : +(r() * 1e6 - 5e5).toFixed(6), `strategy-${k}`);
      await cmd(0, (p) => p.zadd('leaderboard:sharpe', ...args), j === 0);
    }
    await cmd(0, (p) => p.rpush('list:big-elements', Buffer.alloc(200_000, 'a'), 'small', Buffer.alloc(100_000, 'b')));
    await cmd(0, (p) => p.hset('hash:big-value', 'payload', Buffer.alloc(300_000, 'h'), 'small', '1'));
  }
  // Unicode key and an empty-string value.
  await cmd(0, (p) => p.set('用户:会话:数量', ''));
  await cmd(3, (p) => p.set('db3:marker', 'present'));
  await cmd(5, (p) => p.hset('db5:config', { theme: 'dark', lang: 'zh-CN' }));
  for (const db of [...pipes.keys()]) await flush(db);

  if (streams) {
    const c = conn(0);
    for (const s of ['events:orders', 'events:fills', 'ws:broadcast']) {
      const p = c.pipeline();
      for (let j = 0; j < 300; j++) p.xadd(s, '*', 'type', j % 2 ? 'fill' : 'order', 'symbol', SYMBOLS[j % SYMBOLS.length], 'qty', String(100 * (1 + (j % 9))));
      await p.exec();
      perDb[0] = (perDb[0] ?? 0) + 1;
      await c.xgroup('CREATE', s, 'risk', '0');
      await c.xgroup('CREATE', s, 'notifier', '$');
      await c.xreadgroup('GROUP', 'risk', 'worker-1', 'COUNT', 40, 'STREAMS', s, '>');
      const got = (await c.xreadgroup('GROUP', 'risk', 'worker-2', 'COUNT', 25, 'STREAMS', s, '>')) as [string, [string, string[]][]][] | null;
      const ids = got?.[0]?.[1].map(([id]) => id) ?? [];
      if (ids.length > 10) await c.xack(s, 'risk', ...ids.slice(0, 10));
    }
    // A stream with a deleted entry and a trimmed head.
    await c.xdel('events:fills', (await c.xrange('events:fills', '-', '+', 'COUNT', 3))[2][0]);
    await c.xtrim('ws:broadcast', 'MAXLEN', 250);
  }
  if (opts.shortLived) {
    const c = conn(0);
    const p = c.pipeline();
    for (let j = 0; j < opts.shortLived.count; j++) p.set(`quote:flash:${j}`, String(j), 'PX', opts.shortLived.ttlMs);
    await p.exec();
    perDb[0] = (perDb[0] ?? 0) + opts.shortLived.count;
    withTtl += opts.shortLived.count;
  }
  for (const c of conns.values()) c.disconnect();
  const total = Object.values(perDb).reduce((a, b) => a + b, 0);
  return { perDb, total, withTtl };
}

export interface CanonicalEntry {
  db: number;
  /** The key's bytes, hex. */
  key: string;
  type: string;
  /** SHA-256 of the canonical serialisation of the value (order-independent where Redis is). */
  digest: string;
  /** Elements (or bytes, for strings). */
  size: number;
  /** Absolute expire time in ms (PEXPIRETIME), -1 without one. */
  expireAt: number;
}

export type CanonicalDump = Map<string, CanonicalEntry>;

function sortBuffers(a: Buffer[]): Buffer[] {
  return a.sort(Buffer.compare);
}

function digestOf(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

const hex = (b: Buffer) => b.toString('hex');

/**
 * Every key in every database as `db:keyhex` → type, value digest and expire time. A hash's fields and a
 * set's members are sorted first; a stream is its entries, metadata, groups, pending entries (without
 * idle times, which change as time passes) and consumers. DUMP payloads are not used: the same value
 * may serialise differently after a reload.
 */
export async function canonicalDump(client: Redis): Promise<CanonicalDump> {
  const out: CanonicalDump = new Map();
  const [, dbsRaw] = (await client.config('GET', 'databases')) as [string, string];
  const info = await client.info('keyspace');
  const present = new Set([...info.matchAll(/^db(\d+):keys=(\d+)/gm)].map((m) => Number(m[1])));
  for (let db = 0; db < Number(dbsRaw); db++) {
    if (!present.has(db)) continue;
    const c = client.duplicate({ db });
    try {
      let cursor = '0';
      do {
        const [next, keys] = await c.scanBuffer(cursor, 'COUNT', 1000);
        cursor = next.toString();
        const meta = c.pipeline();
        for (const k of keys) {
          meta.type(k);
          meta.pexpiretime(k);
        }
        const res = (await meta.exec()) ?? [];
        const values = c.pipeline();
        const simple: number[] = [];
        for (let i = 0; i < keys.length; i++) {
          const type = res[2 * i][1] as string;
          const k = keys[i];
          if (type === 'string') values.getBuffer(k);
          else if (type === 'hash') values.callBuffer('HGETALL', k);
          else if (type === 'list') values.lrangeBuffer(k, 0, -1);
          else if (type === 'set') values.smembersBuffer(k);
          else if (type === 'zset') values.callBuffer('ZRANGE', k, '0', '-1', 'WITHSCORES');
          else continue;
          simple.push(i);
        }
        const vres = simple.length ? ((await values.exec()) ?? []) : [];
        const byIndex = new Map(simple.map((i, j) => [i, vres[j]]));
        for (let i = 0; i < keys.length; i++) {
          const type = res[2 * i][1] as string;
          const expireAt = res[2 * i + 1][1] as number;
          if (type === 'none') continue;
          const r = byIndex.get(i);
          if (r?.[0]) throw r[0];
          const { digest, size } = r ? canonicalSimple(type, r[1]) : await canonicalValue(c, keys[i], type);
          if (r && r[1] === null) continue; // expired between the two round trips
          out.set(`${db}:${hex(keys[i])}`, { db, key: hex(keys[i]), type, digest, size, expireAt });
        }
      } while (cursor !== '0');
    } finally {
      c.disconnect();
    }
  }
  return out;
}

function canonicalSimple(type: string, v: unknown): { digest: string; size: number } {
  switch (type) {
    case 'string': {
      const b = (v as Buffer | null) ?? Buffer.alloc(0);
      return { digest: createHash('sha256').update(b).digest('hex'), size: b.length };
    }
    case 'hash': {
      const flat = v as Buffer[];
      const pairs: [Buffer, Buffer][] = [];
      for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
      pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
      return { digest: digestOf(pairs.map(([f, x]) => [hex(f), hex(x)])), size: pairs.length };
    }
    case 'list': {
      const items = v as Buffer[];
      return { digest: digestOf(items.map(hex)), size: items.length };
    }
    case 'set': {
      const members = sortBuffers(v as Buffer[]);
      return { digest: digestOf(members.map(hex)), size: members.length };
    }
    case 'zset': {
      const flat = v as Buffer[];
      return { digest: digestOf(flat.map(hex)), size: flat.length / 2 };
    }
    default:
      throw new Error(`canonicalDump: unexpected type ${type}`);
  }
}

async function canonicalValue(c: Redis, key: Buffer, type: string): Promise<{ digest: string; size: number }> {
  switch (type) {
    case 'string': {
      const v = (await c.getBuffer(key)) ?? Buffer.alloc(0);
      return { digest: createHash('sha256').update(v).digest('hex'), size: v.length };
    }
    case 'hash': {
      const flat = (await c.callBuffer('HGETALL', key)) as Buffer[];
      const pairs: [Buffer, Buffer][] = [];
      for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
      pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
      return { digest: digestOf(pairs.map(([f, v]) => [hex(f), hex(v)])), size: pairs.length };
    }
    case 'list': {
      const items = await c.lrangeBuffer(key, 0, -1);
      return { digest: digestOf(items.map(hex)), size: items.length };
    }
    case 'set': {
      const members = sortBuffers(await c.smembersBuffer(key));
      return { digest: digestOf(members.map(hex)), size: members.length };
    }
    case 'zset': {
      const flat = (await c.callBuffer('ZRANGE', key, '0', '-1', 'WITHSCORES')) as Buffer[];
      return { digest: digestOf(flat.map(hex)), size: flat.length / 2 };
    }
    case 'stream': {
      const entries = (await c.callBuffer('XRANGE', key, '-', '+')) as [Buffer, Buffer[]][];
      const infoFlat = (await c.call('XINFO', 'STREAM', key)) as unknown[];
      const info = pairsToRecord(infoFlat);
      const groupsRaw = (await c.call('XINFO', 'GROUPS', key)) as unknown[][];
      const groups = [];
      for (const g of groupsRaw) {
        const gr = pairsToRecord(g);
        const name = String(gr.name);
        const pending = (await c.call('XPENDING', key, name, '-', '+', '1000000')) as [string, string, number, number][];
        const consumers = ((await c.call('XINFO', 'CONSUMERS', key, name)) as unknown[][]).map((x) => {
          const cr = pairsToRecord(x);
          return { name: cr.name, pending: cr.pending };
        });
        consumers.sort((a, b) => String(a.name).localeCompare(String(b.name)));
        groups.push({
          name,
          consumers,
          pending: gr.pending,
          lastDelivered: gr['last-delivered-id'],
          entriesRead: gr['entries-read'],
          lag: gr.lag,
          pel: pending.map(([id, consumer, , deliveries]) => [id, consumer, deliveries]),
        });
      }
      groups.sort((a, b) => a.name.localeCompare(b.name));
      const meta = {
        length: info.length,
        lastId: info['last-generated-id'],
        maxDeleted: info['max-deleted-entry-id'],
        entriesAdded: info['entries-added'],
        firstId: info['recorded-first-entry-id'],
      };
      return {
        digest: digestOf({ entries: entries.map(([id, fields]) => [hex(id), fields.map(hex)]), meta, groups }),
        size: entries.length,
      };
    }
    default:
      throw new Error(`canonicalDump: unsupported type ${type}`);
  }
}

function pairsToRecord(flat: unknown[]): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) r[String(flat[i])] = flat[i + 1];
  return r;
}

/**
 * Differences between two canonical dumps: missing, extra, different type/value, and expire times
 * further apart than `ttlToleranceMs`. Keys listed in `ignoreExpiredBefore` semantics: keys of `a`
 * whose expire time is before that instant may legitimately be absent from `b`.
 */
export function diffCanonical(a: CanonicalDump, b: CanonicalDump, opts: { ttlToleranceMs?: number; expiredBefore?: number } = {}): string[] {
  const tol = opts.ttlToleranceMs ?? 3000;
  const diffs: string[] = [];
  for (const [k, x] of a) {
    const y = b.get(k);
    if (!y) {
      if (opts.expiredBefore !== undefined && x.expireAt !== -1 && x.expireAt < opts.expiredBefore) continue;
      diffs.push(`missing ${k} (${x.type})`);
      continue;
    }
    if (x.type !== y.type) diffs.push(`${k}: type ${x.type} → ${y.type}`);
    else if (x.digest !== y.digest || x.size !== y.size) diffs.push(`${k}: ${x.type} value differs (size ${x.size} → ${y.size})`);
    if ((x.expireAt === -1) !== (y.expireAt === -1) || Math.abs(x.expireAt - y.expireAt) > tol) {
      diffs.push(`${k}: expire time ${x.expireAt} → ${y.expireAt}`);
    }
  }
  for (const k of b.keys()) if (!a.has(k)) diffs.push(`extra ${k}`);
  return diffs;
}
