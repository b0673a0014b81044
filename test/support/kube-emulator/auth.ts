/**
 * Authentication (bearer tokens) for the emulator's RBAC mode, and the identities it knows:
 * - the admin token (`emulator-token`, user `emulator-admin` in `system:masters`), used by the
 *   emulator's own kubeconfig;
 * - ServiceAccount tokens from `serviceAccountToken(ns, name)`: JWT-shaped, HMAC-signed with a
 *   per-emulator key, valid while the ServiceAccount exists (and, when it existed at issue time,
 *   has the same uid — a recreated ServiceAccount invalidates old tokens, like bound tokens);
 * - legacy `kubernetes.io/service-account-token` Secrets (the `token` key authenticates as the
 *   ServiceAccount named in the Secret's annotation, while that ServiceAccount exists);
 * - static user tokens from `userToken(name, groups)`.
 * Every authenticated user also gets `system:authenticated`, as the real authenticator adds it.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Store } from './store.js';
import { rec, str } from './types.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export const ADMIN_TOKEN = 'emulator-token';
export const ADMIN_USER: UserInfo = { username: 'emulator-admin', groups: ['system:masters', 'system:authenticated'] };
export const AUTHENTICATED = 'system:authenticated';
export const UNAUTHENTICATED = 'system:unauthenticated';
export const ANONYMOUS = 'system:anonymous';

const SA_PREFIX = 'system:serviceaccount:';
const ISSUER = 'https://kubernetes.default.svc.cluster.local';

export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SA_PREFIX}${namespace}:${name}`;
}

/** `system:serviceaccount:<ns>:<name>` → { namespace, name }, else undefined. */
export function parseServiceAccountUsername(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SA_PREFIX)) return undefined;
  const parts = username.slice(SA_PREFIX.length).split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { namespace: parts[0], name: parts[1] };
}

export function serviceAccountGroups(namespace: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`];
}

/** Adds `system:authenticated` unless present (the authenticator's group adder). */
export function withAuthenticated(groups: string[]): string[] {
  return groups.includes(AUTHENTICATED) ? [...groups] : [...groups, AUTHENTICATED];
}

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** The bearer token of a request: `Authorization: Bearer …`, or the WebSocket subprotocol form browsers use. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (h) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    return m ? m[1] : undefined;
  }
  const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const p = protocols.find((x) => x.startsWith('base64url.bearer.authorization.k8s.io.'));
  if (!p) return undefined;
  try {
    return Buffer.from(p.slice('base64url.bearer.authorization.k8s.io.'.length), 'base64url').toString('utf8');
  } catch {
    return undefined;
  }
}

export class Authenticator {
  private readonly key = randomBytes(32);
  private readonly userTokens = new Map<string, UserInfo>();

  constructor(private readonly store: Store) {}

  /** A token for `system:serviceaccount:<namespace>:<name>` (the ServiceAccount must exist when it is used). */
  serviceAccountToken(namespace: string, name: string, opts: { audiences?: string[]; expirationSeconds?: number } = {}): string {
    const sa = this.store.get('', 'serviceaccounts', namespace, name);
    const now = Math.floor(Date.now() / 1000);
    const payload = {
      aud: opts.audiences ?? [ISSUER],
      exp: now + (opts.expirationSeconds ?? 3600 * 24),
      iat: now,
      iss: ISSUER,
      jti: randomUUID(),
      'kubernetes.io': { namespace, serviceaccount: { name, uid: sa?.metadata.uid } },
      nbf: now,
      sub: serviceAccountUsername(namespace, name),
    };
    const unsigned = `${b64url({ alg: 'HS256', kid: 'kube-emulator', typ: 'JWT' })}.${b64url(payload)}`;
    return `${unsigned}.${createHmac('sha256', this.key).update(unsigned).digest('base64url')}`;
  }

  /** A static token for a user with the given groups (`system:authenticated` is added). */
  userToken(username: string, groups: string[] = []): string {
    const token = `emu-user-${randomBytes(18).toString('base64url')}`;
    this.userTokens.set(token, { username, groups: withAuthenticated(groups) });
    return token;
  }

  /** The user a bearer token stands for, or undefined (→ 401). */
  authenticate(token: string | undefined): UserInfo | undefined {
    if (!token) return undefined;
    if (token === ADMIN_TOKEN) return structuredClone(ADMIN_USER);
    const user = this.userTokens.get(token);
    if (user) return structuredClone(user);
    return this.serviceAccountJwt(token) ?? this.legacySecretToken(token);
  }

  private serviceAccount(namespace: string, name: string, uid: string | undefined): UserInfo | undefined {
    const sa = this.store.get('', 'serviceaccounts', namespace, name);
    if (!sa || (uid !== undefined && sa.metadata.uid !== uid)) return undefined;
    return { username: serviceAccountUsername(namespace, name), uid: sa.metadata.uid, groups: withAuthenticated(serviceAccountGroups(namespace)) };
  }

  private serviceAccountJwt(token: string): UserInfo | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const expected = createHmac('sha256', this.key).update(`${parts[0]}.${parts[1]}`).digest();
    const given = Buffer.from(parts[2]!, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let payload: Record<string, unknown>;
    try {
      payload = rec(JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')));
    } catch {
      return undefined;
    }
    if (typeof payload.exp === 'number' && payload.exp < Date.now() / 1000) return undefined;
    const k = rec(payload['kubernetes.io']);
    const sa = rec(k.serviceaccount);
    const user = this.serviceAccount(str(k.namespace) ?? '', str(sa.name) ?? '', str(sa.uid));
    if (user) user.extra = { 'authentication.kubernetes.io/credential-id': [`JTI=${str(payload.jti) ?? ''}`] };
    return user;
  }

  private legacySecretToken(token: string): UserInfo | undefined {
    for (const s of this.store.list('', 'secrets')) {
      if (s.type !== 'kubernetes.io/service-account-token') continue;
      const data = rec(s.data);
      if (typeof data.token !== 'string' || Buffer.from(data.token, 'base64').toString('utf8') !== token) continue;
      const saName = s.metadata.annotations?.['kubernetes.io/service-account.name'];
      if (!saName || !s.metadata.namespace) return undefined;
      return this.serviceAccount(s.metadata.namespace, saName, s.metadata.annotations?.['kubernetes.io/service-account.uid']);
    }
    return undefined;
  }
}
