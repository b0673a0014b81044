import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';

/** Kubernetes objects are at most ~1.5 MiB in etcd; anything much larger is not ours. */
export const MAX_ENTRY_BYTES = 16 * 1024 * 1024;

/**
 * Reads a plain tar stream into memory: regular files only, path → contents. Rejects on a malformed or
 * truncated tar (node-tar in strict mode), a duplicate path, a path that escapes (`..`, absolute), or an
 * entry larger than MAX_ENTRY_BYTES. Directory entries are accepted and ignored.
 */
export async function readTarFiles(stream: Readable, maxEntryBytes = MAX_ENTRY_BYTES): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
  };
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const path = entry.path;
      if (entry.type === 'Directory') {
        entry.resume();
        return;
      }
      if (entry.type !== 'File' && entry.type !== 'OldFile') {
        fail(new Error(`tar entry ${path}: unexpected type ${entry.type}`));
        entry.resume();
        return;
      }
      if (path.startsWith('/') || path.split('/').includes('..')) {
        fail(new Error(`tar entry ${JSON.stringify(path)}: path escapes the archive`));
        entry.resume();
        return;
      }
      if (entry.size > maxEntryBytes) {
        fail(new Error(`tar entry ${path}: ${entry.size} bytes is larger than ${maxEntryBytes}`));
        entry.resume();
        return;
      }
      if (files.has(path)) {
        fail(new Error(`tar entry ${path} appears twice`));
        entry.resume();
        return;
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => files.set(path, Buffer.concat(chunks)));
    },
  });
  // Settles when the parser is done, whether it ended or failed (the failure itself is kept in `failure`).
  const ended = new Promise<void>((resolve) => {
    parser.on('end', () => resolve());
    parser.on('error', (err: Error) => {
      fail(err);
      resolve();
    });
  });
  try {
    for await (const chunk of stream) {
      if (failure) break;
      if (!parser.write(chunk as Buffer)) await Promise.race([once(parser, 'drain'), ended]);
      if (failure) break;
    }
  } catch (err) {
    stream.destroy();
    throw err;
  }
  if (failure) {
    stream.destroy();
    throw failure;
  }
  parser.end();
  await ended;
  if (failure) throw failure;
  return files;
}
