/**
 * Ed25519 keys and signatures for manifests, on node:crypto. The formats are the ones OpenSSL reads, so that an
 * operator can check a signature without gushen-dr (`openssl pkeyutl -verify -pubin -inkey signing.pub -rawin …`):
 *
 *   private key   PKCS#8 PEM (label `PRIVATE KEY`), as `openssl genpkey -algorithm ed25519` writes it
 *   public key    SubjectPublicKeyInfo PEM (label `PUBLIC KEY`), as `openssl pkey -pubout` writes it;
 *                 also accepted on one line as the PEM's base64 body (`MCowBQYDK2VwAyEA…`, 60 characters)
 *   signature     the raw 64-byte Ed25519 signature (RFC 8032) of the signed bytes
 *   fingerprint   `ed25519:` and the first 16 hex digits of the SHA-256 of the public key's DER
 *                 (`openssl pkey -pubin -in signing.pub -outform DER | sha256sum | cut -c1-16`)
 *
 * Error messages never contain key material.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

export const ED25519_SIGNATURE_BYTES = 64;

/** PEM armour lines: `-----BEGIN <label>-----` and `-----END <label>-----` (RFC 7468). */
const PUBLIC_LABEL = 'PUBLIC KEY';
const PRIVATE_LABEL = 'PRIVATE KEY';
const pemLine = (edge: 'BEGIN' | 'END', label: string) => `-----${edge} ${label}-----`;

export interface SigningPublicKey {
  key: KeyObject;
  /** `ed25519:<16 hex>`: names the key in messages and logs. */
  fingerprint: string;
  /** The DER (SPKI) bytes, base64: the one-line form. */
  spki: string;
}

export interface SigningKeyPair {
  privateKey: KeyObject;
  publicKey: SigningPublicKey;
}

/** A new key pair; `privatePem` is the only copy of the private key. */
export function generateSigningKeyPair(): { privatePem: string; publicPem: string; publicKey: SigningPublicKey } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const pub = describePublicKey(publicKey);
  return { privatePem, publicPem: formatPublicKeyPem(pub), publicKey: pub };
}

function describePublicKey(key: KeyObject): SigningPublicKey {
  const der = key.export({ type: 'spki', format: 'der' });
  return { key, fingerprint: `ed25519:${createHash('sha256').update(der).digest('hex').slice(0, 16)}`, spki: der.toString('base64') };
}

export function formatPublicKeyPem(pub: SigningPublicKey): string {
  return `${pemLine('BEGIN', PUBLIC_LABEL)}\n${pub.spki}\n${pemLine('END', PUBLIC_LABEL)}\n`;
}

/** Parses a PKCS#8 PEM Ed25519 private key (unencrypted). Throws an Error that says what is wrong, never the key. */
export function parseSigningPrivateKey(pem: string): SigningKeyPair {
  if (!pem.split(/\r?\n/).some((l) => l.trim() === pemLine('BEGIN', PRIVATE_LABEL))) {
    throw new Error(`expected an unencrypted PKCS#8 PEM private key (${pemLine('BEGIN', PRIVATE_LABEL)}), as gushen-dr keygen --signing or openssl genpkey -algorithm ed25519 write it`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error('the PEM private key does not parse');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 key, found ${key.asymmetricKeyType ?? 'another type'}`);
  return { privateKey: key, publicKey: describePublicKey(createPublicKey(key)) };
}

const ONE_LINE_RE = /^[A-Za-z0-9+/]+={0,2}$/;

function publicKeyFromDer(der: Buffer): SigningPublicKey {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw new Error('not a public key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 public key, found ${key.asymmetricKeyType ?? 'another type'}`);
  return describePublicKey(key);
}

/** One public key: a PEM block or its one-line base64 body. */
export function parseSigningPublicKey(text: string): SigningPublicKey {
  const keys = parseSigningPublicKeys(text);
  if (keys.length !== 1) throw new Error(`expected one public key, found ${keys.length}`);
  return keys[0];
}

/**
 * Every public key in a text: PEM blocks (label `PUBLIC KEY`) and one-line
 * base64 bodies; blank lines and `#` comments outside blocks are ignored. Errors name the line.
 */
export function parseSigningPublicKeys(text: string): SigningPublicKey[] {
  const out: SigningPublicKey[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    const at = `line ${i + 1}`;
    try {
      if (line === pemLine('BEGIN', PUBLIC_LABEL)) {
        const body: string[] = [];
        let j = i + 1;
        for (; j < lines.length && lines[j].trim() !== pemLine('END', PUBLIC_LABEL); j++) body.push(lines[j].trim());
        if (j === lines.length) throw new Error(`PEM block without ${pemLine('END', PUBLIC_LABEL)}`);
        const b64 = body.join('');
        if (!ONE_LINE_RE.test(b64)) throw new Error('the PEM block is not base64');
        out.push(publicKeyFromDer(Buffer.from(b64, 'base64')));
        i = j;
      } else if (ONE_LINE_RE.test(line)) {
        out.push(publicKeyFromDer(Buffer.from(line, 'base64')));
      } else {
        throw new Error(`expected a PEM public key (${pemLine('BEGIN', PUBLIC_LABEL)}) or its one-line base64 body`);
      }
    } catch (err) {
      throw new Error(`${at}: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}

export function signBytes(bytes: Buffer, privateKey: KeyObject): Buffer {
  return sign(null, bytes, privateKey);
}

/** The first key whose signature over `bytes` verifies, if any. */
export function verifyingKey(bytes: Buffer, signature: Buffer, keys: readonly SigningPublicKey[]): SigningPublicKey | undefined {
  if (signature.length !== ED25519_SIGNATURE_BYTES) return undefined;
  return keys.find((k) => verify(null, bytes, k.key, signature));
}
