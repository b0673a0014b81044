import { describe, expect, it } from 'vitest';
import { createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { generateX25519Identity, parseRecipient } from '../../src/crypto/index.js';
import { encodeRecipient } from '../../src/crypto/keys.js';
import { isLowOrderPoint, wrapX25519 } from '../../src/crypto/x25519.js';
import { loadRecipients } from '../../src/config/keys.js';
import { parseConfig } from '../../src/sources/registry.js';
import { UsageError } from '../../src/util/errors.js';

const P = (1n << 255n) - 19n;
const le = (n: bigint) => {
  const b = Buffer.alloc(32);
  for (let i = 0; i < 32; i++, n >>= 8n) b[i] = Number(n & 0xffn);
  return b;
};
/** Every low-order u (libsodium's blocklist), each also with the top bit set (X25519 ignores it). */
const LOW = [0n, 1n, 325606250916557431795983626356110631294008115727848805560023387167927233504n, 39382357235489614581723060781553021112529911719440698176882885853963445705823n, P - 1n, P, P + 1n].flatMap((u) => [le(u), le(u + (1n << 255n))]);

/** X25519 with a random scalar: null when OpenSSL refuses or the result is all zero. */
function shared(u: Buffer): Buffer | null {
  const { privateKey } = generateKeyPairSync('x25519');
  try {
    const s = diffieHellman({ privateKey, publicKey: createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), u]), format: 'der', type: 'spki' }) });
    return s.every((b) => b === 0) ? null : s;
  } catch {
    return null;
  }
}

describe('low-order X25519 recipients', () => {
  it('the blocklist is right: each point gives no shared secret, a real key does', () => {
    for (const u of LOW) expect(shared(u), u.toString('hex')).toBeNull();
    const real = parseRecipient(generateX25519Identity().recipient);
    expect(shared(real)).not.toBeNull();
    expect(isLowOrderPoint(real)).toBe(false);
  });

  it('parseRecipient refuses every low-order point, as encryption would later', () => {
    for (const u of LOW) {
      expect(isLowOrderPoint(u)).toBe(true);
      expect(() => wrapX25519(Buffer.alloc(16), u)).toThrow(/low-order/);
      expect(() => parseRecipient(encodeRecipient(u)), u.toString('hex')).toThrow(/low-order X25519 point/);
    }
  });

  it('loadRecipients: a low-order encryption.recipients entry is bad configuration naming it (exit 2)', async () => {
    const zero = encodeRecipient(Buffer.alloc(32));
    const good = generateX25519Identity().recipient;
    const config = parseConfig(`store: {url: "file:///x"}\nencryption: {recipients: [${good}, ${zero}]}\nsources: {redis: {url: "redis://127.0.0.1"}}`);
    const err = await loadRecipients(config).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^encryption\.recipients\[1\]: invalid age recipient .*low-order X25519 point/);
  });
});
