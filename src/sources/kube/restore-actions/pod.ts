import type { RestoreAction } from './types.js';
import { isRecord } from './types.js';

const TOKEN_VOLUME_RE = /^kube-api-access-[a-z0-9]+$/;

/**
 * Bare Pods (controller-owned ones are not backed up): the scheduler picks a node, admission sets the
 * priority from priorityClassName, and the ServiceAccount admission plugin injects the API token volume;
 * copies of those are dropped so the Pod is admitted afresh.
 */
export const podAction: RestoreAction = {
  name: 'pod',
  appliesTo: (r) => r.group === '' && r.resource === 'pods',
  transform(obj: any) {
    const spec = obj.spec;
    if (!isRecord(spec)) return obj;
    delete spec.nodeName;
    if (spec.priorityClassName) delete spec.priority;
    const sa = spec.serviceAccountName ?? spec.serviceAccount ?? 'default';
    const isTokenVolume = (v: any) =>
      isRecord(v) && typeof v.name === 'string' && (TOKEN_VOLUME_RE.test(v.name) || (v.name.startsWith(`${sa}-token-`) && isRecord(v.secret)));
    const dropped = new Set<string>();
    if (Array.isArray(spec.volumes)) {
      spec.volumes = spec.volumes.filter((v: any) => {
        if (!isTokenVolume(v)) return true;
        dropped.add(v.name);
        return false;
      });
      if (spec.volumes.length === 0) delete spec.volumes;
    }
    for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
      for (const c of Array.isArray(spec[field]) ? spec[field] : []) {
        if (!isRecord(c) || !Array.isArray(c.volumeMounts)) continue;
        c.volumeMounts = c.volumeMounts.filter((m: any) => !(isRecord(m) && dropped.has(m.name)));
        if (c.volumeMounts.length === 0) delete c.volumeMounts;
      }
    }
    return obj;
  },
};
