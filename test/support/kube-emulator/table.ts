/** Server-side printing: meta.k8s.io/v1 Table responses, as `kubectl get` requests them. */
import type { PrinterColumn, ResourceDef } from './registry.js';
import { arr, getPath, num, rec, str, strMap, type KubeObject, type Rec } from './types.js';

export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

export function humanAge(created: string | undefined, now = Date.now()): string {
  if (!created) return '<unknown>';
  let s = Math.max(0, Math.floor((now - Date.parse(created)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  s %= 60;
  if (m < 10) return s ? `${m}m${s}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y${d % 365}d`;
}

interface Column {
  name: string;
  type?: string;
  format?: string;
  priority?: number;
  value: (o: KubeObject) => string | number | boolean;
}

const age: Column = { name: 'Age', value: (o) => humanAge(o.metadata.creationTimestamp) };
const nameCol: Column = { name: 'Name', format: 'name', value: (o) => o.metadata.name ?? '' };
const n = (v: unknown): number => num(v) ?? 0;

function podStatus(o: KubeObject): string {
  const st = rec(o.status);
  if (o.metadata.deletionTimestamp) return 'Terminating';
  for (const cs of arr(st.containerStatuses)) {
    const waiting = rec(rec(rec(cs).state).waiting);
    if (str(waiting.reason)) return str(waiting.reason)!;
  }
  return str(st.reason) ?? str(st.phase) ?? 'Pending';
}

function servicePorts(o: KubeObject): string {
  const ports = arr(rec(o.spec).ports).map(rec);
  if (!ports.length) return '<none>';
  return ports.map((p) => `${n(p.port)}${p.nodePort ? `:${n(p.nodePort)}` : ''}/${str(p.protocol) ?? 'TCP'}`).join(',');
}

const COLUMNS: Record<string, Column[]> = {
  '/Pod': [
    nameCol,
    { name: 'Ready', value: (o) => `${arr(rec(o.status).containerStatuses).filter((c) => rec(c).ready === true).length}/${arr(rec(o.spec).containers).length}` },
    { name: 'Status', value: podStatus },
    { name: 'Restarts', type: 'string', value: (o) => String(arr(rec(o.status).containerStatuses).reduce<number>((a, c) => a + n(rec(c).restartCount), 0)) },
    age,
    { name: 'IP', priority: 1, value: (o) => str(rec(o.status).podIP) ?? '<none>' },
    { name: 'Node', priority: 1, value: (o) => str(rec(o.spec).nodeName) ?? '<none>' },
  ],
  'apps/Deployment': [
    nameCol,
    { name: 'Ready', value: (o) => `${n(rec(o.status).readyReplicas)}/${n(rec(o.spec).replicas)}` },
    { name: 'Up-to-date', type: 'integer', value: (o) => n(rec(o.status).updatedReplicas) },
    { name: 'Available', type: 'integer', value: (o) => n(rec(o.status).availableReplicas) },
    age,
  ],
  'apps/ReplicaSet': [
    nameCol,
    { name: 'Desired', type: 'integer', value: (o) => n(rec(o.spec).replicas) },
    { name: 'Current', type: 'integer', value: (o) => n(rec(o.status).replicas) },
    { name: 'Ready', type: 'integer', value: (o) => n(rec(o.status).readyReplicas) },
    age,
  ],
  'apps/StatefulSet': [nameCol, { name: 'Ready', value: (o) => `${n(rec(o.status).readyReplicas)}/${n(rec(o.spec).replicas)}` }, age],
  'apps/DaemonSet': [
    nameCol,
    { name: 'Desired', type: 'integer', value: (o) => n(rec(o.status).desiredNumberScheduled) },
    { name: 'Current', type: 'integer', value: (o) => n(rec(o.status).currentNumberScheduled) },
    { name: 'Ready', type: 'integer', value: (o) => n(rec(o.status).numberReady) },
    age,
  ],
  '/Service': [
    nameCol,
    { name: 'Type', value: (o) => str(rec(o.spec).type) ?? 'ClusterIP' },
    { name: 'Cluster-IP', value: (o) => str(rec(o.spec).clusterIP) ?? '<none>' },
    { name: 'External-IP', value: (o) => (str(rec(o.spec).externalName) ?? arr(rec(rec(o.status).loadBalancer).ingress).map((i) => str(rec(i).ip) ?? '').join(',')) || '<none>' },
    { name: 'Port(s)', value: servicePorts },
    age,
  ],
  'batch/Job': [
    nameCol,
    { name: 'Status', value: (o) => (arr(rec(o.status).conditions).some((c) => rec(c).type === 'Complete' && rec(c).status === 'True') ? 'Complete' : 'Running') },
    { name: 'Completions', value: (o) => `${n(rec(o.status).succeeded)}/${n(rec(o.spec).completions) || 1}` },
    age,
  ],
  'batch/CronJob': [
    nameCol,
    { name: 'Schedule', value: (o) => str(rec(o.spec).schedule) ?? '' },
    { name: 'Timezone', value: (o) => str(rec(o.spec).timeZone) ?? '<none>' },
    { name: 'Suspend', value: (o) => String(rec(o.spec).suspend === true) },
    { name: 'Active', type: 'integer', value: (o) => arr(rec(o.status).active).length },
    { name: 'Last Schedule', value: (o) => (str(rec(o.status).lastScheduleTime) ? humanAge(str(rec(o.status).lastScheduleTime)) : '<none>') },
    age,
  ],
  '/Secret': [nameCol, { name: 'Type', value: (o) => str(o.type) ?? 'Opaque' }, { name: 'Data', type: 'integer', value: (o) => Object.keys(rec(o.data)).length }, age],
  '/ConfigMap': [nameCol, { name: 'Data', type: 'integer', value: (o) => Object.keys(rec(o.data)).length + Object.keys(rec(o.binaryData)).length }, age],
  '/Namespace': [nameCol, { name: 'Status', value: (o) => str(rec(o.status).phase) ?? 'Active' }, age],
  '/Node': [
    nameCol,
    { name: 'Status', value: (o) => (arr(rec(o.status).conditions).some((c) => rec(c).type === 'Ready' && rec(c).status === 'True') ? 'Ready' : 'NotReady') },
    { name: 'Roles', value: (o) => Object.keys(strMap(o.metadata.labels)).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice(24)).join(',') || '<none>' },
    age,
    { name: 'Version', value: (o) => str(rec(rec(o.status).nodeInfo).kubeletVersion) ?? '' },
  ],
  '/PersistentVolumeClaim': [
    nameCol,
    { name: 'Status', value: (o) => str(rec(o.status).phase) ?? 'Pending' },
    { name: 'Volume', value: (o) => str(rec(o.spec).volumeName) ?? '' },
    { name: 'Capacity', value: (o) => str(rec(rec(o.status).capacity).storage) ?? '' },
    { name: 'Access Modes', value: (o) => arr(rec(o.spec).accessModes).map((m) => ({ ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP' })[String(m)] ?? String(m)).join(',') },
    { name: 'StorageClass', value: (o) => str(rec(o.spec).storageClassName) ?? '<unset>' },
    age,
  ],
  '/PersistentVolume': [
    nameCol,
    { name: 'Capacity', value: (o) => str(rec(rec(o.spec).capacity).storage) ?? '' },
    { name: 'Reclaim Policy', value: (o) => str(rec(o.spec).persistentVolumeReclaimPolicy) ?? '' },
    { name: 'Status', value: (o) => str(rec(o.status).phase) ?? '' },
    { name: 'Claim', value: (o) => (rec(o.spec).claimRef ? `${str(rec(rec(o.spec).claimRef).namespace) ?? ''}/${str(rec(rec(o.spec).claimRef).name) ?? ''}` : '') },
    { name: 'StorageClass', value: (o) => str(rec(o.spec).storageClassName) ?? '' },
    age,
  ],
  '/Event': [
    { name: 'Last Seen', value: (o) => humanAge(str(o.lastTimestamp) ?? str(o.eventTime) ?? o.metadata.creationTimestamp) },
    { name: 'Type', value: (o) => str(o.type) ?? '' },
    { name: 'Reason', value: (o) => str(o.reason) ?? '' },
    { name: 'Object', value: (o) => `${(str(rec(o.involvedObject).kind) ?? '').toLowerCase()}/${str(rec(o.involvedObject).name) ?? ''}` },
    { name: 'Message', value: (o) => str(o.message) ?? '' },
    { ...nameCol, priority: 1 },
  ],
  'apiextensions.k8s.io/CustomResourceDefinition': [nameCol, { name: 'Created At', type: 'date', value: (o) => o.metadata.creationTimestamp ?? '' }],
  '/Endpoints': [
    nameCol,
    {
      name: 'Endpoints',
      value: (o) =>
        arr(o.subsets)
          .flatMap((s) => arr(rec(s).addresses).flatMap((a) => arr(rec(s).ports).map((p) => `${str(rec(a).ip) ?? ''}:${n(rec(p).port)}`)))
          .join(',') || '<none>',
    },
    age,
  ],
};

function jsonPathValue(o: KubeObject, path: string): string | number | boolean {
  const v = getPath(o, path.replace(/^\./, '').replace(/\[(\d+)\]/g, '.$1'));
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return v as string | number | boolean;
}

function columnsFor(def: ResourceDef): Column[] {
  const builtin = COLUMNS[`${def.group}/${def.kind}`];
  if (builtin) return builtin;
  const custom = (def.printerColumns ?? []).map(
    (c: PrinterColumn): Column => ({
      name: c.name,
      type: c.type,
      format: c.format,
      priority: c.priority,
      value: (o) => (c.type === 'date' ? humanAge(str(jsonPathValue(o, c.jsonPath))) : jsonPathValue(o, c.jsonPath)),
    }),
  );
  return [nameCol, ...custom, ...(custom.some((c) => c.name === 'Age') ? [] : [age])];
}

export function toTable(def: ResourceDef, items: KubeObject[], resourceVersion: string, includeObject: string | undefined, cont?: string): Rec {
  const cols = columnsFor(def);
  const rows = items.map((o) => {
    const row: Rec = { cells: cols.map((c) => c.value(o)) };
    if (includeObject === 'Object') row.object = o;
    else if (includeObject !== 'None') row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
    return row;
  });
  const metadata: Rec = { resourceVersion };
  if (cont) metadata.continue = cont;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: cols.map((c) => ({ name: c.name, type: c.type ?? 'string', format: c.format ?? '', description: '', priority: c.priority ?? 0 })),
    rows,
  };
}
