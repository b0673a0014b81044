/**
 * The RDB validator: a Transform passing an RDB stream through unchanged while the parser (rdb-parser.ts) walks
 * it, then the checks over the whole file (CRC-64 trailer, RESIZEDB hints, nothing after the end) and the
 * summary of what it held (versions, keys and expires per database, AUX fields, function libraries).
 */
import { createReadStream } from 'node:fs';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Crc64 } from './rdb-crc64.js';
import { RdbFormatError, RdbParser } from './rdb-parser.js';

const EMPTY = Buffer.alloc(0);

/** The oldest Redis release that can load a given RDB version (for choosing a redis-server to restore with). */
export function minRedisForRdbVersion(v: number): string {
  if (v <= 6) return '2.6';
  if (v <= 7) return '3.2';
  if (v <= 8) return '4.0';
  if (v <= 9) return '5.0';
  if (v <= 10) return '7.0';
  if (v <= 11) return '7.2';
  return '7.4';
}

export interface RdbDatabase {
  db: number;
  keys: number;
  /** Keys with an expire time. */
  expires: number;
  /** Keys whose expire time is before `expiredBefore` (0 when no reference time was given). */
  expired: number;
}

export interface RdbSummary {
  rdbVersion: number;
  /** The `redis-ver` AUX field. */
  redisVersion?: string;
  databases: RdbDatabase[];
  checksum: 'ok' | 'disabled';
  /** Bytes in the file. */
  size: number;
  /** Small AUX fields (redis-ver, redis-bits, ctime, used-mem, aof-base, repl-id, ...). */
  aux: Record<string, string>;
  /** FUNCTION2 libraries stored in the file. */
  functions: number;
}

export interface RdbValidatorOptions {
  /** Count, per database, the keys whose absolute expire time (ms since the epoch) is before this. */
  expiredBefore?: number;
}

/**
 * Passes an RDB stream through unchanged while validating it. Fails the stream (before it ends) when
 * the file is not a complete, well-formed RDB whose CRC trailer matches. Memory stays bounded.
 */
export class RdbValidator extends Transform {
  private readonly parser: RdbParser;
  private readonly crc = new Crc64();
  private tail: Buffer = EMPTY;
  private size = 0;
  private result: RdbSummary | undefined;

  constructor(opts: RdbValidatorOptions = {}) {
    super({ highWaterMark: 1 << 20 });
    this.parser = new RdbParser(opts.expiredBefore);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.size += chunk.length;
      this.crcFeed(chunk);
      this.parser.feed(chunk);
      if (this.parser.trailingBytes > 0) {
        throw new RdbFormatError(`unexpected data after the end of the RDB (offset ${this.size - this.parser.trailingBytes})`, this.size - this.parser.trailingBytes);
      }
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.result = this.finish();
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }

  /** What the stream held; available once it has ended without error. */
  summary(): RdbSummary {
    if (!this.result) throw new Error('RdbValidator: the stream has not ended successfully');
    return this.result;
  }

  /** Hold back the last 8 bytes: the CRC covers everything before them. */
  private crcFeed(chunk: Buffer): void {
    const total = this.tail.length + chunk.length;
    if (total <= 8) {
      this.tail = Buffer.concat([this.tail, chunk]);
      return;
    }
    const emit = total - 8;
    const fromTail = Math.min(this.tail.length, emit);
    if (fromTail > 0) this.crc.update(this.tail, 0, fromTail);
    const fromChunk = emit - fromTail;
    this.crc.update(chunk, 0, fromChunk);
    this.tail = Buffer.concat([this.tail.subarray(fromTail), chunk.subarray(fromChunk)]);
  }

  private finish(): RdbSummary {
    if (this.size === 0) throw new RdbFormatError('empty file: no RDB data', 0);
    const p = this.parser;
    p.end();
    if (p.trailingBytes > 0) {
      throw new RdbFormatError(`unexpected data after the end of the RDB (offset ${this.size - p.trailingBytes})`, this.size - p.trailingBytes);
    }
    let checksum: RdbSummary['checksum'] = 'disabled';
    if (p.version >= 5) {
      const stored = p.checksumBytes;
      if (!stored || this.tail.length !== 8 || !stored.equals(this.tail)) throw new Error('RdbValidator: internal error locating the checksum');
      if (!stored.equals(Buffer.alloc(8))) {
        if (!this.crc.equalsLE(stored)) {
          throw new RdbFormatError(
            `CRC64 mismatch: the file says ${Buffer.from(stored).reverse().toString('hex')}, its content hashes to ${this.crc.digest().toString(16).padStart(16, '0')}`,
            p.eofOffset + 1,
          );
        }
        checksum = 'ok';
      }
    }
    const databases: RdbDatabase[] = [];
    for (const d of p.databases) {
      if (d.resizeKeys !== undefined && d.resizeKeys !== d.keys) {
        throw new RdbFormatError(`database ${d.db}: RESIZEDB announces ${d.resizeKeys} keys but the file holds ${d.keys}`);
      }
      if (d.resizeExpires !== undefined && d.resizeExpires !== d.expires) {
        throw new RdbFormatError(`database ${d.db}: RESIZEDB announces ${d.resizeExpires} keys with an expire time but the file holds ${d.expires}`);
      }
      databases.push({ db: d.db, keys: d.keys, expires: d.expires, expired: d.expired });
    }
    return {
      rdbVersion: p.version,
      redisVersion: p.aux['redis-ver'],
      databases,
      checksum,
      size: this.size,
      aux: { ...p.aux },
      functions: p.functions,
    };
  }
}

/** Validates an RDB file on disk; throws an RdbFormatError saying what is wrong and where. */
export async function validateRdbFile(path: string, opts: RdbValidatorOptions = {}): Promise<RdbSummary> {
  const v = new RdbValidator(opts);
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(_chunk, _enc, cb) {
      cb();
    },
  });
  try {
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), v, sink);
  } catch (err) {
    if (err instanceof RdbFormatError) throw new RdbFormatError(`invalid RDB file ${path}: ${err.message}`, err.offset);
    throw err;
  }
  return v.summary();
}

/** Total keys over all databases. */
export function totalKeys(s: Pick<RdbSummary, 'databases'>): number {
  return s.databases.reduce((n, d) => n + d.keys, 0);
}
