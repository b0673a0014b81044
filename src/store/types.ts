import type { Readable } from 'node:stream';

/** What a store knows about one object. Keys are relative to the store's root (its URL prefix). */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

export interface PutOptions {
  signal?: AbortSignal;
  /** Called with the number of stored bytes written so far (for progress bars). */
  onProgress?: (bytes: number) => void;
  /**
   * Part of a backup: under S3 Object Lock it gets a retain-until date. Lock claims and reports do not,
   * so they can always be deleted.
   */
  retain?: boolean;
  /**
   * An upper estimate of the stream's size, when the source knows one (a database's size). S3 raises the part
   * size for it so that the upload fits S3's 10,000 parts; the file store ignores it.
   */
  sizeHint?: number;
}

/**
 * The one object-store interface. `put` is atomic: the object appears under its key only once
 * the whole stream has been stored; a failed or aborted put leaves nothing under the key.
 */
export interface ObjectStore {
  /** Human-readable location, never containing credentials. */
  readonly description: string;
  put(key: string, body: Readable, opts?: PutOptions): Promise<{ size: number }>;
  /** Throws ObjectNotFoundError when the key does not exist. */
  get(key: string): Promise<Readable>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Removes what writes interrupted by a crash or kill -9 left behind (a write in progress keeps touching its
   * temp file, so anything untouched since `before` is abandoned). Returns the bytes freed. The file store's
   * `.tmp/` parts; S3's incomplete multipart uploads are the bucket lifecycle rule's job (docs/format.md).
   */
  sweepAbandoned?(before: Date): Promise<{ files: number; bytes: number }>;
  close?(): Promise<void>;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string, where: string) {
    super(`object not found: ${key} in ${where}`);
    this.name = 'ObjectNotFoundError';
  }
}

/** An object is retained by S3 Object Lock and cannot be deleted yet. */
export class ObjectLockedError extends Error {
  constructor(readonly key: string, readonly retainUntil?: Date) {
    super(`object ${key} is locked${retainUntil ? ` until ${retainUntil.toISOString()}` : ''}`);
    this.name = 'ObjectLockedError';
  }
}
