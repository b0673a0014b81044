import { KubeApiError, KubeClient, loadKubeConfig } from './kube-client.js';
import { OperationError, errorMessage } from '../../util/errors.js';

/** How long the API server has to answer /version before a backup: it answers at once when it is up. */
export const KUBE_PREFLIGHT_TIMEOUT_MS = 10_000;

/**
 * Before a backup that needs the Kubernetes API (`sources.kube`, or Redis `method: exec`), before anything runs:
 * the kubeconfig loads and has a current cluster (else a UsageError naming it), and the API server answers
 * `GET /version` within a short timeout (else an OperationError). An API server that answers with an HTTP error
 * is reachable and passes, except 401: the credentials are refused, and every later request would be too.
 */
export async function preflightKube(
  src: { kubeconfig?: string; context?: string } | undefined,
  needer: string,
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? KUBE_PREFLIGHT_TIMEOUT_MS;
  const client = new KubeClient(loadKubeConfig(src), timeoutMs);
  try {
    await client.get('/version', { signal: opts.signal, timeoutMs });
  } catch (err) {
    if (err instanceof KubeApiError) {
      if (err.code !== 401) return;
      throw new OperationError(`${needer}: the Kubernetes API ${client.description} refused the kubeconfig's credentials (${err.detail}); nothing was backed up`);
    }
    throw new OperationError(`${needer}: the Kubernetes API does not answer, so the backup did not start: ${errorMessage(err)}`, { cause: err });
  }
}
