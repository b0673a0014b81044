/** A synchronous garbage collector following metadata.ownerReferences. */
import type { Store } from './store.js';
import type { KubeObject } from './types.js';

function liveUids(store: Store): Set<string> {
  const uids = new Set<string>();
  for (const { object } of store.entries()) if (object.metadata.uid) uids.add(object.metadata.uid);
  return uids;
}

function dropRefs(store: Store, group: string, resource: string, obj: KubeObject, keep: (uid: string) => boolean): void {
  const refs = (obj.metadata.ownerReferences ?? []).filter((r) => keep(r.uid));
  const next: KubeObject = { ...obj, metadata: { ...obj.metadata, ownerReferences: refs } };
  if (refs.length === 0) delete next.metadata.ownerReferences;
  store.put(group, resource, next);
}

/**
 * After an object with `uid` is gone: dependents whose owners are now all gone are deleted
 * (recursively); with `orphan` the reference is removed from them instead.
 */
export function cascadeDelete(store: Store, uid: string | undefined, orphan: boolean): void {
  if (!uid) return;
  const pending = [uid];
  while (pending.length) {
    const gone = pending.pop()!;
    const dependents = [...store.entries()].filter((e) => (e.object.metadata.ownerReferences ?? []).some((r) => r.uid === gone));
    if (dependents.length === 0) continue;
    const live = liveUids(store);
    for (const { group, resource, object } of dependents) {
      const others = (object.metadata.ownerReferences ?? []).filter((r) => r.uid !== gone && live.has(r.uid));
      if (orphan || others.length > 0) {
        dropRefs(store, group, resource, object, (u) => u !== gone);
      } else {
        store.remove(group, resource, object.metadata.namespace, object.metadata.name ?? '');
        if (object.metadata.uid) pending.push(object.metadata.uid);
      }
    }
  }
}

/** Periodic pass: deletes objects none of whose owners exist, and drops dangling references. */
export function sweepOrphans(store: Store): void {
  const live = liveUids(store);
  for (const { group, resource, object } of [...store.entries()]) {
    const refs = object.metadata.ownerReferences ?? [];
    if (refs.length === 0) continue;
    const alive = refs.filter((r) => live.has(r.uid));
    if (alive.length === refs.length) continue;
    if (alive.length > 0) {
      dropRefs(store, group, resource, object, (u) => live.has(u));
      continue;
    }
    if (!store.get(group, resource, object.metadata.namespace, object.metadata.name ?? '')) continue;
    store.remove(group, resource, object.metadata.namespace, object.metadata.name ?? '');
    cascadeDelete(store, object.metadata.uid, false);
  }
}
