/** Helpers shared by the emulated controllers. */
import { createHash } from 'node:crypto';
import type { Api } from '../api.js';
import { ApiError } from '../errors.js';
import { preferredApiVersion, splitApiVersion, type Registry, type ResourceDef } from '../registry.js';
import type { Store } from '../store.js';
import { arr, clone, deepEqual, isRec, rec, safeEncode, str, strMap, timestamp, type KubeObject, type OwnerReference, type Rec } from '../types.js';

export const NEVER_READY_ANNOTATION = 'emulator.gushen.dev/never-ready';

export interface ControllerContext {
  api: Api;
  store: Store;
  registry: Registry;
  readyDelayMs: number;
  now: number;
}

export function def(ctx: ControllerContext, group: string, resource: string): ResourceDef {
  const d = ctx.registry.byResource(group, resource);
  if (!d) throw new Error(`unknown resource ${group}/${resource}`);
  return d;
}

export function ownerRef(owner: KubeObject, d: ResourceDef): OwnerReference {
  return { apiVersion: preferredApiVersion(d), kind: d.kind, name: owner.metadata.name ?? '', uid: owner.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

export function controllerUid(obj: KubeObject): string | undefined {
  return (obj.metadata.ownerReferences ?? []).find((r) => r.controller === true)?.uid;
}

/** Objects of a resource in a namespace controlled by `owner`. */
export function ownedBy(ctx: ControllerContext, group: string, resource: string, owner: KubeObject): KubeObject[] {
  return ctx.store.list(group, resource, owner.metadata.namespace).filter((o) => controllerUid(o) === owner.metadata.uid);
}

export function templateHash(template: unknown): string {
  const hex = createHash('sha256').update(JSON.stringify(template ?? {})).digest('hex');
  return safeEncode(hex, 10);
}

/** The controller owner of an object, looked up through the registry. */
export function controllerOf(ctx: ControllerContext, obj: KubeObject): KubeObject | undefined {
  const ref = (obj.metadata.ownerReferences ?? []).find((r) => r.controller === true);
  if (!ref) return undefined;
  const { group } = splitApiVersion(ref.apiVersion);
  const d = ctx.registry.byKind(group, ref.kind);
  if (!d) return undefined;
  const o = ctx.store.get(d.group, d.resource, d.namespaced ? obj.metadata.namespace : undefined, ref.name);
  return o && o.metadata.uid === ref.uid ? o : undefined;
}

/** True when the object or one of its controllers (up to 3 levels) carries the never-ready annotation. */
export function neverReady(ctx: ControllerContext, obj: KubeObject): boolean {
  let cur: KubeObject | undefined = obj;
  for (let i = 0; cur && i < 4; i++) {
    if (strMap(cur.metadata.annotations)[NEVER_READY_ANNOTATION] === 'true') return true;
    cur = controllerOf(ctx, cur);
  }
  return false;
}

export function isPodReady(pod: KubeObject): boolean {
  return arr(rec(pod.status).conditions).some((c) => rec(c).type === 'Ready' && rec(c).status === 'True');
}

export function isTerminal(pod: KubeObject): boolean {
  const phase = str(rec(pod.status).phase);
  return phase === 'Succeeded' || phase === 'Failed';
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  [key: string]: unknown;
}

/**
 * Builds a conditions list, keeping the old timestamps of conditions whose status did not change
 * (so a controller pass that changes nothing does not write).
 */
export function conditions(old: unknown, next: Condition[], timeFields: string[] = ['lastTransitionTime']): Rec[] {
  const prev = arr(old).map(rec);
  const now = timestamp();
  return next.map((c) => {
    const p = prev.find((x) => x.type === c.type);
    const out: Rec = { ...c };
    for (const f of timeFields) {
      const keep = p && p.status === c.status && (f === 'lastTransitionTime' || (p.reason === c.reason && p.message === c.message));
      out[f] = keep && p[f] !== undefined ? p[f] : now;
    }
    return out;
  });
}

/** Drops zero / empty values, as Go's omitempty does for status structs. */
export function omitEmpty(o: Rec): Rec {
  const out: Rec = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === 0 || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out;
}

/** Writes a new status if it differs from the stored one. */
export function setStatus(ctx: ControllerContext, d: ResourceDef, obj: KubeObject, status: Rec): void {
  const cur = ctx.store.get(d.group, d.resource, obj.metadata.namespace, obj.metadata.name ?? '');
  if (!cur || deepEqual(cur.status, status)) return;
  ignoreGone(() => ctx.api.update(d, cur.metadata.namespace, cur.metadata.name ?? '', { ...clone(cur), status }, { internal: true, subresource: 'status' }));
}

/** Writes a modified copy of an object (metadata / spec) if it differs. */
export function writeObject(ctx: ControllerContext, d: ResourceDef, next: KubeObject): void {
  const cur = ctx.store.get(d.group, d.resource, next.metadata.namespace, next.metadata.name ?? '');
  if (!cur) return;
  const a = { ...cur, metadata: { ...cur.metadata, resourceVersion: undefined } };
  const b = { ...next, metadata: { ...next.metadata, resourceVersion: undefined } };
  if (deepEqual(a, b)) return;
  ignoreGone(() => ctx.api.update(d, cur.metadata.namespace, cur.metadata.name ?? '', { ...next, metadata: { ...next.metadata, resourceVersion: cur.metadata.resourceVersion } }, { internal: true }));
}

export function create(ctx: ControllerContext, d: ResourceDef, obj: KubeObject): KubeObject | undefined {
  let out: KubeObject | undefined;
  ignoreGone(() => {
    out = ctx.api.create(d, obj.metadata.namespace, obj, { internal: true });
  });
  return out;
}

export function remove(ctx: ControllerContext, d: ResourceDef, obj: KubeObject): void {
  ignoreGone(() => ctx.api.delete(d, obj.metadata.namespace, obj.metadata.name ?? ''));
}

/** Runs a write, ignoring NotFound / AlreadyExists / Conflict races with API clients. */
export function ignoreGone(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError && [404, 409].includes(e.code)) return;
    throw e;
  }
}

/** A pod built from a workload's pod template. */
export function podFromTemplate(template: unknown, name: string, namespace: string | undefined, owner: OwnerReference, extraLabels: Record<string, string> = {}): KubeObject {
  const t = rec(template);
  const tm = rec(t.metadata);
  const meta: KubeObject['metadata'] = { name, namespace, labels: { ...strMap(tm.labels), ...extraLabels }, ownerReferences: [owner] };
  const ann = strMap(tm.annotations);
  if (Object.keys(ann).length) meta.annotations = ann;
  return { apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: clone(isRec(t.spec) ? t.spec : {}) };
}
