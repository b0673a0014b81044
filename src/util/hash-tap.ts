import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface Digest {
  size: number;
  sha256: string;
}

/**
 * Passes bytes through while hashing and counting them. With `expect`, the stream fails at its end
 * (before signalling completion downstream) when size or SHA-256 differ (only the size when `expect.sha256` is absent).
 */
export class HashTap extends Transform {
  private readonly hash = createHash('sha256');
  private size = 0;
  private result: Digest | undefined;

  constructor(private readonly expect?: { size: number; sha256?: string; what: string }) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = { size: this.size, sha256: this.hash.digest('hex') };
    const e = this.expect;
    if (e && e.size !== this.result.size) {
      cb(new Error(`${e.what}: size is ${this.result.size} bytes, the manifest says ${e.size}`));
    } else if (e && e.sha256 !== undefined && e.sha256 !== this.result.sha256) {
      cb(new Error(`${e.what}: SHA-256 is ${this.result.sha256}, the manifest says ${e.sha256}`));
    } else {
      cb();
    }
  }

  digest(): Digest {
    if (!this.result) throw new Error('HashTap: stream has not ended');
    return this.result;
  }
}
