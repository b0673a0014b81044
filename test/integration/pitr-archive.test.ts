import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIdentityFile } from '../../src/crypto/index.js';
import { walSegmentKey } from '../../src/repository/layout.js';
import { FileStore } from '../../src/store/file.js';
import { listWal, listWalClusters, openWal, walChain } from '../../src/sources/postgres/pitr/wal-store.js';
import { parseSegmentName, segmentName } from '../../src/sources/postgres/pitr/wal-names.js';
import { pitrEnv, scrape, startArchiver, startPitrServer, type PitrEnv, type PitrServer } from '../support/pitr.js';
import { waitFor } from '../support/ports.js';

const MiB = 1024 * 1024;

async function plaintext(store: FileStore, key: string, identityFile: string): Promise<Buffer> {
  const ids = parseIdentityFile(await readFile(identityFile, 'utf8'));
  const chunks: Buffer[] = [];
  for await (const c of await openWal(store, key, ids)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** `gushen-dr wal-archive` against a real PostgreSQL 15 with 1 MiB segments. */
describe('wal-archive: streams WAL through a replication slot into the store', () => {
  let server: PitrServer;
  let env: PitrEnv;
  let store: FileStore;
  let config: string;
  let sysid: string;

  beforeAll(async () => {
    [server, env] = await Promise.all([startPitrServer(), pitrEnv()]);
    store = new FileStore(env.storeDir);
    config = await env.writeConfig(server);
    await server.query('postgres', 'create database app');
    await server.query('app', 'create table t (id bigserial primary key, note text not null, at timestamptz not null default clock_timestamp())');
    sysid = String((await server.query('postgres', 'select system_identifier::text as s from pg_control_system()')).rows[0].s);
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), env?.cleanup()]);
  });

  const fill = async (rows: number, note = 'x') => {
    await server.query('app', `insert into t (note) select $1 || repeat('w', 200) from generate_series(1, $2)`, [note, rows]);
  };
  const currentSegment = async () => String((await server.query('postgres', 'select pg_walfile_name(pg_current_wal_lsn()) as f')).rows[0].f);
  const storedFull = async () => {
    const cat = await listWal(store, sysid);
    return [...(cat.timelines.get(1) ?? [])].filter((e) => e.full).map((e) => e.name);
  };

  it('stores finished segments byte for byte, the partial one as it grows, and reports metrics; SIGTERM stores the rest and exits 0', async () => {
    const { p, address } = await startArchiver(config);
    try {
      expect(await listWalClusters(store)).toEqual([sysid]);
      // The slot exists and holds WAL.
      const slot = await server.query('postgres', "select slot_type, active from pg_replication_slots where slot_name = 'gushen_dr'");
      expect(slot.rows).toEqual([{ slot_type: 'physical', active: true }]);

      await fill(6000, 'first');
      await server.query('postgres', 'select pg_switch_wal()');
      const switched = await currentSegment();
      await waitFor('finished segments in the store', async () => ((await storedFull()).length >= 3 ? true : undefined), 30_000);

      // Every stored finished segment equals the server's own file (those still in pg_wal and not recycled).
      const inPgWal = new Set((await readdir(join(server.data, 'pg_wal'))).filter((n) => /^[0-9A-F]{24}$/.test(n) && n < switched));
      let compared = 0;
      for (const name of await storedFull()) {
        if (!inPgWal.has(name)) continue;
        const ours = await plaintext(store, walSegmentKey(sysid, name), env.identityFile);
        expect(ours.equals(await readFile(join(server.data, 'pg_wal', name))), name).toBe(true);
        compared++;
      }
      expect(compared).toBeGreaterThan(0);

      // The segment being written is stored within partialUploadSeconds (1 s here) of a commit.
      await server.query('app', "insert into t (note) values ('partial-marker-1')");
      const seg = await currentSegment();
      await waitFor(
        'the partial segment with the marker',
        async () => ((await plaintext(store, walSegmentKey(sysid, seg, true), env.identityFile).catch(() => Buffer.alloc(0))).includes('partial-marker-1') ? true : undefined),
        15_000,
      );

      const m = await scrape(address);
      expect(m.get('gushen_dr_wal_archiver_up')).toBe(1);
      expect(m.get('gushen_dr_wal_receiver_up')).toBe(1);
      expect(m.get('gushen_dr_wal_segments_archived_total')).toBeGreaterThanOrEqual(3);
      expect(m.get('gushen_dr_wal_partial_uploads_total')).toBeGreaterThanOrEqual(1);
      expect([...m.keys()].some((k) => k.startsWith('gushen_dr_wal_last_archived_segment_info{segment="00000001'))).toBe(true);
      expect(m.get('gushen_dr_wal_last_archived_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
      await waitFor('the slot metric', async () => ((await scrape(address)).has('gushen_dr_wal_slot_retained_bytes') ? true : undefined), 10_000);
      await waitFor('lag back to 0', async () => ((await scrape(address)).get('gushen_dr_wal_archive_lag_seconds') === 0 ? true : undefined), 15_000);
      const health = await fetch(`http://${address}/healthz`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { receiver: string }).receiver).toBe('running');

      // SIGTERM: what was written last is stored before the exit, though partialUploadSeconds has not passed.
      await server.query('app', "insert into t (note) values ('partial-marker-2')");
      await new Promise((r) => setTimeout(r, 300));
      p.signal('SIGTERM');
      expect((await p.exited).code).toBe(0);
      const last = await currentSegment();
      expect((await plaintext(store, walSegmentKey(sysid, last, true), env.identityFile)).includes('partial-marker-2')).toBe(true);
    } finally {
      p.signal('SIGKILL');
    }
  });

  it('survives its own restart and a PostgreSQL restart mid-load without a gap', async () => {
    // While the archiver is down the slot holds the WAL.
    const whileDown = await currentSegment();
    await fill(5000, 'while-down');
    await server.query('postgres', 'select pg_switch_wal()');
    const { p, address } = await startArchiver(config);
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        try {
          await fill(200, 'load');
          written++;
        } catch {
          // the server is restarting
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    let atRestart: string;
    try {
      await new Promise((r) => setTimeout(r, 1500));
      atRestart = await currentSegment();
      await server.restart();
      await waitFor('pg_receivewal streaming again', async () => ((await scrape(address)).get('gushen_dr_wal_receiver_up') === 1 ? true : undefined), 60_000);
      expect((await scrape(address)).get('gushen_dr_wal_receiver_restarts_total')).toBeGreaterThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 1500));
      writing = false;
      await writer;
      expect(written).toBeGreaterThan(5);
      await server.query('postgres', 'select pg_switch_wal()');
      const upTo = await currentSegment();
      const before = segmentName(1, parseSegmentName(upTo, MiB).segno - 1n, MiB);
      await waitFor('every finished segment stored', async () => ((await storedFull()).includes(before) ? true : undefined), 30_000);
      p.signal('SIGTERM');
      expect((await p.exited).code).toBe(0);

      const cat = await listWal(store, sysid);
      const first = cat.timelines.get(1)![0];
      const chain = walChain(cat, 1, first.segno);
      expect(chain.gaps).toEqual([]);
      expect(chain.segments.at(-1)!.name).toBe(upTo);
      const names = chain.segments.map((e) => e.name);
      expect(names).toContain(whileDown);
      expect(names).toContain(atRestart);
      // Nothing is left in the spool but the segment being written.
      expect((await readdir(env.spoolDir)).filter((n) => !n.endsWith('.partial'))).toEqual([]);
    } finally {
      writing = false;
      p.signal('SIGKILL');
    }
  });
});
