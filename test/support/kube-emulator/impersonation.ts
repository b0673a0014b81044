/**
 * `Impersonate-User` / `Impersonate-Group` / `Impersonate-Uid` / `Impersonate-Extra-<key>` headers,
 * as the apiserver's impersonation filter handles them: each impersonated value is authorized as
 * verb `impersonate` on `users`, `serviceaccounts` (in the ServiceAccount's namespace), `groups`,
 * `uids` or `userextras/<key>` for the requesting user (so only admins, unless RBAC grants
 * impersonation), then the request continues as the impersonated user. A ServiceAccount
 * impersonated without groups gets its ServiceAccount groups; `system:authenticated` is added.
 */
import type { IncomingMessage } from 'node:http';
import { forbidden, resourceAttributes, type Attributes } from './attributes.js';
import { ANONYMOUS, AUTHENTICATED, parseServiceAccountUsername, serviceAccountGroups, UNAUTHENTICATED, type UserInfo } from './auth.js';
import { internalError } from './errors.js';
import type { Decision } from './rbac.js';

const EXTRA_PREFIX = 'impersonate-extra-';

function unescapeExtraKey(k: string): string {
  try {
    return decodeURIComponent(k);
  } catch {
    return k;
  }
}

/**
 * The impersonated user, or undefined when the request impersonates nobody. `authorize` decides
 * (and records) each impersonation check; a refusal throws the 403 the real server sends.
 */
export function impersonate(req: IncomingMessage, requestor: UserInfo, authorize: (a: Attributes) => Decision): UserInfo | undefined {
  const h = req.headersDistinct;
  const userName = h['impersonate-user']?.[0];
  const groupValues = h['impersonate-group'] ?? [];
  const uid = h['impersonate-uid']?.[0];
  const extras: Array<[string, string]> = [];
  for (const [name, values] of Object.entries(h)) {
    if (!name.startsWith(EXTRA_PREFIX) || !values) continue;
    for (const v of values) extras.push([unescapeExtraKey(name.slice(EXTRA_PREFIX.length)), v]);
  }
  if (userName === undefined) {
    if (groupValues.length || extras.length || uid !== undefined) throw internalError('requested impersonation of groups, extra or uid without impersonating a user');
    return undefined;
  }
  const check = (a: Attributes): void => {
    const d = authorize(a);
    if (!d.allowed) throw forbidden(a, d.reason);
  };
  let groups: string[] = [];
  const extra: Record<string, string[]> = {};
  const sa = parseServiceAccountUsername(userName);
  if (sa) {
    check(resourceAttributes(requestor, 'impersonate', { resource: 'serviceaccounts', namespace: sa.namespace, name: sa.name }));
    if (groupValues.length === 0) groups = serviceAccountGroups(sa.namespace);
  } else {
    check(resourceAttributes(requestor, 'impersonate', { resource: 'users', name: userName }));
  }
  for (const g of groupValues) {
    check(resourceAttributes(requestor, 'impersonate', { resource: 'groups', name: g }));
    groups.push(g);
  }
  for (const [k, v] of extras) {
    check(resourceAttributes(requestor, 'impersonate', { group: 'authentication.k8s.io', resource: 'userextras', subresource: k, name: v }));
    (extra[k] ??= []).push(v);
  }
  if (uid !== undefined) check(resourceAttributes(requestor, 'impersonate', { group: 'authentication.k8s.io', resource: 'uids', name: uid }));
  if (userName !== ANONYMOUS) {
    if (!groups.includes(AUTHENTICATED) && !groups.includes(UNAUTHENTICATED)) groups.push(AUTHENTICATED);
  } else if (!groups.includes(UNAUTHENTICATED)) groups.push(UNAUTHENTICATED);
  const user: UserInfo = { username: userName, groups };
  if (uid !== undefined) user.uid = uid;
  if (extras.length) user.extra = extra;
  return user;
}
