import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  createDecryptStream,
  createEncryptStream,
  generateX25519Identity,
  parseIdentity,
  parseIdentityFile,
  type Identity,
} from '../../src/crypto/index.js';

const CHUNK = 64 * 1024;

async function run(t: Transform, input: Buffer | Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(Array.isArray(input) ? input : [input]),
    t,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

/** Splits buf into pieces of pseudo-random odd sizes (deterministic). */
function oddPieces(buf: Buffer, seed: number, max = 200_003): Buffer[] {
  const pieces: Buffer[] = [];
  let x = seed;
  for (let off = 0; off < buf.length; ) {
    x = (x * 1103515245 + 12345) >>> 0;
    const pick = x % 7;
    const size = pick === 0 ? 1 : pick === 1 ? 7 : pick === 2 ? CHUNK - 1 : pick === 3 ? CHUNK + 1 : 1 + (x % max);
    pieces.push(buf.subarray(off, off + size));
    off += size;
  }
  return pieces;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function headerLength(ct: Buffer): number {
  const macLine = ct.indexOf('\n--- ');
  return ct.indexOf(0x0a, macLine + 1) + 1;
}

function expectedPayloadLength(n: number): number {
  const chunks = n === 0 ? 1 : Math.ceil(n / CHUNK);
  return 16 + n + 16 * chunks;
}

const alice = generateX25519Identity();
const aliceId = parseIdentity(alice.identity);

describe('age X25519 round trips', () => {
  it.each([0, 1, 15, 16, 17, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK, 3 * CHUNK + 1])(
    'round-trips %i bytes with the exact age layout',
    async (n) => {
      const pt = randomBytes(n);
      const ct = await run(createEncryptStream([alice.recipient]), pt);
      const hlen = headerLength(ct);
      const header = ct.subarray(0, hlen).toString('latin1');
      expect(header).toMatch(/^age-encryption\.org\/v1\n-> X25519 [A-Za-z0-9+/]{43}\n[A-Za-z0-9+/]{43}\n--- [A-Za-z0-9+/]{43}\n$/);
      expect(ct.length - hlen).toBe(expectedPayloadLength(n));
      expect(sha(await run(createDecryptStream([aliceId]), ct))).toBe(sha(pt));
    },
  );

  it('round-trips ~1 MiB written and read in odd-sized pieces', async () => {
    const pt = randomBytes(1024 * 1024 + 12345);
    const ct = await run(createEncryptStream([alice.recipient]), oddPieces(pt, 1));
    expect(ct.length - headerLength(ct)).toBe(expectedPayloadLength(pt.length));
    const back = await run(createDecryptStream([aliceId]), oddPieces(ct, 2));
    expect(back.equals(pt)).toBe(true);
    // Feeding whole vs. piecewise gives the same plaintext.
    expect((await run(createDecryptStream([aliceId]), ct)).equals(pt)).toBe(true);
  });

  it('parses the header when fed one byte at a time', async () => {
    const pt = randomBytes(300);
    const ct = await run(createEncryptStream([alice.recipient]), pt);
    const bytes = [...ct].map((b) => Buffer.from([b]));
    expect((await run(createDecryptStream([aliceId]), bytes)).equals(pt)).toBe(true);
  });

  it('encrypts to multiple recipients, each of which can decrypt', async () => {
    const others = [generateX25519Identity(), generateX25519Identity()];
    const all = [alice, ...others];
    const pt = randomBytes(CHUNK * 2 + 99);
    const ct = await run(
      createEncryptStream(all.map((k) => k.recipient)),
      pt,
    );
    expect(ct.toString('latin1', 0, headerLength(ct)).match(/^-> X25519 /gm)).toHaveLength(3);
    for (const k of all) {
      expect((await run(createDecryptStream([parseIdentity(k.identity)]), ct)).equals(pt)).toBe(true);
    }
    // An identity list where only the last identity matches.
    const stranger = parseIdentity(generateX25519Identity().identity);
    expect((await run(createDecryptStream([stranger, parseIdentity(others[1].identity)]), ct)).equals(pt)).toBe(true);
  });

  it('uses a fresh file key, nonce and ephemeral share per stream', async () => {
    const pt = Buffer.from('same plaintext');
    const a = await run(createEncryptStream([alice.recipient]), pt);
    const b = await run(createEncryptStream([alice.recipient]), pt);
    const share = (ct: Buffer) => /^-> X25519 (\S+)$/m.exec(ct.toString('latin1', 0, headerLength(ct)))?.[1];
    const nonce = (ct: Buffer) => ct.subarray(headerLength(ct), headerLength(ct) + 16).toString('hex');
    expect(share(a)).toBeDefined();
    expect(share(a)).not.toBe(share(b));
    expect(nonce(a)).not.toBe(nonce(b));
    expect(a.subarray(-30).equals(b.subarray(-30))).toBe(false);
  });

  it('streams: emits sealed chunks before the input ends, holding back only the last one', async () => {
    const enc = createEncryptStream([alice.recipient]);
    const got: Buffer[] = [];
    enc.on('data', (c: Buffer) => got.push(c));
    enc.write(randomBytes(3 * CHUNK + 1));
    await new Promise((r) => setImmediate(r));
    const soFar = Buffer.concat(got);
    // header + nonce + 3 sealed full chunks; the trailing byte is held back.
    expect(soFar.length - headerLength(soFar)).toBe(16 + 3 * (CHUNK + 16));
    enc.end();
    await new Promise((r) => enc.on('end', r));
    const ct = Buffer.concat(got);
    expect(ct.length - headerLength(ct)).toBe(expectedPayloadLength(3 * CHUNK + 1));

    const dec = createDecryptStream([aliceId]);
    const plain: Buffer[] = [];
    dec.on('data', (c: Buffer) => plain.push(c));
    dec.write(ct.subarray(0, ct.length - 100));
    await new Promise((r) => setImmediate(r));
    // Two chunks are authenticated and released; chunk #2 is held back until we know it is not last.
    expect(Buffer.concat(plain).length).toBe(2 * CHUNK);
    dec.end(ct.subarray(ct.length - 100));
    await new Promise((r) => dec.on('end', r));
    expect(Buffer.concat(plain).length).toBe(3 * CHUNK + 1);
  });

  it('decrypts files produced by the age 1.1.1 CLI (fixed vectors)', async () => {
    // age -r age1yv24… -r <other> hello.txt   (plaintext "hello from age 1.1.1\n")
    const twoRecipients = Buffer.from(
      'YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSA1cFEwOEVGL0t2TWpiRXpHUUgvNTJZSlRk' +
        'YzJvSG1zOVVCMHlKQUNOcFJJCmdkazRheE9uVGZCVndiUXhac09tK1VWRUU4Yk9EdHJubHkwb2J1' +
        'YVdVOTQKLT4gWDI1NTE5IDdVbzNJT2llMUJObW5TKzRVaTRJTnBiL3pHT0FrSGVUZ2d0ampOUnJx' +
        'ekkKVzE3V3d3QWZ2dDF4NGJKYlFRRjRtSUE3RWdwYk16elhreWFFR21yNytlawotLS0gczkzNmQz' +
        'QlA3NE5WaHhvOTVHbjBFY2Jnb3ZnZGorOXdCRzFtWkRtYllhawpxjrYMcqX5SGvXPD+qAsbZW1y8' +
        'j66e+iiJc5HhhGzyzXtsHCHEavHGO+irPUd5LU33Uy5Lig==',
      'base64',
    );
    // age -r age1yv24… < /dev/null
    const empty = Buffer.from(
      'YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSA0aHNIa0JuSzd0eVF2WGlQczJ0WTBOLzJuWVZ4dG5oSHJTRnpXZjI2MkRrCjVWSGJxUnFpKzd3WHpVN1lPSXNud080akZLOGlWQ2JrUDRybzBkMjdPRFUKLS0tIDNOUDQ2SThjbUtyMXhweEN0L3l4bjAwQ0RDZ1ZwR3l2T2dhUHdhTGVsQjAK65wgWEqPt3BdRKBxXGm1qfqk7spQtEvkc/t+LIN5fvI=',
      'base64',
    );
    const ids: Identity[] = parseIdentityFile(
      '# public key: age1yv24zfjx9a4gagq7eqghwgqdfkm4jyqx2w92u9u8z7qcy37jgqaq4cctf0\n' +
        'AGE-SECRET-KEY-153ZXTRWYL2T2VE9M93LYMX0S944PG5DVVT6FVJ2PDHFCFKN22VYSZHEQQA\n',
    );
    expect((await run(createDecryptStream(ids), twoRecipients)).toString()).toBe('hello from age 1.1.1\n');
    expect((await run(createDecryptStream(ids), empty)).length).toBe(0);
  });
});
