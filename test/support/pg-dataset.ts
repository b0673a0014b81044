import pg from 'pg';

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
