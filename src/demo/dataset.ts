/**
 * The one GuShen-like dataset generator: the tests (test/support/pg-dataset.ts, test/support/redis-dataset.ts), the
 * benchmarks (bench/dataset.ts) and `npm run quickstart` (scripts/quickstart.mjs, from dist/) all seed from here.
 * Sized by a parameter: `rows` / `pgMiB` for PostgreSQL, `keys` / `redisKeys` for Redis.
 *
 * - PostgreSQL (createPlatformDataset): the platform's schemas: auth.users (Chinese display names), strategy.strategies
 *   and strategy.backtests (jsonb results), trading.orders and their fills, market.instruments, market.bars (K-lines),
 *   market.ticks partitioned by time, audit.events; with jsonb, bytea, arrays, numeric, ranges, views, functions,
 *   triggers and indexes. The values are generated on the server.
 * - Redis (fillRedis): the ops guide's cache patterns with their TTLs (CACHE_TTL_SECONDS): K-lines 1 h, backtest
 *   results 24 h, sessions 3 h, quotes 1 min; plus watchlists, trade lists, leaderboards, counters, event streams
 *   with consumer groups, a job queue in db 1 and binary keys in db 2.
 *
 * It imports only pg, ioredis and a generic helper of src/util: it is a fixture, not part of gushen-dr.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { seededRandom } from '../util/seeded-random.js';

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL
export interface PlatformDatasetOptions {
  /** Rows of the largest table (trading.orders); the other tables scale with it. */
  rows: number;
  /** Seed for the generated values (setseed), so two runs give the same data. Default 0.42. */
  seed?: number;
}

export interface PlatformDatasetInfo {
  tables: Array<{ schema: string; name: string; rows: number }>;
  databaseSizeBytes: number;
}

/**
 * About how many bytes of database one `rows` unit costs (measured on PostgreSQL 15 with this generator:
 * tables, TOAST and indexes together); used to size benchmark datasets.
 */
export const BYTES_PER_ROW = 560;

/** The `rows` that gives a database of about `mib` MiB. */
export function rowsForMiB(mib: number): number {
  return Math.max(1000, Math.round((mib * 1024 * 1024) / BYTES_PER_ROW));
}

/**
 * Creates a dataset shaped like the GuShen platform's in an existing (empty) database: several schemas,
 * jsonb, bytea, arrays, numeric, timestamptz, ranges, sequences (explicit, serial, identity), views,
 * a materialized view, SQL and PL/pgSQL functions, triggers, indexes, a foreign key, a partitioned table,
 * and text with quotes, tabs, newlines, backslashes and non-ASCII. The values are generated on the server.
 */
export async function createPlatformDataset(url: string, opts: PlatformDatasetOptions): Promise<PlatformDatasetInfo> {
  const n = Math.max(100, Math.floor(opts.rows));
  const users = Math.max(10, Math.floor(n / 100));
  const strategies = Math.max(5, Math.floor(n / 1000));
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`select setseed(${opts.seed ?? 0.42})`);
    for (const stmt of schemaSql()) await client.query(stmt);
    await client.query('begin');
    await client.query(`select setseed(${opts.seed ?? 0.42})`);
    await client.query(
      `insert into auth.users (email, display_name, created_at, settings, avatar, roles)
       select 'user' || i || '@gushen.example',
              case i % 4 when 0 then '张伟 ' || i when 1 then 'O''Brien "Bob" ' || i when 2 then E'tab\\there\\nnew line ' || i else E'back\\\\slash ' || i end,
              timestamptz '2024-01-01 00:00:00+08' + (i || ' minutes')::interval,
              jsonb_build_object('theme', case when i % 2 = 0 then 'dark' else 'light' end, 'lang', 'zh-CN', 'alerts', jsonb_build_array(i % 7, i % 11), 'risk', round((random() * 5)::numeric, 2)),
              case when i % 5 = 0 then null else decode(md5(i::text) || md5((i * 7)::text), 'hex') end,
              case i % 3 when 0 then array['trader'] when 1 then array['trader', 'admin'] else array[]::text[] end
         from generate_series(1, $1) i`,
      [users],
    );
    await client.query(
      `insert into market.instruments (symbol, name, exchange, lot_size, tick_size, listed_at)
       select lpad(i::text, 6, '0') || case when i % 2 = 0 then '.SH' else '.SZ' end,
              '股票 ' || i, case when i % 2 = 0 then 'SSE' else 'SZSE' end, 100, 0.01, date '2000-01-01' + i
         from generate_series(1, 200) i`,
    );
    await client.query(
      `insert into trading.orders (user_id, symbol, side, qty, price, status, placed_at, meta, tags)
       select 1 + (i % $2),
              lpad((1 + i % 200)::text, 6, '0') || case when (1 + i % 200) % 2 = 0 then '.SH' else '.SZ' end,
              case when random() < 0.5 then 'B' else 'S' end,
              (100 * (1 + floor(random() * 50)))::numeric(18, 4),
              round((5 + random() * 195)::numeric, 6),
              (array['new', 'filled', 'cancelled', 'partial'])[1 + floor(random() * 4)::int],
              timestamptz '2025-01-02 09:30:00+08' + (i * 37 || ' milliseconds')::interval,
              jsonb_build_object('client', 'web', 'strategy', 1 + i % $3, 'note', md5(random()::text), 'slippage', round((random() / 100)::numeric, 6)),
              case when i % 10 = 0 then array['algo', 'twap'] when i % 10 = 1 then null else array['manual'] end
         from generate_series(1, $1) i`,
      [n, users, strategies],
    );
    await client.query(
      `insert into trading.fills (order_id, qty, price, filled_at)
       select o.id, o.qty, o.price + round(((random() - 0.5) / 100)::numeric, 6), o.placed_at + interval '150 milliseconds'
         from trading.orders o where o.status in ('filled', 'partial')`,
    );
    await client.query(
      `insert into market.bars (instrument, ts, open, high, low, close, volume)
       select lpad((1 + i % 200)::text, 6, '0') || case when (1 + i % 200) % 2 = 0 then '.SH' else '.SZ' end,
              timestamptz '2020-01-01 09:30:00+08' + ((i / 200) || ' minutes')::interval,
              p, p * 1.01, p * 0.99, round(p * (0.995 + random() / 100)::numeric, 6), floor(random() * 1e6)::bigint
         from (select i, round((10 + random() * 90)::numeric, 6) p from generate_series(0, $1 - 1) i) s`,
      [Math.floor(n / 2)],
    );
    await client.query(
      `insert into market.ticks (symbol, ts, price, size)
       select lpad((1 + i % 200)::text, 6, '0') || '.SH',
              timestamptz '2025-06-30 23:58:00+08' + (i * 13 || ' milliseconds')::interval,
              round((10 + random() * 90)::numeric, 4), 1 + floor(random() * 1000)::int
         from generate_series(1, $1) i`,
      [Math.floor(n / 4)],
    );
    await client.query(
      `insert into strategy.strategies (user_id, name, code, params, compiled, created_at)
       select 1 + i % $2, 'strategy #' || i,
              E'def on_bar(self, bar):\\n    if bar.close > self.ma(' || (5 + i % 20) || E'):\\n        self.buy(bar.symbol, 100)\\n',
              jsonb_build_object('window', 5 + i % 20, 'stop', 0.05, 'symbols', jsonb_build_array('600000.SH', '000001.SZ')),
              decode(repeat(md5(i::text), 8), 'hex'),
              timestamptz '2024-06-01 12:00:00+00' + (i || ' hours')::interval
         from generate_series(1, $1) i`,
      [strategies, users],
    );
    await client.query(
      `insert into strategy.backtests (strategy_id, period, result, equity_curve)
       select s.id, tstzrange(timestamptz '2023-01-01+08', timestamptz '2024-01-01+08'),
              jsonb_build_object('sharpe', round((random() * 3)::numeric, 3), 'max_drawdown', round((random() / 3)::numeric, 4), 'trades', floor(random() * 500)),
              array(select round((1 + random() / 10)::numeric, 4)::float8 from generate_series(1, 20))
         from strategy.strategies s, generate_series(1, 3)`,
    );
    await client.query('commit');
    // Triggers after the bulk load, as a live database has them.
    for (const stmt of triggerSql()) await client.query(stmt);
    await client.query('refresh materialized view market.daily_volume');
    await client.query('analyze');
    const tables = (
      await client.query<{ schema: string; name: string }>(
        `select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p') and n.nspname in ('auth', 'market', 'trading', 'strategy', 'audit') order by 1, 2`,
      )
    ).rows;
    const out: PlatformDatasetInfo['tables'] = [];
    for (const t of tables) {
      const r = await client.query<{ n: string }>(`select count(*) as n from "${t.schema}"."${t.name}"`);
      out.push({ ...t, rows: Number(r.rows[0].n) });
    }
    const size = await client.query<{ s: string }>('select pg_database_size(current_database()) as s');
    return { tables: out, databaseSizeBytes: Number(size.rows[0].s) };
  } finally {
    await client.end();
  }
}

function schemaSql(): string[] {
  return [
    'create schema auth',
    'create schema market',
    'create schema trading',
    'create schema strategy',
    'create schema audit',
    `create table auth.users (
       id bigint generated always as identity primary key,
       email text not null unique,
       display_name text,
       created_at timestamptz not null default now(),
       settings jsonb not null default '{}',
       avatar bytea,
       roles text[] not null default '{}'
     )`,
    `create table market.instruments (
       symbol text primary key,
       name text not null,
       exchange text not null check (exchange in ('SSE', 'SZSE')),
       lot_size numeric(12, 4) not null,
       tick_size numeric(12, 6) not null,
       listed_at date
     )`,
    `create table market.bars (
       instrument text not null references market.instruments (symbol),
       ts timestamptz not null,
       open numeric(18, 6), high numeric(18, 6), low numeric(18, 6), close numeric(18, 6),
       volume bigint,
       primary key (instrument, ts)
     )`,
    `create table market.ticks (
       symbol text not null,
       ts timestamptz not null,
       price numeric(18, 4) not null,
       size int not null
     ) partition by range (ts)`,
    `create table market.ticks_2025h1 partition of market.ticks for values from ('2025-01-01+08') to ('2025-07-01+08')`,
    `create table market.ticks_2025h2 partition of market.ticks for values from ('2025-07-01+08') to ('2026-01-01+08')`,
    'create sequence trading.order_seq start 1000 increment 1',
    `create table trading.orders (
       id bigint primary key default nextval('trading.order_seq'),
       user_id bigint not null references auth.users (id),
       symbol text not null,
       side char(1) not null check (side in ('B', 'S')),
       qty numeric(18, 4) not null,
       price numeric(18, 6) not null,
       status text not null,
       placed_at timestamptz not null,
       meta jsonb,
       tags text[],
       updated_at timestamptz
     )`,
    'alter sequence trading.order_seq owned by trading.orders.id',
    'create index orders_user_placed on trading.orders (user_id, placed_at)',
    `create table trading.fills (
       id bigserial primary key,
       order_id bigint not null references trading.orders (id) on delete cascade,
       qty numeric(18, 4) not null,
       price numeric(18, 6) not null,
       filled_at timestamptz not null
     )`,
    'create index fills_order on trading.fills (order_id)',
    `create table strategy.strategies (
       id serial primary key,
       user_id bigint not null references auth.users (id),
       name text not null,
       code text not null,
       params jsonb not null,
       compiled bytea,
       created_at timestamptz not null
     )`,
    `create table strategy.backtests (
       id bigint generated by default as identity primary key,
       strategy_id int not null references strategy.strategies (id),
       period tstzrange not null,
       result jsonb,
       equity_curve float8[]
     )`,
    `create table audit.events (
       id bigserial primary key,
       at timestamptz not null default now(),
       table_name text not null,
       op text not null,
       row jsonb
     )`,
    `create view trading.open_orders as
       select o.id, o.user_id, u.email, o.symbol, o.side, o.qty, o.price, o.placed_at
         from trading.orders o join auth.users u on u.id = o.user_id
        where o.status in ('new', 'partial')`,
    `create materialized view market.daily_volume as
       select instrument, date_trunc('day', ts) as day, sum(volume) as volume from market.bars group by 1, 2`,
    `create function trading.position(p_user bigint, p_symbol text) returns numeric
       language sql stable as $$
         select coalesce(sum(case when side = 'B' then qty else -qty end), 0)
           from trading.orders where user_id = p_user and symbol = p_symbol and status = 'filled'
       $$`,
    `create function trading.touch_updated_at() returns trigger language plpgsql as $$
       begin new.updated_at := now(); return new; end $$`,
    `create function audit.record() returns trigger language plpgsql as $$
       begin
         insert into audit.events (table_name, op, row)
         values (tg_table_schema || '.' || tg_table_name, tg_op, to_jsonb(coalesce(new, old)));
         return coalesce(new, old);
       end $$`,
  ];
}

function triggerSql(): string[] {
  return [
    'create trigger orders_touch before update on trading.orders for each row execute function trading.touch_updated_at()',
    'create trigger strategies_audit after insert or update or delete on strategy.strategies for each row execute function audit.record()',
    `insert into audit.events (table_name, op, row) select 'strategy.strategies', 'SEED', to_jsonb(s) from strategy.strategies s`,
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Redis

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
  /** Keys per family: `kline`, `quote`, `session`, `backtest` (the cache patterns with their TTLs), `stream`, and the rest. */
  families: Record<string, number>;
}

const SYMBOLS = ['600519.SH', '000001.SZ', '300750.SZ', '601318.SH', '000858.SZ', '002594.SZ', '600036.SH', '601012.SH', '000333.SZ', '600276.SH'];
const INTERVALS = ['1m', '5m', '15m', '1h', '1d'];

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
  const r = seededRandom(opts.seed ?? 42);
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
  return { perDb, total, withTtl, families: { ...counts, stream: streams ? 3 : 0 } };
}

// ---------------------------------------------------------------------------------------------------------------
// Both, at a chosen size

export interface DatasetOptions {
  /** The database to fill, named in the URL's path; created when missing; must be empty. */
  pgUrl?: string;
  /** About how large the PostgreSQL database gets (tables, TOAST and indexes). Default 256. */
  pgMiB?: number;
  redisUrl?: string;
  /** About how many Redis keys (large values of every type come with 10,000 or more). Default 200,000. */
  redisKeys?: number;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export interface DatasetResult {
  postgres?: { database: string; rows: number; databaseMiB: number; seconds: number; tables: PlatformDatasetInfo['tables'] };
  redis?: FillResult & { seconds: number };
}

/** A URL with its password (userinfo or `?password=`) replaced, for progress lines. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/([?&](?:ssl)?password=)[^&]*/gi, '$1***');
  } catch {
    return '(unparsable URL)';
  }
}

/** Creates the database named in the URL on its server when it does not exist yet. */
async function ensureDatabase(url: string): Promise<string> {
  const u = new URL(url);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!db) throw new Error(`${shown(url)}: name the database, e.g. postgres://user@host:5432/gushen`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  try {
    const r = await c.query('select 1 from pg_database where datname = $1', [db]);
    if (r.rows.length === 0) await c.query(`create database "${db.replace(/"/g, '""')}"`);
  } finally {
    await c.end();
  }
  return db;
}

/** The GuShen-like dataset in PostgreSQL (about `pgMiB` MiB) and/or Redis (about `redisKeys` keys), both at once. */
export async function generateDataset(opts: DatasetOptions): Promise<DatasetResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const postgres = async (url: string): Promise<DatasetResult['postgres']> => {
    const mib = opts.pgMiB ?? 256;
    const database = await ensureDatabase(url);
    log(`postgres: ~${mib} MiB platform dataset into ${shown(url)}…`);
    const t0 = Date.now();
    const info = await createPlatformDataset(url, { rows: rowsForMiB(mib) });
    const r = {
      database,
      rows: info.tables.reduce((s, t) => s + t.rows, 0),
      databaseMiB: Math.round((info.databaseSizeBytes / 1024 / 1024) * 10) / 10,
      seconds: (Date.now() - t0) / 1000,
      tables: info.tables,
    };
    log(`postgres: ${r.rows} rows, ${r.databaseMiB} MiB in ${r.seconds} s`);
    return r;
  };
  const redis = async (url: string): Promise<DatasetResult['redis']> => {
    const keys = opts.redisKeys ?? 200_000;
    log(`redis: ~${keys} keys into ${shown(url)}…`);
    const client = new Redis(url, { maxRetriesPerRequest: null });
    try {
      const t0 = Date.now();
      const r = await fillRedis(client, { keys, batch: 5000, large: keys >= 10_000 });
      const seconds = (Date.now() - t0) / 1000;
      log(`redis: ${r.total} keys (${r.withTtl} with a TTL) in ${seconds} s`);
      return { ...r, seconds };
    } finally {
      client.disconnect();
    }
  };
  // Both settle before an error is thrown: nothing keeps writing after this returns.
  const [pgRes, redisRes] = await Promise.allSettled([opts.pgUrl ? postgres(opts.pgUrl) : undefined, opts.redisUrl ? redis(opts.redisUrl) : undefined]);
  if (pgRes.status === 'rejected') throw pgRes.reason;
  if (redisRes.status === 'rejected') throw redisRes.reason;
  const out: DatasetResult = {};
  if (pgRes.value) out.postgres = pgRes.value;
  if (redisRes.value) out.redis = redisRes.value;
  return out;
}
