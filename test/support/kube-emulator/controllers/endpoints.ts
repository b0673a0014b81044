/** Endpoints and EndpointSlice controllers for Services with selectors. */
import { arr, clone, deepEqual, num, randomSuffix, rec, str, strMap, type KubeObject, type Rec } from '../types.js';
import { matchesLabels } from '../selectors.js';
import { create, def, isPodReady, isTerminal, ownerRef, remove, writeObject, type ControllerContext } from './common.js';

const EP_MANAGED_BY = 'endpoints.kubernetes.io/managed-by';
const SLICE_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
const SLICE_CONTROLLER = 'endpointslice-controller.k8s.io';
const SERVICE_NAME = 'kubernetes.io/service-name';

interface Backend {
  pod: KubeObject;
  ip: string;
  ready: boolean;
}

function resolvePort(pod: KubeObject, targetPort: unknown): number | undefined {
  if (typeof targetPort === 'number') return targetPort;
  const name = str(targetPort);
  if (name === undefined) return undefined;
  if (/^\d+$/.test(name)) return Number(name);
  for (const c of arr(rec(pod.spec).containers)) for (const p of arr(rec(c).ports)) if (rec(p).name === name) return num(rec(p).containerPort);
  return undefined;
}

function portsFor(svc: KubeObject, pod: KubeObject | undefined): Rec[] {
  const out: Rec[] = [];
  for (const p of arr(rec(svc.spec).ports).map(rec)) {
    const port = pod ? resolvePort(pod, p.targetPort ?? p.port) : num(p.targetPort) ?? num(p.port);
    if (port === undefined) continue;
    const e: Rec = { port, protocol: str(p.protocol) ?? 'TCP' };
    if (str(p.name)) e.name = p.name;
    if (str(p.appProtocol)) e.appProtocol = p.appProtocol;
    out.push(e);
  }
  return out;
}

function targetRef(pod: KubeObject): Rec {
  return { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid };
}

function address(svc: KubeObject, b: Backend): Rec {
  const a: Rec = { ip: b.ip };
  const ps = rec(b.pod.spec);
  if (str(ps.hostname) && ps.subdomain === svc.metadata.name) a.hostname = ps.hostname;
  if (str(ps.nodeName)) a.nodeName = ps.nodeName;
  a.targetRef = targetRef(b.pod);
  return a;
}

function syncEndpoints(ctx: ControllerContext, svc: KubeObject, backends: Backend[]): void {
  const epDef = def(ctx, '', 'endpoints');
  const ready = backends.filter((b) => b.ready);
  const notReady = backends.filter((b) => !b.ready);
  const subsets: Rec[] = [];
  if (backends.length) {
    const s: Rec = {};
    if (ready.length) s.addresses = ready.map((b) => address(svc, b));
    if (notReady.length) s.notReadyAddresses = notReady.map((b) => address(svc, b));
    s.ports = portsFor(svc, backends[0]?.pod);
    subsets.push(s);
  }
  const labels: Record<string, string> = { ...strMap(svc.metadata.labels), [EP_MANAGED_BY]: 'endpoint-controller' };
  if (rec(svc.spec).clusterIP === 'None') labels['service.kubernetes.io/headless'] = '';
  const existing = ctx.store.get('', 'endpoints', svc.metadata.namespace, svc.metadata.name ?? '');
  const body: KubeObject = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace, labels } };
  if (subsets.length) body.subsets = subsets;
  if (!existing) {
    create(ctx, epDef, body);
    return;
  }
  if (deepEqual(existing.subsets ?? [], body.subsets ?? []) && deepEqual(existing.metadata.labels, labels)) return;
  const next: KubeObject = { ...clone(existing), metadata: { ...clone(existing.metadata), labels } };
  if (subsets.length) next.subsets = subsets;
  else delete next.subsets;
  writeObject(ctx, epDef, next);
}

function syncSlice(ctx: ControllerContext, svc: KubeObject, backends: Backend[]): void {
  const sliceDef = def(ctx, 'discovery.k8s.io', 'endpointslices');
  const slices = ctx.store.list('discovery.k8s.io', 'endpointslices', svc.metadata.namespace).filter((s) => {
    const l = strMap(s.metadata.labels);
    return l[SERVICE_NAME] === svc.metadata.name && l[SLICE_MANAGED_BY] === SLICE_CONTROLLER;
  });
  const endpoints = backends.map((b) => {
    const e: Rec = { addresses: [b.ip], conditions: { ready: b.ready, serving: b.ready, terminating: false } };
    const ps = rec(b.pod.spec);
    if (str(ps.hostname) && ps.subdomain === svc.metadata.name) e.hostname = ps.hostname;
    if (str(ps.nodeName)) e.nodeName = ps.nodeName;
    e.targetRef = targetRef(b.pod);
    return e;
  });
  const labels: Record<string, string> = { ...strMap(svc.metadata.labels), [SERVICE_NAME]: svc.metadata.name ?? '', [SLICE_MANAGED_BY]: SLICE_CONTROLLER };
  if (rec(svc.spec).clusterIP === 'None') labels['service.kubernetes.io/headless'] = '';
  const ports = portsFor(svc, backends[0]?.pod);
  const [first, ...extra] = slices;
  for (const s of extra) remove(ctx, sliceDef, s);
  if (!first) {
    create(ctx, sliceDef, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${svc.metadata.name ?? ''}-${randomSuffix(5)}`, namespace: svc.metadata.namespace, labels, ownerReferences: [ownerRef(svc, def(ctx, '', 'services'))] },
      addressType: 'IPv4',
      endpoints,
      ports,
    });
    return;
  }
  if (deepEqual(first.endpoints, endpoints) && deepEqual(first.ports, ports) && deepEqual(first.metadata.labels, labels)) return;
  writeObject(ctx, sliceDef, { ...clone(first), metadata: { ...clone(first.metadata), labels }, endpoints, ports });
}

export function reconcileEndpoints(ctx: ControllerContext): void {
  const epDef = def(ctx, '', 'endpoints');
  const services = ctx.store.list('', 'services');
  for (const svc of services) {
    const spec = rec(svc.spec);
    if (spec.type === 'ExternalName' || spec.selector === undefined) continue;
    const selector = Object.entries(strMap(spec.selector)).map(([key, v]) => ({ key, op: '=' as const, values: [v] }));
    const backends: Backend[] = ctx.store
      .list('', 'pods', svc.metadata.namespace)
      .filter((p) => !isTerminal(p) && matchesLabels(selector, p.metadata.labels))
      .map((p) => ({ pod: p, ip: str(rec(p.status).podIP) ?? '', ready: isPodReady(p) }))
      .filter((b) => b.ip !== '');
    syncEndpoints(ctx, svc, backends);
    syncSlice(ctx, svc, backends);
  }
  // Endpoints this controller manages whose service is gone or lost its selector.
  for (const ep of ctx.store.list('', 'endpoints')) {
    if (strMap(ep.metadata.labels)[EP_MANAGED_BY] !== 'endpoint-controller') continue;
    const svc = services.find((s) => s.metadata.namespace === ep.metadata.namespace && s.metadata.name === ep.metadata.name);
    if (!svc || rec(svc.spec).selector === undefined) remove(ctx, epDef, ep);
  }
}
