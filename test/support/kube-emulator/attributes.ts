/**
 * Authorization attributes of a request, derived from method + path + query the way the real
 * API server's RequestInfoFactory does it, and the 403 Forbidden error built from them.
 *
 * - Paths with fewer than 3 segments, or not under /api or /apis (or /apis/<group> with no
 *   version), are non-resource requests: verb = the lower-cased HTTP method, path = the URL path.
 * - Resource requests: POST→create, GET/HEAD→get, PUT→update, PATCH→patch, DELETE→delete;
 *   a get without a name is list (or watch with `?watch=true` or a `/watch/` path), a delete
 *   without a name is deletecollection; a `metadata.name=` field selector names the object.
 * - `/namespaces/<ns>` sets the namespace (also for the namespace object itself); the segment
 *   after a name is the subresource (`services/<name:port>/proxy/...` → name `name:port`).
 */
import type { UserInfo } from './auth.js';
import { ApiError } from './errors.js';

export interface Attributes {
  user: UserInfo;
  verb: string;
  resourceRequest: boolean;
  /** URL path (always set; what non-resource rules match). */
  path: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS = new Set(['api']);
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(['proxy']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

function splitPath(path: string): string[] {
  const p = path.replace(/^\/+|\/+$/g, '');
  return p === '' ? [] : p.split('/');
}

/** The query → bool conversion of list options: present and not "0"/"false". */
function queryBool(v: string | null): boolean {
  return v !== null && v !== '0' && v.toLowerCase() !== 'false';
}

function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/** The object a `metadata.name=x` / `metadata.name==x` field selector term requires. */
function nameFromFieldSelector(selector: string | null): string | undefined {
  if (!selector) return undefined;
  for (const term of selector.split(',')) {
    const m = /^\s*metadata\.name\s*==?\s*(.*?)\s*$/.exec(term);
    if (m && !term.includes('!=')) return m[1];
  }
  return undefined;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function requestAttributes(user: UserInfo, method: string, url: URL): Attributes {
  const path = decode(url.pathname);
  const a: Attributes = { user, verb: method.toLowerCase(), resourceRequest: false, path, apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' };
  let parts = splitPath(url.pathname).map(decode);
  if (parts.length < 3 || !API_PREFIXES.has(parts[0]!)) return a;
  const prefix = parts[0]!;
  parts = parts.slice(1);
  if (!GROUPLESS.has(prefix)) {
    if (parts.length < 3) return a;
    a.apiGroup = parts[0]!;
    parts = parts.slice(1);
  }
  a.resourceRequest = true;
  a.apiVersion = parts[0]!;
  parts = parts.slice(1);

  if (SPECIAL_VERBS.has(parts[0] ?? '')) {
    a.verb = parts[0]!;
    parts = parts.slice(1);
  } else {
    a.verb = ({ POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method.toUpperCase()] ?? '';
  }

  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      a.namespace = parts[1]!;
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
    }
  }
  if (parts.length >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.has(a.verb)) a.subresource = parts[2]!;
  if (parts.length >= 2) a.name = parts[1]!;
  if (parts.length >= 1) a.resource = parts[0]!;

  const q = url.searchParams;
  if (a.name === '' && a.verb === 'get') {
    a.verb = queryBool(q.get('watch')) ? 'watch' : 'list';
    const byName = nameFromFieldSelector(q.get('fieldSelector'));
    if (byName !== undefined && byName !== '' && isValidPathSegmentName(byName)) a.name = byName;
  }
  if (a.name === '' && a.verb === 'delete') a.verb = 'deletecollection';
  return a;
}

/** Attributes for a check that is not an HTTP request of its own (impersonation, reviews). */
export function resourceAttributes(user: UserInfo, verb: string, r: { group?: string; version?: string; resource: string; subresource?: string; namespace?: string; name?: string }): Attributes {
  return {
    user,
    verb,
    resourceRequest: true,
    path: '',
    apiGroup: r.group ?? '',
    apiVersion: r.version ?? '',
    resource: r.resource,
    subresource: r.subresource ?? '',
    namespace: r.namespace ?? '',
    name: r.name ?? '',
  };
}

export function nonResourceAttributes(user: UserInfo, verb: string, path: string): Attributes {
  return { user, verb, resourceRequest: false, path, apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' };
}

/** `User "x" cannot list resource "secrets" in API group "" in the namespace "ns"` (the apiserver's forbiddenMessage). */
export function forbiddenMessage(a: Attributes): string {
  const user = a.user.username;
  if (!a.resourceRequest) return `User "${user}" cannot ${a.verb} path "${a.path}"`;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (a.namespace) return `User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" in the namespace "${a.namespace}"`;
  return `User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" at the cluster scope`;
}

/** The 403 the real server sends (apierrors.NewForbidden around forbiddenMessage, plus the authorizer's reason). */
export function forbidden(a: Attributes, reason = ''): ApiError {
  const msg = reason ? `${forbiddenMessage(a)}: ${reason}` : forbiddenMessage(a);
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  let message: string;
  if (!a.resourceRequest || qualified === '') message = `forbidden: ${msg}`;
  else if (a.name === '') message = `${qualified} is forbidden: ${msg}`;
  else message = `${qualified} "${a.name}" is forbidden: ${msg}`;
  const details: { name?: string; group?: string; kind?: string } = {};
  if (a.resourceRequest) {
    if (a.name) details.name = a.name;
    if (a.apiGroup) details.group = a.apiGroup;
    if (a.resource) details.kind = a.resource;
  }
  return new ApiError(403, 'Forbidden', message, details);
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}
