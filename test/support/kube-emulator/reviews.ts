/**
 * Create-only review resources (authorization / authentication), answered on the fly.
 * With RBAC off every access review is allowed and the caller is the admin. With RBAC on they are
 * answered by the same authorizer that guards requests: SelfSubjectAccessReview (for the caller,
 * after impersonation — `kubectl auth can-i [--as=...]`), SubjectAccessReview and
 * LocalSubjectAccessReview (for the user in the spec), SelfSubjectRulesReview (`can-i --list`),
 * SelfSubjectReview (`kubectl auth whoami`) and TokenReview.
 */
import type { AccessControl } from './access.js';
import { nonResourceAttributes, resourceAttributes, type Attributes } from './attributes.js';
import { ADMIN_USER, type UserInfo } from './auth.js';
import { badRequest } from './errors.js';
import { apiVersionOf, type ResourceDef } from './registry.js';
import { arr, isRec, rec, str, type Rec } from './types.js';

export interface ReviewContext {
  access: AccessControl;
  /** The requesting (or impersonated) user. */
  user: UserInfo;
}

function userInfoJson(u: UserInfo): Rec {
  const out: Rec = { username: u.username };
  if (u.uid) out.uid = u.uid;
  out.groups = u.groups;
  if (u.extra && Object.keys(u.extra).length) out.extra = u.extra;
  return out;
}

/** Attributes from a review spec (resourceAttributes or nonResourceAttributes). */
function specAttributes(user: UserInfo, spec: Rec, kind: string): Attributes {
  if (isRec(spec.resourceAttributes)) {
    const r = spec.resourceAttributes;
    return resourceAttributes(user, str(r.verb) ?? '', { group: str(r.group), version: str(r.version), resource: str(r.resource) ?? '', subresource: str(r.subresource), namespace: str(r.namespace), name: str(r.name) });
  }
  if (isRec(spec.nonResourceAttributes)) {
    const n = spec.nonResourceAttributes;
    return nonResourceAttributes(user, str(n.verb) ?? '', str(n.path) ?? '');
  }
  throw badRequest(`${kind}.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified`);
}

function accessStatus(ctx: ReviewContext, a: Attributes): Rec {
  const d = ctx.access.decide(a);
  const status: Rec = { allowed: d.allowed };
  if (d.reason) status.reason = d.reason;
  return status;
}

function specUser(spec: Rec): UserInfo {
  const extra: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(rec(spec.extra))) extra[k] = arr(v).map(String);
  const u: UserInfo = { username: str(spec.user) ?? '', groups: arr(spec.groups).map(String) };
  if (str(spec.uid)) u.uid = str(spec.uid);
  if (Object.keys(extra).length) u.extra = extra;
  return u;
}

function rbacStatus(ctx: ReviewContext, kind: string, namespace: string | undefined, spec: Rec): Rec {
  switch (kind) {
    case 'SelfSubjectAccessReview':
      return accessStatus(ctx, specAttributes(ctx.user, spec, 'selfsubjectaccessreviews'));
    case 'SubjectAccessReview':
    case 'LocalSubjectAccessReview': {
      const user = specUser(spec);
      if (!user.username && user.groups.length === 0) throw badRequest(`${kind} is invalid: spec.user: Invalid value: "": at least one of user or group must be specified`);
      const a = specAttributes(user, spec, kind === 'SubjectAccessReview' ? 'subjectaccessreviews' : 'localsubjectaccessreviews');
      if (kind === 'LocalSubjectAccessReview') {
        if (a.resourceRequest && a.namespace !== '' && a.namespace !== namespace) {
          throw badRequest(`spec.resourceAttributes.namespace must match namespace: ${namespace ?? ''}`);
        }
        if (a.resourceRequest) a.namespace = namespace ?? '';
      }
      return accessStatus(ctx, a);
    }
    case 'SelfSubjectRulesReview': {
      const r = ctx.access.authorizer!.rulesFor(ctx.user, str(spec.namespace) ?? '');
      const status: Rec = { resourceRules: r.resourceRules, nonResourceRules: r.nonResourceRules, incomplete: r.incomplete };
      if (r.evaluationError) status.evaluationError = r.evaluationError;
      return status;
    }
    case 'SelfSubjectReview':
      return { userInfo: userInfoJson(ctx.user) };
    case 'TokenReview': {
      const user = ctx.access.authenticator.authenticate(str(spec.token));
      return user ? { authenticated: true, user: userInfoJson(user), audiences: spec.audiences ?? [] } : { user: {}, error: 'invalid bearer token' };
    }
    default:
      throw badRequest(`unknown review kind ${kind}`);
  }
}

function allowAllStatus(kind: string, spec: Rec): Rec {
  switch (kind) {
    case 'SelfSubjectRulesReview':
      return {
        resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
        nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
        incomplete: false,
      };
    case 'SelfSubjectReview':
      return { userInfo: ADMIN_USER };
    case 'TokenReview':
      return { authenticated: true, user: ADMIN_USER, audiences: spec.audiences ?? [] };
    default:
      return { allowed: true, reason: 'the kube emulator allows every request' };
  }
}

export function answerReview(def: ResourceDef, version: string, namespace: string | undefined, body: unknown, ctx: ReviewContext): Rec {
  if (!isRec(body)) throw badRequest(`the object provided is unrecognized (must be of type ${def.kind})`);
  const spec = rec(body.spec);
  const status = ctx.access.rbac ? rbacStatus(ctx, def.kind, namespace, spec) : allowAllStatus(def.kind, spec);
  const metadata: Rec = { ...rec(body.metadata), creationTimestamp: null };
  if (namespace) metadata.namespace = namespace;
  return { kind: def.kind, apiVersion: apiVersionOf(def.group, version), metadata, spec, status };
}
