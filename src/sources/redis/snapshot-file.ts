import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from '../../util/log.js';
import { OperationError, errorMessage } from '../../util/errors.js';

/**
 * The `file` method: Redis runs on this host and its data directory is readable here. The file is
 * opened once, so a later save (which renames a new file over it) cannot mix two snapshots.
 * A file older than the save just taken means the directory is not the one Redis writes to.
 */
export async function openRdbFile(path: string, lastsave: number): Promise<Readable> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new OperationError(`cannot open the RDB file ${path}: ${errorMessage(err)} (set sources.redis.dataDir to the directory Redis saves to)`, { cause: err });
  }
  const st = await fh.stat();
  // LASTSAVE has one-second resolution and is taken when the save finishes, after the rename.
  if (st.mtimeMs / 1000 < lastsave - 2) {
    await fh.close();
    throw new OperationError(
      `${path} was last written at ${new Date(st.mtimeMs).toISOString()}, before the BGSAVE that just finished (${new Date(lastsave * 1000).toISOString()}): ` +
        'it is not the file this Redis saves to; check sources.redis.dataDir',
    );
  }
  if (!st.isFile()) {
    await fh.close();
    throw new OperationError(`${path} is not a regular file`);
  }
  return fh.createReadStream({ highWaterMark: 1 << 20 });
}

/** The followed file turned out not to be the dump BGSAVE produced; the caller reads dump.rdb instead. */
export class FollowMismatchError extends OperationError {
  constructor(message: string) {
    super(message);
    this.name = 'FollowMismatchError';
  }
}

const TEMP_RE = /^temp-\d+\.rdb$/;
const CHUNK = 1 << 20;
/** While the save runs, a read waits until this much is new. */
const MIN_READ = 256 * 1024;

export interface FollowOptions {
  /** The data directory, as seen from here. */
  dir: string;
  /** dbfilename: what the temp file is renamed to when the save succeeds. */
  file: string;
  /** When BGSAVE was sent (ms); the temp file is created after it. */
  issuedAt: number;
  /** Settles when the server reports the save finished (ok) or failed. The stream may end before it does. */
  done: Promise<unknown>;
  log: Logger;
}

/**
 * Reads the snapshot while the BGSAVE child is still writing it, so copying overlaps with saving.
 * Redis' child writes `temp-<pid>.rdb` in its directory, strictly appending, and renames it to the
 * dbfilename once complete (only one child process runs at a time, so the one fresh temp file is ours).
 * The follower reads what has been written and waits for more while the save runs. The stream ends
 * once the file it followed *is* <dir>/<dbfilename> (same device and inode) and has been read to its
 * end: the child renames it only after writing, flushing and closing it. That is seen within
 * milliseconds, where the server notices its child's exit on its next cron tick and we on our next
 * INFO poll (up to 0.2 s later); the caller still requires the server's verdict (`done`) before it
 * accepts what was read. Returns undefined when there is nothing to follow (the save was too quick,
 * or there is more than one candidate): the caller then reads the finished file.
 */
export async function followBgsave(opts: FollowOptions): Promise<Readable | undefined> {
  let finished: 'ok' | 'failed' | undefined;
  let failure: unknown;
  opts.done.then(
    () => (finished = 'ok'),
    (err: unknown) => {
      finished = 'failed';
      failure = err;
    },
  );
  let fh: FileHandle | undefined;
  let name = '';
  while (!fh) {
    if (finished) return undefined;
    let names: string[];
    try {
      names = (await readdir(opts.dir)).filter((n) => TEMP_RE.test(n));
    } catch {
      return undefined;
    }
    const fresh: string[] = [];
    for (const n of names) {
      const st = await stat(join(opts.dir, n)).catch(() => undefined);
      // Filesystem timestamps may be coarse: allow a little slack before the BGSAVE.
      if (st && st.mtimeMs >= opts.issuedAt - 2000) fresh.push(n);
    }
    if (fresh.length > 1) return undefined;
    if (fresh.length === 1) {
      name = fresh[0];
      fh = await open(join(opts.dir, name), 'r').catch(() => undefined);
      if (!fh) return undefined; // already renamed: read the finished file instead
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const handle = fh;
  opts.log.debug({ file: name }, 'following the RDB file while BGSAVE writes it');
  let pos = 0;
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await handle.close().catch(() => undefined);
    }
  };
  const mine = await handle.stat().catch(async (err: unknown) => {
    await handle.close().catch(() => undefined);
    throw err;
  });
  const isFinal = async () => {
    const final = await stat(join(opts.dir, opts.file)).catch(() => undefined);
    return final !== undefined && final.ino === mine.ino && final.dev === mine.dev;
  };
  // Set once the followed file has been renamed to the dbfilename: the child has written all of it.
  let complete = false;
  let lastSize = -1;
  const readMore = async (): Promise<Buffer | null> => {
    for (;;) {
      // Looked at before the size: once the server reported success, the child had written everything.
      const done = finished;
      if (done === 'failed') throw failure;
      const size = (await handle.stat()).size;
      const available = size - pos;
      // Waiting for a fuller chunk while the child writes keeps reads (and every later stage's calls) few, and
      // each buffer is allocated at the size read: a 1 MiB buffer kept alive for a few KiB made V8 collect
      // garbage for 1.6 s of a 2M-key backup.
      if (available >= MIN_READ || ((complete || done === 'ok') && available > 0)) {
        const want = Math.min(CHUNK, available);
        const buf = Buffer.allocUnsafe(want);
        const { bytesRead } = await handle.read(buf, 0, want, pos);
        if (bytesRead === 0) throw new FollowMismatchError(`${name} shrank while it was being read`);
        pos += bytesRead;
        return bytesRead === want ? buf : buf.subarray(0, bytesRead);
      }
      if (complete || done === 'ok') {
        if (!complete && !(await isFinal())) {
          throw new FollowMismatchError(`the file followed during BGSAVE (${name}) is not ${opts.file} after the save`);
        }
        if (size !== pos) throw new FollowMismatchError(`read ${pos} bytes of ${name}, which has ${size}`);
        return null;
      }
      // The file stopped growing: the child may be done. The size is looked at again after this, so a last
      // write made between our look at the size and the rename is still read.
      if (size === lastSize && (await isFinal())) {
        complete = true;
        continue;
      }
      lastSize = size;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return new Readable({
    highWaterMark: 4 * CHUNK,
    read() {
      readMore().then(
        (chunk) => {
          if (chunk === null) void close().then(() => this.push(null));
          else this.push(chunk);
        },
        (err: unknown) => this.destroy(err as Error),
      );
    },
    destroy(err, cb) {
      void close().then(() => cb(err));
    },
  });
}
