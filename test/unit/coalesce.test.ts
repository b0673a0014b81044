import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Coalesce } from '../../src/util/coalesce.js';

async function through(chunks: Buffer[], size: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(new Coalesce(size))) out.push(c as Buffer);
  return out;
}

describe('Coalesce', () => {
  it('joins small chunks into chunks of at least the size, keeping every byte in order', async () => {
    const chunks = Array.from({ length: 37 }, (_, i) => randomBytes(100 + i * 13));
    const out = await through(chunks, 1000);
    expect(Buffer.concat(out)).toEqual(Buffer.concat(chunks));
    for (const c of out.slice(0, -1)) expect(c.length).toBeGreaterThanOrEqual(1000);
    expect(out.length).toBeLessThan(chunks.length / 5);
  });

  it('passes a chunk at least the size through as it is, and flushes a short tail', async () => {
    const big = randomBytes(5000);
    const tail = randomBytes(10);
    const c = new Coalesce(1000);
    const seen: Buffer[] = [];
    c.on('data', (d: Buffer) => seen.push(d));
    c.write(big);
    c.end(tail);
    await new Promise((r) => c.on('end', r));
    expect(seen[0]).toBe(big);
    expect(seen[1]).toEqual(tail);
    expect(await through([], 1000)).toEqual([]);
  });
});
