/**
 * Access control of one request: authentication (bearer token → user, 401 otherwise),
 * impersonation headers, authorization of the request's attributes (403 otherwise), each check
 * recorded in the audit log. With RBAC off every request is the admin and allowed (and still audited).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { forbidden, requestAttributes, resourceAttributes, unauthorized, type Attributes } from './attributes.js';
import { AuditLog, type AuditCheck } from './audit.js';
import { ADMIN_USER, Authenticator, bearerToken, type UserInfo } from './auth.js';
import { impersonate } from './impersonation.js';
import { RbacAuthorizer, type Decision } from './rbac.js';
import type { Store } from './store.js';

export interface AccessOptions {
  /** Enforce authentication and RBAC (default: allow everything as the admin). */
  rbac?: boolean;
  /** Also append audit entries to this file as JSON lines. */
  auditLogFile?: string;
}

/** Who a request acts as. */
export interface RequestIdentity {
  user: UserInfo;
  /** The authenticated user, when the request impersonates `user`. */
  impersonatedBy?: UserInfo;
}

export interface Admitted extends RequestIdentity {
  requestId: string;
  attributes: Attributes;
}

const ALLOW_ALL: Decision = { allowed: true, reason: 'RBAC is off in this emulator: every request is allowed', matchedRules: [] };

/** Subresources whose WebSocket upgrade (a GET) also needs `create` (API servers ≥ 1.35). */
const CONNECT_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

export class AccessControl {
  readonly authenticator: Authenticator;
  /** Undefined when RBAC is off. */
  readonly authorizer?: RbacAuthorizer;
  readonly audit: AuditLog;

  constructor(store: Store, opts: AccessOptions = {}) {
    this.authenticator = new Authenticator(store);
    if (opts.rbac) this.authorizer = new RbacAuthorizer(store);
    this.audit = new AuditLog(opts.auditLogFile);
  }

  get rbac(): boolean {
    return this.authorizer !== undefined;
  }

  /** The authorizer's decision (allow-all when RBAC is off); records nothing. */
  decide(a: Attributes): Decision {
    return this.authorizer ? this.authorizer.authorize(a) : ALLOW_ALL;
  }

  /** Authenticates, applies impersonation and authorizes an HTTP request; throws the 401/403/500 to send. */
  admit(req: IncomingMessage, url: URL): Admitted {
    const requestId = randomUUID();
    const meta = { id: requestId, method: req.method ?? 'GET', uri: req.url ?? '/' };
    if (!this.authorizer) {
      const attributes = requestAttributes(ADMIN_USER, meta.method, url);
      this.audit.record(meta, 'request', attributes, ALLOW_ALL);
      return { requestId, user: structuredClone(ADMIN_USER), attributes };
    }
    const authenticated = this.authenticator.authenticate(bearerToken(req));
    if (!authenticated) {
      this.audit.unauthenticated(meta, url.pathname);
      throw unauthorized();
    }
    const check = (kind: AuditCheck, a: Attributes, impersonatedBy?: UserInfo): Decision => {
      const d = this.decide(a);
      this.audit.record({ ...meta, impersonatedBy }, kind, a, d);
      return d;
    };
    const impersonated = impersonate(req, authenticated, (a) => check('impersonate', a));
    const user = impersonated ?? authenticated;
    const impersonatedBy = impersonated ? authenticated : undefined;
    const attributes = requestAttributes(user, meta.method, url);
    const d = check('request', attributes, impersonatedBy);
    if (!d.allowed) throw forbidden(attributes, d.reason);
    if (this.isConnectUpgrade(req, attributes)) {
      const create = resourceAttributes(user, 'create', { group: attributes.apiGroup, version: attributes.apiVersion, resource: attributes.resource, subresource: attributes.subresource, namespace: attributes.namespace, name: attributes.name });
      const dc = check('websocket-create', create, impersonatedBy);
      if (!dc.allowed) throw forbidden(create, dc.reason);
    }
    const out: Admitted = { requestId, user, attributes };
    if (impersonatedBy) out.impersonatedBy = impersonatedBy;
    return out;
  }

  /** A GET that upgrades to a WebSocket on pods/exec|attach|portforward: also authorized as `create`. */
  private isConnectUpgrade(req: IncomingMessage, a: Attributes): boolean {
    return (
      a.resourceRequest && a.verb === 'get' && a.apiGroup === '' && a.resource === 'pods' && CONNECT_SUBRESOURCES.has(a.subresource) && (req.headers.upgrade ?? '').toLowerCase() === 'websocket'
    );
  }
}
