import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from '../shared/kube-client.js';
import { isNotFound } from '../shared/kube-client.js';
import { errorMessage } from '../../util/errors.js';

/** Deployments and StatefulSets: the workloads the restore waits for. */
export const WAITED_RESOURCES = new Set(['deployments.apps', 'statefulsets.apps']);

export interface Readiness {
  ready: boolean;
  /** Why not, e.g. `1/2 replicas ready` or `observedGeneration 1 < generation 2`. */
  why?: string;
}

/**
 * A Deployment or StatefulSet is ready when its controller has seen the current spec
 * (`status.observedGeneration >= metadata.generation`) and as many replicas are ready as the spec asks for.
 */
export function workloadReadiness(obj: any): Readiness {
  const generation = Number(obj?.metadata?.generation ?? 0);
  const observed = Number(obj?.status?.observedGeneration ?? 0);
  if (observed < generation) return { ready: false, why: `observedGeneration ${observed} < generation ${generation}` };
  const want = Number(obj?.spec?.replicas ?? 1);
  const ready = Number(obj?.status?.readyReplicas ?? 0);
  if (ready < want) return { ready: false, why: `${ready}/${want} replicas ready` };
  return { ready: true };
}

export interface WaitTarget {
  /** Report item name. */
  item: string;
  path: string;
}

/**
 * Polls the targets until all are ready or the timeout passes. Returns the ones that were not ready, with
 * why (an empty map when all became ready).
 */
export async function waitForWorkloads(
  client: KubeClient,
  targets: readonly WaitTarget[],
  timeoutSeconds: number,
  opts: { signal?: AbortSignal; pollMs?: number } = {},
): Promise<Map<string, string>> {
  const pending = new Map(targets.map((t) => [t.item, t]));
  const why = new Map<string, string>();
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    for (const [item, t] of [...pending]) {
      try {
        const live = await client.get(t.path, { signal: opts.signal });
        const r = workloadReadiness(live);
        if (r.ready) {
          pending.delete(item);
          why.delete(item);
        } else {
          why.set(item, r.why ?? 'not ready');
        }
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        why.set(item, isNotFound(err) ? 'it no longer exists' : errorMessage(err));
      }
    }
    if (pending.size === 0 || Date.now() >= deadline) break;
    await sleep(Math.min(opts.pollMs ?? 1000, Math.max(0, deadline - Date.now())), undefined, { signal: opts.signal });
  }
  return new Map([...pending.keys()].map((item) => [item, why.get(item) ?? 'not ready']));
}
