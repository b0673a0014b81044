import { resolve } from 'node:path';
import { FileStore } from './file.js';
import { S3Store } from './s3.js';
import type { ObjectStore } from './types.js';
import type { StoreConfig } from '../config/schema.js';
import { UsageError } from '../util/errors.js';

/**
 * `file:///abs/path`, `file://./rel/path` (relative to the working directory) or `s3://bucket/prefix`.
 */
export function openStore(cfg: StoreConfig): ObjectStore {
  const url = cfg.url;
  if (url.startsWith('file://')) {
    const path = decodeURIComponent(url.slice('file://'.length));
    if (!path) throw new UsageError(`store.url ${url}: expected a directory after file://`);
    return new FileStore(resolve(path));
  }
  if (url.startsWith('s3://')) {
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new UsageError(`store.url ${url}: "${bucket}" is not a valid S3 bucket name`);
    }
    return new S3Store(bucket, prefix, cfg.s3);
  }
  throw new UsageError(`store.url ${url}: expected file:// or s3://`);
}
