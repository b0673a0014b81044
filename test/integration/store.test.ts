import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Store } from '../../src/store/s3.js';
import { createDecryptStream, createEncryptStream, generateX25519Identity, parseIdentity } from '../../src/crypto/index.js';
import { FileStore } from '../../src/store/file.js';
import { openStore } from '../../src/store/open.js';
import { ObjectNotFoundError, type ObjectStore } from '../../src/store/types.js';
import { readObjectText, writeObjectText } from '../../src/store/text.js';
import { startS3, useS3rverCredentials, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

const MiB = 1024 * 1024;

/** `mib` MiB of pseudo-random data, generated block by block (never held whole). */
function source(mib: number, seed = 1): Readable {
  const block = createHash('sha512').update(String(seed)).digest();
  let i = 0;
  return new Readable({
    read() {
      if (i >= mib) return this.push(null);
      const chunk = Buffer.allocUnsafe(MiB);
      for (let o = 0; o < MiB; o += 64) {
        block.copy(chunk, o, 0, 64);
        chunk.writeUInt32LE(i * 16384 + o / 64, o);
      }
      i++;
      this.push(chunk);
    },
  });
}

function hasher(): Transform & { hex: () => string } {
  const h = createHash('sha256');
  const t = new Transform({
    transform(c, _e, cb) {
      h.update(c);
      cb(null, c);
    },
  }) as Transform & { hex: () => string };
  let hex: string | undefined;
  t.hex = () => (hex ??= h.digest('hex'));
  return t;
}

async function sha(stream: Readable): Promise<string> {
  const h = createHash('sha256');
  for await (const c of stream) h.update(c as Buffer);
  return h.digest('hex');
}

async function roundTrip(store: ObjectStore, key: string, mib: number): Promise<{ plainIn: string; plainOut: string }> {
  const { identity, recipient } = generateX25519Identity();
  const tap = hasher();
  const enc = Readable.from(source(mib).pipe(tap).pipe(createEncryptStream([recipient])));
  await store.put(key, enc);
  const plainOut = await sha((await store.get(key)).pipe(createDecryptStream([parseIdentity(identity)])));
  return { plainIn: tap.hex(), plainOut };
}

function failingAfter(mib: number): Readable {
  const src = source(mib * 2);
  let seen = 0;
  return src.pipe(
    new Transform({
      transform(c: Buffer, _e, cb) {
        seen += c.length;
        if (seen > mib * MiB) cb(new Error('source died mid-stream'));
        else cb(null, c);
      },
    }),
  );
}

describe('object stores', () => {
  let s3: TestS3;
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    useS3rverCredentials();
    [s3, dir] = await Promise.all([startS3(), tempDir()]);
  });
  afterAll(async () => {
    await Promise.all([s3?.stop(), dir?.cleanup()]);
  });

  const stores = () => ({
    file: new FileStore(join(dir.path, 'store')),
    s3: openStore(s3.storeConfig('prefix/one')),
  });

  for (const kind of ['file', 's3'] as const) {
    it(`${kind}: 300 MiB encrypt → store → decrypt round trip is byte-identical`, async () => {
      const store = stores()[kind];
      const r = await roundTrip(store, 'backups/x/big.age', 300);
      expect(r.plainOut).toBe(r.plainIn);
      const head = await store.head('backups/x/big.age');
      expect(head?.size).toBeGreaterThan(300 * MiB);
    });

    it(`${kind}: put/get/head/list/delete, missing keys`, async () => {
      const store = stores()[kind];
      await writeObjectText(store, 'a/1.json', '{"n":1}');
      await writeObjectText(store, 'a/2.json', '{"n":2}');
      await writeObjectText(store, 'b/3.json', '{"n":3}');
      expect((await store.list('a/')).map((o) => o.key)).toEqual(['a/1.json', 'a/2.json']);
      expect(await readObjectText(store, 'a/2.json')).toBe('{"n":2}');
      expect(await store.head('a/missing')).toBeUndefined();
      await expect(store.get('a/missing')).rejects.toBeInstanceOf(ObjectNotFoundError);
      await store.delete('a/1.json');
      await store.delete('a/never-existed');
      expect((await store.list('a/')).map((o) => o.key)).toEqual(['a/2.json']);
      await expect(store.put('../escape', Readable.from([Buffer.from('x')]))).rejects.toThrow(/invalid object key/);
    });

    it(`${kind}: a source that fails mid-stream leaves nothing under the key`, async () => {
      const store = stores()[kind];
      await expect(store.put('backups/y/partial.age', failingAfter(12))).rejects.toThrow(/source died mid-stream/);
      expect(await store.head('backups/y/partial.age')).toBeUndefined();
      expect(await store.list('backups/y/')).toEqual([]);
    });
  }

  it('file: no temp file survives a failed put', async () => {
    const root = join(dir.path, 'store');
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
  });

  it('file: listing while other runs delete objects never fails on a vanished file', async () => {
    const store = new FileStore(join(dir.path, 'racing'));
    const keys = Array.from({ length: 400 }, (_, i) => `locks/claim-${String(i).padStart(4, '0')}.json`);
    for (const k of keys) await writeObjectText(store, k, '{}');
    const deleting = (async () => {
      for (const k of keys) await store.delete(k);
    })();
    const listings: number[] = [];
    while (listings.at(-1) !== 0) listings.push((await store.list('locks/')).length);
    await deleting;
    expect(listings.length).toBeGreaterThan(1);
  });

  it('s3: a failed multipart upload is aborted, not left open', async () => {
    // s3rver implements neither AbortMultipartUpload nor ListMultipartUploads, so the commands sent are what we check.
    const store = openStore(s3.storeConfig('aborts')) as S3Store;
    const sent: Array<{ name: string; uploadId?: string }> = [];
    (store as unknown as { client: S3Client }).client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push({ name: String(context.commandName), uploadId: (args.input as { UploadId?: string }).UploadId });
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    await expect(store.put('backups/z/partial.age', failingAfter(12))).rejects.toThrow(/source died mid-stream/);
    const created = sent.filter((c) => c.name === 'CreateMultipartUploadCommand');
    const aborted = sent.filter((c) => c.name === 'AbortMultipartUploadCommand');
    expect(created).toHaveLength(1);
    expect(aborted).toHaveLength(1);
    expect(sent.some((c) => c.name === 'CompleteMultipartUploadCommand')).toBe(false);
    expect(await store.head('backups/z/partial.age')).toBeUndefined();
  });

  it('s3: parts are cut at the part size whatever the chunking; short and empty streams are one PutObject', async () => {
    const store = openStore(s3.storeConfig('parts')) as S3Store; // 5 MiB parts
    const sent: Array<{ name: string; length?: number }> = [];
    (store as unknown as { client: S3Client }).client.middlewareStack.add(
      (next, context) => async (args) => {
        const body = (args.input as { Body?: unknown }).Body;
        sent.push({ name: String(context.commandName), length: Buffer.isBuffer(body) ? body.length : undefined });
        return next(args);
      },
      { step: 'initialize', name: 'recordParts' },
    );
    /** `total` bytes in odd-sized chunks that straddle part boundaries. */
    const odd = (total: number) => {
      const data = randomBytes(total);
      const chunks: Buffer[] = [];
      for (let o = 0, i = 0; o < total; i++) chunks.push(data.subarray(o, (o += 777_777 + (i % 3) * 100_003)));
      return { data, stream: Readable.from(chunks) };
    };
    const cases = [
      { key: 'p/three-and-a-bit', size: 3 * 5 * MiB + 12_345, parts: [5 * MiB, 5 * MiB, 5 * MiB, 12_345] },
      { key: 'p/exactly-two', size: 2 * 5 * MiB, parts: [5 * MiB, 5 * MiB] },
      { key: 'p/short', size: 1000, put: 1000 },
      { key: 'p/empty', size: 0, put: 0 },
    ];
    for (const c of cases) {
      sent.length = 0;
      const { data, stream } = odd(c.size);
      expect(await store.put(c.key, stream)).toEqual({ size: c.size });
      const upload = [...sent];
      expect(await sha(await store.get(c.key))).toBe(createHash('sha256').update(data).digest('hex'));
      if (c.put !== undefined) {
        expect(upload.map((s) => s.name)).toEqual(['PutObjectCommand']);
        expect(upload[0].length).toBe(c.put);
      } else {
        expect(upload.filter((s) => s.name === 'UploadPartCommand').map((s) => s.length)).toEqual(c.parts);
        expect(upload.at(-1)?.name).toBe('CompleteMultipartUploadCommand');
      }
    }
  });

  it('s3: lists past one page (s3rver pages at 1000 keys)', async () => {
    const store = openStore(s3.storeConfig('many'));
    const keys = Array.from({ length: 1005 }, (_, i) => `k/${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, Readable.from([randomBytes(4)]))));
    }
    const listed = await store.list('k/');
    expect(listed.map((o) => o.key)).toEqual(keys);
  });
});

