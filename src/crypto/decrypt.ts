/** Decrypting Transform: parses and authenticates the header, then opens STREAM chunks. */
import { Transform, type TransformCallback } from 'node:stream';
import { AgeError } from './errors.js';
import {
  MAX_HEADER_SIZE,
  checkHeaderStart,
  findHeaderEnd,
  parseHeader,
  verifyHeaderMac,
  type ParsedHeader,
} from './header.js';
import type { Identity } from './keys.js';
import { DEFAULT_MAX_WORK_FACTOR, SCRYPT_TYPE, unwrapScrypt } from './scrypt.js';
import { PayloadDecryptor } from './stream.js';
import { X25519_TYPE, unwrapX25519, x25519Unwrapper, type X25519Unwrapper } from './x25519.js';

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

function checkIdentities(identities: Identity[]): void {
  if (!Array.isArray(identities) || identities.length === 0) {
    throw new AgeError('BAD_KEY', 'no identities: at least one identity or passphrase is required to decrypt');
  }
  for (const id of identities) {
    if (id?.type === 'x25519') {
      if (!Buffer.isBuffer(id.secretKey) || id.secretKey.length !== 32) {
        throw new AgeError('BAD_KEY', 'invalid X25519 identity: the secret key must be 32 bytes');
      }
    } else if (id?.type === 'scrypt') {
      if (typeof id.passphrase !== 'string' || id.passphrase.length === 0) {
        throw new AgeError('BAD_KEY', 'invalid passphrase identity: the passphrase must be a non-empty string');
      }
    } else {
      throw new AgeError('BAD_KEY', 'unsupported identity type (expected "x25519" or "scrypt")');
    }
  }
}

/** Finds the file key by trying every identity against every stanza, then checks the header MAC. */
async function unlockFileKey(header: ParsedHeader, identities: Identity[]): Promise<Buffer> {
  const { stanzas } = header;
  const hasScrypt = stanzas.some((s) => s.type === SCRYPT_TYPE);
  if (hasScrypt && stanzas.length !== 1) {
    throw new AgeError('BAD_HEADER', 'malformed age header: a passphrase (scrypt) stanza must be the only stanza');
  }
  const unwrappers = new Map<Identity, X25519Unwrapper>();
  let workFactorError: AgeError | null = null;
  let fileKey: Buffer | null = null;
  search: for (const id of identities) {
    for (const stanza of stanzas) {
      if (id.type === 'x25519' && stanza.type === X25519_TYPE) {
        let u = unwrappers.get(id);
        if (u === undefined) {
          u = x25519Unwrapper(id.secretKey);
          unwrappers.set(id, u);
        }
        fileKey = unwrapX25519(stanza, u);
      } else if (id.type === 'scrypt' && stanza.type === SCRYPT_TYPE) {
        try {
          fileKey = await unwrapScrypt(stanza, id.passphrase, id.maxWorkFactor ?? DEFAULT_MAX_WORK_FACTOR);
        } catch (err) {
          if (err instanceof AgeError && err.code === 'WORK_FACTOR') {
            workFactorError = err;
            continue;
          }
          throw err;
        }
      }
      if (fileKey !== null) break search;
    }
  }
  if (fileKey === null) {
    if (workFactorError !== null) throw workFactorError;
    const passphrases = identities.filter((i) => i.type === 'scrypt').length;
    if (hasScrypt && passphrases === 0) {
      throw new AgeError('NO_MATCH', 'the file is encrypted with a passphrase (scrypt), but no passphrase was provided');
    }
    if (hasScrypt) {
      throw new AgeError('NO_MATCH', `incorrect passphrase: none of the ${plural(passphrases, 'passphrase')} provided unlocks the file`);
    }
    const types = [...new Set(stanzas.map((s) => s.type))].join(', ');
    throw new AgeError(
      'NO_MATCH',
      `no identity matched any of the ${plural(stanzas.length, 'recipient stanza')} (${types}); ` +
        `tried ${plural(identities.length, 'identity', 'identities')}` +
        ': check that the file was encrypted to one of these identities',
    );
  }
  if (!verifyHeaderMac(header, fileKey)) {
    fileKey.fill(0);
    throw new AgeError('BAD_MAC', 'header MAC mismatch: wrong key or tampered header');
  }
  return fileKey;
}

class DecryptTransform extends Transform {
  private hdr: Buffer | null = Buffer.allocUnsafe(1024);
  private hdrLen = 0;
  private scanFrom = 0;
  private payload: PayloadDecryptor | null = null;
  private readonly sink = (b: Buffer): void => {
    this.push(b);
  };

  constructor(private readonly identities: Identity[]) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      if (this.payload !== null) {
        this.payload.write(chunk);
        cb();
        return;
      }
      this.appendHeader(chunk);
      const hdr = this.hdr as Buffer;
      checkHeaderStart(hdr, this.hdrLen);
      const { end, next } = findHeaderEnd(hdr, this.hdrLen, this.scanFrom);
      if (end < 0) {
        this.scanFrom = next;
        if (this.hdrLen > MAX_HEADER_SIZE) {
          throw new AgeError('BAD_HEADER', `malformed age header: no end-of-header ("---") line within ${MAX_HEADER_SIZE} bytes`);
        }
        cb();
        return;
      }
      const header = parseHeader(Buffer.from(hdr.subarray(0, end)));
      const rest = Buffer.from(hdr.subarray(end, this.hdrLen));
      this.hdr = null;
      unlockFileKey(header, this.identities).then(
        (fileKey) => {
          let err: unknown = null;
          try {
            this.payload = new PayloadDecryptor(fileKey, this.sink);
            fileKey.fill(0);
            if (rest.length > 0) this.payload.write(rest);
          } catch (e) {
            err = e;
          }
          cb(err as Error | null);
        },
        (e: unknown) => cb(e as Error),
      );
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (this.payload === null) {
        throw new AgeError(
          'TRUNCATED',
          this.hdrLen === 0 ? 'ciphertext truncated: the input is empty' : 'ciphertext truncated: it ends inside the age header',
        );
      }
      this.payload.end();
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  private appendHeader(chunk: Buffer): void {
    let hdr = this.hdr as Buffer;
    const need = this.hdrLen + chunk.length;
    if (need > hdr.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, hdr.length * 2));
      hdr.copy(grown, 0, 0, this.hdrLen);
      hdr = grown;
      this.hdr = grown;
    }
    chunk.copy(hdr, this.hdrLen);
    this.hdrLen = need;
  }
}

/** Decrypts with the given identities and/or passphrases; errors are AgeErrors. */
export function createDecryptStream(identities: Identity[]): Transform {
  checkIdentities(identities);
  return new DecryptTransform(identities);
}
