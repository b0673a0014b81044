import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveIndexer, OFFSET_NOT_SET, OFFSET_SET, parseToc, patchDataOffsets } from '../../src/sources/postgres/archive.js';
import { createPlatformDataset } from '../support/pg-dataset.js';
import { pgBin, startPostgres, withClient, type TestPostgres } from '../support/postgres.js';
import { tempDir } from '../support/tmp.js';

const execFileP = promisify(execFile);

/** What pg_dump writes to a pipe (as our backups run it), after indexing and patching; and what it writes to a file. */
describe('data offsets for a piped pg_dump archive, against pg_dump and pg_restore themselves', () => {
  let pgs: TestPostgres;
  let dir: { path: string; cleanup: () => Promise<void> };
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    [pgs, dir] = await Promise.all([startPostgres(), tempDir('gushen-dr-pg-archive-')]);
    env = { PATH: process.env.PATH, PGHOST: pgs.host, PGPORT: String(pgs.port), PGUSER: 'postgres', PGPASSWORD: pgs.password ?? '' };
    await pgs.query('postgres', 'create database src');
    await createPlatformDataset(pgs.urlFor('src'), { rows: 4000 });
    // Large objects are stored in their own kind of data block.
    await pgs.query('src', `select lo_from_bytea(0, convert_to(repeat('large object ', 5000), 'UTF8')), lo_from_bytea(0, '\\x00ff'::bytea)`);
  }, 120_000);

  afterAll(async () => {
    await pgs?.stop();
    await dir?.cleanup();
  });

  const dumpTo = async (name: string, compress: number, piped: boolean) => {
    const path = join(dir.path, name);
    const dump = `${pgBin('pg_dump')} --format=custom --compress=${compress} --dbname=src`;
    // `| cat` makes pg_dump's stdout a pipe, where it cannot seek back to fill in the offsets.
    await execFileP('bash', ['-o', 'pipefail', '-c', piped ? `${dump} | cat > '${path}'` : `${dump} --file='${path}'`], { env });
    return path;
  };

  it.each([0, 1])('with --compress=%i: the patched archive equals the one pg_dump writes to a file, and pg_restore -j 2 restores it', async (z) => {
    const pipedPath = await dumpTo(`piped-${z}.dump`, z, true);
    const seekPath = await dumpTo(`seek-${z}.dump`, z, false);
    const patchedPath = join(dir.path, `patched-${z}.dump`);
    const indexer = new ArchiveIndexer();
    await pipeline(createReadStream(pipedPath, { highWaterMark: 4096 }), indexer, createWriteStream(patchedPath));
    expect(indexer.failure).toBeUndefined();

    const [piped, seek] = await Promise.all([readFile(pipedPath), readFile(seekPath)]);
    const pipedToc = parseToc(piped);
    const withData = pipedToc.entries.filter((e) => e.offsetFlag === OFFSET_NOT_SET);
    expect(withData.length).toBeGreaterThan(5);
    expect(withData.map((e) => e.desc)).toContain('BLOBS');
    expect(parseToc(seek).entries.filter((e) => e.offsetFlag === OFFSET_SET).length).toBe(withData.length);

    expect(await patchDataOffsets(patchedPath, indexer)).toEqual({ patched: withData.length });
    const patched = await readFile(patchedPath);
    // The header holds the dump's creation time, which differs; from the TOC on, the files are the same bytes.
    expect(pipedToc.start).toBe(parseToc(seek).start);
    expect(piped.subarray(pipedToc.start).equals(seek.subarray(pipedToc.start))).toBe(false);
    expect(patched.subarray(pipedToc.start).equals(seek.subarray(pipedToc.start))).toBe(true);

    await pgs.query('postgres', `create database restored_${z}`);
    await execFileP(pgBin('pg_restore'), ['--jobs=2', `--dbname=restored_${z}`, '--exit-on-error', patchedPath], { env });
    const sums = async (db: string) =>
      withClient(pgs.urlFor(db), async (c) => {
        const r = await c.query<{ t: string; n: string }>(
          `select 'orders' as t, count(*)::text as n from trading.orders
           union all select 'lo', string_agg(md5(lo_get(oid)), ',' order by oid) from pg_largeobject_metadata`,
        );
        return r.rows;
      });
    expect(await sums(`restored_${z}`)).toEqual(await sums('src'));
  }, 120_000);
});
