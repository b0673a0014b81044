import { PassThrough, type Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createEncryptStream } from '../crypto/index.js';
import { artifactKey, type Compression } from './layout.js';
import type { Artifact, ArtifactFacts } from './manifest.js';
import type { SourceName } from '../config/schema.js';
import type { ObjectStore } from '../store/types.js';
import { HashTap, type Digest } from '../util/hash-tap.js';
import { compressionStages } from '../util/compression.js';
import { errorMessage, OperationError } from '../util/errors.js';

export interface ArtifactSpec {
  /** `<source>/<file>`, e.g. `postgres/gushen.dump`. */
  name: string;
  source: SourceName;
  kind: Artifact['kind'];
  compression: Compression;
  compressionLevel?: number;
  /** An upper estimate of the plaintext size, when the source knows one: sizes the S3 upload's parts. */
  expectedSize?: number;
  /** The expected plaintext size for progress and ETA (Redis used_memory), when it differs from expectedSize. */
  progressTotal?: number;
}

export type WrittenArtifact = Omit<Artifact, 'facts'>;

/** A stream of compressed frames made outside this process, and the plaintext size its compressor counted. */
export interface CompressedBody extends Readable {
  /** After the stream ended: how many plaintext bytes the compressor read. */
  plaintextSize(): number;
  /** While it runs, where the compressor can tell: about how many plaintext bytes it has read (for progress). */
  plaintextSoFar?(): number | undefined;
}

export interface ArtifactProgress {
  start(name: string, totalBytes?: number): void;
  update(name: string, plaintextBytes: number): void;
  finish(name: string): void;
}

/**
 * Streams one artifact: source → SHA-256 → compress → age-encrypt → SHA-256 of stored bytes → store.
 * Memory stays constant; on any failure nothing is left under the artifact's key.
 */
export class ArtifactWriter {
  constructor(
    /** Where the artifacts go: also what a source reads to check what it depends on (PITR: the archived WAL). */
    readonly store: ObjectStore,
    private readonly backupId: string,
    private readonly recipients: string[],
    private readonly progress?: ArtifactProgress,
  ) {}

  async write(spec: ArtifactSpec, body: Readable, signal?: AbortSignal): Promise<WrittenArtifact> {
    const plain = new HashTap();
    let seen = 0;
    plain.on('data', (c: Buffer) => {
      seen += c.length;
      this.progress?.update(spec.name, seen);
    });
    const { key, stored } = await this.encryptAndStore(spec, [body, plain, ...compressionStages(spec.compression, spec.compressionLevel)], body, signal);
    const p = plain.digest();
    return this.entry(spec, key, p.size, p.sha256, stored);
  }

  /**
   * Streams an artifact that another process already compressed (`spec.compression` frames, e.g. the zstd CLI reading
   * pg_dump's stdout directly): compressed stream → age-encrypt → SHA-256 of stored bytes → store. The plaintext never
   * passes through this process, so the entry has the plaintext size the compressor counted (`plaintextSize()`, read
   * once the stream ended) and no plaintext SHA-256: the zstd frames' content checksum checks the plaintext, inside
   * age's authenticated encryption (manifest format version 2, docs/format.md).
   */
  async writeCompressed(spec: ArtifactSpec, body: CompressedBody, signal?: AbortSignal): Promise<WrittenArtifact> {
    if (spec.compression !== 'zstd') throw new Error(`artifact ${spec.name}: only zstd frames carry the checksum that stands in for the plaintext SHA-256`);
    // Progress counts plaintext bytes, as the total (the database size) does: compressed bytes made a dump look a
    // third done when it had finished. Where the compressor cannot tell, compressed bytes are all there is.
    let seen = 0;
    body.on('data', (c: Buffer) => {
      seen += c.length;
      this.progress?.update(spec.name, body.plaintextSoFar?.() ?? seen);
    });
    // Once the body ended cleanly the compressor's count is exact: the artifact's last progress line carries it.
    body.once('end', () => this.progress?.update(spec.name, body.plaintextSize()));
    const { key, stored } = await this.encryptAndStore(spec, [body], body, signal);
    return this.entry(spec, key, body.plaintextSize(), undefined, stored);
  }

  private async encryptAndStore(spec: ArtifactSpec, stages: [Readable, ...Duplex[]], body: Readable, signal?: AbortSignal): Promise<{ key: string; stored: Digest }> {
    const key = artifactKey(this.backupId, spec.name, spec.compression);
    const stored = new HashTap();
    const out = new PassThrough();
    this.progress?.start(spec.name, spec.progressTotal ?? spec.expectedSize);
    try {
      await Promise.all([
        pipeline([...stages, createEncryptStream(this.recipients), stored, out], { signal }),
        this.store.put(key, out, { signal, retain: true, sizeHint: spec.expectedSize }),
      ]);
    } catch (err) {
      out.destroy();
      body.destroy();
      await this.store.delete(key).catch(() => undefined);
      throw new OperationError(`artifact ${spec.name}: ${errorMessage(err)}`, { cause: err });
    } finally {
      this.progress?.finish(spec.name);
    }
    return { key, stored: stored.digest() };
  }

  private entry(spec: ArtifactSpec, key: string, size: number, sha256: string | undefined, s: Digest): WrittenArtifact {
    return {
      name: spec.name,
      source: spec.source,
      kind: spec.kind,
      key,
      size,
      ...(sha256 !== undefined && { sha256 }),
      compression: spec.compression,
      encryption: { format: 'age-encryption.org/v1', recipients: [...this.recipients] },
      stored: { size: s.size, sha256: s.sha256 },
    };
  }

  /** Removes an artifact this writer stored, for a source that learns after the write that it must not be kept. */
  async discard(written: WrittenArtifact): Promise<void> {
    await this.store.delete(written.key);
  }
}

export function withFacts(a: WrittenArtifact, facts: ArtifactFacts): Artifact {
  return { ...a, facts };
}
