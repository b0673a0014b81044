import type { ObjectStore } from '../../src/store/types.js';

/** A store that counts reads, to prove a refusal downloads nothing. */
export function countingStore(inner: ObjectStore): ObjectStore & { gets: number } {
  const s = {
    gets: 0,
    description: inner.description,
    put: inner.put.bind(inner),
    head: inner.head.bind(inner),
    list: inner.list.bind(inner),
    delete: inner.delete.bind(inner),
    get: (key: string) => {
      s.gets++;
      return inner.get(key);
    },
  };
  return s;
}
