/** In-memory object storage with a global resourceVersion counter and a watch event log. */
import type { KubeObject } from './types.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  group: string;
  resource: string;
  rv: number;
  object: KubeObject;
}

type Listener = (e: StoreEvent) => void;

const HISTORY_LIMIT = 5000;

function objKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class Store {
  private rv = 1000;
  private readonly buckets = new Map<string, Map<string, KubeObject>>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<Listener>();
  /** Millisecond creation times by uid (creationTimestamp only has second precision). */
  private readonly createdMs = new Map<string, number>();

  currentResourceVersion(): string {
    return String(this.rv);
  }

  private bucket(group: string, resource: string): Map<string, KubeObject> {
    const k = `${group}/${resource}`;
    let b = this.buckets.get(k);
    if (!b) {
      b = new Map();
      this.buckets.set(k, b);
    }
    return b;
  }

  /** The stored object itself (callers must not mutate it; clone first). */
  get(group: string, resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.buckets.get(`${group}/${resource}`)?.get(objKey(namespace, name));
  }

  /** Stored objects sorted by namespace then name, optionally limited to one namespace. */
  list(group: string, resource: string, namespace?: string): KubeObject[] {
    const b = this.buckets.get(`${group}/${resource}`);
    if (!b) return [];
    const out = [...b.values()].filter((o) => namespace === undefined || o.metadata.namespace === namespace);
    return out.sort((a, b2) => objKey(a.metadata.namespace, a.metadata.name ?? '').localeCompare(objKey(b2.metadata.namespace, b2.metadata.name ?? '')));
  }

  /** Every stored object with its group/resource. */
  *entries(): Generator<{ group: string; resource: string; object: KubeObject }> {
    for (const [k, b] of this.buckets) {
      const i = k.indexOf('/');
      const group = k.slice(0, i);
      const resource = k.slice(i + 1);
      for (const object of b.values()) yield { group, resource, object };
    }
  }

  /** Stores the object (taking ownership), assigning a new resourceVersion. */
  put(group: string, resource: string, object: KubeObject): KubeObject {
    const b = this.bucket(group, resource);
    const key = objKey(object.metadata.namespace, object.metadata.name ?? '');
    const existed = b.has(key);
    this.rv += 1;
    object.metadata.resourceVersion = String(this.rv);
    b.set(key, object);
    const uid = object.metadata.uid;
    if (uid && !this.createdMs.has(uid)) this.createdMs.set(uid, Date.now());
    this.emit({ type: existed ? 'MODIFIED' : 'ADDED', group, resource, rv: this.rv, object });
    return object;
  }

  remove(group: string, resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const b = this.buckets.get(`${group}/${resource}`);
    const key = objKey(namespace, name);
    const object = b?.get(key);
    if (!b || !object) return undefined;
    b.delete(key);
    if (object.metadata.uid) this.createdMs.delete(object.metadata.uid);
    this.rv += 1;
    const deleted: KubeObject = { ...object, metadata: { ...object.metadata, resourceVersion: String(this.rv) } };
    this.emit({ type: 'DELETED', group, resource, rv: this.rv, object: deleted });
    return object;
  }

  createdAtMs(uid: string | undefined): number | undefined {
    return uid ? this.createdMs.get(uid) : undefined;
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Events after `rv`, or undefined when the log no longer reaches back that far. */
  eventsSince(rv: number): StoreEvent[] | undefined {
    const first = this.history[0];
    if (first && first.rv > rv + 1 && this.history.length >= HISTORY_LIMIT) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  private emit(e: StoreEvent): void {
    this.history.push(e);
    if (this.history.length > HISTORY_LIMIT) this.history.splice(0, this.history.length - HISTORY_LIMIT);
    for (const l of this.listeners) l(e);
  }
}
