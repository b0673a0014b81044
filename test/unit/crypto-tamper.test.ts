import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  AgeError,
  createDecryptStream,
  createEncryptStream,
  generateX25519Identity,
  parseIdentity,
  parseRecipient,
} from '../../src/crypto/index.js';
import { encodeHeader } from '../../src/crypto/header.js';
import { wrapX25519 } from '../../src/crypto/x25519.js';

const CHUNK = 64 * 1024;
const SEALED = CHUNK + 16;

async function run(t: Transform, input: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from([input]),
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

const alice = generateX25519Identity();
const aliceId = parseIdentity(alice.identity);

async function encrypt(pt: Buffer): Promise<Buffer> {
  return run(createEncryptStream([alice.recipient]), pt);
}

async function decryptError(ct: Buffer, ids = [aliceId]): Promise<AgeError> {
  try {
    await run(createDecryptStream(ids), ct);
  } catch (err) {
    expect(err).toBeInstanceOf(AgeError);
    return err as AgeError;
  }
  throw new Error('decryption unexpectedly succeeded');
}

function headerLength(ct: Buffer): number {
  const macLine = ct.indexOf('\n--- ');
  return ct.indexOf(0x0a, macLine + 1) + 1;
}

function flip(buf: Buffer, index: number, bit = 0): Buffer {
  const out = Buffer.from(buf);
  out[index] ^= 1 << bit;
  return out;
}

/** Replaces the header text (keeping the payload) after applying `edit`. */
function editHeader(ct: Buffer, edit: (header: string) => string): Buffer {
  const h = headerLength(ct);
  return Buffer.concat([Buffer.from(edit(ct.toString('latin1', 0, h)), 'latin1'), ct.subarray(h)]);
}

function replaceChar(s: string, index: number): string {
  const c = s[index] === 'A' ? 'B' : 'A';
  return s.slice(0, index) + c + s.slice(index + 1);
}

describe('truncation', () => {
  it('rejects truncation at every structural point', async () => {
    const pt = randomBytes(2 * CHUNK + 1000);
    const ct = await encrypt(pt);
    const h = headerLength(ct);
    const cases: [string, number, AgeError['code']][] = [
      ['empty input', 0, 'TRUNCATED'],
      ['inside the version line', 10, 'TRUNCATED'],
      ['inside the stanza', 40, 'TRUNCATED'],
      ['inside the MAC line', h - 5, 'TRUNCATED'],
      ['right after the header', h, 'TRUNCATED'],
      ['inside the payload nonce', h + 7, 'TRUNCATED'],
      ['right after the nonce', h + 16, 'TRUNCATED'],
      ['after the first chunk', h + 16 + SEALED, 'TRUNCATED'],
      ['after the second chunk (final chunk missing)', h + 16 + 2 * SEALED, 'TRUNCATED'],
      ['a few bytes into the final chunk', h + 16 + 2 * SEALED + 5, 'TRUNCATED'],
      ['inside the final chunk', ct.length - 1, 'BAD_CHUNK'],
      ['inside the second chunk', h + 16 + SEALED + 500, 'BAD_CHUNK'],
    ];
    for (const [what, at, code] of cases) {
      const err = await decryptError(ct.subarray(0, at));
      expect(err.code, what).toBe(code);
    }
    const e = await decryptError(ct.subarray(0, h + 16 + 2 * SEALED));
    expect(e.message).toBe('ciphertext truncated: the final chunk is missing (payload ends after 2 full chunks)');
  });

  it('rejects a file whose final full chunk is cut off exactly at a chunk boundary', async () => {
    const ct = await encrypt(randomBytes(3 * CHUNK));
    const h = headerLength(ct);
    expect(ct.length).toBe(h + 16 + 3 * SEALED);
    expect((await decryptError(ct.subarray(0, h + 16 + 2 * SEALED))).code).toBe('TRUNCATED');
    expect((await decryptError(ct.subarray(0, h + 16 + SEALED))).code).toBe('TRUNCATED');
  });
});

describe('tampering', () => {
  it('detects a flipped bit anywhere in the payload (nonce, ciphertext, tag)', async () => {
    const ct = await encrypt(randomBytes(CHUNK + 300));
    const h = headerLength(ct);
    const positions: [string, number][] = [
      ['payload nonce', h + 3],
      ['first chunk ciphertext', h + 16 + 100],
      ['first chunk tag', h + 16 + CHUNK + 5],
      ['final chunk ciphertext', h + 16 + SEALED + 10],
      ['final chunk tag', ct.length - 1],
    ];
    for (const [what, pos] of positions) {
      const err = await decryptError(flip(ct, pos, 3));
      expect(err.code, what).toBe('BAD_CHUNK');
      expect(err.message).toMatch(/failed authentication/);
    }
  });

  it('detects header tampering', async () => {
    const ct = await encrypt(Buffer.from('secret plaintext must not leak'));
    const header = ct.toString('latin1', 0, headerLength(ct));
    const macAt = header.indexOf('--- ') + 4;
    const bodyAt = header.indexOf('\n', header.indexOf('-> X25519')) + 1;

    const badMac = await decryptError(editHeader(ct, (s) => replaceChar(s, macAt)));
    expect(badMac.code).toBe('BAD_MAC');
    expect(badMac.message).toBe('header MAC mismatch: wrong key or tampered header');

    // An extra (unknown, ignored) stanza is still covered by the MAC.
    const grease = await decryptError(editHeader(ct, (s) => s.replace('---', '-> grease-x y\nAAAA\n---')));
    expect(grease.code).toBe('BAD_MAC');

    // Changing the wrapped file key or the ephemeral share means no stanza unwraps.
    expect((await decryptError(editHeader(ct, (s) => replaceChar(s, bodyAt + 3)))).code).toBe('NO_MATCH');
    expect((await decryptError(editHeader(ct, (s) => replaceChar(s, s.indexOf('X25519 ') + 9)))).code).toBe('NO_MATCH');

    // A flipped bit in the version line.
    expect((await decryptError(flip(ct, 5, 1))).code).toBe('BAD_HEADER');
  });

  it('rejects trailing data after the final chunk', async () => {
    for (const n of [CHUNK, 2 * CHUNK]) {
      const ct = await encrypt(randomBytes(n));
      for (const extra of [1, 16, SEALED, SEALED + 1, 3 * SEALED]) {
        const err = await decryptError(Buffer.concat([ct, randomBytes(extra)]));
        expect(err.code, `${n}+${extra}`).toBe('TRAILING_DATA');
      }
    }
    // Bytes appended to a short final chunk break its authentication.
    const short = await encrypt(randomBytes(100));
    const err = await decryptError(Buffer.concat([short, Buffer.from('x')]));
    expect(err.code).toBe('BAD_CHUNK');
    expect(err.message).toMatch(/appended/);
  });

  it('rejects reordered chunks', async () => {
    const ct = await encrypt(randomBytes(3 * CHUNK + 10));
    const p = headerLength(ct) + 16;
    const c0 = ct.subarray(p, p + SEALED);
    const c1 = ct.subarray(p + SEALED, p + 2 * SEALED);
    const swapped = Buffer.concat([ct.subarray(0, p), c1, c0, ct.subarray(p + 2 * SEALED)]);
    expect(swapped.length).toBe(ct.length);
    const err = await decryptError(swapped);
    expect(err.code).toBe('BAD_CHUNK');
    expect(err.message).toMatch(/chunk #0/);
    // Dropping a middle chunk is also caught.
    expect((await decryptError(Buffer.concat([ct.subarray(0, p), c1, ct.subarray(p + 2 * SEALED)]))).code).toBe('BAD_CHUNK');
  });

  it('accepts a payload built independently from the spec, and rejects an empty final chunk after non-empty ones', async () => {
    // Reference STREAM construction written straight from the spec with node:crypto.
    const fileKey = randomBytes(16);
    const header = encodeHeader([wrapX25519(fileKey, parseRecipient(alice.recipient))], fileKey);
    const nonce = randomBytes(16);
    const key = Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
    const seal = (pt: Buffer, counter: number, last: boolean): Buffer => {
      const n = Buffer.alloc(12);
      n.writeUIntBE(counter, 5, 6);
      n[11] = last ? 1 : 0;
      const c = createCipheriv('chacha20-poly1305', key, n, { authTagLength: 16 });
      return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
    };
    const p0 = randomBytes(CHUNK);
    const p1 = randomBytes(77);
    const good = Buffer.concat([header, nonce, seal(p0, 0, false), seal(p1, 1, true)]);
    expect((await run(createDecryptStream([aliceId]), good)).equals(Buffer.concat([p0, p1]))).toBe(true);

    const emptyLast = Buffer.concat([header, nonce, seal(p0, 0, false), seal(Buffer.alloc(0), 1, true)]);
    const err = await decryptError(emptyLast);
    expect(err.code).toBe('BAD_CHUNK');
    expect(err.message).toMatch(/final chunk #1 is empty/);

    // A short chunk that is not marked last, followed by more data.
    const shortMiddle = Buffer.concat([header, nonce, seal(p1, 0, false), seal(p1, 1, true)]);
    expect((await decryptError(shortMiddle)).code).toBe('BAD_CHUNK');
    // The only chunk not marked last: the final chunk is missing.
    expect((await decryptError(Buffer.concat([header, nonce, seal(p0, 0, false)]))).code).toBe('TRUNCATED');
  });

  it('rejects the wrong identity with NO_MATCH', async () => {
    const ct = await run(createEncryptStream([alice.recipient, generateX25519Identity().recipient]), randomBytes(10));
    const bob = parseIdentity(generateX25519Identity().identity);
    const err = await decryptError(ct, [bob]);
    expect(err.code).toBe('NO_MATCH');
    expect(err.message).toMatch(/^no identity matched any of the 2 recipient stanzas \(X25519\)/);
    expect((await decryptError(ct, [{ type: 'scrypt', passphrase: 'pw' }])).code).toBe('NO_MATCH');
  });
});

describe('malformed headers', () => {
  it('rejects non-age input, other versions and armor with BAD_HEADER', async () => {
    const ct = await encrypt(Buffer.from('x'));
    const cases: [string, Buffer, RegExp][] = [
      ['random bytes', randomBytes(5000), /not an age-encrypted file/],
      ['gzip data', Buffer.from('1f8b0800000000000003', 'hex'), /not an age-encrypted file/],
      ['future version', editHeader(ct, (s) => s.replace('/v1', '/v2')), /unsupported age format version/],
      ['CRLF line endings', editHeader(ct, (s) => s.replace(/\n/g, '\r\n')), /CRLF/],
      ['armored file', Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n'), /armor/],
    ];
    for (const [what, input, msg] of cases) {
      const err = await decryptError(input);
      expect(err.code, what).toBe('BAD_HEADER');
      expect(err.message, what).toMatch(msg);
    }
  });

  it('rejects malformed stanzas and encodings', async () => {
    const ct = await encrypt(Buffer.from('x'));
    const edits: [string, (s: string) => string][] = [
      ['padded share', (s) => s.replace(/(-> X25519 \S+)/, '$1=')],
      ['padded body', (s) => s.replace(/(-> X25519 \S+\n)(\S+)/, '$1$2=')],
      ['padded MAC', (s) => s.replace(/(--- \S+)/, '$1=')],
      ['non-canonical share (unused bits set)', (s) => s.replace(/(-> X25519 \S{42})\S/, (_m, a: string) => a + 'B')],
      ['extra argument', (s) => s.replace(/(-> X25519 \S+)/, '$1 extra')],
      ['missing argument', (s) => s.replace(/-> X25519 \S+/, '-> X25519')],
      ['double space', (s) => s.replace('-> X25519 ', '-> X25519  ')],
      ['empty stanza line', (s) => s.replace('-> X25519 ', '->  X25519 ')],
      ['CRLF line endings', (s) => s.replace(/\n/g, '\r\n')],
      ['body line over 64 columns', (s) => s.replace(/(-> X25519 \S+\n)(\S+)/, (_m, a: string, b: string) => a + b + 'A'.repeat(64 - b.length + 4))],
      ['full-width last body line', (s) => s.replace(/(-> X25519 \S+\n)(\S+)/, (_m, a: string, b: string) => a + (b + 'AAAA').padEnd(64, 'A'))],
      ['no stanzas', (s) => s.replace(/-> X25519 \S+\n\S+\n/, '')],
      ['MAC without space', (s) => s.replace('--- ', '---')],
      ['short MAC', (s) => s.replace(/--- \S{4}/, '--- ')],
      ['unknown line', (s) => s.replace('---', 'hello\n---')],
      ['scrypt mixed with X25519', (s) => s.replace('---', '-> scrypt AAAAAAAAAAAAAAAAAAAAAA 10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n---')],
    ];
    for (const [what, edit] of edits) {
      const tampered = editHeader(ct, edit);
      expect(tampered.equals(ct), what).toBe(false);
      const err = await decryptError(tampered);
      expect(err.code, `${what}: ${err.message}`).toBe('BAD_HEADER');
    }
  });

  it('error messages never contain plaintext or key material', async () => {
    const secretText = 'TOP-SECRET-PLAINTEXT-MARKER';
    const ct = await encrypt(Buffer.from(secretText.repeat(10)));
    const secretPart = alice.identity.slice(16);
    const errs = [
      await decryptError(flip(ct, ct.length - 3)),
      await decryptError(ct.subarray(0, ct.length - 20)),
      await decryptError(ct, [parseIdentity(generateX25519Identity().identity)]),
      await decryptError(editHeader(ct, (s) => replaceChar(s, s.indexOf('--- ') + 4))),
    ];
    for (const e of errs) {
      expect(e.message).not.toContain(secretText);
      expect(e.message.toUpperCase()).not.toContain(secretPart.slice(0, 10));
    }
  });
});
