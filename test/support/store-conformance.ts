import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { expect, it } from 'vitest';
import { createDecryptStream, createEncryptStream, generateX25519Identity, parseIdentity } from '../../src/crypto/index.js';
import { ObjectNotFoundError, type ObjectStore } from '../../src/store/types.js';
import { readObjectText, writeObjectText } from '../../src/store/text.js';

/**
 * The behaviour every ObjectStore driver must have (src/store/types.ts), as one suite each driver runs:
 * `storeConformance('file', () => new FileStore(dir))`. Call it inside a describe whose hooks start the servers;
 * `makeStore` is called in each test, after them.
 */
export function storeConformance(name: string, makeStore: () => ObjectStore | Promise<ObjectStore>): void {
  it(`${name}: 300 MiB encrypt → store → decrypt round trip is byte-identical`, async () => {
    const store = await makeStore();
    const r = await roundTrip(store, 'backups/x/big.age', 300);
    expect(r.plainOut).toBe(r.plainIn);
    const head = await store.head('backups/x/big.age');
    expect(head?.size).toBeGreaterThan(300 * MiB);
  });

  it(`${name}: put/get/head/list/delete, missing keys`, async () => {
    const store = await makeStore();
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

  it(`${name}: a source that fails mid-stream leaves nothing under the key`, async () => {
    const store = await makeStore();
    await expect(store.put('backups/y/partial.age', failingAfter(12))).rejects.toThrow(/source died mid-stream/);
    expect(await store.head('backups/y/partial.age')).toBeUndefined();
    expect(await store.list('backups/y/')).toEqual([]);
  });

  it(`${name}: an overwritten key holds the new object; head reports its size; list is sorted and complete under a prefix`, async () => {
    const store = await makeStore();
    await writeObjectText(store, 'c/x.json', 'first version, longer');
    await writeObjectText(store, 'c/x.json', 'second');
    expect(await readObjectText(store, 'c/x.json')).toBe('second');
    expect((await store.head('c/x.json'))?.size).toBe(6);
    for (const k of ['c/z', 'c/a', 'c/m/n', 'cc/other']) await writeObjectText(store, k, k);
    const listed = await store.list('c/');
    expect(listed.map((o) => o.key)).toEqual(['c/a', 'c/m/n', 'c/x.json', 'c/z']);
    expect(listed.find((o) => o.key === 'c/m/n')?.size).toBe(5);
  });
}

export const MiB = 1024 * 1024;

/** `mib` MiB of pseudo-random data, generated block by block (never held whole). */
export function source(mib: number, seed = 1): Readable {
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

export async function sha(stream: Readable): Promise<string> {
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

export function failingAfter(mib: number): Readable {
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

