/**
 * The age payload: a 16-byte nonce followed by STREAM-segmented
 * ChaCha20-Poly1305 over 64 KiB plaintext chunks.
 *
 *   payloadKey = HKDF-SHA256(ikm = fileKey, salt = nonce, info = "payload")
 *   chunk nonce = 11-byte big-endian counter || last flag (0x01 on the final chunk)
 *
 * Both directions hold back one full chunk, because a chunk can only be sealed
 * (or opened) once we know whether it is the last one. Chunks that are known not
 * to be last are processed straight out of the caller's buffer; only the tail of
 * each write is copied into a single preallocated chunk buffer.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { AgeError } from './errors.js';
import { TAG_SIZE, hkdf32 } from './primitives.js';

export const CHUNK_SIZE = 64 * 1024;
export const SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
export const PAYLOAD_NONCE_SIZE = 16;

/**
 * The payload key as a KeyObject, made once per stream: given raw bytes, every createCipheriv would build its own
 * (measured ~10 % of the encryption time). The raw bytes are wiped.
 */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): KeyObject {
  const raw = hkdf32(fileKey, nonce, 'payload');
  const key = createSecretKey(raw);
  raw.fill(0);
  return key;
}

export type Sink = (chunk: Buffer) => void;

/** 12-byte STREAM nonce with an in-place big-endian 88-bit counter. */
class ChunkNonce {
  readonly bytes = Buffer.alloc(12);
  index = 0;

  set last(v: boolean) {
    this.bytes[11] = v ? 1 : 0;
  }

  increment(): void {
    this.index++;
    for (let i = 10; i >= 0; i--) {
      this.bytes[i] = (this.bytes[i] + 1) & 0xff;
      if (this.bytes[i] !== 0) return;
    }
    throw new AgeError('BAD_CHUNK', 'STREAM chunk counter overflow');
  }
}

/** Encrypts a plaintext byte stream into an age payload (nonce + chunks). */
export class PayloadEncryptor {
  private readonly key: KeyObject;
  private readonly nonce = new ChunkNonce();
  private readonly buf = Buffer.allocUnsafe(CHUNK_SIZE);
  private len = 0;

  /** Emits the payload nonce through `sink` immediately. */
  constructor(
    fileKey: Uint8Array,
    private readonly sink: Sink,
    payloadNonce: Buffer = randomBytes(PAYLOAD_NONCE_SIZE),
  ) {
    this.key = payloadKey(fileKey, payloadNonce);
    sink(payloadNonce);
  }

  write(chunk: Buffer): void {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.len === CHUNK_SIZE) {
        // More input exists, so the held chunk is not the last one.
        this.seal(this.buf, false);
        this.len = 0;
      }
      if (this.len === 0 && n - off > CHUNK_SIZE) {
        // A whole chunk followed by more bytes of this write: seal in place.
        this.seal(chunk.subarray(off, off + CHUNK_SIZE), false);
        off += CHUNK_SIZE;
        continue;
      }
      const take = Math.min(CHUNK_SIZE - this.len, n - off);
      chunk.copy(this.buf, this.len, off, off + take);
      this.len += take;
      off += take;
    }
  }

  /** Seals the held-back data as the final chunk (an empty one only if nothing was written). */
  end(): void {
    this.seal(this.buf.subarray(0, this.len), true);
    this.len = 0;
  }

  private seal(plaintext: Buffer, last: boolean): void {
    this.nonce.last = last;
    const c = createCipheriv('chacha20-poly1305', this.key, this.nonce.bytes, { authTagLength: TAG_SIZE });
    const ct = c.update(plaintext);
    c.final();
    // Emitting ciphertext and tag as two buffers avoids copying 64 KiB per chunk.
    if (ct.length > 0) this.sink(ct);
    this.sink(c.getAuthTag());
    this.nonce.increment();
  }
}

/** Decrypts an age payload (nonce + chunks), emitting only authenticated plaintext. */
export class PayloadDecryptor {
  private key: KeyObject | null = null;
  private readonly nonceBuf = Buffer.alloc(PAYLOAD_NONCE_SIZE);
  private nonceLen = 0;
  private readonly nonce = new ChunkNonce();
  private readonly buf = Buffer.allocUnsafe(SEALED_CHUNK_SIZE);
  private len = 0;

  private readonly fileKey: Buffer;

  /** Copies `fileKey`; the caller may wipe its own copy. */
  constructor(
    fileKey: Uint8Array,
    private readonly sink: Sink,
  ) {
    this.fileKey = Buffer.from(fileKey);
  }

  write(chunk: Buffer): void {
    let off = 0;
    const n = chunk.length;
    if (this.key === null) {
      const take = Math.min(PAYLOAD_NONCE_SIZE - this.nonceLen, n);
      chunk.copy(this.nonceBuf, this.nonceLen, 0, take);
      this.nonceLen += take;
      off = take;
      if (this.nonceLen < PAYLOAD_NONCE_SIZE) return;
      this.key = payloadKey(this.fileKey, this.nonceBuf);
      this.fileKey.fill(0);
    }
    while (off < n) {
      if (this.len === SEALED_CHUNK_SIZE) {
        this.openNotLast(this.buf);
        this.len = 0;
      }
      if (this.len === 0 && n - off > SEALED_CHUNK_SIZE) {
        this.openNotLast(chunk.subarray(off, off + SEALED_CHUNK_SIZE));
        off += SEALED_CHUNK_SIZE;
        continue;
      }
      const take = Math.min(SEALED_CHUNK_SIZE - this.len, n - off);
      chunk.copy(this.buf, this.len, off, off + take);
      this.len += take;
      off += take;
    }
  }

  end(): void {
    if (this.key === null) {
      throw new AgeError('TRUNCATED', 'ciphertext truncated: it ends inside the payload nonce, right after the header');
    }
    const idx = this.nonce.index;
    if (this.len === 0) {
      // Only reachable when no payload bytes followed the nonce (otherwise a chunk is always held back).
      throw new AgeError('TRUNCATED', 'ciphertext truncated: the payload has no chunks (the final chunk is missing)');
    }
    if (this.len < TAG_SIZE) {
      throw new AgeError('TRUNCATED', `ciphertext truncated: payload chunk #${idx} is shorter than its authentication tag`);
    }
    const held = this.buf.subarray(0, this.len);
    const pt = this.open(held, true);
    if (pt !== null) {
      if (pt.length === 0 && idx > 0) {
        throw new AgeError('BAD_CHUNK', `invalid payload: the final chunk #${idx} is empty, which is only allowed for an empty file`);
      }
      if (pt.length > 0) this.sink(pt);
      return;
    }
    const notLast = this.len === SEALED_CHUNK_SIZE ? this.open(held, false) : null;
    if (notLast !== null) {
      // The chunk is authentic (as non-final chunk #idx): release it before failing, as age does
      // for a chunk followed by a truncation; the C2SP vectors stream_no_final_full and
      // stream_no_final_two_chunks_full check exactly this plaintext.
      this.sink(notLast);
      throw new AgeError('TRUNCATED', `ciphertext truncated: the final chunk is missing (payload ends after ${idx + 1} full chunks)`);
    }
    throw new AgeError(
      'BAD_CHUNK',
      `payload chunk #${idx} (the last one) failed authentication: the ciphertext is corrupted, truncated or has bytes appended`,
    );
  }

  private openNotLast(sealed: Buffer): void {
    const pt = this.open(sealed, false);
    if (pt !== null) {
      this.sink(pt);
      this.nonce.increment();
      return;
    }
    const idx = this.nonce.index;
    const last = this.open(sealed, true);
    if (last !== null) {
      // The chunk is authentic as the final one, so the data after it is what is wrong: release
      // its plaintext before failing, as age does (C2SP vectors stream_trailing_garbage_short/_long
      // and stream_two_final_chunks, _full and _second check exactly this plaintext).
      this.sink(last);
      throw new AgeError('TRAILING_DATA', `unexpected data after the final payload chunk #${idx}: the ciphertext has bytes appended`);
    }
    throw new AgeError('BAD_CHUNK', `payload chunk #${idx} failed authentication: the ciphertext is corrupted or chunks are reordered`);
  }

  private open(sealed: Buffer, last: boolean): Buffer | null {
    this.nonce.last = last;
    const ctLen = sealed.length - TAG_SIZE;
    const d = createDecipheriv('chacha20-poly1305', this.key!, this.nonce.bytes, { authTagLength: TAG_SIZE });
    d.setAuthTag(sealed.subarray(ctLen));
    const pt = d.update(sealed.subarray(0, ctLen));
    try {
      d.final();
    } catch {
      return null;
    }
    return pt;
  }
}
