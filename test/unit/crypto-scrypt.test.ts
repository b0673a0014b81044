import { randomBytes } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  AgeError,
  createDecryptStream,
  createEncryptStream,
  createPassphraseEncryptStream,
  generateX25519Identity,
  parseIdentity,
  type Identity,
} from '../../src/crypto/index.js';

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

async function decryptError(ct: Buffer, ids: Identity[]): Promise<AgeError> {
  try {
    await run(createDecryptStream(ids), ct);
  } catch (err) {
    expect(err).toBeInstanceOf(AgeError);
    return err as AgeError;
  }
  throw new Error('decryption unexpectedly succeeded');
}

function header(ct: Buffer): string {
  const macLine = ct.indexOf('\n--- ');
  return ct.toString('latin1', 0, ct.indexOf(0x0a, macLine + 1) + 1);
}

const PASS = 'correct horse battery staple ✓';

describe('scrypt passphrase encryption', () => {
  it('round-trips with a small work factor, with the spec stanza layout', async () => {
    const pt = randomBytes(70_000);
    const ct = await run(createPassphraseEncryptStream(PASS, 10), pt);
    expect(header(ct)).toMatch(/^age-encryption\.org\/v1\n-> scrypt [A-Za-z0-9+/]{22} 10\n[A-Za-z0-9+/]{43}\n--- [A-Za-z0-9+/]{43}\n$/);
    expect((await run(createDecryptStream([{ type: 'scrypt', passphrase: PASS }]), ct)).equals(pt)).toBe(true);
    // Mixed identity lists work too: the X25519 identity is skipped.
    const x = parseIdentity(generateX25519Identity().identity);
    expect((await run(createDecryptStream([x, { type: 'scrypt', passphrase: 'nope' }, { type: 'scrypt', passphrase: PASS }]), ct)).equals(pt)).toBe(
      true,
    );
  });

  it('round-trips an empty plaintext', async () => {
    const ct = await run(createPassphraseEncryptStream(PASS, 8), Buffer.alloc(0));
    expect((await run(createDecryptStream([{ type: 'scrypt', passphrase: PASS }]), ct)).length).toBe(0);
  });

  it('rejects a wrong passphrase, a missing passphrase and a too-large work factor', async () => {
    const ct = await run(createPassphraseEncryptStream(PASS, 12), Buffer.from('data'));
    const wrong = await decryptError(ct, [{ type: 'scrypt', passphrase: PASS + ' ' }]);
    expect(wrong.code).toBe('NO_MATCH');
    expect(wrong.message).toMatch(/incorrect passphrase/);
    expect(wrong.message).not.toContain(PASS);

    const none = await decryptError(ct, [parseIdentity(generateX25519Identity().identity)]);
    expect(none.code).toBe('NO_MATCH');
    expect(none.message).toMatch(/passphrase/);

    const wf = await decryptError(ct, [{ type: 'scrypt', passphrase: PASS, maxWorkFactor: 11 }]);
    expect(wf.code).toBe('WORK_FACTOR');
    expect(wf.message).toMatch(/work factor 12 exceeds the maximum allowed 11/);
    // The default maximum is 22: a file claiming logN 23 is refused without running scrypt.
    const huge = Buffer.from(ct.toString('latin1').replace(/^(-> scrypt \S+) 12$/m, '$1 23'), 'latin1');
    expect((await decryptError(huge, [{ type: 'scrypt', passphrase: PASS }])).code).toBe('WORK_FACTOR');
    const leadingZero = Buffer.from(ct.toString('latin1').replace(/^(-> scrypt \S+) 12$/m, '$1 012'), 'latin1');
    expect((await decryptError(leadingZero, [{ type: 'scrypt', passphrase: PASS }])).code).toBe('BAD_HEADER');
  });

  it('refuses an scrypt stanza that is not alone, even for X25519 identities', async () => {
    const alice = generateX25519Identity();
    const ct = await run(createEncryptStream([alice.recipient]), Buffer.from('data'));
    const scrypt = header(await run(createPassphraseEncryptStream(PASS, 4), Buffer.alloc(0))).split('\n').slice(1, 3).join('\n');
    const mixed = Buffer.from(ct.toString('latin1').replace('---', scrypt + '\n---'), 'latin1');
    const err = await decryptError(mixed, [parseIdentity(alice.identity)]);
    expect(err.code).toBe('BAD_HEADER');
    expect(err.message).toMatch(/only stanza/);
  });

  it('validates arguments synchronously', () => {
    const codeOf = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        return (err as AgeError).code;
      }
      return undefined;
    };
    expect(codeOf(() => createPassphraseEncryptStream(''))).toBe('BAD_KEY');
    expect(codeOf(() => createPassphraseEncryptStream('pw', 0))).toBe('WORK_FACTOR');
    expect(codeOf(() => createPassphraseEncryptStream('pw', 31))).toBe('WORK_FACTOR');
    expect(codeOf(() => createPassphraseEncryptStream('pw', 10.5))).toBe('WORK_FACTOR');
    expect(codeOf(() => createEncryptStream([]))).toBe('BAD_KEY');
    expect(codeOf(() => createEncryptStream(['age1notarecipient']))).toBe('BAD_KEY');
    expect(codeOf(() => createDecryptStream([]))).toBe('BAD_KEY');
    expect(codeOf(() => createDecryptStream([{ type: 'scrypt', passphrase: '' }]))).toBe('BAD_KEY');
  });
});
