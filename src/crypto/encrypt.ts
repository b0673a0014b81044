/** Encrypting Transform: emits the header, the payload nonce, then STREAM chunks. */
import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AgeError } from './errors.js';
import { encodeHeader, type Stanza } from './header.js';
import { parseRecipient } from './keys.js';
import { FILE_KEY_SIZE } from './primitives.js';
import { DEFAULT_LOG_N, checkLogN, wrapScrypt } from './scrypt.js';
import { PayloadEncryptor } from './stream.js';
import { wrapX25519 } from './x25519.js';

interface PreparedHeader {
  header: Buffer;
  fileKey: Buffer;
}

class EncryptTransform extends Transform {
  private enc: PayloadEncryptor | null = null;
  private prepared: PreparedHeader | Promise<PreparedHeader>;
  private readonly sink = (b: Buffer): void => {
    this.push(b);
  };

  constructor(prepared: PreparedHeader | Promise<PreparedHeader>) {
    super();
    this.prepared = prepared;
    // Errors surface through the stream once it is used; avoid an unhandled rejection meanwhile.
    if (prepared instanceof Promise) prepared.catch(() => undefined);
  }

  private begin(p: PreparedHeader): PayloadEncryptor {
    this.push(p.header);
    const enc = new PayloadEncryptor(p.fileKey, this.sink);
    p.fileKey.fill(0);
    this.enc = enc;
    return enc;
  }

  /** Runs `fn` with the payload encryptor, waiting for the header first if it is still being computed. */
  private withEncryptor(fn: (enc: PayloadEncryptor) => void, cb: TransformCallback): void {
    const run = (enc: PayloadEncryptor): void => {
      let err: unknown = null;
      try {
        fn(enc);
      } catch (e) {
        err = e;
      }
      cb(err as Error | null);
    };
    if (this.enc !== null) return run(this.enc);
    const p = this.prepared;
    if (!(p instanceof Promise)) return run(this.begin(p));
    p.then(
      (ready) => run(this.enc ?? this.begin(ready)),
      (e: unknown) => cb(e as Error),
    );
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.withEncryptor((enc) => enc.write(chunk), cb);
  }

  override _flush(cb: TransformCallback): void {
    this.withEncryptor((enc) => enc.end(), cb);
  }
}

/** Encrypts to one or more X25519 recipients (`age1…`). Throws AgeError BAD_KEY for a malformed recipient. */
export function createEncryptStream(recipients: string[]): Transform {
  if (!Array.isArray(recipients) || recipients.length === 0) {
    throw new AgeError('BAD_KEY', 'no recipients: at least one age1… recipient is required to encrypt');
  }
  const keys = recipients.map((r) => parseRecipient(r));
  const fileKey = randomBytes(FILE_KEY_SIZE);
  const stanzas: Stanza[] = keys.map((k) => wrapX25519(fileKey, k));
  return new EncryptTransform({ header: encodeHeader(stanzas, fileKey), fileKey });
}

/** Encrypts with a passphrase (scrypt stanza, N = 2^logN). The scrypt work runs off the main thread. */
export function createPassphraseEncryptStream(passphrase: string, logN: number = DEFAULT_LOG_N): Transform {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new AgeError('BAD_KEY', 'empty passphrase: a non-empty passphrase is required to encrypt');
  }
  checkLogN(logN);
  const fileKey = randomBytes(FILE_KEY_SIZE);
  const prepared = wrapScrypt(fileKey, passphrase, logN).then((stanza) => ({ header: encodeHeader([stanza], fileKey), fileKey }));
  return new EncryptTransform(prepared);
}
