/**
 * scrypt passphrase stanzas:
 *
 *   -> scrypt <base64 salt (16 bytes)> <logN>
 *   <base64 ChaCha20-Poly1305(scrypt(passphrase, label || salt, N=2^logN, r=8, p=1), zero nonce, fileKey)>
 */
import { randomBytes, scrypt } from 'node:crypto';
import { b64decode, b64encode } from './base64.js';
import { AgeError } from './errors.js';
import type { Stanza } from './header.js';
import { FILE_KEY_SIZE, TAG_SIZE, openZeroNonce, sealZeroNonce } from './primitives.js';

export const SCRYPT_TYPE = 'scrypt';
export const DEFAULT_LOG_N = 18;
export const DEFAULT_MAX_WORK_FACTOR = 22;
const LABEL = Buffer.from('age-encryption.org/v1/scrypt', 'latin1');
const SALT_SIZE = 16;
const R = 8;
const P = 1;

export function checkLogN(logN: number): void {
  if (!Number.isInteger(logN) || logN < 1 || logN > 30) {
    throw new AgeError('WORK_FACTOR', `invalid scrypt work factor ${String(logN)}: expected an integer log2(N) between 1 and 30`);
  }
}

export function scryptKey(passphrase: string, salt: Uint8Array, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  // OpenSSL needs 128*r*(N+2) bytes for V plus 128*r*p for B; leave a margin.
  const maxmem = 128 * R * (N + 2) + 128 * R * P + (16 << 20);
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(passphrase, 'utf8'), Buffer.concat([LABEL, salt]), 32, { N, r: R, p: P, maxmem }, (err, key) => {
      if (err) reject(new AgeError('WORK_FACTOR', `scrypt with work factor ${logN} failed: ${err.message}`, { cause: err }));
      else resolve(key);
    });
  });
}

export async function wrapScrypt(fileKey: Uint8Array, passphrase: string, logN: number): Promise<Stanza> {
  checkLogN(logN);
  const salt = randomBytes(SALT_SIZE);
  const key = await scryptKey(passphrase, salt, logN);
  return { type: SCRYPT_TYPE, args: [b64encode(salt), String(logN)], body: sealZeroNonce(key, fileKey) };
}

/** Parses and checks an scrypt stanza's parameters; throws BAD_HEADER / WORK_FACTOR. */
export function scryptParams(stanza: Stanza, maxWorkFactor: number): { salt: Buffer; logN: number } {
  if (stanza.args.length !== 2) throw new AgeError('BAD_HEADER', 'malformed scrypt stanza: expected exactly two arguments');
  const salt = b64decode(stanza.args[0]);
  if (salt === null || salt.length !== SALT_SIZE) {
    throw new AgeError('BAD_HEADER', 'malformed scrypt stanza: the salt is not 16 bytes of canonical base64');
  }
  if (!/^[1-9][0-9]{0,2}$/.test(stanza.args[1])) {
    throw new AgeError('BAD_HEADER', 'malformed scrypt stanza: the work factor is not a decimal number without leading zeroes');
  }
  if (stanza.body.length !== FILE_KEY_SIZE + TAG_SIZE) {
    throw new AgeError('BAD_HEADER', 'malformed scrypt stanza: the body is not 32 bytes');
  }
  const logN = Number(stanza.args[1]);
  if (logN > maxWorkFactor) {
    throw new AgeError(
      'WORK_FACTOR',
      `scrypt work factor ${logN} exceeds the maximum allowed ${maxWorkFactor}; ` +
        'if the file is trusted, raise maxWorkFactor for this passphrase identity',
    );
  }
  if (logN > 30) throw new AgeError('WORK_FACTOR', `scrypt work factor ${logN} is out of range`);
  return { salt, logN };
}

/** Returns the file key, or null when the passphrase is wrong. */
export async function unwrapScrypt(stanza: Stanza, passphrase: string, maxWorkFactor: number): Promise<Buffer | null> {
  const { salt, logN } = scryptParams(stanza, maxWorkFactor);
  const key = await scryptKey(passphrase, salt, logN);
  return openZeroNonce(key, stanza.body);
}
