import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from '../shared/kube-client.js';
import { KubeApiError, collectionPath, isAlreadyExists, isConflict, objectPath } from '../shared/kube-client.js';
import { errorMessage } from '../../util/errors.js';
import { redactSecrets } from '../../util/redact.js';
import type { RestoreItemResult } from '../restore-context.js';

export interface ApplyTarget {
  resource: string;
  group: string;
  /** Set for namespaced objects. */
  namespace?: string;
  name: string;
}

export interface ApplyOptions {
  existing: 'skip' | 'update';
  dryRun: boolean;
  signal?: AbortSignal;
  /** Adjusts the desired object before it replaces the live one (per-kind immutable fields). */
  prepareUpdate?: (desired: any, live: any) => any;
}

export interface ApplyOutcome {
  result: RestoreItemResult['result'];
  detail?: string;
  /** The live object before the restore touched it, when there was one. */
  live?: any;
}

export function pathsFor(obj: any, t: ApplyTarget): { collection: string; object: string } {
  const gv: string = obj.apiVersion;
  return { collection: collectionPath(gv, t.resource, t.namespace), object: objectPath(gv, t.resource, t.name, t.namespace) };
}

/**
 * Creates one object, or handles it existing: `skip` leaves it, `update` replaces it (with the live
 * resourceVersion, re-reading on a conflict). A dry run only reads. API failures become a `failed` outcome
 * carrying the API's reason and message (with a Secret's values redacted from it); nothing throws except an
 * abort.
 */
export async function applyObject(client: KubeClient, obj: any, t: ApplyTarget, opts: ApplyOptions): Promise<ApplyOutcome> {
  const paths = pathsFor(obj, t);
  const signal = opts.signal;
  try {
    let live = await client.getOptional(paths.object, { signal });
    if (opts.dryRun) {
      if (!live) return { result: 'would-create' };
      return opts.existing === 'update' ? { result: 'would-update', live } : { result: 'would-skip', detail: 'already exists', live };
    }
    if (!live) {
      try {
        await client.request('POST', paths.collection, { body: obj, signal });
        return { result: 'created' };
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        live = await client.getOptional(paths.object, { signal });
        if (!live) throw err;
      }
    }
    if (opts.existing === 'skip') return { result: 'skipped', detail: 'already exists', live };
    for (let attempt = 1; ; attempt++) {
      const desired = opts.prepareUpdate ? opts.prepareUpdate(structuredClone(obj), live) : structuredClone(obj);
      desired.metadata = { ...desired.metadata, resourceVersion: live.metadata?.resourceVersion };
      try {
        await client.request('PUT', paths.object, { body: desired, signal });
        return { result: 'updated', live };
      } catch (err) {
        if (!isConflict(err) || attempt >= 3) throw err;
        live = await client.getOptional(paths.object, { signal });
        if (!live) {
          await client.request('POST', paths.collection, { body: obj, signal });
          return { result: 'created' };
        }
      }
    }
  } catch (err) {
    if (signal?.aborted) throw err;
    return { result: 'failed', detail: failureDetail(err, obj) };
  }
}

/** The API's reason and message; for a Secret, its values (plain and base64) never appear in it. */
export function failureDetail(err: unknown, obj: any): string {
  const text = err instanceof KubeApiError ? err.detail : errorMessage(err);
  return obj?.kind === 'Secret' ? redactSecrets(text, secretValues(obj)) : text;
}

/** Every value of a Secret as it could appear in a message: base64 as stored, and decoded. */
export function secretValues(secret: any): string[] {
  const out: string[] = [];
  for (const v of Object.values(secret?.data ?? {})) {
    if (typeof v !== 'string') continue;
    out.push(v);
    const decoded = Buffer.from(v, 'base64').toString('utf8');
    if (decoded) out.push(decoded);
  }
  for (const v of Object.values(secret?.stringData ?? {})) if (typeof v === 'string') out.push(v, Buffer.from(v).toString('base64'));
  // Longest first, so a value containing another is replaced whole.
  return out.sort((a, b) => b.length - a.length);
}

/**
 * Waits until the CRDs report the Established condition (their API is served). Returns the names that did
 * not, with the last condition seen.
 */
export async function waitForCrdsEstablished(
  client: KubeClient,
  crds: ReadonlyArray<{ name: string; path: string }>,
  timeoutSeconds: number,
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const pending = new Map(crds.map((c) => [c.name, c.path]));
  const why = new Map<string, string>();
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    for (const [name, path] of [...pending]) {
      try {
        const crd = await client.get(path, { signal });
        const conds: any[] = Array.isArray(crd?.status?.conditions) ? crd.status.conditions : [];
        const est = conds.find((c) => c?.type === 'Established');
        if (est?.status === 'True') {
          pending.delete(name);
        } else {
          why.set(name, est ? `Established=${est.status}${est.message ? `: ${est.message}` : ''}` : 'no Established condition yet');
        }
      } catch (err) {
        if (signal?.aborted) throw err;
        why.set(name, errorMessage(err));
      }
    }
    if (pending.size === 0 || Date.now() >= deadline) break;
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())), undefined, { signal });
  }
  return new Map([...pending.keys()].map((n) => [n, why.get(n) ?? 'not established']));
}
