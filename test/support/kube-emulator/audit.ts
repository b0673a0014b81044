/**
 * The audit log: one entry per authorization check of a request (normally one per request; an
 * impersonating request adds one per impersonated user/group/..., and a WebSocket exec/attach/
 * portforward upgrade adds the synthetic `create` check). Kept in memory and optionally appended
 * to a file as JSON lines. `unusedRules` lists the rules of given Roles/ClusterRoles that no
 * allowed request used.
 */
import { appendFileSync } from 'node:fs';
import type { Attributes } from './attributes.js';
import type { UserInfo } from './auth.js';
import { policyRules, type Decision, type PolicyRule, type RuleRef } from './rbac.js';

export type AuditCheck = 'request' | 'impersonate' | 'websocket-create';

export interface AuditEntry {
  /** ISO timestamp. */
  time: string;
  /** Shared by the checks of one request. */
  requestId: string;
  method: string;
  requestURI: string;
  /** What was checked: the request itself, an impersonation, or the extra `create` check of a WebSocket upgrade. */
  check: AuditCheck;
  /** The user the check is about (the impersonated user once impersonation succeeded); empty when unauthenticated. */
  user: string;
  groups: string[];
  /** The authenticated user behind an impersonated request. */
  impersonatedBy?: { user: string; groups: string[] };
  verb: string;
  resourceRequest: boolean;
  apiGroup?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** The URL path of a non-resource request (what nonResourceURLs match). */
  path?: string;
  decision: 'allowed' | 'denied' | 'unauthenticated';
  reason?: string;
  /** The rule RBAC reports as allowing the request (absent for system:masters and with RBAC off). */
  allowedBy?: RuleRef;
  /** Every rule that alone would have allowed it. */
  matchedRules?: RuleRef[];
}

/** Entries kept in memory (the oldest are dropped beyond this; the file keeps everything). */
export const MAX_AUDIT_ENTRIES = 100_000;

export class AuditLog {
  private readonly list: AuditEntry[] = [];

  constructor(private readonly file?: string) {}

  entries(): AuditEntry[] {
    return structuredClone(this.list);
  }

  clear(): void {
    this.list.length = 0;
  }

  add(entry: AuditEntry): void {
    this.list.push(entry);
    if (this.list.length > MAX_AUDIT_ENTRIES) this.list.splice(0, this.list.length - MAX_AUDIT_ENTRIES);
    if (this.file) appendFileSync(this.file, `${JSON.stringify(entry)}\n`);
  }

  /** Records an authorization decision. */
  record(req: { id: string; method: string; uri: string; impersonatedBy?: UserInfo }, check: AuditCheck, a: Attributes, d: Decision): void {
    const e: AuditEntry = {
      time: new Date().toISOString(),
      requestId: req.id,
      method: req.method,
      requestURI: req.uri,
      check,
      user: a.user.username,
      groups: [...a.user.groups],
      ...(req.impersonatedBy ? { impersonatedBy: { user: req.impersonatedBy.username, groups: [...req.impersonatedBy.groups] } } : {}),
      verb: a.verb,
      resourceRequest: a.resourceRequest,
      decision: d.allowed ? 'allowed' : 'denied',
    };
    if (a.resourceRequest) {
      e.apiGroup = a.apiGroup;
      e.apiVersion = a.apiVersion;
      e.resource = a.resource;
      if (a.subresource) e.subresource = a.subresource;
      if (a.namespace) e.namespace = a.namespace;
      if (a.name) e.name = a.name;
    } else e.path = a.path;
    if (d.reason) e.reason = d.reason;
    if (d.allowedBy) e.allowedBy = d.allowedBy;
    if (d.matchedRules.length) e.matchedRules = d.matchedRules;
    this.add(e);
  }

  /** Records a request that carried no valid credentials (401). */
  unauthenticated(req: { id: string; method: string; uri: string }, path: string): void {
    this.add({ time: new Date().toISOString(), requestId: req.id, method: req.method, requestURI: req.uri, check: 'request', user: '', groups: [], verb: req.method.toLowerCase(), resourceRequest: false, path, decision: 'unauthenticated' });
  }
}

export interface UnusedRule {
  kind: 'Role' | 'ClusterRole';
  name: string;
  namespace?: string;
  ruleIndex: number;
  rule: PolicyRule;
}

/** A Role or ClusterRole as a plain object (parsed YAML, a stored object...). */
export interface RoleLike {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  rules?: unknown;
}

/**
 * The rules of the given Roles/ClusterRoles (other kinds are ignored, so a whole rendered manifest
 * can be passed) that no allowed entry of the audit log matched. A rule counts as used when it alone
 * would have allowed an allowed check, even if another rule was reported as the one allowing it.
 */
export function unusedRules(audit: AuditEntry[], roles: RoleLike[]): UnusedRule[] {
  const used = audit.filter((e) => e.decision === 'allowed').flatMap((e) => e.matchedRules ?? []);
  const out: UnusedRule[] = [];
  for (const role of roles) {
    const kind = role.kind;
    if (kind !== 'Role' && kind !== 'ClusterRole') continue;
    const name = role.metadata?.name ?? '';
    // A Role given without a namespace matches that Role in any namespace.
    const namespace = kind === 'Role' ? role.metadata?.namespace : undefined;
    policyRules(role.rules).forEach((rule, ruleIndex) => {
      const isUsed = used.some((r) => r.roleKind === kind && r.roleName === name && r.ruleIndex === ruleIndex && (namespace === undefined || r.roleNamespace === namespace));
      if (isUsed) return;
      const u: UnusedRule = { kind, name, ruleIndex, rule };
      if (namespace !== undefined) u.namespace = namespace;
      out.push(u);
    });
  }
  return out;
}
