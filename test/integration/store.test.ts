import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Store } from '../../src/store/s3.js';
import { FileStore } from '../../src/store/file.js';
import { openStore } from '../../src/store/open.js';
import { writeObjectText } from '../../src/store/text.js';
import { startS3, useS3rverCredentials, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';
import { MiB, failingAfter, sha, storeConformance } from '../support/store-conformance.js';

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

  storeConformance('file', () => stores().file);
  storeConformance('s3', () => stores().s3);

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

