/** Parses API server request paths into routes. */

export type Route =
  | { type: 'health' }
  | { type: 'version' }
  | { type: 'api' }
  | { type: 'apis' }
  | { type: 'group'; group: string }
  | { type: 'resourceList'; group: string; version: string }
  | { type: 'openapiV3Index' }
  | { type: 'openapiV3Doc'; group: string; version: string }
  | { type: 'resource'; target: ResourceTarget }
  | { type: 'unknown' };

export interface ResourceTarget {
  group: string;
  version: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** Decoded remainder after the subresource (e.g. the proxied path), without a leading slash. */
  rest: string;
  /** Legacy `/api/v1/watch/...` path. */
  watchPrefix: boolean;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function parseRoute(pathname: string): Route {
  const raw = pathname.split('/').slice(1);
  if (raw[raw.length - 1] === '' && raw.length > 1 && !pathname.includes('/proxy/')) raw.pop();
  const p = raw.map(decode);
  if (['healthz', 'readyz', 'livez'].includes(p[0] ?? '')) return { type: 'health' };
  if (p[0] === 'version' && p.length === 1) return { type: 'version' };
  if (p[0] === 'openapi' && p[1] === 'v3') {
    if (p.length === 2) return { type: 'openapiV3Index' };
    if (p[2] === 'api' && p.length === 4) return { type: 'openapiV3Doc', group: '', version: p[3]! };
    if (p[2] === 'apis' && p.length === 5) return { type: 'openapiV3Doc', group: p[3]!, version: p[4]! };
    return { type: 'unknown' };
  }
  let group: string;
  let version: string;
  let start: number;
  if (p[0] === 'api') {
    if (p.length === 1) return { type: 'api' };
    group = '';
    version = p[1]!;
    start = 2;
  } else if (p[0] === 'apis') {
    if (p.length === 1) return { type: 'apis' };
    if (p.length === 2) return { type: 'group', group: p[1]! };
    group = p[1]!;
    version = p[2]!;
    start = 3;
  } else {
    return { type: 'unknown' };
  }
  let segs = p.slice(start);
  if (segs.length === 0) return { type: 'resourceList', group, version };
  let watchPrefix = false;
  if (segs[0] === 'watch') {
    watchPrefix = true;
    segs = segs.slice(1);
  }
  const target: ResourceTarget = { group, version, resource: '', rest: '', watchPrefix };
  let i: number;
  const nsSub = segs.length === 3 && ['status', 'finalize'].includes(segs[2]!);
  if (segs[0] === 'namespaces' && segs.length >= 3 && !nsSub) {
    target.namespace = segs[1];
    target.resource = segs[2]!;
    i = 3;
  } else {
    target.resource = segs[0]!;
    i = 1;
  }
  if (segs[i] !== undefined) target.name = segs[i];
  if (segs[i + 1] !== undefined) target.subresource = segs[i + 1];
  if (segs.length > i + 2) target.rest = segs.slice(i + 2).join('/');
  return { type: 'resource', target };
}
