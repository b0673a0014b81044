/** Per-resource defaulting and validation run on create and update (the "admission" + "strategy" step). */
import { admitCrd } from './crd.js';
import { ApiError, badRequest, invalid, type FieldError } from './errors.js';
import type { Registry, ResourceDef } from './registry.js';
import { fromLabelSelectorSpec, matchesLabels } from './selectors.js';
import { admitService } from './services.js';
import type { Store } from './store.js';
import { arr, clone, deepEqual, isRec, rec, str, strMap, type KubeObject, type Rec } from './types.js';
import { quote } from './validation.js';

export interface AdmissionContext {
  store: Store;
  registry: Registry;
  /** Writes from the fixture loader or the reconciler: fewer rules apply. */
  internal: boolean;
}

type Hook = (ctx: AdmissionContext, obj: KubeObject, old: KubeObject | undefined) => void;

function specOf(obj: KubeObject): Rec {
  if (!isRec(obj.spec)) obj.spec = {};
  return obj.spec as Rec;
}

function imagePullPolicy(image: string): string {
  const last = image.split('/').pop() ?? '';
  if (last.includes('@')) return 'IfNotPresent';
  const tag = last.includes(':') ? last.slice(last.indexOf(':') + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** The defaults the API server applies to a PodSpec (also inside workload templates). */
export function defaultPodSpec(spec: Rec): void {
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  for (const list of ['containers', 'initContainers']) {
    for (const raw of arr(spec[list])) {
      if (!isRec(raw)) continue;
      raw.terminationMessagePath ??= '/dev/termination-log';
      raw.terminationMessagePolicy ??= 'File';
      raw.imagePullPolicy ??= imagePullPolicy(str(raw.image) ?? '');
      raw.resources ??= {};
      for (const p of arr(raw.ports)) if (isRec(p)) p.protocol ??= 'TCP';
    }
  }
}

function validatePodSpec(spec: Rec, prefix: string): FieldError[] {
  const errs: FieldError[] = [];
  const containers = arr(spec.containers);
  if (containers.length === 0) errs.push({ field: `${prefix}.containers`, type: 'Required' });
  const seen = new Set<string>();
  containers.forEach((c, i) => {
    const name = str(rec(c).name);
    if (!name) errs.push({ field: `${prefix}.containers[${i}].name`, type: 'Required' });
    else if (seen.has(name)) errs.push({ field: `${prefix}.containers[${i}].name`, type: 'Duplicate', value: quote(name) });
    else seen.add(name);
    if (!str(rec(c).image)) errs.push({ field: `${prefix}.containers[${i}].image`, type: 'Required' });
  });
  return errs;
}

function fail(def: ResourceDef, obj: KubeObject, errs: FieldError[]): void {
  if (errs.length) throw invalid(def.kind, obj.metadata.name ?? '', errs, def.group);
}

/** Throws 422 "field is immutable" when a field changed on update. */
function immutable(def: ResourceDef, obj: KubeObject, old: KubeObject | undefined, path: string): void {
  if (!old) return;
  const get = (o: KubeObject): unknown => path.split('.').reduce<unknown>((cur, k) => rec(cur)[k], o);
  const a = get(old);
  const b = get(obj);
  if (!deepEqual(a, b)) fail(def, obj, [{ field: path, type: 'Invalid', value: JSON.stringify(b ?? null), detail: 'field is immutable' }]);
}

function workload(kind: 'Deployment' | 'StatefulSet' | 'ReplicaSet' | 'DaemonSet'): Hook {
  return (ctx, obj, old) => {
    const def = ctx.registry.byKind('apps', kind)!;
    const spec = specOf(obj);
    const template = rec(spec.template);
    const tspec = rec(template.spec);
    spec.template = { ...template, spec: tspec };
    defaultPodSpec(tspec);
    if (kind === 'Deployment') {
      spec.replicas ??= 1;
      const strategy = rec(spec.strategy);
      strategy.type ??= 'RollingUpdate';
      if (strategy.type === 'RollingUpdate') strategy.rollingUpdate = { maxUnavailable: '25%', maxSurge: '25%', ...rec(strategy.rollingUpdate) };
      spec.strategy = strategy;
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
    } else if (kind === 'StatefulSet') {
      spec.replicas ??= 1;
      spec.podManagementPolicy ??= 'OrderedReady';
      spec.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
      spec.revisionHistoryLimit ??= 10;
      spec.persistentVolumeClaimRetentionPolicy ??= { whenDeleted: 'Retain', whenScaled: 'Retain' };
      for (const t of arr(spec.volumeClaimTemplates)) {
        if (!isRec(t)) continue;
        t.apiVersion ??= 'v1';
        t.kind ??= 'PersistentVolumeClaim';
        const ts = rec(t.spec);
        ts.volumeMode ??= 'Filesystem';
        t.spec = ts;
      }
    } else if (kind === 'ReplicaSet') {
      spec.replicas ??= 1;
    } else {
      spec.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
      spec.revisionHistoryLimit ??= 10;
    }
    const errs: FieldError[] = [];
    const selector = fromLabelSelectorSpec(spec.selector);
    if (!selector) errs.push({ field: 'spec.selector', type: 'Required' });
    else if (selector.length === 0) errs.push({ field: 'spec.selector', type: 'Invalid', value: JSON.stringify(spec.selector), detail: `empty selector is invalid for ${kind.toLowerCase()}` });
    else if (!matchesLabels(selector, strMap(rec(template.metadata).labels))) {
      errs.push({ field: 'spec.template.metadata.labels', type: 'Invalid', value: JSON.stringify(strMap(rec(template.metadata).labels)), detail: '`selector` does not match template `labels`' });
    }
    errs.push(...validatePodSpec(tspec, 'spec.template.spec'));
    fail(def, obj, errs);
    immutable(def, obj, old, 'spec.selector');
    if (kind === 'StatefulSet' && old) {
      const allowed = ['replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds'];
      const strip = (s: unknown): Rec => Object.fromEntries(Object.entries(rec(s)).filter(([k]) => !allowed.includes(k)));
      if (!deepEqual(strip(old.spec), strip(obj.spec))) {
        fail(def, obj, [{ field: 'spec', type: 'Forbidden', detail: "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden" }]);
      }
    }
  };
}

const job: Hook = (ctx, obj, old) => {
  const def = ctx.registry.byKind('batch', 'Job')!;
  const spec = specOf(obj);
  const template = rec(spec.template);
  const tmeta = rec(template.metadata);
  const tspec = rec(template.spec);
  spec.template = { ...template, metadata: tmeta, spec: tspec };
  if (!old) {
    const uid = obj.metadata.uid ?? '';
    if (spec.selector !== undefined && spec.manualSelector !== true && !ctx.internal) {
      fail(def, obj, [{ field: 'spec.selector', type: 'Invalid', value: JSON.stringify(spec.selector), detail: '`selector` not auto-generated' }]);
    }
    if (spec.manualSelector !== true && spec.selector === undefined) {
      spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
      tmeta.labels = { ...strMap(tmeta.labels), 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': obj.metadata.name ?? '', 'controller-uid': uid, 'job-name': obj.metadata.name ?? '' };
    }
  }
  spec.parallelism ??= 1;
  spec.completions ??= 1;
  spec.backoffLimit ??= 6;
  spec.completionMode ??= 'NonIndexed';
  spec.suspend ??= false;
  spec.podReplacementPolicy ??= 'TerminatingOrFailed';
  defaultPodSpec(tspec);
  const errs = validatePodSpec(tspec, 'spec.template.spec');
  const rp = str(tspec.restartPolicy);
  if (rp !== 'Never' && rp !== 'OnFailure') errs.push({ field: 'spec.template.spec.restartPolicy', type: 'Required', detail: 'valid values: "OnFailure", "Never"' });
  fail(def, obj, errs);
  immutable(def, obj, old, 'spec.selector');
  immutable(def, obj, old, 'spec.template');
  immutable(def, obj, old, 'spec.completions');
};

const cronJob: Hook = (ctx, obj) => {
  const def = ctx.registry.byKind('batch', 'CronJob')!;
  const spec = specOf(obj);
  spec.concurrencyPolicy ??= 'Allow';
  spec.suspend ??= false;
  spec.successfulJobsHistoryLimit ??= 3;
  spec.failedJobsHistoryLimit ??= 1;
  const errs: FieldError[] = [];
  const schedule = str(spec.schedule);
  if (!schedule) errs.push({ field: 'spec.schedule', type: 'Required' });
  else if (!/^@(yearly|annually|monthly|weekly|daily|midnight|hourly|every\s+\S+)$/.test(schedule) && schedule.trim().split(/\s+/).length !== 5) {
    errs.push({ field: 'spec.schedule', type: 'Invalid', value: quote(schedule), detail: `expected exactly 5 fields, found ${schedule.trim().split(/\s+/).length}: ${schedule}` });
  }
  const jt = rec(spec.jobTemplate);
  const jspec = rec(jt.spec);
  const template = rec(jspec.template);
  const tspec = rec(template.spec);
  spec.jobTemplate = { ...jt, spec: { ...jspec, template: { ...template, spec: tspec } } };
  defaultPodSpec(tspec);
  errs.push(...validatePodSpec(tspec, 'spec.jobTemplate.spec.template.spec'));
  const rp = str(tspec.restartPolicy);
  if (rp !== 'Never' && rp !== 'OnFailure') errs.push({ field: 'spec.jobTemplate.spec.template.spec.restartPolicy', type: 'Required', detail: 'valid values: "OnFailure", "Never"' });
  fail(def, obj, errs);
};

function qosClass(spec: Rec): string {
  const containers = arr(spec.containers).map(rec);
  const res = containers.map((c) => rec(c.resources));
  if (res.every((r) => Object.keys(rec(r.requests)).length === 0 && Object.keys(rec(r.limits)).length === 0)) return 'BestEffort';
  const guaranteed = res.every((r) => {
    const lim = strMap(r.limits);
    const req = { ...lim, ...strMap(r.requests) };
    return lim.cpu !== undefined && lim.memory !== undefined && req.cpu === lim.cpu && req.memory === lim.memory;
  });
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

const pod: Hook = (ctx, obj, old) => {
  const def = ctx.registry.byKind('', 'Pod')!;
  const spec = specOf(obj);
  if (!old) {
    defaultPodSpec(spec);
    spec.serviceAccountName ??= 'default';
    spec.serviceAccount ??= spec.serviceAccountName;
    spec.enableServiceLinks ??= true;
    spec.priority ??= 0;
    spec.preemptionPolicy ??= 'PreemptLowerPriority';
    fail(def, obj, validatePodSpec(spec, 'spec'));
    if (!ctx.internal || !isRec(obj.status)) obj.status = { phase: 'Pending', qosClass: qosClass(spec) };
    return;
  }
  if (ctx.internal) return; // the scheduler binds pods by setting spec.nodeName
  const strip = (s: unknown): Rec => {
    const c = clone(rec(s));
    for (const list of ['containers', 'initContainers']) for (const x of arr(c[list])) if (isRec(x)) delete x.image;
    delete c.activeDeadlineSeconds;
    delete c.tolerations;
    delete c.terminationGracePeriodSeconds;
    return c;
  };
  if (!deepEqual(strip(old.spec), strip(obj.spec))) {
    fail(def, obj, [{ field: 'spec', type: 'Forbidden', detail: 'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)' }]);
  }
};

const KEY_RE = /^[-._a-zA-Z0-9]+$/;

function dataHolder(kind: 'ConfigMap' | 'Secret'): Hook {
  return (ctx, obj, old) => {
    const def = ctx.registry.byKind('', kind)!;
    const errs: FieldError[] = [];
    if (kind === 'Secret') {
      obj.type ??= 'Opaque';
      const data: Rec = { ...rec(obj.data) };
      for (const [k, v] of Object.entries(rec(obj.stringData))) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
      delete obj.stringData;
      for (const [k, raw] of Object.entries(data)) {
        // Go's base64 decoder skips line breaks (kustomize wraps long values); the API server stores the bytes, so
        // what it returns is unwrapped.
        const v = typeof raw === 'string' ? raw.replace(/[\r\n]/g, '') : raw;
        if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
          throw badRequest(`Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0 (key ${quote(k)})`);
        }
        data[k] = v;
      }
      if (obj.data !== undefined || Object.keys(data).length) obj.data = data;
      const type = str(obj.type);
      if (type === 'kubernetes.io/tls') {
        if (data['tls.crt'] === undefined) errs.push({ field: 'data[tls.crt]', type: 'Required' });
        if (data['tls.key'] === undefined) errs.push({ field: 'data[tls.key]', type: 'Required' });
      }
      if (type === 'kubernetes.io/service-account-token' && !strMap(obj.metadata.annotations)['kubernetes.io/service-account.name']) {
        errs.push({ field: 'metadata.annotations[kubernetes.io/service-account.name]', type: 'Required' });
      }
      if (type === 'kubernetes.io/dockerconfigjson' && data['.dockerconfigjson'] === undefined) errs.push({ field: 'data[.dockerconfigjson]', type: 'Required' });
    }
    for (const field of ['data', 'binaryData']) {
      for (const k of Object.keys(rec(obj[field]))) {
        if (!KEY_RE.test(k)) errs.push({ field: `${field}[${k}]`, type: 'Invalid', value: quote(k), detail: "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')" });
      }
    }
    fail(def, obj, errs);
    if (!old) return;
    if (kind === 'Secret') immutable(def, obj, old, 'type');
    if (old.immutable === true) {
      if (obj.immutable !== true) fail(def, obj, [{ field: 'immutable', type: 'Forbidden', detail: 'field is immutable when `immutable` is set' }]);
      for (const field of ['data', 'binaryData']) {
        if (!deepEqual(old[field] ?? {}, obj[field] ?? {})) fail(def, obj, [{ field, type: 'Forbidden', detail: 'field is immutable when `immutable` is set' }]);
      }
    }
  };
}

const namespace: Hook = (_ctx, obj, old) => {
  obj.metadata.labels = { ...strMap(obj.metadata.labels), 'kubernetes.io/metadata.name': obj.metadata.name ?? '' };
  const spec = specOf(obj);
  spec.finalizers ??= ['kubernetes'];
  if (!old && !isRec(obj.status)) obj.status = { phase: 'Active' };
};

function defaultStorageClass(store: Store): string | undefined {
  const sc = store.list('storage.k8s.io', 'storageclasses').find((s) => {
    const a = strMap(s.metadata.annotations);
    return a['storageclass.kubernetes.io/is-default-class'] === 'true' || a['storageclass.beta.kubernetes.io/is-default-class'] === 'true';
  });
  return sc?.metadata.name;
}

const pvc: Hook = (ctx, obj, old) => {
  const def = ctx.registry.byKind('', 'PersistentVolumeClaim')!;
  const spec = specOf(obj);
  spec.volumeMode ??= 'Filesystem';
  if (!old) {
    if (spec.storageClassName === undefined) {
      const sc = defaultStorageClass(ctx.store);
      if (sc) spec.storageClassName = sc;
    }
    const errs: FieldError[] = [];
    if (arr(spec.accessModes).length === 0) errs.push({ field: 'spec.accessModes', type: 'Required', detail: 'at least 1 access mode is required' });
    if (rec(rec(spec.resources).requests).storage === undefined) errs.push({ field: 'spec.resources[storage]', type: 'Required' });
    fail(def, obj, errs);
    if (!ctx.internal || !isRec(obj.status)) obj.status = { phase: 'Pending' };
    return;
  }
  const strip = (s: unknown): Rec => {
    const c = clone(rec(s));
    delete c.resources;
    delete c.volumeAttributesClassName;
    if (!str(rec(old.spec).volumeName)) delete c.volumeName;
    return c;
  };
  if (!ctx.internal && !deepEqual(strip(old.spec), strip(obj.spec))) {
    fail(def, obj, [{ field: 'spec', type: 'Forbidden', detail: 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims' }]);
  }
};

const NON_SOURCE_PV_KEYS = new Set(['capacity', 'accessModes', 'claimRef', 'persistentVolumeReclaimPolicy', 'storageClassName', 'mountOptions', 'volumeMode', 'nodeAffinity', 'volumeAttributesClassName']);

const pv: Hook = (ctx, obj, old) => {
  const def = ctx.registry.byKind('', 'PersistentVolume')!;
  const spec = specOf(obj);
  spec.persistentVolumeReclaimPolicy ??= 'Retain';
  spec.volumeMode ??= 'Filesystem';
  const errs: FieldError[] = [];
  if (rec(spec.capacity).storage === undefined) errs.push({ field: 'spec.capacity', type: 'Required' });
  if (arr(spec.accessModes).length === 0) errs.push({ field: 'spec.accessModes', type: 'Required', detail: 'at least 1 access mode is required' });
  if (!Object.keys(spec).some((k) => !NON_SOURCE_PV_KEYS.has(k))) errs.push({ field: 'spec', type: 'Required', detail: 'must specify a volume type' });
  fail(def, obj, errs);
  if (!old && (!ctx.internal || !isRec(obj.status))) obj.status = { phase: 'Pending' };
};

const storageClass: Hook = (ctx, obj, old) => {
  const def = ctx.registry.byKind('storage.k8s.io', 'StorageClass')!;
  if (!str(obj.provisioner)) fail(def, obj, [{ field: 'provisioner', type: 'Required' }]);
  obj.reclaimPolicy ??= 'Delete';
  obj.volumeBindingMode ??= 'Immediate';
  if (old && !deepEqual(old.parameters ?? {}, obj.parameters ?? {})) fail(def, obj, [{ field: 'parameters', type: 'Forbidden', detail: 'updates to parameters are forbidden.' }]);
  if (old && old.provisioner !== obj.provisioner) fail(def, obj, [{ field: 'provisioner', type: 'Forbidden', detail: 'updates to provisioner are forbidden.' }]);
};

function binding(kind: 'RoleBinding' | 'ClusterRoleBinding'): Hook {
  return (ctx, obj, old) => {
    const def = ctx.registry.byKind('rbac.authorization.k8s.io', kind)!;
    const ref = rec(obj.roleRef);
    const errs: FieldError[] = [];
    if (!str(ref.name)) errs.push({ field: 'roleRef.name', type: 'Required' });
    const allowed = kind === 'RoleBinding' ? ['Role', 'ClusterRole'] : ['ClusterRole'];
    if (!allowed.includes(str(ref.kind) ?? '')) errs.push({ field: 'roleRef.kind', type: 'NotSupported', value: quote(str(ref.kind) ?? ''), detail: `supported values: ${allowed.map(quote).join(', ')}` });
    fail(def, obj, errs);
    if (old && !deepEqual(old.roleRef, obj.roleRef)) fail(def, obj, [{ field: 'roleRef', type: 'Invalid', value: JSON.stringify(obj.roleRef), detail: 'cannot change roleRef' }]);
  };
}

const priorityClass: Hook = (ctx, obj, old) => {
  const def = ctx.registry.byKind('scheduling.k8s.io', 'PriorityClass')!;
  if (typeof obj.value !== 'number') fail(def, obj, [{ field: 'value', type: 'Required' }]);
  obj.preemptionPolicy ??= 'PreemptLowerPriority';
  if (old && old.value !== obj.value) fail(def, obj, [{ field: 'value', type: 'Forbidden', detail: 'may not be changed in an update.' }]);
};

const endpointSlice: Hook = (ctx, obj, old) => {
  const def = ctx.registry.byKind('discovery.k8s.io', 'EndpointSlice')!;
  if (!['IPv4', 'IPv6', 'FQDN'].includes(str(obj.addressType) ?? '')) fail(def, obj, [{ field: 'addressType', type: 'Required' }]);
  immutable(def, obj, old, 'addressType');
};

const HOOKS: Record<string, Hook> = {
  '/namespaces': namespace,
  '/pods': pod,
  '/services': (ctx, obj, old) => admitService(ctx.store, obj, old),
  '/configmaps': dataHolder('ConfigMap'),
  '/secrets': dataHolder('Secret'),
  '/persistentvolumeclaims': pvc,
  '/persistentvolumes': pv,
  'apps/deployments': workload('Deployment'),
  'apps/statefulsets': workload('StatefulSet'),
  'apps/replicasets': workload('ReplicaSet'),
  'apps/daemonsets': workload('DaemonSet'),
  'batch/jobs': job,
  'batch/cronjobs': cronJob,
  'storage.k8s.io/storageclasses': storageClass,
  'rbac.authorization.k8s.io/rolebindings': binding('RoleBinding'),
  'rbac.authorization.k8s.io/clusterrolebindings': binding('ClusterRoleBinding'),
  'scheduling.k8s.io/priorityclasses': priorityClass,
  'discovery.k8s.io/endpointslices': endpointSlice,
  'apiextensions.k8s.io/customresourcedefinitions': (_ctx, obj) => admitCrd(obj),
};

/** Runs the defaulting / validation hook of the resource, if it has one. Throws ApiError. */
export function admit(ctx: AdmissionContext, def: ResourceDef, obj: KubeObject, old: KubeObject | undefined): void {
  const hook = HOOKS[`${def.group}/${def.resource}`];
  if (!hook) return;
  try {
    hook(ctx, obj, old);
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`);
  }
}
