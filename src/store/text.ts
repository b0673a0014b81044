import { Readable } from 'node:stream';
import type { ObjectStore, PutOptions } from './types.js';

export async function readObject(store: ObjectStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.get(key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function readObjectText(store: ObjectStore, key: string): Promise<string> {
  return (await readObject(store, key)).toString('utf8');
}

export async function writeObjectText(store: ObjectStore, key: string, text: string, opts: PutOptions = {}): Promise<void> {
  await store.put(key, Readable.from([Buffer.from(text, 'utf8')]), opts);
}
