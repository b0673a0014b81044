/** `?watch=true` streams: newline-delimited JSON watch events. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { render } from './api.js';
import { ApiError } from './errors.js';
import { apiVersionOf, type ResourceDef } from './registry.js';
import { matchesFields, matchesLabels, type FieldRequirement, type LabelSelector } from './selectors.js';
import type { Store, StoreEvent } from './store.js';
import { toTable } from './table.js';
import type { KubeObject } from './types.js';

export interface WatchParams {
  def: ResourceDef;
  /** The requested version (e.g. `v1`). */
  version: string;
  namespace?: string;
  labelSelector: LabelSelector;
  fieldSelector: FieldRequirement[];
  resourceVersion?: string;
  timeoutSeconds?: number;
  sendInitialEvents?: boolean;
  /** Set when the client asked for `as=Table` (kubectl get -w): events carry Tables. */
  table?: { includeObject?: string };
}

export function serveWatch(store: Store, req: IncomingMessage, res: ServerResponse, p: WatchParams, track: (close: () => void) => () => void): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  // Send the headers now: client-go cannot cancel a watch whose response has not started.
  res.flushHeaders();
  const key = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
  const matches = (o: KubeObject): boolean =>
    (!p.def.namespaced || p.namespace === undefined || o.metadata.namespace === p.namespace) && matchesLabels(p.labelSelector, o.metadata.labels) && matchesFields(p.fieldSelector, o);
  const visible = new Set<string>();
  const write = (type: string, o: KubeObject): void => {
    let object: unknown = o;
    if (type !== 'ERROR' && type !== 'BOOKMARK') {
      const r = render(o, p.def, p.version);
      object = p.table ? toTable(p.def, [r], r.metadata.resourceVersion ?? '', p.table.includeObject) : r;
    }
    res.write(JSON.stringify({ type, object }) + '\n');
  };
  const onEvent = (e: StoreEvent): void => {
    if (e.group !== p.def.group || e.resource !== p.def.resource) return;
    const k = key(e.object);
    const was = visible.has(k);
    const now = e.type !== 'DELETED' && matches(e.object);
    if (e.type === 'DELETED') {
      if (was || matches(e.object)) write('DELETED', e.object);
      visible.delete(k);
    } else if (now) {
      write(was ? 'MODIFIED' : 'ADDED', e.object);
      visible.add(k);
    } else if (was) {
      write('DELETED', e.object);
      visible.delete(k);
    }
  };

  const rv = p.resourceVersion;
  if (rv === undefined || rv === '' || rv === '0' || p.sendInitialEvents) {
    for (const o of store.list(p.def.group, p.def.resource, p.def.namespaced ? p.namespace : undefined)) {
      if (!matches(o)) continue;
      visible.add(key(o));
      write('ADDED', o);
    }
    if (p.sendInitialEvents) {
      write('BOOKMARK', { kind: p.def.kind, apiVersion: apiVersionOf(p.def.group, p.version), metadata: { resourceVersion: store.currentResourceVersion(), annotations: { 'k8s.io/initial-events-end': 'true' } } });
    }
  } else {
    for (const o of store.list(p.def.group, p.def.resource)) if (matches(o)) visible.add(key(o));
    const past = store.eventsSince(Number(rv));
    if (past === undefined) {
      const gone = new ApiError(410, 'Expired', `too old resource version: ${rv} (${store.currentResourceVersion()})`).toStatus();
      res.end(JSON.stringify({ type: 'ERROR', object: gone }) + '\n');
      return;
    }
    // Replay what happened since rv; "visible" is reconstructed from the current state.
    for (const e of past) {
      if (e.group !== p.def.group || e.resource !== p.def.resource) continue;
      if (e.type === 'DELETED') {
        if (matches(e.object)) write('DELETED', e.object);
      } else if (matches(e.object)) write(e.type, e.object);
    }
  }

  const unsubscribe = store.subscribe(onEvent);
  let timer: NodeJS.Timeout | undefined;
  const finish = (): void => {
    unsubscribe();
    untrack();
    if (timer) clearTimeout(timer);
    if (!res.writableEnded) res.end();
  };
  const untrack = track(finish);
  if (p.timeoutSeconds && p.timeoutSeconds > 0) timer = setTimeout(finish, p.timeoutSeconds * 1000);
  req.on('close', finish);
  res.on('error', finish);
}
