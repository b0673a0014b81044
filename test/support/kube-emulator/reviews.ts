/**
 * Create-only review resources (authorization / authentication). There is no auth in the
 * emulator: every access review is allowed and the caller is a cluster admin.
 */
import { badRequest } from './errors.js';
import { apiVersionOf, type ResourceDef } from './registry.js';
import { isRec, rec, type Rec } from './types.js';

export const EMULATOR_USER = { username: 'emulator-admin', groups: ['system:masters', 'system:authenticated'] };

export function answerReview(def: ResourceDef, version: string, namespace: string | undefined, body: unknown): Rec {
  if (!isRec(body)) throw badRequest(`the object provided is unrecognized (must be of type ${def.kind})`);
  const spec = rec(body.spec);
  let status: Rec;
  switch (def.kind) {
    case 'SelfSubjectRulesReview':
      status = {
        resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
        nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
        incomplete: false,
      };
      break;
    case 'SelfSubjectReview':
      status = { userInfo: EMULATOR_USER };
      break;
    case 'TokenReview':
      status = { authenticated: true, user: EMULATOR_USER, audiences: spec.audiences ?? [] };
      break;
    default:
      status = { allowed: true, reason: 'the kube emulator allows every request' };
  }
  const metadata: Rec = { ...rec(body.metadata), creationTimestamp: null };
  if (namespace) metadata.namespace = namespace;
  return { kind: def.kind, apiVersion: apiVersionOf(def.group, version), metadata, spec, status };
}
