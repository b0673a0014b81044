import { mapLimit } from '../../util/concurrency.js';
import type { KubeClient } from './kube-client.js';

/** One permission, as a SelfSubjectAccessReview's resourceAttributes (namespace unset: in every namespace). */
export interface KubePermission {
  verb: string;
  resource: string;
  group?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** `create pods/exec redis-0 in ai-qtrd`, `list deployments.apps in ai-qtrd`, `create namespaces`. */
export function describePermission(p: KubePermission): string {
  const what = `${p.resource}${p.group ? `.${p.group}` : ''}${p.subresource ? `/${p.subresource}` : ''}`;
  return `${p.verb} ${what}${p.name ? ` ${p.name}` : ''}${p.namespace ? ` in ${p.namespace}` : ''}`;
}

/**
 * Asks the API server, with one SelfSubjectAccessReview each, whether the kubeconfig's user may do these things
 * (the way `kubectl auth can-i` does). Returns the ones it may not, with the API's reason when it gives one.
 */
export async function deniedPermissions(client: KubeClient, perms: readonly KubePermission[], signal?: AbortSignal): Promise<Array<KubePermission & { reason?: string }>> {
  type Denied = KubePermission & { reason?: string };
  const answers = await mapLimit([...perms], 8, async (p): Promise<Denied | undefined> => {
    const review = await client.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { verb: p.verb, resource: p.resource, group: p.group ?? '', subresource: p.subresource, namespace: p.namespace, name: p.name } },
      },
      signal,
    });
    const status = (review as { status?: { allowed?: boolean; reason?: string } } | undefined)?.status;
    return status?.allowed === true ? undefined : { ...p, reason: status?.reason || undefined };
  });
  return answers.filter((a): a is Denied => a !== undefined);
}

/** The detail of a rights row: ok when nothing is denied; else the denied ones, named. */
export function rightsOutcome(what: string, total: number, denied: ReturnType<typeof describePermission>[]): { status: 'ok' | 'failed'; detail: string } {
  if (denied.length === 0) return { status: 'ok', detail: `${what}: all ${total} permissions allowed (SelfSubjectAccessReview)` };
  const named = denied.slice(0, 8).join(', ');
  return { status: 'failed', detail: `${what}: ${denied.length} of ${total} permissions denied: ${named}${denied.length > 8 ? ` and ${denied.length - 8} more` : ''}` };
}
