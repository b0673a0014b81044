import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { OperationError, errorMessage } from '../util/errors.js';

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
