import { createWriteStream, type Stats } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ObjectNotFoundError, type ObjectInfo, type ObjectStore, type PutOptions } from './types.js';

/** Temp files live here while being written, so a crash never leaves a partial object under its key. */
const TMP_DIR = '.tmp';

/** The embedded default store: a directory. Writes go to a temp name, are fsynced, then renamed. */
export class FileStore implements ObjectStore {
  readonly description: string;

  constructor(private readonly root: string) {
    this.description = `file://${root}`;
  }

  private path(key: string): string {
    assertKey(key);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    const final = this.path(key);
    const tmpDir = join(this.root, TMP_DIR);
    await mkdir(tmpDir, { recursive: true });
    await mkdir(dirname(final), { recursive: true });
    const tmp = join(tmpDir, `${randomBytes(8).toString('hex')}.part`);
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        opts.onProgress?.(size);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(body, counter, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }), { signal: opts.signal });
      await fsyncPath(tmp);
      await rename(tmp, final);
      await fsyncPath(dirname(final));
      return { size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<Readable> {
    // Open first, then look: an object deleted between a stat and the open (a lock claim withdrawn by another run)
    // used to surface as an ENOENT read error instead of "not found". An open file reads whole even if deleted.
    let fh;
    try {
      fh = await open(this.path(key), 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new ObjectNotFoundError(key, this.description);
      throw err;
    }
    if (!(await fh.stat()).isFile()) {
      await fh.close();
      throw new ObjectNotFoundError(key, this.description);
    }
    // 1 MiB reads: a 64 KiB stream made reading an artifact back (SHA-256 of every byte) a third slower.
    return fh.createReadStream({ highWaterMark: 1024 * 1024 });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { key, size: s.size, lastModified: s.mtime } : undefined;
    } catch {
      return undefined;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    // Walk only the directory that can contain the prefix.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const start = dirPart ? this.path(dirPart) : this.root;
    await this.walk(start, out, prefix);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private async walk(dir: string, out: ObjectInfo[], prefix: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = join(dir, e.name);
      const key = relative(this.root, full).split(sep).join('/');
      if (key === TMP_DIR) continue;
      if (e.isDirectory()) {
        if (prefix.startsWith(`${key}/`) || key.startsWith(prefix)) await this.walk(full, out, prefix);
      } else if (e.isFile() && key.startsWith(prefix)) {
        const s = await statIfPresent(full);
        // Deleted between readdir and stat (a concurrent run withdrawing its lock claim): not listed, not an error.
        if (s) out.push({ key, size: s.size, lastModified: s.mtime });
      }
    }
  }

  async sweepAbandoned(before: Date): Promise<{ files: number; bytes: number }> {
    const dir = join(this.root, TMP_DIR);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return { files: 0, bytes: 0 };
    }
    let files = 0;
    let bytes = 0;
    for (const n of names) {
      const s = await statIfPresent(join(dir, n));
      if (!s?.isFile() || s.mtime >= before) continue;
      await rm(join(dir, n), { force: true });
      files++;
      bytes += s.size;
    }
    return { files, bytes };
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.path(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

async function statIfPresent(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function assertKey(key: string): void {
  if (!key || key.startsWith('/') || key.split('/').some((p) => p === '' || p === '.' || p === '..') || key.includes('\\')) {
    throw new Error(`invalid object key: ${JSON.stringify(key)}`);
  }
}
