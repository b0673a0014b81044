import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, truncate, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ArtifactWriter, withFacts } from '../../src/repository/artifact-writer.js';
import { stageArtifact, verifyStoredArtifact } from '../../src/repository/artifact-reader.js';
import { generateX25519Identity, parseIdentity } from '../../src/crypto/index.js';
import { FileStore } from '../../src/store/file.js';
import type { Artifact } from '../../src/repository/manifest.js';
import { tempDir } from '../support/tmp.js';
import { configureZstd } from '../../src/util/compression.js';
import { findExecutable } from '../../src/util/executables.js';

describe('artifacts: written streaming, read back only when intact', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: FileStore;
  let artifact: Artifact;
  let other: Artifact;
  const key = generateX25519Identity();
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const facts = { type: 'postgres-globals', serverVersion: '15.20', roles: 1 } as const;
  const stagingRoot = () => join(dir.path, 'scratch');
  const path = (a: Artifact) => join(dir.path, 'store', ...a.key.split('/'));

  beforeAll(async () => {
    dir = await tempDir();
    store = new FileStore(join(dir.path, 'store'));
    await mkdir(stagingRoot());
    const w = new ArtifactWriter(store, '20261124T020000Z-nightly', [key.recipient]);
    artifact = withFacts(await w.write({ name: 'postgres/globals.sql', source: 'postgres', kind: 'pg_dumpall-globals-sql', compression: 'zstd' }, Readable.from([data])), facts);
    const w2 = new ArtifactWriter(store, '20261125T020000Z-nightly', [key.recipient]);
    other = withFacts(await w2.write({ name: 'postgres/globals.sql', source: 'postgres', kind: 'pg_dumpall-globals-sql', compression: 'zstd' }, Readable.from([randomBytes(1000)])), facts);
  });
  afterAll(async () => dir?.cleanup());

  it('records plaintext and stored size and SHA-256, and stages a byte-identical plaintext', async () => {
    expect(artifact.size).toBe(data.length);
    expect(artifact.key).toBe('backups/20261124T020000Z-nightly/postgres/globals.sql.zst.age');
    await verifyStoredArtifact(store, artifact);
    const staged = await stageArtifact(store, artifact, [parseIdentity(key.identity)], stagingRoot());
    expect((await readFile(staged.path)).equals(data)).toBe(true);
    await staged.remove();
    expect(await readdir(stagingRoot())).toEqual([]);
  });

  const original = async () => readFile(path(artifact));
  async function tampered(mutate: (p: string, bytes: Buffer) => Promise<void>, check: (err: Error) => void, identity = key.identity) {
    const bytes = await original();
    await mutate(path(artifact), Buffer.from(bytes));
    try {
      const err = await stageArtifact(store, artifact, [parseIdentity(identity)], stagingRoot()).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toContain('artifact postgres/globals.sql (backups/20261124T020000Z-nightly/postgres/globals.sql.zst.age)');
      check(err!);
      expect(await readdir(stagingRoot())).toEqual([]); // nothing staged under any name
    } finally {
      await writeFile(path(artifact), bytes);
    }
  }

  it('a truncated artifact fails, naming it', () =>
    tampered((p, b) => truncate(p, b.length - 100), (e) => expect(e.message).toMatch(/truncated|corrupted|SHA-256|size/)));

  it('a flipped bit fails, naming it', () =>
    tampered(async (p, b) => {
      b[Math.floor(b.length / 2)] ^= 0x10;
      await writeFile(p, b);
    }, (e) => expect(e.message).toMatch(/failed authentication|SHA-256/)));

  it('the wrong key fails, naming it, without echoing any key', () =>
    tampered(async () => undefined, (e) => {
      expect(e.message).toMatch(/no identity matched/);
      expect(e.message).not.toContain('AGE-SECRET-KEY');
    }, generateX25519Identity().identity));

  it('an artifact swapped in from another backup fails its checksum', () =>
    tampered(async (p) => writeFile(p, await readFile(path(other))), (e) => expect(e.message).toMatch(/SHA-256|size/)));

  it('an artifact missing from the store fails, naming it, and leaves no staged file or open handle behind', async () => {
    const missing = { ...artifact, key: 'backups/20261124T020000Z-nightly/postgres/gone.sql.zst.age' };
    const handles = () => readdir('/proc/self/fd').then((fds) => fds.length);
    const before = await handles();
    await expect(stageArtifact(store, missing, [parseIdentity(key.identity)], stagingRoot())).rejects.toThrow(/artifact postgres\/globals.sql .*gone\.sql\.zst\.age/);
    await new Promise((r) => setTimeout(r, 50)); // a stray file stream would open (or fail) by now
    expect(await readdir(stagingRoot())).toEqual([]);
    expect(await handles()).toBe(before);
  });

  it('verify without the key catches a changed stored object', async () => {
    const bytes = await original();
    const b = Buffer.from(bytes);
    b[b.length - 1] ^= 1;
    await writeFile(path(artifact), b);
    try {
      await expect(verifyStoredArtifact(store, artifact)).rejects.toThrow(/artifact postgres\/globals.sql .*stored object: SHA-256 is [0-9a-f]{64}, the manifest says/);
    } finally {
      await writeFile(path(artifact), bytes);
    }
  });
});

describe('artifacts: either zstd engine reads what the other wrote', () => {
  const haveZstd = findExecutable('zstd') !== undefined;
  afterAll(() => configureZstd({}));

  it.skipIf(!haveZstd)('written by the zstd CLI, staged by Node (and the other way round), byte for byte', async () => {
    const dir = await tempDir();
    try {
      const store = new FileStore(join(dir.path, 'store'));
      const key = generateX25519Identity();
      const data = Buffer.concat([randomBytes(2 * 1024 * 1024), Buffer.alloc(3 * 1024 * 1024 + 5, 'row\tvalue\n')]);
      const pairs = [
        ['command', 'node'],
        ['node', 'command'],
      ] as const;
      for (const [i, [writer, reader]] of pairs.entries()) {
        configureZstd({ engine: writer });
        const w = new ArtifactWriter(store, `2026112${i}T020000Z-nightly`, [key.recipient]);
        const a = withFacts(await w.write({ name: 'postgres/globals.sql', source: 'postgres', kind: 'pg_dumpall-globals-sql', compression: 'zstd' }, Readable.from([data])), {
          type: 'postgres-globals',
          serverVersion: '15.20',
          roles: 1,
        });
        expect(a.stored.size).toBeLessThan(data.length);
        configureZstd({ engine: reader });
        await mkdir(join(dir.path, `scratch-${i}`));
        const staged = await stageArtifact(store, a, [parseIdentity(key.identity)], join(dir.path, `scratch-${i}`));
        expect((await readFile(staged.path)).equals(data), `${writer} → ${reader}`).toBe(true);
        await staged.remove();
      }
    } finally {
      await dir.cleanup();
    }
  });
});
