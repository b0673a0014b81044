/** Service defaulting, clusterIP / nodePort allocation and validation. */
import { invalid, type FieldError } from './errors.js';
import type { Store } from './store.js';
import { arr, clone, isRec, num, rec, str, type KubeObject, type Rec } from './types.js';
import { quote } from './validation.js';

export const SERVICE_CIDR = '10.43.0.0/16';
const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;

function ipToInt(ip: string): number | undefined {
  const m = ip.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const CIDR_BASE = ipToInt('10.43.0.0')!;
const CIDR_SIZE = 1 << 16;

function inRange(ip: string): boolean {
  const n = ipToInt(ip);
  return n !== undefined && n > CIDR_BASE && n < CIDR_BASE + CIDR_SIZE - 1;
}

function otherServices(store: Store, svc: KubeObject): KubeObject[] {
  return store.list('', 'services').filter((s) => !(s.metadata.namespace === svc.metadata.namespace && s.metadata.name === svc.metadata.name));
}

function usedIps(store: Store, svc: KubeObject): Set<string> {
  const out = new Set<string>();
  for (const s of otherServices(store, svc)) {
    const ip = str(rec(s.spec).clusterIP);
    if (ip && ip !== 'None') out.add(ip);
  }
  return out;
}

function usedNodePorts(store: Store, svc: KubeObject): Set<number> {
  const out = new Set<number>();
  for (const s of otherServices(store, svc)) for (const p of arr(rec(s.spec).ports)) {
    const np = num(rec(p).nodePort);
    if (np) out.add(np);
  }
  return out;
}

function allocateIp(used: Set<string>): string {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const ip = intToIp(CIDR_BASE + 2 + Math.floor(Math.random() * (CIDR_SIZE - 3)));
    if (!used.has(ip)) return ip;
  }
  for (let n = CIDR_BASE + 2; n < CIDR_BASE + CIDR_SIZE - 1; n++) if (!used.has(intToIp(n))) return intToIp(n);
  throw new Error('service IP range exhausted');
}

function allocateNodePort(used: Set<number>): number {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const p = NODE_PORT_MIN + Math.floor(Math.random() * (NODE_PORT_MAX - NODE_PORT_MIN + 1));
    if (!used.has(p)) return p;
  }
  for (let p = NODE_PORT_MIN; p <= NODE_PORT_MAX; p++) if (!used.has(p)) return p;
  throw new Error('node port range exhausted');
}

const TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];

function defaultPorts(spec: Rec, errs: FieldError[]): Rec[] {
  const ports = arr(spec.ports).map((p) => ({ ...rec(p) }));
  const names = new Set<string>();
  ports.forEach((p, i) => {
    if (p.protocol === undefined) p.protocol = 'TCP';
    const port = num(p.port);
    if (port === undefined) errs.push({ field: `spec.ports[${i}].port`, type: 'Required' });
    else if (port < 1 || port > 65535) errs.push({ field: `spec.ports[${i}].port`, type: 'Invalid', value: String(port), detail: 'must be between 1 and 65535, inclusive' });
    if (p.targetPort === undefined && port !== undefined) p.targetPort = port;
    const name = str(p.name);
    if (ports.length > 1 && !name) errs.push({ field: `spec.ports[${i}].name`, type: 'Required' });
    if (name) {
      if (names.has(name)) errs.push({ field: `spec.ports[${i}].name`, type: 'Duplicate', value: quote(name) });
      names.add(name);
    }
  });
  spec.ports = ports;
  return ports;
}

/** Defaults and validates a Service; allocates its clusterIP and nodePorts. `old` is set for updates. */
export function admitService(store: Store, svc: KubeObject, old: KubeObject | undefined): void {
  const name = svc.metadata.name ?? '';
  const spec: Rec = isRec(svc.spec) ? svc.spec : {};
  svc.spec = spec;
  const oldSpec = old ? rec(old.spec) : undefined;
  const errs: FieldError[] = [];
  if (spec.type === undefined) spec.type = 'ClusterIP';
  const type = str(spec.type) ?? '';
  if (!TYPES.includes(type)) {
    throw invalid('Service', name, [{ field: 'spec.type', type: 'NotSupported', value: quote(type), detail: `supported values: ${TYPES.map(quote).join(', ')}` }]);
  }
  const ports = defaultPorts(spec, errs);
  if (spec.sessionAffinity === undefined) spec.sessionAffinity = 'None';

  if (type === 'ExternalName') {
    if (!str(spec.externalName)) errs.push({ field: 'spec.externalName', type: 'Required' });
    delete spec.clusterIP;
    delete spec.clusterIPs;
    if (errs.length) throw invalid('Service', name, errs);
    return;
  }

  // clusterIP
  if (oldSpec && (spec.clusterIP === undefined || spec.clusterIP === '') && str(oldSpec.clusterIP)) {
    spec.clusterIP = oldSpec.clusterIP;
    spec.clusterIPs = clone(oldSpec.clusterIPs ?? [oldSpec.clusterIP]);
  }
  let ip = str(spec.clusterIP) ?? '';
  if (!ip && Array.isArray(spec.clusterIPs) && typeof spec.clusterIPs[0] === 'string') ip = spec.clusterIPs[0];
  if (oldSpec && str(oldSpec.clusterIP) && ip !== oldSpec.clusterIP && oldSpec.type !== 'ExternalName') {
    throw invalid('Service', name, [{ field: 'spec.clusterIP', type: 'Invalid', value: quote(ip), detail: 'field is immutable' }]);
  }
  const headless = ip === 'None';
  if (headless && (type === 'NodePort' || type === 'LoadBalancer')) {
    errs.push({ field: 'spec.clusterIPs[0]', type: 'Invalid', value: quote('None'), detail: `may not be set to 'None' for ${type} services` });
  }
  if (!headless && ports.length === 0) errs.push({ field: 'spec.ports', type: 'Required' });
  if (errs.length) throw invalid('Service', name, errs);
  const unchanged = oldSpec !== undefined && ip === oldSpec.clusterIP;
  if (!ip) {
    ip = allocateIp(usedIps(store, svc));
  } else if (!headless && !unchanged) {
    if (ipToInt(ip) === undefined) {
      throw invalid('Service', name, [{ field: 'spec.clusterIPs[0]', type: 'Invalid', value: quote(ip), detail: 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)' }]);
    }
    if (!inRange(ip)) {
      throw invalid('Service', name, [{ field: 'spec.clusterIPs', type: 'Invalid', value: JSON.stringify([ip]), detail: `failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${SERVICE_CIDR}` }]);
    }
    if (usedIps(store, svc).has(ip)) {
      throw invalid('Service', name, [{ field: 'spec.clusterIPs', type: 'Invalid', value: JSON.stringify([ip]), detail: `failed to allocate IP ${ip}: provided IP is already allocated` }]);
    }
  }
  spec.clusterIP = ip;
  spec.clusterIPs = [ip];
  if (spec.ipFamilies === undefined) spec.ipFamilies = ['IPv4'];
  if (spec.ipFamilyPolicy === undefined) spec.ipFamilyPolicy = 'SingleStack';
  if (spec.internalTrafficPolicy === undefined) spec.internalTrafficPolicy = 'Cluster';

  // nodePorts
  const wantsNodePorts = type === 'NodePort' || type === 'LoadBalancer';
  if (wantsNodePorts) {
    if (spec.externalTrafficPolicy === undefined) spec.externalTrafficPolicy = 'Cluster';
    if (type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === undefined) spec.allocateLoadBalancerNodePorts = true;
  }
  const used = usedNodePorts(store, svc);
  const oldPorts = oldSpec ? arr(oldSpec.ports).map(rec) : [];
  const mine = new Set<number>();
  ports.forEach((p, i) => {
    let np = num(p.nodePort);
    if (!wantsNodePorts) {
      if (np !== undefined && np !== 0) {
        throw invalid('Service', name, [{ field: `spec.ports[${i}].nodePort`, type: 'Forbidden', detail: `may not be used when \`type\` is '${type}'` }]);
      }
      delete p.nodePort;
      return;
    }
    if (!np) {
      const prev = oldPorts.find((o) => o.port === p.port && (o.protocol ?? 'TCP') === p.protocol);
      np = num(prev?.nodePort);
    }
    if (!np) {
      np = allocateNodePort(new Set([...used, ...mine]));
    } else {
      if (np < NODE_PORT_MIN || np > NODE_PORT_MAX) {
        throw invalid('Service', name, [{ field: `spec.ports[${i}].nodePort`, type: 'Invalid', value: String(np), detail: `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}` }]);
      }
      if (used.has(np) || mine.has(np)) {
        throw invalid('Service', name, [{ field: `spec.ports[${i}].nodePort`, type: 'Invalid', value: String(np), detail: 'provided port is already allocated' }]);
      }
    }
    mine.add(np);
    p.nodePort = np;
  });
  if (!isRec(svc.status)) svc.status = { loadBalancer: {} };
}
