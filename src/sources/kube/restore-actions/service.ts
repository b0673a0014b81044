import type { RestoreAction, TransformContext } from './types.js';
import { isRecord } from './types.js';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Services: the cluster allocates `clusterIP`/`clusterIPs` (kept only for headless Services, `None`) and node
 * ports. Node ports are dropped unless `keepNodePorts`, except the ones the user set explicitly, as recorded
 * in kubectl's last-applied-configuration (what Velero does), so a NodePort Service keeps its well-known port.
 */
export const serviceAction: RestoreAction = {
  name: 'service',
  appliesTo: (r) => r.group === '' && r.resource === 'services',
  transform(obj: any, ctx: TransformContext) {
    const spec = obj.spec;
    if (!isRecord(spec)) return obj;
    if (spec.clusterIP !== 'None') {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (ctx.keepNodePorts) return obj;
    delete spec.healthCheckNodePort;
    const explicit = explicitNodePorts(obj);
    if (Array.isArray(spec.ports)) {
      for (const p of spec.ports) {
        if (isRecord(p) && p.nodePort !== undefined && !explicit.has(p.nodePort)) delete p.nodePort;
      }
    }
    return obj;
  },
  prepareUpdate(desired: any, live: any) {
    // clusterIP(s) are immutable, and node ports the desired object leaves open stay as allocated.
    const d = desired.spec;
    const l = live?.spec;
    if (!isRecord(d) || !isRecord(l)) return desired;
    if (d.clusterIP === undefined && l.clusterIP !== undefined) d.clusterIP = l.clusterIP;
    if (d.clusterIPs === undefined && l.clusterIPs !== undefined) d.clusterIPs = l.clusterIPs;
    if (d.healthCheckNodePort === undefined && l.healthCheckNodePort !== undefined && d.type === l.type) d.healthCheckNodePort = l.healthCheckNodePort;
    if (Array.isArray(d.ports) && Array.isArray(l.ports) && d.type === l.type) {
      for (const p of d.ports) {
        if (!isRecord(p) || p.nodePort !== undefined) continue;
        const match = l.ports.find((q: any) => isRecord(q) && (q.name ?? '') === (p.name ?? '') && q.port === p.port && (q.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
        if (match?.nodePort !== undefined) p.nodePort = match.nodePort;
      }
    }
    return desired;
  },
};

function explicitNodePorts(obj: any): Set<number> {
  const out = new Set<number>();
  const text = obj.metadata?.annotations?.[LAST_APPLIED];
  if (typeof text !== 'string') return out;
  try {
    const applied = JSON.parse(text);
    for (const p of applied?.spec?.ports ?? []) if (typeof p?.nodePort === 'number') out.add(p.nodePort);
  } catch {
    // not JSON: nothing was set explicitly as far as we can tell
  }
  return out;
}
