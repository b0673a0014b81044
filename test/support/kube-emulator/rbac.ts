/**
 * The RBAC authorizer, following Kubernetes' rbac.authorizer: ClusterRoleBindings are visited,
 * then (for namespaced requests) the RoleBindings of the request's namespace; a binding applies
 * when one of its subjects is the user (User), one of its groups (Group) or the ServiceAccount
 * (namespace defaulting to the binding's); its Role/ClusterRole rules are matched by verb, API
 * group, resource (`res/sub`, `*`, `*` + `/sub`), resourceNames and nonResourceURLs (exact,
 * `*`, or a trailing `*` prefix). A RoleBinding to a ClusterRole grants it in its namespace only.
 * Members of `system:masters` are always allowed (the apiserver's privileged-group authorizer).
 * RBAC never denies explicitly: no match is "no opinion", which the server turns into a 403.
 */
import type { Attributes } from './attributes.js';
import type { UserInfo } from './auth.js';
import { parseServiceAccountUsername } from './auth.js';
import type { Store } from './store.js';
import { arr, rec, str, type KubeObject } from './types.js';

const RBAC = 'rbac.authorization.k8s.io';
const PRIVILEGED_GROUP = 'system:masters';

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** Where an allowing rule came from. */
export interface RuleRef {
  bindingKind: 'ClusterRoleBinding' | 'RoleBinding';
  bindingName: string;
  bindingNamespace?: string;
  roleKind: 'ClusterRole' | 'Role';
  roleName: string;
  /** Set for Roles (a ClusterRole has none, even when bound by a RoleBinding). */
  roleNamespace?: string;
  ruleIndex: number;
}

export interface Decision {
  allowed: boolean;
  /** The authorizer's reason, as in SubjectAccessReview status.reason and after a 403 message. */
  reason: string;
  /** The rule RBAC reports (the first match in visit order). */
  allowedBy?: RuleRef;
  /** Every rule of every applicable binding that allows the request (for unused-rule analysis). */
  matchedRules: RuleRef[];
}

export interface RulesForResult {
  resourceRules: Array<Pick<PolicyRule, 'verbs' | 'apiGroups' | 'resources' | 'resourceNames'>>;
  nonResourceRules: Array<Pick<PolicyRule, 'verbs' | 'nonResourceURLs'>>;
  incomplete: boolean;
  evaluationError?: string;
}

const strings = (v: unknown): string[] => arr(v).filter((x): x is string => typeof x === 'string');

export function policyRules(rules: unknown): PolicyRule[] {
  return arr(rules).map((r) => {
    const x = rec(r);
    const out: PolicyRule = { verbs: strings(x.verbs) };
    for (const k of ['apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'] as const) if (Array.isArray(x[k])) out[k] = strings(x[k]);
    return out;
  });
}

const has = (list: string[] | undefined, v: string): boolean => (list ?? []).some((x) => x === '*' || x === v);

function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (subresource && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) return true;
  }
  return false;
}

function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))));
}

/** rbac's RuleAllows. */
export function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) return nonResourceURLMatches(rule, a.path);
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const names = rule.resourceNames ?? [];
  return has(rule.apiGroups, a.apiGroup) && resourceMatches(rule, combined, a.subresource) && (names.length === 0 || names.includes(a.name));
}

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}

/** Index of the first subject that is this user, or -1. */
function subjectIndex(user: UserInfo, subjects: Subject[], namespace: string): number {
  return subjects.findIndex((s) => {
    switch (s.kind) {
      case 'User':
        return s.name === user.username;
      case 'Group':
        return s.name !== undefined && user.groups.includes(s.name);
      case 'ServiceAccount': {
        const ns = s.namespace || namespace;
        const sa = parseServiceAccountUsername(user.username);
        return !!ns && !!sa && sa.namespace === ns && sa.name === s.name;
      }
      default:
        return false;
    }
  });
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} "${s.name ?? ''}/${s.namespace || bindingNamespace}"`;
  return `${s.kind ?? ''} "${s.name ?? ''}"`;
}

interface Visit {
  ref: Omit<RuleRef, 'ruleIndex'>;
  describe: string;
  rules: PolicyRule[];
}

/** Aggregated error text like utilerrors.NewAggregate. */
function aggregate(errors: string[]): string {
  return errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]`;
}

export class RbacAuthorizer {
  constructor(private readonly store: Store) {}

  /** The applicable bindings and their roles' rules, in visit order; missing roles become errors. */
  private visit(user: UserInfo, namespace: string, errors: string[]): Visit[] {
    const out: Visit[] = [];
    const bindings: KubeObject[] = [...this.store.list(RBAC, 'clusterrolebindings')];
    if (namespace) bindings.push(...this.store.list(RBAC, 'rolebindings', namespace));
    for (const b of bindings) {
      const cluster = b.metadata.namespace === undefined;
      const bindingNs = b.metadata.namespace ?? '';
      const subjects = arr(b.subjects).map((s) => rec(s) as Subject);
      const i = subjectIndex(user, subjects, cluster ? '' : namespace);
      if (i < 0) continue;
      const roleRef = rec(b.roleRef);
      const kind = str(roleRef.kind) ?? '';
      const roleName = str(roleRef.name) ?? '';
      let role: KubeObject | undefined;
      if (kind === 'ClusterRole') role = this.store.get(RBAC, 'clusterroles', undefined, roleName);
      else if (kind === 'Role') role = cluster ? undefined : this.store.get(RBAC, 'roles', bindingNs, roleName);
      else {
        errors.push(`unsupported role reference kind: "${kind}"`);
        continue;
      }
      if (!role) {
        errors.push(`${kind.toLowerCase()}.${RBAC} "${roleName}" not found`);
        continue;
      }
      const bindingKind = cluster ? 'ClusterRoleBinding' : 'RoleBinding';
      const ref: Visit['ref'] = { bindingKind, bindingName: b.metadata.name ?? '', roleKind: kind as RuleRef['roleKind'], roleName };
      if (!cluster) ref.bindingNamespace = bindingNs;
      if (kind === 'Role') ref.roleNamespace = bindingNs;
      const bindingLabel = cluster ? `ClusterRoleBinding "${ref.bindingName}"` : `RoleBinding "${ref.bindingName}/${bindingNs}"`;
      out.push({ ref, describe: `${bindingLabel} of ${kind} "${roleName}" to ${describeSubject(subjects[i]!, bindingNs)}`, rules: policyRules(role.rules) });
    }
    return out;
  }

  authorize(a: Attributes): Decision {
    if (a.user.groups.includes(PRIVILEGED_GROUP)) return { allowed: true, reason: '', matchedRules: [] };
    const errors: string[] = [];
    const matchedRules: RuleRef[] = [];
    let first: { ref: RuleRef; describe: string } | undefined;
    for (const v of this.visit(a.user, a.namespace, errors)) {
      v.rules.forEach((rule, ruleIndex) => {
        if (!ruleAllows(a, rule)) return;
        const ref = { ...v.ref, ruleIndex };
        matchedRules.push(ref);
        first ??= { ref, describe: v.describe };
      });
    }
    if (first) return { allowed: true, reason: `RBAC: allowed by ${first.describe}`, allowedBy: first.ref, matchedRules };
    return { allowed: false, reason: errors.length ? `RBAC: ${aggregate(errors)}` : '', matchedRules };
  }

  /** What SelfSubjectRulesReview reports: every rule that applies to the user in the namespace. */
  rulesFor(user: UserInfo, namespace: string): RulesForResult {
    const out: RulesForResult = { resourceRules: [], nonResourceRules: [], incomplete: false };
    if (user.groups.includes(PRIVILEGED_GROUP)) {
      out.resourceRules.push({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] });
      out.nonResourceRules.push({ verbs: ['*'], nonResourceURLs: ['*'] });
    }
    const errors: string[] = [];
    for (const v of this.visit(user, namespace, errors)) {
      for (const r of v.rules) {
        if (r.nonResourceURLs?.length) out.nonResourceRules.push({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs });
        else {
          const rr: RulesForResult['resourceRules'][number] = { verbs: r.verbs, apiGroups: r.apiGroups ?? [], resources: r.resources ?? [] };
          if (r.resourceNames?.length) rr.resourceNames = r.resourceNames;
          out.resourceRules.push(rr);
        }
      }
    }
    if (errors.length) {
      out.incomplete = true;
      out.evaluationError = aggregate(errors);
    }
    return out;
  }
}
