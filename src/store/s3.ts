import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { partSizeFor, uploadStream } from './s3-upload.js';
import { ObjectLockedError, ObjectNotFoundError, type ObjectInfo, type ObjectStore, type PutOptions } from './types.js';
import { assertKey } from './file.js';
import type { StoreConfig } from '../config/schema.js';

type S3Options = StoreConfig['s3'];

/** An `s3://bucket/prefix` store: streaming multipart uploads, aborted on any failure. */
export class S3Store implements ObjectStore {
  readonly description: string;
  private readonly client: S3Client;
  private readonly prefix: string;
  private readonly checksums: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';

  constructor(
    readonly bucket: string,
    prefix: string,
    private readonly opts: S3Options,
    client?: S3Client,
  ) {
    this.prefix = prefix.replace(/^\/+/, '').replace(/\/*$/, prefix ? '/' : '');
    this.description = `s3://${bucket}/${this.prefix}${opts.endpoint ? ` at ${opts.endpoint}` : ''}`;
    const idleMs = (opts.timeoutSeconds ?? 120) * 1000;
    this.checksums = opts.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
    const config: S3ClientConfig = {
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      maxAttempts: opts.maxAttempts,
      retryMode: 'standard',
      requestChecksumCalculation: this.checksums,
      responseChecksumValidation: this.checksums,
      // Without these an endpoint that accepts a connection and then goes silent (or stops reading) hangs the
      // request, and with it the backup and its lock, forever. Timed-out requests are retried like other
      // transient errors (maxAttempts).
      requestHandler: { connectionTimeout: Math.min(10_000, idleMs), socketTimeout: idleMs },
    };
    this.client = client ?? new S3Client(config);
    // Every SDK error says which operation on which object at which endpoint failed (the SDK's own says none of it).
    const where = opts.endpoint ?? `https://s3.${opts.region}.amazonaws.com`;
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          throw withS3Context(err, String(context.commandName ?? 'request').replace(/Command$/, ''), args.input as { Bucket?: string; Key?: string; Prefix?: string }, where);
        }
      },
      { step: 'initialize', name: 'gushenDrErrorContext', override: true },
    );
  }

  /** Whether the bucket has Object Lock enabled (GetObjectLockConfiguration); for `gushen-dr check`. */
  async objectLockEnabled(): Promise<boolean> {
    try {
      const res = await this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.bucket }));
      return res.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
    } catch (err) {
      if ((err as { name?: string }).name === 'ObjectLockConfigurationNotFoundError') return false;
      throw err;
    }
  }

  private k(key: string): string {
    assertKey(key);
    return `${this.prefix}${key}`;
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    const lock = opts.retain ? this.opts.objectLock : undefined;
    return uploadStream(body, {
      client: this.client,
      bucket: this.bucket,
      key: this.k(key),
      partSize: partSizeFor(this.opts.partSizeMiB, opts.sizeHint),
      queueSize: this.opts.queueSize,
      checksums: this.checksums,
      params: lock ? { ObjectLockMode: lock.mode, ObjectLockRetainUntilDate: new Date(Date.now() + lock.days * 86_400_000) } : undefined,
      signal: opts.signal,
      onProgress: opts.onProgress,
    });
  }

  async get(key: string): Promise<Readable> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return res.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(key, this.description);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return { key, size: res.ContentLength ?? 0, lastModified: res.LastModified ?? new Date(0) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.prefix}${prefix}`, ContinuationToken: token }),
      );
      for (const o of res.Contents ?? []) {
        if (!o.Key) continue;
        out.push({ key: o.Key.slice(this.prefix.length), size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    if (this.opts.objectLock) {
      const res = await this.client
        .send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }))
        .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
      if (!res) return;
      const until = res.ObjectLockRetainUntilDate;
      if (until && until.getTime() > Date.now()) throw new ObjectLockedError(key, until);
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * `s3 PutObject s3://bucket/key at http://endpoint: AccessDenied: Access Denied`. The error object stays the SDK's
 * (its name and $metadata still tell callers what happened); an abort is left alone.
 */
function withS3Context(err: unknown, op: string, input: { Bucket?: string; Key?: string; Prefix?: string } | undefined, endpoint: string): unknown {
  if (!(err instanceof Error) || err.name === 'AbortError' || err.message.startsWith('s3 ')) return err;
  const object = `s3://${input?.Bucket ?? '?'}/${input?.Key ?? input?.Prefix ?? ''}`;
  const code = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const http = status && (!err.message || err.message === 'UnknownError') ? ` (HTTP ${status})` : '';
  err.message = `s3 ${op} ${object} at ${endpoint}: ${code}${err.message || 'failed'}${http}`;
  return err;
}
