import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactWriter } from '../../src/repository/artifact-writer.js';
import { backupPostgresWith } from '../../src/sources/postgres/backup.js';
import { type Config } from '../../src/config/schema.js';
import { configSchema } from '../../src/sources/registry.js';
import { generateX25519Identity, parseIdentity, type Identity } from '../../src/crypto/index.js';
import type { Artifact, Manifest } from '../../src/repository/manifest.js';
import type { PostgresFacts } from '../../src/sources/postgres/facts.js';
import { countRows, deepVerifyPostgres, restorePostgres } from '../../src/sources/postgres/restore.js';
import { stageArtifact } from '../../src/repository/artifact-reader.js';
import type { RestoreContext } from '../../src/sources/restore-context.js';
import { FileStore } from '../../src/store/file.js';
import { OperationError, UsageError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { createPlatformDataset } from '../support/pg-dataset.js';
import { startPostgres, withClient, type TestPostgres } from '../support/postgres.js';
import { tempDir } from '../support/tmp.js';
import { countingStore } from '../support/counting-store.js';
import { testManifest } from '../support/manifest.js';

const BACKUP_ID = '20260301T020000Z-manual';
const ORDERS_ROWS = 120_000;

/** Row count and an order-independent content checksum of every table, optionally as of an exported snapshot. */
async function tableChecksums(url: string, snapshot?: string): Promise<Record<string, { rows: number; md5: string }>> {
  return withClient(url, async (c) => {
    await c.query('begin isolation level repeatable read read only');
    if (snapshot) await c.query(`set transaction snapshot '${snapshot}'`);
    const tables = await c.query<{ schema: string; name: string }>(
      `select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') order by 1, 2`,
    );
    const out: Record<string, { rows: number; md5: string }> = {};
    for (const t of tables.rows) {
      const r = await c.query<{ n: string; md5: string }>(
        `select count(*) as n, md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) as md5 from "${t.schema}"."${t.name}" t`,
      );
      out[`${t.schema}.${t.name}`] = { rows: Number(r.rows[0].n), md5: r.rows[0].md5 };
    }
    await c.query('commit');
    return out;
  });
}


describe('postgres backup and restore on a real PostgreSQL', () => {
  let source: TestPostgres;
  let target: TestPostgres;
  let storeDir: { path: string; cleanup: () => Promise<void> };
  let scratch: { path: string; cleanup: () => Promise<void> };
  let store: FileStore;
  let config: Config;
  let identities: Identity[];
  let artifacts: Artifact[];
  let snapshotSums: Record<string, { rows: number; md5: string }>;
  let liveAfter: Record<string, number>;
  let concurrentOps = 0;

  const ctx = (over: Partial<RestoreContext> = {}): RestoreContext => ({
    store,
    manifest: manifest(),
    identities,
    config,
    log: silentLogger,
    scratchDir: scratch.path,
    ...over,
  });
  const manifest = (): Manifest => testManifest(BACKUP_ID, artifacts);
  const dump = () => artifacts.find((a) => a.name === 'postgres/gushen.dump')!;

  beforeAll(async () => {
    [source, target, storeDir, scratch] = await Promise.all([startPostgres({ password: 's3cret-Pw!' }), startPostgres(), tempDir(), tempDir()]);
    store = new FileStore(storeDir.path);
    await source.query('postgres', 'create database gushen');
    await source.query('postgres', "create role gushen_app login password 'app-Pw-9'");
    const info = await createPlatformDataset(source.urlFor('gushen'), { rows: ORDERS_ROWS });
    expect(info.tables.find((t) => t.name === 'orders')!.rows).toBe(ORDERS_ROWS);
    await source.query('gushen', 'alter table strategy.strategies owner to gushen_app');
    const key = generateX25519Identity();
    identities = [parseIdentity(key.identity)];
    config = configSchema.parse({
      store: { url: `file://${storeDir.path}` },
      encryption: { recipients: [key.recipient] },
      sources: { postgres: { url: `${source.url}/`, databases: ['gushen'] } },
    });
  });

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop(), storeDir?.cleanup(), scratch?.cleanup()]);
  });

  it('backs up a consistent snapshot while rows are inserted and deleted concurrently', async () => {
    // Writers that keep inserting and deleting orders and bars for the whole backup.
    let stop = false;
    const writer = withClient(source.urlFor('gushen'), async (c) => {
      for (let i = 0; !stop && i < 100_000; i++) {
        await c.query(
          `insert into trading.orders (user_id, symbol, side, qty, price, status, placed_at)
           values (1 + $1 % 100, '000001.SZ', 'B', 100, 10.5, 'new', now())`,
          [i],
        );
        await c.query('delete from trading.orders where id = (select min(id) from trading.orders where status = $1)', ['cancelled']);
        await c.query('delete from market.bars where ctid = (select ctid from market.bars limit 1)');
        concurrentOps++;
      }
    });
    let hookSnapshot = '';
    const writerStore = new ArtifactWriter(store, BACKUP_ID, config.encryption.recipients);
    const result = await backupPostgresWith(
      { backupId: BACKUP_ID, config, writer: writerStore, log: silentLogger, signal: new AbortController().signal },
      {
        onSnapshot: async (_db, snapshot) => {
          hookSnapshot = snapshot;
          // What the database looked like at the snapshot, read through the exported snapshot itself.
          snapshotSums = await tableChecksums(source.urlFor('gushen'), snapshot);
          // Make sure the live database has moved on before pg_dump starts.
          const before = concurrentOps;
          while (concurrentOps < before + 20) await new Promise((r) => setTimeout(r, 20));
        },
      },
    );
    stop = true;
    await writer;
    expect(result.failures).toEqual([]);
    artifacts = result.artifacts;
    expect(artifacts.map((a) => a.name).sort()).toEqual(['postgres/globals.sql', 'postgres/gushen.dump']);

    const facts = dump().facts as PostgresFacts;
    expect(dump().kind).toBe('pg_dump-custom');
    expect(dump().compression).toBe('zstd');
    expect(facts.snapshot).toBe(hookSnapshot);
    expect(facts.serverVersion).toMatch(/^15\./);
    expect(facts.pgDumpVersion).toMatch(/^15\./);
    expect(facts.dumpCompression).toBe('0');
    expect(facts.databaseSizeBytes).toBeGreaterThan(10 * 1024 * 1024);
    // The facts are the snapshot's counts, table by table…
    const factRows = Object.fromEntries(facts.tables.map((t) => [`${t.schema}.${t.name}`, t.rows]));
    for (const [table, s] of Object.entries(snapshotSums)) expect([table, factRows[table]]).toEqual([table, s.rows]);
    expect(facts.tables.length).toBe(Object.keys(snapshotSums).length + 1); // + the partitioned parent market.ticks
    // …and not the live database's, which changed during the backup.
    liveAfter = Object.fromEntries((await countRows(source.urlFor('gushen'))).map((t) => [`${t.schema}.${t.name}`, t.rows]));
    expect(liveAfter['market.bars']).toBeLessThan(factRows['market.bars']);
    expect(liveAfter['trading.orders']).not.toBe(undefined);
    expect(concurrentOps).toBeGreaterThan(20);

    const globals = artifacts.find((a) => a.name === 'postgres/globals.sql')!;
    expect(globals.kind).toBe('pg_dumpall-globals-sql');
    expect(globals.facts).toMatchObject({ type: 'postgres-globals', roles: 2 });
    // Stored encrypted: the plaintext dump header does not appear in the object.
    const stored = await readFile(join(storeDir.path, dump().key));
    expect(stored.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(stored.includes(Buffer.from('PGDMP'))).toBe(false);
  });

  it('restores into a new database with parallel jobs: row counts and table contents equal the snapshot', async () => {
    const report = await restorePostgres(ctx(), { pgUrl: `${source.url}/ignored`, database: 'restored_j2', jobs: 2 });
    expect(report.databases).toHaveLength(1);
    expect(report.databases[0]).toMatchObject({ source: 'gushen', target: 'restored_j2', mismatches: [] });
    expect(report.items[0].result).toBe('restored');
    expect(await tableChecksums(source.urlFor('restored_j2'))).toEqual(snapshotSums);
    // The staged plaintext is gone.
    expect(await readdir(scratch.path)).toEqual([]);
    // Views, functions, triggers, sequences and indexes came back and work.
    const r = await source.query('restored_j2', `select (select count(*) from trading.open_orders) as open_orders,
        trading.position(1, '000001.SZ') is not null as fn,
        (select count(*) from pg_trigger where not tgisinternal) as triggers,
        (select count(*) from pg_indexes where indexname = 'orders_user_placed') as idx,
        (select last_value from trading.order_seq) >= (select max(id) from trading.orders) as seq_ok`);
    expect(r.rows[0]).toMatchObject({ fn: true, triggers: '2', idx: '1', seq_ok: true });
    expect(Number(r.rows[0].open_orders)).toBeGreaterThan(0);
  });

  it('streams the restore with one job and gets the same contents', async () => {
    const report = await restorePostgres(ctx(), { pgUrl: source.url, database: 'restored_j1', jobs: 1 });
    expect(report.databases[0].mismatches).toEqual([]);
    expect(report.databases[0].rows).toBe(Object.values(snapshotSums).reduce((s, t) => s + t.rows, 0) + snapshotSums['market.ticks_2025h1'].rows + snapshotSums['market.ticks_2025h2'].rows);
    expect(await tableChecksums(source.urlFor('restored_j1'))).toEqual(snapshotSums);
  });

  it('refuses a non-empty target without --force, before downloading anything, naming the tables', async () => {
    const counting = countingStore(store);
    const err = await restorePostgres(ctx({ store: counting }), { pgUrl: source.url, database: 'restored_j1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/refusing to restore into non-empty database/);
    expect(msg).toContain('"restored_j1" has 11 tables');
    expect(msg).toContain('auth.users');
    expect(msg).toContain('and 1 more');
    expect(msg).toContain('--force');
    expect(msg).not.toContain('s3cret');
    expect(counting.gets).toBe(0);
    // The live source database itself is refused too, under its own name.
    await expect(restorePostgres(ctx({ store: counting }), { pgUrl: source.url })).rejects.toThrow(/"gushen" has 11 tables/);
    expect(counting.gets).toBe(0);
  });

  it('with --force replaces the contents of a non-empty target', async () => {
    await source.query('restored_j1', 'delete from trading.fills; delete from auth.users where id > 5 and id not in (select user_id from trading.orders) and id not in (select user_id from strategy.strategies)');
    await source.query('restored_j1', "insert into market.instruments values ('999999.SH', 'extra', 'SSE', 1, 1, null)");
    const report = await restorePostgres(ctx(), { pgUrl: source.url, database: 'restored_j1', force: true, jobs: 2 });
    expect(report.databases[0].mismatches).toEqual([]);
    expect(await tableChecksums(source.urlFor('restored_j1'))).toEqual(snapshotSums);
  });

  it('fails a restore whose row counts differ from the manifest, table by table', async () => {
    const tampered = structuredClone(dump());
    const facts = tampered.facts as PostgresFacts;
    facts.tables.find((t) => t.name === 'orders')!.rows += 1;
    facts.tables.push({ schema: 'trading', name: 'ghost', rows: 3 });
    const err = await restorePostgres(ctx({ manifest: { ...manifest(), artifacts: [tampered] } }), { pgUrl: source.url, database: 'restored_mismatch' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OperationError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/does not match the backup's row counts \(2 of 12 tables differ\)/);
    expect(msg).toContain(`trading.orders: expected ${snapshotSums['trading.orders'].rows + 1} rows, found ${snapshotSums['trading.orders'].rows}`);
    expect(msg).toContain('trading.ghost: expected 3 rows, found no such table');
  });

  it('restores roles into another server only with --with-globals', async () => {
    // Without the roles, ownership of strategy.strategies cannot be restored: a clear failure.
    const err = await restorePostgres(ctx(), { pgUrl: target.url, jobs: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect((err as Error).message).toMatch(/role "gushen_app" does not exist/);
    expect((err as Error).message).toContain('--with-globals');
    // pg_restore failed on the staged file: the file is gone all the same.
    expect(await readdir(scratch.path)).toEqual([]);
    const before = await target.query('postgres', "select count(*) as n from pg_roles where rolname = 'gushen_app'");
    expect(before.rows[0].n).toBe('0');

    const report = await restorePostgres(ctx(), { pgUrl: target.url, withGlobals: true, force: true, jobs: 2 });
    expect(report.globalsRestored).toBe(true);
    expect(report.databases[0].mismatches).toEqual([]);
    const owner = await target.query('gushen', "select tableowner from pg_tables where schemaname = 'strategy' and tablename = 'strategies'");
    expect(owner.rows[0].tableowner).toBe('gushen_app');
    // The role came with its password: it can log in (the target trusts local TCP, so check the stored hash instead).
    const pw = await target.query('postgres', "select rolpassword like 'SCRAM-SHA-256$%' as scram from pg_authid where rolname = 'gushen_app'");
    expect(pw.rows[0].scram).toBe(true);
    expect(await tableChecksums(target.urlFor('gushen'))).toEqual(snapshotSums);
  });

  it('verify --deep reads the whole archive and catches a single flipped byte', async () => {
    for (const a of artifacts) await deepVerifyPostgres(ctx(), a);
    const path = join(storeDir.path, dump().key);
    const original = await readFile(path);
    const flipped = Buffer.from(original);
    const at = Math.floor(flipped.length / 2);
    flipped[at] ^= 0x01;
    await writeFile(path, flipped);
    try {
      const err = await deepVerifyPostgres(ctx(), dump()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OperationError);
      expect((err as Error).message).toMatch(/^postgres\/gushen\.dump: .*(corrupted|SHA-256)/);
      // A staged restore of the damaged artifact fails before pg_restore runs, and leaves no plaintext behind.
      await expect(restorePostgres(ctx(), { pgUrl: source.url, database: 'restored_damaged', jobs: 2 })).rejects.toThrow(OperationError);
      expect(await readdir(scratch.path)).toEqual([]);
    } finally {
      await writeFile(path, original);
    }
    await deepVerifyPostgres(ctx(), dump());
  });

  it('verify --deep runs pg_restore over the data, not just the table of contents', async () => {
    // A structurally valid archive whose data is wrong: the plaintext hash is right for the manifest we
    // write here, so only pg_restore's full read can tell (pg_restore -l would pass).
    const key = generateX25519Identity();
    const recipients = [key.recipient];
    const real = await stageArtifact(store, dump(), identities, scratch.path);
    try {
      const plain = await readFile(real.path);
      // Truncate the archive in the middle of the data section; the table of contents at the start stays intact.
      const cut = plain.subarray(0, Math.floor(plain.length * 0.6));
      const w = new ArtifactWriter(store, '20260301T030000Z-manual', recipients);
      const written = await w.write({ name: 'postgres/gushen.dump', source: 'postgres', kind: 'pg_dump-custom', compression: 'zstd' }, Readable.from([cut]));
      const broken: Artifact = { ...written, facts: dump().facts };
      const c = ctx({ identities: [parseIdentity(key.identity)] });
      await expect(deepVerifyPostgres(c, broken)).rejects.toThrow(/pg_restore/);
    } finally {
      await real.remove();
    }
  });

  it('counts rows of every user table exactly', async () => {
    const counts = await countRows(source.urlFor('restored_j2'));
    const c = new pg.Client({ connectionString: source.urlFor('restored_j2') });
    await c.connect();
    try {
      for (const t of counts) {
        const r = await c.query(`select count(*) as n from "${t.schema}"."${t.name}"`);
        expect(Number(r.rows[0].n)).toBe(t.rows);
      }
    } finally {
      await c.end();
    }
    expect(counts.map((t) => `${t.schema}.${t.name}`)).toContain('market.ticks');
    // Several connections sharing one exported snapshot give the same counts, in the same order.
    expect(await countRows(source.urlFor('restored_j2'), 3)).toEqual(counts);
  });
});
