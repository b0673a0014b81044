/**
 * X25519 recipient stanzas:
 *
 *   -> X25519 <base64 ephemeral share>
 *   <base64 ChaCha20-Poly1305(wrapKey, zero nonce, fileKey)>
 *
 * wrapKey = HKDF-SHA256(ikm = X25519(eph, recipient), salt = share || recipient,
 *                       info = "age-encryption.org/v1/X25519")
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { b64decode, b64encode } from './base64.js';
import { AgeError } from './errors.js';
import type { Stanza } from './header.js';
import { FILE_KEY_SIZE, TAG_SIZE, hkdf32, openZeroNonce, sealZeroNonce } from './primitives.js';

export const X25519_TYPE = 'X25519';
const X25519_INFO = 'age-encryption.org/v1/X25519';
const KEY_SIZE = 32;
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/**
 * The X25519 public keys (u-coordinates, little-endian) of low order: 0, 1, the two points of order 8, p-1, and the
 * non-canonical p and p+1 (libsodium's blocklist; test/unit/crypto-low-order.test.ts shows each gives an all-zero
 * shared secret). X25519 ignores the top bit, so each also stands for itself with that bit set.
 */
const LOW_ORDER_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => Buffer.from(h, 'hex'));

/** True for a low-order X25519 public key: nothing can be encrypted to it (the shared secret is all zero). */
export function isLowOrderPoint(u: Uint8Array): boolean {
  if (u.length !== KEY_SIZE) return false;
  const masked = Buffer.from(u);
  masked[KEY_SIZE - 1] &= 0x7f;
  return LOW_ORDER_POINTS.some((p) => p.equals(masked));
}

export function privateKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== KEY_SIZE) throw new Error('X25519 private key must be 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== KEY_SIZE) throw new Error('X25519 public key must be 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - KEY_SIZE));
}

export function rawPrivateKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  return Buffer.from(der.subarray(der.length - KEY_SIZE));
}

/** The public key (raw 32 bytes) for a raw 32-byte secret key. */
export function publicFromSecret(secret: Uint8Array): Buffer {
  return rawPublicKey(createPublicKey(privateKeyFromRaw(secret)));
}

export function generateRawKeyPair(): { secretKey: Buffer; publicKey: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { secretKey: rawPrivateKey(privateKey), publicKey: rawPublicKey(publicKey) };
}

/** X25519(priv, pub), or null for an all-zero (low-order) result, which OpenSSL may also report by throwing. */
function sharedSecret(priv: KeyObject, pub: KeyObject): Buffer | null {
  let s: Buffer;
  try {
    s = diffieHellman({ privateKey: priv, publicKey: pub });
  } catch {
    return null;
  }
  let acc = 0;
  for (let i = 0; i < s.length; i++) acc |= s[i];
  return acc === 0 ? null : s;
}

export function wrapX25519(fileKey: Uint8Array, recipient: Uint8Array): Stanza {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const share = rawPublicKey(publicKey);
  const shared = sharedSecret(privateKey, publicKeyFromRaw(recipient));
  if (shared === null) {
    throw new AgeError('BAD_KEY', 'invalid X25519 recipient: it is a low-order point (all-zero shared secret)');
  }
  const wrapKey = hkdf32(shared, Buffer.concat([share, recipient]), X25519_INFO);
  return { type: X25519_TYPE, args: [b64encode(share)], body: sealZeroNonce(wrapKey, fileKey) };
}

/** An X25519 identity prepared for unwrapping many stanzas. */
export interface X25519Unwrapper {
  privateKey: KeyObject;
  publicKey: Buffer;
}

export function x25519Unwrapper(secretKey: Uint8Array): X25519Unwrapper {
  const privateKey = privateKeyFromRaw(secretKey);
  return { privateKey, publicKey: rawPublicKey(createPublicKey(privateKey)) };
}

/**
 * Tries to unwrap the file key from an X25519 stanza. Returns null when the
 * stanza is for someone else; throws BAD_HEADER when it is malformed.
 */
export function unwrapX25519(stanza: Stanza, id: X25519Unwrapper): Buffer | null {
  if (stanza.args.length !== 1) throw new AgeError('BAD_HEADER', 'malformed X25519 stanza: expected exactly one argument');
  const share = b64decode(stanza.args[0]);
  if (share === null || share.length !== KEY_SIZE) {
    throw new AgeError('BAD_HEADER', 'malformed X25519 stanza: the ephemeral share is not 32 bytes of canonical base64');
  }
  if (stanza.body.length !== FILE_KEY_SIZE + TAG_SIZE) {
    throw new AgeError('BAD_HEADER', 'malformed X25519 stanza: the body is not 32 bytes');
  }
  const shared = sharedSecret(id.privateKey, publicKeyFromRaw(share));
  if (shared === null) throw new AgeError('BAD_HEADER', 'malformed X25519 stanza: the ephemeral share is a low-order point');
  const wrapKey = hkdf32(shared, Buffer.concat([share, id.publicKey]), X25519_INFO);
  return openZeroNonce(wrapKey, stanza.body);
}
