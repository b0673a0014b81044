/** JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a pragmatic strategic merge patch. */
import { badRequest, ApiError } from './errors.js';
import { clone, deepEqual, isRec, type Rec } from './types.js';

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  switch (ct) {
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/json-patch+json':
      return 'json';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+json':
    case 'application/apply-patch+cbor':
      return 'apply';
    default:
      return undefined;
  }
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRec(patch)) return clone(patch);
  const out: Rec = isRec(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Merge keys of associative lists in the built-in API types, by field name. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  hostAliases: 'ip',
  conditions: 'type',
  ownerReferences: 'uid',
  resourceClaims: 'name',
  topologySpreadConstraints: 'topologyKey',
};

/** Lists of scalars that merge as sets. */
const PRIMITIVE_MERGE_LISTS = new Set(['finalizers']);

function mergeKeyFor(field: string, items: unknown[]): string | undefined {
  if (field === 'ports') {
    const first = items.find(isRec);
    if (first && 'containerPort' in first) return 'containerPort';
    return 'port';
  }
  return MERGE_KEYS[field];
}

function orderBy(list: unknown[], order: unknown[], key: string | undefined): unknown[] {
  const idx = (item: unknown): number => order.findIndex((o) => (key && isRec(o) && isRec(item) ? deepEqual(o[key], item[key]) : deepEqual(o, item)));
  const ordered = list.filter((x) => idx(x) !== -1).sort((a, b) => idx(a) - idx(b));
  const rest = list.filter((x) => idx(x) === -1);
  return [...ordered, ...rest];
}

function mergeList(field: string, target: unknown, patch: unknown[]): unknown[] {
  const base = Array.isArray(target) ? target : [];
  if (patch.some((p) => isRec(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isRec(p) && p.$patch === 'replace')).map((p) => clone(p));
  }
  if (PRIMITIVE_MERGE_LISTS.has(field)) {
    const out = [...base];
    for (const p of patch) if (!out.some((x) => deepEqual(x, p))) out.push(p);
    return out;
  }
  const key = mergeKeyFor(field, [...patch, ...base]);
  if (!key || !patch.every(isRec)) return patch.map((p) => clone(p));
  const out = base.map((x) => clone(x));
  for (const p of patch as Rec[]) {
    const i = out.findIndex((x) => isRec(x) && deepEqual(x[key], p[key]));
    if (p.$patch === 'delete') {
      if (i !== -1) out.splice(i, 1);
      continue;
    }
    if (i === -1) out.push(strategicMerge(undefined, p));
    else out[i] = strategicMerge(out[i], p);
  }
  return out;
}

/**
 * Strategic merge patch for the built-in types: associative lists (containers, env,
 * ports, volumes, ...) merge by key, `$patch`, `$retainKeys`, `$setElementOrder/x` and
 * `$deleteFromPrimitiveList/x` directives are honoured, other lists are replaced.
 */
export function strategicMerge(target: unknown, patch: unknown): Rec {
  const t: Rec = isRec(target) ? { ...target } : {};
  if (!isRec(patch)) return t;
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return clone(rest);
  }
  const orders: Array<[string, unknown[]]> = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders.push([k.slice('$setElementOrder/'.length), v]);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(t[field]) && Array.isArray(v)) t[field] = (t[field] as unknown[]).filter((x) => !v.some((d) => deepEqual(d, x)));
      continue;
    }
    if (v === null) delete t[k];
    else if (isRec(v)) {
      if (v.$patch === 'delete') delete t[k];
      else t[k] = strategicMerge(t[k], v);
    } else if (Array.isArray(v)) t[k] = mergeList(k, t[k], v);
    else t[k] = v;
  }
  for (const [field, order] of orders) {
    if (Array.isArray(t[field])) t[field] = orderBy(t[field] as unknown[], order, mergeKeyFor(field, t[field] as unknown[]));
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys.filter((x): x is string => typeof x === 'string'));
    for (const k of Object.keys(t)) if (!keep.has(k)) delete t[k];
  }
  return t;
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`invalid JSON pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function jsonPatchError(msg: string): ApiError {
  return new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${msg}`);
}

type Container = Rec | unknown[];

function resolveParent(doc: unknown, parts: string[]): { parent: Container; key: string } {
  let cur: unknown = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isRec(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined) throw jsonPatchError(`missing path: /${parts.join('/')}`);
  }
  if (!Array.isArray(cur) && !isRec(cur)) throw jsonPatchError(`invalid path: /${parts.join('/')}`);
  return { parent: cur, key: parts[parts.length - 1] ?? '' };
}

function readAt(doc: unknown, pointer: string): unknown {
  let cur: unknown = doc;
  for (const p of decodePointer(pointer)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isRec(cur)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

function removeAt(doc: unknown, pointer: string): unknown {
  const { parent, key } = resolveParent(doc, decodePointer(pointer));
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length)) throw jsonPatchError(`unable to remove nonexistent index ${key}`);
    return parent.splice(i, 1)[0];
  }
  if (!(key in parent)) throw jsonPatchError(`Unable to remove nonexistent key: ${key}: missing value`);
  const v = parent[key];
  delete parent[key];
  return v;
}

function addAt(doc: unknown, pointer: string, value: unknown, replace: boolean): unknown {
  const parts = decodePointer(pointer);
  if (parts.length === 0) return clone(value);
  const { parent, key } = resolveParent(doc, parts);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length)) throw jsonPatchError(`index out of bounds: ${key}`);
    if (replace) parent[i] = clone(value);
    else parent.splice(i, 0, clone(value));
  } else {
    if (replace && !(key in parent)) throw jsonPatchError(`replace operation does not apply: doc is missing key: ${pointer}: missing value`);
    parent[key] = clone(value);
  }
  return doc;
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  let doc = clone(target);
  for (const raw of ops) {
    if (!isRec(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw badRequest('invalid json patch operation');
    const path = raw.path;
    switch (raw.op) {
      case 'add':
        doc = addAt(doc, path, raw.value, false);
        break;
      case 'replace':
        doc = addAt(doc, path, raw.value, true);
        break;
      case 'remove':
        removeAt(doc, path);
        break;
      case 'test':
        if (!deepEqual(readAt(doc, path), raw.value)) throw jsonPatchError(`testing value ${path} failed: test failed`);
        break;
      case 'move':
      case 'copy': {
        const from = typeof raw.from === 'string' ? raw.from : '';
        const v = raw.op === 'move' ? removeAt(doc, from) : clone(readAt(doc, from));
        doc = addAt(doc, path, v, false);
        break;
      }
      default:
        throw badRequest(`unknown json patch operation: ${raw.op}`);
    }
  }
  return doc;
}

export function applyPatch(type: PatchType, target: unknown, patch: unknown): unknown {
  switch (type) {
    case 'merge':
      return mergePatch(target, patch);
    case 'json':
      return jsonPatch(target, patch);
    case 'strategic':
    case 'apply':
      return strategicMerge(target, patch);
  }
}
