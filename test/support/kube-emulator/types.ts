/** Shared types and small JSON helpers for the Kubernetes API emulator. */

export type Rec = Record<string, unknown>;

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [key: string]: unknown;
}

/** Any Kubernetes object as stored by the emulator. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** What the exec handler is asked about. */
export interface ExecRequest {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
}

/** The local process an exec request is mapped to. */
export interface ExecTarget {
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export type ExecHandler = (req: ExecRequest) => ExecTarget | undefined;

/** Maps a service port (its number, as a string) to a local base URL such as `http://127.0.0.1:8080`. */
export type ServiceProxyResolver = (namespace: string, service: string, port: string) => string | undefined;

export function isRec(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value as a record, or an empty record when it is something else. */
export function rec(v: unknown): Rec {
  return isRec(v) ? v : {};
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(rec(v))) if (typeof val === 'string') out[k] = val;
  return out;
}

export function clone<T>(v: T): T {
  return structuredClone(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isRec(a) && isRec(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/** Reads a dotted path (`spec.template.metadata`) from an object. */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (part === '') continue;
    if (!isRec(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Writes a dotted path, creating intermediate records. */
export function setPath(obj: Rec, path: string, value: unknown): void {
  const parts = path.split('.').filter((p) => p !== '');
  let cur: Rec = obj;
  for (const part of parts.slice(0, -1)) {
    if (!isRec(cur[part])) cur[part] = {};
    cur = cur[part] as Rec;
  }
  const last = parts[parts.length - 1];
  if (last !== undefined) cur[last] = value;
}

/** RFC 3339 timestamp with second precision, as the API server writes it. */
export function timestamp(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Random suffix as used by generateName and controllers. */
export function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += NAME_ALPHABET[Math.floor(Math.random() * NAME_ALPHABET.length)];
  return s;
}

/** Deterministic "safe" encoding of a hex hash into the name alphabet. */
export function safeEncode(hex: string, n = 10): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    const byte = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
    s += NAME_ALPHABET[byte % NAME_ALPHABET.length];
  }
  return s;
}
