import { OperationError, UsageError } from '../../util/errors.js';
import { isNotFound, type KubeClient } from '../shared/kube-client.js';

export const DRILL_LABEL = 'gushen-dr.io/drill';

/**
 * Creates the drill's namespace, labelled as a drill. Refuses the production namespace and any existing
 * namespace without the drill label: a drill never writes where production lives.
 */
export async function createDrillNamespace(client: KubeClient, name: string, sourceNamespace: string, drillId: string): Promise<void> {
  if (name === sourceNamespace) throw new UsageError(`refusing to drill into ${name}: it is the backed-up (production) namespace`);
  const existing = await client.getOptional(`/api/v1/namespaces/${encodeURIComponent(name)}`);
  if (existing) {
    if (existing.metadata?.labels?.[DRILL_LABEL] !== 'true') {
      throw new UsageError(`refusing to drill into namespace ${name}: it exists and lacks the label ${DRILL_LABEL}=true`);
    }
    throw new UsageError(`namespace ${name} exists already (an earlier drill kept with --keep?); delete it or pick another`);
  }
  await client.request('POST', '/api/v1/namespaces', {
    body: {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { [DRILL_LABEL]: 'true', 'gushen-dr.io/drill-id': drillId.toLowerCase().replace(/[^a-z0-9-]/g, '-') } },
    },
  });
}

/** Deletes the drill namespace, but only one that carries the drill label. */
export async function deleteDrillNamespace(client: KubeClient, name: string, timeoutMs = 120_000): Promise<void> {
  const path = `/api/v1/namespaces/${encodeURIComponent(name)}`;
  const ns = await client.getOptional(path);
  if (!ns) return;
  if (ns.metadata?.labels?.[DRILL_LABEL] !== 'true') throw new OperationError(`not deleting namespace ${name}: it lacks the label ${DRILL_LABEL}=true`);
  await client.request('DELETE', path).catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await client.getOptional(path))) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new OperationError(`namespace ${name} is still terminating after ${timeoutMs / 1000}s`);
}
