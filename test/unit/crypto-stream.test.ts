import { execFileSync } from 'node:child_process';
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

const HAVE_AGE = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v age && command -v age-keygen'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

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

  it.skipIf(!HAVE_AGE)(`decrypts files produced by the age CLI${HAVE_AGE ? '' : ' (skipped: age is not installed)'}`, async () => {
    // Keys and ciphertexts are made at run time by the reference tools: no key is committed.
    const keygen = execFileSync('age-keygen', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const recipient = /^# public key: (age1\S+)$/m.exec(keygen)![1];
    const other = generateX25519Identity().recipient;
    const twoRecipients = execFileSync('age', ['-r', recipient, '-r', other], { input: 'hello from age 1.1.1\n' });
    const empty = execFileSync('age', ['-r', recipient], { input: '' });
    const ids: Identity[] = parseIdentityFile(keygen);
    expect((await run(createDecryptStream(ids), twoRecipients)).toString()).toBe('hello from age 1.1.1\n');
    expect((await run(createDecryptStream(ids), empty)).length).toBe(0);
  });
});
