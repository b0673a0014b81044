import { Transform, pipeline, type Readable } from 'node:stream';
import type { ArtifactProgress } from './artifact-writer.js';
import type { Artifact } from './manifest.js';
import type { ObjectStore } from '../store/types.js';

/**
 * The store, with every read of one of these artifacts' objects reported to `progress` (stored bytes read, of the
 * object's stored size: the total is exact). Restore, verify and drill read through it without their sources knowing.
 */
export function withReadProgress(store: ObjectStore, artifacts: readonly Artifact[], progress: ArtifactProgress | undefined): ObjectStore {
  if (!progress) return store;
  const byKey = new Map(artifacts.map((a) => [a.key, a]));
  const wrapped = Object.create(store) as ObjectStore;
  wrapped.get = async (key: string): Promise<Readable> => {
    const body = await store.get(key);
    const a = byKey.get(key);
    if (!a) return body;
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        progress.update(a.name, bytes);
        cb(null, chunk);
      },
    });
    progress.start(a.name, a.stored.size);
    // The counter is what the caller reads: destroying it (a reader that stops early) destroys the object's stream too.
    pipeline(body, counter, () => progress.finish(a.name));
    return counter;
  };
  return wrapped;
}
