/**
 * The archiver's race with pg_receivewal: between listing the spool and opening `X.partial`, pg_receivewal may finish
 * the segment and rename it to `X`. That upload failure is expected (the file is stored under its final name on the
 * next pass) and must not count as a failed upload. Before the fix the archiver looked for `code === 'ENOENT'` on the
 * error putWal throws, which is an OperationError wrapping the fs error: it never matched, so every such race was
 * logged as "storing WAL failed" and counted in gushen_dr_wal_upload_failures_total.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateX25519Identity } from '../../src/crypto/index.js';
import { partialRenamedAway } from '../../src/sources/postgres/pitr/archiver.js';
import { putWal } from '../../src/sources/postgres/pitr/wal-store.js';
import { FileStore } from '../../src/store/file.js';

describe('a partial WAL segment renamed away during its upload', () => {
  let dir: string;
  let err: unknown;
  const gone = () => join(dir, 'spool', '000000010000000000000003.partial');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gdr-partial-race-'));
    const { recipient } = generateX25519Identity();
    const store = new FileStore(join(dir, 'store'));
    err = await putWal(store, 'wal/x/000000010000000000000003.partial', createReadStream(gone()), { recipients: [recipient], level: 1, retain: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('putWal fails with a wrapper whose message names the key (what the old code compared against)', () => {
    expect(err).toBeInstanceOf(Error);
    expect((err as NodeJS.ErrnoException).code).toBeUndefined();
    expect((err as Error).message).toMatch(/storing wal\/x\/000000010000000000000003\.partial: .*ENOENT/);
  });

  it.each([
    ['the partial file itself is gone', () => gone(), true],
    ['an ENOENT of some other path (the store, another file) is a real failure', () => join(dir, 'other.partial'), false],
  ])('%s', (_name, path, expected) => {
    expect(partialRenamedAway(err, path())).toBe(expected);
  });

  it('errors with no ENOENT in their chain are real failures', () => {
    expect(partialRenamedAway(new Error('access denied'), gone())).toBe(false);
    expect(partialRenamedAway(undefined, gone())).toBe(false);
  });
});
