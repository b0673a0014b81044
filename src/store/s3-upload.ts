import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';

/** S3 allows at most this many parts in one multipart upload. */
const MAX_PARTS = 10_000;
const MiB = 1024 * 1024;

/**
 * The configured part size, raised (to whole MiB) when a stream of `sizeHint` bytes would need more than 9,000
 * of them: the margin covers compression and encryption overhead on incompressible data and a low estimate.
 */
export function partSizeFor(configuredMiB: number, sizeHint?: number): number {
  const needed = sizeHint ? Math.ceil(sizeHint / (MAX_PARTS * 0.9) / MiB) : 0;
  return Math.min(5120, Math.max(configuredMiB, needed)) * MiB;
}

export interface StreamUpload {
  client: S3Client;
  bucket: string;
  key: string;
  partSize: number;
  /** Parts uploading at once. One more part buffer is being filled meanwhile. */
  queueSize: number;
  /** Whether the client sends flexible checksums (then the multipart upload declares CRC32, as the SDK requires). */
  checksums: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** Extra PutObject/CreateMultipartUpload parameters (Object Lock). */
  params?: { ObjectLockMode?: 'GOVERNANCE' | 'COMPLIANCE'; ObjectLockRetainUntilDate?: Date };
  signal?: AbortSignal;
  onProgress?: (uploadedBytes: number) => void;
}

/**
 * Streams `body` to S3 with at most queueSize + 1 part buffers, allocated once and reused for every part, so
 * memory is bounded by the part size whatever the stream's length (lib-storage concatenates a fresh buffer per
 * part and keeps the chunks it was made from, which the GC frees late). A body shorter than one part is sent
 * with one PutObject. On any failure the multipart upload is aborted; the first error is thrown, the abort's
 * failure (if any) as its cause. Every request is retried by the client (its Body is a Buffer, so replayable).
 */
export async function uploadStream(body: Readable, o: StreamUpload): Promise<{ size: number }> {
  const pool: Buffer[] = [];
  const take = () => pool.pop() ?? Buffer.allocUnsafeSlow(o.partSize);
  const stop = new AbortController();
  const onAbort = () => stop.abort(o.signal?.reason);
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  const send = { abortSignal: stop.signal };

  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  let uploadId: string | undefined;
  let partNumber = 0;
  let size = 0;
  let uploaded = 0;

  const startPart = async (buf: Buffer, length: number): Promise<void> => {
    if (partNumber === MAX_PARTS) {
      throw new Error(
        `the stream is larger than ${MAX_PARTS} parts of ${o.partSize / MiB} MiB (S3's limit); raise store.s3.partSizeMiB`,
      );
    }
    uploadId ??= await createUpload(o, send);
    const n = ++partNumber;
    const part = o.client
      .send(new UploadPartCommand({ Bucket: o.bucket, Key: o.key, UploadId: uploadId, PartNumber: n, Body: buf.subarray(0, length), ContentLength: length }), send)
      .then((res) => {
        if (!res.ETag) throw new Error(`S3 returned no ETag for part ${n} of ${o.key}`);
        parts.push({
          PartNumber: n,
          ETag: res.ETag,
          ...(res.ChecksumCRC32 && { ChecksumCRC32: res.ChecksumCRC32 }),
          ...(res.ChecksumCRC32C && { ChecksumCRC32C: res.ChecksumCRC32C }),
          ...(res.ChecksumCRC64NVME && { ChecksumCRC64NVME: res.ChecksumCRC64NVME }),
          ...(res.ChecksumSHA1 && { ChecksumSHA1: res.ChecksumSHA1 }),
          ...(res.ChecksumSHA256 && { ChecksumSHA256: res.ChecksumSHA256 }),
        });
        pool.push(buf);
        uploaded += length;
        o.onProgress?.(uploaded);
      })
      .catch((err: unknown) => {
        failure ??= { err };
        stop.abort();
      })
      .finally(() => inFlight.delete(part));
    inFlight.add(part);
    // Backpressure: the source is not read while queueSize parts are uploading.
    while (inFlight.size >= o.queueSize && !failure) await Promise.race(inFlight);
    if (failure) throw failure.err;
  };

  let buf = take();
  let filled = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (failure) throw failure.err;
      if (stop.signal.aborted) throw abortError(o.signal);
      for (let off = 0; off < chunk.length; ) {
        const n = Math.min(chunk.length - off, o.partSize - filled);
        chunk.copy(buf, filled, off, off + n);
        filled += n;
        off += n;
        size += n;
        if (filled === o.partSize) {
          await startPart(buf, filled);
          buf = take();
          filled = 0;
        }
      }
    }
    if (partNumber === 0) {
      await o.client.send(
        new PutObjectCommand({ Bucket: o.bucket, Key: o.key, Body: buf.subarray(0, filled), ContentLength: filled, ...o.params }),
        send,
      );
      o.onProgress?.(filled);
      return { size };
    }
    if (filled > 0) await startPart(buf, filled);
    await Promise.all(inFlight);
    if (failure) throw failure.err;
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await o.client.send(
      new CompleteMultipartUploadCommand({ Bucket: o.bucket, Key: o.key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      send,
    );
    return { size };
  } catch (err) {
    // The error that stopped the loop is the first cause: the source's own error, a failed part, or the abort.
    stop.abort();
    await Promise.allSettled(inFlight);
    if (uploadId) {
      await o.client
        .send(new AbortMultipartUploadCommand({ Bucket: o.bucket, Key: o.key, UploadId: uploadId }))
        .catch((abortErr: unknown) => {
          if (err instanceof Error && err.cause === undefined) err.cause = abortErr;
        });
    }
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}

async function createUpload(o: StreamUpload, send: { abortSignal: AbortSignal }): Promise<string> {
  const res = await o.client.send(
    new CreateMultipartUploadCommand({
      Bucket: o.bucket,
      Key: o.key,
      ...o.params,
      ...(o.checksums === 'WHEN_SUPPORTED' ? { ChecksumAlgorithm: ChecksumAlgorithm.CRC32 } : {}),
    }),
    send,
  );
  if (!res.UploadId) throw new Error(`S3 returned no UploadId for ${o.key}`);
  return res.UploadId;
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : Object.assign(new Error('upload aborted'), { name: 'AbortError' });
}
