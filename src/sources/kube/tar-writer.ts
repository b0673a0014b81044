import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { Header, Pack, ReadEntry } from 'tar';

export interface TarFile {
  path: string;
  data: Buffer;
}

/**
 * Streams a tar of in-memory files through node-tar's Pack. Files are added one at a time, waiting for the
 * consumer when Pack signals backpressure, so at most a few entries are encoded ahead of the reader.
 * Entries get mode 0600 and the given mtime; `portable` leaves out uid/gid/user names of this host.
 */
export function packTar(files: Iterable<TarFile> | AsyncIterable<TarFile>, mtime: Date): Readable {
  const pack = new Pack({ portable: true, noDirRecurse: true });
  const out = new PassThrough();
  let stopped = false;
  pack.on('error', (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  out.on('close', () => {
    stopped = true;
  });
  pack.pipe(out);
  (async () => {
    for await (const f of files) {
      if (stopped) return;
      const header = new Header({ path: f.path, mode: 0o600, size: f.data.length, mtime, type: 'File' });
      const entry = new ReadEntry(header);
      entry.end(f.data);
      if (!pack.write(entry) && !stopped) await Promise.race([once(pack, 'drain'), once(out, 'close')]);
    }
    if (!stopped) pack.end();
  })().catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  return out;
}

/** JSON as stored in the archive: pretty-printed with a trailing newline. */
export function jsonFile(path: string, value: unknown): TarFile {
  return { path, data: Buffer.from(`${JSON.stringify(value, null, 2)}\n`, 'utf8') };
}
